"""Slots: one worker process running several jobs at once, finishes recorded together.

In-process, on both backends: the group commit (``finish.complete_attempts``)
and a real worker with slots draining a few tiny jobs, one of which times out.
The guarantees under kills and stops are proved with slots by the same
integration and chaos tests as with one job per worker (their ``slots``
parameter).
"""

from __future__ import annotations

import re
import time

import pytest

from queuectl.errors import StoreUnavailable, ValidationError
from queuectl.jobspec import JobSpec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import finish, reads
from queuectl.lifecycle.finish import Ended
from queuectl.lifecycle.policy import Result
from queuectl.lifecycle.workers import Registration
from queuectl.runtime import supervisor
from queuectl.runtime.slots import MAX_SLOTS, Slot
from queuectl.runtime.worker import Worker
from queuectl.store import db
from queuectl.store.models import Job, JobState, Run, RunOutcome, WorkerState, database
from queuectl.store.models import Worker as WorkerRow
from tests.conftest import T0, dump
from tests.polling import wait_until


def _ok(text: str) -> Result:
    return Result(RunOutcome.SUCCEEDED, 0, text, None, 0.01, len(text))


def test_finishes_that_arrive_together_are_recorded_together_and_replaced(opened):
    row = Registration(worker_id="w1", pid=1, host="h", slots=3)
    row.register(T0)
    ids = enqueuing.enqueue_many([JobSpec(command=f"echo {n}") for n in range(5)], now=T0)
    first = [claiming.claim("w1", host="h", now=T0 + 1) for _ in range(3)]
    assert all(first)
    ended = [Ended(claim, _ok(f"out {n}"), pgid=100 + n) for n, claim in enumerate(first[:2])]

    done = finish.complete_attempts(
        ended, row=row, wants_next=lambda: True, busy_with=first[2], now=T0 + 2
    )

    assert [c.state for c in done] == [JobState.COMPLETED, JobState.COMPLETED]
    replacements = [c.next for c in done]
    assert [r.job.id for r in replacements if r] == ids[3:5]  # both replaced, in order
    for n, claim in enumerate(first[:2]):
        [run] = Run.select().where(Run.job_id == claim.job.id)  # a Run row each
        assert (run.outcome, run.output, run.pgid) == ("succeeded", f"out {n}", 100 + n)
    assert reads.running_per_worker() == {"w1": 3}

    # Nothing left to claim: the first miss stops the claims, the row stays busy
    # with the job still running in the third slot.
    rest = [Ended(c, _ok("")) for c in replacements if c]
    done = finish.complete_attempts(
        rest, row=row, wants_next=lambda: True, busy_with=first[2], now=T0 + 3
    )
    assert [c.next for c in done] == [None, None]
    worker = WorkerRow.get_by_id("w1")
    assert (worker.state, worker.current_job, worker.jobs_done) == (
        WorkerState.BUSY.value,
        first[2].job.id,
        4,
    )


def test_an_end_whose_claim_the_database_lost_never_closes_the_jobs_next_claim(opened):
    """A PostgreSQL crash lost the claim of ``b`` (an asynchronous commit), so ``b`` was
    pending again while its process ran on in a slot. The group that recorded ``a`` and
    ``b`` claimed ``b`` afresh for ``a``'s slot, and ``b``'s stale end, matching the job
    and the worker, closed that new claim: completed with the old output, "finished"
    before it started, and its new run later killed as no longer ours (an outside try
    with ``kill -9``'s twin, ``pg_ctl -m immediate``). On SQLite the Run row's id is
    given out again too, as a server's sequence may be after a crash."""
    row = Registration(worker_id="w1", pid=1, host="h", slots=2)
    row.register(T0)
    specs = [JobSpec(command="echo a"), JobSpec(command="echo b")]
    a_id, b_id = enqueuing.enqueue_many(specs, now=T0)
    a = claiming.claim("w1", host="h", now=T0 + 1)
    b = claiming.claim("w1", host="h", now=T0 + 1.5)
    assert a and b and (a.job.id, b.job.id) == (a_id, b_id)
    # The crash: b's claim never reached the disk.
    Run.delete().where(Run.id == b.run_id).execute()
    Job.update(state="pending", worker_id=None, attempts=0, started_at=None).where(
        Job.id == b_id
    ).execute()

    ended = [Ended(a, _ok("a")), Ended(b, _ok("stale b"))]
    done = finish.complete_attempts(ended, row=row, wants_next=lambda: True, now=T0 + 3)

    assert [c.state for c in done] == [JobState.COMPLETED, None]
    again = done[0].next
    assert again is not None and again.job.id == b_id and again.job.started_at == T0 + 3
    job = Job.get_by_id(b_id)
    assert (job.state, job.worker_id, job.started_at, job.output) == (
        "processing",
        "w1",
        T0 + 3,
        None,
    )
    [run] = Run.select().where(Run.job_id == b_id)
    assert (run.id, run.outcome, run.output) == (again.run_id, None, "")
    # The slot still running the stale attempt learns the job is no longer its.
    assert finish.ownership(b_id, "w1", b.job.started_at) is finish.Ownership.TAKEN
    assert finish.ownership(b_id, "w1", again.job.started_at) is finish.Ownership.OURS


def test_a_worker_with_slots_runs_jobs_at_once_each_with_its_own_timeout_and_output(
    opened, tmp_path
):
    ids = enqueuing.enqueue_many(
        [JobSpec(command="sleep 5", timeout=0.4)]
        + [JobSpec(command=f"sleep 0.2; echo job {n}") for n in range(4)],
        cwd=str(tmp_path),
    )
    worker = Worker(["default"], slots=3, kill_grace=0.2)
    worker.register()
    started = time.monotonic()
    finished = {JobState.COMPLETED.value, JobState.FAILED.value, JobState.DEAD.value}

    def drained() -> bool:
        worker.step()
        return Job.select().where(Job.state.not_in(finished)).count() == 0

    try:
        wait_until(drained, 15, "the jobs to finish")
    finally:
        worker.request_stop(force=True)
        while worker.step():
            pass
    took = time.monotonic() - started
    # Three at once: four 0.2 s jobs and a 0.4 s timeout in well under their 1.2 s sum.
    assert took < 1.1, took
    jobs = {job.id: job for job in Job.select()}
    assert jobs[ids[0]].state == JobState.FAILED  # retried later; this attempt timed out
    assert [r.outcome for r in reads.runs_of(ids[0])] == ["timed_out"]
    for n, job_id in enumerate(ids[1:]):
        assert (jobs[job_id].state, jobs[job_id].output) == (JobState.COMPLETED, f"job {n}\n")
    assert WorkerRow.get_by_id(worker.id).slots == 3


def test_the_row_names_the_job_the_claim_named_so_the_cell_holds_still(opened):
    """Each claim writes its job into the worker's row; the next report wrote the first
    running job, so the dashboard's Job cell flipped from the newest to the oldest while
    nothing ended. The report names the latest started too, unless it has ended."""
    enqueuing.enqueue_many([JobSpec(command=f"sleep {n}") for n in range(3)], now=T0)
    worker = Worker(["default"], slots=4, use_watchdog=False, clock=lambda: T0 + 2)
    worker.register()
    claims = [claiming.claim(worker.id, host=worker.host, now=T0 + 1) for _ in range(3)]
    for index, claim in enumerate(claims):
        worker._running[index] = Slot(index, claim, None, None, T0)
    assert WorkerRow.get_by_id(worker.id).current_job == claims[2].job.id  # the claim's
    assert worker._shown_claim() is claims[2]
    worker._running[2] = Slot(2, claims[2], None, _ok(""), T0)  # ended, to be recorded
    assert worker._shown_claim() is claims[1]


def test_slot_finishes_are_recorded_together_in_one_round_trip(opened, monkeypatch):
    """SQLite: one transaction for the jobs that ended together. PostgreSQL: their
    one-statement end-and-claims, sent in one round trip as one transaction
    (``execute_together``), where a group's BEGIN and COMMIT would each wait for one."""
    ids = enqueuing.enqueue_many([JobSpec(command=f"echo {n}") for n in range(6)], now=T0)
    worker = Worker(["default"], slots=3, use_watchdog=False, clock=lambda: T0 + 2)
    worker.register()
    slots = []
    for index in range(3):
        claim = claiming.claim(worker.id, host=worker.host, now=T0 + 1)
        assert claim is not None
        slots.append(Slot(index, claim, None, _ok(f"out {index}"), T0))
        worker._running[index] = slots[-1]
    groups: list[int] = []
    pipelined: list[int] = []
    record, together = finish.complete_attempts, finish.execute_together

    def spy(ended, **kwargs):
        groups.append(len(ended))
        return record(ended, **kwargs)

    def pipeline_spy(statement, params, **options):
        pipelined.append(len(params))
        return together(statement, params, **options)

    monkeypatch.setattr(finish, "complete_attempts", spy)
    monkeypatch.setattr(finish, "execute_together", pipeline_spy)

    worker._record_slots(slots)

    assert groups == [3]
    assert pipelined == ([3] if opened.startswith("postgres") else [])
    assert [claim.job.id for claim in worker._queued] == ids[3:6]  # each replaced, in order
    states = {job.id: job.state for job in Job.select()}
    assert [states[job_id] for job_id in ids] == [JobState.COMPLETED] * 3 + [
        JobState.PROCESSING
    ] * 3
    assert WorkerRow.get_by_id(worker.id).current_job in ids[3:6]


def test_a_group_with_a_job_that_ends_badly_cascades_to_its_dependents(opened):
    """A dead job's dependents go dead with it, in the group's transaction; on PostgreSQL
    such a group takes the transaction path (the one-statement end does not cascade)."""
    doomed, fine, dependent, spare = enqueuing.enqueue_many(
        [
            JobSpec(command="false", id="doomed", max_retries=0),
            JobSpec(command="true", id="fine"),
            JobSpec(command="true", id="dependent", after=("doomed",)),
            JobSpec(command="true", id="spare"),
        ],
        now=T0,
    )
    row = Registration(worker_id="w1", pid=1, host="h", slots=2)
    row.register(T0)
    first = [claiming.claim("w1", host="h", now=T0 + 1) for _ in range(2)]
    assert sorted(c.job.id for c in first if c) == [doomed, fine]
    failed = Result(RunOutcome.FAILED, 1, "", None, 0.01, 0)
    ended = [Ended(c, failed if c.job.id == doomed else _ok("ok")) for c in first if c]

    done = finish.complete_attempts(ended, row=row, wants_next=lambda: True, now=T0 + 2)

    states = {job.id: job.state for job in Job.select()}
    assert (states[doomed], states[fine], states[dependent]) == (
        JobState.DEAD,
        JobState.COMPLETED,
        JobState.DEAD,
    )
    assert Job.get_by_id(dependent).taken_down_by == doomed
    assert [c.next.job.id for c in done if c.next] == [spare]  # the only job left to run


def test_a_group_that_fails_partway_records_none_of_its_jobs(opened, monkeypatch):
    """The transaction path (SQLite's always; PostgreSQL's when a job ends badly): a
    failure at the second attempt's end undoes the first's end and its claim too, and
    the counts, whether or not each attempt has a savepoint of its own."""
    enqueuing.enqueue_many([JobSpec(command=f"echo {n}") for n in range(4)], now=T0)
    row = Registration(worker_id="w1", pid=1, host="h", slots=2)
    row.register(T0)
    first = [claiming.claim("w1", host="h", now=T0 + 1) for _ in range(2)]
    assert all(first)
    before = dump(opened)
    real_end = finish.end_locked

    def end_locked(job_id, *args, **kwargs):
        if job_id == first[1].job.id:
            raise StoreUnavailable("the database went away")
        return real_end(job_id, *args, **kwargs)

    monkeypatch.setattr(finish, "end_locked", end_locked)
    # Dead (final): on PostgreSQL too the group then takes the transaction path.
    dead = Result(RunOutcome.FAILED, 1, "no", "exit 1", 0.01, 2, final=True)
    ended = [Ended(first[0], _ok("fine")), Ended(first[1], dead)]
    with pytest.raises(StoreUnavailable):
        finish.complete_attempts(ended, row=row, wants_next=lambda: True, now=T0 + 2)

    assert dump(opened) == before
    assert (row.unreported_done, row.unreported_failed) == (0, 0)


def test_a_sqlite_group_is_one_transaction_without_a_savepoint_per_job(db_path, monkeypatch):
    """Each nested transaction would be a SAVEPOINT and a RELEASE: two statements more
    per job, about a tenth of a worker's CPU per trivial job (measured)."""
    db.open_database(db_path)
    enqueuing.enqueue_many([JobSpec(command=f"echo {n}") for n in range(6)], now=T0)
    row = Registration(worker_id="w1", pid=1, host="h", slots=3)
    row.register(T0)
    first = [claiming.claim("w1", host="h", now=T0 + 1) for _ in range(3)]
    statements: list[str] = []
    database.connection().set_trace_callback(statements.append)

    done = finish.complete_attempts(
        [Ended(claim, _ok("")) for claim in first], row=row, wants_next=lambda: True, now=T0 + 2
    )

    assert all(c.next is not None for c in done)
    words = [statement.split()[0].upper() for statement in statements]
    assert words.count("BEGIN") == 1
    assert words.count("COMMIT") == 1
    assert "SAVEPOINT" not in words


@pytest.mark.postgres
def test_a_postgresql_group_that_fails_records_none_of_its_jobs(pg_url):
    """All or nothing, as a transaction: here the driver refuses the second job's
    output (PostgreSQL text holds no NUL) after the first statement was sent.
    (SQLite's group is a plain transaction.)"""
    db.open_database(pg_url)
    enqueuing.enqueue_many([JobSpec(command=f"echo {n}") for n in range(3)], now=T0)
    row = Registration(worker_id="w1", pid=1, host="h", slots=2)
    row.register(T0)
    first = [claiming.claim("w1", host="h", now=T0 + 1) for _ in range(2)]
    assert all(first)
    ended = [Ended(first[0], _ok("fine")), Ended(first[1], _ok("bad \x00 byte"))]

    with pytest.raises(StoreUnavailable, match="NUL"):
        finish.complete_attempts(ended, row=row, wants_next=lambda: True, now=T0 + 2)

    assert [job.state for job in Job.select().order_by(Job.id)].count(JobState.PROCESSING) == 2
    assert Run.select().where(Run.finished_at.is_null(False)).count() == 0
    assert (row.unreported_done, row.unreported_failed) == (0, 0)
    # The connection is left idle and usable: the same group, fixed, records.
    ended[1] = Ended(first[1], _ok("good"))
    done = finish.complete_attempts(ended, row=row, wants_next=lambda: True, now=T0 + 3)
    assert [c.state for c in done] == [JobState.COMPLETED, JobState.COMPLETED]


def test_while_the_database_is_away_a_slot_worker_still_times_out_its_jobs(
    opened, tmp_path, monkeypatch, caplog
):
    """A job that ends during an outage keeps its slot until its record goes through;
    meanwhile the loop keeps watching the others, so a timeout still kills on time,
    and it leaves the database alone between retries (no spinning, one line each way)."""
    slow, short = enqueuing.enqueue_many(
        [JobSpec(command="sleep 30", timeout=0.3), JobSpec(command="sleep 0.1")],
        cwd=str(tmp_path),
    )
    worker = Worker(["default"], slots=2, kill_grace=0.2)
    worker.register()
    wait_until(lambda: worker.step() and len(worker._running) == 2, 10, "both jobs to start")
    running = {slot.claim.job.id: slot for slot in worker._running.values()}
    started = time.monotonic()

    away = {"now": True}
    housekeeping, record = worker._housekeeping, finish.complete_attempts

    def fails_while_away(call):
        def wrapper(*args, **kwargs):
            if away["now"]:
                raise StoreUnavailable("database unavailable: the server is restarting")
            return call(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(worker, "_housekeeping", fails_while_away(housekeeping))
    monkeypatch.setattr(finish, "complete_attempts", fails_while_away(record))
    monkeypatch.setattr(finish, "record_progress", fails_while_away(finish.record_progress))
    monkeypatch.setattr(finish, "ownership", fails_while_away(finish.ownership))

    steps, timed_out_after = 0, None
    with caplog.at_level("WARNING", logger="queuectl.worker"):
        while time.monotonic() - started < 1.0:  # the database stays away this long
            assert worker.step()
            steps += 1
            if timed_out_after is None and running[slow].result is not None:
                timed_out_after = time.monotonic() - started
        assert timed_out_after is not None and timed_out_after < 0.9, timed_out_after
        assert running[short].result is not None and short in worker.slot_job_ids()
        assert worker.store_in_doubt
        assert steps < 100, steps  # each wait lasts until a job's event or the next retry
        assert Job.get_by_id(short).state == JobState.PROCESSING  # not recorded yet

        away["now"] = False
        wait_until(lambda: worker.step() and not worker._running, 10, "the records")
    runs = {job_id: reads.runs_of(job_id)[0] for job_id in (slow, short)}
    assert runs[slow].outcome == RunOutcome.TIMED_OUT
    took = float(re.match(r"timed out after ([0-9.]+)s", runs[slow].error).group(1))
    assert took < 0.9, runs[slow].error  # not when the database came back
    assert runs[short].outcome == RunOutcome.SUCCEEDED
    # Their runs end when the jobs did, not when the database came back.
    assert runs[slow].duration < 0.9 and runs[short].duration < 0.9, runs
    lines = [record.getMessage() for record in caplog.records]
    assert sum("database unavailable" in line for line in lines) == 1, lines
    assert sum("database back after" in line for line in lines) == 1, lines
    worker.request_stop(force=True)
    while worker.step():
        pass


def test_a_stop_names_every_job_a_worker_with_slots_waits_for_or_kills(caplog):
    from queuectl.runtime.worklog import WorkLog

    with caplog.at_level("INFO", logger="queuectl.worker"):
        WorkLog("w1").acknowledge_stop("graceful", ["a", "b", "c"])
        WorkLog("w2").acknowledge_stop("force", ["a", "b"])
        WorkLog("w3").acknowledge_stop("graceful", ["a"])
    assert [record.getMessage() for record in caplog.records] == [
        "worker w1: stopping after jobs a, b, c finish (signal again to kill them)",
        "worker w2: forced stop; killing jobs a, b (their attempts are given back)",
        "worker w3: stopping after job a finishes (signal again to kill it)",
    ]


@pytest.mark.parametrize("slots", [0, MAX_SLOTS + 1])
def test_starting_workers_refuses_slots_out_of_range_before_starting_any(slots, tmp_path):
    """The dashboard's start dialog and ``worker start`` both come here: a worker asked
    for 0 or 65 slots would exit at once with a usage error in its log."""
    with pytest.raises(ValidationError, match=rf"slots must be between 1 and 64 \(got {slots}\)"):
        supervisor.start_workers(str(tmp_path / "never.db"), 1, slots=slots)
    assert list(tmp_path.iterdir()) == []
