"""Plasticity rules of a core with ``rule_bits > 1``: the rule update and its random numbers.

docs/numerics.md ("Plasticity rules, stochastic rounding, modulation") is the specification;
:class:`spikeloom.sim.model.Core` calls :func:`depress` and :func:`potentiate` in steps 4 and 6
of a tick, and :func:`xorshift32` supplies the draws in the order the gateware walks the
synapses. Integers only: every product fits an int64 (at most 16 + 16 + 16 + 15 bits).
"""

from __future__ import annotations

import numpy as np

from ..proto.fixed import MOD_FRAC

__all__ = ["MOD_FRAC", "xorshift32", "modulation_factor", "rule_step", "depress", "listed",
           "potentiate"]

I64 = np.int64
_U32 = 0xFFFF_FFFF


def xorshift32(state: int, count: int) -> tuple[np.ndarray, int]:
    """``count`` draws of the generator from ``state``: (the draws as int64, the new state).
    One draw: ``u ^= u << 13; u ^= u >> 17; u ^= u << 5`` (32 bits), yielding the new ``u``."""
    out = np.empty(count, I64)
    u = state & _U32
    for k in range(count):
        u ^= (u << 13) & _U32
        u ^= u >> 17
        u ^= (u << 5) & _U32
        out[k] = u
    return out, u


def modulation_factor(word: int) -> int:
    """The signed factor m in the low 16 bits of LEARN word 1 (bits 16..31 are ignored)."""
    m = word & 0xFFFF
    return m - 0x10000 if m & 0x8000 else m


def rule_step(rule, base, a, dist, draws, m: int, w_width: int, frac: int):
    """The signed weight change magnitude ``sign * step`` of one rule (before the caller
    applies it with the sign of depression or potentiation): ``base * a`` times
    ``max(dist, 0)`` for a soft rule and ``|m|`` for a modulated one, shifted right by ``k``
    after adding the stochastic offset ``floor(draw * 2^k / 2^32)``."""
    q = base.astype(I64) * int(a)
    k = frac
    if rule.soft:
        q = q * np.maximum(dist, 0)
        k += w_width
    sign = 1
    if rule.modulated:
        q = q * abs(m)
        k += MOD_FRAC
        sign = (m > 0) - (m < 0)
    if rule.stochastic:
        q = q + (draws >> (32 - k) if k <= 32 else draws << (k - 32))
    return sign * (q >> k)


def _apply(weights, rules_idx, rule_list, base, rate, draws, m, cfg, potentiate):
    """A block of weights after each synapse's rule moved it (rule index 0: unchanged)."""
    out = weights.copy()
    for r, rule in enumerate(rule_list, start=1):
        mask = rules_idx == r
        if not rule.enable or not mask.any():
            continue
        w = weights[mask]
        dist = (rule.w_max - w) if potentiate else (w - rule.w_min)
        step = rule_step(rule, np.broadcast_to(base, weights.shape)[mask], getattr(rule, rate),
                         dist, draws[mask], m, cfg.w_width, cfg.stdp_frac)
        moved = w + step if potentiate else w - step
        out[mask] = np.minimum(np.maximum(moved, rule.w_min), rule.w_max)
    return out


def depress(core, delivered: np.ndarray) -> None:
    """Step 4 with rules: the delivered rows, post traces decayed but not yet jumped. Draws one
    number per lane position of each row (padding lanes included), rows in increasing order."""
    cfg = core.cfg
    if not delivered.size or not any(r.enable for r in core.rules):
        return
    lanes = cfg.words_per_row * cfg.weights_per_word
    draws, core.lfsr = xorshift32(core.lfsr, delivered.size * lanes)
    draws = draws.reshape(delivered.size, lanes)[:, :cfg.n_neurons]
    core.weights[delivered] = _apply(
        core.weights[delivered], core.plastic[delivered], core.rules, core.state.y[None, :],
        "a_minus", draws, modulation_factor(core.modulation), cfg, potentiate=False)


def listed(core, rows: np.ndarray) -> np.ndarray:
    """(S,) bool: the sources step 6 visits with rules, given the plastic rows ``rows``: a
    source is listed iff its row is plastic and some enabled rule may move a weight with its
    pre trace ``x`` (after this tick's jumps): ``x * a_plus != 0``, and ``x * a_plus >= 2^G``
    unless the rule is stochastic or modulated (else every step of the rule is zero: additive
    ``floor(x a / 2^G)``, soft bound ``floor(x a d / 2^(G + W))`` with ``d < 2^W``)."""
    x = core.state.x.astype(I64)
    any_step = np.zeros(x.shape, bool)
    for rule in core.rules:
        if rule.enable:
            q = x * int(rule.a_plus)
            big = np.ones(x.shape, bool) if rule.stochastic or rule.modulated else (
                q >= 1 << core.cfg.stdp_frac)
            any_step |= (q != 0) & big
    return rows & any_step


def potentiate(core, fired: np.ndarray, listed: np.ndarray) -> None:
    """Step 6 with rules: the listed sources' rows over the fired words, pre traces after
    this tick's jumps. Draws one number per lane of each visited word: listed sources in
    increasing order, the fired words of each in increasing order, lanes 0 .. wpw - 1 (a lane
    whose neuron did not fire, or lies past the last neuron, draws too and is discarded)."""
    cfg = core.cfg
    srcs = np.flatnonzero(listed)
    cols = np.flatnonzero(fired)
    if not cols.size or not srcs.size or not any(r.enable for r in core.rules):
        return
    wpw = cfg.weights_per_word
    words = np.unique(cols // wpw)
    lanes = (words[:, None] * wpw + np.arange(wpw)).ravel()     # every lane of every word
    hit = np.zeros(lanes.size, bool)
    real = lanes < cfg.n_neurons
    hit[real] = fired[lanes[real]]
    draws, core.lfsr = xorshift32(core.lfsr, srcs.size * lanes.size)
    draws = draws.reshape(srcs.size, lanes.size)[:, hit]
    blk = np.ix_(srcs, lanes[hit])
    core.weights[blk] = _apply(
        core.weights[blk], core.plastic[blk], core.rules, core.state.x[srcs][:, None],
        "a_plus", draws, modulation_factor(core.modulation), cfg, potentiate=True)
