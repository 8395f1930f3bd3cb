"""The golden device: docs/protocol.md over the golden model, bytes in, bytes out.

:class:`GoldenDevice` receives request bytes with :meth:`GoldenDevice.write` and executes them with
:meth:`GoldenDevice.read`, which returns every byte the device sends back (replies and SPIKES event
frames), processing frames strictly in arrival order; :meth:`GoldenDevice.feed` is the two at once.
It is the ``model://`` backend and the reference for the RTL top: the gateware must answer the
same input bytes with the same output bytes.

Contract (docs/protocol.md, "Status codes", "Opcodes" and "Abort"): every nonempty SLIP body gets
exactly one reply; empty bodies are ignored; a failed request changes no stored state (only the
error counters); no input ever raises. The device never sees UART-level errors or receive-buffer
overflows, so ``uart_errors`` and ``rx_overflows`` stay 0 here.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..proto import codec
from ..proto import protocol as P
from ..proto.config import CoreConfig
from ..proto.cycles import check_weight_store
from ..proto.memmap import Region, layouts, region_words
from ..proto.probes import probe_payload
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
    core built with the same ``weight_store``: "dual" or "spram"). ``engine`` selects the golden
    model's engine (``Core(cfg, engine)``: "fast", the default, or "reference"); the bytes out
    are the same with either.

    Time, and the abort (docs/protocol.md, "Abort"). The device executes lazily:

    - ``write(data)`` is the arrival of ``data`` on the line. Bytes are queued, and each abort
      token (``ESC END``, recognised byte by byte with the same escape state as the deframer)
      sets the *abort latch* at once, however much is queued before it.
    - ``read(max_ticks=None)`` executes what is queued, in order, and returns the output: at most
      ``max_ticks`` ticks of RUN in this call (None: until the queue is empty), stopping only at
      a tick boundary. A RUN checks the latch before each tick: set, it ends with status ABORTED
      and ``RUN_REPLY(ticks run)``. The latch is cleared when the deframer consumes the token,
      after every request queued before it.
    - ``feed(data) == write(data) + read()``; :attr:`busy` says whether ``read`` has work left.

    So one ``write`` is one instant: a token anywhere in it is seen before anything in it runs.
    To reproduce an abort that landed on a device after it completed tick ``k`` of a RUN::

        dev.write(run_frame)            # the RUN arrives
        out = dev.read(max_ticks=k)     # k ticks run, the RUN is still going (their spikes
                                        # wait in the open SPIKES batch unless it closed)
        dev.write(P.ABORT)              # the token arrives: the latch is set
        out += dev.read()               # the batch flushed, then the RUN reply: status
                                        # ABORTED, RUN_REPLY(ticks=k)

    ``read(max_ticks=0)`` after a ``write`` executes the requests before the RUN's first tick;
    ``write(run_frame + P.ABORT); read()`` gives ABORTED with 0 ticks. A token while no RUN is
    queued changes nothing (no reply); a token in the middle of a frame discards that frame.
    """

    def __init__(self, cfg: CoreConfig, build_id: bytes = P.BUILD_ID, *,
                 weight_store: str = "dual", engine: str = "fast"):
        self.cfg = cfg
        self.build_id = P.check_build_id(build_id)
        self.weight_store = check_weight_store(weight_store)
        self.layouts = layouts(cfg)
        self.core = Core(cfg, engine)
        self.engine = self.core.engine
        self.counters = Counters()
        self._reset_probes()
        self._idle()

    def _reset_probes(self) -> None:
        """The probe phase 0 (the PROBES words are the model's: ``core.probes``)."""
        self.probe_phase = 0

    def _idle(self) -> None:
        """Receiver and executor empty: nothing queued, no RUN in progress, latch clear."""
        self.deframer = P.Deframer(P.MAX_PAYLOAD)
        self.abort_latch = False
        self._inbox = bytearray()       # bytes arrived and not yet deframed ...
        self._next = 0                  # ... from this index on
        self._arrival_esc = False       # the arrival detector's escape state
        self._running = None            # the RUN in progress: _Run

    # -- public ------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Power-on state: model zeroed, counters zeroed, receiver idle (no partial frame)."""
        self.core = Core(self.cfg, self.engine)
        self.counters = Counters()
        self._reset_probes()
        self._idle()

    def feed(self, data: bytes) -> bytes:
        """Consume request bytes; return every byte the device sends in response, in order
        (``write(data)`` then ``read()``)."""
        self.write(data)
        return self.read()

    def write(self, data: bytes) -> None:
        """Request bytes arrive: queue them; an abort token among them sets the latch now."""
        data = bytes(data)
        k, n = 0, len(data)
        if self._arrival_esc and n:             # the escape's second byte is the first here
            self._arrival_esc = False
            self.abort_latch |= data[0] == P.END
            k = 1
        while (i := data.find(P.ESC, k)) >= 0:  # each ESC and the byte after it are one pair
            if i + 1 == n:
                self._arrival_esc = True
                break
            self.abort_latch |= data[i + 1] == P.END
            k = i + 2
        self._inbox += data

    @property
    def busy(self) -> bool:
        """True while :meth:`read` has work: a RUN in progress, or a complete frame or token
        (an END) queued."""
        return self._running is not None or self._inbox.find(P.END, self._next) >= 0

    def read(self, max_ticks: int | None = None) -> bytes:
        """Execute queued requests in order, at most ``max_ticks`` ticks of RUN in this call
        (None: all of them); return every byte sent meanwhile (see the class docstring)."""
        out = bytearray()
        budget = max_ticks
        while True:
            if self._running is not None:
                budget = self._advance(out, budget)
                if self._running is not None:
                    break                       # out of ticks for this call
            end = self._inbox.find(P.END, self._next)
            if end < 0:                         # no frame or token can complete yet
                self.deframer.feed(self._inbox[self._next:])
                self._inbox.clear()
                self._next = 0
                break
            aborts = self.deframer.aborts
            done = self.deframer.feed(self._inbox[self._next:end + 1])
            self._next = end + 1
            if self._next > 65536:              # drop what was consumed (amortised O(1))
                del self._inbox[:self._next]
                self._next = 0
            if self.deframer.aborts != aborts:
                self.abort_latch = False        # the token is consumed: requests after it run
            for frame, status in done:          # at most one: the chunk holds one END
                self._execute(frame, status, out)
        return bytes(out)

    def info_payload(self) -> bytes:
        return P.info_payload(self.cfg, self.build_id)

    # -- dispatch ----------------------------------------------------------------------------------

    def _execute(self, frame: Frame, status: Status, out: bytearray) -> None:
        """Answer one deframed body; a valid RUN becomes the RUN in progress instead."""
        if status == Status.OK and frame.opcode == Opcode.RUN \
                and len(frame.payload) == P.RUN_REQ.size:
            req = P.RUN_REQ.unpack(frame.payload)
            self._running = _Run(frame.seq, req["ticks"], req["period"],
                                 P.SpikePacker(self.cfg.n_neurons))
            return
        for reply in self._handle(frame, status):
            out += P.encode_frame(reply)

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
            self._reset_probes()
        if flags & ResetFlags.COUNTERS:
            self.counters = Counters()
        return [], b""

    def _region(self, code: int) -> Region:
        # a region of a feature this configuration lacks (DELAYS without delays, LEARN with one
        # rule, PROBES without probes) is no region
        try:
            region = Region(code)
        except ValueError:
            raise _Refused(Status.BAD_REGION) from None
        if region not in self.layouts:
            raise _Refused(Status.BAD_REGION)
        return region

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
        return [], self.core.read_bytes(region, req["addr"], req["count"])

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
        if codec.excess_bits(lay, body).size:
            raise _Refused(Status.BAD_VALUE)
        if region == Region.PROBES:
            self.probe_phase = 0
        self.core.write_bytes(region, req["addr"], body)
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
        # only reached with a wrong payload size: a valid RUN goes through _execute/_advance
        raise _Refused(Status.BAD_LENGTH)

    def _advance(self, out: bytearray, budget: int | None) -> int | None:
        """Run ticks of the RUN in progress, at most ``budget`` (None: no bound); the remaining
        budget. Ends the RUN (reply sent) when its ticks are done or the abort latch is set."""
        run = self._running
        cfg, cnt, n = self.cfg, self.counters, self.cfg.n_neurons
        while run.done < run.ticks and not self.abort_latch:
            if budget is not None:
                if budget <= 0:
                    return budget
                budget -= 1
            stdp_enabled = self.core.learning_enabled
            result = self.core.step()
            fired = np.flatnonzero(result.spikes)
            self._spikes(out, run, run.packer.tick(cnt.ticks, fired))
            if self.core.probes.size:
                self._probe(run, cnt.ticks, out)
            run.done += 1
            cnt.ticks = (cnt.ticks + 1) & U32
            cnt.spikes = (cnt.spikes + fired.size) & U32
            cnt.syn_events = (cnt.syn_events + result.delivered * n) & U32
            cnt.last_tick_cycles = result.cycles(cfg, stdp_enabled, self.weight_store) & U32
            if run.period and cnt.last_tick_cycles > run.period:
                cnt.overruns = min(cnt.overruns + 1, U16)
                cnt.flags |= 1
        status = Status.OK if run.done == run.ticks else Status.ABORTED
        self._spikes(out, run, run.packer.flush())     # the stream is flushed before the reply
        out += P.encode_frame(Frame(Opcode.RUN, run.seq, status,
                                    P.RUN_REPLY.pack(ticks=run.done)))
        self._running = None
        return budget


    @staticmethod
    def _spikes(out: bytearray, run, payloads) -> None:
        for payload in payloads:
            out += P.encode_frame(Frame(Opcode.SPIKES, run.seq, Status.OK, payload))

    def _probe(self, run, tick: int, out: bytearray) -> None:
        """After tick ``tick``: its PROBE event if sampled, behind the spike stream's flush (so
        frames leave in tick order); the phase steps."""
        if self.probe_phase == 0:
            st = self.core.state
            state = {name: getattr(st, name) for name in ("v", "i", "i_inh", "theta", "y")
                     if hasattr(st, name)}
            words = [int(w) for w in self.core.probes]
            payload = probe_payload(self.cfg, words, tick, state)
            if payload:
                self._spikes(out, run, run.packer.flush())
                out += P.encode_frame(Frame(Opcode.PROBE, run.seq, Status.OK, payload))
        every = self.layouts[Region.PROBES].unpack(int(self.core.probes[-1]))["neuron"] + 1
        self.probe_phase = (self.probe_phase + 1) % every


@dataclasses.dataclass
class _Run:
    """A RUN in progress: its seq, the ticks asked for and run so far, the period, and the spike
    stream's batch being filled."""
    seq: int
    ticks: int
    period: int
    packer: P.SpikePacker
    done: int = 0
