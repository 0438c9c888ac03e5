"""Collect every job of a sweep into MULTIRUN_DIR/sweep.parquet and sweep.csv.

    python experiments/aggregate.py multirun/beta_k_grid

One row per complete job (a job folder with a summary.json): the swept parameters, the
statistics and the shared parameters. See `crossbar_jax.sweep.aggregate`. For a search
(hydra/sweeper=optuna, experiment=optimize) the report is the search history and the best point
with its interval (`crossbar_jax.search`). A job folder that is incomplete or corrupt is named
and the command exits with status 1, writing nothing; ``--skip-bad`` aggregates the complete
jobs and lists the bad ones on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from crossbar_jax.errors import full_error, one_line
from crossbar_jax.outputs import writing
from crossbar_jax.report import make_sweep_outputs
from crossbar_jax.search import best_trial, is_search, make_search_outputs, search_history
from crossbar_jax.sweep import BadJobsError, aggregate, write_sweep


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("multirun_dir", help="the sweep's folder (hydra.sweep.dir)")
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out job folders that are incomplete or corrupt (listed on stderr)",
    )
    args = parser.parse_args(argv)
    try:
        return _aggregate(args)
    except (BadJobsError, OSError, ValueError) as exc:
        if full_error():
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1


def _aggregate(args) -> int:
    df = aggregate(args.multirun_dir, skip_bad=args.skip_bad)
    for bad in df.attrs.get("bad_jobs", []):
        print(f"warning: skipped {bad}", file=sys.stderr)
    parquet, csv = write_sweep(df, args.multirun_dir)
    swept = df.attrs["swept"]
    if is_search(args.multirun_dir):
        return _search(args.multirun_dir, df, parquet, csv)
    with writing(Path(args.multirun_dir) / "figures"):
        outputs = make_sweep_outputs(args.multirun_dir, df, swept)
    shown = [
        *swept,
        "convergence_rate",
        "ci_low",
        "ci_high",
        "km_median_epoch",
        "mean_test_accuracy",
    ]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(df[shown].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(f"{len(df)} jobs; swept: {', '.join(swept) or 'nothing'}")
    print(f"wrote {parquet}, {csv} and {outputs['report']} (figures in figures/)")
    return 0


def _search(multirun_dir, df: pd.DataFrame, parquet, csv) -> int:
    """An Optuna search (experiment=optimize): its history and best point."""
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


if __name__ == "__main__":
    sys.exit(main())
