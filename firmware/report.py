"""Build reports: what nextpnr placed and how fast it runs, parsed from its own report files.

Contract: :func:`parse_nextpnr` reads the JSON written by ``nextpnr-* --report FILE``
(``utilization``: cell type -> used/available; ``fmax``: clock -> achieved/constraint MHz) and
returns a :class:`BuildReport` whose resources are named across families (``logic`` = iCE40 LCs or
ECP5 LUT4s, ``ff``, ``bram`` = iCE40 EBR (4 kbit) or ECP5 DP16KD (18 kbit), ``spram``, ``dsp``,
``io``), keeping the raw table too. :func:`parse_nextpnr_log` recovers the same from the ``.tim``
log (used when a run died before writing the JSON, e.g. a design that does not fit: its error line
is kept in ``error``). Timing is met when every constrained clock achieves its constraint.
"""

import dataclasses
import json
import re

__all__ = ["Resource", "BuildReport", "parse_nextpnr", "parse_nextpnr_log", "RESOURCE_CELLS"]

#: Our resource name -> nextpnr cell type, per family.
RESOURCE_CELLS = {
    "ice40": {"logic": "ICESTORM_LC", "bram": "ICESTORM_RAM", "spram": "ICESTORM_SPRAM",
              "dsp": "ICESTORM_DSP", "io": "SB_IO", "pll": "ICESTORM_PLL"},
    "ecp5": {"logic": "TRELLIS_COMB", "ff": "TRELLIS_FF", "bram": "DP16KD", "dsp": "MULT18X18D",
             "io": "TRELLIS_IO", "pll": "EHXPLLL", "lutram": "TRELLIS_RAMW"},
}


@dataclasses.dataclass
class Resource:
    used: int
    available: int

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.available if self.available else 0.0

    def __str__(self):
        return f"{self.used}/{self.available} ({self.percent:.0f}%)"


@dataclasses.dataclass
class BuildReport:
    """One build's result (see the module docstring)."""

    board: str
    config: str
    device: str = ""
    clock_hz: int = 0
    clock: str = ""                              # how the clock is made
    resources: dict = dataclasses.field(default_factory=dict)    # ours -> Resource
    raw: dict = dataclasses.field(default_factory=dict)          # nextpnr cell -> Resource
    fmax_mhz: dict = dataclasses.field(default_factory=dict)     # clock net -> achieved MHz
    constraint_mhz: dict = dataclasses.field(default_factory=dict)
    bitstream: str | None = None
    out_dir: str = ""
    seconds: float = 0.0
    toolchain: str = "yowasp"
    status: str = "built"                        # "built", "plan" (needs Vivado), "failed"
    error: str = ""
    note: str = ""                               # e.g. how to run a Vivado plan
    ff_count: int | None = None                  # iCE40: flip-flops inside LCs (from yosys)
    n_neurons: int = 0
    n_inputs: int = 0
    config_hash: int | None = None               # CoreConfig.hash(): identifies the build
    design: str = "top"                          # "top" (the device) or "echo" (stand-in)
    seed: int | None = None                      # nextpnr's placement seed (None: its own)

    @property
    def timing_met(self) -> bool:
        return bool(self.fmax_mhz) and all(
            self.fmax_mhz[c] >= self.constraint_mhz.get(c, 0.0) for c in self.fmax_mhz)

    @property
    def fmax(self) -> float | None:
        """Fmax of the core clock: the slowest constrained clock (MHz)."""
        return min(self.fmax_mhz.values()) if self.fmax_mhz else None

    def fits(self) -> bool:
        return all(r.used <= r.available for r in self.raw.values())

    def summary(self) -> str:
        lines = [f"{self.board}: config {self.config} ({self.n_neurons} neurons, "
                 f"{self.n_inputs} inputs), {self.device}, {self.toolchain}, {self.status}"]
        if self.clock:
            lines.append(f"  clock: {self.clock_hz / 1e6:g} MHz ({self.clock})"
                         + (f", placement seed {self.seed}" if self.seed is not None else ""))
        for name, r in self.resources.items():
            lines.append(f"  {name:6s} {r}")
        if self.ff_count is not None:
            lines.append(f"  ff     {self.ff_count}")
        for c, f in self.fmax_mhz.items():
            target = self.constraint_mhz.get(c, 0.0)
            verdict = "met" if f >= target else "FAILED"
            lines.append(f"  fmax   {f:.1f} MHz on {c} (target {target:.1f} MHz: {verdict})")
        if self.note:
            lines.append(f"  note: {self.note}")
        if self.error:
            lines.append(f"  error: {self.error}")
        if self.bitstream:
            lines.append(f"  bitstream: {self.bitstream}")
        if self.seconds:
            lines.append(f"  build time: {self.seconds:.1f} s")
        return "\n".join(lines)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["timing_met"] = self.timing_met
        d["fmax"] = self.fmax
        return d

    @classmethod
    def from_json(cls, d: dict) -> "BuildReport":
        d = dict(d)
        d.pop("timing_met", None)
        d.pop("fmax", None)
        for key in ("resources", "raw"):
            d[key] = {k: Resource(**v) for k, v in d.get(key, {}).items()}
        return cls(**d)


def _fill(report: BuildReport, family: str, util: dict):
    report.raw = {cell: Resource(int(v["used"]), int(v["available"])) for cell, v in util.items()}
    for ours, cell in RESOURCE_CELLS.get(family, {}).items():
        if cell in report.raw:
            report.resources[ours] = report.raw[cell]


def parse_nextpnr(report: BuildReport, family: str, path) -> BuildReport:
    """Fill ``report`` from nextpnr's ``--report`` JSON at ``path``."""
    with open(path) as f:
        data = json.load(f)
    _fill(report, family, data.get("utilization", {}))
    for clock, v in data.get("fmax", {}).items():
        report.fmax_mhz[clock] = float(v["achieved"])
        report.constraint_mhz[clock] = float(v["constraint"])
    return report


_UTIL = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)
_FMAX = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz \((PASS|FAIL) at "
                   r"([\d.]+) MHz\)")


def parse_nextpnr_log(report: BuildReport, family: str, text: str) -> BuildReport:
    """Fill ``report`` from nextpnr's log text (the last utilisation table and Fmax lines)."""
    util = {}
    for cell, used, avail in _UTIL.findall(text):
        util[cell] = {"used": used, "available": avail}
    _fill(report, family, util)
    for clock, achieved, _, target in _FMAX.findall(text):
        report.fmax_mhz[clock] = float(achieved)
        report.constraint_mhz[clock] = float(target)
    errors = [ln.strip() for ln in text.splitlines() if ln.startswith("ERROR")]
    if errors:
        report.error = errors[-1]
    return report
