"""Request decoding: a deframed frame in, one checked request out.

Contract (docs/protocol.md sections 3 and 4; used by :class:`spikeloom.hdl.dispatch.Dispatcher`):

- Takes one ``frame`` element from :class:`spikeloom.hdl.framing.Deframer` at a time. For an OK
  frame it reads the first 8 payload bytes (the fixed-size request fields; beyond the payload
  they are junk and unused) through ``buf_addr``/``buf_data`` (the byte appears one cycle after
  its address) into ``head``, a :func:`RequestLayout` view; ``buf_addr`` is only driven while
  loading, the owner may use the buffer at every other time.
- It then presents ``request`` (a :func:`DecodedLayout` element) until the owner accepts it,
  and accepts the frame element in the same cycle: the frame, and so the payload in the
  deframer's buffer, holds still while the owner executes the request. The element is:

  * ``opcode``, ``seq``, ``length`` (payload bytes; OK frames fit ``MAX_PAYLOAD``) of the frame;
  * ``link_error``: the frame itself was bad, ``status`` is the deframer's (BAD_CRC or
    BAD_FRAME) and nothing is decoded;
  * ``status``: otherwise the first failed check in protocol order, of those that need
    only the request itself (payload length per opcode, the RESET flag bits, READ/WRITE's
    region, a READ reply longer than ``MAX_PAYLOAD``), or OK. What needs the words (a
    region's address range, the words' values, INJECT's indices) is the walker's check
    (:mod:`spikeloom.hdl.walk`); a failed check here leaves it out;
  * ``head``: the request's fixed fields (READ_REQ, WRITE_REQ, RUN_REQ views, the RESET byte),
    held still with the element (the RUN sequencer reads ``head.run`` through the whole RUN);
  * ``nbytes``, ``words``, ``top_mask``: the constants of the region ``head.read.region``
    (bytes per word, words in the region, the bits of a word's last byte at or above its
    layout width), 0 for a region the configuration lacks;
  * ``read_len``: the READ reply's payload bytes, ``count * nbytes`` (a register loaded in the
    check: the product's multiplier kept out of the dispatcher's paths, the ECP5 clock's).
"""

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..proto import protocol as P
from ..proto.config import CoreConfig
from ..proto.memmap import layouts, region_words, regions
from ..proto.protocol import Opcode, ResetFlags, Status
from .framing import FrameLayout, below

__all__ = ["Decoder", "DecodedLayout", "RequestLayout", "STATUS_SHAPE"]

#: The shape of a status code (``protocol.Status``) inside the gateware.
STATUS_SHAPE = unsigned(max(Status).bit_length())

# RESET's flag byte: a bit at or above this (no ResetFlags member) is BAD_VALUE
_FLAG_BITS = sum(ResetFlags).bit_length()


def RequestLayout():
    """The fixed-size head of a request payload (its first 8 bytes), one view per opcode that
    has one: the protocol's byte layouts as Amaranth structs (``Bytes.struct``)."""
    return data.UnionLayout({
        "read": P.READ_REQ.struct(), "write": P.WRITE_REQ.struct(), "run": P.RUN_REQ.struct(),
        "reset": unsigned(8)})


def DecodedLayout(cfg: CoreConfig):
    """One decoded request (see the module docstring for the fields)."""
    lays = layouts(cfg)
    nbytes = max(lay.nbytes for lay in lays.values())
    return data.StructLayout({
        "link_error": unsigned(1),
        "status": STATUS_SHAPE,
        "opcode": unsigned(8),
        "seq": unsigned(8),
        "length": range(P.MAX_PAYLOAD + 1),
        "head": RequestLayout(),
        "nbytes": range(nbytes + 1),
        "words": range(max(region_words(cfg, r) for r in regions(cfg)) + 1),
        "top_mask": unsigned(8),
        "read_len": unsigned(P.READ_REQ.struct()["count"].shape.width + nbytes.bit_length()),
    })


class Decoder(wiring.Component):
    """Loads and checks one request; see the module docstring for the contract."""

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        super().__init__({
            "frame": In(stream.Signature(FrameLayout)),
            "buf_addr": Out(range(P.MAX_PAYLOAD)),
            "buf_data": In(8),
            "request": Out(stream.Signature(DecodedLayout(cfg))),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        lays = layouts(cfg)
        frame = self.frame.payload
        out = self.request.payload
        head = Signal(RequestLayout())
        head_bytes = head.as_value()
        assert len(head_bytes) == 64
        status = Signal(STATUS_SHAPE)
        link_error = Signal()
        # the head byte being addressed; 0 (the first byte's address) while waiting
        at = Signal(range(len(head_bytes) // 8 + 1))
        length = Signal.like(out.length)
        m.d.comb += [
            length.eq(frame.length), self.buf_addr.eq(at),
            out.opcode.eq(frame.opcode), out.seq.eq(frame.seq), out.length.eq(length),
            out.head.eq(head), out.status.eq(status), out.link_error.eq(link_error)]

        # Per-region constants, selected by the request's region byte.
        reg_ok = Signal()
        with m.Switch(head.read.region):
            for r, lay in lays.items():
                top_bits = lay.width - 8 * (lay.nbytes - 1)
                with m.Case(int(r)):
                    m.d.comb += [reg_ok.eq(1), out.nbytes.eq(lay.nbytes),
                                 out.words.eq(region_words(cfg, r)),
                                 out.top_mask.eq((0xFF << top_bits) & 0xFF)]

        # READ's reply length; more than MAX_PAYLOAD (a power of two) is BAD_LENGTH.
        assert P.MAX_PAYLOAD & (P.MAX_PAYLOAD - 1) == 0
        k = P.MAX_PAYLOAD.bit_length() - 1
        read_len, read_len_r = Signal.like(out.read_len), Signal.like(out.read_len)
        m.d.comb += [read_len.eq(head.read.count * out.nbytes), out.read_len.eq(read_len_r)]
        too_long = (read_len[k + 1:] != 0) | (read_len[k] & (read_len[:k] != 0))

        def check(*rules):
            """The first failing (condition, status) of ``rules`` in order, else OK."""
            with m.If(rules[0][0]):
                m.d.sync += status.eq(rules[0][1])
            for cond, st in rules[1:]:
                with m.Elif(cond):
                    m.d.sync += status.eq(st)
            with m.Else():
                m.d.sync += status.eq(Status.OK)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.frame.valid):
                    m.d.sync += [link_error.eq(frame.status != Status.OK), status.eq(frame.status)]
                    with m.If(frame.status != Status.OK):
                        m.next = "VALID"
                    with m.Else():
                        m.d.sync += at.eq(1)
                        m.next = "LOAD"
            with m.State("LOAD"):
                # byte at-1 arrives now (addressed a cycle ago)
                m.d.sync += [head_bytes.eq(Cat(head_bytes[8:], self.buf_data)), at.eq(at + 1)]
                with m.If(at == len(head_bytes) // 8):
                    m.next = "CHECK"
            with m.State("CHECK"):
                m.d.sync += read_len_r.eq(read_len)
                bad_len = Status.BAD_LENGTH
                with m.Switch(frame.opcode):
                    with m.Case(Opcode.PING):
                        m.d.sync += status.eq(Status.OK)
                    with m.Case(Opcode.INFO, Opcode.STATUS):
                        check((length != 0, bad_len))
                    with m.Case(Opcode.RESET):
                        check((length != 1, bad_len),
                              (head.reset[_FLAG_BITS:] != 0, Status.BAD_VALUE))
                    with m.Case(Opcode.READ):
                        check((length != P.READ_REQ.size, bad_len), (~reg_ok, Status.BAD_REGION),
                              (too_long, bad_len))
                    with m.Case(Opcode.WRITE):
                        check((below(length, P.WRITE_REQ.size), bad_len),
                              (~reg_ok, Status.BAD_REGION))
                    with m.Case(Opcode.INJECT):
                        check((length[0], bad_len))
                    with m.Case(Opcode.RUN):
                        check((length != P.RUN_REQ.size, bad_len))
                    with m.Default():
                        m.d.sync += status.eq(Status.BAD_OPCODE)
                m.next = "VALID"
            with m.State("VALID"):
                m.d.comb += [self.request.valid.eq(1), self.frame.ready.eq(self.request.ready)]
                with m.If(self.request.ready):
                    m.d.sync += at.eq(0)
                    m.next = "IDLE"
        return m
