"""The SLURM request check's rules and parsing, without a cluster (tests/test_slurm.py runs it
against a real one)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from crossbar_jax.app import slurm
from crossbar_jax.app.slurm import Partition, request_problems

REPO = Path(__file__).resolve().parents[1]
NODE = Partition("debug", nodes=1, max_cpus=2, max_mem_mb=22899, max_gpus=0,
                 max_time_min=120.0, state="UP")  # fmt: skip


def _launcher(**kw):
    base = dict(cpus_per_task=1, mem_gb=2, gpus_per_node=None, tasks_per_node=1, nodes=1,
                timeout_min=60)  # fmt: skip
    return OmegaConf.create({**base, **kw})


def test_the_preset_defaults_fit_a_two_cpu_node():
    preset = OmegaConf.load(REPO / "conf" / "hydra" / "launcher" / "slurm.yaml")
    launcher = _launcher(**{k: preset[k] for k in ("cpus_per_task", "mem_gb", "timeout_min")})
    assert request_problems(launcher, NODE) == []
    assert preset.cpus_per_task == 1 and preset.mem_gb <= 2


KEY = "hydra.launcher."
NO_NODE = ": partition 'debug' has no node with "


@pytest.mark.parametrize(
    "kw, expected",
    [
        ({"cpus_per_task": 4}, KEY + "cpus_per_task=4" + NO_NODE + "4 CPUs"),
        ({"cpus_per_task": 1, "tasks_per_node": 3}, NO_NODE + "3 CPUs"),
        ({"mem_gb": 8}, None),
        ({"mem_gb": 23}, KEY + "mem_gb=23" + NO_NODE + "23552 MB"),
        ({"gpus_per_node": 1}, KEY + "gpus_per_node=1" + NO_NODE + "1 GPUs"),
        ({"nodes": 2}, KEY + "nodes=2: partition 'debug' has 1 node(s)"),
        ({"timeout_min": 121}, KEY + "timeout_min=121: partition 'debug' allows at most 120 min"),
    ],
)
def test_requests_the_partition_never_gives_are_named(kw, expected):
    problems = request_problems(_launcher(**kw), NODE)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expected in problems[0]
        assert "PENDING forever" in problems[0]


def test_a_down_partition_is_named():
    problems = request_problems(_launcher(), NODE._replace(state="DOWN"))
    assert problems == [
        "hydra.launcher.partition=debug: the partition is DOWN, it starts no jobs; pick another "
        "partition"
    ]


@pytest.mark.parametrize(
    "text, minutes",
    [("UNLIMITED", None), ("30", 30.0), ("1:30:00", 90.0), ("2-00:00:00", 2880.0), ("10:30", 10.5)],
)
def test_slurm_times(text, minutes):
    assert slurm._minutes(text) == minutes


@pytest.mark.parametrize(
    "gres, n", [("(null)", 0), ("gpu:4", 4), ("gpu:a100:2(S:0-1)", 2), ("gpu:1,gpu:v100:2", 3)]
)
def test_gpus_from_gres(gres, n):
    assert slurm._gpus(gres) == n


def test_partition_info_reads_sinfo_and_scontrol(monkeypatch):
    nodes = "g1|8|64000|gpu:2\ng2|16|128000|gpu:a100:4(S:0)\n"
    part = "PartitionName=gpu MaxTime=1-00:00:00 MaxCPUsPerNode=12 MaxMemPerNode=UNLIMITED State=UP"
    answers = {
        ("sinfo", "-h", "-o", "%P"): "debug*\ngpu\n",
        ("sinfo", "-h", "-N", "-p", "gpu", "-o", "%N|%c|%m|%G"): nodes,
        ("scontrol", "show", "partition", "gpu", "-o"): part + "\n",
    }
    monkeypatch.setattr(slurm.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(slurm, "_run", lambda *cmd: answers.get(cmd))
    part = slurm.partition_info("gpu")
    assert part == Partition("gpu", 2, 12, 128000, 4, 1440.0, "UP")
    with pytest.raises(
        LookupError, match="no partition 'cpu'; the cluster has \\['debug', 'gpu'\\]"
    ):
        slurm.partition_info("cpu")
    assert slurm.check_launcher(OmegaConf.create({"partition": "cpu"})) == [
        "hydra.launcher.partition=cpu: no partition 'cpu'; the cluster has ['debug', 'gpu']"
    ]


def test_no_slurm_no_check(monkeypatch):
    monkeypatch.setattr(slurm.shutil, "which", lambda name: None)
    assert slurm.check_launcher(_launcher(cpus_per_task=999, partition=None)) == []
