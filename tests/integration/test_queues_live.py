"""Steering queues under real worker processes, on both backends (the CLI that steers
them is tested in ``tests/cli/test_queues.py``; here the test process steers directly).

Each job writes when it really started and ended (``date +%s%N``) to a file:
those run intervals are the truth a limit is checked against, free of the
time the workers' own clocks were read.
"""

from __future__ import annotations

import os

from queuectl.lifecycle import queues
from queuectl.store.models import Job, JobState
from tests.integration.conftest import Cluster
from tests.polling import wait_until


def _job(cluster: Cluster, log: str, queue: str, seconds: float = 0.3) -> str:
    command = f's=$(date +%s%N); sleep {seconds}; echo "$s $(date +%s%N)" >> {log}'
    return cluster.enqueue(command, queue=queue)


def _intervals(path: str) -> list[tuple[int, int]]:
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [tuple(map(int, line.split())) for line in handle if line.strip()]  # type: ignore[misc]


def _most_at_once(spans: list[tuple[int, int]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def test_a_limit_of_2_with_6_workers_runs_2_at_once_never_more(cluster: Cluster):
    log = os.path.join(cluster.workdir, "spans")
    queues.set_limit("render", 2)
    ids = [_job(cluster, log, "render", 0.25) for _ in range(10)]
    cluster.start_workers(6, "render")
    wait_until(
        lambda: all(cluster.job(i).state == JobState.COMPLETED for i in ids),
        30,
        f"the queue to drain (logs:\n{cluster.logs()})",
    )
    spans = _intervals(log)
    assert len(spans) == 10
    assert _most_at_once(spans) == 2, spans


def test_pause_holds_a_queue_on_running_workers_while_others_drain_then_resume(cluster: Cluster):
    log = os.path.join(cluster.workdir, "spans")
    cluster.start_workers(2, "mail", "thumbs")
    queues.pause(["thumbs"])
    held = [_job(cluster, log, "thumbs", 0.05) for _ in range(3)]
    mail = [_job(cluster, log, "mail", 0.05) for _ in range(3)]
    for job_id in mail:
        cluster.wait_state(job_id, JobState.COMPLETED)
    # The other queue drained past a heartbeat (0.5 s here): nothing of the paused one ran.
    wait_until(lambda: len(_intervals(log)) == 3, 10, "the mail jobs' spans")
    assert Job.select().where(Job.id << held, Job.state == JobState.PENDING).count() == 3
    queues.resume(["thumbs"])
    for job_id in held:
        cluster.wait_state(job_id, JobState.COMPLETED)
    # A limit set on running workers holds from their next claim: one at a time now.
    queues.set_limit("thumbs", 1)
    more = [_job(cluster, log, "thumbs", 0.2) for _ in range(3)]
    for job_id in more:
        cluster.wait_state(job_id, JobState.COMPLETED)
    assert _most_at_once(_intervals(log)[-3:]) == 1
