"""Packaging: a built wheel installs and imports on its own, and the editable install maps the
folders of the repository onto the ``spikeloom`` packages.

The wheel is built offline (``pip wheel --no-build-isolation --no-index``) from a copy of the
files git tracks (what a fresh clone has), installed with ``--no-deps`` into a throwaway venv
made without pip, and imported by that venv's Python from a directory outside the repository.
Third-party packages (numpy, amaranth, ...) come from the development venv's site-packages via
PYTHONPATH; a PYTHONPATH entry does not run ``.pth`` files, so the editable install's finder
stays off and only the wheel can provide ``spikeloom``.
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGE_DIR = PYPROJECT["tool"]["setuptools"]["package-dir"]       # {"spikeloom": "host", ...}
PACKAGES = PYPROJECT["tool"]["setuptools"]["packages"]


def missing_build_backend() -> str | None:
    """Why ``--no-build-isolation`` cannot build here (None if it can): the development venv must
    hold the build-system requirements of pyproject.toml, since the test may not download."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.version import Version

    for text in PYPROJECT["build-system"]["requires"]:
        req = Requirement(text)
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            have = None
        if req.name == "wheel" and Version(metadata.version("setuptools")) >= Version("70.1"):
            continue            # setuptools >= 70.1 ships bdist_wheel itself
        if have is None or not req.specifier.contains(have, prereleases=True):
            return f"build requirement {text!r} not satisfied in this venv (have {have})"
    return None


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> pathlib.Path:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: cannot tell which files a clone would have")
    why = missing_build_backend()
    if why:
        pytest.skip(f"{why}: the dev extra needs setuptools>=70.1 (or setuptools>=69 and wheel)")
    src = tmp_path_factory.mktemp("src")
    for rel in tracked_files():
        path = ROOT / rel
        if path.is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / rel)
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--no-index",
         "--disable-pip-version-check", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    wheels = list(out.glob("spikeloom-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_contents(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = tracked_files()
    package_data = PYPROJECT["tool"]["setuptools"].get("package-data", {})
    for pkg, folder in PACKAGE_DIR.items():
        target = pkg.replace(".", "/")
        patterns = ["*.py", *package_data.get(pkg, [])]
        for rel in tracked:
            path = pathlib.PurePosixPath(rel)
            if str(path.parent) == folder and any(path.match(p) for p in patterns):
                assert f"{target}/{path.name}" in names, f"{rel} missing from {wheel.name}"
    assert not any(n.startswith(("host/", "proto/", "tests/")) for n in names), "folder names leak"


def test_wheel_installs_and_imports_alone(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    inst = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
         "--disable-pip-version-check", "--target", site, str(wheel)],
        capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stdout + inst.stderr

    code = f"""
import importlib, json, sys
mods = {{name: importlib.import_module(name).__file__ for name in {PACKAGES!r}}}
import spikeloom.sim.model, spikeloom.proto.memmap
mods["spikeloom.sim.model"] = spikeloom.sim.model.__file__
print(json.dumps(mods))
"""
    dev_site = sysconfig.get_path("purelib")                 # numpy, amaranth, ... only
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env.update(PYTHONPATH=dev_site, PYTHONNOUSERSITE="1")
    run = subprocess.run([str(py), "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    files = json.loads(run.stdout.splitlines()[-1])
    assert set(files) == {*PACKAGES, "spikeloom.sim.model"}
    for name, file in files.items():
        path = pathlib.Path(file).resolve()
        assert path.is_relative_to(pathlib.Path(site).resolve()), (name, file)
        assert not path.is_relative_to(ROOT), (name, file)


def test_editable_install_maps_folders():
    for pkg, folder in PACKAGE_DIR.items():
        mod = importlib.import_module(pkg)
        assert pathlib.Path(mod.__file__).resolve() == ROOT / folder / "__init__.py", pkg
    assert sorted(PACKAGE_DIR) == sorted(PACKAGES)
    from spikeloom.sim import model
    assert pathlib.Path(model.__file__).resolve() == ROOT / "sim" / "model.py"
