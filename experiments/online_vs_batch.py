"""Batch against online Manhattan training, measured on the 4-bit and letters tasks.

    python experiments/online_vs_batch.py [--n 20000] [--seed 0]

For each task and point, the same crossbars (same seed: the same shifts, common random
numbers) are trained in batch mode (the reference: one update per epoch from the gradient
summed over every pattern), online in the dataset's order, and online with the order
shuffled every epoch (``training.mode=online``, ``training.shuffle``). Printed as a markdown
table: the convergence rate with its 95% Wilson interval, the mean and median epoch of the
converged crossbars, and the mean test accuracy of all crossbars. The points:

* 4-bit task (t +-0.8, shifts 1e-8..1e-7 S) at the main job's informative point, beta 6e7
  1/A, k 10 (the same beta k as experiment=nonidealities' beta 2e7, k 30, and the same
  outcomes), and at beta 6e8 (at ALGORITHM.md's beta 6e6 neither mode converges);
* the letters task at experiment=letters' point (beta 1.2e7, t +-0.5, k 10, 1e-9..1e-8 S).

All 50 epochs, float32, the shipped model curve, no other effect.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import crossbar_jax as cj
from crossbar_jax.nonideal import NonIdeal
from crossbar_jax.stats import wilson_interval

REPO = Path(__file__).resolve().parents[1]
FOUR = dict(dataset=cj.FOUR_BIT, positive_target=0.8, negative_target=-0.8)
POINTS = {
    "4-bit, beta 6e7, k 10": dict(FOUR, beta=6e7, k=10.0),
    "4-bit, beta 6e8, k 10": dict(FOUR, beta=6e8, k=10.0),
    "letters (beta 1.2e7, t 0.5, k 10)": dict(
        dataset=cj.LETTERS,
        beta=1.2e7,
        k=10.0,
        positive_target=0.5,
        negative_target=-0.5,
        low=1e-9,
        high=1e-8,
    ),  # fmt: skip
}
MODES = {
    "batch": None,
    "online": NonIdeal(mode="online"),
    "online, shuffled": NonIdeal(mode="online", shuffle=True),
}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20_000, help="crossbars per task, point and mode")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    curve = cj.load_curve(REPO / "data" / "lsmo_gaq3_model.csv")
    rows = []
    t0 = time.perf_counter()
    for point, kw in POINTS.items():
        for mode, ni in MODES.items():
            r = cj.run_monte_carlo(args.seed, args.n, curve=curve, nonideal=ni, epochs=50, **kw)
            c = int(np.sum(r.converged))
            lo, hi = wilson_interval(c, args.n)
            ep = r.epoch[r.converged]
            rows.append(dict(point=point, mode=mode, n=args.n, rate=c / args.n, lo=lo, hi=hi,
                             mean_epoch=float(ep.mean()) if c else float("nan"),
                             median_epoch=float(np.median(ep)) if c else float("nan"),
                             accuracy=float(np.mean(r.test_accuracy))))  # fmt: skip
    print("| task and point | mode | crossbars | converged | 95% Wilson | mean epoch | "
          "median epoch | mean test accuracy |")  # fmt: skip
    print("|---|---|---:|---:|---|---:|---:|---:|")
    for w in rows:
        mean_e = "-" if np.isnan(w["mean_epoch"]) else f"{w['mean_epoch']:.2f}"
        median_e = "-" if np.isnan(w["median_epoch"]) else f"{w['median_epoch']:.0f}"
        print(f"| {w['point']} | {w['mode']} | {w['n']:,} | {w['rate']:.4f} | "
              f"{w['lo']:.4f}-{w['hi']:.4f} | {mean_e} | {median_e} | "
              f"{w['accuracy']:.4f} |")  # fmt: skip
    print(f"\n({len(rows)} runs of {args.n:,} crossbars, seed {args.seed}, "
          f"{time.perf_counter() - t0:.0f} s)")  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
