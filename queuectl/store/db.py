"""Connecting to the database: the file or server, its pragmas, and the models bound to it.

Every process (CLI call, worker, dashboard) opens the database once through
``open_database``; it binds the models, applies the pragmas and checks the
schema version (``schema``), so a file from a newer queuectl is refused
rather than damaged. Transactions are ``transactions``'s; the workers' queue
for the write lock is ``writelock``'s.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import peewee

from queuectl.errors import DatabaseError, DatabaseUnreachable, first_line
from queuectl.location import describe, invalid_url, parse_url, sqlite_path
from queuectl.store import sql, sqlitefile
from queuectl.store.boundary import translated
from queuectl.store.models import database
from queuectl.store.schema import ensure_schema, missing_schema, schema_version
from queuectl.store.writelock import LOCK_WAIT_SLICE, SlicedWaitConnection, WriterQueuedSqlite

log = logging.getLogger("queuectl.db")

BUSY_TIMEOUT_MS = 15_000
"""How long a writer waits for SQLite's lock before giving up; generous so a
busy dashboard or a burst of enqueues never surfaces "database is locked"."""

CONNECT_TIMEOUT_S = 10
"""Seconds to wait for a PostgreSQL server to answer a new connection."""

DEAD_PEER_PARAMS = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
    "tcp_user_timeout": 20_000,
}
"""libpq's TCP settings for a server that goes silent mid-connection: probes after 10 s
of silence, given up after three unanswered ones; data sent and not acknowledged for
20 s fails the connection. A URL's own values win."""


def open_database(
    location: str,
    *,
    durable: bool = True,
    queue_writes: bool = False,
    claims_jobs: bool = False,
    read_only: bool = False,
    create: bool = True,
    report: Callable[[str], None] | None = None,
    application: str = "queuectl",
    defer_unreachable: bool = False,
) -> peewee.Database:
    """Open (creating if needed) the database at ``location`` and bind the models to it.

    An SQLite file is checked first (``sqlitefile.prepare``): nobody but the
    user (or root) can write it or lead to it, and it is queuectl's, looked at
    read-only, so a refused file is left byte-for-byte as it was.

    Args:
        location: a file path or a URL (``sqlite:///…``, ``postgresql://…``).
        durable: ``True`` commits with ``synchronous=FULL`` so an acknowledged job
            survives a power cut; workers pass ``False`` (``NORMAL``) because a
            lost finish only makes a job rerun.
        queue_writes: on SQLite, line write transactions up in the kernel
            (``WriterQueuedSqlite``); workers pass ``True``.
        claims_jobs: the process is a worker: on PostgreSQL its sessions plan the
            claim without sorting (``sql.PG_WORKER_SESSION``); workers pass ``True``.
        read_only: the caller never writes. Nothing is created: where there is
            no database yet, an empty one in memory stands in (so the command
            shows an empty queue) and ``report`` says so. An unsafe file is
            reported rather than refused.
        create: ``False`` refuses an SQLite file that is not there instead of making
            an empty one: ``queuectl web``'s sessions, whose server opened (or made)
            the database at start, so one that is gone since was deleted or moved,
            and a new tab must not start an empty queue in its place.
        report: gets each warning as one line; by default they are logged.
        application: what PostgreSQL's ``pg_stat_activity`` names the sessions
            (``application_name``; a URL's own wins): which of many sessions is a
            worker, a ``wait`` or a dashboard could only be found with ``ss -tnp``.
        defer_unreachable: a server that cannot be reached now (``DatabaseUnreachable``)
            is bound anyway, unconnected, and its schema checked at the first statement
            that reaches it (``check_deferred_schema``): the dashboard, which then opens
            under its outage banner instead of refusing to open during an incident.

    Raises:
        DatabaseError: the file is unsafe (for a writer), the folder cannot be
            created, the file is not a queuectl database, the server is
            unreachable, or the schema is newer than us.
    """
    report = report or log.warning
    # Close what this process has open first. The check below reads the file with
    # plain ``open``, and closing any handle on a file drops every POSIX lock the
    # process holds on it, the shared lock a live WAL connection keeps included: the
    # next process to close would then think itself the last and delete the log
    # under us (``queuectl tui`` opened the file twice, losing its writes).
    close_database()
    path = sqlite_path(location)
    if path is not None and not create and not read_only and not os.path.lexists(path):
        raise DatabaseError(
            f"the database {describe(location)} is gone (deleted or moved since it was"
            " opened); a new one is not made in its place: put it back, or restart"
        )
    _Deferred.schema = False
    if path is None:
        db = _open_url(location, durable=durable, claims_jobs=claims_jobs, application=application)
        try:
            _connect(db, location)
        except DatabaseUnreachable:
            if not defer_unreachable or read_only:
                raise
            database.initialize(db)
            _Deferred.schema = True
            return db
    elif mode := sqlitefile.prepare(path, read_only=read_only, report=report):
        db = _open_sqlite(
            path, durable=durable, queue_writes=queue_writes, read_only=read_only, mode=mode
        )
    else:
        db = None
    if db is not None:
        database.initialize(db)
    try:
        if db is None or (read_only and schema_version() is None):
            problem = missing_schema() if path is None else None
            if db is not None:
                db.close()  # no queuectl tables there: a reader creates none
            db = _empty_stand_in(location, report, problem)
            database.initialize(db)
        ensure_schema()
    except peewee.DatabaseError as exc:
        db.close()
        raise DatabaseError(_explain(location, exc)) from None
    return db


def is_stand_in() -> bool:
    """The models are bound to the empty stand-in: a read-only open found no database."""
    bound = database.obj
    return isinstance(bound, peewee.SqliteDatabase) and bound.database == STAND_IN


STAND_IN = ":memory:"


def _empty_stand_in(
    location: str, report: Callable[[str], None], problem: str | None = None
) -> peewee.Database:
    """An empty database in memory, for a read-only command where none exists yet.

    The command then runs as on an empty queue (zero counts, ``[]``, "no such
    job") with no code of its own for the case, and nothing is created on disk.
    ``problem`` is why a writer would refuse to create it (a PostgreSQL
    ``search_path`` naming no schema): then the warning says that, not that
    writing creates it.
    """
    if problem is not None:
        report(problem)
    else:
        where = describe(location)
        report(f"no queuectl database exists at {where} yet; commands that write create it")
    return peewee.SqliteDatabase(STAND_IN, pragmas={"foreign_keys": 1})


def _open_sqlite(
    path: str, *, durable: bool, queue_writes: bool, read_only: bool, mode: str
) -> peewee.SqliteDatabase:
    """A connection to a file ``sqlitefile.prepare`` has checked (and created if needed).

    A reader leaves the journal mode alone: every queuectl database is in WAL
    mode already (it is persistent), and switching rewrites the file's header,
    which a reader must not do to a file it then finds is not queuectl's.
    """
    pragmas: dict[str, Any] = {} if read_only else {"journal_mode": "wal"}
    # A worker's connection waits in slices (``writelock.SlicedWaitConnection``), so that its
    # loop hears a stop and sees its jobs end while another process holds the lock.
    busy_ms = int(LOCK_WAIT_SLICE * 1000) if queue_writes else BUSY_TIMEOUT_MS
    options: dict[str, Any] = {
        "pragmas": {
            **pragmas,
            "synchronous": 2 if durable else 1,
            "foreign_keys": 1,
            "busy_timeout": busy_ms,
            "cache_size": -16_000,
            "temp_store": "memory",
        },
        "timeout": busy_ms / 1000,
        "check_same_thread": False,
        "mode": mode,
    }
    if queue_writes:
        options["factory"] = SlicedWaitConnection
        return WriterQueuedSqlite(path, lock_wait=BUSY_TIMEOUT_MS / 1000, **options)
    return sqlitefile.ExistingFileSqlite(path, **options)


SUPPORTED_SCHEMES = ("postgresql", "postgres")
"""URL schemes besides a file path or ``sqlite:///``; peewee knows more (mysql, …), whose
drivers and SQL queuectl neither installs nor supports."""


def _open_url(
    location: str, *, durable: bool, claims_jobs: bool, application: str = "queuectl"
) -> peewee.Database:
    from playhouse.db_url import connect

    scheme = parse_url(location).scheme
    if scheme.lower() not in SUPPORTED_SCHEMES:
        raise DatabaseError(
            f"unsupported database URL scheme {scheme!r}: use a file path, sqlite:///PATH"
            " or postgresql://USER@HOST/DB"
        )
    try:
        # Percent-decoded as libpq and psycopg do: a password with "@" or ":" in it
        # can only be written encoded (S3cr%40t), and failed to log in as typed.
        db = connect(location, unquote_password=True, unquote_user=True)
    except RuntimeError as exc:  # unknown scheme
        raise DatabaseError(f"unsupported database URL scheme {scheme!r}: {exc}") from None
    except ValueError as exc:  # a port that is not a number, and the like
        raise invalid_url(location, exc) from None
    if isinstance(db, peewee.PostgresqlDatabase):
        logging.getLogger("psycopg").addFilter(_not_a_pipeline_cut_by_an_outage)
        # A server that accepts the connection but never answers (stopped, or a
        # network that drops packets) would hang a command for ever: give up
        # with one line instead, unless the URL chose its own timeout.
        db.connect_params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        db.connect_params.setdefault("application_name", application)
        # A server that stops answering on a connection already open (a network that
        # drops packets, a host gone) held a statement for the kernel's 15 minutes of
        # retransmissions, or for ever while the worker only waited: these make the
        # connection fail within about 20 s, an outage the loop rides out.
        for name, value in DEAD_PEER_PARAMS.items():
            db.connect_params.setdefault(name, value)
        options = [db.connect_params.get("options", "")]
        if not durable:
            # PostgreSQL's twin of SQLite's synchronous=NORMAL: a crash may lose
            # the last few worker commits (the job reruns), never corrupt.
            options.append("-csynchronous_commit=off")
        if claims_jobs:
            options.append(sql.PG_WORKER_SESSION)
        if any(options):
            # Only when there are any: an explicit empty ``options`` hides PGOPTIONS.
            db.connect_params["options"] = " ".join(filter(None, options))
    return db


def _connect(db: peewee.Database, location: str) -> None:
    """Connect to a server's database, saying whether waiting could mend a failure."""
    if not isinstance(db, peewee.PostgresqlDatabase):
        return
    try:
        db.connect()
    except peewee.ImproperlyConfigured:
        from queuectl.extras import install_hint

        raise DatabaseError(
            f"PostgreSQL needs a driver (psycopg): {install_hint('postgres')}"
        ) from None
    except peewee.DatabaseError as exc:
        if not _may_pass(exc):
            raise DatabaseError(_explain(location, exc)) from None
        raise DatabaseUnreachable(_explain(location, exc), cause=first_line(exc)) from None


class _Deferred:
    schema = False
    """The database was bound while its server could not be reached: its schema is
    checked (and made, on a new one) by ``check_deferred_schema``."""


def schema_deferred() -> bool:
    """Whether the open database's schema is still to be checked (``defer_unreachable``)."""
    return _Deferred.schema


@translated
def check_deferred_schema() -> None:
    """Check (or make) the schema of a database opened while its server was away; a
    ``StoreUnavailable`` while it still is. Once done, not again."""
    if _Deferred.schema:
        try:
            ensure_schema()
        except peewee.ProgrammingError as exc:  # a privilege, a search_path: not an outage
            raise DatabaseError(first_line(exc)) from None
        _Deferred.schema = False


_PASSING = (
    "connection refused",
    "timeout expired",
    "could not translate host name",
    "temporary failure in name resolution",
    "network is unreachable",
    "no route to host",
    "connection reset",
    "server closed the connection unexpectedly",
    "no such file or directory",  # the server's Unix socket, until it starts
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "too many clients",
    "remaining connection slots are reserved",
    "terminating connection due to administrator command",
)
"""What a failed connection says when the server may be back in a moment: not there yet
(refused, timed out, its name or socket not there yet), starting, stopping or full.
libpq gives no SQLSTATE for a failed connection, so its message is all there is; anything
else (a password, a user or database that does not exist, pg_hba.conf, an option
misspelt, TLS the server does not offer) needs a fix, and waiting would hide it."""


def _may_pass(exc: BaseException) -> bool:
    """Whether a failed connection is an outage a command that can wait may wait out."""
    if isinstance(exc, (peewee.ProgrammingError, peewee.InterfaceError)):
        return False  # the URL's options, not the server's state
    said = str(exc).lower()
    return any(words in said for words in _PASSING)


def _not_a_pipeline_cut_by_an_outage(record: logging.LogRecord) -> bool:
    """Drop psycopg's "error ignored terminating <psycopg.Pipeline [BAD] at 0x…>: the
    connection is lost": the error that follows says the database went away (a
    worker's line, or a command's one ``Error:`` line, which that warning preceded
    on stderr through Python's last-resort handler), and an address tells no one
    anything."""
    return not record.getMessage().startswith("error ignored terminating <psycopg.Pipeline")


def _explain(location: str, exc: Exception) -> str:
    """One line a user can act on, from a driver error."""
    first = first_line(exc)
    if sqlite_path(location) is not None and "file is not a database" in first:
        return f"{describe(location)} is not a queuectl database (not an SQLite file)"
    return f"cannot use the database {describe(location)}: {first}"


def gone_from_its_path() -> sqlitefile.Gone | None:
    """For a worker's periodic look: why the SQLite file it opened is no longer the one at
    its path (``ExistingFileSqlite.gone_from_its_path``); ``None`` for PostgreSQL."""
    obj = database.obj
    if isinstance(obj, sqlitefile.ExistingFileSqlite):
        return obj.gone_from_its_path()
    return None


def open_sqlite_file() -> str | None:
    """The file of the SQLite database open now; ``None`` for PostgreSQL or none open."""
    obj = database.obj
    if isinstance(obj, peewee.SqliteDatabase) and obj.database not in (None, "", ":memory:"):
        return str(obj.database)
    return None


def open_server_database() -> tuple[str, int] | None:
    """The PostgreSQL database open now, as its name and port; ``None`` for SQLite, none
    open, or a name left to the server's default (the user's name, ``PGDATABASE``)."""
    obj = database.obj
    if not isinstance(obj, peewee.PostgresqlDatabase) or not obj.database:
        return None
    return str(obj.database), int(obj.connect_params.get("port") or DEFAULT_PG_PORT)


DEFAULT_PG_PORT = 5432


def on_lock_wait(callback: Callable[[], None] | None) -> None:
    """Have a worker's loop called between its tries for SQLite's write lock
    (``WriterQueuedSqlite.on_wait``); nothing on PostgreSQL or a plain connection."""
    obj = database.obj
    if isinstance(obj, WriterQueuedSqlite):
        obj.on_wait = callback


def close_database() -> None:
    if database.obj is not None and not database.is_closed():
        database.close()
