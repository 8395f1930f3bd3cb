"""Find the largest core that fits a board: bisect the neuron count with real builds.

Contract: :func:`largest` ``(board, base=None, *, inputs=None, ratio=0.5, lo, hi, step)`` returns
the largest ``n_neurons`` (a multiple of ``step``) for which :func:`spikeloom.firmware.build.build`
succeeds for ``base`` (the board's preset by default) with ``n_inputs`` fixed to ``inputs`` or
``ratio * n_neurons``: the design places, routes and meets timing at the configuration's clock.
Each probe is one full build (logged with its outcome); probes whose stores cannot fit the
iCE40UP5K's four SPRAMs are rejected without building. Returns ``(n, report_of_n)``, or
``(None, None)`` when even ``lo`` does not fit.

``python -m spikeloom.firmware.fit --board icebreaker --inputs 128 --lo 256 --hi 320``
"""

import argparse
import sys
import time

from ..proto.errors import BuildError
from . import boards as _boards
from .build import build

__all__ = ["largest", "probe", "spram_fits", "main"]


def spram_fits(cfg) -> bool:
    """Whether the weight and plasticity stores of ``cfg`` fit the UP5K's SPRAMs together."""
    from ..hdl.spram import UP5K_SPRAMS, banked_count, spram_count
    weights = banked_count(cfg.weight_words, cfg.weights_per_word * cfg.w_width)
    plastic = spram_count(cfg.weight_words, cfg.weights_per_word)
    delays = spram_count(cfg.weight_words, cfg.weights_per_word * cfg.delay_bits) \
        if cfg.delay_bits else 0
    return weights + plastic + delays <= UP5K_SPRAMS


def probe(board, cfg, out_dir="build/fit", log=print):
    """One build of ``cfg`` on ``board``: ``(ok, report_or_None, reason)``."""
    b = _boards.board(board)
    if b.weight_store == "spram" and not spram_fits(cfg):
        reason = "stores exceed the 4 SPRAMs"
        log(f"  {cfg.n_neurons:5d} neurons / {cfg.n_inputs:4d} inputs: no ({reason})")
        return False, None, reason
    t0 = time.monotonic()
    try:
        r = build(board, cfg, out_dir)
    except BuildError as e:
        rep = getattr(e, "report", None)
        log(f"  {cfg.n_neurons:5d} neurons / {cfg.n_inputs:4d} inputs: no ({e}) "
            f"[{time.monotonic() - t0:.0f} s]")
        return False, rep, str(e)
    log(f"  {cfg.n_neurons:5d} neurons / {cfg.n_inputs:4d} inputs: yes, "
        f"logic {r.resources.get('logic')}, bram {r.resources.get('bram')}, "
        f"fmax {r.fmax:.1f} MHz [{r.seconds:.0f} s]")
    return True, r, ""


def largest(board, base=None, *, inputs=None, ratio=0.5, lo=64, hi=1024, step=16,
            out_dir="build/fit", log=print):
    """Bisect ``n_neurons`` in ``[lo, hi]`` (see the module docstring)."""
    base = _boards.board_config(board, base)

    def cfg_for(n):
        n_in = inputs if inputs is not None else max(1, int(n * ratio))
        return base.replace(n_neurons=n, n_inputs=n_in, name=f"{base.name}-n{n}-i{n_in}")

    lo, hi = lo // step, hi // step
    best = None
    ok, rep, _ = probe(board, cfg_for(lo * step), out_dir, log)
    if not ok:
        return None, None
    best = (lo * step, rep)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        ok, rep, _ = probe(board, cfg_for(mid * step), out_dir, log)
        if ok:
            lo, best = mid, (mid * step, rep)
        else:
            hi = mid - 1
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spikeloom.firmware.fit",
                                 description="Bisect the largest core that fits a board.")
    ap.add_argument("--board", required=True, choices=sorted(_boards.BOARDS))
    ap.add_argument("--config", default=None)
    ap.add_argument("--inputs", type=int, default=None, help="fixed input count")
    ap.add_argument("--ratio", type=float, default=0.5, help="inputs per neuron otherwise")
    ap.add_argument("--lo", type=int, default=64)
    ap.add_argument("--hi", type=int, default=1024)
    ap.add_argument("--step", type=int, default=16)
    ap.add_argument("--out", default="build/fit")
    args = ap.parse_args(argv)
    n, rep = largest(args.board, args.config, inputs=args.inputs, ratio=args.ratio, lo=args.lo,
                     hi=args.hi, step=args.step, out_dir=args.out,
                     log=lambda s: print(s, flush=True))
    if n is None:
        print(f"{args.board}: even {args.lo} neurons do not fit")
        return 1
    print(f"{args.board}: largest fitting core {n} neurons")
    print(rep.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
