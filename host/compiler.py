"""The compiler: a :class:`~spikeloom.network.Network` in model units -> an :class:`Image`.

``compile(net, target="default", dt=1.0, *, strict=False, max_error=0.05)`` does,
deterministically (same input, same bytes):

1. **Placement.** Input populations take hardware inputs ``0, 1, ...`` in declaration order,
   neuron populations take hardware neurons likewise. Too many of either is a :class:`FitError`
   naming the populations, the excess, and the presets that would fit. Unused neurons get the
   largest threshold and no synapses, so they never fire.
2. **Scales.** One scale per target population (integer units per model unit): the largest that
   keeps every incoming weight (and the STDP bounds, for plastic projections) inside the signed
   ``w_width`` range and every voltage (measured from ``v_rest``: threshold, reset, initial
   potential) and the bias inside ``v_width``, and that lets ``theta`` hold four of the largest
   ``theta_jump``. So weights use the whole signed range (unless a voltage or theta sets it).
   ``LIF(scale=...)`` fixes it; ``LIF.raw`` means scale 1. Populations that receive plastic
   projections share one scale (the smallest), because the core has one set of STDP integers.
   The compiler remembers what set each scale, and says so when a value cannot live with it.
3. **Quantization** (docs/numerics.md "Physical units"), per neuron and table-driven: one
   method per ``quantize`` kind of :data:`spikeloom.network.NEURON_PARAMS`. The voltage origin
   is shifted so that the hardware's 0 is ``v_rest``: ``round((value - v_rest) * scale)`` for
   threshold, reset and ``v_init`` (which becomes the image's NEURON_STATE ``v``), ``round(bias
   * scale)``, ``alpha = round(exp(-dt/tau) * 2^F)``, refractory ms -> ticks, ``theta_jump``
   ``round(value * scale)`` (not shifted; unsigned ``theta_width``); on a core with
   ``inh_current`` a ``tau_syn_inh`` of None gives ``alpha_inh = alpha_syn``. Weights
   ``round(w * scale)``; STDP: trace jump ``J`` (default half the trace range), ``a = round(A *
   scale * 2^G / J)``, trace decays as above, ``w_min/w_max`` scaled.
4. **Checks.** Nonsense is a :class:`CompileError` naming the population or projection, the
   parameter, the neuron index and the number: a threshold not above ``v_rest`` or one that
   quantizes to 0 (it would fire every tick), ``v_reset`` not below the threshold in reset-to-
   value mode, a value outside its field, an STDP rate whose weight step floors to 0 (learning
   silently off), a ``theta_jump`` that rounds to 0 or overflows ``theta_width``, and a parameter
   that asks for an optional feature the core lacks (a nonzero ``theta_jump`` without
   ``theta_width``, a ``tau_syn_inh`` other than ``tau_syn`` without ``inh_current`` where a
   negative weight arrives; the
   message lists the presets that have it). What a user may mean is a warning
   (:class:`CompileWarning`, also listed in the :class:`Report`; ``strict=True`` makes it a
   CompileError): a population that can never reach its threshold, a bias that fires a neuron
   every tick without input, weights that saturate or that all round to zero, a decay that
   rounds to none, a ``theta_jump`` that fills ``theta`` within four spikes. The report flags
   every parameter whose rounding error exceeds ``max_error``; ``strict=True`` refuses flags
   too.

Several projections onto the same (source, target) population pair are allowed as long as they
do not define the same synapse twice; an overlapping synapse is a :class:`CompileError` naming
both projections (summing silently would make ``read_weights`` ambiguous). Every plastic
projection must use the same STDP object values (the core has one STDP parameter set).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings

import numpy as np

from . import regions as codec
from .errors import CompileError, FitError
from .image import Image, PopulationInfo, ProjectionInfo
from .network import NEURON_PARAMS, Network, NeuronParam
from .proto.config import PRESETS, CoreConfig, preset
from .proto.fixed import MOD_ONE, decay, decay_factor, signed_range, unsigned_range
from .proto.memmap import Region, layouts, n_rules
from .report import DEFAULT_MAX_ERROR, Entry, Report

__all__ = ["compile", "Report", "Entry", "CompileWarning", "resolve_target"]


#: theta_jump is warned about when this many spikes in a row saturate theta (check_theta)
_SAT_SPIKES = 4


class CompileWarning(UserWarning):
    """A compiled value a user may mean but probably does not (the message says which and
    why); ``compile(..., strict=True)`` raises a CompileError instead."""


def resolve_target(target) -> CoreConfig:
    """A CoreConfig from a preset name or a CoreConfig (CompileError otherwise)."""
    if isinstance(target, CoreConfig):
        return target
    if isinstance(target, str):
        try:
            return preset(target)
        except ValueError as exc:
            raise CompileError(str(exc)) from None
    raise CompileError(f"target must be a preset name or a CoreConfig, not {target!r}")


#: the default seed of the stochastic-rounding generator (any non-zero 32-bit value)
DEFAULT_SEED = 0x2545F491


def compile(net: Network, target="default", dt: float = 1.0, *, strict: bool = False,
            max_error: float = DEFAULT_MAX_ERROR, seed: int = DEFAULT_SEED) -> Image:
    """Compile ``net`` for ``target`` (preset name or CoreConfig) with time step ``dt`` ms.

    Raises :class:`FitError` when it does not fit, :class:`CompileError` for values that cannot
    be represented or make no sense; every report warning is issued as a
    :class:`CompileWarning`. ``max_error`` is the relative rounding error above which the
    report flags a parameter (``report.flagged``, marked ``!`` in the summary). With
    ``strict=True`` any warning or flag is one CompileError instead. ``seed`` (1 .. 2**32 - 1)
    starts the stochastic-rounding generator of a core with several plasticity rules (region
    LEARN; docs/numerics.md); other cores ignore it.
    """
    if not isinstance(net, Network):
        raise CompileError(f"compile() needs a spikeloom.Network, not {type(net).__name__}")
    cfg = resolve_target(target)
    if not (isinstance(dt, numbers.Real) and not isinstance(dt, bool) and dt > 0
            and math.isfinite(dt)):
        raise CompileError(f"dt = {dt!r} ms must be a positive number")
    if not (isinstance(max_error, numbers.Real) and not isinstance(max_error, bool)
            and 0 <= max_error < math.inf):
        raise CompileError(f"max_error = {max_error!r} must be a relative error >= 0 "
                           "(0.05 is 5 %)")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) \
            or not 0 < seed < 1 << 32:
        raise CompileError(f"seed = {seed!r} must be an integer in 1 .. 2**32 - 1 (the "
                           "generator of stochastic rounding; 0 would never round up)")
    image = _Compiler(net, cfg, float(dt), float(max_error), int(seed)).run()
    report = image.report
    if strict and (report.warnings or report.flagged):
        raise CompileError("strict compile: " + "; ".join(report.warnings + [
            f"{e.label} = {e.value:g} rounds to {e.actual:g} ({e.rel_error:.1%} error, more "
            f"than max_error = {max_error:g})" for e in report.flagged]))
    for message in report.warnings:
        warnings.warn(message, CompileWarning, stacklevel=2)
    return image


_PARAM = {p.name: p for p in NEURON_PARAMS}

#: the optional CoreConfig features (docs/numerics.md) as the compiler names them
_FEATURES = {"theta_width": "the adaptive threshold (CoreConfig.theta_width > 0)",
             "inh_current": "a separate inhibitory current (CoreConfig.inh_current)"}


def _label(pop, p: NeuronParam, k) -> str:
    """``threshold`` for a scalar parameter, ``threshold[k]`` for a per-neuron one."""
    return p.name if np.ndim(getattr(pop.model, p.name)) == 0 else f"{p.name}[{k}]"


class _Compiler:
    def __init__(self, net: Network, cfg: CoreConfig, dt: float, max_error: float,
                 seed: int = DEFAULT_SEED):
        self.net, self.cfg, self.dt, self.seed = net, cfg, dt, seed
        self.rule_of = {}       # projection name -> rule index (rule_bits > 1)
        self.rule_list = []     # the distinct STDPs, rule 1 first
        self.report = Report(cfg.name, dt, max_error)
        self.F, self.G = cfg.decay_frac, cfg.stdp_frac
        self.vlo, self.vhi = signed_range(cfg.v_width)
        self.wlo, self.whi = signed_range(cfg.w_width)
        self.thmax = unsigned_range(cfg.theta_width)[1] if cfg.theta_width else 0

    def run(self) -> Image:
        cfg = self.cfg
        self.place()
        stdp = self.check_stdp()
        self.choose_scales(stdp)
        params, state = self.neuron_params()
        weights, plastic = self.synapses()
        rule_ints = [self.stdp_params(r, k) for k, r in enumerate(self.rule_list, start=1)]
        if cfg.rule_bits == 1:
            stdp_ints = self.stdp_params(stdp) if stdp is not None else {}
            reach_ints = stdp_ints
        else:
            stdp_ints = rule_ints[0] if rule_ints else {}
            reach_ints = ({"enable": 1, "w_max": max(r["w_max"] for r in rule_ints)}
                          if rule_ints else {})
        self.check_reach(params, weights, plastic, reach_ints)
        self.report.usage = {
            "neurons": sum(p.size for p in self.net.neuron_populations),
            "n_neurons": cfg.n_neurons,
            "inputs": sum(p.size for p in self.net.input_populations), "n_inputs": cfg.n_inputs,
            "synapses": int(sum(p.n_synapses for p in self.net.projections)),
            "plastic": int(np.count_nonzero(plastic))}
        try:
            regions = {
                Region.NEURON_PARAMS: codec.encode(cfg, Region.NEURON_PARAMS, params),
                Region.NEURON_STATE: codec.encode(cfg, Region.NEURON_STATE, state),
                Region.WEIGHTS: codec.encode_matrix(cfg, Region.WEIGHTS, weights),
                Region.PLASTIC: codec.encode_matrix(cfg, Region.PLASTIC, plastic),
                Region.STDP_PARAMS: codec.encode(cfg, Region.STDP_PARAMS, stdp_ints),
            }
            delays = self.delays()      # checked on every core: without delays, 1 tick only
            if cfg.delay_bits:
                regions[Region.DELAYS] = codec.encode_matrix(cfg, Region.DELAYS, delays)
            if cfg.rule_bits > 1:       # one word per rule; the generator's seed, m = 1.0
                rows = rule_ints + [{}] * (n_rules(cfg) - len(rule_ints))
                regions[Region.STDP_PARAMS] = codec.encode(cfg, Region.STDP_PARAMS, {
                    f.name: np.array([r.get(f.name, 0) for r in rows], np.int64)
                    for f in layouts(cfg)[Region.STDP_PARAMS].fields})
                regions[Region.LEARN] = codec.encode(cfg, Region.LEARN, {
                    "value": np.array([self.seed, MOD_ONE], np.int64)})
        except ValueError as exc:       # a raw value that does not fit its field
            raise CompileError(f"a raw parameter does not fit the hardware: {exc}") from None
        pops = [PopulationInfo(p.name, p.kind, self.start[p.name], p.size,
                               self.scale.get(p.name, 1.0),
                               self._v_rest(p)) for p in self.net.populations]
        projs = [ProjectionInfo(p.name, p.src.name, p.dst.name, self.scale[p.dst.name],
                                p.pre.copy(), p.post.copy(), p.plastic.copy())
                 for p in self.net.projections]
        stdp_json = None
        if stdp is not None:
            # the manifest holds numbers: the v2 options appear (as 1) only when used, so a
            # one-rule image's manifest is what it was
            model = {k: v for k, v in dataclasses.asdict(stdp).items()
                     if k not in ("raw_params", "weight_dependence", "stochastic", "modulated")}
            model.update({k: 1 for k, on in (("multiplicative", stdp.is_soft),
                                             ("stochastic", stdp.stochastic),
                                             ("modulated", stdp.modulated)) if on})
            stdp_json = {"model": model, "integers": stdp_ints}
        return Image(cfg, regions, pops, projs, dt=self.dt, stdp=stdp_json, report=self.report)

    @staticmethod
    def _v_rest(pop):
        """The population's v_rest for the image: one number, or one per neuron."""
        if pop.is_input or pop.model.is_raw:
            return 0.0
        v = pop.params["v_rest"]
        return float(v[0]) if np.all(v == v[0]) else tuple(float(x) for x in v)

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
        if self.cfg.rule_bits > 1:
            return self.check_rules(plastic)
        for p in plastic:
            if p.stdp.needs_rules:
                raise CompileError(
                    f"projection {p.name!r} uses STDP(weight_dependence="
                    f"{p.stdp.weight_dependence!r}, stochastic={p.stdp.stochastic}, modulated="
                    f"{p.stdp.modulated}), which needs a core with several plasticity rules "
                    f"(CoreConfig.rule_bits > 1); configuration {self.cfg.name!r} has one")
        for p in plastic[1:]:
            if p.stdp != plastic[0].stdp:
                raise CompileError(
                    f"projections {plastic[0].name!r} and {p.name!r} use different STDP "
                    "parameters, but the core has a single STDP parameter set: use one STDP "
                    "object for every plastic projection")
        return plastic[0].stdp if plastic else None

    def check_rules(self, plastic):
        """rule_bits > 1: each distinct STDP is one rule (in order of first use); too many is
        an error naming the projections, and so are rules that need different traces."""
        users = {}
        for p in plastic:
            users.setdefault(p.stdp, []).append(p.name)
        self.rule_list = list(users)
        self.rule_of = {name: k for k, s in enumerate(self.rule_list, start=1)
                        for name in users[s]}
        listing = "; ".join(f"rule {k}: {', '.join(map(repr, users[s]))}"
                            for k, s in enumerate(self.rule_list, start=1))
        have = n_rules(self.cfg)
        if len(users) > have:
            raise CompileError(
                f"{len(users)} different STDP rules ({listing}) but configuration "
                f"{self.cfg.name!r} holds {have} (rule_bits = {self.cfg.rule_bits}): share STDP "
                "objects between projections or use a core with more rule_bits")
        for key in ("tau_plus", "tau_minus", "trace_jump", "raw_trace"):
            seen = {self._trace_key(s, key) for s in self.rule_list}
            if len(seen) > 1:
                raise CompileError(
                    f"the STDP rules differ in {key.replace('raw_trace', 'raw trace integers')} "
                    f"({listing}), but the traces are per core (one pre trace per source, one "
                    "post trace per neuron): every rule must use the same tau_plus, tau_minus "
                    "and trace_jump")
        return self.rule_list[0] if self.rule_list else None

    @staticmethod
    def _trace_key(stdp, key):
        if key == "raw_trace":
            raw = dict(stdp.raw_params or ())
            return tuple(raw.get(k) for k in ("pre_jump", "post_jump", "alpha_pre", "alpha_post"))
        return None if stdp.is_raw else getattr(stdp, key)

    def choose_scales(self, stdp):
        self.scale = {}
        self.why = {}           # population -> what set its scale (for error messages)
        fixed, free = {}, {}
        for pop in self.net.neuron_populations:
            m = pop.model
            if m.scale is not None:
                fixed[pop.name] = float(m.scale)
                self.why[pop.name] = ("LIF.raw" if m.is_raw else f"LIF(scale={m.scale:g})")
                continue
            limits = [(math.inf, "")]
            for proj in self.net.projections:
                if proj.dst is pop and proj.n_synapses:
                    k = int(np.argmax(np.abs(proj.weight)))
                    if proj.weight[k] != 0:
                        limits.append((self.whi / abs(proj.weight[k]),
                                       f"weight {proj.weight[k]:g} of projection {proj.name!r}"))
                    if proj.stdp is not None and proj.plastic.any():
                        for key in ("w_min", "w_max"):
                            w = getattr(proj.stdp, key)
                            if w:
                                limits.append((self.whi / abs(w), f"STDP {key} = {w:g} of "
                                               f"projection {proj.name!r}"))
            P = pop.params
            jump = P.get("theta_jump", np.zeros(1))
            if self.thmax and jump.max() > 0:     # theta holds _SAT_SPIKES jumps in a row
                k = int(np.argmax(jump))
                limits.append(((self.thmax // _SAT_SPIKES) / jump[k],
                               f"{_label(pop, _PARAM['theta_jump'], k)} = {jump[k]:g}"))
            for p in NEURON_PARAMS:        # every scaled parameter must fit v_width
                if p.quantize not in ("voltage", "current") or p.name not in P:
                    continue
                x = P[p.name] - (P["v_rest"] if p.quantize == "voltage" else 0.0)
                k = int(np.argmax(np.abs(x)))
                if x[k] != 0:
                    what = (f"{_label(pop, p, k)} = {P[p.name][k]:g}"
                            + (f" (v_rest {P['v_rest'][k]:g})"
                               if p.quantize == "voltage" and P["v_rest"][k] else ""))
                    limits.append((self.vhi / abs(x[k]), what))
            s, why = min(limits, key=lambda t: t[0])
            free[pop.name] = 1.0 if math.isinf(s) else s
            self.why[pop.name] = why or "nothing (default 1)"
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
                if n not in fixed:
                    fixed[n] = 1.0
                    self.why[n] = "STDP.raw"
        fixed_in_group = {fixed[n] for n in group if n in fixed}
        if len(fixed_in_group) > 1:
            raise CompileError(
                "populations receiving plastic projections must share one scale (one STDP "
                f"parameter set), but {', '.join(repr(n) for n in group if n in fixed)} fix "
                f"different ones: {sorted(fixed_in_group)}")
        if group:
            if fixed_in_group:
                shared = fixed_in_group.pop()
                owner = next(n for n in group if n in fixed)
            else:
                owner = min(group, key=lambda n: free[n])
                shared = free[owner]
            for n in group:
                if n not in fixed:
                    free[n] = shared
                    if n != owner:
                        self.why[n] = (f"the scale shared by the plastic targets, set in "
                                       f"{owner!r} by {self.why[owner]}")
        self.scale.update(free)
        self.scale.update(fixed)
        self.plastic_scale = self.scale[group[0]] if group else None

    # -- neurons -----------------------------------------------------------------------------------

    def neuron_params(self):
        """NEURON_PARAMS and NEURON_STATE field arrays for every hardware neuron."""
        cfg = self.cfg
        n = cfg.n_neurons
        params = {f.name: np.zeros(n, np.int64)
                  for f in layouts(cfg)[Region.NEURON_PARAMS].fields}
        state = {f.name: np.zeros(n, np.int64)
                 for f in layouts(cfg)[Region.NEURON_STATE].fields}
        params["threshold"][:] = self.vhi        # unused neurons never fire
        for pop in self.net.neuron_populations:
            sl = slice(self.start[pop.name], self.start[pop.name] + pop.size)
            if pop.model.is_raw:
                for key, value in pop.params.items():
                    if key in params or key in state:
                        (params if key in params else state)[key][sl] = value
                    else:
                        self._missing_raw_feature(pop, key, value)
                self._feature_defaults(pop, params, sl, pop.params)
                params["no_spike"][sl] = 0 if pop.model.spiking else 1
                continue
            ints = {}
            for p in NEURON_PARAMS:
                if p.name not in pop.params:
                    continue
                if p.field is not None and p.field not in params and p.field not in state:
                    self._missing_feature(pop, p)       # the core lacks the feature
                    continue
                q = self._QUANTIZE[p.quantize](self, pop, p)
                if q is not None:
                    ints[p.field] = q
                    (params if p.field in params else state)[p.field][sl] = q
            self._feature_defaults(pop, params, sl, ints)
            params["no_spike"][sl] = 0 if pop.model.spiking else 1
            if not pop.model.spiking:       # LI: the threshold never matters
                params["threshold"][sl] = self.vhi
                continue
            self.check_neurons(pop, ints)
            self.check_theta(pop, ints)
        return params, state

    def _feature_defaults(self, pop, params, sl, given):
        """A feature's fields the population did not set: ``alpha_inh = alpha_syn`` (the
        negative weights decay as the positive ones: one current's time constant) and
        ``alpha_theta = 2^F``."""
        if "alpha_inh" in params and "alpha_inh" not in given:
            params["alpha_inh"][sl] = given["alpha_syn"]
        if "alpha_theta" in params and "alpha_theta" not in given:
            params["alpha_theta"][sl] = 1 << self.F

    def _missing_feature(self, pop, p):
        """CompileError when ``p`` asks for a feature the core lacks: a nonzero ``theta_jump``,
        a ``tau_syn_inh`` other than ``tau_syn`` on a neuron that can receive a negative weight;
        other values of the feature are moot."""
        P = pop.params
        asked = {"theta_jump": lambda: P["theta_jump"] != 0,
                 "tau_syn_inh": lambda: (P["tau_syn_inh"] != P["tau_syn"])
                 & self._inhibited(pop)}.get(p.name)
        if asked is not None and asked().any():
            k = int(np.flatnonzero(asked())[0])
            unit = " ms" if p.unit == "ms" else ""
            self._no_feature(pop, f"{_label(pop, p, k)} = {P[p.name][k]:g}{unit}", p.feature,
                             " (tau_syn_inh None or equal to tau_syn: one current)"
                             if p.name == "tau_syn_inh" else "")

    def _inhibited(self, pop) -> np.ndarray:
        """Per neuron of ``pop``: can it receive a negative weight (a negative synapse, or a
        plastic one whose STDP ``w_min`` is below 0)?"""
        out = np.zeros(pop.size, bool)
        for proj in self.net.projections:
            if proj.dst is pop:
                neg = proj.weight < 0
                if proj.stdp is not None and proj.stdp.w_min < 0:
                    neg |= proj.plastic
                out[proj.post[neg]] = True
        return out

    def _missing_raw_feature(self, pop, key, value):
        """The raw form of :meth:`_missing_feature`: a nonzero ``theta_jump``, an ``alpha_inh``
        other than ``alpha_syn``."""
        P = pop.params
        asked = {"theta_jump": lambda: P["theta_jump"] != 0,
                 "alpha_inh": lambda: P["alpha_inh"] != P["alpha_syn"]}.get(key)
        if asked is not None and asked().any():
            k = int(np.flatnonzero(asked())[0])
            feature = "theta_width" if key == "theta_jump" else "inh_current"
            self._no_feature(pop, f"LIF.raw {key}[{k}] = {value[k]}", feature, "")

    def _no_feature(self, pop, what, feature, why):
        have = [name for name, c in PRESETS.items() if getattr(c, feature)]
        raise CompileError(
            f"{self._where(pop)}: {what} needs {_FEATURES[feature]}, which configuration "
            f"{self.cfg.name!r} does not have{why}; presets with it: {', '.join(have)}")

    def _where(self, pop) -> str:
        return f"population {pop.name!r}"

    def _worst(self, pop, p, value, actual, integer, origin=0.0, err=None):
        """Add the report entry of parameter ``p``: the neuron with the largest error
        (``err``: a measure of its own, per neuron; default relative to ``origin``)."""
        rel = err
        if err is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                ref = np.abs(value - origin)
                err = np.where(actual == value, 0.0,
                               np.where(ref > 0, np.abs(actual - value) / ref, np.inf))
        k = int(np.argmax(err))
        scalar = np.ndim(getattr(pop.model, p.name)) == 0
        suffix = {"decay": " (alpha)", "theta_decay": " (alpha)",
                  "ms_ticks": " (ms)"}.get(p.quantize, "")
        return self.report.add(f"{pop.name}.{p.name}{suffix}", value[k], integer[k], actual[k],
                               index=None if scalar else k,
                               origin=origin if np.ndim(origin) == 0 else origin[k],
                               rel=None if rel is None else rel[k])

    def _q_origin(self, pop, p):
        return None             # v_rest has no field: it shifts the voltages

    def _q_scaled(self, pop, p):
        """``voltage``: ``round((value - v_rest) * scale)``; ``current``: ``round(value *
        scale)``; both must fit the signed ``v_width`` field."""
        s, P = self.scale[pop.name], pop.params
        origin = P["v_rest"] if p.quantize == "voltage" else np.zeros(pop.size)
        x = np.round((P[p.name] - origin) * s)
        bad = np.flatnonzero((x < self.vlo) | (x > self.vhi))
        if bad.size:
            k = int(bad[0])
            shift = f" - v_rest {origin[k]:g}" if origin[k] else ""
            raise CompileError(
                f"{self._where(pop)}: {_label(pop, p, k)} = {P[p.name][k]:g}{shift} is "
                f"{x[k]:.0f} in hardware units at scale {s:.6g} (set by {self.why[pop.name]}), "
                f"outside {self.vlo}..{self.vhi} ({self.cfg.v_width}-bit); lower the value or "
                "the scale")
        x = x.astype(np.int64)
        if np.any(P[p.name] != origin):        # (v_reset, v_init at rest: nothing to report)
            self._worst(pop, p, P[p.name], x / s + origin, x, origin)
        return x

    def _q_decay(self, pop, p):
        """``alpha = round(exp(-dt/tau) * 2^F)``; the report compares tau with the effective
        tau of alpha, ``-dt / ln(alpha / 2^F)``."""
        tau = pop.params[p.name]
        uniq, inv = np.unique(tau, return_inverse=True)
        alpha = np.array([decay_factor(float(t), self.dt, self.F) for t in uniq],
                         np.int64)[inv]
        one = 1 << self.F
        eff, err = self._decay_error(tau, alpha)
        self._worst(pop, p, tau, eff, alpha, err=err)
        stuck = np.flatnonzero((alpha == one) & np.isfinite(tau))
        if stuck.size:
            k = int(stuck[0])
            self.report.warn(
                f"{self._where(pop)}: {_label(pop, p, k)} = {tau[k]:g} ms rounds to no decay at "
                f"dt = {self.dt:g} ms (alpha = 2^{self.F}; {stuck.size} neuron(s)); use a "
                "shorter tau, a larger dt or a core with more decay_frac bits")
        return alpha

    def _decay_error(self, tau, alpha):
        """(effective tau of ``alpha``, relative error of the leak per tick ``1 - a``)."""
        one = 1 << self.F
        tau, alpha = np.asarray(tau, float), np.asarray(alpha)
        with np.errstate(divide="ignore", invalid="ignore"):
            eff = np.where(alpha >= one, np.inf, -self.dt / np.log(np.maximum(alpha, 0) / one))
            leak = -np.expm1(-self.dt / tau)
            leak_q = 1 - alpha / one
            err = np.where(leak_q == leak, 0.0,
                           np.where(leak > 0, np.abs(leak_q - leak) / leak, np.inf))
        return eff, err

    def _q_ticks(self, pop, p):
        ticks = pop.params[p.name].astype(np.int64)
        if p.name == "refractory" and "refractory_ms" in pop.params:
            return None         # refractory_ms (next in the table) sets the field
        return self._fit_ticks(pop, p, ticks)

    def _q_ms_ticks(self, pop, p):
        ms = pop.params[p.name]
        ticks = np.round(ms / self.dt).astype(np.int64)
        self._worst(pop, p, ms, ticks * self.dt, ticks)
        return self._fit_ticks(pop, p, ticks)

    def _fit_ticks(self, pop, p, ticks):
        rmax = unsigned_range(self.cfg.refractory_width)[1]
        bad = np.flatnonzero(ticks > rmax)
        if bad.size:
            k = int(bad[0])
            raise CompileError(f"{self._where(pop)}: {_label(pop, p, k)} is {ticks[k]} ticks, "
                               f"more than {rmax} (refractory_width = "
                               f"{self.cfg.refractory_width})")
        return ticks

    def _q_mode(self, pop, p):
        return pop.params[p.name].astype(np.int64)

    def _q_theta(self, pop, p):
        """``round(value * scale)`` (not shifted by v_rest), unsigned ``theta_width`` bits; a
        nonzero value that rounds to 0 (adaptation silently off) is an error."""
        s, x = self.scale[pop.name], pop.params[p.name]
        q = np.round(x * s)
        for bad, why in (
                ((q > self.thmax), f"more than the {self.cfg.theta_width}-bit theta holds "
                                   f"(max {self.thmax}); lower it or the scale, or use a core "
                                   "with a wider theta_width"),
                (((q == 0) & (x > 0)), "so adaptation would be silently off; raise it, fix a "
                                       "larger LIF(scale=...) or set it to 0 on purpose")):
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise CompileError(
                    f"{self._where(pop)}: {_label(pop, p, k)} = {x[k]:g} is {q[k]:.0f} in "
                    f"hardware units at scale {s:.6g} (set by {self.why[pop.name]}), {why}")
        q = q.astype(np.int64)
        if np.any(x != 0):
            self._worst(pop, p, x, q / s, q)
        return q

    def _q_theta_decay(self, pop, p):
        """``tau_theta`` as a ``decay``, reported only when a neuron of the population adapts
        (the default math.inf of a non-adapting one is no quantity worth listing)."""
        if np.any(pop.params["theta_jump"] != 0):
            return self._q_decay(pop, p)
        return np.full(pop.size, 1 << self.F, np.int64)

    #: how each ``quantize`` kind of NEURON_PARAMS becomes integers (None: no field)
    _QUANTIZE = {"origin": _q_origin, "voltage": _q_scaled, "current": _q_scaled,
                 "decay": _q_decay, "ticks": _q_ticks, "ms_ticks": _q_ms_ticks,
                 "mode": _q_mode, "theta": _q_theta, "theta_decay": _q_theta_decay}

    def check_neurons(self, pop, ints):
        """Refuse what would fire without reason; warn about what fires every tick."""
        P, s, where = pop.params, self.scale[pop.name], self._where(pop)
        tp, rp = (next(p for p in NEURON_PARAMS if p.name == n) for n in ("threshold", "v_reset"))
        above = P["threshold"] - P["v_rest"]
        bad = np.flatnonzero(~(above > 0))
        if bad.size:
            k = int(bad[0])
            raise CompileError(
                f"{where}: {_label(pop, tp, k)} = {P['threshold'][k]:g} is not above v_rest = "
                f"{P['v_rest'][k]:g}: the neuron would fire at rest, every tick")
        thr = ints["threshold"]
        bad = np.flatnonzero(thr <= 0)
        if bad.size:
            k = int(bad[0])
            raise CompileError(
                f"{where}: {_label(pop, tp, k)} = {P['threshold'][k]:g} quantizes to {thr[k]} "
                f"at scale {s:.6g} (set by {self.why[pop.name]}): the neuron would fire every "
                f"tick. The threshold is {above[k] * s:.3g} integer steps above rest; make the "
                "weights or bias smaller relative to it, or fix LIF(scale=...)")
        by_value = ints["reset_subtract"] == 0
        bad = np.flatnonzero(by_value & ~(P["v_reset"] < P["threshold"]))
        if bad.size:
            k = int(bad[0])
            raise CompileError(
                f"{where}: {_label(pop, rp, k)} = {P['v_reset'][k]:g} is not below threshold = "
                f"{P['threshold'][k]:g} (reset='value'): the neuron would fire on every tick "
                "after its refractory period")
        bad = np.flatnonzero(by_value & (ints["v_reset"] >= thr))
        if bad.size:
            k = int(bad[0])
            raise CompileError(
                f"{where}: {_label(pop, rp, k)} = {P['v_reset'][k]:g} and threshold = "
                f"{P['threshold'][k]:g} quantize to {ints['v_reset'][k]} and {thr[k]} at scale "
                f"{s:.6g} (set by {self.why[pop.name]}): the reset is not below the threshold")
        # a neuron that reaches threshold from its reset on bias alone, whatever its input
        start = np.where(by_value, decay(ints["v_reset"], ints["alpha_mem"], self.F), 0)
        tonic = np.flatnonzero(start + ints["bias"] >= thr)
        if tonic.size:
            k = int(tonic[0])
            bp = next(p for p in NEURON_PARAMS if p.name == "bias")
            self.report.warn(
                f"{where}: {_label(pop, bp, k)} = {P['bias'][k]:g} alone takes the membrane "
                f"from reset to threshold = {P['threshold'][k]:g} in one tick: "
                f"{tonic.size} neuron(s) fire on every tick they are not refractory, whatever "
                "their input")

    def check_theta(self, pop, ints):
        """Warn when theta fills its width within a few spikes: past that, adaptation stops
        growing (the bound ignores theta's decay between spikes)."""
        jump = ints.get("theta_jump")
        if jump is None or not jump.any():
            return
        few = np.flatnonzero(jump * _SAT_SPIKES > self.thmax)
        if few.size:
            k = int(few[np.argmax(jump[few])])
            n = -(-self.thmax // int(jump[k]))
            self.report.warn(
                f"{self._where(pop)}: {_label(pop, _PARAM['theta_jump'], k)} = "
                f"{pop.params['theta_jump'][k]:g} is {jump[k]} of the {self.cfg.theta_width}-bit "
                f"theta's {self.thmax}: theta saturates after {n} spike(s) in a row "
                f"({few.size} neuron(s)), and adaptation stops growing there; lower theta_jump "
                "or use a core with a wider theta_width")

    # -- synapses ----------------------------------------------------------------------------------

    def synapses(self):
        cfg = self.cfg
        weights = np.zeros((cfg.n_sources, cfg.n_neurons), np.int64)
        plastic = np.zeros((cfg.n_sources, cfg.n_neurons),
                           bool if cfg.rule_bits == 1 else np.int64)     # rule indices
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
            plastic[rows, cols] = (proj.plastic if cfg.rule_bits == 1
                                   else proj.plastic * self.rule_of.get(proj.name, 0))
        return weights, plastic

    def delays(self) -> np.ndarray:
        """The DELAYS matrix ``d`` (a synapse's delay is ``1 + d`` ticks) of every projection;
        :meth:`synapses` has checked that no two projections share a synapse."""
        cfg = self.cfg
        d = np.zeros((cfg.n_sources, cfg.n_neurons), np.int64)
        for proj in self.net.projections:
            if proj.n_synapses:
                src_off = (0 if proj.src.is_input else cfg.n_inputs) + self.start[proj.src.name]
                d[src_off + proj.pre, self.start[proj.dst.name] + proj.post] = (
                    self.delay_ticks(proj) - 1)
        return d

    def delay_ticks(self, proj) -> np.ndarray:
        """Per-synapse delays of ``proj`` in ticks: ``round(delay / dt)``, from one tick (the
        core's fixed delay, also the default) to ``2**delay_bits``; a CompileError names the
        projection otherwise. The report shows the largest relative rounding."""
        top = 1 << self.cfg.delay_bits
        where = f"projection {proj.name!r}"
        if proj.delay is None:
            return np.ones(proj.n_synapses, np.int64)
        ticks = np.rint(proj.delay / self.dt).astype(np.int64)
        bad = np.flatnonzero((ticks < 1) | (ticks > top))
        if bad.size:
            i = int(bad[0])
            held = (f"this configuration ({self.cfg.name!r}, delay_bits = "
                    f"{self.cfg.delay_bits}) holds 1 .. {top} ticks = "
                    f"{self.dt:g} .. {top * self.dt:g} ms")
            raise CompileError(
                f"{where}: delay {proj.delay[i]:g} ms (synapse {proj.pre[i]}->{proj.post[i]}) "
                f"is {ticks[i]} ticks of dt = {self.dt:g} ms; {held}; {bad.size} delays out "
                "of range")
        if proj.delay.size:
            i = int(np.argmax(np.abs(ticks * self.dt - proj.delay) / proj.delay))
            self.report.add(f"{proj.name} delay", proj.delay[i], ticks[i], ticks[i] * self.dt)
        return ticks

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
            # tiny weights rounding to 0 are ordinary quantization (a note); a projection
            # that vanishes entirely is not what anyone means (a warning)
            message = (f"{where}: {int(zeroed.sum())} of {int(nz.sum())} nonzero weights "
                       f"round to 0 (smallest |w| = {np.min(np.abs(proj.weight[nz])):.3g}, "
                       f"one integer step = {1 / s:.3g})")
            if zeroed.sum() == nz.sum() and not proj.plastic[nz].any():
                self.report.warn(message + ": the projection has no effect")
            else:
                self.report.note(message)
        if nz.any():
            i = int(np.argmax(np.abs(proj.weight)))
            self.report.add(f"{proj.name} max |w|", proj.weight[i], q[i], q[i] / s)
            rel = np.abs(q[nz] / s - proj.weight[nz]) / np.abs(proj.weight[nz])
            j = int(np.flatnonzero(nz)[int(np.argmax(rel))])
            self.report.add(f"{proj.name} worst w", proj.weight[j], q[j], q[j] / s,
                            bounded=False)
        return q

    # -- STDP --------------------------------------------------------------------------------------

    def stdp_params(self, stdp, rule: int | None = None) -> dict:
        """The STDP_PARAMS integers of ``stdp``; ``rule``: its rule number on a core with
        several rules (labels ``stdp[r].*``, the rule's flags, its A+/A- ratio in the notes)."""
        cfg = self.cfg
        pre = "stdp" if rule is None else f"stdp[{rule}]"
        flags = {} if rule is None else {"soft": int(stdp.is_soft),
                                         "stochastic": int(stdp.stochastic),
                                         "modulated": int(stdp.modulated)}
        if stdp.is_raw:
            ints = dict(stdp.raw_params)
            ints["enable"] = 1
            return {**ints, **flags}
        s = self.plastic_scale if self.plastic_scale is not None else 1.0
        tmax = unsigned_range(cfg.trace_width)[1]
        jump = stdp.trace_jump if stdp.trace_jump is not None else 1 << (cfg.trace_width - 1)
        if jump > tmax:
            raise CompileError(f"STDP trace_jump = {jump} exceeds the {cfg.trace_width}-bit "
                               f"trace range (max {tmax})")
        step = s * (1 << self.G) / jump          # rate integer per weight unit
        if stdp.is_soft:                         # rate integer per unit of the fraction
            step = (1 << (self.G + cfg.w_width)) / jump
        ints = {"enable": 1, "pre_jump": jump, "post_jump": jump, **flags}
        users = ", ".join(repr(p.name) for p in self.net.projections
                          if p.stdp is not None and p.plastic.any()
                          and (rule is None or self.rule_of.get(p.name) == rule))
        for key, value in (("a_plus", stdp.a_plus), ("a_minus", stdp.a_minus)):
            a = round(value * step)
            if a > 0xFFFF:
                raise CompileError(
                    f"STDP {key} = {value:g} of projection(s) {users} needs rate {a} > 65535 "
                    f"at weight scale {s:.6g}; lower it or raise trace_jump")
            ints[key] = a
            self.report.add(f"{pre}.{key}", value, a, a / step)
            if rule is not None and (stdp.is_soft or stdp.stochastic):
                if a == 0 and value > 0:
                    raise CompileError(
                        f"STDP {key} = {value:g} of projection(s) {users} rounds to rate 0 "
                        f"(one rate unit is {1 / step:.3g}); raise {key} or trace_jump, or use "
                        "a core with more stdp_frac bits")
                continue        # the expected step is a * J / 2^G: no floor to check
            # what one pair at zero delay really changes: scale(J, a) = (J * a) >> G, floored
            dw = (jump * a) >> self.G
            self.report.add(f"{pre}.{key} step at 0 ticks", value, dw, dw / s)
            if dw == 0 and value > 0:
                need = -(-(1 << self.G) // jump)        # the smallest rate with a step of 1
                raise CompileError(
                    f"STDP {key} = {value:g} of projection(s) {users} floors to a zero weight "
                    f"step: rate {a}, (trace_jump {jump} * {a}) >> {self.G} = 0 at weight "
                    f"scale {s:.6g}, so {'potentiation' if key == 'a_plus' else 'depression'} "
                    f"would be silently off. One step needs a rate >= {need}, i.e. {key} >= "
                    f"{(need - 0.5) / step:.3g} weight units; raise {key} or trace_jump (or "
                    f"set {key}=0 to turn it off on purpose)")
        if rule is not None:
            self._note_ratio(stdp, ints, step, rule, users)
        if rule is not None and rule > 1:       # the traces are rule 1's (checked equal)
            ints["alpha_pre"] = decay_factor(stdp.tau_plus, self.dt, self.F)
            ints["alpha_post"] = decay_factor(stdp.tau_minus, self.dt, self.F)
        else:
            ints["alpha_pre"] = self._stdp_decay("tau_plus", stdp.tau_plus)
            ints["alpha_post"] = self._stdp_decay("tau_minus", stdp.tau_minus)
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
            self.report.add(f"{pre}.{key}", value, w, w / s)
        return ints

    def _note_ratio(self, stdp, ints, step, rule, users):
        """The report line of one rule: effective A+, A- (per pair at zero delay) and ratio."""
        unit = "of (w_max - w) / (w - w_min)" if stdp.is_soft else "weight units"
        a_p, a_m = ints["a_plus"] / step, ints["a_minus"] / step
        text = (f"rule {rule} ({users}): {stdp.weight_dependence}"
                f"{', stochastic rounding' if stdp.stochastic else ''}"
                f"{', modulated' if stdp.modulated else ''}; effective A+ = {a_p:.5g}, "
                f"A- = {a_m:.5g} {unit}")
        if ints["a_plus"] and stdp.a_plus:
            asked, got = stdp.a_minus / stdp.a_plus, ints["a_minus"] / ints["a_plus"]
            off = abs(got / asked - 1) if asked else 0.0
            text += f", A-/A+ = {got:.4f} (asked {asked:.4f}, {off:.2%} off)"
        self.report.note(text)

    def _stdp_decay(self, key, tau) -> int:
        alpha = decay_factor(tau, self.dt, self.F)
        one = 1 << self.F
        eff, err = self._decay_error(tau, alpha)
        self.report.add(f"stdp.{key} (alpha)", tau, alpha, float(eff), rel=float(err))
        if alpha == one and math.isfinite(tau):
            self.report.warn(f"STDP {key} = {tau:g} ms rounds to no decay at dt = {self.dt:g} ms "
                             f"(alpha = 2^{self.F}); use a shorter tau, a larger dt or a core "
                             "with more decay_frac bits")
        return alpha

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
