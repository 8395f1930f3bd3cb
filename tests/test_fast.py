"""The compiled engine (spikeloom.sim.fast) is the numpy reference, bit for bit, after every tick.

Hypothesis draws a configuration (random sizes and widths with the optional neuron features,
the adaptive threshold ``theta_width`` (0 or a width up to ``v_width``) and the inhibitory
current ``inh_current``, each on or off, or a small preset, ``tiny_full`` having both), fills every
parameter, state value, weight, plasticity bit and STDP field at random inside its declared width
(tests/test_model_props.build, plus a "wild" mode using each field's whole range: decay factors
above 1.0, huge weights, thresholds out of reach), then steps a fast and a reference core with
the same inputs and requires identical spikes, delivered counts, state, weights and parameters
after every tick. ``make test`` runs a few examples (and every on/off combination of the two
features on fixed seeds), ``make regress`` many more (``SPIKELOOM_SEEDS`` times as many).
:class:`~spikeloom.sim.batch.Batch` is checked against separate cores, and the engine selection
(default, reference, unknown names, refusal of numerics the kernel does not implement) directly.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spikeloom.proto.config import PRESETS, CoreConfig
from spikeloom.proto.memmap import Region, layouts
from spikeloom.sim import fast
from spikeloom.sim.batch import Batch
from spikeloom.sim.model import Core, NeuronParams, STDPParams
from test_model_props import Case, assert_same, build, configs, snapshot

EXAMPLES = 25
SMALL_PRESETS = ("tiny", "narrow", "tiny_full")


@st.composite
def any_config(draw) -> CoreConfig:
    """A small preset, or random sizes and widths with each optional neuron feature on or off:
    ``theta_width`` 0 (half the time) or 1 .. v_width, ``inh_current`` off or on."""
    if draw(st.integers(0, 3)) == 0:
        return PRESETS[draw(st.sampled_from(SMALL_PRESETS))]
    cfg = draw(configs())
    theta = draw(st.one_of(st.just(0), st.integers(1, cfg.v_width)))
    return dataclasses.replace(cfg, theta_width=theta, inh_current=draw(st.booleans()),
                               delay_bits=draw(st.sampled_from([0, 1, 3])))


cases = st.builds(Case, any_config(), st.integers(0, 2**32 - 1), st.integers(1, 40))


def _full_range(rng, field, size):
    lo = -(1 << (field.width - 1)) if field.signed else 0
    hi = (1 << (field.width - 1)) - 1 if field.signed else (1 << field.width) - 1
    return rng.integers(lo, hi, size=size, endpoint=True)


def pair(case: Case, wild: bool) -> tuple[Core, Core, np.ndarray]:
    """The same random core twice, on the fast and on the reference engine, and its inputs."""
    a, inputs = build(case)
    if wild:                    # every field over its whole declared range
        cfg, rng = case.cfg, np.random.default_rng(case.seed ^ 0x5EED)
        lay = layouts(cfg)
        n, s = cfg.n_neurons, cfg.n_sources
        for f in lay[Region.NEURON_PARAMS].fields:
            if rng.integers(2):
                getattr(a.params, f.name)[:] = _full_range(rng, f, n)
        for f in lay[Region.NEURON_STATE].fields:
            if rng.integers(2):
                getattr(a.state, f.name)[:] = _full_range(rng, f, n)
        if rng.integers(2):
            a.weights[:] = _full_range(rng, lay[Region.WEIGHTS].fields[0], (s, n))
        a.stdp = STDPParams(**{f.name: int(_full_range(rng, f, None))
                               for f in lay[Region.STDP_PARAMS].fields})
        a.check()
    b = Core(case.cfg, engine="reference")
    b.params = NeuronParams(*(getattr(a.params, f.name).copy()
                              for f in dataclasses.fields(NeuronParams)))
    b.state = a.state.copy()
    b.weights[...] = a.weights
    b.plastic[...] = a.plastic
    b.delays[...] = a.delays
    b.stdp = dataclasses.replace(a.stdp)
    assert a.engine == "fast" and b.engine == "reference"
    return a, b, inputs


def check_lockstep(case: Case, wild: bool):
    a, b, inputs = pair(case, wild)
    for t in range(case.ticks):
        ra, rb = a.step(inputs[t]), b.step(inputs[t])
        np.testing.assert_array_equal(ra.spikes, rb.spikes, err_msg=f"tick {t} {case}")
        assert (ra.delivered, ra.syn_events) == (rb.delivered, rb.syn_events), (t, case)
        assert ra.spikes.dtype == bool and a.state.spikes.dtype == bool
        assert_same(snapshot(a), snapshot(b), case)
    assert a.ticks == b.ticks == case.ticks


@given(cases, st.booleans())
@settings(max_examples=EXAMPLES, deadline=None)
def test_fast_equals_reference_every_tick(case, wild):
    check_lockstep(case, wild)


@pytest.mark.parametrize("theta_width", [0, 1, 8, 16])
@pytest.mark.parametrize("inh_current", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_fast_equals_reference_with_each_feature(theta_width, inh_current, seed):
    """Every on/off combination of the adaptive threshold and the inhibitory current runs in
    lockstep on fixed seeds (whatever Hypothesis happens to draw), narrow and wild."""
    cfg = dataclasses.replace(PRESETS["tiny"], name="features", theta_width=theta_width,
                              inh_current=inh_current)
    assert fast.unsupported(cfg) == []
    check_lockstep(Case(cfg, seed, 40), wild=bool(seed % 2))


@pytest.mark.parametrize("delay_bits", [1, 2, 6])
@pytest.mark.parametrize("inh_current", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_fast_equals_reference_with_delays(delay_bits, inh_current, seed):
    """Per-synapse delays (the ring of future accumulators, with one or two currents) run in
    lockstep on fixed seeds, stepped and in one compiled run."""
    cfg = dataclasses.replace(PRESETS["tiny"], name="delays", delay_bits=delay_bits,
                              inh_current=inh_current)
    assert fast.unsupported(cfg) == []
    check_lockstep(Case(cfg, seed, 80), wild=bool(seed % 2))
    a, b, inputs = pair(Case(cfg, seed, 80), wild=False)
    assert a.delays.any() and (a.delays != a.delays.flat[0]).any()
    np.testing.assert_array_equal(a.run(80, inputs), b.run(80, inputs))
    assert_same(snapshot(a), snapshot(b), cfg)


@pytest.mark.regress
@given(cases, st.booleans())
@settings(max_examples=40 * int(os.environ.get("SPIKELOOM_SEEDS", "50")), deadline=None)
def test_fast_equals_reference_every_tick_long(case, wild):
    check_lockstep(case, wild)


@given(cases, st.booleans())
@settings(max_examples=EXAMPLES, deadline=None)
def test_fast_run_equals_reference_steps(case, wild):
    """Core.run on the fast engine (all ticks in one compiled loop) ends where the reference's
    tick-by-tick run does, with the same raster."""
    a, b, inputs = pair(case, wild)
    raster = a.run(case.ticks, inputs)
    ref = np.array([b.step(inputs[t]).spikes for t in range(case.ticks)])
    np.testing.assert_array_equal(raster, ref, err_msg=repr(case))
    assert_same(snapshot(a), snapshot(b), case)
    assert a.ticks == b.ticks


@given(any_config(), st.integers(0, 2**32 - 1), st.integers(1, 5), st.integers(1, 30))
@settings(max_examples=10, deadline=None)
def test_batch_equals_separate_cores(cfg, seed, k, ticks):
    """k different random cores (different networks and inputs) in one Batch end exactly where
    k separate reference cores do."""
    cases_ = [Case(cfg, seed + b, ticks) for b in range(k)]
    built = [pair(c, wild=bool(b % 2)) for b, c in enumerate(cases_)]
    batch = Batch.from_cores(a for a, _, _ in built)
    inputs = np.stack([inp for _, _, inp in built])
    raster = batch.run(ticks, inputs)
    assert raster.shape == (k, ticks, cfg.n_neurons)
    for b, (a, ref, inp) in enumerate(built):
        np.testing.assert_array_equal(raster[b], ref.run(ticks, inp), err_msg=f"core {b}")
        assert_same(snapshot(a), snapshot(ref), cases_[b])
        assert a.ticks == ref.ticks == ticks


def test_batch_shared_inputs_and_checks():
    cfg = PRESETS["tiny"]
    batch = Batch(cfg, 3)
    for b, core in enumerate(batch.cores):
        core.weights[:cfg.n_inputs] = 10 * (b + 1)     # 4 inputs: 40, 80, 120 per tick
        core.params.threshold[:] = 100
        core.params.alpha_mem[:] = 1 << cfg.decay_frac  # V integrates without leak
    raster = batch.run(4, np.ones((4, cfg.n_inputs), bool))
    # the same inputs for all: the stronger the weights, the sooner every neuron fires
    assert [int(np.argmax(raster[b].all(axis=1))) for b in range(3)] == [2, 1, 0]
    with pytest.raises(ValueError, match="inputs must have shape"):
        batch.run(4, np.ones((3, cfg.n_inputs), bool))
    with pytest.raises(ValueError, match="k >= 1"):
        Batch(cfg, 0)
    with pytest.raises(ValueError, match="same configuration"):
        Batch.from_cores([Core(cfg), Core(PRESETS["narrow"])])


def test_engine_selection():
    cfg = PRESETS["tiny"]
    assert Core(cfg).engine == "fast"
    assert Core(cfg, engine="reference").engine == "reference"
    with pytest.raises(ValueError, match="engine must be one of"):
        Core(cfg, engine="numba")


def test_fast_refuses_numerics_it_does_not_know(monkeypatch):
    """A configuration or model field the kernel does not implement never runs on it: the core
    warns and runs the reference engine (and a Batch refuses)."""

    @dataclasses.dataclass(frozen=True)
    class Extended(CoreConfig):
        gamma_width: int = 0                    # a numerics option the kernel has never seen

    cfg = Extended(n_neurons=4, n_inputs=2, name="ext")
    assert fast.unsupported(cfg) == ["CoreConfig field(s) gamma_width"]
    with pytest.warns(fast.FastEngineWarning, match="gamma_width"):
        core = Core(cfg)
    assert core.engine == "reference"
    with pytest.raises(ValueError, match="gamma_width"):
        Batch(cfg, 2)

    @dataclasses.dataclass
    class Params(NeuronParams):
        gamma_jump: np.ndarray = None

    monkeypatch.setattr(fast, "NeuronParams", Params)
    with pytest.warns(fast.FastEngineWarning, match="NeuronParams field.*gamma_jump"):
        assert Core(PRESETS["tiny"]).engine == "reference"
    monkeypatch.undo()
    # a new layout field (a NEURON_STATE word the kernel does not update)
    monkeypatch.setattr(fast, "NEURON_FIELDS", ("v", "i", "y"))
    assert any("NEURON_STATE field(s) ref" in w for w in fast.unsupported(PRESETS["tiny"]))


def test_model_url_engines_give_the_same_bytes():
    """model:// on either engine: the same session gives the same wire bytes (every reply and
    SPIKES event), weights and state; the URL option is checked."""
    import spikeloom as sl
    from spikeloom.transport import open_transport
    from test_host_board import stdp_net

    net, _ = stdp_net(n_in=5, n_exc=11, seed=4)
    image = sl.compile(net, target="narrow")
    rng = np.random.default_rng(5)
    spikes = rng.random((120, 5)) < 0.3
    seen = {}
    for engine in ("fast", "reference"):
        t = open_transport(f"model://narrow?engine={engine}")
        assert t.device.core.engine == engine
        wire = bytearray()

        class Tap:                              # records every byte the device sends
            def __init__(self, inner):
                self.inner, self.write, self.close = inner, inner.write, inner.close

            def read(self, timeout, wire=wire):
                data = self.inner.read(timeout)
                wire.extend(data)
                return data
        with sl.open(transport=Tap(t)) as board:
            board.load(image)
            result = board.run(120, inputs={"in": spikes})
            seen[engine] = (bytes(wire), result["exc"].events.tolist(),
                            board.read_weights("ff", raw=True).tolist())
    assert len(seen["fast"][0]) > 1000 and seen["fast"] == seen["reference"]
    assert seen["fast"][1], "the network must spike for the comparison to mean something"
    with pytest.raises(sl.LinkError, match=r"engine=.numba. is not one of fast, reference"):
        open_transport("model://narrow?engine=numba")
