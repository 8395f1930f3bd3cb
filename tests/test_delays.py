"""Per-synapse delays end to end (issue 16 point 1): ``net.connect(..., delays=)`` in ms compiled
into the DELAYS region, the errors for delays a configuration cannot hold, the image round trip,
and the PSP arriving at the tick docs/numerics.md ("Delays") specifies on ``model://`` and in
the golden model stepped directly (its reference engine).
"""

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.compiler import CompileError
from spikeloom.proto.memmap import Region
from spikeloom.sim.model import Core

TARGET = "tiny_delay"           # delay_bits = 3: 1 .. 8 ticks


def fan_out(delays, dt=1.0, target=TARGET):
    """One input onto four neurons that fire on a single input spike, with ``delays``."""
    net = sl.Network()
    inp = net.inputs(1, name="in")
    pop = net.population(4, sl.LIF(threshold=0.5, tau_syn=1e-3), name="p")
    net.connect(inp, pop, weights=1.0, delays=delays, name="ff")
    return sl.compile(net, target=target, dt=dt)


def test_delays_in_ms_round_to_ticks_and_land_in_the_region():
    image = fan_out([[1.0, 2.4, 2.6, 8.0]])
    assert image.delays()[0, :4].tolist() == [1, 2, 3, 8]
    d = image.fields(Region.DELAYS)
    assert [int(d[f"d{k}"][0]) for k in range(4)] == [0, 1, 2, 7]      # d = ticks - 1
    worst = image.report["ff delay"]
    assert (worst.value, worst.integer) == (2.4, 2)             # largest relative rounding
    # dt scales: 0.5 ms ticks
    assert fan_out(2.0, dt=0.5).delays()[0, :4].tolist() == [4] * 4


def test_delay_value_forms():
    scalar = fan_out(3.0).delays()[0, :4]
    per_synapse = fan_out(np.full(4, 3.0)).delays()[0, :4]
    assert scalar.tolist() == per_synapse.tolist() == [3] * 4
    net = sl.Network()
    inp = net.inputs(2, name="in")
    pop = net.population(3, sl.LIF(), name="p")
    # sparse triples, one delay per triple (in the order given, not the sorted order)
    net.connect(inp, pop, weights=[(1, 2, 0.5), (0, 0, 0.5), (1, 1, 0.5)],
                delays=[5.0, 2.0, 1.0], name="sp")
    assert sl.compile(net, target=TARGET).delays()[[1, 0, 1], [2, 0, 1]].tolist() == [5, 2, 1]


@pytest.mark.parametrize("delays,match", [
    (9.0, r"projection 'ff': delay 9 ms .* is 9 ticks .* holds 1 \.\. 8 ticks"),
    (0.4, r"projection 'ff': delay 0.4 ms .* is 0 ticks"),
    ([[1.0, 2.0]], r"projection 'ff': delays must be a number, a \(1, 4\) matrix"),
    (float("nan"), r"projection 'ff': delays must be finite"),
])
def test_out_of_range_delays_name_the_projection(delays, match):
    with pytest.raises(CompileError, match=match):
        fan_out(delays)


def test_a_core_without_delays_holds_only_one_tick():
    assert fan_out(1.0, target="tiny").delays()[0, :4].tolist() == [1] * 4
    assert Region.DELAYS not in fan_out(None, target="tiny").regions
    with pytest.raises(CompileError, match=r"delay_bits = 0\) holds 1 \.\. 1 ticks"):
        fan_out(2.0, target="tiny")


def test_image_file_carries_the_delays(tmp_path):
    image = fan_out([[1.0, 2.0, 5.0, 7.0]])
    image.save(tmp_path / "d.slimg")
    back = sl.Image.load(tmp_path / "d.slimg")
    assert back.regions[Region.DELAYS] == image.regions[Region.DELAYS]
    assert back.delays()[0, :4].tolist() == [1, 2, 5, 7]


def test_delayed_psp_arrives_at_the_specified_tick():
    """An input spike at tick 3 reaches neuron k (delay t_k ticks) in tick 3 + t_k - 1; a neuron's
    spike reaches its target t ticks after it (a relay through a delayed recurrent synapse)."""
    delays = [1.0, 2.0, 5.0, 8.0]
    image = fan_out([delays])
    spikes = np.zeros((20, 1), bool)
    spikes[3] = True
    with sl.open(f"model://{TARGET}") as board:
        board.load(image)
        result = board.run(20, inputs={"in": spikes})
    assert result["p"].events.tolist() == [[3 + int(t) - 1, k] for k, t in enumerate(delays)]

    net = sl.Network()
    inp = net.inputs(1, name="in")
    a = net.population(1, sl.LIF(threshold=0.5, tau_syn=1e-3), name="a")
    b = net.population(1, sl.LIF(threshold=0.5, tau_syn=1e-3), name="b")
    net.connect(inp, a, weights=1.0)
    net.connect(a, b, weights=1.0, delays=6.0)
    with sl.open(f"model://{TARGET}") as board:
        board.load(sl.compile(net, target=TARGET))
        result = board.run(20, inputs={"in": spikes})
    assert result["a"].events[:, 0].tolist() == [3]
    assert result["b"].events[:, 0].tolist() == [3 + 6]


def test_ring_is_state_delays_are_config():
    """RESET STATE drops the weights in flight; the delays stay (RESET CONFIG clears them)."""
    image = fan_out([[8.0, 8.0, 8.0, 8.0]])
    core = Core.from_image(image, engine="reference")
    core.step([0])
    assert core.state.ring.any()
    core.reset_state()
    assert not core.state.ring.any() and (core.delays[0, :4] == 7).all()
    assert not core.run(10).any()               # nothing was left in flight
    core.reset_config()
    assert not core.delays.any()
