"""Which host this process is on (as recorded on Worker and Run rows), and its live pids.

Recovery checks process ids only for workers on its own host, so two
machines must never share a name. Containers often do (every pod can be
``localhost`` or an image default): set ``QUEUECTL_HOSTNAME`` to something
unique per machine in that case.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import NamedTuple

ENV_VAR = "QUEUECTL_HOSTNAME"


def this_host() -> str:
    return os.environ.get(ENV_VAR) or socket.gethostname()


class ProcStat(NamedTuple):
    """What ``/proc/PID/stat`` says of a process that the worker's checks need."""

    state: str
    pgid: int
    ppid: int


def proc_stat(pid: int) -> ProcStat | None:
    """A process's state, process group and parent from ``/proc/PID/stat``, or ``None``
    when it is gone.

    Raises:
        OSError: it could not be read for another reason (no descriptor free): "gone"
            then made a worker out of descriptors judge itself dead and recover its
            own running jobs, and an orphaned job's group look empty.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode("ascii", errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    try:
        return ProcStat(fields[0], int(fields[2]), int(fields[1]))
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie; used to spot dead workers."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if sys.platform.startswith("linux"):
        try:
            stat = proc_stat(pid)
        except OSError:
            return True  # it exists (kill said so); only its zombie state is unknown
        return stat is not None and stat.state != "Z"
    return True
