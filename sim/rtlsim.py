"""The RTL top in Amaranth's simulator, behind the host-transport duck type.

:class:`Transport` runs :class:`spikeloom.hdl.top.Top` with a bit-level 8N1 UART model on its
pins: ``write`` queues bytes that the testbench sends on ``uart_rx``, ``read`` advances the
simulation and returns the characters decoded from ``uart_tx``.

The UART line model (:func:`send`, :class:`Monitor`) is usable on its own in tests. It drives
and samples a 1-bit pin in simulated time (``ctx.delay``), not per clock cycle, so it costs a
handful of simulator events per bit. Times are in seconds. Callers start it half a clock period
away from the clock edges (:func:`align`) so that no pin change ever coincides with an active
edge.
"""

from __future__ import annotations

__all__ = ["align", "frame_bits", "send", "send_bits", "Monitor", "Transport"]


async def align(ctx, period: float, domain: str = "sync") -> None:
    """Move to the middle of a clock period (after the next active edge)."""
    await ctx.tick(domain)
    await ctx.delay(period / 2)


def frame_bits(byte: int, *, stop: int = 1) -> list[int]:
    """The 10 line levels of one 8N1 character (``stop=0`` makes a framing error)."""
    return [0] + [(byte >> k) & 1 for k in range(8)] + [stop]


async def send_bits(ctx, pin, bits, bit_time: float) -> None:
    """Drive ``bits`` onto ``pin``, ``bit_time`` seconds each; only changes cost an event."""
    hold = 0.0
    level = None
    for b in bits:
        if b != level:
            if hold:
                await ctx.delay(hold)
            ctx.set(pin, b)
            level, hold = b, 0.0
        hold += bit_time
    if hold:
        await ctx.delay(hold)


async def send(ctx, pin, data: bytes, bit_time: float, *, gap: float = 0.0) -> None:
    """Send ``data`` as 8N1 characters, back to back, or ``gap`` seconds of idle between them."""
    if not gap:
        bits = []
        for byte in data:
            bits += frame_bits(byte)
        await send_bits(ctx, pin, bits, bit_time)
        return
    for byte in data:
        await send_bits(ctx, pin, frame_bits(byte), bit_time)
        await ctx.delay(gap)


class Monitor:
    """Samples a UART output pin: every character whose start bit falls is decoded in the middle
    of its bits and appended to :attr:`data`; a 0 stop bit is appended to :attr:`errors`."""

    def __init__(self, pin, bit_time: float):
        self.pin = pin
        self.bit_time = bit_time
        self.data = bytearray()
        self.errors = []

    async def run(self, ctx) -> None:
        """The monitor loop; add it with ``sim.add_testbench(mon.run, background=True)``."""
        bt = self.bit_time
        while True:
            await ctx.negedge(self.pin)
            await ctx.delay(bt * 1.5)
            byte = 0
            for k in range(8):
                byte |= ctx.get(self.pin) << k
                await ctx.delay(bt)
            if ctx.get(self.pin):
                self.data.append(byte)
            else:
                self.errors.append(byte)
                if not ctx.get(self.pin):
                    await ctx.posedge(self.pin)


class Transport:
    """The RTL top (:class:`spikeloom.hdl.top.Top`) in Amaranth's simulator as a host transport.

    ``write(data)`` queues bytes; the testbench sends them back to back on ``uart_rx`` at the
    configured baud rate. ``read(timeout)`` advances the simulation until the device is quiet
    (nothing queued or on the line, no request buffered or executing) and returns every byte
    decoded from ``uart_tx`` since the last read; if ``timeout`` wall-clock seconds pass first it
    returns what arrived so far (possibly ``b""``). :meth:`exchange` is write + run-until-quiet
    with a bound in simulated cycles instead (for tests). The clock runs at ``cfg.clock_hz``, so
    simulated time is device time.
    """

    def __init__(self, cfg, build_id: bytes = b"spikeloo", **core_kwargs):
        from amaranth.sim import Simulator

        from ..hdl.top import Top

        self.cfg = cfg
        self.top = Top(cfg, build_id, **core_kwargs)
        self.period = 1.0 / cfg.clock_hz
        self.bit_time = cfg.uart_divisor * self.period
        self._pending = bytearray()
        self._raw = []              # line levels queued by write_line (tests of UART errors)
        self._sending = False
        self._idle = False
        self._closed = False
        self.monitor = Monitor(self.top.uart_tx, self.bit_time)
        self.sim = Simulator(self.top)
        self.sim.add_clock(self.period)
        self.sim.add_testbench(self._driver, background=True)
        self.sim.add_testbench(self.monitor.run, background=True)

    async def _driver(self, ctx):
        await align(ctx, self.period)
        while True:
            if self._raw:
                bits, self._raw = self._raw, []
                self._sending, self._idle = True, False
                await send_bits(ctx, self.top.uart_rx, bits + [1], self.bit_time)
                self._sending = False
            elif self._pending:
                data = bytes(self._pending)
                self._pending.clear()
                self._sending, self._idle = True, False
                await send(ctx, self.top.uart_rx, data, self.bit_time)
                self._sending = False
            else:
                # Poll once per bit time: cheap, and the device cannot finish faster than that.
                self._idle = bool(ctx.get(self.top.idle))
                await ctx.delay(self.bit_time)

    @property
    def quiet(self) -> bool:
        return not self._pending and not self._raw and not self._sending and self._idle

    @property
    def cycles(self) -> int:
        """Simulated clock cycles so far."""
        return round(self.sim._engine.now * 1e-15 / self.period)

    def _take(self) -> bytes:
        out = bytes(self.monitor.data)
        self.monitor.data.clear()
        return out

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ValueError("transport is closed")
        self._pending += bytes(data)
        self._idle = False

    def write_line(self, levels) -> None:
        """Queue raw line levels (one per bit time, then idle high): framing errors, breaks."""
        self._raw += [int(b) for b in levels]
        self._idle = False

    def read(self, timeout: float) -> bytes:
        import time

        if self._closed:
            raise ValueError("transport is closed")
        deadline = time.monotonic() + timeout
        while not self.quiet:
            for _ in range(2000):
                self.sim.advance()
                if self.quiet:
                    break
            if time.monotonic() > deadline:
                break
        return self._take()

    def exchange(self, data: bytes, max_cycles: int = 10_000_000) -> bytes:
        """Send ``data``, run until the device is quiet, return its output. RuntimeError if the
        device is still busy after ``max_cycles`` cycles (a hang)."""
        self.write(data)
        limit = self.sim._engine.now + round(max_cycles * self.period * 1e15)
        while not self.quiet:
            self.sim.advance()
            if self.sim._engine.now > limit:
                raise RuntimeError(f"device not quiet after {max_cycles} cycles")
        return self._take()

    def close(self) -> None:
        self._closed = True
        self.sim = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
