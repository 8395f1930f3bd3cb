"""The link counters the dispatcher keeps, and the INFO ROM that shares their block RAM.

Contract (docs/protocol.md, STATUS and INFO; used by :class:`spikeloom.hdl.dispatch.Dispatcher`):

- One block RAM of 16-bit words holds the 16-bit STATUS counters ``crc_errors``,
  ``frame_errors`` and ``overruns``, each at word ``offset // 2`` of its STATUS byte offset, and,
  from word 32 on, the constant INFO payload given to the constructor. Both are addressed
  by a payload byte index ``addr`` (``info`` selects the INFO half): ``word`` is the word holding
  byte ``addr``, one cycle after the address (a registered read), so the reply emitter reads
  these bytes like any other payload byte, with no multiplexer inputs and no registers.
- ``incr`` (strobe; ``addr`` on a counter and stable since the cycle before, so ``word`` is its
  value) writes ``word + 1``, or nothing when ``word`` is 0xFFFF (16-bit saturation): one
  incrementer serves the three counters. ``zero`` (strobe) writes 0 at ``addr``. No read
  happens in a write cycle (so Yosys needs no read-during-write bypass).
- ``rx_overflows`` (16-bit, saturating) counts ``rx_overflow`` pulses at any time: it stays a
  register. ``overrun_flag`` (STATUS flags bit 0) is set by ``overrun``. ``clear`` zeroes both;
  the RAM counters are zeroed by the owner with ``zero``, word by word.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..proto import protocol as P

__all__ = ["Counters", "COUNTER_FIELDS"]

#: The STATUS fields kept in the RAM, in address order.
COUNTER_FIELDS = ("crc_errors", "frame_errors", "overruns")
_INFO_WORD = 32         # first word of the INFO payload


class Counters(wiring.Component):
    """Link counters and INFO ROM; see the module docstring for the contract."""

    def __init__(self, info: bytes):
        info = bytes(info)
        if len(info) > 2 * _INFO_WORD:
            self._MustUse__silence = True   # a rejected instance is no forgotten design
            raise ValueError(f"the INFO payload must fit {2 * _INFO_WORD} bytes, "
                             f"not {len(info)}")
        for name in COUNTER_FIELDS:
            if dict(P.STATUS.fields)[name] != 2 or P.STATUS.offset(name) % 2:
                raise ValueError(f"STATUS field {name} is not an aligned 16-bit word")
        self.info_payload = info
        super().__init__({
            "addr": In(range(P.MAX_PAYLOAD + 1)),
            "info": In(1),
            "word": Out(16),
            "incr": In(1),
            "zero": In(1),
            "clear": In(1),
            "rx_overflow": In(1),
            "overrun": In(1),
            "rx_overflows": Out(16),
            "overrun_flag": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        info_words = [int.from_bytes(self.info_payload[k:k + 2], "little")
                      for k in range(0, len(self.info_payload), 2)]
        m.submodules.ram = ram = Memory(shape=16, depth=256,
                                        init=[0] * _INFO_WORD + info_words)
        rd = ram.read_port()
        wr = ram.write_port()
        # word addr // 2 of the STATUS half (< 32 words), or of the INFO half (from word 32)
        ram_addr = Cat(self.addr[1:6], self.info, self.addr[6:8])
        m.d.comb += [rd.addr.eq(ram_addr), wr.addr.eq(ram_addr), rd.en.eq(~wr.en),
                     self.word.eq(rd.data)]

        # the incrementer's carry out says the counter is full (no separate compare)
        nxt = Signal(17)
        m.d.comb += nxt.eq(rd.data + 1)
        with m.If(self.zero):
            m.d.comb += [wr.data.eq(0), wr.en.eq(1)]
        with m.Elif(self.incr):
            m.d.comb += [wr.data.eq(nxt[:16]), wr.en.eq(~nxt[16])]

        with m.If(self.clear):
            m.d.sync += [self.rx_overflows.eq(0), self.overrun_flag.eq(0)]
        with m.Else():
            with m.If(self.rx_overflow):
                inc = self.rx_overflows + 1
                with m.If(~inc[16]):
                    m.d.sync += self.rx_overflows.eq(inc[:16])
            with m.If(self.overrun):
                m.d.sync += self.overrun_flag.eq(1)
        return m
