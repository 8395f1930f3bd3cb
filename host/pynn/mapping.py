"""PyNN's ``IF_curr_exp`` in the terms of a :class:`spikeloom.LIF` (docs/pynn.md derives it).

PyNN's neuron (units mV, nA, nF, ms)::

    cm dv/dt = cm (v_rest - v) / tau_m + I_syn + i_offset,   dI_syn/dt = -I_syn / tau_syn
    a spike with weight w arriving at time s: I_syn(s) += w

The core's neuron per time step ``dt`` (:mod:`spikeloom.network`)::

    i1 = i + sum of the arriving weights;  v' = o + (v - o) am + i1 + b;  i' = i1 as

with ``am = exp(-dt/tau_m)``, ``as = exp(-dt/tau_syn)`` and ``o`` the hardware's voltage origin.
Both are linear, so the mapping is exact at the sample times (the quantization of the compiled
integers is the only error, listed in the compile report):

- a weight ``w`` (nA) is a jump ``w * psc_scale`` (mV) of the core's current, with
  ``psc_scale = (am - as) / (cm (1/tau_syn - 1/tau_m))`` (``dt exp(-dt/tau) / cm`` when the
  time constants are equal): the core's post-synaptic potential then equals PyNN's sampled
  every ``dt`` after the current's jump;
- ``i_offset`` and a resting potential other than the origin are a bias per step:
  ``b = ((v_rest - o) + i_offset tau_m / cm) (1 - am)`` (exact for a constant current over a
  step). The origin is ``v_rest`` unless ``v_rest >= v_thresh`` (a neuron that fires on its own,
  as in Brette et al.'s CUBA benchmark), where it is ``v_reset``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["psc_scale", "lif_params"]


def psc_scale(dt: float, tau_m, tau_syn, cm) -> np.ndarray:
    """mV of the core's current jump per nA of PyNN weight (arrays broadcast, one per neuron)."""
    tau_m, tau_syn, cm = (np.asarray(x, dtype=float) for x in (tau_m, tau_syn, cm))
    am, a_s = np.exp(-dt / tau_m), np.exp(-dt / tau_syn)
    rate_gap = 1.0 / tau_syn - 1.0 / tau_m
    near = np.abs(rate_gap) * dt < 1e-6         # equal time constants: the limit, dt e^(-dt/tau)
    safe = np.where(near, 1.0, rate_gap)
    return np.where(near, dt * np.sqrt(am * a_s), (am - a_s) / safe) / cm


def lif_params(dt: float, p: dict) -> dict:
    """Keyword arguments of :class:`spikeloom.LIF` (one value per neuron) from the evaluated
    ``IF_curr_exp`` parameters ``p`` (arrays) and the initial ``v`` (``p["v"]``)."""
    tau_m = p["tau_m"]
    am = np.exp(-dt / tau_m)
    origin = np.where(p["v_rest"] < p["v_thresh"], p["v_rest"], p["v_reset"])
    bias = ((p["v_rest"] - origin) + p["i_offset"] * tau_m / p["cm"]) * (1.0 - am)
    return dict(tau_mem=tau_m, tau_syn=p["tau_syn_E"], threshold=p["v_thresh"],
                v_reset=p["v_reset"], v_rest=origin, v_init=p["v"], bias=bias,
                refractory_ms=p["tau_refrac"], reset="value")
