# amaranth: UnusedElaboratable=no
"""hdl.uart against the bit-level line model of sim.rtlsim (Amaranth simulator)."""

import random

import pytest
from amaranth.sim import Simulator
from spikeloom.hdl import uart
from spikeloom.sim import rtlsim

pytestmark = pytest.mark.rtl

PERIOD = 1e-6


def run_rx(divisor, script, *, ready=True, settle_bits=30):
    """Simulate a Receiver; ``script(ctx, dut, bit_time)`` drives ``dut.rx``. Returns
    (bytes received, error pulses, overflow pulses, final errors counter)."""
    dut = uart.Receiver(divisor)
    got, counts = bytearray(), {"error": 0, "overflow": 0}
    sim = Simulator(dut)
    sim.add_clock(PERIOD)
    bit_time = divisor * PERIOD

    async def collect(ctx):
        ctx.set(dut.stream.ready, 1 if ready else 0)
        async for _, _, valid, payload, err, ovf in ctx.tick().sample(
                dut.stream.valid, dut.stream.payload, dut.error, dut.overflow):
            if valid and ready:
                got.append(payload)
            counts["error"] += err
            counts["overflow"] += ovf

    result = {}

    async def drive(ctx):
        await rtlsim.align(ctx, PERIOD)
        await script(ctx, dut, bit_time)
        await ctx.delay(settle_bits * bit_time)
        result["errors"] = ctx.get(dut.errors)

    sim.add_testbench(collect, background=True)
    sim.add_testbench(drive)
    sim.run()
    return bytes(got), counts["error"], counts["overflow"], result["errors"]


@pytest.mark.parametrize("divisor", [4, 5, 8, 13])
def test_rx_back_to_back(divisor):
    data = bytes(random.Random(divisor).randrange(256) for _ in range(40)) + b"\x00\xff\x55\xaa"

    async def script(ctx, dut, bt):
        await rtlsim.send(ctx, dut.rx, data, bt)

    got, err, ovf, errors = run_rx(divisor, script)
    assert got == data
    assert (err, ovf, errors) == (0, 0, 0)


def test_rx_with_gaps_and_glitch():
    data = b"\x12\x34\xc0\xdb"

    async def script(ctx, dut, bt):
        # a one-cycle low glitch is not a start bit
        ctx.set(dut.rx, 0)
        await ctx.delay(PERIOD)
        ctx.set(dut.rx, 1)
        await ctx.delay(3 * bt)
        await rtlsim.send(ctx, dut.rx, data, bt, gap=2.3 * bt)

    got, err, ovf, errors = run_rx(8, script)
    assert got == data
    assert (err, ovf, errors) == (0, 0, 0)


@pytest.mark.parametrize("divisor", [4, 16])
def test_rx_framing_error(divisor):
    async def script(ctx, dut, bt):
        await rtlsim.send(ctx, dut.rx, b"\x41", bt)
        await rtlsim.send_bits(ctx, dut.rx, rtlsim.frame_bits(0x42, stop=0) + [1, 1], bt)
        await rtlsim.send(ctx, dut.rx, b"\x43", bt)

    got, err, ovf, errors = run_rx(divisor, script)
    assert got == b"\x41\x43"
    assert (err, ovf, errors) == (1, 0, 1)


def test_rx_break_counts_once_and_recovers():
    async def script(ctx, dut, bt):
        await rtlsim.send(ctx, dut.rx, b"\x01", bt)
        await rtlsim.send_bits(ctx, dut.rx, [0] * 37 + [1], bt)    # a break of 3.7 characters
        await rtlsim.send(ctx, dut.rx, b"\x02\x03", bt)
        await rtlsim.send_bits(ctx, dut.rx, [0] * 12, bt)          # and another one
        await rtlsim.send_bits(ctx, dut.rx, [1], bt)
        await rtlsim.send(ctx, dut.rx, b"\x04", bt)

    got, err, ovf, errors = run_rx(8, script)
    assert got == b"\x01\x02\x03\x04"
    assert (err, ovf, errors) == (2, 0, 2)


@pytest.mark.parametrize("skew", [-0.02, 0.02])
@pytest.mark.parametrize("divisor", [8, 16])
def test_rx_baud_mismatch(divisor, skew):
    data = bytes(random.Random(7).randrange(256) for _ in range(24)) + b"\x00\xff\x80\x01"

    async def script(ctx, dut, bt):
        await rtlsim.send(ctx, dut.rx, data, bt * (1 + skew))

    got, err, ovf, errors = run_rx(divisor, script)
    assert got == data
    assert (err, ovf, errors) == (0, 0, 0)


def test_rx_overflow_when_not_taken():
    async def script(ctx, dut, bt):
        await rtlsim.send(ctx, dut.rx, b"\x11\x22\x33", bt)

    got, err, ovf, errors = run_rx(4, script, ready=False)
    assert got == b""
    assert (err, ovf) == (0, 2)     # the first byte waits, the next two are dropped


def test_rx_error_counter_clears():
    dut = uart.Receiver(4)
    sim = Simulator(dut)
    sim.add_clock(PERIOD)

    async def tb(ctx):
        ctx.set(dut.stream.ready, 1)
        for _ in range(3):
            await rtlsim.align(ctx, PERIOD)
            await rtlsim.send_bits(ctx, dut.rx, rtlsim.frame_bits(0, stop=0) + [1, 1], 4 * PERIOD)
        await ctx.tick().repeat(4)
        assert ctx.get(dut.errors) == 3
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        await ctx.tick()
        assert ctx.get(dut.errors) == 0

    sim.add_testbench(tb)
    sim.run()


def run_tx(divisor, data, *, stall_every=0):
    """Feed ``data`` to a Transmitter (optionally pausing valid) and decode ``tx``."""
    dut = uart.Transmitter(divisor)
    sim = Simulator(dut)
    sim.add_clock(PERIOD)
    mon = rtlsim.Monitor(dut.tx, divisor * PERIOD)

    async def feed(ctx):
        for k, byte in enumerate(data):
            if stall_every and k % stall_every == 0:
                await ctx.tick().repeat(3 * divisor)
            ctx.set(dut.stream.payload, byte)
            ctx.set(dut.stream.valid, 1)
            await ctx.tick().until(dut.stream.ready)
            ctx.set(dut.stream.valid, 0)
        await ctx.tick().until(~dut.busy)
        await ctx.tick().repeat(2 * divisor)

    sim.add_testbench(mon.run, background=True)
    sim.add_testbench(feed)
    sim.run()
    return bytes(mon.data), mon.errors


@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_tx_back_to_back(divisor):
    data = bytes(random.Random(divisor).randrange(256) for _ in range(32)) + b"\x00\xff"
    got, errors = run_tx(divisor, data)
    assert got == data and errors == []


def test_tx_with_pauses():
    data = bytes(range(0, 256, 17))
    got, errors = run_tx(5, data, stall_every=3)
    assert got == data and errors == []


def test_tx_bit_timing():
    """The line holds every bit exactly ``divisor`` cycles; back-to-back characters have no gap."""
    divisor = 6
    dut = uart.Transmitter(divisor)
    sim = Simulator(dut)
    sim.add_clock(PERIOD)
    levels = []

    async def sample(ctx):
        async for _, _, tx in ctx.tick().sample(dut.tx):
            levels.append(tx)

    async def tb(ctx):
        ctx.set(dut.stream.payload, 0x35)
        ctx.set(dut.stream.valid, 1)
        await ctx.tick().until(dut.stream.ready)
        ctx.set(dut.stream.payload, 0xCA)
        await ctx.tick().until(dut.stream.ready)
        ctx.set(dut.stream.valid, 0)
        await ctx.tick().repeat(12 * divisor)

    sim.add_testbench(sample, background=True)
    sim.add_testbench(tb)
    sim.run()
    levels = levels[levels.index(0):]
    want = []
    for byte in (0x35, 0xCA):
        for b in rtlsim.frame_bits(byte):
            want += [b] * divisor
    want += [1] * divisor
    assert levels[:len(want)] == want


def test_divisor_checked():
    with pytest.raises(ValueError, match="divisor"):
        uart.Receiver(3)
    with pytest.raises(TypeError, match="divisor"):
        uart.Transmitter(4.0)
