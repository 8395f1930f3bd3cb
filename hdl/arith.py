"""Integer arithmetic of docs/numerics.md as Amaranth expressions.

Each helper returns an exact expression (Amaranth widens sums and products, so nothing wraps
before the one saturation the spec writes down) and, where the spec saturates, a value of the
target shape. These are the logic twins of :mod:`spikeloom.proto.fixed`.
"""

from amaranth.hdl import Mux

__all__ = ["sat", "satu", "decay", "scale_sat", "clip"]


def sat(x, width):
    """``sat_width(x)``: clamp to the signed range, as a ``signed(width)`` value."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return Mux(x > hi, hi, Mux(x < lo, lo, x))[:width].as_signed()


def satu(x, width):
    """``satu_width(x)``: clamp to ``0 .. 2**width - 1``, as an ``unsigned(width)`` value."""
    hi = (1 << width) - 1
    if x.shape().signed:
        x = Mux(x < 0, 0, x)
    return Mux(x > hi, hi, x)[:width]


def decay(x, factor, frac):
    """``trunc(x * factor / 2**frac)``: the product rounded toward zero.

    Negative products get ``2**frac - 1`` added before the arithmetic shift, which turns the
    shift's floor into a truncation (numerics.md, "decay")."""
    p = x * factor
    if p.shape().signed:
        p = Mux(p < 0, p + ((1 << frac) - 1), p)
    return p >> frac


def scale_sat(trace, rate, frac, w_width):
    """``min(scale(trace, rate), 2**w_width)`` as ``unsigned(w_width + 1)``.

    A weight step of ``2**w_width`` or more already moves any ``w_width``-bit weight past every
    clip bound, so saturating it there changes no result and keeps the datapath narrow."""
    s = (trace * rate) >> frac
    cap = 1 << w_width
    return Mux(s > cap, cap, s)[:w_width + 1]


def clip(x, w_min, w_max):
    """``min(max(x, w_min), w_max)`` (that order), as ``signed(len(w_min))``."""
    width = len(w_min)
    lo = Mux(x < w_min, w_min, x)
    return Mux(lo > w_max, w_max, lo)[:width].as_signed()


