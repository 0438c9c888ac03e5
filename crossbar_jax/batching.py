"""How the runner lays out work: devices, chunks, and the training progress bar.

A batch of B crossbars runs in chunks of one shape (one executable per step), each chunk split
over all local JAX devices along the crossbar axis (`batch_mesh`; `crossbar_jax.runner` maps
its steps over the mesh). Each device runs its own epoch loop with its own early stop.
"""

from __future__ import annotations

import os
from functools import cache

import jax
import numpy as np
from jax.sharding import Mesh

from crossbar_jax.validation import check_positive_int

__all__ = ["batch_mesh", "use_cpu_cores", "chunk_layout", "training_bar"]


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
