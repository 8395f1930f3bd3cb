"""Recording neuron state during a run through the device's probes (docs/host.md, "Recording
state").

``board.run(ticks, inputs, record={"exc": ["v", "i"]}, record_every=k)`` plans a
:class:`~spikeloom.proto.probes.ProbeSetup` (one probe slot per recorded neuron) with
:func:`plan`, checks it fits the core (its ``probe_slots``) and the line at the run's period,
and collects the PROBE events with :class:`Collector`. The result exposes each recorded field as
a :class:`Trace`: a ``(samples, n)`` float array in model units whose ``.raw`` holds the
integers; samples are the run's ticks ``0, k, 2k, ...`` (``Trace.ticks``).

Model units: ``v`` = ``v_rest + raw / scale``; ``i``, ``i_inh``, ``theta`` = ``raw / scale``;
``y`` (the post trace) is its integer value.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .proto import protocol as P
from .proto.config import PRESETS
from .proto.errors import FitError, ProtocolError
from .proto.memmap import probe_fields
from .proto.probes import MAX_EVERY, ProbeSetup

__all__ = ["Trace", "plan", "Collector", "line_bytes_per_tick"]

_U32 = 1 << 32


class Trace(np.ndarray):
    """A recorded field: ``(samples, n)`` floats in model units; ``.raw`` the integers,
    ``.ticks`` the run tick of each sample."""

    raw: np.ndarray
    ticks: np.ndarray

    def __new__(cls, values, raw, ticks):
        obj = np.asarray(values, float).view(cls)
        obj.raw, obj.ticks = raw, ticks
        return obj

    def __array_finalize__(self, obj):
        self.raw = getattr(obj, "raw", None)
        self.ticks = getattr(obj, "ticks", None)


@dataclasses.dataclass(frozen=True)
class _Watch:
    """One recorded population: where its neurons are and what is recorded of them."""
    name: str
    start: int
    size: int
    fields: tuple
    scale: float
    v_rest: np.ndarray


def plan(config, populations, record, every) -> tuple[ProbeSetup, list[_Watch]]:
    """The probe setup for ``record`` (``{population: [fields]}``) on ``config`` with the
    image's ``populations`` (``{name: PopulationInfo}``); FitError naming the problem."""
    if not isinstance(every, (int, np.integer)) or isinstance(every, bool) \
            or not 1 <= every <= MAX_EVERY:
        raise FitError(f"record_every = {every!r} must be an integer in 1..{MAX_EVERY}")
    if not config.probe_slots:
        with_probes = [n for n, c in PRESETS.items() if c.probe_slots]
        raise FitError(f"recording state needs probes; configuration {config.name!r} has "
                       "probe_slots = 0: run a tick at a time and read the state back "
                       "(board.run(1), board.read_state(); exact, slower), or use a "
                       f"configuration with probes ({', '.join(with_probes)})")
    if not isinstance(record, dict) or not record:
        raise FitError(f"record must be a dict {{population: [fields]}}, not {record!r}")
    have = [name for name, _ in probe_fields(config)]
    slots, watches = [], []
    for pop, fields in record.items():
        fields = (fields,) if isinstance(fields, str) else tuple(fields)
        info = populations.get(getattr(pop, "name", pop))
        if info is None or info.kind != "neurons":
            names = [n for n, p in populations.items() if p.kind == "neurons"]
            raise FitError(f"record: {pop!r} is not a neuron population of the loaded image "
                           f"({', '.join(names)})")
        bad = [f for f in fields if f not in have]
        if bad or not fields or len(set(fields)) != len(fields):
            raise FitError(f"record[{info.name!r}] = {list(fields)}: fields must be distinct "
                           f"names among {have} on configuration {config.name!r}")
        slots += [(info.start + j, fields) for j in range(info.size)]
        watches.append(_Watch(info.name, info.start, info.size, fields, info.scale,
                              np.broadcast_to(np.asarray(info.v_rest, float), (info.size,))))
    if len(slots) > config.probe_slots:
        raise FitError(f"recording {len(slots)} neurons needs {len(slots)} probe slots; "
                       f"configuration {config.name!r} has {config.probe_slots}: record fewer "
                       "neurons (a PopulationView) or run several times")
    setup = ProbeSetup(tuple(slots), int(every))
    setup.check(config)
    return setup, watches


def line_bytes_per_tick(config, setup: ProbeSetup | None) -> float:
    """Wire bytes per tick at most (before SLIP escapes): the longest SPIKES frame plus the
    PROBE frame every ``setup.every`` ticks (END, header, payload, CRC, END)."""
    frame = 2 + P.HEADER_BYTES + P.CRC_BYTES
    spikes = frame + P.SPIKES_HEAD.size + (config.n_neurons + 7) // 8
    probe = 0.0 if setup is None else (frame + setup.payload_bytes(config)) / setup.every
    return spikes + probe


def check_line(config, setup: ProbeSetup, period: int) -> None:
    """FitError when a RUN with ``period`` cycles per tick cannot carry the spikes and probes
    (a device never drops output: it would fall behind the period instead)."""
    if not period:
        return      # flat out: the device paces itself by the line
    need = 10 * line_bytes_per_tick(config, setup) / config.baud
    have = period / config.clock_hz
    if need > have:
        raise FitError(
            f"recording {len(setup.slots)} neurons every {setup.every} tick(s) needs "
            f"{need * 1e6:.0f} us of line per tick at {config.baud} baud, the period is "
            f"{have * 1e6:.0f} us: record fewer neurons or fields, use record_every, or a "
            "longer period")


class Collector:
    """The PROBE events of one run: checks their ticks (a gap means a lost frame) and
    assembles the traces."""

    def __init__(self, url, config, setup: ProbeSetup, watches, ticks: int):
        self.url, self.config, self.setup, self.watches = url, config, setup, watches
        self.ticks = ticks
        self.samples = []       # (device tick, {(slot, field): value})

    def on_probe(self, payload: bytes) -> None:
        try:
            self.samples.append(self.setup.parse(self.config, payload))
        except ValueError as exc:
            raise ProtocolError(f"{self.url} sent a malformed PROBE event: {exc}") from None

    def traces(self, first_tick: int, ran: int) -> dict[str, dict[str, Trace]]:
        """``{population: {field: Trace}}`` for a run whose first tick had the device number
        ``first_tick`` and that ran ``ran`` ticks; ProtocolError if a sample is missing."""
        every = self.setup.every
        want = np.arange(0, ran, every)
        got = np.array([(t - first_tick) % _U32 for t, _ in self.samples], np.int64)
        if got.shape != want.shape or np.any(got != want):
            raise ProtocolError(f"{self.url} sent PROBE events for ticks {got[:8].tolist()}..., "
                                f"expected {want[:8].tolist()}...: events were lost")
        out, slot = {}, 0
        for w in self.watches:
            fields = {}
            for f in w.fields:
                raw = np.array([[vals[slot + j, f] for j in range(w.size)]
                                for _, vals in self.samples], np.int64).reshape(-1, w.size)
                if f == "v":
                    values = w.v_rest + raw / w.scale
                elif f == "y":
                    values = raw.astype(float)
                else:
                    values = raw / w.scale
                fields[f] = Trace(values, raw, want)
            out[w.name] = fields
            slot += w.size
        return out
