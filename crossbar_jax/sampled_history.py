"""Per-epoch trajectories of long trainings in bounded memory: every s-th epoch is kept.

`crossbar_jax.history.record_history` and `record_nonideal_history` keep every epoch of every
crossbar, (B, E, rows, cols) arrays: at E = 10^6 epochs that is gigabytes for a handful of
crossbars, and no figure can show a million points per curve anyway. `record_sampled_history`
replays the same crossbars with the same kernels (the general engine's `epoch_step`, whose
outcomes equal the fast engine's for the reference model) but records only epochs
1, 1 + s, 1 + 2s, ... with ``s = ceil(E / max_epochs)``: at most `max_epochs` records per
crossbar whatever E is. The epochs in between are run on the device without being stored, so
each crossbar still ends in the outcome its study recorded (converged, epoch, final state
exact); ``History.epoch_numbers`` says which epoch each record is.

`record_job_history_bounded` is what the app's figures call: the exact history when
E <= `MAX_RECORDED_EPOCHS`, the sampled one beyond.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from crossbar_jax.datasets import FOUR_BIT, Dataset
from crossbar_jax.general_engine import (
    _common,
    _context,
    _crossbar_devices,
    _initial,
    _shifts,
    epoch_step,
    nonideal_from_params,
    record_job_history,
)
from crossbar_jax.history import MAX_HISTORY_BATCH, History
from crossbar_jax.nonideal import NonIdeal, device_conductances
from crossbar_jax.validation import check_positive_int, check_run_args, check_shift_params
from crossbar_jax.variation import REFERENCE_DISTRIBUTION, crossbar_keys

__all__ = ["MAX_RECORDED_EPOCHS", "record_job_history_bounded", "record_sampled_history"]

# Records per crossbar in the app's figures: a curve of 1000 points per panel is as much as a
# figure shows, and 1000 records of a 10x6 crossbar take well under a megabyte.
MAX_RECORDED_EPOCHS = 1000


@partial(jax.jit, static_argnames=("epochs", "stride", "sw"))
def _sampled_jit(keys, shifts, ctx, *, epochs: int, stride: int, sw):
    devs, _ = _crossbar_devices(keys, shifts, ctx.noise.stuck_fraction, sw)
    length = ctx.offsets.shape[0]
    n_records = -(-epochs // stride)

    def one(dev):
        def block(state, b):
            # Record the first epoch of the block, run the rest of it without recording.
            e0 = b * stride
            state, info = epoch_step(state, e0, dev, ctx, sw)

            def cond(carry):
                e, st = carry
                return (e < jnp.minimum(e0 + stride, epochs)) & ~st.done

            def body(carry):
                e, st = carry
                st, _ = epoch_step(st, e, dev, ctx, sw)
                return e + 1, st

            _, state = jax.lax.while_loop(cond, body, (e0 + 1, state))
            return state, info

        init = _initial(dev, length, sw)
        state, rec = jax.lax.scan(block, init, jnp.arange(n_records, dtype=jnp.int32))
        g = device_conductances(
            state.devices, dev.shifts, ctx.offsets, ctx.dep_offsets, ctx.params.k, sw
        )
        return rec, state, g

    return jax.vmap(one)(devs)


def record_sampled_history(
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
    max_epochs: int = MAX_RECORDED_EPOCHS,
) -> History:
    """`record_nonideal_history` keeping at most `max_epochs` epochs per crossbar.

    Epochs 1, 1 + s, 1 + 2s, ... (s = ceil(epochs / max_epochs)) are recorded, as
    ``History.epoch_numbers``; with s = 1 the records equal `record_nonideal_history`'s.
    Memory is O(crossbars x max_epochs), not O(crossbars x epochs).
    """
    dt, prm, g, x, y, ni = _common(
        curve, dataset.train_patterns, dataset.train_labels, nonideal,
        dict(beta=beta, positive_target=positive_target, negative_target=negative_target, k=k,
             epochs=epochs, v0=v0, v1=v1),
        dtype,
    )  # fmt: skip
    lo, hi, df = check_shift_params(low=low, high=high, division_factor=division_factor)
    keep = check_positive_int(max_epochs, "max_epochs")
    idx = np.atleast_1d(np.asarray(crossbars, np.int64))
    if idx.ndim != 1 or idx.size == 0 or np.any(idx < 0) or idx.size > MAX_HISTORY_BATCH:
        raise ValueError(
            f"crossbars: expected 1 to {MAX_HISTORY_BATCH} non-negative indices, got {crossbars!r}"
        )
    shape = (dataset.rows, dataset.cols)
    smap = None
    if distribution == "measured":
        if shift_map is None:
            raise ValueError("distribution='measured' needs shift_map, a (rows, cols) array")
        smap = np.asarray(shift_map, np.float64)
    check_run_args(
        seed=seed, n_crossbars=1, curve=g, dataset=dataset, beta=prm["beta"],
        positive_target=prm["positive_target"], negative_target=prm["negative_target"],
        k=prm["k"], epochs=prm["epochs"], v0=prm["v0"], v1=prm["v1"], low=lo, high=hi,
        division_factor=df, dtype=dt, distribution=distribution, shift_map=smap, nonideal=ni,
    )  # fmt: skip
    if smap is not None and smap.shape != shape:
        raise ValueError(f"shift_map: expected shape {shape}, got {smap.shape}")
    n_epochs = prm["epochs"]
    stride = -(-n_epochs // keep)
    ctx = _context(g, ni, x, y, prm, dt)
    shifts = _shifts(
        jnp.uint32(seed), jnp.asarray(idx, jnp.uint32), shape, distribution,
        *(jnp.asarray(v, dt) for v in (lo, hi, df)),
        jnp.asarray(smap if smap is not None else np.zeros(shape), dt), dt,
    )  # fmt: skip
    rec, state, final_g = _sampled_jit(
        crossbar_keys(int(seed), idx.astype(np.uint32)),
        shifts,
        ctx,
        epochs=n_epochs,
        stride=stride,
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
        epoch=np.where(done, state.epoch, n_epochs).astype(np.int32),
        final_pulses=state.devices.pulses,
        final_conductances=final_g,
        patterns=x,
        labels=y,
        positive_target=prm["positive_target"],
        negative_target=prm["negative_target"],
        epoch_numbers=1 + stride * np.arange(rec.error.shape[1], dtype=np.int64),
        total_epochs=n_epochs,
    )


def record_job_history_bounded(
    summary: dict,
    crossbars,
    *,
    curve=None,
    shift_map=None,
    max_epochs: int = MAX_RECORDED_EPOCHS,
) -> History:
    """`crossbar_jax.general_engine.record_job_history` in bounded memory.

    Jobs of at most `max_epochs` epochs are replayed exactly (every epoch); longer ones with
    `record_sampled_history`, so the figures of a 10^6-epoch study cost what a 1000-epoch
    one does.
    """
    p = summary["params"]
    dev, tr, mc, sh = p["device"], p["training"], p["mc"], p["device"]["shift"]
    if int(tr["epochs"]) <= max_epochs:
        return record_job_history(summary, crossbars, curve=curve, shift_map=shift_map)
    from crossbar_jax.curve import load_curve
    from crossbar_jax.datasets import make_dataset

    if curve is None:
        curve = load_curve(dev["curve"])
    ds = p["dataset"]
    dataset = make_dataset(
        ds["train"]["patterns"], ds["train"]["labels"], ds["test"]["patterns"] or None,
        ds["test"]["labels"] or None, name=ds.get("name", "dataset"),
    )  # fmt: skip
    distribution = sh.get("distribution", REFERENCE_DISTRIBUTION)
    if distribution == "measured" and shift_map is None:
        from crossbar_jax.variation import load_shift_map

        shift_map = load_shift_map(sh["map"])
    precision = mc.get("precision", "float32")
    with jax.enable_x64(precision == "float64"):
        return record_sampled_history(
            int(mc["seed"]),
            crossbars,
            curve=curve,
            dataset=dataset,
            nonideal=nonideal_from_params(p),
            distribution=distribution,
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
            max_epochs=max_epochs,
        )
