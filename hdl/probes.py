"""State probes in gateware: the PROBES region and the PROBE event (docs/protocol.md, 5 and 9).

Contract (byte-identical with ``spikeloom.sim.device.GoldenDevice`` and
:mod:`spikeloom.proto.probes`, which define the words and the payload):

- ``ProbeUnit(cfg)`` (``cfg.probe_slots`` = K > 0) sits on the core's control interface between
  the dispatcher (``ctl``, the dispatcher's ``core`` port connects here) and the core (``core``):
  everything passes straight through except memory requests for region ``PROBES``, which it
  answers itself from its K + 1 words (registers for a few slots, a small memory for more;
  one response per request, as the core does; a write answers 0 and sets the tick phase to 0),
  and ``clear`` with the CONFIG bit, which zeroes the words and the phase (a memory's words by
  a walk of K + 1 cycles: PROBES requests wait for it).
- ``due`` is high when the next ``start`` sends an event (the tick phase is 0 and a slot is
  on): the dispatcher then flushes the spike stream before the strobe.
- ``start`` (a strobe from the dispatcher) says: a tick's spikes are packed (and, if ``due``,
  every spike before has been handed over on the body stream) and ``seq`` is the RUN's seq.
  The phase steps. If the tick is sampled (phase
  0) and some slot is on, ``busy`` rises in the next cycle and stays high until the PROBE event
  body (header and payload; the encoder adds the CRC) has left on ``body_out``; meanwhile the
  unit is the master of the core's memory port (it reads the NEURON_STATE and POST_TRACE word
  of each slot that is on: the core is idle between ticks) and of ``body_out``. The dispatcher
  must not start the next tick (nor send anything) while ``busy`` is high.
- Otherwise ``body_in`` passes to ``body_out`` unchanged.
"""

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..proto import protocol as P
from ..proto.config import CoreConfig
from ..proto.memmap import Region, layouts, probe_fields
from ..proto.probes import field_bytes
from ..proto.protocol import Opcode, ResetFlags
from .core import Control
from .framing import BodyLayout

__all__ = ["ProbeUnit"]

# fields a probe reads from the POST_TRACE word; the others come from NEURON_STATE
_FROM_TRACE = {"y"}
# up to this many slots the words are registers (no table read register, no length register,
# no sampling-word copy, no clearing walk: what a UP5K can afford); above it a memory
_REGISTER_SLOTS = 4


class ProbeUnit(wiring.Component):
    """The probe slots and the PROBE event; see the module docstring for the contract."""

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig) or not cfg.probe_slots:
            raise ValueError(f"ProbeUnit needs a CoreConfig with probe_slots > 0, not {cfg!r}")
        self.cfg = cfg
        super().__init__({
            "ctl": In(Control(cfg)),        # the dispatcher's side
            "core": Out(Control(cfg)),      # the core's side
            "body_in": In(stream.Signature(BodyLayout)),
            "body_out": Out(stream.Signature(BodyLayout)),
            "start": In(1),
            "seq": In(8),
            "busy": Out(1),
            "due": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        k_slots = cfg.probe_slots
        lays = layouts(cfg)
        lay = lays[Region.PROBES]
        fields = probe_fields(cfg)
        ctl, core = self.ctl, self.core

        # -- pass-through of everything but the memory port --
        for name in ("start", "clear"):
            m.d.comb += getattr(core, name).eq(getattr(ctl, name))
        for name in ("busy", "done", "ticks", "spike_count", "syn_events", "last_tick_cycles"):
            m.d.comb += getattr(ctl, name).eq(getattr(core, name))
        m.d.comb += [ctl.spikes.valid.eq(core.spikes.valid),
                     ctl.spikes.payload.eq(core.spikes.payload),
                     core.spikes.ready.eq(ctl.spikes.ready)]

        # -- the PROBES words, the sampling period and the tick phase --
        phase = Signal(16)
        emitting = Signal()
        slot = Signal(range(k_slots + 1))   # the slot being sent
        slot_nxt = Signal.like(slot)        # its value in the next cycle
        m.d.comb += slot_nxt.eq(slot)
        m.d.sync += slot.eq(slot_nxt)
        # payload bytes: the tick, then every selected field of every slot (as wide as the
        # largest payload, 4 + K * probe_bytes <= 512: the header's u16 is zero-extended)
        length = Signal(range(P.PROBE_HEAD.size + k_slots * cfg.probe_bytes + 1),
                        init=P.PROBE_HEAD.size)
        any_on = Signal()                   # some slot is on

        def slot_bytes(word):
            view = lay.struct()(word)
            return sum(view[name] * field_bytes(f.width) for name, f in fields)

        # memory requests for PROBES are answered here: the response (a read's word, a
        # write's 0) waits in ``own_data``
        req = ctl.mem_req.payload
        mine = req.region == Region.PROBES
        own_valid = Signal()
        own_data = Signal(8 * lay.nbytes)   # every byte a READ sends: the ones above are 0
        mine_ready = Signal()               # a PROBES request can be taken
        config_clear = ctl.clear & int(ResetFlags.CONFIG)
        with m.If(config_clear):
            m.d.sync += phase.eq(0)
        if k_slots <= _REGISTER_SLOTS:
            cur, every_m1 = self._words_in_registers(m, slot, own_valid, own_data, mine_ready,
                                                     length, any_on, slot_bytes, phase)
        else:
            cur, every_m1 = self._words_in_memory(m, slot_nxt, emitting, own_valid, own_data,
                                                  mine_ready, length, any_on, slot_bytes, phase)

        # (LUTs are scarce on the UP5K: the write data and the response bytes above a PROBES
        # word's need no multiplexer; the dispatcher reads only a word's nbytes)
        m.d.comb += [core.mem_req.payload.data.eq(req.data),
                     ctl.mem_rsp.payload.eq(core.mem_rsp.payload)]
        with m.If(~emitting):
            m.d.comb += [core.mem_req.payload.region.eq(req.region),
                         core.mem_req.payload.addr.eq(req.addr),
                         core.mem_req.payload.write.eq(req.write),
                         core.mem_req.valid.eq(ctl.mem_req.valid & ~mine),
                         ctl.mem_req.ready.eq(Mux(mine, mine_ready, core.mem_req.ready))]
            with m.If(own_valid):
                m.d.comb += [ctl.mem_rsp.valid.eq(1),
                             ctl.mem_rsp.payload[:len(own_data)].eq(own_data)]
            with m.Else():
                m.d.comb += [ctl.mem_rsp.valid.eq(core.mem_rsp.valid),
                             core.mem_rsp.ready.eq(ctl.mem_rsp.ready)]
        with m.If(own_valid & ctl.mem_rsp.ready):
            m.d.sync += own_valid.eq(0)

        # -- the PROBE event --
        # Its bytes leave one by one straight from what holds them: the header's fields, the
        # core's tick counter (steady while the unit is busy: the core is idle) and the core's
        # memory response, which the unit acknowledges only once its word's bytes are out (the
        # core holds a response until then). No copy of the tick or of a state word: on the
        # UP5K every register counts.
        seq = Signal(8)
        sent = Signal.like(length)          # payload bytes sent
        rsp = core.mem_rsp

        in_range = cur.neuron < cfg.n_neurons
        hdr = P.HEADER.struct()
        header = Signal(hdr)
        m.d.comb += [header.opcode.eq(Opcode.PROBE), header.seq.eq(seq), header.status.eq(0),
                     header.length.eq(length)]
        n_head = P.HEADER_BYTES + P.PROBE_HEAD.size
        hidx = Signal(range(n_head))
        head_byte = Signal(8)
        m.d.comb += head_byte.eq(Cat(header.as_value(), ctl.ticks).word_select(hidx, 8))
        # the event's tick is the counter minus one (the tick just run), subtracted a byte at a
        # time as the bytes leave, least significant first; ``borrow`` goes into the next one
        borrow = Signal()
        in_tick = hidx >= P.HEADER_BYTES

        # every field's bytes, sign-extended, in payload order: (word, field name, byte), word
        # 0 the NEURON_STATE response, 1 the POST_TRACE one (its fields come last)
        positions = []
        for name, f in fields:
            word = int(name in _FROM_TRACE)
            wlay = lays[(Region.NEURON_STATE, Region.POST_TRACE)[word]]
            ext = Signal((signed if f.signed else unsigned)(8 * field_bytes(f.width)),
                         name=f"probe_{name}")
            m.d.comb += ext.eq(wlay.struct()(rsp.payload[:wlay.width])[name])
            positions += [(word, name, ext[8 * b:8 * b + 8])
                          for b in range(field_bytes(f.width))]
        order = [word for word, _, _ in positions]
        assert order == sorted(order), "the POST_TRACE fields must come last in payload order"
        n_state = order.count(0)
        pos = Signal(range(len(positions) + 1))
        pos_sel = Signal()
        pos_byte = Signal(8)
        with m.Switch(pos):
            for p, (_, name, byte) in enumerate(positions):
                with m.Case(p):
                    m.d.comb += [pos_sel.eq(cur[name]), pos_byte.eq(byte)]

        out = self.body_out
        m.d.comb += self.busy.eq(emitting)
        with m.If(~emitting):
            m.d.comb += [out.valid.eq(self.body_in.valid), out.payload.eq(self.body_in.payload),
                         self.body_in.ready.eq(out.ready)]

        # the next ``start`` sends an event: the dispatcher flushes the spike stream first
        m.d.comb += self.due.eq((phase == 0) & any_on)
        with m.If(self.start):
            m.d.sync += phase.eq(Mux(phase == every_m1, 0, phase + 1))

        # the unit's own reads go to the core from registers (``cur``: the slot's word register,
        # or the table's read register): no FSM decode in front of the core's request decode
        preq_valid = Signal()
        trace_word = Signal()               # the slot's POST_TRACE word is asked for / held
        held = Signal()                     # a core response is held (its bytes being sent)
        ack = Signal()
        mreq = core.mem_req.payload
        with m.If(emitting):
            m.d.comb += [core.mem_req.valid.eq(preq_valid),
                         mreq.region.eq(Mux(trace_word, Region.POST_TRACE, Region.NEURON_STATE)),
                         mreq.addr.eq(cur.neuron), mreq.write.eq(0), rsp.ready.eq(ack)]
        with m.If(core.mem_req.ready):
            m.d.sync += preq_valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start & (phase == 0) & any_on):
                    m.d.sync += [emitting.eq(1), seq.eq(self.seq), hidx.eq(0), borrow.eq(1),
                                 sent.eq(0)]
                    m.d.comb += slot_nxt.eq(0)
                    m.next = "HEAD"
            with m.State("HEAD"):
                m.d.comb += [out.valid.eq(1),
                             out.payload.data.eq(head_byte - (borrow & in_tick))]
                with m.If(out.ready):
                    m.d.sync += hidx.eq(hidx + 1)
                    with m.If(in_tick):
                        m.d.sync += borrow.eq(borrow & (head_byte == 0))
                    with m.If(hidx == n_head - 1):
                        m.next = "SLOT"
            with m.State("SLOT"):
                m.d.sync += pos.eq(0)
                with m.If(slot == k_slots):
                    m.d.sync += emitting.eq(0)
                    m.next = "IDLE"
                with m.Elif(cur.as_value()[16:] == 0):      # no field selected: slot off
                    m.d.comb += slot_nxt.eq(slot + 1)
                with m.Elif(in_range):
                    m.d.sync += preq_valid.eq(1)
                    m.next = "READ"
                with m.Else():                              # out of range: zeros, no read
                    m.next = "BYTES"
            with m.State("READ"):
                with m.If(rsp.valid):
                    m.d.sync += held.eq(1)
                    m.next = "BYTES"
            with m.State("BYTES"):
                with m.If(held & ~trace_word & (pos == n_state)):
                    # the state word's bytes are out: release it, ask for the trace word
                    m.d.comb += ack.eq(1)
                    m.d.sync += [held.eq(0), trace_word.eq(1), preq_valid.eq(1)]
                    m.next = "READ"
                with m.Elif(pos == len(positions)):
                    m.d.comb += [ack.eq(held), slot_nxt.eq(slot + 1)]
                    m.d.sync += [held.eq(0), trace_word.eq(0)]
                    m.next = "SLOT"
                with m.Elif(pos_sel):
                    m.d.comb += [out.valid.eq(1), out.payload.data.eq(Mux(held, pos_byte, 0)),
                                 out.payload.last.eq(sent + 1 + P.PROBE_HEAD.size == length)]
                    with m.If(out.ready):
                        m.d.sync += [pos.eq(pos + 1), sent.eq(sent + 1)]
                with m.Else():
                    m.d.sync += pos.eq(pos + 1)
        return m

    def _words_in_registers(self, m, slot, own_valid, own_data, mine_ready, length, any_on,
                            slot_bytes, phase):
        """Few slots: the K + 1 words in registers, the payload length summed over them. A
        request is answered in the next cycle. Returns (the word of ``slot``, every - 1)."""
        cfg, lay = self.cfg, layouts(self.cfg)[Region.PROBES]
        req = self.ctl.mem_req.payload
        regs = [Signal(lay.width, name=f"probe_word{k}") for k in range(cfg.probe_slots + 1)]
        words, slots = Array(regs), regs[:-1]
        m.d.comb += [length.eq(P.PROBE_HEAD.size + sum(slot_bytes(w) for w in slots)),
                     any_on.eq(Cat(w[16:] for w in slots).any()),
                     mine_ready.eq(~own_valid)]
        idx = req.addr[:len(slot)]
        with m.If(self.ctl.mem_req.valid & self.ctl.mem_req.ready & (req.region == Region.PROBES)):
            m.d.sync += [own_valid.eq(1), own_data.eq(Mux(req.write, 0, words[idx]))]
            with m.If(req.write):
                m.d.sync += [words[idx].eq(req.data[:lay.width]), phase.eq(0)]
        with m.If(self.ctl.clear & int(ResetFlags.CONFIG)):
            m.d.sync += [w.eq(0) for w in regs]
        cur = lay.struct()(Array(slots)[slot] if len(slots) > 1 else slots[0])
        return cur, lay.struct()(regs[-1]).neuron

    def _words_in_memory(self, m, slot_nxt, emitting, own_valid, own_data, mine_ready, length,
                         any_on, slot_bytes, phase):
        """Many slots: the K + 1 words in a memory (distributed RAM on the ECP5; as registers,
        their two K-way multiplexers, the READ answer and the slot being sent, cost most of the
        unit's LUTs), the payload length in a register that each slot write moves by the old
        and the new word's bytes (an adder tree over all slots costs more). An accepted request
        reads its word (the table answers in the next cycle, ``pend``), then a write stores the
        new word. Returns (the word of the slot being sent, every - 1)."""
        cfg, lay = self.cfg, layouts(self.cfg)[Region.PROBES]
        k_slots = cfg.probe_slots
        ctl = self.ctl
        req = ctl.mem_req.payload
        m.submodules.table = table = Memory(shape=lay.width, depth=k_slots + 1, init=[])
        wr, rd = table.write_port(), table.read_port()
        every_m1 = Signal(16)               # a copy of the sampling word's neuron field
        # some slot is on iff the length exceeds the tick's bytes (a field takes a byte at least)
        m.d.comb += any_on.eq(length != P.PROBE_HEAD.size)
        m.d.comb += rd.addr.eq(Mux(emitting, slot_nxt, req.addr))

        # RESET CONFIG: the registers at once, the table by a walk of K + 1 cycles (PROBES
        # requests wait for it; no event can start meanwhile, as no slot counts as on)
        clearing = Signal()
        clr_addr = Signal.like(wr.addr)
        with m.If(clearing):
            m.d.comb += [wr.addr.eq(clr_addr), wr.data.eq(0), wr.en.eq(1)]
            m.d.sync += clr_addr.eq(clr_addr + 1)
            with m.If(clr_addr == k_slots):
                m.d.sync += clearing.eq(0)
        with m.If(ctl.clear & int(ResetFlags.CONFIG)):
            m.d.sync += [clearing.eq(1), clr_addr.eq(0), every_m1.eq(0),
                         length.eq(P.PROBE_HEAD.size)]

        pend = Signal()
        write_r = Signal()
        addr_r = Signal.like(wr.addr)
        wdata_r = Signal(lay.width)
        m.d.comb += mine_ready.eq(~(pend | own_valid | clearing))
        with m.If(ctl.mem_req.valid & ctl.mem_req.ready & (req.region == Region.PROBES)):
            m.d.sync += [pend.eq(1), write_r.eq(req.write), addr_r.eq(req.addr),
                         wdata_r.eq(req.data[:lay.width])]
        with m.If(pend):
            m.d.sync += [pend.eq(0), own_valid.eq(1), own_data.eq(Mux(write_r, 0, rd.data))]
            with m.If(write_r):
                m.d.comb += [wr.addr.eq(addr_r), wr.data.eq(wdata_r), wr.en.eq(1)]
                m.d.sync += phase.eq(0)
                with m.If(addr_r == k_slots):
                    m.d.sync += every_m1.eq(lay.struct()(wdata_r).neuron)
                with m.Else():      # the sampling word carries no payload bytes
                    m.d.sync += length.eq(length - slot_bytes(rd.data) + slot_bytes(wdata_r))
        return lay.struct()(rd.data), every_m1
