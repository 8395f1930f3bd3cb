"""CoreConfig: validation messages, presets, the configuration hash, layout widths, and the rule
that spikeloom.proto imports nothing else of ours."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import pathlib
import subprocess
import sys

import pytest
from spikeloom.proto.config import PRESETS, CoreConfig, preset
from spikeloom.proto.memmap import Region, layouts, region_words, regions

PROTO = pathlib.Path(__file__).resolve().parent.parent / "proto"


# -- validation ----------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("n_neurons", 0), ("n_neurons", 32768), ("n_inputs", 0), ("n_inputs", 40000),
    ("v_width", 15), ("v_width", 33), ("i_width", 12), ("w_width", 1), ("w_width", 17),
    ("trace_width", 1), ("trace_width", 17), ("refractory_width", 0), ("refractory_width", 17),
    ("decay_frac", 11), ("decay_frac", 17), ("stdp_frac", -1), ("stdp_frac", 17),
    ("weights_per_word", 0), ("weights_per_word", 17), ("clock_hz", 999), ("baud", 299),
    ("theta_width", -1), ("theta_width", 33),
])
def test_out_of_range_names_field_and_value(field, value):
    with pytest.raises(ValueError) as err:
        CoreConfig(**{field: value})
    assert f"CoreConfig.{field} = {value}" in str(err.value)


@pytest.mark.parametrize("field, value", [
    ("n_neurons", "8"), ("v_width", 16.0), ("baud", None), ("n_inputs", True),
    ("inh_current", 1), ("theta_width", False),
])
def test_wrong_type_names_field_and_value(field, value):
    with pytest.raises(TypeError) as err:
        CoreConfig(**{field: value})
    assert f"CoreConfig.{field}" in str(err.value) and repr(value) in str(err.value)


def test_cross_field_rules():
    with pytest.raises(ValueError, match=r"w_width = 16 must be narrower than i_width = 16"):
        CoreConfig(w_width=16, i_width=16)
    CoreConfig(w_width=15, i_width=16)
    with pytest.raises(ValueError, match=r"baud = 300000 .* clock_hz = 1000000: divisor 3 < 4"):
        CoreConfig(clock_hz=1_000_000, baud=300_000)
    assert CoreConfig(clock_hz=1_000_000, baud=250_000).uart_divisor == 4
    with pytest.raises(TypeError, match=r"CoreConfig\.name .* 5"):
        CoreConfig(name=5)
    with pytest.raises(ValueError, match=r"theta_width = 17 must not exceed v_width = 16"):
        CoreConfig(theta_width=17)
    assert CoreConfig(theta_width=20, v_width=20).theta_width == 20


def test_frozen():
    cfg = CoreConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_neurons = 3
    with pytest.raises(ValueError, match="n_neurons = 0"):
        cfg.replace(n_neurons=0)


# -- presets -------------------------------------------------------------------------------------

def test_presets_valid():
    assert set(PRESETS) >= {"tiny", "narrow", "default", "up5k", "ecp5_85"}
    for name, cfg in PRESETS.items():
        assert cfg.name == name and preset(name) is cfg
        assert CoreConfig(**dataclasses.asdict(cfg)) == cfg     # re-validates
        assert cfg.uart_divisor >= 4 and cfg.w_width < cfg.i_width
        assert cfg.n_sources == cfg.n_inputs + cfg.n_neurons
        assert cfg.words_per_row * cfg.weights_per_word >= cfg.n_neurons
        assert (cfg.words_per_row - 1) * cfg.weights_per_word < cfg.n_neurons
        assert 0 <= cfg.hash() < 1 << 32
    with pytest.raises(ValueError, match=r"'nope'.*known: .*default"):
        preset("nope")


# -- hash ----------------------------------------------------------------------------------------

def test_hash_stable():
    # computed once (2026-11, this commit's CoreConfig) and frozen here: if this changes, every
    # device and image in the field stops matching, so it must change only on purpose
    assert preset("default").hash() == 0x73E842DB
    assert preset("tiny").hash() == 0xF6767F1A
    # and it is what the docstring says: SHA-256 over the sorted compact JSON, first 4 bytes
    # (an optional neuron feature that is off is left out: the hardware is the one from before)
    off = {"theta_width": 0, "inh_current": False, "delay_bits": 0, "rule_bits": 1,
           "probe_slots": 0}
    for cfg in (preset("up5k"), CoreConfig(theta_width=9, inh_current=True)):
        blob = json.dumps({k: v for k, v in dataclasses.asdict(cfg).items()
                           if k != "name" and (k not in off or v != off[k])},
                          sort_keys=True, separators=(",", ":")).encode()
        assert cfg.hash() == int.from_bytes(hashlib.sha256(blob).digest()[:4], "big")


def test_hash_ignores_name_and_sees_every_field():
    base = preset("default")
    assert base.replace(name="other").hash() == base.hash()
    changed = dict(n_neurons=129, n_inputs=65, v_width=17, i_width=17, w_width=9, trace_width=9,
                   refractory_width=9, decay_frac=13, stdp_frac=9, weights_per_word=2,
                   clock_hz=24_000_000, baud=2_000_000, theta_width=8, inh_current=True,
                   delay_bits=3, rule_bits=2, probe_slots=8)
    assert set(changed) == {f.name for f in dataclasses.fields(CoreConfig)} - {"name"}
    hashes = {base.hash()}
    for field, value in changed.items():
        hashes.add(base.replace(**{field: value}).hash())
    assert len(hashes) == len(changed) + 1
    assert len({c.hash() for c in PRESETS.values()}) == len(PRESETS)


# -- layouts -------------------------------------------------------------------------------------

def test_layout_widths_tiny():
    cfg = preset("tiny")     # V, I 16, w 8, traces 8, ref 8, F 12 (factors 13 bits), 4 lanes
    widths = {r: lay.width for r, lay in layouts(cfg).items()}
    assert widths == {
        Region.NEURON_PARAMS: 16 * 3 + 8 + 13 * 2 + 1 + 1,    # ..., reset_subtract, no_spike
        Region.NEURON_STATE: 16 + 16 + 8,
        Region.WEIGHTS: 4 * 8,
        Region.PLASTIC: 4,
        Region.PRE_TRACE: 8,
        Region.POST_TRACE: 8,
        Region.STDP_PARAMS: 1 + 16 + 16 + 8 + 8 + 13 + 13 + 8 + 8,
        Region.SPIKES: 1,
    }
    # N=8, M=4: 12 sources, 2 words per row
    assert [region_words(cfg, r) for r in regions(cfg)] == [8, 8, 24, 24, 12, 8, 1, 12]
    assert Region.DELAYS not in regions(cfg)          # no delays: no DELAYS region
    assert region_words(cfg.replace(delay_bits=2), Region.DELAYS) == 24


def test_layout_widths_follow_config():
    cfg = CoreConfig(v_width=20, i_width=24, w_width=6, trace_width=7, refractory_width=3,
                     decay_frac=14, weights_per_word=3, n_neurons=10, n_inputs=5)
    lay = layouts(cfg)
    assert lay[Region.NEURON_PARAMS].width == 20 * 3 + 3 + 15 * 2 + 1 + 1    # + no_spike
    assert lay[Region.NEURON_STATE].width == 20 + 24 + 3
    assert lay[Region.WEIGHTS].width == 3 * 6 and lay[Region.PLASTIC].width == 3
    assert lay[Region.PRE_TRACE].width == lay[Region.POST_TRACE].width == 7
    assert lay[Region.STDP_PARAMS].width == 1 + 32 + 7 * 2 + 15 * 2 + 6 * 2
    assert region_words(cfg, Region.WEIGHTS) == 15 * 4          # ceil(10 / 3) words per row
    # signedness: V, I, threshold, v_reset, bias, weights, w_min/w_max are signed; rest not
    signed = {(r, f.name) for r, l in lay.items() for f in l.fields if f.signed}
    assert signed == {(Region.NEURON_PARAMS, "threshold"), (Region.NEURON_PARAMS, "v_reset"),
                      (Region.NEURON_PARAMS, "bias"), (Region.NEURON_STATE, "v"),
                      (Region.NEURON_STATE, "i"), (Region.STDP_PARAMS, "w_min"),
                      (Region.STDP_PARAMS, "w_max")} | {(Region.WEIGHTS, f"w{k}")
                                                        for k in range(3)}


def test_layout_optional_features_append_fields():
    base = preset("tiny")
    lay0 = layouts(base)
    for theta_width, inh in ((0, True), (10, False), (10, True)):
        cfg = base.replace(theta_width=theta_width, inh_current=inh)
        lay = layouts(cfg)
        par = [f.name for f in lay[Region.NEURON_PARAMS].fields]
        st = [f.name for f in lay[Region.NEURON_STATE].fields]
        # the fields of before keep their offsets: the feature appends
        assert par[:7] == [f.name for f in lay0[Region.NEURON_PARAMS].fields][:7]
        assert st[:3] == ["v", "i", "ref"]
        # (no_spike, present on every core, stays the last field)
        assert par[7:] == ["alpha_inh"] * inh + ["theta_jump", "alpha_theta"] * bool(
            theta_width) + ["no_spike"]
        assert st[3:] == ["i_inh"] * inh + ["theta"] * bool(theta_width)
        assert lay[Region.NEURON_PARAMS].width == (
            lay0[Region.NEURON_PARAMS].width + 13 * inh + (theta_width + 13) * bool(theta_width))
        assert lay[Region.NEURON_STATE].width == 40 + 16 * inh + theta_width
        assert lay[Region.NEURON_STATE].field("i_inh" if inh else "theta").signed == inh
        for r in (Region.WEIGHTS, Region.PLASTIC, Region.STDP_PARAMS):
            assert lay[r].fields == lay0[r].fields


def test_layout_pack_unpack():
    lay = layouts(preset("tiny"))[Region.WEIGHTS]
    assert lay.pack({"w0": -1, "w1": 2, "w3": -128}) == 0x80_00_02_FF
    assert lay.unpack(0x80_00_02_FF) == {"w0": -1, "w1": 2, "w2": 0, "w3": -128}
    assert lay.to_bytes(0x80_00_02_FF) == bytes([0xFF, 0x02, 0x00, 0x80])
    with pytest.raises(ValueError, match="w2 = 128"):
        lay.pack({"w2": 128})
    with pytest.raises(ValueError, match="above bit 0"):
        layouts(preset("tiny"))[Region.SPIKES].from_bytes(b"\x02")


# -- proto is the bottom layer -------------------------------------------------------------------

def test_proto_imports_nothing_of_ours():
    # Import spikeloom.proto with a bare stand-in for the parent package, so the package root
    # (host/) cannot pull anything in on proto's behalf; then look at what got loaded.
    code = """
import sys, types
root = types.ModuleType("spikeloom"); root.__path__ = []
sys.modules["spikeloom"] = root
import spikeloom.proto, spikeloom.proto.fixed, spikeloom.proto.memmap, spikeloom.proto.protocol
ours = sorted(m for m in sys.modules if m.startswith("spikeloom"))
print(" ".join(ours))
print("amaranth" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    ours, amaranth = out.stdout.split("\n")[:2]
    assert spikeloom_proto(ours.split()), ours
    assert amaranth == "False"              # Layout.struct() imports Amaranth only on demand


def spikeloom_proto(mods):
    return all(m == "spikeloom" or m == "spikeloom.proto" or m.startswith("spikeloom.proto.")
               for m in mods) and "spikeloom.proto.memmap" in mods


def test_proto_sources_import_only_proto():
    for path in sorted(PROTO.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, f"{path.name}: relative import above proto/"
                if node.level == 0:
                    assert not (node.module or "").startswith("spikeloom"), path.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("spikeloom"), path.name


def test_package_root_does_not_load_gateware():
    # host/ imports proto, never hdl, at run time (DESIGN.md): importing the public package
    # must not load the gateware or Amaranth
    code = ("import sys, spikeloom, spikeloom.proto; "
            "print(any(m.startswith(('spikeloom.hdl', 'amaranth')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
