"""Device-to-device variation: per-crossbar random shifts of the device conductances.

Every crossbar i draws its shifts from its own key, ``fold_in(key(seed), i)``, so crossbar i
gets the same devices, and the same training outcome, whatever the batch size or chunking.
`sample_shifts` and the Monte Carlo runner share one sampler, `shift_lanes`, so the shifts a
study drew for crossbar i can be drawn again bit for bit.

Besides the reference's "lognormal min-max" (`lognormal_minmax`, the default), `sample_shift`
draws from a plain lognormal (`lognormal`), a truncated normal (`truncated_normal`), a uniform
(`uniform`) distribution, or returns a measured shift map (`measured`, the same map for every
crossbar). They take the same (low, high, division_factor) parameters and the same per-crossbar
key, so a study can swap the distribution and keep everything else.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from crossbar_jax import threefry

__all__ = [
    "crossbar_keys",
    "lognormal_minmax",
    "lognormal",
    "truncated_normal",
    "uniform",
    "measured",
    "sample_shift",
    "load_shift_map",
    "shift_lanes",
    "sample_shifts",
    "DISTRIBUTIONS",
    "REFERENCE_DISTRIBUTION",
]

REFERENCE_DISTRIBUTION = "lognormal_minmax"
# The reference's distribution first; the others run on the general engine (crossbar_jax.nonideal).
DISTRIBUTIONS = (REFERENCE_DISTRIBUTION, "lognormal", "truncated_normal", "uniform", "measured")


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
    z = jax.random.normal(key, (shape[0] * shape[1],), dtype=dtype)
    return _minmax_of_normals(z, low, high, division_factor).reshape(shape).astype(dtype)


def _minmax_of_normals(z, low, high, division_factor):
    """One crossbar's lognormal min-max values from its (rows * cols,) standard normals z."""
    mu = jnp.log((low + high) / 2.0)
    sigma = jnp.abs(jnp.log(high / low)) / division_factor
    x = jnp.exp(mu + sigma * z)
    lo, hi = jnp.min(x), jnp.max(x)
    return (x - lo) / (hi - lo) * (high - low) + low


def shift_lanes(seed, indices, shape, low, high, division_factor, dtype=jnp.float32):
    """Lognormal min-max shifts of crossbars `indices`, crossbars last: (rows, cols, n) siemens.

    The draw of `lognormal_minmax` for every crossbar's key ``fold_in(key(seed), i)``, computed
    lane by lane: the normals bit for bit `jax.random`'s (`crossbar_jax.threefry`, one fused
    pass per draw instead of ``vmap``'s Threefry loops); the lognormal and its rescaling equal
    to an ulp or two (XLA evaluates exp with other code in other loops).

    Args:
        seed: the study's seed (uint32, traced).
        indices: (n,) crossbar indices; crossbar i uses ``fold_in(key(seed), i)``.
        shape: (rows, cols), static.
        low, high, division_factor: (n,) per crossbar (each crossbar may belong to another
            parameter point), traced.
    """
    dtype = jnp.dtype(dtype)
    rows, cols = shape
    u = threefry.uniforms(threefry.crossbar_key_words(seed, indices), rows * cols, dtype)
    # From the uniforms on, exactly `lognormal_minmax`'s operations in its layout (crossbars,
    # devices); the barrier keeps XLA from fusing them into the lane-major loops, where it
    # evaluates erf_inv and exp with other code (floats an ulp apart).
    u = lax.optimization_barrier(u.T)
    s = jax.vmap(lambda v, *p: _minmax_of_normals(threefry.normals_of(v), *p))(
        u, low, high, division_factor
    )
    return jnp.moveaxis(s.reshape((-1, rows, cols)).astype(dtype), 0, -1)


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
    from crossbar_jax.validation import check_sample_args

    low, high, division_factor = check_sample_args(
        seed, n_crossbars, shape, low=low, high=high, division_factor=division_factor,
        start=start, dtype=dtype,
    )  # fmt: skip
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


def lognormal(key, shape, low, high, division_factor, dtype=jnp.float32):
    """Plain lognormal shifts of one crossbar (siemens), without the min-max rescaling.

    The same lognormal as `lognormal_minmax` (``mu = ln((low + high) / 2)``,
    ``sigma = |ln(high / low)| / division_factor``) and the same normal draws from `key`, but the
    values are used as drawn: they are not confined to [low, high], and no device is pinned at
    either end. Its median is (low + high) / 2.
    """
    mu = jnp.log((low + high) / 2.0)
    sigma = jnp.abs(jnp.log(high / low)) / division_factor
    z = jax.random.normal(key, (shape[0] * shape[1],), dtype=dtype)
    return jnp.exp(mu + sigma * z).reshape(shape).astype(dtype)


def truncated_normal(key, shape, low, high, division_factor, dtype=jnp.float32):
    """Normal shifts truncated to [low, high] (siemens).

    Mean ``(low + high) / 2`` and standard deviation ``(high - low) / division_factor`` before
    truncation, restricted to [low, high] (the normal's density renormalised on the interval,
    sampled by its inverse CDF, `jax.random.truncated_normal`): every shift lies in [low, high].
    """
    mean = (low + high) / 2.0
    std = (high - low) / division_factor
    z = jax.random.truncated_normal(
        key, (low - mean) / std, (high - mean) / std, shape=shape, dtype=dtype
    )
    return jnp.clip(mean + std * z, low, high).astype(dtype)


def uniform(key, shape, low, high, division_factor=None, dtype=jnp.float32):
    """Shifts uniform on [low, high) (siemens); `division_factor` is not used."""
    del division_factor
    return jax.random.uniform(key, shape, dtype=dtype, minval=low, maxval=high)


def measured(key, shape, shift_map, dtype=jnp.float32):
    """A measured shift map (siemens), the same for every crossbar; `key` is not used.

    With a measured map, every crossbar of a study has the same devices: only the stochastic
    non-idealities (cycle-to-cycle variation, read noise, stuck devices) make them differ.
    """
    del key
    return jnp.broadcast_to(jnp.asarray(shift_map, dtype), shape)


def sample_shift(
    key, shape, distribution, low, high, division_factor, shift_map=None, dtype=jnp.float32
):
    """One crossbar's shifts (siemens) from the named distribution (see `DISTRIBUTIONS`).

    Args:
        key: the crossbar's key, ``fold_in(key(seed), i)``.
        shape: (rows, cols), static.
        distribution: one of `DISTRIBUTIONS`, static.
        low, high, division_factor: shift parameters (traced).
        shift_map: (rows, cols) siemens, for ``"measured"``.
    """
    if distribution == "measured":
        if shift_map is None:
            raise ValueError("distribution='measured' needs a shift_map of shape (rows, cols)")
        return measured(key, shape, shift_map, dtype)
    samplers = {
        "lognormal_minmax": lognormal_minmax,
        "lognormal": lognormal,
        "truncated_normal": truncated_normal,
        "uniform": uniform,
    }
    if distribution not in samplers:
        raise ValueError(f"distribution={distribution!r}: expected one of {list(DISTRIBUTIONS)}")
    return samplers[distribution](key, tuple(shape), low, high, division_factor, dtype=dtype)


def load_shift_map(path) -> np.ndarray:
    """Read a measured shift map: one line per crossbar row, one shift per column (siemens).

    Values are separated by commas or whitespace; empty lines and lines starting with ``#``
    are skipped, and so is a first line that is not numeric (a header). Every row must have
    the same number of values, all finite.

    Returns:
        (rows, cols) float64, siemens.

    Raises:
        ValueError: naming the file and the line at fault.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"{path}: shift map file not found"
            if not path.exists()
            else f"{path}: is a directory, not a shift map file"
        )
    rows, first = [], True
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        cells = [c for c in text.replace(",", " ").split() if c]
        try:
            values = [float(c) for c in cells]
        except ValueError:
            if first:
                first = False
                continue  # a header line
            raise ValueError(f"{path}, line {number}: non-numeric value in {text!r}") from None
        first = False
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{path}, line {number}: shifts must be finite (siemens)")
        rows.append(values)
    if not rows:
        raise ValueError(f"{path}: no shift values found")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise ValueError(f"{path}: rows have different numbers of values {sorted(widths)}")
    return np.asarray(rows, dtype=np.float64)
