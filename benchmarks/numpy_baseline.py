"""The benchmark's baseline: a plain vectorised NumPy implementation of the same algorithm.

This is what a careful NumPy user writes for ALGORITHM.md: the batch of crossbars is the
vectorised axis (arrays (B, rows, cols)), Python loops over epochs only, the small products are
batched `matmul`s (4x faster than `einsum` here), and each crossbar stops with a mask once it
converges; the loop ends when all have. sech^2 is taken relative to each neuron's largest
term, as `crossbar_jax.manhattan.relative_sech2` does, so that float32 follows the float64
reference (1/cosh^2 underflows in float32). It reproduces `crossbar_jax.train`'s outcomes
(converged, epoch, every pulse count) and its errors to rounding; `benchmarks/throughput.py`
checks that on every run.
"""

from __future__ import annotations

import numpy as np

# The |beta * I| above which the float64 reference's 1/cosh^2 is exactly 0.
SECH2_ZERO_ABOVE = 355.58


def train_numpy(
    shifts,
    curve,
    patterns,
    labels,
    *,
    beta,
    positive_target,
    negative_target,
    k,
    epochs=50,
    v0=-0.1,
    v1=0.1,
    dtype=np.float32,
):
    """Train B crossbars; returns (converged, epoch, pulses, errors, final_error) like `train`."""
    dt = np.dtype(dtype)
    s = np.asarray(shifts, dt)
    b, rows, cols = s.shape
    curve = np.asarray(curve, np.float64)
    offsets = (curve - curve[0]).astype(dt)
    last = len(offsets) - 1
    v = np.where(np.asarray(patterns) == 1, v1, v0).astype(dt)  # (P, rows)
    one = np.asarray(labels) == 1  # (P, M)
    beta, tp, tn, k = (dt.type(x) for x in (beta, positive_target, negative_target, k))
    target = np.where(one, tp, tn).astype(dt)

    pulses = np.zeros((b, rows, cols), np.int64)
    done = np.zeros(b, bool)
    epoch = np.full(b, epochs, np.int32)
    final_error = np.full(b, np.nan, dt)
    errors = np.full((b, epochs), np.nan, dt)
    for e in range(epochs):
        g = k * (offsets[pulses] + s)  # (B, rows, cols) siemens
        currents = v @ g  # (B, P, cols)
        x = beta * (currents[:, :, 0::2] - currents[:, :, 1::2])  # (B, P, M)
        f = np.tanh(x)
        success = np.where(one, f > tp, f < tn)
        converged = success.all(axis=(1, 2))
        miss = np.where(success, 0, np.where(one, tp - f, f - tn))
        err = miss.reshape(b, -1).sum(axis=1)
        active = ~done
        epoch[converged & active] = e + 1
        final_error[active] = err[active]
        done |= converged
        if done.all():
            break
        update = ~done
        errors[update, e] = err[update]
        # sech^2(a) / sech^2(a_min) per neuron, never overflowing; 0 beyond the float64 limit
        a = np.abs(x)
        live = a <= SECH2_ZERO_ABOVE
        a_min = np.where(live, a, np.inf).min(axis=1, keepdims=True)
        a_min = np.where(np.isfinite(a_min), a_min, 0).astype(dt)
        with np.errstate(under="ignore"):
            u = np.where(live, np.exp(-2 * (a - a_min)), 0)
            e_min = np.exp(-2 * a_min)
        ratio = u * ((1 + e_min) / (1 + u * e_min)) ** 2
        delta = v.T @ ((target - f) * ratio)  # (B, rows, M)
        step = np.stack([delta > 0, delta < 0], axis=-1).reshape(b, rows, cols)
        pulses += step & update[:, None, None]
        np.minimum(pulses, last, out=pulses)
    final_error[done] = 0
    return done, epoch, pulses.astype(np.int32), errors, final_error
