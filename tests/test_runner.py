"""The one runner: compaction, index ranges, the counter RNG and the package's XLA defaults."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import crossbar_jax as cj
from crossbar_jax import batching, rng, runner
from crossbar_jax.model import make_curves, make_model, make_point

REPO = Path(__file__).resolve().parents[1]
LETTERS_POINT = dict(beta=1.2e7, positive_target=0.5, negative_target=-0.5, k=10.0)


@pytest.fixture(scope="module")
def curve():
    return cj.load_curve(REPO / "data" / "lsmo_gaq3_model.csv")


def _source(seed, n, dataset, point, dt="float32"):
    import jax.numpy as jnp

    table = make_point(dt, **{k: np.asarray([v]) for k, v in point.items()})
    return runner.Source(
        np.uint32(seed), np.uint32(n), table, jnp.zeros((dataset.rows, dataset.cols), dt),
        None, np.uint32(0), jnp.ones((), dt),
    )  # fmt: skip


@pytest.mark.parametrize(
    "dataset, point, shifts",
    [
        pytest.param(
            cj.LETTERS,
            LETTERS_POINT,
            dict(low=1e-9, high=1e-8),
            marks=pytest.mark.slow,
            id="letters",
        ),  # 80 % converge at epoch 2 (30 s)
        (cj.FOUR_BIT, dict(beta=6e7, positive_target=0.8, negative_target=-0.8, k=10.0), {}),
    ],
)
def test_compaction_changes_no_outcome(curve, dataset, point, shifts):
    """Dropping converged crossbars between stages leaves every crossbar's outcome as it was."""
    n = 10_000
    model = make_model(epochs=50, dtype="float32", dataset=dataset, length=len(curve))
    curves = make_curves(curve, "float32")
    src = _source(3, n, dataset, {**point, **shifts})
    packed, _, _ = runner.run(model, curves, src, n, chunk_size=n)
    plain, _, _ = runner.run(model, curves, src, n, chunk_size=n, compact=False)
    # The point has teeth: most crossbars converge early, so chunks were compacted.
    assert 0.3 < packed["converged"].mean() < 0.95
    for name in ("converged", "epoch", "final_error", "test_accuracy"):
        np.testing.assert_array_equal(packed[name], plain[name], err_msg=name)
    # ... and the public runner gives the same crossbars.
    mc = cj.run_monte_carlo(3, n, curve=curve, dataset=dataset, **point, **shifts)
    np.testing.assert_array_equal(mc.epoch, plain["epoch"])


def test_first_crossbar_continues_a_run(curve):
    """Crossbars 200..499 of a run are what a run started at crossbar 200 trains."""
    point = dict(beta=6e7, k=10.0)
    whole = cj.run_monte_carlo(5, 500, curve=curve, **point)
    tail = cj.run_monte_carlo(5, 300, curve=curve, first_crossbar=200, **point)
    np.testing.assert_array_equal(tail.crossbar, np.arange(200, 500))
    for name in ("converged", "epoch", "final_error", "test_accuracy"):
        np.testing.assert_array_equal(getattr(tail, name), getattr(whole, name)[200:])


@pytest.mark.parametrize("draw", ["fast_normals", "normals"])
def test_counter_normals_are_standard_and_lane_independent(draw):
    """Mean 0 and variance 1, and a lane's numbers depend only on (seed, crossbar, counter).
    `fast_normals` feed the in-loop noise (c2c, read noise); `normals` are the exact ones."""
    import jax.numpy as jnp

    normals = getattr(rng, draw)
    words = rng.lane_word(np.uint32(7), jnp.arange(20_000, dtype=jnp.uint32))
    z = np.asarray(normals(rng.stream_word(words, 1, 3), 10, jnp.float32)).ravel()
    # 200,000 draws: the standard error of the mean is 1/sqrt(n) = 0.0022 and of the variance
    # sqrt(2/n) = 0.0032; 5 standard errors leave a fixed-seed test no room to flicker.
    assert abs(z.mean()) < 5 * 0.0022
    assert abs(z.var() - 1.0) < 5 * 0.0032
    # Fourth moment of a normal is 3: tails are Gaussian, not those of a sum of uniforms.
    assert abs(np.mean(z**4) - 3.0) < 0.1
    some = rng.lane_word(np.uint32(7), jnp.asarray([123, 19_999], jnp.uint32))
    z2 = np.asarray(normals(rng.stream_word(some, 1, 3), 10, jnp.float32))
    full = np.asarray(normals(rng.stream_word(words, 1, 3), 10, jnp.float32))
    np.testing.assert_array_equal(z2, full[:, [123, 19_999]])


def _defaults_in_subprocess(env_extra):
    code = (
        "import json, os, jax, crossbar_jax as cj; "
        "print(json.dumps({'applied': cj._xla_defaults.applied, "
        "'flags': os.environ.get('XLA_FLAGS', ''), 'devices': jax.local_device_count()}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    env.update(env_extra)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_xla_defaults_respect_the_user():
    """The package sets its flags only where the user set none, and never with the opt-out."""
    user = _defaults_in_subprocess({"XLA_FLAGS": "--xla_force_host_platform_device_count=1",
                                    "MALLOC_TRIM_THRESHOLD_": "131072"})  # fmt: skip
    assert user["flags"] == "--xla_force_host_platform_device_count=1"
    assert user["devices"] == 1 and user["applied"] == {}
    off = _defaults_in_subprocess({"CROSSBAR_JAX_XLA_DEFAULTS": "0"})
    assert off["applied"] == {} and off["flags"] == "" and off["devices"] == 1
    default = _defaults_in_subprocess({})
    assert default["devices"] == (os.cpu_count() or 1)
    assert "xla_cpu_use_multi_output_fusion" in default["flags"]
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert ("malloc" in default["applied"]) == glibc
    if cj._xla_defaults.has_avx512():
        assert "--xla_cpu_prefer_vector_width=512" in default["flags"]


def test_unknown_keyword_names_the_allowed_ones(curve):
    with pytest.raises(TypeError, match="unknown keyword.*'betta'.*allowed"):
        cj.run_grid(0, 10, curve=curve, betta=[1e7, 2e7])


def test_gpu_loop_with_blocks_of_epochs_is_the_same(curve):
    """The GPU loop (convergence checked every 5 epochs, the last block masked) trains every
    crossbar exactly as the per-epoch loop does; it runs here on the CPU."""
    n = 2048
    point = dict(beta=6e7, positive_target=0.8, negative_target=-0.8, k=10.0)
    model = make_model(epochs=23, dtype="float32", dataset=cj.FOUR_BIT, length=len(curve))
    curves = make_curves(curve, "float32")
    src = _source(1, n, cj.FOUR_BIT, point)
    mesh = batching.batch_mesh()
    kw = dict(history=False, compact=True, full=True)
    outs = [
        runner._write({}, runner._train_chunk(src, curves, 0, n, model, [0.0], mesh,
                                              check_every=every, **kw), 0, n, n)
        for every in (1, 5)
    ]  # fmt: skip
    assert 0.2 < outs[0]["converged"].mean() < 0.8
    for name, value in outs[0].items():
        np.testing.assert_array_equal(outs[1][name], value, err_msg=name)
