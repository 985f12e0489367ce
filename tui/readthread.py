"""One thread for the dashboard's repeated reads, so a server's connection is kept.

The refresh, an open job's detail, a followed log and the metrics screen read the
database again and again, each from a thread worker Textual starts anew. A
connection belongs to the thread that made it, so each read opened one and closed
it: on PostgreSQL a dashboard logged in afresh about once a second (3,000 server
processes forked an hour, each login a password exchange; ``log_connections``
filled with them) and was the first to go dark when the server's connections ran
short. Reads now run here, on one thread that keeps its connection while reads
succeed: on PostgreSQL one session for the dashboard's life, as a worker has.

On SQLite the connection is still closed after each read: a handle kept open
would read a file deleted or moved meanwhile as if nothing had happened, where a
new one notices, and opening a file costs next to nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from queuectl.errors import QueueError, StoreUnavailable
from queuectl.store.models import database
from queuectl.store.transactions import is_postgres

T = TypeVar("T")


class ReadThread:
    """Runs reads one at a time on a thread of its own; its connection outlives them."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-reads")

    def run(self, read: Callable[[], T]) -> T:
        """``read()`` on the read thread: what it returns, or what it raises, here.

        Called from a thread worker, which waits; reads queue behind each other, as
        they queued for the database before.
        """
        return self._pool.submit(_kept_open_if_sound, read).result()

    def close(self) -> None:
        """Close the read thread's connection and end the thread (the app is ending).

        Not waited for: a read held up by a server that does not answer would hold
        the quit up to the connect timeout; the close runs once that read is done.
        """
        self._pool.submit(_close)
        self._pool.shutdown(wait=False)


def _kept_open_if_sound(read: Callable[[], T]) -> T:
    """Keep the connection after a read that went through on a server; close it
    otherwise, so the next read connects anew (after an outage, on SQLite).

    A kept connection may have died since the last read (the server restarted while
    the dashboard sat idle): the read is then tried once more on a new one, or a
    server back for seconds would be shown away for a refresh.
    """
    kept = not database.is_closed()
    try:
        return _read_once(read)
    except StoreUnavailable:
        if not kept:
            raise
        return _read_once(read)


def _read_once(read: Callable[[], T]) -> T:
    sound = False
    try:
        result = read()
        sound = True
        return result
    except QueueError as exc:
        # A refusal of the core's (no such job) came through a sound connection.
        sound = not isinstance(exc, StoreUnavailable)
        raise
    finally:
        if not (sound and is_postgres()):
            _close()


def _close() -> None:
    if not database.is_closed():
        database.close()


def read_thread(app: object) -> ReadThread:
    """The dashboard's read thread, for a screen (every screen is the dashboard's)."""
    reads = getattr(app, "reads", None)
    assert isinstance(reads, ReadThread), f"{app!r} has no read thread"
    return reads


__all__ = ["ReadThread", "read_thread"]
