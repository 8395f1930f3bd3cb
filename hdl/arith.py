"""Integer arithmetic of docs/numerics.md as Amaranth expressions.

Each helper returns an exact expression (Amaranth widens sums and products, so nothing wraps
before the one saturation the spec writes down) and, where the spec saturates, a value of the
target shape. These are the logic twins of :mod:`spikeloom.proto.fixed`.
"""

from amaranth.hdl import Cat, Mux, Value

__all__ = ["sat", "satu", "decay", "trunc_shift", "add_cin", "scale_sat", "clip", "clip_floor",
           "div_const"]


def sat(x, width):
    """``sat_width(x)``: clamp to the signed range, as a ``signed(width)`` value.

    Out of range means: the bits from the result's sign bit up are not all equal to x's sign
    (LUT reductions instead of two comparisons against constants)."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    x = Value.cast(x)
    if not x.shape().signed:
        if len(x) < width:
            return Cat(x, 0).as_signed()
        return Cat(Mux(x[width - 1:].any(), hi, x[:width - 1]), 0).as_signed()
    if len(x) <= width:
        return x
    top = x[width - 1:]
    over = ~x[-1] & top.any()
    under = x[-1] & ~top.all()
    return Mux(over, hi, Mux(under, lo, x[:width]))[:width].as_signed()


def satu(x, width):
    """``satu_width(x)``: clamp to ``0 .. 2**width - 1``, as an ``unsigned(width)`` value."""
    hi = (1 << width) - 1
    x = Value.cast(x)
    signed = x.shape().signed
    neg = x[-1] if signed else 0
    top = len(x) - 1 if signed else len(x)         # magnitude bits
    over = x[width:top].any() if top > width else 0
    return Mux(neg, 0, Mux(over, hi, x[:width]))


def decay(x, factor, frac):
    """``trunc(x * factor / 2**frac)``: the product rounded toward zero.

    The arithmetic shift floors; a negative product with a nonzero fraction gets 1 added to the
    shifted value, which makes that a truncation (numerics.md, "decay"; the same as adding
    ``2**frac - 1`` before the shift, with a carry chain over the integer bits only)."""
    return trunc_shift(x * factor, frac)


def trunc_shift(p, frac):
    """``trunc(p / 2**frac)``: the second half of :func:`decay`, for a product ``p`` computed
    (and registered) earlier."""
    p = Value.cast(p)
    if not p.shape().signed:
        return p >> frac
    # floor, plus one for a negative product with a fraction: only the integer part is added
    return (p >> frac) + (p[-1] & p[:frac].any())


def add_cin(a, b, cin):
    """``a + b + cin`` (``cin`` one bit) in one carry chain rather than two.

    ``cin`` enters as the carry into bit 0: ``(2a + cin) + (2b + cin) = 2(a + b + cin)``, whose
    lowest bit is 0, so dropping it is exact. Written as a third operand, Yosys would build a
    second adder for the single bit."""
    a, b, cin = Value.cast(a), Value.cast(b), Value.cast(cin)

    def twice_plus_cin(x):
        y = Cat(cin, x)
        return y.as_signed() if x.shape().signed else y
    return (twice_plus_cin(a) + twice_plus_cin(b)) >> 1


def scale_sat(trace, rate, frac, w_width):
    """``min(scale(trace, rate), 2**w_width)`` as ``unsigned(w_width + 1)``.

    A weight step of ``2**w_width`` or more already moves any ``w_width``-bit weight past every
    clip bound, so saturating it there changes no result and keeps the datapath narrow."""
    s = (trace * rate) >> frac
    if len(s) <= w_width:
        return s                        # below the cap already
    cap = 1 << w_width
    over = s[w_width] & s[:w_width].any()                   # s > cap, from its bits
    if len(s) > w_width + 1:
        over |= s[w_width + 1:].any()
    return Mux(over, cap, s[:w_width + 1])


def clip(x, w_min, w_max):
    """``min(max(x, w_min), w_max)`` (that order), as ``signed(len(w_min))``.

    Both comparisons look at ``x`` side by side (one carry chain deep, not two in series, on
    the learner's read-modify-write path); below ``w_min`` the result is ``min(w_min,
    w_max)``, which depends on the bounds only (registers), so it is the spec's order even
    when ``w_min > w_max``."""
    width = len(w_min)
    return Mux(x > w_max, w_max, Mux(x < w_min, clip_floor(w_min, w_max), x))[:width].as_signed()


def clip_floor(w_min, w_max):
    """What :func:`clip` gives below ``w_min``: ``min(w_min, w_max)`` (registers only)."""
    return Mux(w_min > w_max, w_max, w_min)




def div_const(x, d, x_max):
    """``x // d`` for every ``0 <= x <= x_max`` (an unsigned ``x``, a constant ``d >= 1``).

    A multiplication by a rounded-up reciprocal, ``(x * ceil(2**k / d)) >> k`` with the
    smallest ``k`` that is exact over the whole range (checked here, value by value): Yosys
    builds ``x // d`` as ``len(x)`` subtract-and-compare stages in series, the product is one
    multiplier. A power of two ``d`` is a shift. Values above ``x_max`` give unspecified
    results."""
    if d & (d - 1) == 0:
        return Value.cast(x) >> (d.bit_length() - 1)
    for k in range(max(1, x_max.bit_length()), 2 * x_max.bit_length() + d.bit_length() + 2):
        mult = -(-(1 << k) // d)
        if all((v * mult) >> k == v // d for v in range(x_max + 1)):
            return (x * mult) >> k
    # unreachable: k = bits(x_max) + bits(d) is always exact (Granlund and Montgomery, 1994)
    raise AssertionError(f"no exact reciprocal of {d} up to {x_max}")
