"""Trajectories of single crossbars during training, from a `History`.

The figures a device researcher draws for one measured crossbar (the original tool's set): the
conductance of every device per epoch, the synaptic weights G+ - G-, each training pattern's
activation against its target, the epoch error, and the final conductances as 3-D bars.
Epoch e shows the state that epoch is evaluated with, before its update (see `history`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from crossbar_jax.history import History
from crossbar_jax.plots.style import (
    PAGE_WIDTH,
    colorblind,
    figure_file,
    grid_title,
    new_figure,
    new_grid,
    save_figure,
    style,
)

__all__ = [
    "plot_conductances",
    "plot_weights",
    "plot_activations",
    "plot_error",
    "plot_final_conductances",
    "crossbar_figures",
]

_PLUS = "#2a7ab0"
_MINUS = "#c8553d"
_MICRO = 1e6  # siemens -> microsiemens


def _column_name(c: int) -> str:
    return f"G{'+-'[c % 2]}{c // 2 + 1}"


def _span(h: History, b: int) -> tuple[np.ndarray, str]:
    """Epochs 1..last that were evaluated, and a phrase for the outcome."""
    last = int(h.epoch[b]) if h.converged[b] else h.epochs
    numbers = getattr(h, "epoch_numbers", None)  # a sampled history keeps only some epochs
    epochs = np.arange(1, last + 1) if numbers is None else numbers[numbers <= last]
    if h.converged[b]:
        return epochs, f"converged at epoch {last}"
    return epochs, f"not converged in {h.epochs} epochs"


def _title(h: History, b: int, what: str, sep: str = " ") -> str:
    _, outcome = _span(h, b)
    return f"{what}, crossbar {int(h.crossbar[b])}{sep}({outcome})"


def _mark_convergence(ax, h: History, b: int) -> None:
    """Dotted line at the converged epoch; whole epochs on the x axis."""
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    if h.converged[b]:
        ax.axvline(int(h.epoch[b]), color="0.4", ls=":", lw=0.8)


def plot_conductances(h: History, b: int = 0) -> Figure:
    """Conductance of every device (row r, column G+m or G-m) at each epoch, in µS."""
    epochs, _ = _span(h, b)
    g = h.conductances[b, : epochs.size] * _MICRO
    rows, cols = g.shape[1:]
    with style():
        fig, axes = new_grid(PAGE_WIDTH, 1.15 * rows + 0.6, rows, cols)
        for r in range(rows):
            for c in range(cols):
                ax = axes[r, c]
                ax.plot(
                    epochs,
                    g[:, r, c],
                    color=_PLUS if c % 2 == 0 else _MINUS,
                    lw=1.2,
                    marker="o",
                    ms=1.8,
                )
                _mark_convergence(ax, h, b)
                # column names on the top row, row numbers on the left: a title per panel
                # would repeat them (and costs a text layout each)
                if r == 0:
                    ax.set_title(_column_name(c), fontsize=7, fontweight="normal")
                if r == rows - 1:
                    ax.set_xlabel("epoch")
                if c == 0:
                    ax.set_ylabel(f"row {r + 1}\nG (µS)")
        grid_title(fig, _title(h, b, "Device conductances"))
    return fig


def plot_weights(h: History, b: int = 0) -> Figure:
    """Synaptic weight W = G+ - G- of every (row, neuron) at each epoch, in µS."""
    epochs, _ = _span(h, b)
    w = h.weights[b, : epochs.size] * _MICRO
    rows, neurons = w.shape[1:]
    with style():
        fig, axes = new_grid(PAGE_WIDTH, 1.05 * rows + 0.6, rows, neurons)
        for r in range(rows):
            for m in range(neurons):
                ax = axes[r, m]
                ax.axhline(0.0, color="0.7", lw=0.6)
                ax.plot(epochs, w[:, r, m], color="0.15", lw=1.2, marker="o", ms=1.8)
                _mark_convergence(ax, h, b)
                if r == 0:
                    ax.set_title(f"neuron {m + 1}", fontsize=7, fontweight="normal")
                if r == rows - 1:
                    ax.set_xlabel("epoch")
                if m == 0:
                    ax.set_ylabel(f"row {r + 1}\nW (µS)")
        grid_title(fig, _title(h, b, "Synaptic weights W = G+ - G-"))
    return fig


def plot_activations(h: History, b: int = 0) -> Figure:
    """Activation tanh(beta I) of every training pattern per epoch against the targets.

    A pattern labelled 1 succeeds above t+ (shaded blue), one labelled 0 below t- (shaded red);
    each pattern keeps its colour in every neuron's panel.
    """
    epochs, _ = _span(h, b)
    f = h.activations[b, : epochs.size]
    n_patterns, neurons = f.shape[1:]
    tp, tn = h.positive_target, h.negative_target
    palette = colorblind(n_patterns)
    with style():
        fig, axes = new_figure(PAGE_WIDTH, 2.8, ncols=neurons, sharey=True, squeeze=False)
        for m in range(neurons):
            ax = axes[0, m]
            ax.axhspan(tp, 1.05, color=_PLUS, alpha=0.08, lw=0)
            ax.axhspan(-1.05, tn, color=_MINUS, alpha=0.08, lw=0)
            ax.axhline(tp, color=_PLUS, ls="--", lw=0.9, label=f"$t_+$ = {tp:g}")
            ax.axhline(tn, color=_MINUS, ls="--", lw=0.9, label=f"$t_-$ = {tn:g}")
            for p in range(n_patterns):
                bits = "".join(str(int(x)) for x in h.patterns[p])
                labels = " ".join(str(int(y)) for y in h.labels[p])
                ax.plot(
                    epochs,
                    f[:, p, m],
                    color=palette[p],
                    lw=1.1,
                    marker="o",
                    ms=1.6,
                    label=f"{bits} \u2192 {labels}",
                )
            _mark_convergence(ax, h, b)
            ax.set_ylim(-1.05, 1.05)
            ax.set_title(f"neuron {m + 1}", fontsize=7.5, fontweight="normal")
            ax.set_xlabel("epoch")
            if m == 0:
                ax.set_ylabel(r"activation $f = \tanh(\beta I)$")
        axes[0, -1].legend(
            loc="center left",
            bbox_to_anchor=(1.02, 0.5),
            frameon=False,
            title="pattern \u2192 labels",
            # the letters task has 21 training patterns: two narrow columns keep the panels wide
            ncol=1 if n_patterns <= 10 else 2,
            fontsize=None if n_patterns <= 10 else 5.5,
        )
        fig.suptitle(_title(h, b, "Activations of the training patterns"))
    return fig


def plot_error(h: History, b: int = 0) -> Figure:
    """The epoch error (sum of the misses of failed patterns, dimensionless) per epoch."""
    epochs, _ = _span(h, b)
    err = h.error[b, : epochs.size]
    with style():
        fig, ax = new_figure(PAGE_WIDTH / 2, 2.4)
        ax.plot(epochs, err, color="0.15", lw=1.2, marker="o", ms=2.5)
        _mark_convergence(ax, h, b)
        ax.set_xlabel("epoch")
        ax.set_ylabel("error (sum of target misses)")
        ax.set_ylim(bottom=0)
        ax.set_title(_title(h, b, "Training error", sep="\n"), fontsize=7.5)
    return fig


def plot_final_conductances(h: History, b: int = 0) -> Figure:
    """Final conductance of every device as 3-D bars (row x column, height in µS)."""
    g = h.final_conductances[b] * _MICRO
    rows, cols = g.shape
    with style():
        fig = Figure(figsize=(PAGE_WIDTH / 2, 3.4))
        # the title takes the top 0.45 inch; the 3-D box sits below it
        ax = fig.add_axes((0.0, 0.02, 0.92, 1 - 0.5 / 3.4), projection="3d")
        ax.set_box_aspect(None, zoom=0.88)
        # Matplotlib's depth sort of 3-D polygons misorders neighbouring bars; drawing them
        # one by one from the back (high row, low column at this view angle) does not.
        ax.computed_zorder = False
        for r in reversed(range(rows)):
            for c in range(cols):
                ax.bar3d(
                    c - 0.25,
                    r - 0.25,
                    0.0,
                    0.5,
                    0.5,
                    g[r, c],
                    color=_PLUS if c % 2 == 0 else _MINUS,
                    shade=True,
                    edgecolor="0.3",
                    linewidth=0.3,
                )
        ax.set_xticks(range(cols), [_column_name(i) for i in range(cols)])
        ax.set_yticks(range(rows), [str(i + 1) for i in range(rows)])
        ax.set_xlabel("column")
        ax.set_ylabel("row")
        ax.set_zlabel("G (µS)")
        ax.view_init(elev=25, azim=-60)
        _, outcome = _span(h, b)
        # two lines, a fixed 0.08 inch below the top: the outcome would not fit on one
        fig.suptitle(
            f"Final conductances, crossbar {int(h.crossbar[b])}\n({outcome})",
            y=1 - 0.08 / fig.get_figheight(),
            va="top",
            fontsize=7.5,
            fontweight="bold",
        )
    return fig


_FIGURES = {
    "conductances": plot_conductances,
    "weights": plot_weights,
    "activations": plot_activations,
    "error": plot_error,
    "final_conductances": plot_final_conductances,
}


def crossbar_figures(out_dir, history: History) -> dict[str, Path]:
    """Write the five figures of every crossbar in `history` under ``out_dir/figures``.

    Returns:
        ``{"crossbar_<i>_<figure>": path}`` with figure in conductances, weights, activations,
        error, final_conductances and i the crossbar's index in its run.
    """
    fig_dir = Path(out_dir) / "figures"
    out = {}
    for b, i in enumerate(np.asarray(history.crossbar)):
        for name, plot in _FIGURES.items():
            key = f"crossbar_{int(i)}_{name}"
            out[key] = save_figure(plot(history, b), figure_file(fig_dir, key))
    return out
