"""proto.protocol: CRC, SLIP framing, the Deframer, byte layouts, SPIKES payloads, and that
docs/protocol.md names everything the code defines (and carries the right memory-map table)."""

import pathlib
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spikeloom.proto import preset
from spikeloom.proto import protocol as P
from spikeloom.proto.memmap import Region, layouts, region_words
from spikeloom.proto.protocol import END, ESC, Frame, Opcode, Status

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


# -- CRC -------------------------------------------------------------------------------------------

def test_crc_check_value():
    assert P.crc16(b"123456789") == 0x29B1
    assert P.crc16(b"") == 0xFFFF


def test_crc_is_incremental():
    data = bytes(range(200))
    assert P.crc16(data[100:], P.crc16(data[:100])) == P.crc16(data)


def test_crc_detects_every_single_bit_flip():
    body = P.body_of(Frame(Opcode.PING, 3, 0, b"spikeloom"))
    for k in range(len(body) * 8):
        bad = bytearray(body)
        bad[k // 8] ^= 1 << (k % 8)
        assert P.crc16(bytes(bad[:-2])) != int.from_bytes(bad[-2:], "little")


def test_worked_example_from_docs():
    wire = P.encode_frame(Frame(Opcode.PING, 1, 0, b"hi"))
    assert wire == bytes.fromhex("C0 01 01 00 02 00 68 69 6B 9E C0")
    wire = P.encode_frame(Frame(Opcode.PING, 1, 0, b"\xc0\xdb"))
    assert wire == bytes.fromhex("C0 01 01 00 02 00 DB DC DB DD 25 8D C0")


# -- SLIP ------------------------------------------------------------------------------------------

frames = st.builds(
    Frame,
    opcode=st.integers(0, 255), seq=st.integers(0, 255), status=st.integers(0, 255),
    payload=st.one_of(
        st.binary(max_size=P.MAX_PAYLOAD),
        st.lists(st.sampled_from([END, ESC, P.ESC_END, P.ESC_ESC, 0]), max_size=64).map(bytes)))


@settings(max_examples=300, deadline=None)
@given(frames)
def test_slip_round_trip(frame):
    wire = P.encode_frame(frame)
    assert wire[0] == END and wire[-1] == END
    assert END not in wire[1:-1]            # the delimiter never appears inside a frame
    got = P.Deframer().feed(wire)
    assert got == [(frame, Status.OK)]


@settings(max_examples=200, deadline=None)
@given(st.lists(frames, min_size=1, max_size=5), st.data())
def test_deframer_split_feeds_give_same_frames(fs, data):
    wire = b"".join(P.encode_frame(f) for f in fs)
    whole = P.Deframer().feed(wire)
    assert whole == [(f, Status.OK) for f in fs]
    one = P.Deframer()
    bytewise = [r for b in wire for r in one.feed(bytes([b]))]
    assert bytewise == whole
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    chunked, d, prev = [], P.Deframer(), 0
    for c in [*cuts, len(wire)]:
        chunked += d.feed(wire[prev:c])
        prev = c
    assert chunked == whole


def test_empty_bodies_are_ignored():
    assert P.Deframer().feed(bytes([END] * 10)) == []


def test_bad_escape():
    good = P.encode_frame(Frame(Opcode.PING, 9, 0, b"abc"))
    bad = good[:3] + bytes([ESC, 0x41]) + good[3:]
    assert P.Deframer().feed(bad) == [(Frame(0, 0), Status.BAD_FRAME)]
    # an escape whose second byte is ESC is invalid too, and that ESC begins nothing: the END
    # after it closes the (bad) body, it is not the abort token
    assert P.Deframer().feed(bytes([END, 1, ESC, ESC, END])) == [(Frame(0, 0), Status.BAD_FRAME)]


def test_abort_token_ends_a_partial_frame_silently():
    good = P.encode_frame(Frame(Opcode.PING, 9, 0, b"abc"))
    d = P.Deframer()
    assert d.feed(good[:-1] + P.ABORT) == [] and d.aborts == 1     # cut short on purpose
    assert d.feed(bytes([END]) + P.ABORT + P.ABORT) == [] and d.aborts == 3
    assert d.feed(good) == [(Frame(Opcode.PING, 9, 0, b"abc"), Status.OK)]
    # split anywhere, even between its two bytes, the token is still the token
    d = P.Deframer()
    assert d.feed(good[:5] + bytes([ESC])) == [] and d.feed(bytes([END]) + good) == [
        (Frame(Opcode.PING, 9, 0, b"abc"), Status.OK)]
    assert d.aborts == 1


def test_short_body_is_bad_frame():
    for n in range(1, 7):
        assert P.Deframer().feed(bytes([END, *range(1, n + 1), END])) == [
            (Frame(0, 0), Status.BAD_FRAME)]


def test_crc_and_length_errors_keep_opcode_and_seq():
    body = bytearray(P.body_of(Frame(Opcode.READ, 77, 0, b"1234567")))
    body[-1] ^= 0xFF
    assert P.Deframer().feed(bytes([END, *body, END])) == [(Frame(Opcode.READ, 77),
                                                           Status.BAD_CRC)]
    head = P.HEADER.pack(opcode=Opcode.READ, seq=78, status=0, length=6) + b"1234567"
    body = head + P.crc16(head).to_bytes(2, "little")
    assert P.Deframer().feed(bytes([END, *body, END])) == [(Frame(Opcode.READ, 78),
                                                           Status.BAD_LENGTH)]


def test_overlong_body_is_bad_length_and_bounded():
    d = P.Deframer()
    limit = 5 + P.MAX_PAYLOAD + 2
    payload = bytes(P.MAX_PAYLOAD)
    assert d.feed(P.encode_frame(Frame(Opcode.PING, 1, 0, payload))) == [
        (Frame(Opcode.PING, 1, 0, payload), Status.OK)]
    long = bytes([Opcode.PING, 2, 0]) + bytes(limit * 4)
    assert d.feed(bytes([END]) + long + bytes([END])) == [(Frame(Opcode.PING, 2),
                                                           Status.BAD_LENGTH)]
    assert len(d.buf) == 0
    d.feed(long)
    assert len(d.buf) == limit                # memory stays bounded while the body goes on


# -- byte layouts ----------------------------------------------------------------------------------

def test_layout_sizes_and_offsets():
    assert P.HEADER.size == 5 and P.HEADER.offset("length") == 3
    assert P.INFO.size == 41 and P.INFO.offset("build_id") == 28
    assert P.INFO.offset("theta_width") == 36 and P.INFO.offset("inh_current") == 37
    assert P.STATUS.size == 27 and P.STATUS.offset("flags") == 26
    assert P.READ_REQ.size == 7 and P.WRITE_REQ.size == 5
    assert P.RUN_REQ.size == 8 and P.RUN_REPLY.size == 4 and P.SPIKES_HEAD.size == 6
    with pytest.raises(KeyError):
        P.INFO.offset("nope")


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_bytes_pack_unpack_round_trip(data):
    for lay in (P.HEADER, P.INFO, P.STATUS, P.READ_REQ, P.RUN_REQ, P.SPIKES_HEAD):
        values = {f: data.draw(st.integers(0, (1 << (8 * n)) - 1)) for f, n in lay.fields}
        raw = lay.pack(**values)
        assert len(raw) == lay.size
        assert lay.unpack(raw) == values
        for f, n in lay.fields:         # little-endian at the documented offset
            off = lay.offset(f)
            assert int.from_bytes(raw[off:off + n], "little") == values[f]


def test_bytes_pack_errors():
    with pytest.raises(TypeError):
        P.RUN_REQ.pack(ticks=1, bogus=2)
    with pytest.raises(ValueError):
        P.INFO.pack(build_id=b"short")
    with pytest.raises(OverflowError):
        P.RUN_REPLY.pack(ticks=1 << 32)
    with pytest.raises(ValueError):
        P.RUN_REQ.unpack(b"\x00" * 7)


# -- SPIKES payloads (the spike stream) ---------------------------------------------------------

def pack_all(n, ticks, first=0):
    """Every SPIKES payload a RUN over ``ticks`` (fired neurons per tick) sends."""
    packer = P.SpikePacker(n)
    out = []
    for k, fired in enumerate(ticks):
        out += packer.tick((first + k) & 0xFFFFFFFF, fired)
    return out + packer.flush()


def unpack_all(n, payloads, first=0):
    """Per-tick fired lists back from ``payloads``, checking that the events tile the ticks."""
    ticks = []
    for raw in payloads:
        assert len(raw) <= P.MAX_PAYLOAD
        tick, covered, pairs = P.parse_spikes(raw, n)
        assert tick == (first + len(ticks)) & 0xFFFFFFFF and 1 <= covered <= P.KEEPALIVE_TICKS
        ticks += [[j for t, j in pairs if t == k] for k in range(covered)]
    return ticks


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.sampled_from([0.0, 0.01, 0.2, 0.9, 1.0]), st.integers(0, 600),
       st.integers(0, 2**32 - 1), st.sampled_from([0, 0xFFFFFFFF - 3, 12345]))
def test_spike_stream_round_trip(n, rate, n_ticks, seed, first):
    rng = np.random.default_rng(seed)
    ticks = [np.flatnonzero(rng.random(n) < rate).tolist() for _ in range(n_ticks)]
    assert unpack_all(n, pack_all(n, ticks, first), first) == ticks


def test_spike_stream_edge_cases():
    n = 128
    assert pack_all(n, []) == []                                    # RUN 0: no event
    assert pack_all(n, [[]]) == [bytes([0, 0, 0, 0, 1, 0])]         # an empty tick: the head
    allfire = pack_all(n, [list(range(n))])[0]                      # a bitmap behind the mark
    assert allfire == bytes(6)[:4] + bytes([1, 0]) + P.BITMAP_MARK + b"\x00" + b"\xff" * 16
    # 16 spikes (= ceil(N/8)) still go as gaps, 17 as a bitmap
    assert len(pack_all(n, [list(range(16))])[0]) == 6 + 16
    assert len(pack_all(n, [list(range(17))])[0]) == 6 + 2 + 1 + 16
    # the tick counter wraps inside an event: its head holds the first tick
    raw = pack_all(n, [[5], [], [7]], first=0xFFFFFFFF)
    assert raw == [bytes([0xFF] * 4 + [3, 0]) + bytes([5, 0x81, 0x02])]    # gap 122 + 128 + 7
    assert unpack_all(n, raw, 0xFFFFFFFF) == [[5], [], [7]]


def test_docs_example_events():
    """The two events docs/protocol.md section 5 spells out."""
    ev = pack_all(128, [[3, 17], [], [], [0]], first=5)
    assert ev == [bytes.fromhex("05000000 0400 03 0D EE 02")]
    assert P.varint(300) == bytes([0xAC, 0x02]) and P.varint(0) == b"\x00"


def test_spike_stream_flush_rules():
    n = 8
    # keep-alive: a silent run sends one event per KEEPALIVE_TICKS ticks
    raw = pack_all(n, [[]] * (2 * P.KEEPALIVE_TICKS + 1))
    assert [P.SPIKES_HEAD.unpack(r)["ticks"] for r in raw] == [P.KEEPALIVE_TICKS] * 2 + [1]
    # full: a batch closes before a tick that might not fit (bound, not exact size)
    n = 300
    ticks = [list(range(0, n, 3))] * 40
    raw = pack_all(n, ticks)
    assert len(raw) > 1 and all(len(r) <= P.MAX_PAYLOAD for r in raw)
    bound = P.spike_tick_bound(n)
    for r in raw[:-1]:
        assert len(r) - P.SPIKES_HEAD.size + bound > P.spike_room()
    assert unpack_all(n, raw) == ticks


def test_spike_tick_bound_holds():
    for n in (1, 7, 8, 9, 16, 17, 128, 255, 256, 257, 1000):
        nmap = (n + 7) // 8
        worst = [list(range(0, n, max(1, n // nmap)))[:nmap], list(range(n)), [n - 1]]
        for fired in worst:
            packer = P.SpikePacker(n)
            for _ in range(P.KEEPALIVE_TICKS - 1):
                packer.tick(0, [])
            raw, = packer.tick(0, fired)    # the largest first gap a batch can have
            assert len(raw) - P.SPIKES_HEAD.size <= P.spike_tick_bound(n), (n, fired)


def test_parse_spikes_rejects_malformed():
    head = bytes([0, 0, 0, 0, 2, 0])
    for bad in (bytes([0, 0, 0, 0, 0, 0]),          # covers no tick
                head + bytes([0x80]),               # varint cut short
                head + bytes([0x81, 0x00]),         # not a minimal varint
                head + bytes([16]),                 # past the two ticks of 8 neurons
                head + P.BITMAP_MARK + bytes([3, 1]),   # a bitmap not at a tick start
                head + P.BITMAP_MARK + bytes([0]),      # a bitmap cut short
                bytes([0, 0, 0])):                  # short head
        with pytest.raises(ValueError):
            P.parse_spikes(bad, 8)
    with pytest.raises(ValueError):                 # bits past the last neuron
        P.parse_spikes(bytes([0, 0, 0, 0, 1, 0]) + P.BITMAP_MARK + bytes([0, 0xFF, 0xFF]), 9)
    assert P.parse_spikes(head + P.BITMAP_MARK + bytes([8, 0x81]), 8) == (0, 2, [(1, 0), (1, 7)])


# -- docs/protocol.md ------------------------------------------------------------------------------

def memmap_table(cfg) -> str:
    """The memory-map table of docs/protocol.md section 9 for ``cfg`` (generated from memmap)."""
    lines = ["| region | code | words | bits | bytes/word | fields (bit offset: name width, "
             "s = signed) |", "|---|---|---|---|---|---|"]
    for r, lay in layouts(cfg).items():
        if not region_words(cfg, r):    # an optional feature's region, off on this preset
            continue
        fields = ", ".join(f"{lay.offsets[f.name]}: `{f.name}` {f.width}{'s' if f.signed else ''}"
                           for f in lay.fields)
        lines.append(f"| `{r.name}` | {int(r)} | {region_words(cfg, r)} | {lay.width} | "
                     f"{lay.nbytes} | {fields} |")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def docs():
    return DOCS.read_text()


@pytest.mark.parametrize("enum", [Opcode, Status, Region, P.ResetFlags])
def test_docs_name_every_member(docs, enum):
    for m in enum:
        assert re.search(rf"`{m.name}`", docs), f"{enum.__name__}.{m.name} missing from docs"
        # the code is documented next to the name in the member's table row
        row = [ln for ln in docs.splitlines() if ln.startswith(f"| `{m.name}` |")]
        assert row, f"no table row for {enum.__name__}.{m.name}"
        assert any(re.search(rf"\| (0x{m.value:02X}|`0x{m.value:02X}`|{m.value}) \|", r)
                   for r in row), f"{enum.__name__}.{m.name} has the wrong code in docs"


def test_docs_memmap_table_matches_code(docs):
    m = re.search(r"<!-- memmap:(\w+) -->\n(.*?)\n<!-- /memmap -->", docs, re.S)
    assert m, "memory map table markers missing"
    assert m.group(2) == memmap_table(preset(m.group(1)))


def test_docs_constants_and_hashes(docs):
    assert f"`VERSION = {P.VERSION}`" in docs
    assert f"`MAX_PAYLOAD = {P.MAX_PAYLOAD}`" in docs and f"`RX_BUFFER = {P.RX_BUFFER}`" in docs
    assert f"{5 + P.MAX_PAYLOAD + 2} bytes" in docs
    for name in ("tiny", "narrow", "default", "up5k", "ecp5_85"):
        assert f"`{name}` 0x{preset(name).hash():08X}" in docs


def test_docs_layout_tables(docs):
    """Every field of INFO and STATUS is documented at its offset with its width."""
    width = {1: "u8", 2: "u16", 4: "u32", 8: "8 bytes"}
    for lay in (P.INFO, P.STATUS):
        for f, n in lay.fields:
            assert f"| {lay.offset(f)} | {width[n]} | `{f}` |" in docs, f


if __name__ == "__main__":      # print the table for docs/protocol.md
    import sys
    print(memmap_table(preset(sys.argv[1] if len(sys.argv) > 1 else "default")))
