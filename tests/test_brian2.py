"""Cross-checks of the integer golden model against Brian2's float simulation.

Brian2 simulates the float equations the integers stand for, with the same dt (one tick = 1 ms)
and the exact-integration mapping ``alpha / 2**F = exp(-dt / tau)``; the tolerances are derived
in docs/numerics.md ("Cross-checks against Brian2") and restated next to each assertion:

- LIF driven by a constant current (the bias): spike counts of the integer neuron lie between
  Brian2's counts at threshold ``theta`` and ``theta + 1/(1 - a)`` (the bound on the truncation
  error accumulated by the integer membrane); for a perfect integrator (no decay, nothing to
  round) the spike trains are identical, which pins the refractory and tick-order mapping.
- STDP pairing over dt = -20 .. 20 ticks: the integer weight change lies below Brian2's
  exponential window by at least 0 and less than ``c (1 - a^k) / (1 - a) + 1`` (c the rate).

Brian2 runs with numpy code generation (no compiler) in its own ``Network`` objects and an
empty namespace, so nothing leaks between tests.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from spikeloom.proto.config import CoreConfig
from spikeloom.proto.fixed import decay_factor
from spikeloom.sim.model import Core, STDPParams

# Brian2 2.9 still calls pyparsing's camelCase API (setResultsName, parseString, ...), which
# pyparsing 3.3 deprecates with PyparsingDeprecationWarning on every equation parse. That is
# Brian2's business, not ours; under filterwarnings=error it would fail every test here.
pytestmark = pytest.mark.filterwarnings("ignore::pyparsing.PyparsingDeprecationWarning")

DT_MS = 1.0


@pytest.fixture(scope="module")
def b2():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)     # the same pyparsing warnings
        try:
            import brian2
        except AttributeError as err:
            if "ptp" not in str(err):
                raise
            # Brian2 <= 2.9 reads np.ndarray.ptp, which numpy 2.4 removed (fixed in Brian2 2.10,
            # which needs a newer Python than ours): the environment needs numpy < 2.4
            pytest.skip(f"Brian2 cannot import with numpy {np.__version__} ({err}); "
                        "pin numpy<2.4 (2.3.5) in constraints.txt")
    saved = brian2.prefs.codegen.target
    brian2.prefs.codegen.target = "numpy"
    brian2.prefs.logging.file_log = False
    yield brian2
    brian2.prefs.codegen.target = saved


# -- (a) LIF under constant drive ----------------------------------------------------------------

THETA = 1000
REFRACTORY = 2
TICKS = 1000
BIASES = [10, 40, 48, 49, 50, 55, 60, 80, 120, 200, 400, 1000, 1500]
EPS = 1e-6      # margin for Brian2's float rounding (~1e-13 relative) at the thresholds


def integer_raster(alpha: int) -> np.ndarray:
    cfg = CoreConfig(n_neurons=len(BIASES), n_inputs=1)
    core = Core(cfg)
    p = core.params
    p.threshold[:] = THETA
    p.bias[:] = BIASES
    p.refractory[:] = REFRACTORY
    p.alpha_mem[:] = alpha
    p.alpha_syn[:] = 0
    return core.run(TICKS)


def isis(times) -> set:
    return set(np.diff(np.asarray(times)).tolist())


def test_lif_constant_drive_matches_brian2(b2):
    ms = b2.ms
    frac = 12
    alpha = decay_factor(20.0, DT_MS, frac)         # tau_mem = 20 ms -> 3896
    a = alpha / (1 << frac)
    tau = -DT_MS / math.log(a)                      # exact-integration mapping back: 19.976 ms
    e_max = 1 / (1 - a)                             # integer v lags the float v by less (20.48)
    n = len(BIASES)

    # three copies of the float neuron: threshold theta - eps (upper bound on the count),
    # theta + e_max + eps (lower bound), theta (the report)
    leaky = b2.NeuronGroup(
        3 * n, """dv/dt = (vinf - v) / tau : 1 (unless refractory)
                  vinf : 1 (constant)
                  tau : second (constant)
                  theta : 1 (constant)""",
        threshold="v >= theta", reset="v = 0",
        # integer: a spike at t sits out t+1 .. t+R. Brian2 counts the spike's own step as
        # refractory, so the same behaviour is refractory = (R + 1) dt (checked exactly below)
        refractory=(REFRACTORY + 1) * DT_MS * ms, method="exact", dt=DT_MS * ms)
    leaky.tau = tau * ms
    leaky.vinf = np.tile(np.array(BIASES, float) / (1 - a), 3)     # v_inf (1 - a) = bias
    leaky.theta = np.repeat([THETA - EPS, THETA + e_max + EPS, THETA], n)
    # perfect integrator: v += bias each tick, nothing is rounded on either side
    perfect = b2.NeuronGroup(
        n, """dv/dt = drive : 1 (unless refractory)
              drive : Hz (constant)""",
        threshold=f"v >= {THETA} - {EPS}", reset="v = 0",
        refractory=(REFRACTORY + 1) * DT_MS * ms, method="euler", dt=DT_MS * ms)
    perfect.drive = np.array(BIASES, float) / (DT_MS * ms)
    mon_l, mon_p = b2.SpikeMonitor(leaky), b2.SpikeMonitor(perfect)
    b2.Network(leaky, perfect, mon_l, mon_p).run(TICKS * DT_MS * ms, namespace={})

    def ticks_of(mon, k):
        return np.round(mon.spike_trains()[k] / (DT_MS * ms)).astype(int)

    # perfect integrator: identical spike trains, tick for tick
    raster = integer_raster(1 << frac)
    for k, bias in enumerate(BIASES):
        assert np.flatnonzero(raster[:, k]).tolist() == ticks_of(mon_p, k).tolist(), bias

    # leaky: count_B(theta + e_max) <= count_int <= count_B(theta); each integer inter-spike
    # interval lies between the float intervals at the two thresholds (every cycle restarts at
    # v = 0, so the bound holds cycle by cycle)
    raster = integer_raster(alpha)
    counts = mon_l.count[:]
    for k, bias in enumerate(BIASES):
        c_int = int(raster[:, k].sum())
        hi, lo = int(counts[k]), int(counts[n + k])
        assert lo <= c_int <= hi, (bias, lo, c_int, hi)
        t_int = np.flatnonzero(raster[:, k])
        if c_int >= 2 and lo >= 2:
            assert min(isis(ticks_of(mon_l, k))) <= min(isis(t_int))
            assert max(isis(t_int)) <= max(isis(ticks_of(mon_l, n + k)))
    # the bracket is not vacuous: well above rheobase (bias 48.8) the rates agree closely
    for k, bias in enumerate(BIASES):
        if bias >= 120:
            assert int(raster[:, k].sum()) == int(counts[2 * n + k]), bias


# -- (b) STDP window -----------------------------------------------------------------------------

DTS = list(range(-20, 21))
T_PAIR = 25                     # tick of the earlier spike of each pair


def pair_ticks(dt):
    """(pre tick, post tick) with post - pre = dt."""
    return (T_PAIR, T_PAIR + dt) if dt >= 0 else (T_PAIR - dt, T_PAIR)


def integer_window(cfg: CoreConfig, threshold: int, drive: int, stdp: STDPParams) -> np.ndarray:
    """Weight change of one plastic synapse per dt, all pairs in parallel: pair k uses input k
    (plastic, onto neuron k) and input K + k (fixed, strong enough to fire neuron k in the tick
    it is delivered: no decay of v or I, so nothing else fires it)."""
    k_pairs = len(DTS)
    core = Core(cfg)
    p = core.params
    p.threshold[:] = threshold
    p.alpha_mem[:] = 0
    p.alpha_syn[:] = 0
    idx = np.arange(k_pairs)
    core.weights[k_pairs + idx, idx] = drive
    core.plastic[idx, idx] = True
    core.stdp = stdp
    ticks = 2 * T_PAIR + 1
    inputs = np.zeros((ticks, cfg.n_inputs), bool)
    for k, dt in enumerate(DTS):
        t_pre, t_post = pair_ticks(dt)
        inputs[t_pre, k] = True
        inputs[t_post, k_pairs + k] = True
    raster = core.run(ticks, inputs)
    for k, dt in enumerate(DTS):       # each neuron fired exactly once, at its post tick
        assert np.flatnonzero(raster[:, k]).tolist() == [pair_ticks(dt)[1]], dt
    return core.weights[idx, idx].copy()


def brian2_window(b2, tau_pre_ms, tau_post_ms, a_plus, a_minus) -> np.ndarray:
    ms = b2.ms
    n = len(DTS)
    pre_t = [pair_ticks(dt)[0] * DT_MS for dt in DTS]
    post_t = [pair_ticks(dt)[1] * DT_MS for dt in DTS]
    pre = b2.SpikeGeneratorGroup(n, np.arange(n), pre_t * ms, dt=DT_MS * ms)
    post = b2.NeuronGroup(n, "t_fire : second (constant)", threshold="abs(t - t_fire) < 0.5*dt",
                          reset="", dt=DT_MS * ms)
    post.t_fire = post_t * ms
    # classic trace-based pair rule; on_pre runs before on_post in the same step (Brian2's
    # pathway order), the same order as the core: depression, then potentiation with the
    # causal pre already in the trace
    syn = b2.Synapses(pre, post, model="""w : 1
                      dapre/dt = -apre / taupre : 1 (event-driven)
                      dapost/dt = -apost / taupost : 1 (event-driven)""",
                      on_pre="apre += Aplus\nw = w + apost",
                      on_post="apost -= Aminus\nw = w + apre", dt=DT_MS * ms)
    syn.connect(j="i")
    ns = dict(taupre=tau_pre_ms * ms, taupost=tau_post_ms * ms, Aplus=a_plus, Aminus=a_minus)
    b2.Network(pre, post, syn).run((2 * T_PAIR + 1) * DT_MS * ms, namespace=ns)
    return np.asarray(syn.w[:], float)


STDP_CASES = {
    # the default widths: 8-bit weights and traces, G = 8
    "w8": dict(cfg=CoreConfig(n_neurons=41, n_inputs=82), threshold=100, drive=127,
               pre_jump=200, post_jump=200, a_plus=120, a_minus=96),
    # wider traces and weights: the same window at a finer grain
    "w12": dict(cfg=CoreConfig(n_neurons=41, n_inputs=82, w_width=12, trace_width=14),
                threshold=2047, drive=2047, pre_jump=12000, post_jump=12000, a_plus=32,
                a_minus=24),
}


@pytest.mark.parametrize("name", STDP_CASES)
def test_stdp_window_matches_brian2(b2, name):
    case = STDP_CASES[name]
    cfg = case["cfg"]
    frac, g = cfg.decay_frac, cfg.stdp_frac
    alpha_pre, alpha_post = decay_factor(20.0, DT_MS, frac), decay_factor(30.0, DT_MS, frac)
    lo, hi = -(1 << (cfg.w_width - 1)), (1 << (cfg.w_width - 1)) - 1
    stdp = STDPParams(enable=1, a_plus=case["a_plus"], a_minus=case["a_minus"],
                      pre_jump=case["pre_jump"], post_jump=case["post_jump"],
                      alpha_pre=alpha_pre, alpha_post=alpha_post, w_min=lo, w_max=hi)
    dw_int = integer_window(cfg, case["threshold"], case["drive"], stdp)

    a_pre, a_post = alpha_pre / (1 << frac), alpha_post / (1 << frac)
    c_plus, c_minus = case["a_plus"] / (1 << g), case["a_minus"] / (1 << g)
    amp_plus, amp_minus = case["pre_jump"] * c_plus, case["post_jump"] * c_minus
    assert amp_plus < case["threshold"] and amp_plus <= hi and -amp_minus >= lo  # no clipping
    dw_b2 = brian2_window(b2, -DT_MS / math.log(a_pre), -DT_MS / math.log(a_post),
                          amp_plus, amp_minus)

    for k, dt in enumerate(DTS):
        lag = abs(dt)
        # |dw| of the integers: floor(c * x_k) with x_k the k-times truncated trace, so
        # 0 <= |dw_B| - |dw_int| < c (1 - a^k) / (1 - a) + 1
        a, c = (a_pre, c_plus) if dt >= 0 else (a_post, c_minus)
        bound = c * (1 - a ** lag) / (1 - a) + 1
        gap = abs(dw_b2[k]) - abs(int(dw_int[k]))
        assert np.sign(dw_int[k]) == np.sign(dw_b2[k]), (dt, dw_int[k], dw_b2[k])
        assert -1e-9 <= gap < bound + 1e-9, (dt, int(dw_int[k]), dw_b2[k], bound)
    # Brian2 is the textbook window itself: A+ exp(-dt/tau+), -A- exp(dt/tau-)
    pos = np.array(DTS) >= 0
    want = np.where(pos, amp_plus * a_pre ** np.abs(DTS), -amp_minus * a_post ** np.abs(DTS))
    np.testing.assert_allclose(dw_b2, want, rtol=1e-9)
    # and the integer window has the window's shape: monotone on each side
    assert (np.diff(dw_int[pos]) <= 0).all() and (np.diff(dw_int[~pos]) <= 0).all()
