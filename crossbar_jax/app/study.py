"""One parameter point of the Monte Carlo study: validate, run or resume, write the outputs.

`run_study` is the whole job of ``experiments/convergence.py``: it trains ``mc.n_crossbars``
independently seeded crossbars at the configuration's parameter point and writes, into the job's
output folder,

* ``results.parquet``: one row per crossbar (crossbar, converged, epoch, final_error,
  test_accuracy);
* ``summary.json``: the resolved parameters, the statistics of `crossbar_jax.stats.summarize`,
  timing, and ``config_hash``, a hash of the resolved configuration.

``summary.json`` is written last, each file atomically (`crossbar_jax.app.outputs`), so its presence
marks a complete job. A job whose folder already holds a summary with the same ``config_hash``
(and its results) is skipped: that is how a sweep stopped midway resumes. Complete results of a
*different* configuration found in the folder (the same ``hydra.run.dir`` reused, a changed
yaml file) are moved to ``.superseded/<their config_hash>/`` first, never overwritten.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from crossbar_jax.app.config import (
    GRID_KEYS,
    ConfigError,
    StudySpec,
    job_dirname,
    validate_config,
)
from crossbar_jax.app.jobs import (
    check_results,
    config_hash,
    differences,
    flatten,
    results_record,
    set_aside,
    set_aside_broken,
)
from crossbar_jax.app.outputs import (
    RESULTS,
    SUMMARY,
    folder_lock,
    remove_stale_temporaries,
    write_json,
    write_parquet,
    writing,
)
from crossbar_jax.app.report import few_converged_note
from crossbar_jax.stats import summarize

__all__ = [
    "ResultsError",
    "check_results",
    "config_hash",
    "flatten",
    "format_header",
    "format_results",
    "format_summary",
    "grid_points",
    "run_study",
]


class ResultsError(RuntimeError):
    """A run whose results cannot be summarised (NaN or infinite values); nothing was written."""


# The job's phases (resolving, compiling, training, statistics, figures) go to this logger; the
# app (crossbar_jax.app.cli) shows them on stdout and writes them to the job's log file.
log = logging.getLogger(__name__)


def _general_kwargs(spec: StudySpec) -> dict:
    """The general engine's extra arguments: non-idealities and shift distribution."""
    return {
        "nonideal": spec.nonideal,
        "distribution": spec.shift["distribution"],
        "shift_map": spec.shift_map,
    }


def _simulate(spec: StudySpec, *, first_crossbar: int = 0, n_crossbars: int | None = None):
    """Run the Monte Carlo in the requested precision; float64 needs JAX's 64-bit mode.

    The fast engine (`run_monte_carlo`) runs the reference model; a study with a non-ideality
    or another shift distribution runs on the general engine (`run_monte_carlo_nonideal`).
    `first_crossbar` and `n_crossbars` pick a range of crossbars (default: the study's
    mc.n_crossbars from crossbar 0).
    """
    import jax

    from crossbar_jax.montecarlo import run_monte_carlo, run_monte_carlo_nonideal

    precision = spec.mc["precision"]
    runner, extra = run_monte_carlo, {}
    if spec.general:
        runner, extra = run_monte_carlo_nonideal, _general_kwargs(spec)
    log.info(
        "compiling the %s engine (%s), then training %d crossbars",
        "general" if spec.general else "fast",
        precision,
        spec.mc["n_crossbars"],
    )
    # Scoped, so a float32 job after a float64 one in the same process (the basic launcher
    # runs every job of a sweep in one process) computes exactly as it would alone.
    with jax.enable_x64(precision == "float64"):
        result = runner(
            spec.mc["seed"],
            spec.mc["n_crossbars"] if n_crossbars is None else n_crossbars,
            curve=spec.curve,
            dataset=spec.dataset,
            **{k: spec.train[k] for k in ("beta", "positive_target", "negative_target", "k")},
            epochs=spec.train["epochs"],
            v0=spec.train["v0"],
            v1=spec.train["v1"],
            low=spec.shift["low"],
            high=spec.shift["high"],
            division_factor=spec.shift["division_factor"],
            dtype=precision,
            chunk_size=spec.mc["chunk_size"],
            progress=spec.mc["progress"],
            first_crossbar=first_crossbar,
            **extra,
        )
        platform = jax.devices()[0].platform
    return result, platform


def _results_frame(result) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "crossbar": np.asarray(result.crossbar, np.int64),
            "converged": np.asarray(result.converged, bool),
            "epoch": np.asarray(result.epoch, np.int32),
            "final_error": np.asarray(result.final_error),
            "test_accuracy": np.asarray(result.test_accuracy),
        }
    )


def _versions(platform: str) -> dict:
    import jax

    import crossbar_jax

    return {"crossbar_jax": crossbar_jax.__version__, "jax": jax.__version__, "device": platform}


def _resume_or_prepare(out: Path, digest: str, spec: StudySpec, say) -> dict | None:
    """The summary of a complete job of this configuration in `out` (skip it), else None
    after making `out` ready for a new job (another configuration's results set aside)."""
    previous, broken = check_results(out)
    if broken is not None:
        kept = set_aside_broken(out, broken)
        say(f"redoing: {out} held no intact job ({broken}); moved its files to {kept}")
    if previous is not None:
        rerun = bool(spec.mc.get("rerun"))
        if previous.get("config_hash") == digest and not rerun:
            say(
                f"skipping: {out} already holds complete results of this configuration "
                f"(config_hash {digest}); mc.rerun=true recomputes it"
            )
            say(format_summary(previous, out))
            return previous
        kept = set_aside(out, previous)
        if previous.get("config_hash") == digest:
            say(f"mc.rerun=true: recomputing {out}; its previous results are kept in {kept}")
        else:
            say(
                f"note: {out} held results of a different configuration "
                f"({differences(previous.get('params', {}), spec.params)}); "
                f"moved them to {kept}"
            )
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    # From here until the new summary is written the folder holds no complete job.
    (out / SUMMARY).unlink(missing_ok=True)
    return None


def run_study(
    cfg: DictConfig,
    out_dir,
    *,
    job: dict | None = None,
    echo: Callable[[str], None] | None = print,
) -> dict:
    """Run (or resume) one study job and write its outputs into `out_dir`.

    With an in-process grid (``grid.*`` lists, see `crossbar_jax.app.config.GridConfig`), the job
    runs every grid point, each into a folder of its own below `out_dir` (`_run_grid_study`).

    Args:
        cfg: the composed configuration (see `crossbar_jax.app.config.StudyConfig`).
        out_dir: the job's output folder (Hydra's ``runtime.output_dir``).
        job: optional description of the Hydra job (number, overrides), stored in the summary.
        echo: where the one-screen summary and the skip notice go (None: nowhere).

    Returns:
        The summary dict, as written to ``summary.json`` (or as found, when skipped); for a
        grid, ``{"grid": [each point's summary], "sweep": out_dir}``.

    Raises:
        crossbar_jax.app.config.ConfigError: invalid configuration; raised before any compilation.
    """
    say = echo or (lambda _: None)
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.structured(cfg)
    log.info("resolving the configuration (values, curve file, dataset)")
    spec = validate_config(cfg)
    _check_report(cfg, spec)
    out = Path(out_dir)
    if grid_points(cfg):
        return _run_grid_study(cfg, out, job=job, say=say)
    with folder_lock(out):  # a second run into this folder refuses instead of interleaving
        digest = config_hash(spec.params)
        previous = _resume_or_prepare(out, digest, spec, say)
        if previous is not None:
            return previous
        experiment = str(cfg.get("experiment_name", "default"))
        say(format_header({"experiment_name": experiment, "params": spec.params}, out))
        preload = _preload_plots(spec, _replays(cfg)) if cfg.report.figures else None
        t0 = time.perf_counter()
        extra = None
        if "target_halfwidth" in spec.mc:
            result, platform, sampling = _simulate_targeted(spec, say)
            extra = {"sampling": sampling}
        else:
            result, platform = _simulate(spec)
        return _finish_job(
            cfg, spec, out, digest, result, platform, job, say, t0, brief=True, preload=preload,
            extra=extra,
        )  # fmt: skip


def _check_report(cfg, spec: StudySpec) -> None:
    """report.crossbars, checked before anything runs (the figures come after the training)."""
    from crossbar_jax.history import MAX_HISTORY_BATCH

    crossbars = OmegaConf.select(cfg, "report.crossbars")
    if not crossbars or not cfg.report.figures:
        return
    n = spec.mc["n_crossbars"]
    ids = list(crossbars)
    if len(ids) > MAX_HISTORY_BATCH or any(
        isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n for i in ids
    ):
        raise ConfigError(
            f"report.crossbars={ids}: expected at most {MAX_HISTORY_BATCH} crossbar indices "
            f"in [0, {n}) (mc.n_crossbars={n})"
        )


def _simulate_targeted(spec: StudySpec, say):
    """mc.target_halfwidth: batches of mc.n_crossbars consecutive crossbars until the target or
    mc.max_crossbars (`crossbar_jax.app.sampling.run_targeted`); (result, platform, sampling)."""
    from crossbar_jax.app.sampling import run_targeted

    platforms = []

    def run_range(first: int, n: int):
        result, platform = _simulate(spec, first_crossbar=first, n_crossbars=n)
        platforms.append(platform)
        return result

    result, sampling = run_targeted(
        run_range,
        batch=spec.mc["n_crossbars"],
        target_halfwidth=spec.mc["target_halfwidth"],
        max_crossbars=spec.mc["max_crossbars"],
        report=say if spec.mc["progress"] else None,
    )
    return result, platforms[0], sampling


def _replays(cfg) -> int:
    """How many crossbars' trajectories the job will draw (report.crossbars/trajectories);
    2 (the first converged and the first failed) stands for the automatic choice."""
    listed = OmegaConf.select(cfg, "report.crossbars")
    if listed:
        return len(listed)
    return 2 if OmegaConf.select(cfg, "report.trajectories", default=False) else 0


def _prepare_figures(spec: StudySpec, replays: int) -> None:
    """Import the figure modules and, when trajectories will be drawn, compile their replay."""
    try:
        import crossbar_jax.app.report  # noqa: F401
        import crossbar_jax.plots.runs  # noqa: F401

        if replays:
            import crossbar_jax.plots.crossbars  # noqa: F401
    except Exception:  # noqa: BLE001  the main thread's own import reports it
        return
    if not replays:
        return
    try:
        from crossbar_jax.history import record_job_history_bounded as record_job_history

        # the same call as the real replay, for as many crossbars: every executable it needs
        # (shift draws, the per-epoch recording) is compiled now, on a core the simulation's
        # compilation leaves idle
        record_job_history(
            {"params": spec.params},
            list(range(replays)),
            curve=spec.curve,
            shift_map=spec.shift_map,
        )
    except Exception:  # noqa: BLE001  the real replay reports any problem
        pass


def _preload_plots(spec: StudySpec, replays: int = 0) -> threading.Thread:
    """Prepare the figures in a thread while the simulation runs: import matplotlib, seaborn
    and the figure modules (about 2 s), and compile the trajectory replay (about 1.3 s), both
    on a core the compilation of the simulation leaves idle. The main thread joins it before
    drawing, so no module is imported by two threads at once."""
    import tqdm.auto  # noqa: F401  (the progress bars' module, before the thread starts)

    import crossbar_jax.history  # noqa: F401  (imported by the main thread too)

    thread = threading.Thread(
        target=_prepare_figures, args=(spec, replays), name="crossbar_jax-figures", daemon=True
    )
    thread.start()
    return thread


def _finish_job(
    cfg,
    spec,
    out,
    digest,
    result,
    platform,
    job,
    say,
    t0,
    timing=None,
    extra=None,
    *,
    brief=False,
    figures=None,
    preload=None,
) -> dict:
    """Write a job's results, figures and report, then its summary (last); return the summary.

    `brief`: the header already went out, so only the results are shown at the end.
    `figures`: draw them (default ``cfg.report.figures``); `preload`: the thread importing the
    figure modules, joined before drawing.
    """
    n_trained = len(result.converged)
    if result.train_s > 0:
        log.info(
            "trained %d crossbars in %.2f s (%s crossbars/s; compilation %.2f s)",
            n_trained,
            result.train_s,
            f"{n_trained / result.train_s:,.0f}",
            result.compile_s,
        )
    frame = _results_frame(result)
    _check_finite(frame, spec, out)
    write_parquet(out / RESULTS, frame)

    log.info("statistics: convergence rate, intervals, epoch quantiles, Kaplan-Meier")
    stats = summarize(
        frame["converged"].to_numpy(),
        frame["epoch"].to_numpy(),
        frame["test_accuracy"].to_numpy(),
        epochs=spec.train["epochs"],
        confidence=0.95,
    )
    n = stats["n_crossbars"]
    summary = {
        "experiment_name": str(cfg.get("experiment_name", "default")),
        "params": spec.params,
        **stats,
        "dimensionless": _dimensionless(spec),
        "timing": {
            "compile_s": float(result.compile_s),
            "train_s": float(result.train_s),
            "trainings_per_s": n / result.train_s if result.train_s > 0 else None,
            "total_s": time.perf_counter() - t0,
            **(timing or {}),
        },
        **(extra or {}),
        "config_hash": digest,
        "results": results_record(out / RESULTS, len(frame)),
        "job": job,
        "versions": _versions(platform),
    }
    if cfg.report.figures if figures is None else figures:
        # Before summary.json: a job killed while drawing is not taken as complete.
        if preload is not None:
            preload.join()
        t_fig = time.perf_counter()
        with writing(out / "figures"):
            _figures_and_report(
                out,
                frame,
                summary,
                spec,
                cfg.report.crossbars,
                options=_figure_options(cfg),
                trajectories=bool(OmegaConf.select(cfg, "report.trajectories", default=False)),
            )
        summary["timing"]["figures_s"] = time.perf_counter() - t_fig
    write_json(out / SUMMARY, summary)
    say(format_results(summary, out) if brief else format_summary(summary, out))
    return summary


def _check_finite(frame: pd.DataFrame, spec: StudySpec, out: Path) -> None:
    """Refuse results holding NaN or infinity: they would be summarised as a meaningless rate."""
    cols = ["final_error"] + (["test_accuracy"] if len(spec.dataset.test_patterns) else [])
    bad = ~np.isfinite(frame[cols].to_numpy(np.float64)).all(axis=1)
    if bad.any():
        first = int(frame["crossbar"].to_numpy()[np.flatnonzero(bad)[0]])
        raise ResultsError(
            f"{out}: {int(bad.sum())} of {len(frame)} crossbars ended with NaN or infinite "
            f"values (first: crossbar {first}) in precision {spec.mc['precision']}; no results "
            "or rate written. The parameters overflow the arithmetic: use mc.precision=float64 "
            "or smaller device.k, training.beta, device.c2c_std or shift range"
        )


def _figure_options(cfg) -> dict:
    """report.format, report.dpi and mc.progress, as `_figures_and_report` takes them."""
    return {
        "fmt": str(OmegaConf.select(cfg, "report.format", default="png")),
        "dpi": int(OmegaConf.select(cfg, "report.dpi", default=200)),
        "progress": bool(OmegaConf.select(cfg, "mc.progress", default=False)),
    }


def _dimensionless(spec: StudySpec) -> dict:
    from crossbar_jax.dimensionless import from_params

    return from_params(spec.params, spec.curve, spec.nonideal.curve_pool)


def grid_points(cfg) -> list[dict]:
    """The points of the configuration's in-process grid (``grid.*``), as {config key: value}
    in the order they run (the last listed key varies fastest); [] when there is no grid."""
    node = OmegaConf.select(cfg, "grid")
    if node is None:
        return []
    axes = [(key, list(node[name])) for name, key in GRID_KEYS.items() if node.get(name)]
    if not axes:
        return []
    keys = [key for key, _ in axes]
    return [dict(zip(keys, values, strict=True)) for values in product(*(v for _, v in axes))]


def _exact(value) -> str:
    """Short float text that reads back as exactly `value` (``%g`` where that is exact)."""
    text = f"{float(value):g}"
    return text if float(text) == float(value) else repr(float(value))


def _point_name(point: dict) -> str:
    """A point's override string and folder name, as a multirun job's (keys sorted).

    Values print with ``%g`` like a multirun's folders where that is exact, and in full
    otherwise, so two grid values never share a folder because they print alike.
    """
    return ",".join(f"{key}={_exact(point[key])}" for key in sorted(point))


def _check_unique_folders(names: list[str]) -> None:
    """Refuse a grid two of whose points would write into one folder (a value listed twice)."""
    seen: dict[str, int] = {}
    for num, name in enumerate(names):
        folder = job_dirname(name)
        if folder in seen:
            raise ConfigError(
                f"grid: points {seen[folder]} and {num} ({name}) would share the folder "
                f"{folder!r}; every grid.* list must hold distinct values"
            )
        seen[folder] = num


def _point_config(cfg: DictConfig, point: dict) -> DictConfig:
    """`cfg` at one grid point: the point's values set, the grid emptied."""
    out = copy.deepcopy(cfg)
    for key, value in point.items():
        OmegaConf.update(out, key, float(value), merge=False)
    for name in GRID_KEYS:
        out.grid[name] = []
    return out


def _run_grid_study(cfg: DictConfig, out: Path, *, job, say) -> dict:
    """Every point of ``grid.*`` as a job of its own under `out`, computed as one batch.

    Each point's folder, ``out/<key=value,...>/``, holds what a multirun job writes
    (results.parquet, summary.json with the same parameters and config_hash, figures and
    report.md); complete points are skipped, so a stopped grid resumes. The crossbars of the
    remaining points train in one call of `crossbar_jax.run_grid`; each point's timing is its
    share of that call. Then ``out/sweep.parquet`` and ``sweep.csv`` (and the sweep's figures
    and report) collect the points, as ``experiments/aggregate.py`` does for a multirun.
    """
    points = grid_points(cfg)
    _check_unique_folders([_point_name(point) for point in points])
    jobs = []
    for num, point in enumerate(points):  # validate every point before any work
        name = _point_name(point)
        point_cfg = _point_config(cfg, point)
        try:
            spec = validate_config(point_cfg)
        except ConfigError as exc:
            raise ConfigError(f"grid point {num} ({name}): {exc}") from None
        jobs.append((num, name, point_cfg, spec, config_hash(spec.params)))
    with ExitStack() as locks:  # the grid's folder and every point's stay locked until done
        for folder in [out] + [out / job_dirname(name) for _, name, _, _, _ in jobs]:
            locks.enter_context(folder_lock(folder))
        return _run_grid_jobs(cfg, out, jobs, job=job, say=say)


def _run_grid_jobs(cfg: DictConfig, out: Path, jobs: list, *, job, say) -> dict:
    """The validated points of a grid (`_run_grid_study`): resume, train, write, aggregate."""
    from crossbar_jax.app.report import make_sweep_outputs
    from crossbar_jax.app.sweep import aggregate, write_sweep

    summaries, todo = {}, []
    for num, name, point_cfg, spec, digest in jobs:
        folder = out / job_dirname(name)
        previous = _resume_or_prepare(folder, digest, spec, say)
        if previous is None:
            todo.append((num, name, point_cfg, spec, digest, folder))
        else:
            summaries[num] = previous
    if todo:
        t0 = time.perf_counter()
        grid, platform = _simulate_grid([spec for _, _, _, spec, _, _ in todo])
        share = {
            "grid_points": len(todo),
            "grid_compile_s": float(grid.compile_s),
            "grid_train_s": float(grid.train_s),
        }
        for i, (_, _, _, spec, _, folder) in enumerate(todo):  # all, before writing any
            _check_finite(_results_frame(grid.at(i)), spec, folder)
        for i, (num, name, point_cfg, spec, digest, folder) in enumerate(todo):
            result = grid.at(i)._replace(
                compile_s=grid.compile_s / len(todo), train_s=grid.train_s / len(todo)
            )
            point_job = {
                "num": num,
                "override_dirname": name,
                "overrides": name.split(","),
                "grid_job": job,
            }
            summaries[num] = _finish_job(
                point_cfg,
                spec,
                folder,
                digest,
                result,
                platform,
                point_job,
                say,
                t0,
                share,
                figures=bool(cfg.report.figures and cfg.report.point_figures),
            )
    df = aggregate(out)
    write_sweep(df, out)
    if cfg.report.figures:
        from crossbar_jax.plots.style import figure_output

        opts = _figure_options(cfg)
        log.info("figures: the grid's summary figures and report.md in %s", out)
        with writing(out / "figures"), figure_output(opts["fmt"], opts["dpi"]):
            make_sweep_outputs(out, df, df.attrs["swept"])
            from crossbar_jax.plots.phase import phase_figure

            phase = phase_figure(out, df)  # a grid over two groups: the rate map over (pi1, pi2)
            if phase is not None:
                say(f"phase diagram: {phase}")
    say(
        f"grid: {len(jobs)} points ({len(todo)} computed in one batch, "
        f"{len(jobs) - len(todo)} already complete); sweep table {out / 'sweep.csv'}"
    )
    return {"grid": [summaries[num] for num in sorted(summaries)], "sweep": str(out)}


def _simulate_grid(specs: list[StudySpec]):
    """`run_grid` over the points of `specs` (they differ in traced parameters only).

    With non-idealities or another shift distribution the points run one after another on the
    general engine (one compilation serves them all: their numbers are traced).
    """
    import jax

    from crossbar_jax.montecarlo import GridResult, run_grid

    base = specs[0]
    if base.general:
        results = [_simulate(spec) for spec in specs]
        outs = [r for r, _ in results]
        points = {
            key: np.array([s.train[key] for s in specs])
            for key in ("beta", "positive_target", "negative_target", "k")
        }
        points.update(
            {
                key: np.array([s.shift[key] for s in specs])
                for key in ("low", "high", "division_factor")
            }
        )
        grid = GridResult(
            points,
            *(np.stack([getattr(r, f) for r in outs]) for f in
              ("converged", "epoch", "final_error", "test_accuracy")),
            compile_s=sum(r.compile_s for r in outs),
            train_s=sum(r.train_s for r in outs),
        )  # fmt: skip
        return grid, results[0][1]
    precision = base.mc["precision"]
    with jax.enable_x64(precision == "float64"):
        result = run_grid(
            base.mc["seed"],
            base.mc["n_crossbars"],
            curve=base.curve,
            dataset=base.dataset,
            **{
                k: [s.train[k] for s in specs]
                for k in ("beta", "positive_target", "negative_target", "k")
            },
            **{k: [s.shift[k] for s in specs] for k in ("low", "high", "division_factor")},
            epochs=base.train["epochs"],
            v0=base.train["v0"],
            v1=base.train["v1"],
            dtype=precision,
            chunk_size=base.mc["chunk_size"],
            progress=base.mc["progress"],
        )
        platform = jax.devices()[0].platform
    return result, platform


_RUN_FIGURE_COUNT = 3  # epoch histogram, Kaplan-Meier, test accuracy
_CROSSBAR_FIGURE_COUNT = 5  # per inspected crossbar


class _Replay(threading.Thread):
    """The inspected crossbars' trajectories, replayed (compiled, then run) in a thread, so
    that the compilation overlaps the drawing of the run's own figures."""

    def __init__(self, summary, ids, spec):
        super().__init__(name="crossbar_jax-history", daemon=True)
        self.args, self.history, self.error = (summary, ids, spec), None, None

    def run(self):
        from crossbar_jax.history import record_job_history_bounded

        summary, ids, spec = self.args
        try:
            # Bounded memory for any number of epochs: long trainings keep every s-th epoch.
            self.history = record_job_history_bounded(
                summary, ids, curve=spec.curve, shift_map=spec.shift_map
            )
        except BaseException as exc:  # noqa: BLE001  re-raised in the main thread
            self.error = exc

    def result(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.history


def _figures_and_report(
    out: Path,
    frame: pd.DataFrame,
    summary: dict,
    spec: StudySpec,
    crossbars,
    *,
    options: dict | None = None,
    trajectories: bool = True,
) -> None:
    """figures/ and report.md, with the trajectories of a few crossbars replayed from their keys.

    `crossbars`: the crossbars whose trajectories are drawn; None or empty: with
    `trajectories`, the first converged and the first failed, else none.
    `options`: ``fmt`` (png, pdf, svg), ``dpi`` and ``progress`` (a count of figures written).
    """
    from crossbar_jax.app.report import write_run_report
    from crossbar_jax.history import pick_crossbars
    from crossbar_jax.plots.crossbars import crossbar_figures
    from crossbar_jax.plots.runs import run_figures
    from crossbar_jax.plots.style import figure_output

    opts = {"fmt": "png", "dpi": 200, "progress": False, **(options or {})}
    n = len(frame)
    if crossbars:
        ids = [int(i) for i in crossbars]
        bad = [i for i in ids if not 0 <= i < n]
        if bad:
            raise ConfigError(f"report.crossbars={list(crossbars)}: indices must be in [0, {n})")
    elif trajectories:
        ids = pick_crossbars(frame["converged"].to_numpy(), frame["crossbar"].to_numpy())
    else:
        ids = []
    replay = _Replay(summary, ids, spec) if len(ids) else None
    if replay is not None:
        replay.start()
    total = _RUN_FIGURE_COUNT + _CROSSBAR_FIGURE_COUNT * len(ids)
    log.info(
        "figures: %d %s figures (%s) and report.md into %s",
        total,
        opts["fmt"],
        f"{opts['dpi']} dpi" if opts["fmt"] == "png" else "vector",
        out / "figures",
    )
    bar = _figure_bar(total, opts["progress"])
    epochs = summary["params"]["training"]["epochs"]
    with figure_output(opts["fmt"], opts["dpi"], on_saved=lambda _: bar.update(1)):
        figures = run_figures(out, frame, epochs=epochs)
        if replay is not None:
            figures.update(crossbar_figures(out, replay.result()))
    bar.close()
    write_run_report(out, summary, figures)
    log.info("figures: %d written", len(figures))


def _figure_bar(total: int, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="figures", unit="fig", disable=not progress, leave=False)


def _g(x) -> str:
    return "-" if x is None else f"{x:g}"


def _nonideal_text(params: dict) -> str:
    """The non-idealities of a job's params (keys at their defaults are absent): one line."""
    from crossbar_jax.nonideal import nonideal_from_params

    return nonideal_from_params(params, load_files=False).describe()


FEW_CONVERGED = 10  # epoch quantiles of fewer converged crossbars are flagged as noise


def format_summary(summary: dict, out_dir=None) -> str:
    """A one-screen text summary of a study job: `format_header`, then `format_results`."""
    return format_header(summary, out_dir) + "\n" + format_results(summary)


def format_header(summary: dict, out_dir=None) -> str:
    """What a job computes (its parameters), from a summary's ``params``; shown first."""
    p = summary["params"]
    dev, tr, mc, sh = p["device"], p["training"], p["mc"], p["device"]["shift"]
    ds = p["dataset"]
    nonideal = _nonideal_text(p)
    lines = [
        f"crossbar_jax study '{summary.get('experiment_name', '')}'"
        + (f"  ->  {out_dir}" if out_dir is not None else ""),
        f"  curve       {dev['curve']} ({dev['curve_points']} points)",
        f"  device      k={_g(dev['k'])}  {dev['rows']}x{dev['cols']}  shifts {sh['distribution']}"
        f" [{_g(sh['low'])}, {_g(sh['high'])}] S, division_factor={_g(sh['division_factor'])}",
        f"  training    beta={_g(tr['beta'])} 1/A  t+={_g(tr['positive_target'])}"
        f"  t-={_g(tr['negative_target'])}  epochs={tr['epochs']}"
        f"  v0={_g(tr['v0'])} V  v1={_g(tr['v1'])} V",
        f"  dataset     {ds['name']}: {len(ds['train']['patterns'])} training, "
        f"{len(ds['test']['patterns'])} test patterns",
        f"  mc          n={mc['n_crossbars']}  seed={mc['seed']}  {mc['precision']}"
        f"  chunk={mc['chunk_size'] or 'auto'}",
    ]
    if nonideal != "ideal":  # the reference model's summary stays as it was
        lines.insert(5, f"  non-ideal   {nonideal}")
    return "\n".join(lines)


def format_results(summary: dict, out_dir=None) -> str:
    """A job's outcome: convergence with its interval, epochs, accuracy, timing."""
    tr = summary["params"]["training"]
    low, high = summary["convergence_rate_ci95"]
    q = summary.get("epoch_quantiles")
    n_conv = summary["converged"]
    quant = (
        f"p10={q['p10']}  p50={q['p50']}  p90={q['p90']} (converged crossbars"
        + (f"; only {n_conv}: too few to trust)" if n_conv < FEW_CONVERGED else ")")
        if q
        else "none converged"
    )
    km = summary.get("km_median_epoch")
    km_text = f"{km}" if km is not None else f"> {tr['epochs']} (at most half converged)"
    t = summary["timing"]
    rate = t.get("trainings_per_s")
    lines = [
        f"  converged   {summary['converged']} / {summary['n_crossbars']} = "
        f"{summary['convergence_rate']:.4g}  (95% CI {low:.4g} - {high:.4g})",
        f"  epochs      {quant}",
        f"  KM median   {km_text}",
        f"  accuracy    mean test accuracy {summary['mean_test_accuracy']:.4f}",
        f"  timing      compile {t['compile_s']:.2f} s, train {t['train_s']:.2f} s"
        + (f", {rate:,.0f} trainings/s" if rate else "")
        + (f", figures {t['figures_s']:.1f} s" if t.get("figures_s") is not None else ""),
    ]
    at = next(i for i, line in enumerate(lines) if line.startswith("  converged"))
    upper = summary.get("convergence_rate_upper95")
    sampling = summary.get("sampling")
    if sampling:
        ended = (
            f"target half-width {sampling['target_halfwidth']:g} reached"
            if sampling["stopped_by"] == "target_halfwidth"
            else f"cap mc.max_crossbars={sampling['max_crossbars']} reached first"
        )
        lines.insert(
            at + 1,
            f"  targeted    {sampling['batches']} batches of {sampling['batch']}: half-width "
            f"{sampling['halfwidth']:.3g}, {ended}",
        )
    if upper is not None:
        lines.insert(at + 1, f"  upper bound rate < {upper:.3g} (one-sided 95%, none converged)")
    groups = summary.get("dimensionless")
    if groups:
        lines.insert(at + 1, f"  groups      pi1={groups['pi1']:.4g}  pi2={groups['pi2']:.4g}")
    note = few_converged_note(summary)
    if note:
        lines.append(f"  note        {note}")
    if out_dir is not None:
        lines.append(f"  outputs     {out_dir}")
    return "\n".join(lines)
