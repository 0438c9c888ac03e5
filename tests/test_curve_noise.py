"""Per-device curve noise and pools of curves (issue 10): exactness, device property, statistics."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import crossbar_jax as cj
from crossbar_jax import NonIdeal, rng, runner
from crossbar_jax.device import curve_noise_table
from crossbar_jax.model import make_curves, make_model, make_point, pool_lengths
from crossbar_jax.nonideal import check_nonideal

ROOT = Path(__file__).resolve().parents[1]
STD = 4.13e-9
POINT = dict(beta=6e7, k=10.0)  # the informative point: ~0.4 converge, devices move many times
FIELDS = ("converged", "epoch", "final_error", "test_accuracy")


@pytest.fixture(scope="module")
def curve():
    return cj.load_curve(ROOT / "data" / "lsmo_gaq3_model.csv")


def _full_run(curve, ni, n, seed=0, chunk_size=None, beta=6e7, first=0):
    """`runner.run` with the final devices (pulses, eps, curve index) of every crossbar."""
    ni = check_nonideal(ni, len(curve))
    model = make_model(epochs=50, dtype="float32", dataset=cj.FOUR_BIT, length=len(curve),
                       nonideal=ni)  # fmt: skip
    curves = make_curves(curve, "float32", None, ni.curve_pool)
    point = dict(beta=beta, positive_target=0.8, negative_target=-0.8, k=10.0, **ni.magnitudes())
    table = make_point("float32", **{k: np.asarray([v]) for k, v in point.items()})
    src = runner.Source(
        np.uint32(seed), np.uint32(n), table, jnp.zeros((4, 4), "float32"), None,
        np.uint32(first), jnp.ones((), "float32"), pool_lengths=pool_lengths(ni),
    )  # fmt: skip
    out, _, _ = runner.run(model, curves, src, n, chunk_size=chunk_size, full=True)
    return out


@pytest.mark.slow  # one of the longest of the default run (5-10 s)
def test_zero_std_is_the_plain_run(curve):
    """std 0 switches the effect off: the same program, so the same floats, as no NonIdeal."""
    plain = cj.run_monte_carlo(1, 3000, curve=curve, **POINT)
    zero = cj.run_monte_carlo(1, 3000, curve=curve, nonideal=NonIdeal(curve_noise_std=0.0,
                              curve_noise_correlation=0.5), **POINT)  # fmt: skip
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(zero, name), getattr(plain, name), err_msg=name)
    ni = check_nonideal(NonIdeal(curve_noise_std=0.0), len(curve))
    assert not make_model(epochs=50, dtype="float32", dataset=cj.FOUR_BIT, length=len(curve),
                          nonideal=ni).curve_noise  # fmt: skip


@pytest.mark.parametrize(
    "extra",
    [
        {},
        pytest.param({"read_noise": 0.02}, marks=pytest.mark.slow),
        pytest.param({"update": "bidirectional"}, marks=pytest.mark.slow),
    ],
)
def test_one_curve_pool_is_the_plain_run(curve, extra):
    """A pool of one curve runs the pool's code (its tables, per-device ends) to the same floats:
    with the pair table (plain), the per-device lookup (read noise) and the bidirectional update."""
    plain = cj.run_monte_carlo(2, 3000, curve=curve, nonideal=NonIdeal(**extra), **POINT)
    pool = cj.run_monte_carlo(2, 3000, curve=curve, nonideal=NonIdeal(curve_pool=[curve],
                              **extra), **POINT)  # fmt: skip
    assert 0.2 < plain.converged.mean() < 0.9  # the point trains: outcomes are informative
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(pool, name), getattr(plain, name), err_msg=name)


def test_noise_changes_outcomes(curve):
    """The switch has teeth: 4 nS of curve noise changes many crossbars' epochs."""
    plain = cj.run_monte_carlo(2, 3000, curve=curve, **POINT)
    noisy = cj.run_monte_carlo(2, 3000, curve=curve, nonideal=NonIdeal(curve_noise_std=STD),
                               **POINT)  # fmt: skip
    assert np.mean(noisy.epoch != plain.epoch) > 0.1


# Both with the slow tests (12-15 s each, with their float64 runs); the default run keeps
# `test_noise_is_a_property_of_the_device`, whose crossbars run in other batches too.
@pytest.mark.parametrize("rho", [pytest.param(0.0, marks=pytest.mark.slow),
                                 pytest.param(0.6, marks=pytest.mark.slow)])  # fmt: skip
def test_curves_do_not_depend_on_chunks_or_batch(curve, rho):
    """Crossbar i's final devices (pulses, noise) are the same in chunks of 16 or 2048 and in a
    run that starts at crossbar 100."""
    ni = NonIdeal(curve_noise_std=STD, curve_noise_correlation=rho, curve_pool=[curve, curve[:20]])
    whole = _full_run(curve, ni, 400, chunk_size=2048)
    small = _full_run(curve, ni, 400, chunk_size=16)
    tail = _full_run(curve, ni, 300, first=100)
    for name in ("epoch", "pulses", "eps", "curve_index", "conductances"):
        np.testing.assert_array_equal(small[name], whole[name], err_msg=name)
        np.testing.assert_array_equal(tail[name], whole[name][100:], err_msg=name)


@pytest.mark.parametrize("rho", [0.0, 0.24])
def test_noise_is_a_property_of_the_device(curve, rho):
    """The noise a device reads is eps_d[n] of its own fixed sequence (`curve_noise_table`),
    whatever the path that brought it to n: two betas train the same crossbars differently,
    and every device, at whatever count it ends, reads the table's value there."""
    ni = NonIdeal(curve_noise_std=STD, curve_noise_correlation=rho)
    n = 200
    word = rng.lane_word(np.uint32(0), np.arange(n, dtype=np.uint32))
    table = np.asarray(curve_noise_table(word, 4, 4, len(curve), STD, rho, jnp.float32))
    moved = 0
    for beta in (6e6, 6e7):
        out = _full_run(curve, ni, n, beta=beta)
        pulses = np.moveaxis(out["pulses"], 0, -1)  # (rows, cols, B)
        expect = np.take_along_axis(table, pulses[None], axis=0)[0]
        np.testing.assert_allclose(
            np.moveaxis(out["eps"], 0, -1), expect, rtol=1e-6, atol=STD * 1e-6
        )
        moved += int((pulses > 0).sum())
    assert moved > 1000


def test_noise_statistics(curve):
    """eps_d[n] over 2,000 crossbars x 16 devices: std 4.13 nS and lag-1 correlation rho.

    Tolerances: with m = 32,000 independent sequences the std of each n is estimated to
    sqrt(1/(2m)) = 0.4% (tolerance 2%, 5 sigma); the lag-1 correlation, pooled over m pairs per
    n, to 1/sqrt(m) = 0.0056 (tolerance 0.03); eps_d[0] = 0 exactly.
    """
    rho = 0.24
    word = rng.lane_word(np.uint32(7), np.arange(2000, dtype=np.uint32))
    t = np.asarray(curve_noise_table(word, 4, 4, 12, STD, rho, jnp.float64), np.float64)
    t = t.reshape(12, -1)
    assert np.all(t[0] == 0)
    for n in (1, 2, 11):
        assert abs(t[n].std() / STD - 1) < 0.02, n
        assert abs(t[n].mean()) < 5 * STD / np.sqrt(t.shape[1])
    for n in (1, 5, 10):
        r = np.mean(t[n] * t[n + 1]) / (t[n].std() * t[n + 1].std())
        assert abs(r - rho) < 0.03, (n, r)
    other = np.asarray(curve_noise_table(word[:1], 4, 4, 12, STD, 0.0, jnp.float64))
    assert np.abs(np.corrcoef(other.reshape(12, -1)[1:].ravel()[:-1],
                              other.reshape(12, -1)[1:].ravel()[1:])[0, 1]) < 0.3  # fmt: skip


def test_fast_normals_are_normal():
    """The byte-sum polynomial's exact distribution (all 4-byte sums) has variance 1 and the
    normal's kurtosis to 0.003; 10^6 hashed draws have mean 0 and variance 1 to 5 sigma
    (sigma: 1/sqrt(n) for the mean, sqrt(2/n) for the variance)."""
    p = np.ones(256) / 256
    q = p
    for _ in range(3):
        q = np.convolve(q, p)
    x = (np.arange(q.size) - rng._SUM_MEAN) / rng._SUM_STD
    a1, a3, a5 = rng._POLY
    z = x * (a1 + x * x * (a3 + x * x * a5))
    assert abs(np.sum(q * z * z) - 1) < 1e-8
    assert abs(np.sum(q * z**4) - 3) < 0.005
    draws = np.asarray(rng.fast_normals_at(np.uint32(12345), np.arange(10**6, dtype=np.uint32),
                                           jnp.float32), np.float64)  # fmt: skip
    assert abs(draws.mean()) < 5e-3
    assert abs(draws.var() - 1) < 5 * np.sqrt(2e-6)


@pytest.mark.slow  # one of the longest of the default run (5-10 s)
def test_pool_devices_saturate_at_their_own_end_and_draw_uniformly(curve):
    """Devices on a 6-point curve stop at n = 5, on the full curve they go further; the curve
    of each device is uniform over the pool (binomial: 3 sigma of 12,800 draws of p = 1/3)."""
    pool = [curve[:6], curve, curve * 1.2]
    out = _full_run(curve, NonIdeal(curve_pool=pool), 800)
    idx, pulses = out["curve_index"], out["pulses"]
    assert pulses[idx == 0].max() == 5
    assert pulses[idx != 0].max() > 5
    frac = np.bincount(idx.ravel(), minlength=3) / idx.size
    assert np.all(np.abs(frac - 1 / 3) < 3 * np.sqrt(2 / 9 / idx.size))
    # conductance = k (g_c[n] - g_c[0] + s): a device on curve 0 saturated at 5 reads g[5] - g[0]
    ref = cj.run_monte_carlo(0, 800, curve=curve, nonideal=NonIdeal(curve_pool=pool), **POINT)
    np.testing.assert_array_equal(ref.epoch, out["epoch"])


def test_bad_values_name_the_key(curve):
    for ni, text in [
        (NonIdeal(curve_noise_std=-1e-9), "curve_noise_std=-1e-09: must be finite and >= 0"),
        (NonIdeal(curve_noise_std=1e-9, curve_noise_correlation=1.0), "must lie in [0, 1)"),
        (NonIdeal(curve_noise_std=1e-9, curve_noise_correlation=0.3, update="bidirectional"),
         "only correlation 0"),
        (NonIdeal(curve_pool=[]), "a pool needs 1 to"),
        (NonIdeal(curve_pool=[curve, [1e-7, -1.0]]), "curve_pool[1]"),
        (NonIdeal(curve_pool=[curve], update="bidirectional", depression_curve=curve),
         "cannot be combined"),
    ]:  # fmt: skip
        with pytest.raises(ValueError) as exc:
            check_nonideal(ni, len(curve))
        assert text in str(exc.value), str(exc.value)


@pytest.mark.slow
def test_bidirectional_noise_is_a_function_of_the_state(curve):
    """With the bidirectional update (correlation 0) a device at count n > 0 reads std z_d(n),
    from the potentiation stream, or, on a depression curve of its own, from another stream."""
    dep = curve[::-1] * 0.98 + 0.02 * curve[0]  # a depression curve of its own (branches on)
    ni = NonIdeal(curve_noise_std=STD, update="bidirectional", depression_curve=dep)
    n = 300
    out = _full_run(curve, ni, n)
    word = rng.lane_word(np.uint32(0), np.arange(n, dtype=np.uint32))
    dev = np.arange(16, dtype=np.uint32).reshape(1, 4, 4)
    pulses = out["pulses"].astype(np.uint32)
    counters = dev * np.uint32(len(curve)) + pulses + np.uint32(1)

    def z(stream):
        w = np.asarray(rng.stream_word(word, stream, 0))[:, None, None]
        return np.asarray(rng.fast_normals_at(w, counters, jnp.float32), np.float64)

    depressed = out["depressed"]
    expect = STD * np.where(depressed, z(rng.CURVE_DEP_STREAM), z(rng.CURVE_STREAM))
    expect = np.where((pulses == 0) & ~depressed, 0.0, expect)
    assert depressed.mean() > 0.1 and (pulses > 0).mean() > 0.3
    np.testing.assert_allclose(out["eps"], expect, rtol=1e-6, atol=STD * 1e-6)
