"""Queue semantics: accepting jobs, claiming and finishing them, recovering lost workers.

The CLI, the dashboard and the workers all change jobs only through these
functions and ``manage``'s (what users do to jobs), so the lifecycle in README
is enforced in one place. Each takes an optional ``now`` (epoch seconds) so
tests drive the clock instead of sleeping. The reads (``reads``) and the user
actions (``manage``) are re-exported here, where callers have always found them.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import peewee

from queuectl import config
from queuectl.errors import DuplicateJobId, ValidationError
from queuectl.jobspec import JobSpec

# Re-exported where callers have always found them; each lives in its own module.
from queuectl.lifecycle.manage import cancel as cancel
from queuectl.lifecycle.manage import delete as delete
from queuectl.lifecycle.manage import purge as purge
from queuectl.lifecycle.manage import retry as retry
from queuectl.lifecycle.manage import retry_dead as retry_dead
from queuectl.lifecycle.reads import count_jobs as count_jobs
from queuectl.lifecycle.reads import counts as counts
from queuectl.lifecycle.reads import get_job as get_job
from queuectl.lifecycle.reads import latest_run as latest_run
from queuectl.lifecycle.reads import list_jobs as list_jobs
from queuectl.lifecycle.reads import list_workers as list_workers
from queuectl.lifecycle.reads import runs_of as runs_of
from queuectl.lifecycle.workers import is_lost
from queuectl.states import ENDED_WORKER_STATES
from queuectl.store import sql
from queuectl.store.db import (
    advisory_lock,
    execute_raw,
    is_postgres,
    notify_new_work,
    write_transaction,
)
from queuectl.store.models import (
    CLAIMABLE_STATES,
    ClaimedJob,
    Job,
    JobState,
    Run,
    RunOutcome,
    Worker,
    WorkerState,
    database,
)

# Crockford's base32 (no i, l, o, u: ids are read aloud and retyped).
_TO_CROCKFORD = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghjkmnpqrstvwxyz"
)
_ID_CHECK_CHUNK = 500


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def new_job_id() -> str:
    """A short random id (8 characters, 40 bits); collisions are redrawn at insert."""
    return base64.b32encode(secrets.token_bytes(5)).decode().translate(_TO_CROCKFORD)


def new_job_ids(count: int) -> list[str]:
    """``count`` ids as ``new_job_id`` makes them, drawn and encoded in one go.

    Every 5 random bytes encode to exactly 8 base32 characters, so one call
    over ``5 * count`` bytes is ``count`` independent ids.
    """
    text = base64.b32encode(secrets.token_bytes(5 * count)).decode().translate(_TO_CROCKFORD)
    return [text[start : start + 8] for start in range(0, 8 * count, 8)]


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds before the run after failed run ``attempt``: ``base ** attempt``, capped."""
    try:
        return float(min(base**attempt, cap))
    except OverflowError:
        return float(cap)


# --- accepting work -------------------------------------------------------------------


def enqueue(
    spec: JobSpec,
    *,
    now: float | None = None,
    cwd: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> Job:
    """Store one job and return it (see ``enqueue_many``).

    Raises:
        DuplicateJobId: the spec's id is taken; the existing job is untouched.
        ValidationError: its ``cwd`` does not exist (SQLite).
    """
    return get_job(enqueue_many([spec], now=now, cwd=cwd, warn=warn)[0])


def enqueue_many(
    specs: Sequence[JobSpec],
    *,
    now: float | None = None,
    cwd: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[str]:
    """Store jobs all or nothing, in one transaction; returns their ids in order.

    Jobs are numbered (``seq``) in the order given, after every job already
    stored: equal priorities due at the same time run in that order.

    Args:
        specs: validated specs (``jobspec.parse_lines`` for a file).
        now: the enqueue time; also ``run_at`` for jobs with neither delay nor run_at.
        cwd: the directory jobs without their own ``cwd`` run in (the caller's).
        warn: told about a ``cwd`` missing here on PostgreSQL, where the workers
            may be on hosts that have it.

    Raises:
        DuplicateJobId: an id is already taken (named, with its position for files).
        ValidationError: a ``cwd`` does not exist, on SQLite (whose workers share
            this host's files): the job could only fail.
    """
    now = _now(now)
    cwd = cwd or os.getcwd()
    _check_directories(specs, warn)
    insert = sql.insert_jobs_sql(database.obj.param)
    with write_transaction():
        advisory_lock("enqueue")  # PostgreSQL: one enqueue numbers its jobs at a time
        settings = config.load()
        first = _next_seq()
        if any(spec.id is not None for spec in specs):
            ids = _assign_ids(specs, [spec.id or new_job_id() for spec in specs])
            database.cursor().executemany(insert, _rows(specs, ids, now, cwd, settings, first))
        else:
            # Only generated ids: insert optimistically, and check (and redraw)
            # only if one of them collided. Checking first cost a tenth of a
            # bulk enqueue, for a collision that 40-bit ids make rare.
            ids = new_job_ids(len(specs))
            rows = _rows(specs, ids, now, cwd, settings, first)
            try:
                with database.atomic(), peewee.__exception_wrapper__:
                    database.cursor().executemany(insert, rows)
            except peewee.IntegrityError:
                ids = _assign_ids(specs, ids)
                database.cursor().executemany(insert, _rows(specs, ids, now, cwd, settings, first))
        notify_new_work()
    return ids


def _next_seq() -> int:
    """The first free enqueue number: one seek at the end of the unique ``seq`` index."""
    last = Job.select(peewee.fn.MAX(Job.seq)).scalar()
    return (last or 0) + 1


def _check_directories(specs: Sequence[JobSpec], warn: Callable[[str], None] | None) -> None:
    """Refuse (SQLite) or report (PostgreSQL) a given ``cwd`` that is not a directory here."""
    missing: dict[str, int] = {}
    for position, spec in enumerate(specs, start=1):
        if spec.cwd is not None and spec.cwd not in missing and not os.path.isdir(spec.cwd):
            missing[spec.cwd] = position
    for path, position in missing.items():
        where = f"line {position}: " if len(specs) > 1 else ""
        if not is_postgres():
            raise ValidationError(f'{where}"cwd" {path!r} is not a directory on this host')
        if warn is not None:
            warn(
                f"{where}cwd {path!r} is not a directory on this host;"
                " the job fails on any worker host where it is missing too"
            )


def _rows(
    specs: Sequence[JobSpec],
    ids: Sequence[str],
    now: float,
    cwd: str,
    settings: dict[str, float | int],
    first_seq: int,
) -> list[tuple[object, ...]]:
    return [
        _row(spec, job_id, now, cwd, settings, first_seq + position)
        for position, (spec, job_id) in enumerate(zip(specs, ids, strict=True))
    ]


def _assign_ids(specs: Sequence[JobSpec], ids: list[str]) -> list[str]:
    """``ids`` checked against the table: given ones refused, generated ones redrawn.

    Generated ids are also made unique among themselves (given ones already
    are: ``jobspec.parse_lines`` refuses a repeated id).
    """
    while True:
        given = {spec.id for spec in specs if spec.id is not None}
        seen: set[str] = set()
        for position, spec in enumerate(specs):
            while spec.id is None and (ids[position] in seen or ids[position] in given):
                ids[position] = new_job_id()
            seen.add(ids[position])
        taken = _existing_ids(ids)
        if not taken:
            return ids
        for position, spec in enumerate(specs):
            if spec.id is not None and spec.id in taken:
                where = f" (line {position + 1})" if len(specs) > 1 else ""
                raise DuplicateJobId(f"a job with id {spec.id!r} already exists{where}")
        ids = [new_job_id() if job_id in taken else job_id for job_id in ids]


def _existing_ids(ids: Sequence[str]) -> set[str]:
    taken: set[str] = set()
    for start in range(0, len(ids), _ID_CHECK_CHUNK):
        chunk = ids[start : start + _ID_CHECK_CHUNK]
        cursor = database.execute_sql(sql.existing_ids_sql(database.obj.param, len(chunk)), chunk)
        taken.update(row[0] for row in cursor.fetchall())
    return taken


def _row(
    spec: JobSpec,
    job_id: str,
    now: float,
    cwd: str,
    settings: dict[str, float | int],
    seq: int,
) -> tuple[object, ...]:
    """A job's values in ``sql.JOB_INSERT_COLUMNS`` order."""
    if spec.run_at is not None:
        run_at = spec.run_at
    elif spec.delay is not None:
        run_at = now + spec.delay
    else:
        run_at = now
    max_retries = spec.max_retries
    if max_retries is None:
        max_retries = int(settings["max_retries"])
    return (
        job_id,
        spec.command,
        spec.queue,
        JobState.PENDING.value,
        spec.priority,
        0,
        max_retries,
        spec.timeout,
        run_at,
        spec.cwd or cwd,
        spec.env_json(),
        seq,
        now,
        now,
    )


# --- the worker's side ----------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A job a worker now owns, and the Run row recording this attempt."""

    job: ClaimedJob
    run_id: int


def claim(
    worker_id: str,
    queues: Sequence[str] = ("default",),
    *,
    host: str | None = None,
    now: float | None = None,
) -> Claim | None:
    """Atomically take the best due job for ``worker_id``, or ``None`` when none is due.

    Best is the highest priority, then the earliest ``run_at``, then the oldest.
    One UPDATE … RETURNING takes the job; the Run row is written in the same
    transaction, so a crash leaves either both or neither.
    """
    now = _now(now)
    with write_transaction():
        return claim_locked(worker_id, queues, host=host, now=now)


def claim_locked(
    worker_id: str, queues: Sequence[str], *, host: str | None, now: float
) -> Claim | None:
    """``claim`` inside the caller's write transaction.

    Workers finish their last job and claim the next in one transaction
    (``finish_locked`` then this): one lock acquisition and one commit per job
    instead of two, which is what bounds throughput on trivial jobs.
    """
    param = database.obj.param
    statement = sql.claim_sql(param, len(queues), postgres=is_postgres())
    row = execute_raw(statement, (worker_id, now, now, now, *queues)).fetchone()
    if row is None:
        return None
    job = ClaimedJob(*row)
    run_insert = sql.statement(sql.RUN_INSERT, param)
    params = (job.id, job.id, job.attempts, worker_id, host, now)
    run_id = execute_raw(run_insert, params).fetchone()[0]
    return Claim(job=job, run_id=run_id)


def succeed_and_claim(
    job_id: str,
    run_id: int,
    worker_id: str,
    queues: Sequence[str],
    *,
    exit_code: int | None,
    output: str,
    output_bytes: int | None = None,
    pgid: int | None,
    host: str | None,
    now: float,
) -> tuple[JobState | None, Claim | None]:
    """PostgreSQL only: ``finish_locked`` (succeeded) then ``claim_locked``, in one statement.

    Not inside a transaction: the statement is atomic on its own (see
    ``sql.PG_SUCCEED_AND_CLAIM``). Returns the finished job's new state (``None``
    when it was no longer ours) and the claim, if a job was due.
    """
    row = execute_raw(
        sql.PG_SUCCEED_AND_CLAIM,
        {
            "now": now,
            "exit_code": exit_code,
            "output": output,
            "output_bytes": output_bytes,
            "pgid": pgid,
            "run_id": run_id,
            "job_id": job_id,
            "worker": worker_id,
            "queues": list(queues),
            "host": host,
        },
    ).fetchone()
    completed, new_run_id, *job = row
    state = JobState.COMPLETED if completed == 1 else None
    if new_run_id is None:
        return state, None
    return state, Claim(job=ClaimedJob(*job), run_id=new_run_id)


def next_due_at(queues: Sequence[str] = ("default",)) -> float | None:
    """When the earliest waiting job in ``queues`` becomes due, so idle workers sleep until then."""
    row = (
        Job.select(peewee.fn.MIN(Job.run_at))
        .where(Job.state.in_(CLAIMABLE_STATES), Job.queue.in_(list(queues)))
        .scalar()
    )
    return float(row) if row is not None else None


def record_progress(
    run_id: int, output: str, *, output_bytes: int | None = None, pgid: int | None = None
) -> None:
    """Store the live output tail of a running attempt (and its process group once known)."""
    fields: dict[str, object] = {Run.output: output}
    if output_bytes is not None:
        fields[Run.output_bytes] = output_bytes
    if pgid is not None:
        fields[Run.pgid] = pgid
    Run.update(fields).where(Run.id == run_id, Run.outcome.is_null()).execute()


def still_owns(job_id: str, worker_id: str) -> bool:
    """Whether the job is still ``processing`` for this worker.

    False once it was cancelled, deleted or recovered: the worker then kills the
    attempt instead of letting it run on unowned.
    """
    return (
        Job.select(Job.id)
        .where(
            Job.id == job_id,
            Job.state == JobState.PROCESSING.value,
            Job.worker_id == worker_id,
        )
        .exists()
    )


def finish(
    job_id: str,
    run_id: int,
    worker_id: str,
    *,
    outcome: RunOutcome,
    exit_code: int | None = None,
    output: str = "",
    output_bytes: int | None = None,
    error: str | None = None,
    final: bool = False,
    now: float | None = None,
) -> JobState | None:
    """Record how an attempt ended and move the job on.

    ``succeeded`` completes the job; ``failed``/``timed_out``/``lost`` schedule a
    retry ``backoff_base ** attempts`` seconds later or, with no retries left,
    move it to the DLQ; ``interrupted`` puts it back to pending without spending
    the attempt; ``cancelled`` cancels it.

    Args:
        output_bytes: how much the attempt printed in all (``output`` is its tail).
        final: a failure that retrying cannot mend (its ``cwd`` is gone): the job
            goes to the DLQ whatever retries it has left.

    Returns:
        The job's new state, or ``None`` when this worker no longer owned the job
        (it was cancelled, deleted or recovered meanwhile): the run is still
        recorded, the job is left alone.
    """
    now = _now(now)
    with write_transaction():
        return _finish_locked(
            job_id,
            run_id,
            worker_id,
            outcome,
            exit_code=exit_code,
            output=output,
            output_bytes=output_bytes,
            error=error,
            final=final,
            now=now,
        )


def finish_locked(
    job_id: str,
    run_id: int,
    worker_id: str,
    *,
    outcome: RunOutcome,
    exit_code: int | None = None,
    output: str = "",
    output_bytes: int | None = None,
    error: str | None = None,
    final: bool = False,
    pgid: int | None = None,
    now: float,
) -> JobState | None:
    """``finish`` inside the caller's write transaction (see ``claim_locked``).

    ``pgid`` stores the attempt's process group with the result, for jobs too
    short for the worker to have written it while they ran.
    """
    return _finish_locked(
        job_id,
        run_id,
        worker_id,
        outcome,
        exit_code=exit_code,
        output=output,
        output_bytes=output_bytes,
        error=error,
        final=final,
        now=now,
        pgid=pgid,
    )


def _finish_locked(
    job_id: str,
    run_id: int | None,
    worker_id: str | None,
    outcome: RunOutcome,
    *,
    exit_code: int | None,
    output: str,
    output_bytes: int | None,
    error: str | None,
    now: float,
    final: bool = False,
    settings: dict[str, float | int] | None = None,
    pgid: int | None = None,
) -> JobState | None:
    param = database.obj.param
    if run_id is not None:
        execute_raw(
            sql.statement(sql.RUN_FINISH, param),
            (now, exit_code, outcome.value, error, output, output_bytes, now, pgid, run_id),
        )
    if outcome is RunOutcome.SUCCEEDED:
        # The common case needs nothing from the row: the guarded UPDATE alone
        # proves ownership, saving a read per job.
        cursor = execute_raw(
            sql.statement(sql.JOB_COMPLETE, param),
            (now, now, exit_code, output, output_bytes, job_id, worker_id),
        )
        return JobState.COMPLETED if cursor.rowcount == 1 else None
    fields: dict[str, object] = {
        "updated_at": now,
        "exit_code": exit_code,
        "output": output,
        "output_bytes": output_bytes,
        "last_error": error,
    }
    job = Job.get_or_none(Job.id == job_id)
    if job is None or job.state != JobState.PROCESSING or job.worker_id != worker_id:
        return None
    if outcome is RunOutcome.INTERRUPTED:
        state = JobState.PENDING
        fields.update(attempts=max(0, job.attempts - 1), run_at=now, worker_id=None)
    elif outcome is RunOutcome.CANCELLED:
        state = JobState.CANCELLED
        fields.update(finished_at=now)
    elif final or job.attempts > job.max_retries:
        state = JobState.DEAD
        fields.update(finished_at=now)
    else:
        state = JobState.FAILED
        settings = settings or config.load()
        delay = backoff_delay(
            job.attempts, float(settings["backoff_base"]), float(settings["backoff_max"])
        )
        fields.update(run_at=now + delay)
    return _move_owned(job_id, worker_id, state, fields)


def _move_owned(
    job_id: str, worker_id: str | None, state: JobState, fields: dict[str, object]
) -> JobState | None:
    """Apply ``fields`` and ``state`` if the job is still ``processing`` for this worker."""
    fields["state"] = state.value
    changed = (
        Job.update(fields)
        .where(
            Job.id == job_id,
            Job.state == JobState.PROCESSING.value,
            Job.worker_id == worker_id,
        )
        .execute()
    )
    return state if changed == 1 else None


# --- recovery -------------------------------------------------------------------------


def recover_lost(
    *,
    lease_seconds: float,
    host: str | None = None,
    pid_alive: Callable[[int], bool] | None = None,
    before_requeue: Callable[[Run], None] | None = None,
    now: float | None = None,
) -> list[str]:
    """Requeue the jobs of workers that died; returns the ids of the jobs recovered.

    A worker is lost as ``liveness.is_lost`` says: its heartbeat is older than
    ``lease_seconds`` or, on this ``host``, ``pid_alive`` says its process is
    gone. Its row is marked ``lost`` (not ``stopped``: it never said goodbye). Its jobs get a
    ``lost`` run (an attempt spent) and follow the failure path: retry with
    backoff, or the DLQ. A job left ``processing`` by no registered live worker
    is lost too, once it is older than the lease.

    Args:
        before_requeue: called with the attempt's unfinished Run before the job is
            requeued; workers use it to kill an orphaned process group so the
            rerun never overlaps the old run.
    """
    now = _now(now)
    cutoff = now - lease_seconds
    with write_transaction():
        if not advisory_lock("recovery", wait=False):
            return []  # another worker is recovering right now; it will do this work
        settings = config.load()
        ended = [state.value for state in ENDED_WORKER_STATES]
        lost_workers = [
            worker.id
            for worker in Worker.select().where(Worker.state.not_in(ended))
            if is_lost(worker, now=now, lease_seconds=lease_seconds, host=host, pid_alive=pid_alive)
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
        for job in orphans:
            reason = (
                f"worker {job.worker_id} was lost "
                f"(no heartbeat for {lease_seconds:g}s, or its process is gone)"
            )
            _close_as_lost(job.id, job.worker_id, reason, now, settings, before_requeue)
            recovered.append(job.id)
        _close_abandoned_runs(lost_workers, live, cutoff, before_requeue, lease_seconds, now)
    return recovered


def release_forgotten(
    worker_id: str, running: Collection[str], *, now: float | None = None
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
    query = Job.select(Job.id).where(
        Job.state == JobState.PROCESSING.value,
        Job.worker_id == worker_id,
        Job.id.not_in(list(running)),
    )
    forgotten = [job_id for (job_id,) in query.tuples()]
    if not forgotten:
        return []
    now = _now(now)
    released = []
    with write_transaction():
        settings = config.load()
        for job_id in forgotten:
            reason = (
                f"worker {worker_id} was not running it (its last commit was lost, as in a"
                " database crash)"
            )
            if _close_as_lost(job_id, worker_id, reason, now, settings) is not None:
                released.append(job_id)
    return released


def _close_as_lost(
    job_id: str,
    worker_id: str | None,
    reason: str,
    now: float,
    settings: dict[str, float | int],
    before_requeue: Callable[[Run], None] | None = None,
) -> JobState | None:
    """Close a job's open attempt as ``lost`` and move the job on the failure path."""
    run = (
        Run.select().where(Run.job == job_id, Run.outcome.is_null()).order_by(Run.id.desc()).first()
    )
    if run is not None and before_requeue is not None:
        before_requeue(run)
    return _finish_locked(
        job_id,
        run.id if run else None,
        worker_id,
        RunOutcome.LOST,
        exit_code=None,
        output=run.output if run else "",
        output_bytes=run.output_bytes if run else None,
        error=reason,
        now=now,
        settings=settings,
    )


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
