"""Enough open files for a worker's slots, checked before it starts.

Each running job holds descriptors of the worker's (its output pipe and its pidfd,
and both ends of a pipe while it starts). A worker of 64 slots under ``ulimit -n
128`` failed healthy jobs with "Too many open files" until they were dead, and then
judged itself dead. The soft limit is raised to what the slots need when the hard
limit allows it (jobs inherit the raised limit; only then is it changed), and a
worker that cannot have them is refused before it takes a job.
"""

from __future__ import annotations

import resource

from queuectl.errors import QueueError

BASE = 64
"""The worker's own descriptors (the database and its WAL, the log, the watchdog's
pipe, inotify, PostgreSQL's LISTEN connection), with room to spare: about 11 idle."""
PER_SLOT = 4
"""A running job's output pipe and pidfd, a pipe's second end while it starts, and one
spare."""


def needed(slots: int) -> int:
    return BASE + PER_SLOT * slots


def ensure_descriptors(slots: int) -> None:
    """Make sure this process (and the workers it starts) may open what ``slots`` need.

    Raises:
        QueueError: the hard limit is below that; naming it and what to do.
    """
    want = needed(slots)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    if hard != resource.RLIM_INFINITY and hard < want:
        raise QueueError(
            f"{slots} slots need about {want} open files, and this process may open at most"
            f" {hard} (ulimit -Hn): run fewer slots, or raise the limit"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
