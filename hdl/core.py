"""The core: a time-multiplexed LIF/STDP engine behind a memory-request interface.

SKELETON: the interface below is the fixed contract (see the module docstring of the full
version); the engine behind it is being filled in.
"""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..proto.config import CoreConfig
from ..proto.memmap import Region, layouts, region_words

__all__ = ["Core", "SpikeLayout", "req_layout", "addr_width", "data_width", "WEIGHT_STORES"]

WEIGHT_STORES = ("dual", "spram")

#: One element of the ``spikes`` stream: a neuron index (``end = 0``), or the end-of-tick marker
#: (``end = 1``) whose ``neuron`` field carries the number of spikes of the tick.
SpikeLayout = data.StructLayout({"neuron": unsigned(16), "end": unsigned(1)})


def addr_width(cfg: CoreConfig) -> int:
    """Bits of ``mem_req.addr``: enough for the largest region's word count."""
    words = max(region_words(cfg, r) for r in Region)
    return max(1, (words - 1).bit_length())


def data_width(cfg: CoreConfig) -> int:
    """Bits of ``mem_req.data`` and ``mem_rsp``: the widest region layout."""
    return max(lay.width for lay in layouts(cfg).values())


def req_layout(cfg: CoreConfig) -> data.StructLayout:
    """The payload of ``mem_req``."""
    return data.StructLayout({
        "region": unsigned(3), "addr": unsigned(addr_width(cfg)), "write": unsigned(1),
        "data": unsigned(data_width(cfg))})


class Core(wiring.Component):
    def __init__(self, cfg, *, weight_store="dual", store_factory=None):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        if weight_store not in WEIGHT_STORES:
            raise ValueError(f"weight_store must be one of {WEIGHT_STORES}, not {weight_store!r}")
        if store_factory is not None:
            if weight_store != "spram":
                raise ValueError(f"store_factory {store_factory!r} needs weight_store='spram'")
            if not callable(store_factory):
                raise TypeError(f"store_factory must be callable, not {store_factory!r}")
        self.cfg = cfg
        self.weight_store = weight_store
        self.store_factory = store_factory
        self.ADDR_W = addr_width(cfg)
        self.DATA_W = data_width(cfg)
        self.ReqLayout = req_layout(cfg)
        super().__init__({
            "mem_req": In(stream.Signature(self.ReqLayout)),
            "mem_rsp": Out(stream.Signature(unsigned(self.DATA_W))),
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "clear": In(3),
            "spikes": Out(stream.Signature(SpikeLayout)),
            "ticks": Out(32),
            "spike_count": Out(32),
            "syn_events": Out(32),
            "last_tick_cycles": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        pending = Signal()
        m.d.comb += [
            self.mem_req.ready.eq(~pending & ~self.busy),
            self.mem_rsp.valid.eq(pending),
            self.mem_rsp.payload.eq(0),
        ]
        with m.If(self.mem_req.valid & self.mem_req.ready):
            m.d.sync += pending.eq(1)
        with m.If(self.mem_rsp.valid & self.mem_rsp.ready):
            m.d.sync += pending.eq(0)
        m.d.sync += self.done.eq((self.start != 0) | (self.clear != 0))
        return m
