"""One-line errors lead with what went wrong: the banner and toasts are cut at 80 columns."""

from __future__ import annotations

import socket

import pytest

from queuectl.errors import first_line

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")


def _closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_refused_postgresql_connection_says_refused_before_where():
    port = _closed_port()
    with pytest.raises(psycopg.OperationalError) as failure:
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/test", connect_timeout=3)
    assert first_line(failure.value) == f"Connection refused (server 127.0.0.1:{port})"


@pytest.mark.parametrize(
    ("libpq", "shown"),
    [
        (
            'connection failed: connection to server at "db.example", port 5432 failed: '
            'FATAL:  password authentication failed for user "app"',
            'password authentication failed for user "app" (server db.example:5432)',
        ),
        (
            'connection failed: connection to server at "db" (10.0.0.7), port 6432 failed: '
            "FATAL:  sorry, too many clients already",
            "sorry, too many clients already (server db:6432)",
        ),
        (
            'connection is bad: connection to server on socket "/run/pg/.s.PGSQL.5432" failed: '
            "No such file or directory",
            "No such file or directory (server /run/pg/.s.PGSQL.5432)",
        ),
        # Anything else is left as it was.
        ("database is locked", "database is locked"),
        ("failed to resolve host 'x': [Errno -2]", "failed to resolve host 'x': [Errno -2]"),
    ],
)
def test_libpq_connection_failures_lead_with_their_cause(libpq, shown):
    assert first_line(RuntimeError(libpq + "\n\tIs the server running?")) == shown


@pytest.mark.parametrize(
    ("libpq", "waits"),
    [
        ('connection to server at "db" (10.0.0.5), port 5432 failed: Connection refused', True),
        ('connection to server at "db", port 5432 failed: timeout expired', True),
        ('could not translate host name "db" to address: Name or service not known', True),
        ("FATAL:  the database system is starting up", True),
        ("FATAL:  sorry, too many clients already", True),
        ('FATAL:  password authentication failed for user "app"', False),
        ("fe_sendauth: no password supplied", False),
        ('FATAL:  database "jobs" does not exist', False),
        ('FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "app"', False),
        ('FATAL:  role "app" is not permitted to log in', False),
        ("server does not support SSL, but SSL was required", False),
        ('invalid connection option "sslmdoe"', False),
        (
            'connection to server on socket "/run/postgresql/.s.PGSQL.5432" failed: No such'
            " file or directory",
            True,
        ),
    ],
)
def test_a_connection_a_moment_may_mend_is_waited_for_and_a_wrong_login_is_not(libpq, waits):
    """``worker run``, ``wait`` and ``logs --follow`` wait for a server that is away; a
    wrong password, database name, option or TLS setting is said at once: waiting would
    not mend it (a misspelt ``sslmode`` was waited on for ever, a reviewer found)."""
    import peewee

    from queuectl.store.db import _may_pass

    assert _may_pass(peewee.OperationalError(f"connection failed: {libpq}")) is waits
    assert not _may_pass(peewee.ProgrammingError("connection failed: Connection refused"))
