"""8N1 UART: a receiver and a transmitter with a build-time clock divisor.

Contract:

- :class:`Receiver` samples ``rx`` through a 2-FF synchroniser, finds the falling edge of a start
  bit, re-checks it in the middle of the bit (a shorter glitch is ignored), then samples every
  data bit and the stop bit in the middle of their bit times (``divisor`` clock cycles per bit;
  with ``divisor >= 8`` each sample is the majority of the last three clock samples, which rejects
  one-cycle noise). A good byte appears on ``stream`` (valid until taken). A 0 stop bit is a
  framing error: the byte is dropped, ``error`` pulses, the saturating 16-bit ``errors`` counter
  counts it, and the receiver waits until the line is high again before it looks for the next
  start bit, so a break (line held low for any time) counts as exactly one error. A byte that
  completes while the previous one is still not taken is dropped and ``overflow`` pulses.
  ``clear`` zeroes ``errors``. ``busy`` is high from a falling edge until the character (or the
  line low after a framing error) has ended.
- :class:`Transmitter` sends every byte taken from ``stream`` as start bit, 8 data bits LSB first
  and a stop bit, ``divisor`` cycles per bit; ``tx`` idles high; ``busy`` is high while a byte is
  on the line.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["Receiver", "Transmitter"]


def _check_divisor(divisor):
    if not isinstance(divisor, int) or isinstance(divisor, bool):
        raise TypeError(f"UART divisor must be an int, not {divisor!r}")
    if divisor < 4:
        raise ValueError(f"UART divisor must be at least 4, not {divisor}")


class Receiver(wiring.Component):
    """8N1 receiver; see the module docstring for the contract."""

    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__({
            "rx": In(1, init=1),
            "stream": Out(stream.Signature(8)),
            "error": Out(1),
            "overflow": Out(1),
            "errors": Out(16),
            "clear": In(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        div = self.divisor

        line = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, line, init=1)

        # The bit value as seen at a sampling instant: majority of three samples when the bit is
        # long enough for all three to lie well inside it.
        if div >= 8:
            hist = Signal(2, init=0b11)
            m.d.sync += hist.eq(Cat(line, hist[0]))
            bit = Signal()
            m.d.comb += bit.eq((line & hist[0]) | (line & hist[1]) | (hist[0] & hist[1]))
        else:
            bit = line

        timer = Signal(range(div))
        nbits = Signal(range(8))
        shreg = Signal(8)

        with m.If(self.stream.ready):
            m.d.sync += self.stream.valid.eq(0)
        m.d.sync += [self.error.eq(0), self.overflow.eq(0)]
        with m.If(self.clear):
            m.d.sync += self.errors.eq(0)
        with m.Elif(self.error):
            # the incrementer's carry out says the counter is full (no separate compare)
            nxt = self.errors + 1
            with m.If(~nxt[16]):
                m.d.sync += self.errors.eq(nxt[:16])

        with m.FSM() as fsm:
            m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
            with m.State("IDLE"):
                with m.If(~line):
                    # Middle of the start bit; the synchroniser delay is the same for every edge.
                    m.d.sync += timer.eq(div // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(bit):
                        m.next = "IDLE"         # a glitch, not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(div - 1), nbits.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(div - 1), shreg.eq(Cat(shreg[1:], bit)),
                                 nbits.eq(nbits + 1)]
                    with m.If(nbits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(bit):
                        with m.If(self.stream.valid & ~self.stream.ready):
                            m.d.sync += self.overflow.eq(1)
                        with m.Else():
                            m.d.sync += [self.stream.payload.eq(shreg),
                                         self.stream.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.error.eq(1)
                        m.next = "BREAK"
            with m.State("BREAK"):
                # After a framing error the line must return high before a new start bit counts.
                with m.If(line):
                    m.next = "IDLE"
        return m


class Transmitter(wiring.Component):
    """8N1 transmitter; see the module docstring for the contract."""

    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__({
            "stream": In(stream.Signature(8)),
            "tx": Out(1, init=1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        div = self.divisor
        timer = Signal(range(div))
        shreg = Signal(10, init=1)      # bits still to send, LSB first; idles as a stop bit
        left = Signal(range(11))

        # The next byte is taken in the last cycle of the stop bit, so characters follow each
        # other without an idle cycle.
        last = (left == 0) | ((left == 1) & (timer == 0))
        m.d.comb += [
            self.tx.eq(shreg[0]),
            self.busy.eq(left != 0),
            self.stream.ready.eq(last),
        ]
        with m.If(last & self.stream.valid):
            m.d.sync += [shreg.eq(Cat(0, self.stream.payload, 1)), left.eq(10),
                         timer.eq(div - 1)]
        with m.Elif(left != 0):
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [timer.eq(div - 1), shreg.eq(Cat(shreg[1:], 1)), left.eq(left - 1)]
        return m
