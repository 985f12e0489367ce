"""Waking idle PostgreSQL workers with LISTEN/NOTIFY instead of polling.

Enqueue and retry send ``NOTIFY queuectl_jobs`` inside their transaction, so
the notification arrives exactly when the new work becomes visible. Each idle
worker listens on its own autocommit connection: the main connection is busy
with transactions, and a notification must never wait behind one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import peewee

from queuectl.db import NOTIFY_CHANNEL
from queuectl.models import database

SLICE = 0.2
"""Longest single block on the socket, so a stop request is seen within it."""


class PostgresWaiter:
    """Sleep until a NOTIFY arrives on ``queuectl_jobs`` or the timeout ends."""

    def __init__(self) -> None:
        import psycopg

        db = database.obj
        assert isinstance(db, peewee.PostgresqlDatabase)
        params = dict(db.connect_params)
        params.setdefault("dbname", db.database)
        self._connection = psycopg.connect(autocommit=True, **params)
        self._connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        row = self._connection.execute("SELECT current_schema()").fetchone()
        self._schema = row[0] if row else None
        """Notifications carry their queue's schema; those of other schemas are ignored."""

    def wait(self, timeout: float, interrupted: Callable[[], bool]) -> bool:
        """``True`` as soon as new work was announced; ``False`` on timeout or stop."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if interrupted():
                return False
            # Notifications that piled up meanwhile are left queued: each costs
            # at most one claim that finds nothing. (psycopg reads timeout=0 as
            # "no timeout", so they cannot be drained without blocking.)
            for notice in self._connection.notifies(timeout=min(SLICE, remaining), stop_after=1):
                if notice.payload in ("", self._schema):  # "": a sender older than payloads
                    return True
        return False

    def close(self) -> None:
        self._connection.close()
