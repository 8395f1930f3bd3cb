"""Functional coverage of the cocotb testbench: which protocol and datapath paths a run exercised.

Contract: :data:`ITEMS` is the fixed list of coverage points (name -> what it means), grouped by
prefix (``opcode.``, ``status.``, ``region.``, ``reset.``, ``neuron.``, ``stdp.``, ``event.``,
``run.``, ``abort.``, ``frame.``, ``wire.``, ``delay.``, ``probe.``, ``rule.``);
:data:`FEATURE_ITEMS` names the items of optional features, left out for a configuration
without them (and the one-rule ``stdp.`` items with several rules, which have ``rule.``).
:class:`Coverage` counts hits; :meth:`Coverage.hit` refuses a name that is not listed (so a
typo cannot hide a hole). :meth:`Coverage.write` writes a JSON report ``{"items": {name:
count}, "holes": [...], "meta": {...}}``; :meth:`Coverage.table` is the human-readable version.
The scoreboard derives
the hits from the request bytes, the golden device's replies and the golden model's state before
and after every tick, so coverage says what the *design* was driven through, not what the
stimulus generator intended.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["ITEMS", "FEATURE_ITEMS", "Coverage"]

_OPCODES = ("PING", "INFO", "RESET", "READ", "WRITE", "INJECT", "RUN", "STATUS")
_STATUSES = ("OK", "BAD_FRAME", "BAD_CRC", "BAD_LENGTH", "BAD_OPCODE", "BAD_REGION",
             "BAD_ADDRESS", "BAD_VALUE", "ABORTED")
_REGIONS = ("NEURON_PARAMS", "NEURON_STATE", "WEIGHTS", "PLASTIC", "PRE_TRACE", "POST_TRACE",
            "STDP_PARAMS", "SPIKES")

ITEMS: dict[str, str] = {
    **{f"opcode.{o}": f"a well-formed {o} request executed" for o in _OPCODES},
    "opcode.SPIKES_from_host": "a host sent the event opcode SPIKES (BAD_OPCODE)",
    "opcode.PROBE_from_host": "a host sent the event opcode PROBE (BAD_OPCODE)",
    "opcode.unknown": "an opcode outside the table (BAD_OPCODE)",
    **{f"status.{s}": f"a reply with status {s}" for s in _STATUSES},
    **{f"region.read.{r}": f"READ of {r} answered OK" for r in _REGIONS},
    **{f"region.write.{r}": f"WRITE of {r} answered OK" for r in _REGIONS},
    "reset.flags_0": "RESET 0x00 (no-op)",
    "reset.STATE": "RESET with STATE",
    "reset.CONFIG": "RESET with CONFIG",
    "reset.COUNTERS": "RESET with COUNTERS",
    "reset.all": "RESET 0x07",
    "reset.bad_flags": "RESET with bits outside 0x07 (BAD_VALUE)",
    "neuron.spike_reset_subtract_0": "a neuron fired with reset_subtract = 0 (V := v_reset)",
    "neuron.spike_reset_subtract_1": "a neuron fired with reset_subtract = 1 (V := V - threshold)",
    "neuron.refractory_hold": "a refractory neuron held V during a tick",
    "neuron.theta_jump": "a spike raised theta (theta_width > 0)",
    "neuron.theta_decay": "theta decayed in a tick (theta_width > 0)",
    "neuron.theta_blocked": "V reached threshold but not threshold + theta: no spike "
                            "(theta_width > 0)",
    "neuron.inh_accumulate": "a delivered negative weight went into i_inh (inh_current)",
    "neuron.exc_and_inh": "one neuron took an excitatory and an inhibitory weight in one tick "
                          "(inh_current)",
    "stdp.depression": "a plastic synapse of a delivered row was depressed (scaled y > 0)",
    "stdp.potentiation": "a plastic synapse of a fired column was potentiated (scaled x > 0)",
    "stdp.clip_w_min": "an STDP update was clipped at w_min",
    "stdp.clip_w_max": "an STDP update was clipped at w_max",
    "stdp.plastic_off": "STDP on, a nonzero update skipped because the synapse's plastic bit is 0",
    "stdp.global_disable": "STDP off while plastic synapses were delivered to or fired into",
    "event.empty": "a SPIKES event without spikes (silent ticks)",
    "event.gaps": "a SPIKES event with slot-gap codes only",
    "event.bitmap": "a SPIKES event with a bitmap tick",
    "event.batch": "a SPIKES event covering several ticks",
    "run.ticks_0": "RUN of 0 ticks (reply only)",
    "run.period_met": "RUN with a period that every tick met",
    "run.overrun": "RUN with a period shorter than a tick (overruns counted)",
    "abort.run_stopped": "a RUN stopped at a tick boundary by the abort token (ABORTED)",
    "abort.queued_run": "a RUN started while the abort latch was set (ABORTED, 0 ticks)",
    "frame.invalid_escape": "ESC followed by a byte other than ESC_END/ESC_ESC (BAD_FRAME)",
    "frame.abort_token": "ESC END, the abort token: a partial body discarded, no reply",
    "frame.short_body": "a body shorter than header + CRC (BAD_FRAME)",
    "frame.overlong_body": "a body longer than 519 bytes (BAD_LENGTH)",
    "frame.bad_crc": "a CRC mismatch (BAD_CRC)",
    "frame.length_mismatch": "a length field that disagrees with the body (BAD_LENGTH)",
    "frame.empty_body": "END END: an empty body, ignored",
    "wire.bad_stop_bit": "a byte with a 0 stop bit (uart_errors)",
    "wire.break": "the line held low for many bit times (uart_errors)",
    "wire.garbage": "random bytes between frames",
    "wire.burst": "many frames back to back at line rate",
    "wire.baud_fast_3pct": "a frame sent 3 % fast",
    "wire.baud_slow_3pct": "a frame sent 3 % slow",
    "wire.baud_gross": "a frame sent at a grossly wrong baud rate",
    "wire.rx_overflow": "more than RX_BUFFER request bytes while busy (rx_overflows)",
    # per-synapse delays (delay_bits > 0; docs/numerics.md "Delays")
    "region.read.DELAYS": "READ of DELAYS answered OK (delay_bits)",
    "region.write.DELAYS": "WRITE of DELAYS answered OK (delay_bits)",
    "delay.zero": "a delivered weight with d = 0 (arrives in the tick of its delivery)",
    "delay.max": "a delivered weight with the largest delay d = 2**delay_bits - 1",
    "delay.mixed_row": "one delivered row with nonzero weights of different delays",
    "delay.slot_sum": "a weight entered a ring entry that already held weights in flight",
    "delay.ring_wrap": "weights in flight at the end of more than 2**delay_bits consecutive "
                       "ticks: the ring turned all the way round with data in it",
    "delay.reset_in_flight": "RESET STATE while weights were in flight (the ring cleared)",
    "delay.write_in_flight": "WRITE of DELAYS while weights were in flight (they keep their "
                             "slot)",
    # state probes (probe_slots > 0; docs/protocol.md 5, "PROBE event")
    "region.read.PROBES": "READ of PROBES answered OK (probe_slots)",
    "region.write.PROBES": "WRITE of PROBES answered OK (probe_slots)",
    "probe.sampled": "a PROBE event (a sampled tick with a slot on)",
    "probe.every_k": "a PROBE event while sampling every k > 1 ticks (ticks skipped)",
    "probe.phase_across_runs": "a RUN started with the probe phase != 0 (the sampling goes on "
                               "from the RUN before)",
    "probe.all_fields": "a PROBE event with a slot streaming every probe field",
    "probe.slot_off": "a PROBE event with a slot off among slots on",
    "probe.out_of_range": "a PROBE event with a slot on a neuron >= N (streams zeros)",
    "probe.all_off": "a RUN of ticks on a core with probes, every slot off: no PROBE event",
    # several plasticity rules (rule_bits > 1; docs/numerics.md "Plasticity rules")
    "region.read.LEARN": "READ of LEARN answered OK (rule_bits > 1)",
    "region.write.LEARN": "WRITE of LEARN answered OK (rule_bits > 1)",
    "rule.mixed_word": "one weight word had lanes of two different rules changed in a tick",
    "rule.soft_bound": "a soft-bound (multiplicative) rule moved a weight",
    "rule.stochastic_draw": "stochastic rounding changed a weight's update (it differs from the "
                            "same tick with the floor)",
    "rule.modulation_positive": "a modulated rule moved a weight with m > 0",
    "rule.modulation_negative": "a modulated rule moved a weight with m < 0 (the rule reversed)",
    "rule.modulation_zero": "m = 0 while a modulated rule's synapses were delivered (frozen)",
    "rule.disabled": "a disabled rule's synapses delivered while another rule learned",
}


#: Items that exist only in a core with an optional neuron feature: item prefix -> whether
#: a configuration has it.
FEATURE_ITEMS = {
    "neuron.theta_": lambda cfg: cfg.theta_width > 0,
    "neuron.inh_": lambda cfg: cfg.inh_current,
    "neuron.exc_and_inh": lambda cfg: cfg.inh_current,
    "delay.": lambda cfg: cfg.delay_bits > 0,
    "region.read.DELAYS": lambda cfg: cfg.delay_bits > 0,
    "region.write.DELAYS": lambda cfg: cfg.delay_bits > 0,
    "probe.": lambda cfg: cfg.probe_slots > 0,
    "region.read.PROBES": lambda cfg: cfg.probe_slots > 0,
    "region.write.PROBES": lambda cfg: cfg.probe_slots > 0,
    "rule.": lambda cfg: cfg.rule_bits > 1,
    "region.read.LEARN": lambda cfg: cfg.rule_bits > 1,
    "region.write.LEARN": lambda cfg: cfg.rule_bits > 1,
}


class Coverage:
    """Hit counters for :data:`ITEMS` (see the module docstring)."""

    def __init__(self):
        self.counts = dict.fromkeys(ITEMS, 0)

    def for_config(self, cfg) -> None:
        """Leave out the items of the optional features ``cfg`` does not have (they cannot be
        hit there: no hole)."""
        one_rule = {"stdp.": lambda cfg: cfg.rule_bits == 1}
        for prefix, has in {**FEATURE_ITEMS, **one_rule}.items():
            if not has(cfg):
                for name in [k for k in self.counts if k.startswith(prefix)]:
                    del self.counts[name]

    def hit(self, name: str, n: int = 1) -> None:
        if name not in self.counts:
            raise KeyError(f"unknown coverage item {name!r}")
        self.counts[name] += n

    def holes(self) -> list[str]:
        return [k for k, v in self.counts.items() if not v]

    def merge(self, other: dict) -> None:
        for k, v in other.items():
            self.hit(k, v)

    def table(self) -> str:
        width = max(map(len, self.counts))
        lines = [f"{'coverage item':<{width}}  {'hits':>7}"]
        for k, v in self.counts.items():
            lines.append(f"{k:<{width}}  {v:>7}{'  <-- HOLE' if not v else ''}")
        hit = sum(1 for v in self.counts.values() if v)
        lines.append(f"{hit}/{len(self.counts)} items hit")
        return "\n".join(lines)

    def write(self, path: str | Path, **meta) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"items": self.counts, "holes": self.holes(), "meta": meta},
                                   indent=1, sort_keys=False) + "\n")
