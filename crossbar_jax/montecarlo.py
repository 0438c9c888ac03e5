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

import logging
import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from crossbar_jax.batching import batch_mesh, chunk_layout, pipeline, shard_batch
from crossbar_jax.curve import validate_curve
from crossbar_jax.datasets import FOUR_BIT, Dataset
from crossbar_jax.device import curve_offsets, lookup_conductance
from crossbar_jax.engine import DEFAULT_CHUNK, TrainParams, _lanes, train_chunk
from crossbar_jax.evaluate import UNDECIDED
from crossbar_jax.forward import activations, neuron_logic_currents, pattern_voltages
from crossbar_jax.validation import (
    check_positive_int,
    check_shift_params,
    check_train_params,
    resolve_dtype,
)
from crossbar_jax.variation import shift_lanes

log = logging.getLogger(__name__)

__all__ = [
    "ShiftParams",
    "PointTable",
    "MonteCarloResult",
    "GridResult",
    "run_monte_carlo",
    "run_grid",
    "compile_count",
    "MAX_SEED",
]

MAX_SEED = 2**32 - 1
POINT_KEYS = ("beta", "positive_target", "negative_target", "k", "low", "high", "division_factor")


class ShiftParams(NamedTuple):
    """Lognormal min-max shift range, traced."""

    low: jax.Array  # () float, siemens, smallest shift of each crossbar
    high: jax.Array  # () float, siemens, largest shift of each crossbar
    division_factor: jax.Array  # () float, sigma = |ln(high/low)| / division_factor


class PointTable(NamedTuple):
    """The parameter points of a grid, one entry per point (traced)."""

    beta: jax.Array  # (G,) float, 1/ampere
    positive_target: jax.Array  # (G,) float
    negative_target: jax.Array  # (G,) float
    k: jax.Array  # (G,) float
    low: jax.Array  # (G,) float, siemens
    high: jax.Array  # (G,) float, siemens
    division_factor: jax.Array  # (G,) float


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


def _accuracy(g, patterns, labels, p: TrainParams):
    """Fraction of held-out patterns whose every neuron output is right, per crossbar: (B,).

    The same floats as `crossbar_jax.evaluate.predict` on each crossbar: output 1 when
    f >= t+, 0 when f <= t-, undecided otherwise; undecided counts as wrong.
    """
    n_test, batch = patterns.shape[0], g.shape[-1]
    if n_test == 0:
        return jnp.full((batch,), jnp.nan, jnp.float32)
    voltages = pattern_voltages(patterns, p.v0, p.v1).astype(g.dtype)
    lanes = _lanes(g)
    right = [jnp.ones((batch,), bool) for _ in range(n_test)]
    for m in range(g.shape[1] // 2):
        currents = neuron_logic_currents(
            voltages, [row[2 * m] for row in lanes], [row[2 * m + 1] for row in lanes]
        )
        for q, i in enumerate(currents):
            f, _ = activations(i, p.beta)
            out = jnp.where(
                f >= p.positive_target, 1, jnp.where(f <= p.negative_target, 0, UNDECIDED)
            )
            right[q] = right[q] & (out == labels[q, m])
    count = right[0].astype(jnp.float32)
    for r in right[1:]:
        count = count + r.astype(jnp.float32)
    return count / n_test


def _mc_shard(
    seed,
    start,
    per_point,
    offsets,
    train_x,
    train_y,
    test_x,
    test_y,
    table: PointTable,
    v0,
    v1,
    unit,
    *,
    local: int,
    epochs: int,
):
    """One device's `local` lanes of a chunk: lane l is crossbar l % N of point l // N."""
    lane = (
        start
        + lax.axis_index("batch").astype(jnp.uint32) * local
        + jnp.arange(local, dtype=jnp.uint32)
    )
    point = jnp.minimum(lane // per_point, table.beta.shape[0] - 1)  # padding: last point
    crossbar = lane - point * per_point
    pick = lambda a: a[point]  # noqa: E731
    dtype = offsets.dtype
    shape = (train_x.shape[1], 2 * train_y.shape[1])
    s = shift_lanes(
        seed, crossbar, shape, pick(table.low), pick(table.high), pick(table.division_factor), dtype
    )
    params = TrainParams(
        pick(table.beta),
        pick(table.positive_target),
        pick(table.negative_target),
        pick(table.k),
        v0,
        v1,
    )
    state = train_chunk(
        s, offsets, train_x, train_y, params, epochs=epochs, errors="last", unit=unit
    )
    g = lookup_conductance(state.pulses, offsets, s, params.k)
    epoch = jnp.where(state.done, state.epoch, epochs)
    return state.done, epoch, state.last_error, _accuracy(g, test_x, test_y, params)


_COMPILED: dict = {}


def _compiled(args, *, size: int, epochs: int):
    """The executable for these shapes, compiled once per process; (fn, seconds compiling)."""
    mesh = batch_mesh()
    sig = (mesh.devices.tobytes(), size, epochs) + tuple(
        (a.shape, str(a.dtype)) for a in jax.tree_util.tree_leaves(args)
    )
    if sig in _COMPILED:
        return _COMPILED[sig], 0.0
    t0 = time.perf_counter()
    fn = shard_batch(partial(_mc_shard, local=size // mesh.size, epochs=epochs), mesh, 0, len(args))
    exe = jax.jit(fn).lower(*args).compile()
    _COMPILED[sig] = exe
    return exe, time.perf_counter() - t0


def compile_count() -> int:
    """How many Monte Carlo executables this process has compiled (for no-recompile checks)."""
    return len(_COMPILED)


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
    seed, n, points: dict, *, curve, dataset: Dataset, epochs, v0, v1, dtype, chunk_size, progress
):
    """Train and evaluate len(points) x n crossbars; flat per-lane outcomes and timings."""
    dt = resolve_dtype(dtype)
    n = check_positive_int(n, "n_crossbars")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    seed = _check_seed(seed)
    if n > MAX_SEED:
        raise ValueError(f"n_crossbars={n}: at most {MAX_SEED} crossbars per seed")
    n_points = len(points["beta"])
    total = n_points * n
    if total > MAX_SEED:
        raise ValueError(f"{n_points} points x {n} crossbars: at most {MAX_SEED} in one run")
    g = validate_curve(curve)

    size, n_chunks = chunk_layout(total, chunk_size, batch_mesh().size)
    table = PointTable(*(jnp.asarray(points[k], dt) for k in POINT_KEYS))
    args = [
        jnp.uint32(seed),
        jnp.uint32(0),
        jnp.uint32(n),
        curve_offsets(g, dt),
        jnp.asarray(dataset.train_patterns),
        jnp.asarray(dataset.train_labels),
        jnp.asarray(dataset.test_patterns),
        jnp.asarray(dataset.test_labels),
        table,
        jnp.asarray(v0, dt),
        jnp.asarray(v1, dt),
        jnp.ones((), dt),
    ]
    fn, compile_s = _compiled(args, size=size, epochs=epochs)

    out = (
        np.empty(total, bool),
        np.empty(total, np.int32),
        np.empty(total, dt),
        np.empty(total, np.float32),
    )

    def launch(c):
        args[1] = jnp.uint32(c * size)
        return fn(*args)

    log.info(
        "compiled in %.2f s; training %d crossbars in %d call(s) of %d",
        compile_s,
        total,
        n_chunks,
        size,
    )
    t0 = time.perf_counter()
    counts = [min(size, total - c * size) for c in range(n_chunks)]
    for c, res in pipeline(range(n_chunks), progress, launch, crossbars=counts):
        for field, value in zip(out, res, strict=True):
            part = value[: total - c * size]
            field[c * size : c * size + len(part)] = part
    return out, compile_s, time.perf_counter() - t0


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
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = False,
) -> MonteCarloResult:
    """Train `n_crossbars` independently seeded crossbars at one parameter point.

    Each crossbar i draws lognormal min-max shifts (``low``..``high`` siemens) from
    ``fold_in(key(seed), i)``, is trained for at most `epochs` epochs, and is evaluated on the
    dataset's held-out patterns with its trained conductances. Defaults are ALGORITHM.md's.
    The physical parameters are traced: a second call with other values but the same shapes
    (n_crossbars, chunk_size, epochs, dataset, dtype) reuses the compiled executable.

    Returns:
        `MonteCarloResult`; crossbar i's outcome is independent of `chunk_size` and of the
        number of devices.
    """
    for key, v in (
        ("beta", beta),
        ("positive_target", positive_target),
        ("negative_target", negative_target),
        ("k", k),
        ("low", low),
        ("high", high),
        ("division_factor", division_factor),
    ):
        if np.ndim(v) != 0:
            raise ValueError(f"{key}={v!r}: expected a number (run_grid takes sequences)")
    points, prm = _points(
        dict(
            beta=beta,
            positive_target=positive_target,
            negative_target=negative_target,
            k=k,
            low=low,
            high=high,
            division_factor=division_factor,
        ),
        epochs,
        v0,
        v1,
    )
    out, compile_s, train_s = _run_points(
        seed,
        n_crossbars,
        points,
        curve=curve,
        dataset=dataset,
        epochs=prm["epochs"],
        v0=prm["v0"],
        v1=prm["v1"],
        dtype=dtype,
        chunk_size=chunk_size,
        progress=progress,
    )
    n = len(out[0])
    return MonteCarloResult(
        np.arange(n, dtype=np.int64), *out, compile_s=compile_s, train_s=train_s
    )


def run_grid(
    seed: int,
    n_crossbars: int,
    *,
    curve,
    dataset: Dataset = FOUR_BIT,
    beta=6e6,
    positive_target=0.8,
    negative_target=-0.8,
    k=10.0,
    low=1e-8,
    high=1e-7,
    division_factor=5.0,
    epochs=50,
    v0=-0.1,
    v1=0.1,
    dtype="float32",
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = False,
) -> GridResult:
    """`run_monte_carlo` at G parameter points at once: G x `n_crossbars` crossbars, one batch.

    beta, the targets, k and the shift range (low, high, division_factor) are each a number or
    a 1-D sequence; sequences are the points (all of one length G, zipped), numbers are shared
    by every point. For a full grid pass the flattened mesh, e.g. ``b, kk = np.meshgrid(betas,
    ks); run_grid(0, n, beta=b.ravel(), k=kk.ravel(), ...)``. Every point uses the same seed,
    so crossbar i has the same random draws at every point (common random numbers).

    One executable runs the whole grid (it is compiled once per grid size G, shapes and dtype),
    which saves a process start and a compilation per point. Point j's outcomes are exactly
    those of ``run_monte_carlo(seed, n_crossbars, ...)`` at point j.

    Returns:
        `GridResult` with (G, n_crossbars) arrays; ``result.at(j)`` is point j's
        `MonteCarloResult`.
    """
    points, prm = _points(
        dict(
            beta=beta,
            positive_target=positive_target,
            negative_target=negative_target,
            k=k,
            low=low,
            high=high,
            division_factor=division_factor,
        ),
        epochs,
        v0,
        v1,
    )
    out, compile_s, train_s = _run_points(
        seed,
        n_crossbars,
        points,
        curve=curve,
        dataset=dataset,
        epochs=prm["epochs"],
        v0=prm["v0"],
        v1=prm["v1"],
        dtype=dtype,
        chunk_size=chunk_size,
        progress=progress,
    )
    shape = (len(points["beta"]), int(n_crossbars))
    return GridResult(
        points, *(a.reshape(shape) for a in out), compile_s=compile_s, train_s=train_s
    )
