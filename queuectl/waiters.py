"""How an idle worker sleeps until the database may hold new work.

The worker loop only calls ``Waiter.wait``; SQLite gets a nearly free
``PRAGMA data_version`` watch, anything else plain polling. A PostgreSQL
LISTEN/NOTIFY waiter plugs in through ``make_waiter``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import peewee

from queuectl.models import database

IDLE_CHECK = 0.025
"""How often an idle SQLite worker looks at ``PRAGMA data_version`` (nearly free)."""


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


class SqliteWaiter:
    """Wake as soon as another connection commits, by watching ``PRAGMA data_version``.

    The pragma changes whenever another connection committed to the file; reading
    it touches no table and takes no lock, so polling it every 25 ms costs
    nothing while giving sub-50 ms enqueue-to-start latency.
    """

    def __init__(
        self, sleep: Callable[[float], None] = time.sleep, check_every: float = IDLE_CHECK
    ) -> None:
        self._sleep = sleep
        self._every = check_every
        self._version = self._read()

    def _read(self) -> int:
        return int(database.execute_sql("PRAGMA data_version").fetchone()[0])

    def wait(self, timeout: float, interrupted: Callable[[], bool]) -> bool:
        remaining = timeout
        while remaining > 0:
            if interrupted():
                return False
            step = min(self._every, remaining)
            self._sleep(step)
            remaining -= step
            version = self._read()
            if version != self._version:
                self._version = version
                return True
        return False


def make_waiter(sleep: Callable[[float], None] = time.sleep) -> Waiter:
    """The best waiter for the bound database: ``data_version`` on SQLite, LISTEN on PostgreSQL."""
    if isinstance(database.obj, peewee.SqliteDatabase):
        return SqliteWaiter(sleep)
    if isinstance(database.obj, peewee.PostgresqlDatabase):
        from queuectl.pgnotify import PostgresWaiter

        return PostgresWaiter()
    return PollingWaiter(sleep)
