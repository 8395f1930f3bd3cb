"""The same user script on the golden model and on the RTL top (Amaranth simulator).

Kept tiny (the RTL simulation runs a bit-level UART): one small STDP network, a few ticks; the
spikes and the learned weights must be identical on both backends.
"""

import numpy as np
import pytest
import spikeloom as sl

pytestmark = pytest.mark.rtl


def rtl_transport(cfg):
    try:
        from spikeloom.sim import rtlsim
    except ImportError as exc:     # pragma: no cover - depends on the gateware checkout
        pytest.skip(f"spikeloom.sim.rtlsim not importable: {exc}")
    if not hasattr(rtlsim, "Transport"):
        pytest.skip("spikeloom.sim.rtlsim.Transport is not there yet")
    return rtlsim.Transport(cfg)


def user_script(board):
    """What a user writes; returns everything observable."""
    net = sl.Network("rtl")
    inp = net.inputs(4, name="in")
    exc = net.population(8, sl.LIF(tau_mem=8.0, tau_syn=2.0, threshold=1.0, refractory=1),
                         name="exc")
    ff = net.connect(inp, exc, weights=np.random.default_rng(4).uniform(0.2, 0.9, (4, 8)),
                     stdp=sl.STDP(a_plus=0.05, a_minus=0.05, w_max=1.0), name="ff")
    net.connect(exc, exc, weights=sl.OneToOne(-0.4), name="self")
    image = sl.compile(net, target=board.config)
    board.load(image)
    spikes = np.random.default_rng(9).random((12, 4)) < 0.5
    result = board.run(12, inputs={"in": spikes})
    return result.events, board.read_weights(ff, raw=True), board.status()


def test_same_script_same_results_on_model_and_rtl():
    cfg = sl.preset("tiny")
    with sl.open("model://tiny") as board:
        model = user_script(board)
    with sl.open(transport=rtl_transport(cfg), timeout=60.0) as board:
        rtl = user_script(board)
    assert np.array_equal(model[0], rtl[0])
    assert np.array_equal(model[1], rtl[1])
    for key in ("ticks", "spikes", "syn_events", "last_tick_cycles"):
        assert model[2][key] == rtl[2][key], key
