"""Images: everything a device needs to run one compiled network, and the ``.slimg`` file format.

An :class:`Image` holds, for one :class:`~spikeloom.proto.config.CoreConfig`, the contents of
every memory region as the bytes the protocol writes (packed words, little-endian; see
:mod:`spikeloom.regions`), plus what the host needs to talk about them in the user's terms: the
placement of every population onto hardware inputs/neurons, each projection's synapses and
scale, the time step, and the quantization report.

File format (``.slimg``, format version 1; docs/host.md "Image files"): a ZIP archive (stored,
fixed timestamps, sorted entries, so compiling twice gives identical bytes) with

- ``manifest.json``: ``format`` = ``"spikeloom-image"``, ``format_version``, ``created_by``,
  ``config`` (``name``, ``fields``, ``hash`` as ``0x%08x``), ``dt``, ``regions`` (per region:
  ``file``, ``words``, ``word_bytes``, ``sha256``), ``populations``, ``projections``, ``stdp``,
  ``report``;
- ``regions/<REGION>.bin``: the region's packed words, exactly as WRITE payloads carry them;
- ``projections/<k>.npy``: int32 array ``(3, n)``: pre index, post index, plastic flag of the
  ``k``-th projection's synapses (indices within its populations).

Loading checks the format, version, configuration hash (recomputed from the fields), region
sizes and checksums; :meth:`Image.check_config` refuses an image built for another configuration
with :class:`ImageConfigMismatch` (both an :class:`ImageError` and a :class:`ConfigMismatch`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from . import regions as codec
from .errors import ConfigMismatch, ImageError
from .proto.config import CoreConfig
from .proto.memmap import Region, layouts, region_words

__all__ = [
    "Image", "ImageDiff", "PopulationInfo", "ProjectionInfo", "ImageConfigMismatch",
    "FORMAT", "FORMAT_VERSION", "config_mismatch_message",
]

FORMAT = "spikeloom-image"
FORMAT_VERSION = 1
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class ImageConfigMismatch(ImageError, ConfigMismatch):
    """The image was compiled for another core configuration."""


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
    or hardware neurons (``kind="neurons"``); ``scale`` = integer units per model unit."""
    name: str
    kind: str
    start: int
    size: int
    scale: float = 1.0

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
        for region in Region:
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

    def check_config(self, expected: CoreConfig, what: str = "the device") -> None:
        """ImageConfigMismatch unless this image was compiled for ``expected``."""
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
        for region in Region:
            data = self.regions[region]
            regions[region.name] = {
                "file": f"regions/{region.name}.bin", "words": region_words(cfg, region),
                "word_bytes": layouts(cfg)[region].nbytes,
                "sha256": hashlib.sha256(data).hexdigest()}
        from . import __version__
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "created_by": f"spikeloom {__version__}",
            "config": {"name": cfg.name, "fields": cfg.fields(), "hash": f"0x{cfg.hash():08x}"},
            "dt": self.dt,
            "regions": regions,
            "populations": [dataclasses.asdict(p) for p in self.populations.values()],
            "projections": [
                {"name": p.name, "src": p.src, "dst": p.dst, "scale": p.scale,
                 "synapses": p.n_synapses, "plastic": int(np.count_nonzero(p.plastic)),
                 "file": f"projections/{k}.npy"}
                for k, p in enumerate(self.projections.values())],
            "stdp": self.stdp,
            "report": None if self.report is None else self.report.to_json(),
        }

    def to_bytes(self) -> bytes:
        manifest = self.manifest()
        entries = {"manifest.json": json.dumps(manifest, indent=1, sort_keys=True).encode()}
        for region in Region:
            entries[manifest["regions"][region.name]["file"]] = self.regions[region]
        for k, p in enumerate(self.projections.values()):
            buf = io.BytesIO()
            np.save(buf, np.stack([p.pre, p.post, p.plastic.astype(np.int64)]).astype("<i4"),
                    allow_pickle=False)
            entries[f"projections/{k}.npy"] = buf.getvalue()
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
    def load(cls, path, config: CoreConfig | None = None) -> Image:
        """Read a ``.slimg`` file; with ``config``, refuse an image for another configuration."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read image {str(path)!r}: {exc.strerror or exc}") from None
        image = cls.from_bytes(data, source=str(path))
        if config is not None:
            image.check_config(config)
        return image

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> Image:
        def bad(why):
            return ImageError(f"{source} is not a usable spikeloom image: {why}")
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            raise bad("not a ZIP archive (is it a .slimg written by `spikeloom compile`?)") \
                from None
        with zf:
            try:
                manifest = json.loads(zf.read("manifest.json"))
            except KeyError:
                raise bad("manifest.json is missing") from None
            except (ValueError, zipfile.BadZipFile) as exc:
                raise bad(f"manifest.json is unreadable ({exc})") from None
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise bad(f"format is {manifest.get('format')!r}, expected {FORMAT!r}"
                          if isinstance(manifest, dict) else "manifest is not an object")
            version = manifest.get("format_version")
            if version != FORMAT_VERSION:
                raise bad(f"format version {version} (this spikeloom reads version "
                          f"{FORMAT_VERSION}; {'upgrade spikeloom' if isinstance(version, int) and version > FORMAT_VERSION else 'recompile the network'})")  # noqa: E501
            try:
                cfg_json = manifest["config"]
                config = CoreConfig(name=cfg_json.get("name", "custom"), **cfg_json["fields"])
                if f"0x{config.hash():08x}" != cfg_json["hash"]:
                    raise bad(f"configuration hash {cfg_json['hash']} does not match its "
                              f"fields (0x{config.hash():08x}): the file is corrupt or edited")
                regions = {}
                for region in Region:
                    entry = manifest["regions"][region.name]
                    blob = zf.read(entry["file"])
                    if hashlib.sha256(blob).hexdigest() != entry["sha256"]:
                        raise bad(f"region {region.name} fails its checksum (file corrupt)")
                    regions[region] = blob
                populations = [PopulationInfo(**p) for p in manifest["populations"]]
                projections = []
                for p in manifest["projections"]:
                    arr = np.load(io.BytesIO(zf.read(p["file"])), allow_pickle=False)
                    projections.append(ProjectionInfo(
                        p["name"], p["src"], p["dst"], float(p["scale"]),
                        arr[0].astype(np.int64), arr[1].astype(np.int64), arr[2].astype(bool)))
            except ImageError:
                raise
            except (KeyError, TypeError, ValueError, IndexError, zipfile.BadZipFile) as exc:
                raise bad(f"{type(exc).__name__}: {exc}") from None
        from .compiler import Report
        report = Report.from_json(manifest.get("report"))
        return cls(config, regions, populations, projections, dt=manifest.get("dt", 1.0),
                   stdp=manifest.get("stdp"), report=report)

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
        for region in Region:
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
