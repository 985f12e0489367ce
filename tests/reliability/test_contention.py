"""Eight workers, a CLI enqueue loop and the dashboard's reader on one SQLite file.

Nothing a user or a worker log sees may mention a locked database or show a
traceback, no worker may die, and throughput under contention stays within a
stated factor of the same drain without it (both measured here, and printed).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time

import pytest

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.store.models import Job, JobState
from tests.integration.conftest import Cluster
from tests.polling import wait_until
from tui.data import Request, read_snapshot

pytestmark = pytest.mark.integration

WORKERS = 8
BATCH = 250
MAX_SLOWDOWN = 5.0
"""Generous: the machine is shared and the reader and CLI loop take CPU from the workers."""
TROUBLE = re.compile(r"database is locked|Traceback|database error|could not record", re.I)


def _drain(cluster: Cluster, tag: str) -> float:
    """Enqueue a batch and return the seconds until every job of it completed."""
    specs = [JobSpec(command="true", id=f"{tag}-{n}") for n in range(BATCH)]
    started = time.monotonic()
    enqueuing.enqueue_many(specs, cwd=cluster.workdir)
    wait_until(
        lambda: (
            Job.select()
            .where(Job.id.startswith(f"{tag}-"), Job.state == JobState.COMPLETED.value)
            .count()
            == BATCH
        ),
        120,
        f"the {tag} batch to complete (logs:\n{cluster.logs()[-3000:]})",
    )
    return time.monotonic() - started


class Reader(threading.Thread):
    """The dashboard's own refresh (``tui.data.read_snapshot``: the newest 500 jobs, the
    DLQ, the counts, the workers, the throughput), headless, back to back."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.halt = threading.Event()
        self.refreshes = 0
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                snapshot = read_snapshot(Request(), time.time())
                assert sum(snapshot.counts.values()) >= len(snapshot.jobs.rows)
                self.refreshes += 1
        except BaseException as exc:  # reported by the test, in the main thread
            self.errors.append(exc)


class Enqueuer(threading.Thread):
    """A shell script's loop: ``queuectl enqueue`` (and now and then ``list``), as processes."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.halt = threading.Event()
        self.calls: list[subprocess.CompletedProcess[str]] = []

    def run(self) -> None:
        n = 0
        while not self.halt.is_set():
            n += 1
            args = ["enqueue", f'{{"command": "true", "id": "cli-{n}"}}']
            if n % 4 == 0:
                args = ["list", "--limit", "500"]
            self.calls.append(
                subprocess.run(
                    [sys.executable, "-m", "queuectl", *args],
                    env=self.cluster.env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    cwd=self.cluster.workdir,
                )
            )


def test_contention_surfaces_no_lock_errors_and_keeps_throughput(sqlite_cluster: Cluster):
    cluster = sqlite_cluster
    procs = cluster.start_workers(WORKERS)
    quiet = _drain(cluster, "quiet")

    reader, enqueuer = Reader(), Enqueuer(cluster)
    reader.start()
    enqueuer.start()
    try:
        wait_until(lambda: len(enqueuer.calls) >= 2 and reader.refreshes >= 2, 60, "the load")
        busy = _drain(cluster, "busy")
        wait_until(lambda: len(enqueuer.calls) >= 4, 60, "more CLI calls under load")
    finally:
        reader.halt.set()
        enqueuer.halt.set()
        reader.join(30)
        enqueuer.join(90)

    cli_ids = [f"cli-{n}" for n in range(1, len(enqueuer.calls) + 1) if n % 4]
    wait_until(
        lambda: (
            Job.select().where(Job.id.in_(cli_ids), Job.state == JobState.COMPLETED.value).count()
            == len(cli_ids)
        ),
        60,
        "the jobs enqueued through the CLI to complete",
    )
    factor = busy / quiet
    print(
        f"contention: {BATCH} jobs, {WORKERS} workers: {BATCH / quiet:.0f} jobs/s alone, "
        f"{BATCH / busy:.0f} jobs/s with {reader.refreshes} dashboard refreshes and "
        f"{len(enqueuer.calls)} CLI calls: {factor:.2f}x slower"
    )
    assert not reader.errors, reader.errors
    for call in enqueuer.calls:
        assert call.returncode == 0, (call.args, call.stderr)
        assert not TROUBLE.search(call.stderr), call.stderr
    assert all(proc.poll() is None for proc in procs), cluster.logs()[-3000:]
    logs = cluster.logs()
    assert not TROUBLE.search(logs), TROUBLE.search(logs)
    assert factor < MAX_SLOWDOWN, f"{factor:.2f}x slower under contention"
