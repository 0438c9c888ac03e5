"""The Monte Carlo study app: convergence of many seeded crossbars at one parameter point.

    python experiments/convergence.py                                   # one run, defaults
    python experiments/convergence.py training.beta=2e7 device.k=30     # one run, changed
    python experiments/convergence.py -m training.beta=6e6,2e7 device.k=10,30   # a sweep
    python experiments/convergence.py -m experiment=beta_k_grid         # a named study

Configuration: conf/ (documented in docs/app.md). The work is done by
`crossbar_jax.study.run_study`; this file only connects it to Hydra.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from crossbar_jax.errors import exit_on_error
from crossbar_jax.study import run_study

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def run(cfg: DictConfig) -> dict:
    """Run one job of the app in Hydra's output folder.

    A bad input or an I/O error (unreadable curve, read-only folder, full disk, a folder
    locked by another run, results that are not finite) exits with status 1 and one line on
    stderr (`crossbar_jax.errors.exit_on_error`); ``HYDRA_FULL_ERROR=1`` shows the traceback.
    """
    hc = HydraConfig.get()
    job = {
        "num": OmegaConf.select(hc, "job.num", default=None),
        "override_dirname": hc.job.override_dirname,
        "overrides": list(hc.overrides.task),
    }
    return exit_on_error(run_study, cfg, hc.runtime.output_dir, job=job)


def objective(summary: dict) -> float | None:
    """What a job returns to Hydra: its convergence rate (what hydra/sweeper=optuna
    maximises); None for an in-process grid, which has one rate per point."""
    rate = summary.get("convergence_rate")
    return None if rate is None else float(rate)


@hydra.main(version_base="1.3", config_path=CONF, config_name="config")
def main(cfg: DictConfig) -> float | None:
    return objective(run(cfg))


if __name__ == "__main__":
    main()
