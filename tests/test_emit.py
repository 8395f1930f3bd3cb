"""``hdl.emit.SpikeEmitter`` at its own interface against ``protocol.SpikePacker``: random ticks
(silent, sparse, dense), a random tick counter (wrapping), random backpressure on ``body`` and
random gaps between ticks; the bodies it sends must be the packer's SPIKES frame bodies, byte for
byte, with the keep-alive, the full-batch rule and the flush."""

import random

import pytest
from amaranth.sim import Simulator
from spikeloom.hdl.emit import SpikeEmitter
from spikeloom.proto import preset
from spikeloom.proto import protocol as P
from spikeloom.proto.protocol import Frame, Opcode, Status


def expected_bodies(n, ticks, first, seq):
    packer = P.SpikePacker(n)
    payloads = []
    for k, fired in enumerate(ticks):
        payloads += packer.tick((first + k) & 0xFFFFFFFF, fired)
    payloads += packer.flush()
    return [P.body_of(Frame(Opcode.SPIKES, seq, Status.OK, p))[:-P.CRC_BYTES] for p in payloads]


def simulate(n, ticks, first, seq, seed):
    rng = random.Random(seed)
    dut = SpikeEmitter(preset("tiny").replace(n_neurons=n))
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    bodies, current = [], bytearray()

    async def sink(ctx):
        while True:
            ctx.set(dut.body.ready, rng.random() < 0.7)
            await ctx.tick()

    async def monitor(ctx):
        async for _, _, valid, ready, payload in ctx.tick().sample(
                dut.body.valid, dut.body.ready, dut.body.payload):
            if valid and ready:
                current.append(payload.data)
                if payload.last:
                    bodies.append(bytes(current))
                    current.clear()

    async def driver(ctx):
        ctx.set(dut.seq, seq)
        for k, fired in enumerate(ticks):
            while not ctx.get(dut.ready):
                await ctx.tick()
            for _ in range(rng.choice([0, 0, 1, 5])):
                await ctx.tick()
            ctx.set(dut.tick, (first + k) & 0xFFFFFFFF)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            for j in [*fired, None]:
                ctx.set(dut.spikes.valid, 1)
                ctx.set(dut.spikes.payload, {"neuron": len(fired) if j is None else j,
                                             "end": j is None})
                await ctx.tick().until(dut.spikes.ready)
                ctx.set(dut.spikes.valid, 0)
                if rng.random() < 0.3:
                    await ctx.tick()
        while not ctx.get(dut.ready):
            await ctx.tick()
        ctx.set(dut.flush, 1)
        await ctx.tick()
        for _ in range(200_000):
            if ctx.get(dut.idle):
                break
            await ctx.tick()
        ctx.set(dut.flush, 0)
        assert ctx.get(dut.idle), "the emitter never became idle after a flush"
        for _ in range(5):
            await ctx.tick()

    sim.add_testbench(sink, background=True)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(driver)
    sim.run()
    return bodies


@pytest.mark.parametrize("n,rate,count,seed", [
    (8, 0.0, P.KEEPALIVE_TICKS + 3, 1),        # silent: a keep-alive event, then the rest
    (8, 1.0, 140, 2),                          # every neuron: bitmaps until the batch is full
    (24, 0.05, 60, 3),                         # sparse: slot gaps across silent ticks
    (24, 0.3, 80, 4),                          # mixed gaps and bitmaps
    (130, 0.02, 40, 5),                        # two-byte gaps inside a tick
])
def test_emitter_matches_packer(n, rate, count, seed):
    rng = random.Random(seed)
    ticks = [sorted(j for j in range(n) if rng.random() < rate) for _ in range(count)]
    first = rng.choice([0, 0xFFFFFFFF - 5])
    got = simulate(n, ticks, first, seq=seed, seed=seed)
    assert got == expected_bodies(n, ticks, first, seed)


def test_emitter_idle_without_ticks():
    """A flush with no batch open sends nothing and the emitter stays idle (RUN 0)."""
    assert simulate(8, [], 0, seq=1, seed=0) == []
