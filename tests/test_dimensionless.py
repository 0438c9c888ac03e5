"""The dimensionless groups pi1, pi2 and the model's exact invariances (issue 10)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import crossbar_jax as cj
from crossbar_jax.dimensionless import curve_range, from_params, pi_groups

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def curve():
    return cj.load_curve(REPO / "data" / "lsmo_gaq3_model.csv")


def _train(shifts, curve, beta, v=0.1):
    d = cj.FOUR_BIT
    return cj.train(shifts, curve=curve, patterns=d.train_patterns, labels=d.train_labels,
                    beta=beta, positive_target=0.8, negative_target=-0.8, k=10.0, v0=-v,
                    v1=v)  # fmt: skip


def _groups(curve, beta, v=0.1, high=1e-7, tp=0.8, tn=-0.8):
    return pi_groups(beta=beta, k=10.0, v0=-v, v1=v, positive_target=tp, negative_target=tn,
                     high=high, dg=curve_range(curve))  # fmt: skip


def test_groups_at_the_reference_point(curve):
    g = _groups(curve, 6e6)
    dg = float(np.ptp(curve))
    assert g["pi1"] == pytest.approx(6e6 * 10 * 0.1 * dg / math.atanh(0.8), rel=1e-12)
    assert g["pi2"] == pytest.approx(1e-7 / dg, rel=1e-12)
    assert 0.3 < g["pi1"] < 0.5  # the reference point lies at the threshold's low end
    # asymmetric targets enter through the half-gap of their atanh thresholds
    a = _groups(curve, 6e6, tp=0.8, tn=-0.5)
    half = (math.atanh(0.8) + math.atanh(0.5)) / 2
    assert a["pi1"] == pytest.approx(g["pi1"] * math.atanh(0.8) / half, rel=1e-12)


@pytest.mark.parametrize("beta", [6e6, 6e7])
def test_doubling_curve_and_shifts_while_halving_beta_changes_nothing(curve, beta):
    """x = beta I is unchanged, exactly (powers of two): the same outcome for every crossbar
    and the same groups."""
    s = np.asarray(cj.sample_shifts(4, 3000, (4, 4)), np.float64)
    a = _train(s, curve, beta)
    b = _train(2 * s, 2 * curve, beta / 2)
    assert beta < 1e7 or 0 < a.converged.sum()  # outcomes with teeth at beta 6e7
    np.testing.assert_array_equal(a.epoch, b.epoch)
    np.testing.assert_array_equal(a.final_error, b.final_error)  # the error of x, to the bit
    np.testing.assert_array_equal(a.pulses, b.pulses)
    assert _groups(curve, beta) == _groups(2 * curve, beta / 2, high=2e-7)


@pytest.mark.parametrize("beta", [6e6, 6e7])
def test_doubling_the_drive_while_halving_beta_changes_nothing(curve, beta):
    s = np.asarray(cj.sample_shifts(5, 3000, (4, 4)), np.float64)
    a = _train(s, curve, beta)
    b = _train(s, curve, beta / 2, v=0.2)
    np.testing.assert_array_equal(a.epoch, b.epoch)
    np.testing.assert_array_equal(a.final_error, b.final_error)
    np.testing.assert_array_equal(a.pulses, b.pulses)
    assert _groups(curve, beta) == _groups(curve, beta / 2, v=0.2)


def test_from_params_and_pool(curve):
    params = {
        "device": {"k": 10.0, "shift": {"high": 1e-7}},
        "training": {"beta": 6e7, "v0": -0.1, "v1": 0.1, "positive_target": 0.8,
                     "negative_target": -0.8},
    }  # fmt: skip
    assert from_params(params, curve) == _groups(curve, 6e7)
    pool = [curve, 3 * curve]
    assert curve_range(None, pool) == pytest.approx(2 * np.ptp(curve), rel=1e-12)


def test_a_run_with_few_converged_says_so(compose_cfg, tmp_path, capsys):
    """At ALGORITHM.md's point (0 of 200 converge) stdout and report.md say that few converged
    and what to change; summary.json and the sweep row carry the groups."""
    from crossbar_jax.app.study import run_study
    from crossbar_jax.app.sweep import summary_row

    cfg = compose_cfg("mc.n_crossbars=200", "mc.progress=false", "report.figures=true")
    summary = run_study(cfg, tmp_path)
    out = capsys.readouterr().out
    assert summary["converged"] < 10
    assert set(summary["dimensionless"]) == {"pi1", "pi2"}
    assert "note        only" in out and "training.beta=6e+07" in out
    report = (tmp_path / "report.md").read_text()
    assert "**Few converged.**" in report and "dimensionless pi1" in report
    row = summary_row(summary)
    assert row["pi1"] == summary["dimensionless"]["pi1"]
