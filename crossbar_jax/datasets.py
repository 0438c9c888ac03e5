"""Pattern-classification tasks: binary input patterns and the label of each neuron.

The default is the 4-bit task of Prezioso et al. (Nature 2015) as simulated for a 4x4 crossbar:
six training patterns, two neurons, and the other ten 4-bit patterns held out for testing.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Dataset", "FOUR_BIT", "LETTERS", "letters_dataset", "make_dataset", "validate_dataset"]


class Dataset(NamedTuple):
    """A binary classification task for a crossbar perceptron.

    Rows of the crossbar = inputs per pattern; neurons = label columns (two crossbar columns each).
    """

    train_patterns: np.ndarray  # (P, rows) int8 in {0, 1}: input bits -> voltages v1/v0
    train_labels: np.ndarray  # (P, neurons) int8 in {0, 1}: wanted output of each neuron
    test_patterns: np.ndarray  # (Q, rows) int8 in {0, 1}
    test_labels: np.ndarray  # (Q, neurons) int8 in {0, 1}
    name: str = "dataset"

    @property
    def rows(self) -> int:
        return int(self.train_patterns.shape[1])

    @property
    def neurons(self) -> int:
        return int(self.train_labels.shape[1])

    @property
    def cols(self) -> int:
        return 2 * self.neurons


def _bits(s: str) -> list[int]:
    return [int(ch) for ch in s]


def validate_dataset(patterns, labels, *, key: str = "dataset") -> tuple[np.ndarray, np.ndarray]:
    """Check one (patterns, labels) pair and return them as int8 arrays.

    Raises:
        ValueError: naming `key`, when patterns are not a 2-D binary array, labels are not a
            2-D binary array, or the numbers of patterns differ.
    """
    try:
        x = np.asarray(patterns, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{key}: patterns and labels must be arrays of 0/1 ({exc})") from None
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(
            f"{key}.patterns: expected a 2-D array (patterns, rows) of 0/1, got shape {x.shape}"
        )
    if y.ndim != 2 or y.shape[1] < 1:
        raise ValueError(
            f"{key}.labels: expected a 2-D array (patterns, neurons) of 0/1, got shape {y.shape}"
        )
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{key}.labels: {y.shape[0]} label rows for {x.shape[0]} patterns; "
            "each pattern needs one label per neuron"
        )
    for what, arr in (("patterns", x), ("labels", y)):
        bad = ~np.isin(arr, (0.0, 1.0))
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{key}.{what}: must be binary (0 or 1), got {arr[idx]!r} at index {idx}"
            )
    return x.astype(np.int8), y.astype(np.int8)


def make_dataset(
    train_patterns, train_labels, test_patterns=None, test_labels=None, name: str = "dataset"
) -> Dataset:
    """Build a checked `Dataset`; patterns may be given as bit strings like ``"0110"``."""

    def as_rows(p, key):
        if isinstance(p, str):
            raise ValueError(f"{key}={p!r}: expected a list of patterns, e.g. ['0110', '1001']")
        rows = list(p) if not isinstance(p, np.ndarray) else p
        for r in rows:
            if isinstance(r, str) and set(r) - {"0", "1"}:
                raise ValueError(f"{key}: bit string {r!r} may hold only 0 and 1")
        return [_bits(r) if isinstance(r, str) else r for r in rows]

    xp, yp = validate_dataset(
        as_rows(train_patterns, "train_patterns"), train_labels, key="dataset.train"
    )
    if test_patterns is None or len(test_patterns) == 0:
        xq = np.zeros((0, xp.shape[1]), np.int8)
        yq = np.zeros((0, yp.shape[1]), np.int8)
    else:
        if test_labels is None:
            raise ValueError("test_labels: test_patterns were given without their labels")
        xq, yq = validate_dataset(
            as_rows(test_patterns, "test_patterns"), test_labels, key="dataset.test"
        )
        if xq.shape[1] != xp.shape[1] or yq.shape[1] != yp.shape[1]:
            raise ValueError(
                f"dataset.test: patterns/labels of shape {xq.shape}/{yq.shape} do not match the "
                f"training set's {xp.shape[1]} rows and {yp.shape[1]} neurons"
            )
    return Dataset(xp, yp, xq, yq, name)


FOUR_BIT = make_dataset(
    ["0001", "0010", "0110", "1001", "1101", "1110"],
    [[0, 1], [1, 0], [1, 0], [0, 1], [0, 1], [1, 0]],
    ["0000", "0011", "0100", "0101", "0111", "1000", "1010", "1011", "1100", "1111"],
    [[0, 0], [0, 0], [1, 0], [0, 0], [1, 0], [0, 1], [0, 0], [0, 1], [0, 0], [0, 0]],
    name="four_bit",
)


# Stylised 3x3 letters of Prezioso et al. (Nature 2015), row-major pixels (1 = dark).
LETTER_PIXELS = {
    "z": (1, 1, 1, 0, 1, 0, 1, 1, 1),
    "v": (1, 0, 1, 1, 0, 1, 0, 1, 0),
    "n": (1, 1, 1, 1, 0, 1, 1, 0, 1),
}


def letters_dataset(holdout_per_letter: int = 3, seed: int = 0, bias: bool = True) -> Dataset:
    """The 3x3 letters task in the manner of Prezioso et al. (Nature 2015).

    Each letter (z, v, n) and its nine single-pixel-flip variants give 30 patterns; one neuron
    per letter (one-hot labels). A constant bias input (bit 1, so voltage v1) is appended as a
    tenth row, giving a 10x6 crossbar. For a held-out evaluation, `holdout_per_letter` flip
    variants of each letter, chosen by a permutation seeded with `seed`, form the test set; the
    clean letters are always in the training set.

    Args:
        holdout_per_letter: flip variants per letter kept out of training (0..9).
        seed: seed of the NumPy permutation that picks them.
        bias: append the constant bias row.
    """
    if (
        isinstance(holdout_per_letter, bool)
        or not isinstance(holdout_per_letter, (int, np.integer))
        or not 0 <= holdout_per_letter <= 9
    ):
        raise ValueError(
            f"dataset.holdout_per_letter={holdout_per_letter!r}: must be an integer in 0..9"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r}: expected an integer >= 0 (the split's seed)")
    rng = np.random.default_rng(seed)
    train_x, train_y, test_x, test_y = [], [], [], []
    for m, pixels in enumerate(LETTER_PIXELS.values()):
        label = [1 if j == m else 0 for j in range(len(LETTER_PIXELS))]
        clean = np.array(pixels)
        held = set(rng.permutation(9)[:holdout_per_letter].tolist())
        train_x.append(clean)
        train_y.append(label)
        for i in range(9):
            variant = clean.copy()
            variant[i] = 1 - variant[i]
            (test_x if i in held else train_x).append(variant)
            (test_y if i in held else train_y).append(label)

    def with_bias(rows):
        rows = np.array(rows, dtype=np.int8).reshape(-1, 9)
        if bias:
            rows = np.concatenate([rows, np.ones((rows.shape[0], 1), np.int8)], axis=1)
        return rows

    return make_dataset(
        with_bias(train_x),
        train_y,
        with_bias(test_x) if test_x else None,
        test_y if test_y else None,
        name="letters",
    )


LETTERS = letters_dataset()
