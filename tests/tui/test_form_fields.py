"""The job form's new fields (cwd, id, queue suggestions), every error at once, and
the start-workers prompt's queues."""

from __future__ import annotations

from queuectl.store.models import Job
from tests.tui.conftest import open_form, refreshed, seed_job, wait_for, wait_toast
from tui.screens.confirm import StartWorkersScreen
from tui.screens.new_job import NewJobScreen


async def test_every_invalid_field_is_shown_at_once_with_its_label(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewJobScreen), "form")
        form = app.screen
        form.query_one("#f-priority").value = "high"
        form.query_one("#f-timeout").value = "forever"
        form.query_one("#f-id").value = "no spaces"
        form.query_one("#f-cwd").value = "/no/such/dir"
        await pilot.press("ctrl+s")
        shown = str(form.query_one("#form-error").render())
        for fragment in (
            'Command: missing "command"',
            "Priority: \"priority\" must be an integer (got 'high')",
            "Timeout: ",
            "Cwd: \"cwd\" '/no/such/dir' is not a directory",  # listed with the rest
            'Id: "id" must be',  # 30 rows: room for each reason
        ):
            assert fragment in shown, shown
        form.query_one("#f-command").value = "make"
        for name in ("priority", "timeout", "id"):
            form.query_one(f"#f-{name}").value = ""
        await pilot.press("ctrl+s")  # it came back late, alone and without its label
        shown = str(form.query_one("#form-error").render())
        assert shown == "✗ Cwd: \"cwd\" '/no/such/dir' is not a directory on this host", shown
        assert Job.select().count() == 0


async def test_an_edit_checks_the_cwd_only_when_it_was_typed_anew(app_for) -> None:
    """A job whose folder has gone since can still have its priority changed."""
    seed_job("a", "make", cwd="/no/longer/here")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        form = await open_form(pilot, "e")
        form.query_one("#f-priority").value = "4"
        await pilot.press("ctrl+s")
        await wait_toast(pilot, "Job a saved (pending)")
        assert (Job.get_by_id("a").priority, Job.get_by_id("a").cwd) == (4, "/no/longer/here")


async def test_cwd_id_and_a_known_queue(app_for, tmp_path) -> None:
    seed_job("old", queue="nightly")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewJobScreen), "form")
        form = app.screen
        assert "nightly" in form.queues
        form.query_one("#f-command").value = "make"
        form.query_one("#f-id").value = "build-1"
        form.query_one("#f-cwd").value = str(tmp_path)
        form.query_one("#f-queue").focus()
        await pilot.press("n", "i", "right")  # the suggestion completes the name
        assert form.query_one("#f-queue").value == "nightly"
        await pilot.press("ctrl+s")
        await wait_toast(pilot, "Enqueued job build-1")
        job = Job.get_by_id("build-1")
        assert (job.cwd, job.queue) == (str(tmp_path), "nightly")


async def test_a_mistyped_queue_for_new_workers_is_completed_and_said(app_for, supervisor):
    """ "images, slwo" started a worker on a queue no job was in, unremarked (the header's
    "no worker: slow" came later): the last name typed is completed from the known
    queues, and the toast says which named queue has never held a job."""
    seed_job("i1", queue="images")
    seed_job("s1", queue="slow")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("3", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, StartWorkersScreen), "prompt")
        suggester = app.screen.query_one("#queues").suggester
        assert await suggester.get_suggestion("images, sl") == "images, slow"
        assert await suggester.get_suggestion("images, slwo") is None
        app.screen.query_one("#queues").value = "images, slwo"
        await pilot.press("enter")
        await wait_toast(
            pilot, "Started 1 worker on images, slwo; no job has been in queue slwo (a typo?)"
        )


async def test_start_workers_asks_for_queues(app_for, supervisor, opened) -> None:
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("3", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, StartWorkersScreen), "prompt")
        app.screen.query_one("#queues").value = "mail, bad name"
        await pilot.press("enter")
        assert "got 'bad name'" in str(app.screen.query_one("#count-error").render())
        app.screen.query_one("#queues").value = "mail, thumbs"
        await pilot.press("enter")
        await wait_toast(pilot, "Started 1 worker on mail, thumbs")
        assert supervisor.queues == ["mail", "thumbs"]


async def test_start_workers_with_slots(app_for, supervisor, opened) -> None:
    """The dialog offers ``--slots``: one worker running several jobs at once."""
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("3", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, StartWorkersScreen), "prompt")
        dialog = app.screen
        dialog.query_one("#slots").value = "65"
        await pilot.press("enter")
        assert "slots: a whole number from 1 to 64 (got '65')" in str(
            dialog.query_one("#count-error").render()
        )
        assert ("start", (opened, 1)) not in supervisor.calls
        dialog.query_one("#slots").value = "4"
        await pilot.press("enter")
        await wait_toast(pilot, "Started 1 worker of 4 slots on default")
        assert supervisor.slots == 4


def test_run_at_and_delay_together_are_a_problem_only_once_each_is_right() -> None:
    """With Run at "tomorrow" and Delay "5 parsecs", the list named Run at twice (its
    own error, then "give either run_at or delay"), the second time with no reason shown."""
    from tui.screens.new_job import field_errors

    both_wrong = field_errors({"command": "x", "run_at": "tomorrow", "delay": "5 parsecs"})
    assert [problem.split(":", 1)[0] for problem in both_wrong] == ["Run at", "Delay"]
    both_right = field_errors({"command": "x", "run_at": "2030-01-01T00:00:00Z", "delay": "5s"})
    assert both_right == ['Run at: give either "run_at" or "delay", not both']
