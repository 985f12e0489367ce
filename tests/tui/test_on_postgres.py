"""The dashboard against PostgreSQL: it reads, refreshes and acts through the same core."""

from __future__ import annotations

import pytest

from queuectl.store import db
from queuectl.store.models import Job
from tests.conftest import T0
from tests.tui.conftest import refreshed, seed_job, wait_for, wait_toast
from tests.tui.test_data import assert_text_sorts_by_code_point, assert_the_snapshot_is_one_read
from tui.app import make_app

pytestmark = pytest.mark.postgres


async def test_dashboard_lists_and_retries_on_postgresql(pg_url: str) -> None:
    db.open_database(pg_url)
    seed_job("alive", "echo fine")
    seed_job("gone", "exit 1", state="dead", attempts=4, last_error="boom", output="y" * 2000)
    app = make_app(pg_url, clock=lambda: T0, refresh_interval=3600.0)
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("2")  # the DLQ pane
        await refreshed(pilot)
        # Only the output's end is read (``RIGHT`` here): its line starts mid-line.
        assert app.last_snapshot.dlq.parts["gone"][5] == ("boom: …" + "y" * 292 + "…", "red")
        await pilot.press("r")
        await wait_for(pilot, lambda: Job.get_by_id("gone").state == "pending", "retry")
        await wait_toast(pilot, "Job gone is pending again")


def test_the_snapshot_is_one_read_on_postgresql(pg_url: str, monkeypatch) -> None:
    """PostgreSQL's READ COMMITTED would show the window a job the counts never saw."""
    db.open_database(pg_url)
    assert_the_snapshot_is_one_read(monkeypatch)


def test_a_sorted_window_orders_text_by_code_point_on_postgresql(pg_url: str) -> None:
    db.open_database(pg_url)
    assert_text_sorts_by_code_point()


async def test_the_dashboard_keeps_one_connection_across_refreshes(
    pg_url: str, monkeypatch
) -> None:
    """Each refresh (and each read of an open detail) ran in a new thread and logged in
    anew: 3,000 server processes an hour for a dashboard kept open, a password exchange
    each, and ``log_connections`` full of them (an SRE's try). Now one, kept."""
    from queuectl.store.models import database
    from tests.tui.conftest import open_detail

    db.open_database(pg_url)
    seed_job("alive", "echo fine")
    app = make_app(pg_url, clock=lambda: T0, refresh_interval=3600.0)
    server = database.obj
    logins: list[int] = []
    real = server._connect
    monkeypatch.setattr(server, "_connect", lambda: logins.append(1) or real())
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(5):
            await refreshed(pilot)
        screen = await open_detail(pilot)
        for loads in range(2, 5):
            screen.load()
            await wait_for(pilot, lambda n=loads: screen.loads >= n, "another detail load")
        assert len(logins) == 1, f"{len(logins)} logins for 6 refreshes and 4 detail loads"
