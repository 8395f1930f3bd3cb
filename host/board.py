"""Boards: one API for a real FPGA board, the virtual board and the golden model.

``spikeloom.open(url)`` connects (see :mod:`spikeloom.transport` for URLs), asks INFO, and
checks the protocol version (:class:`VersionMismatch`) and, when ``config`` is given, the core
configuration (:class:`ConfigMismatch`). The :class:`Board` then

- ``load(image)``: RESET (state, config, counters), every region in WRITEs of at most
  ``max_payload`` bytes (all-zero chunks are skipped: the reset zeroed them), then reads every
  region back and compares (``verify=False`` skips that);
- ``run(ticks, inputs=...)``: streams INJECT (ticks with input) and RUN (stretches without),
  pipelined with at most ``RX_BUFFER - 2`` request bytes outstanding, collects the SPIKES events
  into a :class:`~spikeloom.result.Result` (progress bar for long runs); in pieces: a
  :class:`_RunPlan` (the requests), a :class:`_SpikeCollector` (the frame handler), a
  :class:`_Progress`;
- ``abort()``: stops a run from another thread (``run`` raises :class:`RunAborted`); Ctrl-C in
  ``run`` aborts the device's run, then raises KeyboardInterrupt (docs/host.md, "Aborting");
- ``read_weights(projection)``, ``read_state()``, ``status()``, ``reset()``, ``info``, ``ping``;
- is a context manager that always closes the port.

Ticks in a Result count from the start of that run; the device's tick counter (reset by
``load``) is ``result.start_tick``.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from . import recording
from . import regions as codec
from .errors import (
    ConfigMismatch,
    Error,
    LinkError,
    ProtocolError,
    RunAborted,
    VersionMismatch,
)
from .image import Image, PopulationInfo, config_mismatch_message
from .link import Aborted, Link, Request
from .proto import protocol as P
from .proto.config import PRESETS, CoreConfig, preset
from .proto.fixed import MOD_ONE
from .proto.memmap import Region, layouts, region_words, regions
from .proto.protocol import Opcode, ResetFlags
from .result import Result
from .transport import open_transport

__all__ = ["Board", "Info", "PopulationState", "open_board", "MAX_RUN"]

_U32 = 1 << 32
MAX_RUN = _U32 - 1          # the wire's limit: ticks and period of one RUN are u32
_LOAD_ORDER = (Region.NEURON_PARAMS, Region.WEIGHTS, Region.PLASTIC, Region.STDP_PARAMS,
               Region.NEURON_STATE, Region.PRE_TRACE, Region.POST_TRACE, Region.SPIKES)


@dataclasses.dataclass(frozen=True)
class Info:
    """The device's INFO reply."""
    version: int
    config_hash: int
    config: CoreConfig
    max_payload: int
    build_id: bytes

    @classmethod
    def parse(cls, payload: bytes, where: str) -> Info:
        if len(payload) >= 2:
            version = int.from_bytes(payload[:2], "little")
            if version != P.VERSION:
                raise VersionMismatch(
                    f"{where} speaks protocol version {version}, this spikeloom speaks "
                    f"{P.VERSION}: update {'spikeloom' if version > P.VERSION else 'the board'}"
                    f" (rebuild/flash the bitstream) so both match")
        if len(payload) != P.INFO.size:
            raise ProtocolError(f"{where} sent a {len(payload)}-byte INFO reply, expected "
                                f"{P.INFO.size}: not a spikeloom device?")
        d = P.INFO.unpack(payload)
        fields = {k: d[k] for k in ("n_neurons", "n_inputs", "v_width", "i_width", "w_width",
                                    "trace_width", "refractory_width", "decay_frac",
                                    "stdp_frac", "weights_per_word", "clock_hz", "baud",
                                    "theta_width", "delay_bits", "rule_bits", "probe_slots")}
        fields["inh_current"] = bool(d["inh_current"])
        try:
            cfg = CoreConfig(**fields)
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"{where} reports an impossible configuration: {exc}") from None
        name = next((n for n, c in PRESETS.items() if c.hash() == cfg.hash()), "device")
        cfg = cfg.replace(name=name)
        if cfg.hash() != d["config_hash"]:
            raise ProtocolError(
                f"{where} reports config hash 0x{d['config_hash']:08x} but its fields hash to "
                f"0x{cfg.hash():08x}: firmware and protocol definitions disagree")
        build = P.INFO.offset("build_id")
        return cls(d["version"], d["config_hash"], cfg, d["max_payload"],
                   bytes(payload[build:build + 8]))

    def as_dict(self) -> dict:
        out = {"version": self.version, "config": self.config.name,
               "config_hash": f"0x{self.config_hash:08x}"}
        out.update(self.config.fields())
        out["max_payload"] = self.max_payload
        out["build_id"] = self.build_id.decode("ascii", "replace")
        return out


@dataclasses.dataclass
class PopulationState:
    """State of one population read from the device. ``v``/``i`` in model units (raw ints
    divided by the population's scale; ``v`` measured from 0, i.e. plus ``v_rest``), ``*_raw``
    the integers, ``trace`` the STDP trace (post trace for neurons, pre trace for inputs),
    ``spikes`` the pending/last spikes. On a core with the optional features
    (docs/numerics.md): ``i_inh`` the inhibitory current (``inh_current``; ``i`` is then the
    excitatory one) and ``theta`` the adaptive threshold offset (``theta_width > 0``), in model
    units (raw / scale, not shifted by ``v_rest``) and raw; ``None`` without the feature."""
    name: str
    kind: str
    trace: np.ndarray
    spikes: np.ndarray
    v: np.ndarray | None = None
    i: np.ndarray | None = None
    ref: np.ndarray | None = None
    v_raw: np.ndarray | None = None
    i_raw: np.ndarray | None = None
    i_inh: np.ndarray | None = None
    theta: np.ndarray | None = None
    i_inh_raw: np.ndarray | None = None
    theta_raw: np.ndarray | None = None


class Board:
    """A connected device (see the module docstring). Create with :func:`spikeloom.open`."""

    def __init__(self, transport, *, url: str = "<transport>", config=None,
                 timeout: float = 2.0, retries: int = 3):
        self.url = url
        self.transport = transport
        self.link = Link(transport, timeout=timeout, retries=retries, name=url)
        self.image: Image | None = None
        self._closed = False
        try:
            self.info = Info.parse(self.link.request(Opcode.INFO), url)
            self.config = self.info.config
            if config is not None:
                expected = _preset(config) if isinstance(config, str) else config
                if expected.hash() != self.config.hash():
                    raise ConfigMismatch(config_mismatch_message(
                        url, self.config, expected, "the expected configuration")
                        + f"; connect to a device built for {expected.name!r} or compile "
                        f"for {self.config.name!r}")
        except BaseException:
            self.close()
            raise
        self.max_payload = min(self.info.max_payload, P.MAX_PAYLOAD)

    # -- lifetime ----------------------------------------------------------------------------------

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.transport.close()

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self):
        return f"<Board {self.url} {self.config.name!r}>"

    # -- simple requests ---------------------------------------------------------------------------

    def ping(self, payload: bytes = b"spikeloom") -> bytes:
        reply = self.link.request(Opcode.PING, payload)
        if reply != payload:
            raise ProtocolError(f"{self.url} echoed {reply!r} to PING {payload!r}")
        return reply

    def status(self) -> dict:
        """The STATUS counters as a dict (ticks, spikes, syn_events, last_tick_cycles, errors,
        overruns, flags)."""
        reply = self.link.request(Opcode.STATUS)
        if len(reply) != P.STATUS.size:
            raise ProtocolError(f"{self.url} sent a {len(reply)}-byte STATUS reply, expected "
                                f"{P.STATUS.size}")
        return P.STATUS.unpack(reply)

    def reset(self, state: bool = True, config: bool = False, counters: bool = False) -> None:
        """RESET: ``state`` (V, I, traces, spikes), ``config`` (parameters, weights: the loaded
        image is forgotten), ``counters`` (STATUS)."""
        flags = ((ResetFlags.STATE if state else 0) | (ResetFlags.CONFIG if config else 0)
                 | (ResetFlags.COUNTERS if counters else 0))
        self.link.request(Opcode.RESET, bytes([int(flags)]))
        if config:
            self.image = None

    # -- regions -----------------------------------------------------------------------------------

    def _chunk_words(self, region: Region, write: bool) -> int:
        nb = layouts(self.config)[region].nbytes
        room = self.max_payload - (P.WRITE_REQ.size if write else 0)
        return max(1, room // nb)

    def write_region(self, region: Region, data: bytes, addr: int = 0, *,
                     skip_zero: bool = False) -> None:
        """WRITE whole words ``data`` into ``region`` from word ``addr`` (pipelined)."""
        region = Region(region)
        nb = layouts(self.config)[region].nbytes
        step = self._chunk_words(region, True)
        nwords = len(data) // nb

        def requests():
            for w in range(0, nwords, step):
                chunk = data[w * nb:(w + min(step, nwords - w)) * nb]
                if skip_zero and not any(chunk):
                    continue
                head = P.WRITE_REQ.pack(region=region, addr=addr + w)
                yield Request(Opcode.WRITE, head + chunk)
        self.link.pipeline(requests(), on_reply=lambda req, payload: None)

    def read_region(self, region: Region, addr: int = 0, count: int | None = None) -> bytes:
        """READ ``count`` words (default: to the end) of ``region`` from word ``addr``."""
        region = Region(region)
        nb = layouts(self.config)[region].nbytes
        total = region_words(self.config, region)
        count = total - addr if count is None else count
        step = self._chunk_words(region, False)
        out = bytearray()

        def requests():
            for w in range(addr, addr + count, step):
                n = min(step, addr + count - w)
                yield Request(Opcode.READ, P.READ_REQ.pack(region=region, addr=w, count=n),
                              tag=n)

        def got(req, payload):
            if len(payload) != req.tag * nb:
                raise ProtocolError(f"{self.url} answered a READ of {req.tag} words with "
                                    f"{len(payload)} bytes")
            out.extend(payload)
        self.link.pipeline(requests(), on_reply=got)
        return bytes(out)

    # -- images ------------------------------------------------------------------------------------

    def load(self, image: Image | str, *, verify: bool = True) -> None:
        """Load ``image`` (an Image or a .slimg path): reset, write every region, verify."""
        if not isinstance(image, Image):
            image = Image.load(image)
        image.check_config(self.config, f"the device at {self.url}")
        self.image = None
        self.reset(state=True, config=True, counters=True)
        # the base regions in their order, then an optional feature's region (DELAYS)
        order = [*_LOAD_ORDER, *(r for r in image.regions if r not in _LOAD_ORDER)]
        for region in order:
            self.write_region(region, image.regions[region], skip_zero=True)
        if verify:
            for region in order:
                back = self.read_region(region)
                want = image.regions[region]
                if back != want:
                    nb = layouts(self.config)[region].nbytes
                    word = next(k for k in range(len(want) // nb)
                                if back[k * nb:(k + 1) * nb] != want[k * nb:(k + 1) * nb])
                    raise LinkError(
                        f"verification after load failed: {region.name} word {word} reads "
                        f"{back[word * nb:(word + 1) * nb].hex()} instead of "
                        f"{want[word * nb:(word + 1) * nb].hex()} on {self.url}")
        self.image = image

    def _need_image(self, what: str) -> Image:
        if self.image is None:
            raise Error(f"{what} needs a loaded image (board.load(image) first)")
        return self.image

    # -- running -----------------------------------------------------------------------------------

    def _schedule(self, inputs, ticks: int) -> dict[int, np.ndarray]:
        """``{tick: sorted hardware input indices}`` from the forms run() accepts."""
        m = self.config.n_inputs
        events = []
        if inputs is None:
            return {}
        if isinstance(inputs, dict):
            image = self._need_image("inputs by population name")
            for key, value in inputs.items():
                info = image.population(key)
                if info.kind != "inputs":
                    raise ValueError(f"run inputs: {info.name!r} is not an input population")
                ev = self._events_of(value, ticks, info.size, f"inputs[{info.name!r}]")
                ev[:, 1] += info.start
                events.append(ev)
        else:
            width = m
            arr = np.asarray(inputs)
            if arr.dtype == bool and arr.ndim == 2 and self.image is not None and \
                    arr.shape[1] != m:
                width = sum(p.size for p in self.image.populations.values()
                            if p.kind == "inputs")
            events.append(self._events_of(inputs, ticks, width, "inputs"))
        ev = np.concatenate(events) if events else np.zeros((0, 2), np.int64)
        sched = {}
        if ev.size:
            ev = np.unique(ev, axis=0)
            ticks_of = ev[:, 0]
            bounds = np.flatnonzero(np.diff(ticks_of)) + 1
            for part in np.split(ev, bounds):
                sched[int(part[0, 0])] = part[:, 1]
        return sched

    @staticmethod
    def _events_of(value, ticks, width, where) -> np.ndarray:
        arr = np.asarray(value)
        if arr.dtype == bool:
            if arr.ndim != 2 or arr.shape[1] != width or arr.shape[0] > ticks:
                raise ValueError(f"run {where}: a bool raster must have shape (ticks<={ticks}, "
                                 f"{width}), got {arr.shape}")
            return np.argwhere(arr).astype(np.int64)
        if arr.size == 0:
            return np.zeros((0, 2), np.int64)
        if arr.ndim != 2 or arr.shape[1] != 2 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"run {where}: give a bool (ticks, {width}) raster or integer "
                             f"(tick, index) events, got {arr.dtype} array of shape {arr.shape}")
        arr = arr.astype(np.int64)
        bad = np.flatnonzero((arr[:, 0] < 0) | (arr[:, 0] >= ticks))
        if bad.size:
            raise ValueError(f"run {where}: tick {arr[bad[0], 0]} outside 0..{ticks - 1}")
        bad = np.flatnonzero((arr[:, 1] < 0) | (arr[:, 1] >= width))
        if bad.size:
            raise ValueError(f"run {where}: input index {arr[bad[0], 1]} outside 0..{width - 1}")
        return arr

    def run(self, ticks: int, inputs=None, *, period: int = 0, progress=None, record=None,
            record_every: int = 1, record_via: str | None = None, modulation=None) -> Result:
        """Run ``ticks`` ticks, feeding ``inputs``; return the spikes as a Result.

        ``inputs``: None; a bool raster (ticks, n_inputs) over hardware inputs (or over the
        image's input populations, concatenated); integer events ``(tick, input)``; or a dict
        ``{population: raster or events}``. ``period`` (clock cycles per tick, 0 = flat out,
        at most 2**32 - 1) is passed to RUN; a stretch longer than the wire's 2**32 - 1 ticks goes
        as several RUNs. ``progress``: a tqdm bar (True; default: for runs of >= 2000 ticks when
        stderr is a terminal), False, or a callable ``progress(ticks_done, ticks)``.
        ``modulation``: None, or one factor per tick (``ticks`` numbers, 1.0 = the rule as
        compiled, negative reverses it) for the modulated STDP rules of a core with several
        rules (three-factor learning): written to region LEARN before each tick whose factor
        changes, in units of 1/256 (docs/numerics.md); the last factor stays after the run.

        Stopping early (docs/host.md, "Aborting a run"): :meth:`abort` from another thread makes
        this raise :class:`RunAborted` whose ``result`` holds the ticks that ran; Ctrl-C aborts
        the device's run the same way, then KeyboardInterrupt propagates (its spikes are
        dropped). Either way the board is idle afterwards, its state that after the last tick
        run, input spikes queued for ticks that did not run cleared.

        ``record`` (docs/host.md, "Recording state"): ``{population: [fields]}`` with fields
        among v, i, i_inh, theta, y, sampled after the run's ticks 0, k, 2k, ...
        (``record_every=k``); then ``result[pop].v`` is a ``(samples, size)`` array in model
        units (``.raw`` the integers). ``record_via``: "probes" (streamed by the device's probe
        slots, one per neuron, alongside the spikes), "reads" (the run cut into RUNs that end
        on the sampled ticks, each followed by READs of the recorded neurons' words, all
        pipelined: for cores without enough slots, such as the iCEBreaker's), or None (probes
        when the slots hold every recorded neuron, else reads); both give the same values.
        More than the line carries at a nonzero ``period`` is a FitError before anything runs.
        """
        if not isinstance(ticks, (int, np.integer)) or isinstance(ticks, bool) or ticks < 0:
            raise ValueError(f"ticks = {ticks!r} must be an integer >= 0")
        if not isinstance(period, (int, np.integer)) or isinstance(period, bool) \
                or not 0 <= period <= MAX_RUN:
            raise ValueError(f"period = {period!r} must be an integer in 0..{MAX_RUN} (clock "
                             "cycles per tick, a u32 on the wire; 0 = as fast as possible)")
        ticks, period = int(ticks), int(period)
        sched = self._schedule(inputs, ticks)
        probes = None
        if record is not None:
            setup, watches = recording.plan(self.config, self._populations(), record,
                                            record_every, record_via)
            if setup is None:
                probes = recording.ReadBack(self.url, self.config, watches, record_every, ticks,
                                            self.max_payload)
            else:
                probes = recording.Collector(self.url, self.config, setup, watches, ticks)
            recording.check_line(self.config, probes if setup is None else setup, period)
            if setup is not None:
                self._write_probes(setup.words(self.config))
        try:
            return self._run(ticks, sched, period, progress, probes, modulation)
        finally:
            if isinstance(probes, recording.Collector):     # probes off again: later runs
                self._write_probes([0] * region_words(self.config, Region.PROBES))  # send none

    def _write_probes(self, words) -> None:
        lay = layouts(self.config)[Region.PROBES]
        self.write_region(Region.PROBES, b"".join(lay.to_bytes(w) for w in words))

    def _populations(self) -> dict:
        if self.image is not None:
            return dict(self.image.populations)
        return {"neurons": PopulationInfo("neurons", "neurons", 0, self.config.n_neurons),
                "inputs": PopulationInfo("inputs", "inputs", 0, self.config.n_inputs)}

    def _run(self, ticks, sched, period, progress, probes, modulation) -> Result:
        reads = probes if isinstance(probes, recording.ReadBack) else None
        plan = _RunPlan(sched, ticks, period, self.max_payload // 2,
                        self._modulation(modulation, ticks), reads)
        spikes = _SpikeCollector(self.url, ticks, self.config.n_neurons,
                                 _Progress.make(progress, ticks, self.url))
        on_reply = spikes.on_reply
        if reads is not None:
            def on_reply(req, payload):
                if not reads.on_reply(req, payload):
                    spikes.on_reply(req, payload)
        # A SPIKES event covers up to KEEPALIVE_TICKS ticks: with a slow period the line may
        # stay quiet that long, which is no timeout (docs/protocol.md section 5)
        timeout = self.link.timeout
        self.link.timeout = timeout + P.KEEPALIVE_TICKS * period / self.config.clock_hz
        try:
            self.link.pipeline(plan, on_event=spikes.on_event, on_reply=on_reply,
                               abortable=True,
                               on_probe=None if probes is None or reads else probes.on_probe)
        except Aborted:
            if spikes.count != ticks:       # (an abort after the last tick changes nothing)
                self._forget_inputs(sched)
                raise RunAborted(
                    f"the run on {self.url} was aborted after {spikes.count} of {ticks} "
                    "ticks; the ticks that ran are in .result",
                    self._result(spikes, sched, probes, aborted=True)) from None
        except KeyboardInterrupt:
            if self.link.aborted_cleanly:
                self._forget_inputs(sched)
            raise
        finally:
            self.link.timeout = timeout
            spikes.progress.close(spikes.count)
        spikes.progress.done(spikes.count)
        if spikes.count != ticks:
            raise ProtocolError(f"{self.url} sent SPIKES for {spikes.count} of {ticks} ticks")
        return self._result(spikes, sched, probes)

    def _modulation(self, modulation, ticks: int) -> dict[int, bytes]:
        """``{tick: WRITE payload of LEARN word 1}`` for the ticks whose factor changes."""
        if modulation is None:
            return {}
        if Region.LEARN not in regions(self.config):
            raise ValueError(f"modulation needs a core with several plasticity rules "
                             f"(rule_bits > 1); {self.url} has configuration "
                             f"{self.config.name!r} with one")
        try:
            m = np.asarray(modulation, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("modulation must be a sequence of numbers, one per tick") from None
        if m.shape != (ticks,):
            raise ValueError(f"modulation must hold one factor per tick ({ticks}), got shape "
                             f"{m.shape}")
        q = np.round(m * MOD_ONE)
        if not np.all(np.isfinite(q)) or q.min(initial=0) < -32768 or q.max(initial=0) > 32767:
            raise ValueError("modulation factors must be finite and in -128 .. 127.99 "
                             "(16-bit signed, 8 fractional bits)")
        q = q.astype(np.int64)
        change = np.flatnonzero(np.concatenate([[True], q[1:] != q[:-1]])) if ticks else []
        head = P.WRITE_REQ.pack(region=Region.LEARN, addr=1)
        return {int(t): head + (int(q[t]) & 0xFFFF).to_bytes(4, "little") for t in change}

    def abort(self) -> None:
        """Stop the device's run. From another thread while :meth:`run` is streaming: the run
        stops at the next tick boundary and :meth:`run` raises :class:`RunAborted` (this call
        returns at once). Otherwise: the abort token is sent and the board answers a PING
        before this returns (harmless, and a way to resynchronise a confused link)."""
        if not self.link.request_abort():
            self.link.abort()

    def _forget_inputs(self, sched) -> None:
        """After an abort: INJECTs sent before the token were executed, but their ticks did not
        run; clear the pending input spikes so the next run starts from a known state."""
        if sched:
            m = self.config.n_inputs
            self.write_region(Region.SPIKES, bytes(m * layouts(self.config)[Region.SPIKES].nbytes))

    def _result(self, spikes: _SpikeCollector, sched, probes=None, aborted=False) -> Result:
        n, ticks = self.config.n_neurons, spikes.count
        inp = [np.stack([np.full(v.size, t, np.int64), v.astype(np.int64)], axis=1)
               for t, v in sorted(sched.items()) if t < ticks]
        pops = list(self.image.populations.values()) if self.image is not None else [
            PopulationInfo("neurons", "neurons", 0, n), PopulationInfo(
                "inputs", "inputs", 0, self.config.n_inputs)]
        return Result(spikes.events(), ticks, n, populations=pops,
                      dt=self.image.dt if self.image is not None else 1.0,
                      start_tick=spikes.first or 0,
                      input_events=np.concatenate(inp) if inp else None,
                      n_inputs=self.config.n_inputs,
                      recorded=None if probes is None else probes.traces(
                          spikes.first or 0, ticks, partial=aborted),
                      recorded_via=None if probes is None else
                      "reads" if isinstance(probes, recording.ReadBack) else "probes")

    # -- reading back ------------------------------------------------------------------------------

    def read_weights(self, projection, raw: bool = False) -> np.ndarray:
        """The current weights of ``projection`` (a Projection or its name) as a dense
        (src.size, dst.size) matrix: model units (raw / scale), or the integers with
        ``raw=True``; 0 where there is no synapse."""
        image = self._need_image("read_weights")
        info = image.projection(projection)
        wpr = self.config.words_per_row
        src = image.populations[info.src]
        r0 = (0 if src.kind == "inputs" else self.config.n_inputs) + src.start
        data = self.read_region(Region.WEIGHTS, r0 * wpr, src.size * wpr)
        fields = codec.decode(self.config, Region.WEIGHTS, data)
        wpw = self.config.weights_per_word
        lanes = np.stack([fields[f"w{k}"] for k in range(wpw)], axis=1)
        matrix = lanes.reshape(src.size, wpr * wpw)[:, :self.config.n_neurons]
        dst = image.populations[info.dst]
        out = np.zeros((src.size, dst.size), np.int64)
        out[info.pre, info.post] = matrix[info.pre, dst.start + info.post]
        return out if raw else out / info.scale

    def read_state(self) -> dict[str, PopulationState]:
        """Per population (or ``neurons``/``inputs`` without an image): v, i, refractory
        counter, trace and spike flags, and i_inh and theta where the core has them."""
        cfg = self.config
        st = codec.decode(cfg, Region.NEURON_STATE, self.read_region(Region.NEURON_STATE))
        y = codec.decode(cfg, Region.POST_TRACE, self.read_region(Region.POST_TRACE))["y"]
        x = codec.decode(cfg, Region.PRE_TRACE, self.read_region(Region.PRE_TRACE))["x"]
        s = codec.decode(cfg, Region.SPIKES, self.read_region(Region.SPIKES))["s"].astype(bool)
        pops = list(self.image.populations.values()) if self.image is not None else [
            PopulationInfo("neurons", "neurons", 0, cfg.n_neurons),
            PopulationInfo("inputs", "inputs", 0, cfg.n_inputs)]
        out = {}
        for p in pops:
            sl = slice(p.start, p.stop)
            if p.kind == "inputs":
                out[p.name] = PopulationState(p.name, p.kind, x[sl], s[sl])
            else:
                nsl = slice(cfg.n_inputs + p.start, cfg.n_inputs + p.stop)
                extra = {}
                for key in ("i_inh", "theta"):      # optional features' state, when present
                    if key in st:
                        extra.update({key: st[key][sl] / p.scale, f"{key}_raw": st[key][sl]})
                out[p.name] = PopulationState(
                    p.name, p.kind, y[sl], s[nsl],
                    v=np.asarray(p.v_rest, float) + st["v"][sl] / p.scale,   # origin: v_rest
                    i=st["i"][sl] / p.scale, ref=st["ref"][sl], v_raw=st["v"][sl],
                    i_raw=st["i"][sl], **extra)
        return out



class _RunPlan:
    """The request stream of one run: for a tick with input, its INJECTs (at most
    ``per_inject`` indices each) and RUN 1; for a stretch without, RUN n (split at
    :data:`MAX_RUN`); with ``reads`` (a :class:`~spikeloom.recording.ReadBack`) a stretch also
    ends on each sampled tick, followed by that sample's READs. A RUN's tag is its tick
    count."""

    def __init__(self, sched: dict, ticks: int, period: int, per_inject: int,
                 mods: dict | None = None, reads=None):
        self.sched, self.ticks, self.period, self.per_inject = sched, ticks, period, per_inject
        self.mods = mods or {}      # tick -> WRITE payload of the modulation factor
        self.reads = reads

    def __iter__(self):
        # a stretch ends before a tick with input or a new factor, after a tick with input
        # (its spikes are for that tick alone) and after a sampled tick
        sampled = set(self.reads.sample_ticks()) if self.reads is not None else set()
        ends = sorted(set(self.sched) | set(self.mods) | {t + 1 for t in self.sched}
                      | {t + 1 for t in sampled} | {self.ticks})
        t, k = 0, 0
        while t < self.ticks:
            if t in self.mods:
                yield Request(Opcode.WRITE, self.mods[t], retry=False)
            idx = self.sched.get(t)
            for j in range(0, 0 if idx is None else idx.size, self.per_inject):
                body = idx[j:j + self.per_inject].astype("<u2").tobytes()
                yield Request(Opcode.INJECT, body, retry=False)
            while ends[k] <= t:
                k += 1
            stop = ends[k]
            while t < stop:
                n = min(stop - t, MAX_RUN)
                yield Request(Opcode.RUN, P.RUN_REQ.pack(ticks=n, period=self.period),
                              retry=False, tag=n)
                t += n
            if t - 1 in sampled:
                yield from self.reads.requests(t - 1)


class _SpikeCollector:
    """The frame handler of one run: SPIKES events (each a batch of ticks) in tick order, RUN
    replies that confirm their tick counts, progress as ticks arrive. Losses are detected, never
    passed over: an event that does not start where the previous one ended (a lost frame), and a
    RUN reply arriving before every tick it ran was covered by events (the device flushes its
    spike stream before each reply), raise ProtocolError."""

    def __init__(self, url: str, ticks: int, n_neurons: int, progress: _Progress):
        self.url, self.ticks, self.n = url, ticks, n_neurons
        self.progress = progress
        self.first = None           # the device's tick number of the first event
        self.count = 0              # ticks covered by the events received
        self.replied = 0            # ticks run by the RUNs answered so far
        self._ticks, self._neurons = [], []

    def on_event(self, payload: bytes) -> None:
        try:
            tick, covered, spikes = P.parse_spikes(payload, self.n)
        except ValueError as exc:
            raise ProtocolError(f"{self.url} sent a malformed SPIKES event: {exc}") from None
        k = self.count
        if self.first is None:
            self.first = tick
        elif tick != (self.first + k) % _U32:
            raise ProtocolError(f"{self.url} sent SPIKES for tick {tick}, expected "
                                f"{(self.first + k) % _U32}: events were lost")
        if k + covered > self.ticks:
            raise ProtocolError(f"{self.url} sent SPIKES for more ticks than were run")
        if spikes:
            pairs = np.asarray(spikes, np.int64)
            self._ticks.append(pairs[:, 0] + k)
            self._neurons.append(pairs[:, 1])
        self.count = k + covered
        self.progress.tick(self.count, covered)

    def on_reply(self, req: Request, payload: bytes) -> None:
        if req.opcode == Opcode.RUN:
            if len(payload) != P.RUN_REPLY.size or \
                    P.RUN_REPLY.unpack(payload)["ticks"] != req.tag:
                raise ProtocolError(f"{self.url} answered RUN({req.tag}) with {payload!r}")
            self.replied += req.tag
            if self.count != self.replied:
                raise ProtocolError(f"{self.url} ran {self.replied} ticks but sent SPIKES for "
                                    f"{self.count}: events were lost")

    def events(self) -> np.ndarray:
        if not self._ticks:
            return np.zeros((0, 2), np.int64)
        return np.stack([np.concatenate(self._ticks), np.concatenate(self._neurons)], axis=1)


class _Progress:
    """Progress of a run every 64 ticks: a tqdm bar, a callable ``f(done, total)``, or
    nothing."""

    def __init__(self, total: int, bar=None, func=None):
        self.total, self.bar, self.func = total, bar, func

    @classmethod
    def make(cls, progress, ticks: int, url: str) -> _Progress:
        if callable(progress):
            return cls(ticks, func=progress)
        if progress is None:
            progress = ticks >= 2000 and sys.stderr.isatty()
        if not progress:
            return cls(ticks)
        from tqdm import tqdm
        return cls(ticks, bar=tqdm(total=ticks, unit="tick", desc=f"run {url}", leave=False,
                                   mininterval=0.2))

    def tick(self, done: int, step: int = 1) -> None:
        """``done`` ticks arrived, the last ``step`` of them just now."""
        if done // 64 != (done - step) // 64:
            if self.bar is not None:
                self.bar.update(done - self.bar.n)
            if self.func is not None:
                try:
                    self.func(done, self.total)
                except KeyboardInterrupt:
                    # a callback that interrupted the run is not called again while the run
                    # drains (an event then may cover many ticks and cross another 64)
                    self.func = None
                    raise

    def done(self, done: int) -> None:
        """The run completed: a last call of the callable if ``tick`` did not just make it."""
        if self.func is not None and done % 64:
            self.func(done, self.total)

    def close(self, done: int) -> None:
        """Show ``done`` and close the bar (however the run ended)."""
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            self.bar.close()


def open_board(url: str | None = None, config=None, timeout: float = 2.0, *, transport=None,
               baudrate: int | None = None, retries: int = 3,
               build_id: bytes = P.BUILD_ID) -> Board:
    """Connect to a device: ``url`` (serial path, pyserial URL, ``model://[PRESET]``) or a
    ready ``transport`` object. ``config`` (CoreConfig or preset name) is what you expect; a
    device with another configuration raises ConfigMismatch."""
    if transport is None:
        if isinstance(config, str):
            config = _preset(config)
        transport = open_transport(url, config, baudrate, build_id)
        name = url
    else:
        name = url or type(transport).__name__
    return Board(transport, url=name, config=config, timeout=timeout, retries=retries)


def _preset(name):
    try:
        return preset(name)
    except ValueError as exc:
        raise ConfigMismatch(str(exc)) from None
