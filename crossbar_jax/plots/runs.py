"""Figures of one Monte Carlo run: when crossbars converge, and how well they generalise.

Input is the run's tidy per-crossbar table (columns ``converged``, ``epoch``,
``test_accuracy``; one row per crossbar), as written to results.parquet. The statistics are
those of `crossbar_jax.stats`, so the figures agree with summary.json.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from crossbar_jax import stats
from crossbar_jax.plots.style import (
    COLUMN_WIDTH,
    figure_file,
    new_figure,
    no_data,
    save_figure,
    style,
)

__all__ = [
    "plot_epoch_histogram",
    "plot_kaplan_meier",
    "plot_test_accuracy",
    "run_figures",
    "infer_epochs",
]

_CONVERGED = "#2a7ab0"
_FAILED = "#c8553d"
FEW_CONVERGED = 10  # below this, epoch quantiles are noise and are not drawn


def _columns(results: pd.DataFrame, *names: str) -> list[np.ndarray]:
    missing = [n for n in names if n not in results.columns]
    if missing:
        raise ValueError(f"results: missing column(s) {missing}; have {list(results.columns)}")
    if len(results) == 0:
        raise ValueError("results: no crossbars (empty table)")
    return [results[n].to_numpy() for n in names]


def infer_epochs(results: pd.DataFrame, epochs: int | None = None) -> int:
    """E, the epochs a run allowed: `epochs` if given, else the largest epoch in the table.

    A crossbar that did not converge reports epoch E, so the maximum is E whenever one failed;
    when all converged it is the latest convergence, which is as far as the data go.
    """
    if epochs is not None:
        return int(epochs)
    (epoch,) = _columns(results, "epoch")
    return int(np.max(epoch))


def _rate_text(converged: np.ndarray) -> str:
    k, n = int(converged.sum()), int(converged.size)
    low, high = stats.wilson_interval(k, n)
    return f"converged {k:,} / {n:,} = {k / n:.3g}\n95% Wilson CI [{low:.3g}, {high:.3g}]"


def plot_epoch_histogram(results: pd.DataFrame, *, epochs: int | None = None) -> Figure:
    """Histogram of the epoch at which each converged crossbar converged (1-based).

    Crossbars that never converged are not in the bars (their count is in the annotation);
    epoch 1 means the untrained crossbar already classified the training set.
    """
    converged, epoch = _columns(results, "converged", "epoch")
    converged = converged.astype(bool)
    E = infer_epochs(results, epochs)
    with style():
        fig, ax = new_figure(COLUMN_WIDTH, 2.5)
        ax.set_title("Epochs to convergence")
        ax.set_xlabel("epoch of convergence")
        ax.set_ylabel("converged crossbars")
        ax.set_xlim(0.3, E + 0.7)
        if not converged.any():
            no_data(ax, f"No crossbar converged within {E} epochs\n(0 of {converged.size:,})")
            ax.set_yticks([])
            return fig
        values, counts = np.unique(epoch[converged], return_counts=True)
        ax.bar(values, counts, width=0.85, color=_CONVERGED, edgecolor="none")
        if counts.max() / counts.min() > 50:
            ax.set_yscale("log")
            ax.set_ylabel("converged crossbars (log scale)")
        else:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        n_conv = int(converged.sum())
        if n_conv >= FEW_CONVERGED:
            q = stats.epoch_quantiles(epoch, converged)
            ax.axvline(
                q["p50"],
                color="0.2",
                ls="--",
                lw=0.8,
                label=f"median of converged: {q['p50']} (p10 {q['p10']}, p90 {q['p90']})",
            )
            ax.legend(loc="upper center", frameon=False)
        else:
            ax.text(
                0.5,
                0.97,
                f"only {n_conv} crossbar{'s' if n_conv > 1 else ''} converged: "
                "too few for quantiles",
                transform=ax.transAxes,
                ha="center",
                va="top",
                fontsize=6.5,
                color="0.25",
            )
        ax.text(
            0.98,
            0.80,
            _rate_text(converged),
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=6.5,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"},
        )
        ax.margins(y=0.25)
    return fig


def plot_kaplan_meier(
    results: pd.DataFrame, *, epochs: int | None = None, confidence: float = 0.95
) -> Figure:
    """Kaplan-Meier S(t) = P(not converged by epoch t), its pointwise band and the median.

    Crossbars that never converged are censored at E (they count as still training), so S(t)
    stays above 1 - (converged fraction) and the median exists only if more than half converge.
    """
    converged, epoch = _columns(results, "converged", "epoch")
    converged = converged.astype(bool)
    E = infer_epochs(results, epochs)
    km = stats.kaplan_meier(epoch, converged, epochs=E, confidence=confidence)
    median = stats.km_median(km)
    pct = f"{100 * confidence:g}%"
    with style():
        fig, ax = new_figure(COLUMN_WIDTH, 2.5)
        ax.set_title("Time to convergence (Kaplan-Meier)")
        ax.fill_between(
            km.t,
            km.lower,
            km.upper,
            step="post",
            color=_CONVERGED,
            alpha=0.25,
            lw=0,
            label=f"{pct} band (Greenwood, log-log)",
        )
        ax.step(
            km.t,
            km.survival,
            where="post",
            color=_CONVERGED,
            lw=1.3,
            label="S(t), non-converged censored at E",
        )
        ax.axhline(0.5, color="0.5", ls=":", lw=0.8)
        if median is not None:
            ax.axvline(median, color="0.2", ls="--", lw=0.8, label=f"median = {median} epochs")
        else:
            note = "no crossbar converged\n" if not converged.any() else ""
            ax.text(
                0.98,
                0.55,
                f"{note}S({E}) = {km.survival[-1]:.3g} > 0.5:\nmedian beyond {E} epochs",
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=6.5,
            )
        ax.set_xlim(0, E)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("epoch t")
        ax.set_ylabel("P(not converged by epoch t)")
        ax.legend(loc="best", frameon=False)
    return fig


def plot_test_accuracy(results: pd.DataFrame) -> Figure:
    """Crossbars per held-out test accuracy, stacked by training outcome, with the mean."""
    converged, acc = _columns(results, "converged", "test_accuracy")
    converged = converged.astype(bool)
    acc = np.round(acc.astype(float), 6)
    values = np.unique(acc)
    # bars no wider than for ten test patterns, so a few far-apart values stay readable
    width = 0.8 * min(np.min(np.diff(values)) if values.size > 1 else 0.1, 0.1)
    yes = np.array([np.sum((acc == v) & converged) for v in values])
    no = np.array([np.sum((acc == v) & ~converged) for v in values])
    mean = float(np.mean(acc))
    with style():
        fig, ax = new_figure(COLUMN_WIDTH, 2.5)
        ax.set_title("Test accuracy on held-out patterns")
        ax.bar(values, yes, width=width, color=_CONVERGED, label="converged")
        ax.bar(values, no, width=width, bottom=yes, color=_FAILED, label="not converged")
        ax.axvline(mean, color="0.2", ls="--", lw=0.8, label=f"mean = {mean:.3f}")
        ax.set_xlabel("test accuracy (fraction of test patterns correct)")
        ax.set_ylabel("crossbars")
        ax.set_xlim(min(0.0, values.min()) - width, max(1.0, values.max()) + width)
        ax.legend(loc="upper right", frameon=False)
        ax.set_ylim(0, 1.2 * float(np.max(yes + no)))
        n_conv, n = int(converged.sum()), int(converged.size)
        if n_conv < max(FEW_CONVERGED, 0.01 * n):
            # the converged bars would be invisible beside the others: say what they hold
            note = (
                "no crossbar converged"
                if n_conv == 0
                else f"only {n_conv:,} of {n:,} converged\n(too few to see); their mean\n"
                f"test accuracy: {float(np.mean(acc[converged])):.3f}"
            )
            ax.text(
                0.97,
                0.62,
                note,
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=6.5,
                bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"},
            )
    return fig


def run_figures(out_dir, results: pd.DataFrame, *, epochs: int | None = None) -> dict[str, Path]:
    """Write the run's figures as PNGs under ``out_dir/figures``.

    Returns:
        ``{"epoch_histogram": path, "kaplan_meier": path, "test_accuracy": path}``; the
        accuracy figure is left out when the table has no ``test_accuracy`` column.
    """
    fig_dir = Path(out_dir) / "figures"
    made = {
        "epoch_histogram": plot_epoch_histogram(results, epochs=epochs),
        "kaplan_meier": plot_kaplan_meier(results, epochs=epochs),
    }
    if "test_accuracy" in results.columns:
        made["test_accuracy"] = plot_test_accuracy(results)
    return {name: save_figure(fig, figure_file(fig_dir, name)) for name, fig in made.items()}
