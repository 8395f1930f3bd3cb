"""The ``spikeloom`` command line: thin wrappers around the library calls.

Subcommands: ``info``, ``compile``, ``run``, ``plot``, ``diff``, ``serve``, ``build``, ``flash``,
``bench``.
Exit codes: 0 success, 1 error (any :class:`spikeloom.Error`, or a missing optional module),
2 usage error (argparse), 130 interrupted (Ctrl-C). Errors print as one line
``spikeloom: error: ...``; ``--debug`` shows the traceback instead.

The hooks implemented elsewhere (``spikeloom.sim.vboard``, ``spikeloom.firmware.build``,
``spikeloom.firmware.flash``, ``spikeloom.sim.bench``) are imported only when their subcommand
runs, so a missing one breaks only that subcommand, with one clear line.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from pathlib import Path

from .errors import Error

__all__ = ["main", "parser"]


class UsageError(Exception):
    """A command line that parses but does not make sense (exit code 2, like argparse)."""


class _Missing(Error):
    """A hook module or function is not available in this installation."""


def _hook(module: str, name: str):
    """``module.name``, imported lazily; a missing module/attribute becomes one clear error."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            raise _Missing(f"{module} is not available in this installation "
                           f"(this subcommand needs it)") from None
        raise
    try:
        return getattr(mod, name)
    except AttributeError:
        raise _Missing(f"{module}.{name} is not available in this installation "
                       f"(this subcommand needs it)") from None


def _config(name):
    """A CoreConfig from a preset name (or None)."""
    if name is None:
        return None
    from .proto import preset
    try:
        return preset(name)
    except ValueError as exc:
        raise Error(str(exc)) from None


# -- argument types (argparse turns their ValueError/ArgumentTypeError into a usage error) -------

def _port(text: str) -> int:
    """A TCP port number, 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0..65535; 0 = any free "
                                         "port)")
    return port


def _seconds(text: str) -> float:
    """A non-negative, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds >= 0")
    return value


def _writable(path: Path) -> str | None:
    """Why ``path`` cannot be written as an output file, or None if it can (nothing is
    created: a failed run leaves no empty file behind)."""
    if path.is_dir():
        return "it is a directory"
    parent = path.parent
    if not parent.is_dir():
        return f"directory {str(parent)!r} does not exist"
    if path.exists():
        return None if os.access(path, os.W_OK) else "no permission to overwrite it"
    return None if os.access(parent, os.W_OK | os.X_OK) else \
        f"no permission to write into {str(parent)!r}"


def _output(text: str) -> Path:
    """An output file that can be written (checked before any work starts)."""
    path = Path(text)
    why = _writable(path)
    if why:
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {why}")
    return path


def _derived_output(source, suffix: str) -> Path:
    """The default output next to ``source``: its name with ``suffix`` instead of its own
    (``dir.v2/net.py`` -> ``dir.v2/net.slimg``; a dot in a directory name is not a suffix)."""
    path = Path(source).with_suffix(suffix)
    why = _writable(path)
    if why:
        raise UsageError(f"cannot write {str(path)!r}: {why} (choose another with -o)")
    return path


# -- subcommands -----------------------------------------------------------------------------------

def cmd_info(args) -> int:
    from .board import open_board
    with open_board(args.url, config=_config(args.config), timeout=args.timeout,
                    baudrate=args.baud) as board:
        info = board.info
        print(f"{'url':<17}{args.url}")
        for key, value in info.as_dict().items():
            print(f"{key:<17}{value}")
        if args.status:
            for key, value in board.status().items():
                print(f"{key:<17}{value}")
    return 0


def cmd_compile(args) -> int:
    from .compiler import CompileWarning
    from .compiler import compile as compile_net
    from .network import load_network
    net = load_network(args.net)
    out = args.output or _derived_output(args.net, ".slimg")    # checked before compiling
    target = args.config or "default"
    # the report lists every warning; without it (--quiet) each is one stderr line, never both
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CompileWarning)
        image = compile_net(net, target=target, dt=args.dt, strict=args.strict)
    if not args.quiet:
        print(image.report.summary())
    else:
        for w in caught:
            print(f"spikeloom: warning: {w.message}", file=sys.stderr)
    image.save(out)
    print(f"wrote {out}")
    return 0


def cmd_run(args) -> int:
    from .board import open_board
    from .image import Image
    from .result import load_inputs
    image = Image.load(args.image)
    inputs = load_inputs(args.input, args.ticks, image) if args.input else None
    with open_board(args.url, config=image.config, timeout=args.timeout,
                    baudrate=args.baud) as board:
        board.load(image)
        result = board.run(args.ticks, inputs=inputs, period=args.period,
                           progress=False if args.quiet else None)
    print(result.summary())
    if args.out:
        result.save(args.out)
        print(f"wrote {args.out}")
    if args.raster:
        result.plot_raster(args.raster)
        print(f"wrote {args.raster}")
    return 0


def cmd_plot(args) -> int:
    from .result import Result
    result = Result.load(args.result)
    out = args.output or _derived_output(args.result, ".png")
    result.plot_raster(out)
    print(f"wrote {out}")
    return 0


def cmd_diff(args) -> int:
    from .image import Image
    diff = Image.load(args.a).diff(Image.load(args.b))
    print(diff.summary())
    return 1 if diff else 0


def cmd_serve(args) -> int:
    serve = _hook("spikeloom.sim.vboard", "serve")
    cfg = _config(args.config or "default")
    kwargs = {} if args.idle_timeout is None else {"idle_timeout": args.idle_timeout}
    serve(cfg, args.port, host=args.host, pty=args.pty, **kwargs)
    return 0


def _board_arg(args) -> str:
    """The board named positionally or with ``--board`` (the two spellings must agree)."""
    pos, opt = args.board, args.board_opt
    if pos and opt and pos != opt:
        raise UsageError(f"two boards given: {pos!r} and --board {opt!r}")
    if not (pos or opt):
        raise UsageError("name the board: BOARD or --board BOARD")
    return pos or opt


def cmd_build(args) -> int:
    build = _hook("spikeloom.firmware.build", "build")
    report = build(_board_arg(args), config=args.config, out_dir=args.out_dir)
    print(report.summary())
    print(f"bitstream: {report.bitstream}")
    return 0


def cmd_flash(args) -> int:
    flash = _hook("spikeloom.firmware.flash", "flash")
    cmd = flash(_board_arg(args), args.bitstream, dry_run=args.dry_run,
                target="sram" if args.sram else "flash", config=args.config,
                out_dir=args.out_dir)
    print(" ".join(str(c) for c in cmd))
    return 0


def cmd_bench(args) -> int:
    """Runs ``spikeloom.sim.bench.main(argv)``: ``bench`` alone runs the whole suite
    (bench/run.py), ``bench NAME [ARGS]`` one script, ``bench --list`` names them."""
    return int(_hook("spikeloom.sim.bench", "main")(list(args.bench_args)) or 0)


# -- parser ----------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse with our one-line error format (still exit code 2; no usage block: every CLI
    error is one line)."""

    def error(self, message):
        self.exit(2, f"spikeloom: error: {message} (see `{self.prog} --help`)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="spikeloom", description="spikeloom: open neuromorphic hardware emulator")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--version", action="version", version=f"spikeloom {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(name, func, help):
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors")
        sp.set_defaults(func=func)
        return sp

    sp = add("info", cmd_info, "connect to a device and print its INFO")
    sp.add_argument("url", help="serial device, pyserial URL (socket://, rfc2217://) or model://")
    sp.add_argument("--config", help="expected configuration preset (refuse another)")
    sp.add_argument("--timeout", type=float, default=2.0, help="reply timeout in s [2.0]")
    sp.add_argument("--status", action="store_true", help="also print the STATUS counters")
    sp.add_argument("--baud", type=int, help="serial line rate [1000000]")

    sp = add("compile", cmd_compile, "compile a network description into an image (.slimg)")
    sp.add_argument("net", help="Python file defining `net` or `build()`")
    sp.add_argument("-o", "--output", type=_output, help="image file [NET.slimg]")
    sp.add_argument("--config", help="target configuration preset [default]")
    sp.add_argument("--dt", type=float, default=1.0, help="time step in ms [1.0]")
    sp.add_argument("-q", "--quiet", action="store_true", help="no quantization report")
    sp.add_argument("--strict", action="store_true",
                    help="compile warnings and rounding errors above the bound are errors")

    sp = add("run", cmd_run, "load an image onto a device, run it and collect spikes")
    sp.add_argument("url", help="serial device, pyserial URL or model://")
    sp.add_argument("image", help="image file (.slimg)")
    sp.add_argument("--ticks", type=int, required=True, help="ticks to run")
    sp.add_argument("--input", help="input spikes: .npy/.npz (ticks, n_inputs) bool, or "
                                    ".csv/.txt lines 'tick,input'")
    sp.add_argument("--out", type=_output, help="write the result (.npz)")
    sp.add_argument("--raster", type=_output, help="write a raster plot (.png)")
    sp.add_argument("--timeout", type=float, default=2.0, help="reply timeout in s [2.0]")
    sp.add_argument("--period", type=int, default=0,
                    help="clock cycles per tick, 0 = as fast as possible [0]")
    sp.add_argument("--baud", type=int, help="serial line rate [1000000]")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    sp = add("plot", cmd_plot, "plot a saved run result as a spike raster")
    sp.add_argument("result", help="result file (.npz) written by `spikeloom run --out`")
    sp.add_argument("-o", "--output", type=_output, help="PNG file [RESULT.png]")

    sp = add("diff", cmd_diff, "compare two images (exit 0 identical, 1 different)")
    sp.add_argument("a", help="image file")
    sp.add_argument("b", help="image file")

    sp = add("serve", cmd_serve, "serve a virtual board (Verilator) on a TCP port")
    sp.add_argument("--config", help="configuration preset [default]")
    sp.add_argument("--port", type=_port, default=7000, help="TCP port, 0 = any free [7000]")
    sp.add_argument("--host", default="127.0.0.1",
                    help="address to bind [127.0.0.1]; another (0.0.0.0) lets the network in")
    # the default lives in spikeloom.sim.vboard.DEFAULT_IDLE_TIMEOUT (a test holds them equal)
    sp.add_argument("--idle-timeout", type=_seconds, metavar="SECONDS",
                    help="drop a client that sent and received nothing for this long; "
                         "0 = never [300]")
    sp.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal instead")

    def board_args(sp):
        sp.add_argument("board", nargs="?", help="board name (e.g. icebreaker, ulx3s-85f)")
        sp.add_argument("--board", dest="board_opt", metavar="BOARD",
                        help="the board, as an option")
        sp.add_argument("--config", help="configuration preset [the board's]")
        sp.add_argument("--out-dir", default="build", help="build directory [build]")

    sp = add("build", cmd_build, "build a bitstream for a board")
    board_args(sp)

    sp = add("flash", cmd_flash, "program a board with a bitstream")
    board_args(sp)
    sp.add_argument("--bitstream", help="bitstream file [the one `build` wrote]")
    sp.add_argument("--sram", action="store_true",
                    help="load the FPGA only (lost at power-off) instead of the flash")
    sp.add_argument("--dry-run", action="store_true", help="print the command only")

    sp = add("bench", cmd_bench, "run the benchmarks: `bench` (all), `bench NAME [ARGS]`, "
                                 "`bench --list`")
    sp.add_argument("bench_args", nargs=argparse.REMAINDER,
                    help="benchmark name and its arguments")
    return p


def _version() -> str:
    try:
        from . import __version__
        return __version__
    except ImportError:     # pragma: no cover - only while the package root is broken
        return "unknown"


def main(argv=None) -> int:
    """Entry point: parse ``argv`` (default ``sys.argv[1:]``), run, return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    p = parser()
    # `bench` hands everything after it to the benchmark scripts, options included
    rest = None
    if "bench" in argv:
        k = argv.index("bench")
        if all(a.startswith("-") for a in argv[:k]) and argv[k + 1:] not in (["-h"], ["--help"]):
            argv, rest = argv[:k + 1], argv[k + 1:]
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:           # --help (0) and usage errors (2)
        return int(exc.code or 0)
    if rest is not None:
        args.bench_args = rest
    debug = getattr(args, "debug", False)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("spikeloom: interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:
        print(f"spikeloom: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:    # noqa: BLE001 - every failure becomes one line (see --debug)
        if debug:
            raise
        text = _one_line(exc)
        if not isinstance(exc, (Error, OSError, ValueError)):
            # not an expected failure: say what it was and how to see more
            text = f"{type(exc).__name__}: {text} (run with --debug for the traceback)"
        print(f"spikeloom: error: {text}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
