"""State probes: the PROBES region's words and the PROBE event payload (docs/protocol.md, 5, 9).

A core built with ``probe_slots`` = K > 0 has the region ``PROBES`` of K + 1 words, all of the
layout ``{neuron u16, one select bit per probe field}`` (``memmap.probe_fields``: v, i, i_inh,
theta, y, the optional ones only where the core has them):

- word k < K is slot k: the neuron it watches and the fields it streams (no bit set: slot off);
- word K is the sampling word: its ``neuron`` field holds ``every - 1`` (a sample every
  ``every``-th tick, 1..65536); its select bits are stored and otherwise ignored.

The device keeps a tick phase: a tick is sampled when the phase is 0; after each tick the phase
steps to ``phase + 1``, or to 0 once it reached ``every - 1``. Any WRITE to PROBES and RESET
CONFIG (which zeroes the region: every slot off, ``every`` = 1) set the phase to 0, so the first
tick run after configuring is sampled. After a sampled tick with at least one slot on, the
device sends one PROBE event (after that tick's SPIKES event, same seq): ``PROBE_HEAD`` (u32
tick, as in SPIKES), then for every slot that is on, in slot order, its selected fields in field
order, each ``ceil(width / 8)`` bytes little-endian, signed fields sign-extended to those bytes;
the values are the state after the tick. A slot whose neuron is >= N streams zeros.

:class:`ProbeSetup` is the host's side: slots and ``every`` to words, a payload to values.
:func:`probe_payload` is the device's side (the golden device).
"""

from __future__ import annotations

import dataclasses

from . import protocol as P
from .config import CoreConfig
from .memmap import Region, layouts, probe_fields

__all__ = ["ProbeSetup", "probe_payload", "field_bytes", "MAX_EVERY"]

MAX_EVERY = 1 << 16     # the sampling word's neuron field holds every - 1 (u16)


def field_bytes(width: int) -> int:
    """Bytes a field of ``width`` bits takes in a PROBE event."""
    return (width + 7) // 8


@dataclasses.dataclass(frozen=True)
class ProbeSetup:
    """What to stream: ``slots`` = ``[(neuron, (field names...)), ...]`` (at most
    ``probe_slots``, names from ``memmap.probe_fields``), a sample every ``every``-th tick."""

    slots: tuple
    every: int = 1

    def check(self, cfg: CoreConfig) -> None:
        """ValueError naming the problem unless the setup fits ``cfg``."""
        if not cfg.probe_slots:
            raise ValueError(f"configuration {cfg.name!r} has no probes (probe_slots = 0)")
        if len(self.slots) > cfg.probe_slots:
            raise ValueError(f"{len(self.slots)} probed neurons exceed the "
                             f"{cfg.probe_slots} probe slots of {cfg.name!r}")
        if not 1 <= self.every <= MAX_EVERY:
            raise ValueError(f"record every {self.every} ticks: must be 1..{MAX_EVERY}")
        have = [name for name, _ in probe_fields(cfg)]
        for neuron, names in self.slots:
            if not 0 <= neuron < cfg.n_neurons:
                raise ValueError(f"probed neuron {neuron} outside 0..{cfg.n_neurons - 1}")
            bad = [f for f in names if f not in have]
            if bad:
                raise ValueError(f"{cfg.name!r} cannot probe {bad[0]!r} (it has {have})")

    def words(self, cfg: CoreConfig) -> list[int]:
        """The K + 1 PROBES words (unused slots off)."""
        self.check(cfg)
        lay = layouts(cfg)[Region.PROBES]
        out = [lay.pack({"neuron": nrn, **{f: 1 for f in names}}) for nrn, names in self.slots]
        out += [0] * (cfg.probe_slots - len(self.slots))
        return out + [lay.pack({"neuron": self.every - 1})]

    def payload_bytes(self, cfg: CoreConfig) -> int:
        """PROBE event payload bytes of one sample."""
        widths = dict((n, f.width) for n, f in probe_fields(cfg))
        return P.PROBE_HEAD.size + sum(field_bytes(widths[f]) for _, names in self.slots
                                       for f in names)

    def parse(self, cfg: CoreConfig, payload: bytes) -> tuple[int, dict]:
        """``(tick, {(slot, field): value})`` of a PROBE payload; ValueError if malformed."""
        if len(payload) != self.payload_bytes(cfg):
            raise ValueError(f"PROBE payload of {len(payload)} bytes, expected "
                             f"{self.payload_bytes(cfg)}")
        tick = P.PROBE_HEAD.unpack(payload)["tick"]
        fields = dict(probe_fields(cfg))
        off, out = P.PROBE_HEAD.size, {}
        for k, (_, names) in enumerate(self.slots):
            for name, f in fields.items():      # payload order is field order
                if name in names:
                    nb = field_bytes(f.width)
                    out[k, name] = int.from_bytes(payload[off:off + nb], "little",
                                                  signed=f.signed)
                    off += nb
        return tick, out


def probe_payload(cfg: CoreConfig, words: list[int], tick: int, state: dict) -> bytes:
    """The PROBE payload a device with PROBES ``words`` sends for ``tick``, ``state`` being the
    core's state after it (``{field: per-neuron int array}``: v, i, i_inh, theta, y); b"" when
    no slot is on (no event)."""
    lay = layouts(cfg)[Region.PROBES]
    fields = probe_fields(cfg)
    body = bytearray()
    on = False
    for word in words[:cfg.probe_slots]:
        sel = lay.unpack(word)
        neuron = sel["neuron"]
        for name, f in fields:
            if sel[name]:
                on = True
                v = int(state[name][neuron]) if neuron < cfg.n_neurons else 0
                nb = field_bytes(f.width)
                body += (v & ((1 << 8 * nb) - 1)).to_bytes(nb, "little")
    if not on:
        return b""
    return P.PROBE_HEAD.pack(tick=tick) + bytes(body)

