"""Slots: one worker process running up to N jobs at once (``worker run --slots N``).

On trivial jobs a queue's cost is per job and per process: a transaction, a
wake-up, Python's own loop. N worker processes pay it N times over and contend
for SQLite's write lock; one process with N slots waits on every running job at
once (one ``poll`` over their output pipes and pidfds) and records the jobs that
ended in the same wake in one transaction, each through
``finish.complete_attempt``, which also claims their replacements
(``finish.complete_attempts``: group commit). So CPU and commits per job fall
as load rises. On PostgreSQL the group is one round trip too: each job's
one-statement end-and-claim, pipelined and committed together.

The process keeps one connection, one watchdog (a record per slot), one
heartbeat. Each job keeps what it has with one slot: its own Run row, process
group, timeout, output tail (flushed while it runs), ownership checks (a
cancel or a recovery elsewhere kills it). A slot process that dies loses
exactly its running jobs: the watchdog kills each recorded group, and recovery
requeues every job whose ``worker_id`` is the lost worker's, as for any worker.

A database outage does not stop the loop. Its jobs keep running, so the loop keeps
watching them (exits, output, timeouts) and leaves the database alone until the
outage's next retry (``_store_retry_at``): a job that ends meanwhile keeps its slot
until its record goes through, and a job's timeout still kills it on time.

With one slot the worker runs today's loop (``Worker.step``) unchanged.
"""

from __future__ import annotations

import logging
import select
from collections.abc import Callable
from dataclasses import dataclass, replace

from queuectl.errors import StoreUnavailable
from queuectl.lifecycle import finish
from queuectl.lifecycle.claim import Claim
from queuectl.lifecycle.finish import Ended
from queuectl.lifecycle.policy import Result
from queuectl.lifecycle.workers import FORCE, Registration
from queuectl.runtime import executor
from queuectl.runtime.attempt import FLUSH_BYTES_PER_SECOND, FLUSH_INTERVAL, PGID_AFTER
from queuectl.runtime.hooks import HookRunner
from queuectl.runtime.outage import Outage
from queuectl.runtime.timers import Timers
from queuectl.runtime.waiters import IDLE_CHECK
from queuectl.runtime.watchdog import Watchdog
from queuectl.runtime.worklog import WorkLog
from queuectl.states import FORCED_STOP, RunOutcome, WorkerState

log = logging.getLogger("queuectl.worker")

MAX_SLOTS = 64
"""Most jobs one worker runs at once: past this, start more workers."""

SLOT_LOOK = 2 * IDLE_CHECK
"""While some slots run and others are free, look for newly due work this often
(an idle worker sleeps on the database's wake-up instead, see ``Worker._idle``)."""


@dataclass
class Slot:
    """One running job of a worker with slots."""

    index: int
    claim: Claim
    execution: executor.Execution | None
    """``None`` when the job could not start (``result`` says why)."""
    result: Result | None
    next_check: float
    """When to next flush its output, check it is still ours, write its group."""
    next_flush: float = 0.0
    flushed: int = 0
    announced: bool = False
    """Its "started" line is logged and its process group written (after ``PGID_AFTER``)."""


def _never() -> bool:
    return False


class SlotRunner:
    """The worker's part that runs several jobs at once (``Worker`` is one)."""

    # The worker's own, used here (see ``Worker`` and ``AttemptRunner``):
    slots: int
    clock: Callable[[], float]
    settings: dict[str, float | int]
    stop_mode: str | None
    _check_now: bool
    _housekeeping: Callable[..., None]
    _launch: Callable[..., executor.Execution | Result]
    _claim_if_due: Callable[[float], Claim | None]
    _give_back: Callable[[Claim], None]
    _idle: Callable[[float], None]
    _mark_stopped: Callable[[], None]
    _start_watchdog: Callable[[], None]
    _check_ownership: Callable[[Claim, executor.Execution], None]
    _short_of_resources: Callable[[Result, float], Result]
    id: str
    log: WorkLog
    outage: Outage
    timers: Timers
    watchdog: Watchdog | None
    heartbeat_interval: float
    hooks: HookRunner
    row: Registration

    def _init_slots(self) -> None:
        self._running: dict[int, Slot] = {}
        self._queued: list[Claim] = []
        """Claimed in the transaction that recorded the jobs before them, not started yet."""
        self._next_look = 0.0
        self._store_retry_at = 0.0
        """While the database is away, when the loop may next try it (the outage's backoff)."""
        self.store_in_doubt = False
        """This iteration found the database away, or left it alone to wait for a retry:
        ``Worker.run`` then does not call the outage over."""

    def slot_executions(self) -> list[executor.Execution]:
        """The slots' jobs still running (not those that ended and wait for their record)."""
        return [
            slot.execution
            for slot in self._running.values()
            if slot.execution is not None and slot.result is None
        ]

    def slot_job_ids(self) -> set[str]:
        """The jobs this worker runs or has claimed to run next, in its slots."""
        ids = {slot.claim.job.id for slot in self._running.values()}
        ids.update(claim.job.id for claim in self._queued)
        return ids

    def _slot_step(self) -> bool:
        """One iteration with slots: housekeeping, start what is claimed, wait, record."""
        try:
            return self._slot_iteration()
        except StoreUnavailable:
            raise  # the jobs keep running; ``run`` retries with backoff
        except BaseException:
            self._abandon_slots()
            raise

    def _slot_iteration(self) -> bool:
        now = self.clock()
        self.store_in_doubt = False
        store_due = self._store_due(now)
        if store_due:
            shown = self._shown_claim()
            self._tolerant(
                lambda: self._housekeeping(
                    now,
                    state=WorkerState.BUSY if shown else WorkerState.IDLE,
                    job_id=shown.job.id if shown else None,
                )
            )
        if self.stop_mode is not None:
            while self._queued:
                self._give_back(self._queued[0])
                self._queued.pop(0)
            running = [slot for slot in self._running.values() if slot.result is None]
            if running:
                self.log.acknowledge_stop(
                    self.stop_mode,
                    [s.claim.job.id for s in running],
                    database_away=self.outage.since is not None,
                )
            for slot in self._running.values():
                if self.stop_mode == FORCE and slot.execution is not None:
                    slot.execution.kill(RunOutcome.INTERRUPTED, FORCED_STOP)
            if not self._running:
                self._mark_stopped()
                return False
        elif store_due:
            self._tolerant(lambda: self._fill(now))
        else:
            self._start_queued(now)  # claimed before the outage: starting needs no database
        if not self._running:
            self._idle(now)
            return True
        self._wait_slots(now)
        return True

    def _tolerant(self, call: Callable[[], None]) -> None:
        """Run ``call``; while jobs run, a database failure only delays it (they go on)."""
        try:
            call()
        except StoreUnavailable as exc:
            if not self._running:
                raise
            self._store_away(exc)

    def _store_due(self, now: float) -> bool:
        """Whether the loop may use the database now (not inside an outage's backoff)."""
        if now >= self._store_retry_at:
            return True
        self.store_in_doubt = True
        return False

    def _store_away(self, exc: StoreUnavailable) -> None:
        """The database failed: say so once (``Outage``) and leave it alone until the retry."""
        self.store_in_doubt = True
        self._store_retry_at = self.clock() + self.outage.failed(exc)

    def _shown_claim(self) -> Claim | None:
        """The job the worker's row names: one of those it runs (``worker list`` counts all),
        not one that ended and waits for its record, else the next it claimed.

        The latest started, as the claim itself writes it: the first started made the
        row name the newest job at each claim and the oldest at the next report, so the
        dashboard's cell flipped between them while nothing ended."""
        for slot in reversed(self._running.values()):
            if slot.result is None:
                return slot.claim
        return self._queued[0] if self._queued else None

    def _start_queued(self, now: float) -> None:
        """Start the jobs claimed with the last record, while slots are free."""
        while self._queued and len(self._running) < self.slots:
            self._start_slot(self._queued[0], now)
            self._queued.pop(0)

    def _fill(self, now: float) -> None:
        """Start the claimed jobs, then claim more while slots are free and jobs are due."""
        self._start_queued(now)
        if len(self._running) >= self.slots:
            return
        if self._running and now >= self._next_look:
            self._next_look = now + SLOT_LOOK
            self._check_now = True
        while len(self._running) < self.slots:
            claim = self._claim_if_due(now)
            if claim is None:
                return
            self._check_now = True  # more may be due: look again for the next slot
            self._start_slot(claim, now)

    def _start_slot(self, claim: Claim, now: float) -> None:
        index = min(set(range(self.slots)) - set(self._running))
        started = self._launch(claim, slot=index)
        if isinstance(started, executor.Execution):
            self._running[index] = Slot(index, claim, started, None, now + PGID_AFTER)
        elif started.outcome is not RunOutcome.INTERRUPTED:
            self._running[index] = Slot(index, claim, None, started, now)
        else:
            self._give_back_unstarted(index, claim, self._short_of_resources(started, now), now)

    def _give_back_unstarted(self, index: int, claim: Claim, result: Result, now: float) -> None:
        """Give back a job the system had no resources to start, claiming nothing in its
        place (the worker pauses: ``Timers.short_of_resources``). Recorded at once, alone:
        with the others' ends it would claim a replacement, which would meet the same
        shortage. While the database is away it waits in its slot like any ended job
        (and its record may then claim a replacement: one, not a spin)."""
        if self._store_due(now):
            done = self._record_group([Ended(claim, result)], self._shown_claim(), claim_next=False)
            if done is not None:
                self.log.job_ended(claim, result, done[0].state)
                return
        self._running[index] = Slot(index, claim, None, result, now)

    def _wait_slots(self, now: float) -> None:
        """Wait for output, an exit or a due duty; record every job that ended, together."""
        timeout = self._next_duty(now) - now
        poller = select.poll()
        owners: dict[int, executor.Execution] = {}
        for slot in self._running.values():
            if slot.result is not None:  # to record: now, or at the outage's next retry
                timeout = min(timeout, self._store_retry_at - now)
                continue
            assert slot.execution is not None
            for fd in slot.execution.watched_fds():
                poller.register(fd, select.POLLIN)
                owners[fd] = slot.execution
            timeout = min(timeout, slot.next_check - now)
            wake = slot.execution.wake_at()
            if wake is not None:
                timeout = min(timeout, wake - slot.execution._clock())
        for fd, _event in poller.poll(max(0, int(timeout * 1000 + 0.999))):
            owners[fd].readable(fd)
        now = self.clock()
        ended = []
        for slot in list(self._running.values()):
            if slot.result is None:
                assert slot.execution is not None
                if slot.execution.pump(0):
                    assert slot.execution.result is not None
                    ago = slot.execution.ended_ago()
                    slot.result = replace(slot.execution.result, ended_at=now - ago)
            if slot.result is not None:
                ended.append(slot)
            elif now >= slot.next_check:
                self._check_slot(slot, now)
        if ended and self._store_due(now):
            self._record_slots(ended)

    def _next_duty(self, now: float) -> float:
        """When housekeeping (or a look for due work, with free slots) is next due."""
        if now < self._store_retry_at:  # every duty needs the database: wait for the retry
            return min(self._store_retry_at, now + FLUSH_INTERVAL)
        timers = self.timers
        judge = max(min(timers.next_recover, timers.next_lost_check), timers.judge_after)
        due = min(timers.next_heartbeat, timers.next_control, judge, now + FLUSH_INTERVAL)
        if self.stop_mode is None and len(self._running) < self.slots:
            due = min(due, self._next_look)
        return max(now, due)

    def _check_slot(self, slot: Slot, now: float) -> None:
        """A running job's periodic duties, as ``AttemptRunner._supervise`` does for one."""
        execution = slot.execution
        assert execution is not None
        if not self._store_due(now):
            slot.next_check = self._store_retry_at
            return
        slot.next_check = now + FLUSH_INTERVAL
        try:
            if not slot.announced:
                # Still running after PGID_AFTER: log it, and write its group so that
                # recovery can kill it if this worker and its watchdog both die.
                slot.announced = True
                self.log.job_started(slot.claim)
                slot.flushed = execution.version
                slot.next_flush = now + FLUSH_INTERVAL
                finish.record_progress(
                    slot.claim.run_id,
                    execution.output(so_far=True),
                    output_bytes=execution.buffer.total_so_far,
                    pgid=execution.pgid,
                )
                return
            if now >= slot.next_flush and execution.version != slot.flushed:
                slot.flushed = execution.version
                finish.record_progress(
                    slot.claim.run_id,
                    execution.output(so_far=True),
                    output_bytes=execution.buffer.total_so_far,
                )
                size = execution.buffer.size
                slot.next_flush = now + max(FLUSH_INTERVAL, min(5.0, size / FLUSH_BYTES_PER_SECOND))
            self._check_ownership(slot.claim, execution)
        except StoreUnavailable as exc:
            self._store_away(exc)  # the job keeps running

    def _record_slots(self, ended: list[Slot]) -> None:
        """Record the jobs that ended, together, and queue their replacements; while the
        database is away they keep their slots, and the next try records them."""
        items = [
            Ended(
                slot.claim,
                slot.result,  # type: ignore[arg-type]
                slot.execution.pgid if slot.execution is not None else None,
            )
            for slot in ended
        ]
        done = self._record_group(items, self._shown_claim())
        if done is None:
            return
        for slot in ended:
            del self._running[slot.index]
        for item, completion in zip(items, done, strict=True):
            self.log.job_ended(item.claim, item.result, completion.state)
            if completion.next is not None:
                self._queued.append(completion.next)

    def _record_group(
        self, items: list[Ended], busy_with: Claim | None, *, claim_next: bool = True
    ) -> list[finish.Completion] | None:
        """``finish.complete_attempts``; ``None`` when the database is away.

        The caller tries again after the outage's backoff, until it succeeds (as
        ``AttemptRunner._record``: giving up would leave the jobs ``processing``
        under a live worker); only a forced stop ends the retries, and recovery then
        finds the jobs. Unlike a one-job worker's, the wait is not a sleep: other
        slots' jobs run meanwhile, and their timeouts and output still need the loop.
        """
        now = self.clock()
        try:
            done = finish.complete_attempts(
                items,
                row=self.row,
                wants_next=(lambda: self.stop_mode is None) if claim_next else _never,
                report_due=now >= self.timers.report_due,
                busy_with=busy_with,
                settings=self.settings,
                now=now,
            )
        except StoreUnavailable as exc:
            self._store_away(exc)
            if self.stop_mode == FORCE and self.outage.failures > 3:
                raise
            return None
        self.outage.over()
        reports = [completion for completion in done if completion.reported]
        if reports:
            self.timers.reported(
                now, row_found=reports[-1].row_found, heartbeat_interval=self.heartbeat_interval
            )
        elif done:
            self.timers.unreported()
        for completion in done:
            for hook in completion.hooks:
                self.hooks.submit(hook)  # after the commit; on its own thread
        return done

    def _abandon_slots(self) -> None:
        """The loop is failing: kill every running job's group and free its descriptors."""
        for slot in self._running.values():
            if slot.execution is not None:
                slot.execution.abandon()
        self._running.clear()
