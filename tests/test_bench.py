"""The benchmark aggregator (bench/run.py) and the ``spikeloom bench`` hook (spikeloom.sim.bench).

One ``--smoke`` run (tiny subset: RTL cycles of the tiny core, the link figures, golden model vs
Brian2 numpy on 60 ticks, board projections without place and route; about 30 s) must write
results.json and results.md with the expected keys, and its figures must be measurements: the
RTL cycle counts equal the exact formula recomputed here, the golden model's spike count equals
a fresh run of the same compiled network and raster, the git commit is the checkout's, and
results.md is rendered from results.json (a changed number in the JSON shows in the Markdown).
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from spikeloom.proto import protocol as P
from spikeloom.proto.config import preset
from spikeloom.proto.cycles import fired_words, spread, tick_cycles
from spikeloom.proto.memmap import Region

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}_under_test", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), "--smoke", "--out-dir",
                           str(out), "--build-dir", str(out / "build")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads((out / "results.json").read_text()), (out / "results.md").read_text()


def test_smoke_writes_both_files_with_expected_keys(smoke):
    res, md = smoke
    assert res["mode"] == "smoke"
    for key in ("command", "started", "finished", "wall_s", "machine", "parts", "headline",
                "boards"):
        assert key in res, key
    m = res["machine"]
    for key in ("cpu", "cores", "ram_gib", "os", "python", "packages", "tools", "git_commit",
                "git_dirty", "load_average_start", "load_average_end"):
        assert key in m, key
    # the checkout's commit at the time of the run: HEAD or (others commit meanwhile) before it
    assert len(m["git_commit"]) == 40
    assert subprocess.run(["git", "merge-base", "--is-ancestor", m["git_commit"], "HEAD"],
                          cwd=ROOT).returncode == 0
    assert isinstance(m["git_dirty"], bool)
    assert set(res["parts"]) == {"cycles", "link", "model_speed", "boards"}
    for part in ("cycles", "link", "model_speed"):
        assert res["parts"][part]["status"] == "measured", res["parts"][part]
        assert res["parts"][part]["wall_s"] > 0
    for title in ("## Machine", "## Gateware cycles per tick", "## Golden model vs Brian2",
                  "## Link", "## Boards"):
        assert title in md


def test_cycles_are_rtl_measurements_equal_to_the_formula(smoke):
    res, _ = smoke
    rows = res["parts"]["cycles"]["data"]["rows"]
    assert len(rows) == 32 and {r["size"] for r in rows} == {"tiny"}
    cfg = preset("tiny")
    for r in rows:
        want = tick_cycles(cfg, r["delivered"], r["fired"], bool(r["stdp"]), weight_store="dual",
                           listed=r["listed"], words=r["words"], plastic_delivered=0)
        assert r["cycles"] == want, r
    assert res["headline"]["cycles"]["formula_mismatches"] == 0


def test_golden_model_figure_comes_from_a_real_run(smoke):
    res, md = smoke
    row = res["parts"]["model_speed"]["data"]["rows"][0]
    ms = _load("model_speed")
    cfg = preset(row["size"])
    import spikeloom as sl
    image = sl.compile(ms.build_network(cfg, 0), target=cfg)
    raster = np.random.default_rng(1).random((row["ticks"], cfg.n_inputs)) < ms.INPUT_RATE
    again = ms.run_golden(image, raster)
    assert again["spikes"] == row["golden"]["spikes"] > 0
    assert row["input_spikes"] == int(raster.sum())
    b = row["brian2"]["numpy"]
    assert b["status"] == "measured" and b["wall_s"] > 0 and b["spikes"] > 0
    assert b["ratio_wall"] == pytest.approx(b["wall_s"] / row["golden"]["wall_s"])
    assert f"{row['golden']['ticks_per_s']:,.0f}" in md


def test_board_projection_uses_the_exact_cycle_formula():
    run = _load("run")
    cfg = preset("up5k")
    rows = run.project(cfg, "spram", 15.0)
    assert len(rows) == 2 * len(run.ACTIVITY)
    for r in rows:
        rows = spread(r["delivered"], cfg.n_sources)
        cyc = tick_cycles(cfg, rows, spread(r["fired"], cfg.n_neurons), r["stdp"],
                          weight_store="spram", listed=range(r["listed"]), plastic_delivered=rows)
        assert r["words"] == fired_words(cfg, spread(r["fired"], cfg.n_neurons))
        assert r["cycles"] == cyc
        assert r["ticks_per_s_at_fmax"] == pytest.approx(15e6 / cyc)
        assert r["syn_events_per_s_at_fmax"] == pytest.approx(15e6 / cyc * r["delivered"] * 256)
        # a tick costs the line at least a byte per spike or its bitmap (ceil(N/8) bytes), a
        # silent tick its share of the 15-byte keep-alive frame (docs/protocol.md section 5)
        least = min(r["fired"], -(-cfg.n_neurons // 8)) or 15 / P.KEEPALIVE_TICKS
        assert 0 < r["link_ticks_per_s"] <= cfg.baud / 10 / least


def test_markdown_is_rendered_from_the_json(smoke):
    res, _ = smoke
    run = _load("run")
    res = json.loads(json.dumps(res))
    res["parts"]["model_speed"]["data"]["rows"][0]["golden"]["ticks_per_s"] = 987654.0
    res["parts"]["link"]["data"]["events"][1]["wire_bytes_per_spike"] = 77.125
    md = run.render(res)
    assert "987,654" in md and "77.12" in md


def test_docs_section_replaced_and_other_sections_kept(smoke, tmp_path):
    res, _ = smoke
    run = _load("run")
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n\n## Pattern learning\n\nW's text.\n\n## Benchmarks\n\nold\n\n"
                   "## Digit classification\n\nmore of W's text.\n")
    run.update_docs(res, doc)
    text = doc.read_text()
    assert "W's text." in text and "more of W's text." in text and "\nold\n" not in text
    assert text.index("## Pattern learning") < text.index("## Benchmarks") < \
        text.index("## Digit classification")
    assert "bench/results.md" in text
    run.update_docs(res, doc)                   # idempotent
    assert doc.read_text() == text


def test_hook_lists_and_dispatches(capsys, monkeypatch):
    from spikeloom.sim import bench
    assert bench.main(["--list"]) == 0
    names = capsys.readouterr().out.split()
    assert {"run", "cycles", "link", "model_speed", "vboard"} <= set(names)
    assert bench.main(["no_such_benchmark"]) == 2
    assert "no benchmark" in capsys.readouterr().err
    monkeypatch.setattr(bench, "bench_dir", lambda: None)
    assert bench.main([]) == 2
    assert "source checkout" in capsys.readouterr().err


def test_ticks_scenario_fires_a_tenth_whatever_the_weights():
    """bench/ticks.py's scenario on the golden device (seconds): 13 inputs a tick, every neuron
    firing exactly every 10th tick (threshold at the bottom, refractory 9, its own phase), so
    25 or 26 of 256 fire per tick while STDP changes the weights."""
    tk = _load("ticks")
    cfg = preset("up5k")
    ticks = 30
    scen = tk.scenario(cfg, ticks=ticks)
    assert scen["raster"].sum(axis=1).tolist() == [13] * ticks
    with tk.golden(cfg, "spram") as board:
        cycles, events = tk.stepwise(board, scen, ((ticks, True),))
        learnt = board.read_region(Region.WEIGHTS)
    per_tick = np.bincount(events[:, 0], minlength=ticks)
    assert set(per_tick.tolist()) == {25, 26}
    for j in range(cfg.n_neurons):
        assert np.all(np.diff(events[events[:, 1] == j, 0]) == 10)
    assert len(cycles) == ticks and min(cycles) > 0
    assert learnt != scen[Region.WEIGHTS]


@pytest.mark.regress
def test_ticks_bench_stream_is_confirmed_by_the_golden_device():
    """bench/ticks.py briefly on the up5k virtual board with the SPRAM store (Verilator build,
    about a minute once): the streamed run, the one-tick RUNs, the single RUN and the
    tick-by-tick repeat give the golden device's spikes, every tick's last_tick_cycles is the
    formula's, and the tick period is the core's cycles plus a positive overhead."""
    tk = _load("ticks")
    res = tk.measure(ticks=30, warmup=10)
    assert res["formula_mismatches"] == 0 and res["spikes_identical"]
    assert res["weight_store"] == "spram"
    for seg in ("streamed", "one_tick_runs_no_inputs", "one_run_no_inputs"):
        f = res[seg]
        assert f["cycles_per_tick"] > f["core_cycles_mean"] > 0
        assert f["ticks_per_s"] == pytest.approx(res["clock_hz"] / f["cycles_per_tick"], rel=1e-3)


@pytest.mark.regress
def test_read_back_figure_is_measured_and_model_exact():
    """bench/probes.py's read-back points on the up5k virtual board: v of n neurons recorded
    every tick through reads equals model://'s; the tick rate falls as n grows (more READ bytes
    on the line), and the bytes out per tick grow by at least the 6 bytes of a state word."""
    pr = _load("probes")
    from spikeloom.board import open_board
    from spikeloom.firmware.boards import board_config
    from spikeloom.sim import vboard
    tk = _load("ticks")
    cfg = board_config("icebreaker")
    exe = vboard.binary(cfg, **tk.core_kwargs("icebreaker"))
    with vboard.VirtualBoard(cfg, exe=exe) as vb, \
            open_board(vb.url, config=cfg, timeout=60.0) as board:
        rows = [pr.read_back_point(vb, board, cfg, n, 40) for n in (1, 16)]
    assert all(r["v_identical_to_model"] and r["v_distinct_values"] > 10 for r in rows)
    assert rows[0]["ticks_per_s"] > rows[1]["ticks_per_s"] > 0
    assert rows[1]["bytes_out_per_tick"] - rows[0]["bytes_out_per_tick"] >= 15 * 6
