"""The virtual board: the exact RTL top, Verilated with a C++ main, served on a TCP port.

Contract:

- :func:`binary` returns the harness executable for ``Top(cfg, build_id, **core_kwargs)``, built
  on first use into ``<build>/vboard/<key>/`` (``key`` = :func:`spikeloom.sim.export.design_key`,
  the same key as the Verilog) and rebuilt when the Verilog, ``vboard.cpp`` or the Verilator flags
  change. Parallel callers wait on a lock instead of compiling twice. :func:`build_binary` does the
  same for any ``spikeloom_top`` Verilog file (the tests' stand-in designs).
- :func:`serve` runs the board in the foreground (blocking) until SIGINT/SIGTERM and returns
  after the harness exited cleanly; it prints the URL to use (``socket://HOST:PORT`` or a
  ``/dev/pts/N`` path with ``pty=True``).
- :class:`VirtualBoard` is a context manager that starts the board in the background, waits until
  it listens, exposes ``.url`` / ``.port``, the simulated cycle count ``.cycles`` and the other
  counters (:meth:`VirtualBoard.stats`), and always stops the process on exit.
- Behaviour of the harness itself (UART at the bit level, one client at a time, idling, the stats
  file) is documented at the top of ``vboard.cpp``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from spikeloom.errors import BuildError, Error, LinkError
from spikeloom.sim import export, verilator

__all__ = ["HARNESS", "VERILATOR_FLAGS", "binary", "build_binary", "command", "serve",
           "VirtualBoard"]

HARNESS = Path(__file__).with_name("vboard.cpp")

VERILATOR_FLAGS = (
    "--cc", "--exe", "--build", "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
    "-Wno-fatal", "-Wno-WIDTH", "-Wno-CASEINCOMPLETE", "-Wno-lint", "-Wno-style",
    "--top-module", export.TOP_NAME, "-CFLAGS", "-O2 -std=c++17", "-j", "2",
    # Verilator's own generated code is compiled with OPT_FAST (-Os by default): -O2 is faster.
    "-MAKEFLAGS", " ".join(("OPT_FAST=-O2", "OPT_SLOW=-O1", "OPT_GLOBAL=-O2",
                            *verilator.MAKE_FIXES)),
)

_READY = re.compile(r"serving on (\S+)")
_STATS = struct.Struct("<8Q")
_STATS_MAGIC = 0x7662726473746174


def _config(config):
    from spikeloom.proto.config import CoreConfig, preset
    if isinstance(config, str):
        return preset(config)
    if not isinstance(config, CoreConfig):
        raise TypeError(f"config must be a CoreConfig or a preset name, not {config!r}")
    return config


def build_binary(verilog: str | os.PathLike, key: str | None = None) -> Path:
    """The harness executable for the ``spikeloom_top`` module in ``verilog`` (built if needed)."""
    verilog = Path(verilog)
    source = verilog.read_bytes()
    stamp = hashlib.sha256(
        source + b"\0" + HARNESS.read_bytes() + b"\0" + "\0".join(VERILATOR_FLAGS).encode()
    ).hexdigest()
    if key is None:
        key = "v" + stamp[:15]
    out = export.build_root() / "vboard" / key
    exe, stamp_file = out / "vboard", out / "stamp"

    def fresh():
        return exe.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp

    if fresh():
        return exe
    with export.locked(out / ".lock"):
        if fresh():
            return exe
        obj = out / "obj"
        shutil.rmtree(obj, ignore_errors=True)
        obj.mkdir(parents=True)
        # Verilator and make see copies inside obj/, so nothing outside the lock changes them.
        shutil.copyfile(verilog, obj / f"{export.TOP_NAME}.v")
        shutil.copyfile(HARNESS, obj / "vboard.cpp")
        t0 = time.monotonic()
        verilator.run([*VERILATOR_FLAGS, "--Mdir", ".", "-o", "vboard",
                       f"{export.TOP_NAME}.v", "vboard.cpp"], cwd=obj)
        built = obj / "vboard"
        if not built.is_file():
            raise BuildError(f"verilator reported success but {built} is missing")
        tmp = out / f".vboard.{os.getpid()}.tmp"
        shutil.copyfile(built, tmp)
        os.chmod(tmp, 0o755)
        os.replace(tmp, exe)
        export.atomic_write(out / "build_seconds", f"{time.monotonic() - t0:.1f}\n")
        export.atomic_write(stamp_file, stamp)
    return exe


def binary(config="default", build_id: bytes = b"spikeloo", **core_kwargs) -> Path:
    """The harness executable of the real top for ``config`` (a CoreConfig or a preset name)."""
    cfg = _config(config)
    verilog = export.verilog_path(cfg, build_id, **core_kwargs)
    return build_binary(verilog, export.design_key(cfg, build_id, **core_kwargs))


def command(exe, *, divisor: int, clock_hz: int, port: int = 0, host: str = "127.0.0.1",
            pty: bool = False, stats: str | os.PathLike | None = None,
            quiet: bool = False, die_with_parent: bool = False) -> list[str]:
    """The argv that starts the harness ``exe`` (``die_with_parent``: it exits when this
    process is gone, so a killed launcher leaves no orphan)."""
    cmd = [str(exe), "--host", host, "--port", str(port), "--divisor", str(divisor),
           "--clock-hz", str(clock_hz)]
    if pty:
        cmd.append("--pty")
    if stats is not None:
        cmd += ["--stats", str(stats)]
    if quiet:
        cmd.append("--quiet")
    if die_with_parent:
        cmd += ["--parent-pid", str(os.getpid())]
    return cmd


def serve(config, port: int = 0, *, host: str = "127.0.0.1", pty: bool = False) -> None:
    """Serve a virtual board in the foreground until SIGINT/SIGTERM (see module docstring)."""
    cfg = _config(config)
    exe = binary(cfg)
    proc = subprocess.Popen(command(exe, divisor=cfg.uart_divisor, clock_hz=cfg.clock_hz,
                                    port=port, host=host, pty=pty, die_with_parent=True))
    forwarded = {}
    if threading.current_thread() is threading.main_thread():
        # SIGTERM to us stops the harness too; SIGINT (Ctrl-C) usually reaches both already.
        def forward(signum, _frame):
            proc.send_signal(signum)
        forwarded[signal.SIGTERM] = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                code = proc.wait()
                break
            except KeyboardInterrupt:
                proc.send_signal(signal.SIGINT)
    finally:
        for signum, old in forwarded.items():
            signal.signal(signum, old)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        raise LinkError(f"the virtual board exited with status {code}")


class VirtualBoard:
    """A virtual board running in the background; use as a context manager.

    ``config`` is a preset name or a CoreConfig (the real top is built for it), unless ``exe``
    names a prebuilt harness (then ``divisor``/``clock_hz`` default to the config's). ``.url`` is
    ``socket://127.0.0.1:PORT`` once started.
    """

    def __init__(self, config="default", port: int = 0, *, host: str = "127.0.0.1",
                 exe: str | os.PathLike | None = None, divisor: int | None = None,
                 clock_hz: int | None = None, build_id: bytes = b"spikeloo",
                 start_timeout: float = 30.0, **core_kwargs):
        self.config = _config(config)
        self.port = port
        self.host = host
        self.exe = Path(exe) if exe is not None else None
        self.divisor = divisor if divisor is not None else self.config.uart_divisor
        self.clock_hz = clock_hz if clock_hz is not None else self.config.clock_hz
        self.build_id = build_id
        self.core_kwargs = core_kwargs
        self.start_timeout = start_timeout
        self.url: str | None = None
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self._dir: tempfile.TemporaryDirectory | None = None
        self._last_stats: dict | None = None

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> VirtualBoard:
        if self.proc is not None:
            raise Error("this VirtualBoard is already started")
        if self.exe is None:
            self.exe = binary(self.config, self.build_id, **self.core_kwargs)
        self._dir = tempfile.TemporaryDirectory(prefix="spikeloom-vboard-")
        d = Path(self._dir.name)
        self._stdout, self._stderr = open(d / "stdout", "wb"), open(d / "stderr", "wb")
        self.proc = subprocess.Popen(
            command(self.exe, divisor=self.divisor, clock_hz=self.clock_hz, port=self.port,
                    host=self.host, stats=d / "stats", die_with_parent=True),
            stdin=subprocess.DEVNULL, stdout=self._stdout, stderr=self._stderr,
            start_new_session=True)     # a Ctrl-C in the terminal is the caller's, not ours
        deadline = time.monotonic() + self.start_timeout
        while True:
            m = _READY.search((d / "stdout").read_text(errors="replace"))
            if m:
                self.url = m.group(1)
                self.port = int(self.url.rsplit(":", 1)[1])
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = (d / "stderr").read_text(errors="replace").strip()
                self.stop()
                raise LinkError(f"the virtual board did not start: {err or 'timeout'}")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the harness, wait for it (kill after ``timeout``), return its exit status."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        try:
            self._last_stats = self._read_stats()
        except OSError:
            pass
        self._stdout.close()
        self._stderr.close()
        self.stderr_text = (Path(self._dir.name) / "stderr").read_text(errors="replace")
        self._dir.cleanup()
        self.proc = None
        return self.returncode

    def __enter__(self) -> VirtualBoard:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- counters ---------------------------------------------------------------------------------

    def _read_stats(self) -> dict:
        raw = (Path(self._dir.name) / "stats").read_bytes()
        v = _STATS.unpack(raw[:_STATS.size])
        if v[0] != _STATS_MAGIC:
            raise LinkError("the virtual board's stats file is not initialised")
        return {"cycles": v[1], "bytes_in": v[2], "bytes_out": v[3], "framing_errors": v[4],
                "clients": v[5], "busy_seconds": v[6] / 1e9, "running": bool(v[7])}

    def stats(self) -> dict:
        """Counters of the harness: cycles, bytes_in/out, framing_errors, clients, busy_seconds."""
        if self.proc is None:
            if self._last_stats is None:
                raise Error("this VirtualBoard was never started")
            return dict(self._last_stats)
        return self._read_stats()

    @property
    def cycles(self) -> int:
        """Simulated clock cycles so far (refreshed every few thousand cycles)."""
        return self.stats()["cycles"]
