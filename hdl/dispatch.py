"""The command dispatcher: executes deframed requests on the core and builds the replies.

Parts (docs/architecture.md, "Link architecture"): this module's request FSM decodes a request
(its head is a :func:`RequestLayout` view), walks READ/WRITE/INJECT words over the core's
``mem_req``/``mem_rsp`` and emits reply bodies a byte at a time;
:class:`spikeloom.hdl.run.Sequencer` paces a RUN's ticks and ends the RUN (done or aborted);
:class:`spikeloom.hdl.emit.SpikeEmitter` packs a RUN's spikes into batched SPIKES events and
sends them; :class:`spikeloom.hdl.counters.Counters` keeps the link counters and the INFO ROM.

Contract (docs/protocol.md; byte-identical with ``spikeloom.sim.device.GoldenDevice``):

- Takes one ``frame`` element from :class:`spikeloom.hdl.framing.Deframer` at a time, reads its
  payload through ``buf_addr``/``buf_data`` and accepts the element only when the request is
  finished, so requests execute strictly in arrival order (its opcode, seq and length are read
  from the waiting element itself).
- Deframing errors are answered and counted (``crc_errors``, ``frame_errors``, 16-bit saturating).
  Requests are checked exactly in the order of the protocol semantics; a failed check changes no
  state and is answered with an empty payload and its status.
- Requests act on the core through its control interface ``core``
  (:class:`spikeloom.hdl.core.Control`). RUN runs ``ticks`` ticks; tick ``k`` starts no
  earlier than ``period`` cycles after tick ``k-1`` started (0: at once), and not before the
  emitter has packed tick ``k-1``'s spikes (its queue holds a batch, so the next ticks compute
  while the previous batch is on the line; output backpressure delays, never drops). The
  emitter's batches leave on ``body`` between the dispatcher's own replies: before the RUN
  reply the dispatcher raises the emitter's ``flush`` and waits for its ``idle`` (state
  RUN_FLUSH; a PROBE event must do the same). A tick whose
  ``last_tick_cycles`` exceeds a nonzero ``period`` counts an overrun (16-bit saturating) and
  sets flag bit 0. While ``abort`` (the top's abort latch) is high a RUN ends at the next tick
  boundary (before a tick starts: the tick in flight finishes and the spike stream is flushed)
  with status ABORTED and RUN_REPLY(ticks run); a RUN finding it high runs no tick.
- Reply bodies (header and payload; the encoder appends the CRC) leave on ``body``. A READ
  reply sends each word straight from ``mem_rsp``, which it takes only after the word's last
  byte.
- ``uart_errors`` comes from the UART receiver's counter; ``uart_clear`` zeroes it on
  RESET(COUNTERS). ``rx_overflow`` pulses count ``rx_overflows``. ``error`` pulses for every
  non-OK reply (for an LED); ``idle`` is high while no request is being executed.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..proto import protocol as P
from ..proto.config import CoreConfig
from ..proto.memmap import Region, layouts, region_words, regions
from ..proto.protocol import Opcode, ResetFlags, Status
from .core import Control, addr_width, data_width
from .counters import COUNTER_FIELDS, Counters
from .emit import SpikeEmitter
from .emit import pick as _pick
from .framing import BodyLayout, FrameLayout
from .run import Sequencer

__all__ = ["Dispatcher", "RequestLayout"]


def RequestLayout():
    """The fixed-size head of a request payload (its first 8 bytes), one view per opcode that
    has one: the protocol's byte layouts as Amaranth structs (``Bytes.struct``)."""
    return data.UnionLayout({
        "read": P.READ_REQ.struct(), "write": P.WRITE_REQ.struct(), "run": P.RUN_REQ.struct(),
        "reset": unsigned(8)})


# ResetFlags: the bits that clear the core, the COUNTERS bit (the dispatcher's counters too), the
# flag byte's width (a bit above is BAD_VALUE)
_CORE_FLAGS = int(ResetFlags.STATE | ResetFlags.CONFIG)
_COUNTERS_BIT = int(ResetFlags.COUNTERS).bit_length() - 1
_FLAG_BITS = sum(ResetFlags).bit_length()
# The RUN reply's one field is the sequencer's count of ticks run.
assert P.RUN_REPLY.fields == (("ticks", 4),)

# Which reply payload source refills the output shift register.
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
        lays = layouts(cfg)
        info = P.info_payload(cfg, self.build_id)

        # payload read pointer; while replying the payload byte index (also of the STATUS bytes)
        ptr = Signal(range(P.MAX_PAYLOAD + 1))

        # -- counters --------------------------------------------------------------------------
        clear_counters = Signal()
        count_overrun = Signal()
        # The counters kept here (the core keeps ticks, spikes, syn_events, last_tick_cycles)
        # and the INFO ROM, addressed by the payload byte index ``ptr``. The FSM updates a
        # counter with a saturating read-modify-write (CNT_RD, CNT_WR) while ``ptr`` points at
        # it, and clears them word by word (CNT_CLR).
        m.submodules.counters = cnt = Counters(info)
        m.d.comb += [cnt.addr.eq(ptr), cnt.clear.eq(clear_counters),
                     cnt.rx_overflow.eq(self.rx_overflow), cnt.overrun.eq(count_overrun),
                     self.uart_clear.eq(clear_counters)]
        crc_at, frame_at, overrun_at = (P.STATUS.offset(f) for f in COUNTER_FIELDS)
        assert crc_at + 2 == frame_at and frame_at % 2 == 0 and overrun_at % 2 == 0

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

        # -- the request being executed -----------------------------------------------------------
        # The frame element holds still until FINISH accepts it: its opcode, seq and length are
        # read from it directly (an OK frame's length fits MAX_PAYLOAD).
        frame = self.frame.payload
        r_seq = frame.seq
        length = frame.length[:P.MAX_PAYLOAD.bit_length()]
        r_status = Signal(range(max(Status) + 1))
        req = Signal(RequestLayout())   # the first 8 payload bytes (fixed-size request fields)
        req_bytes = req.as_value()      # (filled and emptied a byte at a time)
        assert P.WRITE_REQ.fields == P.READ_REQ.fields[:2]     # READ and WRITE share these
        req_region = req.read.region
        req_addr = req.read.addr
        req_count = req.read.count
        m.d.comb += self.buf_addr.eq(ptr)

        # Per-region constants, selected by the request's region byte.
        reg_ok = Signal()
        reg_nbytes = Signal(range(max(lay.nbytes for lay in lays.values()) + 1))
        reg_words = Signal(range(max(region_words(cfg, r) for r in regions(cfg)) + 1))
        reg_top_mask = Signal(8)    # bits of a word's last byte at or above the layout width
        with m.Switch(req_region):
            for r in lays:
                lay = lays[r]
                top_bits = lay.width - 8 * (lay.nbytes - 1)
                with m.Case(int(r)):
                    m.d.comb += [reg_ok.eq(1), reg_nbytes.eq(lay.nbytes),
                                 reg_words.eq(region_words(cfg, r)),
                                 reg_top_mask.eq((0xFF << top_bits) & 0xFF)]

        # -- one memory word, assembled from (WRITE) or split into (READ) bytes -----------------
        word_bytes = (self.DATA_W + 7) // 8
        word = Signal(8 * max(word_bytes, 2))
        lane = Signal(range(max(word_bytes, 2)))    # byte index inside the word
        wsize = Signal.like(reg_nbytes)             # bytes per word (WRITE) or 2 (INJECT)
        wcount = Signal(range(P.MAX_PAYLOAD + 1))   # words seen
        wbad = Signal()             # some word failed its check
        second = Signal()           # second pass: perform the writes
        is_inject = Signal()
        waddr = Signal(max(self.ADDR_W, 16))       # (INJECT assembles its u16 index here)

        # -- reply emitter: header, then payload, one byte at a time through ``obyte`` ----------
        # ``ptr`` is the payload byte index (and the PING buffer address); last = all sent.
        src = Signal(3)
        reply_len = Signal(range(P.MAX_PAYLOAD + 1))   # payload bytes of the reply
        hidx = Signal(range(P.HEADER_BYTES + 1))       # header bytes fetched
        obyte = Signal(8)
        header = Signal(P.HEADER.struct())
        m.d.comb += [header.opcode.eq(frame.opcode), header.seq.eq(r_seq),
                     header.status.eq(r_status), header.length.eq(reply_len)]
        pidx = ptr[:(P.STATUS.size - 1).bit_length()]

        def reply(status, payload_len, source):
            # reply_len is zeroed in IDLE: most replies are empty and need not drive it
            m.d.sync += [r_status.eq(status), src.eq(source)]
            if not (isinstance(payload_len, int) and payload_len == 0):
                m.d.sync += reply_len.eq(payload_len)

        # ``req_addr + wcount`` words run past the region (one adder for READ and WRITE)
        aw = len(reg_words)
        beyond = (req_addr[aw:] != 0) | (req_addr[:aw] + wcount > reg_words)

        # READ's reply length; more than MAX_PAYLOAD (a power of two) is BAD_LENGTH.
        assert P.MAX_PAYLOAD == 1 << 9
        read_len = Signal(16 + len(reg_nbytes))
        m.d.comb += read_len.eq(req_count * reg_nbytes)
        too_long = (read_len[10:] != 0) | (read_len[9] & (read_len[:9] != 0))

        # -- RUN state -----------------------------------------------------------------------------
        # The RUN request stays in ``req`` while it runs; the sequencer paces its ticks, ends it
        # (done or aborted) and counts the ticks run (the reply's ticks field).
        m.submodules.sequencer = seq = Sequencer()
        period = req.run.period
        m.d.comb += [seq.request.eq(req.run), seq.abort.eq(self.abort),
                     self.core.start.eq(seq.start)]
        in_run = Signal()           # a RUN is executing (where an overrun count returns)
        # where a tick's event handling goes on: the probe step when the build has probes
        after_tick = "RUN_PROBE" if cfg.probe_slots else "RUN_NEXT"

        # The spike stream: the emitter takes the core's spikes and sends SPIKES batches on its
        # own ``body``, which has the output while it is valid (the two never overlap: the RUN
        # reply waits for the emitter's idle, and it is idle outside a RUN).
        m.submodules.emitter = emit = SpikeEmitter(cfg)
        m.d.comb += [emit.spikes.payload.eq(self.core.spikes.payload),
                     emit.spikes.valid.eq(self.core.spikes.valid),
                     self.core.spikes.ready.eq(emit.spikes.ready),
                     emit.start.eq(seq.start), emit.tick.eq(self.core.ticks),
                     emit.seq.eq(r_seq)]
        own = stream.Signature(BodyLayout).create()    # the dispatcher's own replies
        with m.If(emit.body.valid):
            m.d.comb += [self.body.payload.eq(emit.body.payload), self.body.valid.eq(1),
                         emit.body.ready.eq(self.body.ready)]
        with m.Else():
            m.d.comb += [self.body.payload.eq(own.payload), self.body.valid.eq(own.valid),
                         own.ready.eq(self.body.ready)]

        # One request shape for everything: READ/WRITE use the region, waddr and the assembled
        # word; INJECT writes the word 1 at SPIKES[waddr]. (No per-state data multiplexer.)
        mreq = self.core.mem_req.payload
        m.d.comb += [mreq.data.eq(word), mreq.write.eq(second),
                     mreq.region.eq(Mux(is_inject, Region.SPIKES, req_region)),
                     mreq.addr.eq(waddr)]
        header_byte = _pick(m, header.as_value(), hidx, "header_byte")
        m.d.comb += [cnt.info.eq(src == _SRC_INFO), own.payload.data.eq(obyte)]
        info_byte = Mux(ptr[0], cnt.word[8:], cnt.word[:8])
        status_byte = _pick(m, status_bytes, pidx, "status_byte")
        ran_byte = _pick(m, seq.ran, ptr[:2], "ran_byte")     # RUN_REPLY: the ticks run

        # A byte-serial adder on the STATUS picker, LSB first, carry kept in ``carry``: RUN_CMP
        # finds the overrun test last_tick_cycles > period as the carry out of
        # last_tick_cycles + ~period.
        carry = Signal()
        nonzero = Signal()      # some period byte seen in RUN_CMP is not 0
        period_byte = period[:8]    # RUN_CMP rotates period by a byte per step (4 restore it)
        serial_sum = Signal(9)
        m.d.comb += serial_sum.eq(status_byte + ~period_byte + carry)
        ltc_at = P.STATUS.offset("last_tick_cycles")
        assert ltc_at % 4 == 0
        # READ sends the response word straight from mem_rsp, held (not ready) until its last
        # byte is fetched: the word register only assembles WRITE words.
        word_byte = _pick(m, self.core.mem_rsp.payload, lane, "word_byte")

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.idle.eq(~self.frame.valid)
                m.d.sync += [ptr.eq(0), reply_len.eq(0), is_inject.eq(0), second.eq(0)]
                with m.If(self.frame.valid):
                    f = self.frame.payload
                    with m.If(f.status != Status.OK):
                        m.d.sync += ptr.eq(Mux(f.status == Status.BAD_CRC, crc_at, frame_at))
                        reply(f.status, 0, _SRC_NONE)
                        m.next = "CNT_RD"
                    with m.Else():
                        m.d.sync += ptr.eq(1)
                        m.next = "LOAD"

            with m.State("LOAD"):
                # Fetch the first 8 payload bytes (beyond the payload they are junk, unused):
                # the buffer answers one cycle after the address, so byte ptr-1 arrives now.
                m.d.sync += [req_bytes.eq(Cat(req_bytes[8:], self.buf_data)), ptr.eq(ptr + 1)]
                with m.If(ptr == 8):
                    m.next = "DECODE"

            with m.State("DECODE"):
                with m.Switch(frame.opcode):
                    with m.Case(Opcode.PING):
                        reply(Status.OK, length, _SRC_PING)
                        m.next = "REPLY"
                    with m.Case(Opcode.INFO):
                        with m.If(length != 0):
                            reply(Status.BAD_LENGTH, 0, _SRC_NONE)
                        with m.Else():
                            reply(Status.OK, len(info), _SRC_INFO)
                        m.next = "REPLY"
                    with m.Case(Opcode.STATUS):
                        with m.If(length != 0):
                            reply(Status.BAD_LENGTH, 0, _SRC_NONE)
                        with m.Else():
                            reply(Status.OK, P.STATUS.size, _SRC_STATUS)
                        m.next = "REPLY"
                    with m.Case(Opcode.RESET):
                        flag_byte = req.reset
                        with m.If(length != 1):
                            reply(Status.BAD_LENGTH, 0, _SRC_NONE)
                            m.next = "REPLY"
                        with m.Elif(flag_byte[_FLAG_BITS:] != 0):
                            reply(Status.BAD_VALUE, 0, _SRC_NONE)
                            m.next = "REPLY"
                        with m.Else():
                            reply(Status.OK, 0, _SRC_NONE)
                            m.d.comb += clear_counters.eq(flag_byte[_COUNTERS_BIT])
                            with m.If(flag_byte[_COUNTERS_BIT]):
                                m.d.sync += ptr.eq(crc_at)
                                m.next = "CNT_CLR"
                            with m.Elif((flag_byte & _CORE_FLAGS) != 0):
                                m.d.comb += self.core.clear.eq(flag_byte[:_FLAG_BITS])
                                m.next = "RESET_WAIT"
                            with m.Else():
                                m.next = "REPLY"
                    with m.Case(Opcode.READ):
                        m.next = "REPLY"
                        with m.If(length != P.READ_REQ.size):
                            reply(Status.BAD_LENGTH, 0, _SRC_NONE)
                        with m.Elif(~reg_ok):
                            reply(Status.BAD_REGION, 0, _SRC_NONE)
                        with m.Elif(too_long):
                            reply(Status.BAD_LENGTH, 0, _SRC_NONE)
                        with m.Else():
                            # count <= MAX_PAYLOAD now; the address check is READ_CHECK's
                            m.d.sync += [wcount.eq(req_count), waddr.eq(req_addr)]
                            m.next = "READ_CHECK"
                    with m.Case(Opcode.WRITE):
                        m.d.sync += [is_inject.eq(0), wsize.eq(reg_nbytes), lane.eq(0),
                                     wcount.eq(0), wbad.eq(0), second.eq(0),
                                     ptr.eq(P.WRITE_REQ.size), waddr.eq(req_addr)]
                        with m.If(length < P.WRITE_REQ.size):
                            reply(Status.BAD_LENGTH, 0, _SRC_NONE)
                            m.next = "REPLY"
                        with m.Elif(~reg_ok):
                            reply(Status.BAD_REGION, 0, _SRC_NONE)
                            m.next = "REPLY"
                        with m.Else():
                            m.next = "WALK"
                    with m.Case(Opcode.INJECT):
                        m.d.sync += [is_inject.eq(1), wsize.eq(2), lane.eq(0), wcount.eq(0),
                                     wbad.eq(0), second.eq(0), ptr.eq(0), word.eq(1)]
                        with m.If(length[0]):
                            reply(Status.BAD_LENGTH, 0, _SRC_NONE)
                            m.next = "REPLY"
                        with m.Else():
                            m.next = "WALK"
                    with m.Case(Opcode.RUN):
                        with m.If(length != P.RUN_REQ.size):
                            reply(Status.BAD_LENGTH, 0, _SRC_NONE)
                            m.next = "REPLY"
                        with m.Else():
                            m.d.comb += seq.load.eq(1)
                            m.d.sync += in_run.eq(1)
                            m.next = "RUN_NEXT"
                    with m.Default():
                        reply(Status.BAD_OPCODE, 0, _SRC_NONE)
                        m.next = "REPLY"

            with m.State("READ_CHECK"):
                with m.If(beyond):
                    reply(Status.BAD_ADDRESS, 0, _SRC_NONE)
                with m.Else():
                    reply(Status.OK, read_len, _SRC_READ)
                m.next = "REPLY"

            with m.State("CNT_CLR"):
                # zero the counter words (crc_at .. overrun_at), then clear the core
                m.d.comb += cnt.zero.eq(1)
                m.d.sync += ptr.eq(ptr + 2)
                with m.If(ptr == overrun_at):
                    m.d.comb += self.core.clear.eq(req.reset[:_FLAG_BITS])
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

            # -- WRITE / INJECT: pass 1 checks every word, pass 2 writes them ----------------------
            with m.State("WALK"):
                with m.If(ptr == length):
                    m.next = "WALK_END"
                with m.Else():
                    m.next = "WALK_BYTE"
            with m.State("WALK_BYTE"):
                # buf_data holds the byte at ptr (addressed one cycle ago, in WALK).
                byte = self.buf_data
                with m.If(is_inject):
                    # the input index goes to waddr; word stays 1 (the value INJECT writes)
                    with m.If(lane == 0):
                        m.d.sync += waddr[:8].eq(byte)
                    with m.Else():
                        m.d.sync += waddr[8:16].eq(byte)
                with m.Elif(lane == 0):
                    m.d.sync += word.eq(byte)
                for k in range(1, len(word) // 8):
                    with m.If(~is_inject & (lane == k)):
                        m.d.sync += word[8 * k:8 * k + 8].eq(byte)
                m.d.sync += ptr.eq(ptr + 1)
                with m.If(lane + 1 == wsize):
                    m.d.sync += lane.eq(0)
                    with m.If(second):
                        m.next = "MEM_REQ"
                    with m.Else():
                        m.d.sync += wcount.eq(wcount + 1)
                        with m.If(is_inject):
                            with m.If(Cat(waddr[:8], byte) >= cfg.n_inputs):
                                m.d.sync += wbad.eq(1)
                        with m.Elif((byte & reg_top_mask) != 0):
                            m.d.sync += wbad.eq(1)
                        m.next = "WALK"
                with m.Else():
                    m.d.sync += lane.eq(lane + 1)
                    m.next = "WALK"
            # -- one memory access: the second WALK pass writes, a READ reply reads -------------
            with m.State("MEM_REQ"):
                m.d.comb += self.core.mem_req.valid.eq(1)
                with m.If(self.core.mem_req.ready):
                    m.d.sync += waddr.eq(waddr + 1)
                    m.next = "MEM_RSP"
            with m.State("MEM_RSP"):
                m.d.comb += self.core.mem_rsp.ready.eq(second)
                with m.If(self.core.mem_rsp.valid):
                    with m.If(second):
                        m.next = "WALK"
                    with m.Else():
                        m.next = "NEXT"
            with m.State("WALK_END"):
                with m.If(second):
                    reply(Status.OK, 0, _SRC_NONE)
                    m.next = "REPLY"
                with m.Elif(is_inject):
                    with m.If(wbad):
                        reply(Status.BAD_ADDRESS, 0, _SRC_NONE)
                        m.next = "REPLY"
                    with m.Else():
                        m.d.sync += [second.eq(1), ptr.eq(0)]
                        m.next = "WALK"
                with m.Else():
                    with m.If((lane != 0) | (wcount == 0)):
                        reply(Status.BAD_LENGTH, 0, _SRC_NONE)
                        m.next = "REPLY"
                    with m.Elif(beyond):
                        reply(Status.BAD_ADDRESS, 0, _SRC_NONE)
                        m.next = "REPLY"
                    with m.Elif(wbad):
                        reply(Status.BAD_VALUE, 0, _SRC_NONE)
                        m.next = "REPLY"
                    with m.Else():
                        m.d.sync += [second.eq(1), ptr.eq(P.WRITE_REQ.size)]
                        m.next = "WALK"

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
                    m.d.sync += [ptr.eq(ltc_at), carry.eq(0), nonzero.eq(0)]
                    m.next = "RUN_CMP"
            with m.State("RUN_CMP"):
                m.d.sync += [carry.eq(serial_sum[8]), nonzero.eq(nonzero | (period_byte != 0)),
                             ptr.eq(ptr + 1), period.eq(Cat(period[8:], period[:8]))]
                with m.If(ptr == ltc_at + 3):
                    m.next = "RUN_EVENT"
            with m.State("RUN_EVENT"):
                with m.If(nonzero & carry):     # period != 0 and last_tick_cycles > period
                    m.d.comb += count_overrun.eq(1)
                    m.d.sync += ptr.eq(overrun_at)
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
                            m.d.comb += [self.probe_start.eq(1), self.probe_seq.eq(r_seq)]
                            m.next = "RUN_NEXT"
            with m.State("RUN_FLUSH"):
                # every spike goes out before the reply (docs/protocol.md section 5)
                m.d.comb += emit.flush.eq(1)
                with m.If(emit.idle):
                    m.next = "REPLY"

            # -- reply emitter ---------------------------------------------------------------------
            with m.State("REPLY"):
                with m.If(r_status != Status.OK):
                    m.d.comb += self.error.eq(1)
                m.d.sync += [hidx.eq(0), ptr.eq(0), lane.eq(0), carry.eq(0)]
                m.next = "NEXT"
            with m.State("NEXT"):
                # Fetch the next header or payload byte into obyte, then EMIT it.
                m.next = "EMIT"
                with m.If(hidx != P.HEADER_BYTES):
                    m.d.sync += [obyte.eq(header_byte), hidx.eq(hidx + 1)]
                with m.Else():
                    m.d.sync += ptr.eq(ptr + 1)
                    with m.Switch(src):
                        with m.Case(_SRC_PING):
                            # ptr has been stable for a cycle: buf_data is the byte at ptr
                            m.d.sync += obyte.eq(self.buf_data)
                        with m.Case(_SRC_INFO):
                            m.d.sync += obyte.eq(info_byte)
                        with m.Case(_SRC_STATUS):
                            m.d.sync += obyte.eq(status_byte)
                        with m.Case(_SRC_RUN):
                            m.d.sync += obyte.eq(ran_byte)
                        with m.Case(_SRC_READ):
                            # EMIT fetched the word when lane was 0; its last byte frees it
                            m.d.sync += obyte.eq(word_byte)
                            with m.If(lane + 1 == reg_nbytes):
                                m.d.comb += self.core.mem_rsp.ready.eq(1)
                                m.d.sync += lane.eq(0)
                            with m.Else():
                                m.d.sync += lane.eq(lane + 1)
            with m.State("EMIT"):
                in_payload = hidx == P.HEADER_BYTES
                last = in_payload & (ptr == reply_len)
                m.d.comb += [own.valid.eq(1), own.payload.last.eq(last)]
                with m.If(own.ready):
                    with m.If(last):
                        m.next = "FINISH"
                    with m.Elif(in_payload & (src == _SRC_READ) & (lane == 0)):
                        m.next = "MEM_REQ"
                    with m.Else():
                        m.next = "NEXT"
            with m.State("FINISH"):
                m.d.comb += self.frame.ready.eq(1)
                m.next = "IDLE"
        return m
