"""The memory map: regions of the core, their word layouts, and how words travel as bytes.

Each region is an array of words. A word is a packed record described by a :class:`Layout` (a
table of fields, least significant first). The same table packs words in Python (host, golden
device) and builds the ``amaranth.lib.data.StructLayout`` the gateware uses
(:meth:`Layout.struct`), so the bit layout exists once.

On the wire a word is ``Layout.nbytes`` bytes, little-endian, of the packed unsigned integer;
signed fields are stored in two's complement inside their bit range.
"""

from __future__ import annotations

import dataclasses
import enum
import functools

from .config import CoreConfig

__all__ = ["Field", "Layout", "Region", "layouts", "regions", "region_words",
           "check_region_address", "PROBE_FIELDS", "probe_fields", "n_rules"]


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    width: int
    signed: bool = False


class Layout:
    """An ordered table of fields packed from bit 0 upward."""

    def __init__(self, fields):
        self.fields = tuple(fields)
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate field in layout {names}")
        self.offsets = {}
        off = 0
        for f in self.fields:
            self.offsets[f.name] = off
            off += f.width
        self.width = off

    @property
    def nbytes(self) -> int:
        return (self.width + 7) // 8

    def field(self, name) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def pack(self, values: dict) -> int:
        """Pack a ``{name: int}`` dict; a value that does not fit its field is a ValueError."""
        word = 0
        for f in self.fields:
            v = int(values.get(f.name, 0))
            lo, hi = ((-(1 << (f.width - 1)), (1 << (f.width - 1)) - 1) if f.signed
                      else (0, (1 << f.width) - 1))
            if not lo <= v <= hi:
                raise ValueError(f"field {f.name} = {v} does not fit {f.width} "
                                 f"{'signed' if f.signed else 'unsigned'} bits ({lo}..{hi})")
            word |= (v & ((1 << f.width) - 1)) << self.offsets[f.name]
        return word

    def unpack(self, word: int) -> dict:
        out = {}
        for f in self.fields:
            v = (word >> self.offsets[f.name]) & ((1 << f.width) - 1)
            if f.signed and v >> (f.width - 1):
                v -= 1 << f.width
            out[f.name] = v
        return out

    def to_bytes(self, word: int) -> bytes:
        return word.to_bytes(self.nbytes, "little")

    def from_bytes(self, data: bytes) -> int:
        """The word in ``data``; bits above :attr:`width` must be zero (else ValueError)."""
        word = int.from_bytes(data, "little")
        if word >> self.width:
            raise ValueError(f"word {data.hex()} has bits set above bit {self.width - 1}")
        return word

    def struct(self):
        """The equivalent ``amaranth.lib.data.StructLayout`` (imports Amaranth on demand)."""
        from amaranth.hdl import signed, unsigned
        from amaranth.lib import data
        return data.StructLayout({
            f.name: (signed(f.width) if f.signed else unsigned(f.width)) for f in self.fields})

    def __repr__(self):
        return f"Layout({', '.join(f'{f.name}:{f.width}' for f in self.fields)})"


class Region(enum.IntEnum):
    """Memory regions addressable by READ and WRITE (the region byte on the wire)."""
    NEURON_PARAMS = 0   # one word per neuron
    NEURON_STATE = 1    # one word per neuron: V, I, refractory counter (+ i_inh, theta)
    WEIGHTS = 2         # words_per_row words per source row, weights_per_word lanes each
    PLASTIC = 3         # same addressing as WEIGHTS, one bit per lane
    PRE_TRACE = 4       # one word per source
    POST_TRACE = 5      # one word per neuron
    STDP_PARAMS = 6     # a single word
    SPIKES = 7          # one word per source: the spikes to deliver in the next tick (1 bit);
                        # input bits are what INJECT set, neuron bits are last tick's spikes
    DELAYS = 8          # same addressing as WEIGHTS, delay_bits per lane (d: 1 + d ticks);
                        # only with delay_bits > 0
    PROBES = 9          # probe_slots slot words then one sampling word (only with probes)
    LEARN = 10          # rule_bits > 1 only: word 0 the rounding generator's state, word 1 the
                        # modulation factor (docs/numerics.md, "Plasticity rules")


def layouts(cfg: CoreConfig) -> dict[Region, Layout]:
    """The word layout of every region ``cfg`` has (a fresh dict; the layouts are shared). A
    region of an optional feature is absent while the feature is off."""
    return dict(_layouts(cfg))


def regions(cfg: CoreConfig) -> tuple[Region, ...]:
    """The regions ``cfg`` has, ascending: every base region, and an optional feature's region
    (``DELAYS``, ``PROBES``, ``LEARN``) only while the feature is on; the others answer
    BAD_REGION."""
    return tuple(sorted(_layouts(cfg)))


@functools.lru_cache(maxsize=64)
def _layouts(cfg: CoreConfig) -> dict[Region, Layout]:
    # cached per configuration: hosts and the golden device ask for layouts per request
    alpha = cfg.decay_frac + 1      # factors 0 .. 2**decay_frac (1.0) fit
    # optional features append their fields, so a word without them is the word of before
    par_opt, st_opt = [], []
    if cfg.inh_current:
        par_opt.append(Field("alpha_inh", alpha))       # decay of the inhibitory current
        st_opt.append(Field("i_inh", cfg.i_width, True))
    if cfg.theta_width:
        par_opt += [Field("theta_jump", cfg.theta_width), Field("alpha_theta", alpha)]
        st_opt.append(Field("theta", cfg.theta_width))
    opt_regions = {}
    if cfg.delay_bits:
        opt_regions[Region.DELAYS] = Layout([
            Field(f"d{k}", cfg.delay_bits) for k in range(cfg.weights_per_word)])
    if cfg.probe_slots:
        opt_regions[Region.PROBES] = Layout([Field("neuron", 16),
                                             *(Field(f, 1) for f, _ in probe_fields(cfg))])
    if cfg.rule_bits > 1:
        opt_regions[Region.LEARN] = Layout([Field("value", 32)])
    return {
        Region.NEURON_PARAMS: Layout([
            Field("threshold", cfg.v_width, True),
            Field("v_reset", cfg.v_width, True),
            Field("bias", cfg.v_width, True),
            Field("refractory", cfg.refractory_width),
            Field("alpha_mem", alpha),
            Field("alpha_syn", alpha),
            Field("reset_subtract", 1),     # 0: V := v_reset; 1: V := V - (threshold + theta)
            *par_opt,
            Field("no_spike", 1),           # 1: never fires (a leaky integrator, sl.LI)
        ]),
        Region.NEURON_STATE: Layout([
            Field("v", cfg.v_width, True),
            Field("i", cfg.i_width, True),  # with inh_current: the excitatory current
            Field("ref", cfg.refractory_width),
            *st_opt,
        ]),
        Region.WEIGHTS: Layout([
            Field(f"w{k}", cfg.w_width, True) for k in range(cfg.weights_per_word)]),
        # with rule_bits > 1 a lane is a rule index (0 = static), else the plasticity bit
        Region.PLASTIC: Layout([Field(f"p{k}", cfg.rule_bits)
                                for k in range(cfg.weights_per_word)]),
        Region.PRE_TRACE: Layout([Field("x", cfg.trace_width)]),
        Region.POST_TRACE: Layout([Field("y", cfg.trace_width)]),
        Region.STDP_PARAMS: Layout([
            Field("enable", 1),
            Field("a_plus", 16),
            Field("a_minus", 16),
            Field("pre_jump", cfg.trace_width),
            Field("post_jump", cfg.trace_width),
            Field("alpha_pre", alpha),
            Field("alpha_post", alpha),
            Field("w_min", cfg.w_width, True),
            Field("w_max", cfg.w_width, True),
            *_rule_fields(cfg),
        ]),
        Region.SPIKES: Layout([Field("s", 1)]),
        **opt_regions,
    }


#: The state a probe can stream, in payload order, and the region whose word holds it.
PROBE_FIELDS = (("v", Region.NEURON_STATE), ("i", Region.NEURON_STATE),
                ("i_inh", Region.NEURON_STATE), ("theta", Region.NEURON_STATE),
                ("y", Region.POST_TRACE))


def probe_fields(cfg: CoreConfig) -> list[tuple[str, Field]]:
    """``[(name, state field)]`` a probe of ``cfg`` can stream, in payload order (``i_inh`` and
    ``theta`` only where the core has them). The PROBES word has one select bit per entry; the
    fields are those of the NEURON_STATE / POST_TRACE layouts."""
    have = {"v": Field("v", cfg.v_width, True), "i": Field("i", cfg.i_width, True),
            "y": Field("y", cfg.trace_width)}
    if cfg.inh_current:
        have["i_inh"] = Field("i_inh", cfg.i_width, True)
    if cfg.theta_width:
        have["theta"] = Field("theta", cfg.theta_width)
    return [(name, have[name]) for name, _ in PROBE_FIELDS if name in have]


def _rule_fields(cfg: CoreConfig) -> list[Field]:
    """The per-rule flags a STDP_PARAMS word gains with rule_bits > 1 (none with one rule, so
    the word stays the word of before)."""
    if cfg.rule_bits == 1:
        return []
    return [Field("soft", 1), Field("stochastic", 1), Field("modulated", 1)]


def n_rules(cfg: CoreConfig) -> int:
    """Plasticity rules of ``cfg``: ``2**rule_bits - 1`` (rule ``r`` is STDP_PARAMS word
    ``r - 1``; index 0 of a PLASTIC lane means static)."""
    return (1 << cfg.rule_bits) - 1


def region_words(cfg: CoreConfig, region: Region) -> int:
    """Number of words in ``region``; 0 for a region ``cfg`` does not have."""
    return {
        Region.NEURON_PARAMS: cfg.n_neurons,
        Region.NEURON_STATE: cfg.n_neurons,
        Region.WEIGHTS: cfg.weight_words,
        Region.PLASTIC: cfg.weight_words,
        Region.PRE_TRACE: cfg.n_sources,
        Region.POST_TRACE: cfg.n_neurons,
        Region.STDP_PARAMS: n_rules(cfg),
        Region.SPIKES: cfg.n_sources,
        Region.DELAYS: cfg.weight_words if cfg.delay_bits else 0,
        # the probe slots, then the sampling word; no probes, no region (BAD_REGION)
        Region.PROBES: cfg.probe_slots + 1 if cfg.probe_slots else 0,
        Region.LEARN: 2 if cfg.rule_bits > 1 else 0,
    }[Region(region)]


def check_region_address(cfg: CoreConfig, region: int, addr: int, count: int) -> None:
    """ValueError unless ``count`` words from ``addr`` lie inside ``region``."""
    try:
        r = Region(region)
    except ValueError:
        raise ValueError(f"no region {region}") from None
    if r not in _layouts(cfg):
        raise ValueError(f"no region {r.name} in this configuration")
    n = region_words(cfg, r)
    if count < 0 or addr < 0 or addr + count > n:
        raise ValueError(f"{r.name}[{addr}:{addr + count}] is outside 0..{n}")
