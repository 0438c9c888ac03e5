"""Output files of a study, written atomically.

Every file is written to a temporary file in the same folder and then renamed over its final
name (``os.replace``, atomic on POSIX), so a run killed at any moment leaves either the previous
complete file or none, never a half-written one. Temporary files carry a ``.tmp`` suffix and a
leading dot; `remove_stale_temporaries` clears the ones a killed run left behind.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

__all__ = [
    "LOCK",
    "RESULTS",
    "SUMMARY",
    "FolderLocked",
    "OutputError",
    "atomic_write",
    "file_sha256",
    "folder_lock",
    "os_error_advice",
    "writing",
    "read_json",
    "remove_stale_temporaries",
    "write_csv",
    "write_json",
    "write_parquet",
]

RESULTS = "results.parquet"  # one row per crossbar
SUMMARY = "summary.json"  # written last: its presence marks a complete job
LOCK = ".lock"  # held (flock) by the run writing into a folder


class OutputError(OSError):
    """A file of the study's outputs could not be written; the message names it and the fix."""

    def __str__(self) -> str:
        return str(self.strerror or super().__str__())


class FolderLocked(RuntimeError):
    """Another run holds the folder's lock."""


def os_error_advice(exc: OSError) -> str:
    """What to do about an I/O error, in a few words, by its errno."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "free disk space (or raise the quota) and rerun: complete jobs are kept and skipped"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            "make the folder writable, or write elsewhere with hydra.run.dir=PATH "
            "(hydra.sweep.dir=PATH for -m)"
        )
    if code in (errno.ENOTDIR, errno.EEXIST):
        return "a file stands where a folder is needed: move it, or choose another output folder"
    return "check the path and the file system, then rerun"


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write(path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside `path`, flush it to disk, rename it.

    On any error the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            exc.errno,
            f"cannot create the folder {path.parent}: {exc.strerror or exc}; "
            f"{os_error_advice(exc)}",
        ) from exc
    tmp = _temporary(path)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        if isinstance(exc, OutputError):
            raise
        reason = exc.strerror or str(exc)
        raise OutputError(
            exc.errno, f"cannot write {path}: {reason}; {os_error_advice(exc)}"
        ) from exc
    except BaseException:
        _discard(tmp)
        raise
    return path


@contextmanager
def writing(target) -> Iterator[None]:
    """Turn an I/O error raised while writing `target` (a file or a folder of figures) into an
    `OutputError` that names it and says what to do (libraries such as matplotlib raise
    errors that name no path)."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        where = exc.filename or target
        raise OutputError(
            exc.errno, f"cannot write {where}: {exc.strerror or exc}; {os_error_advice(exc)}"
        ) from exc


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass  # the folder itself is unusable; the error being raised says so


def write_json(path, obj) -> Path:
    """`obj` as indented JSON (strict: NaN and infinities are refused)."""
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_parquet(path, df: pd.DataFrame) -> Path:
    return atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def write_csv(path, df: pd.DataFrame) -> Path:
    return atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))


def read_json(path) -> dict | None:
    """The JSON object in `path`, or None when the file is missing, not valid JSON or holds
    something other than an object (a list, a number)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def file_sha256(path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_HELD: dict[str, int] = {}  # folders whose lock this process holds -> nesting depth


@contextmanager
def folder_lock(folder) -> Iterator[Path]:
    """Hold `folder`'s lock (``folder/.lock``, an advisory ``flock``) while writing into it.

    A second run into the same folder fails at once with `FolderLocked`, naming the process
    that holds it, instead of interleaving its files with the first one's. The kernel drops
    the lock when its process ends, killed or not, so a crash leaves no stale lock. (``flock``
    locks are seen by processes on one machine; on network file systems that do not support
    them, give concurrent runs different folders.)
    """
    import fcntl

    folder = Path(folder)
    key = os.path.realpath(folder)
    if key in _HELD:  # this process holds it already (the app's Hydra callback, a grid)
        _HELD[key] += 1
        try:
            yield folder
        finally:
            _HELD[key] -= 1
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(
            exc.errno,
            f"cannot write into {folder}: {exc.strerror or exc}; {os_error_advice(exc)}",
        ) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            raise FolderLocked(
                f"{folder}: another run ({holder}) is writing into this folder; wait for it "
                "to finish and rerun (its complete jobs are then skipped), or give this run "
                "another folder (hydra.run.dir=PATH, or hydra.sweep.dir=PATH for -m)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        _HELD[key] = 1
        try:
            yield folder
        finally:
            del _HELD[key]
    finally:
        os.close(fd)


def remove_stale_temporaries(folder) -> list[Path]:
    """Delete the temporary files (``.NAME.PID.tmp``) a killed run left in `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.glob(".*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
