"""The device top level: UART pins in and out, the protocol engine and the core.

Contract: ``Top(cfg, build_id=protocol.BUILD_ID, **core_kwargs)`` is a ``wiring.Component`` whose
signature is plain pins only — ``uart_rx`` In(1), ``uart_tx`` Out(1), ``leds`` Out(3) (bit 0
heartbeat, bit 1 link activity, bit 2 an error reply or UART error) — with clock and reset from
the ``sync`` domain, so it converts with ``amaranth.back.verilog.convert(Top(cfg),
name="spikeloom_top")``. ``core_kwargs`` (``weight_store``, ``store_factory``) go to the Core.
``core_factory`` (a test hook, default :class:`~spikeloom.hdl.core.Core`) builds the core from
``(cfg, **core_kwargs)``; anything with the Core's signature will do. The core is built in the
constructor and reachable as :attr:`Top.core`.

Data path: ``uart.Receiver`` -> RX FIFO and a register stage, ``protocol.RX_BUFFER`` bytes in all
(requests arriving while the engine is busy wait here; a byte finding it full is dropped and
counted in ``rx_overflows``) -> ``framing.Deframer`` -> ``dispatch.Dispatcher`` <-> ``core.Core``;
replies: Dispatcher -> TX FIFO -> ``framing.Encoder`` -> ``uart.Transmitter``. SPIKES batches
come from the dispatcher's emitter (``emit.SpikeEmitter``), whose queue holds a batch while the
next ticks compute, so compute and transmission overlap. The UART divisor is ``cfg.uart_divisor``.

Abort (docs/protocol.md, "Abort"): a detector watches the bytes the RX FIFO takes, tracking SLIP
escapes exactly as the deframer will, and sets the abort latch on the token ``protocol.ABORT``
as it arrives, however many bytes wait in the FIFO before it; the deframer's ``token`` pulse
(it reached the token) clears the latch, and so does an RX overflow (lost bytes void an abort).
The dispatcher's RUN stops at a tick boundary while the latch is set. :attr:`Top.abort` (not a
port) is the latch.

:attr:`Top.idle` (not a port) is high when no request byte is buffered or being executed and the
transmitter is quiet; the simulation transport uses it to know when the device has answered.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect

from ..proto import protocol as P
from ..proto.config import CoreConfig
from . import dispatch, fifo, framing, uart
from .core import Core
from .probes import ProbeUnit

__all__ = ["Top", "tx_depth"]


def tx_depth(cfg: CoreConfig) -> int:
    """Bytes the TX FIFO holds: a few header bytes' worth of slack between the dispatcher and the
    encoder. (SPIKES batches wait in the emitter's own queue, ``hdl.emit``, so compute and
    transmission overlap without a deep TX FIFO; any depth >= 2 is correct.)"""
    return 32


def _through(m, source, queue, sink, *, staged=False):
    """Connect stream ``source`` to stream ``sink`` through ``queue`` (a :class:`fifo.Queue`).

    ``staged``: the queue's output goes through a register stage first (one word, one clock
    more), so that no path starts at the block RAM's slow read data (5.8 ns on ECP5)."""
    m.d.comb += [queue.w_data.eq(source.payload), queue.w_en.eq(source.valid),
                 source.ready.eq(queue.w_rdy)]
    if not staged:
        m.d.comb += [sink.payload.eq(queue.r_data), sink.valid.eq(queue.r_rdy),
                     queue.r_en.eq(sink.ready)]
        return
    take = ~sink.valid | sink.ready         # the stage is empty or hands its word on
    m.d.comb += queue.r_en.eq(take)
    with m.If(take):
        m.d.sync += [sink.valid.eq(queue.r_rdy), sink.payload.eq(queue.r_data)]


class Top(wiring.Component):
    """spikeloom device top level; see the module docstring for the contract."""

    def __init__(self, cfg: CoreConfig, build_id: bytes = P.BUILD_ID, *, core_factory=None,
                 **core_kwargs):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        self.build_id = P.check_build_id(build_id)
        self.core = (core_factory or Core)(cfg, **core_kwargs)
        self.idle = Signal()
        self.abort = Signal()
        super().__init__({
            "uart_rx": In(1, init=1),
            "uart_tx": Out(1, init=1),
            "leds": Out(3),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        div = cfg.uart_divisor

        m.submodules.rx = rx = uart.Receiver(div)
        # RX_BUFFER bytes in all: the FIFO, and the register stage after it (below)
        m.submodules.rx_fifo = rx_fifo = fifo.Queue(width=8, depth=P.RX_BUFFER - 1)
        m.submodules.deframer = deframer = framing.Deframer(P.MAX_PAYLOAD)
        m.submodules.dispatcher = disp = dispatch.Dispatcher(cfg, self.build_id)
        m.submodules.core = core = self.core
        m.submodules.tx_fifo = tx_fifo = fifo.Queue(
            width=framing.BodyLayout.size, depth=tx_depth(cfg))
        m.submodules.encoder = enc = framing.Encoder()
        m.submodules.tx = tx = uart.Transmitter(div)

        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx)]
        # staged: the RX FIFO's read data into the deframer's escape logic and its buffer's
        # write enable was the ECP5 preset's critical path (18.0 ns at a 60 MHz constraint)
        _through(m, rx.stream, rx_fifo, deframer.rx, staged=True)
        connect(m, deframer.frame, disp.frame)

        # The abort detector (see the module docstring). ``esc``: the last byte taken opened an
        # escape. An overflow wins over a token (the token's own bytes may be the lost ones);
        # a token arriving wins over an older one the deframer reaches in the same cycle.
        esc = Signal()
        took = rx.stream.valid & rx.stream.ready
        with m.If(took):
            m.d.sync += esc.eq(~esc & (rx.stream.payload == P.ESC))
        with m.If(rx.overflow):
            m.d.sync += self.abort.eq(0)
        with m.Elif(took & esc & (rx.stream.payload == P.ABORT[1])):
            m.d.sync += self.abort.eq(1)
        with m.Elif(deframer.token):
            m.d.sync += self.abort.eq(0)
        m.d.comb += disp.abort.eq(self.abort)
        m.d.comb += [deframer.buf_addr.eq(disp.buf_addr), disp.buf_data.eq(deframer.buf_data)]
        connect(m, enc.tx, tx.stream)
        if cfg.probe_slots:     # the probe unit sits on the core port and the reply stream
            m.submodules.probes = probes = ProbeUnit(cfg)
            connect(m, disp.core, probes.ctl)
            connect(m, probes.core, core)
            connect(m, disp.body, probes.body_in)
            body = probes.body_out
            m.d.comb += [probes.start.eq(disp.probe_start), probes.seq.eq(disp.probe_seq),
                         disp.probe_busy.eq(probes.busy), disp.probe_due.eq(probes.due)]
        else:
            connect(m, disp.core, core)
            body = disp.body
        _through(m, body, tx_fifo, enc.body)
        m.d.comb += [
            disp.uart_errors.eq(rx.errors),
            rx.clear.eq(disp.uart_clear),
            disp.rx_overflow.eq(rx.overflow),
        ]

        # The whole device is idle when nothing is buffered, executing or on the line; a partial
        # frame inside the deframer waits for more bytes and does not count as work.
        # (A queue's level counts its RAM too: a word just written is not visible on r_rdy yet.)
        m.d.comb += self.idle.eq(disp.idle & ~rx.busy & (rx_fifo.level == 0) & ~rx.stream.valid
                                 & ~deframer.rx.valid
                                 & ~body.valid & (tx_fifo.level == 0) & ~tx.busy
                                 & ~enc.tx.valid)

        # LEDs: a ~1.4 Hz heartbeat (12 MHz), and activity and error lights held for one
        # window of 2**k cycles (~1/20 s) after the window in which they happened. The windows
        # are marked by a bit of the heartbeat counter, so no extra timers are needed.
        beat = Signal(max(2, (cfg.clock_hz // 2).bit_length()))
        m.d.sync += beat.eq(beat + 1)
        # beat[k] falls every 2**(k+1) cycles: the largest such window of at most 1/20 s
        k = min(len(beat) - 1, max(0, (cfg.clock_hz // 20).bit_length() - 2))
        window_end = Signal()
        window_bit = Signal()
        m.d.sync += window_bit.eq(beat[k])
        m.d.comb += window_end.eq(window_bit & ~beat[k])
        lights = []
        for event in (rx.stream.valid | tx.busy, disp.error | rx.error | rx.overflow):
            seen, light = Signal(), Signal()
            with m.If(window_end):
                m.d.sync += [light.eq(seen | event), seen.eq(0)]
            with m.Elif(event):
                m.d.sync += seen.eq(1)
            lights.append(light)
        m.d.comb += self.leds.eq(Cat(beat[-1], *lights))
        return m
