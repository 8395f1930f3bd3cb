# amaranth: UnusedElaboratable=no
"""hdl.fifo.Queue against amaranth.lib.fifo.SyncFIFOBuffered: same outputs every cycle."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.sim import Simulator
from spikeloom.hdl.fifo import Queue

pytestmark = pytest.mark.rtl


@pytest.mark.parametrize("depth", [2, 3, 5, 16, 33])
@pytest.mark.parametrize("seed", [1, 2])
def test_queue_is_syncfifobuffered_cycle_for_cycle(depth, seed):
    rng = random.Random(seed * 1000 + depth)
    m = Module()
    m.submodules.ours = ours = Queue(width=8, depth=depth)
    m.submodules.ref = ref = SyncFIFOBuffered(width=8, depth=depth)
    seen = {"full": 0, "empty_read": 0, "both": 0}

    async def bench(ctx):
        # phases of write- and read-heavy traffic so the queue fills up and drains completely
        for phase in range(12):
            p_w, p_r = (0.8, 0.3) if phase % 2 == 0 else (0.3, 0.8)
            for cycle in range(6 * depth + 10):
                w_en, r_en = rng.random() < p_w, rng.random() < p_r
                data = rng.randrange(256)
                for q in (ours, ref):
                    ctx.set(q.w_en, w_en)
                    ctx.set(q.w_data, data)
                    ctx.set(q.r_en, r_en)
                got = [ctx.get(x) for x in (ours.w_rdy, ours.r_rdy, ours.level)]
                want = [ctx.get(x) for x in (ref.w_rdy, ref.r_rdy, ref.level)]
                assert got == want, f"seed {seed} phase {phase} cycle {cycle}: {got} != {want}"
                if want[1]:
                    assert ctx.get(ours.r_data) == ctx.get(ref.r_data), (
                        f"seed {seed} phase {phase} cycle {cycle}: data")
                seen["full"] += not want[0]
                seen["empty_read"] += r_en and not want[1]
                seen["both"] += w_en and r_en and want[0] and want[1]
                await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    # the traffic reached the corners: full, reads of an empty queue, simultaneous push and pop
    assert seen["full"] and seen["empty_read"] and seen["both"], seen


def test_queue_depth_checked():
    with pytest.raises(ValueError, match="depth"):
        Queue(width=8, depth=1)
