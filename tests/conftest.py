"""Shared fixtures. The optional measured-curve reference data is read from the folder named by
CROSSBAR_JAX_REFERENCE (default: a reference folder beside the clone, when there is one)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("CROSSBAR_JAX_REFERENCE") or REPO.parent / "shared" / "reference")


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not (REFERENCE / "parity_cases.json").exists():
        pytest.skip(
            f"reference data not found at {REFERENCE} (set CROSSBAR_JAX_REFERENCE to the folder "
            "holding parity_cases.json and lsmo_gaq3_potentiation.csv)"
        )
    return REFERENCE


@pytest.fixture(scope="session")
def measured_curve(reference_dir):
    import crossbar_jax as cj

    return cj.load_curve(reference_dir / "lsmo_gaq3_potentiation.csv")


@pytest.fixture(scope="session")
def parity(reference_dir) -> dict:
    return json.loads((reference_dir / "parity_cases.json").read_text())


@pytest.fixture
def compose_cfg():
    """Compose the app's Hydra config (conf/config.yaml) with overrides, as the app would."""
    from hydra import compose, initialize_config_dir

    import crossbar_jax.app.config  # noqa: F401  registers the schema, as the app does

    def _compose(*overrides: str, return_hydra_config: bool = False):
        # Figures take seconds per job; tests that want them say report.figures=true.
        if not any(o.startswith("report.figures") for o in overrides):
            overrides = ("report.figures=false", *overrides)
        # The schema's defaults (ALGORITHM.md's point: ~experiment drops the main job's
        # experiment=default) unless a test names an experiment; the main job's own defaults
        # are tested in test_config.py.
        if not any(o.lstrip("+~").split("=")[0] == "experiment" for o in overrides):
            overrides = ("~experiment", *overrides)
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            return compose(
                config_name="config",
                overrides=list(overrides),
                return_hydra_config=return_hydra_config,
            )

    return _compose


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if a study gets past validation to simulating (bad-input tests)."""
    import crossbar_jax.app.study as study

    def forbidden(spec):
        raise AssertionError("validation should have failed before any simulation")

    monkeypatch.setattr(study, "_simulate", forbidden)
