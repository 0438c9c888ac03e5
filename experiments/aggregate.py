"""Collect every job of a sweep into MULTIRUN_DIR/sweep.parquet and sweep.csv.

    python experiments/aggregate.py multirun/beta_k_grid

The same as the installed command ``crossbar-jax-aggregate`` (`crossbar_jax.app.cli`): one row
per complete job, the swept parameters first; see `crossbar_jax.app.sweep.aggregate`.
"""

from __future__ import annotations

import sys

from crossbar_jax.app.cli import aggregate_main

if __name__ == "__main__":
    sys.exit(aggregate_main())
