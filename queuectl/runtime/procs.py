"""Process and process-group facts and kills, for the executor, workers and the supervisor.

Everything that decides whether a pid or a process group is alive, or kills
one, lives here, so the rules (zombies count as dead, an orphan is killed only
when it still carries its job's id) are written once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING

from queuectl.hostid import proc_stat

if TYPE_CHECKING:
    from queuectl.store.models import Run

log = logging.getLogger("queuectl.worker")


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Signal a whole process group; ``False`` when it no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists but is not ours; nothing we may do
    return True


def group_alive(pgid: int) -> bool:
    """Whether any process is still in the group (zombies do not count on Linux)."""
    if sys.platform.startswith("linux") and os.path.isdir("/proc"):
        return bool(group_members(pgid))
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids whose process group is ``pgid``, read from ``/proc``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = proc_stat(int(entry))
        if stat is not None and stat.pgid == pgid and stat.state != "Z":
            members.append(int(entry))
    return members


def kill_orphan_group(run: Run, host: str) -> None:
    """Kill what is left of a dead worker's attempt, so its rerun never overlaps it.

    Only on ``host`` (a pgid means nothing elsewhere), and only when a member of
    the group still carries the job's id in its environment: a pgid reused by an
    unrelated program is left alone. Waits (briefly) until the group is gone.
    """
    if run.host != host:
        return
    if not run.pgid:
        # The worker died within the attempt's first moments, before it wrote
        # the group down (see attempt.PGID_AFTER): find the group by the job's identity.
        for pgid in _groups_running(str(run.job_id), int(run.attempt)):
            _kill_orphan(pgid, str(run.job_id))
        return
    if run.pgid == os.getpgid(0):
        return
    pgid = int(run.pgid)
    if not group_alive(pgid):
        return
    if not _group_runs_job(pgid, str(run.job_id)):
        log.warning("process group %d is no longer job %s's; left alone", pgid, run.job_id)
        return
    _kill_orphan(pgid, str(run.job_id))


def _groups_running(job_id: str, attempt: int) -> set[int]:
    """Process groups (not ours) with a member whose environment names this job attempt."""
    if not os.path.isdir("/proc"):
        return set()
    wanted = {f"QUEUECTL_JOB_ID={job_id}".encode(), f"QUEUECTL_ATTEMPT={attempt}".encode()}
    ours = os.getpgid(0)
    groups = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = set(handle.read().split(b"\0"))
            pgid = os.getpgid(int(entry))
        except OSError:
            continue
        if wanted <= environ and pgid != ours:
            groups.add(pgid)
    return groups


def holds_this_database(pid: int) -> bool:
    """On SQLite, whether ``pid`` has this database's file open (``True`` when that
    cannot be told: another backend, or ``/proc/PID/fd`` not readable)."""
    from queuectl.store import db

    path = db.open_sqlite_file()
    if path is None:
        return True
    try:
        ours = os.stat(path)
        links = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return True
    for link in links:
        try:
            found = os.stat(f"/proc/{pid}/fd/{link}")
        except OSError:
            continue
        if (found.st_dev, found.st_ino) == (ours.st_dev, ours.st_ino):
            return True
    return False


def _another_databases_job(pgid: int) -> bool:
    """Whether the group's leader (the job's shell) is the child of a live queuectl
    process that does not hold this database: the job of another database's worker.
    A copy of the database (a restored backup) names the original's jobs and their
    groups, and recovering the copy's "lost" worker killed the original's running job.
    A real orphan's parent is init or a subreaper; a worker of ours that stopped
    answering (SIGSTOP) still holds this database, and its job is killed as before."""
    try:
        stat = proc_stat(pgid)
        if stat is None:
            return False
        with open(f"/proc/{stat.ppid}/cmdline", "rb") as handle:
            argv = handle.read()
    except OSError:
        return False
    return b"queuectl" in argv and not holds_this_database(stat.ppid)


def _kill_orphan(pgid: int, job_id: str) -> None:
    if _another_databases_job(pgid):
        log.warning(
            "process group %d of job %s runs under another database's worker; left alone",
            pgid,
            job_id,
        )
        return
    log.warning("killing orphaned process group %d of job %s", pgid, job_id)
    kill_group(pgid)
    deadline = time.monotonic() + 2.0
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.01)


def _group_runs_job(pgid: int, job_id: str) -> bool:
    """Whether a member of the group has ``QUEUECTL_JOB_ID=job_id`` in its environment.

    Off Linux (no ``/proc``) there is no way to tell, and the group is trusted.
    """
    if not os.path.isdir("/proc"):
        return True
    needle = f"QUEUECTL_JOB_ID={job_id}".encode()
    for pid in group_members(pgid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    return True
        except OSError:
            continue
    return False
