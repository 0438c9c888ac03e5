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

__all__ = ["curve_offsets", "lookup_conductance", "apply_pulses"]


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
