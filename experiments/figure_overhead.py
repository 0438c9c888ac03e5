"""How much the figures add to the main job's wall time: the job with and without them.

    python experiments/figure_overhead.py [--pairs 3] [OVERRIDE ...]

Runs the study app (``crossbar-jax``, default settings plus OVERRIDEs) in a fresh process,
alternating ``report.figures=true`` and ``report.figures=false`` back to back, `--pairs`
times, each into its own temporary folder (so nothing is skipped as already complete), and
prints every wall time and CPU time (user + system, which depends less on other load on the
machine), the medians and their ratios, and the load average. Wall time is the whole process: Python
and JAX start-up, compilation, training, statistics, and the figures and report.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = [sys.executable, "-c", "from crossbar_jax.app.cli import app; app()"]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wall(folder: Path, figures: bool, overrides: list[str]) -> tuple[float, float]:
    args = [
        f"report.figures={str(figures).lower()}",
        "mc.progress=false",
        f"hydra.run.dir={folder}",
    ]
    t0, c0 = time.perf_counter(), _cpu()
    done = subprocess.run([*APP, *args, *overrides], capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    if done.returncode != 0:
        raise SystemExit(f"error: the app failed:\n{done.stdout}{done.stderr}")
    return wall, cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="runs with and without (3)")
    parser.add_argument("overrides", nargs="*", help="overrides for both runs")
    args = parser.parse_args(argv)
    times = {True: [], False: []}
    cpus = {True: [], False: []}
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.pairs):
            for figures in (True, False):
                wall, cpu = _wall(Path(tmp) / f"{i}-{figures}", figures, args.overrides)
                times[figures].append(wall)
                cpus[figures].append(cpu)
                print(
                    f"pair {i + 1}: figures={str(figures).lower():5s} {wall:6.2f} s wall, "
                    f"{cpu:6.2f} s CPU",
                    flush=True,
                )
    on, off = statistics.median(times[True]), statistics.median(times[False])
    con, coff = statistics.median(cpus[True]), statistics.median(cpus[False])
    print(f"median wall: with figures {on:.2f} s, without {off:.2f} s: ratio {on / off:.2f}")
    print(f"median CPU:  with figures {con:.2f} s, without {coff:.2f} s: ratio {con / coff:.2f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
