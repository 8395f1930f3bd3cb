# amaranth: UnusedElaboratable=no
"""State probes: the PROBES region and the PROBE event (docs/protocol.md 5, 9) on the golden
device, and the gateware (Amaranth simulation of the whole top) against it byte for byte."""

import random

import numpy as np
import pytest
from spikeloom.proto import preset
from spikeloom.proto import protocol as P
from spikeloom.proto.memmap import Region, layouts, probe_fields, region_words
from spikeloom.proto.probes import ProbeSetup
from spikeloom.proto.protocol import Frame, Opcode, Status
from spikeloom.sim.device import GoldenDevice
from spikeloom.sim.model import Core

# tiny cores with probes, UART divisor 4 (40 cycles per byte) for the RTL
CFG = preset("tiny").replace(probe_slots=3, baud=250_000, name="tiny_probes")
FULL = preset("tiny_full").replace(probe_slots=2, baud=250_000, name="full_probes")


def enc(op, seq=0, payload=b""):
    return P.encode_frame(Frame(int(op), seq, 0, bytes(payload)))


def frames(data: bytes):
    return [(f, s) for f, s in P.Deframer(1 << 16).feed(data)]


def write_req(cfg, region, addr, words):
    lay = layouts(cfg)[region]
    return P.WRITE_REQ.pack(region=region, addr=addr) + b"".join(lay.to_bytes(w) for w in words)


def network(cfg, rng):
    """Request payloads of a random network that fires now and then: (region, words)."""
    lays = layouts(cfg)
    par = []
    for _ in range(cfg.n_neurons):
        vals = {"threshold": rng.randrange(150, 600), "v_reset": rng.randrange(-40, 40),
                "bias": rng.randrange(-5, 30), "refractory": rng.randrange(0, 3),
                "alpha_mem": rng.randrange(3000, 4097), "alpha_syn": rng.randrange(2000, 4097),
                "reset_subtract": rng.randrange(2)}
        if cfg.inh_current:
            vals["alpha_inh"] = rng.randrange(2000, 4097)
        if cfg.theta_width:
            vals["theta_jump"] = rng.randrange(0, 20)
            vals["alpha_theta"] = rng.randrange(3500, 4097)
        par.append(lays[Region.NEURON_PARAMS].pack(vals))
    wl = lays[Region.WEIGHTS]
    weights = [wl.pack({f.name: rng.randrange(-100, 127) for f in wl.fields})
               for _ in range(cfg.weight_words)]
    stdp = lays[Region.STDP_PARAMS].pack({
        "enable": 1, "a_plus": 300, "a_minus": 200, "pre_jump": 60, "post_jump": 50,
        "alpha_pre": 3500, "alpha_post": 3300, "w_min": -90, "w_max": 120})
    plastic = [rng.randrange(1 << lays[Region.PLASTIC].width) for _ in range(cfg.weight_words)]
    return [(Region.NEURON_PARAMS, par), (Region.WEIGHTS, weights),
            (Region.PLASTIC, plastic), (Region.STDP_PARAMS, [stdp])]


def session(cfg, rng, runs=4):
    """A scripted session: a network, probe setups (random slots, fields, every), runs with
    inputs, a RESET CONFIG in the middle; the request bytes, in pieces."""
    seq = iter(range(1, 256))
    out = [enc(Opcode.WRITE, next(seq), write_req(cfg, r, 0, w)) for r, w in network(cfg, rng)]
    names = [n for n, _ in probe_fields(cfg)]
    for k in range(runs):
        slots = tuple((rng.randrange(cfg.n_neurons), tuple(rng.sample(names, rng.randrange(
            1, len(names) + 1)))) for _ in range(rng.randrange(1, cfg.probe_slots + 1)))
        setup = ProbeSetup(slots, every=rng.choice([1, 1, 2, 3]))
        words = setup.words(cfg)
        if k == 1:      # a slot watching a neuron past N streams zeros
            lay = layouts(cfg)[Region.PROBES]
            words[0] = lay.pack({**lay.unpack(words[0]), "neuron": cfg.n_neurons + 1})
        out.append(enc(Opcode.WRITE, next(seq), write_req(cfg, Region.PROBES, 0, words)))
        out.append(enc(Opcode.READ, next(seq), P.READ_REQ.pack(
            region=Region.PROBES, addr=0, count=len(words))))
        for _ in range(2):
            idx = rng.sample(range(cfg.n_inputs), rng.randrange(cfg.n_inputs))
            out.append(enc(Opcode.INJECT, next(seq), b"".join(j.to_bytes(2, "little")
                                                              for j in idx)))
            out.append(enc(Opcode.RUN, next(seq), P.RUN_REQ.pack(
                ticks=rng.randrange(1, 5), period=0)))
        if k == 2:
            out.append(enc(Opcode.RESET, next(seq), b"\x02"))
            out.append(enc(Opcode.RUN, next(seq), P.RUN_REQ.pack(ticks=2, period=0)))
            out.append(enc(Opcode.READ, next(seq), P.READ_REQ.pack(
                region=Region.PROBES, addr=0, count=cfg.probe_slots + 1)))
    return out


# -- golden device --------------------------------------------------------------------------------

def test_probe_events_hold_the_model_state_after_each_sampled_tick():
    cfg, rng = FULL, random.Random(5)
    dev = GoldenDevice(cfg)
    ref = Core(cfg, "reference")
    for region, words in network(cfg, rng):
        dev.feed(enc(Opcode.WRITE, 1, write_req(cfg, region, 0, words)))
        ref.write_words(region, 0, words)
    setup = ProbeSetup(((3, ("v", "i_inh", "theta")), (0, ("i", "y", "v"))), every=2)
    dev.feed(enc(Opcode.WRITE, 2, write_req(cfg, Region.PROBES, 0, setup.words(cfg))))
    every_input = b"".join(j.to_bytes(2, "little") for j in range(cfg.n_inputs))
    got = []
    for _ in range(5):      # all inputs every tick (the phase runs on across RUNs)
        got += frames(dev.feed(enc(Opcode.INJECT, 6, every_input)
                               + enc(Opcode.RUN, 7, P.RUN_REQ.pack(ticks=1, period=0))))
    ops = [f.opcode for f, _ in got if f.opcode != Opcode.INJECT]
    S, R, PR = Opcode.SPIKES, Opcode.RUN, Opcode.PROBE
    assert ops == [S, PR, R, S, R, S, PR, R, S, R, S, PR, R]     # ticks 0, 2, 4 sampled
    samples = [f for f, _ in got if f.opcode == PR]
    assert all(f.seq == 7 and f.status == Status.OK for f in samples)
    seen = 0
    for t in range(5):
        ref.step(np.arange(cfg.n_inputs))
        if t % 2:
            continue
        tick, values = setup.parse(cfg, samples[seen].payload)
        seen += 1
        assert tick == t
        st = ref.state
        assert values == {(0, "v"): st.v[3], (0, "i_inh"): st.i_inh[3], (0, "theta"): st.theta[3],
                          (1, "v"): st.v[0], (1, "i"): st.i[0], (1, "y"): st.y[0]}
    assert any(v < 0 for f in samples for v in setup.parse(cfg, f.payload)[1].values()), \
        "no negative value sampled: sign extension untested"


def test_probes_region_rules():
    dev = GoldenDevice(CFG)
    lay = layouts(CFG)[Region.PROBES]
    assert region_words(CFG, Region.PROBES) == CFG.probe_slots + 1
    words = ProbeSetup(((1, ("v",)),), every=3).words(CFG)
    dev.feed(enc(Opcode.WRITE, 1, write_req(CFG, Region.PROBES, 0, words)))
    (f, _), = frames(dev.feed(enc(Opcode.READ, 2, P.READ_REQ.pack(
        region=Region.PROBES, addr=0, count=len(words)))))
    assert f.payload == b"".join(lay.to_bytes(w) for w in words)
    # a select bit past the layout's width: BAD_VALUE; past the region: BAD_ADDRESS
    bad = (1 << lay.width).to_bytes(lay.nbytes, "little")
    (f, _), = frames(dev.feed(enc(Opcode.WRITE, 3, P.WRITE_REQ.pack(
        region=Region.PROBES, addr=0) + bad)))
    assert f.status == Status.BAD_VALUE
    (f, _), = frames(dev.feed(enc(Opcode.WRITE, 4, write_req(
        CFG, Region.PROBES, CFG.probe_slots + 1, [0]))))
    assert f.status == Status.BAD_ADDRESS
    # RESET CONFIG zeroes the region: no more events
    dev.feed(enc(Opcode.RESET, 5, b"\x02"))
    (f, _), = frames(dev.feed(enc(Opcode.READ, 6, P.READ_REQ.pack(
        region=Region.PROBES, addr=0, count=len(words)))))
    assert f.payload == bytes(len(words) * lay.nbytes)
    got = frames(dev.feed(enc(Opcode.RUN, 7, P.RUN_REQ.pack(ticks=3, period=0))))
    assert [f.opcode for f, _ in got] == [Opcode.SPIKES, Opcode.RUN]     # one batch, no PROBE
    # without probes the region does not exist
    plain = GoldenDevice(preset("tiny"))
    for req in (enc(Opcode.READ, 1, P.READ_REQ.pack(region=Region.PROBES, addr=0, count=0)),
                enc(Opcode.WRITE, 2, P.WRITE_REQ.pack(region=Region.PROBES, addr=0) + bytes(3))):
        (f, _), = frames(plain.feed(req))
        assert f.status == Status.BAD_REGION
    (f, _), = frames(plain.feed(enc(Opcode.PROBE, 3)))
    assert f.status == Status.BAD_OPCODE


def test_probe_setup_errors():
    with pytest.raises(ValueError, match="no probes"):
        ProbeSetup(((0, ("v",)),)).check(preset("tiny"))
    with pytest.raises(ValueError, match="exceed the 3 probe slots"):
        ProbeSetup(tuple((j, ("v",)) for j in range(4))).check(CFG)
    with pytest.raises(ValueError, match="cannot probe 'theta'"):
        ProbeSetup(((0, ("theta",)),)).check(CFG)
    with pytest.raises(ValueError, match="outside 0..7"):
        ProbeSetup(((8, ("v",)),)).check(CFG)
    with pytest.raises(ValueError, match="every 0 ticks"):
        ProbeSetup(((0, ("v",)),), every=0).check(CFG)
    with pytest.raises(ValueError, match="exceeds the 512-byte payload"):
        preset("default").replace(probe_slots=200)


# -- gateware vs golden ---------------------------------------------------------------------------

def _same(cfg, chunks, core="rtl"):
    from spikeloom.sim.rtlsim import ModelCore, Transport
    rtl = Transport(cfg, **({"core_factory": ModelCore} if core == "model" else {}))
    gold = GoldenDevice(cfg)
    events = 0
    for k, data in enumerate(chunks):
        got, want = rtl.exchange(data, max_cycles=600_000), gold.feed(data)
        assert got == want, (k, [(f.opcode, f.payload.hex()) for f, _ in frames(got)],
                             [(f.opcode, f.payload.hex()) for f, _ in frames(want)])
        events += sum(f.opcode == Opcode.PROBE for f, _ in frames(want))
    return events


@pytest.mark.rtl
@pytest.mark.parametrize("cfg", [CFG, FULL], ids=lambda c: c.name)
def test_rtl_probe_session_matches_golden(cfg):
    assert _same(cfg, session(cfg, random.Random(cfg.n_inputs + cfg.probe_slots))) > 4


@pytest.mark.rtl
@pytest.mark.parametrize("seed", [1, 2])
def test_rtl_probe_fuzz_matches_golden(seed):
    """Random probe words (any select bits, neurons past N, any every) and runs, pipelined in
    one burst."""
    cfg, rng = CFG, random.Random(seed)
    lay = layouts(cfg)[Region.PROBES]
    burst = [enc(Opcode.WRITE, 1, write_req(cfg, r, 0, w)) for r, w in network(cfg, rng)]
    for k in range(6):
        words = [rng.randrange(1 << lay.width) if rng.random() < 0.7 else 0
                 for _ in range(cfg.probe_slots)]
        words = [w & ~0xFFFF | rng.randrange(cfg.n_neurons + 2) for w in words]
        words.append(rng.randrange(4))
        addr = rng.randrange(2)
        burst.append(enc(Opcode.WRITE, 2 + k, write_req(cfg, Region.PROBES, addr,
                                                        words[addr:])))
        burst.append(enc(Opcode.RUN, 20 + k, P.RUN_REQ.pack(ticks=rng.randrange(0, 4),
                                                            period=rng.choice([0, 50]))))
    assert _same(cfg, [b"".join(burst)]) > 0


def test_probe_payload_fits():
    """The whole-slot byte count the configuration checks is what a full setup sends."""
    for cfg in (CFG, FULL):
        names = tuple(n for n, _ in probe_fields(cfg))
        setup = ProbeSetup(tuple((0, names) for _ in range(cfg.probe_slots)))
        assert setup.payload_bytes(cfg) == 4 + cfg.probe_slots * cfg.probe_bytes
    assert np.all([preset(p).probe_bytes > 0 for p in ("tiny", "up5k")])


@pytest.mark.rtl
def test_rtl_many_slots_reset_then_write_matches_golden():
    """40 slots on the tiny core: RESET CONFIG's walk of the probe table (41 cycles), then
    PROBES requests right behind it see a zeroed table, in one burst. (The core's own clear and
    the RESET reply outlast that walk here, so the requests' wait for it is not reached.)"""
    cfg, rng = preset("tiny").replace(probe_slots=40, baud=250_000, name="tiny_40"), \
        random.Random(3)
    names = [n for n, _ in probe_fields(cfg)]
    setup = ProbeSetup(tuple((rng.randrange(cfg.n_neurons), tuple(rng.sample(names, 2)))
                             for _ in range(cfg.probe_slots)))
    burst = [enc(Opcode.WRITE, 1, write_req(cfg, r, 0, w)) for r, w in network(cfg, rng)]
    run = enc(Opcode.RUN, 3, P.RUN_REQ.pack(ticks=2, period=0))
    read = enc(Opcode.READ, 4, P.READ_REQ.pack(region=Region.PROBES, addr=0,
                                               count=cfg.probe_slots + 1))
    burst += [enc(Opcode.WRITE, 2, write_req(cfg, Region.PROBES, 0, setup.words(cfg))), run,
              enc(Opcode.RESET, 5, b"\x02"), read, run,
              enc(Opcode.WRITE, 6, write_req(cfg, Region.PROBES, 30, setup.words(cfg)[30:])),
              read, run]
    assert _same(cfg, [b"".join(burst)]) == 4


@pytest.mark.rtl
def test_rtl_probes_read_after_a_core_read_matches_golden():
    """A PROBES word is narrower than its bytes: a READ of it right after a core READ whose
    word has ones there (NEURON_STATE, all ones) sends zeros above the word, not the core's
    last response."""
    cfg = CFG
    ones = (1 << layouts(cfg)[Region.NEURON_STATE].width) - 1
    burst = [enc(Opcode.WRITE, 1, write_req(cfg, Region.NEURON_STATE, 0, [ones])),
             enc(Opcode.READ, 2, P.READ_REQ.pack(region=Region.NEURON_STATE, addr=0, count=1)),
             enc(Opcode.READ, 3, P.READ_REQ.pack(region=Region.PROBES, addr=0,
                                                 count=cfg.probe_slots + 1))]
    assert _same(cfg, [b"".join(burst)]) == 0
