"""The worker's share of the schedules: fire the due ticks about once a second.

Every live worker carries one ``ScheduleFirer``; which of them fires a tick is
settled in the database (``lifecycle.schedules``), so this only paces the calls
and logs what they did. It also tells an idle worker when to wake: at the next
tick of any schedule, or within ``FIRE_INTERVAL`` to see new schedules.
"""

from __future__ import annotations

import logging

from queuectl.errors import QueueError, StoreUnavailable
from queuectl.lifecycle import schedules
from queuectl.textsafe import one_line
from queuectl.timeutil import iso
from queuectl.wording import counted

FIRE_INTERVAL = 1.0
"""Longest a due tick waits for a live worker to fire it (a tick known in advance is
fired on time: the worker wakes for it)."""

log = logging.getLogger("queuectl.worker")


class ScheduleFirer:
    """Calls ``schedules.fire_due`` when it is due; one call per loop iteration is cheap."""

    def __init__(self, interval: float = FIRE_INTERVAL, *, away_since: float | None = None) -> None:
        self.interval = interval
        self.due_at = 0.0
        self._failing: str | None = None
        self._broken: dict[str, str] = {}
        """Schedules that cannot be fired, each with why, as last logged (once each)."""
        self._looked_at: float | None = None
        """When the last fire went through."""
        self._away_since = away_since
        """Set while the database is away: the last fire that went through before (or,
        for a worker that waited for the database at its start, when it began to wait).
        Ticks due since passed during an outage this worker rode out, not while no
        worker was alive (``schedules.fire_due``'s ``looked_at``); any other gap between
        two looks (a process stopped, a laptop asleep) keeps to the schedule's
        ``--catchup``."""

    def tick(self, now: float) -> bool:
        """Fire what is due (if it is time to look); ``True`` when jobs were enqueued.

        A schedule that cannot be fired is logged and tried again a look later; it
        never ends the worker (a refused fire ended every worker on every host, each
        restart too). A database away still goes up, to the worker's outage handling.
        """
        if now < self.due_at:
            return False
        self.due_at = now + self.interval
        try:
            report = schedules.fire_due(now, looked_at=self._away_since)
        except StoreUnavailable:
            if self._away_since is None:
                self._away_since = self._looked_at
            raise
        except Exception as exc:  # whatever a row holds, the worker goes on
            message = one_line(str(exc) if isinstance(exc, QueueError) else repr(exc))
            if message != self._failing:  # once, not every second
                log.error("schedules: cannot fire the due ticks: %s", message)
            self._failing = message
            return False
        self._failing = None
        self._looked_at = now
        self._away_since = None
        if report.next_at is not None and report.next_at > now:
            # Wake for the next tick. One still due (a spec this version cannot read)
            # is looked at again only after the interval, never in a tight loop.
            self.due_at = min(self.due_at, report.next_at)
        broken = {fire.name: fire.reason for fire in report.fires if fire.broken}
        for name, reason in broken.items():
            if self._broken.get(name) != reason:
                log.error("schedule %s: cannot be fired: %s", name, one_line(reason))
        self._broken = broken  # one still broken is due, so in every report until fixed
        for fire in report.fires:
            if fire.broken:
                continue
            if fire.job_id is not None:
                log.info("schedule %s: fired %s (tick %s)", fire.name, fire.job_id, iso(fire.tick))
            else:
                log.log(
                    logging.INFO if fire.overlapping else logging.WARNING,
                    "schedule %s: skipped %s from %s (%s)",
                    fire.name,
                    ("at least " if fire.at_least else "") + counted(fire.skipped, "tick"),
                    iso(fire.tick),
                    one_line(fire.reason),
                )
        return bool(report.enqueued)

    def database_away(self) -> None:
        """The worker found the database away (by any statement, not only a fire): the
        ticks due from the last fire on passed during an outage it rides out."""
        if self._away_since is None:
            self._away_since = self._looked_at

    def database_back(self, now: float, settle: float) -> None:
        """The database answers again: fire after ``settle`` seconds, not at once. Every
        worker riding the outage out records its jobs' ends in that time (its retries are
        at most that far apart); fired first, a tick under ``--overlap skip`` was skipped
        for a job that had ended during the outage but was not recorded yet, "still
        active" (an operator's try)."""
        self.due_at = max(self.due_at, now + settle)

    def wait_limit(self, now: float) -> float:
        """How long an idle worker may sleep before the next look."""
        return max(0.01, self.due_at - now)
