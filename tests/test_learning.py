"""Plasticity rules on the golden model (docs/numerics.md, "Plasticity rules, stochastic
rounding, modulation"): the generator, the rule update, the order of draws, statistics of
stochastic rounding against the float rule, the soft-bound equilibrium, modulation, and the
LEARN region over the protocol."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from spikeloom.proto import protocol as P
from spikeloom.proto.config import CoreConfig
from spikeloom.proto.cycles import fired_words
from spikeloom.proto.memmap import Region, layouts, n_rules, region_words, regions
from spikeloom.proto.protocol import Frame, Opcode, Status
from spikeloom.sim.device import GoldenDevice
from spikeloom.sim.model import Core, RuleParams
from spikeloom.sim.rules import modulation_factor, xorshift32

F = 12
ALPHA20 = 3896                  # round(exp(-1/20) * 2**12): tau = 20 ticks


def core(cfg):
    return Core(cfg, engine="reference")


# -- the generator --------------------------------------------------------------------------------

def test_xorshift32_is_marsaglias_and_zero_stays_zero():
    """Marsaglia (2003), xorshift32 with shifts 13, 17, 5 from his seed 2463534242: the first
    output is 723471715. The state is the last draw; zero is a fixed point."""
    draws, state = xorshift32(2463534242, 3)
    assert draws[0] == 723471715
    assert state == draws[-1] and len(set(draws.tolist())) == 3
    again, _ = xorshift32(int(draws[0]), 2)
    assert again.tolist() == draws[1:].tolist()
    zero, z = xorshift32(0, 4)
    assert zero.tolist() == [0, 0, 0, 0] and z == 0


def test_modulation_factor_is_the_signed_low_half():
    assert [modulation_factor(w) for w in (0, 256, 0xFF00, 0x7FFF, 0x8000, 0x1_0100)] == \
        [0, 256, -256, 32767, -32768, 256]


# -- layouts -------------------------------------------------------------------------------------

def test_rule_layouts_and_learn_region():
    one = CoreConfig(n_neurons=8, n_inputs=4)
    three = one.replace(rule_bits=2)
    assert Region.LEARN not in regions(one) and region_words(one, Region.LEARN) == 0
    assert Region.LEARN in regions(three) and region_words(three, Region.LEARN) == 2
    assert region_words(three, Region.STDP_PARAMS) == n_rules(three) == 3
    assert region_words(one.replace(rule_bits=3), Region.STDP_PARAMS) == 7
    lay1, lay3 = layouts(one), layouts(three)
    assert lay3[Region.PLASTIC].field("p0").width == 2 and lay1[Region.PLASTIC].width == 4
    names = [f.name for f in lay3[Region.STDP_PARAMS].fields]
    assert names == [f.name for f in lay1[Region.STDP_PARAMS].fields] + \
        ["soft", "stochastic", "modulated"]


# -- helpers: a core whose post spikes are Poisson ------------------------------------------------

def paired_core(seed_cfg: dict, rule: RuleParams, *, n=16, w0=0, rule_bits=2):
    """``n`` neurons; input ``k`` (the driver) makes neuron ``k`` fire in the tick it is
    delivered, input ``n + k`` is neuron ``k``'s one plastic synapse (rule 1), too weak to
    fire it alone: pre and post spike trains are exactly the inputs the test draws."""
    cfg = CoreConfig(n_neurons=n, n_inputs=2 * n, w_width=10, trace_width=12, stdp_frac=16,
                     weights_per_word=4, rule_bits=rule_bits, **seed_cfg)
    c = core(cfg)
    c.params.threshold[:] = 300
    c.params.alpha_mem[:] = 0           # no memory: v = this tick's input
    c.params.alpha_syn[:] = 0
    k = np.arange(n)
    c.weights[k, k] = 511               # driver (static)
    c.weights[n + k, k] = w0
    c.plastic[n + k, k] = 1
    c.rules[0] = rule
    c.lfsr = 12345
    return c


def run_pairs(c, ticks, p_post, p_pre, rng):
    """Run with Bernoulli(p) drivers and pre inputs; per tick the integer traces at the
    events, to compute what each update should be."""
    n = c.cfg.n_neurons
    events = []                          # (post?, neuron, trace) per update
    xf = np.zeros(n)
    yf = np.zeros(n)
    a = c.rules[0].alpha_pre / 2 ** F
    jump = c.rules[0].pre_jump
    float_drift = np.zeros(n)
    w_min = w_max = c.weights[n + np.arange(n), np.arange(n)].copy()
    for _ in range(ticks):
        post = rng.random(n) < p_post
        pre = rng.random(n) < p_pre
        y_before = c.state.y.copy()
        c.step(np.concatenate([post, pre]))
        # integer traces the update used: x after the pre jump, y decayed before the post jump
        x = c.state.x[n:2 * n]
        y_dec = (y_before * c.rules[0].alpha_post) >> F
        for k in np.flatnonzero(pre):
            events.append((False, k, int(y_dec[k])))
        for k in np.flatnonzero(post):
            events.append((True, k, int(x[k])))
        # the float rule on the same spikes
        yf *= a
        xf = xf * a + jump * pre
        float_drift -= np.where(pre, yf, 0) * c.rules[0].a_minus / 2 ** 16
        float_drift += np.where(post, xf, 0) * c.rules[0].a_plus / 2 ** 16
        yf += jump * post
        assert max(xf.max(), yf.max()) < 4095, "a trace saturated: the float rule would differ"
        w = c.weights[n + np.arange(n), np.arange(n)]
        w_min, w_max = np.minimum(w_min, w), np.maximum(w_max, w)
    return events, float_drift, (w_min, w_max)


RULE = RuleParams(enable=1, a_plus=333, a_minus=350, pre_jump=600, post_jump=600,
                  alpha_pre=ALPHA20, alpha_post=ALPHA20, w_min=-500, w_max=500)


@pytest.mark.parametrize("stochastic", [1, 0])
def test_stochastic_rounding_is_unbiased_and_floor_is_not(stochastic):
    """16 synapses, Bernoulli pre (0.02) and post (0.06) trains, 3000 ticks, generator seed
    12345, spike seed 7. Each update's exact step is q / 2^16 (q = trace * rate); stochastic
    rounding makes the applied step differ by e, E[e] = 0, |e| < 1, so Var(e) <= 1/4 and the
    sum over n updates lies within 5 * sqrt(n) / 2 of the exact sum. The floor is the exact
    sum of floored steps, biased by about (depressions - potentiations) / 2."""
    c = paired_core({}, dataclasses.replace(RULE, stochastic=stochastic))
    n = c.cfg.n_neurons
    w0 = c.weights[n + np.arange(n), np.arange(n)].copy()
    events, float_drift, (lo, hi) = run_pairs(c, 3000, 0.06, 0.02, np.random.default_rng(7))
    assert lo.min() > RULE.w_min and hi.max() < RULE.w_max, "a weight hit a bound"
    drift = c.weights[n + np.arange(n), np.arange(n)] - w0
    exact = sum((1 if post else -1) * tr * (RULE.a_plus if post else RULE.a_minus) / 2 ** 16
                for post, _, tr in events)
    count = len(events)
    assert count > 3000
    bound = 5 * np.sqrt(count) / 2
    if stochastic:
        assert abs(drift.sum() - exact) < bound, (drift.sum(), exact, bound)
    else:
        floors = sum((1 if post else -1) * (tr * (RULE.a_plus if post else RULE.a_minus) >> 16)
                     for post, _, tr in events)
        assert drift.sum() == floors
        assert abs(floors - exact) > 2 * bound, "the floor should be visibly biased here"
    # the float rule on the same spikes: the integer traces lag their float twins by less
    # than E = 1 / (1 - a) (docs/numerics.md, truncation bound), one-sided per update
    if stochastic:
        e_lag = 1 / (1 - ALPHA20 / 2 ** F)
        ups = sum(1 for e in events if e[0])
        lo_tol = ups * RULE.a_plus / 2 ** 16 * e_lag + bound
        hi_tol = (count - ups) * RULE.a_minus / 2 ** 16 * e_lag + bound
        gap = drift.sum() - float_drift.sum()
        assert -lo_tol < gap < hi_tol, (gap, lo_tol, hi_tol)


def test_small_steps_move_weights_only_with_stochastic_rounding():
    """An expected step of 0.005 * w_max floors to zero without stochastic rounding (the
    failure issue 16 describes); with it the weights move and the mean step is right."""
    # trace 255 * a_plus / 2^16 = 0.005 * 127 = 0.635 units per post spike (8-bit weights)
    cfg = CoreConfig(n_neurons=8, n_inputs=8, stdp_frac=16, rule_bits=2)
    moved = {}
    for stochastic in (0, 1):
        c = core(cfg)
        a_plus = round(0.005 * 127 * 2 ** 16 / 255)
        c.rules[0] = RuleParams(enable=1, a_plus=a_plus, pre_jump=255, post_jump=0,
                                alpha_pre=0, alpha_post=0, w_min=-127, w_max=127,
                                stochastic=stochastic)
        c.lfsr = 99
        c.plastic[:8, :] = 1
        c.params.threshold[:] = -1          # every neuron fires every tick
        for _ in range(200):
            c.step(np.ones(8, bool))        # every input: x = 255 at each post spike
        moved[stochastic] = c.weights[:8].astype(float)
    assert np.all(moved[0] == 0)
    mean_step = moved[1].mean() / 200
    # 64 synapses x 200 updates of expected step 0.63538..: rounding noise sigma <= 1/2 per
    # update, so the mean over 12800 updates is within 5 * 0.5 / sqrt(12800) = 0.022
    assert abs(mean_step - 255 * a_plus / 2 ** 16) < 0.022


def test_soft_bound_weights_settle_at_the_equilibrium():
    """Multiplicative rule, equal Bernoulli(0.05) pre and post rates: E[x] at a post spike
    is J p / (1 - a), E[y] at a pre spike a times that, so the expected drift vanishes at
    w* = (c+ w_max + a c- w_min) / (c+ + a c-) (trace truncation shifts it by less than the
    tolerance: the lag E = 20.5 units of ~600). Weights started at both bounds meet there."""
    rule = dataclasses.replace(RULE, soft=1, stochastic=1, a_plus=3000, a_minus=2000,
                               w_min=-400, w_max=400)
    a = ALPHA20 / 2 ** F
    w_star = (rule.a_plus * rule.w_max + a * rule.a_minus * rule.w_min) / \
        (rule.a_plus + a * rule.a_minus)
    finals = []
    for w0 in (-400, 400):
        c = paired_core({}, rule, w0=w0)
        n = c.cfg.n_neurons
        rng = np.random.default_rng(11)
        samples = []
        for t in range(4000):
            c.step(np.concatenate([rng.random(n) < 0.05, rng.random(n) < 0.05]))
            if t >= 2000:
                samples.append(c.weights[n + np.arange(n), np.arange(n)].mean())
        finals.append(np.mean(samples))
    # the stationary spread of one weight is ~ step / sqrt(2 * reversion): step ~ c x range /
    # 2^W ~ 3, reversion ~ (c+ + c-) E[x] / 2^W ~ 0.15 per event: ~5 units; 16 weights and
    # 2000 correlated samples: the time-mean is within ~4 units; 3% of the range is allowed
    for f in finals:
        assert abs(f - w_star) < 0.03 * (rule.w_max - rule.w_min), (finals, w_star)


# -- rules, modulation, order of draws -------------------------------------------------------------

def random_rules_core(seed, *, rule_bits=2, n=8, m=4, wpw=4, ticks=60):
    rng = np.random.default_rng(seed)
    cfg = CoreConfig(n_neurons=n, n_inputs=m, weights_per_word=wpw, stdp_frac=12,
                     rule_bits=rule_bits)
    c = core(cfg)
    c.params.threshold[:] = rng.integers(20, 80, n)
    c.params.alpha_mem[:] = 3500
    c.params.alpha_syn[:] = 2000
    c.params.refractory[:] = rng.integers(0, 3, n)
    c.weights[:] = rng.integers(-40, 90, (cfg.n_sources, n))
    c.plastic[:] = rng.integers(0, n_rules(cfg) + 1, (cfg.n_sources, n))
    for r in range(n_rules(cfg)):
        c.rules[r] = RuleParams(enable=int(rng.random() < 0.9), a_plus=int(rng.integers(0, 3000)),
                                a_minus=int(rng.integers(0, 3000)), pre_jump=120, post_jump=100,
                                alpha_pre=3700, alpha_post=3600,
                                w_min=int(rng.integers(-60, 0)), w_max=int(rng.integers(10, 100)),
                                soft=int(rng.integers(0, 2)), stochastic=int(rng.integers(0, 2)),
                                modulated=int(rng.integers(0, 2)))
    c.lfsr = int(rng.integers(1, 2 ** 32))
    c.modulation = int(rng.integers(-300, 300)) & 0xFFFF
    return c, rng.random((ticks, m)) < 0.3


def test_one_additive_rule_is_the_plasticity_bit():
    """rule_bits = 2 with rule 1 additive, deterministic, unmodulated on the plastic synapses
    gives exactly the weights of the one-rule core (same STDP word, plastic bit = rule 1)."""
    c2, inputs = random_rules_core(3)
    rule = dataclasses.replace(c2.rules[0], enable=1, soft=0, stochastic=0, modulated=0)
    c2.rules[0] = rule
    c2.plastic[c2.plastic > 1] = 0
    c1 = core(c2.cfg.replace(rule_bits=1))
    c1.params, c1.weights = dataclasses.replace(c2.params), c2.weights.copy()
    c1.plastic = c2.plastic == 1
    c1.stdp = dataclasses.replace(
        c1.stdp, **{f.name: getattr(rule, f.name) for f in dataclasses.fields(c1.stdp)})
    assert c1.stdp.enable and c1.plastic.any()
    before = c1.weights.copy()
    for t in range(len(inputs)):
        s1, s2 = c1.step(inputs[t]).spikes, c2.step(inputs[t]).spikes
        assert np.array_equal(s1, s2) and np.array_equal(c1.weights, c2.weights), t
    assert not np.array_equal(before, c1.weights), "no weight changed: the test is empty"


def test_draw_count_follows_the_walks():
    """The generator advances by P * words_per_row * wpw + L * Fw * wpw draws in a tick when any
    rule is enabled (L listed sources, Fw fired words: docs/numerics.md), and not at all when
    none is."""
    c, inputs = random_rules_core(5, n=7, wpw=4)
    cfg = c.cfg
    walked = 0
    for t in range(len(inputs)):
        before = c.lfsr
        delivered = int(c.state.spikes.sum()) + int(inputs[t].sum())
        res = c.step(inputs[t])
        words = fired_words(cfg, res.spikes)
        en = any(r.enable for r in c.rules)
        count = en * (delivered * cfg.words_per_row * cfg.weights_per_word
                      + res.listed * words * cfg.weights_per_word)
        walked += en * res.listed * words
        assert c.lfsr == xorshift32(before, count)[1], t
    assert walked, "no potentiation walk ran: the test is empty"
    c.rules = [dataclasses.replace(r, enable=0) for r in c.rules]
    before = c.lfsr
    c.step(np.ones(cfg.n_inputs, bool))
    assert c.lfsr == before


def test_modulation_scales_and_reverses_the_rule():
    """A modulated deterministic rule with m = 256 (1.0) learns exactly as the unmodulated
    rule; m = -256 moves every weight the other way by the same steps (away from the bounds);
    m = 0 freezes it."""
    rule = RuleParams(enable=1, a_plus=100, a_minus=80, pre_jump=120, post_jump=100,
                      alpha_pre=3700, alpha_post=3600, w_min=-120, w_max=120)

    def run(modulated, m):
        c, inputs = random_rules_core(8, ticks=10)
        c.weights[:] = np.clip(c.weights, -30, 30)
        c.rules = [rule if r == 0 else dataclasses.replace(rule, enable=0) for r in range(3)]
        c.rules[0] = dataclasses.replace(rule, modulated=modulated)
        c.plastic[:] = c.plastic > 0
        c.modulation = m & 0xFFFF
        # spike trains the weights cannot change: bias +-5000 outweighs any 12 rows of +-120
        n = c.cfg.n_neurons
        c.params.threshold[:] = 1000
        c.params.bias[:] = np.where(np.arange(n) % 3 == 1, -5000, 5000)
        c.params.alpha_mem[:] = c.params.alpha_syn[:] = 0
        c.params.refractory[:] = np.arange(n) % 4
        w0 = c.weights.copy()
        for t in range(len(inputs)):
            c.step(inputs[t])
        return c.weights - w0
    plain, unit, neg, zero = run(0, 0), run(1, 256), run(1, -256), run(1, 0)
    assert np.array_equal(plain, unit) and plain.any()
    assert not zero.any()
    # with 30 ticks from |w| <= 30 no weight reaches a bound of +-120: the steps just flip
    assert np.array_equal(neg, -plain)


# -- the LEARN region over the protocol ------------------------------------------------------------

def _ask(dev, op, payload=b""):
    got = P.Deframer(max_payload=1 << 16).feed(dev.feed(P.encode_frame(Frame(op, 1, 0, payload))))
    assert len(got) == 1
    return got[0][0]


def test_learn_region_exists_only_with_rules():
    """Without rules LEARN answers BAD_REGION (reads and writes); with them its two words are
    written and read back, and RESET CONFIG clears them while RESET STATE does not."""
    one = CoreConfig(n_neurons=8, n_inputs=4, clock_hz=1_000_000, baud=100_000)
    words = (4660).to_bytes(4, "little") + (0xFF00).to_bytes(4, "little")
    write = P.WRITE_REQ.pack(region=Region.LEARN, addr=0) + words
    read = P.READ_REQ.pack(region=Region.LEARN, addr=0, count=2)
    dev = GoldenDevice(one, engine="reference")
    assert _ask(dev, Opcode.WRITE, write).status == Status.BAD_REGION
    assert _ask(dev, Opcode.READ, read).status == Status.BAD_REGION
    dev = GoldenDevice(one.replace(rule_bits=2), engine="reference")
    assert _ask(dev, Opcode.WRITE, write).status == Status.OK
    assert _ask(dev, Opcode.READ, read).payload == words
    assert modulation_factor(dev.core.modulation) == -256 and dev.core.lfsr == 4660
    assert _ask(dev, Opcode.RESET, bytes([1])).status == Status.OK
    assert _ask(dev, Opcode.READ, read).payload == words
    assert _ask(dev, Opcode.RESET, bytes([2])).status == Status.OK
    assert _ask(dev, Opcode.READ, read).payload == bytes(8)


def test_gateware_refuses_several_rules_on_spram():
    """The rule learner does not fit the UP5K: the spram core refuses rule_bits > 1 with a
    clear message; the dual-port core builds it (tests/test_rules_core.py runs it)."""
    from spikeloom.hdl.core import Core as RTLCore
    cfg = CoreConfig(n_neurons=8, n_inputs=4, rule_bits=2)
    with pytest.raises(ValueError, match="rule_bits = 2 needs weight_store='dual'"):
        RTLCore(cfg, weight_store="spram")
    RTLCore(cfg)._MustUse__silence = True


# -- randomized invariants (a few seeds here, SPIKELOOM_SEEDS with -m regress) ------------------

def _invariants(seed):
    c, inputs = random_rules_core(seed, rule_bits=2 + seed % 2, n=6 + seed % 5, m=3 + seed % 4,
                                  wpw=1 + seed % 4, ticks=40)
    w_start = c.weights.copy()
    touched = np.zeros(c.weights.shape, bool)
    for t in range(len(inputs)):
        before = c.weights.copy()
        c.step(inputs[t])
        touched |= c.weights != before
    rule = c.plastic
    # static synapses and synapses of disabled rules never change
    frozen = (rule == 0) | np.isin(rule, [k + 1 for k, r in enumerate(c.rules) if not r.enable])
    assert not touched[frozen].any()
    # a synapse that moved lies inside its rule's bounds
    for k, r in enumerate(c.rules, start=1):
        moved = touched & (rule == k)
        w = c.weights[moved]
        assert np.all((w >= r.w_min) | (r.w_min > r.w_max)) and np.all(w <= r.w_max), k
    return w_start, c


@pytest.mark.parametrize("seed", range(3))
def test_rules_keep_static_synapses_and_bounds(seed):
    _invariants(seed)


@pytest.mark.regress
def test_rules_keep_static_synapses_and_bounds_many_seeds():
    from core_harness import seed_count
    for seed in range(3, 3 + seed_count()):
        _invariants(seed)


def _fast_twin(ref):
    """A fast-engine Core holding exactly ``ref``'s parameters, rules, weights and state."""
    fast = Core(ref.cfg, engine="fast")
    assert fast.engine == "fast"
    fast.params = dataclasses.replace(ref.params)
    fast.rules = list(ref.rules)
    fast.weights, fast.plastic = ref.weights.copy(), ref.plastic.copy()
    fast.lfsr, fast.modulation = ref.lfsr, ref.modulation
    return fast


@pytest.mark.parametrize("seed", range(4))
def test_fast_engine_equals_the_reference_with_rules(seed):
    """The numba engine implements the rules: same spikes, weights, traces and generator state
    after every tick (step) and after a compiled run of many ticks (run)."""
    ref, inputs = random_rules_core(40 + seed, rule_bits=2 + seed % 2, n=5 + seed, m=3 + seed,
                                    wpw=1 + seed % 4, ticks=50)
    fast = _fast_twin(ref)
    w0 = ref.weights.copy()
    for t in range(25):
        a, b = ref.step(inputs[t]).spikes, fast.step(inputs[t]).spikes
        assert np.array_equal(a, b), t
        assert np.array_equal(ref.weights, fast.weights), t
        assert np.array_equal(ref.state.x, fast.state.x) and np.array_equal(ref.state.y,
                                                                            fast.state.y), t
        assert ref.lfsr == fast.lfsr, t
    raster_ref = ref.run(25, inputs[25:])
    raster_fast = fast.run(25, inputs[25:])
    assert np.array_equal(raster_ref, raster_fast)
    assert np.array_equal(ref.weights, fast.weights) and ref.lfsr == fast.lfsr
    assert not np.array_equal(w0, ref.weights), "no rule learned: the comparison is empty"
