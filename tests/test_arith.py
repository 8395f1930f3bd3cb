"""hdl.arith.clip against the spec's ``min(max(x, w_min), w_max)``, every value of a small range.

The learner's read-modify-write path takes both comparisons side by side; this pins that the
rewrite keeps the spec's order, inverted bounds (``w_min > w_max``: always ``w_max``) included.
"""

from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator
from spikeloom.hdl.arith import clip


def test_clip_is_min_of_max_everywhere():
    m = Module()
    x, lo, hi, out = Signal(signed(6)), Signal(signed(4)), Signal(signed(4)), Signal(signed(4))
    m.d.comb += out.eq(clip(x, lo, hi))
    bad = []

    async def tb(ctx):
        for a in range(-8, 8):
            for b in range(-8, 8):
                ctx.set(lo, a)
                ctx.set(hi, b)
                for v in range(-32, 32):
                    ctx.set(x, v)
                    if ctx.get(out) != min(max(v, a), b):
                        bad.append((v, a, b, ctx.get(out)))
    sim = Simulator(m)
    sim.add_testbench(tb)
    sim.run()
    assert not bad, bad[:5]
