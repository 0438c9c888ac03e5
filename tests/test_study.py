"""One study job in-process: outputs, determinism, resume, aggregation, reference agreement."""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import crossbar_jax.app.outputs as outputs
from crossbar_jax.app.outputs import RESULTS, SUMMARY, atomic_write
from crossbar_jax.app.study import run_study
from crossbar_jax.app.sweep import BadJobsError, aggregate, write_sweep

N = 256  # one chunk shape for every small run here, so the executable compiles once
SMALL = ("mc.n_crossbars=256", "mc.progress=false", "training.beta=2e7")


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _state(folder) -> dict:
    """(mtime, content hash) of the job's output files."""
    return {n: (os.stat(folder / n).st_mtime_ns, _digest(folder / n)) for n in (RESULTS, SUMMARY)}


@pytest.fixture(scope="module")
def small_job(tmp_path_factory):
    """A small job run once for the module: (folder, summary, printed text)."""
    import contextlib
    import io

    from hydra import compose, initialize_config_dir

    import crossbar_jax.app.config  # noqa: F401

    conf = Path(__file__).resolve().parents[1] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        # the trajectory figures are opt-in; this job draws them too
        cfg = compose(
            config_name="config", overrides=["~experiment", *SMALL, "report.trajectories=true"]
        )
    out = tmp_path_factory.mktemp("job")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        summary = run_study(cfg, out)
    return out, summary, buf.getvalue()


def test_outputs_of_one_job(small_job):
    out, summary, printed = small_job
    df = pd.read_parquet(out / RESULTS)
    assert list(df.columns)[:5] == [
        "crossbar",
        "converged",
        "epoch",
        "final_error",
        "test_accuracy",
    ]
    assert len(df) == N and df["crossbar"].tolist() == list(range(N))
    assert df["converged"].dtype == bool

    on_disk = json.loads((out / SUMMARY).read_text())
    assert on_disk == summary
    for key in (
        "params",
        "n_crossbars",
        "converged",
        "convergence_rate",
        "convergence_rate_ci95",
        "epoch_quantiles",
        "km_median_epoch",
        "mean_test_accuracy",
        "timing",
    ):
        assert key in summary, key
    assert summary["n_crossbars"] == N
    assert summary["converged"] == int(df["converged"].sum()) > 0
    assert summary["convergence_rate"] == pytest.approx(df["converged"].mean())
    low, high = summary["convergence_rate_ci95"]
    assert low < summary["convergence_rate"] < high
    assert set(summary["epoch_quantiles"]) == {"p10", "p50", "p90"}
    conv = df.loc[df["converged"], "epoch"]
    assert conv.min() <= summary["epoch_quantiles"]["p50"] <= conv.max()
    assert summary["mean_test_accuracy"] == pytest.approx(df["test_accuracy"].mean(), abs=1e-6)
    assert set(summary["timing"]) >= {"compile_s", "train_s", "trainings_per_s"}
    assert summary["params"]["training"]["beta"] == 2e7
    assert summary["params"]["mc"] == {
        "n_crossbars": N,
        "seed": 0,
        "chunk_size": None,  # the engine's default
        "precision": "float32",
    }
    assert summary["params"]["device"]["shift"]["low"] == 1e-8
    # the one-screen summary
    assert "converged" in printed and "95% CI" in printed and "trainings/s" in printed
    assert len(printed.splitlines()) <= 24
    assert not list(out.glob(".*.tmp"))
    # figures and report.md beside the results (report.figures defaults to true)
    pngs = sorted((out / "figures").glob("*.png"))
    names = {p.name for p in pngs}
    assert {"epoch_histogram.png", "kaplan_meier.png", "test_accuracy.png"} <= names
    assert any(n.startswith("crossbar_") for n in names)  # trajectories of inspected crossbars
    assert all(p.stat().st_size > 10_000 for p in pngs)
    report = (out / "report.md").read_text()
    assert "kaplan_meier.png" in report and "convergence" in report.lower()


def test_no_crossbar_converged_gives_null_quantiles(compose_cfg, tmp_path):
    summary = run_study(compose_cfg(*SMALL, "training.beta=1e5"), tmp_path, echo=None)
    assert summary["converged"] == 0
    assert summary["epoch_quantiles"] is None and summary["km_median_epoch"] is None
    assert json.loads((tmp_path / SUMMARY).read_text())["epoch_quantiles"] is None


def test_same_seed_same_results_bit_for_bit(compose_cfg, tmp_path, small_job):
    out, _, _ = small_job
    again = run_study(compose_cfg(*SMALL), tmp_path / "again", echo=None)
    a = pd.read_parquet(out / RESULTS)
    b = pd.read_parquet(tmp_path / "again" / RESULTS)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert _digest(out / RESULTS) == _digest(tmp_path / "again" / RESULTS)
    assert again["config_hash"] == small_job[1]["config_hash"]
    other = run_study(compose_cfg(*SMALL, "mc.seed=1"), tmp_path / "seed1", echo=None)
    assert other["config_hash"] != again["config_hash"]
    assert not pd.read_parquet(tmp_path / "seed1" / RESULTS).equals(a)


@pytest.mark.slow  # one of the longest of the default run (5-10 s)
def test_results_do_not_depend_on_chunk_size(compose_cfg, tmp_path, small_job):
    out, _, _ = small_job
    run_study(compose_cfg(*SMALL, "mc.chunk_size=100"), tmp_path, echo=None)
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / RESULTS), pd.read_parquet(tmp_path / RESULTS), check_exact=True
    )


def test_float64_runs_in_its_own_mode_and_leaves_float32_alone(compose_cfg, tmp_path, small_job):
    """The basic launcher runs a sweep's jobs in one process: precision must not leak."""
    import jax

    x64_before = jax.config.jax_enable_x64
    s64 = run_study(compose_cfg(*SMALL, "mc.precision=float64"), tmp_path / "f64", echo=None)
    assert s64["params"]["mc"]["precision"] == "float64"
    assert pd.read_parquet(tmp_path / "f64" / RESULTS)["final_error"].dtype == np.float64
    assert jax.config.jax_enable_x64 == x64_before
    run_study(compose_cfg(*SMALL), tmp_path / "f32", echo=None)
    pd.testing.assert_frame_equal(
        pd.read_parquet(small_job[0] / RESULTS),
        pd.read_parquet(tmp_path / "f32" / RESULTS),
        check_exact=True,
    )


def test_rerun_skips_a_complete_job_and_touches_nothing(compose_cfg, small_job, capsys):
    out, summary, _ = small_job
    before = _state(out)
    # the progress bar and chunk size are execution settings: still the same job
    again = run_study(compose_cfg(*SMALL, "mc.chunk_size=128"), out)
    assert "skipping" in capsys.readouterr().out
    assert again == summary
    assert _state(out) == before


def test_the_curve_is_hashed_by_content_not_by_path(compose_cfg, tmp_path, capsys):
    from crossbar_jax.app.config import default_curve_path

    copy = tmp_path / "elsewhere" / "curve.csv"
    copy.parent.mkdir()
    copy.write_bytes(default_curve_path().read_bytes())
    out = tmp_path / "job"
    first = run_study(compose_cfg(*SMALL), out, echo=None)
    assert (
        run_study(compose_cfg(*SMALL, f"device.curve={copy}"), out)["config_hash"]
        == (first["config_hash"])
    )
    assert "skipping" in capsys.readouterr().out
    # another curve, same path (its last point raised: a lowered first point would make the
    # model's conductances negative, which validation refuses)
    head, _, tail = copy.read_text().rpartition("e-07")
    copy.write_text(head + "e-06" + tail)
    changed = run_study(compose_cfg(*SMALL, f"device.curve={copy}"), out, echo=None)
    assert changed["config_hash"] != first["config_hash"]


def test_a_different_configuration_sets_the_old_results_aside(compose_cfg, tmp_path, capsys):
    """The same folder reused for another configuration: nothing is lost or overwritten."""
    first = run_study(compose_cfg(*SMALL), tmp_path, echo=None)
    before = {n: _digest(tmp_path / n) for n in (RESULTS, SUMMARY)}
    new = run_study(compose_cfg(*SMALL, "device.k=30"), tmp_path)
    text = capsys.readouterr().out
    assert "different configuration" in text and "device.k: 10.0 -> 30.0" in text
    assert new["params"]["device"]["k"] == 30.0
    assert json.loads((tmp_path / SUMMARY).read_text())["params"]["device"]["k"] == 30.0
    kept = tmp_path / ".superseded" / first["config_hash"]
    assert {n: _digest(kept / n) for n in (RESULTS, SUMMARY)} == before
    # aggregate sees one job: the folder's current one, not the superseded
    df = aggregate(tmp_path)
    assert len(df) == 1 and df["device.k"].tolist() == [30.0]
    # and back again: the k=30 results are set aside in turn, next to the first ones
    again = run_study(compose_cfg(*SMALL), tmp_path, echo=None)
    assert again["config_hash"] == first["config_hash"]
    assert (tmp_path / ".superseded" / new["config_hash"] / RESULTS).is_file()


def test_an_interrupted_job_is_redone(compose_cfg, tmp_path, small_job, capsys):
    """Results without a summary (killed between the two writes) and stale temporaries."""
    out, _, _ = small_job
    (tmp_path / RESULTS).write_bytes(b"half a parquet file")
    (tmp_path / f".{SUMMARY}.12345.tmp").write_text('{"trunc')
    run_study(compose_cfg(*SMALL), tmp_path)
    assert "skipping" not in capsys.readouterr().out
    assert _digest(tmp_path / RESULTS) == _digest(out / RESULTS)
    assert not list(tmp_path.glob(".*.tmp"))


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "summary.json"
    outputs.write_json(target, {"old": 1})

    def crash(tmp):
        tmp.write_text('{"new": ')  # half written, then the process "dies"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, crash)
    assert json.loads(target.read_text()) == {"old": 1}
    assert not list(tmp_path.glob(".*.tmp"))


def test_aggregate_a_2x2_sweep(compose_cfg, tmp_path):
    """Four jobs as a multirun lays them out; aggregate gives one row per job."""
    root = tmp_path / "multirun"
    for beta in ("6e6", "2e7"):
        for k in ("10", "30"):
            job = root / f"device.k={k},training.beta={beta}"
            run_study(compose_cfg(*SMALL, f"training.beta={beta}", f"device.k={k}"), job, echo=None)
    (root / "not_a_job").mkdir()
    (root / "not_a_job" / SUMMARY).write_text("{}")  # not one of the app's summaries
    with pytest.raises(BadJobsError, match=r"not_a_job: summary.json lacks the app's params"):
        aggregate(root)  # named, not silently left out (issue 12)
    df = aggregate(root, skip_bad=True)
    assert len(df) == 4
    assert df.attrs["swept"] == ["device.k", "training.beta"]
    assert list(df.columns[:3]) == ["job", "device.k", "training.beta"]
    assert sorted(zip(df["device.k"], df["training.beta"], strict=True)) == [
        (10.0, 6e6),
        (10.0, 2e7),
        (30.0, 6e6),
        (30.0, 2e7),
    ]
    for col in (
        "convergence_rate",
        "ci_low",
        "ci_high",
        "km_median_epoch",
        "epoch_p50",
        "mean_test_accuracy",
        "n_crossbars",
        "converged",
        "train_s",
        "trainings_per_s",
        "mc.seed",
        "training.positive_target",
    ):
        assert col in df.columns, col
    assert (df["ci_low"] <= df["convergence_rate"]).all()
    parquet, csv = write_sweep(df, root)
    back = pd.read_parquet(parquet)
    assert len(back) == 4 and back.attrs["swept"] == ["device.k", "training.beta"]
    assert len(pd.read_csv(csv)) == 4


def test_aggregate_of_an_empty_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no summary.json"):
        aggregate(tmp_path)


def _reference_groups(parity) -> dict:
    """Reference cases grouped by parameter point; the shift range is each case's min and max
    (the lognormal min-max puts exactly one device at `low` and one at `high`)."""
    groups = defaultdict(list)
    for case in parity["cases"]:
        s = np.asarray(case["shifts"])
        key = (
            case["beta"],
            case["positive_target"],
            case["negative_target"],
            case["K"],
            float(f"{s.min():.3g}"),
            float(f"{s.max():.3g}"),
        )
        groups[key].append(bool(case["converged"]))
    return groups


@pytest.mark.slow  # one of the longest of the default run (5-10 s)
def test_convergence_rates_agree_with_the_reference(compose_cfg, reference_dir, parity, tmp_path):
    """The app, with its own random shifts, estimates the reference's convergence rates.

    For every reference parameter point with >= 20 runs, the app trains n_app = 20000 crossbars
    on the measured curve and its rate p is compared with the reference's k/n_ref. The
    difference of two independent binomial proportions has standard deviation
    sqrt(p(1-p)/n_ref + p(1-p)/n_app); the reference's n_ref (26-27 runs) dominates. 3.5 sigma
    keeps the chance of a false alarm over the 15 points below 1% under a correct engine.
    sigma uses p smoothed as (k_app + 1) / (n_app + 2) so that it is not 0 when the app sees no
    (or only) convergence: a reference success where the app measured p = 0 over 20000
    crossbars should then fail, and does (by many sigma).
    """
    curve = reference_dir / "lsmo_gaq3_potentiation.csv"
    n_app = 20000
    report, bad = [], []
    for (beta, tp, tn, k, low, high), flags in sorted(_reference_groups(parity).items()):
        if len(flags) < 20:
            continue
        s = run_study(
            compose_cfg(
                f"device.curve={curve}",
                f"training.beta={beta}",
                f"training.positive_target={tp}",
                f"training.negative_target={tn}",
                f"device.k={k}",
                f"device.shift.low={low}",
                f"device.shift.high={high}",
                "device.shift.division_factor=5",
                f"mc.n_crossbars={n_app}",
                "mc.seed=7",
                "mc.progress=false",
            ),
            tmp_path / f"{beta}_{tp}_{tn}_{k}_{low}_{high}",
            echo=None,
        )
        n_ref, p_ref = len(flags), float(np.mean(flags))
        p = s["convergence_rate"]
        ps = (s["converged"] + 1) / (n_app + 2)
        sigma = np.sqrt(ps * (1 - ps) * (1 / n_ref + 1 / n_app))
        z = abs(p - p_ref) / sigma
        report.append(
            f"beta={beta:g} t+={tp} t-={tn} k={k:g} shift=[{low:g},{high:g}]: "
            f"reference {p_ref:.3f} (n={n_ref}), app {p:.4f}, z={z:.2f}"
        )
        if z > 3.5:
            bad.append(report[-1])
    print("\n".join(report))
    assert len(report) == 15
    assert not bad, "\n".join(bad)
