"""Where the database is: ``--db`` > ``$QUEUECTL_DB`` > the XDG data folder.

Free of any database import, so the CLI can tell where it will connect, and
whether it needs a PostgreSQL driver at all, before it loads peewee.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote, urlparse

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
    """``urlparse``, with a malformed URL (``postgresql://[oops``) as a user-facing error.

    The error never quotes the parser: its words held what it took for a port or a
    host, which in a password with a raw ``/`` or ``#`` is the password's start
    (``Port could not be cast to integer value as 'hunter2'``).
    """
    _refuse_a_password_cut_short(location)
    try:
        parsed = urlparse(location)
        parsed.port  # noqa: B018 - parsed lazily: a port that is no number raises here
    except ValueError as exc:
        raise invalid_url(location, exc) from None
    return parsed


def invalid_url(location: str, exc: ValueError) -> DatabaseError:
    """What is wrong with a URL, in words of our own (see ``parse_url``)."""
    hosts = location.partition("://")[2].partition("/")[0].rpartition("@")[2]
    if "Port" in str(exc) and "," in hosts:
        # libpq's failover list (h1:5432,h2:5433) was refused as "its port is not a
        # number": the hosts are read as one, so their ports go after the ?.
        why = (
            "several hosts each with its port cannot be read here: write the hosts"
            " alone and the ports after ?, as postgresql://USER@h1,h2/DB?port=5432,5433"
        )
    elif "Port" in str(exc):
        why = f"its port is not a number from 0 to 65535 ({ENCODE_HINT})"
    elif "IPv6" in str(exc):
        why = "a [ in its host is not closed"
    else:
        why = f"it cannot be read ({ENCODE_HINT})"
    return DatabaseError(f"invalid database URL {describe(location)}: {why}")


ENCODE_HINT = "a password holding / ? # or @ must be percent-encoded: %2F %3F %23 %40"


def _refuse_a_password_cut_short(location: str) -> None:
    """A server URL whose host part has no ``@`` while its path holds one: a password
    with a raw ``/`` in it, where URL parsers end the host (a raw ``?`` or ``#`` leaves
    a port that is no number, refused by ``parse_url`` without quoting it).
    ``postgresql://app:12/34@db/jobs`` read as host ``app``, port 12, database
    ``34@db/jobs``, and the password's start went into messages as a port or a host."""
    scheme, _, rest = location.partition("://")
    if scheme.lower() == "sqlite":
        return
    host_part = re.split(r"[/?#]", rest, maxsplit=1)[0]
    path = re.split(r"[?#]", rest[len(host_part) :], maxsplit=1)[0]  # a query may hold @
    if "@" not in host_part and "@" in path:
        raise DatabaseError(
            f"invalid database URL: an @ comes after its host's end ({ENCODE_HINT};"
            " a database name holding @ is written %40)"
        )


def sqlite_path(location: str) -> str | None:
    """The file behind a SQLite location (plain path or ``sqlite:///``), else ``None``.

    ``sqlite:///srv/q.db`` is ``/srv/q.db``: the path after the third slash is
    absolute, as in a ``file://`` URL. A relative path is given as a plain path.

    Raises:
        DatabaseError: ``location`` is a URL that cannot be parsed, or an
            ``sqlite://`` URL that names a host (``sqlite://relative.db``, one
            slash short) instead of a file.
    """
    if not is_url(location):
        if _SCHEME_WITHOUT_SLASHES.match(location):
            # Never echoed: the rest is a URL's, password and all, which as a file name
            # went into ``status``, the log folder's name and every worker's command line.
            raise DatabaseError(
                "the database location starts like a URL but lacks its //: write"
                " postgresql://USER:PASSWORD@HOST/DB or sqlite:///ABSOLUTE/PATH"
            )
        if _CONNINFO.match(location):
            raise DatabaseError(
                f"{describe(location)} looks like a PostgreSQL key=value connection string,"
                " not a file: give a URL, postgresql://USER@HOST/DB (options after ?)"
            )
        return _absolute(location)
    parsed = parse_url(location)
    if parsed.scheme != "sqlite":
        return None
    if parsed.netloc or not parsed.path:
        raise DatabaseError(
            f"{location} names no file: write sqlite:///ABSOLUTE/PATH (three slashes),"
            " or give a plain path (relative paths work there)"
        )
    return _absolute(parsed.path)


def _absolute(path: str) -> str:
    """``path`` made absolute, with one leading slash: POSIX keeps a leading ``//`` apart
    (``abspath`` leaves it), and SQLite's URI reads ``file://tmp/q.db`` as a host named
    ``tmp``. So ``sqlite:////tmp/q.db`` (SQLAlchemy's four slashes) failed every write,
    and left an empty file behind."""
    absolute = os.path.abspath(os.path.expanduser(path))
    return "/" + absolute.lstrip("/") if absolute.startswith("//") else absolute


_CONNINFO = re.compile(
    r"\s*(host|hostaddr|port|dbname|user|password|passfile|service|sslmode|options)\s*=",
    re.IGNORECASE,
)
"""libpq's ``key=value`` connection string (``host=db password=…``): taken for a file
name, it was echoed whole, password and all, and a writing command created that file."""

_SCHEME_WITHOUT_SLASHES = re.compile(r"(?i)(postgres|postgresql|sqlite):")
"""``postgresql:/app:secret@db/jobs``, one slash short of a URL: it named a file."""

_QUERY_PARAMETER = re.compile(r"([?&])([^=&#]*)=([^&#]*)")
_CONNINFO_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)")


def _hide_query_password(match: re.Match[str]) -> str:
    """``?password=…`` and its kin (``sslpassword``), however the key is spelled:
    libpq (and peewee) decode the key first, so ``pass%77ord`` is ``password`` too."""
    separator, key, value = match.groups()
    if unquote(key).strip().lower().endswith("password"):
        value = "***"
    return f"{separator}{key}={value}"


def describe(location: str) -> str:
    """The location with every password in it replaced by ``***``, for anything shown.

    Both places a URL can carry one: the userinfo (``user:secret@host``) and the
    query (``?password=secret``). Parsed by hand rather than with ``urlparse``,
    which splits at a raw ``/``, ``?`` or ``@`` inside a password and fails
    outright on some malformed URLs that would then be shown whole. The
    userinfo ends at the last ``@``: in the rare URL with an ``@`` after the
    host, more than the password is hidden, never less.
    """
    if not is_url(location):
        # A path never holds a password; a key=value connection string given as one
        # (refused by ``sqlite_path``) must not show it in that refusal.
        return _CONNINFO_PASSWORD.sub(r"\1***", location)
    scheme, _, rest = location.partition("://")
    at = rest.rfind("@")
    if at >= 0 and not rest.startswith("/"):  # sqlite:///path has no userinfo
        user, colon, _password = rest[:at].partition(":")
        if colon:
            rest = f"{user}:***{rest[at:]}"
    return scheme + "://" + _QUERY_PARAMETER.sub(_hide_query_password, rest)


_SEARCH_PATH = re.compile(r"-c\s*search_path\s*=\s*([^\s,]+)")


def short_names(location: str) -> tuple[str, ...]:
    """What to call a database where room is short, the one that says most first.

    A file is its path (cut from the left where drawn: its name matters most). A
    server is ``DBNAME@HOST:PORT``, then without the port, then the name alone, each
    with the schema a ``search_path`` in the URL's options picks, then that schema
    alone: cut from the left
    as a path is, ``…=-csearch_path%3Dtry_control`` named neither host nor database,
    and at 160 columns lost the schema's end, the one part telling two queues on one
    database apart. Never a password: none of these parts holds one.
    """
    if not is_url(location) or location.startswith("sqlite:"):
        return (describe(location),)
    try:
        parts = parse_url(location)
        port = parts.port
    except DatabaseError:
        return (describe(location),)
    database = unquote(parts.path.lstrip("/")) or parts.scheme
    host = parts.hostname
    forms = [database]
    if host:
        forms = [f"{database}@{host}", database]
        if port:
            forms.insert(0, f"{database}@{host}:{port}")
    schema = next(
        (
            found.group(1)
            for key, value in parse_qsl(parts.query)
            if key == "options" and (found := _SEARCH_PATH.search(value))
        ),
        None,
    )
    if schema:  # and last the schema alone: on one server, what tells queues apart
        forms = [*(f"{form}, schema {schema}" for form in forms), f"schema {schema}"]
    return tuple(forms)


SECRET_VARIABLES = (ENV_VAR, "PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE")
"""The worker's database location, and libpq's variables that hold or point to a
password: jobs never get them (``without_database_secrets``)."""

_SECRET_KEYS = tuple(os.fsencode(name) for name in SECRET_VARIABLES)


def without_database_secrets(environ: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    """A copy of ``environ`` without the database's location and credentials.

    A job's environment is often printed into its output (``env``, a CI
    script's debug dump), which every reader of the queue can see; and a job
    has no business using the worker's database login. A job that needs a
    database of its own is given it in its own ``env`` or a file.
    """
    env = dict(environ)
    for key in _SECRET_KEYS:
        env.pop(key, None)
    return env


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
