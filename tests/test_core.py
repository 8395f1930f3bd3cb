"""The engine ``spikeloom.hdl.core.Core`` against the golden model, bit for bit, after every tick.

Every test runs ONE Amaranth simulation per network (tests/core_harness.py): load the model's
regions through ``mem_req``, inject inputs as SPIKES writes, strobe ``start``, wait for ``done``,
drain the spike stream, read every state region back and compare with ``spikeloom.sim.model``
(spike stream, V, I, refractory counters, traces, weights, the SPIKES bitmap; configuration
regions after loading and at the end), plus the status counters and ``last_tick_cycles ==
proto.cycles.tick_cycles(...)``. A failure names the seed, tick, variable and neuron/synapse.

Corner cases mirror the rules of docs/numerics.md; each one first runs the model alone and
asserts that the scenario really exercises its rule (so a test cannot silently test nothing).
"""

import copy
import dataclasses

import numpy as np
import pytest
from core_harness import (
    Harness,
    first_difference,
    lockstep,
    random_network,
    run_lockstep,
    seed_count,
    snapshot_of_model,
)
from spikeloom.proto.config import CoreConfig, preset
from spikeloom.proto.memmap import Region, layouts
from spikeloom.proto.protocol import ResetFlags
from spikeloom.sim.model import Core as Model
from spikeloom.sim.model import STDPParams

pytestmark = pytest.mark.rtl

TINY = preset("tiny")
NARROW = preset("narrow")
# unused weight lanes: 6 neurons in words of 4 lanes leave lanes 2, 3 of every row's 2nd word
RAGGED = CoreConfig(n_neurons=6, n_inputs=3, weights_per_word=4, w_width=5, trace_width=6,
                    refractory_width=3, clock_hz=1_000_000, baud=100_000, name="ragged")

ONE = 1 << TINY.decay_frac
VMAX, VMIN = (1 << 15) - 1, -(1 << 15)


def quiet(cfg: CoreConfig) -> Model:
    """A model with no decay, unreachable thresholds, STDP off: corner cases edit it."""
    m = Model(cfg)
    p = m.params
    p.threshold[:] = (1 << (cfg.v_width - 1)) - 1
    p.alpha_mem[:] = 1 << cfg.decay_frac
    p.alpha_syn[:] = 1 << cfg.decay_frac
    wmax = (1 << (cfg.w_width - 1)) - 1
    m.stdp = STDPParams(alpha_pre=1 << cfg.decay_frac, alpha_post=1 << cfg.decay_frac,
                        w_min=-wmax - 1, w_max=wmax)
    return m


def dry_run(model: Model, inputs) -> tuple[np.ndarray, list]:
    """Run a copy of the model: (spike raster, state after each tick, weights after each)."""
    m = copy.deepcopy(model)
    raster, states = [], []
    for row in inputs:
        raster.append(m.step(np.asarray(row, bool)).spikes)
        states.append((m.state.copy(), m.weights.copy()))
    return np.array(raster), states


def no_inputs(cfg, ticks):
    return np.zeros((ticks, cfg.n_inputs), bool)


def check(cfg, model, inputs, **kw):
    run_lockstep(cfg, model, inputs, **kw)


# -- corner cases ------------------------------------------------------------------------------

def test_threshold_equality():
    cfg = TINY
    m = quiet(cfg)
    p = m.params
    p.threshold[:] = 100
    p.bias[0], p.bias[1] = 100, 99          # v1 == threshold (spikes) / threshold - 1 (not yet)
    p.threshold[2], m.state.v[2] = -7, -7   # negative threshold reached exactly, no bias
    p.threshold[3], m.state.v[3] = 0, 0     # zero threshold, v == 0
    p.threshold[4], m.state.v[4] = 1, 0     # v = 0 < 1: never spikes
    p.v_reset[:] = -3
    inputs = no_inputs(cfg, 4)
    raster, _ = dry_run(m, inputs)
    assert raster[0, 0] and not raster[0, 1] and raster[1, 1]
    assert raster[0, 2] and raster[0, 3] and not raster[:, 4].any()
    check(cfg, m, inputs)


def test_v_saturation_both_ends_and_subtract_overflow():
    cfg = TINY
    m = quiet(cfg)
    p, st = m.params, m.state
    st.v[0], p.bias[0] = VMAX - 5, 1000             # saturates at VMAX, threshold = VMAX spikes
    p.reset_subtract[0] = 1                          # VMAX - VMAX = 0
    st.v[1], p.bias[1] = VMIN + 5, -1000            # saturates at VMIN and stays
    st.v[2], p.threshold[2], p.bias[2] = 30000, -30000, 0
    p.reset_subtract[2] = 1                          # v1 - threshold = 60000 -> saturate
    st.v[3], st.i[3], p.bias[3] = -30000, -30000, -30000   # sum far below VMIN
    p.threshold[3] = VMIN                            # and VMIN >= VMIN spikes
    p.reset_subtract[3] = 1                          # VMIN - VMIN = 0
    st.v[4], st.i[4], p.bias[4] = 30000, 30000, 30000    # saturates at VMAX, reset to value
    p.v_reset[4] = -1234
    inputs = no_inputs(cfg, 3)
    raster, states = dry_run(m, inputs)
    assert raster[0, 0] and raster[0, 2] and raster[0, 3] and raster[0, 4]
    assert states[0][0].v[1] == VMIN and states[0][0].v[2] == VMAX and states[0][0].v[4] == -1234
    check(cfg, m, inputs)


def test_i_saturation_once_after_exact_sum():
    cfg = TINY
    m = quiet(cfg)
    st = m.state
    m.weights[0, :] = 127
    m.weights[1, :] = -127
    m.weights[2, :4] = 127
    m.weights[3, :4] = -128
    m.weights[2, 4:] = -128
    m.weights[3, 4:] = 127
    st.i[0] = VMAX - 50       # +127 -127 exact sum 0: no intermediate saturation
    st.i[1] = VMIN + 50
    st.i[2] = VMAX - 10       # +127 saturates
    st.i[3] = VMIN + 10
    st.i[4] = VMAX
    st.i[5] = VMIN
    st.i[6], st.i[7] = VMAX - 1, VMIN + 1
    inputs = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 1], [0, 1, 1, 0], [0, 0, 0, 1],
                       [1, 1, 1, 1]], bool)
    _, states = dry_run(m, inputs)
    assert states[0][0].i[0] == VMAX - 50 and states[1][0].i[2] == VMAX
    check(cfg, m, inputs)


def test_decay_of_negative_values():
    cfg = TINY
    m = quiet(cfg)
    p, st = m.params, m.state
    p.alpha_mem[:] = [ONE - 1, ONE // 2, ONE // 2, 1, 0, ONE - 1, 3 * ONE // 4, ONE // 3]
    p.alpha_syn[:] = [ONE - 1, ONE // 2, ONE // 2, 1, 0, ONE // 3, 3 * ONE // 4, 0]
    st.v[:] = [-1, -4097, -4095, VMIN, -9, 1, 4097, -3]
    st.i[:] = [0, 0, -3, VMIN, 77, -1, -4097, VMAX]
    inputs = no_inputs(cfg, 6)
    _, states = dry_run(m, inputs)
    assert states[0][0].v[0] == 0 and states[0][0].i[5] == 0    # -1 decays to 0, not -1
    assert states[0][0].v[1] == -2048                            # toward zero, not floor
    check(cfg, m, inputs)


def test_decay_factors_above_one_saturate():
    """Factors above 2^F make values grow; decayed i and traces saturate to their widths, v
    once after the exact sum (numerics.md step 2)."""
    cfg = TINY
    m = quiet(cfg)
    p, st = m.params, m.state
    amax = 2 * ONE - 1
    p.alpha_mem[:] = [amax, amax, 6000, 5000, amax, ONE, ONE, ONE + 1]
    p.alpha_syn[:] = [ONE, amax, amax, 6000, ONE, amax, ONE, ONE + 1]
    st.v[:] = [30000, -30000, 20000, -20000, 30000, 100, 5, VMIN]
    st.i[:] = [-30000, 30000, -25000, 10000, 0, 30000, 7, VMAX]
    m.stdp = dataclasses.replace(m.stdp, alpha_pre=amax, alpha_post=6000, pre_jump=3)
    st.x[:] = np.arange(cfg.n_sources) * 20
    st.y[:] = np.arange(cfg.n_neurons) * 30
    inputs = np.zeros((4, cfg.n_inputs), bool)
    inputs[0, 1] = True
    _, states = dry_run(m, inputs)
    s0 = states[0][0]
    assert s0.v[0] == 29992 and s0.i[1] == VMAX and s0.x.max() == 255
    check(cfg, m, inputs)


def test_refractory_start_and_end():
    cfg = TINY
    m = quiet(cfg)
    p, st = m.params, m.state
    p.threshold[:] = 10
    p.bias[:] = 10
    p.refractory[:] = [0, 1, 2, 3, 255, 2, 0, 5]
    st.ref[:] = [0, 0, 0, 0, 0, 3, 1, 0]
    st.v[7] = -100            # gets there later
    st.i[:] = 5               # current keeps decaying while refractory
    p.alpha_syn[:] = ONE // 2
    inputs = no_inputs(cfg, 9)
    raster, _ = dry_run(m, inputs)
    assert raster[:, 0].all()
    assert raster[:, 2].tolist() == [1, 0, 0, 1, 0, 0, 1, 0, 0]   # spikes at t, sits out t+1..t+R
    assert raster[:, 4].sum() == 1 and raster[:, 5].tolist()[:4] == [0, 0, 0, 1]
    check(cfg, m, inputs)


def test_both_reset_modes():
    cfg = NARROW
    m = quiet(cfg)
    p = m.params
    n = cfg.n_neurons
    p.threshold[:] = 100
    p.bias[:] = np.arange(n) * 23 + 60
    p.reset_subtract[:] = np.arange(n) % 2
    p.v_reset[:] = np.arange(n) * 7 - 40
    p.alpha_mem[:] = ONE - np.arange(n) * 50
    inputs = no_inputs(cfg, 8)
    raster, states = dry_run(m, inputs)
    assert raster[:, 0::2].any() and raster[:, 1::2].any()
    check(cfg, m, inputs)


def _stdp_model(cfg, rng_seed=0):
    m = quiet(cfg)
    rng = np.random.default_rng(rng_seed)
    p = m.params
    p.threshold[:] = 60
    p.bias[:] = rng.integers(0, 40, cfg.n_neurons)
    p.refractory[:] = 1
    hi = (1 << (cfg.w_width - 1)) - 1
    tmax = (1 << cfg.trace_width) - 1
    m.weights[:] = rng.integers(-hi // 6, hi // 2, m.weights.shape)
    m.plastic[:] = True
    m.stdp = STDPParams(enable=1, a_plus=300, a_minus=280, pre_jump=tmax * 4 // 5,
                        post_jump=tmax * 7 // 10, alpha_pre=ONE * 7 // 8,
                        alpha_post=ONE * 6 // 8, w_min=-hi // 6, w_max=hi // 3)
    return m


def test_weight_clipping_both_bounds():
    cfg = TINY
    m = _stdp_model(cfg)
    m.weights[0, :] = 100       # outside [w_min, w_max]: clipped the first time they are touched
    m.weights[1, :] = -100
    inputs = np.tile(np.array([[1, 1, 0, 1], [0, 0, 1, 0]], bool), (5, 1))
    _, states = dry_run(m, inputs)
    w_all = np.array([w for _, w in states])
    assert (w_all == m.stdp.w_min).any() and (w_all == m.stdp.w_max).any()
    check(cfg, m, inputs)


def test_clip_with_zero_step_and_inverted_bounds():
    cfg = TINY
    m = _stdp_model(cfg, 1)
    m.stdp = dataclasses.replace(m.stdp, a_plus=0, a_minus=0)   # zero steps still clip
    m.weights[0, :] = 120
    m.weights[2, :] = -120
    inputs = np.zeros((6, cfg.n_inputs), bool)
    inputs[0, 0] = inputs[2, 2] = True
    _, states = dry_run(m, inputs)
    assert (states[0][1][0] == m.stdp.w_max).all()
    check(cfg, m, inputs)
    m2 = _stdp_model(cfg, 2)
    m2.stdp = dataclasses.replace(m2.stdp, w_min=10, w_max=-10)  # w_min > w_max: result w_max
    inputs2 = np.ones((4, cfg.n_inputs), bool)
    _, states2 = dry_run(m2, inputs2)
    assert (states2[-1][1][: cfg.n_inputs] == -10).all()
    check(cfg, m2, inputs2, seed=2)


def test_simultaneous_pre_and_post():
    cfg = TINY
    m = _stdp_model(cfg, 3)
    m.params.bias[:] = 100          # every neuron fires whenever not refractory
    m.params.refractory[:] = 0
    m.state.x[:] = 50
    m.state.y[:] = 70
    inputs = np.ones((5, cfg.n_inputs), bool)   # and every input is delivered with them
    raster, _ = dry_run(m, inputs)
    assert raster.all()
    check(cfg, m, inputs)


def test_plasticity_disabled_per_synapse_and_globally():
    cfg = NARROW
    rng = np.random.default_rng(5)
    m = _stdp_model(cfg, 5)
    m.plastic[:] = rng.random(m.plastic.shape) < 0.5
    m.weights[~m.plastic] = (1 << (cfg.w_width - 1)) - 1   # frozen, above w_max: stays put
    inputs = rng.random((8, cfg.n_inputs)) < 0.5
    _, states = dry_run(m, inputs)
    assert (states[-1][1][~m.plastic] == m.weights[~m.plastic]).all()
    assert (states[-1][1][m.plastic] != m.weights[m.plastic]).any()
    check(cfg, m, inputs, seed=5)
    g = _stdp_model(cfg, 6)
    g.stdp = dataclasses.replace(g.stdp, enable=0)   # traces evolve, no weight changes
    inputs = rng.random((8, cfg.n_inputs)) < 0.5
    raster, states = dry_run(g, inputs)
    assert raster.any() and (states[-1][1] == g.weights).all()
    assert (states[-1][0].y != 0).any()
    check(cfg, g, inputs, seed=6)


def test_unused_lanes_read_zero_and_ignore_writes():
    cfg = RAGGED
    lay_w, lay_p = layouts(cfg)[Region.WEIGHTS], layouts(cfg)[Region.PLASTIC]
    m = _stdp_model(cfg, 7)
    wpr = cfg.words_per_row

    async def script(drv):
        # garbage in lanes 2, 3 of the second word of every row, in both lane regions
        for row in range(cfg.n_sources):
            a = row * wpr + 1
            await drv.write(Region.WEIGHTS, a, [lay_w.pack({"w0": 1, "w1": -2, "w2": 9,
                                                            "w3": -7})])
            await drv.write(Region.PLASTIC, a, [lay_p.pack({"p0": 1, "p2": 1, "p3": 1})])
        words = await drv.read(Region.WEIGHTS)
        plast = await drv.read(Region.PLASTIC)
        for row in range(cfg.n_sources):
            a = row * wpr + 1
            assert lay_w.unpack(words[a]) == {"w0": 1, "w1": -2, "w2": 0, "w3": 0}, row
            assert lay_p.unpack(plast[a]) == {"p0": 1, "p1": 0, "p2": 0, "p3": 0}, row
        # then a whole plastic run: every snapshot re-checks that unused lanes read 0
        inputs = np.random.default_rng(7).random((10, cfg.n_inputs)) < 0.6
        return await lockstep(drv, m, inputs, seed=7)
    res = Harness(cfg).run(script)
    assert res.spikes > 0


def test_clear_flags():
    cfg = TINY
    m, inputs = random_network(cfg, 11, 12)
    m.stdp = dataclasses.replace(m.stdp, enable=1)

    async def script(drv):
        res = await lockstep(drv, m, inputs[:4], seed=11)
        base = (res.ticks, res.spikes, res.delivered * cfg.n_neurons)
        status = drv.status()
        assert (status["ticks"], status["spike_count"], status["syn_events"]) == base

        # STATE: state regions to 0, configuration and counters kept
        await drv.clear(ResetFlags.STATE)
        m.reset_state()
        diff = first_difference(snapshot_of_model(m), await drv.snapshot(), cfg, tick=4)
        assert diff is None, "after clear(STATE): " + diff
        assert drv.status()["ticks"] == base[0]
        # COUNTERS: status counters to 0, state and configuration kept
        m.state.v[:] = 5
        await drv.write(Region.NEURON_STATE, 0,
                        m.read_words(Region.NEURON_STATE, 0, cfg.n_neurons))
        await drv.clear(ResetFlags.COUNTERS)
        st = drv.status()
        assert (st["ticks"], st["spike_count"], st["syn_events"]) == (0, 0, 0), st
        diff = first_difference(snapshot_of_model(m), await drv.snapshot(), cfg, tick=4)
        assert diff is None, "after clear(COUNTERS): " + diff
        # the core still runs from the cleared state, counting from 0 again
        res2 = await lockstep(drv, m, inputs[4:8], seed=11)
        # CONFIG: parameters, weights, plasticity, STDP parameters to 0, state kept
        await drv.clear(ResetFlags.CONFIG)
        m.reset_config()
        diff = first_difference(snapshot_of_model(m), await drv.snapshot(), cfg, tick=8)
        assert diff is None, "after clear(CONFIG): " + diff
        # all three at once
        await drv.clear(ResetFlags.STATE | ResetFlags.CONFIG | ResetFlags.COUNTERS)
        m.reset_state()
        diff = first_difference(snapshot_of_model(m), await drv.snapshot(), cfg, tick=8)
        assert diff is None, "after clear(all): " + diff
        st = drv.status()
        assert (st["ticks"], st["spike_count"], st["syn_events"]) == (0, 0, 0), st
        m2, inputs2 = random_network(cfg, 12, 6)
        await lockstep(drv, m2, inputs2, seed=12)
        return res2
    Harness(cfg).run(script)


def test_start_while_busy_is_ignored_and_requests_wait():
    cfg = TINY
    m, inputs = random_network(cfg, 21, 3)
    m.state.spikes[:] = True        # a busy first tick

    async def script(drv):
        await drv.load(m)
        rec = await drv.tick(extra_start_at=3)
        m.step()
        assert rec.status["ticks"] == 1, rec.status
        assert not drv.ctx.get(drv.dut.busy)
        # a request presented during a tick is accepted only after done, with the new state
        ctx, dut = drv.ctx, drv.dut
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.mem_req.valid, 1)
        ctx.set(drv._req_payload, drv._pack_req(Region.NEURON_STATE, 0, 0, 0))
        ctx.set(dut.mem_rsp.ready, 1)
        seen_done = False
        word = None
        for _ in range(100_000):
            _, _, ready, done, rvalid, rdata = await ctx.tick().sample(
                dut.mem_req.ready, dut.done, dut.mem_rsp.valid, dut.mem_rsp.payload)
            seen_done |= bool(done)
            if ready:
                assert seen_done or done, "mem_req accepted while the tick was running"
                ctx.set(dut.mem_req.valid, 0)
            if rvalid:
                word = rdata
                break
        m.step()
        fired, count = await drv.drain_spikes()
        assert fired == np.flatnonzero(m.state.spikes[cfg.n_inputs:]).tolist()
        assert word == m.read_words(Region.NEURON_STATE, 0, 1)[0]
        diff = first_difference(snapshot_of_model(m), await drv.snapshot(), cfg, tick=2)
        assert diff is None, diff
    Harness(cfg).run(script)


# -- seeded random networks --------------------------------------------------------------------

RANDOM_TICKS = 50
SEEDS = range(20)
# Budget (make test, one core): tiny networks read every weight after every tick; narrow ones
# (176 weight words) read the plastic words of the tick's delivered rows and fired columns every
# tick and all words every NARROW_WEIGHTS_EVERY ticks. The regress tests read all, every tick.
NARROW_WEIGHTS_EVERY = 5


@pytest.mark.parametrize("seed", SEEDS)
def test_random_tiny(seed):
    model, inputs = random_network(TINY, seed, RANDOM_TICKS)
    run_lockstep(TINY, model, inputs, seed=seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_narrow(seed):
    model, inputs = random_network(NARROW, 1000 + seed, RANDOM_TICKS)
    run_lockstep(NARROW, model, inputs, seed=1000 + seed, weights_every=NARROW_WEIGHTS_EVERY)


@pytest.mark.parametrize("cfg,seed", [(TINY, 100), (TINY, 101), (TINY, 102), (TINY, 103),
                                      (NARROW, 100), (NARROW, 101)],
                         ids=["tiny-100", "tiny-101", "tiny-102", "tiny-103", "narrow-100",
                              "narrow-101"])
def test_random_spram(cfg, seed):
    model, inputs = random_network(cfg, seed, RANDOM_TICKS)
    run_lockstep(cfg, model, inputs, seed=seed, weight_store="spram",
                 weights_every=1 if cfg is TINY else NARROW_WEIGHTS_EVERY)


def test_random_ragged():
    model, inputs = random_network(RAGGED, 77, RANDOM_TICKS)
    run_lockstep(RAGGED, model, inputs, seed=77)


def test_random_networks_are_lively():
    """The generator makes networks that spike, learn and saturate (else the RTL comparison
    above would test little)."""
    fired = learned = 0
    for seed in SEEDS:
        model, inputs = random_network(TINY, seed, RANDOM_TICKS)
        raster, states = dry_run(model, inputs)
        fired += raster.any(axis=0).sum()
        learned += (states[-1][1] != model.weights).any()
    assert fired > len(SEEDS) * TINY.n_neurons // 3
    assert learned > len(SEEDS) // 2


# -- optional features: adaptive threshold, inhibitory current ---------------------------------

THETA = TINY.replace(theta_width=8, name="tiny_theta")
EI = TINY.replace(inh_current=True, name="tiny_ei")
BOTH = NARROW.replace(theta_width=7, inh_current=True, name="narrow_both")
FEATURES = {c.name: c for c in (THETA, EI, BOTH, TINY.replace(theta_width=16, inh_current=True,
                                                              name="tiny_both"))}


def test_theta_rules():
    """Decay before the compare, the compare against threshold + theta, jumps, saturation at
    theta_width, decay while refractory, reset by subtraction of threshold + theta."""
    cfg = THETA
    m = quiet(cfg)
    p, st = m.params, m.state
    p.alpha_theta[:] = ONE // 2
    st.theta[:6] = [100, 20, 250, 64, 8, 0]
    p.threshold[1], p.bias[1], p.theta_jump[1] = 5, 15, 3      # fires on the decayed 10 only
    p.alpha_theta[2], p.threshold[2], p.theta_jump[2] = ONE, -1000, 10   # saturates at 255
    st.ref[3] = 2
    p.alpha_theta[4], p.threshold[4], p.bias[4], p.reset_subtract[4] = ONE, 10, 25, 1
    p.alpha_theta[5], p.threshold[5], p.bias[5], p.theta_jump[5] = ONE, 10, 10, 4
    p.alpha_theta[6], p.alpha_theta[7] = ONE + 500, 2 * ONE - 1      # growing, saturating
    st.theta[6:] = [200, 1]
    inputs = no_inputs(cfg, 12)
    raster, states = dry_run(m, inputs)
    assert raster[0, 1] and raster[:, 2].all() and raster[0, 4]
    assert states[0][0].theta[2] == 255 and states[0][0].v[4] == 25 - (10 + 8)
    assert np.flatnonzero(raster[:, 5]).tolist() == [0, 2, 4, 7, 10]
    assert states[-1][0].theta[6] == 255 and states[0][0].theta[7] == 1
    check(cfg, m, inputs)


def test_inhibitory_current_rules():
    """Positive weights into i, negative into i_inh, each saturated once and decayed by its own
    factor; a zero weight nowhere."""
    cfg = EI
    m = quiet(cfg)
    p, st = m.params, m.state
    p.alpha_syn[:] = ONE // 2
    p.alpha_inh[:] = ONE * 7 // 8
    p.alpha_inh[1] = 2 * ONE - 1                                 # growing: saturates
    p.threshold[2] = 40
    m.weights[:, :] = 0
    m.weights[0, :] = [100, -128, 50, 0, 127, -100, 0, 3]
    m.weights[1, :] = [-100, -128, -20, 0, 127, -100, 0, -3]
    m.weights[2, :] = [0, -128, 30, 0, 127, -100, 0, 0]
    m.weights[3, :] = [5, -128, 0, 0, 127, -100, 0, 0]
    st.i[4], st.i_inh[5], st.i_inh[6] = 32700, -32700, 9         # positive i_inh decays too
    inputs = np.zeros((10, cfg.n_inputs), bool)
    inputs[[0, 1, 2, 5], :] = True
    raster, states = dry_run(m, inputs)
    s0 = states[0][0]
    assert s0.i[4] == 32767 // 2 and s0.i_inh[5] == -32768 * 7 // 8
    # 4 x -128 = -512, times 8191 / 4096 = -1023.875, toward zero; it grows to the bound
    assert (s0.i[1], s0.i_inh[1]) == (0, -1023) and states[-1][0].i_inh[1] == -32768
    assert raster[:, 2].any() and (states[-1][0].i_inh != 0).any()
    check(cfg, m, inputs)


@pytest.mark.parametrize("name,seed,store", [
    ("tiny_theta", 0, "dual"), ("tiny_theta", 1, "spram"), ("tiny_ei", 0, "dual"),
    ("tiny_ei", 1, "spram"), ("tiny_both", 2, "dual"), ("narrow_both", 3, "dual")])
def test_random_features(name, seed, store):
    cfg = FEATURES[name]
    model, inputs = random_network(cfg, 2000 + seed, RANDOM_TICKS)
    run_lockstep(cfg, model, inputs, seed=2000 + seed, weight_store=store,
                 weights_every=NARROW_WEIGHTS_EVERY if cfg.n_neurons > 8 else 1)


def test_random_feature_networks_adapt_and_inhibit():
    """The generator's feature networks spike, move theta (up and down) and carry inhibitory
    current (else the comparisons above would test little)."""
    moved = inhibited = fired = 0
    for seed in range(6):
        for cfg in FEATURES.values():
            model, inputs = random_network(cfg, 2000 + seed, RANDOM_TICKS)
            theta0 = model.state.theta.copy()
            raster, states = dry_run(model, inputs)
            fired += raster.sum()
            if cfg.theta_width:
                th = np.array([s.theta for s, _ in states])
                moved += ((np.diff(th, axis=0) > 0).any() and (np.diff(th, axis=0) < 0).any()
                          and (th[0] != theta0).any())
            if cfg.inh_current:
                inhibited += (np.array([s.i_inh for s, _ in states]) < 0).any()
    assert moved >= 15 and inhibited >= 15 and fired > 500


DELAYS = {c.name: c for c in (preset("tiny_delay"),
                               NARROW.replace(delay_bits=2, name="narrow_delay"),
                               TINY.replace(delay_bits=6, name="tiny_delay64"))}


@pytest.mark.regress       # 30-80 s each; make test runs tests/test_core_smoke.py's delay cases
@pytest.mark.parametrize("name,seed,store", [
    ("tiny_delay", 0, "dual"), ("tiny_delay", 1, "spram"), ("narrow_delay", 2, "dual"),
    ("tiny_delay64", 3, "dual")])
def test_random_delays(name, seed, store):
    """Seeded random networks with per-synapse delays (both currents on tiny_delay, one weight
    per word on narrow_delay, the largest ring on tiny_delay64) in lockstep."""
    cfg = DELAYS[name]
    model, inputs = random_network(cfg, 3000 + seed, RANDOM_TICKS)
    assert len(np.unique(model.delays)) == 1 << cfg.delay_bits or cfg.delay_bits == 6
    run_lockstep(cfg, model, inputs, seed=3000 + seed, weight_store=store,
                 weights_every=NARROW_WEIGHTS_EVERY if cfg.n_neurons > 8 else 1)


# -- regression: many more seeds ---------------------------------------------------------------

REGRESS_CASES = [("tiny", "dual"), ("narrow", "dual"), ("tiny", "spram"), ("narrow", "spram"),
                 ("ragged", "dual"), ("tiny_theta", "dual"), ("tiny_ei", "spram"),
                 ("tiny_both", "dual"), ("narrow_both", "spram"), ("tiny_delay", "dual"),
                 ("tiny_delay", "spram"), ("narrow_delay", "dual"), ("tiny_delay64", "dual")]


@pytest.mark.regress
@pytest.mark.parametrize("case", REGRESS_CASES, ids=["-".join(c) for c in REGRESS_CASES])
@pytest.mark.parametrize("k", range(seed_count()))
def test_regress_random(case, k):
    name, store = case
    cfg = RAGGED if name == "ragged" else FEATURES.get(name) or DELAYS.get(name) or preset(name)
    seed = 50_000 + k
    model, inputs = random_network(cfg, seed, 60)
    run_lockstep(cfg, model, inputs, seed=seed, weight_store=store)


def test_first_difference_names_seed_tick_variable_and_neuron():
    """The compare helper's message (no RTL): seed, tick, variable, index, both values."""
    model, _ = random_network(NARROW, 3, 1)
    want = snapshot_of_model(model)
    got = snapshot_of_model(model)
    assert first_difference(want, got, NARROW, tick=7, seed=3) is None
    got.ref[4] += 1
    got.weights[NARROW.n_inputs + 2, 9] += 1
    msg = first_difference(want, got, NARROW, tick=7, seed=3)
    assert msg == (f"seed 3 tick 7: first difference in ref[neuron 4]: rtl={want.ref[4] + 1} "
                   f"model={want.ref[4]} (1 differing entries in ref)")
    got.ref[4] -= 1
    msg = first_difference(want, got, NARROW, tick=7, seed=3)
    assert msg.startswith("seed 3 tick 7: first difference in weights[source 7 (neuron 2), "
                          "neuron 9]: "), msg
    got.weights[NARROW.n_inputs + 2, 9] -= 1
    got.stdp["w_max"] -= 1
    assert "stdp.w_max" in first_difference(want, got, NARROW, tick=7, seed=3)
