"""The vectorised word codec (proto.codec) and the golden model's region access built on it give
exactly the bytes of the per-word definition (``Layout.to_bytes(Layout.pack(...))``).

Every region of random configurations (sizes, widths, packings; NEURON_PARAMS words are wider
than 64 bits, so both codec paths run), filled at random over each field's whole range: the
host codec (spikeloom.regions), the model's ``read_bytes`` (what the golden device sends for a
READ) and ``write_bytes`` (what a WRITE stores) are compared word by word with Layout.pack /
Layout.unpack and with the Core's arrays.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spikeloom import regions
from spikeloom.proto import codec, memmap
from spikeloom.proto import protocol as P
from spikeloom.proto.config import PRESETS
from spikeloom.proto.memmap import Field, Layout, Region, layouts, region_words
from spikeloom.sim.model import Core
from test_model_props import configs


def _random(rng, f: Field, size):
    lo = -(1 << (f.width - 1)) if f.signed else 0
    hi = (1 << (f.width - 1)) - 1 if f.signed else (1 << f.width) - 1
    return rng.integers(lo, hi, size=size, endpoint=True)


def _per_word(lay: Layout, fields: dict, n: int) -> bytes:
    return b"".join(lay.to_bytes(lay.pack({k: int(v[i]) for k, v in fields.items()}))
                    for i in range(n))


@given(configs(), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_codec_matches_layout_pack(cfg, seed):
    rng = np.random.default_rng(seed)
    for region, lay in layouts(cfg).items():
        n = region_words(cfg, region)
        fields = {f.name: _random(rng, f, n) for f in lay.fields}
        data = codec.encode(lay, fields, n)
        assert data == _per_word(lay, fields, n), region.name
        back = codec.decode(lay, data)
        for f in lay.fields:
            np.testing.assert_array_equal(back[f.name], fields[f.name], err_msg=region.name)
        assert regions.encode(cfg, region, fields) == data
        assert not codec.excess_bits(lay, data).size


def test_codec_wide_layout_and_errors():
    lay = Layout([Field("a", 40, True), Field("b", 33), Field("c", 1)])     # 74 bits
    vals = {"a": np.array([-(1 << 39), (1 << 39) - 1, -1, 0]),
            "b": np.array([0, (1 << 33) - 1, 5, 1]), "c": np.array([1, 0, 1, 0])}
    data = codec.encode(lay, vals, 4)
    assert data == _per_word(lay, vals, 4)
    assert {k: v.tolist() for k, v in codec.decode(lay, data).items()} == \
        {k: v.tolist() for k, v in vals.items()}
    with pytest.raises(ValueError, match=r"X\.a\[1\] = 549755813888 does not fit 40 signed"):
        codec.encode(lay, {"a": np.array([0, 1 << 39])}, 2, "X.")
    with pytest.raises(ValueError, match="not a whole number of 10-byte words"):
        codec.decode(lay, bytes(15))
    bad = bytearray(data)
    bad[10 + 9] |= 0x80                                 # word 1, bit 79 (above width 74)
    bad[30 + 9] |= 0x04                                 # word 3, bit 74
    assert codec.excess_bits(lay, bytes(bad)).tolist() == [1, 3]


@given(configs(), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_model_region_bytes_match_per_word_definition(cfg, seed):
    """Core.read_bytes is Layout.pack of the Core's arrays word by word (lanes past the last
    neuron 0); write_bytes then read_bytes round-trips any whole-region image, and writes at
    an offset touch only their words."""
    rng = np.random.default_rng(seed)
    core = Core(cfg)
    lay = layouts(cfg)
    for region in memmap.regions(cfg):
        n = region_words(cfg, region)
        if not n:       # an optional feature's region, off here
            continue
        fields = {f.name: _random(rng, f, n) for f in lay[region].fields}
        if region in (Region.WEIGHTS, Region.PLASTIC, Region.DELAYS):  # lanes past neuron N-1: 0
            col = (np.arange(n) % cfg.words_per_row) * cfg.weights_per_word
            for k, f in enumerate(lay[region].fields):
                fields[f.name][col + k >= cfg.n_neurons] = 0
        data = _per_word(lay[region], fields, n)
        core.write_bytes(region, 0, data)
        assert core.read_bytes(region, 0, n) == data, region.name
        a = int(rng.integers(n))
        k = int(rng.integers(1, n - a + 1))
        nb = lay[region].nbytes
        assert core.read_bytes(region, a, k) == data[a * nb:(a + k) * nb], region.name
    # the arrays hold what the words say
    wpw = cfg.weights_per_word
    words = codec.decode(lay[Region.WEIGHTS], core.read_bytes(Region.WEIGHTS, 0,
                                                              cfg.weight_words))
    lanes = np.stack([words[f"w{k}"] for k in range(wpw)], 1).reshape(cfg.n_sources, -1)
    np.testing.assert_array_equal(lanes[:, :cfg.n_neurons], core.weights)
    assert not lanes[:, cfg.n_neurons:].any()          # padding lanes read as 0
    np.testing.assert_array_equal(
        core.read_words(Region.POST_TRACE, 0, cfg.n_neurons), core.state.y)
    assert core.read_words(Region.STDP_PARAMS, 0, 1) == [
        lay[Region.STDP_PARAMS].pack(dataclasses.asdict(core.stdp))]
    # a partial write changes only its words
    before = core.read_bytes(Region.WEIGHTS, 0, cfg.weight_words)
    a = int(rng.integers(cfg.weight_words))
    core.write_words(Region.WEIGHTS, a, [0])
    after = core.read_bytes(Region.WEIGHTS, 0, cfg.weight_words)
    nb = lay[Region.WEIGHTS].nbytes
    assert after[:a * nb] == before[:a * nb] and after[(a + 1) * nb:] == before[(a + 1) * nb:]
    assert after[a * nb:(a + 1) * nb] == bytes(nb)


def test_model_read_bytes_refuses_values_that_do_not_fit():
    core = Core(PRESETS["tiny"])
    core.state.v[3] = 1 << 20                                   # wider than v_width 16
    with pytest.raises(ValueError, match=r"NEURON_STATE\.v\[3\] = 1048576 does not fit"):
        core.read_bytes(Region.NEURON_STATE, 0, 8)


# -- the protocol's byte paths (proto.protocol: crc16, encode_frame, Deframer) --------------------

def _crc_bitwise(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE bit by bit: the definition docs/protocol.md gives."""
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = (((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)) & 0xFFFF
    return crc


class _ByteDeframer(P.Deframer):
    """The deframer one byte at a time, as docs/protocol.md states it (the reference)."""

    def feed(self, data):
        out = []
        for b in bytes(data):
            if b == P.END:
                if self.escaped:                # ESC END: the abort token (docs/protocol.md)
                    self.aborts += 1
                elif self.buf or self.bad_escape or self.overlong:
                    out.append(self._finish())
                self._reset()
                continue
            if self.escaped:
                self.escaped = False
                if b in (P.ESC_END, P.ESC_ESC):
                    b = P.END if b == P.ESC_END else P.ESC
                else:
                    self.bad_escape = True
                    continue
            elif b == P.ESC:
                self.escaped = True
                continue
            if len(self.buf) < self.limit:
                self.buf.append(b)
            else:
                self.overlong = True
        return out


@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=90)), max_size=6),
       st.lists(st.integers(0, 400), max_size=5), st.sampled_from([4, 16, 64]))
@settings(max_examples=150, deadline=None)
def test_protocol_byte_paths_match_their_definitions(pieces, cuts, max_payload):
    stream = b""
    for framed, data in pieces:         # frames (with END/ESC inside payloads) and raw garbage
        if framed:
            frame = P.Frame(7, len(stream) % 256, 0, data + bytes([P.END, P.ESC, P.ESC_END]))
            body = P.body_of(frame)
            assert P.crc16(body[:-2]) == _crc_bitwise(body[:-2])
            escaped = bytearray([P.END])
            for b in body:
                escaped += {P.END: bytes([P.ESC, P.ESC_END]),
                            P.ESC: bytes([P.ESC, P.ESC_ESC])}.get(b, bytes([b]))
            assert P.encode_frame(frame) == bytes(escaped) + bytes([P.END])
            stream += P.encode_frame(frame)
        else:
            stream += data
    fast, ref = P.Deframer(max_payload), _ByteDeframer(max_payload)
    edges = sorted({min(c, len(stream)) for c in cuts})
    for a, b in zip([0, *edges], [*edges, len(stream)], strict=True):
        got, want = fast.feed(stream[a:b]), ref.feed(stream[a:b])
        assert got == want
        assert (bytes(fast.buf), fast.escaped, fast.bad_escape, fast.overlong, fast.aborts) == \
            (bytes(ref.buf), ref.escaped, ref.bad_escape, ref.overlong, ref.aborts)
