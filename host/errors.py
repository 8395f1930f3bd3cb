"""``spikeloom.errors``: the exception tree, re-exported from :mod:`spikeloom.proto.errors`.

The classes live at the bottom of the stack (``proto``) so that every layer (gateware helpers,
simulation backends, firmware builds, the host) raises the same ones; this module is the name
users and the host import. ``spikeloom.errors.Error is spikeloom.proto.errors.Error``.
"""

from __future__ import annotations

from .proto.errors import (
    BoardBusy,
    BuildError,
    CompileError,
    ConfigMismatch,
    DeviceError,
    Error,
    FitError,
    ImageError,
    LinkError,
    LinkTimeout,
    ProtocolError,
    RunAborted,
    ToolNotFound,
    VersionMismatch,
)

__all__ = [
    "Error", "LinkError", "LinkTimeout", "BoardBusy", "ProtocolError", "DeviceError", "RunAborted",
    "VersionMismatch", "ConfigMismatch", "CompileError", "FitError", "ImageError", "BuildError",
    "ToolNotFound",
]
