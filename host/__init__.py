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
"""

from .board import Board, Info, open_board
from .compiler import Report, compile
from .errors import (
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
from .proto import PRESETS, CoreConfig, preset
from .result import Result

__version__ = "0.1.0"

open = open_board   # noqa: A001 - `spikeloom.open(url)` is the documented entry point

__all__ = [
    "Network", "Population", "Projection", "LIF", "STDP", "OneToOne", "AllToAll",
    "FixedProbability", "compile", "Report", "Image", "open", "open_board", "Board", "Info",
    "Result", "CoreConfig", "PRESETS", "preset", "Error", "LinkError", "LinkTimeout",
    "ProtocolError", "DeviceError", "VersionMismatch", "ConfigMismatch", "CompileError",
    "FitError", "ImageError", "ImageConfigMismatch", "BuildError", "ToolNotFound",
    "__version__",
]
