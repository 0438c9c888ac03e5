"""Precision-targeted sampling: crossbar ranges, the stopping rule, the zero-rate bound."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import crossbar_jax as cj
from crossbar_jax.app.config import ConfigError, default_curve_path
from crossbar_jax.app.outputs import RESULTS, SUMMARY
from crossbar_jax.app.sampling import STOP_CAP, STOP_TARGET, halfwidth, run_targeted
from crossbar_jax.app.study import run_study
from crossbar_jax.montecarlo import run_monte_carlo_nonideal
from crossbar_jax.nonideal import NonIdeal
from crossbar_jax.stats import summarize, wilson_interval, zero_rate_upper_bound

FIELDS = ("crossbar", "converged", "epoch", "final_error", "test_accuracy")


@pytest.fixture(scope="module")
def curve():
    return cj.load_curve(default_curve_path())


def _same(a, b) -> None:
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


@pytest.mark.slow  # one of the longest of the default run (5-10 s)
def test_consecutive_ranges_equal_one_run(curve):
    """Crossbar i is crossbar i: ranges [0, 300) + [300, 1000), each in its own chunk layout,
    are exactly the run of 1000 from 0."""
    whole = cj.run_monte_carlo(3, 1000, curve=curve, beta=2e7, chunk_size=256)
    a = cj.run_monte_carlo(3, 300, curve=curve, beta=2e7, chunk_size=128)
    b = cj.run_monte_carlo(3, 700, curve=curve, beta=2e7, chunk_size=1000, first_crossbar=300)
    assert b.crossbar[0] == 300 and b.crossbar[-1] == 999
    joined = type(whole)(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in FIELDS), 0, 0)
    _same(joined, whole)
    assert 0 < whole.converged.sum() < 1000  # the point is neither trivial nor hopeless


def test_general_engine_takes_the_same_ranges(curve):
    ni = NonIdeal(c2c_std=2e-7)
    whole = run_monte_carlo_nonideal(5, 400, curve=curve, nonideal=ni, beta=2e7)
    tail = run_monte_carlo_nonideal(5, 150, curve=curve, nonideal=ni, beta=2e7, first_crossbar=250)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(tail, f), getattr(whole, f)[250:], err_msg=f)


@pytest.mark.parametrize("bad", [-1, 1.5, True, 2**32])
def test_first_crossbar_is_checked(curve, bad):
    with pytest.raises(ValueError, match="first_crossbar"):
        cj.run_monte_carlo(0, 10, curve=curve, first_crossbar=bad)


def _fake(rate_every: int):
    """A run_range whose crossbar i converges when i % rate_every == 0 (for the rule alone)."""

    def run_range(first, n):
        idx = np.arange(first, first + n, dtype=np.int64)
        conv = idx % rate_every == 0
        return cj.MonteCarloResult(
            idx, conv, np.where(conv, 1, 50).astype(np.int32), np.zeros(n), np.ones(n), 0.1, 0.2
        )

    return run_range


def test_rule_stops_at_the_first_batch_that_meets_the_target():
    result, s = run_targeted(_fake(4), batch=1000, target_halfwidth=0.01, max_crossbars=10**6)
    n = len(result.crossbar)
    assert s["stopped_by"] == STOP_TARGET and n % 1000 == 0 and s["batches"] == n // 1000
    k = int(result.converged.sum())
    assert halfwidth(k, n) <= 0.01 < halfwidth(k * (n - 1000) // n, n - 1000)
    np.testing.assert_array_equal(result.crossbar, np.arange(n))
    assert result.compile_s == pytest.approx(0.1 * s["batches"])


def test_rule_cuts_the_last_batch_at_the_cap():
    result, s = run_targeted(_fake(2), batch=300, target_halfwidth=1e-4, max_crossbars=1000)
    assert s["stopped_by"] == STOP_CAP and len(result.crossbar) == 1000 and s["batches"] == 4
    assert s["halfwidth"] > 1e-4


def test_zero_rate_upper_bound_is_the_exact_one_sided_bound():
    for n in (1, 10, 1000, 123457):
        p = zero_rate_upper_bound(n)
        # (1 - p)^n = 0.05: zero successes have probability 5% at the bound, more below it
        assert (1 - p) ** n == pytest.approx(0.05, rel=1e-9)
    assert zero_rate_upper_bound(1000) == pytest.approx(3 / 1000, rel=0.01)  # rule of three
    s = summarize(np.zeros(20, bool), np.full(20, 50), np.zeros(20), 50)
    assert s["convergence_rate_upper95"] == zero_rate_upper_bound(20)
    s = summarize(np.ones(20, bool), np.full(20, 3), np.ones(20), 50)
    assert s["convergence_rate_upper95"] is None


def _job(compose_cfg, tmp_path, name, *overrides):
    cfg = compose_cfg("mc.progress=false", "training.beta=2e7", *overrides)
    summary = run_study(cfg, tmp_path / name, echo=None)
    return summary, pd.read_parquet(tmp_path / name / RESULTS)


@pytest.mark.slow
def test_targeted_run_meets_its_target_and_is_a_prefix_of_a_larger_run(compose_cfg, tmp_path):
    """The issue's check: half-width 0.005 reached, and the N crossbars trained are the first
    N of a fixed-size run of more crossbars (compared row by row, every column)."""
    t, rows = _job(compose_cfg, tmp_path, "t", "mc.n_crossbars=4000", "mc.target_halfwidth=0.005")
    n = t["n_crossbars"]
    low, high = t["convergence_rate_ci95"]
    assert t["sampling"]["stopped_by"] == STOP_TARGET
    assert (high - low) / 2 <= 0.005 and t["sampling"]["halfwidth"] == (high - low) / 2
    assert n % 4000 == 0 and n > 4000  # this point needs several batches
    written = json.loads((tmp_path / "t" / SUMMARY).read_text())
    assert written["sampling"] == t["sampling"]
    # The larger run in chunks laid out like the batches: equal bit for bit, every column.
    _, aligned = _job(
        compose_cfg, tmp_path, "aligned", f"mc.n_crossbars={n + 8000}", "mc.chunk_size=4000"
    )
    pd.testing.assert_frame_equal(rows, aligned.iloc[:n].reset_index(drop=True))
    # In the default layout (one chunk of n + 8000): every outcome equal. final_error, a
    # float32 diagnostic of crossbars that did not converge, is not bit for bit: XLA's
    # vectorised code for another batch shape may round differently, and a rounding can move
    # a later pulse of a non-converged crossbar (seen: 4 of 24000 differ by more than 1e-5).
    _, big = _job(compose_cfg, tmp_path, "big", f"mc.n_crossbars={n + 8000}")
    head = big.iloc[:n].reset_index(drop=True)
    for column in ("crossbar", "converged", "epoch", "test_accuracy"):
        np.testing.assert_array_equal(rows[column], head[column], err_msg=column)
    close = np.isclose(rows["final_error"], head["final_error"], rtol=1e-5, atol=1e-5)
    assert close.mean() > 0.999
    assert (low, high) == wilson_interval(int(head["converged"].sum()), n)


def test_targeted_run_at_its_cap_and_a_zero_rate(compose_cfg, tmp_path):
    """At beta = 1e6 no crossbar converges: the cap ends the run, the bound is reported."""
    s, rows = _job(
        compose_cfg,
        tmp_path,
        "cap",
        "training.beta=1e6",
        "mc.n_crossbars=256",
        "mc.target_halfwidth=0.001",
        "mc.max_crossbars=600",
    )
    assert len(rows) == 600 and rows["crossbar"].tolist() == list(range(600))
    assert s["sampling"]["stopped_by"] == STOP_CAP and s["sampling"]["batches"] == 3
    assert s["converged"] == 0
    assert s["convergence_rate_upper95"] == pytest.approx(1 - 0.05 ** (1 / 600))
    from crossbar_jax.app.study import format_summary

    text = format_summary(s)
    assert "cap mc.max_crossbars=600 reached first" in text and "one-sided 95%" in text


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["mc.target_halfwidth=0"], "mc.target_halfwidth=0.0: must be in (0, 0.5]"),
        (["mc.target_halfwidth=0.7"], "mc.target_halfwidth=0.7: must be in (0, 0.5]"),
        (
            ["mc.target_halfwidth=0.01", "mc.n_crossbars=500", "mc.max_crossbars=100"],
            "mc.max_crossbars=100: must be >= mc.n_crossbars=500",
        ),
        (["mc.target_halfwidth=0.01", "grid.k=[3,10]"], "does not combine with an in-process"),
        (["mc.max_crossbars=5000"], "mc.max_crossbars=5000: the cap of targeted sampling, used"),
    ],
)
def test_bad_targeted_settings_name_the_key(compose_cfg, tmp_path, overrides, message):
    with pytest.raises(ConfigError) as err:
        run_study(compose_cfg(*overrides), tmp_path, echo=None)
    assert message in str(err.value)


def test_fixed_size_study_keeps_its_config_hash(compose_cfg):
    """A study without a target has no new keys in its params (old folders still resume)."""
    from crossbar_jax.app.config import validate_config

    mc = validate_config(compose_cfg("mc.n_crossbars=10")).params["mc"]
    assert set(mc) == {"n_crossbars", "seed", "chunk_size", "precision"}
