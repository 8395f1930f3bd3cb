"""spikeloom.sim — the golden model and the simulation backends."""

__all__ = ["model"]
