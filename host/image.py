"""Images: everything a device needs to run one compiled network, and the ``.slimg`` file format.

An :class:`Image` holds, for one :class:`~spikeloom.proto.config.CoreConfig`, the contents of
every memory region as the bytes the protocol writes (packed words, little-endian; see
:mod:`spikeloom.regions`), plus what the host needs to talk about them in the user's terms: the
placement of every population onto hardware inputs/neurons (with its scale and ``v_rest``),
each projection's synapses and scale, the time step, and the quantization report.

File format (``.slimg``, format version 2; docs/host.md "Image files"): a ZIP archive (deflate,
fixed timestamps, sorted entries, so compiling twice gives identical bytes) with

- ``manifest.json``: ``format`` = ``"spikeloom-image"``, ``format_version``, ``created_by``,
  ``config`` (``name``, ``fields``, ``hash`` as ``0x%08x``), ``dt``, ``regions`` (per region:
  ``file``, ``words``, ``word_bytes``, ``sha256``), ``populations``, ``projections`` (each with
  its file's ``sha256``), ``stdp``, ``report``, and ``sha256``: the digest of the manifest
  itself (:func:`manifest_digest`), so that nothing in the file can change unnoticed;
- ``regions/<REGION>.bin``: the region's packed words, exactly as WRITE payloads carry them;
- ``projections/<k>.npy``: int32 array ``(3, n)``: pre index, post index, plastic flag of the
  ``k``-th projection's synapses (indices within its populations).

A file is untrusted input. Loading reads no member before checking its declared size against
the most an image for the manifest's configuration can hold (the manifest itself against
:data:`MAX_MANIFEST_BYTES`, the file against :data:`MAX_FILE_BYTES`), reads at most that many
bytes (a member that decompresses to more, a "decompression bomb", is refused, as is one whose
deflate stream or CRC is broken), checks every manifest field's type and range, every digest,
that populations and projections lie inside the core and their populations, and that every
region is in canonical form (no bits above a field, no weights in lanes past the last neuron).
Every failure is one :class:`ImageError` naming the file and the member; an image that loads
saves to the same bytes. :meth:`Image.check_config` refuses an image built for another
configuration with :class:`ImageConfigMismatch` (both an :class:`ImageError` and a
:class:`ConfigMismatch`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import numbers
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import regions as codec
from .errors import ConfigMismatch, ImageError
from .proto import memmap
from .proto.config import CoreConfig, preset
from .proto.memmap import Region, layouts, region_words
from .report import Report

__all__ = [
    "Image", "ImageDiff", "PopulationInfo", "ProjectionInfo", "ImageConfigMismatch",
    "FORMAT", "FORMAT_VERSION", "MAX_FILE_BYTES", "MAX_MANIFEST_BYTES", "config_mismatch_message",
    "manifest_digest", "as_config",
]

FORMAT = "spikeloom-image"
FORMAT_VERSION = 2
#: the largest .slimg file Image.load reads (the largest preset's image is a few MB)
MAX_FILE_BYTES = 256 << 20
#: the largest manifest.json read (it is read before the configuration is known)
MAX_MANIFEST_BYTES = 16 << 20
#: the largest total of region and projection bytes an image may declare, whatever its config
MAX_CONTENT_BYTES = 1 << 30
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class ImageConfigMismatch(ImageError, ConfigMismatch):
    """The image was compiled for another core configuration."""


def as_config(config, error=ConfigMismatch) -> CoreConfig:
    """A CoreConfig from a CoreConfig or a preset name; ``error`` (a ConfigMismatch by
    default) lists the presets for an unknown name or names a wrong type."""
    if isinstance(config, CoreConfig):
        return config
    if isinstance(config, str):
        try:
            return preset(config)
        except ValueError as exc:
            raise error(str(exc)) from None
    raise error(f"a configuration is a CoreConfig or a preset name, not {config!r}")


def manifest_digest(manifest: dict) -> str:
    """SHA-256 (hex) of the canonical JSON of ``manifest`` without its own ``sha256`` field."""
    body = {k: v for k, v in manifest.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def config_mismatch_message(what: str, have: CoreConfig, want: CoreConfig, want_what: str) -> str:
    """One sentence naming both configurations and every differing field."""
    a, b = have.fields(), want.fields()
    diffs = [f"{k} {a[k]} vs {b[k]}" for k in sorted(a) if a[k] != b.get(k)]
    return (f"{what} is for configuration {have.name!r} (hash 0x{have.hash():08x}) but "
            f"{want_what} is {want.name!r} (hash 0x{want.hash():08x}): "
            f"{', '.join(diffs) or 'fields agree, hash differs'}")


@dataclasses.dataclass(frozen=True)
class PopulationInfo:
    """Where a population sits: hardware inputs ``start .. start+size-1`` (``kind="inputs"``)
    or hardware neurons (``kind="neurons"``); ``scale`` = integer units per model unit;
    ``v_rest`` = the model voltage of the hardware's 0 (one number, or a tuple with one per
    neuron): model ``v = v_rest + integer / scale``."""
    name: str
    kind: str
    start: int
    size: int
    scale: float = 1.0
    v_rest: float | tuple = 0.0

    def __post_init__(self):
        v = self.v_rest
        object.__setattr__(self, "v_rest", float(v) if np.ndim(v) == 0
                           else tuple(float(x) for x in v))

    @property
    def stop(self) -> int:
        return self.start + self.size


@dataclasses.dataclass(frozen=True)
class ProjectionInfo:
    """A compiled projection: synapse index arrays within ``src``/``dst`` and the weight scale
    (integer weight = round(weight * scale))."""
    name: str
    src: str
    dst: str
    scale: float
    pre: np.ndarray
    post: np.ndarray
    plastic: np.ndarray

    @property
    def n_synapses(self) -> int:
        return int(self.pre.size)


class Image:
    """A compiled network for one configuration (see the module docstring)."""

    def __init__(self, config: CoreConfig, regions: dict, populations=(), projections=(),
                 dt: float = 1.0, stdp: dict | None = None, report=None):
        self.config = config
        self.regions = {}
        for region in memmap.regions(config):
            data = regions.get(region)
            data = codec.zero_region(config, region) if data is None else bytes(data)
            expect = region_words(config, region) * layouts(config)[region].nbytes
            if len(data) != expect:
                raise ImageError(f"region {region.name} has {len(data)} bytes, expected {expect} "
                                 f"for configuration {config.name!r}")
            self.regions[region] = data
        self.populations = {p.name: p for p in populations}
        self.projections = {p.name: p for p in projections}
        self.dt = float(dt)
        self.stdp = stdp
        self.report = report

    # -- contents ----------------------------------------------------------------------------------

    def fields(self, region: Region) -> dict[str, np.ndarray]:
        """The decoded field arrays of ``region``."""
        return codec.decode(self.config, region, self.regions[Region(region)])

    def weights(self) -> np.ndarray:
        """The (n_sources, n_neurons) integer weight matrix."""
        return codec.decode_matrix(self.config, Region.WEIGHTS, self.regions[Region.WEIGHTS])

    def plastic(self) -> np.ndarray:
        return codec.decode_matrix(self.config, Region.PLASTIC,
                                   self.regions[Region.PLASTIC]).astype(bool)

    def population(self, pop) -> PopulationInfo:
        name = getattr(pop, "name", pop)
        try:
            return self.populations[name]
        except KeyError:
            raise KeyError(f"no population {name!r} in this image; it has "
                           f"{', '.join(self.populations) or 'none'}") from None

    def projection(self, proj) -> ProjectionInfo:
        name = getattr(proj, "name", proj)
        try:
            return self.projections[name]
        except KeyError:
            raise KeyError(f"no projection {name!r} in this image; it has "
                           f"{', '.join(self.projections) or 'none'}") from None

    def rows_cols(self, proj) -> tuple[np.ndarray, np.ndarray]:
        """Hardware (source row, neuron column) of every synapse of ``proj``."""
        info = self.projection(proj)
        src, dst = self.populations[info.src], self.populations[info.dst]
        offset = 0 if src.kind == "inputs" else self.config.n_inputs
        return offset + src.start + info.pre, dst.start + info.post

    def check_config(self, expected, what: str = "the device") -> None:
        """ImageConfigMismatch unless this image was compiled for ``expected`` (a CoreConfig
        or a preset name)."""
        expected = as_config(expected, ImageConfigMismatch)
        if self.config.hash() != expected.hash():
            raise ImageConfigMismatch(
                config_mismatch_message("this image", self.config, expected, what)
                + f"; recompile the network for {expected.name!r} "
                f"(spikeloom.compile(net, target=...) or `spikeloom compile --config`)")

    def digest(self) -> str:
        """SHA-256 of the file this image saves to (identical images, identical digests)."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    # -- file format -------------------------------------------------------------------------------

    def manifest(self) -> dict:
        cfg = self.config
        regions = {}
        for region in memmap.regions(cfg):
            data = self.regions[region]
            regions[region.name] = {
                "file": f"regions/{region.name}.bin", "words": region_words(cfg, region),
                "word_bytes": layouts(cfg)[region].nbytes,
                "sha256": hashlib.sha256(data).hexdigest()}
        from . import __version__
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "created_by": f"spikeloom {__version__}",
            "config": {"name": cfg.name, "fields": cfg.fields(), "hash": f"0x{cfg.hash():08x}"},
            "dt": self.dt,
            "regions": regions,
            "populations": [dataclasses.asdict(p) for p in self.populations.values()],
            "projections": [
                {"name": p.name, "src": p.src, "dst": p.dst, "scale": p.scale,
                 "synapses": p.n_synapses, "plastic": int(np.count_nonzero(p.plastic)),
                 "file": f"projections/{k}.npy",
                 "sha256": hashlib.sha256(blob).hexdigest()}
                for k, (p, blob) in enumerate(zip(self.projections.values(),
                                                  self._projection_files(), strict=True))],
            "stdp": self.stdp,
            "report": None if self.report is None else self.report.to_json(),
        }
        manifest["sha256"] = manifest_digest(manifest)
        return manifest

    def _projection_files(self) -> list[bytes]:
        out = []
        for p in self.projections.values():
            buf = io.BytesIO()
            np.save(buf, np.stack([p.pre, p.post, p.plastic.astype(np.int64)]).astype("<i4"),
                    allow_pickle=False)
            out.append(buf.getvalue())
        return out

    def to_bytes(self) -> bytes:
        manifest = self.manifest()
        entries = {"manifest.json": json.dumps(manifest, indent=1, sort_keys=True).encode()}
        for region in self.regions:
            entries[manifest["regions"][region.name]["file"]] = self.regions[region]
        for k, blob in enumerate(self._projection_files()):
            entries[f"projections/{k}.npy"] = blob
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, entries[name])
        return out.getvalue()

    def save(self, path) -> Path:
        path = Path(path)
        path.write_bytes(self.to_bytes())
        return path

    @classmethod
    def load(cls, path, config=None) -> Image:
        """Read a ``.slimg`` file; with ``config`` (a CoreConfig or a preset name), refuse an
        image for another configuration. Any problem with the file is an ImageError."""
        path = Path(path)
        if config is not None:
            config = as_config(config)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise ImageError(f"{str(path)!r} has {size} bytes, more than any spikeloom "
                                 f"image ({MAX_FILE_BYTES}): it is not one")
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read image {str(path)!r}: {exc.strerror or exc}") from None
        image = cls.from_bytes(data, source=str(path))
        if config is not None:
            image.check_config(config)
        return image

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> Image:
        """The image in ``data`` (the bytes of a .slimg file), checked as the module docstring
        says; ImageError names ``source`` and the member at fault."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ImageError(f"{source}: an image is read from bytes, not "
                             f"{type(data).__name__}")
        return _Reader(bytes(data), source).image()

    # -- comparison --------------------------------------------------------------------------------

    def diff(self, other: Image) -> ImageDiff:
        """What differs between two images (configuration, placement, region contents)."""
        return ImageDiff(self, other)

    def __eq__(self, other):
        return isinstance(other, Image) and not self.diff(other)

    __hash__ = None

    def __repr__(self):
        return (f"<Image for {self.config.name!r}: {len(self.populations)} populations, "
                f"{len(self.projections)} projections>")


class ImageDiff:
    """Differences between images ``a`` and ``b``: ``items`` is a list of one-line strings;
    falsy when the images are equivalent."""

    def __init__(self, a: Image, b: Image, limit: int = 8):
        self.items: list[str] = []
        if a.config.hash() != b.config.hash():
            self.items.append(config_mismatch_message("a", a.config, b.config, "b"))
            return
        if a.dt != b.dt:
            self.items.append(f"dt: {a.dt} vs {b.dt}")
        for name in sorted(set(a.populations) | set(b.populations)):
            pa, pb = a.populations.get(name), b.populations.get(name)
            if pa != pb:
                self.items.append(f"population {name}: {pa} vs {pb}")
        for name in sorted(set(a.projections) | set(b.projections)):
            pa, pb = a.projections.get(name), b.projections.get(name)
            if pa is None or pb is None:
                self.items.append(f"projection {name}: only in {'b' if pa is None else 'a'}")
            elif (pa.src, pa.dst, pa.scale) != (pb.src, pb.dst, pb.scale) or not (
                    np.array_equal(pa.pre, pb.pre) and np.array_equal(pa.post, pb.post)
                    and np.array_equal(pa.plastic, pb.plastic)):
                self.items.append(f"projection {name}: synapses or scale differ")
        for region in memmap.regions(a.config):
            if a.regions[region] == b.regions[region]:
                continue
            fa, fb = a.fields(region), b.fields(region)
            changed = np.zeros(region_words(a.config, region), bool)
            for key in fa:
                changed |= fa[key] != fb[key]
            words = np.flatnonzero(changed)
            detail = []
            for w in words[:limit]:
                fields = [f"{k} {fa[k][w]}->{fb[k][w]}" for k in fa if fa[k][w] != fb[k][w]]
                detail.append(f"[{w}] {' '.join(fields)}")
            more = f" (+{words.size - limit} more)" if words.size > limit else ""
            self.items.append(f"{region.name}: {words.size} words differ: "
                              f"{'; '.join(detail)}{more}")

    def __bool__(self):
        return bool(self.items)

    def __iter__(self):
        return iter(self.items)

    def summary(self) -> str:
        return "\n".join(self.items) if self.items else "images are identical"

    def __str__(self):
        return self.summary()


# -- reading untrusted files -----------------------------------------------------------------------

_MANIFEST = "manifest.json"
_TOP_KEYS = {"format", "format_version", "created_by", "config", "dt", "regions", "populations",
             "projections", "stdp", "report", "sha256"}
_NPY_HEADER_MAX = 4096          # numpy pads its header to 64 bytes; 4 KiB is far beyond it


class _Bad(Exception):
    """A problem in one member (raised inside _Reader, turned into one ImageError)."""

    def __init__(self, member: str, why: str):
        super().__init__(why)
        self.member = member
        self.why = why


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _is_hex64(x) -> bool:
    return isinstance(x, str) and len(x) == 64 and all(c in "0123456789abcdef" for c in x)


class _Reader:
    """Reads one .slimg from bytes, trusting nothing in it (see the module docstring)."""

    def __init__(self, data: bytes, source: str):
        self.data, self.source = data, source

    def image(self) -> Image:
        try:
            return self._image()
        except _Bad as bad:
            where = f"{bad.member}: " if bad.member else ""
            raise ImageError(f"{self.source} is not a usable spikeloom image: {where}{bad.why}") \
                from None

    # -- members -----------------------------------------------------------------------------------

    def _member(self, name: str, limit: int) -> bytes:
        """The bytes of member ``name``, refusing one that declares or yields more than
        ``limit`` bytes before decompressing more than that."""
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            raise _Bad(name, "is missing") from None
        if info.file_size > limit:
            raise _Bad(name, f"declares {info.file_size} bytes, more than the {limit} it can "
                             "have in this image (corrupt, or a decompression bomb)")
        if info.flag_bits & 0x1:
            raise _Bad(name, "is encrypted")
        try:
            with self.zf.open(info) as f:
                blob = f.read(limit + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                RuntimeError, ValueError, OverflowError) as exc:
            raise _Bad(name, f"cannot be decompressed: {exc}") from None
        if len(blob) > limit:
            raise _Bad(name, f"decompresses to more than {limit} bytes")
        return blob

    def _image(self) -> Image:
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(self.data))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
                NotImplementedError, OverflowError, IndexError, KeyError) as exc:
            why = ("not a ZIP archive (is it a .slimg written by `spikeloom compile`?)"
                   if isinstance(exc, zipfile.BadZipFile) else f"a broken ZIP archive ({exc})")
            raise _Bad("", why) from None
        with self.zf:
            names = self.zf.namelist()
            if len(set(names)) != len(names):
                raise _Bad("", "the archive lists a member twice")
            m = self._manifest()
            config = self._config(m["config"])
            regions = self._regions(m["regions"], config)
            populations = self._populations(m["populations"], config)
            projections = self._projections(m["projections"], populations, config)
            stdp = self._stdp(m["stdp"], regions[Region.STDP_PARAMS], config)
            try:
                report = Report.from_json(m["report"])
            except (TypeError, ValueError) as exc:
                raise _Bad(_MANIFEST, f"report: {exc}") from None
        return Image(config, regions, populations, projections, dt=m["dt"], stdp=stdp,
                     report=report)

    # -- the manifest ------------------------------------------------------------------------------

    def _manifest(self) -> dict:
        blob = self._member(_MANIFEST, MAX_MANIFEST_BYTES)
        try:
            m = json.loads(blob)
        except (ValueError, RecursionError) as exc:
            raise _Bad(_MANIFEST, f"is not valid JSON ({exc})") from None
        if not isinstance(m, dict):
            raise _Bad(_MANIFEST, "is not a JSON object")
        if m.get("format") != FORMAT:
            raise _Bad(_MANIFEST, f"format is {m.get('format')!r}, expected {FORMAT!r}")
        version = m.get("format_version")
        if version != FORMAT_VERSION or not _is_int(version):
            newer = _is_int(version) and version > FORMAT_VERSION
            raise _Bad(_MANIFEST, f"format version {version!r} (this spikeloom reads version "
                                  f"{FORMAT_VERSION}; "
                                  f"{'upgrade spikeloom' if newer else 'recompile the network'})")
        if set(m) != _TOP_KEYS:
            raise _Bad(_MANIFEST, f"has the fields {sorted(m)}, expected {sorted(_TOP_KEYS)}")
        if not _is_hex64(m["sha256"]) or m["sha256"] != manifest_digest(m):
            raise _Bad(_MANIFEST, "fails its checksum (sha256): the file is corrupt or edited")
        if not isinstance(m["created_by"], str):
            raise _Bad(_MANIFEST, "created_by must be a string")
        if not (_is_num(m["dt"]) and math.isfinite(m["dt"]) and m["dt"] > 0):
            raise _Bad(_MANIFEST, f"dt = {m['dt']!r} must be a positive number of ms")
        m["dt"] = float(m["dt"])
        return m

    def _config(self, c) -> CoreConfig:
        where = "config"
        if not isinstance(c, dict) or set(c) != {"name", "fields", "hash"}:
            raise _Bad(_MANIFEST, f"{where} must be an object with name, fields and hash")
        names = set(CoreConfig().fields())
        # the optional neuron features are in the fields only when on (CoreConfig.fields)
        optional = {f.name for f in dataclasses.fields(CoreConfig)} - names - {"name"}
        fields = c["fields"]
        if not isinstance(c["name"], str):
            raise _Bad(_MANIFEST, f"{where}.name must be a string")
        if not isinstance(fields, dict) or not names <= set(fields) <= names | optional:
            got = sorted(fields) if isinstance(fields, dict) else type(fields).__name__
            raise _Bad(_MANIFEST, f"{where}.fields must have exactly {sorted(names)} (and "
                                  f"optionally {sorted(optional)}), got {got}")
        try:
            config = CoreConfig(name=c["name"], **fields)
        except (TypeError, ValueError) as exc:
            raise _Bad(_MANIFEST, f"{where}: {exc}") from None
        if c["hash"] != f"0x{config.hash():08x}":
            raise _Bad(_MANIFEST, f"configuration hash {c['hash']!r} does not match its fields "
                                  f"(0x{config.hash():08x}): the file is corrupt or edited")
        lay = layouts(config)
        total = sum(region_words(config, r) * lay[r].nbytes for r in memmap.regions(config))
        if total > MAX_CONTENT_BYTES:
            raise _Bad(_MANIFEST, f"configuration {config.name!r} needs {total} bytes of "
                                  f"regions, more than spikeloom loads ({MAX_CONTENT_BYTES})")
        return config

    def _regions(self, entries, config) -> dict:
        names = [r.name for r in memmap.regions(config)]
        if not isinstance(entries, dict) or set(entries) != set(names):
            raise _Bad(_MANIFEST, f"regions must list exactly {names}")
        out = {}
        lay = layouts(config)
        for region in memmap.regions(config):
            e = entries[region.name]
            where = f"regions.{region.name}"
            file = f"regions/{region.name}.bin"
            words, nb = region_words(config, region), lay[region].nbytes
            want = {"file": file, "words": words, "word_bytes": nb}
            if not isinstance(e, dict) or set(e) != {*want, "sha256"}:
                raise _Bad(_MANIFEST, f"{where} must have file, words, word_bytes, sha256")
            for key, value in want.items():
                if e[key] != value or type(e[key]) is not type(value):
                    raise _Bad(_MANIFEST, f"{where}.{key} = {e[key]!r}, expected {value!r} "
                                          f"for configuration {config.name!r}")
            if not _is_hex64(e["sha256"]):
                raise _Bad(_MANIFEST, f"{where}.sha256 is not a SHA-256 hex digest")
            blob = self._member(file, words * nb)
            if len(blob) != words * nb:
                raise _Bad(file, f"has {len(blob)} bytes, expected {words * nb}")
            if hashlib.sha256(blob).hexdigest() != e["sha256"]:
                raise _Bad(file, f"region {region.name} fails its checksum (file corrupt)")
            if region in (Region.WEIGHTS, Region.PLASTIC):
                again = codec.encode_matrix(config, region,
                                            codec.decode_matrix(config, region, blob))
            else:
                again = codec.encode(config, region, codec.decode(config, region, blob))
            if again != blob:
                k = next(i for i in range(len(blob)) if blob[i] != again[i]) // nb
                raise _Bad(file, f"word {k} has bits outside its fields (or a weight past the "
                                 "last neuron): not something a device can hold")
            out[region] = blob
        return out

    def _populations(self, items, config) -> list[PopulationInfo]:
        if not isinstance(items, list):
            raise _Bad(_MANIFEST, "populations must be a list")
        keys = {f.name for f in dataclasses.fields(PopulationInfo)}
        out, seen = [], set()
        for k, p in enumerate(items):
            where = f"populations[{k}]"
            if not isinstance(p, dict) or set(p) != keys:
                raise _Bad(_MANIFEST, f"{where} must have exactly {sorted(keys)}")
            name, kind, start, size, scale, v_rest = (p[f] for f in (
                "name", "kind", "start", "size", "scale", "v_rest"))
            if not isinstance(name, str) or not name or name in seen:
                raise _Bad(_MANIFEST, f"{where}.name {name!r} must be a new non-empty string")
            seen.add(name)
            where = f"population {name!r}"
            if kind not in ("inputs", "neurons"):
                raise _Bad(_MANIFEST, f"{where}: kind {kind!r} is not 'inputs' or 'neurons'")
            have = config.n_inputs if kind == "inputs" else config.n_neurons
            if not (_is_int(start) and _is_int(size) and start >= 0 and size >= 1
                    and start + size <= have):
                raise _Bad(_MANIFEST, f"{where}: {kind} {start!r}..+{size!r} lie outside the "
                                      f"core's {have} {kind}")
            if not (_is_num(scale) and math.isfinite(scale) and scale > 0):
                raise _Bad(_MANIFEST, f"{where}: scale {scale!r} must be a positive number")
            if not ((_is_num(v_rest) and math.isfinite(v_rest)) or (
                    isinstance(v_rest, list) and len(v_rest) == size
                    and all(_is_num(x) and math.isfinite(x) for x in v_rest))):
                raise _Bad(_MANIFEST, f"{where}: v_rest must be a finite number or {size} of "
                                      "them")
            out.append(PopulationInfo(name, kind, start, size, float(scale), v_rest))
        for kind in ("inputs", "neurons"):
            spans = sorted((p.start, p.stop, p.name) for p in out if p.kind == kind)
            for (_, stop, a), (start, _, b) in zip(spans, spans[1:], strict=False):
                if start < stop:
                    raise _Bad(_MANIFEST, f"populations {a!r} and {b!r} overlap")
        return out

    def _projections(self, items, populations, config) -> list[ProjectionInfo]:
        if not isinstance(items, list):
            raise _Bad(_MANIFEST, "projections must be a list")
        pops = {p.name: p for p in populations}
        keys = {"name", "src", "dst", "scale", "synapses", "plastic", "file", "sha256"}
        out, seen = [], set(pops)
        for k, p in enumerate(items):
            where = f"projections[{k}]"
            if not isinstance(p, dict) or set(p) != keys:
                raise _Bad(_MANIFEST, f"{where} must have exactly {sorted(keys)}")
            name = p["name"]
            if not isinstance(name, str) or not name or name in seen:
                raise _Bad(_MANIFEST, f"{where}.name {name!r} must be a new non-empty string")
            seen.add(name)
            where = f"projection {name!r}"
            src, dst = pops.get(p["src"]) if isinstance(p["src"], str) else None, \
                pops.get(p["dst"]) if isinstance(p["dst"], str) else None
            if src is None or dst is None or dst.kind != "neurons":
                raise _Bad(_MANIFEST, f"{where} connects {p['src']!r} -> {p['dst']!r}: both "
                                      "must be populations of the image, the target neurons")
            if not (_is_num(p["scale"]) and p["scale"] == dst.scale):
                raise _Bad(_MANIFEST, f"{where}: scale {p['scale']!r} is not its target's "
                                      f"({dst.scale})")
            n, n_plastic = p["synapses"], p["plastic"]
            if not (_is_int(n) and 0 <= n <= src.size * dst.size):
                raise _Bad(_MANIFEST, f"{where}: synapses = {n!r} is not 0..{src.size}*{dst.size}")
            if not (_is_int(n_plastic) and 0 <= n_plastic <= n):
                raise _Bad(_MANIFEST, f"{where}: plastic = {n_plastic!r} is not 0..{n}")
            file = f"projections/{k}.npy"
            if p["file"] != file or not _is_hex64(p["sha256"]):
                raise _Bad(_MANIFEST, f"{where}: file must be {file!r} with a SHA-256 digest")
            blob = self._member(file, _NPY_HEADER_MAX + 12 * n)
            if hashlib.sha256(blob).hexdigest() != p["sha256"]:
                raise _Bad(file, "fails its checksum (file corrupt)")
            arr = self._npy(file, blob, n)
            pre, post, flag = arr[0], arr[1], arr[2]
            if pre.size and not (pre.min() >= 0 and pre.max() < src.size and post.min() >= 0
                                 and post.max() < dst.size):
                raise _Bad(file, f"synapse indices lie outside {src.name!r} ({src.size}) or "
                                 f"{dst.name!r} ({dst.size})")
            if not np.isin(flag, (0, 1)).all() or int(flag.sum()) != n_plastic:
                raise _Bad(file, f"plastic flags must be 0/1, {n_plastic} of them set")
            if np.unique(pre * dst.size + post).size != n:
                raise _Bad(file, "lists a synapse twice")
            out.append(ProjectionInfo(name, src.name, dst.name, float(p["scale"]), pre, post,
                                      flag.astype(bool)))
        return out

    @staticmethod
    def _npy(file, blob, n) -> np.ndarray:
        """The int32 (3, n) array of a projection file, header checked before any data is
        read (a header can declare any shape)."""
        f = io.BytesIO(blob)
        try:
            version = np.lib.format.read_magic(f)
            header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = header(f)
        except (ValueError, TypeError, SyntaxError, OverflowError, EOFError) as exc:
            raise _Bad(file, f"is not a numpy array file ({exc})") from None
        if dtype != np.dtype("<i4") or fortran or shape != (3, n):
            raise _Bad(file, f"holds {dtype} {shape}{' (Fortran order)' if fortran else ''}, "
                             f"expected int32 (3, {n})")
        body = blob[f.tell():]
        if len(body) != 12 * n:
            raise _Bad(file, f"has {len(body)} bytes of data, expected {12 * n}")
        return np.frombuffer(body, "<i4").reshape(3, n).astype(np.int64)

    def _stdp(self, stdp, region_bytes, config):
        if stdp is None:
            return None
        if not isinstance(stdp, dict) or set(stdp) != {"model", "integers"}:
            raise _Bad(_MANIFEST, "stdp must be null or an object with model and integers")
        model, ints = stdp["model"], stdp["integers"]
        if not isinstance(model, dict) or not all(
                isinstance(k, str) and (v is None or _is_num(v)) for k, v in model.items()):
            raise _Bad(_MANIFEST, "stdp.model must map names to numbers")
        fields = codec.decode(config, Region.STDP_PARAMS, region_bytes)
        if not isinstance(ints, dict) or set(ints) != set(fields) or not all(
                _is_int(v) and v == int(fields[k][0]) for k, v in ints.items()):
            raise _Bad(_MANIFEST, "stdp.integers do not match the STDP_PARAMS region")
        return stdp
