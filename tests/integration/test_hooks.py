"""Hooks with real workers: after the commit, with the job's facts, never changing the job."""

from __future__ import annotations

import json
import os

import pytest

from queuectl.lifecycle import settings
from queuectl.store.models import JobState
from tests.polling import wait_until

pytestmark = pytest.mark.integration

RECORD = (
    'printf "%s\\n" "$QUEUECTL_HOOK $QUEUECTL_JOB_ID $QUEUECTL_JOB_STATE exit=$QUEUECTL_EXIT_CODE'
    " try=$QUEUECTL_ATTEMPT q=$QUEUECTL_QUEUE db=${QUEUECTL_DB:-none} pg=${PGPASSWORD:-none}"
    ' out=$(tail -n1 "$QUEUECTL_OUTPUT_FILE") cmd=$QUEUECTL_COMMAND" >> {log};'
    ' echo "file=$QUEUECTL_OUTPUT_FILE" >> {log}'
)


def _lines(path: str) -> list[str]:
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return handle.read().splitlines()


def test_hooks_run_once_on_success_and_dead_with_the_jobs_facts(cluster, tmp_path):
    log = str(tmp_path / "hooks.log")
    settings.set_value("on_success", RECORD.replace("{log}", log))
    settings.set_value("on_failure", RECORD.replace("{log}", log))
    cluster.env["PGPASSWORD"] = "s3cret"
    cluster.start_workers(1)
    ok = cluster.enqueue("echo fine")
    bad = cluster.enqueue("echo broken; exit 3", max_retries=1, queue="default")
    own = cluster.enqueue("true", on_success=f"echo own-{{}} >> {log}".replace("{}", "hook"))
    silent = cluster.enqueue("true", on_success="")
    for job_id in (ok, own, silent):
        cluster.wait_state(job_id, JobState.COMPLETED)
    cluster.wait_state(bad, JobState.DEAD, timeout=15)
    lines = wait_until(lambda: len(_lines(log)) >= 5 and _lines(log), 10, "the hooks to run")
    events = [line for line in lines if not line.startswith("file=")]
    assert (
        f"on_success {ok} completed exit=0 try=1 q=default db=none pg=none out=fine cmd=echo fine"
        in events
    )
    assert any(
        line.startswith(f"on_failure {bad} dead exit=3 try=2 q=default db=none pg=none out=broken")
        for line in events
    )
    assert "own-hook" in events
    assert not any(silent in line for line in events)  # "" = no hook for this job
    assert len(events) == 3  # once per outcome; not on the retried attempt
    # The output file is removed once its hook has exited (a moment after its last write).
    files = [line[5:] for line in lines if line.startswith("file=")]
    assert files
    wait_until(
        lambda: not any(os.path.exists(f) for f in files), 10, "the output files to be removed"
    )
    # The worker logs the hook's end after reaping it, a moment after the hook's last write.
    said = f"hook on_success for job {ok} (completed) exited 0"
    wait_until(lambda: said in cluster.logs(), 10, "the worker to log the hook's exit")


@pytest.mark.parametrize("slots", [1, 2])
def test_on_failure_runs_for_every_dependent_a_death_takes_down(cluster, tmp_path, slots):
    """A job that dies takes its blocked dependents into the DLQ with it; only the job
    itself ran its ``on_failure``, so a hook meant to hear of everything landing in the
    DLQ missed every cascade. Each dependent's hook now runs, told it never ran."""
    log = str(tmp_path / "hooks.log")
    settings.set_value("on_failure", RECORD.replace("{log}", log))
    cluster.slots = slots
    root = cluster.enqueue("echo broken; exit 3", max_retries=0)
    child = cluster.enqueue("echo child", after=[root])
    grandchild = cluster.enqueue("echo grandchild", after=[child], on_failure=f"echo own >> {log}")
    cluster.start_workers(1)
    for job_id in (root, child, grandchild):
        cluster.wait_state(job_id, JobState.DEAD)
    lines = wait_until(
        lambda: len([x for x in _lines(log) if not x.startswith("file=")]) >= 3 and _lines(log),
        10,
        "the three hooks to run",
    )
    events = sorted(line for line in lines if not line.startswith("file="))
    assert events == sorted(
        [
            f"on_failure {root} dead exit=3 try=1 q=default db=none pg=none out=broken"
            " cmd=echo broken; exit 3",
            f"on_failure {child} dead exit= try=0 q=default db=none pg=none out= cmd=echo child",
            "own",  # the grandchild's own on_failure wins over the setting, as for any job
        ]
    )


def test_a_failing_or_hanging_hook_changes_nothing_and_delays_no_job(cluster, tmp_path):
    settings.set_value("hook_timeout", 1)
    marker = tmp_path / "grandchild-alive"
    settings.set_value(
        "on_success",
        f"echo \"loud $(seq 1 3000 | tr -d '\\n')\"; (sleep 30; touch {marker}) & sleep 60",
    )
    settings.set_value("on_failure", "echo nope; exit 9")
    cluster.start_workers(1)
    first = cluster.enqueue("true")
    cluster.wait_state(first, JobState.COMPLETED)
    # The next job runs while the first one's hook hangs.
    second = cluster.enqueue("true", max_retries=0, on_success="")
    cluster.wait_state(second, JobState.COMPLETED, timeout=3)
    dead = cluster.enqueue("exit 1", max_retries=0)
    cluster.wait_state(dead, JobState.DEAD)
    wait_until(lambda: "timed out after" in cluster.logs(), 10, "the hook's timeout")
    wait_until(lambda: "failed (exit 9)" in cluster.logs(), 10, "the failing hook")
    logs = cluster.logs()
    assert cluster.job(first).state == JobState.COMPLETED
    assert cluster.job(dead).state == JobState.DEAD
    timed_out = logs[logs.index("timed out after") :].split("\n2026")[0]
    assert len(timed_out.encode()) < 4096 + 300  # output capped at 4 KiB
    status = json.loads(cluster.cli("status", "--json").stdout)
    assert status["jobs"]["completed"] == 2 and status["jobs"]["dead"] == 1
    assert not marker.exists()  # the group was killed, background child included


def test_worker_stop_waits_for_the_hooks_a_stopping_worker_still_runs(cluster, tmp_path):
    """``worker stop`` said "stopped" (exit 0) while the worker's process ran on for the
    hooks of jobs it had recorded: a script's ``stop && upgrade`` cut a webhook off. On
    this host the stop waits for the process itself."""
    log = str(tmp_path / "hooks.log")
    [worker] = cluster.start_workers(1)
    job = cluster.enqueue("true", on_success=f"sleep 1; echo done >> {log}")
    cluster.wait_state(job, JobState.COMPLETED)
    stopped = cluster.cli("worker", "stop", "--all")
    assert stopped.returncode == 0, stopped.stderr
    assert worker.poll() is not None  # exited before the stop said so
    assert _lines(log) == ["done"]


def test_a_stop_that_times_out_on_hooks_says_so_and_offers_no_force(cluster, tmp_path):
    """Past its --timeout, a worker whose jobs are all recorded but whose hooks still run
    was "still running …; use --force to kill their jobs", and --force found no worker
    running (a reviewer's catch): it says what it runs, and offers no --force."""
    [worker] = cluster.start_workers(1)
    job = cluster.enqueue("true", on_success="sleep 3")
    cluster.wait_state(job, JobState.COMPLETED)
    stopped = cluster.cli("worker", "stop", "--all", "--timeout", "1", check=False)
    assert stopped.returncode == 1
    [line] = stopped.stderr.splitlines()
    assert line.startswith("Error: still running after 1s: w") and "--force" not in line
    assert line.endswith(" (running its jobs' hooks)")
    wait_until(lambda: worker.poll() is not None, 15, "the worker to end after its hook")
