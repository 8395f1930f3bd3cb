"""Several plasticity rules in the gateware (``rule_bits > 1``, issue 16): the core against the
golden model, tick by tick, on seeded random networks.

Each network has two or three rules drawn at random (additive or soft bound, deterministic or
stochastic rounding, modulated or not, some disabled), rule indices on random synapses (padding
lanes included: the sizes are not multiples of the word), a non-zero generator seed, and a
modulation factor rewritten before some ticks (positive, negative and zero). After every tick
the spike stream, v, i, traces, every weight, the generator state (LEARN word 0: the number of
draws, numerics.md "Order of draws") and ``last_tick_cycles`` against
``proto.cycles.tick_cycles`` must agree exactly; the configuration regions are compared after
loading and at the end.
"""

import numpy as np
import pytest
from core_harness import Harness, first_difference, random_network, seed_count, snapshot_of_model
from spikeloom.proto.config import CoreConfig
from spikeloom.proto.cycles import RULE_LATENCY, tick_cycles
from spikeloom.proto.memmap import Region, n_rules, region_words
from spikeloom.sim.model import RuleParams

# ragged sizes (padding lanes draw too), two rules / three rules, 12 fractional rate bits
TWO = CoreConfig(n_neurons=10, n_inputs=5, weights_per_word=4, stdp_frac=12, rule_bits=2,
                 name="rules2", clock_hz=1_000_000, baud=100_000)
THREE = TWO.replace(n_neurons=7, n_inputs=6, weights_per_word=2, rule_bits=3, w_width=7,
                    trace_width=9, stdp_frac=10, name="rules3")
# the rules next to delays, theta and exc/inh currents; one word per row and a small G
FEATURES = TWO.replace(delay_bits=2, theta_width=8, inh_current=True, name="rules_features")
ONE_WORD = TWO.replace(n_neurons=4, n_inputs=3, stdp_frac=3, name="rules_one_word")


def rules_network(cfg, seed, ticks):
    """random_network's neurons and weights with random rules, rule indices, seed and a
    modulation schedule ((ticks,) LEARN word 1 values, or -1 = keep)."""
    model, inputs = random_network(cfg, seed, ticks)
    rng = np.random.default_rng([seed, 61])
    nr = n_rules(cfg)
    wlo, whi = -(1 << (cfg.w_width - 1)), (1 << (cfg.w_width - 1)) - 1
    tmax = (1 << cfg.trace_width) - 1
    one = 1 << cfg.decay_frac
    plastic = rng.integers(1, nr + 1, model.weights.shape)
    model.plastic[:] = np.where(rng.random(plastic.shape) < rng.uniform(0.3, 0.9), plastic, 0)
    amax = 1 << 16
    for r in range(nr):
        lo, hi = sorted(int(v) for v in rng.integers(wlo, whi + 1, 2))
        small = rng.random() < 0.3      # rates below one weight step: listing and rounding
        top = 1 << max(cfg.stdp_frac - 4, 1) if small else amax
        model.rules[r] = RuleParams(
            enable=int(r == 0 or rng.random() < 0.85),
            a_plus=int(rng.integers(0, top)), a_minus=int(rng.integers(0, top)),
            pre_jump=int(rng.integers(tmax // 4, tmax + 1)),
            post_jump=int(rng.integers(tmax // 4, tmax + 1)),
            alpha_pre=int(rng.integers(one // 2, one + 1)),
            alpha_post=int(rng.integers(one // 2, one + 1)),
            w_min=lo, w_max=hi,
            soft=int(rng.integers(0, 2)), stochastic=int(rng.integers(0, 2)),
            modulated=int(rng.integers(0, 2)))
    model.lfsr = int(rng.integers(1, 1 << 32))
    model.modulation = int(rng.integers(-512, 512)) & 0xFFFF
    mods = np.full(ticks, -1, np.int64)
    change = rng.random(ticks) < 0.3
    choice = rng.choice([0, 1, 2], ticks)               # zero, positive, negative
    value = np.select([choice == 0, choice == 1],
                      [0, rng.integers(1, 1024, ticks)], -rng.integers(1, 1024, ticks))
    # bits 16..31 are stored and ignored
    mods[change] = (value[change] & 0xFFFF) | (rng.integers(0, 1 << 16, ticks)[change] << 16)
    model.check()
    return model, inputs, mods


async def _config_words(drv, cfg):
    return {r: await drv.read(r) for r in (Region.PLASTIC, Region.STDP_PARAMS, Region.LEARN)}


def _model_config_words(model, cfg):
    return {r: [int(w) for w in model.read_words(r, 0, region_words(cfg, r))]
            for r in (Region.PLASTIC, Region.STDP_PARAMS, Region.LEARN)}


async def rules_lockstep(drv, model, inputs, mods, *, seed, load=True):
    """Load (unless not ``load``), then tick both and compare everything after every tick
    (module docstring)."""
    cfg = drv.cfg
    if load:
        await drv.load(model)
    assert await _config_words(drv, cfg) == _model_config_words(model, cfg), "after load"
    stats = {"listed": 0, "cycles": 0, "draws": 0, "pot_ticks": 0}
    for t, row in enumerate(np.asarray(inputs, bool), start=1):
        if mods[t - 1] >= 0:
            await drv.write(Region.LEARN, 1, [int(mods[t - 1])])
            model.modulation = int(mods[t - 1])
        idx = np.flatnonzero(row)
        for a in idx:
            await drv.write(Region.SPIKES, int(a), [1])
        model.inject(idx)
        en = model.learning_enabled
        lfsr0 = model.lfsr
        out = model.step()
        rec = await drv.tick(drain_during=seed % 2 == 0)
        fired = np.flatnonzero(out.spikes).tolist()
        assert rec.fired == fired, f"seed {seed} tick {t}: spikes rtl={rec.fired} model={fired}"
        snap = await drv.snapshot(full=False)
        diff = first_difference(snapshot_of_model(model), snap, cfg, tick=t, seed=seed)
        assert diff is None, diff
        (state,) = await drv.read(Region.LEARN, 0, 1)
        assert state == model.lfsr, f"seed {seed} tick {t}: generator state rtl={state:#x} " \
                                    f"model={model.lfsr:#x}"
        want = tick_cycles(cfg, out.delivered, out.spikes, en, listed=out.listed)
        got = rec.status["last_tick_cycles"]
        assert got == want, f"seed {seed} tick {t}: last_tick_cycles rtl={got} model={want}"
        stats["listed"] += out.listed
        stats["cycles"] += got
        stats["draws"] += lfsr0 != model.lfsr
        stats["pot_ticks"] += bool(en and out.listed and fired)
    assert await _config_words(drv, cfg) == _model_config_words(model, cfg), "at the end"
    return stats


def run_rules(cfg, seed, ticks, platform=None):
    model, inputs, mods = rules_network(cfg, seed, ticks)
    start = model.weights.copy()

    async def script(drv):
        return await rules_lockstep(drv, model, inputs, mods, seed=seed)
    stats = Harness(cfg, platform=platform).run(script)
    stats["moved"] = int((model.weights != start).sum())
    return stats


@pytest.mark.parametrize("cfg,seed", [(TWO, 1), (TWO, 103), (THREE, 3), (FEATURES, 4)],
                         ids=["two-1", "two-103", "three", "features"])
def test_rules_lockstep(cfg, seed):
    """Two and three rules (and with delays, theta, two currents), 25 ticks each: everything
    equal every tick, and the walks ran (weights moved, the generator advanced, POT ran)."""
    stats = run_rules(cfg, seed, 25)
    assert stats["moved"] and stats["draws"] and stats["pot_ticks"], stats


class _ECP5:
    """Stands in for an ECP5 platform (hdl.core.flag_pack, list_ram_attrs): one flag per word
    of the flags memory, written a lane at a time, and with rules a lane of ``dep`` is a trace,
    not a step: the memory plan of the ``ulx3s_85f_rules`` preset."""
    family = "ecp5"


def test_rules_lockstep_ecp5_packing():
    """Several rules with the ECP5 memory plan: bit- and cycle-exact like the iCE40 one (traces
    wider than weights, so a dep lane is not a weight's width)."""
    cfg = FEATURES.replace(w_width=6, trace_width=7, name="rules_features_ecp5")
    stats = run_rules(cfg, 5, 25, platform=_ECP5())
    assert stats["moved"] and stats["draws"] and stats["pot_ticks"], stats


def test_rule_listing_threshold_and_seed_reset():
    """The SCAN listing test by threshold (x * a_plus >= 2^G as x > (2^G - 1) // a_plus) at
    its edges: one enabled deterministic additive rule at a time, a_plus rewritten between
    phases (17: listed from x = 241; 16: never, 8-bit x; 4095: from x = 2; 4096: from 1; 0:
    never) with x held around the thresholds; then RESET STATE keeps the LEARN words and
    RESET CONFIG zeroes them and the rules."""
    from spikeloom.proto.protocol import ResetFlags
    cfg = TWO
    model, inputs, mods = rules_network(cfg, 5, 4)
    one = 1 << cfg.decay_frac
    mods[:] = -1
    xs = np.array([0, 1, 2, 239, 240, 241, 254, 255])

    async def script(drv):
        await drv.load(model)
        for a in (17, 16, 4095, 4096, 0):
            for r in range(n_rules(cfg)):
                model.rules[r] = RuleParams(enable=int(r == a % 3), a_plus=a, a_minus=a,
                                            pre_jump=0, post_jump=1, alpha_pre=one,
                                            alpha_post=one, w_min=-100, w_max=100)
            model.state.x[:] = xs[np.arange(cfg.n_sources) % xs.size]
            await drv.write(Region.STDP_PARAMS, 0,
                            model.read_words(Region.STDP_PARAMS, 0, n_rules(cfg)))
            await drv.write(Region.PRE_TRACE, 0, model.read_words(Region.PRE_TRACE, 0,
                                                                  cfg.n_sources))
            await rules_lockstep(drv, model, inputs, mods, seed=5, load=False)
        await drv.clear(int(ResetFlags.STATE))
        assert await drv.read(Region.LEARN) == [model.lfsr, model.modulation]
        await drv.clear(int(ResetFlags.CONFIG))
        assert await drv.read(Region.LEARN) == [0, 0]
        assert not any(await drv.read(Region.STDP_PARAMS))
    Harness(cfg).run(script)


def test_cycle_formula_has_the_drain():
    """With rules a potentiation walk costs RULE_LATENCY more clocks; one rule: unchanged."""
    one = TWO.replace(rule_bits=1)
    base = tick_cycles(one, 2, [0], True, listed=2)
    assert tick_cycles(TWO, 2, [0], True, listed=2) == base + RULE_LATENCY
    assert tick_cycles(TWO, 2, [0], True, listed=0) == tick_cycles(one, 2, [0], True, listed=0)


@pytest.mark.regress
@pytest.mark.parametrize("cfg", [TWO, THREE, FEATURES, ONE_WORD],
                         ids=["two", "three", "features", "one_word"])
def test_rules_lockstep_regress(cfg):
    for seed in range(seed_count(20)):
        run_rules(cfg, 100 + seed, 60)
