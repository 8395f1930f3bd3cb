"""The golden model against docs/numerics.md, one test per rule, with hand-computed integers.

Every expected value below is worked out by hand from the rule it tests (the arithmetic is in the
comments), never taken from the model's own output. Neurons default to "no decay" (factor
``ONE = 2**F``), no bias, a threshold out of reach and reset-to-value 0, so each test switches
on only the rule it is about.
"""

from __future__ import annotations

import numpy as np
import pytest
from spikeloom.proto.config import CoreConfig, preset
from spikeloom.proto.fixed import decay, decay_factor, saturate, saturate_unsigned, scale
from spikeloom.proto.memmap import Region, layouts, region_words, regions
from spikeloom.sim.model import Core, STDPParams

TINY = preset("tiny")       # N=8, M=4, F=12, G=8, V/I 16 bit, w 8 bit, traces 8 bit, ref 8 bit
ONE = 1 << TINY.decay_frac  # decay factor 1.0
HALF = ONE // 2
M = TINY.n_inputs


def make_core(cfg: CoreConfig = TINY, **params) -> Core:
    """A core whose neurons neither decay nor spike unless ``params`` say otherwise."""
    core = Core(cfg)
    values = dict(threshold=10_000, v_reset=0, bias=0, refractory=0, alpha_mem=1 << cfg.decay_frac,
                  alpha_syn=1 << cfg.decay_frac, reset_subtract=0, alpha_inh=1 << cfg.decay_frac,
                  theta_jump=0, alpha_theta=1 << cfg.decay_frac)
    values.update(params)
    for name, value in values.items():
        getattr(core.params, name)[:] = value
    return core


def stdp(**kw) -> STDPParams:
    """Enabled STDP with no decay of the traces; everything else zero unless given."""
    base = dict(enable=1, alpha_pre=ONE, alpha_post=ONE, w_min=-128, w_max=127)
    base.update(kw)
    return STDPParams(**base)


# -- fixed-point primitives ----------------------------------------------------------------------

def test_decay_rounds_toward_zero():
    cases = [
        # (x, factor, expected)            x * factor / 4096
        (1, HALF, 0),                      # 0.5 -> 0
        (-1, HALF, 0),                     # -0.5 -> 0 (a floor would give -1 and stick there)
        (3, HALF, 1),                      # 1.5 -> 1
        (-3, HALF, -1),                    # -1.5 -> -1 (floor: -2)
        (4097, 4095, 4095),                # (4096**2 - 1) / 4096 = 4095.9998 -> 4095
        (-4097, 4095, -4095),              # symmetric
        (-4096, 1, -1),                    # exactly -1
        (-4095, 1, 0),                     # -0.9998 -> 0
        (-4096, ONE, -4096),               # factor 1.0 is the identity
        (-32768, ONE, -32768),
        (-5, 0, 0),                        # factor 0 clears
    ]
    for x, a, want in cases:
        assert decay(x, a, 12) == want, (x, a)
    xs = np.array([c[0] for c in cases], np.int64)
    fs = np.array([c[1] for c in cases], np.int64)
    assert decay(xs, fs, 12).tolist() == [c[2] for c in cases]


def test_scale_saturate_and_factor():
    assert scale(255, 256, 8) == 255            # rate 1.0
    assert scale(3, 128, 8) == 1                # 1.5 floored
    assert scale(255, 65535, 8) == 65279        # 16711425 / 256 = 65279.004
    assert scale(np.array([3, 255]), 128, 8).tolist() == [1, 127]
    assert saturate(40000, 16) == 32767 and saturate(-40000, 16) == -32768
    assert saturate(np.array([-40000, 5, 40000]), 16).tolist() == [-32768, 5, 32767]
    assert saturate_unsigned(-1, 8) == 0 and saturate_unsigned(300, 8) == 255
    assert decay_factor(20.0, 1.0, 12) == 3896  # exp(-1/20) * 4096 = 3896.236
    assert decay_factor(float("inf"), 1.0, 12) == 4096
    with pytest.raises(ValueError, match="tau = 0"):
        decay_factor(0.0, 1.0, 12)


# -- neuron update -------------------------------------------------------------------------------

def test_threshold_equality_spikes():
    core = make_core()
    p = core.params
    p.threshold[:4] = [100, 101, 50, -5]
    p.bias[:4] = [100, 100, 0, -5]
    p.v_reset[:4] = [-7, -7, 3, 9]
    core.weights[0, 2] = 50                     # neuron 2 reaches its threshold through I
    res = core.step([0])
    # v1 = 0 + i1 + bias: 100 >= 100 spikes, 100 < 101 does not, 50 >= 50, -5 >= -5
    assert res.spikes[:4].tolist() == [True, False, True, True]
    assert core.state.v[:4].tolist() == [-7, 100, 3, 9]


def test_v_saturates_high():
    core = make_core(threshold=32767, reset_subtract=1)
    st, p = core.state, core.params
    st.v[:3] = [32700, 32767, 32767]
    p.bias[:3] = [100, -100, 0]
    p.threshold[2] = -100
    core.weights[0, 1] = 100
    res = core.step([0])
    # n0: sat(32700 + 100) = 32767 >= 32767: spike, then 32767 - 32767 = 0 (unsaturated: 33)
    # n1: one saturation of the exact sum: sat(32767 + 100 - 100) = 32767: spike -> 0
    #     (saturating after each term would give 32667 and no spike)
    # n2: v1 = 32767 >= -100: spike, reset subtract sat(32767 + 100) = 32767
    assert res.spikes[:3].tolist() == [True, True, True]
    assert st.v[:3].tolist() == [0, 0, 32767]


def test_v_saturates_low():
    core = make_core(threshold=0)
    st, p = core.state, core.params
    st.v[:2] = [-32700, -32768]
    p.bias[:2] = [-100, -100]
    p.alpha_mem[1] = HALF
    core.step()
    # n0: sat(-32800) = -32768; n1: trunc(-32768 / 2) - 100 = -16484
    assert st.v[:2].tolist() == [-32768, -16484]
    core.step()
    # n0 stays at the bottom; n1: trunc(-16484 / 2) - 100 = -8342
    assert st.v[:2].tolist() == [-32768, -8342]


def test_i_saturates_both_ends():
    core = make_core()
    st = core.state
    st.ref[:] = 5                               # hold v: only I moves (and keeps integrating)
    st.i[:5] = [32760, -32760, 32767, -32768, -32768]
    core.weights[0, :5] = [127, -128, 100, -100, 0]
    core.weights[1, :5] = [0, 0, -100, 100, 0]
    core.params.alpha_syn[4] = HALF
    core.step([0, 1])
    # n0: 32760 + 127 -> 32767; n1: -32760 - 128 -> -32768
    # n2/n3: the exact sum +100 - 100 = 0 is added once: stay at the bounds (per-source
    #        saturation would give 32667 / -32668); n4: trunc(-32768 / 2) = -16384
    assert st.i[:5].tolist() == [32767, -32768, 32767, -32768, -16384]
    assert st.v[:5].tolist() == [0] * 5
    assert st.ref[:5].tolist() == [4] * 5


def test_decay_of_negative_values():
    core = make_core()
    st, p = core.state, core.params
    st.v[:4] = [-1, -3, 3, -4097]
    p.alpha_mem[:4] = [HALF, HALF, HALF, 4095]
    st.ref[4:] = 3                               # neurons 4..7: look at I only
    st.i[4:] = [-1, -3, -5, 5]
    p.alpha_syn[4:] = [HALF, HALF, 4095, 4095]
    core.step()
    assert st.v[:4].tolist() == [0, -1, 1, -4095]
    # -0.5 -> 0, -1.5 -> -1, -5 * 4095 / 4096 = -4.9988 -> -4, +4.9988 -> 4
    assert st.i[4:].tolist() == [0, -1, -4, 4]

    # a negative potential decays all the way to 0 (a floor would stick at -1)
    core = make_core(alpha_mem=HALF)
    core.state.v[0] = -100
    trail = []
    for _ in range(8):
        core.step()
        trail.append(int(core.state.v[0]))
    assert trail == [-50, -25, -12, -6, -3, -1, 0, 0]


def test_refractory_exact_ticks():
    core = make_core(threshold=10, bias=10, v_reset=5)
    p = core.params
    p.refractory[:4] = [2, 0, 1, 255]
    p.bias[4] = 0                                # neuron 4: I integrates while refractory
    core.state.ref[4] = 2
    core.weights[0, 4] = 20
    v0, ref0, i4 = [], [], []
    raster = []
    for t in range(260):
        res = core.step([0] if t == 0 else None)
        raster.append(res.spikes.copy())
        v0.append(int(core.state.v[0]))
        ref0.append(int(core.state.ref[0]))
        i4.append(int(core.state.i[4]))
    raster = np.array(raster)
    # refractory R: spike at t, sit out t+1 .. t+R, spike again at t+R+1
    assert np.flatnonzero(raster[:12, 0]).tolist() == [0, 3, 6, 9]
    assert np.flatnonzero(raster[:6, 1]).tolist() == [0, 1, 2, 3, 4, 5]
    assert np.flatnonzero(raster[:8, 2]).tolist() == [0, 2, 4, 6]
    assert np.flatnonzero(raster[:, 3]).tolist() == [0, 256]
    # v held at v_reset (no bias) while refractory; the counter runs down 2, 1, 0
    assert v0[:4] == [5, 5, 5, 5] and ref0[:4] == [2, 1, 0, 2]
    # neuron 4: refractory in ticks 0 and 1, yet I took the input at tick 0 (no decay), and
    # at tick 2 v1 = 0 + 20 >= 10 fires
    assert i4[:3] == [20, 20, 20]
    assert raster[:3, 4].tolist() == [False, False, True]


def test_refractory_holds_v_then_integrates():
    core = make_core(threshold=10_000)
    st = core.state
    st.ref[0], st.v[0] = 2, 7
    core.weights[0, 0] = 20
    vs = []
    for t in range(4):
        core.step([0] if t == 0 else None)
        vs.append(int(st.v[0]))
    # ticks 0, 1 refractory: v held at 7; tick 2: 7 + 20 (I kept, no decay); tick 3: 27 + 20
    assert vs == [7, 7, 27, 47]
    assert st.ref[0] == 0


def test_reset_modes():
    core = make_core(threshold=10)
    p, st = core.params, core.state
    p.bias[:3] = [25, 25, 35]
    p.v_reset[:3] = [-7, -7, -7]
    p.reset_subtract[:3] = [0, 1, 1]
    core.step()
    # to value: -7; subtract: 25 - 10 = 15, 35 - 10 = 25
    assert st.v[:3].tolist() == [-7, 15, 25]
    core.step()
    # -7 + 25 = 18 -> -7; 15 + 25 = 40 -> 30; 25 + 35 = 60 -> 50
    assert st.v[:3].tolist() == [-7, 30, 50]


def test_bias():
    core = make_core()
    p, st = core.params, core.state
    p.bias[:5] = [3, 3, -3, -3, 3]
    p.alpha_mem[[1, 3]] = HALF
    st.ref[4] = 2                                # bias is not added while refractory
    trail = []
    for _ in range(4):
        core.step()
        trail.append(st.v[:5].tolist())
    assert [t[0] for t in trail] == [3, 6, 9, 12]
    assert [t[1] for t in trail] == [3, 4, 5, 5]      # trunc(v / 2) + 3
    assert [t[2] for t in trail] == [-3, -6, -9, -12]
    assert [t[3] for t in trail] == [-3, -4, -5, -5]  # trunc(-1.5) - 3 = -4, trunc(-2) - 3
    assert [t[4] for t in trail] == [0, 0, 3, 6]


def test_spike_handover_and_counters():
    core = make_core(alpha_mem=0, alpha_syn=0, threshold=100)
    core.weights[0, 0] = 100                    # input 0 makes neuron 0 fire in the same tick
    core.weights[M + 0, 1] = 100                # neuron 0's spike reaches neuron 1 a tick later
    res = core.step([0, 3])
    assert res.spikes.tolist() == [True] + [False] * 7
    assert (res.delivered, res.syn_events) == (2, 2 * 8)
    assert core.state.spikes.tolist() == [False] * M + [True] + [False] * 7  # inputs consumed
    res = core.step()
    assert res.spikes.tolist() == [False, True] + [False] * 6
    assert (res.delivered, res.syn_events) == (1, 8)
    res = core.step()
    assert not res.spikes.any() and res.delivered == 1 and core.ticks == 3


# -- STDP ----------------------------------------------------------------------------------------

def test_weight_clipping_both_bounds():
    core = make_core(threshold=1, bias=1)      # every neuron fires every tick ...
    core.params.threshold[1:4] = 10_000         # ... except neurons 1, 2, 3
    core.stdp = stdp(w_min=-10, w_max=10, pre_jump=100, a_plus=256, a_minus=256)
    w, pl, st = core.weights, core.plastic, core.state
    w[0, :4] = [5, 5, 5, 50]
    pl[0, :2] = True                            # (0, 2), (0, 3) are not plastic
    st.y[1] = 100
    w[1, 4:6] = [50, -50]                       # out of range, plastic, source 1 silent
    pl[1, 4:6] = True
    core.step([0])
    # (0,0): y = 0 so no depression; post spike: 5 + scale(100, 1.0) = 105 -> clip 10
    # (0,1): pre delivered, y = 100: 5 - 100 -> clip -10
    # (0,2), (0,3): not plastic, unchanged even outside the range
    assert w[0, :4].tolist() == [10, -10, 5, 50]
    # (1,4), (1,5): step scale(x=0) = 0: source 1 is not listed for potentiation, so they are
    # not visited and stay out of range (numerics.md step 6); a zero depression step still
    # clips (test_core.py test_clip_with_zero_step_and_inverted_bounds)
    assert w[1, 4:6].tolist() == [50, -50]


def test_weight_clip_w_min_above_w_max():
    core = make_core(threshold=1, bias=1)
    core.stdp = stdp(w_min=5, w_max=-5, pre_jump=10, a_plus=256, a_minus=0)
    core.weights[0, :3] = [0, -100, 100]
    core.plastic[0, :3] = True
    core.step([0])
    # clip = min(max(w, 5), -5) = -5 whatever w is
    assert core.weights[0, :3].tolist() == [-5, -5, -5]


def test_same_tick_pre_and_post_depression_first():
    core = make_core(threshold=1, bias=1)
    core.stdp = stdp(w_min=-5, w_max=100, alpha_pre=HALF, alpha_post=HALF,
                     pre_jump=30, post_jump=7, a_plus=256, a_minus=128)
    core.plastic[0, 0] = True
    core.state.y[0] = 40
    core.step([0])
    # traces: y = 40 / 2 = 20; x = 0 / 2 + 30 = 30
    # depression first: 0 - scale(20, 0.5) = -10 -> clip -5; then potentiation with the causal
    # pre (x after this tick's jump): -5 + 30 = 25 (potentiation first would give 20)
    assert core.weights[0, 0] == 25
    assert core.state.x[0] == 30 and core.state.y[0] == 20 + 7


def test_same_tick_post_jump_after_depression_and_causal_pre():
    core = make_core(threshold=1, bias=1)
    core.stdp = stdp(pre_jump=30, post_jump=50, a_plus=0, a_minus=256)
    core.plastic[0, 0] = True
    core.step([0])
    # y is 0 when depression runs (its jump comes after): no change
    assert core.weights[0, 0] == 0 and core.state.y[0] == 50

    core = make_core(threshold=1, bias=1)
    core.stdp = stdp(pre_jump=30, post_jump=50, a_plus=256, a_minus=0)
    core.plastic[0, 0] = True
    core.step([0])
    # the pre delivered in the same tick counts as causal: + scale(30, 1.0)
    assert core.weights[0, 0] == 30


def test_plasticity_off_per_synapse():
    core = make_core(threshold=1, bias=1)
    core.stdp = stdp(pre_jump=20, a_plus=128)
    core.plastic[0, 0] = True                   # (0, 1) stays fixed
    core.weights[0, :2] = [3, 3]
    core.step([0])
    assert core.weights[0, :2].tolist() == [3 + 10, 3]


def test_plasticity_off_globally_traces_evolve():
    core = make_core(threshold=1, bias=1)
    core.stdp = stdp(enable=0, alpha_pre=HALF, alpha_post=HALF, pre_jump=30, post_jump=7,
                     a_plus=256, a_minus=256)
    core.plastic[:] = True
    core.weights[0, :] = 4
    core.state.y[:] = 40
    core.step([0])
    assert (core.weights[0] == 4).all() and (core.weights[1:] == 0).all()
    assert core.state.x[:M].tolist() == [30, 0, 0, 0]
    assert (core.state.y == 20 + 7).all()       # decay then post jump, with STDP off
    core.step()
    # x0: 30 / 2 = 15; neuron sources were delivered this tick: 0 + 30; y: 27 / 2 = 13, + 7
    assert core.state.x[:M].tolist() == [15, 0, 0, 0]
    assert (core.state.x[M:] == 30).all()
    assert (core.state.y == 13 + 7).all()
    assert (core.weights[0] == 4).all() and (core.weights[1:] == 0).all()


def test_trace_saturation():
    core = make_core(threshold=1, bias=1)
    core.stdp = stdp(enable=0, pre_jump=200, post_jump=200)
    core.step([0])
    core.step([0])
    assert core.state.x[0] == 255 and (core.state.y == 255).all()   # 200 + 200 -> 255


# -- memory words --------------------------------------------------------------------------------

RAGGED = CoreConfig(n_neurons=6, n_inputs=3, weights_per_word=4, name="ragged")


def test_unused_lanes_read_zero_ignore_writes():
    core = Core(RAGGED)
    assert RAGGED.words_per_row == 2            # row word 1 holds neurons 4, 5 + 2 unused lanes
    core.write_words(Region.WEIGHTS, 3, [0xFFFF_FFFF])      # row 1, word 1: all lanes -1
    assert core.weights[1].tolist() == [0, 0, 0, 0, -1, -1]
    assert core.read_words(Region.WEIGHTS, 3, 1) == [0x0000_FFFF]
    core.write_words(Region.WEIGHTS, 3, [0x7F7F_0000])      # only the unused lanes
    assert core.weights[1].tolist() == [0] * 6
    assert core.read_words(Region.WEIGHTS, 3, 1) == [0]
    core.write_words(Region.PLASTIC, 3, [0b1111])
    assert core.plastic[1].tolist() == [False] * 4 + [True, True]
    assert core.read_words(Region.PLASTIC, 3, 1) == [0b0011]
    # a full word: lanes 0..3 = 1, -2, 3, -128 -> bytes 01 FE 03 80
    core.weights[1, :4] = [1, -2, 3, -128]
    assert core.read_words(Region.WEIGHTS, 2, 1) == [0x8003_FE01]


def test_inject_validation():
    core = Core(TINY)
    for bad in ([-1], [M], [0, 99]):
        with pytest.raises(ValueError, match="out of range"):
            core.inject(bad)
    assert not core.state.spikes.any()          # a refused list sets nothing
    with pytest.raises(ValueError, match="shape"):
        core.inject(np.zeros(M + 1, bool))
    core.inject([0])
    core.inject(np.array([False, True, False, False]))
    core.inject(np.array([], np.int64))
    assert core.state.spikes.tolist() == [True, True] + [False] * (TINY.n_sources - 2)


def test_known_words():
    core = Core(TINY)
    # NEURON_STATE: v(16) | i(16) << 16 | ref(8) << 32
    core.write_words(Region.NEURON_STATE, 2, [0x2_0005_FFFD])
    assert (core.state.v[2], core.state.i[2], core.state.ref[2]) == (-3, 5, 2)
    # NEURON_PARAMS: threshold @0, v_reset @16, bias @32, refractory @48, alpha_mem @56,
    # alpha_syn @69, reset_subtract @82
    word = 100 | 0xFFFF << 16 | 3 << 48 | 4096 << 56 | 1 << 82
    core.write_words(Region.NEURON_PARAMS, 7, [word])
    p = core.params
    assert [int(getattr(p, f)[7]) for f in ("threshold", "v_reset", "bias", "refractory",
                                           "alpha_mem", "alpha_syn", "reset_subtract")] == \
        [100, -1, 0, 3, 4096, 0, 1]
    # STDP_PARAMS: enable @0, a_plus @1, a_minus @17, pre_jump @33, post_jump @41,
    # alpha_pre @49, alpha_post @62, w_min @75, w_max @83
    word = 1 | 300 << 1 | 200 << 17 | 9 << 33 | 8 << 41 | 4000 << 49 | 4096 << 62 \
        | 0x80 << 75 | 0x7F << 83
    core.write_words(Region.STDP_PARAMS, 0, [word])
    assert core.stdp == STDPParams(1, 300, 200, 9, 8, 4000, 4096, -128, 127)
    assert core.read_words(Region.STDP_PARAMS, 0, 1) == [word]
    core.write_words(Region.SPIKES, 5, [1])
    assert np.flatnonzero(core.state.spikes).tolist() == [5]


def test_known_words_optional_features():
    cfg = TINY.replace(inh_current=True, theta_width=10)
    core = Core(cfg)
    # NEURON_STATE: v @0, i @16, ref @32, then i_inh(16) @40, theta(10) @56
    core.write_words(Region.NEURON_STATE, 1, [0x3FF << 56 | 0xFFF0 << 40 | 1 << 32 | 7])
    st = core.state
    assert (st.v[1], st.i[1], st.ref[1], st.i_inh[1], st.theta[1]) == (7, 0, 1, -16, 1023)
    # NEURON_PARAMS: the 83 bits of before, then alpha_inh(13) @83, theta_jump(10) @96,
    # alpha_theta(13) @106
    word = 4096 << 83 | 513 << 96 | 2048 << 106
    core.write_words(Region.NEURON_PARAMS, 0, [word])
    p = core.params
    assert (p.alpha_inh[0], p.theta_jump[0], p.alpha_theta[0]) == (4096, 513, 2048)
    assert core.read_words(Region.NEURON_PARAMS, 0, 1) == [word]


CONFIGS = [TINY, preset("narrow"), RAGGED, TINY.replace(name="tiny_ei", inh_current=True),
           preset("narrow").replace(name="narrow_theta", theta_width=7, inh_current=True)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.name)
def test_round_trip_every_region(cfg):
    seed = 1234 + cfg.n_neurons
    rng = np.random.default_rng(seed)
    core = Core(cfg)
    lays = layouts(cfg)
    for region in regions(cfg):
        lay, n = lays[region], region_words(cfg, region)
        if not n:       # an optional feature's region, off here
            continue
        words = []
        for a in range(n):
            vals = {}
            for f in lay.fields:
                lo, hi = ((-(1 << (f.width - 1)), (1 << (f.width - 1)) - 1) if f.signed
                          else (0, (1 << f.width) - 1))
                vals[f.name] = int(rng.integers(lo, hi, endpoint=True))
            if region in (Region.WEIGHTS, Region.PLASTIC):
                first = (a % cfg.words_per_row) * cfg.weights_per_word
                for k in range(cfg.weights_per_word):
                    if first + k >= cfg.n_neurons:
                        vals[lay.fields[k].name] = 0    # unused lanes read back 0
            words.append(lay.pack(vals))
        core.write_words(region, 0, words)
        assert core.read_words(region, 0, n) == words, f"{region.name} seed={seed}"
        # and in pieces, at an offset
        assert core.read_words(region, n - 1, 1) == words[-1:], region.name
    core.check()


def test_check_errors():
    core = Core(TINY)
    core.check()                                # all zero fits
    cases = [
        (lambda c: c.params.threshold.__setitem__(3, 40000),
         r"NEURON_PARAMS\.threshold\[3\] = 40000 outside -32768\.\.32767"),
        (lambda c: c.params.alpha_mem.__setitem__(0, 8192),
         r"NEURON_PARAMS\.alpha_mem\[0\] = 8192 outside 0\.\.8191"),
        (lambda c: c.state.ref.__setitem__(1, -1),
         r"NEURON_STATE\.ref\[1\] = -1 outside 0\.\.255"),
        (lambda c: c.state.i.__setitem__(2, -32769), r"NEURON_STATE\.i\[2\] = -32769"),
        (lambda c: c.weights.__setitem__((2, 3), 128),
         r"WEIGHTS\.w0\[\d+\] = 128 outside -128\.\.127"),
        (lambda c: c.state.x.__setitem__(11, 256), r"PRE_TRACE\.x\[11\] = 256 outside 0\.\.255"),
        (lambda c: c.state.y.__setitem__(0, -1), r"POST_TRACE\.y\[0\] = -1"),
        (lambda c: setattr(c.stdp, "a_plus", 65536), r"STDP_PARAMS\.a_plus\[0\] = 65536"),
        (lambda c: setattr(c.stdp, "w_max", -129), r"STDP_PARAMS\.w_max\[0\] = -129"),
    ]
    for spoil, message in cases:
        core = Core(TINY)
        spoil(core)
        with pytest.raises(ValueError, match=message):
            core.check()


def test_run_raster_and_resets():
    core = make_core(threshold=100, alpha_syn=0)
    core.weights[0, 0] = 100
    with pytest.raises(ValueError, match=r"shape \(3, 4\)"):
        core.run(3, np.zeros((3, M + 1), bool))
    inputs = np.zeros((3, M), bool)
    inputs[1, 0] = True
    raster = core.run(3, inputs)
    assert raster.shape == (3, 8) and np.argwhere(raster).tolist() == [[1, 0]]
    core.state.x[0] = 5
    core.reset_state()                          # state cleared, configuration kept
    assert not core.state.v.any() and not core.state.x.any() and not core.state.spikes.any()
    assert core.weights[0, 0] == 100 and core.params.threshold[0] == 100
    core.stdp = stdp(a_plus=3)
    core.plastic[0, 0] = True
    core.state.v[0] = 9
    core.reset_config()                         # configuration cleared, state kept
    assert not core.weights.any() and not core.plastic.any() and core.stdp == STDPParams()
    assert not core.params.threshold.any() and core.state.v[0] == 9


# -- optional features: adaptive threshold, inhibitory current ---------------------------------

THETA = TINY.replace(theta_width=8, name="tiny_theta")
EI = TINY.replace(inh_current=True, name="tiny_ei")


def test_theta_jump_lengthens_intervals():
    core = make_core(THETA, threshold=10, bias=10, theta_jump=5, alpha_theta=ONE)
    raster = core.run(15)
    # after k spikes theta = 5k and v climbs by 10 a tick from 0: the next spike needs
    # 10m >= 10 + 5k, m = ceil(1 + k/2) ticks: spikes at 0, 2, 4, 7, 10, 14
    assert np.flatnonzero(raster[:, 0]).tolist() == [0, 2, 4, 7, 10, 14]
    assert core.state.theta[0] == 30


def test_theta_decays_every_tick_compare_sees_decayed():
    core = make_core(THETA, alpha_theta=HALF)
    p, st = core.params, core.state
    st.theta[:6] = [100, 20, 250, 64, 8, 0]
    # neuron 1: theta 20 decays to 10 before the compare: v1 = 15 >= 5 + 10 fires (it would
    # not against the undecayed 20), then theta = 10 + 3
    p.threshold[1], p.bias[1], p.theta_jump[1] = 5, 15, 3
    # neuron 2: saturation at 8 bits: 250 (no decay) + 10 -> 255, and stays there
    p.alpha_theta[2], p.threshold[2], p.theta_jump[2] = ONE, -1000, 10
    # neuron 3: refractory for 2 ticks, theta decays all the same
    st.ref[3] = 2
    # neuron 4: reset by subtraction takes off the effective threshold: 25 - (10 + 8)
    p.alpha_theta[4], p.threshold[4], p.bias[4], p.reset_subtract[4] = ONE, 10, 25, 1
    # neuron 5: a zero jump leaves theta at 0: the threshold is today's
    p.threshold[5], p.bias[5], p.theta_jump[5] = 7, 7, 0
    res = core.step()
    assert res.spikes[:6].tolist() == [False, True, True, False, True, True]
    assert st.theta[:6].tolist() == [50, 13, 255, 32, 8, 0]
    assert st.v[4] == 7 and st.v[1] == 0
    res = core.step()
    # neuron 1: 13 // 2 = 6 (a floor: theta >= 0); v1 = 0 + 15 >= 5 + 6 fires again: 6 + 3
    assert res.spikes[1] and st.theta[:4].tolist() == [25, 9, 255, 16]
    assert st.ref[3] == 0
    for want in (12, 6, 3, 1, 0, 0):
        core.step()
        assert st.theta[0] == want


def test_theta_ignored_when_off():
    on, off = make_core(THETA, threshold=10, bias=10), make_core(TINY, threshold=10, bias=10)
    for core in (on, off):
        core.params.theta_jump[:] = 0 if core is on else 7      # off: parameters are ignored
        core.state.theta[:] = 0
    assert np.array_equal(on.run(20), off.run(20))
    assert not off.state.theta.any() and len(layouts(TINY)[Region.NEURON_STATE].fields) == 3


def test_inhibitory_current_separate_decay():
    core = make_core(EI, alpha_syn=HALF, alpha_inh=ONE)
    core.weights[:3, 0] = [20, -8, 5]
    vs, cur = [], []
    for t in range(3):
        core.step([0, 1, 2] if t == 0 else None)
        vs.append(int(core.state.v[0]))
        cur.append((int(core.state.i[0]), int(core.state.i_inh[0])))
    # tick 0: i1 = 20 + 5 = 25, h1 = -8, v = 17, i := trunc(12.5) = 12, i_inh := -8
    # tick 1: v = 17 + 12 - 8 = 21, i := 6; tick 2: v = 21 + 6 - 8 = 19, i := 3
    assert vs == [17, 21, 19]
    assert cur == [(12, -8), (6, -8), (3, -8)]


def test_inhibitory_current_saturates_separately():
    ei, single = make_core(EI, threshold=32767), make_core(TINY, threshold=32767)
    for core in (ei, single):
        core.weights[0, 0], core.weights[1, 0] = 100, -100
        core.state.i[0] = 32700
        core.step([0, 1])
    # one current: 32700 + 100 - 100 = 32700; two: sat(32800) = 32767 and -100
    assert single.state.v[0] == 32700 and single.state.i[0] == 32700
    assert ei.state.v[0] == 32667 and (ei.state.i[0], ei.state.i_inh[0]) == (32767, -100)
    # a negative weight never enters i, a positive one never i_inh
    ei.state.i[:] = ei.state.i_inh[:] = 0
    ei.weights[:] = 0
    ei.weights[2, 1], ei.weights[3, 2] = -5, 9
    ei.step([2, 3])
    assert ei.state.i[1:3].tolist() == [0, 9] and ei.state.i_inh[1:3].tolist() == [-5, 0]
