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
from collections.abc import Sequence
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
    """Whether ``pid`` uses this database (``True`` when that cannot be told).

    On SQLite: whether it has the database's file open (``/proc/PID/fd``). On
    PostgreSQL: whether the location it was given names this database
    (``_names_this_server_database``).
    """
    from queuectl.store import db

    path = db.open_sqlite_file()
    if path is None:
        return _names_this_server_database(pid)
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


def _names_this_server_database(pid: int) -> bool:
    """On PostgreSQL, whether the location ``pid`` was given (its ``--db``, else its
    ``QUEUECTL_DB``) names this database: the same name and port. A process given
    neither uses its default SQLite file, not this server.

    Every row on a shared server may be written by anyone who can enqueue: a worker
    row naming a process of another database's worker, or of another user, had
    ``worker stop`` signal it and ``worker prune`` kill its group, as root when root
    ran them. The host is not compared (``localhost`` and ``127.0.0.1`` are one
    server), nor what cannot be read (another user's process, where the kernel keeps
    the signal from it anyway): both count as this database, as before, so a live
    worker of this database is never taken for lost.
    """
    from urllib.parse import unquote

    from queuectl.errors import QueueError
    from queuectl.location import is_url, parse_url
    from queuectl.store import db
    from queuectl.store.db import DEFAULT_PG_PORT, SUPPORTED_SCHEMES

    ours = db.open_server_database()
    if ours is None:
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
        with open(f"/proc/{pid}/environ", "rb") as handle:
            environ = handle.read().split(b"\0")
    except FileNotFoundError:
        return False
    except OSError:
        return True
    given = _option_value(argv, b"--db")
    if given is None:
        given = next((v[12:] for v in environ if v.startswith(b"QUEUECTL_DB=")), None)
    if given is None:
        return False
    location = given.decode(errors="replace")
    if not is_url(location):
        return False  # a file: SQLite
    try:
        parsed = parse_url(location)
        port = parsed.port or DEFAULT_PG_PORT
    except (QueueError, ValueError):
        return True
    if parsed.scheme.lower() not in SUPPORTED_SCHEMES:
        return False
    name = unquote(parsed.path.lstrip("/"))
    return not name or (name, port) == ours


def _option_value(argv: list[bytes], option: bytes) -> bytes | None:
    """The value of ``--option VALUE`` or ``--option=VALUE`` in a command line."""
    for index, arg in enumerate(argv):
        if arg == option and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(option + b"="):
            return arg[len(option) + 1 :]
    return None


def runs_a_worker(argv: Sequence[bytes]) -> bool:
    """Whether a command line is queuectl's ``worker run`` (``queuectl [--db X] worker
    run …``, ``python -m queuectl …`` too): what every worker runs, by ``worker start``
    or by hand, and no other queuectl command does."""
    names = [os.path.basename(arg) for arg in argv]
    if b"queuectl" not in names:
        return False
    rest = list(argv[names.index(b"queuectl") + 1 :])
    while rest and (rest[0] == b"--db" or rest[0].startswith(b"--db=")):
        del rest[: 2 if rest[0] == b"--db" else 1]
    return rest[:2] == [b"worker", b"run"]


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
            argv = handle.read().split(b"\0")
    except OSError:
        return False
    # A worker's command line, not "queuectl" anywhere in it: a test run from a clone in
    # a folder named queuectl (its python's path) was taken for another database's
    # worker, and the orphan it recovered was left running (a newcomer's try).
    return runs_a_worker(argv) and not holds_this_database(stat.ppid)


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
