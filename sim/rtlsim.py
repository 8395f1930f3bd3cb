"""The RTL top in Amaranth's simulator, behind the host-transport duck type.

:class:`Transport` runs :class:`spikeloom.hdl.top.Top` with a bit-level 8N1 UART model on its
pins: ``write`` queues bytes that the testbench sends on ``uart_rx``, ``read`` advances the
simulation and returns the characters decoded from ``uart_tx``.

The UART line model (:func:`send`, :class:`Monitor`) is usable on its own in tests. It drives
and samples a 1-bit pin in simulated time (``ctx.delay``), not per clock cycle, so it costs a handful of simulator events per bit. Times are in seconds. Callers start it half a
clock period away from the clock edges (:func:`align`) so that no pin change ever coincides with
an active edge.
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
