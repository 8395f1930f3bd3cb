"""The protocol client: requests out, replies and SPIKES events in (docs/protocol.md).

:class:`Link` frames requests with :func:`spikeloom.proto.protocol.encode_frame`, numbers them
with sequence numbers 1..255 (0 is what the device uses for frames it could not parse), and
pipelines them: it keeps sending while fewer than ``window`` (= ``RX_BUFFER``) request bytes are
unanswered, so the device's receive buffer can never overflow, and matches replies to requests by
sequence number. Replies arrive in request order; a reply with a sequence number nobody waits
for is ignored.

Robustness rules:

- A reply with status BAD_CRC (or a BAD_FRAME the device could not attribute) means the request
  was damaged on the way and nothing was executed: a *retryable* request (everything except the
  INJECT/RUN stream of a run, whose order matters) is sent again, at most ``retries`` times.
- A request whose reply is skipped (a later request answered first) was lost on the link:
  retried when retryable, else :class:`ProtocolError`.
- No valid frame for ``timeout`` seconds: retryable requests are resent (bounded); then
  :class:`LinkTimeout`, or :class:`ProtocolError` if bytes arrived that were not valid frames
  (wrong baud rate, not a spikeloom device).
- Any other error status raises :class:`DeviceError` naming the request and the status.
"""

from __future__ import annotations

import collections
import dataclasses
import time

from .errors import DeviceError, LinkTimeout, ProtocolError
from .proto import protocol as P
from .proto.protocol import Frame, Opcode, Status

__all__ = ["Link", "Request"]

_HINTS = {
    Status.BAD_FRAME: "the request was garbled on the link",
    Status.BAD_CRC: "the request was damaged on the link (noisy line or wrong baud rate?)",
    Status.BAD_LENGTH: "wrong payload size for this request (host and device disagree about "
                       "the protocol?)",
    Status.BAD_OPCODE: "the device does not know this request (older firmware?)",
    Status.BAD_REGION: "no such memory region on this device",
    Status.BAD_ADDRESS: "address outside the region, or input index >= n_inputs",
    Status.BAD_VALUE: "a value does not fit its field (image built for another "
                      "configuration?)",
}


@dataclasses.dataclass
class Request:
    opcode: Opcode
    payload: bytes = b""
    retry: bool = True          # safe to send again (idempotent, order-independent)
    tag: object = None          # the caller's, handed back with the reply


@dataclasses.dataclass
class _Pending:
    req: Request
    index: int
    size: int
    attempts: int = 1
    order: int = 0              # send order (a resent request goes to the back)


class Link:
    """Request/reply client over a transport (see the module docstring)."""

    def __init__(self, transport, *, timeout: float = 2.0, retries: int = 3,
                 window: int = P.RX_BUFFER, name: str = "device"):
        self.transport = transport
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.window = int(window)
        self.name = name
        self.deframer = P.Deframer(max_payload=0xFFFF)
        self._seq = 0
        self.stats = collections.Counter()

    def _next_seq(self) -> int:
        self._seq = self._seq % 255 + 1
        return self._seq

    # -- one request -------------------------------------------------------------------------------

    def request(self, opcode: Opcode, payload: bytes = b"", *, retry: bool = True,
                on_event=None) -> bytes:
        """Send one request; return its reply payload."""
        return self.pipeline([Request(Opcode(opcode), bytes(payload), retry)],
                             on_event=on_event)[0]

    # -- many requests -----------------------------------------------------------------------------

    def pipeline(self, requests, *, on_event=None, on_reply=None):
        """Send ``requests`` (any iterable of :class:`Request`) pipelined; return the reply
        payloads in order, or, with ``on_reply(request, payload)``, call it per reply (in
        order) and return None. ``on_event(payload)`` gets every SPIKES event payload."""
        it = iter(requests)
        pending: collections.OrderedDict[int, _Pending] = collections.OrderedDict()
        results = {} if on_reply is None else None
        outstanding = 0
        held = None
        index = 0
        exhausted = False
        last_progress = time.monotonic()
        garbage = 0

        order = 0

        def send(p: _Pending):
            nonlocal outstanding, order
            order += 1
            p.order = order
            seq = self._next_seq()
            data = P.encode_frame(Frame(p.req.opcode, seq, 0, p.req.payload))
            p.size = len(data)
            pending[seq] = p
            outstanding += p.size
            self.transport.write(data)
            self.stats["sent"] += 1

        def drop(seq) -> _Pending:
            nonlocal outstanding
            p = pending.pop(seq)
            outstanding -= p.size
            return p

        def retry_or_raise(seq, status, why):
            p = drop(seq)
            if p.req.retry and p.attempts <= self.retries:
                p.attempts += 1
                self.stats["retries"] += 1
                send(p)
                return
            raise DeviceError(self._describe(p.req, status, why), status=status,
                              opcode=p.req.opcode)

        while True:
            # fill the window: always one request when idle, more while they fit
            while not exhausted:
                if held is None:
                    try:
                        req = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    held = _Pending(req, index, len(P.encode_frame(
                        Frame(req.opcode, 1, 0, req.payload))))
                    index += 1
                # +3: the real seq and CRC bytes may need SLIP escapes the estimate lacks
                if pending and outstanding + held.size + 3 > self.window:
                    break
                send(held)
                held = None
            if exhausted and held is None and not pending:
                break
            data = self.transport.read(min(0.05, self.timeout))
            now = time.monotonic()
            frames = self.deframer.feed(data) if data else []
            for frame, fstatus in frames:
                if fstatus != Status.OK:
                    garbage += 1
                    self.stats["garbled"] += 1
                    continue
                if frame.opcode == Opcode.SPIKES:
                    if frame.seq in pending and pending[frame.seq].req.opcode == Opcode.RUN:
                        last_progress = now
                        if on_event is not None:
                            on_event(frame.payload)
                    else:
                        self.stats["ignored"] += 1
                    continue
                if frame.seq not in pending:
                    if frame.seq == 0 and frame.status == Status.BAD_FRAME and pending:
                        # the device could not parse something: most likely our oldest request
                        self.stats["bad_frame"] += 1
                        seq0 = next(iter(pending))
                        if pending[seq0].req.retry:
                            last_progress = now
                            retry_or_raise(seq0, Status.BAD_FRAME, "")
                        continue
                    self.stats["ignored"] += 1
                    continue
                p = pending[frame.seq]
                if frame.opcode != p.req.opcode and frame.status == Status.OK:
                    self.stats["ignored"] += 1
                    continue
                last_progress = now
                # replies come in order: anything sent before this one was lost
                for seq in [s for s in pending if pending[s].order < p.order]:
                    lost = pending[seq]
                    if not lost.req.retry:
                        raise ProtocolError(
                            f"the reply to {lost.req.opcode.name} was lost on the link to "
                            f"{self.name} while streaming (noisy line?); the run is incomplete")
                    retry_or_raise(seq, Status.BAD_FRAME, "its reply was lost")
                if frame.status == Status.OK:
                    drop(frame.seq)
                    if on_reply is not None:
                        on_reply(p.req, frame.payload)
                    else:
                        results[p.index] = frame.payload
                elif frame.status in (Status.BAD_CRC, Status.BAD_FRAME):
                    retry_or_raise(frame.seq, Status(frame.status), "")
                else:
                    drop(frame.seq)
                    status = _status(frame.status)
                    raise DeviceError(self._describe(p.req, status, ""), status=status,
                                      opcode=p.req.opcode)
            if pending and now - last_progress > self.timeout:
                if all(p.req.retry and p.attempts <= self.retries for p in pending.values()):
                    self.stats["timeouts_retried"] += 1
                    for seq in list(pending):
                        p = drop(seq)
                        p.attempts += 1
                        send(p)
                    last_progress = now
                    continue
                oldest = next(iter(pending.values())).req
                if garbage:
                    raise ProtocolError(
                        f"{self.name} answered {oldest.opcode.name} with {garbage} frame(s) that "
                        "fail the CRC or framing: wrong baud rate, noisy line, or not a "
                        "spikeloom device")
                if self.deframer.buf:
                    raise ProtocolError(
                        f"{self.name} sent {len(self.deframer.buf)} bytes that are not a "
                        f"spikeloom frame in reply to {oldest.opcode.name}: wrong baud rate or "
                        "not a spikeloom device")
                raise LinkTimeout(
                    f"no reply to {oldest.opcode.name} from {self.name} within "
                    f"{self.timeout:g} s: check power, port and baud rate, or raise timeout=")
        if results is None:
            return None
        return [results[k] for k in range(index)]

    def _describe(self, req: Request, status, why: str) -> str:
        name = status.name if isinstance(status, Status) else f"status {status}"
        hint = why or _HINTS.get(status, "unknown status")
        damaged = status in (Status.BAD_CRC, Status.BAD_FRAME)
        if damaged and not req.retry:
            hint += ("; not retried inside a streamed run (order matters): the run is "
                     "incomplete, load and run again")
        elif damaged:
            hint += f"; gave up after {self.retries} retries"
        return f"{self.name} refused {req.opcode.name}: {name}: {hint}"


def _status(value: int):
    try:
        return Status(value)
    except ValueError:
        return value
