"""Workload results (issue 22): unsupervised on-chip digit learning, examples/digits_onchip.py.

Runs the example's experiment on the golden model (fast engine, in process) and writes its
test accuracy, the per-epoch training statistics and the wall times into ``--out`` (JSON).
``--check-samples K`` (default 100; 0: skip) also runs the first K test images of the frozen
network on model:// and on a Verilator virtual board of the ``up5k`` preset and records whether
the spikes are identical. ``--quick``: 300 training images, one epoch.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent

__all__ = ["load_example", "main"]


def load_example(name: str):
    """examples/<name>.py as a module."""
    path = HERE.parent / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=None, help="default: the example's EPOCHS")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--check-samples", type=int, default=100)
    ap.add_argument("--out", default=str(HERE / "workloads.json"))
    args = ap.parse_args(argv)

    ex = load_example("digits_onchip")
    p = ex.Params()
    r = ex.experiment(p, epochs=1 if args.quick else (args.epochs or ex.EPOCHS),
                      n_train=300 if args.quick else None)
    lr = r["learned"]
    out = {"digits_onchip": {
        "test_accuracy": r["accuracy"], "train_accuracy": r["train_accuracy"],
        "test_images": 594, "train_images": r["n_train"], "epochs": len(lr["epochs"]),
        "neurons": p.n_neurons, "preset": ex.PRESET, "params": {
            k: list(v) if isinstance(v, tuple) else v for k, v in vars(p).items()},
        "per_epoch": lr["epochs"], "train_ticks": lr["ticks"],
        "train_wall_s": round(lr["seconds"], 2),
        "train_ticks_per_s": round(lr["ticks"] / lr["seconds"]),
        "eval_ticks": r["eval_ticks"], "eval_wall_s": round(r["eval_seconds"], 2),
        "weights_changed": int((lr["weights"][-1] != lr["weights"][0]).sum()),
        "labelled_neurons": int((r["labels"] >= 0).sum()),
        "backend": "model:// golden model in process (fast engine)"}}
    ok = True
    if args.check_samples:
        c = ex.check_vboard(p, r["image"], args.check_samples, 0)
        out["digits_onchip"]["vboard_check"] = c
        ok = c["identical"]
    pathlib.Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out["digits_onchip"].items() if k != "params"}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
