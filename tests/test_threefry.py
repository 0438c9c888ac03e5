"""The lane-by-lane Threefry draws are `jax.random`'s, bit for bit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import crossbar_jax as cj
from crossbar_jax import threefry
from crossbar_jax.variation import lognormal_minmax


@pytest.mark.parametrize("seed", [0, 1, 2**31 + 7, 2**32 - 1])
def test_crossbar_keys_and_bits_are_jax_random(seed):
    idx = np.arange(0, 3_000_000, 997, dtype=np.uint32)
    keys = cj.crossbar_keys(seed, idx)
    k1, k2 = jax.jit(threefry.crossbar_key_words)(np.uint32(seed), idx)
    np.testing.assert_array_equal(np.stack([k1, k2], -1), jax.random.key_data(keys))
    ref = np.asarray(jax.vmap(lambda k: jax.random.bits(k, (5,)))(keys))
    mine = jax.jit(lambda a, b: jnp.stack([threefry.random_bits((a, b), j, 32) for j in range(5)]))
    np.testing.assert_array_equal(np.asarray(mine(k1, k2)).T, ref)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normals_are_jax_random_normal(dtype):
    with jax.enable_x64(dtype == "float64"):
        idx = np.arange(4099, dtype=np.uint32) * 13
        keys = cj.crossbar_keys(5, idx)
        ref = np.asarray(jax.vmap(lambda k: jax.random.normal(k, (16,), dtype))(keys))
        fn = jax.jit(lambda s, i: threefry.normals(threefry.crossbar_key_words(s, i), 16, dtype))
        np.testing.assert_array_equal(np.asarray(fn(np.uint32(5), idx)).T, ref)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shift_lanes_are_the_per_crossbar_reference_draw(dtype):
    """`sample_shifts` (the runner's sampler) gives `lognormal_minmax` of each crossbar's key."""
    with jax.enable_x64(dtype == "float64"):
        n = 777
        keys = cj.crossbar_keys(3, np.arange(n))
        one = jax.jit(jax.vmap(lambda k: lognormal_minmax(k, (4, 4), 1e-8, 1e-7, 5.0, dtype)))
        lanes = np.asarray(cj.sample_shifts(3, n, (4, 4), dtype=dtype))
        if dtype == "float32":
            np.testing.assert_array_equal(lanes, np.asarray(one(keys)))
        else:  # the same draw; XLA folds the constant range into the float64 program
            np.testing.assert_allclose(lanes, np.asarray(one(keys)), rtol=1e-13)  # otherwise
