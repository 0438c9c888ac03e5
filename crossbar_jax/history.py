"""Per-epoch trajectories of a few crossbars, for inspecting single trainings.

The batch runner (`train`, `run_monte_carlo`) keeps only outcomes, so that millions of crossbars
fit in memory. To look inside a training, as a device researcher does with one measured
crossbar, `record_history` re-runs a small batch with the same per-crossbar kernels and keeps,
for every epoch, the state the epoch reads: pulse counts, conductances, synaptic weights
G+ - G-, every training pattern's activation and the epoch's error.

Conventions (epoch e = 1..E is index e - 1 of the epoch axis):

* ``pulses``, ``conductances``, ``weights``, ``activations`` at epoch e are the values the
  epoch is evaluated with, i.e. *before* that epoch's Manhattan update. Epoch 1 is the untrained
  crossbar (every pulse count 0).
* A crossbar that converges at epoch c is frozen: epochs after c repeat epoch c's state.
* ``error`` at epoch e is the epoch error (ALGORITHM.md) evaluated at epoch e: positive while
  training, exactly 0 at the converged epoch c, and NaN after c (nothing was evaluated).
  `TrainResult.errors` differs only at c, where it holds NaN (no update was applied).
* ``final_pulses`` / ``final_conductances`` are the state after training: epoch c's for a
  converged crossbar, after the E-th update otherwise (one update more than epoch E's state).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from crossbar_jax.curve import validate_curve
from crossbar_jax.datasets import FOUR_BIT, Dataset, validate_dataset
from crossbar_jax.device import apply_pulses, curve_offsets, lookup_conductance
from crossbar_jax.engine import _check_shifts
from crossbar_jax.forward import forward, pattern_voltages
from crossbar_jax.manhattan import epoch_error, manhattan_direction, pattern_success
from crossbar_jax.validation import (
    check_shift_params,
    check_train_args,
    check_train_params,
    resolve_dtype,
)
from crossbar_jax.variation import sample_shifts

__all__ = [
    "History",
    "MAX_HISTORY_BATCH",
    "pick_crossbars",
    "record_history",
    "record_run_history",
    "record_summary_history",
]

MAX_HISTORY_BATCH = 64


class History(NamedTuple):
    """Per-epoch trajectories of B crossbars over E epochs (NumPy arrays)."""

    crossbar: np.ndarray  # (B,) int64, crossbar index (in its Monte Carlo run, else 0..B-1)
    pulses: np.ndarray  # (B, E, rows, cols) int32, pulse counts read at epoch e
    conductances: np.ndarray  # (B, E, rows, cols) float, siemens, read at epoch e
    weights: np.ndarray  # (B, E, rows, M) float, siemens, G+ - G- of each synapse
    activations: np.ndarray  # (B, E, P, M) float, tanh(beta * I) per training pattern, neuron
    error: np.ndarray  # (B, E) float, epoch error; 0 at the converged epoch, NaN after
    converged: np.ndarray  # (B,) bool
    epoch: np.ndarray  # (B,) int32, 1-based epoch of convergence; E when not converged
    final_pulses: np.ndarray  # (B, rows, cols) int32, pulse counts after training
    final_conductances: np.ndarray  # (B, rows, cols) float, siemens, after training
    patterns: np.ndarray  # (P, rows) int8, training inputs in {0, 1}
    labels: np.ndarray  # (P, M) int8, training labels (target t+ for 1, t- for 0)
    positive_target: float  # t+
    negative_target: float  # t-
    # Sampled histories (crossbar_jax.sampled_history) keep only some epochs:
    epoch_numbers: np.ndarray | None = None  # (K,) int64, 1-based epoch of each record; None: 1..E
    total_epochs: int | None = None  # E when the epoch axis is sampled

    @property
    def epochs(self) -> int:
        """E, the number of epochs trained (the length of the epoch axis unless sampled)."""
        return int(self.error.shape[1]) if self.total_epochs is None else int(self.total_epochs)


def _crossbar_history(shifts, offsets, voltages, labels, beta, tp, tn, k, *, epochs: int):
    """Scan the epochs of one crossbar, recording what each epoch reads."""
    length = offsets.shape[0]

    def step(carry, e):
        pulses, done, conv_epoch = carry
        g = lookup_conductance(pulses, offsets, shifts, k)
        f, x = forward(voltages, g, beta)
        success = pattern_success(f, labels, tp, tn)
        err = epoch_error(f, labels, success, tp, tn)
        direction = manhattan_direction(f, x, labels, voltages, tp, tn)
        conv = jnp.all(success)
        newly = conv & ~done
        active = ~(done | conv)
        new_pulses = apply_pulses(
            pulses, (direction > 0) & active, (direction < 0) & active, length
        )
        record = (pulses, g, g[:, 0::2] - g[:, 1::2], f, jnp.where(done, jnp.nan, err))
        carry = (new_pulses, done | conv, jnp.where(newly, e + 1, conv_epoch))
        return carry, record

    init = (jnp.zeros(shifts.shape, jnp.int32), jnp.array(False), jnp.int32(0))
    (pulses, done, conv_epoch), rec = jax.lax.scan(step, init, jnp.arange(epochs, dtype=jnp.int32))
    final_g = lookup_conductance(pulses, offsets, shifts, k)
    return rec, done, jnp.where(done, conv_epoch, epochs), pulses, final_g


@partial(jax.jit, static_argnames=("epochs",))
def _history_jit(shifts, offsets, voltages, labels, beta, tp, tn, k, epochs):
    fn = partial(_crossbar_history, epochs=epochs)
    return jax.vmap(fn, in_axes=(0, None, None, None, None, None, None, None))(
        shifts, offsets, voltages, labels, beta, tp, tn, k
    )


def record_history(
    shifts,
    *,
    curve,
    patterns=None,
    labels=None,
    beta,
    positive_target,
    negative_target,
    k,
    epochs: int = 50,
    v0: float = -0.1,
    v1: float = 0.1,
    dtype="float32",
    crossbar=None,
) -> History:
    """Train a few crossbars as `train` does and keep every epoch's state.

    Same physics and same floats as `train` (the same per-crossbar kernels), so converged,
    epoch and final pulses agree with it crossbar by crossbar. Memory grows as B * E, hence the
    limit of `MAX_HISTORY_BATCH` crossbars.

    Args:
        shifts: (B, rows, cols) device shifts in siemens (or one (rows, cols) crossbar),
            B <= `MAX_HISTORY_BATCH`.
        curve: (L,) conductance after 0..L-1 pulses, siemens.
        patterns, labels: training set, (P, rows) and (P, M) in {0, 1}; default the 4-bit task.
        beta: 1/ampere. positive_target, negative_target: t+ and t-. k: multiplication factor.
        epochs: E. v0, v1: row voltages for bits 0 and 1, volts. dtype: "float32"/"float64".
        crossbar: (B,) indices to label the crossbars with (default 0..B-1).

    Returns:
        `History` (module docstring: what each epoch's entry means).

    Raises:
        ValueError: a batch larger than `MAX_HISTORY_BATCH`, or any invalid input.
    """
    dt = resolve_dtype(dtype)
    prm = check_train_params(
        beta=beta,
        positive_target=positive_target,
        negative_target=negative_target,
        k=k,
        epochs=epochs,
        v0=v0,
        v1=v1,
    )
    if patterns is None and labels is None:
        patterns, labels = FOUR_BIT.train_patterns, FOUR_BIT.train_labels
    x, y = validate_dataset(patterns, labels, key="training set")
    g = validate_curve(curve)
    s = np.asarray(_check_shifts(shifts, x.shape[1], 2 * y.shape[1]), dtype=np.float64)
    if s.shape[0] > MAX_HISTORY_BATCH:
        raise ValueError(
            f"shifts: record_history keeps every epoch of every crossbar and takes at most "
            f"{MAX_HISTORY_BATCH} crossbars, got {s.shape[0]}; use `train` or "
            "`run_monte_carlo` for outcomes of large batches"
        )
    check_train_args(
        s, curve=g, patterns=x, labels=y, beta=prm["beta"], k=prm["k"], epochs=prm["epochs"],
        v0=prm["v0"], v1=prm["v1"], dtype=dt,
    )  # fmt: skip
    idx = np.arange(s.shape[0]) if crossbar is None else np.asarray(crossbar, np.int64)
    if idx.shape != (s.shape[0],):
        raise ValueError(f"crossbar: expected {s.shape[0]} indices, got shape {idx.shape}")

    scalars = [jnp.asarray(prm[n], dt) for n in ("beta", "positive_target", "negative_target", "k")]
    voltages = pattern_voltages(
        jnp.asarray(x), jnp.asarray(prm["v0"], dt), jnp.asarray(prm["v1"], dt)
    ).astype(dt)
    # Always run MAX_HISTORY_BATCH crossbars (the extra ones are discarded), so that any
    # batch size reuses one compiled executable; each crossbar is independent of the others.
    b = s.shape[0]
    padded = np.concatenate([s, np.full((MAX_HISTORY_BATCH - b,) + s.shape[1:], 1e-8)])
    out = _history_jit(
        jnp.asarray(padded, dt),
        curve_offsets(g, dt),
        voltages,
        jnp.asarray(y),
        *scalars,
        epochs=prm["epochs"],
    )
    rec, done, epoch, pulses, final_g = jax.tree_util.tree_map(lambda a: np.asarray(a)[:b], out)
    return History(
        crossbar=idx.astype(np.int64),
        pulses=rec[0],
        conductances=rec[1],
        weights=rec[2],
        activations=rec[3],
        error=rec[4],
        converged=done,
        epoch=epoch.astype(np.int32),
        final_pulses=pulses,
        final_conductances=final_g,
        patterns=x,
        labels=y,
        positive_target=prm["positive_target"],
        negative_target=prm["negative_target"],
    )


def record_run_history(
    seed: int,
    crossbars,
    *,
    curve,
    dataset: Dataset = FOUR_BIT,
    beta=6e6,
    positive_target=0.8,
    negative_target=-0.8,
    k=10.0,
    epochs: int = 50,
    v0=-0.1,
    v1=0.1,
    low=1e-8,
    high=1e-7,
    division_factor=5.0,
    dtype="float32",
) -> History:
    """`record_history` of chosen crossbars of a `run_monte_carlo` study.

    Crossbar i of seed s has the shifts that `run_monte_carlo(s, ...)` drew for it (same key
    ``fold_in(key(s), i)``, same sampler), so its history ends in the outcome the study
    recorded. Arguments are `run_monte_carlo`'s; `crossbars` lists the indices to inspect.
    """
    lo, hi, df = check_shift_params(low=low, high=high, division_factor=division_factor)
    idx = np.atleast_1d(np.asarray(crossbars, np.int64))
    if idx.ndim != 1 or idx.size == 0 or np.any(idx < 0):
        raise ValueError(f"crossbars: expected non-negative crossbar indices, got {crossbars!r}")
    dt = resolve_dtype(dtype)
    shape = (dataset.rows, dataset.cols)
    shifts = np.concatenate(
        [
            np.asarray(
                sample_shifts(
                    seed, 1, shape, low=lo, high=hi, division_factor=df, start=int(i), dtype=dt
                )
            )
            for i in idx
        ]
    )
    return record_history(
        shifts,
        curve=curve,
        patterns=dataset.train_patterns,
        labels=dataset.train_labels,
        beta=beta,
        positive_target=positive_target,
        negative_target=negative_target,
        k=k,
        epochs=epochs,
        v0=v0,
        v1=v1,
        dtype=dtype,
        crossbar=idx,
    )


def pick_crossbars(converged, crossbar=None) -> list[int]:
    """The crossbars to inspect by default: the first that converged and the first that failed.

    Args:
        converged: (N,) bool per crossbar.
        crossbar: (N,) crossbar indices (default 0..N-1).

    Returns:
        Up to two crossbar indices, converged one first; fewer when every crossbar has the same
        outcome.
    """
    c = np.asarray(converged, bool)
    ids = np.arange(c.size) if crossbar is None else np.asarray(crossbar)
    out = []
    for want in (True, False):
        hit = np.flatnonzero(c == want)
        if hit.size:
            out.append(int(ids[hit[0]]))
    return out


def record_summary_history(summary: dict, crossbars=None, *, converged=None, curve=None) -> History:
    """`record_run_history` of crossbars of a study job, from its summary.json.

    Reads the parameter point from ``summary["params"]`` as the app writes it (``device.k``,
    ``device.shift.*``, ``training.*``, ``dataset.train``, ``mc.seed``, ``mc.precision``).

    Args:
        summary: the job's summary.json as a dict.
        crossbars: crossbar indices to inspect; default `pick_crossbars(converged)`.
        converged: (N,) per-crossbar flags (results.parquet), needed when `crossbars` is None.
        curve: the conductance curve; default loaded from ``params["device"]["curve"]``.
    """
    from crossbar_jax.curve import load_curve
    from crossbar_jax.datasets import make_dataset

    p = summary["params"]
    dev, tr, mc = p["device"], p["training"], p["mc"]
    if crossbars is None:
        if converged is None:
            raise ValueError("record_summary_history: give `crossbars` or `converged`")
        crossbars = pick_crossbars(converged)
    if curve is None:
        curve = load_curve(dev["curve"])
        if "curve_points" in dev and len(curve) != dev["curve_points"]:
            raise ValueError(
                f"{dev['curve']}: {len(curve)} points, the job used "
                f"{dev['curve_points']}; pass the curve explicitly"
            )
    ds = p.get("dataset", {})
    dataset = FOUR_BIT
    if "train" in ds:
        dataset = make_dataset(
            ds["train"]["patterns"], ds["train"]["labels"], name=ds.get("name", "dataset")
        )
    sh = dev["shift"]
    precision = mc.get("precision", "float32")
    with jax.enable_x64(precision == "float64"):
        return record_run_history(
            int(mc["seed"]),
            crossbars,
            curve=curve,
            dataset=dataset,
            beta=tr["beta"],
            positive_target=tr["positive_target"],
            negative_target=tr["negative_target"],
            k=dev["k"],
            epochs=tr["epochs"],
            v0=tr.get("v0", -0.1),
            v1=tr.get("v1", 0.1),
            low=sh["low"],
            high=sh["high"],
            division_factor=sh["division_factor"],
            dtype=precision,
        )
