"""Virtual board sessions (issue #14.2): one client at a time, and nothing crosses between them.

When a client leaves, the harness drops its queued bytes, feeds the design the abort token and a
PING of its own, and discards the design's output until that PING's reply came out; only then is
the next client accepted (the contract is at the top of sim/vboard.cpp). Checked here:

- with the real top (``tiny``): a departed client's SPIKES never reach the next client, for a
  client that closes, resets or is killed mid-RUN (a RUN short enough to finish without the RTL
  abort); a frame whose END never came is not executed; a client leaving mid-RUN of 100,000
  ticks is followed within 2 s by a client whose INFO is answered (needs the RTL abort);
- with a stand-in top that honours the token (it streams until ``DB C0``): the drain ends as soon
  as the design stops, so the next client is served at once and sees only its own bytes;
- the "board busy" line a second client gets, and the host's :func:`spikeloom.busy.check`;
- ``--idle-timeout``; the warning of ``serve --host 0.0.0.0``.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out
from spikeloom.proto import protocol as P
from spikeloom.sim import export, vboard
from test_vboard import (
    ECHO_DIVISOR,
    TOP_PRESET,
    _built,
    _echo_exe,
    connect,
    exchange,
    frame,
    golden,
    recv_exactly,
    recv_quiet,
)

pytestmark = pytest.mark.rtl

BUSY = re.compile(rb"spikeloom virtual board: (board busy \(held by 127\.0\.0\.1:(\d+) "
                  rb"since \d\d:\d\d:\d\d\))\n")


class AbortTop(wiring.Component):
    """Stand-in top that honours the abort token: it echoes every byte, until the pair
    ``DB 01`` (never part of a SLIP frame) makes it stream ``x`` bytes without end, as a
    never-ending RUN would; the pair ``DB C0`` (the abort token) stops the stream, unechoed."""

    def __init__(self, divisor: int):
        self.divisor = divisor
        super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1), "leds": Out(4)})

    def elaborate(self, platform):
        from spikeloom.hdl import uart
        m = Module()
        m.submodules.rx = rx = uart.Receiver(self.divisor)
        m.submodules.tx = tx = uart.Transmitter(self.divisor)
        m.submodules.queue = q = fifo.SyncFIFOBuffered(width=8, depth=64)
        streaming, after_esc = Signal(), Signal()
        byte = rx.stream.payload
        m.d.comb += [
            rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx),
            rx.stream.ready.eq(1),
            q.w_data.eq(byte), q.w_en.eq(rx.stream.valid & ~streaming),
            tx.stream.payload.eq(Mux(q.r_rdy, q.r_data, ord("x"))),
            tx.stream.valid.eq(q.r_rdy | streaming),
            q.r_en.eq(tx.stream.ready),
        ]
        with m.If(rx.stream.valid):
            m.d.sync += after_esc.eq(byte == P.ESC)
            with m.If(after_esc & (byte == 0x01)):
                m.d.sync += streaming.eq(1)
            with m.If(after_esc & (byte == P.END)):
                m.d.sync += streaming.eq(0)
        m.d.sync += self.leds.eq(streaming)
        return m


@pytest.fixture(scope="module")
def echo_exe():
    return _built(_echo_exe)


@pytest.fixture(scope="module")
def abort_exe():
    def make():
        key = hashlib.sha256(inspect.getsource(AbortTop).encode()
                             + export.source_digest().encode()).hexdigest()[:12]
        verilog = export.cached_verilog(f"abort-{key}", lambda: AbortTop(ECHO_DIVISOR))
        return vboard.build_binary(verilog, f"abort-{key}")
    return _built(make)


@pytest.fixture(scope="module")
def top_exe():
    return _built(lambda: vboard.binary(TOP_PRESET))


@pytest.fixture
def top_board(top_exe):
    with vboard.VirtualBoard(TOP_PRESET, exe=top_exe) as vb:
        yield vb


def leave(s: socket.socket, how: str) -> None:
    """Make the client ``s`` go away: a clean close (FIN) or a reset (RST)."""
    if how == "reset":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def drains_so_far(vb, timeout=10):
    """The harness's drain count, read while a client holds the board: exactly the drains of
    the clients before it (its own leaving starts another, which a read after it has gone may
    or may not see). The stats file is refreshed every few thousand cycles: wait for the first."""
    deadline = time.monotonic() + timeout
    while vb.stats()["drains"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    return vb.stats()["drains"]


# -- the real top ---------------------------------------------------------------------------------

RUN_SHORT = 2000        # ticks: finishes in well under a second without the RTL abort


def _run_request(ticks: int, seq: int = 1) -> bytes:
    return frame(P.Opcode.RUN, seq, P.RUN_REQ.pack(ticks=ticks, period=0))


@pytest.mark.parametrize("how", ["close", "reset", "killed"])
def test_stale_spikes_never_reach_the_next_client(top_board, how):
    if how == "killed":
        code = ("import socket,sys,time; s=socket.create_connection(('127.0.0.1',"
                f"{top_board.port})); s.sendall({_run_request(RUN_SHORT)!r});"
                "assert s.recv(1); print('streaming', flush=True); time.sleep(60)")
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline().strip() == "streaming"
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
    else:
        s = connect(top_board)
        s.sendall(_run_request(RUN_SHORT))
        assert recv_exactly(s, 1, timeout=10), "the run should have started streaming events"
        leave(s, how)
    req = frame(P.Opcode.PING, 7, b"mine") + frame(P.Opcode.INFO, 8)
    want = golden(req)
    with connect(top_board) as s:
        got = exchange(s, req, want)
        drains = drains_so_far(top_board)
        st = top_board.stats()
    assert got == want, "bytes of the earlier client's run reached the next client"
    assert drains == 1
    # the design kept streaming the departed client's run (no RTL abort yet) or at least sent
    # the end of the tick in progress, its RUN reply and the drain PING's reply: all discarded
    assert st["discarded"] > 0


def test_client_that_never_reads_leaves_nothing_behind(top_board):
    # its output piles up in the harness (it never reads); all of it must go when it leaves
    s = connect(top_board)
    s.sendall(_run_request(RUN_SHORT) + frame(P.Opcode.STATUS, 2))
    wait_for(lambda: top_board.stats()["bytes_out"] > 2000, 20, "the run to stream")
    s.close()
    req = frame(P.Opcode.STATUS, 9)
    with connect(top_board) as s:
        s.sendall(req)
        got = recv_exactly(s, 1, timeout=30) + recv_quiet(s, 0.5)
    frames = P.Deframer().feed(got)
    assert [(f.opcode, f.seq, st) for f, st in frames] == [(P.Opcode.STATUS, 9, P.Status.OK)]


def test_client_that_overflowed_the_receive_buffer(top_exe):
    # a RUN, then far more requests than the device buffers while it runs: they overflow its
    # receive buffer, and so may the harness's abort token and drain PING. The harness then
    # sends the PING again once the design falls silent; the next client still sees only its own
    # replies.
    vb = vboard.VirtualBoard(TOP_PRESET, exe=top_exe).start()
    try:
        s = connect(vb)
        flood = b"".join(frame(P.Opcode.PING, 2 + k % 200, bytes(30)) for k in range(60))
        assert len(flood) > 2 * P.RX_BUFFER
        s.sendall(_run_request(3000) + flood)
        # well over len(flood) byte times of output: every flood byte has reached the design
        assert len(recv_exactly(s, 2 * len(flood), timeout=30)) == 2 * len(flood)
        s.close()
        req = frame(P.Opcode.STATUS, 9)
        with connect(vb) as s:
            s.sendall(req)
            got = recv_exactly(s, 1, timeout=60) + recv_quiet(s, 0.5)
            drains_during_session = drains_so_far(vb)
        frames = P.Deframer().feed(got)
        assert [(f.opcode, f.seq, st) for f, st in frames] == [(P.Opcode.STATUS, 9, P.Status.OK)]
        assert P.STATUS.unpack(frames[0][0].payload)["rx_overflows"] > 0, \
            "the flood should have overflowed the device's receive buffer"
    finally:
        vb.stop()
    assert drains_during_session == 1
    assert "sending it again" in vb.stderr_text, "the drain PING should have been lost once"


def test_partial_frame_is_not_executed(top_board):
    # a complete RUN body whose closing END never came: the client leaves before sending it
    s = connect(top_board)
    s.sendall(_run_request(3, seq=1)[:-1])
    time.sleep(0.2)         # let the harness shift it into the design
    s.close()
    with connect(top_board) as s:
        s.sendall(frame(P.Opcode.STATUS, 4))
        got = recv_exactly(s, 1, timeout=30) + recv_quiet(s, 0.5)
    frames = P.Deframer().feed(got)
    assert len(frames) == 1, f"only this client's STATUS reply may arrive, got {frames}"
    reply, status = frames[0]
    assert (reply.opcode, reply.seq, status) == (P.Opcode.STATUS, 4, P.Status.OK)
    counters = P.STATUS.unpack(reply.payload)
    assert counters["ticks"] == 0, "the unterminated RUN frame was executed"


def test_client_leaving_mid_long_run_is_followed_within_2s(top_board):
    import spikeloom as sl
    s = connect(top_board)
    s.sendall(_run_request(100_000))
    assert recv_exactly(s, 1, timeout=10), "the run should have started streaming events"
    s.close()
    t0 = time.monotonic()
    with sl.open(top_board.url, config=TOP_PRESET, timeout=2.0, retries=0) as board:
        elapsed = time.monotonic() - t0
        assert board.info.config.hash() == vboard._config(TOP_PRESET).hash()
        assert board.ping(b"after the long run") == b"after the long run"
    assert elapsed < 2.0, f"the next client waited {elapsed:.2f} s"


# -- a design that honours the abort token (the harness side of the 2 s promise) -----------------

@pytest.mark.parametrize("how", ["close", "reset"])
def test_drain_ends_as_soon_as_the_design_aborts(abort_exe, how):
    with vboard.VirtualBoard("tiny", exe=abort_exe, divisor=ECHO_DIVISOR) as vb:
        s = connect(vb)
        s.sendall(b"hi")
        assert recv_exactly(s, 2) == b"hi"
        s.sendall(bytes([P.ESC, 0x01]))          # the stand-in's "RUN forever"
        assert recv_exactly(s, 3000).count(b"x") > 2000, "the stand-in should be streaming"
        leave(s, how)
        t0 = time.monotonic()
        with connect(vb) as s:
            s.sendall(b"next client")
            got = recv_exactly(s, 11, timeout=5)
            elapsed = time.monotonic() - t0
            assert got == b"next client", f"stale bytes reached the next client: {got[:40]!r}"
            assert recv_quiet(s, 0.3) == b""
            drains = drains_so_far(vb)
        assert elapsed < 2.0, f"the next client waited {elapsed:.2f} s"
        assert drains == 1


# -- busy -----------------------------------------------------------------------------------------

def test_second_client_is_told_who_holds_the_board(echo_exe):
    from spikeloom.busy import BoardBusy, check
    with vboard.VirtualBoard("tiny", exe=echo_exe, divisor=ECHO_DIVISOR) as vb:
        with connect(vb) as a:
            a.sendall(b"held")
            assert recv_exactly(a, 4) == b"held"
            with connect(vb) as b:
                b.sendall(P.encode_frame(P.Frame(P.Opcode.INFO, 1)))   # what a host sends
                line = recv_quiet(b, 2.0)
            m = BUSY.fullmatch(line)
            assert m, line
            assert int(m.group(2)) == a.getsockname()[1]
            a.sendall(b"still mine")       # the holder is unaffected
            assert recv_exactly(a, 10) == b"still mine"
        # the host library's recogniser: the whole line, and the line without its newline (a
        # reader may lose the last byte to the end-of-file error)
        for data in (line, line[:-1], b"\xc0" + line[:-1]):
            with pytest.raises(BoardBusy) as info:
                check(data, vb.url)
            assert m.group(1).decode() in str(info.value)
            assert str(info.value).startswith(vb.url)
    check(P.encode_frame(P.Frame(P.Opcode.PING, 1, 0, b"board busy")), "x")   # not a notice


def test_host_raises_board_busy(echo_exe, top_exe):
    import spikeloom as sl
    from spikeloom import BoardBusy
    with vboard.VirtualBoard(TOP_PRESET, exe=top_exe) as vb:
        with sl.open(vb.url, config=TOP_PRESET, timeout=5.0):
            with pytest.raises(BoardBusy, match=r"board busy \(held by 127\.0\.0\.1:\d+ since "):
                sl.open(vb.url, config=TOP_PRESET, timeout=5.0)


# -- idle timeout ---------------------------------------------------------------------------------

def test_idle_client_is_dropped(echo_exe):
    with vboard.VirtualBoard("tiny", exe=echo_exe, divisor=ECHO_DIVISOR,
                             idle_timeout=1.0) as vb:
        # a client that keeps talking holds the board past the timeout
        with connect(vb) as s:
            for k in range(6):
                s.sendall(b"%d" % k)
                assert recv_exactly(s, 1) == b"%d" % k
                time.sleep(0.4)
        # one that falls silent is dropped, with a line saying why, and the board is free again
        s = connect(vb)
        s.sendall(b"then silence")
        assert recv_exactly(s, 12) == b"then silence"
        t0 = time.monotonic()
        rest = recv_quiet(s, 3.0)
        elapsed = time.monotonic() - t0
        s.close()
        assert rest == b"spikeloom virtual board: disconnected after 1 s idle\n"
        # the host library's recogniser says why the link closed (not "busy")
        from spikeloom.busy import BoardBusy, check
        from spikeloom.errors import LinkError
        with pytest.raises(LinkError, match="disconnected after 1 s idle") as info:
            check(rest[:-1], vb.url)
        assert not isinstance(info.value, BoardBusy)
        assert 0.8 < elapsed < 2.5, elapsed
        with connect(vb) as s:
            s.sendall(b"free")
            assert recv_exactly(s, 4) == b"free"
            st = vb.stats()
            assert st["clients"] == 3 and st["drains"] == 2


def test_idle_timeout_off_by_default_in_virtualboard(echo_exe):
    with vboard.VirtualBoard("tiny", exe=echo_exe, divisor=ECHO_DIVISOR) as vb:
        assert "--idle-timeout" not in vb.proc.args
    cmd = vboard.command(echo_exe, divisor=ECHO_DIVISOR, clock_hz=1, idle_timeout=2.5)
    assert cmd[-2:] == ["--idle-timeout", "2.5"]


# -- serve --host ---------------------------------------------------------------------------------

def test_exposure_warning():
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        assert vboard.exposure_warning(host, 7000) is None, host
    for host in ("0.0.0.0", "::", "192.0.2.7", "no-such-host.invalid"):
        text = vboard.exposure_warning(host, 7000)
        assert text and "anyone" in text and host in text and "7000" in text


def test_serve_on_all_interfaces_warns(echo_exe, tmp_path):
    # `spikeloom serve` as a user runs it, with the stand-in harness for the real top's
    code = ("import sys, pathlib; from spikeloom.sim import vboard;"
            f"vboard.binary = lambda cfg, **kw: pathlib.Path({str(echo_exe)!r});"
            "from spikeloom.cli import main;"
            "sys.exit(main(['serve', '--config', 'tiny', '--host', '0.0.0.0', '--port', '0',"
            " '--idle-timeout', '30']))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "serving on socket://0.0.0.0:" in line
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
        _, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert code == 0, err
    warning = [ln for ln in err.splitlines() if "warning" in ln]
    assert len(warning) == 1 and "anyone who can reach this machine" in warning[0], err
