"""What the core's phases share: its memories, stores, datapath blocks and walk registers.

Contract (for :mod:`spikeloom.hdl.core` and its phases :mod:`~spikeloom.hdl.access`,
:mod:`~spikeloom.hdl.scan`, :mod:`~spikeloom.hdl.accumulate`, :mod:`~spikeloom.hdl.sweep`,
:mod:`~spikeloom.hdl.learn`):

* ``Datapath(m, core, platform)`` adds to the core's module ``m``: every memory and store (with
  its ports as attributes), the neuron :class:`~spikeloom.hdl.neuron.Update`, the learner and
  its learn stage, the walk counters and pipeline tags the phases share, the phase flags
  (``idle``, ``clearing``, ``scanning``, ...) and the defaults every cycle starts from
  (pipeline valid bits low). ``zero_at_start``: registers a phase wants zeroed by ``start``.
* The phases drive the ports' addresses and enables from their FSM states; the statements they
  add come after the Datapath's, so theirs win (Amaranth: the last assignment in a cycle).
* Pipeline tags are named layouts: :meth:`walk_layout` (the ACC and POT walks' data stage),
  :meth:`learn_layout` (the stage after it: the delay ring's and the dual store's accumulate
  stage, the learn stage).

Why one module and not a component per phase: the phases take turns on the same memory ports,
and the FSM's state decode already says who drives each; components would need a multiplexer in
front of every port (area the UP5K does not have, and a level of logic on the clock's path).
"""

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, memory

from ..proto.cycles import RULE_LATENCY, pairs_enabled, tick_cycles_bound
from ..proto.memmap import Region, layouts, n_rules
from .fifo import held_read
from .neuron import Update, acc_width
from .rules import RuleLearner, Xorshift32
from .spram import BankedStore
from .stdp import Learner
from .weights import DualPortStore, SinglePortStore

__all__ = ["Datapath", "Port", "bits", "delayed", "flag_pack", "list_ram_attrs"]


def flag_pack(platform) -> int:
    """Plastic-row flags per word of the core's "flags" memory on ``platform``.

    16 on iCE40 and in simulation (``platform`` None): bit-wide writes into one 16-bit EBR word.
    1 on ECP5, whose block RAM has no bit-wide write enables: a bit-granular memory would take a
    DP16KD per bit, so each flag gets a word and the memory is written a lane at a time. The
    choice changes neither behaviour nor cycles.
    """
    return 1 if getattr(platform, "family", None) == "ecp5" else 16


def list_ram_attrs(platform) -> dict:
    """Memory attributes of a small memory on ``platform``: LUT RAM on ECP5, block RAM
    elsewhere. The read stays registered, but comes from a flip-flop rather than a DP16KD's
    5.8 ns read data. Used for the delivered list (``dlist``; a whole DP16KD for it is what
    tipped the board presets over their block RAM) and the spike emitter's tick buffer (its
    read into the bitmap's compare and the code queue was the ECP5 clock's path)."""
    return {"ram_style": "distributed"} if getattr(platform, "family", None) == "ecp5" else {}


#: The ``addr`` / ``data`` / ``en`` signals of a memory port that the phases drive while
#: something else (the delay ring, the shared flags memory) connects them to real ports
Port = SimpleNamespace


def bits(n):
    """Width of a counter/index over ``range(n)`` (at least 1 bit)."""
    return max(1, (n - 1).bit_length())


def delayed(m, cycles, *signals):
    """Each of ``signals`` through ``cycles`` registers (a pipeline tag following its data)."""
    out = []
    for sig in signals:
        name = Value.cast(sig).name         # a tag may be a struct view of its signal
        for i in range(cycles):
            nxt = Signal.like(sig, name=f"{name}_d{i + 1}")
            m.d.sync += nxt.eq(sig)
            sig = nxt
        out.append(sig)
    return out


class Datapath:
    """The shared state of one core (see the module docstring)."""

    def __init__(self, m, core, platform):
        self.m, self.core, self.platform = m, core, platform
        cfg = self.cfg = core.cfg
        self.n, self.mi, self.s_n = cfg.n_neurons, cfg.n_inputs, cfg.n_sources
        self.wpw, self.wpr = cfg.weights_per_word, cfg.words_per_row
        self.ww, self.tw = cfg.w_width, cfg.trace_width
        self.wdepth = self.s_n * self.wpr
        self.spram = core.weight_store == "spram"
        self.lay = layouts(cfg)
        self.R = cfg.rule_bits
        self.rules = self.R > 1         # several plasticity rules: the RuleLearner path
        self.D = cfg.delay_bits
        # ACC walks two read-only rows at once (proto.cycles.acc_units)
        self.pairs = pairs_enabled(cfg, core.weight_store, core.cell_words)
        self.pf_pack = flag_pack(platform)
        self.list_attrs = list_ram_attrs(platform)
        self.req = core.mem_req.payload
        self.ack = core.mem_req.valid & core.mem_req.ready
        self._neuron_memories()
        self._accumulators()
        self._lists_and_flags()
        self._stores()
        self._blocks()
        self._registers()
        self._learn_stage()

    # -- memories -------------------------------------------------------------------------------
    def mem(self, name, shape, depth, *, hold, transparent=False, granularity=None, attrs=None):
        """A memory with one write and one read port: ``(read, write)``.

        A read of the address being written returns the old word; iCE40 block RAM does not,
        so Yosys would emulate that with a delayed write and a bypass (two registers and a
        mux per data bit). No read the schedule uses ever collides with a write, so reads
        are held when they could collide (see held_read), which proves that nothing needs
        emulating: ``hold="write"`` while any write runs (memories never read and written
        in the same cycle), ``hold="same"`` only when the write hits the read address
        (walks that read one element while writing another)."""
        m = self.m
        m.submodules[name] = mm = memory.Memory(shape=shape, depth=depth, init=[], attrs=attrs)
        wp = mm.write_port(granularity=granularity)
        if hold is None:
            return mm.read_port(transparent_for=(wp,) if transparent else ()), wp
        rp = held_read(m, mm, self.platform)
        if hold == "write":
            m.d.comb += rp.en.eq(~wp.en.any())
        else:
            m.d.comb += rp.en.eq(~(wp.en.any() & (wp.addr == rp.addr)))
        return rp, wp

    def _neuron_memories(self):
        m, lay, n, s_n, tw = self.m, self.lay, self.n, self.s_n, self.tw
        # neuron parameters in two memories: the decay factors the update's first stage
        # multiplies (alpha_mem, alpha_theta; read with the state), the rest its second stage
        # (read one cycle later, which saves the update a pipeline register per parameter bit);
        # both take the same writes
        par_lay = lay[Region.NEURON_PARAMS].struct()
        stage1 = ("alpha_mem", "alpha_theta")
        self.s1_lay = data.StructLayout({name: fld.shape for name, fld in par_lay
                                         if name in stage1})
        self.rest_lay = data.StructLayout({name: fld.shape for name, fld in par_lay
                                           if name not in stage1})
        self.par_r, self.par_w = self.mem("params", self.rest_lay, n, hold="write")
        self.am_r, self.am_w = self.mem("alpha_mem", self.s1_lay, n, hold="write")
        self.par_word = Signal(par_lay)         # the region word, from both read ports
        m.d.comb += [self.am_w.addr.eq(self.par_w.addr), self.am_w.en.eq(self.par_w.en)]
        for name, _ in self.s1_lay:
            m.d.comb += self.par_word[name].eq(self.am_r.data[name])
        for name, _ in self.rest_lay:
            m.d.comb += self.par_word[name].eq(self.par_r.data[name])
        self.st_r, self.st_w = self.mem("state", lay[Region.NEURON_STATE].struct(), n,
                                        hold="same")
        self.post_r, self.post_w = self.mem("post", unsigned(tw), n, hold="same")
        self.pre_r, self.pre_w = self.mem("pre", unsigned(tw), s_n, hold="same")
        self.spk_r, self.spk_w = self.mem("spk", unsigned(1), s_n, hold="same")

    def _accumulators(self):
        """Exact per-neuron row sums (with inh_current the positive and the negative parts)."""
        cfg, wpr, wpw = self.cfg, self.wpr, self.wpw
        acc_elem = signed(acc_width(cfg))
        if cfg.inh_current:
            acc_elem = data.StructLayout({"exc": acc_elem, "inh": acc_elem})
        self.acc_elem = acc_elem
        self.ring_depth = wpr << self.D         # accumulator words: one row per ring slot
        # with one word per row (wpr = 1) back-to-back rows read the word written in the same
        # cycle, so it must be transparent; otherwise the word read is never the one written
        hold = None if wpr == 1 else "same"
        if not self.D:
            self.acc_r, self.acc_w = self.mem("acc", data.ArrayLayout(acc_elem, wpw), wpr,
                                              hold=hold, transparent=wpr == 1)
            self.ring = None
        else:
            # delays: a ring of 2**D accumulator rows per neuron, one memory per lane (the lanes
            # of a weight word go to different slots), slot-major (word slot·wpr + k). The
            # phases drive acc_r/acc_w as for the single row (k = word of the current slot,
            # or the clear address); the ring ports add the slot (accumulate.Accumulate.ring)
            self.acc_r = Port(addr=Signal(range(self.ring_depth)),
                              data=Signal(data.ArrayLayout(acc_elem, wpw)))
            self.acc_w = Port(addr=Signal(range(self.ring_depth)),
                              data=Signal(data.ArrayLayout(acc_elem, wpw)), en=Signal())
            self.ring = [self.mem(f"acc{i}", acc_elem, self.ring_depth, hold=hold,
                                  transparent=wpr == 1) for i in range(wpw)]

    def acc_add(self, dst, old, w):
        """``dst := old + w`` for one lane; with inh_current the sign bit picks the
        accumulator."""
        if self.cfg.inh_current:
            return [dst.exc.eq(old.exc + Mux(w[-1], 0, w)),
                    dst.inh.eq(old.inh + Mux(w[-1], w, 0))]
        return [dst.eq(old + w)]

    def _lists_and_flags(self):
        m, s_n, wpr, wpw, ww, tw = self.m, self.s_n, self.wpr, self.wpw, self.ww, self.tw
        rules = self.rules
        # per-neuron depression step of this tick, written lane by lane by the SCAN. The steps
        # (here and in plist) are held saturated at 2**W - 1, in W bits: a step of 2**W and one
        # of 2**W - 1 take every W-bit weight to the same end of the clip (numerics.md, clip),
        # and W-bit lanes pack two to a 16-bit EBR word on the UP5K (the words live in the
        # "flags" memory below). With several rules the learner computes the steps itself:
        # dep holds y_dec, a plist entry the source's x (the trace, not the step)
        self.step_w = tw if rules else ww
        dep_lay = data.ArrayLayout(unsigned(self.step_w), wpw)
        # this tick's lists: delivered sources (their row base address), sources listed for
        # potentiation (row base and step: POT needs no multiplier), fired words (word and its
        # fired lanes); and the sticky plastic-row flags (configuration, numerics.md step 6)
        # A row base is kept as base >> log2(wpr) when wpr is a power of two (the source index:
        # the low bits are zero), which saves the UP5K a block RAM per list
        self.row_sh = (wpr.bit_length() - 1) if wpr & (wpr - 1) == 0 else 0
        row_w = bits(self.wdepth) - self.row_sh
        # (pairs: "pair", the entry is walked together with the one before it)
        dl_layout = data.StructLayout({"row": unsigned(row_w), "plastic": unsigned(1),
                                       **({"pair": unsigned(1)} if self.pairs else {})})
        self.dl_r, self.dl_w = self.mem("dlist", dl_layout, s_n, hold="write",
                                        attrs=self.list_attrs)
        pl_layout = data.StructLayout({"row": unsigned(row_w), "step": unsigned(self.step_w)})
        self.pl_r, self.pl_w = self.mem("plist", pl_layout, s_n, hold="write")
        fw_layout = data.StructLayout({"word": unsigned(bits(wpr)), "mask": unsigned(wpw)})
        # The depression steps, the fired-word list and the plastic-row flags share one memory
        # ("flags"): the steps, then (after ACC used them) the list, at words 0..wpr-1, the flags
        # after them, pf_pack to a word (flag_pack). No two are used at once at one address:
        # SCAN writes the steps and reads the flags, ACC reads the steps, SWEEP writes the list,
        # POT reads it, requests and RESET CONFIG write the flags. One EBR on the UP5K instead
        # of three. Writes have bit granularity with packed flags, else lane (W-bit) granularity.
        pf_pack = self.pf_pack
        dep_lw = dep_lay.elem_shape.width
        gran = 1 if pf_pack > 1 else dep_lw
        fl_width = -(-max(fw_layout.size, pf_pack, dep_lay.size) // gran) * gran
        chunks = fl_width // gran
        fl_r, fl_w = self.mem("flags", unsigned(fl_width), wpr + -(-s_n // pf_pack),
                              hold="same", granularity=gran)
        self.fl_r = fl_r
        self.dep_r = Port(addr=Signal(range(wpr)), data=dep_lay(fl_r.data[:dep_lay.size]))
        self.dep_w = Port(addr=Signal(range(wpr)), data=Signal(dep_lay), en=Signal(wpw))
        self.fw_r = Port(addr=Signal(range(wpr)), data=fw_layout(fl_r.data[:fw_layout.size]))
        self.fw_w = Port(addr=Signal(range(wpr)), data=Signal(fw_layout), en=Signal())
        self.pf_r = pf_r = Port(addr=Signal(range(s_n)), data=Signal())
        self.pf_w = pf_w = Port(addr=Signal(range(s_n)), data=Signal(), en=Signal())
        if pf_pack > 1:
            pf_bit_d = Signal(range(pf_pack))   # the flag's bit in the word on fl_r.data
            m.d.sync += pf_bit_d.eq(pf_r.addr % pf_pack)
            m.d.comb += pf_r.data.eq(fl_r.data.bit_select(pf_bit_d, 1))
            pf_row, pf_en = pf_w.addr // pf_pack, Const(1, chunks) << (pf_w.addr % pf_pack)
        else:                                   # a flag per word, in its lowest chunk
            m.d.comb += pf_r.data.eq(fl_r.data[0])
            pf_row, pf_en = pf_w.addr, Const(1, chunks)
        dep_w, fw_w = self.dep_w, self.fw_w
        m.d.comb += [
            # each address is driven (non-zero) only by the phase that uses it
            fl_w.addr.eq(Mux(pf_w.en, wpr + pf_row, fw_w.addr | dep_w.addr)),
            fl_w.data.eq(Mux(pf_w.en, Cat(*([pf_w.data] * fl_width)),
                             Mux(fw_w.en, fw_w.data, dep_w.data))),
            fl_w.en.eq(Mux(pf_w.en, pf_en,
                           Mux(fw_w.en, (1 << -(-fw_layout.size // gran)) - 1,
                               Cat(*(dep_w.en[i].replicate(dep_lw // gran)
                                     for i in range(wpw)))))),
        ]

    def row_cells(self, row):
        """The cells of a row's (a list entry's ``row``) words 0 and 1: with pairs, of every
        even and every odd word (``proto.cycles.compatible``)."""
        return Cat(*(self.wst.cell_of(Cat(Const(k, self.row_sh), row)) for k in (0, 1)))

    def compatible(self, cells_a, cells_b):
        """Rows (by :meth:`row_cells`) whose words never share a cell: a pair ACC may walk."""
        h = len(cells_a) // 2
        return (cells_a[:h] != cells_b[:h]) & (cells_a[h:] != cells_b[h:])

    def row_base_of(self, entry):
        """The weight address of a list entry's row (``row`` holds it shifted, see above)."""
        return Cat(Const(0, self.row_sh), entry.row) if self.row_sh else entry.row

    # -- weight, plasticity and delay stores ----------------------------------------------------
    def _stores(self):
        """The stores behind one uniform read/write view: ``w_raddr``, ``w_waddr``, ``w_we``,
        ``w_wdata``, ``w_rdata`` (weights), ``p_we``/``p_wdata``/``p_rdata`` (plasticity bits:
        the rule index of each lane, or the bit) and with delays ``d_we``/``d_wdata``/
        ``d_rdata``, all at the weights' addresses."""
        m, core, wdepth, wpw, ww, R, D = (self.m, self.core, self.wdepth, self.wpw, self.ww,
                                          self.R, self.D)
        self.w_raddr = Signal(range(wdepth))
        self.w_waddr = Signal(range(wdepth))
        self.w_we = Signal()
        self.w_wdata = Signal(data.ArrayLayout(signed(ww), wpw))
        self.w_rdata = Signal(data.ArrayLayout(signed(ww), wpw))
        self.p_we = Signal()
        self.p_wdata = Signal(wpw * R)
        self.p_rdata = Signal(wpw * R)
        w_raddr, w_waddr = self.w_raddr, self.w_waddr
        factory = core.store_factory or SinglePortStore
        if self.spram:
            m.submodules.wstore = wst = BankedStore(wdepth, wpw * ww, row_words=self.wpr,
                                                    cell=factory, cell_words=core.cell_words,
                                                    second_read=self.pairs)
            m.submodules.pstore = pst = factory(wdepth, wpw)
            # the walks only read the plasticity store: a (host) write owns its address port
            m.d.comb += [
                wst.raddr.eq(w_raddr), wst.waddr.eq(w_waddr), wst.we.eq(self.w_we),
                wst.wdata.eq(self.w_wdata), self.w_rdata.eq(wst.rdata),
                pst.addr.eq(w_raddr), pst.waddr.eq(w_waddr), pst.we.eq(self.p_we),
                pst.wdata.eq(self.p_wdata), self.p_rdata.eq(pst.rdata),
            ]
            if self.pairs:  # the second row of a pair: its word, 0 when none was read
                self.w_raddr2, self.w_ren2 = Signal.like(w_raddr), Signal()
                self.w_rdata2 = Signal(data.ArrayLayout(signed(ww), wpw))
                m.d.comb += [wst.raddr2.eq(self.w_raddr2), wst.ren2.eq(self.w_ren2),
                             self.w_rdata2.eq(wst.rdata2)]
            w_raddr_q = w_raddr
        else:
            # the read address goes through a register (w_raddr_q): it fans out to every block
            # RAM of the stores, too far to follow a memory read and a multiplexer in one cycle.
            # The walks' data stage is one cycle later for it (the "q" tags)
            w_raddr_q = Signal.like(w_raddr)
            m.d.sync += w_raddr_q.eq(w_raddr)
            m.submodules.wstore = wst = DualPortStore(wdepth, wpw * ww)
            m.submodules.pstore = pst = DualPortStore(wdepth, wpw * R)
            m.d.comb += [
                wst.raddr.eq(w_raddr_q), wst.waddr.eq(w_waddr), wst.we.eq(self.w_we),
                wst.wdata.eq(self.w_wdata), self.w_rdata.eq(wst.rdata),
                pst.raddr.eq(w_raddr_q), pst.waddr.eq(w_waddr), pst.we.eq(self.p_we),
                pst.wdata.eq(self.p_wdata), self.p_rdata.eq(pst.rdata),
            ]
        self.wst = wst
        if D:   # per-synapse delays: a third store with the weights' addressing (read only)
            self.d_we = Signal()
            self.d_wdata = Signal(wpw * D)
            self.d_rdata = Signal(data.ArrayLayout(unsigned(D), wpw))
            if self.spram:
                m.submodules.dstore = dst = factory(wdepth, wpw * D)
                m.d.comb += [dst.addr.eq(w_raddr), dst.waddr.eq(w_waddr), dst.we.eq(self.d_we)]
            else:
                m.submodules.dstore = dst = DualPortStore(wdepth, wpw * D)
                m.d.comb += [dst.raddr.eq(w_raddr_q), dst.waddr.eq(w_waddr),
                             dst.we.eq(self.d_we)]
            m.d.comb += [dst.wdata.eq(self.d_wdata), self.d_rdata.eq(dst.rdata)]

    # lanes of a row's last word past neuron n-1 read as 0 and ignore writes
    def lane_mask(self, addr):
        wpw, wpr, n = self.wpw, self.wpr, self.n
        full = (1 << wpw) - 1
        if n % wpw == 0:
            return Const(full, wpw)
        return Mux(addr % wpr == wpr - 1, (1 << (n - (wpr - 1) * wpw)) - 1, full)

    def weight_lanes(self, value, mask, width=None):
        width = self.ww if width is None else width
        return Cat(*(Mux(mask[i], value[i * width:(i + 1) * width], 0)
                     for i in range(self.wpw)))

    # -- datapath blocks ------------------------------------------------------------------------
    def _blocks(self):
        m, cfg, wpw, lay = self.m, self.cfg, self.wpw, self.lay
        if self.rules:
            # one STDP_PARAMS word per rule; word 0's trace fields drive SCAN and the sweep
            self.rule_par = Signal(data.ArrayLayout(lay[Region.STDP_PARAMS].struct(),
                                                    n_rules(cfg)))
            self.stdp = self.rule_par[0]
        else:
            self.stdp = Signal(lay[Region.STDP_PARAMS].struct())
        # the learning walks run: the enable bit (several rules: any)
        self.learn_en = Signal()
        m.d.comb += self.learn_en.eq(
            Cat(*(self.rule_par[r].enable for r in range(n_rules(cfg)))).any()
            if self.rules else self.stdp.enable)
        m.submodules.update = self.upd = Update(cfg)
        if self.rules:
            assert RuleLearner.LATENCY == RULE_LATENCY
            m.submodules.learner = self.lrn = RuleLearner(cfg)
            m.submodules.rng = self.rng = Xorshift32(wpw)
        else:
            # dual: the learner's inputs come from the learn stage and its output is registered
            # (see _learn_stage); spram writes in the data stage (the word after next shares
            # the cell: see BankedStore)
            m.submodules.learner = self.lrn = Learner(cfg, registered=not self.spram)
            m.d.comb += [self.lrn.w_min.eq(self.stdp.w_min), self.lrn.w_max.eq(self.stdp.w_max)]
        m.d.comb += self.upd.post_jump.eq(self.stdp.post_jump)

    # -- registers ------------------------------------------------------------------------------
    def walk_layout(self):
        """The walks' (ACC, POT) data-stage tag: the word issued last cycle."""
        return data.StructLayout({
            "valid": 1, "last": 1,              # issued; the walk's last word
            # word within the row (ACC: the lanes' neurons): the address's low bits when rows
            # are aligned (:meth:`word_of`), a field only otherwise
            **({} if self.row_sh else {"word": bits(self.wpr)}),
            "addr": range(self.wdepth),         # its weight address (the write-back's)
            "flag": 1,                          # ACC: the row is plastic
            "pot": 1,                           # issued by POT (the learner potentiates)
            "mask": self.wpw,                   # POT: the fired lanes
            "step": self.tw if self.rules else self.ww + 1,   # POT: the source's step (rules: x)
        })

    def word_of(self, tag):
        """The word within its row of a walk tag's weight address."""
        return tag.addr[:self.row_sh] if self.row_sh else tag.word

    def learn_layout(self):
        """The stage after the data stage (the accumulate stage of every store and of the delay
        ring; the dual store's learn stage)."""
        return data.StructLayout({
            "valid": 1,                         # ACC: a word to accumulate
            "pot": 1,                           # POT: a word to write back (dual)
            "last": 1, "word": bits(self.wpr), "flag": 1})

    def _registers(self):
        """The phases' counters (one set for all: registers are scarce on the UP5K), the walk
        tags, the request registers and the phase flags."""
        m, cfg, core = self.m, self.cfg, self.core
        n, s_n, wpr, wpw = self.n, self.s_n, self.wpr, self.wpw
        # busy cycles of the tick (at most tick_cycles_bound, so last_tick_cycles' upper bits
        # stay 0); a clear walks its addresses with the same counter
        clr_depth = max(self.wdepth, s_n, n, self.ring_depth)
        self.cyc = Signal(range(max(tick_cycles_bound(cfg, weight_store=core.weight_store),
                                    clr_depth) + 1))
        self.more = Signal()                    # a walk still has elements to issue
        self.idx = Signal(range(max(s_n, n) + 1))   # source / neuron index of SCAN, SWEEP
        self.base = Signal(range(self.wdepth + wpr))    # weight address of the current row
        self.k = Signal(bits(wpr))              # word within the row; SCAN, SWEEP: of neuron
        self.lane = Signal(bits(wpw))           # lane within the word (SCAN, SWEEP)
        self.left = Signal(range(max(s_n, n) + 1))  # rows / columns still to walk
        self.ptr = Signal(range(max(s_n, n) + 1))   # next list entry to fetch
        self.nd = Signal(range(s_n + 1))        # delivered sources this tick
        self.nf = Signal(range(n + 1))          # fired neurons this tick
        self.nl = Signal(range(s_n + 1))        # sources listed for potentiation this tick
        self.nw = Signal(range(wpr + 1))        # fired words this tick
        self.flag_r = Signal()                  # ACC: the row being issued is plastic
        # the walks' data stage, where the weight word read is on w_rdata: spram reads in one
        # cycle, so the tag is the data stage's; the dual store's registered read
        # address makes it one cycle later (``walk_q``)
        self.walk = Signal(self.walk_layout())
        self.walk_q = self.walk if self.spram else delayed(m, 1, self.walk)[0]
        self.learn = Signal(self.learn_layout())
        m.d.sync += [self.walk.valid.eq(0), self.learn.pot.eq(0)]
        # memory requests
        self.rsp_valid = Signal()
        self.rsp_data = Signal(core.DATA_W)
        self.rd_region = Signal(4)
        self.rd_addr = Signal(core.ADDR_W)
        self.clr_flags = Signal(3)
        m.d.comb += [core.mem_rsp.valid.eq(self.rsp_valid),
                     core.mem_rsp.payload.eq(self.rsp_data)]
        with m.If(core.mem_rsp.valid & core.mem_rsp.ready):
            m.d.sync += self.rsp_valid.eq(0)
        # the phase flags, set by the FSM states
        self.idle, self.clearing, self.scanning = Signal(), Signal(), Signal()
        self.zero_at_start = []
        self.ring_acc = Signal()                # ACC: words enter the accumulate stage
        self.tick_end = Signal()                # FINISH
        # the shared flags memory's read port: SCAN reads the flags, POT the fired-word list
        pf_pack = self.pf_pack
        m.d.comb += self.fl_r.addr.eq(
            Mux(self.scanning, wpr + (self.pf_r.addr // pf_pack if pf_pack > 1
                                      else self.pf_r.addr),
                self.fw_r.addr | self.dep_r.addr))
        if self.rules:
            self.lrn_valid, self.pot_walk = Signal(), Signal()  # the learner takes a word; POT
            self.learn_word = Signal(32)                        # LEARN word 1 (m in 0..15)
            # per rule: x * a_plus >= 2^G iff x > thr (thr = (2^G - 1) // a_plus: access.DIV)
            self.thr = Signal(data.ArrayLayout(unsigned(max(cfg.stdp_frac, 1)), n_rules(cfg)))

    # -- learn stage ----------------------------------------------------------------------------
    def learn_reg(self, value, name):
        """``value`` in the learn stage: registered on the dual store, as is on spram.

        The dual store's learner takes its inputs from registers loaded in the data stage, so
        no path runs from the weight store's block RAM into the learner's adders and clips;
        its output is a register too, so a word is written back two cycles after its data stage
        (nothing waits for it: no walk reads a word twice). The walks end a cycle later (ACC:
        the accumulators add in this stage too; POT: its last word's write lands in FINISH).
        spram: the learner works in the data stage, which writes the word back."""
        if self.spram:
            return value
        reg = Signal.like(value, name=f"{name}_l")
        self.m.d.sync += reg.eq(value)
        return reg

    def _learn_stage(self):
        m, wq, lrn = self.m, self.walk_q, self.lrn
        # the weight word one stage after its data: the accumulate stage (of every store:
        # the accumulators' adders start from a register), and the dual store's learn stage.
        # A pair's two words enter it added lane by lane (one more bit)
        self.w_e = Signal(data.ArrayLayout(signed(self.ww + self.pairs), self.wpw))
        if self.pairs:
            m.d.sync += [self.w_e[i].eq(self.w_rdata[i] + self.w_rdata2[i])
                         for i in range(self.wpw)]
        else:
            m.d.sync += self.w_e.eq(self.w_rdata)
        self.p_l = self.learn_reg(self.p_rdata, "p")
        self.dep_l = self.learn_reg(self.dep_r.data, "dep")
        self.mask_l = self.learn_reg(wq.mask, "mask")
        self.pot_l = self.learn_reg(wq.step, "pot")
        m.d.sync += [self.learn.valid.eq(wq.valid & self.ring_acc), self.learn.last.eq(wq.last),
                     self.learn.flag.eq(wq.flag), self.learn.word.eq(self.word_of(wq))]
        m.d.comb += lrn.w.eq(self.w_rdata if self.spram else self.w_e)
        if not self.rules:
            m.d.comb += [lrn.p.eq(self.p_l),
                         *[lrn.dep[i].eq(self.dep_l[i]) for i in range(self.wpw)],
                         lrn.mask.eq(self.mask_l), lrn.pot.eq(self.pot_l),
                         # from the tag, not the state decode: a register feeds the
                         # learner's adders (spram: on the path from the store's read to
                         # its write, the UP5K build's longest)
                         lrn.potentiate.eq(self.learn_reg(wq.pot, "potentiate"))]
        # dual: the address of the word in the learn stage, written back a cycle later
        self.wb, self.wb_addr = Signal(), Signal.like(self.w_waddr)
        m.d.sync += self.wb.eq(0)

    def learn_write(self, addr):
        """Write the learner's word for ``addr`` (this cycle's data) back: now (spram) or
        two cycles later, after the learn stage (dual)."""
        if self.spram:
            self.m.d.comb += [self.w_waddr.eq(addr), self.w_we.eq(1)]
        else:
            self.m.d.sync += [self.wb.eq(1), self.wb_addr.eq(addr)]
