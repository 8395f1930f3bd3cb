"""``hdl.reply.Sender`` and ``hdl.reply.Fetcher`` at their own interfaces against small Python
models: seeded random headers and payloads, gaps on the payload stream, back-pressure on the
body; a source with one cycle of read latency, restarted at random times."""

import random

import pytest
from amaranth.sim import Simulator
from spikeloom.hdl.reply import Fetcher, Sender
from spikeloom.proto import protocol as P


def expected_body(header, payload):
    """The Sender's contract in Python: header bytes, then the payload; last on the final one."""
    data = P.HEADER.pack(**header) + payload
    return [(b, k == len(data) - 1) for k, b in enumerate(data)]


@pytest.mark.parametrize("seed", range(4))
def test_sender_matches_model(seed):
    rng = random.Random(seed)
    dut = Sender(max_payload=64)
    replies = []
    for _ in range(12):
        length = rng.choice([0, 0, 1, 2, rng.randrange(3, 65)])
        header = {"opcode": rng.randrange(256), "seq": rng.randrange(256),
                  "status": rng.randrange(16), "length": length}
        replies.append((header, bytes(rng.randrange(256) for _ in range(length))))
    sent, accepted = [], []

    async def body_sink(ctx):
        while True:
            ctx.set(dut.body.ready, rng.random() < 0.6)
            await ctx.tick()

    async def monitor(ctx):
        async for _, _, valid, ready, payload, h_valid, h_ready in ctx.tick().sample(
                dut.body.valid, dut.body.ready, dut.body.payload, dut.header.valid,
                dut.header.ready):
            if valid and ready:
                sent.append((payload.data, bool(payload.last)))
            if h_valid and h_ready:
                accepted.append(len(sent))

    async def payload_source(ctx):
        for _, payload in replies:
            for byte in payload:
                while rng.random() < 0.3:
                    ctx.set(dut.payload.valid, 0)
                    await ctx.tick()
                ctx.set(dut.payload.valid, 1)
                ctx.set(dut.payload.payload, byte)
                await ctx.tick().until(dut.payload.ready)
            ctx.set(dut.payload.valid, 0)

    async def driver(ctx):
        for header, _ in replies:
            ctx.set(dut.header.payload, header)
            ctx.set(dut.header.valid, 1)
            await ctx.tick().until(dut.header.ready)
            ctx.set(dut.header.valid, 0)
            for _ in range(rng.choice([0, 1, 3])):
                await ctx.tick()
        for _ in range(4):
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(body_sink, background=True)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(payload_source, background=True)
    sim.add_testbench(driver)
    sim.run()
    want = [item for header, payload in replies for item in expected_body(header, payload)]
    assert sent == want, f"seed {seed}"
    # each header is accepted exactly in the cycle its final byte leaves
    ends = [k + 1 for k, (_, last) in enumerate(want) if last]
    assert accepted == ends, f"seed {seed}"


@pytest.mark.parametrize("seed", range(4))
def test_fetcher_matches_model(seed):
    rng = random.Random(seed)
    dut = Fetcher(depth=32)
    source = [rng.randrange(256) for _ in range(33)]
    got, want = [], []

    async def memory(ctx):
        # a registered read: the byte of the index presented in the cycle before
        async for _, _, index in ctx.tick().sample(dut.index):
            ctx.set(dut.byte, source[index])

    async def driver(ctx):
        index = 0
        ctx.set(dut.restart, 1)
        await ctx.tick()
        for _ in range(400):
            restart = rng.random() < 0.03 or index == len(source) - 1
            ready = rng.random() < 0.6
            ctx.set(dut.restart, restart)
            ctx.set(dut.stream.ready, ready)
            if ctx.get(dut.stream.valid) and ready:
                assert not restart, "a byte offered during restart"
                got.append(ctx.get(dut.stream.payload))
                want.append(source[index])
                index += 1
            if restart:
                index = 0
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(memory, background=True)
    sim.add_testbench(driver)
    sim.run()
    assert len(got) > 50, "too few transfers to test anything"
    assert got == want, f"seed {seed}"


def test_restart_holds_the_stream_empty():
    dut = Fetcher(depth=8)
    seen = []

    async def bench(ctx):
        ctx.set(dut.restart, 1)
        ctx.set(dut.stream.ready, 1)
        for _ in range(5):
            await ctx.tick()
            seen.append((ctx.get(dut.stream.valid), ctx.get(dut.index)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [(0, 0)] * 5


@pytest.mark.parametrize("bad", [-1, 0x10000, "64"])
def test_sender_rejects_a_bad_limit(bad):
    with pytest.raises(ValueError, match="max_payload"):
        Sender(max_payload=bad)
