"""Byte transports to a device, and the URL-scheme registry that opens them.

A transport is any object with ``write(data: bytes) -> None``, ``read(timeout: float) -> bytes``
(whatever arrived, possibly ``b""`` after ``timeout`` seconds) and ``close()``. The protocol
client (:mod:`spikeloom.link`) needs nothing else, so tests can pass their own (e.g.
``spikeloom.sim.rtlsim.Transport``, the RTL top in Amaranth's simulator).

:func:`open_transport` maps a URL to a transport through a registry of schemes, in the manner of
pyserial's URL handlers. The host names no backend module at import time: an opener is either a
callable or a ``"module:attribute"`` string imported on first use, so the simulation backends stay
out of ``sys.modules`` until a URL asks for them (README, "Layers"). Registered here:

- ``model://`` / ``model://PRESET[?engine=fast|reference]``: :class:`ModelTransport`, a
  :class:`spikeloom.sim.device.GoldenDevice` in this process (``PRESET`` defaults to the
  ``config`` argument, else ``"default"``; ``?engine=reference`` runs the golden model's numpy
  reference instead of its compiled default engine (``engine=fast``), same bytes either way);
- ``rtlsim://PRESET``: the RTL top in Amaranth's simulator (:mod:`spikeloom.sim.rtlsim`; slow,
  for tests of the gateware through the host API);
- a device path (``/dev/ttyUSB1``, ``COM3``, no scheme), ``socket://HOST:PORT`` (the virtual
  board), ``rfc2217://``, ``loop://``, ``spy://``, ``hwgrep://``, ``alt://``:
  :class:`SerialTransport` through ``serial.serial_for_url``.

A backend outside this package adds its scheme with :func:`register_scheme`, or declares it as an
entry point in the group ``spikeloom.transports`` (``name = "module:opener"``), looked up when an
unknown scheme is opened. An opener is called as ``opener(url, config=, baudrate=, build_id=)``
(``config`` a CoreConfig or None) and returns a transport; it raises :class:`LinkError` for a URL
it cannot open.
"""

from __future__ import annotations

import importlib
import signal
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from .errors import LinkError
from .proto.config import CoreConfig, preset
from .proto.protocol import BUILD_ID

__all__ = ["SerialTransport", "ModelTransport", "open_transport", "register_scheme", "schemes",
           "DEFAULT_BAUD", "ENGINES", "SLICE_TICKS"]

DEFAULT_BAUD = 1_000_000
ENGINES = ("fast", "reference")     # model://NAME?engine=... (GoldenDevice's engines)
SLICE_TICKS = 256                   # ticks a ModelTransport.read() runs at most (interruptible)
ENTRY_POINTS = "spikeloom.transports"

Opener = Callable[..., object]
_SCHEMES: dict[str, Opener | str] = {}


def register_scheme(scheme: str, opener: Opener | str, *, replace: bool = False) -> None:
    """Open ``scheme://...`` URLs with ``opener`` (a callable or a ``"module:attribute"`` string
    resolved on first use; see the module docstring for its signature). ``scheme`` is lower
    case without ``://``; the empty scheme is a plain device path. Registering a scheme twice
    raises ValueError unless ``replace=True``."""
    if not isinstance(scheme, str) or scheme != scheme.lower() or "://" in scheme:
        raise ValueError(f"scheme must be a lower-case name without '://', not {scheme!r}")
    if not (callable(opener) or (isinstance(opener, str) and ":" in opener)):
        raise TypeError(f"opener must be a callable or a 'module:attribute' string, not "
                        f"{opener!r}")
    if scheme in _SCHEMES and not replace:
        raise ValueError(f"URL scheme {scheme!r} is already registered (replace=True to override)")
    _SCHEMES[scheme] = opener


def schemes() -> list[str]:
    """The registered URL schemes (without entry points not yet looked up)."""
    return sorted(s for s in _SCHEMES if s)


def _opener(scheme: str, url: str) -> Opener:
    opener = _SCHEMES.get(scheme)
    if opener is None:
        from importlib.metadata import entry_points
        found = entry_points(group=ENTRY_POINTS, name=scheme)
        if not found:
            raise LinkError(f"unknown URL scheme {scheme!r} in {url!r}: use a serial port, "
                            + ", ".join(f"{s}://" for s in schemes()))
        opener = next(iter(found)).value
    if isinstance(opener, str):
        module, _, attr = opener.partition(":")
        try:
            opener = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise LinkError(f"the {scheme}:// backend ({module}) is not available in this "
                            f"installation: {exc}") from None
        _SCHEMES[scheme] = opener
    return opener


def open_transport(url: str, config: CoreConfig | str | None = None,
                   baudrate: int | None = None, build_id: bytes = BUILD_ID):
    """A transport for ``url`` (see the module docstring)."""
    if not isinstance(url, str) or not url:
        raise LinkError(f"no device URL given ({url!r}): use a serial port, socket://HOST:PORT "
                        "or model://")
    if isinstance(config, str):
        config = _preset(config)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return _opener(scheme, url)(url, config=config, baudrate=baudrate, build_id=build_id)


# -- serial ports and pyserial URLs ----------------------------------------------------------------

class SerialTransport:
    """A pyserial port (``serial.serial_for_url``); errors become :class:`LinkError`. Input that
    was waiting when the port opened (a previous session's output) is discarded."""

    def __init__(self, url: str, baudrate: int = DEFAULT_BAUD):
        import serial
        self.url = url
        try:
            self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0,
                                              write_timeout=10)
            self.port.reset_input_buffer()      # stale bytes are not replies to us
        except (serial.SerialException, OSError, ValueError) as exc:
            hint = ("start the virtual board (`spikeloom serve`) or check host and port"
                    if url.startswith(("socket://", "rfc2217://"))
                    else "check that the board is plugged in and the device path is right")
            raise LinkError(f"cannot open {url}: {_reason(exc)}; {hint}") from None
        self._serial = serial

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except (self._serial.SerialException, OSError) as exc:
            raise LinkError(f"write to {self.url} failed: {_reason(exc)}") from None

    def read(self, timeout: float) -> bytes:
        try:
            self.port.timeout = max(timeout, 0.0)
            first = self.port.read(1)
            if not first:
                return b""
            waiting = self.port.in_waiting
            return first + (self.port.read(waiting) if waiting else b"")
        except (self._serial.SerialException, OSError) as exc:
            raise LinkError(f"read from {self.url} failed: {_reason(exc)}") from None

    def close(self) -> None:
        try:
            self.port.close()
        except Exception:   # noqa: BLE001 - closing a dead port must not mask the real error
            pass

    def __repr__(self):
        return f"<SerialTransport {self.url}>"


def _open_serial(url: str, *, config=None, baudrate=None, build_id=None) -> SerialTransport:
    if url.lower().startswith(("socket://", "rfc2217://")):
        scheme = url.split("://", 1)[0]
        try:
            port = urlsplit(url).port
        except ValueError as exc:
            raise LinkError(f"cannot open {url}: {exc} (ports are 1..65535)") from None
        if port is None:
            raise LinkError(f"cannot open {url}: no port given; use {scheme}://HOST:PORT, "
                            f"e.g. {scheme}://127.0.0.1:7000")
    return SerialTransport(url, baudrate or DEFAULT_BAUD)


# -- the golden model in this process --------------------------------------------------------------

class ModelTransport:
    """The golden device in this process: ``write`` queues bytes on it (the abort token is seen
    on arrival), ``read`` lets it execute at most ``slice_ticks`` ticks of RUN and returns what
    it sent, so a RUN of 2**32 - 1 ticks stays interruptible (by the abort token or Ctrl-C).

    A Ctrl-C (SIGINT in the main thread) that lands while the model computes is held until the
    slice ends, so a tick is never cut in half; the slice's output is kept for the next read.
    ``engine`` (one of :data:`ENGINES`) is passed to the GoldenDevice only when given."""

    def __init__(self, config: CoreConfig, build_id: bytes = BUILD_ID, *,
                 engine: str | None = None, slice_ticks: int = SLICE_TICKS):
        from .sim.device import GoldenDevice  # the model is loaded only when asked for
        if engine is not None and engine not in ENGINES:
            raise LinkError(f"model:// engine={engine!r} is not one of {', '.join(ENGINES)}")
        self.config = config
        self.engine = engine
        self.slice_ticks = int(slice_ticks)
        self.device = GoldenDevice(config, build_id,
                                   **({"engine": engine} if engine is not None else {}))
        self._out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.closed:
            raise LinkError("model:// transport is closed")
        self.device.write(bytes(data))

    def read(self, timeout: float) -> bytes:
        if not self._out and self.device.busy:
            with _HeldSigint():
                self._out += self.device.read(max_ticks=self.slice_ticks)
        if not self._out:
            # idle and nothing queued: nothing can arrive before the next write
            time.sleep(max(0.0, min(timeout, 0.05)))
            return b""
        data = bytes(self._out)
        self._out.clear()
        return data

    def close(self) -> None:
        self.closed = True

    def __repr__(self):
        return f"<ModelTransport {self.config.name}>"


class _HeldSigint:
    """Hold a SIGINT that arrives inside the block; raise KeyboardInterrupt when it ends.

    Only in the main thread and only when Python's default handler is installed (anything else
    is the application's business)."""

    def __enter__(self):
        self.hit = False
        self.old = None
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self.old = signal.signal(signal.SIGINT, self._hold)
        return self

    def _hold(self, signum, frame):
        self.hit = True

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
            if self.hit and exc[0] is None:
                raise KeyboardInterrupt
        return False


def _open_model(url: str, *, config=None, baudrate=None, build_id=BUILD_ID):
    parts = urlsplit(url)
    name = (parts.netloc + parts.path).strip("/")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"engine"})
    if unknown:
        raise LinkError(f"{url}: unknown option {unknown[0]!r} (model://PRESET?engine="
                        f"{'|'.join(ENGINES)})")
    engine = query["engine"][-1] if "engine" in query else None
    if name:        # a differing expected config is caught by the INFO check
        cfg = _preset(name)
    else:
        cfg = config if config is not None else preset("default")
    return ModelTransport(cfg, build_id, engine=engine)


def _open_rtlsim(url: str, *, config=None, baudrate=None, build_id=BUILD_ID):
    name = url.split("://", 1)[1].strip("/")
    cfg = _preset(name) if name else (config if config is not None else preset("tiny"))
    rtlsim = importlib.import_module("spikeloom.sim.rtlsim")
    return rtlsim.Transport(cfg, build_id)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def _preset(name: str) -> CoreConfig:
    try:
        return preset(name)
    except ValueError as exc:
        raise LinkError(str(exc)) from None


register_scheme("", _open_serial)
for _scheme in ("socket", "rfc2217", "loop", "spy", "hwgrep", "alt"):
    register_scheme(_scheme, _open_serial)
register_scheme("model", _open_model)
register_scheme("rtlsim", _open_rtlsim)
del _scheme
