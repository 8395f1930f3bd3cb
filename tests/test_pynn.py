"""spikeloom.pynn: PyNN scripts on spikeloom (issue 20).

The mapping of IF_curr_exp onto the core is exact at the sample times (docs/pynn.md), so the
small scripts check values against the closed-form float solution within the quantization the
compile report states; the CUBA network is checked against pyNN.brian2 statistically, within
a bracket derived from the core's integer membrane (docs/numerics.md); the same script gives
identical spikes on model:// and on the virtual board; PyNN STDP equals the native API's.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

sim = pytest.importorskip("spikeloom.pynn", reason="PyNN is not installed (extra 'pynn')")

import spikeloom as sl  # noqa: E402
from pyNN import errors  # noqa: E402
from spikeloom.pynn import mapping  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _cuba_module():
    spec = importlib.util.spec_from_file_location("pynn_cuba", ROOT / "examples" / "pynn_cuba.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(autouse=True)
def _end():
    yield
    sim.end()


# -- the mapping -----------------------------------------------------------------------------------

def continuous_psp(t, w, cm, tau_m, tau_s):
    """PyNN's IF_curr_exp response (mV) to a current jump w (nA) at t = 0 (closed form)."""
    return w / cm * tau_m * tau_s / (tau_m - tau_s) * (np.exp(-t / tau_m) - np.exp(-t / tau_s))


@pytest.mark.parametrize("dt,tau_m,tau_s,cm", [(1.0, 20.0, 5.0, 1.0), (0.1, 10.0, 2.0, 0.25),
                                               (1.0, 5.0, 20.0, 2.0)])
def test_psc_scale_samples_the_continuous_psp_exactly(dt, tau_m, tau_s, cm):
    k = float(mapping.psc_scale(dt, tau_m, tau_s, cm))
    am, a_s = math.exp(-dt / tau_m), math.exp(-dt / tau_s)
    n = np.arange(50)
    discrete = k * (am ** (n + 1) - a_s ** (n + 1)) / (am - a_s)    # the core's float recursion
    assert np.allclose(discrete, continuous_psp((n + 1) * dt, 1.0, cm, tau_m, tau_s), rtol=1e-12)


def test_psc_scale_limit_of_equal_time_constants():
    near = float(mapping.psc_scale(1.0, 20.0, 20.0 * (1 + 1e-4), 0.5))
    equal = float(mapping.psc_scale(1.0, 20.0, 20.0, 0.5))
    assert equal == pytest.approx(math.exp(-1 / 20) / 0.5, rel=1e-12)
    assert near == pytest.approx(equal, rel=1e-5)


def test_bias_gives_the_exact_step_response_to_i_offset():
    p = dict(tau_m=np.array([20.0]), cm=np.array([0.5]), v_rest=np.array([-65.0]),
             v_thresh=np.array([-50.0]), v_reset=np.array([-70.0]), i_offset=np.array([0.3]),
             tau_syn_E=np.array([5.0]), tau_refrac=np.array([2.0]), v=np.array([-65.0]))
    kw = mapping.lif_params(1.0, p)
    am = math.exp(-1 / 20)
    v = -65.0
    for n in range(1, 40):                 # the core's float recursion vs the closed form
        v = kw["v_rest"][0] + (v - kw["v_rest"][0]) * am + kw["bias"][0]
        exact = -65.0 + 0.3 * 20.0 / 0.5 * (1 - math.exp(-n / 20))
        assert v == pytest.approx(exact, abs=1e-9)


# -- scripts ---------------------------------------------------------------------------------------

def small_script(url="model://", target=None, record_v=True):
    sim.setup(timestep=1.0, url=url, target=target)
    src = sim.Population(3, sim.SpikeSourceArray(spike_times=[[5.0, 30.0], [12.0], []]),
                         label="src")
    cells = sim.Population(4, sim.IF_curr_exp(cm=1.0, tau_m=20.0, tau_syn_E=5.0, tau_syn_I=5.0,
                                              v_rest=-65.0, v_reset=-70.0, v_thresh=-55.0,
                                              tau_refrac=2.0, i_offset=[0.0, 0.0, 0.0, 0.8]),
                           label="cells")
    cells.initialize(v=-65.0)
    prj = sim.Projection(src, cells, sim.AllToAllConnector(),
                         sim.StaticSynapse(weight=2.0, delay=1.0), receptor_type="excitatory")
    cells.record(["spikes", "v"] if record_v else "spikes")
    src.record("spikes")
    sim.run(60.0)
    return src, cells, prj


def test_v_through_probes_equals_the_read_back_path():
    """model:// gives the compiled core probes for the recorded neurons, so v streams during one
    run; a core without probes (target "tiny", the same numerics) reads v back after every tick
    in the same pipelined run: the same samples and spikes."""
    out = []
    for target in (None, "tiny"):
        _, cells, _ = small_script(target=target)
        out.append((sim.state.board.config.probe_slots,
                    cells.get_data().segments[0].filter(name="v")[0].magnitude.copy(),
                    [s.times.magnitude.copy() for s in cells.get_data().segments[0].spiketrains]))
        sim.end()
    (k_probe, v_probe, s_probe), (k_step, v_step, s_step) = out
    assert (k_probe, k_step) == (4, 0)
    assert v_probe.shape == (61, 4) and np.array_equal(v_probe, v_step)
    assert all(np.array_equal(a, b) for a, b in zip(s_probe, s_step, strict=True))
    assert sum(len(x) for x in s_probe) > 0 and np.ptp(v_probe) > 0


def test_script_records_spikes_and_v_into_neo_with_units(tmp_path):
    src, cells, prj = small_script()
    assert sim.get_current_time() == 60.0 and sim.get_time_step() == 1.0
    seg = cells.get_data().segments[0]
    v = seg.filter(name="v")[0]
    assert str(v.units.dimensionality) == "mV" and v.shape == (61, 4)
    assert float(v.sampling_period.rescale("ms")) == 1.0
    # neuron 0 gets 2 nA from src 0 at 5 and 30 ms and from src 1 at 12 ms (delay one step):
    # until it spikes its trace is the closed-form sum, up to the integer membrane's drift
    image = sim.state.image
    scale = image.population("cells").scale
    t = np.arange(61) * 1.0
    expect = -65.0 + sum(continuous_psp(t - t0 - 1.0, 2.0, 1.0, 20.0, 5.0) * (t > t0 + 1.0)
                         for t0 in (5.0, 12.0, 30.0))
    first = seg.spiketrains[0].times.magnitude
    upto = int(first[0]) + 1 if first.size else 61     # the sample of the spike's own tick
    err = np.abs(v.magnitude[:upto, 0] - expect[:upto])
    assert upto > 12 and np.max(err) < 21 / scale    # E = 1/(1-a) = 20.5 units of drift at most
    assert np.max(err) > 0                              # really the integer device
    # neuron 3 has i_offset on top (0.8 nA * 20 MOhm = 16 mV > 10 mV): it fires more
    spikes3 = seg.spiketrains[3].times.magnitude
    assert spikes3.size > len(seg.spiketrains[0]) >= 1
    # sources record the times they were given
    src_seg = src.get_data().segments[0]
    assert [list(s.times.magnitude) for s in src_seg.spiketrains] == [[5.0, 30.0], [12.0], []]
    # weights read back from the device, in nA
    w = prj.get("weight", format="array")
    assert w.shape == (3, 4) and np.allclose(w, 2.0, rtol=0.01)
    lst = prj.get("weight", format="list")
    assert len(lst) == 12 and lst[0][:2] == (0, 0)
    # write_data / Neo round trip
    path = tmp_path / "cells.pkl"
    cells.write_data(str(path))
    import neo
    back = neo.io.PickleIO(str(path)).read_block()
    assert np.array_equal(back.segments[0].spiketrains[3].times.magnitude, spikes3)


def test_run_in_pieces_equals_one_run_and_reset_starts_a_segment():
    small_script(record_v=False)
    one = [s.times.magnitude.copy() for s in
           sim.state.populations[1].get_data().segments[0].spiketrains]
    sim.end()
    sim.setup(timestep=1.0)
    src = sim.Population(3, sim.SpikeSourceArray(spike_times=[[5.0, 30.0], [12.0], []]))
    cells = sim.Population(4, sim.IF_curr_exp(cm=1.0, tau_m=20.0, v_rest=-65.0, v_reset=-70.0,
                                              v_thresh=-55.0, tau_refrac=2.0,
                                              i_offset=[0.0, 0.0, 0.0, 0.8]))
    cells.initialize(v=-65.0)
    sim.Projection(src, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=2.0))
    cells.record("spikes")
    sim.run(17.0)
    sim.run_until(60.0)
    pieces = [s.times.magnitude.copy() for s in cells.get_data().segments[0].spiketrains]
    assert all(np.array_equal(a, b) for a, b in zip(one, pieces, strict=True))
    sim.reset()
    assert sim.get_current_time() == 0.0
    sim.run(60.0)
    block = cells.get_data()
    assert len(block.segments) == 2
    again = [s.times.magnitude for s in block.segments[1].spiketrains]
    assert all(np.array_equal(a, b) for a, b in zip(one, again, strict=True))


def test_heterogeneous_parameters_from_arrays_and_random_distributions():
    sim.setup(timestep=1.0)
    rng = sim.NumpyRNG(seed=7)
    cells = sim.Population(
        16, sim.IF_curr_exp(i_offset=np.linspace(0.5, 2.0, 16), tau_refrac=2.0,
                            tau_m=sim.RandomDistribution("uniform", (10.0, 30.0), rng=rng)))
    cells.record("spikes")
    from spikeloom.compiler import CompileWarning
    with pytest.warns(CompileWarning, match="can never reach threshold"):
        sim.run(200.0)      # the compiler knows that the weakest-driven neurons never fire
    tau = cells.get("tau_m")
    assert np.unique(tau).size == 16 and np.all((tau >= 10) & (tau <= 30))
    lif = sim.state.net.neuron_populations[0].params
    assert np.allclose(lif["tau_mem"], tau)
    p = {k: np.asarray(cells.get(k), float) for k in ("tau_m", "cm", "v_rest", "i_offset")}
    bias = p["i_offset"] * p["tau_m"] / p["cm"] * (1 - np.exp(-1.0 / p["tau_m"]))
    assert np.allclose(lif["bias"], bias)
    counts = [len(s) for s in cells.get_data().segments[0].spiketrains]
    # steady state v_rest + i R: rheobase 15 mV / 1 nA... every neuron with i R > 15 mV fires
    assert all((c > 0) == (i * t > 15.0 + 0.5) for c, i, t in
               zip(counts, p["i_offset"], p["tau_m"], strict=True) if abs(i * t - 15.0) > 0.5)


def test_connectors_views_and_assemblies():
    sim.setup(timestep=1.0)
    rng = sim.NumpyRNG(seed=3)
    src = sim.Population(10, sim.SpikeSourcePoisson(rate=50.0), label="src")
    src2 = sim.Population(8, sim.SpikeSourcePoisson(rate=20.0), label="src2")
    a = sim.Population(12, sim.IF_curr_exp(), label="a")
    b = sim.Population(8, sim.IF_curr_exp(), label="b")
    both = sim.Assembly(a, b)
    p_all = sim.Projection(src, a, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5))
    p_one = sim.Projection(src2[2:6], a[4:8], sim.OneToOneConnector(),
                           sim.StaticSynapse(weight=0.25))
    p_prob = sim.Projection(a, both, sim.FixedProbabilityConnector(0.3, rng=rng),
                            sim.StaticSynapse(weight=-0.3), receptor_type="inhibitory")
    p_pre = sim.Projection(src, b, sim.FixedNumberPreConnector(3, rng=rng),
                           sim.StaticSynapse(weight=0.4))
    p_list = sim.Projection(src2, a, sim.FromListConnector([(0, 1, 0.7, 1.0), (6, 7, 0.2, 1.0)]),
                            sim.StaticSynapse())
    assert len(p_all) == 120 and len(p_one) == 4 and len(p_pre) == 24 and len(p_list) == 2
    assert 0.15 < len(p_prob) / (12 * 20) < 0.45
    both.record("spikes")
    sim.run(50.0)
    for prj, w in ((p_all, 0.5), (p_one, 0.25), (p_prob, -0.3), (p_pre, 0.4)):
        got = prj.get("weight", format="list", with_address=False)
        assert np.allclose(got, w, rtol=0.02), prj.label
    # the view's synapses sit where OneToOne puts them in the parents: src2[2+k] -> a[4+k]
    net_proj = [p for p in sim.state.net.projections if p.src.name == "src2"
                and p.n_synapses == 4][0]
    assert net_proj.pre.tolist() == [2, 3, 4, 5] and net_proj.post.tolist() == [4, 5, 6, 7]
    arr = p_list.get("weight", format="array")
    assert arr[0, 1] == pytest.approx(0.7, rel=0.02) and arr[6, 7] == pytest.approx(0.2, rel=0.05)
    assert np.isnan(arr).sum() == 8 * 12 - 2
    pre_per_post = np.sum(~np.isnan(p_pre.get("weight", format="array")), axis=0)
    assert np.all(pre_per_post == 3)
    assert len(both.get_data().segments[0].spiketrains) == 20


# -- errors ----------------------------------------------------------------------------------------

def test_unsupported_features_raise_pynn_errors():
    sim.setup(timestep=1.0)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[1.0], [2.0]]))
    cells = sim.Population(2, sim.IF_curr_exp(tau_syn_E=5.0, tau_syn_I=10.0))
    with pytest.raises(errors.ConnectionError, match="outside setup.*1 .. 1 ms"):
        sim.Projection(src, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=1.0,
                                                                              delay=2.0))
    with pytest.raises(errors.RecordingError):
        cells.record("gsyn_exc")
    # PyNN's own sign rule: inhibitory current-based weights are negative
    with pytest.raises(errors.ConnectionError, match="negative"):
        sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.5),
                       receptor_type="inhibitory")
    sim.end()
    # tau_syn_I != tau_syn_E matters only where inhibition arrives
    sim.setup(timestep=1.0)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[1.0], [2.0]]))
    cells = sim.Population(2, sim.IF_curr_exp(tau_syn_E=5.0, tau_syn_I=10.0))
    sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.5))
    sim.run(5.0)            # excitatory only: fine
    sim.end()
    # inhibition with its own time constant: a core with two currents is chosen on model://;
    # a target without them is refused with PyNN's error
    for target in (None, "default"):
        sim.setup(timestep=1.0, target=target)
        src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[1.0], [2.0]]))
        cells = sim.Population(2, sim.IF_curr_exp(tau_syn_E=5.0, tau_syn_I=10.0))
        sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=-0.5),
                       receptor_type="inhibitory")
        drive = sim.Population(2, sim.SpikeSourceArray(spike_times=[[1.0, 3.0], [2.0]]))
        sim.Projection(drive, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=5.0))
        if target is None:
            sim.run(5.0)
            assert sim.state.image.config.inh_current
        else:
            with pytest.raises(errors.InvalidParameterValueError, match="tau_syn_I"):
                sim.run(5.0)
        sim.end()
    with pytest.raises(errors.InvalidParameterValueError, match="min_delay >= timestep"):
        sim.setup(timestep=1.0, min_delay=0.5)
    with pytest.raises(errors.InvalidParameterValueError, match="below min_delay"):
        sim.setup(timestep=1.0, min_delay=2.0, max_delay=1.5)


def test_static_synapse_delays_arrive_at_their_tick():
    """StaticSynapse(delay=...) within setup(max_delay=...): a source spike at 5 ms drives each
    target through a one-spike synapse of its own delay; the target fires when the PSP arrives,
    ``delay - 1`` ticks after a one-tick synapse's target (on a configuration model:// picks
    with enough delay bits)."""
    delays = [1.0, 2.0, 4.0, 7.0]
    sim.setup(timestep=1.0, max_delay=8.0)
    assert sim.get_min_delay() == 1.0 and sim.get_max_delay() == 8.0
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[5.0], []]))
    cells = sim.Population(4, sim.IF_curr_exp(tau_syn_E=0.1, v_thresh=-64.0, tau_refrac=50.0))
    sim.Projection(src, cells, sim.FromListConnector([(0, k, 20.0, d)
                                                      for k, d in enumerate(delays)],
                                                     column_names=["weight", "delay"]),
                   sim.StaticSynapse())
    cells.record("spikes")
    sim.run(30.0)
    first = [float(st.times.magnitude[0]) for st in cells.get_data().segments[0].spiketrains]
    assert sim.state.image.config.delay_bits == 3
    assert np.array_equal(sim.state.image.delays()[0, :4], delays)
    assert np.array_equal(np.array(first) - first[0], np.array(delays) - 1.0), first
    sim.end()


def test_compile_errors_and_fit_errors_come_through():
    sim.setup(timestep=1.0, target="tiny")
    sim.Population(9, sim.IF_curr_exp())
    with pytest.raises(sl.FitError, match="presets that fit"):
        sim.run(1.0)
    sim.end()
    sim.setup(timestep=1.0)
    sim.Population(2, sim.IF_curr_exp(v_reset=-40.0, v_thresh=-50.0))
    with pytest.raises(sl.CompileError, match="v_reset"):
        sim.run(1.0)


def test_compile_report_flags_what_the_mapping_rounds():
    """PyNN's default tau_refrac (0.1 ms) rounds to 0 ticks at dt = 1 ms: the compile report
    (sim.state.image.report) lists it with its error and flags it."""
    sim.setup(timestep=1.0)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[1.0], [2.0]]))
    cells = sim.Population(3, sim.IF_curr_exp(tau_refrac=0.1), label="cells")
    sim.Projection(src, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.3))
    sim.run(5.0)
    report = str(sim.state.image.report)
    line = next(x for x in report.splitlines() if "cells.refractory_ms" in x)
    assert "100.00%" in line and line.rstrip().endswith("!")
    assert "round with more than 5% error: cells.refractory_ms" in report


def test_changes_after_run_need_reset():
    sim.setup(timestep=1.0, target="tiny")      # no probes: v is read back after every tick
    cells = sim.Population(2, sim.IF_curr_exp(i_offset=1.0))
    cells.record("v")
    sim.run(6.0)
    assert cells.get_data().segments[-1].filter(name="v")[0].shape == (7, 2)
    cells.set(i_offset=1.5)
    with pytest.raises(NotImplementedError, match="reset"):
        sim.run(1.0)
    sim.reset()
    sim.run(3.0)
    assert cells.get_data().segments[-1].filter(name="v")[0].shape == (4, 2)


# -- STDP ------------------------------------------------------------------------------------------

def test_stdp_weights_equal_the_native_api():
    rng = np.random.default_rng(5)
    times = [sorted(set(np.round(rng.uniform(0, 190, 12)).tolist())) for _ in range(6)]
    w0 = rng.uniform(0.2, 0.6, (6, 4))
    cell = dict(cm=1.0, tau_m=20.0, tau_syn_E=5.0, tau_syn_I=5.0, v_rest=-65.0, v_reset=-65.0,
                v_thresh=-60.0, tau_refrac=2.0, i_offset=0.0)
    stdp = dict(tau_plus=20.0, tau_minus=20.0, A_plus=0.02, A_minus=0.024, w_min=0.0, w_max=1.0)

    sim.setup(timestep=1.0)
    src = sim.Population(6, sim.SpikeSourceArray(spike_times=times))
    cells = sim.Population(4, sim.IF_curr_exp(**cell))
    syn = sim.STDPMechanism(
        timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.02,
                                            A_minus=0.024),
        weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=1.0),
        weight=0.0, delay=1.0)
    prj = sim.Projection(src, cells, sim.FromListConnector(
        [(i, j, w0[i, j], 1.0) for i in range(6) for j in range(4)]), syn)
    cells.record("spikes")
    sim.run(200.0)
    w_pynn = prj.get("weight", format="array")
    target = sim.state.image.config.name
    spikes_pynn = [s.times.magnitude for s in cells.get_data().segments[0].spiketrains]
    sim.end()

    # the same network written against the native API, by hand (mV units, docs/pynn.md)
    k = float(mapping.psc_scale(1.0, 20.0, 5.0, 1.0))
    net = sl.Network()
    inp = net.inputs(6, name="src")
    pop = net.population(4, sl.LIF(tau_mem=20.0, tau_syn=5.0, threshold=-60.0, v_rest=-65.0,
                                   v_reset=-65.0, refractory=2), name="cells")
    proj = net.connect(inp, pop, weights=w0 * k, stdp=sl.STDP(
        a_plus=stdp["A_plus"] * stdp["w_max"] * k, a_minus=stdp["A_minus"] * stdp["w_max"] * k,
        tau_plus=20.0, tau_minus=20.0, w_min=0.0, w_max=stdp["w_max"] * k))
    # a source spike at t is injected for tick t + 1 (it reaches its targets dt later)
    events = np.array([(int(t) + 1, i) for i, ts in enumerate(times) for t in ts], np.int64)
    image = sl.compile(net, target=target)
    with sl.open(f"model://{target}") as board:
        board.load(image)
        result = board.run(200, inputs={"src": events})
        w_native = board.read_weights(proj) / k
    assert np.array_equal(w_pynn, w_native)
    assert not np.allclose(w_native, w0, atol=1e-3)          # learning happened
    native_spikes = result["cells"].events
    for j in range(4):
        assert np.array_equal(spikes_pynn[j], np.sort(native_spikes[native_spikes[:, 1] == j, 0]))


# -- the same script on model:// and on the virtual board ------------------------------------------

def vboard_script(url):
    """Poisson and array sources, recurrent excitation and inhibition, tiny enough for the
    'tiny' preset; returns every spike time."""
    sim.setup(timestep=1.0, url=url, target="tiny", rng_seed=11)
    rng = sim.NumpyRNG(seed=2)
    noise = sim.Population(3, sim.SpikeSourcePoisson(rate=80.0), label="noise")
    cue = sim.Population(1, sim.SpikeSourceArray(spike_times=[3.0, 4.0, 40.0]), label="cue")
    exc = sim.Population(6, sim.IF_curr_exp(tau_refrac=2.0, v_thresh=-58.0), label="exc")
    inh = sim.Population(2, sim.IF_curr_exp(tau_refrac=1.0, v_thresh=-60.0), label="inh")
    exc.initialize(v=sim.RandomDistribution("uniform", (-65.0, -59.0), rng=rng))
    sim.Projection(noise, exc, sim.FixedProbabilityConnector(0.7, rng=rng),
                   sim.StaticSynapse(weight=1.5))
    sim.Projection(cue, exc, sim.AllToAllConnector(), sim.StaticSynapse(weight=2.0))
    sim.Projection(exc, inh, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.8))
    sim.Projection(inh, exc, sim.AllToAllConnector(), sim.StaticSynapse(weight=-1.0),
                   receptor_type="inhibitory")
    exc.record("spikes")
    inh.record("spikes")
    sim.run(80.0)
    return [list(s.times.magnitude) for p in (exc, inh)
            for s in p.get_data().segments[0].spiketrains]


def test_same_script_same_spikes_on_model_and_virtual_board():
    from spikeloom.errors import ToolNotFound
    from spikeloom.sim import vboard
    try:
        exe = vboard.binary("tiny")
    except ToolNotFound as exc:
        pytest.skip(f"virtual board cannot be built here: {exc}")
    model = vboard_script("model://")
    sim.end()
    with vboard.VirtualBoard("tiny", exe=exe) as vb:
        rtl = vboard_script(vb.url)
        sim.end()
    assert sum(len(s) for s in model) > 10
    assert model == rtl


# -- one cell against pyNN.brian2 ------------------------------------------------------------------

def cell_script(backend, refractory_extra=0.0):
    """An excitatory and an inhibitory PSP on one cell, and a cell driven by i_offset."""
    backend.setup(timestep=1.0)
    src = backend.Population(2, backend.SpikeSourceArray(spike_times=[[5.0, 9.0], [30.0]]))
    cells = backend.Population(2, backend.IF_curr_exp(
        cm=0.2, tau_m=20.0, v_rest=-65.0, v_thresh=[-40.0, -55.0], v_reset=-70.0,
        tau_syn_E=5.0, tau_syn_I=5.0, i_offset=[0.0, 0.7], tau_refrac=2.0 + refractory_extra))
    cells.initialize(v=-65.0)
    backend.Projection(src[0:1], cells[0:1], backend.AllToAllConnector(),
                       backend.StaticSynapse(weight=0.1))
    backend.Projection(src[1:2], cells[0:1], backend.AllToAllConnector(),
                       backend.StaticSynapse(weight=-0.15), receptor_type="inhibitory")
    cells.record(["spikes", "v"])
    backend.run(200.0)
    seg = cells.get_data().segments[0]
    out = (seg.filter(name="v")[0].magnitude.copy(),
           [s.times.magnitude.copy() for s in seg.spiketrains])
    return out


@pytest.mark.filterwarnings("ignore::pyparsing.PyparsingDeprecationWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_one_cell_matches_pynn_brian2():
    """PSPs: Brian2 delivers a spike with delay dt one step later than the core (and NEST), so
    its trace is ours shifted by one sample; both must agree within what the integers can lose:
    each decay truncates toward zero, so the current lags by < E_s = 1/(1 - a_syn) units and
    the membrane by < E_m (1 + E_s) units, E_m = 1/(1 - a_mem) (docs/numerics.md), plus half a
    weight unit of rounding per PSP (relative 0.5 / the weight's integer). The i_offset cell:
    Brian2 counts the spike's own step as refractory (tau_refrac + dt there); its spike count
    may differ by the drift, at most one spike here, and the first spike times by at most one
    step."""
    ours_v, ours_spikes = cell_script(sim)
    scale = sim.state.image.population(sim.state.populations[1]._sl_name).scale
    sim.end()
    brian2 = pytest.importorskip("brian2")
    import pyNN.brian2 as b2sim
    saved = brian2.prefs.codegen.target
    brian2.prefs.codegen.target = "numpy"
    try:
        b2_v, b2_spikes = cell_script(b2sim, refractory_extra=1.0)
        b2sim.end()
    finally:
        brian2.prefs.codegen.target = saved
    e_m, e_s = (1.0 / (1.0 - math.exp(-1.0 / tau)) for tau in (20.0, 5.0))
    w_int = round(0.1 / 0.15 * 127)             # the exc weight's integer (inh is the largest)
    psp = np.abs(b2_v[:, 0] + 65.0)
    assert ours_spikes[0].size == 0 and b2_spikes[0].size == 0
    diff = np.abs(ours_v[:-1, 0] - b2_v[1:, 0])
    assert np.max(psp) > 0.5                                         # real PSPs
    assert np.max(diff) <= e_m * (1 + e_s) / scale + 0.5 / w_int * np.max(psp)
    assert np.max(diff) > 0                                          # the integer device
    assert abs(ours_spikes[1].size - b2_spikes[1].size) <= 1 and b2_spikes[1].size >= 5
    assert abs(ours_spikes[1][0] - b2_spikes[1][0]) <= 1.0


# -- the CUBA benchmark against pyNN.brian2 --------------------------------------------------------

CUBA_N = 512            # ulx3s_85f: 512 neurons; 2 % connectivity gives ~10 inputs
CUBA_PRESET = "ulx3s_85f"   # tau_syn_I = 10 ms != tau_syn_E: the separate inhibitory current
CUBA_SKIP = 100.0       # ms; rates and CVs from here on (after the 50 ms kick)


def _w14():
    """The CUBA preset with 14-bit weights: a voltage resolution at which the integers lose
    nothing that matters (E/scale = 0.008 mV)."""
    from spikeloom.proto.config import preset
    return preset(CUBA_PRESET).replace(w_width=14, weights_per_word=1, name="ulx3s_85f_w14")


def _brian2_cuba(cuba, v_thresh, t_stop, trial):
    """One seeded pyNN.brian2 run of ``cuba`` with threshold ``v_thresh``: run ``trial`` draws
    the initial potentials, the kick's connections (init_seed) and its Poisson times (Brian2's
    seed) from seeds of its own."""
    brian2 = pytest.importorskip("brian2")
    import pyNN.brian2 as b2sim
    saved = brian2.prefs.codegen.target
    brian2.prefs.codegen.target = "numpy"
    # Brian2 counts the spike's own step as refractory, the core (and NEST) do not: the same
    # dead time is tau_refrac + dt in Brian2 (docs/numerics.md). Brian2 delivers a spike after
    # the step's state update, so a delay of dt reaches v one step later than on the core (and
    # NEST); its delays round to whole steps, so 0.4 dt (0 steps) gives the core's latency
    # (test_one_cell_matches_pynn_brian2 shows the shift)
    saved_cell = cuba.CELL
    cuba.CELL = dict(saved_cell, v_thresh=v_thresh, tau_refrac=saved_cell["tau_refrac"] + 1.0)
    try:
        brian2.seed(trial)                  # PoissonGroup draws from Brian2's generator
        exc, inh, _ = cuba.cuba(b2sim, n=CUBA_N, t_stop=t_stop, delay=0.4,
                                init_seed=2000 + trial)
        b2sim.end()
    finally:
        cuba.CELL = saved_cell
        brian2.prefs.codegen.target = saved
    return exc, inh


def _stats(segment, t_stop):
    """(mean rate in Hz, mean CV of the ISIs) of a Neo segment from CUBA_SKIP on."""
    rates, cvs = [], []
    for train in segment.spiketrains:
        t = np.asarray(train.times.magnitude)
        t = t[t >= CUBA_SKIP]
        rates.append(t.size / ((t_stop - CUBA_SKIP) / 1000.0))
        if t.size >= 3:
            cvs.append(np.diff(t).std() / np.diff(t).mean())
    return np.mean(rates), np.mean(cvs)


_BRIAN2_CUBA = {}       # (v_thresh, t_stop, trial) -> (exc, inh) statistics, shared by the tests


def _cuba_runs(target, t_stop, trials, brian2_trials, **cuba_kwargs):
    """CUBA on spikeloom compiled for ``target`` (``trials`` runs) and on pyNN.brian2 at
    v_thresh and at v_thresh + E/scale (``brian2_trials`` runs each), all on the same graph;
    returns ``({"exc"|"inh": (ours, low_end, high_end)}, E/scale)``, each an array (run,
    statistic).

    The integer membrane lies in (u - E, u] of the float one (docs/numerics.md), E = 1 /
    (1 - exp(-dt/tau_m)) integer units = E / scale mV: so the core's network behaves like
    Brian2's with a threshold raised by 0 .. E / scale (about 0.5 mV with 8-bit weights: the
    voltage resolution is set by the largest weight, the inhibitory one). A network this small
    has states that differ from run to run (initial potentials, the Poisson kick: equally valid
    chaotic trajectories), so every run on either side draws those from its own seeds and the
    spread is measured."""
    import warnings
    cuba = _cuba_module()
    ours = []
    for trial in range(trials):
        exc, inh, _ = cuba.cuba(sim, n=CUBA_N, t_stop=t_stop, init_seed=1000 + trial,
                                rng_seed=trial, target=target, **cuba_kwargs)
        scale = sim.state.image.population("cells").scale
        sim.end()
        ours.append([_stats(exc, t_stop), _stats(inh, t_stop)])
    e_mv = 1.0 / (1.0 - math.exp(-1.0 / cuba.CELL["tau_m"])) / scale
    ends = []
    for v_thresh in (cuba.CELL["v_thresh"], cuba.CELL["v_thresh"] + e_mv):
        runs = []
        for trial in range(brian2_trials):
            key = (round(v_thresh, 6), t_stop, trial)
            if key not in _BRIAN2_CUBA:
                with warnings.catch_warnings():     # pyparsing 3.3 deprecations inside Brian2
                    warnings.simplefilter("ignore", DeprecationWarning)
                    _BRIAN2_CUBA[key] = [_stats(seg, t_stop) for seg in
                                         _brian2_cuba(cuba, v_thresh, t_stop, trial)]
            runs.append(_BRIAN2_CUBA[key])
        ends.append(np.array(runs))
    ours = np.array(ours)                   # (run, population, statistic)
    return {name: (ours[:, k], ends[0][:, k], ends[1][:, k])
            for k, name in enumerate(("exc", "inh"))}, e_mv


def _check_bracket(runs, what):
    """The mean over the n spikeloom runs must lie between the means over the m Brian2 runs at
    v_thresh and at v_thresh + E/scale, widened by 3 standard deviations of the difference of
    two such means: 3 s sqrt(1/n + 1/m), s the run-to-run spread pooled over all three sets
    of runs (the same chaotic network on either side)."""
    stats, e_mv = runs
    m = {"rate": 0, "CV": 1}[what]
    for name, (ours, a, b) in stats.items():
        ends = a[:, m].mean(), b[:, m].mean()
        low, high = min(ends), max(ends)
        sets = [ours[:, m], a[:, m], b[:, m]]
        s = math.sqrt(sum(((x - x.mean()) ** 2).sum() for x in sets) /
                      sum(x.size - 1 for x in sets))
        mean = ours[:, m].mean()
        tol = 3 * s * math.sqrt(1 / ours.shape[0] + 1 / a.shape[0])
        assert low - tol <= mean <= high + tol, (
            f"{name} {what}: spikeloom {mean:.3f} (runs {np.round(ours[:, m], 3)}), Brian2 "
            f"{ends[0]:.3f} (v_thresh, runs {np.round(a[:, m], 3)}) .. {ends[1]:.3f} "
            f"(v_thresh + {e_mv:.3f} mV, runs {np.round(b[:, m], 3)}), pooled spread "
            f"{s:.3f}, tolerance {tol:.3f}")


def test_cuba_matches_pynn_brian2():
    """The CUBA network (examples/pynn_cuba.py, 512 cells, 600 ms, 14-bit weights) on
    spikeloom, 6 runs from different initial potentials and kicks, against seeded pyNN.brian2
    on the same graph: the mean rate and the mean CV of the ISIs, each for the excitatory and
    the inhibitory cells, from 100 ms on.

    Tolerance (derived, _check_bracket): the integer membrane lies up to E = 1/(1 - am) units
    below the float one, so spikeloom must lie between Brian2 at v_thresh and at v_thresh +
    E/scale (0.008 mV here), 2 seeded Brian2 runs at each; widened by 3 s sqrt(1/6 + 1/2), s
    the run-to-run spread of this chaotic network pooled over the 10 runs. About 35 s CPU;
    one test, not parametrized, so that xdist workers do not repeat the runs (the long
    version: test_cuba_14bit_weights_match_pynn_brian2, make regress)."""
    runs = _cuba_runs(_w14(), 600.0, 6, 2)
    _check_bracket(runs, "rate")
    _check_bracket(runs, "CV")


def _charge_psc_scale(dt, tau_m, tau_syn, cm):
    """A plausible wrong mapping: the jump that gives a PSC of PyNN's charge w tau_syn (a
    delta synapse's area), not its shape; 2.5 % above psc_scale for the CUBA cell."""
    return np.broadcast_to(tau_syn / cm * (1 - np.exp(-dt / tau_syn)),
                           np.broadcast(tau_m, tau_syn, cm).shape).astype(float)


def _slow_membrane(lif_params):
    """A planted bug: the membrane decays with 1.1 tau_m."""
    return lambda dt, p: lif_params(dt, dict(p, tau_m=1.1 * np.asarray(p["tau_m"])))


@pytest.mark.regress
@pytest.mark.parametrize("plant", ["charge psc_scale", "tau_m x 1.1"])
def test_cuba_check_fails_on_a_planted_error(plant, monkeypatch):
    """The short CUBA check (test_cuba_matches_pynn_brian2) is not too wide to fail: with the
    PSC scaled for the charge instead of the shape (a 2.5 % weight error), or a membrane time
    constant 10 % off, the spikeloom side leaves the bracket (measured: the rate fails, the
    CV stays inside: the CV of this network is the less sensitive statistic)."""
    if plant == "charge psc_scale":
        monkeypatch.setattr(mapping, "psc_scale", _charge_psc_scale)
    else:
        monkeypatch.setattr(mapping, "lif_params", _slow_membrane(mapping.lif_params))
    runs = _cuba_runs(_w14(), 600.0, 6, 2)
    failed = []
    for what in ("rate", "CV"):
        try:
            _check_bracket(runs, what)
        except AssertionError:
            failed.append(what)
    assert "rate" in failed


CUBA_T = 1000.0         # ms, the long versions (make regress)
CUBA_TRIALS = 4


@pytest.fixture(scope="module")
def cuba_8bit():
    return _cuba_runs(CUBA_PRESET, CUBA_T, CUBA_TRIALS, CUBA_TRIALS)


@pytest.fixture(scope="module")
def cuba_14bit():
    return _cuba_runs(_w14(), CUBA_T, CUBA_TRIALS, CUBA_TRIALS)


_CUBA_OPEN = (
    "open (docs/pynn.md): with 8-bit weights one voltage unit is 0.026 mV and the truncating decay "
    "of the synaptic current adds a drift the E/scale bracket does not hold: the rates sit at its "
    "v_thresh + E/scale end (exc 21.7 Hz vs Brian2 23.7 .. 21.6 Hz), the exc CV above it: 0.147 "
    "(runs 0.145-0.151) vs 0.113 .. 0.127, tolerance 0.006; with 14-bit weights it is inside "
    "(test_cuba_14bit_*). Closing it is a numerics change (decays that round), out of the PyNN "
    "backend's scope")


# the long CUBA cross-checks take about 3 minutes (4 + 4 spikeloom runs, 4 pyNN.brian2 runs of
# 512 cells): make regress
@pytest.mark.regress
@pytest.mark.parametrize("what", ["rate", "CV"])
def test_cuba_14bit_weights_match_pynn_brian2(cuba_14bit, what):
    """The mapping, at a voltage resolution where the integers lose nothing that matters."""
    _check_bracket(cuba_14bit, what)


@pytest.mark.regress
@pytest.mark.parametrize("what", ["rate", pytest.param("CV", marks=pytest.mark.xfail(
    strict=True, reason=_CUBA_OPEN))])
def test_cuba_8bit_weights_against_pynn_brian2(cuba_8bit, what):
    """The boards' 8-bit weights (E/scale = 0.53 mV): the rates are inside the bracket, the
    excitatory CV is not (an open xfail)."""
    _check_bracket(cuba_8bit, what)


def test_cuba_example_runs_and_plots(tmp_path, monkeypatch, capsys):
    """examples/pynn_cuba.py as the docs run it (spikeloom on model://, shortened to 300 ms):
    prints the compile report and both views' rates, writes the raster + rates plot."""
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    _cuba_module().main("spikeloom", "model://", t_stop=300.0)
    out = capsys.readouterr().out
    assert "compiled for 'ulx3s_85f'" in out and "uses 512/512 neurons" in out
    assert "exc: " in out and "inh: " in out and "wrote pynn_cuba.png" in out
    assert (tmp_path / "pynn_cuba.png").stat().st_size > 10_000


def test_the_docs_snippet_runs():
    import re
    text = (ROOT / "docs" / "pynn.md").read_text()
    code = re.search(r"^```python\n(.*?)^```", text, re.M | re.S).group(1)
    scope = {}
    exec(compile(code, "docs/pynn.md", "exec"), scope)      # noqa: S102 - our own doc
    assert scope["weights"].shape == (10, 50)
    assert len(scope["block"].segments[0].spiketrains) == 50
