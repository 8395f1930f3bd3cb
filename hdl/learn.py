"""LEARN, the last phase of a tick: potentiation, and the learner's write-back for ACC and POT.

Contract (one piece of :class:`spikeloom.hdl.core.Core`; shared state in
:class:`~spikeloom.hdl.datapath.Datapath`):

* ``POT_PRE`` (one clock: both lists' first entries fetched) then ``POT`` walk the listed
  sources (``nl``, from SCAN) × the fired words (``nw``, from SWEEP), one read-modify-write a
  word, every fired plastic lane of the word potentiated by the source's step at once
  (docs/numerics.md step 6); then ``FINISH`` (with several rules ``POT_DRAIN`` first, the
  rule learner's ``RULE_LATENCY`` clocks). Row-major (fired words inner) on the dual store;
  column-major (listed sources inner) on the banked spram store, where the same word of
  consecutive rows lies in different cells, so the next read rarely waits for the last write
  (a read of the cell being written waits a clock). The order changes no result: each word is
  updated once, from values fixed before the walk.
* :meth:`write_back` (after the FSM): the dual store's learner output written a clock after
  the learn stage (ACC's last word in ``SWEEP_PRE``, POT's in ``FINISH``); with several rules
  the :class:`~spikeloom.hdl.rules.RuleLearner`'s inputs for both walks and its write,
  ``RULE_LATENCY`` clocks after the learn stage.

The learner itself (:class:`~spikeloom.hdl.stdp.Learner` or the rule learner) and its learn
stage are in :class:`~spikeloom.hdl.datapath.Datapath`: ACC uses them too.
"""

from amaranth.hdl import Cat, Mux, Signal

from ..proto.cycles import RULE_LATENCY
from .datapath import Datapath, bits, delayed
from .rules import M_WIDTH

__all__ = ["Learn"]


class Learn:
    """The potentiation walk and the learner's write-back of ``dp``'s core."""

    def __init__(self, dp: Datapath):
        self.dp = dp
        self.fp = Signal(bits(dp.wpr))          # the fired-word entry on fw_r.data
        if dp.rules:
            self.drain = Signal(range(RULE_LATENCY))    # POT_DRAIN's clock

    def states(self, m):
        """Add ``POT_PRE``, ``POT`` (and ``POT_DRAIN``) (call inside ``with m.FSM()``)."""
        dp, core = self.dp, self.dp.core
        w, wq = dp.walk, dp.walk_q
        pl_r, fw_r = dp.pl_r, dp.fw_r
        # fw_r.data holds entry fp and pl_r.data entry ptr; each issue presents the next
        # pair's addresses
        inner, inner_r, n_inner, outer, outer_r, n_outer = (
            (dp.ptr, pl_r, dp.nl, self.fp, fw_r, dp.nw) if dp.spram
            else (self.fp, fw_r, dp.nw, dp.ptr, pl_r, dp.nl))
        with m.State("POT_PRE"):
            m.d.comb += [core.busy.eq(1), pl_r.addr.eq(0), fw_r.addr.eq(0)]
            m.d.sync += [dp.ptr.eq(0), self.fp.eq(0), dp.left.eq(n_outer), dp.more.eq(1)]
            m.next = "POT"

        with m.State("POT"):
            m.d.comb += core.busy.eq(1)
            wrap = inner == n_inner - 1
            # rows are aligned when wpr is a power of two: no carries to add the word
            addr = Signal.like(dp.w_raddr)
            m.d.comb += addr.eq(Cat(fw_r.data.word, pl_r.data.row) if dp.row_sh
                                else dp.row_base_of(pl_r.data) + fw_r.data.word)
            issue = (dp.more & ~(w.valid & (dp.wst.cell_of(addr) == dp.wst.cell_of(w.addr)))
                     if dp.spram else dp.more)
            m.d.comb += [fw_r.addr.eq(self.fp), pl_r.addr.eq(dp.ptr),
                         dp.w_raddr.eq(addr)]      # (read whether issued or not, as ACC)
            with m.If(issue):
                m.d.sync += [w.valid.eq(1), w.pot.eq(1), w.addr.eq(addr),
                             w.mask.eq(fw_r.data.mask),
                             w.step.eq(pl_r.data.step), w.last.eq((dp.left == 1) & wrap)]
                with m.If(wrap):
                    m.d.comb += [inner_r.addr.eq(0), outer_r.addr.eq(outer + 1)]
                    m.d.sync += [inner.eq(0), outer.eq(outer + 1), dp.left.eq(dp.left - 1)]
                    with m.If(dp.left == 1):
                        m.d.sync += dp.more.eq(0)
                with m.Else():
                    m.d.comb += inner_r.addr.eq(inner + 1)
                    m.d.sync += inner.eq(inner + 1)
            with m.If(wq.valid):
                if dp.rules:
                    m.d.comb += [dp.lrn_valid.eq(1), dp.pot_walk.eq(1)]
                else:       # (the learner potentiates: the tag's ``pot``)
                    dp.learn_write(wq.addr)
                if not dp.spram:
                    m.d.sync += dp.learn.pot.eq(1)
            # dual: the walk ends with its last word's learn stage
            with m.If((w.valid & w.last) if dp.spram else (dp.learn.pot & dp.learn.last)):
                m.next = "POT_DRAIN" if dp.rules else "FINISH"

        if dp.rules:
            # the learner's last RULE_LATENCY writes land before anything reads the store
            # again (FINISH, then a host read or the next tick)
            with m.State("POT_DRAIN"):
                m.d.comb += core.busy.eq(1)
                m.d.sync += self.drain.eq(self.drain + 1)
                with m.If(self.drain == RULE_LATENCY - 1):
                    m.d.sync += self.drain.eq(0)
                    m.next = "FINISH"

    def write_back(self, m):
        """The learner's writes that land after the FSM's cycle (see the module docstring)."""
        dp = self.dp
        wpw, lrn = dp.wpw, dp.lrn
        if dp.rules:
            # the rule learner: fed in the data stage of ACC (depression, every lane, base y of
            # each lane's neuron) and POT (the fired lanes, base the row's x); the generator
            # gives wpw draws per visited word, exactly while the learner takes one
            # (numerics.md, "Order of draws"). The write address and enable travel beside it
            # (from the learn stage, one cycle after the data stage: the store is dual)
            valid_l = dp.learn_reg(dp.lrn_valid, "lrn_valid")
            pot_walk_l = dp.learn_reg(dp.pot_walk, "pot_walk")
            m.d.comb += [
                lrn.valid.eq(valid_l), lrn.potentiate.eq(pot_walk_l),
                lrn.rule.eq(dp.p_l),
                lrn.mask.eq(Mux(pot_walk_l, dp.mask_l, (1 << wpw) - 1)),
                *[lrn.base[i].eq(Mux(pot_walk_l, dp.pot_l, dp.dep_l[i])) for i in range(wpw)],
                lrn.draws.eq(dp.rng.draws), lrn.m.eq(dp.learn_word[:M_WIDTH]),
                lrn.params.eq(dp.rule_par),
                dp.rng.count.eq(Mux(valid_l, wpw, 0)),
            ]
            wr_en = Signal()            # the word is written back: POT, or a plastic row
            m.d.comb += wr_en.eq(valid_l & (pot_walk_l | dp.learn.flag))
            wr_v, wr_a = delayed(m, RULE_LATENCY, wr_en, dp.learn_reg(dp.walk_q.addr, "a"))
            with m.If(wr_v):
                m.d.comb += [dp.w_waddr.eq(wr_a), dp.w_we.eq(1)]
        elif not dp.spram:      # after ACC's last word in SWEEP_PRE, POT's in FINISH
            wb_v, wb_a = delayed(m, 1, dp.wb, dp.wb_addr)   # the learn stage's registered output
            with m.If(wb_v):
                m.d.comb += [dp.w_waddr.eq(wb_a), dp.w_we.eq(1)]
