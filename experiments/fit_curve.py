"""Fit smooth glassy-growth models to a measured conductance-versus-pulse curve.

    python experiments/fit_curve.py my_device.csv --out-dir fits --name my_device_model

The same as the installed command ``crossbar-jax-fit``; see `crossbar_jax.app.fit_app`.
"""

from __future__ import annotations

import sys

from crossbar_jax.app.fit_app import main, parse_args, plot_fits  # noqa: F401  (the script's API)

if __name__ == "__main__":
    sys.exit(main())
