"""Byte transports to a device: serial ports and pyserial URLs, and the in-process golden model.

A transport is any object with ``write(data: bytes) -> None``, ``read(timeout: float) -> bytes``
(whatever arrived, possibly ``b""`` after ``timeout`` seconds) and ``close()``. The protocol
client (:mod:`spikeloom.link`) needs nothing else, so tests can pass their own (e.g.
``spikeloom.sim.rtlsim.Transport``, the RTL top in Amaranth's simulator).

:func:`open_transport` maps a URL to a transport:

- ``model://`` / ``model://PRESET``: :class:`ModelTransport`, a
  :class:`spikeloom.sim.device.GoldenDevice` in this process (``PRESET`` defaults to the
  ``config`` argument, else ``"default"``);
- anything else: :class:`SerialTransport` through ``serial.serial_for_url`` -- a device path
  (``/dev/ttyUSB1``, ``COM3``), ``socket://host:port`` (the virtual board), ``rfc2217://``,
  ``loop://`` ...
"""

from __future__ import annotations

import time

from .errors import LinkError
from .proto.config import CoreConfig, preset
from .proto.protocol import BUILD_ID

__all__ = ["SerialTransport", "ModelTransport", "open_transport", "DEFAULT_BAUD"]

DEFAULT_BAUD = 1_000_000


class SerialTransport:
    """A pyserial port (``serial.serial_for_url``); errors become :class:`LinkError`."""

    def __init__(self, url: str, baudrate: int = DEFAULT_BAUD):
        import serial
        self.url = url
        try:
            self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0,
                                              write_timeout=10)
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


class ModelTransport:
    """The golden device in this process: ``write`` feeds it, ``read`` returns its output."""

    def __init__(self, config: CoreConfig, build_id: bytes = BUILD_ID):
        from .sim.device import GoldenDevice
        self.config = config
        self.device = GoldenDevice(config, build_id)
        self._out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.closed:
            raise LinkError("model:// transport is closed")
        self._out += self.device.feed(bytes(data))

    def read(self, timeout: float) -> bytes:
        if not self._out:
            # the model answers synchronously inside write(): nothing more can arrive
            time.sleep(max(0.0, min(timeout, 0.05)))
            return b""
        data = bytes(self._out)
        self._out.clear()
        return data

    def close(self) -> None:
        self.closed = True

    def __repr__(self):
        return f"<ModelTransport {self.config.name}>"


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def open_transport(url: str, config: CoreConfig | str | None = None,
                   baudrate: int | None = None, build_id: bytes = BUILD_ID):
    """A transport for ``url`` (see the module docstring)."""
    if not isinstance(url, str) or not url:
        raise LinkError(f"no device URL given ({url!r}): use a serial port, socket://HOST:PORT "
                        "or model://")
    if url.startswith("model://"):
        name = url[len("model://"):].strip("/")
        if isinstance(config, str):
            config = _preset(config)
        if name:        # a differing expected config is caught by the INFO check
            cfg = _preset(name)
        else:
            cfg = config if config is not None else preset("default")
        return ModelTransport(cfg, build_id)
    return SerialTransport(url, baudrate or DEFAULT_BAUD)


def _preset(name: str) -> CoreConfig:
    try:
        return preset(name)
    except ValueError as exc:
        raise LinkError(str(exc)) from None
