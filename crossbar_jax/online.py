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
   have not moved since); every later step is a read of its own, whose currents sum
   ``sign(v_r) w_r`` over the rows in one chain (`_signed`) where v0 = -v1 and no effect reads
   a device on its own.

The gradient sign of one pattern is ``sign(v_r) sign(T - f)`` wherever sech^2 > 0 (|beta I| up
to `crossbar_jax.manhattan.SECH2_ZERO_ABOVE`, zero beyond, as the float64 reference): the steps
compare x with atanh(T), the same sign as the batch kernel's without an exponential
(`pattern_directions`); with one training pattern the only step takes it from the batch
kernel's floats, so a one-pattern training set gives exactly the batch run. Two programs
compute the steps, with the same floats: on the pair
state (`crossbar_jax.model.Model.pair_state`: no effect moves or reads a device on its own)
the steps are unrolled, each a program of its own (`_pair_steps`); with the device counts
(c2c, read noise, stuck devices, ...) the later steps run in a loop (`lax.fori_loop`).

Random numbers (crossbar_jax.rng): the order of epoch e is the ranking of P uniforms of stream
`SHUFFLE_STREAM` at epoch e; the read noise of step j > 0 is stream `ONLINE_READ_STREAM` at
counter word e P + j, and the cycle-to-cycle noise of step j's pulses is `C2C_STREAM` at e P + j
(for P = 1: the batch run's words). Every number is a function of the crossbar alone.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from crossbar_jax import rng
from crossbar_jax.device import (
    device_values,
    move_pairs,
    pair_weights,
    pulse_lanes,
    relax_lanes,
    synapse_weights,
)
from crossbar_jax.forward import (
    adc_scale,
    beta_currents,
    chain_sum,
    grouped_sum,
    read_logic,
    weight_currents,
)
from crossbar_jax.manhattan import SECH2_ZERO_ABOVE, _rows_per_code, lane_error, target_met

__all__ = [
    "online_epoch",
    "pattern_order",
    "pattern_ranks",
    "pattern_currents",
    "pattern_directions",
]


def pattern_ranks(word, n_patterns: int, e):
    """Epoch e's step of every pattern, per lane: a list over patterns of (B,) int32.

    The ranks of P uniforms of the crossbar's shuffle stream (ties broken by index): a uniform
    random permutation, the same for a crossbar whatever its batch, chunk or device.
    """
    w = rng.stream_word(word, rng.SHUFFLE_STREAM, e)
    u = [rng.bits_at(w, p + 1) for p in range(n_patterns)]  # ordered as the uniforms
    ranks = []
    for p in range(n_patterns):
        before = [(u[q] < u[p]) if q > p else (u[q] <= u[p]) for q in range(n_patterns) if q != p]
        zero = jnp.zeros(u[p].shape, jnp.int32)
        ranks.append(chain_sum([b.astype(jnp.int32) for b in before]) if before else zero)
    return ranks


def pattern_order(word, n_patterns: int, e):
    """Epoch e's pattern order of every lane: sel[j][p] (B,) bool, pattern p is step j."""
    ranks = pattern_ranks(word, n_patterns, e)
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


def _signed(values, bits):
    """``sum_r sign(v_r) values_r`` for v0 = -v1, one chain of additions in row order; `bits`
    static (0/1) or per lane (bool arrays), with the same floats. A later pattern step's read
    (the epoch's read sums the 1-rows and the 0-rows apart, as the batch kernel): with the
    pattern per lane (shuffled), half the operations of two sums with zeros in place of the
    other group's terms (a prototype measured 1.04-1.09x the shuffled online epoch loop)."""
    if all(isinstance(b, (bool, int, np.integer)) for b in bits):
        return chain_sum([v if b else -v for v, b in zip(values, bits, strict=True)])
    return chain_sum([jnp.where(b, v, -v) for v, b in zip(values, bits, strict=True)])


def pattern_currents(lanes, fixed, curves, model, bits, word, stream, e):
    """x = beta I of every neuron for one pattern per lane (`bits`: list over rows, static or
    (B,) bool): a list over neurons of (B,) lanes; read noise and the ADC as
    `crossbar_jax.forward.beta_currents`."""
    p = fixed.point
    if not model.per_device_lookup and model.symmetric:
        w = synapse_weights(lanes, fixed, curves, model)
        scale = p.beta * p.k * p.v1
        return [scale * _signed([w[r][m] for r in range(model.rows)], bits)
                for m in range(model.neurons)]  # fmt: skip
    if not model.per_device_lookup:
        w = synapse_weights(lanes, fixed, curves, model)
        scale = p.beta * p.k
        return [scale * _sum([w[r][m] for r in range(model.rows)], bits, p.v0, p.v1)
                for m in range(model.neurons)]  # fmt: skip
    g = device_values(lanes, fixed, curves, model)
    z = None
    if model.read:
        n_z = model.neurons * (2 if model.adc else 1)
        z = rng.fast_normals(rng.stream_word(word, stream, e), n_z, g[0][0].dtype)
        z = [z[j] for j in range(z.shape[0])]
    adc = adc_scale(fixed, curves, model) if model.adc else None
    out = []
    for m in range(model.neurons):
        ip = p.k * _sum([g[r][2 * m] for r in range(model.rows)], bits, p.v0, p.v1)
        im = p.k * _sum([g[r][2 * m + 1] for r in range(model.rows)], bits, p.v0, p.v1)
        out.append(p.beta * read_logic(ip, im, z, m, p, adc))
    return out


def pattern_directions(x, label, bits, fixed, rows: int, *, exact: bool = False):
    """One neuron's update for one pattern: lists over rows (up, down) of (B,) bool.

    ``delta = (T - f) sech^2(x)`` has the sign of ``T - tanh(x)``, that is of ``atanh(T) - x``
    (tanh is increasing), and is 0 where the float64 reference's sech^2 is (|x| above
    `crossbar_jax.manhattan.SECH2_ZERO_ABOVE`); synapse r moves in the sign of v_r delta. The
    comparison needs no exponential (measured: 1.5x the online epoch's speed). With `exact`
    the sign is taken from the batch kernel's own floats, ``T (1 + u) - sign(x) (1 - u)``
    written as ``A + B u`` with u = e^{-2|x|} (`crossbar_jax.manhattan.lane_directions` for
    one pattern, less its positive factors), so that the step of a one-pattern training set is
    the batch update bit for bit; the two differ only where x is within rounding of atanh(T).
    `label` and `bits[r]` are static or traced.
    """
    p = fixed.point
    d = _delta_sign(x, label, fixed, exact=exact)
    up, down = [], []
    for r in range(rows):
        v = (p.v1 if bits[r] else p.v0) if isinstance(bits[r], (bool, int, np.integer)) else (
            jnp.where(bits[r], p.v1, p.v0))  # fmt: skip
        total = v * d
        up.append(total > 0)
        down.append(total < 0)
    return up, down


def _delta_sign(x, label, fixed, *, exact: bool):
    """One neuron's ``delta = (T - f) sech^2(x)`` up to a positive factor, for one pattern:
    ``atanh(T) - x`` as -1, 0 or 1, or with `exact` the batch kernel's ``A + B u``
    (`pattern_directions`); 0 where the float64 reference's sech^2 is. (B,) float."""
    p = fixed.point
    static = isinstance(label, (bool, int, np.integer))
    a = jnp.abs(x)
    if exact:
        u = jnp.exp(-2.0 * a)
        if static:
            t = p.positive_target if label else p.negative_target
        else:
            t = jnp.where(label, p.positive_target, p.negative_target)
        pos = x > 0
        d = jnp.where(pos, t - 1.0, t + 1.0) + jnp.where(pos, t + 1.0, t - 1.0) * u
    else:
        if static:
            at = fixed.a_plus if label else fixed.a_minus
        else:
            at = jnp.where(label, fixed.a_plus, fixed.a_minus)
        d = jnp.where(x < at, 1.0, jnp.where(x > at, -1.0, 0.0)).astype(x.dtype)
    return jnp.where(a <= SECH2_ZERO_ABOVE, d, jnp.zeros_like(d))


def online_epoch(lanes, fixed, curves, model, e, *, with_error: bool, live=None):
    """`crossbar_jax.kernel.epoch` in online mode: (new lanes, this epoch's error or None)."""
    bits, labels = model.train_bits, model.train_labels
    n_pat = len(bits)
    if model.pair_state:  # the weights (rows, neurons, B) as an array: step 0 reads them too
        shifts = fixed.shifts[:, 0::2] - fixed.shifts[:, 1::2]  # siemens
        w = pair_weights(lanes.pair, shifts, curves)
        xs = weight_currents([list(row) for row in w], fixed, model, bits)
    else:
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
    ranks = pattern_ranks(fixed.word, n_pat, e) if model.shuffle else None
    if model.pair_state:
        pair = _pair_steps(lanes.pair, w, shifts, ranks, update, fixed, curves, model)
        new = lanes._replace(pair=pair, done=done, count=lanes.count + update.astype(jnp.int32),
                             error=error)  # fmt: skip
        return new, err
    packed = None
    if ranks is not None and model.rows + model.neurons <= 31:
        # Step j's pattern code (`pattern_codes`) per lane, (P, B): the loop then reads its
        # step's pattern with one dynamic index.
        codes = pattern_codes(model)
        packed = jnp.stack([_step_code(ranks, codes, j, ranks[0]) for j in range(n_pat)])
    step0 = jnp.asarray(e, jnp.uint32) * np.uint32(n_pat)

    def pattern(j):
        """Step j's pattern: (bits over rows, labels over neurons), static, traced or per lane."""
        if ranks is None:
            if isinstance(j, int):
                return bits[j], labels[j]
            row = jnp.asarray(np.asarray(bits, bool))[j]
            lab = jnp.asarray(np.asarray(labels, bool))[j]
            return [row[r] for r in range(model.rows)], [lab[m] for m in range(model.neurons)]
        sel = [r == j for r in ranks] if isinstance(j, int) or packed is None else None
        if packed is not None:  # the step's pattern code, then its bits
            code = packed[j]
            b = [((code >> r) & 1) == 1 for r in range(model.rows)]
            lab = [((code >> (model.rows + m)) & 1) == 1 for m in range(model.neurons)]
            return b, lab, sel
        b = [_any([sel[q] for q in range(n_pat) if bits[q][r]], sel[0]) for r in range(model.rows)]
        lab = [_any([sel[q] for q in range(n_pat) if labels[q][m]], sel[0])
               for m in range(model.neurons)]  # fmt: skip
        return b, lab, sel

    def pulse(s, x, b, lab, j):
        ups, downs = [], []
        for m in range(model.neurons):
            up, down = pattern_directions(x[m], lab[m], b, fixed, model.rows,
                                          exact=n_pat == 1)  # fmt: skip
            up, down = _through_codes(up, down, fixed, model)
            ups.append(up)
            downs.append(down)
        n, eta, depressed, eps = pulse_lanes(s, fixed, ups, downs, update, model,
                                             step0 + jnp.asarray(j, jnp.uint32))  # fmt: skip
        return s._replace(n=n, eta=eta, depressed=depressed, eps=eps)

    # Step 0 reads nothing new: the devices are as the start-of-epoch read saw them.
    first = pattern(0)
    x = list(xs[0])
    if ranks is not None:
        for q in range(1, n_pat):
            x = [jnp.where(first[2][q], xq, xm) for xq, xm in zip(xs[q], x, strict=True)]
    s = pulse(lanes, x, first[0], first[1], 0)

    def body(j, state):
        # A loop over the later steps keeps each step's device states in memory: unrolled, XLA
        # recomputed the chain of earlier pulses inside every later step's gather and emitted
        # that loop as scalar code (measured: 0.1 of the batch epoch's speed).
        s = s0._replace(n=state[0], eta=state[1], depressed=state[2], eps=state[3])
        b, lab = pattern(j)[:2]
        x = pattern_currents(s, fixed, curves, model, b, fixed.word, rng.ONLINE_READ_STREAM,
                             step0 + j.astype(jnp.uint32))  # fmt: skip
        s = pulse(s, x, b, lab, j)
        return (s.n, s.eta, s.depressed, s.eps)

    s0 = s
    if n_pat > 1:
        state = lax.fori_loop(1, n_pat, body, (s.n, s.eta, s.depressed, s.eps))
        s = s._replace(n=state[0], eta=state[1], depressed=state[2], eps=state[3])
    new = s._replace(done=done, count=lanes.count + update.astype(jnp.int32), error=error)
    if model.relax:  # the epoch's interval, after its last pattern step
        new = new._replace(relaxed=relax_lanes(new, fixed, curves, model, update))
    return new, err


# -- the pair state (`crossbar_jax.model.Model.pair_state`) -----------------------------------


def pattern_codes(model) -> list[int]:
    """Each training pattern's bits and labels as one integer: bit r is row r's input, bit
    rows + m neuron m's label (rows + neurons <= 31, see `Model.pair_state`)."""
    return [sum(int(v) << i for i, v in enumerate(list(b) + list(y)))
            for b, y in zip(model.train_bits, model.train_labels, strict=True)]  # fmt: skip


def _step_code(ranks, codes, j: int, like):
    """(B,) int32: the code (`pattern_codes`) of the pattern that step j trains, per lane. In
    the dataset's order (`ranks` None) a constant; shuffled, the pattern whose rank is j."""
    if ranks is None:
        return jnp.full(like.shape, codes[j], jnp.int32)
    zero = jnp.zeros(like.shape, jnp.int32)
    return chain_sum([jnp.where(rank == j, np.int32(c), zero)
                      for rank, c in zip(ranks, codes, strict=True)])  # fmt: skip


def _unpack(code, model):
    """A step's (bits (rows, B), labels (neurons, B)) bool from its codes (B,)."""
    rows = np.arange(model.rows, dtype=np.int32)[:, None]
    neurons = np.arange(model.neurons, dtype=np.int32)[:, None] + model.rows
    return ((code[None] >> rows) & 1) == 1, ((code[None] >> neurons) & 1) == 1


def _own_program(make, fixed):
    """`make()` as a program of its own: a conditional on the runtime 1.0, always taken, which
    XLA neither fuses across nor folds away. Its result is in memory when the next loop reads
    it (see `_pair_steps`)."""
    out = jax.eval_shape(make)
    return lax.cond(fixed.unit > 0, make, lambda: jnp.zeros(out.shape, out.dtype))


def _row_signs(code, fixed, model):
    """sign(v_r) of a step's pattern, (rows, B) int8."""
    p = fixed.point
    bits = _unpack(code, model)[0]
    return jnp.where(bits, jnp.sign(p.v1).astype(jnp.int8), jnp.sign(p.v0).astype(jnp.int8))


def _pair_pulse(pair, d, signs, model):
    """One step's pulses on the pair state: synapse (r, m) moves up where v_r d_m > 0, down
    where v_r d_m < 0 (d (neurons, B) int8, 0 where a lane does not train; `signs` sign(v_r),
    `_row_signs`)."""
    t = signs[:, None, :] * d[None]
    return move_pairs(pair, t > 0, t < 0, model.length)


def _pair_directions(w, code, update, fixed, model, *, first: bool):
    """A step's delta signs (neurons, B) int8 from its synapses' weights w (rows, neurons, B),
    `crossbar_jax.device.pair_weights`, with `pattern_currents`' floats: the `first` step's
    currents are the epoch's read (the 1-rows and the 0-rows summed apart, with exact zeros
    for the other group's terms: the floats of `crossbar_jax.forward`'s static sums), a later
    step's `_signed`'s chain where v0 = -v1. The sign is taken as `pattern_directions` takes
    it, from the batch kernel's floats for a one-pattern training set."""
    p = fixed.point
    bits, labels = _unpack(code, model)
    rows, b = list(w), list(bits[:, None, :])
    if not model.symmetric:
        x = (p.beta * p.k) * _sum(rows, b, p.v0, p.v1)
    elif first:  # the 1-rows less the 0-rows: `crossbar_jax.forward.signed_sum`'s floats
        x = (p.beta * p.k * p.v1) * _sum(rows, b, -1.0, 1.0)
    else:
        x = (p.beta * p.k * p.v1) * _signed(rows, b)
    d = _delta_sign(x, labels, fixed, exact=len(model.train_bits) == 1)
    return jnp.where(update, jnp.sign(d), jnp.zeros_like(d)).astype(jnp.int8)


def _pair_steps(pair, w, shifts, ranks, update, fixed, curves, model):
    """The epoch's pattern steps on the pair state: the synapses' pair indices after them.

    `w` are the weights of the start-of-epoch read (`crossbar_jax.device.pair_weights`), which
    step 0 reuses: the devices have not moved since. The steps are unrolled, each a program of
    its own (`_own_program`) of three vectorised loops over the lanes: the table lookup
    (scalar loads), the neurons' delta signs (a program of its own too) and the pulses.
    Measured on
    the 2-core Zen 4, epoch loop of the 4-bit task at the reference point in chunks of
    262,144: 1.22M trainings/s; 0.80M without the boundary around the signs (XLA summed a
    neuron's currents again for each of its 2 x rows devices), 0.50M without the one around
    each step (it fused one step's pulses into the next step's lookup). In a `lax.fori_loop`
    instead of unrolled, the step index read inside the loops kept LLVM from vectorising
    them (0.12-0.23M); a step counter per lane instead left 0.41-0.59M. The device-count
    steps below ran at 0.72M (in chunks of 32,768, their best). Summing the currents inside
    the lookup's loop left that loop scalar (0.65-0.75x the shuffled epoch loop); the lookup
    stays a loop of its own, its loads scalar (XLA:CPU emits no vector gathers on AVX-512).
    """
    codes = pattern_codes(model)
    steps = [_step_code(ranks, codes, j, update) for j in range(len(codes))]

    def step(pair, w, code, first):
        d = _own_program(lambda: _pair_directions(w, code, update, fixed, model, first=first),
                         fixed)  # fmt: skip
        return _pair_pulse(pair, d, _row_signs(code, fixed, model), model)

    def later(pair, code):
        return step(pair, pair_weights(pair, shifts, curves), code, False)

    pair = step(pair, w, steps[0], True)
    for code in steps[1:]:
        pair = _own_program(lambda pair=pair, c=code: later(pair, c), fixed)
    return pair


def _through_codes(up, down, fixed, model):
    """One neuron's update signs, passed through float codes divided by the runtime 1.0 (as
    `crossbar_jax.manhattan.update_codes` does): XLA then computes the neuron's currents and
    signs once per lane in a loop of their own. Without it, under multi-output fusion, it fused
    them (the weight gathers included) into the update of each of the 2 x rows devices
    (`benchmarks/throughput.py` put online training at 0.05 of the ideal rate)."""
    dtype = jnp.dtype(model.dtype)
    block = _rows_per_code(dtype)
    ups, downs = [], []
    for r0 in range(0, len(up), block):
        code = jnp.zeros(up[0].shape, dtype)
        for r in range(r0, min(r0 + block, len(up))):
            bit = 2 * (r - r0)
            code = code + jnp.where(up[r], 2.0**bit, jnp.where(down[r], 2.0 ** (bit + 1), 0.0))
        # A reduction (of the code and an exact 0) is a loop XLA does not fuse into its consumer.
        code = jnp.sum(jnp.stack([code / fixed.unit, jnp.zeros_like(code)]), axis=0)
        code = code.astype(jnp.int32)
        for r in range(r0, min(r0 + block, len(up))):
            bit = 2 * (r - r0)
            ups.append(((code >> bit) & 1) == 1)
            downs.append(((code >> (bit + 1)) & 1) == 1)
    return ups, downs


def _any(flags, like):
    """The OR of (B,) bool flags; False lanes when there are none."""
    if not flags:
        return jnp.zeros_like(like)
    out = flags[0]
    for f in flags[1:]:
        out = out | f
    return out
