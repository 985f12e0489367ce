"""The SQL whose exact shape matters, kept together so it can be read and reviewed.

Everything else goes through Peewee. These are written by hand because their
text is the point: the claim must be one statement whose changed row proves
ownership, and its predicate must repeat the partial index's literally so
SQLite's planner uses the index instead of sorting every waiting job.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

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


def claimable(queue_markers: str) -> str:
    """The rule "a worker serving these queues may take this job, once it is due".

    The one home of the rule: the claim (``CLAIM``, on both backends, and the
    PostgreSQL one-statement ``PG_END_AND_CLAIM``) and the idle worker's
    ``NEXT_DUE`` are all built from it, so a job the next-due query counts is
    one the claim takes when its time comes. A new reason to leave a job
    waiting (a paused queue, a hold, an unmet dependency) is added here, once.

    Args:
        queue_markers: the parameter markers of the worker's queues, comma-separated.
    """
    return f"{CLAIMABLE_STATE} AND held_at IS NULL AND queue IN ({queue_markers})"


CLAIM_ORDER = "priority DESC, run_at, seq"
"""The claim's ORDER BY: the index's columns, so the planner reads the index in order."""

CLAIM = """
UPDATE queuectl_job
SET state = 'processing',
    worker_id = {worker},
    attempts = attempts + 1,
    started_at = {now},
    updated_at = {now},
    finished_at = NULL,
    exit_code = NULL
WHERE id = (
    SELECT id FROM queuectl_job {indexed_by}
    WHERE run_at <= {now} AND {claimable}
    ORDER BY {order}
    LIMIT 1
    {lock}
)
AND {state}
RETURNING {returning}
"""
"""Take the best due job. The outer ``AND state IN (…)`` re-checks under the
write lock, so "RETURNING gave a row" is the proof that this worker owns it.
On PostgreSQL ``{lock}`` is ``FOR UPDATE SKIP LOCKED``: concurrent claimers
skip each other's candidate rows instead of queueing behind them. On SQLite
``{indexed_by}`` pins the partial index: left alone, the planner prefers the
``state`` equality index and sorts every waiting job on each claim (measured:
42 ms per claim with 100k pending, against well under 1 ms pinned)."""

NEXT_DUE = "SELECT MIN(run_at) FROM queuectl_job WHERE {claimable}"
"""When the earliest job the claim could take becomes due: an idle worker sleeps until then."""


JOB_COLUMNS: tuple[str, ...] = tuple(Job._meta.sorted_field_names)
"""Every job column, in model order."""

CLAIMED_COLUMNS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(ClaimedJob))
"""What the claim returns: the whole row (saving a second read), as ``ClaimedJob`` takes it."""

JOB_INSERT_COLUMNS = (*JOB_COLUMNS[: JOB_COLUMNS.index("updated_at") + 1], "tty")
"""What enqueue writes; the rest (started_at … output, held_at) start out NULL."""


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
    parameter marker: ``marker(name)`` (``?`` or ``%s`` in text order, or ``%(name)s``)."""
    return template.format_map(_Markers(marker, parts))


def _named(name: str) -> str:
    return f"%({name})s"


def _claim_parts(queue_markers: str, *, postgres: bool) -> dict[str, str]:
    return {
        "claimable": claimable(queue_markers),
        "order": CLAIM_ORDER,
        "state": CLAIMABLE_STATE,
        "lock": "FOR UPDATE SKIP LOCKED" if postgres else "",
        "indexed_by": "" if postgres else "INDEXED BY queuectl_job_claimable",
        "returning": ", ".join(CLAIMED_COLUMNS),
    }


@functools.cache
def claim_sql(param: str, queue_count: int, *, postgres: bool) -> str:
    """The claim for a driver's parameter marker and a number of queues.

    Parameters, in order: worker id, now three times, then the queues.
    """
    parts = _claim_parts(", ".join([param] * queue_count), postgres=postgres)
    return render(CLAIM, lambda _name: param, **parts)


@functools.cache
def next_due_sql(param: str, queue_count: int) -> str:
    """``NEXT_DUE`` for a number of queues (its parameters: the queues)."""
    return render(
        NEXT_DUE, lambda _name: param, claimable=claimable(", ".join([param] * queue_count))
    )


# --- the worker's per-job statements ----------------------------------------------------
# Written by hand because they run inside the write lock once per job: Peewee
# builds each statement's text in Python on every call, which measured ~0.7 ms
# of a ~1 ms finish-and-claim transaction, holding the lock all the while.
# Each ``{name}`` is a parameter; ``statement`` makes them the driver's marker,
# and the caller passes the values in the order the names appear.

NEXT_RUN = "(SELECT COALESCE(MAX(run), 0) + 1 FROM queuectl_run WHERE job_id = {job})"
"""The job's next run number: one seek at the end of its (job_id, run) index entries."""

RUN_INSERT = f"""
INSERT INTO queuectl_run (job_id, run, attempt, worker_id, host, started_at, output)
VALUES ({{job}}, {NEXT_RUN}, {{attempt}}, {{worker}}, {{host}}, {{now}}, '')
RETURNING id
"""
"""The Run row of a new attempt, written in the claim's transaction."""

RUN_FINISH = """
UPDATE queuectl_run
SET finished_at = {now}, exit_code = {exit_code}, outcome = {outcome}, error = {error},
    output = {output}, output_bytes = {output_bytes}, duration = {now} - started_at,
    pgid = COALESCE({pgid}, pgid)
WHERE id = {run} AND outcome IS NULL
"""
"""How an attempt ended; an attempt already closed (by recovery) is left alone."""

JOB_END = """
UPDATE queuectl_job
SET state = {state}, updated_at = {now}, finished_at = {finished_at},
    run_at = COALESCE({run_at}, run_at), attempts = attempts - {given_back},
    worker_id = {holder}, exit_code = {exit_code}, output = {output},
    output_bytes = {output_bytes}, last_error = {error}
WHERE id = {job} AND state = 'processing' AND COALESCE(worker_id, '') = COALESCE({worker}, '')
"""
"""A job moved on as ``policy.decide`` said, whatever the outcome; guarded like the
claim: one changed row proves the job was still this worker's. (Recovery may close
a job left ``processing`` with no worker at all: hence the null-safe comparison.)"""

WORKER_AFTER_JOB = """
UPDATE queuectl_worker
SET state = {state}, current_job = {job}, heartbeat_at = {now},
    jobs_done = jobs_done + {done}, jobs_failed = jobs_failed + {failed}
WHERE id = {worker}
"""
"""The worker's counters, its next job (or idle) and a heartbeat, after each job."""


@functools.cache
def pg_end_and_claim_sql(queue_count: int) -> str:
    """PostgreSQL: an attempt recorded, its job moved on, and the next job claimed, in one
    statement, for a number of queues (parameters by name; the queues ``q0``, ``q1``, …).

    The worker's usual transaction (``RUN_FINISH``, ``JOB_END``, the claim,
    ``RUN_INSERT``, between BEGIN and COMMIT) is six round trips to the server;
    data-modifying CTEs make it one, atomic on its own. Each part is its
    standalone statement above, rendered with named parameters.
    """
    queues = ", ".join(_named(f"q{index}") for index in range(queue_count))
    claim = render(CLAIM, _named, **_claim_parts(queues, postgres=True))
    next_run = NEXT_RUN.format(job="claimed.id")
    return f"""
WITH finished AS ({render(RUN_FINISH, _named)} RETURNING id
), ended AS ({render(JOB_END, _named)} RETURNING id
), claimed AS ({claim}), new_run AS (
    INSERT INTO queuectl_run (job_id, run, attempt, worker_id, host, started_at, output)
    SELECT id, {next_run}, attempts, %(worker)s, %(host)s, %(now)s, '' FROM claimed
    RETURNING id
)
SELECT (SELECT count(*) FROM ended), (SELECT id FROM new_run), claimed.*
FROM (SELECT 1) AS one LEFT JOIN claimed ON TRUE
"""


@functools.cache
def statement(template: str, param: str) -> str:
    """``template`` with the driver's parameter marker, built once per process."""
    return render(template, lambda _name: param)
