"""Classification of held-out patterns with trained conductances.

After training, a neuron's output on a pattern reads 1 when ``f >= t+``, 0 when ``f <= t-`` and
undecided in between. A test pattern counts as correct only when every neuron's output equals
its label; undecided counts as wrong.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from crossbar_jax.forward import forward, pattern_voltages
from crossbar_jax.validation import check_evaluate_args

__all__ = ["UNDECIDED", "Evaluation", "predict", "test_accuracy", "evaluate"]

UNDECIDED = -1


class Evaluation(NamedTuple):
    predictions: np.ndarray  # (B, Q, M) int8: 1, 0, or UNDECIDED (-1)
    accuracy: np.ndarray  # (B,) float: fraction of the Q patterns with every neuron right


def predict(conductances, patterns, beta, positive_target, negative_target, v0, v1):
    """Outputs of one crossbar on patterns: (Q, M) int8 in {1, 0, -1}.

    Args:
        conductances: (rows, cols) trained conductances, siemens (used as they are).
        patterns: (Q, rows) inputs in {0, 1}.
    """
    if not isinstance(conductances, jax.core.Tracer) and not isinstance(patterns, jax.core.Tracer):
        g, x, _ = check_evaluate_args(conductances, patterns)
        conductances, patterns = jnp.asarray(g, jnp.asarray(conductances).dtype), jnp.asarray(x)
    voltages = pattern_voltages(patterns, v0, v1).astype(conductances.dtype)
    f, _ = forward(voltages, conductances, beta)
    out = jnp.where(f >= positive_target, 1, jnp.where(f <= negative_target, 0, UNDECIDED))
    return out.astype(jnp.int8)


def test_accuracy(predictions, labels):
    """Fraction of patterns whose every neuron output equals its label; NaN with no patterns."""
    right = jnp.all(predictions == labels, axis=-1)
    if right.shape[-1] == 0:
        return jnp.full(right.shape[:-1], jnp.nan, jnp.float32)
    return jnp.mean(right.astype(jnp.float32), axis=-1)


test_accuracy.__test__ = False  # not a pytest test despite its name


def evaluate(
    conductances, patterns, labels, *, beta, positive_target, negative_target, v0=-0.1, v1=0.1
) -> Evaluation:
    """Predictions and accuracy of a batch of trained crossbars on held-out patterns.

    Args:
        conductances: (B, rows, cols) siemens, e.g. `TrainResult.conductances`.
        patterns: (Q, rows) in {0, 1}; labels: (Q, M) in {0, 1}.

    Raises:
        ValueError: naming the argument, when the shapes do not fit together (patterns of
            `rows` bits, labels of shape (Q, cols / 2)), a pattern or label is not 0 or 1, or a
            conductance is negative or not finite.
    """
    _, x, y = check_evaluate_args(
        conductances, patterns, labels, beta=beta, positive_target=positive_target,
        negative_target=negative_target, v0=v0, v1=v1,
    )  # fmt: skip
    g = jnp.asarray(conductances)
    x, y = jnp.asarray(x), jnp.asarray(y)
    pred = jax.vmap(predict, in_axes=(0, None, None, None, None, None, None))(
        g, x, beta, positive_target, negative_target, v0, v1
    )
    return Evaluation(np.asarray(pred), np.asarray(test_accuracy(pred, y)))
