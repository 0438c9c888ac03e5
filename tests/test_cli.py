"""The installed commands: help, aggregate's help, clean exits, job folders and sweep folders.

The commands are started the way a user starts them: the console script next to the running
Python when it is installed there (``pip install``), else the same entry point through
``python -c``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crossbar_jax.app.cli import discard_unused_job_dir
from crossbar_jax.app.config import default_curve_path, sweep_dirname
from crossbar_jax.app.resources import conf_dir, data_dir

REPO = Path(__file__).resolve().parents[1]
ENTRY = {
    "crossbar-jax": "from crossbar_jax.app.cli import app; app()",
    "crossbar-jax-aggregate": "from crossbar_jax.app.cli import aggregate_app; aggregate_app()",
    "crossbar-jax-fit": "from crossbar_jax.app.fit_app import fit_app; fit_app()",
}


def _command(name: str) -> list[str]:
    script = Path(sys.executable).parent / name
    return [str(script)] if script.is_file() else [sys.executable, "-c", ENTRY[name]]


def _run(name: str, *args, cwd, timeout=300) -> subprocess.CompletedProcess:
    env = dict(os.environ, JAX_PLATFORMS="cpu", HYDRA_FULL_ERROR="0")
    return subprocess.run(
        [*_command(name), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_help_lists_the_main_keys_with_units_and_no_dataset_dump(tmp_path):
    done = _run("crossbar-jax", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "device.k=10.0" in text and "dimensionless" in text
    assert "training.beta=6e6" in text and "(1/A)" in text
    assert "device.shift.low=1e-8" in text and "(S)" in text
    for study in ("beta_k_grid", "letters", "nonidealities", "reference"):
        assert study in text
    assert "Examples:" in text and "crossbar-jax -m" in text
    assert "patterns:" not in text  # no dump of the dataset lists
    assert len(text.splitlines()) < 120
    assert not list(tmp_path.iterdir()), "--help writes nothing"


def test_aggregate_help_and_a_missing_folder(tmp_path):
    done = _run("crossbar-jax-aggregate", "--help", cwd=tmp_path)
    assert done.returncode == 0 and "SWEEP_DIR" in done.stdout
    missing = _run("crossbar-jax-aggregate", "nowhere", cwd=tmp_path)
    assert missing.returncode == 1
    assert "error: nowhere: not a folder" in missing.stderr and "Traceback" not in missing.stderr


def test_fit_of_a_missing_file_is_one_clean_line(tmp_path):
    done = _run("crossbar-jax-fit", "my_device.csv", "--out-dir", "fits", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: my_device.csv: curve file not found"
    assert not (tmp_path / "fits").exists()


def test_a_refused_run_leaves_no_job_folder(tmp_path):
    done = _run("crossbar-jax", "mc.n_crossbars=64", "training.beta=-1", cwd=tmp_path)
    assert done.returncode != 0
    assert "error: training.beta=-1" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "outputs").exists(), "the job folder Hydra made is removed"


def test_discard_unused_job_dir_removes_only_hydras_files(tmp_path):
    sweep = tmp_path / "multirun" / "s"
    job = sweep / "device.k=3"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text("a: 1\n")
    (job / "crossbar_jax.log").write_text("resolving\n")
    (sweep / "multirun.yaml").write_text("x: 1\n")
    (tmp_path / "other").mkdir()
    assert discard_unused_job_dir(job, top=tmp_path) == [job, sweep, tmp_path / "multirun"]
    assert not (tmp_path / "multirun").exists() and (tmp_path / "other").is_dir()

    kept = tmp_path / "outputs" / "j"
    (kept / ".hydra").mkdir(parents=True)
    (kept / "results.parquet").write_bytes(b"not Hydra's")
    assert discard_unused_job_dir(kept, top=tmp_path) == []
    assert (kept / "results.parquet").is_file()


def test_sweep_folders_come_from_the_sweep_definition():
    exclude = ["experiment", "mc.progress", "report.figures"]
    a = sweep_dirname("default", ["training.beta=6e6,2e7", "device.k=10,30"], exclude)
    assert a == "default/device.k=10,30__training.beta=6e6,2e7"
    assert a == sweep_dirname("default", ["device.k=10,30", "training.beta=6e6,2e7"], exclude)
    # the same sweep at another fixed setting gets another folder, so they cannot mix
    b = sweep_dirname(
        "default", ["training.beta=6e6,2e7", "device.k=10,30", "mc.n_crossbars=5000"], exclude
    )
    assert b != a and "mc.n_crossbars=5000" in b
    # keys that change no result, and Hydra's own, do not count
    assert a == sweep_dirname(
        "default",
        ["training.beta=6e6,2e7", "device.k=10,30", "mc.progress=false", "hydra.verbose=true"],
        exclude,
    )
    assert sweep_dirname("beta_k_grid", ["experiment=beta_k_grid"], exclude) == "beta_k_grid"
    assert "/" not in sweep_dirname("d", ["device.curve=/data/g.csv"], exclude).split("/", 1)[1]


def test_the_sweep_dir_is_named_by_the_cached_sweepdir_resolver(compose_cfg):
    """Hydra re-resolves hydra.sweep.dir in each job from the job's own overrides; the
    resolver is cached, and Hydra copies the sweep's cache into each job, so every job lands in
    the sweep's folder (checked end to end by test_a_multirun_goes_to_its_own_sweep_folder)."""
    from omegaconf import OmegaConf

    cfg = compose_cfg("training.beta=6e6", "device.k=10", return_hydra_config=True)
    node = OmegaConf.to_container(cfg.hydra.sweep)["dir"]
    assert "crossbar_jax.sweepdir" in node and "hydra.overrides.task" in node


def test_resources_are_found_in_the_checkout():
    assert (conf_dir() / "config.yaml").is_file()
    assert (conf_dir() / "hydra" / "help" / "crossbar_jax.yaml").is_file()
    assert default_curve_path() == data_dir() / "lsmo_gaq3_model.csv"
    assert default_curve_path().is_file()


@pytest.mark.slow
def test_run_from_an_empty_folder_writes_summary_and_log_header_first(tmp_path):
    done = _run("crossbar-jax", "mc.n_crossbars=2000", "report.figures=false", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    job = tmp_path / "outputs" / "default" / "mc.n_crossbars=2000"
    assert (job / "summary.json").is_file()
    log = (job / "crossbar_jax.log").read_text()
    for phase in ("resolving", "compiling", "trained 2000 crossbars", "statistics"):
        assert phase in log, phase
    out = done.stdout
    assert out.index("crossbar_jax study") < out.index("compiling") < out.index("converged")


@pytest.mark.slow
def test_a_multirun_goes_to_its_own_sweep_folder(tmp_path):
    args = ["-m", "mc.n_crossbars=64", "mc.progress=false", "report.figures=false"]
    done = _run("crossbar-jax", *args, "training.beta=6e6,2e7", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    sweep = tmp_path / "multirun" / "default" / "mc.n_crossbars=64__training.beta=6e6,2e7"
    assert (sweep / "multirun.yaml").is_file()
    assert len(list(sweep.glob("*/summary.json"))) == 2
