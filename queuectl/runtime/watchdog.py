"""Kill a worker's running job the moment the worker dies, however it dies.

Each worker keeps one small ``/bin/sh`` beside it, blocked reading a pipe
whose only writer is the worker. When the worker dies (``kill -9``, a crash,
the OOM killer), the kernel closes its end of the pipe; the watchdog reads
end-of-file, looks up the process group of the job that was running and kills
the whole group, grandchildren included.

Which group that is lives in a tiny shared file (a ``memfd``, or an unlinked
temporary file where there is none): the worker overwrites it in place as
each job starts, and the watchdog reads it only once, at the end. So a job
costs one ``pwrite`` (about 2 µs) and wakes nobody; writing each group down
the pipe instead woke the watchdog twice per job (about 0.1 ms of the worker's
time, measured).

This replaces a per-job ``setpriv --pdeathsig KILL``, which cost a second
``exec`` on every job (about 1.1 ms of CPU, more than the shell itself) and
reached only the job's shell, not its children. Recovery still kills orphaned
groups before a rerun (``procs.kill_orphan_group``), for the rare case where
both the worker and its watchdog are gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import tempfile

from queuectl.runtime import spawn

log = logging.getLogger("queuectl.worker")

SCRIPT = """\
while IFS= read -r _; do :; done
spawning=
while read -r group <&3; do
  group=${group:-0}
  if [ "$group" -gt 0 ]; then kill -s KILL -- "-$group" 2>/dev/null; fi
  if [ "$group" -lt 0 ]; then spawning=1; fi
done
if [ -n "$spawning" ] && [ -n "$1" ]; then
  for round in 1 2; do
    for file in $(grep -lzx "QUEUECTL_WORKER_ID=$1" /proc/[0-9]*/environ 2>/dev/null); do
      pid=${file#/proc/}; pid=${pid%/environ}
      kill -s KILL -- "-$pid" "$pid" 2>/dev/null
    done
    sleep 1
  done
fi
"""
"""End of file on stdin means the worker is gone: kill every group named on fd 3, one
line per slot (a worker running several jobs at once, ``--slots``, has a line each).

A negative number means the worker died while starting a job, before it could
write the group down (the spawn window): the job is then found by the
worker's id in its environment, on Linux, and killed with its group. A second
look a moment later catches a child that was between ``fork`` and ``exec``
(still carrying the worker's own environment) at the first."""

SPAWNING = -1
"""What the record says while a job is being started (see ``Watchdog.spawning``)."""

_RECORD = b"%10d\n"
"""Fixed width, so a shorter number never leaves digits of a longer one behind."""


def _shared_file() -> int:
    """A descriptor to a file no one else can reach: a memfd, else an unlinked temp file."""
    if hasattr(os, "memfd_create"):
        with contextlib.suppress(OSError):
            return os.memfd_create("queuectl-watchdog", os.MFD_CLOEXEC)
    with tempfile.TemporaryFile() as handle:  # unlinked at once: nothing left on disk
        return os.dup(handle.fileno())  # non-inheritable, like every descriptor Python makes


class Watchdog:
    """The worker's side: ``start`` once, then ``watch`` each job's group and ``clear``.

    A worker with several slots has one record per slot (``slot``); the watchdog
    kills every group recorded when the worker dies.
    """

    def __init__(self, marker: str = "", slots: int = 1) -> None:
        """``marker``: the worker's id, which its jobs carry as ``QUEUECTL_WORKER_ID``."""
        self.marker = marker
        self.pid: int | None = None
        self._pipe = -1
        self._record = -1
        self._groups = [0] * max(1, slots)

    def start(self) -> None:
        """Start the watchdog, in a session of its own: a terminal's ^C never reaches it."""
        record = _shared_file()
        read_fd, write_fd = os.pipe()
        try:
            os.pwrite(record, b"".join(_RECORD % group for group in self._groups), 0)
            child = spawn.spawn(
                ["/bin/sh", "-c", SCRIPT, "queuectl-watchdog", self.marker],
                cwd="/",
                env={"PATH": os.defpath},
                stdin_fd=read_fd,
                extra_fds={3: record},
                capture=False,
            )
        except BaseException:
            os.close(write_fd)
            os.close(record)
            raise
        finally:
            os.close(read_fd)
        self.pid, self._pipe, self._record = child.pid, write_fd, record

    def spawning(self) -> None:
        """A job is being started: if we die before ``watch``, find it by our marker."""
        self._set(SPAWNING)

    def watch(self, pgid: int) -> None:
        """A job now runs in process group ``pgid``."""
        self._set(pgid)

    def clear(self) -> None:
        """No job runs (the last one's group is gone): nothing to kill any more."""
        self._set(0)

    def _set(self, group: int, slot: int = 0) -> None:
        self._groups[slot] = group
        if self._record >= 0:
            os.pwrite(self._record, _RECORD % group, slot * len(_RECORD % 0))

    def slot(self, index: int) -> SlotWatch:
        """What one slot's job tells the watchdog (``spawning``, ``watch``, ``clear``)."""
        return SlotWatch(self, index)

    def check(self) -> None:
        """Replace the watchdog if it died (killed by hand, say); workers call it per heartbeat.

        A dead watchdog is noticed without reading anything: ``waitpid`` reaps it.
        """
        if self.pid is None:
            return
        try:
            gone = spawn.reap(self.pid) is not None
        except ChildProcessError:
            gone = True
        if not gone:
            return
        log.warning("the job watchdog (pid %s) exited; starting a new one", self.pid)
        self.pid = None
        self._close_fds()
        try:
            self.start()
        except OSError as exc:
            log.warning("cannot start a job watchdog: %s; recovery alone covers jobs", exc)

    def close(self, timeout: float = 2.0) -> None:
        """A clean exit: the watchdog reads end-of-file, finds no group (or kills the
        one still running, which must not outlive us either) and exits; reap it."""
        self._close_fds()
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None
        if pidfd is not None:
            try:
                select.select([pidfd], [], [], timeout)
            finally:
                os.close(pidfd)
        with contextlib.suppress(ChildProcessError):
            if spawn.reap(pid) is None:
                os.kill(pid, signal.SIGKILL)
                spawn.reap(pid, block=True)

    def _close_fds(self) -> None:
        for fd in (self._pipe, self._record):
            if fd >= 0:
                os.close(fd)
        self._pipe = self._record = -1


class SlotWatch:
    """One slot's record in a ``Watchdog``: what ``executor.Execution`` needs of it."""

    def __init__(self, watchdog: Watchdog, index: int) -> None:
        self._watchdog = watchdog
        self._index = index

    def spawning(self) -> None:
        self._watchdog._set(SPAWNING, self._index)

    def watch(self, pgid: int) -> None:
        self._watchdog._set(pgid, self._index)

    def clear(self) -> None:
        self._watchdog._set(0, self._index)
