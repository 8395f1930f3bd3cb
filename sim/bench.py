"""The ``spikeloom bench`` hook: runs the benchmark aggregator of the source checkout.

Contract: :func:`main` ``(argv) -> int`` is what ``spikeloom bench [ARGS]`` (host/cli.py) calls.

- ``spikeloom bench [--quick | --smoke] [run.py options]`` runs bench/run.py (every benchmark,
  bench/results.json and bench/results.md);
- ``spikeloom bench NAME [ARGS]`` runs one script, bench/NAME.py's ``main(ARGS)`` (e.g.
  ``spikeloom bench cycles --quick``); ``spikeloom bench --list`` names the scripts.

Benchmarks are scripts in the checkout's bench/ folder, not part of the installed package: they
need the RTL, the tests' harness and the build folder. Without a checkout (an installed wheel)
:func:`main` says so and returns 2.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

__all__ = ["bench_dir", "main"]


def bench_dir() -> pathlib.Path | None:
    """The checkout's bench/ folder (this file lives in <checkout>/sim/), or None."""
    here = pathlib.Path(__file__).resolve().parent.parent / "bench"
    return here if (here / "run.py").is_file() else None


def _load(path: pathlib.Path):
    spec = importlib.util.spec_from_file_location(f"spikeloom_bench_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    folder = bench_dir()
    if folder is None:
        print("spikeloom: benchmarks need a source checkout (git clone the spikeloom repository "
              "and run `make bench` there): the installed package has no bench/ folder",
              file=sys.stderr)
        return 2
    scripts = {p.stem: p for p in sorted(folder.glob("*.py")) if not p.stem.startswith("_")}
    if argv[:1] == ["--list"]:
        print("\n".join(scripts))
        return 0
    if argv and not argv[0].startswith("-"):
        name, rest = argv[0], argv[1:]
        if name not in scripts:
            print(f"spikeloom: no benchmark {name!r}; available: {', '.join(scripts)}",
                  file=sys.stderr)
            return 2
        return int(_load(scripts[name]).main(rest) or 0)
    return int(_load(scripts["run"]).main(argv) or 0)
