"""spikeloom.hdl — the gateware, Amaranth 0.5 components."""

__all__ = []
