"""The wire format and its constants are defined once, in ``spikeloom.proto`` (issue 13).

Each test scans the tree for one kind of restatement and fails naming the file and line: the
default build id, the CRC initial value, INFO packing, ResetFlags values, the weight-store kinds,
SLIP bytes or opcodes hand-coded in gateware or in the C++ harness, and header fields cut out of
a bit vector by hand in the gateware. The last tests check that the generated forms (Amaranth
structs, the C++ header) are the proto definitions themselves.
"""

import ast
import re
from pathlib import Path

import pytest
from spikeloom.proto import protocol as P

ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ("proto", "hdl", "host", "sim", "firmware", "examples", "bench")
PROTOCOL = ROOT / "proto" / "protocol.py"


def _files(dirs, suffixes=(".py",)):
    for d in dirs:
        for path in sorted((ROOT / d).rglob("*")):
            if path.suffix in suffixes and path.is_file() and ".venv" not in path.parts:
                yield path


def _hits(paths, pattern, *, flags=0):
    rx = re.compile(pattern, flags)
    out = []
    for path in paths:
        for no, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("//")[0] if path.suffix in (".cpp", ".h") else line
            if rx.search(code):
                out.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    return out


def _constants(path):
    """Every int and bytes literal of a Python file, with its line."""
    tree = ast.parse(path.read_text())
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and type(node.value) in (int, bytes)]


def test_build_id_default_only_in_proto():
    paths = [p for p in _files((*CODE_DIRS, "tests")) if p != PROTOCOL]
    found = [f"{p.relative_to(ROOT)}:{no}" for p in paths for no, v in _constants(p)
             if v == P.BUILD_ID]
    found += _hits(paths, re.escape(P.BUILD_ID.decode()) + r"(?!m)")
    assert not found, "the default build id restated (use protocol.BUILD_ID):\n" + "\n".join(found)


def test_crc_init_and_poly_only_in_proto():
    paths = [p for p in _files(CODE_DIRS, (".py", ".cpp", ".h")) if p != PROTOCOL]
    found = _hits(paths, r"(?i)crc.*(0x1021|\b4129\b|0xffff\b|\b65535\b)")
    assert not found, "a CRC constant restated (use protocol.CRC_INIT/CRC_POLY):\n" + \
        "\n".join(found)


def test_info_packed_once():
    paths = [p for p in _files(CODE_DIRS) if p != PROTOCOL]
    found = _hits(paths, r"\bINFO\.pack\(")
    assert not found, "INFO packed outside protocol.info_payload:\n" + "\n".join(found)
    found = _hits(paths, r"len\(build_id\)")
    assert not found, "a build id checked outside protocol.check_build_id:\n" + "\n".join(found)


def test_weight_store_kinds_once():
    found = _hits(_files(CODE_DIRS), r"""["']dual["']\s*,\s*["']spram["']""")
    assert len(found) == 1 and found[0].startswith("proto/cycles.py"), \
        "the weight-store kinds must be listed once (proto.cycles.WEIGHT_STORES):\n" + \
        "\n".join(found)


def test_reset_flags_not_restated_in_gateware():
    found = _hits(_files(("hdl",)), r"=\s*1\s*,\s*2\s*,\s*4\b|STATE\s*=\s*1\b|COUNTERS\s*=\s*4\b")
    assert not found, "ResetFlags values restated (use protocol.ResetFlags):\n" + "\n".join(found)


# SLIP bytes and the opcodes, as hex literals: gateware and the C++ harness take them by name.
_WIRE_BYTES = sorted({P.END, P.ESC, P.ESC_END, P.ESC_ESC, int(P.Opcode.SPIKES)})


@pytest.mark.parametrize("value", _WIRE_BYTES, ids=[f"0x{v:02X}" for v in _WIRE_BYTES])
def test_wire_bytes_not_hand_coded(value):
    pattern = rf"(?i)\b0x0*{value:x}\b"
    found = _hits(_files(("hdl",)), pattern)
    found += _hits(_files(("sim",), (".cpp", ".h")), pattern)
    assert not found, f"0x{value:02X} hand-coded (use the protocol's name):\n" + "\n".join(found)


def test_gateware_does_not_slice_headers():
    """Headers and request heads are Amaranth views of the proto layouts, not bit ranges."""
    parts = ("framing", "dispatch", "decode", "walk", "reply", "top")
    paths = [p for p in _files(("hdl",)) if p.stem in parts
             or p.parent.name == "dispatch"]
    found = _hits(paths, r"\b(head|req|header)\[\d*:\d+\]")
    assert not found, "a header field cut by hand (use its struct field):\n" + "\n".join(found)


def test_struct_layouts_are_the_byte_layouts():
    for lay in (P.HEADER, P.READ_REQ, P.WRITE_REQ, P.RUN_REQ, P.RUN_REPLY, P.SPIKES_HEAD,
                P.INFO, P.STATUS):
        st = lay.struct()
        assert st.size == 8 * lay.size
        for name, nbytes in lay.fields:
            assert st[name].offset == 8 * lay.offset(name)
            assert st[name].shape.width == 8 * nbytes
        # a value packed by the byte layout reads back field by field through the struct
        values = {name: (k * 0x9E3779B1 + 7) % (1 << (8 * n))
                  for k, (name, n) in enumerate(lay.fields)}
        word = int.from_bytes(lay.pack(**values), "little")
        for name, value in values.items():
            f = st[name]
            assert word >> f.offset & ((1 << f.shape.width) - 1) == value


def test_c_header_is_generated_from_proto():
    text = P.c_header()
    consts = dict(re.findall(r"constexpr \w+ (\w+) = (0x[0-9A-F]+);", text))
    assert int(consts["SLIP_END"], 16) == P.END
    assert int(consts["SLIP_ESC"], 16) == P.ESC
    assert bytes([int(consts["ABORT_FIRST"], 16), int(consts["ABORT_SECOND"], 16)]) == P.ABORT
    for op in P.Opcode:
        assert int(consts[f"OP_{op.name}"], 16) == op
    for st in P.Status:
        assert int(consts[f"STATUS_{st.name}"], 16) == st
    harness = (ROOT / "sim" / "vboard.cpp").read_text()
    assert '#include "spikeloom_proto.h"' in harness
    # nothing the header defines is defined again in the harness
    again = [name for name in consts if re.search(rf"constexpr \w+ {name}\b", harness)]
    assert not again, f"vboard.cpp redefines {again}"
