"""The golden model: the integer semantics of docs/numerics.md, vectorised with numpy.

It is the law: the gateware, the golden device and every backend must agree with it bit for
bit. Integers only (int64 arrays; every intermediate fits), no floats anywhere.

The model holds the same regions as the core (see :mod:`spikeloom.proto.memmap`), in unpacked
form: one array per field. :class:`Core` steps one tick at a time (state inspectable between
ticks) or runs many.

Two engines compute the same ticks: ``engine="reference"`` is the numpy code below, the readable
specification; ``engine="fast"`` (the default) is the numba kernel of :mod:`spikeloom.sim.fast`,
held identical to it after every tick by tests/test_fast.py. A core the fast engine does not
implement (a configuration or numerics field it does not know) warns with
``spikeloom.sim.fast.FastEngineWarning`` and runs the reference engine.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from ..proto import codec
from ..proto.config import CoreConfig
from ..proto.fixed import decay, saturate, saturate_unsigned, scale
from ..proto.memmap import Region, layouts, n_rules, region_words
from . import fast, rules
from .state import NeuronParams, RuleParams, State, STDPParams, TickResult

__all__ = ["NeuronParams", "STDPParams", "RuleParams", "State", "Core", "TickResult", "ENGINES"]

I64 = np.int64
#: the engines a Core can step with: the compiled kernel (default) or the numpy reference
ENGINES = ("fast", "reference")
#: regions addressed like WEIGHTS (a source row of lanes): lane field prefix, Core attribute
_LANES = {Region.WEIGHTS: ("w", "weights"), Region.PLASTIC: ("p", "plastic"),
          Region.DELAYS: ("d", "delays")}


class Core:
    """The golden model of one core.

    ``weights`` is an (S, N) int64 matrix, rows are sources (inputs first, then neurons);
    ``plastic`` an (S, N) bool matrix, or with ``cfg.rule_bits > 1`` an int64 matrix of rule
    indices (0 = static) whose rules are :attr:`rules` (rule r is ``rules[r - 1]``), with the
    LEARN words :attr:`lfsr` (generator state) and :attr:`modulation`; ``delays`` an (S, N)
    int64 matrix of per-synapse delays ``d`` (all 0, and no region, while ``delay_bits`` is 0).
    Fields may be assigned directly (the host and the golden device do); :meth:`check` verifies
    every value fits its declared width.

    ``engine`` is ``"fast"`` (default) or ``"reference"`` (see the module docstring); any other
    value is a ValueError. :attr:`engine` says which one runs.
    """

    @classmethod
    def from_image(cls, image, engine: str = "fast") -> Core:
        """A core of ``image.config`` with every region of ``image.regions`` written, as a
        device loads an image (any object with those two attributes: a compiled
        ``spikeloom.Image``)."""
        core = cls(image.config, engine)
        for region, data in image.regions.items():
            core.write_bytes(region, 0, data)
        return core

    def __init__(self, cfg: CoreConfig, engine: str = "fast"):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
        if engine == "fast":
            why = fast.unsupported(cfg)
            if why:
                warnings.warn(f"the fast engine does not implement {'; '.join(why)}: "
                              "running the reference engine", fast.FastEngineWarning,
                              stacklevel=2)
                engine = "reference"
        self.engine = engine
        self.cfg = cfg
        self._layouts = layouts(cfg)
        n, s = cfg.n_neurons, cfg.n_sources
        self.params = NeuronParams.zeros(n)
        self.stdp = STDPParams()
        self.weights = np.zeros((s, n), I64)
        self.plastic = np.zeros((s, n), bool if cfg.rule_bits == 1 else I64)
        # rule_bits > 1 (docs/numerics.md, "Plasticity rules"): the rules and the LEARN words
        self.rules = [RuleParams() for _ in range(n_rules(cfg))] if cfg.rule_bits > 1 else []
        self.lfsr = 0
        self.modulation = 0
        self.delays = np.zeros((s, n), I64)     # d per synapse: delivered 1 + d ticks later
        # the sticky per-source flag of docs/numerics.md step 6: set by a PLASTIC write with a
        # non-zero lane to the source's row, cleared by RESET CONFIG only (see plastic_rows)
        self.plastic_flag = np.zeros(s, bool)
        ring = 1 << cfg.delay_bits
        self.state = State(np.zeros(n, I64), np.zeros(n, I64), np.zeros(n, I64),
                           np.zeros(s, I64), np.zeros(n, I64), np.zeros(s, bool),
                           np.zeros(n, I64), np.zeros(n, I64),
                           np.zeros((ring, n), I64), np.zeros((ring, n), I64))
        self.ticks = 0
        # PROBES: packed words the device streams state by (proto/probes.py); no numerics
        self.probes = np.zeros(region_words(cfg, Region.PROBES), I64)

    # -- inputs ------------------------------------------------------------------------------------

    def inject(self, inputs) -> None:
        """Mark input indices (or a length-n_inputs bool mask) to spike in the next tick."""
        m = self.cfg.n_inputs
        arr = np.asarray(inputs)
        if arr.dtype == bool:
            if arr.shape != (m,):
                raise ValueError(f"input mask must have shape ({m},), got {arr.shape}")
            self.state.spikes[:m] |= arr
            return
        idx = arr.astype(I64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= m):
            raise ValueError(f"input index out of range 0..{m - 1}: {idx.tolist()}")
        self.state.spikes[idx] = True

    # -- one tick ----------------------------------------------------------------------------------

    def step(self, inputs=None) -> TickResult:
        """Run one tick (docs/numerics.md, "Order inside a tick"); return its spikes."""
        cfg, p, st, sp = self.cfg, self.params, self.state, self.stdp
        if inputs is not None:
            self.inject(inputs)
        if self.engine == "fast":
            return fast.step(self)
        m, n = cfg.n_inputs, cfg.n_neurons
        F = cfg.decay_frac
        delivered = np.flatnonzero(st.spikes)

        # 1. accumulate: each delivered weight goes into the ring row of its delay (row 0:
        #    this tick); row 0 is this tick's exact sum, saturated once into the current.
        #    With inh_current the positive weights go to i, the negative ones to i_inh
        rows = self.weights[delivered]
        cols = np.broadcast_to(np.arange(n), rows.shape)
        dly = self.delays[delivered]
        if cfg.inh_current:
            np.add.at(st.ring, (dly, cols), np.maximum(rows, 0))
            np.add.at(st.ring_inh, (dly, cols), np.minimum(rows, 0))
            i1 = saturate(st.i + st.ring[0], cfg.i_width)
            h1 = saturate(st.i_inh + st.ring_inh[0], cfg.i_width)
        else:
            np.add.at(st.ring, (dly, cols), rows)
            i1 = saturate(st.i + st.ring[0], cfg.i_width)
            h1 = 0
        # the ring turns: row k becomes row k - 1, the emptied row 0 becomes the last
        st.ring = np.roll(st.ring, -1, axis=0)
        st.ring[-1] = 0
        st.ring_inh = np.roll(st.ring_inh, -1, axis=0)
        st.ring_inh[-1] = 0

        # 2. neuron update; theta decays first, and the compare sees the decayed value
        if cfg.theta_width:
            theta_d = saturate_unsigned(decay(st.theta, p.alpha_theta, F), cfg.theta_width)
        else:
            theta_d = 0
        threshold = p.threshold + theta_d               # exact: no saturation
        active = st.ref == 0
        v1 = saturate(decay(st.v, p.alpha_mem, F) + i1 + h1 + p.bias, cfg.v_width)
        fire = active & (v1 >= threshold) & (p.no_spike == 0)
        v_after = np.where(p.reset_subtract != 0,
                           saturate(v1 - threshold, cfg.v_width), p.v_reset)
        st.v = np.where(fire, v_after, np.where(active, v1, st.v))
        st.ref = np.where(fire, p.refractory, np.where(active, st.ref, st.ref - 1))
        st.i = saturate(decay(i1, p.alpha_syn, F), cfg.i_width)
        if cfg.inh_current:
            st.i_inh = saturate(decay(h1, p.alpha_inh, F), cfg.i_width)
        if cfg.theta_width:
            st.theta = saturate_unsigned(theta_d + np.where(fire, p.theta_jump, 0),
                                         cfg.theta_width)

        # 3. traces decay; pre traces of delivered sources jump (with several rules, the trace
        #    parameters are rule 1's)
        if cfg.rule_bits > 1:
            sp = self.rules[0]
        tw = cfg.trace_width
        pre_spk = np.zeros(cfg.n_sources, bool)
        pre_spk[delivered] = True
        st.x = saturate_unsigned(decay(st.x, sp.alpha_pre, F) + np.where(pre_spk, sp.pre_jump, 0),
                                 tw)
        st.y = saturate_unsigned(decay(st.y, sp.alpha_post, F), tw)

        # the sources listed for potentiation (numerics.md step 6): a plastic row and a
        # non-zero step; the others are not visited
        if cfg.rule_bits > 1:
            listed = rules.listed(self, self.plastic_rows())
        else:
            listed = self.plastic_rows() & (scale(st.x, sp.a_plus, cfg.stdp_frac) != 0)

        # 4. STDP: depression on delivered rows, post jumps, potentiation on fired columns
        if cfg.rule_bits > 1:
            rules.depress(self, delivered)
        elif sp.enable:
            lo, hi = sp.w_min, sp.w_max
            if delivered.size:
                dep = scale(st.y, sp.a_minus, cfg.stdp_frac)
                rows = self.weights[delivered]
                upd = np.clip(rows - dep[None, :], lo, hi)
                self.weights[delivered] = np.where(self.plastic[delivered], upd, rows)
        st.y = saturate_unsigned(st.y + np.where(fire, sp.post_jump, 0), tw)
        if cfg.rule_bits > 1:
            rules.potentiate(self, fire, listed)
        elif sp.enable:
            cols = np.flatnonzero(fire)
            srcs = np.flatnonzero(listed)
            if cols.size and srcs.size:
                pot = scale(st.x[srcs], sp.a_plus, cfg.stdp_frac)
                blk = np.ix_(srcs, cols)
                c = self.weights[blk]
                upd = np.clip(c + pot[:, None], lo, hi)
                self.weights[blk] = np.where(self.plastic[blk], upd, c)

        # 5. this tick's spikes are delivered next tick; inputs were consumed
        st.spikes = np.zeros(cfg.n_sources, bool)
        st.spikes[m:] = fire
        self.ticks += 1
        prow = self.plastic_rows()
        return TickResult(fire.copy(), int(delivered.size), int(delivered.size) * n,
                          int(listed.sum()), int(prow[delivered].sum()),
                          delivered, np.flatnonzero(listed), prow)

    def run(self, ticks: int, inputs=None) -> np.ndarray:
        """Run ``ticks`` ticks; ``inputs`` is None or a (ticks, n_inputs) bool array. Returns
        the (ticks, n_neurons) bool spike raster."""
        out = np.zeros((ticks, self.cfg.n_neurons), bool)
        if inputs is not None:
            inputs = np.asarray(inputs, bool)
            if inputs.shape != (ticks, self.cfg.n_inputs):
                raise ValueError(f"inputs must have shape ({ticks}, {self.cfg.n_inputs}), "
                                 f"got {inputs.shape}")
        if self.engine == "fast":
            return fast.run(self, ticks, inputs)
        for t in range(ticks):
            out[t] = self.step(None if inputs is None else inputs[t]).spikes
        return out

    # -- reset and checks --------------------------------------------------------------------------

    def reset_state(self) -> None:
        for f in dataclasses.fields(self.state):
            getattr(self.state, f.name)[...] = 0

    def reset_config(self) -> None:
        for f in dataclasses.fields(self.params):
            getattr(self.params, f.name)[...] = 0
        self.stdp = STDPParams()
        self.weights[...] = 0
        self.plastic[...] = False
        self.probes[...] = 0
        self.delays[...] = 0
        self.plastic_flag[...] = False
        self.rules = [RuleParams() for _ in self.rules]
        self.lfsr = self.modulation = 0

    def plastic_rows(self) -> np.ndarray:
        """(S,) bool: the rows potentiation may visit (docs/numerics.md step 6): the sticky
        flag of :meth:`write_bytes`, or a row that holds a plastic synapse now (so that
        ``plastic`` assigned directly, without region writes, is seen too)."""
        return self.plastic_flag | (self.plastic != 0).any(axis=1)

    @property
    def learning_enabled(self) -> bool:
        """Whether the learning walks run this tick: the STDP enable bit, or with several rules
        any rule's (docs/numerics.md)."""
        if self.cfg.rule_bits > 1:
            return any(r.enable for r in self.rules)
        return bool(self.stdp.enable)

    def check(self) -> None:
        """ValueError naming the first value that does not fit its declared width."""
        lay = layouts(self.cfg)

        def fits(region, field, arr):
            f = lay[region].field(field)
            lo = -(1 << (f.width - 1)) if f.signed else 0
            hi = (1 << (f.width - 1)) - 1 if f.signed else (1 << f.width) - 1
            arr = np.asarray(arr)
            bad = np.flatnonzero((arr < lo) | (arr > hi))
            if bad.size:
                raise ValueError(f"{region.name}.{field}[{bad[0]}] = {arr.ravel()[bad[0]]} "
                                 f"outside {lo}..{hi}")
        for f in lay[Region.NEURON_PARAMS].fields:
            fits(Region.NEURON_PARAMS, f.name, getattr(self.params, f.name))
        for f in lay[Region.NEURON_STATE].fields:
            fits(Region.NEURON_STATE, f.name, getattr(self.state, f.name))
        fits(Region.WEIGHTS, "w0", self.weights)
        if self.cfg.delay_bits:
            fits(Region.DELAYS, "d0", self.delays)
        elif self.delays.any():
            raise ValueError("delays set on a core without delays (delay_bits = 0)")
        fits(Region.PRE_TRACE, "x", self.state.x)
        fits(Region.POST_TRACE, "y", self.state.y)
        if self.cfg.rule_bits > 1:
            fits(Region.PLASTIC, "p0", self.plastic)
            for f in dataclasses.fields(RuleParams):
                fits(Region.STDP_PARAMS, f.name, [getattr(r, f.name) for r in self.rules])
            fits(Region.LEARN, "value", [self.lfsr, self.modulation])
            return
        for f in dataclasses.fields(self.stdp):
            fits(Region.STDP_PARAMS, f.name, getattr(self.stdp, f.name))

    # -- region words (the device's view) ---------------------------------------------------------

    def read_bytes(self, region: Region, addr: int, count: int) -> bytes:
        """Words ``addr .. addr+count-1`` of ``region`` as the device sends them (``count``
        words of the layout's ``nbytes``, little-endian); ValueError if a value does not fit
        its field. Vectorised: one codec call per request, whatever its length."""
        region = Region(region)
        lay = self._layouts[region]
        return codec.encode(lay, self._fields(region, addr, count), count, f"{region.name}.")

    def write_bytes(self, region: Region, addr: int, data: bytes) -> None:
        """Store the whole words in ``data`` into ``region`` from ``addr`` (the caller checked
        the range and that no word has bits above the layout's width)."""
        region = Region(region)
        lay = self._layouts[region]
        values = codec.decode(lay, data)
        count = len(data) // lay.nbytes
        if region in _LANES:
            rows, flat, r0 = self._lanes(region, addr, count)
            pre = _LANES[region][0]
            lo = addr - r0 * self.cfg.words_per_row
            for k in range(self.cfg.weights_per_word):
                flat[lo:lo + count, k] = values[f"{pre}{k}"]
            dst = getattr(self, _LANES[region][1])
            dst[r0:r0 + len(rows)] = rows[:, :self.cfg.n_neurons]     # padding lanes dropped
            if region == Region.PLASTIC:        # the sticky row flag: any non-zero real lane
                wpr, n = self.cfg.words_per_row, self.cfg.n_neurons
                real = rows[:, :n] != 0
                words = np.arange(addr, addr + count)
                touched = np.zeros(real.shape, bool)
                for w in words:
                    k = w % wpr * self.cfg.weights_per_word
                    touched[w // wpr - r0, k:k + self.cfg.weights_per_word] = True
                self.plastic_flag[r0:r0 + len(rows)] |= (real & touched).any(axis=1)
        elif region == Region.STDP_PARAMS and self.cfg.rule_bits > 1:
            for k in range(count):
                self.rules[addr + k] = RuleParams(**{f: int(v[k]) for f, v in values.items()})
        elif region == Region.STDP_PARAMS:
            self.stdp = STDPParams(**{k: int(v[-1]) for k, v in values.items()})
        elif region == Region.LEARN:
            for k, v in enumerate(values["value"], start=addr):
                setattr(self, ("lfsr", "modulation")[k], int(v))
        elif region == Region.SPIKES:
            self.state.spikes[addr:addr + count] = values["s"] != 0
        elif region == Region.PROBES:
            self.probes[addr:addr + count] = [int.from_bytes(data[k:k + lay.nbytes], "little")
                                              for k in range(0, len(data), lay.nbytes)]
        else:
            owner = self.params if region == Region.NEURON_PARAMS else self.state
            for name, v in values.items():
                getattr(owner, name)[addr:addr + count] = v

    def read_words(self, region: Region, addr: int, count: int) -> list[int]:
        """Packed words ``addr .. addr+count-1`` of ``region``, as the device would return."""
        nb = self._layouts[Region(region)].nbytes
        data = self.read_bytes(region, addr, count)
        return [int.from_bytes(data[k:k + nb], "little") for k in range(0, len(data), nb)]

    def write_words(self, region: Region, addr: int, words) -> None:
        """Store packed words into ``region`` from ``addr`` (caller checked range and widths)."""
        lay = self._layouts[Region(region)]
        self.write_bytes(region, addr, b"".join(lay.to_bytes(int(w)) for w in words))

    def _fields(self, region: Region, addr: int, count: int) -> dict:
        """``{layout field: values}`` of words ``addr .. addr+count-1``: a region's fields are
        named after the Core's arrays (params, state), STDPParams, or weight lanes."""
        end = addr + count
        if region in _LANES:
            _, flat, r0 = self._lanes(region, addr, count)
            lo = addr - r0 * self.cfg.words_per_row
            pre = _LANES[region][0]
            return {f"{pre}{k}": flat[lo:lo + count, k]
                    for k in range(self.cfg.weights_per_word)}
        if region == Region.STDP_PARAMS and self.cfg.rule_bits > 1:
            return {f.name: np.array([getattr(r, f.name) for r in self.rules[addr:end]], I64)
                    for f in dataclasses.fields(RuleParams)}
        if region == Region.STDP_PARAMS:
            return dataclasses.asdict(self.stdp)
        if region == Region.LEARN:
            return {"value": np.array([self.lfsr, self.modulation], I64)[addr:end]}
        if region == Region.SPIKES:
            return {"s": self.state.spikes[addr:end]}
        if region == Region.PROBES:
            return codec.decode(self._layouts[region], b"".join(
                self._layouts[region].to_bytes(int(w)) for w in self.probes[addr:end]))
        owner = self.params if region == Region.NEURON_PARAMS else self.state
        return {f.name: getattr(owner, f.name)[addr:end] for f in self._layouts[region].fields}

    def _lanes(self, region: Region, addr: int, count: int):
        """The source rows holding words ``addr .. addr+count-1``, copied and padded to whole
        words (lanes past the last neuron are 0), as (rows, their (words, lanes) view, first
        row)."""
        wpr, wpw, n = self.cfg.words_per_row, self.cfg.weights_per_word, self.cfg.n_neurons
        r0, r1 = addr // wpr, -(-(addr + count) // wpr)
        rows = np.zeros((r1 - r0, wpr * wpw), I64)
        rows[:, :n] = getattr(self, _LANES[region][1])[r0:r1]
        return rows, rows.reshape(-1, wpw), r0

    def region_size(self, region: Region) -> int:
        return region_words(self.cfg, region)
