"""The app's hydra/launcher=slurm on a real single-node SLURM cluster (tools/slurm_cluster.sh).

The module starts the cluster (installing slurm-wlm, slurmdbd, munge and mariadb-server with
apt-get if they are missing), runs sweeps through submitit's SLURM launcher, and stops exactly
the daemons it started. It needs root on Debian; elsewhere every test is skipped with the
reason. A job killed with scancel must make the sweep fail with a message naming the kill (the
launcher must not wait forever), and the same command must then resume the sweep.
"""

from __future__ import annotations

import json
import os
import shutil
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
CLUSTER = REPO / "tools" / "slurm_cluster.sh"
TINY = ["mc.n_crossbars=64", "mc.progress=false", "report.figures=false"]
SLURM = ["hydra/launcher=slurm", "hydra.launcher.timeout_min=10"]

pytestmark = [pytest.mark.slow, pytest.mark.slurm]


def _why_not() -> str | None:
    if not sys.platform.startswith("linux"):
        return "needs Linux"
    if os.geteuid() != 0:
        return "needs root (tools/slurm_cluster.sh installs packages and runs the daemons)"
    if not Path("/etc/debian_version").is_file():
        return "needs Debian (the cluster script installs Debian's slurm-wlm with apt-get)"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "SLURM is not installed and there is no apt-get to install it"
    return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A running cluster for the module: the environment that reaches it (SLURM_CONF)."""
    reason = _why_not()
    if reason:
        pytest.skip(f"SLURM test skipped: {reason}")
    state = tmp_path_factory.mktemp("slurm")
    t0 = time.monotonic()
    start = subprocess.run(
        ["bash", str(CLUSTER), "start", str(state)], capture_output=True, text=True, timeout=900
    )
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        conf = start.stdout.strip().splitlines()[-1].removeprefix("export SLURM_CONF=")
        env = dict(os.environ, SLURM_CONF=conf, HYDRA_FULL_ERROR="0")
        env.setdefault("JAX_PLATFORMS", "cpu")
        print(f"cluster started in {time.monotonic() - t0:.1f} s")
        yield env
    finally:
        stop = subprocess.run(
            ["bash", str(CLUSTER), "stop", str(state)], capture_output=True, text=True, timeout=120
        )
        shutil.rmtree(state / "db", ignore_errors=True)  # the accounting database, ~180 MB
        assert stop.returncode == 0, stop.stderr


def _app(env, cwd, *args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(APP), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _jobs(sweep: Path) -> dict[str, Path]:
    return {p.parent.name: p.parent for p in sorted(sweep.glob("[!.]*/summary.json"))}


def _slurm(env, *cmd) -> str:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30).stdout


def _wait_queue_empty(env, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while _slurm(env, "squeue", "-h", "-o", "%i").strip():
        assert time.monotonic() < deadline, "jobs still in the queue after " + str(limit_s)
        time.sleep(1)


def test_2x2_sweep_on_slurm_then_aggregate(cluster, tmp_path):
    sweep_args = ["-m", *SLURM, *TINY, "training.beta=6e6,2e7", "device.k=10,30"]
    # One known folder: ad-hoc sweeps otherwise name theirs by their overrides.
    done = _app(cluster, tmp_path, *sweep_args, "hydra.sweep.dir=multirun/default")
    assert done.returncode == 0, done.stdout + done.stderr
    sweep = tmp_path / "multirun" / "default"
    jobs = _jobs(sweep)
    assert len(jobs) == 4
    counts = {}
    for job in jobs.values():
        s = json.loads((job / "summary.json").read_text())
        assert s["n_crossbars"] == 64 and s["config_hash"]
        assert len(pd.read_parquet(job / "results.parquet")) == 64
        point = (s["params"]["training"]["beta"], s["params"]["device"]["k"])
        counts[point] = s["converged"]
    assert set(counts) == {(6e6, 10.0), (6e6, 30.0), (2e7, 10.0), (2e7, 30.0)}
    # SLURM ran it: every job has submitit's log and SLURM's accounting knows 4 completed tasks
    assert len(list((sweep / ".submitit").glob("*/*_log.out"))) == 4
    # The accounting daemon records a task's end a moment after the job itself is done (CI saw
    # one task still RUNNING right after the sweep returned): wait for it, up to 60 s.
    deadline = time.monotonic() + 60
    while True:
        states = _slurm(cluster, "sacct", "-X", "-n", "-P", "-o", "State").split()
        if states.count("COMPLETED") >= 4 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert states.count("COMPLETED") >= 4, states
    agg = subprocess.run(
        [sys.executable, str(AGGREGATE), str(sweep)],
        cwd=tmp_path,
        env=cluster,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert agg.returncode == 0, agg.stderr
    df = pd.read_parquet(sweep / "sweep.parquet")
    assert len(df) == 4 and set(df.attrs["swept"]) == {"training.beta", "device.k"}
    # the same crossbars as the basic launcher trains in one process
    basic = _app(cluster, tmp_path, "-m", *sweep_args[3:], "hydra.sweep.dir=basic")
    assert basic.returncode == 0, basic.stderr
    for job in _jobs(tmp_path / "basic").values():
        s = json.loads((job / "summary.json").read_text())
        point = (s["params"]["training"]["beta"], s["params"]["device"]["k"])
        assert counts[point] == s["converged"]


def test_a_request_no_node_can_satisfy_is_refused(cluster, tmp_path):
    """4 CPUs and 64 GB on this cluster's one node (2 CPUs, 24 GB): refused, nothing queued."""
    done = _app(
        cluster,
        tmp_path,
        "-m",
        *SLURM,
        *TINY,
        "hydra.launcher.cpus_per_task=64",
        "hydra.launcher.mem_gb=4096",
        "training.beta=6e6,2e7",
        timeout=120,
    )
    assert done.returncode != 0
    assert "hydra.launcher.cpus_per_task=64: partition 'debug' has no node with 64 CPUs" in (
        done.stderr
    )
    assert "hydra.launcher.mem_gb=4096" in done.stderr and "PENDING forever" in done.stderr
    assert "Traceback" not in done.stderr
    assert not _slurm(cluster, "squeue", "-h", "-o", "%i").strip()


def test_a_job_killed_by_scancel_is_reported_and_the_sweep_resumes(cluster, tmp_path):
    args = [
        "-m",
        *SLURM,
        "mc.n_crossbars=300000",
        "mc.progress=false",
        "report.figures=false",
        "training.beta=6e6,2e7",
        "device.k=10,30",
        "hydra.sweep.dir=multirun/default",  # one known folder for the run and its rerun
    ]
    sweep = tmp_path / "multirun" / "default"
    proc = subprocess.Popen(
        [sys.executable, str(APP), *args],
        cwd=tmp_path,
        env=cluster,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    killed = None
    try:
        deadline = time.monotonic() + 300
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            running = _slurm(cluster, "squeue", "-h", "-t", "R", "-o", "%i").split()
            if running:
                killed = running[0]  # e.g. "3_1": array job 3, task 1
                subprocess.run(["scancel", killed], env=cluster, check=True, timeout=30)
            else:
                time.sleep(0.2)
        assert killed is not None, "no job of the sweep started running"
        # The launcher must notice the kill and stop, not wait for it forever.
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0, out
    assert "CANCELLED" in out, out[-3000:]
    # Let the other jobs of the stopped sweep finish, as their folders are shared with the rerun.
    _wait_queue_empty(cluster, 300)
    first = _jobs(sweep)
    assert len(first) < 4, "the killed job completed anyway"
    kept = {name: os.stat(d / "summary.json").st_mtime_ns for name, d in first.items()}

    again = _app(cluster, tmp_path, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    jobs = _jobs(sweep)
    assert len(jobs) == 4
    for name, mtime in kept.items():  # what was complete was skipped, not recomputed
        assert os.stat(jobs[name] / "summary.json").st_mtime_ns == mtime
    for job in jobs.values():
        assert json.loads((job / "summary.json").read_text())["n_crossbars"] == 300000
        assert len(pd.read_parquet(job / "results.parquet")) == 300000
