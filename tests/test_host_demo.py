"""examples/demo.py (the `make demo` job) runs, writes its plots and shows learning."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("demo", ROOT / "examples" / "demo.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_demo_on_model(demo, tmp_path, capsys):
    assert demo.main(["--url", "model://", "--ticks", "600", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "STDP separated" in out and "spikes:" in out
    for name in ("raster.png", "weights.png", "weight_change.png", "weight_hist.png",
                 "demo.slimg", "result.npz"):
        assert (tmp_path / name).stat().st_size > 500, name


def test_demo_reports_a_dead_url(demo, tmp_path, capsys):
    assert demo.main(["--url", "/dev/ttyNOPE", "--out", str(tmp_path)]) == 1
    assert "cannot open /dev/ttyNOPE" in capsys.readouterr().err


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_raw_integers_example_is_bit_exact(capsys):
    assert _load("raw_integers").main("model://tiny") == 0
    assert "agree: True" in capsys.readouterr().out


def test_quickstart_example(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _load("quickstart").main("model://")
    assert (tmp_path / "quickstart_raster.png").exists()
    assert "mean weight" in capsys.readouterr().out
