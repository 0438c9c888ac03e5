"""The forward pass of the crossbar perceptron (Prezioso et al., Nature 2015).

Input bits become row voltages, each column's current is the sum of voltage times conductance
(Ohm's and Kirchhoff's laws), each neuron reads the difference of its two columns, and its
output is ``tanh(beta * I)``.
"""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["ordered_sum", "pattern_voltages", "column_currents", "logic_currents", "activations", "forward"]


def ordered_sum(x, axis: int):
    """Sum along `axis` as a fixed left-to-right chain of additions.

    A reduction or a tiny matrix product may be regrouped by the compiler differently for
    different batch sizes; a written-out chain is not, so a crossbar's floats do not depend on
    the batch or chunk it runs in. The axes summed here have a handful of elements.
    """
    x = jnp.moveaxis(x, axis, 0)
    total = x[0]
    for i in range(1, x.shape[0]):
        total = total + x[i]
    return total


def pattern_voltages(patterns, v0, v1):
    """Row voltages (volts): v1 where a bit is 1, v0 where it is 0. (P, rows)."""
    return jnp.where(patterns == 1, v1, v0)


def column_currents(voltages, conductances):
    """Column currents ``i_c = sum_r v_r G[r, c]`` in amperes: (P, rows) x (rows, cols) -> (P, cols)."""
    return ordered_sum(voltages[:, :, None] * conductances[None, :, :], axis=1)


def logic_currents(currents):
    """Differential neuron currents ``I_m = i_{2m} - i_{2m+1}`` (amperes): (P, cols) -> (P, M)."""
    return currents[..., 0::2] - currents[..., 1::2]


def activations(logic, beta):
    """Neuron outputs ``tanh(beta * I)``; beta in 1/ampere. Returns (f, beta * I)."""
    x = beta * logic
    return jnp.tanh(x), x


def forward(voltages, conductances, beta):
    """Outputs of every neuron for every pattern: (f, beta*I), each (P, M)."""
    return activations(logic_currents(column_currents(voltages, conductances)), beta)
