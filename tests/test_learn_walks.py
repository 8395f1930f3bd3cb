"""The learning walks of docs/numerics.md step 6 and their cycle count (issue 21).

Potentiation visits only the *listed* sources (a plastic row, by the sticky per-source flag,
with a non-zero step) over the *fired words*; depression rides on the accumulation pass. The
model tests pin the rules (a zero step visits nothing, the flag is sticky, both engines list the
same sources); the lockstep tests run the gateware against the model on networks built to
exercise each skipping path, where ``last_tick_cycles`` must equal ``proto.cycles.tick_cycles``
at every tick (the count depends on the listed sources and the fired words).
"""

import copy
import dataclasses

import numpy as np
import pytest
from core_harness import Harness, lockstep, random_network, run_lockstep
from spikeloom.proto.config import preset
from spikeloom.proto.cycles import fired_words, tick_cycles, tick_cycles_bound
from spikeloom.proto.fixed import scale
from spikeloom.proto.memmap import Region
from spikeloom.sim.model import Core as Model
from spikeloom.sim.model import STDPParams

TINY = preset("tiny")
NARROW = preset("narrow")
ONE = 1 << TINY.decay_frac


def _one_synapse(cfg, a_plus):
    """Input 0 -> neuron 0, plastic, weight above w_max; neuron 0 fires every tick."""
    m = Model(cfg, engine="reference")
    m.params.threshold[:] = 1 << 14
    m.params.threshold[0] = -(1 << 14)
    m.params.alpha_mem[:] = m.params.alpha_syn[:] = ONE
    m.stdp = STDPParams(enable=1, a_plus=a_plus, a_minus=0, pre_jump=3, post_jump=0,
                        alpha_pre=ONE, alpha_post=ONE, w_min=-10, w_max=10)
    m.weights[0, 0] = 50
    m.plastic[0, 0] = True
    m.state.x[0] = 3
    return m


def test_zero_potentiation_step_visits_nothing():
    """A plastic weight out of range stays put while its source's step is zero (the source is
    not listed), and is clipped once the step is non-zero."""
    m = _one_synapse(TINY, a_plus=1)            # scale(3, 1) = 0
    assert scale(3, 1, TINY.stdp_frac) == 0
    res = m.step()
    assert res.spikes[0] and res.listed == 0 and m.weights[0, 0] == 50
    m = _one_synapse(TINY, a_plus=1 << TINY.stdp_frac)     # step 3
    res = m.step()
    assert res.spikes[0] and res.listed == 1 and m.weights[0, 0] == 10


def test_plastic_row_flag_is_sticky():
    """A PLASTIC write with a non-zero lane flags its row; writing zeros later keeps the flag;
    RESET CONFIG clears it; padding lanes do not count."""
    cfg = TINY.replace(n_neurons=6, name="ragged6")     # lanes 2, 3 of each row's 2nd word pad
    m = Model(cfg, engine="reference")
    wpr = cfg.words_per_row
    m.write_words(Region.PLASTIC, 2 * wpr + 1, [0b0001])            # row 2, second word
    assert m.plastic_flag.tolist() == [i == 2 for i in range(cfg.n_sources)]
    m.write_words(Region.PLASTIC, 2 * wpr + 1, [0])
    assert not m.plastic.any() and m.plastic_flag[2] and m.plastic_rows()[2]
    m.write_words(Region.PLASTIC, 3 * wpr + 1, [0b1100])            # padding lanes 6, 7 only
    assert not m.plastic_flag[3]
    m.reset_config()
    assert not m.plastic_flag.any()


def test_engines_list_the_same_sources():
    """The fast engine's listed count equals the reference's at every tick of random networks
    (one rule)."""
    walked = 0
    for seed in range(4):
        ref, inputs = random_network(TINY, 500 + seed, 30)
        ref.stdp = dataclasses.replace(ref.stdp, enable=1)
        fast = copy.deepcopy(ref)
        fast.engine, ref.engine = "fast", "reference"
        for t in range(len(inputs)):
            a, b = ref.step(inputs[t]), fast.step(inputs[t])
            assert a.listed == b.listed and np.array_equal(a.spikes, b.spikes), (seed, t)
            assert np.array_equal(ref.weights, fast.weights), (seed, t)
            walked += a.listed * a.spikes.any()
    assert walked


def test_formula_needs_the_counts_it_depends_on():
    cfg = TINY
    with pytest.raises(TypeError, match="listed"):
        tick_cycles(cfg, 2, 3, True)
    with pytest.raises(TypeError, match="words"):
        tick_cycles(cfg, 2, 3, True, listed=4)
    mask = np.zeros(cfg.n_neurons, bool)
    mask[[0, 1, 5]] = True                      # words 0 and 1 of 4 lanes
    assert fired_words(cfg, mask) == fired_words(cfg, [0, 1, 5]) == 2
    assert (tick_cycles(cfg, 2, mask, True, listed=4)
            == tick_cycles(cfg, 2, 3, True, listed=4, words=2)
            == tick_cycles(cfg, 2, 3, True, listed=4, words=2, weight_store="dual"))
    # no POT walk without a listed source or a fired word; the bound covers every case
    assert tick_cycles(cfg, 2, mask, True, listed=0) == tick_cycles(cfg, 2, 0, True)
    with pytest.raises(TypeError, match="plastic_delivered"):
        tick_cycles(cfg, 2, mask, True, "spram", listed=4)
    # spram: one write cycle per word of a delivered plastic row
    wpr = cfg.words_per_row
    assert (tick_cycles(cfg, 5, mask, True, "spram", listed=4, plastic_delivered=3)
            - tick_cycles(cfg, 5, mask, True, "spram", listed=4, plastic_delivered=0) == 3 * wpr)
    for store in ("dual", "spram"):
        assert tick_cycles(cfg, 12, mask, True, store, listed=12,
                           plastic_delivered=12) <= tick_cycles_bound(cfg, weight_store=store)


# -- lockstep: the skipping paths in the gateware --------------------------------------------

def walks_network(cfg, seed, ticks=24):
    """A random network with STDP on, plastic synapses on half of the rows only, a small
    a_plus (many zero potentiation steps) and neurons that fire together (several fired lanes
    per word)."""
    m, inputs = random_network(cfg, seed, ticks)
    rng = np.random.default_rng([seed, 21])
    s = cfg.n_sources
    m.plastic[rng.random(s) < 0.5] = False
    jump = (1 << cfg.trace_width) - 1
    unit = -(-(1 << cfg.stdp_frac) // jump)     # the rate of a step of 1 at a fresh trace
    m.stdp = dataclasses.replace(m.stdp, enable=1, a_plus=unit * int(rng.integers(1, 4)),
                                 pre_jump=jump)
    m.params.bias[rng.random(cfg.n_neurons) < 0.6] = 1 << (cfg.v_width - 3)
    m.params.no_spike[:] = 0
    return m, inputs


def _exercised(cfg, model, inputs):
    """(ticks with a zero-step plastic source skipped, ticks with several fired lanes in one
    word, ticks that potentiated) in a dry run."""
    m = Model(cfg, engine="reference")
    m.params, m.stdp = model.params, model.stdp
    m.weights, m.plastic, m.state = model.weights.copy(), model.plastic.copy(), model.state.copy()
    skipped = multi = pot = 0
    rows = m.plastic_rows()
    for row in inputs:
        res = m.step(row)
        skipped += res.listed < rows.sum() and res.spikes.any()
        lanes = np.bincount(np.flatnonzero(res.spikes) // cfg.weights_per_word)
        multi += (lanes > 1).any()
        pot += res.listed > 0 and res.spikes.any()
    return skipped, multi, pot


@pytest.mark.rtl
@pytest.mark.parametrize("name,seed,store", [
    ("tiny", 0, "dual"), ("tiny", 1, "spram"), ("narrow", 2, "dual"), ("narrow", 3, "spram")])
def test_walks_lockstep(name, seed, store):
    cfg = preset(name)
    model, inputs = walks_network(cfg, 4100 + seed)
    skipped, multi, pot = _exercised(cfg, model, inputs)
    assert skipped and pot and (multi or cfg.weights_per_word == 1), (skipped, multi, pot)
    assert not model.plastic_rows().all()               # rows without plastic synapses
    run_lockstep(cfg, model, inputs, seed=4100 + seed, weight_store=store)


@pytest.mark.rtl
@pytest.mark.parametrize("store", ["dual", "spram"])
def test_sticky_flag_lockstep(store):
    """Non-zero then zero PLASTIC data on a row: the row stays listed in the gateware and the
    model (the cycle count, which counts listed rows, must agree at every tick)."""
    cfg = TINY
    model, inputs = walks_network(cfg, 4200)
    row = int(np.flatnonzero(~model.plastic_rows())[0])
    model.state.x[row] = (1 << cfg.trace_width) - 1         # a non-zero step: listed
    model.stdp = dataclasses.replace(model.stdp, a_plus=1 << cfg.stdp_frac)
    addr = row * cfg.words_per_row
    model.write_words(Region.PLASTIC, addr, [1])
    model.write_words(Region.PLASTIC, addr, [0])
    assert model.plastic_flag[row] and not model.plastic[row].any()

    async def script(drv):
        await drv.write(Region.PLASTIC, addr, [1])
        await drv.write(Region.PLASTIC, addr, [0])
        return await lockstep(drv, model, inputs, seed=4200, weight_store=store)
    res = Harness(cfg, weight_store=store).run(script)
    assert res.ticks == len(inputs)


class _ECP5:
    """Stands in for an ECP5 platform: the core packs its flags memory one flag per word and
    keeps the delivered list in LUT RAM there (hdl.core.flag_pack, list_ram_attrs)."""
    family = "ecp5"


@pytest.mark.rtl
@pytest.mark.parametrize("name,seed", [("tiny", 5), ("narrow", 6)])
def test_walks_lockstep_ecp5_packing(name, seed):
    """The ECP5 memory plan is bit- and cycle-exact like the iCE40 one (same walks network)."""
    from spikeloom.hdl.core import flag_pack
    assert flag_pack(_ECP5()) == 1 and flag_pack(None) == 16
    cfg = preset(name)
    model, inputs = walks_network(cfg, 4100 + seed)
    run_lockstep(cfg, model, inputs, seed=4100 + seed, platform=_ECP5())
