"""Collecting the jobs of a sweep into one tidy table.

`aggregate` finds every complete job under a multirun folder (a ``summary.json``, which the app
writes last) and returns one row per job: the job's parameters as dotted columns
(``training.beta``, ``device.k``, ...) followed by its statistics. The parameters that differ
between jobs, the swept ones, come first and are listed in ``df.attrs["swept"]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from crossbar_jax.outputs import SUMMARY, read_json, write_csv, write_parquet
from crossbar_jax.study import flatten

__all__ = ["STAT_COLUMNS", "aggregate", "summary_row", "write_sweep"]

SWEEP = "sweep"  # sweep.parquet and sweep.csv

# Statistics columns, in this order, after the parameter columns.
STAT_COLUMNS = (
    "n_crossbars",
    "converged",
    "convergence_rate",
    "pi1",
    "pi2",
    "ci_low",
    "ci_high",
    "km_median_epoch",
    "epoch_p10",
    "epoch_p50",
    "epoch_p90",
    "mean_test_accuracy",
    "test_accuracy_std",
    "compile_s",
    "train_s",
    "trainings_per_s",
)
_INTEGER_STATS = ("km_median_epoch", "epoch_p10", "epoch_p50", "epoch_p90")


def summary_row(summary: dict) -> dict:
    """One job's summary as a flat row: ``params.*`` dotted, then the statistics."""
    row = {}
    for key, value in flatten(summary.get("params", {})).items():
        # Lists (the dataset's patterns) become JSON text, one cell each.
        row[key] = json.dumps(value) if isinstance(value, (list, dict)) else value
    low, high = summary.get("convergence_rate_ci95") or (None, None)
    q = summary.get("epoch_quantiles") or {}
    timing = summary.get("timing") or {}
    row.update(
        n_crossbars=summary.get("n_crossbars"),
        converged=summary.get("converged"),
        convergence_rate=summary.get("convergence_rate"),
        pi1=(summary.get("dimensionless") or {}).get("pi1"),
        pi2=(summary.get("dimensionless") or {}).get("pi2"),
        ci_low=low,
        ci_high=high,
        km_median_epoch=summary.get("km_median_epoch"),
        epoch_p10=q.get("p10"),
        epoch_p50=q.get("p50"),
        epoch_p90=q.get("p90"),
        mean_test_accuracy=summary.get("mean_test_accuracy"),
        test_accuracy_std=summary.get("test_accuracy_std"),
        compile_s=timing.get("compile_s"),
        train_s=timing.get("train_s"),
        trainings_per_s=timing.get("trainings_per_s"),
        config_hash=summary.get("config_hash"),
    )
    return row


def _job_num(summary: dict) -> float:
    num = (summary.get("job") or {}).get("num")
    return float(num) if isinstance(num, int) else float("inf")


def aggregate(multirun_dir) -> pd.DataFrame:
    """One row per complete job found (recursively) under `multirun_dir`.

    Columns: ``job`` (the job's folder relative to `multirun_dir`), the swept parameters, the
    statistics (`STAT_COLUMNS`), ``config_hash``, then the parameters every job shares. Rows
    follow Hydra's job numbers (folder names for jobs without one).

    Raises:
        FileNotFoundError: `multirun_dir` is not a folder or holds no complete job.
    """
    root = Path(multirun_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    found = []
    for path in sorted(root.rglob(SUMMARY)):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # .superseded/, .submitit/, .hydra/: not jobs of this sweep
        summary = read_json(path)
        if summary is None or "params" not in summary:
            continue  # not one of the app's summaries
        rel = path.parent.relative_to(root).as_posix()
        found.append((_job_num(summary), rel, summary_row(summary)))
    if not found:
        raise FileNotFoundError(f"{root}: no {SUMMARY} of a complete job found below it")
    found.sort(key=lambda item: (item[0], item[1]))
    df = pd.DataFrame([{"job": rel, **row} for _, rel, row in found])

    params = [c for c in df.columns if c not in STAT_COLUMNS and c not in ("job", "config_hash")]
    swept = [c for c in params if df[c].astype(str).nunique(dropna=False) > 1]
    fixed = [c for c in params if c not in swept]
    df = df[["job", *swept, *STAT_COLUMNS, "config_hash", *fixed]]
    for c in _INTEGER_STATS:
        df[c] = df[c].astype("Int64")  # nullable: None where no crossbar converged
    df.attrs["swept"] = swept
    return df


def write_sweep(df: pd.DataFrame, multirun_dir) -> tuple[Path, Path]:
    """Write `df` as ``sweep.parquet`` and ``sweep.csv`` in `multirun_dir` (atomically)."""
    root = Path(multirun_dir)
    return (
        write_parquet(root / f"{SWEEP}.parquet", df),
        write_csv(root / f"{SWEEP}.csv", df),
    )
