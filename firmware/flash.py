"""Flash a bitstream onto a board with the programmer that is installed.

Contract: :func:`flash` ``(board, bitstream=None, dry_run=False, *, target="flash", config=None,
out_dir="build")`` builds the exact programmer command for ``board`` and runs it, returning the
command (a list of strings). Without ``bitstream`` it programs the one ``spikeloom build`` wrote
for the board and ``config`` (the board's preset by default) under ``out_dir``. The
programmers are tried in the board's order of preference (iCEBreaker: ``iceprog``, then
``openFPGALoader``; ULX3S: ``openFPGALoader``, then ``fujprog``; Arty A7: ``openFPGALoader``),
each found through its environment variable (``ICEPROG``, ``OPENFPGALOADER``, ``FUJPROG``) or PATH.
``target="flash"`` writes the configuration flash (the board boots the design at power-up);
``"sram"`` loads the FPGA directly (lost at power-off, faster, no flash wear).

* ``dry_run=True`` runs nothing: it returns the command it would run (with the preferred
  programmer's bare name when none is installed); the command-line entries print it.
* No programmer installed: ``spikeloom.errors.ToolNotFound`` naming what to install.
* A missing bitstream is ``FileNotFoundError``; a programmer that exits non-zero is
  ``spikeloom.errors.Error`` with its last output lines.
"""

import os
import shutil
import subprocess
import sys

from ..proto.errors import Error, ToolNotFound
from .boards import board as _board

__all__ = ["flash", "command", "find_programmer", "INSTALL_HINTS", "main"]

INSTALL_HINTS = {
    "iceprog": "iceprog (Debian/Ubuntu: apt install fpga-icestorm)",
    "openFPGALoader": "openFPGALoader (apt install openfpgaloader, or "
                      "https://github.com/trabucayre/openFPGALoader)",
    "fujprog": "fujprog (https://github.com/kost/fujprog)",
}

_TARGETS = ("flash", "sram")


def _env_var(tool: str) -> str:
    return tool.upper().replace("-", "_")


def find_programmer(board: str):
    """``(tool, executable)`` of the first installed programmer for ``board``, or None."""
    for spec in _board(board).programmers:
        tool = spec[0]
        exe = os.environ.get(_env_var(tool)) or shutil.which(tool)
        if exe and (os.path.sep not in exe or os.path.exists(exe)):
            return tool, exe
    return None


def command(board: str, bitstream: str, tool: str, exe: str | None = None,
            target: str = "flash") -> list[str]:
    """The command line that programs ``bitstream`` into ``board`` with ``tool``."""
    if target not in _TARGETS:
        raise ValueError(f"target must be one of {_TARGETS}, not {target!r}")
    b = _board(board)
    spec = next((s for s in b.programmers if s[0] == tool), None)
    if spec is None:
        raise ValueError(f"{b.title} is not programmed with {tool!r}; "
                         f"use one of {[s[0] for s in b.programmers]}")
    exe = exe or tool
    if tool == "iceprog":
        # iceprog writes the SPI flash by default; -S programs the FPGA's SRAM
        return [exe, *(["-S"] if target == "sram" else []), bitstream]
    if tool == "openFPGALoader":
        # openFPGALoader loads SRAM by default; -f writes the flash
        return [exe, *spec[1:], *(["-f"] if target == "flash" else []), bitstream]
    if tool == "fujprog":
        return [exe, *(["-j", "flash"] if target == "flash" else []), bitstream]
    raise ValueError(f"no command known for programmer {tool!r}")


def flash(board: str, bitstream: str | None = None, dry_run: bool = False, *,
          target: str = "flash", config=None, out_dir="build") -> list[str]:
    """Program ``bitstream`` into ``board`` (see the module docstring); returns the command."""
    b = _board(board)
    if bitstream is None:
        from .build import bitstream_path
        bitstream = str(bitstream_path(board, config, out_dir))
    found = find_programmer(board)
    if found is None:
        if dry_run:
            return command(board, str(bitstream), b.programmers[0][0], target=target)
        hints = "; or ".join(INSTALL_HINTS[s[0]] for s in b.programmers)
        raise ToolNotFound(f"no programmer for {b.title} found on PATH: install {hints}")
    tool, exe = found
    cmd = command(board, str(bitstream), tool, exe, target=target)
    if dry_run:
        return cmd
    if not os.path.isfile(bitstream):
        raise FileNotFoundError(f"bitstream {bitstream} does not exist (build it first: "
                                f"spikeloom build --board {board})")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        tail = " | ".join((proc.stderr + proc.stdout).strip().splitlines()[-3:])
        raise Error(f"{tool} failed (exit {proc.returncode}) programming {b.title}: {tail}")
    return cmd


def main(argv=None) -> int:
    import argparse

    from .boards import BOARDS
    ap = argparse.ArgumentParser(prog="python -m spikeloom.firmware.flash",
                                 description="Program a spikeloom bitstream into a board.")
    ap.add_argument("--board", required=True, choices=sorted(BOARDS))
    ap.add_argument("bitstream", nargs="?", default=None,
                    help="bitstream file (default: the one `build` wrote for the board)")
    ap.add_argument("--config", default=None, help="preset of the default bitstream")
    ap.add_argument("--sram", action="store_true", help="load SRAM only (lost at power-off)")
    ap.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    args = ap.parse_args(argv)
    try:
        cmd = flash(args.board, args.bitstream, args.dry_run,
                    target="sram" if args.sram else "flash", config=args.config)
        print(" ".join(cmd))
    except (Error, FileNotFoundError, ValueError) as e:
        print(f"spikeloom: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
