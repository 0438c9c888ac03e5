"""Targets, convergence, the epoch error and the Manhattan update rule.

The batch gradient of the squared output error with respect to the weights is reduced to its
sign: every device gets at most one identical pulse per epoch (Prezioso et al., Nature 2015).
A positive sign potentiates the synapse by pulsing G+, a negative sign pulses G- instead.

Like `crossbar_jax.forward`, every function takes one crossbar's (P, M) arrays, or many
crossbars' (P, M, *batch) arrays with the batch on trailing axes. Sums and minima over patterns
are written as fixed chains, so a crossbar's floats never depend on its batch.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from crossbar_jax.forward import chain_sum, grouped_sum, ordered_sum, signed_sum

__all__ = [
    "SECH2_ZERO_ABOVE",
    "pattern_success",
    "residuals",
    "residual_success",
    "epoch_error",
    "residual_misses",
    "residual_error",
    "sech2_ratios",
    "relative_sech2",
    "update_signs",
    "manhattan_direction",
    "live_minimum",
    "target_met",
    "lane_directions",
    "lane_error",
    "update_codes",
    "decode_codes",
]


def _cosh2_overflow_threshold() -> float:
    """Largest |x| at which float64 ``1 / cosh(x)**2`` is still positive (about 355.58)."""
    lo, hi = 300.0, 400.0
    with np.errstate(over="ignore"):
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if 1.0 / np.cosh(mid) ** 2 > 0.0:
                lo = mid
            else:
                hi = mid
    return lo


# The float64 reference computes sech^2 as 1/cosh^2, which is exactly 0 beyond this |beta*I|
# (cosh^2 overflows). Those patterns then contribute nothing to the update; we do the same, in
# every precision, so that the pulse pattern is the reference's.
SECH2_ZERO_ABOVE = _cosh2_overflow_threshold()


def _per_pattern(a, like):
    """A (P, M) label-shaped array broadcast against (P, M, *batch) values."""
    a = jnp.asarray(a)
    return jnp.reshape(a, a.shape + (1,) * (jnp.ndim(like) - a.ndim))


def _is_one(labels, like):
    """Labels as booleans (label 1), broadcast against `like`; bool labels are used as given."""
    labels = jnp.asarray(labels)
    one = labels if labels.dtype == jnp.bool_ else labels == 1
    return _per_pattern(one, like)


def pattern_success(f, labels, positive_target, negative_target):
    """Whether each neuron meets its target on each pattern: f > t+ for label 1, f < t- for 0."""
    one = _per_pattern(labels, f) == 1
    return jnp.where(one, f > positive_target, f < negative_target)


def residuals(f, labels, positive_target, negative_target):
    """``T - f``: each output's distance to its target (t+ for label 1, t- for label 0).

    Labels are 0/1, or booleans (True for label 1).
    """
    return jnp.where(_is_one(labels, f), positive_target - f, negative_target - f)


def residual_success(d, labels):
    """`pattern_success` from the residuals ``d = T - f``: d < 0 for label 1, d > 0 for 0.

    Labels may be given as booleans (True for label 1), as the batch runner does.

    ``f > t+`` holds exactly when the float ``t+ - f`` is negative (a difference of floats is
    exact in sign), so this is the same test. The batch runner uses it so that each tanh has a
    single consumer, which lets XLA keep the whole epoch of a crossbar in one fused loop.
    """
    return jnp.where(_is_one(labels, d), d < 0, d > 0)


def epoch_error(f, labels, success, positive_target, negative_target):
    """Total error of an epoch: (t+ - f) over failed 1-labels plus (f - t-) over failed 0-labels.

    Summed over patterns then neurons in row-major order, as a chain: (P, M, *batch) -> (*batch).
    """
    return residual_error(residuals(f, labels, positive_target, negative_target), labels, success)


def residual_misses(d, labels, success):
    """Each output's contribution to the epoch error, from the residuals ``d = T - f``.

    t+ - f is d and f - t- is -d, exactly; 0 where the output meets its target.
    """
    return jnp.where(success, jnp.zeros_like(d), jnp.where(_is_one(labels, d), d, -d))


def residual_error(d, labels, success):
    """`epoch_error` from the residuals ``d = T - f``."""
    miss = residual_misses(d, labels, success)
    return ordered_sum(jnp.reshape(miss, (-1,) + miss.shape[2:]), axis=0)


def live_minimum(xs):
    """(|x| per pattern, live flags, a_min): the smallest |x| = |beta I| among the patterns whose
    sech^2 the float64 reference has positive (|x| <= `SECH2_ZERO_ABOVE`); 0 if none is."""
    a = [jnp.abs(x) for x in xs]
    live = [ap <= SECH2_ZERO_ABOVE for ap in a]
    a_min = jnp.where(live[0], a[0], jnp.inf)
    for ap, lp in zip(a[1:], live[1:], strict=True):
        a_min = jnp.minimum(a_min, jnp.where(lp, ap, jnp.inf))
    return a, live, jnp.where(jnp.isfinite(a_min), a_min, jnp.zeros_like(a_min))


def sech2_ratios(xs):
    """`relative_sech2` of one neuron, entry-wise: xs is a list over patterns of beta*I values
    (scalars or per-crossbar arrays); returns the list of ratios."""
    a, live, a_min = live_minimum(xs)
    e_min = jnp.exp(-2.0 * a_min)
    ratios = []
    for ap, lp in zip(a, live, strict=True):
        # Dead terms are zeroed before u meets e_min: the product of a select and an
        # exponential is not the product of two exponentials, which XLA's simplifier would
        # fold into one exponential of the sum (different rounding).
        u = jnp.where(lp, jnp.exp(-2.0 * (ap - a_min)), jnp.zeros_like(ap))
        ratios.append(u * ((1.0 + e_min) / (1.0 + u * e_min)) ** 2)
    return ratios


def relative_sech2(x):
    """``sech^2(x_p) / max_p sech^2(x_p)`` per neuron, over patterns (axis 0); (P, M, *batch).

    The Manhattan rule needs only the sign of ``sum_p (T - f) sech^2(beta I) v``, so a common
    positive factor per neuron can be divided out. Scaling by the largest term keeps the
    dominant contributions of order 1 in float32, where ``1/cosh^2`` underflows or overflows
    for |x| above ~44, and it never overflows. Terms the float64 reference has at exactly 0
    (|x| > `SECH2_ZERO_ABOVE`) are 0 here too.

    With ``u = e^{-2(a - a_min)}`` (at most 1) and ``E = e^{-2 a_min}``, ``e^{-2a} = u E`` and
    ``sech^2(a) / sech^2(a_min) = u ((1 + E) / (1 + u E))^2``: one exponential per pattern.
    """
    per_neuron = [sech2_ratios([x[p, m] for p in range(x.shape[0])]) for m in range(x.shape[1])]
    return jnp.stack([jnp.stack([r[p] for r in per_neuron]) for p in range(x.shape[0])])


def update_signs(voltages, ds, xs):
    """One neuron's Manhattan update, entry-wise: ``sign(sum_p v_r(p) (T - f_p) sech^2 ratio)``.

    Args:
        voltages: (P, rows) volts.
        ds: list over patterns of residuals ``T - f``; xs: list over patterns of beta * I.
    Returns:
        A list over rows of signs in {-1, 0, +1}: +1 pulses G+ of synapse r, -1 pulses G-.
    """
    deltas = [d * q for d, q in zip(ds, sech2_ratios(xs), strict=True)]
    n_patterns, rows = voltages.shape
    return [
        jnp.sign(chain_sum([voltages[p, r] * deltas[p] for p in range(n_patterns)]))
        for r in range(rows)
    ]


def manhattan_direction(f, x, labels, voltages, positive_target, negative_target):
    """Sign of the batch weight gradient for every synapse: (rows, M, *batch) in {-1, 0, +1}.

    ``delta_m(p) = (T_m(p) - f_m(p)) beta sech^2(beta I_m(p))``, ``Delta[m, r] = sum_p delta_m(p)
    v_r(p)``, and ``dW[r, m] = sign(Delta[m, r])``. beta > 0 and the per-neuron scale of
    `relative_sech2` do not change the sign, so neither is applied.

    Args:
        f: (P, M, *batch) neuron outputs; x: (P, M, *batch) beta * I; labels: (P, M) in {0, 1};
        voltages: (P, rows) volts.
    """
    d = residuals(f, labels, positive_target, negative_target)
    n_patterns = f.shape[0]
    per_neuron = [
        update_signs(
            voltages, [d[p, m] for p in range(n_patterns)], [x[p, m] for p in range(n_patterns)]
        )
        for m in range(f.shape[1])
    ]
    return jnp.stack([jnp.stack(signs) for signs in per_neuron], axis=1)


# -- lanes: B crossbars on the minor axis (crossbar_jax.kernel's Fixed) -----------------------


def target_met(x, label, fixed):
    return x > fixed.a_plus if label else x < fixed.a_minus


def lane_directions(xs, labels_m, bits, fixed, rows: int, symmetric: bool = False):
    """One neuron's update signs per row: lists (up, down) of (B,) bool. With v0 = -v1 < 0
    (`symmetric`) the sign of ``v1 (S1 - S0)`` is that of S1 - S0: two sums compared.

    With a = |x|, a_min the smallest a of the neuron and u = exp(-2 a) = w exp(-2 a_min),
    ``(T - tanh x) sech^2 x`` is ``4 w e^{-2 a_min} N / (1 + u)^3`` with N = ``T (1 + u) -
    sign(x) (1 - u)``, written as ``A + B u`` with (A, B) = (T - 1, T + 1) for x > 0 and
    (T + 1, T - 1) otherwise (at x = 0 both give 2T). The positive factor per neuron is
    dropped. a_min is taken over every pattern: if the smallest |x| is beyond
    `SECH2_ZERO_ABOVE`, every pattern is, and every term is 0 as in the float64 reference.
    """
    p = fixed.point
    a = [jnp.abs(x) for x in xs]
    a_min = a[0]
    for ap in a[1:]:
        a_min = jnp.minimum(a_min, ap)
    e_min = jnp.exp(-2.0 * a_min)
    deltas = []
    for x, ap, label in zip(xs, a, labels_m, strict=True):
        live = ap <= SECH2_ZERO_ABOVE
        w = jnp.where(live, jnp.exp(-2.0 * (ap - a_min)), jnp.zeros_like(ap))
        u = w * e_min
        t = p.positive_target if label else p.negative_target
        pos = x > 0
        num = jnp.where(pos, t - 1.0, t + 1.0) + jnp.where(pos, t + 1.0, t - 1.0) * u
        one = 1.0 + u
        # One division per pattern: with multi-output fusion XLA keeps it in the neuron's loop
        # (measured faster than a Newton reciprocal there).
        deltas.append(w * num / (one * one * one))
    up, down = [], []
    for r in range(rows):
        on = [d for d, b in zip(deltas, bits, strict=True) if b[r]]
        if symmetric and on and len(on) < len(deltas):
            off = [d for d, b in zip(deltas, bits, strict=True) if not b[r]]
            s1, s0 = chain_sum(on), chain_sum(off)
            up.append(s1 > s0)
            down.append(s1 < s0)
            continue
        if symmetric:
            total = signed_sum(deltas, [b[r] for b in bits])
        else:
            total = grouped_sum(deltas, [b[r] for b in bits], p.v0, p.v1)
        up.append(total > 0)
        down.append(total < 0)
    return up, down


def lane_tanh(x):
    """tanh(x) = sign(x) (1 - u) / (1 + u), u = exp(-2|x|), one exp and one division: in the
    error's loop of its own, under multi-output fusion, the history's epochs ran faster than
    with a Newton reciprocal (which had been faster than XLA:CPU's tanh); accurate to a few
    ulps (the epoch error's tolerance is far wider)."""
    u = jnp.exp(-2.0 * jnp.abs(x))
    return jnp.where(x > 0, 1.0 - u, u - 1.0) / (1.0 + u)


def lane_error(xs_all, labels, fixed):
    """The epoch error (ALGORITHM.md): sum over patterns and neurons of the misses."""
    p = fixed.point
    terms = []
    for xs, lab in zip(xs_all, labels, strict=True):
        for x, y in zip(xs, lab, strict=True):
            f = lane_tanh(x)
            ok = target_met(x, y, fixed)
            miss = (p.positive_target - f) if y else (f - p.negative_target)
            terms.append(jnp.where(ok, jnp.zeros_like(f), miss))
    return chain_sum(terms)


def _rows_per_code(dtype) -> int:
    """Rows whose two update bits fit one code word with the convergence bit: the code is a
    float, exact for integers below 2^(mantissa+1); 11 rows for float32, 15 for float64."""
    return min(np.finfo(dtype).nmant // 2, 15)


def update_codes(xs, bits, labels, fixed, model):
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
            ok = target_met(x, y, fixed)
            conv = ok if conv is None else conv & ok
        up, down = lane_directions(col, lab, bits, fixed, model.rows, model.symmetric)
        blocks = []
        for r0 in range(0, model.rows, block):
            code = jnp.where(conv, 1.0, 0.0).astype(dtype)
            for r in range(r0, min(r0 + block, model.rows)):
                bit = 2 * (r - r0) + 1
                code = code + jnp.where(up[r], 2.0**bit, jnp.where(down[r], 2.0 ** (bit + 1), 0.0))
            blocks.append(code / fixed.unit)
        codes.append(blocks)
    return codes


def decode_codes(codes, model):
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
