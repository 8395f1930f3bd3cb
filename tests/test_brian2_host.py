"""Compiled physical parameters against Brian2: v_rest in mV (PyNN style) and per-neuron values.

The network goes through the host API (``sl.LIF`` -> ``sl.compile`` -> ``model://``), so what is
checked is the whole path a user takes: the shift of the voltage origin to ``v_rest``, the
per-neuron quantization and the integer model. Brian2 (float64, exact integration, dt = 1 ms)
simulates the same neurons, ``dv/dt = (v_rest + v_inf - v) / tau`` with ``v_inf (1 - a) = bias``
(so one step is ``v' = v_rest + (v - v_rest) a + bias``, the model of spikeloom.network),
threshold, reset to ``v_reset = v_rest``, refractory ``(R + 1) dt`` (test_brian2.py explains why).

Tolerances, derived (docs/numerics.md "Cross-checks against Brian2" for the first):

- **Against the compiled values** (``a_q = alpha / 2^F``, ``bias_q``, ``theta_q``, the report's
  ``actual``s): the integer membrane, measured from rest in integer units, lags the float one by
  less than ``E = 1 / (1 - a_q)`` units, i.e. ``E / scale`` mV. Every cycle restarts at rest, so
  per neuron ``count_B(theta_q + E/scale) <= count_int <= count_B(theta_q)``.
- **Against the nominal values** (what the user wrote): from rest, the nominal and compiled
  float trajectories ``v_inf (1 - a^t)`` differ by at most ``delta = max_t |...|`` (computed in
  closed form over the run), and the thresholds by ``d_theta = |theta_q - theta|``. Hence
  ``count_B(theta + delta + d_theta + E/scale) <= count_int <= count_B(theta - delta -
  d_theta)``: the quantization moves a spike only as far as the reported errors allow.
"""

from __future__ import annotations

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.proto.memmap import Region
from test_brian2 import b2  # noqa: F401  (the fixture: Brian2 with numpy code generation)

pytestmark = pytest.mark.filterwarnings("ignore::pyparsing.PyparsingDeprecationWarning")


@pytest.fixture(scope="module")
def brian(b2):  # noqa: F811 - b2 is test_brian2's fixture
    return b2

TICKS = 1000
REFRACTORY = 2
EPS = 1e-6          # Brian2's own float rounding at the thresholds (~1e-13 relative)
V_REST = -65.0      # mV


def integer_counts(lif: sl.LIF, n: int):
    """Spike counts of ``n`` neurons of ``lif`` compiled for 'tiny' and run on model://, plus
    the image (for the compiled integers)."""
    net = sl.Network("brian2")
    net.population(n, lif, name="p")
    image = sl.compile(net, target="tiny")
    with sl.open("model://tiny") as board:
        board.load(image)
        dense = board.run(TICKS)["p"].dense
    return dense.sum(axis=0), image


def brian2_counts(brian, tau_ms, v_inf, theta):
    """Brian2 spike counts of one neuron per entry (arrays of equal length), from rest."""
    ms = brian.ms
    g = brian.NeuronGroup(len(theta), """dv/dt = (v_rest + vinf - v) / tau : 1 (unless refractory)
                                      vinf : 1 (constant)
                                      tau : second (constant)
                                      theta : 1 (constant)""",
                       threshold="v >= theta", reset="v = v_rest", method="exact",
                       refractory=(REFRACTORY + 1) * ms, dt=1 * ms)
    g.v = V_REST
    g.tau = np.asarray(tau_ms) * ms
    g.vinf = np.asarray(v_inf)
    g.theta = np.asarray(theta)
    mon = brian.SpikeMonitor(g)
    brian.Network(g, mon).run(TICKS * ms, namespace={"v_rest": V_REST})
    return np.asarray(mon.count[:])


def check_against_brian2(brian, lif: sl.LIF, n: int):
    counts, image = integer_counts(lif, n)
    p = image.fields(Region.NEURON_PARAMS)
    s = image.populations["p"].scale
    one = 1 << image.config.decay_frac
    # the compiled values
    a_q = p["alpha_mem"][:n] / one
    bias_q = p["bias"][:n] / s
    theta_q = V_REST + p["threshold"][:n] / s
    lag = 1 / (1 - a_q) / s                                   # E / scale, in mV
    # the nominal values
    tau = np.broadcast_to(np.asarray(lif.tau_mem, float), (n,))
    a = np.exp(-1.0 / tau)
    bias = np.broadcast_to(np.asarray(lif.bias, float), (n,))
    theta = np.broadcast_to(np.asarray(lif.threshold, float), (n,))
    t = np.arange(TICKS + 1)[:, None]
    delta = np.max(np.abs(bias / (1 - a) * (1 - a ** t) - bias_q / (1 - a_q) * (1 - a_q ** t)),
                   axis=0)
    d_theta = np.abs(theta_q - theta)
    tau_q = -1.0 / np.log(a_q)
    got = brian2_counts(
        brian, np.concatenate([tau_q, tau_q, tau, tau]),
        np.concatenate([bias_q / (1 - a_q)] * 2 + [bias / (1 - a)] * 2),
        np.concatenate([theta_q - EPS, theta_q + lag + EPS,
                        theta - delta - d_theta - EPS, theta + delta + d_theta + lag + EPS]))
    hi_q, lo_q, hi, lo = got[:n], got[n:2 * n], got[2 * n:3 * n], got[3 * n:]
    for k in range(n):
        assert lo_q[k] <= counts[k] <= hi_q[k], ("compiled", k, lo_q[k], counts[k], hi_q[k])
        assert lo[k] <= counts[k] <= hi[k], ("nominal", k, lo[k], counts[k], hi[k])
    return counts, hi, lo


def assert_tight(hi, lo):
    """The brackets are not vacuous: their periodic inter-spike intervals differ by at most one
    tick (on a 1 ms grid one tick is all a threshold shift can cost; at high rates one tick is
    a large change of count: 200 vs 167 spikes for intervals of 5 and 6 ticks)."""
    assert np.all(lo > 0)
    isi_hi, isi_lo = TICKS / hi, TICKS / lo
    assert np.all(isi_lo - isi_hi < 1 + 0.05 * isi_lo), (hi, lo)


def test_pynn_style_neuron_under_constant_current(brian):
    """v_rest = v_reset = -65 mV, threshold -50 mV, tau 20 ms; constant currents as biases
    (mV per ms) from just above rheobase (15 mV (1 - a) = 0.73) to strong drive."""
    biases = np.array([0.8, 0.9, 1.2, 1.6, 2.5, 4.0, 7.0, 12.0])
    lif = sl.LIF(v_rest=V_REST, v_reset=V_REST, threshold=-50.0, tau_mem=20.0, tau_syn=5.0,
                 bias=biases, refractory=REFRACTORY)
    counts, hi, lo = check_against_brian2(brian, lif, biases.size)
    # a real f-I curve, and a tight one
    assert counts[0] > 0 and np.all(np.diff(counts) > 0)
    assert_tight(hi, lo)


def test_heterogeneous_population_rates(brian):
    """Per-neuron thresholds, time constants and currents, in mV: each neuron's rate within its
    own derived bracket."""
    rng = np.random.default_rng(15)
    n = 8
    lif = sl.LIF(v_rest=V_REST, v_reset=V_REST, threshold=np.linspace(-55.0, -45.0, n),
                 tau_mem=rng.uniform(10.0, 30.0, n), bias=rng.uniform(1.5, 4.0, n),
                 refractory=REFRACTORY)
    counts, hi, lo = check_against_brian2(brian, lif, n)
    assert len(set(counts.tolist())) > n // 2          # the neurons really differ
    assert_tight(hi, lo)
