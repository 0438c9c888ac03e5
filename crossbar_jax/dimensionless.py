"""The two dimensionless groups that describe most of the training physics.

With V the input drive, Dg the range of the conductance curve and the targets t+, t-:

* ``pi1 = beta k V Dg / a``, a = (atanh(t+) - atanh(t-)) / 2: the largest change of beta*I
  that the devices can make (every synapse pulsed across the whole curve, times the drive)
  against the margin in x = beta I that the targets ask for. For symmetric targets +-t,
  a = atanh(t), the issue's ``beta k V Dg / atanh(t)``; asymmetric targets enter through the
  half-gap a of their thresholds, so t+ = 0.8, t- = -0.5 count as their mean margin.
* ``pi2 = shift_high / Dg``: the device-to-device shifts against the curve's range.

V = (v1 - v0) / 2 (= v1 = -v0 for the symmetric drive of ALGORITHM.md); Dg = max(g) - min(g) of
the curve (siemens), the mean range of the curves with a pool.

Exact invariances of the model (tests/test_dimensionless.py): doubling the curve and the shifts
while halving beta, and doubling V while halving beta, leave x = beta I, hence every outcome,
unchanged, and leave both groups unchanged.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["curve_range", "pi_groups", "from_params"]


def curve_range(curve, pool=None) -> float:
    """Dg (siemens): max - min of the curve, or the mean of that over a pool's curves."""
    if pool is not None:
        return float(np.mean([np.ptp(np.asarray(c, np.float64)) for c in pool]))
    return float(np.ptp(np.asarray(curve, np.float64)))


def pi_groups(*, beta, k, v0, v1, positive_target, negative_target, high, dg) -> dict:
    """``{"pi1", "pi2"}`` of one parameter point (see the module docstring)."""
    drive = (float(v1) - float(v0)) / 2
    margin = (math.atanh(float(positive_target)) - math.atanh(float(negative_target))) / 2
    pi1 = float(beta) * float(k) * drive * dg / margin if margin > 0 else math.inf
    return {"pi1": pi1, "pi2": float(high) / dg if dg > 0 else math.inf}


def from_params(params: dict, curve, pool=None) -> dict:
    """The groups of a study job from its summary.json ``params`` and its curve."""
    dev, tr = params["device"], params["training"]
    return pi_groups(
        beta=tr["beta"], k=dev["k"], v0=tr["v0"], v1=tr["v1"],
        positive_target=tr["positive_target"], negative_target=tr["negative_target"],
        high=dev["shift"]["high"], dg=curve_range(curve, pool),
    )  # fmt: skip
