"""The Schedules pane: its rows, and p / t / enter from the keyboard."""

from __future__ import annotations

from queuectl.lifecycle import schedules
from queuectl.store.models import Job
from tests.conftest import T0
from tests.tui.conftest import asked, drawn_cell, refreshed, seed_job, wait_for, wait_toast
from tui.app import PANES
from tui.commands import COMMANDS
from tui.panes.schedules import SchedulesPane
from tui.schedulecells import countdown
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import help_sections


def _seed() -> None:
    job = schedules.validate(job='{"command": "backup.sh"}', cwd="/tmp")
    zone = schedules.validate(spec="30 2 * * *", zone="Europe/Berlin")
    schedules.add("nightly", schedules.Change(spec=zone.spec, zone=zone.zone, job=job.job), now=T0)
    every = schedules.validate(spec="@every 30s")
    schedules.add("ping", schedules.Change(spec=every.spec, job=job.job), now=T0 - 45)
    schedules.fire_due(T0 - 15)  # ping fired once, 15 s ago; next in 15 s


async def _shown(pilot, app) -> SchedulesPane:
    await refreshed(pilot)
    assert app.last_snapshot.schedules is None, "schedules are read only while the pane shows"
    await pilot.press("6")
    pane = app.query_one(SchedulesPane)
    await wait_for(pilot, lambda: pane.table.row_count == 2, "the schedules' rows")
    return pane


async def _three_rows_drawn(pilot, app) -> SchedulesPane:
    """``6``, and the Schedules pane once its three rows are drawn."""
    await refreshed(pilot)
    await pilot.press("6")
    pane = app.query_one(SchedulesPane)
    await wait_for(pilot, lambda: pane.table.row_count == 3, "the schedules' rows")
    await pilot.pause()
    return pane


async def test_the_pane_shows_spec_in_words_zone_countdown_and_last_fire(app_for):
    _seed()
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = await _shown(pilot, app)
        assert pane.table.has_focus
        ping = [str(cell) for cell in pane.table.cells_of("ping")]
        assert ping == ["ping", "Every 30s", "UTC", "in 15s", "15s ago", "pending", "0"]
        nightly = [str(cell) for cell in pane.table.cells_of("nightly")]
        assert nightly[1:4] == ["At 02:30 every day", "Europe/Berlin", "in 14h23m"]
        assert nightly[4:6] == ["never", ""]
        assert pane.status == "2 schedules · 0 paused"


async def test_at_80_columns_a_long_name_is_cut_in_the_middle_and_the_spec_kept(app_for):
    """One 40-character name (the longest allowed) took Spec down to "At …" on every row."""
    _seed()
    long_name = "nightly-backup-with-a-long-name-2026-end"
    every = schedules.validate(spec="30 2 * * *")
    job = schedules.validate(job='{"command": "true"}', cwd="/tmp")
    schedules.add(long_name, schedules.Change(spec=every.spec, job=job.job), now=T0)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await _three_rows_drawn(pilot, app)
        assert drawn_cell(pane.table, "nightly", "spec") == "At 02:30 every day"
        name = drawn_cell(pane.table, long_name, "name")
        assert "…" in name and name.startswith("nightly") and name.endswith("end"), name
        assert drawn_cell(pane.table, "ping", "name") == "ping"


async def test_at_80_columns_a_paused_schedule_shows_its_spec_whole(app_for):
    """A Paused column's yes/no (what Next says already) kept its width at 80 columns while
    a paused schedule's spec was cut to "At 09:00 on Monday thro…"."""
    _seed()
    job = schedules.validate(job='{"command": "true"}', cwd="/tmp")
    office = schedules.validate(spec="0 9 * * 1-5", zone="America/New_York")
    change = schedules.Change(spec=office.spec, zone=office.zone, job=job.job)
    schedules.add("office", change, now=T0)
    schedules.pause("office", now=T0)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await _three_rows_drawn(pilot, app)
        spec = drawn_cell(pane.table, "office", "spec")
        assert spec == "At 09:00 on Monday through Friday", pane.table.layout
        assert drawn_cell(pane.table, "office", "next") == "paused"
        assert drawn_cell(pane.table, "office", "zone") == "America/New_York"


async def test_at_80_columns_the_zone_stays_before_and_after_a_fire(app_for):
    """ "At 09:00 on Monday" showed with no zone, beside a Last fire of ``never`` and an
    empty Its job on every row, and again once one schedule had fired: Its job and Last
    fire give way before Zone."""
    job = schedules.validate(job='{"command": "make report"}', cwd="/tmp")
    for name, spec, zone in (
        ("nightly-backup-of-the-database", "30 2 * * *", "Europe/Berlin"),
        ("reports-weekly", "0 9 * * MON", "America/New_York"),
    ):
        parsed = schedules.validate(spec=spec, zone=zone)
        schedules.add(
            name, schedules.Change(spec=parsed.spec, zone=parsed.zone, job=job.job), now=T0
        )
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("6")
        pane = app.query_one(SchedulesPane)
        await wait_for(pilot, lambda: pane.table.row_count == 2, "the schedules' rows")
        await wait_for(pilot, lambda: "zone" in dict(pane.table.layout), "the Zone column")
        assert drawn_cell(pane.table, "reports-weekly", "zone") == "America/New_York"
        assert drawn_cell(pane.table, "reports-weekly", "spec") == "At 09:00 on Monday"
        assert "last" not in dict(pane.table.layout)
        schedules.run_now("reports-weekly", now=T0)
        await refreshed(pilot)
        await wait_for(
            pilot, lambda: str(pane.table.cells_of("reports-weekly")[4]) != "never", "the fire"
        )
        await pilot.pause()
        assert drawn_cell(pane.table, "reports-weekly", "zone") == "America/New_York"


async def test_p_pauses_and_resumes_the_highlighted_schedule(app_for):
    _seed()
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = await _shown(pilot, app)
        pane.table.select_key("ping")
        await pilot.press("p")
        await wait_toast(pilot, "Schedule ping paused")
        assert schedules.get("ping").paused
        await wait_for(pilot, lambda: str(pane.table.cells_of("ping")[3]) == "paused", "paused")
        await pilot.press("p")
        await wait_toast(pilot, "Schedule ping resumed")
        assert not schedules.get("ping").paused


async def test_p_typed_on_coming_back_to_the_pane_reads_the_rows_on_screen(app_for, gated_reads):
    """``1`` then ``6 p`` in one go: the key read the paused state from the latest
    snapshot, read on the Jobs pane without schedules, took the paused schedule for
    running and paused it again; ``t`` asked "Run schedule ping () now?"."""
    _seed()
    schedules.pause("ping")
    gate = gated_reads
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = await _shown(pilot, app)
        pane.table.select_key("ping")
        for key, expected in (("t", None), ("p", "Schedule ping resumed")):
            await pilot.press("1")
            await refreshed(pilot)
            assert app.last_snapshot.schedules is None
            gate.clear()  # the read that the pane's key starts has not come back
            await pilot.press("6", key)
            if expected is None:
                await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "question")
                assert app.screen.question.startswith("Run schedule ping (@every 30s) now?")
                await pilot.press("n")
            else:
                await wait_toast(pilot, expected)
            gate.set()
        assert not schedules.get("ping").paused


async def test_t_runs_now_after_a_question_and_enter_shows_the_fired_jobs(app_for):
    _seed()
    seed_job("xping:20261118T100000Z")  # another schedule's fire: "ping:" is inside its id
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = await _shown(pilot, app)
        pane.table.select_key("ping")
        await asked(pilot, "t")
        assert app.screen.question.startswith("Run schedule ping (@every 30s) now?")
        await pilot.press("n")
        await pilot.pause()
        assert Job.select().count() == 2
        await asked(pilot, "t")
        await pilot.press("y")
        await wait_toast(pilot, "Enqueued job ping:")
        assert Job.select().count() == 3
        await refreshed(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.tabs.active == "jobs", "the jobs pane")
        await wait_for(
            pilot,
            lambda: (
                len(app.last_snapshot.jobs.rows) == 2
                and all(key.startswith("ping:") for key, _ in app.last_snapshot.jobs.rows)
            ),
            "the fires of ping only",
        )
        assert app.jobs_pane.job_filter.id_prefix == "ping:"
        assert app.jobs_pane.query_one("#job-filter").value == "id:ping:"


async def test_read_only_refuses_pause_and_run_but_shows_the_jobs(app_for):
    _seed()
    app = app_for(read_only=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await _shown(pilot, app)
        await pilot.press("p")
        await wait_toast(pilot, "read-only")
        await pilot.press("t")
        assert not isinstance(app.screen, ConfirmScreen)
        assert not any(s.paused for s in schedules.list_schedules())
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.tabs.active == "jobs", "the jobs pane")


def test_the_pane_has_key_6_a_help_section_and_palette_entries():
    assert PANES.index("schedules") == 5
    sections = dict(help_sections([]))
    actions = {b.action for b in sections["Schedules pane (6)"]}
    assert actions == {"jobs", "toggle_pause", "run_now"}
    palette = {action for _, action, _ in COMMANDS}
    assert {"show_pane('schedules')", "pane('schedules', 'run_now')"} <= palette


def test_the_countdown():
    assert countdown(T0, None) == "-"
    assert countdown(T0, T0) == "due"
    assert countdown(T0, T0 + 90) == "in 1m30s"
