"""Output files of a study, written atomically.

Every file is written to a temporary file in the same folder and then renamed over its final
name (``os.replace``, atomic on POSIX), so a run killed at any moment leaves either the previous
complete file or none, never a half-written one. Temporary files carry a ``.tmp`` suffix and a
leading dot; `remove_stale_temporaries` clears the ones a killed run left behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

__all__ = [
    "RESULTS",
    "SUMMARY",
    "atomic_write",
    "read_json",
    "remove_stale_temporaries",
    "write_csv",
    "write_json",
    "write_parquet",
]

RESULTS = "results.parquet"  # one row per crossbar
SUMMARY = "summary.json"  # written last: its presence marks a complete job


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write(path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside `path`, flush it to disk, rename it.

    On any error the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json(path, obj) -> Path:
    """`obj` as indented JSON (strict: NaN and infinities are refused)."""
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_parquet(path, df: pd.DataFrame) -> Path:
    return atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def write_csv(path, df: pd.DataFrame) -> Path:
    return atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))


def read_json(path) -> dict | None:
    """The JSON object in `path`, or None when the file is missing or not valid JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def remove_stale_temporaries(folder) -> list[Path]:
    """Delete the temporary files (``.NAME.PID.tmp``) a killed run left in `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.glob(".*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
