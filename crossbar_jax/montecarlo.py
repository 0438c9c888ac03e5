"""Monte Carlo over device-to-device variation: many seeded crossbars at one or many points.

Crossbar i of a study with seed s draws its shifts from ``fold_in(key(s), i)`` inside the
compiled call, trains, and is evaluated on the held-out patterns. Only per-crossbar outcomes
leave the device, so 10^7 crossbars run in bounded memory, chunk by chunk; crossbar i's outcome
is the same whatever the chunk size or the number of devices.

`run_grid` runs a whole grid of parameter points (beta, targets, k, shift range) times N
crossbars as one batch: every crossbar carries its point's parameters, so one compiled
executable serves the grid, and point j's outcomes are bit for bit those of `run_monte_carlo`
at point j with the same seed.
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from crossbar_jax import runner
from crossbar_jax.curve import validate_curve
from crossbar_jax.datasets import FOUR_BIT, Dataset
from crossbar_jax.model import make_curves, make_model, make_point, pool_lengths
from crossbar_jax.nonideal import NonIdeal, check_nonideal
from crossbar_jax.runner import Source
from crossbar_jax.validation import (
    check_positive_int,
    check_run_args,
    check_shift_params,
    check_train_params,
    resolve_dtype,
)
from crossbar_jax.variation import DISTRIBUTIONS, REFERENCE_DISTRIBUTION

__all__ = [
    "MonteCarloResult",
    "GridResult",
    "run_monte_carlo",
    "run_monte_carlo_nonideal",
    "run_grid",
    "compile_count",
    "check_shift_map",
    "MAX_SEED",
]

compile_count = runner.compile_count

MAX_SEED = 2**32 - 1
POINT_KEYS = ("beta", "positive_target", "negative_target", "k", "low", "high", "division_factor")


class MonteCarloResult(NamedTuple):
    """Per-crossbar outcomes of a Monte Carlo run (NumPy arrays) and its timing."""

    crossbar: np.ndarray  # (N,) int64, crossbar index i (its key is fold_in(key(seed), i))
    converged: np.ndarray  # (N,) bool
    epoch: np.ndarray  # (N,) int32, epoch of convergence; `epochs` when not converged
    final_error: np.ndarray  # (N,) float, error of the last epoch evaluated (0 if converged)
    test_accuracy: np.ndarray  # (N,) float32, fraction of held-out patterns classified right
    compile_s: float  # seconds spent compiling (0 when the executable was cached)
    train_s: float  # seconds spent running the chunks, compilation excluded


class GridResult(NamedTuple):
    """Outcomes of G parameter points x N crossbars (NumPy arrays) and the run's timing."""

    points: dict  # name -> (G,) float64, the parameters of each point (POINT_KEYS)
    converged: np.ndarray  # (G, N) bool
    epoch: np.ndarray  # (G, N) int32
    final_error: np.ndarray  # (G, N) float
    test_accuracy: np.ndarray  # (G, N) float32
    compile_s: float  # seconds spent compiling (0 when the executable was cached)
    train_s: float  # seconds spent running the chunks, compilation excluded

    def at(self, j: int) -> MonteCarloResult:
        """Point j's outcomes, as `run_monte_carlo` at that point returns them."""
        n = self.converged.shape[1]
        return MonteCarloResult(
            np.arange(n, dtype=np.int64),
            self.converged[j],
            self.epoch[j],
            self.final_error[j],
            self.test_accuracy[j],
            self.compile_s,
            self.train_s,
        )


def _check_seed(seed) -> int:
    if (
        isinstance(seed, bool)
        or not isinstance(seed, (int, np.integer))
        or not (0 <= seed <= MAX_SEED)
    ):
        raise ValueError(f"seed={seed!r}: expected an integer in [0, {MAX_SEED}]")
    return int(seed)


def _points(values: dict, epochs, v0, v1) -> tuple[dict, dict]:
    """Broadcast numbers and 1-D sequences to G points and validate every point.

    Numbers are checked as given, so a message shows the caller's value; sequence entries are
    checked one point at a time and the message names the point.
    """
    seqs = {}
    for key, v in values.items():
        if np.ndim(v) == 0:
            continue
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{key}={v!r}: expected a number or a 1-D sequence") from None
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"{key}: expected a number or a non-empty 1-D sequence, got {v!r}")
        seqs[key] = a
    lengths = {len(a) for a in seqs.values()}
    if len(lengths) > 1:
        got = {k: len(a) for k, a in seqs.items()}
        raise ValueError(f"grid: sequences must have one length (the points), got {got}")
    n_points = lengths.pop() if lengths else 1
    points = {k: np.empty(n_points) for k in values}
    prm = None
    for j in range(n_points):
        kw = {k: (float(seqs[k][j]) if k in seqs else v) for k, v in values.items()}
        try:
            prm = check_train_params(
                **{k: kw[k] for k in POINT_KEYS[:4]}, epochs=epochs, v0=v0, v1=v1
            )
            shift = check_shift_params(**{k: kw[k] for k in POINT_KEYS[4:]})
        except ValueError as exc:
            raise ValueError(f"{exc} (point {j})" if seqs else str(exc)) from None
        for k, x in zip(POINT_KEYS, [prm[k] for k in POINT_KEYS[:4]] + list(shift), strict=True):
            points[k][j] = x
    return points, prm


def _run_points(
    seed,
    n,
    points: dict,
    *,
    curve,
    dataset: Dataset,
    epochs,
    v0,
    v1,
    dtype,
    chunk_size,
    progress,
    nonideal: NonIdeal | None = None,
    distribution: str = REFERENCE_DISTRIBUTION,
    shift_map=None,
    first: int = 0,
    on_progress=None,
):
    """Train and evaluate len(points) x n crossbars on the one runner; flat per-lane outcomes."""
    dt = resolve_dtype(dtype)
    n = check_positive_int(n, "n_crossbars")
    if chunk_size is not None:
        chunk_size = check_positive_int(chunk_size, "chunk_size")
    seed = _check_seed(seed)
    first = check_positive_int(first, "first_crossbar", minimum=0)
    if n + first - 1 > MAX_SEED:
        raise ValueError(
            f"first_crossbar={first}, n_crossbars={n}: crossbar indices must stay within "
            f"[0, {MAX_SEED}] (one seed's crossbars)"
        )
    n_points = len(points["beta"])
    total = n_points * n
    if total > MAX_SEED:
        raise ValueError(f"{n_points} points x {n} crossbars: at most {MAX_SEED} in one run")
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution={distribution!r}: expected one of {list(DISTRIBUTIONS)}")
    g = validate_curve(curve)
    ni = None if nonideal is None else check_nonideal(nonideal, g.size)
    shape = (dataset.rows, dataset.cols)
    smap = check_shift_map(shift_map, distribution, shape)
    model = make_model(
        epochs=epochs, dtype=dt, dataset=dataset, length=g.size,
        distribution=distribution, nonideal=ni, v0=v0, v1=v1,
    )  # fmt: skip
    curves = make_curves(
        g, dt, None if ni is None else ni.depression_curve, None if ni is None else ni.curve_pool
    )
    table = make_point(dt, v0=v0, v1=v1, **points, **_magnitudes(ni, n_points))
    src = Source(
        seed=np.uint32(seed),
        per_point=np.uint32(n),
        table=table,
        shift_map=jnp.asarray(smap if smap is not None else np.zeros(shape), dt),
        shifts=None,
        first=np.uint32(first),
        unit=jnp.ones((), dt),
        pool_lengths=pool_lengths(ni),
    )
    out, compile_s, train_s = runner.run(
        model, curves, src, total, chunk_size=chunk_size, progress=progress,
        on_progress=on_progress,
    )  # fmt: skip
    fields = (out["converged"], out["epoch"], out["final_error"], out["test_accuracy"])
    return fields, compile_s, train_s


def _magnitudes(ni: NonIdeal | None, n_points: int) -> dict:
    """The non-idealities' traced numbers, one per point."""
    if ni is None:
        return {}
    return {key: np.full(n_points, value) for key, value in ni.magnitudes().items()}


def check_shift_map(shift_map, distribution, shape):
    """The measured shift map as float64 (rows, cols) for distribution "measured", else None."""
    if distribution != "measured":
        return None
    if shift_map is None:
        raise ValueError("distribution='measured' needs shift_map, a (rows, cols) array (siemens)")
    m = np.asarray(shift_map, np.float64)
    if m.shape != tuple(shape):
        raise ValueError(
            f"shift_map: expected shape {tuple(shape)} (rows, cols = 2 per neuron), got {m.shape}"
        )
    if not np.all(np.isfinite(m)):
        raise ValueError("shift_map: must be finite (siemens)")
    return m


def run_monte_carlo(
    seed: int,
    n_crossbars: int,
    *,
    curve,
    dataset: Dataset = FOUR_BIT,
    beta=6e6,
    positive_target=0.8,
    negative_target=-0.8,
    k=10.0,
    epochs=50,
    v0=-0.1,
    v1=0.1,
    low=1e-8,
    high=1e-7,
    division_factor=5.0,
    dtype="float32",
    chunk_size: int | None = None,
    progress: bool = False,
    nonideal: NonIdeal | None = None,
    distribution: str = REFERENCE_DISTRIBUTION,
    shift_map=None,
    first_crossbar: int = 0,
    on_progress=None,
) -> MonteCarloResult:
    """Train `n_crossbars` independently seeded crossbars at one parameter point.

    Each crossbar i draws its shifts (``low``..``high`` siemens; the reference's lognormal
    min-max unless `distribution` says otherwise, see `crossbar_jax.variation.DISTRIBUTIONS`)
    from ``fold_in(key(seed), i)``, is trained for at most `epochs` epochs, and is evaluated on
    the dataset's held-out patterns with its trained conductances. Defaults are ALGORITHM.md's.
    `nonideal` (`crossbar_jax.NonIdeal`) switches device non-idealities on; each costs only its
    own arithmetic. The physical parameters are traced: a second call with other values but the
    same shapes (n_crossbars, chunk_size, epochs, dataset, dtype, switches) does not recompile.

    Args:
        first_crossbar: index of the first crossbar: the run trains crossbars
            first_crossbar .. first_crossbar + n_crossbars - 1, exactly as a larger run does.
        on_progress: called as ``on_progress(done, total)`` after every chunk.

    Returns:
        `MonteCarloResult`; crossbar i's outcome is independent of `chunk_size` and of the
        number of devices.
    """
    kw = dict(locals())
    for key in POINT_KEYS:
        if np.ndim(kw[key]) != 0:
            raise ValueError(f"{key}={kw[key]!r}: expected a number (run_grid takes sequences)")
    _, out, compile_s, train_s = _run(kw)
    crossbar = np.arange(first_crossbar, first_crossbar + len(out[0]), dtype=np.int64)
    return MonteCarloResult(crossbar, *out, compile_s=compile_s, train_s=train_s)


def keywords(kwargs: dict, name: str) -> dict:
    """`run_monte_carlo`'s keywords with their defaults, updated by `kwargs` (names checked)."""
    sig = inspect.signature(run_monte_carlo)
    unknown = sorted(set(kwargs) - set(sig.parameters) - {"seed", "n_crossbars"})
    if unknown:
        allowed = [p for p in sig.parameters if p not in ("seed", "n_crossbars")]
        raise TypeError(f"{name}: unknown keyword(s) {unknown}; allowed: {allowed}")
    if "curve" not in kwargs:
        raise TypeError(f"{name}: missing the keyword argument 'curve'")
    out = {p.name: p.default for p in sig.parameters.values() if p.default is not p.empty}
    out.update(kwargs)
    return out


def _run(kw: dict):
    """Validate the points and run them: (points, outcome fields, compile s, train s)."""
    points, prm = _points({key: kw[key] for key in POINT_KEYS}, kw["epochs"], kw["v0"], kw["v1"])
    check_run_args(
        seed=kw["seed"], n_crossbars=kw["n_crossbars"], curve=kw["curve"], dataset=kw["dataset"],
        epochs=prm["epochs"], dtype=kw["dtype"], **{key: points[key] for key in POINT_KEYS},
        v0=prm["v0"], v1=prm["v1"], distribution=kw["distribution"],
        shift_map=kw["shift_map"] if kw["distribution"] == "measured" else None,
        nonideal=kw["nonideal"],
    )  # fmt: skip
    return points, *_run_points(
        kw["seed"],
        kw["n_crossbars"],
        points,
        curve=kw["curve"],
        dataset=kw["dataset"],
        epochs=prm["epochs"],
        v0=prm["v0"],
        v1=prm["v1"],
        dtype=kw["dtype"],
        chunk_size=kw["chunk_size"],
        progress=kw["progress"],
        nonideal=kw["nonideal"],
        distribution=kw["distribution"],
        shift_map=kw["shift_map"],
        first=kw.get("first_crossbar", 0),
        on_progress=kw["on_progress"],
    )


def run_monte_carlo_nonideal(seed: int, n_crossbars: int, *, nonideal=None, **kwargs):
    """`run_monte_carlo` with device non-idealities (kept for the name; same runner)."""
    return run_monte_carlo(seed, n_crossbars, nonideal=nonideal, **kwargs)


def run_grid(seed: int, n_crossbars: int, **kwargs) -> GridResult:
    """`run_monte_carlo` at G parameter points at once: G x `n_crossbars` crossbars, one batch.

    Takes `run_monte_carlo`'s keywords. beta, the targets, k and the shift range (low, high,
    division_factor) are each a number or a 1-D sequence; sequences are the points (all of one
    length G, zipped), numbers are shared by every point. For a full grid pass the flattened
    mesh, e.g. ``b, kk = np.meshgrid(betas, ks); run_grid(0, n, beta=b.ravel(),
    k=kk.ravel(), ...)``. Every point uses the same seed, so crossbar i has the same random
    draws at every point (common random numbers).

    One set of executables runs the whole grid, which saves a process start and a compilation
    per point. Point j's outcomes are exactly those of ``run_monte_carlo(seed, n_crossbars,
    ...)`` at point j.

    Returns:
        `GridResult` with (G, n_crossbars) arrays; ``result.at(j)`` is point j's
        `MonteCarloResult`.
    """
    kw = keywords(kwargs, "run_grid")
    if kw["first_crossbar"] != 0:
        raise ValueError("run_grid: first_crossbar is for run_monte_carlo only")
    kw.update(seed=seed, n_crossbars=n_crossbars)
    points, out, compile_s, train_s = _run(kw)
    shape = (len(points["beta"]), int(n_crossbars))
    return GridResult(
        points, *(a.reshape(shape) for a in out), compile_s=compile_s, train_s=train_s
    )
