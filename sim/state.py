"""The golden model's data: per-neuron parameters, STDP parameters, state and a tick's result.

Plain dataclasses of int64 / bool numpy arrays, shared by both engines of
:class:`spikeloom.sim.model.Core` (the numpy reference in :mod:`spikeloom.sim.model` and the numba
kernel of :mod:`spikeloom.sim.fast`), which is why they live apart from either: the engines
import this module, not each other. :mod:`spikeloom.sim.model` re-exports every name.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["NeuronParams", "STDPParams", "RuleParams", "State", "TickResult"]

I64 = np.int64


@dataclasses.dataclass
class NeuronParams:
    """Per-neuron parameters, each an int64 array of length n_neurons.

    The parameters of an optional feature (docs/numerics.md) exist in every model and are
    ignored (and not in the memory map) while the feature is off: ``alpha_inh`` (decay of the
    inhibitory current, ``CoreConfig.inh_current``), ``theta_jump`` and ``alpha_theta`` (the
    adaptive threshold, ``CoreConfig.theta_width > 0``)."""
    threshold: np.ndarray
    v_reset: np.ndarray
    bias: np.ndarray
    refractory: np.ndarray
    alpha_mem: np.ndarray
    alpha_syn: np.ndarray
    reset_subtract: np.ndarray
    alpha_inh: np.ndarray
    theta_jump: np.ndarray
    alpha_theta: np.ndarray
    no_spike: np.ndarray     # 1: the neuron never fires (docs/numerics.md step 2)

    @classmethod
    def zeros(cls, n: int) -> NeuronParams:
        return cls(*(np.zeros(n, I64) for _ in dataclasses.fields(cls)))


@dataclasses.dataclass
class STDPParams:
    enable: int = 0
    a_plus: int = 0
    a_minus: int = 0
    pre_jump: int = 0
    post_jump: int = 0
    alpha_pre: int = 0
    alpha_post: int = 0
    w_min: int = 0
    w_max: int = 0


@dataclasses.dataclass
class RuleParams(STDPParams):
    """One plasticity rule of a core with ``rule_bits > 1`` (a STDP_PARAMS word; the trace
    fields count only in rule 1's word): the STDP fields and the rule's flags
    (docs/numerics.md, "Plasticity rules")."""
    soft: int = 0           # 1: multiplicative / soft-bound weight dependence
    stochastic: int = 0     # 1: stochastic rounding of the step
    modulated: int = 0      # 1: the step is multiplied by the LEARN modulation factor


@dataclasses.dataclass
class State:
    """Everything that changes while the core runs. ``i_inh``, ``theta`` and ``ring_inh`` stay
    zero while their feature is off. The ring (docs/numerics.md, "Delays") is state: RESET
    STATE clears it; it has no region of its own."""
    v: np.ndarray        # (N,) membrane potential
    i: np.ndarray        # (N,) synaptic current (the excitatory one with inh_current)
    ref: np.ndarray      # (N,) refractory counter
    x: np.ndarray        # (S,) pre traces, one per source
    y: np.ndarray        # (N,) post traces
    spikes: np.ndarray   # (S,) bool: sources delivered in the next tick (pending inputs, and
                         # the neurons that spiked in the last tick)
    i_inh: np.ndarray    # (N,) inhibitory current (inh_current)
    theta: np.ndarray    # (N,) adaptive threshold offset (theta_width > 0)
    ring: np.ndarray     # (2**delay_bits, N) future accumulators: row k holds the weights that
                         # arrive k ticks from now (row 0: this tick's); one all-zero row
                         # between ticks without delays
    ring_inh: np.ndarray  # (2**delay_bits, N) the same for the negative weights (inh_current)

    def copy(self) -> State:
        return State(*(getattr(self, f.name).copy() for f in dataclasses.fields(self)))


@dataclasses.dataclass
class TickResult:
    spikes: np.ndarray      # (N,) bool: neurons that spiked this tick
    delivered: int          # sources delivered this tick
    syn_events: int         # delivered * n_neurons
    listed: int = 0         # sources listed for potentiation (docs/numerics.md step 6)
    plastic_delivered: int = 0  # delivered sources whose row is plastic (proto/cycles.py)
    # where they are (the banked SPRAM store's cycle count depends on it, proto/cycles.py):
    delivered_rows: np.ndarray | None = None    # indices of the delivered sources
    listed_rows: np.ndarray | None = None       # indices of the listed sources
    plastic_rows: np.ndarray | None = None      # (S,) bool: the sticky plastic-row flags

    def cycles(self, cfg, stdp_enabled, weight_store: str = "dual", **kw) -> int:
        """``proto.cycles.tick_cycles`` of this tick (``stdp_enabled``: the enable bit the
        tick ran with), from the positions when the result has them."""
        from ..proto.cycles import tick_cycles
        if self.delivered_rows is None:
            return tick_cycles(cfg, self.delivered, self.spikes, stdp_enabled, weight_store,
                               listed=self.listed, plastic_delivered=self.plastic_delivered,
                               **kw)
        rows = self.delivered_rows
        return tick_cycles(cfg, rows, self.spikes, stdp_enabled, weight_store,
                           listed=self.listed_rows,
                           plastic_delivered=rows[self.plastic_rows[rows]], **kw)
