"""The host's decoding of the spike stream (``spikeloom.board._SpikeCollector``) at every edge:
empty ticks, every neuron firing, the tick counter wrapping inside and between events, and
losses (a missing event, a RUN reply before its ticks were covered) detected, never skipped."""

import numpy as np
import pytest
from spikeloom.board import _Progress, _SpikeCollector
from spikeloom.errors import ProtocolError
from spikeloom.link import Request
from spikeloom.proto import protocol as P
from spikeloom.proto.protocol import Opcode

N = 16


def payloads(ticks, first):
    packer = P.SpikePacker(N)
    out = []
    for k, fired in enumerate(ticks):
        out += packer.tick((first + k) & 0xFFFFFFFF, fired)
    return out + packer.flush()


def collector(total):
    return _SpikeCollector("model://test", total, N, _Progress(total))


def run_reply(ticks):
    return Request(Opcode.RUN, P.RUN_REQ.pack(ticks=ticks, period=0), tag=ticks), \
        P.RUN_REPLY.pack(ticks=ticks)


@pytest.mark.parametrize("first", [0, 0xFFFFFFFF - 2, 0xFFFFFFFF])
def test_edge_cases_decode(first):
    ticks = [[], list(range(N)), [3], [], [0, N - 1]] + [[]] * 300 + [[5]]
    c = collector(len(ticks))
    # two RUNs: the first covers 4 ticks, the second the rest (the wrap may fall anywhere)
    for part, start in ((ticks[:4], 0), (ticks[4:], 4)):
        for p in payloads(part, first + start):
            c.on_event(p)
        c.on_reply(*run_reply(len(part)))
    want = [[t, j] for t, fired in enumerate(ticks) for j in fired]
    assert c.events().tolist() == want and c.count == len(ticks) and c.first == first


def test_lost_event_is_detected():
    ticks = [[1]] * (2 * P.KEEPALIVE_TICKS + 5)
    events = payloads(ticks, 7)
    assert len(events) >= 3
    c = collector(len(ticks))
    c.on_event(events[0])
    with pytest.raises(ProtocolError, match="lost"):
        c.on_event(events[2])               # events[1] never arrived


def test_last_event_lost_is_detected_at_the_reply():
    ticks = [[2]] * (P.KEEPALIVE_TICKS + 3)
    events = payloads(ticks, 0)
    c = collector(len(ticks))
    c.on_event(events[0])                   # the flushed remainder is lost
    with pytest.raises(ProtocolError, match="lost"):
        c.on_reply(*run_reply(len(ticks)))


def test_malformed_and_excess_events_raise():
    c = collector(3)
    with pytest.raises(ProtocolError, match="malformed"):
        c.on_event(P.SPIKES_HEAD.pack(tick=0, ticks=1) + bytes([N]))   # past the tick
    c = collector(3)
    with pytest.raises(ProtocolError, match="more ticks"):
        c.on_event(payloads([[]] * 4, 0)[0])


def test_progress_counts_batches():
    calls = []
    c = _SpikeCollector("model://test", 300, N, _Progress(300, func=lambda d, t: calls.append(d)))
    for p in payloads([[]] * 300, 0):
        c.on_event(p)
    # one call per event that crosses a multiple of 64: the keep-alive batch of 256 ticks does,
    # the last 44 ticks (256 -> 300) do not
    assert calls == [256]
    assert np.asarray(c.events()).shape == (0, 2)
