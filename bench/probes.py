"""Probe streaming capacity: how many neurons' ``v`` a board preset streams at 1,000 ticks/s.

Method (measured, not assumed): the golden device of the preset (byte-identical with the
gateware) runs 400 ticks with ``v`` of n neurons probed every tick, over a network whose
membranes wander (random bias and leak, thresholds out of reach, so escapes of 0xC0/0xDB in
``v`` bytes occur at their natural rate) with no spikes: the wire bytes it sends per tick
(SPIKES and PROBE frames, escapes included, the RUN reply amortised) are measured at n = 1
and n = the preset's probe slots, bisecting between them when that does not fit (both costs
grow with n). A tick rate of 1,000/s is sustained when those bytes fit the line (10 bit times
per byte at the preset's baud) in 1 ms and the tick's cycles (the core's
``tick_cycles`` plus the probe unit's reads, docs/protocol.md section 5) fit 1 ms of its clock.
``max_neurons_at_1khz`` is the largest such n (bounded by ``probe_slots``).

Run: ``python bench/probes.py [PRESET]`` prints the figure as JSON; bench/run.py records it in
the ``goals`` of bench/results.json as ``probe.max_neurons_at_1khz``.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from spikeloom.proto import preset
from spikeloom.proto import protocol as P
from spikeloom.proto.cycles import tick_cycles
from spikeloom.proto.memmap import Region, layouts
from spikeloom.proto.probes import ProbeSetup
from spikeloom.proto.protocol import Frame, Opcode
from spikeloom.sim.device import GoldenDevice

__all__ = ["wire_bytes_per_tick", "max_neurons_at_1khz"]

TICKS = 400
RATE = 1000         # ticks per second


def _wire(op, seq, payload=b""):
    return P.encode_frame(Frame(int(op), seq, 0, bytes(payload)))


def wire_bytes_per_tick(cfg, n: int, seed: int = 7) -> float:
    """Measured device output bytes per tick with ``v`` of neurons 0..n-1 probed each tick."""
    rng = np.random.default_rng(seed)
    dev = GoldenDevice(cfg)
    lay = layouts(cfg)[Region.NEURON_PARAMS]
    hi = (1 << (cfg.v_width - 1)) - 1
    words = [lay.pack({"threshold": hi, "v_reset": 0, "bias": int(rng.integers(-400, 400)),
                       "alpha_mem": int(rng.integers(3500, 4000)), "alpha_syn": 0})
             for _ in range(cfg.n_neurons)]
    nb = lay.nbytes
    per = max(1, (P.MAX_PAYLOAD - P.WRITE_REQ.size) // nb)
    for a in range(0, cfg.n_neurons, per):
        dev.feed(_wire(Opcode.WRITE, 1, P.WRITE_REQ.pack(region=Region.NEURON_PARAMS, addr=a)
                       + b"".join(lay.to_bytes(w) for w in words[a:a + per])))
    if n:
        plo = layouts(cfg)[Region.PROBES]
        setup = ProbeSetup(tuple((j, ("v",)) for j in range(n)))
        dev.feed(_wire(Opcode.WRITE, 2, P.WRITE_REQ.pack(region=Region.PROBES, addr=0)
                       + b"".join(plo.to_bytes(w) for w in setup.words(cfg))))
    out = dev.feed(_wire(Opcode.RUN, 3, P.RUN_REQ.pack(ticks=TICKS, period=0)))
    return len(out) / TICKS


def probe_cycles(n: int) -> int:
    """Probe unit cycles between ticks for n slots of ``v`` (hdl/probes.py: 9 header bytes, per
    slot a slot step, two word reads of 2 cycles each and the field bytes, one per cycle)."""
    return 9 + 1 + n * (1 + 4 + 4 + 2)


def sample(cfg, n: int, weight_store: str = "dual") -> dict:
    """One measured point: wire bytes and cycles per tick with ``v`` of n neurons probed, and
    whether both fit 1 ms (the line at the preset's baud, the tick at its clock)."""
    b = wire_bytes_per_tick(cfg, n)
    cyc = tick_cycles(cfg, 0, 0, False, weight_store=weight_store) + (probe_cycles(n) if n else 0)
    return {"n": n, "wire_bytes_per_tick": round(b, 2), "cycles_per_tick": cyc,
            "fits": b <= cfg.baud / 10 / RATE and cyc <= cfg.clock_hz / RATE}


def max_neurons_at_1khz(name: str = "up5k") -> dict:
    """The figure for preset ``name``, with the points measured to find it: n = 1 and n = K,
    then a bisection between them when K does not fit (bytes and cycles grow with n)."""
    cfg = preset(name)
    store = "spram" if name == "up5k" else "dual"
    rows = {}

    def fits(n):
        rows.setdefault(n, sample(cfg, n, store))
        return rows[n]["fits"]
    best = 0
    if cfg.probe_slots and fits(1):
        lo, hi = 1, cfg.probe_slots         # lo fits; the answer is in lo..hi
        if fits(hi):
            lo = hi
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
        best = lo
    return {"preset": name, "value": best, "probe_slots": cfg.probe_slots, "baud": cfg.baud,
            "clock_hz": cfg.clock_hz, "line_bytes_per_tick": cfg.baud / 10 / RATE,
            "rows": [rows[n] for n in sorted(rows)],
            "basis": "largest n <= probe_slots whose measured wire bytes per tick (golden "
                     "device: SPIKES + PROBE frames, escapes included, silent ticks) fit "
                     "baud/10/1000 and whose tick + probe cycles fit clock/1000"}


# -- without probe slots: recording through reads, measured on the virtual board -----------------

def _wandering_net(cfg, n: int, seed: int = 7):
    """``probed`` (n neurons) and ``rest``: leaky membranes driven by a random bias below
    threshold (they never fire), each with its own time constant, so ``v`` takes many values
    (and its bytes the line's escapes at their natural rate)."""
    import spikeloom as sl
    rng = np.random.default_rng(seed)
    net = sl.Network("read_back")
    net.inputs(1, name="in")
    for name, size in (("probed", n), ("rest", cfg.n_neurons - n)):
        if size:
            net.population(size, sl.LIF(tau_mem=rng.uniform(5.0, 30.0, size), threshold=1.0,
                                        bias=rng.uniform(-0.03, 0.03, size)), name=name)
    return net


def read_back_point(vb, board, cfg, n: int, ticks: int) -> dict:
    """``v`` of n neurons recorded every tick through reads (``record_via="reads"``: a RUN of
    one tick and a READ of the n NEURON_STATE words per tick, pipelined) on the virtual board
    ``vb`` (``board`` connected to it): simulated cycles per tick from the first request byte
    to the last reply byte, hence the tick rate; the recorded ``v`` must equal model://'s."""
    import warnings

    import spikeloom as sl
    with warnings.catch_warnings():     # (never reaching threshold is the point)
        warnings.simplefilter("ignore", sl.CompileWarning)
        image = sl.compile(_wandering_net(cfg, n), target=cfg)
    board.load(image, verify=False)
    s0 = vb.stats()
    got = board.run(ticks, record={"probed": ["v"]}, record_via="reads", progress=False)
    s1 = vb.stats()
    with sl.open("model://", config=cfg) as model:
        model.load(image, verify=False)
        want = model.run(ticks, record={"probed": ["v"]}, progress=False)
    same = (np.array_equal(got["probed"].v.raw, want["probed"].v.raw)
            and np.array_equal(got.events, want.events))
    per_tick = (s1["cycles"] - s0["cycles"]) / ticks
    rate = cfg.clock_hz / per_tick
    return {"n": n, "ticks": ticks, "cycles_per_tick": round(per_tick, 1),
            "ticks_per_s": round(rate, 1),
            "bytes_out_per_tick": round((s1["bytes_out"] - s0["bytes_out"]) / ticks, 2),
            "bytes_in_per_tick": round((s1["bytes_in"] - s0["bytes_in"]) / ticks, 2),
            "v_identical_to_model": bool(same), "v_distinct_values":
                int(np.unique(got["probed"].v.raw).size),
            "fits": bool(same and rate >= RATE)}


def read_back_at_1khz(board_name: str = "icebreaker", ticks: int = 200, exe=None) -> dict:
    """How many neurons' ``v`` ``board_name``'s preset records every tick at 1,000 ticks/s
    through reads, measured on its virtual board (the real top Verilated, the UART at its baud,
    bench/ticks.py's weight store of the build): n = 1, then doubling while it fits, then a
    bisection (the rate falls as n grows)."""
    from spikeloom.board import open_board
    from spikeloom.firmware.boards import board_config
    from spikeloom.sim import vboard
    from ticks import core_kwargs
    cfg = board_config(board_name)
    exe = exe or vboard.binary(cfg, **core_kwargs(board_name))
    rows = {}
    with vboard.VirtualBoard(cfg, exe=exe) as vb, \
            open_board(vb.url, config=cfg, timeout=60.0) as board:
        def fits(n):
            rows.setdefault(n, read_back_point(vb, board, cfg, n, ticks))
            return rows[n]["fits"]
        best, hi = 0, cfg.n_neurons
        if fits(1):
            lo = 1
            while lo < hi and fits(min(2 * lo, hi)):
                lo = min(2 * lo, hi)
            hi = lo if lo == hi else min(2 * lo, hi) - 1
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
            best = lo
    return {"board": board_name, "preset": cfg.name, "value": best, "via": "reads",
            "probe_slots": cfg.probe_slots, "baud": cfg.baud, "clock_hz": cfg.clock_hz,
            "rows": [rows[n] for n in sorted(rows)],
            "all_identical_to_model": all(r["v_identical_to_model"] for r in rows.values()),
            "basis": "largest n whose v, recorded every tick through reads (board.run(record=, "
                     "record_via='reads'): RUN(1) + READ of the n NEURON_STATE words per tick, "
                     "pipelined by the host library) on the preset's virtual board (Verilated "
                     "top, UART at its baud) runs at >= 1,000 ticks/s of simulated clock "
                     "(cycles from the first request byte to the last reply byte), silent "
                     "ticks of leaky membranes under a random bias, v identical to model://"}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--read-back"]:
        print(json.dumps(read_back_at_1khz(*sys.argv[2:3]), indent=1))
    else:
        print(json.dumps(max_neurons_at_1khz(*sys.argv[1:2]), indent=1))
