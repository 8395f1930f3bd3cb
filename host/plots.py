"""Plots (matplotlib, Agg backend: works without a display): rasters, weights, weight changes.

Every function takes an optional ``path``: given, the figure is written there (PNG by extension)
and closed, and the path is returned; without it the matplotlib Figure is returned.
"""

from __future__ import annotations

import numpy as np

__all__ = ["raster", "state", "weights", "weight_change", "weight_histogram"]


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def _finish(fig, path):
    if path is None:
        return fig
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def raster(result, path=None, *, populations=None, inputs: bool = True, title=None):
    """Spike raster, one band per population (inputs at the bottom, then neuron populations
    in placement order), x axis in ticks (and ms via ``result.dt``)."""
    plt = _plt()
    names = populations or [n for n, p in result.populations.items()
                            if inputs or p.kind != "inputs"]
    names = sorted(names, key=lambda n: (result.populations[n].kind != "inputs",
                                         result.populations[n].start))
    # constrained layout: no tight_layout warnings (pytest turns warnings into errors)
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.04 * sum(
        result.populations[n].size for n in names) + 0.3 * len(names)), layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    base, ticks, labels = 0, [], []
    for k, name in enumerate(names):
        ps = result[name]
        if ps.count:
            ax.scatter(ps.events[:, 0], base + ps.events[:, 1], s=2, marker="|",
                       color=colours[k % len(colours)], linewidths=0.8)
        ticks.append(base + ps.size / 2)
        labels.append(f"{name}\n({ps.count})")
        base += ps.size
        ax.axhline(base - 0.5, color="0.85", lw=0.5)
    ax.set_yticks(ticks, labels)
    ax.set_ylim(-0.5, max(base, 1) - 0.5)
    ax.set_xlim(0, max(result.ticks, 1))
    ax.set_xlabel(f"tick (dt = {result.dt:g} ms)")
    ax.set_title(title or result.summary(), fontsize=9)
    return _finish(fig, path)


def state(result, pop, field: str = "v", path=None, *, neurons=None, title=None):
    """A field recorded through probes (``board.run(record=...)``) against time, one line per
    neuron (``neurons``: population-local indices, default all); KeyError if not recorded."""
    name = getattr(pop, "name", pop)
    trace = result.recorded.get(name, {}).get(field)
    if trace is None:
        raise KeyError(f"{field!r} of {name!r} was not recorded (board.run(..., record="
                       f"{{{name!r}: [{field!r}]}}))")
    cols = range(trace.shape[1]) if neurons is None else list(neurons)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 3.5), layout="constrained")
    for j in cols:
        ax.plot(trace.ticks, np.asarray(trace)[:, j], lw=0.9, label=f"{name}[{j}]")
    if len(cols) <= 10:
        ax.legend(fontsize=7, loc="upper right")
    ax.set_xlabel(f"tick (dt = {result.dt:g} ms)")
    ax.set_ylabel(field)
    ax.set_title(title or f"{name}.{field}", fontsize=9)
    return _finish(fig, path)


def weights(before, after=None, path=None, *, title="weights", labels=("before", "after")):
    """One or two weight matrices (rows: sources, columns: targets), shared colour scale."""
    plt = _plt()
    mats = [np.asarray(before, float)] + ([] if after is None else [np.asarray(after, float)])
    lim = max(float(np.max(np.abs(m))) if m.size else 0.0 for m in mats) or 1.0
    fig, axes = plt.subplots(1, len(mats), figsize=(4.5 * len(mats) + 1, 4), squeeze=False)
    for ax, m, label in zip(axes[0], mats, labels, strict=False):
        im = ax.imshow(m, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                       interpolation="nearest")
        ax.set_title(f"{title} {label}" if after is not None else title, fontsize=9)
        ax.set_xlabel("target neuron")
        ax.set_ylabel("source")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    return _finish(fig, path)


def weight_change(before, after, path=None, *, title="weight change"):
    """The matrix ``after - before``."""
    plt = _plt()
    d = np.asarray(after, float) - np.asarray(before, float)
    lim = float(np.max(np.abs(d))) if d.size else 0.0
    fig, ax = plt.subplots(figsize=(5.5, 4))
    im = ax.imshow(d, aspect="auto", cmap="RdBu_r", vmin=-(lim or 1), vmax=lim or 1,
                   interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("target neuron")
    ax.set_ylabel("source")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return _finish(fig, path)


def weight_histogram(before, after, path=None, *, mask=None, bins=41,
                     title="weight change per synapse"):
    """Histogram of ``after - before`` over the synapses (``mask``: which entries count)."""
    plt = _plt()
    d = np.asarray(after, float) - np.asarray(before, float)
    if mask is not None:
        d = d[np.asarray(mask, bool)]
    d = d.ravel()
    fig, ax = plt.subplots(figsize=(5.5, 3.5), layout="constrained")
    ax.hist(d, bins=bins, color="tab:blue")
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel("change")
    ax.set_ylabel("synapses")
    ax.set_title(f"{title} (mean {d.mean() if d.size else 0:+.3g})", fontsize=9)
    return _finish(fig, path)
