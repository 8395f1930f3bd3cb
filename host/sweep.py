"""Parameter sweeps fanned out over Ray: ``sl.sweep(fn, grid)`` and ``spikeloom sweep spec.py``.

::

    def fn(a_plus, tau, seed):          # one keyword per grid axis (+ seed, if it takes one)
        ...                             # build, compile, run on model:// (or a virtual board)
        return {"accuracy": acc}        # a dict of results (numbers, strings, arrays)

    df = sl.sweep(fn, {"a_plus": [0.005, 0.01, 0.02], "tau": [10.0, 20.0]})

Contract:

- ``grid`` maps axis names to value lists; the full product runs, first axis slowest. The
  DataFrame has one row per point, in that order: the grid columns, ``seed`` (when passed),
  the keys ``fn`` returned, and ``attempts`` (how many times the task ran).
- Seeds are deterministic: when ``fn`` takes a ``seed`` parameter and ``seed`` is not an axis,
  each point gets ``seed_of(base_seed, point)``: the first 8 bytes (big-endian, top bit cleared)
  of SHA-256 over ``f"{base_seed}|{sorted((axis, value) ...)!r}"``. It depends on the point's
  values only, not on the order, the worker or the rest of the grid.
- Ray runs the tasks: on a local instance started with ``workers`` CPUs (default: all cores),
  or on the cluster at ``address`` (``"auto"`` or ``"ray://HEAD:10001"``); a Ray already
  initialised in this process is used as is, with at most ``workers`` tasks in flight. Ray is
  imported only here, when a sweep runs (``import spikeloom`` does not import it).
- A task whose worker dies (killed, out of memory, node lost) or whose ``fn`` raises is run
  again, up to ``max_retries`` more times; every failed attempt is reported on stderr and in
  ``df.attrs["failures"]``. A task that still fails is never silently missing: :class:`SweepError`
  names every lost task, its point and its last error (the other results are in
  ``error.frame``).
- ``out`` writes the DataFrame as ``.csv`` or ``.parquet`` (parquet needs pyarrow; without it
  a SweepError says so).

``fn`` travels to the workers by value (cloudpickle), so a function defined in a script, a test
or a spec file works on a cluster whose nodes have spikeloom (and what ``fn`` imports) installed.

The module itself is callable: ``spikeloom.sweep(fn, grid)`` is ``spikeloom.sweep.sweep(fn,
grid)``, so ``sl.sweep(...)`` works whether the package root exposes this module or the function
(a package attribute and a submodule of the same name would otherwise shadow each other).
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import itertools
import os
import pathlib
import runpy
import sys
import types
from collections import deque

from .errors import Error

__all__ = ["sweep", "points", "seed_of", "check_grid", "check_out", "load_spec", "write",
           "SweepError", "SpecError"]


class SweepError(Error):
    """Tasks of a sweep were lost after every retry, or the results cannot be stored.
    ``frame`` holds the rows that did complete (or None)."""

    def __init__(self, message: str, frame=None):
        super().__init__(message)
        self.frame = frame


class SpecError(Error, ValueError):
    """A sweep function, grid or spec file that cannot run (the CLI exits with status 2)."""


# -- grid and seeds -----------------------------------------------------------------------------

def _plain(v):
    """Python scalars for numpy scalars, so points print, hash and store the same way."""
    return v.item() if hasattr(v, "item") and getattr(v, "ndim", None) == 0 else v


def check_grid(grid) -> dict[str, list]:
    """``grid`` as ``{axis: list of values}``; SpecError names what is wrong."""
    if not isinstance(grid, dict) or not grid:
        raise SpecError(f"grid must be a non-empty dict of axis -> values, not {grid!r:.80}")
    out = {}
    for axis, values in grid.items():
        if not isinstance(axis, str) or not axis.isidentifier():
            raise SpecError(f"grid axis {axis!r} is not a valid keyword argument name")
        if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
            raise SpecError(f"grid axis {axis!r} must be a list of values, not {values!r:.80}")
        values = [_plain(v) for v in values]
        if not values:
            raise SpecError(f"grid axis {axis!r} has no values")
        out[axis] = values
    return out


def points(grid) -> list[dict]:
    """The full product of ``grid``, first axis slowest."""
    g = check_grid(grid)
    return [dict(zip(g, combo, strict=True)) for combo in itertools.product(*g.values())]


def seed_of(base_seed: int, point: dict) -> int:
    """The deterministic seed of ``point`` (see the module docstring)."""
    key = f"{int(base_seed)}|{sorted((k, _plain(v)) for k, v in point.items())!r}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 1


def _takes_seed(fn, axes) -> bool:
    if "seed" in axes:
        return False
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "seed" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def _check_fn(fn, axes) -> None:
    if not callable(fn):
        raise SpecError(f"fn must be callable, not {fn!r:.80}")
    kwargs = {a: None for a in axes}
    if _takes_seed(fn, axes):
        kwargs["seed"] = 0
    try:
        inspect.signature(fn).bind(**kwargs)
    except TypeError as e:
        raise SpecError(f"fn{inspect.signature(fn)} cannot take the grid axes "
                        f"{', '.join(axes)}: {e}") from None
    except ValueError:
        pass                    # no signature (a builtin): find out when it runs


# -- spec files ---------------------------------------------------------------------------------

def load_spec(path) -> tuple:
    """``(fn, grid)`` from a Python file defining them; SpecError (one line) otherwise."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise SpecError(f"sweep spec {path} does not exist")
    try:
        ns = runpy.run_path(str(path), run_name="spikeloom_sweep_spec")
    except SyntaxError as e:
        raise SpecError(f"sweep spec {path}, line {e.lineno}: SyntaxError: {e.msg}") from None
    except Exception as e:      # noqa: BLE001 - any failure of the user's file is a bad spec
        raise SpecError(f"sweep spec {path} failed to run: {type(e).__name__}: {e}") from None
    missing = [name for name in ("fn", "grid") if name not in ns]
    if missing:
        raise SpecError(f"sweep spec {path} must define {' and '.join(missing)} "
                        "(fn(**point) -> dict, grid = {axis: [values]})")
    try:
        grid = check_grid(ns["grid"])
        _check_fn(ns["fn"], list(grid))
    except SpecError as e:
        raise SpecError(f"sweep spec {path}: {e}") from None
    return ns["fn"], grid


# -- running ------------------------------------------------------------------------------------

def _run_task(blob: bytes, point: dict):
    """Runs on a Ray worker: the pickled fn on one point."""
    import cloudpickle
    return cloudpickle.loads(blob)(**point)


@contextlib.contextmanager
def _by_value(fn):
    """Pickle ``fn``'s module by value while dumping, so workers need not import it."""
    import cloudpickle
    name = getattr(fn, "__module__", None)
    mod = sys.modules.get(name) if name else None
    register = (mod is not None and name != "__main__" and not name.startswith("spikeloom")
                and getattr(mod, "__file__", None) is not None
                and "site-packages" not in str(mod.__file__))
    if register:
        cloudpickle.register_pickle_by_value(mod)
    try:
        yield
    finally:
        if register:
            cloudpickle.unregister_pickle_by_value(mod)


def _describe(point: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in point.items())


def _error_text(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):       # RayTaskError wraps what fn raised
        exc = cause
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def _ray(address, workers):
    import logging
    import warnings
    with warnings.catch_warnings():
        # Ray's own dependencies warn on import (deprecations); not the user's concern
        warnings.simplefilter("ignore")
        import ray
    if not ray.is_initialized():
        opts = {"include_dashboard": False, "logging_level": logging.WARNING}
        if address:
            ray.init(address=address, **opts)
        else:
            ray.init(num_cpus=workers or os.cpu_count() or 1, **opts)
    return ray


def sweep(fn, grid, workers: int | None = None, address: str | None = None, *,
          seed: int = 0, max_retries: int = 2, progress: bool | None = None, out=None):
    """Run ``fn(**point)`` for every point of ``grid`` on Ray; a pandas DataFrame of the
    results (see the module docstring for the contract)."""
    grid = check_grid(grid)
    _check_fn(fn, list(grid))
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise SpecError(f"workers must be a positive int, not {workers!r}")
    if not isinstance(max_retries, int) or max_retries < 0:
        raise SpecError(f"max_retries must be a non-negative int, not {max_retries!r}")
    check_out(out)
    import cloudpickle
    import pandas as pd
    from tqdm import tqdm

    pts = points(grid)
    with_seed = _takes_seed(fn, grid)
    calls = [dict(p, seed=seed_of(seed, p)) if with_seed else dict(p) for p in pts]
    with _by_value(fn):
        blob = cloudpickle.dumps(fn)
    ray = _ray(address, workers)
    task = ray.remote(_run_task).options(max_retries=0, retry_exceptions=False, num_cpus=1)
    limit = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    blob_ref = ray.put(blob)

    results, attempts = [None] * len(calls), [0] * len(calls)
    failures: dict[int, list[str]] = {}
    lost: dict[int, str] = {}
    queue, pending = deque(range(len(calls))), {}
    # progress None: a bar when stderr is a terminal (tqdm's disable=None)
    with tqdm(total=len(calls), desc="sweep", unit="task",
              disable=None if progress is None else not progress) as bar:
        while queue or pending:
            while queue and len(pending) < limit:
                k = queue.popleft()
                attempts[k] += 1
                pending[task.remote(blob_ref, calls[k])] = k
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                k = pending.pop(ref)
                try:
                    res = ray.get(ref)
                except ray.exceptions.RayError as e:
                    msg = _error_text(e)
                    failures.setdefault(k, []).append(msg)
                    again = attempts[k] <= max_retries
                    print(f"spikeloom.sweep: task {k} ({_describe(calls[k])}) failed on attempt "
                          f"{attempts[k]}: {msg}" + ("; retrying" if again else "; giving up"),
                          file=sys.stderr)
                    if again:
                        queue.append(k)
                    else:
                        lost[k] = msg
                    continue
                if not isinstance(res, dict):
                    lost[k] = f"fn returned {type(res).__name__}, not a dict"
                    continue
                clash = set(res) & (set(calls[k]) | {"attempts"})
                if clash:
                    lost[k] = f"fn returned keys that name grid columns: {sorted(clash)}"
                    continue
                results[k] = res
                bar.update(1)

    rows = [dict(c, **r, attempts=a) for c, r, a in zip(calls, results, attempts, strict=True)
            if r is not None]
    frame = pd.DataFrame(rows)
    frame.attrs["failures"] = {k: v for k, v in failures.items()}
    if lost:
        names = "; ".join(f"task {k} ({_describe(calls[k])}) after {attempts[k]} attempt(s): "
                          f"{msg}" for k, msg in sorted(lost.items()))
        raise SweepError(f"{len(lost)} of {len(calls)} sweep tasks lost: {names}", frame)
    if out is not None:
        write(frame, out)
    return frame


def check_out(out) -> None:
    """SpecError unless ``out`` is None or names a .csv or .parquet file."""
    if out is not None and pathlib.Path(out).suffix not in (".csv", ".parquet"):
        raise SpecError(f"cannot write {out}: results go to a .csv or .parquet file")


def write(frame, out) -> None:
    """Write ``frame`` to ``out`` (.csv, or .parquet when pyarrow is installed)."""
    out = pathlib.Path(out)
    if out.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401 - pandas' parquet engine
        except ImportError:
            raise SweepError(f"cannot write {out}: parquet needs pyarrow (pip install pyarrow), "
                             "or write .csv") from None
        frame.to_parquet(out)
    elif out.suffix == ".csv":
        frame.to_csv(out, index=False)
    else:
        raise SweepError(f"cannot write {out}: write .csv or .parquet")


class _CallableModule(types.ModuleType):
    """This module's type: calling the module calls :func:`sweep`."""

    def __call__(self, fn, grid, workers=None, address=None, **options):
        return sweep(fn, grid, workers, address, **options)


sys.modules[__name__].__class__ = _CallableModule
