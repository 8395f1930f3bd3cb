"""Whole arrays of packed words: numpy field arrays <-> the bytes the protocol carries.

A region's words travel as ``layout.nbytes`` bytes each, little-endian, concatenated
(:mod:`spikeloom.proto.memmap`). :func:`encode` and :func:`decode` convert between that and one
int64 array per field for any number of words at once, vectorised with numpy: through one
uint64 per word when the layout fits 64 bits, else through a bit matrix (any width). They give
exactly the bytes of ``Layout.to_bytes(Layout.pack(...))`` word by word, which is the
definition (tests/test_codec.py). The host's region codec (``spikeloom.regions``) and the golden
model's region access both use them, so a region's bit layout is converted in one place.
"""

from __future__ import annotations

import numpy as np

from .memmap import Layout

__all__ = ["encode", "decode", "check_fits", "excess_bits"]

I64 = np.int64


def check_fits(layout: Layout, name: str, values: np.ndarray, what: str = "") -> None:
    """ValueError naming the first value of field ``name`` that does not fit its width."""
    f = layout.field(name)
    lo = -(1 << (f.width - 1)) if f.signed else 0
    hi = (1 << (f.width - 1)) - 1 if f.signed else (1 << f.width) - 1
    values = np.asarray(values)
    bad = np.flatnonzero((values < lo) | (values > hi))
    if bad.size:
        raise ValueError(f"{what}{name}[{bad[0]}] = {values.ravel()[bad[0]]} does not fit "
                         f"{f.width} {'signed' if f.signed else 'unsigned'} bits ({lo}..{hi})")


def encode(layout: Layout, fields: dict, n: int, what: str = "") -> bytes:
    """The bytes of ``n`` words from ``{field: int array of n (or a scalar)}``; missing fields
    are 0. ValueError (prefixed with ``what``) names the first value that does not fit."""
    arrays = {}
    for f in layout.fields:
        a = np.asarray(fields.get(f.name, 0)).astype(I64, copy=False)
        a = np.broadcast_to(a, (n,)) if a.ndim == 0 else a
        if a.shape != (n,):
            raise ValueError(f"{what}{f.name}: expected {n} values, got {a.shape}")
        check_fits(layout, f.name, a, what)
        arrays[f.name] = a
    nb = layout.nbytes
    if layout.width <= 64:
        words = np.zeros(n, np.uint64)
        for f in layout.fields:
            mask = np.uint64((1 << f.width) - 1)
            words |= (arrays[f.name].astype(np.uint64) & mask) << np.uint64(layout.offsets[f.name])
        return words.astype("<u8").view(np.uint8).reshape(n, 8)[:, :nb].tobytes()
    bits = np.zeros((n, 8 * nb), np.uint8)
    for f in layout.fields:
        off = layout.offsets[f.name]
        # >> on int64 is arithmetic, so the bits of a negative value are its two's complement
        bits[:, off:off + f.width] = (arrays[f.name][:, None] >> np.arange(f.width)) & 1
    return np.packbits(bits, axis=1, bitorder="little").tobytes()


def _words(layout: Layout, data) -> np.ndarray:
    nb = layout.nbytes
    buf = np.frombuffer(bytes(data), np.uint8)
    if buf.size % nb:
        raise ValueError(f"{buf.size} bytes is not a whole number of {nb}-byte words")
    return buf.reshape(-1, nb)


def decode(layout: Layout, data) -> dict[str, np.ndarray]:
    """``{field: int64 array}`` of the whole words in ``data`` (ValueError if not whole).
    Bits above the layout's width are ignored (:func:`excess_bits` finds them)."""
    raw = _words(layout, data)
    n, nb = raw.shape
    out = {}
    if layout.width <= 64:
        padded = np.zeros((n, 8), np.uint8)
        padded[:, :nb] = raw
        words = padded.view("<u8").ravel()
        for f in layout.fields:
            out[f.name] = ((words >> np.uint64(layout.offsets[f.name]))
                           & np.uint64((1 << f.width) - 1)).astype(I64)
    else:
        bits = np.unpackbits(raw, axis=1, bitorder="little").astype(I64)
        for f in layout.fields:
            off = layout.offsets[f.name]
            out[f.name] = (bits[:, off:off + f.width] << np.arange(f.width)).sum(axis=1)
    for f in layout.fields:
        if f.signed:
            v = out[f.name]
            out[f.name] = np.where((v >> (f.width - 1)) & 1, v - (1 << f.width), v)
    return out


def excess_bits(layout: Layout, data) -> np.ndarray:
    """Indices of the words in ``data`` that have bits set above the layout's width."""
    raw = _words(layout, data)
    full, rest = divmod(layout.width, 8)
    high = raw[:, full:].copy()
    if rest:
        high[:, 0] &= np.uint8(0xFF ^ ((1 << rest) - 1))
    return np.flatnonzero(high.any(axis=1))
