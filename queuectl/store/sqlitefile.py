"""An SQLite database file made ready before SQLite opens it read-write.

Three things must be settled first, because opening read-write already writes:
``journal_mode=WAL`` rewrites a file's header (bytes 18-19) and may create its
``-wal``, and closing a WAL connection checkpoints into the file.

- Is it safe? (``filesafety.check``: who else could write it.) Commands that
  write and workers refuse an unsafe file; read-only commands warn and go on,
  through a ``mode=ro`` connection: a read-write one, closing last, checkpoints
  the ``-wal`` into the file, so a log someone else planted became part of the
  user's own database, and stayed there once the folder was mended. An unsafe
  ``-wal``, ``-shm`` or ``-journal`` of another owner than the file is refused by
  readers too (``Verdict.planted``): SQLite reads it on opening, even read-only,
  and run as root hands it to the file's owner.
- Is it there? Writers create it (and its folders) private; read-only commands
  never create anything, not even an empty file's schema.
- Is it queuectl's? The header is read directly and the tables through a
  ``mode=ro`` connection, which cannot write; a file of another program is
  refused byte-for-byte unchanged.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import peewee

from queuectl.errors import DatabaseError
from queuectl.store import filesafety, privatefiles

SQLITE_HEADER = b"SQLite format 3\x00"

INSPECT_TIMEOUT = 15.0
"""Seconds the read-only look waits for a lock (only a WAL reset ever holds one)."""


def file_uri(path: str, mode: str) -> str:
    """``path`` as an SQLite URI with its ``mode``: ``ro``, or ``rw``, which, unlike a
    plain path, never creates the file."""
    return f"file:{quote(path)}?mode={mode}"


READ_WRITE = "rw"
READ_ONLY = "ro"

SHM_LOOK_INTERVAL = 0.25
"""Seconds between two looks at whether the ``-shm`` can be written, while it can."""


WAL_COMPANIONS = ("-wal", "-shm")
"""The files SQLite keeps beside a database in WAL mode, named after it."""


@dataclass(frozen=True)
class Gone:
    """Why a worker's database file is no longer at its path, and what to do about it."""

    reason: str
    remedy: str = (
        "(its job is recorded in the file it opened): start workers on the database where it is now"
    )

    def __str__(self) -> str:
        return self.reason


class ExistingFileSqlite(peewee.SqliteDatabase):
    """An SQLite database that connects only to a file that is there (``mode=rw``).

    ``prepare`` creates the file, private, before the first connection; every
    connection after it (peewee reconnects after a close, the dashboard after an
    error) must not create one. A plain path would: a file deleted under the
    dashboard came back empty, made by SQLite with the umask's mode (0644), and
    the next command wrote its jobs there. Now the connection fails, and says
    the file cannot be opened. ``database`` stays the path.

    ``mode`` is ``READ_ONLY`` for a reader looking at an unsafe file (see ``prepare``).
    """

    def __init__(self, database: str, *args: Any, mode: str = READ_WRITE, **kwargs: Any) -> None:
        self.mode = mode
        self._identity: tuple[int, int] | None = None
        """The file first opened (device, inode): ``gone_from_its_path`` compares."""
        self._shm_looked_at = -SHM_LOOK_INTERVAL
        self._kept_open: list[sqlite3.Connection] = []
        """Connections not closed while the ``-shm`` could not be written (``_close``)."""
        super().__init__(database, *args, **kwargs)

    def shm_unwritable(self, *, look_now: bool = False) -> str | None:
        """Why SQLite's shared memory (``-shm``) cannot be written now, or ``None``.

        SQLite maps the ``-shm`` into memory and writes it on every transaction
        (read marks, the index of the log) and on closing (the checkpoint). When
        the file becomes read-only under an open connection (its filesystem
        remounted read-only, ``chattr +i``), such a write is not an error SQLite
        can return: the kernel kills the process with SIGBUS. A worker died of it
        mid-outage, its job left running under a dead worker. So this is looked
        at first, at most every ``SHM_LOOK_INTERVAL`` while it can be written
        (``look_now`` to look anyway, as before a close).
        """
        if self.mode != READ_WRITE:
            return None  # SQLite maps a read-only connection's -shm read-only
        now = time.monotonic()
        if now - self._shm_looked_at < SHM_LOOK_INTERVAL and not (look_now or self._kept_open):
            return None
        if not _shm_unwritable(self.database):
            self._shm_looked_at = now
            while self._kept_open:  # writable again: their checkpoint can run now
                with contextlib.suppress(sqlite3.Error):
                    self._kept_open.pop().close()
            return None
        return unwritable_said(f"{self.database}-shm")

    def connection(self) -> sqlite3.Connection:
        # Inlined test: this runs for every statement a worker makes.
        if self._kept_open or time.monotonic() - self._shm_looked_at >= SHM_LOOK_INTERVAL:
            self._refuse_unwritable_shm()
        return super().connection()

    def cursor(self, named_cursor: Any = None) -> sqlite3.Cursor:
        if self._kept_open or time.monotonic() - self._shm_looked_at >= SHM_LOOK_INTERVAL:
            self._refuse_unwritable_shm()
        return super().cursor(named_cursor)

    def _refuse_unwritable_shm(self) -> None:
        problem = self.shm_unwritable()
        if problem is not None:
            raise peewee.OperationalError(problem)

    def _close(self, conn: sqlite3.Connection) -> None:
        """Close, unless the ``-shm`` cannot be written: the checkpoint that closing runs
        would write it, and die of SIGBUS (``shm_unwritable``). Kept open until it can."""
        if self.shm_unwritable(look_now=True) is not None:
            self._kept_open.append(conn)
            return
        conn.close()

    def gone_from_its_path(self) -> Gone | None:
        """Why the file first opened is no longer the one at its path, or ``None``.

        A worker keeps its connection to the file it opened: moved or deleted under it
        (with its ``-wal``), the file went on taking its jobs and results, while every
        command opened the path, found nothing or made a new file, and added jobs that
        no worker ran. Nothing was logged. A stat of the path, for a periodic look.
        """
        if self._identity is None:
            return None
        try:
            found = os.stat(self.database)
        except FileNotFoundError:
            if any(os.path.lexists(self.database + suffix) for suffix in WAL_COMPANIONS):
                return Gone(
                    f"the database file {self.database} was moved or deleted without its"
                    " -wal file, which holds its latest changes",
                    "(its job is recorded in that -wal): put the file back beside it, then start"
                    " workers",
                )
            return Gone(f"the database file {self.database} was deleted or moved away")
        except OSError as exc:
            return Gone(f"the database file {self.database} cannot be looked at: {exc.strerror}")
        if (found.st_dev, found.st_ino) != self._identity:
            if found.st_size == 0 and os.path.lexists(self.database + "-wal"):
                return Gone(
                    f"the database file {self.database} was replaced by an empty file, its"
                    " -wal left beside it, which holds its latest changes",
                    "(its job is recorded in that -wal): put the file back in place of the"
                    " empty one, then start workers",
                )
            return Gone(f"the database file {self.database} was replaced by another file")
        return None

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            file_uri(self.database, self.mode),
            uri=True,
            timeout=self._timeout,
            isolation_level=None,
            **self.connect_params,
        )
        try:
            self._add_conn_hooks(connection)
        except Exception:
            connection.close()
            raise
        if self._identity is None:
            with contextlib.suppress(OSError):  # just opened: it is there
                found = os.stat(self.database)
                self._identity = (found.st_dev, found.st_ino)
        return connection


def prepare(path: str, *, read_only: bool, report: Callable[[str], None]) -> str | None:
    """Make the database file at ``path`` (absolute) fit to open, or refuse it.

    Args:
        read_only: the caller only reads: an unsafe file is reported, not refused,
            and nothing is created.
        report: receives one line for each warning (an unsafe file under
            ``read_only``, an empty file made private).

    Returns:
        How to open the file: ``READ_WRITE``, or ``READ_ONLY`` for a reader of an
        unsafe file (nothing it found there is merged into the file); ``None`` only
        under ``read_only``, when there is no database yet (no file, an empty one,
        or an SQLite file without tables).

    Raises:
        DatabaseError: an unsafe file for a writer, a folder or a file that is
            not a queuectl database, a file that cannot be read or created.
    """
    trust = filesafety.Trust.current()
    for _attempt in range(2):  # again if another process creates the file meanwhile
        verdict = filesafety.check(path, trust)
        real = verdict.real_path
        try:
            st: os.stat_result | None = os.stat(real)
        except FileNotFoundError:
            st = None
        except OSError as exc:  # a file where a folder should be, and the like
            raise DatabaseError(f"cannot use the database {path}: {exc.strerror}") from None
        # What the path is comes first: no reader can use /dev/null either, and
        # "no database exists there yet" would be wrong about it.
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise DatabaseError(f"{path} is a folder, not a database file")
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise DatabaseError(f"{path} is not a regular file, so it cannot hold a database")
        if verdict.problem and not read_only:
            raise DatabaseError(f"refusing to use the database: {verdict.problem}")
        if verdict.planted:
            raise DatabaseError(
                f"refusing to read the database: {verdict.planted[0]}"
                " (SQLite would take it in on opening the database)"
            )
        if verdict.problem:
            report(verdict.problem)
        if st is None:
            _refuse_orphaned_log(path, real, "missing")
            if read_only:
                return None
            privatefiles.make_folders(os.path.dirname(real), trust)
            if privatefiles.create_file(real, trust):
                return READ_WRITE
            continue
        if st.st_size == 0 and not _reads_anything(real):
            _refuse_orphaned_log(path, real, "empty")  # a placeholder made where it was
            if read_only:
                return None
            note = privatefiles.adopt_empty_file(real, trust)
            if note:
                report(note)
            return READ_WRITE
        if holds_queuectl_tables(real):
            exposed = filesafety.readable_by_others(real)
            if exposed:
                report(exposed)
            if verdict.problems or (read_only and _shm_unwritable(real)):
                return READ_ONLY  # a read-write connection would write the -shm
            return READ_WRITE
        return None if read_only else READ_WRITE
    raise DatabaseError(f"{path} keeps changing while queuectl opens it")


def _refuse_orphaned_log(path: str, real: str, how: str) -> None:
    """Refuse a path whose database file is gone (or ``how`` = ``empty``: a placeholder
    made in its place) while its ``-wal`` or ``-shm`` is not.

    The database was moved or deleted without its log, most often while a worker
    still had it open: the newest commits (every job added since the last
    checkpoint, the schema itself on a young database) are in that ``-wal``.
    SQLite, given the path, made a new file there and took the log as its own,
    emptying it, so those jobs were in neither file. Readers must not report an
    empty queue either: there is a database, only not where its log is.

    Raises:
        DatabaseError: a companion file is there.
    """
    left = [suffix for suffix in WAL_COMPANIONS if os.path.lexists(real + suffix)]
    if left:
        named = " and ".join(f"{path}{suffix}" for suffix in left)
        raise DatabaseError(
            f"the database file {path} is {how} but its {left[0][1:]} file"
            f" {path}{left[0]} is there (moved or deleted without it?): put the"
            " database back, its latest changes are in that file; or, to start"
            f" anew, remove {named} once no worker uses them"
        )


def _shm_unwritable(path: str) -> bool:
    """Whether the database's ``-shm`` is there and cannot be written (``shm_unwritable``)."""
    return refuses_writes(path + "-shm")


def refuses_writes(path: str) -> bool:
    """Whether ``path`` is there and cannot be written (immutable, a read-only mount)."""
    return not os.access(path, os.W_OK) and os.path.lexists(path)


def unwritable_said(path: str) -> str:
    """What is said of a file that refuses writes, wherever it is found."""
    return f"{path} cannot be written (a read-only filesystem?)"


def first_unwritable(path: str, companions: tuple[str, ...] = WAL_COMPANIONS) -> str | None:
    """The first of the database at ``path`` and its ``companions`` that is there and
    cannot be written, or ``None``: such a database can be read, never written."""
    for end in ("", *companions):
        if refuses_writes(path + end):
            return path + end
    return None


def _reads_anything(path: str) -> bool:
    """Whether a file of size 0 gives bytes when read: ``/proc/version`` does, and taken
    for empty it was made private (mode 444 to 600) before SQLite refused it. Unreadable
    counts as content: the header check then says why."""
    try:
        with open(path, "rb") as handle:
            return handle.read(1) != b""
    except OSError:
        return True


def holds_queuectl_tables(path: str) -> bool:
    """Whether the SQLite file holds queuectl's tables (``False``: no tables at all).

    Read without any chance of writing: the header with ``open``, the table
    names through a ``mode=ro`` URI, so no journal mode is switched and no
    checkpoint runs.

    Raises:
        DatabaseError: not an SQLite file, unreadable, or another program's tables.
    """
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except PermissionError:
        raise DatabaseError(f"cannot read the database {path}: permission denied") from None
    except OSError as exc:  # EIO (a failing disk): it was told as "cannot write the output"
        raise DatabaseError(f"cannot read the database {path}: {exc.strerror or exc}") from None
    if header != SQLITE_HEADER:
        raise DatabaseError(f"{path} is not a queuectl database (not an SQLite file)")
    uri = file_uri(path, "ro")
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=INSPECT_TIMEOUT, isolation_level=None)
        try:
            query = "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')"
            rows = connection.execute(query).fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "file is not a database" in first:
            raise DatabaseError(f"{path} is not a queuectl database (not an SQLite file)") from None
        raise DatabaseError(f"cannot use the database {path}: {first}") from None
    # queuectl makes no views: one under its names stands in for a table. Another
    # user's file, read with a warning, had queuectl_job a view over an endless
    # recursive query, and list, status and show hung, their memory growing.
    views = sorted(name for name, kind in rows if kind == "view" and name.startswith("queuectl_"))
    if views:
        raise DatabaseError(
            f"{path} is not a queuectl database ({views[0]} is a view, not a table)"
        )
    tables = sorted(name for name, kind in rows if kind == "table")
    if tables and not any(name.startswith("queuectl_") for name in tables):
        raise DatabaseError(
            f"{path} is not a queuectl database (it holds other tables: {', '.join(tables[:3])})"
        )
    return bool(tables)


__all__ = ["READ_ONLY", "READ_WRITE", "ExistingFileSqlite", "holds_queuectl_tables", "prepare"]
