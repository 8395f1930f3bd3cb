"""Network description: populations of LIF neurons, spike inputs, projections with optional STDP.

A :class:`Network` is a plain description in the user's units; nothing is quantized here (that is
:func:`spikeloom.compile`). The float model it describes, per time step ``dt`` (docs/numerics.md
is its integer twin)::

    i1 = i + sum of the weights of the sources that spiked in the previous step
    theta = theta * exp(-dt/tau_theta)                               (adaptive threshold)
    v  = v_rest + (v - v_rest) * exp(-dt/tau_mem) + i1 + bias      (held while refractory)
    spike when v >= threshold + theta; then v = v_reset (reset="value")
                             or v - (threshold + theta - v_rest)   (reset="subtract")
                             and theta += theta_jump
    i  = i1 * exp(-dt/tau_syn)

with every neuron parameter a scalar or one value per neuron, and ``v = v_init``, ``theta = 0``
at load time. So a weight is the jump of the synaptic current, in the same units as ``v`` and
``threshold``. With ``tau_syn_inh`` (a core with ``inh_current``) the negative weights go into
a second current ``i_inh`` that decays with it; both currents are added to ``v``.

Every population and projection has a name (given or generated: ``in0``, ``pop1``,
``in0->pop1``); compile errors name them.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import runpy
from pathlib import Path

import numpy as np

from .errors import CompileError

__all__ = [
    "LIF", "LI", "NeuronParam", "NEURON_PARAMS", "STDP", "WEIGHT_DEPENDENCES", "Population",
    "Projection", "Network", "OneToOne", "AllToAll", "FixedProbability", "load_network",
]


# -- neuron and plasticity models ------------------------------------------------------------------

def LI(tau_mem=20.0, tau_syn=5.0, *, bias=0.0, v_rest=0.0, v_init=None, scale=None) -> LIF:
    """A leaky integrator: a :class:`LIF` that never spikes (docs/numerics.md ``no_spike``):
    ``v`` integrates the synaptic current with ``tau_mem`` (and saturates at the voltage
    range), the current decays with ``tau_syn``. A readout (of a trained network, NIR ``LI``
    and ``CubaLI``) whose state is recorded with ``board.run(record={pop: ["v"]})``."""
    return LIF(tau_mem=tau_mem, tau_syn=tau_syn, bias=bias, v_rest=v_rest, v_init=v_init,
               scale=scale, spiking=False)


#: STDP weight dependences: additive steps, or multiplicative (soft-bound) ones
WEIGHT_DEPENDENCES = ("additive", "multiplicative")


@dataclasses.dataclass(frozen=True)
class NeuronParam:
    """One per-neuron parameter of :class:`LIF`: its table entry (see :data:`NEURON_PARAMS`).

    ``unit``: ``"v"`` (model voltage units, the unit of the weights), ``"v/tick"``, ``"ms"``,
    ``"ticks"`` or ``""``. ``quantize`` names how the compiler turns it into integers (one method
    per kind in :mod:`spikeloom.compiler`): ``"origin"`` (v_rest: shifts the voltages, no field
    of its own), ``"voltage"`` (``round((value - v_rest) * scale)``), ``"current"``
    (``round(value * scale)``, not shifted), ``"decay"`` (``round(exp(-dt/tau) * 2^F)``),
    ``"ticks"`` (an integer count), ``"ms_ticks"`` (``round(ms / dt)``), ``"mode"`` (one bit),
    ``"theta"`` (``round(value * scale)``, unsigned ``theta_width`` bits), ``"theta_decay"``
    (``"decay"``, reported only where a neuron adapts).
    ``field`` is the hardware field it becomes (``NEURON_PARAMS``, or ``NEURON_STATE`` for
    ``v_init``). ``bound`` names the per-neuron check of :meth:`LIF.resolve`: ``"finite"``,
    ``"tau"`` (> 0 ms, ``math.inf`` allowed: no decay), ``"count"`` (a whole number >= 0),
    ``"ms"`` (finite, >= 0), ``"nonneg"`` (finite, >= 0), ``"reset"`` (``"value"`` or
    ``"subtract"``). ``default_to`` names the parameter whose value a ``None`` default takes
    (``v_reset`` and ``v_init`` rest at ``v_rest``); a ``None`` without it stays absent
    (``tau_syn_inh``: one current). ``feature`` names the optional ``CoreConfig`` feature whose
    field the parameter needs (docs/numerics.md, "Optional features"): on a core without it
    the compiler refuses a value that asks for the feature and ignores the rest."""
    name: str
    unit: str
    quantize: str
    field: str | None
    bound: str
    doc: str
    default_to: str | None = None
    feature: str | None = None


#: Every per-neuron parameter of :class:`LIF`, in the order the compiler handles them (v_rest
#: first: the voltages are shifted by it). A new neuron parameter is a new LIF field plus one
#: entry here (and, when it quantizes in a new way, one method in the compiler). The last three
#: are model v2 (issue 15): the separate inhibitory current and the adaptive threshold.
NEURON_PARAMS: tuple[NeuronParam, ...] = (
    NeuronParam("v_rest", "v", "origin", None, "finite",
                "resting potential: the hardware's v = 0 (the compiler shifts the voltages)"),
    NeuronParam("threshold", "v", "voltage", "threshold", "finite",
                "spike when v >= threshold"),
    NeuronParam("v_reset", "v", "voltage", "v_reset", "finite",
                "v after a spike (reset='value'); default v_rest", default_to="v_rest"),
    NeuronParam("v_init", "v", "voltage", "v", "finite",
                "membrane potential at load time (NEURON_STATE); default v_rest",
                default_to="v_rest"),
    NeuronParam("bias", "v/tick", "current", "bias", "finite",
                "added to v every non-refractory tick"),
    NeuronParam("tau_mem", "ms", "decay", "alpha_mem", "tau", "membrane time constant"),
    NeuronParam("tau_syn", "ms", "decay", "alpha_syn", "tau", "synaptic-current time constant"),
    NeuronParam("refractory", "ticks", "ticks", "refractory", "count",
                "ticks sat out after a spike"),
    NeuronParam("refractory_ms", "ms", "ms_ticks", "refractory", "ms",
                "refractory period in ms (rounded to ticks; overrides refractory)"),
    NeuronParam("reset", "", "mode", "reset_subtract", "reset",
                "'value': v := v_reset; 'subtract': v := v - (threshold - v_rest)"),
    NeuronParam("tau_syn_inh", "ms", "decay", "alpha_inh", "tau",
                "inhibitory-current time constant (negative weights; needs a core with "
                "inh_current); None: one current, as tau_syn", feature="inh_current"),
    NeuronParam("theta_jump", "v", "theta", "theta_jump", "nonneg",
                "adaptive threshold: added to theta on every spike (not shifted by v_rest; "
                "0: no adaptation; needs a core with theta_width > 0)", feature="theta_width"),
    NeuronParam("tau_theta", "ms", "theta_decay", "alpha_theta", "tau",
                "decay of theta (math.inf: none, homeostasis)", feature="theta_width"),
)

_PARAM = {p.name: p for p in NEURON_PARAMS}


def _scalar_or_array(value):
    """A parameter value as stored in a LIF: a scalar as given, an array as a read-only copy."""
    if value is None or isinstance(value, (str, numbers.Number)):
        return value
    a = np.array(value)
    a.setflags(write=False)
    return a


@dataclasses.dataclass(frozen=True, eq=False)
class LIF:
    """A leaky integrate-and-fire neuron with a current-based exponential synapse.

    Every parameter is a scalar (the same for every neuron) or an array with one value per neuron
    of the population (:data:`NEURON_PARAMS` lists them with their units): ``tau_mem`` and
    ``tau_syn`` in ms (``math.inf``: no decay); ``v_rest``, ``threshold``, ``v_reset``,
    ``v_init`` in model units (the unit of the weights; ``v_reset`` and ``v_init`` default to
    ``v_rest``, which defaults to 0); ``bias`` in model units per tick; ``refractory`` in ticks
    (int) or ``refractory_ms`` in ms (rounded to ticks at compile time); ``reset`` is
    ``"value"`` (v := v_reset) or ``"subtract"`` (v := v - (threshold - v_rest)).

    Model v2 (each needs a core with the feature; docs/numerics.md): ``theta_jump`` (model
    units, >= 0, not shifted by ``v_rest``; 0: no adaptation) raises the threshold offset
    ``theta`` on every spike, which decays with ``tau_theta`` ms (``math.inf``: never, as in
    Diehl & Cook's homeostasis); ``tau_syn_inh`` ms gives the negative weights their own current
    (None: one current with ``tau_syn``).

    ``scale`` (one number for the population) fixes the integer units per model unit (default:
    chosen by the compiler so the incoming weights use the whole signed weight range and the
    voltages fit ``v_width``).

    Values are checked when the model is given to :meth:`Network.population` (which knows the
    population's name and size): an array of the wrong length, NaN, inf where a finite value is
    needed, a complex value, a time constant <= 0 is a :class:`CompileError` naming the
    population, the parameter and the index.

    Raw form (:meth:`LIF.raw`): the integers of docs/numerics.md, used unchanged (scale 1);
    weights onto a raw population must be integers.
    """

    tau_mem: object = 20.0
    tau_syn: object = 5.0
    threshold: object = 1.0
    v_reset: object = None
    bias: object = 0.0
    refractory: object = 0
    refractory_ms: object = None
    reset: object = "value"
    scale: float | None = None
    v_rest: object = 0.0
    v_init: object = None
    tau_syn_inh: object = None
    theta_jump: object = 0.0
    tau_theta: object = math.inf
    raw_params: tuple | None = dataclasses.field(default=None, repr=False)
    spiking: bool = True        # False: never fires (NEURON_PARAMS no_spike; see LI)

    def __post_init__(self):
        for p in NEURON_PARAMS:
            value = getattr(self, p.name)
            if value is None and p.default_to is not None:
                value = getattr(self, p.default_to)     # v_reset, v_init: rest at v_rest
            object.__setattr__(self, p.name, _scalar_or_array(value))
        if self.scale is not None and not (isinstance(self.scale, numbers.Real)
                                           and self.scale > 0 and math.isfinite(self.scale)):
            raise CompileError(f"LIF scale={self.scale!r} must be a positive number")

    def __eq__(self, other):
        if not isinstance(other, LIF):
            return NotImplemented
        return all(np.array_equal(np.asarray(getattr(self, f.name), dtype=object),
                                  np.asarray(getattr(other, f.name), dtype=object))
                   for f in dataclasses.fields(self))

    __hash__ = None     # arrays inside: not hashable

    @classmethod
    def raw(cls, *, threshold, v_reset=0, bias=0, refractory=0, alpha_mem, alpha_syn,
            reset_subtract=False, v_init=0, alpha_inh=None, theta_jump=0,
            alpha_theta=None) -> LIF:
        """Hardware integers, unchanged (each a scalar or one per neuron): ``alpha_*`` are decay
        factors with ``decay_frac`` fractional bits (``2**decay_frac`` = no decay); ``v_init``
        is the initial membrane potential (NEURON_STATE ``v``). The optional features' fields
        (used only on a core that has them): ``alpha_inh`` (default ``alpha_syn``: one current),
        ``theta_jump`` (default 0) and ``alpha_theta`` (default ``2**decay_frac``)."""
        params = dict(threshold=threshold, v_reset=v_reset, bias=bias, refractory=refractory,
                      alpha_mem=alpha_mem, alpha_syn=alpha_syn, reset_subtract=reset_subtract,
                      v=v_init, theta_jump=theta_jump)
        if alpha_inh is not None:
            params["alpha_inh"] = alpha_inh
        if alpha_theta is not None:
            params["alpha_theta"] = alpha_theta
        frozen = []
        for key, value in params.items():
            a = np.asarray(value)
            if a.dtype == bool:
                a = a.astype(np.int64)
            if a.ndim > 1 or a.dtype.kind not in "iu":
                raise CompileError(f"LIF.raw {key}={value!r} must be an integer or a 1-D array "
                                   "of integers")
            frozen.append((key, int(a) if a.ndim == 0 else tuple(int(x) for x in a)))
        return cls(scale=1.0, raw_params=tuple(sorted(frozen)))

    @property
    def is_raw(self) -> bool:
        return self.raw_params is not None

    def resolve(self, n: int, where: str) -> dict[str, np.ndarray]:
        """Every parameter as an array of ``n`` per-neuron values, checked against its bound
        (floats; ``refractory`` and ``reset`` as int64, ``reset`` 1 for subtract;
        ``refractory_ms`` absent when not given). Raw models give their integer fields
        instead. CompileError names ``where`` (the population), the parameter and the index."""
        if self.is_raw:
            out = {}
            for key, value in self.raw_params:
                a = np.asarray(value, dtype=np.int64)
                out[key] = self._length(key, np.broadcast_to(a, (n,)) if a.ndim == 0 else a, n,
                                        where)
            return out
        out = {}
        for p in NEURON_PARAMS:
            value = getattr(self, p.name)
            if value is not None:
                out[p.name] = self._check(p, value, n, where)
        return out

    @staticmethod
    def _length(name, a, n, where):
        if a.shape != (n,):
            raise CompileError(f"{where}: {name} has {a.shape[0] if a.ndim == 1 else a.shape} "
                               f"values, expected one per neuron ({n}) or a scalar")
        return np.array(a)

    def _check(self, p: NeuronParam, value, n: int, where: str) -> np.ndarray:
        a = np.asarray(value)
        if a.ndim > 1:
            raise CompileError(f"{where}: {p.name} must be a scalar or a 1-D array of {n} "
                               f"values, got shape {a.shape}")
        a = self._length(p.name, np.broadcast_to(a, (n,)) if a.ndim == 0 else a, n, where)

        def at(k):
            return p.name if np.ndim(value) == 0 else f"{p.name}[{k}]"

        if p.bound == "reset":
            bad = [k for k, x in enumerate(a) if x not in ("value", "subtract")]
            if bad:
                raise CompileError(f"{where}: {at(bad[0])} = {str(a[bad[0]])!r}: use 'value' "
                                   "or 'subtract'")
            return (a == "subtract").astype(np.int64)
        if a.dtype.kind == "c":
            k = int(np.flatnonzero(np.imag(a) != 0)[0]) if np.any(np.imag(a) != 0) else 0
            raise CompileError(f"{where}: {at(k)} = {complex(a[k])} is complex; parameters "
                               "are real numbers")
        if a.dtype.kind not in "biuf":
            raise CompileError(f"{where}: {p.name} = {value!r} must be a number or an array "
                               "of numbers")
        f = a.astype(np.float64)
        checks = {
            "finite": (~np.isfinite(f), "must be a finite number"),
            "tau": (~(f > 0), "is a time constant: it must be > 0 ms (math.inf: no decay)"),
            "count": (~np.isfinite(f) | (f < 0) | (f != np.round(f)),
                      f"must be a whole number of ticks >= 0"
                      f"{' (refractory_ms= takes ms)' if p.name == 'refractory' else ''}"),
            "ms": (~np.isfinite(f) | (f < 0), "must be a finite number of ms >= 0"),
            "nonneg": (~np.isfinite(f) | (f < 0), "must be a finite number >= 0"),
        }
        bad, why = checks[p.bound]
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise CompileError(f"{where}: {at(k)} = {f[k]:g} {why}")
        return f.astype(np.int64) if p.bound == "count" else f


@dataclasses.dataclass(frozen=True)
class STDP:
    """Pair-based STDP with exponential windows (docs/numerics.md, "Pair-based STDP").

    A post spike ``k`` ticks after a pre spike adds about ``a_plus * exp(-k*dt/tau_plus)``; a pre
    spike ``k`` ticks after a post spike subtracts about ``a_minus * exp(-k*dt/tau_minus)``.
    ``a_plus``, ``a_minus``, ``w_min``, ``w_max`` are in weight units (those of the target
    population); ``tau_*`` in ms. ``w_max=None`` means the largest weight the target can hold.
    ``trace_jump`` is the integer trace increment per spike (default: half the trace range, so
    two close spikes add up before the trace saturates).

    A core with one rule (``CoreConfig.rule_bits = 1``) has ONE set of STDP parameters: every
    plastic projection must use the same STDP (the compiler refuses otherwise). A core with
    ``rule_bits = R > 1`` holds ``2**R - 1`` rules: each distinct STDP is one rule, and the
    three options below need such a core (docs/numerics.md, "Plasticity rules"); the traces stay
    per core, so every rule must share ``tau_plus``, ``tau_minus`` and ``trace_jump``.

    - ``weight_dependence="multiplicative"`` (soft bound): ``a_plus`` and ``a_minus`` are then
      fractions, ``dw+ = a_plus * (w_max - w)``, ``dw- = a_minus * (w - w_min)`` per pair at
      zero delay (PyNN's MultiplicativeWeightDependence); ``"additive"`` (default): weight units.
    - ``stochastic=True``: stochastic rounding of each step, so a step below one weight unit
      moves weights on average (seeded generator: ``sl.compile(..., seed=)``).
    - ``modulated=True``: every step is multiplied by the per-tick factor given to
      ``board.run(..., modulation=)`` (three-factor learning; 1.0 between runs).

    :meth:`STDP.raw` gives the integers directly.
    """

    a_plus: float = 0.01
    a_minus: float = 0.012
    tau_plus: float = 20.0
    tau_minus: float = 20.0
    w_min: float = 0.0
    w_max: float | None = None
    trace_jump: int | None = None
    raw_params: tuple | None = None
    weight_dependence: str = "additive"
    stochastic: bool = False
    modulated: bool = False

    def __post_init__(self):
        if self.weight_dependence not in WEIGHT_DEPENDENCES:
            raise CompileError(f"STDP weight_dependence={self.weight_dependence!r} must be one "
                               f"of {', '.join(WEIGHT_DEPENDENCES)}")
        for name in ("stochastic", "modulated"):
            if not isinstance(getattr(self, name), bool):
                raise CompileError(f"STDP {name}={getattr(self, name)!r} must be True or False")
        if self.raw_params is not None:
            return
        for name in ("a_plus", "a_minus", "tau_plus", "tau_minus", "w_min", "w_max"):
            value = getattr(self, name)
            if value is None and name == "w_max":
                continue
            if not isinstance(value, numbers.Real) or math.isnan(value):
                raise CompileError(f"STDP {name}={value!r} must be a real number")
            if not math.isfinite(value) and not name.startswith("tau"):
                raise CompileError(f"STDP {name}={value!r} must be finite"
                                   f"{' (None: the largest weight)' if name == 'w_max' else ''}")
        if self.a_plus < 0 or self.a_minus < 0:
            raise CompileError(f"STDP a_plus={self.a_plus}, a_minus={self.a_minus}: rates are "
                               "magnitudes and must be >= 0 (a_minus depresses)")
        if not (self.tau_plus > 0 and self.tau_minus > 0):
            raise CompileError("STDP tau_plus and tau_minus must be > 0 ms")
        if self.w_max is not None and not self.w_max >= self.w_min:
            raise CompileError(f"STDP w_max={self.w_max} must be >= w_min={self.w_min}")
        if self.trace_jump is not None and (not isinstance(self.trace_jump, numbers.Integral)
                                            or self.trace_jump < 1):
            raise CompileError(f"STDP trace_jump={self.trace_jump!r} must be an integer >= 1")

    @classmethod
    def raw(cls, *, a_plus: int, a_minus: int, pre_jump: int, post_jump: int, alpha_pre: int,
            alpha_post: int, w_min: int, w_max: int) -> STDP:
        """The STDP_PARAMS integers of docs/numerics.md, unchanged (target scale must be 1)."""
        params = dict(a_plus=a_plus, a_minus=a_minus, pre_jump=pre_jump, post_jump=post_jump,
                      alpha_pre=alpha_pre, alpha_post=alpha_post, w_min=w_min, w_max=w_max)
        for key, value in params.items():
            if not isinstance(value, numbers.Integral):
                raise CompileError(f"STDP.raw {key}={value!r} must be an integer")
        return cls(a_plus=float(a_plus), a_minus=float(a_minus), w_min=float(w_min),
                   w_max=float(w_max), raw_params=tuple(sorted(
                       (k, int(v)) for k, v in params.items())))

    @property
    def is_raw(self) -> bool:
        return self.raw_params is not None

    @property
    def is_soft(self) -> bool:
        """Multiplicative (soft-bound) weight dependence."""
        return self.weight_dependence == "multiplicative"

    @property
    def needs_rules(self) -> bool:
        """Whether this STDP needs a core with ``rule_bits > 1`` (a v2 learning option)."""
        return self.is_soft or self.stochastic or self.modulated


# -- populations and connectors --------------------------------------------------------------------

class Population:
    """A group of ``size`` neurons (``kind="neurons"``) or spike inputs (``kind="inputs"``)."""

    def __init__(self, net: Network, size: int, kind: str, name: str, model: LIF | None):
        self.net = net
        self.size = size
        self.kind = kind
        self.name = name
        self.model = model
        #: the model's parameters, one checked value per neuron (:meth:`LIF.resolve`)
        self.params = {} if model is None else model.resolve(size, f"population {name!r}")

    @property
    def is_input(self) -> bool:
        return self.kind == "inputs"

    def __len__(self):
        return self.size

    def __repr__(self):
        return f"<{self.kind} {self.name!r} n={self.size}>"


def _real(values, where: str, what: str = "weights") -> np.ndarray:
    """``values`` as a float array; CompileError for complex or non-numeric values (numpy would
    drop an imaginary part with only a ComplexWarning)."""
    try:
        a = np.asarray(values)
    except (TypeError, ValueError):
        raise CompileError(f"{where}: cannot read {what} of type "
                           f"{type(values).__name__}") from None
    if a.dtype.kind == "c":
        bad = np.flatnonzero(np.ravel(np.imag(a)) != 0)
        k = int(bad[0]) if bad.size else 0
        raise CompileError(f"{where}: {what} must be real numbers, found "
                           f"{np.ravel(a)[k]!r} (complex)")
    if a.dtype.kind == "O":
        try:
            a = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise CompileError(f"{where}: {what} must be numbers") from None
    if a.dtype.kind not in "biuf":
        raise CompileError(f"{where}: {what} must be numbers, not {a.dtype}")
    return a.astype(float)


def _weight_values(weight, n: int, rng: np.random.Generator, where: str) -> np.ndarray:
    """``n`` weights from a scalar, a (low, high) uniform range, an array or a callable."""
    if callable(weight):
        values = _real(weight(rng, n), where)
    elif isinstance(weight, tuple) and len(weight) == 2:
        lo, hi = (float(x) for x in _real(weight, where))
        values = rng.uniform(lo, hi, n)
    else:
        values = _real(weight, where)
        values = np.broadcast_to(values, (n,)).copy() if values.ndim == 0 else values.ravel()
    if values.shape != (n,):
        raise CompileError(f"{where}: expected {n} weights, got shape {values.shape}")
    return values


class Connector:
    """Base of the connection rules: :meth:`pairs` gives ``(pre, post, weight)`` arrays."""

    def pairs(self, n_pre: int, n_post: int, same: bool, where: str):
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class OneToOne(Connector):
    """``pre k -> post k``; both sides must have the same size."""
    weight: object = 1.0

    def pairs(self, n_pre, n_post, same, where):
        if n_pre != n_post:
            raise CompileError(f"{where}: OneToOne needs equal sizes, got {n_pre} -> {n_post}")
        pre = np.arange(n_pre)
        rng = np.random.default_rng(0)
        return pre, pre.copy(), _weight_values(self.weight, n_pre, rng, where)


@dataclasses.dataclass(frozen=True)
class AllToAll(Connector):
    """Every pre to every post (``allow_self=False`` skips ``k -> k`` within one population).
    ``weight``: a number, ``(low, high)`` (uniform, drawn with ``seed``) or
    ``f(rng, n) -> array``."""
    weight: object = 1.0
    allow_self: bool = True
    seed: int = 0

    def pairs(self, n_pre, n_post, same, where):
        pre, post = np.meshgrid(np.arange(n_pre), np.arange(n_post), indexing="ij")
        pre, post = pre.ravel(), post.ravel()
        if same and not self.allow_self:
            keep = pre != post
            pre, post = pre[keep], post[keep]
        rng = np.random.default_rng(self.seed)
        return pre, post, _weight_values(self.weight, pre.size, rng, where)


@dataclasses.dataclass(frozen=True)
class FixedProbability(Connector):
    """Each pair connected independently with probability ``p`` (numpy Generator seeded with
    ``seed``: the same seed gives the same network everywhere). ``weight`` as in AllToAll."""
    p: float = 0.1
    weight: object = 1.0
    seed: int = 0
    allow_self: bool = True

    def __post_init__(self):
        if not 0.0 <= self.p <= 1.0:
            raise CompileError(f"FixedProbability p={self.p} must be within 0..1")

    def pairs(self, n_pre, n_post, same, where):
        rng = np.random.default_rng(self.seed)
        mask = rng.random((n_pre, n_post)) < self.p
        if same and not self.allow_self:
            np.fill_diagonal(mask, False)
        pre, post = np.nonzero(mask)
        return pre, post, _weight_values(self.weight, pre.size, rng, where)


# -- projections -----------------------------------------------------------------------------------

class Projection:
    """Synapses from ``src`` to ``dst``: parallel arrays ``pre``, ``post`` (indices within the
    populations), ``weight`` (model units) and ``plastic`` (bool); ``delay`` is None (one time
    step, the core's fixed delay) or a parallel float array of delays in ms."""

    delay = None

    def __init__(self, net, src, dst, pre, post, weight, plastic, stdp, name):
        self.net = net
        self.src = src
        self.dst = dst
        self.pre = pre
        self.post = post
        self.weight = weight
        self.plastic = plastic
        self.stdp = stdp
        self.name = name

    @property
    def n_synapses(self) -> int:
        return int(self.pre.size)

    def dense(self, values=None, fill=0.0) -> np.ndarray:
        """A (src.size, dst.size) matrix of ``values`` (default: the weights), ``fill``
        where there is no synapse."""
        values = self.weight if values is None else values
        out = np.full((self.src.size, self.dst.size), fill,
                      dtype=np.asarray(values).dtype if np.ndim(values) else float)
        out[self.pre, self.post] = values
        return out

    def mask(self) -> np.ndarray:
        """(src.size, dst.size) bool: where a synapse exists."""
        out = np.zeros((self.src.size, self.dst.size), bool)
        out[self.pre, self.post] = True
        return out

    def __repr__(self):
        return (f"<projection {self.name!r} {self.src.name}->{self.dst.name} "
                f"{self.n_synapses} synapses{' plastic' if self.stdp else ''}>")


class Network:
    """A spiking network description: inputs, populations, projections.

    ``net.inputs(n)`` and ``net.population(n, LIF(...))`` return :class:`Population` handles;
    ``net.connect(src, dst, weights=...)`` returns a :class:`Projection`.
    """

    def __init__(self, name: str = "net"):
        self.name = name
        self.populations: list[Population] = []
        self.projections: list[Projection] = []

    # -- building ----------------------------------------------------------------------------------

    def _name(self, name, prefix, existing) -> str:
        if name is None:
            name = f"{prefix}{len(self.populations) + len(self.projections)}"
        if not isinstance(name, str) or not name:
            raise CompileError(f"name {name!r} must be a non-empty string")
        if name in existing:
            raise CompileError(f"the name {name!r} is already used in this network")
        return name

    def _names(self):
        return {p.name for p in self.populations} | {p.name for p in self.projections}

    def inputs(self, n: int, name: str | None = None) -> Population:
        """``n`` spike inputs (driven by the host through ``board.run(inputs=...)``)."""
        name = self._name(name, "in", self._names())
        self._check_size(n, name)
        pop = Population(self, int(n), "inputs", name, None)
        self.populations.append(pop)
        return pop

    def population(self, n: int, model: LIF | None = None, name: str | None = None) -> Population:
        """``n`` neurons of ``model`` (default ``LIF()``)."""
        name = self._name(name, "pop", self._names())
        self._check_size(n, name)
        model = LIF() if model is None else model
        if not isinstance(model, LIF):
            raise CompileError(f"population {name!r}: the neuron model must be a spikeloom.LIF, "
                               f"not {type(model).__name__}")
        pop = Population(self, int(n), "neurons", name, model)
        self.populations.append(pop)
        return pop

    @staticmethod
    def _check_size(n, name):
        if not isinstance(n, numbers.Integral) or n < 1:
            raise CompileError(f"population {name!r}: size {n!r} must be a positive integer")

    def connect(self, src: Population, dst: Population, weights=None, *, stdp: STDP | None = None,
                plastic_mask=None, delays=None, name: str | None = None) -> Projection:
        """Connect ``src`` to ``dst``.

        ``weights`` is one of: a dense ``(src.size, dst.size)`` matrix (every nonzero entry is a
        synapse; with ``stdp`` every entry is, so zero weights can grow); a sparse list of
        ``(pre, post, weight)`` triples (or a tuple of three arrays); a connector
        (:class:`OneToOne`, :class:`AllToAll`, :class:`FixedProbability`); or a number (all to
        all). ``stdp`` makes the synapses plastic; ``plastic_mask`` (dense bool matrix, or one
        bool per sparse synapse) restricts which ones (a masked entry is a synapse even at zero
        weight). ``delays`` (ms; None = one time step) is a number, a ``(src.size, dst.size)``
        matrix read at the synapses, or one value per synapse in the order the weights list
        them (sparse triples, or a connector's pairs); the compiler rounds it to ticks of
        ``dt`` (docs/host.md, "Delays").
        """
        for role, pop in (("source", src), ("target", dst)):
            if not isinstance(pop, Population) or pop.net is not self:
                raise CompileError(f"connect: the {role} must be a population of this network, "
                                   f"not {pop!r}")
        if dst.is_input:
            raise CompileError(f"connect: the target {dst.name!r} is an input population; "
                               "inputs cannot receive synapses")
        if stdp is not None and not isinstance(stdp, STDP):
            raise CompileError(f"connect: stdp must be a spikeloom.STDP or None, not {stdp!r}")
        if name is None:                # src->dst, then src->dst#2, ... for parallel ones
            taken, name, k = self._names(), f"{src.name}->{dst.name}", 1
            while name in taken:
                k += 1
                name = f"{src.name}->{dst.name}#{k}"
        name = self._name(name, "proj", self._names())
        where = f"projection {name!r}"
        pre, post, w = self._synapses(src, dst, weights, stdp, plastic_mask, where)
        if w.size and not np.all(np.isfinite(w)):
            raise CompileError(f"{where}: weights must be finite (found NaN or inf)")
        if stdp is None and plastic_mask is not None:
            raise CompileError(f"{where}: plastic_mask given without stdp")
        plastic = np.zeros(pre.size, bool)
        if stdp is not None:
            plastic = self._plastic(src, dst, pre, post, plastic_mask, weights, where)
        # one synapse per (pre, post) pair inside a projection
        key = pre.astype(np.int64) * dst.size + post
        if np.unique(key).size != key.size:
            dup = key[np.argsort(key, kind="stable")]
            k = int(dup[np.flatnonzero(np.diff(dup) == 0)[0]])
            raise CompileError(f"{where}: synapse {k // dst.size}->{k % dst.size} is listed twice")
        order = np.argsort(key, kind="stable")
        proj = Projection(self, src, dst, pre[order], post[order], w[order], plastic[order],
                          stdp, name)
        if delays is not None:
            proj.delay = self._delays(delays, src, dst, pre, post, where)[order]
        self.projections.append(proj)
        return proj

    @staticmethod
    def _delays(delays, src, dst, pre, post, where) -> np.ndarray:
        """Per-synapse delays in ms (float) from a number, a dense matrix or one per synapse;
        a CompileError names the projection otherwise."""
        d = _real(delays, where, "delays")
        if d.ndim == 0:
            d = np.full(pre.size, float(d))
        elif d.shape == (src.size, dst.size):
            d = d[pre, post]
        elif d.shape != (pre.size,):
            raise CompileError(f"{where}: delays must be a number, a ({src.size}, {dst.size}) "
                               f"matrix or one per synapse ({pre.size}), got shape {d.shape}")
        if d.size and not np.all(np.isfinite(d)):
            raise CompileError(f"{where}: delays must be finite (found NaN or inf)")
        return d.astype(float)

    def _synapses(self, src, dst, weights, stdp, plastic_mask, where):
        n_pre, n_post = src.size, dst.size
        if weights is None:
            raise CompileError(f"{where}: give weights= (matrix, list, connector or number)")
        if isinstance(weights, Connector):
            pre, post, w = weights.pairs(n_pre, n_post, src is dst, where)
            return pre.astype(np.int64), post.astype(np.int64), w.astype(float)
        if isinstance(weights, numbers.Number) and not isinstance(weights, bool):
            return AllToAll(float(_real(weights, where))).pairs(n_pre, n_post, src is dst,
                                                                 where)
        if isinstance(weights, tuple) and len(weights) == 3 and np.ndim(weights[0]) == 1:
            pre, post, w = (_real(a, where, what) for a, what in
                            zip(weights, ("pre indices", "post indices", "weights"), strict=True))
            return self._sparse(pre, post, w, n_pre, n_post, where)
        if isinstance(weights, list) and len(weights) == 0:
            return self._sparse(np.zeros(0), np.zeros(0), np.zeros(0), n_pre, n_post, where)
        if isinstance(weights, list):
            # a list of (pre, post, weight) tuples is sparse; a list of lists is a matrix
            # (rows of three only count as triples when the shape cannot be the matrix's)
            rows = _real(weights, where) if all(
                np.ndim(r) == 1 and len(r) == 3 for r in weights) else None
            if rows is not None and (isinstance(weights[0], tuple)
                                     or rows.shape != (n_pre, n_post)):
                return self._sparse(rows[:, 0], rows[:, 1], rows[:, 2], n_pre, n_post, where)
        dense = _real(weights, where)
        if dense.shape != (n_pre, n_post):
            raise CompileError(f"{where}: weight matrix has shape {dense.shape}, expected "
                               f"({n_pre}, {n_post}) = ({src.name}, {dst.name})")
        keep = dense != 0
        if stdp is not None:
            keep = np.ones_like(keep) if plastic_mask is None else (
                keep | self._dense_mask(plastic_mask, n_pre, n_post, where))
        pre, post = np.nonzero(keep)
        return pre.astype(np.int64), post.astype(np.int64), dense[pre, post]

    @staticmethod
    def _sparse(pre, post, w, n_pre, n_post, where):
        if not (pre.shape == post.shape == w.shape):
            raise CompileError(f"{where}: sparse pre/post/weight lists differ in length")
        if pre.size:
            for label, idx, n in (("pre", pre, n_pre), ("post", post, n_post)):
                if not np.all(np.equal(np.mod(idx, 1), 0)):
                    raise CompileError(f"{where}: {label} indices must be integers")
                bad = np.flatnonzero((idx < 0) | (idx >= n))
                if bad.size:
                    raise CompileError(f"{where}: {label} index {idx[bad[0]]:g} outside 0..{n - 1}")
        return pre.astype(np.int64), post.astype(np.int64), w.astype(float)

    @staticmethod
    def _dense_mask(mask, n_pre, n_post, where):
        mask = np.asarray(mask)
        if mask.shape != (n_pre, n_post):
            raise CompileError(f"{where}: plastic_mask has shape {mask.shape}, expected "
                               f"({n_pre}, {n_post})")
        return mask.astype(bool)

    def _plastic(self, src, dst, pre, post, plastic_mask, weights, where):
        if plastic_mask is None:
            return np.ones(pre.size, bool)
        mask = np.asarray(plastic_mask)
        if mask.shape == (src.size, dst.size):
            return mask.astype(bool)[pre, post]
        if mask.shape == (pre.size,):
            return mask.astype(bool)
        raise CompileError(f"{where}: plastic_mask must be a ({src.size}, {dst.size}) matrix or "
                           f"one flag per synapse ({pre.size}), got shape {mask.shape}")

    # -- queries -----------------------------------------------------------------------------------

    def __getitem__(self, name: str):
        for item in self.populations + self.projections:
            if item.name == name:
                return item
        raise KeyError(f"no population or projection named {name!r} in this network")

    @property
    def neuron_populations(self) -> list[Population]:
        return [p for p in self.populations if not p.is_input]

    @property
    def input_populations(self) -> list[Population]:
        return [p for p in self.populations if p.is_input]

    def __repr__(self):
        return (f"<Network {self.name!r}: {len(self.populations)} populations, "
                f"{len(self.projections)} projections>")


def load_network(path) -> Network:
    """Run the Python file ``path`` and return its ``net`` (a Network) or ``build()``'s result."""
    path = Path(path)
    if not path.is_file():
        raise CompileError(f"network file {str(path)!r} not found")
    scope = runpy.run_path(str(path), run_name="__spikeloom_net__")
    if isinstance(scope.get("net"), Network):
        return scope["net"]
    if callable(scope.get("build")):
        net = scope["build"]()
        if isinstance(net, Network):
            return net
        raise CompileError(f"{path}: build() returned {type(net).__name__}, not a Network")
    raise CompileError(f"{path} defines neither `net` (a spikeloom.Network) nor `build()`")
