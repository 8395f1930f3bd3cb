"""The spikeloom demo (``make demo``): an STDP network learns a repeated input pattern.

Builds the network of examples/stdp_network.py, opens a device (``--url``, default the golden
model ``model://``; a virtual board is ``socket://127.0.0.1:7000``, a real board
``/dev/ttyUSB1``), compiles for that device's configuration, loads it, runs, reads the plastic
weights back and writes into ``--out`` (default ``out/``):

- ``raster.png``: input and output spikes by population;
- ``weights.png``: input->exc weights before and after;
- ``weight_change.png`` and ``weight_hist.png``: what STDP did;
- ``demo.slimg`` (the image) and ``result.npz`` (the spikes, for ``spikeloom plot``).

Prints a summary and exits 0 when STDP separated the pattern inputs from the noise inputs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import spikeloom as sl  # noqa: E402
import stdp_network as example  # noqa: E402
from spikeloom import plots  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="model://", help="device URL [model://]")
    ap.add_argument("--ticks", type=int, default=800, help="ticks to run [800]")
    ap.add_argument("--out", default="out", help="output directory [out]")
    ap.add_argument("--timeout", type=float, default=5.0, help="reply timeout in s [5]")
    args = ap.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    net = example.build()
    spikes = example.make_inputs(args.ticks)

    try:
        with sl.open(args.url, timeout=args.timeout) as board:
            cfg = board.config
            print(f"device: {args.url}  config {cfg.name!r} ({cfg.n_neurons} neurons, "
                  f"{cfg.n_inputs} inputs, hash 0x{cfg.hash():08x})")
            image = sl.compile(net, target=cfg)
            print(image.report.summary(all_entries=False))
            image.save(out / "demo.slimg")
            t0 = time.perf_counter()
            board.load(image)
            t_load = time.perf_counter() - t0
            proj = net["in->exc"]
            w_before = board.read_weights(proj)
            t0 = time.perf_counter()
            result = board.run(args.ticks, inputs={"in": spikes})
            t_run = time.perf_counter() - t0
            w_after = board.read_weights(proj)
            status = board.status()
    except sl.Error as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1

    result.save(out / "result.npz")
    result.plot_raster(out / "raster.png", title=f"spikeloom demo on {args.url}")
    plots.weights(w_before, w_after, out / "weights.png", title="in->exc")
    plots.weight_change(w_before, w_after, out / "weight_change.png")
    plots.weight_histogram(w_before, w_after, out / "weight_hist.png")

    change = w_after - w_before
    pat = change[:example.N_PATTERN].mean()
    noise = change[example.N_PATTERN:].mean()
    exc, inh = result["exc"], result["inh"]
    print(f"ran {args.ticks} ticks in {t_run:.2f} s ({args.ticks / t_run:.0f} ticks/s; "
          f"load {t_load:.2f} s)")
    print(f"neurons: {cfg.n_neurons} on the core, {exc.size} exc + {inh.size} inh used")
    print(f"spikes: {result.count} (exc {exc.count}, {exc.rate_hz():.1f} Hz; inh {inh.count}, "
          f"{inh.rate_hz():.1f} Hz); device counted {status['spikes']} in "
          f"{status['ticks']} ticks, {status['syn_events']} synaptic events")
    print(f"weights in->exc: mean {w_before.mean():.4f} -> {w_after.mean():.4f}; "
          f"pattern inputs {pat:+.4f}, noise-only inputs {noise:+.4f}")
    learned = pat > noise
    print(f"STDP {'separated' if learned else 'did NOT separate'} the pattern from the noise")
    print(f"wrote {out}/raster.png weights.png weight_change.png weight_hist.png demo.slimg "
          "result.npz")
    return 0 if learned else 1


if __name__ == "__main__":
    sys.exit(main())
