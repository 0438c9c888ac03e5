"""The 3x3 letters task (Prezioso et al. 2015): dataset, configuration, and the app's run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import crossbar_jax as cj
from crossbar_jax.app.config import validate_config
from crossbar_jax.app.outputs import RESULTS, SUMMARY
from crossbar_jax.app.study import run_study
from crossbar_jax.datasets import LETTER_PIXELS, letters_dataset

REPO = Path(__file__).resolve().parents[1]


def test_letters_dataset_structure():
    ds = letters_dataset(holdout_per_letter=3, seed=0)
    assert (ds.rows, ds.cols, ds.neurons) == (10, 6, 3)
    assert len(ds.train_patterns) == 21 and len(ds.test_patterns) == 9
    x = np.concatenate([ds.train_patterns, ds.test_patterns])
    y = np.concatenate([ds.train_labels, ds.test_labels])
    assert np.all(x[:, 9] == 1)  # the bias input
    assert len({tuple(r) for r in x}) == 30  # 3 letters x (clean + 9 flips), all different
    assert np.all(y.sum(axis=1) == 1)  # one neuron per letter
    for pixels, label in zip(x[:, :9], y, strict=True):
        clean = np.array(list(LETTER_PIXELS.values())[int(np.argmax(label))])
        assert np.sum(pixels != clean) <= 1  # the letter or one of its single-pixel flips
    for m, clean in enumerate(LETTER_PIXELS.values()):  # clean letters are always trained
        assert any(np.array_equal(r[:9], clean) and ds.train_labels[i, m] == 1
                   for i, r in enumerate(ds.train_patterns))  # fmt: skip
    other = letters_dataset(holdout_per_letter=3, seed=1)
    assert not np.array_equal(other.test_patterns, ds.test_patterns)  # the split follows the seed


def test_dataset_letters_sets_the_crossbar_size(compose_cfg):
    spec = validate_config(compose_cfg("dataset=letters"))
    assert (spec.dataset.rows, spec.dataset.cols) == (10, 6)
    assert spec.params["device"]["rows"] == 10 and spec.params["device"]["cols"] == 6
    ds = spec.params["dataset"]
    assert (ds["name"], ds["kind"], ds["holdout_per_letter"], ds["split_seed"]) == (
        "letters", "letters", 3, 0,
    )  # fmt: skip
    np.testing.assert_array_equal(spec.dataset.train_patterns, cj.datasets.LETTERS.train_patterns)
    two = validate_config(compose_cfg("dataset=letters", "dataset.holdout_per_letter=2"))
    assert len(two.dataset.test_patterns) == 6 and len(two.dataset.train_patterns) == 24
    sized = validate_config(compose_cfg("dataset=letters", "device.rows=10", "device.cols=6"))
    assert sized.params == spec.params


def _letters_job(compose_cfg, out, *extra):
    cfg = compose_cfg("experiment=letters", "mc.n_crossbars=512", "mc.progress=false", *extra)
    return run_study(cfg, out, echo=None)


@pytest.mark.slow
def test_experiment_letters_converges_in_most_seeds(compose_cfg, tmp_path):
    """experiment=letters at its documented parameters: most crossbars converge, and they
    classify the held-out letters."""
    summary = _letters_job(compose_cfg, tmp_path)
    df = pd.read_parquet(tmp_path / RESULTS)
    assert len(df) == 512 and summary["params"]["dataset"]["name"] == "letters"
    # 10^5 crossbars converge at rate 0.805 (0.803-0.808); 512 lie within 5 binomial
    # standard errors (0.088) of that, so well above one half.
    assert summary["convergence_rate"] > 0.6
    assert df.loc[df["converged"], "test_accuracy"].mean() > 0.95  # held-out letters are right
    assert json.loads((tmp_path / SUMMARY).read_text()) == summary


@pytest.mark.slow
def test_experiment_letters_writes_the_figures_and_report_of_the_four_bit_task(
    compose_cfg, tmp_path
):
    """The same outputs as the 4-bit task: results, summary, figures (run and crossbar
    figures) and report.md. (About 40 s: compiling the 10x6 engine and history dominates.)"""
    _letters_job(compose_cfg, tmp_path, "report.figures=true", "report.trajectories=true")
    assert (tmp_path / RESULTS).is_file() and (tmp_path / SUMMARY).is_file()
    figures = {p.name for p in (tmp_path / "figures").glob("*.png")}
    assert {"epoch_histogram.png", "kaplan_meier.png", "test_accuracy.png"} <= figures
    assert any(name.startswith("crossbar_") for name in figures)
    report = (tmp_path / "report.md").read_text()
    assert "letters" in report and "figures/" in report


@pytest.mark.slow
def test_general_engine_agrees_with_the_fast_engine_on_letters():
    """Converged, epoch and test accuracy are identical crossbar for crossbar. The fast
    engine's fused float32 sums over 10 rows round differently from a strict left-to-right
    sum (the general engine's, which is NumPy's): the final errors agree to float32 rounding,
    except for the rare crossbar where a near-zero update sign flips and its pulses part ways
    (3 of 2000 here)."""
    from crossbar_jax.montecarlo import run_monte_carlo_nonideal

    curve = cj.load_curve(REPO / "data" / "lsmo_gaq3_model.csv")
    kw = dict(curve=curve, dataset=cj.datasets.LETTERS, beta=1.2e7, positive_target=0.5,
              negative_target=-0.5, low=1e-9, high=1e-8)  # fmt: skip
    fast = cj.run_monte_carlo(0, 2000, **kw)
    general = run_monte_carlo_nonideal(0, 2000, **kw)
    assert 0.5 < fast.converged.mean() < 0.95
    np.testing.assert_array_equal(general.converged, fast.converged)
    np.testing.assert_array_equal(general.epoch, fast.epoch)
    np.testing.assert_array_equal(general.test_accuracy, fast.test_accuracy)
    close = np.isclose(general.final_error, fast.final_error, rtol=1e-5, atol=0)
    assert close.mean() > 0.99
