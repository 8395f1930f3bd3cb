"""Network description and compiler: placement, quantization, fit checks, report, determinism."""

import math

import numpy as np
import pytest
import spikeloom as sl
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
    assert entry.rel_error < 1e-3


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
    report = sl.compile(net, target="tiny").report
    text = "\n".join(report.warnings)
    assert "saturate" in text and "'w'" in text
    assert "round to 0" in text
    assert "rounds to no decay" in text and "p.tau_mem" in text
    assert "'dead'" in text and "never reach threshold" in text
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
    (lambda net, i, p: sl.LIF(tau_mem=0), "tau_mem"),
    (lambda net, i, p: sl.LIF(reset="zero"), "reset"),
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
