"""Recording state through probes from the host: ``board.run(record=...)`` on model://, the
Amaranth simulation of the gateware, and the errors for requests that cannot be honoured."""

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.errors import FitError
from spikeloom.proto import preset
from spikeloom.sim.model import Core

CFG = preset("tiny").replace(probe_slots=6, name="tiny_probes")


def net(stdp=None):
    rng = np.random.default_rng(4)
    n = sl.Network("probes")
    inp = n.inputs(4, name="in")
    exc = n.population(5, sl.LIF(tau_mem=10.0, tau_syn=3.0, threshold=1.0, refractory=1),
                       name="exc")
    n.connect(inp, exc, weights=rng.uniform(-0.3, 0.7, (4, 5)), name="ff", stdp=stdp)
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
    """Probes and reads on the Amaranth simulation of the gateware record what model:// does."""
    from spikeloom.sim.rtlsim import Transport
    cfg = CFG
    image = sl.compile(net(), target=cfg)
    ticks, spikes = 12, inputs(12, seed=2)
    got = []
    # (the simulated top runs far slower than a board: a wall-clock timeout for a loaded machine)
    for board, via in ((sl.open("model://", config=cfg), "probes"),
                       (sl.open(transport=Transport(cfg), config=cfg, timeout=60.0), "probes"),
                       (sl.open(transport=Transport(cfg), config=cfg, timeout=60.0), "reads")):
        with board:
            board.load(image)
            got.append(board.run(ticks, inputs={"in": spikes}, record_via=via,
                                 record={"exc": ["v", "y"]})["exc"])
    for other in got[1:]:
        assert np.array_equal(got[0].v.raw, other.v.raw) and np.array_equal(got[0].y.raw,
                                                                            other.y.raw)
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
        with pytest.raises(FitError, match="record_via"):
            board.run(5, record={"exc": ["v"]}, record_via="probe")
        # reads at a 20-cycle period: a READ reply per tick does not fit either
        with pytest.raises(FitError, match="of line per tick"):
            board.run(5, period=20, record={"exc": ["v"]}, record_via="reads")
        assert board.status()["ticks"] == 0        # nothing ran
    small = CFG.replace(probe_slots=2, name="two_slots")
    with sl.open("model://", config=small) as board:
        board.load(sl.compile(net(), target=small))
        with pytest.raises(FitError, match=r"needs 5 probe slots.*record_via='reads'"):
            board.run(5, record={"exc": ["v"]}, record_via="probes")
    with sl.open("model://tiny", config="tiny") as board:
        board.load(sl.compile(net(), target="tiny"))
        with pytest.raises(FitError, match=r"probe slots; configuration 'tiny' has 0.*ulx3s_85f"):
            board.run(5, record={"exc": ["v"]}, record_via="probes")


@pytest.mark.parametrize("every", [1, 4])
def test_read_back_records_what_probes_stream(every):
    """Without enough probe slots (``tiny`` has none) ``record`` reads the words back after each
    sampled tick in the same pipelined run: the same samples as the probes of a core that has
    them, and as the golden model; spikes unchanged by the cut RUNs."""
    ticks, spikes = 30, inputs(30, seed=3)
    got = {}
    stdp = sl.STDP(a_plus=0.05, a_minus=0.04, w_max=0.7)     # (a post trace to record)
    for cfg, via in ((CFG, "probes"), (CFG, "reads"), (preset("tiny"), None)):
        image = sl.compile(net(stdp), target=cfg)
        with sl.open("model://", config=cfg) as board:
            board.load(image)
            got[cfg.name, via] = board.run(ticks, inputs={"in": spikes}, record_every=every,
                                           record={"exc": ["v", "i", "y"]}, record_via=via)
            assert board.status()["ticks"] == ticks
    v, i = golden_v(sl.compile(net(stdp), target=CFG), spikes)
    ref = got[CFG.name, "probes"]
    assert np.array_equal(ref["exc"].v.raw, v[::every]) and np.ptp(v) > 0
    for key, res in got.items():
        assert res.recorded_via == (key[1] or "reads"), key
        for f in ("v", "i", "y"):
            a, b = getattr(ref["exc"], f), getattr(res["exc"], f)
            assert np.array_equal(a.raw, b.raw) and np.array_equal(a.ticks, b.ticks), (key, f)
            assert np.allclose(a, b)
        assert np.array_equal(ref.events, res.events) and ref.events.size, key
    assert np.any(ref["exc"].y.raw)


def test_read_back_request_plan():
    """The requests of a read-back run: a RUN ends on every sampled tick and after every tick
    with input; each sample's READs follow its RUN; the windows are split at max_payload."""
    from spikeloom.board import _RunPlan
    from spikeloom.image import PopulationInfo
    from spikeloom.proto import protocol as P
    from spikeloom.proto.memmap import Region, layouts
    from spikeloom.proto.protocol import Opcode
    from spikeloom.recording import ReadBack, plan
    cfg = preset("tiny")
    pops = {"exc": PopulationInfo("exc", "neurons", 1, 6)}
    _, watches = plan(cfg, pops, {"exc": ["v", "y"]}, 5)
    nb = layouts(cfg)[Region.NEURON_STATE].nbytes
    reads = ReadBack("test", cfg, watches, 5, 12, max_payload=4 * nb)
    sched = {6: np.array([1, 2])}
    seq = []
    for r in _RunPlan(sched, 12, 0, 8, reads=reads):
        if r.opcode == Opcode.RUN:
            seq.append(("RUN", P.RUN_REQ.unpack(r.payload)["ticks"]))
        elif r.opcode == Opcode.READ:
            q = P.READ_REQ.unpack(r.payload)
            seq.append((Region(q["region"]).name, q["addr"], q["count"]))
        else:
            seq.append((r.opcode.name,))
    state = [("NEURON_STATE", 1, 4), ("NEURON_STATE", 5, 2)]
    trace = [("POST_TRACE", 1, 6)]      # (a POST_TRACE word is narrower: one READ)
    assert seq == [("RUN", 1), *state, *trace, ("RUN", 5), *state, *trace, ("INJECT",),
                   ("RUN", 1), ("RUN", 4), *state, *trace, ("RUN", 1)]


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
    """The Verilator virtual board (the gateware as C++) streams the same PROBE frames, and
    records the same through reads."""
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
        for url, via in (("model://", "probes"), (board_vb.url, "probes"),
                         (board_vb.url, "reads")):
            with sl.open(url, config=cfg) as board:
                board.load(image)
                got.append(board.run(50, inputs={"in": spikes}, record_via=via,
                                     record={"exc": ["v", "i"]}, record_every=2)["exc"])
    for other in got[1:]:
        assert np.array_equal(got[0].v.raw, other.v.raw) and np.array_equal(got[0].i.raw,
                                                                            other.i.raw)
    assert got[0].v.shape == (25, 5) and np.ptp(got[0].v.raw) > 0


def test_an_aborted_read_back_run_keeps_the_samples_that_arrived():
    """Board.abort() during a long run recorded through reads: RunAborted's result holds the
    samples of the ticks that ran whose READs were answered (a prefix, at most one short), equal
    to those of the same ticks run again."""
    import threading
    image = sl.compile(net(), target="tiny")
    events = np.array([[t, t % 4] for t in range(0, 100_000, 3)])
    reached = threading.Event()

    def progress(done, total):
        if done >= 256:
            reached.set()

    with sl.open("model://tiny", config="tiny") as board:
        board.load(image)
        stopper = threading.Thread(target=lambda: reached.wait(60) and board.abort())
        stopper.start()
        with pytest.raises(sl.RunAborted) as info:
            board.run(100_000, inputs={"in": events}, record={"exc": ["v"]}, progress=progress)
        stopper.join()
    result = info.value.result
    v = result["exc"].v
    assert 256 <= result.ticks and result.ticks - 1 <= len(v) <= result.ticks
    assert np.array_equal(v.ticks, np.arange(len(v)))
    with sl.open("model://tiny", config="tiny") as ref:
        ref.load(image)
        want = ref.run(result.ticks, inputs={"in": events[events[:, 0] < result.ticks]},
                       record={"exc": ["v"]}, progress=False)["exc"].v
    assert np.array_equal(want.raw[:len(v)], v.raw) and np.ptp(v.raw) > 0
