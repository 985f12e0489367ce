"""What users do to jobs: retry, cancel and delete (by id or by filter), purge; prune workers.

Each action's rule (which states it applies to, and whether it must wait for a
worker still stopping the job) is written once, as data in an ``Action``: the
guarded SQL that acts and the message that explains a refusal are both built
from it. Acting on many jobs never stops at the first that cannot be acted on:
``act`` does the others and says why each refused one was left.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import peewee

from queuectl.errors import InvalidTransition, JobNotFound, QueueError, ValidationError
from queuectl.lifecycle import deps, unique
from queuectl.lifecycle.reads import JOB_FIELDS_WITHOUT_OUTPUT, get_job, matching_jobs
from queuectl.states import ENDED_WORKER_STATES, HOLDABLE_STATES
from queuectl.store.boundary import translated
from queuectl.store.models import FINISHED_STATES, Dependency, Job, JobState, Run, Worker
from queuectl.store.transactions import (
    LOCK_WAIT_NOTICED,
    is_postgres,
    notify_new_work,
    stamped_write,
    write_transaction,
)
from queuectl.wording import listed

CHUNK = 500
"""Ids per statement: well under SQLite's limit on bound parameters."""

DEPENDENCY_DEAD = "dependency dead"
"""The reason a retry refuses a job waiting for a dependency still dead or cancelled."""


@dataclass(frozen=True)
class Action:
    """A change users make to jobs, and the rule for which jobs it may touch."""

    verb: str
    """As typed: ``retry``, ``cancel``, ``delete``."""
    result: str
    """What a changed job has become, as printed: ``pending``, ``cancelled``, ``deleted``."""
    participle: str
    """For messages: "only failed … jobs can be *retried*"."""
    why_not: str
    """Said of a job in a state it does not apply to: "job X is pending; *why_not*"."""
    allowed: tuple[JobState, ...]
    """The states it applies to (``--state`` may name only these)."""
    default: tuple[JobState, ...]
    """What ``--all`` or ``--queue`` alone selects: a subset of ``allowed``."""
    waits_for_worker: bool
    """Refused while the job's last attempt is still open: its worker is still
    stopping it, and the job must not run again (or free its id) meanwhile."""
    held: bool | None = None
    """Applies only to held jobs (``True``: release), only to others (``False``: hold)."""
    why_not_many: str = ""
    """``why_not`` said of several jobs at once, where it names one ("it can no longer be
    cancelled" after "2 completed, 1 dead" in the dashboard's summary of a batch)."""

    def why_not_for(self, count: int) -> str:
        """The reason a state refuses, for ``count`` jobs refused by it."""
        return self.why_not_many if count > 1 and self.why_not_many else self.why_not

    def applies_to(self, state: str, *, held: bool) -> bool:
        """Whether this action may touch a job in ``state``, held or not: ``condition``'s
        rule for one job already read (the dashboard offers only the keys that apply).
        A worker still stopping the job is not known from these; the write still checks."""
        return state in self.allowed and (self.held is None or self.held == held)

    def as_asked(self, state: JobState) -> Action:
        """This action, touching the job only while it is still in ``state``, the state a
        question named ("Delete job f1 (dead)?"): a retry from another shell meanwhile
        made it pending, and the ``y`` that answered deleted the pending job."""
        if state not in self.allowed:
            return self
        return replace(
            self,
            allowed=(state,),
            default=(state,),
            why_not=f"it was {state.value} when asked, so it was not {self.participle}",
            why_not_many=f"they were {state.value} when asked, so they were not {self.participle}",
        )

    def condition(self) -> peewee.Expression:
        """The SQL for "this action may touch this job", used by every write it makes."""
        allowed = Job.state.in_([state.value for state in self.allowed])
        if self.held is not None:
            allowed &= Job.held_at.is_null(not self.held)
        if not self.waits_for_worker:
            return allowed
        return allowed & Job.id.not_in(_open_attempts())

    def refusals(self, job_ids: Sequence[str]) -> Iterator[tuple[str, str, QueueError]]:
        """Why each of ``job_ids`` (just refused, in the same transaction) fails
        ``condition``, read in one statement, as (id, reason, error): the reason is
        the job's state, ``not found`` or ``being stopped``, for summaries that group.

        A job in an allowed state was refused only because its attempt is still open.
        """
        if not job_ids:
            return
        states = dict(Job.select(Job.id, Job.state).where(Job.id.in_(job_ids)).tuples())
        for job_id in job_ids:
            state = states.get(job_id)
            if state is None:
                yield job_id, "not found", JobNotFound(job_id)
            elif state not in self.allowed:
                yield job_id, state, InvalidTransition(f"job {job_id} is {state}; {self.why_not}")
            elif self.held is not None:
                reason = "not held" if self.held else "already held"
                yield job_id, reason, InvalidTransition(f"job {job_id} is {reason}")
            else:
                why = f"job {job_id} is still being stopped by its worker"
                yield (
                    job_id,
                    "being stopped",
                    InvalidTransition(f"{why}; {self.verb} it in a moment"),
                )


def _open_attempts() -> peewee.Select:
    """Jobs with an attempt not yet recorded (``finished_at`` is set with the outcome)."""
    return Run.select(Run.job).where(Run.finished_at.is_null())


def _names(states: Sequence[JobState]) -> str:
    words = [state.value for state in states]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


RETRY = Action(
    "retry",
    "pending",
    "retried",
    "only failed, dead, cancelled or completed jobs can be retried",
    allowed=(JobState.FAILED, JobState.DEAD, JobState.CANCELLED, JobState.COMPLETED),
    # A completed job runs again only when named (by id or --state completed).
    default=(JobState.FAILED, JobState.DEAD, JobState.CANCELLED),
    waits_for_worker=True,
)
CANCEL = Action(
    "cancel",
    "cancelled",
    "cancelled",
    "it can no longer be cancelled",
    allowed=(JobState.PENDING, JobState.BLOCKED, JobState.FAILED, JobState.PROCESSING),
    default=(JobState.PENDING, JobState.BLOCKED, JobState.FAILED, JobState.PROCESSING),
    waits_for_worker=False,
    why_not_many="they can no longer be cancelled",
)
DELETE = Action(
    "delete",
    "deleted",
    "deleted",
    "cancel it before deleting it",  # "job X is processing; cancel it before …"
    allowed=(
        JobState.PENDING,
        JobState.BLOCKED,
        JobState.FAILED,
        JobState.COMPLETED,
        JobState.DEAD,
        JobState.CANCELLED,
    ),
    default=tuple(JobState),  # running ones match, and are left, saying so
    waits_for_worker=True,
    why_not_many="they are running: cancel them before deleting them",
)
DLQ_RETRY = Action(
    "retry",
    "pending",
    "retried",
    "it is not in the DLQ",
    allowed=(JobState.DEAD,),
    default=(JobState.DEAD,),
    waits_for_worker=True,
    why_not_many="they are not in the DLQ",
)
"""``dlq retry``: a retry that only takes dead jobs."""
DLQ_DELETE = DELETE.as_asked(JobState.DEAD)
"""The dashboard DLQ's delete of marked jobs: only those still dead. A job retried from
another shell between the question and its answer had left the DLQ, and was deleted."""
HOLD = Action(
    "hold",
    "held",
    "held",
    "only a waiting (pending, blocked or failed) job can be held",
    allowed=HOLDABLE_STATES,
    default=HOLDABLE_STATES,
    waits_for_worker=False,
    held=False,
)
"""Keep a waiting job from starting (pueue's stash) until ``RELEASE``."""
RELEASE = Action(
    "release",
    "released",
    "released",
    "only a held job can be released",
    allowed=HOLDABLE_STATES,
    default=HOLDABLE_STATES,
    waits_for_worker=False,
    held=True,
)
ACTIONS = {action.verb: action for action in (RETRY, CANCEL, DELETE, HOLD, RELEASE)}


@dataclass
class Outcome:
    """What ``act`` did: the jobs it changed (as they are now, or were, for a delete) and
    one error per job it could not act on, each naming the job and why."""

    changed: list[Job] = field(default_factory=list)
    """The jobs it changed, unless ``act`` was asked for their count alone."""
    count: int = 0
    """How many jobs it changed."""
    refused: list[QueueError] = field(default_factory=list)
    refused_ids: list[str] = field(default_factory=list)
    """The job each of ``refused`` names, in the same order."""
    reasons: dict[str, list[str]] = field(default_factory=dict)
    """The refused ids by reason (a state, ``not found``, ``being stopped``, ``dependency
    dead``, ``key held``), for summaries."""
    revived: list[str] = field(default_factory=list)
    """Dependents a retry brought back to ``blocked`` (those its jobs had taken down)."""
    left_dead: dict[str, str] = field(default_factory=dict)
    """Dependents a retry could not bring back, with why (``deps.Revival``)."""
    taken_down: list[str] = field(default_factory=list)
    """Dependents a cancel or a delete sent ``dead`` (``deps.cascade_locked``): changed
    too, though not asked for by id."""

    def set_aside_moved(self) -> dict[str, list[str]]:
        """Take out the refusals of jobs that changed after a filter picked them
        (``MOVED_MEANWHILE``) and return them by reason, the largest group first: the
        filter no longer picks them, so they are left, not refused."""
        moved = {r: ids for r, ids in self.reasons.items() if r in MOVED_MEANWHILE}
        left = {job_id for ids in moved.values() for job_id in ids}
        pairs = zip(self.refused, self.refused_ids, strict=True)
        kept = [(error, job_id) for error, job_id in pairs if job_id not in left]
        self.refused = [error for error, _ in kept]
        self.refused_ids = [job_id for _, job_id in kept]
        for reason in moved:
            del self.reasons[reason]
        return dict(sorted(moved.items(), key=lambda item: -len(item[1])))


MOVED_MEANWHILE = frozenset({*(state.value for state in JobState), "not found", "being stopped"})
"""Reasons a job picked by a filter was refused because it changed after it was picked
(ended, started, deleted, its worker stopping it): the filter no longer picks it, so it
is left as it is, not refused (``cancel --queue Q`` while workers drain it)."""


Progress = Callable[[int, int], None]
"""Called after each chunk with (ids done, ids in all): a long batch says how far it is."""


@translated
def act(
    action: Action,
    job_ids: Iterable[str],
    *,
    now: float | None = None,
    progress: Progress | None = None,
    rows: bool = True,
) -> Outcome:
    """Apply ``action`` to every job it may touch among ``job_ids``: the one operation
    behind the CLI's ``ID…``/``--state``/``--queue``/``--all`` forms and the dashboard's
    marks.

    ``rows=False`` keeps only the count of the changed jobs (``Outcome.count``), not the
    jobs: the dashboard says how many, and holding 25,000 rows to count them left it
    60 MB larger for good.

    The ids go ``CHUNK`` at a time, each chunk in its own write transaction, so
    100,000 ids never hold the write lock for long (workers claim in between);
    inside a caller's transaction the chunks are savepoints, all or nothing. On
    PostgreSQL a chunk's jobs that another transaction holds are taken in later
    passes (``_lock_free``), so a batch never waits while it holds jobs. The
    jobs that cannot be acted on are left as they are and reported in
    ``Outcome.refused`` (an unknown id, a state the action does not apply to, a
    worker still stopping the job). Changed jobs come back without their output,
    in the order given.
    """
    now = time.time() if now is None else now
    ids = list(dict.fromkeys(job_ids))
    if action.verb == "retry":
        ids = deps.dependencies_first(ids)  # a chain comes back from its head
    elif action.verb in ("cancel", "delete") and len(ids) > CHUNK:
        # A chain goes from its tail: cancelled in an earlier chunk, a job took down the
        # dependents a later chunk was to cancel, and they went dead (to the DLQ), each
        # refused "is dead" (one chunk ends them all in one statement).
        ids = deps.dependencies_first(ids[::-1])[::-1]
    batch = frozenset(ids)
    outcome = Outcome()
    began = time.monotonic()
    for done, chunk in enumerate(_chunks(ids), start=1):
        changed: dict[str, Job] = {}
        refusals: list[tuple[str, str, QueueError]] = []
        todo = chunk
        for locking_pass in itertools.count():
            # A cancel that waited 14 s for another process's lock was stamped as ended
            # when it began to wait.
            # A long batch's later chunks are stamped when they are written: a job claimed
            # after the batch began, then cancelled, read as ended before it started.
            elapsed = time.monotonic() - began
            with stamped_write(now + elapsed if elapsed > LOCK_WAIT_NOTICED else now) as stamp:
                waits = not is_postgres() or locking_pass >= LOCK_PASSES
                free, busy = (todo, []) if waits else _lock_free(todo)
                now_changed, now_refused = _act_on_chunk(action, free, stamp, batch, outcome)
            if action.verb == "cancel" and now_changed and is_postgres():
                # A job added after one of these while the cancel ran, unseen by it, waits
                # for a cancelled job: looked at again now that both committed.
                mended = deps.mend((), stamp, dependents_of=list(now_changed))
                outcome.taken_down += [down.id for down in mended.taken_down]
            changed.update(now_changed)
            refusals += now_refused
            if not busy:
                break
            todo = busy  # held by a worker's claim or end, for a few ms: again, after them
            time.sleep(LOCK_PAUSE)
        outcome.count += len(changed)
        if rows:
            outcome.changed += [changed[job_id] for job_id in chunk if job_id in changed]
        for job_id, reason, error in refusals:
            outcome.refused.append(error)
            outcome.refused_ids.append(job_id)
            outcome.reasons.setdefault(reason, []).append(job_id)
        if progress is not None:
            progress(min(done * CHUNK, len(ids)), len(ids))
    return outcome


LOCK_PASSES = 100
"""PostgreSQL: passes over a chunk's jobs that other transactions hold before ``act``
waits for them; a pass is a few ms (``LOCK_PAUSE``), a worker's hold about as long."""
LOCK_PAUSE = 0.005


def _lock_free(ids: list[str]) -> tuple[list[str], list[str]]:
    """PostgreSQL: of ``ids``, those this transaction now holds (with the unknown ones,
    for ``act`` to report), and those another transaction holds, never waited for.

    A cancel of a queue being drained waited, holding the jobs it had changed, for one a
    worker had just claimed, while that worker's end-and-claim waited for the job it had
    run, which the cancel held: "deadlock detected", and the cancel failed part done
    (5 times in 6). A transaction that never waits while it holds takes no part in a cycle.
    """
    locked = Job.select(Job.id).where(Job.id.in_(ids)).for_update("FOR UPDATE SKIP LOCKED")
    held_here = {job_id for (job_id,) in locked.tuples()}
    if len(held_here) == len(ids):
        return ids, []  # the usual case: nothing held elsewhere, no second read
    stored = {job_id for (job_id,) in Job.select(Job.id).where(Job.id.in_(ids)).tuples()}
    busy = [job_id for job_id in ids if job_id in stored and job_id not in held_here]
    taken = set(busy)
    return [job_id for job_id in ids if job_id not in taken], busy


def _act_on_chunk(
    action: Action, ids: list[str], stamp: float, batch: frozenset[str], outcome: Outcome
) -> tuple[dict[str, Job], list[tuple[str, str, QueueError]]]:
    """``action`` on ``ids`` inside the caller's write transaction: the jobs changed, and
    why each other one was not; what became of dependents goes into ``outcome``."""
    if action.verb == "retry":
        retried, refusals, revival = _retry(action, ids, stamp, batch)
        changed = {job.id: job for job in retried}
        outcome.revived += revival.revived
        outcome.left_dead.update(revival.left_dead)
    else:
        applied, taken = _apply(action, ids, stamp)
        changed = {job.id: job for job in applied}
        outcome.taken_down += taken
        refusals = []
    answered = changed.keys() | {job_id for job_id, _, _ in refusals}
    refusals += action.refusals([i for i in ids if i not in answered])
    if changed and action.verb in ("retry", "release"):
        notify_new_work()
    return changed, refusals


def _apply(action: Action, ids: list[str], now: float) -> tuple[list[Job], list[str]]:
    """The jobs changed, and the dependents a cancel or a delete took down with them."""
    where = Job.id.in_(ids) & action.condition()
    if action.verb == "retry":
        query = Job.update(_PENDING_AGAIN | {"run_at": now, "updated_at": now}).where(where)
    elif action.verb in ("hold", "release"):
        held_at = now if action.verb == "hold" else None
        query = Job.update(held_at=held_at, updated_at=now).where(where)
    elif action.verb == "cancel":
        query = Job.update(
            state=JobState.CANCELLED.value,
            updated_at=now,
            finished_at=now,
            last_error="cancelled by user",
            held_at=None,  # a hold is on a waiting job: it ends with the job
        ).where(where)
    else:
        query = Job.delete().where(where)
    gone = list(query.returning(*JOB_FIELDS_WITHOUT_OUTPUT).execute())
    if action.verb == "delete" and gone:
        # The foreign key cascades; this covers a database opened without it.
        Run.delete().where(Run.job.in_([job.id for job in gone])).execute()
        Dependency.delete().where(Dependency.job.in_([job.id for job in gone])).execute()
    # A completed job deleted was done: its dependents may still run.
    ended = [job.id for job in gone if job.state != JobState.COMPLETED]
    taken: list[str] = []
    if action.verb in ("cancel", "delete") and ended:
        taken = [down.id for down in deps.cascade_locked(ended, action.result, now)]
    return gone, taken


@translated
def retry_refusals_by_dependency(job_ids: Sequence[str]) -> list[tuple[str, str, QueueError]]:
    """Of ``job_ids`` (each retriable by its state), the ones a retry of them all would
    refuse for a dependency still dead or cancelled (``deps.retry_plan``), as ``act``
    reports them: every one of them when none would be retried.

    For a question worth asking (the dashboard asks "Retry 2 marked jobs?" only when one
    would be): a read, chunk by chunk as the caller gives them. A job is retried in some
    chunk's plan exactly when it is in the whole batch's: the first retried in
    dependency order has no dependency dead outside the batch."""
    plan = deps.retry_plan(deps.dependencies_first(list(job_ids)))
    return [(job_id, DEPENDENCY_DEAD, error) for job_id, error in plan.refused.items()]


def _retry(
    action: Action, ids: list[str], now: float, batch: frozenset[str]
) -> tuple[list[Job], list[tuple[str, str, QueueError]], deps.Revival]:
    """Retry what ``action`` may touch among ``ids`` (dependencies first), each to
    ``pending`` or ``blocked`` as ``deps.retry_plan`` says; then revive the dependents
    they took down. Returns the retried jobs, the refusals of the rules here (a
    dependency still dead, a unique key another active job holds now) and what became of
    the dependents."""
    eligible = dict(
        Job.select(Job.id, Job.unique_key).where(Job.id.in_(ids) & action.condition()).tuples()
    )
    refusals: list[tuple[str, str, QueueError]] = []
    held = unique.holders(key for key in eligible.values() if key is not None)
    planned: list[str] = []
    for job_id in (i for i in ids if i in eligible):
        key = eligible[job_id]
        holder = held.get(key) if key is not None else None
        if key is not None and holder is not None and holder[0] != job_id:
            refusals.append(
                (job_id, "key held", unique.taken(key, holder, where=f"job {job_id}: "))
            )
            continue
        if key is not None:
            held[key] = (job_id, "retried by this command")
        planned.append(job_id)
    plan = deps.retry_plan(planned)
    refusals += [(i, DEPENDENCY_DEAD, error) for i, error in plan.refused.items()]
    changed: list[Job] = []
    with unique.guarded({eligible[i]: f"job {i}: " for i in plan.states if eligible[i]}):
        for state in (JobState.PENDING, JobState.BLOCKED):
            group = [job_id for job_id, to in plan.states.items() if to == state]
            if not group:
                continue
            values = _PENDING_AGAIN | {"state": state.value, "run_at": now, "updated_at": now}
            query = Job.update(values).where(Job.id.in_(group) & action.condition())
            changed += query.returning(*JOB_FIELDS_WITHOUT_OUTPUT).execute()
    deps.reblock_locked([job.id for job in changed], now)  # a completed job run again
    revival = deps.revive_locked([job.id for job in changed], now, skip=batch)
    order = {job_id: position for position, job_id in enumerate(ids)}
    return sorted(changed, key=lambda job: order[job.id]), refusals, revival


_PENDING_AGAIN: dict[str, object] = {
    "state": JobState.PENDING.value,
    "attempts": 0,
    "started_at": None,  # the last run's, which show printed for a job not started again
    "finished_at": None,
    "worker_id": None,
    "exit_code": None,
    "last_error": None,
    "taken_down_by": None,
}
"""A retried job: a fresh set of attempts, due now (``run_at`` and ``updated_at`` added).

A hold stays: it ends with the job, and a retry does not end it. A failed job held while
someone looked into it lost its hold to ``retry``, silently, and ran."""


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


@dataclass(frozen=True)
class Selection:
    """The jobs a filter picks for an action, and how many it matched but must leave."""

    ids: list[str]
    left: int
    """Matched, but running or still being stopped by their worker."""


@translated
def select(
    action: Action,
    *,
    states: Sequence[JobState] = (),
    queue: str | None = None,
    finished_by: float | None = None,
) -> Selection:
    """The ids ``--state``/``--queue``/``--all`` pick for ``action``, oldest first.

    Filters combine with AND; without ``states``, the action's default states.
    ``finished_by``: only jobs that ended by then (those a question counted).

    Raises:
        ValidationError: a state the action never applies to (deleting running
            jobs, cancelling finished ones).
    """
    wrong = [state for state in states if state not in action.allowed]
    if wrong:
        if action is DELETE and JobState.PROCESSING in wrong:
            raise ValidationError("running jobs are never deleted: cancel them first")
        raise ValidationError(
            f"only {_names(action.allowed)} jobs can be {action.participle}, not {_names(wrong)}"
        )
    candidates = matching_jobs(states=list(states) or list(action.default), queue=queue)
    if finished_by is not None:
        candidates = candidates.where(_finished_by(finished_by))
    # One read for both: counted apart, the jobs left came out negative ("-2 matching
    # jobs left") while workers moved jobs between the two.
    picked = candidates.select(Job.id, action.condition().alias("applies")).order_by(Job.seq)
    ids, left = [], 0
    for job_id, applies in picked.tuples():
        if applies:
            ids.append(job_id)
        else:
            left += 1
    return Selection(ids, left)


# --- the all-or-nothing forms, for one job (the dashboard) or a set that must move together


@translated
def retry(job_ids: Iterable[str], *, now: float | None = None) -> list[str]:
    """Send failed, dead, cancelled or completed jobs back to pending with fresh retries.

    All or nothing: if one id is unknown or cannot be retried, nothing changes.

    Raises:
        JobNotFound, InvalidTransition.
    """
    with write_transaction():
        outcome = act(RETRY, job_ids, now=now)
        if outcome.refused:
            raise outcome.refused[0]
    return [job.id for job in outcome.changed]


@translated
def cancel(job_id: str, *, now: float | None = None) -> Job:
    """Cancel a waiting or running job. A running job's worker notices and kills it.

    Raises:
        JobNotFound, InvalidTransition: the job already finished.
    """
    outcome = act(CANCEL, [job_id], now=now)
    if outcome.refused:
        raise outcome.refused[0]
    return get_job(job_id)


@translated
def delete(job_id: str) -> None:
    """Delete a job that is not running, with its runs.

    Raises:
        JobNotFound, InvalidTransition: the job is running (cancel it first), or
            was cancelled and its worker is still stopping it: deleting it then
            would free its id for a new job while the old attempt still runs.
    """
    outcome = act(DELETE, [job_id])
    if outcome.refused:
        raise outcome.refused[0]


@translated
def retry_dead(
    *, now: float | None = None, died_by: float | None = None, rows: bool = True
) -> Outcome:
    """Every job in the DLQ back to pending (or blocked); what ``act`` did (``rows``: as
    there).

    ``died_by``: only the jobs that died by then, the ones a question counted (the
    dashboard's "Retry all 131 dead jobs?" retried 137 while jobs kept dying).
    """
    return act(DLQ_RETRY, select(DLQ_RETRY, finished_by=died_by).ids, now=now, rows=rows)


def still_dead_said(outcome: Outcome) -> str:
    """Why a retry of the DLQ left jobs dead, for ``dlq retry --all`` and the dashboard's
    ``R`` alike (the dashboard's said only "0 dead jobs back to pending or blocked")."""
    said = []
    for reason, why in (
        (DEPENDENCY_DEAD, "waiting for a dependency still cancelled or dead (retry that first)"),
        ("key held", "their unique key held by another active job"),
    ):
        left = outcome.reasons.get(reason, [])
        if left:
            said.append(f"{len(left):,} left dead, {why}: {listed(left[:3], len(left))}")
    return "; ".join(said)


@translated
def purge(states: Sequence[JobState], *, older_than: float = 0.0, now: float | None = None) -> int:
    """Delete finished jobs (completed, dead, cancelled) that finished over ``older_than`` s ago.

    Raises:
        InvalidTransition: a state that is not finished was asked for.
    """
    now = time.time() if now is None else now
    for state in states:
        if state not in FINISHED_STATES:
            raise InvalidTransition(
                f"only finished jobs can be purged (completed, dead, cancelled), not {state}"
            )
    values = [state.value for state in states]
    # A cancelled job whose worker is still stopping it waits for the next purge.
    # Nor a job an unfinished job depends on: its dependents would lose track of it.
    condition = (
        Job.state.in_(values)
        & _finished_by(now - older_than)
        & Job.id.not_in(_open_attempts())
        & Job.id.not_in(deps.needed_by_unfinished())
    )
    with write_transaction():
        doomed = Job.select(Job.id).where(condition)
        Run.delete().where(Run.job.in_(doomed)).execute()
        Dependency.delete().where(Dependency.job.in_(doomed)).execute()
        return Job.delete().where(condition).execute()


def _finished_by(cutoff: float) -> peewee.Expression:
    """The job ended by ``cutoff`` (one that never ran: when it last changed)."""
    return peewee.fn.COALESCE(Job.finished_at, Job.updated_at) <= cutoff


@translated
def prune_workers(*, older_than: float = 0.0, now: float | None = None) -> list[Worker]:
    """Delete the rows of workers that ended over ``older_than`` seconds ago; returns them.

    Only stopped and lost workers go: a live worker's row is how it is found
    and stopped. (A dead worker not yet marked lost is marked by recovery
    first: see ``supervisor.prune``.)
    """
    cutoff = (time.time() if now is None else now) - older_than
    ended = Worker.state.in_([state.value for state in ENDED_WORKER_STATES])
    condition = ended & (peewee.fn.COALESCE(Worker.stopped_at, Worker.heartbeat_at) <= cutoff)
    with write_transaction():
        doomed = list(Worker.select().where(condition).order_by(Worker.started_at, Worker.id))
        Worker.delete().where(Worker.id.in_([w.id for w in doomed])).execute()
    return doomed
