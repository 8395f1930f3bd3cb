"""The reply path: a reply header and its payload bytes in, one reply body out.

Contract (docs/protocol.md section 3; used by :class:`spikeloom.hdl.dispatch.Dispatcher`):

- :class:`Sender` takes one ``header`` element (a ``protocol.HEADER`` view: opcode, seq,
  status, length; ``length`` at most ``max_payload``) and sends the reply body on ``body``
  (``framing.BodyLayout`` bytes; the encoder appends the CRC): the 5 header bytes, then
  exactly ``length`` bytes taken from ``payload``, with ``last`` on the final byte. The
  header element must hold still until the Sender accepts it, which it does in the cycle the
  final byte leaves. One byte is held in a register between ``payload`` and ``body`` (no
  combinational path from ``body.ready`` to ``payload.ready``, which reaches the core's
  memory port on a READ).
- :class:`Fetcher` turns a source read by index with one cycle of latency (a block RAM's
  registered read: the deframer's payload buffer, the INFO ROM; or logic) into a byte
  stream: ``index`` is the byte it fetches, ``byte`` the source's answer the cycle after the
  index is presented; ``stream`` offers it once the index has been stable for a cycle, and a
  transfer moves to the next index. While ``restart`` (level) is high it offers nothing and
  returns to index 0.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..proto import protocol as P
from .emit import pick
from .framing import BodyLayout

__all__ = ["Sender", "Fetcher"]


class Sender(wiring.Component):
    """Header and payload to a reply body; see the module docstring for the contract."""

    def __init__(self, max_payload: int = P.MAX_PAYLOAD):
        if not isinstance(max_payload, int) or not 0 <= max_payload <= 0xFFFF:
            self._MustUse__silence = True   # a rejected instance is no forgotten design
            raise ValueError(f"max_payload must be an int in 0..65535, not {max_payload!r}")
        self.max_payload = max_payload
        super().__init__({
            "header": In(stream.Signature(P.HEADER.struct())),
            "payload": In(stream.Signature(8)),
            "body": Out(stream.Signature(BodyLayout)),
        })

    def elaborate(self, platform):
        m = Module()
        hdr = self.header.payload
        hidx = Signal(range(P.HEADER_BYTES + 1))       # header bytes fetched
        # payload bytes still to fetch, loaded with the length while the header goes out:
        # counting up to the length instead, the incrementer's sum would feed a compare as
        # well as the register (its flip-flops then take logic cells of their own on iCE40)
        left = Signal(range(self.max_payload + 1))
        full = Signal()         # ``body`` holds a byte
        last = Signal()
        out = self.body.payload
        m.d.comb += [self.body.valid.eq(full), out.last.eq(last)]
        header_byte = pick(m, hdr.as_value(), hidx, "header_byte")
        in_payload = hidx == P.HEADER_BYTES

        with m.If(full & self.body.ready):
            m.d.sync += full.eq(0)
            with m.If(last):
                m.d.comb += self.header.ready.eq(1)
                m.d.sync += hidx.eq(0)
        with m.Elif(~full & self.header.valid):
            with m.If(~in_payload):
                m.d.sync += [out.data.eq(header_byte), hidx.eq(hidx + 1), full.eq(1),
                             last.eq((hidx == P.HEADER_BYTES - 1) & (hdr.length == 0)),
                             left.eq(hdr.length)]
            with m.Else():
                m.d.comb += self.payload.ready.eq(1)
                with m.If(self.payload.valid):
                    m.d.sync += [out.data.eq(self.payload.payload), left.eq(left - 1),
                                 full.eq(1), last.eq(left == 1)]
        return m


class Fetcher(wiring.Component):
    """An indexed one-cycle-latency source as a byte stream; see the module docstring."""

    def __init__(self, depth: int = P.MAX_PAYLOAD):
        if not isinstance(depth, int) or depth < 1:
            self._MustUse__silence = True   # a rejected instance is no forgotten design
            raise ValueError(f"depth must be a positive int, not {depth!r}")
        super().__init__({
            "index": Out(range(depth + 1)),
            "byte": In(8),
            "restart": In(1),
            "stream": Out(stream.Signature(8)),
        })

    def elaborate(self, platform):
        m = Module()
        fetched = Signal()      # ``index`` has been presented for a cycle: ``byte`` is its
        m.d.comb += [self.stream.valid.eq(fetched & ~self.restart),
                     self.stream.payload.eq(self.byte)]
        with m.If(self.restart):
            m.d.sync += [self.index.eq(0), fetched.eq(0)]
        with m.Elif(self.stream.valid & self.stream.ready):
            m.d.sync += [self.index.eq(self.index + 1), fetched.eq(0)]
        with m.Else():
            m.d.sync += fetched.eq(1)
        return m
