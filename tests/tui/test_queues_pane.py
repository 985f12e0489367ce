"""The Queues pane: its rows, the header's paused mark, and steering from the keyboard."""

from __future__ import annotations

import io
import math
from typing import Any

from rich.console import Console

from queuectl.lifecycle import queues
from queuectl.store.models import Job
from tests.conftest import T0
from tests.tui.conftest import (
    asked,
    drawn_cell,
    refreshed,
    seed_job,
    seed_run,
    seed_worker,
    wait_for,
    wait_toast,
)
from tui.app import PANES
from tui.commands import COMMANDS
from tui.fit import EndKept
from tui.panes.queues import NAME_WIDTH, QueuesPane
from tui.queuecells import sparkline_text
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import help_sections
from tui.screens.limit import LimitScreen


def _seed() -> None:
    seed_job("img1", queue="images", state="pending")
    seed_job("img2", queue="images", state="processing", worker_id="w1", started_at=T0 - 5)
    seed_job("img3", queue="images", state="blocked")
    seed_job("img4", queue="images", state="blocked")
    seed_job("img5", queue="images", state="pending", held_at=T0 - 60)
    seed_job("m1", queue="mail", state="completed", finished_at=T0 - 30)
    seed_run("m1", finished_at=T0 - 30, outcome="succeeded", exit_code=0)


async def _shown(pilot: Any, rows: int) -> QueuesPane:
    """``5``, and the Queues pane once it shows ``rows`` queues."""
    await pilot.press("5")
    pane = pilot.app.query_one(QueuesPane)
    await wait_for(pilot, lambda: pane.table.row_count == rows, "the queues' rows")
    return pane


async def test_the_pane_lists_queues_with_their_figures_and_the_header_marks_paused(app_for):
    _seed()
    queues.pause(["mail"], now=T0)
    queues.set_limit("images", 2, now=T0)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        assert app.last_snapshot.queues is None, "figures are read only while the pane shows"
        pane = await _shown(pilot, 2)
        assert pane.table.has_focus
        images = [str(cell) for cell in pane.table.cells_of("images")]
        # Pending, then Blocked (waiting for a dependency, as queue list's BLOCKED), Held
        # (counted there, not as Pending too), Running.
        assert images[:7] == ["images", "active", "1/2", "1", "2", "1", "1"]
        assert {"blocked", "held"} <= {key for key, _ in pane.table.layout}
        mail = [str(cell) for cell in pane.table.cells_of("mail")]
        assert mail[1] == "paused" and mail[7] == "1" and mail[12] == "1"
        assert pane.status == "2 queues · 1 paused · 1 limited"
        header = str(app.stats_header.query_one("#workers-summary").render())
        assert "paused mail" in header


def _keep_state_and_limit() -> None:
    """``mail`` paused and ``images`` limited: State and Limit differ between the rows, so
    they stay, and at 80 columns the room is short."""
    queues.pause(["mail"], now=T0)
    queues.set_limit("images", 2, now=T0)


async def test_at_80_columns_held_jobs_are_counted_and_the_5_minute_count_gives_way(app_for):
    """The sparkline shows the runs the 5-minute count counts: that count goes first, and a
    queue's held jobs stay in sight (at 80 columns they showed nowhere in this pane).
    A paused queue and a limit keep State and Limit, so the room is short."""
    _seed()
    _keep_state_and_limit()
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        pane = await _shown(pilot, 2)
        shown = [key for key, _ in pane.table.layout]
        assert "held" in shown and "recent" not in shown, " ".join(shown)
        assert {"pending", "running", "workers", "spark"} <= set(shown)
        assert drawn_cell(pane.table, "images", "held") == "1"


async def test_at_80_columns_a_queues_dead_jobs_outlast_its_done_count(app_for):
    """``images`` with dead jobs read 0 0 0 (Pending, Running, Done) at 80 columns: its
    failures were nowhere on the pane (a newcomer's try)."""
    seed_job("d1", queue="images", state="dead")
    seed_job("c1", queue="images", state="completed")
    seed_job("c2", queue="mail", state="completed")
    seed_job("c3", queue="mail", state="completed")
    seed_job("f1", queue="mail", state="failed")
    seed_job("x1", queue="mail", state="cancelled")
    seed_job("p1", queue="mail")
    _keep_state_and_limit()
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        pane = await _shown(pilot, 2)
        shown = [key for key, _ in pane.table.layout]
        assert "dead" in shown and "completed" not in shown, " ".join(shown)
        assert drawn_cell(pane.table, "images", "dead") == "1"


async def test_at_80_columns_dead_jobs_outlast_blocked_and_held_ones(app_for):
    """With a paused queue, blocked and held jobs, Blocked and Held outlasted Dead at 80
    columns: 30 dead jobs in ``reports`` showed nowhere (a team lead's try). State and
    Limit, all "active" and "-" but one, give way only as far as needed; the sparkline
    narrows to its newest bars before a count goes."""
    for index in range(3):
        seed_job(f"r{index}", queue="reports", state="dead")
    seed_job("b1", queue="build", held_at=T0 - 60)
    seed_job("b2", queue="build")
    seed_job("m1", queue="mail")
    seed_job("p1", queue="wf")
    seed_job("c1", queue="wf", state="blocked")
    queues.pause(["mail"], now=T0)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        pane = await _shown(pilot, 4)
        layout = dict(pane.table.layout)
        assert {"state", "pending", "blocked", "held", "running", "dead", "workers"} <= set(
            layout
        ), layout
        assert "limit" not in layout  # "-" on every row: it gave way first
        assert 8 <= layout["spark"] < 15, layout
        assert drawn_cell(pane.table, "reports", "dead") == "3"
        assert drawn_cell(pane.table, "mail", "state") == "paused"
        assert drawn_cell(pane.table, "wf", "blocked") == "1"
        assert drawn_cell(pane.table, "build", "held") == "1"


def test_a_narrowed_sparkline_keeps_its_newest_bars():
    """Cut at the end as other cells are, it kept the oldest bars and lost the newest."""
    console = Console(width=80, color_system=None, file=io.StringIO())
    cell = EndKept("··········▁▃█", no_wrap=True)
    lines = console.render_lines(cell, console.options.update_width(5), pad=False)
    assert ["".join(segment.text for segment in line) for line in lines] == ["··▁▃█"]


async def test_at_160_columns_the_name_takes_what_it_needs_and_the_figures_keep_theirs(app_for):
    """The name was the one flexible column: 47 cells for ``default`` at 160 columns, and a
    60-character name made the columns of zeros (Blocked, Held) give way."""
    seed_job("a", queue="default")
    seed_job("b", queue="mail", state="completed")
    app = app_for()
    async with app.run_test(size=(160, 45)) as pilot:
        await refreshed(pilot)
        pane = await _shown(pilot, 2)
        assert dict(pane.table.layout)["queue"] == 8  # its min_width: "default" is 7
        assert [key for key, _ in pane.table.layout] == [spec.key for spec in pane.COLUMNS]
        name = "nightly-reports-for-the-european-region-and-its-customers-eu"
        seed_job("c", queue=name)
        await refreshed(pilot)
        await wait_for(pilot, lambda: pane.table.row_count == 3, "the third queue")
        assert dict(pane.table.layout)["queue"] == NAME_WIDTH
        assert [key for key, _ in pane.table.layout] == [spec.key for spec in pane.COLUMNS]
        assert drawn_cell(pane.table, name, "queue") == "nightly-reports-for-the…omers-eu"


async def test_the_header_names_queues_whose_waiting_jobs_no_live_worker_takes(app_for):
    """As ``queuectl status`` warns: pending jobs in a queue nobody serves looked like
    jobs about to start. A lost worker serves nothing; a paused queue is named as paused,
    and under "no worker" too when none serves it: named as paused alone, resuming it
    looked like all its jobs needed."""
    seed_worker("w-d", queues="default,images")
    seed_worker("w-m", queues="mail", heartbeat_at=T0 - 300)  # past its lease: lost
    seed_job("d1", state="pending")
    seed_job("m1", queue="mail", state="failed")  # waiting for its retry counts too
    seed_job("r1", queue="reports", state="pending")
    seed_job("i1", queue="images", state="completed")
    seed_job("x1", queue="exports", state="pending")
    seed_job("h1", queue="held", state="pending", held_at=T0 - 60)  # waits for a release
    queues.pause(["exports"], now=T0)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        assert app.last_snapshot.unserved.queues == {"mail": 1, "reports": 1, "exports": 1}
        summary = str(app.stats_header.query_one("#workers-summary").render())
        unserved, paused = summary.split("⚠ ")[1].split("  ")[:2]
        assert unserved.removeprefix("no worker: ") == "mail,reports,exports", summary
        assert paused.removeprefix("paused ").removeprefix("‖ ") == "exports", summary
        pane = await _shown(pilot, 6)
        workers_column = [spec.key for spec in QueuesPane.COLUMNS].index("workers")  # cells: all

        def workers_style(name: str) -> str:
            return str(pane.table.cells_of(name)[workers_column].style)

        assert workers_style("mail") == workers_style("reports") == "bold red"
        assert workers_style("exports") == "bold red"  # paused, and nobody would take it
        assert workers_style("held") == "dim"  # held: nor would it take that one
        assert workers_style("default") == ""


async def test_long_paused_names_at_80_columns_keep_every_number_on_the_header(app_for):
    """Three long paused names took the whole line: the sparkline, the rate and the
    database location went ("the header drops words, never numbers")."""
    names = [
        "very-long-queue-name-number-one",
        "another-quite-long-queue-name",
        "thumbnails-and-images",
        "batch",
    ]
    queues.pause(names, now=T0)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        header = app.stats_header
        summary = str(header.query_one("#workers-summary").render())
        assert "‖ another-quite-long-queue-name,batch +2" in summary, (
            summary
        )  # names, how many more
        await wait_for(
            pilot,
            lambda: header.query_one("#db-location").render_line(0).text.rstrip().endswith(".db"),
            "the database's file name",
        )
        assert "/min" in str(header.query_one("#rate").render())
        line = [header.query_one(f"#{part}") for part in ("workers-summary", "rate")]
        assert all(part.region.right <= header.region.right for part in line)


async def _line_two_fits(pilot, app) -> str:
    """The header's second line, once it has settled: the rate with its unit and the
    database's file name, both inside the header."""
    header = app.stats_header
    await wait_for(
        pilot,
        lambda: header.query_one("#db-location").render_line(0).text.rstrip().endswith(".db"),
        "the database's file name",
    )
    assert str(header.query_one("#rate").render()).endswith("/min")
    parts = [header.query_one(f"#{part}") for part in ("workers-summary", "rate", "db-location")]
    assert all(part.region.right <= header.region.right for part in parts)
    return str(header.query_one("#workers-summary").render())


async def test_at_80_columns_a_lost_worker_an_unserved_and_a_paused_queue_leave_the_location(
    app_for,
):
    """The location went, and the rate was cut to "0.4/mi": a lost worker, a queue with no
    worker and a paused one took the line. Words go first, then whole names ("1 queue" was
    shown for "mail", which is shorter), then the sparkline."""
    seed_worker("w-a", queues="alpha,default")
    seed_worker("w-lost", queues="reports", heartbeat_at=T0 - 300)
    seed_job("r1", queue="reports")
    seed_job("m1", queue="mail")
    queues.pause(["mail"], now=T0)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        summary = await _line_two_fits(pilot, app)
        assert "1 lost" in summary and "⚠ reports" in summary and "‖ mail" in summary, summary
    for number in range(12):
        seed_job(f"x{number}", queue=f"very-long-unserved-queue-{number:02d}")
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        summary = await _line_two_fits(pilot, app)
        assert "⚠ reports +13" in summary and "‖ mail" in summary, summary  # mail: both


async def test_p_pauses_after_a_question_naming_the_queue_and_resumes_the_same_way(app_for):
    _seed()
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = await _shown(pilot, 2)
        pane.table.select_key("images")
        await asked(pilot, "p")
        question = app.screen.question
        assert (
            question.startswith("Pause queue images?") and "The 1 running job goes on." in question
        )
        await pilot.press("n")
        await pilot.pause()
        assert queues.steered() == []
        await asked(pilot, "p")
        await pilot.press("y")
        await wait_toast(pilot, "Queue images paused")
        assert queues.steered() == [queues.Steering("images", True, None)]
        await refreshed(pilot)
        await asked(pilot, "p")
        # No worker serves it: resuming alone runs nothing, and the question says so.
        no_worker = "No live worker serves it: its 1 waiting job waits for one."
        assert app.screen.question == f"Resume queue images? {no_worker}"
        await pilot.press("n")
        seed_worker("w-img", queues="images")
        await refreshed(pilot)
        await refreshed(pilot)
        await asked(pilot, "p")
        serving = "Its waiting jobs start again on the 1 worker serving it."
        assert app.screen.question == f"Resume queue images? {serving}"
        await pilot.press("y")
        await wait_toast(pilot, "Queue images resumed")
        assert queues.steered() == []


async def test_l_sets_a_limit_validated_like_the_cli_and_none_lifts_it(app_for):
    _seed()
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = await _shown(pilot, 2)
        pane.table.select_key("mail")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LimitScreen), "the limit form")
        form = app.screen
        box = form.query_one("#limit")
        assert box.value == "none"
        box.value = "0"
        await pilot.press("enter")
        error = form.query_one("#limit-error")
        await wait_for(pilot, lambda: "at least 1 (got 0)" in str(error.render()), "the error")
        assert queues.steered() == [] and app.screen is form
        box.value = "3"
        await pilot.press("enter")
        await wait_toast(pilot, "Queue mail: at most 3 running at once")
        assert queues.steered() == [queues.Steering("mail", False, 3)]
        await refreshed(pilot)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LimitScreen), "the limit form")
        assert app.screen.query_one("#limit").value == "3"
        app.screen.query_one("#limit").value = "none"
        await pilot.press("enter")
        await wait_toast(pilot, "Queue mail: no limit")
        assert queues.steered() == []


async def test_enter_shows_the_jobs_of_the_queue(app_for):
    """The filter box says what is applied: it kept the last filter typed (``queue:mail``)
    while the status line said ``filter: queue:images`` (an outside try)."""
    _seed()
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("slash", *"queue:mail", "enter")
        await wait_for(pilot, lambda: app.jobs_pane.job_filter.queue == "mail", "typed")
        pane = await _shown(pilot, 2)
        pane.table.select_key("images")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.tabs.active == "jobs", "the jobs pane")
        await wait_for(
            pilot,
            lambda: (
                sorted(k for k, _ in app.last_snapshot.jobs.rows)
                == ["img1", "img2", "img3", "img4", "img5"]
            ),
            "the jobs of images only",
        )
        assert app.jobs_pane.job_filter.queue == "images"
        box = app.jobs_pane.query_one("#job-filter")
        assert box.value == "queue:images" and not box.has_class("hidden")
        assert Job.select().count() == 6


async def test_read_only_refuses_steering_but_still_shows_a_queues_jobs(app_for):
    _seed()
    app = app_for(read_only=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await _shown(pilot, 2)
        await pilot.press("p")
        await wait_toast(pilot, "read-only")
        assert not isinstance(app.screen, ConfirmScreen) and queues.steered() == []
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.tabs.active == "jobs", "the jobs pane")


def test_the_pane_has_a_number_key_a_help_section_and_palette_entries():
    assert PANES.index("queues") == 4
    sections = dict(help_sections([]))
    assert {b.action for b in sections["Queues pane (5)"]} == {"jobs", "toggle_pause", "limit"}
    actions = {action for _, action, _ in COMMANDS}
    assert {"show_pane('queues')", "pane('queues', 'toggle_pause')"} <= actions
    assert "pane('queues', 'limit')" in actions and "pane('queues', 'jobs')" in actions


def test_the_sparkline_scales_to_the_busiest_bucket():
    now = 1_000_015.0  # the first of the 30 buckets starts on a 20 s mark
    assert sparkline_text([0.0] * 30, now) == "·" * 15
    line = sparkline_text([0.0] * 28 + [4.0, 4.0], now)
    assert len(line) == 15 and line.endswith("█") and line[:14] == "·" * 14


def test_each_character_is_a_fixed_20_seconds_of_the_clock():
    """Paired from the window's first bucket, the bars regrouped every 10 s as the
    window moved on: ``▄▄▄·█▄▄··`` then ``███████··``, the same finishes."""
    ended = {99_980: 2.0, 99_981: 1.0, 99_990: 3.0, 99_991: 1.0}  # runs per 10 s bucket

    def shown(now: float) -> str:
        first = math.floor(now / 10) + 1 - 30
        return sparkline_text([ended.get(first + index, 0.0) for index in range(30)], now)

    before, after = shown(1_000_015.0), shown(1_000_025.0)  # 10 s later
    assert before.count("·") < 15
    # The same 20 s stretches, each one character further left; a new one at the end.
    assert after[:-1] == before[1:], (before, after)


async def test_the_limit_form_is_centred_and_its_question_whole_at_80x24(app_for):
    """It sat at the top left, over the header, its question cut off: the rule that
    centres dialogs named every form but this one."""
    _seed()
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        pane = await _shown(pilot, 2)
        pane.table.select_key("images")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LimitScreen), "the limit form")
        await pilot.pause()
        dialog = app.screen.query_one(".dialog").region
        assert dialog.x > 0 and dialog.y > 0
        assert abs(dialog.x - (80 - dialog.right)) <= 1
        assert abs(dialog.y - (24 - 1 - dialog.bottom)) <= 1  # over its own key bar
        question = app.screen.query_one(".question")
        assert str(question.render()).startswith("At most how many jobs of queue images")
        # Wrapped inside the dialog (it was one line, cut: "… run at once? (a n").
        assert question.region.width <= dialog.width and question.region.height >= 2


async def test_a_key_typed_before_the_panes_first_rows_acts_on_the_row_they_bring(
    app_for, gated_reads
):
    """``5 p`` typed in one go (a browser tab, a fast typist) said "No queue is
    highlighted" while the pane's first read was under way, and drew the queue
    highlighted a moment later: the key now waits for those rows."""
    _seed()
    gate = gated_reads
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        gate.clear()
        await pilot.press("5", "p")
        pane = app.query_one(QueuesPane)
        assert pane.table.row_count == 0 and not isinstance(app.screen, ConfirmScreen)
        gate.set()
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert app.screen.question.startswith(f"Pause queue {pane.highlighted}?")
        assert not [toast for toast in app._notifications if "highlighted" in toast.message]


async def test_long_names_sharing_a_prefix_stay_apart_at_80_columns(app_for):
    """Cut at the end, two 60-character names that differ only at the end read the same."""
    stem = "nightly-reports-for-the-european-region-and-its-customers-"
    for suffix in ("eu", "uk"):
        seed_job(f"j-{suffix}", queue=stem + suffix)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        pane = await _shown(pilot, 2)
        await pilot.pause()
        eu, uk = (drawn_cell(pane.table, stem + suffix, "queue") for suffix in ("eu", "uk"))
        assert eu != uk and eu.endswith("eu") and uk.endswith("uk"), (eu, uk)
