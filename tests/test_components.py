"""The pure kernels against direct NumPy transcriptions of ALGORITHM.md."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar_jax.device import apply_pulses, curve_offsets, lookup_conductance
from crossbar_jax.forward import forward, pattern_voltages
from crossbar_jax.manhattan import (
    SECH2_ZERO_ABOVE,
    epoch_error,
    manhattan_direction,
    pattern_success,
    relative_sech2,
)

RNG = np.random.default_rng(1)
CURVE = np.linspace(4.5e-7, 5.3e-7, 51) + RNG.normal(0, 2e-9, 51)


def test_lookup_is_an_index_into_the_curve():
    pulses = RNG.integers(0, 51, size=(4, 4))
    shifts = RNG.uniform(1e-8, 1e-7, size=(4, 4))
    with jax.enable_x64(True):
        g = lookup_conductance(jnp.asarray(pulses), curve_offsets(CURVE, np.float64), shifts, 10.0)
        np.testing.assert_allclose(g, 10.0 * (CURVE[pulses] - CURVE[0] + shifts), rtol=1e-15)
    # before any pulse G = k * s
    g0 = lookup_conductance(jnp.zeros((4, 4), int), curve_offsets(CURVE, np.float32), shifts, 3.0)
    np.testing.assert_allclose(g0, 3.0 * shifts, rtol=1e-6)


def test_pulses_go_to_g_plus_or_g_minus_and_saturate():
    pulses = jnp.array([[0, 0, 50, 49], [3, 4, 5, 6]], jnp.int32)
    to_plus = jnp.array([[True, False], [False, False]])
    to_minus = jnp.array([[False, True], [True, False]])
    out = apply_pulses(pulses, to_plus, to_minus, 51)
    np.testing.assert_array_equal(out, [[1, 0, 50, 50], [3, 5, 5, 6]])


def _numpy_reference_epoch(G, patterns, labels, beta, tp, tn, v0=-0.1, v1=0.1):
    v = np.where(patterns == 1, v1, v0)
    i = v @ G
    current = i[:, 0::2] - i[:, 1::2]
    f = np.tanh(beta * current)
    ok = np.where(labels == 1, f > tp, f < tn)
    err = np.sum(np.where(ok, 0.0, np.where(labels == 1, tp - f, f - tn)))
    target = np.where(labels == 1, tp, tn)
    with np.errstate(over="ignore"):
        delta = (target - f) * beta / np.cosh(beta * current) ** 2
    return f, ok, err, np.sign(v.T @ delta)


@pytest.mark.parametrize("beta", [6e6, 2e7, 3e8, 2e9])
def test_epoch_kernels_match_numpy_float64(beta):
    patterns = np.array([[0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 1, 0], [1, 0, 0, 1], [1, 1, 0, 1]])
    labels = np.array([[0, 1], [1, 0], [1, 0], [0, 1], [0, 1]])
    G = 10 * RNG.uniform(1e-8, 1.8e-7, size=(4, 4))
    f_ref, ok_ref, err_ref, dw_ref = _numpy_reference_epoch(G, patterns, labels, beta, 0.8, -0.8)
    with jax.enable_x64(True):
        v = pattern_voltages(jnp.asarray(patterns), -0.1, 0.1)
        f, x = forward(v, jnp.asarray(G), beta)
        ok = pattern_success(f, labels, 0.8, -0.8)
        err = epoch_error(f, labels, ok, 0.8, -0.8)
        dw = manhattan_direction(f, x, jnp.asarray(labels), v, 0.8, -0.8)
        np.testing.assert_allclose(f, f_ref, rtol=1e-13, atol=1e-15)
        np.testing.assert_array_equal(ok, ok_ref)
        np.testing.assert_allclose(err, err_ref, rtol=1e-12)
        np.testing.assert_array_equal(dw, dw_ref)


def test_relative_sech2_is_the_sech2_ratio_and_never_overflows():
    x = np.array([[0.1, -3.0], [2.0, 20.0], [-40.0, 300.0]])
    with jax.enable_x64(True):
        r = np.asarray(relative_sech2(jnp.asarray(x)))
    sech2 = 1 / np.cosh(x) ** 2
    np.testing.assert_allclose(r, sech2 / sech2.max(axis=0), rtol=1e-12, atol=0)
    # float32: |x| of 60..350, where 1/cosh^2 is 0 or overflows, still gives positive weights
    x32 = jnp.asarray([[60.0], [61.0], [350.0]], jnp.float32)
    r32 = np.asarray(relative_sech2(x32))
    assert r32[0, 0] == 1.0 and r32[1, 0] > 0 and np.all(np.isfinite(r32))


def test_sech2_terms_beyond_the_float64_overflow_are_zero_as_in_the_reference():
    x = jnp.asarray([[SECH2_ZERO_ABOVE + 1.0], [SECH2_ZERO_ABOVE + 5.0]], jnp.float32)
    assert np.all(np.asarray(relative_sech2(x)) == 0.0)
    with np.errstate(over="ignore"):
        assert 1 / np.cosh(SECH2_ZERO_ABOVE + 1.0) ** 2 == 0.0
        assert 1 / np.cosh(SECH2_ZERO_ABOVE) ** 2 > 0.0


def test_update_sign_survives_float32_where_sech2_underflows():
    """|beta I| >= 80 for every pattern: float32 1/cosh^2 is 0 there, the float64 sign is not."""
    patterns = np.array([[0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 1, 0], [1, 0, 0, 1], [1, 1, 0, 1]])
    labels = np.array([[0, 1], [1, 0], [1, 0], [0, 1], [0, 1]])
    G = 10 * np.random.default_rng(7).uniform(1e-8, 1.8e-7, size=(4, 4))
    v64 = np.where(patterns == 1, 0.1, -0.1)
    i = v64 @ G
    beta = 80.0 / np.min(np.abs(i[:, 0::2] - i[:, 1::2]))
    *_, dw_ref = _numpy_reference_epoch(G, patterns, labels, beta, 0.8, -0.8)
    assert np.all(dw_ref != 0)
    v = pattern_voltages(jnp.asarray(patterns), -0.1, 0.1).astype(jnp.float32)
    f, x = forward(v, jnp.asarray(G, jnp.float32), jnp.float32(beta))
    assert float(jnp.min(jnp.abs(x))) > 79
    assert np.all(1 / np.cosh(np.asarray(x, np.float32)) ** 2 == 0)  # what a naive float32 gives
    dw = manhattan_direction(f, x, jnp.asarray(labels), v, 0.8, -0.8)
    np.testing.assert_array_equal(dw, dw_ref)
