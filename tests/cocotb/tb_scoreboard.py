"""Scoreboard: the golden device's answer to the exact request bytes the RTL received.

Contract: :class:`Scoreboard` owns a :class:`spikeloom.sim.device.GoldenDevice`.
:meth:`Scoreboard.expect` takes request wire bytes (as the RTL's receiver delivers them), feeds
them to the golden device and returns every byte the device must send back (replies and SPIKES
events); the testbench requires the RTL's output to be byte-identical. Along the way it records
coverage (:mod:`tb_coverage`) from the requests, the replies and the golden model's state before
and after every tick. The tick hook also re-derives the tick's STDP weight updates from that
state (docs/numerics.md steps 4-6) and asserts they equal the model's: the coverage of clipping
and plasticity paths is only claimed for updates the model really performed; with delays it
re-derives the ring of weights in flight the same way (docs/numerics.md "Delays"), and probe
coverage comes from the PROBES words and phase the golden device holds around each request.

Hardware-only counters the golden device never sees (``uart_errors``, ``rx_overflows``) are
modelled by :meth:`Scoreboard.uart_error`, which the wire-abuse tests call for every byte the
receiver must reject; :meth:`Scoreboard.adopt_error_counters` resynchronises the error counters
after abuse whose effect on the receiver is not predictable bit for bit (a grossly wrong baud).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from spikeloom.proto import protocol as P
from spikeloom.proto.cycles import tick_cycles
from spikeloom.proto.fixed import decay, saturate_unsigned, scale
from spikeloom.proto.memmap import Region, layouts, probe_fields
from spikeloom.proto.protocol import BITMAP_MARK, SPIKES_HEAD, Opcode, ResetFlags, Status
from spikeloom.sim.device import GoldenDevice
from tb_coverage import Coverage

__all__ = ["Scoreboard", "describe"]


def describe(wire: bytes, limit: int = 12) -> str:
    """Frames in ``wire``, one per line (for mismatch reports)."""
    lines = []
    for frame, status in P.Deframer(0xFFFF).feed(wire):
        lines.append(f"  op=0x{frame.opcode:02x} seq={frame.seq} status={frame.status} "
                     f"deframe={status.name} payload={bytes(frame.payload).hex()}")
    if len(lines) > limit:
        lines = lines[:limit] + [f"  ... {len(lines) - limit} more"]
    return "\n".join(lines) or "  (no complete frame)"


class _TracingDeframer(P.Deframer):
    """protocol.Deframer that also says *why* a body failed (for coverage only)."""

    def __init__(self, cov: Coverage):
        super().__init__(P.MAX_PAYLOAD)
        self.cov = cov

    def feed(self, data: bytes):
        out = []
        for b in data:
            idle = not (self.buf or self.bad_escape or self.overlong or self.escaped)
            if b == P.END and idle and self._after_end:
                self.cov.hit("frame.empty_body")
            if b == P.END and self.escaped:
                self.cov.hit("frame.abort_token")
            out += super().feed(bytes([b]))
            self._after_end = b == P.END
        return out

    _after_end = False

    def _finish(self):
        if self.bad_escape:
            self.cov.hit("frame.invalid_escape")
        elif len(self.buf) < 7:
            self.cov.hit("frame.short_body")
        elif self.overlong:
            self.cov.hit("frame.overlong_body")
        frame, status = super()._finish()
        if status == Status.BAD_CRC:
            self.cov.hit("frame.bad_crc")
        elif status == Status.BAD_LENGTH and not self.overlong:
            self.cov.hit("frame.length_mismatch")
        return frame, status


class Scoreboard:
    """Golden device + coverage (see the module docstring)."""

    def __init__(self, cfg, build_id: bytes, cov: Coverage):
        self.cfg = cfg
        self.cov = cov
        self.golden = GoldenDevice(cfg, build_id)
        self._requests = _TracingDeframer(cov)
        self._replies = P.Deframer(0xFFFF)
        self._tick_cycles: list[int] = []       # cycles of the ticks of the current frame
        self._inflight_ticks = 0                # consecutive ticks ending with weights in flight
        cov.for_config(cfg)
        self._hook_core()

    # -- the comparison ----------------------------------------------------------------------------

    def expect(self, wire: bytes) -> bytes:
        """Feed request bytes to the golden device; return the bytes the RTL must send."""
        out = bytearray()
        start = 0
        # Frame by frame (a frame executes at its closing END, so this is the same as feeding
        # everything at once), so that each reply can be tied to its request's effects.
        for k, b in enumerate(wire):
            if b == P.END:
                out += self._feed_chunk(wire[start:k + 1])
                start = k + 1
        out += self._feed_chunk(wire[start:])
        return bytes(out)

    def _feed_chunk(self, chunk: bytes) -> bytes:
        if not chunk:
            return b""
        requests = [f for f, s in self._requests.feed(chunk) if s == Status.OK]
        overruns = self.golden.counters.overruns
        before = {"inflight": self._inflight(), "phase": self.golden.probe_phase,
                  "probes": self._probe_slots()}
        self._tick_cycles = []
        out = self.golden.feed(chunk)
        replies = [f for f, _ in self._replies.feed(out)]
        for frame in replies:
            self._cover_reply(frame)
        for req in requests:
            ok = bool(replies) and replies[-1].status == Status.OK
            self._cover_request(req, ok, overruns)
            self._cover_features_request(req, replies, before)
        return out

    def uart_error(self, n: int = 1) -> None:
        """The receiver rejected ``n`` characters (bad stop bit): model STATUS.uart_errors."""
        c = self.golden.counters
        c.uart_errors = min(c.uart_errors + n, 0xFFFF)

    ERROR_COUNTERS = ("crc_errors", "frame_errors", "uart_errors", "rx_overflows")

    def adopt_error_counters(self, status: dict) -> None:
        """Take the RTL's error counters (after wire abuse whose effect is not predictable byte
        for byte); everything else in STATUS must already agree."""
        mine = P.STATUS.unpack(self.golden.counters.status_payload())
        for k in ("ticks", "spikes", "syn_events", "last_tick_cycles", "overruns", "flags"):
            assert mine[k] == status[k], f"STATUS.{k}: golden {mine[k]}, RTL {status[k]}"
        for k in self.ERROR_COUNTERS:
            setattr(self.golden.counters, k, status[k])

    # -- coverage of requests and replies ----------------------------------------------------------

    def _cover_request(self, frame, ok: bool, overruns_before: int) -> None:
        cov, op, pl = self.cov, frame.opcode, bytes(frame.payload)
        try:
            name = Opcode(op).name
        except ValueError:
            cov.hit("opcode.unknown")
            return
        if op in (Opcode.SPIKES, Opcode.PROBE):
            cov.hit(f"opcode.{name}_from_host")
            return
        cov.hit(f"opcode.{name}")
        if op == Opcode.RESET and len(pl) == 1:
            flags = pl[0]
            if flags & ~0x07:
                cov.hit("reset.bad_flags")
            elif flags == 0:
                cov.hit("reset.flags_0")
            else:
                if flags == 7:
                    cov.hit("reset.all")
                for f in ResetFlags:
                    if flags & f:
                        cov.hit(f"reset.{f.name}")
        if not ok:
            return
        if op in (Opcode.READ, Opcode.WRITE):
            kind = "read" if op == Opcode.READ else "write"
            cov.hit(f"region.{kind}.{Region(pl[0]).name}")
        elif op == Opcode.RUN:
            run = P.RUN_REQ.unpack(pl)
            if run["ticks"] == 0:
                cov.hit("run.ticks_0")
            elif run["period"]:
                if any(c > run["period"] for c in self._tick_cycles):
                    cov.hit("run.overrun")
                    assert self.golden.counters.overruns > overruns_before or \
                        overruns_before == 0xFFFF
                else:
                    cov.hit("run.period_met")

    def _cover_reply(self, frame) -> None:
        cov = self.cov
        cov.hit(f"status.{Status(frame.status).name}")
        if frame.opcode == Opcode.SPIKES and frame.status == Status.OK:
            codes = frame.payload[SPIKES_HEAD.size:]
            if not codes:
                cov.hit("event.empty")
            elif BITMAP_MARK in codes:
                cov.hit("event.bitmap")
            else:
                cov.hit("event.gaps")
            if SPIKES_HEAD.unpack(frame.payload)["ticks"] > 1:
                cov.hit("event.batch")
        if frame.opcode == Opcode.PROBE and frame.status == Status.OK:
            self._cover_probe_event()

    # -- coverage of delays and probes -------------------------------------------------------------

    def _inflight(self) -> bool:
        """Weights in the delay ring (delivered, not arrived yet)."""
        st = self.golden.core.state
        return bool(self.cfg.delay_bits) and bool(st.ring.any() or st.ring_inh.any())

    def _probe_slots(self):
        """``(slots, every)`` of the PROBES words: slots as ``(neuron, fields)`` (fields empty:
        the slot is off), or None on a core without probes."""
        if not self.cfg.probe_slots:
            return None
        lay = layouts(self.cfg)[Region.PROBES]
        names = [f for f, _ in probe_fields(self.cfg)]
        words = [lay.unpack(int(w)) for w in self.golden.core.probes]
        slots = [(w["neuron"], tuple(f for f in names if w[f])) for w in words[:-1]]
        return slots, words[-1]["neuron"] + 1

    def _cover_probe_event(self) -> None:
        cov = self.cov
        slots, every = self._probe_slots()
        assert any(fields for _, fields in slots), "a PROBE event with every slot off"
        cov.hit("probe.sampled")
        if every > 1:
            cov.hit("probe.every_k")
        n_fields = len(probe_fields(self.cfg))
        if any(len(fields) == n_fields for _, fields in slots):
            cov.hit("probe.all_fields")
        if any(not fields for _, fields in slots):
            cov.hit("probe.slot_off")
        if any(neuron >= self.cfg.n_neurons for neuron, fields in slots if fields):
            cov.hit("probe.out_of_range")

    def _cover_features_request(self, frame, replies, before) -> None:
        """Delay and probe coverage of one executed request (``before``: the ring and probe
        state before it)."""
        cov, op, pl = self.cov, frame.opcode, bytes(frame.payload)
        ok = bool(replies) and replies[-1].status == Status.OK
        if not ok:
            return
        if before["inflight"]:
            if op == Opcode.RESET and len(pl) == 1 and pl[0] & ResetFlags.STATE \
                    and not pl[0] & ~0x07:
                cov.hit("delay.reset_in_flight")
                assert not self._inflight(), "RESET STATE left weights in the ring"
            if op == Opcode.WRITE and pl[0] == Region.DELAYS:
                cov.hit("delay.write_in_flight")
        if op == Opcode.RUN and before["probes"] is not None \
                and P.RUN_REQ.unpack(pl)["ticks"] > 0:
            slots, _ = before["probes"]
            if not any(fields for _, fields in slots):
                cov.hit("probe.all_off")
                assert not any(f.opcode == Opcode.PROBE for f in replies), \
                    "a PROBE event with every slot off"
            elif before["phase"] != 0:
                cov.hit("probe.phase_across_runs")

    # -- coverage of ticks (golden model state before / after) -------------------------------------

    def _hook_core(self) -> None:
        core, step, sb = self.golden.core, self.golden.core.step, self

        def traced_step(inputs=None):
            before = _Snapshot(core)
            floor = None
            if sb.cfg.rule_bits > 1:    # the same tick with the floor instead of the draws
                import copy
                twin = copy.deepcopy(before.model)
                twin.rules = [dataclasses.replace(r, stochastic=0) for r in twin.rules]
                type(core).step(twin, inputs)
                floor = twin.weights
            result = step(inputs)
            sb._cover_tick(before, core, result)
            if sb.cfg.rule_bits > 1:
                sb._cover_rules(before, core, floor)
            if sb.cfg.delay_bits:
                sb._cover_delays(before, core)
            sb._tick_cycles.append(tick_cycles(sb.cfg, result.delivered, result.spikes,
                                               before.learning, listed=result.listed,
                                               plastic_delivered=result.plastic_delivered))
            return result

        core.step = traced_step

    def _cover_tick(self, before, core, result) -> None:
        cfg, cov, sp = self.cfg, self.cov, before.stdp
        fired = result.spikes
        rs = before.reset_subtract != 0
        if (fired & ~rs).any():
            cov.hit("neuron.spike_reset_subtract_0")
        if (fired & rs).any():
            cov.hit("neuron.spike_reset_subtract_1")
        if (before.ref > 0).any():
            cov.hit("neuron.refractory_hold")
        self._cover_features(before, core, fired)
        if cfg.rule_bits > 1:       # _cover_rules
            return

        delivered = np.flatnonzero(before.spikes)
        cols = np.flatnonzero(fired)
        w, plastic = before.weights.copy(), before.plastic
        if not sp.enable:
            if plastic[delivered].any() or plastic[:, cols].any():
                cov.hit("stdp.global_disable")
            assert np.array_equal(w, core.weights), "weights changed with STDP disabled"
            return
        lo, hi = sp.w_min, sp.w_max
        G, F = cfg.stdp_frac, cfg.decay_frac
        if delivered.size:
            y_dec = saturate_unsigned(decay(before.y, sp.alpha_post, F), cfg.trace_width)
            dep = scale(y_dec, sp.a_minus, G)
            self._cover_update(w, plastic, (delivered, slice(None)),
                               -np.broadcast_to(dep[None, :], (delivered.size, cfg.n_neurons)),
                               "stdp.depression", lo, hi)
        if cols.size:
            pot = scale(core.state.x, sp.a_plus, G)     # x after this tick's pre jumps
            # only the listed sources: a plastic row and a non-zero step (numerics.md step 6)
            srcs = np.flatnonzero(core.plastic_rows() & (pot != 0))
            self._cover_update(w, plastic, np.ix_(srcs, cols),
                               np.broadcast_to(pot[srcs, None], (srcs.size, cols.size)),
                               "stdp.potentiation", lo, hi)
        assert np.array_equal(w, core.weights), (
            "coverage's re-derivation of the STDP updates disagrees with the golden model")

    def _cover_features(self, before, core, fired) -> None:
        """The adaptive threshold and the inhibitory current (docs/numerics.md)."""
        cfg, cov, st = self.cfg, self.cov, core.state
        if cfg.theta_width:
            theta1 = saturate_unsigned(decay(before.theta, core.params.alpha_theta,
                                             cfg.decay_frac), cfg.theta_width)
            if (fired & (st.theta > theta1)).any():
                cov.hit("neuron.theta_jump")
            if (theta1 < before.theta).any():
                cov.hit("neuron.theta_decay")
            # active, no spike: v is this tick's v1, which reached threshold only
            if ((before.ref == 0) & ~fired & (st.v >= core.params.threshold)).any():
                cov.hit("neuron.theta_blocked")
        if cfg.inh_current:
            rows = before.weights[np.flatnonzero(before.spikes)]
            if (rows < 0).any():
                cov.hit("neuron.inh_accumulate")
            if ((rows < 0).any(axis=0) & (rows > 0).any(axis=0)).any():
                cov.hit("neuron.exc_and_inh")

    def _cover_rules(self, before, core, floor) -> None:
        """Several rules: which rules moved which weights, against the state before the tick
        and the same tick with the floor for every rule (``floor``: its weights)."""
        from spikeloom.sim.rules import modulation_factor
        cov, wpw = self.cov, self.cfg.weights_per_word
        rules, idx = core.rules, before.plastic
        changed = before.weights != core.weights
        flag = {f: np.array([0] + [getattr(r, f) for r in rules])[idx]
                for f in ("enable", "soft", "stochastic", "modulated")}
        m = modulation_factor(before.modulation)
        pad = -len(idx[0]) % wpw
        words = np.pad(np.where(changed, idx, 0), ((0, 0), (0, pad))).reshape(len(idx), -1, wpw)
        if any(np.unique(wd[wd != 0]).size > 1 for wd in words.reshape(-1, wpw)):
            cov.hit("rule.mixed_word")
        if (changed & (flag["soft"] == 1)).any():
            cov.hit("rule.soft_bound")
        if ((core.weights != floor) & (flag["stochastic"] == 1)).any():
            cov.hit("rule.stochastic_draw")
        moved_mod = (changed & (flag["modulated"] == 1)).any()
        if moved_mod and m > 0:
            cov.hit("rule.modulation_positive")
        if moved_mod and m < 0:
            cov.hit("rule.modulation_negative")
        rows = np.flatnonzero(before.spikes)
        on = (flag["enable"] == 1)[rows]
        if before.learning and m == 0 and (on & (flag["modulated"] == 1)[rows]).any():
            cov.hit("rule.modulation_zero")
        if before.learning and ((idx[rows] != 0) & ~on).any():
            cov.hit("rule.disabled")

    def _cover_delays(self, before, core) -> None:
        """The tick's deliveries into the ring, re-derived from the state before it (step 1 of
        docs/numerics.md) and required to equal the model's ring after it."""
        cfg, cov, st = self.cfg, self.cov, core.state
        top = (1 << cfg.delay_bits) - 1
        delivered = np.flatnonzero(before.spikes)
        rows = before.weights[delivered]
        d = before.delays[delivered]
        nz = rows != 0
        r_idx, cols = np.nonzero(nz)
        slots = d[r_idx, cols]
        if (slots == 0).any():
            cov.hit("delay.zero")
        if (slots == top).any():
            cov.hit("delay.max")
        if any(np.unique(d[r][nz[r]]).size > 1 for r in range(delivered.size)):
            cov.hit("delay.mixed_row")
        ring, ring_inh = before.ring.copy(), before.ring_inh.copy()
        held = (ring[slots, cols] != 0) | (ring_inh[slots, cols] != 0)
        keys = slots * cfg.n_neurons + cols
        if held.any() or np.unique(keys).size < keys.size:
            cov.hit("delay.slot_sum")
        w = rows[r_idx, cols]
        if cfg.inh_current:
            np.add.at(ring, (slots, cols), np.maximum(w, 0))
            np.add.at(ring_inh, (slots, cols), np.minimum(w, 0))
        else:
            np.add.at(ring, (slots, cols), w)
        ring, ring_inh = np.roll(ring, -1, axis=0), np.roll(ring_inh, -1, axis=0)
        ring[-1], ring_inh[-1] = 0, 0
        assert np.array_equal(ring, st.ring) and np.array_equal(ring_inh, st.ring_inh), (
            "coverage's re-derivation of the delay ring disagrees with the golden model")
        # consecutive ticks that start and end with weights in flight
        started = before.ring.any() or before.ring_inh.any()
        self._inflight_ticks = self._inflight_ticks + 1 if started and self._inflight() else 0
        if self._inflight_ticks > top + 1:
            cov.hit("delay.ring_wrap")

    def _cover_update(self, w, plastic, where, delta, name, lo, hi) -> None:
        cov = self.cov
        p = plastic[where]
        old = w[where]
        raw = old + delta
        if (p & (delta != 0)).any():
            cov.hit(name)
        if (~p & (delta != 0)).any():
            cov.hit("stdp.plastic_off")
        if (p & (raw < lo)).any():
            cov.hit("stdp.clip_w_min")
        if (p & (raw > hi)).any():
            cov.hit("stdp.clip_w_max")
        w[where] = np.where(p, np.minimum(np.maximum(raw, lo), hi), old)


class _Snapshot:
    """The model state a tick starts from (copies)."""

    def __init__(self, core):
        import copy
        self.stdp = copy.copy(core.stdp)
        self.weights = core.weights.copy()
        self.plastic = core.plastic.copy()
        self.spikes = core.state.spikes.copy()
        self.y = core.state.y.copy()
        self.ref = core.state.ref.copy()
        self.theta = core.state.theta.copy()
        self.reset_subtract = core.params.reset_subtract.copy()
        self.delays = core.delays.copy()
        self.learning = core.learning_enabled
        self.modulation = core.modulation
        self.model = core              # (rules: copied by the tick hook before it steps)
        self.ring = core.state.ring.copy()
        self.ring_inh = core.state.ring_inh.copy()
