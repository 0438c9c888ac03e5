"""The report of a search for the best operating point (hydra/sweeper=optuna, experiment=optimize).

A search is a multirun whose jobs Optuna proposed one after another; each job's summary.json
holds its trial number (``job.num``), parameters and convergence rate. `search_history` puts
them in trial order with the best rate found so far, `best_trial` picks the trial with the
highest rate, and `make_search_outputs` writes ``report.md`` (best point with its interval, the
history table) and ``figures/search_history.png`` into the sweep's folder. `is_search` tells a
search from a grid sweep by the sweeper Hydra recorded for the jobs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from crossbar_jax.app.outputs import SUMMARY, read_json

__all__ = [
    "SearchDirectionNote",
    "best_trial",
    "is_search",
    "make_search_outputs",
    "search_history",
]

HISTORY_FIGURE = "search_history"


def is_search(multirun_dir) -> bool:
    """Whether `multirun_dir` is a search: the sweeper Hydra recorded for its jobs (in a job
    folder's ``.hydra/hydra.yaml``; the Optuna sweeper writes no multirun.yaml) is Optuna's."""
    root = Path(multirun_dir)
    for path in [root / "multirun.yaml", *sorted(root.glob("*/.hydra/hydra.yaml"))[:1]]:
        if not path.is_file():
            continue
        try:
            target = OmegaConf.select(OmegaConf.load(path), "hydra.sweeper._target_", default="")
        except Exception:  # an unreadable file: not a search this module can report
            return False
        return "optuna" in str(target).lower()
    return False


def search_history(sweep_df: pd.DataFrame, multirun_dir) -> pd.DataFrame:
    """`sweep_df` (`crossbar_jax.app.sweep.aggregate` of the search) in trial order, with ``trial``
    (Optuna's trial number, the job number) and ``best_so_far`` (the highest rate up to it).

    Raises:
        ValueError: a job without a trial number, or two jobs with one number (the folder
            holds more than one search).
    """
    root = Path(multirun_dir)
    trials = []
    for job in sweep_df["job"]:
        summary = read_json(root / job / SUMMARY) or {}
        num = (summary.get("job") or {}).get("num")
        if not isinstance(num, int):
            raise ValueError(f"{root / job}: its {SUMMARY} has no trial number (job.num)")
        trials.append(num)
    df = sweep_df.assign(trial=trials)
    repeated = df["trial"][df["trial"].duplicated()].unique().tolist()
    if repeated:
        raise ValueError(
            f"{root}: trial number(s) {repeated} belong to more than one job folder, so the "
            "folder holds more than one search; run each search with its own hydra.sweep.dir"
        )
    df = df.sort_values("trial").reset_index(drop=True)
    df["best_so_far"] = df["convergence_rate"].cummax()
    return df


def best_trial(history: pd.DataFrame) -> pd.Series:
    """The trial with the highest convergence rate (the first of equal ones)."""
    return history.loc[int(np.argmax(history["convergence_rate"].to_numpy()))]


def _history_figure(history: pd.DataFrame, best: pd.Series, path: Path) -> Path:
    from crossbar_jax.plots.style import new_figure, save_figure, style

    with style():
        fig, ax = new_figure(height=2.4)
        t = history["trial"].to_numpy()
        rate = history["convergence_rate"].to_numpy()
        low, high = history["ci_low"].to_numpy(), history["ci_high"].to_numpy()
        ax.errorbar(
            t, rate, yerr=[rate - low, high - rate], fmt="o", ms=2.5, lw=0.6, color="0.45",
            label="trial (95% Wilson CI)",
        )  # fmt: skip
        ax.step(t, history["best_so_far"], where="post", color="C0", lw=1.2, label="best so far")
        ax.plot([best["trial"]], [best["convergence_rate"]], "*", ms=9, color="C3", label="best")
        ax.set_xlabel("trial")
        ax.set_ylabel("convergence rate")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=6.5, loc="lower right", frameon=False)
        return save_figure(fig, path)


def make_search_outputs(multirun_dir, sweep_df: pd.DataFrame) -> dict[str, Path]:
    """``figures/search_history.png`` and ``report.md`` of a search in `multirun_dir`.

    Returns:
        ``{"search_history": figure path, "report": report path}``.
    """
    from crossbar_jax.app.report import markdown_table, write_text_atomic

    out = Path(multirun_dir)
    history = search_history(sweep_df, out)
    best = best_trial(history)
    swept = [c for c in sweep_df.attrs.get("swept", []) if c in history.columns]
    figure = _history_figure(history, best, out / "figures" / f"{HISTORY_FIGURE}.png")
    n = int(best["n_crossbars"])
    parts = [
        f"# Search: {out.resolve().name}",
        "",
        f"{len(history)} trials of the Optuna search, each a job of the app; the search "
        "maximises the convergence rate.",
        "",
        "## Best point",
        "",
        f"Trial {int(best['trial'])} (folder `{best['job']}`): convergence rate "
        f"{best['convergence_rate']:.4g}, 95% Wilson interval {best['ci_low']:.4g} to "
        f"{best['ci_high']:.4g}, {int(best['converged'])} of {n:,} crossbars.",
        "",
        markdown_table(["parameter", "value"], [[c, best[c]] for c in swept]),
        "",
        "The best of many noisy trials tends to be lucky: its rate is biased upwards. Rerun the "
        "point with another mc.seed and more crossbars to confirm it.",
        "",
        "## Search history",
        "",
        markdown_table(
            ["trial", *swept, "rate", "CI low", "CI high", "best so far"],
            [
                [
                    int(r["trial"]),
                    *[r[c] for c in swept],
                    r["convergence_rate"],
                    r["ci_low"],
                    r["ci_high"],
                    r["best_so_far"],
                ]
                for _, r in history.iterrows()
            ],
        ),  # fmt: skip
        "",
        f"![search history]({figure.relative_to(out).as_posix()})",
        "",
    ]
    report = write_text_atomic(out / "report.md", "\n".join(parts))
    return {HISTORY_FIGURE: figure, "report": report}


class SearchDirectionNote(Callback):
    """Hydra callback: say so when an Optuna search would look for the LOWEST rate.

    A job returns its convergence rate, and hydra-optuna-sweeper minimises by default; a plain
    ``hydra/sweeper=optuna`` (without experiment=optimize) would find the worst point.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        sweeper = OmegaConf.select(config, "hydra.sweeper")
        if sweeper is None or "optuna" not in str(sweeper.get("_target_", "")).lower():
            return
        direction = str(sweeper.get("direction", "")).lower()
        if "minimize" in direction:
            print(
                "note: hydra.sweeper.direction=minimize: the search looks for the LOWEST "
                "convergence rate; set hydra.sweeper.direction=maximize for the best point "
                "(experiment=optimize does)",
                file=sys.stderr,
            )
