"""The spikeloom command line: subcommands, exit codes, one-line errors."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from spikeloom import cli

NET = '''
import spikeloom as sl
net = sl.Network("cli")
inp = net.inputs(3, name="in")
exc = net.population(4, sl.LIF(tau_mem=10.0, tau_syn=2.0, threshold=1.0), name="exc")
net.connect(inp, exc, weights=[[0.6] * 4] * 3, name="ff")
'''


@pytest.fixture
def netfile(tmp_path):
    p = tmp_path / "net.py"
    p.write_text(NET)
    return p


def run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_help_everywhere(capsys):
    assert run(capsys, "--help")[0] == 0
    for sub in ("info", "compile", "run", "plot", "diff", "serve", "build", "flash", "bench"):
        rc, out, _ = run(capsys, sub, "--help")
        assert rc == 0 and "usage: spikeloom " + sub in out


def test_usage_errors_exit_2(capsys):
    rc, _, err = run(capsys)
    assert rc == 2 and "spikeloom: error:" in err
    rc, _, err = run(capsys, "frobnicate")
    assert rc == 2 and "invalid choice" in err
    rc, _, err = run(capsys, "run", "model://", "x.slimg")
    assert rc == 2 and "--ticks" in err


def test_info(capsys):
    rc, out, _ = run(capsys, "info", "model://tiny", "--status")
    assert rc == 0 and "n_neurons        8" in out and "crc_errors" in out


def test_compile_run_plot_diff(capsys, netfile, tmp_path):
    img = tmp_path / "net.slimg"
    rc, out, _ = run(capsys, "compile", netfile, "-o", img, "--config", "tiny")
    assert rc == 0 and img.exists() and "exc.threshold" in out
    events = tmp_path / "in.csv"
    events.write_text("# tick,population,index\n" + "".join(
        f"{t},in,{k}\n" for t in range(0, 40, 4) for k in range(3)))
    res = tmp_path / "res.npz"
    rc, out, _ = run(capsys, "run", "model://tiny", img, "--ticks", 40, "--input", events,
                     "--out", res, "-q")
    assert rc == 0 and "40 ticks" in out and res.exists()
    from spikeloom.result import Result
    r = Result.load(res)
    assert r.ticks == 40 and r["exc"].count > 0 and r["in"].count == 30
    rc, out, _ = run(capsys, "plot", res, "-o", tmp_path / "r.png")
    assert rc == 0 and (tmp_path / "r.png").stat().st_size > 1000
    assert run(capsys, "diff", img, img)[0] == 0
    np.save(tmp_path / "in.npy", np.ones((40, 4), bool))
    rc, _, err = run(capsys, "run", "model://tiny", img, "--ticks", 40, "--input",
                     tmp_path / "in.npy")
    assert rc == 0


def test_errors_are_one_line(capsys, netfile, tmp_path):
    img = tmp_path / "net.slimg"
    assert run(capsys, "compile", netfile, "-o", img, "--config", "tiny", "-q")[0] == 0
    cases = [
        (("run", "model://narrow", img, "--ticks", 5), "compile for 'narrow'"),
        (("info", "/dev/ttyNOPE"), "cannot open /dev/ttyNOPE"),
        (("compile", tmp_path / "none.py"), "not found"),
        (("run", "model://tiny", tmp_path / "none.slimg", "--ticks", 5), "cannot read image"),
        (("info", "model://huge"), "unknown configuration 'huge'"),
    ]
    for argv, match in cases:
        rc, _, err = run(capsys, *argv)
        assert rc == 1, argv
        assert err.startswith("spikeloom: error: ") and err.count("\n") == 1, err
        assert match in err
    big = tmp_path / "big.py"
    big.write_text(NET.replace("population(4", "population(40")
                   .replace("[[0.6] * 4]", "[[0.6] * 40]"))
    rc, _, err = run(capsys, "compile", big, "--config", "tiny")
    assert rc == 1 and "needs 40 neurons" in err and err.count("\n") == 1


def test_debug_shows_traceback(netfile, tmp_path):
    with pytest.raises(Exception, match="cannot open"):
        cli.main(["--debug", "info", "/dev/ttyNOPE"])


def test_missing_hook_is_one_clear_line(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "spikeloom.sim.vboard", None)
    rc, _, err = run(capsys, "serve", "--port", "0")
    assert rc == 1 and err.startswith("spikeloom: error: ")
    assert "spikeloom.sim.vboard" in err and err.count("\n") == 1
    monkeypatch.setitem(sys.modules, "spikeloom.sim.bench", None)
    rc, _, err = run(capsys, "bench")
    assert rc == 1 and "spikeloom.sim.bench" in err and err.count("\n") == 1


def test_bench_scripts(capsys, monkeypatch, tmp_path):
    from spikeloom.sim import bench
    script = "def main(argv):\n    print('ARGS', argv)\n    return 0\n"
    (tmp_path / "fast.py").write_text(script)
    (tmp_path / "run.py").write_text(script)
    monkeypatch.setattr(bench, "bench_dir", lambda: tmp_path)
    rc, out, _ = run(capsys, "bench", "--list")
    assert rc == 0 and out.split() == ["fast", "run"]
    rc, out, _ = run(capsys, "bench", "fast", "--quick", "-n", "3")
    assert rc == 0 and "ARGS ['--quick', '-n', '3']" in out
    rc, _, err = run(capsys, "bench", "slow")
    assert rc == 2 and "available: fast" in err


def test_ctrl_c_exits_130(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "cmd_info", interrupted)
    rc, _, err = run(capsys, "info", "model://")
    assert rc == 130 and "interrupted" in err


def test_entry_point_subprocess(tmp_path):
    exe = Path(sys.executable).with_name("spikeloom")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "spikeloom.cli"]
    p = subprocess.run(cmd + ["info", "model://tiny"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and "config_hash" in p.stdout
    p = subprocess.run(cmd + ["info", "/dev/ttyNOPE"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1 and p.stderr.startswith("spikeloom: error: cannot open")


def test_board_named_either_way(capsys, monkeypatch, tmp_path):
    """``build``/``flash`` take the board positionally or as ``--board``; flash defaults to the
    bitstream ``build`` writes for the board's preset."""
    from spikeloom.firmware import flash
    monkeypatch.setattr(flash, "find_programmer", lambda board: None)
    rc, out, _ = run(capsys, "flash", "--board", "icebreaker", "--dry-run")
    assert rc == 0 and out.split() == ["iceprog", "build/icebreaker-up5k/top.bin"]
    rc, out, _ = run(capsys, "flash", "ulx3s-85f", "--dry-run", "--sram", "--out-dir", tmp_path)
    assert rc == 0 and out.split() == ["openFPGALoader", "--board", "ulx3s",
                                       f"{tmp_path}/ulx3s-85f-ulx3s_85f/top.bit"]
    rc, out, _ = run(capsys, "flash", "--board", "icebreaker", "--bitstream", "x.bin",
                     "--dry-run")
    assert rc == 0 and out.split() == ["iceprog", "x.bin"]
    rc, _, err = run(capsys, "build")
    assert rc == 2 and "name the board" in err
    rc, _, err = run(capsys, "build", "icebreaker", "--board", "ulx3s-85f")
    assert rc == 2 and "two boards" in err
    rc, _, err = run(capsys, "flash", "--board", "nope", "--dry-run")
    assert rc == 1 and err.count("\n") == 1 and "unknown board 'nope'" in err


# -- argument checks (issue #14.5) ----------------------------------------------------------------

def one_line_error(err: str) -> bool:
    return err.startswith("spikeloom: error: ") and err.count("\n") == 1


def test_bad_arguments_are_one_line_exit_2(capsys, tmp_path):
    cases = [
        (("serve", "--port", "99999"), "99999 is not a TCP port"),
        (("serve", "--port", "-1"), "-1 is not a TCP port"),
        (("serve", "--port", "seven"), "'seven' is not a port number"),
        (("serve", "--idle-timeout", "-5"), "not a number of seconds"),
        (("serve", "--idle-timeout", "inf"), "not a number of seconds"),
        (("run", "model://", "x.slimg", "--ticks", "ten"), "invalid int value"),
        (("run", "model://", "x.slimg", "--ticks", "5", "--out", tmp_path / "no" / "r.npz"),
         "does not exist"),
        (("run", "model://", "x.slimg", "--ticks", "5", "--raster", tmp_path), "a directory"),
        (("compile", "net.py", "-o", tmp_path / "no" / "net.slimg"), "does not exist"),
        (("plot", "r.npz", "-o", tmp_path), "a directory"),
        (("frobnicate",), "invalid choice"),
        ((), "required"),
    ]
    for argv, match in cases:
        rc, out, err = run(capsys, *argv)
        assert rc == 2, argv
        assert one_line_error(err), (argv, err)
        assert match in err, (argv, err)
        assert out == ""


def test_out_is_checked_before_the_run_starts(capsys, monkeypatch, netfile, tmp_path):
    img = tmp_path / "net.slimg"
    assert run(capsys, "compile", netfile, "-o", img, "--config", "tiny", "-q")[0] == 0
    from spikeloom import board

    def no_board(*args, **kwargs):
        raise AssertionError("the board was opened although --out cannot be written")
    monkeypatch.setattr(board, "open_board", no_board)
    rc, _, err = run(capsys, "run", "model://tiny", img, "--ticks", 5,
                     "--out", tmp_path / "missing" / "res.npz")
    assert rc == 2 and one_line_error(err) and "cannot write" in err
    if os.geteuid() != 0:       # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        rc, _, err = run(capsys, "run", "model://tiny", img, "--ticks", 5,
                         "--out", locked / "res.npz")
        assert rc == 2 and one_line_error(err) and "no permission" in err
    assert not (tmp_path / "missing").exists()


def test_output_names_derived_with_pathlib(capsys, tmp_path):
    d = tmp_path / "dir.v2"
    d.mkdir()
    (d / "net").write_text(NET)                 # no suffix, and a dot in the directory name
    (d / "other.net.py").write_text(NET)
    rc, out, _ = run(capsys, "compile", d / "net", "--config", "tiny", "-q")
    assert rc == 0 and (d / "net.slimg").is_file() and not (tmp_path / "dir.slimg").exists()
    rc, out, _ = run(capsys, "compile", d / "other.net.py", "--config", "tiny", "-q")
    assert rc == 0 and (d / "other.net.slimg").is_file()
    res = d / "res"
    rc, _, _ = run(capsys, "run", "model://tiny", d / "net.slimg", "--ticks", 5, "--out", res,
                   "-q")
    assert rc == 0 and res.is_file()
    rc, out, _ = run(capsys, "plot", res)
    assert rc == 0 and (d / "res.png").is_file() and f"wrote {d / 'res.png'}" in out
    # a derived name that cannot be written is refused before compiling, in one line
    (d / "blocked.slimg").mkdir()
    (d / "blocked.py").write_text(NET)
    rc, _, err = run(capsys, "compile", d / "blocked.py", "--config", "tiny")
    assert rc == 2 and one_line_error(err) and "is a directory" in err and "-o" in err


def test_serve_options_reach_the_virtual_board(capsys, monkeypatch):
    from spikeloom.sim import vboard
    calls = []
    monkeypatch.setattr(vboard, "serve", lambda cfg, port, **kw: calls.append((port, kw)))
    assert run(capsys, "serve", "--port", "0", "--idle-timeout", "12.5")[0] == 0
    assert run(capsys, "serve", "--port", "65535", "--host", "0.0.0.0")[0] == 0
    assert calls == [(0, {"host": "127.0.0.1", "pty": False, "idle_timeout": 12.5}),
                     (65535, {"host": "0.0.0.0", "pty": False})]
    # the default stated in --help is the one serve() applies
    _, out, _ = run(capsys, "serve", "--help")
    assert f"[{vboard.DEFAULT_IDLE_TIMEOUT:g}]" in " ".join(out.split())
