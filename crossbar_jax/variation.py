"""Device-to-device variation: per-crossbar random shifts of the device conductances.

Every crossbar i draws its shifts from its own key, ``fold_in(key(seed), i)``, so crossbar i
gets the same devices, and the same training outcome, whatever the batch size or chunking.
`sample_shifts` and the Monte Carlo runner share one sampler, `shift_lanes`, so the shifts a
study drew for crossbar i can be drawn again bit for bit.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

__all__ = ["crossbar_keys", "lognormal_minmax", "shift_lanes", "sample_shifts", "DISTRIBUTIONS"]

DISTRIBUTIONS = ("lognormal_minmax",)


def crossbar_keys(seed: int, indices):
    """Per-crossbar keys from (seed, crossbar index): (n,) typed PRNG keys."""
    base = jax.random.key(jnp.asarray(seed, jnp.uint32))
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.asarray(indices, jnp.uint32))


def lognormal_minmax(key, shape, low, high, division_factor, dtype=jnp.float32):
    """The reference's "lognormal min-max" shifts of one crossbar (siemens).

    Draws ``rows * cols`` iid lognormal values with ``mu = ln((low + high) / 2)`` and
    ``sigma = |ln(high / low)| / division_factor``, then rescales them linearly so that the
    smallest is exactly `low` and the largest `high`; row-major to `shape`.

    Args:
        key: this crossbar's PRNG key.
        shape: (rows, cols), static.
        low, high: shift range in siemens (0 < low < high), traced.
        division_factor: spread control, > 0; larger gives a narrower lognormal.
    """
    n = shape[0] * shape[1]
    mu = jnp.log((low + high) / 2.0)
    sigma = jnp.abs(jnp.log(high / low)) / division_factor
    z = jax.random.normal(key, (n,), dtype=dtype)
    x = jnp.exp(mu + sigma * z)
    lo, hi = jnp.min(x), jnp.max(x)
    s = (x - lo) / (hi - lo) * (high - low) + low
    return s.reshape(shape).astype(dtype)


def shift_lanes(seed, indices, shape, low, high, division_factor, dtype=jnp.float32):
    """Lognormal min-max shifts of crossbars `indices`, crossbars last: (rows, cols, n) siemens.

    Args:
        seed: the study's seed (uint32, traced).
        indices: (n,) crossbar indices; crossbar i uses ``fold_in(key(seed), i)``.
        shape: (rows, cols), static.
        low, high, division_factor: (n,) per crossbar (each crossbar may belong to another
            parameter point), traced.
    """
    sample = partial(lognormal_minmax, shape=tuple(shape), dtype=dtype)
    shifts = jax.vmap(lambda k, lo, hi, df: sample(k, low=lo, high=hi, division_factor=df))(
        crossbar_keys(seed, indices), low, high, division_factor
    )
    return jnp.moveaxis(shifts, 0, -1)


@partial(jax.jit, static_argnames=("n", "shape", "dtype"))
def _sample(seed, start, low, high, division_factor, *, n, shape, dtype):
    idx = start + jnp.arange(n, dtype=jnp.uint32)
    full = partial(jnp.full, (n,), dtype=dtype)
    return jnp.moveaxis(
        shift_lanes(seed, idx, shape, full(low), full(high), full(division_factor), dtype), -1, 0
    )


def sample_shifts(
    seed: int,
    n_crossbars: int,
    shape,
    *,
    low=1e-8,
    high=1e-7,
    division_factor=5.0,
    start: int = 0,
    dtype=jnp.float32,
):
    """Shifts of crossbars ``start .. start + n_crossbars - 1``: (n, rows, cols) siemens.

    Exactly the shifts `run_monte_carlo` (and `run_grid`) draw for these crossbars.
    """
    return _sample(
        jnp.uint32(seed),
        jnp.uint32(start),
        low,
        high,
        division_factor,
        n=int(n_crossbars),
        shape=tuple(int(v) for v in shape),
        dtype=jnp.dtype(dtype),
    )
