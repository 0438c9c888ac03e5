"""The general engine: Manhattan training with device non-idealities, one crossbar at a time.

The fast engine (`crossbar_jax.engine`, `crossbar_jax.montecarlo`) is a bit-packed,
lane-major path for the reference model only. This engine is the plain version: the physics of
one crossbar per epoch (`epoch_step`) is written with the library's per-crossbar kernels
(`crossbar_jax.device`, `crossbar_jax.forward`, `crossbar_jax.manhattan`) plus the
non-idealities of `crossbar_jax.nonideal`, `vmap`-ed over crossbars, inside one
`lax.while_loop` over epochs that stops once every crossbar of a chunk has converged. It is
used only when a non-ideality or another shift distribution is asked for.

With every non-ideality off and the reference's shift distribution it reproduces
`run_monte_carlo` crossbar for crossbar (converged, epoch, final error, test accuracy; tested):
the general path is the same physics plus the effects.

Conventions are the fast engine's: crossbar i of seed s uses ``fold_in(key(s), i)`` (see
`crossbar_jax.nonideal` for the streams derived from it), converged crossbars freeze, and a
crossbar that never converges reports epoch E after E updates.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from crossbar_jax.batching import training_bar
from crossbar_jax.curve import validate_curve
from crossbar_jax.datasets import FOUR_BIT, Dataset, validate_dataset
from crossbar_jax.device import curve_offsets
from crossbar_jax.engine import DEFAULT_CHUNK, TrainParams, make_params
from crossbar_jax.forward import pattern_voltages
from crossbar_jax.history import MAX_HISTORY_BATCH, History
from crossbar_jax.manhattan import epoch_error, manhattan_direction, pattern_success
from crossbar_jax.montecarlo import MAX_SEED, MonteCarloResult, _check_seed
from crossbar_jax.nonideal import (
    DeviceState,
    NoiseParams,
    NonIdeal,
    Switches,
    apply_update,
    check_nonideal,
    depression_offsets,
    device_conductances,
    draw_stuck,
    initial_devices,
    noisy_accuracy,
    noisy_forward,
    stream_keys,
)
from crossbar_jax.validation import (
    check_positive_int,
    check_shift_params,
    check_train_params,
    resolve_dtype,
)
from crossbar_jax.variation import (
    DISTRIBUTIONS,
    REFERENCE_DISTRIBUTION,
    crossbar_keys,
    sample_shift,
    shift_lanes,
)

log = logging.getLogger(__name__)

__all__ = [
    "Context",
    "CrossbarDevices",
    "TrainState",
    "EpochInfo",
    "NonIdealTrainResult",
    "epoch_step",
    "run_monte_carlo_nonideal",
    "train_nonideal",
    "record_nonideal_history",
    "record_job_history",
    "nonideal_from_params",
    "needs_general_engine",
    "compile_count",
]


class Context(NamedTuple):
    """What every crossbar of a run shares (traced)."""

    offsets: jax.Array  # (L,) float, siemens, potentiation curve minus g[0]
    dep_offsets: jax.Array  # (L,) float, siemens, depression curve minus g[0] (mirror: unused)
    voltages: jax.Array  # (P, rows) float, volts, training patterns
    labels: jax.Array  # (P, M) int8 in {0, 1}, training labels
    params: TrainParams  # beta, targets, k, v0, v1 (scalars)
    noise: NoiseParams  # c2c_std, read_noise, stuck_fraction (scalars)


class CrossbarDevices(NamedTuple):
    """What is fixed for one crossbar during training."""

    shifts: jax.Array  # (rows, cols) float, siemens, device-to-device shifts
    stuck: jax.Array  # (rows, cols) bool, stuck devices
    noise_key: jax.Array  # PRNG key of the training noise; epoch e uses fold_in(noise_key, e)


class TrainState(NamedTuple):
    """One crossbar's state between epochs."""

    devices: DeviceState  # pulse counts, accumulated noise, branch
    done: jax.Array  # () bool, converged at some epoch so far
    epoch: jax.Array  # () int32, 1-based epoch of convergence; 0 while not converged
    last_error: jax.Array  # () float, error of the last epoch evaluated (0 once converged)


class EpochInfo(NamedTuple):
    """What one epoch read (for `record_nonideal_history`)."""

    pulses: jax.Array  # (rows, cols) int32, state indices the epoch is evaluated with
    conductances: jax.Array  # (rows, cols) float, siemens
    activations: jax.Array  # (P, M) float, tanh(beta I) of each training pattern (noisy reads)
    error: jax.Array  # () float, the epoch's error; NaN once frozen


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


def epoch_step(state: TrainState, e, dev: CrossbarDevices, ctx: Context, sw: Switches):
    """One epoch of one crossbar (ALGORITHM.md's epoch loop, plus the non-idealities).

    Read every training pattern (noisy reads if on); if every neuron meets its target the
    crossbar has converged and freezes; otherwise the epoch's error is recorded and each
    synapse gets its Manhattan pulse(s).

    Args:
        state: the crossbar before epoch e.
        e: 0-based epoch index (traced).
    Returns:
        (state after the epoch, `EpochInfo` of what it read).
    """
    p = ctx.params
    length = ctx.offsets.shape[0]
    g = device_conductances(state.devices, dev.shifts, ctx.offsets, ctx.dep_offsets, p.k, sw)
    key = jax.random.fold_in(dev.noise_key, e)
    read_key, c2c_key = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
    f, x = noisy_forward(read_key, ctx.voltages, g, p.beta, ctx.noise.read_noise, sw)
    success = pattern_success(f, ctx.labels, p.positive_target, p.negative_target)
    conv = jnp.all(success)
    err = epoch_error(f, ctx.labels, success, p.positive_target, p.negative_target)
    direction = manhattan_direction(
        f, x, ctx.labels, ctx.voltages, p.positive_target, p.negative_target
    )
    active = ~state.done
    newly = conv & active
    devices = apply_update(
        state.devices,
        direction,
        active & ~conv,
        dev.stuck,
        c2c_key,
        ctx.noise.c2c_std,
        length,
        sw,
    )
    last_error = jnp.where(active, err, state.last_error)
    new = TrainState(
        devices=devices,
        done=state.done | conv,
        epoch=jnp.where(newly, e + 1, state.epoch),
        last_error=jnp.where(newly, jnp.zeros_like(last_error), last_error),
    )
    info = EpochInfo(state.devices.pulses, g, f, jnp.where(state.done, jnp.nan, err))
    return new, info


def _initial(dev: CrossbarDevices, length: int, sw: Switches) -> TrainState:
    dtype = dev.shifts.dtype
    return TrainState(
        devices=initial_devices(dev.stuck, length, sw, dtype),
        done=jnp.zeros((), bool),
        epoch=jnp.zeros((), jnp.int32),
        last_error=jnp.full((), jnp.nan, dtype),
    )


def _crossbar_devices(keys, shifts, fraction, sw: Switches):
    """Per-crossbar fixed devices (batched, leading axis) from the crossbar keys and shifts."""
    stuck_keys, noise_keys, eval_keys = jax.vmap(stream_keys)(keys)
    shape = shifts.shape[1:]
    if sw.stuck:
        stuck = jax.vmap(lambda k: draw_stuck(k, shape, fraction))(stuck_keys)
    else:
        stuck = jnp.zeros(shifts.shape, bool)
    return CrossbarDevices(shifts, stuck, noise_keys), eval_keys


def _train_batch(devs: CrossbarDevices, ctx: Context, *, epochs: int, sw: Switches):
    """Train a batch (leading axis) of crossbars; stops when all have converged."""
    length = ctx.offsets.shape[0]
    step = jax.vmap(partial(epoch_step, ctx=ctx, sw=sw), in_axes=(0, None, 0))

    def cond(carry):
        e, s = carry
        return (e < epochs) & ~jnp.all(s.done)

    def body(carry):
        e, s = carry
        s, _ = step(s, e, devs)
        return e + 1, s

    init = jax.vmap(partial(_initial, length=length, sw=sw))(devs)
    _, state = jax.lax.while_loop(cond, body, (jnp.int32(0), init))
    return state


def _shifts(seed, indices, shape, distribution, low, high, division_factor, shift_map, dtype):
    """(n, rows, cols) shifts of crossbars `indices`; the reference's exactly as the fast engine."""
    n = indices.shape[0]
    if distribution == REFERENCE_DISTRIBUTION:
        full = partial(jnp.full, (n,), dtype=dtype)
        lanes = shift_lanes(
            seed, indices, shape, full(low), full(high), full(division_factor), dtype
        )
        return jnp.moveaxis(lanes, -1, 0)
    keys = crossbar_keys(seed, indices)
    return jax.vmap(
        lambda k: sample_shift(
            k, shape, distribution, low, high, division_factor, shift_map, dtype=dtype
        )
    )(keys)


def _mc_chunk(
    seed,
    start,
    ctx: Context,
    test_x,
    test_y,
    shift_params,
    shift_map,
    *,
    size: int,
    epochs: int,
    sw: Switches,
    distribution: str,
):
    """Crossbars start .. start+size-1: draw, train, evaluate; per-crossbar outcomes."""
    dtype = ctx.offsets.dtype
    indices = start + jnp.arange(size, dtype=jnp.uint32)
    shape = (ctx.voltages.shape[1], 2 * ctx.labels.shape[1])
    shifts = _shifts(seed, indices, shape, distribution, *shift_params, shift_map, dtype)
    devs, eval_keys = _crossbar_devices(
        crossbar_keys(seed, indices), shifts, ctx.noise.stuck_fraction, sw
    )
    state = _train_batch(devs, ctx, epochs=epochs, sw=sw)
    p = ctx.params
    g = jax.vmap(lambda d, s: device_conductances(d, s, ctx.offsets, ctx.dep_offsets, p.k, sw))(
        state.devices, shifts
    )
    acc = jax.vmap(
        lambda k, gi: noisy_accuracy(
            k, gi, test_x, test_y, p.beta, p.positive_target, p.negative_target, p.v0, p.v1,
            ctx.noise.read_noise, sw,
        )
    )(eval_keys, g)  # fmt: skip
    epoch = jnp.where(state.done, state.epoch, epochs)
    return state.done, epoch, state.last_error, acc


_COMPILED: dict = {}


def _compiled(args, **static):
    """The chunk executable for these shapes and switches, compiled once per process."""
    sig = tuple(sorted(static.items())) + tuple(
        (a.shape, str(a.dtype)) for a in jax.tree_util.tree_leaves(args)
    )
    if sig in _COMPILED:
        return _COMPILED[sig], 0.0
    t0 = time.perf_counter()
    exe = jax.jit(partial(_mc_chunk, **static)).lower(*args).compile()
    _COMPILED[sig] = exe
    return exe, time.perf_counter() - t0


def compile_count() -> int:
    """How many general-engine executables this process has compiled."""
    return len(_COMPILED)


def _context(curve, nonideal: NonIdeal, x, y, prm: dict, dt) -> Context:
    dep = (
        depression_offsets(nonideal.depression_curve, curve, dt)
        if nonideal.depression_curve is not None
        else curve_offsets(curve, dt)[::-1]
    )
    params = make_params(
        dt, **{k: prm[k] for k in ("beta", "positive_target", "negative_target", "k", "v0", "v1")}
    )
    noise = NoiseParams(
        *(jnp.asarray(v, dt) for v in (nonideal.c2c_std, nonideal.read_noise,
                                        nonideal.stuck_fraction))
    )  # fmt: skip
    voltages = pattern_voltages(jnp.asarray(x), params.v0, params.v1).astype(dt)
    return Context(curve_offsets(curve, dt), dep, voltages, jnp.asarray(y), params, noise)


def _check_shift_map(shift_map, distribution, shape):
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


def run_monte_carlo_nonideal(
    seed: int,
    n_crossbars: int,
    *,
    curve,
    dataset: Dataset = FOUR_BIT,
    nonideal: NonIdeal | None = None,
    distribution: str = REFERENCE_DISTRIBUTION,
    shift_map=None,
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
    """`run_monte_carlo` with device non-idealities and any shift distribution.

    Crossbar i draws its shifts (distribution `distribution`: see
    `crossbar_jax.variation.DISTRIBUTIONS`), its stuck devices and its noise from
    ``fold_in(key(seed), i)``, trains for at most `epochs` epochs and is evaluated on the
    dataset's held-out patterns (noisy reads when read noise is on). With `nonideal` None or
    ideal and the reference distribution, the outcomes equal `run_monte_carlo`'s exactly.
    beta, the targets, k, the shift parameters and the non-idealities' numbers are traced: a
    second call with other values but the same shapes and switches does not recompile.

    Returns:
        `MonteCarloResult`; crossbar i's outcome is independent of `chunk_size`.
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
    lo, hi, df = check_shift_params(low=low, high=high, division_factor=division_factor)
    n = check_positive_int(n_crossbars, "n_crossbars")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    seed = _check_seed(seed)
    if n > MAX_SEED:
        raise ValueError(f"n_crossbars={n}: at most {MAX_SEED} crossbars per seed")
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution={distribution!r}: expected one of {list(DISTRIBUTIONS)}")
    g = validate_curve(curve)
    ni = check_nonideal(nonideal, g.size)
    shape = (dataset.rows, dataset.cols)
    smap = _check_shift_map(shift_map, distribution, shape)

    n_chunks = -(-n // chunk_size)
    size = -(-n // n_chunks)
    ctx = _context(g, ni, dataset.train_patterns, dataset.train_labels, prm, dt)
    args = [
        jnp.uint32(seed),
        jnp.uint32(0),
        ctx,
        jnp.asarray(dataset.test_patterns),
        jnp.asarray(dataset.test_labels),
        tuple(jnp.asarray(v, dt) for v in (lo, hi, df)),
        jnp.asarray(smap if smap is not None else np.zeros(shape), dt),
    ]
    fn, compile_s = _compiled(
        args, size=size, epochs=prm["epochs"], sw=ni.switches(), distribution=distribution
    )
    out = (np.empty(n, bool), np.empty(n, np.int32), np.empty(n, dt), np.empty(n, np.float32))
    log.info(
        "compiled in %.2f s; training %d crossbars in %d call(s) of %d",
        compile_s,
        n,
        n_chunks,
        size,
    )
    bar = training_bar(progress, n)  # counts finished crossbars, with rate and ETA
    t0 = time.perf_counter()
    for c in range(n_chunks):
        args[1] = jnp.uint32(c * size)
        res = fn(*args)
        for field, value in zip(out, res, strict=True):
            part = np.asarray(value)[: n - c * size]
            field[c * size : c * size + len(part)] = part
        if bar is not None:
            bar.update(min(size, n - c * size))
    if bar is not None:
        bar.close()
    return MonteCarloResult(
        np.arange(n, dtype=np.int64), *out, compile_s=compile_s, train_s=time.perf_counter() - t0
    )


@partial(jax.jit, static_argnames=("epochs", "sw"))
def _train_jit(keys, shifts, ctx: Context, *, epochs: int, sw: Switches):
    devs, _ = _crossbar_devices(keys, shifts, ctx.noise.stuck_fraction, sw)
    state = _train_batch(devs, ctx, epochs=epochs, sw=sw)
    p = ctx.params
    g = jax.vmap(lambda d, s: device_conductances(d, s, ctx.offsets, ctx.dep_offsets, p.k, sw))(
        state.devices, shifts
    )
    return state, devs.stuck, g


def _common(curve, patterns, labels, nonideal, prm_kw, dtype):
    dt = resolve_dtype(dtype)
    prm = check_train_params(**prm_kw)
    g = validate_curve(curve)
    x, y = validate_dataset(patterns, labels, key="training set")
    ni = check_nonideal(nonideal, g.size)
    return dt, prm, g, x, y, ni


def train_nonideal(
    shifts,
    *,
    curve,
    patterns,
    labels,
    beta,
    positive_target,
    negative_target,
    k,
    nonideal: NonIdeal | None = None,
    seed: int = 0,
    epochs: int = 50,
    v0: float = -0.1,
    v1: float = 0.1,
    dtype="float32",
) -> NonIdealTrainResult:
    """Train crossbars with given shifts and the non-idealities; full final device states.

    Crossbar b (0-based position in `shifts`) draws its stuck devices and noise from
    ``fold_in(key(seed), b)``, as crossbar b of a Monte Carlo run with that seed does. One
    compiled call (no chunking): meant for inspection and tests, not for millions.

    Args:
        shifts: (B, rows, cols) siemens (or one (rows, cols) crossbar).
        Others as `crossbar_jax.train`; `nonideal` as `run_monte_carlo_nonideal`.
    """
    dt, prm, g, x, y, ni = _common(
        curve, patterns, labels, nonideal,
        dict(beta=beta, positive_target=positive_target, negative_target=negative_target, k=k,
             epochs=epochs, v0=v0, v1=v1),
        dtype,
    )  # fmt: skip
    s = np.asarray(shifts, np.float64)
    s = s[None] if s.ndim == 2 else s
    rows, cols = x.shape[1], 2 * y.shape[1]
    if s.ndim != 3 or s.shape[1:] != (rows, cols) or s.shape[0] < 1:
        raise ValueError(f"shifts: expected shape (batch, {rows}, {cols}), got {np.shape(shifts)}")
    ctx = _context(g, ni, x, y, prm, dt)
    keys = crossbar_keys(int(seed), np.arange(s.shape[0], dtype=np.uint32))
    state, stuck, cond = _train_jit(
        keys, jnp.asarray(s, dt), ctx, epochs=prm["epochs"], sw=ni.switches()
    )
    done = np.asarray(state.done)
    return NonIdealTrainResult(
        converged=done,
        epoch=np.where(done, np.asarray(state.epoch), prm["epochs"]).astype(np.int32),
        pulses=np.asarray(state.devices.pulses),
        noise=np.asarray(state.devices.noise),
        depressed=np.asarray(state.devices.depressed),
        stuck=np.asarray(stuck),
        conductances=np.asarray(cond),
        final_error=np.asarray(state.last_error),
    )


@partial(jax.jit, static_argnames=("epochs", "sw"))
def _history_jit(keys, shifts, ctx: Context, *, epochs: int, sw: Switches):
    devs, _ = _crossbar_devices(keys, shifts, ctx.noise.stuck_fraction, sw)
    length = ctx.offsets.shape[0]

    def one(dev):
        def scan_step(state, e):
            return epoch_step(state, e, dev, ctx, sw)

        init = _initial(dev, length, sw)
        state, rec = jax.lax.scan(scan_step, init, jnp.arange(epochs, dtype=jnp.int32))
        g = device_conductances(
            state.devices, dev.shifts, ctx.offsets, ctx.dep_offsets, ctx.params.k, sw
        )
        return rec, state, g

    return jax.vmap(one)(devs)


def record_nonideal_history(
    seed: int,
    crossbars,
    *,
    curve,
    dataset: Dataset = FOUR_BIT,
    nonideal: NonIdeal | None = None,
    distribution: str = REFERENCE_DISTRIBUTION,
    shift_map=None,
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
    """Per-epoch `History` of chosen crossbars of a `run_monte_carlo_nonideal` study.

    Crossbar i gets the shifts, stuck devices and noise that the study drew for it, so its
    history ends in the outcome the study recorded. Activations are the (noisy) reads the
    epoch trained on. Arguments are `run_monte_carlo_nonideal`'s; at most
    `crossbar_jax.history.MAX_HISTORY_BATCH` crossbars.
    """
    dt, prm, g, x, y, ni = _common(
        curve, dataset.train_patterns, dataset.train_labels, nonideal,
        dict(beta=beta, positive_target=positive_target, negative_target=negative_target, k=k,
             epochs=epochs, v0=v0, v1=v1),
        dtype,
    )  # fmt: skip
    lo, hi, df = check_shift_params(low=low, high=high, division_factor=division_factor)
    idx = np.atleast_1d(np.asarray(crossbars, np.int64))
    if idx.ndim != 1 or idx.size == 0 or np.any(idx < 0) or idx.size > MAX_HISTORY_BATCH:
        raise ValueError(
            f"crossbars: expected 1 to {MAX_HISTORY_BATCH} non-negative indices, got {crossbars!r}"
        )
    shape = (dataset.rows, dataset.cols)
    smap = _check_shift_map(shift_map, distribution, shape)
    ctx = _context(g, ni, x, y, prm, dt)
    indices = jnp.asarray(idx, jnp.uint32)
    shifts = _shifts(
        jnp.uint32(seed), indices, shape, distribution, *(jnp.asarray(v, dt) for v in (lo, hi, df)),
        jnp.asarray(smap if smap is not None else np.zeros(shape), dt), dt,
    )  # fmt: skip
    rec, state, final_g = _history_jit(
        crossbar_keys(int(seed), idx.astype(np.uint32)),
        shifts,
        ctx,
        epochs=prm["epochs"],
        sw=ni.switches(),
    )
    rec, state, final_g = jax.tree_util.tree_map(np.asarray, (rec, state, final_g))
    done = state.done
    return History(
        crossbar=idx,
        pulses=rec.pulses,
        conductances=rec.conductances,
        weights=rec.conductances[..., 0::2] - rec.conductances[..., 1::2],
        activations=rec.activations,
        error=rec.error,
        converged=done,
        epoch=np.where(done, state.epoch, prm["epochs"]).astype(np.int32),
        final_pulses=state.devices.pulses,
        final_conductances=final_g,
        patterns=x,
        labels=y,
        positive_target=prm["positive_target"],
        negative_target=prm["negative_target"],
    )


def nonideal_from_params(params: dict, *, load_files: bool = True) -> NonIdeal:
    """The `NonIdeal` of a study job from its summary.json ``params``.

    Keys at their defaults are absent from params (the app writes only those that are on).
    With `load_files` the depression curve is read from its file and checked against the
    SHA-256 the job recorded; without, a placeholder marks that one was given.
    """
    dev, tr = params.get("device", {}), params.get("training", {})
    stuck = dev.get("stuck") or {}
    depression = None
    if dev.get("depression_curve"):
        depression = np.ones(1)
        if load_files:
            from crossbar_jax.curve import load_curve

            depression = load_curve(dev["depression_curve"])
            _check_sha(depression, dev.get("depression_curve_sha256"), dev["depression_curve"])
    return NonIdeal(
        c2c_std=float(dev.get("c2c_std", 0.0)),
        read_noise=float(dev.get("read_noise", 0.0)),
        stuck_fraction=float(stuck.get("fraction", 0.0)),
        stuck_level=str(stuck.get("level", "low")),
        update=str(tr.get("update", "potentiate")),
        depression_curve=depression,
    )


def _check_sha(values, expected, path) -> None:
    import hashlib

    if expected is None:
        return
    got = hashlib.sha256(np.ascontiguousarray(values, np.float64).tobytes()).hexdigest()
    if got != expected:
        raise ValueError(f"{path}: its content changed since the job ran (SHA-256 differs)")


def needs_general_engine(params: dict) -> bool:
    """Whether a job's params call for the general engine (a non-ideality, another shift
    distribution) rather than the fast reference engine."""
    dist = params.get("device", {}).get("shift", {}).get("distribution", REFERENCE_DISTRIBUTION)
    return (
        dist != REFERENCE_DISTRIBUTION
        or not nonideal_from_params(params, load_files=False).is_ideal
    )


def record_job_history(
    summary: dict, crossbars=None, *, converged=None, curve=None, shift_map=None
) -> History:
    """Per-epoch `History` of crossbars of a study job, from its summary.json.

    A job of the reference model is replayed by `crossbar_jax.history.record_summary_history`
    (the fast engine's kernels); a job with non-idealities or another shift distribution by
    `record_nonideal_history`, with the same draws the job made, so either ends in the
    outcome the job recorded.

    Args:
        summary: the job's summary.json as a dict.
        crossbars: crossbar indices; default the first converged and the first failed one
            (`converged` needed then).
        converged: (N,) per-crossbar flags (results.parquet).
        curve: the conductance curve; default loaded from ``params["device"]["curve"]``.
        shift_map: the measured shift map; default loaded from ``device.shift.map``.
    """
    from crossbar_jax.curve import load_curve
    from crossbar_jax.datasets import make_dataset
    from crossbar_jax.history import pick_crossbars, record_summary_history

    p = summary["params"]
    if not needs_general_engine(p):
        return record_summary_history(summary, crossbars, converged=converged, curve=curve)
    dev, tr, mc, sh = p["device"], p["training"], p["mc"], p["device"]["shift"]
    if crossbars is None:
        if converged is None:
            raise ValueError("record_job_history: give `crossbars` or `converged`")
        crossbars = pick_crossbars(converged)
    if curve is None:
        curve = load_curve(dev["curve"])
    ds = p["dataset"]
    dataset = make_dataset(
        ds["train"]["patterns"], ds["train"]["labels"], ds["test"]["patterns"] or None,
        ds["test"]["labels"] or None, name=ds.get("name", "dataset"),
    )  # fmt: skip
    if sh.get("distribution") == "measured" and shift_map is None:
        from crossbar_jax.variation import load_shift_map

        shift_map = load_shift_map(sh["map"])
        _check_sha(shift_map, sh.get("map_sha256"), sh["map"])
    precision = mc.get("precision", "float32")
    with jax.enable_x64(precision == "float64"):
        return record_nonideal_history(
            int(mc["seed"]),
            crossbars,
            curve=curve,
            dataset=dataset,
            nonideal=nonideal_from_params(p),
            distribution=sh.get("distribution", REFERENCE_DISTRIBUTION),
            shift_map=shift_map,
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
