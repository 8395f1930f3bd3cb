"""``hdl.run.Sequencer`` at its own interface against a small Python model, cycle by cycle:
random RUN lengths and periods, ticks of random duration, the abort raised at a random time.
Independent properties are checked too: starts at least ``period`` cycles apart, ``ran`` ticks
started, ``aborted`` exactly when the RUN ended short."""

import random

import pytest
from amaranth.sim import Simulator
from spikeloom.hdl.run import Sequencer


class Model:
    """The contract in Python: one call per clock cycle."""

    def __init__(self, ticks, period):
        self.ticks, self.period = ticks, period
        self.ran, self.first, self.wait = 0, True, 0

    def cycle(self, boundary, abort):
        start = end = aborted = False
        if boundary:
            if self.ran == self.ticks:
                end = True
            elif abort:
                end = aborted = True
            elif self.first or self.wait <= 1:
                start = True
        if start:
            self.ran, self.first, self.wait = self.ran + 1, False, self.period
        elif self.wait:
            self.wait -= 1
        return start, end, aborted


def simulate(seed, runs=6):
    rng = random.Random(seed)
    dut = Sequencer()
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    log = []

    async def bench(ctx):
        for _ in range(runs):
            ticks = rng.choice([0, 1, 2, rng.randrange(3, 9)])
            period = rng.choice([0, 1, 2, rng.randrange(3, 30)])
            abort_at = rng.choice([None, rng.randrange(0, 120)])
            model = Model(ticks, period)
            ctx.set(dut.request, {"ticks": ticks, "period": period})
            ctx.set(dut.load, 1)
            await ctx.tick()
            ctx.set(dut.load, 0)
            busy, cycle, starts = 0, 0, []
            while True:
                abort = abort_at is not None and cycle >= abort_at
                boundary = busy == 0
                ctx.set(dut.boundary, boundary)
                ctx.set(dut.abort, abort)
                want = model.cycle(boundary, abort)
                got = (bool(ctx.get(dut.start)), bool(ctx.get(dut.end)),
                       bool(ctx.get(dut.aborted)) and bool(ctx.get(dut.end)))
                assert got == want, f"seed {seed} cycle {cycle}: {got} != {want}"
                await ctx.tick()
                cycle += 1
                if want[0]:
                    starts.append(cycle)
                    busy = rng.randrange(1, 12)     # the tick and its event take a while
                elif busy:
                    busy -= 1
                if want[1]:
                    ran = ctx.get(dut.ran)
                    log.append((ticks, period, abort_at, starts, ran, want[2]))
                    break
            ctx.set(dut.boundary, 0)
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    return log


@pytest.mark.parametrize("seed", range(8))
def test_sequencer_matches_model(seed):
    for ticks, period, abort_at, starts, ran, aborted in simulate(seed):
        assert ran == len(starts)
        assert aborted == (ran < ticks)
        assert ran <= ticks
        if abort_at is None:
            assert ran == ticks
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert all(g >= max(period, 1) for g in gaps), (period, gaps)


def test_abort_before_the_first_tick_runs_none():
    """A RUN loaded while the abort is up runs no tick; one of 0 ticks still ends OK."""
    dut = Sequencer()
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    seen = []

    async def bench(ctx):
        for ticks in (5, 0):
            ctx.set(dut.request, {"ticks": ticks, "period": 0})
            ctx.set(dut.load, 1)
            ctx.set(dut.abort, 1)
            await ctx.tick()
            ctx.set(dut.load, 0)
            ctx.set(dut.boundary, 1)
            seen.append((ctx.get(dut.start), ctx.get(dut.end), ctx.get(dut.aborted),
                         ctx.get(dut.ran)))
            await ctx.tick()
            ctx.set(dut.boundary, 0)

    sim.add_testbench(bench)
    sim.run()
    assert seen == [(0, 1, 1, 0), (0, 1, 0, 0)]
