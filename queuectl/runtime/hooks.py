"""Running ``on_success``/``on_failure`` hooks: after the commit, off the claim path.

A hook is a shell command a user configured (``queuectl config set on_failure
…`` or a job's own key); ``lifecycle.hooks`` decides which one an outcome calls
for, and the process that committed the outcome hands it to a ``HookRunner``.
A worker's runner runs hooks one at a time on a thread of its own, so a slow
hook never delays the next job; the CLI's (recovery from ``worker stop`` or
``prune``) runs them before the command returns.

Each hook runs as ``/bin/sh -c COMMAND`` in a session and process group of its
own, with the worker's environment less the database's location and login
(``location.without_database_secrets``, as for jobs) plus ``QUEUECTL_*``
variables describing the job. It is killed, group and all, after
``hook_timeout``; whatever it leaves running when its shell exits is killed
too, as for jobs. Its output (the last ``OUTPUT_CAP`` bytes) goes to the log.
A hook's failure or timeout is logged and changes nothing: the job's outcome
was committed before it started. At most once: a process that dies between the
commit and the hook skips it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import selectors
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from queuectl.lifecycle.hooks import HookCall
from queuectl.location import without_database_secrets
from queuectl.textsafe import inert, one_line
from queuectl.timeutil import human_duration

log = logging.getLogger("queuectl.worker")

OUTPUT_CAP = 4096
"""Bytes of a hook's output kept for the log (the tail)."""

KILL_GRACE = 1.0
"""Seconds between SIGTERM and SIGKILL for a hook that timed out."""

MAX_WAITING = 1000
"""Hooks a worker lets wait for its hook thread; beyond, new ones are skipped (and
logged): a hook slower than the jobs it follows must not grow the worker without bound."""


@dataclass(frozen=True)
class HookResult:
    """How a hook ended."""

    exit_code: int | None
    """The shell's exit status (negative: killed by that signal); ``None`` if it never ran."""
    timed_out: bool
    duration: float
    output: bytes
    """The tail of what it printed, at most ``OUTPUT_CAP`` bytes."""
    error: str | None = None
    """Why it could not start."""


ARG_STRING_MAX = 128 * 1024
"""Linux's limit on one argument or environment string (``MAX_ARG_STRLEN``), its NUL
included: a longer one fails the whole ``execve`` with "Argument list too long"."""

CUT_MARK = " …[cut]"


def _fits_one_string(name: str, value: str) -> str:
    """``value`` (NULs dropped) as a ``NAME=value`` string Linux accepts: a job's command
    may be 131,071 bytes, which with ``QUEUECTL_COMMAND=`` in front is too long, and the
    hook then never started ("could not start: Argument list too long"). Cut to fit,
    marked, between characters; the job's id names the whole command."""
    value = value.replace("\x00", "")
    room = ARG_STRING_MAX - 1 - len(name.encode()) - 1  # "=" and the NUL
    encoded = value.encode("utf-8", "surrogateescape")
    if len(encoded) <= room:
        return value
    keep = encoded[: room - len(CUT_MARK.encode())]
    return keep.decode("utf-8", "ignore") + CUT_MARK


def hook_environment(call: HookCall, output_file: str, base: Mapping[bytes, bytes]) -> dict:
    """The hook's environment: ``base`` without database secrets, plus the job's facts."""
    env = without_database_secrets(base)
    env.update(
        (os.fsencode(name), os.fsencode(value))
        for name, value in {
            "QUEUECTL_HOOK": call.event,
            "QUEUECTL_JOB_ID": call.job_id,
            "QUEUECTL_JOB_STATE": call.state,
            "QUEUECTL_EXIT_CODE": "" if call.exit_code is None else str(call.exit_code),
            "QUEUECTL_ATTEMPT": str(call.attempt),
            "QUEUECTL_COMMAND": _fits_one_string("QUEUECTL_COMMAND", call.job_command),
            "QUEUECTL_QUEUE": call.queue,
            "QUEUECTL_OUTPUT_FILE": output_file,
        }.items()
    )
    env.pop(b"QUEUECTL_WORKER_ID", None)
    return env


def run_hook(
    call: HookCall,
    *,
    timeout: float,
    base: Mapping[bytes, bytes] | None = None,
    directory: str | None = None,
) -> HookResult:
    """Run one hook to its end or its timeout; the output file is removed afterwards.

    ``directory`` is where it runs (default: this process's working directory as it is
    at the start, which a worker's spawn changes for an instant on another thread)."""
    started = time.monotonic()
    fd, output_file = tempfile.mkstemp(prefix="queuectl-hook-", suffix=".out")  # 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(call.output.encode("utf-8", "replace"))
        env = hook_environment(call, output_file, os.environb if base is None else base)
        try:
            process = subprocess.Popen(
                ["/bin/sh", "-c", call.command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                cwd=directory,
            )
        except OSError as exc:
            return HookResult(None, False, time.monotonic() - started, b"", exc.strerror)
        output, timed_out = _pump(process, started + timeout)
        code = _end(process, timed_out)
        return HookResult(code, timed_out, time.monotonic() - started, output)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(output_file)


def _pump(process: subprocess.Popen[bytes], deadline: float) -> tuple[bytes, bool]:
    """Read the hook's output (keeping the tail) until its shell exits or the deadline.

    The shell's exit, not the pipe's end, ends the wait: a background child that
    keeps the pipe open is killed with the group in ``_end``.
    """
    assert process.stdout is not None
    kept = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return bytes(kept), True
            if selector.select(min(remaining, 0.05)):
                chunk = os.read(process.stdout.fileno(), 65536)
                if chunk:
                    kept += chunk
                    del kept[:-OUTPUT_CAP]
                    continue
            if _exited(process.pid):
                while selector.select(0):  # what it wrote just before exiting
                    chunk = os.read(process.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    kept += chunk
                    del kept[:-OUTPUT_CAP]
                return bytes(kept), False


def _exited(pid: int) -> bool:
    """Whether the shell has exited, without reaping it (its group id stays ours to kill)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _end(process: subprocess.Popen[bytes], timed_out: bool) -> int | None:
    """Kill what is left of the hook's group, reap the shell, and return its status."""
    if timed_out:
        _kill_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(KILL_GRACE)
    _kill_group(process.pid, signal.SIGKILL)
    code = process.wait()
    assert process.stdout is not None
    process.stdout.close()
    return code


def _kill_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def describe(call: HookCall, result: HookResult) -> tuple[int, str]:
    """The log level and text for a hook's end: one line, then its output (inert) indented."""
    what = f"hook {call.event} for job {call.job_id} ({call.state})"
    took = human_duration(result.duration)
    if result.error is not None:
        return logging.WARNING, f"{what} could not start: {one_line(result.error)}"
    if result.timed_out:
        level = logging.WARNING
        text = f"{what} timed out after {took}; its process group was killed"
    elif result.exit_code == 0:
        level, text = logging.INFO, f"{what} exited 0 in {took}"
    else:
        level, text = logging.WARNING, f"{what} failed (exit {result.exit_code}) in {took}"
    shown = inert(result.output.decode("utf-8", "replace")).rstrip("\n")
    if shown:
        text += "".join(f"\n  {line}" for line in shown.split("\n"))
    return level, text


class HookRunner:
    """Runs the hooks a process hands it, after the outcomes were committed.

    Args:
        timeout: the current ``hook_timeout`` in seconds, asked for each hook (a
            worker reloads its settings every heartbeat).
        background: run hooks on a thread of this runner's (a worker: the next
            job never waits for a hook), started with the first hook; else run
            each one before ``submit`` returns (the CLI).
        environment: the environment hooks start from (default: this process's).
        report: where each hook's end is told (level, text); default: the worker's log.

    Hooks run in the working directory the process had when the runner was made. A
    worker's spawn changes directory to the job's ``cwd`` for an instant (``spawn``:
    ``posix_spawn`` has no ``cwd``), and a hook started on this runner's thread in that
    instant ran in another job's folder.
    """

    def __init__(
        self,
        timeout: Callable[[], float],
        *,
        background: bool = True,
        environment: Mapping[bytes, bytes] | None = None,
        report: Callable[[int, str], None] | None = None,
    ) -> None:
        self._report = report or (lambda level, text: log.log(level, "%s", text))
        self._timeout = timeout
        self._background = background
        self._environment = environment
        try:
            self._directory: str | None = os.getcwd()
        except OSError:  # it was removed: the hooks inherit whatever it is then
            self._directory = None
        self._queue: queue.Queue[HookCall | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.ran = 0
        """Hooks run to an end (whatever the end), for tests and the log."""

    def submit(self, call: HookCall) -> None:
        """Run ``call`` now (foreground) or soon on the hook thread (background)."""
        if not self._background:
            self._run(call)
            return
        if self._queue.qsize() >= MAX_WAITING:
            log.warning(
                "hook %s for job %s skipped: %d hooks already wait (they are slower than the jobs)",
                call.event,
                call.job_id,
                MAX_WAITING,
            )
            return
        if self._thread is None:
            thread = threading.Thread(target=self._loop, name="queuectl-hooks", daemon=True)
            try:
                thread.start()
            except RuntimeError as exc:  # "can't start new thread": the system's thread limit
                # Skipped as a hook that cannot start its process is: the outcome is
                # committed, and raising here killed the worker and the job it had claimed
                # next ran again as lost. The next hook tries the thread again.
                self._report(
                    logging.WARNING,
                    f"hook {call.event} for job {call.job_id} could not run: {exc}",
                )
                return
            self._thread = thread
        self._queue.put(call)

    def close(self) -> None:
        """Run the hooks still waiting (each bounded by its timeout), then stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        while (call := self._queue.get()) is not None:
            self._run(call)

    def _run(self, call: HookCall) -> None:
        try:
            result = run_hook(
                call, timeout=self._timeout(), base=self._environment, directory=self._directory
            )
        except OSError as exc:  # no temp folder, out of descriptors: the job is unaffected
            self._report(
                logging.WARNING,
                f"hook {call.event} for job {call.job_id} could not run: {one_line(str(exc))}",
            )
            return
        self.ran += 1
        self._report(*describe(call, result))
