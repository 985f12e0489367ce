"""A real ``queuectl web`` process for tests, and the facts they check about it.

The server runs as a user runs it (``python -m queuectl web --port 0``); its
URL is read from its stdout, which must say nothing else. Session processes
are found by what they are (``queuectl.web.child`` carrying this server's pid
in its environment), not by parentage, so one that escaped its server would
still be counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from tests.polling import wait_until

START_SECONDS = 20.0
"""Deadline for the server to print its URL (it imports aiohttp and opens the database)."""


class Served:
    """A running ``queuectl web``: its URL, token, pid, and what it logs on stderr."""

    def __init__(self, db: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.db = db
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - read after stop(), freed with self
        base_env = {k: v for k, v in os.environ.items() if k != "QUEUECTL_DB"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "queuectl", "web", "--db", db, "--port", "0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**base_env, **(env or {})},
        )
        self.url = self._read_url()
        parts = urlsplit(self.url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.token = parse_qs(parts.query)["token"][0]

    def _read_url(self) -> str:
        """The first line on stdout, as soon as it is written (it must be flushed at once)."""
        assert self.proc.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_SECONDS
        line = b""
        while not line.endswith(b"\n"):
            if time.monotonic() > deadline or not selector.select(deadline - time.monotonic()):
                self.stop()
                raise AssertionError(f"no URL within {START_SECONDS}s; stderr: {self.log()}")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                self.stop()
                raise AssertionError(f"queuectl web exited; stderr: {self.log()}")
            line += chunk
        selector.close()
        return line.decode().strip()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        """What the server wrote on stderr so far (read without moving its write offset)."""
        fd = self._stderr.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def wait_log(self, pattern: str, timeout: float = 10.0) -> str:
        """The log, once a line matching ``pattern`` is in it (it is written after the fact)."""
        wait_until(lambda: re.search(pattern, self.log()), timeout, f"{pattern!r} in the log")
        return self.log()

    def sessions(self) -> list[int]:
        """Live session processes of this server."""
        return session_processes(self.pid)

    def wait_sessions(self, count: int, timeout: float = 15.0) -> list[int]:
        wait_until(
            lambda: len(self.sessions()) == count,
            timeout,
            f"{count} session process(es), have {self.sessions()}",
        )
        return self.sessions()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal the server and wait for it; returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        for pid in session_processes(self.pid):  # never leave one behind, even on failure
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return status


def session_processes(server_pid: int) -> list[int]:
    """Pids of live ``queuectl.web.child`` processes started by ``server_pid``."""
    marker = f"QUEUECTL_WEB_SERVER={server_pid}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            if b"queuectl.web.child" not in cmdline:
                continue
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        if marker in environ and stat[stat.rfind(")") + 2] != "Z":
            found.append(int(entry))
    return found


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def environ(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(p.decode().split("=", 1) for p in pairs if b"=" in p)


def get(served: Served, path: str, **headers: str) -> tuple[int, dict[str, str], str]:
    """One HTTP GET: (status, headers, body); redirects are not followed."""

    async def fetch() -> tuple[int, dict[str, str], str]:
        async with (
            aiohttp.ClientSession() as client,
            client.get(served.origin + path, headers=headers, allow_redirects=False) as reply,
        ):
            return reply.status, dict(reply.headers), await reply.text(errors="replace")

    return asyncio.run(fetch())


class Sockets:
    """Browser-like websocket sessions on a served dashboard, held open until closed."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.loop = asyncio.new_event_loop()
        self.client = self.loop.run_until_complete(_client())
        self.open: list[aiohttp.ClientWebSocketResponse] = []

    def connect(
        self, *, token: str | None = None, origin: str | None = None, in_path: bool = False
    ) -> Any:
        """Open one; returns the websocket, or the HTTP status it was refused with.

        ``token``: the server's by default; ``""`` sends none. ``in_path``: as the page
        sends it, ``/ws/TOKEN?width=…``, instead of in the query.
        """
        token = self.served.token if token is None else token
        if in_path:
            query = f"/{token}?width=100&height=30"
        else:
            query = "?width=100&height=30" + (f"&token={token}" if token else "")
        headers = {"Origin": origin or self.served.origin}

        async def connect() -> Any:
            try:
                return await self.client.ws_connect(
                    self.served.origin.replace("http", "ws") + "/ws" + query, headers=headers
                )
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

        result = self.loop.run_until_complete(connect())
        if not isinstance(result, int):
            self.open.append(result)
        return result

    def receive(self, socket: aiohttp.ClientWebSocketResponse, timeout: float = 15.0) -> Any:
        return self.loop.run_until_complete(socket.receive(timeout))

    def close(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.loop.run_until_complete(socket.close())
        self.open.remove(socket)

    def close_all(self) -> None:
        for socket in list(self.open):
            self.close(socket)
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


async def _client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()
