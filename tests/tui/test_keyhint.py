"""A key that does nothing where it is pressed says so, and where it does something."""

from __future__ import annotations

from queuectl.store.models import Job
from tests.conftest import T0
from tests.tui.conftest import (
    asked,
    open_detail,
    refreshed,
    seed_job,
    seed_run,
    seed_worker,
    toasts,
    wait_for,
    wait_toast,
)
from tui.keyhint import does_nothing_here
from tui.panes.jobs import JobsPane
from tui.screens.detail import JobDetailScreen
from tui.screens.logview import LogScreen


def _hints(app) -> list[str]:
    return [toast for toast in toasts(app) if "does nothing in" in toast]


async def test_o_in_the_dlq_says_the_sort_is_the_jobs_panes(app_for) -> None:
    seed_job("d1", state="dead", attempts=4, last_error="exit 1", finished_at=T0 - 50)
    seed_job("d2", state="dead", attempts=4, last_error="exit 2", finished_at=T0 - 40)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("2", "o")
        await wait_toast(pilot, "o does nothing in DLQ (2): Sort in Jobs (1). ? lists the keys")
        assert {job.state for job in Job.select()} == {"dead"}


async def test_l_on_a_worker_names_the_panes_where_l_works(app_for) -> None:
    seed_worker("w-1")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("3", "l")
        await wait_toast(
            pilot,
            "l does nothing in Workers (3): Log in Jobs (1), DLQ (2), Job detail; "
            "Limit in Queues (5). ? lists the keys",
        )


async def test_a_key_bound_nowhere_points_at_the_help(app_for) -> None:
    seed_job("a1")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("z")
        await wait_toast(pilot, "z does nothing in Jobs (1). ? lists the keys")


async def test_e_in_a_jobs_detail_names_where_edit_is(app_for) -> None:
    seed_job("a1", state="completed")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await open_detail(pilot)
        await pilot.press("e")
        await wait_toast(pilot, "e does nothing in Job detail: Edit in Jobs (1), DLQ (2)")
        assert isinstance(app.screen, JobDetailScreen)


async def test_letters_typed_into_the_filter_or_a_question_are_not_keys(app_for) -> None:
    seed_job("a1")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("/", "z", "o", "w", "escape")
        await wait_for(pilot, lambda: app.query_one(JobsPane).table.has_focus, "filter closed")
        question = await asked(pilot, "d")
        await pilot.press("z", "escape")
        await wait_for(pilot, lambda: question.is_attached is False, "question closed")
        assert _hints(app) == []
        assert Job.get_by_id("a1").state == "pending"


def test_a_hint_for_a_dialogs_class_or_an_unknown_place_is_none() -> None:
    """Only places with a section in the help say anything; a dialog's answers are not
    offered as places a key works (``y`` is Clone in Jobs, not "Yes in Dialogs")."""
    assert does_nothing_here("y", object, []) is None
    line = does_nothing_here("y", JobDetailScreen, [])
    assert line == "y does nothing in Job detail: Clone in Jobs (1). ? lists the keys"


async def test_a_job_key_hidden_in_a_dead_jobs_detail_says_why(app_for) -> None:
    """``c`` on a dead job's detail said nothing (hidden from its bar, as it cannot
    apply), where the Jobs pane says why; then the first cut of the hint sent the user
    to the Jobs pane's ``c``, which refuses it too."""
    seed_job("d1", state="dead", attempts=4, last_error="boom", finished_at=T0 - 5)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await open_detail(pilot)
        await pilot.press("c")
        await wait_toast(pilot, "Cancel: job d1 is dead; it can no longer be cancelled")
        await pilot.press("h")
        await wait_toast(
            pilot, "Hold: job d1 is dead; only a waiting (pending, blocked or failed) job"
        )
        await pilot.press("2")  # a pane's number, over the panes
        await wait_toast(pilot, "2 does nothing in Job detail: DLQ is a key of the panes")
        assert not any("Cancel in Jobs" in toast for toast in _hints(app))


async def test_f_on_an_ended_runs_output_says_the_run_has_ended(app_for) -> None:
    seed_job("c1", state="completed", finished_at=T0 - 5)
    seed_run("c1", outcome="succeeded", output="done\n", finished_at=T0 - 5)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen) and app.screen.loads, "log")
        await pilot.press("f")
        await wait_toast(pilot, "Follow: this run has ended (succeeded); G goes to its end")


async def test_a_punctuation_key_is_named_as_typed_and_read_only_offers_no_change(
    app_for,
) -> None:
    """The hint named Textual's key names ("full_stop does nothing in Jobs (1)"); and on
    a read-only dashboard it sent ``r`` on a worker to the Jobs pane's Retry, which is
    refused there (a reviewer's catch)."""
    seed_worker("w-1")
    app = app_for(read_only=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("full_stop")
        await wait_toast(pilot, ". does nothing in Jobs (1). ? lists the keys")
        await pilot.press("3", "r")
        await wait_toast(pilot, "r does nothing in Workers (3). ? lists the keys")
        await pilot.press("l")  # reading keys are still offered
        await wait_toast(pilot, "l does nothing in Workers (3): Log in Jobs (1), DLQ (2)")


async def test_a_burst_of_stray_keys_leaves_one_hint_on_screen(app_for) -> None:
    """``abivz…`` typed in one go stacked five hint toasts over the header's counts (a
    keyboard user's try): the latest hint replaces the one shown."""
    seed_job("a1")
    app = app_for()
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await refreshed(pilot)
        await pilot.press("a", "b", "i", "v", "z")
        await wait_toast(pilot, "z does nothing in Jobs (1)")
        await pilot.pause()
        shown = [n.message for n in app._notifications]
        assert [m for m in shown if "does nothing" in m] == [
            "z does nothing in Jobs (1). ? lists the keys"
        ]
