"""Export SVG screenshots of every pane from the real dashboard on a demo queue.

    python screenshots/make_screenshots.py [OUTPUT_FOLDER]

The demo database (``tui.demo.seed_demo``) and the app share one frozen
clock, so the pictures are the same on every run: jobs running, failed, dead
and queued, workers busy, idle, lost and stopped.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from textual.widgets import Input

from queuectl.store import db
from tui.app import QueueApp, make_app
from tui.demo import seed_demo
from tui.screens.detail import JobDetailScreen

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
]
"""(file name, keys pressed from a fresh app, terminal size) for each screenshot."""


async def _settle(app: QueueApp, pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(500):
        if app.refresh_count >= 1 and (
            not isinstance(app.screen, JobDetailScreen) or app.screen.loads
        ):
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
        if name == "detail":
            app.jobs_pane.table.select_key("job-009")  # a running job, with live output
        if keys:
            await pilot.press(*keys)
        await _settle(app, pilot)
        return Path(app.save_screenshot(filename=f"{name}.svg", path=str(folder)))


def main(folder: Path) -> None:
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # the header shows the location: keep it short and the same
        db.open_database("demo.db")
        seed_demo(NOW)
        for name, keys, size in SHOTS:
            print(asyncio.run(shoot("demo.db", name, keys, size, folder)))
        db.close_database()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
