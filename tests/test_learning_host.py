"""Plasticity rules from the host: sl.STDP options compiled into rules, their errors, the
report, board.run(modulation=) on model://, and a short Song, Miller & Abbott (2000) run."""

from __future__ import annotations

import re

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.proto.config import CoreConfig
from spikeloom.proto.memmap import Region, regions
from spikeloom.regions import decode, decode_matrix
from spikeloom.sim.model import Core

CFG = CoreConfig(n_neurons=10, n_inputs=16, stdp_frac=16, rule_bits=2, name="rules",
                 clock_hz=1_000_000, baud=100_000)
URL = "model://?engine=reference"


def two_rule_net(extra=None):
    net = sl.Network()
    inp = net.inputs(16, name="in")
    a = net.population(4, sl.LIF(tau_mem=20.0, tau_syn=5.0, threshold=1.0), name="a")
    b = net.population(4, sl.LIF(tau_mem=20.0, tau_syn=5.0, threshold=1.0), name="b")
    add = sl.STDP(a_plus=0.005, a_minus=0.00525, w_max=0.5, stochastic=True)
    soft = sl.STDP(a_plus=0.01, a_minus=0.0105, w_max=0.5, weight_dependence="multiplicative",
                   modulated=True)
    net.connect(inp, a, weights=0.2, stdp=add, name="add")
    net.connect(inp, b, weights=0.2, stdp=soft, name="soft")
    for k, stdp in enumerate(extra or []):
        pop = net.population(1, sl.LIF(tau_mem=20.0, tau_syn=5.0, threshold=1.0), name=f"x{k}")
        net.connect(inp, pop, weights=0.2, stdp=stdp, name=f"extra{k}")
    return net


def test_two_rules_compile_into_rule_indices_words_and_report():
    image = sl.compile(two_rule_net(), target=CFG, seed=777)
    rules = decode_matrix(CFG, Region.PLASTIC, image.regions[Region.PLASTIC])
    assert set(np.unique(rules[:16, :4])) == {1} and set(np.unique(rules[:16, 4:8])) == {2}
    assert not rules[16:].any() and not rules[:, 8:].any()
    words = decode(CFG, Region.STDP_PARAMS, image.regions[Region.STDP_PARAMS])
    assert words["enable"].tolist() == [1, 1, 0]
    assert words["stochastic"].tolist() == [1, 0, 0] and words["soft"].tolist() == [0, 1, 0]
    assert words["modulated"].tolist() == [0, 1, 0]
    # A-/A+ = 1.05 represented within 1 % (stdp_frac = 16)
    ratio = words["a_minus"][:2] / words["a_plus"][:2]
    assert np.all(np.abs(ratio / 1.05 - 1) < 0.01)
    assert decode(CFG, Region.LEARN, image.regions[Region.LEARN])["value"].tolist() == [777, 256]
    notes = [n for n in image.report.notes if n.startswith("rule ")]
    assert len(notes) == 2 and "A-/A+ = 1.0" in notes[0] and "'soft'" in notes[1]
    assert "multiplicative" in notes[1] and "modulated" in notes[1]
    # the image round-trips through its file format with the new region
    again = sl.Image.from_bytes(image.to_bytes())
    assert again.regions == image.regions


def test_rule_errors_name_the_projections():
    more = [sl.STDP(a_plus=0.01 * k, a_minus=0.01, w_max=0.5) for k in (2, 3)]
    with pytest.raises(sl.CompileError, match=r"4 different STDP rules.*'extra1'.*holds 3"):
        sl.compile(two_rule_net(more), target=CFG)
    tau = [sl.STDP(a_plus=0.01, a_minus=0.01, w_max=0.5, tau_plus=10.0)]
    with pytest.raises(sl.CompileError, match="tau_plus.*traces are per core"):
        sl.compile(two_rule_net(tau), target=CFG)
    with pytest.raises(sl.CompileError, match="'add'.*several plasticity rules"):
        sl.compile(two_rule_net(), target=CFG.replace(rule_bits=1))
    with pytest.raises(sl.CompileError, match="weight_dependence"):
        sl.STDP(weight_dependence="power")
    with pytest.raises(sl.CompileError, match="seed"):
        sl.compile(two_rule_net(), target=CFG, seed=0)


def _drive():
    rng = np.random.default_rng(4)
    return rng.random((300, 16)) < 0.2


def test_modulation_on_model_matches_the_model_and_freezes_at_zero():
    """board.run(modulation=) writes the factor before the ticks where it changes: the
    weights equal a golden model stepped with the same factors; factor 0 freezes the
    modulated rule while the other rule still learns."""
    image = sl.compile(two_rule_net(), target=CFG, seed=5)
    drive = _drive()
    mod = np.where(np.arange(300) < 150, 1.0, -0.5)
    with sl.open(URL, config=CFG) as board:
        board.load(image)
        board.run(300, inputs={"in": drive}, modulation=mod)
        got = decode_matrix(CFG, Region.WEIGHTS, board.read_region(Region.WEIGHTS))
    core = Core(CFG, engine="reference")
    for region in regions(CFG):
        core.write_bytes(region, 0, image.regions[region])
    for t in range(300):
        core.modulation = int(round(mod[t] * 256)) & 0xFFFF
        core.step(np.asarray(drive[t], bool))
    assert np.array_equal(got, core.weights)
    w0 = decode_matrix(CFG, Region.WEIGHTS, image.regions[Region.WEIGHTS])
    assert not np.array_equal(got[:16, 4:8], w0[:16, 4:8]), "the modulated rule did not learn"
    with sl.open(URL, config=CFG) as board:
        board.load(image)
        board.run(300, inputs={"in": drive}, modulation=np.zeros(300))
        frozen = decode_matrix(CFG, Region.WEIGHTS, board.read_region(Region.WEIGHTS))
    assert np.array_equal(frozen[:16, 4:8], w0[:16, 4:8])
    assert not np.array_equal(frozen[:16, :4], w0[:16, :4]), "the additive rule did not learn"


def test_modulation_needs_rules_and_one_factor_per_tick():
    with sl.open(URL, config=CFG) as board:
        with pytest.raises(ValueError, match="one factor per tick"):
            board.run(3, modulation=[1.0, 1.0])
        with pytest.raises(ValueError, match="-128"):
            board.run(2, modulation=[1.0, 500.0])
    with sl.open(URL, config=CFG.replace(rule_bits=1)) as board:
        with pytest.raises(ValueError, match="several plasticity rules"):
            board.run(2, modulation=[1.0, 1.0])


def test_song_2000_learns_with_the_papers_rates():
    """Song, Miller & Abbott (2000), reduced: one neuron, 120 Poisson inputs at 20 Hz (dt =
    1 ms), A+ = 0.005 gmax, A-/A+ = 1.05, tau = 20 ms, additive rule with stochastic rounding on
    model:// (3000 ticks). The step 0.005 gmax is 0.64 weight units: without stochastic
    rounding it floors to nothing, which the compiler refuses; with it the weights move and
    the competition starts (weights reach gmax; the full bimodality run is a workload)."""
    n_in, ticks = 120, 3000
    cfg = CoreConfig(n_neurons=1, n_inputs=n_in, weights_per_word=1, stdp_frac=16,
                     rule_bits=2, name="song", clock_hz=1_000_000, baud=100_000)
    gmax = 1.0

    def network(stochastic):
        net = sl.Network()
        inp = net.inputs(n_in, name="in")
        out = net.population(1, sl.LIF(tau_mem=20.0, tau_syn=5.0, threshold=40.0), name="out")
        stdp = sl.STDP(a_plus=0.005 * gmax, a_minus=0.005 * 1.05 * gmax, tau_plus=20.0,
                       tau_minus=20.0, w_min=0.0, w_max=gmax, stochastic=stochastic)
        net.connect(inp, out, weights=w0, stdp=stdp, name="syn")
        return net
    w0 = np.random.default_rng(1).uniform(0.3, 0.7, (n_in, 1)) * gmax
    with pytest.raises(sl.CompileError, match="floors to a zero weight step"):
        sl.compile(network(False), target=cfg)
    image = sl.compile(network(True), target=cfg)
    note = next(n for n in image.report.notes if n.startswith("rule 1"))
    ratio = float(re.search(r"A-/A\+ = (\d+\.\d+)", note).group(1))
    assert abs(ratio / 1.05 - 1) < 0.01, note
    spikes = np.random.default_rng(2).random((ticks, n_in)) < 0.02
    with sl.open(URL, config=cfg) as board:
        board.load(image)
        result = board.run(ticks, inputs={"in": spikes})
        w = np.asarray(board.read_weights("syn")).ravel()
    assert len(result.events) > 30, "the neuron must fire for STDP to act"
    assert (w != w0.ravel()).mean() > 0.9, "weights did not move"
    assert (w > 0.9 * gmax).mean() > 0.2 and (w0 > 0.9 * gmax).mean() == 0


def test_pynn_multiplicative_weight_dependence_is_a_soft_rule():
    """PyNN's MultiplicativeWeightDependence compiles to a soft-bound rule (A_plus and A_minus
    are fractions of the distance to the bound) and learns inside [w_min, w_max]; a target
    with one rule refuses it, naming the option."""
    import spikeloom.pynn as sim
    target = CFG.replace(name="rules")
    times = [[float(t) for t in range(k + 1, 190, 7)] for k in range(6)]
    for cfg, ok in ((target, True), (target.replace(rule_bits=1), False)):
        sim.setup(timestep=1.0, target=cfg, url=URL)
        src = sim.Population(6, sim.SpikeSourceArray(spike_times=times))
        cells = sim.Population(4, sim.IF_curr_exp(v_thresh=-64.0))
        syn = sim.STDPMechanism(
            timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.05,
                                                A_minus=0.05),
            weight_dependence=sim.MultiplicativeWeightDependence(w_min=0.0, w_max=1.0),
            weight=0.5, delay=1.0)
        prj = sim.Projection(src, cells, sim.AllToAllConnector(), syn)
        if ok:
            sim.run(200.0)
            rule = sim.state.net.projections[0].stdp
            assert rule.weight_dependence == "multiplicative" and rule.a_plus == 0.05
            w = prj.get("weight", format="array")
            assert not np.allclose(w, 0.5) and w.min() >= 0.0 and w.max() <= 1.0
        else:
            with pytest.raises(Exception, match="several plasticity rules"):
                sim.run(10.0)
        sim.end()
