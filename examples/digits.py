"""Handwritten digits (scikit-learn's 8x8 set) classified by a spiking network on the emulator.

Training is OFFLINE: a multinomial logistic regression (scikit-learn, no intercept) on the pixel
intensities 0..16 of the training split. Its 64 x 10 weight matrix becomes the input->output
weights of 10 LIF neurons; the compiler quantizes them to the core's signed 8-bit weights (the
largest |weight| becomes 127). Inference runs on the device (model:// by default):

- every sample is presented for ``WINDOW`` ticks: pixel value ``p`` fires ``p`` evenly spaced
  spikes (a deterministic rate code; 16 = every other tick);
- the class is the output neuron with the most spikes in the window; ties go to the neuron that
  fired first, then to the lower digit (no spikes at all: digit 0);
- samples are batched back to back in ONE run: after each window come ``gap`` silent ticks,
  enough for the membrane of any neuron to decay from any representable value (the full
  ``v_width`` range) to exactly 0 under the integer decay (computed, not guessed); the synaptic
  current decays to 0 within one tick (``alpha_syn`` = 0) and there is no refractoriness and no
  recurrence. So each sample starts from the state a RESET STATE would give (up to the unused
  STDP traces) and the result does not depend on the order of the samples.

Split: ``train_test_split(test_size=594, random_state=0)`` (1203 train / 594 test), the test size
of NeuroCoreX's digits tutorial (66 %, 392/594, in software). Accuracy is reported on ALL 594 test
samples, next to the float model's accuracy (same weights, no spikes).

``--check`` runs the first ``--check-samples`` test samples on model:// AND on a Verilator
virtual board and requires identical spikes. Writes ``out/digits_confusion.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import spikeloom as sl
from spikeloom.proto.fixed import decay, signed_range

__all__ = ["WINDOW", "load_split", "train", "build", "encode", "silent_gap", "classify",
           "infer", "main"]

WINDOW = 32             # ticks a sample is shown
N_CLASSES = 10
NEURON = dict(tau_mem=8.0, tau_syn=0.1, refractory=0, reset="subtract")
THRESHOLD = 1.5         # in units of the largest |weight|


def load_split():
    """``(x_train, x_test, y_train, y_test)``, pixels as integers 0..16."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    return train_test_split(d.data.astype(np.int64), d.target, test_size=594, random_state=0)


def train(x, y) -> np.ndarray:
    """Offline: logistic regression on the intensities (regularisation chosen by 5-fold
    cross-validation on the training split only); (64, 10) weights, max |w| = 1."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    def model(c):
        return LogisticRegression(fit_intercept=False, C=c, max_iter=5000)

    scores = {c: cross_val_score(model(c), x / 16.0, y, cv=5).mean()
              for c in (0.02, 0.05, 0.2, 1.0, 5.0)}
    train.C = max(scores, key=scores.get)
    clf = model(train.C).fit(x / 16.0, y)
    w = clf.coef_.T
    return w / np.abs(w).max()


def build(w: np.ndarray) -> sl.Network:
    net = sl.Network("digits")
    inp = net.inputs(64, name="pixels")
    out = net.population(N_CLASSES, sl.LIF(threshold=THRESHOLD, **NEURON), name="digits")
    net.connect(inp, out, weights=w, name="pixels->digits")
    return net


def silent_gap(image: sl.Image) -> int:
    """Silent ticks after which every membrane is exactly 0, from any value in the v range."""
    cfg = image.config
    alpha = image.report["digits.tau_mem (alpha)"].integer
    lo, hi = signed_range(cfg.v_width)
    worst = 0
    for v in (lo, hi):
        k = 0
        while v != 0:
            v = decay(v, alpha, cfg.decay_frac)
            k += 1
        worst = max(worst, k)
    return worst + 1         # + 1: the last output spike is delivered (to nobody) a tick later


def encode(x: np.ndarray, gap: int) -> np.ndarray:
    """``(n * (WINDOW + gap), 64)`` bool raster: pixel p fires p evenly spaced spikes."""
    n = x.shape[0]
    period = WINDOW + gap
    raster = np.zeros((n * period, 64), bool)
    for p in range(1, 17):
        ticks = (np.arange(p) * WINDOW) // p            # p spikes spread over the window
        s, i = np.nonzero(x == p)
        for t in ticks:
            raster[s * period + t, i] = True
    return raster


def classify(events: np.ndarray, n: int, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike counts (n, 10) per sample period (window and gap: a neuron driven far above
    threshold keeps firing for a few ticks after its inputs stop) and the predicted class (most
    spikes; ties: the earliest first spike, then the lower digit)."""
    sample, offset = np.divmod(events[:, 0], period)
    counts = np.zeros((n, N_CLASSES), np.int64)
    np.add.at(counts, (sample, events[:, 1]), 1)
    first = np.full((n, N_CLASSES), 1 << 30, np.int64)
    np.minimum.at(first, (sample, events[:, 1]), offset)
    key = counts * (1 << 31) - first * 16 - np.arange(N_CLASSES)   # lexicographic, all ints
    return counts, np.argmax(key, axis=1)


def infer(url: str, image: sl.Image, x: np.ndarray, gap: int, timeout: float = 10.0):
    """Run every sample of ``x`` in one stream on ``url``; ``(events, seconds)``."""
    raster = encode(x, gap)
    if url == "vboard":
        from spikeloom.sim.vboard import VirtualBoard
        with VirtualBoard("default") as vb, sl.open(vb.url, timeout=timeout) as board:
            return _run(board, image, raster)
    with sl.open(url, timeout=timeout) as board:
        return _run(board, image, raster)


def _run(board, image, raster):
    board.load(image)
    t0 = time.perf_counter()
    result = board.run(raster.shape[0], inputs={"pixels": raster})
    return result["digits"].events, time.perf_counter() - t0


def confusion(y, pred) -> np.ndarray:
    m = np.zeros((N_CLASSES, N_CLASSES), np.int64)
    np.add.at(m, (y, pred), 1)
    return m


def plot_confusion(m: np.ndarray, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(m, cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                    color="w" if v > m.max() / 2 else "k")
    ax.set_xticks(range(N_CLASSES))
    ax.set_yticks(range(N_CLASSES))
    ax.set_xlabel("predicted (most output spikes)")
    ax.set_ylabel("true digit")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="model://",
                    help="device URL, or 'vboard' to start a virtual board [model://]")
    ap.add_argument("--samples", type=int, default=594,
                    help="test samples to classify (the first N of the 594) [594]")
    ap.add_argument("--check", action="store_true",
                    help="also run --check-samples on a virtual board; require identical spikes")
    ap.add_argument("--check-samples", type=int, default=100, help="[100]")
    ap.add_argument("--out", default="out", help="output directory [out]")
    ap.add_argument("--timeout", type=float, default=10.0, help="reply timeout in s [10]")
    args = ap.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x_tr, x_te, y_tr, y_te = load_split()
    w = train(x_tr, y_tr)
    float_acc = np.mean(np.argmax(x_te @ w, axis=1) == y_te)
    image = sl.compile(build(w), target="default")
    gap = silent_gap(image)
    w_int = image.weights()[:64, :N_CLASSES]
    int_acc = np.mean(np.argmax(x_te @ w_int, axis=1) == y_te)
    n = min(args.samples, x_te.shape[0])
    x, y = x_te[:n], y_te[:n]
    period = WINDOW + gap
    print(f"digits: {x_tr.shape[0]} train / {x_te.shape[0]} test samples; offline logistic "
          f"regression (no intercept, C = {train.C:g} by cross-validation), weights quantized "
          f"to {image.config.w_width} bits "
          f"(scale {image.projection('pixels->digits').scale:.1f}/unit)")
    print(f"encoding: {WINDOW}-tick window, pixel p -> p spikes, then {gap} silent ticks "
          f"(membrane provably back to 0): {period} ticks per sample, {n * period} ticks in one "
          f"run")

    try:
        events, secs = infer(args.url, image, x, gap, args.timeout)
    except sl.Error as exc:
        print(f"digits: error: {exc}", file=sys.stderr)
        return 1
    counts, pred = classify(events, n, period)
    correct = int(np.sum(pred == y))
    acc = correct / n
    print(f"{args.url}: classified {n} samples in {secs:.1f} s ({n * period / secs:.0f} ticks/s),"
          f" {events.shape[0]} output spikes ({counts.sum(1).mean():.1f} per sample, "
          f"{int(np.sum(counts.sum(1) == 0))} samples without any)")
    print(f"ACCURACY on the spiking emulator: {correct}/{n} = {acc:.2%}  "
          f"(float weights, no spikes: {float_acc:.2%}; 8-bit weights, no spikes: "
          f"{int_acc:.2%} on all 594)")
    if n == 594:
        print(f"vs NeuroCoreX tutorial 392/594 = 66.0%: +{correct - 392} samples "
              f"(+{100 * (acc - 392 / 594):.1f} points)")
    m = confusion(y, pred)
    plot_confusion(m, out / "digits_confusion.png",
                   f"spiking digits on {args.url}: {correct}/{n} = {acc:.1%}")
    print(f"wrote {out / 'digits_confusion.png'}")

    ok = True
    if args.check:
        k = min(args.check_samples, n)
        ev_m, _ = infer("model://", image, x[:k], gap, args.timeout)
        ev_v, secs_v = infer("vboard", image, x[:k], gap, args.timeout)
        same = np.array_equal(ev_m, ev_v)
        _, pred_v = classify(ev_v, k, period)
        print(f"check model:// vs virtual board on {k} samples ({k * period} ticks, "
              f"{secs_v:.1f} s there): {ev_m.shape[0]} output spikes "
              f"{'identical' if same else 'DIFFER'}; virtual board accuracy "
              f"{np.mean(pred_v == y[:k]):.2%}")
        ok = same
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
