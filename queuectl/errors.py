"""The exceptions the core raises for mistakes a user can make.

The CLI and the dashboard turn these into one-line messages; anything else that
escapes is a bug and is allowed to show a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable


class QueueError(Exception):
    """A runtime error: the request was well formed but cannot be carried out (exit 1)."""

    exit_code = 1


class JobNotFound(QueueError):
    """No job has the given id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}")
        self.job_id = job_id

    @classmethod
    def because(cls, job_id: str, message: str) -> JobNotFound:
        """The same error with its own words (``line 3: no job … to run after``)."""
        error = cls(job_id)
        error.args = (message,)
        return error


class KeyTaken(QueueError):
    """Another active job holds the unique key: the new or revived job would be a second."""

    def __init__(self, message: str, *, key: str, holder: str | None) -> None:
        super().__init__(message)
        self.key = key
        self.holder = holder


class InvalidTransition(QueueError):
    """The job is in a state where the requested action makes no sense."""


class WorkerNotFound(QueueError):
    """No worker has the given id (or, on this host, pid)."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"no running worker with id or pid {ref!r}")
        self.ref = ref


class DuplicateJobId(QueueError):
    """A job with this id already exists; the existing job is left untouched."""


class ScheduleNotFound(QueueError):
    """No schedule has the given name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no schedule named {name!r}")
        self.name = name


class DuplicateSchedule(QueueError):
    """A schedule with this name already exists; it is left untouched."""


class DatabaseError(QueueError):
    """The database cannot be opened, created or understood."""


class DatabaseUnreachable(DatabaseError):
    """The server could not be reached now (refused, timed out, restarting, full): unlike a
    wrong password or a missing database, a command that can wait may wait it out."""

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message)
        self.cause = cause
        """The driver's line alone (``Connection refused (server db:5432)``), for a
        command that says it waits: the message also names the database."""


class StoreUnavailable(QueueError):
    """A statement failed: the database is locked, restarting, gone, or refused the write.

    Raised by the lifecycle's functions in place of the driver's error (kept as
    ``__cause__``), so a worker treats it as weather: it waits and tries again.
    """

    def __init__(
        self,
        message: str,
        *,
        explain: Callable[[], str] | None = None,
        waited: float = 0.0,
        refused: bool = False,
    ) -> None:
        super().__init__(message)
        self._explain = explain
        self.waited = waited
        """Seconds the statement waited before it failed: SQLite's busy timeout, for a
        lock held too long. The outage began then, not at the failure."""
        self.refused = refused
        """The database answered and refused the statement's data (a value out of range,
        a broken constraint): a stored row it cannot work with, not the database away."""

    def explain(self) -> str:
        """One line with the cause, and who holds the lock when it is locked.

        Worked out only when asked (a worker asks once per outage): naming a
        lock's holder reads ``/proc``.
        """
        return self._explain() if self._explain is not None else str(self)


class ValidationError(ValueError):
    """The user's input is malformed (exit 2): bad JSON, an unknown key, a value out of range."""

    exit_code = 2


_MASKING = ("cannot rollback - no transaction is active", "cannot commit - no transaction")


def cause(exc: BaseException) -> BaseException:
    """The error worth showing: not a failed rollback that hid the real one.

    When a statement fails badly (SQLite's "database or disk is full"), SQLite
    rolls the transaction back itself; the rollback the transaction's ``__exit__``
    then attempts fails too, and its "cannot rollback - no transaction is active"
    replaces the error that says what happened. Follow the chain past those.
    """
    seen = {id(exc)}
    while any(text in str(exc) for text in _MASKING) and exc.__context__ is not None:
        exc = exc.__context__
        if id(exc) in seen:
            break
        seen.add(id(exc))
    return exc


def explain(exc: BaseException) -> str:
    """One line for a failure: ``StoreUnavailable.explain`` for the store's, else ``first_line``."""
    if isinstance(exc, DatabaseUnreachable):
        return exc.cause
    return exc.explain() if isinstance(exc, StoreUnavailable) else first_line(exc)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's (or its ``cause``'s) message, else its type's name.

    Driver errors run to several lines ("server closed the connection
    unexpectedly / This probably means…"); logs and one-line errors keep the first.
    """
    exc = cause(exc)
    return _cause_first((str(exc).strip().splitlines() or [type(exc).__name__])[0])


_LIBPQ_CONNECT = re.compile(
    r'^connection (?:failed|is bad): connection to server (?:at "(?P<host>[^"]*)"'
    r'(?: \([^)]*\))?, port (?P<port>\d+)|on socket "(?P<socket>[^"]*)") failed: '
    r"(?:FATAL: +)?(?P<cause>.+)$"
)


def _cause_first(line: str) -> str:
    """libpq's connection failure with its cause first: ``Connection refused (server h:5432)``.

    libpq opens every such line with the same 60 characters ("connection failed:
    connection to server at "…", port N failed:"), so the dashboard's one-line
    outage banner at 80 columns showed those and cut the cause (refused, a wrong
    password, too many clients) that tells an operator what to do.
    """
    match = _LIBPQ_CONNECT.match(line)
    if match is None:
        return line
    where = match["socket"] or f"{match['host']}:{match['port']}"
    return f"{match['cause']} (server {where})"
