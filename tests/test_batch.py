"""The one batch operation behind the CLI's filters and the dashboard's marks: chunked
transactions, and refusals grouped by reason."""

from __future__ import annotations

import pytest

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import manage, reads
from queuectl.store.models import Job, JobState
from tests.conftest import T0


def _seed(job_id: str, state: str) -> None:
    enqueuing.enqueue(JobSpec(command="true", id=job_id), now=T0)
    Job.update(state=state).where(Job.id == job_id).execute()


def test_act_goes_chunk_by_chunk_and_groups_refusals(opened, monkeypatch) -> None:
    monkeypatch.setattr(manage, "CHUNK", 2)
    for job_id, state in [("a", "failed"), ("b", "pending"), ("c", "dead"), ("d", "completed")]:
        _seed(job_id, state)
    progress: list[tuple[int, int]] = []
    outcome = manage.act(
        manage.CANCEL, ["a", "b", "ghost", "c", "d"], now=T0, progress=lambda *p: progress.append(p)
    )
    assert [job.id for job in outcome.changed] == ["a", "b"]
    assert outcome.reasons == {"not found": ["ghost"], "dead": ["c"], "completed": ["d"]}
    assert [str(error) for error in outcome.refused] == [
        "no job with id 'ghost'",
        "job c is dead; it can no longer be cancelled",
        "job d is completed; it can no longer be cancelled",
    ]
    assert progress == [(2, 5), (4, 5), (5, 5)]


def test_a_batch_asked_for_its_count_alone_holds_no_rows(opened, monkeypatch) -> None:
    """The dashboard only says how many: holding 25,000 changed rows to count them left
    it 60 MB larger for good."""
    monkeypatch.setattr(manage, "CHUNK", 2)
    for job_id, state in [("a", "failed"), ("b", "pending"), ("c", "dead"), ("d", "pending")]:
        _seed(job_id, state)
    counted = manage.act(manage.CANCEL, ["a", "b", "c", "d"], now=T0, rows=False)
    assert (counted.count, counted.changed, counted.reasons) == (3, [], {"dead": ["c"]})
    retried = manage.retry_dead(now=T0, rows=False)  # c, the DLQ's one
    assert (retried.count, retried.changed) == (1, [])
    with_rows = manage.act(manage.CANCEL, ["a", "c"], now=T0)  # a is cancelled already
    assert (with_rows.count, [job.id for job in with_rows.changed]) == (1, ["c"])


def test_all_or_nothing_retry_still_rolls_back_every_chunk(opened, monkeypatch) -> None:
    monkeypatch.setattr(manage, "CHUNK", 1)
    _seed("a", "failed")
    _seed("b", "pending")
    with pytest.raises(Exception, match="job b is pending"):
        manage.retry(["a", "b"], now=T0)
    assert Job.get_by_id("a").state == "failed"


def test_matching_ids_is_every_match_newest_first(opened) -> None:
    for index in range(3):
        _seed(f"x{index}", "failed")
    _seed("y", "failed")
    assert reads.matching_ids(search="x") == ["x2", "x1", "x0"]
    assert reads.matching_ids(states=[JobState.FAILED], search="y") == ["y"]
