"""Counter-based random numbers for the epoch kernel: cheap, per lane, batch-independent.

The noise of the non-idealities is drawn inside the epoch loop, for every crossbar, pattern and
device, every epoch. Threefry (`jax.random`) costs about 20 rounds per pair of words, more than
the epoch itself, so the kernel uses a stateless hash instead: every number is a pure function
of (seed, crossbar index, stream, epoch, counter), built from a 32-bit integer finaliser with
good avalanche (`mix32`, the "lowbias32" constants of Chris Wellons' hash-prospector). Crossbar
i therefore draws the same numbers whatever its batch, chunk, lane or device.

The in-loop normals (cycle-to-cycle noise, read noise, curve noise) are `fast_normals`: an odd
polynomial of the standardised sum of a hash's four bytes, with variance 1, kurtosis 2.997 (a
normal's is 3) and |z| <= 4.44, every quantile within 0.017 of the normal's for |z| < 3. They
cost a few integer operations and three multiply-adds; the inverse-CDF normals (`normals`, an
erfinv with a log and a sqrt per number, tails truncated at about 5.3 sigma) cost more than the
ideal epoch itself. The shifts and the stuck-device draws are made
once per crossbar, outside the loop, from ``fold_in(key(seed), i)`` (see
`crossbar_jax.variation`).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = [
    "mix32",
    "lane_word",
    "stream_word",
    "uniforms",
    "bits_at",
    "normals",
    "fast_normals_at",
    "fast_normals",
]

_GOLDEN = np.uint32(0x9E3779B9)
_C1 = np.uint32(0x7FEB352D)
_C2 = np.uint32(0x846CA68B)


def mix32(x):
    """A bijective 32-bit integer hash (uint32 in, uint32 out)."""
    x = x ^ (x >> 16)
    x = x * _C1
    x = x ^ (x >> 15)
    x = x * _C2
    return x ^ (x >> 16)


def lane_word(seed, index):
    """The 32-bit word of crossbar `index` of a study with `seed` (uint32 arrays)."""
    return mix32(jnp.asarray(index, jnp.uint32) ^ mix32(jnp.asarray(seed, jnp.uint32) + _GOLDEN))


def stream_word(word, stream: int, epoch):
    """The word of one (stream, epoch) of a crossbar: the base of that epoch's counters."""
    s = mix32(word ^ np.uint32((stream * 0x85EBCA6B) & 0xFFFFFFFF))
    return mix32(s + jnp.asarray(epoch, jnp.uint32) * _GOLDEN)


def _hashes(word, n: int):
    """(n, *word.shape) uint32: counter j of every word, hashed (one vector op, no lists)."""
    j = jnp.arange(1, n + 1, dtype=jnp.uint32).reshape((n,) + (1,) * jnp.ndim(word))
    return mix32(word[None] ^ (j * np.uint32(0xC2B2AE35)))


def uniforms(word, n: int, dtype):
    """(n, *word.shape) uniforms in (0, 1) from one (stream, epoch) word: 23-bit numbers plus
    one half, so that float32 never rounds one of them up to exactly 1."""
    scale = np.asarray(2.0**-23, dtype)
    return ((_hashes(word, n) >> 9).astype(dtype) + 0.5) * scale


def bits_at(word, j: int):
    """The 23 random bits of counter j's uniform of `uniforms` (j = 1..n), uint32: the uniform
    is ``(bits + 1/2) 2^-23``, exactly, so bits and uniforms order alike, ties included."""
    return mix32(word ^ np.uint32((j * 0xC2B2AE35) & 0xFFFFFFFF)) >> 9


def normals(word, n: int, dtype):
    """(n, *word.shape) standard normals from one (stream, epoch) word, by the inverse CDF.

    z = sqrt(2) erfinv(v) with v uniform in (-1, 1): XLA expands erfinv into a polynomial with
    one log and one sqrt, which vectorises; Box-Muller's sin and cos did not (measured 4x
    slower on XLA:CPU). The numbers come as one array, not a list: a stack of per-counter
    arrays became a concatenation that XLA emits with a branch per element. The 23-bit
    uniforms bound |z| below about 5.3.
    """
    # 23-bit numbers plus one half: float32 never rounds v to exactly +-1 (erfinv(1) = inf).
    scale = np.asarray(2.0**-22, dtype)
    v = ((_hashes(word, n) >> 9).astype(dtype) + 0.5) * scale - 1.0
    return np.asarray(np.sqrt(2.0), dtype) * lax.erf_inv(v)


# fast_normals_at: the sum of a hash's 4 bytes, standardised (x), then z = x (a + x^2 (b + c x^2)),
# fitted by weighted least squares to the normal quantiles of the exact distribution of the sum
# and scaled to unit variance (variance 1 to 1e-9, kurtosis 2.997, |z| <= 4.44; every quantile
# within 0.017 of the normal's for |z| < 3; tests/test_curve_noise.py recomputes these).
_SUM_MEAN = np.float64(510.0)
_SUM_STD = np.float64(np.sqrt(4 * (256**2 - 1) / 12))
_POLY = (0.9677649448, 0.004001926214, 0.001904728071)


def fast_normals_at(word, counters, dtype):
    """Near-normal numbers at given counters, from integer ops and three multiply-adds.

    `counters` (uint32, broadcasting against `word`) name the numbers, so a number is the same
    whichever epoch or lane asks for it: the per-device curve noise uses counter
    ``device * L + n + 1`` for the noise at pulse count n.

    The per-device curve noise draws one number per moving device every epoch; the inverse-CDF
    normals of `normals` cost there more than the ideal epoch itself (measured with
    benchmarks/curve_noise.py: 0.48 of the ideal trainings/s against 0.75 with these). The
    numbers are an odd polynomial of the standardised sum of the hash's four bytes (see
    `_POLY`): variance 1, kurtosis 2.997 (normal: 3), bounded by 4.44.
    """
    c = jnp.asarray(counters, jnp.uint32)
    h = mix32(word ^ (c * np.uint32(0xC2B2AE35)))
    b = np.uint32(255)
    t = (h & b) + ((h >> 8) & b) + ((h >> 16) & b) + (h >> 24)
    x = (t.astype(dtype) - np.asarray(_SUM_MEAN, dtype)) * np.asarray(1 / _SUM_STD, dtype)
    a1, a3, a5 = (np.asarray(v, dtype) for v in _POLY)
    x2 = x * x
    return x * (a1 + x2 * (a3 + x2 * a5))


def fast_normals(word, n: int, dtype):
    """(n, *word.shape) near-normal numbers (`fast_normals_at`) at counters 1..n of a word."""
    j = jnp.arange(1, n + 1, dtype=jnp.uint32).reshape((n,) + (1,) * jnp.ndim(word))
    return fast_normals_at(word[None], j, dtype)


# Counter streams of the in-loop noise: read noise in training, cycle-to-cycle noise, and the
# read noise of the held-out evaluation.
READ_STREAM = 0
C2C_STREAM = 1
EVAL_STREAM = 2
# Streams of per-device properties (drawn with epoch 0): the curve noise of the potentiation
# curve and of a depression curve of its own, and each device's curve of a pool.
CURVE_STREAM = 3
CURVE_DEP_STREAM = 4
POOL_STREAM = 5
# Streams of online training (crossbar_jax.online): each epoch's pattern order (the shuffle), and
# the read noise of every pattern step (counter epoch e * P + j for step j of epoch e).
SHUFFLE_STREAM = 6
ONLINE_READ_STREAM = 7
