"""Figures of Monte Carlo runs, sweeps and single crossbars (PNG, matplotlib/seaborn, headless).

* `runs`: epochs-to-convergence histogram, Kaplan-Meier curve, test-accuracy distribution.
* `sweeps`: convergence-rate heatmap, rate against beta*K, epoch quantiles against a parameter.
* `crossbars`: per-epoch trajectories of single crossbars from a `History`.

Every ``plot_*`` returns a `matplotlib.figure.Figure` (no pyplot state); the ``*_figures``
functions write PNGs under ``<out_dir>/figures`` and return ``{name: path}``.
"""

from crossbar_jax.plots._style import COLUMN_WIDTH, DPI, PAGE_WIDTH, param_label, save_figure
from crossbar_jax.plots.crossbars import (
    crossbar_figures,
    plot_activations,
    plot_conductances,
    plot_error,
    plot_final_conductances,
    plot_weights,
)
from crossbar_jax.plots.runs import (
    plot_epoch_histogram,
    plot_kaplan_meier,
    plot_test_accuracy,
    run_figures,
)
from crossbar_jax.plots.sweeps import (
    plot_epoch_quantiles,
    plot_rate_heatmap,
    plot_rate_line,
    plot_rate_vs_beta_k,
    sweep_figures,
)

__all__ = [
    "COLUMN_WIDTH",
    "DPI",
    "PAGE_WIDTH",
    "crossbar_figures",
    "param_label",
    "plot_activations",
    "plot_conductances",
    "plot_epoch_histogram",
    "plot_epoch_quantiles",
    "plot_error",
    "plot_final_conductances",
    "plot_kaplan_meier",
    "plot_rate_heatmap",
    "plot_rate_line",
    "plot_rate_vs_beta_k",
    "plot_test_accuracy",
    "plot_weights",
    "run_figures",
    "save_figure",
    "sweep_figures",
]
