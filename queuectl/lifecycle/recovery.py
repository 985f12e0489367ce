"""Recovery: the jobs of workers that died, and jobs a live worker was given but never ran.

A lost worker's attempt is closed as ``lost`` (an attempt spent) and its job
goes where ``policy.decide`` sends any failure: a retry with backoff, or the
DLQ. Who counts as lost is ``workers.is_lost``'s rule.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, ClassVar

import peewee

from queuectl.lifecycle import deps, policy
from queuectl.lifecycle.finish import Ending, end_locked, taken_down_hooks
from queuectl.lifecycle.hooks import HookCall, hook_for
from queuectl.lifecycle.policy import Result
from queuectl.lifecycle.settings import load as load_settings
from queuectl.lifecycle.workers import is_lost
from queuectl.states import ENDED_WORKER_STATES, JobState, RunOutcome, WorkerState
from queuectl.store.boundary import translated
from queuectl.store.models import Job, Run, Worker
from queuectl.store.transactions import advisory_lock, is_postgres, write_transaction


@translated
def recover_lost(
    *,
    lease_seconds: float,
    by_heartbeat: bool = True,
    host: str | None = None,
    pid_alive: Callable[[int], bool] | None = None,
    before_requeue: Callable[[Run], None] | None = None,
    after_commit: Callable[[HookCall], None] | None = None,
    now: float | None = None,
) -> list[str]:
    """Requeue the jobs of workers that died; returns the ids of the jobs recovered.

    A worker is lost as ``workers.is_lost`` says: its heartbeat is older than
    ``lease_seconds`` or, on this ``host``, ``pid_alive`` says its process is
    gone. Its row is marked ``lost`` (not ``stopped``: it never said goodbye). Its jobs get a
    ``lost`` run (an attempt spent) and follow the failure path: retry with
    backoff, or the DLQ. A job left ``processing`` by no registered live worker
    is lost too, once it is older than the lease.

    Args:
        by_heartbeat: ``False``: a worker is lost only when its process is gone, on
            this host; a worker just started passes it for half a lease
            (``Timers.started``), so that siblings the database's return has not yet
            let heartbeat are not taken for dead.
        before_requeue: called with the attempt's unfinished Run before the job is
            requeued; workers use it to kill an orphaned process group so the
            rerun never overlaps the old run.
        after_commit: called, once the transaction committed, with the hook of
            each job this recovery sent to the DLQ (see ``hooks``): this process
            committed the outcome, so it runs the hook.
    """
    now = time.time() if now is None else now
    cutoff = now - lease_seconds
    judged = lease_seconds if by_heartbeat else math.inf
    with write_transaction():
        if not advisory_lock("recovery", wait=False):
            return []  # another worker is recovering right now; it will do this work
        settings = load_settings()
        ended = [state.value for state in ENDED_WORKER_STATES]
        lost_workers = [
            worker.id
            for worker in Worker.select().where(Worker.state.not_in(ended))
            if is_lost(worker, now=now, lease_seconds=judged, host=host, pid_alive=pid_alive)
        ]
        if lost_workers:
            Worker.update(state=WorkerState.LOST.value, stopped_at=now, current_job=None).where(
                Worker.id.in_(lost_workers)
            ).execute()
        live = Worker.select(Worker.id).where(Worker.state.not_in(ended))
        orphans = Job.select().where(
            Job.state == JobState.PROCESSING.value,
            (Job.worker_id.in_(lost_workers))
            | ((Job.worker_id.not_in(live) | Job.worker_id.is_null()) & (Job.started_at < cutoff)),
        )
        recovered = []
        hooks: list[HookCall] = []
        for job in orphans:
            reason = (
                f"worker {job.worker_id} was lost "
                f"(no heartbeat for {lease_seconds:g}s, or its process is gone)"
            )
            _close_as_lost(_Orphan.of(job), reason, now, settings, hooks.append, before_requeue)
            recovered.append(job.id)
        _close_abandoned_runs(lost_workers, live, cutoff, before_requeue, lease_seconds, now)
    _hand_over(hooks, after_commit)
    return recovered


@translated
def mend_blocked(
    *, after_commit: Callable[[HookCall], None] | None = None, now: float | None = None
) -> deps.Mended:
    """Every blocked job no rule moved (``deps.mend_locked``: a PostgreSQL race whose
    after-commit look never came, its process gone in between), moved now; the
    ``on_failure`` hook of each one taken down goes to ``after_commit``."""
    if not is_postgres():
        return deps.Mended()  # one writer at a time: every rule saw every write
    now = time.time() if now is None else now
    with write_transaction():
        if not advisory_lock("recovery", wait=False):
            return deps.Mended()  # another worker is recovering right now; it will do this
        mended = deps.mend_locked(None, now)
        hooks = taken_down_hooks(Ending(None, mended.taken_down), load_settings())
    _hand_over(hooks, after_commit)
    return mended


@translated
def release_forgotten(
    worker_id: str,
    running: Collection[str],
    *,
    after_commit: Callable[[HookCall], None] | None = None,
    now: float | None = None,
) -> list[str]:
    """Recover the jobs the database shows ``processing`` under this live worker but
    that it is not running; returns their ids.

    A live worker knows exactly which job it runs, yet the database can disagree:
    a finish acknowledged with ``synchronous_commit=off`` (or ``synchronous=NORMAL``)
    is lost when the server crashes before flushing it, and a commit whose answer
    was lost with the connection looks failed to the worker that sent it. Such a
    job had no process any more, and recovery never looked at it, because its
    worker heartbeats. Closed here as ``lost`` (an attempt spent), it follows the
    failure path like a dead worker's job: at-least-once, never stuck.

    One read per call; the write transaction is taken only when there is work.
    """
    query = Job.select(*_Orphan.FIELDS).where(
        Job.state == JobState.PROCESSING.value,
        Job.worker_id == worker_id,
        Job.id.not_in(list(running)),
    )
    forgotten = list(query.tuples())
    if not forgotten:
        return []
    now = time.time() if now is None else now
    released = []
    hooks: list[HookCall] = []
    with write_transaction():
        settings = load_settings()
        for fields in forgotten:
            reason = (
                f"worker {worker_id} was not running it (its last commit was lost, as in a"
                " database crash)"
            )
            orphan = _Orphan(*fields)
            closed = _close_as_lost(orphan, reason, now, settings, hooks.append)
            if closed is not None:
                released.append(orphan.id)
    _hand_over(hooks, after_commit)
    return released


@dataclass(frozen=True)
class _Orphan:
    """What closing a job's attempt as lost needs to know of the job."""

    FIELDS: ClassVar[tuple[peewee.Field, ...]] = (
        Job.id,
        Job.worker_id,
        Job.attempts,
        Job.max_retries,
        Job.command,
        Job.queue,
        Job.on_success,
        Job.on_failure,
    )

    id: str
    worker_id: str | None
    attempts: int
    max_retries: int
    command: str
    queue: str
    on_success: str | None
    on_failure: str | None

    @classmethod
    def of(cls, job: Job) -> _Orphan:
        return cls(*(getattr(job, field.name) for field in cls.FIELDS))


def _hand_over(hooks: list[HookCall], after_commit: Callable[[HookCall], None] | None) -> None:
    """Give the committed outcomes' hooks to whoever runs them (none: they are skipped)."""
    if after_commit is not None:
        for hook in hooks:
            after_commit(hook)


def _close_as_lost(
    job: _Orphan,
    reason: str,
    now: float,
    settings: dict[str, Any],
    hook_found: Callable[[HookCall], None],
    before_requeue: Callable[[Run], None] | None = None,
) -> JobState | None:
    """Close a job's open attempt as ``lost`` and move the job as ``policy.decide`` says;
    a hook the new state calls for goes to ``hook_found`` (run after the commit)."""
    run = (
        # By run number, not id: the (job_id, run) index gives that order, where the
        # table's key would be read end to end in a worker (sql.PG_WORKER_SESSION).
        Run.select()
        .where(Run.job == job.id, Run.outcome.is_null())
        .order_by(Run.run.desc())
        .first()
    )
    if run is not None and before_requeue is not None:
        before_requeue(run)
    result = Result(
        RunOutcome.LOST,
        exit_code=None,
        output=run.output if run else "",
        error=reason,
        output_bytes=run.output_bytes if run else None,
    )
    decision = policy.decide(
        RunOutcome.LOST,
        exit_code=None,
        attempts=job.attempts,
        max_retries=job.max_retries,
        settings=settings,
        now=now,
    )
    ending = end_locked(
        job.id,
        run.id if run else None,
        job.worker_id,
        decision,
        result,
        None,
        now,
        claimed_at=None,
    )
    hook = hook_for(
        ending.state,
        job_id=job.id,
        job_hooks=(job.on_success, job.on_failure),
        settings=settings,
        exit_code=None,
        attempt=job.attempts,
        job_command=job.command,
        queue=job.queue,
        output=result.output,
    )
    if hook is not None:
        hook_found(hook)
    for call in taken_down_hooks(ending, settings):
        hook_found(call)
    return ending.state


def _close_abandoned_runs(
    lost_workers: list[str],
    live: peewee.Select,
    cutoff: float,
    before_requeue: Callable[[Run], None] | None,
    lease_seconds: float,
    now: float,
) -> None:
    """Close the open attempts of dead workers whose job is no longer ``processing``.

    A job cancelled (or retried after a cancel) while its worker was killing it
    is no longer ``processing``, so the requeue above skips it; if that worker
    died before recording the attempt, the Run stayed open for ever: shown as
    running, and blocking ``retry`` ("still being stopped by its worker").
    """
    abandoned = Run.select().where(
        Run.finished_at.is_null(),  # set with the outcome; indexed, so this is no table scan
        (Run.worker_id.in_(lost_workers))
        | ((Run.worker_id.not_in(live) | Run.worker_id.is_null()) & (Run.started_at < cutoff)),
    )
    for run in abandoned:
        if before_requeue is not None:
            before_requeue(run)
        Run.update(
            finished_at=now,
            outcome=RunOutcome.LOST.value,
            error=f"worker {run.worker_id} was lost (no heartbeat for {lease_seconds:g}s, "
            "or its process is gone) before it recorded this attempt",
            duration=peewee.Value(now) - Run.started_at,
        ).where(Run.id == run.id, Run.outcome.is_null()).execute()
