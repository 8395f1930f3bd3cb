"""spikeloom.proto — the contract shared by gateware, host and golden model.

Core configuration and presets (:mod:`.config`), fixed-point rules (:mod:`.fixed`), the memory
map (:mod:`.memmap`) and the wire protocol (:mod:`.protocol`). Imports nothing else of ours.
"""

from .config import PRESETS, CoreConfig, preset
from .memmap import Field, Layout, Region, layouts, region_words
from .protocol import VERSION, Opcode, ResetFlags, Status

__all__ = [
    "CoreConfig", "PRESETS", "preset", "Field", "Layout", "Region", "layouts", "region_words",
    "VERSION", "Opcode", "Status", "ResetFlags",
]
