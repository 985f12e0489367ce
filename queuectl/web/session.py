"""One browser tab's dashboard: a process group of its own, fed by a websocket.

The dashboard runs as ``python -m queuectl.web.child`` with Textual's web
driver, which speaks a small framed protocol on its pipes (textual-serve's):
after a ``__GANGLION__`` line, each packet on stdout is a type byte (``D``
screen data, ``M`` JSON meta, ``P`` a packed download chunk), a 4-byte
big-endian length and the payload; the same framing (``D`` keys, ``M`` meta)
goes the other way on stdin.

textual-serve's own ``AppService`` starts the app through a shell, in the
server's process group, and its ``stop`` waits for the app to quit for as long
as that takes: a tab closed abruptly left an app spinning at most of a core,
surviving the server. Here each app is a session leader, so its whole group
is killed when its tab goes, when it sits idle, and when the server stops;
and it dies with the server even on ``kill -9`` (``child`` asks the kernel).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from itertools import count
from pathlib import Path
from typing import Any

from aiohttp import web
from textual_serve._binary_encode import load as unpack
from textual_serve.download_manager import DownloadManager

from queuectl.runtime import procs
from queuectl.web.wire import ENDED, RECONNECT, UNSAVED

log = logging.getLogger("queuectl.web")

QUIT_GRACE_SECONDS = 2.0
"""How long an app is given to quit when asked, before its group is killed."""
PRELUDE_LINES = 10
"""Lines an app may print before ``__GANGLION__`` (Textual prints none; a crash prints some)."""
MAX_CELLS = 2000
"""Widest or tallest terminal a browser may ask for; more is a bogus message."""
BROWSER_LEFT = "the browser left"
"""Why a session ended when nothing else said: the tab closed, so nobody is told."""
SERVER_STOPPED = "the server stopped"
"""A session's end the tab outlives: it reconnects once the server is back (``tell_ended``)."""
EXIT_WAIT = 2.0
"""Seconds a dashboard that closed its output is given to exit, for its exit status."""
ERROR_PREFIX = "Error: "
"""How the app's one-line errors start (click's ``ClickException``, as every command's)."""
OPENABLE = ("http://", "https://")
"""What the app may have the browser open (the page runs ``window.open(url)``): a
link in text shown as markup could otherwise name ``javascript:`` (which runs in
the page, beside its token, where the page's policy did not forbid it), ``file:``
or another program's URL scheme."""

_numbers = count(1)


class AppSession:
    """A dashboard process for one websocket: start, feed it the browser's input, stop it."""

    def __init__(
        self,
        websocket: web.WebSocketResponse,
        *,
        command: Sequence[str],
        env: Mapping[str, str],
        downloads: DownloadManager,
        redact: Callable[[str], str],
    ) -> None:
        self.number = next(_numbers)
        """Short id for the server's log lines."""
        self.app_service_id = uuid.uuid4().hex
        """The name ``DownloadManager`` knows this session by."""
        self.websocket = websocket
        self.last_input = time.monotonic()
        """When the person last typed, clicked, resized or came back to the tab."""
        self.end_reason = BROWSER_LEFT
        self.failure: str | None = None
        """The app's own one-line error (``Error: …`` on stderr), redacted, once it printed one."""
        self._command = list(command)
        self._env = dict(env)
        self._downloads = downloads
        self._redact = redact
        self._process: asyncio.subprocess.Process | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self._started = False
        """The app said it is up (``__GANGLION__``): only then can it be asked to quit."""

    @property
    def pid(self) -> int | None:
        """The app's pid, which is also its process group (``None`` before ``start``)."""
        return None if self._process is None else self._process.pid

    async def start(self, width: int, height: int) -> None:
        """Start the app in a new session (so a new process group), sized to the browser."""
        env = {**self._env, "COLUMNS": str(width), "ROWS": str(height)}
        self._process = await asyncio.create_subprocess_exec(
            *self._command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )

    # --- app → browser ----------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether the dashboard has started (its screen flows to the browser)."""
        return self._started

    async def pump(self) -> None:
        """Forward the app's screen to the browser until the app exits; then close the socket."""
        process = self._process
        assert process is not None and process.stdout is not None and process.stderr is not None
        stderr = asyncio.create_task(self._relay_stderr(process.stderr))
        stdout = process.stdout
        started = False
        try:
            if started := await self._prelude(stdout):
                self._started = True
                # Idle from the moment there is a dashboard to use: a start slowed by a
                # busy host counted, and an idle limit shorter than it ended the session
                # before it began (said as "could not start").
                self.last_input = time.monotonic()
                while True:
                    kind = await stdout.readexactly(1)
                    size = int.from_bytes(await stdout.readexactly(4), "big")
                    payload = await stdout.readexactly(size)
                    if kind == b"D":
                        await self.websocket.send_bytes(payload)
                    elif kind == b"M":
                        await self._on_meta(json.loads(payload))
                    elif kind == b"P":
                        await self._on_packed(payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the app exited, or the browser went while we wrote to it
        finally:
            await stderr
        if self._stop_task is None:  # it ended on its own, not because we stopped it
            self.end_reason = (
                await self._how_it_ended(process)
                if started
                else "the dashboard failed to start (see above)"
            )
        if not started:
            why = f": {self.failure}" if self.failure else "; the server's log says why"
            await tell_ended(self.websocket, f"The dashboard could not start{why}")
        elif self.end_reason != BROWSER_LEFT:  # idle too long, quit, the server stopped
            await tell_ended(
                self.websocket,
                f"The session ended: {self.end_reason}",
                comes_back=self.end_reason == SERVER_STOPPED,
            )
        await self.websocket.close()

    @staticmethod
    async def _how_it_ended(process: asyncio.subprocess.Process) -> str:
        """Why a dashboard that was running ended on its own, from its exit status: one
        killed (the OOM killer, an administrator) or dead of an error was said as "the
        dashboard quit", as if the person had pressed ``q``."""
        try:
            code = await asyncio.wait_for(process.wait(), EXIT_WAIT)
        except TimeoutError:
            return "the dashboard stopped answering"
        if code == 0:
            return "the dashboard quit"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the dashboard was killed ({name})"
        return f"the dashboard ended with an error (exit status {code}; the server's log says why)"

    async def _prelude(self, stdout: asyncio.StreamReader) -> bool:
        for _ in range(PRELUDE_LINES):
            line = await stdout.readline()
            if line == b"__GANGLION__\n":
                return True
            if not line:
                return False
        return False

    async def _relay_stderr(self, stderr: asyncio.StreamReader) -> None:
        """What the app prints on stderr (a traceback, say) goes to the server's log, redacted."""
        while chunk := await stderr.read(65536):
            for line in chunk.decode("utf-8", "replace").splitlines():
                if line.strip():
                    log.warning("session %d: %s", self.number, self._redact(line))
                if line.startswith(ERROR_PREFIX):
                    self.failure = self._redact(line.removeprefix(ERROR_PREFIX))

    async def _on_meta(self, meta: dict[str, Any]) -> None:
        kind = meta.get("type")
        if kind == "open_url":
            url = str(meta.get("url"))
            if not url.lower().startswith(OPENABLE):
                log.warning("session %d: not opening %s", self.number, self._redact(url)[:200])
                return
            payload = {"url": url, "new_tab": meta.get("new_tab", True)}
            await self.websocket.send_str(json.dumps(["open_url", payload]))
        elif kind == "deliver_file_start":
            key = str(meta["key"])
            await self._downloads.create_download(
                app_service=self,  # type: ignore[arg-type]  # duck-typed: id and send_meta
                delivery_key=key,
                file_name=Path(str(meta["path"])).name,
                open_method=str(meta["open_method"]),
                mime_type=str(meta["mime_type"]),
                encoding=meta.get("encoding"),
                name=meta.get("name"),
            )
            await self.websocket.send_str(json.dumps(["deliver_file_start", key]))
        elif kind == UNSAVED:  # the page asks before a reload or a close loses it
            await self.websocket.send_str(json.dumps([UNSAVED, meta.get("unsaved") is True]))
        else:  # "exit" (the pump ends next), or something newer than us
            log.debug("session %d: meta %r ignored", self.number, kind)

    async def _on_packed(self, payload: bytes) -> None:
        unpacked = unpack(payload)
        if isinstance(unpacked, tuple | list) and unpacked and unpacked[0] == "deliver_chunk":
            _, key, chunk = unpacked
            await self._downloads.chunk_received(key, chunk)

    # --- browser → app ----------------------------------------------------------------

    async def feed(self, text: str) -> None:
        """Act on one message from the page's script; anything malformed is dropped."""
        try:
            envelope = json.loads(text)
        except ValueError:
            return
        if not isinstance(envelope, list) or not envelope:
            return
        kind, argument = envelope[0], envelope[1] if len(envelope) > 1 else None
        if kind == "stdin" and isinstance(argument, str):
            self.last_input = time.monotonic()
            await self._write(b"D", argument.encode("utf-8", "surrogateescape"))
        elif kind == "resize" and isinstance(argument, dict):
            width, height = argument.get("width"), argument.get("height")
            if _cells(width) and _cells(height):
                self.last_input = time.monotonic()
                await self.send_meta({"type": "resize", "width": width, "height": height})
        elif kind == "ping" and isinstance(argument, str):
            await self.websocket.send_json(["pong", argument])
        elif kind == "focus":
            self.last_input = time.monotonic()
            await self.send_meta({"type": "focus"})
        elif kind == "blur":
            await self.send_meta({"type": "blur"})

    async def send_meta(self, meta: dict[str, Any]) -> bool:
        """Send a meta packet (``DownloadManager`` calls it too); ``False`` once the app is gone."""
        return await self._write(b"M", json.dumps(meta).encode())

    async def _write(self, kind: bytes, payload: bytes) -> bool:
        process = self._process
        if process is None or process.stdin is None or process.returncode is not None:
            return False
        try:
            process.stdin.write(kind + len(payload).to_bytes(4, "big") + payload)
            await process.stdin.drain()
        except (ConnectionError, RuntimeError):
            return False
        return True

    # --- the end ----------------------------------------------------------------------

    async def stop(self, reason: str | None = None, grace: float = QUIT_GRACE_SECONDS) -> None:
        """Ask the app to quit, kill its whole group after ``grace`` s, and reap it.

        Safe to call from several places at once (the socket's end, the idle
        timer, the server's shutdown): the first call does the work.
        """
        if self._stop_task is None:
            if reason:
                self.end_reason = reason
            self._stop_task = asyncio.ensure_future(self._stop(grace))
        await asyncio.shield(self._stop_task)

    def kill(self) -> None:
        """Kill the app's group now, without asking (a second Ctrl+C); ``stop`` still reaps."""
        if self._process is not None and self._process.returncode is None:
            procs.kill_group(self._process.pid, signal.SIGKILL)

    async def _stop(self, grace: float) -> None:
        process = self._process
        if process is None:
            return
        await self._downloads.cancel_app_downloads(app_service_id=self.app_service_id)
        # An app still starting reads no quit: a tab closed or reloaded then waited out
        # the whole grace, and a few quick reloads held every session slot meanwhile.
        if process.returncode is None and grace > 0 and self._started:
            await self.send_meta({"type": "quit"})
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                log.warning("session %d: the dashboard did not quit; killing it", self.number)
        # Whatever is left in the group (the app, or something it started) goes too.
        if process.returncode is None or procs.group_alive(process.pid):
            procs.kill_group(process.pid, signal.SIGKILL)
        await process.wait()


async def tell_ended(
    websocket: web.WebSocketResponse, why: str, *, comes_back: bool = False
) -> None:
    """Tell the tab why its session ends, just before the socket closes.

    The page shows ``why`` (as text) in place of its list of possible causes: a
    refused database, or every session in use, read alike as "it was quit, the tab
    lost its connection, …" and only the server's log said which. textual-serve's
    script ignores a message kind it does not know, so this is ours alone.
    ``comes_back``: the server is stopping, and the tab reconnects once it is back
    (a screen on the wall has nobody to press Restart), as it does when its
    connection is lost without a word.
    """
    message: list[object] = [ENDED, why]
    if comes_back:
        message.append({RECONNECT: True})
    with contextlib.suppress(ConnectionError, RuntimeError):
        await websocket.send_json(message)


def _cells(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_CELLS
