"""spikeloom.pynn connectors (issue 20): the ones test_pynn.py leaves out (``FixedNumberPost``,
``Array``, ``FixedTotalNumber``), connections made more than once, and
``Projection.get("weight", format="list")`` after a run.

Semantics of a pair made several times (``FromListConnector`` lists, ``FixedNumber*Connector(
with_replacement=True)``): the core holds one synapse per (source, target), and the static
connections of a pair are summed into it, as PyNN's simulators sum the currents of two synapses
that both exist (exact: the neuron is linear in its input weights). So a script with duplicates
must run exactly like the script with each pair once at the summed weight, and ``get`` lists
every connection with its part of the device's weight (``format="array"`` sums back to it).
Duplicates that cannot be one synapse (different delays, plastic) are a
``pyNN.errors.ConnectionError`` naming the pair.
"""

from __future__ import annotations

import numpy as np
import pytest

sim = pytest.importorskip("spikeloom.pynn", reason="PyNN is not installed (extra 'pynn')")

from pyNN import errors  # noqa: E402

TIMES = [[3.0, 9.0, 20.0, 33.0], [5.0, 14.0, 27.0], [8.0, 19.0, 31.0, 40.0], [11.0, 24.0]]
CELL = dict(cm=1.0, tau_m=20.0, tau_syn_E=5.0, tau_syn_I=5.0, v_rest=-65.0, v_reset=-68.0,
            v_thresh=-62.0, tau_refrac=2.0)


@pytest.fixture(autouse=True)
def _end():
    yield
    sim.end()


def script(connector, weight=0.6, ticks=50.0, n_post=5, delay=1.0, max_delay="auto"):
    """Four spike sources onto ``n_post`` cells through ``connector``; returns the projection
    and the run: every spike time, the v trace (mV, ticks x cells) and the image it ran."""
    sim.setup(timestep=1.0, max_delay=max_delay)
    src = sim.Population(4, sim.SpikeSourceArray(spike_times=TIMES), label="src")
    cells = sim.Population(n_post, sim.IF_curr_exp(**CELL), label="cells")
    prj = sim.Projection(src, cells, connector, sim.StaticSynapse(weight=weight, delay=delay),
                         label="prj")
    cells.record(["spikes", "v"])
    sim.run(ticks)
    seg = cells.get_data().segments[0]
    spikes = [s.times.magnitude.tolist() for s in seg.spiketrains]
    return prj, (spikes, seg.filter(name="v")[0].magnitude.copy(), sim.state.image)


def same_run(a, b):
    """Two script() results ran the same device: the same image (every region, bit for bit),
    hence the same spikes and the same v (in mV up to the last bits of the float voltage scale,
    which a sum in another order can move)."""
    (spikes_a, v_a, image_a), (spikes_b, v_b, image_b) = a, b
    assert image_a.regions.keys() == image_b.regions.keys()
    assert all(image_a.regions[r] == image_b.regions[r] for r in image_a.regions)
    assert spikes_a == spikes_b
    assert np.allclose(v_a, v_b, rtol=0, atol=1e-9)
    assert sum(map(len, spikes_a)) > 0 and np.ptp(v_a) > 0


def summed_list(prj, weight):
    """FromListConnector rows with each (pre, post) pair of ``prj`` once, at the summed weight."""
    counts: dict = {}
    for i, j, _ in prj.get("weight", format="list", with_address=True):
        counts[(i, j)] = counts.get((i, j), 0) + 1
    return [(i, j, weight * n) for (i, j), n in sorted(counts.items())], counts


# -- connectors without a test in test_pynn.py -----------------------------------------------------

def test_fixed_number_post_connects_each_source_to_n_targets():
    rng = sim.NumpyRNG(seed=4)
    prj, run = script(sim.FixedNumberPostConnector(3, rng=rng))
    arr = prj.get("weight", format="array")
    assert len(prj) == 4 * 3
    assert np.all(np.sum(~np.isnan(arr), axis=1) == 3)         # 3 targets per source, distinct
    assert np.allclose(arr[~np.isnan(arr)], 0.6, rtol=0.01)    # read back (quantized)
    # the same synapses given as a list run identically
    rows, counts = summed_list(prj, 0.6)
    assert set(counts.values()) == {1}
    same_run(run, script(sim.FromListConnector(rows, column_names=["weight"]))[1])


def test_array_connector_makes_exactly_the_true_entries():
    mask = np.zeros((4, 5), bool)
    mask[[0, 0, 1, 2, 3, 3], [0, 3, 1, 4, 2, 3]] = True
    prj, run = script(sim.ArrayConnector(mask), weight=0.9)
    arr = prj.get("weight", format="array")
    assert np.array_equal(~np.isnan(arr), mask)
    assert np.allclose(arr[mask], 0.9, rtol=0.01)
    rows = [(int(i), int(j), 0.9) for i, j in zip(*np.nonzero(mask), strict=True)]
    same_run(run, script(sim.FromListConnector(rows, column_names=["weight"]), weight=0.9)[1])


def test_fixed_total_number_connector_makes_n_connections():
    prj, run = script(sim.FixedTotalNumberConnector(14, rng=sim.NumpyRNG(seed=8)))
    assert len(prj) == 14
    rows, counts = summed_list(prj, 0.6)
    assert sum(counts.values()) == 14
    same_run(run, script(sim.FromListConnector(rows, column_names=["weight"]))[1])


# -- a pair made several times ---------------------------------------------------------------------

@pytest.mark.parametrize("connector", ["pre", "post"])
def test_duplicates_with_replacement_sum_into_one_synapse(connector):
    """``with_replacement=True`` with n above the population's size must repeat pairs; the run
    equals the network with each pair once at the summed weight, and get() lists every
    connection with its part of the device weight (the array sums back to it)."""
    rng = sim.NumpyRNG(seed=6)
    make = (sim.FixedNumberPreConnector(7, with_replacement=True, rng=rng) if connector == "pre"
            else sim.FixedNumberPostConnector(9, with_replacement=True, rng=rng))
    prj, run = script(make, weight=0.35)
    n = 7 * 5 if connector == "pre" else 9 * 4
    assert len(prj) == n
    rows, counts = summed_list(prj, 0.35)
    assert max(counts.values()) > 1, "the connector should have repeated a pair"
    listed = prj.get("weight", format="list", with_address=True)
    summed = prj.get("weight", format="array", multiple_synapses="sum")
    same_run(run, script(sim.FromListConnector(rows, column_names=["weight"]), weight=0.35)[1])
    once = sim.state.projections[0].get("weight", format="array")
    assert len(listed) == n
    assert np.allclose(summed, once, equal_nan=True, rtol=1e-12)    # the device's weights
    for i, j, w in listed:     # equal weights: equal parts
        assert w == pytest.approx(once[i, j] / counts[(i, j)], rel=1e-12)


def test_from_list_duplicates_of_unequal_weight_sum_and_read_back_in_proportion():
    dup = [(0, 1, 0.3), (1, 2, 0.8), (0, 1, 0.5), (3, 4, 0.4), (0, 1, 0.2), (2, 0, 0.7),
           (1, 3, 0.6)]
    prj, run = script(sim.FromListConnector(dup, column_names=["weight"]))
    assert len(sim.state.net.projections[0].pre) == 5        # one core synapse per pair
    listed = prj.get("weight", format="list", with_address=True)
    summed = prj.get("weight", format="array")                # multiple_synapses="sum"
    one = [(0, 1, 1.0), (1, 2, 0.8), (3, 4, 0.4), (2, 0, 0.7), (1, 3, 0.6)]
    prj1, run1 = script(sim.FromListConnector(one, column_names=["weight"]))
    same_run(run, run1)
    got = prj1.get("weight", format="array")
    assert sorted((i, j) for i, j, _ in listed) == sorted((i, j) for i, j, _ in dup)
    parts = sorted(w for i, j, w in listed if (i, j) == (0, 1))
    assert parts == pytest.approx(sorted([0.3 * got[0, 1], 0.5 * got[0, 1], 0.2 * got[0, 1]]),
                                  rel=1e-12)
    assert np.allclose(summed, got, equal_nan=True, rtol=1e-12)


def test_duplicates_that_cannot_be_one_synapse_are_connection_errors():
    rows = [(0, 1, 0.5, 1.0), (2, 3, 0.5, 2.0), (0, 1, 0.5, 3.0)]
    with pytest.raises(errors.ConnectionError,
                       match=r"synapse 0 -> 1 is made several times with different delays "
                             r"\(1 and 3 ms\)"):
        script(sim.FromListConnector(rows, column_names=["weight", "delay"]), max_delay=4.0)
    sim.end()
    # equal delays sum fine (and stay one delayed synapse)
    rows = [(0, 1, 0.5, 3.0), (1, 0, 0.9, 1.0), (0, 1, 0.25, 3.0)]
    script(sim.FromListConnector(rows, column_names=["weight", "delay"]), n_post=2,
           max_delay=4.0)
    assert sim.state.image.delays()[[0, 1], [1, 0]].tolist() == [3, 1]
    sim.end()
    # plastic: two synapses learn apart, one cannot stand for both
    sim.setup(timestep=1.0)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[2.0], [4.0]]))
    cells = sim.Population(2, sim.IF_curr_exp(**CELL))
    syn = sim.STDPMechanism(
        timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.01,
                                            A_minus=0.012),
        weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=1.0),
        weight=0.3, delay=1.0)
    sim.Projection(src, cells, sim.FromListConnector([(1, 0), (0, 1), (1, 0)]), syn,
                   label="plastic")
    with pytest.raises(errors.ConnectionError,
                       match=r"'plastic'.*synapse 1 -> 0 is made 2 times.*plastic"):
        sim.run(5.0)


# -- get("weight", format="list") after a run ------------------------------------------------------

def test_get_weight_list_after_a_stdp_run_is_the_learned_array():
    rng = np.random.default_rng(5)
    times = [sorted(set(np.round(rng.uniform(0, 140, 10)).tolist())) for _ in range(4)]
    sim.setup(timestep=1.0)
    src = sim.Population(4, sim.SpikeSourceArray(spike_times=times))
    cells = sim.Population(3, sim.IF_curr_exp(**CELL))
    syn = sim.STDPMechanism(
        timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.03,
                                            A_minus=0.03),
        weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=1.0),
        weight=0.5, delay=1.0)
    conn = [(i, j) for i in range(4) for j in range(3) if (i + j) % 3]
    prj = sim.Projection(src, cells, sim.FromListConnector(conn), syn)
    before = prj.get("weight", format="list", with_address=False)
    assert before == [0.5] * len(conn)                        # before a run: the values set
    sim.run(150.0)
    listed = prj.get(["weight", "delay"], format="list", with_address=True)
    arr = prj.get("weight", format="array")
    assert sorted((i, j) for i, j, _, _ in listed) == conn
    assert all(w == arr[i, j] and d == 1.0 for i, j, w, d in listed)
    assert np.sum(~np.isnan(arr)) == len(conn)
    learned = np.array([w for _, _, w, _ in listed])
    assert np.any(np.abs(learned - 0.5) > 0.02), "STDP should have moved some weight"
    assert np.all((learned >= 0.0) & (learned <= 1.0))
