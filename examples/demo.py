"""The spikeloom demo (``make demo``): an STDP network learns a repeated input pattern on the
virtual board, and the golden model confirms every spike and every learned weight.

Builds the network of examples/stdp_network.py and, by default (``--url vboard``), starts the
virtual board (the exact RTL, Verilated; built on first use, about a minute), compiles the network
for its configuration, loads it, runs it, reads the plastic weights back, then does the same on
``model://`` (the golden model) and requires identical spikes, weights and counters. Any other
``--url`` runs on that device alone (``model://``, ``socket://127.0.0.1:7000`` for a board you
serve yourself, ``/dev/ttyUSB1`` for a real board). Writes into ``--out`` (default ``out/``):

- ``raster.png``: input and output spikes by population;
- ``weights.png``: input->exc weights before and after;
- ``weight_change.png`` and ``weight_hist.png``: what STDP did;
- ``demo.slimg`` (the image) and ``result.npz`` (the spikes, for ``spikeloom plot``).

Prints a summary and exits 0 when the backends agree and STDP separated the pattern inputs from
the noise inputs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import spikeloom as sl  # noqa: E402
import stdp_network as example  # noqa: E402
from spikeloom import plots  # noqa: E402


def session(url: str, net, spikes, ticks: int, timeout: float, out: Path | None) -> dict:
    """Compile, load, run and read back on one device; returns what the summary needs."""
    with sl.open(url, timeout=timeout) as board:
        cfg = board.config
        image = sl.compile(net, target=cfg)
        if out is not None:
            print(f"device: {url}  config {cfg.name!r} ({cfg.n_neurons} neurons, "
                  f"{cfg.n_inputs} inputs, hash 0x{cfg.hash():08x})")
            print(image.report.summary(all_entries=False))
            image.save(out / "demo.slimg")
        t0 = time.perf_counter()
        board.load(image)
        t_load = time.perf_counter() - t0
        proj = net["in->exc"]
        w_before = board.read_weights(proj)
        t0 = time.perf_counter()
        result = board.run(ticks, inputs={"in": spikes}, progress=out is not None)
        t_run = time.perf_counter() - t0
        w_after = board.read_weights(proj)
        raw_after = board.read_weights(proj, raw=True)
        status = board.status()
    return dict(cfg=cfg, result=result, w_before=w_before, w_after=w_after, raw=raw_after,
                status=status, t_load=t_load, t_run=t_run)


def compare(a: dict, b: dict) -> list[str]:
    """Differences between two sessions (empty when bit-identical)."""
    diffs = []
    if not np.array_equal(a["result"].dense, b["result"].dense):
        diffs.append("spikes differ")
    if not np.array_equal(a["raw"], b["raw"]):
        diffs.append("learned weights differ")
    for k in ("ticks", "spikes", "syn_events", "last_tick_cycles"):
        if a["status"][k] != b["status"][k]:
            diffs.append(f"STATUS {k}: {a['status'][k]} != {b['status'][k]}")
    return diffs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="vboard",
                    help="device URL, or 'vboard' to start the virtual board and compare it with "
                         "model:// [vboard]")
    ap.add_argument("--config", default="default", help="virtual board configuration [default]")
    ap.add_argument("--ticks", type=int, default=800, help="ticks to run [800]")
    ap.add_argument("--out", default="out", help="output directory [out]")
    ap.add_argument("--timeout", type=float, default=10.0, help="reply timeout in s [10]")
    args = ap.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    net = example.build()
    spikes = example.make_inputs(args.ticks)
    t_start = time.perf_counter()
    try:
        if args.url == "vboard":
            from spikeloom.sim.vboard import VirtualBoard
            print(f"starting the virtual board ({args.config!r}; the first run compiles the RTL "
                  "with Verilator, about a minute)...", flush=True)
            with VirtualBoard(args.config) as vb:
                cycles0 = vb.cycles
                run = session(vb.url, net, spikes, args.ticks, args.timeout, out)
                cycles = vb.cycles - cycles0
            url = vb.url
            ref = session(f"model://{args.config}", net, spikes, args.ticks, args.timeout, None)
            diffs = compare(run, ref)
        else:
            url, cycles, diffs = args.url, None, []
            run = session(args.url, net, spikes, args.ticks, args.timeout, out)
    except sl.Error as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1
    wall = time.perf_counter() - t_start

    cfg, result, status = run["cfg"], run["result"], run["status"]
    w_before, w_after = run["w_before"], run["w_after"]
    result.save(out / "result.npz")
    result.plot_raster(out / "raster.png", title=f"spikeloom demo on {url}")
    plots.weights(w_before, w_after, out / "weights.png", title="in->exc")
    plots.weight_change(w_before, w_after, out / "weight_change.png")
    plots.weight_histogram(w_before, w_after, out / "weight_hist.png")

    change = w_after - w_before
    pat = change[:example.N_PATTERN].mean()
    noise = change[example.N_PATTERN:].mean()
    exc, inh = result["exc"], result["inh"]
    print(f"neurons: {cfg.n_neurons} on the core, {exc.size} exc + {inh.size} inh used; "
          f"{cfg.n_inputs} inputs")
    print(f"ticks: {args.ticks} run in {run['t_run']:.2f} s ({args.ticks / run['t_run']:.0f} "
          f"ticks/s; load {run['t_load']:.2f} s)")
    print(f"spikes: {result.count} (exc {exc.count}, {exc.rate_hz():.1f} Hz; inh {inh.count}, "
          f"{inh.rate_hz():.1f} Hz); device counted {status['spikes']} in {status['ticks']} "
          f"ticks")
    print(f"synaptic events: {status['syn_events']}")
    if cycles is not None:
        busy = run["t_load"] + run["t_run"]
        print(f"simulated cycles: {cycles} ({cycles / cfg.clock_hz:.3f} s of a "
              f"{cfg.clock_hz / 1e6:g} MHz board), {cycles / busy / 1e6:.2f} M cycles/s "
              f"over load+run")
    print(f"wall time: {wall:.1f} s in all")
    print(f"weights in->exc: mean {w_before.mean():.4f} -> {w_after.mean():.4f}; "
          f"pattern inputs {pat:+.4f}, noise-only inputs {noise:+.4f}")
    learned = pat > noise
    print(f"STDP {'separated' if learned else 'did NOT separate'} the pattern from the noise")
    if args.url == "vboard":
        if diffs:
            print("virtual board vs model://: MISMATCH: " + "; ".join(diffs))
        else:
            print(f"virtual board vs model://: identical ({result.count} spikes, "
                  f"{run['raw'].size} weights, STATUS counters)")
    print(f"wrote {out}/raster.png weights.png weight_change.png weight_hist.png demo.slimg "
          "result.npz")
    return 0 if learned and not diffs else 1


if __name__ == "__main__":
    sys.exit(main())
