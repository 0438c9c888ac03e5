"""Device non-idealities beyond the reference model, as per-crossbar kernels.

The reference (ALGORITHM.md) has one non-ideality, a static shift per device. Real crossbars
also vary from pulse to pulse, are read with noise, have stuck devices, and are trained with
pulses of both polarities (Prezioso et al., Nature 521, 61 (2015)). Every option here is off by
default; with all of them off the general engine (`crossbar_jax.general_engine`) computes the
reference model with exactly the fast engine's floats.

The device model, extended (one crossbar; k the multiplication factor, g the potentiation
curve, s the device's shift, all conductances in siemens):

* **State.** Each device has a state index n in 0..L-1 along its curves, its accumulated
  cycle-to-cycle noise eta (siemens), and the branch it is on (potentiation, or depression once
  its last pulse was a depression pulse). Conductance:
  ``G = k * (b(n) - g[0] + s + eta)``, where b(n) = g[n] on the potentiation branch and
  b(n) = d[L-1-n] on the depression branch (d: the depression curve, see below). With no
  depression curve given, d is the mirror image of g (d[j] = g[L-1-j]), and b(n) = g[n] on
  both branches.
* **Cycle-to-cycle variation** (``c2c_std``, siemens). Every pulse applied to a device adds an
  independent N(0, c2c_std^2) to its eta, so after m pulses the device sits at its curve value
  plus a random walk of m steps. The noise is added before the multiplication by k: k keeps its
  meaning of a pure scale factor of the device's conductance change (the noise in G is
  k * eta). A pulse that cannot move the state (saturated at the end of the curve) still
  switches stochastically and adds noise.
* **Read noise** (``read_noise``, relative). Every column current read is multiplied by
  ``1 + read_noise * z``, z ~ N(0, 1), independently for every column, pattern and epoch, and
  for every read of the held-out evaluation. Training sees only noisy reads: convergence is
  judged, and the Manhattan update computed, from them.
* **Stuck devices** (``stuck_fraction``, ``stuck_level``). Each device is stuck with
  probability ``stuck_fraction``, drawn once per crossbar from its key. A stuck device never
  moves: ``low`` sits at the first curve point (n = 0, G = k s), ``high`` at the last
  (n = L-1, G = k (g[L-1] - g[0] + s)); pulses to it have no effect and add no noise. Its shift
  still applies (the device-to-device variation is a property of every device).
* **Bidirectional update** (``update="bidirectional"``). Prezioso et al. trained with pulses of
  both polarities on the two devices of a synapse's differential pair: a weight increase
  potentiates G+ *and* depresses G-, a decrease potentiates G- and depresses G+. A depression
  pulse moves n one step down (saturating at 0) and puts the device on its depression branch,
  whose conductance after j depression pulses from the top is d[j] (n = L-1-j). The next
  potentiation pulse puts it back on the potentiation branch. With the default mirror
  depression curve both branches coincide: a depression pulse exactly undoes a potentiation
  pulse, so each Manhattan step moves the weight G+ - G- by about twice as much and keeps
  both devices inside the curve instead of driving them into saturation. A measured depression
  curve (``depression_curve``, L points, d[0] the fully potentiated state) gives an asymmetric,
  hysteretic device.

Random streams of crossbar i, all derived from its key ``fold_in(key(seed), i)``: the shifts use
the key itself (exactly the reference's draw), stuck devices ``fold_in(key, 1)``, the training
noise of epoch e ``fold_in(fold_in(key, 2), e)`` (read noise: its ``fold_in(., 0)``,
cycle-to-cycle: ``fold_in(., 1)``), the evaluation's read noise ``fold_in(key, 3)``. Outcomes
therefore never depend on chunking, batch size or on which other effects are switched on.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from crossbar_jax.evaluate import UNDECIDED
from crossbar_jax.forward import activations, column_currents, logic_currents
from crossbar_jax.validation import as_number

__all__ = [
    "STUCK_LEVELS",
    "UPDATES",
    "NonIdeal",
    "NoiseParams",
    "Switches",
    "DeviceState",
    "check_nonideal",
    "depression_offsets",
    "stream_keys",
    "draw_stuck",
    "initial_devices",
    "device_conductances",
    "read_currents",
    "noisy_forward",
    "apply_update",
    "noisy_accuracy",
    "nonideal_from_params",
    "check_sha",
    "check_pool",
    "MODES",
    "relaxation_decay",
]

STUCK_LEVELS = ("low", "high")
UPDATES = ("potentiate", "bidirectional")

# Independent streams folded into crossbar i's key (the shifts use the key itself).
STUCK_STREAM = 1
NOISE_STREAM = 2
EVAL_STREAM = 3


class NonIdeal(NamedTuple):
    """The non-idealities of a study (plain Python values); all off by default."""

    c2c_std: float = 0.0  # siemens, std of the noise each pulse adds to a device's conductance
    read_noise: float = 0.0  # relative std of every column current read
    stuck_fraction: float = 0.0  # probability that a device is stuck, in [0, 1]
    stuck_level: str = "low"  # "low": stuck at the first curve point; "high": at the last
    update: str = "potentiate"  # "potentiate" (reference) or "bidirectional"
    depression_curve: Any = None  # (L,) siemens, d[j] after j depression pulses; None: mirror
    curve_noise_std: float = 0.0  # siemens, std of each device's own fixed curve noise eps_d[n]
    curve_noise_correlation: float = 0.0  # lag-1 autocorrelation of eps_d[n] along n, in [0, 1)
    curve_pool: Any = None  # tuple of (L_c,) curves (siemens): each device draws one; None: off
    # Beyond the anchors' physics (docs/nonidealities.md): an ADC on every column current,
    # volatile relaxation of part of every pulse's step, and online (per-pattern) training.
    adc_bits: Any = None  # bits of the ADC (int >= 2); None: currents are read exactly
    adc_range: Any = None  # amperes, the ADC's full scale +-range; None: the largest current
    relaxation_fraction: float = 0.0  # volatile fraction of every pulse's step, in [0, 1]
    relaxation_tau: Any = None  # epochs, time constant of the volatile part (> 0, inf allowed)
    mode: str = "batch"  # "batch" (reference): one update per epoch; "online": one per pattern
    shuffle: bool = False  # online: shuffle the pattern order every epoch (crossbar's stream)

    @property
    def is_ideal(self) -> bool:
        """True when this is the reference model (the fast engine computes it)."""
        return (
            self.c2c_std == 0
            and self.read_noise == 0
            and self.stuck_fraction == 0
            and self.update == "potentiate"
            and self.curve_noise_std == 0
            and self.curve_pool is None
            and self.adc_bits is None
            and not self.relaxation_fraction
            and self.mode == "batch"
        )

    def magnitudes(self) -> dict:
        """The traced numbers of these non-idealities (`crossbar_jax.model.Point` fields)."""
        return {
            "c2c_std": self.c2c_std,
            "read_noise": self.read_noise,
            "stuck_fraction": self.stuck_fraction,
            "curve_noise_std": self.curve_noise_std,
            "curve_noise_correlation": self.curve_noise_correlation,
            "adc_bits": 0.0 if self.adc_bits is None else float(self.adc_bits),
            "adc_range": 0.0 if self.adc_range is None else float(self.adc_range),
            "relax_fraction": float(self.relaxation_fraction),
            "relax_decay": relaxation_decay(self.relaxation_tau),
        }

    def switches(self) -> Switches:
        """The static switches that select the engine's code paths."""
        bidirectional = self.update == "bidirectional"
        stuck = self.stuck_fraction > 0
        return Switches(
            c2c=self.c2c_std > 0,
            read=self.read_noise > 0,
            stuck=stuck,
            stuck_high=stuck and self.stuck_level == "high",  # no effect (or recompile) if off
            bidirectional=bidirectional,
            branches=bidirectional and self.depression_curve is not None,
            curve_noise=self.curve_noise_std > 0,
            pool=0 if self.curve_pool is None else len(self.curve_pool),
            adc=self.adc_bits is not None,
            relax=bool(self.relaxation_fraction),
            online=self.mode == "online",
            shuffle=self.mode == "online" and bool(self.shuffle),
        )

    def describe(self) -> str:
        """A short text naming the effects that are on ("ideal" when none is)."""
        parts = []
        if self.c2c_std > 0:
            parts.append(f"c2c_std={self.c2c_std:g} S")
        if self.read_noise > 0:
            parts.append(f"read_noise={self.read_noise:g}")
        if self.stuck_fraction > 0:
            parts.append(f"stuck {self.stuck_fraction:g} {self.stuck_level}")
        if self.update != "potentiate":
            curve = "mirror" if self.depression_curve is None else "measured"
            parts.append(f"{self.update} ({curve} depression)")
        if self.curve_noise_std > 0:
            parts.append(
                f"curve noise {self.curve_noise_std:g} S (lag-1 correlation "
                f"{self.curve_noise_correlation:g})"
            )
        if self.curve_pool is not None:
            parts.append(f"pool of {len(self.curve_pool)} curve(s)")
        if self.adc_bits is not None:
            scale = "largest current" if self.adc_range is None else f"+-{self.adc_range:g} A"
            parts.append(f"{self.adc_bits}-bit ADC ({scale})")
        if self.relaxation_fraction:
            parts.append(
                f"relaxation {self.relaxation_fraction:g} volatile, tau {self.relaxation_tau:g} "
                "epochs"
            )
        if self.mode != "batch":
            parts.append(f"{self.mode} training" + (" (shuffled)" if self.shuffle else ""))
        return ", ".join(parts) or "ideal"


class NoiseParams(NamedTuple):
    """The traced numbers of the non-idealities (a sweep over them does not recompile)."""

    c2c_std: jax.Array  # () float, siemens
    read_noise: jax.Array  # () float, relative
    stuck_fraction: jax.Array  # () float, in [0, 1]


class Switches(NamedTuple):
    """Static switches (closure constants): which effects the compiled code contains."""

    c2c: bool  # cycle-to-cycle noise on every pulse
    read: bool  # noise on every column current read
    stuck: bool  # some devices may be stuck
    stuck_high: bool  # stuck devices sit at the last curve point (else the first)
    bidirectional: bool  # depress the opposite device of every updated synapse
    branches: bool  # a depression curve of its own (else the mirror of the potentiation curve)
    curve_noise: bool = False  # every device has its own fixed noise along its curve
    pool: int = 0  # curves in the pool each device draws from (0: every device has `curve`)
    adc: bool = False  # every column current is read through an ADC
    relax: bool = False  # part of every pulse's step is volatile
    online: bool = False  # one update per training pattern (else one per epoch)
    shuffle: bool = False  # online: every epoch's pattern order shuffled


class DeviceState(NamedTuple):
    """The devices of one crossbar, carried from epoch to epoch."""

    pulses: jax.Array  # (rows, cols) int32, state index n in 0..L-1 along the curves
    noise: jax.Array  # (rows, cols) float, siemens, accumulated cycle-to-cycle noise eta
    depressed: jax.Array  # (rows, cols) bool, on the depression branch (last pulse depressed)


def check_nonideal(nonideal: NonIdeal | None, curve_length: int, names=None) -> NonIdeal:
    """Validate the non-idealities; returns a `NonIdeal` of Python floats and a float64 curve.

    Rules: c2c_std >= 0 (siemens) and read_noise >= 0, both finite; stuck_fraction in [0, 1];
    stuck_level in `STUCK_LEVELS`; update in `UPDATES`; a depression curve, when given, has the
    potentiation curve's L points, finite and positive. `names` maps field names to the keys
    the messages use (the app's ``device.c2c_std``, ...).

    Raises:
        ValueError: naming the key, the value and what is allowed.
    """
    ni = NonIdeal() if nonideal is None else nonideal
    if not isinstance(ni, NonIdeal):
        raise ValueError(f"nonideal={nonideal!r}: expected a crossbar_jax.NonIdeal or None")
    name = (names or {}).get
    out = {}
    for key in ("c2c_std", "read_noise"):
        x = as_number(getattr(ni, key), name(key, key))
        if not math.isfinite(x) or x < 0:
            unit = " (siemens)" if key == "c2c_std" else " (relative standard deviation)"
            raise ValueError(
                f"{name(key, key)}={getattr(ni, key)!r}: must be finite and >= 0{unit}"
            )
        out[key] = x
    frac = as_number(ni.stuck_fraction, name("stuck_fraction", "stuck_fraction"))
    if not 0.0 <= frac <= 1.0:
        raise ValueError(
            f"{name('stuck_fraction', 'stuck_fraction')}={ni.stuck_fraction!r}: must lie in "
            "[0, 1] (the probability that a device is stuck)"
        )
    for key, allowed in (("stuck_level", STUCK_LEVELS), ("update", UPDATES)):
        if getattr(ni, key) not in allowed:
            raise ValueError(
                f"{name(key, key)}={getattr(ni, key)!r}: expected one of {list(allowed)}"
            )
    dep = ni.depression_curve
    if dep is not None:
        d = np.asarray(dep, dtype=np.float64)
        key = name("depression_curve", "depression_curve")
        if d.ndim != 1 or d.size != curve_length:
            raise ValueError(
                f"{key}: a depression curve of {d.size} point(s) for a potentiation curve of "
                f"{curve_length}; the model pairs state n with L-1-n depression pulses, so both "
                "curves need the same number of points"
            )
        if not np.all(np.isfinite(d)) or np.any(d <= 0):
            raise ValueError(f"{key}: conductances must be finite and > 0 (siemens)")
        dep = d
    std = as_number(ni.curve_noise_std, name("curve_noise_std", "curve_noise_std"))
    if not math.isfinite(std) or std < 0:
        raise ValueError(
            f"{name('curve_noise_std', 'curve_noise_std')}={ni.curve_noise_std!r}: must be finite "
            "and >= 0 (siemens, std of each device's own curve noise)"
        )
    rho = as_number(ni.curve_noise_correlation, name("curve_noise_correlation", "correlation"))
    if not 0.0 <= rho < 1.0:
        raise ValueError(
            f"{name('curve_noise_correlation', 'curve_noise_correlation')}="
            f"{ni.curve_noise_correlation!r}: must lie in [0, 1) (the lag-1 autocorrelation of "
            "the curve noise along the pulse count)"
        )
    if std > 0 and rho > 0 and ni.update == "bidirectional":
        raise ValueError(
            f"{name('curve_noise_correlation', 'curve_noise_correlation')}={rho!r}: with "
            f"{name('update', 'update')}=bidirectional only correlation 0 is supported (a device "
            "that moves both ways along its curve reads eps_d[n] as a pure function of n; use 0)"
        )
    pool = ni.curve_pool
    if pool is not None:
        pool = check_pool(pool, name("curve_pool", "curve_pool"))
        if dep is not None:
            raise ValueError(
                f"{name('depression_curve', 'depression_curve')}: a depression curve cannot be "
                f"combined with {name('curve_pool', 'curve_pool')} (each curve of the pool is "
                "depressed along its own mirror image); leave one of them unset"
            )
    return NonIdeal(
        out["c2c_std"], out["read_noise"], frac, ni.stuck_level, ni.update, dep, std, rho, pool,
        **check_beyond(ni, name),
    )  # fmt: skip


MODES = ("batch", "online")
ADC_BITS = (2, 32)  # a 1-bit mid-tread ADC reads every current as 0


def relaxation_decay(tau) -> float:
    """exp(-1/tau): the share of its volatile part a device keeps from one epoch to the next
    (1 for tau = inf or None: nothing relaxes)."""
    return 1.0 if tau is None or math.isinf(float(tau)) else math.exp(-1.0 / float(tau))


def check_beyond(ni: NonIdeal, name) -> dict:
    """The ADC, relaxation and training-mode fields of `ni`, checked (`check_nonideal`)."""
    bits = ni.adc_bits
    key = name("adc_bits", "adc_bits")
    if bits is not None:
        if (
            isinstance(bits, bool)
            or not isinstance(bits, (int, np.integer))
            or not (ADC_BITS[0] <= bits <= ADC_BITS[1])
        ):
            raise ValueError(
                f"{key}={bits!r}: expected an integer in [{ADC_BITS[0]}, {ADC_BITS[1]}] (bits of "
                "the ADC reading every column current), or null for exact reads"
            )
        bits = int(bits)
    rng_ = ni.adc_range
    key_r = name("adc_range", "adc_range")
    if rng_ is not None:
        x = as_number(rng_, key_r)
        if not (math.isfinite(x) and x > 0):
            raise ValueError(
                f"{key_r}={rng_!r}: must be finite and > 0 (amperes, the ADC's full scale "
                "+-range), or null for the largest possible column current"
            )
        if bits is None:
            raise ValueError(
                f"{key_r}={rng_!r}: an ADC range needs {key}, the ADC's bits (null here: no ADC)"
            )
        rng_ = x
    key_f = name("relaxation_fraction", "relaxation_fraction")
    frac = as_number(ni.relaxation_fraction, key_f)
    if not 0.0 <= frac <= 1.0:
        raise ValueError(
            f"{key_f}={ni.relaxation_fraction!r}: must lie in [0, 1] (the volatile fraction of "
            "every pulse's conductance step)"
        )
    tau = ni.relaxation_tau
    key_t = name("relaxation_tau", "relaxation_tau")
    if tau is not None:
        t = as_number(tau, key_t)
        if math.isnan(t) or t <= 0:
            raise ValueError(
                f"{key_t}={tau!r}: must be > 0 (epochs, the relaxation time constant; .inf: "
                "nothing relaxes)"
            )
        tau = t
    elif frac > 0:
        raise ValueError(
            f"{key_t}=null: {key_f}={frac:g} needs the relaxation time in epochs (> 0, .inf "
            "allowed)"
        )
    key_m = name("mode", "mode")
    if ni.mode not in MODES:
        raise ValueError(f"{key_m}={ni.mode!r}: expected one of {list(MODES)}")
    key_s = name("shuffle", "shuffle")
    if not isinstance(ni.shuffle, (bool, np.bool_)):
        raise ValueError(f"{key_s}={ni.shuffle!r}: expected true or false")
    if ni.shuffle and ni.mode != "online":
        raise ValueError(
            f"{key_s}=true: only with {key_m}=online (a batch update sums over every pattern, "
            "so their order does not matter)"
        )
    return dict(adc_bits=bits, adc_range=rng_, relaxation_fraction=frac, relaxation_tau=tau,
                mode=str(ni.mode), shuffle=bool(ni.shuffle))  # fmt: skip


MAX_POOL = 65535


def check_pool(pool, key: str = "curve_pool") -> tuple:
    """A pool of curves as a tuple of float64 arrays (each a valid curve, any length >= 2)."""
    from crossbar_jax.curve import CurveError, validate_curve

    if isinstance(pool, np.ndarray) and pool.ndim == 2:
        pool = list(pool)
    try:
        items = list(pool)
    except TypeError:
        raise ValueError(f"{key}={pool!r}: expected a sequence of curves (siemens)") from None
    if not 1 <= len(items) <= MAX_POOL:
        raise ValueError(f"{key}: a pool needs 1 to {MAX_POOL} curves, got {len(items)}")
    out = []
    for i, c in enumerate(items):
        try:
            out.append(validate_curve(c, source=f"{key}[{i}]"))
        except CurveError as exc:
            raise ValueError(str(exc)) from None
    return tuple(out)


def depression_offsets(depression_curve, curve, dtype) -> jnp.ndarray:
    """``d - g[0]`` (siemens), subtracted in float64 like `crossbar_jax.device.curve_offsets`."""
    d = np.asarray(depression_curve, np.float64)
    g0 = float(np.asarray(curve, np.float64)[0])
    return jnp.asarray(d - g0, dtype=dtype)


def stream_keys(key):
    """(stuck key, training-noise key, evaluation key) of one crossbar's key."""
    return (
        jax.random.fold_in(key, STUCK_STREAM),
        jax.random.fold_in(key, NOISE_STREAM),
        jax.random.fold_in(key, EVAL_STREAM),
    )


def draw_stuck(key, shape, fraction):
    """Which devices of one crossbar are stuck: (rows, cols) bool, each with prob. `fraction`."""
    return jax.random.uniform(key, shape) < fraction


def initial_devices(stuck, length: int, sw: Switches, dtype) -> DeviceState:
    """The untrained devices: n = 0 (stuck-high devices n = L-1), no noise, potentiation branch."""
    start = jnp.full(stuck.shape, length - 1 if sw.stuck_high else 0, jnp.int32)
    pulses = jnp.where(stuck, start, 0) if sw.stuck else jnp.zeros(stuck.shape, jnp.int32)
    return DeviceState(pulses, jnp.zeros(stuck.shape, dtype), jnp.zeros(stuck.shape, bool))


def device_conductances(dev: DeviceState, shifts, offsets, dep_offsets, k, sw: Switches):
    """``G = k * (b(n) - g[0] + s + eta)`` of one crossbar (siemens), (rows, cols).

    With every effect off this is `crossbar_jax.device.lookup_conductance`, float for float:
    the noise term is added only when cycle-to-cycle variation is on.
    """
    n = dev.pulses.astype(jnp.uint32)
    base = offsets[n]
    if sw.branches:
        length = offsets.shape[0]
        base = jnp.where(dev.depressed, dep_offsets[(length - 1) - n], base)
    g = base + shifts
    if sw.c2c:
        g = g + dev.noise
    return k * g


def read_currents(key, voltages, conductances, read_noise):
    """Column currents read with relative Gaussian noise: ``i_c (1 + read_noise z)`` (amperes).

    Args:
        key: this read's key; every (pattern, column) gets its own z ~ N(0, 1).
        voltages: (P, rows) volts; conductances: (rows, cols) siemens.
        read_noise: relative standard deviation (traced).
    Returns:
        (P, cols) amperes.
    """
    currents = column_currents(voltages, conductances)
    z = jax.random.normal(key, currents.shape, currents.dtype)
    return currents * (1.0 + read_noise * z)


def noisy_forward(key, voltages, conductances, beta, read_noise, sw: Switches):
    """`crossbar_jax.forward.forward` of one crossbar, with noisy reads when read noise is on.

    Returns (f, beta * I), each (P, M).
    """
    if sw.read:
        currents = read_currents(key, voltages, conductances, read_noise)
    else:
        currents = column_currents(voltages, conductances)
    return activations(logic_currents(currents), beta)


def _pair(first, second):
    """(rows, M) flags for G+ and G- -> (rows, 2M), column 2m from `first`, 2m+1 `second`."""
    rows, neurons = first.shape
    return jnp.stack([first, second], axis=2).reshape(rows, 2 * neurons)


def apply_update(dev: DeviceState, direction, update, stuck, key, c2c_std, length, sw):
    """One Manhattan update of one crossbar's devices.

    Args:
        dev: the devices before the update.
        direction: (rows, M) in {-1, 0, +1}, the sign of each synapse's update.
        update: () bool, whether this crossbar updates at all (not converged, not frozen).
        stuck: (rows, cols) bool, stuck devices (ignored unless `sw.stuck`).
        key: this epoch's cycle-to-cycle key.
        c2c_std: siemens (traced); length: L, static.
    """
    up = (direction > 0) & update
    down = (direction < 0) & update
    potentiate = _pair(up, down)  # dW > 0 pulses G+, dW < 0 pulses G-
    depress = _pair(down, up) if sw.bidirectional else None  # ... and depresses the other one
    if sw.stuck:
        potentiate = potentiate & ~stuck
        depress = None if depress is None else depress & ~stuck
    n = dev.pulses
    if depress is None:
        pulses = jnp.minimum(n + potentiate.astype(n.dtype), length - 1)
        depressed, pulsed = dev.depressed, potentiate
    else:
        pulses = jnp.where(
            potentiate, jnp.minimum(n + 1, length - 1), jnp.where(depress, jnp.maximum(n - 1, 0), n)
        )
        depressed = jnp.where(potentiate, False, jnp.where(depress, True, dev.depressed))
        pulsed = potentiate | depress
    noise = dev.noise
    if sw.c2c:
        z = jax.random.normal(key, noise.shape, noise.dtype)
        noise = noise + jnp.where(pulsed, c2c_std * z, jnp.zeros_like(noise))
    return DeviceState(pulses, noise, depressed)


def noisy_accuracy(key, conductances, patterns, labels, beta, tp, tn, v0, v1, read_noise, sw):
    """Test accuracy of one trained crossbar, each held-out pattern read once (noisy if on).

    A neuron reads 1 when f >= t+, 0 when f <= t-, undecided otherwise; a pattern is right when
    every neuron equals its label. The same floats as `crossbar_jax.evaluate.predict` when
    read noise is off. NaN with no held-out patterns.
    """
    if patterns.shape[0] == 0:
        return jnp.full((), jnp.nan, jnp.float32)
    voltages = jnp.where(patterns == 1, v1, v0).astype(conductances.dtype)
    f, _ = noisy_forward(key, voltages, conductances, beta, read_noise, sw)
    out = jnp.where(f >= tp, 1, jnp.where(f <= tn, 0, UNDECIDED))
    right = jnp.all(out == labels, axis=-1)
    return jnp.mean(right.astype(jnp.float32))


def nonideal_from_params(params: dict, *, load_files: bool = True) -> NonIdeal:
    """The `NonIdeal` of a study job from its summary.json ``params``.

    Keys at their defaults are absent from params (the app writes only those that are on).
    With `load_files` the depression curve is read from its file and checked against the
    SHA-256 the job recorded; without, a placeholder marks that one was given.
    """
    dev, tr = params.get("device", {}), params.get("training", {})
    stuck = dev.get("stuck") or {}
    depression = None
    if dev.get("depression_curve"):
        depression = np.ones(1)
        if load_files:
            from crossbar_jax.curve import load_curve

            depression = load_curve(dev["depression_curve"])
            check_sha(depression, dev.get("depression_curve_sha256"), dev["depression_curve"])
    noise = dev.get("curve_noise") or {}
    pool = None
    if dev.get("curve_pool"):
        pool = tuple(np.ones(2) for _ in dev["curve_pool"])
        if load_files:
            from crossbar_jax.curve import load_curve

            shas = dev.get("curve_pool_sha256") or [None] * len(pool)
            pool = tuple(load_curve(q) for q in dev["curve_pool"])
            for c, sha, q in zip(pool, shas, dev["curve_pool"], strict=True):
                check_sha(c, sha, q)
    adc = dev.get("adc") or {}
    relax = dev.get("relaxation") or {}
    beyond = dict(
        adc_bits=None if adc.get("bits") is None else int(adc["bits"]),
        adc_range=None if adc.get("range") is None else float(adc["range"]),
        relaxation_fraction=float(relax.get("fraction", 0.0)),
        relaxation_tau=None if relax.get("tau") is None else float(relax["tau"]),
        mode=str(tr.get("mode", "batch")),
        shuffle=bool(tr.get("shuffle", False)),
    )
    return NonIdeal(
        **beyond,
        c2c_std=float(dev.get("c2c_std", 0.0)),
        read_noise=float(dev.get("read_noise", 0.0)),
        stuck_fraction=float(stuck.get("fraction", 0.0)),
        stuck_level=str(stuck.get("level", "low")),
        update=str(tr.get("update", "potentiate")),
        depression_curve=depression,
        curve_noise_std=float(noise.get("std", 0.0)),
        curve_noise_correlation=float(noise.get("correlation", 0.0)),
        curve_pool=pool,
    )


def check_sha(values, expected, path) -> None:
    import hashlib

    if expected is None:
        return
    got = hashlib.sha256(np.ascontiguousarray(values, np.float64).tobytes()).hexdigest()
    if got != expected:
        raise ValueError(f"{path}: its content changed since the job ran (SHA-256 differs)")
