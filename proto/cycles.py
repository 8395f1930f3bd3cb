"""Cycles per tick of the core: the exact value of its ``last_tick_cycles`` counter.

The engine (``spikeloom.hdl.core.Core``) is deterministic: every phase has a fixed pipeline
latency and walks a number of elements that depends on *counts* (delivered sources, listed
sources, fired words) and, on the banked SPRAM store only, on the cells the walks' consecutive
words fall in. So one formula gives the exact count (``last_tick_cycles`` counts the cycles with
``busy`` high, the ``done`` cycle included)::

    tick_cycles = (S + 1 + A)                           SCAN: one source per clock, drain of the
                                                        A = 3 stages after the memory data
                + [P > 0] (3 + U·wpr + a                ACC (+ depression): list fetch (two
                           + [en ∧ spram] Ha)           entries), U walk units of wpr words,
                                                        drain (a: the stages after the data,
                                                        the last the accumulate stage; + the
                                                        bank stalls on spram)
                + (N + 2 + L)                           SWEEP: fetch, N neurons, drain of the
                                                        L + 1 = 3 stage neuron pipeline
                + 1                                     end-of-tick spike marker
                + [en ∧ R > 0 ∧ Fw > 0] (2 + R·Fw + b   POT: listed rows × fired words, drain
                                         + [spram] Hp     (+ b: the dual store's stages; + the
                                                          bank stalls on spram)
                                         + [rules] RULE_LATENCY)  (+ the rule learner's drain)
                + 1                                     FINISH (done)

with ``S = n_inputs + n_neurons``, ``N = n_neurons``, ``A`` = :data:`SCAN_LATENCY`,
``L`` = :data:`UPDATE_LATENCY`,
``wpr = ceil(N / weights_per_word)``, ``P`` delivered sources, ``U`` ACC's walk units
(:func:`acc_units`: ``U = P`` but on a spram core that pairs rows), ``en`` the STDP enable bit,
``D = delay_bits``, ``R`` the sources *listed* for potentiation (docs/numerics.md step 6: the
row has a plastic synapse, by the sticky per-source flag, and the source's potentiation step
is non-zero), ``Fw`` the *fired words*
(weight words of a row holding at least one neuron that fired: ``len({j // weights_per_word})``).

Both weight stores read one word and write another in the same clock: the accumulation walk
reads a word per clock and writes the word before it back, depressed, when its row is plastic
(a row without a plastic synapse is only read); potentiation reads a word per clock and writes
the one before it back, every fired lane at once. On the banked spram store (below) the
accumulation walks two rows ACC only reads (not plastic, or STDP off) at once when their words
never share a cell (:func:`pairs_enabled`, :func:`compatible`): SCAN pairs a delivered row with
the one listed just before it when both qualify and that one is not already the second of a
pair, and ACC reads word ``k`` of both in one clock, adding the two weights of each lane before
the accumulator (:func:`acc_units`; the sum is exact, so the currents are those of the rows
one by one). The "dual" store has a read and a write port.
The "spram" store (the iCE40UP5K's single-port SPRAMs) is *banked*
(``hdl.spram.BankedStore``): word ``a`` lives in cell :func:`bank_cell` ``(a)`` of
``ceil(S·wpr / C)`` cells of ``C`` = :data:`SPRAM_CELL_WORDS` words, interleaved so that
consecutive words of a row, and the same word of consecutive rows, lie in different cells. A
read of the cell being written waits a clock: ``Ha`` and ``Hp`` count those *bank stalls*
(:func:`bank_stalls`: consecutive words of the walk in one cell while the first is written).
On the spram store potentiation walks column-major (fired words outer, listed rows inner), the
dual store row-major; the results do not depend on the order (one rule: each weight is
updated once, from values fixed before the walk).
The dual store's walks drain later (its registered read address and learn stage, below):
``a = b =`` :data:`DUAL_STAGES`; on spram ``a = 1`` (the accumulate stage after the data) and
``b = 0``.

With several plasticity rules (``rule_bits > 1``, ``[rules]`` above; dual store only) ``en``
is the OR of the rules' enable bits, a source is listed by the rule of docs/numerics.md
("Plasticity rules") and the walks are the same ones (the rounding draws follow exactly these
walks). The rule learner (``hdl.rules.RuleLearner``) writes a word :data:`RULE_LATENCY` clocks
after it read it, so POT ends with that many drain clocks before FINISH; ACC needs none (the
sweep, which does not touch the weights, covers its last writes).

The optional neuron features (``CoreConfig.theta_width``, ``inh_current``) add no cycles: the
second accumulator takes the same weight word in the same clock, and theta and the inhibitory
current go through the sweep's pipeline stages with the rest of the neuron.
Delays (``delay_bits = D > 0``) cost no cycle: the lane's ring slot depends on the delay read
with the weight word, so the ring reads in the data stage and adds in the accumulate stage, as
the single accumulator row does; the sweep reads the head slot as before. The
dual store does the same with or without delays and registers its read address as well, for
the clock (``hdl.core``, docs/boards.md "Clock"): the address register, the data stage, then
the learn stage, where the weight word is in a register before the accumulators' and the
learner's adders (the ring adds there too): ACC and POT drain ``a = b =`` :data:`DUAL_STAGES`
cycles after their last word's data stage.

Synaptic throughput: the accumulation moves ``weights_per_word`` synaptic events per clock (one
weight word, all lanes in parallel; a pair of rows, twice that) and depresses the same word on
its way; potentiation updates every fired lane of a word in one read-modify-write, one word per
clock.
"""

from __future__ import annotations

from .config import CoreConfig

__all__ = ["tick_cycles", "tick_cycles_bound", "fired_words", "WEIGHT_STORES",
           "check_weight_store", "UPDATE_LATENCY", "SCAN_LATENCY", "RULE_LATENCY",
           "SPRAM_CELL_WORDS", "bank_cells", "bank_cell", "bank_stalls", "spread", "tick_cycles_at",
           "DUAL_STAGES", "pairs_enabled", "compatible", "acc_units"]

#: The weight-store kinds a core is built with (``hdl.core.Core(weight_store=...)``): "dual"
#: (separate read and write ports) or "spram" (banked single-port cells, as the UP5K's SPRAMs).
WEIGHT_STORES = ("dual", "spram")

#: Words of one cell of the banked "spram" weight store: an SB_SPRAM256KA (16 384 x 16 bits).
#: Tests build smaller cells (``cell_words=``) to have several cells in a small core.
SPRAM_CELL_WORDS = 16384


#: Cycles from the sweep's memory data to the neuron update's write-back
#: (``hdl.neuron.Update.LATENCY``, the same number): three stages, at most two carry chains
#: each (docs/architecture.md, "Neuron pipeline"). The sweep drains in ``UPDATE_LATENCY + 1``.
UPDATE_LATENCY = 2

#: Cycles from the SCAN's memory data to its list and step writes (``hdl.core.Core``): the
#: trace decays' products, the new traces (jump, saturation, write-back), then the step
#: products, each ending in a register, so that no SCAN stage chains a block-RAM read, a
#: multiplier and an adder. The SCAN drains in ``SCAN_LATENCY + 1``.
SCAN_LATENCY = 3

#: Stages the dual store's walks (ACC, POT) add after the issue of a word, besides its data
#: stage: the registered read address and the learn stage (``hdl.core``). Each walk drains
#: that much later, a few cycles a tick and none per word.
DUAL_STAGES = 2

#: Clocks from a weight word's read data to its write-back through the rule learner
#: (``hdl.rules.RuleLearner.LATENCY``, the same number; ``rule_bits > 1`` only): POT's drain.
RULE_LATENCY = 3


def check_weight_store(weight_store) -> str:
    """``weight_store`` if it is one of :data:`WEIGHT_STORES`, else ``ValueError`` naming it."""
    if weight_store not in WEIGHT_STORES:
        raise ValueError(f"weight_store must be one of {WEIGHT_STORES}, not {weight_store!r}")
    return weight_store


def _count(value, name: str, hi: int) -> int:
    """A count given as an int, a bool mask (numpy or list) or a sequence of indices."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a count or a collection, not {value!r}")
    if isinstance(value, int):
        count = value
    else:
        try:
            import numpy as np
            arr = np.asarray(value)
            count = int(arr.sum()) if arr.dtype == bool else int(arr.size)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a count or a collection, not {value!r}") from None
    if not 0 <= count <= hi:
        raise ValueError(f"{name} = {count} is outside 0..{hi}")
    return count


def bank_cells(cfg: CoreConfig, cell_words: int = SPRAM_CELL_WORDS) -> int:
    """Cells of the banked "spram" weight store of ``cfg``: ``ceil(S·wpr / cell_words)``."""
    return -(-cfg.n_sources * cfg.words_per_row // cell_words)


def bank_cell(cfg: CoreConfig, addr, cell_words: int = SPRAM_CELL_WORDS):
    """The cell holding weight word ``addr`` (an int or an integer numpy array) in the banked
    store: ``(addr // cell_words + parity) % cells``, the parity being that of ``r + k`` for
    word ``k`` of row ``r`` when ``wpr`` is a power of two (bits 0 and log2(wpr) of the
    address), else of ``addr``. Within a group of ``cell_words`` words, parity 0 and parity 1
    go to neighbouring cells; ``hdl.spram.BankedStore`` implements the same map."""
    wpr = cfg.words_per_row
    s = wpr.bit_length() - 1 if wpr >= 2 and wpr & (wpr - 1) == 0 else 0
    parity = ((addr ^ (addr >> s)) if s else addr) & 1
    return (addr // cell_words + parity) % bank_cells(cfg, cell_words)


def _positions(value, name: str, hi: int):
    """Sorted indices from a bool mask or an index collection (not a bare count)."""
    import numpy as np
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        raise TypeError(f"{name} must be a mask or an index list here, not the count {value}")
    arr = np.asarray(value)
    idx = np.flatnonzero(arr) if arr.dtype == bool else np.unique(arr.astype(np.int64).ravel())
    if idx.size and (idx.min() < 0 or idx.max() >= hi):
        raise ValueError(f"{name} index outside 0..{hi - 1}")
    return idx


def pairs_enabled(cfg: CoreConfig, weight_store: str = "dual",
                  cell_words: int = SPRAM_CELL_WORDS) -> bool:
    """Whether ACC walks two delivered rows at once (:func:`acc_units`): the banked spram
    store without delays, separate inhibitory currents or rules (each of them needs a lane's
    weights one at a time), a power-of-two ``wpr >= 2`` whose rows lie in one cell group
    (``cell_words >= wpr``), and two cells or more."""
    wpr = cfg.words_per_row
    return (weight_store == "spram" and not cfg.delay_bits and not cfg.inh_current
            and cfg.rule_bits <= 1 and wpr >= 2 and wpr & (wpr - 1) == 0
            and cell_words >= wpr and bank_cells(cfg, cell_words) >= 2)


def compatible(cfg: CoreConfig, a, b, cell_words: int = SPRAM_CELL_WORDS):
    """Rows ``a`` and ``b`` (ints or integer arrays) have every word ``k`` in different cells
    of the banked store (with :func:`pairs_enabled`'s layout a word's cell depends only on
    its row and the parity of ``k``, so words 0 and 1 decide)."""
    wpr = cfg.words_per_row
    return ((bank_cell(cfg, a * wpr, cell_words) != bank_cell(cfg, b * wpr, cell_words))
            & (bank_cell(cfg, a * wpr + 1, cell_words) != bank_cell(cfg, b * wpr + 1,
                                                                      cell_words)))


def acc_units(cfg: CoreConfig, delivered, pairable, weight_store: str = "dual",
              cell_words: int = SPRAM_CELL_WORDS) -> list[tuple[int, ...]]:
    """ACC's walk, in order: ``(row,)`` walked alone or ``(row, next_row)`` walked together,
    one word of each per clock into the same accumulators (weights pre-added per lane).

    ``delivered``: the delivered sources (bool mask or index list), in list order (ascending);
    ``pairable``: the same for the delivered rows ACC only reads (not plastic, or STDP off).
    With :func:`pairs_enabled`, an entry pairs with the one before it when both are pairable,
    their words never share a cell (:func:`compatible`) and the one before is not itself the
    second of a pair (SCAN decides this as it appends the list); otherwise every row alone."""
    import numpy as np
    rows = _positions(delivered, "delivered", cfg.n_sources)
    if not pairs_enabled(cfg, weight_store, cell_words) or rows.size < 2:
        return [(int(r),) for r in rows]
    ok = np.isin(rows, _positions(pairable, "pairable", cfg.n_sources))
    link = ok[1:] & ok[:-1] & compatible(cfg, rows[:-1], rows[1:], cell_words)
    units, i = [], 0
    while i < rows.size:
        if i + 1 < rows.size and link[i]:
            units.append((int(rows[i]), int(rows[i + 1])))
            i += 2
        else:
            units.append((int(rows[i]),))
            i += 1
    return units


def bank_stalls(cfg: CoreConfig, delivered, plastic_delivered, listed, fired,
                stdp_enabled, cell_words: int = SPRAM_CELL_WORDS) -> tuple[int, int]:
    """``(Ha, Hp)``: the clocks the banked store's accumulation and potentiation walks wait,
    each a word whose cell is being written by the word before it (see the module doc).

    ``delivered``, ``plastic_delivered`` (the delivered sources with a plastic row),
    ``listed`` as bool masks or index lists, ``fired`` likewise over the neurons. The walks:
    ACC every word of :func:`acc_units` in order (a pair reads two cells; a word written back
    iff STDP is on and its row is plastic); POT (STDP on) for each fired word ``k`` ascending,
    each listed row ascending, every word written."""
    import numpy as np
    if not stdp_enabled:
        return 0, 0
    s, wpr, n = cfg.n_sources, cfg.words_per_row, cfg.n_neurons
    rows = _positions(delivered, "delivered", s)
    plastic = _positions(plastic_delivered, "plastic_delivered", s)
    ha = hp = 0
    if plastic.size:
        units = acc_units(cfg, rows, np.setdiff1d(rows, plastic), "spram", cell_words)
        first = np.array([u[0] for u in units])
        second = np.array([u[1] if len(u) > 1 else -1 for u in units])
        k = np.arange(wpr)
        cell_a = bank_cell(cfg, (first[:, None] * wpr + k).ravel(), cell_words)
        cell_b = np.where(np.repeat(second, wpr) >= 0,
                          bank_cell(cfg, (np.maximum(second, 0)[:, None] * wpr + k).ravel(),
                                    cell_words), -1)
        written = np.repeat(np.isin(first, plastic) & (second < 0), wpr)[:-1]
        ha = int(np.count_nonzero(written & ((cell_a[:-1] == cell_a[1:])
                                             | (cell_a[:-1] == cell_b[1:]))))
    src = _positions(listed, "listed", s)
    words = np.unique(_positions(fired, "fired", n) // cfg.weights_per_word)
    if src.size and words.size:
        cell = bank_cell(cfg, (words[:, None] + src[None, :] * wpr).ravel(), cell_words)
        hp = int(np.count_nonzero(cell[:-1] == cell[1:]))
    return ha, hp


def fired_words(cfg: CoreConfig, fired) -> int:
    """The number of weight words of a row that hold at least one fired neuron, from ``fired``
    as a bool mask or an index list (a bare count does not say which words: TypeError)."""
    import numpy as np
    return int(np.unique(_positions(fired, "fired", cfg.n_neurons)
                         // cfg.weights_per_word).size)


def tick_cycles(cfg: CoreConfig, delivered, fired, stdp_enabled,
                weight_store: str = "dual", *, listed=None, words=None,
                plastic_delivered=None, stalls=None, walk_units=None,
                cell_words: int = SPRAM_CELL_WORDS) -> int:
    """Exact ``last_tick_cycles`` of one tick.

    ``delivered``: the sources delivered in the tick (count, bool mask or index list);
    ``fired``: the neurons that fired in it (same forms); ``stdp_enabled``: the STDP enable bit
    of the tick (with several rules: any rule's); ``listed``: the sources listed for
    potentiation (same forms; ``TickResult.listed`` of the golden model); ``words``: the fired
    words ``Fw``, derived from ``fired`` when that is a mask or an index list;
    ``plastic_delivered``: the delivered sources whose row is plastic (same forms).
    ``listed`` and (for a bare count ``fired``) ``words`` are needed only when STDP is on and a
    neuron fired: a missing one is then a TypeError (the count would not be exact).

    The "spram" store with STDP on adds the bank stalls ``(Ha, Hp)``: from ``stalls`` when
    given, else computed by :func:`bank_stalls` (then ``delivered``, ``plastic_delivered``,
    ``listed`` and ``fired`` must be masks or index lists: a count is a TypeError).
    ACC's walk units on a spram core that pairs rows (:func:`pairs_enabled`): from
    ``walk_units`` (their number) when given, else computed by :func:`acc_units` (then
    ``delivered``, and with STDP on ``plastic_delivered``, must be masks or index lists).
    ``cell_words``: the store's cell size (tests use small cells)."""
    if not isinstance(cfg, CoreConfig):
        raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
    check_weight_store(weight_store)
    s, n, wpr = cfg.n_sources, cfg.n_neurons, cfg.words_per_row
    p = _count(delivered, "delivered", s)
    q = _count(fired, "fired", n)
    en = bool(stdp_enabled)
    ha = hp = 0
    if en and weight_store == "spram" and (p or q):
        if stalls is None:
            if plastic_delivered is None or (q and listed is None):
                raise TypeError("tick_cycles needs plastic_delivered= and listed= (masks or "
                                "index lists) for the banked spram store with STDP on, or "
                                "stalls=")
            # a walk that writes nothing cannot stall: zero counts need no positions
            acc = _count(plastic_delivered, "plastic_delivered", p) > 0
            pot = q > 0 and _count(listed, "listed", s) > 0
            ha, hp = bank_stalls(cfg, delivered if acc else [], plastic_delivered if acc else [],
                                 listed if pot else [], fired if pot else [], True, cell_words)
        else:
            ha, hp = stalls
    cycles = (s + 1 + SCAN_LATENCY) + (n + 2 + UPDATE_LATENCY) + 1 + 1
    if p:
        if walk_units is not None:
            units = _count(walk_units, "walk_units", p)
        elif p > 1 and pairs_enabled(cfg, weight_store, cell_words):
            if isinstance(delivered, int) or (en and (plastic_delivered is None
                                                      or isinstance(plastic_delivered, int))):
                raise TypeError("tick_cycles needs delivered= (and with STDP on "
                                "plastic_delivered=) as masks or index lists on this spram "
                                "core: ACC pairs rows by position (acc_units)")
            import numpy as np
            rows = _positions(delivered, "delivered", s)
            pairable = (np.setdiff1d(rows, _positions(plastic_delivered, "plastic_delivered",
                                                      s)) if en else rows)
            units = len(acc_units(cfg, rows, pairable, weight_store, cell_words))
        else:
            units = p
        cycles += (3 + p * wpr + DUAL_STAGES if weight_store == "dual"
                   else 4 + units * wpr + ha)
    if en and q:
        if listed is None:
            raise TypeError("tick_cycles needs listed= (the sources listed for potentiation) "
                            "when STDP is on and a neuron fired")
        r = _count(listed, "listed", s)
        if words is None:
            if isinstance(fired, int):
                raise TypeError("tick_cycles needs words= (the fired words) or fired as a "
                                "mask or an index list when STDP is on")
            words = fired_words(cfg, fired)
        fw = _count(words, "words", min(q, wpr))
        if r and fw:
            cycles += 2 + r * fw + hp + (DUAL_STAGES if weight_store == "dual" else 0) \
                + (RULE_LATENCY if cfg.rule_bits > 1 else 0)
    return cycles


def tick_cycles_bound(cfg: CoreConfig, delivered_max=None, fired_max=None,
                      stdp_enabled=True, weight_store: str = "dual") -> int:
    """Worst case of :func:`tick_cycles` with at most ``delivered_max`` sources and
    ``fired_max`` neurons (default: all of them): every source listed, the fired neurons in
    as many words as possible, and on the spram store every row walked alone and every word
    but the walks' first stalled (one cell). The formula is monotonic in every count."""
    p = cfg.n_sources if delivered_max is None else delivered_max
    q = cfg.n_neurons if fired_max is None else fired_max
    fw = min(q, cfg.words_per_row)
    stalls = (max(p * cfg.words_per_row - 1, 0), max(cfg.n_sources * fw - 1, 0))
    return tick_cycles(cfg, p, q, stdp_enabled, weight_store, listed=cfg.n_sources,
                       words=fw, plastic_delivered=p, stalls=stalls, walk_units=p)


def spread(count: int, total: int) -> list[int]:
    """``count`` distinct indices below ``total``, evenly spaced."""
    return [i * total // count for i in range(count)] if count else []


def tick_cycles_at(cfg: CoreConfig, delivered: int, fired: int, stdp_enabled: bool,
                   weight_store: str = "dual") -> int:
    """The projection of a tick with ``delivered`` sources and ``fired`` neurons (counts) for
    tables of ticks per second: every source plastic and listed for potentiation (a real run
    lists fewer), the delivered sources and the fired neurons evenly spaced (which sets the
    fired words and the spram store's bank stalls)."""
    rows = spread(delivered, cfg.n_sources)
    return tick_cycles(cfg, rows, spread(fired, cfg.n_neurons), stdp_enabled, weight_store,
                       listed=range(cfg.n_sources), plastic_delivered=rows)
