"""Spike-frequency adaptation: the same constant drive, with and without an adaptive threshold.

    python examples/adaptation.py [--url model://ulx3s_85f] [--out out] [--ticks 1000]

Two populations of heterogeneous LIF neurons get the same constant drive (a bias, different
per neuron). ``adapting`` has an adaptive threshold (``theta_jump``, ``tau_theta``: each spike
raises its threshold, which relaxes in ``tau_theta`` ms); ``plain`` has none. The run goes in
windows, reading ``theta`` back after each (``board.read_state()``). Prints each population's
rate in the first and last window and writes ``adaptation.png`` into ``--out``: the rates per
window and the mean ``theta``. The device must have the adaptive threshold
(``CoreConfig.theta_width > 0``, e.g. the presets ``ulx3s_85f``, ``tiny_full``, ``up5k``); the
default runs the golden model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import spikeloom as sl

__all__ = ["build", "run", "main"]


def build(n: int = 50, seed: int = 0) -> sl.Network:
    """``n`` adapting and ``n`` plain neurons, the same parameters and drive for both."""
    rng = np.random.default_rng(seed)
    net = sl.Network("adaptation")
    net.inputs(1, name="in")                    # unused: the drive is the bias
    common = dict(threshold=rng.uniform(0.9, 1.1, n), tau_mem=rng.uniform(15.0, 25.0, n),
                  bias=rng.uniform(0.06, 0.1, n), refractory=2)
    net.population(n, sl.LIF(**common, theta_jump=0.02, tau_theta=300.0), name="adapting")
    net.population(n, sl.LIF(**common), name="plain")
    return net


def run(url: str, ticks: int = 1000, window: int = 50, seed: int = 0) -> dict:
    """Rates per window (Hz) of both populations and the adapting ones' mean theta."""
    net = build(seed=seed)
    rates = {"adapting": [], "plain": []}
    theta = []
    with sl.open(url) as board:
        image = sl.compile(net, target=board.config)
        board.load(image)
        for t0 in range(0, ticks, window):
            result = board.run(min(window, ticks - t0))
            for name in rates:
                rates[name].append(result[name].rate_hz())
            theta.append(float(board.read_state()["adapting"].theta.mean()))
    return {"rates": {k: np.array(v) for k, v in rates.items()}, "theta": np.array(theta),
            "window": window, "dt": image.dt, "config": image.config.name}


def plot(data: dict, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = (np.arange(len(data["theta"])) + 0.5) * data["window"] * data["dt"]
    fig, (ax_r, ax_t) = plt.subplots(2, 1, figsize=(7, 5), sharex=True, layout="constrained")
    for name, r in data["rates"].items():
        ax_r.plot(t, r, marker="o", label=name)
    ax_r.set_ylabel("rate (Hz)")
    ax_r.legend()
    ax_r.set_title(f"constant drive, with and without an adaptive threshold "
                   f"({data['config']})")
    ax_t.plot(t, data["theta"], color="C0")
    ax_t.set_ylabel("mean theta (model units)")
    ax_t.set_xlabel("time (ms)")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="model://ulx3s_85f")
    ap.add_argument("--out", type=Path, default=Path("out"))
    ap.add_argument("--ticks", type=int, default=1000)
    args = ap.parse_args(argv)
    try:
        data = run(args.url, args.ticks)
    except sl.Error as exc:
        print(f"adaptation: error: {exc}", file=sys.stderr)
        return 1
    for name, r in data["rates"].items():
        print(f"{name:>9}: {r[0]:6.1f} Hz in the first window, {r[-1]:6.1f} Hz in the last "
              f"({r[-1] / r[0] - 1:+.0%})" if r[0] else f"{name}: silent in the first window")
    print(f"mean theta at the end: {data['theta'][-1]:.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"wrote {plot(data, args.out / 'adaptation.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
