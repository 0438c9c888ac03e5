"""Counter-based random numbers for the epoch kernel: cheap, per lane, batch-independent.

The noise of the non-idealities is drawn inside the epoch loop, for every crossbar, pattern and
device, every epoch. Threefry (`jax.random`) costs about 20 rounds per pair of words, more than
the epoch itself, so the kernel uses a stateless hash instead: every number is a pure function
of (seed, crossbar index, stream, epoch, counter), built from a 32-bit integer finaliser with
good avalanche (`mix32`, the "lowbias32" constants of Chris Wellons' hash-prospector). Crossbar
i therefore draws the same numbers whatever its batch, chunk, lane or device.

Normals come from the inverse CDF of 24-bit uniforms (tails truncated at about 5.4 sigma),
which is plenty for device noise. The shifts and the stuck-device draws are made once per crossbar,
outside the loop, with `jax.random` from ``fold_in(key(seed), i)`` (see
`crossbar_jax.variation`).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["mix32", "lane_word", "stream_word", "uniforms", "normals"]

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
    """(n, *word.shape) uniforms in (0, 1) from one (stream, epoch) word."""
    scale = np.asarray(2.0**-24, dtype)
    return ((_hashes(word, n) >> 8).astype(dtype) + 0.5) * scale


def normals(word, n: int, dtype):
    """(n, *word.shape) standard normals from one (stream, epoch) word, by the inverse CDF.

    z = sqrt(2) erfinv(v) with v uniform in (-1, 1): XLA expands erfinv into a polynomial with
    one log and one sqrt, which vectorises; Box-Muller's sin and cos did not (measured 4x
    slower on XLA:CPU). The numbers come as one array, not a list: a stack of per-counter
    arrays became a concatenation that XLA emits with a branch per element. The 24-bit
    uniforms bound |z| below about 5.4.
    """
    scale = np.asarray(2.0**-23, dtype)
    v = ((_hashes(word, n) >> 8).astype(dtype) + 0.5) * scale - 1.0
    return np.asarray(np.sqrt(2.0), dtype) * lax.erf_inv(v)


# Counter streams of the in-loop noise: read noise in training, cycle-to-cycle noise, and the
# read noise of the held-out evaluation.
READ_STREAM = 0
C2C_STREAM = 1
EVAL_STREAM = 2
