"""The memristor device model: conductance lookup along the measured curve, and pulses.

Each device (r, c) carries a pulse count n[r, c], the index into the curve g (siemens). Its
conductance is ``G = k * (g[n] - g[0] + s)``: the curve's change since the first point, plus the
device's own shift s (device-to-device variation), times the multiplication factor k that sets
the dynamic range (Shumilin et al., Adv. Electron. Mater. 2024). A pulse moves n one step along
the curve and saturates at its last point.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from crossbar_jax import rng

__all__ = [
    "curve_offsets",
    "lookup_conductance",
    "apply_pulses",
    "device_values",
    "synapse_weights",
    "pair_dtype",
    "pair_indices",
    "pair_counts",
    "device_counts",
    "pulse_pairs",
    "move_pairs",
    "pair_weights",
    "pulse_lanes",
    "curve_noise_step",
    "curve_noise_table",
    "relax_lanes",
]


def curve_offsets(curve, dtype) -> jnp.ndarray:
    """``g - g[0]`` of a curve (siemens), subtracted in float64 before the cast to `dtype`.

    Subtracting first keeps the small pulse-induced changes (tens of nS on a ~500 nS base) exact
    to the target precision, as the float64 reference has them.
    """
    g = np.asarray(curve, dtype=np.float64)
    return jnp.asarray(g - g[0], dtype=dtype)


def lookup_conductance(pulses, offsets, shifts, k):
    """Conductances ``G = k * (offsets[pulses] + shifts)`` in siemens.

    Args:
        pulses: int32 pulse counts (index into the curve), any shape: (rows, cols) for one
            crossbar, (B, rows, cols) or (rows, cols, B) for many.
        offsets: (L,) the curve minus its first point, siemens (see `curve_offsets`).
        shifts: device-to-device shifts of the same shape, siemens.
        k: the multiplication factor (dimensionless): a traced scalar, or one per crossbar
            broadcasting against the trailing batch axis.
    """
    # Unsigned indices: counts are never negative, and XLA then skips NumPy's wrap-around of
    # negative indices (a third of the lookup's cost on CPU).
    return k * (offsets[jnp.asarray(pulses).astype(jnp.uint32)] + shifts)


def apply_pulses(pulses, to_plus, to_minus, length: int):
    """One Manhattan pulse to the chosen devices, saturating at the curve's last point.

    Args:
        pulses: (rows, cols, *batch) int32 pulse counts; column 2m is G+ and 2m+1 is G- of
            neuron m.
        to_plus: (rows, neurons, *batch) bool, pulse device (r, 2m).
        to_minus: (rows, neurons, *batch) bool, pulse device (r, 2m+1).
        length: L, the number of points of the curve; counts stay in 0..L-1.
    """
    rows, neurons = to_plus.shape[:2]
    step = jnp.stack([to_plus, to_minus], axis=2).reshape((rows, 2 * neurons) + to_plus.shape[2:])
    return jnp.minimum(pulses + step.astype(pulses.dtype), length - 1)


# -- lanes: B crossbars on the minor axis (crossbar_jax.kernel's Lanes and Fixed) -------------


def device_values(lanes, fixed, curves, model):
    """Per-device ``g[n] - g[0] + s (+ eta) (+ eps) (- w)`` (siemens), a [r][c] list of (B,)
    lanes; w is the relaxed part of a volatile device (`relax_lanes`)."""
    rows, cols = model.rows, model.cols
    g = _curve_values(lanes, fixed, curves, model) + fixed.shifts
    if model.c2c:
        g = g + lanes.eta
    if model.curve_noise:
        g = g + lanes.eps
    if model.relax:
        g = g - lanes.relaxed
    return [[g[r, c] for c in range(cols)] for r in range(rows)]


def _curve_values(lanes, fixed, curves, model):
    """Every device's ``b(n) - g[0]`` on its curve and branch (siemens), (rows, cols, B)."""
    idx = device_counts(lanes, model).astype(jnp.uint32)
    if model.pool:
        base = curves.pool_offsets[fixed.base + idx]
    else:
        base = curves.offsets[idx]
    if model.branches:
        base = jnp.where(lanes.depressed, curves.dep_offsets[(model.length - 1) - idx], base)
    return base


def relax_lanes(lanes, fixed, curves, model, update):
    """The relaxed part w of every device after one epoch's interval (siemens), (rows, cols, B).

    A fraction f of every pulse's conductance step is volatile: the read conductance jumps by
    the whole step, and the volatile part u then decays as exp(-t/tau) (Shumilin et al. 2024).
    The kernel carries w, the part that has relaxed away (read ``k (g[n] - g[0] + s - w)``):
    the steps telescope, so the volatile part ever added is f P with P = b(n) - g[0] (+ eta)
    (+ eps) the pulses' whole change of the device, u = f P - w, and one interval (u -> d u,
    d = exp(-1/tau)) gives ``w' = d w + (1 - d) f P``. `lanes` are after this epoch's pulses;
    only lanes that still train (`update`) see time pass. f = 0 or tau = inf (d = 1) keep w at
    exactly 0, the ideal device.
    """
    p = fixed.point
    part = _curve_values(lanes, fixed, curves, model)
    if model.c2c:
        part = part + lanes.eta
    if model.curve_noise:
        part = part + lanes.eps
    d = p.relax_decay
    w = lanes.relaxed
    return jnp.where(update, d * w + (1.0 - d) * (p.relax_fraction * part), w)


def pair_dtype(length: int):
    """The narrowest unsigned type for pair indices 0..L^2-1 (uint16 for curves up to 256
    points)."""
    return jnp.uint16 if length * length <= 65536 else jnp.uint32


def pair_indices(n, length: int):
    """Each synapse's pair index ``n+ L + n-`` from its devices' counts (rows, cols, B):
    (rows, neurons, B) in `pair_dtype`."""
    dt = pair_dtype(length)
    n = n.astype(dt)
    return n[:, 0::2] * jnp.dtype(dt).type(length) + n[:, 1::2]


def pair_counts(pair, length: int):
    """The devices' counts (rows, cols, B), columns (G+, G-) of each neuron, from the synapses'
    pair indices (rows, neurons, B)."""
    size = jnp.dtype(pair.dtype).type(length)
    plus = pair // size
    minus = pair - plus * size
    counts = jnp.stack([plus, minus], axis=2).reshape(pair.shape[:1] + (-1,) + pair.shape[2:])
    return counts.astype(jnp.uint8 if length <= 255 else jnp.uint16)


def device_counts(lanes, model):
    """Every device's pulse count n (rows, cols, B), whichever state the lanes carry."""
    return lanes.n if lanes.pair is None else pair_counts(lanes.pair, model.length)


def pulse_pairs(lanes, up, down, update, model):
    """One Manhattan update on the pair state (`crossbar_jax.model.Model.pair_state`): where
    synapse (r, m) is potentiated (`up[m][r]`) n+ moves one point, ``+L``; where depressed,
    n- moves one, ``+1``; a device at the curve's last point stays there, as in
    `pulse_lanes`. Lanes not in `update` keep their state. (rows, neurons, B)."""

    def grid(flags):
        return jnp.stack([jnp.stack([flags[m][r] for m in range(model.neurons)])
                          for r in range(model.rows)]) & update  # fmt: skip

    return move_pairs(lanes.pair, grid(up), grid(down), model.length)


def move_pairs(pair, up, down, length: int):
    """Pair indices ``n+ L + n-`` after one pulse: ``+L`` where `up`, ``+1`` where `down`
    (bool arrays of the pair's shape), a device at the curve's last point staying there."""
    size = jnp.dtype(pair.dtype).type(length)
    one, zero = jnp.ones((), pair.dtype), jnp.zeros((), pair.dtype)
    plus = pair // size
    minus = pair - plus * size
    step = jnp.where(up & (plus < length - 1), size, zero)
    return pair + step + jnp.where(down & (minus < length - 1), one, zero)


def synapse_weights(lanes, fixed, curves, model):
    """Per-synapse ``(G+ - G-) / k`` (siemens), a [r][m] list of (B,) lanes (pair lookup)."""
    length = model.length
    if lanes.pair is not None:  # the pair state: the index as carried
        pair = lanes.pair.astype(jnp.uint32)
    elif model.pool:  # (c+ L + n+) K L + c- L + n-; fixed.base holds c L per device
        n = lanes.n.astype(jnp.uint32)
        width = np.uint32(model.pool * length)
        pair = (fixed.base[:, 0::2] + n[:, 0::2]) * width + (fixed.base[:, 1::2] + n[:, 1::2])
    else:
        n = lanes.n.astype(jnp.uint32)
        pair = n[:, 0::2] * length + n[:, 1::2]
    shifts = fixed.shifts[:, 0::2] - fixed.shifts[:, 1::2]
    d = curves.pool_pair[pair] + shifts if model.pool else pair_weights(pair, shifts, curves)
    if model.c2c:
        d = d + (lanes.eta[:, 0::2] - lanes.eta[:, 1::2])
    if model.curve_noise:
        d = d + (lanes.eps[:, 0::2] - lanes.eps[:, 1::2])
    return [[d[r, m] for m in range(model.neurons)] for r in range(model.rows)]


def pair_weights(pair, shifts, curves):
    """Synapse weights ``T2[n+ L + n-] + (s+ - s-)`` (siemens), (rows, neurons, B), from the
    pair indices and the shift differences s+ - s- (rows, neurons, B). Counts stay in
    0..L-1, so every index is in the table: no clamping per element."""
    return curves.pair_table.at[pair.astype(jnp.uint32)].get(mode="promise_in_bounds") + shifts


def pulse_lanes(lanes, fixed, up, down, update, model, e):
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
    top = fixed.top if model.pool else jnp.asarray(model.length - 1, n.dtype)
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
        word = rng.stream_word(fixed.word, rng.C2C_STREAM, e)
        if model.bidirectional:  # both devices of a synapse may be pulsed: a normal each
            z = rng.fast_normals(word, shape[0] * shape[1], eta.dtype).reshape(shape)
        else:  # one device of a synapse at most: one normal per synapse serves both
            zs = rng.fast_normals(word, model.rows * model.neurons, eta.dtype)
            z = jnp.repeat(zs.reshape(model.rows, model.neurons, -1), 2, axis=1)
        eta = eta + jnp.where(pulsed, fixed.point.c2c_std * z, jnp.zeros_like(eta))
    eps = lanes.eps
    if model.curve_noise:
        eps = curve_noise_step(lanes, fixed, new_n, pot, dep, depressed, model)
    return new_n, eta, depressed, eps


def curve_noise_table(word, rows: int, cols: int, length: int, std, rho, dtype):
    """Every device's whole curve noise eps_d[0..L-1] (siemens), (L, rows, cols, *word.shape).

    The sequence that `curve_noise_step` walks along as the device is potentiated, computed
    with the same operations: eps_d[0] = 0, eps_d[1] = std z_d(1), eps_d[n+1] = rho eps_d[n] +
    std sqrt(1 - rho^2) z_d(n+1). `word` is the crossbar's `crossbar_jax.rng.lane_word`. For
    inspection and tests; the kernel never builds it.
    """
    word = jnp.asarray(word, jnp.uint32)
    lanes = (1,) * word.ndim
    dev = np.arange(rows * cols, dtype=np.uint32).reshape((rows, cols) + lanes)
    w = rng.stream_word(word, rng.CURVE_STREAM, 0)
    std, rho = jnp.asarray(std, dtype), jnp.asarray(rho, dtype)
    out = [jnp.zeros((rows, cols) + word.shape, dtype)]
    for n in range(1, length):
        z = rng.fast_normals_at(w, dev * np.uint32(length) + np.uint32(n + 1), dtype)
        scale = std if n == 1 else std * jnp.sqrt(1 - rho * rho)
        out.append(rho * out[-1] + scale * z)
    return jnp.stack(out)


def curve_noise_step(lanes, fixed, new_n, pot, dep, depressed, model):
    """Every device's own curve noise eps_d at its new state (siemens), (rows, cols, B).

    eps_d[0] = 0 and, along n, eps_d[1] = std z_d(1), eps_d[n+1] = rho eps_d[n] + std
    sqrt(1 - rho^2) z_d(n+1): a stationary Gaussian sequence with lag-1 correlation rho. z_d(n)
    is the counter normal ``rng.fast_normals_at(word, d L + n + 1)`` of the crossbar's word: a pure
    function of (crossbar, device, n), so the same pulse count always reads the same
    conductance, whatever the batch, chunk or epoch. n only increases (potentiation), so the
    carried eps_d[n] and one normal per moving device advance it exactly. With the bidirectional
    update rho is 0 (validated) and eps_d[n] = std z_d(n) is recomputed at the new state; on a
    depression branch of its own (a measured depression curve) the device reads a noise of its
    own, from another stream. Stuck devices do not move and keep eps 0.
    """
    p = fixed.point
    eps = lanes.eps
    length = model.length
    dev = np.arange(model.rows * model.cols, dtype=np.uint32).reshape(model.rows, model.cols, 1)
    word = rng.stream_word(fixed.word, rng.CURVE_STREAM, 0)
    if dep is None:
        # One device of a synapse at most moves: one normal per synapse, at its moving device.
        moved = new_n != lanes.n
        down = pot[:, 1::2]  # G- of the synapse was pulsed (else G+, or none)
        n_syn = jnp.where(down, new_n[:, 1::2], new_n[:, 0::2]).astype(jnp.uint32)
        d_syn = dev[:, 0::2] + down.astype(jnp.uint32)
        z = rng.fast_normals_at(word, d_syn * np.uint32(length) + n_syn + np.uint32(1), eps.dtype)
        z = jnp.repeat(z, 2, axis=1)
        rho = p.curve_noise_correlation
        first = lanes.n == 0  # eps_d[1] = std z: the stationary start (eps_d[0] = 0)
        scale = jnp.where(first, p.curve_noise_std, p.curve_noise_std * jnp.sqrt(1 - rho * rho))
        return jnp.where(moved, rho * eps + scale * z, eps)
    pulsed = pot | dep
    counters = dev * np.uint32(length) + new_n.astype(jnp.uint32) + np.uint32(1)
    z = rng.fast_normals_at(word, counters, eps.dtype)
    if model.branches:
        word_dep = rng.stream_word(fixed.word, rng.CURVE_DEP_STREAM, 0)
        z = jnp.where(depressed, rng.fast_normals_at(word_dep, counters, eps.dtype), z)
        start = (new_n == 0) & ~depressed
    else:
        start = new_n == 0
    value = jnp.where(start, jnp.zeros_like(eps), p.curve_noise_std * z)
    return jnp.where(pulsed, value, eps)
