"""Cycles per tick of the core: the exact value of its ``last_tick_cycles`` counter.

The engine (``spikeloom.hdl.core.Core``) is deterministic: every phase has a fixed pipeline
latency and walks a number of elements that depends only on *counts* (delivered sources, listed
sources, fired words), never on which ones. So one formula gives the exact count
(``last_tick_cycles`` counts the cycles with ``busy`` high, the ``done`` cycle included)::

    tick_cycles = (S + 1 + A)                           SCAN: one source per clock, drain of the
                                                        A = 2 stages after the memory data
                + [P > 0] (2 + P·wpr + a                ACC (+ depression): list fetch, P rows of
                           + [en ∧ spram] Pp·wpr)       wpr words, drain (+ a: the stages after
                                                        the data on the dual store, or the ring's
                                                        accumulate stage; + a write cycle per
                                                        plastic word on spram)
                + (N + 2 + L)                           SWEEP: fetch, N neurons, drain of the
                                                        L + 1 = 3 stage neuron pipeline
                + 1                                     end-of-tick spike marker
                + [en ∧ R > 0 ∧ Fw > 0] (1 + c·R·Fw + d   POT: listed rows × fired words
                                         + [rules] RULE_LATENCY)  (+ the rule learner's drain)
                + 1                                     FINISH (done)

with ``S = n_inputs + n_neurons``, ``N = n_neurons``, ``A`` = :data:`SCAN_LATENCY`,
``L`` = :data:`UPDATE_LATENCY`,
``wpr = ceil(N / weights_per_word)``, ``P`` delivered sources, ``en`` the STDP enable bit,
``D = delay_bits``, ``R`` the sources *listed* for potentiation (docs/numerics.md step 6: the
row has a plastic synapse, by the sticky per-source flag, and the source's potentiation step
is non-zero), ``Fw`` the *fired words*
(weight words of a row holding at least one neuron that fired: ``len({j // weights_per_word})``).
The weight store sets the cost of a read-modify-write word: ``c = 1, d = 3, a = 2`` for "dual"
(a read and a write port: one word per clock; the read address is a register, the data stage
follows it and the learn stage follows that, hence the drains), ``c = 2, d = 0,
a = [D > 0]`` for "spram" (one port: read cycle then write cycle per word). The
accumulation walk reads one word per clock and depresses the words of plastic rows on its
way: the dual store's write port writes a word back while a later one is read (no extra
cycle per word); the one-port store spends a write cycle after each word of the ``Pp``
delivered sources whose row is plastic (the sticky flag, as for ``R``:
``TickResult.plastic_delivered``); a row without a plastic synapse is only read.

With several plasticity rules (``rule_bits > 1``, ``[rules]`` above; dual store only) ``en``
is the OR of the rules' enable bits, a source is listed by the rule of docs/numerics.md
("Plasticity rules") and the walks are the same ones (the rounding draws follow exactly these
walks). The rule learner (``hdl.rules.RuleLearner``) writes a word :data:`RULE_LATENCY` clocks
after it read it, so POT ends with that many drain clocks before FINISH; ACC needs none (the
sweep, which does not touch the weights, covers its last writes).

The optional neuron features (``CoreConfig.theta_width``, ``inh_current``) add no cycles: the
second accumulator takes the same weight word in the same clock, and theta and the inhibitory
current go through the sweep's pipeline stages with the rest of the neuron.
Delays (``delay_bits = D > 0``) add one cycle to a tick that delivers anything: the lane's ring
slot depends on the delay read with the weight word, so the accumulators are read one stage
later and the ACC walk drains one cycle later; the sweep reads the head slot as before. The
dual store does the same with or without delays and registers its read address as well, for
the clock (``hdl.core``, docs/boards.md "Clock"): the address register, the data stage, then
the learn stage, where the weight word is in a register before the accumulators' and the
learner's adders (the ring adds there too): ACC drains ``a =`` :data:`DUAL_STAGES` cycles
after its last word's data stage, POT ``d = 1 +`` :data:`DUAL_STAGES`.

Synaptic throughput: the accumulation moves ``weights_per_word`` synaptic events per clock (one
weight word, all lanes in parallel) and depresses the same word on its way (two clocks per word
on SPRAM); potentiation updates every fired lane of a word in one read-modify-write.
"""

from __future__ import annotations

from .config import CoreConfig

__all__ = ["tick_cycles", "tick_cycles_bound", "fired_words", "WEIGHT_STORES",
           "check_weight_store", "UPDATE_LATENCY", "SCAN_LATENCY", "RULE_LATENCY",
           "DUAL_STAGES"]

#: The weight-store kinds a core is built with (``hdl.core.Core(weight_store=...)``): "dual"
#: (separate read and write ports) or "spram" (one address port, as the UP5K's SPRAM).
WEIGHT_STORES = ("dual", "spram")


#: Cycles from the sweep's memory data to the neuron update's write-back
#: (``hdl.neuron.Update.LATENCY``, the same number): three stages, at most two carry chains
#: each (docs/architecture.md, "Neuron pipeline"). The sweep drains in ``UPDATE_LATENCY + 1``.
UPDATE_LATENCY = 2

#: Cycles from the SCAN's memory data to its list and step writes (``hdl.core.Core``): the
#: trace decays, then the step products, each ending in a register, so that no SCAN stage
#: chains a block-RAM read, a multiplier and a comparison. The SCAN drains in
#: ``SCAN_LATENCY + 1``.
SCAN_LATENCY = 2

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


def _store(weight_store: str) -> tuple[int, int]:
    if weight_store == "dual":
        return 1, 1 + DUAL_STAGES
    check_weight_store(weight_store)
    return 2, 0


def fired_words(cfg: CoreConfig, fired) -> int:
    """The number of weight words of a row that hold at least one fired neuron, from ``fired``
    as a bool mask or an index list (a bare count does not say which words)."""
    import numpy as np
    arr = np.asarray(fired)
    idx = np.flatnonzero(arr) if arr.dtype == bool else arr.astype(np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= cfg.n_neurons):
        raise ValueError(f"fired neuron index outside 0..{cfg.n_neurons - 1}")
    return int(np.unique(idx // cfg.weights_per_word).size)


def tick_cycles(cfg: CoreConfig, delivered, fired, stdp_enabled,
                weight_store: str = "dual", *, listed=None, words=None,
                plastic_delivered=None) -> int:
    """Exact ``last_tick_cycles`` of one tick.

    ``delivered``: the sources delivered in the tick (count, bool mask or index list);
    ``fired``: the neurons that fired in it (same forms); ``stdp_enabled``: the STDP enable bit
    of the tick (with several rules: any rule's); ``listed``: the sources listed for
    potentiation (same forms; ``TickResult.listed`` of the golden model); ``words``: the fired
    words ``Fw``, derived from ``fired`` when that is a mask or an index list;
    ``plastic_delivered``: the delivered sources whose row is plastic (count or the same forms;
    ``TickResult.plastic_delivered``). ``listed`` and (for a bare count ``fired``) ``words`` are
    needed only when STDP is on and a neuron fired, ``plastic_delivered`` only with STDP on, a
    delivery and the spram store: a missing one is then a TypeError (the count would not be
    exact)."""
    if not isinstance(cfg, CoreConfig):
        raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
    c, d = _store(weight_store)
    s, n, wpr = cfg.n_sources, cfg.n_neurons, cfg.words_per_row
    p = _count(delivered, "delivered", s)
    q = _count(fired, "fired", n)
    en = bool(stdp_enabled)
    cycles = (s + 1 + SCAN_LATENCY) + (n + 2 + UPDATE_LATENCY) + 1 + 1
    if p:
        cycles += 2 + p * wpr + (DUAL_STAGES if weight_store == "dual" else cfg.delay_bits > 0)
        if en and c == 2:
            if plastic_delivered is None:
                raise TypeError("tick_cycles needs plastic_delivered= (the delivered sources "
                                "with a plastic row) when STDP is on with the spram store")
            cycles += _count(plastic_delivered, "plastic_delivered", p) * wpr
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
            cycles += 1 + c * r * fw + d + (RULE_LATENCY if cfg.rule_bits > 1 else 0)
    return cycles


def tick_cycles_bound(cfg: CoreConfig, delivered_max=None, fired_max=None,
                      stdp_enabled=True, weight_store: str = "dual") -> int:
    """Worst case of :func:`tick_cycles` with at most ``delivered_max`` sources and
    ``fired_max`` neurons (default: all of them): every source listed, the fired neurons in
    as many words as possible. The formula is monotonic in every count."""
    p = cfg.n_sources if delivered_max is None else delivered_max
    q = cfg.n_neurons if fired_max is None else fired_max
    return tick_cycles(cfg, p, q, stdp_enabled, weight_store, listed=cfg.n_sources,
                       words=min(q, cfg.words_per_row), plastic_delivered=p)
