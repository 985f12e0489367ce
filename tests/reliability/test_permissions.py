"""The database, its WAL files, its folder and the worker logs are private to the user.

Whoever can write any of them can make the workers run commands as their user,
so they are created 0600/0700 even under a permissive umask; commands that
write refuse any of them that others can write, and ``status`` warns.
"""

from __future__ import annotations

import json
import os
import pwd
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from queuectl.store import filesafety
from tests.conftest import dump
from tests.polling import wait_until
from tests.test_cli import _invoker, enqueue


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _queuectl(env: dict, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a child whose umask is 0: only queuectl's own modes protect the files."""
    return subprocess.run(
        [sys.executable, "-m", "queuectl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(0),
        check=False,
    )


@pytest.mark.integration
def test_files_are_private_even_under_umask_0(tmp_path):
    location = str(tmp_path / "fresh" / "q.db")
    env = {**os.environ, "QUEUECTL_DB": location}
    assert _queuectl(env, "enqueue", '{"command": "sleep 30"}').returncode == 0
    folder = os.path.dirname(location)
    assert (_mode(folder), _mode(location)) == (0o700, 0o600)
    started = _queuectl(env, "worker", "start", "--count", "1")
    try:
        assert started.returncode == 0, started.stderr
        # The worker holds the database open: its WAL and shared-memory files exist.
        wait_until(lambda: os.path.exists(location + "-shm"), 20, "the -shm file")
        for suffix in ("-wal", "-shm"):
            assert _mode(location + suffix) == 0o600, suffix
        logs = os.path.join(folder, "logs")
        assert _mode(logs) == 0o700
        assert {_mode(os.path.join(logs, name)) for name in os.listdir(logs)} == {0o600}
    finally:
        stopped = _queuectl(env, "worker", "stop", "--force", "--timeout", "20")
        assert stopped.returncode == 0, stopped.stderr


LOOSE = [
    ("", 0o666, "database file"),
    ("", 0o620, "database file"),
    ("folder", 0o777, "database folder"),
    ("folder", 0o770, "database folder"),
    ("-wal", 0o666, "-wal"),
    ("-shm", 0o606, "-shm"),
]


def _share_the_group(path: str) -> None:
    """Give ``path`` to a group with other users in it: the user's own group is harmless."""
    if os.geteuid() != 0:
        pytest.skip("only root can give a file to a group with other users in it")
    os.chown(path, -1, pwd.getpwnam("nobody").pw_gid)


@pytest.mark.parametrize(("target", "mode", "named"), LOOSE)
def test_anything_others_can_write_is_refused_by_writers_and_warned_by_status(
    db_path, target, mode, named
):
    run = _invoker()
    enqueue(run)
    keep_open = sqlite3.connect(db_path)  # keeps -wal and -shm in place, as a worker does
    try:
        keep_open.execute("SELECT count(*) FROM queuectl_job").fetchone()
        before = dump(db_path)  # (before the chmod: opening resets an empty -wal's mode)
        path = os.path.dirname(db_path) if target == "folder" else db_path + target
        if not mode & 0o002:
            _share_the_group(path)
        os.chmod(path, mode)
        assert filesafety.check(db_path).problem is not None
        refused = run("enqueue", '{"command": "true"}', ok=False)
        assert refused.exit_code == 1 and refused.stderr.count("\n") == 1
        assert refused.stderr.startswith("Error: refusing to use the database: ")
        result = run("status")
        assert result.stderr.startswith("Warning: ") and result.stderr.count("\n") == 1
        assert "writable by other users" in result.stderr and named in result.stderr
        assert dump(db_path) == before
    finally:
        keep_open.close()


def test_a_reader_of_an_unsafe_database_changes_nothing_in_it(db_path):
    """``status`` and ``list`` warned about a folder others could write and then opened
    the file read-write: closing last, they copied the ``-wal`` into the file, so
    whatever someone put in the log became part of the user's own database, with no
    trace once the folder was mended. They now read through a ``mode=ro`` connection."""
    run = _invoker()
    job_id = enqueue(run)
    # A commit still only in the -wal, as a worker killed mid-run leaves it.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
            " c.execute('PRAGMA wal_autocheckpoint = 0');"
            " c.execute('UPDATE queuectl_job SET priority = 7'); c.commit(); os._exit(0)",
            db_path,
        ],
        check=True,
    )
    os.chmod(os.path.dirname(db_path), 0o777)
    before = {suffix: Path(db_path + suffix).read_bytes() for suffix in ("", "-wal")}
    listed = run("list", "--json")
    assert "writable by other users" in listed.stderr
    assert [(job["id"], job["priority"]) for job in json.loads(listed.stdout)] == [(job_id, 7)]
    assert run("status").stderr.startswith("Warning: ")
    after = {suffix: Path(db_path + suffix).read_bytes() for suffix in ("", "-wal")}
    assert after == before


def test_a_private_database_gets_no_warning(db_path):
    run = _invoker()
    enqueue(run)
    os.chmod(os.path.dirname(db_path), 0o700)
    assert run("status").stderr == ""
