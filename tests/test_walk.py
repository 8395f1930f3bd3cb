"""``hdl.walk.Walker`` at its own interface against a small Python model: seeded random READ,
WRITE and INJECT requests (as the decoder passes them: the region exists, the lengths fit) with
addresses past the region, partial and empty words, bits above a layout's width and input
indices out of range; a stand-in core memory that accepts requests and answers them after
random delays, and random back-pressure on the READ payload stream. The memory after each
request, the status and the READ bytes must be the model's."""

import random

import pytest
from amaranth.sim import Simulator
from spikeloom.hdl.walk import Walker
from spikeloom.proto import preset
from spikeloom.proto import protocol as P
from spikeloom.proto.memmap import Region, layouts, region_words
from spikeloom.proto.protocol import Opcode, Status


class Model:
    """The walker's contract in Python, over a dict of region -> list of words."""

    def __init__(self, cfg, mem):
        self.cfg, self.mem, self.lays = cfg, mem, layouts(cfg)

    def walk(self, opcode, payload):
        """(status, READ reply bytes); writes ``self.mem`` when OK."""
        if opcode == Opcode.INJECT:
            idx = [int.from_bytes(payload[k:k + 2], "little") for k in range(0, len(payload), 2)]
            if any(j >= self.cfg.n_inputs for j in idx):
                return Status.BAD_ADDRESS, b""
            for j in idx:
                self.mem[Region.SPIKES][j] = 1
            return Status.OK, b""
        req = P.READ_REQ.unpack(payload.ljust(P.READ_REQ.size, b"\0")[:P.READ_REQ.size])
        region, addr = Region(req["region"]), req["addr"]
        lay, words = self.lays[region], region_words(self.cfg, region)
        if opcode == Opcode.READ:
            if addr + req["count"] > words:
                return Status.BAD_ADDRESS, b""
            return Status.OK, b"".join(w.to_bytes(lay.nbytes, "little")
                                       for w in self.mem[region][addr:addr + req["count"]])
        body = payload[P.WRITE_REQ.size:]
        if not body or len(body) % lay.nbytes:
            return Status.BAD_LENGTH, b""
        new = [int.from_bytes(body[k:k + lay.nbytes], "little")
               for k in range(0, len(body), lay.nbytes)]
        if addr + len(new) > words:
            return Status.BAD_ADDRESS, b""
        if any(w >> lay.width for w in new):
            return Status.BAD_VALUE, b""
        self.mem[region][addr:addr + len(new)] = new
        return Status.OK, b""


def random_request(rng, cfg):
    """(opcode, payload) that passes the decoder's checks."""
    lays = layouts(cfg)
    region = rng.choice(list(lays))
    lay, words = lays[region], region_words(cfg, region)
    addr = rng.choice([0, rng.randrange(words), words - 1, words, words + rng.randrange(9),
                       rng.randrange(1 << 32)])
    opcode = rng.choice([Opcode.READ, Opcode.WRITE, Opcode.INJECT])
    if opcode == Opcode.READ:
        count = rng.choice([0, 1, 2, rng.randrange(P.MAX_PAYLOAD // lay.nbytes + 1)])
        return opcode, P.READ_REQ.pack(region=region, addr=addr % (1 << 32), count=count)
    if opcode == Opcode.INJECT:
        n = rng.randrange(0, 6)
        idx = [rng.choice([rng.randrange(cfg.n_inputs)] * 4 + [cfg.n_inputs,
                                                               rng.randrange(1 << 16)])
               for _ in range(n)]
        return opcode, b"".join(j.to_bytes(2, "little") for j in idx)
    n = rng.choice([0, 1, 2, rng.randrange(1, 8)])
    if addr > words and rng.random() < 0.5:
        addr = rng.randrange(words)
    data = bytearray()
    for _ in range(n):
        w = rng.randrange(1 << lay.width)
        if rng.random() < 0.1:      # bits above the layout width
            w |= 1 << (lay.width + rng.randrange(8 * lay.nbytes - lay.width)) \
                if 8 * lay.nbytes > lay.width else 0
        data += w.to_bytes(lay.nbytes, "little")
    if rng.random() < 0.1:          # a partial word
        data += bytes([rng.randrange(256)])
    return opcode, P.WRITE_REQ.pack(region=region, addr=addr) + bytes(data)


@pytest.mark.parametrize(("name", "seed"), [("tiny", 0), ("tiny", 1), ("tiny_delay", 2),
                                            ("narrow", 3)])
def test_walker_matches_model(name, seed):
    cfg = preset(name)
    rng = random.Random(seed)
    lays = layouts(cfg)
    mem = {r: [rng.randrange(1 << lay.width) for _ in range(region_words(cfg, r))]
           for r, lay in lays.items()}
    model = Model(cfg, {r: list(ws) for r, ws in mem.items()})
    requests = [random_request(rng, cfg) for _ in range(50)]
    dut = Walker(cfg)
    buf = bytearray(P.MAX_PAYLOAD)
    log = []

    async def buffer(ctx):
        async for _, _, addr in ctx.tick().sample(dut.buf_addr):
            ctx.set(dut.buf_data, buf[addr])

    async def memory(ctx):
        """The core's memory port: accepts a request after a random wait, answers it (a read
        with the word, a write with 0) after another, and holds the answer until taken. (One
        step per clock edge, from the values sampled at the edge.)"""
        state, wait, answer = "idle", rng.choice([0, 0, 1, 3]), 0
        async for _, _, q_valid, q_ready, q, r_valid, r_ready in ctx.tick().sample(
                dut.mem_req.valid, dut.mem_req.ready, dut.mem_req.payload,
                dut.mem_rsp.valid, dut.mem_rsp.ready):
            if state == "accept" and q_valid and q_ready:
                region = Region(q.region)
                if q.write:
                    mem[region][q.addr] = q.data
                    answer = 0
                else:
                    answer = mem[region][q.addr]
                ctx.set(dut.mem_req.ready, 0)
                state, wait = "delay", rng.choice([0, 1, 2])
            elif state == "answer" and r_valid and r_ready:
                ctx.set(dut.mem_rsp.valid, 0)
                state, wait = "idle", rng.choice([0, 0, 1, 3])
            if state == "idle" and q_valid:
                if wait == 0:
                    ctx.set(dut.mem_req.ready, 1)
                    state = "accept"
                wait -= 1
            elif state == "delay":
                if wait == 0:
                    ctx.set(dut.mem_rsp.payload, answer)
                    ctx.set(dut.mem_rsp.valid, 1)
                    state = "answer"
                wait -= 1

    async def reader(ctx):
        while True:
            ctx.set(dut.data.ready, rng.random() < 0.5)
            await ctx.tick()

    events = []

    async def monitor(ctx):
        async for _, _, done, status, valid, ready, byte in ctx.tick().sample(
                dut.done, dut.status, dut.data.valid, dut.data.ready, dut.data.payload):
            if done:
                events.append(Status(status))
            if valid and ready:
                events.append(byte)

    async def driver(ctx):
        for opcode, payload in requests:
            buf[:len(payload)] = payload
            head = payload[:8].ljust(8, b"\0")
            region = payload[0] if opcode != Opcode.INJECT else int(Region.SPIKES)
            lay = lays[Region(region)]
            top_bits = lay.width - 8 * (lay.nbytes - 1)
            ctx.set(dut.request, {
                "opcode": opcode, "length": len(payload), "nbytes": lay.nbytes,
                "words": region_words(cfg, region), "top_mask": (0xFF << top_bits) & 0xFF})
            ctx.set(dut.request.head.as_value(), int.from_bytes(head, "little"))
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            while ctx.get(dut.busy):
                await ctx.tick()
            await ctx.tick()        # (the monitor has seen every edge of the walk)
            statuses = [e for e in events if isinstance(e, Status)]
            data = bytes(e for e in events if not isinstance(e, Status))
            assert len(statuses) == 1, f"done {len(statuses)} times"
            assert events[0] is statuses[0], "payload bytes before done"
            events.clear()
            log.append((statuses[0], data, {r: list(ws) for r, ws in mem.items()}))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(buffer, background=True)
    sim.add_testbench(memory, background=True)
    sim.add_testbench(reader, background=True)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(driver)
    sim.run()

    seen = set()
    for (opcode, payload), (status, data, after) in zip(requests, log, strict=True):
        want, want_data = model.walk(opcode, payload)
        where = f"{name} seed {seed}: {opcode.name} {payload.hex()}"
        assert (status, data) == (want, want_data), where
        assert after == model.mem, where
        seen.add((opcode, want))
    # the seeds reach every outcome of every opcode
    for outcome in [(Opcode.READ, Status.OK), (Opcode.READ, Status.BAD_ADDRESS),
                    (Opcode.WRITE, Status.OK), (Opcode.WRITE, Status.BAD_ADDRESS),
                    (Opcode.WRITE, Status.BAD_LENGTH), (Opcode.INJECT, Status.OK),
                    (Opcode.INJECT, Status.BAD_ADDRESS)]:
        assert outcome in seen, (outcome, seen)
