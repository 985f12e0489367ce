"""Reading jobs, runs and workers: what ``list``, ``show``, ``status`` and the dashboard ask.

Nothing here writes. Every filter a user can type (state, queue, search) is
turned into SQL in ``matching_jobs``, so ``list``, its count and the batch
forms of ``retry``/``cancel``/``delete`` select the same jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import peewee

from queuectl.errors import JobNotFound
from queuectl.states import (
    ENDED_WORKER_STATES,
    FINISHED_STATES,
    FORCED_STOP,
    SORTED_STATES,
    RunOutcome,
)
from queuectl.store import sql
from queuectl.store.boundary import translated
from queuectl.store.models import CLAIMABLE_STATES, Job, JobState, Run, Worker, database
from queuectl.store.transactions import is_postgres

JOB_FIELDS_WITHOUT_OUTPUT = tuple(
    field for field in Job._meta.sorted_fields if field is not Job.output
)
"""Every job column but ``output``, which may hold megabytes per job."""


@translated
def get_job(job_id: str) -> Job:
    """The job with this id.

    Raises:
        JobNotFound: no such job.
    """
    job = Job.get_or_none(Job.id == job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


@translated
def runs_of(job_id: str) -> list[Run]:
    """Every attempt of a job, oldest first."""
    return list(Run.select().where(Run.job == job_id).order_by(Run.id))


@translated
def running_attempts(job_ids: Sequence[str]) -> dict[str, Run]:
    """The run not yet ended of each of these jobs that has one (the attempt running
    now), by job id, without its output: its ``output_bytes`` is the job's latest while
    the job's own columns still hold the last ended run's (``records.with_running``)."""
    found: dict[str, Run] = {}
    ids = list(job_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = Run.select(Run.job, Run.run, Run.finished_at, Run.output_bytes).where(
            Run.job.in_(chunk) & Run.finished_at.is_null()
        )
        for run in query:
            found[run.job_id] = run
    return found


@translated
def latest_run(job_id: str) -> Run | None:
    return Run.select().where(Run.job == job_id).order_by(Run.id.desc()).first()


def matching_jobs(
    *,
    states: Sequence[JobState] | None = None,
    queue: str | None = None,
    search: str | None = None,
    with_output: bool = True,
    id_prefix: str | None = None,
) -> peewee.ModelSelect:
    """The jobs a filter selects, unordered: in ``states``, in ``queue``, and whose id or
    command contains ``search`` (ASCII case ignored; ``%`` and ``_`` taken literally),
    and whose id starts with ``id_prefix`` (a schedule's fires: ``NAME:``).

    ``with_output=False`` leaves out the output column.
    """
    query = Job.select() if with_output else Job.select(*JOB_FIELDS_WITHOUT_OUTPUT)
    if states:
        query = query.where(Job.state.in_([state.value for state in states]))
    if queue:
        query = query.where(Job.queue == queue)
    if search:
        query = query.where(Job.command.contains(search) | Job.id.contains(search))
    if id_prefix:
        query = query.where(Job.id.startswith(id_prefix))
    return query


def _newest_first(query: peewee.ModelSelect) -> peewee.ModelSelect:
    """Newest first, by enqueue order: the (seq) index serves it, so SQLite stops at a
    limit however many jobs match."""
    return query.order_by(Job.seq.desc())


def _text(field: peewee.Field) -> Any:
    """A text column ordered by its characters' code points, as Python orders strings (and
    SQLite does by default): PostgreSQL's locale collation ignored case and punctuation."""
    return field.collate('"C"') if is_postgres() else field


JOB_SORTS: dict[str, Any] = {
    "id": lambda now: _text(Job.id),
    "state": lambda now: peewee.Case(
        Job.state, [(state.value, rank) for rank, state in enumerate(SORTED_STATES)]
    ),
    "priority": lambda now: Job.priority,
    "attempts": lambda now: Job.attempts,
    "queue": lambda now: _text(Job.queue),
    "command": lambda now: _text(Job.command),
    # How long its last run took, or has been running; 0 when it has not run.
    "duration": lambda now: peewee.Case(
        None,
        [
            (Job.started_at.is_null(), 0.0),
            (Job.state == JobState.PROCESSING.value, now - Job.started_at),
            (Job.finished_at.is_null(), 0.0),
        ],
        Job.finished_at - Job.started_at,
    ),
    "worker": lambda now: _text(peewee.fn.COALESCE(Job.worker_id, "")),
}
"""The dashboard's Jobs columns as SQL sort keys, given the time: the window of a sorted
view is the first ``limit`` jobs in that order, not the newest ``limit`` sorted (which
left every older job out of "oldest first")."""


def _in_order(
    query: peewee.ModelSelect, sort_by: str | None, reverse: bool, now: float
) -> peewee.ModelSelect:
    """``query`` ordered by a ``JOB_SORTS`` column (``None``: newest first), ``reverse``
    turning it round; ties stay newest first either way, as a stable sort leaves them."""
    if sort_by is None:
        return query.order_by(Job.seq.asc() if reverse else Job.seq.desc())
    key = JOB_SORTS[sort_by](now)
    return query.order_by(key.desc() if reverse else key.asc(), Job.seq.desc())


@translated
def list_jobs(
    *,
    states: Sequence[JobState] | None = None,
    queue: str | None = None,
    search: str | None = None,
    limit: int | None = 100,
    offset: int = 0,
    with_output: bool = True,
    text_limit: int | None = None,
) -> list[Job]:
    """Jobs, newest first (by enqueue order), optionally filtered (see ``matching_jobs``).

    ``text_limit``: the command and last error are read cut to that many characters by
    the database, their whole lengths as ``command_length`` and ``last_error_length``
    (for a table that shows them cut: 40 rows of 4 MB each, written past queuectl, made
    ``dlq list`` read 320 MB and take 34 s)."""
    query = matching_jobs(states=states, queue=queue, search=search, with_output=with_output)
    if text_limit is not None:
        cut = [
            column
            for name in _CUT_FIELDS
            for column in (
                _cut(name, text_limit),
                peewee.fn.LENGTH(getattr(Job, name)).coerce(False).alias(f"{name}_length"),
            )
        ]
        every = Job._meta.sorted_fields if with_output else JOB_FIELDS_WITHOUT_OUTPUT
        kept = [field for field in every if field.name not in _CUT_FIELDS]
        query = query.select(*kept, *cut)
    query = _newest_first(query)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return list(query)


@translated
def matching_ids(
    *,
    states: Sequence[JobState] | None = None,
    queue: str | None = None,
    search: str | None = None,
    id_prefix: str | None = None,
) -> list[str]:
    """The id of every job a filter selects (``list``'s filter, unlimited), newest first:
    what "act on everything matching" captures, however many there are."""
    query = matching_jobs(states=states, queue=queue, search=search, id_prefix=id_prefix)
    query = query.select(Job.id)
    return [job_id for (job_id,) in _newest_first(query).tuples()]


WINDOW_FIELDS: tuple[str, ...] = tuple(field.name for field in JOB_FIELDS_WITHOUT_OUTPUT)
"""What a window of jobs holds by default: every column but ``output``."""

WINDOW_TEXT = 4096
"""Characters a window reads of a job's command and last error: more than a row shows,
and bounded. Rows written past queuectl's limits (40 jobs of a 4 MB command and a 4 MB
error, by anyone who can write the database) were read whole by every refresh of every
open dashboard, whose memory then grew by 600 MB a minute (the allocator kept what the
read thread freed)."""
_CUT_FIELDS = frozenset({"command", "last_error"})


def _cut(name: str, longest: int) -> peewee.Node:
    """Job column ``name``, read as its first ``longest`` characters by the database."""
    return peewee.fn.SUBSTR(getattr(Job, name), 1, longest).alias(name)


def _window_column(name: str) -> peewee.Node:
    """A window's column: the long text ones read cut (``WINDOW_TEXT``) by the database."""
    return _cut(name, WINDOW_TEXT) if name in _CUT_FIELDS else getattr(Job, name)


@translated
def jobs_window(
    *,
    states: Sequence[JobState] | None = None,
    queue: str | None = None,
    search: str | None = None,
    limit: int,
    total: int | None = None,
    fields: Sequence[str] = WINDOW_FIELDS,
    id_prefix: str | None = None,
    keep: str | None = None,
    sort_by: str | None = None,
    reverse: bool = False,
    now: float = 0.0,
) -> tuple[list[dict[str, Any]], int]:
    """The first ``limit`` jobs ``list_jobs`` would return, as plain dicts of ``fields``,
    and how many match in all: what a screen of jobs (the dashboard's panes) shows.

    The filter and the natural order (newest first) are ``list``'s, so the two never
    disagree.

    Args:
        total: how many match, when the caller already knows (from the state
            counts): saves counting them again.
        keep: a job to return after the window when others pushed it out (while
            it still matches): the one a person has highlighted, which stays theirs.
            It comes after them in the order too, as it was not among the first.
        sort_by: a ``JOB_SORTS`` column to order by instead (``now`` its time);
            ``reverse`` turns the order round.
    """
    columns = [_window_column(name) for name in fields]
    query = matching_jobs(states=states, queue=queue, search=search, id_prefix=id_prefix)
    query = query.select(*columns)
    # Straight from the driver's cursor: peewee's ``.dicts()`` runs every value
    # through its field's converter, which changes nothing for these columns and
    # was 40% of a dashboard refresh's query time.
    cursor = database.execute(_in_order(query, sort_by, reverse, now).limit(limit))
    names = [column[0] for column in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    if len(rows) < limit:
        return rows, len(rows)
    if keep is not None and all(row["id"] != keep for row in rows):
        kept = database.execute(query.where(Job.id == keep))
        rows += [dict(zip(names, row, strict=True)) for row in kept.fetchall()]
    return rows, query.count() if total is None else total


@translated
def dead_window(
    *,
    limit: int,
    total: int | None = None,
    fields: Sequence[str] = WINDOW_FIELDS,
    keep: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The ``limit`` dead jobs that died last, latest first, as ``jobs_window`` gives
    rows, and how many are dead in all: the DLQ as the dashboard shows it (``keep``:
    as ``jobs_window``'s, a dead job returned after the window).

    Ordered by ``finished_at`` over the whole DLQ, from the end of its partial index
    (``sql.DEAD_INDEX``), so it reads ``limit`` entries however many are dead: a job
    retried out of the DLQ that died again comes first, however old its enqueue.
    """
    columns = [
        f"SUBSTR({name}, 1, {WINDOW_TEXT}) AS {name}" if name in _CUT_FIELDS else name
        for name in (getattr(Job, field).column_name for field in fields)
    ]
    statement = sql.dead_window_sql(columns, database.obj.param, postgres=is_postgres())
    cursor = database.execute_sql(statement, (limit,))
    rows = [dict(zip(fields, row, strict=True)) for row in cursor.fetchall()]
    if len(rows) < limit:
        return rows, len(rows)
    if keep is not None and all(row["id"] != keep for row in rows):
        kept = Job.select(*(_window_column(name) for name in fields)).where(
            Job.id == keep, Job.state == JobState.DEAD.value
        )
        rows += [dict(zip(fields, row, strict=True)) for row in database.execute(kept)]
    return rows, count_jobs(states=[JobState.DEAD]) if total is None else total


@translated
def count_jobs(
    *,
    states: Sequence[JobState] | None = None,
    queue: str | None = None,
    search: str | None = None,
) -> int:
    """How many jobs ``list_jobs`` returns without a limit."""
    query = matching_jobs(states=states, queue=queue, search=search)
    return query.select(peewee.fn.COUNT(peewee.SQL("*"))).scalar() or 0


@translated
def counts(*, by_difference: str | None = None) -> dict[str, int]:
    """Jobs per state, every state present (zero when none).

    Counting a state walks its entries in the (state, seq) index, so the
    largest state costs the most, while SQLite answers a bare ``COUNT(*)`` from
    the b-tree's pages. With ``by_difference`` that state is counted as the total
    minus the others (at 100k jobs, 85% completed: 8 ms -> 2 ms); the dashboard
    names the state that was largest last time. That is two statements: call it
    inside ``transactions.read_transaction`` so both see the same jobs.
    """
    result = {state.value: 0 for state in JobState}
    # COUNT(*) is answered from the (state, seq) index alone, without reading the rows.
    per_state = Job.select(Job.state, peewee.fn.COUNT(peewee.SQL("*")))
    if by_difference in result:
        others = [state for state in result if state != by_difference]
        per_state = per_state.where(Job.state.in_(others))
        total = Job.select(peewee.fn.COUNT(peewee.SQL("*"))).scalar()
    for state, count in per_state.group_by(Job.state).tuples():
        result[state] = count
    if by_difference in result:
        result[by_difference] = total - sum(result.values())
    return result


@translated
def waiting_per_queue() -> dict[str, int]:
    """Jobs waiting to be claimed (pending, or failed and due for a retry), per queue;
    held ones are not: a worker would not take them either (a queue whose only job was
    held was named as needing a worker)."""
    query = (
        Job.select(Job.queue, peewee.fn.COUNT(peewee.SQL("*")))
        .where(Job.state.in_([state.value for state in CLAIMABLE_STATES]) & Job.held_at.is_null())
        .group_by(Job.queue)
        .order_by(Job.queue)
    )
    return dict(query.tuples())


@translated
def running_per_queue() -> dict[str, int]:
    """Jobs ``processing`` per queue (a few rows: read from the (state, seq) index)."""
    query = (
        Job.select(Job.queue, peewee.fn.COUNT(peewee.SQL("*")))
        .where(Job.state == JobState.PROCESSING.value)
        .group_by(Job.queue)
    )
    return dict(query.tuples())


@translated
def list_workers(*, include_stopped: bool = True, ended_since: float | None = None) -> list[Worker]:
    """Worker rows in start order, as stored (``workers.workers_as_seen`` adds who is lost).

    Args:
        include_stopped: also the workers that ended (stopped or lost).
        ended_since: of those that ended, only the ones that ended after this epoch
            time: restarts leave a row each, and a view of recent workers needs no others.
    """
    query = Worker.select().order_by(Worker.started_at, Worker.id)
    ended = Worker.state.in_([state.value for state in ENDED_WORKER_STATES])
    if not include_stopped:
        query = query.where(~ended)
    elif ended_since is not None:
        query = query.where(~ended | (Worker.stopped_at >= ended_since))
    return list(query)


@translated
def running_per_worker() -> dict[str, int]:
    """How many jobs each worker runs now, by worker id: its slots in use (``--slots``)."""
    query = (
        Job.select(Job.worker_id, peewee.fn.COUNT(Job.id))
        .where(Job.state == JobState.PROCESSING.value, Job.worker_id.is_null(False))
        .group_by(Job.worker_id)
        .tuples()
    )
    return dict(query)


@translated
def latest_running_job(worker_ids: Sequence[str]) -> dict[str, str]:
    """For each of these workers running jobs, the one it started last, by worker id."""
    query = (
        Job.select(Job.worker_id, Job.id)
        .where(Job.state == JobState.PROCESSING.value, Job.worker_id.in_(list(worker_ids)))
        .order_by(Job.started_at)
        .tuples()
    )
    return dict(query)  # the latest started of each worker comes last, and stays


@translated
def worker_rows(worker_ids: Sequence[str]) -> dict[str, Worker]:
    """The rows of these workers that exist, by id."""
    return {row.id: row for row in Worker.select().where(Worker.id.in_(list(worker_ids)))}


@translated
def killed_by_forced_stop(worker_ids: Sequence[str]) -> list[str]:
    """The jobs these workers killed for a forced stop, in the order they ended: what a
    force-stop took down, named after the fact, since the job a question named may have
    ended, and another started, before the answer. A worker process stops once, so all
    its forced-stop runs are that stop's (no clock is compared: hosts may disagree)."""
    query = (
        Run.select(Run.job)
        .where(
            Run.worker_id.in_(list(worker_ids)),
            Run.outcome == RunOutcome.INTERRUPTED.value,
            Run.error.startswith(FORCED_STOP),  # then how it was killed: "; killed by SIGTERM"
        )
        .order_by(Run.finished_at)
        .tuples()
    )
    return list(dict.fromkeys(job_id for (job_id,) in query))


@translated
def jobs_by_id(job_ids: Sequence[str]) -> list[Job]:
    """The jobs with these ids that exist, without their output, in the order given."""
    found: dict[str, Job] = {}
    for start in range(0, len(job_ids), 500):  # SQLite's parameter limit
        chunk = list(job_ids[start : start + 500])
        query = Job.select(*JOB_FIELDS_WITHOUT_OUTPUT).where(Job.id.in_(chunk))
        found.update((job.id, job) for job in query)
    return [found[job_id] for job_id in job_ids if job_id in found]


@translated
def job_states(job_ids: Sequence[str]) -> dict[str, str]:
    """The state of each of these jobs that exists, by id (``wait``)."""
    states: dict[str, str] = {}
    for start in range(0, len(job_ids), 500):  # SQLite's parameter limit
        chunk = list(job_ids[start : start + 500])
        states.update(Job.select(Job.id, Job.state).where(Job.id.in_(chunk)).tuples())
    return states


@translated
def unfinished_states(*, queue: str | None = None) -> dict[str, str]:
    """The jobs not yet completed, dead or cancelled (of ``queue``), oldest first, by id."""
    finished = [state.value for state in FINISHED_STATES]
    query = Job.select(Job.id, Job.state).where(Job.state.not_in(finished))
    if queue is not None:
        query = query.where(Job.queue == queue)
    return dict(query.order_by(Job.seq).tuples())


@translated
def ids_starting_with(prefix: str, *, limit: int, state: str | None = None) -> list[str]:
    """Job ids starting with ``prefix`` (case kept), newest first, in ``state`` if given:
    shell completion."""
    query = Job.select(Job.id).order_by(Job.seq.desc())
    if prefix:
        query = query.where(Job.id.startswith(prefix))
    if state is not None:
        query = query.where(Job.state == state)
    ids = [job_id for (job_id,) in query.limit(limit * 2).tuples() if job_id.startswith(prefix)]
    return ids[:limit]


@translated
def queue_names() -> list[str]:
    """The queues that hold at least one job, by name."""
    query = Job.select(Job.queue).distinct().order_by(Job.queue)
    return [name for (name,) in query.tuples()]
