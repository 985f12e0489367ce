"""The states of jobs, runs and workers: plain enums, free of any database import.

Kept apart from ``models`` so the CLI can parse ``--state`` without loading
peewee, whose import (with a PostgreSQL driver installed) is most of a CLI
call's start-up; ``models`` re-exports them.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Where a job is in its lifecycle (see README, "Job lifecycle")."""

    PENDING = "pending"  # waiting for a worker; may be delayed by run_at
    BLOCKED = "blocked"  # waiting for its dependencies (``after``) to complete
    PROCESSING = "processing"  # claimed by a worker that is running it now
    COMPLETED = "completed"  # exited 0
    FAILED = "failed"  # failed with retries left; due again at run_at
    DEAD = "dead"  # out of retries: the Dead Letter Queue
    CANCELLED = "cancelled"  # stopped by a user; never runs again unless retried


STATE_ALIASES = {"running": JobState.PROCESSING, "done": JobState.COMPLETED}
"""Other names a filter takes, as the dashboard's Queues pane heads its columns (Running,
Done): ``state:running`` was refused, listing the states, for the jobs it calls running."""


def parse_state(name: str) -> JobState:
    """A state by its name or an alias (``STATE_ALIASES``), in any case; ``ValueError``
    for neither."""
    lowered = name.strip().lower()
    return STATE_ALIASES.get(lowered) or JobState(lowered)


CLAIMABLE_STATES = (JobState.PENDING, JobState.FAILED)
HOLDABLE_STATES = (JobState.PENDING, JobState.BLOCKED, JobState.FAILED)
"""A job waiting to run, which ``hold`` keeps from being claimed until released."""


def is_held(state: str, held_at: float | None) -> bool:
    """Whether a job is held now. An end clears ``held_at``; rows that ended held before
    it did kept it, and read "held … until released" on a job that could not be."""
    return held_at is not None and state in HOLDABLE_STATES


SORTED_STATES = (
    JobState.PROCESSING,
    JobState.FAILED,
    JobState.PENDING,
    JobState.BLOCKED,
    JobState.DEAD,
    JobState.CANCELLED,
    JobState.COMPLETED,
)
"""The order of a sort by state: running, then waiting (to retry, to run, for others),
then ended, problems before successes. Alphabetical put 500 completed jobs at the top of
the dashboard and every running, failed and pending one out of the window."""

FINISHED_STATES = (JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED)
ACTIVE_STATES = (JobState.PENDING, JobState.BLOCKED, JobState.FAILED, JobState.PROCESSING)
"""A job that has not ended: waiting (for its time or its dependencies), waiting to
retry, or running. While a job is in one of these its ``unique_key`` is taken (the
partial unique index's predicate, ``sql.UNIQUE_KEY_INDEX``), and a schedule with
``--overlap skip`` does not fire while its previous fire's job is."""


class RunOutcome(StrEnum):
    """How one attempt ended. ``None`` on a Run row means it is still running."""

    SUCCEEDED = "succeeded"  # exit 0
    FAILED = "failed"  # non-zero exit, or the command could not start
    TIMED_OUT = "timed_out"  # killed after the job's timeout
    LOST = "lost"  # its worker died or stopped heartbeating; the attempt is spent
    INTERRUPTED = "interrupted"  # a forced worker stop; the attempt is given back
    CANCELLED = "cancelled"  # the user cancelled the job while it ran


class WorkerState(StrEnum):
    """What a worker process is doing, as last recorded by itself or by recovery."""

    IDLE = "idle"  # waiting for work
    BUSY = "busy"  # running a job
    STOPPING = "stopping"  # asked to stop; finishing its current job
    STOPPED = "stopped"  # exited cleanly, as asked
    LOST = "lost"  # died without stopping (kill -9, a crash, a host gone): found by recovery


FORCED_STOP = "worker stopped (forced)"
"""The error of a run a forced stop interrupted (``RunOutcome.INTERRUPTED`` also closes an
attempt the system had no resources to start): how a force-stop's kills are found after it."""

ENDED_WORKER_STATES = (WorkerState.STOPPED, WorkerState.LOST)
"""A worker in one of these will never run a job again; ``worker prune`` deletes them."""


STATE_STYLES: dict[str, str] = {
    JobState.PENDING: "yellow",
    JobState.BLOCKED: "magenta",
    JobState.PROCESSING: "bold cyan",
    JobState.COMPLETED: "green",
    JobState.FAILED: "dark_orange",
    JobState.DEAD: "bold red",
    JobState.CANCELLED: "bright_black",
    RunOutcome.SUCCEEDED: "green",
    RunOutcome.TIMED_OUT: "bold red",
    RunOutcome.LOST: "bold red",
    RunOutcome.INTERRUPTED: "yellow",
    WorkerState.IDLE: "green",
    WorkerState.BUSY: "bold cyan",
    WorkerState.STOPPING: "yellow",
    WorkerState.STOPPED: "bright_black",
}
"""The Rich style of every state and outcome, the one table the CLI and the dashboard share.

Keys are the enums' string values (a run outcome that shares a job state's name,
``failed`` or ``cancelled``, shares its colour). Waiting is yellow, running cyan,
done green, trouble orange or red, over and harmless grey."""
