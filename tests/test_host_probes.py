"""Recording state through probes from the host: ``board.run(record=...)`` on model://, the
Amaranth simulation of the gateware, and the errors for requests that cannot be honoured."""

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.errors import FitError
from spikeloom.proto import preset
from spikeloom.sim.model import Core

CFG = preset("tiny").replace(probe_slots=6, name="tiny_probes")


def net():
    rng = np.random.default_rng(4)
    n = sl.Network("probes")
    inp = n.inputs(4, name="in")
    exc = n.population(5, sl.LIF(tau_mem=10.0, tau_syn=3.0, threshold=1.0, refractory=1),
                       name="exc")
    n.connect(inp, exc, weights=rng.uniform(-0.3, 0.7, (4, 5)), name="ff")
    return n


def inputs(ticks, seed=1):
    return np.random.default_rng(seed).random((ticks, 4)) < 0.3


def golden_v(image, spikes):
    core = Core.from_image(image, "reference")
    out = []
    for row in spikes:
        core.step(np.flatnonzero(row))
        out.append((core.state.v[:5].copy(), core.state.i[:5].copy()))
    return np.array([v for v, _ in out]), np.array([i for _, i in out])


@pytest.mark.parametrize("every", [1, 3])
def test_recorded_state_is_the_model_state(every):
    image = sl.compile(net(), target=CFG)
    ticks, spikes = 40, inputs(40)
    with sl.open("model://", config=CFG) as board:
        board.load(image)
        result = board.run(ticks, inputs={"in": spikes}, record={"exc": ["v", "i"]},
                           record_every=every)
        plain = board.run(5)            # probes are off again: no PROBE events expected
    v, i = golden_v(image, spikes)
    rec = result["exc"]
    assert rec.v.shape == (len(range(0, ticks, every)), 5)
    assert np.array_equal(rec.v.ticks, np.arange(0, ticks, every))
    assert np.array_equal(rec.v.raw, v[::every]) and np.array_equal(rec.i.raw, i[::every])
    info = image.populations["exc"]
    assert np.allclose(rec.v, info.v_rest + v[::every] / info.scale)
    assert np.ptp(rec.v.raw) > 0 and (rec.i.raw < 0).any()
    assert plain.ticks == 5 and not plain.recorded


@pytest.mark.rtl
def test_recorded_v_identical_on_model_and_rtl():
    from spikeloom.sim.rtlsim import Transport
    cfg = CFG
    image = sl.compile(net(), target=cfg)
    ticks, spikes = 12, inputs(12, seed=2)
    got = []
    # (the simulated top runs far slower than a board: a wall-clock timeout for a loaded machine)
    for board in (sl.open("model://", config=cfg),
                  sl.open(transport=Transport(cfg), config=cfg, timeout=60.0)):
        with board:
            board.load(image)
            got.append(board.run(ticks, inputs={"in": spikes},
                                 record={"exc": ["v", "y"]})["exc"])
    assert np.array_equal(got[0].v.raw, got[1].v.raw) and np.array_equal(got[0].y.raw,
                                                                          got[1].y.raw)
    assert np.ptp(got[0].v.raw) > 0


def test_bad_record_requests_fail_before_the_run():
    image = sl.compile(net(), target=CFG)
    with sl.open("model://", config=CFG) as board:
        board.load(image)
        for record, every, match in (
                ({"exc": ["v"], "in": ["v"]}, 1, "not a neuron population"),
                ({"nope": ["v"]}, 1, "not a neuron population"),
                ({"exc": ["theta"]}, 1, "fields must be distinct names"),
                ({"exc": ["v", "v"]}, 1, "fields must be distinct names"),
                ({"exc": ["v"]}, 0, "record_every"),
                ([("exc", "v")], 1, "record must be a dict")):
            with pytest.raises(FitError, match=match):
                board.run(5, record=record, record_every=every)
        # the line: 1 probed neuron every tick at a 20-cycle period cannot fit 100 kbaud
        with pytest.raises(FitError, match="of line per tick"):
            board.run(5, period=20, record={"exc": ["v"]})
        assert board.status()["ticks"] == 0        # nothing ran
    small = CFG.replace(probe_slots=2, name="two_slots")
    with sl.open("model://", config=small) as board:
        board.load(sl.compile(net(), target=small))
        with pytest.raises(FitError, match="needs 5 probe slots"):
            board.run(5, record={"exc": ["v"]})
    with sl.open("model://tiny", config="tiny") as board:
        board.load(sl.compile(net(), target="tiny"))
        with pytest.raises(FitError, match=r"probe_slots = 0: .*read_state\(\).*ulx3s_85f"):
            board.run(5, record={"exc": ["v"]})


def test_plot_state(tmp_path):
    image = sl.compile(net(), target=CFG)
    with sl.open("model://", config=CFG) as board:
        board.load(image)
        result = board.run(20, inputs={"in": inputs(20)}, record={"exc": ["v"]})
    path = result.plot_state("exc", "v", tmp_path / "v.png", neurons=[0, 2])
    assert path.stat().st_size > 1000
    with pytest.raises(KeyError, match="not recorded"):
        result.plot_state("exc", "i")


@pytest.mark.rtl
def test_recorded_v_identical_on_model_and_virtual_board():
    """The Verilator virtual board (the gateware as C++) streams the same PROBE frames."""
    from spikeloom.sim import vboard
    cfg = CFG
    image = sl.compile(net(), target=cfg)
    spikes = inputs(50, seed=3)
    from spikeloom.errors import ToolNotFound
    try:
        exe = vboard.binary(cfg)
    except ToolNotFound as exc:
        pytest.skip(f"virtual board cannot be built here: {exc}")
    got = []
    with vboard.VirtualBoard(cfg, exe=exe) as board_vb:
        for url in ("model://", board_vb.url):
            with sl.open(url, config=cfg) as board:
                board.load(image)
                got.append(board.run(50, inputs={"in": spikes},
                                     record={"exc": ["v", "i"]}, record_every=2)["exc"])
    assert np.array_equal(got[0].v.raw, got[1].v.raw) and np.array_equal(got[0].i.raw,
                                                                          got[1].i.raw)
    assert got[0].v.shape == (25, 5) and np.ptp(got[0].v.raw) > 0
