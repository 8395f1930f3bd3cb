"""The five-minute tour: describe, compile, run, read back, plot.

    python examples/quickstart.py [URL]        # URL defaults to model:// (the golden model)
"""

import sys

import numpy as np
import spikeloom as sl


def main(url: str = "model://") -> None:
    rng = np.random.default_rng(0)
    net = sl.Network("quickstart")
    inp = net.inputs(64, name="in")
    exc = net.population(128, sl.LIF(tau_mem=20.0, tau_syn=5.0, threshold=1.0, refractory=2),
                         name="exc")
    proj = net.connect(inp, exc, weights=rng.uniform(0.0, 0.12, (64, 128)),
                       stdp=sl.STDP(a_plus=0.004, a_minus=0.0045, tau_plus=20.0,
                                    tau_minus=20.0, w_max=0.2))
    net.connect(exc, exc, weights=sl.FixedProbability(0.1, -0.1, seed=1, allow_self=False),
                name="lateral")

    with sl.open(url) as board:
        image = sl.compile(net, target=board.config)     # whatever the device is built for
        print(image.report)
        board.load(image)
        w_before = board.read_weights(proj)
        spikes = rng.random((1000, 64)) < 0.03
        result = board.run(1000, inputs={"in": spikes})
        w_after = board.read_weights(proj)

    print(result.summary())
    print(f"mean weight {w_before.mean():.4f} -> {w_after.mean():.4f}")
    result.plot_raster("quickstart_raster.png")
    print("wrote quickstart_raster.png")


if __name__ == "__main__":
    main(*sys.argv[1:2])
