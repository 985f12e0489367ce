"""``queuectl`` in a pseudo-terminal of a given size, for tests and benchmarks that need
the real dashboard process: Textual draws on stderr and reads keys from stdin, so both
(and stdout) are the terminal's far end."""

from __future__ import annotations

import os
import pty
import struct
import subprocess
import sys
import termios
from collections.abc import Mapping
from fcntl import ioctl


def in_a_terminal(
    args: list[str],
    *,
    columns: int,
    rows: int,
    env: Mapping[str, str],
    cwd: str | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``python -m queuectl ARGS`` on a new pseudo-terminal of ``columns`` x ``rows``,
    in a session of its own; returns the process and the terminal's near end (read what
    it draws, write keys), which the caller closes."""
    leader, follower = pty.openpty()
    ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "queuectl", *args],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        os.close(follower)
    return process, leader
