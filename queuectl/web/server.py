"""The ``queuectl web`` server: the token check, our page, the terminal's files, a session per tab.

Routes: ``/`` our page, ``/static/…`` textual-serve's bundled terminal
(script, styles, font), ``/ws/TOKEN`` (or ``/ws?token=``) the websocket that
drives one dashboard process, ``/download/KEY`` files the dashboard hands the
browser (a screenshot). A middleware checks every request, whatever its route,
before anything else runs: a loopback ``Host`` (unless ``--allow-remote``) and
the token, in the URL's query or path. A download's own key, random and known
only to the tab the dashboard handed it to, stands for the token there (the
terminal's script builds that link and adds nothing to it).

No cookie carries the token: browsers send a host's cookies to each of its
ports, so any local user's server on another port of 127.0.0.1 would receive
it from a page the user visits there, and could then run commands as them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from urllib.parse import quote

import textual_serve
from aiohttp import WSCloseCode, WSMsgType, hdrs, web
from textual_serve.download_manager import DownloadManager

from queuectl.errors import QueueError
from queuectl.location import ENV_VAR, describe
from queuectl.timeutil import human_duration, set_duration
from queuectl.web import access
from queuectl.web.child import READ_ONLY_ENV, SERVER_PID_ENV
from queuectl.web.doorman import LOG_EVERY_SECONDS, Doorman
from queuectl.web.opener import OpenPage, start_browser
from queuectl.web.page import BUSY_RETRY_SECONDS, busy_page, dashboard_page
from queuectl.web.session import SERVER_STOPPED, AppSession, tell_ended
from queuectl.wording import counted

log = logging.getLogger("queuectl.web")

STATIC_ROOT = Path(textual_serve.__file__).parent / "static"
CHILD_COMMAND = (sys.executable, "-m", "queuectl.web.child")
MAX_SESSIONS = 8
IDLE_TIMEOUT_SECONDS = 1800.0
SHUTDOWN_SECONDS = 5.0
"""How long open connections get to finish once every session is stopped."""
OPEN_PAGE_SECONDS = 120.0
"""How long the private page ``--open`` hands the browser is kept (``opener``)."""

STARTING_GRACE = 30.0
"""Seconds a dashboard still starting is given before an idle limit shorter than that
applies: its idle time counts from its start."""

PAGE_POLICY = (
    "default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
    "font-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""The page may load only from this server, and nothing may frame it."""
DEFAULT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
DOWNLOAD_POLICY = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""A file the dashboard delivers (an SVG screenshot holds job output) never runs a script."""
FORBIDDEN = "403 Forbidden: open the URL that queuectl web printed (it holds the token)\n"


FREED_WAIT_SECONDS = 2.0
"""How long a page asked for while every session is taken waits for one to free: a
reloading tab's own session ends only once its page has gone (0.2-0.5 s measured)."""


@dataclass(frozen=True)
class WebSettings:
    """What ``queuectl web`` was asked to serve, and how."""

    location: str
    token: str
    host: str = "127.0.0.1"
    port: int = 8000
    remote: bool = False
    """Listening beyond loopback (``--allow-remote``): any Host header is then accepted."""
    read_only: bool = False
    idle_timeout: float = IDLE_TIMEOUT_SECONDS
    """Seconds without input before a session ends; 0 = never."""
    max_sessions: int = MAX_SESSIONS


class Sessions:
    """The live sessions: at most ``limit`` at once, each ended when idle too long."""

    def __init__(self, limit: int, idle_timeout: float) -> None:
        self.limit = limit
        self.idle_timeout = idle_timeout
        self.live: set[AppSession] = set()

    @property
    def full(self) -> bool:
        return len(self.live) >= self.limit

    def _limit(self, session: AppSession) -> float:
        """How long ``session`` may go without input: a dashboard still starting gets at
        least ``STARTING_GRACE`` (its idle time counts once it has started)."""
        return self.idle_timeout if session.started else max(self.idle_timeout, STARTING_GRACE)

    async def end_idle_sessions(self) -> None:
        """Forever: stop every session that has had no input for ``idle_timeout``."""
        if not self.idle_timeout:
            return
        reason = f"idle for {set_duration(self.idle_timeout)}"
        while True:
            await asyncio.sleep(min(30.0, self.idle_timeout / 10))
            now = time.monotonic()
            idle = [
                session for session in self.live if now - session.last_input > self._limit(session)
            ]
            await asyncio.gather(*(session.stop(reason) for session in idle))

    async def stop_all(self, reason: str) -> None:
        await asyncio.gather(*(session.stop(reason) for session in self.live))

    def kill_all(self) -> None:
        for session in self.live:
            session.kill()


class WebServer:
    """The aiohttp application for one database, one token."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.sessions = Sessions(settings.max_sessions, settings.idle_timeout)
        self.downloads = DownloadManager()
        self.doorman = Doorman()
        self.child_env = child_environment(settings)
        self.closing = False
        """The server is stopping: no new session starts."""
        self._refused = 0
        self._refused_logged_at: float | None = None
        self.endings: set[asyncio.Future[None]] = set()
        """Sessions being ended (``_end``), awaited before the server exits."""
        shown = describe(settings.location)
        self.redact: Callable[[str], str] = lambda text: text.replace(settings.location, shown)

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self.doorman.middleware, self._guard])
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/ws/{token}", self._websocket)
        app.router.add_get("/download/{key}", self._download, name="download")
        app.router.add_static("/static", STATIC_ROOT, show_index=False, follow_symlinks=False)
        app.on_response_prepare.append(_security_headers)
        return app

    # --- access -----------------------------------------------------------------------

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Every route: a loopback Host (unless remote is allowed), then the token."""
        host = request.headers.get(hdrs.HOST)
        settings = self.settings
        if not access.host_header_allowed(host, listen_host=settings.host, remote=settings.remote):
            raise web.HTTPForbidden(text="403 Forbidden: this server answers only to localhost\n")
        given = (request.query.get("token"), request.match_info.get("token"))
        if any(access.token_matches(value, settings.token) for value in given):
            return await handler(request)
        if request.match_info.route.name == "download":
            return await handler(request)  # its key is its credential: ``_download``
        raise web.HTTPForbidden(text=FORBIDDEN)

    # --- routes -----------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        settings = self.settings
        # A reload with every session taken counted the reloading tab's own, whose
        # socket closes only as the new page loads: the tab was turned away (3 of 4
        # reloads, a web user's try). A session freed within moments is waited for.
        deadline = time.monotonic() + FREED_WAIT_SECONDS
        while self.sessions.full and not self.closing and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.sessions.full:
            self._note_refused()
            page = busy_page(location=settings.location, limit=self.sessions.limit)
            return web.Response(
                status=503,
                text=page,
                content_type="text/html",
                headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
            )
        nonce = secrets.token_urlsafe(16)
        scheme = "wss" if request.secure else "ws"
        page = dashboard_page(
            location=settings.location,
            read_only=settings.read_only,
            websocket_url=f"{scheme}://{request.host}/ws/{settings.token}",
            static_url="/static",
            token=settings.token,
            font_size=_int_in(request.query.get("fontsize"), 16, 8, 40),
            nonce=nonce,
            causes=self._end_causes(),
        )
        response = web.Response(text=page, content_type="text/html")
        response.headers[hdrs.CONTENT_SECURITY_POLICY] = PAGE_POLICY.format(nonce=nonce)
        response.headers[hdrs.CACHE_CONTROL] = "no-store"
        return response

    def _note_refused(self) -> None:
        """Log a tab turned away for want of a session: at once, then at most once a
        minute with how many (a tab waiting for a slot asks again every few seconds).
        The tab said so, and the operator heard nothing."""
        self._refused += 1
        now = time.monotonic()
        if self._refused_logged_at is None or now - self._refused_logged_at >= LOG_EVERY_SECONDS:
            log.warning(
                "turned away %s: all %d dashboard sessions are in use",
                counted(self._refused, "tab"),
                self.sessions.limit,
            )
            self._refused = 0
            self._refused_logged_at = now

    def _end_causes(self) -> str:
        idle = self.settings.idle_timeout
        idle_part = f" it had no input for {human_duration(idle)}," if idle else ""
        return f"It was quit, the tab lost its connection,{idle_part} or the server stopped."

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        origin, host = request.headers.get(hdrs.ORIGIN), request.headers.get(hdrs.HOST)
        if not access.origin_matches(origin, host):
            raise web.HTTPForbidden(text="403 Forbidden: not from this server's own page\n")
        sessions = self.sessions
        if self.closing or sessions.full:
            # Opened only to say why, and closed: a refused upgrade reaches the page as a
            # bare close, which it shows as "quit, lost, idle, or stopped". (The page was
            # loaded while a slot was free, and two tabs raced for the last one.)
            refused = web.WebSocketResponse()
            await refused.prepare(request)
            await tell_ended(
                refused,
                "The server is stopping"
                if self.closing
                else f"All {sessions.limit} dashboard sessions are in use: close a tab that "
                "shows this dashboard, then Restart.",
                comes_back=self.closing,
            )
            await refused.close(code=WSCloseCode.TRY_AGAIN_LATER)
            return refused
        websocket = web.WebSocketResponse(heartbeat=15.0, timeout=3.0)
        session = AppSession(
            websocket,
            command=CHILD_COMMAND,
            env=self.child_env,
            downloads=self.downloads,
            redact=self.redact,
        )
        sessions.live.add(session)  # before any await: the limit holds under a burst
        pump: asyncio.Task[None] | None = None
        try:
            await websocket.prepare(request)
            width = _int_in(request.query.get("width"), 80, 10, 1000)
            height = _int_in(request.query.get("height"), 24, 5, 1000)
            try:
                await session.start(width, height)
            except OSError as exc:  # out of processes or memory: this tab fails, not the server
                log.error("session %d: cannot start a dashboard: %s", session.number, exc)
                await websocket.close()
                return websocket
            in_use = len(sessions.live)
            log.info("session %d opened (%d of %d in use)", session.number, in_use, sessions.limit)
            pump = asyncio.create_task(session.pump())
            async for message in websocket:
                if message.type == WSMsgType.TEXT:
                    await session.feed(message.data)
        finally:
            # A task of its own: should aiohttp cancel this handler (at shutdown, or with
            # handler_cancellation on) a cancelled cleanup would keep the slot taken for good.
            ending = asyncio.ensure_future(self._end(session, pump))
            self.endings.add(ending)
            ending.add_done_callback(self.endings.discard)
            await asyncio.shield(ending)
        return websocket

    async def _end(self, session: AppSession, pump: asyncio.Task[None] | None) -> None:
        """Stop a session's process group, free its slot, and say why it ended."""
        try:
            await session.stop()
        finally:
            self.sessions.live.discard(session)
        if pump is not None:
            await _finish(pump)
        if session.pid is not None:
            log.info("session %d closed: %s", session.number, session.end_reason)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        try:
            meta = await self.downloads.get_download_metadata(key)
        except KeyError:
            # Unknown, spent or never issued: the same answer as a missing token, so
            # probing for keys learns nothing.
            raise web.HTTPForbidden(text=FORBIDDEN) from None
        response = web.StreamResponse()
        content_type = meta.mime_type + (f"; charset={meta.encoding}" if meta.encoding else "")
        disposition = "inline" if meta.open_method == "browser" else "attachment"
        response.headers[hdrs.CONTENT_TYPE] = content_type
        response.headers[hdrs.CONTENT_DISPOSITION] = (
            f"{disposition}; filename*=UTF-8''{quote(meta.file_name, safe='')}"
        )
        response.headers[hdrs.CONTENT_SECURITY_POLICY] = DOWNLOAD_POLICY
        await response.prepare(request)
        async for chunk in self.downloads.download(key):
            await response.write(chunk)
        await response.write_eof()
        return response


async def _security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """On every response: no referrer (URLs hold the token), no sniffing, no framing."""
    headers = response.headers
    headers.setdefault(hdrs.CONTENT_SECURITY_POLICY, DEFAULT_POLICY)
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"


async def _finish(task: asyncio.Task[None], timeout: float = 2.0) -> None:
    """Let a session's pump forward the app's last words, then make sure it is over."""
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        await asyncio.wait({task})
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("a session's output relay failed: %r", error, exc_info=error)


def _int_in(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        return min(high, max(low, int(raw))) if raw is not None else default
    except ValueError:
        return default


def child_environment(settings: WebSettings) -> dict[str, str]:
    """A session's environment: ours, plus the database and Textual's web driver.

    The database goes here and never on a command line (see ``child``).
    """
    env = dict(os.environ)
    env.update(
        {
            ENV_VAR: settings.location,
            SERVER_PID_ENV: str(os.getpid()),
            "TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver",
            "TEXTUAL_FPS": "60",
            "TEXTUAL_COLOR_SYSTEM": "truecolor",
            "TERM_PROGRAM": "textual",
            "TERM_PROGRAM_VERSION": version("textual-serve"),
        }
    )
    if settings.read_only:
        env[READ_ONLY_ENV] = "1"
    else:
        env.pop(READ_ONLY_ENV, None)
    return env


async def serve(
    settings: WebSettings,
    *,
    announce: Callable[[str], None],
    open_browser: bool = False,
) -> int:
    """Serve until SIGTERM, SIGINT or SIGHUP; then end every session and return the signal.

    The caller exits 130 after SIGINT (Ctrl+C), as every command does, and 0 after the
    others, a service manager's usual stop.

    ``announce`` gets the tokened URL once the port is bound; ``open_browser``
    (``--open``) starts a browser on a one-time link. A second signal while
    stopping kills the sessions at once instead of letting them quit.

    Raises:
        QueueError: the address cannot be listened on (in use, not ours).
    """
    server = WebServer(settings)
    runner = web.AppRunner(
        server.application(),
        access_log=None,  # its lines would hold the token
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_SECONDS,
    )
    await runner.setup()
    assert runner.server is not None  # made by setup()
    server.doorman.watch(runner.server)
    site = web.TCPSite(runner, settings.host, settings.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if isinstance(exc, socket.gaierror):
            # A loopback name is not asked of DNS beforehand (foo.localhost, localhost.),
            # and one that does not resolve said "unknown error -2".
            raise QueueError(f"cannot resolve --host {settings.host!r}") from None
        where = f"{access.url_host(settings.host)}:{settings.port}"
        # asyncio's strerror repeats the address ("error while attempting to bind on
        # address (…): address already in use"): the errno's own words say it once.
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise QueueError(f"cannot listen on {where}: {reason}") from None
    bound, port = runner.addresses[0][:2]
    # The address listened on, not the name asked for: "--host localhost" listened on
    # 127.0.0.1 alone and printed a localhost URL, which a browser tries on ::1 first,
    # where another local user's server took the token.
    shown = settings.host if settings.host in access.WILDCARD_HOSTS else bound
    base = f"http://{access.url_host(shown)}:{port}/"
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()

    stopped_by: list[int] = []

    def on_signal(signum: int) -> None:
        if stopping.is_set():
            server.sessions.kill_all()  # a second signal: no more waiting for them to quit
        stopped_by.append(signum)
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, on_signal, signum)
    idle_watch = asyncio.create_task(server.sessions.end_idle_sessions())
    patrol = asyncio.create_task(server.doorman.patrol())
    page: OpenPage | None = None
    try:
        announce(f"{base}?token={settings.token}")
        log.info(
            "serving %s%s to at most %d tabs at once; Ctrl+C stops it",
            describe(settings.location),
            " read-only" if settings.read_only else "",
            settings.max_sessions,
        )
        if open_browser:
            page = OpenPage(f"{base}?token={quote(settings.token)}")
            loop.run_in_executor(None, start_browser, page.file_url)
            loop.call_later(OPEN_PAGE_SECONDS, page.remove)
        await stopping.wait()
    finally:
        if page is not None:
            page.remove()
        idle_watch.cancel()
        patrol.cancel()
        server.closing = True
        await server.sessions.stop_all(SERVER_STOPPED)
        await runner.cleanup()
        # Only now: cleanup cancels the socket handlers, whose ``finally`` starts each
        # session's ending; returning before those finish would drop their last words.
        while server.endings:
            await asyncio.gather(*server.endings)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
    return stopped_by[0]
