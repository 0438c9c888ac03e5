"""Per-epoch histories of a few crossbars: agreement with the batch runner, conventions, limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import crossbar_jax as cj
from crossbar_jax.history import (
    MAX_HISTORY_BATCH,
    pick_crossbars,
    record_history,
    record_run_history,
    record_summary_history,
)

REPO = Path(__file__).resolve().parents[1]

D = cj.FOUR_BIT
# beta 1e7, t+- = +-0.5, K = 10 on the measured curve converges about 20% of crossbars, often late.
POINT = dict(beta=1e7, positive_target=0.5, negative_target=-0.5, k=10.0)


@pytest.fixture(scope="module")
def model_curve():
    return cj.load_curve(REPO / "data" / "lsmo_gaq3_model.csv")


@pytest.fixture(scope="module")
def mixed(measured_curve):
    shifts = np.asarray(cj.sample_shifts(11, 30, (4, 4)))
    kw = dict(curve=measured_curve, patterns=D.train_patterns, labels=D.train_labels, **POINT)
    return record_history(shifts, **kw), cj.train(shifts, **kw)


def test_history_agrees_with_train(mixed):
    hist, res = mixed
    assert 0 < res.converged.sum() < 30  # both outcomes occur, so the comparison has teeth
    np.testing.assert_array_equal(hist.converged, res.converged)
    np.testing.assert_array_equal(hist.epoch, res.epoch)
    np.testing.assert_array_equal(hist.final_pulses, res.pulses)
    np.testing.assert_array_equal(hist.final_conductances, res.conductances)
    # train records NaN at the converged epoch (no update); the history has that epoch's error, 0
    errors = hist.error.copy()
    for b in np.flatnonzero(hist.converged):
        assert errors[b, hist.epoch[b] - 1] == 0.0
        errors[b, hist.epoch[b] - 1] = np.nan
    np.testing.assert_array_equal(errors, res.errors)


def test_history_conventions(mixed):
    hist, _ = mixed
    B, E = hist.error.shape
    assert hist.pulses.shape == hist.conductances.shape == (B, E, 4, 4)
    assert hist.weights.shape == (B, E, 4, 2) and hist.activations.shape == (B, E, 6, 2)
    assert np.all(hist.pulses[:, 0] == 0)  # epoch 1 reads the untrained crossbar
    g = hist.conductances
    # XLA may fuse k*(a+s) - k*(b+t) differently from NumPy: equal to float32 rounding of ~1 µS
    np.testing.assert_allclose(hist.weights, g[..., 0::2] - g[..., 1::2], rtol=0, atol=1e-12)
    for b in range(B):
        c = int(hist.epoch[b])
        if hist.converged[b]:  # frozen after convergence, error NaN after it
            for field in (hist.pulses, hist.conductances, hist.activations):
                np.testing.assert_array_equal(
                    field[b, c:], np.broadcast_to(field[b, c - 1], field[b, c:].shape)
                )
            assert np.all(np.isnan(hist.error[b, c:]))
            f, y = hist.activations[b, c - 1], hist.labels
            assert np.all(np.where(y == 1, f > 0.5, f < -0.5))
        else:
            assert np.all(hist.error[b] > 0)
        # one pulse per synapse per epoch at most: counts grow by 0 or 1 per device
        steps = np.diff(hist.pulses[b], axis=0)
        assert set(np.unique(steps)) <= {0, 1}


def test_run_history_reproduces_monte_carlo_outcomes(model_curve):
    """From (seed, crossbar index), or from a job's summary.json params, the same crossbars."""
    kw = dict(beta=2e7, positive_target=0.5, negative_target=-0.5, k=5.0, low=2e-9, high=3e-8)
    mc = cj.run_monte_carlo(5, 300, curve=model_curve, **kw)
    ids = pick_crossbars(mc.converged, mc.crossbar)
    assert len(ids) == 2 and mc.converged[ids[0]] and not mc.converged[ids[1]]
    ids += [137, 299]
    hist = record_run_history(5, ids, curve=model_curve, **kw)
    np.testing.assert_array_equal(hist.crossbar, ids)
    np.testing.assert_array_equal(hist.converged, mc.converged[ids])
    np.testing.assert_array_equal(hist.epoch, mc.epoch[ids])

    summary = {  # the parameters as the app writes them into summary.json
        "params": {
            "device": {
                "curve": str(REPO / "data" / "lsmo_gaq3_model.csv"),
                "curve_points": 51,
                "k": 5.0,
                "shift": {"low": 2e-9, "high": 3e-8, "division_factor": 5.0},
            },
            "training": dict(beta=2e7, positive_target=0.5, negative_target=-0.5, epochs=50),
            "dataset": {
                "name": "four_bit",
                "train": {"patterns": D.train_patterns.tolist(), "labels": D.train_labels.tolist()},
            },
            "mc": {"seed": 5, "precision": "float32"},
        }
    }
    again = record_summary_history(summary, converged=mc.converged)
    np.testing.assert_array_equal(again.crossbar, ids[:2])
    np.testing.assert_array_equal(again.final_pulses, hist.final_pulses[:2])


def test_limits_and_picks(model_curve):
    too_many = np.full((MAX_HISTORY_BATCH + 1, 4, 4), 5e-8)
    with pytest.raises(ValueError, match=f"at most {MAX_HISTORY_BATCH}"):
        record_history(too_many, curve=model_curve, **POINT)
    with pytest.raises(ValueError, match="shifts"):
        record_history(np.ones((2, 4, 3)) * 1e-8, curve=model_curve, **POINT)
    one = record_history(np.full((4, 4), 5e-8), curve=model_curve, **POINT)
    assert one.error.shape == (1, 50) and one.epochs == 50
    assert pick_crossbars([False, True, True]) == [1, 0]
    assert pick_crossbars([True, True]) == [0]
    assert pick_crossbars([False, False], crossbar=[10, 11]) == [10]
