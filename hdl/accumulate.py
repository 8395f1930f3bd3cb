"""ACC, the second phase of a tick: the delivered rows into the accumulators, depressed on the way.

Contract (one piece of :class:`spikeloom.hdl.core.Core`; shared state in
:class:`~spikeloom.hdl.datapath.Datapath`):

* ``ACC_PRE`` and ``ACC_LIST`` (one clock each: the delivered list's first two entries are
  fetched) then ``ACC`` walk the ``nd`` delivered rows SCAN listed in units
  (``proto.cycles.acc_units``), ``words_per_row`` words each, one word (of a pair: one of each
  row) issued a clock; then ``SWEEP_PRE``. Cycles: ``3 + U·wpr`` plus the drain
  (``proto.cycles``: the stages after the data, the last the accumulate stage) plus the bank
  stalls on the spram store.
* Every lane of a word adds its weight into its neuron's exact accumulator (docs/numerics.md
  step 4; with ``inh_current`` the sign picks the accumulator; with delays the lane's ring
  slot, ``head + delay``), in the accumulate stage after the data. With learning on and a
  plastic row, the same word goes through the learner (depression by the dep word SCAN wrote)
  and is written back while later words are read: on spram in its data stage, the next read
  waiting a clock when it falls in the cell being written; on the dual store after the learn
  stage.
* Pairs (``Datapath.pairs``: the banked spram store without delays, inhibitory currents or
  rules): an entry SCAN marked ``pair`` is walked with the one before it, both rows read-only;
  the store's second read fetches the same word of the second row from another cell, and the
  two words enter the accumulate stage added lane by lane (``Datapath.w_e``).

Pipeline tags: ``Datapath.walk`` (issue → data stage), ``walk_q`` (the dual store's data stage,
a clock later), ``Datapath.learn`` (the accumulate stage).
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
        if dp.pairs:
            # a pair's second row after its first word: in SCAN's source index, which ACC
            # does not use (registers are scarce on the UP5K)
            assert len(dp.idx) >= len(dp.dl_w.data.row)
            self.row2 = dp.idx
            self.paired = Signal()                      # the unit is a pair (after word 0)

    def _unit_walk(self, m):
        """The words to read next (``row_addr``; pairs: ``row_addr2`` and ``pair``) and
        ``issue(cond)``, which issues them.

        The walk goes unit by unit (``proto.cycles.acc_units``): a row, or a pair of rows whose
        second entry SCAN marked, ``wpr`` words each. The list is read in order, one entry at
        a time at ``ptr``: at a unit's first word ``base`` and ``flag_r`` hold its entry
        (``load``) and ``dl_r.data`` the next (the lookahead, entry ``ptr``: none when ``ptr ==
        nd``). A pair's first word reads the entry after both (pairs need ``wpr >= 2``); every
        unit's last word loads the entry on ``dl_r.data`` and reads the one after it."""
        dp = self.dp
        k, wpr, dl_r = dp.k, dp.wpr, dp.dl_r
        first, last_word = k == 0, k == wpr - 1
        at_end = dp.ptr == dp.nd        # no lookahead; at a last word: the last unit
        base = dp.base
        row_addr = Signal.like(dp.w_raddr)
        if wpr & (wpr - 1) == 0:            # rows are aligned: no carries to add k
            m.d.comb += row_addr.eq(Cat(k, base[len(k):]) if wpr > 1 else base)
        else:
            m.d.comb += row_addr.eq(base + k)
        if dp.pairs:
            pair_now = dl_r.data.pair & ~at_end
            pair = Mux(first, pair_now, self.paired)
            row_addr2 = Signal.like(dp.w_raddr)
            m.d.comb += row_addr2.eq(Cat(k, Mux(first, dl_r.data.row, self.row2)))
            # the second read runs whether the word issues or not (as the first: off the
            # issue decision's path); a word not issued is not used
            m.d.comb += [dp.w_raddr2.eq(row_addr2), dp.w_ren2.eq(pair)]
        else:
            pair = row_addr2 = None

        def issue(cond):
            w = dp.walk
            fetch = cond & (last_word | (first & pair_now) if dp.pairs else last_word)
            m.d.comb += dl_r.addr.eq(dp.ptr + fetch)
            # the store reads the next word whether it issues or not (a word not issued is
            # not used): the issue decision (a bank collision) stays off the address path
            m.d.comb += dp.w_raddr.eq(row_addr)
            with m.If(fetch):
                m.d.sync += dp.ptr.eq(dp.ptr + 1)
            with m.If(cond):
                if dp.spram:    # dual: dep a cycle later
                    m.d.comb += dp.dep_r.addr.eq(k)
                m.d.sync += [w.valid.eq(1), w.pot.eq(0), w.addr.eq(row_addr),
                             w.flag.eq(dp.flag_r), w.last.eq(last_word & at_end)]
                if not dp.row_sh:
                    m.d.sync += w.word.eq(k)
                if dp.pairs:
                    with m.If(first):
                        m.d.sync += [self.paired.eq(pair_now), self.row2.eq(dl_r.data.row)]
                with m.If(last_word):
                    m.d.sync += [k.eq(0), *self.load(dl_r.data)]
                    with m.If(at_end):
                        m.d.sync += dp.more.eq(0)
                with m.Else():
                    m.d.sync += k.eq(k + 1)
        return row_addr, row_addr2, pair, issue

    def load(self, entry):
        """Statements making list ``entry`` the unit being walked."""
        return [self.dp.base.eq(self.dp.row_base_of(entry)), self.dp.flag_r.eq(entry.plastic)]

    def states(self, m):
        """Add ``ACC_PRE``, ``ACC_LIST`` and ``ACC`` to the core's FSM (call inside
        ``with m.FSM()``)."""
        dp, core = self.dp, self.dp.core
        w, wq, le = dp.walk, dp.walk_q, dp.learn
        # the next words' addresses outside the states: gating them with the state decode
        # would cost a LUT per address bit
        row_addr, row_addr2, pair, issue = self._unit_walk(m)
        with m.State("ACC_PRE"):        # the list's first entry
            m.d.comb += [core.busy.eq(1), dp.dl_r.addr.eq(0)]
            m.d.sync += [dp.k.eq(0), dp.more.eq(1)]
            m.next = "ACC_LIST"

        with m.State("ACC_LIST"):       # loaded; the second (the lookahead) fetched
            m.d.comb += [core.busy.eq(1), dp.dl_r.addr.eq(1)]
            m.d.sync += [*self.load(dp.dl_r.data), dp.ptr.eq(1)]
            m.next = "ACC"

        with m.State("ACC"):
            m.d.comb += [core.busy.eq(1), dp.ring_acc.eq(1)]
            # depression (step 4) on the way, on the words of plastic rows (a row without a
            # plastic synapse would be written back unchanged): word k is written while word
            # k + 1 is read; spram: in the data stage, and the read waits a clock when its cell
            # (a pair's: either) is the one being written
            if dp.spram:
                hit = dp.wst.cell_of(row_addr) == dp.wst.cell_of(w.addr)
                if dp.pairs:
                    hit |= pair & (dp.wst.cell_of(row_addr2) == dp.wst.cell_of(w.addr))
                issue(dp.more & ~(w.valid & dp.learn_en & w.flag & hit))
            else:
                issue(dp.more)
                with m.If(w.valid):     # the dep word arrives with the weight word
                    m.d.comb += dp.dep_r.addr.eq(dp.word_of(w))
            if dp.rules:    # every word of every delivered row takes its draws
                m.d.comb += dp.lrn_valid.eq(wq.valid & dp.learn_en)
            else:
                with m.If(wq.valid & dp.learn_en & wq.flag):
                    dp.learn_write(wq.addr)
            # the accumulators add one stage after the data (w_e, the accumulate stage; the
            # ring adds there too): read in the data stage, written after the add
            acc_r, acc_w = dp.acc_r, dp.acc_w
            if not dp.D:            # one accumulator row
                with m.If(wq.valid):
                    m.d.comb += acc_r.addr.eq(dp.word_of(wq))
                with m.If(le.valid):
                    m.d.comb += [acc_w.addr.eq(le.word), acc_w.en.eq(1)]
                    for i in range(dp.wpw):
                        m.d.comb += dp.acc_add(acc_w.data[i], acc_r.data[i], dp.w_e[i])
            # the last word is added in the accumulate stage; its write-back (a plastic row)
            # was in its data stage (spram) or lands in SWEEP_PRE (dual), when nothing reads
            # the weights
            with m.If(le.valid & le.last):
                m.next = "SWEEP_PRE"

    def ring(self, m):
        """The delay ring's ports (``delay_bits > 0``; after the FSM).

        The slot of this tick is ``head``; a weight with delay d goes to slot head + d (mod
        2**D, the natural wrap of D bits). The delays are read with the weight word, so the
        lane's accumulator address is known only in the data stage: the ring reads there and
        adds in the accumulate stage (``Datapath.learn``), as the single row does. Back-to-back
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
            m.d.comb += [slot.eq(head + dp.d_rdata[i]),
                         a_d_i.eq(slot * wpr + dp.word_of(dp.walk_q))]
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
