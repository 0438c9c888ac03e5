"""Online (per-pattern) Manhattan training: one update after every training pattern.

Prezioso et al. (IEDM 2015) trained crossbars in situ both ways: batch (the reference,
ALGORITHM.md: one pulse per device per epoch, in the sign of the gradient summed over every
pattern) and online, the stochastic per-pattern mode. An online epoch of one crossbar:

1. Read every training pattern. Converged when every neuron meets its target on every pattern
   (judged at the start of the epoch, as in batch mode); a converged crossbar gets no pulse and
   stays converged. The epoch's error is this read's, as in batch mode.
2. Otherwise, for each pattern p in turn (in the dataset's order, or shuffled every epoch with
   ``training.shuffle``): read p with the devices as they are now, and give every synapse one
   pulse in the sign of that pattern's gradient, ``sign(v_r(p) (T_m(p) - f_m(p)) sech^2)``:
   P pulses per device per epoch at most. The first step uses the read of step 1 (the devices
   have not moved since); every later step is a read of its own.

The gradient sign of one pattern is ``sign(v_r) sign(T - f)`` wherever sech^2 > 0 (|beta I| up
to `crossbar_jax.manhattan.SECH2_ZERO_ABOVE`, zero beyond, as the float64 reference), computed
with the batch kernel's operations, so a one-pattern training set gives exactly the batch run.

Random numbers (crossbar_jax.rng): the order of epoch e is the ranking of P uniforms of stream
`SHUFFLE_STREAM` at epoch e; the read noise of step j > 0 is stream `ONLINE_READ_STREAM` at
counter word e P + j, and the cycle-to-cycle noise of step j's pulses is `C2C_STREAM` at e P + j
(for P = 1: the batch run's words). Every number is a function of the crossbar alone.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from crossbar_jax import rng
from crossbar_jax.device import device_values, pulse_lanes, relax_lanes, synapse_weights
from crossbar_jax.forward import adc_scale, beta_currents, chain_sum, grouped_sum, read_logic
from crossbar_jax.manhattan import SECH2_ZERO_ABOVE, lane_error, target_met

__all__ = ["online_epoch", "pattern_order", "pattern_currents", "pattern_directions"]


def pattern_order(word, n_patterns: int, e):
    """Epoch e's pattern order of every lane: sel[j][p] (B,) bool, pattern p is step j.

    The rank of P uniforms of the crossbar's shuffle stream (ties broken by index): a uniform
    random permutation, the same for a crossbar whatever its batch, chunk or device.
    """
    u = rng.uniforms(rng.stream_word(word, rng.SHUFFLE_STREAM, e), n_patterns, jnp.float32)
    u = [u[p] for p in range(n_patterns)]
    ranks = []
    for p in range(n_patterns):
        before = [(u[q] < u[p]) if q > p else (u[q] <= u[p]) for q in range(n_patterns) if q != p]
        ranks.append(chain_sum([b.astype(jnp.int32) for b in before]) if before else 0 * u[p])
    return [[ranks[p] == j for p in range(n_patterns)] for j in range(n_patterns)]


def _sum(values, bits, v0, v1):
    """``sum_r v_r values_r`` with v_r = v1 on 1-bits, v0 on 0-bits; `bits` static (0/1) or per
    lane (bool arrays). The per-lane form adds exact zeros in place of the other group's terms,
    so it gives `crossbar_jax.forward.grouped_sum`'s floats."""
    if all(isinstance(b, (bool, int, np.integer)) for b in bits):
        return grouped_sum(values, bits, v0, v1)
    zero = jnp.zeros_like(values[0])
    ones = chain_sum([jnp.where(b, v, zero) for v, b in zip(values, bits, strict=True)])
    zeros = chain_sum([jnp.where(b, zero, v) for v, b in zip(values, bits, strict=True)])
    return v1 * ones + v0 * zeros


def pattern_currents(lanes, fixed, curves, model, bits, word, stream, e):
    """x = beta I of every neuron for one pattern per lane (`bits`: list over rows, static or
    (B,) bool): a list over neurons of (B,) lanes; read noise and the ADC as
    `crossbar_jax.forward.beta_currents`."""
    p = fixed.point
    if not model.per_device_lookup:
        w = synapse_weights(lanes, fixed, curves, model)
        scale = p.beta * p.k
        return [scale * _sum([w[r][m] for r in range(model.rows)], bits, p.v0, p.v1)
                for m in range(model.neurons)]  # fmt: skip
    g = device_values(lanes, fixed, curves, model)
    z = None
    if model.read:
        n_z = model.neurons * (2 if model.adc else 1)
        z = rng.normals(rng.stream_word(word, stream, e), n_z, g[0][0].dtype)
        z = [z[j] for j in range(z.shape[0])]
    adc = adc_scale(fixed, curves, model) if model.adc else None
    out = []
    for m in range(model.neurons):
        ip = p.k * _sum([g[r][2 * m] for r in range(model.rows)], bits, p.v0, p.v1)
        im = p.k * _sum([g[r][2 * m + 1] for r in range(model.rows)], bits, p.v0, p.v1)
        out.append(p.beta * read_logic(ip, im, z, m, p, adc))
    return out


def pattern_directions(x, label, bits, fixed, rows: int):
    """One neuron's update for one pattern: lists over rows (up, down) of (B,) bool.

    ``delta = (T - f) sech^2(x)`` has the sign of ``T (1 + u) - sign(x) (1 - u)``, u = e^{-2|x|}
    (the batch kernel's `crossbar_jax.manhattan.lane_directions` for one pattern, less its
    positive factors), and is 0 where the float64 reference's sech^2 is. `label` is static or
    (B,) bool; the row's voltage has the sign of v1 on a 1-bit and of v0 on a 0-bit.
    """
    p = fixed.point
    a = jnp.abs(x)
    u = jnp.exp(-2.0 * a)
    if isinstance(label, (bool, int, np.integer)):
        t = p.positive_target if label else p.negative_target
    else:
        t = jnp.where(label, p.positive_target, p.negative_target)
    d = t * (1.0 + u) - jnp.sign(x) * (1.0 - u)
    d = jnp.where(a <= SECH2_ZERO_ABOVE, d, jnp.zeros_like(d))
    up, down = [], []
    for r in range(rows):
        v = (p.v1 if bits[r] else p.v0) if isinstance(bits[r], (bool, int, np.integer)) else (
            jnp.where(bits[r], p.v1, p.v0))  # fmt: skip
        total = v * d
        up.append(total > 0)
        down.append(total < 0)
    return up, down


def online_epoch(lanes, fixed, curves, model, e, *, with_error: bool, live=None):
    """`crossbar_jax.kernel.epoch` in online mode: (new lanes, this epoch's error or None)."""
    bits, labels = model.train_bits, model.train_labels
    n_pat = len(bits)
    xs = beta_currents(lanes, fixed, curves, model, bits, fixed.word, rng.READ_STREAM, e)
    conv = None
    for row, lab in zip(xs, labels, strict=True):
        for x, y in zip(row, lab, strict=True):
            ok = target_met(x, y, fixed)
            conv = ok if conv is None else conv & ok
    if live is not None:
        conv = conv & live
    done = lanes.done | conv
    update = ~done if live is None else ~done & live
    err = lane_error(xs, labels, fixed) / fixed.unit if with_error else None
    error = lanes.error
    if with_error:
        error = jnp.where(lanes.done, error, jnp.where(conv, jnp.zeros_like(err), err))
    order = pattern_order(fixed.word, n_pat, e) if model.shuffle else None
    step0 = jnp.asarray(e, jnp.uint32) * np.uint32(n_pat)
    s = lanes
    for j in range(n_pat):
        if order is None:
            b, lab = bits[j], labels[j]
            x = xs[j]
        else:
            sel = order[j]
            b = [_any([sel[q] for q in range(n_pat) if bits[q][r]], sel[0])
                 for r in range(model.rows)]  # fmt: skip
            lab = [_any([sel[q] for q in range(n_pat) if labels[q][m]], sel[0])
                   for m in range(model.neurons)]  # fmt: skip
            x = None
            if j == 0:  # the start-of-epoch read of the pattern this step takes
                x = list(xs[0])
                for q in range(1, n_pat):
                    x = [jnp.where(sel[q], xq, xm) for xq, xm in zip(xs[q], x, strict=True)]
        if j > 0:
            x = pattern_currents(s, fixed, curves, model, b, fixed.word, rng.ONLINE_READ_STREAM,
                                 step0 + np.uint32(j))  # fmt: skip
        ups, downs = [], []
        for m in range(model.neurons):
            up, down = pattern_directions(x[m], lab[m], b, fixed, model.rows)
            ups.append(up)
            downs.append(down)
        n, eta, depressed, eps = pulse_lanes(s, fixed, ups, downs, update, model,
                                             step0 + np.uint32(j))  # fmt: skip
        s = s._replace(n=n, eta=eta, depressed=depressed, eps=eps)
    new = s._replace(done=done, count=lanes.count + update.astype(jnp.int32), error=error)
    if model.relax:  # the epoch's interval, after its last pattern step
        new = new._replace(relaxed=relax_lanes(new, fixed, curves, model, update))
    return new, err


def _any(flags, like):
    """The OR of (B,) bool flags; False lanes when there are none."""
    if not flags:
        return jnp.zeros_like(like)
    out = flags[0]
    for f in flags[1:]:
        out = out | f
    return out
