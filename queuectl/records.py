"""Jobs, runs and workers as plain dictionaries: the ``--json`` contract.

Kept apart from the CLI so the dashboard and scripts see the same fields
with the same names, times always ISO 8601 UTC and states in lowercase.
"""

from __future__ import annotations

import time
from typing import Any

from queuectl.models import Job, Run, Worker
from queuectl.timeutil import iso

JOB_FIELDS: tuple[str, ...] = tuple(Job._meta.sorted_field_names)
_TIME_FIELDS = {"run_at", "created_at", "updated_at", "started_at", "finished_at"}


def job_record(job: Job) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for field in JOB_FIELDS:
        value = getattr(job, field)
        record[field] = iso(value) if field in _TIME_FIELDS else value
    return record


def run_record(run: Run) -> dict[str, Any]:
    return {
        "attempt": run.attempt,
        "worker_id": run.worker_id,
        "host": run.host,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "duration": round(run.duration, 3) if run.duration is not None else None,
        "exit_code": run.exit_code,
        "outcome": run.outcome,
        "error": run.error,
        "output": run.output,
    }


def worker_record(worker: Worker, *, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    return {
        "id": worker.id,
        "pid": worker.pid,
        "host": worker.host,
        "state": worker.state,
        "job": worker.current_job,
        "queues": worker.queues.split(","),
        "started_at": iso(worker.started_at),
        "heartbeat_at": iso(worker.heartbeat_at),
        "heartbeat_age": round(max(0.0, now - worker.heartbeat_at), 1),
        "jobs_done": worker.jobs_done,
        "jobs_failed": worker.jobs_failed,
        "stop_requested": worker.stop_requested,
        "log_path": worker.log_path,
    }
