"""Recognising the virtual board's text lines: "board busy" and "disconnected after idle".

The virtual board (``spikeloom serve``, sim/vboard.cpp) serves one client at a time. It does not
frame its session notices: a client that connects while another holds the board receives one
plain line of ASCII text and the connection is closed::

    spikeloom virtual board: board busy (held by 127.0.0.1:PORT since HH:MM:SS)\\n

and a client dropped for being idle receives, before the close::

    spikeloom virtual board: disconnected after S s idle\\n

Neither line contains a SLIP ``END`` (0xC0) or ``ESC`` (0xDB), so to a :class:`Deframer` it is
an unfinished body: the bytes sit in ``Deframer.buf`` unchanged when the transport then reports
the closed connection. :func:`check` turns those bytes into the right exception.

Contract: ``check(data, url)`` raises :class:`BoardBusy` (text: the ``board busy (...)`` part of
the line) if ``data`` holds the busy line, :class:`~spikeloom.errors.LinkError` with the
board's words if it holds another line of the virtual board, and returns None otherwise. It
accepts a line whose tail (the newline, or more) was cut off, since a reader may lose the
last bytes before an end-of-file error.
"""

from __future__ import annotations

from .errors import BoardBusy, LinkError

__all__ = ["MARK", "BoardBusy", "check"]

MARK = b"spikeloom virtual board: "
_BUSY = "board busy"
_TAIL = 200     # a notice line is shorter than this


def check(data: bytes, url: str = "the device") -> None:
    """Raise the error the virtual board's notice line in ``data`` stands for (see above)."""
    k = bytes(data).rfind(MARK)
    if k < 0:
        return
    line = bytes(data[k + len(MARK):k + len(MARK) + _TAIL]).split(b"\n", 1)[0]
    text = line.decode("ascii", "replace").strip()
    if text.startswith(_BUSY):
        raise BoardBusy(f"{url}: {text}; try again when it is released")
    raise LinkError(f"{url}: the virtual board closed the connection: {text}")
