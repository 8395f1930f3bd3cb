"""Cycles per tick of the core: the exact value of its ``last_tick_cycles`` counter.

The engine (``spikeloom.hdl.core.Core``) is deterministic: every phase has a fixed pipeline
latency and walks a number of elements that depends only on the *counts* of delivered sources
and fired neurons, never on which ones or on the plasticity pattern. So one formula gives the
exact count (``last_tick_cycles`` counts the cycles with ``busy`` high, the ``done`` cycle
included)::

    tick_cycles = (S + 1)                               SCAN: one source per clock + drain
                + [P > 0] (2 + P·wpr + [D > 0])         ACC: list fetch, P rows of wpr words, drain
                                                        (+1: the delay ring's add stage)
                + (N + 2 + L)                           SWEEP: fetch, N neurons, drain of the
                                                        L + 1 = 3 stage neuron pipeline
                + 1                                     end-of-tick spike marker
                + [en ∧ P > 0] (1 + c·P·wpr + d)        DEP: delivered rows read-modify-write
                + [en ∧ Q > 0] (1 + c·Q·S + d)          POT: fired columns over all sources
                + 1                                     FINISH (done)

with ``S = n_inputs + n_neurons``, ``N = n_neurons``, ``L`` = :data:`UPDATE_LATENCY`,
``wpr = ceil(N / weights_per_word)``, ``P`` delivered sources, ``Q`` fired neurons, ``en`` the
STDP enable bit, ``D = delay_bits``, and for the weight store ``c = 1, d = 1`` ("dual": a read
and a write port, one word per clock plus a drain cycle) or ``c = 2, d = 0`` ("spram": one port,
read cycle then write cycle per word).

With several plasticity rules (``rule_bits > 1``, golden model only so far) ``en`` is the OR of
the rules' enable bits and the walks are the same ones (the rounding draws of docs/numerics.md
follow exactly these walks); the golden device reports this count, and a gateware implementation
of rules must keep it or change this formula with it.

The optional neuron features (``CoreConfig.theta_width``, ``inh_current``) add no cycles: the
second accumulator takes the same weight word in the same clock, and theta and the inhibitory
current go through the sweep's pipeline stages with the rest of the neuron.
Delays (``delay_bits = D > 0``) add one cycle to a tick that delivers anything: the lane's ring
slot depends on the delay read with the weight word, so the accumulators are read one stage
later and the ACC walk drains one cycle later; the sweep reads the head slot as before.

Synaptic throughput: the accumulation moves ``weights_per_word`` synaptic events per clock (one
weight word, all lanes in parallel); depression the same per word (two clocks per word on
SPRAM); potentiation one synapse per word access (a column has one lane per word).
"""

from __future__ import annotations

from .config import CoreConfig

__all__ = ["tick_cycles", "tick_cycles_bound", "WEIGHT_STORES", "check_weight_store",
           "UPDATE_LATENCY"]

#: The weight-store kinds a core is built with (``hdl.core.Core(weight_store=...)``): "dual"
#: (separate read and write ports) or "spram" (one address port, as the UP5K's SPRAM).
WEIGHT_STORES = ("dual", "spram")


#: Cycles from the sweep's memory data to the neuron update's write-back
#: (``hdl.neuron.Update.LATENCY``, the same number): three stages, at most two carry chains
#: each (docs/architecture.md, "Neuron pipeline"). The sweep drains in ``UPDATE_LATENCY + 1``.
UPDATE_LATENCY = 2


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
        return 1, 1
    check_weight_store(weight_store)
    return 2, 0


def tick_cycles(cfg: CoreConfig, delivered, fired, stdp_enabled,
                weight_store: str = "dual") -> int:
    """Exact ``last_tick_cycles`` of one tick.

    ``delivered``: the sources delivered in the tick (count, bool mask or index list);
    ``fired``: the neurons that fired in it (same forms); ``stdp_enabled``: the STDP enable bit
    of the tick."""
    if not isinstance(cfg, CoreConfig):
        raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
    c, d = _store(weight_store)
    s, n, wpr = cfg.n_sources, cfg.n_neurons, cfg.words_per_row
    p = _count(delivered, "delivered", s)
    q = _count(fired, "fired", n)
    en = bool(stdp_enabled)
    cycles = (s + 1) + (n + 2 + UPDATE_LATENCY) + 1 + 1
    if p:
        cycles += 2 + p * wpr + (cfg.delay_bits > 0)
    if en and p:
        cycles += 1 + c * p * wpr + d
    if en and q:
        cycles += 1 + c * q * s + d
    return cycles


def tick_cycles_bound(cfg: CoreConfig, delivered_max=None, fired_max=None,
                      stdp_enabled=True, weight_store: str = "dual") -> int:
    """Worst case of :func:`tick_cycles` with at most ``delivered_max`` sources and
    ``fired_max`` neurons (default: all of them). The formula is monotonic in both counts."""
    p = cfg.n_sources if delivered_max is None else delivered_max
    q = cfg.n_neurons if fired_max is None else fired_max
    return tick_cycles(cfg, p, q, stdp_enabled, weight_store)
