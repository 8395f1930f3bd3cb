"""Network description and compiler: placement, quantization, fit checks, report, determinism."""

import math

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.compiler import CompileWarning
from spikeloom.proto.fixed import decay_factor
from spikeloom.proto.memmap import Region


def small_net(w=None, stdp=None, n_in=4, n_exc=6):
    net = sl.Network("small")
    inp = net.inputs(n_in, name="in")
    exc = net.population(n_exc, sl.LIF(tau_mem=20.0, tau_syn=5.0, threshold=1.0,
                                       refractory=2), name="exc")
    if w is None:
        w = np.linspace(-0.5, 0.5, n_in * n_exc).reshape(n_in, n_exc)
    proj = net.connect(inp, exc, weights=w, stdp=stdp, name="ff")
    return net, inp, exc, proj


def test_quantization_follows_numerics():
    net, _, _, proj = small_net()
    image = sl.compile(net, target="tiny")
    cfg = image.config
    p = image.fields(Region.NEURON_PARAMS)
    scale = image.populations["exc"].scale
    # the largest |weight| uses the whole signed range
    assert math.isclose(scale, 127 / 0.5)
    assert np.all(p["alpha_mem"][:6] == decay_factor(20.0, 1.0, cfg.decay_frac))
    assert np.all(p["alpha_syn"][:6] == round(math.exp(-1 / 5) * 2 ** 12))
    assert np.all(p["threshold"][:6] == round(scale))
    assert np.all(p["refractory"][:6] == 2)
    # unused neurons never fire: largest threshold
    assert np.all(p["threshold"][6:] == 2 ** 15 - 1)
    w = image.weights()
    expect = np.round(proj.dense() * scale).astype(int)
    assert np.array_equal(w[:4, :6], expect)
    assert not w[4:].any() and not w[:, 6:].any()
    assert w.min() == -127 and w.max() == 127
    entry = image.report["exc.tau_mem (alpha)"]
    assert entry.integer == decay_factor(20.0, 1.0, 12)
    # the report shows tau and the effective tau of alpha, -dt / ln(alpha / 2^F); its error is
    # that of the leak per tick, 1 - exp(-dt/tau)
    assert math.isclose(entry.actual, -1 / math.log(entry.integer / 4096))
    leak = 1 - math.exp(-1 / 20.0)
    assert math.isclose(entry.rel_error, abs(1 - entry.integer / 4096 - leak) / leak)
    assert entry.rel_error < 2e-3
    # tau << dt: everything decays in one tick either way (alpha 0); no error to speak of
    tiny = sl.LIF(tau_syn=0.1)
    net = sl.Network()
    net.connect(net.inputs(1, name="i"), net.population(1, tiny, name="q"), weights=1.0)
    e = sl.compile(net, target="tiny").report["q.tau_syn (alpha)"]
    assert e.integer == 0 and e.actual == 0.0 and e.rel_error < 1e-4
    assert not image.report.flagged and not image.report.warnings


def test_recurrent_rows_come_after_inputs():
    net, _, exc, _ = small_net()
    net.connect(exc, exc, weights=sl.OneToOne(0.25), name="self")
    image = sl.compile(net, target="tiny")
    w = image.weights()
    m = image.config.n_inputs
    scale = image.populations["exc"].scale
    assert np.array_equal(np.diag(w[m:m + 6, :6]), np.full(6, round(0.25 * scale)))


def test_connectors_and_sparse_lists():
    net = sl.Network()
    a = net.inputs(5, name="a")
    b = net.population(5, name="b")
    p1 = net.connect(a, b, weights=[(0, 1, 0.5), (4, 3, -0.25)], name="sparse")
    p2 = net.connect(b, b, weights=sl.FixedProbability(0.5, 0.1, seed=3, allow_self=False))
    assert p1.n_synapses == 2 and p1.dense()[4, 3] == -0.25
    assert not np.any(p2.pre == p2.post)
    # same seed, same synapses
    net2 = sl.Network()
    b2 = net2.population(5)
    p3 = net2.connect(b2, b2, weights=sl.FixedProbability(0.5, 0.1, seed=3, allow_self=False))
    assert np.array_equal(p2.pre, p3.pre) and np.array_equal(p2.post, p3.post)
    p4 = net.connect(a, b, weights=sl.AllToAll((0.0, 0.2), seed=1), name="dense-ish")
    assert p4.n_synapses == 25
    with pytest.raises(sl.CompileError, match="'sparse' and 'dense-ish' both define synapse"):
        sl.compile(net, target="narrow")


def test_deterministic_bytes(tmp_path):
    a = sl.compile(small_net(stdp=sl.STDP())[0], target="tiny")
    b = sl.compile(small_net(stdp=sl.STDP())[0], target="tiny")
    assert a.to_bytes() == b.to_bytes()
    assert not a.diff(b)


def test_fit_error_names_what_and_how_much():
    net = sl.Network("big")
    net.inputs(3, name="in")
    net.population(6, name="exc")
    net.population(5, name="inh")
    with pytest.raises(sl.FitError) as err:
        sl.compile(net, target="tiny")
    msg = str(err.value)
    assert "'tiny'" in msg and "needs 11 neurons" in msg and "3 too many" in msg
    assert "'exc' 6" in msg and "'inh' 5" in msg and "default" in msg


def test_raw_weight_out_of_range_is_an_error():
    net = sl.Network()
    inp = net.inputs(2, name="in")
    pop = net.population(2, sl.LIF.raw(threshold=100, alpha_mem=4096, alpha_syn=0), name="raw")
    net.connect(inp, pop, weights=[[1, 200], [0, -3]], name="big")
    with pytest.raises(sl.CompileError, match=r"projection 'big'.*200.*-128\.\.127"):
        sl.compile(net, target="tiny")


def test_raw_population_is_used_unchanged():
    net = sl.Network()
    inp = net.inputs(2, name="in")
    pop = net.population(2, sl.LIF.raw(threshold=100, v_reset=-5, bias=3, refractory=1,
                                       alpha_mem=4000, alpha_syn=100, reset_subtract=True))
    net.connect(inp, pop, weights=[[1, 127], [0, -128]])
    image = sl.compile(net, target="tiny")
    p = image.fields(Region.NEURON_PARAMS)
    assert (p["threshold"][0], p["v_reset"][0], p["bias"][0], p["alpha_mem"][0],
            p["alpha_syn"][0], p["reset_subtract"][0]) == (100, -5, 3, 4000, 100, 1)
    assert image.weights()[1, 1] == -128


def test_warnings_saturation_zero_decay_unreachable():
    net = sl.Network()
    inp = net.inputs(2, name="in")
    # fixed scale 100: weight 2.0 -> 200 saturates at 127; 0.001 -> 0
    pop = net.population(2, sl.LIF(tau_mem=1e6, threshold=1.0, scale=100.0), name="p")
    net.connect(inp, pop, weights=[[2.0, 0.001], [0.0, 0.0]], name="w")
    dead = net.population(2, sl.LIF(tau_mem=2.0, tau_syn=1.0, threshold=50.0), name="dead")
    net.connect(inp, dead, weights=[[0.1, 0.1], [0.1, 0.1]], name="weak")
    with pytest.warns(CompileWarning) as caught:
        report = sl.compile(net, target="tiny").report
    text = "\n".join(report.warnings)
    assert [str(w.message) for w in caught] == report.warnings      # one warning each
    assert "saturate" in text and "'w'" in text
    assert "rounds to no decay" in text and "'p': tau_mem = 1e+06" in text
    assert "'dead'" in text and "never reach threshold" in text
    # a tiny weight that rounds to 0 is ordinary quantization: a note, not a warning
    assert "round to 0" not in text and "1 of 2 nonzero weights round to 0" in report.notes[0]
    with pytest.raises(sl.CompileError, match="strict"):
        sl.compile(net, target="tiny", strict=True)


def test_stdp_integers():
    stdp = sl.STDP(a_plus=0.01, a_minus=0.012, tau_plus=20.0, tau_minus=10.0, w_min=0.0,
                   w_max=0.5)
    net, _, _, _ = small_net(w=np.full((4, 6), 0.25), stdp=stdp)
    image = sl.compile(net, target="tiny")
    s = image.fields(Region.STDP_PARAMS)
    scale = image.populations["exc"].scale
    assert math.isclose(scale, 127 / 0.5)          # w_max counts for the scale
    assert s["enable"][0] == 1 and s["pre_jump"][0] == 128 and s["post_jump"][0] == 128
    assert s["a_plus"][0] == round(0.01 * scale * 256 / 128)
    assert s["alpha_pre"][0] == decay_factor(20.0, 1.0, 12)
    assert s["alpha_post"][0] == decay_factor(10.0, 1.0, 12)
    assert s["w_max"][0] == 127 and s["w_min"][0] == 0
    assert image.plastic()[:4, :6].all() and not image.plastic()[:, 6:].any()


def test_different_stdp_is_refused():
    net = sl.Network()
    inp = net.inputs(2, name="in")
    a = net.population(2, name="a")
    b = net.population(2, name="b")
    net.connect(inp, a, weights=0.1, stdp=sl.STDP(a_plus=0.01), name="pa")
    net.connect(inp, b, weights=0.1, stdp=sl.STDP(a_plus=0.02), name="pb")
    with pytest.raises(sl.CompileError, match="'pa' and 'pb'.*single STDP"):
        sl.compile(net, target="tiny")


@pytest.mark.parametrize("bad, match", [
    (lambda net, i, p: net.connect(i, p, weights=np.ones((3, 3))), r"shape \(3, 3\)"),
    (lambda net, i, p: net.connect(p, i, weights=1.0), "input population"),
    (lambda net, i, p: net.connect(i, p, weights=[[np.nan] * 2] * 2), "finite"),
    (lambda net, i, p: net.population(3, name="p"), "already used"),
    (lambda net, i, p: net.connect(i, p, weights=[(0, 5, 1.0)]), r"post index 5 outside"),
    (lambda net, i, p: net.population(2, sl.LIF(tau_mem=0), name="q"),
     "population 'q': tau_mem = 0 is a time constant"),
    (lambda net, i, p: net.population(2, sl.LIF(reset="zero"), name="q"),
     "population 'q': reset = 'zero': use 'value' or 'subtract'"),
])
def test_description_errors_name_the_problem(bad, match):
    net = sl.Network()
    i = net.inputs(2, name="i")
    p = net.population(2, name="p")
    with pytest.raises(sl.CompileError, match=match):
        bad(net, i, p)


def test_list_forms_and_parallel_projection_names():
    net = sl.Network()
    a = net.inputs(2, name="a")
    b = net.population(3, name="b")
    sparse = net.connect(a, b, weights=[(0, 1, 0.5), (1, 2, 0.25)])
    dense = net.connect(a, b, weights=[[0, 0, 0], [0.1, 0, 0]])     # a 2x3 matrix
    assert sparse.name == "a->b" and dense.name == "a->b#2"
    assert sparse.n_synapses == 2 and list(sparse.post) == [1, 2]
    assert dense.n_synapses == 1 and (dense.pre[0], dense.post[0]) == (1, 0)
    image = sl.compile(net, target="tiny")
    assert set(image.projections) == {"a->b", "a->b#2"}


def test_stdp_step_is_reported():
    net, _, _, _ = small_net(w=np.full((4, 6), 0.25), stdp=sl.STDP(a_plus=0.01))
    report = sl.compile(net, target="tiny").report
    e = report["stdp.a_plus step at 0 ticks"]
    assert e.integer == (128 * report["stdp.a_plus"].integer) >> 8


# -- no silent nonsense (issue 14.4) ---------------------------------------------------------------

def one_pop(model=None, w=0.5, stdp=None, size=3):
    net = sl.Network()
    inp = net.inputs(2, name="in")
    pop = net.population(size, model or sl.LIF(), name="p")
    net.connect(inp, pop, weights=np.full((2, size), w, dtype=np.result_type(w, float)),
                stdp=stdp, name="ff")
    return net


@pytest.mark.parametrize("build, match", [
    (lambda: one_pop(sl.LIF(threshold=0.0)),
     r"population 'p': threshold = 0 is not above v_rest = 0: the neuron would fire at rest"),
    (lambda: one_pop(sl.LIF(threshold=-1.0, v_reset=-2.0)), r"threshold = -1 is not above"),
    # weights 500x the threshold: the scale 127/500 leaves the threshold at 0.254 -> 0
    (lambda: one_pop(sl.LIF(threshold=1.0), w=500.0),
     r"population 'p': threshold = 1 quantizes to 0 at scale 0\.254 \(set by weight 500 of "
     r"projection 'ff'\)"),
    (lambda: one_pop(sl.LIF(threshold=1.0, bias=1e9)),
     r"threshold = 1 quantizes to 0 at scale 3\.2767e-05 \(set by bias = 1e\+09\)"),
    (lambda: one_pop(sl.LIF(threshold=1.0, v_reset=2.0)),
     r"population 'p': v_reset = 2 is not below threshold = 1 \(reset='value'\)"),
    (lambda: one_pop(sl.LIF(threshold=1.0, v_reset=0.999, scale=100.0)),
     r"v_reset = 0\.999 and threshold = 1 quantize to 100 and 100"),
    (lambda: one_pop(w=0.5 + 0.25j), r"projection 'ff': weights must be real numbers.*complex"),
    (lambda: one_pop(w=np.inf), r"projection 'ff': weights must be finite"),
    (lambda: one_pop(sl.LIF(threshold=[1.0, np.nan, 1.0])),
     r"population 'p': threshold\[1\] = nan must be a finite number"),
    (lambda: one_pop(sl.LIF(bias=np.inf)), r"population 'p': bias = inf must be a finite"),
    (lambda: one_pop(sl.LIF(tau_syn=1 + 2j)), r"population 'p': tau_syn = \(1\+2j\) is complex"),
    (lambda: one_pop(sl.LIF(refractory_ms=np.inf)), r"refractory_ms = inf must be a finite"),
    (lambda: one_pop(sl.LIF(refractory=300)), r"refractory is 300 ticks, more than 255"),
    (lambda: one_pop(sl.LIF(bias=40000.0, scale=1.0)),
     r"bias = 40000 is 40000 in hardware units at scale 1 \(set by LIF\(scale=1\)\), outside"),
    # one integer rate step is 1/254 * 128/256 ~ 0.002 weight units; 0.0005 floors to no step
    (lambda: one_pop(w=0.5, stdp=sl.STDP(a_plus=0.0005)),
     r"STDP a_plus = 0\.0005 of projection\(s\) 'ff' floors to a zero weight step.*silently off"),
    (lambda: one_pop(w=0.5, stdp=sl.STDP(a_plus=0.01, a_minus=0.003, trace_jump=2)),
     r"STDP a_minus = 0\.003 .*\(trace_jump 2 \* 98\) >> 8 = 0 .*rate >= 128"),
    (lambda: sl.STDP(w_max=math.inf), r"STDP w_max=inf must be finite"),
    (lambda: sl.STDP(a_plus=math.inf), r"STDP a_plus=inf must be finite"),
])
def test_nonsense_is_a_compile_error(build, match):
    with pytest.raises(sl.CompileError, match=match):
        sl.compile(build(), target="tiny")


def test_a_bias_that_fires_every_tick_is_a_warning():
    net = one_pop(sl.LIF(threshold=1.0, bias=np.array([0.1, 1.5, 0.2])))
    with pytest.warns(CompileWarning, match=r"population 'p': bias\[1\] = 1\.5 alone takes the "
                      r"membrane from reset to threshold = 1 in one tick: 1 neuron\(s\)"):
        sl.compile(net, target="tiny")
    with pytest.raises(sl.CompileError, match="strict compile: .*bias\\[1\\] = 1.5"):
        sl.compile(net, target="tiny", strict=True)


def test_report_flags_rounding_errors_above_the_bound():
    # scale 3 fixed: threshold 1.2 -> 4 -> 1.333 (11 % error); tau 3000 ms -> alpha 4095
    # (leak 1/4096 per tick instead of 1/3000: 27 % error)
    net = one_pop(sl.LIF(threshold=1.2, tau_mem=3000.0, scale=3.0), w=1.0)
    image = sl.compile(net, target="tiny")
    report = image.report
    assert {e.what for e in report.flagged} == {"p.threshold", "p.tau_mem (alpha)"}
    thr = report["p.threshold"]
    assert (thr.integer, thr.actual) == (4, 4 / 3) and report.is_flagged(thr)
    assert "p.threshold" in report.summary() and "  !" in report.summary()
    assert "2 parameter(s) round with more than 5% error" in report.summary()
    # the bound is a compile argument; strict refuses flagged parameters too
    assert [e.what for e in sl.compile(net, target="tiny", max_error=0.2).report.flagged] == [
        "p.tau_mem (alpha)"]
    assert not sl.compile(net, target="tiny", max_error=10.0).report.flagged
    with pytest.raises(sl.CompileError, match=r"p\.threshold = 1\.2 rounds to 1\.33333 "
                       r"\(11\.1% error, more than max_error = 0\.05\)"):
        sl.compile(net, target="tiny", strict=True)
    with pytest.raises(sl.CompileError, match="max_error"):
        sl.compile(net, target="tiny", max_error=-1)
    # per-synapse entries are informational: a tiny weight's relative error is never flagged
    report = sl.compile(one_pop(w=np.array([[0.5, 0.01, 0.5], [0.5, 0.5, 0.5]])),
                        target="tiny").report
    assert report["ff worst w"].rel_error > 0.05 and not report.flagged


# -- heterogeneous parameters, v_rest, v_init (issue 15.1, 15.2) ---------------------------------

def test_every_parameter_may_be_per_neuron():
    rng = np.random.default_rng(3)
    n = 6
    thr = np.linspace(0.5, 1.5, n)
    tau = rng.uniform(10.0, 30.0, n)
    lif = sl.LIF(threshold=thr, tau_mem=tau, tau_syn=np.full(n, 4.0), bias=np.linspace(0, .1, n),
                 v_reset=-np.linspace(0, .2, n), refractory=np.arange(n),
                 reset=["value", "subtract"] * 3, v_init=np.linspace(-.3, .3, n))
    net = one_pop(lif, w=0.25, size=n)
    image = sl.compile(net, target="tiny")
    s = image.populations["p"].scale
    p = image.fields(Region.NEURON_PARAMS)
    st = image.fields(Region.NEURON_STATE)
    assert math.isclose(s, 127 / 0.25)             # the weights set the scale
    assert np.array_equal(p["threshold"][:n], np.round(thr * s))
    assert np.array_equal(p["alpha_mem"][:n], [decay_factor(t, 1.0, 12) for t in tau])
    assert np.array_equal(p["v_reset"][:n], np.round(-np.linspace(0, .2, n) * s))
    assert np.array_equal(p["refractory"][:n], np.arange(n))
    assert np.array_equal(p["reset_subtract"][:n], [0, 1] * 3)
    assert np.array_equal(st["v"][:n], np.round(np.linspace(-.3, .3, n) * s))
    assert not st["v"][n:].any() and not st["i"].any()
    # the report holds the worst neuron of each parameter, with its index
    e = image.report["p.tau_mem (alpha)"]
    errs = [abs(decay_factor(t, 1.0, 12) / 4096 - math.exp(-1 / t)) / (1 - math.exp(-1 / t))
            for t in tau]
    assert e.index == int(np.argmax(errs)) and math.isclose(e.rel_error, max(errs))
    assert e.label == f"p.tau_mem (alpha)[{e.index}]"
    assert image.report["p.threshold"].index is not None
    # an image with per-neuron values survives the file format
    back = sl.Image.from_bytes(image.to_bytes())
    assert back == image and back.report.summary() == image.report.summary()


@pytest.mark.parametrize("lif, match", [
    (lambda: sl.LIF(threshold=np.ones(4)), r"population 'p': threshold has 4 values, expected "
                                           r"one per neuron \(3\)"),
    (lambda: sl.LIF(tau_mem=[20.0, -1.0, 5.0]),
     r"population 'p': tau_mem\[1\] = -1 is a time constant: it must be > 0 ms"),
    (lambda: sl.LIF(tau_syn=[5.0, 5.0, 0.0]), r"population 'p': tau_syn\[2\] = 0 is a time"),
    (lambda: sl.LIF(tau_syn=[5.0, np.nan, 1.0]), r"tau_syn\[1\] = nan is a time constant"),
    (lambda: sl.LIF(v_init=[0.0, np.inf, 0.0]), r"population 'p': v_init\[1\] = inf must be"),
    (lambda: sl.LIF(refractory=[1, 2.5, 0]), r"refractory\[1\] = 2\.5 must be a whole number"),
    (lambda: sl.LIF(v_rest=np.zeros((3, 1))), r"v_rest must be a scalar or a 1-D array"),
    (lambda: sl.LIF(bias=["a", "b", "c"]), r"bias = .* must be a number"),
])
def test_bad_per_neuron_values_name_population_parameter_index(lif, match):
    net = sl.Network()
    with pytest.raises(sl.CompileError, match=match):
        net.population(3, lif(), name="p")


def test_v_rest_shifts_the_voltage_origin():
    """PyNN-style millivolts: hardware zero is v_rest; threshold, reset and v_init shift."""
    mv = sl.LIF(v_rest=-65.0, v_reset=-65.0, threshold=-50.0, v_init=-60.0, tau_mem=20.0,
                bias=0.9)
    image = sl.compile(one_pop(mv, w=2.0), target="tiny")
    s = image.populations["p"].scale
    assert math.isclose(s, 127 / 2.0)              # the weights set the scale
    p = image.fields(Region.NEURON_PARAMS)
    assert p["threshold"][0] == round(15 * s) and p["v_reset"][0] == 0
    assert p["bias"][0] == round(0.9 * s)
    assert image.fields(Region.NEURON_STATE)["v"][0] == round(5 * s)
    assert image.populations["p"].v_rest == -65.0
    e = image.report["p.threshold"]
    assert e.value == -50.0 and e.origin == -65.0
    assert math.isclose(e.rel_error, abs(e.actual + 50.0) / 15.0)     # measured from rest
    # v_reset and v_init default to v_rest
    assert sl.LIF(v_rest=-70.0).v_reset == -70.0 == sl.LIF(v_rest=-70.0).v_init
    # the same neuron written from rest = 0 compiles to the same integers, bit for bit
    zero = sl.LIF(v_reset=0.0, threshold=15.0, v_init=5.0, tau_mem=20.0, bias=0.9)
    other = sl.compile(one_pop(zero, w=2.0), target="tiny")
    assert other.regions == image.regions
    # a per-neuron v_rest is stored per neuron
    per = sl.LIF(v_rest=[-65.0, -70.0, -60.0], threshold=-50.0, v_reset=-75.0)
    img = sl.compile(one_pop(per, w=2.0), target="tiny")
    assert img.populations["p"].v_rest == (-65.0, -70.0, -60.0)
    s = img.populations["p"].scale
    assert np.array_equal(img.fields(Region.NEURON_PARAMS)["threshold"][:3],
                          np.round(np.array([15.0, 20.0, 10.0]) * s))
    assert sl.Image.from_bytes(img.to_bytes()) == img


def test_raw_parameters_may_be_per_neuron():
    net = sl.Network()
    net.inputs(1, name="in")
    net.population(3, sl.LIF.raw(threshold=[10, 20, 30], alpha_mem=4096, alpha_syn=0,
                                 v_init=[-1, 0, 5], reset_subtract=[True, False, True]),
                   name="raw")
    with pytest.warns(CompileWarning, match="can never reach threshold"):    # no synapses
        image = sl.compile(net, target="tiny")
    p = image.fields(Region.NEURON_PARAMS)
    assert list(p["threshold"][:3]) == [10, 20, 30] and list(p["reset_subtract"][:3]) == [1, 0, 1]
    assert list(image.fields(Region.NEURON_STATE)["v"][:3]) == [-1, 0, 5]
    with pytest.raises(sl.CompileError, match="LIF.raw threshold=.* must be an integer"):
        sl.LIF.raw(threshold=[1.5], alpha_mem=0, alpha_syn=0)


def test_neuron_parameters_are_table_driven():
    """Every per-neuron LIF field has one table entry, each with a compiler method; the
    quantization kinds the compiler knows are exactly those the table uses."""
    import dataclasses

    from spikeloom import compiler
    from spikeloom.network import NEURON_PARAMS
    # (``spiking`` is one flag per population, sl.LI's, not a per-neuron parameter)
    fields = {f.name for f in dataclasses.fields(sl.LIF)} - {"scale", "raw_params", "spiking"}
    assert {p.name for p in NEURON_PARAMS} == fields
    assert {p.quantize for p in NEURON_PARAMS} == set(compiler._Compiler._QUANTIZE)

    def hw(name):
        return {f.name for r in (Region.NEURON_PARAMS, Region.NEURON_STATE)
                for f in sl.proto.memmap.layouts(sl.preset(name))[r].fields}
    assert {p.field for p in NEURON_PARAMS if p.field} <= hw("tiny_full")
    # the fields a core without the optional features lacks are exactly the features' params
    assert {p.field for p in NEURON_PARAMS if p.field and p.field not in hw("tiny")} == {
        p.field for p in NEURON_PARAMS if p.feature}
