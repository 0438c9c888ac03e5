"""Structured configs of the Monte Carlo study app, and their validation.

The dataclasses below are the schema of ``conf/``: they are registered in Hydra's ConfigStore as
``config_schema``, which ``conf/config.yaml`` lists first in its defaults, so every group file,
experiment and command-line override is merged onto a typed node. A misspelled key fails with
"Key 'bta' is not in struct" and a wrong type with "Value 'abc' ... could not be converted to
Float", both naming the full key. `validate_config` then checks the values (ranges, the curve
file, the dataset's shape) with messages that name the config key, the value and what is
allowed, before anything is compiled.

Defaults are those of ALGORITHM.md; the yaml files restate them so a reader finds them in conf/.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from omegaconf import DictConfig, OmegaConf

from crossbar_jax.curve import CurveError, layout_hint, load_curve, unit_warning
from crossbar_jax.datasets import FOUR_BIT, Dataset, letters_dataset, validate_dataset
from crossbar_jax.nonideal import STUCK_LEVELS, UPDATES, NonIdeal, check_nonideal
from crossbar_jax.validation import (
    PRECISIONS,
    check_dynamic_range,
    check_positive_int,
    check_shift_array,
    check_shift_params,
    check_train_params,
)
from crossbar_jax.variation import DISTRIBUTIONS, REFERENCE_DISTRIBUTION, load_shift_map

__all__ = [
    "AdcConfig",
    "ConfigError",
    "CurveNoiseConfig",
    "DatasetConfig",
    "DeviceConfig",
    "GRID_KEYS",
    "GridConfig",
    "MonteCarloConfig",
    "RelaxationConfig",
    "ReportConfig",
    "DATASET_KINDS",
    "ShiftConfig",
    "SplitConfig",
    "StuckConfig",
    "StudyConfig",
    "StudySpec",
    "TrainingConfig",
    "default_curve_path",
    "job_dirname",
    "register_configs",
    "sweep_dirname",
    "validate_config",
]

log = logging.getLogger(__name__)

MAX_SEED = 2**32 - 1
DEFAULT_CURVE = "lsmo_gaq3_model.csv"
DATASET_KINDS = ("patterns", "letters")


class ConfigError(ValueError):
    """A configuration value the study cannot run with; the message names the key."""


@dataclass
class ShiftConfig:
    """Device-to-device variation: per-crossbar shifts added to every conductance."""

    distribution: str = "lognormal_minmax"  # the reference's lognormal min-max (ALGORITHM.md)
    low: float = 1e-8  # siemens, smallest shift of each crossbar
    high: float = 1e-7  # siemens, largest shift of each crossbar
    division_factor: float = 5.0  # sigma = |ln(high / low)| / division_factor
    map: str | None = None  # distribution=measured: CSV of shifts (rows x cols, siemens)


@dataclass
class StuckConfig:
    """Stuck devices, drawn per crossbar from its key (crossbar_jax.nonideal)."""

    fraction: float = 0.0  # probability that a device is stuck, in [0, 1]
    level: str = "low"  # low: stays at the first curve point; high: sits at the last


@dataclass
class CurveNoiseConfig:
    """Per-device curve noise: every device its own fixed g_d[n] = g[n] + eps_d[n].

    A number, or ``fitted``: the value that experiments/fit_curve.py wrote into the JSON beside
    the curve file (``<curve>.json``: residual_std_S, residual_lag1_autocorrelation).
    """

    std: Any = 0.0  # siemens, std of eps_d[n] (0: off), or "fitted"
    correlation: Any = 0.0  # lag-1 autocorrelation of eps_d[n] along n, in [0, 1), or "fitted"


@dataclass
class AdcConfig:
    """An ADC on every column current (docs/nonidealities.md): a mid-tread uniform quantizer of
    2^(bits-1) - 1 levels on each side of 0 over [-range, range], clipping beyond."""

    bits: int | None = None  # bits of the ADC, 2..32 (None: currents are read exactly)
    range: float | None = None  # amperes, full scale +-range; None: the largest column current


@dataclass
class RelaxationConfig:
    """Volatile relaxation (docs/nonidealities.md): a fraction of every pulse's conductance
    step decays away as exp(-t/tau) between epochs; the rest is permanent."""

    fraction: float = 0.0  # volatile fraction of every step, in [0, 1] (0: off)
    tau: float | None = None  # epochs, the decay time constant (> 0, .inf allowed); needed if on


@dataclass
class DeviceConfig:
    """The crossbar: its measured curve, multiplication factor, size and variation."""

    curve: str | None = None  # curve file; None: the shipped data/lsmo_gaq3_model.csv
    curve_column: Any = 0  # 0-based column index or header name (int or str)
    # field separator, or its name: comma, semicolon, tab, space, whitespace; None: ',' for
    # .csv, whitespace otherwise
    curve_sep: str | None = None
    curve_skiprows: int = 0  # lines to skip before the header or data
    k: float = 10.0  # dimensionless multiplication factor of the conductances
    rows: int | None = None  # crossbar rows = input bits per pattern; None: from the dataset
    cols: int | None = None  # crossbar columns = 2 per neuron (G+, G-); None: from the dataset
    shift: ShiftConfig = field(default_factory=ShiftConfig)
    c2c_std: float = 0.0  # siemens, cycle-to-cycle noise each pulse adds (0: off)
    read_noise: float = 0.0  # relative std of every column current read (0: off)
    stuck: StuckConfig = field(default_factory=StuckConfig)
    depression_curve: str | None = None  # training.update=bidirectional; None: mirror image
    curve_noise: CurveNoiseConfig = field(default_factory=CurveNoiseConfig)
    curve_pool: Any = None  # curve files (a list) or a folder of them; each device draws one
    adc: AdcConfig = field(default_factory=AdcConfig)
    relaxation: RelaxationConfig = field(default_factory=RelaxationConfig)


@dataclass
class TrainingConfig:
    """Manhattan-rule training (ALGORITHM.md)."""

    beta: float = 6e6  # 1/ampere, activation gain: f = tanh(beta * I)
    positive_target: float = 0.8  # t+, label 1 succeeds when f > t+
    negative_target: float = -0.8  # t-, label 0 succeeds when f < t-
    epochs: int = 50  # E, the most epochs
    v0: float = -0.1  # volts for input bit 0
    v1: float = 0.1  # volts for input bit 1
    update: str = "potentiate"  # potentiate (reference) or bidirectional (also depress)
    mode: str = "batch"  # batch (reference): one update per epoch; online: one per pattern
    shuffle: bool = False  # online: a new pattern order every epoch, from the crossbar's key


@dataclass
class SplitConfig:
    """Patterns (P, rows) and labels (P, neurons), lists of 0/1."""

    patterns: list[list[int]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)


def _split(patterns, labels) -> SplitConfig:
    return SplitConfig(np.asarray(patterns).tolist(), np.asarray(labels).tolist())


@dataclass
class DatasetConfig:
    """The classification task: training set and held-out test set.

    ``kind: patterns`` takes the lists below; ``kind: letters`` builds the 3x3 letters task
    (`crossbar_jax.datasets.letters_dataset`) from the three letters keys and needs the lists
    empty.
    """

    name: str = FOUR_BIT.name
    kind: str = "patterns"  # patterns (the lists below) or letters (generated)
    holdout_per_letter: int = 3  # letters: flip variants per letter held out (0..9)
    split_seed: int = 0  # letters: seed of the permutation that picks the held-out variants
    bias: bool = True  # letters: append a constant bias input (bit 1) as the last row
    train: SplitConfig = field(
        default_factory=lambda: _split(FOUR_BIT.train_patterns, FOUR_BIT.train_labels)
    )
    test: SplitConfig = field(
        default_factory=lambda: _split(FOUR_BIT.test_patterns, FOUR_BIT.test_labels)
    )


@dataclass
class MonteCarloConfig:
    """How many crossbars, which random numbers, and how they are computed."""

    n_crossbars: int = 100_000  # independently seeded crossbars at this parameter point
    seed: int = 0  # crossbar i draws its shifts from fold_in(key(seed), i)
    # crossbars per compiled call (memory, not results); null: the engine's default (262,144 on
    # a CPU; online 131,072 when crossbars x points exceed 262,144, 32,768 with a per-device
    # effect; 2^21 on a GPU)
    chunk_size: Any = None
    precision: str = "float32"  # float32 or float64
    progress: bool = True  # progress bars: crossbars trained (rate, ETA), figures written
    rerun: bool = False  # recompute a complete job (its old results move to .superseded/)
    # Precision-targeted sampling (crossbar_jax.app.sampling): with target_halfwidth set, train
    # batches of n_crossbars crossbars until the 95% Wilson interval's half-width is at most
    # target_halfwidth, or max_crossbars crossbars are trained. null: exactly n_crossbars.
    target_halfwidth: float | None = None  # absolute half-width of the rate's interval, (0, 0.5]
    max_crossbars: int = 1_000_000  # the cap of a targeted run (>= n_crossbars)


@dataclass
class ReportConfig:
    """Figures and report.md of a run; they change no result and are not in the config hash."""

    figures: bool = True  # figures/ and report.md in every job folder
    # per-epoch trajectory figures of single crossbars: those listed in `crossbars`, or with
    # `trajectories` the first converged and the first failed (opt-in: they replay and draw
    # 5 figures per crossbar, seconds that would dominate the main job)
    crossbars: list[int] | None = None
    trajectories: bool = False
    format: str = "png"  # png, pdf or svg
    dpi: int = 200  # dots per inch of png figures (pdf and svg are vector)
    point_figures: bool = False  # in-process grid: each point's figures too (opt-in)


@dataclass
class GridConfig:
    """An in-process grid: every combination of the listed values, run as one job.

    Each list replaces the key it names (``beta`` is ``training.beta``, ``k`` is ``device.k``,
    ``low`` is ``device.shift.low``, ...). The points' crossbars train as one batch
    (`crossbar_jax.run_grid`, one compilation, one process) and each point gets the folder and
    outputs of a multirun job, plus the sweep table of them all. Empty lists: no grid.
    """

    beta: list[float] = field(default_factory=list)  # training.beta values, 1/A
    positive_target: list[float] = field(default_factory=list)  # training.positive_target
    negative_target: list[float] = field(default_factory=list)  # training.negative_target
    k: list[float] = field(default_factory=list)  # device.k values
    low: list[float] = field(default_factory=list)  # device.shift.low values, siemens
    high: list[float] = field(default_factory=list)  # device.shift.high values, siemens
    division_factor: list[float] = field(default_factory=list)  # device.shift.division_factor


# The key each grid list replaces, in the order the grid's points vary (the last fastest).
GRID_KEYS = {
    "beta": "training.beta",
    "positive_target": "training.positive_target",
    "negative_target": "training.negative_target",
    "k": "device.k",
    "low": "device.shift.low",
    "high": "device.shift.high",
    "division_factor": "device.shift.division_factor",
}


@dataclass
class StudyConfig:
    """One parameter point of the study; a multirun sweeps some of these keys."""

    experiment_name: str = "default"  # names the output folder; set by conf/experiment/*
    device: DeviceConfig = field(default_factory=DeviceConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    mc: MonteCarloConfig = field(default_factory=MonteCarloConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    grid: GridConfig = field(default_factory=GridConfig)  # optional in-process grid


_DIRNAME_MAX = 96  # characters kept readable; file names may not exceed 255 bytes


def job_dirname(override_dirname: str) -> str:
    """A job's folder name from Hydra's ``override_dirname`` (``device.k=30,training.beta=2e7``).

    Deterministic, so a rerun of the same command finds its jobs' folders again (resume). A
    ``/`` in a value (``device.curve=/data/g.csv``) would nest folders and becomes ``_``; a name
    too long for a file name keeps its first characters plus a hash of the whole; no overrides
    give ``defaults``.
    """
    name = str(override_dirname).replace("/", "_").replace("\\", "_")
    if not name:
        return "defaults"
    if name.startswith("."):
        name = "_" + name  # never a hidden folder: aggregate skips those
    if len(name.encode()) > _DIRNAME_MAX:
        digest = hashlib.sha256(str(override_dirname).encode()).hexdigest()[:12]
        name = name.encode()[: _DIRNAME_MAX - 14].decode(errors="ignore") + "-h" + digest
    return name


# Override keys that name no setting of their own (Hydra's, or the one-off flags).
_SWEEP_NAME_SKIP = ("hydra.", "hydra/")


def sweep_dirname(experiment_name, overrides, exclude_keys=()) -> str:
    """A sweep's folder below multirun/ from its definition: the command line's overrides.

    ``experiment_name`` alone when there are none (a named study run as defined), else
    ``<experiment_name>/<overrides>``, the overrides sorted by key and joined by ``__``
    (``default/device.k=10,30__training.beta=6e6,2e7``) and made a safe folder name as in
    `job_dirname`. Deterministic and without a timestamp, so the same command resumes in the
    same folder, while a sweep at other fixed settings (``mc.n_crossbars=5000``) gets its own.
    Keys in `exclude_keys` (those that change no result) are left out.
    """
    excluded = set(exclude_keys or ())
    kept = []
    for text in overrides or ():
        text = str(text)
        key = text.split("=", 1)[0].lstrip("+~")
        if key in excluded or key.startswith(_SWEEP_NAME_SKIP):
            continue
        kept.append((key, text))
    base = str(experiment_name)
    if not kept:
        return base
    return f"{base}/{job_dirname('__'.join(text for _, text in sorted(kept)))}"


def register_configs() -> None:
    """Register `StudyConfig` in Hydra's ConfigStore as ``config_schema`` and the
    ``crossbar_jax.dirname`` resolver that conf/config.yaml uses for output folders
    (idempotent)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="config_schema", node=StudyConfig)
    OmegaConf.register_new_resolver("crossbar_jax.dirname", job_dirname, replace=True)
    # Cached, as Hydra's ${now:}: every job of a sweep gets the sweep's folder (Hydra copies the
    # sweep's resolver cache into each job's config), not one from its own overrides.
    OmegaConf.register_new_resolver(
        "crossbar_jax.sweepdir", sweep_dirname, replace=True, use_cache=True
    )


# Registered on import, so that any process that unpickles the app's task function (joblib,
# submitit workers) has the schema and the resolver too; Hydra also ships the ConfigStore.
register_configs()


class StudySpec(NamedTuple):
    """A validated study: everything `run_monte_carlo` needs, as plain Python/NumPy values."""

    curve: np.ndarray  # (L,) float64, siemens
    curve_path: Path  # absolute path of the curve file
    dataset: Dataset
    train: dict  # beta, positive_target, negative_target, k, epochs, v0, v1 (Python numbers)
    shift: dict  # distribution, low, high, division_factor
    mc: dict  # n_crossbars, seed, chunk_size, precision, progress, rerun
    params: dict  # the resolved parameters as nested plain types (summary.json "params")
    nonideal: NonIdeal = NonIdeal()  # device non-idealities (all off: the reference model)
    shift_map: np.ndarray | None = None  # (rows, cols) siemens, distribution=measured

    @property
    def general(self) -> bool:
        """Whether the study needs the general engine (a non-ideality or another distribution)."""
        return not self.nonideal.is_ideal or self.shift["distribution"] != REFERENCE_DISTRIBUTION


def default_curve_path() -> Path:
    """The project's shipped model curve, ``data/lsmo_gaq3_model.csv`` (in the installed
    package, or beside it in a checkout: `crossbar_jax.app.resources`)."""
    from crossbar_jax.app.resources import ResourceError, data_dir

    try:
        return data_dir() / DEFAULT_CURVE
    except ResourceError:
        return Path(__file__).resolve().parents[1] / "data" / DEFAULT_CURVE


def _to_absolute(path: str) -> Path:
    """A user path relative to the directory the app was started from (Hydra may chdir)."""
    from hydra.utils import to_absolute_path

    return Path(to_absolute_path(path))


def _choice(value, key: str, allowed) -> str:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r}: expected one of {list(allowed)}")
    return str(value)


def _int(value, key: str, minimum: int, maximum: int | None = None) -> int:
    try:
        out = check_positive_int(value, key, minimum)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if maximum is not None and out > maximum:
        raise ConfigError(f"{key}={value!r}: must be an integer in [{minimum}, {maximum}]")
    return out


def _get(cfg, dotted: str):
    return OmegaConf.select(cfg, dotted, throw_on_missing=True)


def _load_curve(cfg) -> tuple[np.ndarray, Path]:
    raw = _get(cfg, "device.curve")
    column = _get(cfg, "device.curve_column")
    if isinstance(column, bool) or not isinstance(column, (int, str)):
        raise ConfigError(
            f"device.curve_column={column!r}: expected a 0-based column index or a header name"
        )
    skip = _int(_get(cfg, "device.curve_skiprows"), "device.curve_skiprows", 0)
    sep = _get(cfg, "device.curve_sep")
    if sep is not None and str(sep) == "":
        raise ConfigError(
            "device.curve_sep='': expected a field separator such as ',' or ';', or null "
            "(',' for .csv files, whitespace otherwise)"
        )
    if raw is None or str(raw).strip() == "":
        path = default_curve_path()
        if not path.exists():
            raise ConfigError(
                f"device.curve=null means the shipped curve {path}, which is missing; "
                "set device.curve=PATH to a conductance-versus-pulse file"
            )
    else:
        path = _to_absolute(str(raw))
    try:
        curve = load_curve(path, column=column, sep=sep, skiprows=skip, keys=_CURVE_KEYS)
    except CurveError as exc:
        raise ConfigError(f"device.curve={raw!r}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"device.curve={raw!r}: cannot read {path}: {exc}") from None
    source = f"device.curve={raw!r} ({path})"
    if unit_warning(curve, source):
        hint = layout_hint(path, column=column, sep=sep, skiprows=skip, keys=_CURVE_KEYS)
        log.warning("warning: %s", unit_warning(curve, source, hint=hint))
    return curve, path


_CURVE_KEYS = {"column": "device.curve_column", "sep": "device.curve_sep"}


def _letters(cfg) -> Dataset:
    """``dataset.kind=letters``: the 3x3 letters task built from its keys."""
    for split in ("train", "test"):
        node = _get(cfg, f"dataset.{split}")
        if node is not None and (len(node.patterns) or len(node.labels)):
            raise ConfigError(
                f"dataset.{split}: dataset.kind=letters generates its patterns; leave "
                f"dataset.{split}.patterns and .labels empty (or use dataset.kind=patterns)"
            )
    holdout = _int(_get(cfg, "dataset.holdout_per_letter"), "dataset.holdout_per_letter", 0, 9)
    seed = _int(_get(cfg, "dataset.split_seed"), "dataset.split_seed", 0, MAX_SEED)
    ds = letters_dataset(holdout, seed, bool(_get(cfg, "dataset.bias")))
    return ds._replace(name=str(_get(cfg, "dataset.name")))


def _patterns(cfg) -> Dataset:
    """``dataset.kind=patterns``: the training and test lists, checked against each other."""
    splits = {}
    for split in ("train", "test"):
        key = f"dataset.{split}"
        node = _get(cfg, key)
        patterns = OmegaConf.to_container(node.patterns) if node is not None else None
        labels = OmegaConf.to_container(node.labels) if node is not None else None
        try:
            splits[split] = validate_dataset(patterns, labels, key=key)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    (xp, yp), (xq, yq) = splits["train"], splits["test"]
    if xq.shape[1] != xp.shape[1]:
        raise ConfigError(
            f"dataset.test.patterns: patterns of {xq.shape[1]} bits do not match "
            f"dataset.train.patterns of {xp.shape[1]} bits (one bit per crossbar row)"
        )
    if yq.shape[1] != yp.shape[1]:
        raise ConfigError(
            f"dataset.test.labels: labels of shape {tuple(yq.shape)} give {yq.shape[1]} "
            f"neuron(s) per pattern, but dataset.train.labels of shape {tuple(yp.shape)} give "
            f"{yp.shape[1]}; both need one label per neuron"
        )
    return Dataset(xp, yp, xq, yq, str(_get(cfg, "dataset.name")))


def _dataset(cfg, rows: int | None, cols: int | None) -> Dataset:
    """The task, and a check that it fits the crossbar when device.rows/cols are given.

    Rows and neurons follow the dataset (device.rows/cols null); a given device.rows or
    device.cols must match it.
    """
    kind = _choice(_get(cfg, "dataset.kind"), "dataset.kind", DATASET_KINDS)
    ds = _letters(cfg) if kind == "letters" else _patterns(cfg)
    # The key that holds the patterns and labels: the lists, or the generator's name.
    patterns_key = "dataset.kind=letters" if kind == "letters" else "dataset.train.patterns"
    labels_key = "dataset.kind=letters" if kind == "letters" else "dataset.train.labels"
    if rows is not None and ds.rows != rows:
        raise ConfigError(
            f"{patterns_key}: patterns of {ds.rows} bits do not match the crossbar's "
            f"device.rows={rows} input rows (device.rows=null follows the dataset)"
        )
    if cols is not None and ds.cols != cols:
        neurons = cols // 2
        raise ConfigError(
            f"{labels_key}: labels of shape {tuple(ds.train_labels.shape)} give "
            f"{ds.neurons} neuron(s) per pattern, but the crossbar has device.cols={cols} "
            f"columns = {neurons} neuron(s) (2 columns each); expected shape "
            f"({ds.train_labels.shape[0]}, {neurons}) (device.cols=null follows the dataset)"
        )
    return ds


def _optional_file(cfg, key: str) -> Path | None:
    raw = _get(cfg, key)
    if raw is None or str(raw).strip() == "":
        return None
    return _to_absolute(str(raw))


def _sha256(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values, np.float64).tobytes()).hexdigest()


def _nonideal(cfg, curve: np.ndarray) -> tuple[NonIdeal, dict, dict]:
    """The non-idealities, and the params entries of those not at their defaults.

    Keys at their defaults are left out of summary.json's params, so that a study without
    non-idealities keeps the config_hash it had before they existed.
    """
    dep_path = _optional_file(cfg, "device.depression_curve")
    depression = None
    if dep_path is not None:
        try:
            depression = load_curve(dep_path)
        except CurveError as exc:
            raise ConfigError(
                f"device.depression_curve={_get(cfg, 'device.depression_curve')!r}: {exc}"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"device.depression_curve={_get(cfg, 'device.depression_curve')!r}: cannot "
                f"read {dep_path}: {exc}"
            ) from None
    stuck_level = _choice(_get(cfg, "device.stuck.level"), "device.stuck.level", STUCK_LEVELS)
    update = _choice(_get(cfg, "training.update"), "training.update", UPDATES)
    noise_std, noise_rho = _curve_noise(cfg)
    pool_paths, pool = _curve_pool(cfg)
    try:
        ni = check_nonideal(
            NonIdeal(
                c2c_std=_get(cfg, "device.c2c_std"),
                read_noise=_get(cfg, "device.read_noise"),
                stuck_fraction=_get(cfg, "device.stuck.fraction"),
                stuck_level=stuck_level,
                update=update,
                depression_curve=depression,
                curve_noise_std=noise_std,
                curve_noise_correlation=noise_rho,
                curve_pool=pool,
                adc_bits=_get(cfg, "device.adc.bits"),
                adc_range=_get(cfg, "device.adc.range"),
                relaxation_fraction=_get(cfg, "device.relaxation.fraction"),
                relaxation_tau=_get(cfg, "device.relaxation.tau"),
                mode=_get(cfg, "training.mode"),
                shuffle=_get(cfg, "training.shuffle"),
            ),
            curve.size,
            names=_NONIDEAL_NAMES,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    device, training = {}, {}
    if ni.c2c_std > 0:
        device["c2c_std"] = ni.c2c_std
    if ni.read_noise > 0:
        device["read_noise"] = ni.read_noise
    if ni.stuck_fraction > 0:
        device["stuck"] = {"fraction": ni.stuck_fraction, "level": ni.stuck_level}
    if dep_path is not None:
        device["depression_curve"] = str(dep_path)
        device["depression_curve_sha256"] = _sha256(ni.depression_curve)
    if ni.update != "potentiate":
        training["update"] = ni.update
    if ni.curve_noise_std > 0:
        device["curve_noise"] = {
            "std": ni.curve_noise_std,
            "correlation": ni.curve_noise_correlation,
        }
    if pool is not None:
        device["curve_pool"] = [str(q) for q in pool_paths]
        device["curve_pool_sha256"] = [_sha256(c) for c in ni.curve_pool]
    if ni.adc_bits is not None:
        device["adc"] = {"bits": ni.adc_bits, "range": ni.adc_range}
    if ni.relaxation_fraction > 0:
        tau = ni.relaxation_tau
        # summary.json stays standard JSON: an infinite tau is written as the string "inf"
        device["relaxation"] = {
            "fraction": ni.relaxation_fraction,
            "tau": "inf" if np.isinf(tau) else tau,
        }
    if ni.mode != "batch":
        training["mode"] = ni.mode
        if ni.shuffle:
            training["shuffle"] = True
    return ni, device, training


CURVE_SUFFIXES = (".csv", ".txt", ".dat")
FIT_KEYS = {"std": "residual_std_S", "correlation": "residual_lag1_autocorrelation"}


def _fitted(cfg, what: str) -> float:
    """``device.curve_noise.<what>=fitted``: the value in the JSON beside the curve file."""
    import json

    key = f"device.curve_noise.{what}"
    raw = _get(cfg, "device.curve")
    curve = (
        default_curve_path() if raw is None or str(raw).strip() == "" else _to_absolute(str(raw))
    )
    path = curve.with_suffix(".json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        value = data[FIT_KEYS[what]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{key}=fitted: needs {path} with '{FIT_KEYS[what]}' (written by "
            f"experiments/fit_curve.py for the curve {curve.name}): {exc!r}; or give a number"
        ) from None
    if isinstance(value, dict):
        value = value.get("value")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}=fitted: {path} holds {value!r}, not a number") from None


def _curve_noise(cfg) -> tuple[float, float]:
    """device.curve_noise.std (siemens) and .correlation: numbers or ``fitted``."""
    out = []
    for what, rule in (("std", "a number >= 0 (siemens)"), ("correlation", "a number in [0, 1)")):
        key = f"device.curve_noise.{what}"
        value = _get(cfg, key)
        if isinstance(value, str) and value.strip().lower() == "fitted":
            out.append(_fitted(cfg, what))
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}={value!r}: expected {rule} or 'fitted'")
        out.append(float(value))
    return out[0], out[1]


def _curve_pool(cfg) -> tuple[list[Path] | None, tuple | None]:
    """device.curve_pool: a list of curve files or one folder of them (sorted by name)."""
    raw = _get(cfg, "device.curve_pool")
    key = "device.curve_pool"
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None, None
    if isinstance(raw, str):
        folder = _to_absolute(raw)
        if not folder.is_dir():
            raise ConfigError(
                f"{key}={raw!r}: not a folder; give a folder of curve files or a list of files"
            )
        paths = sorted(q for q in folder.iterdir() if q.suffix.lower() in CURVE_SUFFIXES)
        if not paths:
            raise ConfigError(
                f"{key}={raw!r}: the folder holds no curve file ({', '.join(CURVE_SUFFIXES)})"
            )
    else:
        items = OmegaConf.to_container(raw) if not isinstance(raw, list) else raw
        if not isinstance(items, list) or not items:
            raise ConfigError(
                f"{key}={raw!r}: expected a non-empty list of curve files or a folder"
            )
        paths = [_to_absolute(str(q)) for q in items]
    column = _get(cfg, "device.curve_column")
    sep = _get(cfg, "device.curve_sep")
    skip = _int(_get(cfg, "device.curve_skiprows"), "device.curve_skiprows", 0)
    curves = []
    for i, path in enumerate(paths):
        try:
            curves.append(load_curve(path, column=column, sep=sep, skiprows=skip))
        except CurveError as exc:
            raise ConfigError(f"{key}[{i}]={str(path)!r}: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{key}[{i}]={str(path)!r}: cannot read: {exc}") from None
    return paths, tuple(curves)


def _shift_map(cfg, distribution: str, shape) -> tuple[np.ndarray | None, dict]:
    """The measured shift map (distribution=measured), and its params entries."""
    path = _optional_file(cfg, "device.shift.map")
    raw = _get(cfg, "device.shift.map")
    if distribution != "measured":
        if path is not None:
            raise ConfigError(
                f"device.shift.map={raw!r}: a shift map is used only with "
                f"device.shift.distribution=measured (it is {distribution!r})"
            )
        return None, {}
    if path is None:
        raise ConfigError(
            "device.shift.map=null: device.shift.distribution=measured needs a CSV file of "
            f"shifts in siemens, {shape[0]} rows of {shape[1]} values (one per crossbar column)"
        )
    try:
        m = load_shift_map(path)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"device.shift.map={raw!r}: {path}: not a text file in UTF-8 (byte {exc.start} is "
            "not UTF-8); expected rows of shifts in siemens separated by commas or spaces"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"device.shift.map={raw!r}: cannot read {path}: {exc.strerror or exc}"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"device.shift.map={raw!r}: {exc}") from None
    if m.shape != tuple(shape):
        raise ConfigError(
            f"device.shift.map={raw!r}: a map of shape {m.shape}, but the crossbar is "
            f"{shape[0]} rows x {shape[1]} columns; expected shape {tuple(shape)}"
        )
    try:
        check_shift_array(m, f"device.shift.map={raw!r}")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return m, {"map": str(path), "map_sha256": _sha256(m)}


REPORT_FORMATS = ("png", "pdf", "svg")


def _check_report(cfg) -> None:
    """report.format and report.dpi (the figures' file type and png resolution)."""
    fmt = OmegaConf.select(cfg, "report.format", default="png")
    _choice(fmt, "report.format", REPORT_FORMATS)
    dpi = OmegaConf.select(cfg, "report.dpi", default=200)
    _int(dpi, "report.dpi", 50, 1200)


_TRAIN_NAMES = {
    "beta": "training.beta",
    "positive_target": "training.positive_target",
    "negative_target": "training.negative_target",
    "k": "device.k",
    "epochs": "training.epochs",
    "v0": "training.v0",
    "v1": "training.v1",
}
_SHIFT_NAMES = {
    "low": "device.shift.low",
    "high": "device.shift.high",
    "division_factor": "device.shift.division_factor",
}
_NONIDEAL_NAMES = {
    "c2c_std": "device.c2c_std",
    "read_noise": "device.read_noise",
    "stuck_fraction": "device.stuck.fraction",
    "stuck_level": "device.stuck.level",
    "update": "training.update",
    "depression_curve": "device.depression_curve",
    "curve_noise_std": "device.curve_noise.std",
    "curve_noise_correlation": "device.curve_noise.correlation",
    "curve_pool": "device.curve_pool",
    "adc_bits": "device.adc.bits",
    "adc_range": "device.adc.range",
    "relaxation_fraction": "device.relaxation.fraction",
    "relaxation_tau": "device.relaxation.tau",
    "mode": "training.mode",
    "shuffle": "training.shuffle",
}


def _check_keys(node, schema: type, prefix: str = "") -> None:
    """Refuse keys the schema does not have (``+training.bta=1`` gets past Hydra's struct mode)."""
    hints = typing.get_type_hints(schema)
    for key in node.keys():
        full = f"{prefix}{key}"
        if prefix == "" and key == "hydra":
            continue
        if key not in hints:
            where = f"under {prefix[:-1]}" if prefix else "at the top"
            raise ConfigError(f"{full}: unknown key; the keys {where} are {sorted(hints)}")
        if dataclasses.is_dataclass(hints[key]):
            child = node[key]
            if not isinstance(child, DictConfig):
                raise ConfigError(f"{full}={child!r}: expected a group of keys {sorted(hints)}")
            _check_keys(child, hints[key], f"{full}.")


def _targeted(cfg, n_crossbars: int) -> dict:
    """mc.target_halfwidth and mc.max_crossbars of a targeted run, checked; {} when off."""
    target = _get(cfg, "mc.target_halfwidth")
    if target is None:
        cap = _get(cfg, "mc.max_crossbars")
        if cap != MonteCarloConfig.max_crossbars:
            raise ConfigError(
                f"mc.max_crossbars={cap!r}: the cap of targeted sampling, used only with "
                "mc.target_halfwidth (null here); set both, or mc.n_crossbars alone"
            )
        return {}
    t = float(target)
    if not (np.isfinite(t) and 0.0 < t <= 0.5):
        raise ConfigError(
            f"mc.target_halfwidth={target!r}: must be in (0, 0.5] (the absolute half-width of "
            "the rate's 95% interval), or null for exactly mc.n_crossbars crossbars"
        )
    cap = _int(_get(cfg, "mc.max_crossbars"), "mc.max_crossbars", 1, MAX_SEED)
    if cap < n_crossbars:
        raise ConfigError(
            f"mc.max_crossbars={cap}: must be >= mc.n_crossbars={n_crossbars}, the size of "
            "each batch of a targeted run"
        )
    if any(len(v) for v in (OmegaConf.select(cfg, "grid") or {}).values()):
        raise ConfigError(
            f"mc.target_halfwidth={target!r}: targeted sampling runs one parameter point; it "
            "does not combine with an in-process grid (grid.*): sweep with -m instead"
        )
    return {"target_halfwidth": t, "max_crossbars": cap}


def _check_physical(
    curve, train, low, high, division_factor, distribution, shift_map, nonideal, rows, precision
) -> None:
    """Refuse finite values that still give meaningless numbers: a conductance
    G = k (g[n] - g[0] + shift) below zero, or products that overflow the precision."""
    dips = curve - curve[0]
    smallest = float(np.min(shift_map)) if shift_map is not None else low
    if distribution in ("lognormal", "measured"):
        smallest = 0.0 if shift_map is None else smallest  # a lognormal shift is > 0 anyway
    if float(np.min(dips)) + smallest < 0:
        n = int(np.argmin(dips))
        raise ConfigError(
            f"device.curve: point {n} ({curve[n]:.6g} S) lies {-dips[n]:.3g} S below point 0 "
            f"({curve[0]:.6g} S), more than the smallest shift ({smallest:.3g} S): the model's "
            f"conductance k (g[n] - g[0] + shift) would be negative; use a curve that starts at "
            "its lowest conductance or a larger device.shift.low"
        )
    try:
        check_dynamic_range(
            precision, curve=curve, k=train["k"], beta=train["beta"], v0=train["v0"],
            v1=train["v1"], rows=rows, epochs=train["epochs"], low=low, high=high,
            division_factor=division_factor, distribution=distribution,
            shift_max=None if shift_map is None else float(np.max(shift_map)),
            c2c_std=nonideal.c2c_std, read_noise=nonideal.read_noise, names=_PHYSICAL_NAMES,
        )  # fmt: skip
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


_PHYSICAL_NAMES = {**_TRAIN_NAMES, **_SHIFT_NAMES, **_NONIDEAL_NAMES}


def validate_config(cfg: DictConfig | StudyConfig) -> StudySpec:
    """Check a composed study configuration and resolve it; nothing is compiled here.

    Checks, each failing with a `ConfigError` that names the config key, the value and the rule:
    training.beta and device.k finite and > 0; targets inside (-1, 1) with
    negative_target < positive_target; training.epochs, mc.n_crossbars, mc.chunk_size integers
    >= 1; mc.seed in [0, 2**32 - 1]; 0 < device.shift.low < device.shift.high and
    division_factor > 0; a known precision and shift distribution; a device.cols that is even;
    binary dataset patterns and labels, the test set shaped like the training set, and, where
    device.rows / device.cols are given (not null), matching them; a readable, valid curve file
    (device.curve); the non-idealities (device.c2c_std and device.read_noise finite and >= 0,
    device.stuck.fraction in [0, 1], a known device.stuck.level and training.update, a
    device.depression_curve file with the curve's number of points); and the shift map of
    distribution=measured (a file of shape (rows, cols), and only with that distribution).

    Keys of the non-idealities, the letters dataset and the shift map enter ``params`` only
    when they differ from their defaults, so a study without them keeps its config_hash.

    Returns:
        A `StudySpec` with the loaded curve, the dataset and the resolved parameters.
    """
    if not isinstance(cfg, (DictConfig, StudyConfig, dict)):
        raise ConfigError(
            f"cfg: expected a composed configuration (DictConfig) or a StudyConfig, "
            f"got {type(cfg).__name__}"
        )
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.structured(cfg)
    _check_keys(cfg, StudyConfig)
    try:
        train = check_train_params(
            **{key: _get(cfg, name) for key, name in _TRAIN_NAMES.items()}, names=_TRAIN_NAMES
        )
        low, high, division_factor = check_shift_params(
            **{key: _get(cfg, name) for key, name in _SHIFT_NAMES.items()}, names=_SHIFT_NAMES
        )
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    distribution = _choice(
        _get(cfg, "device.shift.distribution"), "device.shift.distribution", DISTRIBUTIONS
    )
    precision = _choice(_get(cfg, "mc.precision"), "mc.precision", PRECISIONS)
    mc = {
        "n_crossbars": _int(_get(cfg, "mc.n_crossbars"), "mc.n_crossbars", 1, MAX_SEED),
        "seed": _int(_get(cfg, "mc.seed"), "mc.seed", 0, MAX_SEED),
        "chunk_size": None
        if _get(cfg, "mc.chunk_size") is None
        else _int(_get(cfg, "mc.chunk_size"), "mc.chunk_size", 1),
        "precision": precision,
        "progress": bool(_get(cfg, "mc.progress")),
        "rerun": bool(OmegaConf.select(cfg, "mc.rerun", default=False)),
    }
    mc.update(_targeted(cfg, mc["n_crossbars"]))
    _check_report(cfg)
    rows_given, cols_given = _get(cfg, "device.rows"), _get(cfg, "device.cols")
    rows = None if rows_given is None else _int(rows_given, "device.rows", 1)
    cols = None if cols_given is None else _int(cols_given, "device.cols", 2)
    if cols is not None and cols % 2:
        raise ConfigError(
            f"device.cols={cols}: must be even (each neuron uses two columns, G+ and G-)"
        )
    dataset = _dataset(cfg, rows, cols)
    rows, cols = dataset.rows, dataset.cols
    curve, path = _load_curve(cfg)
    nonideal, device_extra, training_extra = _nonideal(cfg, curve)
    shift_map, map_extra = _shift_map(cfg, distribution, (rows, cols))

    _check_physical(curve, train, low, high, division_factor, distribution, shift_map, nonideal,
                    rows, precision)  # fmt: skip

    shift = {
        "distribution": distribution,
        "low": low,
        "high": high,
        "division_factor": division_factor,
    }
    dataset_params = {"name": dataset.name}
    if _get(cfg, "dataset.kind") != "patterns":
        dataset_params.update(
            kind=str(_get(cfg, "dataset.kind")),
            holdout_per_letter=int(_get(cfg, "dataset.holdout_per_letter")),
            split_seed=int(_get(cfg, "dataset.split_seed")),
            bias=bool(_get(cfg, "dataset.bias")),
        )
    params = {
        "device": {
            "curve": str(path),
            "curve_sha256": hashlib.sha256(curve.tobytes()).hexdigest(),
            "curve_points": int(curve.size),
            "k": train["k"],
            "rows": rows,
            "cols": cols,
            "shift": {**shift, **map_extra},
            **device_extra,
        },
        "training": {**{key: train[key] for key in _TRAIN_NAMES if key != "k"}, **training_extra},
        "dataset": {
            **dataset_params,
            "train": {
                "patterns": dataset.train_patterns.tolist(),
                "labels": dataset.train_labels.tolist(),
            },
            "test": {
                "patterns": dataset.test_patterns.tolist(),
                "labels": dataset.test_labels.tolist(),
            },
        },
        "mc": {
            **{key: mc[key] for key in ("n_crossbars", "seed", "chunk_size", "precision")},
            # only for a targeted run, so a fixed-size study keeps its config_hash
            **{key: mc[key] for key in ("target_halfwidth", "max_crossbars") if key in mc},
        },
    }
    return StudySpec(
        curve, path, dataset, train, shift, mc, params, nonideal=nonideal, shift_map=shift_map
    )
