"""Jobs pane: every action changes the database as the CLI would, and bad ones change nothing."""

from __future__ import annotations

import gc
import time

import pytest

from queuectl.errors import QueueError
from queuectl.jobspec import JobSpec
from queuectl.lifecycle import deps, manage
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.store.models import Job
from tests.conftest import T0
from tests.tui.conftest import (
    asked,
    open_detail,
    open_form,
    refreshed,
    seed_job,
    seed_run,
    toasts,
    wait_for,
    wait_toast,
)
from tui.output import overwritten
from tui.panes.jobs import SORTABLE, JobsPane
from tui.screens.confirm import ConfirmScreen
from tui.screens.detail import JobDetailScreen


def _state(job_id: str) -> str | None:
    job = Job.get_or_none(Job.id == job_id)
    return job.state if job else None


async def _highlight(pilot, job_id: str) -> None:
    pane = pilot.app.query_one(JobsPane)
    pane.table.select_key(job_id)
    await pilot.pause()
    assert pane.highlighted == job_id


async def test_shows_jobs_newest_first(app_for) -> None:
    seed_job("old", now=T0 - 100)
    seed_job("new", now=T0 - 10)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        assert [key for key, _ in app.last_snapshot.jobs.rows] == ["new", "old"]
        assert pane.highlighted == "new"
        assert "2 jobs" in str(pane.query_one(".status").render())


async def test_retry_dead_job(app_for) -> None:
    seed_job("a", state="dead", attempts=4, last_error="boom")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await _highlight(pilot, "a")
        await pilot.press("r")
        await wait_for(pilot, lambda: _state("a") == "pending", "retry")
        assert Job.get_by_id("a").attempts == 0
        await wait_toast(pilot, "Job a is pending again")


async def test_retry_pending_job_is_refused(app_for) -> None:
    seed_job("a")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("r")
        await wait_toast(pilot, "only failed, dead, cancelled or completed jobs can be retried")
        assert _state("a") == "pending"


async def test_cancel_asks_naming_the_job_then_cancels(app_for) -> None:
    seed_job("a", "rsync -a /srv/ nas:/srv/")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "c")
        assert app.screen.question == "Cancel job a (pending)?"
        assert app.screen.command == "rsync -a /srv/ nas:/srv/"
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "dismissed")
        assert _state("a") == "pending"
        await pilot.press("c", "y")
        await wait_for(pilot, lambda: _state("a") == "cancelled", "cancel")
        await wait_toast(pilot, "Job a cancelled")


async def test_c_y_typed_together_cancels_while_the_question_is_being_read(
    app_for, monkeypatch
) -> None:
    """``c`` reads the blocked jobs that would go with the job before it asks: ``y``
    typed meanwhile ran clone on the highlighted job, and the question opened after."""
    real = deps.would_take_down

    def slow(job_ids):
        time.sleep(0.3)
        return real(job_ids)

    monkeypatch.setattr(deps, "would_take_down", slow)
    seed_job("a")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("c", "y")
        await wait_for(pilot, lambda: _state("a") == "cancelled", "the cancel")
        assert Job.select().count() == 1, "y cloned the job"
        assert not isinstance(app.screen, ConfirmScreen)


async def test_two_questions_typed_ahead_each_get_their_answer(app_for, monkeypatch) -> None:
    """``c y j d y`` typed together: the ``d`` replayed to the first question's screen asks
    a second question that is read first too, and the keys after it wait for that one."""
    real = deps.would_take_down

    def slow(job_ids):
        time.sleep(0.3)
        return real(job_ids)

    monkeypatch.setattr(deps, "would_take_down", slow)
    seed_job("b", now=T0 - 700)
    seed_job("a", now=T0 - 600)
    app = app_for()
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await refreshed(pilot)
        assert app.query_one(JobsPane).highlighted == "a"
        await pilot.press("c", "y", "j", "d", "y")
        await wait_for(pilot, lambda: _state("a") == "cancelled", "the cancel")
        await wait_for(
            pilot,
            lambda: not Job.select().where(Job.id == "b").exists(),
            f"delete {app.screen} {list(app.toasts)} {app.query_one(JobsPane).highlighted}",
        )
        assert Job.select().count() == 1, "a key cloned a job"
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "no question")


async def test_c_y_when_the_question_cannot_be_read_clones_nothing(app_for, monkeypatch) -> None:
    """With the database moved away, ``c`` asked nothing (its read failed), so the ``y``
    meant as yes ran clone on the job the user meant to cancel (a web user's try)."""

    def gone(job_ids):
        time.sleep(0.2)
        raise QueueError("the database file /srv/q.db was deleted or moved away")

    monkeypatch.setattr(deps, "would_take_down", gone)
    seed_job("a")
    app = app_for()
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await refreshed(pilot)
        await pilot.press("c", "y")
        await wait_toast(pilot, "was deleted or moved away")
        await pilot.pause(0.1)
        assert Job.select().count() == 1, "y cloned the job"
        assert _state("a") == "pending"
        monkeypatch.undo()
        await pilot.press("y")  # the keys are not held any longer: y clones
        await wait_for(pilot, lambda: Job.select().count() == 2, "the clone")


async def test_c_y_on_a_job_that_ended_meanwhile_clones_nothing(app_for, monkeypatch) -> None:
    """``c y`` typed as one gesture on a job that had completed since the last refresh:
    ``c`` was refused without a question and ``y`` ran clone, so the job ran again (a
    keyboard user's try). The answer is dropped; a ``y`` typed after another key, or
    later, is the pane's own."""
    import tui.keyorder

    seed_job("done", state="completed")
    app = app_for()
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await refreshed(pilot)
        await pilot.press("c", "y")
        await wait_toast(pilot, "y ignored: no question was asked")
        assert any("can no longer be cancelled" in toast for toast in toasts(app))
        assert Job.select().count() == 1, "y cloned the job"
        await pilot.press("c", "j", "y")  # refused again, but y follows another key
        await wait_for(pilot, lambda: Job.select().count() == 2, "the clone")
        monkeypatch.setattr(tui.keyorder, "ANSWER_GRACE_SECONDS", 0.0)
        await pilot.press("c", "y")  # too late to be the refused question's answer
        await wait_for(pilot, lambda: Job.select().count() == 3, "the second clone")


async def test_yes_tapped_twice_cancels_and_clones_nothing(app_for) -> None:
    """``c y y``: the question's yes, then the Jobs pane's ``y``, clone, on the job just
    cancelled, which ran it again (a keyboard user's try). The second ``y`` is dropped."""
    seed_job("once")
    app = app_for()
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await refreshed(pilot)
        await pilot.press("c", "y", "y")
        await wait_for(pilot, lambda: Job.get_by_id("once").state == "cancelled", "cancelled")
        await wait_toast(pilot, "y ignored: no question was asked")
        assert Job.select().count() == 1, "y cloned the job"


async def test_r_y_on_a_pending_job_clones_nothing(app_for) -> None:
    """``r y`` from habit (a batch retry asks): ``r`` on a pending job was refused by the
    core, never asking, and ``y`` cloned the job (a web user's try). The ``y`` is taken
    for an answer to no question, as after a refused ``c``."""
    seed_job("waiting")
    app = app_for()
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await refreshed(pilot)
        await pilot.press("r", "y")
        await wait_toast(pilot, "y ignored: no question was asked")
        await wait_for(
            pilot, lambda: any("can be retried" in toast for toast in toasts(app)), "refusal"
        )
        assert Job.select().count() == 1, "y cloned the job"


async def test_a_long_command_in_a_question_is_one_line_cut_at_the_edge(app_for) -> None:
    """At 80x24 a long command quoted in the question wrapped at its first space, so its
    words read as two commands: it now has a line of its own, cut with an ellipsis."""
    command = "rsync -a --delete --exclude=.cache /srv/projects/a-long-directory/ nas:/b/"
    seed_job("a", command)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "d")
        await pilot.pause()
        line = app.screen.query_one(".command")
        assert line.size.height == 1
        drawn = line.render_line(0).text.rstrip()
        assert drawn.startswith("$ rsync -a --delete") and drawn.endswith("…")
        assert len(drawn) <= line.size.width


async def test_a_question_opens_uncovered_by_the_toasts_before_it(app_for) -> None:
    """At 80x24 the error toast of ``r`` on a pending job covered the delete question's
    end and its buttons for seconds."""
    seed_job("a", "echo two")
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("r")
        await wait_toast(pilot, "only failed")
        await asked(pilot, "d")
        await pilot.pause()
        assert not app._notifications
        assert app.screen.query_one("#yes").region.height == 1


async def test_cancelling_a_running_job_says_its_process_is_killed(app_for) -> None:
    seed_job("a", "sleep 600", state="processing", worker_id="w-1", started_at=T0 - 5)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "c")
        assert app.screen.question == "Cancel job a (processing)? Its process is killed."
        assert app.screen.command == "sleep 600"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "dismissed")
        assert _state("a") == "processing"


async def test_delete_asks_first(app_for) -> None:
    seed_job("a", state="completed")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "d")
        assert app.screen.question == "Delete job a (completed) and its runs?"
        assert app.screen.command == "echo hi"
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "dismissed")
        assert _state("a") == "completed"
        await asked(pilot, "d")
        await pilot.press("y")
        await wait_for(pilot, lambda: _state("a") is None, "delete")
        await refreshed(pilot)
        assert app.query_one(JobsPane).highlighted is None


async def test_a_yes_acts_only_on_the_state_the_question_named(app_for) -> None:
    """ "Delete job a (dead)?" was answered after a retry from another shell had made it
    pending: the pending job was deleted. ``y`` now acts only while the job is still as
    the question named it, and says why not; asked again, it names the new state."""
    seed_job("a", state="dead")
    seed_job("b", state="pending")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        cases = [  # (job, key, the question, its state by the answer, the toast)
            (
                "a",
                "d",
                "Delete job a (dead) and its runs?",
                "pending",
                "job a is pending; it was dead when asked, so it was not deleted",
            ),
            (
                "b",
                "c",
                "Cancel job b (pending)?",
                "processing",
                "job b is processing; it was pending when asked",
            ),
        ]
        for job_id, key, named, meanwhile, said in cases:
            await refreshed(pilot)
            app.query_one(JobsPane).table.select_key(job_id)
            assert (await asked(pilot, key)).question == named
            Job.update(state=meanwhile).where(Job.id == job_id).execute()  # another shell
            await pilot.press("y")
            await wait_toast(pilot, said)
            assert _state(job_id) == meanwhile
        await refreshed(pilot)
        app.query_one(JobsPane).table.select_key("a")
        question = await asked(pilot, "d")
        assert question.question == "Delete job a (pending) and its runs?"
        await pilot.press("y")
        await wait_for(pilot, lambda: _state("a") is None, "the delete, asked anew")


async def test_delete_running_job_is_refused(app_for) -> None:
    seed_job("a", state="processing", worker_id="w-1", started_at=T0 - 5)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("d", "y")
        await wait_toast(pilot, "cancel it before deleting it")
        assert _state("a") == "processing"


async def test_buttons_run_the_same_actions(app_for) -> None:
    seed_job("a")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.click("#btn-cancel")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        await pilot.click("#yes")
        await wait_for(pilot, lambda: _state("a") == "cancelled", "cancel by button")


async def test_a_click_on_a_button_or_the_shown_tab_leaves_the_keys_with_the_table(
    app_for,
) -> None:
    """In the browser: after a click on Sort, enter sorted again instead of opening the
    job (after Retry, it retried the row highlighted by then, unasked); after a click on
    the tab already shown, j, k and enter did nothing."""
    for index in range(3):
        seed_job(f"job{index}", now=T0 - 100 + index)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        await pilot.click("#btn-cycle_sort")
        await wait_for(pilot, lambda: pane.sort != type(pane.sort)(), "sorted by the click")
        assert app.focused is pane.table
        sort = pane.sort
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "the detail")
        assert pane.sort == sort
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, JobDetailScreen), "back")
        await pilot.click("#--content-tab-jobs")  # the tab already shown
        await pilot.pause()
        assert app.focused is pane.table
        row = pane.table.cursor_row
        await pilot.press("j")
        assert pane.table.cursor_row == row + 1


async def test_refresh_keeps_cursor_on_its_job(app_for) -> None:
    for index in range(5):
        seed_job(f"job{index}", now=T0 - 100 + index)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await _highlight(pilot, "job2")
        pane = app.query_one(JobsPane)
        row_before = pane.table.cursor_row
        enqueuing.enqueue_many(
            [JobSpec(command="echo new", id=f"new{i}") for i in range(3)], now=T0, cwd="/"
        )
        Job.update(state="completed").where(Job.id == "job3").execute()
        await refreshed(pilot)
        assert [key for key, _ in app.last_snapshot.jobs.rows][:3] == ["new2", "new1", "new0"]
        assert pane.highlighted == "job2"
        assert pane.table.cursor_row == row_before + 3
        # A changed cell is updated in place.
        assert "completed" in str(pane.table.get_row("job3")[1])


async def test_cursor_moves_to_neighbour_when_its_job_goes(app_for) -> None:
    for index in range(3):
        seed_job(f"job{index}", state="completed", now=T0 - 100 + index)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await _highlight(pilot, "job1")
        manage.delete("job1")
        await refreshed(pilot)
        assert app.query_one(JobsPane).highlighted in ("job0", "job2")


async def test_detail_screen_shows_runs_and_follows_output(app_for) -> None:
    seed_job("a", state="processing", attempts=2, worker_id="w-1", started_at=T0 - 50)
    seed_run("a", 1, finished_at=T0 - 60, outcome="failed", exit_code=3, output="first\n")
    run_id = seed_run("a", 2, output="line one\n")
    app = app_for(refresh_interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await refreshed(pilot)
        screen = await open_detail(pilot)
        log = screen.query_one("#output")
        assert "line one" in log.plain
        assert screen.query_one("#runs").row_count == 2
        from queuectl.store.models import Run

        Run.update(output="line one\nline two\n").where(Run.id == run_id).execute()
        await wait_for(pilot, lambda: "line two" in log.plain, "live output")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, JobDetailScreen), "back")


@pytest.mark.parametrize("ran", [False, True])
async def test_l_on_a_deleted_jobs_detail_says_it_no_longer_exists(app_for, ran) -> None:
    """``l`` on the detail of a job deleted meanwhile said "This job has not run yet";
    on one that had run, it opened a blank log titled "this run no longer exists"."""
    seed_job("a", state="completed" if ran else "pending")
    if ran:
        seed_run("a", finished_at=T0 - 1, outcome="succeeded", exit_code=0, output="done\n")
    app = app_for(refresh_interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await refreshed(pilot)
        screen = await open_detail(pilot)
        from tui.keybar import KeyBar

        bar = screen.query_one(KeyBar)

        def log_offered() -> bool:
            return next(on for _k, what, _key, _a, on in bar.items if what == "Log")

        assert log_offered()
        Job.delete().where(Job.id == "a").execute()
        await wait_for(pilot, lambda: screen.view is not None and screen.view.job is None, "gone")
        await wait_for(pilot, lambda: not log_offered(), "l dimmed: it can only say so")
        await pilot.press("l")
        await wait_toast(pilot, "This job no longer exists")
        assert app.screen is screen


async def test_detail_shows_a_running_jobs_unfinished_last_line_as_it_changes(app_for) -> None:
    """``printf "45%"`` or a progress bar's latest update has no newline yet: it used to
    show only once the job ended (or one update late)."""
    seed_job("a", state="processing", worker_id="w-1", started_at=T0 - 5)
    run_id = seed_run("a", output="start\nprogress 45%")
    app = app_for(refresh_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        screen = await open_detail(pilot)
        log = screen.query_one("#output")
        await wait_for(pilot, lambda: log.plain == "start\nprogress 45%", "the partial line")
        from queuectl.store.models import Run

        Run.update(output="start\nprogress 45%\rprogress 90%").where(Run.id == run_id).execute()
        await wait_for(pilot, lambda: log.plain.endswith("progress 90%"), "its update")
        # A \r goes back to the start of the line, as in a terminal: one line, updated.
        assert log.plain == "start\nprogress 90%"
        assert len(log.painted()) == 2  # the provisional line was taken back, not left twice
        assert [row.rstrip() for row in log.painted()] == log.plain.split("\n")
        Run.update(output="start\nprogress 45%\rprogress 90%\rdone\n", outcome="succeeded").where(
            Run.id == run_id
        ).execute()
        await wait_for(pilot, lambda: log.plain.endswith("doneress 90%"), "the end")
        # "done" written over the start of the line, the rest still there: a terminal's.
        assert [row.rstrip() for row in log.painted()] == ["start", "doneress 90%"]


async def test_detail_retry_key(app_for) -> None:
    seed_job("a", state="dead", attempts=4)
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        await refreshed(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "detail")
        await pilot.press("r")
        await wait_for(pilot, lambda: _state("a") == "pending", "retry from detail")


async def test_sort_by_key_and_header(app_for) -> None:
    seed_job("high", now=T0 - 100, priority=9)
    seed_job("low", now=T0 - 10)  # enqueued last: the newest, first in natural order
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        assert pane.highlighted == "low"
        table = pane.table
        x = sum(column.get_render_width(table) for column in table.ordered_columns[:2])
        await pilot.click(table, offset=(x + 1, 0))  # the "Pri" header
        await wait_for(pilot, lambda: pane.sort.column == "priority", "sort by header")
        await refreshed(pilot)
        assert [key for key, _ in app.last_snapshot.jobs.rows] == ["high", "low"]
        assert pane.highlighted == "low"  # the cursor followed its job
        await pilot.press("o")
        assert pane.sort.column is not None


async def test_an_empty_queue_says_that_workers_run_the_jobs(app_for) -> None:
    """A newcomer's first job sat pending: the empty pane said only ``n: new job``."""
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        assert pane.status == "no jobs yet · n: new job · 3: workers"


async def test_the_age_header_turns_the_natural_order_round(app_for) -> None:
    """Age has one order, the natural one: a click gave a second, by the time each cell
    shows, labelled ``Age ▲`` as well, and moved a delayed job to the top (an outside try)."""
    seed_job("old", now=T0 - 100)
    seed_job("delayed", now=T0 - 50, run_at=T0 + 300)  # "in 5m", enqueued in between
    seed_job("new", now=T0 - 10)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        table = pane.table
        natural = ["new", "delayed", "old"]
        assert [key for key, _ in app.last_snapshot.jobs.rows] == natural
        keys = [str(column.key.value) for column in table.ordered_columns]
        x = sum(
            column.get_render_width(table) for column in table.ordered_columns[: keys.index("age")]
        )

        def age_label() -> str:
            return str(table.ordered_columns[keys.index("age")].label)

        for arrow, order in (("▼", natural[::-1]), ("▲", natural)):
            await pilot.click(table, offset=(x + 1, 0))  # the "Age" header
            await wait_for(pilot, lambda arrow=arrow: age_label() == f"Age {arrow}", arrow)
            await refreshed(pilot)
            assert pane.sort.column is None
            assert [key for key, _ in app.last_snapshot.jobs.rows] == order


async def test_highlighted_job_keeps_its_place_on_screen(app_for) -> None:
    for index in range(40):
        seed_job(f"job{index:02d}", now=T0 - 100 + index)
    app = app_for()
    async with app.run_test(size=(120, 20)) as pilot:
        await refreshed(pilot)
        await _highlight(pilot, "job05")  # far down: the table scrolled to show it
        table = app.query_one(JobsPane).table
        await wait_for(pilot, lambda: table.scroll_y > 0, "scrolled to the job")
        offset = table.cursor_row - table.scroll_y
        enqueuing.enqueue_many(
            [JobSpec(command="echo new", id=f"new{i:02d}") for i in range(30)], now=T0, cwd="/"
        )
        await refreshed(pilot)
        assert app.query_one(JobsPane).highlighted == "job05"
        await wait_for(pilot, lambda: table.cursor_row - table.scroll_y == offset, "same place")


async def test_delete_from_detail_goes_back(app_for) -> None:
    seed_job("a", state="completed")
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        await refreshed(pilot)
        await open_detail(pilot)
        await asked(pilot, "d")
        await pilot.press("y")
        await wait_for(pilot, lambda: _state("a") is None, "delete")
        await wait_for(pilot, lambda: not isinstance(app.screen, JobDetailScreen), "back")


async def test_a_delete_refused_from_the_detail_stays_on_the_detail(app_for) -> None:
    """Retried from another shell before the ``y``, the job was left, as it should be,
    but its detail screen closed as if it had gone."""
    seed_job("a", state="dead")
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        await refreshed(pilot)
        await open_detail(pilot)
        await asked(pilot, "d")
        manage.act(manage.RETRY, ["a"])
        await pilot.press("y")
        await wait_toast(pilot, "it was dead when asked, so it was not deleted")
        assert isinstance(app.screen, JobDetailScreen) and _state("a") == "pending"


async def test_the_dashboard_freezes_its_startup_heap_after_the_first_refresh(app_for) -> None:
    """``queuectl tui`` keeps the long-lived heap out of full collections (see app.py)."""
    seed_job("a")
    app = app_for(freeze_startup_heap=True)
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            await refreshed(pilot)
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


async def test_detail_shows_a_long_command_and_error_whole_at_80x24(app_for) -> None:
    """They shared half the width with an empty column and were cut with "…" mid-path,
    and the dashboard showed the rest nowhere."""
    command = (
        "rsync -a --delete /srv/data/projects/very/long/path/to/source/directory/"
        " backup@nas.example.com:/volume1/backups/projects/very/long/path/to/destination/"
    )
    error = "exit 23: " + "partial transfer due to error " * 4
    seed_job("long", command, state="failed", attempts=1, last_error=error)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        screen = await open_detail(pilot)
        fields = screen.query_one("#detail-fields")
        lines = [
            "".join(segment.text for segment in fields.render_line(y)).rstrip()
            for y in range(fields.size.height)
        ]
        values = "".join(line[11:] for line in lines)  # past the labels' column
        assert command.replace(" ", "") in values.replace(" ", "")
        assert error.replace(" ", "") in values.replace(" ", "")
        assert not any("…" in line for line in lines if "Command" in line or "/" in line)


async def test_the_detail_shows_the_hooks_terminal_and_env_names(app_for) -> None:
    """README says every field; the job's own hooks, its terminal and its env were
    shown by ``queuectl show`` only. Env values stay off the screen (names only)."""
    import json

    seed_job(
        "full",
        state="completed",
        env=json.dumps({"TOKEN": "s3cret-value", "A": "1"}),
        on_success="echo ok \x1b]0;pwned\x07",
        on_failure="",
        tty=True,
    )
    app = app_for()
    async with app.run_test(size=(160, 45)) as pilot:
        await refreshed(pilot)
        screen = await open_detail(pilot)
        fields = screen.query_one("#detail-fields")
        text = "\n".join(
            "".join(segment.text for segment in fields.render_line(y)).rstrip()
            for y in range(fields.size.height)
        )
        assert "Env        A, TOKEN (values: queuectl show)" in text
        assert "s3cret-value" not in text
        assert "On success echo ok ␛]0;pwned␇" in text  # inert
        assert "On failure none (the setting's is off for this job)" in text
        assert "Terminal   yes: runs under a pseudo-terminal" in text


async def test_o_cycles_through_the_columns_shown_only(app_for) -> None:
    """At 80x24 Pri, Queue, Took and Worker give way to a long command: sorting by them
    ordered the rows by values no one could see, with no arrow anywhere."""
    long_command = "python manage.py send_digest --batch-size 500 --verbose --dry-run"
    seed_job("a", long_command, queue="mail", priority=5)
    seed_job("b", long_command, queue="web", priority=1)
    layouts = {}
    for size in ((80, 24), (200, 30)):
        app = app_for()
        async with app.run_test(size=size) as pilot:
            await refreshed(pilot)
            pane = app.query_one(JobsPane)
            shown = layouts[size] = [key for key, _width in pane.table.layout]
            seen = []
            for _ in range(12):
                await pilot.press("o")
                seen.append(pane.sort.column)
                if pane.sort.column is not None:
                    assert pane.sort.column in shown, (size, pane.sort.column, shown)
                    assert any(pane.sort.column == key for key in pane.table.marks)
            cycle = [column for column in dict.fromkeys(seen) if column is not None]
            # The next column to the right, as shown, round from Age (README: "the next
            # column shown").
            order = [name for name in shown if name in SORTABLE]
            after = order.index("age") + 1
            assert cycle == order[after:] + order[: after - 1]
    assert "worker" not in layouts[80, 24] and "worker" in layouts[200, 30]  # a hidden one


@pytest.mark.parametrize(
    ("output", "shown"),
    [
        ("1% done\r2% done\r3% done", "3% done"),
        ("a\r\nb\r\n", "a\nb\n"),  # CRLF ends lines
        ("50%\r", "50%"),  # a \r last: the update stays until the next text
        ("x\r\ry\nz", "y\nz"),
        ("plain\ntext", "plain\ntext"),
        # Written over the start of the line, the rest kept: only "100%" was left.
        ("red [bold]x[/bold] \x07bell\r50%\r100%\n", "100%[bold]x[/bold] \x07bell\n"),
        ("downloading 100%\rdone", "doneloading 100%"),
        # An escape (an erase, a colour) makes columns unknowable here: the last part.
        ("x\x1b[K\rok", "ok"),
        ("é long line\rab", "ab"),
    ],
)
def test_carriage_returns_leave_each_line_as_a_terminal_would(output, shown) -> None:
    assert overwritten(output) == shown


async def test_the_detail_fields_below_a_long_command_are_reached_from_the_keyboard(app_for):
    """At 80x24 a 300-character command filled the fields' box (a third of the screen);
    the worker, exit code, cwd and last error sat below it, where no key scrolled."""
    seed_job("prog", "echo " + "x" * 300, state="dead", last_error="the last line of the error")
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        screen = await open_detail(pilot)
        box = screen.query_one("#detail-fields-box")
        assert box.max_scroll_y > 0  # the fields do not fit: the case in point
        await pilot.press("shift+tab")
        await wait_for(pilot, lambda: app.focused is box, "the fields' box focused")
        await pilot.press("end")
        await wait_for(pilot, lambda: box.scroll_y == box.max_scroll_y, "scrolled to the end")


async def test_the_column_the_rows_are_sorted_by_stays_shown_on_a_narrower_screen(app_for):
    """Sorted by Queue at 160 columns, then narrowed to 80: Queue was dropped, so the
    rows kept an order by a column no longer shown, with no arrow anywhere."""
    long_command = "python manage.py send_digest --batch-size 500 --verbose --dry-run " * 2
    seed_job("a", long_command, queue="notifications-mail", priority=5, attempts=2)
    seed_job("b", long_command, queue="thumbnails-web", priority=1)
    app = app_for()
    async with app.run_test(size=(160, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        while pane.sort.column != "queue":
            await pilot.press("o")
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: pane.table.size.width < 100, "the narrow layout")
        await wait_for(
            pilot, lambda: "queue" in [key for key, _ in pane.table.layout], "Queue shown"
        )
        assert "Queue ▲" in [str(column.label) for column in pane.table.ordered_columns]
        assert "worker" not in [key for key, _ in pane.table.layout]  # others still give way


@pytest.mark.parametrize(
    ("state", "held", "offered"),
    [
        ("completed", False, ["Retry", "Delete"]),
        ("dead", False, ["Retry", "Delete"]),
        ("cancelled", False, ["Retry", "Delete"]),
        ("pending", False, ["Cancel", "Delete", "Hold"]),
        ("pending", True, ["Cancel", "Delete", "Release"]),
        ("blocked", False, ["Cancel", "Delete", "Hold"]),
        ("failed", False, ["Retry", "Cancel", "Delete", "Hold"]),
        ("processing", False, ["Cancel"]),
    ],
)
async def test_the_detail_key_bar_offers_only_what_applies_to_the_jobs_state(
    app_for, state, held, offered
) -> None:
    """On a completed job the bar offered ``c`` Cancel and ``h`` Hold, which could do
    nothing; a held job was offered "Hold" where ``h`` releases it."""
    from tui.keybar import KeyBar

    seed_job("a", state=state, held_at=T0 - 60 if held else None)
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        await refreshed(pilot)
        screen = await open_detail(pilot)
        bar = screen.query_one(KeyBar)
        acts = ["Retry", "Cancel", "Delete", "Hold", "Release"]
        await wait_for(
            pilot,
            lambda: [what for _k, what, *_ in bar.items if what in acts] == offered,
            f"the keys for a {state} job: {offered}",
        )


async def test_the_detail_key_bar_follows_the_job_as_it_changes(app_for) -> None:
    """The job finishes while its detail is open: Cancel and Hold go from the bar."""
    from tui.keybar import KeyBar

    seed_job("a", state="pending")
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        await refreshed(pilot)
        screen = await open_detail(pilot)
        bar = screen.query_one(KeyBar)
        offered = lambda: [what for _k, what, *_ in bar.items]  # noqa: E731
        assert "Cancel" in offered() and "Retry" not in offered()
        Job.update(state="completed").where(Job.id == "a").execute()
        loads = screen.loads
        screen.load()
        await wait_for(pilot, lambda: screen.loads > loads, "a read of the completed job")
        await wait_for(pilot, lambda: "Cancel" not in offered(), "no Cancel")
        assert "Retry" in offered() and "Hold" not in offered()
        await pilot.press("c")  # a key not offered does nothing: no question
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)


async def test_enter_on_an_empty_table_says_nothing_is_highlighted(app_for) -> None:
    """``r``, ``c`` and the rest said "No job is highlighted"; ``enter`` said nothing."""
    app = app_for()
    async with app.run_test(size=(100, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("enter")
        await wait_toast(pilot, "No job is highlighted")
        await pilot.press("2", "enter")
        await wait_toast(pilot, "The DLQ is empty")


async def test_the_detail_of_a_row_past_the_clis_limits_opens_at_once(app_for) -> None:
    """A 10 MB command written straight to the database froze the detail screen for
    50 s (34 MB: minutes, esc ignored) while it was wrapped."""
    seed_job("huge", "echo " + "ab c" * 2_500_000)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        screen = await open_detail(pilot)
        await pilot.pause()
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is not screen, "the detail closed")
        # The edit form takes it cut too (10 MB froze the dashboard for 45 s).
        form = await open_form(pilot, "e")
        assert form.query_one("#f-command").value.endswith(" more characters not shown]")
        form.query_one("#f-priority").value = "3"
        await pilot.press("ctrl+s")  # refused as too long: the command must be replaced
        error = form.query_one("#form-error")
        await wait_for(pilot, lambda: "must be at most" in str(error.render()), "the refusal")
        assert app.screen is form
        assert Job.get_by_id("huge").priority == 0


async def test_the_key_bar_dims_what_the_highlighted_job_cannot_take(app_for) -> None:
    """On a completed job the pane's bar offered Cancel and Edit, each only refused, while
    the detail screen offered neither (a team lead's try). Dimmed, not hidden; pressed,
    the key still says why; with marks, every key applies to them."""
    from tui.keybar import KeyBar

    seed_job("done", state="completed", now=T0 - 700)
    seed_job("wait", now=T0 - 600)
    app = app_for()
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await refreshed(pilot)
        bar = app.screen.query_one(KeyBar)
        pane = app.query_one(JobsPane)

        def enabled() -> dict[str, bool]:
            wanted = {"Retry", "Cancel", "Delete", "Edit"}
            return {what: on for _k, what, _key, _a, on in bar.items if what in wanted}

        assert pane.highlighted == "wait"
        await wait_for(
            pilot,
            lambda: enabled() == {"Retry": False, "Cancel": True, "Delete": True, "Edit": True},
            f"a pending job's keys: {enabled()}",
        )
        await pilot.press("j")
        on_completed = {"Retry": True, "Cancel": False, "Delete": True, "Edit": False}
        await wait_for(pilot, lambda: enabled() == on_completed, f"dimmed: {enabled()}")
        await pilot.press("c")
        await wait_toast(pilot, "Job done is completed; it can no longer be cancelled")
        await pilot.press("space")
        await wait_for(pilot, lambda: all(enabled().values()), f"marked: {enabled()}")
