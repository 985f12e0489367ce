"""Waking idle PostgreSQL workers with LISTEN/NOTIFY instead of polling.

Enqueue and retry send ``NOTIFY queuectl_jobs`` inside their transaction, so
the notification arrives exactly when the new work becomes visible. Each idle
worker listens on its own autocommit connection: the main connection is busy
with transactions, and a notification must never wait behind one.

The listening connection is weather-proof: when the server restarts or
crashes, ``wait`` closes it, says so once in the log, and reconnects (and
re-LISTENs) with backoff on later calls. Notifications sent while it was
away are lost, so the first wait after a reconnect reports "maybe changed"
and the worker looks at the queue itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import peewee

from queuectl.errors import first_line
from queuectl.store.models import database
from queuectl.store.transactions import NOTIFY_CHANNEL

log = logging.getLogger("queuectl.worker")

SLICE = 0.2
"""Longest single block on the socket, so a stop request is seen within it."""

RECONNECT_MAX = 5.0
"""Longest pause between two attempts to reconnect the listening connection."""

STILL_LOST_AFTER = 10.0
"""Seconds of failed reconnects before their reason is logged (a restart's are shorter)."""


class PostgresWaiter:
    """Sleep until a NOTIFY arrives on ``queuectl_jobs`` or the timeout ends."""

    def __init__(
        self, connect: Callable[[], Any] | None = None, *, tell_losses: bool = True
    ) -> None:
        """Listen at once; a server that is away now is reconnected to later, in ``wait``.

        Args:
            connect: opens an autocommit psycopg connection; tests pass their own.
            tell_losses: log the connection's loss and return (a worker, idle: the loss
                is the first sign of an outage). ``wait`` says its outages itself, and
                its reader got a second line for the same one.
        """
        import psycopg

        self._connect = connect or _connect_like_the_models
        self._connection: Any = None
        self._schema: str | None = None
        """Notifications carry their queue's schema; those of other schemas are ignored."""
        self._retry_at = 0.0
        self._backoff = 0.0
        self._lost_at: float | None = None
        self._tell_losses = tell_losses
        self._told = False
        """Whether the current loss was logged: its return is, then."""
        self._said_why = ""
        """Why reconnecting still fails, as last logged (``_say_why_still_lost``)."""
        try:
            self._listen()
        except psycopg.Error as exc:
            self._drop(exc)

    def _listen(self) -> None:
        connection = self._connect()
        try:
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
            row = connection.execute("SELECT current_schema()").fetchone()
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        self._schema = row[0] if row else None

    def wait(self, timeout: float, interrupted: Callable[[], bool]) -> bool:
        """``True`` as soon as new work was announced, or after a reconnect (any
        notification may have been missed); ``False`` on timeout or stop."""
        import psycopg

        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if interrupted():
                return False
            if self._connection is None:
                if self._reconnect():
                    return True
                time.sleep(min(SLICE, remaining, max(0.0, self._retry_at - time.monotonic())))
                continue
            try:
                # Notifications that piled up meanwhile are left queued: each costs
                # at most one claim that finds nothing. (psycopg reads timeout=0 as
                # "no timeout", so they cannot be drained without blocking.)
                for notice in self._connection.notifies(
                    timeout=min(SLICE, remaining), stop_after=1
                ):
                    if notice.payload in ("", self._schema):  # "": a sender without payloads
                        return True
            except psycopg.Error as exc:
                self._drop(exc)
                return True  # let the worker look: its own connection tells it more
        return False

    def after_outage(self) -> None:
        """Find out now whether the listening connection outlived the outage the worker's
        own just came back from, and reconnect it if not. A busy worker looked only when
        it next went idle: its "lost the LISTEN connection" came 17-29 s after the
        "database back" line, and read as a second outage."""
        import psycopg

        if self._connection is not None:
            try:
                self._connection.execute("SELECT 1")
                return
            except psycopg.Error as exc:
                # Part of the outage the worker has just said was over: a loss and a
                # "back after 0.0s" logged now read as a second outage.
                self._drop(exc, tell=False)
        self._retry_at = 0.0  # the server answers again: try at once
        self._reconnect()

    def _drop(self, exc: BaseException, *, tell: bool = True) -> None:
        """The server went away: close our end and plan the first reconnect."""
        self._told = tell and self._tell_losses
        log.log(
            logging.WARNING if self._told else logging.DEBUG,
            "lost the LISTEN connection to PostgreSQL (%s); reconnecting in the background",
            first_line(exc),
        )
        self._close_quietly()
        self._lost_at = time.monotonic()
        self._backoff = 0.1
        self._retry_at = self._lost_at + self._backoff

    def _reconnect(self) -> bool:
        """One attempt, when due; ``True`` once listening again."""
        import psycopg

        now = time.monotonic()
        if now < self._retry_at:
            return False
        try:
            self._listen()
        except (psycopg.Error, peewee.DatabaseError, OSError) as exc:
            self._backoff = min(RECONNECT_MAX, max(0.1, self._backoff * 2))
            self._retry_at = time.monotonic() + self._backoff
            self._say_why_still_lost(now, first_line(exc))
            return False
        away = now - (self._lost_at or now)
        level = logging.INFO if self._told else logging.DEBUG
        log.log(level, "LISTEN connection to PostgreSQL is back after %.1fs", away)
        self._lost_at = None
        self._told = False
        self._said_why = ""
        return True

    def _say_why_still_lost(self, now: float, reason: str) -> None:
        """Once a reconnect has failed for ``STILL_LOST_AFTER`` seconds, say why (once per
        reason): a server out of connection slots kept it down 47 s with nothing but
        "reconnecting in the background" in the log, the reason never said."""
        lost_for = now - (self._lost_at or now)
        if not self._told or lost_for < STILL_LOST_AFTER or reason == self._said_why:
            return
        self._said_why = reason
        log.warning(
            "the LISTEN connection to PostgreSQL is still down after %.0fs (%s); idle"
            " workers look for work every poll interval meanwhile",
            lost_for,
            reason,
        )

    def _close_quietly(self) -> None:
        import psycopg

        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except psycopg.Error as exc:
                log.debug("closing a broken LISTEN connection: %s", exc)

    def close(self) -> None:
        self._close_quietly()


def _connect_like_the_models() -> Any:
    """An autocommit psycopg connection with the bound database's parameters."""
    import psycopg

    db = database.obj
    assert isinstance(db, peewee.PostgresqlDatabase)
    params = dict(db.connect_params)
    params.setdefault("dbname", db.database)
    return psycopg.connect(autocommit=True, **params)
