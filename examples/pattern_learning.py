"""On-chip STDP finds a repeated spike pattern hidden in noise (after Masquelier et al. 2008).

Input: 64 spike inputs, each firing as Poisson noise (``NOISE`` per tick). Every 30..190 ticks a
fixed spatio-temporal pattern of ``PATTERN_LEN`` ticks is presented: during it, inputs
0..``N_PATTERN``-1 stop their noise and each fires exactly once at its own fixed time; the other
inputs keep firing noise. One LIF neuron receives all 64 inputs through plastic synapses and
learns with the core's own pair-based STDP rule (depression window longer than potentiation, so
uncorrelated inputs lose weight): the weights are changed on the device, the host only reads
them back between chunks of the run.

What is measured (per chunk, and first vs last ``--compare`` chunks):

- mean weight of the pattern inputs that fire before the neuron's spike in the pattern
  ("early pattern inputs"), of all pattern inputs, and of the noise-only inputs;
- hit rate: fraction of pattern presentations with an output spike inside the pattern window
  (onset .. onset + PATTERN_LEN + ``SLACK``);
- false alarms: output spikes outside every pattern window, per second (1 tick = 1 ms);
- selectivity: fraction of all output spikes that fall inside pattern windows;
- latency: first output spike in a window minus the pattern onset, in ticks.

Backends: ``--url model://`` (default, the golden model in process), ``--url vboard`` (starts a
Verilator virtual board of the ``default`` configuration inside this script), or any device URL.
``--check`` runs the same experiment on model:// and on a virtual board and asserts that every
output spike and every weight read back is identical.

Writes into ``--out`` (default ``out/``): ``pattern_weights.png`` (weights over time),
``pattern_raster.png`` (inputs and output, early and late), ``pattern_selectivity.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np
import spikeloom as sl

__all__ = ["N_IN", "N_PATTERN", "PATTERN_LEN", "SLACK", "build", "make_inputs", "experiment",
           "analyse", "main"]

N_IN = 64
N_PATTERN = 32          # inputs 0..N_PATTERN-1 carry the pattern
PATTERN_LEN = 30        # ticks
SLACK = 5               # ticks after the pattern still counted as a response to it
NOISE = 0.02            # spikes per input per tick (20 Hz at 1 ms ticks)
GAP = (30, 190)         # ticks of pure noise between two presentations (uniform)

# Depression and potentiation have the same amplitude but the depression window is twice as
# long: an input uncorrelated with the output loses weight on average; one that fires just
# before the output (the pattern's early inputs) gains.
STDP = sl.STDP(a_plus=0.04, a_minus=0.04, tau_plus=17.0, tau_minus=34.0, w_min=0.0, w_max=1.0)
NEURON = sl.LIF(tau_mem=10.0, tau_syn=2.5, threshold=20.0, refractory=5)


def build(seed: int = 0, stdp: sl.STDP = STDP) -> sl.Network:
    """One output neuron, 64 plastic input synapses with weights uniform in [0.3, 0.7]."""
    rng = np.random.default_rng(seed)
    net = sl.Network("pattern_learning")
    inp = net.inputs(N_IN, name="in")
    out = net.population(1, NEURON, name="out")
    net.connect(inp, out, weights=rng.uniform(0.3, 0.7, (N_IN, 1)), stdp=stdp, name="in->out")
    return net


def make_inputs(ticks: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(raster (ticks, N_IN) bool, onsets (k,), pattern (PATTERN_LEN, N_PATTERN) bool)``."""
    rng = np.random.default_rng(seed)
    raster = rng.random((ticks, N_IN)) < NOISE
    pattern = np.zeros((PATTERN_LEN, N_PATTERN), bool)
    pattern[rng.integers(0, PATTERN_LEN, N_PATTERN), np.arange(N_PATTERN)] = True
    onsets = []
    t = int(rng.integers(*GAP))
    while t + PATTERN_LEN + SLACK <= ticks:
        onsets.append(t)
        raster[t:t + PATTERN_LEN, :N_PATTERN] = pattern    # pattern inputs: no noise meanwhile
        t += PATTERN_LEN + int(rng.integers(*GAP))
    return raster, np.asarray(onsets, np.int64), pattern


@contextlib.contextmanager
def open_device(url: str, timeout: float):
    """``sl.open(url)``; ``url == "vboard"`` starts a virtual board for the run's duration."""
    if url == "vboard":
        from spikeloom.sim.vboard import VirtualBoard
        with VirtualBoard("default") as vb, sl.open(vb.url, timeout=timeout) as board:
            yield board
    else:
        with sl.open(url, timeout=timeout) as board:
            yield board


def experiment(url: str, ticks: int, chunk: int, *, seed: int = 0, timeout: float = 10.0,
               stdp: sl.STDP = STDP):
    """Run the learning experiment on ``url`` with the rule ``stdp``; return a dict with
    ``spikes`` (output spike ticks), ``weights`` (chunks+1, N_IN) read back before the run and
    after each chunk (model units), ``weights_raw`` (the integers), ``onsets``, ``raster``,
    ``pattern``, ``seconds``."""
    net = build(seed, stdp)
    raster, onsets, pattern = make_inputs(ticks, seed + 1)
    proj = net["in->out"]
    with open_device(url, timeout) as board:
        image = sl.compile(net, target=board.config)
        board.load(image)
        weights = [board.read_weights(proj, raw=True)[:, 0]]
        spikes = []
        t0 = time.perf_counter()
        for start in range(0, ticks, chunk):
            stop = min(ticks, start + chunk)
            result = board.run(stop - start, inputs={"in": raster[start:stop]})
            spikes.append(result["out"].events[:, 0] + start)
            weights.append(board.read_weights(proj, raw=True)[:, 0])
        seconds = time.perf_counter() - t0
        scale = image.projection("in->out").scale
    raw = np.stack(weights)
    return {"spikes": np.concatenate(spikes), "weights_raw": raw, "weights": raw / scale,
            "onsets": onsets, "raster": raster, "pattern": pattern, "seconds": seconds,
            "ticks": ticks, "chunk": chunk, "image": image}


def _window_stats(spikes, onsets, lo, hi):
    """Hit rate, false alarms per second, selectivity, mean latency over ticks [lo, hi)."""
    on = onsets[(onsets >= lo) & (onsets < hi)]
    sp = spikes[(spikes >= lo) & (spikes < hi)]
    inside = np.zeros(sp.size, bool)
    hits, lat = 0, []
    for t in on:
        w = (sp >= t) & (sp < t + PATTERN_LEN + SLACK)
        inside |= w
        if w.any():
            hits += 1
            lat.append(int(sp[w].min() - t))
    # false alarms per second of the time outside pattern windows
    outside_ticks = (hi - lo) - on.size * (PATTERN_LEN + SLACK)
    fa = int((~inside).sum())
    return {"presentations": int(on.size), "hits": hits,
            "hit_rate": hits / on.size if on.size else float("nan"),
            "false_alarms": fa, "fa_hz": 1000.0 * fa / max(outside_ticks, 1),
            "selectivity": inside.mean() if sp.size else float("nan"),
            "latency": float(np.mean(lat)) if lat else float("nan"),
            "spikes": int(sp.size)}


def analyse(run: dict, compare: int = 3) -> dict:
    """Per-chunk statistics, and the first vs the last ``compare`` chunks."""
    spikes, onsets, ticks, chunk = run["spikes"], run["onsets"], run["ticks"], run["chunk"]
    bounds = list(range(0, ticks, chunk)) + [ticks]
    per_chunk = [_window_stats(spikes, onsets, a, b) for a, b in
                 zip(bounds[:-1], bounds[1:], strict=True)]
    early = _window_stats(spikes, onsets, 0, bounds[min(compare, len(bounds) - 1)])
    late = _window_stats(spikes, onsets, bounds[max(0, len(bounds) - 1 - compare)], ticks)
    # pattern inputs that fire before the neuron's typical (late-phase) latency
    first = np.argmax(run["pattern"], axis=0)          # firing time of each pattern input
    lat = late["latency"] if np.isfinite(late["latency"]) else PATTERN_LEN
    early_inputs = np.flatnonzero(first < lat)
    w = run["weights"]
    return {"per_chunk": per_chunk, "early": early, "late": late, "early_inputs": early_inputs,
            "w_early_pattern": w[:, early_inputs].mean(axis=1),
            "w_pattern": w[:, :N_PATTERN].mean(axis=1), "w_noise": w[:, N_PATTERN:].mean(axis=1)}


def plot(run: dict, stats: dict, out: Path, url: str) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chunk, w = run["chunk"], run["weights"]
    t_axis = np.arange(w.shape[0]) * chunk / 1000.0
    names = []

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    ax1.plot(t_axis, stats["w_early_pattern"], "C3-o", ms=3,
             label=f"pattern inputs before the response ({stats['early_inputs'].size})")
    ax1.plot(t_axis, stats["w_pattern"], "C1-o", ms=3, label=f"all pattern inputs ({N_PATTERN})")
    ax1.plot(t_axis, stats["w_noise"], "C0-o", ms=3,
             label=f"noise-only inputs ({N_IN - N_PATTERN})")
    ax1.set_xlabel("time (s of simulated 1 ms ticks)")
    ax1.set_ylabel("mean weight (w_max = 1)")
    ax1.set_title("weights read back from the device")
    ax1.legend(fontsize=8)
    order = np.concatenate([np.argsort(np.argmax(run["pattern"], axis=0)),
                            np.arange(N_PATTERN, N_IN)])
    im = ax2.imshow(w[:, order].T, aspect="auto", origin="lower", cmap="viridis",
                    extent=(0, t_axis[-1] + chunk / 1000.0, 0, N_IN), vmin=0, vmax=1)
    ax2.axhline(N_PATTERN, color="w", lw=0.8)
    ax2.set_xlabel("time (s)")
    ax2.set_ylabel("input (pattern inputs by firing time, then noise inputs)")
    ax2.set_title("every weight over time")
    fig.colorbar(im, ax=ax2)
    fig.tight_layout()
    fig.savefig(out / "pattern_weights.png", dpi=110)
    plt.close(fig)
    names.append("pattern_weights.png")

    fig, axes = plt.subplots(2, 2, figsize=(12, 5.5), sharey="row",
                             gridspec_kw={"height_ratios": [4, 1]})
    span = 600
    for col, (lo, title) in enumerate(((0, "start"), (run["ticks"] - span, "end"))):
        ax, axo = axes[0, col], axes[1, col]
        r = run["raster"][lo:lo + span]
        tt, ii = np.nonzero(r)
        ax.scatter(tt + lo, ii, s=2, c=np.where(ii < N_PATTERN, "C1", "C0"))
        for t in run["onsets"][(run["onsets"] >= lo) & (run["onsets"] < lo + span)]:
            for a in (ax, axo):
                a.axvspan(t, t + PATTERN_LEN, color="C2", alpha=0.15, lw=0)
        sp = run["spikes"][(run["spikes"] >= lo) & (run["spikes"] < lo + span)]
        axo.vlines(sp, 0, 1, color="k")
        ax.set_title(f"{title} of the run (green: pattern presentations)")
        ax.set_ylabel("input")
        axo.set_ylabel("output")
        axo.set_yticks([])
        axo.set_xlabel("tick")
    fig.tight_layout()
    fig.savefig(out / "pattern_raster.png", dpi=110)
    plt.close(fig)
    names.append("pattern_raster.png")

    pc = stats["per_chunk"]
    tc = (np.arange(len(pc)) + 0.5) * chunk / 1000.0
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(13, 3.8))
    a1.plot(tc, [p["hit_rate"] for p in pc], "C2-o", ms=3, label="hit rate")
    a1.plot(tc, [p["selectivity"] for p in pc], "C4-o", ms=3, label="selectivity")
    a1.set_ylim(-0.05, 1.05)
    a1.legend(fontsize=8)
    a1.set_xlabel("time (s)")
    a2.plot(tc, [p["fa_hz"] for p in pc], "C3-o", ms=3)
    a2.set_ylabel("false alarms (Hz, outside patterns)")
    a2.set_xlabel("time (s)")
    a3.plot(tc, [p["latency"] for p in pc], "C0-o", ms=3)
    a3.set_ylabel("latency from pattern onset (ticks)")
    a3.set_xlabel("time (s)")
    fig.suptitle(f"response to the pattern, per {chunk}-tick chunk ({url})")
    fig.tight_layout()
    fig.savefig(out / "pattern_selectivity.png", dpi=110)
    plt.close(fig)
    names.append("pattern_selectivity.png")
    return names


def _fmt(s: dict) -> str:
    return (f"hit rate {s['hits']}/{s['presentations']} = {s['hit_rate']:.2f}, "
            f"false alarms {s['fa_hz']:.2f} Hz ({s['false_alarms']}), "
            f"selectivity {s['selectivity']:.2f}, latency {s['latency']:.1f} ticks")


def report(run: dict, stats: dict, url: str) -> None:
    ticks, chunk = run["ticks"], run["chunk"]
    w0, w1 = run["weights"][0], run["weights"][-1]
    n_pres = run["onsets"].size
    print(f"{url}: {ticks} ticks in {run['seconds']:.1f} s ({ticks / run['seconds']:.0f} ticks/s)"
          f", {n_pres} pattern presentations, {run['spikes'].size} output spikes, weights read "
          f"every {chunk} ticks")
    ei = stats["early_inputs"]
    print(f"weights (w_max = 1): pattern inputs before the response ({ei.size}) "
          f"{w0[ei].mean():.3f} -> {w1[ei].mean():.3f}; all pattern inputs "
          f"{w0[:N_PATTERN].mean():.3f} -> {w1[:N_PATTERN].mean():.3f}; noise-only inputs "
          f"{w0[N_PATTERN:].mean():.3f} -> {w1[N_PATTERN:].mean():.3f}")
    k = stats.get("compare", 3)
    print(f"first {k} chunks: {_fmt(stats['early'])}")
    print(f"last  {k} chunks: {_fmt(stats['late'])}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="model://",
                    help="device URL, or 'vboard' to start a virtual board [model://]")
    ap.add_argument("--ticks", type=int, default=16000, help="ticks to run [16000]")
    ap.add_argument("--chunk", type=int, default=1000, help="ticks between weight reads [1000]")
    ap.add_argument("--compare", type=int, default=3, help="chunks compared early/late [3]")
    ap.add_argument("--seed", type=int, default=0, help="network seed; inputs use seed+1 [0]")
    ap.add_argument("--out", default="out", help="output directory [out]")
    ap.add_argument("--check", action="store_true",
                    help="run on model:// and on a virtual board; require identical results")
    ap.add_argument("--timeout", type=float, default=10.0, help="reply timeout in s [10]")
    args = ap.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    urls = ["model://", "vboard"] if args.check else [args.url]
    runs = {}
    try:
        for url in urls:
            runs[url] = experiment(url, args.ticks, args.chunk, seed=args.seed,
                                   timeout=args.timeout)
    except sl.Error as exc:
        print(f"pattern_learning: error: {exc}", file=sys.stderr)
        return 1

    run = runs[urls[0]]
    stats = analyse(run, args.compare)
    stats["compare"] = args.compare
    report(run, stats, urls[0])
    names = plot(run, stats, out, urls[0])
    print(f"wrote {', '.join(str(out / n) for n in names)}")

    ok = True
    if args.check:
        a, b = runs["model://"], runs["vboard"]
        same_spikes = np.array_equal(a["spikes"], b["spikes"])
        same_w = np.array_equal(a["weights_raw"], b["weights_raw"])
        print(f"check model:// vs virtual board ({b['seconds']:.1f} s there): output spikes "
              f"{'identical' if same_spikes else 'DIFFER'} ({a['spikes'].size} vs "
              f"{b['spikes'].size}), weights at all {a['weights_raw'].shape[0]} reads "
              f"{'identical' if same_w else 'DIFFER'}")
        ok = same_spikes and same_w
    learned = stats["w_early_pattern"][-1] > stats["w_noise"][-1]
    print(f"STDP {'moved' if learned else 'did NOT move'} the weight onto the pattern inputs")
    return 0 if (ok and learned) else 1


if __name__ == "__main__":
    sys.exit(main())
