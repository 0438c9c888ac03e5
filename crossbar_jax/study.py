"""One parameter point of the Monte Carlo study: validate, run or resume, write the outputs.

`run_study` is the whole job of ``experiments/convergence.py``: it trains ``mc.n_crossbars``
independently seeded crossbars at the configuration's parameter point and writes, into the job's
output folder,

* ``results.parquet``: one row per crossbar (crossbar, converged, epoch, final_error,
  test_accuracy);
* ``summary.json``: the resolved parameters, the statistics of `crossbar_jax.stats.summarize`,
  timing, and ``config_hash``, a hash of the resolved configuration.

``summary.json`` is written last, each file atomically (`crossbar_jax.outputs`), so its presence
marks a complete job. A job whose folder already holds a summary with the same ``config_hash``
(and its results) is skipped: that is how a sweep stopped midway resumes. Complete results of a
*different* configuration found in the folder (the same ``hydra.run.dir`` reused, a changed
yaml file) are moved to ``.superseded/<their config_hash>/`` first, never overwritten.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from crossbar_jax.config import (
    GRID_KEYS,
    ConfigError,
    StudySpec,
    job_dirname,
    validate_config,
)
from crossbar_jax.outputs import (
    RESULTS,
    SUMMARY,
    read_json,
    remove_stale_temporaries,
    write_json,
    write_parquet,
)
from crossbar_jax.report import FEW_CONVERGED, few_converged_note
from crossbar_jax.stats import summarize

__all__ = ["config_hash", "flatten", "format_summary", "grid_points", "run_study"]

SUPERSEDED = ".superseded"  # where results of a replaced configuration are kept

# Left out of the config hash, so that a rerun that changes only these resumes instead of
# recomputing: the chunk size changes no result (crossbar i's outcome does not depend on it),
# and the curve is identified by its content (device.curve_sha256), not by where the file lies
# (a moved checkout, another mount point on a cluster node). The same holds for the depression
# curve and the measured shift map, hashed by content (``*_sha256``).
_NOT_HASHED = (
    "mc.chunk_size", "device.curve", "device.depression_curve", "device.shift.map",
    "device.curve_pool",
)  # fmt: skip


def flatten(tree: dict, prefix: str = "") -> dict:
    """Nested dicts to one level with dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def config_hash(params: dict) -> str:
    """Hash of the resolved parameters (curve content included), without execution settings."""
    flat = {k: v for k, v in flatten(params).items() if k not in _NOT_HASHED}
    text = json.dumps(flat, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _complete(out_dir: Path) -> dict | None:
    """The summary of a complete job in `out_dir`, else None."""
    summary = read_json(out_dir / SUMMARY)
    if summary is None or not (out_dir / RESULTS).is_file():
        return None
    return summary


def _differences(old: dict, new: dict, limit: int = 5) -> str:
    a = {k: v for k, v in flatten(old).items() if k not in _NOT_HASHED}
    b = {k: v for k, v in flatten(new).items() if k not in _NOT_HASHED}
    keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    shown = [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys[:limit]]
    more = f" (and {len(keys) - limit} more)" if len(keys) > limit else ""
    return "; ".join(shown) + more


def _set_aside(out: Path, previous: dict) -> Path:
    """Move a complete job of another configuration to ``out/.superseded/<its hash>/``.

    Nothing written is lost; the folder is hidden so `crossbar_jax.sweep.aggregate` skips it.
    """
    base = out / SUPERSEDED / str(previous.get("config_hash") or "unknown")
    dest, i = base, 1
    while dest.exists():
        dest, i = base.with_name(f"{base.name}-{i}"), i + 1
    dest.mkdir(parents=True)
    # Link (or copy) both files first, then unlink: killed at any point, every file still
    # exists in at least one of the two folders.
    for name in (RESULTS, SUMMARY):
        try:
            os.link(out / name, dest / name)
        except OSError:
            shutil.copy2(out / name, dest / name)
    for name in (SUMMARY, RESULTS):
        (out / name).unlink()
    return dest


def _general_kwargs(spec: StudySpec) -> dict:
    """The general engine's extra arguments: non-idealities and shift distribution."""
    return {
        "nonideal": spec.nonideal,
        "distribution": spec.shift["distribution"],
        "shift_map": spec.shift_map,
    }


def _simulate(spec: StudySpec):
    """Run the Monte Carlo in the requested precision; float64 needs JAX's 64-bit mode.

    The fast engine (`run_monte_carlo`) runs the reference model; a study with a non-ideality
    or another shift distribution runs on the general engine (`run_monte_carlo_nonideal`).
    """
    import jax

    from crossbar_jax.montecarlo import run_monte_carlo, run_monte_carlo_nonideal

    precision = spec.mc["precision"]
    runner, extra = run_monte_carlo, {}
    if spec.general:
        runner, extra = run_monte_carlo_nonideal, _general_kwargs(spec)
    # Scoped, so a float32 job after a float64 one in the same process (the basic launcher
    # runs every job of a sweep in one process) computes exactly as it would alone.
    with jax.enable_x64(precision == "float64"):
        result = runner(
            spec.mc["seed"],
            spec.mc["n_crossbars"],
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


def run_study(
    cfg: DictConfig,
    out_dir,
    *,
    job: dict | None = None,
    echo: Callable[[str], None] | None = print,
) -> dict:
    """Run (or resume) one study job and write its outputs into `out_dir`.

    With an in-process grid (``grid.*`` lists, see `crossbar_jax.config.GridConfig`), the job
    runs every grid point, each into a folder of its own below `out_dir` (`_run_grid_study`).

    Args:
        cfg: the composed configuration (see `crossbar_jax.config.StudyConfig`).
        out_dir: the job's output folder (Hydra's ``runtime.output_dir``).
        job: optional description of the Hydra job (number, overrides), stored in the summary.
        echo: where the one-screen summary and the skip notice go (None: nowhere).

    Returns:
        The summary dict, as written to ``summary.json`` (or as found, when skipped); for a
        grid, ``{"grid": [each point's summary], "sweep": out_dir}``.

    Raises:
        crossbar_jax.config.ConfigError: invalid configuration; raised before any compilation.
    """
    say = echo or (lambda _: None)
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.structured(cfg)
    spec = validate_config(cfg)
    out = Path(out_dir)
    if grid_points(cfg):
        return _run_grid_study(cfg, out, job=job, say=say)
    digest = config_hash(spec.params)
    previous = _resume_or_prepare(out, digest, spec, say)
    if previous is not None:
        return previous
    t0 = time.perf_counter()
    result, platform = _simulate(spec)
    return _finish_job(cfg, spec, out, digest, result, platform, job, say, t0)


def _resume_or_prepare(out: Path, digest: str, spec: StudySpec, say) -> dict | None:
    """The summary of a complete job of this configuration in `out` (skip it), else None
    after making `out` ready for a new job (another configuration's results set aside)."""
    previous = _complete(out)
    if previous is not None:
        if previous.get("config_hash") == digest:
            say(
                f"skipping: {out} already holds complete results of this configuration "
                f"(config_hash {digest}); delete its {SUMMARY} to recompute"
            )
            say(format_summary(previous, out))
            return previous
        kept = _set_aside(out, previous)
        say(
            f"note: {out} held results of a different configuration "
            f"({_differences(previous.get('params', {}), spec.params)}); "
            f"moved them to {kept}"
        )
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    # From here until the new summary is written the folder holds no complete job.
    (out / SUMMARY).unlink(missing_ok=True)
    return None


def _finish_job(cfg, spec, out, digest, result, platform, job, say, t0, timing=None) -> dict:
    """Write a job's results, figures and report, then its summary (last); return the summary."""
    frame = _results_frame(result)
    write_parquet(out / RESULTS, frame)

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
        "config_hash": digest,
        "job": job,
        "versions": _versions(platform),
    }
    if cfg.report.figures:
        # Before summary.json: a job killed while drawing is not taken as complete.
        _figures_and_report(out, frame, summary, spec, cfg.report.crossbars)
    write_json(out / SUMMARY, summary)
    say(format_summary(summary, out))
    return summary


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


def _point_name(point: dict) -> str:
    """A point's override string and folder name, as a multirun job's (keys sorted)."""
    return ",".join(f"{key}={point[key]:g}" for key in sorted(point))


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
    from crossbar_jax.report import make_sweep_outputs
    from crossbar_jax.sweep import aggregate, write_sweep

    jobs = []
    for num, point in enumerate(grid_points(cfg)):  # validate every point before any work
        name = _point_name(point)
        point_cfg = _point_config(cfg, point)
        try:
            spec = validate_config(point_cfg)
        except ConfigError as exc:
            raise ConfigError(f"grid point {num} ({name}): {exc}") from None
        jobs.append((num, name, point_cfg, spec, config_hash(spec.params)))
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
                point_cfg, spec, folder, digest, result, platform, point_job, say, t0, share
            )
    df = aggregate(out)
    write_sweep(df, out)
    if cfg.report.figures:
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


def _figures_and_report(
    out: Path, frame: pd.DataFrame, summary: dict, spec: StudySpec, crossbars
) -> None:
    """figures/ and report.md, with the trajectories of a few crossbars replayed from their keys."""
    from crossbar_jax.history import pick_crossbars, record_job_history
    from crossbar_jax.report import make_run_outputs

    n = len(frame)
    if crossbars:
        ids = [int(i) for i in crossbars]
        bad = [i for i in ids if not 0 <= i < n]
        if bad:
            raise ConfigError(f"report.crossbars={list(crossbars)}: indices must be in [0, {n})")
    else:
        ids = pick_crossbars(frame["converged"].to_numpy(), frame["crossbar"].to_numpy())
    history = (
        record_job_history(summary, ids, curve=spec.curve, shift_map=spec.shift_map)
        if len(ids)
        else None
    )
    make_run_outputs(out, frame, summary, history=history)


def _g(x) -> str:
    return "-" if x is None else f"{x:g}"


def _nonideal_text(params: dict) -> str:
    """The non-idealities of a job's params (keys at their defaults are absent): one line."""
    from crossbar_jax.nonideal import nonideal_from_params

    return nonideal_from_params(params, load_files=False).describe()


def format_summary(summary: dict, out_dir=None) -> str:
    """A one-screen text summary of a study job."""
    p = summary["params"]
    dev, tr, mc, sh = p["device"], p["training"], p["mc"], p["device"]["shift"]
    ds = p["dataset"]
    low, high = summary["convergence_rate_ci95"]
    q = summary.get("epoch_quantiles")
    quant = (
        f"p10={q['p10']}  p50={q['p50']}  p90={q['p90']} (converged crossbars)"
        if q
        else "none converged"
    )
    if q and summary["converged"] < FEW_CONVERGED:
        quant += f" -- from only {summary['converged']} crossbar(s)"
    km = summary.get("km_median_epoch")
    km_text = f"{km}" if km is not None else f"> {tr['epochs']} (at most half converged)"
    t = summary["timing"]
    rate = t.get("trainings_per_s")
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
        f"  chunk={mc['chunk_size']}",
        f"  converged   {summary['converged']} / {summary['n_crossbars']} = "
        f"{summary['convergence_rate']:.4g}  (95% CI {low:.4g} - {high:.4g})",
        f"  epochs      {quant}",
        f"  KM median   {km_text}",
        f"  accuracy    mean test accuracy {summary['mean_test_accuracy']:.4f}",
        f"  timing      compile {t['compile_s']:.2f} s, train {t['train_s']:.2f} s"
        + (f", {rate:,.0f} trainings/s" if rate else ""),
    ]
    groups = summary.get("dimensionless")
    if groups:
        lines.insert(-4, f"  groups      pi1={groups['pi1']:.4g}  pi2={groups['pi2']:.4g}")
    note = few_converged_note(summary)
    if note:
        lines.append(f"  note        {note}")
    if nonideal != "ideal":  # the reference model's summary stays as it was
        lines.insert(5, f"  non-ideal   {nonideal}")
    return "\n".join(lines)
