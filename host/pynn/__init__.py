"""spikeloom.pynn — run PyNN scripts on spikeloom: ``import spikeloom.pynn as sim``.

A PyNN 0.13 backend built on :mod:`pyNN.common`, :mod:`pyNN.standardmodels`,
:mod:`pyNN.connectors`, :mod:`pyNN.random` and Neo. The network a script describes is compiled
with :func:`spikeloom.compile` on the first ``run()`` and runs on ``setup(url=...)``: the golden
model (``model://``), a virtual board or a real board. docs/pynn.md lists what is supported and
derives the mapping of ``IF_curr_exp`` onto the core.
"""

from pyNN import errors, random, space  # noqa: F401
from pyNN.connectors import (  # noqa: F401
    AllToAllConnector,
    ArrayConnector,
    FixedNumberPostConnector,
    FixedNumberPreConnector,
    FixedProbabilityConnector,
    FixedTotalNumberConnector,
    FromListConnector,
    OneToOneConnector,
)
from pyNN.random import NumpyRNG, RandomDistribution  # noqa: F401
from pyNN.space import Space  # noqa: F401

from .control import (
    end,
    get_current_time,
    get_max_delay,
    get_min_delay,
    get_time_step,
    initialize,
    num_processes,
    rank,
    reset,
    run,
    run_for,
    run_until,
    setup,
)
from .populations import Assembly, Population, PopulationView
from .projections import Projection
from .simulator import state
from .standardmodels import (
    AdditiveWeightDependence,
    IF_curr_exp,
    MultiplicativeWeightDependence,
    SpikePairRule,
    SpikeSourceArray,
    SpikeSourcePoisson,
    StaticSynapse,
    STDPMechanism,
)

__all__ = [
    "setup", "end", "run", "run_until", "run_for", "reset", "initialize", "get_current_time",
    "get_time_step", "get_min_delay", "get_max_delay", "num_processes", "rank",
    "Population", "PopulationView", "Assembly", "Projection",
    "IF_curr_exp", "SpikeSourceArray", "SpikeSourcePoisson", "StaticSynapse", "STDPMechanism",
    "SpikePairRule", "AdditiveWeightDependence", "MultiplicativeWeightDependence",
    "AllToAllConnector", "OneToOneConnector", "FixedProbabilityConnector",
    "FixedNumberPreConnector", "FixedNumberPostConnector", "FixedTotalNumberConnector",
    "FromListConnector", "ArrayConnector", "NumpyRNG", "RandomDistribution", "Space", "errors",
    "random", "space",
    "state", "list_standard_models",
]


def list_standard_models():
    """The PyNN cell types spikeloom runs."""
    return ["IF_curr_exp", "SpikeSourceArray", "SpikeSourcePoisson"]
