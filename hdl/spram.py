"""iCE40UP5K single-port RAM (SB_SPRAM256KA) as a store for the core's weights and plasticity bits.

Contract (the store-factory contract of ``spikeloom.hdl.core.Core``): :class:`SPRAMStore`
``(depth, width)`` is a ``wiring.Component`` with ``addr: In(range(depth))`` (the read address),
``waddr: In(range(depth))`` (the write address), ``wdata: In(width)``, ``we: In(1)`` and
``rdata: Out(width)``; the word at ``addr`` presented in cycle *t* appears on ``rdata`` in cycle
*t+1*; a write cycle (``we``) writes ``wdata`` at ``waddr`` and reads nothing (its ``rdata`` is
undefined). The one port of the primitive takes ``waddr`` in a write cycle, ``addr`` otherwise;
the write's nibble mask comes from ``waddr`` alone, so no path runs from a read address into
``MASKWREN``. It lives in the ``sync`` domain.

Mapping onto the primitive (16 384 words x 16 bits, one nibble write-enable per 4 bits):

* Narrow words are packed several per SPRAM word, one per *lane* of whole nibbles, so a write
  touches only its own lane through ``MASKWREN`` and needs no read-modify-write: widths 1..4 give
  4 lanes, 5..8 give 2 lanes, 9..16 one lane. Lane = the low address bits; the remaining bits
  select the SPRAM word.
* Words wider than 16 bits use ``ceil(width / 16)`` SPRAMs side by side (columns).
* Depth is tiled over *banks* of 16 384 packed words; the bank is the top address bits. Only the
  addressed bank is chip-selected (the others keep their output and draw standby current); bank
  and lane of a read are registered together with the SPRAM's own output register, then muxed.

:class:`SPRAMStore` instantiates ``SB_SPRAM256KA`` (synthesis only); ``SPRAMStore(...,
simulate=True)`` builds the same wiring around :class:`SPRAMModel`, a behavioural model of the
primitive (Yosys' ``cells_sim.v`` semantics: registered read while selected and not writing,
nibble-masked write, output held otherwise), so Amaranth's simulator can run it. Both variants
receive the very same port dictionary from one function, so the address/lane mapping cannot
differ between them; tests/test_spram.py checks both against a plain reference (the Instance
variant through Icarus with Yosys' own SB_SPRAM256KA model).
"""

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ..proto.cycles import SPRAM_CELL_WORDS
from .weights import single_port_members, two_port_members

__all__ = ["SPRAM_WORDS", "SPRAM_WIDTH", "UP5K_SPRAMS", "geometry", "split", "spram_count",
           "SPRAMModel", "SPRAMStore", "BankedStore", "banked_count"]

SPRAM_WORDS = SPRAM_CELL_WORDS     # words per SB_SPRAM256KA (16 384)
SPRAM_WIDTH = 16        # bits per word
UP5K_SPRAMS = 4         # SB_SPRAM256KA blocks on an iCE40UP5K


def geometry(depth: int, width: int) -> tuple[int, int, int, int]:
    """``(lanes, lane_bits, columns, banks)`` of a ``depth`` x ``width`` store.

    ``lanes`` words share one 16-bit SPRAM word (``lane_bits`` bits each, whole nibbles);
    ``columns`` SPRAMs side by side make one wide word; ``banks`` tiles of 16 384 packed words
    cover the depth. The store uses ``columns * banks`` SPRAMs.
    """
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"SPRAM store depth must be a positive int, not {depth!r}")
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"SPRAM store width must be a positive int, not {width!r}")
    if width <= 4:
        lanes, lane_bits = 4, 4
    elif width <= 8:
        lanes, lane_bits = 2, 8
    else:
        lanes, lane_bits = 1, SPRAM_WIDTH
    columns = -(-width // SPRAM_WIDTH)
    packed = -(-depth // lanes)
    banks = -(-packed // SPRAM_WORDS)
    return lanes, lane_bits, columns, banks


def split(depth: int, width: int, addr: int) -> tuple[int, int, int]:
    """``(bank, row, lane)`` holding word ``addr`` of a ``depth`` x ``width`` store: the lane is
    the low address bits, the packed word above them is split into bank and 14-bit row."""
    lanes = geometry(depth, width)[0]
    packed = addr >> (lanes - 1).bit_length()
    return packed // SPRAM_WORDS, packed % SPRAM_WORDS, addr & (lanes - 1)


def spram_count(depth: int, width: int) -> int:
    """Number of SB_SPRAM256KA blocks a ``depth`` x ``width`` :class:`SPRAMStore` uses."""
    _, _, columns, banks = geometry(depth, width)
    return columns * banks


def banked_count(depth: int, width: int) -> int:
    """Number of SB_SPRAM256KA blocks a ``depth`` x ``width`` :class:`BankedStore` of
    :class:`SPRAMStore` cells uses: a cell per started 16 384 words, each
    ``spram_count(16384, width)`` blocks."""
    return -(-depth // SPRAM_WORDS) * spram_count(SPRAM_WORDS, width)


class SPRAMModel(wiring.Component):
    """Behavioural model of one SB_SPRAM256KA (power pins tied to "on"), for simulation.

    Members carry the primitive's port names in lower case. On a clock edge with
    ``chipselect``: ``wren`` writes the nibbles enabled in ``maskwren``; otherwise ``dataout``
    takes the addressed word. Unselected, or while writing, ``dataout`` holds (the silicon
    leaves it undefined while writing; the store never uses it then).
    """

    address: In(14)
    datain: In(16)
    maskwren: In(4)
    wren: In(1)
    chipselect: In(1)
    dataout: Out(16)

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=SPRAM_WIDTH, depth=SPRAM_WORDS, init=[])
        wr = mem.write_port(granularity=4)
        rd = mem.read_port(domain="sync")
        m.d.comb += [
            wr.addr.eq(self.address),
            wr.data.eq(self.datain),
            wr.en.eq(self.maskwren & (self.chipselect & self.wren).replicate(4)),
            rd.addr.eq(self.address),
            rd.en.eq(self.chipselect & ~self.wren),
            self.dataout.eq(rd.data),
        ]
        return m


class SPRAMStore(wiring.Component):
    """A ``depth`` x ``width`` single-port store built from SB_SPRAM256KA blocks (see module doc).

    ``simulate=True`` substitutes :class:`SPRAMModel` for the primitive. ``max_cells`` (default:
    the UP5K's 4) bounds the number of blocks; a store needing more is a ``ValueError`` naming
    depth, width and the count, raised here rather than as a placement failure minutes later.
    """

    def __init__(self, depth: int, width: int, *, simulate: bool = False,
                 max_cells: int = UP5K_SPRAMS):
        try:
            self.lanes, self.lane_bits, self.columns, self.banks = geometry(depth, width)
            self.n_cells = self.columns * self.banks
            if self.n_cells > max_cells:
                raise ValueError(
                    f"SPRAMStore({depth}, {width}) needs {self.n_cells} SB_SPRAM256KA blocks "
                    f"({self.banks} banks x {self.columns} columns); only {max_cells} available")
        except ValueError:
            # a rejected store is no forgotten design: keep Amaranth's "never used" warning quiet
            self._MustUse__silence = True
            raise
        self.depth = depth
        self.width = width
        self.simulate = simulate
        super().__init__(single_port_members(depth, width))

    # -- address split (shared by both variants) --------------------------------------------------

    @property
    def lane_addr_bits(self) -> int:
        return (self.lanes - 1).bit_length()

    def split(self, addr: int) -> tuple[int, int, int]:
        """``(bank, row, lane)`` of word address ``addr`` (see :func:`split`)."""
        return split(self.depth, self.width, addr)

    def cell_ports(self, bank, column, *, address, lane_mask, datain, bank_sel, dataout):
        """Port dictionary ``{PRIMITIVE_PORT: value}`` of one block: the single source of the
        wiring for both the Instance and the model."""
        return {
            "ADDRESS": address,
            "DATAIN": datain[column * SPRAM_WIDTH:(column + 1) * SPRAM_WIDTH],
            "MASKWREN": lane_mask,
            "WREN": self.we & bank_sel,
            "CHIPSELECT": bank_sel,
            "CLOCK": ClockSignal("sync"),
            "STANDBY": Const(0, 1),
            "SLEEP": Const(0, 1),
            "POWEROFF": Const(1, 1),     # active low: 1 keeps the block powered
            "DATAOUT": dataout,
        }

    def elaborate(self, platform):
        m = Module()
        lbits = self.lane_addr_bits

        def parts(addr):
            """(lane, row, bank) of a word address."""
            packed = addr[lbits:]
            return (addr[:lbits] if lbits else Const(0, 1), packed[:14],
                    packed[14:] if len(packed) > 14 else Const(0, 1))
        lane, rrow, rbank = parts(self.addr)
        wlane, wrow, wbank = parts(self.waddr)
        row = Mux(self.we, wrow, rrow)
        bank = Mux(self.we, wbank, rbank)

        # write data: the word zero-extended to a lane, repeated in every lane (and column)
        total = self.columns * SPRAM_WIDTH
        lane_word = self.wdata if self.lanes == 1 else \
            Cat(self.wdata, Const(0, self.lane_bits - self.width))
        datain = Signal(total)
        m.d.comb += datain.eq(lane_word.replicate(self.lanes) if self.lanes > 1 else lane_word)

        # nibble write mask of the addressed lane
        lane_mask = Signal(4)
        nibbles = self.lane_bits // 4
        if self.lanes == 1:
            m.d.comb += lane_mask.eq(0b1111)
        else:
            with m.Switch(wlane):
                for k in range(self.lanes):
                    with m.Case(k):
                        m.d.comb += lane_mask.eq(((1 << nibbles) - 1) << (k * nibbles))

        # bank and lane of the read in flight, aligned with the SPRAM output register; kept
        # through a write like the twin's output register (the SPRAM's own DATAOUT is undefined
        # after a write cycle in Yosys' model, so users must not rely on it either way)
        bank_q = Signal(len(bank), name="bank_q")
        lane_q = Signal(len(lane), name="lane_q")
        with m.If(~self.we):
            m.d.sync += [bank_q.eq(rbank), lane_q.eq(lane)]

        outs = []
        for b in range(self.banks):
            bank_sel = Signal(name=f"bank{b}_sel")
            m.d.comb += bank_sel.eq(bank == b)
            dataout = Signal(total, name=f"bank{b}_out")
            for c in range(self.columns):
                ports = self.cell_ports(
                    b, c, address=row, lane_mask=lane_mask, datain=datain, bank_sel=bank_sel,
                    dataout=dataout[c * SPRAM_WIDTH:(c + 1) * SPRAM_WIDTH])
                name = f"spram_b{b}_c{c}"
                if self.simulate:
                    cell = SPRAMModel()
                    m.submodules[name] = cell
                    m.d.comb += [
                        cell.address.eq(ports["ADDRESS"]),
                        cell.datain.eq(ports["DATAIN"]),
                        cell.maskwren.eq(ports["MASKWREN"]),
                        cell.wren.eq(ports["WREN"]),
                        cell.chipselect.eq(ports["CHIPSELECT"]),
                        ports["DATAOUT"].eq(cell.dataout),
                    ]
                else:
                    m.submodules[name] = Instance(
                        "SB_SPRAM256KA",
                        **{("o_" if port == "DATAOUT" else "i_") + port: value
                           for port, value in ports.items()})
            outs.append(dataout)

        # select the bank, then the lane, of the registered read
        word = Signal(total)
        if self.banks == 1:
            m.d.comb += word.eq(outs[0])
        else:
            with m.Switch(bank_q):
                for b, out in enumerate(outs):
                    with m.Case(b):
                        m.d.comb += word.eq(out)
        if self.lanes == 1:
            m.d.comb += self.rdata.eq(word[:self.width])
        else:
            lanes = [word[k * self.lane_bits:k * self.lane_bits + self.width]
                     for k in range(self.lanes)]
            with m.Switch(lane_q):
                for k, value in enumerate(lanes):
                    with m.Case(k):
                        m.d.comb += self.rdata.eq(value)
        return m


class BankedStore(wiring.Component):
    """The core's "spram" weight store: ``depth`` words of ``width`` bits over single-port cells
    of ``cell_words`` words, so that a read and a write in different cells run in one clock.

    Contract: ``raddr`` presented in cycle *t* gives ``rdata`` in cycle *t+1*; ``waddr``,
    ``wdata``, ``we`` write in cycle *t*. A read of the cell being written in the same cycle is
    not performed (its ``rdata`` is undefined): the user compares :meth:`cell_of` of both
    addresses and waits. The placement is ``proto.cycles.bank_cell`` (the cycle model counts
    the waits with it): the address's group ``addr // cell_words`` and the parity of
    ``row + word`` (``row_words`` a power of two; else the address's parity) pick the cell
    ``(group + parity) % cells``; inside it, parity 0 takes the lower half and parity 1 the
    upper half, at ``(addr % cell_words) // 2``. So consecutive words of a row, and the same
    word of consecutive rows, are in different cells whenever there are two or more.

    ``cell(words, width)`` builds one cell with the single-port contract of :class:`SPRAMStore`
    (``addr``, ``waddr``, ``wdata``, ``we``, ``rdata``): :class:`SPRAMStore` for the UP5K, its
    behavioural twin in simulation.

    ``second_read=True`` adds a second read of the same word of another row (``raddr2``,
    whose word bits are ignored: ``raddr``'s serve; ``ren2``; ``rdata2`` a cycle later, 0 when
    ``ren2`` was low; ``row_words`` a power of two) in a cell of its own: the user keeps it out
    of the cells the first read and the write use (ACC's paired rows,
    ``proto.cycles.acc_units``).
    """

    def __init__(self, depth: int, width: int, *, row_words: int, cell,
                 cell_words: int = SPRAM_CELL_WORDS, second_read: bool = False):
        if cell_words < 2 or cell_words & (cell_words - 1):
            raise ValueError(f"cell_words must be a power of two >= 2, not {cell_words!r}")
        self.depth, self.width, self.cell_words = depth, width, cell_words
        self.cells = -(-depth // cell_words)
        self.cell = cell
        pow2 = row_words >= 2 and row_words & (row_words - 1) == 0
        self._row_bit = row_words.bit_length() - 1 if pow2 else 0
        if second_read and not (self._row_bit and cell_words >= row_words):
            raise ValueError("second_read needs row_words a power of two >= 2 and at most "
                             "cell_words")
        self.second_read = second_read
        members = two_port_members(depth, width)
        if second_read:
            members.update({"raddr2": In(range(depth)), "ren2": In(1), "rdata2": Out(width)})
        super().__init__(members)

    def _parity(self, addr):
        return addr[0] ^ addr[self._row_bit] if self._row_bit else addr[0]

    def cell_of(self, addr):
        """The cell of word ``addr`` (an Amaranth value), as ``proto.cycles.bank_cell``."""
        if self.cells == 1:
            return Const(0, 1)
        group = addr[(self.cell_words - 1).bit_length():]
        return Mux(self._parity(addr), Mux(group == self.cells - 1, 0, group + 1), group)

    def _inner(self, addr):
        """The word's address inside its cell: the half by parity, then (addr % C) // 2."""
        return Cat(addr[1:(self.cell_words - 1).bit_length()], self._parity(addr))

    def elaborate(self, platform):
        m = Module()
        rcell, wcell = Signal(range(self.cells)), Signal(range(self.cells))
        rcell_q = Signal.like(rcell)
        m.d.comb += [rcell.eq(self.cell_of(self.raddr)), wcell.eq(self.cell_of(self.waddr))]
        m.d.sync += rcell_q.eq(rcell)
        if self.second_read:
            rcell2, rcell2_q, ren2_q = Signal.like(rcell), Signal.like(rcell), Signal()
            rb = self._row_bit
            raddr2 = Cat(self.raddr[:rb], self.raddr2[rb:])
            m.d.comb += rcell2.eq(self.cell_of(raddr2))
            m.d.sync += [rcell2_q.eq(rcell2), ren2_q.eq(self.ren2)]
        outs = []
        for c in range(self.cells):
            m.submodules[f"cell{c}"] = cell = self.cell(self.cell_words, self.width)
            write = Signal(name=f"cell{c}_write")
            raddr = self._inner(self.raddr)
            if self.second_read:    # the row's bits and the parity from raddr2
                raddr = Cat(raddr[:rb - 1], Mux(self.ren2 & (rcell2 == c),
                                                self._inner(raddr2)[rb - 1:], raddr[rb - 1:]))
            m.d.comb += [
                write.eq(self.we & (wcell == c)),
                cell.addr.eq(raddr), cell.waddr.eq(self._inner(self.waddr)),
                cell.we.eq(write),
                cell.wdata.eq(self.wdata),
            ]
            outs.append(cell.rdata)
        if self.cells == 1:
            m.d.comb += self.rdata.eq(outs[0])
        else:
            with m.Switch(rcell_q):
                for c, out in enumerate(outs):
                    with m.Case(c):
                        m.d.comb += self.rdata.eq(out)
        if self.second_read:
            with m.If(ren2_q):
                with m.Switch(rcell2_q):
                    for c, out in enumerate(outs):
                        with m.Case(c):
                            m.d.comb += self.rdata2.eq(out)
        return m
