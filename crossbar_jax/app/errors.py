"""User errors of the app's entry points as one line on stderr, never a traceback.

The Hydra scripts (``experiments/convergence.py``, ``experiments/aggregate.py``) run their work
inside `exit_on_error`: a bad configuration, curve, shift map, an unreadable or unwritable
file, a full disk, a folder locked by another run or results that are not finite end the
process with status 1 and a single ``error: ...`` line that names the key or the path and what
to do. Set ``HYDRA_FULL_ERROR=1`` to get the Python traceback instead (as Hydra does).

Hydra itself creates the output folder, its ``.hydra/`` record and the log file before the
app's code runs; `OutputFolderCheck`, a Hydra callback listed in ``conf/config.yaml``, tries
that folder first and reports a folder that cannot be written the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

__all__ = ["OutputFolderCheck", "exit_on_error", "full_error", "one_line"]


def full_error() -> bool:
    """Whether the user asked for tracebacks (Hydra's ``HYDRA_FULL_ERROR=1``)."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def _user_errors() -> tuple[type[BaseException], ...]:
    from crossbar_jax.app.config import ConfigError
    from crossbar_jax.app.outputs import FolderLocked
    from crossbar_jax.app.study import ResultsError
    from crossbar_jax.curve import CurveError

    return (ConfigError, CurveError, FolderLocked, ResultsError, OSError, ValueError)


def one_line(exc: BaseException) -> str:
    """The message of a user error, on one line, with the path and advice for I/O errors."""
    from crossbar_jax.app.outputs import OutputError, os_error_advice

    if isinstance(exc, OSError) and not isinstance(exc, OutputError):
        path = exc.filename or ""
        reason = exc.strerror or str(exc)
        text = f"{path}: {reason}; {os_error_advice(exc)}" if path else f"{reason}"
    else:
        text = str(exc)
    return " ".join(text.split()) or type(exc).__name__


def exit_on_error(fn: Callable[..., Any], *args, **kwargs) -> Any:
    """``fn(*args, **kwargs)``; a user error exits with status 1 and one line on stderr."""
    try:
        return fn(*args, **kwargs)
    except _user_errors() as exc:
        if full_error():
            raise
        raise SystemExit(f"error: {one_line(exc)}") from None
    except MemoryError:
        if full_error():
            raise
        raise SystemExit(
            "error: out of memory; lower mc.chunk_size (crossbars per compiled call) or "
            "mc.n_crossbars, or set report.figures=false"
        ) from None


class OutputFolderCheck(Callback):
    """Try the output folder before Hydra writes into it (``.hydra/``, the log file).

    A single run also takes the folder's lock (`crossbar_jax.app.outputs.folder_lock`) here, so
    that a second run into the same folder is refused before Hydra overwrites the first
    one's ``.hydra/`` record; the lock is released when the run ends (or its process does).
    The jobs of a multirun are locked by `crossbar_jax.app.study.run_study`, each in its folder.
    """

    def __init__(self) -> None:
        self._lock = None

    def on_run_start(self, config, **kwargs) -> None:
        folder = self._check(config, "hydra.run.dir")
        if folder is not None:
            from crossbar_jax.app.outputs import FolderLocked, folder_lock

            lock = folder_lock(folder)
            try:
                lock.__enter__()
            except (FolderLocked, OSError) as exc:
                if full_error():
                    raise
                raise SystemExit(f"error: {one_line(exc)}") from None
            self._lock = lock

    def on_run_end(self, config, **kwargs) -> None:
        if self._lock is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None

    def on_multirun_start(self, config, **kwargs) -> None:
        self._check(config, "hydra.sweep.dir")

    @staticmethod
    def _check(config, key: str) -> Path | None:
        from omegaconf import OmegaConf

        from crossbar_jax.app.outputs import os_error_advice

        try:
            folder = Path(str(OmegaConf.select(config, key)))
        except Exception:  # an interpolation only the job can resolve: Hydra will try it
            return None
        probe = folder / f".write-test.{os.getpid()}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            if full_error():
                raise
            message = (
                f"error: cannot write into the output folder {folder} ({key}): "
                f"{exc.strerror or exc}; {os_error_advice(exc)}"
            )
            # SystemExit: Hydra turns an Exception raised by a callback into a warning.
            raise SystemExit(message) from None
        return folder
