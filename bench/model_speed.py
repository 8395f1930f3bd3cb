"""Speed of the golden model (``spikeloom.sim.model.Core``) against Brian2, same network and run.

One network per size (preset ``default``, ``up5k``, ``ecp5_85``): every input drives every neuron
through plastic synapses (pair STDP), and 10 % random recurrent inhibition; inputs fire at random
(5 % per tick, one fixed raster). The network is compiled once with ``spikeloom.compile`` and the
resulting *integers* are the single source of both simulations:

- the golden model gets them unchanged (regions decoded into ``Core``) and runs
  ``Core.run(ticks, inputs=raster)``, once per engine: ``fast`` (the compiled default,
  timed after a warm-up call that loads or compiles the numba kernel) and ``reference`` (the
  numpy specification); both must give the same raster and weights (checked, a mismatch fails
  the run);
- Brian2 gets the same numbers as dimensionless floats: thresholds, resets, biases and weights
  in integer units, ``tau = -dt / ln(alpha / 2^F)`` for every decay factor, refractory ticks as
  ms (dt = 1 ms = one tick), the STDP jumps, rates (``a / 2^G``) and bounds, the same synapses
  (plastic ones in one ``Synapses`` with event-driven traces, static ones in another, recurrent
  ones delayed by one tick like the core's), and a ``SpikeGeneratorGroup`` replaying the raster.

Brian2 runs in runtime mode with each code-generation target that works here (``numpy``, and
``cython`` when Cython and a C compiler are present). Its preparation (code generation and, for
Cython, compilation; a ``run(0 ms)``) is timed apart from the simulation (``run(ticks ms)``).
The ratio is Brian2 simulation time over golden-model time (the fast engine), in wall seconds
and in CPU seconds of this process (the CPU figure is the fair one on a shared machine). Spike
counts of both are reported as a sanity check only: float and integer arithmetic differ, so they
are close, not equal.

    python bench/model_speed.py [--quick] [--sizes default up5k] [--targets numpy cython]

Each size also times ``board.load(image)`` and ``board.read_weights("ff")`` on ``model://``
(the golden device's vectorised region access).

Writes bench/model_speed.json unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
import time
import warnings

import numpy as np
import spikeloom as sl
from spikeloom.proto.config import preset
from spikeloom.proto.memmap import Region
from spikeloom.sim.model import Core, NeuronParams, STDPParams

__all__ = ["SIZES", "build_network", "golden_core", "run_golden", "run_brian2", "main"]

HERE = pathlib.Path(__file__).resolve().parent
SIZES = ("default", "up5k", "ecp5_85")
TARGETS = ("numpy", "cython")
INPUT_RATE = 0.05


def build_network(cfg, seed: int = 0, a_plus: float = 0.01) -> sl.Network:
    """All inputs to all neurons with STDP, 10 % recurrent inhibition (moderate activity);
    depression is 1.2 times ``a_plus``."""
    rng = np.random.default_rng(seed)
    net = sl.Network("bench_model_speed")
    inp = net.inputs(cfg.n_inputs, name="in")
    exc = net.population(cfg.n_neurons, sl.LIF(tau_mem=20.0, tau_syn=5.0, threshold=1.0,
                                               refractory=2), name="exc")
    net.connect(inp, exc, weights=rng.uniform(0.0, 0.5, (cfg.n_inputs, cfg.n_neurons)),
                stdp=sl.STDP(a_plus=a_plus, a_minus=1.2 * a_plus, w_max=1.0), name="ff")
    net.connect(exc, exc, weights=sl.FixedProbability(0.1, -0.3), name="inh")
    return net


def golden_core(image, engine: str = "fast") -> Core:
    """A golden-model core holding exactly the compiled image's integers."""
    cfg = image.config
    core = Core(cfg, engine)
    fields = image.fields(Region.NEURON_PARAMS)
    # a feature the config lacks has no field in the image: its parameter stays 0 (unused)
    core.params = NeuronParams(**{k: np.asarray(fields[k], np.int64)[:cfg.n_neurons]
                                  if k in fields else getattr(core.params, k)
                                  for k in NeuronParams.__dataclass_fields__})
    stdp = image.fields(Region.STDP_PARAMS)
    core.stdp = STDPParams(**{k: int(stdp[k][0]) for k in STDPParams.__dataclass_fields__})
    core.weights[...] = image.weights()
    core.plastic[...] = image.plastic()
    core.check()
    return core


def run_golden(image, raster, engine: str = "fast") -> dict:
    core = golden_core(image, engine)
    if engine == "fast":
        golden_core(image, engine).run(1)         # load (or compile) the kernel: not timed
    w0, c0 = time.perf_counter(), time.process_time()
    out = core.run(len(raster), inputs=raster)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"engine": engine, "wall_s": wall, "cpu_s": cpu, "spikes": int(out.sum()),
            "ticks_per_s": len(raster) / wall, "raster": out, "weights": core.weights}


def region_io(image) -> dict:
    """Wall and CPU seconds to load ``image`` into ``model://`` (reset, write every region,
    read every region back to verify) and to read the feed-forward weights back."""
    out = {}
    with sl.open(f"model://{image.config.name}") as board:
        for name, call in (("load", lambda: board.load(image)),
                           ("read_weights", lambda: board.read_weights("ff"))):
            w0, c0 = time.perf_counter(), time.process_time()
            call()
            out[f"{name}_wall_s"] = time.perf_counter() - w0
            out[f"{name}_cpu_s"] = time.process_time() - c0
    return out


def _tau(alpha: int, frac: int) -> float:
    """Time constant (ticks) whose exact per-tick decay is ``alpha / 2^frac``."""
    a = alpha / (1 << frac)
    if a >= 1.0:
        return 1e12                  # no decay
    if a <= 0.0:
        return 1e-3                  # everything decays within the tick
    return -1.0 / math.log(a)


def run_brian2(image, raster, target: str) -> dict:
    """The same integers as a Brian2 float network; ``{"status": ...}`` with timings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import brian2 as b2
        except Exception as e:                          # noqa: BLE001 - report, do not crash
            return {"status": "unavailable", "reason": f"{type(e).__name__}: {e}"}
    cfg = image.config
    n, m, F, G = cfg.n_neurons, cfg.n_inputs, cfg.decay_frac, cfg.stdp_frac
    core = golden_core(image)
    p, st = core.params, core.stdp
    b2.prefs.codegen.target = target
    b2.prefs.logging.file_log = False
    b2.prefs.logging.console_log_level = "ERROR"
    ms = b2.ms
    b2.defaultclock.dt = 1 * ms
    # one time constant per population in this network; check rather than assume
    if len(set(p.alpha_mem.tolist())) != 1 or len(set(p.alpha_syn.tolist())) != 1:
        return {"status": "skipped", "reason": "per-neuron time constants not mapped"}
    ns = {"tau_m": _tau(int(p.alpha_mem[0]), F) * ms, "tau_s": _tau(int(p.alpha_syn[0]), F) * ms,
          "tau_pre": _tau(st.alpha_pre, F) * ms, "tau_post": _tau(st.alpha_post, F) * ms,
          "tick": 1 * ms, "a_plus": st.a_plus / (1 << G), "a_minus": st.a_minus / (1 << G),
          "j_pre": float(st.pre_jump), "j_post": float(st.post_jump),
          "w_lo": float(st.w_min), "w_hi": float(st.w_max)}
    t_setup = time.perf_counter()
    c_setup = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = b2.NeuronGroup(
            n, """dv/dt = -v / tau_m + (I + bias) / tick : 1 (unless refractory)
                  dI/dt = -I / tau_s : 1
                  theta : 1
                  v_reset : 1
                  bias : 1
                  ref : second""",
            threshold="v >= theta", reset="v = v_reset", refractory="ref", method="exact",
            namespace=ns, name="exc")
        g.theta = p.threshold.astype(float)
        g.v_reset = p.v_reset.astype(float)
        g.bias = p.bias.astype(float)
        g.ref = p.refractory.astype(float) * ms
        ticks, idx = np.nonzero(raster)
        src = b2.SpikeGeneratorGroup(m, idx, ticks * ms, name="inputs")
        w = core.weights
        plastic = core.plastic
        objs = [g, src]
        rows, cols = np.nonzero(plastic[:m])
        if rows.size:
            syn = b2.Synapses(
                src, g, """w : 1
                           dx/dt = -x / tau_pre : 1 (event-driven)
                           dy/dt = -y / tau_post : 1 (event-driven)""",
                on_pre="""I_post += w
                          x += j_pre
                          w = clip(w - a_minus * y, w_lo, w_hi)""",
                on_post="""y += j_post
                           w = clip(w + a_plus * x, w_lo, w_hi)""",
                namespace=ns, name="plastic_in")
            syn.connect(i=rows, j=cols)
            syn.w = w[rows, cols].astype(float)
            objs.append(syn)
        rows, cols = np.nonzero(~plastic[:m] & (w[:m] != 0))
        if rows.size:
            s2 = b2.Synapses(src, g, "w : 1", on_pre="I_post += w", name="static_in")
            s2.connect(i=rows, j=cols)
            s2.w = w[rows, cols].astype(float)
            objs.append(s2)
        if plastic[m:].any():
            return {"status": "skipped", "reason": "plastic recurrent synapses not mapped"}
        rows, cols = np.nonzero(w[m:] != 0)
        if rows.size:
            # the core delivers a neuron's spike in the next tick
            rec = b2.Synapses(g, g, "w : 1", on_pre="I_post += w", delay=1 * ms, name="recur")
            rec.connect(i=rows, j=cols)
            rec.w = w[m:][rows, cols].astype(float)
            objs.append(rec)
        mon = b2.SpikeMonitor(g, record=False, name="count")
        net = b2.Network(*objs, mon)
        try:
            net.run(0 * ms, namespace={})
        except Exception as e:                          # noqa: BLE001 - e.g. no compiler
            return {"status": "failed", "reason": f"{type(e).__name__}: {str(e)[:300]}"}
        prep_wall = time.perf_counter() - t_setup
        prep_cpu = time.process_time() - c_setup
        w0, c0 = time.perf_counter(), time.process_time()
        net.run(len(raster) * ms, namespace={})
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"status": "measured", "target": target, "mode": "runtime",
            "prep_wall_s": prep_wall, "prep_cpu_s": prep_cpu, "wall_s": wall, "cpu_s": cpu,
            "spikes": int(mon.num_spikes), "ticks_per_s": len(raster) / wall,
            "synapses": int(sum(len(o) for o in objs if isinstance(o, b2.Synapses)))}


def measure(size: str, ticks: int, targets, seed: int = 0) -> dict:
    cfg = preset(size)
    image = sl.compile(build_network(cfg, seed), target=cfg)
    raster = np.random.default_rng(seed + 1).random((ticks, cfg.n_inputs)) < INPUT_RATE
    g, ref = run_golden(image, raster, "fast"), run_golden(image, raster, "reference")
    identical = bool(np.array_equal(g.pop("raster"), ref.pop("raster"))
                     and np.array_equal(g.pop("weights"), ref.pop("weights")))
    ref["speedup_fast"] = ref["cpu_s"] / g["cpu_s"] if g["cpu_s"] > 0 else None
    row = {"size": size, "neurons": cfg.n_neurons, "inputs": cfg.n_inputs, "ticks": ticks,
           "input_spikes": int(raster.sum()), "golden": g, "reference": ref,
           "engines_identical": identical, "model_url": region_io(image), "brian2": {}}
    for target in targets:
        r = run_brian2(image, raster, target)
        if r["status"] == "measured":
            r["ratio_wall"] = r["wall_s"] / g["wall_s"]     # > 1: the golden model is faster
            r["ratio_cpu"] = r["cpu_s"] / g["cpu_s"] if g["cpu_s"] > 0 else None
        row["brian2"][target] = r
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="default size only, 300 ticks")
    ap.add_argument("--sizes", nargs="*", choices=SIZES)
    ap.add_argument("--targets", nargs="*", default=list(TARGETS), choices=TARGETS)
    ap.add_argument("--ticks", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "model_speed.json"))
    args = ap.parse_args(argv)
    sizes = args.sizes or (["default"] if args.quick else list(SIZES))
    ticks = args.ticks or (300 if args.quick else 2000)
    t0 = time.perf_counter()
    rows = []
    for size in sizes:
        row = measure(size, ticks, args.targets, args.seed)
        rows.append(row)
        g, ref = row["golden"], row["reference"]
        print(f"{size}: {row['neurons']} neurons, {row['inputs']} inputs, {ticks} ticks; golden "
              f"model {g['wall_s']:.3f} s ({g['ticks_per_s']:.0f} ticks/s, {g['spikes']} spikes); "
              f"reference engine {ref['wall_s']:.3f} s ({ref['ticks_per_s']:.0f} ticks/s), "
              f"{'identical' if row['engines_identical'] else 'DIFFERENT'}; model:// load "
              f"{row['model_url']['load_cpu_s']:.2f} s CPU, read_weights "
              f"{row['model_url']['read_weights_cpu_s']:.3f} s CPU")
        for target, r in row["brian2"].items():
            if r["status"] != "measured":
                print(f"  brian2 {target}: {r['status']}: {r['reason']}")
                continue
            print(f"  brian2 {target}: prep {r['prep_wall_s']:.1f} s, run {r['wall_s']:.3f} s "
                  f"({r['spikes']} spikes): {r['ratio_wall']:.1f}x wall, "
                  f"{r['ratio_cpu']:.1f}x CPU the golden model's time")
    result = {"ticks": ticks, "input_rate": INPUT_RATE, "seed": args.seed, "rows": rows,
              "wall_s": time.perf_counter() - t0}
    pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    # the engines must agree bit for bit: a difference is a bug, reported as a failed run
    return 0 if all(r["engines_identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
