"""Start a process cheaply: ``posix_spawn`` in a session of its own, output on one pipe.

On trivial jobs the cost of starting the shell is most of a queue's cost, so
this path is kept lean. ``os.posix_spawn`` (glibc: ``clone(CLONE_VM |
CLONE_VFORK)``) takes about a third of the CPU ``subprocess.Popen`` takes for
the same start (0.1 ms against 0.27 ms in the parent, measured with
``/bin/sh -c true``), because Popen builds the environment, an error pipe and
its bookkeeping in Python on every call.

What Popen would have done for us is done here by hand:

- the working directory: ``posix_spawn`` has no ``cwd`` (glibc's
  ``addchdir_np`` is not exposed), so the parent changes directory around the
  call and changes back. The process cwd is shared by all threads, so
  ``spawn`` is for single-threaded callers (the worker is one);
- every signal starts at its default action with none blocked, whatever the
  worker inherited: Python ignores SIGPIPE and SIGXFSZ (so ``yes | head``
  would end with "Broken pipe" instead of quietly, as in a terminal), and a
  worker started in the background (``queuectl worker run &``, nohup, a CI
  wrapper) inherits SIGINT and SIGQUIT ignored, which would make its jobs
  deaf to them. ``restore_signals=True`` resets only the first two. Asking
  for all costs nothing: glibc's child already visits every signal to clear
  handlers, and sets instead of reading each one in the set (glibc leaves its
  own internal signals 32 and 33 ignored; only glibc uses those);
- no descriptor leaks into the job: Python creates its own descriptors
  non-inheritable (PEP 446), and ``seal_inherited_fds`` marks the ones the
  process inherited at start, once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_DEFAULT_SIGNALS = tuple(
    sig for sig in signal.valid_signals() if sig not in (signal.SIGKILL, signal.SIGSTOP)
)
"""Every signal whose action can be set: a job gets each at its default action."""


@dataclass(frozen=True)
class Child:
    """A started process: its pid (also its process group) and the read end of its output."""

    pid: int
    output_fd: int


_session: dict[str, object] = {"setsid": True}
"""How a child gets its own process group: a new session, or (where ``posix_spawn``
cannot do that) a new group in ours, ``{"setpgroup": 0}``. Probed on first use."""

_origin: int | str | None = None
"""Where to come back to after a spawn: a directory descriptor, or a path when none opens."""

_sealed = False


def seal_inherited_fds() -> None:
    """Mark every descriptor above 2 non-inheritable, so no job receives it.

    Python's own descriptors already are; this catches those the process was
    started with (a shell's or a parent's leaked descriptors). Runs once.
    """
    global _sealed
    if _sealed:
        return
    _sealed = True
    try:
        names = os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else []
    except OSError:
        names = []
    for name in names:
        if not name.isdigit() or int(name) <= 2:
            continue
        with contextlib.suppress(OSError):
            os.set_inheritable(int(name), False)


def _origin_directory() -> int | str:
    global _origin
    if _origin is None:
        flags = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0)
        try:
            _origin = os.open(".", flags)
        except OSError:
            _origin = os.getcwd()
    return _origin


def _return_home() -> None:
    origin = _origin_directory()
    if isinstance(origin, int):
        os.fchdir(origin)
    else:
        os.chdir(origin)


def _high_fd(fd: int) -> int:
    """``fd`` moved above 2: a dup2 onto itself would be a no-op that keeps CLOEXEC.

    Only happens when the process was started with stdin/stdout/stderr closed.
    """
    if fd > 2:
        return fd
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    os.close(fd)
    return high


def spawn(
    argv: Sequence[str],
    *,
    cwd: str | None,
    env: Mapping[bytes, bytes] | Mapping[str, str],
    stdin_fd: int | None = None,
    extra_fds: Mapping[int, int] | None = None,
    capture: bool = True,
    tty: bool = False,
    program: str | None = None,
) -> Child:
    """Start ``argv`` in its own session with stdout and stderr on one pipe.

    Args:
        argv: the program and its arguments; ``argv[0]`` must be a path unless
            ``program`` is given.
        cwd: where it runs; ``None`` for the caller's directory.
        env: its whole environment (bytes cost nothing to pass; str is encoded).
        stdin_fd: a descriptor for its stdin; ``/dev/null`` when ``None``.
        extra_fds: more descriptors to pass, as ``{number in the child: ours}``.
        capture: ``False`` sends output to ``/dev/null`` (``output_fd`` is then -1).
        tty: stdout and stderr on a pseudo-terminal (``TTY_SIZE``, newlines kept as
            ``\n``) instead of a pipe: ``isatty(1)`` is true, so programs that colour
            only on terminals do. stdin stays ``/dev/null``: a job never waits on input.
        program: the path of the program to run, when ``argv[0]`` is only its name.

    Raises:
        OSError: the directory or the program cannot be used.
        ValueError: an argument holds a NUL byte.
    """
    seal_inherited_fds()
    read_fd = write_fd = -1
    actions: list[tuple] = []
    if stdin_fd is None:
        actions.append((os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
    else:
        actions.append((os.POSIX_SPAWN_DUP2, stdin_fd, 0))
    if capture and tty:
        read_fd, write_fd = _pty()
        actions += [(os.POSIX_SPAWN_DUP2, write_fd, 1), (os.POSIX_SPAWN_DUP2, write_fd, 2)]
    elif capture:
        read_fd, write_fd = os.pipe()
        read_fd, write_fd = _high_fd(read_fd), _high_fd(write_fd)
        actions += [(os.POSIX_SPAWN_DUP2, write_fd, 1), (os.POSIX_SPAWN_DUP2, write_fd, 2)]
    else:
        actions += [
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
    for target, source in (extra_fds or {}).items():
        actions.append((os.POSIX_SPAWN_DUP2, source, target))
    try:
        if cwd is not None:
            _origin_directory()
            os.chdir(cwd)
        try:
            pid = _posix_spawn(program or argv[0], argv, env, actions)
        finally:
            if cwd is not None:
                _return_home()
    except BaseException:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)
        raise
    if write_fd >= 0:
        os.close(write_fd)
    return Child(pid=pid, output_fd=read_fd)


TTY_SIZE = (40, 120)
"""Rows and columns a ``tty`` job's terminal reports (``stty size``)."""


def _pty() -> tuple[int, int]:
    """A pseudo-terminal pair (ours, the job's), with output post-processing off.

    Without ONLCR clear, every ``\n`` the job writes would be stored as ``\r\n``.
    """
    ours, theirs = os.openpty()
    try:
        attributes = termios.tcgetattr(theirs)
        attributes[1] &= ~termios.ONLCR
        termios.tcsetattr(theirs, termios.TCSANOW, attributes)
        rows, columns = TTY_SIZE
        fcntl.ioctl(theirs, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        os.set_inheritable(ours, False)
        return _high_fd(ours), _high_fd(theirs)
    except BaseException:
        os.close(ours)
        os.close(theirs)
        raise


def _posix_spawn(
    program: str,
    argv: Sequence[str],
    env: Mapping[bytes, bytes] | Mapping[str, str],
    actions: list[tuple],
) -> int:
    while True:
        session = dict(_session)
        try:
            return os.posix_spawn(
                program,
                list(argv),
                env,
                file_actions=actions,
                setsigdef=_DEFAULT_SIGNALS,
                setsigmask=(),
                **session,  # type: ignore[arg-type]
            )
        except NotImplementedError:
            if "setpgroup" in session:
                raise
            # No POSIX_SPAWN_SETSID here (old macOS): a process group of its
            # own is what group kills need; only the controlling terminal stays.
            _session.clear()
            _session["setpgroup"] = 0


SHORTAGES: dict[int, str] = {
    errno.EAGAIN: "processes or threads (RLIMIT_NPROC, the pid or thread limit, pids.max)",
    errno.ENOMEM: "memory",
    errno.ENFILE: "open files (the system's file table is full)",
    errno.EMFILE: "open files (the worker's own limit)",
    errno.ENOSPC: "pseudo-terminals (kernel.pty.max)",
}
"""What a failed ``spawn`` says the system lacked, by errno. None of these is the job's
doing: ``spawn`` raises them before the job's program runs (the pipe, the terminal, the
fork, the exec's memory), so they say nothing of the job, and pass. A program or a
directory that is missing or refused (``ENOENT``, ``EACCES``, ``ENOTDIR``) is the job's."""


def short_of(exc: BaseException) -> str | None:
    """What the system lacked when ``spawn`` raised ``exc``; ``None`` when the job is at fault."""
    return SHORTAGES.get(exc.errno) if isinstance(exc, OSError) and exc.errno else None


def reap(pid: int, *, block: bool = False) -> int | None:
    """The exit code of ``pid`` once it has exited (negative: killed by that signal), else None.

    Raises:
        ChildProcessError: ``pid`` is not (or no longer) our child.
    """
    done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    if done == 0:
        return None
    return os.waitstatus_to_exitcode(status)
