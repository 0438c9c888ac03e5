"""Glassy-growth model fits: parameter recovery, model selection, and the fit_curve.py script."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from crossbar_jax import CurveError, load_curve
from crossbar_jax.curve_models import MODELS, best_fit, fit_curve_models

REPO = Path(__file__).resolve().parents[1]

# True parameters (G0 and A in siemens; tau, n0 in pulses; b, p dimensionless), chosen so that
# the forms are distinct over 60 pulses.
TRUE = {
    "exponential": (400e-9, 60e-9, 8.0),
    "stretched_exponential": (400e-9, 80e-9, 6.0, 0.4),
    "logarithmic": (400e-9, 12e-9, 0.5),
    "power_law": (400e-9, 30e-9, 0.3),
}
N = np.arange(60)


def test_models_start_at_g0():
    for name, p in TRUE.items():
        assert MODELS[name](0, *p) == pytest.approx(p[0], rel=1e-15), name


def test_recovers_stretched_exponential_with_noise():
    true = dict(
        zip(MODELS["stretched_exponential"].param_names, TRUE["stretched_exponential"], strict=True)
    )
    sigma = 0.3e-9  # 0.3 nS of measurement noise on an 80 nS rise
    rng = np.random.default_rng(12345)
    g = MODELS["stretched_exponential"](N, *true.values()) + sigma * rng.standard_normal(N.size)
    (fit,) = fit_curve_models(g, models=["stretched_exponential"])
    assert fit.success
    assert fit.rms == pytest.approx(sigma, rel=0.3)
    assert set(fit.params) == {"G0", "A", "tau", "b"}
    assert fit.units == {"G0": "S", "A": "S", "tau": "pulses", "b": "1"}
    for k, v in true.items():
        assert fit.params[k] == pytest.approx(v, rel=0.05), k
        # the truth lies within 4 standard errors of the estimate
        assert abs(fit.params[k] - v) < 4 * fit.stderr[k], k
    np.testing.assert_allclose(fit.evaluate(N), MODELS["stretched_exponential"](N, *true.values()),
                               atol=3 * sigma)  # fmt: skip


@pytest.mark.parametrize("name", list(TRUE))
def test_best_fit_picks_the_true_model_on_clean_data(name):
    g = MODELS[name](N, *TRUE[name])
    results = fit_curve_models(g)
    assert [r.name for r in results] == list(MODELS)
    chosen = best_fit(results=results)
    assert chosen.name == name
    assert chosen.rms < 1e-6 * np.ptp(g)
    np.testing.assert_allclose(list(chosen.params.values()), TRUE[name], rtol=1e-4)
    assert best_fit(g).name == name  # fitting inside best_fit agrees


def test_depression_curve_fits_with_negative_amplitude():
    g = MODELS["logarithmic"](N, 500e-9, -10e-9, 2.0)
    chosen = best_fit(g)
    assert chosen.name == "logarithmic"
    assert chosen.params["A"] == pytest.approx(-10e-9, rel=1e-4)


def test_bad_inputs():
    with pytest.raises(CurveError, match="at least 2 points"):
        fit_curve_models([4e-7])
    with pytest.raises(ValueError, match="unknown model"):
        fit_curve_models(MODELS["power_law"](N, *TRUE["power_law"]), models=["cubic"])
    with pytest.raises(ValueError, match="too short"):
        fit_curve_models([4e-7, 4.1e-7, 4.2e-7])


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "fit_curve", REPO / "experiments" / "fit_curve.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_end_to_end(tmp_path):
    rng = np.random.default_rng(7)
    true = TRUE["stretched_exponential"]
    g = MODELS["stretched_exponential"](N[:41], *true) + 0.5e-9 * rng.standard_normal(41)
    src = tmp_path / "measured.dat"
    src.write_text(
        "# synthetic\npulse G(S)\n" + "".join(f"{i} {v:.17g}\n" for i, v in enumerate(g))
    )
    out = tmp_path / "out"
    argv = [str(src), "--out-dir", str(out), "--name", "syn", "--points", "60", "--column", "G(S)"]
    assert _load_script().main(argv) == 0

    model = load_curve(out / "syn.csv", column="Conductance(S)")
    assert model.shape == (60,)
    assert (out / "syn.csv").read_text().splitlines()[0] == "Conductance(S)"
    summary = json.loads((out / "syn.json").read_text())
    assert summary["chosen_model"] in MODELS
    assert summary["source_file"] == "measured.dat"
    assert summary["points"] == 60 and summary["measured_points"] == 41
    assert {m["name"] for m in summary["models"]} == set(MODELS)
    assert summary["parameters"]["G0"]["unit"] == "S"
    assert 0 < summary["residual_rms_S"] < 2e-9
    assert summary["residual_rms_nS"] == pytest.approx(summary["residual_rms_S"] * 1e9)
    # the written curve is the smooth model, close to the truth but not the noisy input
    np.testing.assert_allclose(model, MODELS["stretched_exponential"](N, *true), atol=3e-9)
    assert not np.isin(model[:41], g).any()
    png = (out / "syn.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
