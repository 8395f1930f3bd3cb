"""The import rules of README, "Layers", enforced on the source (AST) and at run time.

    proto     imports nothing of ours (the contract; spikeloom.proto.errors is the error tree)
    hdl       proto
    sim       proto, hdl
    firmware  proto, hdl
    host      proto at module level; a backend (sim, hdl, firmware) only inside a function, when
              a URL or a subcommand asks for it (URL schemes go through host/transport.py's
              registry)

``if TYPE_CHECKING:`` blocks never run and are not counted. Besides the layer rules, the modules
must not import each other in a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"proto": "spikeloom.proto", "hdl": "spikeloom.hdl", "sim": "spikeloom.sim",
            "firmware": "spikeloom.firmware", "host": "spikeloom"}
ALLOWED = {     # layer -> layers it may import (itself included)
    "proto": {"proto"},
    "hdl": {"proto", "hdl"},
    "sim": {"proto", "hdl", "sim"},
    "firmware": {"proto", "hdl", "firmware"},
    "host": {"proto", "host"},
}
HOST_LAZY = {"sim", "hdl", "firmware"}      # the host may import these inside a function
CYCLE_EXEMPT: set[frozenset] = set()     # no import cycle is allowed


def modules() -> dict[str, Path]:
    """Every module of ours: dotted name -> file."""
    out = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).glob("*.py")):
            out[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return out


MODULES = modules()


def layer_of(name: str) -> str | None:
    """The layer of a dotted module name, None if it is not ours."""
    if name != "spikeloom" and not name.startswith("spikeloom."):
        return None
    for folder, package in PACKAGES.items():
        if folder != "host" and (name == package or name.startswith(package + ".")):
            return folder
    return "host"


class Imports(ast.NodeVisitor):
    """``(target module, line, inside a function)`` for every import of ours in one module."""

    def __init__(self, name: str, is_package: bool):
        self.package = name if is_package else name.rpartition(".")[0]
        self.found: list[tuple[str, int, bool]] = []
        self.depth = 0

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node):
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node):
        for alias in node.names:
            self.add(alias.name, node.lineno)

    def visit_ImportFrom(self, node):
        if node.level:
            base = self.package.split(".")
            base = base[:len(base) - node.level + 1]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        for alias in node.names:        # `from pkg import mod` imports the module pkg.mod
            sub = f"{module}.{alias.name}"
            self.add(sub if sub in MODULES else module, node.lineno)

    def add(self, target: str, line: int):
        if layer_of(target) is not None:
            self.found.append((target, line, self.depth > 0))


def imports_of(name: str) -> list[tuple[str, int, bool]]:
    path = MODULES[name]
    visitor = Imports(name, path.stem == "__init__")
    visitor.visit(ast.parse(path.read_text(), str(path)))
    return visitor.found


def test_every_layer_has_modules():
    assert {layer_of(m) for m in MODULES} == set(PACKAGES)
    assert len(MODULES) > 40


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_follow_the_layers(name):
    layer = layer_of(name)
    for target, line, lazy in imports_of(name):
        other = layer_of(target)
        if other in ALLOWED[layer]:
            continue
        where = f"{MODULES[name].relative_to(ROOT)}:{line} imports {target}"
        assert layer == "host" and lazy and other in HOST_LAZY, (
            f"{where}: {layer} may import only {sorted(ALLOWED[layer])}"
            + (" (a backend only inside a function)" if layer == "host" else ""))


def test_no_import_cycles():
    graph = {name: {t for t, _, _ in imports_of(name) if t in MODULES and t != name}
             for name in MODULES}
    for pair in CYCLE_EXEMPT:
        a, b = sorted(pair)
        if a in graph[b] and b in graph[a]:     # drop one edge of an exempted pair
            graph[b].discard(a)
    # Tarjan's strongly connected components: any component of two or more is a cycle
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"modules that import each other: {cycles}"


def test_the_checker_sees_violations(tmp_path):
    """The AST walk finds what it must (relative, absolute, from-package, lazy, TYPE_CHECKING)."""
    src = ("from ..errors import Error\nfrom spikeloom.sim import device\n"
           "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..board import Board\n"
           "def f():\n    from ..hdl.top import Top\n")
    visitor = Imports("spikeloom.sim.fake", False)
    visitor.visit(ast.parse(src))
    assert visitor.found == [("spikeloom.errors", 1, False), ("spikeloom.sim.device", 2, False),
                             ("spikeloom.hdl.top", 7, True)]
    assert [layer_of(t) for t, _, _ in visitor.found] == ["host", "sim", "hdl"]


def loaded_after(code: str) -> set[str]:
    """The spikeloom modules in sys.modules after running ``code`` in a fresh interpreter."""
    probe = code + ("\nimport sys\n"
                    "print(' '.join(m for m in sys.modules if m.startswith('spikeloom')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return set(out.stdout.split())


@pytest.mark.parametrize("code,layers", [
    ("import spikeloom", set()),
    ("import spikeloom.proto", {"proto"}),
    ("import spikeloom.proto.errors", {"proto"}),
    ("import spikeloom.hdl.core", {"proto", "hdl"}),
    ("import spikeloom.hdl.top", {"proto", "hdl"}),
    ("import spikeloom.sim.device", {"proto", "sim"}),
    ("import spikeloom.firmware.build", {"proto", "firmware"}),
    ("import spikeloom as sl; sl.Network; sl.Board; sl.errors", {"proto", "host"}),
])
def test_imports_load_only_their_layers(code, layers):
    loaded = loaded_after(code) - {"spikeloom"}     # the root is every layer's parent
    assert {layer_of(m) for m in loaded} <= layers, sorted(loaded)


def test_model_url_loads_the_model_only_when_opened():
    loaded = loaded_after("import spikeloom as sl\nb = sl.open('model://tiny'); b.close()")
    assert "spikeloom.sim.device" in loaded
    assert not {m for m in loaded if layer_of(m) in ("hdl", "firmware")}, sorted(loaded)
    host_only = loaded_after("import spikeloom as sl, spikeloom.transport, spikeloom.cli")
    assert {layer_of(m) for m in host_only} <= {"host", "proto"}, sorted(host_only)


def test_errors_are_one_tree():
    import spikeloom
    import spikeloom.errors
    import spikeloom.proto.errors as base
    for name in base.__all__:
        assert getattr(spikeloom.errors, name) is getattr(base, name)
        assert getattr(spikeloom, name) is getattr(base, name)
    assert set(spikeloom.errors.__all__) == set(base.__all__)
    assert set(base.__all__) <= set(spikeloom.__all__)


def test_lazy_root_keeps_names_and_dir():
    import spikeloom
    assert set(spikeloom.__all__) <= set(dir(spikeloom))
    for name in spikeloom.__all__:
        assert getattr(spikeloom, name) is not None
    assert spikeloom.open is spikeloom.open_board
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        spikeloom.nonsense    # noqa: B018
    namespace = {}
    exec("from spikeloom import *", namespace)
    assert set(spikeloom.__all__) <= set(namespace)
