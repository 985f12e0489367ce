"""Jobs, runs and workers as plain dictionaries: the ``--json`` contract.

Kept apart from the CLI so the dashboard and scripts see the same fields
with the same names, every time through ``timeutil.json_time`` (ISO 8601 UTC
with milliseconds) and states in lowercase.
"""

from __future__ import annotations

import time
from typing import Any

from queuectl.jobspec import env_from_json
from queuectl.states import ENDED_WORKER_STATES
from queuectl.store.models import Job, Run, Worker
from queuectl.timeutil import json_time
from queuectl.wording import human_bytes

JOB_FIELDS: tuple[str, ...] = tuple(Job._meta.sorted_field_names)
_TIME_FIELDS = {"run_at", "created_at", "updated_at", "started_at", "finished_at", "held_at"}


def dropped_bytes(output: str | None, output_bytes: int | None) -> int | None:
    """How many bytes printed before the kept tail were not kept; ``None`` when unknown.

    ``output_bytes`` counts what the command printed; ``output`` is the tail
    kept, decoded (an invalid byte became a 3-byte U+FFFD, hence the floor at 0).
    Unknown for runs recorded before queuectl counted (schema 4).
    """
    if output_bytes is None:
        return None
    kept = len(output.encode("utf-8")) if output else 0
    return max(0, output_bytes - kept)


def dropped_line(output: str | None, output_bytes: int | None) -> str | None:
    """``… 14.9 MB earlier output not kept``, when the stored output is a tail."""
    dropped = dropped_bytes(output, output_bytes)
    if not dropped:
        return None
    return f"… {human_bytes(dropped)} earlier output not kept (output_limit keeps the tail)"


def _truncated(output: str | None, output_bytes: int | None) -> bool | None:
    dropped = dropped_bytes(output, output_bytes)
    return None if dropped is None else dropped > 0


def job_record(job: Job, *, with_output: bool = True) -> dict[str, Any]:
    """A job as ``--json`` shows it; ``with_output=False`` (``list``) leaves ``output`` out,
    and the job need not have loaded it."""
    record: dict[str, Any] = {}
    for field in JOB_FIELDS:
        if field == "output" and not with_output:
            continue
        value = getattr(job, field)
        if field in _TIME_FIELDS:
            value = json_time(value)
        elif field == "env":
            value = env_from_json(value)
        record[field] = value
    if with_output:
        record["output_truncated"] = _truncated(job.output, job.output_bytes)
    return record


def with_running(record: dict[str, Any], run: Run | None) -> dict[str, Any]:
    """A ``job_record`` whose output is that of ``run`` when it is the attempt running now.

    The job's ``output`` and ``output_bytes`` are its last ended run's until the running
    one ends: ``show --json`` gave attempt 1's output all through attempt 2 (and null
    through attempt 1), where ``show`` and ``logs`` print the running attempt's."""
    if run is None or run.finished_at is not None:
        return record
    record["output_bytes"] = run.output_bytes
    if "output" in record:
        record["output"] = run.output
        record["output_truncated"] = _truncated(run.output, run.output_bytes)
    return record


def run_record(run: Run) -> dict[str, Any]:
    return {
        "run": run.run,
        "attempt": run.attempt,
        "worker_id": run.worker_id,
        "host": run.host,
        "started_at": json_time(run.started_at),
        "finished_at": json_time(run.finished_at),
        "duration": round(run.duration, 3) if run.duration is not None else None,
        "exit_code": run.exit_code,
        "outcome": run.outcome,
        "error": run.error,
        "output": run.output,
        "output_bytes": run.output_bytes,
        "output_truncated": _truncated(run.output, run.output_bytes),
    }


def unrun_record() -> dict[str, Any]:
    """``run_record``'s keys, every one null: a job with no run yet (``logs --json``)."""
    return dict.fromkeys(RUN_RECORD_KEYS)


RUN_RECORD_KEYS = (
    "run",
    "attempt",
    "worker_id",
    "host",
    "started_at",
    "finished_at",
    "duration",
    "exit_code",
    "outcome",
    "error",
    "output",
    "output_bytes",
    "output_truncated",
)
"""The keys of ``run_record``, in its order (a test holds the two together)."""


def slots_in_use(worker: Worker) -> str:
    """``2/4``: jobs running out of the slots it has; blank once the worker ended."""
    if worker.state in ENDED_WORKER_STATES:
        return ""
    busy = getattr(worker, "slots_busy", None)
    return f"{'?' if busy is None else busy}/{worker.slots}"


def _slots_busy(worker: Worker) -> int | None:
    """Jobs it runs now: counted by ``workers_as_seen``; none once it ended (``worker
    prune --json`` said null for the worker ``worker stop --json`` had said 0 of)."""
    busy = getattr(worker, "slots_busy", None)
    if busy is None and worker.state in ENDED_WORKER_STATES:
        return 0
    return busy


def worker_record(worker: Worker, *, now: float | None = None) -> dict[str, Any]:
    """A worker as ``--json`` shows it; ``state`` as the row holds it (see
    ``workers.workers_as_seen`` for rows whose dead workers read ``lost``)."""
    now = time.time() if now is None else now
    return {
        "id": worker.id,
        "pid": worker.pid,
        "host": worker.host,
        "state": worker.state,
        "job": worker.current_job,
        "slots": worker.slots,
        "slots_busy": _slots_busy(worker),
        "queues": worker.queues.split(","),
        "started_at": json_time(worker.started_at),
        "heartbeat_at": json_time(worker.heartbeat_at),
        "heartbeat_age": round(max(0.0, now - worker.heartbeat_at), 1),
        "stopped_at": json_time(worker.stopped_at),
        "jobs_done": worker.jobs_done,
        "jobs_failed": worker.jobs_failed,
        "stop_requested": worker.stop_requested,
        "log_path": worker.log_path,
    }
