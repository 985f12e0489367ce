"""Steering queues: pause, resume and a limit of jobs running at once; and each queue's figures.

A queue is a name on a job until someone steers it: then it has a row in
``queuectl_queue`` (``QueueSetting``), deleted again once it is neither paused
nor limited, so the claim's look at that table stays a look at an empty one
when nothing is steered. The rules themselves live in the claim
(``sql.claimable``): these functions only write the row, in one durable
transaction each, and wake idle PostgreSQL workers when a queue may start jobs
again (on SQLite every commit wakes them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import peewee

from queuectl.jobspec import queue_name
from queuectl.lifecycle import reads
from queuectl.lifecycle.workers import serving_of, workers_as_seen
from queuectl.states import HOLDABLE_STATES, JobState
from queuectl.store.boundary import translated
from queuectl.store.models import Job, QueueSetting, Run, RunOutcome
from queuectl.store.transactions import advisory_lock, notify_new_work, write_transaction

RECENT_SECONDS = 300.0
"""``finished_5m``: runs that ended in the last five minutes."""

SPARK_BUCKETS = 30
SPARK_BUCKET_SECONDS = 10.0
"""The per-queue throughput sparkline: runs ended per 10 s, aligned to the clock, 5 minutes."""


@dataclass(frozen=True)
class Steering:
    """What is set on a queue: whether it is paused, and its limit (``None``: no limit)."""

    name: str
    paused: bool = False
    limit: int | None = None
    changed: bool = field(default=True, compare=False)
    """Whether the call that returned it changed anything: resuming a queue that was not
    paused (a mistyped name, say) answered as if it had been."""


@dataclass
class QueueFigures:
    """One queue as ``queue list`` and the dashboard show it."""

    name: str
    paused: bool = False
    limit: int | None = None
    counts: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in JobState})
    """Jobs per state, held ones included (a held job is in its state: pending, say)."""
    held_counts: dict[str, int] = field(default_factory=dict)
    """Of ``counts``, the held jobs per state (``HOLDABLE_STATES`` only)."""
    workers: int = 0
    """Workers taking jobs from the queue (a worker may serve several): live ones not
    asked to stop (``serving_of``), whose count read 1 while the header warned that
    no worker served the queue."""
    finished_5m: int = 0
    throughput: list[float] = field(default_factory=list)
    """Runs ended per 10 s bucket, oldest first (only when asked for)."""

    @property
    def running(self) -> int:
        return self.counts[JobState.PROCESSING.value]

    @property
    def held(self) -> int:
        """Jobs kept from running until released, whatever their state."""
        return sum(self.held_counts.values())

    def unheld(self, state: str) -> int:
        """Jobs in ``state`` that are not held: the tables' state columns, beside Held."""
        return self.counts[state] - self.held_counts.get(state, 0)

    @property
    def waiting(self) -> int:
        """Jobs a worker would take (when due): held ones wait for a release instead, and
        a queue holding only those was shown in red as needing a worker."""
        return self.unheld(JobState.PENDING.value) + self.unheld(JobState.FAILED.value)

    def record(self) -> dict[str, object]:
        """The ``--json`` shape: ``{"name", "paused", "limit", "counts", "held", …}``
        (``held``: how many of the jobs ``counts`` gives are held)."""
        return {
            "name": self.name,
            "paused": self.paused,
            "limit": self.limit,
            "counts": dict(self.counts),
            "held": self.held,
            "running": self.running,
            "workers": self.workers,
            "finished_5m": self.finished_5m,
        }


def _names(names: Iterable[str]) -> list[str]:
    """Validated (``jobspec.queue_name``), duplicates dropped, in the order given."""
    return list(dict.fromkeys(queue_name(name) for name in names))


@translated
def pause(names: Sequence[str], *, now: float | None = None) -> list[Steering]:
    """Pause queues: from the commit on, no job of theirs starts; running ones go on.

    A queue that has no jobs yet may be paused (it exists once named). Every
    name is checked before anything is written: a bad one changes nothing.
    """
    return _steer(_names(names), now, paused=True)


@translated
def resume(names: Sequence[str], *, now: float | None = None) -> list[Steering]:
    """Let paused queues start jobs again (a queue that was not paused is left as it was)."""
    return _steer(_names(names), now, paused=False)


@translated
def set_limit(name: str, limit: int | None, *, now: float | None = None) -> Steering:
    """At most ``limit`` jobs of the queue running at once, across workers and hosts
    (``None``: no limit). Jobs already running go on; only new starts wait."""
    if limit is not None and limit < 1:
        raise ValueError("a queue limit is at least 1")
    [steering] = _steer(_names([name]), now, limit=limit, set_limit=True)
    return steering


def _steer(
    names: list[str],
    now: float | None,
    *,
    paused: bool | None = None,
    limit: int | None = None,
    set_limit: bool = False,
) -> list[Steering]:
    now = time.time() if now is None else now
    result: list[Steering] = []
    with write_transaction():
        # PostgreSQL: one steering at a time. A pause and a limit of a new queue both
        # read no row and both inserted (one failed on the key, its change lost); of
        # an existing one, each wrote back the other's field as it had read it.
        advisory_lock("steering")
        stored = {row.name: row for row in QueueSetting.select().where(QueueSetting.name << names)}
        for name in names:
            row = stored.get(name)
            before = (bool(row.paused), row.max_running) if row else (False, None)
            after = (
                before[0] if paused is None else paused,
                limit if set_limit else before[1],
            )
            new = Steering(name, paused=after[0], limit=after[1], changed=after != before)
            if not new.paused and new.limit is None:
                QueueSetting.delete().where(QueueSetting.name == name).execute()
            elif row is None:
                QueueSetting.create(
                    name=name, paused=new.paused, max_running=new.limit, updated_at=now
                )
            else:
                QueueSetting.update(paused=new.paused, max_running=new.limit, updated_at=now).where(
                    QueueSetting.name == name
                ).execute()
            result.append(new)
        if any(not s.paused for s in result):
            notify_new_work()  # a resume or a higher limit: idle workers look again
    return result


@translated
def steered() -> list[Steering]:
    """Every paused or limited queue, by name: cheap (one tiny table), for ``status``
    and the dashboard's header."""
    query = QueueSetting.select().order_by(QueueSetting.name)
    return [Steering(row.name, bool(row.paused), row.max_running) for row in query]


def never_used(names: Sequence[str]) -> list[str]:
    """Of ``names``, those no job has been in and no setting names (``default`` aside):
    a worker started on one serves nothing, likely a typo (``slwo``), which the CLI and
    the dashboard say when starting workers. None on a database with no job yet:
    workers started first, before any job (a boot script, README's own sessions), are
    not typos."""
    used = reads.queue_names()
    if not used:
        return []
    known = {"default", *used, *(entry.name for entry in steered())}
    return [name for name in names if name not in known]


def paused_names() -> set[str]:
    """The paused queues' names (``steered``): what ``wait`` and ``logs --follow`` say a
    job waits for instead of a worker."""
    return {entry.name for entry in steered() if entry.paused}


@translated
def running_jobs(names: Sequence[str]) -> list[tuple[str, str, str]]:
    """(queue, job id, command) of every running job of these queues: what ``pause --wait``
    waits for."""
    query = (
        Job.select(Job.queue, Job.id, Job.command)
        .where(Job.state == JobState.PROCESSING.value, Job.queue << list(names))
        .order_by(Job.queue, Job.started_at, Job.id)
    )
    return list(query.tuples())


@translated
def figures(
    *, now: float | None = None, names: Sequence[str] | None = None, sparkline: bool = False
) -> list[QueueFigures]:
    """Every queue that has jobs, live workers or settings, with its figures, by name.

    Counts per state group every job by queue and state: one pass over the jobs
    table (no index holds the queue), so the dashboard reads this only while its
    Queues pane is shown. Call inside ``transactions.read_transaction`` for figures
    that agree with each other.

    Args:
        names: only these queues (each is listed, even with nothing to show).
        sparkline: also the per-queue runs ended per 10 s over the last 5 minutes.
    """
    now = time.time() if now is None else now
    queues: dict[str, QueueFigures] = {}

    def get(name: str) -> QueueFigures:
        entry = queues.get(name)
        if entry is None:
            entry = queues[name] = QueueFigures(name)
        return entry

    for name in names or ():
        get(name)
    for steering in steered():
        entry = get(steering.name)
        entry.paused, entry.limit = steering.paused, steering.limit
    held = Job.held_at.is_null(False)
    per_state = Job.select(Job.queue, Job.state, held, peewee.fn.COUNT(peewee.SQL("*"))).group_by(
        Job.queue, Job.state, held
    )
    for queue, state, is_held, count in per_state.tuples():
        entry = get(queue)
        if state not in entry.counts:
            continue  # a state written past queuectl (``bogus``): a KeyError, a traceback
        entry.counts[state] += count
        if is_held and state in HOLDABLE_STATES:  # an end clears held_at; old rows kept it
            entry.held_counts[state] = entry.held_counts.get(state, 0) + count
    for worker in serving_of(workers_as_seen(now=now)):  # as the header's "no worker" warns
        for name in str(worker.queues).split(","):
            get(name).workers += 1
    end = (math.floor(now / SPARK_BUCKET_SECONDS) + 1) * SPARK_BUCKET_SECONDS
    start = min(end - SPARK_BUCKETS * SPARK_BUCKET_SECONDS, now - RECENT_SECONDS)
    recent = (
        Run.select(Job.queue, Run.finished_at)
        .join(Job, on=(Run.job == Job.id))
        .where(
            Run.finished_at >= start,
            Run.finished_at < end,
            Run.outcome != RunOutcome.INTERRUPTED.value,  # given back: it ended nothing
        )
    )
    spark_start = end - SPARK_BUCKETS * SPARK_BUCKET_SECONDS
    for queue, finished in recent.tuples():
        entry = get(queue)
        if finished >= now - RECENT_SECONDS:
            entry.finished_5m += 1
        if sparkline and finished >= spark_start:
            if not entry.throughput:
                entry.throughput = [0.0] * SPARK_BUCKETS
            entry.throughput[int((finished - spark_start) // SPARK_BUCKET_SECONDS)] += 1
    for entry in queues.values():
        if sparkline and not entry.throughput:
            entry.throughput = [0.0] * SPARK_BUCKETS
    wanted = set(names) if names else None
    return [queues[name] for name in sorted(queues) if wanted is None or name in wanted]
