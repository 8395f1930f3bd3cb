# amaranth: UnusedElaboratable=no
"""The link gateware against the protocol reference: framing blocks vs proto.protocol, and the
whole RTL top (UART pins, Amaranth simulator) vs the GoldenDevice, byte for byte."""

import os
import random

import pytest
from amaranth.sim import Simulator
from spikeloom.hdl import framing
from spikeloom.proto import preset
from spikeloom.proto import protocol as P
from spikeloom.proto.memmap import Region, layouts, region_words, regions
from spikeloom.proto.protocol import Frame, Opcode, Status
from spikeloom.sim.device import GoldenDevice
from spikeloom.sim.rtlsim import ModelCore, Transport, frame_bits

pytestmark = pytest.mark.rtl

# tiny core, UART divisor 4 (1 MHz clock, 250 kbaud): 40 cycles per byte
CFG = preset("tiny").replace(baud=250_000)
BUILD_ID = b"linktest"


def enc(op, seq=0, payload=b"", status=0):
    return P.encode_frame(Frame(int(op), seq, status, bytes(payload)))


def frames_of(data: bytes):
    """Readable decoding of device output for assertion messages."""
    return [(Opcode(f.opcode).name if f.opcode in Opcode._value2member_map_ else f.opcode,
             f.seq, Status(f.status).name if s == Status.OK else f"!{s.name}", f.payload.hex())
            for f, s in P.Deframer(1 << 16).feed(data)]


class Pair:
    """The RTL top and the golden device fed the same bytes."""

    def __init__(self, cfg=CFG, core=None):
        self.cfg = cfg
        core = core or os.environ.get("SPIKELOOM_LINK_CORE", "rtl")
        self.rtl = Transport(cfg, BUILD_ID, **({"core_factory": ModelCore} if core == "model"
                                                else {}))
        self.gold = GoldenDevice(cfg, BUILD_ID)

    def same(self, data: bytes, what="", max_cycles=400_000) -> bytes:
        got = self.rtl.exchange(data, max_cycles=max_cycles)
        want = self.gold.feed(data)
        assert got == want, (f"{what}\ninput {data.hex()}\nRTL    {frames_of(got)}\n"
                             f"golden {frames_of(want)}")
        return got


def replies(data: bytes):
    return [(f, s) for f, s in P.Deframer(1 << 16).feed(data)]


def only_reply(data: bytes) -> Frame:
    (frame, status), = replies(data)
    assert status == Status.OK
    return frame


# -- framing blocks vs proto.protocol -------------------------------------------------------------

def run_deframer(stream_bytes, max_payload):
    dut = framing.Deframer(max_payload)
    out = []
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    pending = list(stream_bytes)

    async def tb(ctx):
        # one loop drives the input and serves the output, so nothing dangles at the end
        taking = None
        idle = 0
        while idle < 3:
            f_valid = ctx.get(dut.frame.valid)
            if f_valid and taking is None:
                f = ctx.get(dut.frame.payload)
                payload = bytearray()
                if f.status == Status.OK:
                    for k in range(f.length):
                        ctx.set(dut.buf_addr, k)
                        await ctx.tick()
                        payload.append(ctx.get(dut.buf_data))
                out.append((int(f.status), f.opcode, f.seq, bytes(payload)))
                ctx.set(dut.frame.ready, 1)
                await ctx.tick()
                ctx.set(dut.frame.ready, 0)
                continue
            if pending:
                ctx.set(dut.rx.payload, pending[0])
                ctx.set(dut.rx.valid, 1)
                if ctx.get(dut.rx.ready):
                    pending.pop(0)
            else:
                ctx.set(dut.rx.valid, 0)
                idle += 1
            await ctx.tick()

    sim.add_testbench(tb)
    sim.run()
    return out


def ref_deframer(stream_bytes, max_payload):
    return [(int(s), f.opcode, f.seq, f.payload if s == Status.OK else b"")
            for f, s in P.Deframer(max_payload).feed(stream_bytes)]


def random_wire(rng, max_payload):
    """Good frames, junk, bad escapes, dangling escapes, overlong bodies, bad CRCs, mixed."""
    out = bytearray()
    for _ in range(rng.randrange(4, 12)):
        kind = rng.randrange(7)
        payload = bytes(rng.choice([0xC0, 0xDB, 0xDC, 0xDD, rng.randrange(256)])
                        for _ in range(rng.randrange(max_payload + 1)))
        frame = enc(rng.randrange(256), rng.randrange(256), payload)
        if kind == 0:
            out += frame
        elif kind == 1:
            out += bytes(rng.randrange(256) for _ in range(rng.randrange(20)))
        elif kind == 2:
            cut = rng.randrange(1, len(frame))
            out += frame[:cut] + rng.choice([b"\xc0", b"\xdb\xc0", b"\xdb\x00", b""])
        elif kind == 3:
            body = bytearray(frame[1:-1])
            body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
            out += b"\xc0" + body + b"\xc0"
        elif kind == 4:
            out += b"\xc0" + bytes(rng.randrange(0xC0) for _ in range(
                max_payload + 7 + rng.randrange(0, 4))) + b"\xc0"
        elif kind == 5:     # length field one more than the payload
            body = P.HEADER.pack(opcode=1, seq=2, status=0, length=len(payload) + 1) + payload
            out += b"\xc0" + _escape(body + P.crc16(body).to_bytes(2, "little")) + b"\xc0"
        else:
            out += b"\xc0\xc0" + frame
    return bytes(out)


def _escape(body: bytes) -> bytes:
    return body.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")


@pytest.mark.parametrize("seed", range(20))
def test_deframer_matches_protocol(seed):
    rng = random.Random(seed)
    max_payload = rng.choice([0, 3, 16, 40])
    data = random_wire(rng, max_payload)
    got, want = run_deframer(data, max_payload), ref_deframer(data, max_payload)
    assert got == want, f"seed {seed}"


def run_encoder(bodies):
    dut = framing.Encoder()
    got = bytearray()
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def tb(ctx):
        queue = [(b, i == len(body) - 1) for body in bodies for i, b in enumerate(body)]
        k = 0
        quiet = 0
        while quiet < 8:
            k += 1
            ready = k % 3 != 0     # backpressure every third cycle
            ctx.set(dut.tx.ready, ready)
            if queue:
                ctx.set(dut.body.payload, {"data": queue[0][0], "last": queue[0][1]})
            ctx.set(dut.body.valid, bool(queue))
            _, _, valid, byte, taken = await ctx.tick().sample(
                dut.tx.valid, dut.tx.payload, dut.body.ready)
            if valid and ready:
                got.append(byte)
            if taken and queue:
                queue.pop(0)
            quiet = quiet + 1 if not queue and not valid else 0

    sim.add_testbench(tb)
    sim.run()
    return bytes(got)


def test_encoder_matches_protocol():
    rng = random.Random(11)
    frames = [Frame(rng.randrange(256), rng.randrange(256), rng.randrange(8),
                    bytes(rng.choice([0xC0, 0xDB, rng.randrange(256)])
                          for _ in range(rng.randrange(12))))
              for _ in range(60)]
    # frames whose CRC bytes themselves need escaping
    for payload in range(4000):
        body = P.HEADER.pack(opcode=1, seq=0, status=0, length=2) + payload.to_bytes(2, "little")
        crc = P.crc16(body)
        if (crc & 0xFF) in (0xC0, 0xDB) or (crc >> 8) in (0xC0, 0xDB):
            frames.append(Frame(1, 0, 0, payload.to_bytes(2, "little")))
        if len(frames) > 70:
            break
    bodies = [P.body_of(f)[:-2] for f in frames]
    assert run_encoder(bodies) == b"".join(P.encode_frame(f) for f in frames)


def test_crc_step_matches_reference():
    from amaranth.hdl import Const
    rng = random.Random(5)
    for _ in range(20):
        crc, byte = rng.randrange(1 << 16), rng.randrange(256)
        got = _const_value(framing.crc16_next(Const(crc, 16), Const(byte, 8)))
        assert got == P.crc16(bytes([byte]), crc), (crc, byte)


def _const_value(expr):
    from amaranth.hdl import Module, Signal
    m = Module()
    s = Signal(len(expr))
    m.d.comb += s.eq(expr)
    result = {}
    sim = Simulator(m)

    async def tb(ctx):
        result["v"] = ctx.get(s)

    sim.add_testbench(tb)
    sim.run()
    return result["v"]


# -- the RTL top vs the golden device ------------------------------------------------------------

def test_top_converts_with_plain_pins():
    from amaranth.back import verilog
    from spikeloom.hdl.top import Top
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    text = verilog.convert(Top(CFG, BUILD_ID), name="spikeloom_top")
    head = text[text.index("module spikeloom_top("):]
    head = head[:head.index(");")]
    ports = sorted(p.strip() for p in head[head.index("(") + 1:].split(","))
    assert ports == ["clk", "leds", "rst", "uart_rx", "uart_tx"]


def test_basic_requests():
    pair = Pair()
    pair.same(enc(Opcode.PING, 1, b"hello \xc0\xdb world"), "PING")
    info = only_reply(pair.same(enc(Opcode.INFO, 2), "INFO"))
    assert P.INFO.unpack(info.payload)["config_hash"] == CFG.hash()
    build = P.INFO.offset("build_id")
    assert info.payload[build:build + len(BUILD_ID)] == BUILD_ID
    pair.same(enc(Opcode.STATUS, 3), "STATUS")
    pair.same(enc(Opcode.PING, 4, bytes(range(256)) * 2), "PING max payload")
    pair.same(b"\xc0\xc0\xc0", "empty bodies are ignored")
    pair.same(enc(Opcode.PING, 5) + enc(Opcode.INFO, 6) + enc(Opcode.STATUS, 7), "pipelined")


def neuron_params(cfg, rng):
    lay = layouts(cfg)[Region.NEURON_PARAMS]
    words = []
    for _ in range(cfg.n_neurons):
        words.append(lay.pack({
            "threshold": rng.randrange(200, 900), "v_reset": rng.randrange(-50, 50),
            "bias": rng.randrange(-5, 40), "refractory": rng.randrange(0, 3),
            "alpha_mem": rng.randrange(3000, 4097), "alpha_syn": rng.randrange(2000, 4097),
            "reset_subtract": rng.randrange(2)}))
    return lay, words


def write_req(cfg, region, addr, words):
    lay = layouts(cfg)[region]
    return P.WRITE_REQ.pack(region=region, addr=addr) + b"".join(lay.to_bytes(w) for w in words)


def read_req(region, addr, count):
    return P.READ_REQ.pack(region=region, addr=addr, count=count)


@pytest.mark.parametrize("core", ["rtl", pytest.param("model", marks=pytest.mark.regress)])
def test_session_network_run_stdp_reset(core):
    """Load a network with WRITEs, INJECT + RUN with STDP, read everything back, RESET, STATUS.
    ``core="model"`` puts the golden model behind the Core interface (rtlsim.ModelCore): it
    isolates the link gateware from the RTL core."""
    cfg, rng = CFG, random.Random(2024)
    pair = Pair(core=core)
    seq = iter(range(1, 256))

    def same(op, payload=b"", what=""):
        return pair.same(enc(op, next(seq), payload), what or Opcode(op).name)

    _, words = neuron_params(cfg, rng)
    same(Opcode.WRITE, write_req(cfg, Region.NEURON_PARAMS, 0, words))
    wlay = layouts(cfg)[Region.WEIGHTS]
    wwords = [wlay.pack({f.name: rng.randrange(-100, 127) for f in wlay.fields})
              for _ in range(cfg.weight_words)]
    same(Opcode.WRITE, write_req(cfg, Region.WEIGHTS, 0, wwords))
    play = layouts(cfg)[Region.PLASTIC]
    same(Opcode.WRITE, write_req(cfg, Region.PLASTIC, 0,
                                 [rng.randrange(1 << play.width)
                                  for _ in range(cfg.weight_words)]))
    slay = layouts(cfg)[Region.STDP_PARAMS]
    same(Opcode.WRITE, write_req(cfg, Region.STDP_PARAMS, 0, [slay.pack({
        "enable": 1, "a_plus": 300, "a_minus": 200, "pre_jump": 60, "post_jump": 50,
        "alpha_pre": 3500, "alpha_post": 3300, "w_min": -90, "w_max": 120})]))
    for region in regions(cfg):
        n = region_words(cfg, region)
        same(Opcode.READ, read_req(region, 0, n), f"read back {region.name}")
    for t in range(6):
        same(Opcode.INJECT, b"".join(j.to_bytes(2, "little")
                                     for j in rng.sample(range(cfg.n_inputs), rng.randrange(4))))
        same(Opcode.RUN, P.RUN_REQ.pack(ticks=rng.randrange(1, 5), period=0), f"RUN {t}")
    same(Opcode.RUN, P.RUN_REQ.pack(ticks=3, period=5), "RUN with overruns")
    same(Opcode.RUN, P.RUN_REQ.pack(ticks=2, period=100_000 // 100), "RUN with a long period")
    same(Opcode.RUN, P.RUN_REQ.pack(ticks=0, period=0), "RUN 0 ticks")
    same(Opcode.STATUS)
    for region in (Region.WEIGHTS, Region.NEURON_STATE, Region.PRE_TRACE, Region.POST_TRACE,
                   Region.SPIKES):
        same(Opcode.READ, read_req(region, 0, region_words(cfg, region)), f"after STDP {region}")
    same(Opcode.READ, read_req(Region.WEIGHTS, 3, 5), "partial read")
    same(Opcode.READ, read_req(Region.WEIGHTS, 3, 0), "empty read")
    same(Opcode.RESET, b"\x01")
    same(Opcode.READ, read_req(Region.NEURON_STATE, 0, cfg.n_neurons), "after RESET(STATE)")
    same(Opcode.RESET, b"\x04")
    same(Opcode.STATUS, what="after RESET(COUNTERS)")
    same(Opcode.RESET, b"\x02")
    same(Opcode.READ, read_req(Region.WEIGHTS, 0, 10), "after RESET(CONFIG)")
    same(Opcode.RESET, b"\x07")
    same(Opcode.RESET, b"\x00")
    same(Opcode.STATUS)


def spike_ticks(cfg, out):
    """Per-tick fired lists from the SPIKES events in ``out``, checking that they tile the
    ticks."""
    ticks = []
    for f, _ in replies(out):
        if f.opcode == Opcode.SPIKES:
            first, covered, pairs = P.parse_spikes(f.payload, cfg.n_neurons)
            assert not ticks or first == ticks[0][0] + len(ticks)
            ticks += [(first, [j for t, j in pairs if t == k]) for k in range(covered)]
    return [fired for _, fired in ticks]


def test_spike_frames_gaps_and_bitmap():
    """Ticks with no spike, one spike (a slot gap) and many spikes (a bitmap), 24 neurons; RUN 1
    (closed loop: its tick's event before the reply); a batch closed when full."""
    cfg = CFG.replace(n_neurons=24)
    pair = Pair(cfg)
    lay = layouts(cfg)[Region.NEURON_PARAMS]
    # no decay, bias j*j+1, threshold 1000: neuron 23 fires alone at tick 1, 19..22 at tick 2
    words = [lay.pack({"threshold": 1000, "v_reset": 0, "bias": j * j + 1, "refractory": 0,
                       "alpha_mem": 4096, "alpha_syn": 4096, "reset_subtract": 0})
             for j in range(cfg.n_neurons)]
    pair.same(enc(Opcode.WRITE, 1, write_req(cfg, Region.NEURON_PARAMS, 0, words)))
    out = pair.same(enc(Opcode.RUN, 2, P.RUN_REQ.pack(ticks=8, period=0)), "RUN 8")
    assert [f.opcode for f, _ in replies(out)] == [Opcode.SPIKES, Opcode.RUN]
    assert spike_ticks(cfg, out)[:3] == [[], [23], [19, 20, 21, 22]]
    assert P.BITMAP_MARK in replies(out)[0][0].payload
    for k in range(3):                                  # closed-loop stepping
        out = pair.same(enc(Opcode.RUN, 3 + k, P.RUN_REQ.pack(ticks=1, period=0)), "RUN 1")
        assert [f.opcode for f, _ in replies(out)] == [Opcode.SPIKES, Opcode.RUN]
    # every neuron fires every tick (threshold 0): bitmaps until the batch is full
    words = [lay.pack({"threshold": 0}) for _ in range(cfg.n_neurons)]
    pair.same(enc(Opcode.WRITE, 6, write_req(cfg, Region.NEURON_PARAMS, 0, words)))
    out = pair.same(enc(Opcode.RUN, 7, P.RUN_REQ.pack(ticks=120, period=0)), "RUN 120 dense",
                    max_cycles=1_500_000)
    assert [f.opcode for f, _ in replies(out)] == [Opcode.SPIKES] * 2 + [Opcode.RUN]
    assert spike_ticks(cfg, out) == [list(range(cfg.n_neurons))] * 120


def test_spike_keepalive_on_rtl():
    """A silent RUN longer than KEEPALIVE_TICKS: one empty event per KEEPALIVE_TICKS ticks."""
    pair = Pair()
    lay = layouts(CFG)[Region.NEURON_PARAMS]
    words = [lay.pack({"threshold": 1000}) for _ in range(CFG.n_neurons)]
    pair.same(enc(Opcode.WRITE, 1, write_req(CFG, Region.NEURON_PARAMS, 0, words)))
    k = P.KEEPALIVE_TICKS
    out = pair.same(enc(Opcode.RUN, 2, P.RUN_REQ.pack(ticks=k + 2, period=0)), "silent RUN",
                    max_cycles=1_500_000)
    heads = [P.SPIKES_HEAD.unpack(f.payload) for f, _ in replies(out)
             if f.opcode == Opcode.SPIKES]
    assert heads == [{"tick": 0, "ticks": k}, {"tick": k, "ticks": 2}]


# -- corrupted and random streams, each followed by a good frame ----------------------------------

def bad_stream(cfg, rng):
    """One corrupted or refused request (or garbage); never a state-changing good request."""
    kind = rng.randrange(14)
    seq = rng.randrange(256)
    if kind == 0:       # random bytes, often containing END/ESC
        return bytes(rng.choice([0xC0, 0xDB, 0xDC, 0xDD] + [rng.randrange(256)] * 4)
                     for _ in range(rng.randrange(1, 30)))
    if kind == 1:       # truncated frame, then maybe junk
        frame = enc(rng.choice(list(Opcode)), seq, bytes(rng.randrange(256) for _ in range(8)))
        return frame[:rng.randrange(1, len(frame) - 1)] + rng.choice([b"", b"\xc0", b"\xdb"])
    if kind == 2:       # bad CRC
        body = bytearray(P.body_of(Frame(Opcode.PING, seq, 0, bytes(rng.randrange(256)
                                                                   for _ in range(6)))))
        body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
        return b"\xc0" + _escape(bytes(body)) + b"\xc0"
    if kind == 3:       # overlong body (rare: it costs 520+ bytes of UART time)
        if rng.random() < 0.15:
            return b"\xc0" + bytes(rng.randrange(0xC0) for _ in range(520 + rng.randrange(3)))\
                + b"\xc0"
        return b"\xc0\x01\x02\x03\xc0"
    if kind == 4:       # length field disagrees with the body
        payload = bytes(rng.randrange(256) for _ in range(rng.randrange(6)))
        hdr = P.HEADER.pack(opcode=Opcode.PING, seq=seq, status=0,
                            length=(len(payload) + rng.choice([1, -1, 300])) % 65536)
        body = hdr + payload
        return b"\xc0" + _escape(body + P.crc16(body).to_bytes(2, "little")) + b"\xc0"
    if kind == 5:       # unknown opcodes, including SPIKES from the host
        return enc(rng.choice([0, 9, 0x1F, 0x20, 0x21, 0xFF, rng.randrange(256)]), seq,
                   bytes(rng.randrange(4)))
    if kind == 6:       # READ refused: bad region, too long, out of range, wrong size
        region = int(rng.choice(regions(cfg)))     # a region this configuration has
        n = region_words(cfg, Region(region))
        return enc(Opcode.READ, seq, rng.choice([
            read_req(rng.randrange(8, 256), 0, 1),
            read_req(region, 0, 600),
            read_req(region, n - rng.randrange(0, 2), 2),
            read_req(region, rng.randrange(n, 1 << 32), 1),
            read_req(region, 0, 1)[:rng.randrange(7)],
            read_req(region, 0, 1) + b"\x00",
        ]))
    if kind == 7:       # WRITE refused
        region = rng.choice(regions(cfg))
        lay = layouts(cfg)[region]
        n = region_words(cfg, region)
        good = write_req(cfg, region, 0, [0])
        choices = [
            good[:rng.randrange(5)],                                          # < 5 bytes
            P.WRITE_REQ.pack(region=rng.randrange(8, 256), addr=0) + b"\x00",   # region
            P.WRITE_REQ.pack(region=region, addr=0),                            # no words
            write_req(cfg, region, n, [0]),                                     # address
            write_req(cfg, region, n - 1, [0, 0]) if n > 1 else good[:4],
            write_req(cfg, region, 0, [1 << lay.width]) if lay.width % 8 else good[:3],
            P.WRITE_REQ.pack(region=region, addr=0) + bytes([0xFF] * lay.nbytes)
            if lay.width % 8 else good[:2],
        ]
        if lay.nbytes > 1:
            choices.append(good + b"\x00")                                      # partial word
        return enc(Opcode.WRITE, seq, rng.choice(choices))
    if kind == 8:       # INJECT refused
        return enc(Opcode.INJECT, seq, rng.choice([
            b"\x00", b"\x00\x00\x01",
            (cfg.n_inputs + rng.randrange(100)).to_bytes(2, "little"),
            b"\x00\x00" + (0xFFFF).to_bytes(2, "little"),
        ]))
    if kind == 9:       # RESET refused
        return enc(Opcode.RESET, seq, rng.choice([b"", b"\x00\x00", bytes([8 | rng.randrange(
            256)])]))
    if kind == 10:      # RUN / INFO / STATUS refused
        return rng.choice([enc(Opcode.RUN, seq, bytes(rng.randrange(8))),
                           enc(Opcode.RUN, seq, bytes(9)),
                           enc(Opcode.INFO, seq, b"\x00"),
                           enc(Opcode.STATUS, seq, bytes(rng.randrange(1, 4)))])
    if kind == 11:      # bad escapes
        return b"\xc0\x01\x02" + rng.choice([b"\xdb\x00", b"\xdb\xdb", b"\xdb"]) + b"\x03\xc0"
    if kind == 12:      # a good frame with the leading END missing after junk
        return bytes(rng.randrange(0xC0) for _ in range(rng.randrange(1, 5))) + enc(
            Opcode.PING, seq, b"x")[1:]
    # random-length status byte and seq in an otherwise good PING (status is ignored)
    return enc(Opcode.PING, seq, bytes(rng.randrange(256) for _ in range(rng.randrange(10))),
               status=rng.randrange(256))


def good_frame(cfg, rng):
    """A request that must succeed; cheap on the wire (most replies are short)."""
    seq = rng.randrange(256)
    kind = rng.randrange(12)
    if kind < 6:
        return enc(Opcode.PING, seq, bytes(rng.randrange(256) for _ in range(rng.randrange(8))))
    if kind < 8:
        return enc(Opcode.STATUS, seq)
    if kind < 11:
        region = rng.choice(regions(cfg))
        n = region_words(cfg, region)
        addr = rng.randrange(n)
        return enc(Opcode.READ, seq, read_req(region, addr, rng.randrange(0, min(2, n - addr) + 1)))
    return enc(Opcode.INFO, seq)


def run_streams(seed: int, count: int, core: str):
    """``count`` corrupted streams, each followed by a good frame, through one device; the
    assertion names the seed and the stream (rerun the same seed and count to reproduce)."""
    rng = random.Random(seed)
    pair = Pair(core=core)
    # a loaded network so that READs return something
    _, words = neuron_params(CFG, random.Random(seed))
    pair.same(enc(Opcode.WRITE, 1, write_req(CFG, Region.NEURON_PARAMS, 0, words)))
    for k in range(count):
        junk = b"".join(bad_stream(CFG, rng) for _ in range(rng.randrange(1, 3)))
        good = good_frame(CFG, rng)
        where = f"seed {seed} stream {k} core {core}"
        out = pair.same(junk + good, where)
        *_, (last, status) = replies(out)
        good_req, = [f for f, _ in P.Deframer().feed(good)]
        assert status == Status.OK and last.status == Status.OK, where
        assert (last.opcode, last.seq) == (good_req.opcode, good_req.seq), where


def test_corrupted_streams_model_core():
    """200 streams with the golden model behind the Core interface: the link alone (fast)."""
    run_streams(seed=1, count=200, core="model")


def test_corrupted_streams_rtl_core():
    """The same kind of streams through the complete RTL top (link and RTL core)."""
    run_streams(seed=2, count=40, core="rtl")


@pytest.mark.regress
@pytest.mark.parametrize("core", ["rtl", "model"])
def test_corrupted_streams_regress(core):
    for seed in range(100, 100 + int(os.environ.get("SPIKELOOM_SEEDS", "10"))):
        run_streams(seed=seed, count=250, core=core)


# -- UART-level errors: counted by the RTL only (the golden device never sees them) -------------

def status_of(out: bytes) -> dict:
    frame = only_reply(out)
    return P.STATUS.unpack(frame.payload)


def test_uart_errors_counted_and_link_recovers():
    pair = Pair(core="model")
    rtl = pair.rtl
    # a framing error, one idle bit, then a break of four characters: two errors (the line must
    # go high again before another error can count)
    rtl.write_line(frame_bits(0x55, stop=0) + [1] + [0] * 40)
    pair.same(enc(Opcode.PING, 1, b"still here"), "PING after UART errors")
    got = status_of(rtl.exchange(enc(Opcode.STATUS, 2)))
    want = status_of(pair.gold.feed(enc(Opcode.STATUS, 2)))
    assert got["uart_errors"] == 2
    assert {**got, "uart_errors": 0} == want
    pair.same(enc(Opcode.RESET, 3, b"\x04"))
    pair.same(enc(Opcode.STATUS, 4), "RESET(COUNTERS) clears uart_errors")


def test_rx_overflow_counted_while_busy():
    """Requests sent while a long RUN executes wait in the RX buffer; what does not fit is
    dropped and counted, the damaged frame fails its CRC, and the link recovers."""
    pair = Pair(core="model")
    rtl = pair.rtl
    ticks, period = 3, 30_000     # busy for 2 periods (60k cycles = 1500 byte times)
    run = enc(Opcode.RUN, 1, P.RUN_REQ.pack(ticks=ticks, period=period))
    flood = b"".join(enc(Opcode.PING, 2 + k, bytes([0x41 + k]) * 350) for k in range(3))
    out = rtl.exchange(run + flood)
    # the last frame lost its tail (and its END): the next request's leading END closes it
    *before, (status_frame, ok) = replies(rtl.exchange(enc(Opcode.STATUS, 9)))
    assert [(f.opcode, f.seq, f.status) for f, _ in before] == [(Opcode.PING, 4, Status.BAD_CRC)]
    assert (status_frame.opcode, status_frame.status, ok) == (Opcode.STATUS, Status.OK, Status.OK)
    stat = P.STATUS.unpack(status_frame.payload)
    held = P.RX_BUFFER + 1          # the FIFO plus the receiver's output register
    assert stat["rx_overflows"] == len(flood) - held
    assert stat["crc_errors"] == 1
    # the RUN itself was answered in full, and every frame that survived intact was answered
    kinds = [(f.opcode, f.status) for f, _ in replies(out)]
    assert kinds[:2] == [(Opcode.SPIKES, Status.OK), (Opcode.RUN, Status.OK)]  # one batch
    assert P.SPIKES_HEAD.unpack(replies(out)[0][0].payload)["ticks"] == ticks
    assert kinds[2:] == [(Opcode.PING, Status.OK)] * 2    # the two frames that fit
    pair.gold.feed(run)
    assert only_reply(rtl.exchange(enc(Opcode.PING, 10, b"ok"))).payload == b"ok"


def test_run_period_spaces_ticks():
    """With a period, tick k+1 starts ``period`` cycles after tick k: a RUN of 4 ticks takes at
    least 3 periods; the same RUN flat out is much faster. Both give the golden bytes."""
    pair = Pair(core="model")
    period = 4000
    start = pair.rtl.cycles
    pair.same(enc(Opcode.RUN, 1, P.RUN_REQ.pack(ticks=4, period=period)), "RUN with period")
    paced = pair.rtl.cycles - start
    start = pair.rtl.cycles
    pair.same(enc(Opcode.RUN, 2, P.RUN_REQ.pack(ticks=4, period=0)), "RUN flat out")
    flat = pair.rtl.cycles - start
    assert 3 * period <= paced < 3 * period + flat
    assert flat < 2 * period


# -- the abort (docs/protocol.md, "Abort") -----------------------------------------------

def _spikes_sent(transport) -> int:
    """Ticks covered by the SPIKES events sent so far."""
    return sum(P.SPIKES_HEAD.unpack(f.payload)["ticks"]
               for f, _ in replies(bytes(transport.monitor.data)) if f.opcode == Opcode.SPIKES)


def _abort_after(pair, head: bytes, tail: bytes, events: int, what: str):
    """Send ``head`` (it starts a RUN); once the RTL's SPIKES events cover ``events`` ticks send
    ``tail`` (it holds the abort token). The golden device is given the same bytes and runs the
    k ticks the RTL's first RUN reply says it ran before ``tail`` arrives: the outputs must be
    equal byte for byte. Returns k."""
    rtl = pair.rtl
    rtl.write(head)
    limit = rtl.cycles + 2_000_000
    while _spikes_sent(rtl) < events:
        rtl.sim.advance()
        assert rtl.cycles < limit, what
    rtl.write(tail)
    got = rtl.exchange(b"", max_cycles=2_000_000)
    run = next(f for f, _ in replies(got) if f.opcode == Opcode.RUN)
    k = P.RUN_REPLY.unpack(run.payload)["ticks"]
    gold = pair.gold
    gold.write(head)
    want = gold.read(max_ticks=k)
    gold.write(tail)
    want += gold.read()
    assert got == want, (f"{what} (k={k})\nRTL    {frames_of(got)}\ngolden {frames_of(want)}")
    return k


@pytest.mark.parametrize("core", ["rtl", "model"])
def test_abort_matches_golden(core):
    """A RUN of a lively network aborted mid-run (paced and flat out), a second RUN and a PING
    queued behind it and a request after the token: RTL and golden device agree byte for byte,
    with k taken from the RTL's RUN reply; STATUS agrees after."""
    cfg, rng = CFG, random.Random(77)
    pair = Pair(core=core)
    _, words = neuron_params(cfg, rng)
    pair.same(enc(Opcode.WRITE, 1, write_req(cfg, Region.NEURON_PARAMS, 0, words)))
    wlay = layouts(cfg)[Region.WEIGHTS]
    pair.same(enc(Opcode.WRITE, 2, write_req(cfg, Region.WEIGHTS, 0, [
        wlay.pack({f.name: rng.randrange(-60, 127) for f in wlay.fields})
        for _ in range(cfg.weight_words)])))
    pair.same(enc(Opcode.INJECT, 3, b"\x01\x00\x02\x00"))
    for seq, period in ((4, 300), (5, 0)):
        run = enc(Opcode.RUN, seq, P.RUN_REQ.pack(ticks=1_000_000, period=period))
        k = _abort_after(pair, run, P.ABORT + enc(Opcode.PING, 9, b"after"), 3,
                         f"abort, period {period}")
        assert 3 <= k < 1_000_000
    run = enc(Opcode.RUN, 6, P.RUN_REQ.pack(ticks=1_000_000, period=500))
    queued = enc(Opcode.RUN, 7, P.RUN_REQ.pack(ticks=5, period=0)) + enc(Opcode.PING, 8, b"q")
    _abort_after(pair, run, queued + P.ABORT + enc(Opcode.STATUS, 10), 2,
                 "a RUN queued behind an aborted one runs no tick")
    pair.same(enc(Opcode.STATUS, 11), "STATUS after the aborts")
    # a token cutting a frame short: nothing for it, the next frame is answered
    pair.same(enc(Opcode.PING, 12, b"cut")[:5] + P.ABORT + enc(Opcode.PING, 13, b"ok"),
              "partial frame + token")
