"""Job folders: the config hash, verified resume, and setting replaced results aside.

A job folder holds ``results.parquet`` (one row per crossbar) and ``summary.json`` (written
last, so its presence marks a complete job, with the results file's row count and SHA-256).
A rerun of the same configuration finds its results intact and skips the job; results of a
*different* configuration found in the folder, or a damaged job, are moved to
``.superseded/`` first, never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from crossbar_jax.app.outputs import RESULTS, SUMMARY, file_sha256, read_json

__all__ = [
    "NOT_HASHED",
    "SUPERSEDED",
    "check_results",
    "config_hash",
    "differences",
    "flatten",
    "results_record",
    "set_aside",
    "set_aside_broken",
]

SUPERSEDED = ".superseded"  # where results of a replaced configuration are kept

# Left out of the config hash, so that a rerun that changes only these resumes instead of
# recomputing: the chunk size changes no result (crossbar i's outcome does not depend on it),
# and the curve is identified by its content (device.curve_sha256), not by where the file lies
# (a moved checkout, another mount point on a cluster node). The same holds for the depression
# curve and the measured shift map, hashed by content (``*_sha256``).
NOT_HASHED = (
    "mc.chunk_size", "device.curve", "device.depression_curve", "device.shift.map",
    "device.curve_pool",
)  # fmt: skip


def flatten(tree: dict, prefix: str = "") -> dict:
    """Nested dicts to one level with dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def config_hash(params: dict) -> str:
    """Hash of the resolved parameters (curve content included), without execution settings."""
    flat = {k: v for k, v in flatten(params).items() if k not in NOT_HASHED}
    text = json.dumps(flat, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def results_record(path: Path, n_rows: int) -> dict:
    """What summary.json records of its results file, to verify it on resume."""
    return {"file": path.name, "rows": int(n_rows), "sha256": file_sha256(path)}


def check_results(out_dir) -> tuple[dict | None, str | None]:
    """(summary, None) when `out_dir` holds a complete, intact job; else (None, why not).

    The reason is None when the folder simply holds no job (no summary.json). A job is intact
    when summary.json is a JSON object of this app and results.parquet has the SHA-256 and
    row count the summary records (``results``; summaries written before it existed: a
    readable table of ``n_crossbars`` rows).
    """
    out = Path(out_dir)
    path = out / SUMMARY
    if not path.exists():
        return None, None
    summary = read_json(path)
    if summary is None:
        return None, f"{SUMMARY} is not a readable JSON object (truncated or corrupt)"
    if not isinstance(summary.get("params"), dict) or "config_hash" not in summary:
        return None, f"{SUMMARY} lacks the app's params and config_hash"
    results = out / RESULTS
    if not results.is_file():
        return None, f"{RESULTS} is missing"
    record = summary.get("results")
    expected = summary.get("n_crossbars")
    try:
        if isinstance(record, dict) and "sha256" in record:
            if file_sha256(results) != record["sha256"]:
                return None, (
                    f"{RESULTS} is not the file {SUMMARY} recorded (SHA-256 differs: changed, "
                    "truncated or corrupt)"
                )
            expected = record.get("rows", expected)
        import pyarrow.parquet as pq

        rows = pq.read_metadata(results).num_rows
        if record is None:
            pq.read_table(results)  # an old summary records no hash: read the whole table
        converged = int(pq.read_table(results, columns=["converged"])["converged"].to_numpy().sum())
    except (OSError, ValueError) as exc:
        return None, f"{RESULTS} cannot be read ({exc})"
    except Exception as exc:  # pyarrow's own errors on a damaged file
        return None, f"{RESULTS} cannot be read ({type(exc).__name__}: {exc})"
    if expected is not None and rows != expected:
        return None, f"{RESULTS} holds {rows} rows, {SUMMARY} records {expected}"
    if summary.get("converged") is not None and summary.get("converged") != converged:
        return None, (
            f"{SUMMARY} records {summary.get('converged')} converged crossbars, {RESULTS} "
            f"holds {converged} (the summary was edited or belongs to other results)"
        )
    rate = summary.get("convergence_rate")
    if rows and not (isinstance(rate, (int, float)) and abs(rate - converged / rows) <= 1e-12):
        return None, (
            f"{SUMMARY} records convergence_rate={rate!r}, {RESULTS} gives "
            f"{converged}/{rows} = {converged / rows:.6g}"
        )
    return summary, None


def set_aside_broken(out: Path, why: str) -> Path:
    """Move the files of an incomplete or corrupt job to ``out/.superseded/broken-<n>/``."""
    base = out / SUPERSEDED / "broken"
    dest, i = base, 1
    while dest.exists():
        dest, i = base.with_name(f"{base.name}-{i}"), i + 1
    dest.mkdir(parents=True)
    # Results first: killed in between, the summary still marks the folder, and the next run
    # sets it aside too ("results.parquet is missing"); no file is left to be overwritten.
    for name in (RESULTS, SUMMARY):
        if (out / name).exists():
            os.replace(out / name, dest / name)
    (dest / "why.txt").write_text(why + "\n", encoding="utf-8")
    return dest


def differences(old: dict, new: dict, limit: int = 5) -> str:
    a = {k: v for k, v in flatten(old).items() if k not in NOT_HASHED}
    b = {k: v for k, v in flatten(new).items() if k not in NOT_HASHED}
    keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    shown = [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys[:limit]]
    more = f" (and {len(keys) - limit} more)" if len(keys) > limit else ""
    return "; ".join(shown) + more


def set_aside(out: Path, previous: dict) -> Path:
    """Move a complete job of another configuration to ``out/.superseded/<its hash>/``.

    Nothing written is lost; the folder is hidden so `crossbar_jax.app.sweep.aggregate` skips it.
    """
    base = out / SUPERSEDED / str(previous.get("config_hash") or "unknown")
    dest, i = base, 1
    while dest.exists():
        dest, i = base.with_name(f"{base.name}-{i}"), i + 1
    dest.mkdir(parents=True)
    # Link (or copy) both files first, then unlink: killed at any point, every file still
    # exists in at least one of the two folders.
    for name in (RESULTS, SUMMARY):
        try:
            os.link(out / name, dest / name)
        except OSError:
            shutil.copy2(out / name, dest / name)
    for name in (SUMMARY, RESULTS):
        (out / name).unlink()
    return dest
