"""spikeloom — open neuromorphic hardware emulator: the host API."""

from .proto import PRESETS, CoreConfig, preset

__version__ = "0.1.0"
__all__ = ["CoreConfig", "PRESETS", "preset", "__version__"]
