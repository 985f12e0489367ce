"""Connections that have not sent a request: a few at a time, and briefly.

aiohttp keeps a connection that sends nothing, or sends its headers a byte at
a time, for an hour. Anyone who can reach the port (any local user, token or
not) opened such connections until the server ran out of file descriptors:
it then could not accept the user's browser, nor start a session, and wrote a
traceback to its log for every connection it failed to accept.

So a connection waiting for its request (a new one, or a kept-alive one
between requests) gets ``seconds`` to send it whole, and at most ``limit``
wait at once: one more closes the one that has waited longest. A browser sends
its request as soon as it connects, so it gets in while an attacker holds the
rest. A connection whose request is being answered (a websocket session for as
long as it lasts) is not waiting. What was closed is logged, one line at a time
and at most one line a minute, since the attacker decides how many there are; the
few a browser opens ahead of need and leaves unused are closed without a word.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from queuectl.wording import counted

log = logging.getLogger("queuectl.web")

REQUEST_SECONDS = 10.0
"""How long a connection may take to send a whole request (headers) once it is idle."""
MAX_WAITING = 128
"""Connections waiting for their request at once; a browser opens about six."""
LOG_EVERY_SECONDS = 60.0
"""Each reason is logged at once, then at most once a minute with how many since."""
BROWSER_SPARES = 6
"""Connections a browser opens ahead of need and may never use (Chrome's preconnect):
up to this many closed unused within a minute are a browser's, not a slow client's,
and say nothing (an operator read "closed 1 connection that sent no whole request"
every few minutes of ordinary use as an attack)."""
SLOW = "that sent no whole request within {seconds:g}s"
CROWDED = "to let a new one in: more than {limit} were waiting to send a request"


class Doorman:
    """Closes connections that take too long to send a request, or are too many."""

    def __init__(
        self,
        *,
        seconds: float = REQUEST_SECONDS,
        limit: int = MAX_WAITING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.limit = limit
        self.clock = clock
        self.live: set[RequestHandler] = set()
        self.waiting: dict[RequestHandler, float] = {}
        """Since when each idle connection has waited, the longest-waiting first."""
        self.answered: set[RequestHandler] = set()
        """Connections that sent a request: one that then idles out is a browser's
        kept-alive connection ending, closed without a log line (every visit logged
        "closed 3 connections that sent no whole request", as if it were an attack)."""
        self.closed = {SLOW: 0, CROWDED: 0}
        """Closed for each reason since its last log line."""
        self._logged_at: dict[str, float] = {}
        self._unused: deque[float] = deque()
        """When each connection closed unused in the last minute was closed."""

    def watch(self, server: web.Server) -> None:
        """Be told of every connection ``server`` accepts and loses.

        aiohttp has no hook for this: its ``Server`` is told by each connection's
        protocol, so its two methods are wrapped on this one instance.
        """
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: RequestHandler, transport: Any) -> None:
            made(handler, transport)
            self._arrived(handler)

        def connection_lost(handler: RequestHandler, exc: BaseException | None = None) -> None:
            self.live.discard(handler)
            self.waiting.pop(handler, None)
            self.answered.discard(handler)
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]

    def _arrived(self, handler: RequestHandler) -> None:
        self.live.add(handler)
        self.waiting[handler] = self.clock()
        while len(self.waiting) > self.limit:
            oldest = next(iter(self.waiting))
            self._close(oldest, CROWDED)

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """A connection being answered is not waiting; it waits again once answered."""
        connection = request.protocol
        self.waiting.pop(connection, None)  # type: ignore[call-overload]
        self.answered.add(connection)  # type: ignore[arg-type]
        try:
            return await handler(request)
        finally:
            if connection in self.live:
                self.waiting[connection] = self.clock()  # type: ignore[index]

    async def patrol(self) -> None:
        """Forever: close every connection that has waited longer than ``seconds``."""
        while True:
            await asyncio.sleep(min(1.0, self.seconds / 4))
            cutoff = self.clock() - self.seconds
            for connection, since in list(self.waiting.items()):
                if since > cutoff:
                    break  # the rest came later
                self._close(connection, SLOW)
            for reason in self.closed:
                self._report(reason)  # what an attack that has stopped left unsaid

    def _close(self, connection: RequestHandler, reason: str) -> None:
        self.waiting.pop(connection, None)
        connection.force_close()
        if reason == SLOW and connection in self.answered:
            return  # a kept-alive connection's end, not a client that never asked
        if reason == SLOW and not self._beyond_a_browsers_spares():
            return
        self.closed[reason] += 1
        self._report(reason)

    def _beyond_a_browsers_spares(self) -> bool:
        """Whether this unused connection is more than a browser leaves in a minute; the
        first one beyond counts those before it too."""
        now = self.clock()
        unused = self._unused
        unused.append(now)
        while unused[0] < now - LOG_EVERY_SECONDS:
            unused.popleft()
        if len(unused) == BROWSER_SPARES + 1:
            self.closed[SLOW] += BROWSER_SPARES
        return len(unused) > BROWSER_SPARES

    def _report(self, reason: str) -> None:
        if not self.closed[reason]:
            return
        now = self.clock()
        last = self._logged_at.get(reason)
        if last is None or now - last >= LOG_EVERY_SECONDS:
            why = reason.format(seconds=self.seconds, limit=self.limit)
            # The first line of a burst comes at its first connection: say that the rest
            # are counted later, or "closed 1 connection" reads as the whole of a flood.
            more = (
                "; more are counted once a minute"
                if last is None or now - last >= 2 * LOG_EVERY_SECONDS
                else ""
            )
            log.warning("closed %s %s%s", counted(self.closed[reason], "connection"), why, more)
            self.closed[reason] = 0
            self._logged_at[reason] = now
