"""Queue semantics: every state transition and the backoff schedule, on a real SQLite file.

The clock is passed explicitly (``now=``), so nothing here waits on wall time.
"""

from __future__ import annotations

import pytest

from queuectl.errors import DuplicateJobId, InvalidTransition, JobNotFound
from queuectl.jobspec import JobSpec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import finish, manage, reads, recovery, settings
from queuectl.lifecycle.finish import Ownership
from queuectl.lifecycle.workers import Registration
from queuectl.store.models import Job, JobState, Run, RunOutcome, Worker, WorkerState, database
from queuectl.store.transactions import is_postgres
from tests.conftest import T0, end_attempt

pytestmark = pytest.mark.usefixtures("opened")


def add(command: str = "true", **fields) -> str:
    now = fields.pop("now", T0)
    return enqueuing.enqueue(JobSpec(command=command, **fields), now=now, cwd="/tmp").id


def claim_one(worker: str = "w1", now: float = T0, queues=("default",)) -> claiming.Claim:
    claim = claiming.claim(worker, queues, host="h", now=now)
    assert claim is not None
    return claim


def fail(claim: claiming.Claim, now: float, worker: str = "w1") -> JobState | None:
    return end_attempt(claim, RunOutcome.FAILED, exit_code=1, now=now, worker_id=worker)


def test_enqueue_defaults_come_from_config_and_caller():
    settings.set_value("max_retries", 5)
    job = reads.get_job(add("echo hi", now=T0))
    assert job.state == JobState.PENDING
    assert (job.max_retries, job.attempts, job.priority, job.queue) == (5, 0, 0, "default")
    assert job.run_at == job.created_at == T0
    assert job.cwd == "/tmp"
    assert job.timeout is None  # follows the job_timeout setting at run time


def test_settings_applied_together_are_stored_all_or_none():
    """The dashboard saves its staged edits at once: one refused value stores none."""
    from queuectl.errors import ValidationError

    settings.set_value("backoff_base", 4)
    with pytest.raises(ValidationError):
        settings.apply({"max_retries": "7", "backoff_base": None, "job_timeout": "-1"})
    assert (settings.get("max_retries"), settings.get("backoff_base")) == (3, 4)
    assert settings.apply({"max_retries": "7", "backoff_base": None}) == [
        "max_retries",
        "backoff_base",
    ]
    assert (settings.get("max_retries"), settings.get("backoff_base")) == (7, 2)


def test_delay_and_run_at_set_the_due_time():
    assert reads.get_job(add(delay=30, now=T0)).run_at == T0 + 30
    assert reads.get_job(add(run_at=T0 + 99, now=T0)).run_at == T0 + 99


def test_duplicate_id_is_refused_and_the_existing_job_untouched():
    add("first", id="build")
    with pytest.raises(DuplicateJobId, match="build"):
        add("second", id="build")
    assert reads.get_job("build").command == "first"


def test_bulk_enqueue_is_all_or_nothing():
    add(id="taken")
    specs = [JobSpec(command="a"), JobSpec(command="b", id="taken")]
    with pytest.raises(DuplicateJobId, match=r"line 2"):
        enqueuing.enqueue_many(specs, now=T0)
    assert sum(reads.counts().values()) == 1


def test_generated_ids_are_short_and_unique():
    ids = enqueuing.enqueue_many([JobSpec(command="true")] * 2000, now=T0)
    assert len(set(ids)) == 2000
    assert all(len(job_id) == 8 for job_id in ids)


def test_claim_takes_highest_priority_then_earliest_run_at_then_oldest():
    low = add(priority=0, now=T0)
    old_high = add(priority=5, now=T0 + 1)
    new_high = add(priority=5, now=T0 + 2)
    order = [claim_one(now=T0 + 10).job.id for _ in range(3)]
    assert order == [old_high, new_high, low]
    assert claiming.claim("w1", host="h", now=T0 + 10) is None


def test_claim_skips_jobs_not_yet_due_and_other_queues():
    later = add(delay=60, now=T0)
    add(queue="emails", now=T0)
    assert claiming.claim("w1", ("default",), now=T0) is None
    assert claiming.claim("w1", ("default",), now=T0 + 60).job.id == later
    assert claiming.claim("w1", ("emails", "other"), now=T0).job.queue == "emails"


def test_claim_marks_processing_and_records_a_run():
    job_id = add()
    claim = claim_one(now=T0 + 5)
    job = reads.get_job(job_id)
    assert (job.state, job.worker_id, job.attempts, job.started_at) == (
        JobState.PROCESSING,
        "w1",
        1,
        T0 + 5,
    )
    run = Run.get_by_id(claim.run_id)
    assert (run.attempt, run.worker_id, run.host, run.outcome) == (1, "w1", "h", None)


def test_claim_makes_the_workers_row_busy_with_the_job_and_a_refused_one_touches_nothing():
    """The claim, its Run row and the worker's row are written together (on PostgreSQL by
    one statement); nothing due leaves every row as it was."""
    Registration(worker_id="w1", pid=1, host="h").register(T0)
    assert claiming.claim("w1", ("default",), host="h", now=T0 + 1) is None
    row = Worker.get_by_id("w1")
    assert (row.state, row.current_job) == (WorkerState.IDLE, None)
    assert Run.select().count() == 0
    first, second = add(), add()
    claims = [claim_one(now=T0 + 2), claim_one(now=T0 + 3)]
    assert [claim.job.id for claim in claims] == [first, second]
    row = Worker.get_by_id("w1")
    assert (row.state, row.current_job) == (WorkerState.BUSY, second)
    runs = [Run.get_by_id(claim.run_id) for claim in claims]
    assert [(run.job_id, run.run, run.attempt, run.started_at) for run in runs] == [
        (first, 1, 1, T0 + 2),
        (second, 1, 1, T0 + 3),
    ]
    assert claims[1].job.attempts == 1 and claims[1].job.command == "true"


def test_success_completes_and_stores_output():
    job_id = add()
    claim = claim_one()
    state = end_attempt(
        claim, RunOutcome.SUCCEEDED, exit_code=0, output="hi\n", now=T0 + 2, worker_id="w1"
    )
    job = reads.get_job(job_id)
    assert state == JobState.COMPLETED == job.state
    assert (job.exit_code, job.output, job.finished_at) == (0, "hi\n", T0 + 2)
    run = Run.get_by_id(claim.run_id)
    assert (run.outcome, run.duration, run.output) == ("succeeded", 2.0, "hi\n")


def test_failures_follow_the_backoff_schedule_then_the_dlq():
    settings.set_value("backoff_base", 3)
    job_id = add(max_retries=2)
    now = T0
    for attempt, delay in ((1, 3), (2, 9)):
        claim = claim_one(now=now)
        assert fail(claim, now) == JobState.FAILED
        job = reads.get_job(job_id)
        assert (job.attempts, job.run_at) == (attempt, now + delay)
        assert claiming.claim("w1", now=now + delay - 0.01) is None  # not due yet
        now += delay
    claim = claim_one(now=now)
    assert fail(claim, now) == JobState.DEAD
    job = reads.get_job(job_id)
    assert job.attempts == 3 == job.max_retries + 1
    assert [run.outcome for run in reads.runs_of(job_id)] == ["failed"] * 3


def test_zero_retries_means_one_run():
    job_id = add(max_retries=0)
    assert fail(claim_one(), T0) == JobState.DEAD
    assert reads.get_job(job_id).attempts == 1


def test_timeout_counts_as_failure():
    job_id = add(max_retries=0)
    claim = claim_one()
    state = end_attempt(claim, RunOutcome.TIMED_OUT, now=T0, worker_id="w1")
    assert state == JobState.DEAD
    assert reads.runs_of(job_id)[0].outcome == "timed_out"


def test_interrupted_gives_the_attempt_back():
    job_id = add(max_retries=0)
    claim = claim_one()
    state = end_attempt(claim, RunOutcome.INTERRUPTED, now=T0 + 1, worker_id="w1")
    job = reads.get_job(job_id)
    assert state == JobState.PENDING == job.state
    assert (job.attempts, job.run_at, job.worker_id) == (0, T0 + 1, None)


def test_finish_by_a_worker_that_lost_the_job_changes_nothing():
    job_id = add()
    claim = claim_one()
    manage.cancel(job_id, now=T0 + 1)
    state = end_attempt(claim, RunOutcome.SUCCEEDED, now=T0 + 2, worker_id="w1")
    assert state is None
    assert reads.get_job(job_id).state == JobState.CANCELLED
    assert Run.get_by_id(claim.run_id).outcome == "succeeded"  # the attempt is still recorded
    assert end_attempt(claim, RunOutcome.FAILED, worker_id="other") is None


def test_ownership_follows_cancel_and_recovery():
    job_id = add()
    claim_one()
    assert finish.ownership(job_id, "w1") is Ownership.OURS
    assert finish.ownership(job_id, "w2") is Ownership.TAKEN
    manage.cancel(job_id)
    assert finish.ownership(job_id, "w1") is Ownership.CANCELLED
    assert finish.ownership("no-such-job", "w1") is Ownership.CANCELLED  # deleted


def test_retry_resets_attempts_from_failed_dead_and_cancelled():
    dead = add(max_retries=0)
    fail(claim_one(), T0)
    cancelled = add()
    manage.cancel(cancelled)
    assert manage.retry([dead, cancelled], now=T0 + 50) == [dead, cancelled]
    for job_id in (dead, cancelled):
        job = reads.get_job(job_id)
        assert (job.state, job.attempts, job.run_at, job.last_error, job.started_at) == (
            JobState.PENDING,
            0,
            T0 + 50,
            None,
            None,  # show printed the last run's start for a job not started again
        )


@pytest.mark.parametrize("state", ["pending", "processing"])
def test_retry_refuses_jobs_that_have_not_finished(state):
    job_id = add()
    if state != "pending":
        claim_one()
    with pytest.raises(InvalidTransition, match=state):
        manage.retry([job_id])
    assert reads.get_job(job_id).state == state


def test_retry_of_a_completed_job_runs_it_again_as_a_new_run():
    job_id = add()
    claim = claim_one()
    end_attempt(claim, RunOutcome.SUCCEEDED, now=T0 + 1, worker_id="w1")
    assert manage.retry([job_id], now=T0 + 2) == [job_id]
    job = reads.get_job(job_id)
    assert (job.state, job.attempts, job.run_at, job.finished_at) == ("pending", 0, T0 + 2, None)
    claim_one(now=T0 + 3)
    runs = reads.runs_of(job_id)
    assert [(run.run, run.attempt) for run in runs] == [(1, 1), (2, 1)]


def test_retry_is_all_or_nothing():
    dead = add(max_retries=0)
    fail(claim_one(), T0)
    pending = add()
    with pytest.raises(InvalidTransition):
        manage.retry([dead, pending])
    assert reads.get_job(dead).state == JobState.DEAD


def test_retry_waits_for_a_cancelled_job_still_running():
    job_id = add()
    claim_one()
    manage.cancel(job_id)
    with pytest.raises(InvalidTransition, match="still being stopped"):
        manage.retry([job_id])


def test_retry_dead_moves_the_whole_dlq():
    for _ in range(3):
        add(max_retries=0)
        fail(claim_one(), T0)
    assert len(manage.retry_dead(now=T0).changed) == 3
    assert reads.counts()["pending"] == 3


def test_cancel_and_its_refusals():
    job_id = add()
    assert manage.cancel(job_id, now=T0 + 1).state == JobState.CANCELLED
    with pytest.raises(InvalidTransition, match="no longer be cancelled"):
        manage.cancel(job_id)
    with pytest.raises(JobNotFound):
        manage.cancel("nope")


def test_delete_removes_runs_but_refuses_running_jobs():
    job_id = add()
    claim = claim_one()
    with pytest.raises(InvalidTransition, match="cancel it"):
        manage.delete(job_id)
    end_attempt(claim, RunOutcome.SUCCEEDED, worker_id="w1")
    manage.delete(job_id)
    assert Run.select().count() == 0
    with pytest.raises(JobNotFound):
        reads.get_job(job_id)


def test_purge_only_finished_jobs_older_than_the_cutoff():
    add(now=T0)
    claim = claim_one(now=T0)
    end_attempt(claim, RunOutcome.SUCCEEDED, now=T0, worker_id="w1")
    fresh = add(now=T0 + 100)
    claim = claim_one(now=T0 + 100)
    end_attempt(claim, RunOutcome.SUCCEEDED, now=T0 + 100, worker_id="w1")
    waiting = add()
    assert manage.purge([JobState.COMPLETED], older_than=50, now=T0 + 120) == 1
    assert {job.id for job in reads.list_jobs()} == {fresh, waiting}
    with pytest.raises(InvalidTransition, match="finished"):
        manage.purge([JobState.PENDING])


def register(worker_id: str, heartbeat: float, pid: int = 4242, host: str = "h") -> None:
    Worker.create(
        id=worker_id,
        pid=pid,
        host=host,
        started_at=heartbeat,
        heartbeat_at=heartbeat,
        state=WorkerState.BUSY.value,
    )


def test_recovery_requeues_the_job_of_a_worker_whose_lease_expired():
    register("w1", heartbeat=T0)
    job_id = add()
    claim_one(now=T0)
    killed = []
    recovered = recovery.recover_lost(lease_seconds=30, before_requeue=killed.append, now=T0 + 31)
    assert recovered == [job_id]
    job = reads.get_job(job_id)
    assert (job.state, job.attempts) == (JobState.FAILED, 1)  # an attempt spent, retried later
    assert [run.outcome for run in reads.runs_of(job_id)] == ["lost"]
    assert killed and killed[0].job_id == job_id
    assert Worker.get_by_id("w1").state == WorkerState.LOST  # died; never said it stopped


def test_recovery_leaves_live_workers_alone():
    register("w1", heartbeat=T0 + 20)
    job_id = add()
    claim_one(now=T0)
    assert recovery.recover_lost(lease_seconds=30, now=T0 + 31) == []
    assert reads.get_job(job_id).state == JobState.PROCESSING


def test_recovery_detects_a_dead_pid_on_this_host_before_the_lease():
    register("w1", heartbeat=T0, pid=111, host="here")
    register("w2", heartbeat=T0, pid=222, host="elsewhere")
    job_id = add()
    claim_one(now=T0)
    recovered = recovery.recover_lost(
        lease_seconds=30, host="here", pid_alive=lambda pid: False, now=T0 + 1
    )
    assert recovered == [job_id]
    assert Worker.get_by_id("w2").state == WorkerState.BUSY  # cannot check pids on other hosts


def test_recovery_sends_a_job_out_of_retries_to_the_dlq():
    register("w1", heartbeat=T0)
    job_id = add(max_retries=0)
    claim_one(now=T0)
    recovery.recover_lost(lease_seconds=30, now=T0 + 31)
    assert reads.get_job(job_id).state == JobState.DEAD


def test_recovery_requeues_processing_jobs_of_unknown_workers_after_the_lease():
    job_id = add()
    claim_one("ghost", now=T0)
    assert recovery.recover_lost(lease_seconds=30, now=T0 + 10) == []
    assert recovery.recover_lost(lease_seconds=30, now=T0 + 31) == [job_id]


def test_counts_and_next_due_at():
    add(now=T0)
    add(delay=10, now=T0)
    assert reads.counts() == {
        "pending": 2,
        "blocked": 0,
        "processing": 0,
        "completed": 0,
        "failed": 0,
        "dead": 0,
        "cancelled": 0,
    }
    assert claiming.next_due_at() == T0


@pytest.mark.parametrize("state", [*(s.value for s in JobState), "no-such-state"])
def test_counting_one_state_by_difference_changes_no_count(state):
    for index, forced in enumerate(["completed", "completed", "dead", "failed", "pending"]):
        job_id = add(now=T0 + index)
        Job.update(state=forced).where(Job.id == job_id).execute()
    with database.atomic():
        assert reads.counts(by_difference=state) == reads.counts()


def test_list_filters_and_orders_newest_first():
    first = add(now=T0)
    second = add(now=T0 + 1, queue="q2")
    assert [job.id for job in reads.list_jobs()] == [second, first]
    assert [job.id for job in reads.list_jobs(queue="q2")] == [second]
    assert [job.id for job in reads.list_jobs(states=[JobState.DEAD])] == []
    assert len(reads.list_jobs(limit=1)) == 1


def test_a_generated_id_that_collides_is_redrawn_and_nothing_is_lost(monkeypatch):
    taken = add("echo first")
    draws = iter([[taken, "fresh001"]])
    monkeypatch.setattr(enqueuing, "new_job_ids", lambda count: next(draws))
    ids = enqueuing.enqueue_many([JobSpec(command="a"), JobSpec(command="b")], now=T0, cwd="/")
    assert ids[1] == "fresh001"
    assert ids[0] != taken
    assert [reads.get_job(i).command for i in ids] == ["a", "b"]
    assert reads.get_job(taken).command == "echo first"
    assert reads.counts()["pending"] == 3


def test_batch_ids_look_like_single_ones():
    ids = enqueuing.new_job_ids(1000)
    assert len(set(ids)) == 1000
    assert all(len(i) == 8 and set(i) <= set("0123456789abcdefghjkmnpqrstvwxyz") for i in ids)


def test_generated_ids_that_repeat_within_a_batch_are_redrawn(monkeypatch):
    monkeypatch.setattr(enqueuing, "new_job_ids", lambda count: ["same0000"] * count)
    ids = enqueuing.enqueue_many([JobSpec(command="a"), JobSpec(command="b")], now=T0, cwd="/")
    assert len(set(ids)) == 2
    assert reads.counts()["pending"] == 2


def test_the_jobs_window_is_lists_filter_and_order_as_plain_rows():
    first = add("echo backup nightly")
    second = add("make test", queue="ci")
    third = add("echo backup weekly", now=T0 + 1)
    rows, total = reads.jobs_window(search="backup", limit=10)
    assert (
        [row["id"] for row in rows]
        == [third, first]
        == [job.id for job in reads.list_jobs(search="backup")]
    )
    assert total == 2 and "output" not in rows[0] and rows[0]["command"] == "echo backup weekly"
    rows, total = reads.jobs_window(limit=1, fields=("id", "state"))
    assert (rows, total) == ([{"id": third, "state": "pending"}], 3)
    assert reads.jobs_window(limit=1, total=99)[1] == 99  # a total the caller knows is kept
    assert reads.jobs_window(queue="ci", limit=5)[0][0]["id"] == second


def test_a_database_failure_leaves_the_lifecycle_as_store_unavailable(monkeypatch):
    """Callers (the worker loop, the CLI) handle the core's exception, never peewee's;
    the failed connection is closed, so the next call opens a fresh one."""
    import peewee

    from queuectl.errors import StoreUnavailable

    job_id = add()

    def broken(*args, **kwargs):
        raise peewee.OperationalError("server closed the connection unexpectedly\nmore")

    monkeypatch.setattr(Job, "select", broken)
    with pytest.raises(StoreUnavailable) as raised:
        reads.get_job(job_id)
    assert str(raised.value) == "server closed the connection unexpectedly"
    assert isinstance(raised.value.__cause__, peewee.OperationalError)
    assert raised.value.explain() == "server closed the connection unexpectedly"
    assert database.is_closed()
    monkeypatch.undo()
    assert reads.get_job(job_id).id == job_id  # reconnected on use


@pytest.mark.parametrize("ids", ["generated", "given", "after"])
def test_a_refused_bulk_insert_is_store_unavailable_too(ids):
    """The bulk inserts ran on the driver's own cursor, whose errors no boundary knew:
    ``add`` on a database that had become read-only printed the driver's traceback."""
    from queuectl.errors import StoreUnavailable

    first = add()
    spec = {"generated": {}, "given": {"id": "named"}, "after": {"after": [first]}}[ids]
    if is_postgres():  # writes refused, as on a hot standby
        database.execute_sql("SET default_transaction_read_only = on")
    else:  # refused at the insert itself, as a file made read-only is (query_only: at BEGIN)
        for table in ("queuectl_job", "queuectl_dependency"):
            database.execute_sql(
                f"CREATE TEMP TRIGGER refuse_{table} BEFORE INSERT ON {table}"
                " BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database'); END"
            )
    with pytest.raises(StoreUnavailable, match=r"read-only transaction|readonly database"):
        enqueuing.enqueue(JobSpec(command="true", **spec))
    database.close()
    assert [job.id for job in Job.select()] == [first]


def test_a_job_left_processing_by_no_worker_is_recovered_after_the_lease():
    job_id = add(max_retries=1)
    claim_one(now=T0)
    Job.update(worker_id=None).where(Job.id == job_id).execute()  # no worker owns it
    assert recovery.recover_lost(lease_seconds=30, now=T0 + 10) == []
    assert recovery.recover_lost(lease_seconds=30, now=T0 + 31) == [job_id]
    job = reads.get_job(job_id)
    assert (job.state, job.run_at) == (JobState.FAILED, T0 + 31 + 2)
    assert [run.outcome for run in reads.runs_of(job_id)] == ["lost"]


def test_a_worker_whose_row_lags_its_jobs_is_shown_busy_with_its_latest_job():
    """A slotted worker's own row catches up at most every half second: read just after
    its start, ``worker start --json`` said idle, no job, with a slot busy."""
    import os
    import socket
    import time

    from queuectl.lifecycle.workers import workers_as_seen

    now = time.time()
    Worker.insert(
        id="w1",
        pid=os.getpid(),
        host=socket.gethostname(),
        slots=4,
        state=WorkerState.IDLE.value,
        started_at=now,
        heartbeat_at=now,
    ).execute()
    add(id="first")
    add(id="second")
    claiming.claim("w1", ("default",), host=socket.gethostname(), now=now)
    claiming.claim("w1", ("default",), host=socket.gethostname(), now=now + 0.01)
    # The row as a slotted worker's lagging report left it (what the helper read).
    Worker.update(state=WorkerState.IDLE.value, current_job=None).execute()
    [seen] = workers_as_seen(now=now)
    assert (seen.state, seen.slots_busy) == (WorkerState.BUSY.value, 2)
    assert seen.current_job == "second"
    assert Worker.get_by_id("w1").state == WorkerState.IDLE.value  # shown, not stored


@pytest.mark.parametrize("claims_next", [False, True])
def test_an_attempt_no_longer_ours_counts_as_neither_done_nor_failed(claims_next):
    """A worker frozen past its lease had its job recovered (and its group killed) by
    another; once it went on, its FAILED counted the job it never failed."""
    from queuectl.lifecycle.policy import Result

    row = Registration(worker_id="w1", pid=1, host="h")
    row.register(T0)
    job_id = add()
    add()  # something to claim next
    claim = claim_one(now=T0 + 1)
    assert claim.job.id == job_id
    # Another worker takes it over after the lease: the run is lost, the job pending.
    Job.update(state=JobState.PENDING.value, worker_id=None).where(Job.id == job_id).execute()
    killed = Result(RunOutcome.FAILED, -15, "", "killed by SIGTERM")
    completion = finish.complete_attempt(
        claim,
        killed,
        row=row,
        wants_next=(lambda: True) if claims_next else None,
        report_due=True,
        now=T0 + 101,
    )
    assert completion.state is None  # not ours: left as it is
    worker = Worker.get_by_id("w1")
    assert (worker.jobs_done, worker.jobs_failed) == (0, 0)
