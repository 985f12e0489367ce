"""What a worker says in its log about jobs and stops, kept short on busy queues.

A log line per trivial job cost a worker a tenth of its CPU, and at a few
hundred jobs a second it floods the log; the database has every run. So a
short success is only counted, and summed up at the next heartbeat; a long,
failed or lost job gets its own lines.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from queuectl.lifecycle.policy import Result
from queuectl.lifecycle.workers import FORCE
from queuectl.states import JobState, RunOutcome
from queuectl.textsafe import inert, one_line
from queuectl.timeutil import human_duration
from queuectl.wording import counted

if TYPE_CHECKING:
    from collections.abc import Sequence

    from queuectl.lifecycle.claim import Claim

log = logging.getLogger("queuectl.worker")

QUIET_UNDER = 0.05
"""A success shorter than this is counted, not logged (the worker's ``PGID_AFTER``)."""


class InertFormatter(logging.Formatter):
    """Every line of the worker's log made inert, whatever it quotes: job ids and queue
    names come from the database, and a hostile row's escape sequences reached the
    terminal tailing the log (commands and errors were made inert where logged)."""

    def format(self, record: logging.LogRecord) -> str:
        return inert(super().format(record))


class WorkLog:
    """The worker's log lines about jobs and stops."""

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self.quiet_successes = 0
        """Short successful jobs not logged one by one."""
        self._stop_logged: str | None = None

    def job_started(self, claim: Claim) -> None:
        job = claim.job
        log.info("job %s attempt %d started: %s", job.id, job.attempts, one_line(job.command, 200))

    def job_ended(self, claim: Claim, result: Result, state: JobState | None) -> None:
        job = claim.job
        if state is None and result.outcome is RunOutcome.CANCELLED:
            # Killed because a user cancelled (or deleted) it: what was asked, not a warning.
            log.info(
                "job %s attempt %d cancelled (%s) after %s: %s",
                job.id,
                job.attempts,
                one_line(result.error or "cancelled by user"),
                human_duration(result.duration),
                one_line(job.command, 80),
            )
        elif state is None:
            log.warning(
                "job %s: %s; the job left as it is",
                job.id,
                "no longer ours (cancelled or deleted as it ended, recovered by another"
                " worker, or its claim was lost in a database crash)",
            )
        elif result.outcome is RunOutcome.SUCCEEDED and result.duration < QUIET_UNDER:
            self.quiet_successes += 1
        elif result.due_in:
            # Given back for want of system resources (``Timers.short_of_resources``).
            log.warning(
                "job %s attempt %d given back, its attempt unspent (%s): due again in %s;"
                " worker %s claims nothing until then: %s",
                job.id,
                job.attempts,
                one_line(result.error or ""),
                human_duration(result.due_in),
                self.worker_id,
                one_line(job.command, 80),
            )
        else:
            log.info(
                "job %s attempt %d %s%s in %s -> %s: %s",
                job.id,
                job.attempts,
                result.outcome.value,
                f" ({one_line(result.error)})" if result.error else "",
                human_duration(result.duration),
                state.value,
                one_line(job.command, 80),
            )

    def sum_up(self) -> None:
        """One line for the quiet successes since the last one (at each heartbeat)."""
        if self.quiet_successes:
            log.info(
                "%s succeeded in under %dms each since the last report",
                counted(self.quiet_successes, "job"),
                QUIET_UNDER * 1000,
            )
            self.quiet_successes = 0

    def acknowledge_stop(
        self, stop_mode: str | None, job_ids: Sequence[str], *, database_away: bool = False
    ) -> None:
        """Say, once per kind, that a stop was heard and what happens next.

        The signal handler may not log (it could deadlock on the handler's own
        lock), so the loop does, within a tenth of a second: someone who pressed
        Ctrl-C on ``worker run`` while a long job runs sees it was heard. (An idle
        worker stops at once, and its "stopped" line says so.) With slots every
        running job is named: each is waited for, or each is killed. With the
        ``database_away``, nothing can be given back: ``stop_heard_in_outage`` says so.
        """
        if database_away:
            self.stop_heard_in_outage(stop_mode, job_ids)
            return
        if stop_mode == self._stop_logged:
            return
        self._stop_logged = stop_mode
        names = ", ".join(job_ids)
        several = len(job_ids) > 1
        if stop_mode == FORCE:
            log.warning(
                "worker %s: forced stop; killing %s %s (%s given back)",
                self.worker_id,
                "jobs" if several else "job",
                names,
                "their attempts are" if several else "its attempt is",
            )
        else:
            log.info(
                "worker %s: stopping after %s %s %s (signal again to kill %s)",
                self.worker_id,
                "jobs" if several else "job",
                names,
                "finish" if several else "finishes",
                "them" if several else "it",
            )

    def stop_heard_in_outage(self, stop_mode: str | None, job_ids: Sequence[str]) -> None:
        """Say, once per kind, that a stop came while the database is away, and what the
        worker does about it: nothing was logged until the database came back, and a
        second signal ended the process without a line."""
        if stop_mode is None or stop_mode == self._stop_logged:
            return
        self._stop_logged = stop_mode
        jobs = _jobs(job_ids)
        if stop_mode == FORCE:
            them = "them, a lost attempt each" if len(job_ids) > 1 else "it, a lost attempt"
            log.warning(
                "worker %s: forced stop while the database is away; stopping without recording %s",
                self.worker_id,
                f"{jobs} (recovery reruns {them})" if job_ids else "its stop",
            )
        else:
            log.info(
                "worker %s: stop heard while the database is away; %s (signal again to stop now)",
                self.worker_id,
                f"stopping once the end of {jobs} is recorded"
                if job_ids
                else "stopping after a few more tries to record it",
            )

    def stopped_in_outage(self, stop_mode: str | None, job_ids: Sequence[str]) -> None:
        """The last line of a worker that stops without reaching the database."""
        log.warning(
            "worker %s stopped (%s) without reaching the database: its row still says it"
            " runs, so it shows lost once its lease runs out%s",
            self.worker_id,
            stop_mode or "done",
            f", and recovery reruns {_jobs(job_ids)}" if job_ids else "",
        )


def _jobs(job_ids: Sequence[str]) -> str:
    """``job a`` or ``jobs a, b``."""
    return f"{'jobs' if len(job_ids) > 1 else 'job'} {', '.join(job_ids)}"
