"""report.md beside the figures: parameters, statistics with intervals, and the figures.

`make_run_outputs` and `make_sweep_outputs` are what the app calls after a run or a sweep:
they draw every figure into ``figures/`` and write ``report.md`` next to it. Files are written
atomically (a temporary file, then `os.replace`), so an interrupted job never leaves half a
report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from crossbar_jax.app.jobs import flatten

__all__ = ["write_run_report", "write_sweep_report", "make_run_outputs", "make_sweep_outputs"]

_RUN_FIGURES = {
    "epoch_histogram": "Epochs to convergence of the converged crossbars",
    "kaplan_meier": "Kaplan-Meier estimate of the time to convergence",
    "test_accuracy": "Test accuracy on the held-out patterns",
}
_CROSSBAR_FIGURES = {
    "conductances": "conductance of every device per epoch",
    "weights": "synaptic weights G+ - G- per epoch",
    "activations": "activations of the training patterns per epoch",
    "error": "training error per epoch",
    "final_conductances": "final conductances",
}
_DEFINITIONS = (
    "Convergence rate: fraction of crossbars whose training set was classified within E "
    "epochs, with a 95% Wilson score interval. Epoch quantiles (p10/p50/p90) describe the "
    "converged crossbars only. The Kaplan-Meier median counts the others too (right-censored "
    "at E); it is beyond E when at most half converged. Test accuracy: fraction of the held-out "
    "patterns a trained crossbar classifies with every neuron right (undecided counts as wrong)."
)


def write_text_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _fmt(value, limit: int = 80) -> str:
    """A table cell: numbers to 4 significant digits, missing values as "-", long text cut."""
    if value is None or (np.isscalar(value) and pd.isna(value)):
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _params_of(summary: Mapping, params: Mapping | None) -> dict:
    if params is None:
        for key in ("params", "parameters", "config"):
            if isinstance(summary.get(key), Mapping):
                params = summary[key]
                break
    return flatten(params or {})


def _ci(summary: Mapping) -> tuple[str, list | None]:
    for key, value in summary.items():
        if str(key).startswith("convergence_rate_ci"):
            return str(key)[len("convergence_rate_ci") :], value
    return "", None


def _rel(path, out_dir: Path) -> str:
    return Path(os.path.relpath(Path(path), out_dir)).as_posix()


FEW_CONVERGED = 10  # quantiles of fewer converged crossbars are flagged as noise


def _quantile_text(q: Mapping | None, converged) -> str:
    if not q:
        return "none converged"
    text = " / ".join(_fmt(q.get(k)) for k in ("p10", "p50", "p90"))
    if isinstance(converged, (int, np.integer)) and converged < FEW_CONVERGED:
        text += f" (only {int(converged)} converged: too few to trust)"
    return text


def few_converged_note(summary: dict) -> str | None:
    """What to try when fewer than `FEW_CONVERGED` crossbars converged (None otherwise)."""
    k = summary.get("converged") or 0
    if k >= FEW_CONVERGED or "n_crossbars" not in summary:
        return None
    beta = ((summary.get("params") or {}).get("training") or {}).get("beta")
    groups = summary.get("dimensionless") or {}
    pi1 = groups.get("pi1")
    drive = f" (pi1 = {pi1:.3g}; the rate rises sharply above about 0.4-1.1)" if pi1 else ""
    return (
        f"only {k} of {summary['n_crossbars']} crossbars converged: the epoch quantiles and "
        f"the Kaplan-Meier curve rest on {k} crossbar(s) and say little. To get an informative "
        f"run, raise the drive{drive}, e.g. "
        + (f"training.beta={beta * 10:g} (now {beta:g})" if beta else "a larger training.beta")
        + " or a larger device.k, or relax the targets (training.positive_target=0.5 "
        "training.negative_target=-0.5), or give per-device curve noise "
        "(device.curve_noise.std=fitted); more crossbars (mc.n_crossbars) narrow the interval"
    )


def _statistics_rows(summary: Mapping) -> list[list]:
    level, ci = _ci(summary)
    rate = summary.get("convergence_rate")
    rate_text = _fmt(rate)
    if ci is not None and rate is not None:
        rate_text = f"{rate:.4g} ({level}% Wilson CI {ci[0]:.4g} to {ci[1]:.4g})"
    q = summary.get("epoch_quantiles") or {}
    km = summary.get("km_median_epoch")
    acc = summary.get("mean_test_accuracy")
    std = summary.get("test_accuracy_std")
    rows = [
        ["crossbars", summary.get("n_crossbars")],
        ["converged", summary.get("converged")],
        ["convergence rate", rate_text],
        [
            "epoch of convergence, converged only (p10 / p50 / p90)",
            _quantile_text(q, summary.get("converged")),
        ],
        ["Kaplan-Meier median epoch", "beyond E (at most half converged)" if km is None else km],
        [
            "mean test accuracy",
            "-" if acc is None else f"{acc:.4g}" + (f" (std {std:.3g})" if std is not None else ""),
        ],
    ]
    groups = summary.get("dimensionless")
    if isinstance(groups, Mapping):
        rows += [[f"dimensionless {k}", _fmt(v)] for k, v in groups.items()]
    counts = summary.get("test_accuracy_counts")
    if counts:
        rows.append(
            [
                "test accuracy: crossbars per value",
                ", ".join(f"{k}: {v}" for k, v in counts.items()),
            ]
        )
    known = {
        "n_crossbars",
        "converged",
        "convergence_rate",
        "epoch_quantiles",
        "km_median_epoch",
        "mean_test_accuracy",
        "test_accuracy_std",
        "test_accuracy_counts",
        "params",
        "parameters",
        "config",
    }
    for key, value in summary.items():
        if key in known or str(key).startswith("convergence_rate_ci"):
            continue
        if key in ("timing", "versions") and isinstance(value, Mapping):
            rows += [[f"{key}.{k}", v] for k, v in flatten(value).items()]
        elif value is None or np.isscalar(value):
            rows.append([key, value])
    return rows


def write_run_report(
    out_dir,
    summary: Mapping,
    figures: Mapping[str, Path],
    *,
    params: Mapping | None = None,
    title: str | None = None,
) -> Path:
    """Write ``out_dir/report.md`` for one Monte Carlo run.

    Args:
        out_dir: the run's output directory.
        summary: `stats.summarize` output (as in summary.json); may carry the run's parameters
            under "params", "parameters" or "config"; other scalar entries are listed too.
        figures: ``{name: path}`` as returned by `run_figures` / `crossbar_figures`; embedded
            with paths relative to `out_dir`.
        params: the run's parameters (nested mappings are flattened to dotted keys).
        title: first heading; default "Monte Carlo run: <directory name>".

    Returns:
        The path of report.md.
    """
    out = Path(out_dir)
    parts = [f"# {title or f'Monte Carlo run: {out.resolve().name}'}", ""]
    p = _params_of(summary, params)
    if p:
        parts += [
            "## Parameters",
            "",
            markdown_table(["parameter", "value"], [[k, v] for k, v in p.items()]),
            "",
        ]
    parts += [
        "## Statistics",
        "",
        markdown_table(["statistic", "value"], _statistics_rows(summary)),
        "",
        _DEFINITIONS,
        "",
    ]
    note = few_converged_note(summary) if "params" in summary else None
    if note:
        parts += [f"**Few converged.** {note[0].upper()}{note[1:]}.", ""]
    parts += [
        "## Figures",
        "",
    ]
    for name, caption in _RUN_FIGURES.items():
        if name in figures:
            parts += [f"![{caption}]({_rel(figures[name], out)})", "", f"*{caption}.*", ""]
    crossbars = sorted({n.split("_")[1] for n in figures if n.startswith("crossbar_")}, key=int)
    if crossbars:
        parts += [
            "## Single crossbars",
            "",
            "Epoch e shows the state the epoch is evaluated with, before its update.",
            "",
        ]
    for i in crossbars:
        parts += [f"### Crossbar {i}", ""]
        for name, caption in _CROSSBAR_FIGURES.items():
            key = f"crossbar_{i}_{name}"
            if key in figures:
                parts += [f"![Crossbar {i}: {caption}]({_rel(figures[key], out)})", ""]
    others = [n for n in figures if n not in _RUN_FIGURES and not n.startswith("crossbar_")]
    for name in others:
        parts += [f"![{name}]({_rel(figures[name], out)})", ""]
    return write_text_atomic(out / "report.md", "\n".join(parts))


# Columns of the app's sweep table that are neither parameters nor shown statistics.
_NOT_PARAMS = {
    "job",
    "config_hash",
    "converged",
    "test_accuracy_std",
    "compile_s",
    "train_s",
    "trainings_per_s",
    "total_s",
    "experiment_name",
}

_SWEEP_STATS = [
    ("n_crossbars", "crossbars"),
    ("convergence_rate", "rate"),
    ("ci_low", "CI low"),
    ("ci_high", "CI high"),
    ("epoch_p10", "p10"),
    ("epoch_p50", "p50"),
    ("epoch_p90", "p90"),
    ("km_median_epoch", "KM median"),
    ("mean_test_accuracy", "mean test acc."),
]


def write_sweep_report(
    out_dir,
    sweep_df: pd.DataFrame,
    figures: Mapping[str, Path],
    *,
    swept: list[str] | None = None,
    title: str | None = None,
) -> Path:
    """Write ``out_dir/report.md`` for a sweep: swept values, one table row per point, figures.

    Args:
        out_dir: the sweep's (multirun) directory.
        sweep_df: one row per parameter point (see `crossbar_jax.plots.sweeps`).
        figures: ``{name: path}`` from `sweep_figures`.
        swept: the swept columns (default: every non-statistic column that varies).
        title: first heading; default "Parameter sweep: <directory name>".

    Returns:
        The path of report.md.
    """
    out = Path(out_dir)
    stat_cols = [c for c, _ in _SWEEP_STATS if c in sweep_df.columns]
    skip = set(stat_cols) | _NOT_PARAMS
    if swept is None:
        swept = [
            c
            for c in sweep_df.columns
            if c not in skip and sweep_df[c].astype(str).nunique(dropna=False) > 1
        ]
    swept = [c for c in swept if c in sweep_df.columns]
    parts = [
        f"# {title or f'Parameter sweep: {out.resolve().name}'}",
        "",
        f"{len(sweep_df)} parameter points.",
        "",
        "## Swept parameters",
        "",
        markdown_table(
            ["parameter", "values"],
            [[c, ", ".join(_fmt(v) for v in sorted(sweep_df[c].dropna().unique()))] for c in swept],
        ),
        "",
    ]
    fixed = [
        c
        for c in sweep_df.columns
        if c not in skip and c not in swept and sweep_df[c].astype(str).nunique(dropna=False) == 1
    ]
    # columns that vary without being listed as swept (e.g. t- swept together with t+)
    linked = [c for c in sweep_df.columns if c not in skip and c not in swept and c not in fixed]
    if fixed:
        parts += [
            "## Fixed parameters",
            "",
            markdown_table(["parameter", "value"], [[c, sweep_df[c].iloc[0]] for c in fixed]),
            "",
        ]
    d = sweep_df.sort_values(swept) if swept else sweep_df
    names = dict(_SWEEP_STATS)
    shown = swept + linked
    parts += [
        "## Statistics per point",
        "",
        markdown_table(
            shown + [names[c] for c in stat_cols],
            d[shown + stat_cols].astype(object).to_numpy().tolist(),
        ),
        "",
        _DEFINITIONS.replace("95% Wilson", "95% Wilson (CI low / CI high)")
        + " A dash: no converged crossbar (quantiles) or a KM median beyond E.",
        "",
        "## Figures",
        "",
    ]
    for name, path in figures.items():
        parts += [f"![{name.replace('_', ' ')}]({_rel(path, out)})", ""]
    return write_text_atomic(out / "report.md", "\n".join(parts))


def make_run_outputs(
    out_dir,
    results_df: pd.DataFrame,
    summary: Mapping,
    *,
    history=None,
    params: Mapping | None = None,
    epochs: int | None = None,
) -> dict[str, Path]:
    """Figures under ``out_dir/figures`` and ``out_dir/report.md`` for one run.

    Args:
        out_dir: the run's output directory.
        results_df: per-crossbar table (``crossbar, converged, epoch, final_error,
            test_accuracy``), as in results.parquet.
        summary: `stats.summarize` of the same results (summary.json).
        history: optional `History` of a few crossbars (`record_run_history`); adds their
            trajectory figures.
        params: the run's parameters for the report.
        epochs: E; default from `params` (a key ending in "epochs") or the largest epoch.

    Returns:
        ``{name: path}`` of every figure, plus ``"report"``.
    """
    from crossbar_jax.plots.crossbars import crossbar_figures
    from crossbar_jax.plots.runs import run_figures

    if epochs is None:
        flat = _params_of(summary, params)
        found = [v for k, v in flat.items() if str(k).split(".")[-1] == "epochs"]
        epochs = int(found[0]) if found else None
    figures = run_figures(out_dir, results_df, epochs=epochs)
    if history is not None:
        figures.update(crossbar_figures(out_dir, history))
    figures["report"] = write_run_report(out_dir, summary, figures, params=params)
    return figures


def make_sweep_outputs(
    multirun_dir,
    sweep_df: pd.DataFrame,
    swept: list[str],
    *,
    heatmap: tuple[str, str] | None = None,
) -> dict[str, Path]:
    """Figures under ``multirun_dir/figures`` and ``multirun_dir/report.md`` for a sweep.

    Args:
        multirun_dir: the sweep's directory.
        sweep_df: one row per parameter point (sweep.parquet).
        swept: the swept parameter columns, most important first (the heatmap's default axes
            are the first two that vary).
        heatmap: the heatmap's (x, y) columns.

    Returns:
        ``{name: path}`` of every figure, plus ``"report"``.
    """
    from crossbar_jax.plots.sweeps import sweep_figures

    figures = sweep_figures(multirun_dir, sweep_df, swept, heatmap=heatmap)
    figures["report"] = write_sweep_report(multirun_dir, sweep_df, figures, swept=swept)
    return figures
