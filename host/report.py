"""The compile report: every quantity the compiler rounded, its error, flags and warnings.

A :class:`Report` travels with its :class:`~spikeloom.image.Image` (and in the ``.slimg``
manifest), so it lives in its own module: both the compiler, which fills it, and the image
module, which stores and loads it, import it, and neither imports the other for it.

An :class:`Entry` is one rounded quantity: the value asked for (model units, ms, ...), the
integer the hardware holds and what that integer means in the same units. For a per-neuron
parameter the entry is the neuron with the worst error (``index``; ``None`` when the parameter
is one value for the population). ``rel_error`` is measured from ``origin`` (``v_rest`` for the
voltages, 0 otherwise): ``|actual - value| / |value - origin|``, except where the entry carries
its own measure (``rel``): a time constant's entry shows tau and the effective tau of its
integer, but its error is that of the leak per tick, ``1 - exp(-dt/tau)``, which is what the
dynamics feel (tau = 0.1 ms and 0 ms both lose everything in a 1 ms tick: no error to speak of).
An entry with ``bounded`` set is *flagged* when its relative error exceeds the report's
``max_error`` (the compile argument, default 5 %); per-synapse entries (``worst w``) are
informational: a weight much smaller than the largest one always loses relative precision.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

__all__ = ["Entry", "Report", "DEFAULT_MAX_ERROR"]

#: the rounding-error bound a compile uses unless told otherwise (relative, 5 %)
DEFAULT_MAX_ERROR = 0.05


@dataclasses.dataclass
class Entry:
    """One rounded quantity (see the module docstring)."""
    what: str
    value: float
    integer: int
    actual: float
    index: int | None = None
    origin: float = 0.0
    bounded: bool = True
    rel: float | None = None

    @property
    def rel_error(self) -> float:
        if self.rel is not None:        # a measure of its own (decays: the leak per tick)
            return self.rel
        if self.value == self.actual:
            return 0.0
        ref = self.value - self.origin
        if ref == 0 or not math.isfinite(ref):
            return math.inf
        return abs(self.actual - self.value) / abs(ref)

    @property
    def label(self) -> str:
        return self.what if self.index is None else f"{self.what}[{self.index}]"


def _number(x, where) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{where} must be a number, not {x!r}")
    return float(x)


class Report:
    """Quantization and fit report of one compilation."""

    def __init__(self, config_name: str = "", dt: float = 1.0,
                 max_error: float = DEFAULT_MAX_ERROR):
        self.config_name = config_name
        self.dt = dt
        self.max_error = max_error
        self.entries: list[Entry] = []
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.usage: dict = {}

    def add(self, what, value, integer, actual, *, index=None, origin=0.0,
            bounded=True, rel=None) -> Entry:
        e = Entry(what, float(value), int(integer), float(actual),
                  None if index is None else int(index), float(origin), bool(bounded),
                  None if rel is None else float(rel))
        self.entries.append(e)
        return e

    def warn(self, message: str):
        """Something the user may mean but probably does not: a CompileWarning."""
        self.warnings.append(message)

    def note(self, message: str):
        """Worth knowing, expected in normal use (e.g. tiny random weights that round to 0):
        listed in the summary only."""
        self.notes.append(message)

    def __getitem__(self, what: str) -> Entry:
        for e in self.entries:
            if e.what == what:
                return e
        raise KeyError(what)

    def is_flagged(self, e: Entry) -> bool:
        return e.bounded and e.rel_error > self.max_error

    @property
    def flagged(self) -> list[Entry]:
        """The bounded entries whose relative error exceeds ``max_error``."""
        return [e for e in self.entries if self.is_flagged(e)]

    @property
    def max_rel_error(self) -> float:
        errs = [e.rel_error for e in self.entries if math.isfinite(e.rel_error)]
        return max(errs, default=0.0)

    def summary(self, all_entries: bool = True) -> str:
        lines = [f"compiled for {self.config_name!r}, dt = {self.dt:g} ms"]
        if self.usage:
            u = self.usage
            lines.append(f"uses {u['neurons']}/{u['n_neurons']} neurons, "
                         f"{u['inputs']}/{u['n_inputs']} inputs, {u['synapses']} synapses "
                         f"({u['plastic']} plastic)")
        if all_entries and self.entries:
            lines.append(f"  {'quantity':<34} {'value':>12} {'integer':>9} {'actual':>12} "
                         f"{'rel.err':>8}")
            for e in self.entries:
                err = "inf" if not math.isfinite(e.rel_error) else f"{e.rel_error:.2%}"
                mark = "  !" if self.is_flagged(e) else ""
                lines.append(f"  {e.label:<34} {e.value:>12.6g} {e.integer:>9d} "
                             f"{e.actual:>12.6g} {err:>8}{mark}")
        flagged = self.flagged
        if flagged:
            lines.append(f"! {len(flagged)} parameter(s) round with more than "
                         f"{self.max_error:.0%} error: "
                         + ", ".join(e.label for e in flagged))
        for n in self.notes:
            lines.append(f"note: {n}")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)

    def __str__(self):
        return self.summary()

    def to_json(self) -> dict:
        return {"config": self.config_name, "dt": self.dt, "max_error": self.max_error,
                "usage": self.usage,
                "entries": [[e.what, e.value, e.integer, e.actual, e.index, e.origin, e.bounded,
                             e.rel] for e in self.entries],
                "warnings": list(self.warnings), "notes": list(self.notes)}

    @classmethod
    def from_json(cls, data) -> Report | None:
        """The report of :meth:`to_json`; TypeError/ValueError naming the bad field when
        ``data`` is not one (it comes from a file: untrusted)."""
        if data is None:
            return None
        if not isinstance(data, dict):
            raise TypeError(f"report must be an object or null, not {type(data).__name__}")
        name = data.get("config", "")
        if not isinstance(name, str):
            raise TypeError(f"report.config must be a string, not {name!r}")
        r = cls(name, _number(data.get("dt", 1.0), "report.dt"),
                _number(data.get("max_error", DEFAULT_MAX_ERROR), "report.max_error"))
        usage = data.get("usage", {})
        if not isinstance(usage, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                for k, v in usage.items()):
            raise TypeError("report.usage must map names to integers")
        if usage and set(usage) != {"neurons", "n_neurons", "inputs", "n_inputs", "synapses",
                                    "plastic"}:
            raise ValueError(f"report.usage has the fields {sorted(usage)}")
        r.usage = dict(usage)
        entries = data.get("entries", [])
        if not isinstance(entries, list):
            raise TypeError("report.entries must be a list")
        for k, e in enumerate(entries):
            where = f"report.entries[{k}]"
            if not isinstance(e, list) or len(e) != 8:
                raise TypeError(f"{where} must be a list of 8 items")
            what, value, integer, actual, index, origin, bounded, rel = e
            if not isinstance(what, str):
                raise TypeError(f"{where}[0] must be a string")
            if isinstance(integer, bool) or not isinstance(integer, int):
                raise TypeError(f"{where}[2] must be an integer")
            if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
                raise TypeError(f"{where}[4] must be an integer or null")
            if not isinstance(bounded, bool):
                raise TypeError(f"{where}[6] must be true or false")
            r.add(what, _number(value, f"{where}[1]"), integer, _number(actual, f"{where}[3]"),
                  index=index, origin=_number(origin, f"{where}[5]"), bounded=bounded,
                  rel=None if rel is None else _number(rel, f"{where}[7]"))
        for key in ("warnings", "notes"):
            items = data.get(key, [])
            if not isinstance(items, list) or not all(isinstance(w, str) for w in items):
                raise TypeError(f"report.{key} must be a list of strings")
            setattr(r, key, list(items))
        return r
