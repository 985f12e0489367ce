"""What the end of an attempt does to its job: one pure decision, for every way it ends.

The worker's own result, a give-back before the job started, a cancel noticed
while it ran and recovery of a lost worker's job all go through ``decide``;
``finish`` and ``recovery`` only write what it returns. It reads nothing and
writes nothing, so it is tested on its own, and a policy that looks at the
exit code (say, "exit 75 means retry, exit 2 means never") is a change to this
function and one field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from queuectl.states import JobState, RunOutcome


@dataclass(frozen=True)
class Result:
    """How an attempt ended: what the executor reports, and recovery for a lost one."""

    outcome: RunOutcome
    exit_code: int | None
    output: str
    error: str | None
    duration: float = 0.0
    output_bytes: int | None = 0
    """Bytes the command printed in all; ``output`` is the tail of them."""
    final: bool = False
    """A failure no retry can mend (the working directory is gone): straight to the DLQ."""
    ended_at: float | None = None
    """When the attempt ended, on the worker's clock; ``None``: when it is recorded. The
    run's ``finished_at`` and ``duration`` come from it, however late the record."""
    due_in: float = 0.0
    """For an attempt given back (``interrupted``): seconds before its job is due again.
    A job the worker could not start for want of system resources waits the worker's
    short pause (``Timers.short_of_resources``), not a retry's backoff; a forced stop's
    is due at once."""


@dataclass(frozen=True, slots=True)
class Decision:
    """Where the job goes next."""

    state: JobState
    run_at: float | None = None
    """When it is due again; ``None`` leaves ``run_at`` as it is."""
    finished: bool = False
    """It reached an end (completed, dead, cancelled): ``finished_at`` is set."""
    given_back: int = 0
    """Attempts returned: 1 when the attempt never really ran (a forced stop)."""
    keeps_worker: bool = True
    """``False`` frees the job from its worker (it waits for any worker again)."""


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds before the run after failed run ``attempt``: ``base ** attempt``, capped."""
    try:
        return float(min(base**attempt, cap))
    except OverflowError:
        return float(cap)


def decide(
    outcome: RunOutcome,
    *,
    exit_code: int | None,
    attempts: int,
    max_retries: int,
    final: bool = False,
    due_in: float = 0.0,
    settings: Mapping[str, float | int],
    now: float,
) -> Decision:
    """The next state of a job whose attempt number ``attempts`` ended with ``outcome``.

    ``succeeded`` completes it; ``failed``, ``timed_out`` and ``lost`` schedule
    a retry ``backoff_base ** attempts`` seconds later or, with no retries left
    (or a ``final`` failure), send it to the DLQ; ``interrupted`` (a forced stop, or a
    start the system had no resources for) puts it back to pending, due ``due_in``
    seconds later, without spending the attempt; ``cancelled`` cancels it.

    Args:
        exit_code: the command's exit status (unused today: the hook for a
            policy by exit code).
        settings: ``backoff_base`` and ``backoff_max`` are read, for a retry.
    """
    del exit_code  # every non-zero exit is a failure, for now
    if outcome is RunOutcome.SUCCEEDED:
        return Decision(JobState.COMPLETED, finished=True)
    if outcome is RunOutcome.INTERRUPTED:
        return Decision(JobState.PENDING, run_at=now + due_in, given_back=1, keeps_worker=False)
    if outcome is RunOutcome.CANCELLED:
        return Decision(JobState.CANCELLED, finished=True)
    if final or attempts > max_retries:
        return Decision(JobState.DEAD, finished=True)
    delay = backoff_delay(attempts, float(settings["backoff_base"]), float(settings["backoff_max"]))
    return Decision(JobState.FAILED, run_at=now + delay)
