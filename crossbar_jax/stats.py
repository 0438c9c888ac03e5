"""Statistics of a Monte Carlo study: convergence rate, time to convergence, test accuracy.

Pure NumPy/SciPy (no JAX), so it works on results loaded back from disk. Per crossbar the
engine reports ``converged`` (bool), ``epoch`` (the 1-based epoch at which it converged, or
``epochs`` = E when it did not) and ``test_accuracy`` (fraction of test patterns correct).

Definitions used here:

* Convergence rate: ``k / n`` with a Wilson score interval (`wilson_interval`).
* Time to convergence: a Kaplan-Meier estimate of S(t) = P(not converged by epoch t), in which
  crossbars that never converged are right-censored at their ``epoch`` (E), not dropped
  (`kaplan_meier`, `km_median`). This is the right summary of "how long does it take" when
  some crossbars never make it.
* `epoch_quantiles` describes the epochs of the converged crossbars only (conditional on
  converging); it is not the same thing as the KM median, which counts the non-converged ones.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.stats import norm

__all__ = [
    "KaplanMeier",
    "accuracy_distribution",
    "binomial_tolerance",
    "epoch_quantiles",
    "kaplan_meier",
    "km_median",
    "mean_test_accuracy",
    "summarize",
    "wilson_interval",
    "zero_rate_upper_bound",
]

# S(t) is a product of floats; a value meant to be exactly 0.5 may come out as 0.5000000000000001.
_MEDIAN_TOL = 1e-12


def _z(confidence: float) -> float:
    """Two-sided standard normal quantile: z = Phi^-1((1 + confidence) / 2)."""
    c = float(confidence)
    if not (0.0 < c < 1.0):
        raise ValueError(f"confidence={confidence!r}: must be strictly between 0 and 1")
    return float(norm.ppf(0.5 + c / 2.0))


def _int_scalar(value, key: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{key}={value!r}: expected an integer")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key}={value!r}: expected an integer") from None
    if not x.is_integer():
        raise ValueError(f"{key}={value!r}: expected an integer")
    return int(x)


def wilson_interval(successes, n, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    With p = k/n and z = Phi^-1((1 + confidence)/2) (``scipy.stats.norm.ppf``)::

        centre    = (p + z^2 / (2n)) / (1 + z^2 / n)
        halfwidth = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / (4 n^2))
        (low, high) = (centre - halfwidth, centre + halfwidth)

    The interval is the set of p0 that a two-sided score test at level 1 - confidence does not
    reject. At k = 0 the lower end is exactly 0 and at k = n the upper end is exactly 1 (set
    exactly rather than left to rounding); results are clipped to [0, 1].

    Args:
        successes: k, an integer in [0, n].
        n: number of trials, an integer >= 1.
        confidence: two-sided coverage, in (0, 1).

    Returns:
        ``(low, high)`` as Python floats.

    Raises:
        ValueError: if n < 1 (a proportion of nothing has no interval; this module raises
            rather than returning NaN so an empty study cannot pass silently), if k is outside
            [0, n], if either is not an integer, or if confidence is not in (0, 1).
    """
    k = _int_scalar(successes, "successes")
    n = _int_scalar(n, "n")
    if n < 1:
        raise ValueError(f"n={n}: the Wilson interval needs at least one trial")
    if not (0 <= k <= n):
        raise ValueError(f"successes={k}: must be in [0, n={n}]")
    z = _z(confidence)
    p = k / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    low = 0.0 if k == 0 else min(max(centre - half, 0.0), 1.0)
    high = 1.0 if k == n else min(max(centre + half, 0.0), 1.0)
    return float(low), float(high)


def zero_rate_upper_bound(n, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound on a rate of which 0 of `n` trials succeeded.

    The exact (Clopper-Pearson) bound: the largest p with P(0 successes | p) = (1 - p)^n at
    least 1 - confidence, i.e. ``1 - (1 - confidence) ** (1 / n)``; about 3 / n at 95% (the
    "rule of three"). This is what a study that saw no crossbar converge can claim.

    Raises:
        ValueError: if n < 1 or confidence is not in (0, 1).
    """
    n = _int_scalar(n, "n")
    if n < 1:
        raise ValueError(f"n={n}: an upper bound needs at least one trial")
    c = float(confidence)
    if not (0.0 < c < 1.0):
        raise ValueError(f"confidence={confidence!r}: must be strictly between 0 and 1")
    return float(-math.expm1(math.log1p(-c) / n))


def binomial_tolerance(p: float, n: int, sigmas: float) -> float:
    """``sigmas`` standard errors of a binomial proportion: sigmas * sqrt(p (1 - p) / n).

    Handy for statistical tests: an observed fraction of n independent trials with success
    probability p lies within this distance of p with roughly the normal-theory probability
    for ``sigmas`` (about 0.9999994 for 5 sigmas).
    """
    if n < 1:
        raise ValueError(f"n={n}: must be >= 1")
    return float(sigmas) * math.sqrt(float(p) * (1.0 - float(p)) / n)


class KaplanMeier(NamedTuple):
    """Kaplan-Meier estimate of S(t) = P(not converged by epoch t), on t = 0, 1, ..., E.

    All arrays have length E + 1 and are indexed by t.

    Attributes:
        t: epochs 0..E (int).
        survival: S(t) = prod_{s <= t} (1 - events[s] / at_risk[s]); S(0) = 1.
        lower: lower end of the pointwise confidence band.
        upper: upper end of the pointwise confidence band.
        at_risk: n(t), crossbars with observed time >= t (not converged before t and not
            censored before t). at_risk[0] is the number of crossbars.
        events: d(t), crossbars that converged at epoch t (events[0] = 0).
    """

    t: np.ndarray
    survival: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray


def _epochs_and_flags(epoch, converged) -> tuple[np.ndarray, np.ndarray]:
    e = np.asarray(epoch)
    c = np.asarray(converged)
    if e.ndim != 1 or c.ndim != 1:
        raise ValueError(f"epoch and converged must be 1-D, got shapes {e.shape} and {c.shape}")
    if e.shape != c.shape:
        raise ValueError(f"epoch {e.shape} and converged {c.shape} must have the same shape")
    if c.dtype != np.bool_:
        if not np.all((c == 0) | (c == 1)):
            raise ValueError("converged must be boolean (or 0/1)")
        c = c.astype(bool)
    if e.size and not np.issubdtype(e.dtype, np.integer):
        ef = e.astype(float)
        if not np.all(np.isfinite(ef)) or not np.all(ef == np.round(ef)):
            raise ValueError("epoch must hold integers")
    e = e.astype(np.int64)
    return e, c


def kaplan_meier(epoch, converged, epochs=None, confidence: float = 0.95) -> KaplanMeier:
    """Kaplan-Meier estimate of the time to convergence, with right censoring.

    A crossbar with ``converged[i]`` is an event (convergence) at ``epoch[i]``; one without is
    right-censored at ``epoch[i]`` (for the engine's output that is E: it was watched for E
    epochs and had not converged). Censoring may happen at any time in [0, E]; when events and
    censorings share an epoch, the events are counted first (the censored crossbars are still
    at risk at that epoch), the usual convention.

    With n(t) at risk and d(t) events at epoch t::

        S(t) = prod_{s = 1..t} (1 - d(s) / n(s)),   S(0) = 1.

    When every crossbar is censored at E, S(t) is just the fraction of crossbars not yet
    converged by epoch t. Past the last observed time (n(t) = 0) S is carried forward.

    Confidence band (pointwise): Greenwood's variance on the log(-log) scale
    (Kalbfleisch-Prentice), which keeps the band inside (0, 1) and is the default of R's
    ``survfit`` / lifelines::

        G(t)      = sum_{s <= t} d(s) / (n(s) (n(s) - d(s)))      (Greenwood)
        sigma(t)  = sqrt(G(t)) / |log S(t)|
        lower     = S(t) ** exp(+z sigma(t)),  upper = S(t) ** exp(-z sigma(t))

    clipped to [0, 1]. Where the transform is undefined the band collapses onto the
    estimate: S(t) = 1 (no convergence yet) gives [1, 1], S(t) = 0 (everyone left at risk
    converged) gives [0, 0].

    Args:
        epoch: (N,) integer epochs; events need epoch >= 1, censorings epoch >= 0.
        converged: (N,) bool, True for an event.
        epochs: E, the end of the time axis; defaults to max(epoch). Every epoch must be <= E.
        confidence: two-sided coverage of the band.

    Returns:
        A `KaplanMeier` with arrays over t = 0..E.

    Raises:
        ValueError: on empty input, mismatched shapes, non-integer or out-of-range epochs.
    """
    e, c = _epochs_and_flags(epoch, converged)
    if e.size == 0:
        raise ValueError("kaplan_meier needs at least one crossbar")
    if np.any(e < 0):
        raise ValueError("epoch must be >= 0")
    if np.any(c & (e < 1)):
        raise ValueError("a convergence event needs epoch >= 1 (epochs are 1-based)")
    E = int(e.max()) if epochs is None else _int_scalar(epochs, "epochs")
    if E < 0 or np.any(e > E):
        raise ValueError(f"epochs={E}: every epoch must be <= epochs (max is {int(e.max())})")
    z = _z(confidence)

    t = np.arange(E + 1)
    events = np.bincount(e[c], minlength=E + 1).astype(np.int64)
    exits = np.bincount(e, minlength=E + 1).astype(np.int64)  # events + censorings at t
    # at risk at t: all observed times >= t
    at_risk = e.size - np.concatenate(([0], np.cumsum(exits)[:-1]))

    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(at_risk > 0, 1.0 - events / np.maximum(at_risk, 1), 1.0)
        survival = np.cumprod(factor)
        gterm = np.where(
            (events > 0) & (at_risk > events),
            events / (at_risk * (at_risk - events).astype(float)),
            0.0,
        )
        greenwood = np.cumsum(gterm)
        logs = np.log(survival)
        sigma = np.sqrt(greenwood) / np.abs(logs)
        lower = survival ** np.exp(z * sigma)
        upper = survival ** np.exp(-z * sigma)
    one = survival >= 1.0
    zero = survival <= 0.0
    lower = np.where(one, 1.0, np.where(zero, 0.0, lower))
    upper = np.where(one, 1.0, np.where(zero, 0.0, upper))
    lower = np.clip(lower, 0.0, 1.0)
    upper = np.clip(upper, 0.0, 1.0)
    return KaplanMeier(
        t=t, survival=survival, lower=lower, upper=upper, at_risk=at_risk, events=events
    )


def km_median(km: KaplanMeier) -> int | None:
    """Median time to convergence: the first epoch t with S(t) <= 0.5.

    S(t) is compared with a tolerance of 1e-12 so that a product that should equal 0.5
    exactly still counts. Returns None when S never falls to 0.5 (at most half of the
    crossbars converged within the observed epochs): the median is then beyond E, not E.
    """
    hit = np.flatnonzero(np.asarray(km.survival) <= 0.5 + _MEDIAN_TOL)
    return int(km.t[hit[0]]) if hit.size else None


def _quantile_key(q: float) -> str:
    return f"p{100.0 * q:g}"


def epoch_quantiles(epoch, converged, qs=(0.1, 0.5, 0.9)) -> dict[str, int] | None:
    """Quantiles of the convergence epoch over the converged crossbars only.

    Definition: the inverted empirical CDF (``numpy.quantile(..., method="inverted_cdf")``),
    i.e. for the sorted converged epochs x_(1) <= ... <= x_(m), the q-quantile is the smallest
    x with F_m(x) >= q, namely x_(ceil(q m)) (x_(1) for q = 0). It is always an epoch that
    occurred, as an int; interpolating between discrete epochs would invent epochs.

    These are conditional on converging; for a time to convergence that accounts for the
    crossbars that never converged use `kaplan_meier` / `km_median`.

    Args:
        epoch: (N,) integer epochs.
        converged: (N,) bool.
        qs: probabilities in [0, 1]; keys are ``f"p{100 q:g}"`` (0.1 -> "p10", 0.5 -> "p50").

    Returns:
        ``{"p10": int, "p50": int, "p90": int}`` for the default ``qs``, or None when no
        crossbar converged.
    """
    e, c = _epochs_and_flags(epoch, converged)
    qs = [float(q) for q in qs]
    if any(not (0.0 <= q <= 1.0) for q in qs):
        raise ValueError(f"qs={qs!r}: every quantile must be in [0, 1]")
    x = e[c]
    if x.size == 0:
        return None
    values = np.quantile(x, qs, method="inverted_cdf")
    return {_quantile_key(q): int(v) for q, v in zip(qs, values, strict=True)}


def _accuracies(test_accuracy) -> np.ndarray:
    a = np.asarray(test_accuracy, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"test_accuracy must be 1-D, got shape {a.shape}")
    if a.size == 0:
        raise ValueError("test_accuracy is empty")
    if not np.all(np.isfinite(a)) or np.any((a < 0.0) | (a > 1.0)):
        raise ValueError("test_accuracy must be finite and in [0, 1]")
    return a


def mean_test_accuracy(test_accuracy) -> float:
    """Mean test accuracy over crossbars (each value a fraction of test patterns correct)."""
    return float(np.mean(_accuracies(test_accuracy)))


def accuracy_distribution(test_accuracy, decimals: int = 6) -> dict:
    """Distribution of the test accuracy over crossbars.

    Args:
        test_accuracy: (N,) fraction of test patterns each crossbar gets right, in [0, 1].
        decimals: values are rounded to this many decimals before counting, so that float32
            noise (0.30000001) does not split a value such as 3/10 into several.

    Returns:
        ``{"n": N, "mean": float, "std": float, "counts": {value: count}}``; ``std`` is the
        population standard deviation (ddof = 0) of the N values, so it is defined (0) for
        N = 1; ``counts`` maps each distinct rounded accuracy (a Python float) to how many
        crossbars had it, in increasing order of value.
    """
    a = _accuracies(test_accuracy)
    values, counts = np.unique(np.round(a, decimals), return_counts=True)
    return {
        "n": int(a.size),
        "mean": float(np.mean(a)),
        "std": float(np.std(a)),
        "counts": {float(v): int(k) for v, k in zip(values, counts, strict=True)},
    }


def _ci_key(confidence: float) -> str:
    return f"convergence_rate_ci{100.0 * float(confidence):g}"


def summarize(converged, epoch, test_accuracy, epochs, confidence: float = 0.95) -> dict:
    """One study's headline numbers as JSON-serialisable plain Python types.

    Args:
        converged: (N,) bool per crossbar.
        epoch: (N,) int, convergence epoch, or ``epochs`` when not converged (censored there).
        test_accuracy: (N,) float in [0, 1].
        epochs: E, the most epochs the study ran.
        confidence: coverage of the convergence-rate interval.

    Returns:
        A dict with keys

        * ``n_crossbars`` (int), ``converged`` (int count), ``convergence_rate`` (float),
        * ``convergence_rate_ci95``: ``[low, high]`` Wilson interval (`wilson_interval`); the
          key follows ``confidence`` (``convergence_rate_ci90`` for 0.9) so it never
          mislabels the coverage,
        * ``convergence_rate_upper95``: when no crossbar converged, the one-sided upper bound
          `zero_rate_upper_bound` (the key follows ``confidence``); None otherwise,
        * ``epoch_quantiles``: ``{"p10", "p50", "p90"}`` ints over converged crossbars
          (`epoch_quantiles`), or None when none converged,
        * ``km_median_epoch``: Kaplan-Meier median (`km_median`), int or None,
        * ``mean_test_accuracy``, ``test_accuracy_std`` (ddof = 0),
        * ``test_accuracy_counts``: ``{"0.3": n, ...}`` with string keys (``f"{value:g}"`` of
          the value rounded to 6 decimals).

    Raises:
        ValueError: on empty input or inconsistent arrays.
    """
    e, c = _epochs_and_flags(epoch, converged)
    n = int(c.size)
    if n == 0:
        raise ValueError("summarize needs at least one crossbar")
    acc = accuracy_distribution(test_accuracy)
    if acc["n"] != n:
        raise ValueError(f"test_accuracy has {acc['n']} values for {n} crossbars")
    k = int(c.sum())
    low, high = wilson_interval(k, n, confidence)
    km = kaplan_meier(e, c, epochs=epochs, confidence=confidence)
    return {
        "n_crossbars": n,
        "converged": k,
        "convergence_rate": k / n,
        _ci_key(confidence): [low, high],
        f"convergence_rate_upper{100.0 * float(confidence):g}": (
            zero_rate_upper_bound(n, confidence) if k == 0 else None
        ),
        "epoch_quantiles": epoch_quantiles(e, c),
        "km_median_epoch": km_median(km),
        "mean_test_accuracy": acc["mean"],
        "test_accuracy_std": acc["std"],
        "test_accuracy_counts": {f"{v:g}": cnt for v, cnt in acc["counts"].items()},
    }
