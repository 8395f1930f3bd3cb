"""Projection: connections stored as arrays, weights read back from the board after a run.

A connector (pyNN.connectors) calls :meth:`Projection._convergent_connect`; the connections are
kept in PyNN units (weights in nA, delays in ms). ``get("weight", ...)`` after a run reads the
device's weights (quantized, and learned for STDP projections) and converts them back to nA.
"""

from __future__ import annotations

import numpy as np
from pyNN import common
from pyNN.space import Space

from . import simulator
from .standardmodels import StaticSynapse

__all__ = ["Projection"]


class Projection(common.Projection):
    __doc__ = common.Projection.__doc__
    _simulator = simulator
    _static_synapse_class = StaticSynapse

    def __init__(self, presynaptic_population, postsynaptic_population, connector,
                 synapse_type=None, source=None, receptor_type=None, space=None, label=None):
        super().__init__(presynaptic_population, postsynaptic_population, connector,
                         synapse_type, source, receptor_type,
                         Space() if space is None else space, label)
        self._chunks = []
        self._values = None
        #: filled by the build: [(spikeloom projection name, connection indices, pre, post,
        #: nA -> model units per connection, share of the summed weight per connection)]
        self._parts = []
        connector.connect(self)
        simulator.state.projections.append(self)
        simulator.state.changed()

    def _convergent_connect(self, presynaptic_indices, postsynaptic_index,
                            location_selector=None, **connection_parameters):
        if location_selector is not None:
            raise NotImplementedError("spikeloom.pynn has point neurons only")
        pre = np.asarray(presynaptic_indices, dtype=np.int64).ravel()
        if not pre.size:
            return
        chunk = {"presynaptic_index": pre,
                 "postsynaptic_index": np.full(pre.size, int(postsynaptic_index), np.int64)}
        for key, value in connection_parameters.items():
            value = np.asarray(value, dtype=float)
            chunk[key] = np.broadcast_to(value, pre.shape).copy() if value.ndim == 0 \
                else value.ravel()
        simulator.check_delay(chunk.get("delay", simulator.state.dt),
                              f"projection {self.label!r}")
        self._chunks.append(chunk)
        self._values = None

    @property
    def values(self) -> dict[str, np.ndarray]:
        """Every connection attribute as one array (connection order)."""
        if self._values is None:
            keys = ["presynaptic_index", "postsynaptic_index"] + sorted(
                {k for c in self._chunks for k in c} - {"presynaptic_index",
                                                        "postsynaptic_index"})
            self._values = {k: np.concatenate([c[k] for c in self._chunks]) if self._chunks
                            else np.zeros(0) for k in keys}
        return self._values

    def __len__(self):
        return int(self.values["presynaptic_index"].size)

    def set(self, **attributes):
        raise NotImplementedError("spikeloom.pynn: set weights through the connector or "
                                  "StaticSynapse(weight=...) before the first run")

    def _device_values(self) -> dict[str, np.ndarray]:
        """``values`` with the weights read back from the board when one is loaded."""
        values = dict(self.values)
        state = simulator.state
        if state.loaded and state.board is not None and self._parts:
            w = values["weight"].copy()
            for sl_name, conn, pre, post, k, share in self._parts:
                dense = state.board.read_weights(sl_name)
                # a pair made several times is one summed synapse: each connection gets its
                # part of the device's weight (so format="array" sums back to it)
                w[conn] = dense[pre, post] / k * share
            values["weight"] = w
        return values

    def _get_attributes_as_list(self, names):
        values = self._device_values()
        return list(zip(*(values[n].tolist() for n in names), strict=True))

    def _get_attributes_as_arrays(self, names, multiple_synapses="sum"):
        values = self._device_values()
        op = common.Projection.MULTI_SYNAPSE_OPERATIONS[multiple_synapses]
        out = []
        pre, post = values["presynaptic_index"], values["postsynaptic_index"]
        for name in names:
            name = name[:-1] if name.endswith("s") and name[:-1] in values else name
            a = np.full((self.pre.size, self.post.size), np.nan)
            for i, j, x in zip(pre.tolist(), post.tolist(), values[name].tolist(), strict=True):
                a[i, j] = x if np.isnan(a[i, j]) else op(a[i, j], x)
            out.append(a)
        return out
