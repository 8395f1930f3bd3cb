"""Many independent cores of one configuration, stepped together by the compiled engine.

:class:`Batch` holds ``k`` ordinary :class:`~spikeloom.sim.model.Core` objects and runs them all
in one numba call (:func:`spikeloom.sim.fast.run_batch`, the cores in parallel over the
machine's threads), for sweeps of many small networks on one machine. It lives apart from
:mod:`spikeloom.sim.fast` because it constructs Cores: the kernel module must not import the
model that imports it.
"""

from __future__ import annotations

import numpy as np

from ..proto.config import CoreConfig
from . import fast
from .model import Core

__all__ = ["Batch"]


class Batch:
    """``k`` independent cores of one configuration, run together in one compiled program.

    ``batch.cores[b]`` is an ordinary :class:`~spikeloom.sim.model.Core`: configure each one as
    usual (parameters, weights, plasticity, STDP, state, ``write_words``). :meth:`run` packs all
    of them into stacked arrays, runs every core for ``ticks`` ticks in one numba call (cores in
    parallel over the machine's threads), and writes the results back, so afterwards each core
    is exactly where ``core.run(ticks, inputs[b])`` would have left it (tests/test_fast.py).
    A configuration the fast engine does not implement is a ValueError.
    """

    def __init__(self, cfg: CoreConfig, k: int):
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"a batch needs k >= 1 cores, not {k!r}")
        why = fast.unsupported(cfg)
        if why:
            raise ValueError(f"the fast engine cannot run {cfg.name!r}: {'; '.join(why)}")
        self.cfg = cfg
        self.cores = [Core(cfg, engine="reference") for _ in range(k)]

    @classmethod
    def from_cores(cls, cores) -> Batch:
        """A batch over existing cores (all of one configuration); they are updated by run."""
        cores = list(cores)
        if not cores:
            raise ValueError("a batch needs at least one core")
        cfg = cores[0].cfg
        if any(c.cfg != cfg for c in cores):
            raise ValueError("every core of a batch must have the same configuration")
        batch = cls(cfg, len(cores))
        batch.cores = cores
        return batch

    def __len__(self) -> int:
        return len(self.cores)

    def run(self, ticks: int, inputs=None) -> np.ndarray:
        """Run every core ``ticks`` ticks. ``inputs``: None, one (ticks, n_inputs) bool raster
        for all cores, or a (k, ticks, n_inputs) one per core. Returns the
        (k, ticks, n_neurons) bool raster."""
        cfg, k = self.cfg, len(self.cores)
        if not isinstance(ticks, int) or ticks < 0:
            raise ValueError(f"ticks must be a non-negative int, not {ticks!r}")
        shape = (ticks, cfg.n_inputs)
        if inputs is None:
            inp = np.zeros((k, 0, 0), bool)
        else:
            inp = np.asarray(inputs, bool)
            if inp.shape == shape:
                inp = np.broadcast_to(inp, (k, *shape))
            if inp.shape != (k, *shape):
                raise ValueError(f"inputs must have shape {shape} or {(k, *shape)}, "
                                 f"got {inp.shape}")
        return fast.run_batch(self.cores, ticks, inp)
