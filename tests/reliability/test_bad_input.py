"""Unusable databases, met by every CLI entry point: one line, exit 1, nothing changed.

``tests/test_cli.py`` covers malformed values per command (its ``BAD_COMMANDS``
table) and each database problem once; here every entry point, the worker
commands included, meets each problem, so no path opens the database its own
way and crashes, creates tables, or registers a worker in a file it must refuse.
"""

from __future__ import annotations

import os
import sqlite3

import pytest

from tests.conftest import dump
from tests.test_cli import _invoker, enqueue

ENTRY_POINTS = [
    ("list",),
    ("show", "job-1"),
    ("logs", "job-1"),
    ("status",),
    ("enqueue", '{"command": "true"}'),
    ("retry", "job-1"),
    ("cancel", "job-1"),
    ("delete", "job-1"),
    ("purge",),
    ("dlq", "list"),
    ("dlq", "retry", "--all", "--yes"),
    ("dlq", "purge", "--yes"),
    ("config", "list"),
    ("config", "set", "max_retries", "5"),
    ("config", "reset"),
    ("worker", "list"),
    ("worker", "stop"),
    ("worker", "run"),
    ("worker", "start"),
]


def _newer_schema(path: str) -> str:
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE queuectl_meta SET value = '99'")
    return "newer queuectl (schema 99"


def _not_a_database(path: str) -> str:
    os.remove(path)
    with open(path, "w") as handle:
        handle.write("hello, I am not a database\n" * 100)
    return "is not a queuectl database"


def _unreadable(path: str) -> str:
    if os.geteuid() == 0:
        pytest.skip("root reads a mode-0000 file anyway (permissions are bypassed)")
    os.chmod(path, 0)
    return "permission denied"


PROBLEMS = {
    "newer-schema": _newer_schema,
    "not-a-database": _not_a_database,
    "unreadable-0000": _unreadable,
}


def _snapshot(path: str) -> object:
    """``dump`` when SQLite can read the file, else its raw bytes (and mode)."""
    try:
        return dump(path)
    except sqlite3.DatabaseError:
        with open(path, "rb") as handle:
            return handle.read()


@pytest.mark.parametrize("args", ENTRY_POINTS, ids=" ".join)
def test_every_entry_point_refuses_a_location_that_is_no_file(tmp_path, args):
    """``/dev/null`` (or a FIFO) can never hold a database: readers say so too, rather
    than "no database exists there yet", and nothing is created."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for location in ("/dev/null", str(fifo)):
        result = _invoker()("--db", location, *args, ok=False)
        assert result.exit_code == 1, result.output
        assert (
            result.stderr
            == f"Error: {location} is not a regular file, so it cannot hold a database\n"
        )
    assert set(os.listdir(tmp_path)) <= {"fifo", "xdg"}  # nothing made beside the FIFO


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("args", ENTRY_POINTS, ids=" ".join)
def test_every_entry_point_refuses_an_unusable_database(db_path, tmp_path, args, problem):
    run = _invoker()
    enqueue(run, id="job-1")
    message = PROBLEMS[problem](db_path)
    mode = os.stat(db_path).st_mode
    before = _snapshot(db_path) if problem != "unreadable-0000" else None
    result = run(*args, ok=False)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert result.stdout == ""
    assert os.stat(db_path).st_mode == mode
    if before is not None:
        assert _snapshot(db_path) == before
    assert not os.path.exists(os.path.join(os.path.dirname(db_path), "logs")), "a worker started"


@pytest.mark.parametrize("group", [(), ("worker",), ("dlq",)], ids=lambda g: " ".join(g) or "-")
def test_a_group_without_its_command_shows_usage_not_a_flattened_error(db_path, group):
    result = _invoker()(*group, ok=False)
    assert result.exit_code == 2
    assert "Commands:" in result.stderr and result.stderr.count("\n") > 3
    assert not result.stderr.startswith("Error: Usage:")


_CUT_SHORT = "invalid database URL postgresql://app:***@db/jobs"
BAD_LOCATIONS = [
    ("postgresql://[oops/x", "invalid database URL postgresql://[oops/x: a [ in its host"),
    (
        "postgresql://host:notaport/x",
        "invalid database URL postgresql://host:notaport/x: its port is not a number",
    ),
    # A password's raw / # or ? cut the host short: the parser's words quoted its start.
    ("postgresql://app:hunter2/x@db/jobs", "invalid database URL: an @ comes after its host"),
    ("postgresql://app:12/34@db/jobs", "invalid database URL: an @ comes after its host"),
    ("postgresql://app:Tr0ub4dor#horse@db/jobs", f"{_CUT_SHORT}: its port is not a number"),
    ("postgresql://app:pass?word@db/jobs", f"{_CUT_SHORT}: its port is not a number"),
    # libpq's failover list: the hosts are read as one, so their ports go after the ?.
    (
        "postgresql://app:hunter2@db1:5432,db2:5433/jobs",
        "invalid database URL postgresql://app:***@db1:5432,db2:5433/jobs: several hosts"
        " each with its port cannot be read here: write the hosts alone and the ports after ?",
    ),
    # One slash short of a URL: it named a file, password and all (an outside try).
    ("postgresql:/app:hunter2@db/jobs", "the database location starts like a URL but lacks"),
    ("postgres:app:hunter2@db/jobs", "the database location starts like a URL but lacks"),
    ("sqlite:q.db", "the database location starts like a URL but lacks its //"),
    ("sqlite://[oops/x.db", "invalid database URL"),
    ("sqlite://relative.db", "sqlite://relative.db names no file: write sqlite:///ABSOLUTE/PATH"),
    ("mongodb://localhost/x", "unsupported database URL scheme 'mongodb'"),
]


@pytest.mark.parametrize(("location", "message"), BAD_LOCATIONS)
@pytest.mark.parametrize("args", [("status",), ("enqueue", '{"command": "x"}'), ("worker", "run")])
def test_a_malformed_database_url_is_one_line(
    db_path, tmp_path, monkeypatch, args, location, message
):
    monkeypatch.chdir(tmp_path)
    run = _invoker()
    before = set(os.listdir())
    result = run("--db", location, *args, ok=False)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"Error: {message}") and result.stderr.count("\n") == 1
    for secret in ("hunter2", "Tr0ub4dor", "pass?word", "12/34"):
        assert secret not in result.stderr
    assert set(os.listdir()) == before  # no file named after the URL


@pytest.mark.parametrize("form", ["sqlite:///{}", "//{}"], ids=["four slashes", "plain //"])
def test_a_path_with_two_leading_slashes_is_the_same_file(tmp_path, form):
    """SQLAlchemy writes an absolute SQLite path with four slashes; the path after the
    third began ``//``, which SQLite's URI reads as a host: "invalid uri authority: tmp"
    on every write, after an empty file was made."""
    path = tmp_path / "q.db"
    run = _invoker()
    job_id = run("--db", form.format(path), "add", "--", "true").stdout.strip()
    assert run("--db", str(path), "show", job_id, "--json").exit_code == 0
    assert os.path.getsize(path) > 0


def test_a_failover_list_with_its_ports_after_the_query_reaches_the_live_host(pg_url):
    """What the refusal above advises works: the first host refuses, libpq tries the next."""
    import socket
    from urllib.parse import urlsplit

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    parts = urlsplit(pg_url)
    host, port = parts.hostname, parts.port or 5432
    failover = (
        f"{parts.scheme}://{parts.netloc.rpartition('@')[0]}@127.0.0.1,{host}{parts.path}"
        f"?port={closed},{port}&{parts.query}"
    )
    run = _invoker()
    job_id = run("--db", failover, "add", "--", "true").stdout.strip()
    assert run("--db", pg_url, "show", job_id, "--json").exit_code == 0
