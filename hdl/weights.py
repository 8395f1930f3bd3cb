"""Weight and plasticity stores: the memories that hold one word per (source row, word column).

Two store shapes exist, both ``wiring.Component``\\ s in the ``sync`` domain with a *registered*
read (the word at the address presented in cycle *t* appears on ``rdata`` in cycle *t+1*):

* :class:`DualPortStore` ``(depth, width)``: a read port (``raddr``/``rdata``) and an independent
  write port (``waddr``/``wdata``/``we``) on one ``lib.memory.Memory``. A read of the address being
  written in the same cycle returns an unspecified word: its user never reads a word while it
  writes it. Used by ``Core(weight_store="dual")``.
* :class:`SinglePortStore` ``(depth, width)``: one port that a cycle uses to read (at ``addr``)
  or to write (``we``: ``wdata`` at ``waddr``), the behavioural twin of an iCE40UP5K
  SB_SPRAM256KA. A write cycle's ``rdata`` is undefined (here: the old word). Its members are
  exactly the store-factory contract of ``Core(weight_store="spram", store_factory=...)``, so
  ``spikeloom.hdl.spram.SPRAMStore`` can replace it one for one.

The core reads-modifies-writes these words during STDP. On the spram path the single-port stores
are the *cells* of ``spikeloom.hdl.spram.BankedStore`` (the weights; a read and a write in
different cells run in one cycle) and hold the plasticity bits and delays, which the walks only
read; ``spikeloom.proto.cycles`` counts the cycles either way.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from .fifo import held_read

__all__ = ["DualPortStore", "SinglePortStore", "two_port_members", "single_port_members"]


def _check(cls, depth, width):
    for name, value in (("depth", depth), ("width", width)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{cls}.{name} must be an int, not {value!r}")
        if value < 1:
            raise ValueError(f"{cls}.{name} must be >= 1, not {value}")


def _store(m, depth, width, *, raddr, waddr, wdata, we, rdata, ren):
    """The single-port store's body: a memory, its read port (loading while ``ren``) and its
    write port."""
    m.submodules.mem = mem = memory.Memory(shape=width, depth=depth, init=[])
    rp = mem.read_port()
    wp = mem.write_port()
    m.d.comb += [
        rp.addr.eq(raddr), rp.en.eq(ren), rdata.eq(rp.data),
        wp.addr.eq(waddr), wp.data.eq(wdata), wp.en.eq(we),
    ]


def two_port_members(depth, width) -> dict:
    """The members of a store with a read port (``raddr``, ``rdata`` a cycle later) and a write
    port (``waddr``, ``wdata``, ``we``): :class:`DualPortStore` and the banked SPRAM store."""
    return {
        "raddr": In(range(depth)),
        "rdata": Out(width),
        "waddr": In(range(depth)),
        "wdata": In(width),
        "we": In(1),
    }


class DualPortStore(wiring.Component):
    """``depth`` words of ``width`` bits with separate read and write ports."""

    def __init__(self, depth, width):
        _check("DualPortStore", depth, width)
        self.depth, self.width = depth, width
        super().__init__(two_port_members(depth, width))

    def elaborate(self, platform):
        m = Module()
        # The collision is left unspecified so that Yosys needs no read-during-write emulation
        # (a delayed write and, per data bit, a bypass register and multiplexer, whose address
        # comparison was the ECP5 weight store's critical path): the memory says
        # ``no_rw_check``, which Yosys applies when it folds the read register of an
        # asynchronous port into the block RAM (held_read). In simulation a colliding read
        # returns the word inverted, so a lockstep test fails if the core ever used one.
        mem = memory.Memory(shape=self.width, depth=self.depth, init=[],
                            attrs={"no_rw_check": 1})
        m.submodules.mem = mem
        rp, wp = held_read(m, mem, platform), mem.write_port()
        m.d.comb += [rp.addr.eq(self.raddr), wp.addr.eq(self.waddr), wp.data.eq(self.wdata),
                     wp.en.eq(self.we), self.rdata.eq(rp.data)]
        if platform is None:
            collided = Signal()
            m.d.sync += collided.eq(self.we & (self.waddr == self.raddr))
            m.d.comb += self.rdata.eq(Mux(collided, ~rp.data, rp.data))
        return m


def single_port_members(depth, width) -> dict:
    """The members of a single-port store: a cycle reads at ``addr`` or (``we``) writes
    ``wdata`` at ``waddr``."""
    return {"addr": In(range(depth)), "waddr": In(range(depth)), "wdata": In(width),
            "we": In(1), "rdata": Out(width)}


class SinglePortStore(wiring.Component):
    """``depth`` words of ``width`` bits behind one port (SPRAM-like)."""

    def __init__(self, depth, width):
        _check("SinglePortStore", depth, width)
        self.depth, self.width = depth, width
        super().__init__(single_port_members(depth, width))

    def elaborate(self, platform):
        m = Module()
        # like SPRAM: the output register holds during a write
        _store(m, self.depth, self.width, raddr=self.addr, waddr=self.waddr, wdata=self.wdata,
               we=self.we, rdata=self.rdata, ren=~self.we)
        return m
