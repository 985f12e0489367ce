"""Passwords never shown, and never handed to jobs."""

from __future__ import annotations

import pytest

from queuectl.location import SECRET_VARIABLES, describe, without_database_secrets
from queuectl.runtime.executor import job_environment

SHOWN = [
    ("postgresql://app:S3cr3t@db:5432/jobs", "postgresql://app:***@db:5432/jobs"),
    ("postgres://app:S3cr3t@db/jobs?sslmode=require", "postgres://app:***@db/jobs?sslmode=require"),
    ("postgresql://app@db/jobs?password=S3cr3t", "postgresql://app@db/jobs?password=***"),
    (
        "postgresql://app@db/jobs?sslmode=verify-full&PassWord=S3cr3t&sslpassword=S3cr3t",
        "postgresql://app@db/jobs?sslmode=verify-full&PassWord=***&sslpassword=***",
    ),
    ("postgresql://app:S3/cr@3t@db/jobs", "postgresql://app:***@db/jobs"),  # raw / and @
    ("postgresql://app:S3?cr3t@db/jobs", "postgresql://app:***@db/jobs"),  # raw ?
    ("postgresql://app:S3cr3t@[oops/jobs", "postgresql://app:***@[oops/jobs"),  # unparseable
    ("postgresql://app:@db/jobs", "postgresql://app:***@db/jobs"),
    ("postgresql://app@db/jobs", "postgresql://app@db/jobs"),  # nothing to hide
    ("sqlite:///home/me:work@x/q.db", "sqlite:///home/me:work@x/q.db"),  # a path, no userinfo
    ("/home/me/q.db", "/home/me/q.db"),
    # libpq and peewee decode a query's keys: pass%77ord is password.
    ("postgresql://app@db/jobs?pass%77ord=S3cr3t", "postgresql://app@db/jobs?pass%77ord=***"),
    ("postgresql://app@db/jobs?%70assword=S3cr3t#x", "postgresql://app@db/jobs?%70assword=***#x"),
    # A key=value connection string given as --db is refused; its refusal shows this.
    ("host=db password=S3cr3t dbname=jobs", "host=db password=*** dbname=jobs"),
    ("host=db password = 'S3 cr3t' dbname=jobs", "host=db password = *** dbname=jobs"),
]


@pytest.mark.parametrize(("location", "shown"), SHOWN)
def test_describe_hides_every_password(location, shown):
    assert describe(location) == shown
    assert "S3" not in describe(location) or location == shown


def test_jobs_get_neither_the_database_location_nor_libpq_credentials():
    worker = {
        b"PATH": b"/usr/bin",
        b"HOME": b"/root",
        b"QUEUECTL_DB": b"postgresql://app:S3cr3t@db/jobs",
        b"PGPASSWORD": b"S3cr3t",
        b"PGPASSFILE": b"/root/.pgpass",
        b"PGSERVICE": b"queue",
        b"PGSERVICEFILE": b"/root/.pg_service.conf",
        b"PGHOST": b"db",  # not a secret: kept
    }
    env = job_environment("job-1", 2, worker)
    assert env == {
        b"PATH": b"/usr/bin",
        b"HOME": b"/root",
        b"PGHOST": b"db",
        b"QUEUECTL_JOB_ID": b"job-1",
        b"QUEUECTL_ATTEMPT": b"2",
    }
    assert b"QUEUECTL_DB" in worker, "the worker's own environment is left alone"
    assert set(SECRET_VARIABLES) >= {"QUEUECTL_DB", "PGPASSWORD", "PGPASSFILE", "PGSERVICE"}


def test_without_database_secrets_copies():
    environ = {b"PGPASSWORD": b"x", b"A": b"1"}
    assert without_database_secrets(environ) == {b"A": b"1"}
    assert environ == {b"PGPASSWORD": b"x", b"A": b"1"}


def test_a_key_value_connection_string_is_refused_not_taken_for_a_file(tmp_path, monkeypatch):
    """It named a file: a writing command created ``host=db password=…`` in the current
    folder, and every message echoed the password."""
    from queuectl.errors import DatabaseError
    from queuectl.location import sqlite_path

    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatabaseError) as refused:
        sqlite_path("host=db password=S3cr3t dbname=jobs")
    assert "S3cr3t" not in str(refused.value)
    assert "looks like a PostgreSQL key=value connection string" in str(refused.value)
    assert sqlite_path("my=file.db") == str(tmp_path / "my=file.db")  # a path with "=" is one
    assert list(tmp_path.iterdir()) == []


def test_a_percent_encoded_password_reaches_the_server_decoded(pg_url):
    """A password holding "@", ":" or "/" can only be written encoded in a URL; peewee
    passed it on encoded, so it failed to log in where psql and psycopg succeed."""
    from queuectl.store import db
    from queuectl.store.models import database

    scheme, rest = pg_url.split("://", 1)
    userinfo, _, where = rest.rpartition("@")
    user = userinfo.split(":", 1)[0] or "postgres"
    db.open_database(f"{scheme}://{user}:S3%40cr%3At%2F@{where}")  # trust auth: accepted
    try:
        assert database.obj.connect_params["password"] == "S3@cr:t/"
    finally:
        db.close_database()


@pytest.mark.parametrize(
    ("location", "names"),
    [
        ("/srv/q/queuectl.db", ("/srv/q/queuectl.db",)),
        (
            "postgresql://u:hunter2@db:5432/jobs?options=-csearch_path%3Dreports",
            (
                "jobs@db:5432, schema reports",
                "jobs@db, schema reports",
                "jobs, schema reports",
                "schema reports",
            ),
        ),
        ("postgresql://u:hunter2@db/jobs?password=hunter2", ("jobs@db", "jobs")),
        ("postgresql:///jobs?host=/run/postgresql", ("jobs",)),
    ],
)
def test_the_short_names_of_a_location_hold_no_password(location, names):
    """Shown where room is short (the dashboard's header, a tab's title): a server by its
    database, host and schema, never by the query string a cut from the left kept."""
    from queuectl.location import short_names

    assert short_names(location) == names
