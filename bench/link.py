"""Link efficiency of the spikeloom protocol, and the RTL transmitter's streaming throughput.

What it measures (results printed and written to bench/link.json):

1. Output events. For several activity rates (fraction of the N neurons firing per tick, i.i.d.
   Poisson: Bernoulli per neuron and tick) the golden device (``spikeloom.sim.device.
   GoldenDevice``, ``default`` preset unless ``--config``) runs one RUN whose core fires exactly
   the drawn sets (:func:`forced_device`); everything the device sends for that RUN (the SPIKES
   events and the RUN reply) is counted byte for byte as it leaves on the wire (SLIP escapes
   included) and decoded back to the drawn sets: wire bytes per tick, per spike, bits at 10 bits
   per byte (8N1), the share that is spike codes, and the tick and spike rates the line carries.
   The goals ``link.bytes_per_spike_1pct`` (1 % firing) and ``link.bytes_per_silent_tick``
   (1,000 silent ticks) come from here.
2. Closed loop. The per-tick cost of the host driving inputs: INJECT of k inputs + RUN 1, both
   directions, replies included.
3. NeuroCoreX for comparison: 1 Mbaud 8N1, every spike event a 3-byte unframed record, one input
   spike per tick, no CRC, no acknowledgements (bytes per spike are constant; there is no tick
   marker, no error detection and no way to know something was dropped).
4. RTL: the real top runs in Amaranth's simulator with a bit-level UART; a RUN of back-to-back
   SPIKES batches (a fraction of the neurons forced to fire every tick, long enough for several
   full batches) is timed from the first start bit of the second batch (the first waits to fill)
   to the last stop bit of the reply: bytes x 10 bit times / elapsed time is the fraction of the
   line rate sustained. Ticks compute while the previous batch is on the line (the emitter's
   queue), so the goal (>= 0.90) applies when the link is the bottleneck (a tick's codes take
   longer on the line than the tick computes); otherwise the line can be busy at most
   codes/tick of the time and the figure is reported against that bound. ``--divisors`` repeats
   it at several UART divisors (``clock_hz // baud``, >= 4): what the UART and dispatcher
   sustain at faster lines (docs/boards.md). The same with probes: ``tiny`` with 8 slots streaming
   ``v`` every tick (a SPIKES and a PROBE frame each tick), compared byte for byte with the golden
   device: the line fraction the dispatcher keeps with the probe unit between ticks.

5. Probes. For every preset with probe slots (and up5k, which has none): the wire bytes per tick
   with ``v`` of one and of all K slots' neurons streamed every tick (bench/probes.py: the golden
   device's frames, escapes included), the tick rates the line (baud / 10 over those bytes) and
   the tick loop (clock over the core's tick cycles plus the probe unit's) sustain, and
   ``max_neurons_at_1khz``, the figure of the goal ``probe.max_neurons_at_1khz``.

``python bench/link.py --quick`` runs in well under two minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

import numpy as np
from spikeloom.proto import preset
from spikeloom.proto import protocol as P
from spikeloom.proto.cycles import tick_cycles
from spikeloom.proto.memmap import Region, layouts
from spikeloom.proto.probes import ProbeSetup
from spikeloom.proto.protocol import Frame, Opcode, Status
from spikeloom.sim.device import GoldenDevice

__all__ = ["forced_device", "event_stats", "silent_stats", "closed_loop_stats", "neurocorex",
           "probe_stats", "rtl_streaming", "main"]

RATES = [0.0, 0.005, 0.01, 0.03, 0.0625, 0.1, 0.3, 1.0]
RTL_RATES = [0.25, 1.0]         # firing fractions of the RTL throughput runs
PROBE_PRESETS = ["up5k", "ulx3s_25f", "ulx3s_85f", "ulx3s_85f_delay", "arty_a7"]
NEUROCOREX = {"baud": 1_000_000, "bytes_per_event": 3, "inputs_per_tick": 1, "crc": False,
              "framing": False, "ticks_per_s": 1000}
OUT = pathlib.Path(__file__).resolve().parent / "link.json"
sys.path.insert(0, str(OUT.parent))
from probes import max_neurons_at_1khz, probe_cycles  # noqa: E402  (bench/probes.py)


def wire(op, seq=0, payload=b"") -> bytes:
    return P.encode_frame(Frame(int(op), seq, 0, bytes(payload)))


def forced_device(cfg, raster=None):
    """A golden device; with ``raster`` ((ticks, N) bool), its core's tick ``k`` fires exactly
    row ``k`` (the model still runs; only the spikes it reports are replaced), so a RUN streams
    chosen activity through the device's real encoder and framing."""
    dev = GoldenDevice(cfg)
    if raster is not None:
        rows, step = iter(np.asarray(raster, bool)), dev.core.step

        def forced(inputs=None):
            return dataclasses.replace(step(inputs), spikes=next(rows))
        dev.core.step = forced
    return dev


def force_requests(cfg, fire: np.ndarray) -> bytes:
    """WRITE frames setting NEURON_PARAMS so that exactly the neurons in ``fire`` spike."""
    lay = layouts(cfg)[Region.NEURON_PARAMS]
    lo, hi = -(1 << (cfg.v_width - 1)), (1 << (cfg.v_width - 1)) - 1
    words = [lay.to_bytes(lay.pack({"threshold": lo if f else hi})) for f in fire]
    per = (P.MAX_PAYLOAD - P.WRITE_REQ.size) // lay.nbytes
    return b"".join(
        wire(Opcode.WRITE, 1, P.WRITE_REQ.pack(region=Region.NEURON_PARAMS, addr=a)
             + b"".join(words[a:a + per]))
        for a in range(0, len(words), per))


def split_frames(out: bytes) -> list[tuple[bytes, Frame]]:
    """(wire bytes, frame) for every frame the device sent."""
    chunks, k = [], 0
    while k < len(out):
        end = out.index(P.END, k + 1)
        chunks.append(out[k:end + 1])
        k = end + 1
    frames = [f for f, s in P.Deframer().feed(out) if s == Status.OK]
    assert len(frames) == len(chunks)
    return list(zip(chunks, frames, strict=True))


def event_stats(cfg, rate: float, ticks: int, rng) -> dict:
    """Wire cost of one RUN of ``ticks`` ticks at i.i.d. firing ``rate``: its SPIKES events and
    its reply."""
    n = cfg.n_neurons
    raster = rng.random((ticks, n)) < rate
    dev = forced_device(cfg, raster)
    out = split_frames(dev.feed(wire(Opcode.RUN, 2, P.RUN_REQ.pack(ticks=ticks, period=0))))
    assert out[-1][1].opcode == Opcode.RUN and out[-1][1].status == Status.OK
    got = np.zeros((ticks, n), bool)
    covered = code_bytes = 0
    for _, ev in out[:-1]:
        assert ev.opcode == Opcode.SPIKES
        tick, k, pairs = P.parse_spikes(ev.payload, n)
        assert tick == covered
        for t, j in pairs:
            got[covered + t, j] = True
        covered += k
        code_bytes += len(ev.payload) - P.SPIKES_HEAD.size
    assert covered == ticks and np.array_equal(got, raster), "the stream lost or changed spikes"
    wire_bytes = sum(len(w) for w, _ in out)
    spikes = int(raster.sum())
    per_tick = wire_bytes / ticks
    line = cfg.baud / 10                                # bytes per second at 8N1
    return {
        "rate": rate, "ticks": ticks, "spikes": spikes, "events": len(out) - 1,
        "spikes_per_tick": spikes / ticks,
        "wire_bytes_per_tick": per_tick,
        "wire_bits_per_tick": 10 * per_tick,
        "wire_bytes_per_spike": wire_bytes / spikes if spikes else None,
        "wire_bits_per_spike": 10 * wire_bytes / spikes if spikes else None,
        "data_efficiency": code_bytes / wire_bytes,    # spike codes' share of the bytes
        "max_ticks_per_s": line / per_tick,
        "max_spikes_per_s": line / per_tick * spikes / ticks,
        "neurocorex_wire_bytes_per_tick": NEUROCOREX["bytes_per_event"] * spikes / ticks,
    }


def silent_stats(cfg, ticks: int = 1000) -> dict:
    """Wire bytes per tick of a RUN of ``ticks`` silent ticks (keep-alive events and reply)."""
    e = event_stats(cfg, 0.0, ticks, np.random.default_rng(0))
    return {"ticks": ticks, "events": e["events"], "wire_bytes_per_tick": e["wire_bytes_per_tick"]}


def closed_loop_stats(cfg, k_inputs: int, rate: float, ticks: int, rng) -> dict:
    """Per-tick bytes of INJECT(k inputs) + RUN 1, both directions, replies and events."""
    dev = forced_device(cfg)
    n, m = cfg.n_neurons, cfg.n_inputs
    up = down = 0
    for _ in range(ticks):
        dev.feed(force_requests(cfg, rng.random(n) < rate))
        idx = rng.choice(m, size=k_inputs, replace=False)
        req = (wire(Opcode.INJECT, 3, b"".join(int(i).to_bytes(2, "little") for i in idx))
               + wire(Opcode.RUN, 4, P.RUN_REQ.pack(ticks=1, period=0)))
        out = dev.feed(req)
        assert [f.status for _, f in split_frames(out)] == [Status.OK] * 3
        up, down = up + len(req), down + len(out)
    line = cfg.baud / 10
    return {"inputs_per_tick": k_inputs, "rate": rate,
            "host_to_device_bytes_per_tick": up / ticks,
            "device_to_host_bytes_per_tick": down / ticks,
            "max_ticks_per_s": line / max(up, down) * ticks}


def neurocorex(cfg) -> dict:
    nc = dict(NEUROCOREX)
    line = nc["baud"] / 10
    nc["wire_bits_per_spike"] = 10 * nc["bytes_per_event"]
    nc["max_events_per_s"] = line / nc["bytes_per_event"]
    nc["max_input_spikes_per_s"] = min(nc["ticks_per_s"] * nc["inputs_per_tick"],
                                       nc["max_events_per_s"])
    # spikeloom at 1 % firing, for comparison with the 3 bytes of an unframed event
    e = event_stats(cfg, 0.01, 2000, np.random.default_rng(0))
    nc["spikeloom_bytes_per_spike_1pct"] = e["wire_bytes_per_spike"]
    return nc


def probe_stats(name: str) -> dict:
    """Streaming ``v`` of probed neurons on preset ``name``: per measured n (1 and K, see
    bench/probes.py) the wire bytes per tick and the tick rates the line and the tick loop
    sustain; the largest n at 1,000 ticks/s."""
    r = max_neurons_at_1khz(name)
    cfg = preset(name)
    rows = [{**row, "line_ticks_per_s": cfg.baud / 10 / row["wire_bytes_per_tick"],
             "compute_ticks_per_s": cfg.clock_hz / row["cycles_per_tick"]}
            for row in r["rows"] if row["n"] in (1, cfg.probe_slots)]
    return {"preset": name, "probe_slots": cfg.probe_slots, "baud": cfg.baud,
            "clock_hz": cfg.clock_hz, "line_bytes_per_tick_at_1khz": r["line_bytes_per_tick"],
            "rows": rows, "max_neurons_at_1khz": r["value"]}


# -- RTL ---------------------------------------------------------------------------------------

def rtl_streaming(cfg_name: str, ticks: int, rate: float = 1.0, divisor: int | None = None,
                  probes: int = 0) -> dict:
    """Fraction of the line rate the RTL top sustains on back-to-back SPIKES batches, with a
    fraction ``rate`` of the neurons (evenly spread) firing every tick; ``divisor``: run the UART
    at ``clock_hz // divisor`` baud instead of the preset's; ``probes`` > 0: a core with that
    many probe slots, each streaming ``v`` of neuron 0, 1, ... every tick (a SPIKES and a PROBE
    frame a tick)."""
    try:
        from amaranth.sim import Simulator
        from spikeloom.hdl.top import Top
        from spikeloom.sim import rtlsim
    except ImportError as e:
        return {"status": "skipped", "reason": f"RTL top not available yet ({e})"}
    cfg = preset(cfg_name)
    if divisor is not None:
        cfg = cfg.replace(baud=cfg.clock_hz // divisor)
    # the chosen neurons fire every tick (threshold = minimum), the others never
    n = cfg.n_neurons
    k = max(1, round(rate * n))
    fire = np.zeros(n, bool)
    fire[np.linspace(0, n - 1, k).round().astype(int)] = True
    req = force_requests(cfg, fire)
    if probes:
        cfg = cfg.replace(probe_slots=probes, name=f"{cfg.name}_probes")
        words = ProbeSetup(tuple((j, ("v",)) for j in range(probes))).words(cfg)
        plo = layouts(cfg)[Region.PROBES]
        req += wire(Opcode.WRITE, 8, P.WRITE_REQ.pack(region=Region.PROBES, addr=0)
                    + b"".join(plo.to_bytes(w) for w in words))
    req += wire(Opcode.RUN, 9, P.RUN_REQ.pack(ticks=ticks, period=0))
    golden = GoldenDevice(cfg).feed(req)
    top = Top(cfg)
    clk_period = 1 / cfg.clock_hz
    bit_time = cfg.uart_divisor * clk_period
    now = [0]                       # clock cycles since the start (time stamps, 1-cycle grain)
    starts: list[int] = []
    received = bytearray()

    async def clock_counter(ctx):
        while True:
            await ctx.tick()
            now[0] += 1

    async def monitor(ctx):         # like rtlsim.Monitor, plus the cycle of every start bit
        while True:
            await ctx.negedge(top.uart_tx)
            starts.append(now[0])
            await ctx.delay(bit_time * 1.5)
            byte = 0
            for k in range(8):
                byte |= ctx.get(top.uart_tx) << k
                await ctx.delay(bit_time)
            received.append(byte)

    # cycles: the line (both ways, with margin) plus the ticks' compute (it dominates at full
    # activity on a fast line)
    budget = ((len(req) + 3 * len(golden)) * 10 * cfg.uart_divisor + 100_000
              + 2 * ticks * tick_cycles(cfg, k, k, False))

    async def host(ctx):
        ctx.set(top.uart_rx, 1)
        await rtlsim.align(ctx, clk_period)
        await ctx.delay(20 * bit_time)
        await rtlsim.send(ctx, top.uart_rx, req, bit_time)
        while len(received) < len(golden) and now[0] < budget:
            await ctx.delay(100 * bit_time)

    try:
        sim = Simulator(top)
    except Exception as e:
        return {"status": "failed",
                "reason": f"RTL top does not elaborate: {type(e).__name__}: {e}"}
    sim.add_clock(clk_period)
    sim.add_testbench(clock_counter, background=True)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(host)
    t0 = time.perf_counter()
    try:
        sim.run()
    except Exception as e:      # the gateware is someone else's work in progress: report, go on
        return {"status": "failed", "reason": f"RTL simulation raised {type(e).__name__}: {e}"}
    wall = time.perf_counter() - t0
    if bytes(received) != golden:
        return {"status": "mismatch", "reason": "RTL output differs from the golden device",
                "bytes": len(received), "expected": len(golden)}
    # the event stream: from the first byte of the second SPIKES frame (the first one waits for
    # its batch to fill) to the end of the reply
    acks = len(GoldenDevice(cfg).feed(req[:len(req) - len(
        wire(Opcode.RUN, 9, P.RUN_REQ.pack(ticks=ticks, period=0)))]))
    events = split_frames(golden[acks:])
    if len(events) < 3:
        return {"status": "failed", "reason": f"{ticks} ticks fill fewer than two batches"}
    first, last = acks + len(events[0][0]), len(golden) - 1
    nbytes = last - first + 1
    cycles = starts[last] + 10 * cfg.uart_divisor - starts[first]
    frame = len(golden) - acks - len(wire(Opcode.RUN, 9, P.RUN_REPLY.pack(ticks=ticks)))
    frame_cycles = frame / ticks * 10 * cfg.uart_divisor       # line cycles per tick
    fired = int(fire.sum())
    compute = tick_cycles(cfg, fired, fired, False) + (probe_cycles(probes) if probes else 0)
    line = nbytes * 10 * cfg.uart_divisor / cycles
    # Ticks compute while the previous batch is on the line, so the line can be busy at most
    # frame/compute of the time when a tick takes longer than its codes (compute-bound).
    bound = min(1.0, frame_cycles / compute)
    return {"status": "measured", "config": cfg_name, "probes": probes, "baud": cfg.baud,
            "divisor": cfg.uart_divisor, "rate": fired / n, "fired": fired,
            "ticks": ticks, "bytes": nbytes, "cycles": cycles, "line_fraction": line,
            "frame_cycles": round(frame_cycles), "tick_cycles": compute,
            "bound": "line" if frame_cycles >= compute else "compute",
            "line_fraction_bound": bound, "of_bound": line / bound, "wall_s": wall}


# -- main --------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer ticks (CI)")
    ap.add_argument("--config", default="default", help="preset for the link figures")
    ap.add_argument("--rtl-config", default=None,
                    help="presets for the RTL throughput run, comma-separated "
                         "(default: tiny with --quick, else tiny,default)")
    ap.add_argument("--divisors", default="4,10",
                    help="UART divisors of the RTL runs, comma-separated (>= 4)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    cfg = preset(args.config)
    rng = np.random.default_rng(args.seed)
    ticks = 2000 if args.quick else 20000
    t0 = time.perf_counter()

    print(f"link efficiency, preset {cfg.name}: N={cfg.n_neurons}, M={cfg.n_inputs}, "
          f"{cfg.baud} baud 8N1 ({cfg.baud // 10} bytes/s), seed {args.seed}")
    events = [event_stats(cfg, r, ticks, rng) for r in RATES]
    silent = silent_stats(cfg)
    one = next(e for e in events if e["rate"] == 0.01)
    goals = {"link.bytes_per_spike_1pct": one["wire_bytes_per_spike"],
             "link.bytes_per_silent_tick": silent["wire_bytes_per_tick"]}
    print(f"{'rate':>7} {'spk/tick':>8} {'B/tick':>7} {'bits/tick':>9} {'B/spike':>8} "
          f"{'data%':>6} {'ticks/s':>8} {'spikes/s':>9} {'NCX B/tick':>10}")
    for e in events:
        bps = f"{e['wire_bytes_per_spike']:8.2f}" if e["spikes"] else f"{'-':>8}"
        print(f"{e['rate']:7.3f} {e['spikes_per_tick']:8.2f} {e['wire_bytes_per_tick']:7.2f} "
              f"{e['wire_bits_per_tick']:9.1f} {bps} {100 * e['data_efficiency']:6.1f} "
              f"{e['max_ticks_per_s']:8.0f} {e['max_spikes_per_s']:9.0f} "
              f"{e['neurocorex_wire_bytes_per_tick']:10.2f}")

    print(f"goals: {goals['link.bytes_per_spike_1pct']:.2f} wire bytes per spike at 1 % "
          f"(<= 2.0), {goals['link.bytes_per_silent_tick']:.3f} per silent tick over "
          f"{silent['ticks']} ticks (<= 0.1)")
    loops = [closed_loop_stats(cfg, k, 0.03, 10 if args.quick else 100, rng)
             for k in (0, 1, 4, 16)]
    print("closed loop (INJECT k + RUN 1 per tick, 3% activity):")
    for c in loops:
        print(f"  k={c['inputs_per_tick']:2d}: host->dev {c['host_to_device_bytes_per_tick']:.1f} "
              f"B, dev->host {c['device_to_host_bytes_per_tick']:.1f} B per tick: "
              f"<= {c['max_ticks_per_s']:.0f} ticks/s at {cfg.baud} baud")

    nc = neurocorex(cfg)
    print(f"NeuroCoreX: {nc['wire_bits_per_spike']} bits per spike event, <= "
          f"{nc['max_events_per_s']:.0f} events/s, {nc['max_input_spikes_per_s']:.0f} input "
          f"spikes/s, no framing/CRC/acks; spikeloom at 1 %: "
          f"{nc['spikeloom_bytes_per_spike_1pct']:.2f} bytes per spike, framed and checked")

    probes = [probe_stats(name) for name in PROBE_PRESETS]
    print("probes (v of n neurons every tick; ticks/s the line and the tick loop sustain):")
    for p in probes:
        cells = ", ".join(f"n={r['n']}: {r['wire_bytes_per_tick']:.1f} B/tick, line "
                          f"{r['line_ticks_per_s']:.0f}/s, loop {r['compute_ticks_per_s']:.0f}/s"
                          for r in p["rows"]) or "no probe slots"
        print(f"  {p['preset']} ({p['probe_slots']} slots, {p['baud']} baud): {cells}; "
              f"{p['max_neurons_at_1khz']} neurons at 1,000 ticks/s")

    rtl = []
    names = args.rtl_config or ("tiny" if args.quick else "tiny,default")
    for name in names.split(","):
        for rate, div in [(r, int(d)) for r in ((1.0,) if args.quick else RTL_RATES)
                          for d in args.divisors.split(",")]:
            r = rtl_streaming(name, 300 if name == "tiny" else 80, rate, div)
            rtl.append(r)
            if r["status"] != "measured":
                print(f"RTL streaming figure ({name}) {r['status']}: {r['reason']}")
                continue
            if r["bound"] == "line":
                verdict = "meets" if r["line_fraction"] >= 0.9 else "MISSES"
                what = f"line-bound, {verdict} the 90% goal"
            else:
                what = (f"compute-bound: at most {100 * r['line_fraction_bound']:.1f}%, "
                        f"reached {100 * r['of_bound']:.1f}% of that")
            print(f"RTL, preset {name} at divisor {r['divisor']} ({r['baud']} baud), "
                  f"{r['fired']} neurons firing: {r['bytes']} event bytes at "
                  f"{100 * r['line_fraction']:.1f}% of the line rate ({what}); codes "
                  f"{r['frame_cycles']} cycles a tick on the line vs {r['tick_cycles']} cycles "
                  f"of compute")

    # the dispatcher with probes: every tick a SPIKES and a PROBE frame (v of 8 neurons)
    divs = [int(d) for d in args.divisors.split(",")]
    for div in divs[:1] if args.quick else divs:
        r = rtl_streaming("tiny", 12 if args.quick else 100, 0.25, div, probes=8)
        rtl.append(r)
        if r["status"] != "measured":
            print(f"RTL probe streaming (tiny, 8 probes) {r['status']}: {r['reason']}")
            continue
        print(f"RTL, preset tiny with v of 8 probed neurons at divisor {r['divisor']}: "
              f"{r['bytes']} bytes at {100 * r['line_fraction']:.1f}% of the line rate "
              f"({r['bound']}-bound; codes and probes {r['frame_cycles']} line cycles a tick vs "
              f"{r['tick_cycles']} cycles of compute)")

    result = {"config": cfg.name, "baud": cfg.baud, "seed": args.seed, "quick": args.quick,
              "goals": goals, "silent": silent, "events": events, "closed_loop": loops,
              "neurocorex": nc, "probes": probes, "rtl": rtl,
              "wall_s": time.perf_counter() - t0}
    pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} in {result['wall_s']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
