"""What the command line reports as one line, and what it keeps off the terminal.

A user's mistake (a bad option, data folder, checkpoint or data set version) and a fault of
the machine (a full disk, a read-only folder) end the command with one line naming the
problem: exit code 2 for a mistake, 1 for a fault. Only a bug in ganflow shows a traceback.
In Prefect mode, Prefect logs a failing task's and flow's exception with its traceback to
the terminal; for the errors above those records stay in the Prefect run (its API log
handler still gets them) and the terminal gets the one line.
"""

from __future__ import annotations

import errno
import logging
import re
import sys
from functools import cache

# a fault of the machine rather than a mistake in the command: exit code 1
FAULT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO}


@cache
def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types that carry a message for the user (each a ValueError or a
    RuntimeError of ganflow's own, raised with the problem named)."""
    from ganflow.models.engine import NonFiniteLossError
    from ganflow.tasks.data.sources import DataError
    from ganflow.tasks.export.layout import ExportError
    from ganflow.tasks.train.checkpoint import CheckpointError
    from ganflow.tasks.train.distributed import DistributedTrainingError
    from ganflow.tasks.train.trainer import TrainingDivergedError

    return (DataError, CheckpointError, TrainingDivergedError, NonFiniteLossError,
            ExportError, DistributedTrainingError, ValueError, OSError)  # fmt: skip


def error_line(e: BaseException) -> tuple[str, int]:
    """(the line to print, the exit code) for an exception of user_errors()."""
    line, code = _line_and_code(e)
    line = re.sub(r"\s*\n\s*", " ", line).strip()  # one line, whatever a library said
    return (line if len(line) <= 600 else line[:597] + "..."), code


def _line_and_code(e: BaseException) -> tuple[str, int]:
    from ganflow.tasks.train.distributed import DistributedTrainingError

    if isinstance(e, DistributedTrainingError):
        return str(e), 1
    if isinstance(e, OSError) and not isinstance(e, ValueError):
        what = f" {e.filename}" if e.filename else ""
        reason = e.strerror or str(e)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            return (
                f"cannot write{what}: the disk is full ({reason}); nothing half-written was kept",
                1,
            )
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return (
                f"cannot write{what}: {reason} (a read-only or protected place); choose another",
                2,
            )
        return f"{what.strip() or 'a file'}: {reason}", 1 if e.errno in FAULT_ERRNOS else 2
    cause = e.__cause__
    return str(e), 1 if isinstance(cause, OSError) and cause.errno in FAULT_ERRNOS else 2


def _names() -> re.Pattern[str]:
    kinds = "|".join(t.__name__ for t in user_errors() if t not in (ValueError, OSError))
    return re.compile(rf"\b({kinds}|ConfigError|RunDirError|ValueError|PermissionError|OSError)\b")


class KeepUserFailuresInPrefect(logging.Filter):
    """On the terminal's handler: drops Prefect's flow- and task-run records of a failure
    caused by one of user_errors() (the exception with its traceback, and the 'Finished in
    state Failed' line); the command prints that error once itself."""

    def __init__(self) -> None:
        super().__init__()
        self.names = _names()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("prefect.flow_runs", "prefect.task_runs")):
            return True
        if record.exc_info and record.exc_info[1] is not None:
            return not isinstance(record.exc_info[1], user_errors())
        if record.levelno >= logging.ERROR or "Failed(" in record.getMessage():
            return not self.names.search(record.getMessage())
        return True


def keep_user_failures_in_prefect() -> None:
    """Install the filter on the console handlers Prefect's logging set up (idempotent)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in ("prefect", "prefect.flow_runs", "prefect.task_runs"))]  # fmt: skip
    for lg in loggers:
        for h in lg.handlers:
            if isinstance(h, PrefectConsoleHandler) and not any(
                isinstance(f, KeepUserFailuresInPrefect) for f in h.filters
            ):
                h.addFilter(KeepUserFailuresInPrefect())


def settle_prefect(timeout: float = 5.0) -> None:
    """Let Prefect's background workers (events, API logs) send what they hold now, so that
    their messages at exit ('Still processing items...') come before the command's own last
    line, not after it. Nothing when Prefect was not used; best effort otherwise."""
    if "prefect" not in sys.modules:
        return
    try:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        for worker in (EventsWorker, APILogWorker):
            worker.drain_all(timeout=timeout)
    except Exception:  # noqa: BLE001 - a Prefect without these workers: nothing to settle
        pass
