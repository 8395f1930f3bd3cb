"""Clock synthesis parameters: iCE40 SB_PLL40, ECP5 EHXPLLL and Xilinx 7-series MMCME2.

Each ``*_params(f_in, f_out)`` returns the divider settings that produce *exactly* ``f_out`` from
``f_in`` within the primitive's documented ranges (integer Hz arithmetic, no rounding), or raises
``ValueError`` naming the frequency. Exactness matters: the UART divisor is
``clock_hz // baud`` and the host checks the configured ``clock_hz``, so the clock must be what the
configuration says, not "close". Among exact solutions the one with the highest VCO (lowest jitter)
wins, as in icepll/ecppll.

Ranges (datasheets):

* iCE40 SB_PLL40 (FEEDBACK_PATH SIMPLE): PFD 10..133 MHz, VCO 533..1066 MHz,
  ``f_out = f_in * (DIVF+1) / ((DIVR+1) * 2**DIVQ)``, DIVR 0..15, DIVF 0..127, DIVQ 1..6.
* ECP5 EHXPLLL (feedback from CLKOP): PFD 3.125..400 MHz, VCO 400..800 MHz, output 3.125..400 MHz,
  ``f_out = f_in * CLKFB_DIV / CLKI_DIV``, ``VCO = f_out * CLKOP_DIV``, dividers 1..128.
* Xilinx MMCME2 (speed grade -1): PFD 10..450 MHz, VCO 600..1200 MHz,
  ``VCO = f_in * MULT / DIVCLK``, ``f_out = VCO / DIV`` (integer MULT 2..64, DIVCLK 1..106,
  DIV 1..128).
"""

from dataclasses import dataclass
from fractions import Fraction

__all__ = ["ICE40PLL", "ECP5PLL", "MMCM", "ice40_params", "ecp5_params", "mmcm_params"]

MHZ = 1_000_000


@dataclass(frozen=True)
class ICE40PLL:
    divr: int
    divf: int
    divq: int
    filter_range: int
    f_vco: int

    def as_params(self) -> dict:
        return {"p_FEEDBACK_PATH": "SIMPLE", "p_DIVR": self.divr, "p_DIVF": self.divf,
                "p_DIVQ": self.divq, "p_FILTER_RANGE": self.filter_range}


@dataclass(frozen=True)
class ECP5PLL:
    clki_div: int
    clkfb_div: int
    clkop_div: int
    f_vco: int

    def as_params(self) -> dict:
        return {
            "p_PLLRST_ENA": "DISABLED", "p_INTFB_WAKE": "DISABLED", "p_STDBY_ENABLE": "DISABLED",
            "p_DPHASE_SOURCE": "DISABLED", "p_OUTDIVIDER_MUXA": "DIVA",
            "p_CLKOP_ENABLE": "ENABLED", "p_CLKI_DIV": self.clki_div,
            "p_CLKOP_DIV": self.clkop_div, "p_CLKOP_CPHASE": self.clkop_div // 2 - 1
            if self.clkop_div > 1 else 0,
            "p_CLKOP_FPHASE": 0, "p_FEEDBK_PATH": "CLKOP", "p_CLKFB_DIV": self.clkfb_div,
        }


@dataclass(frozen=True)
class MMCM:
    divclk: int
    mult: int
    div: int
    f_vco: int

    def as_params(self, f_in: int) -> dict:
        return {"p_CLKIN1_PERIOD": round(1e9 / f_in, 3), "p_DIVCLK_DIVIDE": self.divclk,
                "p_CLKFBOUT_MULT_F": float(self.mult), "p_CLKOUT0_DIVIDE_F": float(self.div),
                "p_CLKOUT0_PHASE": 0.0, "p_CLKOUT0_DUTY_CYCLE": 0.5}


def _check(f_in, f_out):
    for name, f in (("input", f_in), ("output", f_out)):
        if not isinstance(f, int) or f <= 0:
            raise ValueError(f"PLL {name} frequency must be a positive int in Hz, not {f!r}")


def _highest_vco(candidates, what: str):
    """The candidate with the highest VCO (lowest jitter), or ValueError naming ``what``."""
    best = max(candidates, key=lambda c: c.f_vco, default=None)
    if best is None:
        raise ValueError(what)
    return best


def ice40_params(f_in: int, f_out: int) -> ICE40PLL:
    _check(f_in, f_out)

    def candidates():
        for divr in range(16):
            pfd = Fraction(f_in, divr + 1)
            if not 10 * MHZ <= pfd <= 133 * MHZ:
                continue
            for divq in range(1, 7):
                vco = f_out * 2 ** divq
                mult = vco / pfd
                if (533 * MHZ <= vco <= 1066 * MHZ and mult.denominator == 1
                        and 1 <= mult <= 128):
                    # loop filter setting for the PFD frequency, as icepll chooses it
                    fr = next(i for i, lim in enumerate((17, 26, 44, 66, 101, 10**9), 1)
                              if pfd < lim * MHZ)
                    yield ICE40PLL(divr, int(mult) - 1, divq, fr, vco)

    return _highest_vco(candidates(), f"SB_PLL40 cannot make exactly {f_out} Hz from {f_in} Hz")


def ecp5_params(f_in: int, f_out: int) -> ECP5PLL:
    _check(f_in, f_out)
    if not 3_125_000 <= f_out <= 400 * MHZ:
        raise ValueError(f"EHXPLLL output {f_out} Hz is outside 3.125..400 MHz")

    def candidates():
        for clki in range(1, 129):
            pfd = Fraction(f_in, clki)
            fb = f_out / pfd
            if not (3_125_000 <= pfd <= 400 * MHZ and fb.denominator == 1 and 1 <= fb <= 128):
                continue
            for op in range(1, 129):
                if 400 * MHZ <= f_out * op <= 800 * MHZ:
                    yield ECP5PLL(clki, int(fb), op, f_out * op)

    return _highest_vco(candidates(), f"EHXPLLL cannot make exactly {f_out} Hz from {f_in} Hz")


def mmcm_params(f_in: int, f_out: int) -> MMCM:
    _check(f_in, f_out)

    def candidates():
        for divclk in range(1, 107):
            pfd = Fraction(f_in, divclk)
            if not 10 * MHZ <= pfd <= 450 * MHZ:
                continue
            for mult in range(2, 65):
                vco = pfd * mult
                div = vco / f_out
                if (600 * MHZ <= vco <= 1200 * MHZ and div.denominator == 1
                        and 1 <= div <= 128):
                    yield MMCM(divclk, mult, int(div), int(vco))

    return _highest_vco(candidates(), f"MMCME2 cannot make exactly {f_out} Hz from {f_in} Hz")
