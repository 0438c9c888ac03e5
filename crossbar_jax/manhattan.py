"""Targets, convergence, the epoch error and the Manhattan update rule.

The batch gradient of the squared output error with respect to the weights is reduced to its
sign: every device gets at most one identical pulse per epoch (Prezioso et al., Nature 2015).
A positive sign potentiates the synapse by pulsing G+, a negative sign pulses G- instead.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from crossbar_jax.forward import ordered_sum

__all__ = [
    "SECH2_ZERO_ABOVE",
    "pattern_success",
    "epoch_error",
    "relative_sech2",
    "manhattan_direction",
]


def _cosh2_overflow_threshold() -> float:
    """Largest |x| at which float64 ``1 / cosh(x)**2`` is still positive (about 355.58)."""
    lo, hi = 300.0, 400.0
    with np.errstate(over="ignore"):
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if 1.0 / np.cosh(mid) ** 2 > 0.0:
                lo = mid
            else:
                hi = mid
    return lo


# The float64 reference computes sech^2 as 1/cosh^2, which is exactly 0 beyond this |beta*I|
# (cosh^2 overflows). Those patterns then contribute nothing to the update; we do the same, in
# every precision, so that the pulse pattern is the reference's.
SECH2_ZERO_ABOVE = _cosh2_overflow_threshold()


def pattern_success(f, labels, positive_target, negative_target):
    """Whether each neuron meets its target on each pattern: f > t+ for label 1, f < t- for 0."""
    return jnp.where(labels == 1, f > positive_target, f < negative_target)


def epoch_error(f, labels, success, positive_target, negative_target):
    """Total error of an epoch: (t+ - f) over failed 1-labels plus (f - t-) over failed 0-labels."""
    miss = jnp.where(labels == 1, positive_target - f, f - negative_target)
    miss = jnp.where(success, jnp.zeros_like(f), miss)
    return ordered_sum(miss.reshape(-1), axis=0)


def relative_sech2(x):
    """``sech^2(x_p) / max_p sech^2(x_p)`` per neuron, over patterns (axis 0); (P, M).

    The Manhattan rule needs only the sign of ``sum_p (T - f) sech^2(beta I) v``, so a common
    positive factor per neuron can be divided out. Scaling by the largest term keeps the
    dominant contributions of order 1 in float32, where ``1/cosh^2`` underflows or overflows
    for |x| above ~44, and it never overflows. Terms the float64 reference has at exactly 0
    (|x| > `SECH2_ZERO_ABOVE`) are 0 here too.
    """
    a = jnp.abs(x)
    live = a <= SECH2_ZERO_ABOVE
    a_live = jnp.where(live, a, jnp.inf)
    a_min = jnp.min(a_live, axis=0, keepdims=True)
    a_min = jnp.where(jnp.isfinite(a_min), a_min, jnp.zeros_like(a_min))
    # sech^2(a) = 4 e^{-2a} / (1 + e^{-2a})^2, divided by the same at a_min.
    ratio = jnp.exp(-2.0 * (a - a_min)) * ((1.0 + jnp.exp(-2.0 * a_min)) / (1.0 + jnp.exp(-2.0 * a))) ** 2
    return jnp.where(live, ratio, jnp.zeros_like(ratio))


def manhattan_direction(f, x, labels, voltages, positive_target, negative_target):
    """Sign of the batch weight gradient for every synapse: (rows, M) in {-1, 0, +1}.

    ``delta_m(p) = (T_m(p) - f_m(p)) beta sech^2(beta I_m(p))``, ``Delta[m, r] = sum_p delta_m(p)
    v_r(p)``, and ``dW[r, m] = sign(Delta[m, r])``. beta > 0 and the per-neuron scale of
    `relative_sech2` do not change the sign, so neither is applied.

    Args:
        f: (P, M) neuron outputs; x: (P, M) beta * I; labels: (P, M) in {0, 1};
        voltages: (P, rows) volts.
    """
    target = jnp.where(labels == 1, positive_target, negative_target)
    delta = (target - f) * relative_sech2(x)
    return jnp.sign(ordered_sum(voltages[:, :, None] * delta[:, None, :], axis=0))
