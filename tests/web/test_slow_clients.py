"""Connections that never send a whole request, as any local user can open them.

Each held a file descriptor for an hour, until the server could accept nobody
and start no session. Now a connection gets a few seconds to send its request,
only so many wait at once, and the user's browser still gets in meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time

from queuectl.web.doorman import MAX_WAITING, REQUEST_SECONDS
from tests.polling import wait_until
from tests.web.served import Served, Sockets, get

SILENT = MAX_WAITING + 100
"""More silent connections than may wait at once."""
DRIPPING = 20


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    return sock


def _closed(sock: socket.socket) -> bool:
    """Whether the server closed it (read end of file, or reset)."""
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _drip(sock: socket.socket) -> None:
    """One more byte of a request that never ends (slowloris)."""
    with contextlib.suppress(OSError):
        sock.send(b"X")


def _server_sockets(pid: int) -> int:
    return sum(
        1
        for fd in os.listdir(f"/proc/{pid}/fd")
        if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    )


def test_silent_and_slow_connections_are_closed_and_the_user_still_gets_in(seeded):
    served = Served(seeded)
    port = int(served.origin.rsplit(":", 1)[1])
    held: list[socket.socket] = []
    dripping: list[socket.socket] = []
    sockets = Sockets(served)
    try:
        held = [_connect(port) for _ in range(SILENT)]
        dripping = [_connect(port) for _ in range(DRIPPING)]  # the newest: not pushed out
        for sock in dripping:
            sock.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        held += dripping
        # The oldest silent ones made way: no more than the limit wait at once.
        wait_until(
            lambda: sum(not _closed(s) for s in held) <= MAX_WAITING,
            10,
            f"at most {MAX_WAITING} waiting connections left open",
        )
        assert _server_sockets(served.pid) <= MAX_WAITING + 10
        served.wait_log(r"closed [\d,]+ connections? to let a new one in: more than 128")

        # Meanwhile the user's page loads and a session starts.
        status, _, _ = get(served, "/?token=" + served.token)
        assert status == 200
        websocket = sockets.connect(in_path=True)
        assert not isinstance(websocket, int), websocket
        served.wait_sessions(1)

        # A byte now and then does not keep a connection: none outlives the deadline.
        started = time.monotonic()

        def all_closed() -> bool:
            for sock in dripping:
                _drip(sock)
            return all(_closed(s) for s in held)

        wait_until(all_closed, REQUEST_SECONDS + 10, "every held connection closed")
        assert time.monotonic() - started < REQUEST_SECONDS + 5
        served.wait_log(r"closed [\d,]+ connections? that sent no whole request within 10s")
        # The session, answered long ago, is not a waiting connection.
        assert served.sessions() and not websocket.closed
        assert "Traceback" not in served.log()
    finally:
        for sock in {*held, *dripping}:
            sock.close()
        sockets.close_all()
        served.stop()


class _Connection:
    """A connection as the doorman closes it, with nothing behind it."""

    def force_close(self) -> None:
        pass


def test_the_first_line_of_a_flood_says_the_rest_are_counted_later(caplog):
    # The first connection closed is logged at once, and a flood's others only a minute
    # later: "closed 1 connection" alone read as the whole of it.
    from queuectl.web.doorman import CROWDED, LOG_EVERY_SECONDS, Doorman

    now = [1000.0]
    doorman = Doorman(clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="queuectl.web"):
        for _ in range(300):
            doorman._close(_Connection(), CROWDED)  # type: ignore[arg-type]
        now[0] += LOG_EVERY_SECONDS
        doorman._report(CROWDED)
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "closed 1 connection to let a new one in: more than 128 were waiting to send a request;"
        " more are counted once a minute",
        "closed 299 connections to let a new one in: more than 128 were waiting to send a request",
    ]


def test_a_kept_alive_connection_that_idles_out_is_closed_without_a_log_line(caplog):
    """Every ordinary visit logged "closed 3 connections that sent no whole request
    within 10s": the browser's kept-alive connections, answered and then idle."""
    from queuectl.web.doorman import BROWSER_SPARES, SLOW, Doorman

    doorman = Doorman(clock=lambda: 1000.0)
    kept_alive = _Connection()
    doorman.answered.add(kept_alive)  # type: ignore[arg-type]
    with caplog.at_level("WARNING", logger="queuectl.web"):
        doorman._close(kept_alive, SLOW)  # type: ignore[arg-type]
        assert caplog.records == []
        for _ in range(BROWSER_SPARES):  # a browser's preconnects, never used: no line
            doorman._close(_Connection(), SLOW)  # type: ignore[arg-type]
        assert caplog.records == []
        doorman._close(_Connection(), SLOW)  # type: ignore[arg-type]
    [line] = [record.getMessage() for record in caplog.records]
    assert line.startswith("closed 7 connections that sent no whole request within 10s"), line


def test_a_browsers_unused_connections_spread_over_minutes_say_nothing(caplog):
    """Chrome's preconnects, a few every few minutes of ordinary use, were logged as
    "closed 1 connection that sent no whole request" each time."""
    from queuectl.web.doorman import LOG_EVERY_SECONDS, SLOW, Doorman

    now = [1000.0]
    doorman = Doorman(clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="queuectl.web"):
        for _ in range(10):
            for _ in range(3):
                doorman._close(_Connection(), SLOW)  # type: ignore[arg-type]
            now[0] += LOG_EVERY_SECONDS
            doorman._report(SLOW)
    assert caplog.records == []
