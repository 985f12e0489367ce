"""Snapshot tests: each pane and screen on fixed demo data under a frozen clock.

Regenerate with ``pytest tests/tui --snapshot-update`` and look at the SVGs
in ``tests/tui/__snapshots__/`` before committing them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from queuectl.store import db
from tests.conftest import T0
from tests.tui.conftest import refreshed, wait_for
from tui.app import QueueApp, make_app
from tui.demo import seed_demo, seed_history, seed_schedules
from tui.screens.detail import JobDetailScreen
from tui.screens.new_job import NewJobScreen


@pytest.fixture
def demo_app(tmp_path, monkeypatch) -> QueueApp:
    """The demo queue, opened by a relative path so the header reads the same everywhere."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    app = make_app("demo.db", clock=lambda: T0, refresh_interval=3600.0)
    seed_demo(T0)
    yield app
    db.close_database()


def keys(*presses: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await refreshed(pilot)
        if presses:
            await pilot.press(*presses)
        await pilot.pause()
        for box in pilot.app.screen.query(Input):
            box.cursor_blink = False
        await pilot.pause()

    return run_before


def test_jobs_pane_120x40(snap_compare, demo_app) -> None:
    assert snap_compare(demo_app, terminal_size=(120, 40), run_before=keys())


def test_jobs_pane_80x24(snap_compare, demo_app) -> None:
    """The command takes the spare width; Queue, Worker and Took give way at 80 columns."""
    assert snap_compare(demo_app, terminal_size=(80, 24), run_before=keys())


def test_dlq_pane_80x24(snap_compare, demo_app) -> None:
    """The command and the last error share the width."""
    assert snap_compare(demo_app, terminal_size=(80, 24), run_before=keys("2"))


def test_workers_pane_80x24(snap_compare, demo_app) -> None:
    assert snap_compare(demo_app, terminal_size=(80, 24), run_before=keys("3"))


def test_config_pane_80x24(snap_compare, demo_app) -> None:
    assert snap_compare(demo_app, terminal_size=(80, 24), run_before=keys("4"))


def test_sorted_by_state_80x24(snap_compare, demo_app) -> None:
    """The sort shows in the column header (``o`` goes right from Age: Command, ID, State)."""
    assert snap_compare(demo_app, terminal_size=(80, 24), run_before=keys("o", "o", "o"))


def test_cancel_asks_naming_the_job_80x24(snap_compare, demo_app) -> None:
    assert snap_compare(demo_app, terminal_size=(80, 24), run_before=keys("c"))


async def _open_detail(pilot: Pilot[Any], job_id: str) -> None:
    app = pilot.app
    await refreshed(pilot)
    app.jobs_pane.table.select_key(job_id)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "detail")
    screen = app.screen
    await wait_for(pilot, lambda: screen.loads >= 1, "detail load")
    await pilot.pause()


def test_detail_screen_80x24(snap_compare, demo_app) -> None:
    """More than four lines of output at 80x24."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await _open_detail(pilot, "job-013")

    assert snap_compare(demo_app, terminal_size=(80, 24), run_before=run_before)


def test_detail_screen_120x40(snap_compare, demo_app) -> None:
    """A dead job: its four runs, numbered (Run) and counted (Try), the last one shown."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await _open_detail(pilot, "job-013")

    assert snap_compare(demo_app, terminal_size=(120, 40), run_before=run_before)


def _metrics_after(*presses: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        from tui.screens.metrics import MetricsScreen

        app = pilot.app
        await refreshed(pilot)
        await pilot.press("m", *presses)
        await wait_for(pilot, lambda: isinstance(app.screen, MetricsScreen), "metrics")
        window = presses.count("w")
        screen = app.screen
        await wait_for(
            pilot,
            lambda: screen.last is not None and screen.last.window == window,
            "the metrics read",
        )
        await pilot.pause()

    return run_before


def test_metrics_screen_80x24(snap_compare, demo_app) -> None:
    """The last hour on three queues and the total, each queue charted."""
    seed_history(T0)
    assert snap_compare(demo_app, terminal_size=(80, 24), run_before=_metrics_after("w"))


def test_metrics_screen_120x40(snap_compare, demo_app) -> None:
    seed_history(T0)
    assert snap_compare(demo_app, terminal_size=(120, 40), run_before=_metrics_after("w"))


def test_new_job_form_with_error(snap_compare, demo_app) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await refreshed(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(demo_app.screen, NewJobScreen), "form")
        form = demo_app.screen
        for box in form.query(Input):
            box.cursor_blink = False  # before anything else, so no blink phase is captured
        form.query_one("#f-command", Input).value = "make backup"
        form.query_one("#f-priority", Input).value = "urgent"
        await pilot.press("enter")
        error = form.query_one("#form-error")
        await wait_for(pilot, lambda: "must be an integer" in str(error.render()), "error")
        await pilot.pause()

    assert snap_compare(demo_app, terminal_size=(80, 24), run_before=run_before)


def test_help_screen_80x24(snap_compare, demo_app) -> None:
    assert snap_compare(demo_app, terminal_size=(80, 24), run_before=keys("question_mark"))


def test_marked_jobs_and_batch_confirmation_80x24(snap_compare, demo_app) -> None:
    """Three marked rows (● before the id), the count in the status, the question."""
    assert snap_compare(
        demo_app,
        terminal_size=(80, 24),
        run_before=keys("shift+down", "shift+down", "down", "down", "space", "c"),
    )


COLOURED_OUTPUT = (
    "\x1b[1;32mPASSED\x1b[0m tests/test_api.py::test_login\n"
    "\x1b[1;31mFAILED\x1b[0m tests/test_api.py::test_upload - \x1b[4mAssertionError\x1b[24m\n"
    "\x1b[33mwarning:\x1b[0m cursor \x1b[2J title \x1b]0;pwned\x07 clip \x1b]52;c;aGk=\x07\n"
    "\x1b[01;34mbuild\x1b[0m  \x1b[01;32mrun.sh\x1b[0m  notes.txt\n"
)


def test_coloured_output_in_detail_80x24(snap_compare, demo_app) -> None:
    """SGR as styles; the screen clear, the title and the clipboard write stay visible."""
    from tests.tui.conftest import seed_job, seed_run

    seed_job("colour", "pytest -q", state="completed", now=T0 - 50)
    seed_run(
        "colour", finished_at=T0 - 40, outcome="succeeded", exit_code=0, output=COLOURED_OUTPUT
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        await refreshed(pilot)
        demo_app.jobs_pane.table.select_key("colour")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(demo_app.screen, JobDetailScreen), "detail")
        screen = demo_app.screen
        await wait_for(pilot, lambda: screen.loads >= 1, "detail load")
        await pilot.pause()

    assert snap_compare(demo_app, terminal_size=(80, 24), run_before=run_before)


def test_log_view_with_a_search_80x24(snap_compare, demo_app) -> None:
    """The log view full screen: colours kept, the current match picked out."""
    from tests.tui.conftest import seed_job, seed_run
    from tui.screens.logview import LogScreen

    seed_job("colour", "pytest -q", state="completed", now=T0 - 50)
    seed_run(
        "colour", finished_at=T0 - 40, outcome="succeeded", exit_code=0, output=COLOURED_OUTPUT
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        await refreshed(pilot)
        demo_app.jobs_pane.table.select_key("colour")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(demo_app.screen, JobDetailScreen), "detail")
        await wait_for(pilot, lambda: demo_app.screen.loads >= 1, "detail load")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(demo_app.screen, LogScreen), "log view")
        await wait_for(pilot, lambda: demo_app.screen.loads >= 1, "log load")
        await pilot.press("slash", *"test_", "enter")
        await pilot.pause()

    assert snap_compare(demo_app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_queues_pane(snap_compare, demo_app, size: tuple[int, int]) -> None:
    """A paused queue and a limited one: the header marks the paused one."""
    from queuectl.lifecycle import queues

    queues.pause(["nightly"], now=T0)
    queues.set_limit("default", 2, now=T0)

    async def run_before(pilot: Pilot[Any]) -> None:
        await keys("5")(pilot)
        table = demo_app.queues_pane.table
        await wait_for(pilot, lambda: table.row_count == 2, "the queues' rows")
        await wait_for(pilot, lambda: not demo_app.refreshing, "a settled refresh")
        await pilot.pause()

    assert snap_compare(demo_app, terminal_size=size, run_before=run_before)


def test_schedules_pane_80x24(snap_compare, demo_app) -> None:
    """Spec in words, zone, countdown, the last fire's job and state, a paused schedule."""
    seed_schedules(T0)

    async def run_before(pilot: Pilot[Any]) -> None:
        await keys("6")(pilot)
        table = demo_app.schedules_pane.table
        await wait_for(pilot, lambda: table.row_count == 4, "the schedules' rows")
        await wait_for(pilot, lambda: not demo_app.refreshing, "a settled refresh")
        await pilot.pause()

    assert snap_compare(demo_app, terminal_size=(80, 24), run_before=run_before)
