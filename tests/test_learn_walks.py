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
import os

import numpy as np
import pytest
from core_harness import Harness, lockstep, random_network, run_lockstep
from spikeloom.proto.config import CoreConfig, preset
from spikeloom.proto.cycles import (
    acc_units,
    bank_cell,
    bank_cells,
    bank_stalls,
    compatible,
    fired_words,
    pairs_enabled,
    tick_cycles,
    tick_cycles_bound,
)
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
    with pytest.raises(TypeError, match="mask or an index list"):
        fired_words(cfg, 3)                     # a count says nothing of the words
    assert (tick_cycles(cfg, 2, mask, True, listed=4)
            == tick_cycles(cfg, 2, 3, True, listed=4, words=2)
            == tick_cycles(cfg, 2, 3, True, listed=4, words=2, weight_store="dual"))
    # no POT walk without a listed source or a fired word; the bound covers every case
    assert tick_cycles(cfg, 2, mask, True, listed=0) == tick_cycles(cfg, 2, 0, True)
    # spram: the bank stalls depend on which sources, so counts are not enough
    with pytest.raises(TypeError, match="plastic_delivered"):
        tick_cycles(cfg, 2, mask, True, "spram", listed=4)
    with pytest.raises(TypeError, match="mask or an index list"):
        tick_cycles(cfg, 5, mask, True, "spram", listed=4, plastic_delivered=3)
    # one cell (tiny's store is far below 16 384 words): every word of a plastic row but the
    # walk's last waits for the write of the word before it, as each POT word does
    wpr = cfg.words_per_row
    rows, srcs = [0, 3, 7, 8, 9], [1, 2, 4, 5]
    assert bank_cells(cfg) == 1
    assert bank_stalls(cfg, rows, [3, 9], srcs, mask, True) == (2 * wpr - 1, 4 * 2 - 1)
    assert (tick_cycles(cfg, rows, mask, True, "spram", listed=srcs, plastic_delivered=[3, 9])
            == tick_cycles(cfg, 5, mask, True, "spram", listed=4, plastic_delivered=2,
                           stalls=(0, 0)) + 2 * wpr - 1 + 7)
    assert (tick_cycles(cfg, 5, mask, True, "spram", listed=4, plastic_delivered=3,
                        stalls=(2 * wpr - 1, 7))
            == tick_cycles(cfg, rows, mask, True, "spram", listed=srcs, plastic_delivered=[3, 9]))
    for store in ("dual", "spram"):
        assert tick_cycles(cfg, list(range(12)), mask, True, store, listed=list(range(12)),
                           plastic_delivered=list(range(12))
                           ) <= tick_cycles_bound(cfg, weight_store=store)


def test_acc_pairs_rows_whose_words_never_share_a_cell():
    """proto.cycles.acc_units: an entry pairs with the one before it when both are read-only,
    every word k of the two lies in different cells, and the earlier one is not already a
    pair's second; the pairs change ACC's count by wpr per pair, and the formula wants the
    positions (a count cannot say which rows pair)."""
    up = preset("up5k")
    wpr = up.words_per_row
    assert pairs_enabled(up, "spram") and not pairs_enabled(up, "dual")
    assert not pairs_enabled(dataclasses.replace(up, delay_bits=1), "spram")
    assert not pairs_enabled(dataclasses.replace(up, inh_current=True), "spram")
    assert not pairs_enabled(TINY, "spram")             # one cell: every row in it
    # the definition, word by word, against the two-word shortcut
    rows = np.arange(up.n_sources)
    for a in (0, 1, 127, 128, 129, 255, 256, 383):
        full = np.array([all(bank_cell(up, a * wpr + k) != bank_cell(up, b * wpr + k)
                             for k in range(wpr)) for b in rows])
        assert np.array_equal(compatible(up, a, rows), full), a
    # 130, 131 (group 1, opposite parity): a pair; 131 is a second, so 132 stays alone
    # although compatible with it (and 140, the same parity, is not); 140 and 141 pair; 200
    # is plastic (STDP on): alone, and so is 201 after it
    delivered = [130, 131, 132, 140, 141, 200, 201]
    assert compatible(up, 131, 132) and not compatible(up, 132, 140)
    units = acc_units(up, delivered, [130, 131, 132, 140, 141, 201], "spram")
    assert units == [(130, 131), (132,), (140, 141), (200,), (201,)]
    assert acc_units(up, delivered, [], "spram") == [(r,) for r in delivered]
    assert acc_units(up, delivered, delivered, "dual") == [(r,) for r in delivered]
    # same group, same parity: never a pair; other groups pair with the same parity
    assert not compatible(up, 130, 132) and compatible(up, 130, 260)
    off = tick_cycles(up, delivered, [], False, "spram")
    on = tick_cycles(up, delivered, [], True, "spram", plastic_delivered=[200])
    # STDP off: 200 is read-only and pairs with 201; on, 201 also waits for 200's last write
    assert bank_stalls(up, delivered, [200], [], [], True) == (1, 0)
    assert on - off == wpr + 1
    assert acc_units(up, delivered, delivered, "spram")[-1] == (200, 201)
    assert tick_cycles(up, delivered, [], False, "spram", walk_units=7) - off == 3 * wpr
    with pytest.raises(TypeError, match="acc_units"):
        tick_cycles(up, 7, [], False, "spram")


def test_bank_cells_interleave_rows_and_words():
    """The banked store's placement (proto.cycles.bank_cell, the map hdl.spram.BankedStore
    implements): every word gets its own (cell, half, index) slot, and with two or more cells
    consecutive words of a row and (within a group of cell_words words) the same word of
    consecutive rows are in different cells, the walks' two orders. up5k: three full SPRAM
    cells."""
    for cfg, cw in ((preset("up5k"), 16384), (TINY, 8), (NARROW, 16), (TINY, 4)):
        s, wpr = cfg.n_sources, cfg.words_per_row
        cells = bank_cells(cfg, cw)
        a = np.arange(s * wpr)
        cell = bank_cell(cfg, a, cw)
        half = (a ^ (a >> (wpr.bit_length() - 1))) & 1
        slot = cell * cw + half * (cw // 2) + (a % cw) // 2
        assert np.unique(slot).size == a.size and cell.max() < cells, (cfg.name, cw)
        grid = cell.reshape(s, wpr)
        if cells >= 2:
            # (where two words straddle two groups of cw words, half of such pairs share)
            group = (a // cw).reshape(s, wpr)
            same = group[:, 1:] == group[:, :-1]
            assert (grid[:, 1:] != grid[:, :-1])[same].all(), (cfg.name, cw)
            same = group[1:, :] == group[:-1, :]
            assert (grid[1:, :] != grid[:-1, :])[same].all(), (cfg.name, cw)
    up = preset("up5k")
    assert bank_cells(up) == 3 and np.bincount(bank_cell(up, np.arange(up.weight_words))
                                               ).tolist() == [16384] * 3


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


def _stalls_of(cfg, model, inputs, cell_words):
    """The bank stalls (ACC, POT) summed over a dry run of ``model`` on ``inputs``."""
    m = copy.deepcopy(model)
    m.engine = "reference"
    total = np.zeros(2, int)
    for row in inputs:
        en = m.learning_enabled
        res = m.step(row)
        rows = res.delivered_rows
        total += bank_stalls(cfg, rows, rows[res.plastic_rows[rows]], res.listed_rows,
                             res.spikes, en, cell_words)
    return total


@pytest.mark.rtl
@pytest.mark.parametrize("name,cell_words,seed", [("tiny", 8, 0), ("narrow", 64, 1)])
def test_banked_lockstep(name, cell_words, seed):
    """The banked spram store with three cells (as up5k's): the walks wait exactly where
    proto.cycles.bank_stalls says (the counter equals the formula at every tick), in both
    walks, and the weights stay bit-exact. tiny: wpr = 2, rows interleaved by row + word
    parity; narrow: wpr = 11, by address parity."""
    cfg = preset(name)
    model, inputs = walks_network(cfg, 4300 + seed, ticks=30)
    assert bank_cells(cfg, cell_words) == 3
    ha, hp = _stalls_of(cfg, model, inputs, cell_words)
    assert ha > 0 and hp > 0, (ha, hp)
    run_lockstep(cfg, model, inputs, seed=4300 + seed, weight_store="spram",
                 cell_words=cell_words)


@pytest.mark.regress
@pytest.mark.rtl
@pytest.mark.parametrize("name,cell_words", [("tiny", 4), ("tiny", 8), ("narrow", 32),
                                             ("narrow", 64)])
def test_banked_lockstep_seeds(name, cell_words):
    cfg = preset(name)
    for seed in range(int(os.environ.get("SPIKELOOM_SEEDS", 8))):
        model, inputs = walks_network(cfg, 4400 + seed, ticks=40)
        run_lockstep(cfg, model, inputs, seed=4400 + seed, weight_store="spram",
                     cell_words=cell_words)


def _pair_stats(cfg, model, inputs, cell_words):
    """(pairs walked, bank stalls of ACC caused by a pair's second read) in a dry run."""
    m = copy.deepcopy(model)
    m.engine = "reference"
    pairs = second = 0
    wpr = cfg.words_per_row
    for row in inputs:
        en = m.learning_enabled
        res = m.step(row)
        rows = res.delivered_rows
        plastic = rows[res.plastic_rows[rows]]
        units = acc_units(cfg, rows, np.setdiff1d(rows, plastic) if en else rows, "spram",
                          cell_words)
        pairs += sum(len(u) == 2 for u in units)
        for prev, nxt in zip(units, units[1:], strict=False):
            if en and len(prev) == 1 and prev[0] in plastic and len(nxt) == 2:
                written = bank_cell(cfg, prev[0] * wpr + wpr - 1, cell_words)
                second += (bank_cell(cfg, nxt[1] * wpr, cell_words) == written)
    return pairs, second


#: wpr = 8: the list's lookahead is read mid-row (tiny's wpr = 2 reads it every clock)
_WIDE = CoreConfig(n_neurons=16, n_inputs=8, weights_per_word=2, name="pairs_wide",
                   clock_hz=1_000_000, baud=100_000)


@pytest.mark.rtl
@pytest.mark.parametrize("cfg,cell_words,stdp,seed", [
    (preset("tiny"), 8, True, 7), (preset("tiny"), 4, False, 1), (_WIDE, 64, True, 4),
    (_WIDE, 64, False, 3)])
def test_paired_rows_lockstep(cfg, cell_words, stdp, seed):
    """ACC walks two read-only rows at once on the banked store (proto.cycles.acc_units): the
    weights, currents and spikes stay bit-exact and the counter equals the formula at every
    tick, with STDP on (pairs among the non-plastic rows, next to written rows; a pair's
    second read waiting for a write) and off (every row pairable)."""
    assert pairs_enabled(cfg, "spram", cell_words)
    model, inputs = walks_network(cfg, 4500 + seed, ticks=30)
    if not stdp:
        model.stdp = dataclasses.replace(model.stdp, enable=0)
    pairs, second = _pair_stats(cfg, model, inputs, cell_words)
    assert pairs > 0
    if stdp:
        assert second > 0, "no pair waited for a write with its second read"
    run_lockstep(cfg, model, inputs, seed=4500 + seed, weight_store="spram",
                 cell_words=cell_words)


@pytest.mark.regress
@pytest.mark.rtl
@pytest.mark.parametrize("cfg,cell_words", [(preset("tiny"), 8), (preset("tiny"), 4),
                                            (_WIDE, 64), (_WIDE, 32)])
def test_paired_rows_lockstep_seeds(cfg, cell_words):
    """More seeds of test_paired_rows_lockstep, STDP on and off in turn."""
    for seed in range(int(os.environ.get("SPIKELOOM_SEEDS", 8))):
        model, inputs = walks_network(cfg, 4600 + seed, ticks=40)
        if seed % 2:
            model.stdp = dataclasses.replace(model.stdp, enable=0)
        run_lockstep(cfg, model, inputs, seed=4600 + seed, weight_store="spram",
                     cell_words=cell_words)
