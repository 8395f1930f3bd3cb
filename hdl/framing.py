"""SLIP framing with CRC-16/CCITT-FALSE: the receive-side deframer and the send-side encoder.

Contract (the wire format is :mod:`spikeloom.proto.protocol`):

- :class:`Deframer` takes received bytes from ``rx`` (one per cycle) and behaves exactly like
  ``protocol.Deframer``: it un-escapes SLIP, stores at most ``5 + max_payload + 2`` body bytes in
  its frame buffer, checks the CRC as the bytes arrive (the two newest bytes are held back: they
  are the received CRC), and at every END that closes a non-empty body (or a bad or dangling
  escape) presents one ``frame`` element: ``status`` (a ``protocol.Status``), ``opcode``, ``seq``
  (both 0 for BAD_FRAME) and ``length`` (payload bytes when OK). While ``frame.valid`` is high the
  deframer takes no more bytes, so the payload in the buffer stays intact until the consumer
  accepts the element (``frame.ready``) after it has executed the frame. The abort token
  (``protocol.ABORT``, an END where an escape's second byte belongs) ends any partial body,
  which is discarded, presents nothing and pulses ``token`` (the top clears its abort latch:
  docs/protocol.md, "Abort"). The payload is read with
  ``buf_addr`` (payload byte index) / ``buf_data`` (registered: the byte appears one cycle after
  its address).
- :class:`Encoder` takes reply bodies (header and payload, no CRC) as a stream of
  ``{data, last}`` bytes and sends ``END``, the escaped body, the escaped CRC (little-endian) and
  ``END`` on ``tx``, which is what ``protocol.encode_frame`` produces.

:func:`crc16_next` is the one-byte CRC step in logic, shared by both. :func:`below` (a compare
with a constant, in logic) is shared with the other link parts.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..proto import protocol as P

__all__ = ["crc16_next", "below", "FrameLayout", "BodyLayout", "Deframer", "Encoder"]

#: One deframed frame, as the dispatcher sees it.
FrameLayout = data.StructLayout({
    "status": unsigned(3), "opcode": unsigned(8), "seq": unsigned(8), "length": unsigned(16)})

#: One byte of a reply body; ``last`` marks the final byte (the CRC follows it).
BodyLayout = data.StructLayout({"data": unsigned(8), "last": unsigned(1)})


def _crc16_taps():
    """For every output bit of one CRC step, the (crc bits, byte bits) it is the XOR of.

    The step is linear over GF(2) (no init or xorout inside it), so it is found by running the
    reference on unit vectors; the logic is then one small XOR per bit instead of eight chained
    multiplexers."""
    def step(crc, byte):
        return P.crc16(bytes([byte]), crc)
    taps = []
    for bit in range(16):
        crc_in = [k for k in range(16) if step(1 << k, 0) >> bit & 1]
        byte_in = [k for k in range(8) if step(0, 1 << k) >> bit & 1]
        taps.append((crc_in, byte_in))
    return taps


_CRC16_TAPS = _crc16_taps()


def crc16_next(crc, byte):
    """CRC-16/CCITT-FALSE (``protocol.CRC_POLY``, MSB first) after one more ``byte``: logic."""
    bits = []
    for crc_in, byte_in in _CRC16_TAPS:
        terms = [crc[k] for k in crc_in] + [byte[k] for k in byte_in]
        bits.append(Cat(*terms).xor() if terms else Const(0, 1))
    return Cat(*bits)


def below(value, const: int):
    """``value < const`` for an integer constant ``const`` (``value`` signed or unsigned), as
    plain logic: Yosys maps a compare with a constant to a carry chain over every bit (a logic
    cell per bit on iCE40), where a few LUTs decide it. ``~below(value, c)`` is ``value >= c``."""
    value = Value.cast(value)
    width = len(value)
    if value.shape().signed:    # flipping the sign bit makes the order the unsigned one
        value, const = Cat(value[:-1], ~value[-1]), const + (1 << (width - 1))
    if const <= 0:
        return Const(0, 1)
    if const >= 1 << width:
        return Const(1, 1)
    lt = Const(0, 1)            # value[:k] < const's low k bits
    for k in range(width):
        lt = (~value[k] | lt) if const >> k & 1 else (~value[k] & lt)
    return lt


class Deframer(wiring.Component):
    """SLIP decoder, frame buffer and CRC check; see the module docstring for the contract."""

    def __init__(self, max_payload: int = P.MAX_PAYLOAD):
        if not isinstance(max_payload, int) or not 0 <= max_payload <= 0xFFFF - 7:
            raise ValueError(f"max_payload must be an int in 0..65528, not {max_payload!r}")
        self.max_payload = max_payload
        self.limit = P.HEADER_BYTES + max_payload + P.CRC_BYTES
        super().__init__({
            "rx": In(stream.Signature(8)),
            "frame": Out(stream.Signature(FrameLayout)),
            "buf_addr": In(range(max(max_payload, 1))),
            "buf_data": Out(8),
            "token": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        hdr = P.HEADER_BYTES
        assert P.ABORT == bytes([P.ESC, P.END])     # the token is a dangling escape's END

        # The buffer holds payload bytes only: the header is captured in registers and the CRC
        # bytes never need to be read back.
        m.submodules.buf = buf = Memory(shape=8, depth=max(self.max_payload, 1), init=[])
        wr = buf.write_port()
        rd = buf.read_port()
        # The read is disabled in a write cycle: no read-during-write result needs to be defined,
        # so Yosys adds no bypass logic around the block RAM. (The consumer reads the payload
        # only while ``frame.valid`` holds the deframer still, so no read is ever lost.)
        m.d.comb += [rd.addr.eq(self.buf_addr), self.buf_data.eq(rd.data), rd.en.eq(~wr.en)]
        # (write address and data are driven unconditionally: only the enable is conditional)

        d1 = Signal(8)      # newest stored byte
        d2 = Signal(8)      # the one before it
        # ``pos`` = body bytes stored so far - 7, i.e. the payload index of the byte two behind
        # the newest (``d2``): payload bytes are written from d2 at pos, so the two CRC bytes
        # never reach the buffer, and at END ``pos`` is the payload length (no adders).
        first = -(hdr + P.CRC_BYTES)
        pos = Signal(range(first, self.max_payload + 1), init=first)
        m.d.comb += [wr.addr.eq(pos), wr.data.eq(d2)]
        escaped = Signal()
        bad_escape = Signal()
        overlong = Signal()
        crc = Signal(16, init=P.CRC_INIT)
        head = Signal(P.HEADER.struct())    # filled a byte at a time, as the bytes arrive
        head_bytes = head.as_value()
        assert len(head_bytes) == 8 * hdr

        # The element's opcode, seq and length are the header registers themselves (they hold
        # still while the element waits: no bytes are taken then); a BAD_FRAME zeroes them.
        f = self.frame.payload
        status = Signal.like(f.status)
        m.d.comb += [f.status.eq(status), f.opcode.eq(head.opcode), f.seq.eq(head.seq),
                     f.length.eq(head.length)]
        m.d.comb += self.rx.ready.eq(~self.frame.valid)
        with m.If(self.frame.valid & self.frame.ready):
            m.d.sync += self.frame.valid.eq(0)

        raw = self.rx.payload
        with m.If(self.rx.valid & self.rx.ready):
            # the byte to store, driven unconditionally (``store`` says whether it is one):
            # ESC_END and ESC_ESC differ in bit 0 only
            assert P.ESC_END ^ P.ESC_ESC == 1
            byte = Signal(8)
            store = Signal()
            m.d.comb += byte.eq(Mux(escaped, Mux(raw[0] == (P.ESC_ESC & 1), P.ESC, P.END), raw))
            with m.If(raw == P.END):
                with m.If(escaped):
                    m.d.comb += self.token.eq(1)
                with m.Elif((pos != first) | bad_escape | overlong):
                    m.d.sync += self.frame.valid.eq(1)
                    got_crc = Cat(d2, d1)
                    length = head.length
                    with m.If(bad_escape | pos[-1]):
                        m.d.sync += [status.eq(P.Status.BAD_FRAME), head.opcode.eq(0),
                                     head.seq.eq(0)]
                    with m.Elif(overlong):
                        m.d.sync += status.eq(P.Status.BAD_LENGTH)
                    with m.Elif(crc != got_crc):
                        m.d.sync += status.eq(P.Status.BAD_CRC)
                    with m.Elif(length != pos):
                        m.d.sync += status.eq(P.Status.BAD_LENGTH)
                    with m.Else():
                        m.d.sync += status.eq(P.Status.OK)
                m.d.sync += [pos.eq(first), escaped.eq(0), bad_escape.eq(0), overlong.eq(0),
                             crc.eq(P.CRC_INIT)]
            with m.Elif(escaped):
                m.d.sync += escaped.eq(0)
                with m.If((raw == P.ESC_END) | (raw == P.ESC_ESC)):
                    m.d.comb += store.eq(1)
                with m.Else():
                    m.d.sync += bad_escape.eq(1)
            with m.Elif(raw == P.ESC):
                m.d.sync += escaped.eq(1)
            with m.Else():
                m.d.comb += store.eq(1)

            with m.If(store):
                with m.If(pos != self.max_payload):     # (the body is not yet ``limit`` long)
                    m.d.sync += [pos.eq(pos + 1), d1.eq(byte), d2.eq(d1)]
                    # The CRC covers all but the last two bytes: feed the byte two behind.
                    with m.If((pos != first) & (pos != first + 1)):
                        m.d.sync += crc.eq(crc16_next(crc, d2))
                    with m.If(below(pos, first + hdr)):
                        m.d.sync += head_bytes.eq(Cat(head_bytes[8:], byte))
                    with m.If(~pos[-1]):
                        m.d.comb += wr.en.eq(1)
                with m.Else():
                    m.d.sync += overlong.eq(1)
        return m


class Encoder(wiring.Component):
    """SLIP encoder with CRC appender; see the module docstring for the contract."""

    def __init__(self):
        super().__init__({
            "body": In(stream.Signature(BodyLayout)),
            "tx": Out(stream.Signature(8)),
        })

    def elaborate(self, platform):
        m = Module()
        crc = Signal(16, init=P.CRC_INIT)
        esc2 = Signal()             # the escape byte went out; the escaped code is next
        cur = Signal(8)             # the body or CRC byte now being sent
        advance = Signal()          # ``cur`` has been sent completely this cycle

        special = (cur == P.END) | (cur == P.ESC)
        code = Mux(cur == P.END, P.ESC_END, P.ESC_ESC)

        def send_escaped():
            m.d.comb += self.tx.valid.eq(1)
            with m.If(esc2):
                m.d.comb += self.tx.payload.eq(code)
            with m.Elif(special):
                m.d.comb += self.tx.payload.eq(P.ESC)
            with m.Else():
                m.d.comb += self.tx.payload.eq(cur)
            with m.If(self.tx.ready):
                with m.If(special & ~esc2):
                    m.d.sync += esc2.eq(1)
                with m.Else():
                    m.d.sync += esc2.eq(0)
                    m.d.comb += advance.eq(1)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.body.valid):
                    m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(P.END)]
                    with m.If(self.tx.ready):
                        m.d.sync += crc.eq(P.CRC_INIT)
                        m.next = "BODY"
            with m.State("BODY"):
                m.d.comb += cur.eq(self.body.payload.data)
                with m.If(self.body.valid):
                    send_escaped()
                with m.If(advance):
                    m.d.comb += self.body.ready.eq(1)
                    m.d.sync += crc.eq(crc16_next(crc, self.body.payload.data))
                    with m.If(self.body.payload.last):
                        m.next = "CRC_LO"
            with m.State("CRC_LO"):
                m.d.comb += cur.eq(crc[:8])
                send_escaped()
                with m.If(advance):
                    m.next = "CRC_HI"
            with m.State("CRC_HI"):
                m.d.comb += cur.eq(crc[8:])
                send_escaped()
                with m.If(advance):
                    m.next = "END"
            with m.State("END"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(P.END)]
                with m.If(self.tx.ready):
                    m.next = "IDLE"
        return m
