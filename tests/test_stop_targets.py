"""``worker stop`` signals a process only when it is that worker of this database: a
copy of the database (a restored backup) named the original's live workers, and a
stale row's pid may be any queuectl process by now."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from queuectl.runtime import supervisor
from queuectl.store import db

HOLDER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1])
connection.execute("SELECT 1")
print("open", flush=True)
time.sleep(60)
"""


@pytest.fixture
def worker_like(tmp_path) -> Iterator[tuple[int, str, str]]:
    """A process holding database A open, its command line a worker's (``--id w1``):
    its pid, A's path and another database B's path."""
    (tmp_path / "a").mkdir(mode=0o700)
    first, second = str(tmp_path / "a" / "q.db"), str(tmp_path / "a" / "copy.db")
    for location in (first, second):
        db.open_database(location)
        db.close_database()
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, first, "queuectl", "worker", "run", "--id", "w1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "open\n"
        yield process.pid, first, second
    finally:
        process.kill()
        process.wait()
        db.close_database()


def test_only_that_worker_of_this_database_is_signalled(worker_like) -> None:
    pid, first, second = worker_like
    db.open_database(first)
    assert supervisor._is_this_worker(pid, "w1")
    assert not supervisor._is_this_worker(pid, "w2"), "another worker's id"
    db.close_database()
    db.open_database(second)
    assert not supervisor._is_this_worker(pid, "w1"), "the original's worker, seen from a copy"
    assert not supervisor._alive_here(pid), "lost to the copy, not running in it"


def test_starting_workers_on_a_deleted_database_makes_nothing_again(tmp_path) -> None:
    """The log folder was made first, making the deleted database's folder again."""
    import shutil

    from queuectl.errors import DatabaseError

    folder = tmp_path / "dbdir"
    folder.mkdir(mode=0o700)
    location = str(folder / "q.db")
    db.open_database(location)
    try:
        shutil.rmtree(folder)
        with pytest.raises(DatabaseError, match="refusing to start workers: the database file"):
            supervisor.start_workers(location, 1)
        assert not folder.exists()
    finally:
        db.close_database()
