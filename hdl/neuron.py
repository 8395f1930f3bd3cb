"""The neuron update: steps 2, 3 (post-trace decay) and 5 of docs/numerics.md for one neuron.

:class:`Update` is a three-stage pipeline that takes one neuron per clock. Inputs are presented
with ``i_valid``; the results appear ``LATENCY`` cycles later with ``o_valid`` (fixed latency, no
stalls, so the tick's cycle count stays exact). Per neuron it computes

* ``i1 = sat_I(i + acc)`` (the exact accumulated row sum comes in as ``acc``),
* the LIF step (round-toward-zero decay, bias, refractory hold, ``>=`` threshold, both reset
  modes) and ``i := decay(i1, alpha_syn)``,
* with ``cfg.inh_current``: ``h1 = sat_I(i_inh + acc_inh)`` (the negative part of the row sum,
  ``acc`` is then the positive part), added to ``v``, and ``i_inh := decay(h1, alpha_inh)``,
* with ``cfg.theta_width``: ``theta1 = satu(decay(theta, alpha_theta))``, the threshold
  ``threshold + theta1`` (compare and reset by subtraction), ``theta := satu(theta1 +
  theta_jump·fire)``,
* the post jump: ``y_new = satu_T(y + post_jump·fire)`` (numerics.md step 5); ``y`` comes in
  already decayed (step 3): the core's SCAN decays every post trace and computes the depression
  steps from it before the accumulation pass, which depresses on its way.

The stages, at most two carry chains each (the clock: docs/boards.md):

1. the memory data: ``i1`` (and ``h1``), ``y`` and the products ``v·alpha_mem`` (and
   ``theta·alpha_theta``), the multipliers right after the memories;
2. ``par`` arrives (the caller presents it one cycle after the state, and only ``alpha_mem``
   and ``alpha_theta`` come with stage 1, as their own inputs): ``v1`` (the decay's rounding
   bit is the carry-in of ``trunc(pv) + i1``, then ``+ bias``), the threshold, the products
   ``i1·alpha_syn`` (and ``h1·alpha_inh``), ``theta1`` with and without its jump, and the
   non-firing outcomes of ``v`` and ``ref`` selected down to one register each;
3. the compare, the reset by subtraction, the rounding of the current decays and the post
   trace: the outputs.

Only the parameter fields stage 3 needs are registered (``v_reset``/``refractory`` folded into
the selections, ``reset_subtract``, ``no_spike`` as one bit with ``ref == 0``). Every decayed
value is saturated to its width (numerics.md): a no-op for factors up to 1.0, and what keeps
``i``, ``i_inh`` and ``theta`` in their fields for factors above it.
"""

from amaranth.hdl import Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..proto.config import CoreConfig
from ..proto.memmap import Region, layouts
from .arith import add_cin, sat, satu, trunc_shift

__all__ = ["Update", "acc_width"]


def acc_width(cfg: CoreConfig) -> int:
    """Bits of the exact accumulator: a sum of up to ``n_sources`` ``w_width``-bit weights."""
    return cfg.w_width + cfg.n_sources.bit_length()


class Update(wiring.Component):
    """Pipelined LIF + post-trace update, one neuron per clock, ``LATENCY = 2``."""

    #: cycles from the memory data (stage 1) to the outputs (stage 3): the sweep's drain is
    #: ``LATENCY + 1`` cycles (proto.cycles.UPDATE_LATENCY is the same number)
    LATENCY = 2

    def __init__(self, cfg):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        lay = layouts(cfg)
        alpha = cfg.decay_frac + 1
        opt = {}
        if cfg.inh_current:
            opt["acc_inh"] = In(signed(acc_width(cfg)))
        if cfg.theta_width:
            opt["alpha_theta"] = In(unsigned(alpha))
        super().__init__({
            "i_valid": In(1),
            # the parameters come one cycle after the state, with stage 2, except alpha_mem
            # (and alpha_theta), which stage 1 multiplies (the core reads them from their own
            # memory)
            "alpha_mem": In(unsigned(alpha)),
            "par": In(lay[Region.NEURON_PARAMS].struct()),
            "st": In(lay[Region.NEURON_STATE].struct()),
            "acc": In(signed(acc_width(cfg))),
            **opt,
            "y": In(unsigned(cfg.trace_width)),
            # global STDP parameter (constant during a tick)
            "post_jump": In(unsigned(cfg.trace_width)),
            "o_valid": Out(1),
            "fire": Out(1),
            "st_new": Out(lay[Region.NEURON_STATE].struct()),
            "y_new": Out(unsigned(cfg.trace_width)),
        })

    def elaborate(self, platform):
        cfg = self.cfg
        F = cfg.decay_frac
        m = Module()

        def reg(value, name, product=False):
            """``value`` registered: the input of the next stage. A product's register has no
            reset (its stage's valid bit has one), so on the iCE40 Yosys can put it into the
            SB_MAC16's own output register instead of logic cells."""
            value = Value.cast(value)
            r = Signal(value.shape(), name=name, reset_less=product)
            m.d.sync += r.eq(value)
            return r

        valid2 = reg(self.i_valid, "valid2")
        m.d.sync += self.o_valid.eq(valid2)

        # stage 1 (the memory data): exact current sum (saturated once), the state products
        i1 = reg(sat(self.st.i + self.acc, cfg.i_width), "i1")
        pv = reg(self.st.v * self.alpha_mem, "pv", product=True)
        y1 = reg(self.y, "y1")
        v = reg(self.st.v, "v")
        ref = reg(self.st.ref, "ref")
        h1 = 0
        if cfg.inh_current:
            h1 = reg(sat(self.st.i_inh + self.acc_inh, cfg.i_width), "h1")
        if cfg.theta_width:
            pt = reg(self.st.theta * self.alpha_theta, "pt", product=True)

        # stage 2 (the parameters arrive): v1 in two carry chains (the decay's rounding bit
        # rides in the first one as its carry-in; bias + h1 alongside), the threshold, the
        # current's decay product, and every other outcome selected down to what the compare
        # of stage 3 still decides between
        par = self.par
        vi = add_cin(pv >> F, i1, pv[-1] & pv[:F].any())   # trunc(pv / 2**F) + i1
        bias = par.bias + h1 if cfg.inh_current else par.bias
        v1 = reg(sat(vi + bias, cfg.v_width), "v1")
        active = ref == 0
        thr_e = par.threshold
        if cfg.theta_width:
            theta1_e = satu(pt >> F, cfg.theta_width)      # decayed first; the compare sees it
            thr_e = par.threshold + theta1_e                # exact
            theta1 = reg(theta1_e, "theta1")
            theta_j = reg(satu(theta1_e + par.theta_jump, cfg.theta_width), "theta_j")
        thr = reg(thr_e, "thr")
        can_fire = reg(active & ~par.no_spike, "can_fire")
        was_active = reg(active, "was_active")
        subtract = reg(par.reset_subtract, "subtract")
        # v when v1 is not kept and not reset by subtraction: v_reset (fires) or v (refractory)
        v_alt = reg(Mux(active, par.v_reset, v), "v_alt")
        # ref unless active and not firing: refractory (fires) or ref - 1 (refractory)
        ref_alt = reg(Mux(active, par.refractory, ref - 1), "ref_alt")
        pi = reg(i1 * par.alpha_syn, "pi", product=True)
        if cfg.inh_current:
            pih = reg(h1 * par.alpha_inh, "pih", product=True)
        ydec = reg(y1, "ydec")

        # stage 3: compare, resets, the decays' rounding; the outputs
        fire = Signal()
        m.d.comb += fire.eq(can_fire & (v1 >= thr))
        if cfg.theta_width:
            m.d.comb += self.st_new.theta.eq(Mux(fire, theta_j, theta1))
        if cfg.inh_current:
            m.d.comb += self.st_new.i_inh.eq(sat(trunc_shift(pih, F), cfg.i_width))
        m.d.comb += [
            self.fire.eq(fire),
            self.st_new.v.eq(Mux(fire & subtract, sat(v1 - thr, cfg.v_width),
                                 Mux(fire | ~was_active, v_alt, v1))),
            self.st_new.ref.eq(Mux(was_active & ~fire, 0, ref_alt)),
            self.st_new.i.eq(sat(trunc_shift(pi, F), cfg.i_width)),
            self.y_new.eq(satu(ydec + Mux(fire, self.post_jump, 0), cfg.trace_width)),
        ]
        return m
