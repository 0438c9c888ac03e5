"""What the fast paths promise: no recompilation across sweep points, grids equal to separate
runs, outcomes independent of chunking and of the number of devices, and a NumPy baseline
(benchmarks/) that trains exactly like the engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import crossbar_jax as cj
from crossbar_jax import montecarlo

REPO = Path(__file__).resolve().parents[1]
D = cj.FOUR_BIT
# Points far apart in every traced parameter, where a fair share of crossbars converge.
POINTS = dict(
    beta=[2e7, 1e7, 6e6],
    positive_target=[0.6, 0.5, 0.8],
    negative_target=[-0.7, -0.5, -0.8],
    k=[30.0, 10.0, 10.0],
    low=[1e-8, 2e-9, 1e-8],
    high=[1e-7, 3e-8, 1e-7],
    division_factor=[5.0, 4.0, 5.0],
)


def _point(j):
    return {key: values[j] for key, values in POINTS.items()}


class _Compilations:
    """Counts XLA backend compilations (every jit, large or small) while active."""

    def __init__(self):
        self.count = 0
        self.active = False
        jax.monitoring.register_event_duration_secs_listener(self._on_event)

    def _on_event(self, event, duration, **kwargs):
        if self.active and event == "/jax/core/compile/backend_compile_duration":
            self.count += 1

    def __enter__(self):
        self.count, self.active = 0, True
        return self

    def __exit__(self, *exc):
        self.active = False


@pytest.fixture(scope="module")
def model_curve():
    """The curve the project ships (data/), so these tests run without the reference data."""
    return cj.load_curve(REPO / "data" / "lsmo_gaq3_model.csv")


@pytest.fixture(scope="module")
def compilations():
    return _Compilations()


def test_new_parameter_values_do_not_recompile(model_curve, compilations):
    """beta, k, the targets and the shift range are traced: a sweep compiles once."""
    first = cj.run_monte_carlo(0, 500, curve=model_curve, chunk_size=256, **_point(0))
    before = montecarlo.compile_count()
    with compilations:
        again = cj.run_monte_carlo(1, 500, curve=model_curve, chunk_size=256, **_point(1))
    assert compilations.count == 0
    assert montecarlo.compile_count() == before
    assert again.compile_s == 0.0 and first.converged.mean() != again.converged.mean()

    shifts = np.asarray(cj.sample_shifts(2, 300, (4, 4)))
    kw = dict(curve=model_curve, patterns=D.train_patterns, labels=D.train_labels)
    cj.train(shifts, **kw, beta=6e6, positive_target=0.8, negative_target=-0.8, k=10.0)
    with compilations:
        cj.train(shifts, **kw, beta=2e7, positive_target=0.6, negative_target=-0.7, k=30.0)
    assert compilations.count == 0


@pytest.mark.slow  # one of the longest of the default run (5-10 s)
def test_grid_points_equal_separate_runs(model_curve, compilations):
    """run_grid at G points is, point by point and bit for bit, run_monte_carlo at each."""
    n = 300
    grid = cj.run_grid(4, n, curve=model_curve, chunk_size=257, **POINTS)  # chunks span points
    assert grid.converged.shape == (3, n)
    for j in range(3):
        alone = cj.run_monte_carlo(4, n, curve=model_curve, **_point(j))
        at = grid.at(j)
        for field in ("crossbar", "converged", "epoch", "final_error", "test_accuracy"):
            np.testing.assert_array_equal(getattr(at, field), getattr(alone, field), err_msg=field)
    assert 0.05 < grid.converged[0].mean() < 0.95  # the comparison has teeth
    # another grid of the same size: same executable
    with compilations:
        cj.run_grid(4, n, curve=model_curve, chunk_size=257, **{**POINTS, "beta": [3e7, 2e6, 1e8]})
    assert compilations.count == 0


def test_grid_broadcasts_numbers_and_names_bad_points(model_curve):
    """Numbers are shared by every point; a bad point is named before anything compiles."""
    points, _ = montecarlo._points(
        dict(
            POINTS,
            beta=[6e6, 2e7],
            k=10.0,
            low=1e-8,
            high=1e-7,
            division_factor=5.0,
            positive_target=0.8,
            negative_target=-0.8,
        ),
        50,
        -0.1,
        0.1,
    )
    np.testing.assert_array_equal(points["k"], [10.0, 10.0])
    np.testing.assert_array_equal(points["beta"], [6e6, 2e7])
    compiled = montecarlo.compile_count()
    with pytest.raises(ValueError, match="one length"):
        cj.run_grid(0, 10, curve=model_curve, beta=[6e6, 2e7], k=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"k=-1.0: must be finite and > 0 \(point 1\)"):
        cj.run_grid(0, 10, curve=model_curve, beta=[6e6, 2e7], k=[1.0, -1.0])
    with pytest.raises(ValueError, match="run_grid takes sequences"):
        cj.run_monte_carlo(0, 10, curve=model_curve, beta=[6e6, 2e7])
    assert montecarlo.compile_count() == compiled


@pytest.mark.slow  # one of the longest of the default run (5-10 s)
def test_monte_carlo_is_train_on_sample_shifts_and_evaluate(model_curve):
    """The Monte Carlo kernel draws sample_shifts' shifts and trains and evaluates like the
    public functions, bit for bit, whatever the chunking."""
    # chunk sizes shared with the tests above, so that their executables are reused
    n, point = 400, _point(0)
    mc = cj.run_monte_carlo(7, n, curve=model_curve, chunk_size=256, **point)
    shifts = np.asarray(cj.sample_shifts(7, n, (4, 4), low=point["low"], high=point["high"]))
    tr = cj.train(
        shifts,
        curve=model_curve,
        patterns=D.train_patterns,
        labels=D.train_labels,
        beta=point["beta"],
        positive_target=point["positive_target"],
        negative_target=point["negative_target"],
        k=point["k"],
        chunk_size=300,
    )
    ev = cj.evaluate(
        tr.conductances,
        D.test_patterns,
        D.test_labels,
        beta=point["beta"],
        positive_target=point["positive_target"],
        negative_target=point["negative_target"],
    )
    np.testing.assert_array_equal(mc.converged, tr.converged)
    np.testing.assert_array_equal(mc.epoch, tr.epoch)
    np.testing.assert_array_equal(mc.final_error, tr.final_error)
    np.testing.assert_array_equal(mc.test_accuracy, ev.accuracy)
    other = cj.run_monte_carlo(7, n, curve=model_curve, chunk_size=300, **point)
    np.testing.assert_array_equal(other.final_error, mc.final_error)


_DEVICE_SCRIPT = """
import hashlib, json, sys
import jax, numpy as np
import crossbar_jax as cj
curve = cj.load_curve(sys.argv[1])
out = {"devices": jax.device_count()}
mc = cj.run_grid(3, 301, curve=curve, chunk_size=64, beta=[6e6, 2e7], k=[10.0, 30.0],
                 positive_target=0.6, negative_target=-0.7)
shifts = np.asarray(cj.sample_shifts(5, 99, (4, 4)))
tr = cj.train(shifts, curve=curve, patterns=cj.FOUR_BIT.train_patterns,
              labels=cj.FOUR_BIT.train_labels, beta=2e7, positive_target=0.6,
              negative_target=-0.7, k=30.0, chunk_size=33)
# per-device curve noise and c2c: each crossbar's own curves and noise, whatever the devices
ni = cj.NonIdeal(curve_noise_std=4.13e-9, curve_noise_correlation=0.24, c2c_std=2e-9)
nz = cj.train_nonideal(shifts, curve=curve, patterns=cj.FOUR_BIT.train_patterns,
                       labels=cj.FOUR_BIT.train_labels, beta=6e7, positive_target=0.8,
                       negative_target=-0.8, k=10.0, nonideal=ni, seed=7)
for name, a in [("converged", mc.converged), ("epoch", mc.epoch), ("error", mc.final_error),
                ("accuracy", mc.test_accuracy), *zip(tr._fields, tr),
                *(("noisy_" + f, v) for f, v in zip(nz._fields, nz))]:
    out[name] = hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
print(json.dumps(out))
"""


def _run_with_devices(n_devices: int, curve_path) -> dict:
    env = dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={n_devices}",
        JAX_PLATFORMS="cpu",
    )
    proc = subprocess.run(
        [sys.executable, "-c", _DEVICE_SCRIPT, str(curve_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # two subprocesses with their own compilations (about 20 s); in .ci/run
def test_two_devices_give_the_results_of_one(model_curve):
    """The batch is sharded over all local devices; each crossbar's floats do not change."""
    path = REPO / "data" / "lsmo_gaq3_model.csv"
    two = _run_with_devices(2, path)
    one = _run_with_devices(1, path)
    assert two.pop("devices") == 2 and one.pop("devices") == 1
    assert one == two


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numpy_baseline_trains_like_the_engine(model_curve, dtype):
    """The benchmark's NumPy baseline runs the same algorithm: same outcomes per crossbar."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from numpy_baseline import train_numpy
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    shifts = np.asarray(cj.sample_shifts(9, 300, (4, 4)), np.float64)
    for point in (_point(0), _point(2)):
        kw = {k: point[k] for k in ("beta", "positive_target", "negative_target", "k")}
        with jax.enable_x64(dtype == "float64"):
            ref = cj.train(
                shifts,
                curve=model_curve,
                patterns=D.train_patterns,
                labels=D.train_labels,
                dtype=dtype,
                **kw,
            )
        conv, epoch, pulses, errors, final = train_numpy(
            shifts, model_curve, D.train_patterns, D.train_labels, dtype=dtype, **kw
        )
        np.testing.assert_array_equal(conv, ref.converged)
        np.testing.assert_array_equal(epoch, ref.epoch)
        np.testing.assert_array_equal(pulses, ref.pulses)
        tol = 1e-4 if dtype == "float32" else 1e-12  # 12-term sums, summed in another order
        np.testing.assert_allclose(errors, ref.errors, rtol=tol, atol=tol)
        np.testing.assert_allclose(final, ref.final_error, rtol=tol, atol=tol)


def test_pulse_counts_beyond_255_on_long_curves():
    """Counts are stored in the narrowest unsigned type that fits the curve (uint8 up to 255
    points); a 400-point curve must count past 255 and saturate at its end."""
    curve = np.linspace(4.5e-7, 6.5e-7, 400)
    shifts = np.asarray(cj.sample_shifts(1, 40, (4, 4)))
    res = cj.train(
        shifts,
        curve=curve,
        patterns=D.train_patterns,
        labels=D.train_labels,
        beta=6e6,
        positive_target=0.99,
        negative_target=-0.99,
        k=10.0,
        epochs=450,
    )
    assert res.pulses.dtype == np.int32
    assert res.pulses.max() == 399  # past 255, and saturated at the last point
