"""Export SVG screenshots of every pane from the real dashboard on a demo queue.

    python screenshots/make_screenshots.py [OUTPUT_FOLDER]

The demo database (``tui.demo.seed_demo``) and the app share one frozen
clock, so the pictures are the same on every run: jobs running, failed, dead
and queued, workers busy, idle, lost and stopped.

``web.png`` is the browser view: ``queuectl web`` on the same demo queue,
opened in headless Chromium (skipped, saying why, without Chromium and
Playwright). The served app runs on the real clock, so that demo is seeded at
the real now and the picture's ages move by a second or so between runs.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from textual.widgets import Input

from queuectl.store import db
from tui.app import QueueApp, make_app
from tui.demo import seed_demo, seed_history, seed_schedules
from tui.screens.metrics import MetricsScreen

NOW = 1_795_000_000.0  # 2026-11-18T08:26:40Z
SIZE = (120, 32)

SHOTS: list[tuple[str, tuple[str, ...], tuple[int, int]]] = [
    ("jobs", (), SIZE),
    ("jobs-80x24", (), (80, 24)),
    ("dlq", ("2",), SIZE),
    ("workers", ("3",), SIZE),
    ("config", ("4",), SIZE),
    ("detail", ("1", "enter"), SIZE),
    ("new-job", ("n",), SIZE),
    ("help", ("question_mark",), SIZE),
    ("marks", ("shift+down", "shift+down", "down", "down", "space", "c"), SIZE),
    ("log-view", ("1", "enter", "settle", "l"), SIZE),
    # Last: these add jobs to the demo queue (an hour of history, a schedule's fire).
    ("metrics", ("m", "w"), SIZE),
    ("schedules", ("6",), SIZE),
]
"""(file name, keys pressed from a fresh app, terminal size) for each screenshot."""


async def _settle(app: QueueApp, pilot) -> None:  # type: ignore[no-untyped-def]
    def settled() -> bool:
        screen = app.screen
        if isinstance(screen, MetricsScreen):  # read for the window now chosen
            return screen.last is not None and screen.last.window == screen.window
        return bool(getattr(screen, "loads", 1))

    for _ in range(500):
        if app.refresh_count >= 1 and settled():
            break
        await pilot.pause(0.01)
    for box in app.screen.query(Input):
        box.cursor_blink = False
    await pilot.pause()


async def shoot(
    location: str, name: str, keys: tuple[str, ...], size: tuple[int, int], folder: Path
) -> Path:
    app = make_app(location, clock=lambda: NOW, refresh_interval=3600.0)
    async with app.run_test(size=size) as pilot:
        await _settle(app, pilot)
        if name in ("detail", "log-view"):
            app.jobs_pane.table.select_key("job-009")  # a running job, with live output
        for key in keys:
            if key == "settle":  # a screen that reads first (the detail) must have read
                await _settle(app, pilot)
            else:
                await pilot.press(key)
        await _settle(app, pilot)
        return Path(app.save_screenshot(filename=f"{name}.svg", path=str(folder)))


BROWSER_VIEWPORT = {"width": 1200, "height": 640}


def shoot_browser(folder: Path) -> Path | None:
    """The Jobs pane as a browser shows it, from ``queuectl web`` in headless Chromium."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' browser helpers
    from tests.web import browser as chromium
    from tests.web.served import Served

    reason = chromium.missing()
    if reason:
        print(f"web.png skipped: {reason}")
        return None
    from playwright.sync_api import sync_playwright

    db.open_database("demo-web.db")
    seed_demo(time.time())
    db.close_database()
    server = Served("demo-web.db")
    try:
        with sync_playwright() as playwright:
            browser = chromium.launch(playwright)
            tab = chromium.Tab(browser, server, viewport=BROWSER_VIEWPORT)
            tab.wait_for_text("job-017")  # the newest job: the table is filled
            tab.page.keyboard.press("g")  # the focusing click highlighted a row mid-table
            tab.page.mouse.move(0, 0)  # no hover highlight where the focusing click landed
            tab.page.wait_for_timeout(500)  # the first row drawn highlighted
            path = folder / "web.png"
            tab.page.screenshot(path=str(path))
            browser.close()
    finally:
        server.stop()
    return path


def main(folder: Path) -> None:
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # the header shows the location: keep it short and the same
        db.open_database("demo.db")
        seed_demo(NOW)
        for name, keys, size in SHOTS:
            if name == "metrics":
                seed_history(NOW)
            if name == "schedules":
                seed_schedules(NOW)
            print(asyncio.run(shoot("demo.db", name, keys, size, folder)))
        db.close_database()
        if (shot := shoot_browser(folder)) is not None:
            print(shot)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
