"""SQLite files that become read-only under running processes: an outage, not a death.

SQLite maps the ``-shm`` into memory and writes it on every transaction and on
closing; once the file cannot be written (its filesystem remounted read-only after
an error, ``chattr +i``), the kernel answers such a write with SIGBUS, which no
error handling sees. A worker died of it 15 s into the outage, its job left
``processing``. The read-only state here is real: ``chattr +i`` on the three files
(root, on a filesystem with inode flags; skipped, saying why, elsewhere).
"""

from __future__ import annotations

import subprocess
import time

import pytest

from queuectl.runtime import procs
from queuectl.states import JobState, RunOutcome
from queuectl.store.models import Run
from tests.integration.conftest import Cluster
from tests.polling import wait_until

pytestmark = pytest.mark.integration

SUFFIXES = ("", "-wal", "-shm")


def _immutable(paths: list[str], on: bool) -> subprocess.CompletedProcess:
    flag = "+i" if on else "-i"
    return subprocess.run(["chattr", flag, *paths], capture_output=True, text=True, check=False)


@pytest.fixture
def can_freeze(tmp_path) -> None:
    probe = tmp_path / "probe"
    probe.write_text("")
    try:
        done = _immutable([str(probe)], True)
    except FileNotFoundError:
        pytest.skip("chattr is not installed")
    if done.returncode != 0:
        pytest.skip(f"files cannot be made immutable here: {done.stderr.strip()}")
    _immutable([str(probe)], False)


@pytest.mark.timeout(90)
def test_a_worker_lives_through_its_files_becoming_read_only(sqlite_cluster: Cluster, can_freeze):
    cluster = sqlite_cluster
    [worker] = cluster.start_workers(1)
    warm = cluster.enqueue("true")
    cluster.wait_state(warm, JobState.COMPLETED)
    job_id = cluster.enqueue("sleep 1")
    cluster.wait_state(job_id, JobState.PROCESSING)
    pgid = wait_until(
        lambda: Run.select(Run.pgid).where(Run.job == job_id).scalar(), 10, "the job's group"
    )
    files = [cluster.db_path + suffix for suffix in SUFFIXES]
    assert _immutable(files, True).returncode == 0
    try:
        # The job ends during the outage; recording it is what killed the worker.
        wait_until(
            lambda: "database unavailable" in cluster.logs() or worker.poll() is not None,
            20,
            f"the outage ({cluster.logs()})",
        )
        assert worker.poll() is None, f"the worker died ({worker.returncode}): {cluster.logs()}"
        assert "cannot be written (a read-only filesystem?)" in cluster.logs()
        added = cluster.cli("add", "--", "true", check=False)
        assert added.returncode == 1 and added.stdout == ""
        assert added.stderr == (
            f"Error: cannot use the database {cluster.db_path}: {cluster.db_path}-shm"
            " cannot be written (a read-only filesystem?)\n"
        )
        # A reader reads what is there, through a connection that writes nothing.
        listed = cluster.cli("list", "--json")
        assert job_id in listed.stdout and listed.stderr == ""
        # The job ends inside the outage: its record is refused, the path that killed
        # the worker (a death at any point also fails the checks after the outage).
        wait_until(lambda: not procs.group_alive(pgid), 20, "the job to end in the outage")
        time.sleep(2)  # not a wait for anything: the outage goes on, retried meanwhile
        assert worker.poll() is None, cluster.logs()
    finally:
        _immutable(files, False)
    cluster.wait_state(job_id, JobState.COMPLETED, timeout=30)
    assert [run.outcome for run in Run.select().where(Run.job == job_id)] == [
        RunOutcome.SUCCEEDED.value
    ]
    wait_until(lambda: "database back after" in cluster.logs(), 15, cluster.logs())
    assert worker.poll() is None, cluster.logs()
    assert "Traceback" not in cluster.logs()
    assert cluster.cli("add", "--", "true").returncode == 0


def test_a_write_refused_by_a_read_only_log_names_it(tmp_path, can_freeze):
    """With only the -wal read-only, the worker logged a bare "disk I/O error"."""
    import peewee

    from queuectl.store import db, writelock
    from queuectl.store.models import database

    path = str(tmp_path / "q.db")
    db.open_database(path)
    try:
        holder = database.connection()  # keeps the -wal there
        holder.execute("SELECT 1")
        assert _immutable([path + "-wal"], True).returncode == 0
        try:
            said = writelock.explain(peewee.OperationalError("disk I/O error"))
        finally:
            _immutable([path + "-wal"], False)
        assert said == f"disk I/O error ({path}-wal cannot be written: a read-only filesystem?)"
        assert writelock.explain(peewee.OperationalError("disk I/O error")) == "disk I/O error"
    finally:
        db.close_database()


def test_a_write_refused_by_a_read_only_database_file_names_it(db_path, can_freeze):
    """A chmod 444 (or immutable) file: ``add`` said only "attempt to write a readonly
    database", naming no file (an outside try)."""
    from click.testing import CliRunner

    from queuectl.cli import cli
    from queuectl.store import db

    env = {"QUEUECTL_DB": db_path}
    assert CliRunner().invoke(cli, ["add", "--", "true"], env=env).exit_code == 0
    db.close_database()
    assert _immutable([db_path], True).returncode == 0
    try:
        added = CliRunner().invoke(cli, ["add", "--", "true"], env=env)
    finally:
        _immutable([db_path], False)
    assert added.exit_code == 1
    assert added.stderr == (
        "Error: database error: attempt to write a readonly database"
        f" ({db_path} cannot be written: its mode, or a read-only filesystem?)\n"
    )


def _screen_until(
    master: int, wanted: tuple[bytes, ...], program: subprocess.Popen, deadline: float
) -> bytes:
    """What a terminal's program drew until each of ``wanted`` appears in it, it exits,
    or the deadline."""
    import os
    import select

    drawn = b""
    while not all(part in _text(drawn) for part in wanted) and time.monotonic() < deadline:
        if program.poll() is not None:
            break
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                drawn += os.read(master, 65536)
            except OSError:  # the program closed the terminal
                break
    return _text(drawn)


def _text(drawn: bytes) -> bytes:
    """The characters drawn, without the escape sequences that style and place them."""
    import re

    return re.sub(rb"\x1b\[[0-9;?<>=$]*[ -/]*[@-~]", b"", drawn)


@pytest.mark.timeout(60)
def test_the_dashboard_opens_read_only_on_files_that_cannot_be_written(tmp_path, can_freeze):
    """It exited with the -shm line, though ``status`` and ``list`` read the same files."""
    import os
    import sqlite3
    import sys

    from tests.terminal import in_a_terminal

    db_path = str(tmp_path / "q.db")
    env = {**os.environ, "QUEUECTL_DB": db_path, "TERM": "xterm-256color", "HOME": str(tmp_path)}
    subprocess.run(
        [sys.executable, "-m", "queuectl", "add", "--id", "kept", "--", "true"], env=env, check=True
    )
    holder = sqlite3.connect(db_path)  # keeps the -wal and -shm there, as a worker does
    holder.execute("SELECT count(*) FROM queuectl_job").fetchone()
    files = [db_path + suffix for suffix in SUFFIXES]
    assert all(os.path.exists(path) for path in files)
    assert _immutable(files, True).returncode == 0
    dashboard, master = in_a_terminal(["tui"], columns=100, rows=24, env=env)
    try:
        # The toast's first words: where its later ones wrap depends on the path's length.
        wanted = (b"Opened read-only: ", b"kept")
        drawn = _screen_until(master, wanted, dashboard, time.monotonic() + 30)
        assert dashboard.poll() is None, drawn.decode(errors="replace")
        assert all(part in drawn for part in wanted), drawn.decode(errors="replace")
        os.write(master, b"q")
        assert dashboard.wait(timeout=15) == 0
    finally:
        if dashboard.poll() is None:
            dashboard.kill()
        os.close(master)
        _immutable(files, False)
        holder.close()
    # Nothing was written: the job is as it was.
    listed = subprocess.run(
        [sys.executable, "-m", "queuectl", "list", "--json"], env=env, capture_output=True
    )
    assert b'"kept"' in listed.stdout


@pytest.mark.timeout(60)
def test_the_web_server_serves_files_that_cannot_be_written_read_only(tmp_path, can_freeze):
    """It served them to write, with no word at start: every tab offered New, Retry and
    Start, and each failed when tried (a web user's try). It says so, as ``tui`` does."""
    import os
    import sys

    pytest.importorskip("textual_serve", reason="the web extra is not installed")
    from tests.web.served import Served

    db_path = str(tmp_path / "q.db")
    env = {**os.environ, "QUEUECTL_DB": db_path, "HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-m", "queuectl", "add", "--", "true"], env=env, check=True)
    assert _immutable([db_path], True).returncode == 0
    try:
        served = Served(db_path, env={"HOME": str(tmp_path)})
        said = served.wait_log(r"serving .* read-only to at most")
        served.stop()
    finally:
        _immutable([db_path], False)
    assert said.startswith(
        f"Warning: {db_path} cannot be written (a read-only filesystem?):"
        f" served read-only, as --read-only would\n"
        f"queuectl web: serving {db_path} read-only to at most"
    ), said
