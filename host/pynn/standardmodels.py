"""The PyNN standard models spikeloom runs, with PyNN's names as native names.

Parameters stay in PyNN units inside the populations and projections; the translation to the
core happens once, when the network is built (:mod:`spikeloom.pynn.build`). Models the core
cannot run yet are present under their PyNN name and raise
:class:`pyNN.errors.NoModelAvailableError` saying why, so a script fails at the line that asks
for them.
"""

from __future__ import annotations

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
    """Soft bounds: ``dw+ = A_plus (w_max - w)``, ``dw- = A_minus (w - w_min)``. Compiles to
    ``spikeloom.STDP(weight_dependence="multiplicative", stochastic=True)``, which needs a
    target with several plasticity rules (``CoreConfig.rule_bits > 1``; docs/pynn.md)."""
    translations = _identity(synapses.MultiplicativeWeightDependence)
