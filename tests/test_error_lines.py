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
