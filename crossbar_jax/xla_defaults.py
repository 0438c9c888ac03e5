"""XLA settings the package applies on import, where that is safe, so users need set none.

Measured on the 2-core Zen 4 EPYC (AVX-512) these runs are developed on (benchmarks/README.md):

* ``--xla_cpu_prefer_vector_width=512``: XLA:CPU emits 256-bit vectors by default; on a CPU
  with AVX-512 the epoch loop runs 13-25 % faster with 512-bit ones. Set only when the CPU has
  AVX-512 and the user has not set XLA_FLAGS at all.
* ``--xla_backend_extra_options=xla_cpu_use_multi_output_fusion``: lets XLA:CPU fuse several
  outputs into one loop. Without it the peeled last epoch (the update and the reported error)
  recomputes each neuron's currents and exponentials in several loops, and the epoch loop runs
  slower (`benchmarks/engine_choices.py` measures the ratio). Set (on any CPU) only when the
  user has not set XLA_FLAGS at all.
* one JAX CPU device per core (``jax_num_cpu_devices``): XLA shows a CPU as one device and
  runs each loop on one thread; with a device per core the runner trains one chunk per core in
  parallel. Results do not depend on the device count (tested). Set only when the user has not
  chosen a device count (XLA_FLAGS' ``--xla_force_host_platform_device_count`` or the
  ``jax_num_cpu_devices`` option).

* glibc's malloc keeps freed memory for reuse (``mallopt``: mmap and trim thresholds of 1 GiB)
  instead of handing every large block back to the kernel and faulting fresh pages in for the
  next one. A run allocates its chunks' buffers (an error history, outcomes, XLA's work space)
  anew each time; with glibc's defaults `train` at the reference point ran at 0.86M
  trainings/s right after other runs, and at 1.42M/s with memory kept (benchmarks/throughput.py,
  one process). The cost: a process keeps up to 1 GiB of freed memory at the top of its heap,
  and blocks below 1 GiB are returned to the system only once nothing after them is in use.
  Set only on Linux with glibc, and when the user has set none of ``MALLOC_MMAP_THRESHOLD_``,
  ``MALLOC_TRIM_THRESHOLD_`` or ``GLIBC_TUNABLES``.

All take effect only if no JAX backend has started yet (JAX reads them when it starts its CPU
backend), and nothing is changed when ``CROSSBAR_JAX_XLA_DEFAULTS=0``. `applied` records what
was set, for the benchmark's and the app's headers.
"""

from __future__ import annotations

import ctypes
import os
import platform

__all__ = ["apply", "applied", "has_avx512", "keep_freed_memory"]

applied: dict = {}
OPT_OUT = "CROSSBAR_JAX_XLA_DEFAULTS"


def has_avx512() -> bool:
    """Whether this (Linux) CPU reports AVX-512F."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return "avx512f" in line.split()
    except OSError:
        pass
    return False


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
KEEP_BYTES = 1 << 30
_MALLOC_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed blocks (up to `KEEP_BYTES`) for reuse; True if set."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(v in os.environ for v in _MALLOC_VARS):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, KEEP_BYTES)
        )
    except (OSError, AttributeError):
        return False


def _backend_started() -> bool:
    try:
        from jax._src import xla_bridge

        return bool(getattr(xla_bridge, "_backends", {}))
    except Exception:  # a JAX without this internal: assume started, change nothing
        return True


def apply() -> dict:
    """Apply the defaults (once, before JAX starts); returns what was set."""
    if os.environ.get(OPT_OUT, "1") == "0" or applied or _backend_started():
        return applied
    import jax

    if keep_freed_memory():
        applied["malloc"] = f"mmap and trim thresholds {KEEP_BYTES >> 20} MiB"
    if "XLA_FLAGS" not in os.environ:
        flags = ["--xla_backend_extra_options=xla_cpu_use_multi_output_fusion"]
        if has_avx512():
            flags.insert(0, "--xla_cpu_prefer_vector_width=512")
        os.environ["XLA_FLAGS"] = " ".join(flags)
        applied["XLA_FLAGS"] = os.environ["XLA_FLAGS"]
    flags = os.environ.get("XLA_FLAGS", "")
    chosen = getattr(jax.config, "jax_num_cpu_devices", -1)
    cores = os.cpu_count() or 1
    if cores > 1 and "xla_force_host_platform_device_count" not in flags and chosen == -1:
        try:
            jax.config.update("jax_num_cpu_devices", cores)
            applied["jax_num_cpu_devices"] = cores
        except (AttributeError, RuntimeError):  # an older JAX, or the backend started after all
            pass
    return applied


apply()
