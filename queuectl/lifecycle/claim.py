"""Taking a job: the claim, and when the next one becomes due.

Both are built from ``sql.claimable``, the one statement of which jobs a
worker may take: a job ``next_due_at`` reports as due is one ``claim`` takes
(unless another worker took it first).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from queuectl.states import WorkerState
from queuectl.store import sql
from queuectl.store.boundary import translated
from queuectl.store.models import ClaimedJob, Worker, database
from queuectl.store.transactions import (
    execute_raw,
    execute_together,
    is_postgres,
    stamped_write,
)


@dataclass(frozen=True)
class Claim:
    """A job a worker now owns, and the Run row recording this attempt."""

    job: ClaimedJob
    run_id: int


@translated
def claim(
    worker_id: str,
    queues: Sequence[str] = ("default",),
    *,
    host: str | None = None,
    now: float | None = None,
) -> Claim | None:
    """Atomically take the best due job for ``worker_id``, or ``None`` when none is due.

    Best is the highest priority, then the earliest ``run_at``, then the oldest.
    One UPDATE … RETURNING takes the job; its Run row is written and the
    worker's row says it is busy with it, in the same transaction, so a crash
    leaves all or none: on PostgreSQL one statement (``sql.pg_claim_sql``), so an
    idle worker's claim is one round trip, not six. (After a job,
    ``finish.complete_attempt`` claims the next one in the transaction that records it.)
    """
    now = time.time() if now is None else now
    if is_postgres() and database.obj.transaction_depth() == 0:
        return _pg_claim(worker_id, queues, host=host, now=now)
    with stamped_write(now) as stamp:
        taken = claim_locked(worker_id, queues, host=host, now=stamp)
        if taken is not None:
            Worker.update(state=WorkerState.BUSY.value, current_job=taken.job.id).where(
                Worker.id == worker_id
            ).execute()
    return taken


def _pg_claim(
    worker_id: str, queues: Sequence[str], *, host: str | None, now: float
) -> Claim | None:
    """``claim`` on PostgreSQL in one round trip: the statement that does all three
    writes (an idle worker's latency), planned by the worker's session
    (``sql.PG_WORKER_SESSION``)."""
    values = {
        "worker": worker_id,
        "host": host,
        "now": now,
        "ending": None,
        **sql.queue_values(queues),
    }
    [row] = execute_together(sql.pg_claim_sql(len(queues)), [values])
    if row is None:
        return None
    run_id, *job = row
    return Claim(job=ClaimedJob(*job), run_id=run_id)


def claim_locked(
    worker_id: str, queues: Sequence[str], *, host: str | None, now: float
) -> Claim | None:
    """``claim`` inside the caller's write transaction, without touching the worker's row."""
    param = database.obj.param
    postgres = is_postgres()
    statement = sql.claim_sql(param, len(queues), postgres=postgres)
    values = {"worker": worker_id, "now": now, "ending": None, **sql.queue_values(queues)}
    row = execute_raw(statement.text, statement.params(values)).fetchone()
    if row is None:
        return None
    job = ClaimedJob(*row)
    run_insert = sql.statement(sql.RUN_INSERT, param)
    run_id = execute_raw(run_insert, (job.id, job.id, job.attempts, worker_id, host, now))
    return Claim(job=job, run_id=run_id.fetchone()[0])


@translated
def next_due_at(queues: Sequence[str] = ("default",)) -> float | None:
    """When the earliest job ``claim`` could take from ``queues`` becomes due (``None``: no
    job waits, or only in paused queues and queues at their limit), so an idle worker
    sleeps until then (a resume or a job's end is a commit, which wakes it)."""
    statement = sql.next_due_sql(database.obj.param, len(queues), postgres=is_postgres())
    values = {"ending": None, **sql.queue_values(queues)}
    row = execute_raw(statement.text, statement.params(values)).fetchone()
    return float(row[0]) if row is not None and row[0] is not None else None
