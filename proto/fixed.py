"""Fixed-point arithmetic shared by the golden model and the host compiler.

Every function works on Python ints and on numpy integer arrays alike (int64 is wide enough for
every intermediate: at most a 32-bit state times a 17-bit factor). docs/numerics.md states the
same rules in prose; the gateware implements them in logic.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "signed_range", "unsigned_range", "saturate", "saturate_unsigned", "decay", "scale",
    "decay_factor", "to_fixed", "MOD_FRAC", "MOD_ONE",
]

#: fractional bits of the modulation factor of plasticity rules (region LEARN word 1,
#: docs/numerics.md): ``MOD_ONE`` = 1.0
MOD_FRAC = 8
MOD_ONE = 1 << MOD_FRAC


def signed_range(width: int) -> tuple[int, int]:
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def unsigned_range(width: int) -> tuple[int, int]:
    return 0, (1 << width) - 1


def saturate(x, width: int):
    """Clamp ``x`` to the two's-complement range of ``width`` bits."""
    lo, hi = signed_range(width)
    return np.clip(x, lo, hi) if isinstance(x, np.ndarray) else min(max(x, lo), hi)


def saturate_unsigned(x, width: int):
    """Clamp ``x`` to ``0 .. 2**width - 1``."""
    lo, hi = unsigned_range(width)
    return np.clip(x, lo, hi) if isinstance(x, np.ndarray) else min(max(x, lo), hi)


def decay(x, factor, frac: int):
    """``x * factor / 2**frac`` rounded toward zero.

    Rounding toward zero (not a floor) makes decay symmetric: -1 decays to 0 just as +1 does,
    where a plain arithmetic shift would leave negative values stuck at -1. In logic: form the
    product ``p``; if ``p < 0`` add ``2**frac - 1``; shift right arithmetically by ``frac``.
    """
    p = x * factor
    bias = (1 << frac) - 1
    if isinstance(p, np.ndarray):
        return (p + np.where(p < 0, bias, 0)) >> frac
    return (p + (bias if p < 0 else 0)) >> frac


def scale(trace, rate, frac: int):
    """STDP weight step ``trace * rate / 2**frac``, floored (both operands are non-negative)."""
    return (trace * rate) >> frac


def decay_factor(tau: float, dt: float, frac: int) -> int:
    """The integer factor nearest to ``exp(-dt/tau) * 2**frac``; ``tau = inf`` gives no decay."""
    if tau <= 0:
        raise ValueError(f"time constant tau = {tau} must be positive")
    return round(math.exp(-dt / tau) * (1 << frac))


def to_fixed(value: float, frac: int) -> int:
    """``value`` in fixed point with ``frac`` fractional bits, rounded to nearest."""
    return round(value * (1 << frac))
