"""How the batch runners lay out and dispatch work: devices, chunks, and the chunk pipeline.

A batch of B crossbars runs in chunks of one shape (one executable), each chunk split over all
local JAX devices along the crossbar axis (`batch_mesh`, `shard_batch`). Each device runs its own
epoch loop with its own early stop, and never waits for another. The host keeps a couple of
chunks in flight (`pipeline`), so copying one chunk's results overlaps the next one's training
and memory stays bounded whatever B.
"""

from __future__ import annotations

import os
from functools import cache

import jax
import numpy as np
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from crossbar_jax.validation import check_positive_int

__all__ = ["batch_mesh", "use_cpu_cores", "shard_batch", "chunk_layout", "pipeline", "training_bar"]


@cache
def _mesh(devices: tuple) -> Mesh:
    return Mesh(np.array(devices), ("batch",))


def batch_mesh() -> Mesh:
    """A 1-D mesh over every local JAX device; chunks are split over its "batch" axis.

    On a multi-GPU node every GPU takes a share of each chunk. On a CPU, XLA shows one device
    (and spreads each loop over a few threads) unless `use_cpu_cores` (or
    ``XLA_FLAGS=--xla_force_host_platform_device_count=N``) ran before JAX started: then N
    shares run in parallel, each with its own epoch loop. Results are the same for any device
    count.
    """
    return _mesh(tuple(jax.local_devices()))


def use_cpu_cores(n: int | None = None) -> int:
    """Show `n` CPU cores (default: all) to JAX as separate devices, so `batch_mesh` uses them.

    XLA shows a CPU as one device. Call this right after ``import jax``, before any JAX
    computation (JAX reads the setting when it starts its CPU backend); an explicit
    ``--xla_force_host_platform_device_count`` in XLA_FLAGS takes precedence. Later calls
    change nothing. Results do not depend on the device count; on a GPU node it only affects
    the (unused) CPU backend.

    Returns:
        The number of local devices in effect.
    """
    n = (os.cpu_count() or 1) if n is None else check_positive_int(n, "n")
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        try:
            jax.config.update("jax_num_cpu_devices", n)
        except RuntimeError:  # the backend already started: keep its devices
            pass
    return jax.local_device_count()


def shard_batch(fn, mesh: Mesh, n_batched: int, n_replicated: int):
    """`fn` run per device on its share of the batch (axis 0 of the first `n_batched` inputs).

    Each device runs its own epoch loop, with its own early stop, and never waits for another.
    """
    in_specs = (P("batch"),) * n_batched + (P(),) * n_replicated
    return jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=P("batch"), check_vma=False)


def chunk_layout(n: int, chunk_size: int, n_devices: int) -> tuple[int, int]:
    """(crossbars per compiled call, number of calls) for n crossbars.

    Every call has one shape: the fewest calls of at most `chunk_size` crossbars (rounded up
    to whole vectors on every device), balanced so that the padding of the last call is small
    (100,000 crossbars in chunks of 65,536 would otherwise train 131,072).
    """
    n_chunks = -(-n // chunk_size)
    size = -(-n // n_chunks)
    quantum = n_devices * (8 if size >= 64 * n_devices else 1)
    return -(-size // quantum) * quantum, n_chunks


def training_bar(progress: bool, total: int):
    """A progress bar over `total` crossbars (rate and ETA), or None when `progress` is off."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="training", unit="crossbar", unit_scale=True, leave=False)


def pipeline(chunks, progress: bool, launch, depth: int = 2, *, crossbars=None):
    """Yield (chunk index, NumPy outputs) in order, keeping `depth` chunks in flight.

    JAX dispatches asynchronously: while the host copies one chunk's results, the devices
    already run the next, and at most `depth` chunks' buffers are alive at once. With
    `progress`, a bar counts finished crossbars (`crossbars[i]` in chunk i; default one per
    chunk), advancing when a chunk's results have arrived, not when it was launched.
    """
    chunks = list(chunks)
    sizes = list(crossbars) if crossbars is not None else [1] * len(chunks)
    bar = training_bar(progress, sum(sizes))
    pending = []

    def done(i, c0, res):
        out = [np.asarray(r) for r in res]  # waits for the chunk to finish
        if bar is not None:
            bar.update(sizes[i])
        return c0, out

    for i, c in enumerate(chunks):
        pending.append((i, c, launch(c)))
        if len(pending) > depth:
            yield done(*pending.pop(0))
    for item in pending:
        yield done(*item)
    if bar is not None:
        bar.close()
