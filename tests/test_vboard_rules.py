"""Several plasticity rules on the virtual board (issue 16): the real top, built by Verilator
for a small ``rule_bits = 2`` configuration, against ``model://``.

One network with two rules, an additive rule with stochastic rounding and a soft-bound
(multiplicative) modulated rule, runs with a modulation schedule that is positive, then
negative, then zero; spikes, the weights of both projections and the generator state must be
identical on both devices (and the rules must have moved weights).
"""

from __future__ import annotations

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.proto.config import CoreConfig
from spikeloom.proto.memmap import Region
from spikeloom.sim import vboard
from test_vboard import _built

pytestmark = pytest.mark.rtl

#: small, so the Verilator build is short: 12 inputs, 8 neurons, three rules
CFG = CoreConfig(n_neurons=8, n_inputs=12, stdp_frac=16, rule_bits=2, name="vboard_rules",
                 clock_hz=1_000_000, baud=100_000)


def rules_network():
    net = sl.Network("rules")
    inp = net.inputs(12, name="in")
    a = net.population(4, sl.LIF(tau_mem=20.0, tau_syn=5.0, threshold=1.0), name="a")
    b = net.population(4, sl.LIF(tau_mem=20.0, tau_syn=5.0, threshold=1.0), name="b")
    rng = np.random.default_rng(11)
    add = sl.STDP(a_plus=0.01, a_minus=0.0105, w_max=0.6, stochastic=True)
    soft = sl.STDP(a_plus=0.03, a_minus=0.0315, w_max=0.6, weight_dependence="multiplicative",
                   modulated=True)
    pa = net.connect(inp, a, weights=rng.uniform(0.1, 0.5, (12, 4)), stdp=add, name="add")
    pb = net.connect(inp, b, weights=rng.uniform(0.1, 0.5, (12, 4)), stdp=soft, name="soft")
    net.connect(a, b, weights=0.3, name="ab")
    return net, pa, pb


def test_two_rules_and_modulation_same_on_model_and_vboard():
    net, pa, pb = rules_network()
    image = sl.compile(net, target=CFG, seed=4242)
    ticks = 240
    drive = np.random.default_rng(3).random((ticks, 12)) < 0.25
    mod = np.select([np.arange(ticks) < 100, np.arange(ticks) < 180], [1.5, -0.75], 0.0)

    def session(board):
        board.load(image)
        w0 = (board.read_weights(pa, raw=True), board.read_weights(pb, raw=True))
        res = board.run(ticks, inputs={"in": drive}, modulation=mod)
        return (res.events, board.read_weights(pa, raw=True), board.read_weights(pb, raw=True),
                board.read_region(Region.LEARN), w0)

    exe = _built(lambda: vboard.binary(CFG))
    out = []
    with vboard.VirtualBoard(CFG, exe=exe) as vb:
        for url in ("model://", vb.url):
            with sl.open(url, config=CFG, timeout=60.0) as board:
                out.append(session(board))
    model, rtl = out
    assert len(model[0]) > 20, "the network should spike"
    w0 = model[4]
    assert not np.array_equal(model[1], w0[0]) and not np.array_equal(model[2], w0[1]), \
        "both rules should move weights"
    assert np.array_equal(model[0], rtl[0])
    assert np.array_equal(model[1], rtl[1]) and np.array_equal(model[2], rtl[2])
    assert model[3] == rtl[3]
