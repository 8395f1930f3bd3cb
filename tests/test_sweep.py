"""Sweeps on a local Ray instance (spikeloom.sweep, ``spikeloom sweep``).

Ray starts once for the module (about 5 s here) with 2 CPUs. A 2-worker sweep returns every
row in grid order with deterministic seeds; a worker process killed mid-sweep (SIGKILL from
inside ``fn`` on its first attempt, remembered in a marker file) still yields every row through
the retry, and the retry is reported; a task that keeps failing is named in the error, never
silently missing; bad spec files are refused by the CLI with one line and exit status 2 before
Ray starts; importing spikeloom does not import Ray or pandas.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings

import pytest

pytest.importorskip("pandas", reason="the cluster extra (pandas) is not installed")
pytest.importorskip("ray", reason="the cluster extra (ray) is not installed")

import importlib  # noqa: E402

from spikeloom import cli  # noqa: E402

# the module (whatever the package root binds to the name `sweep`: the module or the function)
sw = importlib.import_module("spikeloom.sweep")


@pytest.fixture(scope="module")
def ray_local():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import ray
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def product(x, y, seed):
    return {"z": x * y, "seed_seen": seed, "pid": os.getpid()}


def test_two_worker_sweep_returns_every_row(ray_local):
    grid = {"x": [1, 2, 3], "y": [10.0, 20.0]}
    df = sw.sweep(product, grid, workers=2, seed=7, progress=False)
    assert list(df["x"]) == [1, 1, 2, 2, 3, 3] and list(df["y"]) == [10.0, 20.0] * 3
    assert list(df["z"]) == [x * y for x in grid["x"] for y in grid["y"]]
    # the seed passed to fn is the documented function of the point, not of order or worker
    assert list(df["seed"]) == list(df["seed_seen"])
    assert list(df["seed"]) == [sw.seed_of(7, {"x": x, "y": y})
                                for x in grid["x"] for y in grid["y"]]
    assert len(set(df["seed"])) == 6
    assert set(df["attempts"]) == {1}
    assert os.getpid() not in set(df["pid"])                 # ran in Ray workers


def test_module_is_callable(ray_local):
    df = sw(product, {"x": [2], "y": [3.0]}, 1, progress=False)      # spikeloom.sweep(fn, grid)
    assert list(df["z"]) == [6.0]


def test_seed_of_depends_on_the_point_only():
    assert sw.seed_of(0, {"a": 1, "b": 2.5}) == sw.seed_of(0, {"b": 2.5, "a": 1})
    assert sw.seed_of(0, {"a": 1}) != sw.seed_of(1, {"a": 1}) != sw.seed_of(0, {"a": 2})
    assert 0 <= sw.seed_of(123, {"a": "x"}) < 2**63


def make_killer(marker_dir):
    def fn(k):
        marker = os.path.join(marker_dir, f"attempted-{k}")
        if k == 3 and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)            # the worker process dies mid-task
        return {"square": k * k}
    return fn


def test_killed_worker_is_retried(ray_local, tmp_path, capsys):
    df = sw.sweep(make_killer(str(tmp_path)), {"k": list(range(6))}, workers=2,
                  progress=False)
    assert list(df["square"]) == [k * k for k in range(6)]  # every row, in order
    assert (tmp_path / "attempted-3").exists()
    assert list(df["attempts"]) == [1, 1, 1, 2, 1, 1]
    assert list(df.attrs["failures"]) == [3]
    err = capsys.readouterr().err
    assert "task 3 (k=3) failed on attempt 1" in err and "retrying" in err


def flaky(k):
    if k == 2:
        raise RuntimeError("bad point")
    return {"k2": 2 * k}


def test_lost_task_is_named(ray_local):
    with pytest.raises(sw.SweepError, match=r"1 of 4 sweep tasks lost: task 2 \(k=2\) after 2 "
                                            r"attempt\(s\): RuntimeError: bad point") as info:
        sw.sweep(flaky, {"k": [0, 1, 2, 3]}, workers=2, max_retries=1, progress=False)
    assert list(info.value.frame["k"]) == [0, 1, 3]         # what did complete


def test_results_written(ray_local, tmp_path):
    out = tmp_path / "r.csv"
    df = sw.sweep(flaky, {"k": [0, 1]}, workers=2, out=out, progress=False)
    assert out.read_text().splitlines()[0] == "k,k2,attempts" and len(df) == 2
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(sw.SweepError, match="parquet needs pyarrow"):
            sw.write(df, tmp_path / "r.parquet")
    else:
        sw.write(df, tmp_path / "r.parquet")
        assert (tmp_path / "r.parquet").stat().st_size > 0


def test_cli_sweep(ray_local, tmp_path, capsys):
    spec = tmp_path / "spec.py"
    spec.write_text("def fn(a, b):\n    return {'s': a + b}\n\ngrid = {'a': [1, 2], 'b': [3]}\n")
    assert cli.main(["sweep", str(spec), "--workers", "2", "--out", str(tmp_path / "o.csv")]) == 0
    assert "2 rows written" in capsys.readouterr().out
    assert (tmp_path / "o.csv").read_text().splitlines()[1:] == ["1,3,4,1", "2,3,5,1"]


BAD_SPECS = [
    ("nothing = 1\n", "must define fn and grid"),
    ("def fn(a):\n    return {}\n", "must define grid"),
    ("def fn(a):\n    return {}\ngrid = {'a': []}\n", "grid axis 'a' has no values"),
    ("def fn(a):\n    return {}\ngrid = {'a': 'abc'}\n", "grid axis 'a' must be a list"),
    ("def fn(a):\n    return {}\ngrid = [1, 2]\n", "grid must be a non-empty dict"),
    ("def fn(a):\n    return {}\ngrid = {'b': [1]}\n", "cannot take the grid axes b"),
    ("fn = 3\ngrid = {'a': [1]}\n", "fn must be callable"),
    ("def fn(a):\n  return {}\n grid = {}\n", "line 3: SyntaxError"),
    ("import no_such_module_xyz\n", "failed to run: ModuleNotFoundError"),
]


@pytest.mark.parametrize("text,message", BAD_SPECS, ids=[m for _, m in BAD_SPECS])
def test_cli_rejects_bad_specs(tmp_path, capsys, text, message):
    spec = tmp_path / "spec.py"
    spec.write_text(text)
    assert cli.main(["sweep", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("spikeloom: error: sweep spec")
    assert message in err


def test_cli_rejects_missing_spec_and_bad_out(tmp_path, capsys):
    assert cli.main(["sweep", str(tmp_path / "none.py")]) == 2
    assert "does not exist" in capsys.readouterr().err
    spec = tmp_path / "spec.py"
    spec.write_text("def fn(a):\n    return {}\ngrid = {'a': [1]}\n")
    assert cli.main(["sweep", str(spec), "--out", "r.xlsx"]) == 2
    assert ".csv or .parquet" in capsys.readouterr().err


def test_import_does_not_import_ray():
    code = ("import sys, spikeloom, spikeloom.sweep, spikeloom.cli; "
            "print(sorted(m for m in ('ray', 'pandas') if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.strip() == "[]"
