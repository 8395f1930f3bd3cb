"""The RTL top in Amaranth's simulator, behind the host-transport duck type.

:class:`Transport` runs :class:`spikeloom.hdl.top.Top` with a bit-level 8N1 UART model on its
pins: ``write`` queues bytes that the testbench sends on ``uart_rx``, ``read`` advances the
simulation and returns the characters decoded from ``uart_tx``. :func:`ModelCore` is a stand-in
core (the golden model behind the Core interface) for testing the link gateware on its own.

Speed (tiny preset, divisor 4, one busy core of this machine): about 15 k cycles/s with
ModelCore, about 5 k cycles/s with the RTL core; a byte costs 40 cycles each way.

The UART line model (:func:`send`, :class:`Monitor`) is usable on its own in tests. It drives
and samples a 1-bit pin in simulated time (``ctx.delay``), not per clock cycle, so it costs a
handful of simulator events per bit. Times are in seconds. Callers start it half a clock period
away from the clock edges (:func:`align`) so that no pin change ever coincides with an active
edge.
"""

from __future__ import annotations

from ..proto.protocol import BUILD_ID

__all__ = ["align", "frame_bits", "send", "send_bits", "Monitor", "Transport", "ModelCore"]


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

    def __init__(self, cfg, build_id: bytes = BUILD_ID, **core_kwargs):
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
        core_bench = getattr(self.top.core, "testbench", None)
        if core_bench is not None:      # a stand-in core that runs as a testbench (ModelCore)
            self.sim.add_testbench(core_bench, background=True)

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


def ModelCore(cfg, weight_store: str = "dual"):
    """A stand-in for :class:`spikeloom.hdl.core.Core`: the Core's exact signature, with the
    golden model (:class:`spikeloom.sim.model.Core`) behind it in a testbench.

    Pass it as ``Transport(cfg, core_factory=ModelCore)`` to test the link gateware without the
    RTL core: every memory request is answered from the model in one cycle, a tick runs the
    model's ``step`` and streams its spikes, ``last_tick_cycles`` is the exact cycle model (the
    same one the golden device reports), and ``clear`` applies the model's resets.
    """
    from amaranth.hdl import Module
    from amaranth.lib import wiring

    from ..hdl.core import Control
    from ..proto.memmap import Region
    from ..proto.protocol import ResetFlags
    from .model import Core as Model

    # the Core's signature: its control interface seen from the core's side
    signature = Control(cfg).flip()

    class _ModelCore(wiring.Component):
        def elaborate(self, platform):
            return Module()     # every output is driven by the testbench

        async def testbench(self, ctx):
            model = Model(cfg)
            counts = dict(ticks=0, spike_count=0, syn_events=0, last_tick_cycles=0)
            req, rsp, spk = self.mem_req, self.mem_rsp, self.spikes
            ctx.set(req.ready, 1)
            while True:
                if not (ctx.get(req.valid) or ctx.get(self.start) or ctx.get(self.clear)):
                    await ctx.changed(req.valid, self.start, self.clear)
                _, _, valid, payload, start, clear = await ctx.tick().sample(
                    req.valid, req.payload, self.start, self.clear)
                if valid:
                    region = Region(payload.region)
                    if payload.write:
                        model.write_words(region, payload.addr, [payload.data])
                        word = 0
                    else:
                        word, = model.read_words(region, payload.addr, 1)
                    ctx.set(req.ready, 0)
                    ctx.set(rsp.payload, word)
                    ctx.set(rsp.valid, 1)
                    await ctx.tick().until(rsp.ready)
                    ctx.set(rsp.valid, 0)
                    ctx.set(req.ready, 1)
                elif start or clear:
                    ctx.set(req.ready, 0)
                    ctx.set(self.busy, 1)
                    if start:
                        stdp = model.learning_enabled
                        result = model.step()
                        fired = [int(j) for j in result.spikes.nonzero()[0]]
                        for j, end in [(j, 0) for j in fired] + [(len(fired), 1)]:
                            ctx.set(spk.payload, {"neuron": j, "end": end})
                            ctx.set(spk.valid, 1)
                            await ctx.tick().until(spk.ready)
                        ctx.set(spk.valid, 0)
                        counts["ticks"] += 1
                        counts["spike_count"] += len(fired)
                        counts["syn_events"] += result.delivered * cfg.n_neurons
                        counts["last_tick_cycles"] = result.cycles(cfg, stdp, weight_store)
                    else:
                        if clear & ResetFlags.STATE:
                            model.reset_state()
                        if clear & ResetFlags.CONFIG:
                            model.reset_config()
                        if clear & ResetFlags.COUNTERS:
                            counts = dict.fromkeys(counts, 0)
                        await ctx.tick()
                    for name, value in counts.items():
                        ctx.set(getattr(self, name), value & 0xFFFFFFFF)
                    ctx.set(self.busy, 0)
                    ctx.set(self.done, 1)
                    await ctx.tick()
                    ctx.set(self.done, 0)
                    ctx.set(req.ready, 1)

    return _ModelCore(signature)
