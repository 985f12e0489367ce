"""Kill a worker's running job the moment the worker dies, however it dies.

Each worker keeps one small ``/bin/sh`` beside it, reading a pipe whose only
writer is the worker. The worker writes the process group of the job it
starts, and ``0`` once that job is over. When the worker dies (``kill -9``, a
crash, the OOM killer), the kernel closes its end of the pipe; the watchdog
reads end-of-file and kills the last group it was told about: the whole
group, grandchildren included.

This replaces a per-job ``setpriv --pdeathsig KILL``, which cost a second
``exec`` on every job (about 1.1 ms of CPU, more than the shell itself) and
reached only the job's shell, not its children. The watchdog costs one
process per worker and a few bytes of pipe per job. Recovery still kills
orphaned groups before a rerun (``procs.kill_orphan_group``), for the rare
case where both the worker and its watchdog are gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal

from queuectl import spawn

log = logging.getLogger("queuectl.worker")

SCRIPT = """\
group=0
while IFS= read -r line; do group=$line; done
if [ "$group" != 0 ]; then kill -s KILL -- "-$group" 2>/dev/null; fi
"""
"""End of file means the worker is gone: kill the group it was running, if any."""


class Watchdog:
    """The worker's side of the pipe; start with ``start``, then ``watch``/``clear`` per job."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self._fd = -1
        self._group = 0

    def start(self) -> None:
        """Start the watchdog, in a session of its own: a terminal's ^C never reaches it."""
        read_fd, write_fd = os.pipe()
        try:
            child = spawn.spawn(
                ["/bin/sh", "-c", SCRIPT, "queuectl-watchdog"],
                cwd="/",
                env={"PATH": os.defpath},
                stdin_fd=read_fd,
                capture=False,
            )
        except BaseException:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        # Never block the worker: a full pipe means the watchdog is stuck (stopped).
        os.set_blocking(write_fd, False)
        self.pid, self._fd = child.pid, write_fd

    def watch(self, pgid: int) -> None:
        """A job now runs in process group ``pgid``."""
        self._group = pgid
        self._send()

    def clear(self) -> None:
        """The job is over and its group gone: nothing to kill any more."""
        self._group = 0
        self._send()

    def _send(self) -> None:
        if self._fd < 0:
            return
        try:
            os.write(self._fd, b"%d\n" % self._group)
            return
        except (BrokenPipeError, BlockingIOError) as exc:
            reason = "exited" if isinstance(exc, BrokenPipeError) else "stopped reading"
        log.warning("the job watchdog (pid %s) %s; starting a new one", self.pid, reason)
        self._discard()
        try:
            self.start()
            os.write(self._fd, b"%d\n" % self._group)
        except OSError as exc:
            log.warning("cannot start a job watchdog: %s; recovery alone covers jobs", exc)
            self._discard()

    def _discard(self) -> None:
        """Forget the current watchdog: kill it (it may be stopped, not dead) and reap it."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                spawn.reap(self.pid, block=True)
            self.pid = None

    def close(self, timeout: float = 2.0) -> None:
        """A clean exit: with nothing watched, the watchdog reads end-of-file and exits."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
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
