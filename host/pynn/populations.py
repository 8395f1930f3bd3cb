"""Population, PopulationView and Assembly on top of :mod:`pyNN.common`.

Parameters live as evaluated numpy arrays (PyNN units, PyNN names) in the real Population;
views read and write their slice of them. Any change marks the simulation for a rebuild.
"""

from __future__ import annotations

import numpy as np
from pyNN import common, errors
from pyNN.parameters import ParameterSpace, simplify
from pyNN.standardmodels import StandardCellType

from . import simulator
from .recording import Recorder
from .standardmodels import IF_curr_exp, SpikeSourceArray, SpikeSourcePoisson

__all__ = ["Population", "PopulationView", "Assembly"]

_KINDS = {IF_curr_exp: "neurons", SpikeSourceArray: "inputs", SpikeSourcePoisson: "inputs"}


class Assembly(common.Assembly):
    _simulator = simulator


class _ParameterAccess:
    """_get_parameters for Population and PopulationView (``_rows`` selects the neurons)."""

    def _get_parameters(self, *names):
        if isinstance(self.celltype, StandardCellType) and any(
                n in self.celltype.computed_parameters() for n in names):
            names = self.celltype.get_native_names()
        else:
            names = self.celltype.get_native_names(*names)
        root = self._root()
        values = {n: simplify(np.asarray(root._parameters[n])[self._rows()]) for n in names}
        return self.celltype.reverse_translate(ParameterSpace(values, shape=(self.size,)))

    def _set_initial_value_array(self, variable, initial_values):
        root = self._root()
        value = initial_values.evaluate(simplify=False)
        root._initial.setdefault(variable, np.zeros(root.size))[self._rows()] = value
        simulator.state.changed()

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)


class PopulationView(_ParameterAccess, common.PopulationView):
    _assembly_class = Assembly
    _simulator = simulator

    def _root(self):
        return self.grandparent

    def _rows(self):
        return self.index_in_grandparent(np.arange(self.size))

    def _set_parameters(self, parameter_space):
        root, rows = self._root(), self._rows()
        parameter_space.evaluate(simplify=False)
        for key, value in parameter_space.items():
            root._parameters[key][rows] = value
        simulator.state.changed()


class Population(_ParameterAccess, common.Population):
    __doc__ = common.Population.__doc__
    _simulator = simulator
    _recorder_class = Recorder
    _assembly_class = Assembly

    def _root(self):
        return self

    def _rows(self):
        return slice(None)

    def _create_cells(self):
        kind = _KINDS.get(type(self.celltype))
        if kind is None:
            raise errors.InvalidModelError(
                f"{type(self.celltype).__name__} is not a spikeloom.pynn cell type: use "
                f"{', '.join(k.__name__ for k in _KINDS)} from spikeloom.pynn")
        state = simulator.state
        ids = np.arange(state.id_counter, state.id_counter + self.size)
        self.all_cells = np.array([simulator.ID(i) for i in ids], dtype=simulator.ID)
        self._mask_local = np.ones(self.size, bool)
        space = self.celltype.native_parameters
        space.shape = (self.size,)
        space.evaluate(simplify=False)
        self._parameters = {k: np.array(v) for k, v in space.as_dict().items()}
        self._initial = {}
        for cell in self.all_cells:
            cell.parent = self
        state.id_counter += self.size
        self._sl_kind = kind
        self._sl_name = None
        self._rng = None
        state.populations.append(self)
        state.changed()

    def _set_parameters(self, parameter_space):
        parameter_space.evaluate(simplify=False)
        for key, value in parameter_space.items():
            self._parameters[key] = np.array(value)
        simulator.state.changed()

    # -- spike sources -----------------------------------------------------------------------------

    def _spike_ticks(self, k0: int, ticks: int, state) -> np.ndarray:
        """(tick, index) spikes of this source at times ``tick * dt`` in ticks k0 ..
        k0+ticks-1 (times are rounded to the time step; two in one step are one spike)."""
        dt = state.dt
        if isinstance(self.celltype, SpikeSourceArray):
            events = []
            for j, seq in enumerate(self._parameters["spike_times"]):
                times = np.asarray(getattr(seq, "value", seq), dtype=float)
                k = np.unique(np.round(times / dt).astype(np.int64))
                k = k[(k >= k0) & (k < k0 + ticks)]
                events.append(np.stack([k, np.full(k.size, j)], axis=1))
            return np.concatenate(events) if events else np.zeros((0, 2), np.int64)
        # Poisson: one Bernoulli draw per tick and neuron (the core takes one spike per input
        # per tick), from a generator seeded by setup(rng_seed=...) and this population's
        # position, continued across run() calls and reset() (new trials differ)
        if self._rng is None:
            self._rng = np.random.default_rng([state.rng_seed, state.populations.index(self)])
        p = self._parameters
        t = (k0 + np.arange(ticks))[:, None] * dt
        prob = np.clip(p["rate"] * dt / 1000.0, 0.0, 1.0)
        on = (t >= p["start"]) & (t < p["start"] + p["duration"])
        fire = (self._rng.random((ticks, self.size)) < prob) & on
        return np.argwhere(fire).astype(np.int64) + np.array([k0, 0])
