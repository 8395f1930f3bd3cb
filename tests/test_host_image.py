"""Image files: round trip, determinism, diff, refusal of corrupt or foreign images."""

import io
import json
import zipfile

import numpy as np
import pytest
import spikeloom as sl
from spikeloom import regions as codec
from spikeloom.proto.memmap import Region, layouts, region_words, regions


def net_and_image(target="tiny", scale_w=0.3):
    net = sl.Network("img")
    inp = net.inputs(3, name="in")
    exc = net.population(5, sl.LIF(tau_mem=15.0, tau_syn=4.0, threshold=1.0), name="exc")
    rng = np.random.default_rng(7)
    net.connect(inp, exc, weights=rng.uniform(-scale_w, scale_w, (3, 5)), stdp=sl.STDP(),
                name="ff")
    net.connect(exc, exc, weights=sl.FixedProbability(0.4, 0.2, seed=1), name="rec")
    return net, sl.compile(net, target=target)


def test_round_trip(tmp_path):
    _, image = net_and_image()
    path = image.save(tmp_path / "net.slimg")
    back = sl.Image.load(path)
    assert not image.diff(back) and back == image
    assert back.to_bytes() == image.to_bytes()
    assert back.report.summary() == image.report.summary()
    assert back.projections["rec"].n_synapses == image.projections["rec"].n_synapses
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["format"] == "spikeloom-image" and manifest["format_version"] == 2
        assert manifest["config"]["hash"] == f"0x{image.config.hash():08x}"
        # regions are stored exactly as WRITE payloads carry them
        for region in regions(image.config):
            blob = zf.read(f"regions/{region.name}.bin")
            assert len(blob) == region_words(image.config, region) * \
                layouts(image.config)[region].nbytes
            assert blob == image.regions[region]


def test_codec_matches_model_packing():
    from spikeloom.sim.model import Core
    _, image = net_and_image(target="narrow")
    cfg = image.config
    core = Core(cfg)
    for region in regions(cfg):
        nb = layouts(cfg)[region].nbytes
        data = image.regions[region]
        core.write_words(region, 0, [int.from_bytes(data[k:k + nb], "little")
                                     for k in range(0, len(data), nb)])
    for region in regions(cfg):
        words = core.read_words(region, 0, region_words(cfg, region))
        nb = layouts(cfg)[region].nbytes
        assert b"".join(w.to_bytes(nb, "little") for w in words) == image.regions[region]
    assert np.array_equal(core.weights, image.weights())
    assert np.array_equal(codec.decode_matrix(cfg, Region.WEIGHTS,
                                              codec.encode_matrix(cfg, Region.WEIGHTS,
                                                                  core.weights)), core.weights)


def test_diff_names_the_differences():
    _, a = net_and_image(scale_w=0.3)
    _, b = net_and_image(scale_w=0.2)
    d = a.diff(b)
    assert d and "WEIGHTS" in d.summary()
    _, c = net_and_image(target="narrow")
    assert "'tiny'" in a.diff(c).summary() and "n_neurons" in a.diff(c).summary()


def test_refuses_image_for_another_configuration(tmp_path):
    _, image = net_and_image()
    path = image.save(tmp_path / "tiny.slimg")
    with pytest.raises(sl.ImageConfigMismatch) as err:
        sl.Image.load(path, config=sl.preset("narrow"))
    assert isinstance(err.value, sl.ConfigMismatch) and isinstance(err.value, sl.ImageError)
    assert "'tiny'" in str(err.value) and "'narrow'" in str(err.value)
    assert "recompile" in str(err.value)


def _rewrite(path, edit):
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    edit(entries)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize("edit, match", [
    (lambda e: e.update({"regions/WEIGHTS.bin": b"\x00" + e["regions/WEIGHTS.bin"][1:]}),
     "WEIGHTS fails its checksum"),
    (lambda e: e.pop("manifest.json"), "manifest.json: is missing"),
    (lambda e: e.update({"manifest.json": e["manifest.json"].replace(
        b'"format_version": 2', b'"format_version": 9')}), "upgrade spikeloom"),
    (lambda e: e.update({"manifest.json": e["manifest.json"].replace(
        b'"format_version": 2', b'"format_version": 1')}), "recompile the network"),
    (lambda e: e.update({"manifest.json": e["manifest.json"].replace(
        b'"dt": 1.0', b'"dt": 2.0')}), "manifest.json: fails its checksum"),
    (lambda e: e.update({"manifest.json": e["manifest.json"].replace(
        b'"n_neurons": 8', b'"n_neurons": 9')}), "corrupt or edited"),
])
def test_corrupt_images_are_refused(tmp_path, edit, match):
    _, image = net_and_image()
    path = image.save(tmp_path / "x.slimg")
    _rewrite(path, edit)
    with pytest.raises(sl.ImageError, match=match):
        sl.Image.load(path)


def test_not_an_image(tmp_path):
    p = tmp_path / "junk.slimg"
    p.write_bytes(b"hello")
    with pytest.raises(sl.ImageError, match="not a ZIP"):
        sl.Image.load(p)
    with pytest.raises(sl.ImageError, match="cannot read"):
        sl.Image.load(tmp_path / "missing.slimg")


def test_image_and_compiler_do_not_import_each_other():
    """The report lives in its own module, so image.py needs nothing of the compiler (issue 13:
    the compiler <-> image cycle is gone); checked on the source, imports inside functions
    included."""
    import ast
    from pathlib import Path

    import spikeloom.image as image_module
    tree = ast.parse(Path(image_module.__file__).read_text())
    imported = {node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for a in node.names}
    assert "compiler" not in imported and not any("compiler" in m for m in imported)
    assert "report" in imported
