"""The snapshot reader: filters pushed into SQL, a fixed window, totals that say what is hidden."""

from __future__ import annotations

import pytest

from queuectl import queue
from queuectl.jobspec import JobSpec
from queuectl.models import Job, JobState
from tests.conftest import T0
from tui.data import JobFilter, Request, Sort, parse_filter, read_snapshot


def test_parse_filter_terms() -> None:
    parsed = parse_filter("state:failed,DEAD queue:mail nightly backup")
    assert parsed == JobFilter((JobState.FAILED, JobState.DEAD), "mail", "nightly backup")
    assert parsed.describe() == "state:failed,dead queue:mail nightly backup"
    assert not parse_filter("   ").active


def test_parse_filter_rejects_unknown_state() -> None:
    with pytest.raises(ValueError, match="unknown state 'nope'"):
        parse_filter("state:nope")


def test_window_is_newest_first_and_counts_the_rest(opened) -> None:
    queue.enqueue_many(
        [JobSpec(command=f"echo {i}", id=f"j{i:04d}") for i in range(120)], now=T0, cwd="/"
    )
    snapshot = read_snapshot(Request(limit=50), T0)
    ids = [key for key, _ in snapshot.jobs.rows]
    assert len(ids) == 50 and snapshot.jobs.total == 120
    assert ids[0] == "j0119" and ids == sorted(ids, reverse=True)  # ties broken by id
    assert snapshot.counts["pending"] == 120


def test_filter_is_applied_before_the_window(opened) -> None:
    queue.enqueue_many([JobSpec(command=f"echo {i}") for i in range(30)], now=T0 - 10, cwd="/")
    queue.enqueue_many([JobSpec(command="backup db", id="old-backup")], now=T0 - 999, cwd="/")
    Job.update(state="failed").where(Job.id == "old-backup").execute()
    request = Request(job_filter=parse_filter("state:failed backup"), limit=5)
    snapshot = read_snapshot(request, T0)
    assert [key for key, _ in snapshot.jobs.rows] == ["old-backup"]
    assert snapshot.jobs.total == 1


def test_sort_by_priority(opened) -> None:
    queue.enqueue_many(
        [JobSpec(command="a", id="low"), JobSpec(command="b", id="high", priority=5)],
        now=T0,
        cwd="/",
    )
    snapshot = read_snapshot(Request(jobs_sort=Sort("priority", reverse=True)), T0)
    assert [key for key, _ in snapshot.jobs.rows] == ["high", "low"]
