"""The golden device: docs/protocol.md over the golden model, bytes in, bytes out.

:class:`GoldenDevice` consumes request bytes with :meth:`GoldenDevice.feed` and returns every byte
the device sends back (replies and SPIKES event frames), processing frames strictly in arrival
order. It is the ``model://`` backend and the reference for the RTL top: the gateware must answer
the same input bytes with the same output bytes.

Contract (docs/protocol.md, "Status codes" and "Opcodes"): every nonempty SLIP body gets exactly
one reply; empty bodies are ignored; a failed request changes no stored state (only the error
counters); no input ever raises. The device never sees UART-level errors or receive-buffer
overflows, so ``uart_errors`` and ``rx_overflows`` stay 0 here.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..proto import protocol as P
from ..proto.config import CoreConfig
from ..proto.cycles import check_weight_store, tick_cycles
from ..proto.memmap import Region, layouts, region_words
from ..proto.protocol import Frame, Opcode, ResetFlags, Status
from .model import Core

__all__ = ["GoldenDevice", "Counters"]

U32 = 0xFFFFFFFF
U16 = 0xFFFF


@dataclasses.dataclass
class Counters:
    """The STATUS counters (32-bit ones wrap, 16-bit ones saturate)."""
    ticks: int = 0
    spikes: int = 0
    syn_events: int = 0
    last_tick_cycles: int = 0
    crc_errors: int = 0
    frame_errors: int = 0
    uart_errors: int = 0
    rx_overflows: int = 0
    overruns: int = 0
    flags: int = 0

    def status_payload(self) -> bytes:
        return P.STATUS.pack(**dataclasses.asdict(self))


class _Refused(Exception):
    """A request check failed: the device answers with ``status`` and changes nothing."""

    def __init__(self, status: Status):
        self.status = status


class GoldenDevice:
    """One spikeloom device in Python: the protocol over :class:`spikeloom.sim.model.Core`.

    ``build_id`` (8 bytes) is reported in INFO, like the RTL top's parameter. ``weight_store``
    selects the cycle model of ``last_tick_cycles`` (``proto.cycles.tick_cycles``, exact for the
    core built with the same ``weight_store``: "dual" or "spram").
    """

    def __init__(self, cfg: CoreConfig, build_id: bytes = P.BUILD_ID, *,
                 weight_store: str = "dual"):
        self.cfg = cfg
        self.build_id = P.check_build_id(build_id)
        self.weight_store = check_weight_store(weight_store)
        self.layouts = layouts(cfg)
        self.core = Core(cfg)
        self.counters = Counters()
        self.deframer = P.Deframer(P.MAX_PAYLOAD)

    # -- public ------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Power-on state: model zeroed, counters zeroed, receiver idle (no partial frame)."""
        self.core = Core(self.cfg)
        self.counters = Counters()
        self.deframer = P.Deframer(P.MAX_PAYLOAD)

    def feed(self, data: bytes) -> bytes:
        """Consume request bytes; return every byte the device sends in response, in order."""
        out = bytearray()
        for frame, status in self.deframer.feed(bytes(data)):
            for reply in self._handle(frame, status):
                out += P.encode_frame(reply)
        return bytes(out)

    def info_payload(self) -> bytes:
        return P.info_payload(self.cfg, self.build_id)

    # -- dispatch ----------------------------------------------------------------------------------

    def _handle(self, frame: Frame, status: Status):
        cnt = self.counters
        if status != Status.OK:
            if status == Status.BAD_CRC:
                cnt.crc_errors = min(cnt.crc_errors + 1, U16)
            else:
                cnt.frame_errors = min(cnt.frame_errors + 1, U16)
            return [Frame(frame.opcode, frame.seq, status)]
        handler = {
            Opcode.PING: self._ping, Opcode.INFO: self._info, Opcode.RESET: self._reset,
            Opcode.READ: self._read, Opcode.WRITE: self._write, Opcode.INJECT: self._inject,
            Opcode.RUN: self._run, Opcode.STATUS: self._status,
        }.get(frame.opcode)
        if handler is None:     # unknown opcodes, and SPIKES (device to host only)
            return [Frame(frame.opcode, frame.seq, Status.BAD_OPCODE)]
        try:
            events, payload = handler(frame)
        except _Refused as refusal:
            return [Frame(frame.opcode, frame.seq, refusal.status)]
        return [*events, Frame(frame.opcode, frame.seq, Status.OK, payload)]

    def _ping(self, frame):
        return [], frame.payload

    def _info(self, frame):
        if frame.payload:
            raise _Refused(Status.BAD_LENGTH)
        return [], self.info_payload()

    def _status(self, frame):
        if frame.payload:
            raise _Refused(Status.BAD_LENGTH)
        return [], self.counters.status_payload()

    def _reset(self, frame):
        if len(frame.payload) != 1:
            raise _Refused(Status.BAD_LENGTH)
        flags = frame.payload[0]
        if flags & ~0x07:
            raise _Refused(Status.BAD_VALUE)
        if flags & ResetFlags.STATE:
            self.core.reset_state()
        if flags & ResetFlags.CONFIG:
            self.core.reset_config()
        if flags & ResetFlags.COUNTERS:
            self.counters = Counters()
        return [], b""

    def _region(self, code: int) -> Region:
        try:
            return Region(code)
        except ValueError:
            raise _Refused(Status.BAD_REGION) from None

    def _read(self, frame):
        if len(frame.payload) != P.READ_REQ.size:
            raise _Refused(Status.BAD_LENGTH)
        req = P.READ_REQ.unpack(frame.payload)
        region = self._region(req["region"])
        lay = self.layouts[region]
        if req["count"] * lay.nbytes > P.MAX_PAYLOAD:
            raise _Refused(Status.BAD_LENGTH)
        if req["addr"] + req["count"] > region_words(self.cfg, region):
            raise _Refused(Status.BAD_ADDRESS)
        words = self.core.read_words(region, req["addr"], req["count"])
        return [], b"".join(lay.to_bytes(w) for w in words)

    def _write(self, frame):
        data = frame.payload
        if len(data) < P.WRITE_REQ.size:
            raise _Refused(Status.BAD_LENGTH)
        req = P.WRITE_REQ.unpack(data)
        region = self._region(req["region"])
        lay = self.layouts[region]
        body = data[P.WRITE_REQ.size:]
        if not body or len(body) % lay.nbytes:
            raise _Refused(Status.BAD_LENGTH)
        count = len(body) // lay.nbytes
        if req["addr"] + count > region_words(self.cfg, region):
            raise _Refused(Status.BAD_ADDRESS)
        words = [int.from_bytes(body[k:k + lay.nbytes], "little")
                 for k in range(0, len(body), lay.nbytes)]
        if any(w >> lay.width for w in words):
            raise _Refused(Status.BAD_VALUE)
        self.core.write_words(region, req["addr"], words)
        return [], b""

    def _inject(self, frame):
        data = frame.payload
        if len(data) % 2:
            raise _Refused(Status.BAD_LENGTH)
        idx = [int.from_bytes(data[k:k + 2], "little") for k in range(0, len(data), 2)]
        if any(j >= self.cfg.n_inputs for j in idx):
            raise _Refused(Status.BAD_ADDRESS)
        if idx:
            self.core.inject(np.array(idx, np.int64))
        return [], b""

    def _run(self, frame):
        if len(frame.payload) != P.RUN_REQ.size:
            raise _Refused(Status.BAD_LENGTH)
        req = P.RUN_REQ.unpack(frame.payload)
        cfg, cnt, n = self.cfg, self.counters, self.cfg.n_neurons
        events = []
        for _ in range(req["ticks"]):
            stdp_enabled = bool(self.core.stdp.enable)
            result = self.core.step()
            fired = np.flatnonzero(result.spikes)
            events.append(Frame(Opcode.SPIKES, frame.seq, Status.OK,
                                P.spike_payload(cnt.ticks, fired, n)))
            cnt.ticks = (cnt.ticks + 1) & U32
            cnt.spikes = (cnt.spikes + fired.size) & U32
            cnt.syn_events = (cnt.syn_events + result.delivered * n) & U32
            cnt.last_tick_cycles = tick_cycles(cfg, result.delivered, int(fired.size),
                                               stdp_enabled, weight_store=self.weight_store) & U32
            if req["period"] and cnt.last_tick_cycles > req["period"]:
                cnt.overruns = min(cnt.overruns + 1, U16)
                cnt.flags |= 1
        return events, P.RUN_REPLY.pack(ticks=req["ticks"])
