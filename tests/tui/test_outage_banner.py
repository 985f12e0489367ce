"""The database goes away under the dashboard: a banner says so, the rows stay, nothing crashes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

import tui.app
from queuectl.errors import StoreUnavailable
from queuectl.store import db
from tests.conftest import T0
from tests.pgserver import throwaway_server
from tests.tui.conftest import refreshed, seed_job, toasts, wait_for, wait_toast
from tui.app import make_app


def banner_text(app: tui.app.QueueApp) -> str:
    return str(app.banner.render())


async def test_a_refresh_that_finds_the_database_away_shows_a_banner_not_toasts(
    app_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_job("kept", "echo still-shown")
    clock = [T0]
    app = app_for(clock=lambda: clock[0])
    async with app.run_test(size=(100, 30)) as pilot:
        await refreshed(pilot)
        real_read = tui.app.read_snapshot
        refreshes_before = app.refresh_count

        def away(request: Any, now: float) -> Any:
            raise StoreUnavailable("could not connect to server: Connection refused")

        monkeypatch.setattr(tui.app, "read_snapshot", away)
        clock[0] = T0 + 5
        app.refresh_now()
        await wait_for(pilot, lambda: app.banner.away, "the banner")
        clock[0] = T0 + 35
        app.refresh_now()
        await wait_for(pilot, lambda: "30s" in banner_text(app), "the banner to count on")
        text = banner_text(app)
        assert "Database unavailable for 30s: could not connect to server" in text
        assert "showing what was read 35s ago" in text
        assert app.banner.display
        assert app.jobs_pane.table.highlighted_key == "kept"  # what was read stays shown
        assert app.refresh_count == refreshes_before
        assert not [t for t in toasts(app) if "failed" in t]  # one banner, no toast a second

        monkeypatch.setattr(tui.app, "read_snapshot", real_read)
        clock[0] = T0 + 40
        await refreshed(pilot)
        assert not app.banner.away and not app.banner.display
        await wait_toast(pilot, "The database is back, after 35s away")


@contextlib.asynccontextmanager
async def _dashboard_on_a_throwaway_server(
    refresh_interval: float,
) -> AsyncIterator[tuple[Any, tui.app.QueueApp, Any]]:
    """A server of this test's own holding one job, ``survivor``, and a dashboard on it
    that has read it once: the server, the app and its pilot."""
    with throwaway_server() as server:
        db.open_database(server.url)
        try:
            seed_job("survivor", "echo hi")
            app = make_app(server.url, refresh_interval=refresh_interval)
            async with app.run_test(size=(100, 30)) as pilot:
                await refreshed(pilot)
                yield server, app, pilot
        finally:
            db.close_database()


@pytest.mark.integration
@pytest.mark.timeout(60)
async def test_the_dashboard_rides_out_a_postgresql_restart() -> None:
    async with _dashboard_on_a_throwaway_server(refresh_interval=0.2) as (server, app, pilot):
        server.stop("immediate")
        await wait_for(pilot, lambda: app.banner.away, "the banner")
        await wait_for(pilot, lambda: "refused" in banner_text(app), "the cause in the banner")
        # The cause comes first, where a banner cut at 80 columns still shows it.
        assert f": Connection refused (server 127.0.0.1:{server.port})" in banner_text(app)
        assert app.jobs_pane.table.highlighted_key == "survivor"
        server.start()
        await wait_for(pilot, lambda: not app.banner.away, "the banner to go")
        await wait_toast(pilot, "The database is back")
        assert app.is_running


@pytest.mark.integration
@pytest.mark.timeout(60)
async def test_a_dashboard_opened_while_the_server_is_away_waits_under_its_banner() -> None:
    """``queuectl tui`` during an incident refused to open (exit 1), though one already
    open rode the outage out (an operator's try). It opens under the banner, and once the
    server answers it checks the schema (making it, on a new database) and reads."""
    with throwaway_server() as server:
        server.stop()
        try:
            app = make_app(server.url, refresh_interval=0.2)
            assert db.schema_deferred()
            async with app.run_test(size=(100, 30)) as pilot:
                await wait_for(pilot, lambda: app.banner.away, "the banner")
                assert f": Connection refused (server 127.0.0.1:{server.port})" in banner_text(app)
                assert app.refresh_count == 0 and app.is_running
                server.start()
                await wait_for(pilot, lambda: app.refresh_count > 0, "the first read")
                assert not app.banner.away and not db.schema_deferred()
                assert app.jobs_pane.status.startswith("no jobs yet")
        finally:
            db.close_database()


@pytest.mark.integration
@pytest.mark.timeout(60)
async def test_a_dashboard_that_waited_for_a_newer_schema_ends_saying_so() -> None:
    """Reached at last, the database was written by a newer queuectl: the banner showed
    that as an outage for ever (a reviewer's find). It ends, as an open that did not wait
    ends: one line, exit 1."""
    from queuectl.store.models import SchemaInfo

    with throwaway_server() as server:
        try:
            db.open_database(server.url)
            SchemaInfo.update(value="999").where(SchemaInfo.key == "schema_version").execute()
            db.close_database()
            server.stop()
            app = make_app(server.url, refresh_interval=0.2)
            async with app.run_test(size=(100, 30)) as pilot:
                await wait_for(pilot, lambda: app.banner.away, "the banner")
                server.start()
                await wait_for(pilot, lambda: app.return_code == 1, "the dashboard to end")
            assert app.ended_because is not None
            assert app.ended_because.startswith("the database was written by a newer queuectl")
        finally:
            db.close_database()


@pytest.mark.integration
@pytest.mark.timeout(60)
async def test_a_restart_while_the_dashboard_is_idle_shows_no_outage() -> None:
    """The dashboard keeps its connection between refreshes; one the server dropped in a
    restart is replaced at the next read, not shown as the database being away."""
    async with _dashboard_on_a_throwaway_server(refresh_interval=3600.0) as (server, app, pilot):
        server.restart("fast")
        await refreshed(pilot)
        assert not app.banner.away, banner_text(app)
        assert app.jobs_pane.table.highlighted_key == "survivor"


async def test_the_detail_and_log_screens_ride_out_an_outage(
    app_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's detail screen open when the database went away ended the dashboard with a
    traceback (its reader's error was the app's); it now says so and reads again."""
    from queuectl.lifecycle import reads
    from tests.tui.conftest import open_detail, seed_run
    from tui.screens.logview import LogScreen

    seed_job("kept", "echo still-shown", state="processing")
    seed_run("kept", output="line before the outage\n")
    app = app_for(refresh_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await refreshed(pilot)
        detail = await open_detail(pilot)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen), "log view")
        log = app.screen
        await wait_for(pilot, lambda: log.loads >= 1, "log load")

        def away(job_id: str) -> Any:
            raise StoreUnavailable("unable to open database file")

        monkeypatch.setattr(reads, "runs_of", away)
        title = log.query_one("#log-title")
        await wait_for(pilot, lambda: "database unavailable" in str(title.render()), "log says")
        assert "line before the outage" in log.view.lines_text[0].plain
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is detail, "back to detail")
        detail_title = detail.query_one("#detail-title")
        await wait_for(
            pilot, lambda: "database unavailable" in str(detail_title.render()), "detail says"
        )
        assert app.is_running
        monkeypatch.undo()
        await wait_for(pilot, lambda: str(detail_title.render()) == "Job kept", "back again")


async def test_a_detail_opened_while_the_database_is_away_claims_nothing_read(
    app_for, monkeypatch
) -> None:
    """It said "showing what was read before" over empty fields."""
    from queuectl.lifecycle import reads
    from tui.screens.detail import JobDetailScreen

    seed_job("d3", "echo 3")
    app = app_for(refresh_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await refreshed(pilot)

        def away(job_id: str) -> Any:
            raise StoreUnavailable("unable to open database file")

        monkeypatch.setattr(reads, "get_job", away)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "the detail")
        detail = app.screen
        title = detail.query_one("#detail-title")
        await wait_for(pilot, lambda: "database unavailable" in str(title.render()), "it says")
        assert "showing what was" not in str(title.render())
        fields = str(detail.query_one("#detail-fields").render())
        assert fields.startswith("Not read yet: trying again every")
        monkeypatch.undo()
        await wait_for(pilot, lambda: detail.view is not None, "read once it is back")
        assert detail.view.job.command == "echo 3"
        await wait_for(pilot, lambda: str(title.render()) == "Job d3", "the title")


@pytest.mark.parametrize("with_log", [True, False], ids=["without-its-wal", "with-its-wal"])
async def test_a_database_moved_away_is_named_as_moved(app_for: Any, opened: str, with_log) -> None:
    """The banner said only "unable to open database file" while every command said the
    file had moved, and (moved alone) where its latest changes were."""
    import os
    import sqlite3

    if "://" in opened:
        pytest.skip("a file moved away is SQLite's")
    seed_job("kept", "echo still-shown")
    app = app_for()
    holder = sqlite3.connect(opened)  # a worker's connection: keeps the -wal at the path
    try:
        holder.execute("SELECT COUNT(*) FROM queuectl_job").fetchone()
        async with app.run_test(size=(100, 30)) as pilot:
            await refreshed(pilot)
            if not with_log:
                seed_job("newest", "true")  # in the -wal only
            for suffix in ("", "-wal", "-shm") if with_log else ("",):
                if os.path.exists(opened + suffix):
                    os.rename(opened + suffix, opened + ".moved" + suffix)
            app.refresh_now()
            await wait_for(pilot, lambda: app.banner.away, "the banner")
            text = banner_text(app)
            if with_log:
                assert f"the database file {opened} was deleted or moved away" in text
            else:
                assert f"the database file {opened} was moved or deleted without its -wal" in text
    finally:
        holder.close()
