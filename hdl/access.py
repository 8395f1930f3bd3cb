"""The core between ticks: memory requests, clears, and the write data of every memory.

Contract (one piece of :class:`spikeloom.hdl.core.Core`; shared state in
:class:`~spikeloom.hdl.datapath.Datapath`; the request/response/clear/start semantics are the
core's, in its module docstring):

* ``IDLE`` accepts a request (``mem_req.ready``) when no response waits and neither ``start``
  nor ``clear`` is strobed. A write goes to its memory in the same cycle and answers 0 in the
  next (with several rules an STDP_PARAMS write first computes the rule's listing threshold in
  ``DIV``, one bit a clock); a read answers a clock later (``MEM_RD``; the dual store two,
  ``MEM_ADDR`` for its registered read address), the word of :meth:`response_word`. The dual
  store writes a clock later too (``MEM_WR``, from the request registered at its acceptance):
  its write enables fan out to every block RAM of the stores, and accepting depends on the
  controller's ``start`` and ``clear``, too long a path for one clock on ECP5.
* ``start`` resets the tick's counters (and every register in ``Datapath.zero_at_start``) and
  goes to ``SCAN``. ``clear`` zeroes the COUNTERS at once and walks STATE / CONFIG memories in
  ``CLR`` (one address a clock), then ``CLR_DONE`` (``done``).
* :meth:`write_data`: the write data of every memory, driven unconditionally by the phase
  flags (``clearing`` → 0, ``idle`` → the request's data, else the phase's value): a port's
  data only matters while its enable is set, and per-state assignment would gate every bit
  with the state decode (about a LUT per bit of the 83-bit parameter bus alone).
"""

from amaranth.hdl import Cat, Const, Mux, Signal

from ..proto.memmap import Region
from ..proto.protocol import ResetFlags
from .arith import div_const
from .datapath import Datapath

__all__ = ["Access"]

_STATE, _CONFIG, _COUNTERS = (int(f) for f in (
    ResetFlags.STATE, ResetFlags.CONFIG, ResetFlags.COUNTERS))


class Access:
    """Requests and clears of ``dp``'s core (see the module docstring)."""

    def __init__(self, dp: Datapath):
        self.dp = dp
        # the request a write works from: the live one (spram), or its copy (dual, MEM_WR)
        self.wreq = dp.req if dp.spram else Signal(dp.core.ReqLayout, name="wreq")
        if dp.rules and dp.cfg.stdp_frac:
            G = dp.cfg.stdp_frac
            self.div_r = Signal(dp.R)
            self.div_a = Signal(16)
            self.div_rem = Signal(17)           # < a_plus after each step
            self.div_q = Signal(G)
            self.div_n = Signal(range(G))

    def response_word(self, m):
        """The word a read answers, selected by the region latched with the request."""
        dp = self.dp
        word = Signal(dp.core.DATA_W)
        with m.Switch(dp.rd_region):
            with m.Case(Region.NEURON_PARAMS):
                m.d.comb += word.eq(dp.par_word)
            with m.Case(Region.NEURON_STATE):
                m.d.comb += word.eq(dp.st_r.data)
            with m.Case(Region.WEIGHTS):
                m.d.comb += word.eq(dp.weight_lanes(dp.w_rdata, dp.lane_mask(dp.rd_addr)))
            with m.Case(Region.PLASTIC):
                m.d.comb += word.eq(dp.weight_lanes(dp.p_rdata, dp.lane_mask(dp.rd_addr), dp.R))
            with m.Case(Region.PRE_TRACE):
                m.d.comb += word.eq(dp.pre_r.data)
            with m.Case(Region.POST_TRACE):
                m.d.comb += word.eq(dp.post_r.data)
            with m.Case(Region.STDP_PARAMS):
                m.d.comb += word.eq(dp.rule_par[dp.rd_addr] if dp.rules else dp.stdp)
            if dp.rules:
                with m.Case(Region.LEARN):
                    m.d.comb += word.eq(Mux(dp.rd_addr[0], dp.learn_word, dp.rng.state))
            with m.Case(Region.SPIKES):
                m.d.comb += word.eq(dp.spk_r.data)
            if dp.D:
                with m.Case(Region.DELAYS):
                    m.d.comb += word.eq(Cat(*(Mux(dp.lane_mask(dp.rd_addr)[i], dp.d_rdata[i], 0)
                                              for i in range(dp.wpw))))
        return word

    def write_data(self, m, scan):
        """Every memory's write data (see the module docstring); ``scan``: the SCAN phase,
        whose new traces the trace memories take while scanning."""
        dp = self.dp
        req, clearing, idle = self.wreq, dp.clearing, dp.idle
        req_par = dp.par_word.shape()(req.data[:dp.par_word.shape().size])
        host_lanes = dp.weight_lanes(req.data, dp.lane_mask(req.addr))
        # spram: the host's word and a clear's zeros enter the (unregistered) learner's last
        # multiplexers, off its sum's path to the store (hdl/stdp.py)
        hold = dp.spram and not dp.rules
        if hold:
            m.d.comb += [dp.lrn.hold.eq(clearing | idle),
                         dp.lrn.held.eq(Mux(clearing, 0, host_lanes))]
        m.d.comb += [
            dp.par_w.data.eq(Mux(clearing, 0, Cat(*(req_par[name] for name, _ in dp.rest_lay)))),
            dp.am_w.data.eq(Mux(clearing, 0, Cat(*(req_par[name] for name, _ in dp.s1_lay)))),
            dp.st_w.data.eq(Mux(clearing, 0, Mux(idle, req.data, dp.upd.st_new))),
            dp.post_w.data.eq(Mux(clearing, 0, Mux(idle, req.data, Mux(dp.scanning, scan.y_dec,
                                                                        dp.upd.y_new)))),
            dp.pf_w.data.eq(~clearing),
            dp.w_wdata.eq(Mux(clearing, 0, Mux(idle, host_lanes, dp.lrn.w_new))
                          if not hold else dp.lrn.w_new),
            dp.p_wdata.eq(Mux(clearing, 0, dp.weight_lanes(req.data, dp.lane_mask(req.addr),
                                                           dp.R))),
            dp.pre_w.data.eq(Mux(clearing, 0, Mux(idle, req.data, scan.x_new))),
        ]
        if dp.D:    # delay lanes past the last neuron are masked like the weights
            D = dp.D
            m.d.comb += dp.d_wdata.eq(Mux(clearing, 0, Cat(*(
                Mux(dp.lane_mask(req.addr)[i], req.data[i * D:(i + 1) * D], 0)
                for i in range(dp.wpw)))))

    def _clear_bounds(self, m):
        """``below[c]``: the clear walk's address is below ``c``, for the memory depths.

        The walk's address (``cyc``) counts up from 0 by one per cycle, so comparisons with
        constants need no carry chains: it first has all the 1-bits of c exactly at c, and
        "below c" is a flag that drops there (or the zero high bits, for a power of two)."""
        dp = self.dp
        cyc = dp.cyc

        def clr_below(c):
            if c & (c - 1) == 0:
                return cyc[c.bit_length() - 1:] == 0
            flag = Signal(init=1, name=f"clr_below_{c}")
            with m.If(dp.idle):
                m.d.sync += flag.eq(1)
            with m.Elif(dp.clearing & self.reached(c - 1)):
                m.d.sync += flag.eq(0)
            return flag
        return {c: clr_below(c) for c in {dp.n, dp.s_n, dp.ring_depth, dp.wdepth}}

    def reached(self, c):
        """The clear walk is at address ``c`` (or past it: see ``_clear_bounds``)."""
        return (self.dp.cyc & c) == c

    def states(self, m):
        """Add ``IDLE``, ``MEM_WR``, ``MEM_ADDR``, ``MEM_RD``, ``DIV``, ``CLR``, ``CLR_DONE`` (call
        inside ``with m.FSM()``; :meth:`response_word` and ``_clear_bounds`` before it)."""
        dp, core = self.dp, self.dp.core
        req, a = dp.req, dp.req.addr
        rules, G = dp.rules, dp.cfg.stdp_frac
        with m.State("IDLE"):
            m.d.comb += dp.idle.eq(1)
            m.d.comb += core.mem_req.ready.eq(~dp.rsp_valid & (core.start == 0) &
                                              (core.clear == 0))
            with m.If(core.clear != 0):
                with m.If(core.clear & _COUNTERS):
                    m.d.sync += [core.ticks.eq(0), core.spike_count.eq(0),
                                 core.syn_events.eq(0), core.last_tick_cycles.eq(0)]
                with m.If(core.clear & _CONFIG):
                    if rules:       # the rules and both LEARN words
                        m.d.sync += [dp.rule_par.eq(0), dp.learn_word.eq(0)]
                        m.d.comb += [dp.rng.load.eq(1), dp.rng.seed.eq(0)]
                    else:
                        m.d.sync += dp.stdp.eq(0)
                m.d.sync += [dp.clr_flags.eq(core.clear), dp.cyc.eq(0)]
                with m.If(core.clear & (_STATE | _CONFIG)):
                    m.next = "CLR"
                with m.Else():
                    m.next = "CLR_DONE"
            with m.Elif(core.start):
                m.d.sync += [dp.cyc.eq(0), dp.idx.eq(0), dp.base.eq(0), dp.nd.eq(0),
                             dp.nf.eq(0), dp.more.eq(1), dp.k.eq(0), dp.lane.eq(0),
                             dp.nl.eq(0), dp.nw.eq(0),
                             *(r.eq(0) for r in dp.zero_at_start)]
                m.next = "SCAN"
            with m.Elif(dp.ack):
                with m.If(req.write):
                    if dp.spram:
                        m.d.sync += [dp.rsp_valid.eq(1), dp.rsp_data.eq(0)]
                        self._write(m)
                    else:
                        m.d.sync += self.wreq.eq(req)
                        m.next = "MEM_WR"
                with m.Else():
                    m.d.comb += [dp.par_r.addr.eq(a), dp.am_r.addr.eq(a), dp.st_r.addr.eq(a),
                                 dp.post_r.addr.eq(a), dp.pre_r.addr.eq(a), dp.spk_r.addr.eq(a),
                                 dp.w_raddr.eq(a)]
                    m.d.sync += [dp.rd_region.eq(req.region), dp.rd_addr.eq(a)]
                    m.next = "MEM_RD" if dp.spram else "MEM_ADDR"

        if not dp.spram:
            # the write of the request accepted last cycle (the module docstring says why);
            # the write data take the host's side as in IDLE
            with m.State("MEM_WR"):
                m.d.comb += dp.idle.eq(1)
                m.d.sync += [dp.rsp_valid.eq(1), dp.rsp_data.eq(0)]
                m.next = "IDLE"
                self._write(m)
            # the weight stores' read address register: the other memories read again
            with m.State("MEM_ADDR"):
                ra = dp.rd_addr
                m.d.comb += [dp.par_r.addr.eq(ra), dp.am_r.addr.eq(ra), dp.st_r.addr.eq(ra),
                             dp.post_r.addr.eq(ra), dp.pre_r.addr.eq(ra), dp.spk_r.addr.eq(ra)]
                m.next = "MEM_RD"

        with m.State("MEM_RD"):
            m.d.sync += [dp.rsp_valid.eq(1), dp.rsp_data.eq(self.word)]
            m.next = "IDLE"

        if rules and G:
            # the listing threshold of the rule just written: thr = (2^G - 1) // a_plus,
            # one restoring-division bit a clock (the dividend's bits are all ones), so
            # that SCAN tests x * a_plus >= 2^G as x > thr with no multiplier. The write's
            # response waits for it (a tick cannot start in between)
            with m.State("DIV"):
                trial = Cat(Const(1, 1), self.div_rem)             # rem * 2 + 1
                fits = trial >= self.div_a
                m.d.sync += [self.div_rem.eq(Mux(fits, trial - self.div_a, trial)),
                             self.div_q.eq(Cat(fits, self.div_q[:-1])),
                             self.div_n.eq(self.div_n + 1)]
                with m.If(self.div_n == G - 1):
                    m.d.sync += [dp.thr[self.div_r].eq(Cat(fits, self.div_q[:-1])),
                                 dp.rsp_valid.eq(1)]
                    m.next = "IDLE"

        with m.State("CLR"):
            below = self.below
            m.d.comb += [core.busy.eq(1), dp.clearing.eq(1)]
            ca = dp.cyc                 # clear address (cyc counts the busy CLR cycles)
            n, s_n, ring_depth, wdepth = dp.n, dp.s_n, dp.ring_depth, dp.wdepth
            with m.If(dp.clr_flags & _STATE):
                m.d.comb += [
                    dp.st_w.addr.eq(ca), dp.st_w.en.eq(below[n]),
                    dp.post_w.addr.eq(ca), dp.post_w.en.eq(below[n]),
                    dp.pre_w.addr.eq(ca), dp.pre_w.en.eq(below[s_n]),
                    dp.spk_w.addr.eq(ca), dp.spk_w.data.eq(0), dp.spk_w.en.eq(below[s_n]),
                    dp.acc_w.addr.eq(ca), dp.acc_w.data.eq(0), dp.acc_w.en.eq(below[ring_depth]),
                ]
            with m.If(dp.clr_flags & _CONFIG):
                m.d.comb += [
                    dp.par_w.addr.eq(ca), dp.par_w.en.eq(below[n]),
                    dp.w_waddr.eq(ca), dp.w_we.eq(below[wdepth]),
                    dp.p_we.eq(below[wdepth]),
                    dp.pf_w.addr.eq(ca), dp.pf_w.en.eq(below[s_n]),
                ]
                if dp.D:
                    m.d.comb += dp.d_we.eq(below[wdepth])
            with m.If(Mux(dp.clr_flags & _CONFIG, self.reached(max(wdepth, n, ring_depth) - 1),
                          self.reached(max(n, s_n, ring_depth) - 1))):
                m.next = "CLR_DONE"

        with m.State("CLR_DONE"):
            m.d.comb += [core.busy.eq(1), core.done.eq(1)]
            m.next = "IDLE"

    def prepare(self, m):
        """What :meth:`states` uses, built before the FSM: the response word and the clear
        walk's bounds."""
        self.word = self.response_word(m)
        self.below = self._clear_bounds(m)

    def _write(self, m):
        """The write of ``wreq``: in the cycle it is accepted (spram) or the next (dual)."""
        dp = self.dp
        req, a = self.wreq, self.wreq.addr
        with m.Switch(req.region):
            with m.Case(Region.NEURON_PARAMS):
                m.d.comb += [dp.par_w.addr.eq(a), dp.par_w.en.eq(1)]
            with m.Case(Region.NEURON_STATE):
                m.d.comb += [dp.st_w.addr.eq(a), dp.st_w.en.eq(1)]
            with m.Case(Region.WEIGHTS):
                m.d.comb += [dp.w_waddr.eq(a), dp.w_we.eq(1)]
                # spram: the plasticity store sees the same address, read only
            with m.Case(Region.PLASTIC):
                # a non-zero lane flags the row (sticky, numerics.md step 6)
                # a // wpr as a product (a divider is the 25F's worst path)
                row = div_const(a, dp.wpr, dp.wdepth - 1)
                m.d.comb += [dp.w_waddr.eq(a), dp.p_we.eq(1), dp.pf_w.addr.eq(row),
                             dp.pf_w.en.eq(dp.weight_lanes(req.data, dp.lane_mask(a),
                                                           dp.R).any())]
            with m.Case(Region.PRE_TRACE):
                m.d.comb += [dp.pre_w.addr.eq(a), dp.pre_w.en.eq(1)]
            with m.Case(Region.POST_TRACE):
                m.d.comb += [dp.post_w.addr.eq(a), dp.post_w.en.eq(1)]
            with m.Case(Region.STDP_PARAMS):
                if dp.rules:
                    m.d.sync += dp.rule_par[a].eq(req.data)
                    if dp.cfg.stdp_frac:    # the rule's listing threshold, then the response
                        req_stdp = dp.lay[Region.STDP_PARAMS].struct()(
                            req.data[:dp.lay[Region.STDP_PARAMS].struct().size])
                        m.d.sync += [dp.rsp_valid.eq(0), self.div_r.eq(a),
                                     self.div_a.eq(req_stdp.a_plus), self.div_rem.eq(0),
                                     self.div_n.eq(0)]
                        m.next = "DIV"
                else:
                    m.d.sync += dp.stdp.eq(req.data)
            if dp.rules:
                with m.Case(Region.LEARN):
                    with m.If(a[0]):
                        m.d.sync += dp.learn_word.eq(req.data[:32])
                    with m.Else():
                        m.d.comb += [dp.rng.load.eq(1), dp.rng.seed.eq(req.data[:32])]
            with m.Case(Region.SPIKES):
                m.d.comb += [dp.spk_w.addr.eq(a), dp.spk_w.data.eq(req.data[0]),
                             dp.spk_w.en.eq(1)]
            if dp.D:
                with m.Case(Region.DELAYS):
                    m.d.comb += [dp.w_waddr.eq(a), dp.d_we.eq(1)]
