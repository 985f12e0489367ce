"""The worker runtime on PostgreSQL: the claim with SKIP LOCKED, polling wake-up, recovery.

Skipped unless ``QUEUECTL_TEST_PG_URL`` names a database these tests may empty.
"""

from __future__ import annotations

import os

import pytest

from queuectl import procs, queue
from queuectl.models import JobState, Run
from tests.integration.conftest import Cluster, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_four_workers_share_jobs_exactly_once(pg_cluster: Cluster):
    ids = [pg_cluster.enqueue('echo "$QUEUECTL_JOB_ID"') for _ in range(100)]
    pg_cluster.start_workers(4)
    wait_until(lambda: queue.counts()["completed"] == 100, 40, "100 completed jobs")
    assert Run.select().count() == 100
    assert {r.job_id for r in Run.select()} == set(ids)
    assert len({r.worker_id for r in Run.select()}) >= 2


def test_kill_9_mid_job_is_recovered(pg_cluster: Cluster):
    [doomed] = pg_cluster.start_workers(1)
    job_id = pg_cluster.enqueue(
        'if [ "$QUEUECTL_ATTEMPT" = 1 ]; then sleep 60 & wait; else echo rerun; fi'
    )
    run = wait_until(
        lambda: (
            Run.select()
            .where(Run.job == job_id, Run.outcome.is_null(), Run.pgid.is_null(False))
            .first()
        ),
        10,
        "the job to start",
    )
    doomed.kill()
    doomed.wait(timeout=5)
    pg_cluster.start_workers(1)
    job = pg_cluster.wait_state(job_id, JobState.COMPLETED, timeout=15)
    assert job.output == "rerun\n"
    assert [r.outcome for r in queue.runs_of(job_id)] == ["lost", "succeeded"]
    assert not procs.group_alive(run.pgid)


def test_output_with_nul_bytes_is_stored(pg_cluster: Cluster):
    pg_cluster.start_workers(1)
    job_id = pg_cluster.enqueue("printf 'a\\000b'")
    assert pg_cluster.wait_state(job_id, JobState.COMPLETED).output == "a\ufffdb"
    assert os.environ.get("QUEUECTL_TEST_PG_URL")
