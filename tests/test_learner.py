"""``hdl.stdp.Learner`` at its own ports against the lane arithmetic of its docstring (random
words, steps, bounds including ``w_min > w_max``, ``hold``), combinational and registered."""

import random

import pytest
from amaranth.sim import Simulator
from spikeloom.hdl.stdp import Learner
from spikeloom.proto import preset


def reference(cfg, w, p, dep, pot, mask, potentiate, w_min, w_max, hold, held):
    if hold:
        return list(held)
    out = []
    for lane, wl in enumerate(w):
        if not p >> lane & 1 or (potentiate and not mask >> lane & 1):
            out.append(wl)
            continue
        x = wl + (pot if potentiate else -dep[lane])
        out.append(w_max if x > w_max else min(w_min, w_max) if x < w_min else x)
    return out


@pytest.mark.parametrize("name,registered", [("tiny", False), ("narrow", False),
                                             ("tiny", True)])
def test_learner_matches_its_contract(name, registered):
    cfg = preset(name)
    wpw, ww = cfg.weights_per_word, cfg.w_width
    lo, hi = -(1 << (ww - 1)), (1 << (ww - 1)) - 1
    dut = Learner(cfg, registered=registered)
    rng = random.Random(f"{name}{registered}")
    sim = Simulator(dut)
    if registered:
        sim.add_clock(1e-6)
    checked = []

    async def bench(ctx):
        for _ in range(600):
            args = dict(w=[rng.randint(lo, hi) for _ in range(wpw)],
                        p=rng.randrange(1 << wpw), dep=[rng.randint(0, 1 << ww)
                                                        for _ in range(wpw)],
                        pot=rng.randint(0, 1 << ww), mask=rng.randrange(1 << wpw),
                        potentiate=rng.random() < 0.5,
                        w_min=rng.randint(lo, hi), w_max=rng.randint(lo, hi),
                        hold=False if registered else rng.random() < 0.2,
                        held=[rng.randint(lo, hi) for _ in range(wpw)])
            if rng.random() < 0.5:          # the usual case: sensible bounds
                args["w_min"], args["w_max"] = sorted((args["w_min"], args["w_max"]))
            for port in ("p", "pot", "mask", "potentiate", "w_min", "w_max", "hold"):
                ctx.set(getattr(dut, port), int(args[port]))
            for lane in range(wpw):
                ctx.set(dut.w[lane], args["w"][lane])
                ctx.set(dut.dep[lane], args["dep"][lane])
                ctx.set(dut.held[lane], args["held"][lane])
            want = reference(cfg, **args)
            if registered:
                await ctx.tick()
                got = [ctx.get(dut.w_new[lane]) for lane in range(wpw)]
            else:
                await ctx.delay(1e-6)
                got = [ctx.get(dut.w_new[lane]) for lane in range(wpw)]
            assert got == want, args
            checked.append(args)

    sim.add_testbench(bench)
    sim.run()
    assert len(checked) == 600
    assert any(a["w_min"] > a["w_max"] for a in checked)
