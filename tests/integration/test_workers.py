"""Real workers, real jobs, real signals: what happens when things go right and wrong."""

from __future__ import annotations

import itertools
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from queuectl import hostid
from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import reads, settings
from queuectl.runtime import procs
from queuectl.runtime.fdlimit import needed
from queuectl.store.models import Job, JobState, Run, WorkerState
from queuectl.store.models import Worker as WorkerRow
from tests.integration.conftest import Cluster, wait_until

pytestmark = pytest.mark.integration


def _running(job_id: str) -> Run | None:
    """The job's unfinished run once its process group is recorded (it is really running)."""
    return (
        Run.select()
        .where(Run.job == job_id, Run.outcome.is_null(), Run.pgid.is_null(False))
        .first()
    )


def _proc_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            raw = handle.read()
    except OSError:
        return "gone"
    return raw[raw.rfind(")") + 2 :].split()[0]


def test_a_job_completes_and_its_output_is_stored(cluster: Cluster):
    cluster.start_workers(1)
    job_id = cluster.enqueue("echo out; echo err >&2; printf 'no newline'")
    job = cluster.wait_state(job_id, JobState.COMPLETED)
    assert job.exit_code == 0
    assert job.output == "out\nerr\nno newline"
    [run] = reads.runs_of(job_id)
    assert (run.outcome, run.output) == ("succeeded", "out\nerr\nno newline")
    assert cluster.cli("logs", job_id).stdout == "out\nerr\nno newline\n"


def test_failing_job_backs_off_into_the_dlq_and_dlq_retry_revives_it(cluster: Cluster):
    settings.set_value("backoff_base", 1.2)
    flag = os.path.join(cluster.workdir, "flag")
    cluster.start_workers(1)
    job_id = cluster.enqueue(f"test -f {flag}", max_retries=2)
    cluster.wait_state(job_id, JobState.DEAD, timeout=15)
    runs = reads.runs_of(job_id)
    assert [r.outcome for r in runs] == ["failed"] * 3  # 1 + max_retries runs
    gaps = [b.started_at - a.started_at for a, b in itertools.pairwise(runs)]
    # Run n+1 is due 1.2 ** n s after failed run n (plus wake-up and start latency).
    for gap, due in zip(gaps, [1.2, 1.44], strict=True):
        assert due - 0.05 <= gap < due + 1.5, gaps
    assert cluster.cli("dlq", "list", "--json").stdout.count(job_id) == 1
    open(flag, "w").close()
    cluster.cli("dlq", "retry", job_id)
    job = cluster.wait_state(job_id, JobState.COMPLETED)
    assert job.attempts == 1
    assert len(reads.runs_of(job_id)) == 4


def test_four_workers_run_every_job_exactly_once(cluster: Cluster):
    ledger = os.path.join(cluster.workdir, "ledger")
    lines = "".join(
        json.dumps({"command": f'echo "$QUEUECTL_JOB_ID" >> {ledger}'}) + "\n" for _ in range(300)
    )
    jobs_file = os.path.join(cluster.workdir, "jobs.jsonl")
    with open(jobs_file, "w") as handle:
        handle.write(lines)
    ids = cluster.cli("enqueue", "--file", jobs_file).stdout.split()
    assert len(ids) == 300
    cluster.start_workers(4)
    wait_until(
        lambda: reads.counts()["completed"] == 300, 40, f"300 completed jobs\n{cluster.logs()}"
    )
    with open(ledger) as handle:
        ran = Counter(handle.read().split())
    assert set(ran) == set(ids)
    assert max(ran.values()) == 1
    assert Run.select().count() == 300
    workers = {r.worker_id for r in Run.select(Run.worker_id)}
    assert len(workers) >= 2
    # On PostgreSQL a success and the next claim are one statement; when there is
    # no next job, the worker's row (its counters) follows in a transaction of its
    # own, so the last finish can be visible a moment before the count that says so.
    wait_until(
        lambda: sum(w.jobs_done for w in WorkerRow.select()) == 300,
        10,
        "the workers' rows to count 300 jobs done",
    )


def test_missing_command_records_127_and_the_worker_keeps_serving(cluster: Cluster):
    cluster.start_workers(1)
    bad = cluster.enqueue("definitely-not-a-command-xyz", max_retries=0)
    good = cluster.enqueue("echo still here")
    job = cluster.wait_state(bad, JobState.DEAD)
    assert job.exit_code == 127
    assert "not found" in job.last_error
    assert cluster.wait_state(good, JobState.COMPLETED).output == "still here\n"


def test_a_job_whose_cwd_vanished_fails_cleanly(cluster: Cluster, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    job_id = cluster.enqueue("true", cwd=str(gone), max_retries=0)
    gone.rmdir()
    cluster.start_workers(1)
    job = cluster.wait_state(job_id, JobState.DEAD)
    assert "does not exist" in job.last_error
    ok = cluster.enqueue("true")
    cluster.wait_state(ok, JobState.COMPLETED)


@pytest.mark.parametrize("slots", [1, 2])
def test_graceful_stop_lets_the_running_job_finish(cluster: Cluster, slots: int):
    """With slots, every running job finishes, and none waiting starts."""
    cluster.slots = slots
    [proc] = cluster.start_workers(1)
    job_ids = [cluster.enqueue(f"sleep 1.5; echo finished {n}") for n in range(slots)]
    for job_id in job_ids:
        wait_until(lambda job_id=job_id: _running(job_id), 10, "the jobs to start")
    waiting = cluster.enqueue("echo never")
    proc.send_signal(signal.SIGTERM)
    wait_until(lambda: WorkerRow.get().state == "stopping", 5, "the row to say stopping")
    assert proc.wait(timeout=10) == 0
    for n, job_id in enumerate(job_ids):
        job = cluster.job(job_id)
        assert (job.state, job.output) == (JobState.COMPLETED, f"finished {n}\n")
    assert (cluster.job(waiting).state, reads.runs_of(waiting)) == (JobState.PENDING, [])
    [worker] = WorkerRow.select()
    assert worker.state == WorkerState.STOPPED


def test_a_graceful_stop_asked_again_after_its_timeout_still_lets_the_job_finish(
    cluster: Cluster, tmp_path
):
    """``worker stop`` again after "still running after 1s … use --force" sent a second
    SIGTERM, which a worker takes for a cold stop: the job a script waited for was
    killed, and --force was never given."""
    [proc] = cluster.start_workers(1)
    go = tmp_path / "go"
    job_id = cluster.enqueue(f"while [ ! -e {go} ]; do sleep 0.05; done; echo finished")
    wait_until(lambda: _running(job_id), 10, "the job to start")
    for _ in range(2):
        result = cluster.cli("worker", "stop", str(proc.pid), "--timeout", "0.3", check=False)
        assert result.returncode == 1 and "use --force" in result.stderr, result.stderr
        # What it waits for, said first: it printed nothing until the end.
        assert result.stderr.startswith(
            "waiting for 1 worker to finish the running jobs, up to 0.3s"
            " (Ctrl+C stops the wait; the stop stays asked)\n"
        ), result.stderr
    assert _running(job_id) is not None and proc.poll() is None
    go.touch()
    assert proc.wait(timeout=10) == 0
    job = cluster.job(job_id)
    assert (job.state, job.output) == (JobState.COMPLETED, "finished\n")
    assert [run.outcome for run in reads.runs_of(job_id)] == ["succeeded"]


@pytest.mark.parametrize("slots", [1, 2])
def test_forced_stop_interrupts_without_spending_a_retry(cluster: Cluster, slots: int):
    cluster.slots = slots
    [proc] = cluster.start_workers(1)
    job_ids = [cluster.enqueue("sleep 30") for _ in range(slots)]
    runs = [wait_until(lambda j=j: _running(j), 10, "the jobs to start") for j in job_ids]
    # With --json (two slots) stderr still names the jobs killed: the rows do not.
    as_json = ["--json"] if slots == 2 else []
    result = cluster.cli("worker", "stop", str(proc.pid), "--force", "--timeout", "10", *as_json)
    if as_json:
        assert [row["state"] for row in json.loads(result.stdout)] == ["stopped"]
    else:
        assert "stopped worker" in result.stdout
    [said] = [line for line in result.stderr.splitlines() if line.startswith("killed ")]
    assert said.endswith(": back to pending, no attempt spent")  # named after the kill
    assert sorted(said.removeprefix("killed ").split(":")[0].split(", ")) == sorted(job_ids)
    assert proc.wait(timeout=5) == 0
    for job_id, run in zip(job_ids, runs, strict=True):
        job = cluster.job(job_id)
        assert (job.state, job.attempts) == (JobState.PENDING, 0)
        assert [r.outcome for r in reads.runs_of(job_id)] == ["interrupted"]
        assert not procs.group_alive(run.pgid)


def _watchdog_of(worker_pid: int) -> int | None:
    """The pid of the worker's job watchdog (a child ``sh`` named queuectl-watchdog)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as handle:
                raw = handle.read()
        except OSError:
            continue
        ppid = int(raw[raw.rfind(")") + 2 :].split()[1])
        if ppid == worker_pid and b"queuectl-watchdog" in argv:
            return int(entry)
    return None


def _grandchild_job(cluster: Cluster) -> tuple[str, str]:
    """A job whose attempt 1 leaves a grandchild that would outlive its shell; attempt 2
    reports whether that grandchild still exists when the rerun starts."""
    child = os.path.join(cluster.workdir, "child.pid")
    command = (
        f'if [ "$QUEUECTL_ATTEMPT" = 1 ]; then sleep 60 & echo $! > {child}; wait; '
        f"else echo \"orphan: $(awk '{{print $3}}' /proc/$(cat {child})/stat 2>/dev/null "
        '|| echo gone)"; fi'
    )
    return cluster.enqueue(command), child


@pytest.mark.parametrize("slots", [1, 3])
def test_kill_9_of_a_worker_kills_its_jobs_whole_group_at_once(cluster: Cluster, slots: int):
    """With slots, the worker's death kills every job it ran (each slot's group, recorded
    for the watchdog), and exactly those jobs are recovered, each with its own lost run."""
    cluster.slots = slots
    [doomed] = cluster.start_workers(1)
    job_id, child = _grandchild_job(cluster)
    others = [
        cluster.enqueue('[ "$QUEUECTL_ATTEMPT" = 1 ] && sleep 60; echo again')
        for _ in range(slots - 1)
    ]
    run = wait_until(lambda: _running(job_id), 10, "the job to start")
    other_runs = [wait_until(lambda o=o: _running(o), 10, "the others to start") for o in others]
    wait_until(lambda: os.path.exists(child) and os.path.getsize(child) > 0, 5, "the grandchild")
    with open(child) as handle:
        grandchild = int(handle.read())
    doomed.kill()
    doomed.wait(timeout=5)
    # No other worker runs, so no recovery: the watchdog alone kills the group,
    # the grandchild included (a death signal would have reached only the shell).
    wait_until(lambda: _proc_state(grandchild) in ("gone", "Z"), 5, "the grandchild to die")
    wait_until(lambda: not procs.group_alive(run.pgid), 5, "the job's group to die")
    for other in other_runs:
        wait_until(lambda o=other: not procs.group_alive(o.pgid), 5, "every slot's group to die")
    cluster.start_workers(1)
    job = cluster.wait_state(job_id, JobState.COMPLETED, timeout=15)
    assert job.output.strip() in ("orphan: gone", "orphan: Z"), job.output
    assert [r.outcome for r in reads.runs_of(job_id)] == ["lost", "succeeded"]
    for other in others:
        assert cluster.wait_state(other, JobState.COMPLETED, timeout=15).output == "again\n"
        assert [r.outcome for r in reads.runs_of(other)] == ["lost", "succeeded"]


def test_kill_9_of_worker_and_watchdog_is_recovered_and_the_orphan_is_gone_before_the_rerun(
    cluster: Cluster,
):
    [doomed] = cluster.start_workers(1)
    job_id, child = _grandchild_job(cluster)
    run = wait_until(lambda: _running(job_id), 10, "the job to start")
    wait_until(lambda: os.path.exists(child) and os.path.getsize(child) > 0, 5, "the grandchild")
    watchdog = _watchdog_of(doomed.pid)
    assert watchdog is not None
    os.kill(watchdog, signal.SIGKILL)
    doomed.kill()
    doomed.wait(timeout=5)
    assert procs.group_alive(run.pgid)  # nothing killed the job: recovery must
    cluster.start_workers(1)
    job = cluster.wait_state(job_id, JobState.COMPLETED, timeout=15)
    assert job.output.strip() in ("orphan: gone", "orphan: Z"), job.output
    runs = reads.runs_of(job_id)
    assert [r.outcome for r in runs] == ["lost", "succeeded"]
    assert not procs.group_alive(run.pgid)
    assert f"killing orphaned process group {run.pgid}" in cluster.logs()


def test_a_killed_watchdog_is_replaced_and_jobs_keep_running(cluster: Cluster):
    settings.set_value("lease_seconds", 2)  # a heartbeat, where the check runs, every 0.5 s
    [proc] = cluster.start_workers(1)
    first = cluster.enqueue("sleep 0.3")
    wait_until(lambda: _running(first), 10, "the first job to start")
    killed = _watchdog_of(proc.pid)
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    cluster.wait_state(first, JobState.COMPLETED)
    wait_until(
        lambda: _watchdog_of(proc.pid) not in (None, killed), 10, "a new watchdog to take over"
    )
    assert "job watchdog" in cluster.logs()
    second = cluster.enqueue("echo second")
    assert cluster.wait_state(second, JobState.COMPLETED).output == "second\n"


def test_a_timed_out_jobs_grandchildren_are_gone(cluster: Cluster):
    child = os.path.join(cluster.workdir, "child.pid")
    cluster.start_workers(1)
    job_id = cluster.enqueue(f"sleep 60 & echo $! > {child}; sleep 60", timeout=0.5, max_retries=0)
    job = cluster.wait_state(job_id, JobState.DEAD)
    assert reads.latest_run(job_id).outcome == "timed_out"
    assert "timed out" in job.last_error
    with open(child) as handle:
        grandchild = int(handle.read())
    wait_until(lambda: _proc_state(grandchild) in ("gone", "Z"), 5, "the grandchild to die")


def test_priority_order_and_run_at_are_respected(cluster: Cluster):
    order = os.path.join(cluster.workdir, "order")
    cluster.start_workers(1)
    now = time.time()
    # One transaction, so the idle worker sees all four at once.
    delayed, *_ = enqueuing.enqueue_many(
        [
            JobSpec(f"echo delayed >> {order}", priority=100, run_at=now + 1.5),
            *(
                JobSpec(f"echo {name} >> {order}", priority=priority)
                for name, priority in (("low", 1), ("high", 9), ("mid", 5))
            ),
        ],
        now=now,
        cwd=cluster.workdir,
    )
    job = cluster.wait_state(delayed, JobState.COMPLETED)
    with open(order) as handle:
        assert handle.read().split() == ["high", "mid", "low", "delayed"]
    assert job.started_at >= job.run_at
    assert reads.runs_of(delayed)[0].started_at >= now + 1.5


def test_jobs_and_config_survive_a_restart_of_all_workers(cluster: Cluster):
    settings.set_value("max_retries", 5)
    procs = cluster.start_workers(2)
    first = cluster.enqueue("true")
    cluster.wait_state(first, JobState.COMPLETED)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        assert proc.wait(timeout=10) == 0
    waiting = [cluster.enqueue(f"echo {n}") for n in range(5)]
    assert all(cluster.job(j).state == JobState.PENDING for j in waiting)
    assert cluster.cli("config", "get", "max_retries").stdout.strip() == "5"
    cluster.start_workers(2)
    for job_id in waiting:
        job = cluster.wait_state(job_id, JobState.COMPLETED)
        assert job.max_retries == 5


def test_logs_follow_shows_live_output(cluster: Cluster):
    cluster.start_workers(1)
    # The job holds after its first line until the test has seen it: "live" is then a
    # fact, not a race between a 3-second job and the follower's start on a busy machine.
    job_id = cluster.enqueue(
        "echo line1; while [ ! -e seen ]; do sleep 0.05; done;"
        " for i in 2 3 4 5; do echo line$i; sleep 0.2; done; echo end"
    )
    wait_until(lambda: _running(job_id), 10, "the job to start")
    follower = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "logs", job_id, "--follow"],
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cluster.procs.append(follower)  # type: ignore[arg-type]
    assert follower.stdout is not None
    first = follower.stdout.readline()
    first_seen = time.time()
    assert first == "line1\n"
    open(os.path.join(cluster.workdir, "seen"), "w").close()
    # Not communicate(): it reads the raw pipe, and the lines readline() already
    # buffered (a loaded machine prints several at once) would be lost.
    follower.wait(timeout=15)
    rest, err = follower.stdout.read(), follower.stderr.read()  # type: ignore[union-attr]
    assert follower.returncode == 0
    assert first + rest == "line1\nline2\nline3\nline4\nline5\nend\n"
    # The first line arrived while the job was still running: it was live output.
    assert first_seen < cluster.job(job_id).finished_at
    assert "succeeded" in err


def test_worker_start_and_stop_through_the_cli(cluster: Cluster):
    result = cluster.cli("worker", "start", "--count", "2", "--json")
    started = json.loads(result.stdout)
    assert len(started) == 2
    assert result.stderr == ""  # default: no "(a typo?)"; a mistyped queue gets one below
    ids = {w["id"] for w in started}
    for record in started:
        assert hostid.pid_alive(record["pid"])
        assert os.path.exists(record["log_path"])
        assert (record["slots"], record["slots_busy"]) == (1, 0)  # as worker list says
    listed = json.loads(_invoke("worker", "list", "--json").output)
    assert {w["id"] for w in listed} == ids
    job_id = cluster.enqueue("echo via detached")
    cluster.wait_state(job_id, JobState.COMPLETED)
    status = json.loads(_invoke("status", "--json").output)
    assert {w["id"] for w in status["workers"]} >= ids
    table = _invoke("worker", "list").output
    assert all(worker_id in table for worker_id in ids)
    typo = cluster.cli("worker", "start", "--queue", "default,slwo", "--json")
    assert typo.stderr == "worker start: no job has been in queue 'slwo' (a typo?)\n"
    [mistyped] = json.loads(typo.stdout)
    cluster.cli("worker", "stop", mistyped["id"], "--timeout", "10")
    one, other = sorted(ids)
    stopped = json.loads(cluster.cli("worker", "stop", one, "--timeout", "10", "--json").stdout)
    listed_all = {
        w["id"]: w for w in json.loads(_invoke("worker", "list", "--all", "--json").output)
    }
    for record in (*stopped, listed_all[one]):
        record.pop("heartbeat_age")  # a moment later
    assert stopped == [listed_all[one]]  # slots_busy 0, as listed, where it said null
    assert (stopped[0]["state"], stopped[0]["slots_busy"]) == ("stopped", 0)
    result = cluster.cli("worker", "stop", "--all", "--timeout", "10")  # as with no id
    assert result.stdout == f"stopped worker {other}\n"
    assert all(w.state == WorkerState.STOPPED for w in WorkerRow.select())
    for record in started:
        wait_until(lambda pid=record["pid"]: not hostid.pid_alive(pid), 5, "the worker to exit")


def _invoke(*args: str):
    """The CLI in this process (for checks that need no real process)."""
    from click.testing import CliRunner

    from queuectl.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("worker", "start", "--count", "0"), 2),
        (("worker", "start", "--count", "1000"), 2),
        (("worker", "start", "--queue", ""), 2),
        (("worker", "stop", "nosuch"), 1),
        (("worker", "stop", "999999999"), 1),
        (("logs", "nosuch"), 1),
    ],
)
def test_cli_rejects_bad_input_in_one_line(cluster: Cluster, args, code):
    result = _invoke(*args)
    assert result.exit_code == code, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith("Error: ")


def test_cancelling_a_running_job_kills_it(cluster: Cluster):
    cluster.start_workers(1)
    job_id = cluster.enqueue("echo begun; sleep 60")
    run = wait_until(lambda: _running(job_id), 10, "the job to start")
    cluster.cli("cancel", job_id)
    wait_until(lambda: Run.get_by_id(run.id).outcome == "cancelled", 10, "the run to be cancelled")
    assert not procs.group_alive(run.pgid)
    assert cluster.job(job_id).state == JobState.CANCELLED
    assert Job.select().where(Job.state == JobState.PROCESSING).count() == 0


def test_stopping_a_crashed_worker_cleans_up_its_row_and_job(cluster: Cluster):
    [proc] = cluster.start_workers(1)
    job_id = cluster.enqueue("sleep 60", max_retries=1)
    run = wait_until(lambda: _running(job_id), 10, "the job to start")
    proc.kill()
    proc.wait(timeout=5)
    result = cluster.cli("worker", "stop", "--timeout", "5")
    assert "was lost" in result.stdout and result.stdout.endswith("; its job was recovered\n")
    assert all(w.state == WorkerState.LOST for w in WorkerRow.select())  # it never said goodbye
    assert Run.get_by_id(run.id).outcome == "lost"
    assert cluster.job(job_id).state == JobState.FAILED  # retried later, attempt spent
    assert not procs.group_alive(run.pgid)


def test_a_job_longer_than_the_lease_is_not_recovered_while_its_worker_lives(cluster: Cluster):
    cluster.start_workers(2)
    job_id = cluster.enqueue("sleep 2.6; echo ok")  # lease_seconds is 2
    job = cluster.wait_state(job_id, JobState.COMPLETED, timeout=15)
    assert job.output == "ok\n"
    assert [r.outcome for r in reads.runs_of(job_id)] == ["succeeded"]


@pytest.mark.parametrize("slots", [1, 2])
def test_the_row_catches_up_with_a_long_job_started_right_after_short_ones(
    cluster: Cluster, slots: int
):
    """A job's end carries the worker's row at most every 0.5 s, so the ends just before
    a long job were recorded without it: ``worker list`` named a finished job, its count
    behind, until the next heartbeat. It catches up a report interval later."""
    cluster.slots = slots
    settings.set_value("lease_seconds", 60.0)  # a heartbeat every 15 s: not what catches up
    for _ in range(3):
        cluster.enqueue("true")
    long_job = cluster.enqueue("sleep 60")
    cluster.start_workers(1)
    wait_until(lambda: _running(long_job), 10, "the long job to start")
    started = time.monotonic()
    row = wait_until(
        lambda: (row := WorkerRow.get()).current_job == long_job and row.jobs_done == 3 and row,
        10,
        "the row to name the long job with 3 done",
    )
    assert row.state == WorkerState.BUSY
    assert time.monotonic() - started < 5.0  # 15 s (the heartbeat) before


def test_a_stop_request_in_the_row_alone_is_seen_within_a_second(cluster: Cluster):
    # The cross-host path: no signal, only the Worker row says stop.
    [proc] = cluster.start_workers(1)
    job_id = cluster.enqueue("sleep 60")
    wait_until(lambda: _running(job_id), 10, "the job to start")
    [row] = WorkerRow.select()
    asked = time.time()
    WorkerRow.update(stop_requested="force").where(WorkerRow.id == row.id).execute()
    assert proc.wait(timeout=10) == 0
    [run] = reads.runs_of(job_id)
    assert run.outcome == "interrupted"
    assert run.finished_at - asked < 2.0  # checked every 0.5 s; slack for a loaded machine


def test_a_hung_worker_loses_its_job_and_carries_on_when_it_wakes(cluster: Cluster):
    # SIGSTOP freezes worker A past its lease: B recovers the job (killing A's
    # attempt), reruns it; when A resumes it must not record over B's work.
    [frozen] = cluster.start_workers(1)
    job_id = cluster.enqueue('if [ "$QUEUECTL_ATTEMPT" = 1 ]; then sleep 60; else echo second; fi')
    run = wait_until(lambda: _running(job_id), 10, "the job to start")
    frozen.send_signal(signal.SIGSTOP)
    try:
        cluster.start_workers(1)
        job = cluster.wait_state(job_id, JobState.COMPLETED, timeout=15)
    finally:
        frozen.send_signal(signal.SIGCONT)
    assert job.output == "second\n"
    assert not procs.group_alive(run.pgid)
    wait_until(lambda: "no longer ours" in cluster.logs(), 10, "A to notice")
    assert [r.outcome for r in reads.runs_of(job_id)] == ["lost", "succeeded"]
    assert cluster.job(job_id).state == JobState.COMPLETED
    follow_up = cluster.enqueue("echo after")
    assert cluster.wait_state(follow_up, JobState.COMPLETED).output == "after\n"


def test_a_worker_that_dies_at_start_is_reported_with_its_log(opened, tmp_path):
    from queuectl.errors import QueueError
    from queuectl.runtime import supervisor

    log = tmp_path / "worker-x.log"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('Error: boom', file=sys.stderr); sys.exit(3)"],
        stderr=open(log, "wb"),  # noqa: SIM115 - the child owns it
    )
    with pytest.raises(QueueError, match=r"exited at start \(code 3\): Error: boom \(log: "):
        supervisor._wait_registered([("wx", str(log), proc)])


def test_logs_follow_handles_the_tail_window_moving(cluster: Cluster):
    # 200 numbered lines (~1.8 KB) through a 1 KiB kept tail, flushed every 0.5 s:
    # the follower must print every line once, in order, as the window slides.
    settings.set_value("output_limit", 1024)
    cluster.start_workers(1)
    job_id = cluster.enqueue("for i in $(seq 1 200); do echo n$i; sleep 0.01; done")
    wait_until(lambda: _running(job_id), 10, "the job to start")
    result = cluster.cli("logs", job_id, "--follow", timeout=30)
    # The first line shown may be cut by the window; every later one is whole.
    numbers = [int(line[1:]) for line in result.stdout.split()[1:]]
    assert numbers == list(range(numbers[0], 201)), result.stdout
    assert len(numbers) > 50
    assert "skipped" not in result.stderr


def _limited(soft: int, hard: int):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_slots_get_the_open_files_they_need_or_the_worker_is_refused(db_path):
    """64 slots under ``ulimit -n 128``: healthy jobs failed "Too many open files" until
    they were dead, then the worker judged itself dead and crashed, marked stopped."""

    env = {**os.environ, "QUEUECTL_DB": db_path}
    refused = subprocess.run(
        [sys.executable, "-m", "queuectl", "worker", "run", "--slots", "64"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limited(128, 128),
    )
    assert refused.returncode == 1
    assert refused.stderr == (
        f"Error: 64 slots need about {needed(64)} open files, and this process may open at"
        " most 128 (ulimit -Hn): run fewer slots, or raise the limit\n"
    )
    started = subprocess.run(
        [sys.executable, "-m", "queuectl", "worker", "start", "--slots", "64", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limited(128, 4096),
    )
    assert started.returncode == 0, started.stderr
    [worker] = json.loads(started.stdout)
    try:
        with open(f"/proc/{worker['pid']}/limits") as limits:
            line = next(row for row in limits if row.startswith("Max open files"))
        assert line.split()[3:5] == [str(needed(64)), "4096"]  # soft raised, hard kept
    finally:
        subprocess.run(
            [sys.executable, "-m", "queuectl", "worker", "stop"], env=env, timeout=60, check=True
        )
