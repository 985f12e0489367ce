"""SQLite's write lock: the workers' queue for it, and who holds it when someone waits.

Workers write once per job; ``WriterQueuedSqlite`` lines their write
transactions up in the kernel (an ``flock``) instead of SQLite's sleeping busy
handler. When a wait lasts, or a statement fails with "database is locked",
the lock's holders are named (``lockholder``) in the log or the error.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import peewee

from queuectl.errors import first_line
from queuectl.states import ENDED_WORKER_STATES
from queuectl.store import lockholder
from queuectl.store.models import Worker, database
from queuectl.store.sqlitefile import ExistingFileSqlite, first_unwritable

log = logging.getLogger("queuectl.db")

QUEUE_WAIT_REPORT = 5.0
"""Seconds a worker waits in the write queue before its log names who holds it."""

LOCK_WAIT_SLICE = 0.1
"""Seconds SQLite's own busy handler waits, per try, on a worker's connection.

Inside that C wait Python runs nothing, not even a signal's handler: a worker held
up by another process's write lock (a CLI's bulk enqueue, a stopped process, a
``BEGIN EXCLUSIVE`` by hand) heard a stop only when its 15 s busy timeout ran out,
and saw a job that had ended meanwhile end only then (its run 15 s too long).
``SlicedWaitConnection`` tries again every slice, calling the worker's ``on_wait`` in
between, for as long as the busy timeout allowed in one go."""


class SlicedWaitConnection(sqlite3.Connection):
    """A connection whose statements wait for the write lock in ``LOCK_WAIT_SLICE`` tries.

    Its busy timeout is one slice; a statement run outside a transaction (a write in
    autocommit, the ``BEGIN IMMEDIATE`` that takes the lock) that finds the database
    locked is tried again, its ``owner``'s ``between_tries`` called in between, until the
    owner's ``lock_wait`` has passed. Inside a transaction nothing is retried: a write
    transaction holds the lock already, and a read one that met a newer write must
    start over, not wait.
    """

    owner: WriterQueuedSqlite | None = None

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return _tried_until_free(self, sqlite3.Connection.execute, self, sql, parameters)

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:
        return sqlite3.Connection.cursor(self, factory or SlicedWaitCursor)


class SlicedWaitCursor(sqlite3.Cursor):
    """``SlicedWaitConnection``'s cursor: peewee runs its statements through one."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return _tried_until_free(self.connection, sqlite3.Cursor.execute, self, sql, parameters)


def _tried_until_free(
    connection: Any,
    execute: Callable[[Any, str, Any], sqlite3.Cursor],
    on: Any,
    sql: str,
    parameters: Any,
) -> sqlite3.Cursor:
    """``execute(on, sql, parameters)``, tried again while the database is locked, its
    owner's ``between_tries`` run between tries, until the owner's ``lock_wait`` has
    passed (``SlicedWaitConnection``); inside a transaction, once."""
    if connection.in_transaction:
        return execute(on, sql, parameters)
    give_up_at: float | None = None
    owner = connection.owner
    try:
        while True:
            try:
                return execute(on, sql, parameters)
            except sqlite3.OperationalError as exc:
                if "database is locked" not in str(exc) or owner is None:
                    raise
                now = time.monotonic()
                if give_up_at is None:
                    give_up_at = now + owner.lock_wait - LOCK_WAIT_SLICE
                    # Said after QUEUE_WAIT_REPORT as a wait in the queue is: the
                    # workers take turns at SQLite's lock between tries, so none waited
                    # long in the queue, and the holder was named only when the 15 s
                    # wait gave up.
                    owner.lock_wait_report.started()
                if now >= give_up_at:
                    raise
                owner.between_tries()
    finally:
        if give_up_at is not None and owner is not None:
            owner.lock_wait_report.ended()


class WriterQueuedSqlite(ExistingFileSqlite):
    """SQLite whose write transactions first queue for an ``flock`` on the database's folder.

    SQLite's busy handler waits for the write lock by sleeping 1, 2, 5, 10… ms
    between tries: a lock freed after 0.2 ms still costs a waiter a millisecond
    or more, and who gets it next is luck. Workers write once per job, so with
    four of them on trivial jobs a third of each worker's time went to those
    sleeps. With the flock, the kernel queues the waiters and wakes the next one
    the moment the holder commits (measured: 764-862 -> 921-928 jobs/s on
    ``true`` with 4 workers, and less CPU per job).

    Only workers use it; every other writer still meets them at SQLite's own
    lock, which stays the one that guarantees correctness. The kernel drops an
    ``flock`` when its process dies, so a crash never leaves the queue stuck.

    The lock is on the folder (``lockholder.queue_lock_path``), never on the
    database file: closing any descriptor of a file drops every POSIX lock the
    process holds on it, SQLite's included. It was on the file, and a second
    thread closing its connection (the lock-wait reporter's lookup) closed that
    descriptor under the main thread's connection: another process closing its
    own then took itself for the last one and deleted the WAL in use, and the
    worker's writes went to unlinked files. Each thread has its own descriptor,
    as peewee gives each its own connection; two threads queue like two processes.
    """

    def __init__(self, *args: Any, lock_wait: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queue = threading.local()
        self.queue_wait = QueueWaitReporter(self.database)
        self.lock_wait_report = QueueWaitReporter(self.database)
        """Names the holder of SQLite's own lock when a statement's tries for it last."""
        self.lock_wait = lock_wait
        """How long a write waits for SQLite's lock in all, in ``LOCK_WAIT_SLICE`` tries."""
        self.on_wait: Callable[[], None] | None = None
        """Called between tries (the worker's loop: ``Worker.while_locked_out``); it may
        raise, to give up the wait (a forced stop)."""

    def _queue_fd(self) -> int:
        fd = getattr(self._queue, "fd", -1)
        if fd < 0:
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
            fd = self._queue.fd = os.open(lockholder.queue_lock_path(self.database), flags)
        return fd

    def _connect(self) -> sqlite3.Connection:
        connection = super()._connect()
        assert isinstance(connection, SlicedWaitConnection)
        connection.owner = self
        return connection

    def between_tries(self) -> None:
        """Between a statement's tries for the lock: out of the queue meanwhile (the
        workers behind us wait in an ``flock``, where no signal is heard either), and the
        worker's ``on_wait`` on its own thread."""
        if self.on_wait is None or threading.current_thread() is not threading.main_thread():
            return
        held = getattr(self._queue, "held", False)
        if held:
            self._leave_queue()
        self.on_wait()  # may raise: the wait is given up, out of the queue
        if held:
            self._enter_queue()

    def begin(self, lock_type: str | None = None) -> None:
        if lock_type != "IMMEDIATE":
            return super().begin(lock_type)
        self._enter_queue()
        try:
            return super().begin(lock_type)
        except BaseException:
            self._leave_queue()
            raise

    def _enter_queue(self) -> None:
        fd = self._queue_fd()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # someone is writing: queue, and say who if it lasts
            self.queue_wait.started()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            finally:
                self.queue_wait.ended()
        self._queue.held = True

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
            fd = getattr(self._queue, "fd", -1)
            if fd >= 0:  # this thread's own, on the folder: it holds none of SQLite's locks
                os.close(fd)
                self._queue.fd = -1

    def _leave_queue(self) -> None:
        if getattr(self._queue, "held", False):
            fcntl.flock(self._queue.fd, fcntl.LOCK_UN)
            self._queue.held = False


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
            # SQLite's own lock first: the queue's holder may itself be waiting for it
            # (an outside process holds it), and naming that worker sent people after
            # a process that was as stuck as they were. The queue's holder is named
            # when it holds nothing of SQLite's (stopped before its transaction).
            holders = lockholder.write_lock_holders(self.path) or lockholder.queue_holders(
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
    elif "unable to open database file" in message and hasattr(database.obj, "gone_from_its_path"):
        # A reconnect to a file moved or replaced says no more: say what happened to it.
        gone = database.obj.gone_from_its_path()
        if gone is not None:
            message = gone.reason
    elif "readonly database" in message and isinstance(path, str) and path != ":memory:":
        # "attempt to write a readonly database" named no file (a chmod 444 one).
        refusing = first_unwritable(path)
        if refusing:
            message += f" ({refusing} cannot be written: its mode, or a read-only filesystem?)"
    elif "disk I/O error" in message and isinstance(path, str) and path != ":memory:":
        # SQLite says no more when a write is refused: name the file that refuses it.
        refusing = first_unwritable(path, companions=("-wal",))
        if refusing:
            message += f" ({refusing} cannot be written: a read-only filesystem?)"
    return message
