"""How an idle SQLite worker wakes: a watch on the write-ahead log, polling where there is none.

Wall-clock bounds here are deliberately loose; what proves the watch did the
waking is that the polling slice is set far longer than any bound checked.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from queuectl.runtime import filewatch, waiters
from queuectl.runtime.filewatch import FileWatch
from queuectl.runtime.waiters import SqliteWaiter, make_waiter
from queuectl.store import db

needs_inotify = pytest.mark.skipif(
    filewatch._libc() is None, reason="inotify is Linux-only; elsewhere workers poll"
)


def _append(path: str, data: bytes = b"x") -> None:
    with open(path, "ab") as handle:
        handle.write(data)


@needs_inotify
def test_a_watch_sees_a_write_and_says_nothing_without_one(tmp_path):
    path = str(tmp_path / "file")
    _append(path)
    watch = FileWatch.open(path)
    assert watch is not None and watch.watching
    assert watch.wait(0.01) is False
    _append(path)
    _append(path)
    assert watch.wait(0) is True  # two writes, one wake: the queue is drained
    assert watch.wait(0.01) is False
    watch.close()


@needs_inotify
def test_a_watch_follows_a_deleted_file_once_it_is_back(tmp_path):
    """SQLite deletes its log when the last connection closes and makes a new one later."""
    path = str(tmp_path / "file-wal")
    _append(path)
    watch = FileWatch.open(path)
    assert watch is not None
    os.unlink(path)
    assert watch.wait(1) is True  # the deletion itself wakes the waiter
    assert not watch.watching
    _append(path)
    assert watch.watching
    _append(path)
    assert watch.wait(1) is True
    watch.close()


@needs_inotify
def test_a_watch_on_a_missing_file_is_not_watching(tmp_path):
    watch = FileWatch.open(str(tmp_path / "absent"))
    assert watch is not None and not watch.watching
    watch.close()


@needs_inotify
def test_a_commit_by_another_process_wakes_an_idle_sqlite_worker_at_once(db_path, monkeypatch):
    """With the polling slice far longer than the wait, only the watch can wake it early."""
    monkeypatch.setattr(waiters, "WATCHED_SLICE", 120.0)
    db.open_database(db_path)
    waiter = make_waiter(time.sleep)
    assert isinstance(waiter, SqliteWaiter) and waiter._watch is not None
    enqueue = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "--db", db_path, "enqueue", '{"command": "true"}'],
        stdout=subprocess.DEVNULL,
    )
    started = time.monotonic()
    try:
        assert waiter.wait(60, lambda: False) is True
    finally:
        assert enqueue.wait(60) == 0
    assert time.monotonic() - started < 30  # a look after the whole wait would take 60 s


class _EarlyWatch:
    """A watch that fires before the commit is visible, as the log's first write does."""

    def __init__(self, commit) -> None:
        self.timeouts: list[float] = []
        self._commit = commit

    @property
    def watching(self) -> bool:
        return True

    def wait(self, timeout: float) -> bool:
        self.timeouts.append(timeout)
        if len(self.timeouts) == 1:
            return True  # pages written, commit not yet visible
        self._commit()
        return False  # the commit's last step (shared memory) raises no event


@needs_inotify
def test_a_wake_that_finds_no_commit_yet_looks_again_soon(db_path):
    db.open_database(db_path)

    def commit() -> None:
        with sqlite3.connect(db_path) as other:
            other.execute("CREATE TABLE scratch (x)")

    watch = _EarlyWatch(commit)
    waiter = SqliteWaiter(watch=watch)  # type: ignore[arg-type]
    assert waiter.wait(2, lambda: False) is True
    assert watch.timeouts[0] == waiters.WATCHED_SLICE
    assert watch.timeouts[1] == waiters.COMMIT_SETTLE


class _CountedWaiter(SqliteWaiter):
    """Counts its looks at ``data_version``: what an idle worker pays while it waits."""

    looks = 0

    def _read(self) -> int:
        self.looks += 1
        return super()._read()


@needs_inotify
def test_a_stream_of_commits_is_looked_at_no_more_often_than_polling_would(db_path):
    """Every commit wakes every idle worker, whatever its queue: the looks must stay bounded."""
    db.open_database(db_path)
    waiter = _CountedWaiter(watch=FileWatch.open(db_path + "-wal"))
    done = threading.Event()
    commits = 0

    def commit_in_a_loop() -> None:
        nonlocal commits
        with sqlite3.connect(db_path) as other:
            # No fsync per commit: the test is about wake-ups, and on a busy disk
            # fsyncs made the writer too slow to prove anything (seen under load).
            other.execute("PRAGMA synchronous=OFF")
            other.execute("CREATE TABLE scratch (x)")
            while not done.is_set():
                other.execute("INSERT INTO scratch VALUES (1)")
                other.commit()
                commits += 1

    writer = threading.Thread(target=commit_in_a_loop)
    writer.start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < 0.5:
            waiter.wait(0.5, lambda: False)
    finally:
        done.set()
        writer.join()
    seconds = time.monotonic() - started
    # At most one look per 25 ms once spaced out, a few more while the spacing grows.
    assert waiter.looks <= seconds / waiters.IDLE_CHECK * 1.5 + 15, (waiter.looks, commits)
    assert commits > 4 * waiter.looks, "the writer was too slow for this to prove anything"
    waiter.close()


@needs_inotify
def test_a_log_deleted_during_a_wait_is_polled_not_spun_on(db_path, tmp_path):
    db.open_database(db_path)
    watched = tmp_path / "watched-wal"
    watched.write_bytes(b"x")
    waiter = _CountedWaiter(watch=FileWatch.open(str(watched)))
    threading.Timer(0.1, watched.unlink).start()
    cpu = time.process_time()
    assert waiter.wait(1.0, lambda: False) is False
    assert waiter.looks <= 1.0 / waiters.IDLE_CHECK * 1.5 + 5
    assert time.process_time() - cpu < 0.5
    waiter.close()


def test_without_inotify_an_sqlite_worker_polls(db_path, monkeypatch):
    monkeypatch.setattr(filewatch, "_libc", lambda: None)
    db.open_database(db_path)
    waiter = make_waiter(time.sleep)
    assert isinstance(waiter, SqliteWaiter) and waiter._watch is None
    assert waiter.wait(0.05, lambda: False) is False


@needs_inotify
def test_a_stop_request_during_a_watched_wait_ends_it_within_a_slice(db_path):
    db.open_database(db_path)
    waiter = make_waiter(time.sleep)
    assert isinstance(waiter, SqliteWaiter) and waiter._watch is not None
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    started = time.monotonic()
    assert waiter.wait(60, stop.is_set) is False
    assert time.monotonic() - started < 30  # a wait that missed the stop would take 60 s
    waiter.close()


@needs_inotify
def test_closing_a_waiter_lets_go_of_its_watch(db_path):
    db.open_database(db_path)
    waiter = make_waiter(time.sleep)
    assert isinstance(waiter, SqliteWaiter) and waiter._watch is not None
    fd = waiter._watch._fd
    assert os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify"
    waiter.close()
    with pytest.raises(OSError):
        os.fstat(fd)


@pytest.mark.postgres
def test_a_listening_connection_an_outage_cut_is_mended_when_the_database_is_back(pg_url, caplog):
    """A busy worker looked at its LISTEN connection only when it next went idle: after
    an outage during a drain, "lost the LISTEN connection" came 17-29 s after "database
    back", and read as a second outage. The worker now asks its waiter at once, and
    mends it without a word: the loss and a "back after 0.0s" read as a second outage
    too (logged only for debugging)."""
    import logging

    from queuectl.runtime.outage import Outage
    from queuectl.runtime.pgnotify import PostgresWaiter
    from queuectl.store import transactions
    from queuectl.store.models import database

    db.open_database(pg_url)
    waiter = PostgresWaiter()
    cut = waiter._connection.info.backend_pid
    database.execute_sql("SELECT pg_terminate_backend(%s)", (cut,))  # the outage, for it
    said: list[str] = []
    outage = Outage(said.append, "worker w1", on_back=waiter.after_outage)
    outage.failed(RuntimeError("server closed the connection"))
    with caplog.at_level(logging.INFO, logger="queuectl.worker"):
        outage.over()
    assert said[-1].startswith("worker w1: database back after")
    assert caplog.records == [], "the worker's own two lines tell the outage"
    assert waiter._connection.info.backend_pid != cut
    with transactions.write_transaction():
        transactions.notify_new_work()
    assert waiter.wait(5, lambda: False)  # it hears the next announcement
    outage.over()  # no outage now: nothing said, nothing asked of the waiter
    assert caplog.records == []
    waiter.close()


@pytest.mark.postgres
def test_an_idle_workers_listening_connection_tells_its_loss_and_return(pg_url, caplog):
    """Idle, the lost LISTEN connection is the worker's first sign of an outage: said,
    and its return too. ``wait`` says its outages itself, so its waiter says neither."""
    import logging

    from queuectl.runtime.pgnotify import PostgresWaiter
    from queuectl.store.models import database

    db.open_database(pg_url)
    for tell, expected in ((True, 2), (False, 0)):
        waiter = PostgresWaiter(tell_losses=tell)
        database.execute_sql(
            "SELECT pg_terminate_backend(%s)", (waiter._connection.info.backend_pid,)
        )
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="queuectl.worker"):
            assert waiter.wait(5, lambda: False)  # the loss: look at the queue
            waiter._retry_at = 0.0
            assert waiter.wait(5, lambda: False)  # the reconnect: look again
        logged = [record.getMessage() for record in caplog.records]
        assert len(logged) == expected, logged
        if tell:
            assert logged[0].startswith("lost the LISTEN connection to PostgreSQL")
            assert logged[1].startswith("LISTEN connection to PostgreSQL is back after")
        waiter.close()


@pytest.mark.postgres
def test_a_listening_connection_that_stays_down_says_why_once_per_reason(pg_url, caplog):
    """A server out of connection slots kept the LISTEN connection down 47 s with only
    "reconnecting in the background" in the log: the reason was never said."""
    import logging

    import psycopg

    from queuectl.runtime.pgnotify import STILL_LOST_AFTER, PostgresWaiter

    db.open_database(pg_url)
    reasons = iter(["sorry, too many clients already"] * 3 + ["Connection refused"] * 2)

    def refused() -> None:
        raise psycopg.OperationalError(next(reasons))

    with caplog.at_level(logging.INFO, logger="queuectl.worker"):
        waiter = PostgresWaiter(connect=refused)
        for _ in range(4):  # the last try with each reason is past STILL_LOST_AFTER
            assert waiter._lost_at is not None
            waiter._lost_at -= STILL_LOST_AFTER / 2
            waiter._retry_at = 0.0
            assert not waiter._reconnect()
    logged = [record.getMessage() for record in caplog.records]
    assert logged[0].startswith("lost the LISTEN connection to PostgreSQL (sorry, too many")
    assert [line.split("(")[1].split(")")[0] for line in logged[1:]] == [
        "sorry, too many clients already",
        "Connection refused",
    ], logged
    assert logged[1].startswith("the LISTEN connection to PostgreSQL is still down after")
    waiter.close()
