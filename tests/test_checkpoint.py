"""Workers checkpoint SQLite's write-ahead log themselves, while a job runs, never in a commit.

A checkpoint inside a worker's commit held the writer queue for milliseconds,
so every worker waited behind one job's bookkeeping; moved out, the log must
still be copied back, or it would grow without end.
"""

from __future__ import annotations

import os

import pytest

from queuectl import db, queue
from queuectl.jobspec import JobSpec
from queuectl.models import database
from tests.conftest import T0
from tests.test_worker_loop import FakeClock, make_worker

JOBS = 300


def _wal_bytes(path: str) -> int:
    return os.path.getsize(path + "-wal")


def _autocheckpoint() -> int:
    return database.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0]


def test_only_worker_connections_leave_checkpoints_to_their_owner(db_path):
    db.open_database(db_path)
    assert _autocheckpoint() == 1000  # SQLite's default, for the CLI and the dashboard
    db.close_database()
    db.open_database(db_path, durable=False, queue_writes=True)
    assert _autocheckpoint() == 0


def _run_all(path: str) -> int:
    db.open_database(path, durable=False, queue_writes=True)
    queue.enqueue_many([JobSpec(command="true") for _ in range(JOBS)], now=T0, cwd="/")
    worker = make_worker(FakeClock(), use_watchdog=False)
    for _ in range(JOBS):
        assert worker.step()
    assert queue.counts()["completed"] == JOBS
    return _wal_bytes(path)


def test_a_busy_worker_keeps_the_log_small(db_path, tmp_path, monkeypatch):
    kept = _run_all(db_path)
    db.close_database()
    monkeypatch.setattr(db.WriterQueuedSqlite, "checkpoint_when_due", lambda self: None)
    grown = _run_all(str(tmp_path / "never-checkpointed.db"))
    assert kept * 4 < grown, (kept, grown)


def test_a_checkpoint_waits_for_enough_commits_and_never_runs_inside_a_transaction(db_path):
    connection = db.open_database(db_path, durable=False, queue_writes=True)
    assert isinstance(connection, db.WriterQueuedSqlite)
    for _ in range(db.CHECKPOINT_EVERY - 1):
        queue.enqueue(JobSpec(command="true"))
    connection.commits_since_checkpoint = db.CHECKPOINT_EVERY - 1
    db.checkpoint_when_due()
    assert connection.commits_since_checkpoint == db.CHECKPOINT_EVERY - 1
    with db.write_transaction():
        connection.commits_since_checkpoint = db.CHECKPOINT_EVERY
        db.checkpoint_when_due()  # inside a transaction: not now
        assert connection.commits_since_checkpoint == db.CHECKPOINT_EVERY
    db.checkpoint_when_due()
    assert connection.commits_since_checkpoint == 0
    busy, logged, copied = database.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert (busy, logged) == (0, copied)


@pytest.mark.postgres
def test_postgres_has_nothing_to_checkpoint(pg_url):
    db.open_database(pg_url, durable=False, queue_writes=True)
    db.checkpoint_when_due()  # a no-op, not an error
