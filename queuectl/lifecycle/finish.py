"""The end of an attempt: recorded, its job moved on, and the next job claimed, in one call.

``complete_attempt`` is the one way an attempt ends, whatever ended it: the
worker's result, a give-back before the job started, a cancel noticed while it
ran. (Recovery closes a lost worker's attempts with the same ``end_locked``.)
Where the job goes is ``policy.decide``'s answer; this module only writes it,
on either backend, in one transaction (on PostgreSQL, when it can, in one
statement).

Also here: what a running attempt writes while it runs (its live output) and
asks (whether it is still the worker's to run).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from queuectl.lifecycle import deps, policy
from queuectl.lifecycle.claim import Claim, claim_locked
from queuectl.lifecycle.hooks import HookCall, hook_for
from queuectl.lifecycle.policy import Decision, Result
from queuectl.lifecycle.settings import load as load_settings
from queuectl.lifecycle.workers import Registration
from queuectl.states import JobState, RunOutcome
from queuectl.store import sql
from queuectl.store.boundary import translated
from queuectl.store.models import ClaimedJob, Job, Run, database
from queuectl.store.transactions import (
    execute_raw,
    execute_together,
    is_postgres,
    notify_new_work,
    stamped_write,
    write_transaction,
)


class Ending(NamedTuple):
    """What ``end_locked`` did: the job's new state (None: it was no longer the
    worker's) and the dependents that state sent dead (``deps.cascade_locked``)."""

    state: JobState | None
    taken_down: tuple[deps.TakenDown, ...] = ()
    still_blocked: tuple[str, ...] = ()
    """On PostgreSQL, the dependents of a job just completed (or dead) that stayed
    blocked: to be looked at again once committed (``deps.mend``)."""


@dataclass(frozen=True)
class Completion:
    """What ``complete_attempt`` did."""

    state: JobState | None
    """The job's new state; ``None`` when it was no longer the worker's (cancelled,
    deleted or recovered meanwhile): the run is recorded, the job left alone."""
    next: Claim | None = None
    """The job claimed in the same transaction, to run next."""
    reported: bool = False
    """The worker's row was written (its counts are now zero)."""
    row_found: bool = True
    """``False`` when the report found the worker's row gone."""
    hooks: tuple[HookCall, ...] = ()
    """The hooks the committed outcome calls for (``hooks.hook_for``): the job's own,
    and ``on_failure`` for each dependent its death took down. The caller runs them,
    now that the outcome is committed."""


@translated
def complete_attempt(
    claim: Claim,
    result: Result,
    *,
    row: Registration | None = None,
    wants_next: Callable[[], bool] | None = None,
    report_due: bool = False,
    pgid: int | None = None,
    settings: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> Completion:
    """Record how an attempt ended, move its job on, and (``wants_next``) claim the next job.

    One lock acquisition and one commit per job instead of two: on trivial jobs
    that is most of the queue's cost. The worker's row (``row``: state, current
    job, counts, heartbeat) rides along when the worker goes idle or stops
    (no next job), or when ``report_due``; otherwise its counts wait in ``row``.

    Args:
        row: the worker's registration; needed to claim the next job and to report.
        wants_next: asked just before claiming the next job from ``row.queues``, inside
            the transaction: a stop that comes while the attempt is recorded takes
            no new job. ``None``: claim nothing.
        pgid: the attempt's process group, for jobs too short to have written it.
        settings: the settings the retry policy reads (loaded when not given).
    """
    now = time.time() if now is None else now
    job = claim.job
    settings = settings if settings is not None else load_settings()
    decision = _decide(claim, result, settings, now)
    worker_id = job.worker_id
    if row is None:
        with stamped_write(now) as stamp:
            now, decision = _restamped(claim, result, settings, now, decision, stamp)
            ending = end_locked(
                job.id,
                claim.run_id,
                worker_id,
                decision,
                result,
                pgid,
                now,
                claimed_at=job.started_at,
            )
        deps.mend(ending.still_blocked, now)
        return Completion(ending.state, hooks=_hooks(claim, result, ending, settings))
    if (
        wants_next is not None
        and not report_due
        and is_postgres()
        and _one_statement_can_end(decision)
        and wants_next()
    ):
        # The common case on PostgreSQL: one round trip instead of six.
        [(state, claimed)] = _pg_end_and_claim([(Ended(claim, result, pgid), decision)], row, now)
        done, failed = row.counts_after(result.outcome, recorded=state is not None)
        hooks = _hooks(claim, result, Ending(state), settings)
        if claimed is not None:
            row.unreported_done, row.unreported_failed = done, failed
            return Completion(state, claimed, hooks=hooks)
        with write_transaction():  # nothing was due: the worker goes idle, its row must say so
            found = row.report_locked(now, None, done, failed)
        row.unreported_done = row.unreported_failed = 0
        return Completion(state, None, reported=True, row_found=found, hooks=hooks)
    counts = (row.unreported_done, row.unreported_failed)
    try:
        with stamped_write(now) as stamp:
            now, decision = _restamped(claim, result, settings, now, decision, stamp)
            completion, still_blocked = _complete_locked(
                Ended(claim, result, pgid), decision, row, wants_next, report_due, settings, now
            )
    except BaseException:
        # Counted only once committed: a failed transaction is tried again with the same counts.
        row.unreported_done, row.unreported_failed = counts
        raise
    deps.mend(still_blocked, now)
    return completion


def _complete_locked(
    item: Ended,
    decision: Decision,
    row: Registration,
    wants_next: Callable[[], bool] | None,
    report_due: bool,
    settings: Mapping[str, Any],
    now: float,
) -> tuple[Completion, tuple[str, ...]]:
    """``complete_attempt``'s writes, inside the caller's write transaction, which
    also restores ``row``'s counts if it fails (they are updated here as if committed);
    with the dependents to look at again once it committed (``Ending.still_blocked``).

    A group (``complete_attempts``) calls it once per attempt in its one transaction:
    a nested transaction per attempt would be a savepoint, two statements more per job
    for nothing, since the group is all or nothing anyway.
    """
    claim, result = item.claim, item.result
    job = claim.job
    ending = end_locked(
        job.id,
        claim.run_id,
        job.worker_id,
        decision,
        result,
        item.pgid,
        now,
        claimed_at=job.started_at,
    )
    done, failed = row.counts_after(result.outcome, recorded=ending.state is not None)
    claimed = None
    if wants_next is not None and wants_next():
        claimed = claim_locked(row.id, row.queues, host=row.host, now=now)
    report = claimed is None or report_due
    found = row.report_locked(now, claimed, done, failed) if report else True
    row.unreported_done, row.unreported_failed = (0, 0) if report else (done, failed)
    completion = Completion(
        ending.state,
        claimed,
        reported=report,
        row_found=found,
        hooks=_hooks(claim, result, ending, settings),
    )
    return completion, ending.still_blocked


@dataclass(frozen=True)
class Ended:
    """One attempt that ended, to record (a worker with slots records several at once)."""

    claim: Claim
    result: Result
    pgid: int | None = None


@translated
def complete_attempts(
    ended: Sequence[Ended],
    *,
    row: Registration,
    wants_next: Callable[[], bool],
    report_due: bool = False,
    busy_with: Claim | None = None,
    settings: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> list[Completion]:
    """Several attempts that ended together, recorded in one transaction (group commit):
    each through ``complete_attempt``, each claiming its replacement while jobs are due.

    A worker running several jobs at once (slots) pays one lock and one commit for
    all the finishes that arrived together, so its cost per job falls as load rises.
    On PostgreSQL it also pays one round trip for them (``_pg_complete_together``).
    Once a claim finds nothing due, the rest claim nothing (a second look in the same
    transaction would find nothing either).

    Args:
        busy_with: a job the worker still runs besides these (another slot): if the
            row was reported idle by the last of them, it is written busy with this
            one (or with one claimed here), in the same transaction.
    """
    now = time.time() if now is None else now
    settings = settings if settings is not None else load_settings()
    counts = (row.unreported_done, row.unreported_failed)
    found_empty = False

    def wants() -> bool:
        return not found_empty and wants_next()

    if len(ended) > 1 and is_postgres():
        together = _pg_complete_together(
            ended,
            row=row,
            wants_next=wants_next,
            report_due=report_due,
            busy_with=busy_with,
            settings=settings,
            now=now,
        )
        if together is not None:
            return together
    done: list[Completion] = []
    if len(ended) == 1:
        # Nothing to group: as a one-job worker records it (on PostgreSQL one
        # statement, where BEGIN and COMMIT would add two round trips).
        item = ended[0]
        completion = complete_attempt(
            item.claim,
            item.result,
            row=row,
            wants_next=wants_next,
            report_due=report_due,
            pgid=item.pgid,
            settings=settings,
            now=now,
        )
        if completion.reported and completion.next is None and busy_with is not None:
            with write_transaction():
                row.report_locked(now, busy_with, 0, 0)
        return [completion]
    still_blocked: list[str] = []
    try:
        with stamped_write(now) as now:
            for item in ended:
                completion, left = _complete_locked(
                    item,
                    _decide(item.claim, item.result, settings, now),
                    row,
                    wants,
                    report_due and not done,
                    settings,
                    now,
                )
                found_empty = found_empty or completion.next is None
                done.append(completion)
                still_blocked += left
            last = done[-1] if done else None
            busy = busy_with or next((c.next for c in done if c.next is not None), None)
            if last is not None and last.reported and last.next is None and busy is not None:
                row.report_locked(now, busy, 0, 0)
    except BaseException:
        # Counted only once committed: the caller tries again with the same counts.
        row.unreported_done, row.unreported_failed = counts
        raise
    deps.mend(still_blocked, now)
    return done


def _restamped(
    claim: Claim,
    result: Result,
    settings: Mapping[str, Any],
    now: float,
    decision: Decision,
    stamp: float,
) -> tuple[float, Decision]:
    """``stamp`` (``stamped_write``: ``now`` moved past a long wait for the lock) and the
    decision taken again at it when it moved: the next job's start and a retry's due
    time were counted from before the wait."""
    if stamp == now:
        return now, decision
    return stamp, _decide(claim, result, settings, stamp)


def _decide(claim: Claim, result: Result, settings: Mapping[str, Any], now: float) -> Decision:
    """Where the job goes after this attempt: ``policy.decide`` on the claimed job."""
    job = claim.job
    return policy.decide(
        result.outcome,
        exit_code=result.exit_code,
        attempts=job.attempts,
        max_retries=job.max_retries,
        final=result.final,
        due_in=result.due_in,
        settings=settings,
        now=now,
    )


def _one_statement_can_end(decision: Decision) -> bool:
    """Whether ``sql.pg_end_and_claim_sql`` can record this end: a job that ends badly
    takes the transaction path, where ``lifecycle.deps`` cascades to its dependents."""
    return decision.state not in deps.ENDED_BADLY


def _pg_complete_together(
    ended: Sequence[Ended],
    *,
    row: Registration,
    wants_next: Callable[[], bool],
    report_due: bool,
    busy_with: Claim | None,
    settings: Mapping[str, Any],
    now: float,
) -> list[Completion] | None:
    """PostgreSQL's group commit: each ended attempt's one-statement end-and-claim, all
    sent in one round trip and committed as one transaction (``execute_together``).

    A group's BEGIN and COMMIT would cost two round trips more than its statements,
    which one worker with slots waits for in turn; this costs one for the whole group.
    ``None`` (nothing written) when some attempt needs the transaction path: a job
    that ends badly, or a stop that takes no next job.
    """
    decisions = [_decide(item.claim, item.result, settings, now) for item in ended]
    if not all(map(_one_statement_can_end, decisions)) or not wants_next():
        return None
    outcomes = _pg_end_and_claim(list(zip(ended, decisions, strict=True)), row, now)
    counts = (row.unreported_done, row.unreported_failed)
    done: list[Completion] = []
    for item, (state, claimed) in zip(ended, outcomes, strict=True):
        row.unreported_done, row.unreported_failed = row.counts_after(
            item.result.outcome, recorded=state is not None
        )
        done.append(
            Completion(
                state, claimed, hooks=_hooks(item.claim, item.result, Ending(state), settings)
            )
        )
    if not report_due and all(completion.next is not None for completion in done):
        return done
    # A report is due, or some claim found nothing: the row says what the worker
    # still runs, if anything, and takes the counts.
    busy = busy_with or next((c.next for c in done if c.next is not None), None)
    try:
        with write_transaction():
            found = row.report_locked(now, busy, row.unreported_done, row.unreported_failed)
    except BaseException:
        row.unreported_done, row.unreported_failed = counts
        raise
    row.unreported_done = row.unreported_failed = 0
    done[-1] = replace(done[-1], reported=True, row_found=found)
    return done


def _hooks(
    claim: Claim, result: Result, ending: Ending, settings: Mapping[str, Any]
) -> tuple[HookCall, ...]:
    """The hooks of an outcome this call committed (``ending.state`` is None when it did
    not): the job's own, then those of the dependents it took down."""
    job = claim.job
    own = hook_for(
        ending.state,
        job_id=job.id,
        job_hooks=(job.on_success, job.on_failure),
        settings=settings,
        exit_code=result.exit_code,
        attempt=job.attempts,
        job_command=job.command,
        queue=job.queue,
        output=result.output,
    )
    return (*([own] if own is not None else []), *taken_down_hooks(ending, settings))


def taken_down_hooks(ending: Ending, settings: Mapping[str, Any]) -> list[HookCall]:
    """``on_failure`` for each dependent a death took down: each went dead, into the DLQ,
    as surely as a job whose last attempt failed (README: hooks run when a job "goes
    dead"), so a hook watching the DLQ hears of every job that lands there. It never
    ran: no exit status, no output."""
    calls = (
        hook_for(
            JobState.DEAD,
            job_id=down.id,
            job_hooks=(None, down.on_failure),
            settings=settings,
            exit_code=None,
            attempt=down.attempts,
            job_command=down.command,
            queue=down.queue,
            output="",
        )
        for down in ending.taken_down
    )
    return [call for call in calls if call is not None]


def ended_time(result: Result, now: float) -> float:
    """When the attempt ended: its own stamp, never later than the record (``now``)."""
    return now if result.ended_at is None else min(now, result.ended_at)


def end_locked(
    job_id: str,
    run_id: int | None,
    worker_id: str | None,
    decision: Decision,
    result: Result,
    pgid: int | None,
    now: float,
    *,
    claimed_at: float | None,
) -> Ending:
    """Close the attempt's Run and move the job as ``decision`` says, if it is still
    ``worker_id``'s; inside the caller's write transaction. Returns the new state (None:
    the job was no longer ours) and the dependents that state took down.

    ``claimed_at``: the claim's stamp (``sql.SAME_CLAIM``), so that an end whose claim
    the database lost closes neither the job's next claim nor a reused Run id; ``None``
    (recovery, which read the job under the same lock) checks no stamp.
    """
    param = database.obj.param
    ended_at = ended_time(result, now)
    if run_id is not None:
        execute_raw(
            sql.statement(sql.RUN_FINISH, param),
            (
                ended_at,
                result.exit_code,
                result.outcome.value,
                result.error,
                result.output,
                result.output_bytes,
                ended_at,
                pgid,
                run_id,
                claimed_at,
                claimed_at,
            ),
        )
    cursor = execute_raw(
        sql.statement(sql.JOB_END, param),
        (
            decision.state.value,
            now,
            ended_at if decision.finished else None,
            decision.run_at,
            decision.given_back,
            worker_id if decision.keeps_worker else None,
            result.exit_code,
            result.output,
            result.output_bytes,
            result.error,
            job_id,
            worker_id,
            claimed_at,
            claimed_at,
        ),
    )
    if cursor.rowcount != 1:
        if result.outcome is RunOutcome.CANCELLED:
            execute_raw(
                sql.statement(sql.JOB_CANCELLED_OUTPUT, param),
                (result.exit_code, result.output, result.output_bytes, job_id, worker_id),
            )
        return Ending(None)
    taken_down = deps.after_end_locked(job_id, decision.state, now)
    still_blocked = ()
    if is_postgres() and decision.state in (JobState.COMPLETED, *deps.ENDED_BADLY):
        still_blocked = tuple(deps.blocked_dependents(job_id))
    return Ending(decision.state, tuple(taken_down), still_blocked)


def _pg_end_and_claim(
    ends: Sequence[tuple[Ended, Decision]], row: Registration, now: float
) -> list[tuple[JobState | None, Claim | None]]:
    """``end_locked`` then ``claim_locked`` as one PostgreSQL statement per ended attempt,
    all in one round trip and one transaction (``execute_together``).

    For each: the job's new state (``None``: no longer the worker's) and the job it claimed.
    """
    statement = sql.pg_end_and_claim_sql(len(row.queues))
    fetched = execute_together(
        statement,
        [_pg_params(item, decision, row, now) for item, decision in ends],
    )
    outcomes: list[tuple[JobState | None, Claim | None]] = []
    unblocked_any = False
    left_waiting: list[str] = []
    for (item, decision), (ended, unblocked, blocked, new_run_id, *job) in zip(
        ends, fetched, strict=True
    ):
        unblocked_any = unblocked_any or bool(unblocked)
        if ended == 1 and decision.state == JobState.COMPLETED and blocked > unblocked:
            left_waiting.append(item.claim.job.id)
        claimed = None if new_run_id is None else Claim(job=ClaimedJob(*job), run_id=new_run_id)
        outcomes.append((decision.state if ended == 1 else None, claimed))
    if unblocked_any:
        notify_new_work()  # on its own: the statements above committed already
    if left_waiting:
        # Dependents still blocked: one may have waited only for a job another finish
        # completed unseen by this statement (``deps.mend_locked``). Now that both may
        # have committed, a fresh look; of two such finishes, the later one's sees both.
        deps.mend((), now, dependents_of=left_waiting)
    return outcomes


def _pg_params(item: Ended, decision: Decision, row: Registration, now: float) -> dict[str, Any]:
    """The parameters of ``sql.pg_end_and_claim_sql`` for one ended attempt."""
    result = item.result
    ended_at = ended_time(result, now)
    return {
        "now": now,
        "ended_at": ended_at,
        "exit_code": result.exit_code,
        "outcome": result.outcome.value,
        "error": result.error,
        "output": result.output,
        "output_bytes": result.output_bytes,
        "pgid": item.pgid,
        "run": item.claim.run_id,
        "started": item.claim.job.started_at,
        "state": decision.state.value,
        "finished_at": ended_at if decision.finished else None,
        "run_at": decision.run_at,
        "given_back": decision.given_back,
        "holder": row.id if decision.keeps_worker else None,
        "job": item.claim.job.id,
        "ending": item.claim.job.id,  # not counted against its queue's limit
        "worker": row.id,
        "host": row.host,
        **sql.queue_values(row.queues),
    }


@translated
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


class Ownership(enum.Enum):
    """Whose a running attempt's job is now, as the worker running it must know."""

    OURS = "ours"
    CANCELLED = "cancelled"
    """Cancelled (or deleted) by a user: the worker kills the attempt as ``cancelled``."""
    TAKEN = "taken"
    """Recovered by another worker: the worker kills the attempt as ``lost``."""


@translated
def ownership(job_id: str, worker_id: str, claimed_at: float | None = None) -> Ownership:
    """Whether the job is still ``processing`` for this worker on this claim (its stamp,
    ``claimed_at``), and if not, why (one read).

    A worker that no longer owns its job kills the attempt instead of letting it run
    on unowned: also when the same worker claimed the job again after the database
    lost the claim this attempt runs under (two runs of one job would overlap).
    """
    row = (
        Job.select(Job.state, Job.worker_id, Job.started_at)
        .where(Job.id == job_id)
        .tuples()
        .first()
    )
    if row is None or row[0] == JobState.CANCELLED:
        return Ownership.CANCELLED
    same_claim = claimed_at is None or row[2] == claimed_at
    if row[0] == JobState.PROCESSING and row[1] == worker_id and same_claim:
        return Ownership.OURS
    return Ownership.TAKEN
