"""Images are untrusted input: corrupted .slimg files give one ImageError or load unchanged.

A seeded corpus of randomly corrupted images (bytes flipped, inserted, deleted, truncated, inside
the compressed members or the ZIP directories; members swapped, dropped, duplicated, edited with
a valid CRC; decompression bombs) must each raise :class:`spikeloom.ImageError` or load into an
image that saves to exactly the original bytes: nothing else may escape, nothing may load
changed. ``make test`` runs 520 cases (a few seconds); ``make regress`` runs
``SPIKELOOM_SEEDS`` x 400 more. Hand-written manifest edits, re-sealed with a correct manifest
digest so that the field checks behind the digest are what is tested, each name the member and
the field.
"""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
import zipfile

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.image import manifest_digest

# -- the image under attack ------------------------------------------------------------------------


def build_image(target="tiny") -> sl.Image:
    net = sl.Network("corpus")
    inp = net.inputs(3, name="in")
    exc = net.population(5, sl.LIF(tau_mem=np.linspace(10, 30, 5), threshold=1.0,
                                   v_rest=[-0.1, 0, 0, 0.1, 0], v_reset=-0.2, v_init=0.3),
                         name="exc")
    inh = net.population(2, sl.LIF(tau_mem=8.0, threshold=0.5, reset="subtract"), name="inh")
    rng = np.random.default_rng(7)
    net.connect(inp, exc, weights=rng.uniform(0.05, 0.3, (3, 5)), stdp=sl.STDP(a_plus=0.02),
                name="ff")
    net.connect(exc, inh, weights=sl.FixedProbability(0.6, 0.3, seed=1), name="ei")
    net.connect(inh, exc, weights=sl.AllToAll(-0.2), name="ie")
    return sl.compile(net, target=target)


@pytest.fixture(scope="module")
def good() -> bytes:
    return build_image().to_bytes()


def entries_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def zip_of(entries, order=None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in order or sorted(entries):
            zf.writestr(name, entries[name])
    return buf.getvalue()


def outcome(data: bytes, good: bytes) -> str:
    """'error' or 'same'; anything else fails the test (with the exception it raised)."""
    try:
        image = sl.Image.from_bytes(data, source="case.slimg")
    except sl.ImageError as exc:
        assert "case.slimg" in str(exc)
        return "error"
    assert image.to_bytes() == good, "a corrupted image loaded with different contents"
    return "same"


# -- random corruption -----------------------------------------------------------------------------

def _flip(rng, data, span=None):
    b = bytearray(data)
    lo, hi = span or (0, len(b))
    for _ in range(int(rng.integers(1, 9))):
        k = int(rng.integers(lo, hi))
        b[k] ^= int(rng.integers(1, 256))
    return bytes(b)


def _member_spans(data):
    """(start, end) byte spans of each member's compressed data, and of the directory."""
    spans = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            off = info.header_offset
            n, m = struct.unpack("<HH", data[off + 26:off + 30])
            start = off + 30 + n + m
            spans.append((start, start + max(info.compress_size, 1)))
        cd = min(i.header_offset for i in zf.infolist())
    end = data.rfind(b"PK\x01\x02")
    spans.append((data.find(b"PK\x01\x02"), len(data)))     # central directory + end record
    spans.append((cd, cd + 30))                                # a local header
    assert end > 0
    return spans


MUTATIONS = ("flip", "flip_member", "truncate", "insert", "delete", "edit_member", "drop",
             "duplicate", "swap", "extra", "json", "bomb")


def corrupt(rng: np.random.Generator, good: bytes) -> tuple[str, bytes]:
    kind = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
    if kind == "flip":
        return kind, _flip(rng, good)
    if kind == "flip_member":
        spans = _member_spans(good)
        lo, hi = spans[int(rng.integers(len(spans)))]
        return kind, _flip(rng, good, (lo, min(hi, len(good))))
    if kind == "truncate":
        return kind, good[:int(rng.integers(0, len(good)))]
    if kind == "insert":
        k = int(rng.integers(0, len(good)))
        return kind, good[:k] + rng.bytes(int(rng.integers(1, 64))) + good[k:]
    if kind == "delete":
        k = int(rng.integers(0, len(good)))
        return kind, good[:k] + good[k + int(rng.integers(1, 64)):]
    e = entries_of(good)
    names = sorted(e)
    name = names[int(rng.integers(len(names)))]
    if kind == "edit_member":           # valid ZIP, valid CRC: only the digests can tell
        b = bytearray(e[name])
        if b:
            b[int(rng.integers(len(b)))] ^= int(rng.integers(1, 256))
        else:
            b = bytearray(b"\0")
        e[name] = bytes(b)
    elif kind == "drop":
        del e[name]
    elif kind == "duplicate":
        with warnings.catch_warnings():         # zipfile warns that it writes a name twice
            warnings.simplefilter("ignore", UserWarning)
            return kind, zip_of(e, names + [name])
    elif kind == "swap":
        others = [n for n in names if e[n] != e[name]]
        other = others[int(rng.integers(len(others)))]
        e[name], e[other] = e[other], e[name]
    elif kind == "extra":
        e[f"extra/{int(rng.integers(1000))}"] = rng.bytes(int(rng.integers(0, 100)))
    elif kind == "json":                # a manifest character changed (parseable or not)
        b = bytearray(e["manifest.json"])
        k = int(rng.integers(len(b)))
        b[k] = int(rng.choice(list(b'0123456789{}[]",:-.eE ntfalsru')))
        e["manifest.json"] = bytes(b)
    elif kind == "bomb":                # a member inflating to 1 MB of zeros (compressed: 1 kB)
        e[name] = bytes(1 << 20) if rng.random() < 0.5 else e[name] + bytes(1 << 20)
    return kind, zip_of(e)


def run_corpus(good: bytes, seed: int, n: int) -> dict:
    rng = np.random.default_rng(seed)
    seen = {}
    for case in range(n):
        kind, data = corrupt(rng, good)
        try:
            result = outcome(data, good)
        except BaseException as exc:
            raise AssertionError(f"seed {seed} case {case} ({kind}): {exc!r}") from exc
        seen.setdefault(kind, {"error": 0, "same": 0})[result] += 1
    return seen


def test_random_corpus(good):
    seen = run_corpus(good, seed=2026, n=520)
    assert set(seen) == set(MUTATIONS)              # every mutation was tried
    assert sum(v["error"] for v in seen.values()) > 450
    # edits behind a valid CRC are caught by the digests, bombs by the size limits
    for kind in ("edit_member", "drop", "swap", "bomb", "truncate"):
        assert seen[kind]["same"] == 0, (kind, seen[kind])


@pytest.mark.regress
def test_random_corpus_long(good):
    for seed in range(int(os.environ.get("SPIKELOOM_SEEDS", "10"))):
        run_corpus(good, seed=seed, n=400)


def test_a_lying_bomb_is_not_inflated(good):
    """A member whose directory entry claims the right size but whose stream inflates to
    64 MB: zipfile stops at the claimed size and the CRC fails; nothing big is decompressed."""
    e = entries_of(good)
    name = "regions/WEIGHTS.bin"
    want = len(e[name])
    e[name] = bytes(64 << 20)
    data = bytearray(zip_of(e))
    # patch the uncompressed size in the member's central-directory record (offset 24)
    pos = data.find(b"PK\x01\x02")
    while True:
        n, m, k = struct.unpack("<HHH", data[pos + 28:pos + 34])
        if data[pos + 46:pos + 46 + n].decode() == name:
            data[pos + 24:pos + 28] = struct.pack("<I", want)
            break
        pos += 46 + n + m + k
    with pytest.raises(sl.ImageError, match="regions/WEIGHTS.bin: cannot be decompressed"):
        sl.Image.from_bytes(bytes(data))


def test_size_limits_come_from_the_configuration(good, tmp_path, monkeypatch):
    e = entries_of(good)
    e["regions/STDP_PARAMS.bin"] += b"\0"
    with pytest.raises(sl.ImageError, match=r"regions/STDP_PARAMS.bin: declares \d+ bytes, "
                       r"more than the \d+ it can have"):
        sl.Image.from_bytes(zip_of(e))
    from spikeloom import image as image_module
    monkeypatch.setattr(image_module, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "big.slimg"
    path.write_bytes(good)
    with pytest.raises(sl.ImageError, match="more than any spikeloom image"):
        sl.Image.load(path)
    monkeypatch.setattr(image_module, "MAX_MANIFEST_BYTES", 100)
    with pytest.raises(sl.ImageError, match=r"manifest.json: declares \d+ bytes, more than the "
                       r"100"):
        sl.Image.from_bytes(good)


# -- hand-written manifest edits (re-sealed) -------------------------------------------------------

def resealed(good: bytes, edit, files=None) -> bytes:
    e = entries_of(good)
    m = json.loads(e["manifest.json"])
    edit(m, e)
    m["sha256"] = manifest_digest(m)
    e["manifest.json"] = json.dumps(m).encode()
    return zip_of(e)


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _header(descr, shape) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def _replace_npy(m, e, k, blob):
    import hashlib
    e[f"projections/{k}.npy"] = blob
    m["projections"][k]["sha256"] = hashlib.sha256(blob).hexdigest()


TINY9_HASH = f"0x{sl.preset('tiny').replace(n_neurons=9).hash():08x}"


def _pops(m):
    return {p["name"]: p for p in m["populations"]}


EDITS = {
    "dt string": (lambda m, e: m.update(dt="1"), r"manifest.json: dt = '1' must be a positive"),
    "dt negative": (lambda m, e: m.update(dt=-1.0), r"dt = -1.0 must be a positive"),
    "dt nan": (lambda m, e: m.update(dt=float("nan")), r"dt = nan must be a positive"),
    "version string": (lambda m, e: m.update(format_version="2"),
                       r"format version '2' \(this spikeloom reads version 2"),
    "extra key": (lambda m, e: m.update(extra=1), r"manifest.json: has the fields"),
    "missing key": (lambda m, e: m.pop("stdp"), r"manifest.json: has the fields"),
    "created_by": (lambda m, e: m.update(created_by=5), r"created_by must be a string"),
    "config type": (lambda m, e: m["config"]["fields"].update(n_neurons="8"),
                    r"manifest.json: config: CoreConfig.n_neurons must be an int"),
    "config range": (lambda m, e: m["config"]["fields"].update(v_width=99),
                     r"config: CoreConfig.v_width = 99 is out of range"),
    "config field": (lambda m, e: m["config"]["fields"].pop("baud"), r"config.fields must have"),
    "config hash": (lambda m, e: m["config"].update(hash="0x00000000"),
                    r"configuration hash '0x00000000' does not match its fields"),
    "config bigger": (lambda m, e: (m["config"]["fields"].update(n_neurons=9),
                                    m["config"].update(hash=TINY9_HASH)),
                      r"regions.NEURON_PARAMS.words = 8, expected 9"),
    "region words": (lambda m, e: m["regions"]["WEIGHTS"].update(words="24"),
                     r"regions.WEIGHTS.words = '24', expected 24"),
    "region file": (lambda m, e: m["regions"]["WEIGHTS"].update(file="../WEIGHTS.bin"),
                    r"regions.WEIGHTS.file = '../WEIGHTS.bin', expected 'regions/WEIGHTS.bin'"),
    "region digest": (lambda m, e: m["regions"]["SPIKES"].update(sha256="0" * 64),
                      r"regions/SPIKES.bin: region SPIKES fails its checksum"),
    "region missing": (lambda m, e: m["regions"].pop("SPIKES"), r"regions must list exactly"),
    "pop outside": (lambda m, e: _pops(m)["inh"].update(start=7),
                    r"population 'inh': neurons 7\.\.\+2 lie outside the core's 8 neurons"),
    "pop size 0": (lambda m, e: _pops(m)["in"].update(size=0), r"population 'in': inputs 0"),
    "pop size bool": (lambda m, e: _pops(m)["in"].update(size=True), r"population 'in'"),
    "pop kind": (lambda m, e: _pops(m)["in"].update(kind="glia"), r"kind 'glia' is not"),
    "pop overlap": (lambda m, e: _pops(m)["inh"].update(start=4),
                    r"populations 'exc' and 'inh' overlap"),
    "pop twice": (lambda m, e: _pops(m)["inh"].update(name="exc"),
                  r"populations\[2\]\.name 'exc' must be a new non-empty string"),
    "pop scale": (lambda m, e: _pops(m)["exc"].update(scale=-1),
                  r"population 'exc': scale -1 must be a positive number"),
    "pop v_rest": (lambda m, e: _pops(m)["exc"].update(v_rest=[0.0, 1.0]),
                   r"population 'exc': v_rest must be a finite number or 5 of them"),
    "pop field": (lambda m, e: _pops(m)["exc"].pop("v_rest"), r"populations\[1\] must have"),
    "proj src": (lambda m, e: m["projections"][0].update(src="nope"),
                 r"projection 'ff' connects 'nope' -> 'exc'"),
    "proj onto inputs": (lambda m, e: m["projections"][0].update(dst="in"),
                         r"projection 'ff' connects 'in' -> 'in'"),
    "proj scale": (lambda m, e: m["projections"][0].update(scale=1.0),
                   r"projection 'ff': scale 1.0 is not its target's"),
    "proj synapses": (lambda m, e: m["projections"][0].update(synapses=10 ** 12),
                      r"projection 'ff': synapses = 1000000000000 is not 0\.\.3\*5"),
    "proj synapses short": (lambda m, e: m["projections"][0].update(synapses=14, plastic=14),
                            r"projections/0.npy: holds int32 \(3, 15\), expected int32 \(3, 14\)"),
    "proj plastic": (lambda m, e: m["projections"][0].update(plastic=3),
                     r"projections/0.npy: plastic flags must be 0/1, 3 of them set"),
    "proj file": (lambda m, e: m["projections"][0].update(file="/etc/passwd"),
                  r"projection 'ff': file must be 'projections/0.npy'"),
    "proj out of range": (lambda m, e: _replace_npy(m, e, 0, _npy(np.array(
        [[0, 1, 2], [0, 9, 1], [1, 1, 1]], "<i4"))) or m["projections"][0].update(
        synapses=3, plastic=3), r"projections/0.npy: synapse indices lie outside"),
    "proj twice": (lambda m, e: _replace_npy(m, e, 0, _npy(np.array(
        [[0, 0], [1, 1], [1, 1]], "<i4"))) or m["projections"][0].update(
        synapses=2, plastic=2), r"projections/0.npy: lists a synapse twice"),
    "proj dtype": (lambda m, e: _replace_npy(m, e, 0, _npy(np.zeros((3, 15)))),
                   r"projections/0.npy: holds float64 \(3, 15\), expected int32"),
    # a header may declare any shape: it is checked before any data is read or allocated
    "proj huge header": (lambda m, e: _replace_npy(m, e, 0, _header("<i4", (3, 10 ** 15))),
                         r"projections/0.npy: holds int32 \(3, 1000000000000000\)"),
    "proj pickle": (lambda m, e: _replace_npy(m, e, 0, _header("|O", (3, 15))),
                    r"projections/0.npy: holds object \(3, 15\), expected int32"),
    "proj garbage": (lambda m, e: _replace_npy(m, e, 0, b"\x93NUMPY\x01\x00\x10\x00{'descr'"),
                     r"projections/0.npy: is not a numpy array file"),
    "stdp integers": (lambda m, e: m["stdp"]["integers"].update(a_plus=1),
                      r"stdp.integers do not match the STDP_PARAMS region"),
    "stdp model": (lambda m, e: m["stdp"]["model"].update(a_plus="x"),
                   r"stdp.model must map names to numbers"),
    "report type": (lambda m, e: m.update(report="x"),
                    r"manifest.json: report: report must be an object or null"),
    "report entry": (lambda m, e: m["report"]["entries"].append([1, 2]),
                     r"report: report.entries\[\d+\] must be a list of 8 items"),
    "report number": (lambda m, e: m["report"]["entries"][0].__setitem__(1, "x"),
                      r"report.entries\[0\]\[1\] must be a number"),
    "params padding": (lambda m, e: _set_bit(m, e, "NEURON_PARAMS", 10, 7),
                       r"regions/NEURON_PARAMS.bin: word 0 has bits outside its fields"),
}


def _set_bit(m, e, region, byte, bit):
    import hashlib
    name = f"regions/{region}.bin"
    b = bytearray(e[name])
    b[byte] |= 1 << bit
    e[name] = bytes(b)
    m["regions"][region]["sha256"] = hashlib.sha256(bytes(b)).hexdigest()


@pytest.mark.parametrize("name", EDITS)
def test_manifest_edits_name_member_and_field(good, name):
    edit, match = EDITS[name]
    with pytest.raises(sl.ImageError, match=match) as err:
        sl.Image.from_bytes(resealed(good, edit), source="edited.slimg")
    assert str(err.value).startswith("edited.slimg is not a usable spikeloom image: ")


def test_harmless_edits_load_unchanged(good):
    """Re-sealing the manifest as it is, reordering members or re-indenting the JSON changes
    nothing the image means: it loads and saves to the original bytes."""
    assert outcome(resealed(good, lambda m, e: None), good) == "same"
    e = entries_of(good)
    assert outcome(zip_of(e, sorted(e, reverse=True)), good) == "same"


def test_load_accepts_a_preset_name(tmp_path):
    path = build_image().save(tmp_path / "tiny.slimg")
    assert sl.Image.load(path, config="tiny").config == sl.preset("tiny")
    with pytest.raises(sl.ImageConfigMismatch, match="'tiny'.*'up5k'"):
        sl.Image.load(path, config="up5k")
    with pytest.raises(sl.ConfigMismatch, match="nope"):
        sl.Image.load(path, config="nope")
