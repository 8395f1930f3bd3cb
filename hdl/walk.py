"""The memory walker: READ, WRITE and INJECT, word by word over the core's memory port.

Contract (docs/protocol.md section 4; byte-identical with ``spikeloom.sim.device.GoldenDevice``;
used by :class:`spikeloom.hdl.dispatch.Dispatcher`):

- ``request`` is a decoded request (:func:`spikeloom.hdl.decode.DecodedLayout`) that passed
  the decoder's checks; it holds still from ``start`` (a strobe; ``request.opcode`` is READ,
  WRITE or INJECT) until the walk is over. ``done`` (a strobe) ends the checking part with
  ``status`` (valid in that cycle): the first failed check of those the decoder leaves to the
  walker, in protocol order, or OK. No memory word is written unless the status is OK.

  * READ: BAD_ADDRESS when ``addr + count`` words run past the region; ``done`` comes the
    cycle after ``start``. With OK the walker then sends the reply payload, the
    ``count * nbytes`` bytes of the words (little-endian, ``nbytes`` per word), on ``data``:
    each word is requested on ``mem_req`` when its first byte is due and its ``mem_rsp`` is
    held (not ready) until its last byte is taken, so the memory is read as the bytes leave.
    The walk is over after the last byte (at once for ``count`` 0).
  * WRITE: the words after the ``WRITE_REQ`` head, read from the payload through
    ``buf_addr``/``buf_data`` (the byte one cycle after its address). A first pass checks them
    (BAD_LENGTH: no word or a partial one; BAD_ADDRESS: past the region; BAD_VALUE: bits above
    the layout width), a second pass writes them; ``done`` ends the walk.
  * INJECT: the payload's u16 input indices (BAD_ADDRESS: one >= ``n_inputs``); the second
    pass writes 1 at ``SPIKES[index]`` for each.

- A write takes its ``mem_rsp`` at once (the core answers every request).
- ``mem_req.payload`` holds still from the cycle ``mem_req.valid`` rises until that request's
  ``mem_rsp`` is taken (the address steps on only then), so a register on ``mem_req.valid``
  alone may stand between the walker and the core (:class:`~spikeloom.hdl.dispatch.Dispatcher`).
- ``busy`` is high from the cycle after ``start`` until the walk is over; ``buf_addr`` (the
  payload byte index) matters only while a WRITE or INJECT is walked.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..proto import protocol as P
from ..proto.config import CoreConfig
from ..proto.memmap import Region
from ..proto.protocol import Opcode, Status
from .core import addr_width, data_width, req_layout
from .decode import STATUS_SHAPE, DecodedLayout
from .emit import pick
from .framing import below

__all__ = ["Walker"]


class Walker(wiring.Component):
    """READ/WRITE/INJECT over the memory port; see the module docstring for the contract."""

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        super().__init__({
            "request": In(DecodedLayout(cfg)),
            "start": In(1),
            "done": Out(1),
            "status": Out(STATUS_SHAPE),
            "data": Out(stream.Signature(8)),
            "buf_addr": Out(range(P.MAX_PAYLOAD)),
            "buf_data": In(8),
            "mem_req": Out(stream.Signature(req_layout(cfg))),
            "mem_rsp": In(stream.Signature(data_width(cfg))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        rq = self.request
        head = rq.head.read
        assert P.WRITE_REQ.fields == P.READ_REQ.fields[:2]     # READ and WRITE share these

        # -- one memory word, assembled from (WRITE) or split into (READ) bytes -----------------
        word_bytes = (data_width(cfg) + 7) // 8
        word = Signal(8 * max(word_bytes, 2))       # a WRITE word; INJECT keeps 1 here
        lane = Signal(range(max(word_bytes, 2)))    # byte index inside the word
        # the word's last byte index: nbytes - 1 (READ, WRITE) or 1 (INJECT); compared with
        # ``lane`` itself, not ``lane + 1`` with the size, the incrementer feeds ``lane`` only
        wlast = Signal.like(lane)
        pos = Signal(range(P.MAX_PAYLOAD + 1))      # payload byte index (WRITE/INJECT)
        wcount = Signal(range(P.MAX_PAYLOAD + 1))   # words seen (WRITE); words left (READ)
        wbad = Signal()             # some word failed its value check
        second = Signal()           # second pass: perform the writes
        is_inject = Signal()
        waddr = Signal(max(addr_width(cfg), 16))   # (INJECT assembles its u16 index here)
        m.d.comb += self.buf_addr.eq(pos)

        # ``addr + wcount`` words run past the region (one adder for READ and WRITE)
        aw = len(rq.words)
        beyond = (head.addr[aw:] != 0) | (head.addr[:aw] + wcount > rq.words)

        # One request shape for everything: READ/WRITE use the region, waddr and the assembled
        # word; INJECT writes the word 1 at SPIKES[waddr]. (No per-state data multiplexer.)
        mreq = self.mem_req.payload
        m.d.comb += [mreq.data.eq(word), mreq.write.eq(second),
                     mreq.region.eq(Mux(is_inject, Region.SPIKES, head.region)),
                     mreq.addr.eq(waddr)]
        # READ sends the response word straight from mem_rsp, held until its last byte is taken
        m.d.comb += self.data.payload.eq(pick(m, self.mem_rsp.payload, lane, "word_byte"))

        def finish(status):
            m.d.comb += [self.done.eq(1), self.status.eq(status)]

        with m.FSM() as fsm:
            m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
            with m.State("IDLE"):
                m.d.sync += [lane.eq(0), wbad.eq(0), second.eq(0), waddr.eq(head.addr)]
                with m.If(self.start):
                    with m.Switch(rq.opcode):
                        with m.Case(Opcode.READ):
                            m.d.sync += [wcount.eq(head.count), is_inject.eq(0),
                                         wlast.eq(rq.nbytes - 1)]
                            m.next = "READ_CHECK"
                        with m.Case(Opcode.WRITE):
                            m.d.sync += [is_inject.eq(0), wlast.eq(rq.nbytes - 1), wcount.eq(0),
                                         pos.eq(P.WRITE_REQ.size)]
                            m.next = "WALK"
                        with m.Default():   # INJECT
                            m.d.sync += [is_inject.eq(1), wlast.eq(1), wcount.eq(0),
                                         pos.eq(0), word.eq(1)]
                            m.next = "WALK"
            with m.State("READ_CHECK"):
                with m.If(beyond):
                    finish(Status.BAD_ADDRESS)
                    m.next = "IDLE"
                with m.Else():
                    finish(Status.OK)
                    m.next = "READ_REQ"
            with m.State("READ_REQ"):
                with m.If(wcount == 0):
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += self.mem_req.valid.eq(1)
                    with m.If(self.mem_req.ready):
                        m.next = "READ_BYTES"
            with m.State("READ_BYTES"):
                m.d.comb += self.data.valid.eq(self.mem_rsp.valid)
                with m.If(self.data.valid & self.data.ready):
                    with m.If(lane == wlast):
                        m.d.comb += self.mem_rsp.ready.eq(1)
                        m.d.sync += [lane.eq(0), waddr.eq(waddr + 1), wcount.eq(wcount - 1)]
                        m.next = "READ_REQ"
                    with m.Else():
                        m.d.sync += lane.eq(lane + 1)

            # -- WRITE / INJECT: pass 1 checks every word, pass 2 writes them ----------------------
            with m.State("WALK"):
                with m.If(pos == rq.length):
                    m.next = "WALK_END"
                with m.Else():
                    m.next = "WALK_BYTE"
            with m.State("WALK_BYTE"):
                # buf_data holds the byte at pos (addressed one cycle ago, in WALK).
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
                m.d.sync += pos.eq(pos + 1)
                with m.If(lane == wlast):
                    m.d.sync += lane.eq(0)
                    with m.If(second):
                        m.next = "WRITE_REQ"
                    with m.Else():
                        m.d.sync += wcount.eq(wcount + 1)
                        with m.If(is_inject):
                            with m.If(~below(Cat(waddr[:8], byte), cfg.n_inputs)):
                                m.d.sync += wbad.eq(1)
                        with m.Elif((byte & rq.top_mask) != 0):
                            m.d.sync += wbad.eq(1)
                        m.next = "WALK"
                with m.Else():
                    m.d.sync += lane.eq(lane + 1)
                    m.next = "WALK"
            with m.State("WRITE_REQ"):
                m.d.comb += self.mem_req.valid.eq(1)
                with m.If(self.mem_req.ready):
                    m.next = "WRITE_RSP"
            with m.State("WRITE_RSP"):
                m.d.comb += self.mem_rsp.ready.eq(1)
                with m.If(self.mem_rsp.valid):
                    m.d.sync += waddr.eq(waddr + 1)
                    m.next = "WALK"
            with m.State("WALK_END"):
                with m.If(second):
                    finish(Status.OK)
                    m.next = "IDLE"
                with m.Elif(is_inject):
                    with m.If(wbad):
                        finish(Status.BAD_ADDRESS)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [second.eq(1), pos.eq(0)]
                        m.next = "WALK"
                with m.Else():
                    with m.If((lane != 0) | (wcount == 0)):
                        finish(Status.BAD_LENGTH)
                        m.next = "IDLE"
                    with m.Elif(beyond):
                        finish(Status.BAD_ADDRESS)
                        m.next = "IDLE"
                    with m.Elif(wbad):
                        finish(Status.BAD_VALUE)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [second.eq(1), pos.eq(P.WRITE_REQ.size)]
                        m.next = "WALK"
        return m
