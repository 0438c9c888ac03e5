"""One look for every figure: seaborn's paper style, journal-column sizes, labels with units.

Figures are built as `matplotlib.figure.Figure` objects without pyplot, so making them changes
no global state (no backend switch, no open-figure registry) and works headless; a notebook can
still show one with ``display(fig)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import matplotlib as mpl
from matplotlib.figure import Figure

__all__ = [
    "COLUMN_WIDTH",
    "PAGE_WIDTH",
    "DPI",
    "style",
    "new_figure",
    "new_grid",
    "save_figure",
    "figure_output",
    "figure_file",
    "FORMATS",
    "param_label",
    "param_scale",
    "no_data",
]

COLUMN_WIDTH = 3.4  # inches: one column of a two-column journal page
PAGE_WIDTH = 7.0  # inches: the full page width
DPI = 200  # png resolution: sharp in print at a column's width, a few hundred kB per figure
FORMATS = ("png", "pdf", "svg")

# Where the ``*_figures`` writers put their files: format, png dpi, and a callback per file
# written (a progress count). Set with `figure_output`.
_OUTPUT: ContextVar[tuple[str, int, Callable[[Path], None] | None]] = ContextVar(
    "crossbar_jax_figure_output", default=("png", DPI, None)
)

# Seaborn's "ticks" style in its "paper" context (seaborn 0.13), written out so that the run
# and crossbar figures look the same without importing seaborn, which costs about half a
# second of the main job (only the sweep heatmap needs seaborn itself).
_PAPER_TICKS = {
    "figure.facecolor": "white",
    "axes.labelcolor": ".15",
    "xtick.direction": "out",
    "ytick.direction": "out",
    "xtick.color": ".15",
    "ytick.color": ".15",
    "axes.axisbelow": True,
    "grid.linestyle": "-",
    "text.color": ".15",
    "font.family": ["sans-serif"],
    "font.sans-serif": [
        "Arial",
        "DejaVu Sans",
        "Liberation Sans",
        "Bitstream Vera Sans",
        "sans-serif",
    ],
    "lines.solid_capstyle": "round",
    "patch.edgecolor": "w",
    "patch.force_edgecolor": True,
    "xtick.top": False,
    "ytick.right": False,
    "axes.grid": False,
    "axes.facecolor": "white",
    "axes.edgecolor": ".15",
    "grid.color": ".8",
    "axes.spines.left": True,
    "axes.spines.bottom": True,
    "axes.spines.right": True,
    "axes.spines.top": True,
    "xtick.bottom": True,
    "ytick.left": True,
    "axes.linewidth": 1.0,
    "grid.linewidth": 0.8,
    "lines.linewidth": 1.2,
    "lines.markersize": 4.8,
    "patch.linewidth": 0.8,
    "xtick.major.width": 1.0,
    "ytick.major.width": 1.0,
    "xtick.minor.width": 0.8,
    "ytick.minor.width": 0.8,
    "xtick.major.size": 4.8,
    "ytick.major.size": 4.8,
    "xtick.minor.size": 3.2,
    "ytick.minor.size": 3.2,
    "font.size": 9.6,
    "axes.labelsize": 9.6,
    "axes.titlesize": 9.6,
    "xtick.labelsize": 8.8,
    "ytick.labelsize": 8.8,
    "legend.fontsize": 8.8,
    "legend.title_fontsize": 9.6,
}

# seaborn's "colorblind" palette
COLORBLIND = (
    "#0173b2",
    "#de8f05",
    "#029e73",
    "#d55e00",
    "#cc78bc",
    "#ca9161",
    "#fbafe4",
    "#949494",
    "#ece133",
    "#56b4e9",
)


def colorblind(n: int) -> list[str]:
    """`n` colours of the colorblind palette, repeating after ten (as seaborn's)."""
    return [COLORBLIND[i % len(COLORBLIND)] for i in range(n)]


_RC = {
    "axes.titlesize": 8.5,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 6.5,
    "legend.title_fontsize": 7,
    "figure.titlesize": 9,
    "axes.titleweight": "bold",
    "savefig.facecolor": "white",
    "axes.formatter.useoffset": False,  # no "+4.5e-7" offsets: tick labels read as values
}

# Physical name and unit of each known parameter column, and the factor from SI to the unit
# shown. Keys are the last components of the app's dotted column names.
_PARAMS = {
    "beta": (r"$\beta$", r"A$^{-1}$", 1.0),
    "k": ("k", "", 1.0),
    "beta_k": (r"$\beta k$", r"A$^{-1}$", 1.0),
    "positive_target": (r"$t_+$", "", 1.0),
    "negative_target": (r"$t_-$", "", 1.0),
    "low": ("smallest shift", "nS", 1e9),
    "high": ("largest shift", "nS", 1e9),
    "division_factor": ("shift division factor", "", 1.0),
    "epochs": ("epochs E", "", 1.0),
    "v0": (r"$V_0$", "V", 1.0),
    "v1": (r"$V_1$", "V", 1.0),
}


def _key(column: str) -> str:
    return str(column).rsplit(".", 1)[-1]


def param_label(column: str) -> str:
    """Axis label with unit for a parameter column, e.g. ``"training.beta"`` -> "β (A⁻¹)"."""
    name, unit, _ = _PARAMS.get(_key(column), (str(column), "", 1.0))
    return f"{name} ({unit})" if unit else name


def param_scale(column: str) -> float:
    """Factor that converts a column's SI values to the unit of `param_label`."""
    return _PARAMS.get(_key(column), (None, None, 1.0))[2]


@contextmanager
def style() -> Iterator[None]:
    """Seaborn's "ticks" style in the "paper" context, with slightly larger titles."""
    with mpl.rc_context({**_PAPER_TICKS, **_RC}):
        yield


def new_figure(width: float = COLUMN_WIDTH, height: float = 2.5, **subplots) -> tuple:
    """A constrained-layout `Figure` of the given size in inches and its axes.

    Call inside `style()`: the style applies to axes when they are created.
    """
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(**subplots)
    return fig, axes


def new_grid(width: float, height: float, nrows: int, ncols: int, **subplots) -> tuple:
    """A grid of shared-axis panels with fixed margins (inches) and a figure title.

    Constrained layout measures every tick label of every panel, which costs about a second
    for a 4 x 4 grid; a grid of identical panels does not need it.
    """
    fig = Figure(figsize=(width, height))
    margins = dict(
        left=0.72 / width,
        right=1 - 0.12 / width,
        bottom=0.42 / height,
        top=1 - 0.62 / height,
        hspace=0.22,
        wspace=0.12,
    )
    axes = fig.subplots(
        nrows, ncols, sharex=True, sharey=True, squeeze=False, gridspec_kw=margins, **subplots
    )
    return fig, axes


def grid_title(fig: Figure, text: str) -> None:
    """A figure title a fixed 0.1 inch below the top edge, clear of a `new_grid`'s panels
    whatever the figure's height (a fraction of a tall grid would overlap its first row)."""
    fig.suptitle(text, y=1 - 0.1 / fig.get_figheight(), va="top")


@contextmanager
def figure_output(
    fmt: str = "png", dpi: int = DPI, on_saved: Callable[[Path], None] | None = None
) -> Iterator[None]:
    """Within the block, the ``*_figures`` writers save `fmt` files (png, pdf or svg; png at
    `dpi`) and call ``on_saved(path)`` after each file."""
    if fmt not in FORMATS:
        raise ValueError(f"format={fmt!r}: expected one of {list(FORMATS)}")
    token = _OUTPUT.set((fmt, int(dpi), on_saved))
    try:
        yield
    finally:
        _OUTPUT.reset(token)


def figure_file(fig_dir, name: str) -> Path:
    """``fig_dir/name.<format>`` for the format of `figure_output` (default png)."""
    return Path(fig_dir) / f"{name}.{_OUTPUT.get()[0]}"


def save_figure(fig: Figure, path, *, dpi: int | None = None) -> Path:
    """Write `fig` atomically (a temporary file, then `os.replace`), in the format of the
    path's suffix (png, pdf, svg); png at `dpi` (default: that of `figure_output`, else `DPI`).
    Vector formats keep their text as text (pdf: embedded TrueType fonts, svg: text elements)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    _, default_dpi, on_saved = _OUTPUT.get()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    rc = {"pdf.fonttype": 42, "svg.fonttype": "none"}
    try:
        with mpl.rc_context(rc):
            fig.savefig(tmp, dpi=dpi or default_dpi, format=fmt)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if on_saved is not None:
        on_saved(path)
    return path


def no_data(ax, message: str) -> None:
    """Say in the axes why there is nothing to draw, instead of leaving them empty."""
    ax.text(
        0.5,
        0.5,
        message,
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=8,
        wrap=True,
        bbox={"boxstyle": "round", "fc": "0.95", "ec": "0.6"},
    )
