"""The full-screen log view: search with n/N, follow a running attempt, wrap, export."""

from __future__ import annotations

import os
import stat

import pytest
from textual import events

from queuectl.store.models import Run
from tests.conftest import T0
from tests.tui.conftest import refreshed, seed_job, seed_run, wait_for, wait_toast
from tui.keybar import KeyBar
from tui.output import OutputView
from tui.screens.detail import JobDetailScreen
from tui.screens.logview import LogScreen

LINES = "".join(f"line {i}{' ERROR disk full' if i % 20 == 7 else ''}\n" for i in range(100))


async def _open_log(pilot) -> LogScreen:
    app = pilot.app
    await refreshed(pilot)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "detail")
    await wait_for(pilot, lambda: app.screen.loads >= 1, "detail load")
    await pilot.press("l")
    await wait_for(pilot, lambda: isinstance(app.screen, LogScreen), "log view")
    screen = app.screen
    await wait_for(pilot, lambda: screen.loads >= 1, "log load")
    return screen


def _run_goes_on(screen: LogScreen, run_id: int, **fields: object) -> None:
    """The worker stores more of the run; the screen reads it, as its timer does."""
    Run.update(**fields).where(Run.id == run_id).execute()
    screen.load()


async def test_search_next_previous_and_wrap_around(app_for) -> None:
    seed_job("a", state="completed")
    seed_run("a", finished_at=T0 - 5, outcome="succeeded", exit_code=0, output=LINES)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        assert len(screen.view.lines_text) == 100
        await pilot.press("g")  # a search starts from the top line shown, as less does
        await wait_for(pilot, lambda: screen.view.scroll_y == 0, "the first line at the top")
        await pilot.press("slash", *"error", "enter")
        await wait_for(pilot, lambda: screen.matches == [7, 27, 47, 67, 87], "matches")
        assert screen.current == 0
        title = str(screen.query_one("#log-title").render())
        assert "/error: 1 of 5" in title
        await pilot.press("n", "n")
        assert screen.current == 2
        assert screen.view.scroll_y <= 47 < screen.view.scroll_y + screen.view.size.height
        await pilot.press("N", "N", "N")
        assert screen.current == 4  # round the start to the last
        await pilot.press("G", "slash", "enter")  # the same search, from the last screen
        assert screen.current == 4
        await pilot.press("w")
        assert screen.view.wrap and "wrapped" in str(screen.query_one("#log-title").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "back")


async def test_a_long_output_renders_only_the_lines_in_view(app_for) -> None:
    """A run's 64 KiB tail of ``seq 1 200000`` is 9,363 lines: rendered all at once, as
    they were written, they froze the dashboard for 3-7 s at each opening of the detail
    and again of the log, keys and all."""
    output = "".join(f"{n}\n" for n in range(190639, 200002))
    seed_job("a", state="completed")
    kept = len(output.encode())
    seed_run(
        "a",
        finished_at=T0 - 5,
        outcome="succeeded",
        exit_code=0,
        output=output,
        output_bytes=kept + 1_222_000,
    )
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "detail")
        detail = app.screen.query_one("#output", OutputView)
        await wait_for(pilot, lambda: len(detail.lines_text) == 9363, "the output shown")
        await pilot.pause()
        assert 0 < detail.lines_rendered <= 2 * detail.size.height  # the first and the end
        # A tail: its first line may start mid-line, and the title says what went before.
        assert str(detail.border_title).endswith(" · 1.2 MB earlier not kept")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen), "log view")
        screen = app.screen
        await wait_for(pilot, lambda: screen.loads >= 1, "log load")
        await pilot.pause()
        assert screen.view.lines_rendered <= 2 * screen.view.size.height
        assert screen.view.lines_text[-1].plain == "200001"
        title = str(screen.query_one("#log-title").render())
        assert title.endswith("9,363 lines · 1.2 MB earlier not kept"), title
        await pilot.press("g")  # the top: its lines are rendered as they come into view
        await pilot.pause()
        assert screen.view.lines_rendered <= 4 * screen.view.size.height  # of 9,363


async def test_a_search_typed_in_one_burst_with_l_keeps_every_key(app_for) -> None:
    """``l/2999`` then enter, typed fast from the detail: the log opened with an empty
    search box, the digits and the enter lost before the box had the focus."""
    seed_job("a", state="completed")
    output = "".join(f"{n}\n" for n in range(1, 3001))
    seed_run("a", finished_at=T0 - 5, outcome="succeeded", exit_code=0, output=output)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "detail")
        await wait_for(pilot, lambda: app.screen.loads >= 1, "detail load")
        keys = [("l", "l"), ("slash", "/"), *[(c, c) for c in "2999"], ("enter", "\r")]
        for key, character in keys:  # queued before any is handled, as a terminal sends them
            app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen), "log view")
        screen = app.screen
        await wait_for(pilot, lambda: screen.term == "2999", "the search typed")
        await wait_for(pilot, lambda: screen.matches == [2998], "its match")


async def test_follows_a_running_attempt_until_asked_not_to(app_for) -> None:
    seed_job("a", state="processing")
    run_id = seed_run("a", output="first\n")
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        assert "following" in str(screen.query_one("#log-title").render())
        _run_goes_on(screen, run_id, output="first\n" + LINES)
        await wait_for(pilot, lambda: len(screen.view.lines_text) == 101, "new lines")
        await wait_for(pilot, lambda: screen.view.scroll_y == screen.view.max_scroll_y > 0, "end")
        await pilot.press("f")
        assert not screen.following
        assert "paused (f follows)" in str(screen.query_one("#log-title").render())
        await pilot.press("g")
        finished = "first\n" + LINES + "last\n"
        _run_goes_on(screen, run_id, output=finished, outcome="succeeded", finished_at=T0)
        await wait_for(pilot, lambda: screen.view.lines_text[-1].plain == "last", "the end")
        assert screen.view.scroll_y == 0  # not following: the view stays put


async def test_end_follows_again_as_g_does(app_for) -> None:
    """``End`` scrolled to the end but left the view "paused" (``G`` followed again; the
    help lists them as one key): a keyboard user's try."""
    seed_job("a", state="processing")
    run_id = seed_run("a", output="first\n" + LINES)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        await pilot.press("f")
        assert not screen.following
        await pilot.press("end")
        await wait_for(pilot, lambda: screen.following, "following again")
        _run_goes_on(screen, run_id, output="first\n" + LINES + "more\n")
        await wait_for(pilot, lambda: screen.view.lines_text[-1].plain == "more", "new line")
        await wait_for(pilot, lambda: screen.view.scroll_y == screen.view.max_scroll_y, "end")


def _offered(screen: LogScreen) -> set[str]:
    """The actions the key bar shows (dimmed or not)."""
    return {action for _shown, _what, _key, action, _on in screen.query_one(KeyBar).items}


@pytest.mark.parametrize(
    ("state", "outcome"),
    [("completed", "succeeded"), ("dead", "failed"), ("cancelled", "cancelled")],
)
async def test_a_finished_runs_log_offers_no_follow(app_for, state, outcome) -> None:
    """The key bar offered ``f Follow`` on a finished job's run, with nothing left to
    follow: pressed, it only jumped to the end."""
    seed_job("a", state=state)
    seed_run("a", finished_at=T0 - 5, outcome=outcome, exit_code=1, output=LINES)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        await wait_for(pilot, lambda: "wrap" in _offered(screen), "the key bar")
        assert "follow" not in _offered(screen)
        await pilot.press("g")
        await wait_for(pilot, lambda: screen.view.scroll_y == 0, "the first line at the top")
        await pilot.press("f")
        await pilot.pause()
        assert screen.view.scroll_y == 0 < screen.view.max_scroll_y


async def test_follow_is_offered_while_the_run_goes_on_and_goes_with_it(app_for) -> None:
    seed_job("a", state="processing")
    run_id = seed_run("a", output="first\n")
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        await wait_for(pilot, lambda: "follow" in _offered(screen), "Follow offered")
        await pilot.press("f")
        assert not screen.following  # and it still works
        _run_goes_on(screen, run_id, output="first\n", outcome="succeeded", finished_at=T0)
        await wait_for(pilot, lambda: "follow" not in _offered(screen), "Follow gone")


async def test_export_delivers_the_output_as_stored(app_for, tmp_path) -> None:
    stored = "\x1b[31mred\x1b[0m\r\nplain\n"
    seed_job("a", state="completed")
    seed_run("a", finished_at=T0 - 5, outcome="succeeded", exit_code=0, output=stored)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        screen.export_directory = str(tmp_path)
        await pilot.press("s")
        saved = tmp_path / "queuectl-a-run1.log"
        await wait_toast(pilot, f"Saved {saved}")
        assert saved.read_bytes() == stored.encode()


async def test_an_export_stays_in_its_folder_whatever_the_jobs_id(app_for, tmp_path) -> None:
    """An id stored past the CLI's checks (a shared PostgreSQL queue's other member)
    of ``/../../../tmp/target/pg``, with a ``queuectl-`` folder planted in the export
    folder, wrote the export outside it, with the attacker's output in it."""
    from queuectl.store.models import Job, Run, database

    seed_job("a", state="completed")
    seed_run("a", finished_at=T0 - 5, outcome="succeeded", exit_code=0, output="planted")
    hostile = "/../../target/pg"
    database.execute_sql("PRAGMA foreign_keys = OFF")  # as a tampered file holds it
    Job.update(id=hostile).where(Job.id == "a").execute()
    Run.update(job=hostile).execute()
    database.execute_sql("PRAGMA foreign_keys = ON")
    folder = tmp_path / "exports"
    (folder / "queuectl-").mkdir(parents=True)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        screen.export_directory = str(folder)
        await pilot.press("s")
        saved = folder / "queuectl-_.._.._target_pg-run1.log"
        await wait_toast(pilot, f"Saved {saved}")
    assert saved.read_text() == "planted"
    assert not (tmp_path / "target").exists()


async def test_export_is_private_and_never_writes_through_a_planted_name(app_for, tmp_path):
    """Textual's delivery wrote the output with the umask's mode (0644), through a
    symlink planted under the export's name, and over a file already there."""
    target = tmp_path / "target"
    target.write_text("SECRET\n")
    (tmp_path / "queuectl-a-run1.log").symlink_to(target)
    (tmp_path / "queuectl-a-run1-2.log").write_text("someone else's\n")
    seed_job("a", state="completed")
    seed_run("a", finished_at=T0 - 5, outcome="succeeded", exit_code=0, output="job output\n")
    app = app_for()
    previous = os.umask(0o022)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await _open_log(pilot)
            screen.export_directory = str(tmp_path)
            await pilot.press("s")
            saved = tmp_path / "queuectl-a-run1-3.log"
            await wait_toast(pilot, f"Saved {saved}")
    finally:
        os.umask(previous)
    assert saved.read_text() == "job output\n"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert target.read_text() == "SECRET\n"
    assert (tmp_path / "queuectl-a-run1-2.log").read_text() == "someone else's\n"


async def test_export_without_a_downloads_folder_saves_where_the_dashboard_started(
    app_for, tmp_path, monkeypatch
) -> None:
    """A server's account seldom has ~/Downloads: the export failed there."""
    home, started = tmp_path / "home", tmp_path / "started"
    home.mkdir()
    started.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.chdir(started)
    seed_job("a", state="completed")
    seed_run("a", finished_at=T0 - 5, outcome="succeeded", exit_code=0, output="kept\n")
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_log(pilot)
        await pilot.press("s")
        saved = started / "queuectl-a-run1.log"
        await wait_toast(pilot, f"Saved {saved}")
        assert saved.read_text() == "kept\n"
        (home / "Downloads").mkdir()  # once there is one, it is used
        await pilot.press("s")
        await wait_toast(pilot, f"Saved {home / 'Downloads' / 'queuectl-a-run1.log'}")


async def test_at_80_columns_the_title_keeps_whether_it_follows(app_for) -> None:
    """With a search shown, the end of the title was cut, and "following" with it."""
    seed_job("long-job-2", state="processing")
    seed_run("long-job-2", output="an error\n" + LINES)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        screen.term = "error"
        screen._title()
        await pilot.pause()
        title = screen.query_one("#log-title")
        drawn = "".join(segment.text for segment in title.render_line(0))
        assert len(drawn) <= 80
        assert "running · following · /error" in drawn


async def test_search_finds_a_running_jobs_unfinished_last_line(app_for) -> None:
    seed_job("a", state="processing")
    run_id = seed_run("a", output="first\nwaiting")
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        assert screen.view.plain == "first\nwaiting"
        await pilot.press("slash", *"ERROR", "enter")
        await wait_for(
            pilot, lambda: "no match" in str(screen.query_one("#log-title").render()), "none yet"
        )
        _run_goes_on(screen, run_id, output="first\nwaiting ERROR")
        await wait_for(pilot, lambda: screen.matches == [1], "the match in the changed line")
        assert screen.view.lines_text[-1].plain == "waiting ERROR"
        await pilot.press("w")  # wrapped, a long unfinished line takes several rows
        _run_goes_on(screen, run_id, output="first\n" + "x" * 200)
        await wait_for(pilot, lambda: screen.view.plain.endswith("x" * 200), "the long line")
        rows = len(screen.view.painted())
        assert rows > 3 and screen.view.starts == [0, 1]
        _run_goes_on(screen, run_id, output="first\n" + "x" * 200 + "\nsecond\n")
        await wait_for(pilot, lambda: screen.view.plain.endswith("second"), "complete lines")
        assert len(screen.view.painted()) == rows + 1  # the long line once, not twice
        assert screen.view.starts == [0, 1, rows]


@pytest.mark.parametrize("key", ["pageup", "up", "k", "home"])
async def test_scrolling_up_by_key_stops_following(app_for, key) -> None:
    """Only the mouse wheel paused it: after PgUp the next read took the view back to the
    end, and the title still said following."""
    seed_job("a", state="processing")
    run_id = seed_run("a", output="first\n" + LINES)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        await wait_for(pilot, lambda: screen.view.scroll_y == screen.view.max_scroll_y > 0, "end")
        await pilot.press(key)
        await wait_for(pilot, lambda: not screen.following, "paused")
        assert "paused (f follows)" in str(screen.query_one("#log-title").render())
        place = screen.view.scroll_y
        _run_goes_on(screen, run_id, output="first\n" + LINES + "more\n")
        await wait_for(pilot, lambda: screen.view.lines_text[-1].plain == "more", "new output")
        assert screen.view.scroll_y == place  # left where the person put it


async def test_wrapping_keeps_the_line_at_the_top_of_the_view(app_for) -> None:
    """On a log of long lines at its line 60, ``w`` showed the lines around 20."""
    seed_job("a", state="completed")
    long_lines = "".join(f"line {i} " + "x" * 150 + "\n" for i in range(100))
    seed_run("a", output=long_lines, outcome="succeeded", finished_at=T0)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        await wait_for(pilot, lambda: len(screen.view.lines_text) == 100, "the lines")
        # It opens following the end, which a late resize scrolls back to: paused first.
        await pilot.press("up")  # a line up, which also stops following
        await wait_for(pilot, lambda: not screen.following, "paused")
        screen.view.scroll_to(y=61, animate=False)
        await wait_for(pilot, lambda: round(screen.view.scroll_y) == 61, "line 61 at the top")
        await pilot.press("up")
        await wait_for(pilot, lambda: round(screen.view.scroll_y) == 60, "line 60 at the top")
        await pilot.press("w")
        await wait_for(pilot, lambda: screen.view.wrap, "wrapped")
        await wait_for(
            pilot, lambda: screen.view.line_at(round(screen.view.scroll_y)) == 60, "line 60 kept"
        )
        await pilot.press("w")
        await wait_for(pilot, lambda: round(screen.view.scroll_y) == 60, "and back")


async def test_wrapping_at_the_end_keeps_the_end_in_view(app_for) -> None:
    """At the end (``G``: following), ``w`` showed lines from the middle: wrapped lines
    take more rows, and the old scroll offset was kept."""
    seed_job("a", state="completed")
    long_lines = "".join(f"line {i} " + "y" * (i % 3) * 60 + "\n" for i in range(64))
    seed_run("a", output=long_lines, outcome="succeeded", finished_at=T0)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        await wait_for(pilot, lambda: len(screen.view.lines_text) == 64, "the lines")
        view = screen.view

        def at_the_end() -> bool:
            return view.max_scroll_y > 0 and round(view.scroll_y) == round(view.max_scroll_y)

        await pilot.press("G")
        await wait_for(pilot, at_the_end, "the end")
        for wrapped in (True, False):
            await pilot.press("w")
            await wait_for(pilot, lambda wrapped=wrapped: view.wrap == wrapped, "toggled")
            await wait_for(pilot, at_the_end, "still the end")
            assert screen.view.line_at(round(view.scroll_y) + view.size.height - 1) == 63


async def test_at_80_columns_the_title_shows_wrapped_before_the_line_count(app_for) -> None:
    """The title of a paused running run at 80 columns cut "wrapped" off its end, so the
    one sign that ``w`` is on was not on screen."""
    seed_job("k3x9q2ab", state="processing")
    seed_run("k3x9q2ab", output="first\n" + LINES)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        await pilot.press("k", "w")
        await wait_for(pilot, lambda: screen.view.wrap and not screen.following, "paused, wrapped")
        title = screen.query_one("#log-title")
        shown = str(title.render())
        assert len(shown) <= title.size.width, shown
        assert "paused" in shown and "wrapped" in shown, shown


async def test_at_80_columns_the_title_fits_with_a_search_in_force(app_for) -> None:
    """``/error`` at 80 columns cut the title at "/error: 2 of" (the total gone); after
    ``w`` and ``f`` "wrapped" and the line count went too, a stray "·" left. Long forms
    now give way to short ones."""
    seed_job("k3x9q2ab", state="processing")
    seed_run("k3x9q2ab", output="first\n" + LINES)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        title = screen.query_one("#log-title")
        await pilot.press("g", "slash", *"error", "enter")
        await wait_for(pilot, lambda: len(screen.matches) == 5, "the matches")
        await wait_for(pilot, lambda: "/error: 1" in str(title.render()), "the title's search")
        shown = str(title.render())
        assert len(shown) <= title.size.width, shown
        assert "run 1: running · paused · /error: 1 of 5" in shown, shown
        await pilot.press("w", "f")
        await wait_for(pilot, lambda: screen.following and screen.view.wrap, "following")
        await wait_for(pilot, lambda: "following" in str(title.render()), "the title's mode")
        shown = str(title.render())
        assert len(shown) <= title.size.width, shown
        assert "following · /error: 1 of 5 · wrapped" in shown, shown
    async with app_for().run_test(size=(160, 45)) as pilot:  # room: everything, in full
        screen = await _open_log(pilot)
        await pilot.press("slash", *"error", "enter")
        await wait_for(pilot, lambda: len(screen.matches) == 5, "the matches")
        shown = str(screen.query_one("#log-title").render())
        assert shown.startswith("Job k3x9q2ab · run 1 (attempt 1): running · paused (f follows)")
        assert shown.endswith(" of 5 · 101 lines"), shown  # from the top line shown


async def test_pausing_with_a_search_in_force_keeps_the_view_at_the_end(app_for) -> None:
    """Following the end with ``/line 3`` in force, ``f`` paused, and the next read took
    the view back to the search's match near the top."""
    seed_job("a", state="processing")
    run_id = seed_run("a", output=LINES)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        await pilot.press("slash", *"line 3", "enter")
        await wait_for(pilot, lambda: screen.matches and not screen.following, "the match")
        await pilot.press("f")  # follow the end again, the search still in force
        await wait_for(
            pilot, lambda: screen.view.scroll_y == screen.view.max_scroll_y > 0, "at the end"
        )
        await pilot.press("f")  # and pause there
        await wait_for(pilot, lambda: not screen.following, "paused")
        place = screen.view.scroll_y
        _run_goes_on(screen, run_id, output=LINES + "more\n")
        await wait_for(pilot, lambda: screen.view.lines_text[-1].plain == "more", "new output")
        assert screen.view.scroll_y == place


async def test_the_title_is_fitted_again_after_a_resize(app_for) -> None:
    """A finished run is read once: from 160x45 to 80x24 the title kept its wide form,
    cut at the screen's edge, since only a read or a key fitted it."""
    job_id = "nightly-backup-of-the-build-farm:20261205T030000Z"
    seed_job(job_id, state="completed")
    seed_run(job_id, finished_at=T0 - 5, outcome="succeeded", exit_code=0, output=LINES)
    app = app_for()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await _open_log(pilot)
        title = screen.query_one("#log-title")
        await wait_for(pilot, lambda: "(attempt 1)" in str(title.render()), "the wide title")
        await pilot.resize_terminal(80, 24)
        await wait_for(
            pilot,
            lambda: len(str(title.render())) <= title.content_region.width <= 80,
            "a title that fits 80 columns",
        )
        assert "run 1: succeeded" in str(title.render())
        await pilot.resize_terminal(160, 45)
        await wait_for(pilot, lambda: "(attempt 1)" in str(title.render()), "the wide title")


async def test_a_view_at_the_end_keeps_the_end_in_view_after_a_shrink(app_for) -> None:
    """From 160x45 to 80x24 the view kept its top line, and the run's last lines went
    below the edge of a view that had opened at the end."""
    job_id = "shrunk"
    seed_job(job_id, state="completed")
    seed_run(job_id, finished_at=T0 - 5, outcome="succeeded", exit_code=0, output=LINES)
    app = app_for()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await _open_log(pilot)
        view = screen.view
        await wait_for(
            pilot, lambda: view.max_scroll_y > 0 and view.is_vertical_scroll_end, "the end"
        )
        await pilot.resize_terminal(80, 24)
        await wait_for(
            pilot,
            lambda: view.size.height < 30 and view.is_vertical_scroll_end,
            "the end still in view at 80x24",
        )


async def test_a_key_that_pauses_before_a_pending_scroll_to_the_end_keeps_its_place(
    app_for,
) -> None:
    """``g`` typed as the log opened, on a loaded machine, landed at the end: the
    opening's scroll to the end waits for the next frame and came after the key."""
    seed_job("a", state="completed")
    seed_run("a", finished_at=T0 - 5, outcome="succeeded", exit_code=0, output=LINES)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot)
        view = screen.view
        await wait_for(pilot, lambda: view.scroll_y == view.max_scroll_y > 0, "the end")
        screen._refit()  # what a resize does: the end, after the next frame
        await pilot.press("g")  # in the same frame
        after: list[bool] = []
        view.call_after_refresh(after.append, True)  # runs after the pending scroll
        await wait_for(pilot, lambda: after, "the pending scroll's frame")
        assert view.scroll_y == 0 and not screen.following


async def _log_of_the_row(pilot) -> LogScreen:
    """``l`` on the highlighted row of a list: its log view, once first read."""
    app = pilot.app
    await pilot.press("l")
    await wait_for(pilot, lambda: isinstance(app.screen, LogScreen), "log view")
    screen = app.screen
    await wait_for(pilot, lambda: screen.loads >= 1, "log load")
    return screen


@pytest.mark.parametrize("pane", ["1", "2"])
async def test_l_on_a_row_opens_the_jobs_latest_output(app_for, pane) -> None:
    """k9s shows a pod's logs with ``l`` on its row; here ``l`` on a Jobs or DLQ row did
    nothing and said nothing (it took ``enter`` then ``l``). It opens the latest run's
    output; escape goes back to the list. A job not run yet says so, and shows its
    first run's output once it starts."""
    seed_job("a", state="dead", finished_at=T0 - 5)
    seed_run("a", 1, finished_at=T0 - 50, outcome="failed", exit_code=1, output="first\n")
    seed_run("a", 2, finished_at=T0 - 5, outcome="failed", exit_code=3, output="second\n")
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press(pane)
        await refreshed(pilot)
        screen = await _log_of_the_row(pilot)
        assert [line.plain for line in screen.view.lines_text] == ["second"]
        assert "Job a · run 2 (attempt 2): failed" in str(screen.query_one("#log-title").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, LogScreen), "back")
        assert not isinstance(app.screen, JobDetailScreen)


async def test_l_on_a_job_not_run_yet_says_so_then_shows_its_first_run(app_for) -> None:
    seed_job("b")
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        screen = await _log_of_the_row(pilot)
        assert "this job has not run yet" in str(screen.query_one("#log-title").render())
        seed_run("b", 1, output="started\n")
        screen.load()  # as its timer does
        await wait_for(pilot, lambda: screen.run is not None, "the first run")
        assert [line.plain for line in screen.view.lines_text] == ["started"]


async def test_l_on_a_job_deleted_before_it_ran_says_it_no_longer_exists(app_for) -> None:
    """It said "this job has not run yet", and read again every second, for ever."""
    from queuectl.store.models import Job

    seed_job("c")
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        screen = await _log_of_the_row(pilot)
        Job.delete().where(Job.id == "c").execute()
        screen.load()  # as its timer does
        await wait_for(pilot, lambda: screen.loads >= 2, "the next load")
        title = str(screen.query_one("#log-title").render())
        assert "this job no longer exists" in title, title


async def test_a_resize_keeps_a_wrapped_logs_top_line_and_its_match_in_view(app_for) -> None:
    """The wrapped view's scroll offset was kept in rows: narrowed from 160 to 80 columns
    the top became a piece of line 15 and the match on line 30 went out of sight, the
    title still naming it (a keyboard user's try)."""
    long_lines = "".join(f"line {i} " + "x" * 170 + "\n" for i in range(60))
    seed_job("a", state="completed")
    seed_run("a", finished_at=T0 - 5, outcome="succeeded", exit_code=0, output=long_lines)
    app = app_for()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await _open_log(pilot)
        await pilot.press("w", "g")
        await pilot.press("slash", *"line 30 ", "enter")
        await wait_for(pilot, lambda: screen.matches == [30], "the match")
        await pilot.pause()
        top = screen.view.line_at(round(screen.view.scroll_y))
        for size in ((80, 24), (160, 45), (100, 30)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            view = screen.view
            assert view.line_at(round(view.scroll_y)) == top, size
            first, last = round(view.scroll_y), round(view.scroll_y) + view.size.height - 1
            assert first <= view.starts[30] <= last, (size, first, last, view.starts[30])
