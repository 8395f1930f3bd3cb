"""Board targets: which FPGA board runs which core configuration, at which clock, on which pins.

Contract:

* :data:`BOARDS` maps a board name (``icebreaker``, ``ulx3s-25f``, ``ulx3s-85f``, ``arty-a7-35``)
  to a :class:`Board`: its amaranth-boards platform, toolchain (``yowasp`` or ``vivado``), the
  board oscillator, the configuration preset it runs (:data:`BOARD_PRESETS`, one line per board)
  and its LEDs.
* :func:`board_config` resolves the configuration of a build: a preset name, a ``CoreConfig``, or
  ``None`` for the board's own preset. The configuration's ``clock_hz`` IS the core clock:
  :meth:`Board.clocking` turns it into "the oscillator directly" or exact PLL settings, and a clock
  the board cannot make exactly is a ``ValueError``.
* :class:`BoardTop` wraps a design with plain pins (``uart_rx: In(1)``, ``uart_tx: Out(1)``, and
  either ``leds: Out(3)`` = heartbeat, activity, error as ``spikeloom.hdl.top.Top`` drives them,
  or an optional ``error: Out(1)``) for one board: clock and reset, the UART pins of the board's
  USB-serial bridge, and three LEDs: *heartbeat* (blinks at ~1 Hz from the core clock: the clock
  and PLL run), *activity* (lit briefly after UART traffic) and *error* (lit briefly after an
  error, and steadily while the PLL is not locked). Designs without ``leds`` get them from
  :class:`Indicators`.
* :class:`Echo` is the stand-in design (a UART loopback through ``spikeloom.hdl.uart``), used to
  prove the flow on a board without the core.
"""

import dataclasses
from collections.abc import Callable

from amaranth.hdl import (
    ClockDomain,
    ClockSignal,
    Elaboratable,
    Instance,
    Module,
    ResetSignal,
    Signal,
)
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from ..proto.config import PRESETS, CoreConfig
from . import pll

__all__ = ["Board", "BOARDS", "BOARD_PRESETS", "board", "board_config",
           "BoardTop", "Echo", "Indicators"]

#: Board -> configuration preset (proto/config.py; sizes measured, see docs/boards.md).
BOARD_PRESETS = {
    "icebreaker": "up5k",
    "ulx3s-25f": "ulx3s_25f",
    "ulx3s-85f": "ulx3s_85f",
    "arty-a7-35": "arty_a7",
}

@dataclasses.dataclass(frozen=True)
class Board:
    """One board target (see the module docstring)."""

    name: str
    title: str
    family: str                         # "ice40", "ecp5", "xilinx7"
    platform: Callable                  # () -> amaranth.build.Platform
    toolchain: str                      # "yowasp" or "vivado"
    osc_hz: int                         # board oscillator feeding the clock input
    clk_resource: str                   # its resource name
    leds: dict                          # role -> (resource, number)
    weight_store: str = "dual"          # "spram" on the iCE40UP5K
    programmers: tuple = ()             # (tool, args...) in order of preference
    uart_note: str = ""
    max_baud: int = 3_000_000           # fastest rate the USB-serial bridge makes
    extra_resources: str = ""           # name of a platform attribute to add (break-off PMOD)
    pnr_opts: tuple = ()                # nextpnr options of its builds (placement, routing)
    seed: int | None = None             # nextpnr's placement seed of its builds (None: nextpnr's)

    @property
    def preset(self) -> str:
        return BOARD_PRESETS[self.name]

    def clocking(self, clock_hz: int) -> tuple[str, object]:
        """``("osc", None)`` when the oscillator is the core clock, else ``("pll", params)``;
        ``ValueError`` when the board cannot make ``clock_hz`` exactly."""
        if clock_hz == self.osc_hz:
            return "osc", None
        calc = {"ice40": pll.ice40_params, "ecp5": pll.ecp5_params,
                "xilinx7": pll.mmcm_params}[self.family]
        try:
            return "pll", calc(self.osc_hz, clock_hz)
        except ValueError as e:
            raise ValueError(f"{self.title}: clock_hz = {clock_hz}: {e}") from None

    def clock_text(self, clock_hz: int) -> str:
        kind, p = self.clocking(clock_hz)
        if kind == "osc":
            return f"{self.osc_hz / 1e6:g} MHz oscillator, no PLL"
        prim = {"ice40": "SB_PLL40_PAD", "ecp5": "EHXPLLL", "xilinx7": "MMCME2_BASE"}[self.family]
        return f"{prim} {self.osc_hz / 1e6:g} -> {clock_hz / 1e6:g} MHz (VCO {p.f_vco / 1e6:g} MHz)"


def _icebreaker():
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    return ICEBreakerPlatform()


def _ulx3s_25f():
    from amaranth_boards.ulx3s import ULX3S_25F_Platform
    return ULX3S_25F_Platform()


def _ulx3s_85f():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    return ULX3S_85F_Platform()


def _arty_a7_35():
    from amaranth_boards.arty_a7 import ArtyA7_35Platform
    return ArtyA7_35Platform()


_ULX3S = dict(
    family="ecp5", toolchain="yowasp", osc_hz=25_000_000, clk_resource="clk25",
    leds={"heartbeat": ("led", 0), "activity": ("led", 1), "error": ("led", 7)},
    programmers=(("openFPGALoader", "--board", "ulx3s"), ("fujprog",)),
    uart_note="FT231X (US1 connector), max 3 Mbaud",
)

BOARDS: dict[str, Board] = {b.name: b for b in [
    Board("icebreaker", "iCEBreaker (iCE40UP5K-SG48)", family="ice40", platform=_icebreaker,
          toolchain="yowasp", osc_hz=12_000_000, clk_resource="clk12",
          leds={"heartbeat": ("led_g", 0), "activity": ("led_g", 1), "error": ("led_r", 0)},
          weight_store="spram",
          programmers=(("iceprog",), ("openFPGALoader", "--board", "icebreaker")),
          uart_note="FT2232H channel B (second serial port), 12 MHz-derived baud rates",
          max_baud=12_000_000,
          extra_resources="break_off_pmod"),
    # The ECP5 boards' Fmax moves by several MHz with nextpnr's placement seed, near their 60 MHz
    # clock (docs/boards.md "Clock"). On the tree of 2026-12-05 with ACC's paired rows:
    # ulx3s_25f 58.1 MHz with the default seed, 69.6 with seed 1; ulx3s_85f 59.0, 63.6, 61.8
    # with seeds 2, 1, 3 (the write enable's fan-out to the weight and plasticity block RAMs)
    Board("ulx3s-25f", "ULX3S (LFE5U-25F)", platform=_ulx3s_25f, seed=1, **_ULX3S),
    Board("ulx3s-85f", "ULX3S (LFE5U-85F)", platform=_ulx3s_85f, seed=1, **_ULX3S),
    Board("arty-a7-35", "Arty A7-35 (XC7A35T-1L)", family="xilinx7", platform=_arty_a7_35,
          toolchain="vivado", osc_hz=100_000_000, clk_resource="clk100",
          leds={"heartbeat": ("led", 0), "activity": ("led", 1), "error": ("rgb_led", 0)},
          programmers=(("openFPGALoader", "--board", "arty"),),
          uart_note="FT2232HQ channel B, up to 12 Mbaud", max_baud=12_000_000),
]}


def board(name: str) -> Board:
    """The board called ``name``; ValueError lists the known ones otherwise."""
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; known: {', '.join(BOARDS)}") from None


def board_config(name: str, config=None) -> CoreConfig:
    """The configuration a build of board ``name`` uses (see the module docstring)."""
    b = board(name)
    if isinstance(config, CoreConfig):
        cfg = config
    else:
        key = b.preset if config is None else config
        if not isinstance(key, str):
            raise TypeError(f"config must be a preset name or a CoreConfig, not {config!r}")
        if key not in PRESETS:
            raise ValueError(f"unknown configuration {key!r}; known: {', '.join(sorted(PRESETS))}")
        cfg = PRESETS[key]
    b.clocking(cfg.clock_hz)        # ValueError now rather than a wrong clock later
    if cfg.baud > b.max_baud:
        raise ValueError(f"{b.title}: baud = {cfg.baud} of configuration {cfg.name!r} exceeds "
                         f"what its USB-serial bridge makes ({b.max_baud}; {b.uart_note})")
    return cfg


class Echo(wiring.Component):
    """Stand-in design: every byte received is sent back; ``error`` pulses on a framing error."""

    uart_rx: In(1, init=1)
    uart_tx: Out(1, init=1)
    error: Out(1)

    def __init__(self, cfg: CoreConfig):
        self.divisor = cfg.uart_divisor
        super().__init__()

    def elaborate(self, platform):
        from ..hdl.uart import Receiver, Transmitter
        m = Module()
        m.submodules.rx = rx = Receiver(self.divisor)
        m.submodules.tx = tx = Transmitter(self.divisor)
        wiring.connect(m, rx.stream, tx.stream)
        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx),
                     self.error.eq(rx.error | rx.overflow)]
        return m


class Indicators(wiring.Component):
    """LED drivers at ``clock_hz``: ``heartbeat`` is the MSB of a free-running counter (period
    2**ceil(log2(clock_hz)) cycles, 1..2 s); ``activity`` is lit for 50 ms after any cycle with
    ``rx`` or ``tx`` low (a UART line away from idle); ``error_led`` is lit for 0.5 s after any
    ``error`` pulse and whenever ``locked`` is low."""

    rx: In(1, init=1)
    tx: In(1, init=1)
    error: In(1)
    locked: In(1, init=1)
    heartbeat: Out(1)
    activity: Out(1)
    error_led: Out(1)

    def __init__(self, clock_hz: int):
        self.clock_hz = clock_hz
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        beat = Signal(max(2, (self.clock_hz - 1).bit_length()))
        m.d.sync += beat.eq(beat + 1)
        m.d.comb += self.heartbeat.eq(beat[-1])

        def stretch(trigger, seconds, name):
            cycles = max(1, int(self.clock_hz * seconds))
            count = Signal(range(cycles + 1), name=name)
            with m.If(trigger):
                m.d.sync += count.eq(cycles)
            with m.Elif(count != 0):
                m.d.sync += count.eq(count - 1)
            return count != 0

        m.d.comb += [
            self.activity.eq(stretch(~self.rx | ~self.tx, 0.05, "activity_count")),
            self.error_led.eq(stretch(self.error, 0.5, "error_count") | ~self.locked),
        ]
        return m


class BoardTop(Elaboratable):
    """``design`` on ``board`` at ``clock_hz`` (see the module docstring)."""

    def __init__(self, board: Board, design, clock_hz: int):
        try:
            for name in ("uart_rx", "uart_tx"):
                if not hasattr(design, name):
                    raise TypeError(f"design {design!r} has no {name} pin")
            self.kind, self.pll = board.clocking(clock_hz)
        except (TypeError, ValueError):
            self._MustUse__silence = True       # rejected, not forgotten
            raise
        self.board = board
        self.design = design
        self.clock_hz = clock_hz

    def _clock(self, m, platform):
        """Create ``sync`` from a PLL (the platform makes it from the oscillator otherwise).
        Returns the PLL lock signal (constant 1 without a PLL)."""
        locked = Signal(init=self.kind == "osc")
        if self.kind == "osc":
            m.d.comb += locked.eq(1)
            return locked
        b = self.board
        m.domains.sync = ClockDomain("sync")
        pll_clk = Signal()
        if b.family == "ice40":
            # the oscillator pin is the PLL pad: no fabric buffer in between
            pad = platform.request(b.clk_resource, dir="-")
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", **self.pll.as_params(),
                i_PACKAGEPIN=pad.io, i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=pll_clk, o_LOCK=locked)
        elif b.family == "ecp5":
            m.submodules.osc = osc = io.Buffer("i", platform.request(b.clk_resource, dir="-"))
            m.submodules.pll = Instance(
                "EHXPLLL", **self.pll.as_params(),
                a_FREQUENCY_PIN_CLKI=f"{b.osc_hz / 1e6:g}",
                a_FREQUENCY_PIN_CLKOP=f"{self.clock_hz / 1e6:g}",
                i_CLKI=osc.i, i_CLKFB=pll_clk, i_RST=0, i_STDBY=0, i_PHASESEL0=0,
                i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
                i_PLLWAKESYNC=0, i_ENCLKOP=0, o_CLKOP=pll_clk, o_LOCK=locked)
        else:
            m.submodules.osc = osc = io.Buffer("i", platform.request(b.clk_resource, dir="-"))
            fb, fb_buf, out = Signal(), Signal(), Signal()
            m.submodules.pll = Instance(
                "MMCME2_BASE", **self.pll.as_params(b.osc_hz),
                i_CLKIN1=osc.i, i_CLKFBIN=fb_buf, i_RST=0, i_PWRDWN=0,
                o_CLKFBOUT=fb, o_CLKOUT0=out, o_LOCKED=locked)
            m.submodules.fb_bufg = Instance("BUFG", i_I=fb, o_O=fb_buf)
            m.submodules.out_bufg = Instance("BUFG", i_I=out, o_O=pll_clk)
        # hold reset until lock plus ~20 us (iCE40 block RAM is unusable for ~3 us after
        # configuration); the delay counter lives in a reset-less domain on the same clock
        m.domains.por = ClockDomain("por", reset_less=True, local=True)
        settle = self.clock_hz // 50_000 + 1
        delay = Signal(range(settle + 1))
        m.d.comb += [ClockSignal("por").eq(pll_clk), ClockSignal("sync").eq(pll_clk)]
        with m.If(~locked):
            m.d.por += delay.eq(0)
        with m.Elif(delay != settle):
            m.d.por += delay.eq(delay + 1)
        m.d.comb += ResetSignal("sync").eq(delay != settle)
        platform.add_clock_constraint(pll_clk, self.clock_hz)
        return locked

    def elaborate(self, platform):
        m = Module()
        b = self.board
        if b.extra_resources:
            platform.add_resources(getattr(platform, b.extra_resources))
        locked = self._clock(m, platform)
        m.submodules.design = d = self.design

        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [d.uart_rx.eq(rx.i), tx.o.eq(d.uart_tx)]

        def led(role):
            res, num = b.leds[role]
            r = platform.request(res, num, dir="-")
            buf = io.Buffer("o", r.r if res == "rgb_led" else r)
            m.submodules[f"led_{role}"] = buf
            return buf.o

        if hasattr(d, "leds"):
            # spikeloom.hdl.top.Top drives its own heartbeat / activity / error LEDs
            m.d.comb += [
                led("heartbeat").eq(d.leds[0]),
                led("activity").eq(d.leds[1]),
                led("error").eq(d.leds[2] | ~locked),
            ]
        else:
            m.submodules.indicators = ind = Indicators(self.clock_hz)
            err = getattr(d, "error", None)
            m.d.comb += [
                ind.rx.eq(rx.i), ind.tx.eq(d.uart_tx), ind.locked.eq(locked),
                ind.error.eq(err if err is not None else 0),
                led("heartbeat").eq(ind.heartbeat),
                led("activity").eq(ind.activity),
                led("error").eq(ind.error_led),
            ]
        return m
