"""Results of a run: spike events, dense rasters, per-population views; input files.

A :class:`Result` holds the output spikes of ``ticks`` ticks as events ``(tick, neuron)`` (tick
counted from the start of the run, neuron = hardware index), the input spikes that were sent,
and the placement of the populations, so ``result["exc"]`` gives that population's spikes with
population-local indices. ``dt`` (ms per tick) turns counts into rates.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from .image import PopulationInfo

__all__ = ["Result", "PopulationSpikes", "load_inputs"]


class PopulationSpikes:
    """Spikes of one population: ``events`` (tick, local index), ``dense`` (ticks, size)."""

    def __init__(self, name: str, events: np.ndarray, ticks: int, size: int, dt: float,
                 kind: str = "neurons"):
        self.name = name
        self.events = events
        self.ticks = ticks
        self.size = size
        self.dt = dt
        self.kind = kind

    @property
    def dense(self) -> np.ndarray:
        out = np.zeros((self.ticks, self.size), bool)
        out[self.events[:, 0], self.events[:, 1]] = True
        return out

    @property
    def count(self) -> int:
        return int(len(self.events))

    def counts(self) -> np.ndarray:
        """Spikes per neuron."""
        return np.bincount(self.events[:, 1], minlength=self.size)

    def rate_hz(self, per_neuron: bool = False):
        """Firing rate in Hz over the whole run (``ticks * dt`` ms).

        By default a float: the population's mean rate, spikes / (neurons * seconds). With
        ``per_neuron=True`` a float array of shape ``(size,)``: each neuron's own rate,
        ``counts() / seconds``. A run of 0 ticks gives 0 (or zeros)."""
        span = self.ticks * self.dt / 1000.0
        if per_neuron:
            counts = self.counts().astype(float)
            return counts / span if span else np.zeros(self.size)
        return self.count / (self.size * span) if span and self.size else 0.0

    def __repr__(self):
        return f"<spikes of {self.name!r}: {self.count} in {self.ticks} ticks>"


class Result:
    """Output of :meth:`spikeloom.Board.run` (see the module docstring)."""

    def __init__(self, events, ticks: int, n_neurons: int, *, populations=(), dt: float = 1.0,
                 start_tick: int = 0, input_events=None, n_inputs: int = 0, recorded=None,
                 recorded_via: str | None = None):
        self.events = np.asarray(events, np.int64).reshape(-1, 2)
        self.ticks = int(ticks)
        self.n_neurons = int(n_neurons)
        self.n_inputs = int(n_inputs)
        self.populations = {p.name: p for p in populations}
        self.dt = float(dt)
        self.start_tick = int(start_tick)
        self.input_events = (np.zeros((0, 2), np.int64) if input_events is None
                             else np.asarray(input_events, np.int64).reshape(-1, 2))
        self._dense = None
        #: ``{population: {field: Trace}}`` recorded during the run (``board.run(record=)``)
        self.recorded = dict(recorded or {})
        #: how they were recorded: "probes", "reads" (docs/host.md), or None
        self.recorded_via = recorded_via

    @property
    def dense(self) -> np.ndarray:
        """(ticks, n_neurons) bool raster over the hardware neurons."""
        if self._dense is None:
            d = np.zeros((self.ticks, self.n_neurons), bool)
            d[self.events[:, 0], self.events[:, 1]] = True
            self._dense = d
        return self._dense

    @property
    def count(self) -> int:
        return int(len(self.events))

    def __len__(self):
        return self.count

    def __getitem__(self, pop) -> PopulationSpikes:
        name = getattr(pop, "name", pop)
        try:
            info = self.populations[name]
        except KeyError:
            raise KeyError(f"no population {name!r} in this result; it has "
                           f"{', '.join(self.populations) or 'none (no image loaded)'}") from None
        ev = self.input_events if info.kind == "inputs" else self.events
        sel = (ev[:, 1] >= info.start) & (ev[:, 1] < info.stop)
        local = ev[sel].copy()
        local[:, 1] -= info.start
        out = PopulationSpikes(name, local, self.ticks, info.size, self.dt, info.kind)
        for field, trace in self.recorded.get(name, {}).items():
            setattr(out, field, trace)
        return out

    def summary(self) -> str:
        parts = [f"{self.ticks} ticks, {self.count} spikes"]
        for name, info in self.populations.items():
            if info.kind == "neurons":
                ps = self[name]
                parts.append(f"{name}: {ps.count} ({ps.rate_hz():.1f} Hz)")
        return "; ".join(parts)

    def __repr__(self):
        return f"<Result {self.summary()}>"

    # -- files -------------------------------------------------------------------------------------

    def save(self, path) -> Path:
        path = Path(path)
        meta = {"ticks": self.ticks, "n_neurons": self.n_neurons, "n_inputs": self.n_inputs,
                "dt": self.dt, "start_tick": self.start_tick,
                "populations": [dataclasses.asdict(p) for p in self.populations.values()]}
        with path.open("wb") as f:
            np.savez_compressed(f, events=self.events, input_events=self.input_events,
                                meta=np.array(json.dumps(meta, sort_keys=True)))
        return path

    @classmethod
    def load(cls, path) -> Result:
        from .errors import Error
        try:
            with np.load(Path(path), allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                events, inputs = z["events"], z["input_events"]
        except (OSError, KeyError, ValueError) as exc:
            raise Error(f"cannot read result file {str(path)!r}: {exc}") from None
        return cls(events, meta["ticks"], meta["n_neurons"],
                   populations=[PopulationInfo(**p) for p in meta["populations"]],
                   dt=meta["dt"], start_tick=meta["start_tick"], input_events=inputs,
                   n_inputs=meta.get("n_inputs", 0))

    # -- plots -------------------------------------------------------------------------------------

    def plot_raster(self, path=None, **kwargs):
        """Spike raster by population (see :func:`spikeloom.plots.raster`)."""
        from .plots import raster
        return raster(self, path, **kwargs)

    def plot_state(self, pop, field: str = "v", path=None, **kwargs):
        """A recorded state field over time (see :func:`spikeloom.plots.state`)."""
        from .plots import state
        return state(self, pop, field, path, **kwargs)


def load_inputs(path, ticks: int, image=None):
    """Input spikes from a file, in a form :meth:`Board.run` accepts.

    - ``.npy``: a (ticks, n_inputs) bool array (hardware inputs), or (k, 2) int events;
    - ``.npz``: arrays named after input populations ((ticks, size) bool), or ``inputs``;
    - ``.csv``/``.txt``: lines ``tick,input`` (hardware input) or ``tick,population,index``;
      ``#`` comments and blank lines are skipped.
    """
    from .errors import Error
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if "inputs" in z.files and len(z.files) == 1:
                    return z["inputs"]
                return {k: z[k] for k in z.files}
        text = path.read_text()
    except (OSError, ValueError) as exc:
        raise Error(f"cannot read input file {str(path)!r}: {exc}") from None
    events, named = [], {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p.strip() for p in line.replace(";", ",").split(",")]
        try:
            if len(parts) == 2:
                events.append((int(parts[0]), int(parts[1])))
            elif len(parts) == 3:
                named.setdefault(parts[1], []).append((int(parts[0]), int(parts[2])))
            else:
                raise ValueError("expected 2 or 3 fields")
        except ValueError as exc:
            raise Error(f"{path}:{lineno}: cannot read {line!r} ({exc}); expected "
                        "'tick,input' or 'tick,population,index'") from None
    if events and named:
        raise Error(f"{path}: mixes 'tick,input' and 'tick,population,index' lines")
    if named:
        return {k: np.array(v, np.int64).reshape(-1, 2) for k, v in named.items()}
    return np.array(events, np.int64).reshape(-1, 2)
