"""Docs that run (issue #14.6): the README's Python snippet and every code block of docs/host.md.

Each block is taken from the Markdown as it is. Python blocks run unchanged, in a fresh namespace
and a temporary working directory (they write files); the few names a snippet uses without
defining them (the README's weight matrix ``W`` and input raster ``spikes``) are provided by
:data:`FIXTURES`, never by editing the snippet. The command-line synopsis of docs/host.md is
checked against the real argument parser (every subcommand and option it names exists, every
subcommand is listed). A block that is neither is a formula in model notation; it is listed in
:data:`NOT_CODE` by its first line, so a new block cannot slip through unchecked.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```([\w+-]*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)

# Names a snippet may use without defining them, per document: what a reader would have.
FIXTURES = {
    "README.md": lambda: {
        "W": np.random.default_rng(0).uniform(0.0, 0.1, (64, 48)),     # inputs x exc
        "spikes": np.random.default_rng(1).random((1000, 64)) < 0.02,  # (ticks, inputs) bool
    },
    "docs/host.md": dict,
}

# Blocks that are not code, by their first line, and why.
NOT_CODE = {
    "i1 = i + (sum of the weights of the sources that spiked in the previous tick)":
        "the float model in formula notation (docs/numerics.md is its exact twin)",
}


def blocks(doc: str):
    """``(language, code, line number)`` of every fenced block of ``doc``."""
    text = (ROOT / doc).read_text()
    for m in FENCE.finditer(text):
        yield m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1


def cases():
    out = [pytest.param("README.md", code, line, id=f"README.md:{line}")
           for lang, code, line in blocks("README.md") if lang == "python"]
    out += [pytest.param("docs/host.md", code, line, id=f"host.md:{line}")
            for _, code, line in blocks("docs/host.md")]
    return out


def test_the_documents_have_what_this_test_expects():
    assert sum(lang == "python" for lang, _, _ in blocks("README.md")) == 1
    langs = [lang for lang, _, _ in blocks("docs/host.md")]
    assert "python" in langs and len(langs) >= 3


def _is_synopsis(code: str) -> bool:
    return code.lstrip().startswith("spikeloom ")


@pytest.mark.parametrize("doc, code, line", cases())
def test_block(doc, code, line, tmp_path, monkeypatch):
    first = code.strip().splitlines()[0].strip()
    if _is_synopsis(code):
        check_synopsis(code)
    elif first in NOT_CODE:
        pytest.skip(f"{doc}:{line} is not code: {NOT_CODE[first]}")
    else:
        monkeypatch.chdir(tmp_path)
        namespace = {"__name__": "__doc_snippet__", **FIXTURES[doc]()}
        exec(compile(code, f"{doc}:{line}", "exec"), namespace)     # noqa: S102 - the docs


def check_synopsis(code: str):
    """Every ``spikeloom SUB [--opt ...]`` line names a real subcommand and real options."""
    from spikeloom import cli
    parser = cli.parser()
    subs = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    listed = set()
    current = None
    for raw in code.splitlines():
        text = raw.split("  ")[0] if raw.startswith("spikeloom ") else raw
        words = text.split()
        if words[:1] == ["spikeloom"]:
            current = subs.choices.get(words[1])
            assert current is not None, f"documented subcommand {words[1]!r} does not exist"
            listed.add(words[1])
        if current is None or any(a.nargs == argparse.REMAINDER for a in current._actions):
            continue        # (bench hands its options to the benchmark scripts)
        for opt in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", text):
            assert opt in current._option_string_actions, \
                f"`spikeloom {current.prog.split()[-1]}` has no option {opt} (docs: {raw!r})"
    missing = set(subs.choices) - listed
    assert not missing, f"subcommands missing from the synopsis: {sorted(missing)}"


def test_rate_hz_mean_and_per_neuron():
    from spikeloom.image import PopulationInfo
    from spikeloom.result import Result
    # 3 neurons, 200 ticks of 0.5 ms (0.1 s): neuron 0 fires 4 times, neuron 2 once, 1 never
    events = [(0, 0), (50, 0), (100, 0), (150, 0), (10, 2)]
    pop = PopulationInfo(name="exc", kind="neurons", start=0, size=3, scale=1.0)
    r = Result(events, 200, 3, populations=[pop], dt=0.5)
    assert r["exc"].rate_hz() == pytest.approx(5 / (3 * 0.1))
    assert np.allclose(r["exc"].rate_hz(per_neuron=True), [40.0, 0.0, 10.0])
    assert r["exc"].rate_hz(per_neuron=True).shape == (3,)
    empty = Result(np.zeros((0, 2)), 0, 3, populations=[pop], dt=0.5)["exc"]
    assert empty.rate_hz() == 0.0 and np.array_equal(empty.rate_hz(per_neuron=True), [0, 0, 0])
