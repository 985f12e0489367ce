"""Whether any running worker serves the queues a command waits on, said as a hint.

``logs --follow`` and ``wait`` on a job no worker will claim waited for ever, silent or
saying only "waiting for a worker"; ``status`` already named the unserved queues.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable


def unserved_hint(queues: Iterable[str]) -> str:
    """``no worker serves queue 'default': start one with queuectl worker start --queue
    default``, or ``""`` when running workers serve them all (or the workers cannot be
    read: a hint is not worth an error)."""
    from queuectl.errors import StoreUnavailable
    from queuectl.lifecycle.workers import queues_served, workers_as_seen
    from queuectl.textsafe import one_line, shell_word

    wanted = sorted(set(queues))
    if not wanted:
        return ""
    try:
        served = queues_served(workers_as_seen())
    except StoreUnavailable:
        return ""
    wanted_unserved = [name for name in wanted if name not in served]
    unserved = [one_line(name) for name in wanted_unserved]
    if not unserved:
        return ""
    named = " or ".join(repr(name) for name in unserved)
    noun = "queue" if len(unserved) == 1 else "queues"
    return (
        f"no worker serves {noun} {named}: start one with"
        f" queuectl worker start --queue {shell_word(','.join(wanted_unserved))}"
    )


STRANDED_LOOK_SECONDS = 5.0
"""How often ``wait`` and ``logs --follow`` look whether a running job's worker is gone."""


def stranded_hint(job_ids: Iterable[str]) -> str:
    """``job orphan was running on worker w1, which is lost, and no worker is running to
    recover it: start one with queuectl worker start``, or ``""``.

    Every worker killed (a reboot, ``kill -9``), the job reads ``processing`` for good:
    ``wait`` sat silent until its timeout and ``logs --follow`` showed output stop, while
    only ``status`` counted the lost workers. A live worker recovers it (its lease), so
    while one runs nothing is said.
    """
    from queuectl.lifecycle import reads
    from queuectl.lifecycle.workers import live_of, workers_as_seen
    from queuectl.states import JobState
    from queuectl.textsafe import one_line
    from queuectl.wording import listed

    wanted = list(dict.fromkeys(job_ids))[:500]
    if not wanted:
        return ""
    # A StoreUnavailable goes to the caller's outage handling: swallowed here, a restart
    # this look happened to meet went unsaid (and a test that waits for the line, flaky).
    if live_of(workers_as_seen()):
        return ""
    jobs = [job for job in reads.jobs_by_id(wanted) if job.state == JobState.PROCESSING]
    if not jobs:
        return ""
    ids = listed([one_line(job.id) for job in jobs[:10]], len(jobs))
    owners = sorted({one_line(job.worker_id) for job in jobs if job.worker_id})
    if len(jobs) == 1 and len(owners) == 1:
        ran = f"job {ids} was running on worker {owners[0]}, which is lost,"
    else:
        ran = f"jobs {ids} were running on workers that are lost,"
    them = "it" if len(jobs) == 1 else "them"
    return f"{ran} and no worker is running to recover {them}: start one with queuectl worker start"


class StrandedWatch:
    """Says, through ``say``, when running jobs waited on are stranded (``stranded_hint``):
    at the first look, then every ``STRANDED_LOOK_SECONDS``, each line once. ``wait`` and
    ``logs --follow`` keep one; a database away during a look raises ``StoreUnavailable``
    to their outage handling."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say
        self._looked_at = -math.inf
        self._said = ""

    def look(self, running: Iterable[str]) -> None:
        now = time.monotonic()
        if now - self._looked_at < STRANDED_LOOK_SECONDS:
            return
        self._looked_at = now
        hint = stranded_hint(running)
        if hint and hint != self._said:
            self._say(f"waiting: {hint}")
        self._said = hint
