"""PyNN objects -> one :class:`spikeloom.Network` (docs/pynn.md, "Mapping").

- ``IF_curr_exp`` populations become :class:`spikeloom.LIF` populations
  (:func:`spikeloom.pynn.mapping.lif_params`), spike sources become input populations;
- each Projection becomes one spikeloom projection per (source population, target population)
  pair it touches (views and assemblies are resolved to their populations), with the weights in
  the core's voltage units: ``w * psc_scale`` of the target neuron and receptor;
- ``STDPMechanism(SpikePairRule, AdditiveWeightDependence)`` becomes :class:`spikeloom.STDP`
  with ``a_plus = A_plus * w_max`` (PyNN's additive rule) in the same units;
  ``MultiplicativeWeightDependence`` becomes a soft-bound STDP (``a_plus = A_plus``, a fraction
  of the distance to the bound) with stochastic rounding, on targets with ``rule_bits > 1``.

What the core cannot run yet raises the pyNN error a user expects, saying what and why.
"""

from __future__ import annotations

import numpy as np
from pyNN import common, errors
from pyNN.standardmodels.base import check_weights

from ..network import LIF, STDP, Network
from . import mapping
from .standardmodels import (
    AdditiveWeightDependence,
    MultiplicativeWeightDependence,
    SpikePairRule,
    STDPMechanism,
)

__all__ = ["build", "locate"]

def locate(obj, idx, populations):
    """(position in ``populations`` of the real Population, index inside it) for indices into
    a Population, PopulationView or Assembly."""
    idx = np.asarray(idx, dtype=np.int64)
    if isinstance(obj, common.Assembly):
        bounds = np.cumsum([0] + [p.size for p in obj.populations])
        which = np.searchsorted(bounds, idx, side="right") - 1
        pops, local = np.empty(idx.size, np.int64), np.empty(idx.size, np.int64)
        for k, p in enumerate(obj.populations):
            sel = which == k
            if sel.any():
                pops[sel], local[sel] = locate(p, idx[sel] - bounds[k], populations)
        return pops, local
    if isinstance(obj, common.PopulationView):
        root = obj.grandparent
        idx = np.asarray(obj.index_in_grandparent(idx), dtype=np.int64)
        obj = root
    position = next(k for k, p in enumerate(populations) if p is obj)
    return np.full(idx.size, position, np.int64), idx


def _neuron_params(pop) -> dict:
    p = {k: np.asarray(v, dtype=float) for k, v in pop._parameters.items()}
    p["v"] = np.asarray(pop._initial.get("v", p["v_rest"]), dtype=float)
    return p


def build(state):
    """The spikeloom Network of the PyNN objects of ``state`` (fills each projection's
    ``_parts``)."""
    dt = state.dt
    net = Network("pynn")
    params = {}     # population position -> evaluated IF_curr_exp parameters
    for k, pop in enumerate(state.populations):
        name = f"{pop.label or 'population'}#{k}" if any(
            q.label == pop.label for q in state.populations[:k]) else (pop.label or f"pop{k}")
        pop._sl_name = name
        if pop._sl_kind == "inputs":
            net.inputs(pop.size, name=name)
            continue
        p = params[k] = _neuron_params(pop)
        kwargs = mapping.lif_params(dt, p)
        if np.any(p["tau_syn_I"] != p["tau_syn_E"]):
            kwargs["tau_syn_inh"] = p["tau_syn_I"]
        net.population(pop.size, LIF(**kwargs), name=name)
    for k, proj in enumerate(state.projections):
        _project(state, net, proj, k, params, dt)
    return net


def _stdp(proj, values, k_post, where):
    """The spikeloom.STDP of an STDPMechanism projection (``values``: its connections'
    attributes), or None."""
    syn = proj.synapse_type
    if not isinstance(syn, STDPMechanism):
        return None
    td, wd = syn.timing_dependence, syn.weight_dependence
    soft = isinstance(wd, MultiplicativeWeightDependence)
    if not isinstance(td, SpikePairRule) or syn.voltage_dependence is not None \
            or not (soft or isinstance(wd, AdditiveWeightDependence)):
        raise errors.NoModelAvailableError(
            f"{where}: spikeloom's STDP is SpikePairRule with AdditiveWeightDependence or "
            f"MultiplicativeWeightDependence (got {type(td).__name__} with {type(wd).__name__})")
    if proj.receptor_type != "excitatory":
        raise errors.ConnectionError(f"{where}: STDP on inhibitory synapses is not available "
                                     "(the core's weight bounds are for excitatory weights)")
    if np.ptp(k_post) > 1e-9 * np.max(np.abs(k_post)):
        raise errors.InvalidParameterValueError(
            f"{where}: the core has one STDP parameter set, so the targets of an STDP "
            "projection need equal cm, tau_m and tau_syn_E (their nA -> mV factors differ)")
    k = float(k_post[0])
    rule = {}
    for key in ("A_plus", "A_minus", "tau_plus", "tau_minus", "w_min", "w_max"):
        x = np.asarray(values[key])
        if np.ptp(x) > 0:
            raise errors.InvalidParameterValueError(
                f"{where}: {key} differs between synapses; the core has one STDP parameter set")
        rule[key] = float(x[0])
    if soft:        # A_plus, A_minus are fractions of the distance to the bound: no scaling
        return STDP(a_plus=rule["A_plus"], a_minus=rule["A_minus"],
                    tau_plus=rule["tau_plus"], tau_minus=rule["tau_minus"],
                    w_min=rule["w_min"] * k, w_max=rule["w_max"] * k,
                    weight_dependence="multiplicative", stochastic=True)
    return STDP(a_plus=rule["A_plus"] * rule["w_max"] * k,
                a_minus=rule["A_minus"] * rule["w_max"] * k,
                tau_plus=rule["tau_plus"], tau_minus=rule["tau_minus"],
                w_min=rule["w_min"] * k, w_max=rule["w_max"] * k)


def _project(state, net, proj, index, params, dt):
    where = f"Projection {proj.label or index!r}"
    v = proj.values
    proj._parts = []
    if not len(proj):
        return
    weights = v["weight"]
    check_weights(weights, proj)
    pops = state.populations
    src_pops, src_idx = locate(proj.pre, v["presynaptic_index"], pops)
    dst_pops, dst_idx = locate(proj.post, v["postsynaptic_index"], pops)
    inhibitory = proj.receptor_type == "inhibitory"
    pairs = {}
    for c, (s, d) in enumerate(zip(src_pops.tolist(), dst_pops.tolist(), strict=True)):
        pairs.setdefault((s, d), []).append(c)
    for n, ((s, d), conn) in enumerate(pairs.items()):
        src, dst, conn = pops[s], pops[d], np.asarray(conn)
        if dst._sl_kind != "neurons":
            raise errors.ConnectionError(f"{where}: a spike source cannot receive synapses")
        p, post = params[d], dst_idx[conn]
        tau_s = p["tau_syn_I" if inhibitory else "tau_syn_E"]
        k = mapping.psc_scale(dt, p["tau_m"], tau_s, p["cm"])[post]
        stdp = _stdp(proj, {key: x[conn] for key, x in v.items()}, k, where)
        name = f"{proj.label or 'projection'}[{index}]" + (f".{n}" if len(pairs) > 1 else "")
        delays = v["delay"][conn] if "delay" in v else None
        pre, post_u, w, delays, share = _merge_duplicates(
            src_idx[conn], post, weights[conn] * k, delays, dt, stdp is not None,
            f"{where} ({src.label or src._sl_name} -> {dst.label or dst._sl_name})")
        if delays is not None and np.all(np.abs(delays - dt) <= 1e-9 * dt):
            delays = None                           # one tick: any core
        net.connect(net[src._sl_name], net[dst._sl_name], name=name, stdp=stdp,
                    weights=(pre, post_u, w), delays=delays)
        proj._parts.append((name, conn, src_idx[conn], post, k, share))


def _merge_duplicates(pre, post, w, delays, dt, plastic, where):
    """One core synapse per (pre, post) pair: connections a connector made more than once
    (``FromListConnector`` lists, ``FixedNumber*Connector(with_replacement=True)``) are summed,
    as PyNN's simulators sum the currents of two synapses that both exist (exact: the neuron is
    linear in its input weights). Returns the unique pairs, their summed weights and delays,
    and each connection's share of its pair's weight (for ``Projection.get`` after a run).

    Two connections of one pair may differ in weight, not in delay (the core has one delay per
    synapse) and not be plastic (two plastic synapses learn apart; one cannot stand for both):
    those are a ``pyNN.errors.ConnectionError`` naming the pair."""
    key = pre * (int(post.max()) + 1) + post
    uniq, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True,
                                             return_counts=True)
    if uniq.size == key.size:
        return pre, post, w, delays, np.ones(key.size)
    dup = int(np.flatnonzero(counts > 1)[0])
    pair = f"synapse {int(pre[first[dup]])} -> {int(post[first[dup]])}"
    if plastic:
        raise errors.ConnectionError(
            f"{where}: {pair} is made {int(counts[dup])} times; the core holds one synapse per "
            "pair, which can stand for several static synapses (their weights are summed) but "
            "not for plastic ones, which learn apart")
    if delays is not None:
        ticks = np.rint(np.asarray(delays, float) / dt).astype(np.int64)
        lo = np.full(uniq.size, np.iinfo(np.int64).max)
        hi = np.full(uniq.size, np.iinfo(np.int64).min)
        np.minimum.at(lo, inverse, ticks)
        np.maximum.at(hi, inverse, ticks)
        if (lo != hi).any():
            u = int(np.flatnonzero(lo != hi)[0])
            bad = f"synapse {int(pre[first[u]])} -> {int(post[first[u]])}"
            raise errors.ConnectionError(
                f"{where}: {bad} is made several times with different delays "
                f"({lo[u] * dt:g} and {hi[u] * dt:g} ms); the core has one delay per synapse, "
                "so only connections of equal delay can be summed")
        delays = np.asarray(delays, float)[first]
    total = np.zeros(uniq.size)
    np.add.at(total, inverse, w)
    # each connection's part of the summed weight; equal parts where the sum is 0
    share = np.where(total[inverse] != 0, w / np.where(total[inverse] != 0, total[inverse], 1),
                     1.0 / counts[inverse])
    return pre[first], post[first], total, delays, share
