"""A check, before a sweep is submitted to SLURM, that its jobs can ever start.

A job that asks for more than any node of its partition has (``cpus_per_task: 4`` on 2-CPU
nodes, more memory or GPUs than a node holds, a time limit over the partition's) stays PENDING
forever (Reason=PartitionConfig), and the launcher, which waits for every job, waits without a
word. `SlurmRequestCheck` is a Hydra callback (listed in ``conf/config.yaml``): when a multirun
starts with submitit's SLURM launcher (``hydra/launcher=slurm``) it asks SLURM (``sinfo``,
``scontrol show partition``) what the partition offers and stops the sweep, before anything is
submitted, with one line naming the key, the value and what the partition allows. Where SLURM
cannot be asked (no ``sinfo`` on this machine, no controller answering), nothing is checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from typing import Any, NamedTuple

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

__all__ = ["Partition", "SlurmRequestCheck", "partition_info", "request_problems"]

SLURM_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
_TIMEOUT_S = 20  # a controller that does not answer in this time is not asked further


class Partition(NamedTuple):
    """What a SLURM partition offers, as `sinfo` and `scontrol` report it."""

    name: str
    nodes: int  # nodes in the partition
    max_cpus: int  # CPUs of its largest node
    max_mem_mb: int  # memory (MB) of its node with the most
    max_gpus: int  # GPUs (gres gpu) of its node with the most
    max_time_min: float | None  # MaxTime in minutes; None: unlimited
    state: str  # UP, DOWN, DRAIN, INACTIVE


def _run(*cmd: str) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _minutes(text: str) -> float | None:
    """SLURM's time format ([days-]hours:minutes:seconds, minutes, ...) in minutes."""
    if text.upper() in ("UNLIMITED", "INFINITE", "NONE", ""):
        return None
    days, _, rest = text.rpartition("-")
    parts = [float(p) for p in rest.split(":")]
    if len(parts) == 1:  # minutes
        minutes = parts[0]
    elif len(parts) == 2:  # minutes:seconds
        minutes = parts[0] + parts[1] / 60
    else:  # hours:minutes:seconds
        minutes = parts[0] * 60 + parts[1] + parts[2] / 60
    return minutes + (float(days) * 24 * 60 if days else 0.0)


def _gpus(gres: str) -> int:
    """GPUs in a node's gres string ("gpu:4", "gpu:a100:2(S:0-1)", "(null)")."""
    total = 0
    for item in gres.split(","):
        m = re.match(r"gpu(?::[^:(]+)?:(\d+)", item.strip())
        if m:
            total += int(m.group(1))
    return total


def partition_info(name: str | None) -> Partition | None:
    """The partition `name` (None: the cluster's default), or None when SLURM cannot tell.

    Raises:
        LookupError: SLURM answers but has no such partition (or no default one).
    """
    if shutil.which("sinfo") is None:
        return None
    listing = _run("sinfo", "-h", "-o", "%P")
    if listing is None:
        return None
    names = [p.strip() for p in listing.split()]
    if name is None:
        default = [p[:-1] for p in names if p.endswith("*")]
        if not default:
            raise LookupError("the cluster has no default partition")
        name = default[0]
    elif name not in [p.rstrip("*") for p in names]:
        known = sorted({p.rstrip("*") for p in names})
        raise LookupError(f"no partition {name!r}; the cluster has {known}")
    nodes = _run("sinfo", "-h", "-N", "-p", name, "-o", "%N|%c|%m|%G")
    part = _run("scontrol", "show", "partition", name, "-o")
    if nodes is None or part is None:
        return None
    cpus, mem, gpus, seen = [0], [0], [0], set()
    for line in nodes.splitlines():
        fields = line.split("|")
        if len(fields) != 4 or fields[0] in seen:
            continue
        seen.add(fields[0])
        cpus.append(int(re.sub(r"\D", "", fields[1]) or 0))
        mem.append(int(re.sub(r"\D", "", fields[2]) or 0))
        gpus.append(_gpus(fields[3]))
    keys = dict(re.findall(r"(\w+)=(\S+)", part))
    limit_cpus = keys.get("MaxCPUsPerNode", "UNLIMITED")
    limit_mem = keys.get("MaxMemPerNode", "UNLIMITED")
    max_cpus = max(cpus) if limit_cpus == "UNLIMITED" else min(max(cpus), int(limit_cpus))
    max_mem = max(mem) if limit_mem == "UNLIMITED" else min(max(mem), int(limit_mem))
    return Partition(
        name=name,
        nodes=len(seen),
        max_cpus=max_cpus,
        max_mem_mb=max_mem,
        max_gpus=max(gpus),
        max_time_min=_minutes(keys.get("MaxTime", "UNLIMITED")),
        state=keys.get("State", "UP"),
    )


def request_problems(launcher: Any, part: Partition) -> list[str]:
    """What in the launcher's request (``hydra.launcher.*``) `part` can never give, one line
    each, naming the key, the value and the partition's most."""
    key = "hydra.launcher."
    where = f"partition {part.name!r}"
    never = "its jobs would stay PENDING forever"
    out = []
    tasks = int(launcher.get("tasks_per_node") or 1)
    cpus = launcher.get("cpus_per_task")
    if cpus is not None and int(cpus) * tasks > part.max_cpus:
        out.append(
            f"{key}cpus_per_task={cpus}: {where} has no node with {int(cpus) * tasks} CPUs "
            f"(tasks_per_node={tasks} x cpus_per_task; its nodes have at most {part.max_cpus}); "
            f"{never}. One job of this study needs 1 CPU: set {key}cpus_per_task=1"
        )
    mem = launcher.get("mem_gb")
    if mem is not None and int(mem) * 1024 > part.max_mem_mb:
        out.append(
            f"{key}mem_gb={mem}: {where} has no node with {int(mem) * 1024} MB of memory "
            f"(its nodes have at most {part.max_mem_mb} MB); {never}. One job of this study "
            f"needs under 2 GB: set {key}mem_gb=2"
        )
    gpus = launcher.get("gpus_per_node")
    if gpus and int(gpus) > part.max_gpus:
        out.append(
            f"{key}gpus_per_node={gpus}: {where} has no node with {gpus} GPUs (its nodes have "
            f"at most {part.max_gpus}); {never}. Pick a GPU partition with {key}partition=... "
            f"or set {key}gpus_per_node=null"
        )
    nodes = int(launcher.get("nodes") or 1)
    if nodes > part.nodes:
        out.append(f"{key}nodes={nodes}: {where} has {part.nodes} node(s); {never}")
    timeout = launcher.get("timeout_min")
    if timeout is not None and part.max_time_min is not None and timeout > part.max_time_min:
        out.append(
            f"{key}timeout_min={timeout}: {where} allows at most {part.max_time_min:g} minutes "
            f"per job (MaxTime); {never}. Lower it or pick another {key}partition"
        )
    if part.state not in ("UP",):
        out.append(
            f"{key}partition={part.name}: the partition is {part.state}, it starts no jobs; "
            "pick another partition"
        )
    return out


def check_launcher(launcher: DictConfig) -> list[str]:
    """Problems of a SLURM launcher configuration ([] when fine or when SLURM cannot tell)."""
    partition = launcher.get("partition")
    try:
        part = partition_info(None if partition is None else str(partition))
    except LookupError as exc:
        return [f"hydra.launcher.partition={partition}: {exc}"]
    if part is None:
        return []
    return request_problems(launcher, part)


class SlurmRequestCheck(Callback):
    """Hydra callback: refuse a SLURM sweep whose jobs the partition can never start."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        launcher = OmegaConf.select(config, "hydra.launcher")
        if launcher is None or launcher.get("_target_") != SLURM_LAUNCHER:
            return
        problems = check_launcher(launcher)
        if problems:
            # SystemExit, not an exception: one clear message, no traceback (Hydra reports
            # exceptions with a stack trace), and nothing is submitted.
            print("\n".join(f"error: {p}" for p in problems), file=sys.stderr)
            raise SystemExit(2)
