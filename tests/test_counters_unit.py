"""``hdl.counters.Counters`` at its own interface against a small Python model: random reads,
increments, zeroing and clears of the STATUS counter words and the INFO ROM, and the register
counters. (Saturation at 0xFFFF through the whole top: tests/test_counters_rtl.py.)"""

import random

import pytest
from amaranth.sim import Simulator
from spikeloom.hdl.counters import COUNTER_FIELDS, Counters
from spikeloom.proto import preset
from spikeloom.proto import protocol as P

INFO = P.info_payload(preset("tiny"))


@pytest.mark.parametrize("seed", range(4))
def test_counters_match_model(seed):
    rng = random.Random(seed)
    dut = Counters(INFO)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    words = dict.fromkeys(COUNTER_FIELDS, 0)
    regs = {"rx_overflows": 0, "overrun_flag": 0}
    checked = []

    async def bench(ctx):
        for _ in range(300):
            op = rng.choice(["incr", "incr", "zero", "read", "info", "clear", "pulses"])
            if op == "info":
                k = rng.randrange(len(INFO))
                ctx.set(dut.addr, k)
                ctx.set(dut.info, 1)
                await ctx.tick()            # the registered read
                word = ctx.get(dut.word)
                assert (word >> 8 * (k % 2)) & 0xFF == INFO[k], k
                checked.append(op)
                ctx.set(dut.info, 0)
                continue
            if op in ("clear", "pulses"):
                ovf, ovr = rng.randrange(2), rng.randrange(2)
                ctx.set(dut.rx_overflow, ovf if op == "pulses" else 0)
                ctx.set(dut.overrun, ovr if op == "pulses" else 0)
                ctx.set(dut.clear, op == "clear")
                await ctx.tick()
                ctx.set(dut.rx_overflow, 0)
                ctx.set(dut.overrun, 0)
                ctx.set(dut.clear, 0)
                if op == "clear":
                    regs.update(rx_overflows=0, overrun_flag=0)
                else:
                    regs["rx_overflows"] = min(regs["rx_overflows"] + ovf, 0xFFFF)
                    regs["overrun_flag"] |= ovr
                assert (ctx.get(dut.rx_overflows), ctx.get(dut.overrun_flag)) == \
                    (regs["rx_overflows"], regs["overrun_flag"])
                checked.append(op)
                continue
            name = rng.choice(COUNTER_FIELDS)
            # any byte of the field addresses its word
            ctx.set(dut.addr, P.STATUS.offset(name) + rng.randrange(2))
            await ctx.tick()                # the word at addr is read
            assert ctx.get(dut.word) == words[name], name
            if op == "incr":
                ctx.set(dut.incr, 1)
                words[name] = min(words[name] + 1, 0xFFFF)
            elif op == "zero":
                ctx.set(dut.zero, 1)
                words[name] = 0
            await ctx.tick()
            ctx.set(dut.incr, 0)
            ctx.set(dut.zero, 0)
            checked.append(op)
        for name in COUNTER_FIELDS:
            ctx.set(dut.addr, P.STATUS.offset(name))
            await ctx.tick()
            await ctx.tick()
            assert ctx.get(dut.word) == words[name], name

    sim.add_testbench(bench)
    sim.run()
    assert {"incr", "zero", "read", "info", "clear", "pulses"} <= set(checked)
    assert any(words.values())      # the run left some counter nonzero: increments happened


def test_counters_refuse_a_long_info():
    with pytest.raises(ValueError, match="INFO payload"):
        Counters(bytes(65))
