"""Song, Miller & Abbott (2000): STDP makes one neuron's input weights bimodal.

The reduced model (current-based, one tick = 1 ms): one LIF neuron behind ``n_inputs``
independent Poisson inputs, every synapse excitatory and plastic with the paper's additive pair
rule, A+ = 0.005 gmax, A-/A+ = 1.05, tau+ = tau- = 20 ms, weights clipped to [0, gmax] and
drawn uniform in [0, gmax] at the start. In the paper the competition between synapses pushes
the weights to 0 or to gmax (a bimodal distribution) and the output rate settles to a stable
value. Measured: the fraction of weights below 0.1 gmax and above 0.9 gmax and the output rate
over time, on the core (``model://``, the golden model's fast engine in this process) and on a
Brian2 twin of the same reduced model, side by side.

The core: the ``ecp5_85`` preset's 256 inputs (the largest input count of a preset) with one
neuron, two more ``CoreConfig`` options, and the preset's 8-bit weights and traces:

- ``rule_bits = 2``: the v2 learning options need a core with several rules; this run uses one
  rule with **stochastic rounding**: A+ = 0.005 gmax is 0.64 of a weight unit (gmax = 127), which
  a floored step would turn into 0 (the compiler refuses that) and which stochastic rounding
  applies on average;
- ``stdp_frac = 16``: the rate precision that holds A-/A+ = 1.05 to 0.1 % (with the preset's 8
  fractional bits both rates round to 1 and the ratio to 1.0, which removes the asymmetry the
  result depends on).

The gateware implements several rules with stochastic rounding (on the dual store), so
``--check`` runs the first ``--check-seconds`` (20) of the same compiled network, weights and
raster on ``model://`` and on a Verilator virtual board built for this core and requires the
output spikes and every weight read (each second) to be identical (:func:`check_vboard`; the
500 s runs stay on ``model://``, the fast engine, for speed).

**Calibration** (the paper's neuron is conductance-based with 1000 inputs; a current-based
neuron with a few hundred inputs drifts to potentiation when its mean input is above threshold):
the neuron starts *fluctuation-driven*, its mean membrane potential below threshold so that it
fires on input fluctuations. :class:`Params` states the values: threshold 16, reset 10 (the
paper's -54 and -60 mV against a rest of -70 mV, in model units from rest), tau_mem 10 ms (the
shorter effective time constant of a conductance-based neuron under synaptic bombardment; 20 ms
gave broad, not bimodal, distributions), tau_syn 5 ms, 20 Hz inputs and ``gmax`` = 0.08, so the
mean drive at the initial mean weight gmax/2 is 0.74 of the threshold (:attr:`Params.drive`,
:func:`mean_drive` gives the arithmetic). ``python examples/song2000.py --calibrate`` prints
the drive and the initial output rate of a few settings; docs/results.md lists what was tried.
What this run found: the core (8-bit traces) settles at a bimodal distribution and a stable
output rate, the float twin runs away to potentiation; the core with 12-bit traces
(``--trace-width 12``) runs away as the twin does, so the truncation of the 8-bit traces is
what stops the runaway (docs/results.md).

**The Brian2 twin** gets the compiled integers as floats (threshold, reset, weights, decay
factors ``a = alpha / 2^F``, trace jumps, rates ``a / 2^G``, bounds) and runs the same
discrete-time dynamics in float64 at dt = 1 ms: ``v := a_m v + I; I := a_s I`` each step, traces
decaying exactly by ``a`` per ms, the pair rule on every pre and post spike, the same input
raster. The difference left is the arithmetic: integer truncation of v, I and the traces, the
8-bit weights and stochastic rounding on the core, float64 in Brian2. (Brian2 delivers an input
in the step after the one it is emitted in, and runs ``on_pre`` before ``on_post``: the twin
emits every input one step early, runs the post pathway first and corrects the rates by one
trace decay, which reproduces the core's order inside a tick exactly; :func:`run_brian2`.)

    python examples/song2000.py                 # 500 s of simulated time, both simulators
    python examples/song2000.py --seconds 20 --no-brian2
    python examples/song2000.py --seconds 20 --no-brian2 --check    # also the virtual board

Writes ``out/song2000.png`` (``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import spikeloom as sl

__all__ = ["PRESET", "Params", "config", "mean_drive", "build", "make_inputs", "run_model",
           "run_brian2", "session", "check_vboard", "fractions", "experiment", "plot", "main"]

#: the preset whose input count the core takes (the largest of any preset: 256)
PRESET = "ecp5_85"
LOW, HIGH = 0.1, 0.9        # the fractions reported: w < LOW * gmax, w > HIGH * gmax


@dataclasses.dataclass(frozen=True)
class Params:
    """The reduced model, in model units (voltages from rest; a weight is the jump of the
    synaptic current, which is added to v every tick) and ms (dt = 1 ms)."""
    rate_hz: float = 20.0       # every input's Poisson rate
    gmax: float = 0.08          # w_max; initial weights uniform in [0, gmax]
    threshold: float = 16.0
    v_reset: float = 10.0
    tau_mem: float = 10.0       # the effective (high-conductance) membrane time constant
    tau_syn: float = 5.0
    a_plus: float = 0.005       # of gmax
    ratio: float = 1.05         # A- / A+
    tau_stdp: float = 20.0      # tau+ = tau-
    seconds: float = 500.0      # simulated time
    chunk_s: float = 5.0        # weights read and output rate counted every chunk

    @property
    def drive(self) -> float:
        """Mean membrane drive at the initial mean weight gmax/2, as a fraction of threshold."""
        return mean_drive(self, self.gmax / 2) / self.threshold


def config(n_inputs: int | None = None, trace_width: int | None = None) -> sl.CoreConfig:
    """The core of this run: the preset's inputs (or ``n_inputs``), one neuron, several rules
    (stochastic rounding), 16 fractional rate bits (module docstring); ``trace_width``
    replaces the preset's 8-bit traces (docs/results.md: what the trace truncation does)."""
    base = sl.preset(PRESET)
    return base.replace(n_inputs=n_inputs or base.n_inputs, n_neurons=1, rule_bits=2,
                        stdp_frac=16, trace_width=trace_width or base.trace_width,
                        name="song2000")


def mean_drive(p: Params, w: float, n_inputs: int | None = None) -> float:
    """Mean membrane potential (model units, no threshold) of the discrete dynamics
    ``I := a_s I + sum w; v := a_m v + I`` with every input at weight ``w``: each input spike
    adds ``w / (1 - a_s)`` to the current's sum over time, each unit of current
    ``1 / (1 - a_m)`` to the membrane's."""
    n = n_inputs or config().n_inputs
    a_m, a_s = math.exp(-1.0 / p.tau_mem), math.exp(-1.0 / p.tau_syn)
    return n * p.rate_hz / 1000.0 * w / ((1 - a_s) * (1 - a_m))


def build(p: Params, n_inputs: int, seed: int = 0, *, learn: bool = True) -> sl.Network:
    """The network: ``n_inputs`` inputs -> one LIF neuron, plastic synapses (rule with
    stochastic rounding), initial weights uniform in [0, gmax] (``seed``)."""
    rng = np.random.default_rng(seed)
    net = sl.Network("song2000")
    inp = net.inputs(n_inputs, name="in")
    out = net.population(1, sl.LIF(tau_mem=p.tau_mem, tau_syn=p.tau_syn,
                                   threshold=p.threshold, v_reset=p.v_reset), name="out")
    stdp = sl.STDP(a_plus=p.a_plus * p.gmax, a_minus=p.ratio * p.a_plus * p.gmax,
                   tau_plus=p.tau_stdp, tau_minus=p.tau_stdp, w_min=0.0, w_max=p.gmax,
                   stochastic=True) if learn else None
    net.connect(inp, out, weights=rng.uniform(0.0, p.gmax, (n_inputs, 1)), stdp=stdp,
                name="syn")
    return net


def make_inputs(p: Params, n_inputs: int, ticks: int, seed: int = 1) -> np.ndarray:
    """``(ticks, n_inputs)`` bool Poisson raster (``rate_hz`` per input); tick 0 is silent
    (the Brian2 twin emits every input one step early, see :func:`run_brian2`)."""
    raster = np.random.default_rng(seed).random((ticks, n_inputs)) < p.rate_hz / 1000.0
    raster[0] = False
    return raster


def _core(image: sl.Image):
    """The golden model (fast engine) loaded from the image's regions, as a device is."""
    from spikeloom.sim.model import Core
    return Core.from_image(image)


def run_model(image: sl.Image, raster: np.ndarray, chunk: int) -> dict:
    """The core (golden model, fast engine, in process) over ``raster``: ``weights`` (k+1, n)
    integers read before the run and after each ``chunk`` ticks, ``spikes`` per chunk, the
    output spike ``times`` (ticks)."""
    core = _core(image)
    n = raster.shape[1]
    weights, spikes, times = [core.weights[:n, 0].copy()], [], []
    t0 = time.perf_counter()
    for start in range(0, raster.shape[0], chunk):
        out = core.run(min(chunk, raster.shape[0] - start), raster[start:start + chunk])
        spikes.append(int(out.sum()))
        times.append(start + np.flatnonzero(out[:, 0]))
        weights.append(core.weights[:n, 0].copy())
    return {"weights": np.stack(weights), "spikes": np.asarray(spikes),
            "seconds": time.perf_counter() - t0, "w_max": int(core.rules[0].w_max),
            "times": np.concatenate(times)}


def run_brian2(image: sl.Image, raster: np.ndarray, chunk: int) -> dict:
    """The Brian2 twin (module docstring) over the same raster; same outputs as
    :func:`run_model` (weights as floats in integer units)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import brian2 as b2
    core = _core(image)
    cfg = image.config
    F, G = cfg.decay_frac, cfg.stdp_frac
    rule, p = core.rules[0], core.params
    n = raster.shape[1]

    def a(alpha):
        return int(alpha) / (1 << F)

    a_pre, a_post = a(rule.alpha_pre), a(rule.alpha_post)
    ns = {"a_m": a(p.alpha_mem[0]), "a_s": a(p.alpha_syn[0]),
          "tau_pre": -1.0 / math.log(a_pre) * b2.ms, "tau_post": -1.0 / math.log(a_post) * b2.ms,
          "j_pre": float(rule.pre_jump), "j_post": float(rule.post_jump),
          # one more decay of x before a potentiation, one less of y before a depression than
          # on the core (inputs emitted one step early): corrected here, exactly
          "c_plus": rule.a_plus / (1 << G) / a_pre, "c_minus": rule.a_minus / (1 << G) * a_post,
          "w_lo": float(rule.w_min), "w_hi": float(rule.w_max),
          "theta": float(p.threshold[0]), "v_reset": float(p.v_reset[0])}
    b2.prefs.codegen.target = "numpy"
    b2.prefs.logging.file_log = False
    b2.prefs.logging.console_log_level = "ERROR"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b2.defaultclock.dt = 1 * b2.ms
        g = b2.NeuronGroup(1, "v : 1\nI : 1", threshold="v >= theta", reset="v = v_reset",
                           namespace=ns, name="song_out")
        # the core's tick: v := a_m v + I (I holds this tick's input), then I decays
        g.run_regularly("v = a_m * v + I\nI = a_s * I", when="groups")
        # spikes are given one chunk at a time: SpikeGeneratorGroup prepares all its spikes
        # before every run, which over a whole long raster costs more than the simulation
        t_all, i_all = np.nonzero(raster)
        src = b2.SpikeGeneratorGroup(n, [], [] * b2.ms, name="song_in")
        syn = b2.Synapses(src, g, """w : 1
                                     dx/dt = -x / tau_pre : 1 (event-driven)
                                     dy/dt = -y / tau_post : 1 (event-driven)""",
                          on_pre="""I_post += w
                                    x += j_pre
                                    w = clip(w - c_minus * y, w_lo, w_hi)""",
                          on_post="""w = clip(w + c_plus * x, w_lo, w_hi)
                                     y += j_post""",
                          namespace=ns, name="song_syn")
        syn.connect(i=np.arange(n), j=0)
        syn.post.order = -2     # post pathway before pre: the core's depression sees y after
        syn.w = core.weights[:n, 0].astype(float)     # a post spike of the same tick
        mon = b2.SpikeMonitor(g, name="song_mon")
        net = b2.Network(g, src, syn, mon)
        weights, spikes = [np.asarray(syn.w[:]).copy()], []
        t0 = time.perf_counter()
        for start in range(0, raster.shape[0], chunk):
            # the step emitting tick t's inputs is t - 1, so this run (steps start ..
            # start + chunk - 1) emits ticks start + 1 .. start + chunk
            sel = (t_all > start) & (t_all <= start + chunk)
            src.set_spikes(i_all[sel], (t_all[sel] - 1) * b2.ms)
            before = int(mon.num_spikes)
            net.run(min(chunk, raster.shape[0] - start) * b2.ms, namespace={})
            spikes.append(int(mon.num_spikes) - before)
            weights.append(np.asarray(syn.w[:]).copy())
    return {"weights": np.stack(weights), "spikes": np.asarray(spikes),
            "seconds": time.perf_counter() - t0, "w_max": float(rule.w_max),
            "times": np.rint(np.asarray(mon.t / b2.ms)).astype(np.int64)}


def session(board, image: sl.Image, raster: np.ndarray, chunk: int) -> dict:
    """``image`` loaded on ``board`` (any device) and run over ``raster`` ``chunk`` ticks at a
    time: the output spike ``events`` (tick, neuron) of the whole run and the integer
    ``weights`` (k+1, n) read back before the run and after each chunk."""
    board.load(image)
    weights, events = [board.read_weights("syn", raw=True)[:, 0]], []
    for start in range(0, raster.shape[0], chunk):
        res = board.run(min(chunk, raster.shape[0] - start),
                        inputs={"in": raster[start:start + chunk]}, progress=False)
        events.append(res.events + [start, 0])
        weights.append(board.read_weights("syn", raw=True)[:, 0])
    return {"events": np.concatenate(events), "weights": np.stack(weights)}


def check_vboard(p: Params, *, seconds: float = 20.0, chunk_s: float = 1.0,
                 cfg: sl.CoreConfig | None = None, seed: int = 0, timeout: float = 120.0,
                 exe=None) -> dict:
    """The first ``seconds`` of the run (same network, weights, raster and compile seed as
    :func:`experiment`) on ``model://`` and on a Verilator virtual board built for ``cfg``
    (default :func:`config`; all its inputs are used): the output spikes and every weight read
    (every ``chunk_s``) must be identical. ``exe``: a prebuilt harness for ``cfg``."""
    from spikeloom.sim.vboard import VirtualBoard
    cfg = cfg or config()
    n = cfg.n_inputs
    image = sl.compile(build(p, n, seed), target=cfg, seed=seed + 0x5EED)
    ticks, chunk = round(seconds * 1000), round(chunk_s * 1000)
    raster = make_inputs(p, n, ticks, seed + 1)
    t0 = time.perf_counter()
    with VirtualBoard(cfg, exe=exe) as vb, sl.open(vb.url, timeout=timeout) as board:
        t1 = time.perf_counter()
        rtl = session(board, image, raster, chunk)
    t2 = time.perf_counter()
    with sl.open("model://", config=cfg) as board:
        model = session(board, image, raster, chunk)
    return {"identical": bool(np.array_equal(model["events"], rtl["events"])
                              and np.array_equal(model["weights"], rtl["weights"])),
            "ticks": ticks, "inputs": n, "weight_reads": len(model["weights"]),
            "spikes": len(model["events"]),
            "weights_changed": int((model["weights"][-1] != model["weights"][0]).sum()),
            "build_seconds": round(t1 - t0, 1), "vboard_seconds": round(t2 - t1, 1)}


def fractions(run: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per read-out: the fraction of weights below LOW * w_max and above HIGH * w_max."""
    w = run["weights"] / run["w_max"]
    return (w < LOW).mean(axis=1), (w > HIGH).mean(axis=1)


def experiment(p: Params, *, n_inputs: int | None = None, trace_width: int | None = None,
               seed: int = 0, brian2: bool = True, log=print) -> dict:
    """Compile, run the core and (``brian2``) the twin; the runs and their summaries."""
    cfg = config(n_inputs, trace_width)
    n = cfg.n_inputs
    image = sl.compile(build(p, n, seed), target=cfg, seed=seed + 0x5EED)
    note = next(x for x in image.report.notes if x.startswith("rule 1"))
    ticks, chunk = round(p.seconds * 1000), round(p.chunk_s * 1000)
    raster = make_inputs(p, n, ticks, seed + 1)
    runs = {"spikeloom": run_model(image, raster, chunk)}
    log(f"  model://: {ticks} ticks in {runs['spikeloom']['seconds']:.1f} s")
    if brian2:
        runs["brian2"] = run_brian2(image, raster, chunk)
        log(f"  Brian2:   {ticks} steps in {runs['brian2']['seconds']:.1f} s")
    for r in runs.values():
        r["frac_low"], r["frac_high"] = fractions(r)
        r["rate_hz"] = r["spikes"] / p.chunk_s
    return {"runs": runs, "params": p, "n_inputs": n, "rule_note": note, "image": image,
            "ticks": ticks, "chunk": chunk, "config": cfg}


def plot(res: dict, path: Path) -> None:
    """Side by side: weight histogram over time per simulator; fractions, output rate and the
    final histogram of both."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    runs, p = res["runs"], res["params"]
    names = list(runs)
    fig, axes = plt.subplots(2, max(3, len(names)), figsize=(14, 7.5))
    t = np.arange(runs[names[0]]["weights"].shape[0]) * p.chunk_s
    bins = np.linspace(0, 1, 21)
    for k, name in enumerate(names):
        w = runs[name]["weights"] / runs[name]["w_max"]
        hist = np.stack([np.histogram(row, bins)[0] for row in w]) / w.shape[1]
        ax = axes[0, k]
        im = ax.imshow(hist.T, aspect="auto", origin="lower", cmap="magma",
                       extent=(0, t[-1], 0, 1), vmin=0, vmax=0.5)
        ax.set_title(f"{name}: weight histogram over time")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("w / gmax")
        fig.colorbar(im, ax=ax, label="fraction of synapses")
    for ax in axes[0, len(names):]:
        ax.set_axis_off()
    style = {"spikeloom": "-", "brian2": "--"}
    for name in names:
        r = runs[name]
        axes[1, 0].plot(t, r["frac_low"], "C0" + style[name], label=f"{name}: w < 0.1 gmax")
        axes[1, 0].plot(t, r["frac_high"], "C3" + style[name], label=f"{name}: w > 0.9 gmax")
        axes[1, 1].plot(t[1:] - p.chunk_s / 2, r["rate_hz"], "k" + style[name], label=name)
        w = r["weights"][-1] / r["w_max"]
        axes[1, 2].hist(w, bins, histtype="step" if name == "brian2" else "stepfilled",
                        alpha=1.0 if name == "brian2" else 0.5, label=name,
                        color="k" if name == "brian2" else "C1")
    axes[1, 0].set_xlabel("time (s)")
    axes[1, 0].set_ylabel("fraction of synapses")
    axes[1, 0].legend(fontsize=7)
    axes[1, 1].set_xlabel("time (s)")
    axes[1, 1].set_ylabel(f"output rate (Hz, per {p.chunk_s:g} s)")
    axes[1, 1].legend(fontsize=8)
    axes[1, 2].set_xlabel(f"w / gmax after {p.seconds:g} s")
    axes[1, 2].set_ylabel("synapses")
    axes[1, 2].legend(fontsize=8)
    fig.suptitle(f"Song, Miller & Abbott (2000), reduced: {res['n_inputs']} Poisson inputs at "
                 f"{p.rate_hz:g} Hz, A+ = {p.a_plus:g} gmax, A-/A+ = {p.ratio:g}, "
                 f"tau = {p.tau_stdp:g} ms (model:// fast engine vs Brian2 float64)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _summary(name: str, r: dict, p: Params) -> str:
    last = max(1, round(10.0 / p.chunk_s))      # the output rate over the last 10 s
    return (f"{name:>9}: w < {LOW:g} gmax {r['frac_low'][0]:.2f} -> {r['frac_low'][-1]:.3f}, "
            f"w > {HIGH:g} gmax {r['frac_high'][0]:.2f} -> {r['frac_high'][-1]:.3f}; output "
            f"rate {r['rate_hz'][0]:.1f} Hz (first {p.chunk_s:g} s) -> "
            f"{r['spikes'][-last:].sum() / (last * p.chunk_s):.1f} Hz (last {last * p.chunk_s:g}"
            f" s); {r['seconds']:.1f} s wall")


def calibrate(settings, seconds: float = 10.0) -> None:
    """The drive and the output rate with learning off, for ``(rate_hz, gmax)`` settings."""
    for rate, gmax in settings:
        p = Params(rate_hz=rate, gmax=gmax, seconds=seconds, chunk_s=seconds)
        cfg = config()
        image = sl.compile(build(p, cfg.n_inputs, learn=False), target=cfg)
        r = run_model(image, make_inputs(p, cfg.n_inputs, round(seconds * 1000)),
                      round(seconds * 1000))
        print(f"rate {rate:g} Hz, gmax {gmax:g}: mean drive at gmax/2 = {p.drive:.2f} of "
              f"threshold; output {r['spikes'].sum() / seconds:.1f} Hz (learning off)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=Params.seconds,
                    help=f"simulated seconds [{Params.seconds:g}]")
    ap.add_argument("--rate", type=float, default=Params.rate_hz, help="input rate, Hz")
    ap.add_argument("--gmax", type=float, default=Params.gmax, help="w_max, model units")
    ap.add_argument("--inputs", type=int, default=None,
                    help=f"inputs [the {PRESET} preset's]")
    ap.add_argument("--trace-width", type=int, default=None,
                    help="STDP trace bits [the preset's 8]")
    ap.add_argument("--seed", type=int, default=0, help="weights seed; inputs use seed+1 [0]")
    ap.add_argument("--no-brian2", action="store_true", help="the core only")
    ap.add_argument("--check", action="store_true",
                    help="also run the first --check-seconds on model:// and a virtual board "
                         "(Verilator) and require identical spikes and weights")
    ap.add_argument("--check-seconds", type=float, default=20.0,
                    help="simulated seconds of the check [20]")
    ap.add_argument("--calibrate", action="store_true",
                    help="print the drive and output rate of a few (rate, gmax) settings")
    ap.add_argument("--out", default="out", help="output directory [out]")
    args = ap.parse_args(argv)
    if args.calibrate:
        calibrate([(args.rate, g) for g in (0.06, 0.07, args.gmax, 0.09, 0.1)])
        return 0
    p = Params(rate_hz=args.rate, gmax=args.gmax, seconds=args.seconds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"song2000: {config(args.inputs).n_inputs} inputs at {p.rate_hz:g} Hz, gmax "
          f"{p.gmax:g} (mean drive at gmax/2: {p.drive:.2f} of threshold), {p.seconds:g} s")
    try:
        res = experiment(p, n_inputs=args.inputs, trace_width=args.trace_width, seed=args.seed,
                         brian2=not args.no_brian2)
    except sl.Error as exc:
        print(f"song2000: error: {exc}", file=sys.stderr)
        return 1
    print(f"compiled: {res['rule_note']}")
    for name, r in res["runs"].items():
        print(_summary(name, r, p))
    plot(res, out / "song2000.png")
    print(f"wrote {out / 'song2000.png'}")
    r = res["runs"]["spikeloom"]
    lo, hi = r["frac_low"][-1], r["frac_high"][-1]
    bimodal = lo > 0.05 and hi > 0.05 and lo + hi > 0.5     # mass at both ends
    print(f"weights {'became' if bimodal else 'did NOT become'} bimodal on the core")
    same = True
    if args.check:
        c = check_vboard(p, seconds=args.check_seconds, cfg=config(args.inputs, args.trace_width),
                         seed=args.seed)
        same = c["identical"]
        print(f"check model:// vs virtual board, first {c['ticks']} ticks: {c['spikes']} "
              f"output spikes and {c['weight_reads']} reads of {c['inputs']} weights "
              f"({c['weights_changed']} changed) {'identical' if same else 'DIFFER'} "
              f"({c['build_seconds']:.0f} s build/start, {c['vboard_seconds']:.0f} s there)")
    return 0 if bimodal and same else 1


if __name__ == "__main__":
    sys.exit(main())
