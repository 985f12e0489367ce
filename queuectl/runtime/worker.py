"""The worker loop: claim a job, run it, record it; heartbeat, recover, stop cleanly.

``Worker.step`` runs one iteration and returns; ``Worker.run`` is the loop with
signal handlers around it. Clock and sleep are parameters, so the unit tests
step a worker through heartbeats, backoff and recovery without waiting.

The loop holds no SQL and imports no storage module: every change to a job or
to its own row is a call into the lifecycle layer (``claim``, ``finish``,
``recovery``, ``workers``), and a database failure reaches it as
``StoreUnavailable``. Its row is a ``workers.Registration``, its clocks are
``Timers``, its log lines a ``WorkLog``.

With ``slots`` above 1 the same worker runs several jobs at once
(``queuectl.runtime.slots``): ``step`` then hands over to ``_slot_step``, which
calls the same ``_housekeeping`` (so a periodic duty added there runs in both
loops), claims and stops the same way, and records finishes in groups.

Stopping follows rq: the first SIGTERM/SIGINT/SIGHUP (or ``stop_requested =
'graceful'`` in the Worker row) is a warm stop that lets the current job
finish; a second signal (or ``'force'``) is a cold stop that kills the job and
gives its attempt back. Workers coordinate only through the database.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Sequence

from queuectl import hostid
from queuectl.errors import StoreUnavailable, first_line
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import finish, recovery, store_answers, workers
from queuectl.lifecycle.claim import Claim
from queuectl.lifecycle.policy import Result
from queuectl.lifecycle.settings import load as load_settings
from queuectl.lifecycle.workers import FORCE, GRACEFUL, Registration
from queuectl.runtime import executor, procs
from queuectl.runtime.attempt import AttemptRunner
from queuectl.runtime.firing import ScheduleFirer
from queuectl.runtime.hooks import HookRunner
from queuectl.runtime.outage import Outage
from queuectl.runtime.slots import SlotRunner
from queuectl.runtime.timekeeper import Timekeeper
from queuectl.runtime.timers import CONTROL_INTERVAL, LOST_CHECK_INTERVAL, Timers
from queuectl.runtime.waiters import Waiter, make_waiter
from queuectl.runtime.watchdog import Watchdog
from queuectl.runtime.worklog import WorkLog
from queuectl.states import FORCED_STOP, RunOutcome, WorkerState
from queuectl.textsafe import one_line

log = logging.getLogger("queuectl.worker")

STOP_LOOK = 0.1
"""While the database is away, how often the pause before the next try looks for a stop."""

MEND_INTERVAL = 60.0
"""Seconds between a worker's sweeps for blocked jobs no rule moved (PostgreSQL;
``recovery.mend_blocked``). The finish, enqueue and cancel that race look again at once;
the sweep is for a process that died in between, and reads every blocked job (70 ms at
20,000 of them): once a minute, not at every recovery."""


class Worker(AttemptRunner, SlotRunner):
    """One worker process's loop.

    Args:
        queues: the queues it takes jobs from.
        worker_id: fixed id (the supervisor picks it to name the log file); random if None.
        clock: epoch seconds; every time written to the database comes from it.
        sleep: used for every idle wait; tests pass one that advances ``clock``.
        waiter: how to sleep while idle; ``make_waiter`` when None.
        kill_grace: SIGTERM-to-SIGKILL delay for timeouts, cancels and forced stops.
        use_watchdog: keep a ``queuectl.runtime.watchdog`` beside the worker (tests
            stepping many in-process workers may do without).
        slots: how many jobs it runs at once (``queuectl.runtime.slots``); 1 runs
            one job at a time in this loop.
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
        slots: int = 1,
        database_away_since: float | None = None,
    ) -> None:
        """``database_away_since``: when the process began to wait for the database at
        its start (``worker run`` started during an outage), for the schedules' ticks
        due meanwhile (``ScheduleFirer``)."""
        self.slots = max(1, slots)
        self.row = Registration(
            queues,
            worker_id=worker_id,
            log_path=log_path,
            pid=os.getpid(),
            host=hostid.this_host(),
            slots=self.slots,
        )
        self.clock = clock
        self.sleep = sleep
        self.waiter = waiter
        self.kill_grace = kill_grace
        self.settings: dict[str, float | int] = {}
        self.stop_mode: str | None = None
        """None, ``graceful`` or ``force``: set by signals and by the Worker row."""
        self.stopped = False
        self.registered = False
        self.timers = Timers()
        self.log = WorkLog(self.row.id)
        self._signals = 0
        self.exit_status = 0
        """``run``'s status once stopped: 1 when the worker stopped of its own accord
        because something is wrong (its database file moved), so a supervisor sees it."""
        self._stop_announced = False
        self._next_due: float | None = None
        self._check_now = True
        self._next_mend = 0.0
        self._looked_at = float("-inf")
        """When ``_next_due`` was last read: an idle worker reads it again at least every
        ``poll_interval``, however its waits are cut short (heartbeats, schedules)."""
        self._next_claim: Claim | None = None
        """The job claimed in the same transaction that recorded the previous one."""
        self._recording: Claim | None = None
        """The job whose end ``_record`` is storing (through an outage, perhaps)."""
        self._supervised: tuple[Claim, executor.Execution] | None = None
        """The job a one-slot worker runs now (``_supervise``)."""
        self._environment = dict(os.environb)
        """Copied once, as bytes: see ``executor.job_environment``."""
        self.watchdog: Watchdog | None = Watchdog(slots=self.slots) if use_watchdog else None
        """Kills the running job's group if this process dies; started with the first job."""
        self.timekeeper = Timekeeper()
        """Times out jobs when a database call holds the loop up; a thread from the first
        job with a timeout."""
        self.outage = Outage(
            log.warning,
            f"worker {self.id}",
            max_delay=self._retry_cap,
            on_away=lambda: self.schedules.database_away(),
            on_back=self._after_outage,
        )
        """Database failures in a row: logged once, retried with backoff (see ``run``)."""
        self.hooks = HookRunner(
            lambda: float(self.settings.get("hook_timeout", 30.0)), environment=self._environment
        )
        """Runs the hooks of the outcomes this worker commits, on a thread of its own."""
        self.schedules = ScheduleFirer(away_since=database_away_since)
        """Fires the schedules' due ticks (any live worker may; the database picks one)."""
        self._init_slots()

    @property
    def id(self) -> str:
        return self.row.id

    @property
    def queues(self) -> tuple[str, ...]:
        return self.row.queues

    @property
    def host(self) -> str:
        return self.row.host

    # --- lifecycle --------------------------------------------------------------------

    def register(self) -> None:
        """Insert this worker's row; recovery of workers that died before us follows at once."""
        now = self.clock()
        self.settings = load_settings()
        self.row.register(now)
        self.registered = True
        self.log.worker_id = self.id
        self.outage.what = f"worker {self.id}"
        if self.waiter is None:
            self.waiter = make_waiter(self.sleep)
        lease = self.lease_seconds
        self.timers.started(now, self.heartbeat_interval, lease)
        self.row.while_locked_out(self.while_locked_out)
        log.info(
            "worker %s started (pid %d, host %s, queues %s)",
            self.id,
            self.row.pid,
            one_line(self.host),
            ",".join(self.queues),
        )

    @property
    def lease_seconds(self) -> float:
        """The heartbeat age at which others take a worker for lost, as last read."""
        return float(self.settings.get("lease_seconds", 30.0))

    @property
    def heartbeat_interval(self) -> float:
        """Several heartbeats per lease (``workers.heartbeat_interval``)."""
        return workers.heartbeat_interval(self.lease_seconds)

    def _retry_cap(self) -> float:
        """Longest pause between retries while the database is away (``workers.retry_cap``)."""
        return workers.retry_cap(self.lease_seconds)

    def _after_outage(self) -> None:
        """The database answers again: the waiter mends its own connection now, and the
        schedules wait for the other workers to record what ended meanwhile."""
        if self.waiter is not None:
            self.waiter.after_outage()
        self.schedules.database_back(self.clock(), self._retry_cap())

    @property
    def recover_interval(self) -> float:
        return min(10.0, max(0.5, self.lease_seconds / 2))

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
                answered = store_answers()
                if not self.step():
                    return self.exit_status
                # Back only once a statement went through (a slot loop's step may need
                # none), and not while a slot loop rides out the outage in its steps.
                if not self.store_in_doubt and store_answers() != answered:
                    self.outage.over()
            except StoreUnavailable as exc:
                # A locked, restarting or crashed database is weather, not a reason
                # to die: back off and try again; recovery covers what was in flight.
                delay = self.outage.failed(exc)
                # Looked at here too: a worker riding out an outage never heartbeats, and
                # one whose file was moved away meanwhile went on logging the outage's
                # stale reason for minutes (an outside try).
                self._stop_if_the_file_is_gone()
                held = self._held_job_ids()
                if self.stop_mode == FORCE or (self.stop_mode and self.outage.failures > 5):
                    self.log.stopped_in_outage(self.stop_mode, held)
                    return 1
                self.outage_pause(delay, held)
            except BaseException as exc:
                # A bug or an interrupt: say so in the row before dying, so the
                # dashboard does not show a live worker and recovery takes the job.
                self._mark_stopped_quietly(None if isinstance(exc, KeyboardInterrupt) else exc)
                raise

    def outage_pause(self, delay: float, held: Sequence[str]) -> None:
        """Wait ``delay`` before trying the database again, but say at once when a stop
        comes meanwhile (``worker run``'s promise: a stop is acknowledged within a tenth
        of a second), and try again at once when it does."""
        mode = self.stop_mode
        self.log.stop_heard_in_outage(mode, held)
        end = self.clock() + delay  # the worker's clock: tests' sleep advances it
        while self.stop_mode == mode:
            left = end - self.clock()
            if left <= 0:
                return
            self.sleep(min(left, STOP_LOOK))
        self.log.stop_heard_in_outage(self.stop_mode, held)

    def while_locked_out(self) -> None:
        """Between a write's tries for SQLite's lock while another process holds it (up to
        the 15 s busy timeout in all; ``db.on_lock_wait``): what the loop would otherwise
        see only once the write returns. A job that exits is noted then, so its run ends
        when it did; a stop is said at once, and a forced one kills the jobs and gives
        up the wait (a second SIGTERM took 15 s, the job running 27 s after it)."""
        executions = self._executions()
        for execution in executions:
            execution.note_exit()
        mode = self.stop_mode
        if mode is None:
            return
        self.log.stop_heard_in_outage(mode, self._held_job_ids())
        if mode == FORCE:
            for execution in executions:
                execution.kill(RunOutcome.INTERRUPTED, FORCED_STOP)
            raise StoreUnavailable(
                "a forced stop came while another process held the database's write lock"
            )

    def _executions(self) -> list[executor.Execution]:
        """The jobs running now: the one of a one-slot worker, or its slots'."""
        running = [self._supervised[1]] if self._supervised is not None else []
        return running + self.slot_executions()

    def _held_job_ids(self) -> list[str]:
        """The jobs this worker holds that the database does not know have ended: the one
        it runs or whose end it is recording (``_recording``), the one it claimed next,
        its slots'."""
        held = [self._supervised[0].job.id] if self._supervised is not None else []
        if self._recording is not None:
            held.append(self._recording.job.id)
        if self._next_claim is not None:
            held.append(self._next_claim.job.id)
        return held + sorted(self.slot_job_ids() - set(held))

    def step(self) -> bool:
        """One iteration: housekeeping, then one job or one idle wait.

        Returns ``False`` when the worker has stopped and the loop should end.
        """
        if self.stopped:
            return False
        if not self.registered:
            self.register()
        if self.slots > 1:
            return self._slot_step()
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
            claim = self._claim_if_due(now)
        if claim is not None:
            self._execute(claim)
            self._check_now = True  # more work is likely: look again without waiting
            return True
        self._idle(now)
        return True

    def _claim_if_due(self, now: float) -> Claim | None:
        """Claim a job if one is due; back off when a due job is refused.

        ``next_due_at`` and the claim apply the same rule (``sql.claimable``),
        so a due job is refused only when another worker took it first, or
        when a rule only the claim applies holds it back. Either way the worker
        waits (``Timers.refused``) instead of claiming again at once: a job the
        claim keeps refusing costs a few claims a second, not a hundred.
        """
        if self._check_now:
            self._next_due = claiming.next_due_at(self.queues)
            self._check_now = False
            self._looked_at = now
        if self._next_due is None or self._next_due > now:
            self.timers.claimed()  # nothing due: no backoff to keep
            return None
        if now < self.timers.claim_after:
            return None
        claim = claiming.claim(self.id, self.queues, host=self.host, now=now)
        if claim is not None:
            self.timers.claimed()
            return claim
        self._next_due = claiming.next_due_at(self.queues)
        if self._next_due is not None and self._next_due <= now:
            self.timers.refused(now, cap=float(self.settings.get("poll_interval", 1.0)))
        return None

    def _give_back(self, claim: Claim) -> None:
        """A stop came between claiming a job and starting it: back to pending, attempt unspent."""
        ended = Result(
            RunOutcome.INTERRUPTED,
            exit_code=None,
            output="",
            error="worker stopped before starting it",
            output_bytes=None,
        )
        finish.complete_attempt(claim, ended, settings=self.settings, now=self.clock())

    def _idle(self, now: float) -> None:
        poll = float(self.settings.get("poll_interval", 1.0))
        # Recovery is not due before judge_after (after a pause of our own), so a
        # past next_recover must not turn the wait into a busy loop meanwhile.
        timeout = min(
            self.timers.idle_timeout(now, self._next_due, poll), self.schedules.wait_limit(now)
        )
        assert self.waiter is not None
        changed = self.waiter.wait(timeout, lambda: self.stop_mode is not None)
        if changed or self.clock() >= self._looked_at + poll:
            # Another connection committed, or a poll interval passed since the last
            # look (over however many short waits): look again, including at our stop
            # request, which may be what changed. Measuring from the last look, not from
            # this wait's start, matters: the waits are cut short by the heartbeat, the
            # check for lost workers and the schedules, so none may last a whole poll.
            self._check_now = True
            self.timers.next_control = 0.0

    def _mark_stopped_quietly(self, crash: BaseException | None = None) -> None:
        try:
            self._mark_stopped(crash)
        except StoreUnavailable as exc:
            log.warning("could not mark worker %s stopped: %s", self.id, first_line(exc))

    def _mark_stopped(self, crash: BaseException | None = None) -> None:
        self.row.mark_stopped(self.clock())
        self.row.while_locked_out(None)
        self.stopped = True
        self.log.sum_up()
        self.hooks.close()  # the hooks of jobs already recorded still run
        if self.watchdog is not None:
            self.watchdog.close()
        self.timekeeper.close()
        if self.waiter is not None:
            self.waiter.close()
        if crash is not None and not isinstance(crash, SystemExit):
            # It read "stopped (done)", then a traceback: a crash passed for a clean end.
            why = f"{type(crash).__name__}: {first_line(crash)}"
            log.error("worker %s stopped: it crashed (%s)", self.id, why)
        else:
            log.info("worker %s stopped (%s)", self.id, self.stop_mode or "done")

    # --- housekeeping -----------------------------------------------------------------

    def _housekeeping(self, now: float, *, state: WorkerState, job_id: str | None = None) -> None:
        """Heartbeat, recover others and read our stop request, each when it is due."""
        timers = self.timers
        lease = self.lease_seconds
        missed_since = timers.last_beat_at
        paused = timers.missed_beats(now, lease) and timers.pause_noted_at != missed_since
        if now >= timers.next_heartbeat or now >= timers.next_recover:
            self.settings = load_settings()  # config changes apply within a heartbeat
            self.heartbeat(now, state=state, job_id=job_id)
            self._release_forgotten(now, job_id)
            if self.watchdog is not None:
                self.watchdog.check()  # replaced if someone killed it
        if paused:
            # Said once the beat went through: said before it, while the database was
            # still away, it read as if the database were back (an operator's try).
            timers.pause_noted_at = missed_since  # once per pause, not per retry
            log.warning(
                "worker %s could not heartbeat for %.0fs (paused, or the database was"
                " away); recovery of others waits %.1fs",
                self.id,
                now - missed_since,
                lease / 2,
            )
        if now < timers.judge_after:
            pass
        elif now >= timers.next_recover:
            self.recover(now)
        elif now >= timers.next_lost_check:
            timers.next_lost_check = now + LOST_CHECK_INTERVAL
            # A kill -9 is noticed within a second, not at the next full recovery
            # (which takes the write lock, so it runs only every recover_interval).
            beats = timers.judges_beats(now)
            if self.row.someone_else_is_lost(now, lease_seconds=lease, by_heartbeat=beats):
                self.heartbeat(now, state=state, job_id=job_id)  # never look lost ourselves
                self.recover(now)
        if now >= timers.next_control:
            timers.next_control = now + CONTROL_INTERVAL
            request = self.row.stop_request()
            if request is not None:
                self.request_stop(force=request == FORCE)
        # A graceful stop goes on firing while it finishes its jobs: the ticks of a long
        # drain (a deploy's) were skipped as "missed", its workers alive all along. The
        # fires wait for a worker like any job; this one claims none of them.
        # (Not a stop because the database file is gone: its fires would go into the
        # moved or deleted file, exit_status 1.)
        firing = self.stop_mode is None or (self.stop_mode != FORCE and self.exit_status == 0)
        if firing and self.schedules.tick(now):
            self._check_now = True  # it enqueued jobs: look for work without waiting
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
        found = self.row.heartbeat(now, state=state, job_id=job_id)
        self.log.sum_up()
        self._stop_if_the_file_is_gone()
        if not found:
            log.warning("worker %s: its row was gone; registering again", self.id)
            self.row.fixed_id = True
            self.register()
        self.timers.beat(now, self.heartbeat_interval)

    def _stop_if_the_file_is_gone(self) -> None:
        """Stop, saying why once, when the SQLite file opened is no longer at its path."""
        gone = self.row.database_gone()
        if gone is not None and self.exit_status == 0:
            log.error("worker %s: %s; stopping %s", self.id, gone.reason, gone.remedy)
            self.exit_status = 1
            self.request_stop()

    def _release_forgotten(self, now: float, job_id: str | None) -> None:
        """Jobs the database says we run but we do not (a lost commit): recover them.

        Every heartbeat, so within a lease; see ``recovery.release_forgotten``.
        """
        running = {job_id} if job_id else set()
        running |= self.slot_job_ids()
        if self._next_claim is not None:
            running.add(self._next_claim.job.id)
        released = recovery.release_forgotten(
            self.id, running, after_commit=self.hooks.submit, now=now
        )
        if released:
            log.warning(
                "worker %s was not running %s %s that the database gave it (a lost"
                " commit); recovered %s",
                self.id,
                "job" if len(released) == 1 else "jobs",
                ", ".join(released),
                "it" if len(released) == 1 else "them",
            )

    def _mend_blocked(self, now: float) -> None:
        """Move the blocked jobs a PostgreSQL race left waiting (``recovery.mend_blocked``)."""
        mended = recovery.mend_blocked(after_commit=self.hooks.submit, now=now)
        if mended.unblocked:
            log.warning(
                "unblocked jobs whose dependencies had all completed: %s",
                ", ".join(mended.unblocked),
            )
            self._check_now = True
        if mended.taken_down:
            log.warning(
                "took down jobs waiting for a dead or cancelled dependency: %s",
                ", ".join(down.id for down in mended.taken_down),
            )

    def recover(self, now: float) -> list[str]:
        """Requeue the jobs of dead workers, killing their orphaned process groups first."""
        recovered = recovery.recover_lost(
            lease_seconds=self.lease_seconds,
            by_heartbeat=self.timers.judges_beats(now),
            host=self.host,
            pid_alive=hostid.pid_alive,
            before_requeue=lambda run: procs.kill_orphan_group(run, self.host),
            after_commit=self.hooks.submit,
            now=now,
        )
        if recovered:
            log.warning("recovered jobs of lost workers: %s", ", ".join(recovered))
            self._check_now = True  # they are due again after their backoff: know when
        if now >= self._next_mend:
            self._next_mend = now + MEND_INTERVAL
            self._mend_blocked(now)
        self.timers.next_recover = now + self.recover_interval
        return recovered
