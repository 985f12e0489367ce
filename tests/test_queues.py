"""Steered queues in the core, on both backends: pause, resume, limits, and their figures.

The rules live in the claim (``sql.claimable``); these tests drive the claim,
the end-and-claim of a finishing worker, and the worker loop with a fake clock.
The race test runs six processes against one limit.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from functools import partial

import pytest

from queuectl.errors import ValidationError
from queuectl.jobspec import JobSpec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import finish, queues
from queuectl.lifecycle.finish import Ended
from queuectl.lifecycle.policy import Result
from queuectl.lifecycle.workers import Registration
from queuectl.store import db
from queuectl.store.models import Job, JobState, QueueSetting, RunOutcome
from tests.conftest import T0, dump, end_attempt
from tests.together import run_together


def enqueue(command: str = "true", queue: str = "default", **fields) -> str:
    return enqueuing.enqueue(JobSpec(command=command, queue=queue, **fields), now=T0, cwd="/").id


def registered(*names: str, now: float = T0) -> Registration:
    row = Registration(names, pid=os.getpid(), host="test")
    row.register(now)
    return row


def succeeded() -> Result:
    return Result(RunOutcome.SUCCEEDED, 0, "", None, output_bytes=0)


def test_a_paused_queue_starts_nothing_while_others_drain_and_starts_again_on_resume(opened):
    images = [enqueue(queue="images", priority=5) for _ in range(2)]
    mail = enqueue(queue="mail")
    queues.pause(["images"], now=T0)
    served = ("images", "mail")
    # Higher priority, yet paused: the claim passes over them, and next-due agrees.
    taken = claiming.claim("w1", served, now=T0 + 1)
    assert taken is not None and taken.job.id == mail
    assert claiming.claim("w2", served, now=T0 + 1) is None
    assert claiming.next_due_at(served) is None
    assert claiming.next_due_at(("images",)) is None
    enqueue(queue="images")  # enqueue still works while paused
    assert Job.select().where(Job.queue == "images").count() == 3

    queues.resume(["images"], now=T0 + 2)
    assert claiming.next_due_at(served) == T0
    again = claiming.claim("w2", served, now=T0 + 2)
    assert again is not None and again.job.id in images
    assert QueueSetting.select().count() == 0, "an open, unlimited queue keeps no row"


def test_a_limit_counts_running_jobs_only_and_the_finishing_worker_takes_the_next(opened):
    ids = [enqueue(queue="render") for _ in range(4)]
    queues.set_limit("render", 1, now=T0)
    first, second = registered("render"), registered("render")
    claim = claiming.claim(first.id, first.queues, now=T0)
    assert claim is not None and claim.job.id == ids[0]
    assert claiming.claim(second.id, second.queues, now=T0) is None, "the limit is reached"
    assert claiming.next_due_at(second.queues) is None
    # A worker ending its job takes the next in the same transaction (on PostgreSQL
    # the same statement): its own ending job is not counted against the limit.
    done = finish.complete_attempt(
        claim, succeeded(), row=first, wants_next=lambda: True, now=T0 + 1
    )
    assert done.state == JobState.COMPLETED and done.next is not None
    assert done.next.job.id == ids[1]
    assert claiming.claim(second.id, second.queues, now=T0 + 1) is None
    # Failed (waiting for a retry), dead and completed jobs never count: only running ones.
    end_attempt(done.next, RunOutcome.FAILED, exit_code=1, now=T0 + 2)
    assert Job.get_by_id(ids[1]).state == JobState.FAILED
    nxt = claiming.claim(second.id, second.queues, now=T0 + 2)
    assert nxt is not None and nxt.job.id == ids[2]
    # Raised to 2: a second job starts beside it at once; lifted: no row is left.
    queues.set_limit("render", 2, now=T0 + 3)
    assert claiming.claim(first.id, first.queues, now=T0 + 3) is not None
    queues.set_limit("render", None, now=T0 + 4)
    assert QueueSetting.select().count() == 0


def test_pause_and_limit_are_kept_apart_and_a_lifted_pause_keeps_the_limit(opened):
    queues.set_limit("etl", 3, now=T0)
    [paused] = queues.pause(["etl"], now=T0)
    assert (paused.paused, paused.limit) == (True, 3)
    [resumed] = queues.resume(["etl"], now=T0)
    assert (resumed.paused, resumed.limit) == (False, 3)
    assert queues.steered() == [queues.Steering("etl", False, 3)]
    # Resuming a queue that was never paused changes nothing and keeps no row.
    assert queues.resume(["never"], now=T0) == [queues.Steering("never")]
    assert [s.name for s in queues.steered()] == ["etl"]


def test_bad_names_and_limits_change_nothing(opened):
    queues.pause(["kept"], now=T0)
    before = dump(opened)
    for call in (
        lambda: queues.pause(["ok", "bad name"]),
        lambda: queues.resume(["kept", ""]),
        lambda: queues.set_limit("x" * 65, 2),
    ):
        with pytest.raises(ValidationError):
            call()
    with pytest.raises(ValueError):
        queues.set_limit("kept", 0)
    assert dump(opened) == before


def test_a_state_written_past_queuectl_is_left_out_of_the_figures(opened):
    """``queue list`` (and the Queues pane) ended in a KeyError traceback on one row whose
    state was written past queuectl (``bogus``)."""
    enqueue(queue="mail")
    odd = enqueue(queue="mail")
    Job.update(state="bogus").where(Job.id == odd).execute()
    (mail,) = queues.figures(now=T0)
    assert mail.counts[JobState.PENDING.value] == 1 and "bogus" not in mail.counts


def test_figures_cover_queues_with_jobs_workers_or_settings(opened):
    done = enqueue(queue="mail")
    enqueue(queue="mail")
    claim = claiming.claim("w1", ("mail",), now=T0)
    assert claim is not None and claim.job.id == done
    end_attempt(claim, RunOutcome.SUCCEEDED, exit_code=0, now=T0 + 5)
    registered("mail", "thumbs", now=T0 + 5)
    queues.pause(["empty"], now=T0)
    queues.set_limit("mail", 4, now=T0)
    by_name = {q.name: q for q in queues.figures(now=T0 + 10, sparkline=True)}
    assert sorted(by_name) == ["empty", "mail", "thumbs"]
    mail = by_name["mail"]
    assert mail.record() == {
        "name": "mail",
        "paused": False,
        "limit": 4,
        "counts": {
            "pending": 1,
            "blocked": 0,
            "processing": 0,
            "completed": 1,
            "failed": 0,
            "dead": 0,
            "cancelled": 0,
        },
        "held": 0,
        "running": 0,
        "workers": 1,
        "finished_5m": 1,
    }
    assert sum(mail.throughput) == 1 and len(mail.throughput) == queues.SPARK_BUCKETS
    assert by_name["empty"].paused and by_name["thumbs"].workers == 1
    assert queues.figures(now=T0 + 400, names=["mail"])[0].finished_5m == 0


def test_a_worker_asked_to_stop_serves_no_queue_in_the_figures(opened):
    """``queue list`` and the Queues pane counted it (Workers 1, not red) while the
    header and ``status`` warned that no worker served the queue."""
    from queuectl.store.models import Worker

    enqueue(queue="long")
    stopping = registered("long", now=T0)
    registered("mail", now=T0)
    Worker.update(stop_requested="graceful").where(Worker.id == stopping.id).execute()
    by_name = {q.name: q for q in queues.figures(now=T0 + 1)}
    assert (by_name["long"].workers, by_name["mail"].workers) == (0, 1)


def test_held_jobs_are_counted_apart_and_not_as_waiting(opened):
    """A queue of held jobs read as waiting: Pending 2, and no worker flagged as missing."""
    held = enqueue(queue="mail")
    enqueue(queue="mail")
    ended = enqueue(queue="mail")
    Job.update(held_at=T0).where(Job.id == held).execute()
    # An end clears held_at; a row that ended held before that rule kept it: not held.
    Job.update(held_at=T0, state="completed").where(Job.id == ended).execute()
    [mail] = queues.figures(now=T0)
    assert (mail.counts["pending"], mail.counts["completed"]) == (2, 1)  # every job, by state
    assert (mail.held, mail.unheld("pending"), mail.unheld("completed"), mail.waiting) == (
        1,
        1,
        1,
        1,
    )
    assert mail.record()["held"] == 1


# --- the race: six processes, one limit --------------------------------------------------

LIMIT = 2
PROCESSES = 6
JOBS = 60


def _drain(location: str, out: multiprocessing.Queue) -> None:
    """A worker's claim and end-and-claim cycle; records when it held each job (a span
    inside the job's ``processing`` time: after the claim's commit, before its end)."""
    db.open_database(location, durable=False, queue_writes=True)
    row = registered("limited", now=time.time())
    spans: list[tuple[float, float]] = []
    claim = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if claim is None:
            claim = claiming.claim(row.id, row.queues, host="test")
            if claim is None:
                if not Job.select().where(Job.state == "pending").exists():
                    break
                time.sleep(0.002)
                continue
        start = time.time()
        time.sleep(0.005)
        spans.append((start, time.time()))
        claim = finish.complete_attempt(claim, succeeded(), row=row, wants_next=lambda: True).next
    out.put(spans)


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


@pytest.mark.timeout(120)
def test_a_limit_of_2_holds_across_6_concurrent_claimers(db_url):
    """On PostgreSQL the claims run at once under SKIP LOCKED: a count read with the
    statement's snapshot would let a third job start; the limit must hold exactly."""
    db.open_database(db_url)
    enqueuing.enqueue_many([JobSpec(command="true", queue="limited")] * JOBS)
    queues.set_limit("limited", LIMIT)
    db.close_database()
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    procs = [context.Process(target=_drain, args=(db_url, out)) for _ in range(PROCESSES)]
    for proc in procs:
        proc.start()
    spans = [span for _ in procs for span in out.get(timeout=90)]
    for proc in procs:
        proc.join(timeout=10)
        assert proc.exitcode == 0
    assert len(spans) == JOBS, "every job ran once"
    assert _most_at_once(spans) == LIMIT, "never more than the limit, and the limit is reached"


def test_a_pause_and_a_limit_given_at_once_both_hold(db_url):
    """On PostgreSQL both read no row of a new queue and both inserted one: one failed
    with the key's "duplicate key value" and its change was lost (4 runs in 80)."""
    db.open_database(db_url)
    for round_ in range(40):
        name = f"race{round_}"
        outcomes = run_together([partial(queues.pause, [name]), partial(queues.set_limit, name, 2)])
        errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        assert not errors, errors
        row = QueueSetting.get_by_id(name)
        assert (row.paused, row.max_running) == (True, 2), round_


# --- the worker loop: no spin on a paused queue, changes seen on the next claim -----------


def test_an_idle_worker_facing_only_a_paused_queues_due_jobs_makes_no_claim(opened, monkeypatch):
    """Next-due applies the pause too, so the worker sleeps as if nothing waited: no
    claim at all in 10 s (issue 19's probe counted 174 in 2 s for a refused due job)."""
    from tests.test_worker_loop import FakeClock, make_worker

    job_id = enqueue(queue="default")
    queues.pause(["default"], now=T0)
    clock = FakeClock()
    worker = make_worker(clock)
    attempts: list[float] = []
    real_claim = claiming.claim

    def counted(*args, **kwargs):
        attempts.append(clock.now)
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(claiming, "claim", counted)
    while clock.now < T0 + 10:
        worker.step()
    assert attempts == []
    assert Job.get_by_id(job_id).state == JobState.PENDING
    # Resumed: the commit is a change the waiter sees, so the job starts within a poll.
    queues.resume(["default"], now=clock.now)
    resumed_at = clock.now
    while Job.get_by_id(job_id).state != JobState.COMPLETED:
        worker.step()
        assert clock.now < resumed_at + 1.5
    assert len(attempts) == 1


def test_a_limit_set_while_a_worker_runs_holds_from_its_next_claim(opened):
    """A running worker needs no restart nor a heartbeat: the claim reads the limit."""
    from tests.test_worker_loop import FakeClock, make_worker

    clock = FakeClock()
    busy = make_worker(clock, queues=("q",))
    ids = [enqueue("true", queue="q") for _ in range(3)]
    other = registered("q")
    held = claiming.claim(other.id, other.queues, now=T0)  # one job of q runs elsewhere
    assert held is not None and held.job.id == ids[0]
    queues.set_limit("q", 1, now=T0)
    for _ in range(20):
        busy.step()
    assert [Job.get_by_id(i).state for i in ids[1:]] == [JobState.PENDING] * 2
    queues.set_limit("q", 2, now=clock.now)
    limited_at = clock.now
    while Job.get_by_id(ids[2]).state != JobState.COMPLETED:
        busy.step()
        assert clock.now < limited_at + 1.5


def test_a_worker_with_slots_counts_its_own_running_jobs_against_a_limit(opened):
    """A worker runs several jobs with slots: its own running jobs count like anyone's,
    and only the job a record ends is left out, so a group's replacements keep the limit."""
    for _ in range(6):
        enqueue(queue="render")
    queues.set_limit("render", 2, now=T0)
    row = Registration(("render",), pid=os.getpid(), host="test", slots=4)
    row.register(T0)
    first = claiming.claim(row.id, row.queues, now=T0)
    second = claiming.claim(row.id, row.queues, now=T0)
    assert first is not None and second is not None
    assert claiming.claim(row.id, row.queues, now=T0) is None, "two of its own run"
    assert claiming.next_due_at(row.queues) is None
    # Both end together (a slot group): each is replaced, and no more than that.
    done = finish.complete_attempts(
        [Ended(first, succeeded()), Ended(second, succeeded())],
        row=row,
        wants_next=lambda: True,
        now=T0 + 1,
    )
    assert [c.next is not None for c in done] == [True, True]
    assert Job.select().where(Job.state == JobState.PROCESSING).count() == 2
    # Lowered to 1 while two run: the two that end next bring back one job, not two.
    queues.set_limit("render", 1, now=T0 + 2)
    running = [c.next for c in done]
    done = finish.complete_attempts(
        [Ended(claim, succeeded()) for claim in running],
        row=row,
        wants_next=lambda: True,
        now=T0 + 3,
    )
    replaced = sum(c.next is not None for c in done)
    assert replaced <= 1  # (after a refused claim a group asks no more: the loop looks later)
    assert Job.select().where(Job.state == JobState.PROCESSING).count() == replaced
    assert claiming.claim(row.id, row.queues, now=T0 + 4) is None or replaced == 0
    assert Job.select().where(Job.state == JobState.PROCESSING).count() == 1


def test_a_worker_with_slots_runs_no_more_of_a_queue_than_its_limit(opened, tmp_path):
    """The real loop, four slots and a limit of 2: never more than two at once."""
    from queuectl.runtime.worker import Worker

    ids = enqueuing.enqueue_many(
        [JobSpec(command="sleep 0.2", queue="render") for _ in range(6)], cwd=str(tmp_path)
    )
    queues.set_limit("render", 2, now=time.time())
    worker = Worker(["render"], slots=4, use_watchdog=False)
    worker.register()
    most = 0
    deadline = time.monotonic() + 15
    try:
        while Job.select().where(Job.state == JobState.COMPLETED).count() < len(ids):
            assert time.monotonic() < deadline, "the jobs did not finish"
            worker.step()
            most = max(most, len(worker._running))
            running = Job.select().where(Job.state == JobState.PROCESSING).count()
            assert running <= 2, running
    finally:
        worker.request_stop(force=True)
        while worker.step():
            pass
    assert most == 2
