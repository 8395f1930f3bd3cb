"""Regenerate the measured tables of docs/boards.md from real builds (never typed by hand).

Contract: ``python -m spikeloom.firmware.docgen [--build-dir build] [--rebuild] [--doc PATH]``
collects one :class:`~.report.BuildReport` per row of :data:`ROWS` (each board with its preset,
plus the largest fitting cores found by :mod:`.fit`): from ``<build-dir>/<board>-<config>/
report.json`` when a previous build left one, else by building now (``--rebuild`` always builds).
It then rewrites the text between ``<!-- generated:NAME -->`` and ``<!-- end:NAME -->`` in the doc
for NAME in ``boards`` (the board table), ``builds`` (utilisation, Fmax, build time), ``ticks``
(projected ticks per second from ``spikeloom.proto.cycles.tick_cycles`` at the stated activity,
and the UART's own limit for the SPIKES events at that activity) and ``probes`` (every bisection
build found under ``<build-dir>/fit``). Everything else in the doc is
left alone.
"""

import argparse
import json
import math
import re
import sys
from pathlib import Path

from ..proto.config import PRESETS, CoreConfig
from ..proto.errors import BuildError
from . import boards as _boards
from .build import build
from .report import BuildReport

__all__ = ["ROWS", "ACTIVITY", "collect", "find_report", "render", "render_probes", "update_doc",
           "tick_rates", "features", "main"]

#: Fraction of sources spiking per tick used for the tick-rate projection.
ACTIVITY = 0.10

#: (board, config) rows of the measured table: None = the board's preset; CoreConfigs for the
#: largest cores found by bisection (python -m spikeloom.firmware.fit), without the optional
#: neuron features (sizes alone).
_PLAIN = dict(theta_width=0, inh_current=False)
ROWS: list[tuple[str, object]] = [
    ("icebreaker", None),
    ("icebreaker", PRESETS["up5k"].replace(n_neurons=64, n_inputs=32, name="up5k-64",
                                           **_PLAIN)),
    ("ulx3s-25f", None),
    ("ulx3s-25f", PRESETS["up5k"].replace(clock_hz=50_000_000, baud=2_000_000,
                                          weights_per_word=4, name="256x128-25f", **_PLAIN)),
    ("ulx3s-85f", None),
    ("ulx3s-85f", PRESETS["ecp5_85"].replace(baud=1_000_000, name="ecp5_85 (512x256)")),
    ("arty-a7-35", None),
]

#: The published reference point (NeuroCoreX, ORNL 2025, Arty A7 / Artix-7).
NEUROCOREX = {"board": "NeuroCoreX (Artix-7)", "neurons": 90, "lut": "6,981", "bram": "30.5",
              "clock": "100 MHz", "ticks": "~1,000 (reported)"}


def _matches(rep: BuildReport, board: str, cfg: CoreConfig) -> bool:
    if rep.board != board or rep.design != "top" or rep.out_dir.endswith("-echo"):
        return False
    if rep.config_hash is not None:
        return rep.config_hash == cfg.hash()
    # reports written before the hash was recorded: the fields that size the build
    return (rep.n_neurons, rep.n_inputs, rep.clock_hz) == (cfg.n_neurons, cfg.n_inputs,
                                                            cfg.clock_hz)


def find_report(build_dir, board: str, cfg: CoreConfig) -> BuildReport | None:
    """The newest report.json under ``build_dir`` built for ``board`` with ``cfg`` (by hash; the
    preset's name does not matter, so a bisection probe of the same configuration counts)."""
    found = []
    for path in Path(build_dir).rglob("report.json"):
        try:
            rep = BuildReport.from_json(json.loads(path.read_text()))
        except (ValueError, TypeError, KeyError):
            continue
        if _matches(rep, board, cfg):
            found.append((path.stat().st_mtime, rep))
    return max(found, key=lambda t: t[0])[1] if found else None


def collect(build_dir="build", rebuild=False, rows=None, log=print) -> list[BuildReport]:
    out = []
    for board, config in rows or ROWS:
        cfg = _boards.board_config(board, config)
        rep = None if rebuild else find_report(build_dir, board, cfg)
        if rep is not None:
            log(f"{board} {cfg.name}: from {rep.out_dir}")
            rep.config = cfg.name
        else:
            log(f"{board} {cfg.name}: building ...")
            try:
                rep = build(board, cfg, build_dir)
            except BuildError as e:
                rep = getattr(e, "report", None) or BuildReport(board, cfg.name, status="failed",
                                                                error=str(e))
                rep.status = "failed"
        out.append(rep)
    return out


def tick_rates(cfg: CoreConfig, weight_store: str, activity: float = ACTIVITY):
    """``(cycles_no_stdp, cycles_stdp, link_ticks_per_s)`` at ``activity``; cycles are None when
    spikeloom.proto.cycles is not available."""
    from ..proto import protocol
    delivered = math.ceil(activity * cfg.n_sources)
    fired = math.ceil(activity * cfg.n_neurons)
    try:
        from ..proto.cycles import tick_cycles_at
        # evenly spaced sources and neurons (the positions set the spram store's pairs and
        # bank stalls); with STDP the bound at this activity (every source plastic and listed)
        c0 = tick_cycles_at(cfg, delivered, fired, False, weight_store)
        c1 = tick_cycles_at(cfg, delivered, fired, True, weight_store)
    except ImportError:
        c0 = c1 = None
    # the spike stream of such ticks: evenly spaced neurons, a keep-alive batch of them
    step = cfg.n_neurons / fired if fired else 1
    spikes = sorted({int(k * step) for k in range(fired)})
    keep = protocol.KEEPALIVE_TICKS
    wire = protocol.spike_wire_bytes(cfg.n_neurons, [spikes] * keep, first=123456)
    link = cfg.baud / 10 / (wire / keep)
    return c0, c1, link


def features(cfg: CoreConfig) -> str:
    """The optional neuron features of ``cfg`` (docs/numerics.md), as a table cell."""
    out = []
    if cfg.theta_width:
        out.append(f"adaptive threshold ({cfg.theta_width}-bit theta)")
    if cfg.inh_current:
        out.append("exc/inh currents")
    return ", ".join(out) or "–"


def _fmt_res(rep, key):
    r = rep.resources.get(key)
    return f"{r.used}/{r.available}" if r else "–"


def render(reports: list[BuildReport]) -> dict[str, str]:
    """The generated sections, by name."""
    boards = ["| board | FPGA | preset | neuron features | core clock | UART (USB bridge) | "
              "LEDs (heartbeat / activity / error) | toolchain | programmer |",
              "|---|---|---|---|---|---|---|---|---|"]
    for b in _boards.BOARDS.values():
        cfg = _boards.board_config(b.name)
        leds = " / ".join(f"{res} {num}" for res, num in b.leds.values())
        prog = ", ".join(p[0] for p in b.programmers)
        boards.append(f"| `{b.name}` | {b.title} | `{cfg.name}` {cfg.n_neurons} × "
                      f"{cfg.n_inputs} | {features(cfg)} | {b.clock_text(cfg.clock_hz)} | "
                      f"{cfg.baud / 1e6:g} Mbaud, divisor {cfg.uart_divisor} ({b.uart_note}) | "
                      f"{leds} | {b.toolchain} | {prog} |")

    builds = ["| board | config | neurons × inputs | clock | logic | FF | BRAM | SPRAM | DSP | "
              "Fmax | timing | build time |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in reports:
        ff = _fmt_res(r, "ff") if "ff" in r.resources else (
            str(r.ff_count) if r.ff_count is not None else "–")
        if r.status == "plan":
            builds.append(f"| {r.board} | {r.config} | {r.n_neurons} × {r.n_inputs} | "
                          f"{r.clock_hz / 1e6:g} MHz | needs Vivado | | | | | | not run | |")
            continue
        timing = ("met" if r.timing_met else "FAILED") if r.status != "failed" or r.fmax_mhz \
            else "failed"
        fmax = f"{r.fmax:.1f} MHz" if r.fmax else "–"
        note = ""
        if r.status == "failed":
            over = [f"{cell} {res.used}/{res.available}" for cell, res in r.raw.items()
                    if res.used > res.available]
            note = f" (does not fit: {', '.join(over)})" if over else \
                f" ({r.error.replace('|', '/')})" if r.error else ""
        builds.append(
            f"| {r.board} | {r.config} | {r.n_neurons} × {r.n_inputs} | {r.clock_hz / 1e6:g} MHz | "
            f"{_fmt_res(r, 'logic')} | {ff} | {_fmt_res(r, 'bram')} | {_fmt_res(r, 'spram')} | "
            f"{_fmt_res(r, 'dsp')} | {fmax} | {timing}{note} | {r.seconds:.0f} s |")
    n = NEUROCOREX
    builds.append(f"| {n['board']} | – | {n['neurons']} × {n['neurons']} (96 × 96 matrices) | "
                  f"{n['clock']} | {n['lut']} LUTs | – | {n['bram']} tiles | – | – | – | – | "
                  f"Vivado |")

    pct = f"{ACTIVITY * 100:g}%"
    ticks = [f"| board | config | clock | cycles/tick ({pct}, STDP off) | ticks/s (STDP off) | "
             f"cycles/tick ({pct}, STDP on) | ticks/s (STDP on) | UART limit, SPIKES out "
             "(ticks/s) |", "|---|---|---|---|---|---|---|---|"]
    for r in reports:
        b = _boards.board(r.board)
        cfg = _boards.board_config(r.board, _cfg_of(r))
        c0, c1, link = tick_rates(cfg, b.weight_store)

        def rate(c, cfg=cfg):
            return f"{cfg.clock_hz / c:,.0f}" if c else "n/a"
        ticks.append(f"| {r.board} | {r.config} | {cfg.clock_hz / 1e6:g} MHz | "
                     f"{c0 if c0 else 'n/a'} | {rate(c0)} | {c1 if c1 else 'n/a'} | {rate(c1)} | "
                     f"{link:,.0f} |")
    ticks.append(f"| {n['board']} | – | {n['clock']} | – | {n['ticks']} | – | – | – |")
    return {"boards": "\n".join(boards), "builds": "\n".join(builds),
            "ticks": "\n".join(ticks)}


def render_probes(build_dir) -> str:
    """Every bisection probe under ``<build_dir>/fit`` (python -m spikeloom.firmware.fit)."""
    rows = ["| board | neurons × inputs | clock | logic | BRAM | SPRAM | Fmax | fits and meets "
            "timing |", "|---|---|---|---|---|---|---|---|"]
    reps = []
    for path in sorted(Path(build_dir, "fit").rglob("report.json")):
        reps.append(BuildReport.from_json(json.loads(path.read_text())))
    reps.sort(key=lambda r: (r.board, r.n_neurons, r.n_inputs, r.clock_hz))
    for r in reps:
        ok = r.status == "built" and r.fits() and r.timing_met
        over = [f"{c} {x.used}/{x.available}" for c, x in r.raw.items() if x.used > x.available]
        why = "yes" if ok else ("no: " + ", ".join(over) if over else "no: timing")
        fmax = f"{r.fmax:.1f} MHz" if r.fmax else "–"
        rows.append(f"| {r.board} | {r.n_neurons} × {r.n_inputs} | {r.clock_hz / 1e6:g} MHz | "
                    f"{_fmt_res(r, 'logic')} | {_fmt_res(r, 'bram')} | {_fmt_res(r, 'spram')} | "
                    f"{fmax} | {why} |")
    return "\n".join(rows)


def _cfg_of(r: BuildReport):
    """The configuration a report was built with (a preset name, or a ROWS CoreConfig)."""
    for board, config in ROWS:
        if board == r.board and isinstance(config, CoreConfig) and config.name == r.config:
            return config
    return r.config


def update_doc(path, sections: dict[str, str]) -> str:
    text = Path(path).read_text()
    for name, body in sections.items():
        pat = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- end:{name} -->)", re.S)
        if not pat.search(text):
            raise ValueError(f"{path} has no <!-- generated:{name} --> section")
        text = pat.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    Path(path).write_text(text)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spikeloom.firmware.docgen",
                                 description="Refresh the measured tables in docs/boards.md.")
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--doc", default="docs/boards.md")
    args = ap.parse_args(argv)
    reports = collect(args.build_dir, args.rebuild, log=lambda s: print(s, flush=True))
    sections = render(reports)
    if any(Path(args.build_dir, "fit").rglob("report.json")):
        sections["probes"] = render_probes(args.build_dir)
    else:       # no bisection run here: keep the recorded probes rather than empty the table
        print(f"no probes under {args.build_dir}/fit: the probes table is left as it is")
    update_doc(args.doc, sections)
    print(f"updated {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
