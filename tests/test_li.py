# amaranth: UnusedElaboratable=no
"""Non-spiking neurons (NEURON_PARAMS ``no_spike``, docs/numerics.md step 2; ``sl.LI``): the
reference and fast engines, the gateware in lockstep with the model, and the host's LI cell."""

import copy

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.proto import preset
from spikeloom.sim.model import Core

TINY = preset("tiny")


def driven(cfg, engine):
    """Every neuron driven hard by input 0 (threshold 50); odd neurons have no_spike."""
    core = Core(cfg, engine)
    n = cfg.n_neurons
    core.params.threshold[:] = 50
    core.params.alpha_mem[:] = 1 << cfg.decay_frac
    core.params.alpha_syn[:] = 1 << (cfg.decay_frac - 1)
    core.params.no_spike[:] = np.arange(n) % 2
    core.weights[0, :] = 120
    return core


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_no_spike_never_fires_and_integrates_to_saturation(engine):
    core = driven(TINY, engine)
    raster = core.run(400, np.ones((400, TINY.n_inputs), bool))
    odd = np.arange(TINY.n_neurons) % 2 == 1
    assert not raster[:, odd].any()
    assert raster[:, ~odd].sum(axis=0).min() > 100          # the same drive fires the others
    assert (core.state.v[odd] == (1 << (TINY.v_width - 1)) - 1).all()   # v saturates
    assert (core.state.ref[odd] == 0).all()


def test_engines_agree_with_no_spike():
    from spikeloom.sim import fast
    if fast.unsupported(TINY):
        pytest.skip(f"fast engine unavailable: {fast.unsupported(TINY)}")
    rng = np.random.default_rng(3)
    inputs = rng.random((200, TINY.n_inputs)) < 0.4
    a, b = driven(TINY, "reference"), driven(TINY, "fast")
    b.engine = "fast"
    assert np.array_equal(a.run(200, inputs), b.run(200, inputs))
    assert np.array_equal(a.state.v, b.state.v)


@pytest.mark.rtl
@pytest.mark.parametrize("seed", [7, 8])
def test_rtl_lockstep_with_no_spike(seed):
    """The core in lockstep with the model on a random network where some neurons never
    spike (tests/core_harness.random_network draws no_spike) and one that would fire."""
    from core_harness import random_network, run_lockstep
    model, inputs = random_network(TINY, seed, 30)
    model.params.no_spike[:2] = 1
    model.params.threshold[:2] = -5            # would fire every tick without no_spike
    ref = copy.deepcopy(model)
    assert not ref.run(30, inputs)[:, :2].any()
    run_lockstep(TINY, model, inputs, seed=seed)


def test_host_li_population_integrates_and_never_spikes():
    cfg = TINY.replace(probe_slots=4, name="tiny_probes")
    net = sl.Network("readout")
    inp = net.inputs(4, name="in")
    out = net.population(3, sl.LI(tau_mem=20.0, tau_syn=5.0), name="out")
    net.connect(inp, out, weights=np.full((4, 3), 0.5), name="ff")
    image = sl.compile(net, target=cfg)
    spikes = np.random.default_rng(0).random((60, 4)) < 0.5
    with sl.open("model://", config=cfg) as board:
        board.load(image)
        result = board.run(60, inputs={"in": spikes}, record={"out": ["v"]})
    assert result["out"].count == 0
    v = result["out"].v
    assert v.shape == (60, 3) and v[-1].min() > 2.0          # far above LIF's default threshold
    assert np.all(np.diff(v.raw[:, 0])[:10] >= 0)             # positive weights: v rises
