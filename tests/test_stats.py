"""Tests of crossbar_jax.stats against hand-worked values, literature values and closed forms."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import binom

from crossbar_jax.stats import (
    KaplanMeier,
    accuracy_distribution,
    binomial_tolerance,
    epoch_quantiles,
    kaplan_meier,
    km_median,
    mean_test_accuracy,
    summarize,
    wilson_interval,
)

Z95 = 1.959963984540054  # Phi^-1(0.975)


def wilson_closed_form(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson interval written as the roots of the score-test quadratic, a different
    algebraic form from the centre/half-width one in the module:
    (2k + z^2 -+ z sqrt(z^2 + 4 k (n - k) / n)) / (2 (n + z^2))."""
    root = z * math.sqrt(z * z + 4.0 * k * (n - k) / n)
    return (2 * k + z * z - root) / (2 * (n + z * z)), (2 * k + z * z + root) / (2 * (n + z * z))


# ---------------------------------------------------------------- Wilson


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # Newcombe (1998), Stat. Med. 17:857, Table II, method 3 (score, no continuity correction)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_literature_values(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=5e-5)
    assert hi == pytest.approx(high, abs=5e-5)


@pytest.mark.parametrize(
    ("k", "n"), [(0, 10), (10, 10), (5, 10), (81, 263), (1, 1), (0, 1), (7, 50)]
)
def test_wilson_matches_closed_form(k, n):
    lo, hi = wilson_interval(k, n)
    elo, ehi = wilson_closed_form(k, n)
    assert lo == pytest.approx(max(elo, 0.0), abs=1e-12)
    assert hi == pytest.approx(min(ehi, 1.0), abs=1e-12)


def test_wilson_boundaries_exact():
    # At k = 0 the lower end is exactly 0; at k = n the upper end exactly 1; symmetric.
    lo0, hi0 = wilson_interval(0, 10)
    lo1, hi1 = wilson_interval(10, 10)
    assert lo0 == 0.0 and hi1 == 1.0
    # 0/10 upper end by hand: z^2 / (n + z^2) = 3.8415 / 13.8415
    assert hi0 == pytest.approx(Z95**2 / (10 + Z95**2), abs=1e-12)
    assert lo1 == pytest.approx(1.0 - hi0, abs=1e-12)
    lo5, hi5 = wilson_interval(5, 10)
    assert lo5 + hi5 == pytest.approx(1.0, abs=1e-12)  # symmetric about 1/2


def test_wilson_confidence_level():
    z90 = 1.6448536269514722
    lo, hi = wilson_interval(30, 100, confidence=0.90)
    elo, ehi = wilson_closed_form(30, 100, z90)
    assert (lo, hi) == pytest.approx((elo, ehi), abs=1e-12)
    lo95, hi95 = wilson_interval(30, 100)
    assert hi - lo < hi95 - lo95


@pytest.mark.parametrize(
    ("k", "n", "conf"),
    [(0, 0, 0.95), (-1, 10, 0.95), (11, 10, 0.95), (1.5, 10, 0.95), (1, 10, 1.0)],
)
def test_wilson_rejects_bad_input(k, n, conf):
    with pytest.raises(ValueError):
        wilson_interval(k, n, conf)


def test_wilson_coverage_by_simulation():
    p, n, draws = 0.3, 50, 2000
    table = [wilson_interval(k, n) for k in range(n + 1)]
    covers = np.array([lo <= p <= hi for lo, hi in table])
    # The true coverage of a discrete interval is not exactly nominal: compute it exactly.
    exact = float(np.sum(binom.pmf(np.arange(n + 1), n, p)[covers]))
    assert abs(exact - 0.95) < 0.02  # Wilson stays close to nominal at n = 50
    ks = np.random.default_rng(20240611).binomial(n, p, size=draws)
    simulated = float(np.mean(covers[ks]))
    # The simulated coverage is a mean of `draws` Bernoulli(exact) indicators, so its standard
    # error is sqrt(c (1 - c) / draws) ~ 0.005; 4 sigma (~0.02) is a false-failure rate of
    # ~6e-5 for a random seed. Against the nominal 0.95 we also allow the exact discreteness gap.
    tol = binomial_tolerance(exact, draws, 4)
    assert abs(simulated - exact) < tol
    assert abs(simulated - 0.95) < tol + abs(exact - 0.95)


def test_binomial_tolerance():
    assert binomial_tolerance(0.5, 100, 2) == pytest.approx(0.1)
    assert binomial_tolerance(0.0, 10, 3) == 0.0


# ---------------------------------------------------------------- Kaplan-Meier


def test_km_hand_worked_with_censoring_at_different_times():
    # 7 crossbars, E = 6: (epoch, converged)
    #   1 yes | 2 yes | 2 no | 3 yes | 4 no | 5 yes | 5 no
    epoch = [1, 2, 2, 3, 4, 5, 5]
    conv = [True, True, False, True, False, True, False]
    km = kaplan_meier(epoch, conv, epochs=6)
    assert isinstance(km, KaplanMeier)
    # t:        0  1  2  3  4  5  6
    # at risk:  7  7  6  4  3  2  0   (censored at 2 still at risk at 2, gone at 3)
    # events:   0  1  1  1  0  1  0
    np.testing.assert_array_equal(km.t, np.arange(7))
    np.testing.assert_array_equal(km.at_risk, [7, 7, 6, 4, 3, 2, 0])
    np.testing.assert_array_equal(km.events, [0, 1, 1, 1, 0, 1, 0])
    # S: 1, 6/7, 6/7*5/6 = 5/7, 5/7*3/4 = 15/28, 15/28, 15/28*1/2 = 15/56, 15/56
    expected = [1, 6 / 7, 5 / 7, 15 / 28, 15 / 28, 15 / 56, 15 / 56]
    np.testing.assert_allclose(km.survival, expected, rtol=0, atol=1e-15)
    # The naive fraction not converged (dropping censoring) would differ: at t=5 it is 3/7.
    assert km.survival[5] != pytest.approx(3 / 7)
    assert km_median(km) == 5  # S(3) = 15/28 > 0.5, S(5) = 15/56 <= 0.5

    # Greenwood sums d/(n(n-d)) by hand, then the log(-log) band S ** exp(-+ z sigma).
    g = {1: 1 / 42, 2: 1 / 42 + 1 / 30, 3: 1 / 42 + 1 / 30 + 1 / 12}
    g[4] = g[3]
    g[5] = g[3] + 1 / 2
    g[6] = g[5]
    for t in range(1, 7):
        s = expected[t]
        sigma = math.sqrt(g[t]) / abs(math.log(s))
        assert km.lower[t] == pytest.approx(s ** math.exp(Z95 * sigma), abs=1e-12)
        assert km.upper[t] == pytest.approx(s ** math.exp(-Z95 * sigma), abs=1e-12)
        assert 0.0 <= km.lower[t] <= s <= km.upper[t] <= 1.0
    assert km.lower[0] == km.upper[0] == 1.0


def test_km_band_matches_r_survfit_loglog():
    # Freireich et al. (1963) 6-MP arm (weeks; 0 = censored). R:
    # summary(survfit(Surv(time, status) ~ 1, conf.type = "log-log")) gives (3 d.p.)
    time = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
    stat = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    km = kaplan_meier(time, np.array(stat, bool))
    r = {  # t: (n.risk, survival, lower, upper)
        6: (21, 0.857, 0.620, 0.952),
        7: (17, 0.807, 0.563, 0.923),
        10: (15, 0.753, 0.503, 0.889),
        13: (12, 0.690, 0.432, 0.849),
        16: (11, 0.627, 0.368, 0.805),
        22: (7, 0.538, 0.268, 0.747),
        23: (6, 0.448, 0.188, 0.680),
    }
    for t, (n_risk, s, lo, hi) in r.items():
        assert km.at_risk[t] == n_risk
        assert (km.survival[t], km.lower[t], km.upper[t]) == pytest.approx((s, lo, hi), abs=6e-4)
    assert km_median(km) == 23


def test_km_censoring_only_at_E_is_empirical_fraction():
    rng = np.random.default_rng(7)
    E, n = 50, 400
    epoch = rng.integers(1, E + 1, size=n)
    conv = rng.random(n) < 0.7
    epoch[~conv] = E  # the engine's convention
    km = kaplan_meier(epoch, conv, epochs=E)
    for t in range(E + 1):
        frac_not_yet = 1.0 - np.mean(conv & (epoch <= t))
        assert km.survival[t] == pytest.approx(frac_not_yet, abs=1e-12)
    assert km.at_risk[0] == n and km.events.sum() == conv.sum()
    # The median is the first epoch at which at least half of all crossbars have converged.
    cum = np.array([np.sum(conv & (epoch <= t)) for t in range(E + 1)])
    assert km_median(km) == int(np.flatnonzero(2 * cum >= n)[0])


def test_km_median_none_when_survival_stays_above_half():
    # 2 of 5 converge; the other 3 are censored at E: S(E) = 3/5 > 0.5.
    km = kaplan_meier([2, 4, 10, 10, 10], [True, True, False, False, False], epochs=10)
    assert km.survival[-1] == pytest.approx(0.6)
    assert km_median(km) is None


def test_km_median_exactly_half():
    km = kaplan_meier([3, 3, 9, 9], [True, True, False, False], epochs=9)
    assert km.survival[3] == 0.5 and km_median(km) == 3


def test_km_all_converged_at_epoch_1():
    km = kaplan_meier([1, 1, 1], [True, True, True], epochs=5)
    np.testing.assert_array_equal(km.survival, [1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(km.lower, km.survival)  # S = 0: band collapses, documented
    np.testing.assert_array_equal(km.upper, km.survival)
    assert km_median(km) == 1


def test_km_none_converged():
    km = kaplan_meier([5, 5], [False, False], epochs=5)
    np.testing.assert_array_equal(km.survival, np.ones(6))
    np.testing.assert_array_equal(km.lower, np.ones(6))
    assert km_median(km) is None


def test_km_defaults_and_validation():
    km = kaplan_meier(np.array([2.0, 3.0]), np.array([1, 0]))  # E defaults to max(epoch)
    assert km.t[-1] == 3
    with pytest.raises(ValueError):
        kaplan_meier([], [])
    with pytest.raises(ValueError):
        kaplan_meier([1, 2], [True])
    with pytest.raises(ValueError):
        kaplan_meier([0], [True])  # events are 1-based
    with pytest.raises(ValueError):
        kaplan_meier([6], [True], epochs=5)
    with pytest.raises(ValueError):
        kaplan_meier([1.5], [True])


# ---------------------------------------------------------------- quantiles, accuracy


def test_epoch_quantiles_inverted_cdf_independent():
    rng = np.random.default_rng(3)
    for m in (1, 2, 7, 10, 30, 101):
        epoch = rng.integers(1, 51, size=m + 5)
        conv = np.zeros(m + 5, bool)
        conv[rng.choice(m + 5, size=m, replace=False)] = True
        x = sorted(int(v) for v in epoch[conv])
        # x_(ceil(q m)) with exact integer arithmetic, q = pct / 100
        expected = {f"p{pct}": x[max(1, -(-pct * m // 100)) - 1] for pct in (10, 50, 90)}
        got = epoch_quantiles(epoch, conv)
        assert got == expected
        assert all(type(v) is int for v in got.values())


def test_epoch_quantiles_hand_and_none():
    # converged epochs 1..10: p10 = x_(1) = 1, p50 = x_(5) = 5, p90 = x_(9) = 9
    got = epoch_quantiles(np.arange(1, 11), np.ones(10, bool))
    assert got == {"p10": 1, "p50": 5, "p90": 9}
    assert epoch_quantiles([50, 50], [False, False]) is None
    assert epoch_quantiles([4, 50], [True, False], qs=(0.25,)) == {"p25": 4}


def test_accuracy_distribution():
    acc = np.array([0.3, 0.3, 1.0, 0.7, 0.3], dtype=np.float32)  # float32 noise on 0.3, 0.7
    d = accuracy_distribution(acc)
    assert d["counts"] == {0.3: 3, 0.7: 1, 1.0: 1}
    a64 = np.array([0.3, 0.3, 1.0, 0.7, 0.3])
    assert d["mean"] == pytest.approx(a64.mean(), abs=1e-7)
    assert d["std"] == pytest.approx(math.sqrt(np.mean((a64 - a64.mean()) ** 2)), abs=1e-7)
    assert d["n"] == 5
    assert mean_test_accuracy(acc) == pytest.approx(0.52, abs=1e-7)
    for bad in ([], [1.2], [np.nan]):
        with pytest.raises(ValueError):
            accuracy_distribution(bad)


# ---------------------------------------------------------------- summarize

KEYS = {
    "n_crossbars",
    "converged",
    "convergence_rate",
    "convergence_rate_ci95",
    "convergence_rate_upper95",  # one-sided bound, set only when none converged
    "epoch_quantiles",
    "km_median_epoch",
    "mean_test_accuracy",
    "test_accuracy_std",
    "test_accuracy_counts",
}


def _check_plain(obj):
    """Only plain Python JSON types, no numpy scalars hiding inside."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert type(k) is str
            _check_plain(v)
    elif isinstance(obj, list):
        for v in obj:
            _check_plain(v)
    else:
        assert obj is None or type(obj) in (int, float, bool, str), type(obj)


def test_summarize_keys_types_json():
    rng = np.random.default_rng(11)
    n, E = 200, 50
    conv = rng.random(n) < 0.8
    epoch = np.where(conv, rng.integers(1, E + 1, size=n), E).astype(np.int32)
    acc = (rng.integers(0, 11, size=n) / 10).astype(np.float32)
    s = summarize(conv, epoch, acc, E)
    assert set(s) == KEYS
    _check_plain(s)
    assert json.loads(json.dumps(s)) == s
    assert s["n_crossbars"] == n and s["converged"] == int(conv.sum())
    assert s["convergence_rate"] == pytest.approx(conv.mean())
    assert s["convergence_rate_ci95"] == list(wilson_interval(int(conv.sum()), n))
    assert s["epoch_quantiles"] == epoch_quantiles(epoch, conv)
    assert s["km_median_epoch"] == km_median(kaplan_meier(epoch, conv, epochs=E))
    assert sum(s["test_accuracy_counts"].values()) == n
    assert set(s["test_accuracy_counts"]) <= {f"{k / 10:g}" for k in range(11)}
    assert s["mean_test_accuracy"] == pytest.approx(float(acc.astype(float).mean()))


def test_summarize_none_converged():
    s = summarize([False] * 4, [50] * 4, [0.2, 0.3, 0.3, 0.2], 50)
    assert s["converged"] == 0 and s["convergence_rate"] == 0.0
    assert s["convergence_rate_ci95"][0] == 0.0
    assert s["convergence_rate_upper95"] == pytest.approx(1 - 0.05 ** (1 / 4))
    assert s["epoch_quantiles"] is None and s["km_median_epoch"] is None
    assert s["test_accuracy_counts"] == {"0.2": 2, "0.3": 2}
    json.dumps(s)


def test_summarize_all_converged_epoch_1():
    s = summarize([True] * 5, [1] * 5, [1.0] * 5, 50)
    assert s["convergence_rate"] == 1.0 and s["convergence_rate_ci95"][1] == 1.0
    assert s["epoch_quantiles"] == {"p10": 1, "p50": 1, "p90": 1}
    assert s["km_median_epoch"] == 1
    assert s["test_accuracy_std"] == 0.0 and s["test_accuracy_counts"] == {"1": 5}
    json.dumps(s)


@pytest.mark.parametrize(("conv", "epoch", "median"), [(True, 7, 7), (False, 50, None)])
def test_summarize_single_crossbar(conv, epoch, median):
    s = summarize([conv], [epoch], [0.9], 50)
    assert s["n_crossbars"] == 1
    assert s["km_median_epoch"] == median
    assert s["test_accuracy_std"] == 0.0
    lo, hi = s["convergence_rate_ci95"]
    assert 0.0 <= lo < hi <= 1.0
    json.dumps(s)


def test_summarize_other_confidence_and_errors():
    s = summarize([True, False], [3, 10], [0.5, 0.5], 10, confidence=0.9)
    assert "convergence_rate_ci90" in s and "convergence_rate_ci95" not in s
    with pytest.raises(ValueError):
        summarize([], [], [], 10)
    with pytest.raises(ValueError):
        summarize([True, False], [3, 10], [0.5], 10)
    with pytest.raises(ValueError):
        summarize([True], [11], [0.5], 10)  # epoch beyond E
