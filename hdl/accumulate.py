"""ACC, the second phase of a tick: the delivered rows into the accumulators, depressed on the way.

Contract (one piece of :class:`spikeloom.hdl.core.Core`; shared state in
:class:`~spikeloom.hdl.datapath.Datapath`):

* ``ACC_PRE`` (one clock: the delivered list's first entry is fetched) then ``ACC`` walk the
  ``nd`` delivered rows SCAN listed, ``words_per_row`` words each, one word issued a clock; then
  ``SWEEP_PRE``. Cycles: ``2 + P·wpr`` plus the drain (``proto.cycles``: the dual store's
  stages, the delay ring's accumulate stage) plus the bank stalls on the spram store.
* Every lane of a word adds its weight into its neuron's exact accumulator (docs/numerics.md
  step 4; with ``inh_current`` the sign picks the accumulator; with delays the lane's ring
  slot, ``head + delay``). With learning on and a plastic row, the same word goes through the
  learner (depression by the dep word SCAN wrote) and is written back while later words are
  read: on spram in its data stage, the next read waiting a clock when it falls in the cell
  being written; on the dual store after the learn stage.

Pipeline tags: ``Datapath.walk`` (issue → data stage), ``walk_q`` (the dual store's data stage,
a clock later), ``Datapath.learn`` (the accumulate stage of the ring and the dual store).
"""

from amaranth.hdl import Cat, Mux, Signal

from ..proto.protocol import ResetFlags
from .datapath import Datapath

__all__ = ["Accumulate"]

_STATE = int(ResetFlags.STATE)


class Accumulate:
    """The ACC phase of ``dp``'s core (see the module docstring)."""

    def __init__(self, dp: Datapath):
        self.dp = dp
        if dp.D:
            self.head = Signal(dp.D)                        # this tick's ring slot
            self.head_base = Signal(range(dp.ring_depth))   # head * wpr

    def _row_walk(self, m):
        """The word to issue next (``row_addr``) and ``issue(cond)``, which issues it."""
        dp = self.dp
        k, wpr = dp.k, dp.wpr
        # the row's plastic flag and weight address: from the list entry at a row's first word
        flag_now = Mux(k == 0, dp.dl_r.data.plastic, dp.flag_r)
        row_base = Mux(k == 0, dp.row_base_of(dp.dl_r.data), dp.base)
        row_addr = Signal.like(dp.w_raddr)
        if wpr & (wpr - 1) == 0:            # rows are aligned: no carries to add k
            m.d.comb += row_addr.eq(Cat(k, row_base[len(k):]) if wpr > 1 else row_base)
        else:
            m.d.comb += row_addr.eq(row_base + k)

        def issue(cond):
            w = dp.walk
            m.d.comb += dp.dl_r.addr.eq(Mux(cond & (k == 0), dp.ptr + 1, dp.ptr))
            # the store reads the next word whether it issues or not (a word not issued is
            # not used): the issue decision (a bank collision) stays off the address path
            m.d.comb += dp.w_raddr.eq(row_addr)
            with m.If(cond):
                if dp.spram:    # dual: dep a cycle later, the accumulators in the data stage
                    m.d.comb += [dp.acc_r.addr.eq(k), dp.dep_r.addr.eq(k)]
                m.d.sync += [w.valid.eq(1), w.pot.eq(0), w.word.eq(k), w.addr.eq(row_addr),
                             w.flag.eq(flag_now), w.last.eq((dp.left == 1) & (k == wpr - 1))]
                with m.If(k == 0):
                    m.d.sync += [dp.base.eq(dp.row_base_of(dp.dl_r.data)),
                                 dp.flag_r.eq(dp.dl_r.data.plastic), dp.ptr.eq(dp.ptr + 1)]
                with m.If(k == wpr - 1):
                    m.d.sync += [k.eq(0), dp.left.eq(dp.left - 1)]
                    with m.If(dp.left == 1):
                        m.d.sync += dp.more.eq(0)
                with m.Else():
                    m.d.sync += k.eq(k + 1)
        return row_addr, issue

    def states(self, m):
        """Add ``ACC_PRE`` and ``ACC`` to the core's FSM (call inside ``with m.FSM()``)."""
        dp, core = self.dp, self.dp.core
        w, wq, le = dp.walk, dp.walk_q, dp.learn
        # the next word's address outside the states: gating it with the state decode would
        # cost a LUT per address bit
        row_addr, issue = self._row_walk(m)
        with m.State("ACC_PRE"):
            m.d.comb += [core.busy.eq(1), dp.dl_r.addr.eq(0)]
            m.d.sync += [dp.ptr.eq(0), dp.k.eq(0), dp.left.eq(dp.nd), dp.more.eq(1)]
            m.next = "ACC"

        with m.State("ACC"):
            m.d.comb += core.busy.eq(1)
            # depression (step 4) on the way, on the words of plastic rows (a row without a
            # plastic synapse would be written back unchanged): word k is written while word
            # k + 1 is read; spram: in the data stage, and the read waits a clock when its cell
            # is the one being written
            if dp.spram:
                issue(dp.more & ~(w.valid & dp.learn_en & w.flag &
                                  (dp.wst.cell_of(row_addr) == dp.wst.cell_of(w.addr))))
            else:
                issue(dp.more)
                with m.If(w.valid):     # the dep word arrives with the weight word
                    m.d.comb += dp.dep_r.addr.eq(w.word)
            if dp.rules:    # every word of every delivered row takes its draws
                m.d.comb += dp.lrn_valid.eq(wq.valid & dp.learn_en)
            else:
                with m.If(wq.valid & dp.learn_en & wq.flag):
                    dp.learn_write(wq.addr)
            acc_r, acc_w = dp.acc_r, dp.acc_w
            if not dp.D and dp.spram:   # one accumulator row: add in the data stage
                with m.If(w.valid):
                    m.d.comb += [acc_w.addr.eq(w.word), acc_w.en.eq(1)]
                    for i in range(dp.wpw):
                        m.d.comb += dp.acc_add(acc_w.data[i], acc_r.data[i], dp.w_rdata[i])
                fin = w.valid & w.last
            else:   # the ring and the dual store add one stage later (w_e, the learn stage)
                m.d.comb += dp.ring_acc.eq(1)
                fin = le.valid & le.last
                if not dp.D:            # one accumulator row, read in the data stage
                    with m.If(wq.valid):
                        m.d.comb += acc_r.addr.eq(wq.word)
                    with m.If(le.valid):
                        m.d.comb += [acc_w.addr.eq(le.word), acc_w.en.eq(1)]
                        for i in range(dp.wpw):
                            m.d.comb += dp.acc_add(acc_w.data[i], acc_r.data[i], dp.w_e[i])
            # the last word is written in its data stage (spram) or after its learn stage
            # (dual: in SWEEP_PRE), when nothing reads the weights
            with m.If(fin):
                m.next = "SWEEP_PRE"

    def ring(self, m):
        """The delay ring's ports (``delay_bits > 0``; after the FSM).

        The slot of this tick is ``head``; a weight with delay d goes to slot head + d (mod
        2**D, the natural wrap of D bits). The delays are read with the weight word, so the
        lane's accumulator address is known only in the data stage: the ring reads there and
        adds in one more stage (``Datapath.learn``; ACC takes one extra cycle). Back-to-back
        words of one lane hit the same accumulator only with one word per row, where the read
        port is transparent, as for the single row. The sweep reads and clears the head slot.
        """
        dp = self.dp
        if not dp.D:
            return
        head, head_base, wpr = self.head, self.head_base, dp.wpr
        with m.If(dp.tick_end):
            m.d.sync += [head.eq(head + 1),
                         head_base.eq(Mux(head == (1 << dp.D) - 1, 0, head_base + wpr))]
        with m.If(dp.clearing & (dp.clr_flags & _STATE).any()):
            m.d.sync += [head.eq(0), head_base.eq(0)]
        for i, (lr, lw) in enumerate(dp.ring):
            slot = Signal(dp.D, name=f"slot{i}")
            a_d_i = Signal(range(dp.ring_depth), name=f"ring_a{i}")
            a_e_i = Signal(range(dp.ring_depth), name=f"ring_ae{i}")
            m.d.comb += [slot.eq(head + dp.d_rdata[i]), a_d_i.eq(slot * wpr + dp.walk_q.word)]
            m.d.sync += a_e_i.eq(a_d_i)
            new = Signal(dp.acc_elem, name=f"ring_sum{i}")
            m.d.comb += dp.acc_add(new, lr.data, dp.w_e[i])
            m.d.comb += [
                lr.addr.eq(Mux(dp.ring_acc, a_d_i, head_base + dp.acc_r.addr)),
                dp.acc_r.data[i].eq(lr.data),
                lw.addr.eq(Mux(dp.learn.valid, a_e_i, Mux(dp.clearing, dp.acc_w.addr,
                                                          head_base + dp.acc_w.addr))),
                lw.data.eq(Mux(dp.learn.valid, new, dp.acc_w.data[i])),
                lw.en.eq(dp.learn.valid | dp.acc_w.en),
            ]
