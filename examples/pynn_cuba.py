"""The Vogels-Abbott CUBA network (Brette et al. 2007, benchmark 2) as a PyNN script, scaled
down to fit one core, run on spikeloom (or any PyNN backend) and plotted.

    python examples/pynn_cuba.py [spikeloom|brian2] [URL]    # default: spikeloom, model://

Written as PyNN's own ``examples/va_benchmark.py`` is: one Population "cells" of
``IF_curr_exp``, its first 80 % the excitatory and the rest the inhibitory PopulationView, 2 %
connectivity from each view to all cells, resting potential (-49 mV) above threshold (-50 mV) so
the network sustains its own activity, a 50 ms Poisson kick. Scaling from the benchmark's 4000
cells to ``n``: the weights grow by ``4000 / n`` so each cell's mean input stays the same. The
currents decay with the benchmark's own time constants (5 ms excitatory, 10 ms inhibitory), so the
cells need the core's separate inhibitory current: a configuration with ``inh_current``
(``ulx3s_85f``, which model:// picks). Writes ``pynn_cuba.png`` (raster and population rates).
"""

from __future__ import annotations

import sys

import numpy as np

# the benchmark's parameters (PyNN's examples/va_benchmark.py, CUBA)
CELL = dict(cm=0.2, tau_m=20.0, v_rest=-49.0, v_thresh=-50.0, v_reset=-60.0, tau_refrac=5.0,
            tau_syn_E=5.0, tau_syn_I=10.0, i_offset=0.0)
W_EXC = 0.27e-3 * (0.0 - -60.0)         # nA: Gexc (nS) * (E_exc - v_mean)
W_INH = 4.5e-3 * (-80.0 - -60.0)        # nA: Ginh * (E_inh - v_mean)
N_FULL = 4000


def cuba(sim, n: int = 512, t_stop: float = 1000.0, seed: int = 98765, dt: float = 1.0,
         stim: bool = True, record_v: int = 0, delay: float | None = None,
         init_seed: int | None = None, w_factor: float = 1.0, **setup_kwargs):
    """Build and run the network on ``sim`` (a PyNN backend module); return the excitatory and
    inhibitory views' Neo segments and the views ``(exc, inh)`` (call ``sim.end()`` after
    reading them). ``delay`` (default ``dt``) is every synapse's delay; ``seed`` draws the
    graph, ``init_seed`` (default ``seed``) the initial membrane potentials and the kick's
    connections; ``w_factor`` multiplies every weight (to plant an error in a test)."""
    delay = dt if delay is None else delay
    sim.setup(timestep=dt, **setup_kwargs)
    rng = sim.NumpyRNG(seed=seed if init_seed is None else init_seed)
    n_exc = int(round(n * 0.8))
    scale = N_FULL / n * w_factor
    cells = sim.Population(n, sim.IF_curr_exp(**CELL), label="cells")
    exc, inh = cells[:n_exc], cells[n_exc:]
    cells.initialize(v=sim.RandomDistribution("uniform", (CELL["v_reset"], CELL["v_thresh"]),
                                              rng=rng))
    e_syn = sim.StaticSynapse(weight=W_EXC * scale, delay=delay)
    i_syn = sim.StaticSynapse(weight=W_INH * scale, delay=delay)
    # 2 % connectivity drawn here with numpy, so every backend gets the same network: with ~10
    # inputs per cell the statistics depend on the drawn graph (PyNN's FixedProbabilityConnector
    # draws differently on each backend)
    graph = np.random.default_rng(seed)
    for pre, syn, receptor, offset in ((exc, e_syn, "excitatory", 0),
                                       (inh, i_syn, "inhibitory", n_exc)):
        mask = graph.random((pre.size, n)) < 0.02
        mask[np.arange(pre.size), offset + np.arange(pre.size)] = False     # no self-synapses
        pairs = [(int(i), int(j)) for i, j in zip(*np.nonzero(mask), strict=True)]
        sim.Projection(pre, cells, sim.FromListConnector(pairs), syn, receptor_type=receptor)
    if stim:
        kick = sim.Population(20, sim.SpikeSourcePoisson(rate=100.0, duration=50.0),
                              label="kick")
        sim.Projection(kick, cells, sim.FixedProbabilityConnector(0.1, rng=rng), e_syn,
                       receptor_type="excitatory")
    exc.record("spikes")
    inh.record("spikes")
    if record_v:
        exc[:record_v].record("v")
    sim.run(t_stop)
    return exc.get_data().segments[0], inh.get_data().segments[0], (exc, inh)


def rate_and_cv(segment, t_stop: float, t_skip: float = 100.0):
    """Mean rate (Hz) after ``t_skip`` ms and the mean CV of the ISIs (cells with >= 3 spikes)."""
    rates, cvs = [], []
    for train in segment.spiketrains:
        t = np.asarray(train.times.rescale("ms").magnitude)
        t = t[t >= t_skip]
        rates.append(t.size / ((t_stop - t_skip) / 1000.0))
        if t.size >= 3:
            isi = np.diff(t)
            cvs.append(isi.std() / isi.mean())
    return float(np.mean(rates)), float(np.mean(cvs)) if cvs else float("nan")


def main(backend: str = "spikeloom", url: str = "model://", t_stop: float = 1000.0) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if backend == "brian2":
        import pyNN.brian2 as sim
        extra = {}
    else:
        import spikeloom.pynn as sim
        extra = {"url": url}
    exc, inh, _ = cuba(sim, t_stop=t_stop, **extra)
    if backend != "brian2":
        print(sim.state.image.report)
    sim.end()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    bins = np.arange(0.0, t_stop + 5.0, 5.0)
    for offset, label, seg, color in ((0, "exc", exc, "tab:red"),
                                      (len(exc.spiketrains), "inh", inh, "tab:blue")):
        times = [np.asarray(s.times.rescale("ms").magnitude) for s in seg.spiketrains]
        for k, t in enumerate(times):
            ax1.plot(t, np.full(t.size, offset + k), ".", ms=1, color=color)
        counts, _ = np.histogram(np.concatenate(times), bins)
        ax2.plot(bins[:-1], counts / len(times) / 5e-3, color=color, label=label)   # Hz
        rate, cv = rate_and_cv(seg, t_stop)
        print(f"{label}: {rate:.1f} Hz, CV of ISIs {cv:.2f}")
    ax1.set_ylabel("cell")
    ax2.set_ylabel("rate (Hz)")
    ax2.set_xlabel("time (ms)")
    ax2.legend(loc="upper right")
    ax1.set_title(f"CUBA network on {backend} ({len(exc.spiketrains) + len(inh.spiketrains)} "
                  "cells)")
    fig.tight_layout()
    fig.savefig("pynn_cuba.png", dpi=120)
    print("wrote pynn_cuba.png")


if __name__ == "__main__":
    main(*sys.argv[1:3])
