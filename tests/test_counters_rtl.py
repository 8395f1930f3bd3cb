# amaranth: UnusedElaboratable=no
"""The 16-bit link error counters saturate at 0xFFFF in the gateware (GoldenDevice: U16 max).

Reaching 65,535 takes that many events, so these run in ``make regress`` (Amaranth's simulator;
measured 44 s for the UART, ~3 min for the dispatcher on a loaded machine): the dispatcher's CRC
and framing error counters (driven through its frame stream, no UART) and the UART receiver's
framing error counter.
"""

import pytest
from amaranth.sim import Simulator
from spikeloom.hdl import dispatch, uart
from spikeloom.proto import preset
from spikeloom.proto import protocol as P
from spikeloom.proto.protocol import Opcode, Status
from spikeloom.sim import rtlsim

pytestmark = [pytest.mark.rtl, pytest.mark.regress]

EXTRA = 3       # events beyond the saturation point


def test_dispatcher_error_counters_saturate():
    cfg = preset("tiny")
    dut = dispatch.Dispatcher(cfg)
    events = {Status.BAD_CRC: 0xFFFF + EXTRA, Status.BAD_FRAME: 0xFFFF - 1}
    replies = []

    async def request(ctx, status, opcode, seq):
        """Offer one frame element, collect its reply body, wait until it is taken."""
        f = dut.frame.payload
        ctx.set(f.status, status)
        ctx.set(f.opcode, opcode)
        ctx.set(f.seq, seq)
        ctx.set(f.length, 0)
        ctx.set(dut.frame.valid, 1)
        body = bytearray()
        while True:
            await ctx.tick()
            if ctx.get(dut.body.valid):
                body.append(ctx.get(dut.body.payload.data))
            if ctx.get(dut.frame.ready):
                break
        ctx.set(dut.frame.valid, 0)
        await ctx.tick()
        return bytes(body)

    async def bench(ctx):
        ctx.set(dut.body.ready, 1)
        await ctx.tick()
        for status, count in events.items():
            for k in range(count):
                body = await request(ctx, status, Opcode.PING, k & 0xFF)
                assert body[2] == status, f"event {k}: reply {body.hex()}"
        replies.append(await request(ctx, Status.OK, Opcode.STATUS, 7))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    body = replies[0]
    head = P.HEADER.unpack(body[:P.HEADER_BYTES])
    assert (head["opcode"], head["status"], head["length"]) == (Opcode.STATUS, 0, P.STATUS.size)
    st = P.STATUS.unpack(body[P.HEADER_BYTES:])
    assert st["crc_errors"] == 0xFFFF               # saturated, not wrapped to EXTRA - 1
    assert st["frame_errors"] == 0xFFFF - 1         # one short of it: still counting exactly


def test_uart_receiver_error_counter_saturates():
    divisor = 4
    dut = uart.Receiver(divisor)
    period = 1e-6
    bit_time = divisor * period
    result = {}

    async def bench(ctx):
        ctx.set(dut.stream.ready, 1)
        ctx.set(dut.rx, 1)
        await rtlsim.align(ctx, period)
        await ctx.delay(4 * bit_time)
        bad = rtlsim.frame_bits(0x55, stop=0) + [1]     # a framing error, then the line idles
        for k in range(0xFFFF + EXTRA):
            await rtlsim.send_bits(ctx, dut.rx, bad, bit_time)
            if k == 0xFFFF - 2:
                result["before"] = ctx.get(dut.errors)
        await ctx.delay(4 * bit_time)
        result["after"] = ctx.get(dut.errors)

    sim = Simulator(dut)
    sim.add_clock(period)
    sim.add_testbench(bench)
    sim.run()
    assert result["before"] == 0xFFFF - 1
    assert result["after"] == 0xFFFF
