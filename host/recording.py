"""Recording neuron state during a run (docs/host.md, "Recording state").

``board.run(ticks, inputs, record={"exc": ["v", "i"]}, record_every=k)`` samples the recorded
fields after the run's ticks ``0, k, 2k, ...`` in one of two ways, with the same values:

- **probes** (the core's ``probe_slots`` hold every recorded neuron): :func:`plan` makes a
  :class:`~spikeloom.proto.probes.ProbeSetup` (one slot per neuron), :func:`check_line` checks
  the line at the run's period, and :class:`Collector` gathers the PROBE events the device
  streams alongside the spikes;
- **reads** (a core without enough slots, e.g. the iCEBreaker's ``up5k``, or ``via="reads"``):
  :class:`ReadBack` cuts the run into RUNs that end on the sampled ticks and follows each with
  READs of the recorded neurons' NEURON_STATE (and POST_TRACE for ``y``) words, pipelined with
  everything else (no round trip per sample: the line and the READ replies' bytes set the pace).

The result exposes each recorded field as a :class:`Trace`: a ``(samples, n)`` float array in
model units whose ``.raw`` holds the integers; ``Trace.ticks`` are the sampled run ticks.

Model units: ``v`` = ``v_rest + raw / scale``; ``i``, ``i_inh``, ``theta`` = ``raw / scale``;
``y`` (the post trace) is its integer value.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import regions as codec
from .link import Request
from .proto import protocol as P
from .proto.config import PRESETS
from .proto.errors import FitError, ProtocolError
from .proto.memmap import Region, layouts, probe_fields
from .proto.probes import MAX_EVERY, ProbeSetup
from .proto.protocol import Opcode

__all__ = ["Trace", "plan", "Collector", "ReadBack", "line_bytes_per_tick", "check_line"]

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


VIAS = ("probes", "reads")


def plan(config, populations, record, every, via=None) -> tuple[ProbeSetup | None, list[_Watch]]:
    """How ``record`` (``{population: [fields]}``) is sampled on ``config`` with the image's
    ``populations`` (``{name: PopulationInfo}``): ``(ProbeSetup, watches)`` through probes, or
    ``(None, watches)`` through reads. ``via``: None (probes when the core's slots hold every
    recorded neuron, else reads), "probes" or "reads". FitError naming the problem."""
    if not isinstance(every, (int, np.integer)) or isinstance(every, bool) \
            or not 1 <= every <= MAX_EVERY:
        raise FitError(f"record_every = {every!r} must be an integer in 1..{MAX_EVERY}")
    if via not in (None, *VIAS):
        raise FitError(f"record_via = {via!r} must be None, 'probes' or 'reads'")
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
    if via is None:
        via = "probes" if len(slots) <= config.probe_slots else "reads"
    if via == "reads":
        return None, watches
    if len(slots) > config.probe_slots:
        with_probes = [n for n, c in PRESETS.items() if c.probe_slots]
        raise FitError(f"recording {len(slots)} neurons through probes needs {len(slots)} "
                       f"probe slots; configuration {config.name!r} has {config.probe_slots}: "
                       "record through reads (record_via='reads' or None), fewer neurons, or "
                       f"use a configuration with more slots ({', '.join(with_probes)})")
    setup = ProbeSetup(tuple(slots), int(every))
    setup.check(config)
    return setup, watches


def line_bytes_per_tick(config, setup) -> float:
    """Wire bytes per tick at most from the device (before SLIP escapes): the longest SPIKES
    frame plus, every ``setup.every`` ticks, the PROBE frame (a :class:`ProbeSetup`) or the RUN
    reply and READ replies (a :class:`ReadBack`); ``setup`` None: the spikes alone."""
    spikes = _FRAME + P.SPIKES_HEAD.size + (config.n_neurons + 7) // 8
    if setup is None:
        return spikes
    if isinstance(setup, ReadBack):
        return spikes + setup.reply_bytes() / setup.every
    return spikes + (_FRAME + setup.payload_bytes(config)) / setup.every


def check_line(config, setup, period: int) -> None:
    """FitError when a RUN with ``period`` cycles per tick cannot carry the spikes and the
    samples of ``setup`` (a :class:`ProbeSetup` or a :class:`ReadBack`; a device never drops
    output: it would fall behind the period instead)."""
    if not period:
        return      # flat out: the device paces itself by the line
    need = 10 * line_bytes_per_tick(config, setup) / config.baud
    have = period / config.clock_hz
    if need > have:
        n = setup.n_neurons if isinstance(setup, ReadBack) else len(setup.slots)
        raise FitError(
            f"recording {n} neurons every {setup.every} tick(s) needs "
            f"{need * 1e6:.0f} us of line per tick at {config.baud} baud, the period is "
            f"{have * 1e6:.0f} us: record fewer neurons or fields, use record_every, or a "
            "longer period")


_FRAME = 2 + P.HEADER_BYTES + P.CRC_BYTES      # END, header, CRC, END around a payload


def _trace(w: _Watch, field: str, raw: np.ndarray, ticks: np.ndarray) -> Trace:
    """``raw`` (samples, w.size) of ``field`` in model units: ``v`` from ``v_rest``, ``y`` as
    its integer, the others ``raw / scale``."""
    if field == "v":
        values = w.v_rest + raw / w.scale
    elif field == "y":
        values = raw.astype(float)
    else:
        values = raw / w.scale
    return Trace(values, raw, ticks)


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

    def traces(self, first_tick: int, ran: int, partial: bool = False) -> dict:
        """``{population: {field: Trace}}`` for a run whose first tick had the device number
        ``first_tick`` and that ran ``ran`` ticks; ProtocolError if a sample is missing, unless
        ``partial`` (an aborted run: the samples that arrived, in order from tick 0)."""
        every = self.setup.every
        want = np.arange(0, ran, every)
        got = np.array([(t - first_tick) % _U32 for t, _ in self.samples], np.int64)
        if partial:
            want = want[:got.size]
        if got.shape != want.shape or np.any(got != want):
            raise ProtocolError(f"{self.url} sent PROBE events for ticks {got[:8].tolist()}..., "
                                f"expected {want[:8].tolist()}...: events were lost")
        out, slot = {}, 0
        for w in self.watches:
            out[w.name] = {
                f: _trace(w, f, np.array([[vals[slot + j, f] for j in range(w.size)]
                                          for _, vals in self.samples],
                                         np.int64).reshape(-1, w.size), want)
                for f in w.fields}
            slot += w.size
        return out


class ReadBack:
    """Recording through reads: the READs that follow each sampled tick and the assembly of
    their replies into traces.

    The run is cut so that a RUN ends on every sampled tick (``sample_ticks``); after it the
    board's request plan sends :meth:`requests` (tagged with the tick), whose replies go to
    :meth:`on_reply`. Per recorded population one window of its NEURON_STATE words (its fields
    other than ``y``) and one of its POST_TRACE words (``y``), each split into READs of at most
    ``max_payload`` bytes. The device executes requests in order, so a sample is the state
    after its tick, exactly what a probe streams."""

    def __init__(self, url, config, watches, every: int, ticks: int, max_payload: int):
        self.url, self.config, self.watches = url, config, watches
        self.every, self.ticks = int(every), int(ticks)
        self.n_neurons = sum(w.size for w in watches)
        lays = layouts(config)
        reads = []              # (region, addr, count, watch index, offset in the watch)
        for wi, w in enumerate(watches):
            regions_ = [Region.NEURON_STATE] if set(w.fields) - {"y"} else []
            regions_ += [Region.POST_TRACE] if "y" in w.fields else []
            for region in regions_:
                step = max(1, max_payload // lays[region].nbytes)
                reads += [(region, w.start + a, min(step, w.size - a), wi, a)
                          for a in range(0, w.size, step)]
        self.reads = tuple(reads)
        self._raw = {(wi, f): [] for wi, w in enumerate(watches) for f in w.fields}
        self._ticks = []        # the sampled ticks whose every READ has been answered
        self._part = 0          # READs of the current sample answered so far

    def sample_ticks(self) -> range:
        return range(0, self.ticks, self.every)

    def requests(self, tick: int):
        """The READ requests of the sample after run tick ``tick``."""
        for k, (region, addr, count, _, _) in enumerate(self.reads):
            yield Request(Opcode.READ, P.READ_REQ.pack(region=region, addr=addr, count=count),
                          retry=False, tag=("sample", tick, k))

    def reply_bytes(self) -> int:
        """Wire bytes (before escapes) a sample costs from the device: the RUN reply that ends
        its stretch and its READ replies."""
        lays = layouts(self.config)
        return (_FRAME + P.RUN_REPLY.size
                + sum(_FRAME + count * lays[region].nbytes
                      for region, _, count, _, _ in self.reads))

    def on_reply(self, req: Request, payload: bytes) -> bool:
        """Take the reply of one of :meth:`requests` (True), or leave another one (False)."""
        tag = req.tag
        if not (isinstance(tag, tuple) and tag[:1] == ("sample",)):
            return False
        _, tick, k = tag
        region, _, count, wi, _ = self.reads[k]
        nb = layouts(self.config)[region].nbytes
        if k != self._part or len(payload) != count * nb:
            raise ProtocolError(f"{self.url} answered READ {k} of the sample after tick "
                                f"{tick} with {len(payload)} bytes (expected {count * nb}, "
                                f"READ {self._part} next): replies were lost")
        fields = codec.decode(self.config, region, payload)
        for f in self.watches[wi].fields:
            if (f == "y") == (region == Region.POST_TRACE):
                self._raw[wi, f].append(fields[f])
        self._part += 1
        if self._part == len(self.reads):
            self._part = 0
            self._ticks.append(tick)
        return True

    def traces(self, first_tick: int, ran: int, partial: bool = False) -> dict:
        """``{population: {field: Trace}}`` of a run that ran ``ran`` ticks (``first_tick``,
        the device's number of its first, is not needed: the ticks are the run's own);
        ProtocolError if a sample is missing, unless ``partial`` (an aborted run: the samples
        that arrived)."""
        want = np.arange(0, ran, self.every)
        got = np.asarray(self._ticks, np.int64)
        if partial:
            want = want[:got.size]
        if got.shape != want.shape or np.any(got != want):
            raise ProtocolError(f"{self.url} answered the READs of samples {got[:8].tolist()}"
                                f"..., expected {want[:8].tolist()}...: replies were lost")
        out = {}
        for wi, w in enumerate(self.watches):
            fields = {}
            for f in w.fields:
                parts = self._raw[wi, f]    # READ by READ, sample by sample
                raw = np.concatenate(parts) if parts else np.zeros(0, np.int64)
                raw = raw[:want.size * w.size].reshape(want.size, w.size).astype(np.int64)
                fields[f] = _trace(w, f, raw, want)
            out[w.name] = fields
        return out
