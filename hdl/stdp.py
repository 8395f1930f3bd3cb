"""The STDP lane arithmetic: what one read-modify-write of a weight word does to its lanes.

:class:`Learner` ``(cfg, registered=False)`` is combinational; with ``registered=True`` its
output is a register (``w_new`` is the word of the previous cycle's inputs), which takes the
lane arithmetic off the path from the weight store's read to its write. Given a weight word
(``weights_per_word`` signed lanes), its plasticity bits and the step(s), it returns the updated
word:

* depression (``potentiate = 0``, numerics.md step 4, on the accumulation pass over a
  delivered source row): every plastic lane ``l`` becomes ``clip(w[l] - dep[l])``; ``dep`` holds
  one step per lane (the SCAN computed ``min(scale(y_dec, a_minus), 2**W)`` for each neuron);
* potentiation (``potentiate = 1``, step 6, walking a listed source row over the fired words):
  every lane set in ``mask`` (the neurons of the word that fired) changes, to
  ``clip(w[l] + pot)`` if it is plastic; ``pot = min(scale(x, a_plus), 2**W)`` of the row's
  source.

``clip(w) = min(max(w, w_min), w_max)``. Non-plastic lanes pass through unchanged, so a word
with no plastic lane is rewritten with its own value (the walks never look at the plasticity
bits to decide what to visit, which keeps the cycle count independent of them).
"""

from amaranth.hdl import Cat, Module, Mux, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..proto.config import CoreConfig
from .arith import clip

__all__ = ["Learner"]


class Learner(wiring.Component):
    def __init__(self, cfg, *, registered=False):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        self.registered = bool(registered)
        wpw, w = cfg.weights_per_word, cfg.w_width
        super().__init__({
            "w": In(data.ArrayLayout(signed(w), wpw)),
            "p": In(unsigned(wpw)),
            "dep": In(data.ArrayLayout(unsigned(w + 1), wpw)),
            "pot": In(unsigned(w + 1)),
            "mask": In(unsigned(wpw)),
            "potentiate": In(1),
            "w_min": In(signed(w)),
            "w_max": In(signed(w)),
            "w_new": Out(data.ArrayLayout(signed(w), wpw)),
        })

    def elaborate(self, platform):
        m = Module()
        wpw = self.cfg.weights_per_word
        out = m.d.sync if self.registered else m.d.comb
        # one adder and one clip per lane serve both walks: the step is +pot (potentiation,
        # the fired lanes) or -dep[lane] (depression); a lane that does not change keeps its word
        for lane in range(wpw):
            # w - dep = w + ~dep + 1: one adder for both walks, the 1 as its carry in
            dep = Cat(self.dep[lane], 0).as_signed()       # as a signed value, to invert
            step = Mux(self.potentiate, self.pot, ~dep)
            moved = clip(self.w[lane] + step + ~self.potentiate, self.w_min, self.w_max)
            keep = ~self.p[lane] | (self.potentiate & ~self.mask[lane])
            out += self.w_new[lane].eq(Mux(keep, self.w[lane], moved))
        return m
