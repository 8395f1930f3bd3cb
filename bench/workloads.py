"""Workload results (issue 22): unsupervised on-chip digit learning, examples/digits_onchip.py.

Runs the example's experiment on the golden model (fast engine, in process) and writes its
test accuracy, the per-epoch training statistics and the wall times into ``--out`` (JSON).
``--check-samples K`` (default 100; 0: skip) also runs the first K test images of the frozen
network on model:// and on a Verilator virtual board of the ``up5k`` preset and records whether
the spikes are identical. ``--quick``: 300 training images, one epoch.

Also (``--workloads`` picks which; default all): Song, Miller & Abbott (2000),
examples/song2000.py: the fraction of weights below 0.1 gmax and above 0.9 gmax and the output
rate over time on model:// and on its Brian2 twin (``--quick``: 100 s of simulated time instead
of 500 s); spatial pattern detection, examples/patterns.py: the single-pattern accuracy on
held-out presentations and the 2..5-pattern table against overlap (``--quick``: 2 and 3
patterns), with the one-pattern test confirmed on the ``up5k`` virtual board when
``--check-samples`` is not 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent

__all__ = ["load_example", "digits_onchip", "song2000", "patterns", "main"]


def load_example(name: str):
    """examples/<name>.py as a module."""
    path = HERE.parent / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def digits_onchip(args) -> tuple[dict, bool]:
    """Issue 22 point 1 (examples/digits_onchip.py)."""
    ex = load_example("digits_onchip")
    p = ex.Params()
    r = ex.experiment(p, epochs=1 if args.quick else (args.epochs or ex.EPOCHS),
                      n_train=300 if args.quick else None)
    lr = r["learned"]
    out = {
        "test_accuracy": r["accuracy"], "train_accuracy": r["train_accuracy"],
        "likelihood_accuracy": r["likelihood_accuracy"], "vote_accuracy": r["vote_accuracy"],
        "readout": "Gaussian likelihood of the spike counts (per-class mean and variance of "
                   "each neuron on the training split); likelihood_accuracy: the Poisson one "
                   "(class-mean rates); vote_accuracy: Diehl & Cook's mean-response vote",
        "test_images": 594, "train_images": r["n_train"], "epochs": len(lr["epochs"]),
        "neurons": p.n_neurons, "preset": ex.PRESET, "params": {
            k: list(v) if isinstance(v, tuple) else v for k, v in vars(p).items()},
        "per_epoch": lr["epochs"], "train_ticks": lr["ticks"],
        "train_wall_s": round(lr["seconds"], 2),
        "train_ticks_per_s": round(lr["ticks"] / lr["seconds"]),
        "eval_ticks": r["eval_ticks"], "eval_wall_s": round(r["eval_seconds"], 2),
        "weights_changed": int((lr["weights"][-1] != lr["weights"][0]).sum()),
        "labelled_neurons": int((r["labels"] >= 0).sum()),
        "backend": "model:// golden model in process (fast engine)"}
    ok = True
    if args.check_samples:
        c = ex.check_vboard(p, r["image"], args.check_samples, 0)
        out["vboard_check"] = c
        ok = c["identical"]
    return out, ok


def song2000(args) -> tuple[dict, bool]:
    """Issue 22 point 2 (examples/song2000.py): model://, the Brian2 twin, and the first
    seconds of the same run on the virtual board (``--check-samples 0`` skips it)."""
    ex = load_example("song2000")
    p = ex.Params(seconds=100.0 if args.quick else ex.Params.seconds)
    res = ex.experiment(p, log=lambda *_: None)
    out = {"preset_inputs": ex.PRESET, "inputs": res["n_inputs"],
           "config": {"rule_bits": res["config"].rule_bits,
                      "stdp_frac": res["config"].stdp_frac},
           "params": dataclasses.asdict(p), "drive": round(p.drive, 3),
           "rule": res["rule_note"], "ticks": res["ticks"],
           "backend": "model:// golden model in process (fast engine); Brian2 float64 twin"}
    for name, r in res["runs"].items():
        last = max(1, round(10.0 / p.chunk_s))
        out[name] = {"frac_low": float(r["frac_low"][-1]), "frac_high": float(r["frac_high"][-1]),
                     "frac_low_t": [round(float(x), 4) for x in r["frac_low"]],
                     "frac_high_t": [round(float(x), 4) for x in r["frac_high"]],
                     "rate_hz_t": [round(float(x), 2) for x in r["rate_hz"]],
                     "rate_hz_last_10s": float(r["spikes"][-last:].sum() / (last * p.chunk_s)),
                     "wall_s": round(r["seconds"], 2)}
    out["frac_low"], out["frac_high"] = (out["spikeloom"]["frac_low"],
                                         out["spikeloom"]["frac_high"])
    ok = True
    if args.check_samples:
        c = ex.check_vboard(p, seconds=5.0 if args.quick else 20.0)
        out["vboard_check"] = c
        ok = c["identical"]
    return out, ok


def patterns(args) -> tuple[dict, bool]:
    """Issue 22 point 3 (examples/patterns.py): one pattern, then 2..5 against overlap."""
    ex = load_example("patterns")
    p = ex.Params()
    keep = ("accuracy", "hit_rate", "false_alarm_rate", "neuron_labels", "w_pattern",
            "w_other", "train_ticks", "train_seconds", "test_presentations")
    t0 = time.perf_counter()
    r = ex.experiment(p, 1)
    out = {"preset": ex.PRESET, "params": {k: list(v) if isinstance(v, tuple) else v
                                           for k, v in dataclasses.asdict(p).items()},
           "single_accuracy": r["accuracy"], "single": {k: r[k] for k in keep}, "table": [],
           "backend": "model:// golden model in process (fast engine)"}
    ok = True
    if args.check_samples:
        c = ex.check_vboard(p, r)
        out["vboard_check"] = c
        ok = c["identical"]
    for n in ((2, 3) if args.quick else (2, 3, 4, 5)):
        for overlap in (0.0, 0.25, 0.5):
            t = ex.experiment(p, n, overlap)
            out["table"].append({"patterns": n, "overlap": overlap,
                                 **{k: t[k] for k in keep}})
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    return out, ok


WORKLOADS = {"digits_onchip": digits_onchip, "song2000": song2000, "patterns": patterns}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=None, help="default: the example's EPOCHS")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--check-samples", type=int, default=100)
    ap.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    ap.add_argument("--out", default=str(HERE / "workloads.json"))
    args = ap.parse_args(argv)

    out, ok = {}, True
    for name in args.workloads:
        out[name], good = WORKLOADS[name](args)
        ok = ok and good
        def short(d):
            return {k: short(v) if isinstance(v, dict) else v for k, v in d.items()
                    if k not in ("params", "table", "per_epoch") and not k.endswith("_t")}
        print(json.dumps({name: short(out[name])}), flush=True)
    pathlib.Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
