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
:func:`_neuron`. A new per-neuron rule (as the adaptive threshold was) is therefore: its names in
``PARAM_FIELDS`` / ``NEURON_FIELDS`` (which also lifts the refusal) and its lines in
:func:`_neuron`. Sources (pre traces, pending spikes), the weight and delay matrices and the
delay ring are separate arrays; the kernel turns the ring by moving its head, and hands it
back in the model's order (this tick's row first).

:func:`run_batch` steps k independent cores of one configuration in one compiled program (a
parallel loop over the cores); :class:`spikeloom.sim.batch.Batch` is its user-facing wrapper.

This module imports the data classes of :mod:`spikeloom.sim.state`, never
:mod:`spikeloom.sim.model` (which imports it: the dependency goes one way); a ``Core`` here is
any object with the attributes of :class:`spikeloom.sim.model.Core` that the kernel reads.

numba compiles the kernels on first use (a few seconds) and caches them on disk
(``cache=True``), so later processes load them in well under a second.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from ..proto.config import CoreConfig
from ..proto.memmap import Region, layouts
from .state import NeuronParams, State, STDPParams, TickResult

if TYPE_CHECKING:
    from .model import Core

__all__ = ["CONFIG_FIELDS", "PARAM_FIELDS", "NEURON_FIELDS", "SOURCE_FIELDS", "RING_FIELDS",
           "STDP_FIELDS", "RULE_FIELDS",
           "FastEngineWarning", "unsupported", "step", "run", "run_batch"]

I64 = np.int64

#: CoreConfig fields whose meaning the kernel implements (sizes and widths; clock, baud and
#: name do not change the arithmetic but a new field might, so every field is listed)
CONFIG_FIELDS = frozenset({
    "n_neurons", "n_inputs", "v_width", "i_width", "w_width", "trace_width",
    "refractory_width", "decay_frac", "stdp_frac", "weights_per_word", "theta_width",
    "inh_current", "delay_bits", "rule_bits", "clock_hz", "baud", "name",   # rules: RULE_FIELDS
    "probe_slots"})     # probes read state after a tick: no arithmetic (sim/device.py)
#: NeuronParams fields, in the row order of the packed parameter matrix
PARAM_FIELDS = ("threshold", "v_reset", "bias", "refractory", "alpha_mem", "alpha_syn",
                "reset_subtract", "alpha_inh", "theta_jump", "alpha_theta", "no_spike")
#: per-neuron State fields, in the row order of the packed state matrix
NEURON_FIELDS = ("v", "i", "ref", "y", "i_inh", "theta")
#: per-source State fields (separate arrays)
SOURCE_FIELDS = ("x", "spikes")
#: the delay ring's State fields, (2**delay_bits, N) each (separate arrays)
RING_FIELDS = ("ring", "ring_inh")
#: STDPParams fields, in the order of the packed STDP vector
STDP_FIELDS = ("enable", "a_plus", "a_minus", "pre_jump", "post_jump", "alpha_pre",
               "alpha_post", "w_min", "w_max")
#: the flags a rule's STDP_PARAMS word adds with rule_bits > 1 (columns after STDP_FIELDS of the
#: packed rule table, whose row r-1 is rule r; row 0 also carries the LEARN words)
RULE_FIELDS = ("soft", "stochastic", "modulated")

# row indices (numba freezes module-level ints into the compiled code)
(THRESHOLD, V_RESET, BIAS, REFRACTORY, ALPHA_MEM, ALPHA_SYN, RESET_SUBTRACT, ALPHA_INH,
 THETA_JUMP, ALPHA_THETA, NO_SPIKE) = range(11)
V, I, REF, Y, I_INH, THETA = range(6)
ENABLE, A_PLUS, A_MINUS, PRE_JUMP, POST_JUMP, ALPHA_PRE, ALPHA_POST, W_MIN, W_MAX = range(9)
SOFT, STOCHASTIC, MODULATED, LFSR, MODULATION = range(9, 14)
# the packed configuration vector: V and I ranges, the largest trace, decay and STDP fractions,
# the number of inputs, the largest theta (0: no adaptive threshold), inh_current (0 or 1)
C_VLO, C_VHI, C_ILO, C_IHI, C_THI, C_DECAY, C_STDP, C_INPUTS, C_THETA_HI, C_INH = range(10)
# with several plasticity rules: rules on (0/1), w_width, lane positions per row (wpr * wpw),
# lanes per word
C_RULES, C_WBITS, C_LANES, C_WPW = range(10, 14)

assert PARAM_FIELDS[ALPHA_THETA] == "alpha_theta" and NEURON_FIELDS[THETA] == "theta"
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
    # a feature that is off is the core without it (CoreConfig.fields() leaves it out)
    check("CoreConfig", list(cfg.fields()), CONFIG_FIELDS)
    check("NeuronParams", [f.name for f in dataclasses.fields(NeuronParams)], PARAM_FIELDS)
    check("State", [f.name for f in dataclasses.fields(State)],
          NEURON_FIELDS + SOURCE_FIELDS + RING_FIELDS)
    check("STDPParams", [f.name for f in dataclasses.fields(STDPParams)], STDP_FIELDS)
    lay = layouts(cfg)
    check("NEURON_PARAMS", [f.name for f in lay[Region.NEURON_PARAMS].fields], PARAM_FIELDS)
    check("NEURON_STATE", [f.name for f in lay[Region.NEURON_STATE].fields], NEURON_FIELDS)
    check("STDP_PARAMS", [f.name for f in lay[Region.STDP_PARAMS].fields],
          STDP_FIELDS + RULE_FIELDS)
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
def _neuron(j, C, P, S, acc, acc_inh):
    """Neuron ``j``'s update (docs/numerics.md step 2) on its accumulated inputs ``acc`` and
    ``acc_inh`` (the negative weights' sum with inh_current, else 0); returns whether it fires.
    Per-neuron rules go here. ``i_inh`` and ``theta`` are left untouched while their feature
    is off, as the reference leaves them."""
    F, ilo, ihi, vlo, vhi = C[C_DECAY], C[C_ILO], C[C_IHI], C[C_VLO], C[C_VHI]
    inh, theta_hi = C[C_INH] != 0, C[C_THETA_HI]
    i1 = _clip(S[I, j] + acc, ilo, ihi)
    h1 = _clip(S[I_INH, j] + acc_inh, ilo, ihi) if inh else 0
    # theta decays first, every tick, and this tick's compare sees the decayed value
    theta1 = _clip(_decay(S[THETA, j], P[ALPHA_THETA, j], F), 0, theta_hi) if theta_hi else 0
    thr = P[THRESHOLD, j] + theta1          # exact: no saturation
    v, ref = S[V, j], S[REF, j]
    fire = False
    if ref == 0:
        v = _clip(_decay(v, P[ALPHA_MEM, j], F) + i1 + h1 + P[BIAS, j], vlo, vhi)
        if v >= thr and P[NO_SPIKE, j] == 0:
            fire = True
            if P[RESET_SUBTRACT, j] != 0:
                v = _clip(v - thr, vlo, vhi)
            else:
                v = P[V_RESET, j]
            ref = P[REFRACTORY, j]
    else:
        ref -= 1
    S[V, j] = v
    S[REF, j] = ref
    S[I, j] = _clip(_decay(i1, P[ALPHA_SYN, j], F), ilo, ihi)
    if inh:
        S[I_INH, j] = _clip(_decay(h1, P[ALPHA_INH, j], F), ilo, ihi)
    if theta_hi:
        S[THETA, j] = _clip(theta1 + (P[THETA_JUMP, j] if fire else 0), 0, theta_hi)
    return fire


@_jit(inline="always")
def _draw(T):
    """The next xorshift32 draw (docs/numerics.md); the state lives in ``T[0, LFSR]``."""
    u = T[0, LFSR]
    u ^= (u << 13) & 0xFFFFFFFF
    u ^= u >> 17
    u ^= (u << 5) & 0xFFFFFFFF
    T[0, LFSR] = u
    return u


@_jit(inline="always")
def _rule_step(T, k, base, a, dist, u, C):
    """Rule ``k + 1``'s step magnitude times the modulation sign (sim.rules.rule_step)."""
    q = base * a
    sh = C[C_STDP]
    if T[k, SOFT] != 0:
        q *= max(dist, 0)
        sh += C[C_WBITS]
    sign = 1
    if T[k, MODULATED] != 0:
        m = T[0, MODULATION] & 0xFFFF
        if m & 0x8000:
            m -= 0x10000
        q *= abs(m)
        sh += 8
        sign = 1 if m > 0 else (-1 if m < 0 else 0)
    if T[k, STOCHASTIC] != 0:
        q += (u >> (32 - sh)) if sh <= 32 else (u << (sh - 32))
    return sign * (q >> sh)


@_jit(inline="always")
def _any_enabled(T):
    for k in range(T.shape[0]):
        if T[k, ENABLE] != 0:
            return True
    return False


@_jit(nogil=True)
def _depress_rules(C, S, spikes, W, plastic, T, delivered):
    """Step 4 with rules: one draw per lane position of each delivered row, in order."""
    n_src, n = W.shape
    if not delivered or not _any_enabled(T):
        return
    for r in range(n_src):
        if not spikes[r]:
            continue
        for lane in range(C[C_LANES]):
            u = _draw(T)
            if lane >= n:
                continue
            k = plastic[r, lane] - 1
            if k < 0 or T[k, ENABLE] == 0:
                continue
            w = W[r, lane]
            step = _rule_step(T, k, S[Y, lane], T[k, A_MINUS], w - T[k, W_MIN], u, C)
            W[r, lane] = min(max(w - step, T[k, W_MIN]), T[k, W_MAX])


@_jit(nogil=True)
def _listed(C, x, T, rows, lst):
    """The sources listed for potentiation (sim.model / sim.rules.listed) into ``lst``;
    returns their number."""
    G = C[C_STDP]
    rules = C[C_RULES] != 0
    count = 0
    for r in range(x.shape[0]):
        ok = False
        if rows[r]:
            if not rules:
                ok = (x[r] * T[0, A_PLUS]) >> G != 0
            else:
                for k in range(T.shape[0]):
                    q = x[r] * T[k, A_PLUS]
                    if T[k, ENABLE] != 0 and q != 0 and (
                            q >= (1 << G) or T[k, STOCHASTIC] != 0 or T[k, MODULATED] != 0):
                        ok = True
        lst[r] = ok
        count += ok
    return count


@_jit(nogil=True)
def _potentiate_rules(C, x, W, plastic, T, fire, lst, nf):
    """Step 6 with rules: listed sources in order, their fired words in order, one draw per
    lane of each word (lanes that did not fire or lie past the last neuron draw too)."""
    n_src, n = W.shape
    if not nf or not _any_enabled(T):
        return
    wpw = C[C_WPW]
    for r in range(n_src):
        if not lst[r]:
            continue
        for word in range(C[C_LANES] // wpw):
            hit = False
            for lane in range(word * wpw, min(word * wpw + wpw, n)):
                hit = hit or fire[lane]
            if not hit:
                continue
            for lane in range(word * wpw, word * wpw + wpw):
                u = _draw(T)
                if lane >= n or not fire[lane]:
                    continue
                k = plastic[r, lane] - 1
                if k < 0 or T[k, ENABLE] == 0:
                    continue
                w = W[r, lane]
                step = _rule_step(T, k, x[r], T[k, A_PLUS], T[k, W_MAX] - w, u, C)
                W[r, lane] = min(max(w + step, T[k, W_MIN]), T[k, W_MAX])


@_jit(nogil=True)
def _tick(C, P, S, x, spikes, W, plastic, T, rows, lst, fire, dep, cols, Dl, ring, ring_inh,
          head):
    """One tick in place; ``fire`` receives this tick's spikes; returns the numbers of sources
    delivered, listed for potentiation and delivered with a plastic row (``rows``: the plastic
    rows; ``lst`` receives the listed sources). ``dep`` and ``cols`` (length N) are scratch.
    ``Dl`` holds the delays, ``ring`` and ``ring_inh`` the future accumulators with this tick's
    row at index ``head`` (row k of the model's ring is row ``(head + k) % len(ring)`` here: the
    caller turns the ring by advancing ``head``, not by moving rows)."""
    n_src, n = W.shape
    F, G, thi = C[C_DECAY], C[C_STDP], C[C_THI]
    n_ring = ring.shape[0]
    # 1. accumulate the rows of delivered sources into the ring rows of their delays (exact
    # sums; one saturation in _neuron); with inh_current the negative weights go to ring_inh
    inh = C[C_INH] != 0
    delivered = plastic_delivered = 0
    for r in range(n_src):
        if spikes[r]:
            delivered += 1
            plastic_delivered += rows[r]
            for j in range(n):
                w = W[r, j]
                k = (head + Dl[r, j]) % n_ring
                if inh and w < 0:
                    ring_inh[k, j] += w
                else:
                    ring[k, j] += w
    # 2. neurons, on this tick's ring row, which is emptied for its next turn
    for j in range(n):
        fire[j] = _neuron(j, C, P, S, ring[head, j], ring_inh[head, j])
        ring[head, j] = 0
        ring_inh[head, j] = 0
    # 3. traces: decay; pre traces of delivered sources jump
    for r in range(n_src):
        xr = _decay(x[r], T[0, ALPHA_PRE], F)
        if spikes[r]:
            xr += T[0, PRE_JUMP]
        x[r] = _clip(xr, 0, thi)
    for j in range(n):
        S[Y, j] = _clip(_decay(S[Y, j], T[0, ALPHA_POST], F), 0, thi)
    listed = _listed(C, x, T, rows, lst)
    # 4. STDP: depression on delivered rows (from the decayed post traces), then the post
    # jumps, then potentiation on fired columns (from the pre traces after their jumps)
    lo, hi = T[0, W_MIN], T[0, W_MAX]
    rules = C[C_RULES] != 0
    if rules:
        _depress_rules(C, S, spikes, W, plastic, T, delivered)
    elif T[0, ENABLE] != 0 and delivered:
        for j in range(n):
            dep[j] = (S[Y, j] * T[0, A_MINUS]) >> G
        for r in range(n_src):
            if spikes[r]:
                for j in range(n):
                    if plastic[r, j]:
                        W[r, j] = _clip(W[r, j] - dep[j], lo, hi)
    nf = 0
    for j in range(n):
        if fire[j]:
            S[Y, j] = _clip(S[Y, j] + T[0, POST_JUMP], 0, thi)
            cols[nf] = j
            nf += 1
    if rules:
        _potentiate_rules(C, x, W, plastic, T, fire, lst, nf)
    elif T[0, ENABLE] != 0 and nf:
        for r in range(n_src):
            if not lst[r]:
                continue
            pot = (x[r] * T[0, A_PLUS]) >> G
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
    return delivered, listed, plastic_delivered


@_jit(nogil=True)
def _run(C, P, S, x, spikes, W, plastic, T, rows, Dl, ring, ring_inh, inputs, out,
         delivered):
    """``len(out)`` ticks; ``inputs`` is (ticks, M) bool, or shape (0, 0) for none. Returns
    the ring's head (where the model's row 0 now is)."""
    n = W.shape[1]
    dep = np.zeros(n, np.int64)
    cols = np.zeros(n, np.int64)
    lst = np.zeros(W.shape[0], np.bool_)
    has_inputs = inputs.shape[0] > 0
    head = 0
    for t in range(out.shape[0]):
        if has_inputs:
            for r in range(inputs.shape[1]):
                if inputs[t, r]:
                    spikes[r] = True
        delivered[t] = _tick(C, P, S, x, spikes, W, plastic, T, rows, lst, out[t], dep, cols,
                             Dl, ring, ring_inh, head)[0]
        head = (head + 1) % ring.shape[0]
    return head


@_jit(parallel=True)
def _run_batch(C, P, S, x, spikes, W, plastic, T, rows, Dl, ring, ring_inh, inputs, out,
               delivered, heads):
    """:func:`_run` for each core of a batch (leading axis), the cores in parallel."""
    for b in numba.prange(out.shape[0]):
        heads[b] = _run(C, P[b], S[b], x[b], spikes[b], W[b], plastic[b], T[b], rows[b], Dl[b],
                        ring[b],
                        ring_inh[b], inputs[b], out[b], delivered[b])


# -- packing a Core into kernel arrays ----------------------------------------------------------

def _config_vector(cfg: CoreConfig) -> np.ndarray:
    return np.array([-(1 << (cfg.v_width - 1)), (1 << (cfg.v_width - 1)) - 1,
                     -(1 << (cfg.i_width - 1)), (1 << (cfg.i_width - 1)) - 1,
                     (1 << cfg.trace_width) - 1, cfg.decay_frac, cfg.stdp_frac, cfg.n_inputs,
                     (1 << cfg.theta_width) - 1, int(cfg.inh_current), int(cfg.rule_bits > 1),
                     cfg.w_width, cfg.words_per_row * cfg.weights_per_word,
                     cfg.weights_per_word], I64)


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
    plastic = np.ascontiguousarray(core.plastic, I64)     # rule indices, or 0/1
    T = _rule_table(core)
    rows = np.ascontiguousarray(core.plastic_rows(), bool)     # potentiation's plastic rows
    return P, S, x, spikes, core.weights, plastic, T, rows


def _pack_ring(core: Core):
    """The delays and fresh copies of the ring (model order: this tick's row first)."""
    return (np.ascontiguousarray(core.delays, I64), np.array(core.state.ring, I64),
            np.array(core.state.ring_inh, I64))


def _rule_table(core: Core) -> np.ndarray:
    """The (rules, 14) table: STDP_FIELDS, RULE_FIELDS, then (row 0) the LEARN words. One row,
    the STDP word and zero flags, on a core with one rule."""
    rows = core.rules if core.cfg.rule_bits > 1 else [core.stdp]
    T = np.array([[int(getattr(r, f, 0)) for f in STDP_FIELDS + RULE_FIELDS] + [0, 0]
                  for r in rows], I64)
    T[0, LFSR], T[0, MODULATION] = core.lfsr, core.modulation
    return T


def _unpack(core: Core, S: np.ndarray, x: np.ndarray, spikes: np.ndarray,
            T: np.ndarray | None = None, ring=None, ring_inh=None, head: int = 0) -> None:
    # fresh arrays, as the reference assigns them (no aliasing with arrays a caller holds)
    if T is not None and core.cfg.rule_bits > 1:
        core.lfsr = int(T[0, LFSR])             # the generator advanced
    for k, f in enumerate(NEURON_FIELDS):
        setattr(core.state, f, S[k].copy())
    core.state.x = x
    core.state.spikes = spikes
    if ring is not None:        # back to the model's order: the head row first
        core.state.ring = np.roll(ring, -head, axis=0)
        core.state.ring_inh = np.roll(ring_inh, -head, axis=0)


def step(core: Core) -> TickResult:
    """One tick of ``core`` (inputs already injected), exactly as ``Core.step`` does."""
    C = _config_vector(core.cfg)
    P, S, x, spikes, W, plastic, T, rows = _pack(core)
    Dl, ring, ring_inh = _pack_ring(core)
    n = core.cfg.n_neurons
    fire = np.zeros(n, bool)
    lst = np.zeros(len(rows), bool)
    drows = np.flatnonzero(spikes)      # before the tick consumes them
    delivered, listed, pdel = _tick(C, P, S, x, spikes, W, plastic, T, rows, lst, fire,
                                    np.zeros(n, I64), np.zeros(n, I64), Dl, ring, ring_inh, 0)
    _unpack(core, S, x, spikes, T, ring, ring_inh, 1 % len(ring))
    core.ticks += 1
    return TickResult(fire, int(delivered), int(delivered) * n, int(listed), int(pdel),
                      drows, np.flatnonzero(lst), np.asarray(rows, bool))


def run(core: Core, ticks: int, inputs=None) -> np.ndarray:
    """``ticks`` ticks of ``core`` in one compiled loop; ``inputs`` None or a checked
    (ticks, n_inputs) bool array. The (ticks, n_neurons) bool raster, as ``Core.run``."""
    cfg = core.cfg
    P, S, x, spikes, W, plastic, T, rows = _pack(core)
    Dl, ring, ring_inh = _pack_ring(core)
    out = np.zeros((ticks, cfg.n_neurons), bool)
    inp = np.zeros((0, 0), bool) if inputs is None else np.ascontiguousarray(inputs, bool)
    head = _run(_config_vector(cfg), P, S, x, spikes, W, plastic, T, rows, Dl, ring, ring_inh,
                inp, out, np.zeros(ticks, I64))
    _unpack(core, S, x, spikes, T, ring, ring_inh, head)
    core.ticks += ticks
    return out


# -- batches ------------------------------------------------------------------------------------

def run_batch(cores: list[Core], ticks: int, inputs: np.ndarray) -> np.ndarray:
    """``ticks`` ticks of each of ``cores`` (one configuration, which the fast engine runs:
    the caller checked both), all in one compiled program with the cores in parallel.
    ``inputs`` is a checked (k, ticks, n_inputs) bool array, or shape (k, 0, 0) for none.
    Returns the (k, ticks, n_neurons) raster; each core ends exactly where its own ``run``
    would have left it (state, weights, tick count)."""
    cfg, k = cores[0].cfg, len(cores)
    packed = [_pack(c) + _pack_ring(c) for c in cores]
    P, S, x, spikes, W, plastic, T, rows, Dl, ring, ring_inh = (
        np.stack(a) for a in zip(*packed, strict=True))
    out = np.zeros((k, ticks, cfg.n_neurons), bool)
    heads = np.zeros(k, I64)
    _run_batch(_config_vector(cfg), P, S, x, spikes, W, plastic, T, rows, Dl, ring, ring_inh,
               np.ascontiguousarray(inputs, bool), out, np.zeros((k, ticks), I64), heads)
    for b, core in enumerate(cores):
        _unpack(core, S[b], x[b].copy(), spikes[b].copy(), T[b], ring[b], ring_inh[b],
                int(heads[b]))
        core.weights[...] = W[b]
        core.ticks += ticks
    return out
