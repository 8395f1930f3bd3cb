"""Recording: spikes from the run's events, ``v`` streamed by the device's probes during the
run (or, on a core with too few probe slots, read back from the board after every tick).

Spike times are ``tick * dt``; ``v`` is sampled at ``0, dt, 2 dt, ...`` (the initial value,
then the state after each tick), in mV: the hardware integer divided by the population's scale
plus its voltage origin (so exactly what the core holds).
"""

from __future__ import annotations

import numpy as np
from pyNN import recording

from . import simulator

__all__ = ["Recorder"]


class Recorder(recording.Recorder):
    _simulator = simulator

    def __init__(self, population, file=None):
        super().__init__(population, file)
        self._clear_simulator()

    def _names(self):
        return {v.name for v, ids in self.recorded.items() if ids}

    @property
    def records_spikes(self) -> bool:
        return "spikes" in self._names()

    @property
    def records_v(self) -> bool:
        return "v" in self._names()

    def _record(self, variable, new_ids, sampling_interval=None):
        if sampling_interval not in (None, self._simulator.state.dt):
            raise NotImplementedError("spikeloom.pynn records every time step "
                                      "(sampling_interval = timestep)")
        if variable.name == "v" and new_ids and self._simulator.state.loaded:
            raise NotImplementedError("spikeloom.pynn: record('v') before the first run() or "
                                      "right after reset()")

    def _add_spikes(self, ticks, index):
        self._spikes.append(np.stack([ticks, index], axis=1))

    def _add_v(self, v):
        self._v.append(np.array(v, dtype=float))

    def _spike_array(self):
        return np.concatenate(self._spikes) if self._spikes else np.zeros((0, 2), np.int64)

    def _get_spiketimes(self, ids, clear=False):
        ev = self._spike_array()
        dt = self._simulator.state.dt
        out = {}
        for cell in ids:
            j = self.population.id_to_index(cell)
            out[int(cell)] = np.sort(ev[ev[:, 1] == j, 0]) * dt
        if clear:
            self._spikes = []
        return out

    def _get_all_signals(self, variable, ids, clear=False):
        if not self._v:
            return np.zeros((0, len(ids))), None
        cols = [self.population.id_to_index(cell) for cell in ids]
        data = np.stack(self._v)[:, cols]
        return data, None

    def _local_count(self, variable, filter_ids=None):
        ev = self._spike_array()
        counts = np.bincount(ev[:, 1], minlength=self.population.size) if ev.size else \
            np.zeros(self.population.size, int)
        return {int(cell): int(counts[self.population.id_to_index(cell)])
                for cell in self.filter_recorded(variable, filter_ids)}

    def clear(self):
        # the AnalogSignal of the next get() starts at the current time: keep its sample
        last = self._v[-1:]
        super().clear()
        self._v = last

    def _clear_simulator(self):
        self._spikes = []
        self._v = []

    def _reset(self):
        pass
