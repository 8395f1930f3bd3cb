"""The RUN sequencer: when a RUN's ticks start, and when the RUN ends.

Contract (docs/protocol.md, RUN and "Abort"; used by :class:`spikeloom.hdl.dispatch.Dispatcher`):

- ``load`` (strobe) begins a RUN of ``request.ticks`` ticks paced by ``request.period``
  (``protocol.RUN_REQ`` as an Amaranth view); ``ran`` becomes 0. ``request.ticks`` must hold
  still from ``load`` until the RUN ends (it is compared with ``ran`` in every cycle);
  ``request.period`` is read at each start.
- The owner raises ``boundary`` when it is at a tick boundary: right after ``load``, and after
  each tick's events have been handed over (never in the cycle right after a start: the tick
  has just begun). In such a cycle exactly one of these happens (all combinational):

  * ``end``: the RUN is over, because ``ran == ticks`` (``aborted`` low) or else because
    ``abort`` is high (``aborted`` high). ``ran`` is the number of ticks run: the RUN_REPLY
    ticks field. A RUN loaded while ``abort`` is high ends at its first boundary with 0 ticks
    (a RUN of 0 ticks ends ``OK`` whatever ``abort`` says).
  * ``start``: tick ``ran`` starts now (``ran`` counts it from the next cycle). The first tick
    starts at once; tick ``k`` no earlier than ``period`` cycles after tick ``k-1`` started
    (``period`` 0 or 1: at once).
  * neither: waiting for the period to elapse (``boundary`` may stay high; the abort is honoured
    while waiting, since this is between ticks).

- Outside ``boundary`` the outputs ``start``/``end`` are low: the tick in flight always
  finishes. What a tick boundary waits for (the SPIKES event today; per-tick probe frames or
  another spike encoding later) is the owner's business: the sequencer only sees ``boundary``.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..proto import protocol as P

__all__ = ["Sequencer"]


class Sequencer(wiring.Component):
    """Tick pacing and the end of a RUN; see the module docstring for the contract."""

    def __init__(self):
        layout = P.RUN_REQ.struct()
        super().__init__({
            "request": In(layout),
            "load": In(1),
            "boundary": In(1),
            "abort": In(1),
            "start": Out(1),
            "end": Out(1),
            "aborted": Out(1),
            "ran": Out(layout["ticks"].shape),
        })

    def elaborate(self, platform):
        m = Module()
        ticks, period = self.request.ticks, self.request.period
        # ``wait`` is loaded with the period when a tick starts and counts down to 0; the next
        # tick may start when it is <= 1, i.e. ``period`` cycles after the previous start.
        # ``due`` is that condition a cycle ahead, in a register: the wide compare stays off the
        # path from a boundary to the core's start (the UP5K build's longest).
        wait = Signal.like(period)
        due = Signal()
        first = Signal()            # no tick of this RUN has started yet
        # ``more`` = ``ran != ticks``, kept in a register updated with ``ran`` (so the wide
        # compare is off the path from a boundary to the core's start, which is the design's
        # longest otherwise)
        more = Signal()

        with m.If(self.boundary):
            with m.If(~more):
                m.d.comb += self.end.eq(1)
            with m.Elif(self.abort):
                m.d.comb += [self.end.eq(1), self.aborted.eq(1)]
            with m.Elif(first | due):
                m.d.comb += self.start.eq(1)

        # ``more`` follows ``ran`` a cycle late (no boundary comes in the cycle after a start):
        # compared with the incremented count instead, the incrementer's sum would feed the
        # compare as well as ``ran``, and each of ``ran``'s flip-flops would take a logic cell
        # of its own on iCE40 (its LUT could not be packed with it).
        with m.If(self.load):
            m.d.sync += [self.ran.eq(0), first.eq(1), more.eq(ticks != 0)]
        with m.Else():
            m.d.sync += more.eq(self.ran != ticks)
            with m.If(self.start):
                m.d.sync += [self.ran.eq(self.ran + 1), first.eq(0)]
        # ``wait != 0`` and ``wait <= 2`` share the wide part, ``wait[2:] == 0``
        low = Signal()
        m.d.comb += low.eq(wait[2:] == 0)
        with m.If(self.start):
            m.d.sync += [wait.eq(period), due.eq(period[1:] == 0)]
        with m.Elif(~low | (wait[:2] != 0)):
            m.d.sync += [wait.eq(wait - 1), due.eq(low & ~wait[:2].all())]  # wait - 1 <= 1
        return m
