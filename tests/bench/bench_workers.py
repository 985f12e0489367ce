"""Worker benchmarks, run by hand (never collected): wake-up latency and throughput.

    python tests/bench/bench_workers.py latency     # enqueue -> start on an idle worker
    python tests/bench/bench_workers.py throughput  # 4 workers, 1,000 `true` jobs

Each run uses a fresh database in a temporary folder with default settings.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from queuectl import db, queue
from queuectl.jobspec import JobSpec
from queuectl.models import Job, JobState, Run


def _cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "queuectl", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _wait(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.002)


def latency(samples: int = 50) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "q.db")
        env = {**os.environ, "QUEUECTL_DB": path}
        db.open_database(path)
        _cli(env, "worker", "start", "--count", "1")
        try:
            time.sleep(1.0)  # let it settle into its idle wait
            delays = []
            for _ in range(samples):
                job_id = queue.enqueue(JobSpec(command="true")).id  # returns once committed
                _wait(lambda job_id=job_id: Job.get_by_id(job_id).state == JobState.COMPLETED)
                job = Job.get_by_id(job_id)
                delays.append(job.started_at - job.created_at)
                time.sleep(0.2)  # idle again before the next one
        finally:
            _cli(env, "worker", "stop")
        delays.sort()
        p50 = statistics.median(delays) * 1000
        p95 = delays[int(0.95 * (len(delays) - 1))] * 1000
        print(
            f"enqueue -> start, {samples} jobs: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
            f"max {delays[-1] * 1000:.1f} ms"
        )


def throughput(jobs: int = 1000, workers: int = 4) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "q.db")
        env = {**os.environ, "QUEUECTL_DB": path}
        spec_file = os.path.join(tmp, "jobs.jsonl")
        with open(spec_file, "w") as handle:
            handle.writelines(json.dumps({"command": "true"}) + "\n" for _ in range(jobs))
        t0 = time.monotonic()
        _cli(env, "enqueue", "--file", spec_file)
        t1 = time.monotonic()
        db.open_database(path)
        _cli(env, "worker", "start", "--count", str(workers))
        try:
            _wait(lambda: queue.counts()["completed"] == jobs)
            t2 = time.monotonic()
        finally:
            _cli(env, "worker", "stop")
        first = Run.select(Run.started_at).order_by(Run.started_at).first().started_at
        last = Run.select(Run.finished_at).order_by(Run.finished_at.desc()).first().finished_at
        span = last - first
        print(
            f"{jobs} jobs, {workers} workers: enqueue --file {t1 - t0:.2f} s; end to end"
            f" (worker start included) {t2 - t0:.2f} s = {jobs / (t2 - t0):.0f} jobs/s;"
            f" first start -> last finish {span:.2f} s = {jobs / span:.0f} jobs/s"
        )


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "latency"
    {"latency": latency, "throughput": throughput}[which]()
