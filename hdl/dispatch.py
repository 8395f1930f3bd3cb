"""The command dispatcher: executes deframed requests on the core and builds the replies.

Parts (docs/architecture.md, "Link architecture"), each a component with its contract in its
module: :class:`spikeloom.hdl.decode.Decoder` loads and checks a request;
:class:`spikeloom.hdl.walk.Walker` walks READ/WRITE/INJECT words over the core's
``mem_req``/``mem_rsp``; :class:`spikeloom.hdl.run.Sequencer` paces a RUN's ticks and ends the
RUN (done or aborted); :class:`spikeloom.hdl.emit.SpikeEmitter` packs a RUN's spikes into
batched SPIKES events and sends them; :class:`spikeloom.hdl.counters.Counters` keeps the link
counters and the INFO ROM; :class:`spikeloom.hdl.reply.Sender` sends a reply's header and
payload, :class:`spikeloom.hdl.reply.Fetcher` reads the indexed payload sources. This module is
their composition: an FSM that says which part runs, RESET's clearing, a RUN's tick loop and
the reply's status, length and payload source.

Contract (docs/protocol.md; byte-identical with ``spikeloom.sim.device.GoldenDevice``):

- Takes one ``frame`` element from :class:`spikeloom.hdl.framing.Deframer` at a time, reads its
  payload through ``buf_addr``/``buf_data`` and accepts the element only when the reply has
  left, so requests execute strictly in arrival order (its opcode, seq and length are read
  from the waiting element itself).
- Deframing errors are answered and counted (``crc_errors``, ``frame_errors``, 16-bit saturating).
  Requests are checked exactly in the order of the protocol semantics; a failed check changes no
  state and is answered with an empty payload and its status.
- Requests act on the core through its control interface ``core``
  (:class:`spikeloom.hdl.core.Control`), driven from registers only: the memory request's valid, and
  the ``start`` and ``clear`` strobes a cycle after the decision to raise them. RUN runs ``ticks``
  ticks; tick ``k`` starts no earlier than ``period`` cycles after tick ``k-1`` started (0: at
  once), and not before the emitter has packed tick ``k-1``'s spikes (its queue holds a batch, so
  the next ticks compute while the previous batch is on the line; output backpressure delays, never
  drops). The emitter's batches leave on ``body`` between the dispatcher's own replies: before the
  RUN reply the dispatcher raises the emitter's ``flush`` and waits for its ``idle`` (state
  RUN_FLUSH; a PROBE event must do the same). A tick whose ``last_tick_cycles`` exceeds a nonzero
  ``period`` counts an overrun (16-bit saturating) and sets flag bit 0. While ``abort`` (the top's
  abort latch) is high a RUN ends at the next tick boundary (before a tick starts: the tick in
  flight finishes and the spike stream is flushed) with status ABORTED and RUN_REPLY(ticks run); a
  RUN finding it high runs no tick.
- Reply bodies (header and payload; the encoder appends the CRC) leave on ``body``. A READ
  reply sends each word straight from ``mem_rsp``, which it takes only after the word's last
  byte.
- ``uart_errors`` comes from the UART receiver's counter; ``uart_clear`` zeroes it on
  RESET(COUNTERS). ``rx_overflow`` pulses count ``rx_overflows``. ``error`` pulses for every
  non-OK reply (for an LED); ``idle`` is high while no request is being executed.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect, flipped

from ..proto import protocol as P
from ..proto.config import CoreConfig
from ..proto.protocol import Opcode, ResetFlags, Status
from .core import Control, addr_width, data_width
from .counters import COUNTER_FIELDS, Counters
from .decode import STATUS_SHAPE, Decoder, RequestLayout
from .emit import SpikeEmitter, pick
from .framing import BodyLayout, FrameLayout
from .reply import Fetcher, Sender
from .run import Sequencer
from .walk import Walker

__all__ = ["Dispatcher", "RequestLayout"]

# ResetFlags: the bits that clear the core, the COUNTERS bit (the dispatcher's counters too), the
# flag byte's width (the decoder refuses a bit above)
_CORE_FLAGS = int(ResetFlags.STATE | ResetFlags.CONFIG)
_COUNTERS_BIT = int(ResetFlags.COUNTERS).bit_length() - 1
_FLAG_BITS = sum(ResetFlags).bit_length()
# The RUN reply's one field is the sequencer's count of ticks run.
assert P.RUN_REPLY.fields == (("ticks", 4),)

# Where a reply's payload comes from: indexed sources through the Fetcher, READ from the walker.
_SRC_NONE, _SRC_PING, _SRC_INFO, _SRC_STATUS, _SRC_RUN, _SRC_READ = range(6)


class Dispatcher(wiring.Component):
    """The protocol engine; see the module docstring for the contract."""

    def __init__(self, cfg: CoreConfig, build_id: bytes = P.BUILD_ID):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        self.build_id = P.check_build_id(build_id)
        self.ADDR_W = addr_width(cfg)
        self.DATA_W = data_width(cfg)
        super().__init__({
            "frame": In(stream.Signature(FrameLayout)),
            "buf_addr": Out(range(P.MAX_PAYLOAD)),
            "buf_data": In(8),
            "body": Out(stream.Signature(BodyLayout)),
            "core": Out(Control(cfg)),     # the core's control interface
            # link status
            "uart_errors": In(16),
            "uart_clear": Out(1),
            "rx_overflow": In(1),
            "abort": In(1),
            "error": Out(1),
            "idle": Out(1),
            # probes (hdl/probes.py): after each tick, once its spikes are packed (and, when the
            # probe unit says the tick is sampled, ``probe_due``, the spike stream flushed),
            # ``probe_start`` with the RUN's seq; the next tick waits while the unit is busy
            "probe_start": Out(1),
            "probe_seq": Out(8),
            "probe_busy": In(1),
            "probe_due": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        info = P.info_payload(cfg, self.build_id)

        # -- the parts -------------------------------------------------------------------------
        m.submodules.decoder = dec = Decoder(cfg)
        m.submodules.walker = walk = Walker(cfg)
        m.submodules.sequencer = seq = Sequencer()
        m.submodules.emitter = emit = SpikeEmitter(cfg)
        m.submodules.counters = cnt = Counters(info)
        m.submodules.fetcher = fetch = Fetcher()
        m.submodules.sender = send = Sender()

        # The decoded request holds still (and with it the frame and its payload) until the
        # reply has left: its fields are the request's for every part.
        connect(m, flipped(self.frame), dec.frame)
        rq = dec.request.payload
        m.d.comb += walk.request.eq(rq)
        # The memory request's valid goes through a register: the walker's handshake logic and
        # the core's request decode (write enables, the response) are then in separate cycles.
        # The payload needs none: the walker holds it from valid until the response (its
        # contract), and it comes from the walker's registers. The walker waits for each
        # response before the next request, so the register costs one cycle per word and never
        # holds a request when a tick or a clear starts.
        req_valid = Signal()
        m.d.comb += [walk.mem_req.ready.eq(~req_valid),
                     self.core.mem_req.valid.eq(req_valid),
                     self.core.mem_req.payload.eq(walk.mem_req.payload)]
        with m.If(walk.mem_req.valid & ~req_valid):
            m.d.sync += req_valid.eq(1)
        with m.Elif(self.core.mem_req.ready):
            m.d.sync += req_valid.eq(0)
        connect(m, walk.mem_rsp, flipped(self.core.mem_rsp))

        replying = Signal()     # state REPLY: the Sender sends the reply
        # The payload buffer has three readers at different times: the decoder (loading the
        # head), the walker (WRITE/INJECT words) and the Fetcher (a PING reply's payload).
        m.d.comb += [dec.buf_data.eq(self.buf_data), walk.buf_data.eq(self.buf_data),
                     self.buf_addr.eq(Mux(walk.busy, walk.buf_addr,
                                          Mux(replying, fetch.index, dec.buf_addr)))]

        # -- counters --------------------------------------------------------------------------
        # The counters kept here (the core keeps ticks, spikes, syn_events, last_tick_cycles)
        # and the INFO ROM share a RAM addressed by a payload byte index: the Fetcher's while
        # replying (INFO), else ``cnt_at``, the counter word being updated (a saturating
        # read-modify-write, CNT_RD then CNT_WR) or cleared (CNT_CLR).
        clear_counters = Signal()
        count_overrun = Signal()
        crc_at, frame_at, overrun_at = (P.STATUS.offset(f) for f in COUNTER_FIELDS)
        assert crc_at + 2 == frame_at and frame_at % 2 == 0 and overrun_at % 2 == 0
        cnt_at = Signal(range(max(crc_at, frame_at, overrun_at) + 3))
        src = Signal(range(_SRC_READ + 1))
        m.d.comb += [cnt.addr.eq(Mux(replying, fetch.index, cnt_at)),
                     cnt.info.eq(replying & (src == _SRC_INFO)),
                     cnt.clear.eq(clear_counters), cnt.rx_overflow.eq(self.rx_overflow),
                     cnt.overrun.eq(count_overrun), self.uart_clear.eq(clear_counters)]

        def split(value):
            return [value[k:k + 8] for k in range(0, len(value), 8)]
        cnt_bytes = split(cnt.word)
        status_fields = {
            "ticks": split(self.core.ticks), "spikes": split(self.core.spike_count),
            "syn_events": split(self.core.syn_events),
            "last_tick_cycles": split(self.core.last_tick_cycles),
            "crc_errors": cnt_bytes, "frame_errors": cnt_bytes,
            "uart_errors": split(self.uart_errors), "rx_overflows": split(cnt.rx_overflows),
            "overruns": cnt_bytes, "flags": [cnt.overrun_flag]}
        status_bytes = []
        for name, nbytes in P.STATUS.fields:
            assert len(status_fields[name]) == nbytes, name
            status_bytes += status_fields[name]

        # -- the reply path: header and payload source -> Sender -> body ----------------------
        r_status = Signal(STATUS_SHAPE)
        reply_len = Signal(range(P.MAX_PAYLOAD + 1))   # payload bytes of the reply
        hdr = send.header.payload
        m.d.comb += [hdr.opcode.eq(rq.opcode), hdr.seq.eq(rq.seq), hdr.status.eq(r_status),
                     hdr.length.eq(reply_len), fetch.restart.eq(~replying)]
        index = fetch.index     # the payload byte index of an indexed source
        fetched = Signal(8)
        with m.Switch(src):
            with m.Case(_SRC_PING):
                m.d.comb += fetched.eq(self.buf_data)
            with m.Case(_SRC_INFO):
                m.d.comb += fetched.eq(Mux(index[0], cnt.word[8:], cnt.word[:8]))
            with m.Case(_SRC_STATUS):
                m.d.comb += fetched.eq(
                    pick(m, status_bytes, index[:(P.STATUS.size - 1).bit_length()],
                         "status_byte"))
            with m.Case(_SRC_RUN):      # RUN_REPLY: the ticks run
                m.d.comb += fetched.eq(pick(m, seq.ran, index[:2], "ran_byte"))
        m.d.comb += fetch.byte.eq(fetched)
        with m.If(src == _SRC_READ):
            connect(m, walk.data, send.payload)
        with m.Else():
            connect(m, fetch.stream, send.payload)

        def reply(status, payload_len, source):
            m.d.sync += [r_status.eq(status), src.eq(source), reply_len.eq(payload_len)]

        # -- RUN -------------------------------------------------------------------------------
        # The RUN request stays in the decoder while it runs; the sequencer paces its ticks,
        # ends it (done or aborted) and counts the ticks run (the reply's ticks field).
        run = rq.head.run
        # The core's strobes (a tick's start, a clear) go through a register: the core's
        # memory addresses follow them at once, and the decisions behind them (the period,
        # the abort, the request's decode) are then a cycle earlier, off the paths into the
        # stores (the UP5K build's longest). The core acts a cycle later; nothing it counts
        # changes, the tick period grows by that cycle.
        core_clear = Signal.like(self.core.clear)
        m.d.sync += [self.core.start.eq(seq.start), self.core.clear.eq(core_clear)]
        # the walker's start likewise (its registers load at its start; it then runs a cycle
        # after the request's decode: a cycle per READ/WRITE/INJECT request, none per word)
        walk_start = Signal()
        m.d.sync += walk.start.eq(walk_start)
        m.d.comb += [seq.request.eq(run), seq.abort.eq(self.abort)]
        in_run = Signal()           # a RUN is executing (where an overrun count returns)
        # where a tick's event handling goes on: the probe step when the build has probes
        after_tick = "RUN_PROBE" if cfg.probe_slots else "RUN_NEXT"
        # the finished tick overran a nonzero period
        late = (run.period != 0) & (self.core.last_tick_cycles > run.period)

        # The spike stream: the emitter takes the core's spikes and sends SPIKES batches on its
        # own ``body``, which has the output while it is valid (the two never overlap: the RUN
        # reply waits for the emitter's idle, and it is idle outside a RUN).
        m.d.comb += [emit.spikes.payload.eq(self.core.spikes.payload),
                     emit.spikes.valid.eq(self.core.spikes.valid),
                     self.core.spikes.ready.eq(emit.spikes.ready),
                     emit.start.eq(seq.start), emit.tick.eq(self.core.ticks),
                     emit.seq.eq(rq.seq)]
        with m.If(emit.body.valid):
            connect(m, emit.body, flipped(self.body))
        with m.Else():
            connect(m, send.body, flipped(self.body))

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.idle.eq(~self.frame.valid)
                with m.If(dec.request.valid):
                    with m.If(rq.link_error):
                        reply(rq.status, 0, _SRC_NONE)
                        m.d.sync += cnt_at.eq(Mux(rq.status == Status.BAD_CRC, crc_at, frame_at))
                        m.next = "CNT_RD"
                    with m.Elif(rq.status != Status.OK):
                        reply(rq.status, 0, _SRC_NONE)
                        m.next = "REPLY"
                    with m.Else():     # OK: start what the opcode asks
                        with m.Switch(rq.opcode):
                            with m.Case(Opcode.PING):
                                reply(Status.OK, rq.length, _SRC_PING)
                                m.next = "REPLY"
                            with m.Case(Opcode.INFO):
                                reply(Status.OK, len(info), _SRC_INFO)
                                m.next = "REPLY"
                            with m.Case(Opcode.STATUS):
                                reply(Status.OK, P.STATUS.size, _SRC_STATUS)
                                m.next = "REPLY"
                            with m.Case(Opcode.RESET):
                                flags = rq.head.reset
                                reply(Status.OK, 0, _SRC_NONE)
                                m.d.comb += clear_counters.eq(flags[_COUNTERS_BIT])
                                with m.If(flags[_COUNTERS_BIT]):
                                    m.d.sync += cnt_at.eq(crc_at)
                                    m.next = "CNT_CLR"
                                with m.Elif((flags & _CORE_FLAGS) != 0):
                                    m.d.comb += core_clear.eq(flags[:_FLAG_BITS])
                                    m.next = "RESET_WAIT"
                                with m.Else():
                                    m.next = "REPLY"
                            with m.Case(Opcode.READ, Opcode.WRITE, Opcode.INJECT):
                                m.d.comb += walk_start.eq(1)
                                m.next = "WALK"
                            with m.Case(Opcode.RUN):
                                m.d.comb += seq.load.eq(1)
                                m.d.sync += in_run.eq(1)
                                m.next = "RUN_NEXT"
                            with m.Default():   # (the decoder refuses other opcodes)
                                reply(Status.BAD_OPCODE, 0, _SRC_NONE)
                                m.next = "REPLY"

            with m.State("WALK"):
                with m.If(walk.done):
                    with m.If((rq.opcode == Opcode.READ) & (walk.status == Status.OK)):
                        reply(Status.OK, rq.read_len, _SRC_READ)
                    with m.Else():
                        reply(walk.status, 0, _SRC_NONE)
                    m.next = "REPLY"

            # -- RESET and the counters ----------------------------------------------------------
            with m.State("CNT_CLR"):
                # zero the counter words (crc_at .. overrun_at), then clear the core
                m.d.comb += cnt.zero.eq(1)
                m.d.sync += cnt_at.eq(cnt_at + 2)
                with m.If(cnt_at == overrun_at):
                    m.d.comb += core_clear.eq(rq.head.reset[:_FLAG_BITS])
                    m.next = "RESET_WAIT"
            with m.State("CNT_RD"):
                m.next = "CNT_WR"       # the RAM answers one cycle after the address
            with m.State("CNT_WR"):
                m.d.comb += cnt.incr.eq(1)
                with m.If(in_run):          # an overrun counted between two ticks
                    m.next = after_tick
                with m.Else():
                    m.next = "REPLY"
            with m.State("RESET_WAIT"):
                with m.If(self.core.done):
                    m.next = "REPLY"

            # -- RUN -------------------------------------------------------------------------------
            with m.State("RUN_NEXT"):
                # a boundary once the emitter has packed the last tick's spikes (and the probe
                # unit has sent its event)
                m.d.comb += seq.boundary.eq(emit.ready & ~self.probe_busy)
                with m.If(seq.end):
                    reply(Mux(seq.aborted, Status.ABORTED, Status.OK), P.RUN_REPLY.size,
                          _SRC_RUN)
                    m.d.sync += in_run.eq(0)
                    m.next = "RUN_FLUSH"
                with m.Elif(seq.start):     # (the sequencer starts the core's tick)
                    m.next = "RUN_TICK"
            with m.State("RUN_TICK"):
                with m.If(self.core.done):
                    m.next = "RUN_EVENT"
            with m.State("RUN_EVENT"):
                # (last_tick_cycles holds the finished tick's count from here on)
                with m.If(late):
                    m.d.comb += count_overrun.eq(1)
                    m.d.sync += cnt_at.eq(overrun_at)
                    m.next = "CNT_RD"
                with m.Else():
                    m.next = after_tick
            if cfg.probe_slots:
                with m.State("RUN_PROBE"):
                    # a sampled tick's PROBE event follows every spike before it (docs/protocol.md
                    # section 5): once the emitter has packed the tick, flush it if the event
                    # is due, then let the probe unit step (and send)
                    with m.If(emit.ready):
                        with m.If(self.probe_due & ~emit.idle):
                            m.d.comb += emit.flush.eq(1)
                        with m.Else():
                            m.d.comb += [self.probe_start.eq(1), self.probe_seq.eq(rq.seq)]
                            m.next = "RUN_NEXT"
            with m.State("RUN_FLUSH"):
                # every spike goes out before the reply (docs/protocol.md section 5)
                m.d.comb += emit.flush.eq(1)
                with m.If(emit.idle):
                    m.next = "REPLY"

            # -- the reply; its end accepts the request (and so the frame) -----------------------
            with m.State("REPLY"):
                m.d.comb += [replying.eq(1), send.header.valid.eq(1)]
                with m.If(send.header.ready):
                    m.d.comb += [dec.request.ready.eq(1), self.error.eq(r_status != Status.OK)]
                    m.next = "IDLE"
        return m
