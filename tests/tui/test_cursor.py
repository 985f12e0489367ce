"""The highlighted row is always on screen, and it is the row an action acts on."""

from __future__ import annotations

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.store.models import Job, Worker
from tests.conftest import T0
from tests.tui.conftest import (
    asked,
    refreshed,
    seed_job,
    seed_worker,
    settled_on_screen,
    wait_for,
    wait_toast,
)
from tui.panes.dlq import DlqPane
from tui.panes.jobs import JobsPane
from tui.panes.workers import WorkersPane


def _enqueue(*ids: str, now: float = T0) -> None:
    enqueuing.enqueue_many([JobSpec(command=f"echo {i}", id=i) for i in ids], now=now, cwd="/")


def _seed_old_jobs() -> None:
    """old0 … old4, old4 the newest: the first row, highlighted."""
    for index in range(5):
        seed_job(f"old{index}", now=T0 - 100 + index)


async def test_on_the_first_row_the_jobs_pane_shows_the_newest_and_keeps_its_job(app_for) -> None:
    _seed_old_jobs()
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        assert pane.highlighted == "old4"
        _enqueue("new0", "new1")
        await refreshed(pilot)
        # The new jobs are on screen above it; the highlight stays on the job it was on.
        assert pane.highlighted == "old4" and pane.table.cursor_row == 2
        assert pane.table.scroll_y == 0 and "new above" not in pane.status


async def test_a_key_long_after_the_first_row_was_read_acts_on_the_job_read(app_for) -> None:
    """A person watching the first row for more than a few seconds, then pressing ``r``
    half a second after reading it, retried a dead job that had just arrived, one never
    read: the cursor followed the newest row whenever the keys had rested 3 s."""
    _seed_old_jobs()
    Job.update(state="completed").where(Job.id == "old4").execute()
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        assert pane.highlighted == "old4"  # read, no key pressed yet: only watching
        seed_job("arrived", state="dead", attempts=4, now=T0)
        await refreshed(pilot)
        assert pane.highlighted == "old4" and pane.table.cursor_row == 1
        before = {job.id for job in Job.select(Job.id)}
        await pilot.press("y")  # clones what was read, not what arrived
        await wait_toast(pilot, "Cloned job")
        [clone] = Job.select().where(Job.id.not_in(before))
        assert clone.command == Job.get_by_id("old4").command
        assert Job.get_by_id("arrived").state == "dead"
        # A cursor moved by the person stays where it was put.
        await pilot.press("j")
        moved = pane.highlighted
        _enqueue("new2")
        await refreshed(pilot)
        assert pane.highlighted == moved


async def test_new_jobs_above_the_cursor_are_counted_and_g_goes_to_them(app_for) -> None:
    for index in range(40):
        seed_job(f"job{index:02d}", now=T0 - 100 + index)
    Job.update(state="dead", attempts=4).where(Job.id == "job27").execute()
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        await pilot.press(*"jjjjjjjjjjjj")
        chosen, place = pane.highlighted, pane.table.cursor_row - pane.table.scroll_y
        assert chosen == "job27"
        _enqueue("new0", "new1", "new2")
        await refreshed(pilot)
        await settled_on_screen(pilot, pane.table)
        assert pane.highlighted == chosen
        assert pane.table.cursor_row - pane.table.scroll_y == place
        assert pane.status.startswith("▲ 3 new above (g)")
        await pilot.press("r")  # acts on the job the person chose, not on a new one
        await wait_for(pilot, lambda: Job.get_by_id("job27").state == "pending", "retried")
        await pilot.press("g")
        assert pane.highlighted == "new2"
        assert "new above" not in pane.status


async def test_a_pane_shown_again_has_its_cursor_on_screen_where_it_was_left(app_for) -> None:
    for index in range(60):
        seed_job(f"dead{index:02d}", state="dead", attempts=4, now=T0 - 1000 + index)
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("2", *"jjjjjjjjjjjjjjjjjjjj", "pageup")
        dlq = app.query_one(DlqPane)
        chosen, place = dlq.highlighted, dlq.table.cursor_row - dlq.table.scroll_y
        assert place > 0  # mid-screen: the place, not just the row, must survive
        await pilot.press("1")
        for batch in range(3):  # more dead jobs arrive, refresh after refresh, while hidden
            for index in range(10):
                seed_job(f"late{batch}{index}", state="dead", attempts=4, now=T0 - 10 + batch)
            await refreshed(pilot)
        await pilot.press("2")
        await settled_on_screen(pilot, dlq.table)
        assert dlq.highlighted == chosen
        assert dlq.table.cursor_row - dlq.table.scroll_y == place
        assert dlq.status.startswith("▲ 30 new above (g)")


async def test_a_pane_never_shown_opens_on_its_newest_row(app_for) -> None:
    """The DLQ is read while hidden; deaths that came before it was first shown are all
    news, and it opened on the first death it had read, under "▲ 8 new above"."""
    seed_job("first", state="dead", attempts=4, now=T0 - 100)
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        for batch in range(3):  # more than a screenful dies, refresh after refresh
            for index in range(10):
                seed_job(f"late{batch}{index}", state="dead", attempts=4, now=T0 - 10 + batch)
            await refreshed(pilot)
        await pilot.press("2")
        dlq = app.query_one(DlqPane)
        await settled_on_screen(pilot, dlq.table)
        assert dlq.highlighted == "late29"
        assert dlq.table.scroll_y == 0 and "new above" not in dlq.status


def _eighty_jobs_of_seven_priorities() -> None:
    for index in range(80):
        seed_job(f"job{index:02d}", now=T0 - 1000 + index, priority=index % 7)


async def test_sorting_keeps_the_highlighted_job_and_shows_it(app_for) -> None:
    _eighty_jobs_of_seven_priorities()
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        await pilot.press(*"jjjjjjjjjj")
        chosen = pane.highlighted
        for key in ("o", "o", "o", "O", "o"):
            await pilot.press(key)
            await refreshed(pilot)
            await settled_on_screen(pilot, pane.table)
            assert pane.highlighted == chosen, pane.sort


async def test_a_sorted_view_that_does_not_start_at_the_top_says_how_many_rows_are_above(
    app_for,
) -> None:
    """A sort keeps the highlighted job on its screen row, so the sort's first rows were
    out of sight and the status said only "80 jobs": after ``o`` the view began at 165 ms
    with the 2 ms jobs above it, and the sort looked wrong (an all-day user's try)."""
    _eighty_jobs_of_seven_priorities()
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        await pilot.press(*"j" * 30)
        await wait_for(pilot, lambda: pane.table.rows_above_view > 0, "a scrolled view")
        assert "above" not in pane.status  # newest first: the top is where new rows come
        pane._sort_by("priority", reverse=True)
        await refreshed(pilot)
        await settled_on_screen(pilot, pane.table)
        above = pane.table.rows_above_view
        assert above > 0 and pane.status.endswith(f" · {above} rows above (g)"), pane.status
        # A job that arrives above: both are said (the count went as soon as one came).
        pane.table.select_key("job40")
        await settled_on_screen(pilot, pane.table)
        seed_job("late", now=T0, priority=9)
        await refreshed(pilot)
        await settled_on_screen(pilot, pane.table)
        above = pane.table.rows_above_view
        assert pane.status.startswith("▲ 1 new above (g) · "), pane.status
        assert pane._summary.endswith(f" · {above} rows above"), pane._summary  # uncut
        await pilot.press("g")
        await wait_for(pilot, lambda: "above" not in pane.status, "the status at the top")


async def test_the_sort_is_shown_in_the_column_header(app_for) -> None:
    seed_job("a")
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        table = app.query_one(JobsPane).table

        def labels() -> list[str]:
            return [str(column.label) for column in table.ordered_columns]

        assert "Age ▲" in labels()  # newest first: the youngest at the top
        await pilot.press("O")
        await wait_for(pilot, lambda: "Age ▼" in labels(), "oldest first")
        await pilot.press("O")
        await wait_for(pilot, lambda: "Age ▲" in labels(), "newest first again")
        # The first o goes to the next column (it only reversed the age before).
        await pilot.press("o")
        await wait_for(pilot, lambda: "Took ▲" in labels() and "Age" in labels(), "by run time")
        await pilot.press("O")
        await wait_for(pilot, lambda: "Took ▼" in labels(), "reversed")


async def test_a_stopped_worker_stays_highlighted_and_on_screen(app_for, supervisor) -> None:
    for index in range(30):
        seed_worker(f"w{index:02d}", started_at=T0 - 1000 + index)
    for index in range(20):
        seed_worker(f"s{index:02d}", state="stopped", started_at=T0 - 5000 + index)
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(WorkersPane)
        await pilot.press("3", "j", "j")
        chosen = pane.highlighted
        await asked(pilot, "x")
        await pilot.press("y")
        await wait_for(pilot, lambda: ("stop", ([chosen], False)) in supervisor.calls, "stop")
        Worker.update(state="stopped", stopped_at=T0).where(Worker.id == chosen).execute()
        await refreshed(pilot)
        await settled_on_screen(pilot, pane.table)
        assert pane.highlighted == chosen
        assert pane.table.cursor_row > 20  # it moved down among the stopped ones


async def _on_a005_of_20(pilot) -> JobsPane:  # type: ignore[no-untyped-def]
    """Twenty jobs (``a000`` … ``a019``) seen, the cursor on ``a005``: for newer jobs to
    push it out of the window."""
    _enqueue(*(f"a{index:03}" for index in range(20)), now=T0 - 100)
    await refreshed(pilot)
    pane = pilot.app.query_one(JobsPane)
    pane.table.select_key("a005")
    await pilot.pause()
    return pane


async def test_the_highlighted_job_stays_when_newer_jobs_push_it_out_of_the_window(
    app_for,
) -> None:
    """The pane reads the newest 500: once 500 newer jobs had come, the highlighted job
    left the read, the cursor fell to the last row, a different job each refresh, and
    ``r`` retried a job the person never chose."""
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        pane = await _on_a005_of_20(pilot)
        for batch in range(3):  # 600 newer jobs, in three refreshes
            _enqueue(*(f"b{batch}{index:03}" for index in range(200)), now=T0 - 50 + batch)
            await refreshed(pilot)
            assert pane.highlighted == "a005"
        assert pane.table.row_count == 501  # the window, and the job kept after it
        # Said, as the rows read as neighbours though 115 jobs between are not shown.
        assert pane._summary == "500 of 620 + the highlighted job, further down"
        await settled_on_screen(pilot, pane.table)
        Job.update(state="dead").where(Job.id == "a005").execute()
        await pilot.press("r")
        await wait_for(pilot, lambda: Job.get_by_id("a005").state == "pending", "a005 retried")
        assert Job.select().where(Job.state == "pending").count() == 620


async def test_g_from_the_job_kept_after_the_window_says_so_at_once(app_for) -> None:
    """``g`` put the cursor on the top row while the status still said "+ the highlighted
    job, further down" until the next refresh: that job was no longer highlighted."""
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        pane = await _on_a005_of_20(pilot)
        _enqueue(*(f"b{index:03}" for index in range(600)), now=T0 - 50)
        await refreshed(pilot)
        assert pane.highlighted == "a005"
        assert pane._summary == "500 of 620 + the highlighted job, further down"
        await pilot.press("g")
        await wait_for(pilot, lambda: pane.table.cursor_row == 0, "the cursor on the top row")
        await wait_for(pilot, lambda: pane.status == "500 of 620", "the status without the job")
        await refreshed(pilot)  # the next read leaves the job out: the status stays
        assert pane.table.row_count == 500 and pane.status == "500 of 620"


async def test_sorted_oldest_first_nothing_above_counts_as_new(app_for) -> None:
    """``O`` (oldest first) counted the older rows above the cursor as "new above", a
    count that fell as new jobs arrived below, and ``g`` led to nothing new."""
    _enqueue(*(f"a{index:03}" for index in range(60)), now=T0 - 100)
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        await pilot.press("O")
        await refreshed(pilot)
        pane.table.select_key("a040")
        await pilot.pause()
        _enqueue("b000", "b001", now=T0 - 50)
        await refreshed(pilot)
        await refreshed(pilot)
        assert pane.highlighted == "a040" and pane.table.new_above == 0
        assert "new above" not in pane.status


async def test_sorted_by_state_jobs_that_arrive_above_the_cursor_are_counted(app_for) -> None:
    """Sorted by state, sixty jobs that arrived above the cursor (pending sorts before
    blocked) moved the view with nothing said; the rows above a sorted view when it
    opened are not news, only arrivals are."""
    for index in range(30):
        seed_job(f"run{index:02d}", state="blocked")
    _enqueue("p0", now=T0 - 60)
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        pane._sort_by("state", reverse=False)
        await refreshed(pilot)
        pane.table.select_key("run10")
        await settled_on_screen(pilot, pane.table)
        assert pane.table.new_above == 0  # p0 and run29 … run11 were there when sorted
        _enqueue("p1", "p2")
        await refreshed(pilot)
        await settled_on_screen(pilot, pane.table)
        assert pane.highlighted == "run10" and pane.table.new_above == 2
        assert pane.status.startswith("▲ 2 new above (g)")
