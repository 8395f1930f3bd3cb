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


if __name__ == "__main__":
    print(json.dumps(max_neurons_at_1khz(*sys.argv[1:2]), indent=1))
