"""Where the database is, how to connect to it, and keeping its schema current.

Every process (CLI call, worker, dashboard) opens the database once through
``open_database``; it binds the models, applies the pragmas and checks the
schema version, so a file from a newer queuectl is refused rather than damaged.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import peewee

from queuectl.errors import DatabaseError, first_line
from queuectl.location import (
    default_location,
    describe,
    parse_url,
    resolve_location,
    sqlite_path,
)
from queuectl.states import ENDED_WORKER_STATES
from queuectl.store import lockholder, sqlitefile
from queuectl.store.models import (
    ALL_MODELS,
    SCHEMA_VERSION,
    SchemaInfo,
    Worker,
    database,
)
from queuectl.store.sql import CLAIMABLE_INDEX

log = logging.getLogger("queuectl.db")

BUSY_TIMEOUT_MS = 15_000
"""How long a writer waits for SQLite's lock before giving up; generous so a
busy dashboard or a burst of enqueues never surfaces "database is locked"."""

CONNECT_TIMEOUT_S = 10
"""Seconds to wait for a PostgreSQL server to answer a new connection."""

QUEUE_WAIT_REPORT = 5.0
"""Seconds a worker waits in the write queue before its log names who holds it."""


def open_database(
    location: str,
    *,
    durable: bool = True,
    queue_writes: bool = False,
    read_only: bool = False,
    report: Callable[[str], None] | None = None,
) -> peewee.Database:
    """Open (creating if needed) the database at ``location`` and bind the models to it.

    An SQLite file is checked first (``sqlitefile.prepare``): nobody but the
    user (or root) can write it or lead to it, and it is queuectl's, looked at
    read-only, so a refused file is left byte-for-byte as it was.

    Args:
        location: a file path or a URL (``sqlite:///…``, ``postgresql://…``).
        durable: ``True`` commits with ``synchronous=FULL`` so an acknowledged job
            survives a power cut; workers pass ``False`` (``NORMAL``) because a
            lost finish only makes a job rerun.
        queue_writes: on SQLite, line write transactions up in the kernel
            (``WriterQueuedSqlite``); workers pass ``True``.
        read_only: the caller never writes. Nothing is created: where there is
            no database yet, an empty one in memory stands in (so the command
            shows an empty queue) and ``report`` says so. An unsafe file is
            reported rather than refused.
        report: gets each warning as one line; by default they are logged.

    Raises:
        DatabaseError: the file is unsafe (for a writer), the folder cannot be
            created, the file is not a queuectl database, the server is
            unreachable, or the schema is newer than us.
    """
    report = report or log.warning
    path = sqlite_path(location)
    if path is None:
        db = _open_url(location, durable=durable)
    elif sqlitefile.prepare(path, read_only=read_only, report=report):
        db = _open_sqlite(path, durable=durable, queue_writes=queue_writes, read_only=read_only)
    else:
        db = None
    if db is not None:
        database.initialize(db)
    try:
        if db is None or (read_only and schema_version() is None):
            if db is not None:
                db.close()  # no queuectl tables there: a reader creates none
            db = _empty_stand_in(location, report)
            database.initialize(db)
        ensure_schema()
    except peewee.DatabaseError as exc:
        db.close()
        raise DatabaseError(_explain(location, exc)) from None
    return db


def _empty_stand_in(location: str, report: Callable[[str], None]) -> peewee.Database:
    """An empty database in memory, for a read-only command where none exists yet.

    The command then runs as on an empty queue (zero counts, ``[]``, "no such
    job") with no code of its own for the case, and nothing is created on disk.
    """
    where = describe(location)
    report(f"no queuectl database exists at {where} yet; commands that write create it")
    return peewee.SqliteDatabase(":memory:", pragmas={"foreign_keys": 1})


class WriterQueuedSqlite(peewee.SqliteDatabase):
    """SQLite whose write transactions first queue for an ``flock`` on the database file.

    SQLite's busy handler waits for the write lock by sleeping 1, 2, 5, 10… ms
    between tries: a lock freed after 0.2 ms still costs a waiter a millisecond
    or more, and who gets it next is luck. Workers write once per job, so with
    four of them on trivial jobs a third of each worker's time went to those
    sleeps. With the flock, the kernel queues the waiters and wakes the next one
    the moment the holder commits (measured: 764-862 -> 921-928 jobs/s on
    ``true`` with 4 workers, and less CPU per job).

    Only workers use it; every other writer still meets them at SQLite's own
    lock, which stays the one that guarantees correctness. ``flock`` locks are
    independent of the POSIX locks SQLite takes on the same file, and the
    kernel drops them when a process dies, so a crash never leaves the queue
    stuck. The descriptor is closed only after the connection, because closing
    any descriptor of a file drops the process's POSIX locks on it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queue_fd = -1
        self.queue_wait = QueueWaitReporter(self.database)

    def begin(self, lock_type: str | None = None) -> None:
        if lock_type != "IMMEDIATE":
            return super().begin(lock_type)
        if self._queue_fd < 0:
            self._queue_fd = os.open(self.database, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(self._queue_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # someone is writing: queue, and say who if it lasts
            self.queue_wait.started()
            try:
                fcntl.flock(self._queue_fd, fcntl.LOCK_EX)
            finally:
                self.queue_wait.ended()
        try:
            return super().begin(lock_type)
        except BaseException:
            self._leave_queue()
            raise

    def commit(self) -> None:
        try:
            return super().commit()
        finally:
            self._leave_queue()

    def rollback(self) -> None:
        try:
            return super().rollback()
        finally:
            self._leave_queue()

    def close(self) -> bool:
        try:
            return super().close()
        finally:
            self._leave_queue()
            if self._queue_fd >= 0:
                os.close(self._queue_fd)
                self._queue_fd = -1

    def _leave_queue(self) -> None:
        if self._queue_fd >= 0:
            fcntl.flock(self._queue_fd, fcntl.LOCK_UN)


class QueueWaitReporter:
    """Names, in the worker's log, whoever keeps it waiting for the write lock.

    The wait itself is a blocking ``flock`` (the kernel wakes the next writer
    the moment the lock is free), so nothing on that path can look at the
    clock; a daemon thread, started at the first wait, looks once a second.
    One line when a wait passes ``after`` seconds, again each ``every``.
    """

    def __init__(self, path: str, *, after: float = QUEUE_WAIT_REPORT, every: float = 60.0):
        self.path = path
        self.after = after
        self.every = every
        self._since: float | None = None
        self._reported_at: float | None = None
        self._thread: threading.Thread | None = None
        self.reports: list[str] = []
        """Every line logged (tests read it)."""

    def started(self) -> None:
        self._since = time.monotonic()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._watch, name="queuectl-lock-wait", daemon=True
            )
            self._thread.start()

    def ended(self) -> None:
        self._since = None
        self._reported_at = None

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.after / 2))
            since = self._since
            now = time.monotonic()
            if since is None or now - since < self.after:
                continue
            if self._reported_at is not None and now - self._reported_at < self.every:
                continue
            self._reported_at = now
            holders = lockholder.queue_holders(self.path) or lockholder.write_lock_holders(
                self.path
            )
            who = lockholder.describe(holders, _worker_on_this_host) or "by another process"
            line = f"waiting {now - since:.0f}s for the database's write lock, {who}"
            self.reports.append(line)
            log.warning("%s", line)


def _worker_on_this_host(pid: int) -> str | None:
    """The id of the live worker with this pid on this host, if there is one.

    Read on whichever thread asks (peewee keeps a connection per thread), and
    that thread's connection is closed again: this runs once in a long while.
    """
    from queuectl.hostid import this_host

    try:
        row = (
            Worker.select(Worker.id)
            .where(
                Worker.pid == pid,
                Worker.host == this_host(),
                Worker.state.not_in([state.value for state in ENDED_WORKER_STATES]),
            )
            .first()
        )
    except peewee.DatabaseError:
        return None
    finally:
        if threading.current_thread() is not threading.main_thread() and not database.is_closed():
            database.close()
    return row.id if row else None


def explain(exc: BaseException) -> str:
    """One line for a database error: its cause, and who holds the lock when it is locked."""
    message = first_line(exc)
    path = getattr(database.obj, "database", None)
    if "database is locked" in message and isinstance(database.obj, peewee.SqliteDatabase):
        holders = lockholder.write_lock_holders(path) if isinstance(path, str) else []
        if holders:
            message += " (" + lockholder.describe(holders, _worker_on_this_host) + ")"
    return message


def _open_sqlite(
    path: str, *, durable: bool, queue_writes: bool, read_only: bool
) -> peewee.SqliteDatabase:
    """A connection to a file ``sqlitefile.prepare`` has checked (and created if needed).

    A reader leaves the journal mode alone: every queuectl database is in WAL
    mode already (it is persistent), and switching rewrites the file's header,
    which a reader must not do to a file it then finds is not queuectl's.
    """
    kind = WriterQueuedSqlite if queue_writes else peewee.SqliteDatabase
    pragmas: dict[str, Any] = {} if read_only else {"journal_mode": "wal"}
    return kind(
        path,
        pragmas={
            **pragmas,
            "synchronous": 2 if durable else 1,
            "foreign_keys": 1,
            "busy_timeout": BUSY_TIMEOUT_MS,
            "cache_size": -16_000,
            "temp_store": "memory",
        },
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=False,
    )


SUPPORTED_SCHEMES = ("postgresql", "postgres")
"""URL schemes besides a file path or ``sqlite:///``; peewee knows more (mysql, …), whose
drivers and SQL queuectl neither installs nor supports."""


def _open_url(location: str, *, durable: bool) -> peewee.Database:
    from playhouse.db_url import connect

    scheme = parse_url(location).scheme
    if scheme.lower() not in SUPPORTED_SCHEMES:
        raise DatabaseError(
            f"unsupported database URL scheme {scheme!r}: use a file path, sqlite:///PATH"
            " or postgresql://USER@HOST/DB"
        )
    try:
        db = connect(location)
    except RuntimeError as exc:  # unknown scheme
        raise DatabaseError(f"unsupported database URL scheme {scheme!r}: {exc}") from None
    except ValueError as exc:  # a port that is not a number, and the like
        raise DatabaseError(f"invalid database URL: {exc}") from None
    if isinstance(db, peewee.PostgresqlDatabase):
        # A server that accepts the connection but never answers (stopped, or a
        # network that drops packets) would hang a command for ever: give up
        # with one line instead, unless the URL chose its own timeout.
        db.connect_params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        if not durable:
            # PostgreSQL's twin of SQLite's synchronous=NORMAL: a crash may lose
            # the last few worker commits (the job reruns), never corrupt.
            options = db.connect_params.get("options", "")
            db.connect_params["options"] = f"{options} -csynchronous_commit=off".strip()
        try:
            db.connect()
        except peewee.ImproperlyConfigured:
            raise DatabaseError(
                "PostgreSQL needs a driver: pip install 'queuectl[postgres]' (psycopg)"
            ) from None
        except peewee.DatabaseError as exc:
            raise DatabaseError(_explain(location, exc)) from None
    return db


def _explain(location: str, exc: Exception) -> str:
    """One line a user can act on, from a driver error."""
    first = first_line(exc)
    if sqlite_path(location) is not None and "file is not a database" in first:
        return f"{describe(location)} is not a queuectl database (not an SQLite file)"
    return f"cannot use the database {describe(location)}: {first}"


def is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


def write_transaction() -> AbstractContextManager[Any]:
    """A transaction that takes the write lock up front (a savepoint when nested).

    On SQLite this is ``BEGIN IMMEDIATE``: a deferred transaction that reads
    then writes can fail with "database is locked" without waiting, while an
    immediate one queues on the busy timeout like any other writer.

    Peewee's own transaction object, not ``atomic()`` wrapped in a generator:
    workers open one per job, and those two layers cost a tenth of the
    transaction's instructions (callgrind).
    """
    db = database.obj
    if db.transaction_depth() > 0:
        return db.savepoint()
    return db.transaction("IMMEDIATE" if isinstance(db, peewee.SqliteDatabase) else None)


@contextmanager
def read_transaction() -> Iterator[None]:
    """Several reads that see one state of the database, on either backend.

    SQLite's read transaction is one snapshot from its first read already.
    PostgreSQL's default, READ COMMITTED, shows each statement the latest
    commits, so counts and the rows they total, read one after the other,
    would disagree while workers write.
    """
    with database.atomic():
        if is_postgres():
            database.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def execute_raw(statement: str, params: Sequence[Any]) -> Any:
    """Run one of ``sql.py``'s statements straight on the driver's connection.

    For the statements a worker runs per job: peewee's ``execute_sql`` adds a
    logger call, hooks and a new cursor per statement, about a seventh of a
    job's transaction. Errors still come out as peewee's, as callers expect.
    """
    db = database.obj
    with peewee.__exception_wrapper__:
        return db.connection().execute(statement, params)


_ADVISORY_KEYS = {"schema": 0x5155_0001, "recovery": 0x5155_0002, "enqueue": 0x5155_0003}


def advisory_lock(name: str, *, wait: bool = True) -> bool:
    """Serialise a rare, racy operation across processes and hosts on PostgreSQL.

    Held until the transaction ends. On SQLite the write transaction already
    serialises everything, so this is always granted. The lock is per schema:
    advisory locks are per database, and queues in two schemas of one database
    (as the tests use) must not skip each other's recovery.

    Returns:
        Whether the lock is held; with ``wait=False`` another holder means ``False``.
    """
    if not is_postgres():
        return True
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    row = database.execute_sql(
        f"SELECT {function}(%s, hashtext(current_schema()))", (_ADVISORY_KEYS[name],)
    ).fetchone()
    return wait or bool(row[0])


def notify_new_work() -> None:
    """Wake idle PostgreSQL workers (LISTEN queuectl_jobs); delivered at commit.

    The payload names the schema: channels are per database, and the queues of
    other schemas in it (other deployments, or parallel tests) must not wake ours.
    """
    if is_postgres():
        database.execute_sql("SELECT pg_notify(%s, current_schema())", (NOTIFY_CHANNEL,))


NOTIFY_CHANNEL = "queuectl_jobs"


def schema_version() -> int | None:
    """The stored schema version, or ``None`` when the tables do not exist yet."""
    try:
        row = SchemaInfo.get_or_none(SchemaInfo.key == "schema_version")
    except (peewee.OperationalError, peewee.ProgrammingError):
        if not database.is_closed() and is_postgres():
            database.rollback()
        return None
    return int(row.value) if row else None


def ensure_schema() -> None:
    """Create the tables on first use; refuse foreign files and newer schemas."""
    version = schema_version()
    if version == SCHEMA_VERSION:
        return
    if version is not None and version > SCHEMA_VERSION:
        raise DatabaseError(
            f"the database was written by a newer queuectl (schema {version}, "
            f"this version understands {SCHEMA_VERSION}); upgrade queuectl"
        )
    with write_transaction():
        advisory_lock("schema")  # workers on many hosts may start at once
        version = schema_version()  # another process may have won the race
        if version is None:
            # A shared PostgreSQL database may hold anything; an SQLite file
            # with tables but none of ours belongs to another program.
            tables = database.get_tables()
            if tables and not is_postgres() and not any(t.startswith("queuectl_") for t in tables):
                raise DatabaseError(
                    "the file is not a queuectl database "
                    f"(it holds other tables: {', '.join(sorted(tables)[:3])})"
                )
            database.create_tables(ALL_MODELS, safe=True)
            database.execute_sql(CLAIMABLE_INDEX)
            SchemaInfo.insert(
                key="schema_version", value=str(SCHEMA_VERSION)
            ).on_conflict_ignore().execute()
        elif version < SCHEMA_VERSION:
            from queuectl.store.migrations import migrate

            migrate(version)


def close_database() -> None:
    if database.obj is not None and not database.is_closed():
        database.close()


__all__ = [
    "close_database",
    "default_location",
    "describe",
    "ensure_schema",
    "execute_raw",
    "is_postgres",
    "open_database",
    "read_transaction",
    "resolve_location",
    "sqlite_path",
    "write_transaction",
]
