"""A worker the system cannot give a process to gives its jobs back, and runs them later.

A fork that meets ``RLIMIT_NPROC``, the pid or thread limit (``EAGAIN``), a full file
table (``ENFILE``) or no memory (``ENOMEM``) says nothing of the job: a burst of them
used to spend every attempt and send healthy jobs to the DLQ.

The shortage is real at the syscall: the worker's job spawn gets ``EAGAIN`` from the
kernel's answer to its ``clone``, as ``RLIMIT_NPROC`` gives it. Not as root, a soft
``RLIMIT_NPROC`` of 0 set on the running worker (``prlimit``) does it. Root is exempt
from that limit, so there ``strace`` attaches to the worker's main thread (where the
jobs are spawned) and answers each ``clone`` with ``EAGAIN`` until it detaches: the
seam is the syscall boundary, and queuectl's code runs unchanged.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import resource
import shutil
import signal
import subprocess
from collections.abc import Iterator

import pytest

from queuectl.states import JobState, RunOutcome
from queuectl.store.models import Run
from tests.integration.conftest import Cluster
from tests.polling import wait_until

pytestmark = pytest.mark.integration


def _traced(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("TracerPid:"):
                return line.split()[1] != "0"
    return False


@contextlib.contextmanager
def no_processes_for(pid: int, *, nth: int | None = None) -> Iterator[None]:
    """While inside, every process (or thread) ``pid`` starts fails with ``EAGAIN``;
    with ``nth``, only its ``nth`` start from here on (strace only)."""
    if os.geteuid() != 0 and nth is None:
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NPROC)
        resource.prlimit(pid, resource.RLIMIT_NPROC, (0, hard))
        try:
            yield
        finally:
            resource.prlimit(pid, resource.RLIMIT_NPROC, (soft, hard))
        return
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (and as root RLIMIT_NPROC is not enforced)")
    tracer = subprocess.Popen(
        [
            "strace",
            "-o",
            "/dev/null",
            "-p",
            str(pid),
            "-e",
            "trace=clone,clone3",
            "-e",
            "inject=clone,clone3:error=EAGAIN" + (f":when={nth}" if nth else ""),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: _traced(pid) or tracer.poll() is not None, 10, "strace to attach")
        if tracer.poll() is not None:
            pytest.skip(f"strace cannot attach here: {tracer.stderr.read().decode()[:200]}")
        yield
    finally:
        tracer.send_signal(signal.SIGTERM)  # detaches: the worker's clones succeed again
        tracer.wait(timeout=10)
        wait_until(lambda: not _traced(pid), 10, "strace to detach")


def _runs(job_id: str) -> list[Run]:
    return list(Run.select().where(Run.job == job_id).order_by(Run.id))


def _tries() -> list[float]:
    """When each start the worker gave back was claimed, in order."""
    given_back = Run.select().where(Run.outcome == RunOutcome.INTERRUPTED.value)
    return sorted(run.started_at for run in given_back)


def _given_back(job_id: str) -> int:
    return sum(r.outcome == RunOutcome.INTERRUPTED.value for r in _runs(job_id))


@pytest.mark.timeout(90)
@pytest.mark.parametrize("slots", [1, 2])
def test_jobs_the_system_cannot_start_are_given_back_and_run_once_it_can(
    cluster: Cluster, slots: int
):
    """With no retry left, one spent attempt would be the DLQ: none is spent, the worker
    pauses instead of claiming and giving back in a loop, and every job runs after."""
    cluster.slots = slots
    [worker] = cluster.start_workers(1)
    warm = cluster.enqueue("true")  # the worker's watchdog starts with its first job
    cluster.wait_state(warm, JobState.COMPLETED)
    count = 1 + slots
    with no_processes_for(worker.pid):
        # Through the shell, and a plain command the worker execs itself (``direct``).
        commands = ["echo attempt $QUEUECTL_ATTEMPT", "env", "echo attempt $QUEUECTL_ATTEMPT"]
        jobs = [cluster.enqueue(command, max_retries=0) for command in commands[:count]]
        for job_id in jobs:
            wait_until(
                lambda job_id=job_id: _given_back(job_id),
                15,
                f"job {job_id} to be given back (logs:\n{cluster.logs()})",
            )
        # The shortage goes on: the worker tries again only after its pause (0.5 s,
        # then 1 s, doubling), one job at a time: a spin would try hundreds of times.
        wait_until(lambda: len(_tries()) >= count + 1, 20, f"a job tried again ({cluster.logs()})")
        tries = _tries()
        gaps = [later - earlier for earlier, later in itertools.pairwise(tries)]
        assert all(gap >= 0.4 for gap in gaps), gaps
        for job_id in jobs:
            job = cluster.job(job_id)
            assert job.state == JobState.PENDING.value, (job_id, job.state, cluster.logs())
            assert job.attempts == 0
    for job_id in jobs:
        cluster.wait_state(job_id, JobState.COMPLETED, timeout=30)
        runs = _runs(job_id)
        assert [r.outcome for r in runs[:-1]] == [RunOutcome.INTERRUPTED.value] * (len(runs) - 1)
        assert runs[-1].outcome == RunOutcome.SUCCEEDED.value
        assert {"attempt 1", "QUEUECTL_ATTEMPT=1"} & set(runs[-1].output.splitlines())
    assert worker.poll() is None, cluster.logs()
    logs = cluster.logs()
    assert "given back, its attempt unspent" in logs
    assert "Resource temporarily unavailable" in logs
    assert "the system is short of processes or threads" in logs
    assert "Traceback" not in logs


@pytest.mark.timeout(60)
def test_a_thread_the_system_cannot_start_costs_neither_the_job_nor_the_worker(
    cluster: Cluster,
):
    """The first job with a timeout starts the worker's timekeeper thread, right after
    the job's own process: that thread failing to start (``EAGAIN`` from its ``clone``,
    the thread limit) killed the worker, and its job was rerun as ``lost``. Now the job
    runs on (the loop enforces its timeout), and the next job with a timeout tries the
    thread again."""
    [worker] = cluster.start_workers(1)
    warm = cluster.enqueue("true")  # the watchdog's process starts with the first job
    cluster.wait_state(warm, JobState.COMPLETED)
    with no_processes_for(worker.pid, nth=2):  # 1: the job's process, 2: the thread
        timed = cluster.enqueue("sleep 0.3; echo done", timeout=30, max_retries=0)
        cluster.wait_state(timed, JobState.COMPLETED, JobState.DEAD)
    assert [r.outcome for r in _runs(timed)] == [RunOutcome.SUCCEEDED.value], cluster.logs()
    later = cluster.enqueue("sleep 5", timeout=0.5, max_retries=0)
    cluster.wait_state(later, JobState.DEAD)
    assert [r.outcome for r in _runs(later)] == [RunOutcome.TIMED_OUT.value]
    assert worker.poll() is None, cluster.logs()
    logs = cluster.logs()
    assert "cannot start its timekeeper thread" in logs
    assert "Traceback" not in logs


@pytest.mark.timeout(60)
def test_a_hook_thread_the_system_cannot_start_costs_neither_the_next_job_nor_the_worker(
    cluster: Cluster,
):
    """The first hook starts the worker's hook thread, after the job's end (and the next
    job's claim) committed: that thread failing to start killed the worker, and the job
    it had claimed ran again as ``lost``. Now that hook is skipped with a line, and the
    next hook starts the thread."""
    [worker] = cluster.start_workers(1)
    warm = cluster.enqueue("true")
    cluster.wait_state(warm, JobState.COMPLETED)
    marker = os.path.join(cluster.workdir, "hooked")
    with no_processes_for(worker.pid, nth=2):  # 1: the job's process, 2: the hook thread
        hooked = cluster.enqueue("true", on_success=f"echo $QUEUECTL_JOB_ID >> {marker}")
        cluster.wait_state(hooked, JobState.COMPLETED)
        wait_until(lambda: "hook" in cluster.logs(), 10, "the hook's line")
    again = cluster.enqueue("true", on_success=f"echo $QUEUECTL_JOB_ID >> {marker}")
    cluster.wait_state(again, JobState.COMPLETED)
    # The shell's >> makes the file before echo writes to it: wait for the whole line
    # (a read between the two found the file empty, once in a CI run).
    wait_until(
        lambda: os.path.exists(marker) and _read(marker).endswith("\n"),
        10,
        f"the next hook to run ({cluster.logs()})",
    )
    assert _read(marker).split() == [again]
    assert worker.poll() is None, cluster.logs()
    logs = cluster.logs()
    assert f"hook on_success for job {hooked} could not run" in logs
    assert "Traceback" not in logs


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def _watchdogs_of(pid: int) -> list[int]:
    """The worker's watchdog processes (``sh … queuectl-watchdog``), by their pids."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and b"queuectl-watchdog" in argv:
            found.append(int(entry))
    return found


@pytest.mark.timeout(60)
def test_a_watchdog_the_system_cannot_start_is_started_with_the_next_job(cluster: Cluster):
    """The watchdog starts with the worker's first job: a shortage then left the worker
    without one for its whole life (its jobs would outlive a ``kill -9`` of it)."""
    [worker] = cluster.start_workers(1)
    with no_processes_for(worker.pid, nth=1):  # 1: the watchdog, 2: the job's process
        first = cluster.enqueue("true")
        cluster.wait_state(first, JobState.COMPLETED)
    assert _watchdogs_of(worker.pid) == []
    second = cluster.enqueue("true")
    cluster.wait_state(second, JobState.COMPLETED)
    wait_until(lambda: _watchdogs_of(worker.pid), 10, f"a watchdog ({cluster.logs()})")
    assert "cannot start a job watchdog yet" in cluster.logs()
