"""The forward pass of the crossbar perceptron (Prezioso et al., Nature 2015).

Input bits become row voltages, each column's current is the sum of voltage times conductance
(Ohm's and Kirchhoff's laws), each neuron reads the difference of its two columns, and its
output is ``tanh(beta * I)``.

The array functions take one crossbar, (rows, cols) conductances, or many with the crossbars on
extra trailing axes, (rows, cols, B). The batch runner calls the entry-wise core,
`neuron_logic_currents`, on per-crossbar "lanes" (arrays of shape (B,)): every operation is then
elementwise across crossbars, which XLA vectorises and fuses into one loop per neuron.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from crossbar_jax import rng
from crossbar_jax.device import device_values, synapse_weights

__all__ = [
    "ordered_sum",
    "chain_sum",
    "pattern_voltages",
    "neuron_logic_currents",
    "column_currents",
    "logic_currents",
    "activations",
    "forward",
    "grouped_sum",
    "signed_sum",
    "beta_currents",
    "read_logic",
    "adc_scale",
    "adc_quantize",
]


def chain_sum(terms):
    """``((t0 + t1) + t2) + ...``: a fixed left-to-right chain of additions."""
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def ordered_sum(x, axis: int):
    """Sum along `axis` as a fixed left-to-right chain of additions.

    A reduction or a tiny matrix product may be regrouped by the compiler differently for
    different batch sizes; a written-out chain is not, so a crossbar's floats do not depend on
    the batch or chunk it runs in. The axes summed here have a handful of elements.
    """
    return chain_sum([lax.index_in_dim(x, i, axis, keepdims=False) for i in range(x.shape[axis])])


def pattern_voltages(patterns, v0, v1):
    """Row voltages (volts): v1 where a bit is 1, v0 where it is 0. (P, rows)."""
    return jnp.where(patterns == 1, v1, v0)


def neuron_logic_currents(voltages, g_plus, g_minus):
    """One neuron's logic current ``I(p) = sum_r v_r(p) G+[r] - sum_r v_r(p) G-[r]`` (amperes).

    Args:
        voltages: (P, rows) volts.
        g_plus, g_minus: the neuron's two columns, sequences over rows of conductances in
            siemens (scalars, or per-crossbar arrays of one shape).
    Returns:
        A list over patterns of currents, each shaped like one conductance.
    """
    n_patterns, rows = voltages.shape
    return [
        chain_sum([voltages[p, r] * g_plus[r] for r in range(rows)])
        - chain_sum([voltages[p, r] * g_minus[r] for r in range(rows)])
        for p in range(n_patterns)
    ]


def column_currents(voltages, conductances):
    """Column currents ``i_c = sum_r v_r G[r, c]`` in amperes.

    Args:
        voltages: (P, rows) volts.
        conductances: (rows, cols, *batch) siemens.
    Returns:
        (P, cols, *batch).
    """
    v = jnp.reshape(voltages, voltages.shape + (1,) * (conductances.ndim - 1))
    return ordered_sum(v * conductances[None], axis=1)


def logic_currents(currents):
    """Differential neuron currents ``I_m = i_{2m} - i_{2m+1}`` (amperes).

    (P, cols, *batch) -> (P, M, *batch).
    """
    return currents[:, 0::2] - currents[:, 1::2]


def activations(logic, beta):
    """Neuron outputs ``tanh(beta * I)``; beta in 1/ampere. Returns (f, beta * I)."""
    x = beta * logic
    return jnp.tanh(x), x


def forward(voltages, conductances, beta):
    """Outputs of every neuron for every pattern: (f, beta*I), each (P, M, *batch).

    The same floats as `neuron_logic_currents` then `activations`.

    Args:
        voltages: (P, rows) volts.
        conductances: (rows, cols, *batch) siemens; column 2m is G+ and 2m+1 is G- of neuron m.
        beta: activation gain in 1/ampere, a scalar or one per crossbar (*batch).
    """
    return activations(logic_currents(column_currents(voltages, conductances)), beta)


# -- lanes: B crossbars on the minor axis (crossbar_jax.kernel's Lanes and Fixed) -------------


def grouped_sum(values, bits, v0, v1):
    """``v1 * (sum of values on 1-bits) + v0 * (sum on 0-bits)``: sum_r v_r(p) values_r."""
    ones = [v for v, b in zip(values, bits, strict=True) if b]
    zeros = [v for v, b in zip(values, bits, strict=True) if not b]
    if ones and zeros:
        return v1 * chain_sum(ones) + v0 * chain_sum(zeros)
    return v1 * chain_sum(ones) if ones else v0 * chain_sum(zeros)


def signed_sum(values, bits):
    """``(sum of values on 1-bits) - (sum on 0-bits)``: sum_r v_r(p) values_r / v1 when
    v0 = -v1. Only additions: no product for the compiler to contract into an FMA, so the
    floats are the same in every program, whatever XLA fuses."""
    ones = [v for v, b in zip(values, bits, strict=True) if b]
    zeros = [v for v, b in zip(values, bits, strict=True) if not b]
    if ones and zeros:
        return chain_sum(ones) - chain_sum(zeros)
    return chain_sum(ones) if ones else -chain_sum(zeros)


def weight_currents(w, fixed, model, bits):
    """x = beta * I of every (pattern, neuron) from the synapse weights ``w = (G+ - G-) / k``
    ([r][m] lists of (B,) lanes, `crossbar_jax.device.synapse_weights`): exact reads."""
    p = fixed.point
    if model.symmetric:
        scale = p.beta * p.k * p.v1
        return [
            [scale * signed_sum([w[r][m] for r in range(model.rows)], b)
             for m in range(model.neurons)]
            for b in bits
        ]  # fmt: skip
    scale = p.beta * p.k
    return [
        [scale * grouped_sum([w[r][m] for r in range(model.rows)], b, p.v0, p.v1)
         for m in range(model.neurons)]
        for b in bits
    ]  # fmt: skip


def beta_currents(lanes, fixed, curves, model, bits, word=None, stream=rng.READ_STREAM, e=0):
    """x = beta * I of every (pattern, neuron): a [p][m] list of (B,) lanes.

    With read noise, every column current of every read gets its own ``1 + read_noise z``.
    """
    p = fixed.point
    if not model.per_device_lookup:
        return weight_currents(synapse_weights(lanes, fixed, curves, model), fixed, model, bits)
    g = device_values(lanes, fixed, curves, model)
    z = None
    if model.read:
        n_z = len(bits) * model.neurons * (2 if model.adc else 1)  # an ADC reads each column
        z = rng.fast_normals(rng.stream_word(word, stream, e), n_z, g[0][0].dtype)
        z = [z[j] for j in range(z.shape[0])]
    adc = adc_scale(fixed, curves, model) if model.adc else None
    out = []
    for q, b in enumerate(bits):
        row = []
        for m in range(model.neurons):
            ip = p.k * grouped_sum([g[r][2 * m] for r in range(model.rows)], b, p.v0, p.v1)
            im = p.k * grouped_sum([g[r][2 * m + 1] for r in range(model.rows)], b, p.v0, p.v1)
            row.append(p.beta * read_logic(ip, im, z, q * model.neurons + m, p, adc))
        out.append(row)
    return out


def read_logic(ip, im, z, j, p, adc=None):
    """The logic current ``i+ - i-`` (amperes) of one (pattern, neuron) read from its two
    column currents: with read noise (normals `z`, read j) and through an ADC (`adc_scale`,
    None: exact reads)."""
    if adc is not None:
        if z is not None:  # the ADC digitises each noisy column current: a normal per column
            ip = ip * (1.0 + p.read_noise * z[2 * j])
            im = im * (1.0 + p.read_noise * z[2 * j + 1])
        return adc_quantize(ip, adc) - adc_quantize(im, adc)
    logic = ip - im
    if z is not None:
        # Each column read as i (1 + read_noise z_c), z_c independent: the logic current
        # i+ - i- then has exactly the law of (i+ - i-) + read_noise sqrt(i+^2 + i-^2) z,
        # one normal per (pattern, neuron) instead of two.
        logic = logic + p.read_noise * jnp.sqrt(ip * ip + im * im) * z[j]
    return logic


def adc_scale(fixed, curves, model):
    """(1/step, step, q_max) of every lane's ADC (amperes): a mid-tread uniform quantizer of
    2 q_max + 1 levels, q_max = 2^(bits-1) - 1, over [-R, R].

    R is ``device.adc.range`` when given (> 0), else the largest current a column of this
    crossbar can carry: every row at the larger |voltage| with every device at the top of its
    curve (the pool's or the depression branch's top, if higher) plus the crossbar's largest
    shift, ``R = max(|v0|, |v1|) rows k (max_n (g[n] - g[0]) + max s)``. At the reference's
    lognormal min-max shifts, max s is device.shift.high.
    """
    p = fixed.point
    top = jnp.max(curves.pool_offsets if model.pool else curves.offsets)
    if model.branches:
        top = jnp.maximum(top, jnp.max(curves.dep_offsets))
    shifts = fixed.shifts
    s_max = jnp.max(shifts.reshape((-1,) + shifts.shape[2:]), axis=0)
    v_max = jnp.maximum(jnp.abs(p.v0), jnp.abs(p.v1))
    auto = v_max * model.rows * p.k * (top + s_max)
    full = jnp.where(p.adc_range > 0, p.adc_range, auto)
    q_max = 2.0 ** (p.adc_bits - 1.0) - 1.0
    return q_max / full, full / q_max, q_max


def adc_quantize(i, adc):
    """Current `i` (amperes) read by the ADC `adc_scale`: the nearest level (ties to even),
    clipped to [-R, R]."""
    inv, step, q_max = adc
    return step * jnp.clip(jnp.round(i * inv), -q_max, q_max)
