"""Run a network exported by snnTorch (a NIR graph) end to end on the virtual board.

Trains nothing: it takes ``tests/fixtures/nir/snntorch_braille.nir`` (the NIR paper's Braille
shape, 12 -> recurrent CubaLIF(40) -> CubaLIF(7), written by snnTorch 1.0.0's ``export_to_nir``)
and the spikes snnTorch itself produced for 8 random inputs, imports the graph
(``spikeloom.nir.from_nir``, forward-Euler conventions, snnTorch's reset by subtraction),
compiles it, runs every sample on the virtual board (the Verilated RTL, built on first use) or on
``--url``, and compares per layer: the core's spike counts against snnTorch's, and against the
float reference of the same conventions.

    python examples/nir_run.py                  # the virtual board
    python examples/nir_run.py --url model://   # the golden model
"""

from __future__ import annotations

import argparse
import contextlib
import warnings
from pathlib import Path

import numpy as np
import spikeloom as sl
from spikeloom import nir as snir

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "nir"


@contextlib.contextmanager
def device(url: str, config):
    if url == "vboard":
        from spikeloom.sim.vboard import VirtualBoard
        with VirtualBoard(config.name) as vb, sl.open(vb.url, config=config, timeout=10.0) as b:
            yield b
    else:
        with sl.open(url, config=config) as b:
            yield b


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="vboard",
                    help="device URL, or 'vboard' to start a virtual board [vboard]")
    ap.add_argument("--samples", type=int, default=8, help="samples to run (max 8) [8]")
    args = ap.parse_args(argv)

    data = np.load(FIXTURE / "snntorch_braille.npz")
    net = snir.from_nir(FIXTURE / "snntorch_braille.nir", dt=1e-4, reset="subtract")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.compiler.CompileWarning)   # the report lists them
        image = sl.compile(net)
    print(image.report.summary())
    print(f"layer latency on the core (ticks behind snnTorch): {net.nir.latency}")
    for note in net.nir.notes:
        print(f"note: {note}")

    inputs = data["inputs"][:args.samples]
    S, T, n_in = inputs.shape
    pad = max(net.nir.latency.values())
    layers = {"1.lif": "spk1", "3": "spk2"}
    core = {k: [] for k in layers}
    ref = {k: [] for k in layers}
    with device(args.url, image.config) as board:
        for s in range(S):
            board.load(image, verify=(s == 0))
            x = np.vstack([inputs[s], np.zeros((pad, n_in), bool)])
            result = board.run(T + pad, inputs={"input": x})
            flt = snir.simulate(net, {"input": x}, T + pad)
            for k in layers:
                core[k].append(result[k].counts())
                ref[k].append(flt[k].sum(axis=0))
    out = {}
    print(f"\n{args.url}: {S} samples of {T} steps")
    print(f"{'layer':<8}{'snnTorch':>10}{'core':>8}{'float':>8}{'corr(core, snnTorch)':>22}"
          f"{'corr(core, float)':>19}")
    for k, key in layers.items():
        a = np.array(core[k]).ravel()
        b = data[key][:S].sum(axis=1).ravel()
        f = np.array(ref[k]).ravel()
        out[k] = (float(np.corrcoef(a, b)[0, 1]), float(np.corrcoef(a, f)[0, 1]))
        print(f"{k:<8}{b.sum():>10}{a.sum():>8}{f.sum():>8}{out[k][0]:>22.3f}{out[k][1]:>19.3f}")
    return out


if __name__ == "__main__":
    main()
