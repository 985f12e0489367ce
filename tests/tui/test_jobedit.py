"""Edit, clone and hold from the dashboard: the same core calls as the CLI's commands."""

from __future__ import annotations

from textual.widgets import Input

from queuectl.store.models import Job
from tests.tui.conftest import refreshed, seed_job, wait_for, wait_toast
from tui.panes.jobs import JobsPane
from tui.screens.new_job import NewJobScreen


async def test_edit_opens_the_form_prefilled_and_saves(app_for) -> None:
    seed_job("a", "make backup", state="dead", attempts=4, last_error="boom")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, NewJobScreen), "edit form")
        form = app.screen
        assert form.query_one("#f-command", Input).value == "make backup"
        assert "Edit job a, dead (it is retried)" in str(form.query_one(".title").render())
        form.query_one("#f-priority", Input).value = "oops"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "priority" in str(form.query_one("#form-error").render()))
        assert Job.get_by_id("a").state == "dead"  # a bad value changes nothing
        form.query_one("#f-priority", Input).value = "7"
        await pilot.press("ctrl+s")
        await wait_toast(pilot, "Job a saved (pending)")
        job = Job.get_by_id("a")
        assert (job.priority, job.state, job.attempts, job.command) == (
            7,
            "pending",
            0,
            "make backup",
        )


async def test_edit_of_a_running_job_is_refused(app_for) -> None:
    seed_job("a", state="processing")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("e")
        await wait_toast(pilot, "job a is running")
        assert not isinstance(app.screen, NewJobScreen)


async def test_clone_and_hold_release(app_for) -> None:
    seed_job("a", "echo hi")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("y")
        await wait_toast(pilot, "Cloned job a as ")
        assert Job.select().where(Job.command == "echo hi").count() == 2
        await refreshed(pilot)
        app.query_one(JobsPane).table.select_key("a")
        await pilot.press("h")
        await wait_toast(pilot, "Job a held")
        assert Job.get_by_id("a").held_at is not None
        await refreshed(pilot)
        assert str(app.query_one(JobsPane).table.get_cell("a", "age")) == "held"
        await pilot.press("h")
        await wait_toast(pilot, "Job a released")
        assert Job.get_by_id("a").held_at is None
