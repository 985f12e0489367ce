"""Running one claimed job, as part of the worker loop: start, supervise, record.

While the job runs the worker keeps living (heartbeats, recovery of others,
stop requests: ``Worker._housekeeping``), flushes the live output, and kills
the job when it is cancelled, recovered elsewhere, or the stop is forced. Its
end is recorded with ``finish.complete_attempt``, which claims the next job
in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from queuectl.errors import StoreUnavailable, first_line
from queuectl.jobspec import env_from_json
from queuectl.lifecycle import finish
from queuectl.lifecycle.claim import Claim
from queuectl.lifecycle.finish import Ownership
from queuectl.lifecycle.policy import Result
from queuectl.lifecycle.workers import FORCE, Registration
from queuectl.runtime import executor, spawn
from queuectl.runtime.hooks import HookRunner
from queuectl.runtime.outage import Outage
from queuectl.runtime.timekeeper import Timekeeper
from queuectl.runtime.timers import Timers
from queuectl.runtime.watchdog import Watchdog
from queuectl.runtime.worklog import QUIET_UNDER, WorkLog
from queuectl.states import FORCED_STOP, JobState, RunOutcome, WorkerState

log = logging.getLogger("queuectl.worker")

PGID_AFTER = QUIET_UNDER
"""A job still running after this many seconds gets its process group written
to its Run row at once, and a "started" line in the log; shorter jobs store
the group with their result, saving a write transaction per job (the group
dies with the worker anyway: see ``watchdog``), and a short success is only
counted in the log, at the next heartbeat."""

FLUSH_INTERVAL = 0.5
"""Seconds between writes of a running job's output tail (and ownership checks)."""

FLUSH_BYTES_PER_SECOND = 2 * 1024 * 1024
"""Rough cap on the rate of live-tail writes for one job (see ``_supervise``)."""


class AttemptRunner:
    """The worker's part that runs one claimed job (``Worker`` is one)."""

    row: Registration
    timers: Timers
    log: WorkLog
    outage: Outage
    watchdog: Watchdog | None
    timekeeper: Timekeeper
    settings: dict[str, float | int]
    stop_mode: str | None
    kill_grace: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    _environment: dict[bytes, bytes]
    _next_claim: Claim | None
    _recording: Claim | None
    _supervised: tuple[Claim, executor.Execution] | None
    outage_pause: Callable[[float, Sequence[str]], None]
    hooks: HookRunner
    # The worker's own, used here:
    id: str
    heartbeat_interval: float
    _housekeeping: Callable[..., None]

    def _launch(self, claim: Claim, *, slot: int | None = None) -> executor.Execution | Result:
        """Start a claimed job's command, as every job of this worker starts (with slots,
        ``slot`` is the one it runs in): its environment, output limit, timeout, and the
        watchdog told its process group (started first if it is not running)."""
        job = claim.job
        timeout = job.timeout if job.timeout is not None else self.settings["job_timeout"]
        if self.watchdog is not None and self.watchdog.pid is None:
            self.watchdog.marker = self.id
            self._start_watchdog()
        watchdog = self.watchdog
        return executor.Execution.start(
            job.command,
            cwd=job.cwd,
            env=executor.job_environment(
                job.id,
                job.attempts,
                self._environment,
                env_from_json(job.env),
                worker_id=self.id,
            ),
            output_limit=int(self.settings["output_limit"]),
            timeout=float(timeout) or None,
            grace=self.kill_grace,
            watchdog=watchdog.slot(slot) if watchdog is not None and slot is not None else watchdog,
            tty=bool(job.tty),
            timekeeper=self.timekeeper,
            name=job.id,
        )

    def _execute(self, claim: Claim) -> None:
        started = self._launch(claim)
        if isinstance(started, Result):
            self._not_started(claim, started)
            return
        self._supervised = (claim, started)
        try:
            result, pgid = self._supervise(claim, started), started.pgid
        finally:
            self._supervised = None
        ago = started.ended_ago()
        self._record(claim, replace(result, ended_at=self.clock() - ago), pgid)

    def _not_started(self, claim: Claim, result: Result) -> None:
        """Record a job that could not start. When the system lacked the resources
        (``interrupted``), the job is given back to wait out the worker's pause, which
        claims nothing meanwhile: neither with the record, nor after it."""
        now = self.clock()
        if result.outcome is RunOutcome.INTERRUPTED:
            given_back = self._short_of_resources(result, now)
            self._record(claim, given_back, None, claim_next=False)
        else:
            self._record(claim, replace(result, ended_at=now), None)

    def _short_of_resources(self, result: Result, now: float) -> Result:
        """``result`` of a job the system could not start, given back until the end of
        the pause this starts (or prolongs) for the worker."""
        return replace(result, due_in=self.timers.short_of_resources(now), ended_at=now)

    def _start_watchdog(self) -> None:
        assert self.watchdog is not None
        try:
            self.watchdog.start()
        except OSError as exc:
            if spawn.short_of(exc) is not None:
                # The system's moment, not a lasting lack: the next job tries again
                # (dropping it left the worker's jobs without one for its whole life).
                log.warning("cannot start a job watchdog yet (%s); the next job tries again", exc)
                return
            log.warning("cannot start a job watchdog (%s); recovery alone covers jobs", exc)
            self.watchdog = None

    def _supervise(self, claim: Claim, execution: executor.Execution) -> Result:
        """Pump the job to its end, heartbeating, flushing output and obeying stops/cancels."""
        job = claim.job
        next_flush = self.clock() + FLUSH_INTERVAL
        flushed = 0
        try:
            if execution.pump(PGID_AFTER):
                assert execution.result is not None
                return execution.result
            # Still running: say so in the log (a short job gets only its result
            # line), and record the process group, so that if this worker is
            # SIGKILLed from here on, recovery can still kill the orphan.
            self.log.job_started(claim)
            try:
                flushed = execution.version
                finish.record_progress(
                    claim.run_id,
                    execution.output(so_far=True),
                    output_bytes=execution.buffer.total_so_far,
                    pgid=execution.pgid,
                )
            except StoreUnavailable as exc:
                log.warning("could not record job %s's process group: %s", job.id, first_line(exc))
            next_check = next_flush
            while not execution.pump(0.1):
                now = self.clock()
                if self.stop_mode is not None:
                    self.log.acknowledge_stop(
                        self.stop_mode, [job.id], database_away=self.outage.since is not None
                    )
                if self.stop_mode == FORCE:
                    execution.kill(RunOutcome.INTERRUPTED, FORCED_STOP)
                if now < next_check:
                    continue
                next_check = now + FLUSH_INTERVAL
                try:
                    if now >= next_flush and execution.version != flushed:
                        flushed = execution.version
                        finish.record_progress(
                            claim.run_id,
                            execution.output(so_far=True),
                            output_bytes=execution.buffer.total_so_far,
                        )
                        # A big kept tail (output_limit goes up to 16 MiB) is rewritten
                        # whole on each flush: space those out so the database writes
                        # at most about FLUSH_BYTES_PER_SECOND for one job.
                        size = execution.buffer.size
                        next_flush = now + max(
                            FLUSH_INTERVAL, min(5.0, size / FLUSH_BYTES_PER_SECOND)
                        )
                    self._housekeeping(now, state=WorkerState.BUSY, job_id=job.id)
                    if self.stop_mode == FORCE:
                        execution.kill(RunOutcome.INTERRUPTED, FORCED_STOP)
                    self._check_ownership(claim, execution)
                except StoreUnavailable as exc:
                    self.outage.failed(exc)  # the job keeps running; the next tick tries again
                else:
                    self.outage.over()
        except BaseException:
            execution.abandon()
            raise
        assert execution.result is not None
        return execution.result

    def _check_ownership(self, claim: Claim, execution: executor.Execution) -> None:
        if execution.kill_outcome is not None:
            return
        owner = finish.ownership(claim.job.id, self.id, claim.job.started_at)
        if owner is Ownership.CANCELLED:
            execution.kill(RunOutcome.CANCELLED, "cancelled by user")
        elif owner is Ownership.TAKEN:
            execution.kill(
                RunOutcome.LOST,
                "the job is no longer this attempt's (recovered by another worker, or its"
                " claim was lost in a database crash)",
            )

    def _record(
        self, claim: Claim, result: Result, pgid: int | None, *, claim_next: bool = True
    ) -> None:
        """Record the attempt, our counts and (unless stopping, or not ``claim_next``)
        claim the next job, in one go.

        Retried until it succeeds: giving up would leave the job ``processing``
        under a live, heartbeating worker, where recovery never looks. Only a
        forced stop ends the retries (recovery then finds the job).
        """
        self._recording = claim
        while True:
            try:
                state = self._complete(claim, result, pgid, claim_next)
                self.outage.over()
                break
            except StoreUnavailable as exc:
                delay = self.outage.failed(exc)
                if self.stop_mode == FORCE and self.outage.failures > 3:
                    raise  # ``run`` says so, naming the job (still ``_recording``)
                self.outage_pause(delay, [claim.job.id])
        self._recording = None
        self.log.job_ended(claim, result, state)

    def _complete(
        self, claim: Claim, result: Result, pgid: int | None, claim_next: bool
    ) -> JobState | None:
        """``finish.complete_attempt``: no claim once a stop was requested (a stop that
        comes after the claim gives the job back before it starts, ``_give_back``); our
        row rides along when we go idle or stop, else at most every ``REPORT_INTERVAL``
        (on back-to-back short jobs it was 2 of the 15 pages each job wrote)."""
        now = self.clock()
        done = finish.complete_attempt(
            claim,
            result,
            row=self.row,
            wants_next=(lambda: self.stop_mode is None) if claim_next else None,
            report_due=now >= self.timers.report_due,
            pgid=pgid,
            settings=self.settings,
            now=now,
        )
        if done.reported:
            self.timers.reported(
                now, row_found=done.row_found, heartbeat_interval=self.heartbeat_interval
            )
        else:
            self.timers.unreported()
        self._next_claim = done.next
        for hook in done.hooks:
            self.hooks.submit(hook)  # after the commit; on its own thread
        return done.state
