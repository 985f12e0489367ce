"""The SQL whose exact shape matters, kept together so it can be read and reviewed.

Everything else goes through Peewee. These are written by hand because their
text is the point: the claim must be one statement whose changed row proves
ownership, and its predicate must repeat the partial index's literally so
SQLite's planner uses the index instead of sorting every waiting job.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from queuectl.store.models import ClaimedJob, Job

CLAIMABLE_STATE = "state IN ('pending', 'failed')"
"""The partial index's predicate, literally: SQLite uses a partial index only for a
query whose WHERE repeats it (see ``CLAIM``)."""

CLAIMABLE_INDEX = f"""
CREATE INDEX IF NOT EXISTS queuectl_job_claimable
ON queuectl_job (priority DESC, run_at, seq)
WHERE {CLAIMABLE_STATE}
"""
"""Only waiting jobs, already in claim order: the claim reads its first due entry.

``seq`` (enqueue order) breaks ties: a bulk enqueue shares one ``run_at``, and
its lines must run in file order."""


UNIQUE_KEY_INDEX = """
CREATE UNIQUE INDEX IF NOT EXISTS queuectl_job_unique_key
ON queuectl_job (unique_key)
WHERE unique_key IS NOT NULL AND state IN ('pending', 'blocked', 'failed', 'processing')
"""
"""At most one job holds a key while it is waiting, blocked or running
(``states.ACTIVE_STATES``). The database refuses the second, so enqueues racing
from many processes and hosts admit exactly one; ``lifecycle.unique`` names the holder."""

DEAD_STATE = "state = 'dead'"
"""The DLQ index's predicate, literally: a read that repeats it uses the index (``DEAD_INDEX``)."""

DEAD_INDEX_NAME = "queuectl_job_dead_by_death"

DEAD_INDEX = f"""
CREATE INDEX IF NOT EXISTS {DEAD_INDEX_NAME}
ON queuectl_job (finished_at, seq)
WHERE {DEAD_STATE}
"""
"""Dead jobs only, in the order they died: the DLQ's latest deaths, read from its end
(``reads.dead_window``). A job retried out of the DLQ that dies again is an old
enqueue, so the (seq) order put it among jobs dead for hours.

Only dead jobs are in it, so a job that completes, fails and waits for a retry, or
starts writes nothing here: each of those updates evaluates the predicate for the
old row and the new and finds neither dead (schema 12)."""


def dead_window_sql(columns: Sequence[str], param: str, *, postgres: bool) -> str:
    """The latest deaths of the DLQ, read backwards from ``DEAD_INDEX``; ``param`` is
    the limit's marker. SQLite's planner is pinned to the index, as for the claim:
    left alone it took the (state, seq) index and sorted every dead job."""
    return (
        f"SELECT {', '.join(columns)} FROM {dead_jobs(postgres=postgres)} WHERE {DEAD_STATE}"
        f" ORDER BY finished_at DESC, seq DESC LIMIT {param}"
    )


def dead_jobs(*, postgres: bool) -> str:
    """The job table as a read of dead jobs by ``finished_at`` names it: on SQLite pinned
    to ``DEAD_INDEX``, which its planner passes over for the (state, seq) index and then
    reads every dead job (the whole DLQ) to find a window's or the latest deaths."""
    return "queuectl_job" if postgres else f"queuectl_job INDEXED BY {DEAD_INDEX_NAME}"


UNIQUE_KEY_INDEX_NAME = "queuectl_job_unique_key"
"""How the driver's integrity error names the index (both backends say its name or column)."""


QUEUE_HAS_ROOM_FUNCTION = """
CREATE OR REPLACE FUNCTION queuectl_queue_has_room(
    queue_name text, ending_job text, take_lock boolean
) RETURNS boolean LANGUAGE plpgsql VOLATILE COST 10000 AS $$
DECLARE
    allowed integer;
    is_paused boolean;
    running bigint;
BEGIN
    IF take_lock THEN
        SELECT max_running, paused INTO allowed, is_paused
        FROM queuectl_queue WHERE name = queue_name FOR UPDATE;
    ELSE
        SELECT max_running, paused INTO allowed, is_paused
        FROM queuectl_queue WHERE name = queue_name;
    END IF;
    IF NOT FOUND THEN
        RETURN TRUE;
    END IF;
    IF is_paused THEN
        RETURN FALSE;
    END IF;
    IF allowed IS NULL THEN
        RETURN TRUE;
    END IF;
    SELECT count(*) INTO running FROM queuectl_job
    WHERE queue = queue_name AND state = 'processing' AND id IS DISTINCT FROM ending_job;
    RETURN running < allowed;
END
$$
"""
"""PostgreSQL: whether a limited queue may start one more job.

Why a function and not a ``count(*)`` in the claim: under READ COMMITTED a
statement reads with the snapshot taken when it started, and a row lock it
waits for does not refresh that snapshot. Two claims of a queue limited to 2,
with one job running, would both count 1 and both start a job. Here the claim
first locks the queue's row (``FOR UPDATE``: claimers of one limited queue take
turns, held until their commit), and only then counts, in a query of its own:
a VOLATILE function's queries each take a fresh snapshot, so the count sees
every claim committed by the holders before it. Queues with no limit never
reach it (see ``claimable``), and ``take_lock`` is false for ``NEXT_DUE``, a hint.

Only ``ending_job`` is not counted: the job whose end the same statement records
(the one-statement end-and-claim, whose parts cannot see each other's writes), NULL
for a plain claim. Every other running job counts, the claimer's own included: a
worker with slots runs several (schema 10 left out all of the claimer's jobs, so a
worker of 4 slots ran 4 jobs of a queue limited to 2)."""


def claimable(queue_count: int, *, postgres: bool, locking: bool = True) -> str:
    """The rule "a worker serving these queues may take this job, once it is due".

    The one home of the rule: the claim (``CLAIM``, on both backends, and the
    PostgreSQL one-statement ``pg_end_and_claim_sql``) and the idle worker's
    ``NEXT_DUE`` are all built from it, so a job the next-due query counts is
    one the claim takes when its time comes. A new reason to leave a job
    waiting (an unmet dependency, say) is added here, once: a held job
    (``held_at`` set) waits here already.

    A job waits while its queue is paused, or while the queue's limit of jobs
    running at once is reached (``queuectl_queue``, a row per steered queue).
    Both are decided inside the statement that takes the job, so a pause or a
    limit holds from its commit on, on every worker and host. With no queue
    steered, the added test reads one empty table once per statement.

    The fragment's parameters are ``{q0}``, ``{q1}``, … (the worker's queues)
    and ``{ending}``: the job whose end the same statement records, which a limit
    does not count (NULL for a plain claim; see ``QUEUE_HAS_ROOM_FUNCTION``).

    Args:
        queue_count: how many queues the worker serves.
        postgres: the backend; SQLite counts in the statement (its writers
            take turns on the database's one write lock, so the count is exact),
            PostgreSQL calls ``queuectl_queue_has_room`` (why: see there).
        locking: take the limited queues' row locks (the claim); ``False`` for
            ``NEXT_DUE``, which only decides when to look again.
    """
    queues = ", ".join(f"{{q{index}}}" for index in range(queue_count))
    if postgres:
        # The queues that may start a job, computed once per statement, and one
        # per-row test against them: ``queue = ANY (open)``. The planner has no
        # INDEXED BY to obey; estimating this test like an equality, it sees that
        # most waiting jobs match and reads the claim index in order. A per-row
        # ``queue <> ALL (closed)`` made it expect one match when every job shares
        # one queue's name, so it scanned and sorted all waiting jobs per claim.
        lock = "TRUE" if locking else "FALSE"
        wanted = ", ".join(f"({{q{index}}})" for index in range(queue_count))
        return f"""{CLAIMABLE_STATE} AND held_at IS NULL AND queue = ANY (ARRAY(
        SELECT wanted.name FROM (VALUES {wanted}) AS wanted (name)
        WHERE wanted.name NOT IN (
            SELECT name FROM queuectl_queue
            WHERE name IN ({queues})
              AND (paused OR (max_running IS NOT NULL
                   AND NOT queuectl_queue_has_room(name, {{ending}}, {lock}))))))"""
    closed = f"""queue NOT IN (
        SELECT name FROM queuectl_queue
        WHERE name IN ({queues})
          AND (paused OR max_running <= (
              SELECT count(*) FROM queuectl_job AS running
              WHERE running.state = 'processing' AND running.queue = queuectl_queue.name
                AND running.id IS NOT {{ending}})))"""
    return f"{CLAIMABLE_STATE} AND held_at IS NULL AND queue IN ({queues})\n      AND {closed}"


COUNTER_MAX = 2**31 - 1
"""The largest count a counter column holds on PostgreSQL (``INTEGER``); both backends
stop counting there, so a count written at the limit (by hand, or by a co-tenant of a
shared schema) is not a statement the database refuses for ever."""


def saturating_add(column: str, amount: int | str) -> str:
    """``column + amount`` held at ``COUNTER_MAX``: a worker that adds to a counter at
    its limit would have PostgreSQL refuse the statement (``integer out of range``) on
    every retry, taken for an outage, and run no job until the row was mended.

    ``amount``: a count (a literal), or a template's parameter (``"{done}"``)."""
    room = COUNTER_MAX - amount if isinstance(amount, int) else f"{COUNTER_MAX} - {amount}"
    return f"CASE WHEN {column} > {room} THEN {COUNTER_MAX} ELSE {column} + {amount} END"


CLAIM_ORDER = "priority DESC, run_at, seq"
"""The claim's ORDER BY: the index's columns, so the planner reads the index in order."""

CLAIM = f"""
UPDATE queuectl_job
SET state = 'processing',
    worker_id = {{worker}},
    attempts = {saturating_add("attempts", 1)},
    started_at = {{now}},
    updated_at = {{now}},
    finished_at = NULL,
    exit_code = NULL
WHERE id = (
    SELECT id FROM queuectl_job {{indexed_by}}
    WHERE run_at <= {{now}} AND {{claimable}}
    ORDER BY {{order}}
    LIMIT 1
    {{lock}}
)
AND {{state}}
RETURNING {{returning}}
"""
"""Take the best due job. The outer ``AND state IN (…)`` re-checks under the
write lock, so "RETURNING gave a row" is the proof that this worker owns it.
On PostgreSQL ``{lock}`` is ``FOR UPDATE SKIP LOCKED``: concurrent claimers
skip each other's candidate rows instead of queueing behind them. On SQLite
``{indexed_by}`` pins the partial index: left alone, the planner prefers the
``state`` equality index and sorts every waiting job on each claim (measured:
42 ms per claim with 100k pending, against well under 1 ms pinned)."""

PG_WORKER_SESSION = "-c enable_sort=off"
"""PostgreSQL's ``INDEXED BY`` for the claim: a worker's sessions (the connection
options ``store.db`` gives a process that claims jobs) plan without sorting
wherever another plan exists.

Reading the claim index in order is the only plan that does not sort, and the
right one at any size; but when the table has no statistics yet (a bulk enqueue
into a new schema, before autovacuum's first look) or only stale ones (taken
while the queue was empty), the planner takes every test of the claim for rare
(``held_at IS NULL`` and the queue's at their default estimates) and prefers a
bitmap scan that gathers every waiting job and sorts them: measured at 24,000
waiting jobs, 7-12 ms per claim against 0.9 ms, 70 jobs/s instead of 800 for a
worker with four slots. With sorting off, the ordered scan is the plan whatever
the estimates.

For the whole session rather than each claiming transaction (a local
``set_config`` sent before the claim): the claim then needs nothing sent before
it, so a one-job worker's end-and-claim is one plain statement, one message each
way, where a pipeline of the setting and the statement is four; about 0.1 ms of
the worker's CPU and 0.1 ms of the server's per job (README, Performance).

It holds for every other statement a worker makes, and those were read for it
(every statement with an order, a grouping or a DISTINCT that a worker ran over
the integration suites on PostgreSQL): the due schedules have no plan but a sort
(a handful of rows, sorted as before), a DISTINCT hashes, and recovery's "the
job's latest open run" is ordered by its index's own column (``run``, after
``job_id``), not by the table's key, which sorting off would have had it read end
to end. ``tests/test_schema.py`` checks those plans; a statement a worker makes
with a new order must keep to the same rule."""

NEXT_DUE = "SELECT MIN(run_at) FROM queuectl_job WHERE {claimable}"
"""When the earliest job the claim could take becomes due: an idle worker sleeps until then."""


JOB_COLUMNS: tuple[str, ...] = tuple(Job._meta.sorted_field_names)
"""Every job column, in model order."""

CLAIMED_COLUMNS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(ClaimedJob))
"""What the claim returns: the whole row (saving a second read), as ``ClaimedJob`` takes it."""

JOB_INSERT_COLUMNS = (
    *JOB_COLUMNS[: JOB_COLUMNS.index("updated_at") + 1],
    "tty",
    "unique_key",
    "held_at",
)
"""What enqueue writes; the rest (started_at … output, taken_down_by) start NULL."""


def insert_jobs_sql(param: str) -> str:
    """One prepared INSERT for ``executemany``.

    Peewee renders a multi-row INSERT value by value in Python; for bulk
    enqueue that rendering cost three times the database's own work.
    """
    columns = ", ".join(JOB_INSERT_COLUMNS)
    params = ", ".join([param] * len(JOB_INSERT_COLUMNS))
    return f"INSERT INTO queuectl_job ({columns}) VALUES ({params})"


def existing_ids_sql(param: str, count: int) -> str:
    """Which of ``count`` candidate ids are taken (checked before a bulk insert)."""
    return f"SELECT id FROM queuectl_job WHERE id IN ({', '.join([param] * count)})"


class _Markers(dict):
    """What ``str.format_map`` fills a template with: the given parts, else a parameter marker."""

    def __init__(self, marker: Callable[[str], str], parts: dict[str, str]) -> None:
        super().__init__(parts)
        self._marker = marker

    def __missing__(self, name: str) -> str:
        return self._marker(name)


def render(template: str, marker: Callable[[str], str], **parts: str) -> str:
    """``template`` with its parts filled in and every other ``{name}`` turned into a
    parameter marker: ``marker(name)`` (``?`` or ``%s`` in text order, or ``%(name)s``).

    A part may hold parameters of its own (``claimable``'s ``{q0}``): it is
    spliced in first, and its names become markers like the template's.
    """
    spliced = template.format_map(_Markers(lambda name: f"{{{name}}}", parts))
    return spliced.format_map(_Markers(marker, {}))


@dataclass(frozen=True)
class Positional:
    """A statement with positional markers, and the parameter name of each marker in order."""

    text: str
    names: tuple[str, ...]

    def params(self, values: Mapping[str, object]) -> tuple[object, ...]:
        """The values in marker order (a name may appear more than once)."""
        return tuple([values[name] for name in self.names])


def positional(template: str, param: str, **parts: str) -> Positional:
    """``render`` with the driver's positional marker, remembering which name each stands for."""
    names: list[str] = []

    def marker(name: str) -> str:
        names.append(name)
        return param

    return Positional(render(template, marker, **parts), tuple(names))


def _named(name: str) -> str:
    return f"%({name})s"


def _claim_parts(queue_count: int, *, postgres: bool) -> dict[str, str]:
    return {
        "claimable": claimable(queue_count, postgres=postgres),
        "order": CLAIM_ORDER,
        "state": CLAIMABLE_STATE,
        "lock": "FOR UPDATE SKIP LOCKED" if postgres else "",
        "indexed_by": "" if postgres else "INDEXED BY queuectl_job_claimable",
        "returning": ", ".join(CLAIMED_COLUMNS),
    }


def queue_values(queues: Sequence[str]) -> dict[str, str]:
    """The ``{q0}``, ``{q1}``, … parameters of ``claimable``."""
    return {f"q{index}": name for index, name in enumerate(queues)}


@functools.cache
def claim_sql(param: str, queue_count: int, *, postgres: bool) -> Positional:
    """The claim for a driver's parameter marker and a number of queues.

    Parameters: ``worker``, ``now``, ``ending`` (NULL) and the queues (``queue_values``).
    """
    return positional(CLAIM, param, **_claim_parts(queue_count, postgres=postgres))


@functools.cache
def next_due_sql(param: str, queue_count: int, *, postgres: bool) -> Positional:
    """``NEXT_DUE`` for a number of queues (parameters: the queues and ``ending``)."""
    return positional(
        NEXT_DUE, param, claimable=claimable(queue_count, postgres=postgres, locking=False)
    )


# --- the worker's per-job statements ----------------------------------------------------
# Written by hand because they run inside the write lock once per job: Peewee
# builds each statement's text in Python on every call, which measured ~0.7 ms
# of a ~1 ms finish-and-claim transaction, holding the lock all the while.
# Each ``{name}`` is a parameter; ``statement`` makes them the driver's marker,
# and the caller passes the values in the order the names appear.

NEXT_RUN = f"""(SELECT CASE WHEN MAX(run) IS NULL THEN 1 WHEN MAX(run) < {COUNTER_MAX}
    THEN MAX(run) + 1 ELSE MIN(run) - 1 END FROM queuectl_run WHERE job_id = {{job}})"""
"""The job's next run number, read from its (job_id, run) index entries (SQLite's one-seek
``MAX`` does not apply beside a ``MIN``: it reads the job's few entries). A run numbered
at ``COUNTER_MAX`` (written by hand: no job is retried two billion times) would make
every claim of its job overflow, which a worker retries as an outage, running nothing;
such a job's next run takes the number below its lowest instead, still unique."""

RUN_INSERT = f"""
INSERT INTO queuectl_run (job_id, run, attempt, worker_id, host, started_at, output)
VALUES ({{job}}, {NEXT_RUN}, {{attempt}}, {{worker}}, {{host}}, {{now}}, '')
RETURNING id
"""
"""The Run row of a new attempt, written in the claim's transaction."""

SAME_CLAIM = (
    "(CAST({started} AS DOUBLE PRECISION) IS NULL"
    " OR started_at = CAST({started} AS DOUBLE PRECISION))"
)
"""The row's ``started_at`` is the claim's stamp (``{started}``; NULL: not checked). A job
and its Run row get the same stamp when claimed, and no later claim gets it again, so
an end recorded for a claim the database lost (PostgreSQL's asynchronous commits, a
crash) cannot close the job's next claim, even one by the same worker, nor a Run row
whose id the server gave out again after the crash. (Cast: PostgreSQL must know the
parameter's type to test it for NULL.)"""

RUN_FINISH = f"""
UPDATE queuectl_run
SET finished_at = {{ended_at}}, exit_code = {{exit_code}}, outcome = {{outcome}}, error = {{error}},
    output = {{output}}, output_bytes = {{output_bytes}}, duration = {{ended_at}} - started_at,
    pgid = COALESCE({{pgid}}, pgid)
WHERE id = {{run}} AND outcome IS NULL AND {SAME_CLAIM}
"""
"""How an attempt ended; an attempt already closed (by recovery) is left alone. ``ended_at``
is when it ended, not when this is recorded: a record retried through an outage would
otherwise give the attempt the outage's length."""

JOB_END = f"""
UPDATE queuectl_job
SET state = {{state}}, updated_at = {{now}}, finished_at = {{finished_at}},
    run_at = COALESCE({{run_at}}, run_at), attempts = attempts - {{given_back}},
    worker_id = {{holder}}, exit_code = {{exit_code}}, output = {{output}},
    output_bytes = {{output_bytes}}, last_error = {{error}}
WHERE id = {{job}} AND state = 'processing' AND COALESCE(worker_id, '') = COALESCE({{worker}}, '')
  AND {SAME_CLAIM}
"""
"""A job moved on as ``policy.decide`` said, whatever the outcome; guarded like the
claim: one changed row proves the job was still this worker's, on this claim
(``SAME_CLAIM``). (Recovery may close a job left ``processing`` with no worker at
all: hence the null-safe comparison.)"""

JOB_CANCELLED_OUTPUT = """
UPDATE queuectl_job
SET exit_code = {exit_code}, output = {output}, output_bytes = {output_bytes}
WHERE id = {job} AND state = 'cancelled' AND worker_id = {worker}
"""
"""A job cancelled while it ran gets the killed attempt's output, as any ended job gets its
attempt's: the cancel moved the job on, and only the worker has what the process printed.
The cancel keeps the job's worker, so a job retried and claimed since is left alone."""


def _waits_for_nothing_unfinished(besides: str = "") -> str:
    """A ``queuectl_job`` row's dependencies have all completed, but for the one
    ``besides`` names (a deleted one no longer holds anything back: the join drops it)."""
    return f"""NOT EXISTS (
      SELECT 1 FROM queuectl_dependency AS dependency
      JOIN queuectl_job AS other ON other.id = dependency.depends_on
      WHERE dependency.job_id = queuectl_job.id {besides}
        AND other.state <> 'completed')"""


UNBLOCK = f"""
UPDATE queuectl_job
SET state = 'pending', updated_at = {{now}}
WHERE state = 'blocked'
  AND id IN (SELECT job_id FROM queuectl_dependency WHERE depends_on = {{job}})
  AND {_waits_for_nothing_unfinished(besides="AND other.id <> {job}")}
"""
"""The blocked jobs that waited for ``{job}``, just completed, and for nothing else
unfinished, become pending: run in the transaction that completes ``{job}``
(``lifecycle.deps.unblock_locked``). ``{job}`` itself is left out of the test,
not read: in PostgreSQL's one-statement finish its new state is not visible yet."""

MEND_BLOCKED = f"""
UPDATE queuectl_job
SET state = 'pending', updated_at = {{now}}
WHERE state = 'blocked' AND {_waits_for_nothing_unfinished()}
"""
"""Blocked jobs whose dependencies have all completed become pending; the caller adds
which (``AND id IN …``). ``UNBLOCK``'s rule without the job just completed: for what a
PostgreSQL race left behind (``lifecycle.deps.mend_locked``)."""

STILL_BLOCKED = """
SELECT count(*) FROM queuectl_dependency AS waiting
JOIN queuectl_job AS dependent ON dependent.id = waiting.job_id
WHERE waiting.depends_on = {job} AND dependent.state = 'blocked'
"""
"""How many of ``{job}``'s dependents were blocked when the statement began. On
PostgreSQL, more than ``UNBLOCK`` moved means another finish that this statement could
not see yet may have left a dependent waiting for nothing (``lifecycle.deps.mend``)."""

WORKER_AFTER_JOB = f"""
UPDATE queuectl_worker
SET state = {{state}}, current_job = {{job}}, heartbeat_at = {{now}},
    jobs_done = {saturating_add("jobs_done", "{done}")},
    jobs_failed = {saturating_add("jobs_failed", "{failed}")}
WHERE id = {{worker}}
"""
"""The worker's counters, its next job (or idle) and a heartbeat, after each job."""


@functools.cache
def worker_after_job_sql(param: str) -> Positional:
    """``WORKER_AFTER_JOB`` for a driver's positional marker (its counts appear twice)."""
    return positional(WORKER_AFTER_JOB, param)


def _pg_claimed(queue_count: int) -> str:
    """The CTEs ``claimed`` (``CLAIM``) and ``new_run`` (its ``RUN_INSERT``), with named
    parameters: the claim both PostgreSQL one-statement forms below end with."""
    claim = render(CLAIM, _named, **_claim_parts(queue_count, postgres=True))
    next_run = NEXT_RUN.format(job="claimed.id")
    return f"""claimed AS ({claim}), new_run AS (
    INSERT INTO queuectl_run (job_id, run, attempt, worker_id, host, started_at, output)
    SELECT id, {next_run}, attempts, %(worker)s, %(host)s, %(now)s, '' FROM claimed
    RETURNING id
)"""


@functools.cache
def pg_claim_sql(queue_count: int) -> str:
    """PostgreSQL: a job claimed, its Run row written and the worker's row made busy with
    it, in one statement (parameters by name: ``worker``, ``host``, ``now``, the queues).

    An idle worker's claim; as a transaction it is six round trips (BEGIN, the
    planner setting, the claim, the Run row, the worker's row, COMMIT). No row when
    nothing was claimed; else the new run's id, then ``CLAIMED_COLUMNS``.
    """
    return f"""
WITH {_pg_claimed(queue_count)}, busy AS (
    UPDATE queuectl_worker SET state = 'busy', current_job = claimed.id
    FROM claimed WHERE queuectl_worker.id = %(worker)s
)
SELECT (SELECT id FROM new_run), claimed.* FROM claimed
"""


@functools.cache
def pg_end_and_claim_sql(queue_count: int) -> str:
    """PostgreSQL: an attempt recorded, its job moved on, and the next job claimed, in one
    statement, for a number of queues (parameters by name; the queues ``q0``, ``q1``, …).

    The worker's usual transaction (``RUN_FINISH``, ``JOB_END``, the claim,
    ``RUN_INSERT``, between BEGIN and COMMIT) is six round trips to the server;
    data-modifying CTEs make it one, atomic on its own. Each part is its
    standalone statement above, rendered with named parameters. A completed job's
    dependents are unblocked in it too (``UNBLOCK``); a job that ends ``dead`` takes
    the transaction path instead, where ``lifecycle.deps`` cascades.
    """
    unblock = render(UNBLOCK, _named)
    return f"""
WITH finished AS ({render(RUN_FINISH, _named)} RETURNING id
), ended AS ({render(JOB_END, _named)} RETURNING id
), unblocked AS ({unblock}
      AND %(state)s = 'completed' AND EXISTS (SELECT 1 FROM ended)
    RETURNING id
), {_pg_claimed(queue_count)}
SELECT (SELECT count(*) FROM ended), (SELECT count(*) FROM unblocked),
    ({render(STILL_BLOCKED, _named)}), (SELECT id FROM new_run), claimed.*
FROM (SELECT 1) AS one LEFT JOIN claimed ON TRUE
"""


@functools.cache
def statement(template: str, param: str) -> str:
    """``template`` with the driver's parameter marker, built once per process."""
    return render(template, lambda _name: param)
