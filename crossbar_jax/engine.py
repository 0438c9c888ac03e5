"""The batch runner: many independent crossbars trained in parallel with the Manhattan rule.

One epoch of one crossbar (ALGORITHM.md): read every training pattern with the current
conductances; if every neuron meets its target on every pattern the crossbar has converged and
stops; otherwise the epoch's error is recorded and each device gets at most one pulse, in the sign
of the batch gradient. `vmap` runs the crossbars side by side; a `lax.while_loop` runs the epochs
and stops as soon as every crossbar of a chunk has converged. Crossbars that converged are frozen,
so a crossbar's outcome never depends on the others in its batch.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from crossbar_jax.device import apply_pulses, curve_offsets, lookup_conductance
from crossbar_jax.forward import forward, pattern_voltages
from crossbar_jax.manhattan import epoch_error, manhattan_direction, pattern_success
from crossbar_jax.validation import check_positive_int, check_train_params, resolve_dtype

__all__ = ["TrainParams", "CrossbarState", "TrainResult", "train", "train_chunk"]

DEFAULT_CHUNK = 65536


class TrainParams(NamedTuple):
    """Physical parameters, traced so that a sweep over them does not recompile."""

    beta: jax.Array  # () float, 1/ampere: tanh(beta * I)
    positive_target: jax.Array  # () float, t+ in (-1, 1)
    negative_target: jax.Array  # () float, t- in (-1, t+)
    k: jax.Array  # () float, dimensionless multiplication factor of the conductances
    v0: jax.Array  # () float, volts for input bit 0
    v1: jax.Array  # () float, volts for input bit 1


class CrossbarState(NamedTuple):
    """What the epoch loop carries for a batch of B crossbars."""

    pulses: jax.Array  # (B, rows, cols) int32, each device's pulse count (index into the curve)
    done: jax.Array  # (B,) bool, converged at some epoch so far
    epoch: jax.Array  # (B,) int32, the epoch (1-based) at which it converged; 0 while not
    last_error: jax.Array  # (B,) float, error of the last epoch evaluated (0 once converged)
    errors: jax.Array  # (B, epochs) float, error of each epoch whose update was applied, else NaN


class TrainResult(NamedTuple):
    """Outcome of training B crossbars (NumPy arrays)."""

    converged: np.ndarray  # (B,) bool
    epoch: np.ndarray  # (B,) int32, 1-based epoch of convergence; `epochs` when not converged
    pulses: np.ndarray  # (B, rows, cols) int32, final pulse count of every device
    errors: np.ndarray  # (B, epochs) float, error of each epoch with an update, NaN afterwards
    conductances: np.ndarray  # (B, rows, cols) float, final conductances, siemens
    final_error: np.ndarray  # (B,) float, error of the last epoch evaluated (0 if converged)


def _crossbar_epoch(pulses, shifts, offsets, voltages, labels, p: TrainParams):
    """Evaluate one crossbar: (converged, error, synapse directions (rows, M))."""
    g = lookup_conductance(pulses, offsets, shifts, p.k)
    f, x = forward(voltages, g, p.beta)
    success = pattern_success(f, labels, p.positive_target, p.negative_target)
    err = epoch_error(f, labels, success, p.positive_target, p.negative_target)
    direction = manhattan_direction(f, x, labels, voltages, p.positive_target, p.negative_target)
    return jnp.all(success), err, direction


def train_chunk(shifts, offsets, patterns, labels, params: TrainParams, *, epochs: int,
                record_errors: bool = True) -> CrossbarState:
    """Train a batch of crossbars (pure, traceable; compose inside a jitted runner).

    Args:
        shifts: (B, rows, cols) device shifts, siemens.
        offsets: (L,) curve minus its first point, siemens.
        patterns: (P, rows) int8 training inputs in {0, 1}; labels: (P, M) int8 in {0, 1}.
        params: traced physical parameters.
        epochs: E, static.
        record_errors: keep the (B, E) error history; off, it is a (B, 0) array.
    Returns:
        The final `CrossbarState`; `epoch` is still 0 for crossbars that did not converge.
    """
    dtype = shifts.dtype
    length = offsets.shape[0]
    batch = shifts.shape[0]
    voltages = pattern_voltages(patterns, params.v0, params.v1).astype(dtype)
    step = jax.vmap(_crossbar_epoch, in_axes=(0, 0, None, None, None, None))

    def body(carry):
        e, s = carry
        conv, err, direction = step(s.pulses, shifts, offsets, voltages, labels, params)
        newly = conv & ~s.done
        done = s.done | conv
        active = ~done
        to_plus = (direction > 0) & active[:, None, None]
        to_minus = (direction < 0) & active[:, None, None]
        pulses = jax.vmap(apply_pulses, in_axes=(0, 0, 0, None))(s.pulses, to_plus, to_minus,
                                                                 length)
        errors = s.errors
        if record_errors:
            errors = errors.at[:, e].set(jnp.where(active, err, jnp.nan))
        return e + 1, CrossbarState(
            pulses=pulses,
            done=done,
            epoch=jnp.where(newly, e + 1, s.epoch),
            last_error=jnp.where(s.done, s.last_error, err),
            errors=errors,
        )

    def cond(carry):
        e, s = carry
        return (e < epochs) & ~jnp.all(s.done)

    init = CrossbarState(
        pulses=jnp.zeros(shifts.shape, jnp.int32),
        done=jnp.zeros((batch,), bool),
        epoch=jnp.zeros((batch,), jnp.int32),
        last_error=jnp.full((batch,), jnp.nan, dtype),
        errors=jnp.full((batch, epochs if record_errors else 0), jnp.nan, dtype),
    )
    _, state = jax.lax.while_loop(cond, body, (jnp.int32(0), init))
    return state


@partial(jax.jit, static_argnames=("epochs",))
def _train_jit(shifts, offsets, patterns, labels, params, epochs):
    state = train_chunk(shifts, offsets, patterns, labels, params, epochs=epochs)
    conductances = lookup_conductance(state.pulses, offsets, shifts, params.k)
    epoch = jnp.where(state.done, state.epoch, epochs)
    return state.done, epoch, state.pulses, state.errors, conductances, state.last_error


def make_params(dtype, *, beta, positive_target, negative_target, k, v0=-0.1, v1=0.1):
    """`TrainParams` of the given dtype from Python numbers (no validation)."""
    return TrainParams(*(jnp.asarray(v, dtype) for v in (beta, positive_target, negative_target,
                                                         k, v0, v1)))


def _check_shifts(shifts, rows: int, cols: int) -> np.ndarray:
    s = np.asarray(shifts, dtype=np.float64)
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


def train(shifts, *, curve, patterns, labels, beta, positive_target, negative_target, k,
          epochs: int = 50, dtype="float32", v0: float = -0.1, v1: float = 0.1,
          chunk_size: int = DEFAULT_CHUNK, progress: bool = False) -> TrainResult:
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
        chunk_size: crossbars per compiled call; larger batches run in chunks of this size.
        progress: show a progress bar over chunks.

    Returns:
        `TrainResult` of NumPy arrays.
    """
    from crossbar_jax.curve import validate_curve
    from crossbar_jax.datasets import validate_dataset

    dt = resolve_dtype(dtype)
    prm = check_train_params(beta=beta, positive_target=positive_target,
                             negative_target=negative_target, k=k, epochs=epochs, v0=v0, v1=v1)
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    g = validate_curve(curve)
    x, y = validate_dataset(patterns, labels, key="training set")
    rows, cols = x.shape[1], 2 * y.shape[1]
    s = _check_shifts(shifts, rows, cols)

    params = make_params(dt, **{k_: prm[k_] for k_ in ("beta", "positive_target",
                                                       "negative_target", "k", "v0", "v1")})
    offsets = curve_offsets(g, dt)
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    outs = [
        _train_jit(jnp.asarray(chunk, dt), offsets, xj, yj, params, prm["epochs"])
        for chunk in _chunks(s, chunk_size, progress)
    ]
    b = s.shape[0]
    fields = [np.concatenate([np.asarray(o[i]) for o in outs])[:b] for i in range(6)]
    return TrainResult(*fields)


def _chunks(s: np.ndarray, chunk_size: int, progress: bool):
    """Split (B, ...) into equal chunks (the last zero-padded) so every call has one shape."""
    b = s.shape[0]
    size = min(chunk_size, b)
    n = -(-b // size)
    it = range(n)
    if progress and n > 1:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="chunks", unit="chunk")
    for i in it:
        chunk = s[i * size : (i + 1) * size]
        if chunk.shape[0] < size:
            chunk = np.concatenate([chunk, np.full((size - chunk.shape[0],) + s.shape[1:], 1e-8)])
        yield chunk
