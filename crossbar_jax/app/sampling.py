"""Precision-targeted sampling: train batches of crossbars until the rate is known well enough.

A study with ``mc.target_halfwidth`` set does not fix its number of crossbars in advance. It
trains batches of ``mc.n_crossbars`` consecutive crossbars (0 .. n-1, then n .. 2n-1, ...) and
after each batch computes the 95% Wilson interval of the convergence rate over everything
trained so far. It stops at the first batch after which the interval's half-width,
``(high - low) / 2``, is at most the target, or when ``mc.max_crossbars`` crossbars are trained
(the last batch is cut to that cap), whichever comes first.

Crossbar i is always crossbar i (its key is ``fold_in(key(seed), i)`` whichever batch trains
it), so a run that stopped at N crossbars holds exactly the first N crossbars of any larger run
with the same parameters, and a tighter target only adds crossbars after them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from crossbar_jax.montecarlo import MonteCarloResult
from crossbar_jax.stats import wilson_interval

__all__ = ["STOP_CAP", "STOP_TARGET", "halfwidth", "run_targeted"]

STOP_TARGET = "target_halfwidth"  # the interval became narrow enough
STOP_CAP = "max_crossbars"  # the cap was reached first


def halfwidth(successes: int, n: int, confidence: float = 0.95) -> float:
    """Half the width of the Wilson interval of `successes` out of `n`: (high - low) / 2."""
    low, high = wilson_interval(successes, n, confidence)
    return (high - low) / 2.0


def run_targeted(
    run_range: Callable[[int, int], MonteCarloResult],
    *,
    batch: int,
    target_halfwidth: float,
    max_crossbars: int,
    confidence: float = 0.95,
    report: Callable[[str], None] | None = None,
) -> tuple[MonteCarloResult, dict]:
    """Train batches of crossbars with ``run_range(first, n)`` until the target or the cap.

    Args:
        run_range: trains crossbars first .. first + n - 1 and returns their `MonteCarloResult`
            (``run_monte_carlo(..., first_crossbar=first)``).
        batch: crossbars per batch (``mc.n_crossbars``), >= 1.
        target_halfwidth: the half-width of the Wilson interval to reach, in (0, 0.5].
        max_crossbars: the most crossbars to train, >= 1.
        confidence: the interval's coverage.
        report: called with one line after each batch (None: silent).

    Returns:
        ``(result, sampling)``: the batches joined into one `MonteCarloResult` (crossbars
        0 .. N-1 in order; compile_s and train_s summed), and a dict for summary.json with
        ``stopped_by`` (`STOP_TARGET` or `STOP_CAP`), ``target_halfwidth``, ``halfwidth``
        reached, ``max_crossbars``, ``batch`` and ``batches``.
    """
    parts: list[MonteCarloResult] = []
    done = converged = 0
    hw = 1.0
    stopped_by = STOP_CAP
    while done < max_crossbars:
        n = min(batch, max_crossbars - done)
        part = run_range(done, n)
        if len(part.crossbar) != n or (n and int(part.crossbar[0]) != done):
            raise RuntimeError(
                f"run_range({done}, {n}) returned crossbars "
                f"{part.crossbar[:1].tolist()}.. ({len(part.crossbar)}); expected {done}.."
            )
        parts.append(part)
        done += n
        converged += int(np.count_nonzero(part.converged))
        hw = halfwidth(converged, done, confidence)
        if report is not None:
            report(
                f"targeted sampling: {done} crossbars, rate {converged / done:.4g}, "
                f"half-width {hw:.3g} (target {target_halfwidth:g}, cap {max_crossbars})"
            )
        if hw <= target_halfwidth:
            stopped_by = STOP_TARGET
            break
    result = MonteCarloResult(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in MonteCarloResult._fields[:5]),
        compile_s=float(sum(p.compile_s for p in parts)),
        train_s=float(sum(p.train_s for p in parts)),
    )
    sampling = {
        "stopped_by": stopped_by,
        "target_halfwidth": float(target_halfwidth),
        "halfwidth": float(hw),
        "max_crossbars": int(max_crossbars),
        "batch": int(batch),
        "batches": len(parts),
    }
    return result, sampling
