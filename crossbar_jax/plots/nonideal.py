"""Figures of the non-idealities: the device model, and the ranking of their effects.

`plot_device_model` draws what `crossbar_jax.nonideal` does to one device and one synapse,
computed with the engine's own kernels; `plot_nonideality_ranking` draws the convergence rate of
each case of a study (e.g. ``experiment=nonidealities``) against the ideal one, with intervals.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from crossbar_jax.nonideal import DeviceState, NonIdeal, apply_update, device_conductances
from crossbar_jax.plots.style import PAGE_WIDTH, new_figure, style

__all__ = ["device_trajectory", "plot_device_model", "plot_nonideality_ranking"]

_BLUE, _RED, _GREY = "#2a7ab0", "#c8553d", "0.45"


def device_trajectory(curve, signs, nonideal: NonIdeal, *, key=0, stuck=(False, False)):
    """Conductances (siemens, without shift, k = 1) of one synapse's pair (G+, G-) under a
    sequence of Manhattan signs, as the general engine updates them.

    Args:
        curve: (L,) potentiation curve, siemens.
        signs: sequence of +1 / -1 / 0, one per epoch.
        nonideal: the effects (c2c_std, update, depression_curve, stuck level).
        key: seed of the cycle-to-cycle noise.
        stuck: whether G+ and G- are stuck.

    Returns:
        (len(signs) + 1, 2) array: the pair before the first and after every update.
    """
    g = np.asarray(curve, np.float64)
    length = g.size
    sw = nonideal.switches()._replace(stuck=any(stuck))
    offsets = jnp.asarray(g - g[0])
    dep = g[::-1] if nonideal.depression_curve is None else np.asarray(nonideal.depression_curve)
    dep_offsets = jnp.asarray(dep - g[0])
    stuck_mask = jnp.asarray([list(stuck)])
    start = length - 1 if nonideal.stuck_level == "high" else 0
    dev = DeviceState(
        jnp.where(stuck_mask, start, 0).astype(jnp.int32),
        jnp.zeros((1, 2)),
        jnp.zeros((1, 2), bool),
    )
    zeros = jnp.zeros((1, 2))
    out = [device_conductances(dev, zeros, offsets, dep_offsets, 1.0, sw)]
    base = jax.random.key(key)
    for e, s in enumerate(signs):
        direction = jnp.full((1, 1), s)
        dev = apply_update(
            dev, direction, jnp.array(True), stuck_mask, jax.random.fold_in(base, e),
            nonideal.c2c_std, length, sw,
        )  # fmt: skip
        out.append(device_conductances(dev, zeros, offsets, dep_offsets, 1.0, sw))
    return np.asarray(jnp.stack(out))[:, 0, :]


def plot_device_model(curve, *, c2c_std=4e-9, depression_curve=None, seed=0) -> Figure:
    """Three panels: (a) cycle-to-cycle variation and stuck devices along the curve; (b) the
    potentiation and depression branches of one device; (c) a synapse's weight G+ - G- under
    Manhattan steps with the potentiate-only and the bidirectional update: potentiating only,
    a step down pulses G-, which climbs its own curve from the bottom while G+ stays up, so
    the weight cannot fall much below zero; depressing G+ at the same time reverses it.

    Conductances are shown relative to the curve's first point, g - g[0] (nS), without shift
    and with k = 1, as they enter ``G = k (g[n] - g[0] + s + eta)``.
    """
    g = np.asarray(curve, np.float64)
    length = g.size
    pulses = np.arange(length)
    nano = 1e9
    if depression_curve is None:  # illustrative asymmetric depression: fast, then slow
        j = np.arange(length)
        depression_curve = g[0] + (g[-1] - g[0]) * np.exp(-j / 6.0)
    with style():
        fig, axes = new_figure(PAGE_WIDTH, 2.6, ncols=3)
        ax = axes[0]
        up = [1] * (length - 1)
        for r in range(5):
            t = device_trajectory(g, up, NonIdeal(c2c_std=c2c_std), key=seed + r)
            ax.plot(pulses, t[:, 0] * nano, color=_BLUE, lw=0.7, alpha=0.6,
                    label=f"c2c {c2c_std * nano:g} nS (5 devices)" if r == 0 else None)  # fmt: skip
        ax.plot(pulses, (g - g[0]) * nano, color="k", lw=1.4, label="curve g[n] - g[0]")
        for level, color in (("low", _GREY), ("high", _RED)):
            t = device_trajectory(
                g, up, NonIdeal(stuck_fraction=1.0, stuck_level=level), stuck=(True, True)
            )
            ax.plot(pulses, t[:, 0] * nano, color=color, ls="--", lw=1.1, label=f"stuck {level}")
        ax.set(xlabel="potentiation pulses", ylabel="g - g[0] (nS)",
               title="(a) c2c variation, stuck devices")  # fmt: skip
        ax.set_ylim(-10, 150)
        ax.legend(frameon=False, loc="upper left", fontsize=6, ncols=2)

        ax = axes[1]
        seq = [1] * (length - 1) + [-1] * (length - 1)
        x = np.arange(len(seq) + 1)
        for name, dep, color in (
            ("mirror (default)", None, _BLUE),
            ("illustrative curve", depression_curve, _RED),
        ):
            ni = NonIdeal(update="bidirectional", depression_curve=dep)
            t = device_trajectory(g, seq, ni)  # G+ is potentiated, then depressed
            ax.plot(x, t[:, 0] * nano, color=color, lw=1.2, label=name)
        ax.axvline(length - 1, color="0.7", lw=0.8, ls=":")
        ax.text(length * 0.5, 2, "potentiate", ha="center", fontsize=7, color="0.3")
        ax.text(length * 1.5, 2, "depress", ha="center", fontsize=7, color="0.3")
        ax.set(xlabel="pulse", ylabel="g - g[0] (nS)", title="(b) depression branch")
        ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0.02, 0.1),
                  title="depression")  # fmt: skip

        ax = axes[2]
        signs = [1] * 20 + [-1] * 25
        x = np.arange(len(signs) + 1)
        for update, color in (("potentiate", _GREY), ("bidirectional", _BLUE)):
            t = device_trajectory(g, signs, NonIdeal(update=update))
            ax.plot(x, (t[:, 0] - t[:, 1]) * nano, color=color, lw=1.4, label=update)
        ax.axhline(0, color="0.8", lw=0.6)
        ax.axvline(20, color="0.7", lw=0.8, ls=":")
        ax.set(xlabel="epoch (20 up, then 25 down)", ylabel="weight G+ - G- (nS)",
               title="(c) one synapse's weight")  # fmt: skip
        ax.legend(frameon=False, loc="lower left", title="training.update")
    return fig


def plot_nonideality_ranking(table: pd.DataFrame, *, baseline: str = "ideal") -> Figure:
    """Convergence rate of each case with its 95% Wilson interval, ranked by the change from
    the baseline case (most harmful at the top).

    Red: lower than the baseline, blue: higher; grey where a paired interval of the change
    (columns ``paired_low``, ``paired_high``, when the table has them) includes zero.

    Args:
        table: one row per case with columns ``case``, ``convergence_rate``, ``ci_low``,
            ``ci_high`` (as the app's sweep table has them, plus a case name).
        baseline: the case the others are compared with.
    """
    t = table.set_index("case")
    base = t.loc[baseline]
    order = t.drop(index=baseline).sort_values("convergence_rate").index.tolist()
    rows = [baseline, *order][::-1]
    with style():
        fig, ax = new_figure(PAGE_WIDTH * 0.62, 0.32 * len(rows) + 0.8)
        y = np.arange(len(rows))
        rate = t.loc[rows, "convergence_rate"].to_numpy()
        lo, hi = t.loc[rows, "ci_low"].to_numpy(), t.loc[rows, "ci_high"].to_numpy()
        paired = {"paired_low", "paired_high"} <= set(t.columns)

        def color(case, value):
            if case == baseline or (
                paired and t.loc[case, "paired_low"] <= 0 <= t.loc[case, "paired_high"]
            ):
                return _GREY
            return _RED if value < base.convergence_rate else _BLUE

        colors = [color(r, v) for r, v in zip(rows, rate, strict=True)]
        ax.axvspan(base.ci_low, base.ci_high, color="0.88", lw=0)
        ax.axvline(base.convergence_rate, color="0.5", lw=0.8)
        ax.errorbar(rate, y, xerr=[rate - lo, hi - rate], fmt="none", ecolor="0.2", lw=1,
                    capsize=2)  # fmt: skip
        ax.scatter(rate, y, c=colors, s=22, zorder=3)
        ax.set_yticks(y, rows)
        ax.margins(x=0.12)  # room for the labels of the changes
        ax.set_xlabel("convergence rate (95% Wilson interval)")
        ax.set_title("Effect of each non-ideality on convergence")
        for yi, v in zip(y, rate, strict=True):
            ax.annotate(f"{v - base.convergence_rate:+.3f}", (v, yi), xytext=(4, 4),
                        textcoords="offset points", fontsize=6.5, color="0.3")  # fmt: skip
    return fig
