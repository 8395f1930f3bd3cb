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


# -- (c) adaptive threshold: f-I curve -----------------------------------------------------------

ADAPT_THETA0 = 5000
ADAPT_JUMP = 600
ADAPT_BIASES = [300, 400, 600, 800, 1000, 1200, 1500]   # rheobase theta0 (1 - a) = 244
ADAPT_TICKS = 1000


def adapting_raster(alpha: int, alpha_theta: int) -> tuple[np.ndarray, Core]:
    cfg = CoreConfig(n_neurons=len(ADAPT_BIASES), n_inputs=1, theta_width=16)
    core = Core(cfg)
    p = core.params
    p.threshold[:] = ADAPT_THETA0
    p.bias[:] = ADAPT_BIASES
    p.refractory[:] = REFRACTORY
    p.alpha_mem[:] = alpha
    p.alpha_syn[:] = 0
    p.theta_jump[:] = ADAPT_JUMP
    p.alpha_theta[:] = alpha_theta
    raster = core.run(ADAPT_TICKS)
    assert core.state.theta.max() < (1 << 16) - 1 - ADAPT_JUMP      # never saturated
    return raster, core


def adapting_brian2(b2, a, tau_ms, a_theta, tau_theta_ms, theta0, forced=None):
    """The float neuron with an adaptive threshold, free-running (``forced`` None) or spiking
    exactly at the ticks of a (ticks, n) raster; returns (group, spike monitor, state monitor
    of v and theta after each step's update, before its threshold)."""
    ms = b2.ms
    n = len(ADAPT_BIASES)
    threshold = f"v >= theta0 + theta - {EPS}"
    ns = dict(theta0=theta0, J=ADAPT_JUMP)
    if forced is not None:
        ns["forced"] = b2.TimedArray(forced.astype(float), dt=DT_MS * ms)
        threshold = "forced(t, i) > 0.5"
    g = b2.NeuronGroup(
        n, """dv/dt = (vinf - v) / tau : 1 (unless refractory)
              dtheta/dt = -theta / tau_theta : 1
              vinf : 1 (constant)
              tau : second (constant)
              tau_theta : second (constant)""",
        threshold=threshold, reset="v = 0\ntheta += J",
        refractory=(REFRACTORY + 1) * DT_MS * ms, method="exact", dt=DT_MS * ms,
        namespace=ns)
    g.tau = tau_ms * ms
    g.tau_theta = tau_theta_ms * ms
    g.vinf = np.array(ADAPT_BIASES, float) / (1 - a)
    spikes = b2.SpikeMonitor(g)
    state = b2.StateMonitor(g, ["v", "theta"], record=True, when="groups", order=1)
    b2.Network(g, spikes, state).run(ADAPT_TICKS * DT_MS * ms)
    return g, spikes, state


def test_adaptation_f_i_curve_matches_brian2(b2):
    frac = 12
    alpha, alpha_theta = decay_factor(20.0, DT_MS, frac), decay_factor(100.0, DT_MS, frac)
    a, a_theta = alpha / (1 << frac), alpha_theta / (1 << frac)
    tau, tau_theta = -DT_MS / math.log(a), -DT_MS / math.log(a_theta)
    e_v, e_theta = 1 / (1 - a), 1 / (1 - a_theta)      # truncation lags: 20.5, 99.9
    raster, _ = adapting_raster(alpha, alpha_theta)
    n = len(ADAPT_BIASES)

    # (1) every tick of the integer run is what the float equations allow, given its own spike
    # times (docs/numerics.md): with u, theta_f the float v and theta through the same resets
    # and jumps, a spike needs u - theta0 - theta_f > -E_theta, a silent active tick
    # u - theta0 - theta_f < E_v
    _, _, st = adapting_brian2(b2, a, tau, a_theta, tau_theta, ADAPT_THETA0, forced=raster)
    margin = st.v[:].T - ADAPT_THETA0 - st.theta[:].T             # (ticks, n)
    active = np.ones_like(raster)
    for k in range(1, REFRACTORY + 1):
        active[k:] &= ~raster[:-k]
    assert (margin[raster] > -e_theta - EPS).all(), margin[raster].min()
    assert (margin[active & ~raster] < e_v + EPS).all(), margin[active & ~raster].max()
    # not vacuous: the integer spikes where the float neuron would not yet (rounding shows),
    # and stays silent within two lags of the float threshold
    assert margin[raster].min() < 0 and margin[active & ~raster].max() > -2 * e_v

    # (2) free-running, the integer counts lie between Brian2's at thresholds theta0 + E_v
    # (integer v lags) and theta0 - E_theta (integer theta lags)
    counts = {}
    for name, th in (("slow", ADAPT_THETA0 + e_v), ("mid", ADAPT_THETA0),
                     ("fast", ADAPT_THETA0 - e_theta)):
        _, mon, _ = adapting_brian2(b2, a, tau, a_theta, tau_theta, th)
        counts[name] = mon.count[:].astype(int)
        if name == "mid":
            trains = mon.spike_trains()
    c_int = raster.sum(axis=0)
    assert (counts["slow"] <= c_int).all() and (c_int <= counts["fast"]).all(), (
        counts, c_int)
    # (3) the adaptation itself, in both: the inter-spike intervals lengthen (the
    # instantaneous rate falls) and, above the lowest drives, fewer spikes come in the last 100
    # ticks than in the first 100; the f-I curve rises with the drive
    for k in range(n):
        t_int = np.flatnonzero(raster[:, k])
        t_b2 = np.round(trains[k] / (DT_MS * b2.ms)).astype(int)
        for t in (t_int, t_b2):
            isi = np.diff(t)
            assert isi[0] < isi[-1] and isi[:3].mean() < isi[-3:].mean(), (ADAPT_BIASES[k], isi)
            if ADAPT_BIASES[k] >= 600:
                assert (t < 100).sum() > (t >= ADAPT_TICKS - 100).sum(), (ADAPT_BIASES[k], t)
    assert (np.diff(c_int) > 0).all() and (np.diff(counts["mid"]) > 0).all()


# -- (d) excitatory and inhibitory PSCs ----------------------------------------------------------

def test_exc_inh_psc_shapes_match_brian2(b2):
    ms = b2.ms
    frac = 12
    taus = {"mem": 20.0, "exc": 5.0, "inh": 15.0}
    alpha = {k: decay_factor(t, DT_MS, frac) for k, t in taus.items()}
    a = {k: v / (1 << frac) for k, v in alpha.items()}
    tau_b = {k: -DT_MS / math.log(v) for k, v in a.items()}
    e = {k: 1 / (1 - v) for k, v in a.items()}
    w_e, w_i, t_spk, ticks = 2000, -1500, 5, 80
    # neuron 0: one excitatory spike; 1: one inhibitory spike; 2: both in the same tick
    cfg = CoreConfig(n_neurons=3, n_inputs=2, w_width=12, inh_current=True)
    core = Core(cfg)
    p = core.params
    p.threshold[:] = (1 << 15) - 1
    p.alpha_mem[:], p.alpha_syn[:], p.alpha_inh[:] = alpha["mem"], alpha["exc"], alpha["inh"]
    core.weights[0] = [w_e, 0, w_e]
    core.weights[1] = [0, w_i, w_i]
    inputs = np.zeros((ticks, 2), bool)
    inputs[t_spk] = True
    trace = {"i": [], "i_inh": [], "v": []}
    for t in range(ticks):
        core.step(inputs[t])
        for k in trace:
            trace[k].append(getattr(core.state, k).copy())
    trace = {k: np.array(v) for k, v in trace.items()}       # (ticks, 3), after each tick

    # Brian2: exponential currents, a spike adds its weight (on_pre, after the groups' decay:
    # the core's accumulate-then-update order), v integrates them once per step as the core
    # does (v := a v + I_exc + I_inh after the synapses)
    g = b2.NeuronGroup(3, """dIe/dt = -Ie / tau_e : 1
                             dIi/dt = -Ii / tau_i : 1
                             v : 1""", method="exact", dt=DT_MS * ms)
    g.run_regularly("v = a_m * v + Ie + Ii", when="after_synapses")
    src = b2.SpikeGeneratorGroup(2, [0, 1], [t_spk * DT_MS, t_spk * DT_MS] * ms, dt=DT_MS * ms)
    syn_e = b2.Synapses(src, g, "w : 1", on_pre="Ie_post += w", dt=DT_MS * ms)
    syn_i = b2.Synapses(src, g, "w : 1", on_pre="Ii_post += w", dt=DT_MS * ms)
    syn_e.connect(i=[0, 0], j=[0, 2])
    syn_i.connect(i=[1, 1], j=[1, 2])
    syn_e.w, syn_i.w = w_e, w_i
    mon = b2.StateMonitor(g, ["Ie", "Ii", "v"], record=True, when="end")
    b2.Network(g, src, syn_e, syn_i, mon).run(
        ticks * DT_MS * ms, namespace=dict(tau_e=tau_b["exc"] * ms, tau_i=tau_b["inh"] * ms,
                                           a_m=a["mem"]))
    # the core stores the current decayed at the end of a tick, Brian2 before the next decay
    ie, ii, v = mon.Ie[:].T * a["exc"], mon.Ii[:].T * a["inh"], mon.v[:].T

    # truncation toward zero: each current lags its float twin by less than E = 1/(1 - a),
    # from the side of zero; v by less than (1 + E_exc + E_inh) / (1 - a_mem) (numerics.md)
    lag_e, lag_i = ie - trace["i"], trace["i_inh"] - ii
    assert (lag_e > -EPS).all() and (lag_e < e["exc"]).all(), lag_e.max()
    assert (lag_i > -EPS).all() and (lag_i < e["inh"]).all(), lag_i.max()
    v_bound = (1 + e["exc"] + e["inh"]) / (1 - a["mem"])
    assert np.abs(trace["v"] - v).max() < v_bound, np.abs(trace["v"] - v).max()
    # the shapes: each current jumps by its weight at the spike tick and decays with its own
    # time constant, and never shows up in the other one's neuron; the inhibitory PSP outlasts
    # the excitatory one, so the combined PSP starts positive and turns negative
    assert not trace["i_inh"][:, 0].any() and not trace["i"][:, 1].any()
    assert trace["i"][t_spk, 0] == w_e * alpha["exc"] // (1 << frac)
    assert trace["i_inh"][t_spk, 1] == -(-w_i * alpha["inh"] // (1 << frac))
    # (stored after k + 1 decays, k ticks after the spike: below half once k + 1 > tau ln 2)
    half_e = np.argmax(trace["i"][t_spk:, 0] < w_e / 2)
    half_i = np.argmax(trace["i_inh"][t_spk:, 1] > w_i / 2)
    assert half_e == math.ceil(taus["exc"] * math.log(2)) - 1 == 3
    assert half_i == math.ceil(taus["inh"] * math.log(2)) - 1 == 10
    v2 = trace["v"][:, 2]
    assert v2[t_spk] > 0 and v2[-1] < 0 and (np.sign(v2[t_spk:]) <= 0).sum() > 0


# -- (e) delayed PSPs ----------------------------------------------------------------------------

def test_delayed_psps_arrive_at_the_right_tick(b2):
    """Per-synapse delays against Brian2's synaptic delays. A core synapse of ``1 + d`` ticks
    fed by an input spike of tick t acts in tick ``t + d`` (docs/numerics.md, "Delays"): the
    one-tick synapse (d = 0) is Brian2's delay 0 in this test's mapping (on_pre after the
    step's decay, as in the PSC test above), so ``1 + d`` ticks is Brian2's ``delay = d dt``.
    Each current must be zero before its arrival, jump there, and then stay within the
    truncation bound ``0 <= I_B - i < E`` of its float twin, tick for tick."""
    ms = b2.ms
    frac, tau, w, t_spk, ticks = 12, 5.0, 2000, 4, 40
    d = [0, 1, 3, 7]
    alpha = decay_factor(tau, DT_MS, frac)
    a = alpha / (1 << frac)
    cfg = CoreConfig(n_neurons=4, n_inputs=1, w_width=12, delay_bits=3)
    core = Core(cfg)
    core.params.threshold[:] = (1 << 15) - 1
    core.params.alpha_syn[:] = alpha
    core.weights[0] = w
    core.delays[0] = d
    inputs = np.zeros((ticks, 1), bool)
    inputs[t_spk] = True
    i = np.zeros((ticks, 4))
    for t in range(ticks):
        core.step(inputs[t])
        i[t] = core.state.i             # after the tick: decayed once

    g = b2.NeuronGroup(4, "dI/dt = -I / tau_b : 1", method="exact", dt=DT_MS * ms)
    src = b2.SpikeGeneratorGroup(1, [0], [t_spk * DT_MS] * ms, dt=DT_MS * ms)
    syn = b2.Synapses(src, g, "w : 1", on_pre="I_post += w", dt=DT_MS * ms)
    syn.connect(i=0, j=[0, 1, 2, 3])
    syn.w = w
    syn.delay = np.array(d, float) * DT_MS * ms
    mon = b2.StateMonitor(g, "I", record=True, when="end")
    b2.Network(g, src, syn, mon).run(ticks * DT_MS * ms,
                                     namespace=dict(tau_b=-DT_MS / math.log(a) * ms))
    ib = mon.I[:].T * a                 # decayed at the end of the step, as the core stores it
    for k, dk in enumerate(d):
        arrive = t_spk + dk
        assert np.flatnonzero(i[:, k])[0] == arrive == np.flatnonzero(ib[:, k] > EPS)[0], k
        assert i[arrive, k] == w * alpha // (1 << frac)
        lag = ib[:, k] - i[:, k]
        assert (lag > -EPS).all() and (lag < 1 / (1 - a)).all(), (k, lag.max())
