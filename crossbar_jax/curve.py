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

__all__ = ["CurveError", "load_curve", "validate_curve"]


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


def load_curve(
    path,
    *,
    column: int | str = 0,
    sep: str | None = None,
    skiprows: int | None = None,
    header: bool | None = None,
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

    Returns:
        A 1-D float64 array of conductances in siemens, in the file's order.

    Raises:
        CurveError: missing or empty file, unknown column, non-numeric cells, NaN or infinite
            values, non-positive conductances, fewer than 2 points. The message names the file.
    """
    if not isinstance(path, (str, Path)) and not hasattr(path, "__fspath__"):
        raise CurveError(f"path={path!r}: expected a file path (str or pathlib.Path)")
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
