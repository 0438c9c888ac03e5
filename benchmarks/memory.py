"""Peak resident memory of one run_monte_carlo call over many crossbars.

    python benchmarks/memory.py --n 10000000

Only per-crossbar outcomes leave the devices and the chunks are pipelined two deep, so memory
stays bounded whatever n: the outcomes take 13 bytes per crossbar (10^7 crossbars: 130 MB).
Like throughput.py, it first exposes every core as a JAX device (`--devices`). Prints the
wall time, the trainings per second and the peak resident set size (ru_maxrss).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--chunk-size", type=int, default=65536)
    p.add_argument("--devices", type=int, default=os.cpu_count())
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    import crossbar_jax as cj

    cj.use_cpu_cores(args.devices)  # before any JAX computation
    curve = cj.load_curve(REPO / "data" / "lsmo_gaq3_model.csv")
    r = cj.run_monte_carlo(0, args.n, curve=curve, chunk_size=args.chunk_size)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(
        f"{args.n:,} crossbars: compile {r.compile_s:.1f} s, train {r.train_s:.1f} s "
        f"({args.n / r.train_s:,.0f}/s), wall {wall:.1f} s from start, converged "
        f"{r.converged.mean():.2e}; peak resident memory {peak:.2f} GiB"
    )


if __name__ == "__main__":
    main()
