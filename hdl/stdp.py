"""The STDP lane arithmetic: what one read-modify-write of a weight word does to its lanes (one
rule, ``rule_bits = 1``; with several rules the core uses :class:`spikeloom.hdl.rules.RuleLearner`).

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

``hold`` (unregistered learner only; tie it to 0 otherwise): ``w_new`` is ``held`` whatever
the rest says. The store's other writers (the host's word, a clear's zeros) come in here
rather than through a multiplexer after ``w_new``: the lane's result is then two LUT levels
after the clip's compares (the values that do not depend on the sum are selected first), on the
UP5K's weight read -> learner -> weight write path.
"""

from amaranth.hdl import Cat, Module, Mux, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..proto.config import CoreConfig
from .arith import clip_floor

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
            "hold": In(1),
            "held": In(data.ArrayLayout(signed(w), wpw)),
            "w_new": Out(data.ArrayLayout(signed(w), wpw)),
        })

    def elaborate(self, platform):
        m = Module()
        wpw = self.cfg.weights_per_word
        out = m.d.sync if self.registered else m.d.comb
        # one adder and one clip per lane serve both walks: the step is +pot (potentiation,
        # the fired lanes) or -dep[lane] (depression); a lane that does not change keeps its word
        width = len(self.w_min)
        floor = clip_floor(self.w_min, self.w_max)
        for lane in range(wpw):
            # w - dep = w + ~dep + 1: one adder for both walks, the 1 as its carry in
            dep = Cat(self.dep[lane], 0).as_signed()       # as a signed value, to invert
            step = Mux(self.potentiate, self.pot, ~dep)
            x = self.w[lane] + step + ~self.potentiate
            # x > w_max iff w > w_max - s, x < w_min iff w < w_min - s (s = +pot or -dep):
            # the bounds less the step do not depend on the weight read, so the compares
            # follow the read directly, beside the sum instead of after it
            neg = Mux(self.potentiate, ~Cat(self.pot, 0).as_signed(), dep)   # -s - [pot]
            gt = self.w[lane] > self.w_max + neg + self.potentiate
            lt = self.w[lane] < self.w_min + neg + self.potentiate
            keep = ~self.p[lane] | (self.potentiate & ~self.mask[lane])
            # Mux(stay, early, clip(x)) with clip(x) = x > w_max ? w_max : x < w_min ? floor :
            # x, arranged so that the late signals (the sum and its two compares) meet only
            # the last two multiplexers: a and b do not depend on the sum
            stay = self.hold | keep
            early = Mux(self.hold, self.held[lane], self.w[lane])
            a = Mux(stay, early, self.w_max)
            b = Mux(stay, early, floor)
            c = Mux(lt | stay, b, x[:width])
            out += self.w_new[lane].eq(Mux(gt | stay, a, c))
        return m
