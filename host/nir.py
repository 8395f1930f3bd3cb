"""NIR import and export: :func:`from_nir` (a NIR graph -> a :class:`~spikeloom.network.Network`)
and :func:`to_nir` (a Network or a compiled :class:`~spikeloom.image.Image` -> ``nir.NIRGraph``).

NIR (the ``nir`` package) states continuous-time ODEs; a framework discretizes them its own way.
``from_nir(graph, dt, conventions=...)`` maps every neuron node onto a population of the core's
integer LIF (docs/numerics.md), per neuron, with the conventions written down in docs/nir.md:

- ``conventions="euler"`` (default; what snnTorch and Norse export and simulate): decays
  ``a = 1 - dt/tau``, input gains ``dt/tau`` (``r * dt/tau_mem`` on the membrane,
  ``w_in * dt/tau_syn`` on the current);
- ``conventions="exact"``: ``a = exp(-dt/tau)``, gains ``1 - a`` (the input held over one step).

The time constants of the returned Network are in **ticks** (one tick = ``dt`` of the graph), so
it compiles with the compiler's default ``dt = 1.0``: ``sl.compile(from_nir(g, dt=1e-4))``.
NIR spikes on ``v > v_threshold``, the core on ``v >= threshold``: the importer fixes each
population's scale (``LIF(scale=...)``, the compiler's own rule for ``target``) and moves the
threshold to the next integer step, so the integer model spikes exactly when ``v > v_threshold``.
NIR resets to ``v_reset``; ``reset="subtract"`` asks for snnTorch's default reset instead.

Graph handling: nested graphs are flattened (names joined with "."), ``Input`` nodes become input
populations under their own names, the linear nodes between two spiking nodes (``Affine``,
``Linear``, ``Scale``, ``Flatten``, ``Conv1d``, ``Conv2d``, ``SumPool2d``) are composed into one
dense projection per (source, target) pair, recurrent edges become recurrent projections, the
``Affine`` biases become per-neuron biases (exact for ``LIF``/``IF``; the steady state of the
current for ``CubaLIF``, noted in the report). Each hop between spiking nodes costs one tick on
the core (zero in snnTorch): :attr:`Imported.latency` lists it per population.

Node types the core cannot run yet raise a :class:`~spikeloom.errors.CompileError` naming the node,
its type and what is missing (:data:`MISSING`); any other unknown type likewise.

The import record is ``net.nir`` (an :class:`Imported`): the float model of every layer, which
:func:`simulate` runs in floating point (numpy, the chosen conventions, the core's timing) and
:func:`compare` runs beside a backend (``model://`` by default), per layer.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from .errors import CompileError
from .network import LI, LIF, Network

__all__ = [
    "from_nir", "to_nir", "simulate", "compare", "Imported", "Layer", "MISSING", "SPIKING",
    "LINEAR", "Comparison",
]

#: Node types the core does not run yet: type -> what is missing. Supporting one later is one
#: entry in :data:`SPIKING` or :data:`LINEAR` (and its removal here).
MISSING = {
    "I": "has no pure (leak-free, reset-free) integrator population yet",
}

_CONVENTIONS = ("euler", "exact")


# -- loading and flattening ------------------------------------------------------------------------

def _nir():
    try:
        import nir
    except ImportError:         # pragma: no cover - the extra is part of dev
        raise CompileError("NIR support needs the `nir` package: pip install "
                           "'spikeloom[nir]'") from None
    return nir


def _load(graph_or_path):
    nir = _nir()
    if isinstance(graph_or_path, (str, Path)):
        path = Path(graph_or_path)
        if not path.is_file():
            raise CompileError(f"NIR file {str(path)!r} not found")
        try:
            return nir.read(str(path))
        except Exception as exc:        # h5py/nir raise many types on a bad file
            raise CompileError(f"{path}: not a readable NIR file ({type(exc).__name__}: "
                               f"{exc})") from None
    if not isinstance(graph_or_path, nir.NIRGraph):
        raise CompileError(f"from_nir needs a nir.NIRGraph or a path, not "
                           f"{type(graph_or_path).__name__}")
    return graph_or_path


def _flatten(graph, prefix=""):
    """(nodes, edges) with nested graphs inlined: a sub-graph's inner
    Input/Output nodes stay as pass-through nodes named ``sub.input``/``sub.output``, edges to or
    from the sub-graph's own name go to its single Input/Output."""
    nir = _nir()
    nodes, edges = {}, []

    def port(name, kind):
        node = graph.nodes.get(name)
        if isinstance(node, nir.NIRGraph):
            ends = [k for k, n in node.nodes.items() if isinstance(n, kind)]
            if len(ends) != 1:
                raise CompileError(f"sub-graph {prefix + name!r} has {len(ends)} "
                                   f"{kind.__name__} nodes; an edge to it needs exactly one "
                                   "(name the port: 'sub.input')")
            return f"{prefix}{name}.{ends[0]}"
        if prefix + name in nodes:      # a plain node, or a port of an inlined sub-graph
            return prefix + name
        raise CompileError(f"edge endpoint {prefix + name!r} names no node of the graph")

    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _flatten(node, f"{prefix}{name}.")
            nodes.update(sub_nodes)
            edges.extend(sub_edges)
        else:
            nodes[prefix + name] = node
    for a, b in graph.edges:
        edges.append((port(a, nir.Output), port(b, nir.Input)))
    return nodes, edges


# -- linear operators ------------------------------------------------------------------------------

def _size(shape) -> int:
    return int(np.prod(np.asarray(shape, dtype=np.int64))) if np.size(shape) else 1


def _conv_matrix(weight, in_shape, stride, padding, dilation, groups, name):
    """Dense (out, in) matrix of an N-d convolution (N = 1 or 2) over a C-order flattening."""
    w = np.asarray(weight, float)
    nd = w.ndim - 2
    c_out, c_in_g = w.shape[:2]
    k = w.shape[2:]
    in_shape = tuple(int(x) for x in in_shape)
    if len(in_shape) != nd + 1:
        raise CompileError(f"node {name!r}: input shape {in_shape} does not fit a {nd}-d "
                           "convolution (channels first)")
    c_in, spatial = in_shape[0], in_shape[1:]

    def per_dim(x):
        x = np.atleast_1d(np.asarray(x, dtype=np.int64))
        return tuple(int(v) for v in (np.repeat(x, nd) if x.size == 1 else x))

    stride, dilation = per_dim(stride), per_dim(dilation)
    if isinstance(padding, str):
        if padding == "valid":
            pad = (0,) * nd
        elif padding == "same":
            pad = tuple((dilation[d] * (k[d] - 1)) // 2 for d in range(nd))
        else:
            raise CompileError(f"node {name!r}: padding {padding!r} (use 'same', 'valid' or "
                               "numbers)")
    else:
        pad = per_dim(padding)
    out_sp = tuple((spatial[d] + 2 * pad[d] - dilation[d] * (k[d] - 1) - 1) // stride[d] + 1
                   for d in range(nd))
    if groups < 1 or c_in % groups or c_out % groups or c_in // groups != c_in_g:
        raise CompileError(f"node {name!r}: {c_in} input channels, {c_out} output channels and "
                           f"groups = {groups} do not fit weight shape {w.shape}")
    n_in, n_out = c_in * _size(spatial), c_out * _size(out_sp)
    _check_dense(n_out, n_in, name)
    m = np.zeros((n_out, n_in))
    in_idx = np.arange(n_in).reshape(in_shape)
    out_idx = np.arange(n_out).reshape((c_out,) + out_sp)
    per_group_out = c_out // groups
    for co in range(c_out):
        g = co // per_group_out
        for ci_local in range(c_in_g):
            ci = g * c_in_g + ci_local
            for kk in np.ndindex(*k):
                for o in np.ndindex(*out_sp):
                    src = tuple(o[d] * stride[d] - pad[d] + kk[d] * dilation[d]
                                for d in range(nd))
                    if all(0 <= src[d] < spatial[d] for d in range(nd)):
                        m[out_idx[(co,) + o], in_idx[(ci,) + src]] += w[(co, ci_local) + kk]
    return m, (c_out,) + out_sp


def _sumpool_matrix(node, in_shape, name):
    k = tuple(int(x) for x in np.atleast_1d(node.kernel_size))
    c = int(in_shape[0])
    w = np.zeros((c, 1) + k)
    w[:, 0] = 1.0
    return _conv_matrix(w, in_shape, node.stride, node.padding, 1, c, name)


_MAX_DENSE = 4_000_000      # entries of one lowered matrix: far beyond any core preset


def _check_dense(n_out, n_in, name):
    if n_out * n_in > _MAX_DENSE:
        raise CompileError(f"node {name!r}: lowering it gives a {n_out} x {n_in} projection, "
                           "far larger than any core (the graph is too big for the target)")


@dataclasses.dataclass
class _Op:
    """A lowered linear node: ``out = matrix @ in + bias`` (flat vectors)."""
    matrix: np.ndarray | None          # None: identity (Flatten, ports, Delay)
    bias: np.ndarray | None
    out_shape: tuple
    delay: np.ndarray | None = None    # Delay: seconds added to each element


def _in_shape(node, key="input"):
    t = getattr(node, "input_type", None) or {}
    shape = t.get(key)
    return None if shape is None else tuple(int(x) for x in np.atleast_1d(shape))


def _lin_affine(node, name, shape):
    w = np.asarray(node.weight, float)
    b = np.asarray(node.bias, float).ravel()
    return _Op(w, b if np.any(b) else None, (w.shape[0],))


def _lin_linear(node, name, shape):
    w = np.asarray(node.weight, float)
    return _Op(w, None, (w.shape[0],))


def _lin_scale(node, name, shape):
    s = np.asarray(node.scale, float).ravel()
    return _Op(np.diag(s), None, (s.size,))


def _lin_identity(node, name, shape):
    return _Op(None, None, tuple(shape) if shape else ())


def _lin_delay(node, name, shape):
    d = np.asarray(node.delay, float).ravel()
    if np.any(d < 0) or not np.all(np.isfinite(d)):
        raise CompileError(f"node {name!r} (Delay): delays must be finite and >= 0")
    n = _size(shape) if shape else d.size
    if d.size not in (1, n):
        raise CompileError(f"node {name!r} (Delay): {d.size} delays for {n} values")
    return _Op(None, None, tuple(shape) if shape else (d.size,), np.broadcast_to(d, (n,)).copy())


def _lin_flatten(node, name, shape):
    return _Op(None, None, (_size(shape),) if shape else ())


def _lin_conv(node, name, shape):
    nd = np.asarray(node.weight).ndim - 2
    given = getattr(node, "input_shape", None)
    c_in = np.asarray(node.weight).shape[1] * int(node.groups)
    if given is not None:
        in_shape = (c_in,) + tuple(int(x) for x in np.atleast_1d(given))
    elif shape is not None and len(shape) == nd + 1:
        in_shape = tuple(shape)
    else:
        raise CompileError(f"node {name!r} ({type(node).__name__}): its input shape is unknown "
                           "(give input_shape, or an Input node with the full shape)")
    m, out = _conv_matrix(node.weight, in_shape, node.stride, node.padding, node.dilation,
                          int(node.groups), name)
    bias = np.repeat(np.asarray(node.bias, float).ravel(), _size(out[1:]))
    return _Op(m, bias if np.any(bias) else None, out)


def _lin_sumpool(node, name, shape):
    if shape is None or len(shape) != 3:
        raise CompileError(f"node {name!r} (SumPool2d): its input shape (C, H, W) is unknown")
    m, out = _sumpool_matrix(node, shape, name)
    return _Op(m, None, out)


#: Linear node types: type name -> lowering ``f(node, name, input_shape) -> _Op``.
LINEAR = {
    "Affine": _lin_affine, "Linear": _lin_linear, "Scale": _lin_scale,
    "Flatten": _lin_flatten, "Conv1d": _lin_conv, "Conv2d": _lin_conv,
    "SumPool2d": _lin_sumpool, "Input": _lin_identity, "Output": _lin_identity,
    "Delay": _lin_delay,
}


# -- spiking nodes ---------------------------------------------------------------------------------

@dataclasses.dataclass
class Layer:
    """The float model of one spiking node, per neuron, in the core's form (one tick = ``dt``)::

        i1 = i + sum_s W_s @ spikes_s (+ bias_i, not used: see bias)
        v  = v_rest + a_mem * (v - v_rest) + i1 + bias ;  spike when v > threshold
        v  = v_reset (reset="value") or v - (threshold - v_rest) (reset="subtract")
        i  = a_syn * i1

    ``gain`` is the factor the NIR weights onto this node are multiplied by."""
    name: str
    kind: str               # NIR type: LIF, CubaLIF, IF, LI, CubaLI
    shape: tuple
    a_mem: np.ndarray
    a_syn: np.ndarray
    gain: np.ndarray
    threshold: np.ndarray
    v_reset: np.ndarray
    v_rest: np.ndarray
    bias: np.ndarray
    reset: str
    latency: int = 0        # ticks after the input that this layer's spikes appear (hops)

    @property
    def size(self) -> int:
        return _size(self.shape)


def _decay(tau, dt, conventions, name, what, notes):
    tau = np.asarray(tau, float).ravel()
    if np.any(~(tau > 0)):
        raise CompileError(f"node {name!r}: {what} must be > 0 (got {tau[~(tau > 0)][0]:g})")
    if conventions == "euler":
        a = 1.0 - dt / tau
        gain = dt / tau
        if np.any(a < 0):
            notes.append(f"{name}: {what} < dt for {int(np.sum(a < 0))} neuron(s): forward "
                         "Euler overshoots (decay < 0); clamped to no memory (decay 0)")
            a = np.maximum(a, 0.0)
    else:
        a = np.exp(-dt / tau)
        gain = 1.0 - a
    return a, gain


def _vec(x, n):
    a = np.asarray(x, float).ravel()
    return np.broadcast_to(a, (n,)).copy() if a.size == 1 else a


def _one_pole(node, n, name, dt, conv, notes):
    """LIF and LI (n neurons): a membrane with time constant ``tau``, no synaptic current."""
    a, g = _decay(_vec(node.tau, n), dt, conv, name, "tau", notes)
    return dict(a_mem=a, a_syn=np.zeros(n), gain=g * _vec(node.r, n),
                v_rest=_vec(node.v_leak, n))


def _two_pole(node, n, name, dt, conv, notes):
    """CubaLIF and CubaLI (n neurons): a synaptic current into a leaky membrane."""
    a_m, g_m = _decay(_vec(node.tau_mem, n), dt, conv, name, "tau_mem", notes)
    a_s, g_s = _decay(_vec(node.tau_syn, n), dt, conv, name, "tau_syn", notes)
    return dict(a_mem=a_m, a_syn=a_s, gain=g_m * _vec(node.r, n) * g_s * _vec(node.w_in, n),
                v_rest=_vec(node.v_leak, n))


def _spk_lif(node, name, dt, conv, notes):
    return _one_pole(node, np.asarray(node.v_threshold).size, name, dt, conv, notes)


def _spk_cubalif(node, name, dt, conv, notes):
    return _two_pole(node, np.asarray(node.v_threshold).size, name, dt, conv, notes)


def _spk_if(node, name, dt, conv, notes):
    # dv/dt = R I: one step adds r * I, Sinabs' reading (its IAF exports r = 1 and adds its
    # input every step; Spyx scales by r * dt instead, docs/nir.md); no time constant, so both
    # conventions agree
    n = np.asarray(node.v_threshold).size
    return dict(a_mem=np.ones(n), a_syn=np.zeros(n), gain=_vec(node.r, n), v_rest=np.zeros(n))


def _spk_li(node, name, dt, conv, notes):
    # LI: a LIF without threshold; it becomes an sl.LI population (no_spike) read by probes
    return _one_pole(node, np.asarray(node.tau).size, name, dt, conv, notes)


def _spk_cubali(node, name, dt, conv, notes):
    return _two_pole(node, np.asarray(node.tau_mem).size, name, dt, conv, notes)


#: Stateful node types: type name -> ``f(node, name, dt, conventions, notes) -> dict`` of the
#: Layer fields a_mem, a_syn, gain, v_rest (threshold and reset are common to all). The
#: non-spiking ones (:data:`NON_SPIKING`) have no threshold: they never spike and their state is
#: the output (``board.run(record={name: ["v"]})``).
SPIKING = {"LIF": _spk_lif, "CubaLIF": _spk_cubalif, "IF": _spk_if, "LI": _spk_li,
           "CubaLI": _spk_cubali}
NON_SPIKING = ("LI", "CubaLI")


def _state_size(node) -> np.ndarray:
    """The node's per-neuron shape source: its threshold, or (LI, CubaLI) its time constant."""
    if type(node).__name__ == "LI":
        return np.asarray(node.tau)
    if type(node).__name__ == "CubaLI":
        return np.asarray(node.tau_mem)
    return np.asarray(node.v_threshold)


# -- the import ------------------------------------------------------------------------------------

@dataclasses.dataclass
class Imported:
    """What :func:`from_nir` did: ``dt`` (s per tick), ``conventions``, ``reset``, the spiking
    ``layers`` (name -> :class:`Layer`), ``inputs`` (name -> size), the float ``weights``
    ((src, dst) -> (src.size, dst.size) matrix, gains applied), ``outputs`` (Output node ->
    the population feeding it), ``latency`` (population -> ticks behind a framework that runs
    every layer in the same step: hops from the inputs minus one) and ``notes`` (what the
    import approximated)."""
    dt: float
    conventions: str
    reset: str
    layers: dict
    inputs: dict
    weights: dict
    outputs: dict
    notes: list

    @property
    def latency(self) -> dict:
        return {name: layer.latency for name, layer in self.layers.items()}


def _strict_threshold(layer: Layer, w_max_in: float, cfg) -> tuple[float, np.ndarray]:
    """The compiler's scale for this layer (weights use the whole signed weight range, voltages
    fit v_width, with one step of headroom) and the threshold moved so that ``v_int >= thr``
    is ``v > threshold``: thr_int = floor((threshold - v_rest) * s) + 1."""
    whi = (1 << (cfg.w_width - 1)) - 1
    vhi = (1 << (cfg.v_width - 1)) - 2
    limits = [whi / w_max_in] if w_max_in > 0 else []
    for x in (layer.threshold - layer.v_rest, layer.v_reset - layer.v_rest, layer.bias):
        m = float(np.max(np.abs(x))) if x.size else 0.0
        if m > 0:
            limits.append(vhi / m)
    s = min(limits) if limits else 1.0
    k = np.floor((layer.threshold - layer.v_rest) * s + 1e-9) + 1
    return s, layer.v_rest + k / s


def from_nir(graph_or_path, dt: float, conventions: str = "euler", *, reset: str | None = None,
             target="default", name: str | None = None) -> Network:
    """A Network from a NIR graph (``nir.NIRGraph`` or a ``.nir`` path), one tick = ``dt`` s.

    ``conventions``: "euler" or "exact" (module docstring, docs/nir.md); ``reset``: "value"
    (NIR's ``v := v_reset``) or "subtract" (snnTorch's default); None: what a graph written by
    :func:`to_nir` says for each population, else "value"; ``target``: the preset or
    CoreConfig whose widths set each population's scale (compile for the same one). The
    Network's time constants are in ticks: compile it with ``dt = 1.0`` (the default). The
    record of the import is ``net.nir`` (:class:`Imported`)."""
    from .compiler import resolve_target
    nir = _nir()
    if not (isinstance(dt, (int, float)) and not isinstance(dt, bool) and dt > 0
            and math.isfinite(dt)):
        raise CompileError(f"from_nir: dt = {dt!r} must be a positive number of seconds "
                           "(the graph's time unit)")
    if conventions not in _CONVENTIONS:
        raise CompileError(f"from_nir: conventions = {conventions!r}: use 'euler' or 'exact'")
    if reset not in (None, "value", "subtract"):
        raise CompileError(f"from_nir: reset = {reset!r}: use 'value' or 'subtract'")
    cfg = resolve_target(target)
    graph = _load(graph_or_path)
    nodes, edges = _flatten(graph)

    # classify every node before anything else, so the first error names the odd one out
    for key, node in nodes.items():
        kind = type(node).__name__
        if kind in MISSING:
            raise CompileError(f"node {key!r} of type {kind} is not supported yet: the core "
                               f"{MISSING[kind]}")
        if kind not in SPIKING and kind not in LINEAR:
            raise CompileError(f"node {key!r} of type {kind} is not supported by spikeloom "
                               f"(supported: {', '.join(sorted({*SPIKING, *LINEAR}))})")
    top_inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    top_outputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Output)]
    if not top_inputs:
        raise CompileError("the NIR graph has no Input node: nothing could drive it")
    succ = {k: [] for k in nodes}
    pred = {k: [] for k in nodes}
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)

    # shapes, in an order where every linear node's predecessors are known
    shapes: dict = {}
    for k in top_inputs:
        shapes[k] = _in_shape(nodes[k]) or (1,)
    for k, node in nodes.items():
        if type(node).__name__ in SPIKING:
            shapes[k] = tuple(_state_size(node).shape) or (1,)
    ops: dict = {}
    pending = [k for k, n in nodes.items() if type(n).__name__ in LINEAR and k not in top_inputs]
    while pending:
        progressed = False
        for k in list(pending):
            ins = [shapes.get(p) for p in pred[k]]
            if pred[k] and any(s is None for s in ins):
                continue
            shape = ins[0] if ins else _in_shape(nodes[k])
            if len({_size(s) for s in ins}) > 1:
                raise CompileError(f"node {k!r}: its inputs have different sizes "
                                   f"{[tuple(s) for s in ins]}")
            op = LINEAR[type(nodes[k]).__name__](nodes[k], k, shape)
            if op.matrix is not None and shape is not None and op.matrix.shape[1] != _size(shape):
                raise CompileError(f"node {k!r}: weight takes {op.matrix.shape[1]} inputs but "
                                   f"receives {_size(shape)}")
            _check_dense(*(op.matrix.shape if op.matrix is not None else (0, 0)), k)
            ops[k] = op
            shapes[k] = op.out_shape if op.out_shape else shape
            pending.remove(k)
            progressed = True
        if not progressed:
            raise CompileError(f"linear nodes {pending} form a loop without a spiking node, or "
                               "their inputs are unknown: the core cannot run that")

    spiking = [k for k, n in nodes.items() if type(n).__name__ in SPIKING]
    for k in top_inputs:
        ops[k] = _Op(None, None, shapes[k])

    # out(n): target -> matrix mapping n's output (flat) to that target's input; dly(n): the
    # same targets -> the Delay seconds on each path (one value per synapse: paths of one
    # synapse with different delays cannot be one synapse)
    memo: dict = {}
    delays_of: dict = {}

    def compose(k, m, op, t, mat, dly):
        """The delays of the synapses ``mat @ op.matrix`` (each from a path through one of
        m's inputs, all of which must agree), plus m's own Delay."""
        if op.delay is not None:
            dly = dly + op.delay[None, :] * (mat != 0)
        if op.matrix is None or not np.any(dly):
            return dly if op.matrix is None else np.zeros((mat.shape[0], op.matrix.shape[1]))
        used = (mat != 0)[:, :, None] & (op.matrix != 0)[None, :, :]
        hi = np.where(used, dly[:, :, None], -np.inf).max(axis=1)
        lo = np.where(used, dly[:, :, None], np.inf).min(axis=1)
        if np.any(np.isfinite(hi) & (hi != lo)):
            raise CompileError(f"edge {k!r} -> {m!r}: paths with different Delay values reach "
                               f"the same neuron of {t!r}; the core has one delay per synapse")
        return np.where(np.isfinite(hi), hi, 0.0)

    def out(k, stack=()):
        if k in memo:
            return memo[k]
        if k in stack:
            raise CompileError(f"linear nodes {list(stack)} form a loop without a spiking node")
        acc: dict = {}
        acc_d: dict = {}
        n_k = _size(shapes[k])
        for m in succ[k]:
            if m in spiking:
                part = {m: np.eye(n_k)}
                part_d = {m: np.zeros((n_k, n_k))}
            else:
                op = ops[m]
                down = out(m, stack + (k,))
                part = {t: (mat if op.matrix is None else mat @ op.matrix)
                        for t, mat in down.items()}
                part_d = {t: compose(k, m, op, t, mat, delays_of[m][t])
                          for t, mat in down.items()}
            for t, mat in part.items():
                if mat.shape != (_size(shapes[t]), n_k):
                    raise CompileError(f"edge {k!r} -> {m!r}: {n_k} values reach {t!r}, which "
                                       f"has {_size(shapes[t])} neurons")
                d = part_d[t]
                if t in acc_d and np.any((acc[t] != 0) & (mat != 0) & (acc_d[t] != d)):
                    raise CompileError(f"node {k!r}: paths with different Delay values reach "
                                       f"the same neuron of {t!r}; the core has one delay per "
                                       "synapse")
                acc[t] = acc.get(t, 0) + mat
                acc_d[t] = np.maximum(acc_d.get(t, 0), d * (mat != 0))
        memo[k] = acc
        delays_of[k] = acc_d
        return acc

    notes: list = []
    layers: dict = {}
    for k in spiking:
        node = nodes[k]
        kind = type(node).__name__
        fields = SPIKING[kind](node, k, float(dt), conventions, notes)
        n = _size(shapes[k])
        if kind in NON_SPIKING:
            thr, v_reset = np.full(n, np.inf), _vec(node.v_leak, n)
        else:
            thr = _vec(node.v_threshold, n)
            v_reset = _vec(node.v_reset if node.v_reset is not None else 0.0, n)
        for key in fields:
            fields[key] = _vec(fields[key], n)
        meta = graph.metadata if isinstance(graph.metadata, dict) else {}
        mode = reset or str(meta.get(f"spikeloom_reset.{k}", "value"))
        layers[k] = Layer(k, kind, shapes[k], threshold=thr, v_reset=v_reset,
                          bias=np.zeros(n), reset=mode, **fields)

    weights: dict = {}
    delays: dict = {}           # (src, t) -> Delay seconds per synapse, where any is > 0
    for src in top_inputs + spiking:
        for t, mat in out(src).items():
            weights[(src, t)] = mat.T * layers[t].gain[None, :]
            if np.any(delays_of[src][t]):
                delays[(src, t)] = delays_of[src][t].T
    for k, op in ops.items():
        if op.bias is None:
            continue
        for t, mat in out(k).items():
            layer = layers[t]
            b = mat @ op.bias
            if layer.kind in ("CubaLIF", "CubaLI"):
                # a constant input to the current settles at gain_s * b / (1 - a_syn); the core
                # adds bias to v, so it gets the steady state (the transient is lost)
                with np.errstate(divide="ignore", invalid="ignore"):
                    steady = np.where(layer.a_syn < 1, layer.gain * b / (1 - layer.a_syn), 0.0)
                if np.any((layer.a_syn >= 1) & (b != 0)):
                    raise CompileError(f"node {k!r}: a bias into {t!r} with no synaptic decay "
                                       "grows without bound; the core cannot represent it")
                layer.bias += steady
                notes.append(f"{t}: the bias of {k!r} enters the synaptic current in NIR; the "
                             "core adds its steady state to v (exact after ~5 tau_syn)")
            else:
                layer.bias += layer.gain * b

    # latency: hops from the inputs (one tick each on the core, zero in snnTorch)
    depth = {k: 0 for k in top_inputs}
    frontier = list(top_inputs)
    while frontier:
        nxt = []
        for s in frontier:
            for (a, b) in weights:
                if a == s and b not in depth:
                    depth[b] = depth[s] + 1
                    nxt.append(b)
        frontier = nxt
    for k, layer in layers.items():
        layer.latency = depth.get(k, 1) - 1
    for o in top_outputs:       # a readout computed by linear nodes alone is not spikes
        stack = list(pred[o])
        while stack:
            p = stack.pop()
            kind = type(nodes[p]).__name__
            if kind in ("Flatten", "Input", "Output") and p not in top_inputs:
                stack.extend(pred[p])
            elif kind in LINEAR and p not in top_inputs:
                raise CompileError(
                    f"node {p!r} of type {kind} feeds Output {o!r} with no spiking node after "
                    f"it: a readout without state; end it with an LI or CubaLI node (a "
                    "non-spiking population whose v is recorded through probes)")
    outputs = {}
    for o in top_outputs:
        feeders = [a for a in spiking if o in _reach_linear(a, succ, spiking)]
        outputs[o] = feeders[0] if len(feeders) == 1 else (feeders or None)

    net = Network(name or "nir")
    pops = {}
    for k in top_inputs:
        pops[k] = net.inputs(_size(shapes[k]), name=k)
    for k, layer in layers.items():
        w_in = [w for (a, b), w in weights.items() if b == k]
        w_max = max((float(np.max(np.abs(w))) for w in w_in if w.size), default=0.0)
        if layer.kind in NON_SPIKING:       # the compiler picks the scale from the weights
            pops[k] = net.population(layer.size, LI(
                tau_mem=_ticks(layer.a_mem), tau_syn=_ticks(layer.a_syn),
                v_rest=_scalar(layer.v_rest), bias=_scalar(layer.bias)), name=k)
            continue
        s, thr = _strict_threshold(layer, w_max, cfg)
        pops[k] = net.population(layer.size, LIF(
            tau_mem=_ticks(layer.a_mem), tau_syn=_ticks(layer.a_syn), threshold=_scalar(thr),
            v_reset=_scalar(layer.v_reset), v_rest=_scalar(layer.v_rest),
            bias=_scalar(layer.bias), reset=layer.reset, scale=s), name=k)
    for (a, b), w in weights.items():
        if np.any(w):
            # a Delay of d seconds comes on top of the core's one tick per hop (the latency
            # reported below): 1 + d/dt ticks, in the Network's ms-per-tick units; the compiler
            # rounds it and reports the rounding
            d = delays.get((a, b))
            net.connect(pops[a], pops[b], weights=w,
                        delays=None if d is None else 1.0 + d / float(dt))
    net.nir = Imported(float(dt), conventions, reset or "value", layers,
                       {k: _size(shapes[k]) for k in top_inputs}, weights, outputs, notes)
    return net


def _reach_linear(k, succ, spiking):
    """Nodes reachable from ``k`` through non-spiking nodes only."""
    seen, stack = set(), list(succ[k])
    while stack:
        m = stack.pop()
        if m in seen:
            continue
        seen.add(m)
        if m not in spiking:
            stack.extend(succ[m])
    return seen


def _ticks(a):
    """A decay per tick as the time constant in ticks the compiler turns back into it
    (exp(-1/tau) = a): 1 -> inf (no decay), 0 -> a tiny tau (decay 0)."""
    a = np.asarray(a, float)
    with np.errstate(divide="ignore"):
        tau = np.where(a >= 1, np.inf, np.where(a <= 0, 1e-9, -1.0 / np.log(np.clip(a, 1e-300,
                                                                                     1))))
    return _scalar(tau)


def _scalar(x):
    x = np.asarray(x, float).ravel()
    return float(x[0]) if np.all(x == x[0]) else x


# -- the float reference ---------------------------------------------------------------------------

def simulate(net: Network, inputs: dict, ticks: int) -> dict:
    """Run an imported network (``net.nir``) in float64 numpy, with its conventions and the
    core's timing (inputs of tick t act in tick t; a population's spikes reach its targets one
    tick later). ``inputs``: {input name: (ticks, size) bool}. Returns {population: (ticks,
    size) bool spikes}."""
    info = _imported(net)
    layers = info.layers
    v = {k: L.v_rest.copy() for k, L in layers.items()}
    i = {k: np.zeros(L.size) for k, L in layers.items()}
    out = {k: np.zeros((ticks, L.size), bool) for k, L in layers.items()}
    last = {k: np.zeros(L.size, bool) for k, L in layers.items()}
    x = {k: np.asarray(inputs.get(k, np.zeros((ticks, n), bool)), bool)
         for k, n in info.inputs.items()}
    for t in range(ticks):
        src = {k: x[k][t] for k in x} | last
        acc = {k: np.zeros(L.size) for k, L in layers.items()}
        for (a, b), w in info.weights.items():
            acc[b] += src[a].astype(float) @ w
        for k, L in layers.items():
            i1 = i[k] + acc[k]
            vv = L.v_rest + L.a_mem * (v[k] - L.v_rest) + i1 + L.bias
            z = vv > L.threshold
            if L.reset == "value":
                vv = np.where(z, L.v_reset, vv)
            else:
                vv = np.where(z, vv - (L.threshold - L.v_rest), vv)
            v[k], i[k], out[k][t] = vv, L.a_syn * i1, z
        last = {k: out[k][t] for k in layers}
    return out


def _imported(net) -> Imported:
    info = getattr(net, "nir", None)
    if not isinstance(info, Imported):
        raise CompileError("this network was not made by spikeloom.nir.from_nir")
    return info


@dataclasses.dataclass
class Comparison:
    """Float reference vs a backend, per population: spike ``counts`` (float, integer) per
    neuron, their Pearson ``correlation`` (1.0 when both are constant and equal), the fraction of
    neurons with ``equal`` counts, and the total spikes."""
    layers: dict

    def summary(self) -> str:
        rows = [f"{'population':<24}{'float':>8}{'integer':>9}{'corr':>7}{'equal':>8}"]
        for name, c in self.layers.items():
            rows.append(f"{name:<24}{c['float'].sum():>8}{c['integer'].sum():>9}"
                        f"{c['correlation']:>7.3f}{c['equal']:>8.1%}")
        return "\n".join(rows)


def _corr(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.std() == 0 or b.std() == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(np.corrcoef(a, b)[0, 1])


def compare(net: Network, inputs: dict, ticks: int, url: str = "model://", image=None,
            target="default") -> Comparison:
    """Run ``net`` (from :func:`from_nir`) in float (:func:`simulate`) and on ``url`` (the
    compiled ``image``, or ``compile(net, target)``), and compare spike counts per population."""
    from .board import open_board
    from .compiler import compile as compile_net
    ref = simulate(net, inputs, ticks)
    if image is None:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # the report keeps them
            image = compile_net(net, target=target)
    with open_board(url, config=image.config) as board:
        board.load(image)
        result = board.run(ticks, inputs=inputs)
    layers = {}
    for name, spikes in ref.items():
        f = spikes.sum(axis=0)
        q = result[name].counts()
        layers[name] = {"float": f, "integer": q, "correlation": _corr(f, q),
                        "equal": float(np.mean(f == q))}
    return Comparison(layers)


# -- export ----------------------------------------------------------------------------------------

def to_nir(network_or_image, dt: float = 1e-4, *, target="default"):
    """A ``nir.NIRGraph`` of what the core runs: a compiled Image (a Network is compiled for
    ``target`` first), with the quantized weights and parameters, written in the Euler
    conventions snnTorch reads (``r = tau_mem/dt``, ``w_in = tau_syn/dt``, so a weight is the
    jump of the current). Populations with no synaptic decay become ``LIF`` nodes, the others
    ``CubaLIF`` (populations with neither leak nor synaptic memory, resting at 0: ``IF``); each
    projection a ``Linear`` node named ``src->dst``; a bias an ``Affine``
    node; every neuron population feeds an ``Output`` node ``<name>.out``. The thresholds are
    written so that NIR's ``v > v_threshold`` is the core's ``v >= threshold``. What NIR cannot
    state (reset by subtraction, refractoriness, v_init) goes into ``graph.metadata`` and is
    listed in ``metadata["spikeloom_lost"]``."""
    nir = _nir()
    from .image import Image
    from .proto.memmap import Region
    if isinstance(network_or_image, Network):
        import warnings

        from .compiler import compile as compile_net
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = compile_net(network_or_image, target=target)
    elif isinstance(network_or_image, Image):
        image = network_or_image
    else:
        raise CompileError(f"to_nir needs a spikeloom Network or Image, not "
                           f"{type(network_or_image).__name__}")
    cfg = image.config
    one = float(1 << cfg.decay_frac)
    P = image.fields(Region.NEURON_PARAMS)
    S = image.fields(Region.NEURON_STATE)
    W = image.weights()
    nodes, edges, lost = {}, [], []
    reset_modes, bias_of = {}, {}
    for p in image.populations.values():
        if p.kind == "inputs":
            nodes[p.name] = nir.Input(input_type={"input": np.array([p.size])})
            continue
        sl = slice(p.start, p.stop)
        # NIR has no node for these: refuse rather than export a different model silently
        if "theta_jump" in P and np.any(P["theta_jump"][sl]):
            raise CompileError(f"to_nir: population {p.name!r} has an adaptive threshold "
                               "(theta_jump), which no NIR node expresses")
        if "alpha_inh" in P and np.any(P["alpha_inh"][sl] != P["alpha_syn"][sl]):
            raise CompileError(f"to_nir: population {p.name!r} has its own inhibitory time "
                               "constant (tau_syn_inh), which no NIR node expresses")
        s = p.scale
        v_rest = np.broadcast_to(np.asarray(p.v_rest, float), (p.size,))
        a_m = P["alpha_mem"][sl] / one
        a_s = P["alpha_syn"][sl] / one
        # no decay (alpha = 2^F): a tau so long that it quantizes back to no decay, but finite,
        # so that r = tau/dt and w_in = tau_syn/dt stay finite (NIR's LIF cannot say inf * 0)
        never = dt * 4.0 * one
        tau_m = np.where(a_m >= 1, never, dt / np.maximum(1 - a_m, 1 / (4.0 * one)))
        tau_s = np.where(a_s >= 1, never, dt / np.maximum(1 - a_s, 1 / (4.0 * one)))
        thr = v_rest + (P["threshold"][sl] - 1) / s
        v_reset = v_rest + P["v_reset"][sl] / s
        if np.any(P["reset_subtract"][sl]):
            reset_modes[p.name] = "subtract"
            lost.append(f"{p.name}: reset by subtraction")
        if np.any(P["refractory"][sl]):
            lost.append(f"{p.name}: refractory {int(P['refractory'][sl].max())} ticks")
        if np.any(S["v"][sl]):
            lost.append(f"{p.name}: v_init")
        quiet = P["no_spike"][sl] != 0 if "no_spike" in P else np.zeros(p.size, bool)
        if quiet.any() and not quiet.all():
            raise CompileError(f"to_nir: population {p.name!r} mixes spiking and non-spiking "
                               "neurons, which no NIR node expresses")
        if quiet.all() and np.all(a_s == 0):        # sl.LI: a leaky integrator
            nodes[p.name] = nir.LI(tau=tau_m, r=tau_m / dt, v_leak=v_rest)
            bias_in = P["bias"][sl] / s
        elif quiet.all():
            nodes[p.name] = nir.CubaLI(tau_syn=tau_s, tau_mem=tau_m, r=tau_m / dt,
                                       v_leak=v_rest, w_in=tau_s / dt)
            bias_in = P["bias"][sl] / s * (1 - a_s)
        elif np.all(a_s == 0) and np.all(a_m >= 1) and not np.any(v_rest):
            nodes[p.name] = nir.IF(r=np.ones(p.size), v_threshold=thr, v_reset=v_reset)
            bias_in = P["bias"][sl] / s
        elif np.all(a_s == 0):
            nodes[p.name] = nir.LIF(tau=tau_m, r=tau_m / dt, v_leak=v_rest, v_threshold=thr,
                                    v_reset=v_reset)
            bias_in = P["bias"][sl] / s
        else:
            nodes[p.name] = nir.CubaLIF(tau_syn=tau_s, tau_mem=tau_m, r=tau_m / dt,
                                        v_leak=v_rest, v_threshold=thr, v_reset=v_reset,
                                        w_in=tau_s / dt)
            bias_in = P["bias"][sl] / s * (1 - a_s)     # the current's steady state is the bias
        nodes[f"{p.name}.out"] = nir.Output(output_type={"output": np.array([p.size])})
        edges.append((p.name, f"{p.name}.out"))
        if np.any(bias_in):
            if not any(q.dst == p.name for q in image.projections.values()):
                lost.append(f"{p.name}: bias (no incoming projection to carry it)")
            bias_of[p.name] = bias_in
    ticks = image.delays()
    for q in image.projections.values():
        src, dst = image.populations[q.src], image.populations[q.dst]
        rows, cols = image.rows_cols(q)
        w = np.zeros((dst.size, src.size))
        w[q.post, q.pre] = W[rows, cols] / q.scale
        # synapses longer than one tick: one Linear -> Delay pair per extra delay (NIR's
        # Delay acts per element, so each pair carries the synapses of one delay value)
        extra = np.zeros((dst.size, src.size), np.int64)
        extra[q.post, q.pre] = ticks[rows, cols] - 1
        for e in np.unique(extra[w != 0]):
            if e == 0:
                continue
            key = f"{q.src}->{q.dst}.delay{e}"
            nodes[key] = nir.Linear(weight=np.where(extra == e, w, 0.0))
            nodes[f"{key}.d"] = nir.Delay(delay=np.full(dst.size, e * float(dt)))
            edges += [(q.src, key), (key, f"{key}.d"), (f"{key}.d", q.dst)]
            w = np.where(extra == e, 0.0, w)
        bias = bias_of.pop(dst.name, None)
        key = f"{q.src}->{q.dst}"
        if bias is not None:
            nodes[key] = nir.Affine(weight=w, bias=np.asarray(bias))
        else:
            nodes[key] = nir.Linear(weight=w)
        edges += [(q.src, key), (key, q.dst)]
    meta = {"spikeloom_dt": float(dt), "spikeloom_config": cfg.name}
    if lost:
        meta["spikeloom_lost"] = "; ".join(lost)
    for name, mode in reset_modes.items():
        meta[f"spikeloom_reset.{name}"] = mode
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)
