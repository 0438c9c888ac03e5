"""Draw docs/figures/nonideal_device_model.png: the device model of the non-idealities.

    python experiments/device_model_figure.py [CURVE] [--out docs/figures/nonideal_device_model.png]

CURVE defaults to the shipped model curve data/lsmo_gaq3_model.csv. The panels are computed with
the general engine's kernels (crossbar_jax.nonideal), see crossbar_jax.plots.nonideal.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crossbar_jax.curve import load_curve
from crossbar_jax.plots.nonideal import plot_device_model
from crossbar_jax.plots.style import save_figure

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("curve", nargs="?", default=REPO / "data" / "lsmo_gaq3_model.csv")
    parser.add_argument("--out", default=REPO / "docs" / "figures" / "nonideal_device_model.png")
    parser.add_argument("--c2c-std", type=float, default=4e-9, help="siemens (default 4e-9)")
    args = parser.parse_args()
    fig = plot_device_model(load_curve(args.curve), c2c_std=args.c2c_std)
    print(f"wrote {save_figure(fig, args.out)}")


if __name__ == "__main__":
    main()
