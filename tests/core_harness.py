"""Simulation harness for the engine ``spikeloom.hdl.core.Core`` against the golden model.

Contract (what the harness relies on, from the core control interface):

- ``mem_req`` / ``mem_rsp`` streams: every request gets exactly one response, in order; writes
  respond with 0; requests are accepted only while idle. Words are packed as proto.memmap says.
- ``start`` strobes one tick, ``done`` pulses when it ends; ``clear`` strobes ResetFlags bits and
  ends with ``done`` as well.
- ``spikes`` stream: the fired neurons ascending, then one ``end`` element carrying the count.
- status outputs ``ticks``, ``spike_count``, ``syn_events``, ``last_tick_cycles``.

One :class:`Harness` is one Amaranth simulation of one Core. A *script* is an async function
``script(drv)`` receiving a :class:`Driver` (register-level operations on the running
simulation); :meth:`Harness.run` runs it to completion in ONE simulation, so a whole multi-tick
scenario costs one elaboration. :func:`run_lockstep` is the usual script: load a golden model
into the RTL, then step both tick by tick and compare everything after every tick with
:func:`first_difference`, which names the first differing variable, index and tick.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from amaranth.hdl import Fragment, Value
from amaranth.sim import Simulator
from spikeloom.proto.config import CoreConfig
from spikeloom.proto.cycles import SPRAM_CELL_WORDS
from spikeloom.proto.memmap import Region, layouts, region_words, regions
from spikeloom.proto.protocol import ResetFlags
from spikeloom.sim.model import Core as Model
from spikeloom.sim.model import STDPParams

__all__ = [
    "HarnessError", "Snapshot", "TickRecord", "Driver", "Harness", "snapshot_of_model",
    "first_difference", "random_network", "run_lockstep", "LockstepResult", "seed_count",
    "neuron_param_fields", "neuron_state_fields",
]

# Cycles a single handshake or tick may take before the harness declares the core hung.
TIMEOUT_CYCLES = 200_000

def neuron_param_fields(cfg: CoreConfig) -> tuple[str, ...]:
    """The NEURON_PARAMS fields of ``cfg`` (the optional features' included)."""
    return tuple(f.name for f in layouts(cfg)[Region.NEURON_PARAMS].fields)


def neuron_state_fields(cfg: CoreConfig) -> tuple[str, ...]:
    """The NEURON_STATE fields of ``cfg``: v, i, ref and the optional i_inh, theta."""
    return tuple(f.name for f in layouts(cfg)[Region.NEURON_STATE].fields)


class HarnessError(AssertionError):
    """The core broke the control contract (hang, missing response, malformed spike stream)."""


def seed_count(default: int = 50) -> int:
    """Seeds for the regression tests: env SPIKELOOM_SEEDS, else ``default``."""
    return int(os.environ.get("SPIKELOOM_SEEDS", default))


# -- state snapshots ---------------------------------------------------------------------------

@dataclasses.dataclass
class Snapshot:
    """Everything readable from the core, unpacked into arrays shaped like the model's.

    ``None`` marks a part that was not read back (the per-tick readback skips the
    configuration regions, which the core never changes).
    """
    v: np.ndarray
    i: np.ndarray
    ref: np.ndarray
    x: np.ndarray
    y: np.ndarray
    spikes: np.ndarray                  # (S,) bool, region SPIKES
    weights: np.ndarray                 # (S, N)
    plastic: np.ndarray | None = None   # (S, N) bool
    params: dict | None = None          # name -> (N,) array
    stdp: dict | None = None            # STDPParams fields
    i_inh: np.ndarray | None = None     # (N,) with CoreConfig.inh_current
    theta: np.ndarray | None = None     # (N,) with CoreConfig.theta_width > 0

    # the order in which first_difference looks at variables: state the tick computes first
    ORDER = ("v", "i", "i_inh", "theta", "ref", "x", "y", "weights", "spikes", "plastic")


def snapshot_of_model(model: Model) -> Snapshot:
    st = model.state
    opt = {k: getattr(st, k).copy() for k in neuron_state_fields(model.cfg)[3:]}
    return Snapshot(
        v=st.v.copy(), i=st.i.copy(), ref=st.ref.copy(), x=st.x.copy(), y=st.y.copy(),
        spikes=st.spikes.copy(), weights=model.weights.copy(), plastic=model.plastic.copy(),
        params={k: getattr(model.params, k).copy() for k in neuron_param_fields(model.cfg)},
        stdp=dataclasses.asdict(model.stdp), **opt)


@dataclasses.dataclass
class TickRecord:
    """What one tick produced on the control interface."""
    fired: list[int]         # neuron indices from the spikes stream, in stream order
    end_count: int           # ``neuron`` field of the end element
    latency: int             # clock edges from the start strobe to the edge sampling done
    status: dict             # status counters after done


def _index_name(var: str, idx: tuple, cfg: CoreConfig) -> str:
    m = cfg.n_inputs
    if var == "weights" or var == "plastic":
        s, j = idx
        src = f"input {s}" if s < m else f"neuron {s - m}"
        return f"{var}[source {s} ({src}), neuron {j}]"
    if var in ("x", "spikes"):
        (s,) = idx
        return f"{var}[source {s} ({'input ' + str(s) if s < m else 'neuron ' + str(s - m)})]"
    return f"{var}[neuron {idx[0]}]"


def first_difference(expected: Snapshot, actual: Snapshot, cfg: CoreConfig, *,
                     tick: int, seed=None) -> str | None:
    """A one-line description of the first difference between model (``expected``) and RTL
    (``actual``), or None. Variables are visited in :attr:`Snapshot.ORDER`, then neuron
    parameters and STDP parameters (when both sides have them)."""
    where = f"seed {seed} " if seed is not None else ""
    for var in Snapshot.ORDER:
        e, a = getattr(expected, var), getattr(actual, var)
        if e is None or a is None:
            continue
        e, a = np.asarray(e, np.int64), np.asarray(a, np.int64)
        if e.shape != a.shape:
            return f"{where}tick {tick}: {var} shape rtl={a.shape} model={e.shape}"
        bad = np.argwhere(e != a)
        if bad.size:
            idx = tuple(int(k) for k in bad[0])
            return (f"{where}tick {tick}: first difference in "
                    f"{_index_name(var, idx, cfg)}: rtl={int(a[idx])} model={int(e[idx])} "
                    f"({len(bad)} differing entries in {var})")
    if expected.params is not None and actual.params is not None:
        for name in neuron_param_fields(cfg):
            e, a = np.asarray(expected.params[name]), np.asarray(actual.params[name])
            bad = np.flatnonzero(e != a)
            if bad.size:
                j = int(bad[0])
                return (f"{where}tick {tick}: first difference in params.{name}[neuron {j}]: "
                        f"rtl={int(a[j])} model={int(e[j])}")
    if expected.stdp is not None and actual.stdp is not None:
        for name, e in expected.stdp.items():
            if int(actual.stdp[name]) != int(e):
                return (f"{where}tick {tick}: first difference in stdp.{name}: "
                        f"rtl={int(actual.stdp[name])} model={int(e)}")
    return None


# -- the driver ---------------------------------------------------------------------------------

class Driver:
    """Register-level operations on a running simulation of a Core (used inside a script)."""

    def __init__(self, ctx, dut, cfg: CoreConfig):
        self.ctx, self.dut, self.cfg = ctx, dut, cfg
        self.layouts = layouts(cfg)
        req_shape = dut.mem_req.payload.shape()
        self._req_off = {name: req_shape[name].offset for name in ("region", "addr", "write",
                                                                    "data")}
        self._req_payload = Value.cast(dut.mem_req.payload)
        self.addr_width = len(Value.cast(dut.mem_req.payload.addr))
        self.data_width = len(Value.cast(dut.mem_req.payload.data))
        spk_shape = dut.spikes.payload.shape()
        self._spk_neuron = (spk_shape["neuron"].offset, 16)
        self._spk_end = spk_shape["end"].offset
        self._spk_payload = Value.cast(dut.spikes.payload)
        self.cycles = 0          # clock edges seen by this driver
        self.requests = 0        # memory requests issued

    # -- memory requests --------------------------------------------------------------------------

    def _pack_req(self, region, addr, write, data) -> int:
        o = self._req_off
        if data >> self.data_width or data < 0:
            raise ValueError(f"data {data:#x} wider than DATA_W={self.data_width}")
        return ((int(region) << o["region"]) | (addr << o["addr"]) | (write << o["write"])
                | (data << o["data"]))

    async def transact(self, reqs: list[tuple[int, int, int, int]]) -> list[int]:
        """Issue ``(region, addr, write, data)`` requests back to back (``mem_rsp.ready`` held
        high) and return the responses in order. A core that takes one request at a time simply
        holds ``mem_req.ready`` low while busy with it; the stream handshake does the rest."""
        if not reqs:
            return []
        ctx, req, rsp = self.ctx, self.dut.mem_req, self.dut.mem_rsp
        out: list[int] = []
        k = 0
        idle = 0
        ctx.set(rsp.ready, 1)
        ctx.set(req.valid, 1)
        ctx.set(self._req_payload, self._pack_req(*reqs[0]))
        # signals are set only when they change: the testbench's per-cycle cost is the budget
        async for _, _, ready, rvalid, rdata in ctx.tick().sample(req.ready, rsp.valid,
                                                                  rsp.payload):
            self.cycles += 1
            progress = False
            if k < len(reqs) and ready:
                k += 1
                progress = True
                if k < len(reqs):
                    ctx.set(self._req_payload, self._pack_req(*reqs[k]))
                else:
                    ctx.set(req.valid, 0)
            if rvalid:
                if len(out) >= k:
                    raise HarnessError(f"mem_rsp valid without an outstanding request "
                                       f"(after {len(out)} responses)")
                out.append(int(rdata))
                progress = True
            if len(out) == len(reqs):
                break
            idle = 0 if progress else idle + 1
            if idle > TIMEOUT_CYCLES:
                raise HarnessError(f"memory request {len(out)} of {len(reqs)} "
                                   f"({reqs[len(out)]}) got no response in {idle} cycles")
        ctx.set(req.valid, 0)
        ctx.set(rsp.ready, 0)
        self.requests += len(reqs)
        return out

    async def write(self, region: Region, addr: int, words) -> None:
        words = [int(w) for w in words]
        rsp = await self.transact([(region, addr + k, 1, w) for k, w in enumerate(words)])
        bad = [r for r in rsp if r != 0]
        if bad:
            raise HarnessError(f"write to {Region(region).name} responded {bad[0]:#x}, not 0")

    async def read(self, region: Region, addr: int = 0, count: int | None = None) -> list[int]:
        if count is None:
            count = region_words(self.cfg, region) - addr
        return await self.transact([(region, addr + k, 0, 0) for k in range(count)])

    # -- control ----------------------------------------------------------------------------------

    async def idle(self, cycles: int = 1) -> None:
        await self.ctx.tick().repeat(cycles)
        self.cycles += cycles

    async def _wait_done(self, what: str, drain: bool, fired: list, end: list) -> int:
        """Clock until ``done``; with ``drain`` also take spike elements meanwhile. Returns the
        number of edges waited (the edge that samples done included)."""
        ctx, dut = self.ctx, self.dut
        ctx.set(dut.spikes.ready, 1 if drain else 0)
        n = 0
        async for _, _, done, svalid, spayload in ctx.tick().sample(
                dut.done, dut.spikes.valid, self._spk_payload):
            n += 1
            if drain and svalid:
                self._take_spike(int(spayload), fired, end)
            if done:
                break
            if n > TIMEOUT_CYCLES:
                raise HarnessError(f"{what}: no done within {n} cycles")
        self.cycles += n
        ctx.set(dut.spikes.ready, 0)
        return n

    def _take_spike(self, payload: int, fired: list, end: list) -> None:
        off, w = self._spk_neuron
        neuron = (payload >> off) & ((1 << w) - 1)
        if end:
            raise HarnessError(f"spike element {neuron} after the end element")
        if (payload >> self._spk_end) & 1:
            end.append(neuron)
        else:
            fired.append(neuron)

    async def drain_spikes(self) -> tuple[list[int], int]:
        """Take the remaining spike elements up to and including the end element."""
        ctx, dut = self.ctx, self.dut
        fired: list[int] = []
        end: list[int] = []
        ctx.set(dut.spikes.ready, 1)
        n = 0
        while not end:
            _, _, valid, payload = await ctx.tick().sample(dut.spikes.valid, self._spk_payload)
            n += 1
            if valid:
                self._take_spike(int(payload), fired, end)
            if n > TIMEOUT_CYCLES:
                raise HarnessError("spikes stream: no end element")
        self.cycles += n
        ctx.set(dut.spikes.ready, 0)
        return fired, end[0]

    def status(self) -> dict:
        d = self.dut
        return {"ticks": self.ctx.get(d.ticks), "spike_count": self.ctx.get(d.spike_count),
                "syn_events": self.ctx.get(d.syn_events),
                "last_tick_cycles": self.ctx.get(d.last_tick_cycles)}

    async def tick(self, *, drain_during: bool = True, extra_start_at: int | None = None
                   ) -> TickRecord:
        """Strobe ``start``, wait for ``done``, collect the spike stream (while the tick runs
        when ``drain_during``, else afterwards from the core's buffer). ``extra_start_at``
        strobes ``start`` again that many cycles into the tick (it must be ignored)."""
        ctx, dut = self.ctx, self.dut
        ctx.set(dut.start, 1)
        _, _, busy_before = await ctx.tick().sample(dut.busy)
        self.cycles += 1
        ctx.set(dut.start, 0)
        if busy_before:
            raise HarnessError("core busy when start was strobed")
        fired: list[int] = []
        end: list[int] = []
        latency = 1
        if extra_start_at is not None:
            await self.idle(extra_start_at)
            latency += extra_start_at
            ctx.set(dut.start, 1)
            _, _, done = await ctx.tick().sample(dut.done)
            self.cycles += 1
            latency += 1
            ctx.set(dut.start, 0)
            if done:
                raise HarnessError("tick finished before the extra start strobe")
        latency += await self._wait_done("tick", drain_during, fired, end)
        if not end:
            more, count = await self.drain_spikes()
            fired += more
            end.append(count)
        if ctx.get(dut.busy):
            raise HarnessError("busy still high after done")
        return TickRecord(fired, end[0], latency, self.status())

    async def clear(self, flags: int) -> int:
        ctx, dut = self.ctx, self.dut
        ctx.set(dut.clear, int(flags))
        await ctx.tick()
        self.cycles += 1
        ctx.set(dut.clear, 0)
        return 1 + await self._wait_done(f"clear {ResetFlags(flags)!r}", False, [], [])

    # -- whole-state transfer ---------------------------------------------------------------------

    async def load(self, model: Model) -> None:
        """Write every region of ``model`` into the core, packed by proto.memmap."""
        for region in regions(self.cfg):
            n = region_words(self.cfg, region)
            await self.write(region, 0, model.read_words(region, 0, n))

    def _unpack(self, region: Region, words: list[int], field: str) -> np.ndarray:
        lay = self.layouts[region]
        return np.array([lay.unpack(w)[field] for w in words], np.int64)

    def _unpack_lanes(self, region: Region, words, prefix: str, out=None) -> np.ndarray:
        """Lane values of ``words`` (a list of every word, or ``(addr, word)`` pairs patched
        into ``out``) as an (S, N) array; a non-zero unused lane is a HarnessError."""
        cfg = self.cfg
        lay = self.layouts[region]
        wpw, wpr, n = cfg.weights_per_word, cfg.words_per_row, cfg.n_neurons
        if out is None:
            out = np.zeros((cfg.n_sources, n), np.int64)
            words = enumerate(words)
        for a, w in words:
            if w >> lay.width:
                raise HarnessError(f"{region.name}[{a}] = {w:#x} has bits above its layout width")
            vals = lay.unpack(w)
            row, col0 = divmod(a, wpr)
            for k in range(wpw):
                c = col0 * wpw + k
                if c < n:
                    out[row, c] = vals[f"{prefix}{k}"]
                elif vals[f"{prefix}{k}"]:
                    raise HarnessError(f"{region.name}[{a}] unused lane {k} reads "
                                       f"{vals[f'{prefix}{k}']}, not 0")
        return out

    async def snapshot(self, *, full: bool = True, weight_words=None, weights=None
                       ) -> Snapshot:
        """Read every state region (and with ``full`` the configuration regions too).

        By default every weight word is read. With ``weight_words`` (addresses) only those
        are read and patched into a copy of ``weights`` (the RTL weights last observed)."""
        R = Region
        state = await self.read(R.NEURON_STATE)
        lay = self.layouts[R.NEURON_STATE]
        st = {name: np.array([lay.unpack(w)[name] for w in state], np.int64)
              for name in neuron_state_fields(self.cfg)}
        snap = Snapshot(
            **st,
            x=self._unpack(R.PRE_TRACE, await self.read(R.PRE_TRACE), "x"),
            y=self._unpack(R.POST_TRACE, await self.read(R.POST_TRACE), "y"),
            spikes=self._unpack(R.SPIKES, await self.read(R.SPIKES), "s").astype(bool),
            weights=None)
        if weight_words is None:
            snap.weights = self._unpack_lanes(R.WEIGHTS, await self.read(R.WEIGHTS), "w")
        else:
            addrs = sorted(weight_words)
            got = await self.transact([(R.WEIGHTS, a, 0, 0) for a in addrs])
            snap.weights = self._unpack_lanes(R.WEIGHTS, zip(addrs, got, strict=True), "w",
                                              out=weights.copy())
        if full:
            snap.plastic = self._unpack_lanes(R.PLASTIC, await self.read(R.PLASTIC),
                                              "p").astype(bool)
            lay = self.layouts[R.NEURON_PARAMS]
            pw = [lay.unpack(w) for w in await self.read(R.NEURON_PARAMS)]
            snap.params = {k: np.array([p[k] for p in pw], np.int64)
                           for k in neuron_param_fields(self.cfg)}
            (sw,) = await self.read(R.STDP_PARAMS)
            snap.stdp = self.layouts[R.STDP_PARAMS].unpack(sw)
        return snap


# -- the simulation -----------------------------------------------------------------------------

class Harness:
    """One Core in one Amaranth simulation. ``core_kwargs`` go to ``Core(cfg, **core_kwargs)``;
    ``platform`` is what the core elaborates for (None: the simulation's default, none)."""

    def __init__(self, cfg: CoreConfig, *, platform=None, **core_kwargs):
        from spikeloom.hdl.core import Core
        self.cfg = cfg
        self.core_kwargs = core_kwargs
        self.platform = platform
        self.dut = Core(cfg, **core_kwargs)
        self.cycles = 0

    def run(self, script, *, vcd: str | None = None):
        """Run ``await script(driver)`` in a fresh simulation; return what it returns."""
        sim = Simulator(self.dut if self.platform is None
                        else Fragment.get(self.dut, self.platform))
        sim.add_clock(1e-6)
        result = {}

        async def tb(ctx):
            drv = Driver(ctx, self.dut, self.cfg)
            try:
                result["value"] = await script(drv)
            finally:
                self.cycles = drv.cycles

        sim.add_testbench(tb)
        if vcd:
            with sim.write_vcd(vcd):
                sim.run()
        else:
            sim.run()
        return result.get("value")


# -- random networks ----------------------------------------------------------------------------

def random_network(cfg: CoreConfig, seed: int, ticks: int) -> tuple[Model, np.ndarray]:
    """A seeded random network (a loaded golden model) and a (ticks, n_inputs) bool input raster.

    Mixed-sign weights with zeros, recurrence and self connections, plastic and frozen synapses,
    both reset modes, refractory periods > 0, random initial state (so saturation and decay of
    negative values occur), STDP usually enabled; thresholds and input rates are drawn so the
    neurons fire at a moderate rate rather than always or never.
    """
    rng = np.random.default_rng(seed)
    m, n, s = cfg.n_inputs, cfg.n_neurons, cfg.n_sources
    F = cfg.decay_frac
    one = 1 << F
    vlo, vhi = -(1 << (cfg.v_width - 1)), (1 << (cfg.v_width - 1)) - 1
    wlo, whi = -(1 << (cfg.w_width - 1)), (1 << (cfg.w_width - 1)) - 1
    tmax = (1 << cfg.trace_width) - 1
    rmax = (1 << cfg.refractory_width) - 1
    model = Model(cfg)
    p = model.params
    wscale = max(1, whi)
    # thresholds of a few weights, some tiny, some near the top of the range
    p.threshold[:] = rng.integers(wscale // 4, 3 * wscale, n)
    hot = rng.random(n) < 0.1
    p.threshold[hot] = rng.integers(vhi - 64, vhi + 1, hot.sum())
    neg = rng.random(n) < 0.1
    p.threshold[neg] = rng.integers(-wscale, 1, neg.sum())
    p.v_reset[:] = rng.integers(-3 * wscale, wscale, n)
    p.bias[:] = rng.integers(-wscale // 8, wscale // 3 + 1, n)
    p.refractory[:] = np.minimum(rng.integers(0, 5, n), rmax)
    p.alpha_mem[:] = rng.integers(one * 3 // 4, one + 1, n)
    p.alpha_syn[:] = rng.integers(one // 4, one + 1, n)
    p.alpha_mem[rng.random(n) < 0.1] = one           # no decay
    p.alpha_syn[rng.random(n) < 0.1] = 0             # current lasts one tick
    amax = (1 << (F + 1)) - 1                        # factors above 1.0 are defined too
    grow = rng.random(n) < 0.05
    p.alpha_mem[grow] = rng.integers(one + 1, amax + 1, grow.sum())
    grow = rng.random(n) < 0.05
    p.alpha_syn[grow] = rng.integers(one + 1, amax + 1, grow.sum())
    p.reset_subtract[:] = rng.integers(0, 2, n)

    w = rng.integers(wlo // 2, whi + 1, (s, n))
    w[rng.random((s, n)) < 0.1] = wlo                # full negative range too
    w[rng.random((s, n)) < 0.3] = 0
    model.weights[:] = w
    model.plastic[:] = rng.random((s, n)) < rng.uniform(0.2, 0.8)

    lo, hi = sorted(rng.integers(wlo, whi + 1, 2))
    if rng.random() < 0.1:
        lo, hi = hi, lo                              # w_min > w_max: clip yields w_max
    model.stdp = STDPParams(
        enable=int(rng.random() < 0.85),
        a_plus=int(rng.integers(0, 1 << (cfg.stdp_frac + 1))),
        a_minus=int(rng.integers(0, 1 << (cfg.stdp_frac + 1))),
        pre_jump=int(rng.integers(0, tmax + 1)),
        post_jump=int(rng.integers(0, tmax + 1)),
        alpha_pre=int(rng.integers(one // 2, (amax if rng.random() < 0.1 else one) + 1)),
        alpha_post=int(rng.integers(one // 2, (amax if rng.random() < 0.1 else one) + 1)),
        w_min=int(lo), w_max=int(hi))

    st = model.state
    st.v[:] = rng.integers(vlo, vhi + 1, n) // rng.choice([1, 16, 256], n)
    ilo, ihi = -(1 << (cfg.i_width - 1)), (1 << (cfg.i_width - 1)) - 1
    st.i[:] = rng.integers(ilo, ihi + 1, n) // rng.choice([1, 64, 4096], n)
    edge = rng.random(n) < 0.15                      # start next to the saturation bounds
    st.i[edge] = np.where(rng.random(edge.sum()) < 0.5, ihi - rng.integers(0, 64, edge.sum()),
                          ilo + rng.integers(0, 64, edge.sum()))
    st.ref[:] = np.minimum(rng.integers(0, 3, n), rmax)
    st.x[:] = rng.integers(0, tmax + 1, s)
    st.y[:] = rng.integers(0, tmax + 1, n)
    st.spikes[:] = rng.random(s) < 0.3
    rate = rng.uniform(0.05, 0.6)
    inputs = rng.random((ticks, m)) < rate
    # non-spiking neurons (no_spike: leaky integrators) from their own stream, so the rest of
    # the network is that of before
    p.no_spike[:] = np.random.default_rng([seed, 16]).random(n) < 0.15
    # the optional features draw from their own stream: a config without them gets the
    # network of before
    rng = np.random.default_rng([seed, 15])
    if cfg.inh_current:
        p.alpha_inh[:] = rng.integers(one // 4, one + 1, n)
        p.alpha_inh[rng.random(n) < 0.1] = 0
        p.alpha_inh[rng.random(n) < 0.1] = one
        grow = rng.random(n) < 0.05
        p.alpha_inh[grow] = rng.integers(one + 1, amax + 1, grow.sum())
        st.i_inh[:] = rng.integers(ilo, 1, n) // rng.choice([1, 64, 4096], n)
        st.i_inh[rng.random(n) < 0.1] = rng.integers(1, ihi + 1)      # a positive start too
        edge = rng.random(n) < 0.15
        st.i_inh[edge] = ilo + rng.integers(0, 64, edge.sum())
    if cfg.theta_width:
        hmax = (1 << cfg.theta_width) - 1
        p.theta_jump[:] = np.minimum(rng.integers(0, max(2, wscale), n), hmax)
        big = rng.random(n) < 0.1
        p.theta_jump[big] = rng.integers(0, hmax + 1, big.sum())
        p.alpha_theta[:] = rng.integers(one * 7 // 8, one + 1, n)
        p.alpha_theta[rng.random(n) < 0.2] = one                     # homeostasis: no decay
        grow = rng.random(n) < 0.05
        p.alpha_theta[grow] = rng.integers(one + 1, amax + 1, grow.sum())
        st.theta[:] = np.minimum(rng.integers(0, 2 * wscale, n), hmax)
        edge = rng.random(n) < 0.15                                  # next to saturation
        st.theta[edge] = hmax - np.minimum(rng.integers(0, 8, edge.sum()), hmax)
    if cfg.delay_bits:          # every delay value, and many one-tick synapses
        rng = np.random.default_rng([seed, 16])
        top = 1 << cfg.delay_bits
        model.delays[:] = rng.integers(0, top, (s, n))
        model.delays[rng.random((s, n)) < 0.3] = 0
    model.check()
    return model, inputs


# -- lockstep comparison ------------------------------------------------------------------------

@dataclasses.dataclass
class LockstepResult:
    ticks: int
    spikes: int              # total neuron spikes
    delivered: int           # total delivered sources
    cycles: list[int]        # last_tick_cycles per tick
    latency: list[int]       # start-to-done edges per tick measured by the testbench
    sim_cycles: int


def _wrap32(x: int) -> int:
    return x & 0xFFFF_FFFF


async def lockstep(drv: Driver, model: Model, inputs, *, seed=None, weight_store="dual",
                   drain_during=True, full_every=0, weights_every=1, counters_base=(0, 0, 0),
                   cell_words=SPRAM_CELL_WORDS) -> LockstepResult:
    """Load ``model`` into the core, then run ``len(inputs)`` ticks on both and compare after
    every tick: spike stream, every state region, weights, status counters and
    ``last_tick_cycles`` against ``proto.cycles.tick_cycles``. ``full_every`` > 0 also compares
    the configuration regions every that many ticks (they are always compared after loading and
    at the end). Raises AssertionError with the first difference.

    ``weights_every`` = k > 1 trades time for latency of detection: every tick reads the weight
    words STDP may write in it (plastic words of delivered rows and fired columns), all of them
    only every k ticks
    and at the end; a stray write elsewhere is then reported up to k - 1 ticks late (the message
    says so). ``cell_words``: the banked spram store's cell size the core was built with."""
    cfg = drv.cfg
    m = cfg.n_inputs
    where = f"seed {seed} " if seed is not None else ""
    await drv.load(model)
    snap = await drv.snapshot(full=True)
    diff = first_difference(snapshot_of_model(model), snap, cfg, tick=0, seed=seed)
    assert diff is None, "after load: " + diff
    rtl_weights = snap.weights
    wpr, wpw = cfg.words_per_row, cfg.weights_per_word
    ticks0, spikes0, events0 = counters_base
    res = LockstepResult(0, 0, 0, [], [], 0)
    total_spikes, total_events = spikes0, events0
    for t, row in enumerate(np.asarray(inputs, bool), start=1):
        idx = np.flatnonzero(row)
        if idx.size:
            for a in idx:
                await drv.write(Region.SPIKES, int(a), [1])
            model.inject(idx)
        stdp_on = bool(model.stdp.enable)
        delivered = np.flatnonzero(model.state.spikes)
        out = model.step()
        rec = await drv.tick(drain_during=drain_during)
        fired = np.flatnonzero(out.spikes).tolist()
        if rec.fired != fired:
            raise AssertionError(f"{where}tick {t}: spike stream rtl={rec.fired} "
                                 f"model={fired}")
        if rec.end_count != len(fired):
            raise AssertionError(f"{where}tick {t}: end element count rtl={rec.end_count} "
                                 f"model={len(fired)}")
        last = t == len(inputs)
        full = full_every > 0 and t % full_every == 0 or last
        words = None
        if weights_every > 1 and t % weights_every and not last:
            words = set()
            if stdp_on:
                for src in delivered:
                    words.update(range(src * wpr, (src + 1) * wpr))
                for j in fired:
                    words.update(src * wpr + j // wpw for src in range(cfg.n_sources))
                # a word without a plastic lane is never written by STDP
                plastic_word = np.zeros(cfg.weight_words, bool)
                for a in words:
                    row, col = divmod(a, wpr)
                    plastic_word[a] = model.plastic[row, col * wpw:(col + 1) * wpw].any()
                words = {a for a in words if plastic_word[a]}
        snap = await drv.snapshot(full=full, weight_words=words, weights=rtl_weights)
        rtl_weights = snap.weights
        diff = first_difference(snapshot_of_model(model), snap, cfg, tick=t, seed=seed)
        if diff:
            if weights_every > 1 and words is None and " weights[" in diff:
                diff += (f" (all weights are read every {weights_every} ticks: this one may "
                         f"come from ticks {max(1, t - weights_every + 1)}..{t})")
            raise AssertionError(diff)
        total_spikes += len(fired)
        total_events += out.syn_events
        want = {"ticks": _wrap32(ticks0 + t), "spike_count": _wrap32(total_spikes),
                "syn_events": _wrap32(total_events),
                "last_tick_cycles": out.cycles(cfg, stdp_on, weight_store,
                                               cell_words=cell_words)}
        for k, v in want.items():
            if rec.status[k] != v:
                raise AssertionError(
                    f"{where}tick {t}: status {k} rtl={rec.status[k]} model={v} "
                    f"(delivered={out.delivered} fired={len(fired)} stdp={int(stdp_on)} "
                    f"store={weight_store} inputs={m})")
        # the counter against the testbench's own count: edges from the one sampling start
        # to the one sampling done, inclusive = the busy cycles + the start cycle
        if rec.latency != rec.status["last_tick_cycles"] + 1:
            raise AssertionError(f"{where}tick {t}: last_tick_cycles = "
                                 f"{rec.status['last_tick_cycles']} but start..done took "
                                 f"{rec.latency} clock edges (expected counter + 1)")
        res.ticks += 1
        res.spikes += len(fired)
        res.delivered += out.delivered
        res.cycles.append(rec.status["last_tick_cycles"])
        res.latency.append(rec.latency)
    res.sim_cycles = drv.cycles
    return res


def run_lockstep(cfg: CoreConfig, model: Model, inputs, *, seed=None, vcd=None,
                 weights_every=1, **core_kwargs) -> LockstepResult:
    """:func:`lockstep` in one fresh simulation of ``Core(cfg, **core_kwargs)``."""
    store = core_kwargs.get("weight_store", "dual")
    cells = core_kwargs.get("cell_words", SPRAM_CELL_WORDS)
    drain = seed is None or seed % 2 == 0    # alternate: drain while ticking / from the buffer

    async def script(drv):
        return await lockstep(drv, model, inputs, seed=seed, weight_store=store,
                              drain_during=drain, weights_every=weights_every,
                              cell_words=cells)
    return Harness(cfg, **core_kwargs).run(script, vcd=vcd)
