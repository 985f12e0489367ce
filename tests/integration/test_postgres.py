"""What only PostgreSQL needs proving: text without NUL, and workers on many hosts.

Everything else in ``tests/integration`` already runs on PostgreSQL through the
parametrized ``cluster`` fixture. These skip unless ``QUEUECTL_TEST_PG_URL``
names a server; each gets a fresh schema.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import defaultdict
from itertools import pairwise

import pytest

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import reads
from queuectl.store.models import Job, JobState, Run, RunOutcome
from tests.integration.conftest import Cluster, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_output_with_nul_bytes_is_stored(pg_cluster: Cluster):
    """PostgreSQL text cannot hold NUL; the worker stores U+FFFD instead of failing."""
    pg_cluster.start_workers(1)
    job_id = pg_cluster.enqueue("printf 'a\\000b'")
    assert pg_cluster.wait_state(job_id, JobState.COMPLETED).output == "a\ufffdb"


def _start_host_group(cluster: Cluster, host: str, count: int) -> list[subprocess.Popen]:
    """Workers that believe they run on ``host`` (``QUEUECTL_HOSTNAME``)."""
    env = {**cluster.env, "QUEUECTL_HOSTNAME": host}
    procs = []
    for n in range(count):
        log = open(os.path.join(cluster.workdir, f"worker-{host}-{n}.log"), "wb")  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "queuectl", "worker", "run"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=cluster.workdir,
            )
        )
        log.close()
    cluster.procs.extend(procs)
    return procs


@pytest.mark.timeout(180)
def test_a_host_that_dies_is_recovered_by_another_through_the_lease(pg_cluster: Cluster):
    """Two "hosts" on one database; host A is SIGKILLed mid-run. Host B cannot see A's
    pids, so only the heartbeat lease tells it A is gone: every job still completes,
    no job ever ran twice at once, and A's lost jobs were rerun by B."""
    jobs = 800  # enough that host A is killed mid-job with hundreds still to run
    enqueuing.enqueue_many([JobSpec(command="true", max_retries=5)] * jobs, cwd=pg_cluster.workdir)
    host_a = _start_host_group(pg_cluster, "host-a", 2)
    host_b = _start_host_group(pg_cluster, "host-b", 2)
    wait_until(
        lambda: Job.select().where(Job.state == JobState.COMPLETED.value).count() >= jobs // 4,
        60,
        "a quarter of the jobs to complete",
    )

    # Kill host A while it is mid-job. Its workers spend part of each job between
    # runs, so freeze them first and only kill once one holds an open run.
    def host_a_frozen_mid_job() -> bool:
        for proc in host_a:
            os.kill(proc.pid, signal.SIGSTOP)
        if Run.select().where(Run.host == "host-a", Run.outcome.is_null()).exists():
            return True
        for proc in host_a:
            os.kill(proc.pid, signal.SIGCONT)
        return False

    wait_until(host_a_frozen_mid_job, 30, "host A to be frozen mid-job")
    for proc in host_a:
        os.kill(proc.pid, signal.SIGKILL)
    for proc in host_a:
        proc.wait(timeout=10)

    wait_until(
        lambda: reads.counts()[JobState.COMPLETED.value] == jobs,
        120,
        f"all {jobs} jobs to complete (counts: {reads.counts()})",
    )
    runs = defaultdict(list)
    for run in Run.select():
        runs[run.job_id].append(run)
    lost = [run for job_runs in runs.values() for run in job_runs if run.outcome == "lost"]
    assert lost, "host A was killed mid-run, so some of its runs must have been lost"
    assert {run.host for run in lost} == {"host-a"}
    for run in lost:  # each lost job was rerun, by host B, to success
        final = max(runs[run.job_id], key=lambda r: r.id)
        assert final.outcome == RunOutcome.SUCCEEDED and final.host == "host-b"
    for job_runs in runs.values():
        assert sum(r.outcome == "succeeded" for r in job_runs) == 1
        ordered = sorted(job_runs, key=lambda r: r.started_at)
        for earlier, later in pairwise(ordered):
            assert earlier.finished_at is not None
            assert earlier.finished_at <= later.started_at, "two runs of one job overlapped"
    assert all(proc.poll() is None for proc in host_b), "host B's workers kept running"
