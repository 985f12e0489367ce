"""A throwaway PostgreSQL server that a test owns, so it can restart or crash it.

The shared server in ``QUEUECTL_TEST_PG_URL`` is everybody's: an outage test
needs its own. ``initdb`` refuses to run as root, so when the tests run as
root the server runs as the ``postgres`` user (through ``runuser``), with its
data and socket in a folder that user owns. Tests skip, saying why, where the
binaries or that user are missing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

BIN_GLOB = "/usr/lib/postgresql/*/bin"


def _bin_dir() -> str | None:
    for folder in sorted(glob.glob(BIN_GLOB), reverse=True):
        if os.path.exists(os.path.join(folder, "initdb")):
            return folder
    found = shutil.which("initdb")
    return os.path.dirname(found) if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def why_not() -> str | None:
    """Why no throwaway server can run here, or ``None`` when one can."""
    if _bin_dir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run initdb as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


class PgServer:
    """One private PostgreSQL cluster on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self.bin = _bin_dir() or ""
        self.port = _free_port()
        self.root = tempfile.mkdtemp(prefix="queuectl-pg-")
        self.data = os.path.join(self.root, "data")
        self.log = os.path.join(self.root, "server.log")
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        subprocess.run(
            [*self._as, *argv], check=True, capture_output=True, timeout=timeout, cwd=self.root
        )

    def init(self) -> None:
        self._run(
            os.path.join(self.bin, "initdb"),
            "-D",
            self.data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def _options(self) -> str:
        # fsync stays on: a crash test must lose exactly what a real crash loses
        # (asynchronous commits not yet flushed), no more.
        return f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"

    def start(self) -> None:
        self._run(
            os.path.join(self.bin, "pg_ctl"),
            "-D",
            self.data,
            "-l",
            self.log,
            "-o",
            self._options(),
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast`` is a routine shutdown; ``immediate`` is a crash (no checkpoint)."""
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def throwaway_server() -> Iterator[PgServer]:
    """A started server, destroyed (data included) on the way out."""
    reason = why_not()
    if reason:
        pytest.skip(f"outage tests need their own PostgreSQL server: {reason}")
    server = PgServer()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()
