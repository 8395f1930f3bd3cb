"""The simulator state of ``spikeloom.pynn``: time, the network built from the PyNN objects,
the board it runs on.

PyNN objects (populations, projections, recorders) only describe; on the first ``run()`` after
``setup()`` (or after a change) :meth:`State.prepare` builds a :class:`spikeloom.Network` from
them (:mod:`spikeloom.pynn.build`), compiles it (the compile report is ``state.image.report``),
opens the board (``url``) and loads the image. ``run()`` streams the spike sources of the
interval as inputs and collects the spikes; ``reset()`` reloads the image (time 0, initial
``v``, initial weights) and starts a new Neo segment.

Time: tick ``k`` advances the state from ``k dt`` to ``(k+1) dt``; a spike found in tick ``k``
(or injected for tick ``k``) has the time ``k dt`` and reaches its targets' currents at
``(k+1) dt``: a synapse of delay ``dt`` (the least; Brian2's convention as well) acts in the
next tick, one of ``k dt`` in tick ``k`` after the spike (``StaticSynapse(delay=...)``).
"""

from __future__ import annotations

import numpy as np
from pyNN import common, errors

from .. import board as _board
from .. import regions
from ..compiler import compile as _compile
from ..errors import CompileError
from ..proto import protocol as P
from ..proto.config import PRESETS, CoreConfig
from ..proto.memmap import Region

__all__ = ["ID", "State", "state", "name"]

name = "spikeloom"


class ID(int, common.IDMixin):
    def __init__(self, n):
        int.__init__(n)
        common.IDMixin.__init__(self)


class State(common.control.BaseState):
    """One simulation (module-level singleton :data:`state`)."""

    def __init__(self):
        super().__init__()
        self.mpi_rank, self.num_processes = 0, 1
        self.dt = self.min_delay = self.max_delay = 1.0
        self.url, self.target, self.rng_seed = "model://", None, 0
        self.board = None
        self.segment_counter = -1
        self.clear()

    # -- lifetime ----------------------------------------------------------------------------------

    def configure(self, dt, min_delay, max_delay, url, target, rng_seed):
        self.dt, self.min_delay, self.max_delay = float(dt), float(min_delay), float(max_delay)
        self.url, self.target, self.rng_seed = url, target, rng_seed

    def clear(self):
        """Forget the network (setup() and end())."""
        self.close()
        self.recorders = set()
        self.write_on_end = []
        self.id_counter = 0
        self.segment_counter = -1
        self.populations = []       # real Populations, in creation order
        self.projections = []
        self.net = self.image = None
        self.recorded_via = None    # how the last run recorded v: "probes", "reads" or None
        self.dirty = True
        self.reset()

    def close(self):
        if self.board is not None:
            self.board.close()
            self.board = None

    def reset(self):
        """Time 0; the next run reloads the image (initial v and weights)."""
        for recorder in self.recorders:
            recorder._clear_simulator()
        self.running = False
        self.t = self.t_start = 0.0
        self.tick = 0
        self._pending = {}
        self.loaded = False
        self.segment_counter += 1

    def changed(self):
        """A parameter, initial value or connection changed: rebuild before the next run."""
        self.dirty = True

    # -- running -----------------------------------------------------------------------------------

    def run(self, simtime):
        self.run_until(self.t + simtime)

    def run_until(self, tstop):
        ticks = int(round(tstop / self.dt)) - self.tick
        if ticks > 0:
            self.prepare()
            record = self._v_record()
            if record:      # v sampled after every tick: by probes, or pipelined READs
                result = self.board.run(ticks, inputs=self._inputs(self.tick, ticks),
                                        record=record)
                self.recorded_via = result.recorded_via
                self._collect(result, self.tick)
                for name in record:
                    pop = next(p for p in self.populations if p._sl_name == name)
                    for row in result[name].v:
                        pop.recorder._add_v(row)
            else:
                self._collect(self.board.run(ticks, inputs=self._inputs(self.tick, ticks)),
                              self.tick)
            self.tick += ticks
        self.t = max(tstop, self.tick * self.dt) if ticks <= 0 else self.tick * self.dt
        self.running = True

    def prepare(self):
        """Build, compile, open and load as needed (the first run, or after reset/changes)."""
        from .build import build
        if self.dirty:
            if self.tick:
                raise NotImplementedError(
                    "spikeloom.pynn: parameters, initial values or connections changed after "
                    "run(); call reset() before running again (the board cannot be edited "
                    "in the middle of a run)")
            self.net = build(self)
            cfg = self._target()
            try:
                self.image = _compile(self.net, target=cfg, dt=self.dt)
            except CompileError as exc:
                if "tau_syn_inh" not in str(exc):
                    raise
                # PyNN's word for a cell parameter the chosen hardware cannot realise
                raise errors.InvalidParameterValueError(
                    f"tau_syn_I != tau_syn_E where inhibition arrives needs a core with a "
                    f"separate inhibitory current: {exc}") from None
            self.dirty, self.loaded = False, False
            if self.board is not None and self.board.config.hash() != cfg.hash():
                self.close()
        if self.board is None:
            # a bare model:// runs the compiled configuration (a preset or any CoreConfig)
            self.board = _board.open_board(self.url, config=self.image.config)
        if not self.loaded:
            # the in-process model needs no read-back (it verifies a link, not the model)
            self.board.load(self.image, verify=not self.board.url.startswith("model://"))
            self.loaded = True
            if any(r.records_v for r in self.recorders):
                self._sample_v()

    def _v_record(self) -> dict | None:
        """``{population: ["v"]}`` of the populations whose v is recorded (None: none is).
        ``board.run`` streams it through the core's probes when their slots hold every
        recorded neuron, else reads it back after every tick in the same pipelined run."""
        recorded = [p for p in self.populations if p.recorder.records_v]
        return {p._sl_name: ["v"] for p in recorded} or None

    def _target(self) -> CoreConfig:
        """The configuration to compile for: setup(target=...), else the device's own, else
        (model://) the smallest preset that fits: without optional neuron features, unless a
        population needs the separate inhibitory current (tau_syn_I != tau_syn_E)."""
        if self.target is not None:
            from ..compiler import resolve_target
            return resolve_target(self.target)
        if not self.url.startswith("model://"):
            if self.board is None:
                self.board = _board.open_board(self.url)
            return self.board.config
        preset = self.url[len("model://"):].strip("/")
        if preset:
            from ..compiler import resolve_target
            return resolve_target(preset)
        need_n = sum(p.size for p in self.net.neuron_populations)
        need_i = sum(p.size for p in self.net.input_populations)
        full = PRESETS["default"].w_width
        # plain cores unless a population needs two currents: the optional neuron features
        # (adaptive threshold, separate inhibitory current) change the integer numerics
        need_inh = any(p.model.tau_syn_inh is not None for p in self.net.neuron_populations)
        plain = [c for c in PRESETS.values() if c.w_width >= full and (
            c.inh_current if need_inh else not (c.inh_current or c.theta_width))]
        fits = sorted((c for c in plain if c.n_neurons >= need_n and c.n_inputs >= need_i),
                      key=lambda c: (c.n_neurons, c.n_inputs))
        cfg = fits[0] if fits else PRESETS["default"]      # the compiler's FitError says why
        # recording v: the in-process model gets probes for every recorded neuron (as many as
        # one PROBE payload carries), so v streams during the run
        need_v = sum(p.size for p in self.populations if p.recorder.records_v)
        if need_v:
            most = (P.MAX_PAYLOAD - P.PROBE_HEAD.size) // cfg.probe_bytes
            cfg = cfg.replace(probe_slots=min(need_v, most, 255))
        # delays longer than one tick: the same sizes with enough delay bits (the golden model
        # runs any configuration; the compiler names a delay no configuration can hold)
        ticks = max((int(np.rint(np.max(p.delay) / self.dt)) for p in self.net.projections
                     if p.delay is not None and p.delay.size), default=1)
        if ticks > 1:
            bits = min((ticks - 1).bit_length(), 6)
            cfg = cfg.replace(delay_bits=max(bits, cfg.delay_bits),
                              name=f"{cfg.name}_delay{bits}")
        return cfg

    def _inputs(self, k0: int, ticks: int) -> dict:
        """``{input population name: (tick - k0, index) events}`` to inject in ticks k0 ..
        k0+ticks-1. A source spike at time ``k dt`` is injected for tick ``k + 1`` (the core
        accumulates an input in the tick it is injected for, a neuron's spike in the next one:
        so both reach their targets ``dt`` after their time); one due after this interval
        waits in ``_pending`` for the next run (or is dropped by reset: it is due after the
        end)."""
        out = {}
        for pop in self.populations:
            if pop._sl_kind != "inputs":
                continue
            ev = pop._spike_ticks(k0, ticks, self)          # absolute spike ticks
            if pop.recorder.records_spikes:
                pop.recorder._add_spikes(ev[:, 0], ev[:, 1])
            ev = np.concatenate([self._pending.pop(pop._sl_name, np.zeros((0, 2), np.int64)),
                                 ev + np.array([1, 0])])
            now = ev[:, 0] < k0 + ticks
            if (~now).any():
                self._pending[pop._sl_name] = ev[~now]
            if now.any():
                out[pop._sl_name] = ev[now] - np.array([k0, 0])
        return out

    def _collect(self, result, k0: int):
        for pop in self.populations:
            rec = pop.recorder
            if rec.records_spikes and pop._sl_kind == "neurons":
                ev = result[pop._sl_name].events
                rec._add_spikes(ev[:, 0] + k0, ev[:, 1])

    def _sample_v(self):
        """Append the recorded populations' v (mV) read from the device: only the NEURON_STATE
        words of those populations (one READ, not the whole state)."""
        recorded = [p for p in self.populations if p.recorder.records_v]
        infos = [self.image.population(p._sl_name) for p in recorded]
        lo, hi = min(i.start for i in infos), max(i.stop for i in infos)
        words = self.board.read_region(Region.NEURON_STATE, lo, hi - lo)
        v_raw = regions.decode(self.board.config, Region.NEURON_STATE, words)["v"]
        for pop, info in zip(recorded, infos, strict=True):
            raw = v_raw[info.start - lo:info.stop - lo]
            pop.recorder._add_v(np.asarray(info.v_rest) + raw / info.scale)


state = State()


def check_delay(delay, where: str) -> None:
    """Delays lie in ``[min_delay, max_delay]`` of setup() (PyNN's rule; the compiler then
    rounds them to ticks and checks what the configuration holds)."""
    d = np.asarray(delay, dtype=float)
    eps = 1e-9 * max(1.0, state.dt)
    bad = np.flatnonzero((d < state.min_delay - eps) | (d > state.max_delay + eps)
                         | ~np.isfinite(d))
    if bad.size:
        raise errors.ConnectionError(
            f"{where}: delay {np.ravel(d)[bad[0]]:g} ms is outside setup()'s min_delay .. "
            f"max_delay = {state.min_delay:g} .. {state.max_delay:g} ms")
