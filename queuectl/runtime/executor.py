"""Run one job's command: its own process group, a timeout, and a bounded output tail.

The worker is single-threaded: instead of a reader thread, ``Execution.pump``
waits on the job's pipe with a deadline, so the same loop reads output,
enforces the timeout and gives the worker a tick to heartbeat, flush the live
tail and notice a cancel or a stop. Memory stays bounded however much a job
prints: only the last ``output_limit`` bytes are kept.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import math
import os
import select
import signal
import stat
import time
from collections.abc import Callable, Mapping

from queuectl.lifecycle.policy import Result
from queuectl.location import without_database_secrets
from queuectl.runtime import direct, spawn
from queuectl.runtime.procs import group_alive, kill_group
from queuectl.runtime.timekeeper import Timekeeper
from queuectl.runtime.watchdog import SlotWatch, Watchdog
from queuectl.states import RunOutcome

KILL_GRACE = 3.0
"""Seconds between SIGTERM and SIGKILL: time for a job to clean up, short
enough that a timeout or a cancel never hangs a worker."""

DRAIN_AFTER_EXIT = 0.2
"""How long to keep reading after the shell exited, for output still in the pipe
or written by a background child, before the leftover group is killed."""

_READ_SIZE = 65536


NEWLINE = ord("\n")

LATE_SAID = 0.1
"""Seconds past its deadline from which a timed-out job's error names its timeout too."""


class TailBuffer:
    """The last ``limit`` bytes written to it, whatever the total.

    Trimming happens only once the buffer holds twice the limit, so each byte is
    moved at most a couple of times: a job printing gigabytes costs linear time
    and ``2 * limit`` memory.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._data = bytearray()
        self.truncated = False
        self.total = 0
        self._last_dropped = NEWLINE
        """The last byte trimmed away: whether the bytes kept begin a line."""

    def write(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._data += chunk
        if len(self._data) > 2 * self.limit:
            cut = len(self._data) - self.limit
            self._last_dropped = self._data[cut - 1]
            del self._data[:cut]
            self.truncated = True

    @property
    def size(self) -> int:
        """Bytes the tail holds now (at most ``limit``)."""
        return min(len(self._data), self.limit)

    @property
    def total_so_far(self) -> int:
        """``total`` less a character still arriving (``text(so_far=True)`` leaves it
        out): the count stored beside that text, so readers comparing the two (``logs``:
        "earlier output not kept") do not take the wait for a byte as a byte dropped."""
        return self.total - _incomplete_tail(bytes(self._data[-4:]))

    def text(self, *, so_far: bool = False) -> str:
        """The tail decoded for storage: UTF-8 with replacement, never a NUL.

        A final tail that starts inside a line starts at the next line instead, when one
        begins in its first half: ``seq 1 100000`` kept "78" (the end of 89078) as its
        first line, which a script counting or grepping lines took for output. Without
        such a line (one long line, a progress bar), a cut through a multi-byte
        character at the start is dropped rather than shown as a replacement character.
        NUL becomes U+FFFD because PostgreSQL text cannot hold it. ``so_far`` (a
        running job's flush): a character whose last bytes have not arrived yet is
        left for the next flush, not stored as a replacement character (``logs
        --follow`` then saw "caf�" turn into "café", took the tail for another and
        printed it all again).
        """
        data = bytes(self._data[-self.limit :])
        start = len(self._data) - self.limit
        before = self._data[start - 1] if start > 0 else self._last_dropped
        if (start > 0 or self.truncated) and before != NEWLINE:
            # Only the run's final text: a running flush is kept whole to the limit, as
            # ``logs --follow`` counts it (cut shorter, growth that fit the limit read as
            # "output skipped", and the rest of a line shown in part was lost).
            line_ends = -1 if so_far else data.find(b"\n", 0, len(data) // 2)
            if line_ends >= 0:
                data = data[line_ends + 1 :]
            else:
                skip = 0
                while skip < min(3, len(data)) and 0x80 <= data[skip] <= 0xBF:
                    skip += 1
                data = data[skip:]
        if so_far:
            data = data[: len(data) - _incomplete_tail(data)]
        return data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _incomplete_tail(data: bytes) -> int:
    """How many bytes at the end of ``data`` begin a UTF-8 character not yet whole."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if 0x80 <= byte <= 0xBF:
            continue  # a continuation byte: its lead is further back
        if not 0xC2 <= byte <= 0xF4:
            return 0  # ASCII, or a byte no character starts with: nothing to wait for
        need = 2 if byte <= 0xDF else 3 if byte <= 0xEF else 4
        return back if back < need else 0
    return 0


class Execution:
    """One running command. Create with ``start``; call ``pump`` until ``done``.

    Timeout and external kills go through the same path: SIGTERM to the whole
    process group, SIGKILL after ``grace`` seconds, and once the shell is gone,
    SIGKILL to whatever is left of its group, so no grandchild outlives its job.

    One ``poll`` waits on both the output pipe and a pidfd of the shell, so the
    worker wakes the moment there is output or the shell exits, never later
    (``Popen.wait`` instead polls with growing sleeps: about 1 ms a job).
    """

    def __init__(
        self,
        child: spawn.Child,
        *,
        output_limit: int,
        timeout: float | None,
        grace: float,
        clock: Callable[[], float],
        watchdog: Watchdog | SlotWatch | None = None,
        timekeeper: Timekeeper | None = None,
        name: str = "",
    ) -> None:
        self.pid = child.pid
        self.job_name = name
        """What the timekeeper's log line calls the job (its id)."""
        self.pgid = child.pid  # a session (or group) of its own: the shell leads its group
        self.buffer = TailBuffer(output_limit)
        self.grace = grace
        self._clock = clock
        self._watchdog = watchdog
        self.started = clock()
        self.deadline = self.started + timeout if timeout else None
        self.kill_outcome: RunOutcome | None = None
        self.kill_reason: str | None = None
        self._kill_at: float | None = None
        self._exit_code: int | None = None
        self._exited_at: float | None = None
        self._eof = False
        self._fd = child.output_fd
        fcntl.fcntl(self._fd, fcntl.F_SETFL, os.O_NONBLOCK)  # a fresh pipe has no other flag
        self._pidfd = _pidfd(self.pid)
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)
        if self._pidfd is not None:
            self._poll.register(self._pidfd, select.POLLIN)
        self.result: Result | None = None
        self.version = 0
        """Bumped whenever output arrives, so a caller flushes the tail only when it moved."""
        if watchdog is not None:
            watchdog.watch(self.pgid)
        self._overdue_at: float | None = None
        """When the timekeeper enforced the timeout for a loop held up elsewhere."""
        self._exit_noted_at: float | None = None
        """When ``note_exit`` first found the job exited, while the loop was held up."""
        self._timekeeper = timekeeper
        if timekeeper is not None:
            timekeeper.watch(self)

    @classmethod
    def start(
        cls,
        command: str,
        *,
        cwd: str,
        env: Mapping[bytes, bytes] | None = None,
        output_limit: int = 65536,
        timeout: float | None = None,
        grace: float = KILL_GRACE,
        clock: Callable[[], float] = time.monotonic,
        watchdog: Watchdog | SlotWatch | None = None,
        tty: bool = False,
        timekeeper: Timekeeper | None = None,
        name: str = "",
    ) -> Execution | Result:
        """Start ``/bin/sh -c command`` (a plain command's program without the shell:
        ``runtime.direct``); a ``Result`` instead when it cannot start.

        stdout and stderr share one pipe so the output interleaves as a terminal
        would show it; stdin is ``/dev/null`` so a job never waits on input.
        ``watchdog`` is told the job's process group, so the group dies with the
        worker (see ``queuectl.watchdog``). With ``tty`` the output side is a
        pseudo-terminal instead of a pipe (``spawn.spawn``).
        """
        unusable = _unusable_cwd(cwd)
        if unusable is not None:
            return unusable
        environment = os.environb if env is None else env
        if watchdog is not None:
            watchdog.spawning()  # a kill from here until ``watch`` must not orphan the job
        try:
            child = _start_plain(command, cwd, environment, tty) or spawn.spawn(
                ["/bin/sh", "-c", command], cwd=cwd, env=environment, tty=tty
            )
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the command
            if watchdog is not None:
                watchdog.clear()
            return _not_started(exc, cwd)
        return cls(
            child,
            output_limit=output_limit,
            timeout=timeout,
            grace=grace,
            clock=clock,
            watchdog=watchdog,
            timekeeper=timekeeper,
            name=name,
        )

    @property
    def done(self) -> bool:
        return self.result is not None

    def is_handled(self) -> bool:
        """For the timekeeper: the loop has seen the exit, or killed the job itself."""
        return self.kill_outcome is not None or self._exit_code is not None or self.done

    def ended_ago(self) -> float:
        """How long ago the job ended, when that was before the loop saw it: stopped by
        the timekeeper, or seen exited by ``note_exit``, while the loop was held up (0
        otherwise: the loop saw it at once)."""
        ended = self._ended_while_held_up()
        return 0.0 if ended is None else max(0.0, self._clock() - ended)

    def _ended_while_held_up(self) -> float | None:
        moments = [m for m in (self._overdue_at, self._exit_noted_at) if m is not None]
        return min(moments) if moments else None

    def note_exit(self) -> None:
        """Note the moment the job is first seen exited, without reaping it: called while
        the loop waits for the database (``Worker.while_locked_out``), so that the run
        ends when the job did, not when the wait does (a 5 s job was recorded as 20 s)."""
        if self._exit_code is not None or self._exit_noted_at is not None or self.done:
            return
        waitid = getattr(os, "waitid", None)  # not on every platform: then noted when reaped
        if waitid is None:
            return
        try:
            exited = waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if exited is not None:
            self._exit_noted_at = self._clock()

    def stopped_by_timekeeper(self, at: float) -> None:
        """The timekeeper's note that it enforced the timeout, at ``at`` (its thread)."""
        self._overdue_at = at

    def output(self, *, so_far: bool = False) -> str:
        """The kept tail; ``so_far`` while the job runs (``TailBuffer.text``)."""
        return self.buffer.text(so_far=so_far)

    def kill(self, outcome: RunOutcome, reason: str) -> None:
        """Stop the job from outside (cancel, forced stop): SIGTERM now, SIGKILL after grace."""
        if self.kill_outcome is not None or self.done:
            return
        self.kill_outcome = outcome
        self.kill_reason = reason
        self._kill_at = self._clock() + self.grace
        kill_group(self.pgid, signal.SIGTERM)

    def _timed_out_text(self, now: float) -> str:
        """``timed out after 2s``; stopped late (by the timekeeper, past a database call
        that held the loop up), its timeout too: "after 2.5s" read as the one set."""
        assert self.deadline is not None
        took = (self._overdue_at or now) - self.started
        limit = self.deadline - self.started
        late = f" (its timeout: {limit:.3g}s)" if took - limit >= LATE_SAID else ""
        return f"timed out after {took:.3g}s{late}"

    def pump(self, max_wait: float) -> bool:
        """Read output, reap, and enforce the timeout for up to ``max_wait`` seconds.

        Returns ``True`` once the attempt is over (``result`` is then set).
        """
        if self.done:
            return True
        until = self._clock() + max(0.0, max_wait)
        while True:
            now = self._clock()
            if self.deadline is not None and now >= self.deadline and self.kill_outcome is None:
                self.kill(RunOutcome.TIMED_OUT, self._timed_out_text(now))
            if self._kill_at is not None and now >= self._kill_at:
                kill_group(self.pgid, signal.SIGKILL)
                self._kill_at = None
            if self._exit_code is None:
                code = spawn.reap(self.pid)
                if code is not None:
                    self._exit_code = code
                    self._exited_at = now
                    if self._pidfd is not None:
                        self._poll.unregister(self._pidfd)
            if self._exit_code is not None and (
                self._eof or now >= (self._exited_at or now) + DRAIN_AFTER_EXIT
            ):
                self._complete()
                return True
            wake = until
            if self.deadline is not None and self.kill_outcome is None:
                wake = min(wake, self.deadline)
            if self._kill_at is not None:
                wake = min(wake, self._kill_at)
            if self._exited_at is not None:
                wake = min(wake, self._exited_at + DRAIN_AFTER_EXIT)
            if now >= until:
                return False
            self._wait(max(0.0, min(wake, until) - now))

    # --- for a loop that waits on several executions at once (``runtime.slots``) ---

    def watched_fds(self) -> list[int]:
        """The descriptors to wait on now: the output until its end, the pidfd until the exit."""
        fds = [] if self._eof or self._fd < 0 else [self._fd]
        if self._exit_code is None and self._pidfd is not None:
            fds.append(self._pidfd)
        return fds

    def wake_at(self) -> float | None:
        """The next moment ``pump(0)`` has something to do without any descriptor waking:
        the timeout, the SIGKILL after grace, the end of the drain after the exit."""
        moments = []
        if self.deadline is not None and self.kill_outcome is None:
            moments.append(self.deadline)
        if self._kill_at is not None:
            moments.append(self._kill_at)
        if self._exited_at is not None:
            moments.append(self._exited_at + DRAIN_AFTER_EXIT)
        elif self._pidfd is None and (self._eof or self._fd < 0):
            moments.append(self._clock() + 0.002)  # no pidfd: poll the exit, as ``_wait``
        return min(moments) if moments else None

    def readable(self, fd: int) -> None:
        """A shared wait found ``fd`` readable: read the output that came."""
        if fd == self._fd and not self._eof:
            self._read()

    def _wait(self, seconds: float) -> None:
        """Sleep until output arrives, the shell exits or ``seconds`` pass; read what came."""
        if self._eof and self._exit_code is None and self._pidfd is None:
            # No pidfd (not Linux ≥ 5.3) and nothing left to read: poll the exit.
            time.sleep(min(seconds, 0.002))
            return
        try:
            events = self._poll.poll(math.ceil(seconds * 1000))
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for safety
            return
        if any(fd == self._fd for fd, _ in events):
            self._read()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:  # a pseudo-terminal says EIO, not EOF, once all is closed
                if exc.errno != errno.EIO:
                    raise
                chunk = b""
            if not chunk:
                self._eof = True
                self._poll.unregister(self._fd)
                return
            self.buffer.write(chunk)
            self.version += 1
            if len(chunk) < _READ_SIZE:
                return

    def _complete(self) -> None:
        """Kill what is left of the group, collect the last output, build the result."""
        if kill_group(self.pgid, signal.SIGKILL):
            end = self._clock() + 0.5
            while not self._eof and self._clock() < end:
                if self._poll.poll(50):
                    self._read()
            # SIGKILL is asynchronous: wait until the group is really gone, so that
            # "the attempt is over" also means "nothing of it still runs".
            end = self._clock() + 1.0
            while group_alive(self.pgid) and self._clock() < end:
                time.sleep(0.005)
        if self._watchdog is not None:
            self._watchdog.clear()
        if self._timekeeper is not None:
            self._timekeeper.forget(self)
        self._close_fds()
        code = self._exit_code
        # Stopped by the timekeeper, or seen exited, while the loop was held up: it ended
        # then, not now.
        duration = (self._ended_while_held_up() or self._clock()) - self.started
        if self.kill_outcome is not None:
            outcome, error = self.kill_outcome, self.kill_reason
            if code is not None and code < 0:
                error = f"{error}; killed by {_signal_name(-code)}"
        elif code == 0:
            outcome, error = RunOutcome.SUCCEEDED, None
        else:
            outcome, error = RunOutcome.FAILED, _describe_exit(code)
        if code is not None and code < 0:
            code = 128 - code  # as a shell reports a signal death: 128 + signal
        self.result = Result(outcome, code, self.output(), error, duration, self.buffer.total)

    def _close_fds(self) -> None:
        for fd in (self._fd, self._pidfd):
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd, self._pidfd = -1, None

    def abandon(self) -> None:
        """The caller is failing: kill the whole group, reap the shell, free the descriptors."""
        kill_group(self.pgid, signal.SIGKILL)
        if self._exit_code is None:
            with contextlib.suppress(ChildProcessError):
                self._exit_code = spawn.reap(self.pid, block=True)
        if self._watchdog is not None:
            self._watchdog.clear()
        if self._timekeeper is not None:
            self._timekeeper.forget(self)
        self._close_fds()


def _start_plain(
    command: str, cwd: str, env: Mapping[bytes, bytes], tty: bool
) -> spawn.Child | None:
    """``command``'s program started without a shell, as ``runtime.direct`` says; ``None``
    when the shell must start it (shell syntax, a builtin, or a program the shell would
    report as not found or not executable, or run as a script)."""
    words = direct.plain_words(command)
    if words is None:
        return None
    program = direct.find_program(words[0], env)
    if program is None:
        return None
    own = dict(env)
    own[b"PWD"] = direct.shell_pwd(own, cwd)
    try:
        return spawn.spawn(words, cwd=cwd, env=own, tty=tty, program=program)
    except OSError as exc:
        if spawn.short_of(exc) is not None:
            raise  # the system's shortage, not the program's: the shell would meet it too
        return None  # the shell tries the same, and says what went wrong as it would


_CWD_GONE = (errno.ENOENT, errno.ENOTDIR)
"""What ``stat`` of a job's directory says when it is not there: final, no retry can find it."""


def _unusable_cwd(cwd: str) -> Result | None:
    """Why the job cannot start in ``cwd``, as its attempt's result; ``None``: it can.

    Only a directory that is missing, or not a directory, fails for good. Any other
    error (``EIO`` or ``ESTALE`` of a network mount that is briefly away, ``EACCES``
    while permissions are being fixed) fails the attempt like any failure, to be
    retried with backoff: ``os.path.isdir`` said False for those too, and sent the
    job to the DLQ at once as "does not exist".
    """
    try:
        if stat.S_ISDIR(os.stat(cwd).st_mode):
            return None
    except OSError as exc:
        if exc.errno not in _CWD_GONE:
            return Result(
                RunOutcome.FAILED, None, "", f"cannot use working directory {cwd}: {exc}", 0.0
            )
    return Result(
        RunOutcome.FAILED,
        None,
        "",
        f"working directory {cwd} does not exist (or is not a directory);"
        " not retried, as no retry can find it",
        0.0,
        final=True,
    )


def _not_started(exc: OSError | ValueError, cwd: str) -> Result:
    """Why a command did not start, as its attempt's result.

    The job's own fault (a program or directory missing or refused, a NUL byte) fails
    the attempt. A system short of processes, memory, files or terminals gives the job
    back (``interrupted``, its attempt unspent): a burst of those sent healthy jobs to
    the DLQ. The worker decides how long the job waits (``Result.due_in``).
    """
    where = f" in {cwd}" if getattr(exc, "filename", None) == cwd else ""
    lacking = spawn.short_of(exc)
    if lacking is None:
        return Result(RunOutcome.FAILED, None, "", f"cannot start the command{where}: {exc}", 0.0)
    return Result(
        RunOutcome.INTERRUPTED,
        None,
        "",
        f"cannot start the command{where}: {exc}; the system is short of {lacking}",
        0.0,
        output_bytes=None,
    )


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits (Linux ≥ 5.3), else None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _describe_exit(code: int | None) -> str:
    if code == 127:
        return "command not found (exit 127)"
    if code == 126:
        return "command found but not executable (exit 126)"
    if code is not None and code < 0:
        return f"killed by {_signal_name(-code)}"
    if code is not None and code > 128 and code - 128 < signal.NSIG:
        return f"exit {code} (killed by {_signal_name(code - 128)}?)"
    return f"exit {code}"


def job_environment(
    job_id: str,
    attempt: int,
    base: Mapping[bytes, bytes] | None = None,
    job_env: Mapping[str, str] | None = None,
    *,
    worker_id: str | None = None,
) -> dict[bytes, bytes]:
    """A job's whole environment: the worker's, the job's own ``env`` over it, then
    the job's identity (``QUEUECTL_*``, which ``env`` may not set).

    The one place a job's environment is built. The worker's database location
    and login are left out (``without_database_secrets``); ``QUEUECTL_WORKER_ID``
    is also how the watchdog finds a job whose worker died while starting it
    (see ``queuectl.watchdog``).

    Bytes, not str: ``posix_spawn`` would otherwise encode every variable on
    every job (about 8% of a worker's instructions per trivial job). Workers
    pass their environment, encoded once, as ``base``.
    """
    env = without_database_secrets(os.environb if base is None else base)
    if job_env:
        env.update((os.fsencode(name), os.fsencode(value)) for name, value in job_env.items())
    env[b"QUEUECTL_JOB_ID"] = os.fsencode(job_id)
    env[b"QUEUECTL_ATTEMPT"] = b"%d" % attempt
    if worker_id is not None:
        env[b"QUEUECTL_WORKER_ID"] = os.fsencode(worker_id)
    return env
