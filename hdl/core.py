"""The core: a time-multiplexed, event-driven LIF/STDP engine behind a memory-request interface.

Contract (shared with the dispatcher, the golden device and the tests):

* ``Core(cfg, *, weight_store="dual", store_factory=None, cell_words=SPRAM_CELL_WORDS)`` is a
  ``wiring.Component`` in the ``sync`` domain. ``weight_store="dual"`` keeps weights and
  plasticity bits in memories with separate read and write ports; ``"spram"`` builds them from
  single-port stores made by ``store_factory(depth, width)`` (default
  :class:`~spikeloom.hdl.weights.SinglePortStore`, the behavioural twin of
  ``spikeloom.hdl.spram.SPRAMStore``; one port that reads at ``addr`` or writes at ``waddr``,
  registered read): the plasticity bits
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

The tick schedule (docs/architecture.md has the diagrams), one module per phase, each with its
contract and its pipeline tags at the top:

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
        is in the cell being written); spram: two read-only rows SCAN paired at once, one
        word of each a clock
SWEEP   one neuron per clock through :class:`~spikeloom.hdl.neuron.Update`; spikes out,
        post jumps, the fired words (with their fired lanes) appended to the fired-word list
SPK_END the end marker
POT     (STDP enabled) listed rows x fired words, read-modify-write, every fired lane at once,
        one word per clock (spram: column-major, a clock more when two consecutive words share
        a cell)
====== ===============================================================================

========================================= ==================================================
:mod:`~spikeloom.hdl.access`               IDLE (requests, ``start``, ``clear``), the reads'
                                           response word, CLR; every memory's write data
:mod:`~spikeloom.hdl.scan`                 SCAN
:mod:`~spikeloom.hdl.accumulate`           ACC (and the delay ring)
:mod:`~spikeloom.hdl.sweep`                SWEEP, SPK_END (and the spike FIFO)
:mod:`~spikeloom.hdl.learn`                POT, the learner's late write-backs
:mod:`~spikeloom.hdl.datapath`             what they share: memories, stores, the learner and
                                           its learn stage, counters, walk tags
========================================= ==================================================

:meth:`Core.elaborate` builds the shared :class:`~spikeloom.hdl.datapath.Datapath`, then each
phase adds its states to the one FSM of the core's one module (no multiplexers between the
phases: the state decode already says who drives each memory port).

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

from amaranth.hdl import Module, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..proto.config import CoreConfig
from ..proto.cycles import SPRAM_CELL_WORDS, WEIGHT_STORES, check_weight_store
from ..proto.memmap import Region, layouts, region_words, regions
from ..proto.protocol import ResetFlags
from .access import Access
from .accumulate import Accumulate
from .datapath import Datapath, flag_pack, list_ram_attrs
from .learn import Learn
from .scan import Scan
from .sweep import SpikeLayout, Sweep

__all__ = ["Core", "Control", "SpikeLayout", "req_layout", "addr_width", "data_width",
           "flag_pack", "list_ram_attrs", "WEIGHT_STORES"]


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
        m = Module()
        dp = Datapath(m, self, platform)
        access, scan, acc = Access(dp), Scan(dp), Accumulate(dp)
        sweep, learn = Sweep(dp), Learn(dp)
        access.prepare(m)
        access.write_data(m, scan)
        with m.FSM():           # IDLE first: the reset state
            access.states(m)    # IDLE, MEM_WR, MEM_ADDR, MEM_RD, DIV, CLR, CLR_DONE
            scan.states(m)      # SCAN
            acc.states(m)       # ACC_PRE, ACC_LIST, ACC
            sweep.states(m)     # SWEEP_PRE, SWEEP, SPK_END
            learn.states(m)     # POT_PRE, POT, POT_DRAIN
            with m.State("FINISH"):
                m.d.comb += [self.busy.eq(1), self.done.eq(1), dp.tick_end.eq(1)]
                m.d.sync += [self.ticks.eq(self.ticks + 1), self.last_tick_cycles.eq(dp.cyc + 1)]
                m.next = "IDLE"
        # after the FSM: these writes win over the states' (the learner's late write-backs)
        learn.write_back(m)
        acc.ring(m)
        with m.If(self.busy):
            m.d.sync += dp.cyc.eq(dp.cyc + 1)
        return m
