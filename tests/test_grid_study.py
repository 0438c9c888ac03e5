"""The in-process grid job (``grid.*``): one batch, the outputs of one job per point."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from crossbar_jax import montecarlo
from crossbar_jax.app.config import ConfigError
from crossbar_jax.app.outputs import RESULTS, SUMMARY
from crossbar_jax.app.study import grid_points, run_study

# 256 crossbars: the chunk shape of test_study's jobs, so the single-point executable is shared
GRID = ("mc.n_crossbars=256", "mc.progress=false", "grid.beta=[6e6,2e7]", "grid.k=[10,30]")
NAMES = [
    "device.k=10,training.beta=6e+06",
    "device.k=30,training.beta=6e+06",
    "device.k=10,training.beta=2e+07",
    "device.k=30,training.beta=2e+07",
]


@pytest.fixture(scope="module")
def grid_job(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    import crossbar_jax.app.config  # noqa: F401

    conf = Path(__file__).resolve().parents[1] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(
            config_name="config", overrides=["~experiment", "report.figures=false", *GRID]
        )
    out = tmp_path_factory.mktemp("grid")
    result = run_study(cfg, out, echo=None)
    return cfg, out, result


def test_every_point_has_the_outputs_of_its_own_job(grid_job, compose_cfg, tmp_path):
    cfg, out, result = grid_job
    assert [s["job"]["override_dirname"] for s in result["grid"]] == NAMES
    for j, name in enumerate(NAMES):
        k, beta = (float(part.split("=")[1]) for part in name.split(","))
        single = compose_cfg(
            "mc.n_crossbars=256", "mc.progress=false", f"training.beta={beta}", f"device.k={k}"
        )
        alone = run_study(single, tmp_path / str(j), echo=None)
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / name / RESULTS), pd.read_parquet(tmp_path / str(j) / RESULTS)
        )
        point = json.loads((out / name / SUMMARY).read_text())
        for key in (
            "params",
            "config_hash",
            "convergence_rate",
            "epoch_quantiles",
            "mean_test_accuracy",
            "km_median_epoch",
        ):
            assert point[key] == alone[key], key
        assert point["timing"]["grid_points"] == 4
    sweep = pd.read_csv(out / "sweep.csv")
    assert sorted(sweep["job"]) == sorted(NAMES)
    assert {"training.beta", "device.k"} <= set(sweep.columns)


def test_a_rerun_skips_every_point_and_compiles_nothing(grid_job):
    cfg, out, _ = grid_job
    before = {n: os.stat(out / n / SUMMARY).st_mtime_ns for n in NAMES}
    compiled = montecarlo.compile_count()
    again = run_study(cfg, out, echo=None)
    assert montecarlo.compile_count() == compiled
    assert {n: os.stat(out / n / SUMMARY).st_mtime_ns for n in NAMES} == before
    assert len(again["grid"]) == 4


def test_a_bad_point_is_named_before_anything_runs(compose_cfg, tmp_path):
    cfg = compose_cfg("grid.negative_target=[-0.5,0.9]")
    with pytest.raises(ConfigError, match=r"grid point 1 \(training.negative_target=0.9\)"):
        run_study(cfg, tmp_path / "bad", echo=None)
    assert not (tmp_path / "bad").exists()


def test_the_one_job_experiment_is_the_beta_k_grid(compose_cfg):
    points = grid_points(compose_cfg("experiment=beta_k_grid_onejob"))
    assert len(points) == 20
    assert {p["training.beta"] for p in points} == {2e6, 6e6, 1e7, 2e7, 4e7}
    assert {p["device.k"] for p in points} == {3.0, 10.0, 30.0, 100.0}
    assert grid_points(compose_cfg()) == []
