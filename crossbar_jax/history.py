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

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from crossbar_jax import runner
from crossbar_jax.curve import validate_curve
from crossbar_jax.datasets import FOUR_BIT
from crossbar_jax.engine import given_source
from crossbar_jax.model import make_curves, make_model, make_point, pool_lengths
from crossbar_jax.nonideal import check_nonideal
from crossbar_jax.runner import Source
from crossbar_jax.validation import (
    check_positive_int,
    check_run_args,
    check_seed,
    check_shift_params,
    check_train_params,
    resolve_dtype,
)
from crossbar_jax.variation import REFERENCE_DISTRIBUTION

__all__ = [
    "History",
    "MAX_HISTORY_BATCH",
    "pick_crossbars",
    "record_history",
    "record_run_history",
    "record_summary_history",
    "record_job_history",
    "record_job_history_bounded",
    "record_sampled_history",
    "MAX_RECORDED_EPOCHS",
]

MAX_HISTORY_BATCH = 64
TRAIN_KEYS = ("beta", "positive_target", "negative_target", "k", "epochs", "v0", "v1")


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
    # Sampled histories (`max_epochs`: long trainings in bounded memory) keep only some epochs:
    epoch_numbers: np.ndarray | None = None  # (K,) int64, 1-based epoch of each record; None: 1..E
    total_epochs: int | None = None  # E when the epoch axis is sampled

    @property
    def epochs(self) -> int:
        """E, the number of epochs trained (the length of the epoch axis unless sampled)."""
        return int(self.error.shape[1]) if self.total_epochs is None else int(self.total_epochs)


def _record(model, curves, src, b: int, idx, prm, stride: int = 1) -> History:
    """Run the runner's recorder on `b` lanes (padded to `MAX_HISTORY_BATCH`, so that any
    batch size reuses one executable) and package the records as a `History`; `stride` > 1
    records only epochs 1, 1 + stride, ... (the others run unrecorded)."""
    rec, final = runner.record(model, curves, src, MAX_HISTORY_BATCH, stride=stride)
    lanes_first = lambda a: np.moveaxis(a, -1, 0)[:b]  # noqa: E731  (E, ..., B) -> (b, E, ...)
    g = lanes_first(rec["g"])
    return History(
        crossbar=np.asarray(idx, np.int64),
        pulses=lanes_first(rec["n"]).astype(np.int32),
        conductances=g,
        weights=g[..., 0::2] - g[..., 1::2],
        activations=np.tanh(lanes_first(rec["x"])),
        error=lanes_first(rec["error"]),
        converged=final["converged"][:b],
        epoch=final["epoch"][:b].astype(np.int32),
        final_pulses=final["pulses"][:b],
        final_conductances=final["conductances"][:b],
        patterns=np.asarray(model.train_bits, np.int8),
        labels=np.asarray(model.train_labels, np.int8),
        positive_target=prm["positive_target"],
        negative_target=prm["negative_target"],
        epoch_numbers=None if stride == 1 else 1 + stride * np.arange(rec["error"].shape[0]),
        total_epochs=None if stride == 1 else model.epochs,
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
    if patterns is None and labels is None:
        patterns, labels = FOUR_BIT.train_patterns, FOUR_BIT.train_labels
    b = np.shape(shifts)[0] if np.ndim(shifts) == 3 else 1
    if b > MAX_HISTORY_BATCH:
        raise ValueError(
            f"shifts: record_history keeps every epoch of every crossbar and takes at most "
            f"{MAX_HISTORY_BATCH} crossbars, got {b}; use `train` or "
            "`run_monte_carlo` for outcomes of large batches"
        )
    idx = np.arange(b) if crossbar is None else np.asarray(crossbar, np.int64)
    if idx.shape != (b,):
        raise ValueError(f"crossbar: expected {b} indices, got shape {idx.shape}")
    prm = dict(beta=beta, positive_target=positive_target, negative_target=negative_target,
               k=k, epochs=epochs, v0=v0, v1=v1)  # fmt: skip
    model, curves, src, _ = given_source(shifts, curve, patterns, labels, None, prm, dtype, 0,
                                   pad_to=MAX_HISTORY_BATCH)  # fmt: skip
    return _record(model, curves, src, b, idx, check_train_params(**prm))


def record_run_history(seed: int, crossbars, *, max_epochs: int | None = None, **kwargs) -> History:
    """`record_history` of chosen crossbars of a `run_monte_carlo` study.

    Crossbar i gets the shifts, stuck devices and noise that `run_monte_carlo(seed, ...)` drew
    for it, so its history ends in the outcome the study recorded. Activations are the (noisy)
    reads the epoch trained on. Keywords are `run_monte_carlo`'s; `crossbars` lists 1 to
    `MAX_HISTORY_BATCH` indices to inspect.

    `max_epochs` bounds the memory for long trainings: epochs 1, 1 + s, 1 + 2s, ... with
    s = ceil(epochs / max_epochs) are recorded (``History.epoch_numbers``), the others run on
    the device unrecorded, so outcomes and final states stay exact; None keeps every epoch.
    """
    from crossbar_jax.montecarlo import check_shift_map, keywords

    kw = keywords(kwargs, "record_run_history")
    dt = resolve_dtype(kw["dtype"])
    prm = check_train_params(**{key: kw[key] for key in TRAIN_KEYS})
    lo, hi, df = check_shift_params(**{key: kw[key] for key in ("low", "high", "division_factor")})
    dataset, nonideal, distribution = kw["dataset"], kw["nonideal"], kw["distribution"]
    idx = np.atleast_1d(np.asarray(crossbars, np.int64))
    if idx.ndim != 1 or idx.size == 0 or np.any(idx < 0) or idx.size > MAX_HISTORY_BATCH:
        raise ValueError(
            f"crossbars: expected 1 to {MAX_HISTORY_BATCH} non-negative indices, got {crossbars!r}"
        )
    g = validate_curve(kw["curve"])
    ni = None if nonideal is None else check_nonideal(nonideal, g.size)
    shape = (dataset.rows, dataset.cols)
    smap = check_shift_map(kw["shift_map"], distribution, shape)
    model = make_model(
        epochs=prm["epochs"], dtype=dt, dataset=dataset._replace(
            test_patterns=dataset.train_patterns[:0], test_labels=dataset.train_labels[:0]),
        length=g.size, distribution=distribution, nonideal=ni, v0=prm["v0"], v1=prm["v1"],
    )  # fmt: skip
    point = {**{k_: prm[k_] for k_ in prm if k_ != "epochs"}, "low": lo, "high": hi,
             "division_factor": df}  # fmt: skip
    if ni is not None:
        point.update(ni.magnitudes())
    padded = np.concatenate([idx, np.full(MAX_HISTORY_BATCH - idx.size, idx[-1])])
    src = Source(
        seed=np.uint32(check_seed(seed)),
        per_point=np.uint32(MAX_HISTORY_BATCH),
        table=make_point(dt, **{k_: np.asarray([v]) for k_, v in point.items()}),
        shift_map=jnp.asarray(smap if smap is not None else np.zeros(shape), dt),
        shifts=None,
        first=np.uint32(0),
        unit=jnp.ones((), dt),
        indices=jnp.asarray(padded, jnp.uint32),
        pool_lengths=pool_lengths(ni),
    )
    curves = make_curves(
        g, dt, None if ni is None else ni.depression_curve, None if ni is None else ni.curve_pool
    )
    curves = make_curves(g, dt, None if ni is None else ni.depression_curve)
    check_run_args(
        seed=seed, n_crossbars=1, curve=g, dataset=dataset, beta=prm["beta"],
        positive_target=prm["positive_target"], negative_target=prm["negative_target"],
        k=prm["k"], epochs=prm["epochs"], v0=prm["v0"], v1=prm["v1"], low=lo, high=hi,
        division_factor=df, dtype=dt, distribution=distribution, shift_map=smap, nonideal=ni,
    )  # fmt: skip
    stride = 1
    if max_epochs is not None:
        stride = -(-prm["epochs"] // check_positive_int(max_epochs, "max_epochs"))
    return _record(model, curves, src, idx.size, idx, prm, stride)


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


def record_summary_history(
    summary: dict, crossbars=None, *, converged=None, curve=None, shift_map=None, max_epochs=None
) -> History:
    """`record_run_history` of crossbars of a study job, from its summary.json.

    Reads the parameter point from ``summary["params"]`` as the app writes it (``device.k``,
    ``device.shift.*``, the non-idealities, ``training.*``, ``dataset.train``, ``mc.seed``,
    ``mc.precision``), so the replay makes the draws the job made and ends in the outcome it
    recorded.

    Args:
        summary: the job's summary.json as a dict.
        crossbars: crossbar indices to inspect; default `pick_crossbars(converged)`.
        converged: (N,) per-crossbar flags (results.parquet), needed when `crossbars` is None.
        curve: the conductance curve; default loaded from ``params["device"]["curve"]``.
        shift_map: the measured shift map; default loaded from ``device.shift.map``.
    """
    from crossbar_jax.curve import load_curve
    from crossbar_jax.datasets import make_dataset
    from crossbar_jax.nonideal import check_sha, nonideal_from_params

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
    distribution = sh.get("distribution", REFERENCE_DISTRIBUTION)
    if distribution == "measured" and shift_map is None:
        from crossbar_jax.variation import load_shift_map

        shift_map = load_shift_map(sh["map"])
        check_sha(shift_map, sh.get("map_sha256"), sh["map"])
    nonideal = nonideal_from_params(p)
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
            nonideal=None if nonideal.is_ideal else nonideal,
            distribution=distribution,
            shift_map=shift_map,
            max_epochs=max_epochs,
        )


record_job_history = record_summary_history  # the name the app used for either model

# Records per crossbar in the app's figures: a curve of 1000 points per panel is as much as a
# figure shows, and 1000 records of a 10x6 crossbar take well under a megabyte.
MAX_RECORDED_EPOCHS = 1000


def record_job_history_bounded(
    summary: dict, crossbars, *, curve=None, shift_map=None, max_epochs=MAX_RECORDED_EPOCHS
) -> History:
    """`record_summary_history` in bounded memory: every epoch up to `max_epochs` epochs,
    every s-th beyond, so the figures of a 10^6-epoch study cost what a 1000-epoch one does."""
    return record_summary_history(
        summary, crossbars, curve=curve, shift_map=shift_map, max_epochs=max_epochs
    )


def record_sampled_history(seed: int, crossbars, *, max_epochs=MAX_RECORDED_EPOCHS, **kwargs):
    """`record_run_history` keeping at most `max_epochs` epochs per crossbar."""
    return record_run_history(seed, crossbars, max_epochs=max_epochs, **kwargs)


record_nonideal_history = record_run_history  # the former name for runs with non-idealities
