"""Every case of the reference implementation, reproduced exactly in float32 and float64."""

from __future__ import annotations

from collections import defaultdict

import jax
import numpy as np
import pytest

import crossbar_jax as cj


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
