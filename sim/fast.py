"""The golden model compiled with numba: the semantics of :mod:`spikeloom.sim.model`, fast.

:class:`spikeloom.sim.model.Core` stays the readable specification (``engine="reference"``);
this module is its default engine (``engine="fast"``) and must agree with it bit for bit after
every tick (tests/test_fast.py drives both with random configurations, parameters, weights,
plasticity and inputs). It implements exactly the fields listed below and nothing else: a core
whose configuration, parameter, state or STDP dataclass, or NEURON_PARAMS / NEURON_STATE /
STDP_PARAMS layout, has a field this module does not know is refused by :func:`unsupported`
(the Core then warns with :class:`FastEngineWarning` and runs the reference engine), so a
numerics extension never computes a different answer silently here.

Layout of the kernel (why it is shaped like this): per-neuron parameters travel as one
``(len(PARAM_FIELDS), N)`` int64 matrix and per-neuron state as one ``(len(NEURON_FIELDS), N)``
matrix, rows named by the index constants below; the per-neuron update is the one function
:func:`_neuron`. A new per-neuron rule (say an adaptive threshold) is therefore: its names in
``PARAM_FIELDS`` / ``NEURON_FIELDS`` (which also lifts the refusal) and its lines in
:func:`_neuron`. Sources (pre traces, pending spikes) and the weight matrix are separate arrays.

:class:`Batch` steps k independent cores of one configuration in one compiled program (a
parallel loop over the cores), for sweeps on one machine.

numba compiles the kernels on first use (a few seconds) and caches them on disk
(``cache=True``), so later processes load them in well under a second.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..proto.config import CoreConfig
from ..proto.memmap import Region, layouts
from .model import Core, NeuronParams, State, STDPParams, TickResult

__all__ = ["CONFIG_FIELDS", "PARAM_FIELDS", "NEURON_FIELDS", "SOURCE_FIELDS", "STDP_FIELDS",
           "FastEngineWarning", "unsupported", "step", "run", "Batch"]

I64 = np.int64

#: CoreConfig fields whose meaning the kernel implements (sizes and widths; clock, baud and
#: name do not change the arithmetic but a new field might, so every field is listed)
CONFIG_FIELDS = frozenset({
    "n_neurons", "n_inputs", "v_width", "i_width", "w_width", "trace_width",
    "refractory_width", "decay_frac", "stdp_frac", "weights_per_word", "clock_hz", "baud",
    "name"})
#: NeuronParams fields, in the row order of the packed parameter matrix
PARAM_FIELDS = ("threshold", "v_reset", "bias", "refractory", "alpha_mem", "alpha_syn",
                "reset_subtract")
#: per-neuron State fields, in the row order of the packed state matrix
NEURON_FIELDS = ("v", "i", "ref", "y")
#: per-source State fields (separate arrays)
SOURCE_FIELDS = ("x", "spikes")
#: STDPParams fields, in the order of the packed STDP vector
STDP_FIELDS = ("enable", "a_plus", "a_minus", "pre_jump", "post_jump", "alpha_pre",
               "alpha_post", "w_min", "w_max")

# row indices (numba freezes module-level ints into the compiled code)
THRESHOLD, V_RESET, BIAS, REFRACTORY, ALPHA_MEM, ALPHA_SYN, RESET_SUBTRACT = range(7)
V, I, REF, Y = range(4)
ENABLE, A_PLUS, A_MINUS, PRE_JUMP, POST_JUMP, ALPHA_PRE, ALPHA_POST, W_MIN, W_MAX = range(9)
# the packed configuration vector
C_VLO, C_VHI, C_ILO, C_IHI, C_THI, C_DECAY, C_STDP, C_INPUTS = range(8)

assert PARAM_FIELDS[RESET_SUBTRACT] == "reset_subtract" and NEURON_FIELDS[Y] == "y"
assert STDP_FIELDS[W_MAX] == "w_max"


class FastEngineWarning(RuntimeWarning):
    """The fast engine cannot run this core; the reference engine runs it instead."""


def unsupported(cfg: CoreConfig) -> list[str]:
    """What the fast engine does not implement for ``cfg`` (empty: it can run it exactly).

    Compares every field of CoreConfig, NeuronParams, State and STDPParams, and of the
    NEURON_PARAMS, NEURON_STATE and STDP_PARAMS layouts, with the fields this module knows."""
    why = []

    def check(what, names, known):
        extra = [n for n in names if n not in known]
        if extra:
            why.append(f"{what} field(s) {', '.join(extra)}")
    check("CoreConfig", [f.name for f in dataclasses.fields(cfg)], CONFIG_FIELDS)
    check("NeuronParams", [f.name for f in dataclasses.fields(NeuronParams)], PARAM_FIELDS)
    check("State", [f.name for f in dataclasses.fields(State)], NEURON_FIELDS + SOURCE_FIELDS)
    check("STDPParams", [f.name for f in dataclasses.fields(STDPParams)], STDP_FIELDS)
    lay = layouts(cfg)
    check("NEURON_PARAMS", [f.name for f in lay[Region.NEURON_PARAMS].fields], PARAM_FIELDS)
    check("NEURON_STATE", [f.name for f in lay[Region.NEURON_STATE].fields], NEURON_FIELDS)
    check("STDP_PARAMS", [f.name for f in lay[Region.STDP_PARAMS].fields], STDP_FIELDS)
    if not why and numba is None:
        why.append("numba is not installed")
    return why


# -- the kernel ---------------------------------------------------------------------------------

try:
    import numba
except ImportError:             # unsupported() reports it; Core then runs the reference engine
    numba = None


def _jit(**opts):
    """numba.njit(cache=True, **opts), or the plain function without numba (never run: the
    Core refuses the fast engine when numba is missing)."""
    if numba is None:
        return lambda f: f
    return numba.njit(cache=True, **opts)


@_jit(inline="always")
def _clip(x, lo, hi):
    return min(max(x, lo), hi)


@_jit(inline="always")
def _decay(x, factor, frac):
    # x * factor / 2**frac rounded toward zero (proto.fixed.decay)
    p = x * factor
    if p < 0:
        p += (np.int64(1) << frac) - 1
    return p >> frac


@_jit(inline="always")
def _neuron(j, C, P, S, acc):
    """Neuron ``j``'s update (docs/numerics.md step 2) on its accumulated input ``acc``;
    returns whether it fires. Per-neuron rules go here."""
    i1 = _clip(S[I, j] + acc, C[C_ILO], C[C_IHI])
    v, ref = S[V, j], S[REF, j]
    fire = False
    if ref == 0:
        v = _clip(_decay(v, P[ALPHA_MEM, j], C[C_DECAY]) + i1 + P[BIAS, j], C[C_VLO], C[C_VHI])
        if v >= P[THRESHOLD, j]:
            fire = True
            if P[RESET_SUBTRACT, j] != 0:
                v = _clip(v - P[THRESHOLD, j], C[C_VLO], C[C_VHI])
            else:
                v = P[V_RESET, j]
            ref = P[REFRACTORY, j]
    else:
        ref -= 1
    S[V, j] = v
    S[REF, j] = ref
    S[I, j] = _clip(_decay(i1, P[ALPHA_SYN, j], C[C_DECAY]), C[C_ILO], C[C_IHI])
    return fire


@_jit(nogil=True)
def _tick(C, P, S, x, spikes, W, plastic, T, fire, acc, dep, cols):
    """One tick in place; ``fire`` receives this tick's spikes; returns the number of sources
    delivered. ``acc``, ``dep`` and ``cols`` (length N) are scratch."""
    n_src, n = W.shape
    F, G, thi = C[C_DECAY], C[C_STDP], C[C_THI]
    # 1. accumulate the rows of delivered sources (exact sum; one saturation in _neuron)
    acc[:] = 0
    delivered = 0
    for r in range(n_src):
        if spikes[r]:
            delivered += 1
            for j in range(n):
                acc[j] += W[r, j]
    # 2. neurons
    for j in range(n):
        fire[j] = _neuron(j, C, P, S, acc[j])
    # 3. traces: decay; pre traces of delivered sources jump
    for r in range(n_src):
        xr = _decay(x[r], T[ALPHA_PRE], F)
        if spikes[r]:
            xr += T[PRE_JUMP]
        x[r] = _clip(xr, 0, thi)
    for j in range(n):
        S[Y, j] = _clip(_decay(S[Y, j], T[ALPHA_POST], F), 0, thi)
    # 4. STDP: depression on delivered rows (from the decayed post traces), then the post
    # jumps, then potentiation on fired columns (from the pre traces after their jumps)
    lo, hi = T[W_MIN], T[W_MAX]
    if T[ENABLE] != 0 and delivered:
        for j in range(n):
            dep[j] = (S[Y, j] * T[A_MINUS]) >> G
        for r in range(n_src):
            if spikes[r]:
                for j in range(n):
                    if plastic[r, j]:
                        W[r, j] = _clip(W[r, j] - dep[j], lo, hi)
    nf = 0
    for j in range(n):
        if fire[j]:
            S[Y, j] = _clip(S[Y, j] + T[POST_JUMP], 0, thi)
            cols[nf] = j
            nf += 1
    if T[ENABLE] != 0 and nf:
        for r in range(n_src):
            pot = (x[r] * T[A_PLUS]) >> G
            for k in range(nf):
                c = cols[k]
                if plastic[r, c]:
                    W[r, c] = _clip(W[r, c] + pot, lo, hi)
    # 5. this tick's spikes are delivered next tick; inputs were consumed
    m = C[C_INPUTS]
    for r in range(m):
        spikes[r] = False
    for j in range(n):
        spikes[m + j] = fire[j]
    return delivered


@_jit(nogil=True)
def _run(C, P, S, x, spikes, W, plastic, T, inputs, out, delivered):
    """``len(out)`` ticks; ``inputs`` is (ticks, M) bool, or shape (0, 0) for none."""
    n = W.shape[1]
    acc = np.zeros(n, np.int64)
    dep = np.zeros(n, np.int64)
    cols = np.zeros(n, np.int64)
    has_inputs = inputs.shape[0] > 0
    for t in range(out.shape[0]):
        if has_inputs:
            for r in range(inputs.shape[1]):
                if inputs[t, r]:
                    spikes[r] = True
        delivered[t] = _tick(C, P, S, x, spikes, W, plastic, T, out[t], acc, dep, cols)


@_jit(parallel=True)
def _run_batch(C, P, S, x, spikes, W, plastic, T, inputs, out, delivered):
    """:func:`_run` for each core of a batch (leading axis), the cores in parallel."""
    for b in numba.prange(out.shape[0]):
        _run(C, P[b], S[b], x[b], spikes[b], W[b], plastic[b], T[b], inputs[b], out[b],
             delivered[b])


# -- packing a Core into kernel arrays ----------------------------------------------------------

def _config_vector(cfg: CoreConfig) -> np.ndarray:
    return np.array([-(1 << (cfg.v_width - 1)), (1 << (cfg.v_width - 1)) - 1,
                     -(1 << (cfg.i_width - 1)), (1 << (cfg.i_width - 1)) - 1,
                     (1 << cfg.trace_width) - 1, cfg.decay_frac, cfg.stdp_frac, cfg.n_inputs],
                    I64)


def _pack(core: Core):
    """Kernel arrays of ``core``: fresh copies of parameters and state, the weight matrix
    itself when it is already C-contiguous int64 (updated in place, as the reference does)."""
    p, st = core.params, core.state
    P = np.array([getattr(p, f) for f in PARAM_FIELDS], I64)
    S = np.array([getattr(st, f) for f in NEURON_FIELDS], I64)
    x = np.array(st.x, I64)
    spikes = np.array(st.spikes, bool)
    if not (isinstance(core.weights, np.ndarray) and core.weights.dtype == I64
            and core.weights.flags.c_contiguous and core.weights.flags.writeable):
        core.weights = np.ascontiguousarray(core.weights, I64)
    plastic = np.ascontiguousarray(core.plastic, bool)
    T = np.array([int(getattr(core.stdp, f)) for f in STDP_FIELDS], I64)
    return P, S, x, spikes, core.weights, plastic, T


def _unpack(core: Core, S: np.ndarray, x: np.ndarray, spikes: np.ndarray) -> None:
    # fresh arrays, as the reference assigns them (no aliasing with arrays a caller holds)
    for k, f in enumerate(NEURON_FIELDS):
        setattr(core.state, f, S[k].copy())
    core.state.x = x
    core.state.spikes = spikes


def step(core: Core) -> TickResult:
    """One tick of ``core`` (inputs already injected), exactly as ``Core.step`` does."""
    C = _config_vector(core.cfg)
    P, S, x, spikes, W, plastic, T = _pack(core)
    n = core.cfg.n_neurons
    fire = np.zeros(n, bool)
    delivered = _tick(C, P, S, x, spikes, W, plastic, T, fire, np.zeros(n, I64),
                          np.zeros(n, I64), np.zeros(n, I64))
    _unpack(core, S, x, spikes)
    core.ticks += 1
    return TickResult(fire, int(delivered), int(delivered) * n)


def run(core: Core, ticks: int, inputs=None) -> np.ndarray:
    """``ticks`` ticks of ``core`` in one compiled loop; ``inputs`` None or a checked
    (ticks, n_inputs) bool array. The (ticks, n_neurons) bool raster, as ``Core.run``."""
    cfg = core.cfg
    P, S, x, spikes, W, plastic, T = _pack(core)
    out = np.zeros((ticks, cfg.n_neurons), bool)
    inp = np.zeros((0, 0), bool) if inputs is None else np.ascontiguousarray(inputs, bool)
    _run(_config_vector(cfg), P, S, x, spikes, W, plastic, T, inp, out,
             np.zeros(ticks, I64))
    _unpack(core, S, x, spikes)
    core.ticks += ticks
    return out


# -- batches ------------------------------------------------------------------------------------

class Batch:
    """``k`` independent cores of one configuration, run together in one compiled program.

    ``batch.cores[b]`` is an ordinary :class:`~spikeloom.sim.model.Core`: configure each one as
    usual (parameters, weights, plasticity, STDP, state, ``write_words``). :meth:`run` packs all
    of them into stacked arrays, runs every core for ``ticks`` ticks in one numba call (cores in
    parallel over the machine's threads), and writes the results back, so afterwards each core
    is exactly where ``core.run(ticks, inputs[b])`` would have left it (tests/test_fast.py).
    """

    def __init__(self, cfg: CoreConfig, k: int):
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"a batch needs k >= 1 cores, not {k!r}")
        why = unsupported(cfg)
        if why:
            raise ValueError(f"the fast engine cannot run {cfg.name!r}: {'; '.join(why)}")
        self.cfg = cfg
        self.cores = [Core(cfg, engine="reference") for _ in range(k)]

    @classmethod
    def from_cores(cls, cores) -> Batch:
        """A batch over existing cores (all of one configuration); they are updated by run."""
        cores = list(cores)
        if not cores:
            raise ValueError("a batch needs at least one core")
        cfg = cores[0].cfg
        if any(c.cfg != cfg for c in cores):
            raise ValueError("every core of a batch must have the same configuration")
        batch = cls(cfg, len(cores))
        batch.cores = cores
        return batch

    def __len__(self) -> int:
        return len(self.cores)

    def run(self, ticks: int, inputs=None) -> np.ndarray:
        """Run every core ``ticks`` ticks. ``inputs``: None, one (ticks, n_inputs) bool raster
        for all cores, or a (k, ticks, n_inputs) one per core. Returns the
        (k, ticks, n_neurons) bool raster."""
        cfg, k = self.cfg, len(self.cores)
        if not isinstance(ticks, int) or ticks < 0:
            raise ValueError(f"ticks must be a non-negative int, not {ticks!r}")
        shape = (ticks, cfg.n_inputs)
        if inputs is None:
            inp = np.zeros((k, 0, 0), bool)
        else:
            inp = np.asarray(inputs, bool)
            if inp.shape == shape:
                inp = np.broadcast_to(inp, (k, *shape))
            if inp.shape != (k, *shape):
                raise ValueError(f"inputs must have shape {shape} or {(k, *shape)}, "
                                 f"got {inp.shape}")
            inp = np.ascontiguousarray(inp)
        packed = [_pack(c) for c in self.cores]
        P, S, x, spikes, W, plastic, T = (np.stack(a) for a in zip(*packed, strict=True))
        out = np.zeros((k, ticks, cfg.n_neurons), bool)
        _run_batch(_config_vector(cfg), P, S, x, spikes, W, plastic, T, inp, out,
                   np.zeros((k, ticks), I64))
        for b, core in enumerate(self.cores):
            _unpack(core, S[b], x[b].copy(), spikes[b].copy())
            core.weights[...] = W[b]
            core.ticks += ticks
        return out
