"""URLs to transports: the scheme registry, model:// options, and argument checks."""

from __future__ import annotations

import pytest
import spikeloom as sl
from spikeloom import transport as T
from spikeloom.proto.protocol import BUILD_ID


def test_builtin_schemes():
    assert {"model", "socket", "rfc2217", "loop", "rtlsim"} <= set(T.schemes())
    t = T.open_transport("model://tiny")
    assert isinstance(t, T.ModelTransport) and t.config.name == "tiny" and t.engine is None
    t = T.open_transport("model://", config="narrow")
    assert t.config.name == "narrow"
    assert isinstance(T.open_transport("loop://"), T.SerialTransport)


def test_model_engine_is_parsed_checked_and_passed(monkeypatch):
    import spikeloom.sim.device as device
    seen = []

    class Recording(device.GoldenDevice):
        def __init__(self, cfg, build_id=BUILD_ID, **kwargs):
            seen.append(kwargs)
            super().__init__(cfg, build_id)

    monkeypatch.setattr(device, "GoldenDevice", Recording)
    with sl.open("model://tiny?engine=reference") as board:
        assert board.transport.engine == "reference"
    with sl.open("model://tiny") as board:
        assert board.config.name == "tiny"
    assert seen == [{"engine": "reference"}, {}]       # passed only when given
    with pytest.raises(sl.LinkError, match="engine='turbo' is not one of fast, reference"):
        sl.open("model://tiny?engine=turbo")
    with pytest.raises(sl.LinkError, match="unknown option 'speed'"):
        sl.open("model://tiny?speed=1")


def test_socket_url_needs_a_port():
    with pytest.raises(sl.LinkError, match=r"no port given; use socket://HOST:PORT"):
        sl.open("socket://127.0.0.1")
    with pytest.raises(sl.LinkError, match="ports are 1..65535"):
        sl.open("socket://127.0.0.1:99999")
    with pytest.raises(sl.LinkError, match="unknown URL scheme 'nope'.*model://"):
        sl.open("nope://x")


def test_register_scheme_and_lazy_openers(monkeypatch):
    monkeypatch.setattr(T, "_SCHEMES", dict(T._SCHEMES))
    opened = []

    def opener(url, *, config, baudrate, build_id):
        opened.append((url, config, baudrate))
        return T.ModelTransport(sl.preset("tiny"), build_id)

    T.register_scheme("mine", opener)
    with sl.open("mine://anything", timeout=1.0) as board:
        assert board.config.name == "tiny"
    assert opened == [("mine://anything", None, None)]
    with pytest.raises(ValueError, match="already registered"):
        T.register_scheme("mine", opener)
    with pytest.raises(ValueError, match="lower-case"):
        T.register_scheme("Mine", opener)
    with pytest.raises(TypeError, match="module:attribute"):
        T.register_scheme("other", "not-a-reference")
    # a "module:attribute" opener is imported on first use; a missing one is one clear error
    T.register_scheme("lazy", "spikeloom.transport:_open_model")
    assert T.open_transport("lazy://tiny").config.name == "tiny"
    T.register_scheme("gone", "spikeloom.no_such_backend:open")
    with pytest.raises(sl.LinkError, match="gone:// backend .* not available"):
        T.open_transport("gone://x")


def test_serial_open_flushes_stale_input(monkeypatch):
    import serial
    calls = []

    class Port:
        def reset_input_buffer(self):
            calls.append("flush")

        def close(self):
            pass

    monkeypatch.setattr(serial, "serial_for_url", lambda url, **kw: Port())
    T.SerialTransport("/dev/ttyFAKE").close()
    assert calls == ["flush"]


def test_model_transport_runs_in_bounded_slices():
    """A RUN of 2**32 - 1 ticks: each read runs at most slice_ticks ticks, and the abort token
    written between reads stops it after exactly the ticks read so far."""
    from spikeloom.proto import protocol as P
    t = T.ModelTransport(sl.preset("tiny"), slice_ticks=40)
    t.write(P.encode_frame(P.Frame(P.Opcode.RUN, 5, 0, P.RUN_REQ.pack(ticks=2**32 - 1))))
    got = []
    for _ in range(3):
        got += P.Deframer(1 << 16).feed(t.read(0.1))
    assert {f.opcode for f, _ in got} <= {P.Opcode.SPIKES} and t.device.busy
    t.write(P.ABORT)
    got += P.Deframer(1 << 16).feed(t.read(0.1))
    assert got[-1] == (P.Frame(P.Opcode.RUN, 5, P.Status.ABORTED, P.RUN_REPLY.pack(ticks=120)),
                       P.Status.OK)
    # the events (flushed before the reply) cover exactly the 120 ticks read
    assert sum(P.SPIKES_HEAD.unpack(f.payload)["ticks"] for f, _ in got[:-1]) == 120
    assert not t.device.busy and t.read(0.01) == b""
