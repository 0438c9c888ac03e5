"""Cost of per-device curve noise and of a pool of curves, against the ideal run, in one process.

    python benchmarks/curve_noise.py                 # 2^17 crossbars, 3 interleaved rounds
    python benchmarks/curve_noise.py --n 65536 --rounds 2

Every task is `run_monte_carlo` on the shipped curve with t +-0.8, k 10, shifts 1e-8..1e-7 S,
50 epochs, the 4-bit task, float32, at one beta (``--beta``, default 6e7: the informative point,
~0.42 converge with the fitted noise). Each round runs every task once (rounds interleaved, so a
shared, loaded machine slows them alike) and the table reports, per task, the median of its
rounds' trainings/s and the median of its per-round ratio to the ideal task of the same round.
Compilation is excluded (`train_s`); every task is run once before the rounds.

* ``ideal``: no non-ideality;
* ``c2c``: cycle-to-cycle noise 4.13e-9 S (for scale: the existing per-pulse noise);
* ``noise-r0``: per-device curve noise, std 4.13e-9 S, correlation 0;
* ``noise-r24``: the same with lag-1 correlation 0.24 (the fitted values);
* ``pool-1``: a pool of one curve (the shipped one; the same outcomes as ``ideal``);
* ``pool-8``: a pool of 8 curves of 30..51 points, scaled 0.8..1.2;
* ``pool-8+noise``: the pool with the fitted curve noise on top.

"vs ideal (CPU time)" is the ratio of the process CPU seconds of the ideal call to the task's
(medians): on a machine that other jobs load it is steadier than the wall-clock ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tasks(curve):
    import numpy as np

    from crossbar_jax import NonIdeal

    pool = [curve[: 30 + 3 * i] * (0.8 + 0.4 * i / 7) for i in range(8)]
    noise = dict(curve_noise_std=4.13e-9)
    return {
        "ideal": None,
        "c2c": NonIdeal(c2c_std=4.13e-9),
        "noise-r0": NonIdeal(**noise),
        "noise-r24": NonIdeal(**noise, curve_noise_correlation=0.24),
        "pool-1": NonIdeal(curve_pool=[np.asarray(curve)]),
        "pool-8": NonIdeal(curve_pool=pool),
        "pool-8+noise": NonIdeal(curve_pool=pool, **noise),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=131072, help="crossbars per call")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--beta", type=float, default=6e7, help="1/A")
    p.add_argument("--tasks", nargs="+", default=None)
    a = p.parse_args(argv)

    import crossbar_jax as cj

    curve = cj.load_curve(REPO / "data" / "lsmo_gaq3_model.csv")
    tasks = _tasks(curve)
    names = a.tasks or list(tasks)
    if "ideal" not in names:
        names = ["ideal", *names]

    def once(name):
        c0 = time.process_time()
        r = cj.run_monte_carlo(0, a.n, curve=curve, beta=a.beta, nonideal=tasks[name])
        cpu[name].append(time.process_time() - c0)
        return a.n / r.train_s, float(r.converged.mean())

    rate, cpu = {}, {name: [] for name in names}
    for name in names:  # compile
        rate[name] = once(name)[1]
        cpu[name].clear()
    speed = {name: [] for name in names}
    ratio = {name: [] for name in names}
    for _ in range(a.rounds):
        row = {name: once(name)[0] for name in names}
        for name in names:
            speed[name].append(row[name])
            ratio[name].append(row[name] / row["ideal"])
    print(f"n = {a.n}, beta = {a.beta:g} 1/A, {a.rounds} interleaved rounds (medians)")
    print("| task | converged | trainings/s | vs ideal (same round) | vs ideal (CPU time) |")
    print("|---|---:|---:|---:|---:|")
    ideal_cpu = statistics.median(cpu["ideal"])
    for name in names:
        print(
            f"| {name} | {rate[name]:.4f} | {statistics.median(speed[name]):,.0f} | "
            f"{statistics.median(ratio[name]):.2f} | "
            f"{ideal_cpu / statistics.median(cpu[name]):.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
