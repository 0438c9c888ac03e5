"""How much the figures add to the main job's wall time: the job with and without them.

    python experiments/figure_overhead.py [--pairs 3] [OVERRIDE ...]

Runs the study app (``crossbar-jax``, default settings plus OVERRIDEs) in a fresh process,
alternating ``report.figures=true`` and ``report.figures=false`` back to back, `--pairs`
times, each into its own temporary folder (so nothing is skipped as already complete), and
prints every wall time, the medians and their ratio. Wall time is the whole process: Python
and JAX start-up, compilation, training, statistics, and the figures and report.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = [sys.executable, "-c", "from crossbar_jax.cli import app; app()"]


def _wall(folder: Path, figures: bool, overrides: list[str]) -> float:
    args = [
        f"report.figures={str(figures).lower()}",
        "mc.progress=false",
        f"hydra.run.dir={folder}",
    ]
    t0 = time.perf_counter()
    done = subprocess.run([*APP, *args, *overrides], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"error: the app failed:\n{done.stdout}{done.stderr}")
    return wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="runs with and without (3)")
    parser.add_argument("overrides", nargs="*", help="overrides for both runs")
    args = parser.parse_args(argv)
    times = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.pairs):
            for figures in (True, False):
                wall = _wall(Path(tmp) / f"{i}-{figures}", figures, args.overrides)
                times[figures].append(wall)
                print(f"pair {i + 1}: figures={str(figures).lower():5s} {wall:6.2f} s", flush=True)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print(f"median with figures {on:.2f} s, without {off:.2f} s: ratio {on / off:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
