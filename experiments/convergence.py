"""The Monte Carlo study app: convergence of many seeded crossbars at one parameter point.

    python experiments/convergence.py                                   # one run, defaults
    python experiments/convergence.py training.beta=2e7 device.k=30     # one run, changed
    python experiments/convergence.py -m training.beta=6e6,2e7 device.k=10,30   # a sweep
    python experiments/convergence.py -m experiment=beta_k_grid         # a named study

The same as the installed command ``crossbar-jax`` (`crossbar_jax.app.cli.app`). Configuration:
conf/ (documented in docs/app.md); ``--help`` lists the main keys.
"""

from __future__ import annotations

from crossbar_jax.app.cli import app, objective  # noqa: F401  (objective: what a job returns)

if __name__ == "__main__":
    app()
