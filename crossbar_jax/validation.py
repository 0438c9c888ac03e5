"""Checks of user input at the boundary, with messages that name the key, the value and the rule.

Inside jit nothing raises; everything a user can get wrong is caught here first, before any
compilation. The `names` mapping lets the config layer report its own keys (``training.beta``)
while the Python API reports argument names (``beta``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import numpy as np

__all__ = ["check_train_params", "check_shift_params", "resolve_dtype", "check_positive_int"]

PRECISIONS = ("float32", "float64")


def _name(names: Mapping[str, str] | None, key: str) -> str:
    return (names or {}).get(key, key)


def _number(value, key: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key}={value!r}: expected a number") from None
    return x


def check_positive_int(value, key: str, minimum: int = 1) -> int:
    """`value` as an int >= `minimum`, else a ValueError naming `key`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"{key}={value!r}: expected an integer >= {minimum}")
    if value < minimum:
        raise ValueError(f"{key}={value!r}: must be an integer >= {minimum}")
    return int(value)


def check_train_params(
    *,
    beta,
    positive_target,
    negative_target,
    k,
    epochs,
    v0=-0.1,
    v1=0.1,
    names: Mapping[str, str] | None = None,
) -> dict:
    """Validate the physical training parameters; returns them as Python numbers.

    Rules: beta (1/A) finite and > 0; k finite and > 0; both targets inside (-1, 1), the
    range of tanh; negative_target < positive_target; epochs an integer >= 1; v0, v1 finite volts.
    """
    out = {}
    for key, value in (("beta", beta), ("k", k)):
        x = _number(value, _name(names, key))
        if not math.isfinite(x) or x <= 0:
            raise ValueError(f"{_name(names, key)}={value!r}: must be finite and > 0")
        out[key] = x
    for key, value in (("positive_target", positive_target), ("negative_target", negative_target)):
        x = _number(value, _name(names, key))
        if not (-1.0 < x < 1.0):
            raise ValueError(
                f"{_name(names, key)}={value!r}: must lie strictly inside (-1, 1), "
                "the range of tanh"
            )
        out[key] = x
    if out["negative_target"] >= out["positive_target"]:
        raise ValueError(
            f"{_name(names, 'negative_target')}={negative_target!r} must be below "
            f"{_name(names, 'positive_target')}={positive_target!r}"
        )
    for key, value in (("v0", v0), ("v1", v1)):
        x = _number(value, _name(names, key))
        if not math.isfinite(x):
            raise ValueError(f"{_name(names, key)}={value!r}: must be a finite voltage (volts)")
        out[key] = x
    out["epochs"] = check_positive_int(epochs, _name(names, "epochs"))
    return out


def check_shift_params(*, low, high, division_factor, names: Mapping[str, str] | None = None):
    """Validate the lognormal min-max shift range: 0 < low < high (siemens), division_factor > 0."""
    lo = _number(low, _name(names, "low"))
    hi = _number(high, _name(names, "high"))
    df = _number(division_factor, _name(names, "division_factor"))
    if not math.isfinite(lo) or lo <= 0:
        raise ValueError(f"{_name(names, 'low')}={low!r}: must be finite and > 0 (siemens)")
    if not math.isfinite(hi) or hi <= lo:
        raise ValueError(
            f"{_name(names, 'high')}={high!r}: must be finite and > {_name(names, 'low')}={low!r}"
        )
    if not math.isfinite(df) or df <= 0:
        raise ValueError(f"{_name(names, 'division_factor')}={division_factor!r}: must be > 0")
    return lo, hi, df


def resolve_dtype(dtype, key: str = "dtype") -> np.dtype:
    """'float32' or 'float64' as a NumPy dtype; float64 needs JAX's 64-bit mode."""
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in PRECISIONS:
        raise ValueError(f"{key}={dtype!r}: expected one of {list(PRECISIONS)}")
    if name == "float64" and not jax.config.jax_enable_x64:
        raise ValueError(
            f"{key}='float64' needs JAX's 64-bit mode, which is off: set the environment variable "
            "JAX_ENABLE_X64=1, or call jax.config.update('jax_enable_x64', True) before any JAX "
            "computation"
        )
    return np.dtype(name)
