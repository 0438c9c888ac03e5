"""Every case of the reference implementation, reproduced in float32 and float64.

Two sets of cases, both outcomes of the reference NumPy implementation (float64):

* ``tests/data/parity_model_curve.json``, committed: 300 runs on the project's own shipped
  curve (data/lsmo_gaq3_model.csv), five parameter sets (beta*k from 6e7 to 6e9) times two shift
  ranges, lognormal min-max and uniform shift draws. These run on every clone.
* ``parity_cases.json``: 400 runs on a measured curve that may not be redistributed; they run
  only where ``CROSSBAR_JAX_REFERENCE`` (or a reference folder beside the clone) holds it.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

import jax
import numpy as np
import pytest

import crossbar_jax as cj

MODEL_CASES = Path(__file__).parent / "data" / "parity_model_curve.json"
SHIPPED_CURVE = Path(__file__).resolve().parents[1] / "data" / "lsmo_gaq3_model.csv"


def _run_groups(parity, curve, dtype, chunk_size):
    """Train each parameter group of cases as one batch; yield (case, result, row)."""
    groups = defaultdict(list)
    for case in parity["cases"]:
        key = (case["beta"], case["positive_target"], case["negative_target"], case["K"])
        groups[key].append(case)
    for (beta, tp, tn, k), cases in groups.items():
        res = cj.train(
            np.array([c["shifts"] for c in cases]),
            curve=curve,
            patterns=parity["patterns"],
            labels=parity["outputs"],
            beta=beta,
            positive_target=tp,
            negative_target=tn,
            k=k,
            epochs=parity["epochs"],
            v0=parity["v0"],
            v1=parity["v1"],
            dtype=dtype,
            chunk_size=chunk_size,
        )
        for j, case in enumerate(cases):
            yield case, res, j


@pytest.mark.parametrize(
    ("dtype", "rtol", "atol", "chunk_size"),
    [
        # float64 follows the float64 reference to summation-order rounding.
        ("float64", 1e-10, 1e-12, 65536),
        # float32 carries ~1e-7 relative error per operation; errors are sums of up to 12 terms
        # of order 1, so 1e-5 absolute is a few hundred ulps of headroom.
        ("float32", 1e-5, 1e-5, 65536),
        ("float32", 1e-5, 1e-5, 7),  # odd chunks, the last one padded
    ],
)
def test_reference_cases_reproduced_exactly(parity, measured_curve, dtype, rtol, atol, chunk_size):
    mismatches = []
    n = 0
    with jax.enable_x64(dtype == "float64"):
        for case, res, j in _run_groups(parity, measured_curve, dtype, chunk_size):
            n += 1
            n_err = len(case["errors"])
            ok = (
                bool(res.converged[j]) == case["converged"]
                and int(res.epoch[j]) == case["epoch"]
                and np.array_equal(res.pulses[j], np.array(case["pulses"]))
                and np.allclose(res.errors[j, :n_err], case["errors"], rtol=rtol, atol=atol)
                and np.all(np.isnan(res.errors[j, n_err:]))
            )
            if not ok:
                mismatches.append((case["beta"], case["K"], case["epoch"], int(res.epoch[j])))
    assert n == len(parity["cases"]) == 400
    assert not mismatches, f"{len(mismatches)} of {n} cases differ: {mismatches[:5]}"


def test_reference_errors_are_recorded_for_updated_epochs_only(parity, measured_curve):
    """A converged crossbar has epoch-1 errors; a failed one has all E."""
    for case, res, j in _run_groups(parity, measured_curve, "float32", 65536):
        expected = case["epoch"] - 1 if case["converged"] else parity["epochs"]
        assert len(case["errors"]) == expected
        assert int(np.sum(~np.isnan(res.errors[j]))) == expected


@pytest.fixture(scope="module")
def model_parity() -> dict:
    return json.loads(MODEL_CASES.read_text())


def test_model_cases_are_for_the_shipped_curve(model_parity):
    """The committed cases were made on the curve the package ships, byte for byte."""
    assert hashlib.sha256(SHIPPED_CURVE.read_bytes()).hexdigest() == model_parity["curve_sha256"]
    np.testing.assert_array_equal(cj.load_curve(SHIPPED_CURVE), np.array(model_parity["curve"]))
    cases = model_parity["cases"]
    assert len(cases) == 300
    # both outcomes are well represented, so an engine stuck at one of them fails below
    assert 100 <= sum(c["converged"] for c in cases) <= 200


@pytest.mark.parametrize(
    ("dtype", "chunk_size", "errors_atol"),
    [
        # Converged, epoch and every pulse count exact. The errors agree to 1.3e-13 absolute
        # (about 1e-14 relative): XLA sums the column currents in another order than the
        # reference's BLAS call, which moves the last bits only.
        ("float64", 65536, 1e-12),
        # float32 keeps every outcome exact; its errors drift with beta*k (up to 8e-5 at
        # beta*k = 6e9, the largest point), so 1e-4 absolute.
        ("float32", 65536, 1e-4),
        ("float32", 7, 1e-4),  # odd chunks, the last one padded
    ],
)
def test_model_curve_cases_reproduced(model_parity, dtype, chunk_size, errors_atol):
    curve = np.array(model_parity["curve"])
    outcome_mismatches, error_mismatches = [], []
    n = 0
    with jax.enable_x64(dtype == "float64"):
        for case, res, j in _run_groups(model_parity, curve, dtype, chunk_size):
            n += 1
            n_err = len(case["errors"])
            where = (case["beta"], case["K"], case["epoch"], int(res.epoch[j]))
            if not (
                bool(res.converged[j]) == case["converged"]
                and int(res.epoch[j]) == case["epoch"]
                and np.array_equal(res.pulses[j], np.array(case["pulses"]))
            ):
                outcome_mismatches.append(where)
            errors = np.asarray(res.errors[j], np.float64)
            if not (
                np.allclose(errors[:n_err], case["errors"], rtol=0, atol=errors_atol)
                and np.all(np.isnan(errors[n_err:]))
            ):
                error_mismatches.append(where)
    assert n == 300
    assert not outcome_mismatches, f"{len(outcome_mismatches)} of {n}: {outcome_mismatches[:5]}"
    assert not error_mismatches, f"errors differ in {len(error_mismatches)}: {error_mismatches[:5]}"
