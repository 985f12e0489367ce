"""Marks and batch actions in the Jobs and DLQ panes: marks by id, across refreshes and
beyond the rows shown; one confirmation with the count; one toast with the outcome."""

from __future__ import annotations

from textual.widgets import Button

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import manage
from queuectl.states import RunOutcome
from queuectl.store.models import Job
from tests.conftest import T0, end_attempt
from tests.tui.conftest import drawn_cell, refreshed, seed_job, wait_for, wait_toast
from tui.panes.dlq import DlqPane
from tui.panes.jobs import JobsPane
from tui.screens.confirm import ConfirmScreen


def _states(*ids: str) -> list[str | None]:
    found = dict(Job.select(Job.id, Job.state).where(Job.id.in_(ids)).tuples())
    return [found.get(job_id) for job_id in ids]


async def _confirm(pilot, answer: str = "y") -> str:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
    question = app.screen.question
    await pilot.press(answer)
    await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "dismissed")
    return question


async def test_at_80_columns_a_long_filter_is_cut_and_the_marks_stay_in_view(app_for) -> None:
    """The status line ``44 jobs · filter: state:pending,… echo · 1`` lost "marked" off
    the end of an 80-column screen (an outside try): the filter gives way instead."""
    for index in range(4):
        seed_job(f"j{index}", "echo hello", state="failed", now=T0 - 100 + index)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        wanted = "state:pending,failed,dead,completed queue:default echo"
        await pilot.press("slash", *wanted, "enter")
        await wait_for(pilot, lambda: pane.job_filter.text == "echo", "the filter")
        await refreshed(pilot)
        await pilot.press("space")
        status = pane.query_one(".status")
        assert pane.status.endswith(" · 1 marked"), pane.status
        assert len(pane.status) <= status.content_region.width
        assert pane.status.startswith("4 jobs · filter: state:pending") and "…" in pane.status


async def test_space_marks_and_marks_survive_a_refresh(app_for) -> None:
    for index in range(4):
        seed_job(f"j{index}", state="failed", now=T0 - 100 + index)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        assert pane.highlighted == "j3"
        await pilot.press("space")
        assert list(pane.marks) == ["j3"]
        assert "1 marked" in pane.status
        assert str(pane.table.get_cell("j3", "id")).startswith("● ")
        await refreshed(pilot)
        assert list(pane.marks) == ["j3"]
        assert str(pane.table.get_cell("j3", "id")).startswith("● ")
        await pilot.press("space")  # unmarks
        assert not pane.marks
        assert str(pane.table.get_cell("j3", "id")) == "j3"


async def test_shift_down_extends_and_esc_clears_marks_then_filter(app_for) -> None:
    for index in range(5):
        seed_job(f"j{index}", now=T0 - 100 + index)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        await pilot.press("shift+down", "shift+down")
        assert list(pane.marks) == ["j4", "j3", "j2"]
        assert pane.highlighted == "j2"
        await pilot.press("slash", *"j1", "enter")
        await wait_for(pilot, lambda: pane.job_filter.text == "j1", "filter")
        await refreshed(pilot)
        assert list(pane.marks) == ["j4", "j3", "j2"]  # off screen, still marked
        await pilot.press("escape")
        assert not pane.marks
        assert pane.job_filter.text == "j1"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not pane.job_filter.active, "filter cleared")


async def test_ctrl_a_marks_every_match_beyond_the_window_and_retries_them(app_for) -> None:
    specs = [JobSpec(command="false", id=f"f{index:03}") for index in range(620)]
    enqueuing.enqueue_many(specs, now=T0 - 600)
    Job.update(state="failed").where(Job.id.startswith("f")).execute()
    seed_job("other", state="failed")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        await pilot.press("slash", *"f", "enter")
        await refreshed(pilot)
        assert len(pane.table.rows) == 500
        await pilot.press("ctrl+a")
        await wait_for(pilot, lambda: len(pane.marks) == 620, "620 marks")
        await wait_toast(pilot, "Marked 620 jobs matching f")
        seed_job("f-late", state="failed")  # matches, but after the press: not marked
        await pilot.press("r")
        question = await _confirm(pilot)
        assert question.startswith("Retry 620 marked jobs (f619, f618, f617, f616, f615 and 615")
        await wait_toast(pilot, "620 jobs retried")
        assert not pane.marks
        assert Job.select().where(Job.state == "pending").count() == 620
        assert _states("other", "f-late") == ["failed", "failed"]


async def test_a_batch_question_names_the_marked_jobs_as_the_screen_lists_them(app_for) -> None:
    """``ctrl+a`` marks in the database's order: the question named "failer, prog,
    outesc" over rows reading "nl, osc52, failer"."""
    seed_job("p1", now=T0 - 30)
    seed_job("p2", now=T0 - 20)
    seed_job("p3", now=T0 - 10)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        pane.set_marks(["p1", "p3", "p2"])
        await pilot.press("c")
        assert await _confirm(pilot, "n") == (
            "Cancel 3 marked jobs (p3, p2, p1)? Running ones are killed."
        )


async def test_batch_cancel_reports_the_jobs_it_could_not_act_on(app_for) -> None:
    seed_job("p1", now=T0 - 30)
    seed_job("done", state="completed", now=T0 - 20)
    seed_job("p2", now=T0 - 10)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        await pilot.press("shift+down", "shift+down")
        await pilot.press("c")
        # The question counts what it acts on and says what it leaves, and why ("Cancel
        # 3 marked jobs?" over a completed one, then "2 cancelled; 1 not").
        assert await _confirm(pilot, "n") == (
            "Cancel 2 of 3 marked jobs (p2, p1)? Running ones are killed. Left as it is:"
            " 1 completed (done); it can no longer be cancelled."
        )
        assert _states("p1", "p2") == ["pending", "pending"] and len(pane.marks) == 3
        await pilot.press("c")
        await _confirm(pilot)
        await wait_toast(
            pilot, "2 jobs cancelled; 1 not: 1 completed (done); it can no longer be cancelled"
        )
        assert _states("p1", "done", "p2") == ["cancelled", "completed", "cancelled"]


def _three_dead() -> None:
    for index in range(3):
        seed_job(f"d{index}", state="dead", now=T0 - 100 + index, last_error="boom")


async def _dlq_with_two_marked(pilot) -> DlqPane:
    """The DLQ shown, its first two rows (d2, d1: the latest death first) marked."""
    await refreshed(pilot)
    await pilot.press("2")
    pane = pilot.app.query_one(DlqPane)
    await wait_for(pilot, lambda: pane.highlighted == "d2", "dlq shown")
    await pilot.press("space", "down", "space")
    return pane


async def test_dlq_marks_delete_and_retry(app_for) -> None:
    _three_dead()
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = await _dlq_with_two_marked(pilot)
        await pilot.press("d")
        assert (await _confirm(pilot)).startswith("Delete 2 marked jobs (d2, d1), with their runs")
        await wait_toast(pilot, "2 jobs deleted")
        assert _states("d0", "d1", "d2") == ["dead", None, None]
        await refreshed(pilot)
        await pilot.press("ctrl+a")
        await wait_for(pilot, lambda: list(pane.marks) == ["d0"], "dlq marked")
        await pilot.press("r")
        await _confirm(pilot)
        await wait_toast(pilot, "1 job retried")
        assert _states("d0") == ["pending"]


async def test_a_dlq_delete_leaves_a_marked_job_retried_before_the_answer(app_for) -> None:
    """The question was asked of dead jobs; one retried from another shell before the
    ``y`` had left the DLQ, and was deleted, pending, with the others."""
    _three_dead()
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await _dlq_with_two_marked(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        manage.act(manage.RETRY, ["d1"])  # from another shell, before the answer
        await pilot.press("y")
        await wait_toast(
            pilot, "1 job deleted; 1 not: 1 pending (d1); it was dead when asked, so it was not"
        )
        assert _states("d0", "d1", "d2") == ["dead", "pending", None]


async def test_read_only_dashboard_marks_but_never_acts(app_for) -> None:
    seed_job("a", state="failed")
    app = app_for(read_only=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("space", "r")
        await wait_toast(pilot, "read-only")
        assert _states("a") == ["failed"]


async def test_a_long_id_is_whole_where_there_is_room_and_cut_in_the_middle_where_not(
    app_for,
) -> None:
    name = "nightly-backup-of-the-orders-database"
    command = "pg_dump orders | gzip > /backups/orders-$(date +%F).sql.gz"  # wants 30 cells
    fires = [
        seed_job(f"{name}:202612{day:02d}T030000Z", command, now=T0 - 10 + day) for day in (4, 5)
    ]
    seed_job("a1b2c3d4", now=T0 - 1)
    app = app_for()
    async with app.run_test(size=(160, 45)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        assert [drawn_cell(pane.table, fire, "id") for fire in fires] == fires
        await pilot.press("down", "space")  # marked: the mark before it, still whole
        assert list(pane.marks) == [fires[1]]  # newest first: the row below a1b2c3d4
        await wait_for(
            pilot, lambda: drawn_cell(pane.table, fires[1], "id") == f"● {fires[1]}", "the mark"
        )
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: dict(pane.table.layout)["id"] < 40, "the narrow layout")
        assert dict(pane.table.layout)["command"] >= 30  # the id gave the command its room
        # Cut in the middle: each fire keeps its time; the mark and a short id stay whole.
        width = dict(pane.table.layout)["id"]
        first, second = (
            drawn_cell(pane.table, fires[0], "id"),
            drawn_cell(pane.table, fires[1], "id"),
        )
        assert first.startswith("nightly-") and first.endswith("…20261204T030000Z")
        assert second.startswith("● nightl") and second.endswith("…20261205T030000Z")
        assert len(first) == len(second) == width
        assert drawn_cell(pane.table, "a1b2c3d4", "id") == "a1b2c3d4"


def test_a_question_names_a_schedules_fires_by_what_tells_them_apart() -> None:
    """The batch question cut fires at the end (``nightly-backup:2026…``), so every fire
    of a schedule read alike; ids now lose their middle, as the tables cut them."""
    from tui.actions import some_ids

    fires = [f"nightly-backup:202612{day:02d}T030000Z" for day in (4, 5)]
    assert some_ids(fires) == "nightly…20261204T030000Z, nightly…20261205T030000Z"
    assert some_ids(["short", "k3x9q2ab"]) == "short, k3x9q2ab"


async def test_a_batch_refused_for_several_jobs_gives_the_reason_for_them_all(app_for) -> None:
    """The summary said "0 jobs cancelled; 3 not: 2 completed (…), 1 dead (failer); it can
    no longer be cancelled": the reason spoke of one job."""
    seed_job("c1", state="completed", now=T0 - 30)
    seed_job("c2", state="completed", now=T0 - 20)
    seed_job("gone", state="dead", now=T0 - 10)
    app = app_for()
    async with app.run_test(size=(160, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("ctrl+a")
        await wait_toast(pilot, "Marked 3 jobs")
        await pilot.press("c")  # none can be: said at once, nothing asked
        await wait_toast(
            pilot,
            "None of the 3 marked jobs can be cancelled: 2 completed (c2, c1), 1 dead (gone);"
            " they can no longer be cancelled",
        )
        assert not isinstance(app.screen, ConfirmScreen)


async def test_releasing_marked_jobs_some_not_held_names_them_once(app_for) -> None:
    """The toast said "1 job released; 3 not: 3 not held (a, b, c); job a is not held":
    its tail named one of the three again, in the singular."""
    for n in range(4):
        seed_job(f"p{n}", now=T0 - 40 + n)
    Job.update(held_at=T0 - 5).where(Job.id == "p0").execute()
    app = app_for()
    async with app.run_test(size=(160, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("ctrl+a", "H")
        await _confirm(pilot)
        await wait_toast(pilot, "1 job released; 3 not: 3 not held (p3, p2, p1)")
        said = [str(n.message) for n in app._notifications]
        assert not any("is not held" in text for text in said), said


async def test_a_batch_none_of_the_marked_jobs_allow_asks_nothing_and_says_why(app_for) -> None:
    """``c`` on two marked completed jobs asked "Cancel 2 marked jobs?", and only after
    "Yes" said that neither could be cancelled: now it says so at once, the marks kept."""
    seed_job("done", state="completed", now=T0 - 20)
    seed_job("gone", state="dead", now=T0 - 10)
    seed_job("p1", now=T0 - 5)
    Job.update(held_at=T0 - 5).where(Job.id == "p1").execute()
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        pane.table.select_key("gone")
        await pilot.pause()
        await pilot.press("shift+down")
        assert set(pane.marks) == {"gone", "done"}
        await pilot.press("c")
        await wait_toast(
            pilot,
            "None of the 2 marked jobs can be cancelled: 1 dead (gone), 1 completed (done);"
            " they can no longer be cancelled",
        )
        await pilot.press("h")
        await wait_toast(pilot, "None of the 2 marked jobs can be held")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert set(pane.marks) == {"gone", "done"}
        assert _states("done", "gone") == ["completed", "dead"]
        await pilot.press("escape")
        pane.table.select_key("p1")
        await pilot.pause()
        await pilot.press("space", "h")  # held already
        await wait_toast(pilot, "The marked job cannot be held: 1 already held (p1)")
        await pilot.press("H")  # but it can be released: that asks
        await _confirm(pilot)
        await wait_toast(pilot, "1 job released")


async def test_retrying_marked_dependents_of_a_cancelled_job_asks_nothing_and_keeps_marks(
    app_for,
) -> None:
    """``r`` on two DLQ jobs taken down by a cancelled dependency asked "Retry 2 marked
    jobs?", then said "0 jobs retried; 2 not: … dependency dead" and cleared the marks:
    retriable by their state, they were refused for the dependency, which the question's
    check did not read. Marked with their dependency's own dead root, they are retried."""
    enqueuing.enqueue_many(
        [
            JobSpec(command="make", id="build"),
            JobSpec(command="make test", id="test", after=("build",)),
            JobSpec(command="make deploy", id="deploy", after=("test",)),
        ],
        now=T0 - 60,
    )
    manage.cancel("build", now=T0 - 30)
    app = app_for()
    async with app.run_test(size=(160, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("2")
        pane = app.query_one(DlqPane)
        await wait_for(pilot, lambda: pane.table.row_count == 2, "the two taken down")
        await pilot.press("ctrl+a")
        await wait_toast(pilot, "Marked 2 jobs")
        await pilot.press("r")
        await wait_toast(
            pilot,
            "None of the 2 marked jobs can be retried: 2 with a dependency dead (test, deploy);"
            " job test"
            " waits for dependency build, which is cancelled; retry build first",
        )
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert set(pane.marks) == {"test", "deploy"}
        assert _states("test", "deploy") == ["dead", "dead"]
        # With a job whose retry they could follow (dead, no dependency), it is asked.
        enqueuing.enqueue_many(
            [JobSpec(command="fetch", id="fetch"), JobSpec(command="x", id="x", after=("fetch",))],
            now=T0 - 20,
        )
        claim = claiming.claim("w1", host="h", now=T0 - 10)
        end_attempt(claim, RunOutcome.FAILED, exit_code=1, final=True, now=T0 - 9)
        assert _states("fetch", "x") == ["dead", "dead"]
        await refreshed(pilot)
        await wait_for(pilot, lambda: pane.table.row_count == 4, "four dead")
        await pilot.press("ctrl+a")
        await wait_toast(pilot, "Marked 4 jobs")
        await pilot.press("r")
        assert (await _confirm(pilot, "n")).startswith(
            "Retry 2 of 4 marked jobs (x, fetch)? Left as they are: 2 with a dependency"
            " dead (test, deploy)"
        )


async def test_a_hold_over_marks_one_already_held_counts_what_it_holds(app_for) -> None:
    """ "Hold 3 marked jobs?" over one already held, then "2 held; 1 not": the question
    counts the jobs it acts on, its yes-button too, and names the one it leaves."""
    for name, age in (("p1", 30), ("p2", 20), ("p3", 10)):
        seed_job(name, now=T0 - age)
    Job.update(held_at=T0 - 5).where(Job.id == "p2").execute()
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        pane.set_marks(["p1", "p2", "p3"])
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        assert app.screen.question == (
            "Hold 2 of 3 marked jobs (p3, p1)? Left as it is: 1 already held (p2)."
        )
        assert "Hold 2 (y)" in [str(button.label) for button in app.screen.query(Button)]
        await _confirm(pilot)
        await wait_toast(pilot, "2 jobs held; 1 not: 1 already held (p2)")
