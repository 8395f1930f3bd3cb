"""Properties of the golden model over random configurations, parameters, states and inputs.

Hypothesis draws the configuration (sizes and widths) and a seed; the seed fills every field
uniformly inside its declared width (from :func:`spikeloom.proto.memmap.layouts`), half the time
from a narrow band around zero so that neurons actually spike and weights actually learn. A
failing example prints its configuration and seed (Hypothesis' reproduction blob as well).

Decay factors are drawn in ``0 .. 2**F`` (0.0 .. 1.0), the meaning docs/numerics.md gives them.
The fields are one bit wider; a factor above 1.0 grows a value, which then saturates at its
width: see ``test_decay_factor_above_one_saturates``.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spikeloom.proto.config import CoreConfig
from spikeloom.proto.memmap import Region, layouts, region_words, regions
from spikeloom.sim.model import Core, STDPParams

EXAMPLES = 40


@st.composite
def configs(draw) -> CoreConfig:
    i_width = draw(st.integers(16, 20))
    return CoreConfig(
        n_neurons=draw(st.integers(1, 10)),
        n_inputs=draw(st.integers(1, 6)),
        v_width=draw(st.integers(16, 20)),
        i_width=i_width,
        w_width=draw(st.integers(2, 9)),
        trace_width=draw(st.integers(2, 9)),
        refractory_width=draw(st.integers(1, 4)),
        decay_frac=draw(st.integers(12, 14)),
        stdp_frac=draw(st.integers(0, 9)),
        weights_per_word=draw(st.integers(1, 5)),
        theta_width=draw(st.sampled_from([0, 0, 3, 8, 16])),
        inh_current=draw(st.booleans()),
        delay_bits=draw(st.sampled_from([0, 0, 1, 2, 3])),
    )


@dataclasses.dataclass
class Case:
    cfg: CoreConfig
    seed: int
    ticks: int

    def __repr__(self):
        return f"Case({self.cfg!r}, seed={self.seed}, ticks={self.ticks})"


cases = st.builds(Case, configs(), st.integers(0, 2**32 - 1), st.integers(1, 40))


def _values(rng, field, size, narrow: bool, one: int):
    if field.signed:
        lo, hi = -(1 << (field.width - 1)), (1 << (field.width - 1)) - 1
    else:
        lo, hi = 0, (1 << field.width) - 1
    if field.name.startswith("alpha"):
        hi = one                                # a decay factor: 0.0 .. 1.0
        lo = one // 2 if narrow else 0
    elif narrow:
        lo, hi = max(lo, -40), min(hi, 40)
    return rng.integers(lo, hi, size=size, endpoint=True)


def build(case: Case) -> tuple[Core, np.ndarray]:
    """A core filled at random inside every declared width, and a (ticks, M) input raster."""
    cfg, rng = case.cfg, np.random.default_rng(case.seed)
    one = 1 << cfg.decay_frac
    lay = layouts(cfg)
    core = Core(cfg)
    n, s = cfg.n_neurons, cfg.n_sources
    narrow = bool(rng.integers(2))
    for f in lay[Region.NEURON_PARAMS].fields:
        getattr(core.params, f.name)[:] = _values(rng, f, n, narrow, one)
    if narrow:                                  # mostly reachable thresholds
        core.params.threshold[:] = rng.integers(1, 60, n)
    for f in lay[Region.NEURON_STATE].fields:
        getattr(core.state, f.name)[:] = _values(rng, f, n, narrow, one)
    core.state.x[:] = _values(rng, lay[Region.PRE_TRACE].fields[0], s, narrow, one)
    core.state.y[:] = _values(rng, lay[Region.POST_TRACE].fields[0], n, narrow, one)
    core.state.spikes[:] = rng.integers(2, size=s).astype(bool)
    core.weights[:] = _values(rng, lay[Region.WEIGHTS].fields[0], (s, n), narrow, one)
    core.plastic[:] = rng.integers(2, size=(s, n)).astype(bool)
    if cfg.delay_bits:
        core.delays[:] = rng.integers(0, 1 << cfg.delay_bits, size=(s, n))
    core.stdp = STDPParams(**{f.name: int(_values(rng, f, None, narrow, one))
                              for f in lay[Region.STDP_PARAMS].fields})
    core.stdp.enable = int(rng.integers(4) > 0)
    inputs = rng.random((case.ticks, cfg.n_inputs)) < rng.random()
    core.check()
    return core, inputs


def snapshot(core: Core) -> dict:
    snap = {f.name: getattr(core.state, f.name).copy() for f in dataclasses.fields(core.state)}
    snap["weights"] = core.weights.copy()
    snap["plastic"] = core.plastic.copy()
    snap["delays"] = core.delays.copy()
    snap["stdp"] = dataclasses.astuple(core.stdp)
    snap["params"] = [getattr(core.params, f.name).copy()
                      for f in dataclasses.fields(core.params)]
    return snap


def assert_same(a: dict, b: dict, case: Case):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], list):
            for x, y in zip(a[k], b[k], strict=True):
                np.testing.assert_array_equal(x, y, err_msg=f"{k} {case}")
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{k} {case}")


# -- properties ----------------------------------------------------------------------------------

def check_widths(case: Case):
    core, inputs = build(case)
    fixed = ~core.plastic | (core.stdp.enable == 0)
    w0 = core.weights.copy()
    for t in range(case.ticks):
        res = core.step(inputs[t])
        core.check()                            # ValueError names the field that overflowed
        assert res.spikes.dtype == bool and core.state.spikes.dtype == bool
        assert not core.state.spikes[:case.cfg.n_inputs].any()
    np.testing.assert_array_equal(core.weights[fixed], w0[fixed], err_msg=repr(case))


@given(cases)
@settings(max_examples=EXAMPLES)
def test_state_stays_inside_declared_widths(case):
    check_widths(case)


@pytest.mark.regress
@given(cases)
@settings(max_examples=40 * int(os.environ.get("SPIKELOOM_SEEDS", "50")))
def test_state_stays_inside_declared_widths_long(case):
    check_widths(case)


@given(cases)
@settings(max_examples=EXAMPLES)
def test_silent_without_drive(case):
    core, _ = build(case)
    core.weights[:] = 0
    core.params.bias[:] = 0
    core.params.threshold[:] = np.maximum(core.params.threshold, 1)
    for f in dataclasses.fields(core.state):
        getattr(core.state, f.name)[...] = 0
    raster = core.run(case.ticks)
    assert not raster.any(), case
    assert not core.state.v.any() and not core.state.i.any() and not core.state.y.any(), case
    assert not core.weights.any(), case


@given(cases, st.data())
@settings(max_examples=EXAMPLES)
def test_split_run_equals_whole_run(case, data):
    t1 = data.draw(st.integers(0, case.ticks), label="t1")
    whole, inputs = build(case)
    split, _ = build(case)
    r_whole = whole.run(case.ticks, inputs)
    r1 = split.run(t1, inputs[:t1])
    r2 = split.run(case.ticks - t1, inputs[t1:])
    np.testing.assert_array_equal(np.concatenate([r1, r2]), r_whole, err_msg=repr(case))
    assert_same(snapshot(split), snapshot(whole), case)
    assert split.ticks == whole.ticks == case.ticks


@given(cases)
@settings(max_examples=EXAMPLES)
def test_deterministic(case):
    a, inputs = build(case)
    b, _ = build(case)
    assert_same(snapshot(a), snapshot(b), case)
    np.testing.assert_array_equal(a.run(case.ticks, inputs), b.run(case.ticks, inputs))
    assert_same(snapshot(a), snapshot(b), case)


@given(cases)
@settings(max_examples=EXAMPLES)
def test_inputs_as_mask_or_indices(case):
    a, inputs = build(case)
    b, _ = build(case)
    for t in range(case.ticks):
        ra = a.step(inputs[t])
        rb = b.step(np.flatnonzero(inputs[t]).tolist())
        np.testing.assert_array_equal(ra.spikes, rb.spikes, err_msg=repr(case))
        assert (ra.delivered, ra.syn_events) == (rb.delivered, rb.syn_events)
    assert_same(snapshot(a), snapshot(b), case)


@given(cases)
@settings(max_examples=EXAMPLES)
def test_copy_through_words_behaves_the_same(case):
    """Reading every region as words and writing them into a fresh core copies it exactly."""
    a, inputs = build(case)
    b = Core(case.cfg)
    for region in regions(case.cfg):
        n = region_words(case.cfg, region)
        b.write_words(region, 0, a.read_words(region, 0, n))
    assert_same(snapshot(a), snapshot(b), case)
    np.testing.assert_array_equal(a.run(case.ticks, inputs), b.run(case.ticks, inputs))
    assert_same(snapshot(a), snapshot(b), case)


# -- decay factors above 1.0 -------------------------------------------------------------------

def test_decay_factor_above_one_saturates():
    """docs/numerics.md: every decayed value is saturated to its width, so a factor above 2**F
    (which a WRITE can store) grows the value up to the bound and no further."""
    cfg = CoreConfig(n_neurons=1, n_inputs=1)
    core = Core(cfg)
    core.params.threshold[:] = 32767
    core.params.alpha_syn[:] = (2 << cfg.decay_frac) - 1      # ~2.0, fits the 13-bit field
    core.state.i[:] = 30000
    core.stdp.alpha_post = (2 << cfg.decay_frac) - 1
    core.state.y[:] = 200
    core.check()
    core.step()
    core.check()
    assert core.state.i[0] == 32767          # 30000 * 1.99 saturates at the 16-bit maximum
    assert core.state.y[0] == 255            # 200 * 1.99 saturates at the 8-bit maximum
    core.state.i[:] = -30000
    core.step()
    assert core.state.i[0] == -32768
    # the same for the optional inhibitory current and the adaptive threshold
    cfg = cfg.replace(inh_current=True, theta_width=10)
    core = Core(cfg)
    core.params.threshold[:] = 32767
    core.params.alpha_inh[:] = core.params.alpha_theta[:] = (2 << cfg.decay_frac) - 1
    core.state.i_inh[:] = -30000
    core.state.theta[:] = 1000
    core.step()
    core.check()
    assert core.state.i_inh[0] == -32768 and core.state.theta[0] == 1023
