"""Who holds an SQLite database's write lock, so "database is locked" can name them.

A worker stopped with SIGSTOP (or a laptop lid closed on a shell) inside its
write transaction freezes the queue: other writers wait, then fail with a bare
"database is locked". Linux lists every file lock in ``/proc/locks``, with the
pid that holds it: SQLite's write lock in WAL mode is a POSIX lock on byte 120
of the ``-shm`` file, and the workers' queue for it is an ``flock`` on the
database file (``writelock.WriterQueuedSqlite``). Elsewhere there is no such list and
the functions here find nobody.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from queuectl.textsafe import one_line

LOCKS_FILE = "/proc/locks"
WAL_WRITE_LOCK = 120
"""SQLite's WAL_WRITE_LOCK: the first of the lock bytes in the ``-shm`` file."""


@dataclass(frozen=True)
class Holder:
    """A process holding a lock, and whether it can make progress."""

    pid: int
    stopped: bool
    """Stopped by a signal (SIGSTOP, SIGTSTP, ^Z) or a debugger: it will not let go."""
    command: str


def _identity(path: str) -> tuple[str, int] | None:
    """``/proc/locks``'s ``MAJ:MIN:INODE`` device part and the inode of ``path``."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}", info.st_ino


def _pids_locking(path: str, *, kind: str, byte: int | None = None) -> list[int]:
    """Pids holding a ``kind`` (``POSIX`` or ``FLOCK``) write lock on ``path`` (on ``byte``)."""
    identity = _identity(path)
    if identity is None:
        return []
    device, inode = identity
    try:
        with open(LOCKS_FILE) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    pids = []
    for line in lines:
        fields = line.split()
        if len(fields) < 8 or fields[1] == "->":  # "->": a waiter, not a holder
            continue
        lock_kind, access, pid, where, start, end = fields[1], *fields[3:8]
        maj_min, _, lock_inode = where.rpartition(":")
        if lock_kind != kind or access != "WRITE" or not lock_inode.isdigit():
            continue
        if int(lock_inode) != inode or maj_min.lower() != device:
            continue
        if byte is not None:
            last = float("inf") if end == "EOF" else int(end)
            if not int(start) <= byte <= last:
                continue
        if pid.isdigit():
            pids.append(int(pid))
    return pids


def _holder(pid: int) -> Holder:
    state = ""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode("ascii", errors="replace")
        state = raw[raw.rfind(")") + 2 :].split()[0]
    except (OSError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        command = ""
    return Holder(pid=pid, stopped=state in ("T", "t"), command=command)


def write_lock_holders(path: str) -> list[Holder]:
    """Who holds SQLite's write lock on the database at ``path`` (WAL mode)."""
    pids = _pids_locking(f"{path}-shm", kind="POSIX", byte=WAL_WRITE_LOCK)
    return [_holder(pid) for pid in dict.fromkeys(pids)]


def queue_lock_path(path: str) -> str:
    """What the workers' write queue for the database at ``path`` is an ``flock`` of: its
    folder, never the file (``writelock.WriterQueuedSqlite`` says why). Databases that
    share a folder share the queue; SQLite's own lock still keeps each apart."""
    return os.path.dirname(os.path.abspath(path))


def queue_holders(path: str) -> list[Holder]:
    """Who holds the workers' ``flock`` queue for the write lock on ``path``."""
    found = _pids_locking(queue_lock_path(path), kind="FLOCK")
    return [_holder(pid) for pid in dict.fromkeys(found)]


def describe(holders: list[Holder], name_of: Callable[[int], str | None]) -> str:
    """``held by worker w1 (pid 7), which is stopped: `kill -CONT 7` resumes it``.

    Args:
        name_of: the queuectl worker id of a pid on this host, when it is one.
    """
    parts = []
    for holder in holders:
        name = name_of(holder.pid)
        if name:
            who = f"worker {name} (pid {holder.pid})"
        else:
            # One line, inert: a command line may hold newlines (python3 -c "…") and
            # anything its owner chose; it went into the worker's log as two lines.
            program = one_line(holder.command, 60) or "a process"
            who = f"pid {holder.pid} ({program})"
        if holder.stopped:
            who += f", which is stopped: `kill -CONT {holder.pid}` resumes it"
        parts.append(who)
    return "held by " + "; ".join(parts) if parts else ""
