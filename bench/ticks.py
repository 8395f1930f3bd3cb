"""The iCEBreaker's real tick rate with STDP on (issue 21), measured on its gateware.

The board's preset (``up5k``) is built as the virtual board (sim/vboard.py: the real top,
Verilated) with the weight store of the iCEBreaker build: ``weight_store="spram"`` and the very
``SPRAMStore`` wiring firmware.build uses, its ``SB_SPRAM256KA`` replaced by the behavioural
model (``simulate=True``). On it runs the scenario of issue 21 (bench/cycles.py
``learning_ticks``): random weights, every synapse of the input rows plastic, the STDP rule of
``sl.STDP(a_plus=4, a_minus=4.8, tau = 20 ms)``, every tick ``round(activity * M)`` random inputs
injected and a tenth of the neurons firing. Which neurons fire does not depend on the weights
(the board cannot take a new ``no_spike`` set every tick): each neuron has its threshold at the
bottom of the range, so it fires whenever it is not refractory, a refractory period of
``round(1 / activity) - 1`` ticks and a random phase (its initial refractory count).

The host library streams the run as the iCEBreaker would get it: for every tick its INJECT and a
RUN of one tick with period 0 (inputs can only be injected between RUNs), pipelined so that the
board never waits for the host. The virtual board's cycle counter over that stream (from the
first request byte to the last reply byte, all on the simulated 3 Mbaud UART) over the ticks is
the real tick period; ``clock_hz`` (the build's PLL clock, ``CoreConfig.clock_hz``) over it is
the real tick rate. The same run is repeated tick by tick with a STATUS after each, on the
virtual board and on the golden device (``weight_store="spram"``): each tick's hardware
``last_tick_cycles`` must equal ``proto.cycles.tick_cycles`` (the golden device's) and the three
runs must give the same spikes. Per tick of each segment (below): the core's cycles (mean
``last_tick_cycles``), the rest (dispatcher, INJECT, the spike stream and the RUN reply on the
line), the bytes each way and the tick rate at which the busier direction of the UART would be
full.

Two more segments run the same network on without inputs, to split the overhead: as many RUNs
of one tick, pipelined (no INJECT: what the one-tick RUN itself costs, its spike stream flushed
before its reply), then as ONE RUN of as many ticks (the spike stream leaving while the next
ticks compute: the overhead of back-to-back ticks inside a RUN).

    python bench/ticks.py [--ticks 500] [--out bench/ticks.json]

Everything comes from the run (nothing about the core's timing is restated here), so re-running
it after a gateware change gives the new figure.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from spikeloom.board import Board, open_board
from spikeloom.firmware.boards import board as board_info
from spikeloom.firmware.boards import board_config
from spikeloom.link import Request
from spikeloom.proto import protocol as P
from spikeloom.proto.memmap import Region
from spikeloom.proto.protocol import Opcode
from spikeloom.regions import encode, encode_matrix

__all__ = ["core_kwargs", "scenario", "golden", "stepwise", "measure", "main"]

BOARD = "icebreaker"


def core_kwargs(board: str = BOARD) -> dict:
    """The Core's keyword arguments of ``board``'s firmware build, simulatable: on an iCE40UP5K
    board the SPRAM store of firmware.build.make_design around the primitive's model."""
    if board_info(board).weight_store != "spram":
        return {}
    from spikeloom.hdl.spram import SPRAMStore
    return {"weight_store": "spram",
            "store_factory": functools.partial(SPRAMStore, simulate=True)}


def scenario(cfg, activity: float = 0.1, ticks: int = 550, seed: int = 21,
             a_plus_units: float = 4.0) -> dict:
    """The region contents and the input raster of the run (module docstring)."""
    rng = np.random.default_rng(seed)
    m_in, n, s = cfg.n_inputs, cfg.n_neurons, cfg.n_sources
    one = 1 << cfg.decay_frac
    alpha = round(math.exp(-1 / 20) * one)
    jump = 1 << (cfg.trace_width - 1)
    rate = (1 << cfg.stdp_frac) / jump
    wmax = (1 << (cfg.w_width - 1)) - 1
    period = round(1 / activity)
    weights = rng.integers(-wmax // 4, wmax // 2, (s, n))
    plastic = np.zeros((s, n), bool)
    plastic[:m_in] = True
    full = np.full(n, 1)
    k_in = round(activity * m_in)
    raster = np.zeros((ticks, m_in), bool)
    for t in range(ticks):
        raster[t, rng.choice(m_in, k_in, replace=False)] = True
    return {
        "period": period, "raster": raster,
        Region.WEIGHTS: encode_matrix(cfg, Region.WEIGHTS, weights),
        Region.PLASTIC: encode_matrix(cfg, Region.PLASTIC, plastic),
        Region.NEURON_PARAMS: encode(cfg, Region.NEURON_PARAMS, {
            "threshold": full * -(1 << (cfg.v_width - 1)), "refractory": full * (period - 1),
            "alpha_mem": full * alpha, "alpha_syn": full * alpha}),
        # neuron j first fires at tick phase[j], then every ``period`` ticks
        Region.NEURON_STATE: encode(cfg, Region.NEURON_STATE, {
            "ref": rng.permutation(np.arange(n) % period)}),
        Region.STDP_PARAMS: encode(cfg, Region.STDP_PARAMS, {
            "enable": np.array([1]), "a_plus": np.array([round(a_plus_units * rate)]),
            "a_minus": np.array([round(1.2 * a_plus_units * rate)]),
            "pre_jump": np.array([jump]), "post_jump": np.array([jump]),
            "alpha_pre": np.array([alpha]), "alpha_post": np.array([alpha]),
            "w_min": np.array([-wmax - 1]), "w_max": np.array([wmax])}),
    }


def _load(board: Board, scen: dict) -> None:
    board.reset(state=True, config=True, counters=True)
    for region, data in scen.items():
        if isinstance(region, Region):
            board.write_region(region, data)


def stepwise(board: Board, scen: dict, segments) -> tuple[list[int], np.ndarray]:
    """Run ``segments`` ((ticks, with inputs?) ...) one tick at a time with a STATUS after each:
    (each tick's last_tick_cycles, every spike as (tick, neuron))."""
    _load(board, scen)
    cycles, events, t = [], [], 0
    for ticks, inputs in segments:
        for _ in range(ticks):
            res = board.run(1, inputs=scen["raster"][t:t + 1] if inputs else None,
                            progress=False)
            events.append(res.events + [t, 0])
            cycles.append(board.status()["last_tick_cycles"])
            t += 1
    return cycles, np.concatenate(events)


def golden(cfg, weight_store: str) -> Board:
    """A Board on the golden device in this process, counting cycles for ``weight_store``."""
    from spikeloom.sim.device import GoldenDevice
    from spikeloom.transport import ModelTransport
    tr = ModelTransport(cfg)
    tr.device = GoldenDevice(cfg, weight_store=weight_store)
    return Board(tr, url=f"model://{cfg.name} ({weight_store} store)", config=cfg)


def _one_tick_runs(board: Board, ticks: int) -> np.ndarray:
    """``ticks`` RUNs of one tick (period 0) pipelined, no INJECT: the spikes (tick, neuron)."""
    first, events = [], []

    def on_event(payload):
        tick, _, spikes = P.parse_spikes(payload, board.config.n_neurons)
        first[:] = first or [tick]
        events.extend((tick - first[0] + t, j) for t, j in spikes)
    run = Request(Opcode.RUN, P.RUN_REQ.pack(ticks=1, period=0), retry=False)
    board.link.pipeline([run] * ticks, on_event=on_event, on_reply=lambda req, payload: None)
    return np.array(events, np.int64).reshape(-1, 2)


def _timed(vb, board: Board, run) -> dict:
    """Cycles, bytes and counters of ``run()`` (which returns its spikes) on the virtual board
    ``vb``."""
    c0, s0 = board.status(), vb.stats()
    events = run()
    s1, c1 = vb.stats(), board.status()
    return {"cycles": s1["cycles"] - s0["cycles"], "bytes_in": s1["bytes_in"] - s0["bytes_in"],
            "bytes_out": s1["bytes_out"] - s0["bytes_out"],
            "spikes": c1["spikes"] - c0["spikes"],
            "syn_events": c1["syn_events"] - c0["syn_events"], "events": events}


def measure(ticks: int = 500, warmup: int = 50, activity: float = 0.1, seed: int = 21,
            board: str = BOARD) -> dict:
    """The measurement of the module docstring; a JSON-able dict."""
    from spikeloom.sim import vboard
    cfg = board_config(board)
    kwargs = core_kwargs(board)
    store = kwargs.get("weight_store", "dual")
    scen = scenario(cfg, activity, warmup + ticks, seed)
    segments = ((warmup, True), (ticks, True), (ticks, False), (ticks, False))
    t0 = time.monotonic()
    exe = vboard.binary(cfg, **kwargs)
    build_s = time.monotonic() - t0
    with vboard.VirtualBoard(cfg, exe=exe) as vb, \
            open_board(vb.url, config=cfg, timeout=60.0) as hw:
        _load(hw, scen)
        warm = hw.run(warmup, inputs=scen["raster"][:warmup], progress=False).events
        timed = {
            "streamed": _timed(vb, hw, lambda: hw.run(ticks, inputs=scen["raster"][warmup:],
                                                      progress=False).events),
            "one_tick_runs_no_inputs": _timed(vb, hw, lambda: _one_tick_runs(hw, ticks)),
            "one_run_no_inputs": _timed(vb, hw, lambda: hw.run(ticks, progress=False).events)}
        timed_events = np.concatenate(
            [warm] + [seg["events"] + [warmup + k * ticks, 0]
                      for k, seg in enumerate(timed.values())])
        hw_cycles, hw_events = stepwise(hw, scen, segments)
    with golden(cfg, store) as gd:
        gd_cycles, gd_events = stepwise(gd, scen, segments)
    mismatches = sum(a != b for a, b in zip(hw_cycles, gd_cycles, strict=True))
    same_spikes = (np.array_equal(timed_events, hw_events)
                   and np.array_equal(hw_events, gd_events))

    def figures(seg: dict, core: list[int]) -> dict:
        per_tick = seg["cycles"] / ticks
        core_mean = float(np.mean(core))
        per_byte = cfg.uart_divisor * 10   # cycles per byte on the line (8N1)
        return {
            "cycles_per_tick": round(per_tick, 1),
            "ticks_per_s": round(cfg.clock_hz / per_tick, 1),
            "core_cycles_mean": round(core_mean, 1),
            "core_cycles_max": int(max(core)),
            "overhead_cycles_per_tick": round(per_tick - core_mean, 1),
            "core_limited_ticks_per_s": round(cfg.clock_hz / core_mean, 1),
            "fired_mean": round(seg["spikes"] / ticks, 2),
            "delivered_mean": round(seg["syn_events"] / cfg.n_neurons / ticks, 2),
            "bytes_out_per_tick": round(seg["bytes_out"] / ticks, 2),
            "bytes_in_per_tick": round(seg["bytes_in"] / ticks, 2),
            "tx_line_share": round(seg["bytes_out"] * per_byte / seg["cycles"], 3),
            "rx_line_share": round(seg["bytes_in"] * per_byte / seg["cycles"], 3),
            # the rate at which the busier direction of the line would be full
            "line_limited_ticks_per_s": round(
                cfg.clock_hz * ticks / (per_byte * max(seg["bytes_out"], seg["bytes_in"])), 1),
        }
    return {
        "board": board, "preset": cfg.name, "clock_hz": cfg.clock_hz, "baud": cfg.baud,
        "weight_store": store, "store_model": "SPRAMStore(simulate=True)" if kwargs else "dual",
        "activity": activity, "ticks": ticks, "warmup": warmup, "seed": seed,
        "inputs_per_tick": int(scen["raster"][0].sum()), "firing_period": scen["period"],
        **{name: figures(seg, hw_cycles[warmup + k * ticks:warmup + (k + 1) * ticks])
           for k, (name, seg) in enumerate(timed.items())},
        "formula_mismatches": mismatches, "checked_ticks": len(hw_cycles),
        "spikes_identical": bool(same_spikes),
        "vboard_build_s": round(build_s, 1), "load_average_1min": round(os.getloadavg()[0], 2),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ticks", type=int, default=500, help="ticks per timed segment")
    ap.add_argument("--warmup", type=int, default=50, help="ticks before (traces filling up)")
    ap.add_argument("--out", default=str(Path(__file__).with_name("ticks.json")))
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    res = measure(args.ticks, args.warmup)
    # the board has no probe slots: how many neurons' v it records through reads at 1 kHz
    from probes import read_back_at_1khz
    res["read_back"] = read_back_at_1khz(BOARD, ticks=min(args.ticks, 200))
    res["wall_s"] = round(time.monotonic() - t0, 1)
    text = json.dumps(res, indent=1)
    Path(args.out).write_text(text + "\n")
    print(text)
    ok = (res["formula_mismatches"] == 0 and res["spikes_identical"]
          and res["read_back"]["all_identical_to_model"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
