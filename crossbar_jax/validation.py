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

__all__ = [
    "check_dataset",
    "check_dynamic_range",
    "check_labels",
    "check_patterns",
    "check_positive_int",
    "check_seed",
    "check_shift_array",
    "check_shift_params",
    "check_train_params",
    "resolve_dtype",
]

PRECISIONS = ("float32", "float64")
MAX_SEED = 2**32 - 1  # seeds and crossbar indices are uint32 inside the samplers


def _name(names: Mapping[str, str] | None, key: str) -> str:
    return (names or {}).get(key, key)


def as_number(value, key: str) -> float:
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
        x = as_number(value, _name(names, key))
        if not math.isfinite(x) or x <= 0:
            raise ValueError(f"{_name(names, key)}={value!r}: must be finite and > 0")
        out[key] = x
    for key, value in (("positive_target", positive_target), ("negative_target", negative_target)):
        x = as_number(value, _name(names, key))
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
        x = as_number(value, _name(names, key))
        if not math.isfinite(x):
            raise ValueError(f"{_name(names, key)}={value!r}: must be a finite voltage (volts)")
        out[key] = x
    if out["v0"] == out["v1"]:
        # Equal voltages make every pattern the same input: nothing can be learned.
        raise ValueError(
            f"{_name(names, 'v1')}={v1!r}: must differ from {_name(names, 'v0')}={v0!r} "
            "(equal row voltages for bits 0 and 1 make every pattern the same input)"
        )
    out["epochs"] = check_positive_int(epochs, _name(names, "epochs"))
    return out


def check_shift_params(*, low, high, division_factor, names: Mapping[str, str] | None = None):
    """Validate the lognormal min-max shift range: 0 < low < high (siemens), division_factor > 0."""
    lo = as_number(low, _name(names, "low"))
    hi = as_number(high, _name(names, "high"))
    df = as_number(division_factor, _name(names, "division_factor"))
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


def check_seed(value, key: str = "seed", maximum: int = MAX_SEED) -> int:
    """`value` as an int in [0, `maximum`] (the samplers' keys are uint32), else a ValueError."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{key}={value!r}: expected an integer in [0, {maximum}]")
    if not 0 <= value <= maximum:
        raise ValueError(f"{key}={value!r}: must be an integer in [0, {maximum}]")
    return int(value)


def _array(value, key: str, what: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{key}: expected {what}, got {type(value).__name__}") from None


def check_patterns(patterns, key: str = "patterns", rows: int | None = None) -> np.ndarray:
    """(P, rows) input bits in {0, 1} as int8; `rows`, when given, is the crossbar's row count."""
    x = _array(patterns, key, "a 2-D array (patterns, rows) of 0/1")
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(
            f"{key}: expected a 2-D array (patterns, rows) of 0/1, got shape {x.shape}"
        )
    if rows is not None and x.shape[1] != rows:
        raise ValueError(
            f"{key}: patterns of shape {x.shape} have {x.shape[1]} bit(s), but the crossbar has "
            f"{rows} rows (one bit per row); expected shape ({x.shape[0]}, {rows})"
        )
    _binary(x, key)
    return x.astype(np.int8)


def check_labels(labels, key: str = "labels", shape: tuple | None = None) -> np.ndarray:
    """(P, neurons) labels in {0, 1} as int8, of exactly `shape` when given."""
    y = _array(labels, key, "a 2-D array (patterns, neurons) of 0/1")
    if y.ndim != 2 or (shape is not None and y.shape != tuple(shape)):
        want = f"shape {tuple(shape)} (patterns, neurons)" if shape else "a 2-D array"
        raise ValueError(f"{key}: expected {want} of 0/1, got shape {y.shape}")
    _binary(y, key)
    return y.astype(np.int8)


def _binary(a: np.ndarray, key: str) -> None:
    bad = ~np.isin(a, (0.0, 1.0))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{key}: must be binary (0 or 1), got {float(a[idx])!r} at index {idx}")


def check_dataset(dataset, key: str = "dataset"):
    """A `crossbar_jax.Dataset` whose four arrays are binary and agree in shape.

    A Dataset built directly (not with `make_dataset`) is not checked on construction; the
    runners call this first so that a mismatch is named here, not as an IndexError in the
    forward pass.
    """
    from crossbar_jax.datasets import Dataset

    if not isinstance(dataset, Dataset):
        raise ValueError(
            f"{key}: expected a crossbar_jax.Dataset (see crossbar_jax.make_dataset), "
            f"got {type(dataset).__name__}"
        )
    x = check_patterns(dataset.train_patterns, f"{key}.train_patterns")
    y = check_labels(dataset.train_labels, f"{key}.train_labels")
    if x.shape[0] < 1 or y.shape[0] != x.shape[0] or y.shape[1] < 1:
        raise ValueError(
            f"{key}.train_labels: shape {y.shape} for train_patterns of shape {x.shape}; "
            "expected one row of at least one label per training pattern"
        )
    xq = _array(dataset.test_patterns, f"{key}.test_patterns", "a 2-D array of 0/1")
    if xq.size == 0:
        xq = xq.reshape(0, x.shape[1])
    xq = check_patterns(xq, f"{key}.test_patterns", rows=x.shape[1])
    yq = _array(dataset.test_labels, f"{key}.test_labels", "a 2-D array of 0/1")
    if yq.size == 0:
        yq = yq.reshape(0, y.shape[1])
    check_labels(yq, f"{key}.test_labels", shape=(xq.shape[0], y.shape[1]))
    return dataset


def check_shift_array(shifts, key: str = "shifts") -> np.ndarray:
    """Device shifts (siemens) as float64: finite and >= 0 (a shift is part of a conductance)."""
    s = _array(shifts, key, "an array of shifts in siemens")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{key}: must be finite (siemens)")
    if np.any(s < 0):
        idx = tuple(int(i) for i in np.argwhere(s < 0)[0])
        raise ValueError(
            f"{key}: shifts are conductances and must be >= 0 (siemens); "
            f"{int((s < 0).sum())} negative value(s), first {float(s[idx])!r} at index {idx}"
        )
    return s


# Margin below the largest float of the precision that the products of the forward pass may
# reach: the column sums, read noise and the error add a few orders of magnitude at most.
_HEADROOM = 1e-6


def _z_max(dtype) -> float:
    """The largest |z| JAX's normal sampler can return in `dtype` (it inverts a uniform draw
    of 24 or 53 random bits): the bound of a lognormal shift's exponent."""
    return 5.5 if np.dtype(dtype).itemsize <= 4 else 8.5


def check_dynamic_range(
    dtype,
    *,
    curve,
    k,
    beta,
    v0,
    v1,
    rows: int,
    epochs: int,
    low=None,
    high=None,
    division_factor=None,
    distribution: str = "lognormal_minmax",
    shift_max=None,
    c2c_std: float = 0.0,
    read_noise: float = 0.0,
    names: Mapping[str, str] | None = None,
) -> None:
    """Refuse parameters whose products overflow (or whose shifts underflow) in `dtype`.

    Each value is finite on its own, but the forward pass computes ``beta * sum_r v_r G`` with
    ``G = k (g[n] - g[0] + shift + noise)``: in float32 a large k, beta, c2c_std or shift range
    makes that infinite and the results NaN. The bound used is the largest conductance the run
    can reach (the curve's span, the largest shift the distribution can draw, 10 sigma of the
    cycle-to-cycle random walk over `epochs` pulses), and the message names the key that
    dominates and the largest value it may take.
    """
    info = np.finfo(np.dtype(dtype))
    big, tiny = float(info.max) * _HEADROOM, float(info.tiny)
    g = np.asarray(curve, np.float64)
    span = float(np.max(g) - g[0]) if g.size else 0.0
    # The largest shift the sampler can produce, and the intermediate exp() it computes.
    if shift_max is None:
        shift_max = float(high) if high is not None else 0.0
        for key, value in (("low", low), ("high", high)):
            if value is not None and value < tiny:
                raise ValueError(
                    f"{_name(names, key)}={value!r}: below the smallest normal "
                    f"{np.dtype(dtype).name} ({tiny:.3g} S); use precision float64 or a "
                    "larger shift"
                )
        if low is not None and distribution in ("lognormal_minmax", "lognormal"):
            mu = math.log((low + high) / 2.0)
            sigma = abs(math.log(high / low)) / division_factor
            peak = mu + _z_max(dtype) * sigma
            if peak > math.log(float(info.max)):
                raise ValueError(
                    f"{_name(names, 'division_factor')}={division_factor!r}: with "
                    f"{_name(names, 'low')}={low!r} and {_name(names, 'high')}={high!r} the "
                    f"lognormal's sigma = |ln(high/low)| / division_factor = {sigma:.3g} "
                    f"overflows {np.dtype(dtype).name}; use a larger division_factor or a "
                    "narrower shift range"
                )
            if distribution == "lognormal":
                shift_max = math.exp(peak)
    noise = 10.0 * float(c2c_std) * math.sqrt(float(epochs))
    g_max = float(k) * (span + float(shift_max) + noise)
    v_max = max(abs(float(v0)), abs(float(v1)))
    x_max = float(beta) * rows * v_max * g_max * (1.0 + 10.0 * float(read_noise))
    if math.isfinite(x_max) and x_max <= big:
        return
    # Name the factor to change: the one furthest above its ordinary size.
    terms = {
        "k": float(k),
        "beta": float(beta) * 1e-7,
        "c2c_std": noise / max(span + float(shift_max), 1e-300),
        "read_noise": 10.0 * float(read_noise),
        "v1" if abs(float(v1)) >= abs(float(v0)) else "v0": v_max * 10.0,
        "high": float(shift_max) / max(span, 1e-300),
    }
    key = max(terms, key=lambda t: terms[t])
    value = {"k": k, "beta": beta, "c2c_std": c2c_std, "read_noise": read_noise, "v0": v0,
             "v1": v1, "high": high if high is not None else shift_max}[key]  # fmt: skip
    scale = big / x_max if math.isfinite(x_max) and x_max > 0 else 0.0
    limit = f"; at most about {float(value) * scale:.3g} with the other values" if scale else ""
    raise ValueError(
        f"{_name(names, key)}={value!r}: overflows {np.dtype(dtype).name} (beta * rows * |v| * "
        f"k * (curve span + shift + noise) = {x_max:.3g} > {big:.3g}){limit}; use smaller "
        "values or precision float64"
    )


# --- checks of the public functions' arguments, called first thing by each of them ---------


def _floats(values: dict) -> dict | None:
    """The values as broadcast float64 arrays, or None when any is not numeric or not positive
    where it must be (the function's own checks then report it with their message)."""
    try:
        arrays = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in values.values()))
        arrays = dict(zip(values, arrays, strict=True))
    except (TypeError, ValueError):
        return None
    if not all(np.all(np.isfinite(a)) for a in arrays.values()):
        return None
    return {k: np.atleast_1d(a) for k, a in arrays.items()}


def check_run_args(
    *,
    seed,
    n_crossbars,
    curve,
    dataset,
    beta,
    positive_target,
    negative_target,
    k,
    epochs,
    v0,
    v1,
    low,
    high,
    division_factor,
    dtype,
    distribution: str = "lognormal_minmax",
    shift_map=None,
    nonideal=None,
) -> None:
    """Arguments of `run_monte_carlo`, `run_grid` and `run_monte_carlo_nonideal`.

    Beyond each runner's own checks: the seed and crossbar count in the samplers' uint32 range,
    a `Dataset` whose arrays agree, v0 != v1, a shift map of conductances >= 0, and no
    parameter point whose products overflow the precision (`check_dynamic_range`).
    """
    from crossbar_jax.curve import validate_curve

    dt = resolve_dtype(dtype)
    check_seed(seed, "seed")
    n = check_positive_int(n_crossbars, "n_crossbars")
    if n > MAX_SEED:
        raise ValueError(f"n_crossbars={n_crossbars!r}: at most {MAX_SEED} crossbars per seed")
    check_dataset(dataset)
    g = validate_curve(curve)
    if shift_map is not None:
        check_shift_array(shift_map, "shift_map")
    _check_points(
        dt,
        g,
        dataset.train_patterns.shape[1],
        epochs,
        dict(beta=beta, k=k, v0=v0, v1=v1, low=low, high=high, division_factor=division_factor),
        distribution=distribution,
        shift_max=None if shift_map is None else float(np.max(shift_map)),
        nonideal=nonideal,
    )


def _check_points(dt, curve, rows, epochs, values, *, distribution, shift_max, nonideal):
    a = _floats(values)
    if a is None or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        return
    n_points = a["beta"].size
    c2c = float(getattr(nonideal, "c2c_std", 0.0) or 0.0)
    rn = float(getattr(nonideal, "read_noise", 0.0) or 0.0)
    if not (math.isfinite(c2c) and math.isfinite(rn)):
        return
    for j in range(n_points):
        p = {key: float(v[j]) for key, v in a.items()}
        if p["v0"] == p["v1"]:
            raise ValueError(
                f"v1={p['v1']!r}: must differ from v0={p['v0']!r} (equal row voltages make "
                "every pattern the same input)"
            )
        if min(p["beta"], p["k"]) <= 0:
            return  # the runner's own check names it
        if "low" in p and (min(p["low"], p["division_factor"]) <= 0 or p["high"] <= p["low"]):
            return
        try:
            check_dynamic_range(
                dt, curve=curve, rows=rows, epochs=int(epochs), distribution=distribution,
                shift_max=shift_max, c2c_std=c2c, read_noise=rn, **p,
            )  # fmt: skip
        except ValueError as exc:
            raise ValueError(f"{exc} (point {j})" if n_points > 1 else str(exc)) from None


def check_train_args(
    shifts, *, curve, patterns, labels, beta, k, epochs, v0, v1, dtype, nonideal=None, seed=0
) -> None:
    """Arguments of `train`, `train_nonideal` and `record_history` beyond their own checks:
    shifts >= 0 (they are conductances), v0 != v1, the noise seed in the uint32 range, and no
    overflow in the precision."""
    from crossbar_jax.curve import validate_curve

    dt = resolve_dtype(dtype)
    check_seed(seed, "seed")
    s = check_shift_array(shifts, "shifts")
    g = validate_curve(curve)
    x = check_patterns(patterns, "patterns")
    check_labels(labels, "labels")
    if s.size == 0:
        return  # the shape check of the function names it
    _check_points(
        dt, g, x.shape[1], epochs, dict(beta=beta, k=k, v0=v0, v1=v1),
        distribution="given", shift_max=float(np.max(s)), nonideal=nonideal,
    )  # fmt: skip


def check_evaluate_args(conductances, patterns, labels=None, **params) -> tuple:
    """Arguments of `evaluate` (labels given) and `predict`: conductances (B, rows, cols) (or
    (rows, cols) for `predict`) finite and >= 0, cols even, patterns (Q, rows) in {0, 1}, labels
    (Q, cols / 2) in {0, 1}. Returns the checked (conductances, patterns, labels)."""
    g = _array(conductances, "conductances", "an array of conductances in siemens")
    want = 3 if labels is not None else 2
    if g.ndim != want or g.shape[-1] < 2 or g.shape[-1] % 2 or g.shape[-2] < 1:
        layout = "(batch, rows, cols)" if want == 3 else "(rows, cols)"
        raise ValueError(
            f"conductances: expected shape {layout} with an even number of columns (G+ and G- "
            f"of each neuron), got {g.shape}"
        )
    check_shift_array(g, "conductances")
    if params:  # beta, the targets and the voltages, as `check_train_params` (k, epochs unused)
        check_train_params(k=1.0, epochs=1, **params)
    rows, neurons = g.shape[-2], g.shape[-1] // 2
    x = check_patterns(patterns, "patterns", rows=rows)
    y = None
    if labels is not None:
        y = check_labels(labels, "labels", shape=(x.shape[0], neurons))
    return g, x, y


def check_sample_args(seed, n_crossbars, shape, *, low, high, division_factor, start, dtype):
    """Arguments of `sample_shifts`: seed and crossbar indices in the uint32 range, a (rows,
    cols) shape of positive integers, and the shift range of `check_shift_params`."""
    dt = resolve_dtype(dtype)
    check_seed(seed, "seed")
    n = check_positive_int(n_crossbars, "n_crossbars", 0)
    first = check_seed(start, "start")
    if first + n - 1 > MAX_SEED:
        raise ValueError(
            f"start={start!r}, n_crossbars={n_crossbars!r}: crossbar indices must stay "
            f"<= {MAX_SEED}"
        )
    if (
        isinstance(shape, (str, bytes))
        or np.ndim(shape) != 1
        or len(shape) != 2
        or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in shape)
    ):
        raise ValueError(f"shape={shape!r}: expected (rows, cols), two integers >= 1")
    lo, hi, df = check_shift_params(low=low, high=high, division_factor=division_factor)
    check_dynamic_range(
        dt, curve=[1.0], k=1.0, beta=0.0, v0=0.0, v1=0.0, rows=1, epochs=1, low=lo, high=hi,
        division_factor=df,
    )  # fmt: skip
    return lo, hi, df
