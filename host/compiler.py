"""The compiler: a :class:`~spikeloom.network.Network` in model units -> an :class:`Image`.

``compile(net, target="default", dt=1.0)`` does, deterministically (same input, same bytes):

1. **Placement.** Input populations take hardware inputs ``0, 1, ...`` in declaration order,
   neuron populations take hardware neurons likewise. Too many of either is a :class:`FitError`
   naming the populations, the excess, and the presets that would fit. Unused neurons get the
   largest threshold and no synapses, so they never fire.
2. **Scales.** One scale per target population (integer units per model unit): the largest that
   keeps every incoming weight (and the STDP bounds, for plastic projections) inside the signed
   ``w_width`` range and the threshold, reset value and bias inside ``v_width``. So weights use
   the whole signed range. ``LIF(scale=...)`` fixes it; ``LIF.raw`` means scale 1. Populations
   that receive plastic projections share one scale (the smallest), because the core has one set
   of STDP integers.
3. **Quantization** (docs/numerics.md "Physical units"): ``alpha = round(exp(-dt/tau) * 2^F)``;
   thresholds, resets, biases and weights ``round(value * scale)``; refractory ms -> ticks;
   STDP: trace jump ``J`` (default half the trace range), ``a = round(A * scale * 2^G / J)``,
   trace decays as above, ``w_min/w_max`` scaled. Every rounded quantity goes in the
   :class:`Report` (float, integer, relative error). Warnings: a population that can no longer
   reach its threshold, weights that saturate or round to zero, decays that round to no decay,
   STDP rates that round to zero.

Several projections onto the same (source, target) population pair are allowed as long as they
do not define the same synapse twice; an overlapping synapse is a :class:`CompileError` naming
both projections (summing silently would make ``read_weights`` ambiguous). Every plastic
projection must use the same STDP object values (the core has one STDP parameter set).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from . import regions as codec
from .errors import CompileError, FitError
from .image import Image, PopulationInfo, ProjectionInfo
from .network import Network
from .proto.config import PRESETS, CoreConfig, preset
from .proto.fixed import decay_factor, signed_range, unsigned_range
from .proto.memmap import Region

__all__ = ["compile", "Report", "Entry", "resolve_target"]


@dataclasses.dataclass
class Entry:
    """One rounded quantity: ``value`` (model units), ``integer`` (what the hardware holds),
    ``actual`` (what that integer means in model units), ``rel_error``."""
    what: str
    value: float
    integer: int
    actual: float

    @property
    def rel_error(self) -> float:
        if self.value == self.actual:
            return 0.0
        if self.value == 0 or not math.isfinite(self.value):
            return math.inf
        return abs(self.actual - self.value) / abs(self.value)


class Report:
    """Quantization and fit report of one compilation."""

    def __init__(self, config_name: str = "", dt: float = 1.0):
        self.config_name = config_name
        self.dt = dt
        self.entries: list[Entry] = []
        self.warnings: list[str] = []
        self.usage: dict = {}

    def add(self, what, value, integer, actual):
        self.entries.append(Entry(what, float(value), int(integer), float(actual)))

    def warn(self, message: str):
        self.warnings.append(message)

    def __getitem__(self, what: str) -> Entry:
        for e in self.entries:
            if e.what == what:
                return e
        raise KeyError(what)

    @property
    def max_rel_error(self) -> float:
        errs = [e.rel_error for e in self.entries if math.isfinite(e.rel_error)]
        return max(errs, default=0.0)

    def summary(self, all_entries: bool = True) -> str:
        lines = [f"compiled for {self.config_name!r}, dt = {self.dt:g} ms"]
        if self.usage:
            u = self.usage
            lines.append(f"uses {u['neurons']}/{u['n_neurons']} neurons, "
                         f"{u['inputs']}/{u['n_inputs']} inputs, {u['synapses']} synapses "
                         f"({u['plastic']} plastic)")
        if all_entries and self.entries:
            lines.append(f"  {'quantity':<34} {'value':>12} {'integer':>9} {'actual':>12} "
                         f"{'rel.err':>8}")
            for e in self.entries:
                err = "inf" if not math.isfinite(e.rel_error) else f"{e.rel_error:.2%}"
                lines.append(f"  {e.what:<34} {e.value:>12.6g} {e.integer:>9d} "
                             f"{e.actual:>12.6g} {err:>8}")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)

    def __str__(self):
        return self.summary()

    def to_json(self) -> dict:
        return {"config": self.config_name, "dt": self.dt, "usage": self.usage,
                "entries": [[e.what, e.value, e.integer, e.actual] for e in self.entries],
                "warnings": list(self.warnings)}

    @classmethod
    def from_json(cls, data) -> Report | None:
        if not data:
            return None
        r = cls(data.get("config", ""), data.get("dt", 1.0))
        r.usage = data.get("usage", {})
        for what, value, integer, actual in data.get("entries", []):
            r.add(what, value, integer, actual)
        r.warnings = list(data.get("warnings", []))
        return r


def resolve_target(target) -> CoreConfig:
    if isinstance(target, CoreConfig):
        return target
    if isinstance(target, str):
        try:
            return preset(target)
        except ValueError as exc:
            raise CompileError(str(exc)) from None
    raise CompileError(f"target must be a preset name or a CoreConfig, not {target!r}")


def compile(net: Network, target="default", dt: float = 1.0, *, strict: bool = False) -> Image:
    """Compile ``net`` for ``target`` (preset name or CoreConfig) with time step ``dt`` ms.

    Raises :class:`FitError` when it does not fit, :class:`CompileError` for values that cannot be
    represented; with ``strict=True`` every report warning is a CompileError too.
    """
    if not isinstance(net, Network):
        raise CompileError(f"compile() needs a spikeloom.Network, not {type(net).__name__}")
    cfg = resolve_target(target)
    if not (isinstance(dt, (int, float)) and dt > 0 and math.isfinite(dt)):
        raise CompileError(f"dt = {dt!r} ms must be a positive number")
    return _Compiler(net, cfg, float(dt)).run(strict)


class _Compiler:
    def __init__(self, net: Network, cfg: CoreConfig, dt: float):
        self.net, self.cfg, self.dt = net, cfg, dt
        self.report = Report(cfg.name, dt)
        self.F, self.G = cfg.decay_frac, cfg.stdp_frac
        self.vlo, self.vhi = signed_range(cfg.v_width)
        self.wlo, self.whi = signed_range(cfg.w_width)

    def run(self, strict: bool) -> Image:
        cfg = self.cfg
        self.place()
        stdp = self.check_stdp()
        self.choose_scales(stdp)
        params = self.neuron_params()
        weights, plastic = self.synapses()
        stdp_ints = self.stdp_params(stdp) if stdp is not None else {}
        self.check_reach(params, weights, plastic, stdp_ints)
        self.report.usage = {
            "neurons": sum(p.size for p in self.net.neuron_populations),
            "n_neurons": cfg.n_neurons,
            "inputs": sum(p.size for p in self.net.input_populations), "n_inputs": cfg.n_inputs,
            "synapses": int(sum(p.n_synapses for p in self.net.projections)),
            "plastic": int(np.count_nonzero(plastic))}
        if strict and self.report.warnings:
            raise CompileError("strict compile: " + "; ".join(self.report.warnings))
        try:
            regions = {
                Region.NEURON_PARAMS: codec.encode(cfg, Region.NEURON_PARAMS, params),
                Region.WEIGHTS: codec.encode_matrix(cfg, Region.WEIGHTS, weights),
                Region.PLASTIC: codec.encode_matrix(cfg, Region.PLASTIC, plastic),
                Region.STDP_PARAMS: codec.encode(cfg, Region.STDP_PARAMS, stdp_ints),
            }
        except ValueError as exc:       # a raw value that does not fit its field
            raise CompileError(f"a raw parameter does not fit the hardware: {exc}") from None
        pops = [PopulationInfo(p.name, p.kind, self.start[p.name], p.size,
                               self.scale.get(p.name, 1.0)) for p in self.net.populations]
        projs = [ProjectionInfo(p.name, p.src.name, p.dst.name, self.scale[p.dst.name],
                                p.pre.copy(), p.post.copy(), p.plastic.copy())
                 for p in self.net.projections]
        stdp_json = None
        if stdp is not None:
            stdp_json = {"model": {k: v for k, v in dataclasses.asdict(stdp).items()
                                   if k != "raw_params"}, "integers": stdp_ints}
        return Image(cfg, regions, pops, projs, dt=self.dt, stdp=stdp_json, report=self.report)

    # -- placement ---------------------------------------------------------------------------------

    def place(self):
        cfg, net = self.cfg, self.net
        self.start = {}
        problems = []
        for kind, pops, have in (("inputs", net.input_populations, cfg.n_inputs),
                                 ("neurons", net.neuron_populations, cfg.n_neurons)):
            pos = 0
            for p in pops:
                self.start[p.name] = pos
                pos += p.size
            if pos > have:
                parts = ", ".join(f"{p.name!r} {p.size}" for p in pops)
                problems.append(f"needs {pos} {kind} ({parts}) but the core has {have} "
                                f"({pos - have} too many)")
        if problems:
            need_n = sum(p.size for p in net.neuron_populations)
            need_i = sum(p.size for p in net.input_populations)
            fits = [name for name, c in PRESETS.items()
                    if c.n_neurons >= need_n and c.n_inputs >= need_i]
            hint = (f"; presets that fit: {', '.join(fits)}" if fits
                    else "; no preset is large enough: split the network")
            raise FitError(f"network {net.name!r} does not fit configuration {cfg.name!r}: "
                           + "; ".join(problems) + hint)

    # -- scales ------------------------------------------------------------------------------------

    def check_stdp(self):
        plastic = [p for p in self.net.projections if p.stdp is not None]
        for p in plastic[1:]:
            if p.stdp != plastic[0].stdp:
                raise CompileError(
                    f"projections {plastic[0].name!r} and {p.name!r} use different STDP "
                    "parameters, but the core has a single STDP parameter set: use one STDP "
                    "object for every plastic projection")
        return plastic[0].stdp if plastic else None

    def choose_scales(self, stdp):
        self.scale = {}
        fixed = {}
        free = {}
        for pop in self.net.neuron_populations:
            m = pop.model
            if m.scale is not None:
                fixed[pop.name] = float(m.scale)
                continue
            wabs = 0.0
            for proj in self.net.projections:
                if proj.dst is pop and proj.n_synapses:
                    wabs = max(wabs, float(np.max(np.abs(proj.weight))))
                    if proj.stdp is not None and proj.plastic.any():
                        wabs = max(wabs, abs(proj.stdp.w_min),
                                   abs(proj.stdp.w_max or 0.0))
            vabs = max(abs(m.threshold), abs(m.v_reset), abs(m.bias))
            s = math.inf
            if wabs > 0:
                s = min(s, self.whi / wabs)
            if vabs > 0:
                s = min(s, self.vhi / vabs)
            free[pop.name] = 1.0 if math.isinf(s) else s
        # plastic targets share one scale: the core has one set of STDP integers
        group = sorted({p.dst.name for p in self.net.projections
                        if p.stdp is not None and p.plastic.any()},
                       key=[q.name for q in self.net.populations].index)
        if stdp is not None and stdp.is_raw:
            bad = [n for n in group if fixed.get(n, 1.0) != 1.0]
            if bad:
                raise CompileError(f"STDP.raw needs scale 1 on its targets, but {bad[0]!r} has "
                                   f"scale {fixed[bad[0]]}; use LIF.raw or scale=1.0 there")
            for n in group:
                fixed.setdefault(n, 1.0)
        fixed_in_group = {fixed[n] for n in group if n in fixed}
        if len(fixed_in_group) > 1:
            raise CompileError(
                "populations receiving plastic projections must share one scale (one STDP "
                f"parameter set), but {', '.join(repr(n) for n in group if n in fixed)} fix "
                f"different ones: {sorted(fixed_in_group)}")
        if group:
            shared = (fixed_in_group.pop() if fixed_in_group
                      else min(free[n] for n in group))
            for n in group:
                if n not in fixed:
                    free[n] = shared
        self.scale.update(free)
        self.scale.update(fixed)
        self.plastic_scale = self.scale[group[0]] if group else None

    # -- neurons -----------------------------------------------------------------------------------

    def _to_int(self, what, value, scale, lo, hi, *, record=True):
        x = round(value * scale)
        if not lo <= x <= hi:
            raise CompileError(f"{what} = {value:g} is {x} in hardware units (scale {scale:.6g})"
                               f", outside {lo}..{hi}; lower the scale or the value")
        if record:
            self.report.add(what, value, x, x / scale)
        return x

    def _alpha(self, what, tau):
        a = decay_factor(tau, self.dt, self.F)
        one = 1 << self.F
        exact = math.exp(-self.dt / tau)
        self.report.add(f"{what} (alpha)", exact, a, a / one)
        if a == one and math.isfinite(tau):
            self.report.warn(f"{what} = {tau:g} ms rounds to no decay at dt = {self.dt:g} ms "
                             f"(alpha = 2^{self.F}); use a shorter tau, a larger dt or a core "
                             f"with more decay_frac bits")
        return a

    def neuron_params(self):
        cfg = self.cfg
        n = cfg.n_neurons
        params = {k: np.zeros(n, np.int64) for k in
                  ("threshold", "v_reset", "bias", "refractory", "alpha_mem", "alpha_syn",
                   "reset_subtract")}
        params["threshold"][:] = self.vhi        # unused neurons never fire
        rmax = unsigned_range(cfg.refractory_width)[1]
        for pop in self.net.neuron_populations:
            m, s = pop.model, self.scale[pop.name]
            sl = slice(self.start[pop.name], self.start[pop.name] + pop.size)
            if m.is_raw:
                for key, value in dict(m.raw_params).items():
                    params[key][sl] = value
                continue
            name = pop.name
            params["threshold"][sl] = self._to_int(f"{name}.threshold", m.threshold, s,
                                                   self.vlo, self.vhi)
            params["v_reset"][sl] = self._to_int(f"{name}.v_reset", m.v_reset, s,
                                                 self.vlo, self.vhi)
            params["bias"][sl] = self._to_int(f"{name}.bias", m.bias, s, self.vlo, self.vhi)
            if m.refractory_ms is not None:
                ticks = round(m.refractory_ms / self.dt)
                self.report.add(f"{name}.refractory (ms)", m.refractory_ms, ticks,
                                ticks * self.dt)
            else:
                ticks = int(m.refractory)
            if ticks > rmax:
                raise CompileError(f"population {name!r}: refractory period {ticks} ticks "
                                   f"exceeds {rmax} (refractory_width = {cfg.refractory_width})")
            params["refractory"][sl] = ticks
            params["alpha_mem"][sl] = self._alpha(f"{name}.tau_mem", m.tau_mem)
            params["alpha_syn"][sl] = self._alpha(f"{name}.tau_syn", m.tau_syn)
            params["reset_subtract"][sl] = int(m.reset == "subtract")
        return params

    # -- synapses ----------------------------------------------------------------------------------

    def synapses(self):
        cfg = self.cfg
        weights = np.zeros((cfg.n_sources, cfg.n_neurons), np.int64)
        plastic = np.zeros((cfg.n_sources, cfg.n_neurons), bool)
        owner = np.full((cfg.n_sources, cfg.n_neurons), -1, np.int32)
        for k, proj in enumerate(self.net.projections):
            if not proj.n_synapses:
                continue
            src_off = (0 if proj.src.is_input else cfg.n_inputs) + self.start[proj.src.name]
            rows = src_off + proj.pre
            cols = self.start[proj.dst.name] + proj.post
            taken = owner[rows, cols]
            if np.any(taken >= 0):
                i = int(np.flatnonzero(taken >= 0)[0])
                other = self.net.projections[int(taken[i])]
                raise CompileError(
                    f"projections {other.name!r} and {proj.name!r} both define synapse "
                    f"{proj.src.name}[{proj.pre[i]}] -> {proj.dst.name}[{proj.post[i]}]; "
                    "merge them into one projection (weights are not summed)")
            owner[rows, cols] = k
            weights[rows, cols] = self.quantize_weights(proj)
            plastic[rows, cols] = proj.plastic
        return weights, plastic

    def quantize_weights(self, proj) -> np.ndarray:
        s = self.scale[proj.dst.name]
        where = f"projection {proj.name!r}"
        scaled = proj.weight * s
        if proj.dst.model.is_raw:
            if not np.all(scaled == np.round(scaled)):
                i = int(np.flatnonzero(scaled != np.round(scaled))[0])
                raise CompileError(f"{where}: weight {proj.weight[i]:g} onto raw population "
                                   f"{proj.dst.name!r} must be an integer")
            bad = np.flatnonzero((scaled < self.wlo) | (scaled > self.whi))
            if bad.size:
                i = int(bad[0])
                raise CompileError(
                    f"{where}: weight {proj.weight[i]:g} (synapse {proj.pre[i]}->{proj.post[i]})"
                    f" is outside the {self.cfg.w_width}-bit range {self.wlo}..{self.whi}; "
                    f"{bad.size} weights out of range")
            return scaled.astype(np.int64)
        q = np.round(scaled)
        sat = (q < self.wlo) | (q > self.whi)
        q = np.clip(q, self.wlo, self.whi).astype(np.int64)
        nz = proj.weight != 0
        if sat.any():
            self.report.warn(f"{where}: {int(sat.sum())} of {proj.n_synapses} weights saturate "
                             f"at {self.wlo}..{self.whi} (scale {s:.6g} of {proj.dst.name!r})")
        zeroed = nz & (q == 0)
        if zeroed.any():
            self.report.warn(f"{where}: {int(zeroed.sum())} nonzero weights round to 0 "
                             f"(smallest |w| = {np.min(np.abs(proj.weight[nz])):.3g}, one "
                             f"integer step = {1 / s:.3g})")
        if nz.any():
            i = int(np.argmax(np.abs(proj.weight)))
            self.report.add(f"{proj.name} max |w|", proj.weight[i], q[i], q[i] / s)
            rel = np.abs(q[nz] / s - proj.weight[nz]) / np.abs(proj.weight[nz])
            j = int(np.flatnonzero(nz)[int(np.argmax(rel))])
            self.report.add(f"{proj.name} worst w", proj.weight[j], q[j], q[j] / s)
        return q

    # -- STDP --------------------------------------------------------------------------------------

    def stdp_params(self, stdp) -> dict:
        cfg = self.cfg
        if stdp.is_raw:
            ints = dict(stdp.raw_params)
            ints["enable"] = 1
            return ints
        s = self.plastic_scale if self.plastic_scale is not None else 1.0
        tmax = unsigned_range(cfg.trace_width)[1]
        jump = stdp.trace_jump if stdp.trace_jump is not None else 1 << (cfg.trace_width - 1)
        if jump > tmax:
            raise CompileError(f"STDP trace_jump = {jump} exceeds the {cfg.trace_width}-bit "
                               f"trace range (max {tmax})")
        step = s * (1 << self.G) / jump          # rate integer per weight unit
        ints = {"enable": 1, "pre_jump": jump, "post_jump": jump}
        for key, value in (("a_plus", stdp.a_plus), ("a_minus", stdp.a_minus)):
            a = round(value * step)
            if a > 0xFFFF:
                raise CompileError(
                    f"STDP {key} = {value:g} needs rate {a} > 65535 at weight scale {s:.6g}; "
                    "lower it or raise trace_jump")
            ints[key] = a
            self.report.add(f"stdp.{key}", value, a, a / step)
            # what one pair at zero delay really changes: scale(J, a) = (J * a) >> G, floored
            dw = (jump * a) >> self.G
            self.report.add(f"stdp.{key} step at 0 ticks", value, dw, dw / s)
            if a == 0 and value > 0:
                self.report.warn(f"STDP {key} = {value:g} rounds to 0 (one step is "
                                 f"{1 / step:.3g} weight units): no "
                                 f"{'potentiation' if key == 'a_plus' else 'depression'}")
        ints["alpha_pre"] = self._alpha("stdp.tau_plus", stdp.tau_plus)
        ints["alpha_post"] = self._alpha("stdp.tau_minus", stdp.tau_minus)
        for key, value in (("w_min", stdp.w_min), ("w_max", stdp.w_max)):
            if value is None:
                ints[key] = self.whi
                continue
            w = round(value * s)
            if not self.wlo <= w <= self.whi:
                self.report.warn(f"STDP {key} = {value:g} saturates at "
                                 f"{max(self.wlo, min(self.whi, w))} (weight range)")
                w = max(self.wlo, min(self.whi, w))
            ints[key] = w
            self.report.add(f"stdp.{key}", value, w, w / s)
        return ints

    # -- reachability ------------------------------------------------------------------------------

    def check_reach(self, params, weights, plastic, stdp_ints):
        """Warn about neurons whose potential can never reach threshold: the bound assumes
        every source with a positive weight fires every tick (plastic ones at w_max)."""
        cfg = self.cfg
        w = weights.copy()
        if stdp_ints.get("enable"):
            w = np.where(plastic, np.maximum(w, stdp_ints["w_max"]), w)
        drive = np.clip(w, 0, None).sum(axis=0).astype(float)
        one = float(1 << self.F)
        imax = signed_range(cfg.i_width)[1]
        for pop in self.net.neuron_populations:
            sl = slice(self.start[pop.name], self.start[pop.name] + pop.size)
            a_s = params["alpha_syn"][sl] / one
            a_m = params["alpha_mem"][sl] / one
            d = drive[sl]
            with np.errstate(divide="ignore", invalid="ignore"):
                i_ss = np.where(a_s < 1, d / (1 - a_s), np.where(d > 0, np.inf, 0.0))
                i_ss = np.minimum(i_ss, imax)
                u = i_ss + params["bias"][sl]
                v_ss = np.where(a_m < 1, u / (1 - a_m), np.where(u > 0, np.inf, 0.0))
            thr = params["threshold"][sl]
            dead = np.minimum(v_ss, self.vhi) < thr
            if dead.any():
                best = float(np.max(np.minimum(v_ss, self.vhi)[dead]))
                self.report.warn(
                    f"population {pop.name!r}: {int(dead.sum())} of {pop.size} neurons can "
                    f"never reach threshold {int(thr[dead][0])} (at most ~{best:.0f} even with "
                    "every excitatory source firing each tick): raise weights/bias or lower "
                    "the threshold")
