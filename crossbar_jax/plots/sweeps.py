"""Figures of a parameter sweep: convergence rate and epochs across parameter points.

Input is the sweep's tidy table, one row per parameter point, with the swept parameters as
columns named like the config keys (``training.beta``, ``device.k``, ``device.shift.low``) and
the point's statistics: ``convergence_rate`` and its interval ``ci_low``/``ci_high``,
``epoch_p10``/``epoch_p50``/``epoch_p90`` (converged crossbars), ``km_median_epoch``,
``n_crossbars``. Optional columns may be missing; a figure that cannot be drawn is skipped.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

from crossbar_jax import stats
from crossbar_jax.plots.style import (
    COLUMN_WIDTH,
    figure_file,
    new_figure,
    no_data,
    param_label,
    param_scale,
    save_figure,
    style,
)

__all__ = [
    "plot_rate_heatmap",
    "plot_rate_line",
    "plot_rate_vs_beta_k",
    "plot_epoch_quantiles",
    "sweep_figures",
    "find_column",
    "interval_columns",
]

MAX_GROUPS = 8  # more hue groups than this make a figure unreadable; such figures are skipped
MAX_BANDS = 3  # p10-p90 bands are drawn for at most this many groups (they overlap)
MIN_CONVERGED = 10  # epoch quantiles of fewer converged crossbars are not plotted


def find_column(df: pd.DataFrame, name: str) -> str | None:
    """The column called `name` or ending in ``.name`` (``"beta"`` -> ``"training.beta"``)."""
    for col in df.columns:
        if col == name or str(col).endswith("." + name):
            return col
    return None


def interval_columns(df: pd.DataFrame, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper ends of each point's convergence-rate interval.

    Taken from ``ci_low``/``ci_high`` when present; else the Wilson interval is recomputed from
    ``convergence_rate`` and ``n_crossbars``; else both are NaN (no error bars).
    """
    if {"ci_low", "ci_high"} <= set(df.columns):
        return df["ci_low"].to_numpy(float), df["ci_high"].to_numpy(float)
    if "n_crossbars" in df.columns:
        n = df["n_crossbars"].to_numpy(int)
        k = np.rint(df["convergence_rate"].to_numpy(float) * n).astype(int)
        lo_hi = np.array(
            [stats.wilson_interval(a, b, confidence) for a, b in zip(k, n, strict=True)]
        )
        return lo_hi[:, 0], lo_hi[:, 1]
    nan = np.full(len(df), np.nan)
    return nan, nan.copy()


def _fmt(value) -> str:
    """Compact tick text: 1e7 -> "1e7", 0.5 -> "0.5", 2.5e-09 -> "2.5e-9"."""
    if isinstance(value, (float, int, np.floating, np.integer)):
        text = f"{float(value):.3g}"
        return re.sub(r"e([+-])0*(\d)", lambda m: "e" + m[1].replace("+", "") + m[2], text)
    return str(value)


def _linked(df: pd.DataFrame, a: str, b: str) -> bool:
    """Whether columns a and b determine each other (swept together, e.g. t+ and t- = -t+)."""
    return bool((df.groupby(a)[b].nunique() <= 1).all() and (df.groupby(b)[a].nunique() <= 1).all())


def _varying(df: pd.DataFrame, swept) -> list[str]:
    """Swept columns that take several values, one of each group of linked columns."""
    out: list[str] = []
    for c in swept:
        if c in df.columns and df[c].nunique(dropna=False) > 1:
            if not any(_linked(df, c, kept) for kept in out):
                out.append(c)
    return out


def _scaled(df: pd.DataFrame, col: str) -> np.ndarray:
    """A column's values in its plotting unit; a column of words (a mode, a case name) as
    labels, "default" where a job left the key unset (its ideal reference, say)."""
    values = df[col].to_numpy()
    if np.issubdtype(values.dtype, np.number):
        return values * param_scale(col)
    return np.asarray(["default" if pd.isna(v) else str(v) for v in values], dtype=object)


def _setting(col: str, value) -> str:
    """ "name = value unit" of one parameter value, e.g. "smallest shift = 1 nS"."""
    label = param_label(col)
    name, _, unit = label.partition(" (")
    unit = unit.rstrip(")")
    return f"{name} = {_fmt(value * param_scale(col))}" + (f" {unit}" if unit else "")


def _group_label(key, cols) -> str:
    """Legend text of a group: the settings of `cols`; symmetric targets read "t± = ±0.5"."""
    values = dict(zip(cols, key if isinstance(key, tuple) else (key,), strict=True))
    parts = []
    tp = next((c for c in values if str(c).endswith("positive_target")), None)
    tn = next((c for c in values if str(c).endswith("negative_target")), None)
    if tp and tn and np.isclose(values[tp], -values[tn]):
        parts.append(rf"$t_\pm$ = $\pm${_fmt(values[tp])}")
        values.pop(tp), values.pop(tn)
    parts += [_setting(c, v) for c, v in values.items()]
    return ", ".join(parts)


def _frac(v: float) -> str:
    """A proportion in 2 decimals, 3 below 0.01, so that small rates do not read as 0."""
    if v == 0 or v >= 0.01:
        return f"{v:.2f}" if v else "0"
    return f"{v:.3f}" if v >= 0.001 else "<0.001"


def _short(v: float) -> str:
    """An interval end for a heatmap cell: `_frac` without the leading zero (".35", "<.001")."""
    text = _frac(v)
    return "1" if v >= 1 or text == "1.00" else text.replace("0.", ".", 1)


def _cell_interval(lo: float, hi: float) -> str:
    """ "[.35,.37]"; "[<.001]" when both ends round alike (the whole interval below 0.001)."""
    a, b = _short(lo), _short(hi)
    return f"[{a}]" if a == b else f"[{a},{b}]"


def _log_x(ax, values) -> None:
    """Log x axis for values spanning a decade or more; labels on the decades only."""
    if not np.issubdtype(np.asarray(values).dtype, np.number):
        return  # labels: a categorical axis
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size > 1 and np.all(v > 0) and v.max() / v.min() >= 10.0:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ticks = np.unique(v)
        if ticks.size <= 8 and np.min(ticks[1:] / ticks[:-1]) >= 1.6:
            ax.xaxis.set_minor_locator(NullLocator())  # label the sampled values themselves
            ax.set_xticks(ticks, [_fmt(t) for t in ticks])
        else:
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda t, _: _fmt(t)))
    else:
        # a linear axis: values as written ("6e6", "2e7"), never a "1e7" multiplier or offset
        ax.xaxis.set_major_formatter(FuncFormatter(lambda t, _: _fmt(t)))


def _legend_below(fig, ax) -> None:
    """Legend under the axes (taller figure, width kept); two columns if the entries are short."""
    handles, labels = ax.get_legend_handles_labels()
    if not labels:
        return
    ncols = 2 if max(map(len, labels)) <= 30 else 1
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, height + 0.14 * -(-len(labels) // ncols) + 0.05)
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols, frameon=False)


def plot_rate_heatmap(df: pd.DataFrame, x: str, y: str, *, subtitle: str = "") -> Figure:
    """Convergence rate over two parameters, each cell annotated with its rate and interval.

    Rows of `df` must be unique in (x, y); fix the other swept parameters first.
    """
    if df.duplicated([x, y]).any():
        raise ValueError(f"several rows per ({x}, {y}); select one value of the other parameters")
    low, high = interval_columns(df)
    d = df.assign(_low=low, _high=high)
    rate = d.pivot(index=y, columns=x, values="convergence_rate").sort_index(ascending=False)
    lo = d.pivot(index=y, columns=x, values="_low").reindex_like(rate)
    hi = d.pivot(index=y, columns=x, values="_high").reindex_like(rate)
    ny, nx = rate.shape
    with_ci = nx * ny <= 64 and np.isfinite(lo.to_numpy(float)).any()
    text = np.full(rate.shape, "", dtype=object)
    for i, j in itertools.product(range(ny), range(nx)):
        r = rate.iat[i, j]
        if np.isfinite(r):
            ci = with_ci and np.isfinite(lo.iat[i, j])
            interval = _cell_interval(lo.iat[i, j], hi.iat[i, j]) if ci else ""
            text[i, j] = _frac(r) + (f"\n{interval}" if ci else "")
    width = min(7.0, max(COLUMN_WIDTH, 1.0 + 0.62 * nx))
    height = max(2.2, 0.8 + 0.42 * ny)
    with style():
        fig, ax = new_figure(width, height)
        sns.heatmap(
            rate,
            ax=ax,
            vmin=0.0,
            vmax=1.0,
            cmap="viridis",
            annot=text,
            fmt="",
            annot_kws={"fontsize": 5.5 if with_ci else 6.5},
            linewidths=0.5,
            linecolor="white",
            cbar_kws={"label": "convergence rate"},
        )
        ax.set_xticklabels([_fmt(v * param_scale(x)) for v in rate.columns], rotation=0)
        ax.set_yticklabels([_fmt(v * param_scale(y)) for v in rate.index], rotation=0)
        ax.set_xlabel(param_label(x))
        ax.set_ylabel(param_label(y))
        title = "Convergence rate" + (" [95% Wilson CI]" if with_ci else "")
        ax.set_title(title + (f"\n{subtitle}" if subtitle else ""))
    return fig


def _errorbar(ax, x, df: pd.DataFrame, label=None, **kw) -> None:
    rate = df["convergence_rate"].to_numpy(float)
    low, high = interval_columns(df)
    yerr = np.vstack([rate - low, high - rate]) if np.isfinite(low).any() else None
    ax.errorbar(x, rate, yerr=yerr, marker="o", ms=3, lw=1.1, capsize=2, label=label, **kw)


def _hue_groups(df: pd.DataFrame, cols: list[str]):
    if not cols:
        return [(None, df)]
    return [(key, g) for key, g in df.groupby(cols if len(cols) > 1 else cols[0], sort=True)]


def plot_rate_line(df: pd.DataFrame, x: str, *, hue: list[str] | None = None) -> Figure:
    """Convergence rate with its interval against one parameter (one line per `hue` group)."""
    hue = hue or []
    with style():
        fig, ax = new_figure(COLUMN_WIDTH, 2.5)
        palette = sns.color_palette("colorblind", max(1, len(_hue_groups(df, hue))))
        for color, (key, g) in zip(palette, _hue_groups(df, hue), strict=False):
            g = g.sort_values(x, na_position="first")  # an unset key: the reference
            _errorbar(
                ax, _scaled(g, x), g, color=color, label=_group_label(key, hue) if hue else None
            )
        _log_x(ax, _scaled(df, x))
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(param_label(x))
        ax.set_ylabel("convergence rate")
        ax.set_title("Convergence rate (95% Wilson CI)")
        if hue:
            _legend_below(fig, ax)
    return fig


def plot_rate_vs_beta_k(df: pd.DataFrame) -> Figure | None:
    """Convergence rate against beta*K, one line per target setting (and per shift range).

    Outcomes depend on beta and k only through beta*k (currents are linear in k), so points
    with different (beta, k) but equal products should agree within their intervals.
    Returns None when the table has no beta column or neither beta nor k varies.
    """
    beta = find_column(df, "beta")
    k = find_column(df, "k")
    if beta is None or (df[beta].nunique() < 2 and (k is None or df[k].nunique() < 2)):
        return None
    d = df.assign(_bk=df[beta].to_numpy(float) * (df[k].to_numpy(float) if k else 1.0))
    hue = [
        c
        for c in (find_column(df, "positive_target"), find_column(df, "negative_target"))
        if c is not None and df[c].nunique() > 1
    ]
    style_cols = [
        c
        for c in (find_column(df, "low"), find_column(df, "high"))
        if c is not None and df[c].nunique() > 1
    ]
    groups = _hue_groups(d, hue + style_cols)
    if len(groups) > MAX_GROUPS:
        return None
    palette = sns.color_palette("colorblind", max(1, len(groups)))
    with style():
        fig, ax = new_figure(COLUMN_WIDTH, 2.5)
        for color, (key, g) in zip(palette, groups, strict=False):
            g = g.sort_values("_bk")
            _errorbar(
                ax,
                g["_bk"].to_numpy(),
                g,
                color=color,
                label=_group_label(key, hue + style_cols) if key is not None else None,
            )
        _log_x(ax, d["_bk"])
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(r"$\beta k$ (A$^{-1}$)" if k else param_label(beta))
        ax.set_ylabel("convergence rate")
        ax.set_title(r"Convergence rate against $\beta k$ (95% CI)")
        if len(groups) > 1:
            _legend_below(fig, ax)
    return fig


def _converged_count(df: pd.DataFrame) -> np.ndarray | None:
    if "n_crossbars" not in df.columns:
        return None
    return np.rint(df["convergence_rate"].to_numpy(float) * df["n_crossbars"].to_numpy(float))


def plot_epoch_quantiles(df: pd.DataFrame, x: str, *, hue: list[str] | None = None) -> Figure:
    """Epochs to convergence against a parameter: median and p10-p90 of converged crossbars.

    Lines are the median epoch of the converged crossbars, shaded bands their p10-p90 range
    (drawn for up to `MAX_BANDS` groups), open circles the Kaplan-Meier median, which also
    counts the crossbars that never converged (absent where fewer than half converged).
    Quantiles of fewer than `MIN_CONVERGED` converged crossbars are noise and are left out.
    """
    hue = hue or []
    have = {"epoch_p10", "epoch_p50", "epoch_p90"} <= set(df.columns)
    d = df.copy()
    count = _converged_count(d)
    if have and count is not None:
        few = count < MIN_CONVERGED
        d.loc[few, ["epoch_p10", "epoch_p50", "epoch_p90"]] = np.nan
    groups = _hue_groups(d, hue)
    palette = sns.color_palette("colorblind", max(1, len(groups)))
    with style():
        fig, ax = new_figure(COLUMN_WIDTH, 2.5)
        ax.set_xlabel(param_label(x))
        ax.set_ylabel("epoch of convergence")
        ax.set_title("Epochs to convergence")
        if not have or d["epoch_p50"].isna().all():
            no_data(
                ax,
                f"fewer than {MIN_CONVERGED} converged crossbars at every point"
                if have
                else "no epoch quantiles in the sweep table",
            )
            return fig
        for color, (key, g) in zip(palette, groups, strict=False):
            g = g.sort_values(x, na_position="first")  # an unset key: the reference
            xs = _scaled(g, x)
            label = _group_label(key, hue) if hue else "median of converged"
            if len(groups) <= MAX_BANDS:
                ax.fill_between(
                    xs,
                    g["epoch_p10"].to_numpy(float),
                    g["epoch_p90"].to_numpy(float),
                    color=color,
                    alpha=0.2,
                    lw=0,
                )
            ax.plot(
                xs,
                g["epoch_p50"].to_numpy(float),
                color=color,
                marker="o",
                ms=3,
                lw=1.1,
                label=label,
            )
            if "km_median_epoch" in g.columns:
                ax.plot(
                    xs,
                    g["km_median_epoch"].to_numpy(float),
                    ls="none",
                    marker="o",
                    ms=5.5,
                    mfc="none",
                    mec=color,
                )
        if "km_median_epoch" in d.columns and d["km_median_epoch"].notna().any():
            ax.plot(
                [],
                [],
                ls="none",
                marker="o",
                mfc="none",
                mec="0.3",
                ms=5.5,
                label="open: Kaplan-Meier median",
            )
        if len(groups) <= MAX_BANDS:
            ax.fill_between(
                [], [], [], color="0.3", alpha=0.2, lw=0, label="band: p10-p90 of converged"
            )
        _log_x(ax, _scaled(df, x))
        ax.set_ylim(bottom=0)
        _legend_below(fig, ax)
    return fig


def _safe(name: str) -> str:
    """A column name as a file-name part: "device.shift.low" -> "device_shift_low"."""
    return re.sub(r"[^A-Za-z0-9]+", "_", str(name)).strip("_")


def sweep_figures(
    out_dir, df: pd.DataFrame, swept: list[str], *, heatmap: tuple[str, str] | None = None
) -> dict[str, Path]:
    """Write the sweep's figures as PNGs under ``out_dir/figures``.

    * two or more swept parameters vary: a rate heatmap over `heatmap` = (x, y) (default the
      first two varying swept columns), one per combination of the others (at most
      `MAX_GROUPS`); one varies: the rate against it;
    * the rate against beta*K, one line per target setting and shift range (when beta is a
      column);
    * epoch quantiles against each varying parameter, one line per value of the others.

    Args:
        out_dir: the sweep's output directory (figures go to its ``figures/``).
        df: one row per parameter point (module docstring).
        swept: the swept parameter columns, in order of importance.
        heatmap: the two columns of the heatmap.

    Returns:
        ``{name: path}`` of the figures written.
    """
    if len(df) == 0:
        raise ValueError("sweep table is empty")
    if "convergence_rate" not in df.columns:
        raise ValueError(f"sweep table: no convergence_rate column; have {list(df.columns)}")
    fig_dir = Path(out_dir) / "figures"
    varying = _varying(df, swept)
    made: dict[str, Figure] = {}
    if len(varying) == 1:
        made[f"rate_vs_{_safe(varying[0])}"] = plot_rate_line(df, varying[0])
    if len(varying) >= 2 or heatmap is not None:
        x, y = heatmap if heatmap is not None else varying[:2]
        for col in (x, y):
            if col not in df.columns:
                raise ValueError(f"heatmap: no column {col!r} in the sweep table")
        others = [
            c
            for c in varying
            if c not in (x, y) and not _linked(df, c, x) and not _linked(df, c, y)
        ]
        for i, (key, g) in enumerate(_hue_groups(df, others)[:MAX_GROUPS]):
            suffix = f"_{i}" if others else ""
            made[f"heatmap_{_safe(y)}_vs_{_safe(x)}{suffix}"] = plot_rate_heatmap(
                g, x, y, subtitle=_group_label(key, others) if others else ""
            )
    fig = plot_rate_vs_beta_k(df)
    if fig is not None:
        made["rate_vs_beta_k"] = fig
    for x in varying:
        others = [c for c in varying if c != x]
        if len(_hue_groups(df, others)) <= MAX_GROUPS:
            made[f"epochs_vs_{_safe(x)}"] = plot_epoch_quantiles(df, x, hue=others)
    return {name: save_figure(fig, figure_file(fig_dir, name)) for name, fig in made.items()}
