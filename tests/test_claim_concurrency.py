"""Eight processes hammer ``claim`` over thousands of jobs: none twice, none missed.

This is the property every other guarantee rests on, tested with real
processes and real SQLite locking rather than threads in one interpreter.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter

import pytest

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import reads
from queuectl.store import db
from queuectl.store.models import JobState, Run, RunOutcome
from tests.conftest import end_attempt

PROCESSES = 8
JOBS = 3000


def _drain(location: str, worker_id: str, queued: bool, results: multiprocessing.Queue) -> None:
    db.open_database(location, durable=False, queue_writes=queued)
    claimed: list[str] = []
    while (claim := claiming.claim(worker_id, host="test")) is not None:
        claimed.append(claim.job.id)
        end_attempt(claim, RunOutcome.SUCCEEDED, worker_id=worker_id)
    results.put((worker_id, claimed))


@pytest.mark.timeout(120)
def test_concurrent_claims_never_duplicate_or_lose_a_job(db_url):
    db.open_database(db_url)
    ids = enqueuing.enqueue_many([JobSpec(command="true")] * JOBS)
    db.close_database()

    context = multiprocessing.get_context("spawn" if os.name != "posix" else "fork")
    results = context.Queue()
    workers = [
        # Half queue their writes on the flock as workers do, half meet them only at
        # SQLite's lock as CLI writers do: the two kinds must mix safely.
        context.Process(target=_drain, args=(db_url, f"w{n}", n % 2 == 0, results))
        for n in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    claimed_by = dict(results.get(timeout=100) for _ in workers)
    for process in workers:
        process.join(timeout=10)
        assert process.exitcode == 0

    claims = Counter(job_id for ids_ in claimed_by.values() for job_id in ids_)
    assert sorted(claims) == sorted(ids), "every job claimed"
    assert max(claims.values()) == 1, "no job claimed twice"
    assert sum(1 for ids_ in claimed_by.values() if ids_) >= 2, "the work was shared"

    db.open_database(db_url)
    assert reads.counts()[JobState.COMPLETED.value] == JOBS
    assert Run.select().count() == JOBS
