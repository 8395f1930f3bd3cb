"""Cycles per tick of the RTL core versus the analytical formula, over activity levels.

For a few core sizes and both weight stores, the RTL ``Core`` runs in Amaranth's simulator
(through tests/core_harness.py). Each measurement point sets up exactly ``delivered`` pending
sources (SPIKES region), exactly ``fired`` neurons that will spike (threshold at the bottom of the
range for them, unreachable for the others) and STDP on or off, runs ONE tick and reads the
hardware ``last_tick_cycles`` counter. The table compares it with
``spikeloom.proto.cycles.tick_cycles`` (which must be exact) and gives the synaptic events per
cycle of the accumulation phase, measured (STDP off) as ``delivered * N`` events over the extra
cycles the tick took compared with the same point without deliveries. The summary also gives
the worst measured tick against ``proto.cycles.tick_cycles_bound``.

    python bench/cycles.py            # tiny, small, default; dual and spram stores
    python bench/cycles.py --quick    # tiny and small only (about two minutes)

Writes bench/cycles.json (every point) next to this script unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from core_harness import Harness  # noqa: E402
from spikeloom.proto.config import CoreConfig, preset  # noqa: E402
from spikeloom.proto.cycles import WEIGHT_STORES  # noqa: E402
from spikeloom.proto.memmap import Region, layouts  # noqa: E402

__all__ = ["SIZES", "measure", "learning_ticks", "main"]

SIZES = {
    "tiny": preset("tiny"),
    "small": CoreConfig(n_neurons=32, n_inputs=16, weights_per_word=4, name="small",
                        clock_hz=1_000_000, baud=100_000),
    "default": preset("default"),
}
LEVELS = (0.0, 0.25, 0.5, 1.0)


def _formula():
    try:
        from spikeloom.proto.cycles import tick_cycles
    except ImportError:
        return None
    return tick_cycles


def points(cfg: CoreConfig) -> list[tuple[int, int, int]]:
    """(delivered, fired, stdp) grid: activity levels of sources and neurons, STDP off/on."""
    s, n = cfg.n_sources, cfg.n_neurons
    ds = sorted({round(f * s) for f in LEVELS})
    fs = sorted({round(f * n) for f in LEVELS})
    return [(d, f, e) for e in (0, 1) for f in fs for d in ds]


def measure(cfg: CoreConfig, store: str) -> list[dict]:
    """Run every point of :func:`points` in one simulation; one dict per point."""
    lay = layouts(cfg)
    v_lo, v_hi = -(1 << (cfg.v_width - 1)), (1 << (cfg.v_width - 1)) - 1
    one = 1 << cfg.decay_frac
    par = lay[Region.NEURON_PARAMS]
    fire_word = par.pack({"threshold": v_lo, "alpha_mem": one, "alpha_syn": one})
    quiet_word = par.pack({"threshold": v_hi, "bias": v_lo, "alpha_mem": one, "alpha_syn": one})
    stdp = lay[Region.STDP_PARAMS]
    formula = _formula()

    async def script(drv):
        rows = []
        for d, f, e in points(cfg):
            # weights and plasticity bits stay 0 (reset), so neither inputs nor STDP change
            # which neurons fire: the thresholds alone decide
            await drv.write(Region.NEURON_PARAMS, 0,
                            [fire_word] * f + [quiet_word] * (cfg.n_neurons - f))
            await drv.write(Region.STDP_PARAMS, 0, [stdp.pack({
                "enable": e, "a_plus": 1, "a_minus": 1, "alpha_pre": one, "alpha_post": one})])
            await drv.write(Region.SPIKES, 0, [1] * d + [0] * (cfg.n_sources - d))
            rec = await drv.tick()
            if len(rec.fired) != f:
                raise AssertionError(f"{cfg.name}: wanted {f} spikes, got {len(rec.fired)}")
            hw = rec.status["last_tick_cycles"]
            # no plastic synapse: no source is listed for potentiation (R = 0)
            words = len({j // cfg.weights_per_word for j in rec.fired})
            want = (formula(cfg, d, f, bool(e), weight_store=store, listed=0, words=words,
                            plastic_delivered=0) if formula else None)
            rows.append({"size": cfg.name, "neurons": cfg.n_neurons, "sources": cfg.n_sources,
                         "store": store, "delivered": d, "fired": f, "stdp": e,
                         "listed": 0, "words": words,
                         "cycles": hw, "formula": want, "latency": rec.latency,
                         "syn_events": d * cfg.n_neurons})
        return rows

    rows = Harness(cfg, weight_store=store).run(script)
    base = {(r["fired"], r["stdp"]): r["cycles"] for r in rows if r["delivered"] == 0}
    for r in rows:
        extra = r["cycles"] - base[(r["fired"], r["stdp"])]
        r["acc_cycles"] = extra
        # only without STDP is the extra time pure accumulation (with it, depression too)
        r["events_per_cycle"] = (round(r["syn_events"] / extra, 3)
                                 if r["delivered"] and extra > 0 and not r["stdp"] else None)
    return rows


def learning_ticks(name: str, store: str, activity: float, ticks: int = 400,
                   seed: int = 21, a_plus_units: float = 4.0, all_rows: bool = False) -> dict:
    """Mean ``last_tick_cycles`` with STDP on, from a golden-model run at ``activity``.

    The scenario of issue 21: preset ``name``, every tick ``round(activity * M)`` random inputs
    injected and ``round(activity * N)`` random neurons made to fire (the others have
    ``no_spike`` set: which neurons fire is drawn, not left to the weights), so a tick delivers
    about ``activity * S`` sources; random weights, every synapse of the M input rows plastic
    (STDP on the input projection only; ``all_rows``: every synapse), the STDP rule as the
    host compiler maps ``sl.STDP(a_plus=a_plus_units, a_minus=1.2 * a_plus_units,
    tau_plus=tau_minus=20 ms)`` at dt = 1 ms and weight scale 1 (trace jump 2^(T-1), rates
    ``round(a * 2^G / jump)``, ``alpha = round(exp(-1/20) 2^F)``). Each tick's count is the
    golden device's: ``proto.cycles.tick_cycles`` with the tick's delivered, fired and listed
    sources. The first 50 ticks (traces filling up) are left out of the mean."""
    import math

    import numpy as np
    from spikeloom.proto.cycles import fired_words
    from spikeloom.sim.model import Core, STDPParams
    cfg = preset(name)
    m_in, n = cfg.n_inputs, cfg.n_neurons
    rng = np.random.default_rng(seed)
    core = Core(cfg)
    p = core.params
    p.threshold[:] = -(1 << (cfg.v_width - 1))
    one = 1 << cfg.decay_frac
    jump = 1 << (cfg.trace_width - 1)
    rate = (1 << cfg.stdp_frac) / jump
    alpha = round(math.exp(-1 / 20) * one)
    wmax = (1 << (cfg.w_width - 1)) - 1
    core.stdp = STDPParams(enable=1, a_plus=round(a_plus_units * rate),
                           a_minus=round(1.2 * a_plus_units * rate), pre_jump=jump,
                           post_jump=jump, alpha_pre=alpha, alpha_post=alpha, w_min=-wmax - 1,
                           w_max=wmax)
    core.weights[:] = rng.integers(-wmax // 4, wmax // 2, (cfg.n_sources, n))
    core.plastic[:cfg.n_sources if all_rows else m_in] = True
    k_in, k_n = round(activity * m_in), round(activity * n)
    rows = []
    for _ in range(ticks):
        fire = np.zeros(n, bool)
        fire[rng.choice(n, k_n, replace=False)] = True
        p.no_spike[:] = ~fire
        inputs = np.zeros(m_in, bool)
        inputs[rng.choice(m_in, k_in, replace=False)] = True
        res = core.step(inputs)
        assert np.array_equal(res.spikes, fire)
        cyc = res.cycles(cfg, True, store)
        rows.append((res.delivered, int(res.spikes.sum()), res.listed,
                     fired_words(cfg, res.spikes), cyc))
    arr = np.array(rows[50:], float)
    mean = arr.mean(axis=0)
    return {"preset": name, "store": store, "activity": activity, "ticks": ticks - 50,
            "plastic_rows": "all" if all_rows else "inputs",
            "cycles_mean": round(float(mean[4]), 1), "cycles_max": int(arr[:, 4].max()),
            "delivered_mean": round(float(mean[0]), 2), "fired_mean": round(float(mean[1]), 2),
            "listed_mean": round(float(mean[2]), 2), "fired_words_mean": round(float(mean[3]), 2),
            "a_plus": core.stdp.a_plus, "a_minus": core.stdp.a_minus, "seed": seed,
            "basis": "golden model, STDP on the input rows, the golden device's cycle count "
                     "(proto.cycles.tick_cycles, equal to the RTL counter: part cycles and "
                     "tests/test_core.py), mean over ticks 50..%d" % ticks}


def table(rows: list[dict]) -> str:
    head = (f"{'size':<8}{'store':<7}{'deliv':>6}{'fired':>6}{'stdp':>5}{'cycles':>9}"
            f"{'formula':>9}{'ok':>4}{'acc.cyc':>9}{'ev/cyc':>8}")
    out = [head, "-" * len(head)]
    for r in rows:
        ok = "-" if r["formula"] is None else ("yes" if r["formula"] == r["cycles"] else "NO")
        evc = "" if r["events_per_cycle"] is None else f"{r['events_per_cycle']:.2f}"
        out.append(f"{r['size']:<8}{r['store']:<7}{r['delivered']:>6}{r['fired']:>6}"
                   f"{r['stdp']:>5}{r['cycles']:>9}{str(r['formula']):>9}{ok:>4}"
                   f"{r['acc_cycles']:>9}{evc:>8}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (~2 minutes)")
    ap.add_argument("--sizes", nargs="*", choices=sorted(SIZES), help="sizes to run")
    ap.add_argument("--stores", nargs="*", default=list(WEIGHT_STORES),
                    choices=WEIGHT_STORES)
    ap.add_argument("--out", default=str(HERE / "cycles.json"))
    args = ap.parse_args(argv)
    sizes = args.sizes or (["tiny", "small"] if args.quick else ["tiny", "small", "default"])
    rows = []
    t0 = time.monotonic()
    for name in sizes:
        for store in args.stores:
            t = time.monotonic()
            part = measure(SIZES[name], store)
            rows += part
            print(f"{name}/{store}: {len(part)} points in {time.monotonic() - t:.1f} s",
                  file=sys.stderr)
    print(table(rows))
    mismatches = [r for r in rows if r["formula"] is not None and r["formula"] != r["cycles"]]
    peak = {}
    for r in rows:
        if r["events_per_cycle"] is not None:
            k = f"{r['size']}/{r['store']}"
            peak[k] = max(peak.get(k, 0), r["events_per_cycle"])
    worst = {}
    try:
        from spikeloom.proto.cycles import tick_cycles_bound
    except ImportError:
        tick_cycles_bound = None
    for name in sizes:
        for store in args.stores:
            meas = max(r["cycles"] for r in rows if r["size"] == name and r["store"] == store)
            bound = (tick_cycles_bound(SIZES[name], weight_store=store)
                     if tick_cycles_bound else None)
            worst[f"{name}/{store}"] = {"measured_max": meas, "bound": bound}
    summary = {"points": len(rows), "formula_mismatches": len(mismatches),
               "peak_accumulation_events_per_cycle": peak, "worst_tick": worst,
               "wall_seconds": round(time.monotonic() - t0, 1)}
    print(json.dumps(summary))
    pathlib.Path(args.out).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
