"""Region codec: numpy field arrays <-> the packed words of a region, as bytes on the wire.

A region's contents travel (and are stored in images) exactly as the protocol carries them:
``region_words`` words of ``layout.nbytes`` bytes each, little-endian, concatenated. This module
converts between that and per-field int64 arrays, vectorised with numpy whenever a word fits 64
bits (every default layout except NEURON_PARAMS, which is one word per neuron and packed with
Python ints). The bit layout itself comes from :func:`spikeloom.proto.memmap.layouts` only.

Weights and plasticity bits are exchanged as (n_sources, n_neurons) matrices: lane ``k`` of word
``row * words_per_row + c`` is neuron ``c * weights_per_word + k``; lanes past the last neuron
are zero.
"""

from __future__ import annotations

import numpy as np

from .proto.config import CoreConfig
from .proto.memmap import Layout, Region, layouts, region_words

__all__ = ["encode", "decode", "encode_matrix", "decode_matrix", "zero_region", "field_names"]

I64 = np.int64


def field_names(cfg: CoreConfig, region: Region) -> list[str]:
    return [f.name for f in layouts(cfg)[Region(region)].fields]


def _check_fits(layout: Layout, name: str, values: np.ndarray, region: Region):
    f = layout.field(name)
    lo = -(1 << (f.width - 1)) if f.signed else 0
    hi = (1 << (f.width - 1)) - 1 if f.signed else (1 << f.width) - 1
    bad = np.flatnonzero((values < lo) | (values > hi))
    if bad.size:
        raise ValueError(f"{region.name}.{name}[{bad[0]}] = {values[bad[0]]} does not fit "
                         f"{f.width} {'signed' if f.signed else 'unsigned'} bits ({lo}..{hi})")


def encode(cfg: CoreConfig, region: Region, fields: dict) -> bytes:
    """Bytes of ``region`` from ``{field: int array of region_words}`` (missing fields are 0).
    ValueError names the first value that does not fit its field."""
    region = Region(region)
    layout = layouts(cfg)[region]
    n = region_words(cfg, region)
    arrays = {}
    for f in layout.fields:
        a = np.asarray(fields.get(f.name, 0), dtype=I64)
        a = np.broadcast_to(a, (n,)) if a.ndim == 0 else a
        if a.shape != (n,):
            raise ValueError(f"{region.name}.{f.name}: expected {n} values, got {a.shape}")
        _check_fits(layout, f.name, a, region)
        arrays[f.name] = a
    nb = layout.nbytes
    if layout.width <= 64:
        words = np.zeros(n, np.uint64)
        for f in layout.fields:
            mask = np.uint64((1 << f.width) - 1)
            words |= (arrays[f.name].astype(np.uint64) & mask) << np.uint64(layout.offsets[f.name])
        return words.astype("<u8").view(np.uint8).reshape(n, 8)[:, :nb].tobytes()
    out = bytearray()
    for k in range(n):
        out += layout.to_bytes(layout.pack({name: int(a[k]) for name, a in arrays.items()}))
    return bytes(out)


def decode(cfg: CoreConfig, region: Region, data: bytes) -> dict[str, np.ndarray]:
    """``{field: int64 array}`` from the bytes of a whole region (or any whole number of its
    words). ValueError if the length is not whole words."""
    region = Region(region)
    layout = layouts(cfg)[region]
    nb = layout.nbytes
    if len(data) % nb:
        raise ValueError(f"{region.name}: {len(data)} bytes is not a whole number of "
                         f"{nb}-byte words")
    n = len(data) // nb
    out = {}
    if layout.width <= 64:
        raw = np.zeros((n, 8), np.uint8)
        raw[:, :nb] = np.frombuffer(data, np.uint8).reshape(n, nb)
        words = raw.view("<u8").ravel()
        for f in layout.fields:
            v = ((words >> np.uint64(layout.offsets[f.name]))
                 & np.uint64((1 << f.width) - 1)).astype(I64)
            if f.signed:
                v = np.where(v >> (f.width - 1) & 1, v - (1 << f.width), v)
            out[f.name] = v
        return out
    cols = {f.name: np.zeros(n, I64) for f in layout.fields}
    for k in range(n):
        for name, value in layout.unpack(int.from_bytes(data[k * nb:(k + 1) * nb],
                                                        "little")).items():
            cols[name][k] = value
    return cols


def encode_matrix(cfg: CoreConfig, region: Region, matrix) -> bytes:
    """WEIGHTS or PLASTIC bytes from an (n_sources, n_neurons) int/bool matrix."""
    region = Region(region)
    if region not in (Region.WEIGHTS, Region.PLASTIC):
        raise ValueError(f"{region.name} is not a matrix region")
    m = np.asarray(matrix).astype(I64)
    if m.shape != (cfg.n_sources, cfg.n_neurons):
        raise ValueError(f"{region.name} matrix must be ({cfg.n_sources}, {cfg.n_neurons}), "
                         f"got {m.shape}")
    wpw, wpr = cfg.weights_per_word, cfg.words_per_row
    padded = np.zeros((cfg.n_sources, wpr * wpw), I64)
    padded[:, :cfg.n_neurons] = m
    lanes = padded.reshape(cfg.n_sources * wpr, wpw)
    prefix = "w" if region == Region.WEIGHTS else "p"
    return encode(cfg, region, {f"{prefix}{k}": lanes[:, k] for k in range(wpw)})


def decode_matrix(cfg: CoreConfig, region: Region, data: bytes) -> np.ndarray:
    """The (n_sources, n_neurons) int64 matrix of WEIGHTS or PLASTIC bytes."""
    region = Region(region)
    fields = decode(cfg, region, data)
    wpw, wpr = cfg.weights_per_word, cfg.words_per_row
    prefix = "w" if region == Region.WEIGHTS else "p"
    lanes = np.stack([fields[f"{prefix}{k}"] for k in range(wpw)], axis=1)
    if lanes.shape[0] != cfg.n_sources * wpr:
        raise ValueError(f"{region.name}: expected {cfg.n_sources * wpr} words, "
                         f"got {lanes.shape[0]}")
    return lanes.reshape(cfg.n_sources, wpr * wpw)[:, :cfg.n_neurons].copy()


def zero_region(cfg: CoreConfig, region: Region) -> bytes:
    region = Region(region)
    return bytes(region_words(cfg, region) * layouts(cfg)[region].nbytes)
