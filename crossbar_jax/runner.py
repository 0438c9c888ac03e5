"""The one runner: chunks, compile cache, sharding and compaction, for every model.

`run` trains N crossbars (or G points x N) of any `Model`: every chunk of crossbars is drawn
on the device (`Source`), trained in stages of epochs, and evaluated; only per-crossbar
outcomes leave the device. `train`, `run_monte_carlo`, `run_grid`, the non-ideal runners and
the history replay are thin wrappers over it.

* **Chunks** have one shape (one executable per stage function) and are split over every local
  JAX device (`crossbar_jax.batching`); each device runs its own epoch loop.
* **Compaction.** Crossbars that converged cost as much as the others in a lane-major kernel,
  so after each stage of epochs the runner counts the crossbars still training (one small
  host read per stage, never per epoch) and, when at most a quarter remain, gathers them into a
  chunk a quarter (or a sixteenth, ...) the size and trains only those. Outcomes do not change:
  every lane is computed independently. Stages and reads have their own cost, so only chunks
  that compaction helps run staged: the first chunk probes (its first stage, then the rest in
  one program unless that stage's read says to compact), each later one follows what the
  previous chunk's outcomes say, and a chunk that is not compacted (a history among them) runs
  as one program.
* **The last epoch is peeled**: it alone computes the error that the outcome reports.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from crossbar_jax import kernel, rng
from crossbar_jax.batching import batch_mesh, chunk_layout, training_bar
from crossbar_jax.device import device_counts
from crossbar_jax.forward import beta_currents
from crossbar_jax.kernel import Fixed, Lanes
from crossbar_jax.model import Curves, Model, Point
from crossbar_jax.variation import REFERENCE_DISTRIBUTION, crossbar_keys, sample_shift, shift_lanes

__all__ = ["Source", "run", "record", "compile_count", "DEFAULT_CHUNK"]

log = logging.getLogger(__name__)

# Chunks of 262,144 crossbars ran faster than 131,072 and 65,536 on the 2-core CPU (10^6
# crossbars at the reference point, benchmarks/engine_choices.py; 524,288 was as fast in one run
# and faster in another, for twice the memory); a GPU wants
# millions of lanes in flight, and convergence checked only every few epochs (each check is a
# device-to-host read). On a CPU the check is a cheap reduction: every epoch.
DEFAULT_CHUNK = 262144
GPU_CHUNK = 1 << 21
# Online training loops over the patterns inside every epoch, one pass over the chunk's state
# per pattern: on the CPU the device-count kernel ran faster in chunks of 32,768 than of
# 262,144 (the state stays in cache), and slower again at 16,384. The pair-state steps
# (`crossbar_jax.online`) have fixed costs per step that larger chunks share, but their state
# falls out of cache too: shuffled, `benchmarks/engine_choices.py` item 6 (10^6 crossbars, three
# runs) gave 1.02-1.09x the rate of chunks of 262,144 at 131,072, 1.02-1.07x at 65,536 and
# 0.94-0.98x at 32,768. A run that fits one default chunk stays one chunk: a second chunk runs
# the whole-chunk program, one more compile of the unrolled steps (+2.2 s for the app's 10^5
# crossbars).
ONLINE_CHUNK = 32768
ONLINE_PAIR_CHUNK = 131072
GPU_CHECK_EVERY = 5
# With an error history, CPU chunks keep the (E, chunk) history of a chunk within 32 MB:
# 131,072 lanes for 50 float32 epochs. `train` at the reference point (10^6 crossbars, right
# after a letters run, as in the benchmark) ran at 1.62M trainings/s in such chunks, against
# 1.36M in chunks of 262,144 and 1.47M in chunks of 65,536 (back to back all three ran at
# 1.52-1.56M). Only 50 float32 epochs were measured; other E follow the byte rule.
HISTORY_CHUNK_BYTES = 32 << 20
# Epoch stages: after epoch 2, 4, 8, 16, 32 the runner may compact the chunk.
STAGE_ENDS = (2, 4, 8, 16, 32)
COMPACT_FACTOR = 4  # compact when at most 1/4 of the lanes still train; shrink by 4 each time
MIN_COMPACT = 2048  # chunks below this many lanes are not compacted further
LANE_QUANTUM = 16


class Source(NamedTuple):
    """Where a chunk's crossbars come from (traced). Lane l is crossbar l % N of point l // N."""

    seed: Any  # () uint32: crossbar i of point j uses fold_in(key(seed), i)
    per_point: Any  # () uint32, N crossbars per point
    table: Point  # (G,) per point
    shift_map: Any  # (rows, cols) float, siemens ("measured" distribution), else zeros
    shifts: Any  # (B_total, rows, cols) given shifts (train; host NumPy, the runner passes each
    #             chunk only its own slice), or None: drawn from the seed
    first: Any  # () uint32, index of the first crossbar (of point 0)
    unit: Any  # () float, a runtime 1.0 (see `crossbar_jax.kernel._codes`)
    indices: Any = None  # (B_total,) uint32 crossbar index of every lane, or None: from lanes
    pool_lengths: Any = None  # (K,) int32 points of each curve of a pool, or None: no pool


def _lane_fixed(src: Source, lane, model: Model, start, given=None) -> Fixed:
    """Fixed per-lane values of the lanes `lane` (global lane indices, uint32); `given`: these
    lanes' given shifts, (lanes, rows, cols), else from `src`."""
    dt = jnp.dtype(model.dtype)
    n_points = src.table.beta.shape[0]
    point = jnp.minimum(lane // src.per_point, n_points - 1)  # padding lanes: the last point
    crossbar = lane - point * src.per_point + src.first
    if src.indices is not None:
        crossbar = src.indices[jnp.minimum(lane, src.indices.shape[0] - 1)]
    pt = Point(*(a if jnp.ndim(a) == 0 else a[point] if a.shape[0] > 1 else a[0]
                 for a in src.table))  # fmt: skip
    shape = (model.rows, model.cols)
    if given is not None:  # (lanes, rows, cols) as given, lanes last here
        shifts = jnp.moveaxis(given, 0, -1).astype(dt)
    elif src.shifts is not None:
        idx = jnp.minimum(lane, src.shifts.shape[0] - 1)  # padding lanes repeat the last
        shifts = jnp.moveaxis(src.shifts[idx], 0, -1).astype(dt)
    elif model.distribution == REFERENCE_DISTRIBUTION:
        full = lambda v: jnp.broadcast_to(v, crossbar.shape)  # noqa: E731
        shifts = shift_lanes(
            src.seed, crossbar, shape, full(pt.low), full(pt.high), full(pt.division_factor), dt
        )
    else:
        keys = crossbar_keys(src.seed, crossbar)
        full = lambda v: jnp.broadcast_to(v, crossbar.shape)  # noqa: E731
        shifts = jax.vmap(
            lambda kk, lo, hi, df: sample_shift(
                kk, shape, model.distribution, lo, hi, df, src.shift_map, dtype=dt
            )
        )(keys, full(pt.low), full(pt.high), full(pt.division_factor))
        shifts = jnp.moveaxis(shifts, 0, -1)
    stuck = None
    if model.stuck:
        keys = crossbar_keys(src.seed, crossbar)
        frac = jnp.broadcast_to(pt.stuck_fraction, crossbar.shape)
        stuck = jax.vmap(lambda kk, f: jax.random.uniform(jax.random.fold_in(kk, 1), shape) < f)(
            keys, frac
        )
        stuck = jnp.moveaxis(stuck, 0, -1)
    word = rng.lane_word(src.seed, crossbar)
    base = top = None
    if model.pool:
        base, top = pool_choice(word, model, src.pool_lengths)
    return kernel.make_fixed(shifts, stuck, word, pt, src.unit, base, top)


def pool_choice(word, model: Model, lengths):
    """Each device's curve of the pool, drawn uniformly from the crossbar's word.

    Returns (c L, L_c - 1) per device, (rows, cols, B): the offset of its curve in the pool's
    tables and its last point (where it saturates). A pure function of the crossbar.
    """
    n_dev = model.rows * model.cols
    u = rng.uniforms(rng.stream_word(word, rng.POOL_STREAM, 0), n_dev, jnp.float32)
    c = jnp.minimum((u * np.float32(model.pool)).astype(jnp.uint32), np.uint32(model.pool - 1))
    c = c.reshape((model.rows, model.cols) + word.shape)
    top = (jnp.asarray(lengths, jnp.int32)[c] - 1).astype(kernel.count_dtype(model.length))
    return c * np.uint32(model.length), top


def _init(src: Source, starts, given=None, *, model: Model, size: int, history: bool = False):
    """One device's `size` lanes, from its first lane index `starts[0]` (global, uint32), with
    their given shifts `given` ((size, rows, cols), or None: from `src`): (fixed values,
    untrained lanes, an (E, size) NaN error history or None)."""
    lane = starts[0] + jnp.arange(size, dtype=jnp.uint32)
    fixed = _lane_fixed(src, lane, model, starts[0], given)
    hist = jnp.full((model.epochs, size), jnp.nan, fixed.shifts.dtype) if history else None
    return fixed, kernel.init_lanes(fixed, model), hist


def _stage(lanes: Lanes, fixed: Fixed, curves: Curves, e0, e1, history, *, model: Model,
           check_every: int = 1):  # fmt: skip
    """Epochs e0 .. e1-1; stops early once every lane has converged.

    With a `history` ((E, B) float) every epoch's error is computed and recorded where an
    update was applied (NaN elsewhere); without, no error is computed at all. `check_every`
    epochs run between two convergence checks (a check is a device-to-host read on a GPU);
    epochs past e1 in the last block change nothing.
    """

    def cond(carry):
        return (carry[0] < e1) & ~jnp.all(carry[1].done)

    if check_every > 1 and history is None:

        def block(carry):
            e, s, rec = carry
            for j in range(check_every):
                s, _ = kernel.epoch(s, fixed, curves, model, e + j, with_error=False,
                                    live=e + j < e1)  # fmt: skip
            return e + check_every, s, rec

        _, lanes, history = lax.while_loop(cond, block, (e0, lanes, history))
        return lanes, history

    def body(carry):
        e, s, rec = carry
        s2, err = kernel.epoch(s, fixed, curves, model, e, with_error=rec is not None)
        if rec is not None:
            row = jnp.where(~s2.done, err, jnp.nan).astype(rec.dtype)
            rec = lax.dynamic_update_index_in_dim(rec, row, e, 0)
        return e + 1, s2, rec

    _, lanes, history = lax.while_loop(cond, body, (e0, lanes, history))
    return lanes, history


def _final(lanes: Lanes, fixed: Fixed, curves: Curves, history, *, model: Model):
    """The peeled last epoch: the update, and the error that the outcome reports."""
    e = model.epochs - 1
    new, err = kernel.epoch(lanes, fixed, curves, model, jnp.int32(e), with_error=True)
    if history is not None:
        row = jnp.where(~new.done, err, jnp.nan).astype(history.dtype)
        history = lax.dynamic_update_index_in_dim(history, row, e, 0)
    return new, history


def _outcome(lanes: Lanes, fixed: Fixed, curves: Curves, *, model: Model, full: bool):
    epoch = jnp.where(lanes.done, lanes.count + 1, model.epochs).astype(jnp.int32)
    error = jnp.where(lanes.done, jnp.zeros_like(lanes.error), lanes.error)
    out = {"converged": lanes.done, "epoch": epoch, "final_error": error}
    out["test_accuracy"] = kernel.accuracy(lanes, fixed, curves, model)
    if full:
        g = kernel.conductances(lanes, fixed, curves, model)
        out["pulses"] = device_counts(lanes, model).astype(jnp.int32)
        out["conductances"] = g
        for name, extra in (("eta", lanes.eta), ("depressed", lanes.depressed),
                            ("stuck", fixed.stuck), ("eps", lanes.eps),
                            ("curve_index", None if fixed.base is None
                             else fixed.base // np.uint32(model.length))):  # fmt: skip
            if extra is not None:
                out[name] = extra
    return out  # lanes last; the host moves the crossbar axis first


def _take(a, sel):
    return None if a is None else (a if jnp.ndim(a) == 0 else jnp.take(a, sel, axis=-1))


def _compact(lanes: Lanes, fixed: Fixed, ids, *, size: int):
    """The first `size` lanes still training, in order, with their positions in the chunk's
    share (-1: padding); `ids` None: the lanes are the share itself."""
    keep = ~lanes.done
    ids = jnp.arange(keep.shape[0], dtype=jnp.int32) if ids is None else ids
    (sel,) = jnp.nonzero(keep, size=size, fill_value=0)
    lanes2 = Lanes(*(_take(a, sel) for a in lanes))
    fixed2 = jax.tree_util.tree_map(lambda a: _take(a, sel), fixed)
    valid = jnp.arange(size) < jnp.sum(keep)
    return lanes2, fixed2, jnp.where(valid, jnp.take(ids, sel), -1)


def _scatter(full: Lanes, part: Lanes, ids):
    """Write compacted lanes back to their positions in the chunk (ids -1 are dropped)."""
    pos = jnp.where(ids >= 0, ids, full.done.shape[0])

    def put(a, b):
        if a is None:
            return None
        moved = jnp.moveaxis(a, -1, 0).at[pos].set(jnp.moveaxis(b, -1, 0), mode="drop")
        return jnp.moveaxis(moved, 0, -1)

    return Lanes(*(put(a, b) for a, b in zip(full, part, strict=True)))


def _active(lanes: Lanes):
    """Lanes still training on this device: (1,) per device."""
    return jnp.sum(~lanes.done, dtype=jnp.int32)[None]


def _outcome_first(lanes: Lanes, fixed: Fixed, curves: Curves, *, model: Model, full: bool):
    """`_outcome` with every array crossbars first, transposed on the devices (a strided
    transpose on the host cost `train` more than the copy itself)."""
    out = _outcome(lanes, fixed, curves, model=model, full=full)
    return {k: jnp.moveaxis(v, -1, 0) if v.ndim > 1 else v for k, v in out.items()}


def _chunk(src: Source, starts, given, curves: Curves, *, model: Model, size: int,
           history: bool, full: bool, check_every: int = 1):  # fmt: skip
    """A whole chunk that is not compacted (a history, or ``compact=False``) in one program:
    the draw, every epoch and the outcome. (outcomes crossbars first, history (E, size) or
    None.) In one program XLA writes the history in place: as separate calls, each one copied
    it first."""
    fixed, lanes, hist = _init(src, starts, given, model=model, size=size, history=history)
    return _rest(
        lanes, fixed, curves, jnp.int32(0), hist, model=model, full=full, check_every=check_every
    )


def _rest(lanes: Lanes, fixed: Fixed, curves: Curves, e0, history, *, model: Model, full: bool,
          check_every: int = 1):  # fmt: skip
    """Epochs e0 .. E-1 and the outcome in one program (the tail of `_chunk`, and of a probed
    chunk that will not be compacted): (outcomes crossbars first, history or None)."""
    if model.epochs > 1:
        lanes, history = _stage(lanes, fixed, curves, e0, jnp.int32(model.epochs - 1), history,
                                model=model, check_every=check_every)  # fmt: skip
    lanes, history = _final(lanes, fixed, curves, history, model=model)
    return _outcome_first(lanes, fixed, curves, model=model, full=full), history


def _lanes_out(out):
    return jax.tree_util.tree_map(_lane_spec, out)


def _first_out(out):
    return jax.tree_util.tree_map(_first_spec, out)


def _chunk_out(out):
    return _first_out(out[0]), _lanes_out(out[1])


# name -> (function, positions of its arguments that hold lanes last, positions of those that
# hold crossbars first (split on their first axis), the sharding of its outputs); the other
# arguments are replicated
_FUNCS = {
    "init": (_init, (1,), (2,), _lanes_out),
    "stage": (_stage, (0, 1, 5), (), _lanes_out),
    "final": (_final, (0, 1, 3), (), _lanes_out),
    "outcome": (_outcome_first, (0, 1), (), _first_out),
    "chunk": (_chunk, (1,), (2,), _chunk_out),
    "rest": (_rest, (0, 1, 4), (), _chunk_out),
    "compact": (_compact, (0, 1, 2), (), _lanes_out),
    "scatter": (_scatter, (0, 1, 2), (), _lanes_out),
    "active": (_active, (0,), (), _lanes_out),
}
_COMPILED: dict = {}


def _lane_spec(a):
    """Lanes are the last axis of every array with one; scalars are replicated."""
    return P(*([None] * (jnp.ndim(a) - 1) + ["batch"])) if jnp.ndim(a) else P()


def _first_spec(a):
    """Crossbars are the first axis."""
    return P("batch", *([None] * (jnp.ndim(a) - 1))) if jnp.ndim(a) else P()


def _local(a, n_dev: int, axis: int = -1):
    shape = list(jnp.shape(a))
    if shape:
        shape[axis] //= n_dev
    return jax.ShapeDtypeStruct(tuple(shape), jnp.result_type(a))


def _call(name: str, timer: list, mesh: Mesh, *args, **static):
    """Run runner function `name` on every device of `mesh`, each on its share of the lanes.

    One executable per (static values, shapes, mesh), compiled once for all devices: each
    device runs its own copy (its own epoch loop and early stop) on its share. `timer[0]`
    accumulates the seconds spent compiling, for the `compile_s` the results report; the
    cache also counts executables for the no-recompile tests.
    """
    leaves, tree = jax.tree_util.tree_flatten(args)
    key = (name, tuple(sorted(static.items())), mesh.devices.tobytes(), str(tree),
           tuple((jnp.shape(a), str(jnp.result_type(a))) for a in leaves))  # fmt: skip
    exe = _COMPILED.get(key)
    if exe is None:
        fn, lane_args, first_args, out_sharding = _FUNCS[name]
        body = partial(fn, **static)
        specs = tuple(
            jax.tree_util.tree_map(_lane_spec, a) if i in lane_args
            else jax.tree_util.tree_map(_first_spec, a) if i in first_args else P()
            for i, a in enumerate(args)
        )  # fmt: skip
        local = [
            jax.tree_util.tree_map(partial(_local, n_dev=mesh.size if i in lane_args else 1), a)
            if i not in first_args
            else jax.tree_util.tree_map(partial(_local, n_dev=mesh.size, axis=0), a)
            for i, a in enumerate(args)
        ]
        out_specs = out_sharding(jax.eval_shape(body, *local))
        t0 = time.perf_counter()
        mapped = jax.shard_map(body, mesh=mesh, in_specs=specs, out_specs=out_specs,
                               check_vma=False)  # fmt: skip
        # (Donating the error history to the stage and the peeled epoch, to save their copy
        # of it, made `train` slower: 0.91M against 1.00M trainings/s, 10^6 crossbars.)
        exe = jax.jit(mapped).lower(*args).compile()
        timer[0] += time.perf_counter() - t0
        _COMPILED[key] = exe
    return exe(*args)


def compile_count() -> int:
    """How many runner executables this process has compiled (for no-recompile checks)."""
    return len(_COMPILED)


def _history_chunk(model: Model) -> int:
    """The CPU chunk of a run with an error history: the largest power of two whose history
    fits `HISTORY_CHUNK_BYTES`, between 16,384 and `DEFAULT_CHUNK` lanes."""
    lanes = HISTORY_CHUNK_BYTES // (model.epochs * jnp.dtype(model.dtype).itemsize)
    return int(min(DEFAULT_CHUNK, max(16384, 1 << max(int(lanes).bit_length() - 1, 0))))


def _stage_ends(epochs: int) -> list[int]:
    """Ends of the epoch stages before the peeled last epoch (epoch index E-1)."""
    last = epochs - 1
    return [e for e in STAGE_ENDS if e < last] + ([last] if last > 0 else [])


def _compacted_size(active: int, size: int, quantum: int) -> int:
    new = size
    while active * COMPACT_FACTOR <= new and new // COMPACT_FACTOR >= MIN_COMPACT:
        new //= COMPACT_FACTOR
    return -(-new // quantum) * quantum if new < size else size


def _would_compact(converged, epoch, epochs: int, n_dev: int) -> bool:
    """Whether the staged path would compact a chunk with these outcomes before its last stage:
    after some stage end, the busiest of its `n_dev` shares (one per device, as the staged loop
    judges) has at most 1/COMPACT_FACTOR of its lanes still training (converged at epoch index
    count < end, that is epoch = count + 1 <= end). The last stage end, just before the peeled
    epoch, is left out: compacting for that one epoch does not pay for a staged chunk."""
    shares = np.array_split(np.arange(np.size(converged)), n_dev)
    local = max(len(s) for s in shares)
    for end in _stage_ends(epochs)[:-1]:
        training = ~(converged & (epoch <= end))
        active = max(int(np.count_nonzero(training[s])) for s in shares)
        if _compacted_size(active, local, LANE_QUANTUM) < local:
            return True
    return False


def _train_chunk(
    src, curves, start, size, model, timer, mesh, *, history: bool, compact: bool, full: bool,
    check_every: int = 1, finished=None, plan: str = "staged",
):  # fmt: skip
    """One chunk of `size` lanes split over the devices of `mesh`: outcomes on the devices,
    crossbars first. `finished(n)` is told, after each stage, how many lanes have converged so
    far.

    `plan` (for a chunk that may be compacted): "staged" runs the epochs in stages, reads how
    many lanes still train after each and compacts them; "whole" runs the chunk as one program
    (no stages, no reads); "probe" runs the first stage, and the rest as one program unless
    that stage's read says to compact."""
    n_dev = mesh.size
    local = size // n_dev
    starts = (start + local * np.arange(n_dev)).astype(np.uint32)
    given = None
    if src.shifts is not None:  # only this chunk's given shifts travel, split over the devices
        given = np.asarray(src.shifts[start : start + size], model.dtype)
        if given.shape[0] < size:  # padding lanes repeat the last crossbar
            given = np.concatenate([given, np.repeat(given[-1:], size - given.shape[0], axis=0)])
        src = src._replace(shifts=None)
    if history or not compact or plan == "whole":  # one call for the whole chunk
        out, hist = _call("chunk", timer, mesh, src, starts, given, curves, model=model,
                          size=local, history=history, full=full,
                          check_every=check_every)  # fmt: skip
        if history:
            out["errors"] = hist
        return out
    fixed_all, lanes, hist = _call("init", timer, mesh, src, starts, given, model=model,
                                   size=local)  # fmt: skip
    fixed, ids, whole = fixed_all, None, None
    e = 0
    for end in _stage_ends(model.epochs):
        lanes, hist = _call("stage", timer, mesh, lanes, fixed, curves, np.int32(e),
                            np.int32(end), hist, model=model, check_every=check_every)  # fmt: skip
        e = end
        counts = np.asarray(_call("active", timer, mesh, lanes))
        active = int(np.max(counts))
        current = lanes.done.shape[0] // n_dev
        if finished is not None:
            finished(size - int(np.sum(counts)))
        new = _compacted_size(active, current, LANE_QUANTUM)
        if plan == "probe" and active > 0 and new == current and ids is None:
            return _call("rest", timer, mesh, lanes, fixed, curves, np.int32(e), None,
                         model=model, full=full, check_every=check_every)[0]  # fmt: skip
        if active == 0 or new < current:
            whole = lanes if whole is None else _call("scatter", timer, mesh, whole, lanes, ids)
            if active == 0:
                lanes = None
                break
            lanes, fixed, ids = _call("compact", timer, mesh, lanes, fixed, ids, size=new)
    if lanes is not None:
        lanes, hist = _call("final", timer, mesh, lanes, fixed, curves, hist, model=model)
        whole = lanes if ids is None else _call("scatter", timer, mesh, whole, lanes, ids)
    # on the devices, crossbars first; see `_write`
    return _call("outcome", timer, mesh, whole, fixed_all, curves, model=model, full=full)


def _write(out: dict, res: dict, start: int, n: int, total: int) -> dict:
    """Copy a chunk's outcomes (device arrays, crossbars first; the error history epochs first)
    to the host arrays `out` of all `total` crossbars, for its first `n` lanes from crossbar
    `start`: shard by shard, one contiguous copy per value and device."""
    for name, value in res.items():
        axis = 1 if name == "errors" else 0
        if name not in out:
            shape = list(value.shape)
            shape[axis] = total
            out[name] = np.empty(shape, value.dtype)
        dest = out[name]
        for shard in value.addressable_shards:
            part = shard.index[axis]
            lo = start + (part.start or 0)
            hi = min(start + (value.shape[axis] if part.stop is None else part.stop), start + n)
            if hi <= lo:
                continue  # padding lanes only
            a = np.asarray(shard.data)
            if axis:
                dest[:, lo:hi] = a[:, : hi - lo]
            else:
                dest[lo:hi] = a[: hi - lo]
    return out


def _crossbars_first(a) -> np.ndarray:
    a = np.asarray(a)
    return np.moveaxis(a, -1, 0) if a.ndim > 1 else a


def run(
    model: Model,
    curves: Curves,
    src: Source,
    total: int,
    *,
    chunk_size: int | None = None,
    progress: bool = False,
    history: bool = False,
    full: bool = False,
    compact: bool = True,
    on_progress=None,
):
    """Train and evaluate `total` lanes of `model`.

    Every chunk is split over all local JAX devices (`crossbar_jax.batching.batch_mesh`); each
    device runs its own epoch loop on its share. Crossbar i's outcome does not depend on the
    chunk size or the device count.

    Returns:
        (outcomes: dict of (total, ...) NumPy arrays, seconds compiling, seconds training).
    """
    mesh = batch_mesh()
    gpu = mesh.devices.flat[0].platform != "cpu"
    chunk_size = chunk_size or (
        GPU_CHUNK if gpu else ONLINE_CHUNK if model.online and not model.pair_state
        else _history_chunk(model) if history
        else ONLINE_PAIR_CHUNK if model.online and total > DEFAULT_CHUNK else DEFAULT_CHUNK
    )  # fmt: skip
    check_every = GPU_CHECK_EVERY if gpu else 1
    # Every device gets a multiple of 16 lanes (one AVX-512 vector of float32): a share
    # narrower than a vector compiles to scalar code whose rounding differs by an ulp from the
    # vector loops (measured on the error history, chunks of 1 and 8), and crossbar i must not
    # depend on its chunk.
    quantum = LANE_QUANTUM * mesh.size
    size, n_chunks = chunk_layout(total, chunk_size, 1)
    size = -(-size // quantum) * quantum
    n_chunks = -(-total // size)
    log.info(
        "training %d crossbars: %d chunk(s) of %d over %d device(s); each new shape compiles "
        "first", total, n_chunks, size, mesh.size,
    )  # fmt: skip
    out: dict = {}
    bar = training_bar(progress, total)
    timer = [0.0]
    t0 = time.perf_counter()
    shown = [0]

    def advance(done: int) -> None:
        # The bar counts finished crossbars: converged ones as each stage ends, then the rest
        # of the chunk when its outcomes arrive.
        done = min(done, total)
        if bar is not None and done > shown[0]:
            bar.update(done - shown[0])
        shown[0] = max(shown[0], done)

    def deliver(res, start: int, n: int) -> None:
        _write(out, res, start, n, total)
        advance(start + n)
        if on_progress is not None:
            on_progress(start + n, total)

    def next_plan(start: int, n: int) -> str:
        # Stages, their reads and compaction cost a chunk in which few lanes converge early
        # 28 % of the speed of one program (the reference point, 10^6 crossbars): a chunk runs
        # staged only if the last delivered chunk's outcomes say the stages would have
        # compacted it. The first chunk probes (`_train_chunk`). Outcomes do not depend on the
        # plan: every lane is computed alone.
        sl = slice(start, start + n)
        staged = _would_compact(out["converged"][sl], out["epoch"][sl], model.epochs, mesh.size)
        return "staged" if staged else "whole"

    try:
        pending = None
        plan = "probe"
        for c in range(n_chunks):
            start = c * size
            n = min(size, total - start)
            res = _train_chunk(
                src, curves, start, size, model, timer, mesh, history=history, compact=compact,
                full=full, check_every=check_every, plan=plan,
                finished=lambda k, start=start, n=n: advance(start + min(k, n)),
            )  # fmt: skip
            # Large outcomes (a history, the full device states) of the previous chunk are
            # copied to the host while this one trains (its work is queued on the devices), so
            # the copy no longer idles the cores: `train` 0.80M -> 0.89M trainings/s (10^6
            # crossbars). The small ones of a Monte Carlo run are copied at once (overlapping
            # them measured 2-3 % slower).
            if not (history or full):
                deliver(res, start, n)
                plan = next_plan(start, n)
                continue
            if pending is not None:
                deliver(*pending)
                if not history:  # full outcomes: the plan follows the chunk delivered last
                    plan = next_plan(*pending[1:])
            pending = (res, start, n)
        if pending is not None:
            deliver(*pending)
    finally:
        if bar is not None:
            bar.close()
    if "errors" in out:  # (total, E): a transposed view, the memory order the device wrote
        out["errors"] = out["errors"].T
    return out, timer[0], time.perf_counter() - t0 - timer[0]


def _record(src: Source, curves: Curves, *, model: Model, size: int, stride: int = 1):
    """Every `stride`-th epoch of a few lanes, recorded (the others run unrecorded): what
    `crossbar_jax.history` shows."""
    fixed, lanes, _ = _init(src, jnp.zeros((1,), jnp.uint32), model=model, size=size)

    def step(s, e):
        new, err = kernel.epoch(s, fixed, curves, model, e, with_error=True)
        xs = beta_currents(s, fixed, curves, model, model.train_bits, fixed.word,
                           rng.READ_STREAM, e)  # fmt: skip
        info = dict(
            n=device_counts(s, model),
            g=kernel.conductances(s, fixed, curves, model),
            x=jnp.stack([jnp.stack(row) for row in xs]),
            error=jnp.where(s.done, jnp.nan, err),
        )
        return new, info

    def block(s, b):
        e0 = b * stride
        s, info = step(s, e0)
        if stride > 1:
            end = jnp.minimum(e0 + stride, model.epochs)

            def cond(c):
                return (c[0] < end) & ~jnp.all(c[1].done)

            def body(c):
                return c[0] + 1, kernel.epoch(c[1], fixed, curves, model, c[0], with_error=False)[0]

            s = lax.while_loop(cond, body, (e0 + 1, s))[1]
        return s, info

    n_blocks = -(-model.epochs // stride)
    last, rec = lax.scan(block, lanes, jnp.arange(n_blocks, dtype=jnp.int32))
    final = _outcome(last, fixed, curves, model=model, full=True)
    return rec, final


_FUNCS["record"] = (_record, (), (), _lanes_out)


def record(model: Model, curves: Curves, src: Source, total: int, stride: int = 1):
    """Per-epoch records of `total` lanes (a few): (records, final outcome), NumPy arrays.

    records: n (E, rows, cols, B), g (E, rows, cols, B) siemens, x (E, P, M, B) = beta I of
    each training pattern as the epoch read it, error (E, B) (NaN once converged before).
    """
    timer = [0.0]
    one = Mesh(np.array(jax.local_devices()[:1]), ("batch",))
    rec, final = _call("record", timer, one, src, curves, model=model, size=total, stride=stride)
    return {k: np.asarray(v) for k, v in rec.items()}, {
        k: _crossbars_first(v) for k, v in final.items()
    }


def time_epoch_loop(model: Model, curves: Curves, src: Source, size: int, repeats: int = 3):
    """Trainings/s of the epoch loop alone on one device-resident chunk of `size` lanes.

    The chunk is drawn once; each repeat runs every epoch (no early stop matters at the
    reference point) and waits for the device, with no transfer to the host: what the
    hardware sustains, for the benchmark's ``--resident`` mode (a GPU's figure of merit).
    """
    mesh = batch_mesh()
    timer = [0.0]
    local = size // mesh.size
    starts = (local * np.arange(mesh.size)).astype(np.uint32)
    fixed, lanes, _ = _call("init", timer, mesh, src, starts, model=model, size=local)
    check_every = 1 if mesh.devices.flat[0].platform == "cpu" else GPU_CHECK_EVERY

    def loop():
        s, _ = _call("stage", timer, mesh, lanes, fixed, curves, np.int32(0),
                     np.int32(model.epochs - 1), None, model=model,
                     check_every=check_every)  # fmt: skip
        s, _ = _call("final", timer, mesh, s, fixed, curves, None, model=model)
        jax.block_until_ready(s)

    loop()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        loop()
        best = min(best, time.perf_counter() - t0)
    return size / best
