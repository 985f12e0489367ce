"""Batch changes: on PostgreSQL never waiting for a job while holding others; stamped
when written.

``cancel --queue rq`` while two workers drained rq failed 5 times in 6 with "deadlock
detected", part done: its UPDATE held the jobs it had changed and waited for one a
worker's claim held, while that worker's end-and-claim waited for the job it had run,
which the cancel held. Here another transaction plays the worker, step by step.
"""

from __future__ import annotations

import threading

import psycopg
import pytest

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import manage
from queuectl.store import db
from queuectl.store.models import Job
from tests.polling import wait_until


def _state(url: str, job_id: str) -> str:
    """The job's committed state, read on a connection of its own."""
    with psycopg.connect(_libpq(url), autocommit=True) as reader:
        return reader.execute("SELECT state FROM queuectl_job WHERE id = %s", (job_id,)).fetchone()[
            0
        ]


def _libpq(url: str) -> str:
    return url  # psycopg takes the same URL, its search_path option included


@pytest.mark.postgres
@pytest.mark.timeout(60)
def test_a_batch_cancel_commits_what_it_holds_before_it_waits_for_a_held_job(pg_url):
    db.open_database(pg_url)
    enqueuing.enqueue_many([JobSpec(command="true", id="a"), JobSpec(command="true", id="b")])
    worker = psycopg.connect(pg_url)  # a worker's transaction: holds b, will want a
    worker.execute("SELECT id FROM queuectl_job WHERE id = 'b' FOR UPDATE")
    done: list[manage.Outcome] = []
    batch = threading.Thread(target=lambda: done.append(manage.act(manage.CANCEL, ["a", "b"])))
    batch.start()
    try:
        # a is cancelled and committed while b is still held: the cancel holds nothing
        # the worker could wait for (it used to hold a, waiting for b, uncommitted).
        wait_until(lambda: _state(pg_url, "a") == "cancelled", 10, "a cancelled, committed")
        worker.execute("UPDATE queuectl_job SET priority = 1 WHERE id = 'a'")  # no wait
    finally:
        worker.commit()
        worker.close()
    batch.join(timeout=20)
    assert not batch.is_alive()
    [outcome] = done
    assert (outcome.count, outcome.refused) == (2, [])
    assert {job.id: job.state for job in Job.select()} == {"a": "cancelled", "b": "cancelled"}
    db.close_database()


def test_a_long_batchs_later_chunks_are_stamped_when_written(opened, monkeypatch):
    """All 2,671 jobs of a cancel over a draining queue had the batch's first time as
    ``finished_at``: a job claimed after the batch began read as ended before it started."""
    import time

    from tests.conftest import T0

    enqueuing.enqueue_many([JobSpec(command="true", id="a"), JobSpec(command="true", id="b")])
    monkeypatch.setattr(manage, "CHUNK", 1)
    acting = manage._act_on_chunk

    def slow_first_chunk(action, ids, *args):
        if ids == ["a"]:
            time.sleep(0.4)  # the chunk's own work, taking long: not a wait for anything
        return acting(action, ids, *args)

    monkeypatch.setattr(manage, "_act_on_chunk", slow_first_chunk)
    manage.act(manage.CANCEL, ["a", "b"], now=T0)
    ended = {job.id: job.finished_at for job in Job.select()}
    assert ended["a"] == T0 and ended["b"] >= T0 + 0.4
