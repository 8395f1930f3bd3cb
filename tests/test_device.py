"""sim.device.GoldenDevice: scripted sessions against the golden model, every error status, and
hypothesis fuzzing of the byte stream against an independent framing oracle.

The fuzz oracle: an input stream is split at END bytes and every nonempty body is classified by
:func:`classify` (a second, non-streaming implementation of the framing rules written here). The
device under test (A) gets the whole stream, cut into random pieces. A reference device (B) gets
only the well-formed frames, re-encoded, with its error counters driven by the oracle. A's output
must equal the concatenation of the expected error replies and B's outputs, and at the end A's
model and counters must equal B's: so garbage changed nothing but the counters, every nonempty
body got exactly one reply, and the frames after the garbage worked.
"""

import copy
import dataclasses
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spikeloom.proto import preset
from spikeloom.proto import protocol as P
from spikeloom.proto.memmap import Region, layouts, region_words, regions
from spikeloom.proto.protocol import END, ESC, ESC_END, ESC_ESC, Frame, Opcode, ResetFlags, Status
from spikeloom.sim.device import GoldenDevice
from spikeloom.sim.model import Core

TINY = preset("tiny")
U16 = 0xFFFF


# -- helpers ---------------------------------------------------------------------------------------

def wire(op, seq=0, payload=b"", status=0) -> bytes:
    return P.encode_frame(Frame(int(op), seq, status, bytes(payload)))


def frames_of(out: bytes) -> list[Frame]:
    """Every frame the device sent (device output is always well formed)."""
    got = P.Deframer(max_payload=1 << 16).feed(out)
    assert all(s == Status.OK for _, s in got), got
    return [f for f, _ in got]


def ask(dev, op, seq=0, payload=b"") -> Frame:
    """Send one request; return its only frame (the reply)."""
    fs = frames_of(dev.feed(wire(op, seq, payload)))
    assert len(fs) == 1, fs
    return fs[0]


def ok(dev, op, seq=0, payload=b"") -> bytes:
    r = ask(dev, op, seq, payload)
    assert (r.opcode, r.seq, r.status) == (op, seq, Status.OK), r
    return r.payload


def snapshot(dev) -> tuple:
    """Everything a request could change: the model's arrays and the counters."""
    c = dev.core
    arrays = [getattr(c.params, f.name).copy() for f in dataclasses.fields(c.params)]
    arrays += [getattr(c.state, f.name).copy() for f in dataclasses.fields(c.state)]
    arrays += [c.weights.copy(), c.plastic.copy()]
    return arrays, dataclasses.astuple(c.stdp), dataclasses.astuple(dev.counters)


def same(a, b) -> bool:
    return (len(a[0]) == len(b[0])
            and all(np.array_equal(x, y) for x, y in zip(a[0], b[0], strict=True))
            and a[1:] == b[1:])


def random_network(cfg, rng):
    """Random but lively parameters, every value inside its field."""
    lay = layouts(cfg)
    n, s = cfg.n_neurons, cfg.n_sources
    wlo, whi = -(1 << (cfg.w_width - 1)), (1 << (cfg.w_width - 1)) - 1
    one = 1 << cfg.decay_frac
    tmax = (1 << cfg.trace_width) - 1
    params = {
        "threshold": rng.integers(5, 3 * whi, n), "v_reset": rng.integers(-20, 5, n),
        "bias": rng.integers(-3, 6, n), "refractory": rng.integers(0, 4, n),
        "alpha_mem": rng.integers(one * 3 // 4, one + 1, n), "alpha_syn": rng.integers(0, one, n),
        "reset_subtract": rng.integers(0, 2, n)}
    weights = rng.integers(wlo, whi + 1, (s, n))
    plastic = rng.random((s, n)) < 0.6
    stdp = {"enable": 1, "a_plus": int(rng.integers(0, 400)), "a_minus": int(rng.integers(0, 400)),
            "pre_jump": int(rng.integers(1, tmax + 1)), "post_jump": int(rng.integers(1, tmax + 1)),
            "alpha_pre": int(rng.integers(one // 2, one)),
            "alpha_post": int(rng.integers(one // 2, one)),
            "w_min": int(rng.integers(wlo, 0)), "w_max": int(rng.integers(1, whi + 1))}
    assert lay[Region.STDP_PARAMS].pack(stdp) >= 0
    return params, weights, plastic, stdp


def weight_words(cfg, mat, region):
    lay, wpw, n = layouts(cfg)[region], cfg.weights_per_word, cfg.n_neurons
    pre = {Region.WEIGHTS: "w", Region.PLASTIC: "p", Region.DELAYS: "d"}[region]
    words = []
    for row in range(cfg.n_sources):
        for w in range(cfg.words_per_row):
            words.append(lay.pack({f"{pre}{k}": int(mat[row, w * wpw + k])
                                   for k in range(wpw) if w * wpw + k < n}))
    return words


def write_region(dev, region, words, seq=1):
    lay = layouts(dev.cfg)[region]
    per = (P.MAX_PAYLOAD - P.WRITE_REQ.size) // lay.nbytes
    for a in range(0, len(words), per):
        chunk = words[a:a + per]
        ok(dev, Opcode.WRITE, seq, P.WRITE_REQ.pack(region=region, addr=a)
           + b"".join(lay.to_bytes(w) for w in chunk))


def read_region(dev, region, seq=2) -> list[int]:
    lay = layouts(dev.cfg)[region]
    total, per, out = region_words(dev.cfg, region), P.MAX_PAYLOAD // lay.nbytes, []
    for a in range(0, total, per):
        cnt = min(per, total - a)
        data = ok(dev, Opcode.READ, seq, P.READ_REQ.pack(region=region, addr=a, count=cnt))
        assert len(data) == cnt * lay.nbytes
        out += [lay.from_bytes(data[k:k + lay.nbytes]) for k in range(0, len(data), lay.nbytes)]
    return out


def load(dev, net):
    params, weights, plastic, stdp = net
    cfg, lay = dev.cfg, layouts(dev.cfg)
    write_region(dev, Region.NEURON_PARAMS, [
        lay[Region.NEURON_PARAMS].pack({k: v[j] for k, v in params.items()})
        for j in range(cfg.n_neurons)])
    write_region(dev, Region.WEIGHTS, weight_words(cfg, weights, Region.WEIGHTS))
    write_region(dev, Region.PLASTIC, weight_words(cfg, plastic, Region.PLASTIC))
    write_region(dev, Region.STDP_PARAMS, [lay[Region.STDP_PARAMS].pack(stdp)])


def reference_core(cfg, net) -> Core:
    params, weights, plastic, stdp = net
    core = Core(cfg)
    for k, v in params.items():
        getattr(core.params, k)[:] = v
    core.weights[:] = weights
    core.plastic[:] = plastic
    core.stdp = type(core.stdp)(**stdp)
    core.check()
    return core


def cycles_module():
    from spikeloom.proto import cycles  # missing module = failing test, on purpose
    return cycles


# -- scripted sessions -----------------------------------------------------------------------------

def test_spram_cycle_model_and_bad_store():
    cfg = TINY
    dev = GoldenDevice(cfg, weight_store="spram")
    ok(dev, Opcode.WRITE, 0, P.WRITE_REQ.pack(region=Region.STDP_PARAMS, addr=0)
       + layouts(cfg)[Region.STDP_PARAMS].to_bytes(1))           # STDP enabled
    ok(dev, Opcode.INJECT, 0, b"\0\0")
    dev.feed(wire(Opcode.RUN, 0, P.RUN_REQ.pack(ticks=2)))     # every neuron fires (thr 0)
    got = P.STATUS.unpack(ok(dev, Opcode.STATUS))["last_tick_cycles"]
    n = cfg.n_neurons      # tick 1 delivers the n neurons that fired in tick 0 and all fire again
    cyc = cycles_module().tick_cycles
    # no plastic synapse: no source is listed for potentiation
    assert got == cyc(cfg, n, n, True, weight_store="spram", listed=0, words=0,
                      plastic_delivered=0)
    with pytest.raises(ValueError):
        GoldenDevice(cfg, weight_store="sram")


def test_info_ping_and_build_id():
    dev = GoldenDevice(preset("default"), build_id=b"ABCDEFGH")
    info = P.INFO.unpack(ok(dev, Opcode.INFO, 5))
    cfg = preset("default")
    assert info["version"] == P.VERSION and info["config_hash"] == cfg.hash()
    assert (info["n_neurons"], info["n_inputs"], info["weights_per_word"]) == (128, 64, 4)
    assert (info["clock_hz"], info["baud"], info["max_payload"]) == (12_000_000, 1_000_000, 512)
    build = P.INFO.offset("build_id")
    assert ok(dev, Opcode.INFO)[build:build + 8] == b"ABCDEFGH"
    for payload in (b"", b"\xc0\xdb\xc0", bytes(range(256)) * 2):
        assert ok(dev, Opcode.PING, 200, payload) == payload
    with pytest.raises(ValueError):
        GoldenDevice(cfg, build_id=b"short")


def test_example_session_in_docs_is_what_the_device_sends():
    """docs/protocol.md section 10 shows real device bytes: replay it."""
    import pathlib
    import re
    text = (pathlib.Path(__file__).resolve().parent.parent / "docs/protocol.md").read_text()
    block = text.split("## 10.")[1].split("```")[1]
    dev = GoldenDevice(preset("default"))
    pending, expect, n = None, b"", 0
    lines = re.findall(r"^([<>]) (.*(?:\n  .*)*)", block, re.M)
    for kind, hexes in lines + [(">", "")]:
        data = bytes.fromhex(hexes.replace("\n", " "))
        if kind == ">":
            if pending is not None:
                assert dev.feed(pending) == expect, pending.hex(" ")
                n += 1
            pending, expect = data, b""
        else:
            expect += data
    assert n >= 8


@pytest.mark.parametrize("name,seed", [("tiny", 1), ("narrow", 2), ("tiny", 3), ("default", 4)])
def test_session_matches_model(name, seed):
    cfg = preset(name)
    rng = np.random.default_rng(seed)
    net = random_network(cfg, rng)
    dev = GoldenDevice(cfg)
    load(dev, net)

    # the model holds exactly what was written
    ref = reference_core(cfg, net)
    for f in dataclasses.fields(ref.params):
        assert np.array_equal(getattr(dev.core.params, f.name), getattr(ref.params, f.name))
    assert np.array_equal(dev.core.weights, ref.weights)
    assert np.array_equal(dev.core.plastic, ref.plastic)
    assert dev.core.stdp == ref.stdp
    assert read_region(dev, Region.WEIGHTS) == weight_words(cfg, net[1], Region.WEIGHTS)

    # INJECT + RUN 1 per tick, then one autonomous RUN of several ticks
    ticks, spikes, syn, events = 0, 0, 0, []
    period_events = []
    for t in range(30):
        inp = sorted(set(rng.integers(0, cfg.n_inputs, int(rng.integers(0, 6))).tolist()))
        ok(dev, Opcode.INJECT, 3, b"".join(i.to_bytes(2, "little") for i in inp))
        out = frames_of(dev.feed(wire(Opcode.RUN, t % 256, P.RUN_REQ.pack(ticks=1, period=0))))
        assert len(out) == 2 and out[1] == Frame(Opcode.RUN, t % 256, Status.OK,
                                                 P.RUN_REPLY.pack(ticks=1))
        assert (out[0].opcode, out[0].seq, out[0].status) == (Opcode.SPIKES, t % 256, Status.OK)
        events.append(out[0].payload)
        mask = np.zeros(cfg.n_inputs, bool)
        mask[inp] = True
        res = ref.step(mask)
        packer = P.SpikePacker(cfg.n_neurons)          # RUN 1: a batch of one tick
        expect = packer.tick(ticks, np.flatnonzero(res.spikes)) + packer.flush()
        assert [out[0].payload] == expect, f"tick {t}"
        ticks, spikes, syn = ticks + 1, spikes + int(res.spikes.sum()), syn + res.syn_events
    out = frames_of(dev.feed(wire(Opcode.RUN, 99, P.RUN_REQ.pack(ticks=12, period=0))))
    assert len(out) == 2 and out[-1] == Frame(Opcode.RUN, 99, 0, P.RUN_REPLY.pack(ticks=12))
    tick, covered, pairs = P.parse_spikes(out[0].payload, cfg.n_neurons)
    assert (tick, covered) == (ticks, 12)
    for k in range(12):
        res = ref.step()
        fired = [j for t, j in pairs if t == k]
        assert fired == np.flatnonzero(res.spikes).tolist()
        ticks, spikes, syn = ticks + 1, spikes + len(fired), syn + res.syn_events
        period_events.append(res)
    assert spikes > 0, "the network never fired: the test would prove nothing"

    # weights after STDP, read back over the link, equal the model's; STDP did change them
    assert not np.array_equal(ref.weights, net[1]), "STDP changed nothing"
    assert read_region(dev, Region.WEIGHTS) == weight_words(cfg, ref.weights, Region.WEIGHTS)
    for region in regions(cfg):
        assert read_region(dev, region) == ref.read_words(region, 0, region_words(cfg, region))

    st_ = P.STATUS.unpack(ok(dev, Opcode.STATUS, 7))
    cyc = cycles_module().tick_cycles(cfg, period_events[-1].delivered,
                                      period_events[-1].spikes, True,
                                      listed=period_events[-1].listed,
                                      plastic_delivered=period_events[-1].plastic_delivered)
    assert st_ == dict(ticks=ticks, spikes=spikes, syn_events=syn, last_tick_cycles=cyc,
                       crc_errors=0, frame_errors=0, uart_errors=0, rx_overflows=0,
                       overruns=0, flags=0)


def test_run_zero_ticks_and_tick_numbering_after_reset():
    dev = GoldenDevice(TINY)
    assert frames_of(dev.feed(wire(Opcode.RUN, 4, P.RUN_REQ.pack(ticks=0, period=0)))) == [
        Frame(Opcode.RUN, 4, 0, P.RUN_REPLY.pack(ticks=0))]
    def heads(out):
        return [tuple(P.SPIKES_HEAD.unpack(f.payload).values()) for f in out[:-1]]
    out = frames_of(dev.feed(wire(Opcode.RUN, 5, P.RUN_REQ.pack(ticks=3, period=0))))
    assert heads(out) == [(0, 3)]
    ok(dev, Opcode.RESET, 6, bytes([ResetFlags.COUNTERS]))
    out = frames_of(dev.feed(wire(Opcode.RUN, 5, P.RUN_REQ.pack(ticks=2, period=0))))
    assert heads(out) == [(0, 2)]
    dev.counters.ticks = 0xFFFFFFFF         # the tick field wraps with the counter
    out = frames_of(dev.feed(wire(Opcode.RUN, 5, P.RUN_REQ.pack(ticks=2, period=0))))
    assert heads(out) == [(0xFFFFFFFF, 2)]
    # a long silent RUN: one keep-alive event per KEEPALIVE_TICKS ticks, the rest at the end
    lay = layouts(TINY)[Region.NEURON_PARAMS]
    write_region(dev, Region.NEURON_PARAMS, [lay.pack({"threshold": 1000})] * TINY.n_neurons)
    ok(dev, Opcode.RESET, 7, bytes([ResetFlags.COUNTERS | ResetFlags.STATE]))
    k = P.KEEPALIVE_TICKS
    out = frames_of(dev.feed(wire(Opcode.RUN, 5, P.RUN_REQ.pack(ticks=2 * k + 3, period=0))))
    assert heads(out) == [(0, k), (k, k), (2 * k, 3)]
    assert all(len(f.payload) == P.SPIKES_HEAD.size for f in out[:-1])


def test_overrun_counts_and_flag():
    cfg = TINY
    dev = GoldenDevice(cfg)
    lay = layouts(cfg)[Region.NEURON_PARAMS]    # a silent network: every tick costs the same
    write_region(dev, Region.NEURON_PARAMS, [lay.pack({"threshold": 1000})] * cfg.n_neurons)
    cyc = cycles_module().tick_cycles(cfg, 0, 0, False)
    out = frames_of(dev.feed(wire(Opcode.RUN, 1, P.RUN_REQ.pack(ticks=3, period=cyc))))
    assert len(out) == 2            # one SPIKES event for the 3 ticks, the reply
    s = P.STATUS.unpack(ok(dev, Opcode.STATUS))
    assert (s["overruns"], s["flags"], s["last_tick_cycles"]) == (0, 0, cyc)
    dev.feed(wire(Opcode.RUN, 1, P.RUN_REQ.pack(ticks=3, period=cyc - 1)))
    s = P.STATUS.unpack(ok(dev, Opcode.STATUS))
    assert (s["overruns"], s["flags"]) == (3, 1)
    dev.counters.overruns = U16 - 1         # 16-bit counter saturates
    dev.feed(wire(Opcode.RUN, 1, P.RUN_REQ.pack(ticks=3, period=1)))
    assert P.STATUS.unpack(ok(dev, Opcode.STATUS))["overruns"] == U16
    ok(dev, Opcode.RESET, 2, bytes([ResetFlags.COUNTERS]))
    s = P.STATUS.unpack(ok(dev, Opcode.STATUS))
    assert (s["overruns"], s["flags"], s["ticks"]) == (0, 0, 0)


STATE_REGIONS = {Region.NEURON_STATE, Region.PRE_TRACE, Region.POST_TRACE, Region.SPIKES}
CONFIG_REGIONS = {Region.NEURON_PARAMS, Region.WEIGHTS, Region.PLASTIC, Region.STDP_PARAMS,
                  Region.DELAYS}


@pytest.mark.parametrize("flags", range(8))
def test_reset_flags(flags):
    # with delays: the DELAYS region is configuration (the ring, which no READ shows, is state)
    cfg = preset("narrow").replace(delay_bits=2, name="narrow_delays")
    dev = GoldenDevice(cfg)
    load(dev, random_network(cfg, np.random.default_rng(flags)))
    rng = np.random.default_rng(flags)
    write_region(dev, Region.DELAYS, weight_words(cfg, rng.integers(0, 4, (cfg.n_sources,
                                                                           cfg.n_neurons)),
                                                  Region.DELAYS))
    ok(dev, Opcode.INJECT, 0, b"\x00\x00\x02\x00")
    dev.feed(wire(Opcode.RUN, 0, P.RUN_REQ.pack(ticks=7, period=0)))
    ok(dev, Opcode.INJECT, 0, b"\x01\x00")
    dev.feed(wire(0x55, 1))                 # BAD_OPCODE: not counted
    dev.feed(b"\xc0\x01\xc0")               # one frame error
    before = {r: read_region(dev, r) for r in regions(cfg)}
    assert all(any(before[r]) for r in before), "every region must hold something to clear"
    st0 = P.STATUS.unpack(ok(dev, Opcode.STATUS))
    assert st0["ticks"] == 7 and st0["frame_errors"] == 1
    ok(dev, Opcode.RESET, 9, bytes([flags]))
    for r in before:
        cleared = ((flags & ResetFlags.STATE and r in STATE_REGIONS)
                   or (flags & ResetFlags.CONFIG and r in CONFIG_REGIONS))
        assert read_region(dev, r) == ([0] * len(before[r]) if cleared else before[r]), r.name
    st1 = P.STATUS.unpack(ok(dev, Opcode.STATUS))
    assert st1 == (dict.fromkeys(st0, 0) if flags & ResetFlags.COUNTERS else st0)


def test_delays_region_exists_only_with_delays():
    """DELAYS is BAD_REGION on a core without delays (READ and WRITE); with them it is read
    and written like WEIGHTS, and a delay word with bits above its lanes is BAD_VALUE."""
    dev = GoldenDevice(TINY)
    for op, body in ((Opcode.READ, P.READ_REQ.pack(region=Region.DELAYS, addr=0, count=1)),
                     (Opcode.WRITE, P.WRITE_REQ.pack(region=Region.DELAYS, addr=0) + b"\0\0")):
        assert ask(dev, op, 3, body).status == Status.BAD_REGION
    cfg = preset("tiny_delay")
    dev = GoldenDevice(cfg)
    words = weight_words(cfg, np.arange(cfg.n_sources * cfg.n_neurons).reshape(
        cfg.n_sources, cfg.n_neurons) % 8, Region.DELAYS)
    write_region(dev, Region.DELAYS, words)
    assert read_region(dev, Region.DELAYS) == words
    assert dev.core.delays[1, 2] == (1 * cfg.n_neurons + 2) % 8
    nb = layouts(cfg)[Region.DELAYS].nbytes
    assert ask(dev, Opcode.WRITE, 4, P.WRITE_REQ.pack(region=Region.DELAYS, addr=0)
               + (1 << 12).to_bytes(nb, "little")).status == Status.BAD_VALUE


def test_reset_helper_is_power_on():
    dev = GoldenDevice(TINY)
    dev.feed(wire(Opcode.INJECT, 0, b"\x01\x00") + b"\xc0\xc0\x00\xc0" + wire(Opcode.PING)[:-3])
    dev.reset()
    fresh = GoldenDevice(TINY)
    assert same(snapshot(dev), snapshot(fresh))
    assert dev.feed(wire(Opcode.PING, 1, b"x")) == wire(Opcode.PING, 1, b"x")


def test_weight_lanes_past_n_neurons_read_zero():
    cfg = preset("tiny").replace(n_neurons=7)
    dev = GoldenDevice(cfg)
    lay = layouts(cfg)[Region.WEIGHTS]
    word = lay.pack({"w0": 1, "w1": 2, "w2": 3, "w3": -4})        # word 1 of row 0: lane 3 = j 7
    ok(dev, Opcode.WRITE, 0, P.WRITE_REQ.pack(region=Region.WEIGHTS, addr=1) + lay.to_bytes(word))
    got = ok(dev, Opcode.READ, 0, P.READ_REQ.pack(region=Region.WEIGHTS, addr=1, count=1))
    assert lay.unpack(lay.from_bytes(got)) == {"w0": 1, "w1": 2, "w2": 3, "w3": 0}
    assert dev.core.weights[0, 4:].tolist() == [1, 2, 3]


# -- every error status, deliberately --------------------------------------------------------------

def _rd(region, addr, count):
    return P.READ_REQ.pack(region=region, addr=addr, count=count)


def _wr(region, addr, data):
    return P.WRITE_REQ.pack(region=region, addr=addr) + bytes(data)


def _raw(op, seq, payload, length=None, crc_xor=0):
    head = P.HEADER.pack(opcode=op, seq=seq, status=0,
                         length=len(payload) if length is None else length) + payload
    body = head + (P.crc16(head) ^ crc_xor).to_bytes(2, "little")
    esc = {END: bytes([ESC, ESC_END]), ESC: bytes([ESC, ESC_ESC])}
    return bytes([END]) + b"".join(esc.get(b, bytes([b])) for b in body) + bytes([END])


_N = TINY.n_inputs
_WW = region_words(TINY, Region.WEIGHTS)
ERROR_CASES = [
    # (name, bytes, (opcode, seq, status), counter incremented)
    ("short body", b"\xc0\x01\x02\x03\xc0", (0, 0, Status.BAD_FRAME), "frame_errors"),
    ("six bytes", b"\xc0" + bytes(6) + b"\xc0", (0, 0, Status.BAD_FRAME), "frame_errors"),
    ("bad escape", wire(Opcode.PING, 3, b"ab")[:4] + b"\xdb\x00" + wire(Opcode.PING, 3, b"ab")[4:],
     (0, 0, Status.BAD_FRAME), "frame_errors"),
    ("overlong", b"\xc0\x01\x11\x00" + bytes(600) + b"\xc0", (1, 0x11, Status.BAD_LENGTH),
     "frame_errors"),
    ("overlong by one", _raw(Opcode.PING, 0x12, bytes(P.MAX_PAYLOAD + 1)),
     (1, 0x12, Status.BAD_LENGTH), "frame_errors"),
    ("crc", _raw(Opcode.STATUS, 0x21, b"", crc_xor=0x0100), (8, 0x21, Status.BAD_CRC),
     "crc_errors"),
    ("length field", _raw(Opcode.PING, 0x22, b"abc", length=2), (1, 0x22, Status.BAD_LENGTH),
     "frame_errors"),
    ("opcode 0", wire(0, 1), (0, 1, Status.BAD_OPCODE), None),
    ("opcode 9", wire(9, 2), (9, 2, Status.BAD_OPCODE), None),
    ("SPIKES from host", wire(Opcode.SPIKES, 3, bytes(5)), (0x20, 3, Status.BAD_OPCODE), None),
    ("opcode 255", wire(255, 4), (255, 4, Status.BAD_OPCODE), None),
    ("INFO payload", wire(Opcode.INFO, 5, b"x"), (2, 5, Status.BAD_LENGTH), None),
    ("STATUS payload", wire(Opcode.STATUS, 6, b"x"), (8, 6, Status.BAD_LENGTH), None),
    ("RESET empty", wire(Opcode.RESET, 7), (3, 7, Status.BAD_LENGTH), None),
    ("RESET 2 bytes", wire(Opcode.RESET, 8, b"\x01\x00"), (3, 8, Status.BAD_LENGTH), None),
    ("RESET 2 bad bytes", wire(Opcode.RESET, 8, b"\xff\xff"), (3, 8, Status.BAD_LENGTH), None),
    ("RESET flags", wire(Opcode.RESET, 9, b"\x08"), (3, 9, Status.BAD_VALUE), None),
    ("RESET flags 0xff", wire(Opcode.RESET, 9, b"\xff"), (3, 9, Status.BAD_VALUE), None),
    ("READ 6 bytes", wire(Opcode.READ, 10, _rd(0, 0, 1)[:6]), (4, 10, Status.BAD_LENGTH), None),
    ("READ 8 bytes", wire(Opcode.READ, 10, _rd(0, 0, 1) + b"\0"), (4, 10, Status.BAD_LENGTH),
     None),
    ("READ region", wire(Opcode.READ, 11, _rd(8, 0, 1)), (4, 11, Status.BAD_REGION), None),
    ("READ region before count", wire(Opcode.READ, 11, _rd(200, 0, 60000)),
     (4, 11, Status.BAD_REGION), None),
    ("READ count", wire(Opcode.READ, 12, _rd(Region.WEIGHTS, 0, 129)),
     (4, 12, Status.BAD_LENGTH), None),
    ("READ count before range", wire(Opcode.READ, 12, _rd(Region.WEIGHTS, 10**9, 129)),
     (4, 12, Status.BAD_LENGTH), None),
    ("READ range", wire(Opcode.READ, 13, _rd(Region.WEIGHTS, _WW - 1, 2)),
     (4, 13, Status.BAD_ADDRESS), None),
    ("READ addr max", wire(Opcode.READ, 13, _rd(Region.SPIKES, 0xFFFFFFFF, 1)),
     (4, 13, Status.BAD_ADDRESS), None),
    ("READ empty past end", wire(Opcode.READ, 13, _rd(Region.STDP_PARAMS, 2, 0)),
     (4, 13, Status.BAD_ADDRESS), None),
    ("WRITE 4 bytes", wire(Opcode.WRITE, 14, b"\x02\0\0\0"), (5, 14, Status.BAD_LENGTH), None),
    ("WRITE region", wire(Opcode.WRITE, 15, _wr(8, 0, b"\0")), (5, 15, Status.BAD_REGION), None),
    ("WRITE region before length", wire(Opcode.WRITE, 15, _wr(99, 0, b"\0\0\0")),
     (5, 15, Status.BAD_REGION), None),
    ("WRITE no words", wire(Opcode.WRITE, 16, _wr(Region.WEIGHTS, 0, b"")),
     (5, 16, Status.BAD_LENGTH), None),
    ("WRITE partial word", wire(Opcode.WRITE, 16, _wr(Region.WEIGHTS, 0, b"\1\2\3\4\5")),
     (5, 16, Status.BAD_LENGTH), None),
    ("WRITE range", wire(Opcode.WRITE, 17, _wr(Region.WEIGHTS, _WW - 1, bytes(8))),
     (5, 17, Status.BAD_ADDRESS), None),
    ("WRITE range before value", wire(Opcode.WRITE, 17, _wr(Region.SPIKES, 11, b"\1\xff")),
     (5, 17, Status.BAD_ADDRESS), None),
    ("WRITE value", wire(Opcode.WRITE, 18, _wr(Region.SPIKES, 0, b"\1\1\2")),
     (5, 18, Status.BAD_VALUE), None),
    ("WRITE value plastic", wire(Opcode.WRITE, 18, _wr(Region.PLASTIC, 0, b"\x0f\x10")),
     (5, 18, Status.BAD_VALUE), None),
    ("INJECT odd", wire(Opcode.INJECT, 19, b"\1\0\2"), (6, 19, Status.BAD_LENGTH), None),
    ("INJECT index", wire(Opcode.INJECT, 20, b"\1\0" + _N.to_bytes(2, "little")),
     (6, 20, Status.BAD_ADDRESS), None),
    ("INJECT neuron index", wire(Opcode.INJECT, 20, b"\xff\xff"), (6, 20, Status.BAD_ADDRESS),
     None),
    ("RUN 7 bytes", wire(Opcode.RUN, 21, bytes(7)), (7, 21, Status.BAD_LENGTH), None),
    ("RUN 9 bytes", wire(Opcode.RUN, 21, b"\1" + bytes(8)), (7, 21, Status.BAD_LENGTH), None),
    # the abort token arrives with the RUN, so the RUN runs no tick (docs/protocol.md, "Abort")
    ("RUN aborted", wire(Opcode.RUN, 22, P.RUN_REQ.pack(ticks=5)) + P.ABORT,
     (7, 22, Status.ABORTED, P.RUN_REPLY.pack(ticks=0)), None),
]


@pytest.fixture(scope="module")
def loaded_tiny():
    dev = GoldenDevice(TINY)
    load(dev, random_network(TINY, np.random.default_rng(11)))
    dev.feed(wire(Opcode.INJECT, 0, b"\0\0\3\0") + wire(Opcode.RUN, 0, P.RUN_REQ.pack(ticks=5)))
    ok(dev, Opcode.INJECT, 0, b"\1\0")
    return dev


@pytest.mark.parametrize("name,data,reply,counter", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_error_status(loaded_tiny, name, data, reply, counter):
    dev = copy.deepcopy(loaded_tiny)
    before = snapshot(dev)
    out = dev.feed(data)
    assert frames_of(out) == [Frame(*reply)]
    assert out == P.encode_frame(Frame(*reply))           # no payload but RUN_REPLY
    expect = copy.deepcopy(loaded_tiny.counters)
    if counter:
        setattr(expect, counter, getattr(expect, counter) + 1)
    assert dev.counters == expect
    dev.counters = copy.deepcopy(loaded_tiny.counters)
    assert same(snapshot(dev), before), "a refused request changed state"
    assert dev.feed(wire(Opcode.PING, 1, b"ok")) == wire(Opcode.PING, 1, b"ok")


def test_every_status_is_provoked():
    seen = {c[2][2] for c in ERROR_CASES}
    assert seen == set(Status) - {Status.OK}


def test_error_counters_saturate():
    dev = GoldenDevice(TINY)
    dev.counters.crc_errors = dev.counters.frame_errors = U16 - 1
    dev.feed((_raw(Opcode.PING, 1, b"", crc_xor=1) + b"\xc0\x01\xc0") * 3)
    s = P.STATUS.unpack(ok(dev, Opcode.STATUS))
    assert (s["crc_errors"], s["frame_errors"]) == (U16, U16)


def test_write_all_or_nothing():
    dev = GoldenDevice(TINY)
    lay = layouts(TINY)[Region.NEURON_STATE]
    good = lay.to_bytes(lay.pack({"v": 5, "i": -3, "ref": 2}))
    r = ask(dev, Opcode.WRITE, 1, _wr(Region.NEURON_STATE, 0, good * 3 + b"\0\0\0\0\x01"[::-1]))
    assert r.status == Status.OK       # 40-bit word: every 5-byte value is in range
    dev2 = GoldenDevice(TINY)
    r = ask(dev2, Opcode.WRITE, 1, _wr(Region.SPIKES, 0, b"\1\1\1\1\1\3"))
    assert r.status == Status.BAD_VALUE and not dev2.core.state.spikes.any()


# -- fuzzing ---------------------------------------------------------------------------------------

def classify(raw: bytes):
    """The framing rules of docs/protocol.md section 7, for one raw segment between ENDs:
    ``(Frame, status)``; an independent second implementation of the Deframer."""
    body, k, bad = bytearray(), 0, False
    while k < len(raw):
        b = raw[k]
        if b == ESC:
            if k + 1 < len(raw) and raw[k + 1] in (ESC_END, ESC_ESC):
                body.append(END if raw[k + 1] == ESC_END else ESC)
                k += 2
                continue
            bad = True
            k += 2
            continue
        body.append(b)
        k += 1
    if bad or len(body) < 7:
        return Frame(0, 0), Status.BAD_FRAME
    op, seq = body[0], body[1]
    if len(body) > 5 + P.MAX_PAYLOAD + 2:
        return Frame(op, seq), Status.BAD_LENGTH
    if P.crc16(bytes(body[:-2])) != int.from_bytes(body[-2:], "little"):
        return Frame(op, seq), Status.BAD_CRC
    if int.from_bytes(body[3:5], "little") != len(body) - 7:
        return Frame(op, seq), Status.BAD_LENGTH
    return Frame(op, seq, body[2], bytes(body[5:-2])), Status.OK


def split(stream: bytes) -> list[tuple[bytes, bool, int]]:
    """``(raw, is_abort, index of its END)`` for every END-terminated piece of ``stream``: an END
    right after an ESC that begins an escape pair is the abort token (docs/protocol.md, "Abort"),
    which ends the piece without a body."""
    out, start, esc = [], 0, False
    for k, b in enumerate(stream):
        if b == END:
            out.append((stream[start:k], esc, k))
            start, esc = k + 1, False
        elif esc:
            esc = False
        elif b == ESC:
            esc = True
    return out


def expected_output(stream: bytes, ref: GoldenDevice, cuts=()) -> bytes:
    """What a device must send for ``stream`` fed in pieces cut at ``cuts``: error replies from
    :func:`classify`, and for good frames whatever ``ref`` (fed only those) sends. The abort
    latch: a piece fed that holds a token sets it before anything in the piece runs, the first
    token consumed clears it, and a valid RUN of n > 0 ticks seen while it is set runs no tick."""
    out = bytearray()
    bounds = [*sorted(cuts), len(stream)]
    pieces = split(stream)
    arrived = {next(i for i, c in enumerate(bounds) if end < c) for _, tok, end in pieces if tok}
    chunk = -1
    latch = False
    for raw, token, end in pieces:
        now = next(i for i, c in enumerate(bounds) if end < c)
        if now != chunk:
            chunk = now
            latch = latch or now in arrived
        if token:
            latch = False
            continue
        if not raw:
            continue
        frame, status = classify(raw)
        c = ref.counters
        if status == Status.OK:
            if latch and frame.opcode == Opcode.RUN and len(frame.payload) == P.RUN_REQ.size \
                    and P.RUN_REQ.unpack(frame.payload)["ticks"]:     # RUN 0 has nothing to stop
                out += P.encode_frame(Frame(Opcode.RUN, frame.seq, Status.ABORTED,
                                            P.RUN_REPLY.pack(ticks=0)))
            else:
                out += ref.feed(P.encode_frame(frame))
            continue
        if status == Status.BAD_CRC:
            c.crc_errors = min(c.crc_errors + 1, U16)
        else:
            c.frame_errors = min(c.frame_errors + 1, U16)
        out += P.encode_frame(Frame(frame.opcode, frame.seq, status))
    return bytes(out)


def _bodies(stream: bytes) -> int:
    return sum(1 for raw, token, _ in split(stream) if raw and not token)


seqs = st.integers(0, 255)


def _region_strategy():
    return st.one_of(st.sampled_from(list(Region)), st.integers(0, 255))


@st.composite
def requests(draw):
    """Mostly well-formed requests (about one in four refused by an opcode check)."""
    kind = draw(st.sampled_from(["ping", "info", "status", "reset", "read", "write", "inject",
                                 "run", "raw"]))
    seq = draw(seqs)
    if kind == "ping":
        return Frame(Opcode.PING, seq, 0, draw(st.binary(max_size=24)))
    if kind in ("info", "status"):
        return Frame(Opcode.INFO if kind == "info" else Opcode.STATUS, seq, 0,
                     draw(st.sampled_from([b"", b"", b"", b"\0"])))
    if kind == "reset":
        return Frame(Opcode.RESET, seq, 0, bytes([draw(st.one_of(st.integers(0, 7),
                                                                  st.integers(0, 255)))]))
    if kind == "read":
        region = draw(_region_strategy())
        words = region_words(TINY, region) if region in regions(TINY) else 4
        addr = draw(st.one_of(st.integers(0, words), st.integers(0, 0xFFFFFFFF)))
        count = draw(st.one_of(st.integers(0, 4), st.integers(0, 0xFFFF)))
        return Frame(Opcode.READ, seq, 0, P.READ_REQ.pack(region=region, addr=addr, count=count))
    if kind == "write":
        region = draw(_region_strategy())
        if region in regions(TINY):
            lay = layouts(TINY)[region]
            nw = draw(st.integers(1, 4))
            addr = draw(st.integers(0, region_words(TINY, region)))
            vals = [draw(st.integers(0, (1 << lay.width) - 1)) for _ in range(nw)]
            data = b"".join(lay.to_bytes(v) for v in vals)
            data = draw(st.sampled_from([data, data, data, data[:-1], b"\xff" + data]))
        else:
            addr, data = 0, draw(st.binary(max_size=8))
        return Frame(Opcode.WRITE, seq, 0, P.WRITE_REQ.pack(region=region, addr=addr) + data)
    if kind == "inject":
        idx = draw(st.lists(st.one_of(st.integers(0, TINY.n_inputs - 1), st.integers(0, U16)),
                            max_size=5))
        data = b"".join(i.to_bytes(2, "little") for i in idx)
        return Frame(Opcode.INJECT, seq, 0, draw(st.sampled_from([data, data, data + b"\1"])))
    if kind == "run":
        return Frame(Opcode.RUN, seq, 0, P.RUN_REQ.pack(ticks=draw(st.integers(0, 3)),
                                                        period=draw(st.integers(0, 300))))
    op = draw(st.integers(0, 255))
    payload = draw(st.binary(max_size=12))
    if op == Opcode.RUN and len(payload) == 8:      # keep random RUNs short
        payload = bytes([payload[0] & 3, 0, 0, 0]) + payload[4:]
    return Frame(op, seq, draw(st.integers(0, 255)), payload)


@st.composite
def segments(draw):
    """One piece of a fuzz stream: a good frame, or one kind of damage."""
    kind = draw(st.sampled_from(["good", "good", "good", "random", "truncated", "corrupted",
                                 "oversize", "bad_escape", "length", "empty", "short"]))
    if kind == "good":
        return P.encode_frame(draw(requests()))
    if kind == "random":
        return draw(st.binary(max_size=40))
    if kind == "empty":
        return bytes([END]) * draw(st.integers(1, 3))
    if kind == "short":
        return bytes([END]) + draw(st.binary(min_size=1, max_size=6)) + bytes([END])
    if kind == "oversize":
        n = draw(st.integers(P.MAX_PAYLOAD + 3, P.MAX_PAYLOAD + 40))
        fill = draw(st.integers(0, 255))
        head = draw(st.binary(min_size=5, max_size=5))
        return bytes([END]) + head + bytes([fill]) * n + bytes([END])
    good = P.encode_frame(draw(requests()))
    if kind == "truncated":                         # a prefix or a suffix of a frame
        cut = draw(st.integers(1, len(good) - 1))
        return draw(st.sampled_from([good[:cut], good[cut:]]))
    if kind == "corrupted":
        pos = draw(st.integers(1, len(good) - 2))
        return good[:pos] + bytes([good[pos] ^ draw(st.integers(1, 255))]) + good[pos + 1:]
    if kind == "bad_escape":
        pos = draw(st.integers(1, len(good) - 1))
        return good[:pos] + bytes([ESC, draw(st.integers(0, 255))]) + good[pos:]
    # "length": well-formed CRC but the length field disagrees
    f = draw(requests())
    wrong = (len(f.payload) + draw(st.integers(1, 600))) % 65536
    return _raw(f.opcode, f.seq, f.payload, length=wrong)


@st.composite
def streams(draw):
    parts = draw(st.lists(segments(), min_size=1, max_size=8))
    stream = b"".join(parts)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    return stream, cuts


def check_stream(stream: bytes, cuts):
    dut, ref = GoldenDevice(TINY), GoldenDevice(TINY)
    out, prev = bytearray(), 0
    for c in [*cuts, len(stream)]:
        out += dut.feed(stream[prev:c])             # never raises
        prev = c
    # a good frame after the garbage (its leading END closes any unterminated body)
    tail = wire(Opcode.PING, 0xA5, b"after")
    out += dut.feed(tail)
    expect = expected_output(stream + tail, ref, [*cuts, len(stream)])
    assert bytes(out) == expect
    replies = [f for f in frames_of(bytes(out))
               if not (f.opcode == Opcode.SPIKES and f.status == Status.OK)]
    assert len(replies) == _bodies(stream + tail)   # exactly one reply per nonempty body
    assert replies[-1] == Frame(Opcode.PING, 0xA5, 0, b"after")
    assert same(snapshot(dut), snapshot(ref))       # garbage changed nothing but the counters


FUZZ = settings(deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(FUZZ, max_examples=7000)
@given(streams())
def test_fuzz_streams(case):
    check_stream(*case)


@settings(FUZZ, max_examples=3000)
@given(st.lists(requests(), min_size=1, max_size=6))
def test_fuzz_refused_requests_change_nothing(reqs):
    """Well-framed requests one at a time: a refused one changes no state and no counter; every
    request gets one reply with its opcode and seq, after the SPIKES events of a RUN."""
    dev = GoldenDevice(TINY)
    for f in reqs:
        before = snapshot(dev)
        out = frames_of(dev.feed(P.encode_frame(f)))
        reply = out[-1]
        assert (reply.opcode, reply.seq) == (f.opcode, f.seq)
        assert all(e.opcode == Opcode.SPIKES and e.status == Status.OK for e in out[:-1])
        if reply.status != Status.OK:
            assert len(out) == 1 and reply.payload == b""
            assert same(snapshot(dev), before)


@pytest.mark.regress
def test_fuzz_streams_regress():
    n = 1000 * int(os.environ.get("SPIKELOOM_SEEDS", "50"))

    @settings(FUZZ, max_examples=n)
    @given(streams())
    def run(case):
        check_stream(*case)
    run()
