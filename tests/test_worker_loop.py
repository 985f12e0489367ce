"""The worker loop stepped by hand with a fake clock: no wall-clock waits for timing logic.

Jobs are real (tiny) shell commands; heartbeats, backoff, delays and recovery
are driven by the fake clock, which only moves when the worker sleeps.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from unittest import mock

import pytest

from queuectl.errors import StoreUnavailable
from queuectl.jobspec import JobSpec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import finish, manage, policy, reads, settings
from queuectl.lifecycle.policy import Result
from queuectl.lifecycle.workers import new_worker_id
from queuectl.runtime import executor, procs
from queuectl.runtime.outage import Outage
from queuectl.runtime.timers import (
    REPORT_INTERVAL,
    SHORTAGE_FIRST_PAUSE,
    SHORTAGE_MAX_PAUSE,
    Timers,
)
from queuectl.runtime.waiters import PollingWaiter, make_waiter
from queuectl.runtime.worker import Worker
from queuectl.store import db
from queuectl.store.models import Job, JobState, Run, RunOutcome, WorkerState
from queuectl.store.models import Worker as WorkerRow
from queuectl.store.sql import COUNTER_MAX
from queuectl.store.transactions import write_transaction
from tests.conftest import T0
from tests.polling import wait_until


@pytest.fixture(autouse=True)
def _kill_jobs_left_running(request):
    """Whatever a failing test left running (a ``sleep 30`` job) is killed in teardown."""
    if "opened" not in request.fixturenames:
        yield
        return
    # Requested here so it is torn down after us: on PostgreSQL its teardown
    # drops the schema, and the Run rows are read below.
    request.getfixturevalue("opened")
    yield
    for run in Run.select().where(Run.pgid.is_null(False)):
        if run.pgid != os.getpgid(0):
            procs.kill_group(run.pgid)


class FakeClock:
    """Epoch seconds that move only when slept on (or by ``tick`` per reading)."""

    def __init__(self, start: float = T0, tick: float = 0.0) -> None:
        self.now = start
        self.tick = tick
        self.slept = 0.0

    def time(self) -> float:
        self.now += self.tick
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def make_worker(clock: FakeClock, **kwargs) -> Worker:
    worker = Worker(
        clock=clock.time, sleep=clock.sleep, waiter=PollingWaiter(clock.sleep), **kwargs
    )
    worker.register()
    return worker


def enqueue(command: str, *, now: float = T0, cwd: str = "/", **fields) -> str:
    return enqueuing.enqueue(JobSpec(command=command, **fields), now=now, cwd=cwd).id


def test_a_step_runs_a_due_job_and_records_it(opened):
    clock = FakeClock()
    job_id = enqueue("echo hello")
    worker = make_worker(clock)
    assert worker.step()
    job = Job.get_by_id(job_id)
    assert job.state == JobState.COMPLETED
    assert job.output == "hello\n"
    [run] = reads.runs_of(job_id)
    assert (run.outcome, run.exit_code, run.worker_id) == ("succeeded", 0, worker.id)
    assert run.pgid is not None
    row = WorkerRow.get_by_id(worker.id)
    assert (row.jobs_done, row.state, row.current_job) == (1, "idle", None)
    assert (row.pid, row.host) == (os.getpid(), socket.gethostname())


def test_failures_follow_the_backoff_schedule_into_the_dlq(opened):
    settings.set_value("backoff_base", 2)
    clock = FakeClock()
    job_id = enqueue("exit 7", max_retries=2)
    worker = make_worker(clock)
    for _ in range(200):
        worker.step()
        if Job.get_by_id(job_id).state == JobState.DEAD:
            break
    runs = reads.runs_of(job_id)
    assert [r.outcome for r in runs] == ["failed"] * 3
    gaps = [b.started_at - a.started_at for a, b in itertools.pairwise(runs)]
    # Run n+1 is due backoff_base ** n after failed run n; the idle worker wakes at the due time.
    assert gaps == pytest.approx([2.0, 4.0], abs=0.05)
    assert WorkerRow.get_by_id(worker.id).jobs_failed == 3


def test_a_delayed_job_waits_for_run_at_and_priority_wins(opened):
    clock = FakeClock()
    late = enqueue("true", run_at=T0 + 5)
    low = enqueue("true", priority=0)
    high = enqueue("true", priority=9)
    worker = make_worker(clock)
    worker.step()
    worker.step()
    assert Job.get_by_id(high).finished_at <= Job.get_by_id(low).finished_at
    assert Job.get_by_id(late).state == JobState.PENDING
    while Job.get_by_id(late).state == JobState.PENDING:
        worker.step()
    assert reads.runs_of(late)[0].started_at >= T0 + 5


def test_idle_worker_heartbeats_several_times_per_lease(opened):
    settings.set_value("lease_seconds", 4)
    clock = FakeClock()
    worker = make_worker(clock)
    beats = []
    for _ in range(40):
        worker.step()
        beats.append(WorkerRow.get_by_id(worker.id).heartbeat_at)
    distinct = sorted(set(beats))
    assert clock.now - T0 >= 8
    assert max(b - a for a, b in itertools.pairwise(distinct)) <= 4 / 4 + 0.01


def test_graceful_stop_request_in_the_row_stops_the_loop(opened):
    clock = FakeClock()
    worker = make_worker(clock)
    assert worker.step()
    WorkerRow.update(stop_requested="graceful").where(WorkerRow.id == worker.id).execute()
    for _ in range(5):
        if not worker.step():
            break
    else:
        pytest.fail("the worker did not stop")
    row = WorkerRow.get_by_id(worker.id)
    assert row.state == WorkerState.STOPPED
    assert row.stopped_at is not None


def test_a_stopped_worker_lets_go_of_its_waiter(opened):
    """A waiter holds a file watch or a listening connection: a worker stopped in-process
    (the dashboard's tests, an embedding program) must not leak it."""
    clock = FakeClock()
    closed = []
    waiter = PollingWaiter(clock.sleep)
    waiter.close = lambda: closed.append(True)  # type: ignore[method-assign]
    worker = Worker(clock=clock.time, sleep=clock.sleep, waiter=waiter)
    worker.register()
    worker.request_stop()
    assert not worker.step()
    assert closed == [True]


def test_stopping_worker_takes_no_new_job(opened):
    clock = FakeClock()
    job_id = enqueue("true")
    worker = make_worker(clock)
    worker.request_stop()
    assert not worker.step()
    assert Job.get_by_id(job_id).state == JobState.PENDING


def test_recovery_at_start_requeues_a_dead_workers_job(opened):
    settings.set_value("lease_seconds", 10)
    clock = FakeClock()
    job_id = enqueue("true")
    ghost = new_worker_id()
    WorkerRow.insert(
        id=ghost, pid=2**22 + 4321, host=socket.gethostname(), started_at=T0, heartbeat_at=T0
    ).execute()
    assert claiming.claim(ghost, now=T0) is not None
    worker = make_worker(clock)
    worker.step()
    assert [r.outcome for r in reads.runs_of(job_id)] == ["lost"]  # at start, at once
    while Job.get_by_id(job_id).state != JobState.COMPLETED:
        worker.step()
        assert clock.now < T0 + 10
    runs = reads.runs_of(job_id)
    assert [r.outcome for r in runs] == ["lost", "succeeded"]
    assert runs[1].started_at >= T0 + 2  # the lost attempt was spent: backoff applies
    assert WorkerRow.get_by_id(ghost).state == WorkerState.LOST


def test_stale_heartbeat_on_another_host_is_recovered_after_the_lease(opened):
    settings.set_value("lease_seconds", 10)
    clock = FakeClock()
    job_id = enqueue("true")
    ghost = new_worker_id()
    WorkerRow.insert(
        id=ghost, pid=os.getpid(), host="elsewhere", started_at=T0, heartbeat_at=T0
    ).execute()
    assert claiming.claim(ghost, now=T0) is not None
    worker = make_worker(clock)
    worker.step()
    assert Job.get_by_id(job_id).state == JobState.PROCESSING  # lease not over yet
    while Job.get_by_id(job_id).state != JobState.COMPLETED:
        worker.step()
        assert clock.now < T0 + 60
    assert clock.now >= T0 + 10
    assert [r.outcome for r in reads.runs_of(job_id)] == ["lost", "succeeded"]


def _when_running(job_id: str, action) -> threading.Thread:
    """Run ``action`` from another thread once the job's process group is recorded."""

    def watch() -> None:
        wait_until(
            lambda: Run.select().where(Run.job == job_id, Run.pgid.is_null(False)).exists(), 10
        )
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_cancel_while_running_kills_the_job(opened, caplog):
    clock = FakeClock(tick=0.25)  # the clock advances on each reading, so ticks happen
    job_id = enqueue("echo started; sleep 30")
    worker = make_worker(clock, kill_grace=1.0)
    thread = _when_running(job_id, lambda: manage.cancel(job_id))
    started = time.monotonic()
    with caplog.at_level("INFO", logger="queuectl.worker"):
        worker.step()
    thread.join(5)
    assert time.monotonic() - started < 10
    assert Job.get_by_id(job_id).state == JobState.CANCELLED
    [run] = reads.runs_of(job_id)
    assert run.outcome == RunOutcome.CANCELLED
    assert run.output == "started\n"
    # The job shows its killed attempt's output and exit, as any ended job does its last.
    job = Job.get_by_id(job_id)
    assert (job.output, job.output_bytes, job.exit_code) == ("started\n", 8, run.exit_code)
    assert run.exit_code is not None
    assert job.last_error == "cancelled by user"
    [line] = [r for r in caplog.records if f"job {job_id} attempt 1 cancelled" in r.getMessage()]
    assert line.levelname == "INFO"  # what a user asked for, not a warning
    assert line.getMessage().startswith(
        f"job {job_id} attempt 1 cancelled (cancelled by user; killed by SIGTERM) after "
    )


def test_a_cancelled_job_gets_the_killed_attempts_output_only_while_it_is_that_attempts(opened):
    """Only while the job is still cancelled with the killing worker as its worker: not
    once it was retried (pending again) or is another worker's."""
    job_id = enqueue("echo new")
    now = time.time()
    killed = Result(RunOutcome.CANCELLED, -15, "old\n", "cancelled by user", output_bytes=4)
    decision = policy.decide(
        RunOutcome.CANCELLED, exit_code=-15, attempts=1, max_retries=3, settings={}, now=now
    )

    def end_as(worker_id: str) -> str | None:
        with write_transaction():
            finish.end_locked(job_id, None, worker_id, decision, killed, None, now, claimed_at=None)
        return Job.get_by_id(job_id).output

    for state, worker_id in ((JobState.PENDING, "w-old"), (JobState.CANCELLED, "w-other")):
        Job.update(state=state, worker_id=worker_id, output="kept\n").where(
            Job.id == job_id
        ).execute()
        assert end_as("w-old") == "kept\n", state
    Job.update(worker_id="w-old").where(Job.id == job_id).execute()
    assert end_as("w-old") == "old\n"
    assert Job.get_by_id(job_id).state == JobState.CANCELLED


def test_a_record_retried_through_an_outage_keeps_the_attempts_own_end(opened, monkeypatch):
    """The run's finished_at and duration are the attempt's, not the record's: a finish
    recorded a minute late, after an outage, does not make the job a minute long."""
    clock = FakeClock()
    job_id = enqueue("echo done")
    worker = make_worker(clock)
    record, failures = finish.complete_attempt, []

    def away_for_a_minute(*args, **kwargs):
        if clock.now < T0 + 60:
            failures.append(clock.now)
            raise StoreUnavailable("database unavailable: the server is restarting")
        return record(*args, **kwargs)

    monkeypatch.setattr(finish, "complete_attempt", away_for_a_minute)
    assert worker.step()
    assert failures and clock.now >= T0 + 60  # the worker slept through the outage
    [run] = reads.runs_of(job_id)
    assert run.finished_at == failures[0] and run.duration == failures[0] - run.started_at
    assert run.duration < 1.0
    job = Job.get_by_id(job_id)
    assert (job.state, job.finished_at) == (JobState.COMPLETED, run.finished_at)
    assert job.updated_at >= T0 + 60  # when it was recorded


def test_a_stop_while_the_database_is_away_is_acknowledged_at_once(opened, monkeypatch, caplog):
    """With the database away, a SIGTERM went unanswered until it came back, and a second
    one ended the process without a line, the finished job left ``processing``. Now the
    first is acknowledged within a tenth of a second, naming the job whose end waits to
    be recorded, and the forced stop says what it leaves for recovery."""
    clock = FakeClock()
    job_id = enqueue("echo done")
    worker = make_worker(clock)
    signals = {T0 + 3: 1, T0 + 9: 2}
    heard: dict[int, float] = {}
    sleep = clock.sleep

    def sleep_and_signal(seconds: float) -> None:
        sleep(seconds)
        for at, count in signals.items():
            if clock.now >= at and count not in heard:
                heard[count] = clock.now
                worker._on_signal(signal.SIGTERM, None)

    worker.sleep = sleep_and_signal
    acknowledged: list[tuple[str, float]] = []
    say = worker.log.stop_heard_in_outage

    def noting_when(mode, held) -> None:
        if mode is not None and mode != worker.log._stop_logged:
            acknowledged.append((mode, clock.now))
        say(mode, held)

    worker.log.stop_heard_in_outage = noting_when
    failed = StoreUnavailable("database unavailable: connection refused")
    monkeypatch.setattr(finish, "complete_attempt", mock.Mock(side_effect=failed))
    caplog.set_level(logging.INFO, logger="queuectl.worker")
    assert worker.run(install_signals=False) == 1
    lines = [r.getMessage() for r in caplog.records if worker.id in r.getMessage()]
    [graceful] = [line for line in lines if "stop heard while the database is away" in line]
    assert f"stopping once the end of job {job_id} is recorded" in graceful
    [forced] = [line for line in lines if "forced stop while the database is away" in line]
    assert f"stopping without recording job {job_id} (recovery reruns it, a lost attempt)" in forced
    assert "stopped (force) without reaching the database" in lines[-1]
    assert f"recovery reruns job {job_id}" in lines[-1]
    assert lines.index(graceful) < lines.index(forced)
    assert [mode for mode, _at in acknowledged] == ["graceful", "force"]
    assert acknowledged[0][1] - heard[1] <= 0.1 + 1e-9  # within a tenth of a second
    assert acknowledged[1][1] - heard[2] <= 0.1 + 1e-9
    assert clock.now - heard[2] < 5  # the forced stop gave up within a few tries


HANG = 4.0
"""Seconds a hung statement holds the loop in the test below."""


def test_a_database_call_that_hangs_does_not_hold_a_jobs_timeout_up(opened, monkeypatch):
    """A frozen PostgreSQL server (or a network that drops packets) made the worker's
    flush of a running job's output wait, and the job's 0.3 s timeout with it."""
    job_id = enqueue("sleep 30", timeout=0.3)
    worker = Worker(kill_grace=0.2, use_watchdog=False)
    worker.register()
    record = finish.record_progress

    def hangs(*args, **kwargs):
        time.sleep(HANG)  # the statement waits on a server that does not answer
        return record(*args, **kwargs)

    monkeypatch.setattr(finish, "record_progress", hangs)
    started = time.monotonic()
    try:
        assert worker.step()
    finally:
        worker.timekeeper.close()
    assert time.monotonic() - started >= HANG  # the loop was held up that long
    [run] = reads.runs_of(job_id)
    assert run.outcome == RunOutcome.TIMED_OUT
    # Stopped by the timekeeper at 0.3 s plus the kill's grace, not after the hang; the
    # margin is for a loaded host (under CI beside other work it took 1.15 s).
    took = float(run.error.split("timed out after ")[1].split("s")[0])
    assert took < HANG / 2, run.error
    assert run.duration < HANG / 2  # and its run ended then, not when recorded


def test_the_database_is_back_only_once_a_statement_went_through(opened, caplog):
    """A slotted worker's step that needed no statement made ``run`` say "database back
    after 0.2s" in the middle of a crash, then "unavailable" again at its next statement
    (an outside try: ten false pairs in one worker's log)."""
    clock = FakeClock()
    worker = make_worker(clock)
    steps = iter(
        [
            "away",  # a statement fails: the outage starts
            "quiet",  # a step that needs no statement (slots between two duties)
            "read",  # a statement goes through: now it is back
            "stop",
        ]
    )
    said: list[str] = []

    def step() -> bool:
        kind = next(steps)
        said.append(kind)
        if kind == "away":
            raise StoreUnavailable("database unavailable: connection refused")
        if kind == "read":
            assert not any("back after" in r.getMessage() for r in caplog.records)
            reads.counts()
        return kind != "stop"

    worker.step = step
    caplog.set_level(logging.WARNING, logger="queuectl.worker")
    assert worker.run(install_signals=False) == 0
    lines = [r.getMessage() for r in caplog.records if "database" in r.getMessage()]
    assert len(lines) == 2 and "unavailable" in lines[0] and "back after" in lines[1], lines
    assert said == ["away", "quiet", "read", "stop"]


def test_forced_stop_interrupts_without_spending_an_attempt(opened):
    clock = FakeClock(tick=0.25)
    job_id = enqueue("sleep 30")
    worker = make_worker(clock, kill_grace=1.0)
    thread = _when_running(job_id, lambda: worker.request_stop(force=True))
    worker.step()
    thread.join(5)
    assert not worker.step()
    job = Job.get_by_id(job_id)
    assert (job.state, job.attempts) == (JobState.PENDING, 0)
    assert [r.outcome for r in reads.runs_of(job_id)] == ["interrupted"]
    assert WorkerRow.get_by_id(worker.id).state == WorkerState.STOPPED


def test_live_output_is_flushed_while_the_job_runs(opened):
    clock = FakeClock(tick=0.25)
    job_id = enqueue("echo early; sleep 30")
    worker = make_worker(clock, kill_grace=1.0)
    seen: list[str] = []

    def grab_then_cancel() -> None:
        wait_until(lambda: "early" in (reads.latest_run(job_id).output or ""), 10)
        seen.append(reads.latest_run(job_id).output)
        manage.cancel(job_id)

    thread = _when_running(job_id, grab_then_cancel)
    worker.step()
    thread.join(5)
    assert seen == ["early\n"]


def test_idle_waiter_wakes_when_another_process_enqueues(opened):
    """SQLite watches data_version, PostgreSQL LISTENs: either way, a commit from
    another connection wakes the idle worker well within a second."""
    import subprocess
    import sys

    waiter = make_waiter(time.sleep)
    assert waiter.wait(0.05, lambda: False) is False
    subprocess.run(
        [sys.executable, "-m", "queuectl", "--db", opened, "enqueue", '{"command": "true"}'],
        check=True,
        capture_output=True,
    )
    started = time.monotonic()
    assert waiter.wait(5, lambda: False) is True
    assert time.monotonic() - started < 1


@pytest.mark.postgres
def test_work_announced_in_another_schema_does_not_wake_a_postgres_worker(pg_url):
    import psycopg

    from queuectl.store.transactions import NOTIFY_CHANNEL

    db.open_database(pg_url)
    waiter = make_waiter(time.sleep)
    base = os.environ["QUEUECTL_TEST_PG_URL"]
    with psycopg.connect(base, autocommit=True) as other:
        other.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, "some_other_schema"))
        assert waiter.wait(0.5, lambda: False) is False
    enqueue("true")  # ours: announced with our schema
    assert waiter.wait(5, lambda: False) is True


def test_re_registers_when_its_row_disappears(opened):
    clock = FakeClock()
    worker = make_worker(clock)
    WorkerRow.delete().where(WorkerRow.id == worker.id).execute()
    worker.heartbeat(clock.time())
    assert WorkerRow.get_or_none(WorkerRow.id == worker.id) is not None


# --- logs --follow: what a moving tail window adds -------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("", "abc", ("abc", False)),
        ("abc", "abcdef", ("def", False)),
        ("abcdef", "abcdef", ("", False)),
        ("0123456789", "56789ABCDE", ("ABCDE", False)),  # the window slid by five
        ("0123456789", "XYZ", ("XYZ", True)),  # more than the window arrived at once
    ],
)
def test_new_text_follows_a_sliding_tail(before, after, expected):
    from queuectl.cli.logs import new_text

    assert new_text(before, after) == expected


class QuietWaiter:
    """A database nobody else writes to: every wait runs its whole timeout, and no change."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def wait(self, timeout: float, interrupted) -> bool:
        self.clock.sleep(timeout)
        return False

    def close(self) -> None:
        pass

    def after_outage(self) -> None:
        pass


def test_a_dead_worker_on_this_host_is_noticed_within_a_second(opened):
    # Default lease (30 s): the full recovery runs every 10 s, but the cheap
    # read-only check notices a vanished pid on this host within a second.
    clock = FakeClock(tick=0.0005)  # reading the clock takes time, as housekeeping does
    worker = Worker(clock=clock.time, sleep=clock.sleep, waiter=QuietWaiter(clock))
    worker.register()
    worker.step()
    ghost = new_worker_id()
    now = clock.time()
    WorkerRow.insert(
        id=ghost, pid=2**22 + 4321, host=socket.gethostname(), started_at=now, heartbeat_at=now
    ).execute()
    job_id = enqueue("true", now=now)
    assert claiming.claim(ghost, now=now) is not None
    while reads.runs_of(job_id)[0].outcome is None:
        worker.step()
        assert clock.now - now < 1.5
    assert reads.runs_of(job_id)[0].outcome == "lost"
    # The recovered job is rerun once its backoff (2 s) is over, by the worker that
    # recovered it, with nothing else committing meanwhile to wake it.
    lost_at = clock.now
    while Job.get_by_id(job_id).state != JobState.COMPLETED:
        worker.step()
        assert clock.now - lost_at < 2 + 1.5, "the recovered job was not rerun"


def test_a_worker_records_a_job_and_claims_the_next_in_one_go(opened):
    clock = FakeClock()
    first, second = enqueue("true"), enqueue("true", now=T0 + 1)
    worker = make_worker(clock)
    clock.now = T0 + 2
    assert worker.step()
    # The first is recorded and the second already ours, before it starts.
    assert Job.get_by_id(first).state == JobState.COMPLETED
    assert Job.get_by_id(second).state == JobState.PROCESSING
    row = WorkerRow.get_by_id(worker.id)
    assert (row.state, row.current_job, row.jobs_done) == ("busy", second, 1)
    assert worker.step()
    assert Job.get_by_id(second).state == JobState.COMPLETED


def test_a_busy_worker_reports_its_row_at_most_every_interval_and_exactly_when_idle(opened):
    clock = FakeClock()
    ids = [enqueue("true", now=T0 + n * 0.001) for n in range(4)]
    failing = enqueue("exit 3", now=T0 + 1, max_retries=0)
    worker = make_worker(clock)
    clock.now = T0 + 2
    worker.step()  # records the first job: the first report is due at once
    assert WorkerRow.get_by_id(worker.id).jobs_done == 1
    worker.step()
    worker.step()  # two more, within REPORT_INTERVAL: counted, not yet written
    row = WorkerRow.get_by_id(worker.id)
    assert (row.state, row.current_job, row.jobs_done) == ("busy", ids[1], 1)
    clock.now += REPORT_INTERVAL
    worker.step()  # the interval passed: the row catches up
    row = WorkerRow.get_by_id(worker.id)
    assert (row.state, row.current_job, row.jobs_done) == ("busy", failing, 4)
    worker.step()  # the failing job, and nothing left: idle, every count exact
    row = WorkerRow.get_by_id(worker.id)
    assert (row.state, row.current_job, row.jobs_done, row.jobs_failed) == ("idle", None, 4, 1)


def test_the_log_names_slow_and_failed_jobs_and_sums_up_quick_successes(opened, caplog):
    caplog.set_level(logging.INFO, logger="queuectl")
    clock = FakeClock()
    quick = [enqueue("true", now=T0 + n * 0.001) for n in range(3)]
    slow = enqueue("sleep 0.2", now=T0 + 1)
    failing = enqueue("exit 3", now=T0 + 2, max_retries=0)
    worker = make_worker(clock)
    clock.now = T0 + 3
    for _ in range(5):
        worker.step()
    lines = [record.getMessage() for record in caplog.records]
    assert not any(job_id in line for job_id in quick for line in lines)
    assert any(f"job {slow} attempt 1 started: sleep 0.2" in line for line in lines)
    assert any(f"job {slow} attempt 1 succeeded in " in line for line in lines)
    assert any(f"job {failing} attempt 1 failed (exit 3) in " in line for line in lines)
    worker.request_stop()
    worker.step()
    assert "3 jobs succeeded in under 50ms each since the last report" in caplog.messages


def test_a_stop_between_claim_and_start_gives_the_job_back_unspent(opened):
    clock = FakeClock()
    enqueue("true")
    second = enqueue("true", now=T0 + 1)
    worker = make_worker(clock)
    clock.now = T0 + 2
    assert worker.step()
    worker.request_stop()
    assert not worker.step()
    job = Job.get_by_id(second)
    assert (job.state, job.attempts, job.worker_id) == (JobState.PENDING, 0, None)
    assert [r.outcome for r in reads.runs_of(second)] == ["interrupted"]
    assert WorkerRow.get_by_id(worker.id).state == WorkerState.STOPPED


def _environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def test_an_orphan_without_a_recorded_group_is_found_by_its_environment(opened):
    host = socket.gethostname()
    job_id = enqueue("sleep 30")
    claim = claiming.claim("ghost", host=host, now=T0)
    assert claim is not None
    env = executor.job_environment(job_id, claim.job.attempts)
    proc = subprocess.Popen(["sleep", "30"], env=env, start_new_session=True)
    try:
        # Popen returns once the child is inside execve, which sets up the new
        # environment only afterwards: wait until /proc shows it, as recovery would.
        wait_until(lambda: f"QUEUECTL_JOB_ID={job_id}".encode() in _environ(proc.pid), 5)
        run = Run.get_by_id(claim.run_id)
        assert run.pgid is None
        procs.kill_orphan_group(run, host)
        assert proc.wait(timeout=5) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_one_signal_after_a_graceful_row_request_stays_graceful(opened):
    # `worker stop` writes 'graceful' and then sends SIGTERM; reading the row
    # first must not make that single signal count as the second (cold) one.
    worker = make_worker(FakeClock())
    worker.request_stop()
    worker._on_signal(signal.SIGTERM, None)
    assert worker.stop_mode == "graceful"
    worker._on_signal(signal.SIGTERM, None)
    assert worker.stop_mode == "force"


def test_after_a_pause_of_its_own_a_worker_gives_others_time_to_heartbeat(opened):
    # Suspend and resume: everyone's heartbeat is stale. The first worker to wake
    # must not declare the others lost (and kill their jobs) before they could beat.
    settings.set_value("lease_seconds", 4)
    clock = FakeClock()
    job_id = enqueue("true")
    other = new_worker_id()
    WorkerRow.insert(
        id=other, pid=os.getpid(), host="elsewhere", started_at=T0, heartbeat_at=T0
    ).execute()
    assert claiming.claim(other, now=T0) is not None
    worker = make_worker(clock)
    clock.sleep(3600)  # the machine slept
    worker.step()
    assert reads.runs_of(job_id)[0].outcome is None  # not judged yet
    # The other worker wakes too and heartbeats: it is never recovered.
    beat = clock.time()
    WorkerRow.update(heartbeat_at=beat).where(WorkerRow.id == other).execute()
    for _ in range(3):
        worker.step()
    assert reads.runs_of(job_id)[0].outcome is None
    # Silent from now on, it is recovered once its lease runs out.
    silent_since = beat
    while reads.runs_of(job_id)[0].outcome is None:
        worker.step()
        assert clock.now < silent_since + 15
    assert clock.now >= silent_since + 4
    assert reads.runs_of(job_id)[0].outcome == "lost"


@pytest.mark.parametrize("host", ["here", "elsewhere"])
def test_a_worker_started_as_the_database_returns_gives_stale_siblings_half_a_lease(opened, host):
    """A worker started right after an outage (systemd's Restart=, an operator) found a
    live sibling's heartbeat an outage old, declared it lost at once and threw away the
    result it was about to record: the job ran again, or went dead with retries spent.
    Judged by heartbeat only after half a lease; by its process (gone, here) at once."""
    settings.set_value("lease_seconds", 10)
    clock = FakeClock()
    job_id = enqueue("true")
    sibling = new_worker_id()
    where = socket.gethostname() if host == "here" else "elsewhere"
    stale = T0 - 40  # the outage: no heartbeat got through for 40 s
    WorkerRow.insert(
        id=sibling, pid=os.getpid(), host=where, started_at=stale, heartbeat_at=stale
    ).execute()
    assert claiming.claim(sibling, now=T0) is not None
    WorkerRow.update(heartbeat_at=stale).where(WorkerRow.id == sibling).execute()
    worker = make_worker(clock)
    worker.step()
    started = clock.now
    while clock.now < started + 4:
        worker.step()
    assert reads.runs_of(job_id)[0].outcome is None  # not judged by its stale heartbeat
    # The sibling reconnects and heartbeats: never recovered.
    WorkerRow.update(heartbeat_at=clock.time()).where(WorkerRow.id == sibling).execute()
    while clock.now < started + 12:
        worker.step()
    assert reads.runs_of(job_id)[0].outcome is None
    # Silent from now on, it is judged by its lease like any worker.
    while reads.runs_of(job_id)[0].outcome is None:
        worker.step()
        assert clock.now < started + 30
    assert reads.runs_of(job_id)[0].outcome == "lost"


def test_a_worker_started_as_the_database_returns_still_recovers_a_dead_one_at_once(opened):
    """Half a lease for a live sibling's heartbeat, none for a process that is gone: a
    restart after a crash recovers the crashed worker's job at its first step."""
    settings.set_value("lease_seconds", 10)
    clock = FakeClock()
    job_id = enqueue("true")
    ghost = new_worker_id()
    stale = T0 - 40
    WorkerRow.insert(
        id=ghost, pid=2**22 + 4321, host=socket.gethostname(), started_at=stale, heartbeat_at=stale
    ).execute()
    assert claiming.claim(ghost, now=T0) is not None
    WorkerRow.update(heartbeat_at=stale).where(WorkerRow.id == ghost).execute()
    make_worker(clock).step()
    assert [r.outcome for r in reads.runs_of(job_id)] == ["lost"]


@pytest.mark.parametrize("how", ["moved", "replaced"])
def test_a_worker_whose_database_file_moves_says_so_and_stops(db_path, caplog, how):
    """Moved (with its -wal) under running workers, the file went on taking their jobs,
    while commands opened the path, made a new file and added jobs no worker ran; the
    workers logged nothing. Now each notices at a heartbeat, says so, and stops (1)."""
    db.open_database(db_path)
    settings.set_value("lease_seconds", 4)
    clock = FakeClock()
    job_id = enqueue("true")
    worker = make_worker(clock)
    while Job.get_by_id(job_id).state != JobState.COMPLETED:
        assert worker.step()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db_path + suffix):
            os.rename(db_path + suffix, db_path + ".moved" + suffix)
    if how == "replaced":
        with open(db_path, "wb"):
            pass  # another file now sits at the path
    with caplog.at_level(logging.ERROR, logger="queuectl.worker"):
        while worker.step():
            assert clock.now < T0 + 30
    assert worker.exit_status == 1
    said = "deleted or moved away" if how == "moved" else "replaced by another file"
    assert any(said in record.getMessage() for record in caplog.records), caplog.text
    assert "start workers on the database where it is now" in caplog.text
    db.close_database()
    # The file it opened holds what it did, its stop included.
    db.open_database(db_path + ".moved")
    assert WorkerRow.get_by_id(worker.id).state == WorkerState.STOPPED


def test_a_worker_riding_out_an_outage_notices_its_file_moved_away(db_path, caplog):
    """A worker never heartbeats in an outage: one whose file was moved meanwhile logged
    the outage's stale reason for minutes (an outside try). It looks at each retry."""
    db.open_database(db_path)
    clock = FakeClock()
    worker = make_worker(clock)
    worker.register()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db_path + suffix):
            os.rename(db_path + suffix, db_path + ".moved" + suffix)
    tries = []

    def away() -> bool:
        tries.append(clock.now)
        if len(tries) > 50:
            return False  # it never noticed
        raise StoreUnavailable("database unavailable: the -shm cannot be written")

    worker.step = away
    with caplog.at_level(logging.WARNING, logger="queuectl.worker"):
        assert worker.run(install_signals=False) == 1
    assert len(tries) < 10
    assert "was deleted or moved away; stopping" in caplog.text


@pytest.mark.parametrize("placeholder", [False, True], ids=["moved", "emptied"])
def test_a_worker_whose_file_moves_without_its_log_says_where_its_work_is(
    db_path, caplog, placeholder
):
    """Moved alone, the file left behind the -wal that holds the worker's last records:
    "start workers on the database where it is now" sent the user to a file without them;
    with an empty file put in its place, "its job is recorded in the file it opened"."""
    db.open_database(db_path)
    clock = FakeClock()
    job_id = enqueue("true")
    worker = make_worker(clock)
    while Job.get_by_id(job_id).state != JobState.COMPLETED:
        assert worker.step()
    os.rename(db_path, db_path + ".moved")
    if placeholder:
        with open(db_path, "wb"):
            pass
    with caplog.at_level(logging.ERROR, logger="queuectl.worker"):
        while worker.step():
            assert clock.now < T0 + 30
    assert worker.exit_status == 1
    if placeholder:
        said = (
            f"the database file {db_path} was replaced by an empty file, its -wal left beside"
            " it, which holds its latest changes; stopping (its job is recorded in that -wal):"
            " put the file back in place of the empty one, then start workers"
        )
    else:
        said = (
            f"the database file {db_path} was moved or deleted without its -wal file, which"
            " holds its latest changes; stopping (its job is recorded in that -wal): put the"
            " file back beside it, then start workers"
        )
    assert said in caplog.text
    db.close_database()


def test_a_flood_of_output_keeps_only_the_configured_tail(opened):
    settings.set_value("output_limit", 1024)
    job_id = enqueue("head -c 5000000 /dev/zero | tr '\\0' x; echo; echo END")
    make_worker(FakeClock()).step()
    job = Job.get_by_id(job_id)
    assert job.state == JobState.COMPLETED
    assert len(job.output.encode()) <= 1024
    assert job.output.endswith("x\nEND\n")
    assert len(reads.latest_run(job_id).output.encode()) <= 1024


def test_waiting_out_a_pause_does_not_spin(opened):
    settings.set_value("lease_seconds", 4)
    clock = FakeClock()
    worker = make_worker(clock)
    clock.sleep(3600)
    steps = 0
    paused_until = clock.now + 2  # half a lease
    while clock.now < paused_until:
        worker.step()
        steps += 1
    assert steps <= 5  # slept until the next heartbeat or judgement, not 10 ms at a time


def test_a_job_the_database_gives_a_live_worker_that_it_is_not_running_is_recovered(opened):
    """A crash that loses a finish leaves the job ``processing`` under a worker that has
    moved on; its next heartbeat (within a lease) recovers it as lost, not the lease of a
    worker that is alive."""
    clock = FakeClock()
    worker = make_worker(clock)
    job_id = enqueue("true", max_retries=2)
    claim = claiming.claim(worker.id, now=T0)
    assert claim is not None  # the database says the worker runs it; the worker does not know
    for _ in range(20):
        worker.step()
        if Job.get_by_id(job_id).state != JobState.PROCESSING:
            break
    assert clock.now - T0 <= float(settings.load()["lease_seconds"])
    runs = reads.runs_of(job_id)
    assert runs[0].outcome == RunOutcome.LOST.value
    assert "was not running it" in runs[0].error
    job = Job.get_by_id(job_id)
    assert job.state in (JobState.FAILED, JobState.PENDING, JobState.COMPLETED)
    assert job.attempts >= 1


def test_a_vanished_cwd_sends_the_job_to_the_dlq_at_once(opened, tmp_path):
    """Retrying cannot bring a directory back: no backoff, no retries burnt one by one."""
    folder = tmp_path / "release-42"
    folder.mkdir()
    job_id = enqueuing.enqueue(JobSpec(command="true", cwd=str(folder), max_retries=3), now=T0).id
    folder.rmdir()
    make_worker(FakeClock()).step()
    job = Job.get_by_id(job_id)
    assert (job.state, job.attempts) == (JobState.DEAD, 1)
    assert "does not exist" in job.last_error and "not retried" in job.last_error


def test_a_run_records_how_much_its_command_printed(opened):
    settings.set_value("output_limit", 1024)
    job_id = enqueue("head -c 5000 /dev/zero | tr '\\0' x; echo; echo end")
    make_worker(FakeClock()).step()
    [run] = reads.runs_of(job_id)
    assert run.output_bytes == 5000 + 1 + 4
    assert run.output.endswith("x\nend\n") and len(run.output.encode()) <= 1024
    assert Job.get_by_id(job_id).output_bytes == run.output_bytes


def test_a_due_job_the_claim_refuses_makes_the_worker_back_off_not_spin(opened, monkeypatch):
    """A rule only the claim applies (a paused queue, an unmet dependency) may refuse a
    job that next-due reports as due. The idle worker then claims a few times a second,
    backing off, instead of once per 10 ms wait (issue 19's probe: 174 claims in 2 s)."""
    clock = FakeClock()
    job_id = enqueue("true")
    attempts: list[float] = []

    def refusing(*args, **kwargs):
        attempts.append(clock.now)
        return None

    worker = make_worker(clock)
    monkeypatch.setattr(claiming, "claim", refusing)
    while clock.now < T0 + 10:
        worker.step()
    assert 5 <= len(attempts) <= 15, attempts  # back off from 0.1 s to poll_interval (1 s)
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(attempts)]
    assert min(gaps) >= 0.1 - 1e-6, gaps
    monkeypatch.undo()  # the rule lets go: the job is claimed within the backoff's cap
    refused_until = clock.now
    while reads.get_job(job_id).state != JobState.COMPLETED:
        worker.step()
        assert clock.now < refused_until + 1.5


def test_a_shortage_pauses_claims_doubling_while_it_goes_on_and_shared_by_slots():
    timers = Timers()
    assert timers.short_of_resources(100.0) == SHORTAGE_FIRST_PAUSE
    assert timers.claim_after == 100.0 + SHORTAGE_FIRST_PAUSE
    assert timers.short_of_resources(100.2) == pytest.approx(0.3)  # another slot, same pause
    timers.claimed()  # nothing due, or a claim: the pause still holds
    assert timers.claim_after == 100.5
    assert timers.short_of_resources(100.6) == 2 * SHORTAGE_FIRST_PAUSE  # it goes on
    now = 101.6
    for _ in range(10):
        now += timers.short_of_resources(now)
    assert timers.short_of_resources(now) == SHORTAGE_MAX_PAUSE
    later = now + 3 * SHORTAGE_MAX_PAUSE  # over: the next one starts small again
    assert timers.short_of_resources(later) == SHORTAGE_FIRST_PAUSE


def test_new_text_counts_bytes_where_the_text_repeats():
    """``yes tick`` past the kept tail looked like nothing new: 100,000 lines unsaid."""
    from queuectl.cli.logs import new_text

    window = "tick\n" * 10
    assert new_text(window, window, 500_000) == (window, True)
    assert new_text(window, window, len(window)) == (window, False)  # exactly one window
    assert new_text("abc", "abcdef", 3) == ("def", False)


@pytest.mark.parametrize(
    ("text", "held"),
    [
        ("A\x1b[3", 3),
        ("A\x1b[31mRED", 0),
        ("x\x1b", 1),
        ("A\x1b[", 2),
        ("A\x1b[38;5;", 7),
        ("x\x1b]0;title", 0),  # shown inert whole or not: nothing to wait for
        ("begin\n\x1b]tick 1\n", 0),
        ("x\x1b]0;t\x07", 0),
        ("x\x1b]0;t\x1b\\", 0),
        ("a\x1b(B", 0),
        ("plain", 0),
    ],
)
def test_an_escape_sequence_still_arriving_is_held_back(text, held):
    """Printed in halves, ``␛[3`` then ``1mRED`` showed as text instead of red. Only a
    CSI may become a colour: a stray ``ESC ]`` held back every line after it."""
    from queuectl.cli.logs import incomplete_escape

    assert incomplete_escape(text) == held


def test_counters_written_at_their_limit_stop_counting_and_the_job_still_runs(opened):
    """A job's ``attempts``, a run number and a worker's counts written at 2147483647
    (a co-tenant of a shared schema, a hand edit): the next claim or report overflowed
    on PostgreSQL (``integer out of range``), which the worker retried as an outage for
    ever, running no job. Each stops counting at the limit; the jobs run."""
    clock = FakeClock()
    worn = enqueue("echo worn", max_retries=COUNTER_MAX)
    Job.update(attempts=COUNTER_MAX).where(Job.id == worn).execute()
    renumbered = enqueue("echo again", now=T0 + 1)
    worker = make_worker(clock)
    WorkerRow.update(jobs_done=COUNTER_MAX).where(WorkerRow.id == worker.id).execute()
    clock.now = T0 + 2
    assert worker.step() and worker.step()
    assert Job.get_by_id(worn).state == JobState.COMPLETED
    assert Job.get_by_id(worn).attempts == COUNTER_MAX
    assert WorkerRow.get_by_id(worker.id).jobs_done == COUNTER_MAX
    Run.update(run=COUNTER_MAX).where(Run.job_id == renumbered).execute()
    manage.retry([renumbered], now=clock.now)
    assert worker.step()
    assert Job.get_by_id(renumbered).state == JobState.COMPLETED
    assert [run.run for run in reads.runs_of(renumbered)] == [COUNTER_MAX, COUNTER_MAX - 1]
    worker.request_stop()
    worker.run(install_signals=False)
    assert WorkerRow.get_by_id(worker.id).jobs_done == COUNTER_MAX


def test_a_statement_the_database_refuses_is_not_logged_as_an_outage():
    """A value the database will not take is a row to mend, not the server away: the
    operator looking at the log must not go looking for a down server."""
    said: list[str] = []
    Outage(said.append, "worker w1").failed(StoreUnavailable("integer out of range", refused=True))
    assert said == [
        "worker w1: the database refuses a statement (integer out of range): a stored row"
        " holds a value queuectl cannot work with, not an outage; retrying until it is mended"
    ]


def test_the_store_marks_a_statement_the_database_refused_as_refused(opened):
    """What the worker's outage line rests on: a real driver error from a row's data (a
    key taken; PostgreSQL's integer overflow) comes out of the store as refused."""
    from queuectl.store.boundary import translated
    from queuectl.store.models import database

    job_id = enqueue("true")
    with pytest.raises(StoreUnavailable) as taken:
        translated(lambda: Job.insert(**Job.get_by_id(job_id).__data__).execute())()
    assert taken.value.refused
    if opened.startswith("postgresql"):
        with pytest.raises(StoreUnavailable) as overflow:
            translated(lambda: database.execute_sql("SELECT 2147483647::int + 1"))()
        assert overflow.value.refused and "integer out of range" in str(overflow.value)


def test_a_missed_heartbeat_is_said_once_the_beat_goes_through(opened, caplog):
    """ "could not heartbeat for 34s …; recovery of others waits 15.0s" was logged while
    the database was still away, as if it were back (an operator's try)."""
    clock = FakeClock()
    worker = make_worker(clock)
    clock.sleep(3600)  # the database away for an hour, say
    real = worker.row.heartbeat
    calls = []

    def away_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise StoreUnavailable("Connection refused")
        return real(*args, **kwargs)

    worker.row.heartbeat = away_once  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="queuectl.worker"):
        with pytest.raises(StoreUnavailable):
            worker.step()
        assert not [r for r in caplog.records if "could not heartbeat" in r.getMessage()]
        worker.step()
        worker.step()
    said = [r.getMessage() for r in caplog.records if "could not heartbeat" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith(f"worker {worker.id} could not heartbeat for 36")


def test_a_worker_that_crashes_says_so_not_stopped_done(opened, monkeypatch, caplog):
    """An attacker's try: a bug's exception (there, text read from a number column) was
    logged "worker w0qf4rk stopped (done)" before its traceback, and a crash read as a
    clean end. The row is still marked stopped, so recovery takes what it ran."""
    clock = FakeClock()
    worker = make_worker(clock)
    monkeypatch.setattr(worker, "step", mock.Mock(side_effect=ValueError("could not convert")))
    caplog.set_level(logging.INFO, logger="queuectl.worker")
    with pytest.raises(ValueError):
        worker.run(install_signals=False)
    lines = [r.getMessage() for r in caplog.records if worker.id in r.getMessage()]
    assert lines[-1] == f"worker {worker.id} stopped: it crashed (ValueError: could not convert)"
    assert not any("stopped (done)" in line for line in lines)
    assert WorkerRow.get_by_id(worker.id).state == "stopped"


@pytest.mark.parametrize(
    ("argv", "worker"),
    [
        ([b"/usr/bin/python3", b"-m", b"queuectl", b"worker", b"run", b"--id", b"w1"], True),
        ([b"/srv/venv/bin/queuectl", b"--db", b"/srv/q.db", b"worker", b"run"], True),
        ([b"/srv/venv/bin/queuectl", b"--db=/srv/q.db", b"worker", b"run"], True),
        ([b"tini", b"--", b"queuectl", b"worker", b"run"], True),
        # A clone in a folder named queuectl: its python's path holds the word, and a
        # test run's orphan was taken for another database's worker's job, left running.
        ([b"/home/me/queuectl/.venv/bin/python", b"-m", b"pytest", b"-n", b"2"], False),
        ([b"/srv/venv/bin/queuectl", b"tui"], False),
        ([b"/srv/venv/bin/queuectl", b"worker", b"start"], False),
    ],
)
def test_a_worker_is_told_by_its_command_line_not_a_word_in_it(argv, worker):
    from queuectl.runtime.procs import runs_a_worker

    assert runs_a_worker(argv) is worker
