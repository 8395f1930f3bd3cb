"""Compare spike-stream encodings by wire bytes (SLIP escapes, header and CRC included).

The study behind docs/protocol.md section 5: the per-tick frames of protocol version 2 and three
batched encodings (a SPIKES event covers several ticks, closed at ``MAX_PAYLOAD`` or after
``KEEPALIVE_TICKS`` ticks), on i.i.d. Poisson (Bernoulli per neuron and tick) activity.

    .venv/bin/python bench/spike_codes.py

Encodings (varint = LEB128, 7 bits a byte):

- ``v2``: one frame per tick, u16 index list or bitmap, whichever is shorter (version 2);
- ``tick_list``: per tick with spikes, varint(ticks since the last such tick), varint(count),
  then a u16 index per spike (an address list with tick deltas);
- ``tick_gaps``: the same, but the indices as varint gaps inside the tick;
- ``slot_gaps`` (chosen, ``protocol.SpikePacker``): one varint per spike, the gap in *slots*
  (tick * N + neuron) since the previous spike, so a silent stretch costs nothing; a tick with
  more than ceil(N/8) spikes is a bitmap behind a two-byte mark.
"""

from __future__ import annotations

import numpy as np
from spikeloom.proto import protocol as P
from spikeloom.proto.protocol import Frame, Opcode

__all__ = ["ENCODINGS", "wire_bytes", "compare"]


def _frame(payload: bytes) -> int:
    return len(P.encode_frame(Frame(Opcode.SPIKES, 0, 0, payload)))


def _v2(ticks, n):
    total, nmap = 0, (n + 7) // 8
    for fired in ticks:
        if 2 * len(fired) <= nmap:
            body = b"".join(int(j).to_bytes(2, "little") for j in fired)
        else:
            body = bytearray(nmap)
            for j in fired:
                body[j // 8] |= 1 << (j % 8)
        total += _frame(bytes(5) + bytes(body))
    return total


def _batched(code_tick):
    """An encoding from ``code_tick(dt, fired, n) -> bytes``, batched like the chosen one."""
    def encode(ticks, n):
        total, body, covered, last = 0, bytearray(), 0, 0
        for t, fired in enumerate(ticks):
            codes = code_tick(t - last, fired, n) if len(fired) else b""
            if len(body) + len(codes) > P.spike_room():
                total += _frame(bytes(P.SPIKES_HEAD.size) + body)
                body, covered, last = bytearray(), 0, t
                codes = code_tick(0, fired, n) if len(fired) else b""
            body += codes
            last = t if len(fired) else last
            covered += 1
            if covered == P.KEEPALIVE_TICKS:
                total += _frame(bytes(P.SPIKES_HEAD.size) + body)
                body, covered, last = bytearray(), 0, t + 1
        if covered:
            total += _frame(bytes(P.SPIKES_HEAD.size) + body)
        return total
    return encode


def _tick_list(dt, fired, n):
    return P.varint(dt) + P.varint(len(fired)) + b"".join(
        int(j).to_bytes(2, "little") for j in fired)


def _tick_gaps(dt, fired, n):
    prev = np.concatenate([[-1], fired[:-1]])
    return P.varint(dt) + P.varint(len(fired)) + b"".join(
        P.varint(int(g)) for g in np.asarray(fired) - prev - 1)


def _slot_gaps(ticks, n):
    packer, total = P.SpikePacker(n), 0
    for t, fired in enumerate(ticks):
        total += sum(_frame(p) for p in packer.tick(t, fired))
    return total + sum(_frame(p) for p in packer.flush())


ENCODINGS = {"v2": _v2, "tick_list": _batched(_tick_list), "tick_gaps": _batched(_tick_gaps),
             "slot_gaps": _slot_gaps}


def wire_bytes(encoding: str, ticks: list, n: int) -> int:
    """Wire bytes of ``ticks`` (per tick, ascending neuron indices) in ``encoding``."""
    return ENCODINGS[encoding](ticks, n)


def compare(n: int = 128, n_ticks: int = 2000, seed: int = 1) -> dict:
    """``{case: {encoding: bytes per spike (or per tick when silent)}}``."""
    rng = np.random.default_rng(seed)
    out = {}
    for rate in (0.0, 0.001, 0.01, 0.05, 0.2, 1.0):
        ticks = [np.flatnonzero(rng.random(n) < rate) for _ in range(n_ticks)]
        spikes = sum(len(f) for f in ticks)
        per = spikes if spikes else n_ticks
        out[f"{rate:.1%} ({'per spike' if spikes else 'per tick'})"] = {
            e: wire_bytes(e, ticks, n) / per for e in ENCODINGS}
    return out


if __name__ == "__main__":
    table = compare()
    print("| activity (N = 128) | " + " | ".join(ENCODINGS) + " |")
    print("|---|" + "---|" * len(ENCODINGS))
    for case, row in table.items():
        print(f"| {case} | " + " | ".join(f"{v:.2f}" for v in row.values()) + " |")
