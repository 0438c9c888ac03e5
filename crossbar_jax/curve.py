"""Loading and checking a measured conductance-versus-pulse curve.

A curve is the conductance of one device, in siemens, before any pulse (index 0) and after each
of a train of identical programming pulses (index k after k pulses). The training engine indexes
into it with each device's pulse count, so the curve is used exactly as measured: it is never
sorted or smoothed, and a non-monotone step (measurement noise, a pulse that lowers the
conductance) is kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = [
    "CurveError",
    "PLAUSIBLE_SIEMENS",
    "SEPARATORS",
    "layout_hint",
    "load_curve",
    "resolve_sep",
    "unit_warning",
    "validate_curve",
]

# Conductances of real memristive devices lie far inside this range (siemens); values outside
# it are almost always another unit (nS, uS) or another column (pulse numbers, voltages).
PLAUSIBLE_SIEMENS = (1e-12, 1e-3)

# Separator names, for command lines where ";" or "," are awkward to quote (Hydra's override
# syntax reads "," as a list): device.curve_sep=semicolon. "whitespace": runs of blanks/tabs.
SEPARATORS = {"comma": ",", "semicolon": ";", "tab": "\t", "space": " ", "whitespace": None}

# How the file-layout arguments are called in hints; the app passes its config keys.
_KEYS = {"column": "column", "sep": "sep"}


class CurveError(ValueError):
    """A conductance curve file or array that cannot be used, with the reason."""


def validate_curve(values, *, source: str = "curve") -> np.ndarray:
    """Check a conductance curve and return it as a 1-D float64 array (siemens).

    Args:
        values: conductances in siemens, before any pulse and after each pulse.
        source: how to name the curve in error messages (a file path, a config key).

    Raises:
        CurveError: the curve is not 1-D, has fewer than 2 points, holds NaN or infinite
            values, or a conductance that is not positive.
    """
    return _validate(values, source, lambda i: f"point {i} (counting from 0)")


def _validate(values, source: str, where) -> np.ndarray:
    """validate_curve, with ``where(i)`` describing point ``i`` in messages."""
    try:
        g = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CurveError(f"{source}: conductances must be numbers ({exc})") from None
    if g.ndim != 1:
        raise CurveError(
            f"{source}: a curve must be one column of conductances, got shape {g.shape}"
        )
    if g.size < 2:
        raise CurveError(
            f"{source}: a curve needs at least 2 points (before and after one pulse), got {g.size}"
        )
    bad = ~np.isfinite(g)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CurveError(
            f"{source}: {int(bad.sum())} NaN or infinite value(s), "
            f"first at {where(i)}: {float(g[i])!r}"
        )
    nonpos = g <= 0
    if nonpos.any():
        i = int(np.flatnonzero(nonpos)[0])
        raise CurveError(
            f"{source}: conductances must be positive (siemens); {int(nonpos.sum())} value(s) "
            f"<= 0, first at {where(i)}: {float(g[i])!r}"
        )
    return g


def resolve_sep(sep: str | None) -> str | None:
    """A separator or its name (`SEPARATORS`: comma, semicolon, tab, space, whitespace)."""
    if sep is None:
        return None
    return SEPARATORS.get(str(sep).strip().lower(), sep) if str(sep).strip() else sep


def load_curve(
    path,
    *,
    column: int | str = 0,
    sep: str | None = None,
    skiprows: int | None = None,
    header: bool | None = None,
    keys: dict | None = None,
) -> np.ndarray:
    """Read a measured conductance-versus-pulse curve from a text file.

    The file holds one conductance per line (siemens): a ``.csv`` with a header line such as
    ``Conductance(S)``, or a whitespace-separated ``.dat``/``.txt`` table. Lines starting with
    ``#`` are comments.

    Args:
        path: the file.
        column: which column holds the conductance: a 0-based index, or a header name.
        sep: the field separator; default ``,`` for ``.csv`` and whitespace otherwise.
        skiprows: lines to skip before the header or the data (instrument preambles).
        header: whether the first (non-skipped) line is a header; by default it is when it
            does not parse as numbers.
        keys: how to name `column` and `sep` in hints (``{"column": "device.curve_column",
            "sep": "device.curve_sep"}`` in the app).

    Returns:
        A 1-D float64 array of conductances in siemens, in the file's order.

    Raises:
        CurveError: missing or empty file, unknown column, non-numeric cells, NaN or infinite
            values, non-positive conductances, fewer than 2 points. The message names the file,
            and, when another column or separator would give conductances, says which.
    """
    if not isinstance(path, (str, Path)) and not hasattr(path, "__fspath__"):
        raise CurveError(f"path={path!r}: expected a file path (str or pathlib.Path)")
    sep = resolve_sep(sep)
    try:
        return _load(path, column, sep, skiprows, header)
    except CurveError as exc:
        if sep is not None and (not isinstance(sep, str) or not sep):
            raise  # a separator that cannot split lines: the message says so, no layout hint
        hint = layout_hint(path, column=column, sep=sep, skiprows=skiprows, keys=keys)
        if not hint:
            raise
        raise CurveError(f"{exc}; {hint}") from None


def _load(path, column, sep, skiprows, header) -> np.ndarray:
    p = Path(path)
    name = str(p)
    if not p.exists():
        raise CurveError(f"{name}: curve file not found")
    if p.is_dir():
        raise CurveError(f"{name}: is a directory, expected a curve file")
    if skiprows is not None and (
        isinstance(skiprows, bool) or not isinstance(skiprows, (int, np.integer)) or skiprows < 0
    ):
        raise CurveError(f"{name}: skiprows={skiprows!r}: expected an integer >= 0")
    if isinstance(column, bool) or not isinstance(column, (int, np.integer, str)):
        raise CurveError(
            f"{name}: column={column!r}: expected a 0-based column index or a header name"
        )
    if sep is not None and (not isinstance(sep, str) or sep == ""):
        raise CurveError(
            f"{name}: sep={sep!r}: expected a non-empty field separator such as ',' or ';' "
            "(None: ',' for .csv, whitespace otherwise)"
        )
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CurveError(
            f"{name}: not a text file in UTF-8 (byte {exc.start} is not UTF-8); expected one "
            "conductance per line, in siemens (save the file as UTF-8 text)"
        ) from None
    except OSError as exc:
        raise CurveError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    skip = skiprows or 0
    # (1-based line number in the file, text), so that messages point at the right line
    lines = [
        (i, ln)
        for i, ln in enumerate(text.splitlines()[skip:], start=1 + skip)
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if not lines:
        raise CurveError(
            f"{name}: the file is empty (no data lines"
            + (f" after skipping {skip} line(s))" if skip else ")")
        )
    if sep is None:
        sep = "," if p.suffix.lower() == ".csv" else None

    def split(line: str) -> list[str]:
        return [c.strip() for c in (line.split(sep) if sep is not None else line.split())]

    first = split(lines[0][1])
    if header is None:
        header = not all(_is_number(c) for c in first if c)
    names = first if header else None
    rows = lines[1:] if header else lines
    if not rows:
        raise CurveError(
            f"{name}: the file has a header line ({lines[0][1].strip()!r}) but no data lines"
        )

    if isinstance(column, str):
        if names is None or column not in names:
            raise CurveError(
                f"{name}: no column named {column!r}; header columns are {names or 'absent'}"
            )
        col = names.index(column)
    else:
        col = int(column)

    values, linenos = [], []
    for lineno, line in rows:
        cells = split(line)
        if col >= len(cells) or col < -len(cells):
            raise CurveError(
                f"{name}: line {lineno} has {len(cells)} column(s), no column {column!r}"
            )
        cell = cells[col]
        try:
            values.append(float(cell))
            linenos.append(lineno)
        except ValueError:
            raise CurveError(
                f"{name}: line {lineno}: non-numeric cell {cell!r} in column {column!r}"
            ) from None
    return _validate(
        np.array(values, dtype=np.float64), name, lambda i: f"point {i} (line {linenos[i]})"
    )


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _data_cells(path, sep, skiprows) -> list[list[str]] | None:
    """The non-comment lines of a curve file split by `sep` (None: unreadable)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    lines = [
        ln
        for ln in text.splitlines()[skiprows or 0 :]
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if sep is None and p.suffix.lower() == ".csv":
        sep = ","
    return [[c.strip() for c in (ln.split(sep) if sep is not None else ln.split())] for ln in lines]


def _numbers(cells: list[str]) -> np.ndarray | None:
    try:
        return np.array([float(c) for c in cells], dtype=np.float64)
    except ValueError:
        return None


def _plausible(values: np.ndarray | None) -> bool:
    lo, hi = PLAUSIBLE_SIEMENS
    return (
        values is not None
        and values.size >= 2
        and bool(np.all(np.isfinite(values)))
        and bool(np.all((values >= lo) & (values <= hi)))
    )


def _columns(rows: list[list[str]]) -> list[np.ndarray | None]:
    """Each column's values below an optional header line (None: not all numbers)."""
    body = rows[1:] if _numbers(rows[0]) is None else rows  # below a header line, if any
    if not body:
        return []
    width = len(body[0])
    if any(len(r) != width for r in body):
        return []
    return [_numbers([r[j] for r in body]) for j in range(width)]


def layout_hint(path, *, column=0, sep=None, skiprows=None, keys: dict | None = None) -> str:
    """A hint when the file's layout, not its values, looks wrong; "" when none applies.

    Names the column (``keys["column"]``) whose values look like conductances in siemens when
    that is not the one read, or the separator (``keys["sep"]``) that splits each line into
    numbers when the one in use does not.
    """
    names = {**_KEYS, **(keys or {})}
    sep = resolve_sep(sep)
    rows = _data_cells(path, sep, skiprows)
    if not rows:
        return ""
    cols = _columns(rows)
    if len(cols) > 1:
        good = [j for j, values in enumerate(cols) if _plausible(values)]
        current = column if isinstance(column, int) else None
        if isinstance(column, str) and column in rows[0]:
            current = rows[0].index(column)
        good = [j for j in good if j != current]
        if good:
            return (
                f"the file has {len(cols)} columns and column {good[0]} (0-based) looks like "
                f"conductances in siemens: set {names['column']}={good[0]}"
            )
        return ""
    line = rows[-1][0] if rows[-1] else ""
    for name, char in SEPARATORS.items():
        if char is None or char == sep:
            continue
        parts = [c.strip() for c in line.split(char)]
        if len(parts) > 1 and all(_numbers([c]) is not None for c in parts if c):
            return (
                f"the lines look like {len(parts)} fields separated by {char!r}: set "
                f"{names['sep']}={name} (and {names['column']} to the conductance column)"
            )
    return ""


def unit_warning(g, source: str, *, hint: str = "") -> str | None:
    """A warning when conductances `g` are implausible for siemens (outside 1 pS .. 1 mS).

    A curve in nS (values around 500) would otherwise be taken as 500 S, and every crossbar
    would converge. `hint` (a `layout_hint`) is appended when given.
    """
    g = np.asarray(g, dtype=np.float64)
    lo, hi = PLAUSIBLE_SIEMENS
    g_min, g_max = float(np.min(g)), float(np.max(g))
    if lo <= g_min and g_max <= hi:
        return None
    text = (
        f"{source}: conductances from {g_min:.4g} to {g_max:.4g} are implausible in siemens "
        f"(expected between {lo:g} S and {hi:g} S)"
    )
    steps = np.diff(g)
    if g.size > 2 and np.all(g == np.round(g)) and np.all(steps == 1):
        text += "; they count up 1, 2, 3, ... like pulse numbers, not conductances"
    else:
        for unit, factor in (("nS", 1e-9), ("uS", 1e-6), ("mS", 1e-3)):
            if lo <= g_min * factor and g_max * factor <= hi and g_max * factor >= 1e-10:
                text += f"; if the file is in {unit}, multiply it by {factor:g}"
                break
    return f"{text}; {hint}" if hint else text
