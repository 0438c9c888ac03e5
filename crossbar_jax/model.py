"""What a run computes: one static model description and one container of traced values.

`Model` holds everything that changes the compiled program (epochs, precision, the dataset,
the curve length, which non-idealities are on); it is hashable and is the key of the runner's
compile cache. `Point` holds every physical number, traced, each a scalar or one value per
crossbar (a grid run as one batch), so a sweep over them never recompiles. Both are built and
validated once, at the public boundary (`make_model`, `make_point`); the kernels trust them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from crossbar_jax.variation import DISTRIBUTIONS, REFERENCE_DISTRIBUTION

__all__ = ["Model", "Point", "Curves", "POINT_FIELDS", "make_model", "make_point", "make_curves"]

# The traced physical values, in the order of `Point`.
POINT_FIELDS = (
    "beta",
    "positive_target",
    "negative_target",
    "k",
    "v0",
    "v1",
    "low",
    "high",
    "division_factor",
    "c2c_std",
    "read_noise",
    "stuck_fraction",
    "curve_noise_std",
    "curve_noise_correlation",
    "adc_bits",
    "adc_range",
    "relax_fraction",
    "relax_decay",
)


class Point(NamedTuple):
    """The traced physical values of a run: each a scalar () or one per crossbar (B,)."""

    beta: Any  # float, 1/ampere: f = tanh(beta * I)
    positive_target: Any  # float, t+ in (-1, 1)
    negative_target: Any  # float, t- in (-1, t+)
    k: Any  # float, dimensionless multiplication factor of the conductances
    v0: Any  # float, volts for input bit 0
    v1: Any  # float, volts for input bit 1
    low: Any  # float, siemens, shift range low end
    high: Any  # float, siemens, shift range high end
    division_factor: Any  # float, spread of the shift distribution (> 0)
    c2c_std: Any  # float, siemens, std of the noise each pulse adds (random walk)
    read_noise: Any  # float, relative std of every column current read
    stuck_fraction: Any  # float in [0, 1], probability that a device is stuck
    curve_noise_std: Any  # float, siemens, std of every device's own fixed curve noise
    curve_noise_correlation: Any  # float in [0, 1), lag-1 autocorrelation of it along n
    adc_bits: Any  # float, bits of the ADC that reads every column current (with model.adc)
    adc_range: Any  # float, amperes, the ADC's full scale +-range; 0: the largest current
    relax_fraction: Any  # float in [0, 1], volatile fraction of every pulse's step
    relax_decay: Any  # float in (0, 1], exp(-1/tau): what a volatile part keeps per epoch


class Model(NamedTuple):
    """The static description of a run (hashable: the compile-cache key)."""

    epochs: int  # E, the most epochs to run
    dtype: str  # "float32" or "float64"
    train_bits: tuple  # (P, rows) 0/1 training inputs
    train_labels: tuple  # (P, M) 0/1 training labels
    test_bits: tuple  # (Q, rows) 0/1 held-out inputs (may be empty)
    test_labels: tuple  # (Q, M) 0/1
    length: int  # L, points of the conductance curve
    distribution: str = REFERENCE_DISTRIBUTION  # shift distribution (crossbar_jax.variation)
    c2c: bool = False  # cycle-to-cycle noise on every pulse
    read: bool = False  # noise on every column current read
    stuck: bool = False  # some devices may be stuck
    stuck_high: bool = False  # stuck devices sit at the last curve point (else the first)
    bidirectional: bool = False  # depress the opposite device of every updated synapse
    branches: bool = False  # a depression curve of its own (else the potentiation mirror)
    curve_noise: bool = False  # every device has its own fixed noise eps_d[n] along its curve
    pool: int = 0  # K, curves in the pool each device draws one of (0: all share the curve)
    symmetric: bool = False  # v0 = -v1 < 0: a row's term is +-v1 (see `forward.beta_currents`)
    adc: bool = False  # every column current is read through an ADC (crossbar_jax.forward)
    relax: bool = False  # part of every pulse's step is volatile (crossbar_jax.device)
    online: bool = False  # update after every pattern (crossbar_jax.online), else per epoch
    shuffle: bool = False  # online: every epoch's pattern order drawn from the crossbar's word

    @property
    def pool_pairs(self) -> bool:
        """Whether a pool's synapse weights come from one pair table over (curve, n) pairs."""
        return self.pool > 0 and (self.pool * self.length) ** 2 <= POOL_PAIR_LIMIT

    @property
    def rows(self) -> int:
        return len(self.train_bits[0])

    @property
    def neurons(self) -> int:
        return len(self.train_labels[0])

    @property
    def cols(self) -> int:
        return 2 * self.neurons

    @property
    def per_device_lookup(self) -> bool:
        """Whether conductances are looked up device by device (else by pair difference)."""
        return (
            self.read
            or self.branches
            or (self.pool > 0 and not self.pool_pairs)
            or self.adc
            or self.relax
        )

    @property
    def pair_state(self) -> bool:
        """Whether the epoch loop carries each synapse's pair index ``n+ L + n-`` instead of
        its two devices' counts: the plain pair-table kernel, where no effect moves or reads a
        device on its own, in batch or online mode (online: while a pattern's bits and labels
        fit one int32 code, `crossbar_jax.online.pattern_codes`). The lookup then reads its
        index as it is (no index arithmetic per gather: measured 9-11 % faster epochs at the
        reference point)."""
        return not (
            self.per_device_lookup
            or self.pool
            or self.stuck
            or self.c2c
            or self.bidirectional
            or self.curve_noise
            or (self.online and self.rows + self.neurons > 31)
        )

    @property
    def has_eval_noise(self) -> bool:
        return self.read


# A pool's pair table holds (K L)^2 differences; above this many entries (16 MiB of float32)
# the weights are looked up device by device instead.
POOL_PAIR_LIMIT = 1 << 22


class Curves(NamedTuple):
    """The conductance curves of a run (traced), all relative to the first point g[0]."""

    offsets: jax.Array  # (L,) float, siemens: g[n] - g[0]
    pair_table: jax.Array  # (L*L,) float, siemens: g[i] - g[j] at i*L + j (rounded once)
    dep_offsets: jax.Array  # (L,) float, siemens: d[j] - g[0] (depression branch); mirror if none
    # A pool of K curves, each padded to L points with its last value (None without a pool):
    pool_offsets: Any = None  # (K*L,) float, siemens: g_c[n] - g_c[0] at c*L + n
    pool_pair: Any = None  # (K*L*K*L,) float: pool_offsets[a] - pool_offsets[b] at a*K*L + b


def _tuple2(a) -> tuple:
    a = np.asarray(a)
    return tuple(tuple(int(v) for v in row) for row in a.reshape(a.shape[0], -1)) if a.size else ()


def make_model(
    *,
    epochs: int,
    dtype,
    dataset,
    length: int,
    distribution: str = REFERENCE_DISTRIBUTION,
    nonideal=None,
    v0: float = -0.1,
    v1: float = 0.1,
) -> Model:
    """The `Model` of a run from validated inputs (a `Dataset`, a `NonIdeal` or None, and the
    input voltages v0, v1 in volts, which choose the symmetric program when v0 = -v1 < 0)."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution={distribution!r}: expected one of {list(DISTRIBUTIONS)}")
    sw = dict(c2c=False, read=False, stuck=False, stuck_high=False, bidirectional=False)
    branches = False
    extra = {}
    if nonideal is not None:
        s = nonideal.switches()
        sw = dict(
            c2c=s.c2c,
            read=s.read,
            stuck=s.stuck,
            stuck_high=s.stuck_high,
            bidirectional=s.bidirectional,
        )
        branches = s.branches
        extra = dict(curve_noise=s.curve_noise, pool=s.pool)
        extra.update(adc=s.adc, relax=s.relax, online=s.online, shuffle=s.shuffle)
        if s.pool:
            length = max(len(c) for c in nonideal.curve_pool)
    test_x = np.asarray(dataset.test_patterns)
    test_y = np.asarray(dataset.test_labels)
    return Model(
        epochs=int(epochs),
        dtype=str(np.dtype(dtype)),
        train_bits=_tuple2(dataset.train_patterns),
        train_labels=_tuple2(dataset.train_labels),
        test_bits=_tuple2(test_x) if test_x.shape[0] else (),
        test_labels=_tuple2(test_y) if test_y.shape[0] else (),
        length=int(length),
        distribution=distribution,
        branches=branches,
        symmetric=bool(float(v1) > 0 and float(v0) == -float(v1)),
        **sw,
        **extra,
    )


def make_point(dtype, **values) -> Point:
    """A `Point` of `dtype` arrays; missing non-ideality magnitudes are 0."""
    defaults = dict(
        v0=-0.1, v1=0.1, low=1e-8, high=1e-7, division_factor=5.0,
        c2c_std=0.0, read_noise=0.0, stuck_fraction=0.0,
        curve_noise_std=0.0, curve_noise_correlation=0.0,
        adc_bits=0.0, adc_range=0.0, relax_fraction=0.0, relax_decay=1.0,
    )  # fmt: skip
    merged = {**defaults, **values}
    return Point(*(jnp.asarray(merged[f], dtype) for f in POINT_FIELDS))


def make_curves(curve, dtype, depression_curve=None, pool=None) -> Curves:
    """Offsets, the pair-difference table and the depression offsets, built in float64.

    The table holds ``g[i] - g[j]`` for every pair of pulse counts, subtracted in float64 and
    rounded once to `dtype`: the kernel reads a synapse's weight (G+ - G-)/k with one gather
    instead of two (measured: the gathers are the epoch's scalar part on CPU).

    With a `pool` (a sequence of K curves), each curve is taken relative to its own first point
    and padded to the longest length L with its last value; the pool's pair table is indexed by
    (curve c, count n) pairs, ``(c+ L + n+) K L + c- L + n-``, which for one curve is the plain
    table's ``n+ L + n-``, value for value.
    """
    g = np.asarray(curve, np.float64)
    off = g - g[0]
    table = (off[:, None] - off[None, :]).ravel()
    dep = off[::-1] if depression_curve is None else np.asarray(depression_curve, np.float64) - g[0]
    if pool is None:
        return Curves(jnp.asarray(off, dtype), jnp.asarray(table, dtype), jnp.asarray(dep, dtype))
    curves = [np.asarray(c, np.float64) for c in pool]
    length = max(c.size for c in curves)
    padded = np.stack([np.pad(c - c[0], (0, length - c.size), mode="edge") for c in curves])
    flat = padded.ravel()
    kl = flat.size
    pair = (flat[:, None] - flat[None, :]).ravel() if kl * kl <= POOL_PAIR_LIMIT else None
    return Curves(
        jnp.asarray(padded[0], dtype),
        jnp.asarray((padded[0][:, None] - padded[0][None, :]).ravel(), dtype),
        jnp.asarray(padded[0][::-1], dtype),
        pool_offsets=jnp.asarray(flat, dtype),
        pool_pair=None if pair is None else jnp.asarray(pair, dtype),
    )


def pool_lengths(nonideal):
    """(K,) int32 points of each curve of a non-ideality's pool, or None without a pool
    (`crossbar_jax.runner.Source.pool_lengths`)."""
    if nonideal is None or nonideal.curve_pool is None:
        return None
    return np.asarray([len(c) for c in nonideal.curve_pool], np.int32)


def atanh_thresholds(point: Point):
    """(atanh(t+), atanh(t-)): f > t+ exactly when beta*I > atanh(t+), so no tanh per epoch."""
    return jnp.arctanh(point.positive_target), jnp.arctanh(point.negative_target)
