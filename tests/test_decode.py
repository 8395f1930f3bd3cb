"""``hdl.decode.Decoder`` at its own interface against a small Python model: seeded random
frames (every opcode and some unknown ones, right and wrong payload lengths, regions the
configuration has and lacks, READs too long for a reply, RESET flag bytes, bad frames from the
deframer), a payload buffer with one cycle of read latency, and a consumer that takes the
decoded request after a random wait (the element and the frame must hold still meanwhile)."""

import random

import pytest
from amaranth.sim import Simulator
from spikeloom.hdl.decode import Decoder
from spikeloom.proto import preset
from spikeloom.proto import protocol as P
from spikeloom.proto.memmap import layouts, region_words
from spikeloom.proto.protocol import Opcode, ResetFlags, Status


def model(cfg, status, opcode, length, head):
    """What the decoder answers: (link_error, status), and the region constants when the head's
    region byte names one of ``cfg``'s regions."""
    if status != Status.OK:
        return True, status
    lays = layouts(cfg)
    req = P.READ_REQ.unpack(head[:P.READ_REQ.size])
    lay = lays.get(req["region"])
    if opcode == Opcode.PING:
        return False, Status.OK
    if opcode in (Opcode.INFO, Opcode.STATUS):
        return False, Status.BAD_LENGTH if length else Status.OK
    if opcode == Opcode.RESET:
        if length != 1:
            return False, Status.BAD_LENGTH
        return False, Status.BAD_VALUE if head[0] & ~int(sum(ResetFlags)) else Status.OK
    if opcode == Opcode.READ:
        if length != P.READ_REQ.size:
            return False, Status.BAD_LENGTH
        if lay is None:
            return False, Status.BAD_REGION
        if req["count"] * lay.nbytes > P.MAX_PAYLOAD:
            return False, Status.BAD_LENGTH
        return False, Status.OK
    if opcode == Opcode.WRITE:
        if length < P.WRITE_REQ.size:
            return False, Status.BAD_LENGTH
        return False, Status.BAD_REGION if lay is None else Status.OK
    if opcode == Opcode.INJECT:
        return False, Status.BAD_LENGTH if length % 2 else Status.OK
    if opcode == Opcode.RUN:
        return False, Status.OK if length == P.RUN_REQ.size else Status.BAD_LENGTH
    return False, Status.BAD_OPCODE


def random_frame(rng, cfg):
    """(status, opcode, seq, length, buffer of MAX_PAYLOAD bytes)."""
    buf = bytearray(rng.randrange(256) for _ in range(P.MAX_PAYLOAD))
    status = rng.choice([Status.OK] * 8 + [Status.BAD_CRC, Status.BAD_FRAME])
    opcode = rng.choice([*Opcode, *Opcode, 0, 0x09, 0xFF, rng.randrange(256)])
    sizes = {Opcode.READ: P.READ_REQ.size, Opcode.RUN: P.RUN_REQ.size, Opcode.RESET: 1,
             Opcode.WRITE: P.WRITE_REQ.size + rng.randrange(20)}
    length = sizes.get(opcode, 0) if rng.random() < 0.6 else \
        rng.choice([0, 1, 2, 4, 7, 8, rng.randrange(513)])
    region = rng.choice([*layouts(cfg), 0xEE, rng.randrange(16), rng.randrange(256)])
    buf[0] = region
    if opcode == Opcode.RESET:
        buf[0] = rng.choice([0, 1, 2, 4, 7, rng.randrange(8, 256)])
    if rng.random() < 0.7:      # a count that fits a reply, mostly
        buf[5:7] = rng.randrange(0, 70).to_bytes(2, "little")
    return status, opcode, rng.randrange(256), length, bytes(buf)


@pytest.mark.parametrize(("name", "seed"), [("tiny", 0), ("tiny", 1), ("tiny_delay", 2),
                                            ("default", 3)])
def test_decoder_matches_model(name, seed):
    cfg = preset(name)
    rng = random.Random(seed)
    frames = [random_frame(rng, cfg) for _ in range(100)]
    dut = Decoder(cfg)
    buf = bytearray(P.MAX_PAYLOAD)
    results = []

    async def buffer(ctx):
        # the deframer's payload buffer: a registered read
        async for _, _, addr in ctx.tick().sample(dut.buf_addr):
            ctx.set(dut.buf_data, buf[addr])

    async def driver(ctx):
        for status, opcode, seq, length, data in frames:
            buf[:] = data
            f = dut.frame.payload
            ctx.set(f, {"status": status, "opcode": opcode, "seq": seq,
                        "length": length if status == Status.OK else rng.randrange(65536)})
            ctx.set(dut.frame.valid, 1)
            for _ in range(rng.choice([0, 1, 4])):
                await ctx.tick()
            await ctx.tick().until(dut.request.valid)
            seen = ctx.get(dut.request.payload)
            for _ in range(rng.choice([0, 1, 3])):      # the consumer takes its time
                assert not ctx.get(dut.frame.ready)
                await ctx.tick()
                assert ctx.get(dut.request.valid)
                assert ctx.get(dut.request.payload) == seen, "the request changed while waiting"
            ctx.set(dut.request.ready, 1)
            assert ctx.get(dut.frame.ready), "the frame is accepted with the request"
            results.append(seen)
            await ctx.tick()
            ctx.set(dut.request.ready, 0)
            ctx.set(dut.frame.valid, 0)
            assert not ctx.get(dut.request.valid)
            for _ in range(rng.choice([0, 2])):
                await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(buffer, background=True)
    sim.add_testbench(driver)
    sim.run()

    lays = layouts(cfg)
    checked = set()
    for (status, opcode, seq, length, data), got in zip(frames, results, strict=True):
        link_error, want = model(cfg, status, opcode, length, data)
        where = f"{name} seed {seed}: {Status(status).name} op 0x{opcode:02x} len {length}"
        assert (bool(got.link_error), Status(got.status)) == (link_error, want), where
        assert (got.opcode, got.seq) == (opcode, seq), where
        checked.add(want)
        if link_error:
            continue
        assert got.length == length, where
        assert got.head.as_value().value == int.from_bytes(data[:8], "little"), where
        lay = lays.get(data[0])
        if lay is not None:
            count = int.from_bytes(data[5:7], "little")
            assert (got.nbytes, got.words) == (lay.nbytes, region_words(cfg, data[0])), where
            assert got.read_len == count * lay.nbytes, where
            top_bits = lay.width - 8 * (lay.nbytes - 1)
            assert got.top_mask == (0xFF << top_bits) & 0xFF, where
    # the seeds reach every answer the decoder gives (BAD_ADDRESS is the walker's)
    assert checked >= {Status.OK, Status.BAD_LENGTH, Status.BAD_OPCODE, Status.BAD_REGION,
                       Status.BAD_CRC, Status.BAD_FRAME}, checked


def test_reset_flags_and_long_reads_are_refused():
    """The hand-picked corners: a RESET flag bit above ResetFlags, a READ of MAX_PAYLOAD bytes
    (fits) and of one word more (too long)."""
    cfg = preset("tiny")
    lays = layouts(cfg)
    region, lay = next((r, lay) for r, lay in lays.items() if lay.nbytes == 1)
    fits = P.MAX_PAYLOAD // lay.nbytes
    cases = [
        (Opcode.RESET, bytes([int(sum(ResetFlags))]), Status.OK),
        (Opcode.RESET, bytes([int(sum(ResetFlags)) + 1]), Status.BAD_VALUE),
        (Opcode.READ, P.READ_REQ.pack(region=region, addr=0, count=fits), Status.OK),
        (Opcode.READ, P.READ_REQ.pack(region=region, addr=0, count=fits + 1),
         Status.BAD_LENGTH),
        (Opcode.READ, P.READ_REQ.pack(region=0xEE, addr=0, count=fits + 1), Status.BAD_REGION),
    ]
    dut = Decoder(cfg)
    buf = bytearray(P.MAX_PAYLOAD)
    got = []

    async def buffer(ctx):
        async for _, _, addr in ctx.tick().sample(dut.buf_addr):
            ctx.set(dut.buf_data, buf[addr])

    async def driver(ctx):
        for opcode, payload, _ in cases:
            buf[:len(payload)] = payload
            ctx.set(dut.frame.payload, {"status": Status.OK, "opcode": opcode, "seq": 1,
                                        "length": len(payload)})
            ctx.set(dut.frame.valid, 1)
            ctx.set(dut.request.ready, 1)
            # (the element is taken at the edge where it is seen valid: drop the frame at once)
            await ctx.tick().until(dut.request.valid)
            got.append(Status(ctx.get(dut.request.payload.status)))
            ctx.set(dut.frame.valid, 0)
            ctx.set(dut.request.ready, 0)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(buffer, background=True)
    sim.add_testbench(driver)
    sim.run()
    assert got == [want for _, _, want in cases]
