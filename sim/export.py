"""Verilog of the top-level, converted once per (configuration, parameters, HDL sources).

Contract:

- :func:`verilog_path` returns the path of ``spikeloom_top.v``: :class:`spikeloom.hdl.top.Top`
  ``(cfg, build_id=build_id, **core_kwargs)`` converted with
  ``amaranth.back.verilog.convert(name="spikeloom_top")`` under ``AMARANTH_USE_YOSYS=builtin``
  (the deterministic WASM Yosys, whatever ``YOSYS`` points at).
- The file lives in ``<build>/verilog/<key>/`` where ``key`` (:func:`design_key`) hashes
  ``cfg.hash()``, the parameters, and the bytes of every ``hdl/*.py`` and ``proto/*.py``; so editing
  the gateware regenerates it, and a second call with the same inputs costs a stat.
- Writes are atomic (temporary file, then ``os.replace``) and serialised by a lock file, so
  parallel pytest workers never read a half-written file nor convert twice.
- :func:`build_root` is ``$SPIKELOOM_BUILD_DIR`` if set, else ``build/`` at the top of a source
  checkout (editable install), else ``~/.cache/spikeloom``.
- :func:`cached_verilog` is the same machinery for any elaboratable (the tests' stand-in designs).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..proto.protocol import BUILD_ID

__all__ = ["TOP_NAME", "build_root", "source_digest", "design_key", "verilog_path",
           "cached_verilog", "locked", "atomic_write"]

TOP_NAME = "spikeloom_top"


def build_root() -> Path:
    """Where generated files go (see module docstring)."""
    env = os.environ.get("SPIKELOOM_BUILD_DIR")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "hdl").is_dir():
        return checkout / "build"
    return Path.home() / ".cache" / "spikeloom"


def _package_dir(name: str) -> Path:
    import importlib
    return Path(importlib.import_module(name).__file__).resolve().parent


def source_digest() -> str:
    """SHA-256 over the names and bytes of every ``hdl/*.py`` and ``proto/*.py``."""
    h = hashlib.sha256()
    for pkg in ("spikeloom.hdl", "spikeloom.proto"):
        for path in sorted(_package_dir(pkg).glob("*.py")):
            h.update(f"{pkg}/{path.name}\0".encode())
            h.update(path.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def _describe(value) -> str:
    """A stable text for a parameter value (callables by qualified name, not by address)."""
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
    return repr(value)


def design_key(cfg, build_id: bytes = BUILD_ID, **core_kwargs) -> str:
    """The cache key of the top built from ``cfg`` and these parameters (16 hex digits)."""
    h = hashlib.sha256()
    h.update(f"cfg={cfg.hash():08x}\0build_id={bytes(build_id)!r}\0".encode())
    for name in sorted(core_kwargs):
        h.update(f"{name}={_describe(core_kwargs[name])}\0".encode())
    h.update(source_digest().encode())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def locked(path: Path):
    """An exclusive advisory lock on ``path`` (created if missing), held for the ``with`` body."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _convert(elaboratable) -> str:
    from amaranth.back import verilog
    old = os.environ.get("AMARANTH_USE_YOSYS")
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"
    try:
        return verilog.convert(elaboratable, name=TOP_NAME)
    finally:
        if old is None:
            del os.environ["AMARANTH_USE_YOSYS"]
        else:
            os.environ["AMARANTH_USE_YOSYS"] = old


def cached_verilog(key: str, make: Callable[[], object]) -> Path:
    """``<build>/verilog/<key>/spikeloom_top.v``, converting ``make()`` if it is not there yet."""
    out = build_root() / "verilog" / key / f"{TOP_NAME}.v"
    if out.is_file():
        return out
    with locked(out.parent / ".lock"):
        if not out.is_file():       # another worker may have converted while we waited
            atomic_write(out, _convert(make()))
    return out


def verilog_path(cfg, build_id: bytes = BUILD_ID, **core_kwargs) -> Path:
    """Path of the Verilog of ``Top(cfg, build_id=build_id, **core_kwargs)`` (see module doc).

    ``cfg`` is a :class:`~spikeloom.proto.config.CoreConfig` or a preset name.
    """
    from spikeloom.proto.config import CoreConfig, preset
    if isinstance(cfg, str):
        cfg = preset(cfg)
    if not isinstance(cfg, CoreConfig):
        raise TypeError(f"cfg must be a CoreConfig or a preset name, not {cfg!r}")

    def make():
        from spikeloom.hdl.top import Top
        return Top(cfg, build_id=build_id, **core_kwargs)

    return cached_verilog(design_key(cfg, build_id, **core_kwargs), make)
