"""Durability is chosen per connection: user commands commit FULL, workers NORMAL.

An acknowledged ``enqueue`` (or retry, or config change) must survive a power
cut, so it commits with ``synchronous=FULL`` (PostgreSQL: the server default,
``synchronous_commit=on``); a worker's claim/finish may use ``NORMAL``
(``synchronous_commit=off``), since a lost finish only makes the job rerun.
"""

from __future__ import annotations

import pytest

from queuectl.store import db, transactions
from queuectl.store.models import database
from tests.test_cli import _invoker, enqueue


def _sync_level() -> str:
    if transactions.is_postgres():
        return str(database.execute_sql("SHOW synchronous_commit").fetchone()[0])
    return {2: "full", 1: "normal"}[database.execute_sql("PRAGMA synchronous").fetchone()[0]]


@pytest.mark.parametrize(
    ("durable", "sqlite", "postgres"), [(True, "full", "on"), (False, "normal", "off")]
)
def test_connection_durability(db_url, durable, sqlite, postgres):
    db.open_database(db_url, durable=durable)
    assert _sync_level() == (postgres if transactions.is_postgres() else sqlite)


COMMANDS = [
    (("enqueue", '{"command": "true", "id": "new"}'), True),
    (("retry", "gone"), True),
    (("config", "set", "max_retries", "4"), True),
    (("dlq", "retry", "--all", "--yes"), True),
    (("cancel", "waiting"), True),
    (("worker", "run"), False),
]


@pytest.mark.parametrize(
    ("args", "durable"), COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else str(v)
)
def test_each_command_opens_with_its_durability(db_url, monkeypatch, args, durable):
    run = _invoker()
    enqueue(run, id="waiting")
    enqueue(run, id="gone")
    run("cancel", "gone")
    seen: list[tuple[bool, bool, bool]] = []
    real_open = db.open_database

    def open_database(location, *, durable=True, queue_writes=False, read_only=False, **rest):
        seen.append((durable, queue_writes, read_only))
        return real_open(
            location, durable=durable, queue_writes=queue_writes, read_only=read_only, **rest
        )

    monkeypatch.setattr(db, "open_database", open_database)
    monkeypatch.setattr("queuectl.runtime.worker.Worker.run", lambda self: 0)
    run(*args)
    # Workers, and only workers, also queue their writes (writelock.WriterQueuedSqlite);
    # none of these is a reader, which would neither create nor refuse a database.
    assert seen == [(durable, not durable, False)]
