"""The app with non-idealities: configuration keys, their checks, outputs and config hashes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import crossbar_jax.app.study as study
from crossbar_jax.app.config import ConfigError, validate_config
from crossbar_jax.app.outputs import RESULTS, SUMMARY
from crossbar_jax.app.study import config_hash, run_study

REPO = Path(__file__).resolve().parents[1]
SMALL = ("mc.n_crossbars=400", "mc.progress=false", "training.beta=2e7", "device.k=30")

# The config_hash of the default study before the non-idealities existed (commit 93dbddf's
# config.py and conf/): a study that uses none of them keeps its hash, so its outputs resume.
DEFAULT_HASH = "e7d8dd7685a485c3"
BETA_K_HASH = "c37cce989d367c7c"  # training.beta=2e7 device.k=30, the same way


def test_default_studies_keep_their_params_and_config_hash(compose_cfg):
    spec = validate_config(compose_cfg())
    assert not spec.general and spec.nonideal.is_ideal
    p = spec.params
    assert set(p["device"]) == {"curve", "curve_sha256", "curve_points", "k", "rows", "cols",
                                "shift"}  # fmt: skip
    assert set(p["device"]["shift"]) == {"distribution", "low", "high", "division_factor"}
    assert set(p["training"]) == {"beta", "positive_target", "negative_target", "epochs", "v0",
                                  "v1"}  # fmt: skip
    assert set(p["dataset"]) == {"name", "train", "test"}
    assert (p["device"]["rows"], p["device"]["cols"]) == (4, 4)  # from the dataset
    assert config_hash(p) == DEFAULT_HASH
    assert config_hash(validate_config(compose_cfg("device.rows=4", "device.cols=4")).params) == (
        DEFAULT_HASH
    )
    beta_k = validate_config(compose_cfg("training.beta=2e7", "device.k=30"))
    assert config_hash(beta_k.params) == BETA_K_HASH


def test_nonideality_keys_enter_params_when_on(compose_cfg):
    spec = validate_config(
        compose_cfg(
            "device.c2c_std=4e-9", "device.read_noise=0.05", "device.stuck.fraction=0.1",
            "device.stuck.level=high", "training.update=bidirectional",
        )
    )  # fmt: skip
    assert spec.general
    ni = spec.nonideal
    assert (ni.c2c_std, ni.read_noise, ni.stuck_fraction, ni.stuck_level, ni.update) == (
        4e-9, 0.05, 0.1, "high", "bidirectional",
    )  # fmt: skip
    dev, tr = spec.params["device"], spec.params["training"]
    assert dev["c2c_std"] == 4e-9 and dev["read_noise"] == 0.05
    assert dev["stuck"] == {"fraction": 0.1, "level": "high"}
    assert tr["update"] == "bidirectional"
    hashes = {config_hash(validate_config(compose_cfg(o)).params) for o in (
        "device.c2c_std=4e-9", "device.c2c_std=8e-9", "device.read_noise=0.05",
        "device.stuck.fraction=0.1", "training.update=bidirectional",
    )}  # fmt: skip
    assert len(hashes) == 5 and DEFAULT_HASH not in hashes


def _curve_file(path: Path, values) -> Path:
    path.write_text("Conductance(S)\n" + "\n".join(f"{v:.12e}" for v in values) + "\n")
    return path


BAD = [
    (["device.c2c_std=-1e-9"], "device.c2c_std", "-1e-09"),
    (["device.c2c_std=inf"], "device.c2c_std", "inf"),
    (["device.read_noise=-0.1"], "device.read_noise", "-0.1"),
    (["device.stuck.fraction=1.5"], "device.stuck.fraction", "1.5"),
    (["device.stuck.fraction=-0.1"], "device.stuck.fraction", "-0.1"),
    (["device.stuck.level=middle"], "device.stuck.level", "middle"),
    (["training.update=both"], "training.update", "both"),
    (["device.shift.distribution=gamma"], "device.shift.distribution", "gamma"),
    (["device.shift.distribution=measured"], "device.shift.map", "null"),
    (["dataset.kind=alphabet"], "dataset.kind", "alphabet"),
    (["dataset=letters", "dataset.holdout_per_letter=10"], "dataset.holdout_per_letter", "10"),
    (["dataset=letters", "device.rows=4"], "device.rows=4", "10 bits"),
    (["dataset=letters", "device.cols=4"], "device.cols=4", "3 neuron"),
    (["dataset.kind=letters"], "dataset.train", "empty"),
]


@pytest.mark.parametrize(("overrides", "key", "value"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_nonideal_input_names_the_key(compose_cfg, tmp_path, no_simulation, overrides, key,
                                          value):  # fmt: skip
    with pytest.raises(ConfigError) as info:
        run_study(compose_cfg(*overrides), tmp_path / "out", echo=None)
    assert key in str(info.value) and value in str(info.value), str(info.value)
    assert not (tmp_path / "out").exists()


def test_file_inputs_are_checked(compose_cfg, tmp_path, no_simulation):
    curve = np.loadtxt(REPO / "data" / "lsmo_gaq3_model.csv", skiprows=1)
    short = _curve_file(tmp_path / "short.csv", curve[:10])
    with pytest.raises(ConfigError, match=r"device\.depression_curve.*same number of points"):
        validate_config(compose_cfg(f"device.depression_curve={short}"))
    with pytest.raises(ConfigError, match=r"device\.depression_curve='.*nope\.csv'.*not found"):
        validate_config(compose_cfg(f"device.depression_curve={tmp_path / 'nope.csv'}"))
    bad_map = tmp_path / "map.csv"
    bad_map.write_text("\n".join(",".join(["1e-8"] * 4) for _ in range(3)))
    msg = r"device\.shift\.map=.*shape \(3, 4\).*expected shape \(4, 4\)"
    with pytest.raises(ConfigError, match=msg):
        validate_config(
            compose_cfg("device.shift.distribution=measured", f"device.shift.map={bad_map}")
        )
    with pytest.raises(ConfigError, match=r"device\.shift\.map=.*only with"):
        validate_config(compose_cfg(f"device.shift.map={bad_map}"))


def test_depression_curve_and_shift_map_are_hashed_by_content(compose_cfg, tmp_path):
    curve = np.loadtxt(REPO / "data" / "lsmo_gaq3_model.csv", skiprows=1)
    a = _curve_file(tmp_path / "a.csv", curve[::-1])
    (tmp_path / "sub").mkdir()
    b = _curve_file(tmp_path / "sub" / "b.csv", curve[::-1])
    c = _curve_file(tmp_path / "c.csv", curve[::-1] * 1.01)
    up = "training.update=bidirectional"
    h = [
        config_hash(validate_config(compose_cfg(up, f"device.depression_curve={f}")).params)
        for f in (a, b, c)
    ]
    assert h[0] == h[1] != h[2]


NONIDEAL = ("device.c2c_std=4e-9", "device.stuck.fraction=0.1", "training.update=bidirectional")


@pytest.mark.slow  # one of the longest of the default run (5-10 s)
def test_a_nonideal_job_replays_its_crossbars(compose_cfg, tmp_path):
    """The inspected crossbars' histories (general engine, the job's draws) end in the
    outcomes the job recorded; the one-screen summary names the effects."""
    from crossbar_jax.history import record_job_history

    summary = run_study(compose_cfg(*SMALL, *NONIDEAL), tmp_path, echo=None)
    df = pd.read_parquet(tmp_path / RESULTS)
    assert len(df) == 400 and 0 < df["converged"].mean() < 1
    assert json.loads((tmp_path / SUMMARY).read_text()) == summary
    assert summary["params"]["device"]["stuck"]["fraction"] == 0.1
    ids = [0, 1, 2, 3, 4, 5, 6, 7]
    hist = record_job_history(summary, ids)
    np.testing.assert_array_equal(hist.converged, df["converged"].to_numpy()[ids])
    np.testing.assert_array_equal(hist.epoch, df["epoch"].to_numpy()[ids])
    text = study.format_summary(summary)
    assert "non-ideal   c2c_std=4e-09 S, stuck 0.1 low, bidirectional" in text
    assert "non-ideal" not in study.format_summary(
        {**summary, "params": validate_config(compose_cfg()).params}
    )


@pytest.mark.slow
def test_a_nonideal_job_writes_figures_and_report(compose_cfg, tmp_path):
    run_study(
        compose_cfg(*SMALL, *NONIDEAL, "report.figures=true", "report.trajectories=true"),
        tmp_path,
        echo=None,
    )
    figures = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    assert {"epoch_histogram.png", "kaplan_meier.png", "test_accuracy.png"} <= set(figures)
    assert any(f.startswith("crossbar_") for f in figures)
    assert "c2c_std" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_other_distributions_and_measured_maps_run_in_the_app(compose_cfg, tmp_path):
    """A measured map gives every crossbar the same devices: without a stochastic effect all
    crossbars share one outcome; read noise then tells them apart."""
    map_file = tmp_path / "map.csv"
    rng = np.random.default_rng(0)
    map_file.write_text(
        "\n".join(",".join(f"{v:.6e}" for v in row) for row in rng.uniform(1e-8, 1e-7, (4, 4)))
    )
    base = (*SMALL, "device.shift.distribution=measured", f"device.shift.map={map_file}")
    same = run_study(compose_cfg(*base), tmp_path / "same", echo=None)
    assert same["convergence_rate"] in (0.0, 1.0)
    noisy = run_study(compose_cfg(*base, "device.read_noise=0.1"), tmp_path / "noisy", echo=None)
    assert len(pd.read_parquet(tmp_path / "noisy" / RESULTS)["epoch"].unique()) > 1
    assert noisy["params"]["device"]["shift"]["map"] == str(map_file)
    for dist in ("lognormal", "truncated_normal", "uniform"):
        s = run_study(compose_cfg(*SMALL, f"device.shift.distribution={dist}"),
                      tmp_path / dist, echo=None)  # fmt: skip
        assert s["params"]["device"]["shift"]["distribution"] == dist
        assert 0 < s["convergence_rate"] < 1


def test_grid_of_a_nonideal_study(compose_cfg, tmp_path):
    cfg = compose_cfg(*SMALL, "device.c2c_std=4e-9", "grid.k=[10,30]")
    out = run_study(cfg, tmp_path, echo=None)
    assert len(out["grid"]) == 2
    rates = [s["convergence_rate"] for s in out["grid"]]
    single = run_study(
        compose_cfg(*SMALL, "device.c2c_std=4e-9", "device.k=10"), tmp_path / "one", echo=None
    )
    assert rates[0] == single["convergence_rate"]
    assert (tmp_path / "sweep.csv").is_file()
