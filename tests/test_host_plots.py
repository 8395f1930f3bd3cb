"""Plots write real PNGs for every shape of input, without warnings."""

import numpy as np
from spikeloom import plots
from spikeloom.image import PopulationInfo
from spikeloom.result import Result


def test_plots(tmp_path):
    pops = [PopulationInfo("in", "inputs", 0, 3), PopulationInfo("a", "neurons", 0, 4),
            PopulationInfo("b", "neurons", 4, 2)]
    r = Result([[0, 1], [3, 5], [7, 0]], 10, 8, populations=pops, input_events=[[1, 2]],
               n_inputs=3)
    assert r["b"].count == 1 and r["b"].events.tolist() == [[3, 1]]
    assert r["in"].dense[1, 2]
    empty = Result([], 0, 8, populations=pops)
    for res, name in ((r, "r.png"), (empty, "empty.png")):
        assert plots.raster(res, tmp_path / name).stat().st_size > 1000
    before = np.zeros((3, 4))
    after = np.arange(12.0).reshape(3, 4) - 6
    for fn, args in ((plots.weights, (before, after)), (plots.weights, (before,)),
                     (plots.weight_change, (before, after)),
                     (plots.weight_histogram, (before, after))):
        out = tmp_path / f"{fn.__name__}{len(args)}.png"
        assert fn(*args, path=out).stat().st_size > 1000
    assert plots.weight_histogram(before, after, tmp_path / "m.png",
                                  mask=after > 0).exists()
