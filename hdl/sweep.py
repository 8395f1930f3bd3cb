"""SWEEP, the third phase of a tick: every neuron updated once, its spike out.

Contract (one piece of :class:`spikeloom.hdl.core.Core`; shared state in
:class:`~spikeloom.hdl.datapath.Datapath`):

* ``SWEEP_PRE`` (one clock) then ``SWEEP`` walk the neurons ``0 .. N-1`` one a clock through
  :class:`~spikeloom.hdl.neuron.Update` (docs/numerics.md step 5: the accumulated currents in,
  leak, threshold, reset, adaptation, the post trace's jump) and write back
  ``Update.LATENCY`` clocks after the memory data; then ``SPK_END`` writes the end marker
  (with the spike count) to the spike FIFO and goes to ``POT_PRE`` when learning is on and
  both lists are non-empty, else ``FINISH``.
* At write-back: the neuron's state and post trace, its spike bit (source ``n_inputs + j``,
  which the next tick's SCAN delivers), the spike into the FIFO (ascending), the accumulators
  of the word cleared after its last lane (the next tick starts at zero; with delays the head
  slot), and each word with a fired lane appended to the fired-word list with its lanes
  (``nw`` entries) for POT.
* The spikes leave through a FIFO of ``max(n_neurons + 1, 3)`` entries to the core's
  ``spikes`` stream, so the sweep never stalls.
"""

from amaranth.hdl import Cat, Const, Mux, Signal, unsigned
from amaranth.lib import data

from .datapath import Datapath, bits, delayed
from .fifo import Queue
from .neuron import Update

__all__ = ["Sweep", "SpikeLayout"]

#: One element of the core's ``spikes`` stream: a neuron index (``end = 0``), or the end-of-tick
#: marker (``end = 1``) whose ``neuron`` field carries the number of spikes of the tick.
SpikeLayout = data.StructLayout({"neuron": unsigned(16), "end": unsigned(1)})


class Sweep:
    """The SWEEP phase of ``dp``'s core (see the module docstring)."""

    def __init__(self, dp: Datapath):
        self.dp = dp
        m, cfg, upd = dp.m, dp.cfg, dp.upd
        #: A neuron in the sweep's pipeline. Its accumulator word and lane are bits of its
        #: index when ``weights_per_word`` is a power of two (:meth:`word`, :meth:`lane`):
        #: fields only otherwise (each one costs the UP5K a logic cell per bit and stage)
        self.lb = dp.wpw.bit_length() - 1 if dp.wpw & (dp.wpw - 1) == 0 else None
        self.Tag = data.StructLayout({
            "valid": 1, "neuron": bits(dp.n),
            **({} if self.lb is not None else {"word": bits(dp.wpr), "lane": bits(dp.wpw)}),
            "last": 1,                                    # the last neuron
            "last_lane": 1,                               # the last lane of its word
        })
        #: the memory-data stage, and the same tag Update.LATENCY cycles later (write-back)
        self.read = Signal(self.Tag, name="sweep_read")
        self.back = delayed(m, Update.LATENCY, self.read)[0]
        m.d.sync += self.read.valid.eq(0)
        self.fmask = Signal(dp.wpw)             # fired lanes of the current word so far
        dp.zero_at_start.append(self.fmask)
        self._fifo(m)
        # the update's inputs come straight from the memories (stage 1); the parameters of its
        # second stage are read a cycle later (Datapath._neuron_memories)
        m.d.comb += [upd.i_valid.eq(self.read.valid), upd.par.eq(dp.par_word),
                     upd.alpha_mem.eq(dp.am_r.data.alpha_mem),
                     upd.st.eq(dp.st_r.data), upd.y.eq(dp.post_r.data)]
        lane = self.lane(self.read)
        if cfg.inh_current:
            m.d.comb += [upd.acc.eq(dp.acc_r.data[lane].exc),
                         upd.acc_inh.eq(dp.acc_r.data[lane].inh)]
        else:
            m.d.comb += upd.acc.eq(dp.acc_r.data[lane])
        if cfg.theta_width:
            m.d.comb += upd.alpha_theta.eq(dp.am_r.data.alpha_theta)

    def word(self, tag):
        """The accumulator word of ``tag``'s neuron."""
        return tag.word if self.lb is None else tag.neuron[self.lb:]

    def lane(self, tag):
        """The lane of ``tag``'s neuron in its word."""
        if self.lb is None:
            return tag.lane
        return tag.neuron[:self.lb] if self.lb else Const(0, 1)

    def _fifo(self, m):
        core, n = self.dp.core, self.dp.n
        # the queue holds only the bits a neuron number or the end marker's count (0..n) uses,
        # not the stream's 16: on the UP5K 10 bits a word fit one EBR, 17 needed two
        spk_bits = n.bit_length()
        # n + 1 entries, but at least 3: a Queue refuses a write while its RAM holds an entry
        # that is still moving to the output register, so with one neuron (RAM depth 1) the
        # end marker written the cycle after the spike was lost and the tick never ended
        m.submodules.fifo = fifo = self.fifo = Queue(width=spk_bits + 1, depth=max(n + 1, 3))
        self.elem = Signal(SpikeLayout)         # what SWEEP and SPK_END write
        m.d.comb += [
            core.spikes.valid.eq(fifo.r_rdy),
            core.spikes.payload.neuron.eq(fifo.r_data[:spk_bits]),
            core.spikes.payload.end.eq(fifo.r_data[spk_bits]),
            fifo.r_en.eq(core.spikes.ready),
            fifo.w_data.eq(Cat(self.elem.neuron[:spk_bits], self.elem.end)),
        ]

    def states(self, m):
        """Add ``SWEEP_PRE``, ``SWEEP`` and ``SPK_END`` (call inside ``with m.FSM()``)."""
        dp, core = self.dp, self.dp.core
        n, mi, wpw = dp.n, dp.mi, dp.wpw
        rd, wb = self.read, self.back
        idx, k, lane = dp.idx, dp.k, dp.lane
        with m.State("SWEEP_PRE"):
            m.d.comb += core.busy.eq(1)
            m.d.sync += [idx.eq(0), k.eq(0), lane.eq(0), dp.more.eq(1)]
            m.next = "SWEEP"

        with m.State("SWEEP"):
            m.d.comb += core.busy.eq(1)
            with m.If(dp.more):
                m.d.comb += [dp.am_r.addr.eq(idx), dp.st_r.addr.eq(idx), dp.post_r.addr.eq(idx),
                             dp.acc_r.addr.eq(k)]
                m.d.sync += [rd.valid.eq(1), rd.neuron.eq(idx), rd.last.eq(idx == n - 1),
                             rd.last_lane.eq((lane == wpw - 1) | (idx == n - 1)),
                             idx.eq(idx + 1)]
                if self.lb is None:
                    m.d.sync += [rd.word.eq(k), rd.lane.eq(lane)]
                with m.If(lane == wpw - 1):
                    m.d.sync += [lane.eq(0), k.eq(k + 1)]
                with m.Else():
                    m.d.sync += lane.eq(lane + 1)
                with m.If(idx == n - 1):
                    m.d.sync += dp.more.eq(0)
            # stage 1: memory data into the update pipeline; the second stage's parameters
            m.d.comb += dp.par_r.addr.eq(rd.neuron)
            # Update.LATENCY cycles later: write back, spikes out
            with m.If(wb.valid):
                fire = dp.upd.fire
                m.d.comb += [
                    dp.st_w.addr.eq(wb.neuron), dp.st_w.en.eq(1),
                    dp.post_w.addr.eq(wb.neuron), dp.post_w.en.eq(1),
                    dp.spk_w.addr.eq(wb.neuron + mi), dp.spk_w.data.eq(fire), dp.spk_w.en.eq(1),
                ]
                # the fired words (ascending) with their fired lanes, for POT
                lanes_now = Signal(wpw)
                m.d.comb += lanes_now.eq(self.fmask | Mux(fire, Const(1, wpw) << self.lane(wb), 0))
                m.d.sync += self.fmask.eq(lanes_now)
                with m.If(wb.last_lane):     # the accumulators start the next tick at zero
                    m.d.comb += [dp.acc_w.addr.eq(self.word(wb)), dp.acc_w.data.eq(0),
                                 dp.acc_w.en.eq(1)]
                    m.d.sync += self.fmask.eq(0)
                    with m.If(lanes_now != 0):
                        m.d.comb += [dp.fw_w.addr.eq(dp.nw), dp.fw_w.data.word.eq(self.word(wb)),
                                     dp.fw_w.data.mask.eq(lanes_now), dp.fw_w.en.eq(1)]
                        m.d.sync += dp.nw.eq(dp.nw + 1)
                with m.If(fire):
                    m.d.comb += [self.elem.neuron.eq(wb.neuron), self.fifo.w_en.eq(1)]
                    m.d.sync += dp.nf.eq(dp.nf + 1)
                with m.If(wb.last):
                    m.next = "SPK_END"

        with m.State("SPK_END"):
            m.d.comb += [core.busy.eq(1), self.elem.neuron.eq(dp.nf), self.elem.end.eq(1),
                         self.fifo.w_en.eq(1)]
            m.d.sync += core.spike_count.eq(core.spike_count + dp.nf)
            with m.If(dp.learn_en & (dp.nl != 0) & (dp.nw != 0)):
                m.next = "POT_PRE"
            with m.Else():
                m.next = "FINISH"
