"""The dashboard and dependencies: a blocked job says what it waits for in the Jobs pane,
the header counts it, the filter finds it, and the detail screen lists both directions."""

from __future__ import annotations

from textual.widgets import Input

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.store.models import Job
from tests.conftest import T0
from tests.tui.conftest import asked, detail_loaded, refreshed, seed_job, wait_for, wait_toast
from tui.header import StatsHeader
from tui.panes.dlq import DlqPane
from tui.panes.jobs import JobsPane
from tui.screens.confirm import ConfirmScreen
from tui.screens.detail import JobDetailScreen
from tui.screens.new_job import NewJobScreen


def _seed() -> None:
    for spec in (
        JobSpec(command="make", id="build"),
        JobSpec(command="make test", id="test", after=("build",)),
        JobSpec(command="./ship", id="ship", after=("build", "test")),
    ):
        enqueuing.enqueue(spec, now=T0 - 60, cwd="/tmp")


async def test_a_blocked_job_shows_what_it_waits_for_and_its_detail_both_ways(app_for) -> None:
    _seed()
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        rows = dict(app.last_snapshot.jobs.rows)
        command = rows["ship"][-1]
        assert command.plain == "(after build, test) ./ship"
        assert rows["ship"][1].plain == "blocked"
        assert rows["build"][-1].plain == "make"
        header = str(app.query_one(StatsHeader).query_one("#counts").render())
        assert "1 pending" in header and "2 blocked" in header

        pane = app.query_one(JobsPane)
        await pilot.press("slash", *"state:blocked", "enter")
        await wait_for(
            pilot,
            lambda: sorted(key for key, _ in app.last_snapshot.jobs.rows) == ["ship", "test"],
            "the state filter to keep the blocked jobs",
        )
        pane.table.select_key("test")
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "the detail")
        screen = app.screen
        await detail_loaded(pilot, screen)
        box = screen.query_one("#detail-fields")
        fields = "\n".join(
            "".join(segment.text for segment in box.render_line(y)) for y in range(12)
        )
        assert "After" in fields and "build pending" in fields
        assert "Dependents" in fields and "ship blocked" in fields


async def test_the_detail_names_the_first_links_and_counts_the_rest(app_for) -> None:
    """A job given 50,000 dependencies (written past the CLI's 100) took 10 s to open and
    held 86% of a core while open: every read listed all of them."""
    from queuectl.store.models import Dependency
    from tests.tui.conftest import open_detail
    from tui.screens.detail import LINKS_SHOWN

    many = LINKS_SHOWN + 70
    for index in range(many):
        seed_job(f"up{index:03d}", "true", state="completed", now=T0 - 60)
    seed_job("sink", "true", state="blocked", now=T0 - 30)
    rows = [{"job": "sink", "depends_on": f"up{i:03d}", "position": i} for i in range(many)]
    Dependency.insert_many(rows).execute()
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        await refreshed(pilot)
        app.query_one(JobsPane).table.select_key("sink")
        await pilot.pause()
        screen = await open_detail(pilot)
        after = [link.id for link in screen.view.dependencies]
        assert after == [f"up{index:03d}" for index in range(LINKS_SHOWN)]
        assert screen.view.counts == (many, 0)
        box = screen.query_one("#detail-fields")
        lines = ["".join(segment.text for segment in box.render_line(y)) for y in range(40)]
        assert "and 70 more" in " ".join(line.strip() for line in lines)


async def test_cancel_and_delete_name_the_dependents_they_take_down(app_for) -> None:
    """Both dependents silently went dead: neither the question nor the toast said so."""
    seed_job("gate", "echo gate", now=T0 - 30)
    for name in ("gated", "gated-2"):
        enqueuing.enqueue(JobSpec(command="echo x", id=name, after=("gate",)), now=T0 - 20)
    # Through both, and named once: the question left out what waited on a dependent.
    enqueuing.enqueue(JobSpec(command="x", id="leaf", after=("gated", "gated-2")), now=T0 - 19)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        app.query_one(JobsPane).table.select_key("leaf")
        await asked(pilot, "c")
        assert app.screen.question.endswith("?")  # nothing waits for leaf
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "answered")
        # Filtered to pending, the pane shows none of them: the question still names all
        # three (it read the last refresh's rows, and named none).
        await pilot.press("slash", *"state:pending", "enter")
        await refreshed(pilot)
        await pilot.press("slash", "escape")  # back to the table, the filter kept
        await wait_for(pilot, lambda: [k for k, _ in app.last_snapshot.jobs.rows] == ["gate"], "")
        app.query_one(JobsPane).table.select_key("gate")
        await asked(pilot, "c")
        assert app.screen.question.endswith(
            " 3 blocked jobs waiting for it go dead with it: gated, gated-2, leaf."
        )
        await pilot.press("y")
        await wait_toast(pilot, "Job gate cancelled; 3 dependents now dead: ")
        assert {Job.get_by_id(name).state for name in ("gated", "gated-2", "leaf")} == {"dead"}
        await pilot.press("escape")  # from the table: the filter goes (gate is cancelled)
        await refreshed(pilot)
        app.query_one(JobsPane).table.select_key("gate")
        await asked(pilot, "d")
        assert app.screen.question.endswith("and its runs?")  # they are dead: none blocked


def _ended_and_took_down(dependency: str, how: str, *dependents: str) -> None:
    """``dependency`` ended ``how`` (dead, cancelled), taking down ``dependents`` (dead),
    as ``deps.cascade_locked`` leaves them: each names the one it waited for."""
    Job.update(state=how, finished_at=T0 - 20).where(Job.id == dependency).execute()
    for dependent in dependents:
        Job.update(
            state="dead",
            finished_at=T0 - 20,
            last_error=f"dependency {dependency} is {how}",
            taken_down_by=dependency,
        ).where(Job.id == dependent).execute()


async def test_a_batch_retry_says_why_a_dependent_was_refused_and_what_came_back(app_for):
    """Marked y3 and y1 of the dead chain y1 → y2 → y3, retried: the notice gave y3 the
    state's reason ("it is not in the DLQ"), and never said y2 came back to blocked."""
    enqueuing.enqueue(JobSpec(command="false", id="y1", max_retries=0), now=T0 - 30)
    enqueuing.enqueue(JobSpec(command="x", id="y2", after=("y1",)), now=T0 - 29)
    enqueuing.enqueue(JobSpec(command="x", id="y3", after=("y2",)), now=T0 - 28)
    _ended_and_took_down("y1", "dead", "y2")
    _ended_and_took_down("y2", "dead", "y3")
    app = app_for()
    async with app.run_test(size=(160, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("2")
        pane = app.query_one(DlqPane)
        await wait_for(pilot, lambda: pane.table.row_count == 3, "the three dead jobs")
        for job_id in ("y3", "y1"):
            pane.table.select_key(job_id)
            await pilot.press("space")
        await asked(pilot, "r")
        await pilot.press("y")
        await wait_toast(pilot, "1 job retried; 1 not: 1 with a dependency dead (y3)")
        said = [str(n.message) for n in app._notifications]
        notice = next(text for text in said if text.startswith("1 job retried"))
        assert "it is not in the DLQ" not in notice and "y2" in notice
        assert "1 dependent back to blocked: y2" in notice
        assert (Job.get_by_id("y1").state, Job.get_by_id("y2").state) == ("pending", "blocked")


async def test_an_edit_that_retries_a_dependency_says_which_dependents_came_back(app_for):
    """Saving an edit of a dead dependency said "Job y1 saved (pending)" only; ``r`` says
    which dependents came back to blocked with it."""
    enqueuing.enqueue(JobSpec(command="false", id="y1", max_retries=0), now=T0 - 30)
    enqueuing.enqueue(JobSpec(command="x", id="y2", after=("y1",)), now=T0 - 29)
    _ended_and_took_down("y1", "dead", "y2")
    app = app_for()
    async with app.run_test(size=(160, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("2")
        pane = app.query_one(DlqPane)
        await wait_for(pilot, lambda: pane.table.row_count == 2, "the two dead jobs")
        pane.table.select_key("y1")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, NewJobScreen), "the edit form")
        app.screen.query_one("#f-command", Input).value = "true"
        await pilot.press("ctrl+s")
        await wait_toast(pilot, "Job y1 saved (pending); 1 dependent back to blocked: y2")
        assert Job.get_by_id("y2").state == "blocked"


async def test_a_retry_names_a_dependent_it_left_dead_and_why(app_for):
    """``r`` on a dead dependency said "pending again" while a dependent stayed dead, its
    unique key taken meanwhile; the toast now names it with the reason."""
    enqueuing.enqueue(JobSpec(command="false", id="y1", max_retries=0), now=T0 - 30)
    enqueuing.enqueue(JobSpec(command="x", id="y2", after=("y1",), unique_key="K"), now=T0 - 29)
    _ended_and_took_down("y1", "dead", "y2")
    enqueuing.enqueue(JobSpec(command="x", id="thief", unique_key="K"), now=T0 - 10)
    app = app_for()
    async with app.run_test(size=(160, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("2")
        pane = app.query_one(DlqPane)
        await wait_for(pilot, lambda: pane.table.row_count == 2, "the two dead jobs")
        pane.table.select_key("y1")
        await pilot.press("r")
        await wait_toast(
            pilot,
            "Job y1 is pending again; 1 dependent left dead: y2"
            " (y2: unique key 'K' is held by job thief (pending))",
        )
        assert Job.get_by_id("y2").state == "dead"


async def test_retry_all_in_the_dlq_says_why_jobs_stayed_dead(app_for):
    """``R`` said "0 dead jobs back to pending or blocked" and no more when each dead
    job waited for a cancelled dependency; ``dlq retry --all`` says why, and now so does
    the toast."""
    enqueuing.enqueue(JobSpec(command="x", id="z"), now=T0 - 30)
    enqueuing.enqueue(JobSpec(command="x", id="w", after=("z",)), now=T0 - 29)
    _ended_and_took_down("z", "cancelled", "w")
    app = app_for()
    async with app.run_test(size=(160, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "2", "R")
        await pilot.press("y")
        await wait_toast(
            pilot,
            "0 dead jobs back to pending or blocked; 1 left dead, waiting for a dependency"
            " still cancelled or dead (retry that first): w",
        )
