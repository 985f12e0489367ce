"""``worker stop`` signals a process only when it is that worker of this database: a
copy of the database (a restored backup) named the original's live workers, and a
stale row's pid may be any queuectl process by now."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from queuectl.runtime import supervisor
from queuectl.store import db

HOLDER = """
import sqlite3, subprocess, sys, time
connection = sqlite3.connect(sys.argv[1])
connection.execute("SELECT 1")
job = subprocess.Popen(["sleep", "60"], start_new_session=True)
print("open", job.pid, flush=True)
time.sleep(60)
job.kill()
"""


@pytest.fixture
def worker_like(tmp_path) -> Iterator[tuple[int, str, str, int]]:
    """A process holding database A open, its command line a worker's (``--id w1``),
    running a job in a session of its own: its pid, A's path, another database B's path
    and the job's pid (its group's)."""
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
        assert process.stdout is not None
        said, job = process.stdout.readline().split()
        assert said == "open"
        yield process.pid, first, second, int(job)
    finally:
        process.kill()
        process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(job), signal.SIGKILL)
        db.close_database()


def test_only_that_worker_of_this_database_is_signalled(worker_like) -> None:
    pid, first, second, _job = worker_like
    db.open_database(first)
    assert supervisor._is_this_worker(pid, "w1")
    assert not supervisor._is_this_worker(pid, "w2"), "another worker's id"
    db.close_database()
    db.open_database(second)
    assert not supervisor._is_this_worker(pid, "w1"), "the original's worker, seen from a copy"
    assert not supervisor._alive_here(pid), "lost to the copy, not running in it"


@contextlib.contextmanager
def _holding(location: str, *argv: str) -> Iterator[int]:
    """A process holding ``location`` open, ``argv`` after its script: its pid."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, location, *argv], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        said, job = process.stdout.readline().split()
        assert said == "open"
        yield process.pid
    finally:
        process.kill()
        process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(job), signal.SIGKILL)


@pytest.mark.parametrize(
    ("argv", "worker"),
    [
        (("queuectl", "tui"), False),
        (("queuectl", "--db", "{db}", "wait", "j1"), False),
        (("queuectl", "metrics", "--serve", "127.0.0.1:9100"), False),
        (("queuectl", "logs", "worker", "run"), False),  # the words, not the command
        (("queuectl", "--db", "{db}", "worker", "run"), True),  # started by hand
        (("queuectl", "--db={db}", "worker", "run", "--queue", "mail"), True),
    ],
)
def test_a_row_naming_another_queuectl_process_of_this_database_signals_nothing(
    tmp_path, argv: tuple[str, ...], worker: bool
) -> None:
    """Whoever may enqueue may write a worker row naming the pid of an admin's dashboard,
    ``wait`` or exporter, each holding this database open: ``worker stop`` ended it and
    said the worker was lost (the dashboard's ``X`` ended the dashboard)."""
    (tmp_path / "a").mkdir(mode=0o700)
    location = str(tmp_path / "a" / "q.db")
    db.open_database(location)
    try:
        with _holding(location, *(arg.format(db=location) for arg in argv)) as pid:
            assert supervisor._is_this_worker(pid, "w1") is worker
    finally:
        db.close_database()


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


def test_recovering_a_copy_leaves_the_originals_running_job_alone(worker_like) -> None:
    """``worker stop`` on a backup judged the original's worker lost and killed its
    running job's group ("killing orphaned process group … of job prod-job")."""
    from queuectl.runtime import procs

    _holder, first, second, job = worker_like
    db.open_database(second)
    assert procs._another_databases_job(job), "seen from the copy: not ours to kill"
    db.close_database()
    db.open_database(first)
    assert not procs._another_databases_job(job), "its own database's: killed as before"


SLEEPER = "import time; print('up', flush=True); time.sleep(60)"


@contextlib.contextmanager
def _process(*argv: str, location: str | None) -> Iterator[int]:
    """A process with ``argv`` after its script and ``QUEUECTL_DB`` (or none): its pid."""
    env = {key: value for key, value in os.environ.items() if key != "QUEUECTL_DB"}
    if location is not None:
        env["QUEUECTL_DB"] = location
    process = subprocess.Popen(
        [sys.executable, "-c", SLEEPER, *argv], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        # Up, not just started: /proc/PID/cmdline is empty until the program is exec'd.
        assert process.stdout.readline() == "up\n"
        yield process.pid
    finally:
        process.kill()
        process.wait()


def test_on_postgresql_only_a_process_given_this_database_is_its_worker(pg_url) -> None:
    """Any row on a shared server may be forged by whoever can enqueue: a worker row naming
    another database's worker (its ``--id`` shows in ``ps``), or a look-alike process of
    another user's, had ``worker stop`` signal it, as root when root ran it."""
    from urllib.parse import urlparse

    db.open_database(pg_url)
    try:
        here = urlparse(pg_url)
        same = here._replace(netloc=f"anyone:secret@localhost:{here.port or 5432}").geturl()
        other = here._replace(path="/someone_elses").geturl()
        worker = ("queuectl", "worker", "run", "--id", "w1")
        with _process(*worker, location=pg_url) as pid:
            assert supervisor._is_this_worker(pid, "w1")
        with _process(*worker, location=same) as pid:  # another spelling of the server
            assert supervisor._is_this_worker(pid, "w1")
        with _process(*worker, "--db", pg_url, location=other) as pid:  # --db wins
            assert supervisor._is_this_worker(pid, "w1")
        with _process(*worker, location=other) as pid:
            assert not supervisor._is_this_worker(pid, "w1"), "another database's worker"
            assert not supervisor._alive_here(pid)
        with _process(*worker, f"--db={other}", location=pg_url) as pid:
            assert not supervisor._is_this_worker(pid, "w1")
        with _process(*worker, location="/srv/q.db") as pid:
            assert not supervisor._is_this_worker(pid, "w1"), "a SQLite database's worker"
        with _process("queuectl-lookalike", location=None) as pid:
            assert not supervisor._is_this_worker(pid, "w1"), "given no database at all"
    finally:
        db.close_database()


def test_a_stop_the_database_cannot_record_still_signals_the_workers_here(
    worker_like, monkeypatch
) -> None:
    """On a full disk ``worker stop`` wrote nothing and signalled nobody, where README
    promises the SIGTERM too; a SIGTERM alone is a graceful stop a worker carries out
    without the database. The error says it was sent."""
    import time

    from queuectl.errors import QueueError, StoreUnavailable
    from queuectl.hostid import this_host
    from queuectl.store.models import Worker

    pid, first, _second, _job = worker_like
    db.open_database(first)
    now = time.time()
    Worker.insert(id="w1", pid=pid, host=this_host(), started_at=now, heartbeat_at=now).execute()

    def full(*_args, **_kwargs):
        raise StoreUnavailable("database or disk is full")

    monkeypatch.setattr(supervisor, "ask_to_stop", full)
    with pytest.raises(QueueError) as refused:
        supervisor.request_stop(["w1"], force=True)
    assert not isinstance(refused.value, StoreUnavailable)
    assert str(refused.value) == (
        "cannot record the stop: database or disk is full; sent SIGTERM instead to 1 worker"
        " on this host (w1): they stop after their jobs, without the database (graceful,"
        " even with --force)"
    )
    deadline = time.monotonic() + 10
    while supervisor.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not supervisor.pid_alive(pid), "the SIGTERM reached it"
