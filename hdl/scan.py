"""SCAN, the first phase of a tick: every source's traces, and the lists the later phases walk.

Contract (one piece of :class:`spikeloom.hdl.core.Core`; shared state in
:class:`~spikeloom.hdl.datapath.Datapath`):

* State ``SCAN`` walks the sources ``0 .. S-1`` one a clock (``S = n_inputs + n_neurons``) and
  drains :data:`~spikeloom.proto.cycles.SCAN_LATENCY` stages after the memory data, then goes to
  ``ACC_PRE`` when a source was delivered, else ``SWEEP_PRE``.
* Per source (docs/numerics.md steps 2, 3 and the lists of 4 and 6): an injected input's spike
  bit is consumed; a delivered source (its spike bit set) is appended to the delivered list
  with its row base and plastic flag (with ``Datapath.pairs``: and whether ACC walks it with
  the entry before it, ``proto.cycles.acc_units``); the pre trace ``x`` decays and jumps, a
  neuron's post trace ``y`` decays (both written back); the neuron's depression step goes
  into its lane of the dep word; a plastic source with a non-zero potentiation step is
  appended to the listed sources with its step. With several rules the lists hold the traces
  instead of steps and a source is listed by the rules' thresholds (``Datapath.thr``).
* Outputs for the others: ``nd`` (delivered), ``nl`` (listed), the lists, the dep words, and
  ``x_new``/``y_dec`` (the write data of the trace memories while ``scanning``).

Pipeline: issue (addresses), then the stages below, each ending in registers so that no stage
chains a block-RAM read, a multiplier and an adder:

====== =====================================================================================
data    the memories' data: spike bit, flag, traces; the decays' products registered
decay   the traces truncated, x jumps, both saturate and are written back
step    the potentiation and depression steps' products, held saturated (registered)
list    the dep lane and the listed entry written
====== =====================================================================================
"""

from amaranth.hdl import Cat, Const, Mux, Signal
from amaranth.lib import data

from ..proto.memmap import n_rules
from .arith import satu, scale_sat, trunc_shift
from .datapath import Datapath

__all__ = ["Scan"]


class Scan:
    """The SCAN phase of ``dp``'s core (see the module docstring)."""

    def __init__(self, dp: Datapath):
        self.dp = dp
        m, cfg = dp.m, dp.cfg
        #: What SCAN knows about a source as it moves down the pipeline; each stage has one
        self.Tag = data.StructLayout({
            "valid": 1, "last": 1,              # a source in this stage; the last one
            "source": range(dp.s_n),            # its index
            "hit": 1,                           # delivered (its spike bit)
            "neuron": 1,                        # the source is a neuron (S >= n_inputs)
            "flag": 1,                          # its row is plastic (the sticky flag)
            "listed": 1,                        # listed for potentiation (list stage)
            "row": range(dp.wdepth + dp.wpr),   # its row's weight address
        })
        self.data, self.decay, self.step, self.list = (
            Signal(self.Tag, name=f"scan_{s}") for s in ("data", "decay", "step", "list"))
        m.d.sync += [t.valid.eq(0) for t in (self.data, self.decay, self.step, self.list)]
        stdp, tw, frac = dp.stdp, dp.tw, cfg.decay_frac
        # step 3: the decays' products end in a register (in the DSP block on ECP5), the
        # truncation, the pre jump and the saturation follow a stage later
        self.x_prod = dp.pre_r.data * stdp.alpha_pre
        self.y_prod = dp.post_r.data * stdp.alpha_post
        # (no reset, as the neuron's products: the iCE40's SB_MAC16 can hold them itself)
        self.x_prod_r = Signal(self.x_prod.shape(), reset_less=True)
        self.y_prod_r = Signal(self.y_prod.shape(), reset_less=True)
        self.x_new = satu(trunc_shift(self.x_prod_r, frac)
                          + Mux(self.decay.hit, stdp.pre_jump, 0), tw)
        self.y_dec = satu(trunc_shift(self.y_prod_r, frac), tw)
        # the decay stage's new traces, the step stage's steps (rules: the traces)
        self.x, self.y = Signal(tw), Signal(tw)
        self.pot, self.dep = Signal(dp.step_w), Signal(dp.step_w)
        if dp.pairs:
            # the last delivered entry may still take a partner (proto.cycles.acc_units): it
            # is read-only (not plastic, or STDP off) and not the second of a pair
            self.open = Signal()
            self.open_cells = Signal.like(dp.row_cells(dp.dl_w.data.row))
            dp.zero_at_start.append(self.open)

    def held_step(self, step):
        """A ``W + 1``-bit step saturated to ``W`` bits (``Datapath._lists_and_flags``)."""
        ww = self.dp.ww
        return Mux(step[ww], 2 ** ww - 1, step[:ww])

    def listed_by_rules(self, x):
        """numerics.md step 6 with rules: some enabled rule has x * a_plus != 0 and, unless it
        is stochastic or modulated, x * a_plus >= 2^G."""
        dp = self.dp
        return Cat(*(
            p.enable & (x != 0) & (p.a_plus != 0) & (p.stochastic | p.modulated | (x > dp.thr[r]))
            for r, p in ((r, dp.rule_par[r]) for r in range(n_rules(dp.cfg))))).any()

    def states(self, m):
        """Add the ``SCAN`` state to the core's FSM (call inside ``with m.FSM()``)."""
        dp, core = self.dp, self.dp.core
        d, e, s, t = self.data, self.decay, self.step, self.list
        mi, s_n, wpw = dp.mi, dp.s_n, dp.wpw
        with m.State("SCAN"):
            m.d.comb += [core.busy.eq(1), dp.scanning.eq(1)]
            with m.If(dp.more):
                m.d.comb += [dp.spk_r.addr.eq(dp.idx), dp.pre_r.addr.eq(dp.idx),
                             dp.pf_r.addr.eq(dp.idx), dp.post_r.addr.eq(dp.idx - mi)]
                m.d.sync += [d.valid.eq(1), d.source.eq(dp.idx), d.last.eq(dp.idx == s_n - 1),
                             dp.idx.eq(dp.idx + 1)]
                with m.If(dp.idx == s_n - 1):
                    m.d.sync += dp.more.eq(0)
            hit = dp.spk_r.data[0]
            with m.If(d.valid):
                # base advances with the data stage: the row base of source d.source
                m.d.sync += dp.base.eq(dp.base + dp.wpr)
                with m.If(d.source < mi):      # injected inputs are consumed
                    m.d.comb += [dp.spk_w.addr.eq(d.source), dp.spk_w.data.eq(0),
                                 dp.spk_w.en.eq(1)]
                with m.If(hit):
                    m.d.comb += [dp.dl_w.addr.eq(dp.nd), dp.dl_w.data.row.eq(dp.base[dp.row_sh:]),
                                 dp.dl_w.data.plastic.eq(dp.pf_r.data), dp.dl_w.en.eq(1)]
                    m.d.sync += [dp.nd.eq(dp.nd + 1),
                                 core.syn_events.eq(core.syn_events + dp.n)]
                    if dp.pairs:
                        cells = dp.row_cells(dp.base[dp.row_sh:])
                        pairable = ~(dp.pf_r.data & dp.learn_en)
                        pair = self.open & pairable & dp.compatible(self.open_cells, cells)
                        m.d.comb += dp.dl_w.data.pair.eq(pair)
                        m.d.sync += [self.open.eq(pairable & ~pair), self.open_cells.eq(cells)]
                m.d.sync += [e.valid.eq(1), e.last.eq(d.last), e.source.eq(d.source),
                             e.hit.eq(hit), e.flag.eq(dp.pf_r.data), e.row.eq(dp.base),
                             self.x_prod_r.eq(self.x_prod), self.y_prod_r.eq(self.y_prod)]
            # decay: the new traces are written back (a neuron's post trace decays, step 3)
            with m.If(e.valid):
                m.d.comb += [dp.pre_w.addr.eq(e.source), dp.pre_w.en.eq(1)]
                with m.If(e.source >= mi):
                    m.d.comb += [dp.post_w.addr.eq(e.source - mi), dp.post_w.en.eq(1)]
                m.d.sync += [s.valid.eq(1), s.last.eq(e.last), s.neuron.eq(e.source >= mi),
                             s.flag.eq(e.flag), s.row.eq(e.row),
                             self.x.eq(self.x_new), self.y.eq(self.y_dec)]
            # step: the steps' products, held saturated; list: a plastic row with a non-zero
            # potentiation step is listed for POT (with its step); a neuron's depression step
            # goes into its lane of the dep word, which the accumulation pass applies (k, lane
            # count the neurons). A held step is 0 only when the step is.
            with m.If(s.valid):
                if dp.rules:    # the learner computes the steps: dep takes y, plist x
                    pot, listed, dep = self.x, self.listed_by_rules(self.x), self.y
                else:
                    stdp, frac, ww = dp.stdp, dp.cfg.stdp_frac, dp.ww
                    pot = self.held_step(scale_sat(self.x, stdp.a_plus, frac, ww))
                    listed = pot != 0
                    dep = self.held_step(scale_sat(self.y, stdp.a_minus, frac, ww))
                m.d.sync += [t.valid.eq(1), t.last.eq(s.last), t.neuron.eq(s.neuron),
                             t.flag.eq(s.flag), t.row.eq(s.row), t.listed.eq(listed),
                             self.pot.eq(pot), self.dep.eq(dep)]
            with m.If(t.valid):
                with m.If(t.neuron):
                    m.d.comb += [dp.dep_w.addr.eq(dp.k), dp.dep_w.data.eq(Cat(*([self.dep] * wpw))),
                                 dp.dep_w.en.eq(Const(1, wpw) << dp.lane)]
                    with m.If(dp.lane == wpw - 1):
                        m.d.sync += [dp.lane.eq(0), dp.k.eq(dp.k + 1)]
                    with m.Else():
                        m.d.sync += dp.lane.eq(dp.lane + 1)
                with m.If(t.flag & t.listed):
                    m.d.comb += [dp.pl_w.addr.eq(dp.nl), dp.pl_w.data.row.eq(t.row[dp.row_sh:]),
                                 dp.pl_w.data.step.eq(self.pot), dp.pl_w.en.eq(1)]
                    m.d.sync += dp.nl.eq(dp.nl + 1)
                with m.If(t.last):
                    with m.If(dp.nd != 0):
                        m.next = "ACC_PRE"
                    with m.Else():
                        m.next = "SWEEP_PRE"
