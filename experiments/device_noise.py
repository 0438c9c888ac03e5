"""What the measured curve's noise is, and what it does to training (issue 10's findings).

    python experiments/device_noise.py MEASURED.csv [--n 1000000] [--walks 200]

Prints, for a measured conductance-versus-pulse curve and the shipped model fitted to it
(data/lsmo_gaq3_model.csv; another with --model):

1. The residuals measured - model: their std and lag-1 autocorrelation, and the largest one
   (its pulse count, size and size in residual standard deviations).
2. Cycle-to-cycle noise against stationary per-device noise of the same 4.13 nS: --walks
   synthetic curves of each kind (the model plus a random walk of that step, or plus
   independent noise of that std), each refitted with the model's formula; the residuals' rms
   and lag-1 autocorrelation (medians over the curves). The measured curve's residuals look
   like the second, not like the first.
3. Convergence at ALGORITHM.md's point (beta 6e6 1/A, k 10, t +-0.8, shifts 1e-8..1e-7 S, 50
   epochs, the 4-bit task; --n crossbars, Wilson 95% intervals) on: the measured curve (one
   trace, so every device shares its noise), the measured curve with its largest residual
   replaced by the model's value, the smooth model, and the model with per-device curve noise
   of the residuals' std (correlation 0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import crossbar_jax as cj
from crossbar_jax.curve_models import best_fit, fit_curve_models
from crossbar_jax.stats import wilson_interval

REPO = Path(__file__).resolve().parents[1]
POINT = dict(beta=6e6, k=10.0, positive_target=0.8, negative_target=-0.8, epochs=50)


def lag1(e) -> float:
    e = np.asarray(e, np.float64)
    return float(np.sum(e[1:] * e[:-1]) / np.sum(e * e))


def refit_stats(curves, name: str) -> tuple[float, float]:
    """Median residual rms and lag-1 autocorrelation of each curve refitted with model `name`."""
    rms, r1 = [], []
    for g in curves:
        fit = fit_curve_models(g, models=[name])[0]
        e = g - fit.evaluate(np.arange(g.size))
        rms.append(np.sqrt(np.mean(e * e)))
        r1.append(lag1(e))
    return float(np.median(rms)), float(np.median(r1))


def rate(curve, n, nonideal=None) -> str:
    r = cj.run_monte_carlo(0, n, curve=curve, nonideal=nonideal, **POINT)
    k = int(r.converged.sum())
    lo, hi = wilson_interval(k, n, 0.95)
    return f"{100 * k / n:.4f}% ({100 * lo:.4f}-{100 * hi:.4f}%), {k} of {n}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("measured", type=Path)
    p.add_argument("--model", type=Path, default=REPO / "data" / "lsmo_gaq3_model.csv")
    p.add_argument("--n", type=int, default=1_000_000, help="crossbars per rate")
    p.add_argument("--walks", type=int, default=200, help="synthetic curves of each kind")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    g = cj.load_curve(a.measured)
    model = cj.load_curve(a.model)[: g.size]
    e = g - model
    std = float(np.sqrt(np.mean(e * e)))
    top = int(np.argmax(np.abs(e)))
    print(f"1. residuals of {a.measured.name} - {a.model.name} ({g.size} points)")
    print(f"   std {std * 1e9:.2f} nS, lag-1 autocorrelation {lag1(e):.3f}")
    print(f"   largest: g[{top}] {e[top] * 1e9:+.1f} nS = {e[top] / std:+.1f} std")

    name = best_fit(results=fit_curve_models(g)).name  # the formula the model curve uses
    rng = np.random.default_rng(a.seed)
    z = rng.standard_normal((a.walks, g.size))
    z[:, 0] = 0
    walk = model + std * np.cumsum(z, axis=1)
    flat = model + std * z
    w_rms, w_r1 = refit_stats(walk, name)
    s_rms, s_r1 = refit_stats(flat, name)
    print(f"2. synthetic curves refitted with the {name} model (medians of {a.walks})")
    print(
        f"   c2c random walk, step {std * 1e9:.2f} nS: rms {w_rms * 1e9:.2f} nS, lag-1 {w_r1:.2f}"
    )
    print(
        f"   per-device noise, std {std * 1e9:.2f} nS: rms {s_rms * 1e9:.2f} nS, lag-1 {s_r1:.2f}"
    )
    print(f"   measured:                          rms {std * 1e9:.2f} nS, lag-1 {lag1(e):.2f}")

    smoothed = g.copy()
    smoothed[top] = model[top]
    print(f"3. convergence at ALGORITHM.md's point, {a.n} crossbars each (Wilson 95%)")
    print(f"   measured curve:              {rate(g, a.n)}")
    print(f"   measured, g[{top}] smoothed:    {rate(smoothed, a.n)}")
    print(f"   smooth model:                {rate(model, a.n)}")
    noise = cj.NonIdeal(curve_noise_std=std)
    print(f"   model + per-device noise:    {rate(model, a.n, noise)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
