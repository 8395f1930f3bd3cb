"""spikeloom — open neuromorphic hardware emulator: the host API.

::

    import spikeloom as sl
    net = sl.Network()
    inp = net.inputs(64, name="in")
    exc = net.population(128, sl.LIF(tau_mem=20.0, tau_syn=5.0, threshold=1.0), name="exc")
    proj = net.connect(inp, exc, weights=W, stdp=sl.STDP(a_plus=0.01, a_minus=0.012))
    image = sl.compile(net, target="default")
    with sl.open("model://") as board:        # or "socket://127.0.0.1:7000", "/dev/ttyUSB1"
        board.load(image)
        result = board.run(1000, inputs={"in": spikes})
        w = board.read_weights(proj)

See docs/host.md for the user guide.

The package root is lazy (PEP 562): it is also the parent of ``spikeloom.proto``,
``spikeloom.hdl``, ``spikeloom.sim`` and ``spikeloom.firmware``, and importing one of those must
not load the host (README, "Layers"). Each public name below is imported from its module on first
access; ``from spikeloom import X``, ``sl.X`` and ``dir(spikeloom)`` work as with eager imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> (module, attribute); resolved by __getattr__ on first use, then cached
_EXPORTS = {
    "Board": ("board", "Board"), "Info": ("board", "Info"), "open_board": ("board", "open_board"),
    "open": ("board", "open_board"),   # `spikeloom.open(url)` is the documented entry point
    "Report": ("compiler", "Report"), "compile": ("compiler", "compile"),
    "CompileWarning": ("compiler", "CompileWarning"),
    "from_nir": ("nir", "from_nir"), "to_nir": ("nir", "to_nir"),
    "Image": ("image", "Image"), "ImageConfigMismatch": ("image", "ImageConfigMismatch"),
    "Result": ("result", "Result"),
    "PRESETS": ("proto", "PRESETS"), "CoreConfig": ("proto", "CoreConfig"),
    "preset": ("proto", "preset"),
    **{name: ("network", name) for name in (
        "LIF", "LI", "STDP", "AllToAll", "FixedProbability", "Network", "OneToOne", "Population",
        "Projection")},
    **{name: ("errors", name) for name in (
        "BoardBusy", "BuildError", "CompileError", "ConfigMismatch", "DeviceError", "Error",
        "FitError", "ImageError", "LinkError", "LinkTimeout", "ProtocolError", "RunAborted",
        "ToolNotFound", "VersionMismatch")},
}

__all__ = [
    "Network", "Population", "Projection", "LIF", "LI", "STDP", "OneToOne", "AllToAll",
    "FixedProbability", "compile", "Report", "Image", "open", "open_board", "Board", "Info",
    "Result", "CoreConfig", "PRESETS", "preset", "Error", "LinkError", "LinkTimeout",
    "ProtocolError", "DeviceError", "RunAborted", "VersionMismatch", "ConfigMismatch",
    "CompileError", "CompileWarning", "FitError", "ImageError", "ImageConfigMismatch",
    "BuildError", "ToolNotFound", "BoardBusy", "from_nir", "to_nir", "sweep",
    "__version__",
]


def __getattr__(name: str):
    if name == "sweep":     # the module itself: callable, so sl.sweep(fn, grid) works too
        return importlib.import_module(f"{__name__}.sweep")
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'spikeloom' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    globals()[name] = value         # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:       # what type checkers and readers see; never executed
    from . import sweep
    from .board import Board, Info, open_board
    from .board import open_board as open  # noqa: A004
    from .compiler import CompileWarning, Report, compile
    from .errors import (
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
    from .image import Image, ImageConfigMismatch
    from .network import (
        LIF,
        STDP,
        AllToAll,
        FixedProbability,
        Network,
        OneToOne,
        Population,
        Projection,
    )
    from .nir import from_nir, to_nir
    from .proto import PRESETS, CoreConfig, preset
    from .result import Result
