"""Issue 18's attacks, replayed: ``nobody`` against root's workers, with real processes.

Each attack either is refused with one line naming the path and why, or comes
to nothing; none makes root run ``nobody``'s command, and a refused file is
left as it was, byte for byte.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from pathlib import Path
from urllib.parse import urlparse

import pytest

from queuectl.store.models import JobState
from tests.integration.conftest import running_cluster
from tests.security.conftest import NOBODY, as_nobody, needs_root, queuectl

pytestmark = [needs_root, pytest.mark.integration]

SECRET = "S3cr3tPw!x"


def _plant_database(path: Path, command: str) -> None:
    """``nobody`` makes a queuectl database at ``path`` holding one job."""

    def plant() -> None:
        from queuectl.jobspec import JobSpec
        from queuectl.lifecycle import enqueue as enqueuing
        from queuectl.store import db

        db.open_database(str(path))
        enqueuing.enqueue(JobSpec(command=command), cwd="/")
        db.close_database()

    as_nobody(plant)


def _nobodys_folder(base: Path) -> Path:
    folder = base / "nobody"
    folder.mkdir()
    os.chown(folder, NOBODY.pw_uid, NOBODY.pw_gid)
    return folder


def _refused(result, line: str) -> None:
    assert result.returncode == 1, result
    assert result.stderr == f"Error: refusing to use the database: {line}\n"
    assert result.stdout == ""


def _consequence(who: str) -> str:
    return f"{who} could make queuectl run commands as root"


def test_a_database_of_another_user_is_refused_by_workers_and_writers(open_tmp):
    folder = _nobodys_folder(open_tmp)
    marker = folder / "ran-as-root"
    _plant_database(folder / "q.db", f"id > {marker}")
    env = {"QUEUECTL_DB": str(folder / "q.db")}
    line = f"the database folder {folder} belongs to nobody; " + _consequence("nobody")
    for args in (("worker", "run"), ("worker", "start"), ("enqueue", '{"command": "true"}')):
        _refused(queuectl(*args, env=env), line)
    status = queuectl("status", env=env)
    assert status.returncode == 0 and status.stderr == f"Warning: {line}\n"
    assert not marker.exists()
    assert not (folder / "logs").exists()


def test_workers_are_not_started_with_their_logs_in_a_folder_another_user_can_write(open_tmp):
    """Its owner could rename a worker's log away and put their own text at the path
    ``worker start`` printed and the row records; nothing checked an existing folder."""
    folder = open_tmp / "mine"
    folder.mkdir(mode=0o700)
    logs = folder / "logs"
    logs.mkdir(mode=0o700)
    os.chown(logs, NOBODY.pw_uid, -1)
    env = {"QUEUECTL_DB": str(folder / "q.db")}
    harm = "who could replace the workers' logs with text of their own"
    started = queuectl("worker", "start", env=env)
    assert (started.returncode, started.stderr) == (
        1,
        f"Error: refusing to start workers: the log folder {logs} belongs to nobody, {harm}\n",
    )
    os.chown(logs, 0, -1)
    logs.chmod(0o777)
    started = queuectl("worker", "start", env=env)
    assert (started.returncode, started.stderr) == (
        1,
        f"Error: refusing to start workers: the log folder {logs} is writable by other users"
        f" (mode 777), {harm}\n",
    )
    assert list(logs.iterdir()) == []  # no log made, so no worker started


def test_a_file_of_another_user_in_our_folder(open_tmp):
    folder = _nobodys_folder(open_tmp)
    _plant_database(folder / "q.db", "true")
    mine = open_tmp / "mine"
    mine.mkdir(mode=0o700)
    os.rename(folder / "q.db", mine / "q.db")  # still nobody's
    line = f"the database file {mine / 'q.db'} belongs to nobody; " + _consequence("nobody")
    _refused(queuectl("worker", "run", env={"QUEUECTL_DB": str(mine / "q.db")}), line)


def test_a_log_planted_beside_the_database_is_refused_even_by_readers(open_tmp):
    """nobody, given a moment when our folder was open to all, copied in a ``-wal`` that
    adds a job. ``status`` only warned of the folder, then opened the file read-write
    and, closing last, copied the log into our own file; once the folder was mended
    nothing warned any more, and the next worker ran nobody's command as root."""
    ours = open_tmp / "ours"
    ours.mkdir(mode=0o700)
    env = {"QUEUECTL_DB": str(ours / "q.db")}
    assert queuectl("add", "--id", "mine", "--", "true", env=env).returncode == 0
    twin = open_tmp / "twin"  # nobody's copy of the same file, and a log that adds a job
    twin.mkdir()
    shutil.copy(ours / "q.db", twin / "q.db")
    holder = sqlite3.connect(twin / "q.db")  # a reader keeps the log from being folded in
    holder.execute("BEGIN")
    holder.execute("SELECT count(*) FROM queuectl_job").fetchone()
    marker = open_tmp / "ran-as-root"
    added = queuectl(
        "add", "--id", "evil", "--", f"id > {marker}", env={"QUEUECTL_DB": str(twin / "q.db")}
    )
    assert added.returncode == 0, added.stderr
    shutil.copy(twin / "q.db-wal", ours / "q.db-wal")
    holder.close()
    os.chown(ours / "q.db-wal", NOBODY.pw_uid, NOBODY.pw_gid)
    before = (ours / "q.db").read_bytes()
    line = f"the database file {ours / 'q.db-wal'} belongs to nobody; " + _consequence("nobody")
    for args in (("status",), ("list",), ("show", "evil")):
        result = queuectl(*args, env=env)
        assert result.returncode == 1 and result.stdout == "", result
        assert result.stderr == (
            f"Error: refusing to read the database: {line}"
            " (SQLite would take it in on opening the database)\n"
        )
    _refused(queuectl("worker", "run", env=env), line)
    assert (ours / "q.db").read_bytes() == before
    assert os.stat(ours / "q.db-wal").st_uid == NOBODY.pw_uid  # still says who made it
    assert not marker.exists()


def test_a_symbolic_link_planted_in_a_folder_anyone_can_write(open_tmp):
    folder = _nobodys_folder(open_tmp)
    marker = folder / "ran-as-root"
    _plant_database(folder / "q.db", f"id > {marker}")
    shared = open_tmp / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    as_nobody(lambda: (shared / "q.db").symlink_to(folder / "q.db"))
    line = f"the folder {shared} (on the way to it) is writable by other users (mode 777); " + (
        _consequence("other users")
    )
    _refused(queuectl("worker", "run", env={"QUEUECTL_DB": str(shared / "q.db")}), line)
    assert not marker.exists()


def test_a_link_to_an_empty_file_of_roots_never_overwrites_it(open_tmp):
    """The old attack: a link to an empty root-owned file made queuectl write a schema into it."""
    victim = open_tmp / "victim"
    victim.write_bytes(b"")
    victim.chmod(0o644)
    sticky = open_tmp / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)  # like /tmp
    as_nobody(lambda: (sticky / "q.db").symlink_to(victim))
    result = queuectl("enqueue", '{"command": "true"}', env={"QUEUECTL_DB": str(sticky / "q.db")})
    _refused(
        result,
        f"the symbolic link {sticky / 'q.db'} belongs to nobody; " + _consequence("nobody"),
    )
    assert victim.read_bytes() == b"" and stat.S_IMODE(victim.stat().st_mode) == 0o644


def test_folders_made_under_umask_000_are_private(open_tmp):
    """Parents made 0777 let nobody rename the database folder away and plant its own."""
    path = open_tmp / "a" / "b" / "c" / "q.db"
    old = os.umask(0)
    try:
        result = queuectl("enqueue", '{"command": "true"}', env={"QUEUECTL_DB": str(path)})
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    for folder in (open_tmp / "a", open_tmp / "a" / "b", path.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def rename_away() -> None:
        with pytest.raises(PermissionError):
            os.rename(open_tmp / "a" / "b", open_tmp / "a" / "x")

    as_nobody(rename_away)
    assert queuectl("status", env={"QUEUECTL_DB": str(path)}).stderr == ""


def test_an_adopted_empty_file_is_made_private_with_one_line(open_tmp):
    path = open_tmp / "q.db"
    os.chmod(open_tmp, 0o700)
    path.write_bytes(b"")
    path.chmod(0o644)
    result = queuectl("enqueue", '{"command": "echo token"}', env={"QUEUECTL_DB": str(path)})
    assert result.returncode == 0
    assert result.stderr == (
        f"Warning: the empty file {path} had mode 644; made it 600 to use it as the database\n"
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_file_that_only_looks_empty_keeps_its_mode():
    """``/proc/version`` has size 0 and content: taken for an empty file, it was made
    private (444 to 600) before SQLite refused it, by a command that then failed."""
    before = os.stat("/proc/version").st_mode
    result = queuectl("--db", "/proc/version", "add", "--", "echo")
    assert (result.returncode, result.stderr) == (
        1,
        "Error: /proc/version is not a queuectl database (not an SQLite file)\n",
    )
    assert os.stat("/proc/version").st_mode == before


def test_an_empty_file_of_another_user_is_refused(open_tmp):
    folder = open_tmp / "mine"
    folder.mkdir(mode=0o700)
    path = folder / "q.db"
    path.write_bytes(b"")
    os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    result = queuectl("enqueue", '{"command": "true"}', env={"QUEUECTL_DB": str(path)})
    _refused(result, f"the database file {path} belongs to nobody; " + _consequence("nobody"))
    assert path.read_bytes() == b""


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_a_file_of_another_program_is_left_byte_for_byte(tmp_path, journal):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA journal_mode={journal}")
        connection.execute("CREATE TABLE invoices (id INTEGER)")
        connection.execute("INSERT INTO invoices VALUES (1)")
    connection.close()
    before = path.read_bytes()
    assert before[18:20] == (b"\x02\x02" if journal == "wal" else b"\x01\x01")
    env = {"QUEUECTL_DB": str(path)}
    for args in (("worker", "run"), ("enqueue", '{"command": "true"}'), ("status",)):
        result = queuectl(*args, env=env)
        assert result.returncode == 1
        assert result.stderr == (
            f"Error: {path} is not a queuectl database (it holds other tables: invoices)\n"
        )
        assert path.read_bytes() == before, args


@pytest.mark.parametrize("table", ["queuectl_job", "queuectl_meta"])
def test_a_table_replaced_by_an_endless_view_is_refused_at_once(tmp_path, table):
    """Another user's file with ``queuectl_job`` made a view over an endless recursive
    query: ``list``, ``status`` and ``show`` hung, their memory growing by the second."""
    path = tmp_path / "q.db"
    assert queuectl("--db", str(path), "add", "--id", "t1", "--", "true").returncode == 0
    with sqlite3.connect(path) as connection:
        columns = [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
        connection.execute(f"ALTER TABLE {table} RENAME TO kept")
        connection.execute(
            f"CREATE VIEW {table} AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL"
            f" SELECT n + 1 FROM r) SELECT {', '.join(columns)} FROM kept, r"
        )
    connection.close()
    for args in (("list",), ("status",), ("show", "t1"), ("add", "--", "true")):
        result = queuectl("--db", str(path), *args, timeout=20)
        assert (result.returncode, result.stderr) == (
            1,
            f"Error: {path} is not a queuectl database ({table} is a view, not a table)\n",
        ), args


def _env_lines(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


CREDENTIALS = {
    "PGPASSWORD": SECRET,
    "PGPASSFILE": "/root/.pgpass-of-the-worker",
    "PGSERVICEFILE": "/root/.pg_service.conf",
}
"""libpq's variables that hold or lead to a password, as a worker's systemd unit may set
them (files that do not exist are ignored; PGSERVICE, which must name a service, is
checked on SQLite, where nothing reads it)."""


def test_a_job_running_env_sees_no_database_location_on_sqlite(db_path, tmp_path):
    with running_cluster(db_path, tmp_path) as cluster:
        cluster.env.update(CREDENTIALS, PGSERVICE="queue")
        cluster.start_workers(1)
        job = cluster.wait_state(cluster.enqueue("env"), JobState.COMPLETED)
    seen = _env_lines(job.output)
    assert seen["QUEUECTL_JOB_ID"] == job.id and "PATH" in seen
    assert not {"QUEUECTL_DB", "PGSERVICE", *CREDENTIALS} & set(seen), seen
    assert SECRET not in job.output and db_path not in job.output


def _with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


@pytest.mark.postgres
def test_a_job_running_env_sees_no_postgres_password(pg_url, tmp_path):
    """The server trusts local connections, so any password works: as one in a real URL."""
    url = _with_password(pg_url, SECRET)
    with running_cluster(url, tmp_path) as cluster:
        cluster.env.update(CREDENTIALS)
        cluster.start_workers(1)
        job = cluster.wait_state(cluster.enqueue("env"), JobState.COMPLETED)
        shown = cluster.cli("show", job.id)
        status = cluster.cli("status")
        started = cluster.cli("worker", "start")
        pid = int(started.stdout.split("(pid ")[1].split(")")[0])
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().decode()
        cluster.cli("worker", "stop")
    assert SECRET not in job.output and "QUEUECTL_DB" not in job.output
    assert not set(CREDENTIALS) & set(_env_lines(job.output))
    assert SECRET not in shown.stdout + shown.stderr
    assert SECRET not in status.stdout and f"{urlparse(url).username}:***@" in status.stdout
    assert "queuectl\0worker\0run" in argv and "postgresql" not in argv


@pytest.mark.postgres
def test_a_password_in_the_query_is_not_shown(pg_url, tmp_path):
    url = f"{pg_url}&password={SECRET}"
    with running_cluster(url, tmp_path) as cluster:
        status = cluster.cli("status")
    assert SECRET not in status.stdout and "password=***" in status.stdout


def test_a_detached_worker_gets_its_database_through_the_environment(db_path, tmp_path):
    """Not argv: ``ps`` shows every user the command line of every process."""
    with running_cluster(db_path, tmp_path) as cluster:
        started = cluster.cli("worker", "start")
        pid = int(started.stdout.split("(pid ")[1].split(")")[0])
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read()
        cluster.cli("worker", "stop")
    assert b"worker\0run" in argv and db_path.encode() not in argv


@pytest.mark.postgres
def test_a_log_folder_on_the_way_through_another_users_link_is_refused_before_it_is_made(
    open_tmp, pg_url
):
    """On PostgreSQL the logs go to the XDG data folder, which no database check covers:
    ``worker start`` made ``logs`` through nobody's link into root's private folder, and
    only then refused."""
    target = open_tmp / "roots"
    target.mkdir(mode=0o700)
    data = _nobodys_folder(open_tmp)
    os.symlink(target, data / "queuectl")
    os.lchown(data / "queuectl", NOBODY.pw_uid, NOBODY.pw_gid)
    started = queuectl("worker", "start", env={"QUEUECTL_DB": pg_url, "XDG_DATA_HOME": str(data)})
    assert started.returncode == 1
    assert started.stderr.startswith("Error: refusing to start workers: ")
    assert "belongs to nobody" in started.stderr and started.stderr.count("\n") == 1
    assert list(target.iterdir()) == []


def test_a_log_folders_parent_of_another_user_is_not_called_the_database_folder(open_tmp, pg_url):
    """On PostgreSQL there is no database folder, yet the refusal named one (an outside try)."""
    data = open_tmp / "data"
    data.mkdir(mode=0o755)
    (data / "queuectl").mkdir(mode=0o755)
    os.chown(data / "queuectl", NOBODY.pw_uid, NOBODY.pw_gid)
    started = queuectl("worker", "start", env={"QUEUECTL_DB": pg_url, "XDG_DATA_HOME": str(data)})
    assert started.returncode == 1
    assert started.stderr.startswith(
        f"Error: refusing to start workers: the folder {data / 'queuectl'} (on the way to it)"
        " belongs to nobody; "
    ), started.stderr
    assert list((data / "queuectl").iterdir()) == []


def test_a_database_other_users_can_read_is_said_by_every_command(open_tmp):
    """Restored with ``cp`` under umask 022 into a 0755 folder, the file handed every
    job's env and output to each local user, and queuectl said nothing (an outside
    try): reading runs nothing, so it is a warning, not a refusal."""
    path = open_tmp / "q.db"
    env = {"QUEUECTL_DB": str(path)}
    assert queuectl("add", "--env", "TOKEN=S3cr3t", "--", "true", env=env).returncode == 0
    path.chmod(0o644)

    def read_the_secret() -> None:
        assert b"S3cr3t" in path.read_bytes()

    as_nobody(read_the_secret)  # what the warning is about
    said = (
        f"Warning: the database file {path} is readable by other users (mode 644), and so"
        f" are its jobs' commands, env and output: chmod go-rw {path}*\n"
    )
    for args in (("status",), ("add", "--", "true")):
        done = queuectl(*args, env=env)
        assert done.returncode == 0 and done.stderr == said, done.stderr
    open_tmp.chmod(0o700)  # a folder others cannot enter: nothing exposed
    assert queuectl("status", env=env).stderr == ""
    open_tmp.chmod(0o755)
    path.chmod(0o600)
    assert queuectl("status", env=env).stderr == ""
