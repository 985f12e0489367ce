"""Chaos: workers SIGKILLed at random while 2,000 jobs drain; nothing is lost or run twice at once.

Every job appends a ``start`` and an ``end`` line (its id and attempt) to one
file. A killer thread SIGKILLs a random worker every few hundred milliseconds
and starts a replacement. At the end the runs table, the jobs table and the
file must tell the same story.
"""

from __future__ import annotations

import collections
import itertools
import os
import random
import signal
import threading
import time

import pytest

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import settings
from queuectl.store.models import Job, JobState, Run, RunOutcome
from queuectl.store.models import Worker as WorkerRow
from tests.integration.conftest import Cluster
from tests.polling import wait_until

pytestmark = pytest.mark.integration

JOBS = 2000
WORKERS = 4
SPREAD = 8.0
# One line before the work, one after: a rerun that overlapped a live attempt
# would show up as a start between another attempt's start and end.
COMMAND = (
    'echo "$QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT start" >> {log} && '
    'echo "$QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT end" >> {log}'
)


class Killer(threading.Thread):
    """SIGKILL a random worker every 200-500 ms and start a replacement.

    The next kill waits until the replacement has registered, so the test
    measures recovery rather than how fast Python processes start on a busy box.
    """

    def __init__(self, cluster: Cluster, workers: list, seed: int) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.workers = workers
        self.random = random.Random(seed)
        self.halt = threading.Event()
        self.kills = 0

    def run(self) -> None:
        while not self.halt.wait(self.random.uniform(0.2, 0.5)):
            victim = self.workers.pop(self.random.randrange(len(self.workers)))
            victim.send_signal(signal.SIGKILL)
            victim.wait()  # reaped, so its pid reads as gone to the survivors
            self.kills += 1
            self.workers.append(self.cluster.start_worker())
            pid = self.workers[-1].pid
            deadline = time.monotonic() + 20
            while not self.halt.is_set() and time.monotonic() < deadline:
                if WorkerRow.select().where(WorkerRow.pid == pid).exists():
                    break
                time.sleep(0.02)


def read_events(path: str) -> dict[str, list[tuple[int, str]]]:
    events: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    with open(path) as handle:
        for line in handle:
            job_id, attempt, what = line.split()
            events[job_id].append((int(attempt), what))
    return events


@pytest.mark.parametrize("slots", [1, 3])
def test_random_sigkills_lose_no_job_and_never_overlap_runs(
    sqlite_cluster: Cluster, tmp_path, slots: int
):
    """With slots, each kill loses several running jobs at once: each is recovered alone."""
    cluster = sqlite_cluster
    cluster.slots = slots
    settings.set_value("max_retries", 8)
    settings.set_value("lease_seconds", 2)
    settings.set_value("backoff_base", 1)
    log = str(tmp_path / "runs.log")
    command = COMMAND.format(log=log)

    # Due times spread over SPREAD seconds, so the killer strikes throughout the
    # drain rather than after it. Half the jobs are held back until the fifth
    # kill: however slowly replacements start on a loaded machine, the drain
    # cannot end before the killer has struck five times.
    def batch(numbers: range) -> list[JobSpec]:
        return [
            JobSpec(command=command, id=f"j{n:04d}", delay=SPREAD * (n % 100) / 100)
            for n in numbers
        ]

    ids = enqueuing.enqueue_many(batch(range(JOBS // 2)), cwd=cluster.workdir)
    workers = cluster.start_workers(WORKERS)
    killer = Killer(cluster, workers, seed=int(os.environ.get("CHAOS_SEED", "1234")))
    started = time.monotonic()
    killer.start()
    wait_until(lambda: killer.kills >= 5, 120, "the killer to strike five times")
    ids += enqueuing.enqueue_many(batch(range(JOBS // 2, JOBS)), cwd=cluster.workdir)
    finished = {JobState.COMPLETED.value, JobState.DEAD.value}
    try:
        wait_until(
            lambda: Job.select().where(Job.state.not_in(finished)).count() == 0,
            150,
            "every job to complete or reach the DLQ",
        )
    finally:
        killer.halt.set()
        killer.join()
    elapsed = time.monotonic() - started
    print(f"chaos: {JOBS} jobs, {killer.kills} SIGKILLs, {elapsed:.1f}s")
    assert killer.kills >= 5, "the killer should have struck many times"

    jobs = {job.id: job for job in Job.select()}
    runs: dict[str, list[Run]] = collections.defaultdict(list)
    for run in Run.select().order_by(Run.id):
        runs[run.job_id].append(run)
    events = read_events(log)
    assert set(jobs) == set(ids)
    lost_runs = 0
    for job_id in ids:
        job, job_runs = jobs[job_id], runs[job_id]
        # Every attempt has exactly one finished Run row, numbered 1..attempts.
        assert [r.attempt for r in job_runs] == list(range(1, job.attempts + 1)), job_id
        assert all(r.outcome is not None and r.finished_at is not None for r in job_runs), job_id
        outcomes = [r.outcome for r in job_runs]
        # Only kills happened: every attempt but the last was lost.
        assert set(outcomes[:-1]) <= {RunOutcome.LOST.value}, (job_id, outcomes)
        lost_runs += outcomes.count(RunOutcome.LOST.value)
        if job.state == JobState.COMPLETED:
            assert outcomes[-1] == RunOutcome.SUCCEEDED.value, (job_id, outcomes)
        else:
            assert job.state == JobState.DEAD and outcomes[-1] == RunOutcome.LOST.value
            assert job.attempts == job.max_retries + 1
        # Run intervals of one job never overlap.
        for before, after in itertools.pairwise(job_runs):
            assert before.finished_at <= after.started_at, (job_id, before.id, after.id)
        # The file agrees: a start of attempt n is never followed by anything but
        # its own end (or nothing, if killed) before the next attempt starts.
        seen = events.get(job_id, [])
        for index, (attempt, what) in enumerate(seen):
            if what == "end":
                assert index > 0 and seen[index - 1] == (attempt, "start"), (job_id, seen)
        starts = [attempt for attempt, what in seen if what == "start"]
        assert starts == sorted(set(starts)), (job_id, seen)  # no attempt ran twice
        assert set(starts) <= {r.attempt for r in job_runs}, (job_id, seen)
        succeeded = [r.attempt for r in job_runs if r.outcome == RunOutcome.SUCCEEDED.value]
        ended = {attempt for attempt, what in seen if what == "end"}
        assert set(succeeded) <= ended, (job_id, seen, outcomes)
    print(f"chaos: {lost_runs} lost attempts recovered")
    assert not Job.select().where(Job.state == JobState.PROCESSING.value).exists()
