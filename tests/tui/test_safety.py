"""Hostile text is shown as it is: never parsed as markup, never reaching the terminal raw."""

from __future__ import annotations

import subprocess
import sys

from textual.widgets._toast import Toast

from tests.conftest import T0
from tests.tui.conftest import open_detail, refreshed, seed_job, seed_run, wait_for, wait_toast
from tui.panes.dlq import DlqPane
from tui.panes.jobs import JobsPane

HOSTILE = "[bold red]boom[/] \x1b[31mred \x1b]52;c;aGk=\x07 end"


def _rendered(widget, lines: int) -> str:
    return "\n".join(
        "".join(segment.text for segment in widget.render_line(y)) for y in range(lines)
    )


def _assert_inert(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text
    assert "␛" in text  # the escape is visible instead


async def test_hostile_command_and_error_are_inert_in_tables(app_for) -> None:
    seed_job("evil", HOSTILE, state="dead", attempts=4, last_error=HOSTILE, finished_at=T0 - 5)
    app = app_for()
    async with app.run_test(size=(200, 30)) as pilot:
        await refreshed(pilot)
        jobs = app.query_one(JobsPane).table
        command = jobs.get_row("evil")[8]
        assert str(command).startswith("[bold red]boom[/] ␛[31mred ␛]52;c;aGk=␇ end")
        await wait_for(pilot, lambda: "evil" in _rendered(jobs, 2), "jobs drawn")
        shown = _rendered(jobs, 2)
        assert "[bold red]boom[/]" in shown
        _assert_inert(shown)
        await pilot.press("2")
        dlq = app.query_one(DlqPane).table
        await wait_for(pilot, lambda: "evil" in _rendered(dlq, 2), "DLQ drawn")
        shown = _rendered(dlq, 2)
        assert "[bold red]boom[/]" in shown
        _assert_inert(shown)


async def test_hostile_output_is_inert_in_detail(app_for) -> None:
    seed_job("evil", HOSTILE, state="failed", attempts=1, last_error=HOSTILE)
    seed_run("evil", 1, finished_at=T0 - 5, outcome="failed", exit_code=1, output=HOSTILE + "\n")
    app = app_for()
    async with app.run_test(size=(200, 40)) as pilot:
        await refreshed(pilot)
        screen = await open_detail(pilot)
        output = screen.query_one("#output").plain
        assert "[bold red]boom[/]" in output
        _assert_inert(output)
        fields = _rendered(screen.query_one("#detail-fields"), 8)
        assert "[bold red]boom[/]" in fields
        _assert_inert(fields)


def test_the_cli_never_loads_textual() -> None:
    """The dependency runs one way: ``queuectl`` works without paying for Textual."""
    code = (
        "import sys, queuectl.cli; "
        "print(any(m.startswith(('textual', 'tui')) for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


async def test_output_colours_are_styles_and_other_escapes_stay_visible(app_for) -> None:
    output = "\x1b[1;31mERROR\x1b[0m ok \x1b]0;title\x07 \x1b[2J\n\x1b[32mgreen\n"
    seed_job("c", state="completed")
    seed_run("c", 1, finished_at=T0 - 5, outcome="succeeded", exit_code=0, output=output)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        view = (await open_detail(pilot)).query_one("#output")
        await wait_for(pilot, lambda: len(view.lines_text) == 2, "output drawn")
        first, second = view.lines_text[:2]
        assert first.plain == "ERROR ok ␛]0;title␇ ␛[2J"
        (span,) = first.spans
        assert (span.start, span.end) == (0, 5)
        assert span.style.bold and span.style.color.name == "color(1)"  # ANSI red
        assert second.plain == "green" and second.spans[0].style.color.name == "color(2)"


HOOK = "echo \x1b]52;c;Q0ZH\x07\x1b]2;title\x07 \x1b[31mred\rover\u202e"


def _assert_drawn_inert(text: str) -> None:
    _assert_inert(text)
    assert "\r" not in text and "\u202e" not in text


async def test_a_hostile_setting_is_inert_in_the_config_table_and_its_edit_box(app_for) -> None:
    """A hook command holding an OSC 52 write set the user's clipboard when the Config
    pane drew it, and again in the edit box; it is now drawn inert and stored unchanged."""
    from queuectl.lifecycle import settings
    from tui.panes.config import ConfigPane

    settings.set_value("on_failure", HOOK)
    app = app_for()
    async with app.run_test(size=(160, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("4")
        pane = app.query_one(ConfigPane)
        await wait_for(pilot, lambda: "on_failure" in _rendered(pane.table, 20), "config drawn")
        _assert_drawn_inert(_rendered(pane.table, 20))
        pane.table.select_key("on_failure")
        await pilot.press("enter")
        box = pane.query_one("#config-edit")
        # Focus comes before the layout that gives the box, shown a moment ago, its width.
        await wait_for(pilot, lambda: box.has_focus and box.content_size.width > 0, "edit box")
        assert box.value == HOOK  # the value itself is untouched: only its drawing
        drawn = _rendered(box, 1)
        _assert_drawn_inert(drawn)
        assert "␛]52;c;Q0ZH␇" in drawn
        # The cursor is an index into the value, drawn where that index is drawn: one
        # cell per character here (Rich gives a raw ESC none, which put it astray).
        for position in (0, 6, 20, len(HOOK) - 1):
            box.cursor_position = position
            assert box._position_to_cell(position) == position
        await pilot.press("enter")  # accepted as it was: staged exactly, not as drawn
        assert pane.staged == {"on_failure": HOOK}
        _assert_drawn_inert(_rendered(pane.table, 20))  # the staged row too


async def test_a_hostile_command_is_inert_in_the_edit_form(app_for) -> None:
    from tui.screens.new_job import NewJobScreen

    seed_job("evil", HOOK, state="pending")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, NewJobScreen), "form")
        box = app.screen.query_one("#f-command")
        await wait_for(pilot, lambda: box.value == HOOK, "prefilled")
        await pilot.press("home")
        _assert_drawn_inert(_rendered(box, 1))
        await pilot.press("escape")


async def test_a_filter_that_looks_like_markup_is_shown_as_typed(app_for) -> None:
    """``a[/]b`` typed into the filter crashed the app (the status line parsed it as
    markup); ``[ERROR] failed`` lost its bracket; a bad state's toast did the same."""
    seed_job("a", "grep '[ERROR] failed' log")
    app = app_for()
    async with app.run_test(size=(120, 30), notifications=True) as pilot:  # toasts drawn
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        for typed in ("a[/]b", "[link=http://e]ab[/link]", "[ERROR] failed"):
            await pilot.press("slash", "ctrl+u", *typed, "enter")
            await wait_for(pilot, lambda typed=typed: f"filter: {typed}" in pane.status, typed)
            await refreshed(pilot)
            status = _rendered(pane.query_one(".status"), 1)
            assert f"filter: {typed}" in status, status
        assert [key for key, _ in app.last_snapshot.jobs.rows] == ["a"]
        await pilot.press("slash", "ctrl+u", *"state:[/]", "enter")
        await wait_toast(pilot, "unknown state '[/]'")
        await wait_for(
            pilot,
            lambda: any("'[/]'" in toast.render().plain for toast in app.screen.query(Toast)),
            "the toast drawn",
        )
        assert app.is_running


OSC52 = "r\x1b]52;c;Y3VybCBldmlsIHwgc2gK\x1b\\eports\u202e"
"""A queue name a row's writer chose: an OSC 52 clipboard write and a bidi override."""


def _drawn(widget) -> str:
    """Every line of ``widget`` as Textual hands it to the terminal, filters applied."""
    return "\n".join(
        "".join(segment.text for segment in strip)
        for strip in widget.render_lines(widget.region.reset_offset)
    )


def test_the_guard_removes_control_characters_and_keeps_the_width() -> None:
    from rich.segment import Segment
    from textual.color import Color

    from tui.guard import ControlGuard

    move = Segment("\x1b[2J", None, [(1,)])  # a control segment: Textual's own, kept
    text = Segment(OSC52 + " x")
    [kept, cleaned] = ControlGuard().apply([move, text], Color(0, 0, 0))
    assert kept is move
    assert "\x1b" not in cleaned.text and "\u202e" not in cleaned.text
    assert cleaned.cell_length == text.cell_length
    plain = [Segment("plain")]
    assert ControlGuard().apply(plain, Color(0, 0, 0)) is plain


async def test_a_hostile_queue_never_reaches_the_terminal_raw(app_for) -> None:
    """Enter on its Queues row set a filter whose status line sent the OSC 52 (the
    operator's clipboard); its first letter typed in the start dialog's queue field drew
    Textual's suggestion of it, raw."""
    from textual.widgets import Input

    from queuectl.store.models import Job
    from tui.panes.queues import QueuesPane
    from tui.screens.confirm import CountScreen

    seed_job("evil")
    Job.update(queue=OSC52).where(Job.id == "evil").execute()
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        assert OSC52 not in app.known_queues()  # no suggestion of a name nobody could type
        await pilot.press("5")
        pane = app.query_one(QueuesPane)
        await wait_for(pilot, lambda: pane.table.row_count == 1, "the queue's row")
        await pilot.press("enter")
        jobs = app.query_one(JobsPane)
        await wait_for(pilot, lambda: "filter: queue:" in jobs.status, "the filtered jobs")
        assert "\x1b" not in jobs.status and "\u202e" not in jobs.status
        await pilot.pause()
        for widget in app.screen.query("*"):
            if widget.region.area:
                assert "\x1b" not in _drawn(widget), widget
        # The guard under Textual's own drawing: an input suggesting the hostile name.
        await pilot.press("3", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, CountScreen), "the dialog")
        field = app.screen.query_one("#queues", Input)
        from textual.suggester import SuggestFromList

        field.suggester = SuggestFromList([OSC52], case_sensitive=True)
        field.value = ""
        field.focus()
        await pilot.press("r")
        await wait_for(pilot, lambda: field._suggestion == OSC52, "the suggestion")
        await pilot.pause()
        assert "\x1b" not in _drawn(field) and "eports" in _drawn(field)
