"""Hardware integers in, the same integers out: LIF.raw / STDP.raw and a check against the model.

Raw parameters bypass quantization entirely (scale 1): useful to reproduce a hardware experiment
exactly or to test the core. The script runs the network on a device and on the golden model
(``spikeloom.sim.model.Core``) directly and shows that both agree bit for bit.

    python examples/raw_integers.py [URL]
"""

import sys

import numpy as np
import spikeloom as sl
from spikeloom.proto.memmap import layouts, regions
from spikeloom.sim.model import Core


def build() -> sl.Network:
    net = sl.Network("raw")
    inp = net.inputs(4, name="in")
    pop = net.population(6, sl.LIF.raw(threshold=300, v_reset=0, bias=5, refractory=1,
                                       alpha_mem=3900, alpha_syn=3000), name="n")
    net.connect(inp, pop, weights=np.arange(24).reshape(4, 6) * 5, name="ff",
                stdp=sl.STDP.raw(a_plus=40, a_minus=30, pre_jump=100, post_jump=100,
                                 alpha_pre=3800, alpha_post=3800, w_min=0, w_max=127))
    return net


def main(url: str = "model://tiny") -> int:
    net = build()
    spikes = np.random.default_rng(3).random((200, 4)) < 0.3
    with sl.open(url) as board:
        image = sl.compile(net, target=board.config)
        board.load(image)
        result = board.run(200, inputs={"in": spikes})
        weights = board.read_weights("ff", raw=True)

    core = Core(image.config)                  # the golden model, stepped directly
    for region in regions(image.config):
        nb = layouts(image.config)[region].nbytes
        data = image.regions[region]
        core.write_words(region, 0, [int.from_bytes(data[k:k + nb], "little")
                                     for k in range(0, len(data), nb)])
    padded = np.zeros((200, image.config.n_inputs), bool)
    padded[:, :4] = spikes
    raster = core.run(200, padded)
    same = np.array_equal(raster, result.dense) and np.array_equal(core.weights[:4, :6], weights)
    print(f"{result.count} spikes; device and golden model agree: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
