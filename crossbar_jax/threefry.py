"""`jax.random`'s draws for crossbar keys ``fold_in(key(seed), i)``, written lane by lane.

The shifts of crossbar i are ``jax.random.normal(fold_in(key(seed), i), (rows * cols,))`` (then
the lognormal min-max of `crossbar_jax.variation`). Drawn through ``vmap`` of `jax.random`, XLA
runs Threefry's 20 rounds as a loop of five small loops over memory per draw; here the same
Threefry-2x32 is written out as elementwise uint32 arithmetic on (B,) lanes, which XLA fuses
into one pass per draw. The numbers are bit for bit `jax.random`'s (the default "threefry2x32"
implementation with partitionable keys, JAX's default; tested against it), so outputs computed
before this module existed are reproduced.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["hash2x32", "crossbar_key_words", "random_bits", "uniforms", "normals_of", "normals"]

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _rotl(x, d: int):
    return (x << np.uint32(d)) | (x >> np.uint32(32 - d))


def hash2x32(k1, k2, x1, x2):
    """The Threefry-2x32 block function (20 rounds) of key (k1, k2) on counters (x1, x2)."""
    ks = (k1, k2, k1 ^ k2 ^ _PARITY)
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = x1 + x2
            x2 = x1 ^ _rotl(x2, r)
        x1 = x1 + ks[(i + 1) % 3]
        x2 = x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def crossbar_key_words(seed, indices):
    """The two words of ``fold_in(key(seed), i)`` for every crossbar index i: ((B,), (B,))."""
    idx = jnp.asarray(indices, jnp.uint32)
    zero = jnp.zeros_like(idx)
    return hash2x32(np.uint32(0), jnp.asarray(seed, jnp.uint32), zero, idx)


def random_bits(key, j: int, width: int):
    """Word j of ``jax.random.bits(key, (n,))`` for lanes of keys: (B,) uint32 or uint64."""
    k1, k2 = key
    zero = jnp.zeros_like(k1)
    b1, b2 = hash2x32(k1, k2, zero, jnp.full_like(k1, np.uint32(j)))
    if width == 32:
        return b1 ^ b2
    return (b1.astype(jnp.uint64) << np.uint64(32)) | b2.astype(jnp.uint64)


def uniforms(key, n: int, dtype):
    """The uniforms that ``jax.random.normal(key, (n,), dtype)`` transforms, lane by lane:
    (n, B) in [nextafter(-1, 0), 1). `normals_of` turns them into the normals."""
    dtype = jnp.dtype(dtype)
    info = np.finfo(dtype)
    width = info.bits
    uint = jnp.uint32 if width == 32 else jnp.uint64
    one_bits = np.array(1.0, dtype).view(uint)
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    hi = np.array(1.0, dtype)
    out = []
    for j in range(n):
        bits = random_bits(key, j, width)
        mant = (bits >> uint(width - info.nmant)) | one_bits
        u = lax.bitcast_convert_type(mant, dtype) - np.array(1.0, dtype)
        out.append(jnp.maximum(lo, u * (hi - lo) + lo))
    return jnp.stack(out)


def normals_of(u):
    """Standard normals from `uniforms`' values, as `jax.random.normal` computes them."""
    return np.array(np.sqrt(2), u.dtype) * lax.erf_inv(u)


def normals(key, n: int, dtype):
    """``jax.random.normal(key, (n,), dtype)`` of every lane's key: (n, B)."""
    return normals_of(uniforms(key, n, dtype))
