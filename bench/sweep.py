"""Speed-up of a sweep on local Ray with 2 workers over the same tasks in one process.

The task is a small research run: compile bench/model_speed.py's network (preset ``default``,
every input to every neuron with pair STDP, 10 % recurrent inhibition) with a per-task seed and
STDP rate, and run it on the golden model (fast engine) for ``--ticks`` ticks of random input.
16 tasks (4 rates x 4 seeds) run once one after another in this process (the kernel already
loaded, as a sequential script would have it), then through ``spikeloom.sweep`` on a local Ray
instance with 2 workers. Ray's start-up is timed apart and not in the ratio; each worker's first
task includes loading numba's cached kernel, as in a real sweep. Both runs must return the same
results (checked: spike counts and final weight sums per task).

    python bench/sweep.py [--tasks 16] [--workers 2] [--ticks 30000]

Writes bench/sweep.json unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time
import warnings

import model_speed
import numpy as np

__all__ = ["task", "main"]

HERE = pathlib.Path(__file__).resolve().parent


def task(a_plus: float, seed: int, ticks: int) -> dict:
    """One run: compile with this rate and seed, run ``ticks`` ticks, summarise."""
    import spikeloom as sl
    from spikeloom.proto.config import preset
    cfg = preset("default")
    image = sl.compile(model_speed.build_network(cfg, seed, a_plus), target=cfg)
    core = model_speed.golden_core(image)
    raster = np.random.default_rng(seed + 1).random((ticks, cfg.n_inputs)) < 0.05
    out = core.run(ticks, inputs=raster)
    return {"spikes": int(out.sum()), "weight_sum": int(core.weights.sum())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=16, help="tasks (a multiple of 4) [16]")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ticks", type=int, default=30000, help="ticks per task [30000]")
    ap.add_argument("--out", default=str(HERE / "sweep.json"))
    args = ap.parse_args(argv)
    from spikeloom import sweep as sw
    rates = [0.005, 0.01, 0.02, 0.04]
    grid = {"a_plus": rates, "seed": list(range(max(1, args.tasks // len(rates)))),
            "ticks": [args.ticks]}
    points = sw.points(grid)
    task(rates[0], 0, 10)                       # warm: imports, kernel loaded
    t0, c0 = time.perf_counter(), time.process_time()
    serial = [task(**p) for p in points]
    serial_wall, serial_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{len(points)} tasks in one process: {serial_wall:.1f} s", flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import cloudpickle
        import ray
    cloudpickle.register_pickle_by_value(model_speed)   # workers need not find bench/
    t0 = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="WARNING")
    startup = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        frame = sw.sweep(task, grid, workers=args.workers, progress=False)
        ray_wall = time.perf_counter() - t0
    finally:
        ray.shutdown()
    same = [{"spikes": int(r["spikes"]), "weight_sum": int(r["weight_sum"])}
            for r in frame.to_dict("records")] == serial
    speedup = serial_wall / ray_wall
    print(f"the same on local Ray, {args.workers} workers: {ray_wall:.1f} s (+{startup:.1f} s "
          f"to start Ray): {speedup:.2f}x; results {'identical' if same else 'DIFFERENT'}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    result = {"tasks": len(points), "workers": args.workers, "ticks": args.ticks,
              "cores": os.cpu_count(), "serial_wall_s": serial_wall, "serial_cpu_s": serial_cpu,
              "ray_wall_s": ray_wall, "ray_startup_s": startup, "speedup": speedup,
              "attempts": int(frame["attempts"].sum()), "results_identical": same,
              "load_average": [round(x, 2) for x in os.getloadavg()]}
    pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
