"""Per-synapse delays and state probes on the virtual board (issues 16, 17, 19, 20).

One Verilator build of the real top for :data:`CFG` (``tiny_delay``: delays of 1 .. 8 ticks and
two currents, plus 8 probe slots, one per neuron) serves every test of this module, through one
running board that the tests use as clients in turn. Each front end must give identical spikes
and identical probe traces on ``model://`` and on the board:

- a native network with ``connect(delays=...)`` (random delays up to the largest, recurrent
  excitation and inhibition, STDP), every probe field recorded, then state and weights read back;
- a NIR graph with ``Delay`` nodes and ``LI`` / ``CubaLI`` readouts (issue 19: the readouts are
  non-spiking populations read through probes);
- a PyNN script with ``StaticSynapse(delay=...)`` and ``record("v")`` (streamed by the probes).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.compiler import CompileWarning
from spikeloom.proto.config import preset
from spikeloom.sim import vboard
from test_vboard import _built

pytestmark = pytest.mark.rtl

#: delays 1 .. 8 ticks, exc/inh currents, a probe slot for every neuron
CFG = preset("tiny_delay").replace(probe_slots=8, name="tiny_delay_probes")


@pytest.fixture(scope="module")
def board_url():
    exe = _built(lambda: vboard.binary(CFG))
    with vboard.VirtualBoard(CFG, exe=exe) as vb:
        yield vb.url


def on_both(board_url, image, fn):
    """``fn(board)`` after loading ``image``, on model:// then on the virtual board."""
    out = []
    for url in ("model://", board_url):
        with sl.open(url, config=CFG, timeout=30.0) as board:
            board.load(image)
            out.append(fn(board))
    return out


def quiet_compile(net, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        return sl.compile(net, **kw)


# -- (a) the native API ----------------------------------------------------------------------------

def delay_network(seed=3):
    rng = np.random.default_rng(seed)
    net = sl.Network("delays")
    inp = net.inputs(4, name="in")
    exc = net.population(6, sl.LIF(tau_mem=12.0, tau_syn=3.0, tau_syn_inh=8.0, threshold=1.0,
                                   refractory=1), name="exc")
    inh = net.population(2, sl.LIF(tau_mem=8.0, tau_syn=3.0, threshold=0.8), name="inh")
    d_in = rng.integers(1, 9, (4, 6)).astype(float)
    d_in[0, 0], d_in[1, 1] = 8.0, 1.0             # the largest and the shortest delay
    ff = net.connect(inp, exc, weights=rng.uniform(0.3, 0.9, (4, 6)), delays=d_in,
                     stdp=sl.STDP(a_plus=0.04, a_minus=0.04, w_max=1.0), name="ff")
    net.connect(exc, exc, weights=[(j, (j + 1) % 6, 0.35) for j in range(6)],
                delays=rng.integers(1, 9, 6).astype(float), name="ring")
    net.connect(exc, inh, weights=rng.uniform(0.2, 0.5, (6, 2)), delays=3.0, name="e2i")
    net.connect(inh, exc, weights=-rng.uniform(0.3, 0.8, (2, 6)),
                delays=rng.integers(1, 9, (2, 6)).astype(float), name="i2e")
    return net, ff


def test_delay_network_same_spikes_probes_state_and_weights(board_url):
    net, ff = delay_network()
    image = sl.compile(net, target=CFG)
    assert image.delays().max() == 8 and image.delays()[image.delays() > 0].min() == 1
    spikes = np.random.default_rng(5).random((160, 4)) < 0.25
    fields = {"exc": ["v", "i", "i_inh", "y"], "inh": ["v"]}

    def session(board):
        w0 = board.read_weights(ff, raw=True)
        first = board.run(100, inputs={"in": spikes[:100]}, record=fields)
        second = board.run(60, inputs={"in": spikes[100:]}, record={"exc": ["v"]},
                           record_every=3)
        traces = [getattr(first[p], f).raw for p, fs in fields.items() for f in fs]
        traces.append(second["exc"].v.raw)
        st = board.read_state()["exc"]
        return (first.events, second.events, traces,
                (st.v_raw, st.i_raw, st.i_inh_raw), board.read_weights(ff, raw=True), w0)

    model, rtl = on_both(board_url, image, session)
    assert len(model[0]) + len(model[1]) > 30, "the network should spike"
    assert np.ptp(model[2][2]) > 0 and model[2][2].min() < 0, "inhibition should arrive"
    assert not np.array_equal(model[4], model[5]), "STDP should have moved weights"
    assert np.array_equal(model[0], rtl[0]) and np.array_equal(model[1], rtl[1])
    assert all(np.array_equal(a, b) for a, b in zip(model[2], rtl[2], strict=True))
    assert model[2][-1].shape == (20, 6)
    assert all(np.array_equal(a, b) for a, b in zip(model[3], rtl[3], strict=True))
    assert np.array_equal(model[4], rtl[4])


# -- (b) NIR: Delay nodes, LI and CubaLI readouts --------------------------------------------------

def test_nir_graph_with_delays_and_li_readouts(board_url):
    nir = pytest.importorskip("nir", reason="the nir extra is not installed")
    from spikeloom import nir as snir
    dt = 1e-4
    rng = np.random.default_rng(2)

    def tau(a):
        return dt / (1 - a)

    n = 4
    lif = nir.LIF(tau=np.full(n, tau(0.9)), r=np.full(n, tau(0.9) / dt), v_leak=np.zeros(n),
                  v_threshold=np.full(n, 0.8))
    li = nir.LI(tau=np.full(2, tau(0.95)), r=np.full(2, tau(0.95) / dt), v_leak=np.zeros(2))
    cli = nir.CubaLI(tau_syn=np.full(2, tau(0.8)), tau_mem=np.full(2, tau(0.95)),
                     r=np.full(2, tau(0.95) / dt), v_leak=np.zeros(2),
                     w_in=np.full(2, tau(0.8) / dt))
    g = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([3])),
               "w1": nir.Linear(weight=rng.uniform(0.2, 0.9, (n, 3))),
               "d1": nir.Delay(delay=np.array([0, 2, 5, 7]) * dt),      # 1, 3, 6, 8 ticks
               "lif": lif,
               "w2": nir.Linear(weight=rng.uniform(0.1, 0.4, (2, n))),
               "d2": nir.Delay(delay=np.array([3, 6]) * dt),
               "li": li,
               "w3": nir.Linear(weight=rng.uniform(-0.4, 0.5, (2, n))),
               "cli": cli,
               "out_li": nir.Output(output_type=np.array([2])),
               "out_cli": nir.Output(output_type=np.array([2]))},
        edges=[("input", "w1"), ("w1", "d1"), ("d1", "lif"), ("lif", "w2"), ("w2", "d2"),
               ("d2", "li"), ("lif", "w3"), ("w3", "cli"), ("li", "out_li"),
               ("cli", "out_cli")])
    net = snir.from_nir(g, dt=dt, target=CFG)
    image = quiet_compile(net, target=CFG)
    d = image.delays()
    assert sorted(set(d[d > 0].tolist())) == [1, 3, 4, 6, 7, 8]
    x = rng.random((120, 3)) < 0.4

    def session(board):
        r = board.run(120, inputs={"input": x}, record={"li": ["v"], "cli": ["v", "i", "i_inh"],
                                                        "lif": ["v"]})
        return (r["lif"].dense, r["li"].count + r["cli"].count,
                [r["li"].v.raw, r["cli"].v.raw, r["cli"].i.raw, r["cli"].i_inh.raw],
                r["lif"].v.raw)

    model, rtl = on_both(board_url, image, session)
    assert model[0].sum() > 10 and model[1] == 0, "LIF spikes, the readouts never do"
    assert all(np.ptp(t) > 0 for t in model[2]), [np.ptp(t) for t in model[2]]
    assert np.array_equal(model[0], rtl[0]) and rtl[1] == 0
    assert all(np.array_equal(a, b) for a, b in zip(model[2], rtl[2], strict=True))
    assert np.array_equal(model[3], rtl[3])


# -- (c) PyNN: delays and record("v") --------------------------------------------------------------

def pynn_script(sim, url):
    """Poisson and array sources, delays of 1 .. 8 ms drawn at random, recurrent inhibition;
    every spike and every v sample (streamed by the probes: 7 recorded cells, 8 slots)."""
    sim.setup(timestep=1.0, url=url, target=CFG, max_delay=8.0, rng_seed=4)
    rng = sim.NumpyRNG(seed=7)
    noise = sim.Population(3, sim.SpikeSourcePoisson(rate=60.0), label="noise")
    cue = sim.Population(1, sim.SpikeSourceArray(spike_times=[2.0, 3.0, 30.0]), label="cue")
    exc = sim.Population(5, sim.IF_curr_exp(tau_refrac=2.0, v_thresh=-60.0), label="exc")
    inh = sim.Population(2, sim.IF_curr_exp(tau_refrac=1.0, v_thresh=-61.0), label="inh")
    sim.Projection(noise, exc, sim.FixedProbabilityConnector(0.8, rng=rng),
                   sim.StaticSynapse(weight=1.2,
                                     delay=sim.RandomDistribution("uniform", (1.0, 8.0), rng=rng)))
    sim.Projection(cue, exc, sim.AllToAllConnector(), sim.StaticSynapse(weight=2.0, delay=8.0))
    sim.Projection(exc, inh, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.9, delay=3.0))
    sim.Projection(inh, exc, sim.AllToAllConnector(), sim.StaticSynapse(weight=-1.0, delay=2.0),
                   receptor_type="inhibitory")
    exc.record(["spikes", "v"])
    inh.record(["spikes", "v"])
    sim.run(70.0)
    streamed = sim.state.recorded_via == "probes"
    delays = sim.state.image.delays()
    seg = [p.get_data().segments[0] for p in (exc, inh)]
    spikes = [s.times.magnitude.tolist() for sg in seg for s in sg.spiketrains]
    v = [sg.filter(name="v")[0].magnitude.copy() for sg in seg]
    sim.end()
    return streamed, delays, spikes, v


def test_pynn_script_with_delays_and_v_recording(board_url):
    sim = pytest.importorskip("spikeloom.pynn", reason="PyNN is not installed (extra 'pynn')")
    model = pynn_script(sim, "model://")
    rtl = pynn_script(sim, board_url)
    assert model[0] and rtl[0], "v should stream through the probes, not tick by tick"
    assert model[1].max() == 8 and len(set(model[1][model[1] > 0].tolist())) >= 4
    assert sum(map(len, model[2])) > 10 and all(np.ptp(v) > 0 for v in model[3])
    assert np.array_equal(model[1], rtl[1])
    assert model[2] == rtl[2]
    assert all(np.array_equal(a, b) for a, b in zip(model[3], rtl[3], strict=True))
