"""The PyNN standard models spikeloom runs, with PyNN's names as native names.

Parameters stay in PyNN units inside the populations and projections; the translation to the
core happens once, when the network is built (:mod:`spikeloom.pynn.build`). Models the core
cannot run yet are present under their PyNN name and raise
:class:`pyNN.errors.NoModelAvailableError` saying why, so a script fails at the line that asks
for them.
"""

from __future__ import annotations

from pyNN import errors
from pyNN.standardmodels import build_translations, cells, synapses

__all__ = [
    "IF_curr_exp", "SpikeSourceArray", "SpikeSourcePoisson", "StaticSynapse", "STDPMechanism",
    "SpikePairRule", "AdditiveWeightDependence", "MultiplicativeWeightDependence",
]


def _identity(model):
    return build_translations(*((name, name) for name in model.default_parameters))


class IF_curr_exp(cells.IF_curr_exp):
    __doc__ = cells.IF_curr_exp.__doc__
    translations = _identity(cells.IF_curr_exp)


class SpikeSourceArray(cells.SpikeSourceArray):
    __doc__ = cells.SpikeSourceArray.__doc__
    translations = _identity(cells.SpikeSourceArray)


class SpikeSourcePoisson(cells.SpikeSourcePoisson):
    __doc__ = cells.SpikeSourcePoisson.__doc__
    translations = _identity(cells.SpikeSourcePoisson)


class StaticSynapse(synapses.StaticSynapse):
    __doc__ = synapses.StaticSynapse.__doc__
    translations = _identity(synapses.StaticSynapse)

    def _get_minimum_delay(self):
        from .simulator import state
        return state.min_delay


class STDPMechanism(synapses.STDPMechanism):
    __doc__ = synapses.STDPMechanism.__doc__
    base_translations = build_translations(("weight", "weight"), ("delay", "delay"),
                                           ("dendritic_delay_fraction",
                                            "dendritic_delay_fraction"))

    def _get_minimum_delay(self):
        from .simulator import state
        return state.min_delay


class SpikePairRule(synapses.SpikePairRule):
    __doc__ = synapses.SpikePairRule.__doc__
    translations = _identity(synapses.SpikePairRule)


class AdditiveWeightDependence(synapses.AdditiveWeightDependence):
    __doc__ = synapses.AdditiveWeightDependence.__doc__
    translations = _identity(synapses.AdditiveWeightDependence)


class MultiplicativeWeightDependence(synapses.MultiplicativeWeightDependence):
    """Not available yet: the core's STDP is additive with hard bounds (one rule per core).
    Soft-bound (multiplicative) rules come with the plasticity-rule work of model v2."""

    translations = _identity(synapses.MultiplicativeWeightDependence)

    def __init__(self, w_min=0.0, w_max=1.0):
        raise errors.NoModelAvailableError(
            "MultiplicativeWeightDependence is not available on spikeloom: the core's STDP is "
            "additive with hard bounds [w_min, w_max] (use AdditiveWeightDependence); "
            "soft-bound rules come with the hardware's plasticity-rule index (model v2)")
