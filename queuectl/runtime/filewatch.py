"""Block until a file is written to, on Linux's inotify, with no thread and no dependency.

An idle SQLite worker used to learn of new work by reading ``PRAGMA
data_version`` every 25 ms: half that, on average, between an enqueue and
its start, and every idle worker awake 40 times a second for nothing. Every
commit writes the database's write-ahead log, so a watch on that file wakes
the worker the moment any process commits. The watch only says "look now":
the caller still decides from ``data_version`` whether anything changed, so
a missed or spurious event costs at most one slice of its polling.

The standard library has no inotify; ctypes reaches the three libc calls it
takes. Elsewhere (macOS, a libc without them) ``FileWatch.open`` returns
None and the caller polls as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import math
import os
import select
import struct

IN_MODIFY = 0x00000002
IN_DELETE_SELF = 0x00000400
IN_IGNORED = 0x00008000
"""The kernel dropped the watch (the file was deleted): add it again when the file is back."""

_IN_NONBLOCK = os.O_NONBLOCK  # defined as these by the kernel, whatever the architecture
_IN_CLOEXEC = os.O_CLOEXEC
_EVENT = struct.Struct("iIII")
"""``struct inotify_event`` without its name: wd, mask, cookie, len."""


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    except (OSError, AttributeError):
        return None
    return libc


class FileWatch:
    """Wait until ``path`` is written to, or a timeout passes.

    Create with ``open``; ``wait`` returns ``True`` when a write (or a
    deletion) was seen. A deleted file is watched again once it exists anew,
    as SQLite recreates its write-ahead log after the last connection closed.
    """

    def __init__(self, libc: ctypes.CDLL, fd: int, path: str) -> None:
        self._libc = libc
        self._fd = fd
        self._path = os.fsencode(path)
        self._watching = False
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    @classmethod
    def open(cls, path: str) -> FileWatch | None:
        """A watch on ``path``, or None where inotify is unavailable.

        Raises:
            OSError: inotify exists but refused a new instance (its per-user limit).
        """
        libc = _libc()
        if libc is None:
            return None
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        watch = cls(libc, fd, path)
        watch._arm()
        return watch

    def _arm(self) -> None:
        if not self._watching:
            wd = self._libc.inotify_add_watch(self._fd, self._path, IN_MODIFY | IN_DELETE_SELF)
            self._watching = wd >= 0

    @property
    def watching(self) -> bool:
        """Whether writes are being seen now (False while the file does not exist)."""
        self._arm()
        return self._watching

    def wait(self, timeout: float) -> bool:
        """Sleep until the file is written or ``timeout`` seconds pass; True on a write."""
        self._arm()
        if not self._watching:
            return False
        if not self._poll.poll(max(0, math.ceil(timeout * 1000))):
            return False
        return self._drain()

    def _drain(self) -> bool:
        """Read every queued event (many commits may have piled up): one wake for all."""
        seen = False
        while True:
            try:
                data = os.read(self._fd, 4096)
            except BlockingIOError:
                return seen
            offset = 0
            while offset + _EVENT.size <= len(data):
                _wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size + length
                if mask & IN_IGNORED:
                    self._watching = False
                seen = True

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
