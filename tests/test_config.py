"""The app's configuration: schema, defaults, experiments, and clear errors on bad input."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

import crossbar_jax.app.study as study
import crossbar_jax.montecarlo as montecarlo
from crossbar_jax.app.config import (
    ConfigError,
    StudyConfig,
    default_curve_path,
    job_dirname,
    validate_config,
)
from crossbar_jax.app.study import run_study

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))


def test_yaml_defaults_equal_the_schema_defaults(compose_cfg):
    """conf/*.yaml and crossbar_jax.app.config.StudyConfig state the same defaults."""
    cfg = OmegaConf.to_container(compose_cfg("report.figures=true"), resolve=True)
    assert cfg == asdict(StudyConfig())
    assert cfg["training"] == {
        "beta": 6e6,
        "positive_target": 0.8,
        "negative_target": -0.8,
        "epochs": 50,
        "v0": -0.1,
        "v1": 0.1,
        "update": "potentiate",  # the reference's update (non-idealities: all off by default)
        "mode": "batch",  # the reference's batch update, one per epoch
        "shuffle": False,
    }
    assert cfg["device"]["adc"] == {"bits": None, "range": None}  # off: exact reads
    assert cfg["device"]["relaxation"] == {"fraction": 0.0, "tau": None}  # off
    assert cfg["device"]["k"] == 10.0
    assert cfg["device"]["shift"] == {
        "distribution": "lognormal_minmax",
        "low": 1e-8,
        "high": 1e-7,
        "division_factor": 5.0,
        "map": None,
    }
    assert cfg["mc"]["chunk_size"] is None and cfg["mc"]["precision"] == "float32"


def test_main_job_defaults_are_the_informative_point(compose_cfg):
    """No experiment given: the shipped curve with its fitted curve noise at beta 6e7; the
    fitted values are those of data/lsmo_gaq3_model.json. experiment=reference keeps
    ALGORITHM.md's point with no curve noise (and its params, hence its config_hash)."""
    import json

    fit = json.loads((REPO / "data" / "lsmo_gaq3_model.json").read_text())
    spec = validate_config(compose_cfg("experiment=default"))
    assert spec.train["beta"] == 6e7 and spec.train["k"] == 10.0
    assert spec.nonideal.curve_noise_std == fit["residual_std_S"]
    assert spec.nonideal.curve_noise_correlation == fit["residual_lag1_autocorrelation"]
    assert spec.params["device"]["curve_noise"] == {
        "std": fit["residual_std_S"],
        "correlation": fit["residual_lag1_autocorrelation"],
    }
    ref = validate_config(compose_cfg("experiment=reference"))
    plain = validate_config(compose_cfg())
    assert ref.train == plain.train and ref.train["beta"] == 6e6
    assert ref.nonideal.is_ideal and "curve_noise" not in ref.params["device"]
    assert ref.params == {**plain.params, "mc": ref.params["mc"]}


def test_curve_noise_and_pool_keys(compose_cfg, tmp_path):
    """Numbers or 'fitted'; a pool as a list or a folder; errors name the key."""
    import numpy as np

    curve = np.loadtxt(REPO / "data" / "lsmo_gaq3_model.csv", skiprows=1)
    for i, n in enumerate((10, 51)):
        np.savetxt(tmp_path / f"c{i}.csv", curve[:n], header="Conductance(S)", comments="")
    spec = validate_config(
        compose_cfg("device.curve_noise.std=2e-9", f"device.curve_pool={tmp_path}")
    )
    assert spec.nonideal.curve_noise_std == 2e-9 and len(spec.nonideal.curve_pool) == 2
    assert [len(c) for c in spec.nonideal.curve_pool] == [10, 51]
    assert len(spec.params["device"]["curve_pool_sha256"]) == 2
    listed = validate_config(compose_cfg(f"device.curve_pool=[{tmp_path / 'c1.csv'}]"))
    assert len(listed.nonideal.curve_pool) == 1
    for override, text in [
        ("device.curve_noise.std=-1e-9", "device.curve_noise.std=-1e-09: must be finite and >= 0"),
        ("device.curve_noise.std=abc", "device.curve_noise.std='abc': expected a number >= 0"),
        ("device.curve_noise.correlation=1.0", "device.curve_noise.correlation=1.0: must lie"),
        (f"device.curve_pool={tmp_path / 'none'}", "device.curve_pool="),
    ]:
        cfg = compose_cfg("device.curve_noise.std=1e-9", override)
        with pytest.raises(ConfigError, match=None) as exc:
            validate_config(cfg)
        assert text in str(exc.value), str(exc.value)
    other = tmp_path / "nojson.csv"
    np.savetxt(other, curve, header="Conductance(S)", comments="")
    with pytest.raises(ConfigError, match="device.curve_noise.std=fitted: needs"):
        validate_config(compose_cfg(f"device.curve={other}", "device.curve_noise.std=fitted"))


def test_default_curve_is_the_shipped_one(compose_cfg):
    spec = validate_config(compose_cfg())
    assert spec.curve_path == default_curve_path() == REPO / "data" / "lsmo_gaq3_model.csv"
    assert spec.curve.ndim == 1 and spec.curve.size >= 2
    assert spec.params["device"]["curve"] == str(spec.curve_path)


def test_required_experiments_exist():
    assert {"reference", "beta_k_grid", "targets", "shift_range"} <= set(EXPERIMENTS)


def _sweep_values(key: str, values) -> list:
    """The values of a sweep's ``key=values``: a list's items, or an interval's two ends."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep

    parsed = OverridesParser.create().parse_override(f"{key}={values}").value()
    if isinstance(parsed, IntervalSweep):
        return [parsed.start, parsed.end]
    if isinstance(parsed, ChoiceSweep):
        return [str(v) for v in parsed.list]
    return [str(parsed)]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiments_are_global_deltas_that_compose_and_validate(compose_cfg, name):
    text = (REPO / "conf" / "experiment" / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_")
    cfg = compose_cfg(f"experiment={name}", return_hydra_config=True)
    assert cfg.experiment_name == name
    sweep = dict(cfg.hydra.sweeper.params or {})
    validate_config(cfg)  # the hydra node is ignored
    # Every swept value must be valid too: check each one at its point (an Optuna search
    # range, interval(a, b), at both its ends).
    for key, values in sweep.items():
        for value in _sweep_values(key, values):
            if (REPO / "conf" / key).is_dir():  # a config group (nonideality=c2c): compose it
                validate_config(compose_cfg(f"experiment={name}", f"{key}={value}"))
                continue
            point = cfg.copy()
            OmegaConf.update(point, key, value)  # the typed node converts "2e6" to 2e6
            validate_config(point)


def test_output_folders_are_deterministic(compose_cfg):
    """No timestamps: rerunning a command maps its jobs to the same folders (resume)."""
    cfg = compose_cfg(return_hydra_config=True)
    assert "${now:" not in OmegaConf.to_yaml(cfg.hydra.run) + OmegaConf.to_yaml(cfg.hydra.sweep)
    assert "override_dirname" in OmegaConf.to_container(cfg.hydra.sweep)["subdir"]
    assert "mc.progress" in cfg.hydra.job.config.override_dirname.exclude_keys


def test_job_folder_names_are_safe_and_deterministic():
    assert job_dirname("") == "defaults"
    assert job_dirname("device.k=30,training.beta=2e7") == "device.k=30,training.beta=2e7"
    assert "/" not in job_dirname("device.curve=/data/g.csv,device.k=3")
    long = ",".join(f"training.key{i}=0.123456789" for i in range(40))
    name = job_dirname(long)
    assert len(name.encode()) <= 96 and name == job_dirname(long)
    assert job_dirname(long + "1") != name  # the hash keeps long names apart


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local", "submitit_slurm", "slurm"])
def test_launcher_configs_compose(compose_cfg, launcher):
    cfg = compose_cfg(f"hydra/launcher={launcher}", return_hydra_config=True)
    expected = {
        "joblib": "JoblibLauncher",
        "submitit_local": "LocalLauncher",
        "submitit_slurm": "SlurmLauncher",
        "slurm": "SlurmLauncher",
    }[launcher]
    assert cfg.hydra.launcher._target_.endswith(expected)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("training.bta=1e6", "training.bta"),
        ("devise.k=3", "devise"),
        ("mc.n_crosbars=10", "mc.n_crosbars"),
        ("training.beta=abc", "training.beta"),
        ("training.epochs=1.5", "training.epochs"),
        ("mc.n_crossbars=many", "mc.n_crossbars"),
        ("dataset.train.patterns=[[0,0.5,0,1]]", "dataset.train.patterns"),
    ],
)
def test_typos_and_wrong_types_fail_naming_the_key(compose_cfg, override, key):
    with pytest.raises((HydraException, OmegaConfBaseException)) as info:
        compose_cfg(override)
    assert key in str(info.value) or key in str(info.value.__cause__)


TRAIN_LABELS_3 = "[[0,1,0],[1,0,0],[1,0,0],[0,1,0],[0,1,0],[1,0,0]]"
TRAIN_PATTERNS_3BIT = "[[0,0,1],[0,1,0],[1,1,0],[0,0,1],[1,0,1],[1,1,0]]"

# (overrides, the key the message must name, a fragment of the value it must quote)
BAD_INPUTS = [
    (["training.beta=-1"], "training.beta", "-1"),
    (["training.beta=0"], "training.beta", "0"),
    (["training.beta=inf"], "training.beta", "inf"),
    (["training.beta=nan"], "training.beta", "nan"),
    (["device.k=0"], "device.k", "0"),
    (["device.k=-3"], "device.k", "-3"),
    (["device.k=inf"], "device.k", "inf"),
    (["training.positive_target=1.0"], "training.positive_target", "1.0"),
    (["training.positive_target=1.5"], "training.positive_target", "1.5"),
    (["training.negative_target=-1.0"], "training.negative_target", "-1.0"),
    (["training.negative_target=-2"], "training.negative_target", "-2"),
    (
        ["training.positive_target=0.5", "training.negative_target=0.5"],
        "training.negative_target",
        "0.5",
    ),
    (
        ["training.positive_target=0.2", "training.negative_target=0.6"],
        "training.negative_target",
        "0.6",
    ),
    (["training.epochs=0"], "training.epochs", "0"),
    (["training.epochs=-5"], "training.epochs", "-5"),
    (["training.v1=inf"], "training.v1", "inf"),
    (["mc.n_crossbars=0"], "mc.n_crossbars", "0"),
    (["mc.n_crossbars=-10"], "mc.n_crossbars", "-10"),
    (["mc.chunk_size=0"], "mc.chunk_size", "0"),
    (["mc.seed=-1"], "mc.seed", "-1"),
    (["mc.seed=4294967296"], "mc.seed", "4294967296"),
    (["device.shift.low=0"], "device.shift.low", "0"),
    (["device.shift.low=-1e-8"], "device.shift.low", "-1e-08"),
    (["device.shift.low=1e-7"], "device.shift.high", "1e-07"),
    (["device.shift.low=2e-7"], "device.shift.high", "1e-07"),
    (["device.shift.division_factor=0"], "device.shift.division_factor", "0"),
    (["device.shift.division_factor=-2"], "device.shift.division_factor", "-2"),
    (["mc.precision=float16"], "mc.precision", "float16"),
    (["mc.precision=double"], "mc.precision", "double"),
    (["device.shift.distribution=normal"], "device.shift.distribution", "normal"),
    (["device.cols=3"], "device.cols", "3"),
    (["device.curve_column=[1]"], "device.curve_column", "[1]"),
    (["dataset.train.patterns.0.1=2"], "dataset.train.patterns", "2"),
    (["dataset.test.patterns.3.0=5"], "dataset.test.patterns", "5"),
    (["dataset.train.labels.0.0=-1"], "dataset.train.labels", "-1"),
    (["dataset.test.labels.9.1=2"], "dataset.test.labels", "2"),
    ([f"dataset.train.labels={TRAIN_LABELS_3}"], "dataset.train.labels", "(6, 3)"),
    (["dataset.train.labels=[[0,1],[1,0]]"], "dataset.train.labels", "2 label rows"),
    (
        ["dataset.test.labels=[[0],[0],[1],[0],[1],[0],[0],[0],[0],[0]]"],
        "dataset.test.labels",
        "(10, 1)",
    ),
    ([f"dataset.train.patterns={TRAIN_PATTERNS_3BIT}"], "dataset.train.patterns", "3 bits"),
    (["dataset.test.patterns=[]", "dataset.test.labels=[]"], "dataset.test.patterns", "(0,)"),
    (["device.rows=5"], "dataset.train.patterns", "device.rows=5"),
    # "+" forces a new key past Hydra's struct mode; the schema check still refuses it
    (["+training.bta=1e6"], "training.bta", "beta"),
    (["+device.shift.sigma=2"], "device.shift.sigma", "division_factor"),
    (["+foo=1"], "foo", "training"),
]


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if the study gets as far as running JAX; count compilations too."""

    def forbidden(spec):
        raise AssertionError("validation should have failed before any simulation")

    monkeypatch.setattr(study, "_simulate", forbidden)
    count = getattr(montecarlo, "compile_count", lambda: None)
    before = count()
    yield
    assert count() == before, "a bad input must be rejected before any compilation"


def _assert_rejected(cfg, tmp_path, key, value):
    with pytest.raises(ConfigError) as info:
        run_study(cfg, tmp_path / "out", echo=None)
    message = str(info.value)
    assert key in message, message
    assert value in message, message
    assert not (tmp_path / "out").exists(), "nothing may be written for a bad input"
    return message


@pytest.mark.parametrize(
    ("overrides", "key", "value"), BAD_INPUTS, ids=[" ".join(o) for o, _, _ in BAD_INPUTS]
)
def test_bad_input_is_rejected_before_compilation_naming_the_key(
    compose_cfg, tmp_path, no_simulation, overrides, key, value
):
    _assert_rejected(compose_cfg("mc.progress=false", *overrides), tmp_path, key, value)


def test_range_errors_say_what_is_allowed(compose_cfg, tmp_path, no_simulation):
    msg = _assert_rejected(compose_cfg("training.beta=-1"), tmp_path, "training.beta", "-1")
    assert "> 0" in msg
    msg = _assert_rejected(
        compose_cfg("training.positive_target=1.5"), tmp_path, "positive_target", "1.5"
    )
    assert "(-1, 1)" in msg
    msg = _assert_rejected(compose_cfg("mc.precision=half"), tmp_path, "mc.precision", "half")
    assert "float32" in msg and "float64" in msg


CURVES = {
    "empty.csv": ("", "empty"),
    "header_only.csv": ("Conductance(S)\n", "no data lines"),
    "text.csv": ("Conductance(S)\n1e-7\nabc\n", "non-numeric"),
    "negative.csv": ("Conductance(S)\n1e-7\n-2e-7\n", "positive"),
    "nan.csv": ("Conductance(S)\n1e-7\nnan\n", "NaN"),
    "one_point.csv": ("Conductance(S)\n1e-7\n", "at least 2 points"),
}


@pytest.mark.parametrize("name", sorted(CURVES))
def test_curve_file_problems_name_device_curve_and_the_file(
    compose_cfg, tmp_path, no_simulation, name
):
    text, reason = CURVES[name]
    path = tmp_path / name
    path.write_text(text)
    msg = _assert_rejected(compose_cfg(f"device.curve={path}"), tmp_path, "device.curve", name)
    assert reason in msg


def test_missing_curve_file_and_folder(compose_cfg, tmp_path, no_simulation):
    msg = _assert_rejected(
        compose_cfg(f"device.curve={tmp_path / 'nope.csv'}"), tmp_path, "device.curve", "nope.csv"
    )
    assert "not found" in msg
    (tmp_path / "adir").mkdir()
    msg = _assert_rejected(
        compose_cfg(f"device.curve={tmp_path / 'adir'}"), tmp_path, "device.curve", "adir"
    )
    assert "directory" in msg


def test_unknown_curve_column(compose_cfg, tmp_path, no_simulation):
    path = tmp_path / "curve.csv"
    path.write_text("Conductance(S)\n1e-7\n2e-7\n")
    msg = _assert_rejected(
        compose_cfg(f"device.curve={path}", "device.curve_column=G"),
        tmp_path,
        "device.curve",
        "curve.csv",
    )
    assert "'G'" in msg


def test_missing_shipped_curve_is_a_clear_error(compose_cfg, tmp_path, no_simulation, monkeypatch):
    import crossbar_jax.app.config as config

    monkeypatch.setattr(config, "default_curve_path", lambda: tmp_path / "gone.csv")
    msg = _assert_rejected(compose_cfg(), tmp_path, "device.curve", "null")
    assert "gone.csv" in msg and "missing" in msg


def test_curve_options_and_relative_paths(compose_cfg, tmp_path, monkeypatch):
    """A relative device.curve resolves against the starting folder; format options pass on."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "curve.dat").write_text(
        "# instrument preamble\nsome header line\npulse G\n0 1e-7\n1 1.5e-7\n2 1.4e-7\n"
    )
    monkeypatch.chdir(tmp_path)
    spec = validate_config(
        compose_cfg(
            "device.curve=data/curve.dat", "device.curve_column=G", "device.curve_skiprows=2"
        )
    )
    assert spec.curve_path == tmp_path / "data" / "curve.dat"
    assert spec.curve.tolist() == [1e-7, 1.5e-7, 1.4e-7]  # kept as measured: not sorted
