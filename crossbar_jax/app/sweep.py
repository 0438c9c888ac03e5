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

from crossbar_jax.app.jobs import NOT_HASHED, check_results, flatten
from crossbar_jax.app.outputs import RESULTS, SUMMARY, write_csv, write_parquet

__all__ = [
    "BadJobsError",
    "MixedSweepError",
    "STAT_COLUMNS",
    "aggregate",
    "find_bad_jobs",
    "summary_row",
    "write_sweep",
]

SWEEP_FILE = "multirun.yaml"  # Hydra's file in a sweep's folder: a nested sweep is another one


class BadJobsError(RuntimeError):
    """A sweep with job folders that are incomplete or corrupt; the message names each one."""


class MixedSweepError(ValueError):
    """Jobs under one folder differ in a setting that none of their overrides changes."""


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


def _override_keys(summary: dict, rel: str) -> set[str]:
    """The config keys a job's overrides set: from its summary's ``job`` (a grid point's own
    and its grid job's), else parsed from its folder name (``device.k=10,training.beta=2e7``)."""
    job = summary.get("job") or {}
    texts = list(job.get("overrides") or [])
    grid_job = job.get("grid_job") or {}
    texts += list(grid_job.get("overrides") or [])
    if not job:
        texts = [t for part in rel.split("/") for t in part.split(",")]
    return {t.split("=", 1)[0].lstrip("+~") for t in texts if "=" in t}


def _explains(key: str, column: str) -> bool:
    """Whether an override of `key` may change parameter `column`: the key itself or below it
    (device.shift -> device.shift.low), a file and what is derived from it (device.curve ->
    device.curve_sha256), a config group (dataset=letters, nonideality=c2c) or a named
    study (experiment=...), which may set anything."""
    if key in ("experiment", "nonideality") or "." not in key and column.split(".")[0] == key:
        return True
    return column == key or column.startswith((key + ".", key + "_"))


def _check_not_mixed(root: Path, found: list) -> None:
    """Refuse jobs whose settings differ where no override of theirs explains it, e.g. a
    sweep at mc.n_crossbars=5000 beside one at 100000 in the same folder."""
    if len(found) < 2:
        return
    frame = pd.DataFrame([row for _, _, row, _ in found])
    problems = []
    for column in frame.columns:
        if column in STAT_COLUMNS or column == "config_hash" or column in NOT_HASHED:
            continue
        values = frame[column].astype(str)
        if values.nunique(dropna=False) < 2:
            continue
        unexplained = [
            rel for (_, rel, _, keys) in found if not any(_explains(key, column) for key in keys)
        ]
        if not unexplained:
            continue
        groups = []
        for value, idx in frame.groupby(values, sort=True).groups.items():
            jobs = [found[i][1] for i in idx]
            groups.append(f"{value} in {len(jobs)} job(s), e.g. {jobs[0]}")
        problems.append(
            f"{column} differs ({'; '.join(groups)}) but {len(unexplained)} job(s) do not set "
            f"it in their overrides (e.g. {unexplained[0]})"
        )
    if problems:
        raise MixedSweepError(
            f"{root}: these jobs are not one sweep: {'; and '.join(problems[:3])}"
            + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
            + ". Aggregate each sweep's own folder, or move one sweep's jobs out"
        )


def _job_num(summary: dict) -> float:
    num = (summary.get("job") or {}).get("num")
    return float(num) if isinstance(num, int) else float("inf")


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def find_bad_jobs(multirun_dir) -> list[tuple[str, str]]:
    """Job folders below `multirun_dir` that hold no intact job: ``[(folder, why)]``.

    A job folder is one holding a summary.json, a results.parquet or Hydra's ``.hydra/``
    record. It is bad when its summary is unreadable, not an object of this app, or does not
    match its results file (`crossbar_jax.app.study.check_results`), or when it has no summary
    at all (the job failed, was stopped or is still running). Hidden folders (``.superseded/``,
    ``.submitit/``) are not jobs; a folder whose jobs lie below it (an in-process grid's
    folder) is not one either.
    """
    root = Path(multirun_dir)
    folders = set()
    for marker in (SUMMARY, RESULTS, ".hydra"):
        for path in root.rglob(marker):
            if not _hidden(path.parent.relative_to(root)):
                folders.add(path.parent)
    bad = []
    for folder in sorted(folders):
        summary, why = check_results(folder)
        if summary is not None:
            try:
                summary_row(summary)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                why = f"{SUMMARY} has unexpected content ({type(exc).__name__}: {exc})"
            else:
                continue
        if why is None:
            inner = [
                p for p in folder.rglob(SUMMARY)
                if p.parent != folder and not _hidden(p.parent.relative_to(folder))
            ]  # fmt: skip
            if inner or (folder / f"{SWEEP}.parquet").exists():
                continue  # a grid's folder: its points are the jobs
            why = f"no {SUMMARY} (the job failed, was stopped, or is still running)"
        rel = folder.relative_to(root).as_posix() if folder != root else "."
        bad.append((rel, why))
    return bad


def aggregate(multirun_dir, *, skip_bad: bool = False) -> pd.DataFrame:
    """One row per complete job found (recursively) under `multirun_dir`.

    Columns: ``job`` (the job's folder relative to `multirun_dir`), the swept parameters, the
    statistics (`STAT_COLUMNS`), ``config_hash``, then the parameters every job shares. Rows
    follow Hydra's job numbers (folder names for jobs without one).

    Jobs of another sweep nested below `multirun_dir` (a folder with its own multirun.yaml)
    are not collected. Job folders that are incomplete or corrupt (`find_bad_jobs`) make it
    fail, naming each, unless `skip_bad`; then they are left out and listed in
    ``df.attrs["bad_jobs"]``.

    Raises:
        FileNotFoundError: `multirun_dir` is not a folder or holds no complete job.
        BadJobsError: a job folder is incomplete or corrupt (and not `skip_bad`).
        MixedSweepError: jobs differ in a setting (mc.n_crossbars, the curve, the dataset,
            mc.precision, ...) that none of their overrides changes; the message names it.
    """
    root = Path(multirun_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    bad = [(rel, why) for rel, why in find_bad_jobs(root) if not _nested(root, rel)]
    if bad and not skip_bad:
        listed = "; ".join(f"{rel}: {why}" for rel, why in bad)
        raise BadJobsError(
            f"{root}: {len(bad)} job folder(s) incomplete or corrupt: {listed}. Rerun the "
            "sweep's command to redo them (complete jobs are skipped), or aggregate the "
            "complete jobs only with --skip-bad"
        )
    skipped = {rel for rel, _ in bad}
    found = []
    for path in sorted(root.rglob(SUMMARY)):
        if _hidden(path.relative_to(root)):
            continue  # .superseded/, .submitit/, .hydra/: not jobs of this sweep
        rel = path.parent.relative_to(root).as_posix()
        if _nested(root, rel):
            continue  # a job of another sweep, in a folder of its own below this one
        if rel in skipped or (path.parent == root and "." in skipped):
            continue
        summary, _ = check_results(path.parent)
        if summary is None:
            continue
        found.append((_job_num(summary), rel, summary_row(summary), _override_keys(summary, rel)))
    if not found:
        raise FileNotFoundError(f"{root}: no {SUMMARY} of a complete job found below it")
    found.sort(key=lambda item: (item[0], item[1]))
    _check_not_mixed(root, found)
    df = pd.DataFrame([{"job": rel, **row} for _, rel, row, _ in found])

    params = [c for c in df.columns if c not in STAT_COLUMNS and c not in ("job", "config_hash")]
    swept = [c for c in params if df[c].astype(str).nunique(dropna=False) > 1]
    fixed = [c for c in params if c not in swept]
    df = df[["job", *swept, *STAT_COLUMNS, "config_hash", *fixed]]
    for c in _INTEGER_STATS:
        df[c] = df[c].astype("Int64")  # nullable: None where no crossbar converged
    df.attrs["swept"] = swept
    df.attrs["bad_jobs"] = [f"{rel}: {why}" for rel, why in bad]
    return df


def _nested(root: Path, rel: str) -> bool:
    """Whether job folder `rel` lies in another sweep's folder below `root`."""
    parts = Path(rel).parts if rel != "." else ()
    return any((root.joinpath(*parts[:i]) / SWEEP_FILE).is_file() for i in range(1, len(parts)))


def write_sweep(df: pd.DataFrame, multirun_dir) -> tuple[Path, Path]:
    """Write `df` as ``sweep.parquet`` and ``sweep.csv`` in `multirun_dir` (atomically)."""
    root = Path(multirun_dir)
    return (
        write_parquet(root / f"{SWEEP}.parquet", df),
        write_csv(root / f"{SWEEP}.csv", df),
    )
