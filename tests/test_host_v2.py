"""Host side of neuron model v2 (issue 15): ``LIF(theta_jump=, tau_theta=, tau_syn_inh=)``.

Compilation (per-neuron arrays, the integers docs/numerics.md defines, the errors for a core
without the feature and for values the field cannot hold), and end to end on ``model://``
against the golden model: adapting neurons slow down under constant drive and ``read_state``'s
``theta`` is the model's; an inhibitory projection's current decays with ``tau_syn_inh``.
The golden device runs its reference engine (``?engine=reference``: same bytes as any engine).
"""

import math

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.compiler import CompileWarning
from spikeloom.proto.fixed import decay, decay_factor
from spikeloom.proto.memmap import Region
from spikeloom.sim.model import Core

URL = "model://tiny_full?engine=reference"
F = sl.preset("tiny_full").decay_frac


def model_core(image):
    """The image's regions written into the golden model (as tests/test_host_board.py)."""
    return Core.from_image(image, engine="reference")


def one_pop(target="tiny_full", n=4, weight=0.25, **lif):
    net = sl.Network()
    inp = net.inputs(2, name="in")
    pop = net.population(n, sl.LIF(**lif), name="p")
    net.connect(inp, pop, weights=weight)
    return net


# -- compiling -------------------------------------------------------------------------------------

def test_per_neuron_arrays_become_the_integers_of_the_numerics():
    jump = np.array([0.02, 0.05, 0.0, 0.1])
    tau_th = np.array([50.0, math.inf, 80.0, 200.0])
    tau_inh = np.array([10.0, 15.0, 20.0, 5.0])
    net = one_pop(threshold=1.0, theta_jump=jump, tau_theta=tau_th, tau_syn_inh=tau_inh)
    image = sl.compile(net, target="tiny_full")
    s = image.populations["p"].scale
    p = image.fields(Region.NEURON_PARAMS)
    assert list(p["theta_jump"][:4]) == [round(x * s) for x in jump]
    assert list(p["alpha_theta"][:4]) == [decay_factor(t, 1.0, F) for t in tau_th]
    assert list(p["alpha_inh"][:4]) == [decay_factor(t, 1.0, F) for t in tau_inh]
    assert p["alpha_theta"][1] == 1 << F                # math.inf: no decay
    assert image.report["p.theta_jump"].index == 0      # worst relative error: the smallest
    assert image.report["p.tau_syn_inh (alpha)"].integer in p["alpha_inh"][:4]


def test_defaults_keep_one_current_and_no_adaptation():
    """tau_syn_inh=None on a core with inh_current: the negative weights decay as tau_syn;
    theta_jump 0: theta never moves, and nothing about theta is reported."""
    image = sl.compile(one_pop(threshold=1.0, tau_syn=4.0), target="tiny_full")
    p = image.fields(Region.NEURON_PARAMS)
    assert np.array_equal(p["alpha_inh"][:4], p["alpha_syn"][:4])
    assert p["alpha_syn"][0] == decay_factor(4.0, 1.0, F)
    assert not p["theta_jump"].any() and np.all(p["alpha_theta"][:4] == 1 << F)
    assert not [e for e in image.report.entries if "theta" in e.what or "inh" in e.what]


def test_v_rest_does_not_shift_theta_jump():
    image = sl.compile(one_pop(v_rest=-65.0, threshold=-50.0, theta_jump=0.5),
                       target="tiny_full")
    s = image.populations["p"].scale
    assert image.fields(Region.NEURON_PARAMS)["theta_jump"][0] == round(0.5 * s)


def test_scale_leaves_room_for_theta_jump():
    """The chosen scale lets theta hold four of the largest theta_jump (as it keeps voltages
    inside v_width); a fixed scale that lets it hold fewer is warned about."""
    image = sl.compile(one_pop(threshold=1.0, weight=0.1, theta_jump=[0.5, 2.0, 1.0, 0.0]),
                       target="tiny_full")
    assert image.populations["p"].scale == pytest.approx((255 // 4) / 2.0)
    assert image.fields(Region.NEURON_PARAMS)["theta_jump"][1] == 255 // 4
    with pytest.warns(CompileWarning, match=r"theta_jump\[1\] = 2 is 200 of the 8-bit theta's "
                                            r"255: theta saturates after 2 spike\(s\)"):
        sl.compile(one_pop(threshold=1.0, theta_jump=[0.5, 2.0, 1.0, 0.0], scale=100.0),
                   target="tiny_full")


def test_raw_population_takes_the_feature_fields():
    net = sl.Network()
    net.inputs(1, name="in")
    net.population(2, sl.LIF.raw(threshold=100, alpha_mem=4000, alpha_syn=3000,
                                 theta_jump=[7, 9], alpha_theta=4090), name="r")
    with pytest.warns(CompileWarning, match="never reach"):
        image = sl.compile(net, target="tiny_full")
    p = image.fields(Region.NEURON_PARAMS)
    assert list(p["theta_jump"][:2]) == [7, 9] and list(p["alpha_theta"][:2]) == [4090] * 2
    assert list(p["alpha_inh"][:2]) == [3000, 3000]     # default: alpha_syn
    with pytest.raises(sl.CompileError, match=r"'r': LIF.raw theta_jump\[0\] = 7 needs the "
                                              r"adaptive threshold.*tiny_full"):
        sl.compile(net, target="tiny")


@pytest.mark.parametrize("lif, target, match", [
    (dict(theta_jump=[0.0, 0.0, 0.1, 0.0]), "tiny",
     r"population 'p': theta_jump\[2\] = 0.1 needs the adaptive threshold "
     r"\(CoreConfig.theta_width > 0\), which configuration 'tiny' does not have; presets with "
     r"it: tiny_full, up5k"),
    (dict(tau_syn_inh=15.0, weight=-0.25), "up5k",
     r"'p': tau_syn_inh = 15 ms needs a separate inhibitory current \(CoreConfig.inh_current\)"
     r", which configuration 'up5k' does not have.*presets with it: tiny_full, .*ulx3s_85f"),
    (dict(tau_syn=5.0, tau_syn_inh=[5.0, 5.0, 5.0, 9.0], weight=-0.25), "tiny",
     r"tau_syn_inh\[3\] = 9 ms"),
    (dict(tau_syn_inh=[9.0, 9.0, 9.0, 9.0], weight=[[0.3, -0.2, 0.3, 0.3], [0.3] * 4]), "tiny",
     r"tau_syn_inh\[1\] = 9 ms"),         # the first neuron that receives a negative weight
    (dict(theta_jump=0.0001, scale=100.0), "tiny_full",
     r"'p': theta_jump = 0.0001 is 0 in hardware units at scale 100 \(set by "
     r"LIF\(scale=100\)\), so adaptation would be silently off"),
    (dict(theta_jump=[0.1, 3.0, 0.1, 0.1], scale=100.0), "tiny_full",
     r"theta_jump\[1\] = 3 is 300 in hardware units .*more than the 8-bit theta holds"),
])
def test_compile_errors_name_population_parameter_index_and_value(lif, target, match):
    with pytest.raises(sl.CompileError, match=match):
        sl.compile(one_pop(threshold=1.0, **lif), target=target)


def test_asking_nothing_of_a_missing_feature_compiles():
    """On a core without the features: tau_syn_inh equal to tau_syn is one current, a
    tau_syn_inh on neurons no negative weight reaches is moot, and a tau_theta without a
    theta_jump adapts nothing."""
    image = sl.compile(one_pop(threshold=1.0, weight=-0.25, tau_syn=5.0, tau_syn_inh=5.0,
                               tau_theta=30.0, bias=0.1), target="tiny")
    assert "alpha_inh" not in image.fields(Region.NEURON_PARAMS)
    sl.compile(one_pop(threshold=1.0, weight=0.25, tau_syn_inh=9.0), target="tiny")
    net = sl.Network()                  # a plastic projection may turn negative
    net.population(4, sl.LIF(threshold=1.0, tau_syn_inh=9.0), name="p")
    net.connect(net.inputs(2, name="in"), net["p"], weights=np.full((2, 4), 0.1),
                stdp=sl.STDP(w_min=-0.2, w_max=0.2))
    with pytest.raises(sl.CompileError, match=r"tau_syn_inh = 9 ms needs a separate"):
        sl.compile(net, target="tiny")


@pytest.mark.parametrize("lif, match", [
    (dict(theta_jump=[0.1, -0.1, 0.1]), r"'q': theta_jump\[1\] = -0.1 must be a finite number"),
    (dict(theta_jump=math.nan), r"'q': theta_jump = nan must be a finite number >= 0"),
    (dict(tau_theta=[10.0, 0.0, 10.0]), r"'q': tau_theta\[1\] = 0 is a time constant"),
    (dict(tau_syn_inh=-3.0), r"'q': tau_syn_inh = -3 is a time constant"),
    (dict(tau_syn_inh=[1.0, 2.0]), r"'q': tau_syn_inh has 2 values, expected one per neuron"),
])
def test_bad_values_are_refused_at_the_population(lif, match):
    with pytest.raises(sl.CompileError, match=match):
        sl.Network().population(3, sl.LIF(**lif), name="q")


# -- end to end on model:// ------------------------------------------------------------------------

def test_adapting_neurons_slow_down_and_theta_is_the_models():
    """Constant drive (bias): the adapting neurons' rate falls from the first window to the
    last, the non-adapting ones' does not; read_state's theta is the golden model's."""
    net = sl.Network("adapt")
    net.inputs(1, name="in")
    jump = np.array([0.0, 0.05, 0.1, 0.2])
    pop = net.population(4, sl.LIF(threshold=1.0, tau_mem=10.0, bias=0.15, theta_jump=jump,
                                   tau_theta=[math.inf, 100.0, 150.0, 200.0]), name="p")
    image = sl.compile(net, target="tiny_full")
    ticks, window = 600, 100
    with sl.open(URL, config="tiny_full") as board:
        board.load(image)
        result = board.run(ticks)
        state = board.read_state()["p"]
    dense = result["p"].dense
    first, last = dense[:window].sum(axis=0), dense[-window:].sum(axis=0)
    assert first[0] == last[0] > 0                      # no adaptation: a steady rate
    assert np.all(last[1:] < first[1:])                 # adaptation: fewer spikes
    assert np.all(np.diff(last[1:]) <= 0)                # larger jumps, slower
    core = model_core(image)
    raster = core.run(ticks, np.zeros((ticks, image.config.n_inputs), bool))
    assert np.array_equal(raster[:, :4], dense)
    assert np.array_equal(state.theta_raw, core.state.theta[:4])
    assert state.theta[0] == 0 and np.all(state.theta[1:] > 0)
    assert np.allclose(state.theta, state.theta_raw / image.populations[pop.name].scale)


def test_inhibitory_current_decays_with_tau_syn_inh():
    """One spike of an inhibitory neuron: the target's i_inh jumps by the weight and then
    decays by alpha_inh (tau_syn_inh) every tick, while an excitatory spike's current in the
    same neuron decays by alpha_syn (tau_syn)."""
    net = sl.Network("ei")
    inp = net.inputs(2, name="in")
    exc = net.population(1, sl.LIF(threshold=1.0, tau_syn=3.0, tau_syn_inh=15.0), name="exc")
    inh = net.population(1, sl.LIF(threshold=1.0, refractory=200), name="inh")
    net.connect(inp, inh, weights=[[2.0], [0.0]], name="drive")
    net.connect(inh, exc, weights=-0.5, name="inhibit")
    net.connect(inp, exc, weights=[[0.0], [0.4]], name="excite")
    image = sl.compile(net, target="tiny_full")
    spikes = np.zeros((1, 2), bool)
    spikes[0] = True                    # both inputs at tick 0
    ticks = 20
    with sl.open(URL, config="tiny_full") as board:
        board.load(image)
        result = board.run(ticks, inputs={"in": np.pad(spikes, ((0, ticks - 1), (0, 0)))})
        st = board.read_state()["exc"]
    assert result["inh"].events[:, 0].tolist() == [0]   # inh fired once, at tick 0
    assert result["exc"].count == 0
    p = image.fields(Region.NEURON_PARAMS)
    w_inh = int(image.weights()[image.config.n_inputs + 1, 0])
    w_exc = int(image.weights()[1, 0])
    assert w_inh < 0 < w_exc
    h = w_inh                           # delivered at tick 1, decayed at the end of ticks 1..19
    for _ in range(ticks - 1):
        h = int(decay(h, int(p["alpha_inh"][0]), F))
    i = w_exc                           # delivered at tick 0, decayed at the end of ticks 0..19
    for _ in range(ticks):
        i = int(decay(i, int(p["alpha_syn"][0]), F))
    assert st.i_inh_raw[0] == h and st.i_raw[0] == i
    s = image.populations["exc"].scale
    assert st.i_inh[0] == pytest.approx(h / s)
    # the float current after 19 decays, within the truncation bound 1/(1 - a) (numerics.md)
    a = math.exp(-1 / 15.0)
    assert 0 <= h - w_inh * a ** (ticks - 1) < 1 / (1 - a)
    assert h < w_inh * math.exp(-1 / 3.0) ** (ticks - 1)    # slower than tau_syn would be


def test_read_state_has_no_feature_fields_without_the_features():
    net = sl.Network()
    net.inputs(1, name="in")
    net.population(2, sl.LIF(bias=0.1), name="p")
    image = sl.compile(net, target="tiny")
    with sl.open("model://tiny?engine=reference", config="tiny") as board:
        board.load(image)
        st = board.read_state()["p"]
    assert st.theta is None and st.i_inh is None and st.v is not None


def test_example_adaptation_shows_the_rate_drop(tmp_path, capsys):
    """examples/adaptation.py: the adapting population slows down, the plain one does not;
    the plot is written; a device without the adaptive threshold is one error line."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
    try:
        import adaptation
    finally:
        sys.path.pop(0)
    assert adaptation.main(["--url", "model://ulx3s_85f?engine=reference", "--ticks", "400",
                            "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "adaptation.png").stat().st_size > 0
    data = adaptation.run("model://ulx3s_85f?engine=reference", ticks=400)
    a, p = data["rates"]["adapting"], data["rates"]["plain"]
    assert a[-1] < 0.75 * a[0] and p[-1] >= p[0]
    assert np.all(np.diff(data["theta"][:4]) > 0)
    assert f"{a[0]:6.1f} Hz in the first window" in out
    assert adaptation.main(["--url", "model://default?engine=reference", "--out",
                            str(tmp_path)]) == 1
    assert "needs the adaptive threshold" in capsys.readouterr().err


def test_feature_configs_travel_through_info_and_image_files(tmp_path):
    """INFO carries no feature fields: the host recovers them from the config hash; a .slimg
    of a feature configuration saves and loads (its manifest lists the features' fields)."""
    with sl.open(URL) as board:
        assert board.config == sl.preset("tiny_full") and board.config.name == "tiny_full"
    image = sl.compile(one_pop(threshold=1.0, theta_jump=0.1, tau_syn_inh=9.0),
                       target="tiny_full")
    image.save(tmp_path / "v2.slimg")
    loaded = sl.Image.load(tmp_path / "v2.slimg")
    assert not image.diff(loaded) and loaded.config == sl.preset("tiny_full")
