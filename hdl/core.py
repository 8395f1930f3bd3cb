"""The core: a time-multiplexed, event-driven LIF/STDP engine behind a memory-request interface.

Contract (shared with the dispatcher, the golden device and the tests):

* ``Core(cfg, *, weight_store="dual", store_factory=None, cell_words=SPRAM_CELL_WORDS)`` is a
  ``wiring.Component`` in the ``sync`` domain. ``weight_store="dual"`` keeps weights and
  plasticity bits in memories with separate read and write ports; ``"spram"`` builds them from
  single-port stores made by ``store_factory(depth, width)`` (default
  :class:`~spikeloom.hdl.weights.SinglePortStore`, the behavioural twin of
  ``spikeloom.hdl.spram.SPRAMStore``; one address port, registered read): the plasticity bits
  (and delays) in one, the weights in a :class:`~spikeloom.hdl.spram.BankedStore` of
  ``cell_words``-word cells, which reads one word and writes another in one clock unless they
  share a cell (the walk then waits a clock: ``proto.cycles.bank_stalls``). Both variants are
  bit-exact with :class:`spikeloom.sim.model.Core`; only ``last_tick_cycles`` differs.
* ``mem_req`` (region, addr, write, data) / ``mem_rsp``: every request gets exactly one response
  (reads: the packed word of :mod:`spikeloom.proto.memmap`, zero-extended to ``DATA_W``; writes:
  0). Requests are accepted only while idle. Unused weight/plastic lanes read 0 and ignore
  writes. The dispatcher checks addresses and value widths.
* The signature is :class:`Control` (the dispatcher's side of it) flipped: one definition
  for both ends.
* ``start`` (strobe) runs one tick; ``clear`` (strobe of ``protocol.ResetFlags`` bits STATE,
  CONFIG, COUNTERS) zeroes memories; ``busy`` is high while either runs; ``done`` pulses in the last
  busy cycle.
* ``spikes``: each neuron that fired, ascending, then ``end=1`` with the spike count, through an
  internal FIFO of ``max(n_neurons + 1, 3)`` entries (the sweep never stalls).
* ``ticks``, ``spike_count``, ``syn_events``, ``last_tick_cycles``: 32-bit wrapping status.
  ``last_tick_cycles`` is the number of busy cycles of the last tick, which is exactly
  :func:`spikeloom.proto.cycles.tick_cycles`.

The tick schedule (docs/architecture.md has the diagrams):

====== ===============================================================================
SCAN    one source per clock, four stages after the memory read: the trace decays' products,
        inputs consumed, delivered sources appended to the delivered list (row base); the
        pre trace's jump and saturation (step 3 for x), the post trace of source M + j
        decayed (step 3 for y), both written back; the step products; the depression step of
        neuron j into ``dep``, plastic rows (sticky flag) with a non-zero potentiation step to
        the listed sources (with step)
ACC     delivered rows, one weight word per clock, all lanes into the exact accumulators; with
        STDP the same word depressed and written back while later words are read (dual:
        through the learn stage; spram: in the data stage, a clock later when the next word
        is in the cell being written)
SWEEP   one neuron per clock through :class:`~spikeloom.hdl.neuron.Update`; spikes out,
        post jumps, the fired words (with their fired lanes) appended to the fired-word list
SPK_END the end marker
POT     (STDP enabled) listed rows x fired words, read-modify-write, every fired lane at once,
        one word per clock (spram: column-major, a clock more when two consecutive words share
        a cell)
====== ===============================================================================

Several plasticity rules (``rule_bits > 1``, dual store only; docs/architecture.md "Several
plasticity rules"): :class:`~spikeloom.hdl.rules.RuleLearner` does the read-modify-writes of ACC
and POT, ``RULE_LATENCY`` clocks deep, with :class:`~spikeloom.hdl.rules.Xorshift32` drawing
``weights_per_word`` numbers per visited word; SCAN stores traces instead of steps and lists a
source by per-rule thresholds (state DIV computes them when STDP_PARAMS is written), and POT
ends with ``RULE_LATENCY`` drain clocks (POT_DRAIN).

Doing the pre-trace update in SCAN (before the sweep) is equivalent to the spec's order: x is
read by nothing but potentiation, which comes later, and depends only on the delivered set; y
is decayed in SCAN because depression (in ACC) needs the decayed value of every neuron before
the first row is read, and only the sweep's post jump comes after it (docs/architecture.md).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..proto.config import CoreConfig
from ..proto.cycles import (
    RULE_LATENCY,
    SPRAM_CELL_WORDS,
    WEIGHT_STORES,
    check_weight_store,
    tick_cycles_bound,
)
from ..proto.memmap import Region, layouts, n_rules, region_words, regions
from ..proto.protocol import ResetFlags
from .arith import div_const, satu, scale_sat, trunc_shift
from .fifo import Queue, held_read
from .neuron import Update, acc_width
from .rules import M_WIDTH, RuleLearner, Xorshift32
from .spram import BankedStore
from .stdp import Learner
from .weights import DualPortStore, SinglePortStore

__all__ = ["Core", "Control", "SpikeLayout", "req_layout", "addr_width", "data_width",
           "flag_pack", "list_ram_attrs", "WEIGHT_STORES"]

#: One element of the ``spikes`` stream: a neuron index (``end = 0``), or the end-of-tick marker
#: (``end = 1``) whose ``neuron`` field carries the number of spikes of the tick.
SpikeLayout = data.StructLayout({"neuron": unsigned(16), "end": unsigned(1)})

_STATE, _CONFIG, _COUNTERS = (int(f) for f in (
    ResetFlags.STATE, ResetFlags.CONFIG, ResetFlags.COUNTERS))


def addr_width(cfg: CoreConfig) -> int:
    """Bits of ``mem_req.addr``: enough for the largest region's word count."""
    words = max(region_words(cfg, r) for r in regions(cfg))
    return max(1, (words - 1).bit_length())


def data_width(cfg: CoreConfig) -> int:
    """Bits of ``mem_req.data`` and ``mem_rsp``: the widest region layout."""
    return max(lay.width for lay in layouts(cfg).values())


def req_layout(cfg: CoreConfig) -> data.StructLayout:
    """The payload of ``mem_req``."""
    return data.StructLayout({
        "region": unsigned(max(Region).bit_length()), "addr": unsigned(addr_width(cfg)),
        "write": unsigned(1),
        "data": unsigned(data_width(cfg))})


class _Port:
    """The ``addr`` / ``data`` / ``en`` signals of a memory port that the core drives while
    something else (the delay ring) connects them to real ports."""

    def __init__(self, **signals):
        self.__dict__.update(signals)


def _bits(n):
    """Width of a counter/index over ``range(n)`` (at least 1 bit)."""
    return max(1, (n - 1).bit_length())


def _delayed(m, cycles, *signals):
    """Each of ``signals`` through ``cycles`` registers (a pipeline tag following its data)."""
    out = []
    for sig in signals:
        for i in range(cycles):
            nxt = Signal.like(sig, name=f"{sig.name}_d{i + 1}")
            m.d.sync += nxt.eq(sig)
            sig = nxt
        out.append(sig)
    return out


def flag_pack(platform) -> int:
    """Plastic-row flags per word of the core's "flags" memory on ``platform``.

    16 on iCE40 and in simulation (``platform`` None): bit-wide writes into one 16-bit EBR word.
    1 on ECP5, whose block RAM has no bit-wide write enables: a bit-granular memory would take a
    DP16KD per bit, so each flag gets a word and the memory is written a lane at a time. The
    choice changes neither behaviour nor cycles.
    """
    return 1 if getattr(platform, "family", None) == "ecp5" else 16


def list_ram_attrs(platform) -> dict:
    """Memory attributes of the delivered list (``dlist``) on ``platform``: LUT RAM on ECP5,
    where a whole DP16KD for it is what tips the board presets over their block RAM (the read
    stays registered, so the timing is the same); block RAM elsewhere."""
    return {"ram_style": "distributed"} if getattr(platform, "family", None) == "ecp5" else {}


class Control(wiring.Signature):
    """The core's control interface as its controller (the dispatcher) sees it; the core's own
    signature is this one flipped.

    ``mem_req``/``mem_rsp`` (memory words), ``start`` (one tick), ``clear`` (ResetFlags bits),
    ``busy``/``done``, the ``spikes`` stream of a tick and the 32-bit status counters; the
    module docstring states the contract of each.
    """

    def __init__(self, cfg: CoreConfig):
        super().__init__({
            "mem_req": Out(stream.Signature(req_layout(cfg))),
            "mem_rsp": In(stream.Signature(unsigned(data_width(cfg)))),
            "start": Out(1),
            "busy": In(1),
            "done": In(1),
            "clear": Out(sum(ResetFlags).bit_length()),
            "spikes": In(stream.Signature(SpikeLayout)),
            "ticks": In(32),
            "spike_count": In(32),
            "syn_events": In(32),
            "last_tick_cycles": In(32),
        })


class Core(wiring.Component):
    """The LIF/STDP engine of one core configuration (see the module docstring)."""

    def __init__(self, cfg, *, weight_store="dual", store_factory=None,
                 cell_words=SPRAM_CELL_WORDS):
        try:
            self._check(cfg, weight_store, store_factory)
            if weight_store != "spram" and cell_words != SPRAM_CELL_WORDS:
                raise ValueError(f"cell_words {cell_words!r} needs weight_store='spram', "
                                 f"not {weight_store!r}")
        except (TypeError, ValueError):
            # a rejected instance is no forgotten design: keep Amaranth's "never used" quiet
            self._MustUse__silence = True
            raise
        self.cfg = cfg
        self.weight_store = weight_store
        self.store_factory = store_factory
        self.cell_words = cell_words
        self.ADDR_W = addr_width(cfg)
        self.DATA_W = data_width(cfg)
        self.ReqLayout = req_layout(cfg)
        super().__init__(Control(cfg).flip())

    @staticmethod
    def _check(cfg, weight_store, store_factory):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        check_weight_store(weight_store)
        if cfg.rule_bits > 1 and weight_store == "spram":
            # the rule learner takes 4 DSPs a lane: the UP5K has 8, the core already uses 7
            # (docs/architecture.md, "Several plasticity rules")
            raise ValueError(f"CoreConfig.rule_bits = {cfg.rule_bits} needs weight_store='dual':"
                             " the rule learner does not fit the iCE40UP5K (spram) core; several"
                             " rules run on the ECP5/Artix presets and the golden model")
        if store_factory is not None:
            if not callable(store_factory):
                raise TypeError(f"store_factory must be callable, not {store_factory!r}")
            if weight_store != "spram":
                raise ValueError(f"store_factory {store_factory!r} needs weight_store='spram', "
                                 f"not {weight_store!r}")

    def elaborate(self, platform):
        cfg = self.cfg
        n, mi, s_n = cfg.n_neurons, cfg.n_inputs, cfg.n_sources
        wpw, wpr = cfg.weights_per_word, cfg.words_per_row
        ww, tw, frac = cfg.w_width, cfg.trace_width, cfg.decay_frac
        wdepth = s_n * wpr
        spram = self.weight_store == "spram"
        lay = layouts(cfg)
        R = cfg.rule_bits
        rules = R > 1           # several plasticity rules: the RuleLearner path
        m = Module()

        # -- memories ---------------------------------------------------------------------------
        # A read of the address being written returns the old word; iCE40 block RAM does not,
        # so Yosys would emulate that with a delayed write and a bypass (two registers and a
        # mux per data bit). No read the schedule uses ever collides with a write, so reads
        # are held when they could collide (see held_read), which proves that nothing needs
        # emulating: ``hold="write"`` while any write runs (memories never read and written
        # in the same cycle), ``hold="same"`` only when the write hits the read address
        # (walks that read one element while writing another).
        def mem(name, shape, depth, *, hold, transparent=False, granularity=None, attrs=None):
            m.submodules[name] = mm = memory.Memory(shape=shape, depth=depth, init=[],
                                                    attrs=attrs)
            wp = mm.write_port(granularity=granularity)
            if hold is None:
                return mm.read_port(transparent_for=(wp,) if transparent else ()), wp
            rp = held_read(m, mm, platform)
            if hold == "write":
                m.d.comb += rp.en.eq(~wp.en.any())
            else:
                m.d.comb += rp.en.eq(~(wp.en.any() & (wp.addr == rp.addr)))
            return rp, wp

        acc_w_bits = acc_width(cfg)
        # neuron parameters in two memories: the decay factors the update's first stage
        # multiplies (alpha_mem, alpha_theta; read with the state), the rest its second stage
        # (read one cycle later, which saves the update a pipeline register per parameter bit);
        # both take the same writes
        par_lay = lay[Region.NEURON_PARAMS].struct()
        stage1 = ("alpha_mem", "alpha_theta")
        s1_lay = data.StructLayout({name: fld.shape for name, fld in par_lay if name in stage1})
        rest_lay = data.StructLayout({name: fld.shape for name, fld in par_lay
                                      if name not in stage1})
        par_r, par_w = mem("params", rest_lay, n, hold="write")
        am_r, am_w = mem("alpha_mem", s1_lay, n, hold="write")
        par_word = Signal(par_lay)      # the region word, from both read ports
        req_par = par_lay(self.mem_req.payload.data[:par_lay.size])
        m.d.comb += [am_w.addr.eq(par_w.addr), am_w.en.eq(par_w.en)]
        for name, _ in s1_lay:
            m.d.comb += par_word[name].eq(am_r.data[name])
        for name, _ in rest_lay:
            m.d.comb += par_word[name].eq(par_r.data[name])
        st_r, st_w = mem("state", lay[Region.NEURON_STATE].struct(), n, hold="same")
        post_r, post_w = mem("post", unsigned(tw), n, hold="same")
        pre_r, pre_w = mem("pre", unsigned(tw), s_n, hold="same")
        spk_r, spk_w = mem("spk", unsigned(1), s_n, hold="same")
        # exact per-neuron row sums (with inh_current the positive and the negative parts); with
        # one word per row (wpr = 1) back-to-back rows read the word written in the same cycle,
        # so it must be transparent; otherwise the word read is never the one being written
        acc_elem = signed(acc_w_bits)
        if cfg.inh_current:
            acc_elem = data.StructLayout({"exc": acc_elem, "inh": acc_elem})
        D = cfg.delay_bits
        ring_depth = wpr << D                   # accumulator words: one row of wpr per ring slot
        if not D:
            acc_r, acc_w = mem("acc", data.ArrayLayout(acc_elem, wpw), wpr,
                               hold=None if wpr == 1 else "same", transparent=wpr == 1)
        else:
            # delays: a ring of 2**D accumulator rows per neuron, one memory per lane (the lanes
            # of a weight word go to different slots), slot-major (word slot·wpr + k). The code
            # below drives acc_r/acc_w as for the single row (k = word of the current slot,
            # or the clear address); the ring ports add the slot (see "delay ring")
            acc_r = _Port(addr=Signal(range(ring_depth)),
                          data=Signal(data.ArrayLayout(acc_elem, wpw)))
            acc_w = _Port(addr=Signal(range(ring_depth)),
                          data=Signal(data.ArrayLayout(acc_elem, wpw)), en=Signal())
            ring = [mem(f"acc{i}", acc_elem, ring_depth, hold=None if wpr == 1 else "same",
                        transparent=wpr == 1) for i in range(wpw)]
        # per-neuron depression step of this tick, written lane by lane by the SCAN. The steps
        # (here and in plist) are held saturated at 2**W - 1, in W bits: a step of 2**W and one
        # of 2**W - 1 take every W-bit weight to the same end of the clip (numerics.md, clip),
        # and W-bit lanes pack two to a 16-bit EBR word on the UP5K (the words live in the
        # "flags" memory below)
        # With several rules the learner computes the steps itself: dep holds y_dec, a plist
        # entry the source's x (the trace, not the step)
        dep_lay = data.ArrayLayout(unsigned(tw if rules else ww), wpw)
        # this tick's lists: delivered sources (their row base address), sources listed for
        # potentiation (row base and step: POT needs no multiplier), fired words (word and its
        # fired lanes); and the sticky plastic-row flags (configuration, numerics.md step 6)
        # A row base is kept as base >> log2(wpr) when wpr is a power of two (the source index:
        # the low bits are zero), which saves the UP5K a block RAM per list
        row_sh = (wpr.bit_length() - 1) if wpr & (wpr - 1) == 0 else 0
        row_w = _bits(wdepth) - row_sh
        dl_layout = data.StructLayout({"row": unsigned(row_w), "plastic": unsigned(1)})
        dl_r, dl_w = mem("dlist", dl_layout, s_n, hold="write", attrs=list_ram_attrs(platform))
        pl_layout = data.StructLayout({"row": unsigned(row_w),
                                       "step": unsigned(tw if rules else ww)})
        pl_r, pl_w = mem("plist", pl_layout, s_n, hold="write")

        def row_base_of(entry):
            return Cat(Const(0, row_sh), entry.row) if row_sh else entry.row

        def held_step(step):
            """A ``W + 1``-bit step saturated to ``W`` bits (see ``dep`` above)."""
            return Mux(step[ww], 2 ** ww - 1, step[:ww])
        fw_layout = data.StructLayout({"word": unsigned(_bits(wpr)), "mask": unsigned(wpw)})
        # The depression steps, the fired-word list and the plastic-row flags share one memory
        # ("flags"): the steps, then (after ACC used them) the list, at words 0..wpr-1, the flags
        # after them, pf_pack to a word (flag_pack). No two are used at once at one address:
        # SCAN writes the steps and reads the flags, ACC reads the steps, SWEEP writes the list,
        # POT reads it, requests and RESET CONFIG write the flags. One EBR on the UP5K instead
        # of three. Writes have bit granularity with packed flags, else lane (W-bit) granularity.
        pf_pack = flag_pack(platform)
        dep_lw = dep_lay.elem_shape.width       # a lane of dep: a step (W) or a trace (rules)
        gran = 1 if pf_pack > 1 else dep_lw
        fl_width = -(-max(fw_layout.size, pf_pack, dep_lay.size) // gran) * gran
        chunks = fl_width // gran
        fl_r, fl_w = mem("flags", unsigned(fl_width), wpr + -(-s_n // pf_pack), hold="same",
                         granularity=gran)
        dep_r = _Port(addr=Signal(range(wpr)), data=dep_lay(fl_r.data[:dep_lay.size]))
        dep_w = _Port(addr=Signal(range(wpr)), data=Signal(dep_lay), en=Signal(wpw))
        fw_r = _Port(addr=Signal(range(wpr)), data=fw_layout(fl_r.data[:fw_layout.size]))
        fw_w = _Port(addr=Signal(range(wpr)), data=Signal(fw_layout), en=Signal())
        pf_r = _Port(addr=Signal(range(s_n)), data=Signal())
        pf_w = _Port(addr=Signal(range(s_n)), data=Signal(), en=Signal())
        if pf_pack > 1:
            pf_bit_d = Signal(range(pf_pack))   # the flag's bit in the word on fl_r.data
            m.d.sync += pf_bit_d.eq(pf_r.addr % pf_pack)
            m.d.comb += pf_r.data.eq(fl_r.data.bit_select(pf_bit_d, 1))
            pf_row, pf_en = pf_w.addr // pf_pack, Const(1, chunks) << (pf_w.addr % pf_pack)
        else:                                   # a flag per word, in its lowest chunk
            m.d.comb += pf_r.data.eq(fl_r.data[0])
            pf_row, pf_en = pf_w.addr, Const(1, chunks)
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

        # weight and plasticity stores, behind one uniform read/write view
        w_raddr = Signal(range(wdepth))
        w_waddr = Signal(range(wdepth))
        w_we = Signal()
        w_wdata = Signal(data.ArrayLayout(signed(ww), wpw))
        w_rdata = Signal(data.ArrayLayout(signed(ww), wpw))
        p_we = Signal()
        p_wdata = Signal(wpw * R)               # R bits a lane: the rule index (or the bit)
        p_rdata = Signal(wpw * R)
        if spram:
            factory = self.store_factory or SinglePortStore
            m.submodules.wstore = wst = BankedStore(wdepth, wpw * ww, row_words=wpr,
                                                    cell=factory, cell_words=self.cell_words)
            m.submodules.pstore = pst = factory(wdepth, wpw)
            # the walks only read the plasticity store: a (host) write owns its address port
            m.d.comb += [
                wst.raddr.eq(w_raddr), wst.waddr.eq(w_waddr), wst.we.eq(w_we),
                wst.wdata.eq(w_wdata), w_rdata.eq(wst.rdata),
                pst.addr.eq(Mux(p_we, w_waddr, w_raddr)), pst.we.eq(p_we),
                pst.wdata.eq(p_wdata), p_rdata.eq(pst.rdata),
            ]
        else:
            # the read address goes through a register (w_raddr_q): it fans out to every block
            # RAM of the stores, too far to follow a memory read and a multiplexer in one cycle.
            # The walks' data stage is one cycle later for it (the "q" tags below)
            w_raddr_q = Signal.like(w_raddr)
            m.d.sync += w_raddr_q.eq(w_raddr)
            m.submodules.wstore = wst = DualPortStore(wdepth, wpw * ww)
            m.submodules.pstore = pst = DualPortStore(wdepth, wpw * R)
            m.d.comb += [
                wst.raddr.eq(w_raddr_q), wst.waddr.eq(w_waddr), wst.we.eq(w_we),
                wst.wdata.eq(w_wdata), w_rdata.eq(wst.rdata),
                pst.raddr.eq(w_raddr_q), pst.waddr.eq(w_waddr), pst.we.eq(p_we),
                pst.wdata.eq(p_wdata), p_rdata.eq(pst.rdata),
            ]

        if D:   # per-synapse delays: a third store with the weights' addressing (read only)
            d_we = Signal()
            d_wdata = Signal(wpw * D)
            d_rdata = Signal(data.ArrayLayout(unsigned(D), wpw))
            if spram:
                m.submodules.dstore = dst = (self.store_factory or SinglePortStore)(wdepth,
                                                                                    wpw * D)
                m.d.comb += [dst.addr.eq(Mux(d_we, w_waddr, w_raddr)), dst.we.eq(d_we),
                             dst.wdata.eq(d_wdata), d_rdata.eq(dst.rdata)]
            else:
                m.submodules.dstore = dst = DualPortStore(wdepth, wpw * D)
                m.d.comb += [dst.raddr.eq(w_raddr_q), dst.waddr.eq(w_waddr), dst.we.eq(d_we),
                             dst.wdata.eq(d_wdata), d_rdata.eq(dst.rdata)]

        if rules:
            # one STDP_PARAMS word per rule; word 0's trace fields drive SCAN and the sweep
            rule_par = Signal(data.ArrayLayout(lay[Region.STDP_PARAMS].struct(), n_rules(cfg)))
            stdp = rule_par[0]
        else:
            stdp = Signal(lay[Region.STDP_PARAMS].struct())
        learn_en = Signal()     # the learning walks run: the enable bit (several rules: any)
        m.d.comb += learn_en.eq(Cat(*(rule_par[r].enable for r in range(n_rules(cfg)))).any()
                                if rules else stdp.enable)

        # -- datapath blocks --------------------------------------------------------------------
        m.submodules.update = upd = Update(cfg)
        if rules:
            assert RuleLearner.LATENCY == RULE_LATENCY
            m.submodules.learner = lrn = RuleLearner(cfg)
            m.submodules.rng = rng = Xorshift32(wpw)
        else:
            # dual: the learner's inputs come from the learn stage and its output is registered
            # (see "learn stage" below); spram writes in the data stage (the word after next
            # shares the cell: see BankedStore)
            m.submodules.learner = lrn = Learner(cfg, registered=not spram)
        # the queue holds only the bits a neuron number or the end marker's count (0..n) uses,
        # not the stream's 16: on the UP5K 10 bits a word fit one EBR, 17 needed two
        spk_bits = n.bit_length()
        # n + 1 entries, but at least 3: a Queue refuses a write while its RAM holds an entry
        # that is still moving to the output register, so with one neuron (RAM depth 1) the
        # end marker written the cycle after the spike was lost and the tick never ended
        m.submodules.fifo = sfifo = Queue(width=spk_bits + 1, depth=max(n + 1, 3))
        m.d.comb += [
            self.spikes.valid.eq(sfifo.r_rdy),
            self.spikes.payload.neuron.eq(sfifo.r_data[:spk_bits]),
            self.spikes.payload.end.eq(sfifo.r_data[spk_bits]),
            sfifo.r_en.eq(self.spikes.ready),
            upd.post_jump.eq(stdp.post_jump),
        ]
        if not rules:
            m.d.comb += [
                lrn.w_min.eq(stdp.w_min),
                lrn.w_max.eq(stdp.w_max),
            ]
        spk_elem = Signal(SpikeLayout)
        m.d.comb += sfifo.w_data.eq(Cat(spk_elem.neuron[:spk_bits], spk_elem.end))

        # -- registers --------------------------------------------------------------------------
        # busy cycles of the tick (at most tick_cycles_bound, so last_tick_cycles' upper bits
        # stay 0); a clear walks its addresses with the same counter
        clr_depth = max(wdepth, s_n, n, ring_depth)
        cyc = Signal(range(max(tick_cycles_bound(cfg, weight_store=self.weight_store),
                               clr_depth) + 1))
        more = Signal()                         # a walk still has elements to issue
        vd = Signal()                           # data stage valid (element issued last cycle;
                                                # the dual store's walks: see the "q" tags)
        last_d = Signal()                       # ... and it was the walk's last element
        idx = Signal(range(max(s_n, n) + 1))    # source / neuron index of the walk
        base = Signal(range(wdepth + wpr))      # weight address of the current row / column
        k = Signal(_bits(wpr))                  # word within the row
        lane = Signal(_bits(wpw))               # lane within the word (sweep)
        left = Signal(range(max(s_n, n) + 1))   # rows / columns still to walk
        ptr = Signal(range(max(s_n, n) + 1))    # next list entry to fetch
        nd = Signal(range(s_n + 1))             # delivered sources this tick
        nf = Signal(range(n + 1))               # fired neurons this tick
        idx_d = Signal.like(idx)
        a_d = Signal.like(w_waddr)
        k_d = Signal.like(k)
        flag_r, flag_d, flag_e = Signal(), Signal(), Signal()   # the row is plastic: issue,
                                                # data stage, learn stage (dual)
        nl = Signal(range(s_n + 1))             # sources listed for potentiation this tick
        nw = Signal(range(wpr + 1))             # fired words this tick
        fp = Signal(_bits(wpr))                 # POT: the fired-word entry on fw_r.data
        mask_d = Signal(wpw)                    # POT data stage: fired lanes, step
        pot_d = Signal(tw if rules else ww + 1)     # (several rules: the source's x)
        fmask = Signal(wpw)                     # SWEEP: fired lanes of the current word so far
        # SCAN's second stage (the trace decays' products registered): valid, last, the source,
        # its spike and flag, its row
        vp, last_p, hit_p, flag_p = Signal(), Signal(), Signal(), Signal()
        idx_p = Signal.like(idx)
        base_p = Signal.like(base)
        # ... its third (the step products): valid, last, the new traces, the source's row
        vs, last_s, nrn_s, flag_s = Signal(), Signal(), Signal(), Signal()
        x_s, y_s = Signal(tw), Signal(tw)
        base_s = Signal.like(base)
        # ... and its fourth (the lists): the same tags with the held steps
        vt, last_t, nrn_t, flag_t = Signal(), Signal(), Signal(), Signal()
        # the held steps, or with several rules the traces (the rule learner makes the steps)
        pot_t, dep_t = Signal(tw if rules else ww), Signal(tw if rules else ww)
        listed_t = Signal()                     # the source is listed for POT
        base_t = Signal.like(base)
        # sweep pipeline tags: stage 1 (memory data), and as v2, j2, ... the same tags
        # Update.LATENCY cycles later, with Update's outputs (the write-back stage)
        v1 = Signal()
        j1 = Signal(_bits(n))
        k1 = Signal.like(k)
        l1 = Signal.like(lane)
        last1, lastlane1 = Signal(), Signal()
        v2, j2, k2, l2, last2, lastlane2 = _delayed(m, Update.LATENCY,
                                                    v1, j1, k1, l1, last1, lastlane1)
        # memory requests
        rsp_valid = Signal()
        rsp_data = Signal(self.DATA_W)
        rd_region = Signal(4)
        rd_addr = Signal(self.ADDR_W)
        clr_flags = Signal(3)
        G = cfg.stdp_frac
        if rules:
            lrn_valid, pot_walk = Signal(), Signal()    # the learner takes a word; in POT
            drain = Signal(range(RULE_LATENCY))         # POT_DRAIN's clock
            learn_word = Signal(32)                     # LEARN word 1 (m in bits 0..15)
            # per rule: x * a_plus >= 2^G iff x > thr (thr = (2^G - 1) // a_plus, see DIV)
            thr = Signal(data.ArrayLayout(unsigned(max(G, 1)), n_rules(cfg)))
            div_r = Signal(R)
            div_a = Signal(16)
            div_rem = Signal(17)                        # < a_plus after each step
            div_q = Signal(max(G, 1))
            div_n = Signal(range(max(G, 1)))
            req_stdp = lay[Region.STDP_PARAMS].struct()(
                self.mem_req.payload.data[:lay[Region.STDP_PARAMS].struct().size])

            def listed_by_rules(x):
                """numerics.md step 6 with rules: some enabled rule has x * a_plus != 0 and,
                unless it is stochastic or modulated, x * a_plus >= 2^G."""
                return Cat(*(
                    p.enable & (x != 0) & (p.a_plus != 0) & (p.stochastic | p.modulated |
                                                             (x > thr[r]))
                    for r, p in ((r, rule_par[r]) for r in range(n_rules(cfg))))).any()

        m.d.comb += [
            self.mem_rsp.valid.eq(rsp_valid),
            self.mem_rsp.payload.eq(rsp_data),
        ]
        with m.If(self.mem_rsp.valid & self.mem_rsp.ready):
            m.d.sync += rsp_valid.eq(0)
        m.d.sync += [vd.eq(0), vp.eq(0), vs.eq(0), vt.eq(0), v1.eq(0)]
        wb, wb_addr = Signal(), Signal.like(w_waddr)    # dual: the word's learn stage
        m.d.sync += wb.eq(0)

        # The walks' (ACC, POT) data stage, where the weight word read is on w_rdata: the issue
        # sets the "d" tags; spram reads in one cycle, so they are the data stage's; the dual
        # store's registered read address makes it one cycle later, with the "q" tags
        walk_tags = (vd, k_d, a_d, flag_d, last_d, mask_d, pot_d)
        vq, k_q, a_q, flag_q, last_q, mask_q, pot_q = (walk_tags if spram
                                                       else _delayed(m, 1, *walk_tags))

        # -- learn stage (dual store) -----------------------------------------------------------
        # The learner takes its inputs from registers loaded in the data stage, so no path runs
        # from the weight store's block RAM (its read data, through the read-during-write bypass
        # Yosys builds for the dual port) into the learner's adders and clips; its output is a
        # register too, so a word is written back two cycles after its data stage (nothing waits
        # for it: no walk reads a word twice). The walks end a cycle later (ACC: the
        # accumulators add in this stage too; POT: its last word's write lands in FINISH).
        # spram: the learner works in the data stage, which writes the word back.
        def learn_stage(value, name):
            if spram:
                return value
            reg = Signal.like(value, name=f"{name}_l")
            m.d.sync += reg.eq(value)
            return reg
        potentiate = Signal()                   # data stage: the word is potentiated (POT)
        # the weight word one stage after its data: the accumulate stage of the delay ring and
        # of the dual store, and the learn stage
        w_e = Signal(data.ArrayLayout(signed(ww), wpw)) if D or not spram else w_rdata
        if w_e is not w_rdata:
            m.d.sync += w_e.eq(w_rdata)
        p_l, dep_l = learn_stage(p_rdata, "p"), learn_stage(dep_r.data, "dep")
        mask_l, pot_l = learn_stage(mask_q, "mask"), learn_stage(pot_q, "pot")
        m.d.comb += lrn.w.eq(w_rdata if spram else w_e)
        if not rules:
            m.d.comb += [lrn.p.eq(p_l), *[lrn.dep[i].eq(dep_l[i]) for i in range(wpw)],
                         lrn.mask.eq(mask_l), lrn.pot.eq(pot_l),
                         lrn.potentiate.eq(learn_stage(potentiate, "potentiate"))]

        def learn_write(addr):
            """Write the learner's word for ``addr`` (this cycle's data) back: now (spram) or
            two cycles later, after the learn stage (dual)."""
            if spram:
                m.d.comb += [w_waddr.eq(addr), w_we.eq(1)]
            else:
                m.d.sync += [wb.eq(1), wb_addr.eq(addr)]

        # lanes of a row's last word past neuron n-1 read as 0 and ignore writes
        full = (1 << wpw) - 1
        tail = (1 << (n - (wpr - 1) * wpw)) - 1

        def lane_mask(addr):
            if n % wpw == 0:
                return Const(full, wpw)
            return Mux(addr % wpr == wpr - 1, tail, full)

        def weight_lanes(value, mask, width=ww):
            return Cat(*(Mux(mask[i], value[i * width:(i + 1) * width], 0) for i in range(wpw)))

        req = self.mem_req.payload
        ack = self.mem_req.valid & self.mem_req.ready

        # Write data and datapath inputs are driven unconditionally (flat two-level muxes keyed
        # by state flags) rather than per FSM state: a port's data only matters while its
        # enable is set, and per-state assignment would gate every bit with the state decode
        # (about a LUT per bit of the 83-bit parameter bus alone).
        idle, clearing, scanning = Signal(), Signal(), Signal()
        # the shared flags memory's read port: SCAN reads the flags, POT the fired-word list
        m.d.comb += fl_r.addr.eq(Mux(scanning, wpr + (pf_r.addr // pf_pack if pf_pack > 1
                                                      else pf_r.addr),
                                     fw_r.addr | dep_r.addr))
        ring_acc, tick_end = Signal(), Signal()     # in ACC (delay ring, dual); FINISH
        ve, last_e = Signal(), Signal()             # ACC's accumulate stage (ring, dual)
        k_e = Signal.like(k)
        vp_e = Signal()                             # POT's learn stage (dual)
        m.d.sync += [ve.eq(vq & ring_acc), last_e.eq(last_q), flag_e.eq(flag_q), k_e.eq(k_q),
                     vp_e.eq(0)]

        def acc_add(dst, old, w):
            """``dst := old + w`` for one lane; with inh_current the sign bit picks the
            accumulator."""
            if cfg.inh_current:
                return [dst.exc.eq(old.exc + Mux(w[-1], 0, w)),
                        dst.inh.eq(old.inh + Mux(w[-1], w, 0))]
            return [dst.eq(old + w)]
        # step 3, in SCAN: the decays' products end in a register (in the DSP block on ECP5),
        # the truncation, the pre jump and the saturation follow a stage later
        x_prod = pre_r.data * stdp.alpha_pre
        y_prod = post_r.data * stdp.alpha_post
        x_prod_p, y_prod_p = Signal(x_prod.shape()), Signal(y_prod.shape())
        x_new = satu(trunc_shift(x_prod_p, frac) + Mux(hit_p, stdp.pre_jump, 0), tw)
        y_dec = satu(trunc_shift(y_prod_p, frac), tw)
        # the response word of a read, selected by the region latched with the request
        word = Signal(self.DATA_W)
        with m.Switch(rd_region):
            with m.Case(Region.NEURON_PARAMS):
                m.d.comb += word.eq(par_word)
            with m.Case(Region.NEURON_STATE):
                m.d.comb += word.eq(st_r.data)
            with m.Case(Region.WEIGHTS):
                m.d.comb += word.eq(weight_lanes(w_rdata, lane_mask(rd_addr)))
            with m.Case(Region.PLASTIC):
                m.d.comb += word.eq(weight_lanes(p_rdata, lane_mask(rd_addr), R))
            with m.Case(Region.PRE_TRACE):
                m.d.comb += word.eq(pre_r.data)
            with m.Case(Region.POST_TRACE):
                m.d.comb += word.eq(post_r.data)
            with m.Case(Region.STDP_PARAMS):
                m.d.comb += word.eq(rule_par[rd_addr] if rules else stdp)
            if rules:
                with m.Case(Region.LEARN):
                    m.d.comb += word.eq(Mux(rd_addr[0], learn_word, rng.state))
            with m.Case(Region.SPIKES):
                m.d.comb += word.eq(spk_r.data)
            if D:
                with m.Case(Region.DELAYS):
                    m.d.comb += word.eq(Cat(*(Mux(lane_mask(rd_addr)[i], d_rdata[i], 0)
                                              for i in range(wpw))))
        m.d.comb += [
            par_w.data.eq(Mux(clearing, 0, Cat(*(req_par[name] for name, _ in rest_lay)))),
            am_w.data.eq(Mux(clearing, 0, Cat(*(req_par[name] for name, _ in s1_lay)))),
            st_w.data.eq(Mux(clearing, 0, Mux(idle, req.data, upd.st_new))),
            post_w.data.eq(Mux(clearing, 0, Mux(idle, req.data, Mux(scanning, y_dec,
                                                                     upd.y_new)))),
            pf_w.data.eq(~clearing),
            w_wdata.eq(Mux(clearing, 0, Mux(idle, weight_lanes(req.data, lane_mask(req.addr)),
                                            lrn.w_new))),
            p_wdata.eq(Mux(clearing, 0, weight_lanes(req.data, lane_mask(req.addr), R))),
            pre_w.data.eq(Mux(clearing, 0, Mux(idle, req.data, x_new))),
            upd.i_valid.eq(v1), upd.par.eq(par_word), upd.alpha_mem.eq(am_r.data.alpha_mem),
            upd.st.eq(st_r.data), upd.y.eq(post_r.data),
        ]
        if D:       # delay lanes past the last neuron are masked like the weights
            m.d.comb += d_wdata.eq(Mux(clearing, 0, Cat(*(
                Mux(lane_mask(req.addr)[i], req.data[i * D:(i + 1) * D], 0)
                for i in range(wpw)))))
        if cfg.inh_current:
            m.d.comb += [upd.acc.eq(acc_r.data[l1].exc), upd.acc_inh.eq(acc_r.data[l1].inh)]
        else:
            m.d.comb += upd.acc.eq(acc_r.data[l1])
        if cfg.theta_width:
            m.d.comb += upd.alpha_theta.eq(am_r.data.alpha_theta)

        # The clear walk's address counts up from 0 by one per cycle, so comparisons with
        # constants need no carry chains: it first has all the 1-bits of c exactly at c, and
        # "below c" is a flag that drops there (or the zero high bits, for a power of two).
        def reached(c):
            return (cyc & c) == c

        def clr_below(c):
            if c & (c - 1) == 0:
                return cyc[c.bit_length() - 1:] == 0
            flag = Signal(init=1, name=f"clr_below_{c}")
            with m.If(idle):
                m.d.sync += flag.eq(1)
            with m.Elif(clearing & reached(c - 1)):
                m.d.sync += flag.eq(0)
            return flag

        below = {c: clr_below(c) for c in {n, s_n, ring_depth, wdepth}}

        with m.FSM():
            # ---------------------------------------------------------------- idle / requests
            with m.State("IDLE"):
                m.d.comb += idle.eq(1)
                m.d.comb += self.mem_req.ready.eq(~rsp_valid & (self.start == 0) &
                                                  (self.clear == 0))
                with m.If(self.clear != 0):
                    with m.If(self.clear & _COUNTERS):
                        m.d.sync += [self.ticks.eq(0), self.spike_count.eq(0),
                                     self.syn_events.eq(0), self.last_tick_cycles.eq(0)]
                    with m.If(self.clear & _CONFIG):
                        if rules:       # the rules and both LEARN words
                            m.d.sync += [rule_par.eq(0), learn_word.eq(0)]
                            m.d.comb += [rng.load.eq(1), rng.seed.eq(0)]
                        else:
                            m.d.sync += stdp.eq(0)
                    m.d.sync += [clr_flags.eq(self.clear), cyc.eq(0)]
                    with m.If(self.clear & (_STATE | _CONFIG)):
                        m.next = "CLR"
                    with m.Else():
                        m.next = "CLR_DONE"
                with m.Elif(self.start):
                    m.d.sync += [cyc.eq(0), idx.eq(0), base.eq(0), nd.eq(0), nf.eq(0),
                                 more.eq(1), k.eq(0), lane.eq(0), nl.eq(0), nw.eq(0),
                                 fmask.eq(0)]
                    m.next = "SCAN"
                with m.Elif(ack):
                    a = req.addr
                    with m.If(req.write):
                        m.d.sync += [rsp_valid.eq(1), rsp_data.eq(0)]
                        with m.Switch(req.region):
                            with m.Case(Region.NEURON_PARAMS):
                                m.d.comb += [par_w.addr.eq(a), par_w.en.eq(1)]
                            with m.Case(Region.NEURON_STATE):
                                m.d.comb += [st_w.addr.eq(a), st_w.en.eq(1)]
                            with m.Case(Region.WEIGHTS):
                                m.d.comb += [w_waddr.eq(a), w_we.eq(1)]
                                # spram: the plasticity store sees the same address, read only
                            with m.Case(Region.PLASTIC):
                                # a non-zero lane flags the row (sticky, numerics.md step 6)
                                # a // wpr as a product (a divider is the 25F's worst path)
                                row = div_const(a, wpr, wdepth - 1)
                                m.d.comb += [w_waddr.eq(a), p_we.eq(1), pf_w.addr.eq(row),
                                             pf_w.en.eq(weight_lanes(req.data, lane_mask(a),
                                                                     R).any())]
                            with m.Case(Region.PRE_TRACE):
                                m.d.comb += [pre_w.addr.eq(a), pre_w.en.eq(1)]
                            with m.Case(Region.POST_TRACE):
                                m.d.comb += [post_w.addr.eq(a), post_w.en.eq(1)]
                            with m.Case(Region.STDP_PARAMS):
                                if rules:
                                    m.d.sync += rule_par[a].eq(req.data)
                                    if G:   # the rule's listing threshold, then the response
                                        m.d.sync += [rsp_valid.eq(0), div_r.eq(a),
                                                     div_a.eq(req_stdp.a_plus), div_rem.eq(0),
                                                     div_n.eq(0)]
                                        m.next = "DIV"
                                else:
                                    m.d.sync += stdp.eq(req.data)
                            if rules:
                                with m.Case(Region.LEARN):
                                    with m.If(a[0]):
                                        m.d.sync += learn_word.eq(req.data[:32])
                                    with m.Else():
                                        m.d.comb += [rng.load.eq(1), rng.seed.eq(req.data[:32])]
                            with m.Case(Region.SPIKES):
                                m.d.comb += [spk_w.addr.eq(a), spk_w.data.eq(req.data[0]),
                                             spk_w.en.eq(1)]
                            if D:
                                with m.Case(Region.DELAYS):
                                    m.d.comb += [w_waddr.eq(a), d_we.eq(1)]
                    with m.Else():
                        m.d.comb += [par_r.addr.eq(a), am_r.addr.eq(a), st_r.addr.eq(a),
                                     post_r.addr.eq(a),
                                     pre_r.addr.eq(a), spk_r.addr.eq(a), w_raddr.eq(a)]
                        m.d.sync += [rd_region.eq(req.region), rd_addr.eq(a)]
                        m.next = "MEM_RD" if spram else "MEM_ADDR"

            if not spram:
                # the weight stores' read address register: the other memories read again
                with m.State("MEM_ADDR"):
                    m.d.comb += [par_r.addr.eq(rd_addr), am_r.addr.eq(rd_addr),
                                 st_r.addr.eq(rd_addr), post_r.addr.eq(rd_addr),
                                 pre_r.addr.eq(rd_addr), spk_r.addr.eq(rd_addr)]
                    m.next = "MEM_RD"

            with m.State("MEM_RD"):
                m.d.sync += [rsp_valid.eq(1), rsp_data.eq(word)]
                m.next = "IDLE"

            if rules and G:
                # the listing threshold of the rule just written: thr = (2^G - 1) // a_plus,
                # one restoring-division bit a clock (the dividend's bits are all ones), so
                # that SCAN tests x * a_plus >= 2^G as x > thr with no multiplier. The write's
                # response waits for it (a tick cannot start in between)
                with m.State("DIV"):
                    trial = Cat(Const(1, 1), div_rem)              # rem * 2 + 1
                    fits = trial >= div_a
                    m.d.sync += [div_rem.eq(Mux(fits, trial - div_a, trial)),
                                 div_q.eq(Cat(fits, div_q[:-1])), div_n.eq(div_n + 1)]
                    with m.If(div_n == G - 1):
                        m.d.sync += [thr[div_r].eq(Cat(fits, div_q[:-1])), rsp_valid.eq(1)]
                        m.next = "IDLE"

            # ---------------------------------------------------------------- clear
            with m.State("CLR"):
                m.d.comb += [self.busy.eq(1), clearing.eq(1)]
                ca = cyc                # clear address (cyc counts the busy CLR cycles)
                with m.If(clr_flags & _STATE):
                    m.d.comb += [
                        st_w.addr.eq(ca), st_w.en.eq(below[n]),
                        post_w.addr.eq(ca), post_w.en.eq(below[n]),
                        pre_w.addr.eq(ca), pre_w.en.eq(below[s_n]),
                        spk_w.addr.eq(ca), spk_w.data.eq(0), spk_w.en.eq(below[s_n]),
                        acc_w.addr.eq(ca), acc_w.data.eq(0), acc_w.en.eq(below[ring_depth]),
                    ]
                with m.If(clr_flags & _CONFIG):
                    m.d.comb += [
                        par_w.addr.eq(ca), par_w.en.eq(below[n]),
                        w_waddr.eq(ca), w_we.eq(below[wdepth]),
                        p_we.eq(below[wdepth]),
                        pf_w.addr.eq(ca), pf_w.en.eq(below[s_n]),
                    ]
                    if D:
                        m.d.comb += d_we.eq(below[wdepth])
                with m.If(Mux(clr_flags & _CONFIG, reached(max(wdepth, n, ring_depth) - 1),
                              reached(max(n, s_n, ring_depth) - 1))):
                    m.next = "CLR_DONE"

            with m.State("CLR_DONE"):
                m.d.comb += [self.busy.eq(1), self.done.eq(1)]
                m.next = "IDLE"

            # ---------------------------------------------------------------- tick: SCAN
            with m.State("SCAN"):
                m.d.comb += [self.busy.eq(1), scanning.eq(1)]
                with m.If(more):
                    m.d.comb += [spk_r.addr.eq(idx), pre_r.addr.eq(idx), pf_r.addr.eq(idx),
                                 post_r.addr.eq(idx - mi)]
                    m.d.sync += [vd.eq(1), idx_d.eq(idx),
                                 last_d.eq(idx == s_n - 1),
                                 idx.eq(idx + 1)]
                    with m.If(idx == s_n - 1):
                        m.d.sync += more.eq(0)
                hit = spk_r.data[0]
                with m.If(vd):
                    # base advances with the data stage: the row base of source idx_d
                    m.d.sync += base.eq(base + wpr)
                    with m.If(idx_d < mi):     # injected inputs are consumed
                        m.d.comb += [spk_w.addr.eq(idx_d), spk_w.data.eq(0), spk_w.en.eq(1)]
                    with m.If(hit):
                        m.d.comb += [dl_w.addr.eq(nd), dl_w.data.row.eq(base[row_sh:]),
                                     dl_w.data.plastic.eq(pf_r.data), dl_w.en.eq(1)]
                        m.d.sync += [nd.eq(nd + 1), self.syn_events.eq(self.syn_events + n)]
                    m.d.sync += [vp.eq(1), last_p.eq(last_d), idx_p.eq(idx_d), hit_p.eq(hit),
                                 flag_p.eq(pf_r.data), base_p.eq(base),
                                 x_prod_p.eq(x_prod), y_prod_p.eq(y_prod)]
                # stage 2: the new traces are written back (a neuron's post trace decays,
                # step 3)
                with m.If(vp):
                    m.d.comb += [pre_w.addr.eq(idx_p), pre_w.en.eq(1)]
                    with m.If(idx_p >= mi):
                        m.d.comb += [post_w.addr.eq(idx_p - mi), post_w.en.eq(1)]
                    m.d.sync += [vs.eq(1), last_s.eq(last_p), x_s.eq(x_new), y_s.eq(y_dec),
                                 nrn_s.eq(idx_p >= mi), flag_s.eq(flag_p), base_s.eq(base_p)]
                # stage 3: the steps (products registered); stage 4: a plastic row with a
                # non-zero potentiation step is listed for POT (with its step); a neuron's
                # depression step goes into its lane of the dep word, which the accumulation
                # pass applies (k, lane count the neurons). A held step is 0 only when the
                # step is.
                with m.If(vs):
                    if rules:   # the learner computes the steps: dep takes y, plist x
                        pot, pot_listed, dep = x_s, listed_by_rules(x_s), y_s
                    else:
                        pot = held_step(scale_sat(x_s, stdp.a_plus, cfg.stdp_frac, ww))
                        pot_listed = pot != 0
                        dep = held_step(scale_sat(y_s, stdp.a_minus, cfg.stdp_frac, ww))
                    m.d.sync += [
                        vt.eq(1), last_t.eq(last_s), nrn_t.eq(nrn_s), flag_t.eq(flag_s),
                        base_t.eq(base_s), pot_t.eq(pot), listed_t.eq(pot_listed),
                        dep_t.eq(dep)]
                with m.If(vt):
                    with m.If(nrn_t):
                        m.d.comb += [dep_w.addr.eq(k), dep_w.data.eq(Cat(*([dep_t] * wpw))),
                                     dep_w.en.eq(Const(1, wpw) << lane)]
                        with m.If(lane == wpw - 1):
                            m.d.sync += [lane.eq(0), k.eq(k + 1)]
                        with m.Else():
                            m.d.sync += lane.eq(lane + 1)
                    with m.If(flag_t & listed_t):
                        m.d.comb += [pl_w.addr.eq(nl), pl_w.data.row.eq(base_t[row_sh:]),
                                     pl_w.data.step.eq(pot_t), pl_w.en.eq(1)]
                        m.d.sync += nl.eq(nl + 1)
                    with m.If(last_t):
                        with m.If(nd != 0):
                            m.next = "ACC_PRE"
                        with m.Else():
                            m.next = "SWEEP_PRE"

            # the row walk over the delivered list (ACC, with depression on the way)
            row_flag_now = Mux(k == 0, dl_r.data.plastic, flag_r)     # of the word to issue

            # the weight address of the word to issue next
            row_base = Mux(k == 0, row_base_of(dl_r.data), base)
            row_addr = Signal.like(w_raddr)
            if wpr & (wpr - 1) == 0:            # rows are aligned: no carries to add k
                m.d.comb += row_addr.eq(Cat(k, row_base[len(k):]) if wpr > 1 else row_base)
            else:
                m.d.comb += row_addr.eq(row_base + k)

            def row_issue(issue):
                """Issue the next word of the delivered rows (``row_addr``) when ``issue``."""
                m.d.comb += dl_r.addr.eq(Mux(issue & (k == 0), ptr + 1, ptr))
                with m.If(issue):
                    m.d.comb += w_raddr.eq(row_addr)
                    if spram:   # dual: dep a cycle later, the accumulators in the data stage
                        m.d.comb += [acc_r.addr.eq(k), dep_r.addr.eq(k)]
                    m.d.sync += [vd.eq(1), k_d.eq(k), a_d.eq(row_addr), flag_d.eq(row_flag_now),
                                 last_d.eq((left == 1) & (k == wpr - 1))]
                    with m.If(k == 0):
                        m.d.sync += [base.eq(row_base_of(dl_r.data)), flag_r.eq(dl_r.data.plastic),
                                     ptr.eq(ptr + 1)]
                    with m.If(k == wpr - 1):
                        m.d.sync += [k.eq(0), left.eq(left - 1)]
                        with m.If(left == 1):
                            m.d.sync += more.eq(0)
                    with m.Else():
                        m.d.sync += k.eq(k + 1)

            def row_pre(next_state):
                m.d.comb += [self.busy.eq(1), dl_r.addr.eq(0)]
                m.d.sync += [ptr.eq(0), k.eq(0), left.eq(nd), more.eq(1)]
                m.next = next_state

            # ---------------------------------------------------------------- tick: ACC
            with m.State("ACC_PRE"):
                row_pre("ACC")

            with m.State("ACC"):
                m.d.comb += self.busy.eq(1)
                # depression (step 4) on the way, on the words of plastic rows (a row without
                # a plastic synapse would be written back unchanged): word k is written while
                # word k + 1 is read; spram: in the data stage, and the read waits a clock when
                # its cell is the one being written
                if spram:
                    row_issue(more & ~(vd & learn_en & flag_d &
                                       (wst.cell_of(row_addr) == wst.cell_of(a_d))))
                else:
                    row_issue(more)
                if not spram:
                    with m.If(vd):      # the dep word arrives with the weight word
                        m.d.comb += dep_r.addr.eq(k_d)
                if rules:   # every word of every delivered row takes its draws
                    m.d.comb += lrn_valid.eq(vq & learn_en)
                else:
                    with m.If(vq & learn_en & flag_q):
                        learn_write(a_q)
                if not D and spram:     # one accumulator row: add in the data stage
                    with m.If(vd):
                        m.d.comb += [acc_w.addr.eq(k_d), acc_w.en.eq(1)]
                        for i in range(wpw):
                            m.d.comb += acc_add(acc_w.data[i], acc_r.data[i], w_rdata[i])
                    fin = vd & last_d
                else:   # the ring and the dual store add one stage later (w_e, "learn stage")
                    m.d.comb += ring_acc.eq(1)
                    fin = ve & last_e
                    if not D:           # one accumulator row, read in the data stage
                        with m.If(vq):
                            m.d.comb += acc_r.addr.eq(k_q)
                        with m.If(ve):
                            m.d.comb += [acc_w.addr.eq(k_e), acc_w.en.eq(1)]
                            for i in range(wpw):
                                m.d.comb += acc_add(acc_w.data[i], acc_r.data[i], w_e[i])
                # the last word is written in its data stage (spram) or after its learn stage
                # (dual: in SWEEP_PRE), when nothing reads the weights
                with m.If(fin):
                    m.next = "SWEEP_PRE"

            # ---------------------------------------------------------------- tick: SWEEP
            with m.State("SWEEP_PRE"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [idx.eq(0), k.eq(0), lane.eq(0), more.eq(1)]
                m.next = "SWEEP"

            with m.State("SWEEP"):
                m.d.comb += self.busy.eq(1)
                with m.If(more):
                    m.d.comb += [am_r.addr.eq(idx), st_r.addr.eq(idx), post_r.addr.eq(idx),
                                 acc_r.addr.eq(k)]
                    m.d.sync += [v1.eq(1), j1.eq(idx), k1.eq(k), l1.eq(lane),
                                 last1.eq(idx == n - 1),
                                 lastlane1.eq((lane == wpw - 1) | (idx == n - 1)),
                                 idx.eq(idx + 1)]
                    with m.If(lane == wpw - 1):
                        m.d.sync += [lane.eq(0), k.eq(k + 1)]
                    with m.Else():
                        m.d.sync += lane.eq(lane + 1)
                    with m.If(idx == n - 1):
                        m.d.sync += more.eq(0)
                # stage 1: memory data into the update pipeline (Update's inputs are wired to
                # the memories outside the FSM); the parameters of stage 2 are read now
                m.d.comb += par_r.addr.eq(j1)
                # Update.LATENCY cycles later (the "2" tags): write back, spikes out
                with m.If(v2):
                    fire = upd.fire
                    m.d.comb += [
                        st_w.addr.eq(j2), st_w.en.eq(1),
                        post_w.addr.eq(j2), post_w.en.eq(1),
                        spk_w.addr.eq(j2 + mi), spk_w.data.eq(fire), spk_w.en.eq(1),
                    ]
                    # the fired words (ascending) with their fired lanes, for POT
                    lanes_now = Signal(wpw)
                    m.d.comb += lanes_now.eq(fmask | Mux(fire, Const(1, wpw) << l2, 0))
                    m.d.sync += fmask.eq(lanes_now)
                    with m.If(lastlane2):     # the accumulators start the next tick at zero
                        m.d.comb += [acc_w.addr.eq(k2), acc_w.data.eq(0), acc_w.en.eq(1)]
                        m.d.sync += fmask.eq(0)
                        with m.If(lanes_now != 0):
                            m.d.comb += [fw_w.addr.eq(nw), fw_w.data.word.eq(k2),
                                         fw_w.data.mask.eq(lanes_now), fw_w.en.eq(1)]
                            m.d.sync += nw.eq(nw + 1)
                    with m.If(fire):
                        m.d.comb += [spk_elem.neuron.eq(j2), sfifo.w_en.eq(1)]
                        m.d.sync += nf.eq(nf + 1)
                    with m.If(last2):
                        m.next = "SPK_END"

            with m.State("SPK_END"):
                m.d.comb += [self.busy.eq(1), spk_elem.neuron.eq(nf), spk_elem.end.eq(1),
                             sfifo.w_en.eq(1)]
                m.d.sync += self.spike_count.eq(self.spike_count + nf)
                with m.If(learn_en & (nl != 0) & (nw != 0)):
                    m.next = "POT_PRE"
                with m.Else():
                    m.next = "FINISH"

            # ---------------------------------------------------------------- tick: POT
            # listed sources (ascending) x fired words (ascending): one read-modify-write per
            # word, every fired plastic lane potentiated by the source's step. fw_r.data holds
            # entry fp and pl_r.data entry ptr; each issue presents the next pair's addresses.
            # Row-major (fired words inner) on the dual store; column-major (listed sources
            # inner) on the banked spram store, where the same word of consecutive rows lies
            # in different cells, so the read of the next word rarely waits for the write of
            # the last (the order changes no result: each word is updated once)
            inner, inner_r, n_inner, outer, outer_r, n_outer = (
                (ptr, pl_r, nl, fp, fw_r, nw) if spram else (fp, fw_r, nw, ptr, pl_r, nl))
            with m.State("POT_PRE"):
                m.d.comb += [self.busy.eq(1), pl_r.addr.eq(0), fw_r.addr.eq(0)]
                m.d.sync += [ptr.eq(0), fp.eq(0), left.eq(n_outer), more.eq(1)]
                m.next = "POT"

            with m.State("POT"):
                m.d.comb += self.busy.eq(1)
                wrap = inner == n_inner - 1
                # rows are aligned when wpr is a power of two: no carries to add the word
                addr = Signal.like(w_raddr)
                m.d.comb += addr.eq(Cat(fw_r.data.word, pl_r.data.row) if row_sh
                                    else row_base_of(pl_r.data) + fw_r.data.word)
                issue = (more & ~(vd & (wst.cell_of(addr) == wst.cell_of(a_d)))) if spram \
                    else more
                m.d.comb += [fw_r.addr.eq(fp), pl_r.addr.eq(ptr)]
                with m.If(issue):
                    m.d.comb += w_raddr.eq(addr)
                    m.d.sync += [vd.eq(1), a_d.eq(addr), mask_d.eq(fw_r.data.mask),
                                 pot_d.eq(pl_r.data.step), last_d.eq((left == 1) & wrap)]
                    with m.If(wrap):
                        m.d.comb += [inner_r.addr.eq(0), outer_r.addr.eq(outer + 1)]
                        m.d.sync += [inner.eq(0), outer.eq(outer + 1), left.eq(left - 1)]
                        with m.If(left == 1):
                            m.d.sync += more.eq(0)
                    with m.Else():
                        m.d.comb += inner_r.addr.eq(inner + 1)
                        m.d.sync += inner.eq(inner + 1)
                with m.If(vq):
                    if rules:
                        m.d.comb += [lrn_valid.eq(1), pot_walk.eq(1)]
                    else:
                        m.d.comb += potentiate.eq(1)
                        learn_write(a_q)
                    if not spram:
                        m.d.sync += vp_e.eq(1)
                # dual: the walk ends with its last word's learn stage
                with m.If((vd & last_d) if spram else (vp_e & last_e)):
                    m.next = "POT_DRAIN" if rules else "FINISH"

            if rules:
                # the learner's last RULE_LATENCY writes land before anything reads the store
                # again (FINISH, then a host read or the next tick)
                with m.State("POT_DRAIN"):
                    m.d.comb += self.busy.eq(1)
                    m.d.sync += drain.eq(drain + 1)
                    with m.If(drain == RULE_LATENCY - 1):
                        m.d.sync += drain.eq(0)
                        m.next = "FINISH"

            with m.State("FINISH"):
                m.d.comb += [self.busy.eq(1), self.done.eq(1), tick_end.eq(1)]
                m.d.sync += [self.ticks.eq(self.ticks + 1), self.last_tick_cycles.eq(cyc + 1)]
                m.next = "IDLE"

        if rules:
            # the rule learner: fed in the data stage of ACC (depression, every lane, base y of
            # each lane's neuron) and POT (the fired lanes, base the row's x); the generator
            # gives wpw draws per visited word, exactly while the learner takes one
            # (numerics.md, "Order of draws"). The write address and enable travel beside it
            # (from the learn stage, one cycle after the data stage: the store is dual)
            valid_l, pot_walk_l = learn_stage(lrn_valid, "lrn_valid"), learn_stage(pot_walk,
                                                                                    "pot_walk")
            m.d.comb += [
                lrn.valid.eq(valid_l), lrn.potentiate.eq(pot_walk_l),
                lrn.rule.eq(p_l),
                lrn.mask.eq(Mux(pot_walk_l, mask_l, (1 << wpw) - 1)),
                *[lrn.base[i].eq(Mux(pot_walk_l, pot_l, dep_l[i])) for i in range(wpw)],
                lrn.draws.eq(rng.draws), lrn.m.eq(learn_word[:M_WIDTH]),
                lrn.params.eq(rule_par),
                rng.count.eq(Mux(valid_l, wpw, 0)),
            ]
            wr_en = Signal()            # the word is written back: POT, or a plastic row
            m.d.comb += wr_en.eq(valid_l & (pot_walk_l | flag_e))
            wr_v, wr_a = _delayed(m, RULE_LATENCY, wr_en, learn_stage(a_q, "a"))
            with m.If(wr_v):
                m.d.comb += [w_waddr.eq(wr_a), w_we.eq(1)]

        # -- delay ring -------------------------------------------------------------------------
        # The slot of this tick is ``head``; a weight with delay d goes to slot head + d (mod
        # 2**D, the natural wrap of D bits). The delays are read with the weight word, so the
        # lane's accumulator address is known only in the data stage: the ring reads there and
        # adds in one more stage (``ve``; ACC takes one extra cycle). Back-to-back words of one
        # lane hit the same accumulator only with one word per row, where the read port is
        # transparent, as for the single row. The sweep reads and clears the head slot.
        if D:
            head = Signal(D)
            head_base = Signal(range(ring_depth))       # head * wpr
            with m.If(tick_end):
                m.d.sync += [head.eq(head + 1),
                             head_base.eq(Mux(head == (1 << D) - 1, 0, head_base + wpr))]
            with m.If(clearing & (clr_flags & _STATE).any()):
                m.d.sync += [head.eq(0), head_base.eq(0)]
            for i, (lr, lw) in enumerate(ring):
                slot = Signal(D, name=f"slot{i}")
                a_d_i = Signal(range(ring_depth), name=f"ring_a{i}")
                a_e_i = Signal(range(ring_depth), name=f"ring_ae{i}")
                m.d.comb += [slot.eq(head + d_rdata[i]), a_d_i.eq(slot * wpr + k_q)]
                m.d.sync += a_e_i.eq(a_d_i)
                new = Signal(acc_elem, name=f"ring_sum{i}")
                m.d.comb += acc_add(new, lr.data, w_e[i])
                m.d.comb += [
                    lr.addr.eq(Mux(ring_acc, a_d_i, head_base + acc_r.addr)),
                    acc_r.data[i].eq(lr.data),
                    lw.addr.eq(Mux(ve, a_e_i, Mux(clearing, acc_w.addr,
                                                  head_base + acc_w.addr))),
                    lw.data.eq(Mux(ve, new, acc_w.data[i])),
                    lw.en.eq(ve | acc_w.en),
                ]

        if not spram and not rules:     # after ACC's last word in SWEEP_PRE, POT's in FINISH
            wb_v, wb_a = _delayed(m, 1, wb, wb_addr)    # the learn stage's registered output
            with m.If(wb_v):
                m.d.comb += [w_waddr.eq(wb_a), w_we.eq(1)]
        with m.If(self.busy):
            m.d.sync += cyc.eq(cyc + 1)
        return m
