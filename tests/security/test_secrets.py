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
