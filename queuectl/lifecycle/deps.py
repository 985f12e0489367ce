"""Dependencies between jobs (the job key ``after``): the one home of their rules.

A job with an unfinished dependency is ``blocked``; the claim never sees it
(its state is not a claimable one). What moves it:

- its last dependency completes: ``unblock_locked``, in the transaction that
  records the completion (``finish.end_locked``; on PostgreSQL's one-statement
  finish, the same ``sql.UNBLOCK`` as a part of that statement);
- a dependency ends dead or cancelled, or is deleted: ``cascade_locked`` sends
  its blocked dependents, transitively, to ``dead`` without running (finish,
  recovery, cancel and delete all call it);
- that dependency is retried: ``revive_locked`` brings back the dependents it
  took down (``taken_down_by``) to ``blocked``.

``retry_plan`` decides where a retried job goes (pending, blocked, or refused
while a dependency is still dead), for ``manage`` and ``edit`` alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import peewee

from queuectl.errors import InvalidTransition, JobNotFound, QueueError
from queuectl.jobspec import JobSpec
from queuectl.states import JobState
from queuectl.store import sql
from queuectl.store.boundary import translated
from queuectl.store.models import Dependency, Job, database
from queuectl.store.transactions import (
    execute_many,
    execute_raw,
    notify_new_work,
    write_transaction,
)

CHUNK = 500
"""Ids per ``IN (…)``: well under SQLite's limit on bound parameters."""

ENDED_BADLY = (JobState.DEAD, JobState.CANCELLED)
"""A dependency in one of these will never complete: its dependents cannot run."""


class TakenDown(NamedTuple):
    """A dependent ``cascade_locked`` sent dead: what its ``on_failure`` hook is told."""

    id: str
    command: str
    queue: str
    attempts: int
    on_failure: str | None


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def _states(job_ids: Iterable[str]) -> dict[str, str]:
    wanted = list(dict.fromkeys(job_ids))
    states: dict[str, str] = {}
    for chunk in _chunks(wanted):
        states.update(Job.select(Job.id, Job.state).where(Job.id.in_(chunk)).tuples())
    return states


def dependencies_of_many(job_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each job's dependencies (ids, in the order given at enqueue), for jobs that have any."""
    found: dict[str, list[str]] = {}
    for chunk in _chunks(job_ids):
        query = (
            Dependency.select(Dependency.job, Dependency.depends_on)
            .where(Dependency.job.in_(chunk))
            .order_by(Dependency.job, Dependency.position)
        )
        for job_id, depends_on in query.tuples():
            found.setdefault(job_id, []).append(depends_on)
    return found


# --- enqueue ------------------------------------------------------------------------------


def for_a_copy(job_id: str) -> tuple[str, ...]:
    """The ``after`` of a copy of ``job_id`` (``clone``): its dependencies still stored,
    since one that is gone (deleted, or purged once it completed) holds nothing back.

    Raises:
        InvalidTransition: a dependency is dead or cancelled, which the copy could never
            get past; the message says to retry it (a clone cannot leave it out).
    """
    return copied_dependencies(job_id, dependencies_of_many([job_id]).get(job_id, []))


def copied_dependencies(job_id: str, after: Sequence[str]) -> tuple[str, ...]:
    """``for_a_copy`` of a job whose dependencies were read before (``after``): the
    job itself may be gone since (an edit of a job deleted meanwhile, enqueued anew)."""
    stored = _states(after)
    for dependency in after:
        if stored.get(dependency) in ENDED_BADLY:
            raise InvalidTransition(
                f"job {job_id} runs after {dependency}, which is {stored[dependency]}:"
                f" a copy could never run; retry {dependency} first"
            )
    return tuple(dependency for dependency in after if dependency in stored)


def initial_states(
    specs: Sequence[JobSpec], given: Sequence[str | None], *, lines: Sequence[int] | None = None
) -> list[JobState]:
    """The state each new job starts in, checking its ``after`` ids; inside the enqueue's
    write transaction, so the dependencies cannot change before the jobs are stored.

    ``given``: the specs' own ids (``None``: generated, so no later
    line can name it). ``lines``: each spec's line in the file, for messages (by
    default its position, and none for a single job). A dependency may be an existing
    job, or a job earlier in the same batch (which is new, so its dependents start
    ``blocked``).

    Raises:
        JobNotFound: a dependency neither exists nor comes earlier in the batch.
        InvalidTransition: a dependency is dead or cancelled: the job could never run.
    """
    wanted = {job_id for spec in specs for job_id in spec.after}
    if not wanted:
        return [JobState.PENDING] * len(specs)
    stored = _states(wanted)
    earlier: set[str] = set()
    states: list[JobState] = []
    for position, (spec, own) in enumerate(zip(specs, given, strict=True)):
        if lines is not None:
            where = f"line {lines[position]}: "
        else:
            where = f"line {position + 1}: " if len(specs) > 1 else ""
        state = JobState.PENDING
        for dependency in spec.after:
            if dependency in earlier:
                state = JobState.BLOCKED
                continue
            found = stored.get(dependency)
            if found is None:
                later = _later_line(dependency, given, position, lines)
                raise JobNotFound.because(
                    dependency, f"{where}no job with id {dependency!r} to run after{later}"
                )
            if found in ENDED_BADLY:
                raise InvalidTransition(
                    f"{where}dependency {dependency} is {found}; retry it first, or leave it out"
                )
            if found != JobState.COMPLETED:
                state = JobState.BLOCKED
        if own is not None:
            earlier.add(own)
        states.append(state)
    return states


def _later_line(
    dependency: str, given: Sequence[str | None], position: int, lines: Sequence[int] | None
) -> str:
    """Where a dependency comes later in the same batch, said as a hint: the refusal
    named a job the file holds, with no word of why."""
    for index in range(position + 1, len(given)):
        if given[index] == dependency:
            line = lines[index] if lines is not None else index + 1
            return f" yet (it is on line {line}: put a job after the jobs it runs after)"
    return ""


def forget_dependents_of_gone(job_ids: Sequence[str]) -> None:
    """New jobs take ``job_ids``: the dependency rows still naming a deleted or purged
    job of such an id are dropped, so its former dependents do not wait for the new
    job. A job named ``build``, purged and enqueued again, took over the old one's
    dependents: a job that had run after the old ``build`` was taken down when the new
    one was cancelled, and a retried dependent and a new job could wait for each other."""
    for chunk in _chunks(job_ids):
        Dependency.delete().where(Dependency.depends_on.in_(chunk)).execute()


def store_locked(pairs: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Write the dependency rows of new jobs: (job id, its ``after`` ids)."""
    rows = [
        (job_id, depends_on, position)
        for job_id, after in pairs
        for position, depends_on in enumerate(after)
    ]
    if rows:
        param = database.obj.param
        execute_many(
            "INSERT INTO queuectl_dependency (job_id, depends_on, position)"
            f" VALUES ({param}, {param}, {param})",
            rows,
        )


# --- a job's end --------------------------------------------------------------------------


def unblock_locked(job_id: str, now: float) -> int:
    """``job_id`` just completed: its dependents waiting for nothing else become pending.

    Inside the completing transaction; returns how many (workers are woken if any).
    """
    cursor = execute_raw(sql.statement(sql.UNBLOCK, database.obj.param), (now, job_id, job_id))
    if cursor.rowcount:
        notify_new_work()
    return cursor.rowcount


def after_end_locked(job_id: str, state: JobState, now: float) -> list[TakenDown]:
    """What a job's new state does to its dependents: the one call ``finish.end_locked``
    (a worker's result, recovery's lost attempts) makes once the job moved on.
    Returns the dependents it sent dead, whose ``on_failure`` the caller runs."""
    if state == JobState.COMPLETED:
        unblock_locked(job_id, now)
    elif state in ENDED_BADLY:
        return cascade_locked([job_id], state.value, now)
    return []


@dataclass(frozen=True)
class Mended:
    """What ``mend_locked`` moved: jobs unblocked, and jobs taken down."""

    unblocked: tuple[str, ...] = ()
    taken_down: tuple[TakenDown, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.unblocked or self.taken_down)


def mend_locked(job_ids: Sequence[str] | None, now: float) -> Mended:
    """Blocked jobs (of ``job_ids``, or all) that no rule moved: those whose dependencies
    have all completed become pending, those waiting for a dead or cancelled one go dead.

    On PostgreSQL, at read committed, two transactions can each miss what the other
    writes: two branches of a join completing at once each see the other still running
    and neither unblocks the join; a job added ``after`` one that completes (or is
    cancelled) at that moment is stored blocked while the completion, not seeing it yet,
    unblocks (or takes down) nothing. Each rule is right in its own snapshot, and the
    job waits for ever. A statement begun after both committed sees both: the finish
    and the enqueue call ``mend`` once committed when such a race was possible, and the
    workers sweep every blocked job once a minute (``recovery.mend_blocked``) for a
    process that died in between. SQLite has one writer at a time: nothing to mend.
    """
    if job_ids is None:
        return _mend_some(None, now)
    mended = [_mend_some(chunk, now) for chunk in _chunks(job_ids)]
    return Mended(
        tuple(job_id for part in mended for job_id in part.unblocked),
        tuple(down for part in mended for down in part.taken_down),
    )


def _mend_some(job_ids: list[str] | None, now: float) -> Mended:
    """``mend_locked`` for at most ``CHUNK`` ids, or for every blocked job."""
    param = database.obj.param
    restrict, values = "", []
    if job_ids is not None:
        restrict = f" AND id IN ({', '.join([param] * len(job_ids))})"
        values = job_ids
    cursor = execute_raw(
        sql.statement(sql.MEND_BLOCKED, param) + restrict + " RETURNING id", [now, *values]
    )
    unblocked = tuple(job_id for (job_id,) in cursor.fetchall())
    if unblocked:
        notify_new_work()
    waiting = (
        Dependency.select(Dependency.depends_on)
        .join(Job, on=(Job.id == Dependency.job))
        .where(Job.state == JobState.BLOCKED.value)
    )
    if job_ids is not None:
        waiting = waiting.where(Dependency.job.in_(job_ids))
    ended = list(
        Job.select(Job.id, Job.state).where(
            Job.id.in_(waiting), Job.state.in_([state.value for state in ENDED_BADLY])
        )
    )
    taken: list[TakenDown] = []
    for state in ENDED_BADLY:
        ids = [job.id for job in ended if job.state == state.value]
        if ids:
            taken += cascade_locked(ids, state.value, now)
    return Mended(unblocked, tuple(taken))


def mend(job_ids: Sequence[str], now: float, *, dependents_of: Sequence[str] = ()) -> Mended:
    """``mend_locked`` for ``job_ids`` and the blocked dependents of ``dependents_of``, in
    a transaction of its own, begun after the caller's committed.

    Best effort: the caller's change is committed and stands, so a database that went
    away in between is not its failure; the workers' sweep mends it then.
    """
    if not job_ids and not dependents_of:
        return Mended()
    try:
        return _mend_now(job_ids, dependents_of, now)
    except QueueError:
        return Mended()


@translated
def _mend_now(job_ids: Sequence[str], dependents_of: Sequence[str], now: float) -> Mended:
    waiting = [*job_ids, *(job for done in dependents_of for job in blocked_dependents(done))]
    if not waiting:
        return Mended()
    with write_transaction():
        return mend_locked(waiting, now)


def blocked_dependents(job_id: str) -> list[str]:
    """The blocked jobs waiting for ``job_id``, as of now."""
    waiting = Dependency.select(Dependency.job).where(Dependency.depends_on == job_id)
    query = Job.select(Job.id).where(Job.id.in_(waiting), Job.state == JobState.BLOCKED.value)
    return [job.id for job in query]


def cascade_locked(job_ids: Sequence[str], how: str, now: float) -> list[TakenDown]:
    """``job_ids`` ended ``how`` (dead, cancelled, deleted): their blocked dependents,
    and theirs in turn, go ``dead`` without running; returns those taken down.

    Each names the dependency that took it down (``last_error`` and ``taken_down_by``),
    which is how ``revive_locked`` finds it when that dependency is retried.
    """
    taken: list[TakenDown] = []
    frontier = [(job_id, how) for job_id in _having_dependents(job_ids)]
    while frontier:
        following: list[tuple[str, str]] = []
        for dependency, ended in frontier:
            said = "was deleted" if ended == "deleted" else f"is {ended}"
            waiting = Dependency.select(Dependency.job).where(Dependency.depends_on == dependency)
            query = Job.update(
                state=JobState.DEAD.value,
                finished_at=now,
                updated_at=now,
                last_error=f"dependency {dependency} {said}",
                taken_down_by=dependency,
                held_at=None,  # a hold is on a waiting job: it ends with the job
            ).where((Job.state == JobState.BLOCKED.value) & Job.id.in_(waiting))
            returned = (Job.id, Job.command, Job.queue, Job.attempts, Job.on_failure)
            for fields in query.returning(*returned).tuples().execute():
                taken.append(TakenDown(*fields))
                following.append((fields[0], JobState.DEAD.value))
        frontier = [(job_id, ended) for job_id, ended in following if _having_dependents([job_id])]
    return taken


@translated
def would_take_down(job_ids: Sequence[str]) -> list[str]:
    """The blocked jobs a cancel or delete of ``job_ids`` would take down now: those
    waiting for them, and for those in turn, as ``cascade_locked`` sends them dead.

    A read, for a question asked before the change (the dashboard's "3 blocked jobs
    waiting for it go dead with it"): the jobs it has shown may be filtered or cut."""
    down: list[str] = []
    seen = set(job_ids)
    frontier = list(job_ids)
    while frontier:
        found: list[str] = []
        for chunk in _chunks(frontier):
            waiting = Dependency.select(Dependency.job).where(Dependency.depends_on.in_(chunk))
            query = (
                Job.select(Job.id)
                .where((Job.state == JobState.BLOCKED.value) & Job.id.in_(waiting))
                .order_by(Job.seq)
            )
            found += [job_id for (job_id,) in query.tuples() if job_id not in seen]
        seen.update(found)
        down += found
        frontier = found
    return down


def _having_dependents(job_ids: Sequence[str]) -> list[str]:
    """Those of ``job_ids`` some job depends on (one indexed read per chunk)."""
    having: set[str] = set()
    for chunk in _chunks(list(job_ids)):
        query = Dependency.select(Dependency.depends_on).where(Dependency.depends_on.in_(chunk))
        having.update(depends_on for (depends_on,) in query.distinct().tuples())
    return [job_id for job_id in job_ids if job_id in having]


# --- retry --------------------------------------------------------------------------------


@dataclass
class RetryPlan:
    """Where each retried job goes, and why the others cannot be retried now."""

    states: dict[str, JobState] = field(default_factory=dict)
    """Retried jobs, in the order to retry them: ``pending`` or ``blocked``."""
    refused: dict[str, QueueError] = field(default_factory=dict)
    """Jobs that wait for a dependency still dead or cancelled outside the batch."""


def retry_plan(job_ids: Sequence[str]) -> RetryPlan:
    """Where ``job_ids`` (retriable, in dependencies-first order) go when retried together.

    A job goes ``blocked`` while a dependency is unfinished or retried with it,
    ``pending`` when every dependency completed (or was since purged), and is
    refused while one is dead or cancelled and not retried in the same batch.
    """
    plan = RetryPlan()
    needs = dependencies_of_many(job_ids)
    stored = _states(dependency for after in needs.values() for dependency in after)
    for job_id in job_ids:
        state = JobState.PENDING
        for dependency in needs.get(job_id, ()):
            if dependency in plan.states:
                state = JobState.BLOCKED
                continue
            found = stored.get(dependency)
            if found is None or found == JobState.COMPLETED:
                continue
            if found in ENDED_BADLY:
                plan.refused[job_id] = InvalidTransition(
                    f"job {job_id} waits for dependency {dependency}, which is {found};"
                    f" retry {dependency} first (or both together)"
                )
                break
            state = JobState.BLOCKED
        else:
            plan.states[job_id] = state
    return plan


def dependencies_first(job_ids: Sequence[str]) -> list[str]:
    """``job_ids`` reordered so that a job comes after its dependencies among them,
    otherwise in the order given (a batch retry revives a chain from its head)."""
    members = set(job_ids)
    needs = {
        job_id: [d for d in after if d in members and d != job_id]
        for job_id, after in dependencies_of_many(job_ids).items()
    }
    if not any(needs.values()):
        return list(job_ids)
    ordered: list[str] = []
    placed: set[str] = set()

    def place(job_id: str, trail: frozenset[str]) -> None:
        if job_id in placed or job_id in trail:
            return
        for dependency in needs.get(job_id, ()):
            place(dependency, trail | {job_id})
        placed.add(job_id)
        ordered.append(job_id)

    for job_id in job_ids:
        place(job_id, frozenset())
    return ordered


@dataclass(frozen=True)
class Revival:
    """What a retry did to the dependents its jobs had taken down: those back to
    ``blocked``, and those left dead with why (``left_dead``), which a person must hear
    of: the retry itself succeeded."""

    revived: list[str]
    left_dead: dict[str, str]


def revive_locked(job_ids: Sequence[str], now: float, *, skip: Iterable[str] = ()) -> Revival:
    """``job_ids`` were just retried: the dependents they took down come back ``blocked``,
    transitively. Inside the retry's transaction.

    A dependent that also waits for another dependency still dead or cancelled
    stays dead, now naming that one (retrying it revives the dependent); so does one
    that sibling took down, which waits for a retried job too. ``skip``:
    jobs the same batch retries itself. A dependent whose unique key another
    active job took meanwhile stays dead too, saying so.
    """
    from queuectl.lifecycle import unique

    skipped = set(skip)
    revived: list[str] = []
    left_dead: dict[str, str] = {}
    keys_back: dict[str, tuple[str, str]] = {}  # keys the revived take, in this call
    frontier = list(job_ids)
    while frontier:
        candidates: list[tuple[str, str | None]] = []
        for chunk in _chunks(frontier):
            # Taken down by these jobs, or by a sibling dependency while it also waits
            # for one of these (a diamond's join): brought back if nothing else still
            # holds it, else named as left dead, never passed over in silence.
            waiting = Dependency.select(Dependency.job).where(Dependency.depends_on.in_(chunk))
            query = Job.select(Job.id, Job.unique_key).where(
                (Job.state == JobState.DEAD.value)
                & (
                    Job.taken_down_by.in_(chunk)
                    | (Job.taken_down_by.is_null(False) & Job.id.in_(waiting))
                )
            )
            candidates += [row for row in query.order_by(Job.seq).tuples() if row[0] not in skipped]
        if not candidates:
            break
        ids = [job_id for job_id, _ in candidates]
        needs = dependencies_of_many(ids)
        stored = _states(d for after in needs.values() for d in after)
        back: list[str] = []
        for job_id, key in candidates:
            still = next(
                (d for d in needs.get(job_id, ()) if stored.get(d) in ENDED_BADLY),
                None,
            )
            holder = None
            if key is not None:
                holder = keys_back.get(key) or unique.holder(key, besides=job_id)
            if still is not None:
                left_dead[job_id] = f"dependency {still} is {stored[still]}"
                Job.update(
                    last_error=left_dead[job_id],
                    taken_down_by=still,
                    updated_at=now,
                ).where(Job.id == job_id).execute()
            elif key is not None and holder is not None:
                left_dead[job_id] = unique.held_message(key, holder)
                Job.update(
                    last_error=f"{left_dead[job_id]} (not revived)",
                    taken_down_by=None,
                    updated_at=now,
                ).where(Job.id == job_id).execute()
            else:
                if key is not None:
                    keys_back[key] = (job_id, JobState.BLOCKED.value)
                back.append(job_id)
        for chunk in _chunks(back):
            Job.update(
                state=JobState.BLOCKED.value,
                finished_at=None,
                last_error=None,
                taken_down_by=None,
                attempts=0,
                exit_code=None,
                updated_at=now,
            ).where(Job.id.in_(chunk) & (Job.state == JobState.DEAD.value)).execute()
        revived += back
        skipped.update(back)
        frontier = back
    # A job left for a sibling still dead is revived once that sibling is (a diamond:
    # deploy after build and test, both taken down by build): not left dead after all.
    back_again = set(revived)
    return Revival(
        revived, {job_id: why for job_id, why in left_dead.items() if job_id not in back_again}
    )


def reblock_locked(job_ids: Sequence[str], now: float) -> int:
    """``job_ids`` were just retried: their dependents that may start (pending, or failed
    and due again) wait again, so that no job starts while a dependency is unfinished."""
    changed = 0
    for chunk in _chunks(list(job_ids)):
        waiting = Dependency.select(Dependency.job).where(Dependency.depends_on.in_(chunk))
        changed += (
            Job.update(state=JobState.BLOCKED.value, updated_at=now)
            .where(
                Job.state.in_([JobState.PENDING.value, JobState.FAILED.value]) & Job.id.in_(waiting)
            )
            .execute()
        )
    return changed


# --- purge --------------------------------------------------------------------------------


def needed_by_unfinished() -> peewee.ModelSelect:
    """The ids some unfinished job depends on: purge leaves them (a subquery)."""
    finished = [JobState.COMPLETED.value, JobState.DEAD.value, JobState.CANCELLED.value]
    waiting = Job.alias("waiting")  # not the purge's own job table, whatever peewee names it
    return (
        Dependency.select(Dependency.depends_on)
        .join(waiting, on=(waiting.id == Dependency.job))
        .where(waiting.state.not_in(finished))
    )


# --- reads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A job at the other end of a dependency, as ``show`` and the dashboard list it."""

    id: str
    state: str | None
    """``None``: the job was deleted or purged since."""
    command: str | None


@translated
def links(job_id: str, *, limit: int | None = None) -> tuple[list[Link], list[Link]]:
    """A job's dependencies (in the order given) and its dependents (in enqueue order);
    ``limit``: the first of each only (``link_counts`` says how many there are).

    Raises:
        JobNotFound: no such job.
    """
    if not Job.select().where(Job.id == job_id).exists():
        raise JobNotFound(job_id)
    first = (
        Dependency.select(Dependency.depends_on)
        .where(Dependency.job == job_id)
        .order_by(Dependency.position)
        .limit(limit)
    )
    after = [depends_on for (depends_on,) in first.tuples()]
    known = {
        row[0]: row
        for chunk in _chunks(after)
        for row in Job.select(Job.id, Job.state, Job.command).where(Job.id.in_(chunk)).tuples()
    }
    dependencies = [Link(d, *(known[d][1:] if d in known else (None, None))) for d in after]
    query = (
        Job.select(Job.id, Job.state, Job.command)
        .join(Dependency, on=(Dependency.job == Job.id))
        .where(Dependency.depends_on == job_id)
        .order_by(Job.seq)
    )
    dependents = [Link(*row) for row in query.limit(limit).tuples()]
    return dependencies, dependents


@translated
def link_counts(job_id: str) -> tuple[int, int]:
    """How many dependencies and dependents a job has (``links`` with a ``limit``)."""
    count = peewee.fn.COUNT(peewee.SQL("*"))
    after = Dependency.select(count).where(Dependency.job == job_id).scalar() or 0
    before = Dependency.select(count).where(Dependency.depends_on == job_id).scalar() or 0
    return after, before


@translated
def waiting_for(job_ids: Sequence[str]) -> dict[str, list[str]]:
    """For each of ``job_ids`` that has any, its dependencies not yet completed: what a
    blocked job waits for (the dashboard's Jobs pane, ``list``)."""
    needs = dependencies_of_many(job_ids)
    stored = _states(d for after in needs.values() for d in after)
    return {
        job_id: [d for d in after if stored.get(d, JobState.COMPLETED) != JobState.COMPLETED]
        for job_id, after in needs.items()
    }
