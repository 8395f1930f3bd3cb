"""NIR import and export (spikeloom.nir, issue 19).

Graphs are built with nir's own classes and go through ``nir.write``/``nir.read``; every supported
node type is covered, the lowering of convolutions and pooling is checked against an independent
numpy sliding-window computation, the round trip ``to_nir(from_nir(g))`` is checked up to
quantization (and bit for bit after a second import), the float reference against ``model://``,
one graph on the virtual board. Framework fixtures (tests/fixtures/nir/, made by
make_fixtures.py with the frameworks' own exporters and simulators) check that the import
reproduces snnTorch's and Norse's output spikes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir", reason="the nir extra is not installed")

import spikeloom as sl  # noqa: E402
from spikeloom import cli  # noqa: E402
from spikeloom import nir as snir  # noqa: E402
from spikeloom.compiler import CompileWarning  # noqa: E402
from spikeloom.errors import CompileError, Error, FitError  # noqa: E402
from spikeloom.proto.config import preset  # noqa: E402
from spikeloom.proto.memmap import Region  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "nir"
DT = 1e-4


def arr(*x):
    return np.array(x, float)


def cuba(n, beta=0.9, alpha=0.8, thr=1.0, dt=DT):
    """A CubaLIF as snnTorch's Synaptic exports it (r = tau_mem/dt, w_in = tau_syn/dt)."""
    tm, ts = dt / (1 - beta), dt / (1 - alpha)
    return nir.CubaLIF(tau_syn=np.full(n, ts), tau_mem=np.full(n, tm), r=np.full(n, tm / dt),
                       v_leak=np.zeros(n), v_threshold=np.full(n, thr), w_in=np.full(n, ts / dt))


def lif(n, beta=0.9, thr=1.0, dt=DT, v_leak=0.0):
    tm = dt / (1 - beta)
    return nir.LIF(tau=np.full(n, tm), r=np.full(n, tm / dt), v_leak=np.full(n, v_leak),
                   v_threshold=np.broadcast_to(np.asarray(thr, float), (n,)).copy())


def io(n, name="input"):
    return nir.Input(input_type=np.array([n]))


def out(n):
    return nir.Output(output_type=np.array([n]))


def through_file(g, tmp_path, name="g.nir"):
    path = tmp_path / name
    nir.write(path, g)
    return path


def quiet_compile(net, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        return sl.compile(net, **kw)


def run(image, inputs, ticks, url="model://"):
    with sl.open(url, config=image.config) as board:
        board.load(image, verify=False)     # read-back is test_host_board's subject; 10x faster
        return board.run(ticks, inputs=inputs)


def braille_graph(seed=0):
    """12 -> Affine -> nested recurrent CubaLIF(40) (snnTorch's RSynaptic shape) -> 7."""
    rng = np.random.default_rng(seed)
    rec = nir.NIRGraph(nodes={"input": io(40), "lif": cuba(40),
                              "w_rec": nir.Linear(weight=rng.normal(0, 0.06, (40, 40))),
                              "output": out(40)},
                       edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"),
                              ("lif", "output")])
    return nir.NIRGraph(
        nodes={"input": io(12),
               "fc1": nir.Affine(weight=rng.normal(0.08, 0.25, (40, 12)),
                                 bias=rng.uniform(-0.01, 0.01, 40)),
               "lif1": rec, "fc2": nir.Linear(weight=rng.normal(0.05, 0.15, (7, 40))),
               "lif2": cuba(7), "output": out(7)},
        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"),
               ("lif2", "output")])


# -- structure -------------------------------------------------------------------------------------

def test_nested_graph_is_flattened_with_dotted_names(tmp_path):
    net = snir.from_nir(through_file(braille_graph(), tmp_path), dt=DT)
    assert [p.name for p in net.populations] == ["input", "lif1.lif", "lif2"]
    names = {p.name for p in net.projections}
    assert names == {"input->lif1.lif", "lif1.lif->lif1.lif", "lif1.lif->lif2"}
    assert net.nir.latency == {"lif1.lif": 0, "lif2": 1}
    assert net.nir.outputs == {"output": "lif2"}
    # snnTorch's gains cancel: the hardware weight is the NIR weight
    g = braille_graph()
    w = net["lif1.lif->lif1.lif"].dense()
    assert np.allclose(w, g.nodes["lif1"].nodes["w_rec"].weight.T)
    # Affine bias into a CubaLIF: its steady state, added to v
    bias = net["lif1.lif"].params["bias"]
    assert np.allclose(bias, g.nodes["fc1"].bias / (1 - 0.8), rtol=1e-9)
    assert any("steady state" in n for n in net.nir.notes)


def test_names_work_in_results(tmp_path):
    net = snir.from_nir(braille_graph(), dt=DT)
    x = np.random.default_rng(1).random((50, 12)) < 0.3
    r = run(quiet_compile(net), {"input": x}, 50)
    assert r["lif1.lif"].count > 0 and r["lif2"].size == 7


def test_every_linear_node_and_if(tmp_path):
    # Input(2,3,3) -> Conv2d -> SumPool2d -> Flatten -> Scale -> IF, plus Conv1d path
    rng = np.random.default_rng(4)
    w2 = rng.normal(0.3, 0.3, (2, 2, 2, 2))
    g = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([2, 5, 5])),
               "conv": nir.Conv2d(input_shape=(5, 5), weight=w2, stride=1, padding=1,
                                  dilation=1, groups=1, bias=np.zeros(2)),
               "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                     padding=np.array([0, 0])),
               "flat": nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=0),
               "scale": nir.Scale(scale=np.full(18, 0.5)),
               "if": nir.IF(r=np.ones(18), v_threshold=np.full(18, 2.0)),
               "output": out(18)},
        edges=[("input", "conv"), ("conv", "pool"), ("pool", "flat"), ("flat", "scale"),
               ("scale", "if"), ("if", "output")])
    net = snir.from_nir(through_file(g, tmp_path), dt=DT)
    w = net["input->if"].dense()                        # (50, 18)
    # independent reference: pad, sliding windows, sum-pool, times 0.5
    eye = np.eye(50).reshape(50, 2, 5, 5)
    padded = np.pad(eye, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(padded, (2, 2), axis=(2, 3))  # b,c,6,6,2,2
    conv = np.einsum("bcxykl,ockl->boxy", win, w2)                               # b,2,6,6
    pooled = conv[:, :, :6, :6].reshape(50, 2, 3, 2, 3, 2).sum(axis=(3, 5))
    assert np.allclose(w, 0.5 * pooled.reshape(50, 18))
    # IF: no leak, no synaptic memory
    p = net["if"].params
    assert np.all(np.isinf(p["tau_mem"])) and np.all(p["tau_syn"] < 1e-6)


def test_conv1d_with_groups_and_stride():
    rng = np.random.default_rng(5)
    w = rng.normal(size=(4, 1, 3))
    g = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([2, 8])),
               "conv": nir.Conv1d(input_shape=8, weight=w, stride=2, padding=0, dilation=1,
                                  groups=2, bias=np.zeros(4)),
               "lif": lif(12), "output": out(12)},
        edges=[("input", "conv"), ("conv", "lif"), ("lif", "output")],
        type_check=False)       # nir 1.0.8 infers C_in = weight.shape[1], ignoring groups
    net = snir.from_nir(g, dt=DT)
    m = net["input->lif"].dense().T.reshape(4, 3, 2, 8)   # out (c, x) <- in (c, x)
    x = np.eye(16).reshape(16, 2, 8)
    win = np.lib.stride_tricks.sliding_window_view(x, 3, axis=2)[:, :, ::2]  # 16,2,3,3
    ref = np.stack([win[:, o // 2] @ w[o, 0] for o in range(4)], axis=1)        # 16,4,3
    assert np.allclose(m.reshape(12, 16), ref.reshape(16, 12).T)


def test_recurrent_edge_without_subgraph_and_scale_per_neuron():
    g = nir.NIRGraph(nodes={"input": io(3), "w": nir.Linear(weight=np.ones((4, 3))),
                            "lif": lif(4, thr=arr(1, 2, 3, 4)),
                            "rec": nir.Scale(scale=np.full(4, 0.25)), "output": out(4)},
                     edges=[("input", "w"), ("w", "lif"), ("lif", "rec"), ("rec", "lif"),
                            ("lif", "output")])
    net = snir.from_nir(g, dt=DT)
    assert np.allclose(net["lif->lif"].dense(), np.eye(4) * 0.25)
    image = quiet_compile(net)
    thr = image.fields(Region.NEURON_PARAMS)["threshold"][:4]
    assert len(set(thr.tolist())) == 4          # per-neuron thresholds reach the hardware


# -- semantics -------------------------------------------------------------------------------------

def test_conventions_euler_and_exact():
    g = nir.NIRGraph(nodes={"input": io(1), "w": nir.Linear(weight=np.ones((1, 1))),
                            "lif": nir.LIF(tau=arr(2e-3), r=arr(1.0), v_leak=arr(0.0),
                                           v_threshold=arr(1.0)), "output": out(1)},
                     edges=[("input", "w"), ("w", "lif"), ("lif", "output")])
    F = preset("default").decay_frac
    for conv, a, gain in (("euler", 1 - 0.05, 0.05), ("exact", np.exp(-0.05),
                                                        1 - np.exp(-0.05))):
        net = snir.from_nir(g, dt=DT, conventions=conv)
        image = quiet_compile(net)
        assert image.fields(Region.NEURON_PARAMS)["alpha_mem"][0] == round(a * (1 << F))
        assert net["input->lif"].weight[0] == pytest.approx(gain)


def test_spikes_on_strictly_above_threshold():
    # IF, weight 1, threshold 1: NIR needs v > 1, so the 2nd input spike fires, not the 1st
    g = nir.NIRGraph(nodes={"input": io(1), "w": nir.Linear(weight=np.ones((1, 1))),
                            "if": nir.IF(r=arr(1.0), v_threshold=arr(1.0)), "output": out(1)},
                     edges=[("input", "w"), ("w", "if"), ("if", "output")])
    net = snir.from_nir(g, dt=DT)
    x = np.zeros((6, 1), bool)
    x[[1, 3]] = True
    r = run(quiet_compile(net), {"input": x}, 6)
    assert np.flatnonzero(r["if"].dense[:, 0]).tolist() == [3]
    assert np.array_equal(snir.simulate(net, {"input": x}, 6)["if"], r["if"].dense)


def test_bias_is_exact_for_lif():
    # v' = 0.9 v + 0.3 (bias through r * dt/tau = 10 * 0.01 * 0.3): fires when v > 2
    g = nir.NIRGraph(nodes={"input": io(1), "fc": nir.Affine(weight=np.zeros((1, 1)),
                                                              bias=arr(0.3)),
                            "lif": lif(1, beta=0.9, thr=2.0), "output": out(1)},
                     edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    net = snir.from_nir(g, dt=DT)
    assert net["lif"].params["bias"][0] == pytest.approx(0.3)
    ref = snir.simulate(net, {}, 200)["lif"]
    r = run(quiet_compile(net), None, 200)
    assert ref.sum() > 5
    assert abs(int(r["lif"].count) - int(ref.sum())) <= 1


def test_reset_subtract_and_v_leak():
    g = nir.NIRGraph(nodes={"input": io(2), "w": nir.Linear(weight=arr([0.7, 0.5], [0.6, 0.9])),
                            "lif": lif(2, v_leak=-0.5, thr=0.5), "output": out(2)},
                     edges=[("input", "w"), ("w", "lif"), ("lif", "output")])
    net = snir.from_nir(g, dt=DT, reset="subtract")
    p = net["lif"].params
    assert np.all(p["v_rest"] == -0.5) and np.all(p["reset"] == 1)
    x = np.random.default_rng(2).random((300, 2)) < 0.4
    c = snir.compare(net, {"input": x}, 300)
    assert c.layers["lif"]["float"].sum() > 20
    assert c.layers["lif"]["correlation"] > 0.95


def test_float_reference_agrees_with_model_per_layer():
    net = snir.from_nir(braille_graph(), dt=DT)
    x = np.random.default_rng(3).random((400, 12)) < 0.2
    c = snir.compare(net, {"input": x}, 400)
    assert set(c.layers) == {"lif1.lif", "lif2"}
    for name, layer in c.layers.items():
        assert layer["float"].sum() > 50, name
        assert layer["correlation"] >= 0.95, (name, c.summary())
    assert "lif1.lif" in c.summary()


# -- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("node, what", [
    (nir.I(r=arr(1.0)), "integrator"),
    (nir.Threshold(threshold=arr(1.0)), "not supported by spikeloom"),
    (nir.AvgPool2d(kernel_size=np.array([1, 1]), stride=np.array([1, 1]),
                   padding=np.array([0, 0])), "not supported by spikeloom"),
])
def test_unsupported_nodes_name_node_and_type(tmp_path, node, what):
    g = nir.NIRGraph(nodes={"input": io(1), "odd": node, "output": out(1)},
                     edges=[("input", "odd"), ("odd", "output")], type_check=False)
    with pytest.raises(CompileError) as info:
        snir.from_nir(g, dt=DT)
    msg = str(info.value)
    assert "'odd'" in msg and type(node).__name__ in msg and what in msg


def delay_graph(delays_s, where="post"):
    """Input(2) -> Linear -> Delay -> LIF(4) (``where="post"``: one delay per target neuron), or
    Input -> Delay -> Linear -> LIF (``"pre"``: one per source)."""
    w = np.zeros((4, 2))
    w[:, 0] = 2.0
    n = 4 if where == "post" else 2
    nodes = {"input": io(2), "w": nir.Linear(weight=w), "d": nir.Delay(delay=arr(*delays_s)),
             "lif": lif(4), "output": out(4)}
    chain = [("input", "w"), ("w", "d"), ("d", "lif")] if where == "post" else \
        [("input", "d"), ("d", "w"), ("w", "lif")]
    assert len(delays_s) == n
    return nir.NIRGraph(nodes=nodes, edges=chain + [("lif", "output")])


def test_delay_nodes_become_per_synapse_delays(tmp_path):
    """A Delay of d seconds adds round(d / dt) ticks to the core's one tick per hop: the PSP of
    an input spike at tick 2 makes neuron k fire in tick 2 + d_k/dt; to_nir writes the delays
    back as Linear -> Delay pairs, one per delay value, and the round trip keeps them."""
    extra = [0, 1, 3, 7]
    net = snir.from_nir(through_file(delay_graph([e * DT for e in extra]), tmp_path), dt=DT,
                        target="tiny_delay")
    image = quiet_compile(net, target="tiny_delay")
    assert image.delays()[0, :4].tolist() == [1 + e for e in extra]
    spikes = np.zeros((14, 2), bool)
    spikes[2, 0] = True
    result = run(image, {"input": spikes}, 14)
    assert result["lif"].events.tolist() == [[2 + e, k] for k, e in enumerate(extra)]
    g = snir.to_nir(image, dt=DT)
    assert sorted(k for k, v in g.nodes.items() if type(v).__name__ == "Delay") == [
        f"input->lif.delay{e}.d" for e in (1, 3, 7)]
    back = quiet_compile(snir.from_nir(g, dt=DT, target="tiny_delay"), target="tiny_delay")
    assert np.array_equal(back.delays(), image.delays())
    assert np.array_equal(back.weights(), image.weights())
    # delays per source (Delay before the Linear) reach every target of that source
    net = snir.from_nir(delay_graph([2 * DT, 0.0], where="pre"), dt=DT, target="tiny_delay")
    assert quiet_compile(net, target="tiny_delay").delays()[0, :4].tolist() == [3] * 4


def test_delays_a_target_cannot_hold_are_one_compile_error():
    net = snir.from_nir(delay_graph([0.0, 0.0, 0.0, 9 * DT]), dt=DT, target="tiny_delay")
    with pytest.raises(CompileError, match=r"delay 10 ms .* holds 1 \.\. 8 ticks"):
        quiet_compile(net, target="tiny_delay")
    with pytest.raises(CompileError, match="Delay.*finite and >= 0"):
        snir.from_nir(delay_graph([0.0, 0.0, 0.0, -DT]), dt=DT)


def test_a_linear_readout_is_refused():
    g = nir.NIRGraph(nodes={"input": io(2), "w": nir.Linear(weight=np.ones((3, 2))),
                            "lif": lif(3), "readout": nir.Affine(weight=np.ones((1, 3)),
                                                                 bias=arr(0.0)),
                            "output": out(1)},
                     edges=[("input", "w"), ("w", "lif"), ("lif", "readout"),
                            ("readout", "output")])
    with pytest.raises(CompileError, match="'readout' of type Affine feeds Output 'output'.*"
                                           "LI or CubaLI"):
        snir.from_nir(g, dt=DT)


def test_missing_is_one_entry_per_type():
    assert set(snir.MISSING) >= {"I"} and {"LI", "CubaLI"} <= set(snir.SPIKING)
    assert "Delay" in snir.LINEAR
    assert not set(snir.MISSING) & (set(snir.SPIKING) | set(snir.LINEAR))


def test_too_big_for_the_target_is_one_fit_error():
    g = nir.NIRGraph(nodes={"input": io(784), "fc": nir.Linear(weight=np.ones((500, 784))),
                            "lif": lif(500), "output": out(500)},
                     edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    net = snir.from_nir(g, dt=DT)
    with pytest.raises(FitError, match="does not fit"):
        quiet_compile(net)
    huge = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([16, 64, 64])),
                               "conv": nir.Conv2d(input_shape=(64, 64),
                                                  weight=np.ones((16, 16, 3, 3)), stride=1,
                                                  padding=1, dilation=1, groups=1,
                                                  bias=np.zeros(16)),
                               "lif": lif(16 * 64 * 64).__class__(
                                   **{k: v.reshape(16, 64, 64) for k, v in
                                      dict(tau=np.full(65536, 1e-3), r=np.ones(65536),
                                           v_leak=np.zeros(65536),
                                           v_threshold=np.ones(65536)).items()}),
                               "output": nir.Output(output_type=np.array([16, 64, 64]))},
                        edges=[("input", "conv"), ("conv", "lif"), ("lif", "output")])
    with pytest.raises(CompileError, match="too big"):
        snir.from_nir(huge, dt=DT)


def test_bad_arguments(tmp_path):
    g = braille_graph()
    for kw, text in ((dict(dt=0), "dt"), (dict(dt=DT, conventions="rk4"), "conventions"),
                     (dict(dt=DT, reset="zero"), "reset")):
        with pytest.raises(CompileError, match=text):
            snir.from_nir(g, **kw)
    with pytest.raises(CompileError, match="not found"):
        snir.from_nir(tmp_path / "nope.nir", dt=DT)
    (tmp_path / "bad.nir").write_bytes(b"not hdf5")
    with pytest.raises(CompileError, match="not a readable NIR file"):
        snir.from_nir(tmp_path / "bad.nir", dt=DT)
    assert issubclass(CompileError, Error)


# -- export and round trip -------------------------------------------------------------------------

def test_round_trip_up_to_quantization_and_then_bit_exact(tmp_path):
    g = braille_graph()
    net = snir.from_nir(g, dt=DT)
    image = quiet_compile(net)
    g2 = snir.to_nir(image, dt=DT)
    g2 = nir.read(through_file(g2, tmp_path))
    s = image.population("lif1.lif").scale
    w0 = g.nodes["lif1"].nodes["w_rec"].weight
    w2 = g2.nodes["lif1.lif->lif1.lif"].weight
    assert np.max(np.abs(w2 - w0)) <= 0.5 / s + 1e-12
    assert np.max(np.abs(g2.nodes["input->lif1.lif"].weight - g.nodes["fc1"].weight)) \
        <= 0.5 / s + 1e-12
    node = g2.nodes["lif2"]
    assert isinstance(node, nir.CubaLIF)
    F = image.config.decay_frac
    assert np.allclose(1 - DT / node.tau_mem, 0.9, atol=2 ** -F)
    assert np.allclose(1 - DT / node.tau_syn, 0.8, atol=2 ** -F)
    assert np.allclose(node.v_threshold, 1.0, atol=1 / image.population("lif2").scale)
    # importing the export gives the same integers: the file says what the hardware runs
    again = quiet_compile(snir.from_nir(g2, dt=DT))
    assert again.regions == image.regions


@pytest.mark.parametrize("kind", ["lif_v_leak_subtract", "affine_bias", "if", "conv"])
def test_round_trip_is_bit_exact_for_every_neuron_kind(kind):
    rng = np.random.default_rng(6)
    graphs = {
        "lif_v_leak_subtract": ({"w": nir.Linear(weight=arr([0.7, 0.5], [0.6, 0.9])),
                                 "n": lif(2, v_leak=-0.5, thr=0.5)}, 2, "subtract"),
        "affine_bias": ({"w": nir.Affine(weight=np.full((1, 2), 0.5), bias=arr(0.3)),
                         "n": lif(1, thr=2.0)}, 2, None),
        "if": ({"w": nir.Linear(weight=np.ones((3, 2))),
                "n": nir.IF(r=np.ones(3), v_threshold=arr(1.0, 2.0, 3.0))}, 2, None),
        "conv": ({"w": nir.Conv1d(input_shape=6, weight=rng.normal(0.3, 0.3, (2, 1, 3)),
                                  stride=1, padding="same", dilation=1, groups=1,
                                  bias=np.zeros(2)),
                  "n": cuba(12)}, (1, 6), None),
    }
    nodes, n_in, reset = graphs[kind]
    n_out = _size_of(nodes["n"])
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.atleast_1d(n_in)), **nodes,
                            "output": out(n_out)},
                     edges=[("input", "w"), ("w", "n"), ("n", "output")], type_check=False)
    image = quiet_compile(snir.from_nir(g, dt=DT, reset=reset))
    g2 = snir.to_nir(image, dt=DT)
    assert type(g2.nodes["n"]).__name__ == {"if": "IF", "conv": "CubaLIF"}.get(kind, "LIF")
    assert quiet_compile(snir.from_nir(g2, dt=DT)).regions == image.regions


def _size_of(node):
    return int(np.asarray(node.v_threshold).size)


def test_to_nir_of_a_hand_written_network_with_lif_and_subtract():
    net = sl.Network()
    inp = net.inputs(3, name="in")
    pop = net.population(2, sl.LIF(tau_mem=10.0, tau_syn=1e-9, threshold=1.0, bias=0.05,
                                   reset="subtract"), name="exc")
    net.connect(inp, pop, weights=np.full((3, 2), 0.4))
    g = snir.to_nir(net)
    assert isinstance(g.nodes["exc"], nir.LIF)
    assert isinstance(g.nodes["in->exc"], nir.Affine)
    assert g.metadata["spikeloom_reset.exc"] == "subtract"
    image = quiet_compile(net)
    back = quiet_compile(snir.from_nir(g, dt=1e-4))       # reset read from the metadata
    assert back.regions == image.regions


# -- the user guide runs ---------------------------------------------------------------------------

def test_docs_nir_python_blocks_run(tmp_path, monkeypatch):
    import re
    text = (Path(__file__).parent.parent / "docs" / "nir.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    namespace = {}      # the guide's blocks build on each other (graph, dt, x of the first)
    for code in blocks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CompileWarning)
            exec(compile(code, "docs/nir.md", "exec"), namespace)


def test_example_runs_on_the_model():
    import importlib.util
    path = Path(__file__).parent.parent / "examples" / "nir_run.py"
    spec = importlib.util.spec_from_file_location("nir_run", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(["--url", "model://", "--samples", "3"])
    assert set(out) == {"1.lif", "3"}
    for vs_framework, vs_float in out.values():
        assert vs_framework >= 0.95 and vs_float >= 0.95


# -- CLI -------------------------------------------------------------------------------------------

def test_cli_compiles_a_nir_file(tmp_path, capsys):
    path = through_file(braille_graph(), tmp_path, "model.nir")
    out_file = tmp_path / "model.slimg"
    assert cli.main(["compile", str(path), "--dt", "1e-4", "-o", str(out_file), "-q"]) == 0
    image = sl.Image.load(out_file)
    assert set(image.populations) == {"input", "lif1.lif", "lif2"}
    assert cli.main(["compile", str(path), "-o", str(tmp_path / "x.slimg")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dt" in err[0]


# -- framework fixtures ----------------------------------------------------------------------------

def fixture(stem):
    return nir.read(FIXTURES / f"{stem}.nir"), np.load(FIXTURES / f"{stem}.npz")


def spike_ticks(net, graph_inputs, ticks):
    r = run(quiet_compile(net), {"input": graph_inputs}, ticks)
    (name,) = [p.name for p in net.neuron_populations]
    return np.flatnonzero(r[name].dense[:, 0])


def match_within_one(ours, theirs):
    return len(ours) == len(theirs) and np.all(np.abs(np.asarray(ours) - theirs) <= 1)


@pytest.mark.parametrize("stem, reset", [("snntorch_lif", "value"),
                                         ("snntorch_lif_subtract", "subtract")])
def test_snntorch_single_lif_fires_at_the_same_ticks(stem, reset):
    g, d = fixture(stem)
    net = snir.from_nir(g, dt=1e-4, reset=reset)     # snnTorch's export hard-codes dt = 1e-4
    theirs = np.flatnonzero(d["spikes"][:, 0])
    ours = spike_ticks(net, d["inputs"], d["inputs"].shape[0])
    assert len(theirs) >= 5
    assert match_within_one(ours, theirs), (ours.tolist(), theirs.tolist())


def test_snntorch_braille_spike_counts_correlate():
    g, d = fixture("snntorch_braille")
    net = snir.from_nir(g, dt=1e-4, reset="subtract")
    assert net.nir.latency == {"1.lif": 0, "3": 1}
    image = quiet_compile(net)
    S, T, n_in = d["inputs"].shape
    pad = max(net.nir.latency.values())               # one tick per hop on the core
    ours = {"1.lif": [], "3": []}
    with sl.open("model://") as board:
        for s in range(S):
            board.load(image, verify=False)     # the reload resets the state between samples
            x = np.vstack([d["inputs"][s], np.zeros((pad, n_in), bool)])
            r = board.run(T + pad, inputs={"input": x})
            for k in ours:
                ours[k].append(r[k].counts())
    for k, key in (("1.lif", "spk1"), ("3", "spk2")):
        a = np.array(ours[k]).ravel()
        b = d[key].sum(axis=1).ravel()
        assert b.sum() > 100
        assert np.corrcoef(a, b)[0, 1] >= 0.95, k


def test_norse_single_lif_after_the_tau_workaround():
    # Norse 1.1.0 writes tau = dt / tau_mem_inv (= dt * tau); docs/nir.md "Norse"
    g, d = fixture("norse_lif")
    dt = 1e-3
    net = snir.from_nir(norse_fixed(g, dt), dt=dt)
    theirs = np.flatnonzero(d["spikes"][:, 0])
    ours = spike_ticks(net, d["inputs"], d["inputs"].shape[0])
    assert len(theirs) >= 5
    assert match_within_one(ours, theirs), (ours.tolist(), theirs.tolist())


def norse_fixed(g, dt):
    """The two Norse 1.1.0 export quirks undone (docs/nir.md): tau is written as dt * tau, and
    the current jumps by the whole weight (w_in = 1 is written, tau_syn/dt is meant)."""
    for node in g.nodes.values():
        if isinstance(node, (nir.LIF, nir.LI)):
            node.tau = node.tau / dt
        if isinstance(node, nir.CubaLIF):
            node.tau_mem = node.tau_mem / dt
            node.tau_syn = node.tau_syn / dt
            node.w_in = node.tau_syn / dt
    return g


def test_norse_braille_sizes_spike_counts_correlate():
    g, d = fixture("norse_braille")
    net = snir.from_nir(norse_fixed(g, 1e-3), dt=1e-3)
    assert net.nir.latency == {"1": 0, "3": 1}
    image = quiet_compile(net)
    S, T, n_in = d["inputs"].shape
    ours = {"1": [], "3": []}
    with sl.open("model://") as board:
        for s in range(S):
            board.load(image, verify=False)
            x = np.vstack([d["inputs"][s], np.zeros((1, n_in), bool)])
            r = board.run(T + 1, inputs={"input": x})
            for k in ours:
                ours[k].append(r[k].counts())
    for k, key in (("1", "spk1"), ("3", "spk2")):
        a = np.array(ours[k]).ravel()
        b = d[key].sum(axis=1).ravel()
        assert b.sum() > 100
        assert np.corrcoef(a, b)[0, 1] >= 0.95, k


# -- the virtual board -----------------------------------------------------------------------------

@pytest.mark.rtl
def test_identical_on_model_and_virtual_board():
    from spikeloom.errors import ToolNotFound
    from spikeloom.sim import vboard, verilator
    try:
        verilator.check_tools()
        vboard.binary("tiny")
    except ToolNotFound as exc:
        pytest.skip(f"virtual board cannot be built here: {exc}")
    rng = np.random.default_rng(9)
    g = nir.NIRGraph(nodes={"input": io(4), "fc": nir.Linear(weight=rng.normal(0.4, 0.3, (6, 4))),
                            "lif": cuba(6), "rec": nir.Linear(weight=rng.normal(0, 0.2, (6, 6))),
                            "output": out(6)},
                     edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"),
                            ("lif", "output")])
    net = snir.from_nir(g, dt=DT, target="tiny")
    image = quiet_compile(net, target="tiny")
    x = rng.random((120, 4)) < 0.3
    a = run(image, {"input": x}, 120)
    with vboard.VirtualBoard("tiny") as vb:
        b = run(image, {"input": x}, 120, url=vb.url)
    assert a["lif"].count > 10
    assert np.array_equal(a["lif"].dense, b["lif"].dense)


def test_to_nir_refuses_what_nir_cannot_express():
    """An adaptive threshold or a separate inhibitory time constant has no NIR node: to_nir
    raises instead of exporting another model."""
    for extra in ({"theta_jump": 0.2, "tau_theta": 50.0}, {"tau_syn_inh": 15.0}):
        net = sl.Network()
        inp = net.inputs(2, name="in")
        exc = net.population(3, sl.LIF(threshold=1.0, bias=0.1, **extra), name="exc")
        net.connect(inp, exc, weights=[[0.5, -0.4, 0.3], [-0.2, 0.6, 0.4]])
        with pytest.raises(sl.CompileError, match="no NIR node"):
            sl.to_nir(net, target="tiny_full")


@pytest.mark.parametrize("kind", ["LI", "CubaLI"])
def test_li_readout_is_a_non_spiking_population_read_through_probes(kind):
    """input -> Linear -> LIF -> Linear -> LI/CubaLI -> Output: the readout never spikes, its v
    is recorded through probes and follows its input; to_nir gives the node type back."""
    rng = np.random.default_rng(2)
    tm = DT / (1 - 0.95)
    ts = DT / (1 - 0.8)
    ro = (nir.LI(tau=np.full(2, tm), r=np.full(2, tm / DT), v_leak=np.zeros(2)) if kind == "LI"
          else nir.CubaLI(tau_syn=np.full(2, ts), tau_mem=np.full(2, tm), r=np.full(2, tm / DT),
                          v_leak=np.zeros(2), w_in=np.full(2, ts / DT)))
    g = nir.NIRGraph(nodes={"input": io(3), "w1": nir.Linear(weight=rng.uniform(0.2, 1.0, (4, 3))),
                            "lif": lif(4, thr=0.5), "w2": nir.Linear(weight=np.full((2, 4), 0.3)),
                            "ro": ro, "output": out(2)},
                     edges=[("input", "w1"), ("w1", "lif"), ("lif", "w2"), ("w2", "ro"),
                            ("ro", "output")])
    net = snir.from_nir(g, dt=DT)
    cfg = preset("tiny").replace(probe_slots=2, name="tiny_probes")
    image = quiet_compile(net, target=cfg)
    spikes = rng.random((80, 3)) < 0.6
    with sl.open("model://", config=cfg) as board:
        board.load(image, verify=False)
        result = board.run(80, inputs={"input": spikes}, record={"ro": ["v"]})
    assert result["lif"].count > 5 and result["ro"].count == 0
    v = result["ro"].v
    assert v.shape == (80, 2) and v.raw.max() > 0     # the LIF's spikes drive it up
    back = snir.to_nir(image, dt=DT)
    assert type(back.nodes["ro"]).__name__ == kind
