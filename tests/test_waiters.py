"""How an idle SQLite worker wakes: a watch on the write-ahead log, polling where there is none.

Wall-clock bounds here are deliberately loose; what proves the watch did the
waking is that the polling slice is set far longer than any bound checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from queuectl import db, filewatch, waiters
from queuectl.filewatch import FileWatch
from queuectl.waiters import SqliteWaiter, make_waiter

pytestmark = pytest.mark.skipif(
    filewatch._libc() is None, reason="inotify is Linux-only; elsewhere workers poll"
)


def _append(path: str, data: bytes = b"x") -> None:
    with open(path, "ab") as handle:
        handle.write(data)


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


def test_a_watch_on_a_missing_file_is_not_watching(tmp_path):
    watch = FileWatch.open(str(tmp_path / "absent"))
    assert watch is not None and not watch.watching
    watch.close()


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


def test_a_wake_that_finds_no_commit_yet_looks_again_soon(db_path):
    import sqlite3

    db.open_database(db_path)

    def commit() -> None:
        with sqlite3.connect(db_path) as other:
            other.execute("CREATE TABLE scratch (x)")

    watch = _EarlyWatch(commit)
    waiter = SqliteWaiter(watch=watch)  # type: ignore[arg-type]
    assert waiter.wait(2, lambda: False) is True
    assert watch.timeouts[0] == waiters.WATCHED_SLICE
    assert watch.timeouts[1] == waiters.COMMIT_SETTLE


def test_without_inotify_an_sqlite_worker_polls(db_path, monkeypatch):
    monkeypatch.setattr(filewatch, "_libc", lambda: None)
    db.open_database(db_path)
    waiter = make_waiter(time.sleep)
    assert isinstance(waiter, SqliteWaiter) and waiter._watch is None
    assert waiter.wait(0.05, lambda: False) is False


def test_a_stop_request_ends_a_watched_wait(db_path):
    db.open_database(db_path)
    waiter = make_waiter(time.sleep)
    assert waiter.wait(30, lambda: True) is False
