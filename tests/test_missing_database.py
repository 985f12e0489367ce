"""Read-only commands on a path with no database: the empty result, one line, nothing created.

A mistyped ``--db`` used to create a database even for ``status``. Now every
command marked ``pass_app(read_only=True)`` answers exactly as on an empty
database (same output, same exit code) plus one line on stderr, and leaves the
path as it found it. Commands that write still create the database.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat

import pytest

from queuectl.store import db
from tests.test_cli import _invoker

READ_ONLY = [
    ("status",),
    ("status", "--json"),
    ("list",),
    ("list", "--json"),
    ("list", "pending"),
    ("show", "job-1"),
    ("show", "job-1", "--json"),
    ("logs", "job-1"),
    ("dlq", "list"),
    ("dlq", "list", "--json"),
    ("config",),
    ("config", "list", "--json"),
    ("config", "get", "max_retries"),
    ("worker", "list"),
    ("worker", "list", "--json"),
]


def _note(location: str) -> str:
    return (
        f"Warning: no queuectl database exists at {location} yet; commands that write create it\n"
    )


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_a_read_only_command_answers_as_on_an_empty_database(tmp_path, args):
    path = str(tmp_path / "typo" / "deeper" / "q.db")
    run = _invoker()
    missing = run("--db", path, *args, ok=False)
    assert not os.path.exists(tmp_path / "typo"), "a read-only command created something"
    db.open_database(path)  # now an empty database at the same path
    db.close_database()
    empty = run("--db", path, *args, ok=False)
    assert (missing.exit_code, missing.stdout) == (empty.exit_code, empty.stdout)
    assert missing.stderr == _note(path) + empty.stderr


def test_an_empty_file_is_left_as_it_is(tmp_path):
    path = tmp_path / "q.db"
    path.write_bytes(b"")
    path.chmod(0o640)
    result = _invoker()("--db", str(path), "list", "--json")
    assert result.stdout == "[]\n" and result.stderr == _note(str(path))
    assert path.read_bytes() == b"" and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["q.db"]


@pytest.mark.parametrize(
    "make",
    [
        "PRAGMA user_version = 7",  # an SQLite file with no tables at all
        "CREATE TABLE queuectl_job (id TEXT)",  # queuectl's name, but no schema version
    ],
)
def test_an_sqlite_file_without_a_schema_is_left_byte_for_byte(tmp_path, make):
    path = tmp_path / "q.db"
    with sqlite3.connect(path) as connection:
        connection.execute(make)
    connection.close()
    before = path.read_bytes()
    result = _invoker()("--db", str(path), "list", "--json")
    assert result.stdout == "[]\n" and result.stderr == _note(str(path))
    assert path.read_bytes() == before


def test_writing_commands_create_it(tmp_path):
    path = tmp_path / "new" / "q.db"
    run = _invoker()
    run("--db", str(path), "enqueue", '{"command": "true", "id": "job-1"}')
    result = run("--db", str(path), "show", "job-1")
    assert "job-1" in result.stdout and result.stderr == ""


@pytest.mark.postgres
def test_a_postgres_schema_without_tables_stays_empty(bare_pg_url):
    from playhouse.db_url import connect

    schema = bare_pg_url.rsplit("%3D", 1)[1]
    run = _invoker()
    for args in (("status",), ("list", "--json"), ("config", "get", "max_retries")):
        result = run(*args)
        assert result.stderr.startswith("Warning: no queuectl database exists at postgresql://")
    connection = connect(bare_pg_url)
    try:
        tables = connection.execute_sql(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchone()[0]
    finally:
        connection.close()
    assert tables == 0
    run("enqueue", '{"command": "true"}')
    assert run("status").stderr == ""


@pytest.mark.parametrize("queue_writes", [False, True])
def test_a_file_deleted_under_an_open_database_is_not_made_again(tmp_path, queue_writes):
    """The dashboard reconnects after an error: a plain path let SQLite create an empty
    file there with the umask's mode (0644), which the next command then used."""
    import peewee

    from queuectl.store.models import database

    path = tmp_path / "q.db"
    db.open_database(str(path), queue_writes=queue_writes)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    database.execute_sql("SELECT COUNT(*) FROM queuectl_job")
    database.close()
    for name in ("q.db", "q.db-wal", "q.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    old = os.umask(0o022)
    try:
        with pytest.raises(peewee.OperationalError, match="unable to open database file"):
            database.execute_sql("SELECT COUNT(*) FROM queuectl_job")
    finally:
        os.umask(old)
        db.close_database()
    assert sorted(os.listdir(tmp_path)) == []
    # A command that writes makes it again, private, as the first time.
    db.open_database(str(path))
    db.close_database()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("placeholder", [False, True], ids=["missing", "empty"])
@pytest.mark.parametrize("left", ["-wal", "-shm"])
def test_a_log_left_without_its_database_is_refused_and_kept(tmp_path, left, placeholder):
    """The file moved away alone while another connection held it: its newest jobs were
    in the -wal left at the path, and the next ``add`` made a new database there that
    took the log as its own and emptied it, so they were in neither file; ``status``
    meanwhile reported an empty queue. An empty file put in its place (``touch``) did
    the same. Now every command refuses, leaving the log."""
    path = str(tmp_path / "q.db")
    run = _invoker()
    run("--db", path, "add", "--id", "first", "--", "true")
    holder = sqlite3.connect(path)  # a worker's connection: the -wal outlives each command
    try:
        holder.execute("SELECT COUNT(*) FROM queuectl_job").fetchone()
        run("--db", path, "add", "--id", "newest", "--", "true")  # stays in the -wal
        os.rename(path, path + ".moved")
        if placeholder:
            with open(path, "wb"):
                os.chmod(path, 0o600)
        if left == "-shm":
            os.rename(path + "-wal", path + ".moved-wal")
        remove = f"{path}-wal and {path}-shm" if left == "-wal" else f"{path}-shm"
        kept = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
        for args in (("add", "--id", "new", "--", "true"), ("status",), ("list", "--json")):
            result = run("--db", path, *args, ok=False)
            assert result.exit_code == 1 and result.stdout == "", result.output
            assert result.stderr == (
                f"Error: the database file {path} is {'empty' if placeholder else 'missing'}"
                f" but its {left[1:]} file {path}{left} is there (moved or deleted without"
                " it?): put the database back, its latest changes are in that file; or, to"
                f" start anew, remove {remove} once no worker uses them\n"
            )
            assert {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)} == kept
        os.replace(path + ".moved", path)  # put back as the line says: nothing was lost
        if left == "-shm":
            os.rename(path + ".moved-wal", path + "-wal")
        listed = run("--db", path, "list", "--json").stdout
        assert sorted(job["id"] for job in json.loads(listed)) == ["first", "newest"]
    finally:
        holder.close()


@pytest.mark.postgres
def test_a_read_of_a_search_path_naming_no_schema_names_the_writers_fix():
    """A read warned that "commands that write create it" while every writing command
    refused, saying to create the schema: the warning now names that same action."""
    from tests.conftest import PG_ENV, postgres_schema_url

    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    url = postgres_schema_url(base, "qt_never_created_either")
    run = _invoker()
    problem = (
        "no schema of the search_path (qt_never_created_either) exists in this database:"
        " create it first (CREATE SCHEMA qt_never_created_either), or name one that exists\n"
    )
    read = run("--db", url, "list", "--json")
    assert (read.stdout, read.stderr) == ("[]\n", "Warning: " + problem)
    write = run("--db", url, "add", "--", "true", ok=False)
    assert (write.exit_code, write.stderr) == (1, "Error: " + problem)


def test_a_failed_look_at_the_schema_is_not_taken_for_no_database(tmp_path, monkeypatch):
    """Any error reading the schema version (a lock, an I/O error) made a reader report
    an empty queue and "no queuectl database exists yet"; only a missing table is that."""
    import peewee

    from queuectl.errors import DatabaseError
    from queuectl.store.models import SchemaInfo

    path = str(tmp_path / "q.db")
    run = _invoker()
    run("--db", path, "add", "--id", "kept", "--", "true")

    def locked(*args, **kwargs):
        raise peewee.OperationalError("database is locked")

    monkeypatch.setattr(SchemaInfo, "get_or_none", locked)
    with pytest.raises(DatabaseError, match="database is locked"):
        db.open_database(path, read_only=True)
    db.close_database()
