"""``queuectl web --read-only``: the dashboard shows everything and changes nothing.

Pilot tests of the app as the served process builds it (``read_only=True``):
every key, button and palette entry that would change the database is refused
with a toast before any confirmation is asked, and whatever still reaches the
core (a config save) is refused there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from queuectl.lifecycle import settings
from queuectl.store import db
from tests.conftest import T0, dump
from tests.tui.conftest import refreshed, seed_job, seed_worker, wait_for, wait_toast
from tui.app import QueueApp, make_app
from tui.keybar import KeyBar
from tui.panes.config import ConfigPane
from tui.screens.confirm import ConfirmScreen, CountScreen
from tui.screens.detail import JobDetailScreen
from tui.screens.new_job import NewJobScreen

REFUSED = "read-only"


@pytest.fixture
def read_only(db_path: str) -> Callable[[Callable[[QueueApp, Any], Awaitable[None]]], None]:
    """Runs a scenario on a read-only dashboard, then proves the database is unchanged."""
    db.open_database(db_path)
    seed_job("d1", state="dead", attempts=1, last_error="exit 1", finished_at=T0 - 50)
    seed_job("p1", now=T0 - 30)
    seed_worker("w-1")
    before = dump(db_path)

    def run(scenario: Callable[[QueueApp, Any], Awaitable[None]]) -> None:
        app = make_app(db_path, clock=lambda: T0, refresh_interval=3600.0, read_only=True)

        async def drive() -> None:
            async with app.run_test(size=(120, 30)) as pilot:
                await refreshed(pilot)
                await scenario(app, pilot)
                await pilot.pause()
                assert not isinstance(app.screen, ConfirmScreen | CountScreen | NewJobScreen)

        asyncio.run(drive())
        db.open_database(db_path)
        assert dump(db_path) == before

    return run


def refusals(app: QueueApp) -> int:
    return sum(REFUSED in toast for toast in app.toasts)


def test_every_pane_action_is_refused_before_it_asks(read_only):
    async def scenario(app: QueueApp, pilot: Any) -> None:
        for pane, keys in [("1", "rcd"), ("2", "rRp"), ("3", "sxXK")]:
            await pilot.press(pane)
            for key in keys:
                expected = refusals(app) + 1
                await pilot.press(key)
                await wait_for(pilot, lambda n=expected: refusals(app) == n, f"{pane}: {key!r}")

    read_only(scenario)


def test_new_job_is_refused_by_key_and_palette_and_not_offered(read_only):
    """``n`` did nothing, with no toast: it is refused as every other action is."""

    async def scenario(app: QueueApp, pilot: Any) -> None:
        await pilot.press("n")
        await wait_for(pilot, lambda: refusals(app) == 1, "the key's refusal")
        await app.run_action("new_job")  # what the palette entry runs
        await wait_for(pilot, lambda: refusals(app) == 2, "the palette's refusal")
        assert not isinstance(app.screen, NewJobScreen)
        offered = [action for *_, action, _enabled in app.screen.query_one(KeyBar).items]
        assert "new_job" not in offered  # the footer does not offer it

    read_only(scenario)


def test_details_still_open_and_their_actions_are_refused(read_only):
    async def scenario(app: QueueApp, pilot: Any) -> None:
        await pilot.press("2", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "the details")
        await pilot.press("r", "d")
        await wait_for(pilot, lambda: refusals(app) == 2, "two refusals")

    read_only(scenario)


def test_a_config_save_is_refused_where_it_reaches_the_core(read_only):
    async def scenario(app: QueueApp, pilot: Any) -> None:
        settings.set_value("backoff_base", "5")  # (dump() is taken before: put it back below)
        await pilot.press("4")
        app.query_one(ConfigPane).table.select_key("backoff_base")
        await pilot.press("r", "ctrl+s")
        await wait_toast(pilot, REFUSED)
        assert settings.get("backoff_base") == 5.0
        settings.reset("backoff_base")

    read_only(scenario)


def test_no_change_is_offered_and_the_header_says_read_only(read_only):
    """Retry, Cancel, Start… stayed in the key bar and the toolbars, each refused with a
    toast when tried (five stacked), and nothing on the page said read-only."""
    from tui.header import StatsHeader
    from tui.messages import CHANGING_ACTIONS

    async def scenario(app: QueueApp, pilot: Any) -> None:
        for pane in "123456":
            await pilot.press(pane)
            await pilot.pause()
            offered = [action for *_, action, _enabled in app.screen.query_one(KeyBar).items]
            assert not CHANGING_ACTIONS & set(offered), (pane, offered)
            buttons = {button.id for button in app.screen.query("Button")}
            assert not {f"btn-{action}" for action in CHANGING_ACTIONS} & buttons, pane
        assert app.query_one(StatsHeader).location.fitted(200).endswith(" (read-only)")
        await pilot.press("1", "enter")  # the detail offers the log, not the changes
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "the details")
        await pilot.pause()
        offered = [action for *_, action, _enabled in app.screen.query_one(KeyBar).items]
        assert "log" in offered and not CHANGING_ACTIONS & set(offered), offered

    read_only(scenario)


def test_the_palette_offers_only_what_changes_nothing(read_only):
    """It listed "Jobs: new job", "Workers: start workers", "force-stop"… each refused
    with a toast when chosen, where the key bar and the buttons leave them out."""
    from tui.commands import COMMANDS, QueueCommands, changes_something

    async def scenario(app: QueueApp, pilot: Any) -> None:
        provider = QueueCommands(app.screen)
        offered = [str(hit.text) async for hit in provider.discover()]
        assert "Jobs: new job" not in offered and "Workers: start workers" not in offered
        assert "Jobs: filter" in offered and "Metrics: figures per queue, charted" in offered
        assert len(offered) == sum(not changes_something(action) for _, action, _ in COMMANDS)
        await pilot.press("4")
        assert app.query_one(ConfigPane)._status.startswith("read-only: the settings as stored")

    read_only(scenario)
