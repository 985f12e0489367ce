"""How a long-lived process lives through a database outage: weather, not a crash.

A restart or crash of the PostgreSQL server (or an SQLite lock held for too
long) makes every statement fail for a while. A worker, ``logs --follow`` or
the dashboard must neither die nor fill its log with one line per retry: the
first failure is logged once, retries back off, and the return is logged with
how long the database was away.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from queuectl.errors import explain as explain_failure

FIRST_DELAY = 0.1
"""Seconds before the first retry: a blip (a lock held for a moment) costs little."""

SETTLED_SECONDS = 5.0
"""How long a new cause must last, failure after failure, before it is said: a restart
passes through "terminating connection", "Connection refused" and "starting up" for a
second or two each, which are not worth a line (counted in tries, three of them took
0.7 s at the first backoffs, and a 2 s restart logged one); a cause that stays (a
password rotated meanwhile) is."""

MAX_DOUBLINGS = 16
"""The backoff doubles at most this often (0.1 s × 2**16 is 1.8 hours, past any cap):
left to grow, ``2 ** failures`` overflows a float at the 1,025th failure, about 85
minutes into an outage at a 5 s cap, and the worker died of it."""


class Outage:
    """Counts consecutive failures and says when they start and end.

    Args:
        say: where the two lines go (a logger's ``warning``, or stderr).
        what: what is being retried, for those lines ("worker w1", "logs --follow").
        max_delay: the longest pause between retries, read at each failure; a
            worker passes a fraction of its lease so that when the database
            returns it heartbeats before its siblings judge it lost.
        explain: the one line that says what failed (by default the store's
            explanation, which names who holds a lock).
        clock: monotonic seconds; tests pass their own.
    """

    def __init__(
        self,
        say: Callable[[str], None],
        what: str,
        *,
        max_delay: Callable[[], float] = lambda: 5.0,
        explain: Callable[[BaseException], str] = explain_failure,
        clock: Callable[[], float] = time.monotonic,
        on_away: Callable[[], None] = lambda: None,
        on_back: Callable[[], None] = lambda: None,
    ) -> None:
        self._say = say
        self._on_away = on_away
        """Called once when an outage starts (its first failure), after its line is said."""
        self._on_back = on_back
        """Called once an outage is over (``over``), after its line is said."""
        self._explain = explain
        self.what = what
        self._max_delay = max_delay
        self._clock = clock
        self.failures = 0
        self.since: float | None = None
        """When the current outage started (``clock`` time), or ``None`` when there is none."""
        self._said = ""
        """The cause said last in this outage (told apart by the error's own line)."""
        self._said_refused = False
        """That cause was a refused statement, not the database away."""
        self._cause: tuple[str, float] = ("", 0.0)
        """The latest failure's cause, and when the failures in a row that gave it began."""

    def failed(self, exc: BaseException) -> float:
        """Record a failure; returns how long to wait before the next try.

        The first failure is said; later ones only when their cause changed and stayed
        (``SETTLED_SECONDS``): a worker's log named the outage's first cause for good, so a
        password rotated during a restart read as the restart for as long as it lasted,
        where the dashboard said "password authentication failed" (an operator's try).
        """
        self.failures += 1
        # Told apart by the error's own line; explained (which may read /proc for a
        # lock's holder) only when said.
        key = str(exc)
        now = self._clock()
        last, began = self._cause
        self._cause = (key, began if key == last else now)
        if self.since is None:
            # From when the statement began waiting (SQLite's busy timeout), not its failure.
            self.since = self._clock() - getattr(exc, "waited", 0.0)
            self._said, self._said_refused = key, _refused(exc)
            self._say(f"{self.what}: {_opening(exc, self._explain(exc))}")
            self._on_away()
        elif now - self._cause[1] >= SETTLED_SECONDS and key != self._said:
            self._said, self._said_refused = key, _refused(exc)
            kind = "the database refuses a statement" if _refused(exc) else "database unavailable"
            self._say(f"{self.what}: {kind}, now: {self._explain(exc)}")
        return min(self._max_delay(), FIRST_DELAY * 2 ** min(self.failures - 1, MAX_DOUBLINGS))

    def over(self) -> None:
        """A statement succeeded: log the end of the outage, if there was one."""
        was_away = self.since is not None
        if self.since is not None:
            back = "statements go through again" if self._said_refused else "database back"
            self._say(
                f"{self.what}: {back} after {self._clock() - self.since:.1f}s"
                f" ({self.failures} failed tries)"
            )
        self.failures = 0
        self.since = None
        self._said = ""
        self._cause = ("", 0.0)
        if was_away:
            self._on_back()


def _refused(exc: BaseException) -> bool:
    """The database answered and refused the statement's data (``StoreUnavailable.refused``)."""
    return bool(getattr(exc, "refused", False))


def _opening(exc: BaseException, cause: str) -> str:
    """An outage's first line, after the name of what rides it out."""
    if _refused(exc):
        return (
            f"the database refuses a statement ({cause}): a stored row holds a value"
            " queuectl cannot work with, not an outage; retrying until it is mended"
        )
    return f"database unavailable ({cause}); retrying until it is back"
