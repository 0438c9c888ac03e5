"""Device-to-device variation: per-crossbar random shifts of the device conductances.

Every crossbar i draws its shifts from its own key, ``fold_in(key(seed), i)``, so crossbar i
gets the same devices, and the same training outcome, whatever the batch size or chunking.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["crossbar_keys", "lognormal_minmax", "sample_shifts", "DISTRIBUTIONS"]

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


def sample_shifts(seed: int, n_crossbars: int, shape, *, low=1e-8, high=1e-7,
                  division_factor=5.0, start: int = 0, dtype=jnp.float32):
    """Shifts of crossbars ``start .. start + n_crossbars - 1``: (n, rows, cols) siemens."""
    keys = crossbar_keys(seed, jnp.arange(start, start + n_crossbars))
    low, high, division_factor = (jnp.asarray(v, dtype) for v in (low, high, division_factor))
    return jax.vmap(lambda k: lognormal_minmax(k, tuple(shape), low, high, division_factor, dtype))(
        keys
    )
