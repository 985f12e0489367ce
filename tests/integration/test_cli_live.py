"""The scripting contract against real worker processes, on each backend."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time

from queuectl.store.models import Job, JobState, Run
from tests.integration.conftest import Cluster
from tests.polling import wait_until


def test_one_worker_runs_a_bulk_file_in_file_order(cluster: Cluster):
    trace = os.path.join(cluster.workdir, "order.txt")
    lines = "".join(json.dumps({"command": f"echo {n} >> {trace}"}) + "\n" for n in range(1, 13))
    jobs = os.path.join(cluster.workdir, "jobs.jsonl")
    with open(jobs, "w") as handle:
        handle.write(lines)
    ids = cluster.cli("enqueue", "--file", jobs).stdout.split()
    cluster.start_workers(1)
    for job_id in ids:
        cluster.wait_state(job_id, JobState.COMPLETED, timeout=30)
    with open(trace) as handle:
        assert handle.read().split() == [str(n) for n in range(1, 13)]
    started = [
        run.job_id for run in Run.select().order_by(Run.started_at, Run.id)
    ]  # the runs say the same: one after the other, in file order
    assert started == ids


def test_a_job_gets_its_env_over_the_workers_and_queuectl_names_last(cluster: Cluster):
    cluster.env["STAGE"] = "from-the-worker"
    cluster.env["KEEP"] = "kept"
    job = json.loads(
        cluster.cli(
            "add",
            "--json",
            "--env",
            "STAGE=prod",
            "--env",
            "EMPTY=",
            "--",
            'echo "$STAGE/$KEEP/[$EMPTY]/$QUEUECTL_JOB_ID/$QUEUECTL_ATTEMPT"',
        ).stdout
    )
    cluster.start_workers(1)
    done = cluster.wait_state(job["id"], JobState.COMPLETED, timeout=30)
    assert done.output == f"prod/kept/[]/{job['id']}/1\n"


def test_worker_run_acknowledges_the_first_ctrl_c_and_finishes_the_job(cluster: Cluster):
    job_id = cluster.enqueue("sleep 1.5; echo finished")
    proc = cluster.start_worker()
    wait_until(lambda: cluster.job(job_id).state == JobState.PROCESSING, 20, "the job to start")
    proc.send_signal(signal.SIGINT)
    wait_until(
        lambda: f"stopping after job {job_id} finishes (signal again to kill it)" in cluster.logs(),
        5,
        "the worker to acknowledge Ctrl-C",
    )
    assert proc.wait(timeout=20) == 0
    job = cluster.job(job_id)
    assert (job.state, job.output) == (JobState.COMPLETED, "finished\n")


def _line(stream, timeout: float) -> str:
    """The next line of a child's pipe, failing the test at the deadline (never hanging)."""
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, f"no line within {timeout}s"
    return stream.readline()


def _follow(cluster: Cluster, job_id: str) -> subprocess.Popen[str]:
    """``queuectl logs --follow JOB`` in a child, its stdout and stderr on pipes (``_line``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "queuectl", "logs", "--follow", job_id],
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_logs_follow_says_what_it_waits_for_and_exits_with_the_jobs_fate(cluster: Cluster):
    ok = cluster.enqueue("echo fine", delay=3600)
    follow = _follow(cluster, ok)
    try:
        first = _line(follow.stderr, 20)
        # An hour less the moments since: 59m5Xs, or 1h00m once it rounds.
        assert re.match(rf"waiting: job {ok} is pending, due in (59m5\ds|1h00m)", first), first
        # No worker yet: it says so, and how to start one (it said only "waiting").
        start = "start one with queuectl worker start --queue default"
        assert first.rstrip().endswith(f"; no worker serves queue 'default': {start}"), first
        Job.update(run_at=time.time()).where(Job.id == ok).execute()  # the hour has passed
        cluster.start_workers(1)
        out, err = follow.communicate(timeout=30)
    finally:
        follow.kill()
    assert follow.returncode == 0
    assert out == "fine\n" and "--- run 1 (attempt 1) succeeded ---" in err
    bad = cluster.enqueue("echo broken; exit 3", max_retries=0)
    result = cluster.cli("logs", "--follow", bad, check=False)
    assert result.returncode == 1
    assert result.stdout == "broken\n"
    assert f"job {bad} is dead" in result.stderr


def test_logs_follow_says_a_job_waits_for_a_release_or_a_resume(cluster: Cluster):
    """Held, or in a paused queue, the job waits for a person: it said "due now, waiting
    for a worker to claim it", and never said more."""
    cluster.start_workers(1)
    cluster.cli("queue", "pause", "default")
    job_id = cluster.enqueue("echo fine")
    cluster.cli("hold", job_id)
    follow = _follow(cluster, job_id)
    try:
        held = _line(follow.stderr, 20)
        assert held == (
            f"waiting: job {job_id} is pending, held: it waits until released"
            f" (queuectl release {job_id})\n"
        )
        cluster.cli("release", job_id)
        paused = _line(follow.stderr, 20)
        assert paused == (
            f"waiting: job {job_id} is pending, but queue 'default' is paused"
            " (queuectl queue resume default)\n"
        )
        cluster.cli("queue", "resume", "default")
        out, err = follow.communicate(timeout=30)
    finally:
        follow.kill()
    assert follow.returncode == 0 and out == "fine\n", err
