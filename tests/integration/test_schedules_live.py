"""Real workers firing a schedule: every tick exactly once, however many workers and hosts.

Few and short on purpose (each runs for about 5 s of ticks): the rules themselves
are tested with an injected clock in ``tests/test_schedules.py``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from queuectl.lifecycle import schedules
from queuectl.store.models import Job, JobState, Schedule
from tests.integration.conftest import Cluster, wait_until
from tests.integration.test_postgres import _start_host_group

pytestmark = pytest.mark.integration


def _ticks(name: str) -> list[float]:
    found = []
    for job in Job.select(Job.id).where(Job.id.startswith(f"{name}:")):
        stamp = job.id.split(":", 1)[1]
        found.append(datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp())
    return sorted(found)


def _check_every_tick_once(cluster: Cluster, name: str, every: float, ticks: int) -> None:
    """Wait for ``ticks`` fires; then no tick is missing, none is doubled, none skipped,
    and each was fired by one worker only (one "fired" line per job in all the logs)."""
    wait_until(lambda: len(_ticks(name)) >= ticks, ticks * every + 10, f"{ticks} fires of {name}")
    view = schedules.get(name)
    seen = _ticks(name)
    # From the first tick after the add (fired late if no worker was up yet, but fired).
    assert seen[0] == Schedule.get_by_id(name).anchor + every
    assert all(later - earlier == every for earlier, later in pairwise(seen)), seen
    assert view.skipped == 0
    for job_id in (j.id for j in Job.select(Job.id).where(Job.id.startswith(f"{name}:"))):
        cluster.wait_state(job_id, JobState.COMPLETED)
    logs = cluster.logs()
    fired = re.findall(rf"schedule {name}: fired (\S+)", logs)
    assert len(fired) == len(set(fired)) >= len(seen), logs
    assert "skipped" not in logs


@pytest.mark.timeout(60)
def test_three_workers_fire_every_1s_tick_once(cluster: Cluster):
    cluster.cli("cron", "add", "tick", "@every 1s", '{"command": "true"}', "--overlap", "allow")
    cluster.start_workers(3)
    _check_every_tick_once(cluster, "tick", 1.0, 5)


@pytest.mark.postgres
@pytest.mark.timeout(60)
def test_workers_on_two_hosts_fire_each_tick_once(pg_cluster: Cluster):
    pg_cluster.cli("cron", "add", "hosts", "@every 1s", '{"command": "true"}', "--overlap", "allow")
    procs = _start_host_group(pg_cluster, "host-a", 1) + _start_host_group(pg_cluster, "host-b", 1)
    assert all(proc.poll() is None for proc in procs)
    _check_every_tick_once(pg_cluster, "hosts", 1.0, 6)


@pytest.mark.timeout(60)
def test_a_schedule_row_that_cannot_be_fired_ends_no_worker(cluster: Cluster):
    """A zone unknown on the worker's host (or written past ``cron add``) ended every
    worker that tried to fire it, and each one started after, killing the jobs they ran."""
    cluster.cli("cron", "add", "bad", "@every 1s", '{"command": "true"}')
    Schedule.update(zone="Nowhere/Zone").where(Schedule.name == "bad").execute()
    (worker,) = cluster.start_workers(1)
    wait_until(lambda: "schedule bad: cannot be fired" in cluster.logs(), 20, "the error")
    job_id = cluster.enqueue("true")
    cluster.wait_state(job_id, JobState.COMPLETED)
    assert worker.poll() is None, cluster.logs()
    assert cluster.logs().count("schedule bad: cannot be fired") == 1


@pytest.mark.timeout(60)
def test_a_worker_finishing_its_job_after_a_graceful_stop_still_fires_ticks(cluster: Cluster):
    """``worker stop --timeout 150s`` during a deploy: no tick fired while the workers
    finished their jobs, and "skipped 10 ticks (missed)" came after, though they were
    alive all along. A graceful stop fires on until the process ends."""
    (worker,) = cluster.start_workers(1)
    long_job = cluster.enqueue("sleep 4")
    cluster.wait_state(long_job, JobState.PROCESSING)
    cluster.cli("cron", "add", "drain", "@every 1s", '{"command": "true"}')
    stop = cluster.cli("worker", "stop", "--all", "--timeout", "30")  # waits for the job
    assert stop.returncode == 0 and worker.poll() is not None
    cluster.wait_state(long_job, JobState.COMPLETED)
    # Fired during the drain; the ticks after it skipped by --overlap skip (that fire
    # waits for a worker), none as "missed".
    assert len(_ticks("drain")) == 1, cluster.logs()
    assert "missed" not in cluster.logs()
