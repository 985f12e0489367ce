"""Edit, clone and hold from the dashboard: the same core calls as the CLI's commands."""

from __future__ import annotations

import io
import json

import pytest
from textual.widgets import Input

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.store.models import Job
from tests.conftest import T0
from tests.tui.conftest import open_detail, open_form, refreshed, seed_job, wait_for, wait_toast
from tui.panes.jobs import JobsPane
from tui.screens.confirm import ConfirmScreen
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
        assert str(form.query_one(".title").render()) == "Edit dead job (saving retries it): a"
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


async def test_a_delay_typed_in_an_edit_replaces_the_prefilled_run_at(app_for) -> None:
    """The form prefills Run at, so a Delay was refused ("give either run_at or delay")
    until Run at was cleared by hand. A Delay now counts from the save; Run at changed
    by hand beside it is still refused."""
    seed_job("a", "make backup", state="pending")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, NewJobScreen), "edit form")
        form = app.screen
        assert form.query_one("#f-run_at", Input).value  # prefilled
        form.query_one("#f-delay", Input).value = "10m"
        form.query_one("#f-run_at", Input).value = "2030-01-01T00:00:00Z"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "not both" in str(form.query_one("#form-error").render()))
        form.query_one("#f-run_at", Input).value = form.initial["run_at"]
        await pilot.press("ctrl+s")
        await wait_toast(pilot, "Job a saved (pending)")
        assert Job.get_by_id("a").run_at == app.clock() + 600


async def test_an_edit_leaves_the_fields_it_did_not_touch_exactly_as_they_were(app_for) -> None:
    """The form shows Run at to the second and the timeout rounded: saving a new
    priority wrote them back, moving the job's due time by .383 s (enough to reorder it
    among jobs due in the same second) and its timeout to six digits."""
    seed_job("a", "make backup", state="pending", run_at=T0 + 7200.383, timeout=1.23456789)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        form = await open_form(pilot, "e")
        form.query_one("#f-priority", Input).value = "3"
        await pilot.press("ctrl+s")
        await wait_toast(pilot, "Job a saved (pending)")
        job = Job.get_by_id("a")
        assert (job.priority, job.run_at, job.timeout) == (3, T0 + 7200.383, 1.23456789)


async def _save_an_edit_after(pilot, meanwhile) -> NewJobScreen:
    """Open the highlighted job's edit form, type priority 5, let ``meanwhile`` change the
    job from another shell, and save; returns the form as it was."""
    form = await open_form(pilot, "e")
    form.query_one("#f-priority", Input).value = "5"
    meanwhile()
    await pilot.press("ctrl+s")
    return form


async def test_an_edit_the_store_refused_still_asks_before_escape_discards_it(app_for) -> None:
    """The form reopened as typed, with the store's reason; ``esc`` then closed it at
    once, the typed changes gone, where a form refused by its own checks asked."""
    seed_job("a", "echo edit-me", state="pending", run_at=T0 + 3600)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        started = Job.update(state="processing").where(Job.id == "a")
        form = await _save_an_edit_after(pilot, started.execute)
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, NewJobScreen) and app.screen is not form,
            "the form reopened as typed",
        )
        reopened = app.screen
        assert "job a is running" in str(reopened.query_one("#form-error").render())
        assert str(reopened.query_one(".title").render()) == "Edit pending job: a"
        assert reopened.query_one("#f-priority", Input).value == "5"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert app.screen.question == "Discard the changes you typed?"


async def test_an_edit_of_a_job_deleted_meanwhile_can_be_enqueued_as_a_new_job(app_for) -> None:
    """Its form could only be discarded: what was typed was lost with the job. Offered
    as a new job, it keeps what ``clone`` keeps: a blocked job enqueued from the form's
    fields alone lost its dependency, env and hooks, and ran at once."""
    from queuectl.lifecycle import deps

    seed_job("first", "sleep 1", run_at=T0 + 3600)
    spec = JobSpec(
        command="echo $SECRET",
        id="a",
        env={"SECRET": "abc"},
        after=("first",),
        on_success="echo hook",
        tty=True,
        unique_key="uk1",
    )
    enqueuing.enqueue(spec, now=T0 - 600, cwd="/srv")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        app.query_one(JobsPane).table.select_key("a")
        form = await _save_an_edit_after(pilot, Job.delete().where(Job.id == "a").execute)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the offer")
        assert app.screen.question.startswith(
            "Job a was deleted meanwhile. Enqueue your edit as a new job"
        )
        await pilot.press("n")  # not now: the form comes back as typed, with why
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, NewJobScreen) and app.screen is not form,
            "the form, as typed",
        )
        reopened = app.screen
        assert "deleted meanwhile" in str(reopened.query_one("#form-error").render())
        assert reopened.query_one("#f-priority", Input).value == "5"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the offer again")
        await pilot.press("y")
        await wait_toast(pilot, "your edit of job a, deleted meanwhile")
        [new] = Job.select().where(Job.id != "first")
        assert (new.command, new.priority, new.state) == ("echo $SECRET", 5, "blocked")
        assert (new.on_success, new.tty, new.unique_key) == ("echo hook", True, "uk1")
        assert json.loads(new.env) == {"SECRET": "abc"} and new.cwd == "/srv"
        assert deps.dependencies_of_many([new.id]) == {new.id: ["first"]}


async def test_an_edit_enqueued_as_new_says_which_deleted_dependency_it_no_longer_waits_for(
    app_for,
) -> None:
    """Its dependency deleted too, the new job ran at once without a word."""
    seed_job("first", "sleep 1", run_at=T0 + 3600)
    spec = JobSpec(command="echo three", id="a", after=("first",))
    enqueuing.enqueue(spec, now=T0 - 600, cwd="/srv")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        app.query_one(JobsPane).table.select_key("a")
        both = Job.delete().where(Job.id.in_(["a", "first"]))
        await _save_an_edit_after(pilot, both.execute)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the offer")
        await pilot.press("y")
        await wait_toast(pilot, "it no longer waits for first (deleted too)")
        [new] = Job.select()
        assert (new.command, new.state) == ("echo three", "pending")


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


async def test_shift_h_with_nothing_marked_releases_the_highlighted_job_if_held(app_for):
    """``H`` with no marks only said "mark jobs": a ``y`` typed to answer the question a
    person expected then cloned the job. It now releases the highlighted job, as its
    help says, and says so when that job is not held."""
    seed_job("a", "echo hi", held_at=T0 - 5)
    seed_job("b", "echo other", now=T0 - 700)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        pane.table.select_key("b")
        await pilot.press("H")
        await wait_toast(pilot, "Job b is not held")
        pane.table.select_key("a")
        await pilot.press("H")
        await wait_toast(pilot, "Job a released")
        assert Job.get_by_id("a").held_at is None and Job.select().count() == 2


async def test_a_new_job_the_store_refuses_reopens_the_form_as_typed(app_for) -> None:
    """An id already taken passed the form's checks and was refused by the store: the
    form had closed, and what was typed was lost with it."""
    seed_job("ok-1", "echo first")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await open_form(pilot)
        app.screen.query_one("#f-id", Input).value = "ok-1"
        app.screen.query_one("#f-command", Input).value = "make all"
        app.screen.query_one("#f-priority", Input).value = "5"
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, NewJobScreen)
                and "already exists" in str(app.screen.query_one("#form-error").render())
            ),
            "the form again, with the reason",
        )
        form = app.screen
        assert form.query_one("#f-command", Input).value == "make all"
        assert form.query_one("#f-priority", Input).value == "5"
        # The command has the focus, not selected: the next key adds to it (it had
        # replaced the whole command).
        await wait_for(pilot, lambda: form.query_one("#f-command", Input).has_focus, "focus")
        await pilot.press("space", "x")
        assert form.query_one("#f-command", Input).value == "make all x"
        form.query_one("#f-command", Input).value = "make all"
        form.query_one("#f-id", Input).value = "ok-2"
        await pilot.press("ctrl+s")
        await wait_toast(pilot, "Enqueued job ok-2")
        assert (Job.get_by_id("ok-2").command, Job.get_by_id("ok-2").priority) == ("make all", 5)
        assert Job.get_by_id("ok-1").command == "echo first"


async def test_a_schedules_fire_is_edited_from_the_dashboard(app_for) -> None:
    """A fire's env holds the schedule's variables, which no user may set: every edit of
    one was refused (``"env" may not set QUEUECTL_CRON_NAME``) and the form was lost."""
    env = '{"QUEUECTL_CRON_NAME": "nightly", "QUEUECTL_CRON_TS": "20261205T030000Z"}'
    seed_job("nightly:20261205T030000Z", "false", state="dead", env=env)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await open_form(pilot, "e")
        app.screen.query_one("#f-command", Input).value = "true"
        await pilot.press("ctrl+s")
        await wait_toast(pilot, "Job nightly:20261205T030000Z saved (pending)")
        job = Job.get_by_id("nightly:20261205T030000Z")
        assert (job.command, json.loads(job.env)) == ("true", json.loads(env))


async def test_the_detail_screen_says_a_job_is_held_and_h_releases_it(app_for) -> None:
    """The Jobs row said "held"; its detail said only "pending", with no way to release."""
    seed_job("a", held_at=T0 - 60)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        screen = await open_detail(pilot)
        assert "Held" in _text_of(screen) and "released (h)" in _text_of(screen)
        await pilot.press("h")
        await wait_toast(pilot, "Job a released")
        assert Job.get_by_id("a").held_at is None
        loads = screen.loads
        screen.load()  # the screen's own next read (each second outside tests)
        await wait_for(pilot, lambda: screen.loads > loads, "the next read")
        assert "released (h)" not in _text_of(screen)


@pytest.mark.parametrize(("size", "dated"), [((80, 24), False), ((160, 45), True)])
async def test_the_held_time_drops_its_date_where_the_other_times_do(app_for, size, dated) -> None:
    """At 80 columns every time dropped today's date but the Held row's, which had a row
    of the full width to itself: ``Held  since 2026-12-07T09:03:58Z (981ms ago) …``."""
    seed_job("a", held_at=T0 - 60)
    app = app_for()
    async with app.run_test(size=size) as pilot:
        await refreshed(pilot)
        screen = await open_detail(pilot)
        fields = screen.query_one("#detail-fields")
        lines = [
            "".join(segment.text for segment in fields.render_line(y))
            for y in range(fields.size.height)
        ]
        held = next(line for line in lines if line.startswith("Held"))
        created = next(line for line in lines if line.startswith("Created"))
        assert "11:05:40Z (1m00s ago)" in held and "released (h)" in held
        assert ("2026-11-18T" in held) is dated and ("2026-11-18T" in created) is dated


def _text_of(screen) -> str:
    from rich.console import Console

    console = Console(width=80, record=True, file=io.StringIO())
    console.print(screen.query_one("#detail-fields").content)
    return console.export_text()


async def test_h_releases_a_held_job_whose_detail_outlived_its_row(app_for) -> None:
    """The detail screen of a held job whose row has left the Jobs window (500 newer
    jobs, or a filter) offered "Release", and ``h`` tried to hold it: "job a is already
    held". The job as the detail read it says it is held."""
    from tui.data import JobFilter

    seed_job("a", "echo hi", held_at=T0 - 60)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        screen = await open_detail(pilot)
        app.query_one(JobsPane).job_filter = JobFilter(text="nothing matches this")
        await refreshed(pilot)
        assert "a" not in app.last_snapshot.jobs.raw
        await pilot.press("h")
        await wait_toast(pilot, "Job a released")
        assert Job.get_by_id("a").held_at is None
        assert app.screen is screen


async def test_h_on_a_finished_job_says_why_as_c_and_d_do(app_for) -> None:
    """``c`` said "Job a is completed; …" at once, ``h`` went to the database and came
    back with the core's "job a is completed; …"."""
    seed_job("a", "echo hi", state="completed")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("h")
        await wait_toast(
            pilot, "Job a is completed; only a waiting (pending, blocked or failed) job can be held"
        )


async def test_a_long_ids_edit_title_keeps_its_state_and_warning_and_ends_in_an_ellipsis(
    app_for,
) -> None:
    """``Edit job nightly-backup-of-the-very-long-named-db:20261207T214052Z.runp1, de``: a
    schedule's fire cut the title at 80 columns with no sign, "(it is retried)" gone."""
    long_id = "nightly-backup-of-the-very-long-named-db:20261207T214052Z.runp1"
    seed_job(long_id, state="dead", attempts=4, last_error="boom")
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("2", "e")
        await wait_for(pilot, lambda: isinstance(app.screen, NewJobScreen), "edit form")
        await pilot.pause()
        title = app.screen.query_one(".title")
        dialog = app.screen.query_one(".dialog")
        assert title.region.right <= dialog.region.right
        drawn = "".join(
            segment.text for segment in title.render_line(0) if not segment.control
        ).rstrip()
        assert drawn.startswith("Edit dead job (saving retries it): nightly-backup")
        assert drawn.endswith("…")
