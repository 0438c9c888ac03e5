"""crossbar_jax: batch Monte Carlo of in-situ Manhattan-rule training of memristor crossbars."""

# First: applies the package's XLA defaults before anything starts a JAX backend.
from crossbar_jax import xla_defaults as _xla_defaults  # isort: skip  # noqa: F401
from crossbar_jax.batching import use_cpu_cores
from crossbar_jax.curve import CurveError, load_curve, validate_curve
from crossbar_jax.datasets import FOUR_BIT, LETTERS, Dataset, letters_dataset, make_dataset
from crossbar_jax.device import apply_pulses, curve_offsets, lookup_conductance
from crossbar_jax.engine import TrainResult, train, train_nonideal
from crossbar_jax.evaluate import UNDECIDED, Evaluation, evaluate, predict
from crossbar_jax.forward import forward
from crossbar_jax.manhattan import epoch_error, manhattan_direction, pattern_success
from crossbar_jax.montecarlo import (
    GridResult,
    MonteCarloResult,
    run_grid,
    run_monte_carlo,
    run_monte_carlo_nonideal,
)
from crossbar_jax.nonideal import NonIdeal
from crossbar_jax.variation import crossbar_keys, lognormal_minmax, sample_shifts

__version__ = "0.1.0"

# The study app's layer (Hydra configs, output files, sweeps) pulls in hydra and pandas; it is
# imported on first use so that `import crossbar_jax` stays as light as the engine.
_APP = {
    "ConfigError": "crossbar_jax.app.config",
    "StudyConfig": "crossbar_jax.app.config",
    "validate_config": "crossbar_jax.app.config",
    "run_study": "crossbar_jax.app.study",
    "aggregate": "crossbar_jax.app.sweep",
}


def __getattr__(name):
    if name in _APP:
        import importlib

        return getattr(importlib.import_module(_APP[name]), name)
    raise AttributeError(f"module 'crossbar_jax' has no attribute {name!r}")


__all__ = [
    "CurveError",
    "Evaluation",
    "GridResult",
    "MonteCarloResult",
    "UNDECIDED",
    "Dataset",
    "FOUR_BIT",
    "LETTERS",
    "NonIdeal",
    "letters_dataset",
    "run_monte_carlo_nonideal",
    "train_nonideal",
    "TrainResult",
    "apply_pulses",
    "crossbar_keys",
    "curve_offsets",
    "epoch_error",
    "evaluate",
    "predict",
    "run_grid",
    "run_monte_carlo",
    "forward",
    "load_curve",
    "lognormal_minmax",
    "lookup_conductance",
    "make_dataset",
    "manhattan_direction",
    "pattern_success",
    "sample_shifts",
    "train",
    "use_cpu_cores",
    "validate_curve",
    *_APP,
]
