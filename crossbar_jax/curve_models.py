"""Smooth glassy-growth models of a conductance-versus-pulse curve, and fitting them.

Every model has the form ``G(n) = G0 + A * s(n; theta)`` with ``s(0; theta) = 0``, so ``G(0) = G0``,
for the pulse number ``n = 0, 1, ..., N-1`` (``n = 0`` is the state before any pulse):

* ``exponential``: ``s = 1 - exp(-n / tau)`` (a single saturating exponential),
* ``stretched_exponential``: ``s = 1 - exp(-(n / tau)**b)`` (Kohlrausch; ``b < 1`` is glassy),
* ``logarithmic``: ``s = ln(1 + n / n0)``,
* ``power_law``: ``s = n**p`` with ``p > 0`` (``p < 1``: sublinear growth; unlike
  ``(1 + n)**p - 1``, it can follow a fast rise over the first pulses followed by slow growth).

``G0`` and ``A`` are in siemens (``A < 0`` describes a depression curve); ``tau`` and ``n0`` are
in pulses; ``b`` and ``p`` are dimensionless.

Fitting works on the curve rescaled to order one, ``(g - min g) / span``, so that the
least-squares problem is well conditioned for conductances of ~1e-7 S. The starting point of
each fit is the best point of a grid over the shape parameters ``theta``, with ``G0`` and ``A``
solved by linear least squares at every grid point; it seeds a bounded
:func:`scipy.optimize.curve_fit`.

Model selection (:func:`best_fit`) uses the small-sample corrected Akaike information criterion
for Gaussian residuals of equal variance,
``AICc = N ln(RSS / N) + 2k + 2k(k + 1) / (N - k - 1)``, with ``k`` the number of model
parameters plus one (the noise variance). The lowest AICc wins; ties go to fewer parameters.
A residual rms below ``1e-9`` of the curve's span counts as an exact fit (floored there), so
that on noise-free data the simplest exact model wins rather than the last digit of round-off.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from crossbar_jax.curve import validate_curve

__all__ = ["MODELS", "CurveModel", "FitResult", "best_fit", "fit_curve_models"]

_RMS_FLOOR = 1e-9  # relative to the curve's span


@dataclass(frozen=True)
class CurveModel:
    """One model form ``G0 + A * shape(n, *theta)``.

    Attributes:
        name: short identifier.
        formula: human-readable formula.
        shape: ``s(n, *theta)`` with ``s(0) = 0``.
        shape_params: names of ``theta``.
        shape_units: units of ``theta`` (``"pulses"`` or ``"1"`` for dimensionless).
        grid: ``grid(N)`` -> starting values of ``theta`` to try for an ``N``-point curve.
        bounds: ``bounds(N)`` -> ``(lower, upper)`` bounds of ``theta``.
    """

    name: str
    formula: str
    shape: Callable[..., np.ndarray]
    shape_params: tuple[str, ...]
    shape_units: tuple[str, ...]
    grid: Callable[[int], list[tuple[float, ...]]]
    bounds: Callable[[int], tuple[list[float], list[float]]]

    @property
    def param_names(self) -> tuple[str, ...]:
        return ("G0", "A", *self.shape_params)

    @property
    def param_units(self) -> tuple[str, ...]:
        return ("S", "S", *self.shape_units)

    def __call__(self, n, G0, A, *theta):
        """Evaluate the model at pulse number(s) ``n``, in the units of ``G0`` and ``A``."""
        return G0 + A * self.shape(np.asarray(n, dtype=np.float64), *theta)


def _taus(N: int, k: int = 24) -> list[float]:
    return list(np.geomspace(0.05, 10.0 * N, k))


MODELS: dict[str, CurveModel] = {
    m.name: m
    for m in (
        CurveModel(
            "exponential", "G0 + A*(1 - exp(-n/tau))",
            lambda n, tau: -np.expm1(-n / tau), ("tau",), ("pulses",),
            lambda N: [(t,) for t in _taus(N)],
            lambda N: ([1e-3], [1e3 * N]),
        ),
        CurveModel(
            "stretched_exponential", "G0 + A*(1 - exp(-(n/tau)**b))",
            lambda n, tau, b: -np.expm1(-((n / tau) ** b)), ("tau", "b"), ("pulses", "1"),
            lambda N: [(t, b) for t in _taus(N, 16) for b in (0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 1.5)],
            lambda N: ([1e-3, 0.02], [1e3 * N, 5.0]),
        ),
        CurveModel(
            "logarithmic", "G0 + A*ln(1 + n/n0)",
            lambda n, n0: np.log1p(n / n0), ("n0",), ("pulses",),
            lambda N: [(t,) for t in np.geomspace(1e-3, 10.0 * N, 24)],
            lambda N: ([1e-4], [1e3 * N]),
        ),
        CurveModel(
            "power_law", "G0 + A*n**p",
            lambda n, p: n**p, ("p",), ("1",),
            lambda N: [(p,) for p in (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0)],
            lambda N: ([1e-3], [3.0]),
        ),
    )
}  # fmt: skip


@dataclass(frozen=True)
class FitResult:
    """A model fitted to a curve.

    Attributes:
        name: model name (a key of :data:`MODELS`).
        formula: the model's formula.
        params: fitted parameters in SI/pulse units (``G0``, ``A`` in siemens).
        units: unit of each parameter.
        stderr: one-sigma standard errors from the fit covariance (not finite if not estimable).
        rms: root-mean-square residual, siemens.
        aic, aicc, bic: information criteria (dimensionless; only differences matter).
        n_points: number of points fitted.
        success: whether the optimiser converged.
        message: the optimiser's failure message, if any.
    """

    name: str
    formula: str
    params: dict[str, float]
    units: dict[str, str]
    stderr: dict[str, float]
    rms: float
    aic: float
    aicc: float
    bic: float
    n_points: int
    success: bool = True
    message: str = field(default="")

    @property
    def n_params(self) -> int:
        return len(self.params)

    def evaluate(self, n) -> np.ndarray:
        """Model conductance (siemens) at pulse number(s) ``n`` (may be non-integer)."""
        return np.asarray(MODELS[self.name](n, *self.params.values()), dtype=np.float64)

    def to_dict(self) -> dict:
        """A JSON-serialisable summary."""
        return {
            "name": self.name, "formula": self.formula, "n_params": self.n_params,
            "parameters": {
                k: {"value": v, "unit": self.units[k], "stderr": _finite(self.stderr[k])}
                for k, v in self.params.items()
            },
            "rms_S": self.rms, "rms_nS": self.rms * 1e9, "aic": self.aic, "aicc": self.aicc,
            "bic": self.bic, "n_points": self.n_points, "success": self.success,
        }  # fmt: skip


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _fit_one(model: CurveModel, n: np.ndarray, y: np.ndarray, offset: float, span: float):
    N = n.size
    lo_t, hi_t = model.bounds(N)
    lo = np.array([-10.0, -1e4, *lo_t])
    hi = np.array([11.0, 1e4, *hi_t])
    best_rss, p0 = np.inf, None
    for theta in model.grid(N):
        X = np.column_stack([np.ones(N), model.shape(n, *theta)])
        coef = np.linalg.lstsq(X, y, rcond=None)[0]
        rss = float(np.sum((X @ coef - y) ** 2))
        if rss < best_rss:
            best_rss, p0 = rss, np.array([*coef, *theta])
    p0 = np.clip(p0, lo + 1e-12 * (hi - lo), hi - 1e-12 * (hi - lo))
    popt, pcov, success, message = p0, np.full((p0.size, p0.size), np.nan), False, ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            popt, pcov = curve_fit(
                model, n, y, p0=p0, bounds=(lo, hi), x_scale="jac", max_nfev=20000
            )
        success = True
    except (RuntimeError, ValueError) as exc:
        message = str(exc)
    rss = float(np.sum((model(n, *popt) - y) ** 2))
    if not np.isfinite(rss):
        popt, rss, success, message = p0, best_rss, False, "non-finite residuals"
    stderr = np.sqrt(np.clip(np.diag(pcov), 0, None))
    scale = np.array([span, span] + [1.0] * (popt.size - 2))
    params = popt * scale
    params[0] += offset
    rms = span * np.sqrt(rss / N)
    k = popt.size + 1
    ll = N * np.log(max(rss / N, _RMS_FLOOR**2))
    aic = ll + 2 * k
    aicc = aic + (2 * k * (k + 1) / (N - k - 1) if N - k - 1 > 0 else np.inf)
    names = model.param_names
    return FitResult(
        name=model.name, formula=model.formula,
        params={p: float(v) for p, v in zip(names, params, strict=True)},
        units=dict(zip(names, model.param_units, strict=True)),
        stderr={p: float(v) for p, v in zip(names, stderr * scale, strict=True)},
        rms=float(rms), aic=float(aic), aicc=float(aicc), bic=float(ll + k * np.log(N)),
        n_points=N, success=success, message=message,
    )  # fmt: skip


def fit_curve_models(g, models=None) -> list[FitResult]:
    """Fit every model form to a conductance-versus-pulse curve.

    Args:
        g: conductances in siemens, ``g[k]`` after ``k`` pulses (1-D, positive, finite).
        models: model names to fit (default: all of :data:`MODELS`).

    Returns:
        One :class:`FitResult` per model, in the order of ``models``; a model with at least as
        many parameters as points is skipped.

    Raises:
        crossbar_jax.CurveError: ``g`` is not a valid curve.
        ValueError: unknown model name, or too few points for any model.
    """
    g = validate_curve(g, source="fit_curve_models")
    names = list(MODELS) if models is None else list(models)
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; known: {list(MODELS)}")
    n = np.arange(g.size, dtype=np.float64)
    offset = float(g.min())
    span = float(np.ptp(g)) or abs(offset) * 1e-6
    y = (g - offset) / span
    results = [
        _fit_one(MODELS[m], n, y, offset, span)
        for m in names
        if len(MODELS[m].param_names) < g.size
    ]
    if not results:
        raise ValueError(f"a curve of {g.size} points is too short to fit any model")
    return results


def best_fit(g=None, results: list[FitResult] | None = None) -> FitResult:
    """The best model for a curve: lowest AICc among converged fits, ties to fewer parameters.

    Args:
        g: conductances in siemens (fitted with :func:`fit_curve_models` unless ``results``).
        results: fits already made, to choose among without refitting.

    Returns:
        The chosen :class:`FitResult`.
    """
    if results is None:
        results = fit_curve_models(g)
    pool = [r for r in results if r.success] or list(results)
    return min(pool, key=lambda r: (r.aicc, r.n_params))
