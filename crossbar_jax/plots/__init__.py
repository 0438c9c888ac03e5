"""Figures of Monte Carlo runs, sweeps and single crossbars (PNG, matplotlib/seaborn, headless).

* `runs`: epochs-to-convergence histogram, Kaplan-Meier curve, test-accuracy distribution.
* `sweeps`: convergence-rate heatmap, rate against beta*K, epoch quantiles against a parameter.
* `crossbars`: per-epoch trajectories of single crossbars from a `History`.

Every ``plot_*`` returns a `matplotlib.figure.Figure` (no pyplot state); the ``*_figures``
functions write PNGs under ``<out_dir>/figures`` and return ``{name: path}``.
"""

from crossbar_jax.plots.style import COLUMN_WIDTH, DPI, PAGE_WIDTH, param_label, save_figure

# The figure functions are imported on first use: `crossbar_jax.plots.runs` and `.crossbars`
# need matplotlib only, `.sweeps` also seaborn, which the main job does not load.
_LAZY = {
    "crossbar_figures": "crossbars",
    "plot_activations": "crossbars",
    "plot_conductances": "crossbars",
    "plot_error": "crossbars",
    "plot_final_conductances": "crossbars",
    "plot_weights": "crossbars",
    "plot_epoch_histogram": "runs",
    "plot_kaplan_meier": "runs",
    "plot_test_accuracy": "runs",
    "run_figures": "runs",
    "plot_epoch_quantiles": "sweeps",
    "plot_rate_heatmap": "sweeps",
    "plot_rate_line": "sweeps",
    "plot_rate_vs_beta_k": "sweeps",
    "sweep_figures": "sweeps",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"crossbar_jax.plots.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'crossbar_jax.plots' has no attribute {name!r}")


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
