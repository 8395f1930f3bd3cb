"""A block-RAM FIFO that behaves like ``amaranth.lib.fifo.SyncFIFOBuffered`` in less logic.

Contract: ``Queue(width=, depth=)`` has SyncFIFOBuffered's ports (``w_en``, ``w_data``,
``w_rdy``, ``r_en``, ``r_data``, ``r_rdy``, ``level``) and its behaviour cycle for cycle: it holds
``depth`` words (``depth - 1`` in block RAM, one in the output register), ``r_rdy``/``r_data``
show the oldest word, a word written at cycle t is readable at t+2, and ``level`` counts every
word held. (tests/test_fifo.py runs both side by side on random traffic.)

Why not the library FIFO: on iCE40 (and ECP5) block RAM, Yosys must emulate the read-first
behaviour of a read port that might see the word being written, with a delayed write and a
bypass multiplexer per data bit. Here the read is held in the one cycle where the addresses
could collide — which never happens, since the read side only fetches words already written —
so no emulation is needed (the core's spike queue went from 70 to 26 flip-flops in Yosys).
"""

from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Queue", "held_read"]


def held_read(m, mem, platform):
    """A registered read of ``mem`` (``addr``, ``data``, ``en``), behaving exactly like
    ``mem.read_port()``: an asynchronous read port and a register that loads while ``en``.

    Yosys folds the register into the RAM and, unlike for an explicit synchronous port, checks
    the enable against the write enable: when they provably never coincide on one address it
    needs no read-during-write emulation. Like the data of Amaranth's synchronous ports, the
    RAM's output register has no defined power-up value; for a build that hands RTLIL to Yosys
    the register says so with an empty ``init`` (otherwise Yosys emulates the zero with a mux per
    bit; the Verilog backend cannot print an empty init, so simulation and Verilog-based
    toolchains keep the plain one)."""
    rp = mem.read_port(domain="comb")
    rtlil_yosys = getattr(platform, "toolchain", None) in ("IceStorm", "Trellis", "Oxide")
    attrs = {"init": ""} if rtlil_yosys else {}
    data = Signal(mem.shape, reset_less=True, attrs=attrs)
    en = Signal(init=1)
    with m.If(en):
        m.d.sync += data.eq(rp.data)
    return SimpleNamespace(addr=rp.addr, data=data, en=en)


class Queue(wiring.Component):
    """First in, first out, in block RAM; see the module docstring for the contract."""

    def __init__(self, *, width: int, depth: int):
        if not isinstance(depth, int) or depth < 2:
            raise ValueError(f"Queue depth must be an int >= 2, not {depth!r}")
        self.width, self.depth = width, depth
        super().__init__({
            "w_en": In(1), "w_data": In(width), "w_rdy": Out(1),
            "r_en": In(1), "r_data": Out(width), "r_rdy": Out(1),
            "level": Out(range(depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        inner = self.depth - 1
        # The RAM has a power of two words (at least ``inner``; block RAMs come in powers of
        # two anyway), so the pointers wrap by themselves: no compare and multiplexer per
        # pointer. ``stored`` alone says when the queue is full.
        size = 1 << (inner - 1).bit_length()
        m.submodules.storage = storage = memory.Memory(shape=self.width, depth=size, init=[])
        wp, rp = storage.write_port(), held_read(m, storage, platform)
        produce, consume = Signal(range(size)), Signal(range(size))
        stored = Signal(range(inner + 1))      # words in the RAM (not in the output register)

        def incr(ptr):
            return ptr + 1

        do_write = self.w_en & self.w_rdy
        do_fetch = (stored != 0) & (~self.r_rdy | self.r_en)
        m.d.comb += [
            self.w_rdy.eq(stored != inner),
            self.level.eq(stored + self.r_rdy),
            wp.addr.eq(produce), wp.data.eq(self.w_data), wp.en.eq(do_write),
            rp.addr.eq(consume), self.r_data.eq(rp.data),
            # the hold that spares Yosys the read-first emulation (see the module docstring)
            rp.en.eq(do_fetch & ~(do_write & (produce == consume))),
        ]
        with m.If(do_write):
            m.d.sync += produce.eq(incr(produce))
        with m.If(do_fetch):
            m.d.sync += [consume.eq(incr(consume)), self.r_rdy.eq(1)]
        with m.Elif(self.r_en):
            m.d.sync += self.r_rdy.eq(0)
        # one adder for both directions (+1 or -1, i.e. all ones)
        with m.If(do_write != do_fetch):
            m.d.sync += stored.eq(stored + Mux(do_write, 1, -1))
        return m
