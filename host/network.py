"""Network description: populations of LIF neurons, spike inputs, projections with optional STDP.

A :class:`Network` is a plain description in the user's units; nothing is quantized here (that is
:func:`spikeloom.compile`). The float model it describes, per time step ``dt`` (docs/numerics.md
is its integer twin)::

    i1 = i + sum of the weights of the sources that spiked in the previous step
    v  = v * exp(-dt/tau_mem) + i1 + bias      (held while refractory)
    spike when v >= threshold; then v = v_reset (reset="value") or v - threshold ("subtract")
    i  = i1 * exp(-dt/tau_syn)

So a weight is the jump of the synaptic current, in the same units as ``v`` and ``threshold``.

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
    "LIF", "STDP", "Population", "Projection", "Network", "OneToOne", "AllToAll",
    "FixedProbability", "load_network",
]


# -- neuron and plasticity models ------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LIF:
    """A leaky integrate-and-fire neuron with a current-based exponential synapse.

    Physical form (the default): ``tau_mem`` and ``tau_syn`` in ms (``math.inf``: no decay);
    ``threshold``, ``v_reset`` and ``bias`` in model units (the unit of the weights);
    ``refractory`` in ticks (int) or ``refractory_ms`` in ms (rounded to ticks at compile time);
    ``reset`` is ``"value"`` (v := v_reset) or ``"subtract"`` (v := v - threshold).
    ``scale`` fixes the integer units per model unit (default: chosen by the compiler so the
    incoming weights use the whole signed weight range and the threshold fits ``v_width``).

    Raw form (:meth:`LIF.raw`): the integers of docs/numerics.md, used unchanged (scale 1);
    weights onto a raw population must be integers.
    """

    tau_mem: float = 20.0
    tau_syn: float = 5.0
    threshold: float = 1.0
    v_reset: float = 0.0
    bias: float = 0.0
    refractory: int = 0
    refractory_ms: float | None = None
    reset: str = "value"
    scale: float | None = None
    raw_params: tuple | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self):
        if self.reset not in ("value", "subtract"):
            raise CompileError(f"LIF reset={self.reset!r}: use 'value' or 'subtract'")
        if self.raw_params is not None:
            return
        for name in ("tau_mem", "tau_syn"):
            tau = getattr(self, name)
            if not isinstance(tau, numbers.Real) or not tau > 0:
                raise CompileError(f"LIF {name}={tau!r}: a time constant must be > 0 ms "
                                   "(math.inf for no decay)")
        for name in ("threshold", "v_reset", "bias"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise CompileError(f"LIF {name}={value!r} must be a finite number")
        if not isinstance(self.refractory, numbers.Integral) or self.refractory < 0:
            raise CompileError(f"LIF refractory={self.refractory!r} must be a whole number of "
                               "ticks >= 0 (use refractory_ms= for milliseconds)")
        if self.refractory_ms is not None and not self.refractory_ms >= 0:
            raise CompileError(f"LIF refractory_ms={self.refractory_ms!r} must be >= 0")
        if self.scale is not None and not (self.scale > 0 and math.isfinite(self.scale)):
            raise CompileError(f"LIF scale={self.scale!r} must be a positive number")

    @classmethod
    def raw(cls, *, threshold: int, v_reset: int = 0, bias: int = 0, refractory: int = 0,
            alpha_mem: int, alpha_syn: int, reset_subtract: bool = False) -> LIF:
        """Hardware integers, unchanged: ``alpha_*`` are decay factors with ``decay_frac``
        fractional bits (``2**decay_frac`` = no decay)."""
        params = dict(threshold=threshold, v_reset=v_reset, bias=bias, refractory=refractory,
                      alpha_mem=alpha_mem, alpha_syn=alpha_syn,
                      reset_subtract=int(bool(reset_subtract)))
        for key, value in params.items():
            if not isinstance(value, numbers.Integral):
                raise CompileError(f"LIF.raw {key}={value!r} must be an integer")
        return cls(threshold=float(threshold), v_reset=float(v_reset), bias=float(bias),
                   refractory=int(refractory), reset="subtract" if reset_subtract else "value",
                   scale=1.0, raw_params=tuple(sorted((k, int(v)) for k, v in params.items())))

    @property
    def is_raw(self) -> bool:
        return self.raw_params is not None


@dataclasses.dataclass(frozen=True)
class STDP:
    """Pair-based STDP with exponential windows (docs/numerics.md, "Pair-based STDP").

    A post spike ``k`` ticks after a pre spike adds about ``a_plus * exp(-k*dt/tau_plus)``; a pre
    spike ``k`` ticks after a post spike subtracts about ``a_minus * exp(-k*dt/tau_minus)``.
    ``a_plus``, ``a_minus``, ``w_min``, ``w_max`` are in weight units (those of the target
    population); ``tau_*`` in ms. ``w_max=None`` means the largest weight the target can hold.
    ``trace_jump`` is the integer trace increment per spike (default: half the trace range, so
    two close spikes add up before the trace saturates).

    The core has ONE set of STDP parameters: every plastic projection of a network must use the
    same STDP (the compiler refuses otherwise). :meth:`STDP.raw` gives the integers directly.
    """

    a_plus: float = 0.01
    a_minus: float = 0.012
    tau_plus: float = 20.0
    tau_minus: float = 20.0
    w_min: float = 0.0
    w_max: float | None = None
    trace_jump: int | None = None
    raw_params: tuple | None = None

    def __post_init__(self):
        if self.raw_params is not None:
            return
        for name in ("a_plus", "a_minus", "tau_plus", "tau_minus", "w_min"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or math.isnan(value):
                raise CompileError(f"STDP {name}={value!r} must be a number")
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


# -- populations and connectors --------------------------------------------------------------------

class Population:
    """A group of ``size`` neurons (``kind="neurons"``) or spike inputs (``kind="inputs"``)."""

    def __init__(self, net: Network, size: int, kind: str, name: str, model: LIF | None):
        self.net = net
        self.size = size
        self.kind = kind
        self.name = name
        self.model = model

    @property
    def is_input(self) -> bool:
        return self.kind == "inputs"

    def __len__(self):
        return self.size

    def __repr__(self):
        return f"<{self.kind} {self.name!r} n={self.size}>"


def _weight_values(weight, n: int, rng: np.random.Generator, where: str) -> np.ndarray:
    """``n`` weights from a scalar, a (low, high) uniform range, an array or a callable."""
    if callable(weight):
        values = np.asarray(weight(rng, n), dtype=float)
    elif isinstance(weight, tuple) and len(weight) == 2:
        lo, hi = weight
        values = rng.uniform(lo, hi, n)
    else:
        values = np.broadcast_to(np.asarray(weight, dtype=float), (n,)).copy() if np.ndim(
            weight) == 0 else np.asarray(weight, dtype=float).ravel()
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
    populations), ``weight`` (model units) and ``plastic`` (bool)."""

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
                plastic_mask=None, name: str | None = None) -> Projection:
        """Connect ``src`` to ``dst``.

        ``weights`` is one of: a dense ``(src.size, dst.size)`` matrix (every nonzero entry is a
        synapse; with ``stdp`` every entry is, so zero weights can grow); a sparse list of
        ``(pre, post, weight)`` triples (or a tuple of three arrays); a connector
        (:class:`OneToOne`, :class:`AllToAll`, :class:`FixedProbability`); or a number (all to
        all). ``stdp`` makes the synapses plastic; ``plastic_mask`` (dense bool matrix, or one
        bool per sparse synapse) restricts which ones (a masked entry is a synapse even at zero
        weight).
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
        self.projections.append(proj)
        return proj

    def _synapses(self, src, dst, weights, stdp, plastic_mask, where):
        n_pre, n_post = src.size, dst.size
        if weights is None:
            raise CompileError(f"{where}: give weights= (matrix, list, connector or number)")
        if isinstance(weights, Connector):
            pre, post, w = weights.pairs(n_pre, n_post, src is dst, where)
            return pre.astype(np.int64), post.astype(np.int64), w.astype(float)
        if isinstance(weights, numbers.Real):
            return AllToAll(float(weights)).pairs(n_pre, n_post, src is dst, where)
        if isinstance(weights, tuple) and len(weights) == 3 and np.ndim(weights[0]) == 1:
            pre, post, w = (np.asarray(a) for a in weights)
            return self._sparse(pre, post, w, n_pre, n_post, where)
        if isinstance(weights, list) and len(weights) == 0:
            return self._sparse(np.zeros(0), np.zeros(0), np.zeros(0), n_pre, n_post, where)
        if isinstance(weights, list):
            # a list of (pre, post, weight) tuples is sparse; a list of lists is a matrix
            # (rows of three only count as triples when the shape cannot be the matrix's)
            rows = np.asarray(weights, dtype=float) if all(
                np.ndim(r) == 1 and len(r) == 3 for r in weights) else None
            if rows is not None and (isinstance(weights[0], tuple)
                                     or rows.shape != (n_pre, n_post)):
                return self._sparse(rows[:, 0], rows[:, 1], rows[:, 2], n_pre, n_post, where)
        try:
            dense = np.asarray(weights, dtype=float)
        except (TypeError, ValueError):
            raise CompileError(f"{where}: cannot read weights of type "
                               f"{type(weights).__name__}") from None
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
