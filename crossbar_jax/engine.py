"""Training crossbars with given shifts: `train` and `train_nonideal`, on the one runner.

Both take the device-to-device shifts as an array (the reference's "custom shifts") and return
full per-crossbar results; the Monte Carlo runners (`crossbar_jax.montecarlo`) draw the shifts
themselves. All of them run on `crossbar_jax.runner.run`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from crossbar_jax import runner
from crossbar_jax.curve import validate_curve
from crossbar_jax.datasets import Dataset, validate_dataset
from crossbar_jax.model import make_curves, make_model, make_point, pool_lengths
from crossbar_jax.nonideal import NonIdeal, check_nonideal
from crossbar_jax.runner import DEFAULT_CHUNK, Source
from crossbar_jax.validation import (
    check_positive_int,
    check_seed,
    check_train_args,
    check_train_params,
    resolve_dtype,
)

__all__ = ["TrainResult", "NonIdealTrainResult", "train", "train_nonideal", "DEFAULT_CHUNK"]


class TrainResult(NamedTuple):
    """Outcome of training B crossbars (NumPy arrays)."""

    converged: np.ndarray  # (B,) bool
    epoch: np.ndarray  # (B,) int32, 1-based epoch of convergence; `epochs` when not converged
    pulses: np.ndarray  # (B, rows, cols) int32, final pulse count of every device
    errors: np.ndarray  # (B, epochs) float, error of each epoch with an update, NaN afterwards
    conductances: np.ndarray  # (B, rows, cols) float, final conductances, siemens
    final_error: np.ndarray  # (B,) float, error of the last epoch evaluated (0 if converged)


class NonIdealTrainResult(NamedTuple):
    """Outcome of `train_nonideal` for B crossbars (NumPy arrays)."""

    converged: np.ndarray  # (B,) bool
    epoch: np.ndarray  # (B,) int32, epoch of convergence; `epochs` when not converged
    pulses: np.ndarray  # (B, rows, cols) int32, final state index of every device
    noise: np.ndarray  # (B, rows, cols) float, siemens, accumulated cycle-to-cycle noise
    depressed: np.ndarray  # (B, rows, cols) bool, device on its depression branch
    stuck: np.ndarray  # (B, rows, cols) bool, stuck devices
    conductances: np.ndarray  # (B, rows, cols) float, siemens, final conductances
    final_error: np.ndarray  # (B,) float, error of the last epoch evaluated (0 if converged)


def check_shifts(shifts, rows: int, cols: int) -> np.ndarray:
    """Shifts as a float (B, rows, cols) array; one (rows, cols) crossbar is accepted too."""
    s = np.asarray(shifts)
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float64)
    if s.ndim == 2:
        s = s[None]
    if s.ndim != 3 or s.shape[1:] != (rows, cols) or s.shape[0] < 1:
        raise ValueError(
            f"shifts: expected shape (batch, {rows}, {cols}) for {rows} rows and {cols // 2} "
            f"neurons (2 columns each), got {np.shape(shifts)}"
        )
    if not np.all(np.isfinite(s)):
        raise ValueError("shifts: must be finite (siemens)")
    return s


def given_source(shifts, curve, patterns, labels, nonideal, prm_kw, dtype, seed, pad_to=None):
    """Validate, then (model, curves, source, batch) for crossbars with given shifts.

    `pad_to`: repeat the last crossbar up to this many (one executable for any batch).
    """
    dt = resolve_dtype(dtype)
    prm = check_train_params(**prm_kw)
    g = validate_curve(curve)
    x, y = validate_dataset(patterns, labels, key="training set")
    ni = None if nonideal is None else check_nonideal(nonideal, g.size)
    s = check_shifts(shifts, x.shape[1], 2 * y.shape[1])
    check_train_args(
        s, curve=g, patterns=x, labels=y, beta=prm["beta"], k=prm["k"], epochs=prm["epochs"],
        v0=prm["v0"], v1=prm["v1"], dtype=dt, nonideal=ni, seed=seed,
    )  # fmt: skip
    b = s.shape[0]
    if pad_to is not None and b < pad_to:
        s = np.concatenate([s, np.repeat(s[-1:], pad_to - b, axis=0)])
    data = Dataset(x, y, x[:0], y[:0], "given")
    model = make_model(epochs=prm["epochs"], dtype=dt, dataset=data, length=g.size, nonideal=ni,
                       v0=prm["v0"], v1=prm["v1"])  # fmt: skip
    point = {k: prm[k] for k in ("beta", "positive_target", "negative_target", "k", "v0", "v1")}
    if ni is not None:
        point.update(ni.magnitudes())
    table = make_point(dt, **{k: np.asarray([v]) for k, v in point.items()})
    src = Source(
        seed=np.uint32(seed),
        per_point=np.uint32(s.shape[0]),
        table=table,
        shift_map=jnp.zeros(s.shape[1:], dt),
        shifts=s,  # host NumPy: the runner converts each chunk's slice to `dt`
        first=np.uint32(0),
        unit=jnp.ones((), dt),
        pool_lengths=pool_lengths(ni),
    )
    curves = make_curves(
        g, dt, None if ni is None else ni.depression_curve, None if ni is None else ni.curve_pool
    )
    return model, curves, src, b


def train(
    shifts,
    *,
    curve,
    patterns,
    labels,
    beta,
    positive_target,
    negative_target,
    k,
    epochs: int = 50,
    dtype="float32",
    v0: float = -0.1,
    v1: float = 0.1,
    chunk_size: int | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train a batch of crossbars in situ with the Manhattan rule (ALGORITHM.md).

    Args:
        shifts: (B, rows, cols) device-to-device shifts in siemens, used as given (a single
            (rows, cols) crossbar is accepted too). cols = 2 * neurons: column 2m is G+ and 2m+1
            is G- of neuron m.
        curve: (L,) measured conductance after 0..L-1 pulses, siemens (see `load_curve`).
        patterns: (P, rows) training inputs in {0, 1}; labels: (P, neurons) in {0, 1}.
        beta: activation gain, 1/ampere. positive_target, negative_target: t+ and t- in (-1, 1).
        k: multiplication factor of the conductances.
        epochs: E, the most epochs to run.
        dtype: "float32", or "float64" (needs JAX's 64-bit mode).
        v0, v1: row voltages for bits 0 and 1, volts.
        chunk_size: crossbars per compiled call (None: on a CPU the largest power of two
            whose error history fits 32 MB, 131,072 for 50 float32 epochs; 2^21 on a GPU);
            larger batches run in chunks of this size, spread over all local devices.
        progress: show a progress bar of trained crossbars.

    Returns:
        `TrainResult` of NumPy arrays.
    """
    if chunk_size is not None:
        chunk_size = check_positive_int(chunk_size, "chunk_size")
    prm = dict(beta=beta, positive_target=positive_target, negative_target=negative_target, k=k,
               epochs=epochs, v0=v0, v1=v1)  # fmt: skip
    model, curves, src, b = given_source(shifts, curve, patterns, labels, None, prm, dtype, 0)
    out, _, _ = runner.run(
        model, curves, src, b, chunk_size=chunk_size, progress=progress, history=True, full=True
    )
    return TrainResult(**{name: out[name] for name in TrainResult._fields})


def train_nonideal(
    shifts, *, nonideal: NonIdeal | None = None, seed: int = 0, **kwargs
) -> NonIdealTrainResult:
    """Train crossbars with given shifts and the non-idealities; full final device states.

    Crossbar b (0-based position in `shifts`) draws its stuck devices and noise as crossbar b
    of a Monte Carlo run with that seed does.

    Args:
        shifts: (B, rows, cols) siemens (or one (rows, cols) crossbar).
        Keywords as `crossbar_jax.train`; `nonideal` as `crossbar_jax.run_monte_carlo`.
    """
    import inspect

    sig = inspect.signature(train).parameters
    unknown = sorted(set(kwargs) - set(sig) - {"shifts"})
    if unknown:
        raise TypeError(f"train_nonideal: unknown keyword(s) {unknown}; allowed: {list(sig)[1:]}")
    kw = {n: p.default for n, p in sig.items() if p.default is not p.empty}
    kw.update(kwargs)
    missing = [n for n, p in sig.items() if p.default is p.empty and n != "shifts" and n not in kw]
    if missing:
        raise TypeError(f"train_nonideal: missing keyword argument(s) {missing}")
    prm = {n: kw[n] for n in ("beta", "positive_target", "negative_target", "k", "epochs", "v0",
                              "v1")}  # fmt: skip
    ni = NonIdeal() if nonideal is None else nonideal
    model, curves, src, b = given_source(
        shifts, kw["curve"], kw["patterns"], kw["labels"], ni, prm, kw["dtype"], check_seed(seed)
    )
    out, _, _ = runner.run(model, curves, src, b, full=True)
    shape = out["pulses"].shape
    return NonIdealTrainResult(
        converged=out["converged"],
        epoch=out["epoch"],
        pulses=out["pulses"],
        noise=out.get("eta", np.zeros(shape, out["conductances"].dtype)),
        depressed=out.get("depressed", np.zeros(shape, bool)),
        stuck=out.get("stuck", np.zeros(shape, bool)),
        conductances=out["conductances"],
        final_error=out["final_error"],
    )
