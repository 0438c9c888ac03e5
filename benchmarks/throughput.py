"""Trainings per second of `crossbar_jax.train` against a plain vectorised NumPy baseline.

    python benchmarks/throughput.py                        # float32 and float64, defaults
    python benchmarks/throughput.py --n 200000 --numpy-n 20000 --repeats 5 --dtype float32

Everything runs in one process at the reference defaults of ALGORITHM.md: beta 6e6 1/A, targets
+-0.8, k 10, lognormal min-max shifts 1e-8..1e-7 S, 50 epochs, a 4x4 crossbar, the project's
curve (data/lsmo_gaq3_model.csv). Shifts are drawn once, outside the timings. For each dtype it
times `crossbar_jax.train` (first call, which compiles, then `--repeats` steady calls),
`crossbar_jax.run_monte_carlo` (which also draws the shifts and evaluates the test set), and
the NumPy baseline (benchmarks/numpy_baseline.py, one thread), checks that the baseline and
the engine agree crossbar by crossbar, and prints a Markdown table with the ratios.

crossbar_jax shards each chunk over all local JAX devices. XLA shows a CPU as one device, so
this script first exposes every core as a device (`crossbar_jax.use_cpu_cores`; `--devices 1`
keeps one device, whose loops XLA then spreads over a few threads).
The "CPU" column is the process's CPU time over wall time during the steady calls: below the
core count when other processes share the machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=500_000, help="crossbars per crossbar_jax call")
    p.add_argument("--numpy-n", type=int, default=20_000, help="crossbars per NumPy call")
    p.add_argument("--repeats", type=int, default=3, help="steady calls timed (median, best)")
    p.add_argument("--dtype", nargs="+", default=["float32", "float64"])
    p.add_argument(
        "--devices",
        type=int,
        default=os.cpu_count(),
        help="JAX CPU devices to expose (default: one per core)",
    )
    p.add_argument("--chunk-size", type=int, default=None, help="crossbar_jax chunk_size")
    p.add_argument("--curve", default=str(REPO / "data" / "lsmo_gaq3_model.csv"))
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    return p.parse_args(argv)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _timed(fn, repeats: int):
    """(seconds of the first call, [seconds of each steady call], CPU cores used when steady)."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    steady, cpu = [], 0.0
    for _ in range(repeats):
        c, t = time.process_time(), time.perf_counter()
        fn()
        steady.append(time.perf_counter() - t)
        cpu += time.process_time() - c
    return first, steady, cpu / sum(steady)


POINT = dict(beta=6e6, positive_target=0.8, negative_target=-0.8, k=10.0)  # ALGORITHM.md


def _bench_dtype(dtype, shifts, curve, args, chunk, train_numpy):
    """The three implementations at one dtype: (table rows, agreement check)."""
    import numpy as np

    import crossbar_jax as cj

    data = cj.FOUR_BIT
    kw = dict(
        curve=curve,
        patterns=data.train_patterns,
        labels=data.train_labels,
        dtype=dtype,
        **POINT,
        **chunk,
    )
    rows = []
    first, steady, cpu = _timed(lambda: cj.train(shifts, **kw), args.repeats)
    rows.append(
        dict(
            impl="crossbar_jax.train",
            dtype=dtype,
            n=args.n,
            compile_s=max(first - float(np.median(steady)), 0.0),
            rate=args.n / float(np.median(steady)),
            best=args.n / min(steady),
            cpu=cpu,
        )
    )

    mc = []

    def monte_carlo():
        mc.append(cj.run_monte_carlo(len(mc), args.n, curve=curve, dtype=dtype, **POINT, **chunk))

    _, steady, cpu = _timed(monte_carlo, args.repeats)
    times = [r.train_s for r in mc[1:]]
    rows.append(
        dict(
            impl="crossbar_jax.run_monte_carlo",
            dtype=dtype,
            n=args.n,
            compile_s=mc[0].compile_s,
            rate=args.n / float(np.median(times)),
            best=args.n / min(times),
            cpu=cpu,
        )
    )

    sub = shifts[: args.numpy_n]
    ref = cj.train(sub, **kw)
    out = []
    _, steady, cpu = _timed(
        lambda: out.append(
            train_numpy(sub, curve, data.train_patterns, data.train_labels, dtype=dtype, **POINT)
        ),
        args.repeats,
    )
    rows.append(
        dict(
            impl="NumPy baseline",
            dtype=dtype,
            n=len(sub),
            compile_s=0.0,
            rate=len(sub) / float(np.median(steady)),
            best=len(sub) / min(steady),
            cpu=cpu,
        )
    )
    conv, epoch, pulses, errors, _ = out[-1]
    same = (
        (conv == ref.converged) & (epoch == ref.epoch) & np.all(pulses == ref.pulses, axis=(1, 2))
    )
    check = dict(
        dtype=dtype,
        n=len(sub),
        same=int(same.sum()),
        max_error_diff=float(np.nanmax(np.abs(errors - ref.errors))),
    )
    return rows, check


def main(argv=None) -> dict:
    args = _args(argv)

    import jax
    import numpy as np

    import crossbar_jax as cj

    cj.use_cpu_cores(args.devices)  # before any JAX computation
    sys.path.insert(0, str(HERE))
    from numpy_baseline import train_numpy

    curve = cj.load_curve(args.curve)
    chunk = {} if args.chunk_size is None else {"chunk_size": args.chunk_size}
    load_before = os.getloadavg()[0]
    shifts = np.asarray(cj.sample_shifts(0, args.n, (4, 4)), np.float64)
    rows, checks = [], []
    for dtype in args.dtype:
        with jax.enable_x64(dtype == "float64"):
            r, c = _bench_dtype(dtype, shifts, curve, args, chunk, train_numpy)
        rows += r
        checks.append(c)

    base = {r["dtype"]: r["rate"] for r in rows if r["impl"] == "NumPy baseline"}
    for r in rows:
        r["ratio"] = r["rate"] / base[r["dtype"]]
    info = dict(
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        cpu=_cpu_model(),
        cores=os.cpu_count(),
        jax_devices=jax.device_count(),
        platform=jax.devices()[0].platform,
        jax=jax.__version__,
        numpy=np.__version__,
        python=platform.python_version(),
        load_average=(load_before, os.getloadavg()[0]),
        xla_flags=os.environ.get("XLA_FLAGS", ""),
    )
    print(_table(rows, checks, info))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(rows=rows, checks=checks, info=info), indent=2))
    return dict(rows=rows, checks=checks, info=info)


def _table(rows, checks, info) -> str:
    lines = [
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['jax_devices']} JAX "
        f"{info['platform']} device(s); jax {info['jax']}, numpy {info['numpy']}, "
        f"Python {info['python']}; {info['date']}; load average "
        f"{info['load_average'][0]:.2f} -> {info['load_average'][1]:.2f}.",
        "",
        "| implementation | dtype | crossbars per call | compile s | trainings/s (median) "
        "| best | CPU (cores) | vs NumPy |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (r["dtype"], r["impl"] != "NumPy baseline")):
        lines.append(
            f"| {r['impl']} | {r['dtype']} | {r['n']:,} | {r['compile_s']:.2f} | "
            f"{r['rate']:,.0f} | {r['best']:,.0f} | {r['cpu']:.2f} | {r['ratio']:.1f}x |"
        )
    lines.append("")
    for c in checks:
        lines.append(
            f"Agreement, {c['dtype']}: the NumPy baseline and crossbar_jax.train give the same "
            f"converged flag, epoch and pulse counts on {c['same']:,} of {c['n']:,} crossbars "
            f"(largest error difference {c['max_error_diff']:.1e})."
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
