"""The rate map over the dimensionless groups (pi1, pi2) of a grid (`crossbar_jax.dimensionless`).

One cell per grid point, coloured by its convergence rate, on log axes of pi1 (drive against
the targets' margin) and pi2 (shifts against the curve range); the band pi1 = 0.4-1.1 marks the
threshold where the rate rises, and the 0.05 rate contour is drawn where the grid allows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from crossbar_jax.plots.style import new_figure, save_figure, style

__all__ = ["THRESHOLD", "plot_phase_diagram", "phase_figure"]

THRESHOLD = (0.4, 1.1)  # pi1 range of the rate's sharp rise (issue 10's measurements)


def plot_phase_diagram(df: pd.DataFrame):
    """The figure of `df` (columns pi1, pi2, convergence_rate), or None without a 2-D grid."""
    if not {"pi1", "pi2", "convergence_rate"} <= set(df.columns):
        return None
    d = df[["pi1", "pi2", "convergence_rate"]].dropna().astype(float)
    p1 = np.unique(np.round(d["pi1"].to_numpy(), 12))
    p2 = np.unique(np.round(d["pi2"].to_numpy(), 12))
    if p1.size < 2 or p2.size < 2:
        return None
    rate = np.full((p2.size, p1.size), np.nan)
    for a, b, r in d.itertuples(index=False):
        rate[np.searchsorted(p2, round(b, 12)), np.searchsorted(p1, round(a, 12))] = r

    def edges(v):
        lv = np.log10(v)
        mid = (lv[1:] + lv[:-1]) / 2
        return 10 ** np.concatenate([[2 * lv[0] - mid[0]], mid, [2 * lv[-1] - mid[-1]]])

    with style():
        fig, ax = new_figure(width=4.6, height=3.2)
        mesh = ax.pcolormesh(edges(p1), edges(p2), rate, cmap="viridis", vmin=0, vmax=1)
        fig.colorbar(mesh, ax=ax, label="convergence rate")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axvspan(*THRESHOLD, color="white", alpha=0.25, lw=0)
        for x in THRESHOLD:
            ax.axvline(x, color="white", lw=0.8, ls="--")
        ax.text(np.sqrt(THRESHOLD[0] * THRESHOLD[1]), p2[-1], "threshold", color="white",
                ha="center", va="top", fontsize=7, rotation=90)  # fmt: skip
        if np.nanmin(rate) < 0.05 < np.nanmax(rate) and not np.isnan(rate).any():
            ax.contour(p1, p2, rate, levels=[0.05], colors="white", linewidths=1.0)
        for j, b in enumerate(p2):
            for i, a in enumerate(p1):
                if np.isfinite(rate[j, i]):
                    ax.text(a, b, f"{rate[j, i]:.2f}", ha="center", va="center", fontsize=5,
                            color="white" if rate[j, i] < 0.5 else "black")  # fmt: skip
        ax.set_xlabel("pi1 = beta k V Dg / atanh(t)")
        ax.set_ylabel("pi2 = shift high / Dg")
        ax.set_title("Convergence rate over the dimensionless groups")
    return fig


def phase_figure(out_dir, df: pd.DataFrame) -> Path | None:
    """Draw `plot_phase_diagram` into ``out_dir/figures/phase_diagram.png`` (None: no 2-D grid)."""
    fig = plot_phase_diagram(df)
    if fig is None:
        return None
    return save_figure(fig, Path(out_dir) / "figures" / "phase_diagram.png")
