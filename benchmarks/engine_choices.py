"""The measurements behind six of the engine's defaults, each as a ratio in one process.

    python benchmarks/engine_choices.py            # all six (about 7 minutes on 2 cores)
    python benchmarks/engine_choices.py --quick    # fewer crossbars and rounds
    python benchmarks/engine_choices.py --items 6  # only item 6

1. The shift draw: `crossbar_jax.variation.shift_lanes` (Threefry written lane by lane, the
   default) against ``vmap`` of `jax.random` over the crossbar keys, the same numbers.
2. The chunk size of `run_monte_carlo` at the reference point (the CPU default is 262,144).
3. Multi-output fusion (`crossbar_jax.xla_defaults`): `run_monte_carlo` at the reference point
   in a subprocess with and without it (XLA reads its flags once per process), rounds
   interleaved.
4. The pair state (`crossbar_jax.model.Model.pair_state`): `run_monte_carlo` at the reference
   point with the lanes carrying each synapse's pair index ``n+ L + n-`` (the default) against
   carrying every device's count, each variant with executables of its own; the outcomes are
   compared crossbar by crossbar.
5. The same for online training, in the dataset's order and shuffled: on the pair state the
   pattern steps are unrolled programs (`crossbar_jax.online`), with the device counts a loop
   over the steps; each at its default chunk (131,072 and 32,768).
6. The chunk size of shuffled online training on the pair state (`run_monte_carlo` at the
   reference point; the CPU default is 131,072 for runs longer than 262,144 crossbars).

Every figure is the best of the rounds; the variants alternate within each round.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POINT = dict(beta=6e6, positive_target=0.8, negative_target=-0.8, k=10.0)
MOF = "--xla_backend_extra_options=xla_cpu_use_multi_output_fusion"

_CHILD = """
import json, sys, time
import crossbar_jax as cj
from crossbar_jax.curve import load_curve
curve = load_curve(sys.argv[1]); n = int(sys.argv[2])
kw = dict(curve=curve, beta=6e6, positive_target=0.8, negative_target=-0.8, k=10.0)
cj.run_monte_carlo(0, n, **kw)
best = 1e9
for s in range(3):
    t = time.perf_counter()
    cj.run_monte_carlo(s + 1, n, **kw)
    best = min(best, time.perf_counter() - t)
print(json.dumps({"rate": n / best}))
"""


def _best(fns: dict, rounds: int) -> dict:
    import jax

    best = {k: float("inf") for k in fns}
    for fn in fns.values():
        jax.block_until_ready(fn())
    for _ in range(rounds):
        for k, fn in fns.items():
            t = time.perf_counter()
            jax.block_until_ready(fn())
            best[k] = min(best[k], time.perf_counter() - t)
    return best


def shift_draw(n: int, rounds: int) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from crossbar_jax.variation import crossbar_keys, lognormal_minmax, shift_lanes

    idx = jnp.arange(n, dtype=jnp.uint32)
    full = [jnp.full((n,), v, jnp.float32) for v in (1e-8, 1e-7, 5.0)]
    lanes = jax.jit(lambda i, a, b, c: shift_lanes(np.uint32(0), i, (4, 4), a, b, c))
    per_key = jax.jit(
        lambda i, a, b, c: jnp.moveaxis(
            jax.vmap(lambda k, x, y, z: lognormal_minmax(k, (4, 4), x, y, z))(
                crossbar_keys(0, i), a, b, c
            ),
            0,
            -1,
        )
    )
    same = np.array_equal(np.asarray(lanes(idx, *full)), np.asarray(per_key(idx, *full)))
    t = _best({"lanes": lambda: lanes(idx, *full), "vmap": lambda: per_key(idx, *full)}, rounds)
    print(f"1. shift draw, {n:,} crossbars on one device: lane by lane {t['lanes'] * 1e3:.1f} ms, "
          f"vmap of jax.random {t['vmap'] * 1e3:.1f} ms (ratio {t['vmap'] / t['lanes']:.2f}); "
          f"the same numbers: {same}")  # fmt: skip


def chunk_sizes(n: int, rounds: int, sizes, nonideal=None, label="2. run_monte_carlo") -> None:
    import crossbar_jax as cj
    from crossbar_jax.curve import load_curve

    curve = load_curve(REPO / "data" / "lsmo_gaq3_model.csv")
    fns = {c: (lambda c=c: cj.run_monte_carlo(0, n, curve=curve, chunk_size=c, nonideal=nonideal,
                                              **POINT).converged)
           for c in sizes}  # fmt: skip
    t = _best(fns, rounds)
    ref = t[max(sizes)]
    parts = ", ".join(f"{c:,}: {n / t[c]:,.0f}/s ({ref / t[c]:.2f})" for c in sizes)
    print(f"{label}, {n:,} crossbars, trainings/s by chunk size (relative to "
          f"{max(sizes):,}): {parts}")  # fmt: skip


def fusion(n: int, rounds: int) -> None:
    curve = str(REPO / "data" / "lsmo_gaq3_model.csv")
    base = "--xla_cpu_prefer_vector_width=512" if _avx512() else ""
    flags = {"with": f"{base} {MOF}".strip(), "without": base}
    best = {k: 0.0 for k in flags}
    for _ in range(rounds):
        for k, f in flags.items():
            env = {**os.environ, "XLA_FLAGS": f}
            out = subprocess.run([sys.executable, "-c", _CHILD, curve, str(n)], env=env,
                                 capture_output=True, text=True, check=True)  # fmt: skip
            best[k] = max(best[k], json.loads(out.stdout.strip().splitlines()[-1])["rate"])
    print(
        f"3. run_monte_carlo, {n:,} crossbars: with multi-output fusion {best['with']:,.0f}/s, "
        f"without {best['without']:,.0f}/s (ratio {best['with'] / best['without']:.2f})"
    )


def pair_state(n: int, rounds: int, nonideal=None, label: str = "4. run_monte_carlo") -> None:
    import numpy as np

    import crossbar_jax as cj
    from crossbar_jax import runner
    from crossbar_jax.curve import load_curve
    from crossbar_jax.model import Model

    curve = load_curve(REPO / "data" / "lsmo_gaq3_model.csv")
    real = Model.pair_state
    caches: dict = {"pair": {}, "counts": {}}
    results: dict = {}

    def variant(name):
        def call():
            # The compile cache is keyed by the Model, which this switch leaves unchanged: each
            # variant swaps its own executables in.
            saved = dict(runner._COMPILED)
            runner._COMPILED.clear()
            runner._COMPILED.update(caches[name])
            Model.pair_state = real if name == "pair" else property(lambda self: False)
            try:
                r = cj.run_monte_carlo(0, n, curve=curve, nonideal=nonideal, **POINT)
            finally:
                Model.pair_state = real
                caches[name] = dict(runner._COMPILED)
                runner._COMPILED.clear()
                runner._COMPILED.update(saved)
            results[name] = (r.converged, r.epoch, r.final_error, r.test_accuracy)
            return r.converged

        return call

    t = _best({k: variant(k) for k in caches}, rounds)
    same = all(np.array_equal(a, b, equal_nan=True)
               for a, b in zip(results["pair"], results["counts"], strict=True))  # fmt: skip
    print(f"{label}, {n:,} crossbars: pair state {n / t['pair']:,.0f}/s, device "
          f"counts {n / t['counts']:,.0f}/s (ratio {t['counts'] / t['pair']:.2f}); the same "
          f"outcomes: {same}")  # fmt: skip


def _avx512() -> bool:
    from crossbar_jax.xla_defaults import has_avx512

    return has_avx512()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer crossbars and rounds")
    p.add_argument("--items", type=int, nargs="+", choices=range(1, 7), help="run only these")
    a = p.parse_args(argv)
    n, rounds = (200_000, 2) if a.quick else (1_000_000, 3)
    items = set(a.items or range(1, 7))
    import crossbar_jax as cj

    if 1 in items:
        shift_draw(65536, 5)
    if 2 in items:
        chunk_sizes(n, rounds, (65536, 131072, 262144, 524288))
    if 3 in items:
        fusion(n, 2 if a.quick else 3)
    if 4 in items:
        pair_state(n, rounds + 2)
    if 5 in items:
        for shuffle in (False, True):
            pair_state(n, rounds, cj.NonIdeal(mode="online", shuffle=shuffle),
                       f"5. online training{', shuffled' if shuffle else ''}")  # fmt: skip
    if 6 in items:
        chunk_sizes(n, rounds, (32768, 65536, 131072, 262144),
                    cj.NonIdeal(mode="online", shuffle=True),
                    "6. online training, shuffled, on the pair state")  # fmt: skip


if __name__ == "__main__":
    main()
