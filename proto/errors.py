"""The exception hierarchy of spikeloom: one root, precise subclasses.

It lives at the bottom of the stack (``spikeloom.proto.errors``, importing nothing) so that every
layer may raise it; users import it as ``spikeloom.errors`` or from ``spikeloom`` itself. Every
error spikeloom raises on purpose derives from :class:`Error`, so a script can catch them all
with ``except spikeloom.Error``. Messages say what went wrong *and* what to do about it; the CLI
prints them as one line (``spikeloom: error: ...``).

::

    Error
    ├── LinkError                 the byte link to a device failed
    │   ├── LinkTimeout           no (complete) reply in time
    │   ├── BoardBusy             another client holds the virtual board (says who, since when)
    │   └── ProtocolError         a reply that breaks docs/protocol.md
    │       └── DeviceError       the device answered with an error status (.status)
    ├── RunAborted                Board.abort() stopped a run (.result: the ticks that ran)
    ├── VersionMismatch           the device speaks another protocol version
    ├── ConfigMismatch            device / image / expected configuration differ
    ├── CompileError              a network cannot be compiled (names the population/projection)
    │   └── FitError              it does not fit the target (says what and by how much)
    ├── ImageError                an image file is unreadable, corrupt or for another config
    ├── BuildError                a bitstream build failed (e.g. timing)
    └── ToolNotFound              an external tool (programmer, toolchain) is not installed
"""

from __future__ import annotations

__all__ = [
    "Error", "LinkError", "LinkTimeout", "BoardBusy", "ProtocolError", "DeviceError", "RunAborted",
    "VersionMismatch", "ConfigMismatch", "CompileError", "FitError", "ImageError", "BuildError",
    "ToolNotFound",
]


class Error(Exception):
    """Root of every spikeloom error."""


class LinkError(Error):
    """The link to a device failed (port cannot be opened, closed, I/O error)."""


class LinkTimeout(LinkError):
    """No complete reply arrived within the timeout."""


class BoardBusy(LinkError):
    """Another client holds the virtual board; the message says who and since when."""


class ProtocolError(LinkError):
    """A reply that violates the protocol (malformed payload, wrong opcode, garbage)."""


class DeviceError(ProtocolError):
    """The device answered a request with an error status.

    ``status`` is the :class:`spikeloom.proto.Status` (or the raw int if unknown), ``opcode`` the
    request's opcode when known.
    """

    def __init__(self, message: str, status=None, opcode=None):
        super().__init__(message)
        self.status = status
        self.opcode = opcode


class RunAborted(Error):
    """A run was stopped early by :meth:`spikeloom.Board.abort` (from another thread).

    ``result`` is the :class:`spikeloom.Result` of the ticks that ran before the device stopped
    (``result.ticks`` of them); the board is usable afterwards (see docs/host.md, "Aborting").
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


class VersionMismatch(Error):
    """The device speaks a protocol version this library does not."""


class ConfigMismatch(Error):
    """A configuration differs from the one expected (device vs image vs the caller's)."""


class CompileError(Error):
    """The network cannot be compiled; the message names the population or projection."""


class FitError(CompileError):
    """The network does not fit the target; the message says what and by how much."""


class ImageError(Error):
    """An image file cannot be used (unreadable, corrupt, wrong format version)."""


class BuildError(Error):
    """A bitstream build failed (synthesis, place and route, or timing)."""


class ToolNotFound(Error):
    """An external tool needed for this operation is not installed."""
