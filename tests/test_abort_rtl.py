# amaranth: UnusedElaboratable=no
"""The RTL side of the abort (docs/protocol.md, "Abort (the token DB C0)"), through the UART pins
of the whole top in Amaranth's simulator: the latch set on arrival ahead of the RX FIFO, cleared
by the deframer reaching the token or by an RX overflow; a RUN stopped at a tick boundary with
status ABORTED and the ticks run; a RUN starting while latched runs no tick; a partial frame cut
by the token is discarded without a reply. Byte equality with the golden device is in
tests/test_link_rtl.py once the golden device implements the abort."""

import pytest
from spikeloom.proto import preset
from spikeloom.proto import protocol as P
from spikeloom.proto.protocol import Frame, Opcode, Status
from spikeloom.sim.rtlsim import ModelCore, Transport

pytestmark = pytest.mark.rtl

CFG = preset("tiny").replace(baud=250_000)     # divisor 4: 40 cycles per byte


def enc(op, seq=0, payload=b""):
    return P.encode_frame(Frame(int(op), seq, 0, bytes(payload)))


def run_req(ticks, period=0):
    return P.RUN_REQ.pack(ticks=ticks, period=period)


def frames(data):
    out = []
    for frame, status in P.Deframer(1 << 16).feed(bytes(data)):
        assert status == Status.OK, (frame, status)
        out.append(frame)
    return out


class Device:
    """A Transport plus a watcher that records every change of the abort latch together with
    the number of output bytes received by then."""

    def __init__(self, core=None):
        kwargs = {"core_factory": ModelCore} if core == "model" else {}
        self.t = Transport(CFG, **kwargs)
        self.latch = []             # (new value, output bytes so far)
        self.ticks_at = []          # the device's tick counter at each change
        self.t.sim.add_testbench(self._watch, background=True)

    async def _watch(self, ctx):
        first = True
        async for (value,) in ctx.changed(self.t.top.abort):
            if not first:       # (the first value is the initial one, not a change)
                self.latch.append((value, len(self.t.monitor.data)))
                self.ticks_at.append(ctx.get(self.t.top.core.ticks))
            first = False

    def until(self, cond, max_cycles=2_000_000):
        """Advance until ``cond()`` holds (RuntimeError after ``max_cycles``)."""
        limit = self.t.cycles + max_cycles
        while not cond():
            self.t.sim.advance()
            if self.t.cycles > limit:
                raise RuntimeError("condition not reached")

    def spikes_seen(self):
        """Ticks covered by the SPIKES events received so far."""
        return ticks_covered(frames(self.t.monitor.data))


def ticks_covered(got):
    return sum(P.SPIKES_HEAD.unpack(f.payload)["ticks"] for f in got if f.opcode == Opcode.SPIKES)


def check_run(out, seq, status, ticks, first_tick=0):
    """``out`` is SPIKES events tiling ``ticks`` ticks numbered on from ``first_tick``, then the
    RUN reply."""
    *events, reply = frames(out)
    tick = first_tick
    for f in events:
        assert f.opcode == Opcode.SPIKES
        head = P.SPIKES_HEAD.unpack(f.payload)
        assert head["tick"] == tick
        tick += head["ticks"]
    assert tick == first_tick + ticks
    assert (reply.opcode, reply.seq, reply.status) == (Opcode.RUN, seq, status)
    assert P.RUN_REPLY.unpack(reply.payload)["ticks"] == ticks


def status_of(dev):
    reply, = frames(dev.t.exchange(enc(Opcode.STATUS, 9)))
    return P.STATUS.unpack(reply.payload)


@pytest.mark.parametrize("core", ["model", "rtl"])
def test_abort_stops_run_at_tick_boundary(core):
    dev = Device(core)
    period = 400                            # cycles per tick: about ten bytes' time
    dev.t.write(enc(Opcode.RUN, 5, run_req(1_000_000, period)))
    dev.until(lambda: dev.spikes_seen() >= 3)
    dev.t.write(P.ABORT)
    out = dev.t.exchange(b"", max_cycles=200_000)     # (all output since the RUN was sent)
    ran = P.RUN_REPLY.unpack(frames(out)[-1].payload)["ticks"]
    assert 3 <= ran < 1_000_000
    check_run(out, 5, Status.ABORTED, ran)
    # the latch went up once (on arrival) and down once (the deframer reached the token)
    assert [v for v, _ in dev.latch] == [1, 0]
    # When the token arrived, T ticks were complete; only the tick in flight may follow.
    assert ran - dev.ticks_at[0] <= 1, (ran, dev.ticks_at)
    assert status_of(dev)["ticks"] == ran
    # the device is usable: a RUN after the abort runs normally, its ticks numbered on
    check_run(dev.t.exchange(enc(Opcode.RUN, 6, run_req(2))), 6, Status.OK, 2, ran)


def test_run_starting_while_latched_runs_no_tick():
    """Two RUNs and a PING, then the token: the first RUN stops at a tick boundary, the second
    (queued before the token) runs no tick, the PING and everything after the token run."""
    dev = Device("model")
    dev.t.write(enc(Opcode.RUN, 1, run_req(1_000_000, 2000)) + enc(Opcode.RUN, 2, run_req(5))
                + enc(Opcode.PING, 3, b"p") + P.ABORT + enc(Opcode.PING, 4, b"q"))
    out = dev.t.exchange(b"", max_cycles=400_000)
    got = frames(out)
    first = next(k for k, f in enumerate(got) if f.opcode == Opcode.RUN)
    ran = P.RUN_REPLY.unpack(got[first].payload)["ticks"]
    check_run(b"".join(P.encode_frame(f) for f in got[:first + 1]), 1, Status.ABORTED, ran)
    second, ping, after = got[first + 1:]
    assert (second.opcode, second.seq, second.status) == (Opcode.RUN, 2, Status.ABORTED)
    assert P.RUN_REPLY.unpack(second.payload)["ticks"] == 0
    assert (ping.seq, ping.status, ping.payload) == (3, Status.OK, b"p")
    assert (after.seq, after.status, after.payload) == (4, Status.OK, b"q")
    assert [v for v, _ in dev.latch] == [1, 0]
    assert status_of(dev)["ticks"] == ran


def test_token_discards_a_partial_frame_silently():
    """The token cuts a frame short: no reply, no error counted; the latch clears at once."""
    dev = Device("model")
    partial = enc(Opcode.PING, 1, b"abcdef")[:6]
    out = dev.t.exchange(partial + P.ABORT + enc(Opcode.PING, 2, b"x"))
    reply, = frames(out)
    assert (reply.seq, reply.status, reply.payload) == (2, Status.OK, b"x")
    assert [v for v, _ in dev.latch] == [1, 0]
    st = status_of(dev)
    assert (st["frame_errors"], st["crc_errors"]) == (0, 0)
    # an escape that is not the token is still a bad frame: ESC ESC END is no abort
    reply, = frames(dev.t.exchange(bytes([P.END, 1, P.ESC, P.ESC, P.END])))
    assert reply.status == Status.BAD_FRAME
    assert len(dev.latch) == 2


def test_rx_overflow_clears_the_latch():
    """The token arrives as the last bytes that fit the RX FIFO, and the bytes after it
    overflow: the overflow voids the abort and the RUN runs to its end.

    The RUN runs flat out, paced by the line once the emitter's queue is full (a tick's 4 code
    bytes take ~160 cycles to send, the emitter waits for queue room most of that time): the
    latch, set by the token and cleared by the overflow two bytes (~80 cycles) later, is up
    between two tick boundaries (the simulation is deterministic; the assertion on the latch
    says when it fell)."""
    dev = Device("model")
    ticks = 400                     # ~64k cycles; the bytes below take ~41k
    dev.t.write(enc(Opcode.RUN, 1, run_req(ticks)))
    start = dev.t.cycles
    dev.until(lambda: dev.t.cycles > start + 3080)    # (puts the latch between boundaries)
    dev.t.write(bytes(P.RX_BUFFER - len(P.ABORT)) + P.ABORT + bytes(4))
    out = dev.t.exchange(b"", max_cycles=400_000)
    check_run(out, 1, Status.OK, ticks)
    # up once and down once, and down while the RUN was still running (the overflow, not the
    # deframer reaching the token after the RUN)
    (up, _), (down, _) = dev.latch
    assert (up, down) == (1, 0)
    assert dev.ticks_at[1] < ticks          # (the tick counter when the latch fell)
    # the buffered junk is discarded by the token; the link works on
    *_, ping = frames(dev.t.exchange(enc(Opcode.PING, 2, b"z")))
    assert (ping.seq, ping.status, ping.payload) == (2, Status.OK, b"z")
    assert status_of(dev)["rx_overflows"] > 0
