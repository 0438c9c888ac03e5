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
* **No tanh for convergence.** f > t+ exactly when x = beta I > atanh(t+).
* **One exp per pattern for the update.** With a = |x|, a_min the smallest live a of the
  neuron and u = exp(-2 a) = w exp(-2 a_min), ``(T - tanh x) sech^2 x`` is, up to a positive
  factor per neuron, ``w (T (1 + u) - sign(x) (1 - u)) / (1 + u)^3``. Terms the float64
  reference has at exactly 0 (|x| > 355.58, where its cosh^2 overflows) are 0 here too, and
  nothing under- or overflows in float32.
* **The error only where it is reported**: every epoch for a history, else once, in the last
  (peeled) epoch.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from crossbar_jax import rng
from crossbar_jax.model import Curves, Model, Point, atanh_thresholds

__all__ = ["Lanes", "Fixed", "init_lanes", "epoch", "final_epoch", "accuracy", "conductances"]

# |beta * I| above which the float64 reference's 1/cosh^2 is exactly 0 (its cosh^2 overflows).
SECH2_ZERO_ABOVE = 355.58

# Counter streams of the in-loop noise (crossbar_jax.rng).
READ_STREAM = 0
C2C_STREAM = 1
EVAL_STREAM = 2


class Lanes(NamedTuple):
    """What the epoch loop carries for B crossbars (lanes last). None: effect off."""

    n: jax.Array  # (rows, cols, B) uint8/uint16, state index (pulse count) of every device
    done: jax.Array  # (B,) bool, converged at some epoch so far
    count: jax.Array  # (B,) int32, epochs evaluated without convergence (= updates applied)
    error: jax.Array  # (B,) float, error of the last epoch evaluated (0 once converged)
    eta: jax.Array | None  # (rows, cols, B) float, siemens, accumulated c2c noise
    depressed: jax.Array | None  # (rows, cols, B) bool, on the depression branch


class Fixed(NamedTuple):
    """What is fixed for each crossbar during training (lanes last)."""

    shifts: jax.Array  # (rows, cols, B) float, siemens, device-to-device shifts
    stuck: jax.Array | None  # (rows, cols, B) bool, stuck devices
    word: jax.Array  # (B,) uint32, the crossbar's counter-RNG word (crossbar_jax.rng)
    point: Point  # scalars () or (B,) lanes
    a_plus: jax.Array  # () or (B,): atanh(t+)
    a_minus: jax.Array  # () or (B,): atanh(t-)
    unit: jax.Array  # () float, a runtime 1.0 (see `_codes`)


def count_dtype(length: int):
    """The narrowest unsigned type for state indices 0..L-1 (uint8 for curves up to 255 points;
    the update reads and writes a quarter of int32's bytes)."""
    return jnp.uint8 if length <= 255 else jnp.uint16 if length <= 65535 else jnp.uint32


def make_fixed(shifts, stuck, word, point: Point, unit) -> Fixed:
    a_plus, a_minus = atanh_thresholds(point)
    return Fixed(shifts, stuck, word, point, a_plus, a_minus, unit)


def init_lanes(fixed: Fixed, model: Model) -> Lanes:
    """Untrained devices: n = 0 (stuck-high devices n = L-1), no noise, potentiation branch."""
    shape = fixed.shifts.shape
    dt = count_dtype(model.length)
    n = jnp.zeros(shape, dt)
    if model.stuck and model.stuck_high:
        n = jnp.where(fixed.stuck, jnp.asarray(model.length - 1, dt), n)
    batch = shape[-1]
    return Lanes(
        n=n,
        done=jnp.zeros((batch,), bool),
        count=jnp.zeros((batch,), jnp.int32),
        error=jnp.full((batch,), jnp.nan, fixed.shifts.dtype),
        eta=jnp.zeros(shape, fixed.shifts.dtype) if model.c2c else None,
        depressed=jnp.zeros(shape, bool) if model.bidirectional else None,
    )


def _chain(terms):
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def _device_values(lanes: Lanes, fixed: Fixed, curves: Curves, model: Model):
    """Per-device ``g[n] - g[0] + s (+ eta)`` (siemens), a [r][c] list of (B,) lanes."""
    rows, cols = model.rows, model.cols
    idx = lanes.n.astype(jnp.uint32)
    base = curves.offsets[idx]
    if model.branches:
        base = jnp.where(lanes.depressed, curves.dep_offsets[(model.length - 1) - idx], base)
    g = base + fixed.shifts
    if model.c2c:
        g = g + lanes.eta
    return [[g[r, c] for c in range(cols)] for r in range(rows)]


def _synapse_weights(lanes: Lanes, fixed: Fixed, curves: Curves, model: Model):
    """Per-synapse ``(G+ - G-) / k`` (siemens), a [r][m] list of (B,) lanes (pair lookup)."""
    length = model.length
    n = lanes.n.astype(jnp.uint32)
    pair = n[:, 0::2] * length + n[:, 1::2]
    d = curves.pair_table[pair] + (fixed.shifts[:, 0::2] - fixed.shifts[:, 1::2])
    if model.c2c:
        d = d + (lanes.eta[:, 0::2] - lanes.eta[:, 1::2])
    return [[d[r, m] for m in range(model.neurons)] for r in range(model.rows)]


def _grouped(values, bits, v0, v1):
    """``v1 * (sum of values on 1-bits) + v0 * (sum on 0-bits)``: sum_r v_r(p) values_r."""
    ones = [v for v, b in zip(values, bits, strict=True) if b]
    zeros = [v for v, b in zip(values, bits, strict=True) if not b]
    if ones and zeros:
        return v1 * _chain(ones) + v0 * _chain(zeros)
    return v1 * _chain(ones) if ones else v0 * _chain(zeros)


def beta_currents(lanes, fixed, curves, model: Model, bits, word=None, stream=READ_STREAM, e=0):
    """x = beta * I of every (pattern, neuron): a [p][m] list of (B,) lanes.

    With read noise, every column current of every read gets its own ``1 + read_noise z``.
    """
    p = fixed.point
    if not model.per_device_lookup:
        w = _synapse_weights(lanes, fixed, curves, model)
        scale = p.beta * p.k
        return [
            [scale * _grouped([w[r][m] for r in range(model.rows)], b, p.v0, p.v1)
             for m in range(model.neurons)]
            for b in bits
        ]  # fmt: skip
    g = _device_values(lanes, fixed, curves, model)
    z = None
    if model.read:
        z = rng.normals(rng.stream_word(word, stream, e), len(bits) * model.neurons, g[0][0].dtype)
        z = [z[j] for j in range(z.shape[0])]
    out = []
    for q, b in enumerate(bits):
        row = []
        for m in range(model.neurons):
            ip = p.k * _grouped([g[r][2 * m] for r in range(model.rows)], b, p.v0, p.v1)
            im = p.k * _grouped([g[r][2 * m + 1] for r in range(model.rows)], b, p.v0, p.v1)
            logic = ip - im
            if z is not None:
                # Each column read as i (1 + read_noise z_c), z_c independent: the logic current
                # i+ - i- then has exactly the law of (i+ - i-) + read_noise sqrt(i+^2 + i-^2) z,
                # one normal per (pattern, neuron) instead of two.
                logic = (
                    logic + p.read_noise * jnp.sqrt(ip * ip + im * im) * z[q * model.neurons + m]
                )
            row.append(p.beta * logic)
        out.append(row)
    return out


def _success(x, label, fixed: Fixed):
    return x > fixed.a_plus if label else x < fixed.a_minus


def _reciprocal_1_2(d):
    """1/d for d in [1, 2] by Newton's iteration, without a division.

    A division per pattern makes XLA materialise every pattern's term in a loop of its own
    (it counts divisions as expensive and will not fuse them into the several row sums), which
    recomputes the currents once per pattern. Newton's iteration from the linear estimate
    48/17 - 32/17 (d/2) on [0.5, 1] converges quadratically: 3 steps reach float32 precision
    (relative error < 3e-10), 4 reach float64's.
    """
    h = 0.5 * d
    r = 48.0 / 17.0 - (32.0 / 17.0) * h
    steps = 4 if d.dtype == jnp.float64 else 3
    for _ in range(steps):
        r = r * (2.0 - h * r)
    return 0.5 * r


def _directions(xs, labels_m, bits, fixed: Fixed, rows: int):
    """One neuron's update signs per row: lists (up, down) of (B,) bool."""
    p = fixed.point
    a = [jnp.abs(x) for x in xs]
    live = [ap <= SECH2_ZERO_ABOVE for ap in a]
    a_min = jnp.where(live[0], a[0], jnp.inf)
    for ap, lp in zip(a[1:], live[1:], strict=True):
        a_min = jnp.minimum(a_min, jnp.where(lp, ap, jnp.inf))
    a_min = jnp.where(jnp.isfinite(a_min), a_min, jnp.zeros_like(a_min))
    e_min = jnp.exp(-2.0 * a_min)
    deltas = []
    for x, ap, lp, label in zip(xs, a, live, labels_m, strict=True):
        w = jnp.where(lp, jnp.exp(-2.0 * (ap - a_min)), jnp.zeros_like(ap))
        u = w * e_min
        t = p.positive_target if label else p.negative_target
        one = 1.0 + u
        r = _reciprocal_1_2(one)
        deltas.append(w * (t * one - jnp.sign(x) * (1.0 - u)) * (r * r * r))
    up, down = [], []
    for r in range(rows):
        total = _grouped(deltas, [b[r] for b in bits], p.v0, p.v1)
        up.append(total > 0)
        down.append(total < 0)
    return up, down


def _error(xs_all, labels, fixed: Fixed):
    """The epoch error (ALGORITHM.md): sum over patterns and neurons of the misses."""
    p = fixed.point
    terms = []
    for xs, lab in zip(xs_all, labels, strict=True):
        for x, y in zip(xs, lab, strict=True):
            f = jnp.tanh(x)
            ok = _success(x, y, fixed)
            miss = (p.positive_target - f) if y else (f - p.negative_target)
            terms.append(jnp.where(ok, jnp.zeros_like(f), miss))
    return _chain(terms)


def _pulse(lanes: Lanes, fixed: Fixed, up, down, update, model: Model, e):
    """Apply one Manhattan update: (rows, cols, B) new state indices (and noise, branch)."""
    rows = model.rows
    pot = (
        jnp.stack(
            [
                jnp.stack([x for m in range(model.neurons) for x in (up[m][r], down[m][r])])
                for r in range(rows)
            ]
        )
        & update
    )  # fmt: skip  (rows, cols, B); dW > 0 pulses G+, dW < 0 pulses G-
    dep = None
    if model.bidirectional:
        dep = jnp.stack(
            [jnp.stack([x for m in range(model.neurons) for x in (down[m][r], up[m][r])])
             for r in range(rows)]
        ) & update  # fmt: skip
    if model.stuck:
        pot = pot & ~fixed.stuck
        dep = None if dep is None else dep & ~fixed.stuck
    n = lanes.n
    top = jnp.asarray(model.length - 1, n.dtype)
    if dep is None:
        new_n = jnp.minimum(n + pot.astype(n.dtype), top)
        pulsed, depressed = pot, lanes.depressed
    else:
        one = jnp.asarray(1, n.dtype)
        new_n = jnp.where(pot, jnp.minimum(n + one, top), jnp.where(dep & (n > 0), n - one, n))
        pulsed = pot | dep
        depressed = jnp.where(pot, False, dep | lanes.depressed)
    eta = lanes.eta
    if model.c2c:
        shape = eta.shape
        word = rng.stream_word(fixed.word, C2C_STREAM, e)
        if model.bidirectional:  # both devices of a synapse may be pulsed: a normal each
            z = rng.normals(word, shape[0] * shape[1], eta.dtype).reshape(shape)
        else:  # one device of a synapse at most: one normal per synapse serves both
            zs = rng.normals(word, model.rows * model.neurons, eta.dtype)
            z = jnp.repeat(zs.reshape(model.rows, model.neurons, -1), 2, axis=1)
        eta = eta + jnp.where(pulsed, fixed.point.c2c_std * z, jnp.zeros_like(eta))
    return new_n, eta, depressed


def _rows_per_code(dtype) -> int:
    """Rows whose two update bits fit one code word with the convergence bit: the code is a
    float, exact for integers below 2^(mantissa+1); 11 rows for float32, 15 for float64."""
    return min(np.finfo(dtype).nmant // 2, 15)


def _codes(xs, bits, labels, fixed: Fixed, model: Model):
    """Each neuron's update codes: a list (neurons) of lists (row blocks) of (B,) floats.

    Bit 0: the neuron meets its target on every pattern; bits 2r+1 / 2r+2 (r within the
    block): synapse (r, m) is to be potentiated (pulse G+) / depressed (pulse G-). Each code
    is divided by `fixed.unit`, a runtime 1.0: the division is exact, but XLA counts it as
    expensive, so it computes a neuron's whole epoch (currents, exponentials, gradient signs)
    once per crossbar in one fused loop instead of re-inlining it into every consumer of the
    code (measured: 12 recomputing loops per epoch without it, 2.1x slower).
    """
    dtype = jnp.dtype(model.dtype)
    block = _rows_per_code(dtype)
    codes = []
    for m in range(model.neurons):
        col = [xs[q][m] for q in range(len(bits))]
        lab = [labels[q][m] for q in range(len(bits))]
        conv = None
        for x, y in zip(col, lab, strict=True):
            ok = _success(x, y, fixed)
            conv = ok if conv is None else conv & ok
        up, down = _directions(col, lab, bits, fixed, model.rows)
        blocks = []
        for r0 in range(0, model.rows, block):
            code = jnp.where(conv, 1.0, 0.0).astype(dtype)
            for r in range(r0, min(r0 + block, model.rows)):
                bit = 2 * (r - r0) + 1
                code = code + jnp.where(up[r], 2.0**bit, jnp.where(down[r], 2.0 ** (bit + 1), 0.0))
            blocks.append(code / fixed.unit)
        codes.append(blocks)
    return codes


def _decode(codes, model: Model):
    """(converged (B,), up [m][r] (B,) bool, down [m][r] (B,) bool) from the codes."""
    block = _rows_per_code(jnp.dtype(model.dtype))
    ints = [[c.astype(jnp.int32) for c in blocks] for blocks in codes]
    conv = None
    ups, downs = [], []
    for blocks in ints:
        ok = (blocks[0] & 1) == 1
        conv = ok if conv is None else conv & ok
        ups.append([((blocks[r // block] >> (2 * (r % block) + 1)) & 1) == 1
                    for r in range(model.rows)])  # fmt: skip
        downs.append([((blocks[r // block] >> (2 * (r % block) + 2)) & 1) == 1
                      for r in range(model.rows)])  # fmt: skip
    return conv, ups, downs


def epoch(lanes: Lanes, fixed: Fixed, curves: Curves, model: Model, e, *, with_error: bool):
    """One epoch of every lane: (new lanes, this epoch's error (B,) or None).

    Lanes that converge now get no pulse; `count` counts the epochs without convergence.
    """
    bits, labels = model.train_bits, model.train_labels
    xs = beta_currents(lanes, fixed, curves, model, bits, fixed.word, READ_STREAM, e)
    conv, ups, downs = _decode(_codes(xs, bits, labels, fixed, model), model)
    done = lanes.done | conv
    update = ~done
    n, eta, depressed = _pulse(lanes, fixed, ups, downs, update, model, e)
    # Divided by the runtime 1.0 so that the error is one loop of its own in every program that
    # computes it (history or not): the same fusion gives the same floats, bit for bit.
    err = _error(xs, labels, fixed) / fixed.unit if with_error else None
    error = lanes.error
    if with_error:
        error = jnp.where(lanes.done, error, jnp.where(conv, jnp.zeros_like(err), err))
    return (
        Lanes(n, done, lanes.count + update.astype(jnp.int32), error, eta, depressed),
        err,
    )


def final_epoch(lanes: Lanes, fixed: Fixed, curves: Curves, model: Model, e) -> Lanes:
    """The last epoch, peeled: the same update, and the error that the outcome reports."""
    new, _ = epoch(lanes, fixed, curves, model, e, with_error=True)
    return new


def conductances(lanes: Lanes, fixed: Fixed, curves: Curves, model: Model):
    """Final conductances ``G = k (b(n) - g[0] + s + eta)`` (siemens), (rows, cols, B)."""
    g = _device_values(lanes, fixed, curves, model)
    return fixed.point.k * jnp.stack([jnp.stack(row) for row in g])


def accuracy(lanes: Lanes, fixed: Fixed, curves: Curves, model: Model):
    """Fraction of held-out patterns whose every neuron output is right, per lane (B,).

    Output 1 when f >= t+, 0 when f <= t-, undecided (wrong) otherwise, as
    `crossbar_jax.evaluate.predict`; each held-out pattern is read once (noisy if on).
    """
    batch = lanes.done.shape[0]
    if not model.test_bits:
        return jnp.full((batch,), jnp.nan, jnp.float32)
    p = fixed.point
    xs = beta_currents(lanes, fixed, curves, model, model.test_bits, fixed.word, EVAL_STREAM, 0)
    count = None
    for row, lab in zip(xs, model.test_labels, strict=True):
        right = None
        for x, y in zip(row, lab, strict=True):
            f = jnp.tanh(x)
            ok = (f >= p.positive_target) if y else (f <= p.negative_target)
            if y:
                ok = ok  # output 1 is right
            else:
                ok = ok & ~(f >= p.positive_target)
            right = ok if right is None else right & ok
        c = right.astype(jnp.float32)
        count = c if count is None else count + c
    return count / np.float32(len(model.test_bits))
