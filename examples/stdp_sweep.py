"""Sweep the STDP rates of the pattern-learning network (examples/pattern_learning.py) on Ray.

Each point of the grid runs the whole pattern-learning experiment on ``model://`` (the golden
model, in the Ray worker's process) with its potentiation rate ``a_plus`` and depression ratio
``a_minus / a_plus``, for several seeds (a different network and input noise per seed), and
returns how well the neuron learned in the last chunks: hit rate, selectivity, false alarms,
latency and the final mean weights of the early pattern inputs and of the noise inputs.

    python examples/stdp_sweep.py                       # a local Ray instance, all cores
    python examples/stdp_sweep.py --address auto        # the Ray cluster this machine is in
    spikeloom sweep examples/stdp_sweep.py --out stdp.csv   # the same grid through the CLI

Writes ``--out`` (default ``out/``): ``stdp_sweep.csv`` (one row per point) and
``stdp_sweep.png`` (selectivity and hit rate over a_plus, one line per depression ratio, mean
and range over the seeds). docs/sweeps.md walks through it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import pattern_learning as pl  # noqa: E402
import spikeloom as sl  # noqa: E402
from spikeloom.sweep import sweep  # noqa: E402

__all__ = ["fn", "grid", "TICKS", "CHUNK", "main"]

TICKS = 8_000           # 8 s of 1 ms ticks per run
CHUNK = 2_000           # weights read back every 2 s

grid = {
    "a_plus": [0.01, 0.02, 0.04, 0.08],
    "ratio": [0.8, 1.0, 1.25],          # a_minus / a_plus
    "rep": [0, 1],                      # repetitions: each gets its own seed
}


def fn(a_plus: float, ratio: float, rep: int, seed: int) -> dict:
    """One pattern-learning run with these rates; the metrics of its last 2 chunks. ``seed``
    is the sweep's deterministic per-point seed (docs/sweeps.md); ``rep`` only tells the
    repetitions apart."""
    stdp = sl.STDP(a_plus=a_plus, a_minus=ratio * a_plus, tau_plus=17.0, tau_minus=34.0,
                   w_min=0.0, w_max=1.0)
    run = pl.experiment("model://", TICKS, CHUNK, seed=seed % 2**31, stdp=stdp)
    stats = pl.analyse(run, compare=2)
    late = stats["late"]
    return {"hit_rate": float(late["hit_rate"]), "selectivity": float(late["selectivity"]),
            "fa_hz": late["fa_hz"], "latency": late["latency"],
            "w_early_pattern": float(stats["w_early_pattern"][-1]),
            "w_noise": float(stats["w_noise"][-1]), "seconds": run["seconds"]}


def _ship_helpers():
    """Workers get pattern_learning by value: they need not find examples/ (on a cluster)."""
    try:
        import cloudpickle
    except ImportError:
        return
    cloudpickle.register_pickle_by_value(pl)


_ship_helpers()


def plot(frame, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for metric, ax in zip(("selectivity", "hit_rate"), axes, strict=True):
        for k, (ratio, sub) in enumerate(frame.groupby("ratio")):
            g = sub.groupby("a_plus")[metric]
            x = g.mean().index.to_numpy()
            ax.plot(x, g.mean().to_numpy(), f"C{k}-o", label=f"a_minus = {ratio:g} a_plus")
            ax.fill_between(x, g.min().to_numpy(), g.max().to_numpy(), color=f"C{k}",
                            alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_xlabel("a_plus (potentiation per pair, w_max = 1)")
        ax.set_ylabel(metric.replace("_", " ") + " (last 4 s)")
        ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=8)
    n = frame["rep"].nunique()
    fig.suptitle(f"pattern learning vs STDP rates: mean and range over {n} seeds "
                 f"({TICKS} ticks per run, model://)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--address", help="Ray cluster address (auto, ray://HEAD:10001) [local]")
    ap.add_argument("--workers", type=int, help="parallel runs [all cores]")
    ap.add_argument("--out", default="out", help="output folder [out]")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame = sweep(fn, grid, workers=args.workers, address=args.address,
                  out=out / "stdp_sweep.csv")
    summary = frame.groupby(["a_plus", "ratio"])[["selectivity", "hit_rate", "fa_hz"]].mean()
    print(summary.round(3).to_string())
    best = summary["selectivity"].idxmax()
    print(f"most selective: a_plus = {best[0]:g}, a_minus = {best[1]:g} a_plus "
          f"(selectivity {summary['selectivity'].max():.2f})")
    plot(frame, out / "stdp_sweep.png")
    print(f"wrote {out / 'stdp_sweep.csv'} and {out / 'stdp_sweep.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
