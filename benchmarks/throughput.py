"""Trainings per second of crossbar_jax against a plain vectorised NumPy baseline, task by task.

    python benchmarks/throughput.py                  # every task, float32, the package defaults
    python benchmarks/throughput.py --quick          # fewer crossbars and rounds (a smoke run)
    python benchmarks/throughput.py --resident       # also the device-resident epoch loop alone

Everything runs in one process, as a user runs it: no XLA flag is set here (the package sets
its own defaults on import, see README "Performance"), float32, every local JAX device. Each
round runs every task once, rounds interleaved, and the table reports the best and the median
round. The tasks:

* ``mc-reference``: `run_monte_carlo` at ALGORITHM.md's point (beta 6e6 1/A, t +-0.8, k 10,
  shifts 1e-8..1e-7 S, 50 epochs, the 4-bit task, the shipped curve), shifts drawn and the
  held-out patterns evaluated inside;
* ``train-history``: `train` on given shifts at the same point, with the full error history;
* ``mc-beta6e7``: `run_monte_carlo` at beta 6e7 (the informative point, ~40 % converge);
* ``mc-letters``: `run_monte_carlo` on the letters task at its experiment's point
  (conf/experiment/letters.yaml: beta 1.2e7, t +-0.5, k 10, shifts 1e-9..1e-8 S, 10x6);
* ``c2c``, ``read-noise``, ``stuck-10%``: `run_monte_carlo` at the reference point with one
  non-ideality on (c2c 4e-9 S, read noise 5 %, 10 % of devices stuck low), compared with
  ``mc-reference`` of the same round;
* ``online``, ``online-shuffled``, ``adc-8bit``, ``relaxation``: the same with online
  (per-pattern) training in the dataset's order or shuffled every epoch, an 8-bit ADC on
  every column current, or 30 % of every step volatile with tau 5 epochs.

The NumPy baseline (numpy_baseline.py, one thread) trains shifts drawn by `sample_shifts` at
each task's point; `train-history` is checked against it crossbar by crossbar. "vs NumPy" is
the ratio of best rounds on the same task and point; "vs ideal" the ratio to ``mc-reference``.
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

# The NumPy baseline is single-threaded by design. Its tiny batched matmuls go through OpenBLAS,
# whose idle pool threads kept spinning into the next task's timing (train-history measured
# 0.70M against 0.92M trainings/s with one BLAS thread). Set before NumPy loads, unless chosen;
# JAX does not read it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

POINT = dict(beta=6e6, positive_target=0.8, negative_target=-0.8, k=10.0)  # ALGORITHM.md
LETTERS_POINT = dict(beta=1.2e7, positive_target=0.5, negative_target=-0.5, k=10.0)
LETTERS_SHIFTS = dict(low=1e-9, high=1e-8)


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="crossbars per crossbar_jax call")
    p.add_argument("--numpy-n", type=int, default=20_000, help="crossbars per NumPy call")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best, median)")
    p.add_argument("--tasks", nargs="+", default=None, help="a subset of the tasks")
    p.add_argument("--quick", action="store_true", help="n 200,000, NumPy 5,000, 2 rounds")
    p.add_argument("--resident", action="store_true", help="time the device-resident loop too")
    p.add_argument("--resident-n", type=int, default=262144, help="lanes of the resident chunk")
    p.add_argument("--curve", default=str(REPO / "data" / "lsmo_gaq3_model.csv"))
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    a = p.parse_args(argv)
    if a.quick:
        a.n, a.numpy_n, a.rounds = 200_000, 5_000, 2
    return a


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    except OSError:
        pass
    return "?"


# Tasks with one effect on, reported against mc-reference of the same round ("vs ideal").
EFFECT_TASKS = ("c2c", "read-noise", "stuck-10%", "online", "online-shuffled", "adc-8bit",
                "relaxation")  # fmt: skip


def _tasks(cj, curve, args):
    """name -> (crossbar_jax call returning seconds, NumPy call returning seconds, n, jax n)."""
    import numpy as np

    sys.path.insert(0, str(HERE))
    from numpy_baseline import train_numpy

    def mc(point=POINT, dataset=cj.FOUR_BIT, nonideal=None, **extra):
        def call(seed):
            r = cj.run_monte_carlo(seed, args.n, curve=curve, dataset=dataset, nonideal=nonideal,
                                   **point, **extra)  # fmt: skip
            return r.train_s, float(np.mean(r.converged))

        return call

    def numpy(point=POINT, dataset=cj.FOUR_BIT, **shift):
        shape = (dataset.rows, dataset.cols)
        s = np.asarray(cj.sample_shifts(0, args.numpy_n, shape, **shift), np.float64)

        def call():
            t = time.perf_counter()
            train_numpy(s, curve, dataset.train_patterns, dataset.train_labels, **point)
            return time.perf_counter() - t

        return call

    shifts = np.asarray(cj.sample_shifts(0, args.n, (4, 4)), np.float64)
    data = cj.FOUR_BIT

    def train(seed):
        t = time.perf_counter()
        r = cj.train(shifts, curve=curve, patterns=data.train_patterns,
                     labels=data.train_labels, **POINT)  # fmt: skip
        return time.perf_counter() - t, float(np.mean(r.converged))

    beta6e7 = {**POINT, "beta": 6e7}
    letters = cj.LETTERS
    return {
        "mc-reference": (mc(), numpy()),
        "train-history": (train, numpy()),
        "mc-beta6e7": (mc(beta6e7), numpy(beta6e7)),
        "mc-letters": (
            mc(LETTERS_POINT, letters, **LETTERS_SHIFTS),
            numpy(LETTERS_POINT, letters, **LETTERS_SHIFTS),
        ),  # fmt: skip
        "c2c": (mc(nonideal=cj.NonIdeal(c2c_std=4e-9)), None),
        "read-noise": (mc(nonideal=cj.NonIdeal(read_noise=0.05)), None),
        "stuck-10%": (mc(nonideal=cj.NonIdeal(stuck_fraction=0.1)), None),
        "online": (mc(nonideal=cj.NonIdeal(mode="online")), None),
        "online-shuffled": (mc(nonideal=cj.NonIdeal(mode="online", shuffle=True)), None),
        "adc-8bit": (mc(nonideal=cj.NonIdeal(adc_bits=8)), None),
        "relaxation": (
            mc(nonideal=cj.NonIdeal(relaxation_fraction=0.3, relaxation_tau=5.0)),
            None,
        ),  # fmt: skip
    }


def _agreement(cj, curve, n):
    """train against the NumPy baseline on the same shifts: (same outcomes, n)."""
    import numpy as np

    sys.path.insert(0, str(HERE))
    from numpy_baseline import train_numpy

    d = cj.FOUR_BIT
    s = np.asarray(cj.sample_shifts(1, n, (4, 4)), np.float64)
    ref = cj.train(s, curve=curve, patterns=d.train_patterns, labels=d.train_labels, **POINT)
    conv, epoch, pulses, _, _ = train_numpy(s, curve, d.train_patterns, d.train_labels, **POINT)
    same = (conv == ref.converged) & (epoch == ref.epoch) & np.all(pulses == ref.pulses, (1, 2))
    return int(same.sum()), n


def _resident(cj, curve, n):
    """Trainings/s of the epoch loop alone on one device-resident chunk (no transfers)."""
    import jax.numpy as jnp
    import numpy as np

    from crossbar_jax import runner
    from crossbar_jax.model import make_curves, make_model, make_point

    dt = "float32"
    model = make_model(epochs=50, dtype=dt, dataset=cj.FOUR_BIT, length=len(curve))
    table = make_point(dt, **{k: np.asarray([v]) for k, v in POINT.items()})
    src = runner.Source(np.uint32(0), np.uint32(n), table, jnp.zeros((4, 4), dt), None,
                        np.uint32(0), jnp.ones((), dt))  # fmt: skip
    return runner.time_epoch_loop(model, make_curves(curve, dt), src, n)


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None) -> dict:
    args = _args(argv)
    import jax
    import numpy as np

    import crossbar_jax as cj

    curve = cj.load_curve(args.curve)
    tasks = _tasks(cj, curve, args)
    names = args.tasks or list(tasks)
    load_before = os.getloadavg()[0]
    jax_s = {k: [] for k in names}
    cpu = {k: [] for k in names}
    rate_conv = {}
    np_s = {k: [] for k in names if tasks[k][1] is not None}
    for name in names:  # compile every executable once, outside the timings
        tasks[name][0](0)
    for r in range(args.rounds):
        for name in names:
            c0 = time.process_time()
            seconds, conv = tasks[name][0](r + 1)
            jax_s[name].append(seconds)
            cpu[name].append((time.process_time() - c0) / seconds)
            rate_conv[name] = conv
            if name in np_s:
                np_s[name].append(tasks[name][1]())
    rows = []
    for name in names:
        n = args.n
        row = dict(
            task=name,
            n=n,
            converged=rate_conv[name],
            best=n / min(jax_s[name]),
            median=n / float(np.median(jax_s[name])),
            cpu=float(np.median(cpu[name])),
        )
        if name in np_s:
            row["numpy"] = args.numpy_n / min(np_s[name])
            row["vs_numpy"] = row["best"] / row["numpy"]
        rows.append(row)
    ideal = next((r["best"] for r in rows if r["task"] == "mc-reference"), None)
    for r in rows:
        if ideal and r["task"] in EFFECT_TASKS:
            r["vs_ideal"] = r["best"] / ideal
    same, n_check = _agreement(cj, curve, min(args.numpy_n, 20_000))
    info = dict(
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        cpu=_cpu_model(),
        isa=_cpu_flags(),
        cores=os.cpu_count(),
        jax_devices=jax.device_count(),
        platform=jax.devices()[0].platform,
        jax=jax.__version__,
        numpy=np.__version__,
        python=platform.python_version(),
        load_average=(load_before, os.getloadavg()[0]),
        xla_flags=os.environ.get("XLA_FLAGS", ""),
        agreement=(same, n_check),
        rounds=args.rounds,
    )
    if args.resident:
        info["resident"] = _resident(cj, curve, args.resident_n)
    print(_table(rows, info))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(rows=rows, info=info), indent=2))
    return dict(rows=rows, info=info)


def _table(rows, info) -> str:
    lines = [
        f"Machine: {info['cpu']} ({info['isa']}), {info['cores']} cores, {info['jax_devices']} "
        f"JAX {info['platform']} device(s); jax {info['jax']}, numpy {info['numpy']}, Python "
        f"{info['python']}; XLA_FLAGS={info['xla_flags']!r}; {info['date']}; load average "
        f"{info['load_average'][0]:.2f} -> {info['load_average'][1]:.2f}; float32; best of "
        f"{info['rounds']} interleaved rounds.",
        "",
        "| task | crossbars | converged | trainings/s (best) | median | CPU (cores) "
        "| NumPy trainings/s | vs NumPy | vs ideal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        numpy = f"{r['numpy']:,.0f}" if "numpy" in r else "-"
        vs_np = f"{r['vs_numpy']:.1f}x" if "vs_numpy" in r else "-"
        vs_id = f"{r['vs_ideal']:.2f}" if "vs_ideal" in r else "-"
        lines.append(
            f"| {r['task']} | {r['n']:,} | {r['converged']:.4f} | {r['best']:,.0f} | "
            f"{r['median']:,.0f} | {r['cpu']:.2f} | {numpy} | {vs_np} | {vs_id} |"
        )
    same, n = info["agreement"]
    lines += [
        "",
        f"Agreement: `train` and the NumPy baseline give the same converged flag, epoch and "
        f"pulse counts on {same:,} of {n:,} crossbars.",
    ]
    if "resident" in info:
        lines.append(
            f"Device-resident epoch loop alone (one chunk, no transfers): "
            f"{info['resident']:,.0f} trainings/s."
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
