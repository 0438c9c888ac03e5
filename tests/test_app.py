"""The app from the command line: single runs, multiruns on each launcher, resume, aggregate.

Each test starts `python experiments/convergence.py` in a subprocess with its working folder in
tmp_path, so Hydra's outputs/ and multirun/ land there.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "experiments" / "convergence.py"
AGGREGATE = REPO / "experiments" / "aggregate.py"
TINY = ["mc.n_crossbars=64", "mc.progress=false", "report.figures=false"]


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env["HYDRA_FULL_ERROR"] = "0"
    return env


def _app(cwd, *args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(APP), *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _jobs(sweep_dir: Path) -> dict[str, Path]:
    return {p.parent.name: p.parent for p in sorted(sweep_dir.glob("[!.]*/summary.json"))}


def _sweep(cwd: Path) -> Path:
    """The one sweep folder under cwd/multirun (the folder of its multirun.yaml); each sweep
    gets a folder named after its overrides, multirun/default/<overrides>."""
    found = sorted((cwd / "multirun").rglob("multirun.yaml"))
    assert len(found) <= 1, found
    return found[0].parent if found else cwd / "multirun" / "none yet"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bad_input_exits_with_a_message_naming_the_key(tmp_path):
    bad = _app(tmp_path, *TINY, "training.positive_target=1.2")
    assert bad.returncode != 0
    assert "training.positive_target=1.2" in bad.stderr and "(-1, 1)" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not list(tmp_path.rglob("summary.json"))
    assert not (tmp_path / "outputs").exists()  # the job folder Hydra made is removed


@pytest.mark.slow
def test_single_run_prints_a_summary_and_rejects_a_typo(tmp_path):
    done = _app(tmp_path, *TINY, "training.beta=2e7")
    assert done.returncode == 0, done.stderr
    assert "converged" in done.stdout and "95% CI" in done.stdout
    out = tmp_path / "outputs" / "default" / "mc.n_crossbars=64,training.beta=2e7"
    assert (out / "results.parquet").is_file() and (out / "summary.json").is_file()
    again = _app(tmp_path, *TINY, "training.beta=2e7")
    assert again.returncode == 0 and "skipping:" in again.stdout
    typo = _app(tmp_path, *TINY, "training.bta=1")
    assert typo.returncode != 0 and "training.bta" in typo.stderr


@pytest.mark.slow
def test_2x2_multirun_then_aggregate_gives_4_rows(tmp_path):
    done = _app(tmp_path, "-m", *TINY, "training.beta=6e6,2e7", "device.k=10,30")
    assert done.returncode == 0, done.stderr
    sweep = _sweep(tmp_path)
    assert (
        sweep
        == tmp_path / "multirun/default/device.k=10,30__mc.n_crossbars=64__training.beta=6e6,2e7"
    )
    assert len(_jobs(sweep)) == 4
    agg = subprocess.run(
        [sys.executable, str(AGGREGATE), str(sweep)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert agg.returncode == 0, agg.stderr
    assert "4 jobs" in agg.stdout
    df = pd.read_parquet(sweep / "sweep.parquet")
    assert len(df) == 4 and len(pd.read_csv(sweep / "sweep.csv")) == 4
    assert set(df.attrs["swept"]) == {"training.beta", "device.k"}
    assert set(zip(df["training.beta"], df["device.k"], strict=True)) == {
        (6e6, 10.0),
        (6e6, 30.0),
        (2e7, 10.0),
        (2e7, 30.0),
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher",
    [
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"],
    ],
    ids=["joblib", "submitit_local"],
)
def test_tiny_sweep_on_a_parallel_launcher(tmp_path, launcher):
    done = _app(tmp_path, "-m", *launcher, *TINY, "training.beta=6e6,2e7")
    assert done.returncode == 0, done.stdout + done.stderr
    sweep = _sweep(tmp_path)
    jobs = _jobs(sweep)
    assert len(jobs) == 2
    rates = {}
    for job in jobs.values():
        s = json.loads((job / "summary.json").read_text())
        assert s["n_crossbars"] == 64
        assert len(pd.read_parquet(job / "results.parquet")) == 64
        rates[s["params"]["training"]["beta"]] = s["converged"]
    # the same crossbars as the basic launcher would train: compare with an in-process count
    basic = _app(tmp_path, "-m", *TINY, "training.beta=6e6,2e7", "hydra.sweep.dir=basic")
    assert basic.returncode == 0, basic.stderr
    for job in _jobs(tmp_path / "basic").values():
        s = json.loads((job / "summary.json").read_text())
        assert rates[s["params"]["training"]["beta"]] == s["converged"]


@pytest.mark.slow
def test_a_sweep_killed_midway_resumes_and_loses_nothing(tmp_path):
    """Kill a 3-job sweep once its first job is complete; rerun the same command."""
    args = [
        "-m",
        "mc.n_crossbars=200000",
        "mc.chunk_size=50000",
        "mc.progress=false",
        "report.figures=false",
        "training.beta=2e7",
        "device.k=10,11,12",
    ]
    proc = subprocess.Popen(
        [sys.executable, str(APP), *args],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not _jobs(_sweep(tmp_path)) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        sweep = _sweep(tmp_path)
        assert _jobs(sweep), "no job completed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    first = _jobs(sweep)
    if len(first) == 3:  # a machine fast enough to finish 2 jobs in one 50 ms poll
        pytest.skip("the sweep finished before it could be stopped midway")
    assert len(first) >= 1
    kept = {
        name: {
            f: (os.stat(d / f).st_mtime_ns, _digest(d / f))
            for f in ("results.parquet", "summary.json")
        }
        for name, d in first.items()
    }

    done = _app(tmp_path, *args, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("skipping:") == len(first)
    jobs = _jobs(sweep)
    assert len(jobs) == 3
    for name, files in kept.items():  # what was complete is untouched
        for f, state in files.items():
            assert (os.stat(jobs[name] / f).st_mtime_ns, _digest(jobs[name] / f)) == state
    for job in jobs.values():
        assert not list(job.glob(".*.tmp"))
        assert len(pd.read_parquet(job / "results.parquet")) == 200000
