"""Fast smoke tests of the core engine (hdl/core.py) in Amaranth's simulator.

A small random network is written through ``mem_req`` into both the RTL and the golden model
(:class:`spikeloom.sim.model.Core`); then ticks run with random injected inputs, and after every
tick the spikes stream, every state region, the weights and the status counters are compared
bit for bit, and ``last_tick_cycles`` with :func:`spikeloom.proto.cycles.tick_cycles`. The big
randomized suite is tests/test_core.py; this file is the engine author's quick check.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator
from core_harness import Harness
from spikeloom.hdl.core import Core
from spikeloom.proto.config import CoreConfig, preset
from spikeloom.proto.cycles import tick_cycles
from spikeloom.proto.memmap import Region, layouts, region_words, regions
from spikeloom.sim.model import Core as Model


def random_network(cfg, rng, *, stdp=True, grow=False):
    """Random packed words for every region, as ``{region: [words]}`` (values in range).
    ``grow``: decay factors drawn up to the field maximum (above 1.0, where values saturate)."""
    lay = layouts(cfg)
    one = (2 << cfg.decay_frac) - 1 if grow else 1 << cfg.decay_frac
    vmax = (1 << (cfg.v_width - 1)) - 1
    imax = (1 << (cfg.i_width - 1)) - 1
    wlo, whi = -(1 << (cfg.w_width - 1)), (1 << (cfg.w_width - 1)) - 1
    tmax = (1 << cfg.trace_width) - 1
    n, s = cfg.n_neurons, cfg.n_sources
    words = {}
    thr = rng.integers(50, 400, n)
    words[Region.NEURON_PARAMS] = [lay[Region.NEURON_PARAMS].pack({
        "threshold": int(thr[j]) if rng.random() > 0.05 else int(rng.integers(-vmax, vmax)),
        "v_reset": int(rng.integers(-200, 50)),
        "bias": int(rng.integers(-20, 60)) if rng.random() > 0.05 else vmax,
        "refractory": int(rng.integers(0, 4)),
        "alpha_mem": int(rng.choice([one, one - 1, 0, int(rng.integers(0, one))])),
        "alpha_syn": int(rng.choice([one, 0, int(rng.integers(0, one))])),
        "reset_subtract": int(rng.integers(0, 2)),
    }) for j in range(n)]
    words[Region.NEURON_STATE] = [lay[Region.NEURON_STATE].pack({
        "v": int(rng.integers(-300, 300)) if rng.random() > 0.1 else int(rng.integers(-vmax, vmax)),
        "i": int(rng.integers(-100, 100)) if rng.random() > 0.1 else int(rng.integers(-imax, imax)),
        "ref": int(rng.integers(0, 3)),
    }) for j in range(n)]
    wl, pl = lay[Region.WEIGHTS], lay[Region.PLASTIC]
    wpw = cfg.weights_per_word
    ww, pw = [], []
    for a in range(cfg.weight_words):
        col0 = (a % cfg.words_per_row) * wpw
        ww.append(wl.pack({f"w{k}": int(rng.integers(wlo, whi + 1))
                           for k in range(wpw) if col0 + k < n}))
        pw.append(pl.pack({f"p{k}": int(rng.integers(0, 2)) for k in range(wpw) if col0 + k < n}))
    words[Region.WEIGHTS], words[Region.PLASTIC] = ww, pw
    words[Region.PRE_TRACE] = [int(rng.integers(0, tmax + 1)) for _ in range(s)]
    words[Region.POST_TRACE] = [int(rng.integers(0, tmax + 1)) for _ in range(n)]
    w_min = int(rng.integers(wlo, 0))
    words[Region.STDP_PARAMS] = [lay[Region.STDP_PARAMS].pack({
        "enable": int(stdp), "a_plus": int(rng.integers(0, 2000)),
        "a_minus": int(rng.integers(0, 2000)), "pre_jump": int(rng.integers(0, tmax + 1)),
        "post_jump": int(rng.integers(0, tmax + 1)), "alpha_pre": int(rng.integers(0, one + 1)),
        "alpha_post": int(rng.integers(0, one + 1)), "w_min": w_min,
        "w_max": int(rng.integers(w_min - 2, whi + 1)) if rng.random() < 0.1
        else int(rng.integers(0, whi + 1)),
    })]
    words[Region.SPIKES] = [int(rng.random() < 0.3) for _ in range(s)]
    if cfg.delay_bits:
        dl = lay[Region.DELAYS]
        words[Region.DELAYS] = [dl.pack({
            f"d{k}": int(rng.integers(0, 1 << cfg.delay_bits)) for k in range(wpw)
            if (a % cfg.words_per_row) * wpw + k < n}) for a in range(cfg.weight_words)]
    return words


def run_case(cfg, seed, ticks, *, weight_store="dual", stdp=True, grow=False, **kwargs):
    rng = np.random.default_rng(seed)
    dut = Core(cfg, weight_store=weight_store, **kwargs)
    model = Model(cfg)
    net = random_network(cfg, rng, stdp=stdp, grow=grow)
    for region, ws in net.items():
        model.write_words(region, 0, ws)
    inject = rng.random((ticks, cfg.n_inputs)) < 0.3
    lay = dut.ReqLayout
    failures = []

    async def request(ctx, region, addr, write=0, data=0):
        ctx.set(dut.mem_req.payload, lay.const(
            {"region": int(region), "addr": addr, "write": write, "data": data}))
        ctx.set(dut.mem_req.valid, 1)
        await ctx.tick().until(dut.mem_req.ready)
        ctx.set(dut.mem_req.valid, 0)
        rsp, = await ctx.tick().sample(dut.mem_rsp.payload).until(dut.mem_rsp.valid)
        return rsp

    async def tick(ctx):
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        got = []
        while True:
            _, _, valid, elem, done = await ctx.tick().sample(
                dut.spikes.valid, dut.spikes.payload, dut.done)
            if valid:
                got.append((elem.neuron, elem.end))
            if done:
                break
        while True:   # the end marker may still sit in the FIFO
            if got and got[-1][1]:
                break
            _, _, valid, elem = await ctx.tick().sample(dut.spikes.valid, dut.spikes.payload)
            if valid:
                got.append((elem.neuron, elem.end))
        return got

    def check(what, got, want):
        if got != want:
            failures.append(f"seed {seed}: {what}: rtl {got} != model {want}")

    async def tb(ctx):
        ctx.set(dut.mem_rsp.ready, 1)
        ctx.set(dut.spikes.ready, 1)
        for region, ws in net.items():
            for a, w in enumerate(ws):
                assert await request(ctx, region, a, 1, w) == 0
        for region in regions(cfg):
            want = model.read_words(region, 0, region_words(cfg, region))
            got = [await request(ctx, region, a) for a in range(len(want))]
            check(f"load {region.name}", got, want)
        for t in range(ticks):
            for i in np.flatnonzero(inject[t]):
                await request(ctx, Region.SPIKES, int(i), 1, 1)
            model.inject(np.flatnonzero(inject[t]))
            delivered = int(model.state.spikes.sum())
            res = model.step()
            got = await tick(ctx)
            fired = np.flatnonzero(res.spikes).tolist()
            check(f"tick {t} spikes", got, [(j, 0) for j in fired] + [(len(fired), 1)])
            for region in (Region.NEURON_STATE, Region.PRE_TRACE, Region.POST_TRACE,
                           Region.SPIKES, Region.WEIGHTS):
                want = model.read_words(region, 0, region_words(cfg, region))
                got = [await request(ctx, region, a) for a in range(len(want))]
                check(f"tick {t} {region.name}", got, want)
            check(f"tick {t} last_tick_cycles", ctx.get(dut.last_tick_cycles),
                  res.cycles(cfg, model.stdp.enable, weight_store))
            assert res.delivered == delivered
            check(f"tick {t} ticks", ctx.get(dut.ticks), t + 1)
            if failures:
                return
        check("syn_events", ctx.get(dut.syn_events) > 0, True)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert not failures, "\n".join(failures[:10])


@pytest.mark.parametrize("weight_store", ["dual", "spram"])
@pytest.mark.parametrize("name", ["tiny", "narrow"])
def test_random_ticks(name, weight_store):
    run_case(preset(name), seed=1, ticks=6, weight_store=weight_store)


def test_one_word_rows():
    # words_per_row = 1: back-to-back rows hit the same accumulator word
    cfg = CoreConfig(n_neurons=3, n_inputs=2, weights_per_word=4, clock_hz=1_000_000,
                     baud=100_000)
    run_case(cfg, seed=2, ticks=6)


def test_ragged_lanes_spram():
    # the last word of each row has unused lanes
    cfg = CoreConfig(n_neurons=7, n_inputs=3, weights_per_word=3, clock_hz=1_000_000,
                     baud=100_000)
    run_case(cfg, seed=3, ticks=5, weight_store="spram")


def test_other_widths():
    # every width parameter away from its default, ragged lanes, a divider in the lane mask
    cfg = CoreConfig(n_neurons=7, n_inputs=3, weights_per_word=3, v_width=20, i_width=24,
                     w_width=10, trace_width=12, refractory_width=3, decay_frac=14, stdp_frac=4,
                     clock_hz=1_000_000, baud=100_000)
    run_case(cfg, seed=5, ticks=6)


def test_decay_factors_above_one():
    # factors up to the field maximum: every decayed value saturates (numerics.md), and the
    # depression step uses the saturated post trace
    run_case(preset("tiny"), seed=6, ticks=6, grow=True)


def test_spram_primitive_model():
    # the firmware's SPRAM wrapper (behavioural SB_SPRAM256KA) as the store factory
    from spikeloom.hdl.spram import SPRAMStore
    run_case(preset("tiny"), seed=4, ticks=4, weight_store="spram",
             store_factory=lambda depth, width: SPRAMStore(depth, width, simulate=True))


@pytest.mark.parametrize("weight_store", ["dual", "spram"])
def test_delays(weight_store):
    # per-synapse delays with both currents (tiny_delay: the ring of 8 slots, 2 words per row)
    run_case(preset("tiny_delay"), seed=7, ticks=12, weight_store=weight_store)


@pytest.mark.parametrize("wpw,delay_bits", [(4, 1), (3, 2)])
def test_delays_one_word_rows_and_ragged_lanes(wpw, delay_bits):
    # one word per row (back-to-back words of a lane may hit the same ring slot: the
    # transparent read) and ragged lanes (unused lanes hold delay 0)
    cfg = CoreConfig(n_neurons=3 if wpw == 4 else 7, n_inputs=2, weights_per_word=wpw,
                     delay_bits=delay_bits, clock_hz=1_000_000, baud=100_000)
    run_case(cfg, seed=8, ticks=10)


def test_parameter_errors():
    with pytest.raises(TypeError, match="CoreConfig"):
        Core("tiny")
    with pytest.raises(ValueError, match="'sram'"):
        Core(preset("tiny"), weight_store="sram")
    with pytest.raises(ValueError, match="spram"):
        Core(preset("tiny"), store_factory=lambda d, w: None)
    with pytest.raises(TypeError, match="callable"):
        Core(preset("tiny"), weight_store="spram", store_factory=3)


def test_update_latency_is_the_formulas():
    # the sweep's drain in proto/cycles.py is the neuron pipeline's depth; the lockstep tests
    # above check the sum against the counter, this names the terms that move
    from spikeloom.hdl.neuron import Update
    from spikeloom.proto.cycles import SCAN_LATENCY, UPDATE_LATENCY
    assert Update.LATENCY == UPDATE_LATENCY
    cfg = preset("tiny")
    # SCAN (S + 1 + its latency), the sweep (N + 2 + latency), the marker and FINISH
    assert tick_cycles(cfg, 0, 0, False) == cfg.n_sources + 1 + SCAN_LATENCY + \
        cfg.n_neurons + 2 + UPDATE_LATENCY + 2


def test_split_arithmetic_is_exact():
    # add_cin (a carry-in instead of a third operand) and trunc_shift (the rounding half of a
    # decay, after a registered product), every value of small signed and unsigned operands
    from amaranth.hdl import Module, Signal, signed, unsigned
    from spikeloom.hdl.arith import add_cin, trunc_shift
    a, b, c = Signal(signed(4)), Signal(unsigned(3)), Signal()
    p = Signal(signed(6))
    m = Module()
    s_add = Signal(signed(8))
    s_tr = Signal(signed(6))
    m.d.comb += [s_add.eq(add_cin(a, b, c)), s_tr.eq(trunc_shift(p, 2))]
    sim = Simulator(m)
    seen = []

    async def bench(ctx):
        for av in range(-8, 8):
            for bv in range(8):
                for cv in (0, 1):
                    ctx.set(a, av), ctx.set(b, bv), ctx.set(c, cv)
                    assert ctx.get(s_add) == av + bv + cv
        for pv in range(-32, 32):
            ctx.set(p, pv)
            assert ctx.get(s_tr) == int(pv / 4)        # toward zero
            seen.append(pv)

    sim.add_testbench(bench)
    sim.run()
    assert len(seen) == 64


def test_div_const_is_exact():
    # the PLASTIC write's row (addr // wpr, wpr = 52 on ulx3s_25f) as a reciprocal product:
    # every address of the 25F's weight store, and a few other divisors
    from amaranth.hdl import Module, Signal
    from spikeloom.hdl.arith import div_const
    cases = [(52, 52 * 312 - 1), (3, 200), (7, 1000), (64, 300)]
    xs = [Signal(range(x_max + 1), name=f"x{d}") for d, x_max in cases]
    m = Module()
    qs = []
    for x, (d, x_max) in zip(xs, cases, strict=True):
        q = Signal(range(x_max // d + 1), name=f"q{d}")
        m.d.comb += q.eq(div_const(x, d, x_max))
        qs.append(q)
    sim = Simulator(m)

    async def bench(ctx):
        for x, q, (d, x_max) in zip(xs, qs, cases, strict=True):
            for v in range(0, x_max + 1, 1 if x_max < 2000 else 7):
                ctx.set(x, v)
                assert ctx.get(q) == v // d, (d, v)
            ctx.set(x, x_max)
            assert ctx.get(q) == x_max // d

    sim.add_testbench(bench)
    sim.run()


def test_dual_store_collision_is_poisoned_in_simulation():
    # DualPortStore leaves a read of the word being written unspecified (no_rw_check, so Yosys
    # adds no bypass); in simulation such a read returns the word inverted, so a lockstep test
    # would fail if the core ever used one. Other reads are the registered word.
    from spikeloom.hdl.weights import DualPortStore
    dut = DualPortStore(8, 4)
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def bench(ctx):
        ctx.set(dut.waddr, 3), ctx.set(dut.wdata, 0b1010), ctx.set(dut.we, 1)
        ctx.set(dut.raddr, 5)
        await ctx.tick()
        ctx.set(dut.raddr, 3)               # the word being written (old value 0b1010)
        ctx.set(dut.wdata, 0b0110)
        await ctx.tick()
        assert ctx.get(dut.rdata) == 0b0101     # poisoned: ~0b1010
        ctx.set(dut.we, 0)
        await ctx.tick()
        assert ctx.get(dut.rdata) == 0b0110     # the word written, read without a collision

    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("weight_store", ["dual", "spram"])
def test_each_write_is_read_back_by_the_next_request(weight_store):
    # Back-to-back requests, each write followed at once by a read of its word, then by a
    # second write there and its read: the dual store writes a clock after accepting (MEM_WR,
    # from a registered copy of the request), so a read or write right behind a write is the
    # case that would see the old word or the next request's data.
    cfg = preset("tiny_delay")
    rng = np.random.default_rng(7)
    first, second = random_network(cfg, rng), random_network(cfg, rng)
    reqs, want = [], []
    for region, ws in first.items():
        for a, (w1, w2) in enumerate(zip(ws, second[region], strict=True)):
            reqs += [(region, a, 1, w1), (region, a, 0, 0), (region, a, 1, w2), (region, a, 0, 0)]
            want += [0, w1, 0, w2]

    async def script(drv):
        return await drv.transact(reqs)
    got = Harness(cfg, weight_store=weight_store).run(script)
    bad = [(reqs[k], g, w) for k, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
    assert not bad, f"{len(bad)} of {len(reqs)} responses differ, first: {bad[:3]}"
