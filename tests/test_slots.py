"""Slots: one worker process running several jobs at once, finishes recorded together.

In-process, on both backends: the group commit (``finish.complete_attempts``)
and a real worker with slots draining a few tiny jobs, one of which times out.
The guarantees under kills and stops are proved with slots by the same
integration and chaos tests as with one job per worker (their ``slots``
parameter).
"""

from __future__ import annotations

import time

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import finish, reads
from queuectl.lifecycle.finish import Ended
from queuectl.lifecycle.policy import Result
from queuectl.lifecycle.workers import Registration
from queuectl.runtime.slots import Slot
from queuectl.runtime.worker import Worker
from queuectl.store.models import Job, JobState, Run, RunOutcome, WorkerState
from queuectl.store.models import Worker as WorkerRow
from tests.conftest import T0
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


def test_slot_finishes_are_grouped_where_the_backend_gains_by_it(opened, monkeypatch):
    """SQLite: one transaction for the jobs that ended together. PostgreSQL: one
    statement each (its end-and-claim commits on its own; BEGIN and COMMIT would add
    two round trips that the one slot loop waits for in turn)."""
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
    record = finish.complete_attempts

    def spy(ended, **kwargs):
        groups.append(len(ended))
        return record(ended, **kwargs)

    monkeypatch.setattr(finish, "complete_attempts", spy)

    worker._record_slots(slots)

    assert groups == ([1, 1, 1] if opened.startswith("postgres") else [3])
    assert [claim.job.id for claim in worker._queued] == ids[3:6]  # each replaced, in order
    states = {job.id: job.state for job in Job.select()}
    assert [states[job_id] for job_id in ids] == [JobState.COMPLETED] * 3 + [
        JobState.PROCESSING
    ] * 3
    assert WorkerRow.get_by_id(worker.id).current_job in ids[3:6]
