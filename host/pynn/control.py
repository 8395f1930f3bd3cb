"""setup, run, reset, end and the state queries of ``spikeloom.pynn``."""

from __future__ import annotations

from pyNN import common
from pyNN.recording import get_io

from . import simulator

__all__ = ["setup", "end", "run", "run_until", "run_for", "reset", "initialize",
           "get_current_time", "get_time_step", "get_min_delay", "get_max_delay",
           "num_processes", "rank"]


def setup(timestep=1.0, min_delay="auto", max_delay="auto", url="model://", target=None,
          rng_seed=0, **extra_params):
    """Start a simulation (forgets any previous network).

    ``timestep`` (ms) is the core's tick. ``min_delay``/``max_delay`` may only be the timestep
    (``"auto"``): every synapse delays by one tick until the core has delay lines (issue 16).
    ``url`` is where to run: ``"model://"`` (the golden model; the smallest preset that fits,
    or ``model://PRESET``), ``"socket://HOST:PORT"`` (a virtual board) or a serial port.
    ``target`` (preset name or CoreConfig) is the configuration to compile for (default: the
    device's, or the smallest fitting preset on ``model://``). ``rng_seed`` seeds the host's
    Poisson sources.
    """
    common.setup(timestep, min_delay, max_delay=max_delay, **extra_params)
    state = simulator.state
    for value, what in ((min_delay, "min_delay"), (max_delay, "max_delay")):
        if value != "auto" and abs(float(value) - timestep) > 1e-9 * timestep:
            raise NotImplementedError(
                f"setup({what}={value}): spikeloom delivers every spike one time step later "
                f"({what} = timestep = {timestep:g} ms); per-synapse delays come with the "
                "core's delay lines (issue 16)")
    state.clear()
    state.configure(timestep, timestep, timestep, url, target, rng_seed)
    return rank()


def end(compatible_output=True):
    """Write what was asked with ``write_data`` at end and close the board."""
    state = simulator.state
    for population, variables, filename in state.write_on_end:
        population.write_data(get_io(filename), variables)
    state.write_on_end = []
    state.close()


run, run_until = common.build_run(simulator)
run_for = run
reset = common.build_reset(simulator)
initialize = common.initialize
get_current_time, get_time_step, get_min_delay, get_max_delay, num_processes, rank = \
    common.build_state_queries(simulator)
