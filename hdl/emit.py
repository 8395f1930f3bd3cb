"""The spike-stream emitter: a RUN's ticks in, batched SPIKES event bodies out.

Contract (docs/protocol.md section 5; byte-identical with ``protocol.SpikePacker``, which the
golden device uses):

- ``start`` (strobe) says a tick starts now; ``tick`` (the device's 32-bit tick counter, the
  core's ``ticks``) is sampled then as the tick's number. ``ready`` falls the next cycle and
  rises again when the tick's spikes, taken from ``spikes`` (the core's stream: ascending
  neuron indices, then ``end``), are packed into the open batch: the next tick may start then
  (the owner's RUN boundary waits for ``ready``).
- Packing follows ``SpikePacker.tick`` exactly: before a tick that might not fit (``length +
  spike_tick_bound(N) > spike_room()``) the open batch is closed; a tick with more than
  ``ceil(N/8)`` spikes is a bitmap behind ``BITMAP_MARK``, otherwise one varint slot gap per
  spike; a batch covering ``KEEPALIVE_TICKS`` ticks is closed after its last tick.
- ``flush`` (level) closes the open batch (when there is one) between ticks; ``idle`` is high
  when no batch is open, no tick is being packed and every closed batch has left on ``body``.
  The owner raises ``flush`` and waits for ``idle`` before it sends anything else (the RUN
  reply; a PROBE event), so every frame leaves in tick order.
- A closed batch leaves on ``body`` (``framing.BodyLayout`` bytes, the encoder appends the CRC)
  as one SPIKES frame body: header (opcode SPIKES, ``seq``, status OK, length), then
  ``SPIKES_HEAD`` (first tick, ticks covered), then the codes. Codes wait in a block-RAM queue
  of ``spike_room()`` bytes, so the next batch is packed while the previous one is on the line;
  a full queue holds the packer (backpressure, never a loss).

:func:`pick` (a byte multiplexer) is shared with the dispatcher's reply emitter.
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..proto import protocol as P
from ..proto.config import CoreConfig
from ..proto.protocol import Opcode, Status
from .core import SpikeLayout, list_ram_attrs
from .fifo import Queue
from .framing import BodyLayout, below

__all__ = ["SpikeEmitter", "pick"]


def pick(m, value, index, name):
    """Byte ``index`` of ``value`` (a value, or a list of bytes in which the same object may
    stand at several places: one multiplexer input serves them all) as a case multiplexer: a
    variable ``word_select`` becomes a barrel shifter over the whole value in Yosys, which
    costs many more LUTs."""
    if not isinstance(value, list):
        value = [value[8 * k:8 * k + 8] for k in range((len(value) + 7) // 8)]
    places = {}
    for k, byte in enumerate(value):
        places.setdefault(id(byte), (byte, []))[1].append(k)
    out = Signal(8, name=name)
    with m.Switch(index):
        for byte, ks in places.values():
            with m.Case(*ks):
                m.d.comb += out.eq(byte)
    return out


class SpikeEmitter(wiring.Component):
    """Packs ticks into SPIKES batches and sends them; see the module docstring."""

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        super().__init__({
            "spikes": In(stream.Signature(SpikeLayout)),
            "start": In(1),
            "tick": In(32),
            "seq": In(8),
            "flush": In(1),
            "ready": Out(1),
            "idle": Out(1),
            "body": Out(stream.Signature(BodyLayout)),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.cfg.n_neurons
        nmap = (n + 7) // 8
        room = P.spike_room()
        keep = P.KEEPALIVE_TICKS
        head_bytes = P.HEADER_BYTES + P.SPIKES_HEAD.size

        # -- the codes of the batches, in order; the sender takes a closed batch's bytes -------
        m.submodules.queue = queue = Queue(width=8, depth=room + 1)
        push = Signal(8)                # the byte the packer offers (queue.w_en by state)

        # -- the spikes of one tick, ascending, as the core sends them --------------------------
        m.submodules.spike_ram = ram = Memory(
            shape=max(1, (n - 1).bit_length()), depth=max(n, 2), init=[],
            attrs=list_ram_attrs(platform))
        ram_w, ram_r = ram.write_port(), ram.read_port()
        wptr = Signal(range(n + 1))     # spikes of the tick
        rptr = Signal(range(n + 1))     # spikes coded
        m.d.comb += [ram_w.addr.eq(wptr), ram_w.data.eq(self.spikes.payload.neuron),
                     ram_r.addr.eq(rptr), ram_r.en.eq(~ram_w.en)]
        got = ram_r.data                # the spike at rptr, one cycle after rptr settled

        # -- the open batch and the closed one waiting for (or on) the line ---------------------
        tick = Signal(32)               # the tick being packed
        pending = Signal()              # a tick started and is not packed yet
        is_open = Signal()
        b_len = Signal(range(room + 1))
        b_ticks = Signal(range(keep + 1))   # ticks packed into the open batch
        s_valid = Signal()              # a closed batch: s_len code bytes, s_first, s_ticks
        s_len = Signal.like(b_len)
        s_first = Signal(32)
        s_ticks = Signal.like(b_ticks)
        run_w = (keep * n - 1).bit_length()
        # ``run``: the slots since the last coded spike, less (while a tick's spikes are coded
        # as a list) ``expect``, the tick's next slot after its last coded spike, modulo
        # 2**run_w. The packer's gap ``run + spike - expect`` is then one adder, and no
        # register holds ``expect``: after a spike it is ``spike + 1``, so ``run`` becomes
        # ``-(spike + 1)``, i.e. the spike's bits inverted.
        run = Signal(run_w)
        value = Signal(run_w)           # the varint being sent
        in_bitmap = Signal()            # the varint is a bitmap's gap (then the bitmap)
        bm_byte = Signal(range(nmap + 1))
        bm_acc = Signal(8)
        stale = Signal()                # rptr moved last cycle: ``got`` is not its spike yet

        close = Signal()                # hand the open batch to the sender (needs ~s_valid)
        # A batch's ticks are consecutive, so its first is ``tick`` less the ticks packed into
        # it, plus one once ``tick`` itself is packed (a close between ticks, or the keep-alive
        # after one) rather than the tick that may not fit: no register for the first tick.
        back = Signal.like(b_ticks)     # ticks from the batch's first to ``tick``
        b_first = Signal(32)
        m.d.comb += [back.eq(b_ticks - ~pending), b_first.eq(tick - back)]
        with m.If(close):
            m.d.sync += [s_valid.eq(1), s_len.eq(b_len), s_first.eq(b_first),
                         s_ticks.eq(b_ticks), is_open.eq(0)]
        pushed = Signal()
        m.d.comb += [queue.w_data.eq(push), pushed.eq(queue.w_en & queue.w_rdy)]
        with m.If(pushed):
            m.d.sync += b_len.eq(b_len + 1)

        m.d.comb += self.ready.eq(~pending)
        with m.If(self.start):
            m.d.sync += [pending.eq(1), tick.eq(self.tick), wptr.eq(0), rptr.eq(0)]

        with m.FSM(name="packer") as packer:
            with m.State("COLLECT"):
                m.d.comb += self.spikes.ready.eq(pending)
                with m.If(pending & self.spikes.valid):
                    with m.If(self.spikes.payload.end):
                        m.next = "DECIDE"
                    with m.Else():
                        m.d.comb += ram_w.en.eq(1)
                        m.d.sync += wptr.eq(wptr + 1)
                with m.If(~pending & self.flush & is_open & ~s_valid):
                    m.d.comb += close.eq(1)
            with m.State("DECIDE"):
                # close a batch the tick might overflow; open one when none is
                with m.If(is_open & ~below(b_len, room - P.spike_tick_bound(n) + 1)):
                    m.d.comb += close.eq(~s_valid)
                with m.Elif(~is_open):
                    m.d.sync += [is_open.eq(1), b_len.eq(0), b_ticks.eq(0), run.eq(0)]
                with m.Else():
                    # (``expect`` is 0 here: ``run`` is the slots since the last coded spike)
                    m.d.sync += [bm_byte.eq(0), bm_acc.eq(0), stale.eq(1)]
                    with m.If(~below(wptr, nmap + 1)):     # wptr > nmap
                        m.next = "MARK"
                    with m.Else():
                        m.next = "LIST"
            with m.State("LIST"):
                # rptr settled a cycle ago (``stale`` is not needed here: LIST waits one)
                with m.If(rptr == wptr):
                    m.d.sync += run.eq(run + n)        # the packer's run + n - expect
                    m.next = "TICK_END"
                with m.Else():
                    m.next = "GAP"
            with m.State("GAP"):
                m.d.sync += [value.eq(run + got),
                             run.eq(~Cat(got, Const(0, run_w - len(got)))),   # -(got + 1)
                             rptr.eq(rptr + 1), in_bitmap.eq(0)]
                m.next = "VARINT"
            with m.State("MARK"):
                m.d.comb += [push.eq(P.BITMAP_MARK[0]), queue.w_en.eq(1)]
                with m.If(queue.w_rdy):
                    m.next = "MARK2"
            with m.State("MARK2"):
                m.d.comb += [push.eq(P.BITMAP_MARK[1]), queue.w_en.eq(1)]
                with m.If(queue.w_rdy):
                    m.d.sync += [value.eq(run), run.eq(0), in_bitmap.eq(1)]
                    m.next = "VARINT"
            with m.State("VARINT"):
                more = value[7:] != 0
                m.d.comb += [push.eq(Cat(value[:7], more)), queue.w_en.eq(1)]
                with m.If(queue.w_rdy):
                    m.d.sync += value.eq(value >> 7)
                    with m.If(~more & in_bitmap):
                        m.next = "BITMAP"
                    with m.Elif(~more):
                        m.next = "LIST"
            with m.State("BITMAP"):
                # Spikes arrive ascending: collect those of byte bm_byte, then push it. (A RAM
                # read takes a cycle: after each pop one cycle waits for the next spike.)
                m.d.sync += stale.eq(0)
                with m.If(bm_byte == nmap):
                    m.next = "TICK_END"
                with m.Elif(stale):
                    pass
                with m.Elif((rptr != wptr) & (got[3:] == bm_byte)):
                    m.d.sync += [bm_acc.eq(bm_acc | (Const(1, 8) << got[:3])),
                                 rptr.eq(rptr + 1), stale.eq(1)]
                with m.Else():
                    m.d.comb += [push.eq(bm_acc), queue.w_en.eq(1)]
                    with m.If(queue.w_rdy):
                        m.d.sync += [bm_byte.eq(bm_byte + 1), bm_acc.eq(0)]
            with m.State("TICK_END"):
                with m.If(b_ticks == keep - 1):
                    # the keep-alive: a batch covers at most KEEPALIVE_TICKS ticks
                    with m.If(~s_valid):
                        m.d.sync += [b_ticks.eq(keep), pending.eq(0)]
                        m.next = "KEEPALIVE"
                with m.Else():
                    m.d.sync += [b_ticks.eq(b_ticks + 1), pending.eq(0)]
                    m.next = "COLLECT"
            with m.State("KEEPALIVE"):
                m.d.comb += close.eq(1)         # (s_valid was low in TICK_END and still is)
                m.next = "COLLECT"

        # -- the sender: header, SPIKES_HEAD, then the batch's codes from the queue -------------
        header = Signal(P.HEADER.struct())
        shead = Signal(P.SPIKES_HEAD.struct())
        m.d.comb += [header.opcode.eq(Opcode.SPIKES), header.seq.eq(self.seq),
                     header.status.eq(Status.OK), header.length.eq(s_len + P.SPIKES_HEAD.size),
                     shead.tick.eq(s_first), shead.ticks.eq(s_ticks)]
        hidx = Signal(range(head_bytes))
        left = Signal.like(s_len)       # code bytes still to send
        head_byte = pick(m, Cat(header.as_value(), shead.as_value()), hidx, "spikes_head_byte")
        with m.FSM(name="sender") as sender:
            with m.State("IDLE"):
                m.d.sync += [hidx.eq(0), left.eq(s_len)]
                with m.If(s_valid):
                    m.next = "HEAD"
            with m.State("HEAD"):
                last = (hidx == head_bytes - 1) & (left == 0)
                m.d.comb += [self.body.valid.eq(1), self.body.payload.data.eq(head_byte),
                             self.body.payload.last.eq(last)]
                with m.If(self.body.ready):
                    m.d.sync += hidx.eq(hidx + 1)
                    with m.If(last):
                        m.d.sync += s_valid.eq(0)
                        m.next = "IDLE"
                    with m.Elif(hidx == head_bytes - 1):
                        m.next = "CODES"
            with m.State("CODES"):
                m.d.comb += [self.body.valid.eq(queue.r_rdy),
                             self.body.payload.data.eq(queue.r_data),
                             self.body.payload.last.eq(left == 1),
                             queue.r_en.eq(self.body.ready)]
                with m.If(queue.r_rdy & self.body.ready):
                    m.d.sync += left.eq(left - 1)
                    with m.If(left == 1):
                        m.d.sync += s_valid.eq(0)
                        m.next = "IDLE"

        m.d.comb += self.idle.eq(~pending & ~is_open & ~s_valid & packer.ongoing("COLLECT")
                                 & sender.ongoing("IDLE"))
        return m
