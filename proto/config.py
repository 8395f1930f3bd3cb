"""Core configuration: the sizes and widths one build of the core is made with.

A :class:`CoreConfig` is immutable and validated at construction; every error names the bad field
and value. Its :meth:`~CoreConfig.hash` identifies a build: the device reports it in INFO and the
host refuses an image or a device whose hash differs from what it expects.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

__all__ = ["CoreConfig", "PRESETS", "preset"]


@dataclasses.dataclass(frozen=True)
class CoreConfig:
    """Sizes, widths and clocking of one core build.

    Optional features (docs/numerics.md), each off by default so small builds stay small:
    ``theta_width`` > 0 adds the adaptive threshold ``theta`` of that many bits;
    ``inh_current`` splits the synaptic current into ``i`` (positive weights) and ``i_inh``
    (negative weights), each with its own decay; ``delay_bits`` > 0 gives every synapse a delay
    of ``1 + d`` ticks, ``d`` < ``2**delay_bits``; ``rule_bits`` > 1 lets each synapse pick one of
    ``2**rule_bits - 1`` plasticity rules; ``probe_slots`` > 0 streams the state of that many
    selected neurons during a RUN (docs/protocol.md).

    Sources are numbered inputs first (``0 .. n_inputs-1``), then neurons
    (``n_inputs .. n_inputs+n_neurons-1``); the weight store has one row per source and one column
    per neuron (all-to-all, recurrent and self connections included).
    """

    n_neurons: int = 64
    n_inputs: int = 32
    v_width: int = 16           # membrane potential V, signed, saturating
    i_width: int = 16           # synaptic current I, signed, saturating
    w_width: int = 8            # weights, signed
    trace_width: int = 8        # STDP pre/post traces, unsigned, saturating
    refractory_width: int = 8   # refractory counter, unsigned
    decay_frac: int = 12        # fractional bits of decay factors (factor 2**decay_frac means 1.0)
    stdp_frac: int = 8          # fractional bits of the STDP rates a_plus / a_minus
    weights_per_word: int = 4   # weights packed into one weight-memory word
    theta_width: int = 0        # adaptive threshold theta, unsigned, saturating; 0 = no theta
    inh_current: bool = False   # a second, inhibitory current i_inh for the negative weights
    delay_bits: int = 0         # per-synapse delay d of that many bits (1 + d ticks); 0 = none
    rule_bits: int = 1          # per-synapse plasticity rule index (0 = static); 1 = one rule
    probe_slots: int = 0        # neurons whose state can be streamed every tick; 0 = no probes
    clock_hz: int = 12_000_000  # core clock
    baud: int = 1_000_000       # UART line rate; the divisor is clock_hz // baud
    name: str = "custom"

    def __post_init__(self):
        def check_int(field, lo, hi=None):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"CoreConfig.{field} must be an int, not {value!r}")
            if value < lo or (hi is not None and value > hi):
                bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
                raise ValueError(f"CoreConfig.{field} = {value} is out of range ({bound})")

        check_int("n_neurons", 1, 32767)
        check_int("n_inputs", 1, 32767)
        if self.n_sources > 65535:
            raise ValueError(f"CoreConfig: n_inputs + n_neurons = {self.n_sources} exceeds 65535")
        check_int("v_width", 16, 32)
        check_int("i_width", 16, 32)
        check_int("w_width", 2, 16)
        check_int("trace_width", 2, 16)
        check_int("refractory_width", 1, 16)
        check_int("decay_frac", 12, 16)
        check_int("stdp_frac", 0, 16)
        check_int("weights_per_word", 1, 16)
        check_int("theta_width", 0, 32)
        check_int("delay_bits", 0, 6)
        check_int("rule_bits", 1, 3)
        check_int("probe_slots", 0, 255)
        if not isinstance(self.inh_current, bool):
            raise TypeError(f"CoreConfig.inh_current must be a bool, not {self.inh_current!r}")
        check_int("clock_hz", 1_000)
        check_int("baud", 300)
        if self.w_width >= self.i_width:
            raise ValueError(
                f"CoreConfig.w_width = {self.w_width} must be narrower than "
                f"i_width = {self.i_width}")
        if self.theta_width > self.v_width:
            raise ValueError(
                f"CoreConfig.theta_width = {self.theta_width} must not exceed "
                f"v_width = {self.v_width}")
        if self.uart_divisor < 4:
            raise ValueError(
                f"CoreConfig.baud = {self.baud} is too fast for clock_hz = {self.clock_hz}: "
                f"divisor {self.uart_divisor} < 4")
        if self.probe_slots and 4 + self.probe_slots * self.probe_bytes > 512:
            raise ValueError(
                f"CoreConfig.probe_slots = {self.probe_slots}: a PROBE event of every field of "
                f"every slot ({self.probe_bytes} bytes each) exceeds the 512-byte payload")
        if not isinstance(self.name, str):
            raise TypeError(f"CoreConfig.name must be a str, not {self.name!r}")

    # -- derived sizes ----------------------------------------------------------------------------

    @property
    def n_sources(self) -> int:
        """Rows of the weight store: inputs then neurons."""
        return self.n_inputs + self.n_neurons

    @property
    def words_per_row(self) -> int:
        """Weight-memory words per source row (the last word may be partly unused)."""
        return -(-self.n_neurons // self.weights_per_word)

    @property
    def weight_words(self) -> int:
        return self.n_sources * self.words_per_row

    @property
    def uart_divisor(self) -> int:
        """Clock cycles per UART bit."""
        return self.clock_hz // self.baud

    @property
    def probe_bytes(self) -> int:
        """PROBE event bytes of one slot with every field selected (docs/protocol.md, 5)."""
        widths = [self.v_width, self.i_width, self.trace_width, self.theta_width,
                  self.i_width if self.inh_current else 0]
        return sum((w + 7) // 8 for w in widths)

    def source_of_neuron(self, j: int) -> int:
        return self.n_inputs + j

    # -- identity ---------------------------------------------------------------------------------

    def fields(self) -> dict:
        """Every field that changes the hardware (the name does not). An optional neuron
        feature that is off (``theta_width = 0``, ``inh_current = False``) builds exactly the
        hardware from before the feature existed, so it is left out: its hash stays the same."""
        d = dataclasses.asdict(self)
        d.pop("name")
        for field, off in _FEATURES_OFF.items():
            if d[field] == off:
                del d[field]
        return d

    def hash(self) -> int:
        """32-bit configuration hash: the first 4 bytes (big-endian) of SHA-256 over the sorted
        JSON of :meth:`fields`. Stable across Python versions and machines."""
        blob = json.dumps(self.fields(), sort_keys=True, separators=(",", ":")).encode()
        return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big")

    def replace(self, **changes) -> CoreConfig:
        return dataclasses.replace(self, **changes)


#: Optional neuron features and their "off" value (docs/numerics.md, "Optional features").
_FEATURES_OFF = {"theta_width": 0, "inh_current": False, "delay_bits": 0, "rule_bits": 1,
                 "probe_slots": 0}


PRESETS: dict[str, CoreConfig] = {
    # fast tests: tiny memories, non-trivial packing
    "tiny": CoreConfig(n_neurons=8, n_inputs=4, weights_per_word=4, name="tiny",
                       clock_hz=1_000_000, baud=100_000),
    # tests with another packing: one weight per word, ragged sizes
    "narrow": CoreConfig(n_neurons=11, n_inputs=5, weights_per_word=1, name="narrow",
                         w_width=6, trace_width=7, clock_hz=1_000_000, baud=100_000),
    # the optional neuron features (adaptive threshold, inhibitory current) on the tiny sizes
    "tiny_full": CoreConfig(n_neurons=8, n_inputs=4, weights_per_word=4, name="tiny_full",
                            theta_width=8, inh_current=True, clock_hz=1_000_000, baud=100_000),
    # per-synapse delays (1 .. 8 ticks) with both currents on the tiny sizes
    "tiny_delay": CoreConfig(n_neurons=8, n_inputs=4, weights_per_word=4, name="tiny_delay",
                             delay_bits=3, inh_current=True, clock_hz=1_000_000, baud=100_000),
    # the virtual board and the demos
    "default": CoreConfig(n_neurons=128, n_inputs=64, weights_per_word=4, name="default",
                          clock_hz=12_000_000, baud=1_000_000),
    # iCEBreaker (iCE40UP5K): weights in SPRAM (16-bit words, two 8-bit weights); an 8-bit
    # theta fits, exc/inh currents and probe slots do not (docs/boards.md: it records state
    # through reads instead). Clock 24 MHz from the 12 MHz oscillator through the PLL
    # (2026-12-05, issue 21: the product registers in the SB_MAC16s, the learner's compares
    # beside the weight read, the dispatcher's strobes registered, the walks' read address
    # free of the bank-collision decision: 5213/5280 LCs, 25.6 MHz at a 24 MHz constraint with
    # the default seed, met; docs/boards.md "Clock"). 6 Mbaud: the FT2232H's exact 12 MHz / 2,
    # divisor 4 here, the smallest the UART and dispatcher are measured to sustain
    # (bench/link.py); 12 Mbaud would need divisor 2
    "up5k": CoreConfig(n_neurons=256, n_inputs=128, weights_per_word=2, name="up5k",
                       theta_width=8, clock_hz=24_000_000, baud=6_000_000),
    # 512 x 256: a simulation size (the model and benchmarks); it does not fit a ULX3S-85F
    # (233 of 208 DP16KD measured), whose board preset is ulx3s_85f below
    "ecp5_85": CoreConfig(n_neurons=512, n_inputs=256, weights_per_word=4, name="ecp5_85",
                          clock_hz=25_000_000, baud=3_125_000),
    # board presets, sizes found by bisecting real builds (docs/boards.md):
    # probe slots on the ECP5 and Artix presets: 56, the most whose PROBE event of every field
    # fits the 512-byte payload (4 + 56 x 9 bytes = 508). v of all 56 every tick is 141 wire
    # bytes a tick (bench/probes.py: 30 for one neuron, ~2 more each), within the 300 bytes a
    # 3 Mbaud line carries per 1 ms tick (200 at the Arty's 2 Mbaud): 56 at 1,000 ticks/s
    # ULX3S ECP5-85F, 512 x 128 with a 16-bit theta, exc/inh currents and the 56 probe slots:
    # 201/208 DP16KD, 9367 LUT4 (246 as LUT RAM), 2482 FF, Fmax 64.1 MHz at its 60 MHz clock
    # with nextpnr seed 2 (2026-12-05; 58.7 with the default seed: firmware.boards pins it);
    # before: 9161 LUT4, 63.8 MHz
    # (EHXPLLL 25 -> 60 MHz, VCO 780 MHz; met; 2026-12-04, issue 21: the dual store's learn
    # stage and registered addresses, SCAN's decay stage, the host write a clock after its
    # acceptance, the RX stage, the emitter's buffer in LUT RAM, the READ length registered;
    # it ran at 30 MHz, 36.5 MHz Fmax, before; docs/boards.md "Clock" has every step).
    # FT231X at 3 Mbaud, its fastest rate, exact as 60 MHz / 20 (bench/link.py: the
    # dispatcher sustains the line at divisors 4 and 10 in simulation, so at 20 as well)
    "ulx3s_85f": CoreConfig(n_neurons=512, n_inputs=128, weights_per_word=4, name="ulx3s_85f",
                            theta_width=16, inh_current=True,
                            probe_slots=56, clock_hz=60_000_000, baud=3_000_000),
    # ULX3S ECP5-25F, 208 x 104 (224 x 112 needs 59 of its 56 DP16KD) with a 16-bit theta,
    # exc/inh currents and the 56 probe slots: 55/56 DP16KD, 8222 LUT4 (156 LUT RAM), 2444 FF,
    # Fmax 65.4 MHz at its 60 MHz clock (met; 2026-12-05; 63.7 before, the same issue-21 steps
    # as ulx3s_85f; it ran at 30 MHz, 31.6-35.2 MHz Fmax, before: docs/boards.md); FT231X at
    # 3 Mbaud as above
    "ulx3s_25f": CoreConfig(n_neurons=208, n_inputs=104, weights_per_word=4, name="ulx3s_25f",
                            theta_width=16, inh_current=True,
                            probe_slots=56, clock_hz=60_000_000, baud=3_000_000),
    # ULX3S ECP5-85F with per-synapse delays of 1 .. 8 ticks: the delay store (S x N x 3 bits)
    # and the ring (8 accumulator rows per neuron, two currents) need the block RAM that
    # ulx3s_85f spends on neurons, so half the neurons: 92/208 DP16KD, Fmax 35.9 MHz at 30 MHz
    # (one build, docs/boards.md; room left for a larger core)
    "ulx3s_85f_delay": CoreConfig(n_neurons=256, n_inputs=128, weights_per_word=4,
                                  name="ulx3s_85f_delay", theta_width=16, inh_current=True,
                                  delay_bits=3, probe_slots=56,
                                  clock_hz=30_000_000, baud=3_000_000),
    # ULX3S ECP5-85F with three plasticity rules per synapse (rule_bits = 2: stochastic
    # rounding, soft bound, modulation; the rule learner takes 4 MULT18X18D a lane) on the
    # ulx3s_85f_delay sizes: 11294 LUT4, 80/208 DP16KD, 24/156 MULT18X18D, Fmax 41.5 MHz at
    # 30 MHz (one build, before the request register and three-stage SCAN; docs/boards.md)
    "ulx3s_85f_rules": CoreConfig(n_neurons=256, n_inputs=128, weights_per_word=4,
                                  name="ulx3s_85f_rules", theta_width=16, inh_current=True,
                                  rule_bits=2, clock_hz=30_000_000, baud=3_000_000),
    # Arty A7-35: sized from its 50 RAMB36 with margin; not measurable here (needs Vivado);
    # the neuron features add ~2 RAMB36 (wider neuron words, a second accumulator; estimated);
    # 2 Mbaud: 50 MHz / 25 exactly; the FT2232H's 3 Mbaud is not a whole divisor of 50 MHz
    "arty_a7": CoreConfig(n_neurons=256, n_inputs=128, weights_per_word=4, name="arty_a7",
                          theta_width=16, inh_current=True,
                          probe_slots=56, clock_hz=50_000_000, baud=2_000_000),
}


def preset(name: str) -> CoreConfig:
    """The preset called ``name``; ValueError lists the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown configuration {name!r}; known: {', '.join(sorted(PRESETS))}") from None
