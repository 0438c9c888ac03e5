"""summary.json statistics agree with an independent recomputation from results.parquet.

Three parameter points of the measured curve span the convergence rates that matter: near 0,
near 0.3 and above 0.5. At each, a Monte Carlo run is written to parquet as the app writes it,
summarised with `stats.summarize` (serialised through JSON, as summary.json is), and every
headline number is recomputed here from the parquet file with plain NumPy and the standard
library: nothing below calls crossbar_jax.stats.
"""

from __future__ import annotations

import json
import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

import crossbar_jax as cj
from crossbar_jax import stats

N = 4000
EPOCHS = 50
POINTS = {
    # name: (run_monte_carlo arguments, (lowest, highest) rate expected at this point)
    "near_0": (dict(), (0.0, 0.01)),  # the defaults: beta 6e6, t+- = +-0.8, K 10 (~0.2%)
    "near_0.3": (dict(beta=2e7), (0.2, 0.4)),  # ~0.29
    "above_0.5": (  # ~0.63, with a Kaplan-Meier median inside the 50 epochs
        dict(beta=8e6, positive_target=0.5, negative_target=-0.5, low=1e-9, high=1e-8),
        (0.5, 1.0),
    ),
}


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval, closed form, z from the standard library's normal quantile."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def km_median(epoch: np.ndarray, converged: np.ndarray, epochs: int):
    """First epoch at which the product-limit survival reaches 0.5 (events before censoring)."""
    s = 1.0
    for t in range(1, epochs + 1):
        at_risk = int(np.sum(epoch >= t))
        events = int(np.sum(converged & (epoch == t)))
        if at_risk:
            s *= 1 - events / at_risk
        if s <= 0.5 + 1e-12:
            return t
    return None


@pytest.fixture(scope="module", params=list(POINTS))
def point(request, measured_curve, tmp_path_factory):
    kwargs, expected = POINTS[request.param]
    r = cj.run_monte_carlo(7, N, curve=measured_curve, epochs=EPOCHS, **kwargs)
    path = tmp_path_factory.mktemp(request.param) / "results.parquet"
    pd.DataFrame(
        dict(
            crossbar=r.crossbar,
            converged=r.converged,
            epoch=r.epoch,
            final_error=r.final_error,
            test_accuracy=r.test_accuracy,
        )
    ).to_parquet(path)
    summary = json.loads(json.dumps(stats.summarize(r.converged, r.epoch, r.test_accuracy, EPOCHS)))
    return pd.read_parquet(path), summary, expected


def test_summary_matches_independent_recomputation(point):
    df, summary, (lowest, highest) = point
    conv = df["converged"].to_numpy(bool)
    epoch = df["epoch"].to_numpy(np.int64)
    k, n = int(conv.sum()), len(df)

    assert lowest <= k / n <= highest  # the point has the rate it stands for
    assert summary["n_crossbars"] == n and summary["converged"] == k
    assert summary["convergence_rate"] == pytest.approx(k / n, abs=1e-15)
    np.testing.assert_allclose(summary["convergence_rate_ci95"], wilson(k, n), rtol=0, atol=1e-6)

    x = np.sort(epoch[conv])
    if x.size:
        want = {
            f"p{round(100 * q)}": int(x[max(math.ceil(q * x.size), 1) - 1]) for q in (0.1, 0.5, 0.9)
        }
        assert summary["epoch_quantiles"] == want
    else:
        assert summary["epoch_quantiles"] is None
    assert summary["km_median_epoch"] == km_median(epoch, conv, EPOCHS)
    if k / n > 0.5:
        assert summary["km_median_epoch"] is not None
    acc = df["test_accuracy"].to_numpy(np.float64)
    assert summary["mean_test_accuracy"] == pytest.approx(acc.mean(), rel=1e-12, abs=1e-15)
    counts = {
        f"{v:g}": int(c)
        for v, c in zip(*np.unique(np.round(acc, 6), return_counts=True), strict=True)
    }
    assert summary["test_accuracy_counts"] == counts
