"""How an idle worker sleeps until the database may hold new work.

The worker loop only calls ``Waiter.wait``; SQLite gets a nearly free
``PRAGMA data_version`` watch, woken by inotify on the write-ahead log where
there is one, anything else plain polling. A PostgreSQL LISTEN/NOTIFY waiter
plugs in through ``make_waiter``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Protocol

import peewee

from queuectl.runtime.filewatch import FileWatch
from queuectl.store.boundary import translated
from queuectl.store.models import database

log = logging.getLogger("queuectl.worker")

IDLE_CHECK = 0.025
"""How often an idle SQLite worker without a file watch looks at ``PRAGMA data_version``."""

WATCHED_SLICE = 0.2
"""Longest block on the file watch: a stop signal is seen within it (as on
PostgreSQL's LISTEN; ``worker stop`` also writes the row, which wakes it at
once), and so is a commit the watch missed (there should be none)."""

COMMIT_SETTLE = 0.001
"""The shortest spacing between two looks at ``data_version`` (see ``_wait_watched``)."""


class Waiter(Protocol):
    """How an idle worker sleeps until the database may hold new work.

    A PostgreSQL implementation can LISTEN for a NOTIFY sent at enqueue; the
    loop only needs ``wait``.
    """

    def wait(self, timeout: float, interrupted: Callable[[], bool]) -> bool:
        """Sleep up to ``timeout`` s; ``True`` when the database may have changed.

        Returns early (``False``) once ``interrupted()`` is true, so a stop
        request is seen within a slice.
        """
        ...

    def close(self) -> None:
        """Let go of what the waiter holds (a file watch, a listening connection)."""
        ...

    def after_outage(self) -> None:
        """The worker's database connection is back after an outage: mend what the outage
        may have broken of the waiter's own (a listening connection) now, not when the
        worker next goes idle."""
        ...


class PollingWaiter:
    """Sleep the whole timeout, in slices, then say "maybe changed": plain polling."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep, slice_: float = 0.05) -> None:
        self._sleep = sleep
        self._slice = slice_

    def wait(self, timeout: float, interrupted: Callable[[], bool]) -> bool:
        remaining = timeout
        while remaining > 0:
            if interrupted():
                return False
            step = min(self._slice, remaining)
            self._sleep(step)
            remaining -= step
        return True

    def close(self) -> None:
        pass

    def after_outage(self) -> None:
        pass


class SqliteWaiter:
    """Wake as soon as another connection commits, by watching ``PRAGMA data_version``.

    The pragma changes whenever another connection committed to the file; reading
    it touches no table and takes no lock. With a ``watch`` on the write-ahead
    log, the pragma is read when the log is written (any commit, ours too), so
    an enqueue wakes the worker within a fraction of a millisecond; without one,
    it is read every ``check_every`` seconds (half that, on average, of delay).
    """

    def __init__(
        self,
        sleep: Callable[[float], None] = time.sleep,
        check_every: float = IDLE_CHECK,
        watch: FileWatch | None = None,
    ) -> None:
        self._sleep = sleep
        self._every = check_every
        self._watch = watch
        self._version = self._read()
        self._looked_at = 0.0
        self._spacing = COMMIT_SETTLE

    @translated
    def _read(self) -> int:
        return int(database.execute_sql("PRAGMA data_version").fetchone()[0])

    def _changed(self) -> bool:
        version = self._read()
        if version == self._version:
            return False
        self._version = version
        return True

    def wait(self, timeout: float, interrupted: Callable[[], bool]) -> bool:
        if self._watch is not None and self._watch.watching:
            return self._wait_watched(self._watch, timeout, interrupted)
        remaining = timeout
        while remaining > 0:
            if interrupted():
                return False
            step = min(self._every, remaining)
            self._sleep(step)
            remaining -= step
            if self._changed():
                return True
        return False

    def _wait_watched(
        self, watch: FileWatch, timeout: float, interrupted: Callable[[], bool]
    ) -> bool:
        """Block on the log's watch, looking at ``data_version`` after each wake.

        Two rules keep this both quick and cheap. A commit writes its pages to
        the log first and makes them visible after (in shared memory, which
        raises no event), so a wake can come just before the version moves:
        after a look that found nothing, look again soon even without another
        event. And every commit wakes every idle worker, whichever queue it was
        for, so looks are spaced out: an event sooner than the spacing after
        the last look waits for it and doubles it, up to the 25 ms poll this
        replaces; a wait that passes with no event sets it back to a
        millisecond. The first commit after a quiet spell is seen at once; a
        stream of them costs no more than polling did.
        """
        deadline = time.monotonic() + timeout
        pause = WATCHED_SLICE
        while (remaining := deadline - time.monotonic()) > 0:
            if interrupted():
                return False
            if not watch.watching:  # the log went away meanwhile: poll until it is back
                self._sleep(min(self._every, remaining))
                woke = False
            else:
                woke = watch.wait(min(pause, remaining))
            if woke:
                early = self._looked_at + self._spacing - time.monotonic()
                if early > 0:  # events outpace the looks: space them further apart
                    self._sleep(min(early, max(0.0, deadline - time.monotonic())))
                    self._spacing = min(self._every, self._spacing * 2)
            elif watch.watching:
                self._spacing = COMMIT_SETTLE
            self._looked_at = time.monotonic()
            if self._changed():
                return True
            pause = self._spacing if woke else min(WATCHED_SLICE, pause * 2)
        return False

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def after_outage(self) -> None:
        pass  # a file watch outlives the database's outages


def make_waiter(sleep: Callable[[float], None] = time.sleep, *, tell_losses: bool = True) -> Waiter:
    """The best waiter for the bound database: ``data_version`` on SQLite, LISTEN on PostgreSQL
    (``tell_losses``: whether that connection's loss is logged; see ``PostgresWaiter``)."""
    if isinstance(database.obj, peewee.SqliteDatabase):
        # A watch blocks in real time: a test stepping a fake clock gets polling.
        watch = _wal_watch() if sleep is time.sleep else None
        return SqliteWaiter(sleep, watch=watch)
    if isinstance(database.obj, peewee.PostgresqlDatabase):
        from queuectl.runtime.pgnotify import PostgresWaiter

        return PostgresWaiter(tell_losses=tell_losses)
    return PollingWaiter(sleep)


def _wal_watch() -> FileWatch | None:
    """A watch on the bound database's write-ahead log (which our open connection keeps)."""
    path = os.path.realpath(database.obj.database) + "-wal"
    try:
        return FileWatch.open(path)
    except OSError as exc:  # say why this worker polls
        log.warning("cannot watch %s (%s); idle, this worker polls every 25 ms", path, exc.strerror)
        return None
