"""The epoch kernel: one Manhattan epoch of B crossbars, crossbars on the minor ("lane") axis.

Every array is (..., B) and every step is elementwise across lanes, so XLA vectorises over
crossbars and a crossbar's floats do not depend on its batch. The non-idealities are static
switches of the `Model` (an effect that is off is not in the program at all).

One epoch of one crossbar (ALGORITHM.md): read every training pattern; converged when every
neuron meets its target on every pattern (then it freezes: no more pulses, so it stays
converged); otherwise each synapse gets one pulse in the sign of the batch gradient.

How it is computed (each measured on the 2-core Zen 4 CPU against the earlier engine):

* **One gather per synapse.** The weight of synapse (r, m) is ``(G+ - G-) / k = T2[n+ L + n-]
  + (s+ - s-)``, with T2 the table of curve differences (`crossbar_jax.model.make_curves`).
  Where no effect moves or reads a device on its own (`Model.pair_state`) the lanes carry
  the pair index ``n+ L + n-`` itself, and the pulse moves it (``+L`` or ``+1``): XLA:CPU
  emits the gather as scalar loads, and the index arithmetic per load was a third of them.
* **No tanh for convergence.** f > t+ exactly when x = beta I > atanh(t+).
* **One exp per pattern for the update.** With a = |x|, a_min the smallest a of the neuron and
  u = exp(-2 a) = w exp(-2 a_min), ``(T - tanh x) sech^2 x`` is, up to a positive factor per
  neuron, ``w (A + B u) / (1 + u)^3`` (`crossbar_jax.manhattan.lane_directions`). Terms the
  float64 reference has at exactly 0 (|x| > 355.58, where its cosh^2 overflows) are 0 here
  too, and nothing under- or overflows in float32.
* **v0 = -v1** (a static switch): the currents are ``beta k v1`` times a signed sum of weights
  and the update compares two sums, with no product for XLA to contract differently in
  different programs.
* **The error only where it is reported**: every epoch for a history, else once, in the last
  (peeled) epoch.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from crossbar_jax.device import (
    device_values,
    pair_indices,
    pulse_lanes,
    pulse_pairs,
    relax_lanes,
    synapse_weights,
)
from crossbar_jax.forward import beta_currents, weight_currents
from crossbar_jax.manhattan import decode_codes, lane_error, update_codes
from crossbar_jax.model import Curves, Model, Point, atanh_thresholds
from crossbar_jax.online import online_epoch
from crossbar_jax.rng import EVAL_STREAM, READ_STREAM

__all__ = ["Lanes", "Fixed", "init_lanes", "epoch", "accuracy", "conductances"]


class Lanes(NamedTuple):
    """What the epoch loop carries for B crossbars (lanes last). None: effect off."""

    n: jax.Array | None  # (rows, cols, B) uint8/uint16, state index (pulse count) of every
    #                      device; None with the pair state (`pair`)
    done: jax.Array  # (B,) bool, converged at some epoch so far
    count: jax.Array  # (B,) int32, epochs evaluated without convergence (= updates applied)
    error: jax.Array  # (B,) float, error of the last epoch evaluated (0 once converged)
    eta: jax.Array | None  # (rows, cols, B) float, siemens, accumulated c2c noise
    depressed: jax.Array | None  # (rows, cols, B) bool, on the depression branch
    eps: jax.Array | None = None  # (rows, cols, B) float, siemens, curve noise eps_d[n] now
    relaxed: jax.Array | None = None  # (rows, cols, B) float, siemens, relaxed part w (relax)
    pair: jax.Array | None = None  # (rows, neurons, B) uint16/uint32, n+ L + n- of every
    #                                synapse (`Model.pair_state`), in place of `n`


class Fixed(NamedTuple):
    """What is fixed for each crossbar during training (lanes last)."""

    shifts: jax.Array  # (rows, cols, B) float, siemens, device-to-device shifts
    stuck: jax.Array | None  # (rows, cols, B) bool, stuck devices
    word: jax.Array  # (B,) uint32, the crossbar's counter-RNG word (crossbar_jax.rng)
    point: Point  # scalars () or (B,) lanes
    a_plus: jax.Array  # () or (B,): atanh(t+)
    a_minus: jax.Array  # () or (B,): atanh(t-)
    unit: jax.Array  # () float, a runtime 1.0 (see `_codes`)
    base: jax.Array | None = None  # (rows, cols, B) uint32, c L: the device's curve c of a pool
    top: jax.Array | None = None  # (rows, cols, B) count dtype, L_c - 1: its curve's last point


def count_dtype(length: int):
    """The narrowest unsigned type for state indices 0..L-1 (uint8 for curves up to 255 points;
    the update reads and writes a quarter of int32's bytes)."""
    return jnp.uint8 if length <= 255 else jnp.uint16 if length <= 65535 else jnp.uint32


def make_fixed(shifts, stuck, word, point: Point, unit, base=None, top=None) -> Fixed:
    a_plus, a_minus = atanh_thresholds(point)
    return Fixed(shifts, stuck, word, point, a_plus, a_minus, unit, base, top)


def init_lanes(fixed: Fixed, model: Model) -> Lanes:
    """Untrained devices: n = 0 (stuck-high devices n = L-1), no noise, potentiation branch."""
    shape = fixed.shifts.shape
    dt = count_dtype(model.length)
    n = jnp.zeros(shape, dt)
    if model.stuck and model.stuck_high:
        top = fixed.top if model.pool else jnp.asarray(model.length - 1, dt)
        n = jnp.where(fixed.stuck, top, n)
    pair = None
    if model.pair_state:
        n, pair = None, pair_indices(n, model.length)
    batch = shape[-1]
    return Lanes(
        n=n,
        done=jnp.zeros((batch,), bool),
        count=jnp.zeros((batch,), jnp.int32),
        error=jnp.full((batch,), jnp.nan, fixed.shifts.dtype),
        eta=jnp.zeros(shape, fixed.shifts.dtype) if model.c2c else None,
        depressed=jnp.zeros(shape, bool) if model.bidirectional else None,
        eps=jnp.zeros(shape, fixed.shifts.dtype) if model.curve_noise else None,
        relaxed=jnp.zeros(shape, fixed.shifts.dtype) if model.relax else None,
        pair=pair,
    )


def epoch(lanes: Lanes, fixed: Fixed, curves: Curves, model: Model, e, *, with_error: bool,
          live=None):  # fmt: skip
    """One epoch of every lane: (new lanes, this epoch's error (B,) or None).

    Lanes that converge now get no pulse; `count` counts the epochs without convergence. With
    `live` (a traced bool) False the epoch changes nothing: the runner's GPU loop runs epochs
    in blocks and masks those past the stage's end.
    """
    if model.online:  # one update per training pattern: crossbar_jax.online
        return online_epoch(lanes, fixed, curves, model, e, with_error=with_error, live=live)
    bits, labels = model.train_bits, model.train_labels
    lookup = not model.per_device_lookup  # exact reads through the pair table
    if lookup:
        w = synapse_weights(lanes, fixed, curves, model)
        xs = weight_currents(w, fixed, model, bits)
    else:
        xs = beta_currents(lanes, fixed, curves, model, bits, fixed.word, READ_STREAM, e)
    conv, ups, downs = decode_codes(update_codes(xs, bits, labels, fixed, model), model)
    if live is not None:
        conv = conv & live
    done = lanes.done | conv
    update = ~done if live is None else ~done & live
    if model.pair_state:
        n, pair = None, pulse_pairs(lanes, ups, downs, update, model)
        eta, depressed, eps = lanes.eta, lanes.depressed, lanes.eps
    else:
        n, eta, depressed, eps = pulse_lanes(lanes, fixed, ups, downs, update, model, e)
        pair = None
    # Divided by the runtime 1.0, the error is one loop of its own in every program that
    # computes it (history or not): the same fusion gives the same floats, bit for bit. It
    # reads its currents from behind a barrier: without one XLA fuses it into the update's
    # loops and the history's epochs ran slower (0.92M against 1.16M trainings/s). With the
    # pair lookup the barrier is on the weights and the error sums them again, so the update's
    # loops compute their currents in place instead of reading them back (the same floats:
    # the same sums of the same weights).
    err = None
    if with_error:
        xe = (weight_currents(lax.optimization_barrier(w), fixed, model, bits) if lookup
              else lax.optimization_barrier(xs))  # fmt: skip
        err = lane_error(xe, labels, fixed) / fixed.unit
    error = lanes.error
    if with_error:
        error = jnp.where(lanes.done, error, jnp.where(conv, jnp.zeros_like(err), err))
    new = Lanes(n, done, lanes.count + update.astype(jnp.int32), error, eta, depressed, eps,
                pair=pair)  # fmt: skip
    if model.relax:  # the epoch's interval: volatile parts relax (crossbar_jax.device)
        new = new._replace(relaxed=relax_lanes(new._replace(relaxed=lanes.relaxed), fixed, curves,
                                               model, update))  # fmt: skip
    return new, err


def conductances(lanes: Lanes, fixed: Fixed, curves: Curves, model: Model):
    """Final conductances ``G = k (b(n) - g[0] + s + eta)`` (siemens), (rows, cols, B)."""
    g = device_values(lanes, fixed, curves, model)
    return fixed.point.k * jnp.stack([jnp.stack(row) for row in g])


def accuracy(lanes: Lanes, fixed: Fixed, curves: Curves, model: Model):
    """Fraction of held-out patterns whose every neuron output is right, per lane (B,).

    Output 1 when f >= t+, 0 when f <= t-, undecided (wrong) otherwise, as
    `crossbar_jax.evaluate.predict`; each held-out pattern is read once (noisy if on). As in
    training, f = tanh(x) is never computed: f >= t+ exactly when x >= atanh(t+).
    """
    batch = lanes.done.shape[0]
    if not model.test_bits:
        return jnp.full((batch,), jnp.nan, jnp.float32)
    xs = beta_currents(lanes, fixed, curves, model, model.test_bits, fixed.word, EVAL_STREAM, 0)
    count = None
    for row, lab in zip(xs, model.test_labels, strict=True):
        right = None
        for x, y in zip(row, lab, strict=True):
            # right: output 1 (f >= t+) for label 1, output 0 (f <= t-, so f < t+) for label 0
            ok = (x >= fixed.a_plus) if y else (x <= fixed.a_minus)
            right = ok if right is None else right & ok
        c = right.astype(jnp.float32)
        count = c if count is None else count + c
    return count / np.float32(len(model.test_bits))
