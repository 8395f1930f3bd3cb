"""The Board API against model:// (the golden device), and every way a link can fail.

The reference for "right" is the golden model itself: the same image written into
:class:`spikeloom.sim.model.Core` and stepped directly must give the same spikes and weights.
"""

import socket

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.proto import protocol as P
from spikeloom.proto.memmap import Region
from spikeloom.sim.model import Core
from spikeloom.transport import ModelTransport


def stdp_net(n_in=4, n_exc=7, seed=3):
    rng = np.random.default_rng(seed)
    net = sl.Network("t")
    inp = net.inputs(n_in, name="in")
    exc = net.population(n_exc, sl.LIF(tau_mem=10.0, tau_syn=3.0, threshold=1.0,
                                       refractory=1), name="exc")
    ff = net.connect(inp, exc, weights=rng.uniform(0.1, 0.6, (n_in, n_exc)),
                     stdp=sl.STDP(a_plus=0.05, a_minus=0.04, w_max=0.7), name="ff")
    net.connect(exc, exc, weights=sl.FixedProbability(0.3, -0.3, seed=seed), name="rec")
    return net, ff


def model_core(image):
    return Core.from_image(image)


def test_end_to_end_matches_golden_model():
    net, ff = stdp_net()
    image = sl.compile(net, target="tiny")
    rng = np.random.default_rng(11)
    ticks = 300
    spikes = rng.random((ticks, 4)) < 0.25
    spikes[100:140] = False                     # a silent stretch: one long RUN
    with sl.open("model://tiny", config="tiny") as board:
        board.load(image)
        w0 = board.read_weights(ff, raw=True)
        result = board.run(ticks, inputs={"in": spikes})
        w1 = board.read_weights(ff, raw=True)
        w1f = board.read_weights(ff)
        state = board.read_state()
        status = board.status()
    core = model_core(image)
    raster = core.run(ticks, np.pad(spikes, ((0, 0), (0, image.config.n_inputs - 4))))
    assert np.array_equal(result.dense, raster)
    assert result.count > 20 and np.array_equal(result["exc"].dense, raster[:, :7])
    assert np.array_equal(w0, image.weights()[:4, :7])
    assert np.array_equal(w1, core.weights[:4, :7])
    assert not np.array_equal(w0, w1)                          # STDP did something
    assert np.allclose(w1f, w1 / image.projections["ff"].scale)
    assert np.array_equal(state["exc"].v_raw, core.state.v[:7])
    assert np.array_equal(state["exc"].trace, core.state.y[:7])
    assert status["ticks"] == ticks and status["spikes"] == result.count
    assert np.array_equal(result["in"].dense, spikes)


def test_input_forms_agree():
    net, _ = stdp_net()
    image = sl.compile(net, target="tiny")
    rng = np.random.default_rng(5)
    spikes = rng.random((50, 4)) < 0.3
    events = np.argwhere(spikes)
    outs = []
    for form in ({"in": spikes}, {"in": events}, spikes, events):
        with sl.open("model://tiny") as board:
            board.load(image)
            outs.append(board.run(50, inputs=form).events)
    for o in outs[1:]:
        assert np.array_equal(o, outs[0])
    with sl.open("model://tiny") as board:
        board.load(image)
        with pytest.raises(ValueError, match="input index 4 outside 0..3"):
            board.run(5, inputs={"in": np.array([[0, 4]])})
        with pytest.raises(ValueError, match="tick 9 outside"):
            board.run(5, inputs=np.array([[9, 0]]))


def test_large_load_uses_whole_writes_and_verifies():
    net = sl.Network()
    inp = net.inputs(64, name="in")
    exc = net.population(128, name="exc")
    net.connect(inp, exc, weights=np.random.default_rng(1).normal(0, 0.1, (64, 128)))
    image = sl.compile(net, target="default")
    transport = ModelTransport(sl.preset("default"))
    sizes = []
    real_write = transport.write
    transport.write = lambda data: (sizes.append(len(data)), real_write(data))[1]
    with sl.open(transport=transport) as board:
        board.load(image)
        assert np.array_equal(transport.device.core.weights, image.weights())
    assert max(sizes) <= 2 * (P.MAX_PAYLOAD + 7) + 2


class Wrap:
    """A ModelTransport whose traffic a test can tamper with."""

    def __init__(self, cfg="tiny", on_write=None, on_read=None):
        self.inner = ModelTransport(sl.preset(cfg))
        self.on_write, self.on_read = on_write, on_read
        self.closed = False

    def write(self, data):
        if self.on_write:
            data = self.on_write(data)
        self.inner.write(data)

    def read(self, timeout):
        data = self.inner.read(timeout)
        return self.on_read(data) if (self.on_read and data) else data

    def close(self):
        self.closed = True


def test_bad_crc_reply_is_retried():
    hits = []

    def corrupt_first_write(data):
        if len(hits) < 2 and data[1] == P.Opcode.WRITE:
            hits.append(1)
            return data[:-3] + bytes([data[-3] ^ 0x01]) + data[-2:]
        return data
    net, _ = stdp_net()
    image = sl.compile(net, target="tiny")
    t = Wrap(on_write=corrupt_first_write)
    with sl.open(transport=t) as board:
        board.load(image)
        assert board.link.stats["retries"] == 2
        assert board.status()["crc_errors"] == 2
    assert np.array_equal(t.inner.device.core.weights, image.weights())


def test_retries_are_bounded():
    def always_corrupt(data):
        return data[:-3] + bytes([data[-3] ^ 0x01]) + data[-2:] if data[1] == P.Opcode.STATUS \
            else data
    with sl.open(transport=Wrap(on_write=always_corrupt), retries=2) as board:
        with pytest.raises(sl.DeviceError, match="STATUS: BAD_CRC") as err:
            board.status()
    assert err.value.status == P.Status.BAD_CRC


def test_unexpected_seq_is_ignored():
    stray = P.encode_frame(P.Frame(P.Opcode.STATUS, 200, 0, b"x" * 31))

    def inject_stray(data):
        return stray + data
    with sl.open(transport=Wrap(on_read=inject_stray)) as board:
        assert board.status()["ticks"] == 0
        assert board.link.stats["ignored"] >= 1


def test_device_error_names_status():
    with sl.open("model://tiny") as board:
        with pytest.raises(sl.DeviceError, match="READ: BAD_ADDRESS") as err:
            board.read_region(Region.SPIKES, addr=10, count=5)
        assert err.value.status == P.Status.BAD_ADDRESS
        board.ping()                    # the link still works afterwards


def test_version_mismatch():
    def bump(data):
        frames = P.Deframer().feed(data)
        out = b""
        for f, _ in frames:
            payload = f.payload
            if f.opcode == P.Opcode.INFO:
                payload = (P.VERSION + 1).to_bytes(2, "little") + payload[2:]
            out += P.encode_frame(P.Frame(f.opcode, f.seq, f.status, payload))
        return out
    t = Wrap(on_read=bump)
    with pytest.raises(sl.VersionMismatch, match=f"protocol version {P.VERSION + 1}"):
        sl.open(transport=t)
    assert t.closed


def test_config_mismatch():
    with pytest.raises(sl.ConfigMismatch, match=r"'tiny'.*'narrow'.*n_neurons 8 vs 11"):
        sl.open("model://tiny", config=sl.preset("narrow"))
    net, _ = stdp_net()
    image = sl.compile(net, target="tiny")
    with sl.open("model://narrow") as board:
        with pytest.raises(sl.ConfigMismatch, match="recompile"):
            board.load(image)


class Silent:
    closed = False

    def write(self, data):
        pass

    def read(self, timeout):
        return b""

    def close(self):
        self.closed = True


class Garbage(Silent):
    def __init__(self):
        self.rng = np.random.default_rng(0)

    def read(self, timeout):
        return bytes(self.rng.integers(0, 256, 64, dtype=np.uint8))


def test_timeout_and_garbage():
    t = Silent()
    with pytest.raises(sl.LinkTimeout, match="no reply to INFO.*0.3 s"):
        sl.open(transport=t, timeout=0.3, retries=0)
    assert t.closed
    with pytest.raises(sl.ProtocolError, match="not a spikeloom device"):
        sl.open(transport=Garbage(), timeout=0.3, retries=0)


def test_dead_ports():
    with pytest.raises(sl.LinkError, match="cannot open /dev/ttyNOPE.*plugged in"):
        sl.open("/dev/ttyNOPE")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                               # nothing listens there now
    with pytest.raises(sl.LinkError, match="spikeloom serve"):
        sl.open(f"socket://127.0.0.1:{port}")
    with pytest.raises(sl.LinkError, match="unknown configuration 'huge'"):
        sl.open("model://huge")


def test_loop_url_is_not_a_device():
    # loop:// echoes the request: it looks like an INFO reply with an empty payload
    with pytest.raises(sl.ProtocolError, match="0-byte INFO reply"):
        sl.open("loop://", timeout=0.5)


def test_context_manager_closes_on_error():
    t = Wrap()
    with pytest.raises(RuntimeError):
        with sl.open(transport=t):
            raise RuntimeError("boom")
    assert t.closed


def test_read_weights_needs_image():
    net, ff = stdp_net()
    with sl.open("model://tiny") as board:
        with pytest.raises(sl.Error, match="load"):
            board.read_weights(ff)


class Buffered:
    """A device that, like the hardware, only works through its input when the host reads:
    requests pile up in its receive buffer meanwhile. Records the deepest pile."""

    def __init__(self, cfg="tiny"):
        self.inner = ModelTransport(sl.preset(cfg))
        self.rx = bytearray()
        self.deepest = 0
        self.closed = False

    def write(self, data):
        self.rx += data
        self.deepest = max(self.deepest, len(self.rx))

    def read(self, timeout):
        if self.rx:
            self.inner.write(bytes(self.rx))
            self.rx.clear()
        return self.inner.read(timeout)

    def close(self):
        self.closed = True


def test_at_most_rx_buffer_bytes_outstanding():
    net, _ = stdp_net()
    image = sl.compile(net, target="tiny")
    spikes = np.random.default_rng(2).random((400, 4)) < 0.5     # an INJECT nearly every tick
    t = Buffered()
    with sl.open(transport=t) as board:
        board.load(image)
        result = board.run(400, inputs={"in": spikes})
    assert P.RX_BUFFER // 2 < t.deepest <= P.RX_BUFFER          # pipelined, never overflowing
    with sl.open("model://tiny") as board:
        board.load(image)
        assert np.array_equal(board.run(400, inputs={"in": spikes}).events, result.events)


def test_damage_during_a_streamed_run_is_not_retried():
    count = []

    def corrupt_tenth_inject(data):
        if data[1] == P.Opcode.INJECT:
            count.append(1)
            if len(count) == 10:
                return data[:-3] + bytes([data[-3] ^ 0x01]) + data[-2:]
        return data
    net, _ = stdp_net()
    image = sl.compile(net, target="tiny")
    with sl.open(transport=Wrap(on_write=corrupt_tenth_inject)) as board:
        board.load(image)
        with pytest.raises(sl.DeviceError, match="INJECT: BAD_CRC.*run is incomplete"):
            board.run(50, inputs=np.ones((50, 4), bool))


def test_damaged_reply_is_requested_again():
    damaged = []

    def flip_once(data):
        if not damaged and len(data) > 20:
            damaged.append(1)
            return data[:10] + bytes([data[10] ^ 0x40]) + data[11:]
        return data
    t = Wrap(on_read=flip_once)
    with sl.open(transport=t, timeout=0.3) as board:
        status = board.status()
        assert damaged and status["ticks"] == 0
        assert board.link.stats["garbled"] == 1 and board.link.stats["timeouts_retried"] == 1


def float_reference(net, ticks, inputs, dt=1.0):
    """The float model of spikeloom.network's docstring, in numpy (no quantization)."""
    pops = net.neuron_populations
    start, k = {}, 0
    for p in pops:
        start[p.name], k = k, k + p.size
    n, m = k, inputs.shape[1]
    w = np.zeros((m + n, n))
    for pr in net.projections:
        off = 0 if pr.src.is_input else m + start[pr.src.name]
        w[off + pr.pre, start[pr.dst.name] + pr.post] = pr.weight
    par = {key: np.zeros(n) for key in ("thr", "vr", "bias", "am", "asyn", "ref", "sub")}
    for p in pops:
        s, lif = slice(start[p.name], start[p.name] + p.size), p.model
        par["thr"][s], par["vr"][s], par["bias"][s] = lif.threshold, lif.v_reset, lif.bias
        par["am"][s], par["asyn"][s] = np.exp(-dt / lif.tau_mem), np.exp(-dt / lif.tau_syn)
        par["ref"][s], par["sub"][s] = lif.refractory, lif.reset == "subtract"
    v, i, ref = np.zeros(n), np.zeros(n), np.zeros(n)
    prev = np.zeros(n, bool)
    out = np.zeros((ticks, n), bool)
    for t in range(ticks):
        i1 = i + np.concatenate([inputs[t], prev]) @ w
        active = ref == 0
        v1 = v * par["am"] + i1 + par["bias"]
        fire = active & (v1 >= par["thr"])
        v = np.where(fire, np.where(par["sub"] > 0, v1 - par["thr"], par["vr"]),
                     np.where(active, v1, v))
        ref = np.where(fire, par["ref"], np.where(active, ref, ref - 1))
        i = i1 * par["asyn"]
        prev = out[t] = fire
    return out


def test_compiled_network_tracks_the_float_model():
    """Same physical parameters, same behaviour: quantization moves a few spikes, no more."""
    rng = np.random.default_rng(0)
    net = sl.Network()
    inp = net.inputs(16, name="in")
    a = net.population(20, sl.LIF(tau_mem=15.0, tau_syn=4.0, threshold=1.0, refractory=2,
                                  bias=0.02), name="a")
    b = net.population(10, sl.LIF(tau_mem=8.0, tau_syn=2.0, threshold=0.8, refractory=1,
                                  reset="subtract"), name="b")
    net.connect(inp, a, weights=rng.uniform(0, 0.3, (16, 20)))
    net.connect(a, b, weights=sl.FixedProbability(0.3, 0.25, seed=1))
    net.connect(b, a, weights=sl.FixedProbability(0.3, -0.3, seed=2))
    ticks = 1000
    spikes = rng.random((ticks, 16)) < 0.05
    want = float_reference(net, ticks, spikes)
    with sl.open("model://") as board:
        board.load(sl.compile(net, target="default"))
        got = board.run(ticks, inputs={"in": spikes}).dense[:, :30]
    assert want.sum() > 2000
    assert abs(int(got.sum()) - int(want.sum())) < 0.03 * want.sum()
    assert np.corrcoef(got.sum(0), want.sum(0))[0, 1] > 0.99


class GoldenServer:
    """The golden device behind a TCP socket (a stand-in virtual board), answering in small
    chunks so the host sees replies split across reads."""

    def __init__(self, cfg="tiny"):
        import threading

        from spikeloom.sim.device import GoldenDevice
        self.device = GoldenDevice(sl.preset(cfg))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.url = f"socket://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.sock.accept()
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                out = self.device.feed(data)
                for k in range(0, len(out), 37):
                    conn.sendall(out[k:k + 37])

    def close(self):
        self.sock.close()
        self.thread.join(timeout=5)


def test_socket_url_end_to_end():
    net, ff = stdp_net()
    image = sl.compile(net, target="tiny")
    spikes = np.random.default_rng(8).random((120, 4)) < 0.3
    server = GoldenServer()
    try:
        with sl.open(server.url, config="tiny", timeout=5.0) as board:
            assert "SerialTransport" in repr(board.transport)
            board.load(image)
            result = board.run(120, inputs={"in": spikes})
            weights = board.read_weights(ff, raw=True)
    finally:
        server.close()
    with sl.open("model://tiny") as board:
        board.load(image)
        assert np.array_equal(board.run(120, inputs={"in": spikes}).events, result.events)
        assert np.array_equal(board.read_weights(ff, raw=True), weights)


def test_read_state_reports_v_in_model_units_with_v_rest():
    """read_state's v is in the user's units: v_rest plus the integer over the scale."""
    net = sl.Network()
    net.inputs(2, name="in")
    net.population(3, sl.LIF(v_rest=-65.0, threshold=-50.0, v_init=[-65.0, -60.0, -55.0],
                             bias=1.0, tau_mem=20.0, tau_syn=5.0), name="exc")
    image = sl.compile(net, target="tiny")
    with sl.open("model://tiny", config="tiny") as board:
        board.load(image)
        state = board.read_state()["exc"]
    scale = image.populations["exc"].scale
    assert np.array_equal(state.v_raw, np.round(np.array([0.0, 5.0, 10.0]) * scale))
    assert np.allclose(state.v, -65.0 + state.v_raw / scale)
    assert np.allclose(state.v, [-65.0, -60.0, -55.0], atol=1.0 / scale)
