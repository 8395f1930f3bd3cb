"""The cocotb test environment around ``spikeloom_top``: clock, reset, UART VIP, scoreboard.

Contract: :func:`settings` reads what the pytest runner (tests/test_cocotb.py) passes in the
environment: ``SPIKELOOM_TB_CONFIG`` (JSON of ``CoreConfig`` fields), ``SPIKELOOM_TB_BUILD_ID``
(hex), ``SPIKELOOM_TB_SEEDS`` (comma-separated seeds of the random sessions),
``SPIKELOOM_TB_COVERAGE`` (where the JSON coverage report goes) and ``SPIKELOOM_TB_REQUIRE_FULL``
(1: the coverage report fails on any hole).

:class:`Bench` drives the pins ``clk``, ``rst``, ``uart_rx``, ``uart_tx`` of the top:
:meth:`Bench.start` starts the clock, pulses ``rst``, attaches cocotbext-uart's UartSource and
UartSink, waits a few bit times (a write at time 0 glitches the sink on Verilator), makes a fresh
:class:`tb_scoreboard.Scoreboard` and brings both devices to the same all-zero state with RESET
0x07 (``rst`` does not clear memories). :meth:`Bench.transact` sends request bytes and requires
the RTL's output to equal the golden device's byte for byte; a mismatch raises AssertionError
with the context (the seed), the requests and both outputs. :meth:`Bench.bitbang` drives
``uart_rx`` directly (wrong stop bits, breaks, wrong baud rates).
"""

from __future__ import annotations

import json
import logging
import os

import cocotb
from cocotb.clock import Clock
from cocotb.handle import HierarchyObject
from cocotb.triggers import ClockCycles, Timer
from cocotbext.uart import UartSink, UartSource
from spikeloom.proto import protocol as P
from spikeloom.proto.config import CoreConfig
from tb_coverage import Coverage
from tb_scoreboard import Scoreboard, describe
from tb_stimulus import Requests

__all__ = ["settings", "Bench", "COVERAGE", "char_bits"]

COVERAGE = Coverage()       # one per simulator process: every test of the run adds to it


def settings() -> dict:
    env = os.environ
    fields = json.loads(env["SPIKELOOM_TB_CONFIG"])
    seeds = [int(s) for s in env.get("SPIKELOOM_TB_SEEDS", "").split(",") if s.strip()]
    return {
        "cfg": CoreConfig(**fields),
        "build_id": bytes.fromhex(env.get("SPIKELOOM_TB_BUILD_ID", P.BUILD_ID.hex())),
        "seeds": seeds,
        "coverage": env.get("SPIKELOOM_TB_COVERAGE"),
        "require_full": env.get("SPIKELOOM_TB_REQUIRE_FULL") == "1",
    }


async def _kick_combinational(dut) -> None:
    """Icarus 11 runs an ``always @*`` block only when one of its inputs changes, and the
    declaration initialisers (``reg x = 0``) at time 0 are no events, so a combinational block
    whose inputs keep their initial values stays X (seen: the dispatcher's ``word_byte`` case
    mux, sent on the line as X). Yosys' write_verilog puts a ``dump_module`` trigger register
    into every such block for this; toggling it re-evaluates them all. Harmless elsewhere."""
    if not cocotb.SIM_NAME.lower().startswith("icarus"):
        return
    triggers = []

    def walk(handle, depth=0):
        for child in handle:
            name = child._name
            if "dump_module" in name:
                triggers.append(child)
            elif depth < 4 and isinstance(child, HierarchyObject):
                walk(child, depth + 1)

    walk(dut)
    for t in triggers:
        t.value = 1
    await Timer(1, unit="ps")
    for t in triggers:
        t.value = 0
    await Timer(1, unit="ps")


def char_bits(byte: int, stop: int = 1) -> list[int]:
    """Line levels of one 8N1 character: start bit, 8 data bits LSB first, stop bit."""
    return [0, *((byte >> k) & 1 for k in range(8)), stop]


class Bench:
    """Clock, reset, UART VIP and scoreboard around the DUT (see the module docstring)."""

    def __init__(self, dut):
        s = settings()
        self.dut = dut
        self.cfg = s["cfg"]
        self.build_id = s["build_id"]
        self.cov = COVERAGE
        self.rq = Requests(self.cfg)
        self.context = "directed"
        clk_ps = 10**12 // self.cfg.clock_hz
        bit_ps = 10**12 // self.cfg.baud
        # cocotbext-uart times bits in whole ns: the bit must be whole ns and whole clock cycles
        assert 10**12 % self.cfg.clock_hz == 0 and bit_ps % 1000 == 0, "choose clock and baud " \
            "so clock period and bit time are whole ns"
        assert bit_ps == clk_ps * self.cfg.uart_divisor, "bit time must be divisor clock cycles"
        self.clk_ps, self.bit_ps = clk_ps, bit_ps
        self.sb: Scoreboard | None = None

    async def start(self) -> None:
        dut = self.dut
        Clock(dut.clk, self.clk_ps, unit="ps", impl="gpi").start()
        await _kick_combinational(dut)
        dut.uart_rx.value = 1
        dut.rst.value = 1
        await ClockCycles(dut.clk, 4)
        dut.rst.value = 0
        self.source = UartSource(dut.uart_rx, baud=self.cfg.baud)
        self.sink = UartSink(dut.uart_tx, baud=self.cfg.baud)
        for name in (dut.uart_rx._path, dut.uart_tx._path):     # no log line per byte
            logging.getLogger(f"cocotb.{name}").setLevel(logging.WARNING)
        await self.bits(20)
        self.sb = Scoreboard(self.cfg, self.build_id, self.cov)
        await self.transact(self.rq.reset(7))

    # -- timing ------------------------------------------------------------------------------------

    async def bits(self, n: float) -> None:
        await Timer(round(n * self.bit_ps), unit="ps")

    # -- the comparison ----------------------------------------------------------------------------

    async def transact(self, wire: bytes | list[bytes], *, received: bytes | None = None) -> bytes:
        """Send ``wire`` through the UartSource; require exactly the golden device's output.

        ``received``: the bytes the RTL's receiver takes from ``wire`` when they differ from it
        (bytes the wire-abuse tests corrupt on the line); the golden device is fed those."""
        if isinstance(wire, list):
            wire = b"".join(wire)
        expected = self.sb.expect(wire if received is None else received)
        await self.source.write(wire)
        got = await self.collect(len(expected))
        await self.bits(12)     # an extra byte would start within this (or fail the next check)
        got += self.sink.read_nowait()
        if got != expected:
            raise AssertionError(self.mismatch(wire, expected, bytes(got)))
        return bytes(got)

    async def finish(self) -> None:
        """End of a test: the device must stay silent (no late or extra bytes)."""
        await self.source.wait()
        await self.bits(100)
        extra = self.sink.read_nowait()
        assert not extra, f"unexpected output after the last reply ({self.context}): " \
            f"{bytes(extra).hex(' ')}"

    async def send_raw(self, wire: bytes) -> None:
        await self.source.write(wire)
        await self.source.wait()

    async def collect(self, n: int | None = None, idle_bytes: int = 400) -> bytes:
        """Bytes from the sink until ``n`` arrived (None: until the line stays quiet), or no byte
        came for ``idle_bytes`` character times after the request was sent."""
        got, idle = bytearray(), 0
        quiet = idle_bytes if n is not None else 40
        while n is None or len(got) < n:
            if not self.sink.empty():
                got += self.sink.read_nowait()
                idle = 0
                continue
            await self.bits(10)
            if self.source.idle() and self.sink.idle():
                idle += 1
                if idle > quiet:
                    break
        return bytes(got)

    def mismatch(self, wire: bytes, expected: bytes, got: bytes) -> str:
        k = next((i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b),
                 min(len(expected), len(got)))
        return (f"RTL and golden device disagree ({self.context}; config {self.cfg.fields()}, "
                f"build_id {self.build_id!r})\n"
                f"first difference at output byte {k}: expected {len(expected)} bytes, got "
                f"{len(got)}\nrequest bytes ({len(wire)}): {wire.hex(' ')}\n"
                f"expected: {expected.hex(' ')}\ngot:      {got.hex(' ')}\n"
                f"expected frames:\n{describe(expected)}\ngot frames:\n{describe(got)}")

    # -- raw line access ---------------------------------------------------------------------------

    async def bitbang(self, levels, bit_ps: int | None = None) -> None:
        """Drive ``uart_rx`` with ``levels`` (one per bit time of ``bit_ps`` ps), then idle high.
        Waits for the UartSource to finish first: only one driver at a time."""
        await self.source.wait()
        bit_ps = self.bit_ps if bit_ps is None else bit_ps
        pin = self.dut.uart_rx
        for level in levels:
            pin.value = level
            await Timer(bit_ps, unit="ps")
        pin.value = 1

    async def collect_frames(self, count: int, idle_bytes: int = 400) -> list:
        """``(frame, status)`` of the next ``count`` complete frames from the sink (fewer if the
        line stays quiet for ``idle_bytes`` character times)."""
        deframer, frames, idle = P.Deframer(0xFFFF), [], 0
        while len(frames) < count:
            if not self.sink.empty():
                frames += deframer.feed(self.sink.read_nowait())
                idle = 0
                continue
            await self.bits(10)
            if self.source.idle() and self.sink.idle():
                idle += 1
                if idle > idle_bytes:
                    break
        return frames

    async def rtl_status(self) -> dict:
        """The RTL's STATUS, read without involving the golden device (STATUS changes nothing)."""
        await self.send_raw(self.rq.status())
        frames = await self.collect_frames(1)
        replies = [f for f, s in frames if s == P.Status.OK and f.opcode == P.Opcode.STATUS]
        assert replies, f"no STATUS reply ({self.context}): {frames}"
        return P.STATUS.unpack(replies[-1].payload)
