"""Region codec: numpy field arrays <-> the packed words of a region, as bytes on the wire.

A region's contents travel (and are stored in images) exactly as the protocol carries them:
``region_words`` words of ``layout.nbytes`` bytes each, little-endian, concatenated. This module
converts between that and per-field int64 arrays, vectorised with numpy
(:mod:`spikeloom.proto.codec`, which the golden model's region access uses as well). The bit
layout itself comes from :func:`spikeloom.proto.memmap.layouts` only.

Weights and plasticity bits are exchanged as (n_sources, n_neurons) matrices: lane ``k`` of word
``row * words_per_row + c`` is neuron ``c * weights_per_word + k``; lanes past the last neuron
are zero.
"""

from __future__ import annotations

import numpy as np

from .proto import codec as word_codec
from .proto.config import CoreConfig
from .proto.memmap import Region, layouts, region_words

__all__ = ["encode", "decode", "encode_matrix", "decode_matrix", "zero_region", "field_names"]

I64 = np.int64


def field_names(cfg: CoreConfig, region: Region) -> list[str]:
    return [f.name for f in layouts(cfg)[Region(region)].fields]


def encode(cfg: CoreConfig, region: Region, fields: dict) -> bytes:
    """Bytes of ``region`` from ``{field: int array of region_words}`` (missing fields are 0).
    ValueError names the first value that does not fit its field."""
    region = Region(region)
    return word_codec.encode(layouts(cfg)[region], fields, region_words(cfg, region),
                             f"{region.name}.")


def decode(cfg: CoreConfig, region: Region, data: bytes) -> dict[str, np.ndarray]:
    """``{field: int64 array}`` from the bytes of a whole region (or any whole number of its
    words). ValueError if the length is not whole words."""
    region = Region(region)
    try:
        return word_codec.decode(layouts(cfg)[region], data)
    except ValueError as e:
        raise ValueError(f"{region.name}: {e}") from None


def encode_matrix(cfg: CoreConfig, region: Region, matrix) -> bytes:
    """WEIGHTS, PLASTIC or DELAYS bytes from an (n_sources, n_neurons) int/bool matrix."""
    region = Region(region)
    if region not in _PREFIX:
        raise ValueError(f"{region.name} is not a matrix region")
    m = np.asarray(matrix).astype(I64)
    if m.shape != (cfg.n_sources, cfg.n_neurons):
        raise ValueError(f"{region.name} matrix must be ({cfg.n_sources}, {cfg.n_neurons}), "
                         f"got {m.shape}")
    wpw, wpr = cfg.weights_per_word, cfg.words_per_row
    padded = np.zeros((cfg.n_sources, wpr * wpw), I64)
    padded[:, :cfg.n_neurons] = m
    lanes = padded.reshape(cfg.n_sources * wpr, wpw)
    prefix = _PREFIX[region]
    return encode(cfg, region, {f"{prefix}{k}": lanes[:, k] for k in range(wpw)})


def decode_matrix(cfg: CoreConfig, region: Region, data: bytes) -> np.ndarray:
    """The (n_sources, n_neurons) int64 matrix of WEIGHTS, PLASTIC or DELAYS bytes."""
    region = Region(region)
    fields = decode(cfg, region, data)
    wpw, wpr = cfg.weights_per_word, cfg.words_per_row
    prefix = _PREFIX[region]
    lanes = np.stack([fields[f"{prefix}{k}"] for k in range(wpw)], axis=1)
    if lanes.shape[0] != cfg.n_sources * wpr:
        raise ValueError(f"{region.name}: expected {cfg.n_sources * wpr} words, "
                         f"got {lanes.shape[0]}")
    return lanes.reshape(cfg.n_sources, wpr * wpw)[:, :cfg.n_neurons].copy()


def zero_region(cfg: CoreConfig, region: Region) -> bytes:
    """All-zero bytes of ``region`` (empty for a region ``cfg`` does not have)."""
    region = Region(region)
    lay = layouts(cfg).get(region)
    return bytes(region_words(cfg, region) * lay.nbytes) if lay else b""


#: the lane field prefix of each matrix region (addressed like WEIGHTS)
_PREFIX = {Region.WEIGHTS: "w", Region.PLASTIC: "p", Region.DELAYS: "d"}
