"""Monte Carlo over device-to-device variation: many seeded crossbars at one parameter point.

Crossbar i of a study with seed s draws its shifts from ``fold_in(key(s), i)`` inside the
compiled call, trains, and is evaluated on the held-out patterns. Only per-crossbar outcomes
leave the device, so 10^7 crossbars run in bounded memory, chunk by chunk; crossbar i's outcome
is the same whatever the chunk size.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from crossbar_jax.curve import validate_curve
from crossbar_jax.datasets import FOUR_BIT, Dataset
from crossbar_jax.device import curve_offsets, lookup_conductance
from crossbar_jax.engine import DEFAULT_CHUNK, TrainParams, make_params, train_chunk
from crossbar_jax.evaluate import predict, test_accuracy
from crossbar_jax.validation import (
    check_positive_int,
    check_shift_params,
    check_train_params,
    resolve_dtype,
)
from crossbar_jax.variation import crossbar_keys, lognormal_minmax

__all__ = ["ShiftParams", "MonteCarloResult", "run_monte_carlo", "MAX_SEED"]

MAX_SEED = 2**32 - 1


class ShiftParams(NamedTuple):
    """Lognormal min-max shift range, traced."""

    low: jax.Array  # () float, siemens, smallest shift of each crossbar
    high: jax.Array  # () float, siemens, largest shift of each crossbar
    division_factor: jax.Array  # () float, sigma = |ln(high/low)| / division_factor


class MonteCarloResult(NamedTuple):
    """Per-crossbar outcomes of a Monte Carlo run (NumPy arrays) and its timing."""

    crossbar: np.ndarray  # (N,) int64, crossbar index i (its key is fold_in(key(seed), i))
    converged: np.ndarray  # (N,) bool
    epoch: np.ndarray  # (N,) int32, epoch of convergence; `epochs` when not converged
    final_error: np.ndarray  # (N,) float, error of the last epoch evaluated (0 if converged)
    test_accuracy: np.ndarray  # (N,) float32, fraction of held-out patterns classified right
    compile_s: float  # seconds spent compiling (0 when the executable was cached)
    train_s: float  # seconds spent running the chunks, compilation excluded


def _mc_chunk(seed, start, offsets, train_x, train_y, test_x, test_y, params: TrainParams,
              shift: ShiftParams, *, chunk: int, epochs: int):
    rows, cols = train_x.shape[1], 2 * train_y.shape[1]
    dtype = offsets.dtype
    keys = crossbar_keys(seed, start + jnp.arange(chunk, dtype=jnp.uint32))
    shifts = jax.vmap(
        lambda key: lognormal_minmax(key, (rows, cols), shift.low, shift.high,
                                     shift.division_factor, dtype)
    )(keys)
    state = train_chunk(shifts, offsets, train_x, train_y, params, epochs=epochs,
                        record_errors=False)
    g = lookup_conductance(state.pulses, offsets, shifts, params.k)
    pred = jax.vmap(predict, in_axes=(0, None, None, None, None, None, None))(
        g, test_x, params.beta, params.positive_target, params.negative_target, params.v0,
        params.v1)
    acc = test_accuracy(pred, test_y)
    epoch = jnp.where(state.done, state.epoch, epochs)
    return state.done, epoch, state.last_error, acc


_COMPILED: dict = {}


def _compiled(args, *, chunk: int, epochs: int):
    """The executable for these shapes, compiled once per process; (fn, seconds spent compiling)."""
    sig = (chunk, epochs) + tuple(
        (a.shape, str(a.dtype)) for a in jax.tree_util.tree_leaves(args)
    )
    if sig in _COMPILED:
        return _COMPILED[sig], 0.0
    t0 = time.perf_counter()
    fn = jax.jit(_mc_chunk, static_argnames=("chunk", "epochs")).lower(
        *args, chunk=chunk, epochs=epochs).compile()
    _COMPILED[sig] = fn
    return fn, time.perf_counter() - t0


def compile_count() -> int:
    """How many Monte Carlo executables this process has compiled (for no-recompile checks)."""
    return len(_COMPILED)


def run_monte_carlo(seed: int, n_crossbars: int, *, curve, dataset: Dataset = FOUR_BIT,
                    beta=6e6, positive_target=0.8, negative_target=-0.8, k=10.0, epochs=50,
                    v0=-0.1, v1=0.1, low=1e-8, high=1e-7, division_factor=5.0,
                    dtype="float32", chunk_size: int = DEFAULT_CHUNK,
                    progress: bool = False) -> MonteCarloResult:
    """Train `n_crossbars` independently seeded crossbars at one parameter point.

    Each crossbar i draws lognormal min-max shifts (``low``..``high`` siemens) from
    ``fold_in(key(seed), i)``, is trained for at most `epochs` epochs, and is evaluated on the
    dataset's held-out patterns with its trained conductances. Defaults are ALGORITHM.md's.

    Returns:
        `MonteCarloResult`; crossbar i's outcome is independent of `chunk_size`.
    """
    dt = resolve_dtype(dtype)
    prm = check_train_params(beta=beta, positive_target=positive_target,
                             negative_target=negative_target, k=k, epochs=epochs, v0=v0, v1=v1)
    lo, hi, df = check_shift_params(low=low, high=high, division_factor=division_factor)
    n = check_positive_int(n_crossbars, "n_crossbars")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (
            0 <= seed <= MAX_SEED):
        raise ValueError(f"seed={seed!r}: expected an integer in [0, {MAX_SEED}]")
    if n > MAX_SEED:
        raise ValueError(f"n_crossbars={n}: at most {MAX_SEED} crossbars per seed")
    g = validate_curve(curve)

    chunk = min(chunk_size, n)
    params = make_params(dt, **{k_: prm[k_] for k_ in ("beta", "positive_target",
                                                       "negative_target", "k", "v0", "v1")})
    shift = ShiftParams(*(jnp.asarray(v, dt) for v in (lo, hi, df)))
    args = [jnp.uint32(seed), jnp.uint32(0), curve_offsets(g, dt),
            jnp.asarray(dataset.train_patterns), jnp.asarray(dataset.train_labels),
            jnp.asarray(dataset.test_patterns), jnp.asarray(dataset.test_labels), params, shift]
    fn, compile_s = _compiled(args, chunk=chunk, epochs=prm["epochs"])

    n_chunks = -(-n // chunk)
    it = range(n_chunks)
    if progress and n_chunks > 1:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=f"{n} crossbars", unit="chunk")
    t0 = time.perf_counter()
    outs = []
    for c in it:
        args[1] = jnp.uint32(c * chunk)
        outs.append(fn(*args))
    outs = [np.concatenate([np.asarray(o[i]) for o in outs])[:n] for i in range(4)]
    train_s = time.perf_counter() - t0
    return MonteCarloResult(np.arange(n, dtype=np.int64), *outs, compile_s=compile_s,
                            train_s=train_s)
