"""A real ``queuectl web``, reached over HTTP and websockets the way a browser reaches it.

The token guards every route and no app process starts without it; each
session is a process group of its own, handed the database only through its
environment, and gone when its socket, its idle time or its server ends.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest

from queuectl.web.child import SERVER_PID_ENV
from queuectl.web.session import QUIT_GRACE_SECONDS
from tests.polling import wait_until
from tests.web.conftest import seed
from tests.web.served import Served, Sockets, cmdline, environ, get, session_processes

PATHS = ["/", "/static/js/textual.js", "/static/fonts/RobotoMono-VariableFont_wght.ttf", "/ws"]


@pytest.mark.parametrize("path", [*PATHS, "/download/anything", "/static/", "/nowhere"])
def test_without_the_token_every_route_is_403_and_no_app_starts(served, path):
    token = served.token
    for query in ["", "?token=", "?token=wrong", f"?token={token[:-1]}", f"?Token={token}"]:
        status, _, body = get(served, path + query)
        assert status == 403, (path, query, body)
        assert "holds the token" in body and token not in body
    for name in ["queuectl", "token", "queuectl_0123456789ab"]:
        assert get(served, path, Cookie=f"{name}={token}")[0] == 403  # a cookie is never read
    assert served.sessions() == []


def test_a_websocket_without_the_token_is_403_and_starts_no_app(served):
    sockets = Sockets(served)
    try:
        assert sockets.connect(token="") == 403
        assert sockets.connect(token="not-the-token-at-all") == 403
        assert served.sessions() == []
    finally:
        sockets.close_all()


def test_the_tokened_url_serves_our_page_with_nothing_from_elsewhere(served):
    status, headers, page = get(served, "/?token=" + served.token)
    assert status == 200
    title = re.search(r"<title>(.*)</title>", page).group(1)
    assert title == "served-queue.db · queuectl"
    # Every URL in the page is this server's: relative, or the websocket on its own host.
    absolute = re.findall(r"\b[a-z]+://[^\s\"'<>]+", page)
    assert absolute == [f"ws://{served.origin.removeprefix('http://')}/ws/{served.token}"], absolute
    assert "@font-face" in page and "googleapis" not in page
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert headers["Referrer-Policy"] == "no-referrer"
    # A browser would send a cookie to every port of this host, where any local user
    # may listen: the page's own links and its websocket carry the token instead.
    assert "Set-Cookie" not in headers
    links = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert links and all(link.endswith(f"?token={served.token}") for link in links), links
    assert f'location.host + "/ws/{served.token}"' in page


@pytest.mark.parametrize("path", PATHS[1:3])
def test_assets_need_the_token_too(served, path):
    assert get(served, path)[0] == 403
    status, headers, _ = get(served, f"{path}?token={served.token}")
    assert status == 200 and "Set-Cookie" not in headers


def test_the_websocket_takes_the_token_in_its_path_as_the_page_sends_it(served):
    sockets = Sockets(served)
    try:
        for wrong in ["", "wrong", served.token[:-1], served.token + "x"]:
            assert sockets.connect(token=wrong, in_path=True) == 403
        assert served.sessions() == []
        socket = sockets.connect(in_path=True)
        assert not isinstance(socket, int), socket
        served.wait_sessions(1)
    finally:
        sockets.close_all()
    served.wait_sessions(0)


def test_a_download_is_reached_by_its_own_key_and_nothing_else(seeded):
    """The terminal's script opens ``/download/KEY`` with nothing added: the key, random
    and told only to the tab it was made for, is the credential; any other key is 403."""
    from aiohttp.test_utils import TestClient, TestServer

    from queuectl.web import access
    from queuectl.web import server as web_server

    token = access.new_token()
    server = web_server.WebServer(web_server.WebSettings(location=seeded, token=token))

    class Tab:
        id = "tab-1"

        sent = False

        async def send_meta(self, _meta: object) -> bool:
            """Each chunk request: the whole file, then the empty chunk that ends it."""
            if not self.sent:
                self.sent = True
                await server.downloads.chunk_received(key, b"<svg>the screenshot</svg>")
                await server.downloads.chunk_received(key, b"")
            return True

    key = "0f" * 16

    async def scenario() -> None:
        async with TestClient(TestServer(server.application())) as client:
            for path in [f"/download/{key}", "/download/" + "0e" * 16]:
                response = await client.get(path)
                assert response.status == 403, path
                assert "holds the token" in await response.text()
            await server.downloads.create_download(
                app_service=Tab(),
                delivery_key=key,
                file_name="dashboard.svg",
                open_method="browser",
                mime_type="image/svg+xml",
                encoding="utf-8",
                name=None,
            )
            assert (await client.get("/download/" + "0e" * 16)).status == 403
            response = await client.get(f"/download/{key}")
            assert response.status == 200
            assert await response.read() == b"<svg>the screenshot</svg>"
            assert "Set-Cookie" not in response.headers
            assert "sandbox" in response.headers["Content-Security-Policy"]
            assert (await client.get(f"/download/{key}")).status == 403  # spent
            # The Host rule still comes first.
            foreign = await client.get(f"/download/{key}", headers={"Host": "evil.example"})
            assert foreign.status == 403

    asyncio.run(scenario())


def test_a_foreign_host_or_origin_is_refused_even_with_the_token(served):
    # A DNS-rebound name reaching the loopback port carries its own Host.
    status, _, _ = get(served, f"/?token={served.token}", Host="evil.example:80")
    assert status == 403
    sockets = Sockets(served)
    try:
        assert sockets.connect(origin="http://evil.example") == 403
        assert sockets.connect(origin="null") == 403
        assert served.sessions() == []
    finally:
        sockets.close_all()


def test_a_session_is_its_own_process_group_and_gets_the_database_only_by_environment(served):
    sockets = Sockets(served)
    try:
        socket = sockets.connect()
        (pid,) = served.wait_sessions(1)
        assert os.getpgid(pid) == pid != os.getpgid(served.pid)  # its own group, to kill whole
        assert os.getsid(pid) == pid
        assert served.db not in cmdline(pid)
        assert cmdline(pid).split() == [sys.executable, "-m", "queuectl.web.child"]
        assert environ(pid)["QUEUECTL_DB"] == served.db
        assert served.token not in " ".join(environ(pid).values())  # the token stays in the server
        assert sockets.receive(socket).type.name == "BINARY"  # the app's first frame
        sockets.close(socket)
        served.wait_sessions(0, timeout=5)
    finally:
        sockets.close_all()
    served.wait_log(r"session \d+ closed: the browser left")


def test_a_password_in_the_database_url_never_reaches_a_command_line_or_the_page(pg_url):
    # Trust authentication ignores the password, so the server really connects with it.
    url = pg_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@", 1)
    assert "s3cret-pw" in url
    server = Served(url)
    sockets = Sockets(server)
    try:
        socket = sockets.connect()
        (pid,) = server.wait_sessions(1)
        assert sockets.receive(socket).type.name == "BINARY"
        for process in [pid, *_descendants(pid)]:
            assert "s3cret-pw" not in cmdline(process)
        assert environ(pid)["QUEUECTL_DB"] == url
        _, _, page = get(server, "/?token=" + server.token)
        assert "s3cret-pw" not in page and "postgres:***@" in page
    finally:
        sockets.close_all()
        server.stop()
    assert "s3cret-pw" not in server.log()


def _descendants(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat_line = open(f"/proc/{entry}/stat").read()  # noqa: SIM115
            except OSError:
                continue
            if int(stat_line[stat_line.rfind(")") + 2 :].split()[1]) == pid:
                children.append(int(entry))
                children += _descendants(int(entry))
    return children


def test_a_ninth_session_gets_a_clear_page_and_no_app(served):
    sockets = Sockets(served)
    try:
        first = [sockets.connect() for _ in range(8)]
        assert all(not isinstance(s, int) for s in first)
        served.wait_sessions(8)
        status, _, page = get(served, "/?token=" + served.token)
        assert status == 503
        assert "All 8 dashboard sessions are in use" in page
        # It loads itself again, as its Retry-After says: a tab left open gets in once a
        # session is free (it said "reload this page", and waited for a person).
        assert '<meta http-equiv="refresh" content="10">' in page
        assert "this page tries again every 10 seconds" in " ".join(page.split())
        # The operator hears of it too (the tab said so, and the log nothing).
        served.wait_log(r"turned away 1 tab: all 8 dashboard sessions are in use")
        # A page loaded earlier cannot start a ninth either, and its socket says why
        # before it closes (the page shows it in place of "quit, lost, idle, or stopped").
        ninth = sockets.connect()
        told = sockets.receive(ninth)
        assert told.type.name == "TEXT" and told.json() == [
            "ended",
            "All 8 dashboard sessions are in use: close a tab that shows this dashboard, "
            "then Restart.",
        ]
        assert sockets.receive(ninth).type.name == "CLOSE"
        assert ninth.close_code == 1013  # try again later
        sockets.close(ninth)
        assert len(served.sessions()) == 8
        # A reload: the tab's socket closes as its new page is asked for. The page waits
        # for that session to free (it was turned away, 3 reloads of 4: a web user's try).
        sockets.close(first[0])
        assert get(served, "/?token=" + served.token)[0] == 200
        served.wait_sessions(7)
    finally:
        sockets.close_all()
    served.wait_sessions(0)


def _told_until_closed(sockets: Sockets, socket: Any) -> list[Any]:
    """The text messages the server sends ``socket`` until it closes it (10 s at most)."""
    told = []

    def closed() -> bool:
        message = sockets.receive(socket)
        if message.type.name == "TEXT":
            told.append(message.json())
        return message.type.name == "CLOSE"

    wait_until(closed, 10, "the server to close")
    return told


def test_an_idle_session_is_ended_and_its_group_killed(seeded):
    server = Served(seeded, "--idle-timeout", "1s")
    sockets = Sockets(server)
    try:
        socket = sockets.connect()
        server.wait_sessions(1)
        told = _told_until_closed(sockets, socket)
        server.wait_sessions(0, timeout=5)
        server.wait_log(r"session \d+ closed: idle for 1s")
        # The tab says why, in place of "quit, lost, idle, or stopped".
        assert ["ended", "The session ended: idle for 1s"] in told, told
    finally:
        sockets.close_all()
        server.stop()


def test_a_dashboard_killed_under_its_tab_is_said_as_killed_not_as_quit(seeded):
    """A tab whose dashboard the OOM killer or an administrator ended said "the dashboard
    quit", as for ``q``: the exit status was never looked at."""
    server = Served(seeded)
    sockets = Sockets(server)
    try:
        socket = sockets.connect()
        server.wait_sessions(1)
        wait_until(
            lambda: sockets.receive(socket).type.name == "BINARY", 30, "the dashboard's screen"
        )
        (child,) = session_processes(server.pid)
        os.kill(child, signal.SIGKILL)
        told = _told_until_closed(sockets, socket)
        server.wait_log(r"session \d+ closed: the dashboard was killed \(SIGKILL\)")
        assert ["ended", "The session ended: the dashboard was killed (SIGKILL)"] in told, told
    finally:
        sockets.close_all()
        server.stop()


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_stopping_the_server_ends_every_session(seeded, sig, status):
    """A service manager's SIGTERM is a clean stop (0); Ctrl+C exits 130, as every
    command does after it (it exited 0)."""
    server = Served(seeded)
    sockets = Sockets(server)
    try:
        sockets.connect()
        server.wait_sessions(1)
        assert server.stop(sig) == status
        assert session_processes(server.pid) == []
        assert "closed: the server stopped" in server.log()
    finally:
        sockets.close_all()


def test_a_killed_server_takes_its_sessions_with_it(seeded):
    server = Served(seeded)
    sockets = Sockets(server)
    try:
        sockets.connect()
        server.wait_sessions(1)
        server.stop(signal.SIGKILL)
        wait_until(lambda: not session_processes(server.pid), 5, "the session to die with it")
    finally:
        sockets.close_all()


def test_stdout_is_the_tokened_url_alone(seeded, tmp_path):
    token_file = tmp_path / "token"
    server = Served(seeded, "--token-file", str(token_file))
    try:
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert server.url == f"{server.origin}/?token={token_file.read_text().strip()}"
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]{43}", server.url)
    finally:
        server.stop()
    assert server.proc.stdout is not None
    assert "http" not in server.log()  # nothing else names a URL, stderr included


def test_open_hands_the_browser_a_private_page_not_the_token(seeded, tmp_path):
    """The browser's command line is in every user's ``ps``. A one-time code there was
    spent first by another user watching ``/proc``, and the server handed them the
    token. The browser now gets a file only this user can read, which redirects."""
    opened = tmp_path / "opened"
    fake_browser = tmp_path / "browser"
    fake_browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {opened}\n')
    fake_browser.chmod(0o700)
    server = Served(seeded, "--open", env={"BROWSER": str(fake_browser)})
    try:
        # The shell makes the file before printf writes to it: wait for what it writes.
        wait_until(lambda: opened.exists() and opened.read_text(), 10, "the browser's link")
        link = opened.read_text()
        assert link.startswith("file:///") and server.token not in link
        page = Path(unquote(link.removeprefix("file://")))
        assert stat.S_IMODE(page.stat().st_mode) == 0o600
        assert stat.S_IMODE(page.parent.stat().st_mode) == 0o700
        assert f'url={server.origin}/?token={quote(server.token)}"' in page.read_text()
        assert get(server, "/?open=anything")[0] == 403  # no code to spend any more
    finally:
        server.stop()
    assert not page.parent.exists()  # gone with the server


def test_read_only_is_passed_to_the_session_and_named_on_the_page(seeded):
    server = Served(seeded, "--read-only")
    sockets = Sockets(server)
    try:
        _, _, page = get(server, "/?token=" + server.token)
        assert "<title>served-queue.db (read-only) · queuectl</title>" in page
        sockets.connect()
        (pid,) = server.wait_sessions(1)
        assert environ(pid)["QUEUECTL_WEB_READ_ONLY"] == "1"
    finally:
        sockets.close_all()
        server.stop()


def test_allow_remote_listens_on_every_address_still_tokened_and_says_it_is_plain_http(seeded):
    server = Served(seeded, "--host", "0.0.0.0", "--allow-remote")
    try:
        port = server.origin.rsplit(":", 1)[1]
        assert server.url.startswith(f"http://{socket.gethostname()}:{port}/?token=")
        server.origin = f"http://127.0.0.1:{port}"  # the machine's name may not resolve here
        # Any name the machine is reached by is fine now; the token still is not optional.
        assert get(server, f"/?token={server.token}", Host=f"devbox.lan:{port}")[0] == 200
        assert get(server, "/", Host=f"devbox.lan:{port}")[0] == 403
        assert "the token crosses the network unencrypted" in server.log()
    finally:
        server.stop()


def test_a_session_that_cannot_start_says_why_in_the_log_and_the_server_serves_on(tmp_path):
    path = tmp_path / "queue.db"
    seed(str(path))
    server = Served(str(path))
    sockets = Sockets(server)
    try:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.write_bytes(b"not a database at all " * 200)  # replaced under the running server
        socket = sockets.connect()
        told = sockets.receive(socket)
        assert told.type.name == "TEXT", told
        kind, why = told.json()  # the tab is told why, not only the server's log
        assert kind == "ended" and why.startswith("The dashboard could not start: "), why
        assert "queue.db" in why and "Error" not in why, why
        assert sockets.receive(socket).type.name == "CLOSE"
        server.wait_sessions(0)
        log = server.wait_log(r"session \d+ closed: the dashboard failed to start")
        assert re.search(r"session \d+: Error: .*queue\.db", log), log
        assert get(server, "/?token=" + server.token)[0] == 200
    finally:
        sockets.close_all()
        server.stop()


def test_a_dashboard_that_cannot_be_started_fails_its_tab_not_the_server(
    seeded, monkeypatch, caplog
):
    from aiohttp.test_utils import TestClient, TestServer

    from queuectl.web import access
    from queuectl.web import server as web_server

    monkeypatch.setattr(web_server, "CHILD_COMMAND", ("/nonexistent/python",))
    token = access.new_token()
    server = web_server.WebServer(web_server.WebSettings(location=seeded, token=token))

    async def scenario() -> None:
        async with TestClient(TestServer(server.application())) as client:
            origin = str(client.make_url("")).rstrip("/")
            socket = await client.ws_connect(f"/ws?token={token}", headers={"Origin": origin})
            assert (await socket.receive(timeout=10)).type.name == "CLOSE"
            assert (await client.get(f"/?token={token}")).status == 200
            for _ in range(500):  # its slot is freed just after the socket closes
                if not server.sessions.live:
                    break
                await asyncio.sleep(0.01)
            assert not server.sessions.live

    asyncio.run(scenario())
    assert "cannot start a dashboard: [Errno 2]" in caplog.text


def test_a_client_that_vanishes_mid_session_frees_its_slot_and_its_process(served):
    """No close frame, just a dropped connection, as when a laptop lid shuts or a browser dies."""
    host, port = served.origin.removeprefix("http://").split(":")
    ended = served.log().count("closed: the browser left")
    for _ in range(3):
        raw = socket.create_connection((host, int(port)))
        raw.sendall(
            f"GET /ws?token={served.token}&width=80&height=24 HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nOrigin: {served.origin}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
        )
        assert raw.recv(4096).startswith(b"HTTP/1.1 101")
        served.wait_sessions(1)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        raw.close()  # a reset, not a goodbye
        served.wait_sessions(0, timeout=5)
    # Each ending ran to its last step (the log line, after the slot is freed).
    wait_until(
        lambda: served.log().count("closed: the browser left") == ended + 3, 10, "three endings"
    )


def test_a_request_it_cannot_parse_is_one_inert_log_line(seeded):
    """aiohttp logged it with its traceback: anyone who reached the port, token or not,
    wrote multi-line tracebacks (and whatever the request held) into the server's log."""
    server = Served(seeded)
    try:
        netloc = server.origin.split("//", 1)[1]
        host, port = netloc.rsplit(":", 1)
        bad = b"GET /?x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \x1b]0;pwned\x07abc\r\n\r\n"
        # Any number of them, by anyone who reaches the port: one line a minute.
        for _ in range(50):
            with socket.create_connection((host, int(port)), timeout=5) as connection:
                connection.sendall(bad)
                connection.recv(4096)
        with socket.create_connection((host, int(port)), timeout=5) as connection:
            connection.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert connection.recv(4096).startswith(b"HTTP/1.1 403")  # all of them answered
        log = server.wait_log("Error handling request")
        lines = [line for line in log.splitlines() if "Error handling request" in line]
        assert len(lines) == 1 and lines[0].startswith("queuectl web: "), lines
        assert "Traceback" not in log and "\x1b" not in log
        # The reason, which aiohttp puts on the line below "400, message:", is kept.
        assert "400, message: " in lines[0] and not lines[0].endswith("message:"), lines
    finally:
        server.stop()


def test_a_request_it_cannot_parse_leaves_no_token_in_the_log(seeded):
    """aiohttp quotes the request line it cannot parse, token and all: the token then
    sat in the server's log (a journal, a file others may read)."""
    server = Served(seeded)
    try:
        host, port = server.origin.split("//", 1)[1].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as connection:
            # The name spelled with an escape, which the server reads as "token" too.
            connection.sendall(f"GET /?%74oken={server.token} HTTP/9.9\r\n\r\n".encode())
            connection.recv(4096)
        log = server.wait_log("Error handling request")
        assert "token=…" in log, log
        assert server.token not in log and server.token[:12] not in log
    finally:
        server.stop()


@pytest.mark.parametrize(
    "said",
    [
        "b'GET /?token={token} HTTP/9.9'",
        "b'GET /?a=1&to%6Ben={token}&b=2 HTTP/9.9'",
        "Invalid header: b'Host: {token}'",
        "b'GET /?x={escaped} HTTP/9.9'",  # every letter of it as %XX
    ],
)
def test_the_servers_log_lines_never_hold_the_token(said):
    import logging

    from queuectl.cli.web import _OneLine
    from queuectl.web.access import new_token

    token = new_token()
    escaped = "".join(f"%{ord(char):02X}" for char in token)
    record = logging.LogRecord("aiohttp", logging.WARNING, "", 0, "", None, None)
    record.msg = said.format(token=token, escaped=escaped)
    line = _OneLine(token).format(record)
    assert token not in line and token[:8] not in line and "…" in line, line


def test_a_read_only_session_creates_no_database_and_shows_one_others_could_write(tmp_path):
    """Each tab of ``web --read-only`` opened the database as a writer: it made one where
    it had gone, and refused one in a folder others could write, which read-only
    commands (``status``) show with a warning."""
    folder = tmp_path / "q"
    folder.mkdir(mode=0o700)
    path = folder / "queue.db"
    seed(str(path))
    server = Served(str(path), "--read-only")
    sockets = Sockets(server)
    try:
        folder.chmod(0o777)  # others may write there now: a reader warns and shows it
        shown = sockets.connect()
        assert sockets.receive(shown).type.name == "BINARY", "the dashboard did not draw"
        server.wait_log(r"session \d+: Warning: .*writable by other users")
        sockets.close(shown)
        folder.chmod(0o700)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        gone = sockets.connect()
        kind, why = sockets.receive(gone).json()
        assert kind == "ended" and "no queuectl database exists at" in why, why
        assert sockets.receive(gone).type.name == "CLOSE"
        assert not path.exists()
    finally:
        sockets.close_all()
        server.stop()


def test_a_tab_closed_while_its_dashboard_starts_is_ended_at_once(seeded, tmp_path):
    """An app still starting reads no quit: a tab closed or reloaded then waited out the
    2 s grace ("did not quit; killing it"), so quick reloads on a busy host, each app
    slow to start, held every session slot."""
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(  # a session's app, only, takes 30 s to start
        f"import os, time\nif os.environ.get({SERVER_PID_ENV!r}):\n    time.sleep(30)\n"
    )
    served = Served(seeded, env={"PYTHONPATH": str(slow)})
    sockets = Sockets(served)
    try:
        websocket = sockets.connect()
        assert not isinstance(websocket, int), websocket
        served.wait_sessions(1)
        started = time.monotonic()
        sockets.close(websocket)
        served.wait_sessions(0, timeout=5)
        assert time.monotonic() - started < QUIT_GRACE_SECONDS, "it waited out the grace"
        wait_until(lambda: "closed: the browser left" in served.log(), 5, "the ending")
        assert "did not quit" not in served.log()
    finally:
        try:
            sockets.close_all()
        finally:
            served.stop()  # even when closing the sockets fails


def test_a_named_host_prints_the_address_it_listens_on(seeded):
    """``--host localhost`` listened on 127.0.0.1 alone and printed a ``localhost`` URL,
    which a browser tries on ::1 first: another local user's server there took the token."""
    server = Served(seeded, "--host", "localhost")
    try:
        host = server.url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
        assert host in ("127.0.0.1", "[::1]"), server.url
        status, _headers, _body = get(server, "/?token=" + server.token)
        assert status == 200
    finally:
        server.stop()
