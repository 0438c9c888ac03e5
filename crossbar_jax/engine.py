"""The batch runner: many independent crossbars trained in parallel with the Manhattan rule.

One epoch of one crossbar (ALGORITHM.md): read every training pattern with the current
conductances; if every neuron meets its target on every pattern the crossbar has converged and
stops; otherwise the epoch's error is recorded and each device gets at most one pulse, in the sign
of the batch gradient. A `lax.while_loop` runs the epochs and stops as soon as every crossbar of
a chunk has converged. Crossbars that converged are frozen, so a crossbar's outcome never depends
on the others in its batch.

Layout, for speed on CPUs and GPUs alike: the crossbars sit on the last axis ("lanes") of every
array, (rows, cols, B), and every step is elementwise across lanes, so the compiler vectorises
over crossbars and a crossbar's floats are the same whatever the batch. Per epoch, XLA runs one
fused loop per neuron that reads the conductances and writes one number per crossbar, the
neuron's *update code* (convergence bit and the sign of each synapse's update), and one short
loop that applies the pulses. Chunks are sharded over all local JAX devices
(`crossbar_jax.batching`).
"""

from __future__ import annotations

from functools import cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from crossbar_jax.batching import batch_mesh, chunk_layout, pipeline, shard_batch
from crossbar_jax.device import curve_offsets, lookup_conductance
from crossbar_jax.forward import activations, chain_sum, neuron_logic_currents, pattern_voltages
from crossbar_jax.manhattan import residual_misses, residual_success, residuals, update_signs
from crossbar_jax.validation import (
    check_positive_int,
    check_train_args,
    check_train_params,
    resolve_dtype,
)

__all__ = ["TrainParams", "CrossbarState", "TrainResult", "train", "train_chunk", "ERRORS_MODES"]

DEFAULT_CHUNK = 65536
ERRORS_MODES = ("all", "last")


class TrainParams(NamedTuple):
    """Physical parameters, traced so that a sweep over them does not recompile.

    beta, the targets and k are scalars, or one value per crossbar (B,) (a parameter grid run
    as one batch); v0 and v1 are scalars.
    """

    beta: jax.Array  # () or (B,) float, 1/ampere: tanh(beta * I)
    positive_target: jax.Array  # () or (B,) float, t+ in (-1, 1)
    negative_target: jax.Array  # () or (B,) float, t- in (-1, t+)
    k: jax.Array  # () or (B,) float, dimensionless multiplication factor of the conductances
    v0: jax.Array  # () float, volts for input bit 0
    v1: jax.Array  # () float, volts for input bit 1


class CrossbarState(NamedTuple):
    """What the epoch loop carries for a batch of B crossbars (batch on the last axis)."""

    pulses: jax.Array  # (rows, cols, B) unsigned (`pulse_count_dtype`), pulse count of each device
    done: jax.Array  # (B,) bool, converged at some epoch so far
    epoch: jax.Array  # (B,) int32, the epoch (1-based) at which it converged; 0 while not
    last_error: jax.Array  # (B,) float, error of the last epoch evaluated (0 once converged)
    errors: jax.Array  # (epochs, B) float, error of each epoch whose update was applied, else NaN


class TrainResult(NamedTuple):
    """Outcome of training B crossbars (NumPy arrays)."""

    converged: np.ndarray  # (B,) bool
    epoch: np.ndarray  # (B,) int32, 1-based epoch of convergence; `epochs` when not converged
    pulses: np.ndarray  # (B, rows, cols) int32, final pulse count of every device
    errors: np.ndarray  # (B, epochs) float, error of each epoch with an update, NaN afterwards
    conductances: np.ndarray  # (B, rows, cols) float, final conductances, siemens
    final_error: np.ndarray  # (B,) float, error of the last epoch evaluated (0 if converged)


def pulse_count_dtype(length: int):
    """The narrowest unsigned type for pulse counts 0..L-1 that also holds L-1 + 1.

    uint8 for curves of up to 255 points: the update loop reads and writes a quarter of the
    bytes of int32 counts (5-7% faster overall on CPU).
    """
    return jnp.uint8 if length <= 255 else jnp.uint16 if length <= 65535 else jnp.uint32


def _rows_per_code(dtype) -> int:
    """Rows whose two update bits fit one code word (with the convergence bit).

    The code is built in the working float type, exact for integers below 2^(mantissa+1), and
    decoded as int32; 11 rows for float32, 15 for float64.
    """
    return min(np.finfo(dtype).nmant // 2, 15)


def _lanes(g):
    """(rows, cols, B) -> nested lists [r][c] of (B,) lanes."""
    return [[g[r, c] for c in range(g.shape[1])] for r in range(g.shape[0])]


def _neuron_residuals(lanes, voltages, labels, p: TrainParams, m: int):
    """Neuron m's beta*I and residuals T - f, lists over patterns of (B,) lanes."""
    rows = len(lanes)
    currents = neuron_logic_currents(
        voltages, [lanes[r][2 * m] for r in range(rows)], [lanes[r][2 * m + 1] for r in range(rows)]
    )
    xs, ds = [], []
    for q, i in enumerate(currents):
        f, x = activations(i, p.beta)
        xs.append(x)
        # Everything downstream reads T - f, never f: each tanh then has one consumer (see
        # `residual_success`), which keeps it inside the neuron's fused loop.
        ds.append(residuals(f, labels[q, m], p.positive_target, p.negative_target))
    return xs, ds


def _update_codes(g, voltages, labels, p: TrainParams, unit):
    """Each neuron's update code for this epoch: a list (neurons) of lists (row blocks) of (B,).

    Bit 0 is set when the neuron meets its target on every pattern; bits 2r+1 and 2r+2 (r
    counted within the block) when synapse (r, m) is to be potentiated (pulse G+) or depressed
    (pulse G-). Each code is divided by `unit`, a runtime 1.0: the division is exact, but XLA
    counts it as expensive, so it computes the neuron's whole epoch (currents, tanh, sech^2,
    gradient signs) once per crossbar in one fused loop, instead of re-inlining it into every
    consumer of the code.
    """
    rows, cols = g.shape[:2]
    block = _rows_per_code(g.dtype)
    lanes = _lanes(g)
    codes = []
    for m in range(cols // 2):
        xs, ds = _neuron_residuals(lanes, voltages, labels, p, m)
        conv = residual_success(ds[0], labels[0, m])
        for q in range(1, len(ds)):
            conv = conv & residual_success(ds[q], labels[q, m])
        signs = update_signs(voltages, ds, xs)
        blocks = []
        for r0 in range(0, rows, block):
            code = jnp.where(conv, 1.0, 0.0).astype(g.dtype)
            for r in range(r0, min(r0 + block, rows)):
                bit = 2 * (r - r0) + 1
                code = code + jnp.where(
                    signs[r] > 0, 2.0**bit, jnp.where(signs[r] < 0, 2.0 ** (bit + 1), 0.0)
                )
            blocks.append(code / unit)
        codes.append(blocks)
    return codes


def _epoch_error(g, voltages, labels, p: TrainParams, unit):
    """The epoch error of every crossbar (B,), summed over patterns then neurons as
    `epoch_error` does."""
    lanes = _lanes(g)
    # With the error history on, XLA shares each tanh between this and the update codes by
    # materialising it (12 small loops); measured faster than recomputing them here.
    per_neuron = [
        _neuron_residuals(lanes, voltages, labels, p, m)[1] for m in range(g.shape[1] // 2)
    ]
    misses = []
    for q in range(voltages.shape[0]):
        for m, ds in enumerate(per_neuron):
            ok = residual_success(ds[q], labels[q, m])
            misses.append(residual_misses(ds[q], labels[q, m], ok))
    return chain_sum(misses) / unit


def _pulse_steps(codes, rows: int, cols: int, dtype):
    """Decode the update codes: (converged (B,) bool, steps (rows, cols, B) int32 in {0, 1})."""
    block = _rows_per_code(dtype)
    ints = [[c.astype(jnp.int32) for c in blocks] for blocks in codes]
    conv = (ints[0][0] & 1) == 1
    for blocks in ints[1:]:
        conv = conv & ((blocks[0] & 1) == 1)
    # word[r, c]: the code holding device (r, c)'s bit; shift[r, c]: where the bit sits.
    by_block = jnp.stack(
        [jnp.stack([ints[c // 2][b] for c in range(cols)]) for b in range(len(codes[0]))]
    )  # (blocks, cols, B)
    word = by_block[np.arange(rows) // block] if len(codes[0]) > 1 else by_block
    shift = np.array(
        [[2 * (r % block) + 1 + c % 2 for c in range(cols)] for r in range(rows)], np.int32
    )[:, :, None]
    return conv, (word >> shift) & 1


def train_chunk(
    shifts,
    offsets,
    patterns,
    labels,
    params: TrainParams,
    *,
    epochs: int,
    errors: str = "all",
    unit=None,
) -> CrossbarState:
    """Train a batch of crossbars (pure, traceable; compose inside a jitted runner).

    Args:
        shifts: (rows, cols, B) device shifts, siemens (crossbars on the last axis).
        offsets: (L,) curve minus its first point, siemens.
        patterns: (P, rows) int8 training inputs in {0, 1}; labels: (P, M) int8 in {0, 1}.
        params: traced physical parameters, scalars or one per crossbar.
        epochs: E, static.
        errors: "all" keeps the (E, B) error history; "last" computes only the error of the
            last epoch (for `last_error`) and leaves a (0, B) history.
        unit: a traced 1.0 of the shifts' dtype (see `_update_codes`). A constant works too, but
            lets XLA fuse the epoch into many loops that recompute it.
    Returns:
        The final `CrossbarState`; `epoch` is still 0 for crossbars that did not converge.
    """
    if errors not in ERRORS_MODES:
        raise ValueError(f"errors={errors!r}: expected one of {list(ERRORS_MODES)}")
    dtype = shifts.dtype
    rows, cols, batch = shifts.shape
    length = offsets.shape[0]
    unit = jnp.ones((), dtype) if unit is None else unit
    count_dtype = pulse_count_dtype(length)
    voltages = pattern_voltages(patterns, params.v0, params.v1).astype(dtype)
    labels = labels == 1  # booleans once, not a comparison per pattern and neuron in the loop

    def error_of(g):
        return _epoch_error(g, voltages, labels, params, unit)

    def body(carry):
        e, s = carry
        # Conductances once per epoch, materialised (the lookup is a gather, best done apart).
        g = lookup_conductance(s.pulses, offsets, shifts, params.k) / unit
        codes = _update_codes(g, voltages, labels, params, unit)
        conv, steps = _pulse_steps(codes, rows, cols, dtype)
        active = ~s.done
        newly = conv & active
        update = active & ~conv
        step = (steps * update.astype(jnp.int32)).astype(count_dtype)
        pulses = jnp.minimum(s.pulses + step, length - 1)
        if errors == "all":
            err = error_of(g)
            last_error = jnp.where(active, err, s.last_error)
            history = jax.lax.dynamic_update_index_in_dim(
                s.errors, jnp.where(update, err, jnp.nan), e, 0
            )
        else:  # only the last epoch's error is reported
            err = jax.lax.cond(e == epochs - 1, error_of, lambda g: jnp.zeros((batch,), dtype), g)
            last_error = jnp.where(active & (e == epochs - 1), err, s.last_error)
            history = s.errors
        return e + 1, CrossbarState(
            pulses=pulses,
            done=s.done | conv,
            epoch=jnp.where(newly, e + 1, s.epoch),
            last_error=jnp.where(newly, jnp.zeros_like(last_error), last_error),
            errors=history,
        )

    def cond(carry):
        e, s = carry
        return (e < epochs) & ~jnp.all(s.done)

    init = CrossbarState(
        pulses=jnp.zeros(shifts.shape, count_dtype),
        done=jnp.zeros((batch,), bool),
        epoch=jnp.zeros((batch,), jnp.int32),
        last_error=jnp.full((batch,), jnp.nan, dtype),
        errors=jnp.full((epochs if errors == "all" else 0, batch), jnp.nan, dtype),
    )
    _, state = jax.lax.while_loop(cond, body, (jnp.int32(0), init))
    return state


def _train_shard(shifts, offsets, patterns, labels, params, unit, *, epochs):
    """One device's share: batch-first (b, rows, cols) shifts in, batch-first outcomes out."""
    s = jnp.moveaxis(shifts, 0, -1)
    state = train_chunk(s, offsets, patterns, labels, params, epochs=epochs, unit=unit)
    g = lookup_conductance(state.pulses, offsets, s, params.k)
    epoch = jnp.where(state.done, state.epoch, epochs)
    return (
        state.done,
        epoch,
        jnp.moveaxis(state.pulses, -1, 0).astype(jnp.int32),
        state.errors.T,
        jnp.moveaxis(g, -1, 0),
        state.last_error,
    )


@cache
def _train_executable(mesh: Mesh, epochs: int):
    fn = shard_batch(partial(_train_shard, epochs=epochs), mesh, 1, 5)
    return jax.jit(fn)


def make_params(dtype, *, beta, positive_target, negative_target, k, v0=-0.1, v1=0.1):
    """`TrainParams` of the given dtype from Python numbers (no validation)."""
    return TrainParams(
        *(jnp.asarray(v, dtype) for v in (beta, positive_target, negative_target, k, v0, v1))
    )


def _check_shifts(shifts, rows: int, cols: int) -> np.ndarray:
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
    chunk_size: int = DEFAULT_CHUNK,
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
        chunk_size: crossbars per compiled call; larger batches run in chunks of this size,
            each split over all local devices.
        progress: show a progress bar over chunks.

    Returns:
        `TrainResult` of NumPy arrays.
    """
    from crossbar_jax.curve import validate_curve
    from crossbar_jax.datasets import validate_dataset

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
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    g = validate_curve(curve)
    x, y = validate_dataset(patterns, labels, key="training set")
    rows, cols = x.shape[1], 2 * y.shape[1]
    s = _check_shifts(shifts, rows, cols)
    check_train_args(
        s, curve=g, patterns=x, labels=y, beta=prm["beta"], k=prm["k"], epochs=prm["epochs"],
        v0=prm["v0"], v1=prm["v1"], dtype=dt,
    )  # fmt: skip

    params = make_params(
        dt,
        **{k_: prm[k_] for k_ in ("beta", "positive_target", "negative_target", "k", "v0", "v1")},
    )
    mesh = batch_mesh()
    fn = _train_executable(mesh, prm["epochs"])
    sharding = NamedSharding(mesh, P("batch"))
    consts = (curve_offsets(g, dt), jnp.asarray(x), jnp.asarray(y), params, jnp.ones((), dt))
    b = s.shape[0]
    size, n_chunks = chunk_layout(b, chunk_size, mesh.size)
    out = TrainResult(
        converged=np.empty(b, bool),
        epoch=np.empty(b, np.int32),
        pulses=np.empty((b, rows, cols), np.int32),
        errors=np.empty((b, prm["epochs"]), dt),
        conductances=np.empty((b, rows, cols), dt),
        final_error=np.empty(b, dt),
    )
    for start, res in pipeline(
        range(n_chunks),
        progress,
        lambda c: fn(jax.device_put(_padded(s, c * size, size, dt), sharding), *consts),
    ):
        for field, value in zip(out, res, strict=True):
            part = value[: b - start * size]
            field[start * size : start * size + len(part)] = part
    return out


def _padded(s: np.ndarray, start: int, size: int, dt) -> np.ndarray:
    """Rows start..start+size of `s` as `dt`, zero-padded (padding lanes train and are dropped)."""
    chunk = np.asarray(s[start : start + size], dt)
    if chunk.shape[0] < size:
        pad = np.full((size - chunk.shape[0],) + s.shape[1:], 1e-8, dt)
        chunk = np.concatenate([chunk, pad])
    return chunk
