# amaranth: UnusedElaboratable=no
"""hdl.top's LEDs: heartbeat, activity and error lights (the link itself is in test_link_rtl)."""

import dataclasses

import pytest
from amaranth.sim import Simulator
from spikeloom.hdl.top import Top, tx_depth
from spikeloom.proto import preset
from spikeloom.proto import protocol as P
from spikeloom.proto.protocol import Frame, Opcode
from spikeloom.sim import rtlsim

pytestmark = pytest.mark.rtl

# A slow clock keeps the LED windows short: 2**10 cycles per window, heartbeat bit 14.
CFG = dataclasses.replace(preset("tiny"), clock_hz=40_000, baud=4_000)
WINDOW = 1 << 10
HEARTBEAT_BIT = 14


def test_tx_fifo_holds_a_spikes_head():
    """SPIKES batches wait in the emitter's queue; the TX FIFO only smooths: a power of two
    that holds a SPIKES frame's header and head without a stall."""
    for name in ("tiny", "default", "up5k", "ulx3s_85f"):
        depth = tx_depth(preset(name))
        assert depth & (depth - 1) == 0 and depth >= P.HEADER_BYTES + P.SPIKES_HEAD.size


def test_leds_heartbeat_activity_and_error():
    top = Top(CFG, core_factory=rtlsim.ModelCore)
    period = 1 / CFG.clock_hz
    bit_time = CFG.uart_divisor * period
    leds: list[int] = []            # one sample per clock cycle
    marks: dict[str, int] = {}      # cycle at which each phase of the script began

    async def sampler(ctx):
        async for _, _, value in ctx.tick().sample(top.leds):
            leds.append(value)

    async def idle(ctx, cycles):
        await ctx.tick().repeat(cycles)

    async def host(ctx):
        ctx.set(top.uart_rx, 1)
        await rtlsim.align(ctx, period)
        await idle(ctx, 3 * WINDOW)
        marks["ping"] = len(leds)
        await rtlsim.send(ctx, top.uart_rx, P.encode_frame(Frame(Opcode.PING, 1, 0, b"hi")),
                          bit_time)
        await idle(ctx, 5 * WINDOW)
        marks["bad"] = len(leds)
        bad = bytearray(P.encode_frame(Frame(Opcode.PING, 2, 0, b"x")))
        bad[2] ^= 0x40                                  # corrupt the seq byte: BAD_CRC
        await rtlsim.send(ctx, top.uart_rx, bytes(bad), bit_time)
        marks["bad_end"] = len(leds)
        await idle(ctx, (1 << HEARTBEAT_BIT) + 4 * WINDOW - len(leds))
        marks["end"] = len(leds)

    sim = Simulator(top)
    sim.add_clock(period)
    sim.add_testbench(sampler, background=True)
    sim.add_testbench(host)
    sim.run()

    act = [v >> 1 & 1 for v in leds]
    err = [v >> 2 & 1 for v in leds]
    beat = [v & 1 for v in leds]
    # quiet at first
    assert not any(act[:marks["ping"]]) and not any(err[:marks["ping"]])
    # a good request lights activity within two windows of its first byte, never error
    ping_act = act[marks["ping"]:marks["bad"]]
    assert any(ping_act[:2 * WINDOW]), "activity LED never lit after a request"
    assert not any(err[marks["ping"]:marks["bad"]])
    # ... and the light goes out again once the line is quiet
    assert not any(act[marks["bad"] - WINDOW:marks["bad"]])
    # a corrupted frame lights the error LED soon after it ends, for one window
    lit = [k for k in range(marks["bad"], marks["end"]) if err[k]]
    assert lit and lit[0] - marks["bad_end"] < 2 * WINDOW
    assert len(lit) == WINDOW and lit[-1] - lit[0] == WINDOW - 1
    # the heartbeat is the top bit of a free-running counter: off, then on from 2**14
    toggles = [k for k in range(1, len(beat)) if beat[k] != beat[k - 1]]
    assert beat[0] == 0 and len(toggles) == 1
    assert abs(toggles[0] - (1 << HEARTBEAT_BIT)) <= 2
