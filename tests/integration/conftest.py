"""Real worker processes on a temporary database, with small settings so tests are quick.

Every process a test starts (foreground workers, detached workers, their jobs'
process groups) is killed in teardown, even when the test fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import peewee
import pytest

from queuectl import hostid
from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import reads, settings
from queuectl.runtime import procs
from queuectl.store import db
from queuectl.store.models import Job, JobState, Run
from queuectl.store.models import Worker as WorkerRow
from tests.polling import wait_until

SETTINGS = {"lease_seconds": 2, "backoff_base": 1, "poll_interval": 0.2, "max_retries": 1}


class Cluster:
    """A temp database plus helpers to start workers, run the CLI and inspect jobs."""

    def __init__(self, db_path: str, workdir: str) -> None:
        self.db_path = db_path
        self.workdir = workdir
        self.env = {**os.environ, "QUEUECTL_DB": db_path, "PYTHONUNBUFFERED": "1"}
        self.procs: list[subprocess.Popen[bytes]] = []
        self._logs = 0
        self.slots = 1
        """Jobs each worker started here runs at once (``--slots``): tests that prove a
        guarantee set it to run with slots too."""

    # --- processes --------------------------------------------------------------------

    def start_worker(self, *queues: str) -> subprocess.Popen[bytes]:
        """``queuectl worker run`` in the foreground (our child), stderr to a file."""
        self._logs += 1
        log = open(os.path.join(self.workdir, f"worker-{self._logs}.log"), "wb")  # noqa: SIM115
        argv = [sys.executable, "-m", "queuectl", "worker", "run"]
        for name in queues:
            argv += ["--queue", name]
        if self.slots != 1:
            argv += ["--slots", str(self.slots)]
        proc = subprocess.Popen(
            argv, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.workdir
        )
        log.close()
        self.procs.append(proc)
        return proc

    def start_workers(self, count: int, *queues: str) -> list[subprocess.Popen[bytes]]:
        procs = [self.start_worker(*queues) for _ in range(count)]
        pids = {p.pid for p in procs}
        wait_until(
            lambda: pids <= {w.pid for w in reads.list_workers(include_stopped=False)},
            20,
            f"{count} workers to register",
        )
        return procs

    def cli(
        self, *args: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "queuectl", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.workdir,
        )
        if check and result.returncode != 0:
            pytest.fail(f"queuectl {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def logs(self) -> str:
        out = []
        for name in sorted(os.listdir(self.workdir)):
            if name.startswith("worker-") and name.endswith(".log"):
                with open(os.path.join(self.workdir, name), errors="replace") as handle:
                    out.append(f"== {name}\n{handle.read()}")
        return "\n".join(out)

    # --- jobs -------------------------------------------------------------------------

    def enqueue(self, command: str, **fields: Any) -> str:
        return enqueuing.enqueue(JobSpec(command=command, **fields), cwd=self.workdir).id

    def job(self, job_id: str) -> Job:
        return Job.get_by_id(job_id)

    def wait_state(self, job_id: str, *states: JobState, timeout: float = 10.0) -> Job:
        wanted = {s.value for s in states}
        return wait_until(
            lambda: (job := self.job(job_id)).state in wanted and job,
            timeout,
            f"job {job_id} to be {'/'.join(sorted(wanted))} (logs:\n{self.logs()})",
        )

    # --- teardown ---------------------------------------------------------------------

    def kill_everything(self) -> None:
        """SIGKILL our workers, detached workers of this database and their job groups."""
        pids = {p.pid for p in self.procs}
        host = socket.gethostname()
        pgids: set[int] = set()
        with contextlib.suppress(peewee.DatabaseError):  # the database may be the failure
            pids |= {w.pid for w in WorkerRow.select() if w.host == host}
            pgids = {r.pgid for r in Run.select() if r.pgid and r.host == host}
        for pid in pids:
            if hostid.pid_alive(pid) and _is_ours(pid, self.db_path, self.procs):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        for pgid in pgids:
            if pgid != os.getpgid(0):
                procs.kill_group(pgid)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


def _is_ours(pid: int, db_path: str, procs: list[subprocess.Popen[bytes]]) -> bool:
    """Our child, or a detached worker whose environment names this test's database."""
    if any(p.pid == pid for p in procs):
        return True
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return f"QUEUECTL_DB={db_path}".encode() in handle.read().split(b"\0")
    except OSError:
        return False


@contextlib.contextmanager
def running_cluster(location: str, tmp_path) -> Iterator[Cluster]:
    """A cluster on ``location`` with the quick test settings; every process it
    started (and every job group they left) is killed on the way out."""
    db.open_database(location)
    for key, value in SETTINGS.items():
        settings.set_value(key, value)
    work = tmp_path / "work"
    work.mkdir()
    cluster = Cluster(location, str(work))
    try:
        yield cluster
    finally:
        cluster.kill_everything()


@pytest.fixture
def cluster(db_url: str, tmp_path) -> Iterator[Cluster]:
    """Workers on a fresh database of each backend (``db_url`` is parametrized)."""
    with running_cluster(db_url, tmp_path) as made:
        yield made


@pytest.fixture
def pg_cluster(pg_url: str, tmp_path) -> Iterator[Cluster]:
    """For the few tests about PostgreSQL itself: a fresh schema, skipped without a server."""
    with running_cluster(pg_url, tmp_path) as made:
        yield made
