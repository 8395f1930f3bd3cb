"""The neuron update: steps 2, 3 (post-trace decay) and 5 of docs/numerics.md for one neuron.

:class:`Update` is a two-stage pipeline that takes one neuron per clock. Inputs are presented
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

Stage 1 registers ``i1`` (and ``h1``), ``y`` and the products ``v·alpha_mem`` (and
``theta·alpha_theta``) (the multipliers sit right after the memories); stage 2 is the rest,
combinational from those registers and from ``par``, which the caller presents one cycle after
the state, i.e. with stage 2 (only ``alpha_mem`` and ``alpha_theta`` come with stage 1, as their
own inputs): the pipeline then carries no copy of the parameters. Every decayed value is
saturated to its width (numerics.md): a no-op for factors up to 1.0, and what keeps ``i``,
``i_inh`` and ``theta`` in their fields for factors above it.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..proto.config import CoreConfig
from ..proto.memmap import Region, layouts
from .arith import decay, sat, satu

__all__ = ["Update", "acc_width"]


def acc_width(cfg: CoreConfig) -> int:
    """Bits of the exact accumulator: a sum of up to ``n_sources`` ``w_width``-bit weights."""
    return cfg.w_width + cfg.n_sources.bit_length()


class Update(wiring.Component):
    """Pipelined LIF + post-trace update, one neuron per clock, ``LATENCY = 1``."""

    LATENCY = 1

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

        # stage 1: exact current sum (saturated once) and the state product
        i1_e = sat(self.st.i + self.acc, cfg.i_width)
        pv_e = self.st.v * self.alpha_mem
        i1 = Signal(signed(cfg.i_width))
        pv = Signal(pv_e.shape())
        ydec = Signal.like(self.y)
        v = Signal.like(self.st.v)
        ref = Signal.like(self.st.ref)
        m.d.sync += [
            self.o_valid.eq(self.i_valid),
            i1.eq(i1_e), pv.eq(pv_e), ydec.eq(self.y),
            v.eq(self.st.v), ref.eq(self.st.ref),
        ]

        # optional features: the inhibitory current, the threshold offset's product
        h1 = 0
        if cfg.inh_current:
            h1 = Signal(signed(cfg.i_width))
            m.d.sync += h1.eq(sat(self.st.i_inh + self.acc_inh, cfg.i_width))
        if cfg.theta_width:
            pt_e = self.st.theta * self.alpha_theta
            pt = Signal(pt_e.shape())
            m.d.sync += pt.eq(pt_e)

        # stage 2: decay rounding toward zero, LIF step, resets, current decay, post trace
        par = self.par
        vdec = (pv >> F) + (pv[-1] & pv[:F].any())     # toward zero, as arith.decay
        v1 = sat(vdec + i1 + h1 + par.bias, cfg.v_width)
        active = ref == 0
        thr = par.threshold
        if cfg.theta_width:
            theta1 = satu(pt >> F, cfg.theta_width)     # decayed first; the compare sees it
            thr = par.threshold + theta1                # exact
            fire = Signal()
            m.d.comb += [
                self.st_new.theta.eq(satu(theta1 + Mux(fire, par.theta_jump, 0),
                                          cfg.theta_width)),
                fire.eq(active & (v1 >= thr) & ~par.no_spike),
            ]
        else:
            fire = active & (v1 >= thr) & ~par.no_spike
        if cfg.inh_current:
            m.d.comb += self.st_new.i_inh.eq(sat(decay(h1, par.alpha_inh, F), cfg.i_width))
        v_after = Mux(par.reset_subtract, sat(v1 - thr, cfg.v_width), par.v_reset)
        m.d.comb += [
            self.fire.eq(fire),
            self.st_new.v.eq(Mux(fire, v_after, Mux(active, v1, v))),
            self.st_new.ref.eq(Mux(fire, par.refractory, Mux(active, ref, ref - 1))),
            self.st_new.i.eq(sat(decay(i1, par.alpha_syn, F), cfg.i_width)),
            self.y_new.eq(satu(ydec + Mux(fire, self.post_jump, 0), cfg.trace_width)),
        ]
        return m
