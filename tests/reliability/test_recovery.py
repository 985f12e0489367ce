"""Recovery closes every attempt a dead worker left open, whatever happened to its job."""

from __future__ import annotations

import pytest

from queuectl.errors import InvalidTransition
from queuectl.jobspec import JobSpec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import manage, recovery
from queuectl.store.models import Job, JobState, Run, RunOutcome, Worker, WorkerState
from tests.conftest import T0, end_attempt

LEASE = 30.0


def _claimed(worker_id: str = "w1") -> claiming.Claim:
    Worker.create(
        id=worker_id,
        pid=1,
        host="elsewhere",
        started_at=T0,
        heartbeat_at=T0,
        state=WorkerState.BUSY.value,
    )
    enqueuing.enqueue(JobSpec(command="sleep 600", id="job", max_retries=2), now=T0, cwd="/")
    claim = claiming.claim(worker_id, host="elsewhere", now=T0)
    assert claim is not None
    return claim


@pytest.mark.parametrize("worker_row", ["stale", "gone"])
def test_a_cancelled_jobs_attempt_is_closed_when_its_worker_dies(opened, worker_row):
    """Cancel a running job, then its worker dies before noticing: the run must not stay
    open forever (it would block ``retry`` for good and show as running)."""
    claim = _claimed()
    manage.cancel("job", now=T0 + 1)
    if worker_row == "gone":
        Worker.delete().execute()
    killed: list[int] = []
    recovery.recover_lost(
        lease_seconds=LEASE, before_requeue=lambda run: killed.append(run.id), now=T0 + LEASE + 5
    )
    run = Run.get_by_id(claim.run_id)
    assert run.outcome is not None and run.finished_at is not None
    assert killed == [claim.run_id], "the orphaned process group must be killed too"
    job = Job.get_by_id("job")
    assert job.state == JobState.CANCELLED
    manage.retry(["job"], now=T0 + LEASE + 6)  # no longer "still being stopped"
    assert Job.get_by_id("job").state == JobState.PENDING


def test_a_live_worker_keeps_its_cancelled_attempt_to_close_itself(opened):
    claim = _claimed()
    manage.cancel("job", now=T0 + 1)
    Worker.update(heartbeat_at=T0 + LEASE).execute()
    assert recovery.recover_lost(lease_seconds=LEASE, now=T0 + LEASE + 5) == []
    assert Run.get_by_id(claim.run_id).outcome is None
    state = end_attempt(claim, RunOutcome.CANCELLED, now=T0 + LEASE + 6, worker_id="w1")
    assert state is None and Run.get_by_id(claim.run_id).outcome == RunOutcome.CANCELLED


def test_a_cancelled_job_still_being_stopped_is_neither_deleted_nor_purged(opened):
    """Until its worker has killed and recorded the attempt, a cancelled job keeps its id:
    deleting it (and enqueueing the id again) would let a second run start beside the
    first, which may still be running for the whole kill grace."""
    claim = _claimed()
    manage.cancel("job", now=T0 + 1)
    with pytest.raises(InvalidTransition, match="still being stopped"):
        manage.delete("job")
    assert manage.purge([JobState.CANCELLED], now=T0 + 2) == 0
    end_attempt(claim, RunOutcome.CANCELLED, now=T0 + 3, worker_id="w1")
    assert manage.purge([JobState.CANCELLED], now=T0 + 4) == 1
