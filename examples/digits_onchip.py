"""Unsupervised on-chip digit learning (after Diehl & Cook 2015) on scikit-learn's 8x8 digits.

The core learns by itself: the host only streams input spikes during training (no host-side
weight update, no weight normalisation); between two images it sends ``rest`` silent ticks so
the membranes, currents and traces decay (what Diehl & Cook's 150 ms rest does), and the adaptive
thresholds ``theta`` (homeostasis, no decay) carry over. The network, on the ``up5k`` preset
(128 inputs, 256 neurons, 8-bit weights, 8-bit theta, one synaptic current):

- inputs: every pixel ``p`` (0..16) drives an ON input (Poisson, ``rate * p / 16`` per tick) and
  an OFF input (``rate * (16 - p) / 16``): 64 + 64 = 128 inputs. The OFF channel is what lets
  the additive pair rule learn "no ink here": a pixel that is blank in an image is *active* on
  its OFF input, so its weight moves like any other active synapse;
- an excitatory layer of up to 256 LIF neurons (raw integers, :class:`Params`) with an adaptive
  threshold: each spike raises ``theta`` by ``theta_jump``;
- lateral inhibition: every neuron inhibits every other one through a fixed negative recurrent
  weight (the core's all-to-all matrix; ``up5k`` has no separate inhibitory current): -96
  while learning (a little room for a second winner), -128 (the 8-bit limit) in the readout;
- the core's additive pair STDP on the input->excitatory weights (``w_min .. w_max``), tuned
  so each step is 0 or 1: +1 at a post spike for every input that fired in the last 69 ticks
  (the whole presentation), -1 at every input spike delivered within 17 ticks of a post spike.
- the **complement phase** (what plays Diehl & Cook's offset ``x_tar``): a pair rule changes a
  synapse only when its input fires, so an input that is silent in an image never loses
  weight. Right after the image the host sends its complement (ON and OFF swapped) for
  ``complement`` ticks at ``comp_rate``: the inputs that were *inactive* now fire while the
  winner's post trace is still high, and are depressed; the image's active inputs were
  potentiated at its post spikes. Each winner's weights move towards the image, 0 or ``w_max``
  per input (a binary template, whose weight sum is then about constant: the role of Diehl &
  Cook's weight normalisation). The complement is weak (0.15 spikes per tick, 20 ticks), so
  it makes few spikes of its own.

After training the network is frozen (STDP off, ``theta_jump`` 0: the learned ``theta`` is
folded into each neuron's threshold) and run on every training image under the readout schedule
(``test_present`` ticks per image, evenly spaced input spikes at ``test_rate``: the
Poisson count noise of a short presentation costs accuracy). The readout on the host reads
the class-conditional statistics of each neuron's count on the training images, the neurons
taken as independent: :func:`predict_gaussian` (each neuron's mean and variance per class; a
test image is the class of the highest Gaussian likelihood: the default, ``accuracy``),
:func:`predict_likelihood` (the class means as Poisson rates ``r[n, c]``, the class maximising
``sum_n k_n log r[n, c] - r[n, c]``), and Diehl & Cook's vote (each neuron labelled with the
digit it responded to most, :func:`assign_labels`; the digit whose neurons fired most on average
wins, :func:`predict`). No readout weights are trained.

Split: ``train_test_split(test_size=594, random_state=0)`` (as examples/digits.py: 1203 train,
594 test). Inputs are seeded (``--seed``), so a run is reproducible bit for bit.

``--check`` runs the first ``--check-samples`` test images of the frozen network on model:// and
on a Verilator virtual board of the ``up5k`` preset and requires identical spikes. ``--quick``
trains on 300 images for one epoch (a smoke run). Writes ``out/digits_onchip_fields.png`` (the
learned receptive fields, ON minus OFF weights).

``Params.theta_width`` (16: the same up5k size with a 16-bit theta, another gateware build) was
tried and not kept. The rule is one option (``--rule``): today only ``additive`` (the core's
rule, the one the ``up5k`` gateware has); docs/results.md records what was tried and measured.
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

__all__ = ["Params", "PRESET", "RULES", "core_config", "Runner", "load_split", "encode", "build",
           "train", "freeze",
           "responses", "assign_labels", "fit_rates", "predict_likelihood", "predict_gaussian",
           "predict", "experiment",
           "main"]

PRESET = "up5k"
N_PIXELS = 64
N_CLASSES = 10
#: plasticity rules this example can ask the core for (the rule option, see the docstring)
RULES = ("additive",)


@dataclasses.dataclass(frozen=True)
class Params:
    """The network's integers (docs/numerics.md) and the presentation schedules."""
    n_neurons: int = 256
    present: int = 60           # ticks an image is shown
    complement: int = 20        # then ticks of its complement (the depression phase)
    rest: int = 40              # then silent ticks
    rate: float = 0.05          # spikes per tick of a fully-on (or fully-off) input
    comp_rate: float = 0.15     # the same for a complement input
    coding: str = "poisson"     # training inputs: "poisson" or "regular" (evenly spaced)
    test_present: int = 600     # the readout schedule (frozen network): ticks per image,
    test_rate: float = 0.05     # rate and coding; no complement phase
    test_coding: str = "regular"
    test_inhibition: int | None = 128  # the frozen network's (None: ``inhibition``)
    w_init: tuple = (3, 8)      # initial input weights, uniform integers in [lo, hi)
    w_max: int = 10             # STDP clip (w_min = 0); small, so one inhibitory spike counts
    inhibition: int = 96        # |recurrent weight| between two different neurons (training)
    threshold: int = 700
    tau_mem: float = 40.0       # ticks
    tau_syn: float = 0.0        # ticks (0: a weight acts in its own tick only)
    refractory: int = 0
    theta_jump: int = 2         # 8-bit theta: 128 spikes of a neuron saturate it
    a_plus: int = 2             # STDP rates, 8 fractional bits: a step of 1 iff trace >= 128
    a_minus: int = 2
    trace_jump: int = 255       # a spike sets its trace to the maximum
    tau_plus: float = 100.0     # ticks: x >= 128 for 69 ticks (the whole presentation)
    tau_minus: float = 25.0     # ticks: y >= 128 for 17 ticks after a post spike
    rule: str = "additive"
    theta_width: int = 8        # the up5k preset's; 16 is the same size with a wider theta

    @property
    def period(self) -> int:
        """Ticks per training image."""
        return self.present + self.complement + self.rest

    def readout(self) -> Params:
        """The schedule of the frozen network: the test presentation, no complement."""
        inh = self.inhibition if self.test_inhibition is None else self.test_inhibition
        return dataclasses.replace(self, present=self.test_present, rate=self.test_rate,
                                   coding=self.test_coding, complement=0, inhibition=inh)


#: passes over the training set of the default run
EPOCHS = 2
#: the smallest rate (spikes per readout presentation) :func:`fit_rates` gives a neuron
RATE_FLOOR = 0.001


def core_config(p: Params) -> sl.CoreConfig:
    """The core the network runs on: the ``up5k`` preset, its ``theta_width`` as ``p`` asks
    (same size, 256 neurons x 128 inputs; another width is another build of the gateware)."""
    cfg = sl.preset(PRESET)
    if p.theta_width == cfg.theta_width:
        return cfg
    return dataclasses.replace(cfg, theta_width=p.theta_width,
                               name=f"{PRESET}_theta{p.theta_width}")


def _alpha(tau: float, frac: int) -> int:
    """The decay factor of a time constant in ticks (0 ticks: gone after one tick)."""
    return 0 if tau == 0 else round(math.exp(-1.0 / tau) * (1 << frac))


def load_split():
    """``(x_train, x_test, y_train, y_test)``, pixels as integers 0..16 (examples/digits.py)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    return train_test_split(d.data.astype(np.int64), d.target, test_size=594, random_state=0)


def _spikes(rates: np.ndarray, ticks: int, coding: str, rng: np.random.Generator) -> np.ndarray:
    """``(n, ticks, k)`` bool spikes of ``(n, k)`` rates per tick: ``"poisson"`` (a Bernoulli
    draw per tick) or ``"regular"`` (an input of rate r fires every 1/r ticks, from a random
    phase: the same rate without Poisson count noise)."""
    n, k = rates.shape
    if coding == "poisson":
        return rng.random((n, ticks, k)) < rates[:, None, :]
    if coding != "regular":
        raise ValueError(f"coding {coding!r}: 'poisson' or 'regular'")
    phase = rng.random((n, 1, k))
    count = np.floor(rates[:, None, :] * np.arange(ticks + 1)[None, :, None] + phase)
    return np.diff(count, axis=1) > 0


def encode(x: np.ndarray, p: Params, rng: np.random.Generator) -> np.ndarray:
    """``(n * period, 128)`` bool raster: ON inputs 0..63, OFF inputs 64..127; per image
    ``present`` ticks of the image, ``complement`` ticks of its complement (ON and OFF
    swapped, at ``comp_rate``), ``rest`` silent ticks."""
    n = x.shape[0]
    on_off = np.concatenate([x, 16 - x], axis=1) / 16.0
    period = p.period
    raster = np.zeros((n, period, 2 * N_PIXELS), bool)
    raster[:, :p.present] = _spikes(p.rate * on_off, p.present, p.coding, rng)
    if p.complement:
        raster[:, p.present:p.present + p.complement] = _spikes(
            p.comp_rate * (1.0 - on_off), p.complement, p.coding, rng)
    return raster.reshape(-1, 2 * N_PIXELS)


def build(p: Params, *, seed: int = 0, weights=None, theta=None, learn: bool = True
          ) -> sl.Network:
    """The network. ``learn``: plastic input weights and adaptive thresholds (training);
    otherwise frozen: ``weights`` (128, n) and the learned ``theta`` added to the threshold."""
    if p.rule not in RULES:
        raise ValueError(f"rule {p.rule!r}: this core offers {', '.join(RULES)}")
    frac = core_config(p).decay_frac
    n = p.n_neurons
    thr = np.full(n, p.threshold, np.int64)
    if theta is not None:
        thr = thr + np.asarray(theta, np.int64)
    model = sl.LIF.raw(threshold=thr, v_reset=0, refractory=p.refractory,
                       alpha_mem=_alpha(p.tau_mem, frac), alpha_syn=_alpha(p.tau_syn, frac),
                       theta_jump=p.theta_jump if learn else 0, alpha_theta=1 << frac)
    net = sl.Network("digits_onchip")
    inp = net.inputs(2 * N_PIXELS, name="pixels")
    exc = net.population(n, model, name="exc")
    if weights is None:
        rng = np.random.default_rng(seed)
        weights = rng.integers(*p.w_init, (2 * N_PIXELS, n))
    stdp = None
    if learn:
        stdp = sl.STDP.raw(a_plus=p.a_plus, a_minus=p.a_minus, pre_jump=p.trace_jump,
                           post_jump=p.trace_jump, alpha_pre=_alpha(p.tau_plus, frac),
                           alpha_post=_alpha(p.tau_minus, frac), w_min=0, w_max=p.w_max)
    net.connect(inp, exc, weights=np.asarray(weights, np.int64), stdp=stdp, name="input")
    inh = np.full((n, n), -p.inhibition, np.int64)
    np.fill_diagonal(inh, 0)
    net.connect(exc, exc, weights=inh, name="inhibition")
    return net


class Runner:
    """A device as this example uses it: load an image, run a raster, read weights and theta.

    ``Runner.model()`` is the golden model in this process (a :class:`spikeloom.sim.model.Core`
    with the fast engine, loaded from the image's region bytes exactly as a device is); any
    ``sl.open`` board (model://, a virtual board, a real one) works through ``Runner(board)``:
    the protocol path, bit-identical but slower (one INJECT per tick)."""

    def __init__(self, board=None):
        self.board, self.core = board, None

    @classmethod
    def model(cls) -> Runner:
        return cls()

    def load(self, image: sl.Image) -> None:
        self.image = image
        if self.board is not None:
            self.board.load(image)
            return
        from spikeloom.sim.model import Core
        self.core = Core.from_image(image)

    def run(self, raster: np.ndarray) -> np.ndarray:
        """``(k, 2)`` events (tick, neuron of ``exc``) of one run over ``raster``."""
        if self.board is not None:
            return self.board.run(raster.shape[0], inputs={"pixels": raster},
                                  progress=False)["exc"].events
        full = np.zeros((raster.shape[0], self.core.cfg.n_inputs), bool)
        full[:, :raster.shape[1]] = raster
        spikes = self.core.run(raster.shape[0], full)
        exc = self.image.populations["exc"]
        t, j = np.nonzero(spikes[:, exc.start:exc.stop])
        return np.stack([t, j], axis=1).astype(np.int64)

    def weights(self) -> np.ndarray:
        if self.board is not None:
            return self.board.read_weights("input", raw=True)
        exc = self.image.populations["exc"]
        return self.core.weights[:2 * N_PIXELS, exc.start:exc.stop].copy()

    def theta(self) -> np.ndarray:
        if self.board is not None:
            return self.board.read_state()["exc"].theta_raw.astype(np.int64)
        exc = self.image.populations["exc"]
        return self.core.state.theta[exc.start:exc.stop].copy()


def train(dev: Runner, p: Params, x: np.ndarray, epochs: int, rng: np.random.Generator, *,
          seed=0, log=print) -> dict:
    """Load the learning network and stream ``epochs`` shuffled passes over ``x`` (one run per
    epoch; the host sends input spikes only). Returns the weights read back after each epoch
    (the first: before), the final ``theta``, per-epoch statistics and the wall time."""
    dev.load(sl.compile(build(p, seed=seed), target=core_config(p)))
    weights = [dev.weights()]
    period = p.period
    stats, t0 = [], time.perf_counter()
    for ep in range(epochs):
        order = rng.permutation(x.shape[0])
        raster = encode(x[order], p, rng)
        ev = dev.run(raster)
        per_image = np.bincount(ev[:, 0] // period, minlength=x.shape[0])
        weights.append(dev.weights())
        theta = dev.theta()
        stats.append({"spikes_per_image": float(per_image.mean()),
                      "silent_images": float(np.mean(per_image == 0)),
                      "active_neurons": int(np.unique(ev[:, 1]).size),
                      "theta_mean": float(theta.mean()), "theta_max": int(theta.max())})
        log(f"  epoch {ep + 1}/{epochs}: {stats[-1]['spikes_per_image']:.1f} spikes/image, "
            f"{stats[-1]['active_neurons']} neurons fired, theta mean "
            f"{stats[-1]['theta_mean']:.0f} (max {stats[-1]['theta_max']}), weight mean "
            f"{weights[-1].mean():.1f}, {time.perf_counter() - t0:.0f} s")
    return {"weights": np.stack(weights), "theta": theta, "epochs": stats,
            "seconds": time.perf_counter() - t0, "ticks": epochs * x.shape[0] * period}


def freeze(p: Params, learned: dict) -> sl.Image:
    """The frozen network (no STDP, theta folded into the thresholds, the readout's
    inhibition) as an image."""
    return sl.compile(build(p.readout(), weights=learned["weights"][-1], theta=learned["theta"],
                            learn=False), target=core_config(p))


def responses(dev: Runner, image: sl.Image, p: Params, x: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Spike counts (n_images, n_neurons) of the frozen network under the readout schedule
    (:meth:`Params.readout`), and the raw events."""
    p = p.readout()
    dev.load(image)
    ev = dev.run(encode(x, p, rng))
    counts = np.zeros((x.shape[0], p.n_neurons), np.int64)
    np.add.at(counts, (ev[:, 0] // p.period, ev[:, 1]), 1)
    return counts, ev


def assign_labels(counts: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each neuron's label: the class with its highest mean spike count over the images of that
    class (ties: the lower class); a neuron that never fired gets -1 (it votes for nothing)."""
    mean = np.stack([counts[y == k].mean(axis=0) if np.any(y == k)
                     else np.zeros(counts.shape[1]) for k in range(N_CLASSES)])
    labels = np.argmax(mean, axis=0)
    labels[counts.sum(axis=0) == 0] = -1
    return labels


def fit_rates(counts: np.ndarray, y: np.ndarray, floor: float = RATE_FLOOR) -> np.ndarray:
    """``(n_neurons, 10)`` rates ``r[n, c]``: neuron n's mean spike count over the images of
    class c, at least ``floor`` (a neuron silent for a class must not make that class
    impossible: ``log 0``); a class without images gets ``floor`` everywhere."""
    r = np.stack([counts[y == k].mean(axis=0) if np.any(y == k)
                  else np.zeros(counts.shape[1]) for k in range(N_CLASSES)], axis=1)
    return np.maximum(r, floor)


def predict_likelihood(counts: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Per image, the class c of the highest Poisson log-likelihood of its counts k given the
    rates: ``sum_n k[n] log r[n, c] - r[n, c]`` (independent Poisson neurons; ties: the lower
    class). Unlike :func:`predict` every neuron counts for every class with what its count says
    about it, so a neuron answering two digits, or a digit's neurons staying silent, is used."""
    score = counts @ np.log(rates) - rates.sum(axis=0)
    return np.argmax(score, axis=1)


def predict_gaussian(counts: np.ndarray, train_counts: np.ndarray, y: np.ndarray,
                     smoothing: float = 0.01) -> np.ndarray:
    """Per image, the class of the highest Gaussian log-likelihood of its counts: each neuron's
    mean and variance per class on the training counts, every variance raised by
    ``smoothing`` times the largest (so a neuron constant over a class is not infinitely sure;
    scikit-learn's GaussianNB ``var_smoothing``), the neurons independent. The same class
    statistics as :func:`fit_rates` plus their spread: the readout counts are far less
    variable than Poisson (regular input spikes)."""
    classes = np.arange(N_CLASSES)
    mean = np.stack([train_counts[y == k].mean(axis=0) for k in classes])
    var = np.stack([train_counts[y == k].var(axis=0) for k in classes])
    var = var + smoothing * train_counts.var(axis=0).max()
    score = -0.5 * (np.log(var).sum(axis=1)[None, :]
                    + (((counts[:, None, :] - mean[None]) ** 2) / var[None]).sum(axis=2))
    return np.argmax(score, axis=1)


def predict(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per image, the class whose labelled neurons fired most on average (ties: the lower
    class; a class without neurons scores 0)."""
    score = np.zeros((counts.shape[0], N_CLASSES))
    for k in range(N_CLASSES):
        sel = labels == k
        if sel.any():
            score[:, k] = counts[:, sel].mean(axis=1)
    return np.argmax(score, axis=1)


#: the tuning split: train (and label) on the first TUNE_TRAIN training images, score the rest
TUNE_TRAIN = 900


def experiment(p: Params, *, epochs: int, n_train: int | None = None, seed: int = 0,
               dev: Runner | None = None, tune: bool = False, log=print) -> dict:
    """Train on ``dev`` (default: the golden model in process, fast engine), label on the
    training set, test on the 594 held-out images; returns the accuracy (the Gaussian
    readout, :func:`predict_gaussian`; ``likelihood_accuracy``: the Poisson one,
    :func:`predict_likelihood`; ``vote_accuracy``: Diehl & Cook's vote, :func:`predict`) and
    what was measured. ``tune``: the tuning split instead, inside the training images
    (train and label on the first :data:`TUNE_TRAIN`, score the others): what parameters are
    chosen on, so the test split is not looked at."""
    x_tr, x_te, y_tr, y_te = load_split()
    if tune:
        x_tr, x_te, y_tr, y_te = (x_tr[:TUNE_TRAIN], x_tr[TUNE_TRAIN:],
                                  y_tr[:TUNE_TRAIN], y_tr[TUNE_TRAIN:])
    x_tr, y_tr = x_tr[:n_train], y_tr[:n_train]
    rng = np.random.default_rng(seed + 1)
    dev = dev or Runner.model()
    learned = train(dev, p, x_tr, epochs, rng, seed=seed, log=log)
    image = freeze(p, learned)
    t0 = time.perf_counter()
    c_tr, _ = responses(dev, image, p, x_tr, rng)
    c_te, _ = responses(dev, image, p, x_te, rng)
    t_eval = time.perf_counter() - t0
    labels = assign_labels(c_tr, y_tr)
    rates = fit_rates(c_tr, y_tr)
    return {"accuracy": float(np.mean(predict_gaussian(c_te, c_tr, y_tr) == y_te)),
            "train_accuracy": float(np.mean(predict_gaussian(c_tr, c_tr, y_tr) == y_tr)),
            "likelihood_accuracy": float(np.mean(predict_likelihood(c_te, rates) == y_te)),
            "vote_accuracy": float(np.mean(predict(c_te, labels) == y_te)),
            "labels": labels, "rates": rates, "learned": learned, "image": image,
            "eval_seconds": t_eval,
            "eval_ticks": (x_tr.shape[0] + x_te.shape[0]) * p.readout().period,
            "test_spikes_per_image": float(c_te.sum(axis=1).mean()),
            "test_silent": float(np.mean(c_te.sum(axis=1) == 0)), "n_train": x_tr.shape[0],
            "n_test": x_te.shape[0], "counts": (c_tr, y_tr, c_te, y_te)}


def check_vboard(p: Params, image: sl.Image, k: int, seed: int, timeout: float = 60.0) -> dict:
    """The frozen network on the first ``k`` test images, on model:// and on a virtual board of
    the ``up5k`` preset (Verilator): the events must be identical."""
    from spikeloom.sim.vboard import VirtualBoard
    _, x_te, _, _ = load_split()
    out = {}
    for where in ("model://", "vboard"):
        rng = np.random.default_rng(seed + 7)
        t0 = time.perf_counter()
        if where == "vboard":
            with VirtualBoard(core_config(p)) as vb, sl.open(vb.url, timeout=timeout) as board:
                _, ev = responses(Runner(board), image, p, x_te[:k], rng)
        else:
            _, ev = responses(Runner.model(), image, p, x_te[:k], rng)
        out[where] = (ev, time.perf_counter() - t0)
    (a, _), (b, secs) = out["model://"], out["vboard"]
    return {"identical": bool(np.array_equal(a, b)), "spikes": int(a.shape[0]),
            "images": k, "vboard_seconds": secs}


def plot_fields(weights: np.ndarray, labels: np.ndarray, path: Path, title: str) -> None:
    """Receptive fields (ON minus OFF weight per pixel), one 8x8 tile per neuron."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = weights.shape[1]
    cols = 16
    rows = -(-n // cols)
    field = (weights[:N_PIXELS] - weights[N_PIXELS:]).T.reshape(n, 8, 8)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.8, rows * 0.9))
    lim = np.abs(field).max() or 1
    for j, ax in enumerate(np.ravel(axes)):
        ax.set_axis_off()
        if j < n:
            ax.imshow(field[j], cmap="gray", vmin=-lim, vmax=lim)
            ax.set_title(str(labels[j]) if labels[j] >= 0 else "-", fontsize=7, pad=1)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=EPOCHS,
                    help=f"passes over the training set [{EPOCHS}]")
    ap.add_argument("--neurons", type=int, default=256, help="excitatory neurons [256]")
    ap.add_argument("--rule", default="additive", choices=RULES, help="plasticity rule")
    ap.add_argument("--quick", action="store_true", help="300 training images, one epoch")
    ap.add_argument("--seed", type=int, default=0, help="weights seed; inputs use seed+1 [0]")
    ap.add_argument("--check", action="store_true",
                    help="also run test images on a virtual board; require identical spikes")
    ap.add_argument("--check-samples", type=int, default=100, help="[100]")
    ap.add_argument("--out", default="out", help="output directory [out]")
    args = ap.parse_args(argv)

    p = Params(n_neurons=args.neurons, rule=args.rule)
    n_train = 300 if args.quick else None
    epochs = 1 if args.quick else args.epochs
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"digits_onchip: {p.n_neurons} neurons on {PRESET}, {epochs} epoch(s), "
          f"{p.present}+{p.complement}+{p.rest} ticks per training image, rule {p.rule}")
    try:
        r = experiment(p, epochs=epochs, n_train=n_train, seed=args.seed)
    except sl.Error as exc:
        print(f"digits_onchip: error: {exc}", file=sys.stderr)
        return 1
    lr = r["learned"]
    w = lr["weights"]
    print(f"trained on model:// in {lr['seconds']:.1f} s ({lr['ticks'] / lr['seconds']:.0f} "
          f"ticks/s); weights changed on chip: {int(np.sum(w[-1] != w[0]))} of {w[0].size}")
    print(f"labelled {int(np.sum(r['labels'] >= 0))} neurons on {r['n_train']} training images;"
          f" evaluation {r['eval_seconds']:.1f} s")
    print(f"TEST ACCURACY {r['accuracy']:.2%} on 594 held-out images (train "
          f"{r['train_accuracy']:.2%}; Poisson likelihood {r['likelihood_accuracy']:.2%}, Diehl & "
          f"Cook's vote {r['vote_accuracy']:.2%}); "
          f"{r['test_spikes_per_image']:.1f} spikes per test image, {r['test_silent']:.1%} silent")
    plot_fields(w[-1], r["labels"], out / "digits_onchip_fields.png",
                f"receptive fields learnt on chip (ON - OFF), test accuracy "
                f"{r['accuracy']:.1%}")
    print(f"wrote {out / 'digits_onchip_fields.png'}")
    if args.check:
        c = check_vboard(p, r["image"], args.check_samples, args.seed)
        print(f"check model:// vs virtual board on {c['images']} test images "
              f"({c['vboard_seconds']:.0f} s there): {c['spikes']} spikes "
              f"{'identical' if c['identical'] else 'DIFFER'}")
        return 0 if c["identical"] else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
