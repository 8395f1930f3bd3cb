"""spikeloom.firmware — board targets, bitstream builds and flashing."""

__all__ = []
