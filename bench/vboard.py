"""Benchmark of the virtual board (Verilated top + C++ harness); writes bench/vboard.json.

Measures, for one configuration (default: the ``default`` preset):

- ``build_seconds``: Verilog conversion and Verilator compile of the harness (0 when cached; the
  last real compile time is reported as ``last_compile_seconds``);
- ``flat_cycles_per_s``: simulated clock cycles per wall second with the UART idle
  (``vboard --bench N``: the clocking loop plus a poll point every 4096 cycles), and
  ``flat_cycles_per_cpu_s`` per second of CPU time the harness got: on a shared machine (the
  load average is recorded) the wall figure measures the neighbours too;
- ``run_cycles_per_s``: the same while the core runs ticks flat out over the socket and the UART
  streams SPIKES events (cycles from the harness's stats file over wall time);
- ``uart_cycles_per_s``: while 512-byte PINGs keep both UART directions busy (each of these
  ``*_cycles_per_s`` also comes as ``*_cycles_per_cpu_s``);
- ``host_ticks_per_s``: end-to-end ticks per wall second through ``spikeloom.open(url).run``
  with 5 % random input spikes into a compiled network (inputs to all neurons with STDP, sparse
  inhibition), and ``simulated_ticks_per_s``: the same ticks per *simulated* second, i.e. what a
  real board at ``clock_hz`` and ``baud`` would sustain; ``host_unloaded_ticks_per_s`` is the
  same on the unconfigured core (every neuron fires every tick: the longest SPIKES events).

Usage: ``python bench/vboard.py [--config default] [--cycles N] [--ticks N] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
from spikeloom.proto import protocol as P
from spikeloom.proto.config import preset
from spikeloom.sim import export, vboard

__all__ = ["main"]

GOAL_CYCLES_PER_S = 5_000_000


def _frame(opcode, seq, payload=b""):
    return P.encode_frame(P.Frame(int(opcode), seq, 0, payload))


def _drain_until(sock, n_frames, timeout=600.0):
    """Read until ``n_frames`` non-SPIKES frames arrived; returns (reply frames, event count)."""
    dec, replies, events = P.Deframer(), [], 0
    deadline = time.monotonic() + timeout
    while len(replies) < n_frames:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise RuntimeError("the virtual board closed the connection")
        for frame, status in dec.feed(chunk):
            if status != P.Status.OK:
                raise RuntimeError(f"malformed frame from the board: {status!r}")
            if frame.opcode == P.Opcode.SPIKES:
                events += 1
            else:
                replies.append(frame)
    return replies, events


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) the process ``pid`` used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rate(vb, work):
    """(cycles per wall s, cycles per CPU s, cycles, wall s, work's result)."""
    pid = vb.proc.pid
    c0, t0, u0 = vb.cycles, time.perf_counter(), _cpu(pid)
    out = work()
    c1, t1, u1 = vb.cycles, time.perf_counter(), _cpu(pid)
    return (c1 - c0) / (t1 - t0), (c1 - c0) / max(u1 - u0, 1e-3), c1 - c0, t1 - t0, out


def bench(config: str, cycles: int, ticks: int) -> dict:
    cfg = preset(config)
    t0 = time.perf_counter()
    exe = vboard.binary(cfg)
    build_s = time.perf_counter() - t0
    stamp = exe.parent / "build_seconds"
    out = {
        "config": config,
        "clock_hz": cfg.clock_hz,
        "baud": cfg.baud,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "build_seconds": round(build_s, 2),
        "last_compile_seconds": float(stamp.read_text()) if stamp.is_file() else None,
        "goal_cycles_per_s": GOAL_CYCLES_PER_S,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }

    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = subprocess.run([str(exe), "--bench", str(cycles), "--divisor",
                           str(cfg.uart_divisor)], capture_output=True, text=True,
                          check=True).stdout
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    m = re.search(r"cycles=(\d+) wall_s=([\d.]+) evals_per_cycle=(\d)", text)
    out["evals_per_cycle"] = int(m.group(3))
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    out["flat_cycles_per_s"] = round(int(m.group(1)) / float(m.group(2)))
    out["flat_cycles_per_cpu_s"] = round(int(m.group(1)) / cpu)

    with vboard.VirtualBoard(cfg, exe=exe) as vb:
        with socket.create_connection((vb.host, vb.port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(_frame(P.Opcode.PING, 0))
            _drain_until(s, 1)

            def run_ticks():
                s.sendall(_frame(P.Opcode.RUN, 1, P.RUN_REQ.pack(ticks=ticks, period=0)))
                return _drain_until(s, 1)
            rate, cpu_rate, ncyc, wall, (_, events) = _rate(vb, run_ticks)
            out["run_cycles_per_s"] = round(rate)
            out["run_cycles_per_cpu_s"] = round(cpu_rate)
            out["run_ticks"] = ticks
            out["run_events"] = events
            out["run_cycles_per_tick"] = round(ncyc / ticks, 1)

            pings = 200

            def ping_flood():
                for k in range(pings):
                    s.sendall(_frame(P.Opcode.PING, k & 0xFF, bytes(range(256)) * 2))
                    if k % 2:       # stay within the device's receive buffer
                        _drain_until(s, 2)
            rate, cpu_rate, _, _, _ = _rate(vb, ping_flood)
            out["uart_cycles_per_s"] = round(rate)
            out["uart_cycles_per_cpu_s"] = round(cpu_rate)

        try:
            import spikeloom
        except ImportError:
            spikeloom = None
        if spikeloom is not None and hasattr(spikeloom, "open"):
            rng = np.random.default_rng(0)
            raster = rng.random((ticks, cfg.n_inputs)) < 0.05
            with spikeloom.open(vb.url, config=cfg, timeout=30.0) as board:
                # an unconfigured core fires every neuron every tick (threshold 0): a stress case
                rate, cpu_rate, ncyc, wall, result = _rate(
                    vb, lambda: board.run(ticks, inputs=raster, progress=False))
                out["host_unloaded_ticks_per_s"] = round(ticks / wall, 1)
                out["host_unloaded_spikes"] = int(len(result.events))
                # a realistic network: sparse activity, STDP on the input projection
                # the same network the golden-model benchmark times (bench/model_speed.py)
                from model_speed import build_network
                board.load(spikeloom.compile(build_network(cfg, seed=0), target=cfg))
                rate, cpu_rate, ncyc, wall, result = _rate(
                    vb, lambda: board.run(ticks, inputs=raster, progress=False))
            out["host_ticks"] = ticks
            out["host_ticks_per_s"] = round(ticks / wall, 1)
            out["host_cycles_per_s"] = round(rate)
            out["host_cycles_per_cpu_s"] = round(cpu_rate)
            out["host_cycles_per_tick"] = round(ncyc / ticks, 1)
            out["simulated_ticks_per_s"] = round(ticks / (ncyc / cfg.clock_hz), 1)
            out["host_output_spikes"] = int(len(result.events))
        else:
            out["host_ticks_per_s"] = None
    out["meets_goal_wall"] = out["flat_cycles_per_s"] >= GOAL_CYCLES_PER_S
    out["meets_goal_cpu"] = out["flat_cycles_per_cpu_s"] >= GOAL_CYCLES_PER_S
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--cycles", type=int, default=30_000_000)
    ap.add_argument("--ticks", type=int, default=2000)
    ap.add_argument("--out", default=str(Path(__file__).with_name("vboard.json")))
    args = ap.parse_args(argv)
    result = bench(args.config, args.cycles, args.ticks)
    text = json.dumps(result, indent=2)
    export.atomic_write(Path(args.out), text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
