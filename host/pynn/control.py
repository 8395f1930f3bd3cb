"""setup, run, reset, end and the state queries of ``spikeloom.pynn``."""

from __future__ import annotations

from pyNN import common, errors
from pyNN.recording import get_io

from . import simulator

__all__ = ["setup", "end", "run", "run_until", "run_for", "reset", "initialize",
           "get_current_time", "get_time_step", "get_min_delay", "get_max_delay",
           "num_processes", "rank"]


def setup(timestep=1.0, min_delay="auto", max_delay="auto", url="model://", target=None,
          rng_seed=0, **extra_params):
    """Start a simulation (forgets any previous network).

    ``timestep`` (ms) is the core's tick. ``min_delay`` (``"auto"``: the timestep) may not be
    below the timestep (a synapse is at least one tick); ``max_delay`` (``"auto"``: the
    timestep) bounds the delays of every synapse. Delays longer than one tick need a
    configuration with ``delay_bits`` (a bare ``model://`` picks one with enough).
    ``url`` is where to run: ``"model://"`` (the golden model; the smallest preset that fits,
    or ``model://PRESET``), ``"socket://HOST:PORT"`` (a virtual board) or a serial port.
    ``target`` (preset name or CoreConfig) is the configuration to compile for (default: the
    device's, or the smallest fitting preset on ``model://``). ``rng_seed`` seeds the host's
    Poisson sources.
    """
    lo = timestep if min_delay == "auto" else float(min_delay)
    hi = timestep if max_delay == "auto" else float(max_delay)
    if lo < timestep * (1 - 1e-9):
        raise errors.InvalidParameterValueError(
            f"setup(min_delay={min_delay}): a synapse delivers at least one time step later "
            f"(min_delay >= timestep = {timestep:g} ms)")
    if hi < lo:
        raise errors.InvalidParameterValueError(
            f"setup(max_delay={max_delay}) is below min_delay = {lo:g} ms")
    common.setup(timestep, min_delay, max_delay=max_delay, **extra_params)
    state = simulator.state
    state.clear()
    state.configure(timestep, lo, hi, url, target, rng_seed)
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
