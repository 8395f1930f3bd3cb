"""The abort (docs/protocol.md, "Abort"): the golden device's latch tick by tick, and the host
stopping a 2**32 - 1-tick RUN on model:// and on a socket, from another thread, by Ctrl-C, and
from the command line, with the board answering correctly afterwards."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.board import MAX_RUN, _RunPlan
from spikeloom.proto import preset
from spikeloom.proto import protocol as P
from spikeloom.proto.memmap import Region
from spikeloom.proto.protocol import END, ESC, Frame, Opcode, Status
from spikeloom.sim.device import GoldenDevice

TINY = preset("tiny")


def wire(op, seq=0, payload=b"") -> bytes:
    return P.encode_frame(Frame(int(op), seq, 0, bytes(payload)))


def run_req(ticks, seq=7, period=0) -> bytes:
    return wire(Opcode.RUN, seq, P.RUN_REQ.pack(ticks=ticks, period=period))


def frames(out: bytes) -> list[Frame]:
    got = P.Deframer(1 << 16).feed(out)
    assert all(s == Status.OK for _, s in got)
    return [f for f, _ in got]


def covered(events: list[Frame], first: int = 0) -> int:
    """Ticks covered by SPIKES ``events``, checking that they tile the ticks from ``first``."""
    tick = first
    for f in events:
        assert f.opcode == Opcode.SPIKES
        head = P.SPIKES_HEAD.unpack(f.payload)
        assert head["tick"] == tick
        tick += head["ticks"]
    return tick - first


def lively() -> GoldenDevice:
    """A tiny device whose neurons fire (thresholds 0) and that has an input pending."""
    dev = GoldenDevice(TINY)
    dev.feed(wire(Opcode.INJECT, 1, b"\x02\x00"))
    return dev


def state(dev) -> tuple:
    c = dev.core
    arrays = [getattr(c.state, f.name).copy() for f in dataclasses.fields(c.state)]
    return [a.tolist() for a in arrays], dataclasses.astuple(dev.counters)


# -- the golden device -----------------------------------------------------------------------------

@pytest.mark.parametrize("k", [0, 1, 5, 63])
def test_token_mid_run_stops_after_exactly_k_ticks(k):
    dev, ref = lively(), lively()
    dev.write(run_req(1000))
    out = dev.read(max_ticks=k)
    assert dev.busy
    assert covered(frames(out)) <= k        # (the batch being filled is held back)
    dev.write(P.ABORT)
    out += dev.read()
    assert not dev.busy
    *events, reply = frames(out)
    assert covered(events) == k             # flushed before the reply
    assert (reply.opcode, reply.seq, reply.status) == (Opcode.RUN, 7, Status.ABORTED)
    assert P.RUN_REPLY.unpack(reply.payload)["ticks"] == k
    # the same bytes as a device that was asked for k ticks, but for the reply's status
    want = ref.feed(run_req(k))
    done = P.encode_frame(Frame(Opcode.RUN, 7, Status.OK, P.RUN_REPLY.pack(ticks=k)))
    aborted = P.encode_frame(reply)
    assert want.endswith(done) and out.endswith(aborted)
    assert out[:-len(aborted)] == want[:-len(done)]
    assert out == want[:-len(done)] + P.encode_frame(
        Frame(Opcode.RUN, 7, Status.ABORTED, P.RUN_REPLY.pack(ticks=k)))
    assert state(dev) == state(ref) and dev.counters.ticks == k
    assert not dev.abort_latch                      # consumed: the next RUN runs in full
    assert frames(dev.feed(run_req(3, seq=8)))[-1] == Frame(Opcode.RUN, 8, Status.OK,
                                                            P.RUN_REPLY.pack(ticks=3))


def test_sliced_reads_give_the_same_bytes_as_feed():
    dev, ref = lively(), lively()
    dev.write(run_req(37) + wire(Opcode.STATUS, 9))
    out = bytearray()
    while dev.busy:
        out += dev.read(max_ticks=5)
    assert bytes(out) == ref.feed(run_req(37) + wire(Opcode.STATUS, 9))


def test_token_while_idle_is_harmless():
    dev = lively()
    before = state(dev)
    dev.write(P.ABORT)
    assert dev.busy and dev.abort_latch     # seen on arrival, consumed by the next read
    assert dev.read() == b"" and not dev.abort_latch and not dev.busy
    assert state(dev) == before
    assert frames(dev.feed(run_req(4)))[-1].status == Status.OK


def test_token_mid_frame_discards_the_partial_frame():
    dev = lively()
    before = state(dev)
    cut = wire(Opcode.WRITE, 3, P.WRITE_REQ.pack(region=Region.SPIKES, addr=0) + b"\1")[:-4]
    out = dev.feed(cut + P.ABORT + wire(Opcode.PING, 4, b"after"))
    assert out == wire(Opcode.PING, 4, b"after")    # no reply to the cut frame, no error
    assert state(dev) == before                     # nor a counted frame error


def test_token_followed_by_requests_executes_them():
    dev, ref = lively(), lively()
    out = dev.feed(run_req(50, seq=1) + P.ABORT + wire(Opcode.INJECT, 2, b"\x00\x00")
                   + run_req(3, seq=3) + wire(Opcode.STATUS, 4))
    got = frames(out)
    assert got[0] == Frame(Opcode.RUN, 1, Status.ABORTED, P.RUN_REPLY.pack(ticks=0))
    assert got[1] == Frame(Opcode.INJECT, 2, Status.OK)
    assert covered(got[2:3]) == 3
    assert got[3] == Frame(Opcode.RUN, 3, Status.OK, P.RUN_REPLY.pack(ticks=3))
    assert P.STATUS.unpack(got[4].payload)["ticks"] == 3
    ref.feed(wire(Opcode.INJECT, 2, b"\x00\x00") + run_req(3, seq=3))
    assert state(dev) == state(ref)


def test_token_split_across_writes_and_escape_state():
    dev = lively()
    dev.write(run_req(100))
    out = dev.read(max_ticks=2)
    dev.write(bytes([ESC]))                 # half a token is nothing yet
    out += dev.read(max_ticks=2)
    dev.write(bytes([END]))
    out += dev.read()
    assert frames(out)[-1] == Frame(Opcode.RUN, 7, Status.ABORTED, P.RUN_REPLY.pack(ticks=4))
    # DB DB C0: the second DB is the (bad) second byte of an escape, so C0 ends a bad body
    dev.write(run_req(10, seq=9))
    out = dev.read(max_ticks=1)
    dev.write(bytes([END, 1, ESC, ESC, END]))
    got = frames(out + dev.read())
    assert got[-2] == Frame(Opcode.RUN, 9, Status.OK, P.RUN_REPLY.pack(ticks=10))
    assert got[-1] == Frame(0, 0, Status.BAD_FRAME)


def test_run_that_completes_and_run_zero_reply_ok_with_the_latch_set():
    dev = lively()
    out = dev.feed(run_req(0, seq=1) + P.ABORT)
    assert frames(out) == [Frame(Opcode.RUN, 1, Status.OK, P.RUN_REPLY.pack(ticks=0))]
    dev.write(run_req(3, seq=2))
    out = dev.read(max_ticks=3)             # all three ticks ran: the reply is OK
    dev.write(P.ABORT)
    assert frames(out + dev.read())[-1] == Frame(Opcode.RUN, 2, Status.OK,
                                                 P.RUN_REPLY.pack(ticks=3))


# -- the host --------------------------------------------------------------------------------------

def reference_after(ticks_before: int, ticks: int) -> np.ndarray:
    """The events of run(ticks) on a fresh tiny model board that first ran ``ticks_before``."""
    with sl.open("model://tiny") as board:
        if ticks_before:
            board.run(ticks_before, progress=False)
        return board.run(ticks, progress=False).events


def test_run_plan_splits_at_the_wire_limit_and_checks_period():
    plan = list(_RunPlan({}, 2 * MAX_RUN + 7, 5, 256))
    assert [r.tag for r in plan] == [MAX_RUN, MAX_RUN, 7]
    assert all(P.RUN_REQ.unpack(r.payload)["period"] == 5 for r in plan)
    with sl.open("model://tiny") as board:
        for bad in (-1, MAX_RUN + 1, 1.5, True):
            with pytest.raises(ValueError, match="period"):
                board.run(3, period=bad)
        with pytest.raises(ValueError, match="ticks"):
            board.run(-1)
        assert board.run(3, period=MAX_RUN).ticks == 3


def test_abort_from_another_thread_on_model():
    """A 2**32 - 1-tick RUN, with inputs queued for later ticks, stopped by Board.abort()."""
    inputs = np.array([[t, t % 4] for t in range(0, 4000, 7)])
    reached = threading.Event()

    def progress(done, total):
        assert total == MAX_RUN
        if done >= 256:
            reached.set()

    with sl.open("model://tiny") as board:
        stopper = threading.Thread(target=lambda: reached.wait(60) and board.abort())
        stopper.start()
        with pytest.raises(sl.RunAborted, match="aborted after") as info:
            board.run(MAX_RUN, inputs=inputs, progress=progress)
        stopper.join()
        result = info.value.result
        assert 256 <= result.ticks < 100_000
        assert result.events[:, 0].max() == result.ticks - 1
        assert (result.input_events[:, 0] < result.ticks).all()
        assert board.status()["ticks"] == result.ticks
        assert board.info.config.name == "tiny"
        spikes = board.read_region(Region.SPIKES, 0, TINY.n_inputs)
        assert not any(spikes)              # inputs queued for ticks that never ran: cleared
        events = board.run(20, progress=False).events
        board.abort()                       # idle: harmless, the board still answers
        assert board.status()["ticks"] == result.ticks + 20
    with sl.open("model://tiny") as ref:
        want = ref.run(result.ticks, inputs=inputs[inputs[:, 0] < result.ticks], progress=False)
        assert np.array_equal(want.events, result.events)
        assert np.array_equal(ref.run(20, progress=False).events, events)


def test_ctrl_c_during_run_aborts_the_device_and_reraises():
    def progress(done, total):
        if done >= 512:
            raise KeyboardInterrupt

    with sl.open("model://tiny") as board:
        with pytest.raises(KeyboardInterrupt):
            board.run(MAX_RUN, progress=progress)
        assert board.link.aborted_cleanly
        ran = board.status()["ticks"]
        assert 512 <= ran < 100_000
        assert not board.transport.device.busy
        assert board.ping() == b"spikeloom"
        events = board.run(25, progress=False).events
    assert np.array_equal(events, reference_after(ran, 25))


# -- a socket board that outlives its clients, and the command line --------------------------------

class SocketBoard:
    """A GoldenDevice on a TCP port, run in slices like a real board (so an abort lands
    mid-RUN); clients may come and go, the device stays."""

    def __init__(self, cfg="tiny"):
        self.device = GoldenDevice(preset(cfg))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(0.2)
        self.url = f"socket://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(0.005)
                while not self.stop.is_set():
                    try:
                        data = conn.recv(4096)
                        if not data:
                            break
                        self.device.write(data)
                    except TimeoutError:
                        pass
                    except OSError:
                        break
                    if self.device.busy:
                        try:
                            conn.sendall(self.device.read(max_ticks=16))
                        except OSError:
                            break

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def image_file(tmp_path):
    net = sl.Network("abort")
    inp = net.inputs(3, name="in")
    exc = net.population(4, sl.LIF(tau_mem=10.0, tau_syn=2.0, threshold=0.5), name="exc")
    net.connect(inp, exc, weights=[[0.6] * 4] * 3, name="ff")
    path = tmp_path / "net.slimg"
    sl.compile(net, target="tiny").save(path)
    return path


def interrupt_cli(url, image, wait_for) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "spikeloom.cli", "run", url, str(image), "--ticks",
           str(MAX_RUN), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while not wait_for() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_cli_ctrl_c_on_model_exits_130(image_file):
    started = time.monotonic()
    # model:// runs in the CLI's own process: give it time to import, load and start the RUN
    p = interrupt_cli("model://tiny", image_file, lambda: time.monotonic() - started > 4)
    assert p.returncode == 130, p.stderr
    assert p.stderr.strip().splitlines()[-1] == "spikeloom: interrupted"


def test_cli_ctrl_c_on_a_socket_board_leaves_it_answering(image_file):
    board = SocketBoard()
    try:
        p = interrupt_cli(board.url, image_file, lambda: board.device.counters.ticks > 300)
        assert p.returncode == 130, p.stderr
        assert "interrupted" in p.stderr
        with sl.open(board.url, config="tiny", timeout=5.0) as b:
            assert b.info.config.name == "tiny"
            ran = b.status()["ticks"]
            assert ran > 300 and not board.device.busy
            events = b.run(30, progress=False).events
            assert b.status()["ticks"] == ran + 30
    finally:
        board.close()
    image = sl.Image.load(image_file)
    with sl.open("model://tiny") as ref:
        ref.load(image)
        ref.run(ran, progress=False)
        assert np.array_equal(ref.run(30, progress=False).events, events)
