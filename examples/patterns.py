"""Spatial pattern detection with STDP and homeostasis, learnt on the core.

After the SpiNNaker studies of STDP pattern detection: a *spatial pattern* is a fixed subset of
``k`` of the 128 inputs firing together (each once, within a ``volley``-tick window); it is
presented every ``gap`` ticks among Poisson noise on every input (``noise`` spikes per tick).
Output LIF neurons learn with the core's own additive pair STDP (depression-dominated, so inputs
uncorrelated with the output lose weight) and an adaptive threshold ``theta`` (homeostasis: each
spike raises it by ``theta_jump`` and it never decays, as in Diehl & Cook; the preset's 8-bit
theta cannot decay slowly and saturates after 255 spikes), which raises the bar for a neuron
the more it has fired. With several patterns, one output neuron per pattern and lateral
inhibition (a fixed negative recurrent weight between every two outputs) make them compete:
each neuron should end up with one pattern. The host only streams input spikes while the core
learns.

Testing is on held-out presentations, with the network frozen (STDP off, the learnt ``theta``
folded into each threshold): the patterns (fresh noise) and as many *distractors*, random sets
of ``k`` inputs firing together in the same way (so a detector that answers any volley scores
chance). Each neuron is labelled with the pattern it answers most on a labelling set; a
presentation is classified as the pattern of the neuron that fires most in its window
(``volley + slack`` ticks; no spike: "none"). Accuracy = correct / all test presentations
(patterns and distractors in equal numbers: chance is 50 % for one pattern). For one pattern
the hit rate (pattern answered) and the false-alarm rate (distractor answered) are reported
too. With several patterns they share ``overlap`` of their inputs (a common core plus inputs of
their own).

The core: the ``up5k`` preset (128 inputs, 8-bit weights, 8-bit theta), one plasticity rule
(``rule_bits = 1``: what the gateware implements), so ``--check`` runs a sample of the learning
(30 presentations) and the whole frozen test on a Verilator virtual board of ``up5k`` as well and
requires identical weights, theta and spikes.

    python examples/patterns.py                  # one pattern, then the 2..5-pattern table
    python examples/patterns.py --single         # one pattern only
    python examples/patterns.py --check          # also the test on a virtual board

Writes ``out/patterns_weights.png`` (``--out``): the one-pattern neuron's weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np
import spikeloom as sl

__all__ = ["PRESET", "N_IN", "Params", "make_patterns", "schedule", "encode", "build", "Runner",
           "train", "freeze", "responses", "assign_labels", "classify", "experiment",
           "check_vboard", "plot", "main"]

PRESET = "up5k"
N_IN = 128
NONE = -1           # "no pattern": a distractor's label and a silent window's answer


@dataclasses.dataclass(frozen=True)
class Params:
    """The integers of the network (docs/numerics.md) and the presentation schedule."""
    k: int = 16                 # inputs per pattern
    volley: int = 5             # ticks over which a pattern's inputs fire (each once)
    gap: tuple = (30, 60)       # ticks from one presentation's onset to the next (uniform)
    slack: int = 5              # ticks after the volley still counted as its response
    noise: float = 0.01         # Poisson noise per input per tick (10 Hz at 1 ms ticks)
    train: int = 300            # training presentations per pattern
    label: int = 20             # labelling presentations per pattern
    test: int = 50              # held-out presentations per pattern (and as many distractors)
    w_init: tuple = (10, 30)    # initial weights, uniform integers in [lo, hi)
    w_max: int = 50             # small against |inhibition| (the 8-bit range's 127)
    threshold: int = 750
    tau_mem: float = 10.0       # ticks
    tau_syn: float = 2.0
    refractory: int = 10
    theta_jump: int = 1         # homeostasis: each spike raises theta, which never decays
    #: (an 8-bit theta cannot decay slowly: a factor below 1.0 truncates it by at least one
    #: unit per tick, docs/numerics.md; math.inf = no decay, as in Diehl & Cook)
    tau_theta: float = math.inf
    inhibition: int = 127       # |recurrent weight| between two outputs
    a_plus: int = 20            # STDP rates, 8 fractional bits (a pair at 0 ticks: 10)
    a_minus: int = 30
    trace_jump: int = 128
    tau_plus: float = 10.0      # ticks
    tau_minus: float = 20.0     # longer: uncorrelated inputs are depressed


def _alpha(tau: float, frac: int) -> int:
    return 0 if tau == 0 else round(math.exp(-1.0 / tau) * (1 << frac))   # inf: 1 << frac


def make_patterns(n: int, p: Params, overlap: float, rng: np.random.Generator) -> list:
    """``n`` patterns of ``p.k`` inputs: a core of ``round(overlap * k)`` inputs shared by all,
    and ``k - core`` inputs of each pattern's own (disjoint between patterns)."""
    shared = round(overlap * p.k)
    own = p.k - shared
    if shared + n * own > N_IN:
        raise ValueError(f"{n} patterns of {p.k} inputs with overlap {overlap} need "
                         f"{shared + n * own} > {N_IN} inputs")
    perm = rng.permutation(N_IN)
    core = perm[:shared]
    return [np.sort(np.concatenate([core, perm[shared + i * own:shared + (i + 1) * own]]))
            for i in range(n)]


def schedule(labels: np.ndarray, p: Params, rng: np.random.Generator) -> np.ndarray:
    """Onsets (ticks) for presentations in the order ``labels``: each ``gap`` after the last."""
    steps = rng.integers(p.gap[0], p.gap[1] + 1, labels.size)
    return np.cumsum(steps) - steps[0] + p.gap[0]


def encode(labels: np.ndarray, patterns: list, p: Params, rng: np.random.Generator):
    """The input raster of one run: Poisson noise everywhere, and at each onset the inputs of
    ``patterns[label]`` (label >= 0) or of a fresh random set of ``k`` inputs (a distractor,
    label NONE) firing once each at a random tick of the volley. Returns ``(raster, onsets)``."""
    onsets = schedule(labels, p, rng)
    ticks = int(onsets[-1] + p.gap[1]) if labels.size else p.gap[1]
    raster = rng.random((ticks, N_IN)) < p.noise
    for t, lab in zip(onsets, labels, strict=True):
        idx = patterns[lab] if lab >= 0 else rng.choice(N_IN, p.k, replace=False)
        raster[t + rng.integers(0, p.volley, idx.size), idx] = True
    return raster, onsets


def build(p: Params, n_out: int, *, seed: int = 0, weights=None, theta=None,
          learn: bool = True) -> sl.Network:
    """``n_out`` output neurons behind the 128 inputs; learning: plastic inputs and an adaptive
    threshold; frozen: ``weights`` (128, n_out) and ``theta`` folded into the threshold."""
    frac = sl.preset(PRESET).decay_frac
    thr = np.full(n_out, p.threshold, np.int64)
    if theta is not None:
        thr = thr + np.asarray(theta, np.int64)
    model = sl.LIF.raw(threshold=thr, v_reset=0, refractory=p.refractory,
                       alpha_mem=_alpha(p.tau_mem, frac), alpha_syn=_alpha(p.tau_syn, frac),
                       theta_jump=p.theta_jump if learn else 0,
                       alpha_theta=_alpha(p.tau_theta, frac) if learn else 1 << frac)
    net = sl.Network("patterns")
    inp = net.inputs(N_IN, name="in")
    out = net.population(n_out, model, name="out")
    if weights is None:
        weights = np.random.default_rng(seed).integers(*p.w_init, (N_IN, n_out))
    stdp = sl.STDP.raw(a_plus=p.a_plus, a_minus=p.a_minus, pre_jump=p.trace_jump,
                       post_jump=p.trace_jump, alpha_pre=_alpha(p.tau_plus, frac),
                       alpha_post=_alpha(p.tau_minus, frac), w_min=0,
                       w_max=p.w_max) if learn else None
    net.connect(inp, out, weights=np.asarray(weights, np.int64), stdp=stdp, name="syn")
    if n_out > 1:
        inh = np.full((n_out, n_out), -p.inhibition, np.int64)
        np.fill_diagonal(inh, 0)
        net.connect(out, out, weights=inh, name="inhibition")
    return net


class Runner:
    """The golden model in this process (fast engine, loaded from an image's regions as a
    device is), or any ``sl.open`` board through ``Runner(board)`` (the protocol path)."""

    def __init__(self, board=None):
        self.board, self.core = board, None

    def load(self, image: sl.Image) -> None:
        self.image = image
        if self.board is not None:
            self.board.load(image)
            return
        from spikeloom.sim.model import Core
        self.core = Core.from_image(image)

    def run(self, raster: np.ndarray) -> np.ndarray:
        """``(k, 2)`` events (tick, output neuron) of one run over ``raster``."""
        if self.board is not None:
            return self.board.run(raster.shape[0], inputs={"in": raster},
                                  progress=False)["out"].events
        out = self.image.populations["out"]
        spikes = self.core.run(raster.shape[0], raster)
        t, j = np.nonzero(spikes[:, out.start:out.stop])
        return np.stack([t, j], axis=1).astype(np.int64)

    def weights(self) -> np.ndarray:
        if self.board is not None:
            return self.board.read_weights("syn", raw=True)
        out = self.image.populations["out"]
        return self.core.weights[:N_IN, out.start:out.stop].copy()

    def theta(self) -> np.ndarray:
        if self.board is not None:
            return self.board.read_state()["out"].theta_raw.astype(np.int64)
        out = self.image.populations["out"]
        return self.core.state.theta[out.start:out.stop].copy()


def train(dev: Runner, p: Params, patterns: list, rng: np.random.Generator, *,
          seed: int = 0) -> dict:
    """Load the learning network and stream ``p.train`` presentations of every pattern in
    random order among noise (one run); the weights before and after, ``theta``, the time."""
    n = len(patterns)
    dev.load(sl.compile(build(p, n, seed=seed), target=PRESET))
    w0 = dev.weights()
    labels = rng.permutation(np.repeat(np.arange(n), p.train))
    raster, _ = encode(labels, patterns, p, rng)
    t0 = time.perf_counter()
    ev = dev.run(raster)
    return {"w0": w0, "weights": dev.weights(), "theta": dev.theta(), "spikes": ev.shape[0],
            "ticks": raster.shape[0], "seconds": time.perf_counter() - t0}


def freeze(p: Params, learned: dict) -> sl.Image:
    n = learned["weights"].shape[1]
    return sl.compile(build(p, n, weights=learned["weights"], theta=learned["theta"],
                            learn=False), target=PRESET)


def responses(dev: Runner, image: sl.Image, p: Params, labels: np.ndarray, patterns: list,
              rng: np.random.Generator) -> np.ndarray:
    """Spike counts ``(presentations, n_out)`` of the frozen network in each presentation's
    window (onset .. onset + volley + slack)."""
    raster, onsets = encode(labels, patterns, p, rng)
    dev.load(image)
    ev = dev.run(raster)
    out = image.populations["out"]
    n_out = out.stop - out.start
    counts = np.zeros((labels.size, n_out), np.int64)
    k = np.searchsorted(onsets, ev[:, 0], side="right") - 1
    inside = (k >= 0) & (ev[:, 0] < onsets[np.maximum(k, 0)] + p.volley + p.slack)
    np.add.at(counts, (k[inside], ev[inside, 1]), 1)
    return counts


def assign_labels(counts: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Each neuron's pattern: the one it fires most for (mean count; ties: the lower); a neuron
    silent on every pattern gets NONE."""
    mean = np.stack([counts[labels == i].mean(axis=0) for i in range(n)])
    out = np.argmax(mean, axis=0)
    out[mean.max(axis=0) == 0] = NONE
    return out


def classify(counts: np.ndarray, neuron_labels: np.ndarray) -> np.ndarray:
    """Per presentation: the label of the neuron with the most spikes (ties: the lower neuron);
    NONE when no labelled neuron fired."""
    c = np.where(neuron_labels[None, :] >= 0, counts, 0)
    best = np.argmax(c, axis=1)
    return np.where(c.max(axis=1) > 0, neuron_labels[best], NONE)


def experiment(p: Params, n_patterns: int = 1, overlap: float = 0.0, *, seed: int = 0,
               dev: Runner | None = None) -> dict:
    """Train, label, test (module docstring); accuracy, hit and false-alarm rates."""
    rng = np.random.default_rng(seed + 1)
    patterns = make_patterns(n_patterns, p, overlap, rng)
    dev = dev or Runner()
    learned = train(dev, p, patterns, rng, seed=seed)
    image = freeze(p, learned)
    lab = rng.permutation(np.repeat(np.arange(n_patterns), p.label))
    neuron_labels = assign_labels(responses(dev, image, p, lab, patterns, rng), lab,
                                  n_patterns)
    test = rng.permutation(np.concatenate([np.repeat(np.arange(n_patterns), p.test),
                                           np.full(n_patterns * p.test, NONE)]))
    test_rng_state = rng.bit_generator.state
    pred = classify(responses(dev, image, p, test, patterns, rng), neuron_labels)
    is_pat = test >= 0
    w = learned["weights"]
    # each labelled neuron's weights onto its pattern's inputs; everyone's onto the inputs of
    # no pattern
    mine = [w[patterns[lb], j].mean() for j, lb in enumerate(neuron_labels) if lb >= 0]
    other = np.ones(N_IN, bool)
    other[np.concatenate(patterns)] = False
    return {"accuracy": float(np.mean(pred == test)),
            "hit_rate": float(np.mean(pred[is_pat] == test[is_pat])),
            "false_alarm_rate": float(np.mean(pred[~is_pat] != NONE)),
            "neuron_labels": neuron_labels.tolist(),
            "w_pattern": float(np.mean(mine)) if mine else float("nan"),
            "w_other": float(w[other].mean()) if other.any() else float("nan"),
            "theta": learned["theta"].tolist(), "train_spikes": learned["spikes"],
            "train_ticks": learned["ticks"], "train_seconds": learned["seconds"],
            "test_presentations": int(test.size), "image": image, "patterns": patterns,
            "test_labels": test, "test_rng_state": test_rng_state, "learned": learned}


def check_vboard(p: Params, res: dict, train_sample: int = 30, timeout: float = 60.0) -> dict:
    """On a Verilator virtual board of ``up5k`` and on the golden model, the same rasters:
    ``train_sample`` presentations of learning (weights and theta read back) and the frozen
    held-out test of ``res`` (spike counts); both must be identical."""
    from spikeloom.sim.vboard import VirtualBoard
    short = dataclasses.replace(p, train=train_sample)
    out = {}

    def both(dev):
        rng = np.random.default_rng(7)
        learned = train(dev, short, res["patterns"], rng)
        rng = np.random.default_rng()
        rng.bit_generator.state = res["test_rng_state"]
        counts = responses(dev, res["image"], p, res["test_labels"], res["patterns"], rng)
        return learned, counts

    t0 = time.perf_counter()
    with VirtualBoard(PRESET) as vb, sl.open(vb.url, timeout=timeout) as board:
        out["vboard"] = both(Runner(board))
    seconds = time.perf_counter() - t0
    out["model"] = both(Runner())
    (la, ca), (lb, cb) = out["model"], out["vboard"]
    return {"identical": bool(np.array_equal(ca, cb) and np.array_equal(la["weights"],
                                                                          lb["weights"])
                              and np.array_equal(la["theta"], lb["theta"])
                              and la["spikes"] == lb["spikes"]),
            "train_presentations": train_sample, "train_ticks": la["ticks"],
            "train_spikes": la["spikes"],
            "weights_changed": int((la["weights"] != la["w0"]).sum()),
            "test_presentations": int(res["test_labels"].size), "test_spikes": int(ca.sum()),
            "vboard_seconds": round(seconds, 1)}


def plot(r: dict, path: Path) -> None:
    """The one-pattern neuron's weights before and after learning, pattern inputs marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    lr = r["learned"]
    pat = np.zeros(N_IN, bool)
    pat[r["patterns"][0]] = True
    fig, ax = plt.subplots(figsize=(10, 3.4))
    x = np.arange(N_IN)
    ax.scatter(x[~pat], lr["w0"][~pat, 0], s=8, c="0.7", label="before (other inputs)")
    ax.scatter(x[pat], lr["w0"][pat, 0], s=8, c="C1", alpha=0.5, label="before (pattern)")
    ax.scatter(x[~pat], lr["weights"][~pat, 0], s=14, c="C0", label="after (other inputs)")
    ax.scatter(x[pat], lr["weights"][pat, 0], s=14, c="C3", label="after (pattern inputs)")
    ax.set_xlabel("input")
    ax.set_ylabel("weight (integer)")
    ax.set_title(f"one spatial pattern learnt on the core: held-out accuracy "
                 f"{r['accuracy']:.1%} (hits {r['hit_rate']:.0%}, false alarms "
                 f"{r['false_alarm_rate']:.0%})")
    ax.legend(fontsize=7, ncol=4, loc="upper center")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _line(r: dict) -> str:
    return (f"accuracy {r['accuracy']:.1%} on {r['test_presentations']} held-out presentations "
            f"(hits {r['hit_rate']:.1%}, false alarms {r['false_alarm_rate']:.1%}); weights "
            f"pattern {r['w_pattern']:.1f} / other {r['w_other']:.1f}; neurons -> "
            f"{r['neuron_labels']}; trained {r['train_ticks']} ticks in "
            f"{r['train_seconds']:.1f} s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--single", action="store_true", help="one pattern only (no table)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", action="store_true",
                    help="also the one-pattern test on a virtual board; require identical spikes")
    ap.add_argument("--out", default="out", help="output directory [out]")
    args = ap.parse_args(argv)
    p = Params()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        r = experiment(p, 1, seed=args.seed)
        print(f"one pattern of {p.k} inputs: {_line(r)}")
        plot(r, out / "patterns_weights.png")
        print(f"wrote {out / 'patterns_weights.png'}")
        ok = True
        if args.check:
            c = check_vboard(p, r)
            print(f"check model:// vs virtual board ({c['vboard_seconds']:.0f} s there): "
                  f"learning {c['train_presentations']} presentations ({c['train_ticks']} "
                  f"ticks, {c['train_spikes']} spikes, {c['weights_changed']} weights "
                  f"changed) and the frozen test ({c['test_presentations']} presentations, "
                  f"{c['test_spikes']} spikes): "
                  f"{'identical' if c['identical'] else 'DIFFER'}")
            ok = c["identical"]
        if not args.single:
            print("| patterns | overlap | accuracy | hits | false alarms | neurons -> pattern |")
            print("|---|---|---|---|---|---|")
            for n in (2, 3, 4, 5):
                for ov in (0.0, 0.25, 0.5):
                    t = experiment(p, n, ov, seed=args.seed)
                    print(f"| {n} | {ov:.0%} | {t['accuracy']:.1%} | {t['hit_rate']:.1%} | "
                          f"{t['false_alarm_rate']:.1%} | {t['neuron_labels']} |", flush=True)
    except sl.Error as exc:
        print(f"patterns: error: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
