"""Transactions on the bound database, the same on SQLite and PostgreSQL.

A write takes the lock up front; a read of several statements sees one state;
the per-job statements run straight on the driver; rare races across hosts are
serialised with advisory locks; new work is announced with NOTIFY.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import peewee

from queuectl.store.models import database


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


LOCK_WAIT_NOTICED = 0.25
"""Seconds of waiting for the write lock past which a write's time is taken again."""


class stamped_write:
    """``write_transaction()`` for a write stamped with ``now``: entered, it gives the
    time to stamp, ``now`` moved past the wait for the lock when that wait lasted over
    ``LOCK_WAIT_NOTICED``. Another process holding SQLite's lock kept a claim waiting up
    to 15 s, and the job's start was stamped from before the wait (its run took 7.1 s
    where the job ran 3.0 s). A short wait changes nothing, so a caller's fixed time
    stays exact. A class, not a generator: workers open one per job."""

    __slots__ = ("_asked", "_now", "_transaction")

    def __init__(self, now: float) -> None:
        self._now = now
        self._transaction = write_transaction()

    def __enter__(self) -> float:
        asked = time.monotonic()
        self._transaction.__enter__()
        waited = time.monotonic() - asked
        return self._now + waited if waited > LOCK_WAIT_NOTICED else self._now

    def __exit__(self, *exc_info: Any) -> Any:
        return self._transaction.__exit__(*exc_info)


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


def execute_many(statement: str, rows: Sequence[Sequence[Any]]) -> None:
    """``statement`` once per row on one cursor (a bulk insert), errors as peewee's.

    The driver's cursor raises its own errors, which no boundary (``translated``)
    knows: a read-only database made ``add`` print the driver's traceback.
    """
    with peewee.__exception_wrapper__:
        database.cursor().executemany(statement, rows)


def execute_together(statement: str, params: Sequence[Any]) -> list[Any]:
    """PostgreSQL: ``statement`` once per parameter set, all sent in one round trip and
    committed as one transaction; each run's first row, in order.

    One run is one plain statement, atomic on its own (the connection is in
    autocommit): one message each way. For several, psycopg's pipeline mode sends
    every statement before reading any result, with an explicit BEGIN and COMMIT in
    the same round trip (psycopg's own ``transaction()`` would wait for each): they
    keep the group all or nothing even when a later statement fails before it is
    sent (the Sync psycopg then sends would commit those already sent). A worker
    records its finished jobs this way (``finish``), one or a group at a time.
    """
    if len(params) == 1:
        return [execute_raw(statement, params[0]).fetchone()]
    connection = database.obj.connection()
    with peewee.__exception_wrapper__:
        try:
            with connection.pipeline():
                connection.execute("BEGIN")
                cursors = [connection.execute(statement, values) for values in params]
                connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):  # a broken connection is the caller's
                connection.rollback()  # nothing when the group never began
            raise
        return [cursor.fetchone() for cursor in cursors]


_ADVISORY_KEYS = {
    "schema": 0x5155_0001,
    "recovery": 0x5155_0002,
    "enqueue": 0x5155_0003,
    "steering": 0x5155_0004,
    "schedules": 0x5155_0005,
}


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
