"""The worker loop: claim a job, run it, record it; heartbeat, recover, stop cleanly.

``Worker.step`` runs one iteration and returns; ``Worker.run`` is the loop with
signal handlers around it. Clock and sleep are parameters, so the unit tests
step a worker through heartbeats, backoff and recovery without waiting.

Stopping follows rq: the first SIGTERM/SIGINT/SIGHUP (or ``stop_requested =
'graceful'`` in the Worker row) is a warm stop that lets the current job
finish; a second signal (or ``'force'``) is a cold stop that kills the job and
gives its attempt back. Workers coordinate only through the database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import time
from collections.abc import Callable, Sequence

import peewee

from queuectl import config
from queuectl.errors import QueueError, first_line
from queuectl.hostid import this_host
from queuectl.jobspec import env_from_json
from queuectl.lifecycle import queue
from queuectl.lifecycle.workers import is_lost
from queuectl.runtime import executor, procs
from queuectl.runtime.outage import Outage
from queuectl.runtime.waiters import Waiter, make_waiter
from queuectl.runtime.watchdog import Watchdog
from queuectl.states import ENDED_WORKER_STATES
from queuectl.store import sql
from queuectl.store.db import execute_raw, is_postgres, write_transaction
from queuectl.store.db import explain as db_explain
from queuectl.store.models import ClaimedJob, Job, JobState, Run, RunOutcome, WorkerState, database
from queuectl.store.models import Worker as WorkerRow
from queuectl.textsafe import one_line
from queuectl.timeutil import human_duration

log = logging.getLogger("queuectl.worker")

PGID_AFTER = 0.05
"""A job still running after this many seconds gets its process group written
to its Run row at once, and a "started" line in the log; shorter jobs store
the group with their result, saving a write transaction per job (the group
dies with the worker anyway: see ``watchdog``), and a short success is only
counted in the log, at the next heartbeat."""

FLUSH_INTERVAL = 0.5
"""Seconds between writes of a running job's output tail (and ownership checks)."""

FLUSH_BYTES_PER_SECOND = 2 * 1024 * 1024
"""Rough cap on the rate of live-tail writes for one job (see ``_supervise``)."""

LOST_CHECK_INTERVAL = 1.0
"""Seconds between read-only looks for dead workers (see ``Worker._someone_is_lost``)."""

REPORT_INTERVAL = 0.5
"""Longest a busy worker's row (current job, counters) lags behind its work."""

CONTROL_INTERVAL = 0.2
"""Seconds between reads of this worker's ``stop_requested`` while idle."""

GRACEFUL = "graceful"
FORCE = "force"

_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


class WorkerIdTaken(QueueError):
    """Another live worker already registered under the requested id."""


def new_worker_id() -> str:
    """``w`` and 6 random characters: short enough to type, unique in practice (30 bits);
    the insert at registration proves it."""
    return "w" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(6))


# --- the worker -----------------------------------------------------------------------


class Worker:
    """One worker process's loop and its row in the Worker table.

    Args:
        queues: the queues it takes jobs from.
        worker_id: fixed id (the supervisor picks it to name the log file); random if None.
        clock: epoch seconds; every time written to the database comes from it.
        sleep: used for every idle wait; tests pass one that advances ``clock``.
        waiter: how to sleep while idle; ``make_waiter`` when None.
        kill_grace: SIGTERM-to-SIGKILL delay for timeouts, cancels and forced stops.
        use_watchdog: keep a ``queuectl.watchdog`` beside the worker (tests stepping
            many in-process workers may do without).
    """

    def __init__(
        self,
        queues: Sequence[str] = ("default",),
        *,
        worker_id: str | None = None,
        log_path: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        waiter: Waiter | None = None,
        kill_grace: float = executor.KILL_GRACE,
        use_watchdog: bool = True,
    ) -> None:
        self.queues = tuple(dict.fromkeys(queues)) or ("default",)
        self.id = worker_id or new_worker_id()
        self._fixed_id = worker_id is not None
        self.pid = os.getpid()
        self.host = this_host()
        self.log_path = log_path
        self.clock = clock
        self.sleep = sleep
        self.waiter = waiter
        self.kill_grace = kill_grace
        self.settings: dict[str, float | int] = {}
        self.stop_mode: str | None = None
        """None, ``graceful`` or ``force``: set by signals and by the Worker row."""
        self.stopped = False
        self.registered = False
        self._signals = 0
        self._stop_announced = False
        self._stop_logged: str | None = None
        """The stop mode last acknowledged in the log (see ``_acknowledge_stop``)."""
        self._next_heartbeat = 0.0
        self._next_recover = 0.0
        self._next_lost_check = 0.0
        self._last_beat_at = 0.0
        self._judge_after = 0.0
        self._next_control = 0.0
        self._next_due: float | None = None
        self._check_now = True
        self._next_claim: queue.Claim | None = None
        """The job claimed in the same transaction that recorded the previous one."""
        self._unreported_done = 0
        self._unreported_failed = 0
        """Jobs counted but not yet written to our row (see ``_finish``)."""
        self._report_due = 0.0
        self._postgres = False
        """Set at registration: PostgreSQL takes the one-statement path (``_finish``)."""
        self._quiet_successes = 0
        """Short successful jobs not logged one by one (see ``_record``)."""
        self._environment = dict(os.environb)
        """Copied once, as bytes: see ``executor.job_environment``."""
        self.watchdog: Watchdog | None = Watchdog() if use_watchdog else None
        """Kills the running job's group if this process dies; started with the first job."""
        self.outage = Outage(
            log.warning, f"worker {self.id}", max_delay=self._retry_cap, explain=db_explain
        )
        """Database failures in a row: logged once, retried with backoff (see ``run``)."""
        self._pause_noted_at = 0.0

    # --- lifecycle --------------------------------------------------------------------

    def register(self) -> None:
        """Insert this worker's row, then recover jobs of workers that died before us."""
        now = self.clock()
        self.settings = config.load()
        fields = {
            "pid": self.pid,
            "host": self.host,
            "queues": ",".join(self.queues),
            "state": WorkerState.IDLE.value,
            "current_job": None,
            "started_at": now,
            "heartbeat_at": now,
            "stopped_at": None,
            "jobs_done": 0,
            "jobs_failed": 0,
            "stop_requested": None,
            "log_path": self.log_path,
        }
        for _ in range(5):
            with write_transaction():
                existing = WorkerRow.get_or_none(WorkerRow.id == self.id)
                if existing is None:
                    WorkerRow.insert(id=self.id, **fields).execute()
                    break
                if self._fixed_id and existing.state in ENDED_WORKER_STATES:
                    WorkerRow.update(fields).where(WorkerRow.id == self.id).execute()
                    break
            if self._fixed_id:
                raise WorkerIdTaken(f"a live worker with id {self.id!r} is already registered")
            self.id = new_worker_id()
        else:  # pragma: no cover - five 30-bit collisions in a row
            raise QueueError("could not find a free worker id")
        self.registered = True
        self.outage.what = f"worker {self.id}"
        self._postgres = is_postgres()
        if self.waiter is None:
            self.waiter = make_waiter(self.sleep)
        self._next_heartbeat = now + self.heartbeat_interval
        self._last_beat_at = now
        self._next_recover = now  # recover at start, as procrastinate prunes stalled workers
        log.info(
            "worker %s started (pid %d, host %s, queues %s)",
            self.id,
            self.pid,
            one_line(self.host),
            ",".join(self.queues),
        )

    @property
    def heartbeat_interval(self) -> float:
        """Several heartbeats per lease, so one slow write never makes us look dead."""
        return max(0.1, float(self.settings.get("lease_seconds", 30.0)) / 4)

    def _retry_cap(self) -> float:
        """Longest pause between retries while the database is away.

        A heartbeat interval at most, so that when the database returns every
        worker heartbeats before a sibling could judge it lost.
        """
        return min(5.0, self.heartbeat_interval)

    @property
    def recover_interval(self) -> float:
        return min(10.0, max(0.5, float(self.settings.get("lease_seconds", 30.0)) / 2))

    def request_stop(self, *, force: bool = False) -> None:
        """Warm stop, or cold with ``force``; only sets a flag (safe from a signal handler)."""
        if force:
            self.stop_mode = FORCE
        elif self.stop_mode is None:
            self.stop_mode = GRACEFUL

    def _on_signal(self, signum: int, _frame: object) -> None:
        # Count signals rather than look at stop_mode: ``worker stop`` writes
        # 'graceful' to the row *and* sends SIGTERM, and if the row is read first,
        # that one SIGTERM must not turn the warm stop into a cold one.
        self._signals += 1
        self.request_stop(force=self._signals >= 2)
        # Logging from a handler can deadlock on the handler's own lock; keep it to flags.

    def run(self, *, install_signals: bool = True) -> int:
        """Register and loop until stopped; returns the process exit code (0 on a clean stop)."""
        if install_signals:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(signum, self._on_signal)
        if not self.registered:
            self.register()
        while True:
            try:
                if not self.step():
                    return 0
                self.outage.over()
            except peewee.DatabaseError as exc:
                # A locked, restarting or crashed database is weather, not a reason
                # to die: back off and try again; recovery covers what was in flight.
                delay = self.outage.failed(exc)
                self._reset_connection()
                if self.stop_mode == FORCE or (self.stop_mode and self.outage.failures > 5):
                    return 1
                self.sleep(delay)
            except BaseException:
                # A bug or an interrupt: say so in the row before dying, so the
                # dashboard does not show a live worker and recovery takes the job.
                self._mark_stopped_quietly()
                raise

    def step(self) -> bool:
        """One iteration: housekeeping, then one job or one idle wait.

        Returns ``False`` when the worker has stopped and the loop should end.
        """
        if self.stopped:
            return False
        if not self.registered:
            self.register()
        now = self.clock()
        claim, self._next_claim = self._next_claim, None
        if claim is None:
            self._housekeeping(now, state=WorkerState.IDLE)
        else:
            self._housekeeping(now, state=WorkerState.BUSY, job_id=claim.job.id)
        if self.stop_mode is not None:
            if claim is not None:
                self._give_back(claim)
            self._mark_stopped()
            return False
        if claim is None:
            if self._check_now:
                self._next_due = queue.next_due_at(self.queues)
                self._check_now = False
            if self._next_due is not None and self._next_due <= now:
                claim = self._claim(now)
                if claim is None:
                    self._next_due = queue.next_due_at(self.queues)
        if claim is not None:
            self._execute(claim)
            self._check_now = True  # more work is likely: look again without waiting
            return True
        self._idle(now)
        return True

    def _claim(self, now: float) -> queue.Claim | None:
        """Claim a job and mark ourselves busy with it, in one transaction."""
        with write_transaction():
            claim = queue.claim_locked(self.id, self.queues, host=self.host, now=now)
            if claim is not None:
                WorkerRow.update(state=WorkerState.BUSY.value, current_job=claim.job.id).where(
                    WorkerRow.id == self.id
                ).execute()
        return claim

    def _give_back(self, claim: queue.Claim) -> None:
        """A stop came between claiming a job and starting it: back to pending, attempt unspent."""
        queue.finish(
            claim.job.id,
            claim.run_id,
            self.id,
            outcome=RunOutcome.INTERRUPTED,
            error="worker stopped before starting it",
            now=self.clock(),
        )

    def _idle(self, now: float) -> None:
        timeout = float(self.settings.get("poll_interval", 1.0))
        # Recovery is not due before _judge_after (after a pause of our own), so a
        # past _next_recover must not turn the wait into a busy loop meanwhile.
        judge = max(min(self._next_recover, self._next_lost_check), self._judge_after)
        for moment in (self._next_due, self._next_heartbeat, judge):
            if moment is not None:
                timeout = min(timeout, moment - now)
        timeout = max(0.01, timeout)
        assert self.waiter is not None
        changed = self.waiter.wait(timeout, lambda: self.stop_mode is not None)
        if changed or self.clock() >= now + float(self.settings.get("poll_interval", 1.0)):
            # Another connection committed (or the longest sleep passed): look again,
            # including at our stop request, which may be what changed.
            self._check_now = True
            self._next_control = 0.0

    def _acknowledge_stop(self, job_id: str) -> None:
        """Say in the log, once per kind, that a stop was heard and what happens next.

        The signal handler may not log (it could deadlock on the handler's own
        lock), so the loop does, within a tenth of a second: someone who pressed
        Ctrl-C on ``worker run`` while a long job runs sees it was heard. (An idle
        worker stops at once, and its "stopped" line says so.)
        """
        if self.stop_mode == self._stop_logged:
            return
        self._stop_logged = self.stop_mode
        if self.stop_mode == FORCE:
            log.warning(
                "worker %s: forced stop; killing job %s (its attempt is given back)",
                self.id,
                job_id,
            )
        else:
            log.info(
                "worker %s: stopping after job %s finishes (signal again to kill it)",
                self.id,
                job_id,
            )

    def _mark_stopped_quietly(self) -> None:
        try:
            self._mark_stopped()
        except peewee.DatabaseError as exc:
            log.warning("could not mark worker %s stopped: %s", self.id, first_line(exc))

    def _mark_stopped(self) -> None:
        now = self.clock()
        with write_transaction():
            WorkerRow.update(
                state=WorkerState.STOPPED.value,
                stopped_at=now,
                current_job=None,
                heartbeat_at=now,
                jobs_done=WorkerRow.jobs_done + self._unreported_done,
                jobs_failed=WorkerRow.jobs_failed + self._unreported_failed,
            ).where(WorkerRow.id == self.id).execute()
        self._unreported_done = self._unreported_failed = 0
        self.stopped = True
        self._log_quiet_successes()
        if self.watchdog is not None:
            self.watchdog.close()
        if self.waiter is not None:
            self.waiter.close()
        log.info("worker %s stopped (%s)", self.id, self.stop_mode or "done")

    # --- housekeeping -----------------------------------------------------------------

    def _housekeeping(self, now: float, *, state: WorkerState, job_id: str | None = None) -> None:
        """Heartbeat, recover others and read our stop request, each when it is due."""
        lease = float(self.settings.get("lease_seconds", 30.0))
        if now - self._last_beat_at > lease:
            # We missed our own heartbeats (suspend and resume, SIGSTOP, a clock jump,
            # the database away), so the other workers probably did too: give them a
            # heartbeat round before judging them lost, or the first to come back
            # would kill everyone's jobs.
            self._judge_after = now + lease / 2
            if self._pause_noted_at != self._last_beat_at:  # once per pause, not per retry
                self._pause_noted_at = self._last_beat_at
                log.warning(
                    "worker %s could not heartbeat for %.0fs (paused, or the database was"
                    " away); recovery of others waits %.1fs",
                    self.id,
                    now - self._last_beat_at,
                    lease / 2,
                )
            self._next_heartbeat = now
        if now >= self._next_heartbeat or now >= self._next_recover:
            self.settings = config.load()  # config changes apply within a heartbeat
            self.heartbeat(now, state=state, job_id=job_id)
            self._release_forgotten(now, job_id)
            if self.watchdog is not None:
                self.watchdog.check()  # replaced if someone killed it
        if now < self._judge_after:
            pass
        elif now >= self._next_recover:
            self.recover(now)
        elif now >= self._next_lost_check:
            self._next_lost_check = now + LOST_CHECK_INTERVAL
            if self._someone_is_lost(now):
                self.heartbeat(now, state=state, job_id=job_id)  # never look lost ourselves
                self.recover(now)
        if now >= self._next_control:
            self._next_control = now + CONTROL_INTERVAL
            self._read_stop_request()
        if self.stop_mode is not None and not self._stop_announced and job_id is not None:
            # Show "stopping" now, not at the next heartbeat, while the job finishes.
            self._stop_announced = True
            self.heartbeat(now, state=state, job_id=job_id)

    def heartbeat(
        self, now: float, *, state: WorkerState = WorkerState.IDLE, job_id: str | None = None
    ) -> None:
        """Say we are alive; re-register if recovery (or a user) removed our row meanwhile."""
        if self.stop_mode is not None and state is not WorkerState.STOPPED:
            state = WorkerState.STOPPING
        changed = (
            WorkerRow.update(
                heartbeat_at=now,
                state=state.value,
                current_job=job_id,
                stopped_at=None,
                jobs_done=WorkerRow.jobs_done + self._unreported_done,
                jobs_failed=WorkerRow.jobs_failed + self._unreported_failed,
            )
            .where(WorkerRow.id == self.id)
            .execute()
        )
        self._unreported_done = self._unreported_failed = 0
        self._log_quiet_successes()
        if changed == 0:
            log.warning("worker %s: its row was gone; registering again", self.id)
            self._fixed_id = True
            self.register()
        self._next_heartbeat = now + self.heartbeat_interval
        self._last_beat_at = now

    def _release_forgotten(self, now: float, job_id: str | None) -> None:
        """Jobs the database says we run but we do not (a lost commit): recover them.

        Every heartbeat, so within a lease; see ``queue.release_forgotten``.
        """
        running = {job_id} if job_id else set()
        if self._next_claim is not None:
            running.add(self._next_claim.job.id)
        released = queue.release_forgotten(self.id, running, now=now)
        if released:
            log.warning(
                "worker %s was not running job(s) %s that the database gave it (a lost"
                " commit); recovered them",
                self.id,
                ", ".join(released),
            )

    def _log_quiet_successes(self) -> None:
        if self._quiet_successes:
            log.info(
                "%d job(s) succeeded in under %dms each since the last report",
                self._quiet_successes,
                PGID_AFTER * 1000,
            )
            self._quiet_successes = 0

    def recover(self, now: float) -> list[str]:
        """Requeue the jobs of dead workers, killing their orphaned process groups first."""
        recovered = queue.recover_lost(
            lease_seconds=float(self.settings["lease_seconds"]),
            host=self.host,
            pid_alive=procs.pid_alive,
            before_requeue=self._kill_orphan,
            now=now,
        )
        if recovered:
            log.warning("recovered jobs of lost workers: %s", ", ".join(recovered))
        self._next_recover = now + self.recover_interval
        return recovered

    def _someone_is_lost(self, now: float) -> bool:
        """A read-only look for dead workers, cheap enough to run every second.

        The full recovery takes the write lock, so it runs only every
        ``recover_interval``, unless this check finds a worker whose process is
        gone on this host or whose lease ran out: a ``kill -9`` is then noticed
        within a second, not at the next scheduled recovery.
        """
        lease = float(self.settings["lease_seconds"])
        query = WorkerRow.select(
            WorkerRow.id, WorkerRow.state, WorkerRow.pid, WorkerRow.host, WorkerRow.heartbeat_at
        ).where(
            WorkerRow.state.not_in([state.value for state in ENDED_WORKER_STATES]),
            WorkerRow.id != self.id,
        )
        return any(
            is_lost(row, now=now, lease_seconds=lease, host=self.host, pid_alive=procs.pid_alive)
            for row in query
        )

    def _kill_orphan(self, run: Run) -> None:
        procs.kill_orphan_group(run, self.host)

    def _read_stop_request(self) -> None:
        row = WorkerRow.select(WorkerRow.stop_requested).where(WorkerRow.id == self.id).first()
        if row is not None and row.stop_requested in (GRACEFUL, FORCE):
            self.request_stop(force=row.stop_requested == FORCE)

    def _reset_connection(self) -> None:
        with contextlib.suppress(peewee.DatabaseError):
            if not database.is_closed():
                database.close()

    # --- running a job ----------------------------------------------------------------

    def _execute(self, claim: queue.Claim) -> None:
        job = claim.job
        timeout = job.timeout if job.timeout is not None else self.settings["job_timeout"]
        if self.watchdog is not None and self.watchdog.pid is None:
            self.watchdog.marker = self.id
            self._start_watchdog()
        started = executor.Execution.start(
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
            watchdog=self.watchdog,
        )
        if isinstance(started, executor.Result):
            result, pgid = started, None
        else:
            result, pgid = self._supervise(job, claim.run_id, started), started.pgid
        self._record(job, claim.run_id, result, pgid)

    def _start_watchdog(self) -> None:
        assert self.watchdog is not None
        try:
            self.watchdog.start()
        except OSError as exc:
            log.warning("cannot start a job watchdog (%s); recovery alone covers jobs", exc)
            self.watchdog = None

    def _supervise(
        self, job: ClaimedJob, run_id: int, execution: executor.Execution
    ) -> executor.Result:
        """Pump the job to its end, heartbeating, flushing output and obeying stops/cancels."""
        next_flush = self.clock() + FLUSH_INTERVAL
        flushed = 0
        try:
            if execution.pump(PGID_AFTER):
                assert execution.result is not None
                return execution.result
            # Still running: say so in the log (a short job gets only its result
            # line: two lines per job were a tenth of a worker's CPU on trivial
            # jobs), and record the process group, so that if this worker is
            # SIGKILLed from here on, recovery can still kill the orphan.
            log.info(
                "job %s attempt %d started: %s", job.id, job.attempts, one_line(job.command, 200)
            )
            try:
                flushed = execution.version
                queue.record_progress(
                    run_id,
                    execution.output(),
                    output_bytes=execution.buffer.total,
                    pgid=execution.pgid,
                )
            except peewee.DatabaseError as exc:
                log.warning("could not record job %s's process group: %s", job.id, first_line(exc))
            next_check = next_flush
            while not execution.pump(0.1):
                now = self.clock()
                if self.stop_mode is not None:
                    self._acknowledge_stop(job.id)
                if self.stop_mode == FORCE:
                    execution.kill(RunOutcome.INTERRUPTED, "worker stopped (forced)")
                if now < next_check:
                    continue
                next_check = now + FLUSH_INTERVAL
                try:
                    if now >= next_flush and execution.version != flushed:
                        flushed = execution.version
                        queue.record_progress(
                            run_id, execution.output(), output_bytes=execution.buffer.total
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
                        execution.kill(RunOutcome.INTERRUPTED, "worker stopped (forced)")
                    self._check_ownership(job, execution)
                except peewee.DatabaseError as exc:
                    # The job keeps running; the next tick tries again.
                    self.outage.failed(exc)
                    self._reset_connection()
                else:
                    self.outage.over()
        except BaseException:
            execution.abandon()
            raise
        assert execution.result is not None
        return execution.result

    def _check_ownership(self, job: ClaimedJob, execution: executor.Execution) -> None:
        if execution.kill_outcome is not None or queue.still_owns(job.id, self.id):
            return
        row = Job.get_or_none(Job.id == job.id)
        if row is None or row.state == JobState.CANCELLED:
            execution.kill(RunOutcome.CANCELLED, "cancelled by user")
        else:
            execution.kill(RunOutcome.LOST, "the job was recovered by another worker")

    def _finish(
        self, job: ClaimedJob, run_id: int, result: executor.Result, pgid: int | None
    ) -> JobState | None:
        """Record the attempt and claim the next job, in one write transaction.

        One lock acquisition and one commit per job instead of two: on trivial
        jobs that is most of the queue's cost. No claim once a stop was
        requested; a stop that comes after the claim gives the job back
        (``_give_back``) before it starts.

        The worker's own row (state, current job, counters, heartbeat) rides
        along when it goes idle or stops, and otherwise at most every
        ``REPORT_INTERVAL``: on back-to-back short jobs it was 2 of the 15
        pages each job wrote.
        """
        now = self.clock()
        done = self._unreported_done + int(result.outcome is RunOutcome.SUCCEEDED)
        failed = self._unreported_failed + int(
            result.outcome in (RunOutcome.FAILED, RunOutcome.TIMED_OUT)
        )
        beat = False
        if (
            self._postgres
            and result.outcome is RunOutcome.SUCCEEDED
            and self.stop_mode is None
            and now < self._report_due
        ):
            # The common case on PostgreSQL: one round trip instead of six.
            state, claim = queue.succeed_and_claim(
                job.id,
                run_id,
                self.id,
                self.queues,
                exit_code=result.exit_code,
                output=result.output,
                output_bytes=result.output_bytes,
                pgid=pgid,
                host=self.host,
                now=now,
            )
            if claim is not None:
                self._unreported_done, self._unreported_failed = done, failed
                self._next_claim = claim
                return state
            # Nothing was due: the worker goes idle, and its row must say so.
            with write_transaction():
                beat = self._report(now, None, done, failed)
            self._after_report(now, beat)
            self._next_claim = None
            return state
        with write_transaction():
            state = queue.finish_locked(
                job.id,
                run_id,
                self.id,
                outcome=result.outcome,
                exit_code=result.exit_code,
                output=result.output,
                output_bytes=result.output_bytes,
                error=result.error,
                final=result.final,
                pgid=pgid,
                now=now,
            )
            claim = None
            if self.stop_mode is None:
                claim = queue.claim_locked(self.id, self.queues, host=self.host, now=now)
            report = claim is None or self.stop_mode is not None or now >= self._report_due
            if report:
                beat = self._report(now, claim, done, failed)
        if report:
            self._after_report(now, beat)
        else:
            self._unreported_done, self._unreported_failed = done, failed
        self._next_claim = claim
        return state

    def _report(self, now: float, claim: queue.Claim | None, done: int, failed: int) -> bool:
        """Write our row after a job (inside the caller's transaction); False if it was gone."""
        cursor = execute_raw(
            sql.statement(sql.WORKER_AFTER_JOB, database.obj.param),
            (
                WorkerState.BUSY.value if claim else WorkerState.IDLE.value,
                claim.job.id if claim else None,
                now,
                done,
                failed,
                self.id,
            ),
        )
        return cursor.rowcount == 1

    def _after_report(self, now: float, beat: bool) -> None:
        self._unreported_done = self._unreported_failed = 0
        self._report_due = now + REPORT_INTERVAL
        if beat:
            self._next_heartbeat = max(self._next_heartbeat, now + self.heartbeat_interval / 2)

    def _record(
        self, job: ClaimedJob, run_id: int, result: executor.Result, pgid: int | None = None
    ) -> None:
        """Store the result and our counters in one transaction (and claim the next job).

        Retried until it succeeds: giving up would leave the job ``processing``
        under a live, heartbeating worker, where recovery never looks. Only a
        forced stop ends the retries (recovery then finds the job).
        """
        while True:
            try:
                state = self._finish(job, run_id, result, pgid)
                self.outage.over()
                break
            except peewee.DatabaseError as exc:
                delay = self.outage.failed(exc)
                if self.stop_mode == FORCE and self.outage.failures > 3:
                    raise
                self._reset_connection()
                self.sleep(delay)
        if state is None:
            log.warning(
                "job %s: %s; the run was recorded, the job left as it is",
                job.id,
                "no longer ours (cancelled, deleted, recovered, or its claim was lost in a"
                " database crash)",
            )
        elif result.outcome is RunOutcome.SUCCEEDED and result.duration < PGID_AFTER:
            # A log line per trivial job cost a worker a tenth of its CPU, and at a
            # few hundred jobs a second it floods the log; the database has every
            # run. Such jobs are summed up at the next heartbeat instead.
            self._quiet_successes += 1
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
