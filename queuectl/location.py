"""Where the database is: ``--db`` > ``$QUEUECTL_DB`` > the XDG data folder.

Free of any database import, so the CLI can tell where it will connect, and
whether it needs a PostgreSQL driver at all, before it loads peewee.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlparse

from queuectl.errors import DatabaseError

ENV_VAR = "QUEUECTL_DB"


def default_location() -> str:
    """``$XDG_DATA_HOME/queuectl/queuectl.db``, defaulting to ``~/.local/share``."""
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(data_home, "queuectl", "queuectl.db")


def resolve_location(option: str | None = None) -> str:
    """The database to use: ``--db`` beats ``$QUEUECTL_DB`` beats the XDG default."""
    return option or os.environ.get(ENV_VAR) or default_location()


def is_url(location: str) -> bool:
    return "://" in location


def parse_url(location: str):
    """``urlparse``, with a malformed URL (``postgresql://[oops``) as a user-facing error."""
    try:
        return urlparse(location)
    except ValueError as exc:
        raise DatabaseError(f"invalid database URL: {exc}") from None


def sqlite_path(location: str) -> str | None:
    """The file behind a SQLite location (plain path or ``sqlite:///``), else ``None``.

    Raises:
        DatabaseError: ``location`` is a URL that cannot be parsed.
    """
    if not is_url(location):
        return os.path.abspath(os.path.expanduser(location))
    parsed = parse_url(location)
    if parsed.scheme == "sqlite":
        return os.path.abspath(os.path.expanduser(parsed.path))
    return None


def describe(location: str) -> str:
    """The location without a password, for messages and the dashboard title."""
    if not is_url(location):
        return location
    try:
        parsed = urlparse(location)
    except ValueError:
        return location  # unparseable, so it holds no password we could find
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return parsed._replace(netloc=netloc).geturl()
    return location


def skip_postgres_drivers(location: str) -> None:
    """In a process that only ever opens an SQLite file, never load a PostgreSQL driver.

    peewee imports psycopg at its own import when it is installed: 130 ms,
    a third of a ``queuectl enqueue`` call here (``python -X importtime``).
    Marking the drivers absent in ``sys.modules`` makes that import fail at
    once. Only done before peewee is loaded, and only for SQLite locations:
    the CLI opens one database per process, so nothing later needs them.
    """
    if "peewee" in sys.modules or sqlite_path(location) is None:
        return
    for driver in ("psycopg", "psycopg2"):
        sys.modules.setdefault(driver, None)  # type: ignore[arg-type]
