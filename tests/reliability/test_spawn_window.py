"""A worker killed while it starts a job takes the job with it.

The watchdog learns a job's process group when ``posix_spawn`` returns; a
SIGKILL before that used to leave the job running with no one to kill it. To
land the kill inside that window every time, the worker runs under ``strace``,
which holds it in the job's ``clone`` for a second and a half after the child
already runs: the test kills the worker there.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.store import db
from tests.polling import wait_until

pytestmark = pytest.mark.integration

HOLD_MICROSECONDS = 1_500_000


def _processes_with(variable: bytes) -> list[int]:
    """Pids whose environment holds ``variable`` (``NAME=value``)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if variable in handle.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def _strace_can_inject() -> str | None:
    if not sys.platform.startswith("linux"):
        return "the spawn window is closed through /proc, which is Linux-only"
    if shutil.which("strace") is None:
        return "strace is not installed (apt-get install strace)"
    probe = subprocess.run(
        ["strace", "-o", "/dev/null", "-e", "inject=getpid:retval=1", "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"strace cannot trace here: {probe.stderr.strip()[:200]}"
    return None


@pytest.mark.timeout(60)
def test_a_worker_killed_inside_the_spawn_leaves_no_job_running(tmp_path, db_path):
    reason = _strace_can_inject()
    if reason:
        pytest.skip(reason)
    db.open_database(db_path)
    job_id = enqueuing.enqueue(
        JobSpec(command="sleep 60", id="in-the-window"), cwd=str(tmp_path)
    ).id
    marker = f"QUEUECTL_JOB_ID={job_id}".encode()
    env = {**os.environ, "QUEUECTL_DB": db_path}
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    tracer = subprocess.Popen(
        [
            "strace",
            "-o",
            "/dev/null",
            "-e",
            "trace=clone,clone3",
            "-e",
            f"inject=clone,clone3:delay_exit={HOLD_MICROSECONDS}",
            sys.executable,
            "-m",
            "queuectl",
            "worker",
            "run",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        cwd=tmp_path,
    )
    log.close()
    try:
        # The job runs while its worker is still inside the clone that started it.
        job_pids = wait_until(lambda: _processes_with(marker), 30, "the job to start")
        with open(f"/proc/{tracer.pid}/task/{tracer.pid}/children") as handle:
            [worker_pid] = [int(pid) for pid in handle.read().split()]
        os.kill(worker_pid, signal.SIGKILL)
        wait_until(
            lambda: not _processes_with(marker),
            10,
            f"the job (pids {job_pids}) to die with its worker",
        )
    finally:
        tracer.kill()
        tracer.wait(timeout=10)
        for pid in _processes_with(marker):
            os.kill(pid, signal.SIGKILL)
