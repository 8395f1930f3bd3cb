"""An STDP network that learns a repeated spike pattern hidden in noise.

64 inputs: inputs 0..31 replay the same spatio-temporal pattern (each fires once at a fixed time
within a 10-tick window) every ``period`` ticks; every input also fires at random (Poisson
noise). 48 excitatory LIF neurons receive plastic input synapses (pair STDP) and inhibit each
other through 12 inhibitory neurons. After a few hundred ticks the synapses from the pattern
inputs grow and those from noise-only inputs shrink.

``build()`` returns the network (so ``spikeloom compile examples/stdp_network.py`` works) and
``make_inputs()`` the input raster.
"""

from __future__ import annotations

import numpy as np
import spikeloom as sl

__all__ = ["build", "make_inputs", "N_IN", "N_PATTERN"]

N_IN = 64
N_PATTERN = 32          # inputs 0..N_PATTERN-1 carry the pattern
N_EXC = 48
N_INH = 12

# depression slightly stronger than potentiation: uncorrelated (noise) inputs lose weight,
# inputs that reliably precede the neurons' spikes (the pattern) gain it
STDP = sl.STDP(a_plus=0.006, a_minus=0.0069, tau_plus=16.0, tau_minus=16.0,
               w_min=0.0, w_max=0.05)


def build(seed: int = 1) -> sl.Network:
    rng = np.random.default_rng(seed)
    net = sl.Network("stdp_pattern")
    inp = net.inputs(N_IN, name="in")
    exc = net.population(N_EXC, sl.LIF(tau_mem=20.0, tau_syn=5.0, threshold=1.0,
                                       refractory=4), name="exc")
    inh = net.population(N_INH, sl.LIF(tau_mem=10.0, tau_syn=3.0, threshold=1.0,
                                       refractory=2), name="inh")
    net.connect(inp, exc, weights=rng.uniform(0.005, 0.015, (N_IN, N_EXC)), stdp=STDP,
                name="in->exc")
    net.connect(exc, inh, weights=sl.FixedProbability(0.5, 0.3, seed=seed + 1), name="exc->inh")
    net.connect(inh, exc, weights=sl.FixedProbability(0.6, -0.05, seed=seed + 2), name="inh->exc")
    return net


def make_inputs(ticks: int, *, period: int = 60, width: int = 10, noise: float = 0.01,
                seed: int = 2) -> np.ndarray:
    """(ticks, N_IN) bool raster: the pattern every ``period`` ticks plus Poisson noise."""
    rng = np.random.default_rng(seed)
    times = rng.integers(0, width, N_PATTERN)           # the pattern: one spike per input
    spikes = rng.random((ticks, N_IN)) < noise
    for start in range(0, ticks - width, period):
        spikes[start + times, np.arange(N_PATTERN)] = True
    return spikes


net = None   # `spikeloom compile` calls build()
