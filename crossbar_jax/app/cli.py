"""The installed commands ``crossbar-jax`` (the study app) and ``crossbar-jax-aggregate``.

``crossbar-jax`` is ``experiments/convergence.py``: the same Hydra overrides, ``-m`` for a
sweep, outputs under the current folder. A bad input exits with one line naming the key, and
the job folder Hydra made for it is removed again when it holds nothing but Hydra's own files.
``crossbar-jax-fit`` is in `crossbar_jax.app.fit_app`.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from crossbar_jax.app.resources import ResourceError, conf_dir

__all__ = ["aggregate_main", "app", "objective", "task"]

log = logging.getLogger("crossbar_jax.app")

# What Hydra (and the app's folder lock) write into a job folder before the job starts; a folder
# holding only these (and the sweep file in a sweep folder) holds no result.
_HYDRA_FILES = {".hydra", "multirun.yaml", ".lock"}


def _hydra_only(folder: Path) -> bool:
    return folder.is_dir() and all(
        p.name in _HYDRA_FILES or (p.is_file() and p.suffix == ".log") for p in folder.iterdir()
    )


def discard_unused_job_dir(out_dir, top=None) -> list[Path]:
    """Remove a job folder that holds only Hydra's files, and its sweep folder if that holds
    nothing else then either, then the folders above that are left empty, up to `top` (the
    current folder by default, never removed); a folder with any other file is kept.

    Returns the folders removed, the job's first.
    """
    removed = []
    folder = Path(out_dir).resolve()
    if not _hydra_only(folder):
        return removed
    shutil.rmtree(folder)
    removed.append(folder)
    parent = folder.parent
    if (parent / "multirun.yaml").is_file() and _hydra_only(parent):
        shutil.rmtree(parent)
        removed.append(parent)
        parent = parent.parent
    top = Path(top or Path.cwd()).resolve()
    while parent != top and top in parent.parents and not any(parent.iterdir()):
        parent.rmdir()  # outputs/default/ that Hydra made for this job alone
        removed.append(parent)
        parent = parent.parent
    return removed


def _close_log_files(folder) -> None:
    root = logging.getLogger()
    inside = Path(folder).resolve()
    for handler in list(root.handlers):
        name = getattr(handler, "baseFilename", None)
        if name and inside in Path(name).resolve().parents:
            root.removeHandler(handler)
            handler.close()


def objective(summary: dict) -> float | None:
    """What a job returns to Hydra: its convergence rate (what hydra/sweeper=optuna
    maximises); None for an in-process grid, which has one rate per point."""
    rate = summary.get("convergence_rate")
    return None if rate is None else float(rate)


def task(cfg: DictConfig) -> float | None:
    """One job of the app in Hydra's output folder; returns its rate (`objective`).

    A bad input or an I/O error (unreadable curve, read-only folder, full disk, a folder
    locked by another run, results that are not finite) exits with status 1 and one line on
    stderr (`crossbar_jax.app.errors`); ``HYDRA_FULL_ERROR=1`` shows the traceback. A job refused
    by validation leaves no folder behind.
    """
    from hydra.core.hydra_config import HydraConfig

    from crossbar_jax.app.errors import exit_on_error
    from crossbar_jax.app.study import run_study

    hc = HydraConfig.get()
    job = {
        "num": OmegaConf.select(hc, "job.num", default=None),
        "override_dirname": hc.job.override_dirname,
        "overrides": list(hc.overrides.task),
    }
    out = hc.runtime.output_dir
    try:
        summary = exit_on_error(run_study, cfg, out, job=job, echo=log.info)
    except SystemExit:
        _close_log_files(out)  # the job's log file, before its folder goes
        discard_unused_job_dir(out)
        raise
    return objective(summary)


def app(argv: list[str] | None = None) -> None:
    """``crossbar-jax [OVERRIDES...]``: run the study (``-m`` for a sweep, ``--help``)."""
    import hydra

    from crossbar_jax.app.config import register_configs

    register_configs()  # the schema conf/config.yaml names first, and the folder resolvers
    try:
        path = conf_dir()
    except ResourceError as exc:
        raise SystemExit(f"error: {exc}") from None
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    hydra.main(version_base="1.3", config_path=str(path), config_name="config")(task)()


def aggregate_main(argv=None) -> int:
    """``crossbar-jax-aggregate SWEEP_DIR``: the sweep table, report and figures of a sweep.

    A job folder that is incomplete or corrupt is named and the command exits with status 1,
    writing nothing; ``--skip-bad`` aggregates the complete jobs and lists the bad ones on
    stderr. For a search (hydra/sweeper=optuna, experiment=optimize) the report is the search
    history and the best point with its interval (`crossbar_jax.app.search`).
    """
    from crossbar_jax.app.errors import full_error, one_line
    from crossbar_jax.app.sweep import BadJobsError, MixedSweepError

    parser = argparse.ArgumentParser(
        prog="crossbar-jax-aggregate",
        description="Collect every complete job of a sweep (multirun folder) into "
        "SWEEP_DIR/sweep.parquet and sweep.csv, with report.md and figures/.",
        epilog="Example: crossbar-jax -m training.beta=6e6,2e7 device.k=10,30, then "
        "crossbar-jax-aggregate with the sweep folder it names. Jobs whose fixed settings "
        "differ (mc.n_crossbars, the curve, the dataset, mc.precision, ...) are refused.",
    )
    parser.add_argument("multirun_dir", metavar="SWEEP_DIR", help="the sweep's folder")
    parser.add_argument(
        "--no-figures", action="store_true", help="write the table and report.md only"
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out job folders that are incomplete or corrupt (listed on stderr)",
    )
    args = parser.parse_args(argv)
    try:
        return _aggregate(args)
    except (BadJobsError, MixedSweepError, OSError, ValueError) as exc:
        if full_error():
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1


def _aggregate(args) -> int:
    import pandas as pd

    from crossbar_jax.app.outputs import writing
    from crossbar_jax.app.report import make_sweep_outputs
    from crossbar_jax.app.search import is_search
    from crossbar_jax.app.sweep import aggregate, write_sweep

    df = aggregate(args.multirun_dir, skip_bad=args.skip_bad)
    for bad in df.attrs.get("bad_jobs", []):
        print(f"warning: skipped {bad}", file=sys.stderr)
    parquet, csv = write_sweep(df, args.multirun_dir)
    swept = df.attrs["swept"]
    if is_search(args.multirun_dir):
        return _search(args.multirun_dir, df, parquet, csv)
    outputs = {}
    if not args.no_figures:
        with writing(Path(args.multirun_dir) / "figures"):
            outputs = make_sweep_outputs(args.multirun_dir, df, swept)
    shown = [*swept, "convergence_rate", "ci_low", "ci_high", "km_median_epoch",
             "mean_test_accuracy"]  # fmt: skip
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(df[shown].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(f"{len(df)} jobs; swept: {', '.join(swept) or 'nothing'}")
    if outputs:
        print(f"wrote {parquet}, {csv} and {outputs['report']} (figures in figures/)")
    else:
        print(f"wrote {parquet} and {csv}")
    return 0


def _search(multirun_dir, df, parquet, csv) -> int:
    """An Optuna search (experiment=optimize): its history and best point."""
    import pandas as pd

    from crossbar_jax.app.search import best_trial, make_search_outputs, search_history

    try:
        outputs = make_search_outputs(multirun_dir, df)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    history = search_history(df, multirun_dir)
    best = best_trial(history)
    shown = ["trial", *df.attrs["swept"], "convergence_rate", "ci_low", "ci_high", "best_so_far"]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(history[shown].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    params = ", ".join(f"{c}={best[c]:.4g}" for c in df.attrs["swept"])
    print(
        f"{len(history)} trials; best: trial {int(best['trial'])}, {params}: rate "
        f"{best['convergence_rate']:.4g} (95% CI {best['ci_low']:.4g} - {best['ci_high']:.4g})"
    )
    print(f"wrote {parquet}, {csv} and {outputs['report']} (figure in figures/)")
    return 0


def aggregate_app() -> None:
    """Console entry point of ``crossbar-jax-aggregate``."""
    sys.exit(aggregate_main())
