"""The protocol client: requests out, replies and SPIKES events in (docs/protocol.md).

:class:`Link` frames requests with :func:`spikeloom.proto.protocol.encode_frame`, numbers them
with sequence numbers 1..255 (0 is what the device uses for frames it could not parse), and
pipelines them: it keeps sending while fewer than ``window`` (= ``RX_BUFFER - 2``, room for the
abort token) request bytes are unanswered, so the device's receive buffer can never overflow, and
matches replies to requests by sequence number. Replies arrive in request order; a reply with a
sequence number nobody waits for is ignored.

One :meth:`Link.pipeline` call is an :class:`_Exchange`: a :class:`_Window` of the requests in
flight, and the exchange itself, which fills the window and handles every frame that arrives.

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

Aborting (docs/protocol.md, "Abort"): on :meth:`Link.request_abort` (another thread) or Ctrl-C
(KeyboardInterrupt) the exchange stops sending requests, sends the abort token, then a PING
*marker* when the window has room, and drains: every frame up to the marker's reply is handled as
usual (RUN replies with status ABORTED are accepted), after which the device has answered
everything sent before and is idle. A request abort then raises :class:`Aborted`, Ctrl-C raises
KeyboardInterrupt again. :meth:`Link.abort` does the same with nothing in flight.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time

from . import busy
from .errors import DeviceError, LinkError, LinkTimeout, ProtocolError
from .proto import protocol as P
from .proto.protocol import Frame, Opcode, Status

__all__ = ["Link", "Request", "Aborted"]

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
    Status.ABORTED: "the run was stopped by an abort",
}

_MARKER = b"spikeloom-drain"     # the PING payload that closes a drain after an abort


class Aborted(Exception):
    """A pipeline stopped by :meth:`Link.request_abort`, after the drain (not a user error: the
    Board turns it into :class:`spikeloom.RunAborted`)."""


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
    marker: bool = False        # the PING that ends a drain


class _Window:
    """The requests sent and not answered yet, by seq in send order, and their wire bytes."""

    def __init__(self, limit: int):
        self.limit = limit
        self.pending: collections.OrderedDict[int, _Pending] = collections.OrderedDict()
        self.bytes = 0
        self.extra = 0          # bytes in the device's buffer that get no reply (abort token)
        self._order = 0

    def __bool__(self) -> bool:
        return bool(self.pending)

    def __contains__(self, seq) -> bool:
        return seq in self.pending

    def __getitem__(self, seq) -> _Pending:
        return self.pending[seq]

    def fits(self, size: int) -> bool:
        """Room for a frame of about ``size`` bytes (always when nothing is in flight)."""
        # +3: the real seq and CRC bytes may need SLIP escapes the estimate lacks
        return not self.pending or self.bytes + self.extra + size + 3 <= self.limit

    def add(self, seq: int, p: _Pending) -> None:
        self._order += 1
        p.order = self._order
        self.pending[seq] = p
        self.bytes += p.size

    def pop(self, seq: int) -> _Pending:
        p = self.pending.pop(seq)
        self.bytes -= p.size
        return p

    def sent_before(self, p: _Pending) -> list[int]:
        return [s for s, q in self.pending.items() if q.order < p.order]

    def oldest(self) -> _Pending:
        return next(iter(self.pending.values()))


class _Exchange:
    """One pipeline: feeds the window from ``requests`` and handles every frame that arrives
    (replies to ``on_reply`` or the results list, SPIKES events to ``on_event``)."""

    def __init__(self, link: Link, requests, on_event, on_reply, abortable: bool,
                 on_probe=None):
        self.link = link
        self.requests = iter(requests)
        self.on_event, self.on_reply = on_event, on_reply
        self.on_probe = on_probe
        self.abortable = abortable
        self.window = _Window(link.window)
        self.results = {} if on_reply is None else None
        self.held: _Pending | None = None   # the next request, waiting for room
        self.index = 0
        self.exhausted = False
        self.draining = False               # the abort token is sent
        self.drained = False                # the marker's reply arrived
        self.last_progress = time.monotonic()
        self.garbage = 0
        self.inbox = collections.deque()     # deframed frames not handled yet

    # -- the loop ----------------------------------------------------------------------------------

    def run(self):
        try:
            while not self.finished():
                if self.abortable and not self.draining and self.link._abort.is_set():
                    self.start_abort()
                self.fill()
                if self.finished():
                    break
                self.receive()
        except KeyboardInterrupt:
            if not self.draining:
                self.link.aborted_cleanly = self.abort_and_drain()
            raise
        if self.draining:
            raise Aborted(f"{self.link.name}: run aborted")
        if self.results is None:
            return None
        return [self.results[k] for k in range(self.index)]

    def finished(self) -> bool:
        if self.draining:
            return self.drained
        return self.exhausted and self.held is None and not self.window

    def abort_and_drain(self) -> bool:
        """Send the token and drain (after Ctrl-C); True if the device answered the marker."""
        try:
            self.start_abort()
            while not self.drained:
                self.fill()
                self.receive()
            return True
        except (ProtocolError, LinkTimeout, OSError):
            return False

    # -- sending -----------------------------------------------------------------------------------

    def fill(self) -> None:
        """Send while the window has room: always one request when idle, more while they fit."""
        while not self.exhausted and not self.draining:
            if self.held is None:
                try:
                    req = next(self.requests)
                except StopIteration:
                    self.exhausted = True
                    break
                self.held = _Pending(req, self.index, len(P.encode_frame(
                    Frame(req.opcode, 1, 0, req.payload))))
                self.index += 1
            if not self.window.fits(self.held.size):
                break
            self.send(self.held)
            self.held = None
        if self.draining and not self.drained and not any(
                p.marker for p in self.window.pending.values()):
            marker = _Pending(Request(Opcode.PING, _MARKER), -1,
                              len(P.encode_frame(Frame(Opcode.PING, 1, 0, _MARKER))), marker=True)
            if self.window.fits(marker.size):
                self.send(marker)

    def send(self, p: _Pending) -> None:
        seq = self.link._next_seq()
        data = P.encode_frame(Frame(p.req.opcode, seq, 0, p.req.payload))
        p.size = len(data)
        self.window.add(seq, p)         # before writing: a write cut short is still in flight
        self.link.transport.write(data)
        self.link.stats["sent"] += 1

    def start_abort(self) -> None:
        """Stop sending requests; send the token (its 2 bytes stay in the device's buffer until
        the requests before it are answered)."""
        self.draining = True
        self.held = None
        self.window.extra = len(P.ABORT)
        self.last_progress = time.monotonic()
        self.link.transport.write(P.ABORT)
        self.link.stats["aborts"] += 1

    def retry_or_raise(self, seq: int, status, why: str) -> None:
        p = self.window.pop(seq)
        if p.req.retry and p.attempts <= self.link.retries:
            p.attempts += 1
            self.link.stats["retries"] += 1
            self.send(p)
            return
        raise DeviceError(self.link._describe(p.req, status, why), status=status,
                          opcode=p.req.opcode)

    # -- receiving ---------------------------------------------------------------------------------

    def receive(self) -> None:
        """Read what arrived, handle every frame, then check the timeout."""
        try:
            data = self.link.transport.read(min(0.05, self.link.timeout))
        except LinkError:
            # the virtual board's "board busy" / "idle" notice is plain text left unframed in
            # the deframer when it closes the connection: raise what it says instead
            busy.check(bytes(self.link.deframer.buf), self.link.name)
            raise
        now = time.monotonic()
        # frames wait in ``inbox`` until handled: a handler that raises (a Ctrl-C in a progress
        # callback) leaves the frames after it for the drain that follows
        self.inbox.extend(self.link.deframer.feed(data) if data else [])
        while self.inbox:
            frame, fstatus = self.inbox.popleft()
            self.handle(frame, fstatus, now)
        if self.window and now - self.last_progress > self.link.timeout:
            self.timed_out(now)

    def handle(self, frame: Frame, fstatus: Status, now: float) -> None:
        stats, window = self.link.stats, self.window
        if fstatus != Status.OK:
            self.garbage += 1
            stats["garbled"] += 1
            return
        if frame.opcode in (Opcode.SPIKES, Opcode.PROBE):
            self.event(frame, now)
            return
        if frame.seq not in window:
            self.unmatched(frame, now)
            return
        p = window[frame.seq]
        if frame.opcode != p.req.opcode and frame.status == Status.OK:
            stats["ignored"] += 1
            return
        self.last_progress = now
        self.skipped(p)
        if frame.status == Status.OK:
            window.pop(frame.seq)
            if p.marker:
                self.drained = True
            elif self.on_reply is not None:
                self.on_reply(p.req, frame.payload)
            else:
                self.results[p.index] = frame.payload
        elif frame.status in (Status.BAD_CRC, Status.BAD_FRAME):
            self.retry_or_raise(frame.seq, Status(frame.status), "")
        elif self.draining and frame.status == Status.ABORTED and p.req.opcode == Opcode.RUN:
            window.pop(frame.seq)
            stats["aborted"] += 1
        else:
            window.pop(frame.seq)
            status = _status(frame.status)
            raise DeviceError(self.link._describe(p.req, status, ""), status=status,
                              opcode=p.req.opcode)

    def event(self, frame: Frame, now: float) -> None:
        """A SPIKES event: it belongs to a RUN in flight, else it is stale."""
        window = self.window
        if frame.seq in window and window[frame.seq].req.opcode == Opcode.RUN:
            self.last_progress = now
            handler = self.on_probe if frame.opcode == Opcode.PROBE else self.on_event
            if handler is not None:
                handler(frame.payload)
        else:
            self.link.stats["ignored"] += 1

    def unmatched(self, frame: Frame, now: float) -> None:
        """A reply nobody waits for: a BAD_FRAME the device could not attribute is most likely
        our oldest request (retried when it may be); anything else is ignored."""
        window = self.window
        if frame.seq == 0 and frame.status == Status.BAD_FRAME and window:
            self.link.stats["bad_frame"] += 1
            seq0 = next(iter(window.pending))
            if window[seq0].req.retry:
                self.last_progress = now
                self.retry_or_raise(seq0, Status.BAD_FRAME, "")
            return
        self.link.stats["ignored"] += 1

    def skipped(self, p: _Pending) -> None:
        """Replies come in order: every request sent before ``p`` and still unanswered was lost
        (or, while draining, cut short by the abort token: no reply will come)."""
        for seq in self.window.sent_before(p):
            lost = self.window[seq]
            if self.draining:
                self.window.pop(seq)
            elif not lost.req.retry:
                raise ProtocolError(
                    f"the reply to {lost.req.opcode.name} was lost on the link to "
                    f"{self.link.name} while streaming (noisy line?); the run is incomplete")
            else:
                self.retry_or_raise(seq, Status.BAD_FRAME, "its reply was lost")

    def timed_out(self, now: float) -> None:
        link, window = self.link, self.window
        if not self.draining and all(p.req.retry and p.attempts <= link.retries
                                     for p in window.pending.values()):
            link.stats["timeouts_retried"] += 1
            for seq in list(window.pending):
                p = window.pop(seq)
                p.attempts += 1
                self.send(p)
            self.last_progress = now
            return
        oldest = window.oldest().req
        if self.garbage:
            raise ProtocolError(
                f"{link.name} answered {oldest.opcode.name} with {self.garbage} frame(s) that "
                "fail the CRC or framing: wrong baud rate, noisy line, or not a spikeloom device")
        if link.deframer.buf:
            raise ProtocolError(
                f"{link.name} sent {len(link.deframer.buf)} bytes that are not a spikeloom frame "
                f"in reply to {oldest.opcode.name}: wrong baud rate or not a spikeloom device")
        what = "after the abort" if self.draining else f"to {oldest.opcode.name}"
        raise LinkTimeout(
            f"no reply {what} from {link.name} within {link.timeout:g} s: check power, port "
            "and baud rate, or raise timeout=")


class Link:
    """Request/reply client over a transport (see the module docstring)."""

    def __init__(self, transport, *, timeout: float = 2.0, retries: int = 3,
                 window: int = P.RX_BUFFER - len(P.ABORT), name: str = "device"):
        self.transport = transport
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.window = int(window)
        self.name = name
        self.deframer = P.Deframer(max_payload=0xFFFF)
        self._seq = 0
        self.stats = collections.Counter()
        self.aborted_cleanly = None     # after a Ctrl-C: did the drain finish?
        self._abort = threading.Event()
        self._guard = threading.Lock()  # guards _active against request_abort()
        self._active: _Exchange | None = None

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

    def pipeline(self, requests, *, on_event=None, on_reply=None, abortable: bool = False,
                 on_probe=None):
        """Send ``requests`` (any iterable of :class:`Request`) pipelined; return the reply
        payloads in order, or, with ``on_reply(request, payload)``, call it per reply (in
        order) and return None. ``on_event(payload)`` gets every SPIKES event payload,
        ``on_probe(payload)`` every PROBE event payload (without it they are ignored).
        ``abortable``: :meth:`request_abort` stops it (it then raises :class:`Aborted`)."""
        exchange = _Exchange(self, requests, on_event, on_reply, abortable, on_probe)
        with self._guard:
            self._active = exchange
            self._abort.clear()
        self.aborted_cleanly = None
        try:
            return exchange.run()
        finally:
            with self._guard:
                self._active = None

    # -- aborting ----------------------------------------------------------------------------------

    def request_abort(self) -> bool:
        """Ask the abortable pipeline in progress (in another thread) to abort; False if none
        is running. Thread-safe; returns at once."""
        with self._guard:
            if self._active is None or not self._active.abortable:
                return False
            self._abort.set()
            return True

    def abort(self) -> None:
        """Send the abort token and drain with nothing else in flight (the device is then idle
        and has answered a PING)."""
        exchange = _Exchange(self, (), None, lambda req, payload: None, False)
        exchange.start_abort()
        try:
            exchange.run()
        except Aborted:
            pass

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
