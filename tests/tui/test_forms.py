"""Config editing, the new-job form, the filter box, help and the command palette."""

from __future__ import annotations

from typing import Any

import pytest
from textual import events
from textual.binding import Binding
from textual.widgets import Input

from queuectl.lifecycle import settings
from queuectl.states import JobState
from queuectl.store.models import Job
from tests.conftest import T0
from tests.tui.conftest import asked, open_form, refreshed, seed_job, wait_for, wait_toast
from tui.app import QueueApp
from tui.commands import COMMANDS, QueueCommands
from tui.panes.config import CUT_SAID, VALUE_WIDTH, ConfigPane
from tui.panes.jobs import JobsPane
from tui.screens.confirm import ConfirmScreen, CountScreen
from tui.screens.help import HELP_CLASSES, HelpScreen, bindings_of, help_sections, key_label
from tui.screens.new_job import SHOWN_PROBLEMS, NewJobScreen


async def _edit_config(pilot, key: str, value: str) -> ConfigPane:
    await pilot.press("4")
    pane = pilot.app.query_one(ConfigPane)
    pane.table.select_key(key)
    await pilot.press("enter")
    box = pane.query_one("#config-edit")
    await wait_for(pilot, lambda: box.has_focus, "edit box")
    box.value = value
    await pilot.press("enter")
    return pane


async def test_config_edit_and_save(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = await _edit_config(pilot, "max_retries", "7")
        assert pane.staged == {"max_retries": "7"}
        assert settings.get("max_retries") == 3  # staged, not saved
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: settings.get("max_retries") == 7, "saved")
        await wait_toast(pilot, "Saved max_retries")
        await refreshed(pilot)
        assert str(pane.table.get_row("max_retries")[1]) == "7"


async def test_config_rejects_invalid_value_with_validator_message(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = await _edit_config(pilot, "max_retries", "500")
        error = pane.query_one("#config-error")
        await wait_for(pilot, lambda: "between 0 and 100" in str(error.render()), "error")
        assert pane.staged == {}
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert settings.get("max_retries") == 3
        assert "between 0 and 100" in str(error.render()) and error.display
        # Retyping takes the refused value's ✗ away (it stayed under the new value).
        await pilot.press("end", "backspace", "backspace", "backspace", "5")
        await wait_for(pilot, lambda: not error.display, "the ✗ gone")
        await pilot.press("enter")
        await wait_for(pilot, lambda: pane.staged == {"max_retries": "5"}, "staged")


async def test_config_reset_to_default(app_for) -> None:
    settings.set_value("backoff_base", "5")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("4")
        pane = app.query_one(ConfigPane)
        pane.table.select_key("backoff_base")
        await pilot.press("r", "ctrl+s")
        await wait_for(pilot, lambda: settings.get("backoff_base") == 2.0, "reset")


LONG_HOOK = (
    "curl -fsS -m 10 --data-binary @$QUEUECTL_OUTPUT_FILE "
    "https://hooks.example.com/queuectl/failures?job=$QUEUECTL_JOB_ID&team=data"
)


@pytest.mark.parametrize(("size", "about_lines"), [((160, 45), 2), ((80, 24), 4)])
async def test_a_long_hook_value_is_cut_in_its_column_and_shown_whole_under_the_table(
    app_for, size, about_lines
) -> None:
    """A 111-character webhook (README's own kind of hook) made the Value column as wide
    as itself: at 160 columns Description was cut at the screen's edge with no ellipsis,
    and at 80 the value itself stopped mid-URL. The column is now cut with an ellipsis,
    every other column stays, and the lines under the table give the value whole."""
    settings.set_value("on_failure", LONG_HOOK)
    app = app_for()
    async with app.run_test(size=size) as pilot:
        await refreshed(pilot)
        await pilot.press("4")
        pane = app.query_one(ConfigPane)
        layout = dict(pane.table.layout)
        assert layout["value"] <= VALUE_WIDTH
        assert sum(layout.values()) + 2 * len(layout) <= size[0], layout
        if size[0] == 160:
            assert list(layout) == [spec.key for spec in ConfigPane.COLUMNS]
        # Narrower than the value: the table draws it cut, with an ellipsis.
        assert len(str(pane.table.get_cell("on_failure", "value"))) > layout["value"]
        pane.table.select_key("on_failure")
        about = app.query_one("#config-about")
        await wait_for(pilot, lambda: LONG_HOOK in str(about.render()), "the value in full")
        # Drawn, not clipped: at 80 columns description and value wrap to 2 lines each.
        await wait_for(pilot, lambda: about.size.height == about_lines, "room for both")
        pane.table.select_key("max_retries")
        await wait_for(pilot, lambda: "value:" not in str(about.render()), "no value line")


async def test_a_long_value_staged_is_shown_under_the_table_before_it_is_saved(app_for) -> None:
    """At 80x24 a staged hook showed ``echo "[bold…`` with its ``*`` cut off, and the lines
    under the table only the description: what ctrl+s would store could not be read."""
    hook = 'echo "[bold red]HOOK[/] [link=https://x]l[/link]"'
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        pane = await _edit_config(pilot, "on_success", hook)
        assert pane.staged == {"on_success": hook}
        pane.table.select_key("on_success")
        about = app.query_one("#config-about")
        await wait_for(pilot, lambda: "unsaved value:" in str(about.render()), "the staged value")
        assert f"unsaved value: {hook}" in str(about.render())
        await pilot.press("ctrl+s")
        # "value: …" is in "unsaved value: …" too: wait for the save's own words.
        await wait_for(pilot, lambda: "unsaved" not in str(about.render()), "saved")
        assert f"value: {hook}" in str(about.render())


async def test_a_hook_too_long_for_the_lines_under_the_table_is_cut_saying_so(app_for) -> None:
    """A 152-character hook at 80 columns lost its end under the pane's edge, unsaid: it
    now gets three lines, and a longer one is cut there, saying so."""
    hook = 'echo "$QUEUECTL_JOB_ID $QUEUECTL_JOB_STATE" >> /tmp/hooks.log; ' * 5 + "END_MARK"
    settings.set_value("on_failure", hook)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("4")
        pane = app.query_one(ConfigPane)
        pane.table.select_key("on_failure")
        about = app.query_one("#config-about")
        await wait_for(pilot, lambda: CUT_SAID in str(about.render()), "the value cut, said")
        said = str(about.render())
        assert hook[:60] in said and "END_MARK" not in said
        lines = said.split("\n")
        assert lines[-1].endswith(CUT_SAID)
        await wait_for(pilot, lambda: about.size.height == 5, "two lines and three")
    # Where it fits, it is whole.
    app = app_for()
    async with app.run_test(size=(200, 45)) as pilot:
        await refreshed(pilot)
        await pilot.press("4")
        app.query_one(ConfigPane).table.select_key("on_failure")
        about = app.query_one("#config-about")
        await wait_for(pilot, lambda: "END_MARK" in str(about.render()), "the value whole")


async def test_new_job_enqueues_like_the_cli(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        form = await open_form(pilot)
        form.query_one("#f-command").value = "make backup"
        form.query_one("#f-priority").value = "5"
        form.query_one("#f-delay").value = "2m"
        form.query_one("#f-queue").value = "nightly"
        form.query_one("#f-max_retries").value = "1"
        await pilot.press("enter")
        await wait_for(pilot, lambda: Job.select().count() == 1, "enqueue")
        job = Job.get()
        assert (job.command, job.priority, job.queue, job.max_retries) == (
            "make backup",
            5,
            "nightly",
            1,
        )
        assert job.run_at == T0 + 120
        await wait_toast(pilot, f"Enqueued job {job.id}")


async def test_a_job_made_with_n_is_highlighted_once_shown(app_for) -> None:
    """The cursor stayed on the row it was on and ``▲ 1 new above (g)`` said where the new
    job was; a ``g`` then ``h`` raced a schedule's fire that landed on top meanwhile."""
    for index in range(5):
        seed_job(f"old{index}", now=T0 - 600 + index)
    app = app_for()
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        await pilot.press("j", "j")
        assert pane.highlighted == "old2"
        form = await open_form(pilot)
        form.query_one("#f-command").value = "make backup"
        await pilot.press("enter")
        await wait_for(pilot, lambda: Job.select().count() == 6, "enqueue")
        made = Job.select().where(Job.command == "make backup").get().id
        await wait_for(pilot, lambda: pane.highlighted == made, "the new job highlighted")


async def test_new_job_shows_validation_error_inline(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        form = await open_form(pilot)
        form.query_one("#f-command").value = "echo hi"
        form.query_one("#f-priority").value = "high"
        await pilot.press("enter")
        error = form.query_one("#form-error")
        assert "\"priority\" must be an integer (got 'high')" in str(error.render())
        form.query_one("#f-priority").value = ""
        form.query_one("#f-delay").value = "5s"
        form.query_one("#f-run_at").value = "2026-11-22T10:30:00Z"
        await pilot.press("enter")
        assert 'give either "run_at" or "delay"' in str(error.render())
        assert app.screen is form
        await pilot.press("escape")
        await pilot.pause()
        assert Job.select().count() == 0


async def test_escape_on_a_form_with_something_typed_asks_before_discarding_it(app_for) -> None:
    """``esc`` on a form with eight fields filled threw them away without a word."""
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        form = await open_form(pilot)
        await asked(pilot, *"make backup", "escape")
        assert app.screen.question == "Discard the job you typed?"
        await pilot.press("n")  # stay: the form, as typed
        await wait_for(pilot, lambda: app.screen is form, "the form again")
        assert form.query_one("#f-command").value == "make backup"
        await pilot.press("escape", "y")
        await wait_for(pilot, lambda: not isinstance(app.screen, NewJobScreen), "closed")
        assert Job.select().count() == 0
        # Nothing typed: esc closes at once.
        await open_form(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, NewJobScreen), "closed")


async def test_ctrl_q_with_a_job_typed_asks_before_quitting(app_for) -> None:
    """It quit at once, the job lost, even while the form's "Discard?" was showing."""
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        form = await open_form(pilot)
        await pilot.press(*"make backup", "escape")  # the form's own question first
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "discard?")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.screen.question.startswith("Quit,"), "quit?")
        assert app.screen.question == "Quit, discarding the job you typed?"
        await pilot.press("ctrl+q")  # asked already: a second press waits for the answer
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running
        await pilot.press("n")  # and keep the form
        await wait_for(pilot, lambda: app.screen is form, "the form again")
        assert form.query_one("#f-command").value == "make backup"
        await asked(pilot, "ctrl+q")
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running, "quit")


async def test_new_job_empty_command_is_refused(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        form = await open_form(pilot)
        await pilot.press("enter")
        assert 'missing "command"' in str(form.query_one("#form-error").render())


async def test_filter_by_state_and_text(app_for) -> None:
    seed_job("a", "backup db", state="failed")
    seed_job("b", "backup files")
    seed_job("c", "send mail", state="failed")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("slash")
        box = app.query_one("#job-filter")
        await wait_for(pilot, lambda: box.has_focus, "filter box")
        await pilot.press(*"state:failed backup", "enter")
        await refreshed(pilot)
        assert [key for key, _ in app.last_snapshot.jobs.rows] == ["a"]
        assert "filter: state:failed backup" in str(
            app.query_one(JobsPane).query_one(".status").render()
        )
        assert app.query_one(JobsPane).highlighted == "a"
        await app.run_action("clear_filter")
        await refreshed(pilot)
        assert len(app.last_snapshot.jobs.rows) == 3
        # Back on the job found with the filter, not on the newest one ("c").
        assert app.query_one(JobsPane).highlighted == "a"


async def test_filter_unknown_state_is_reported(app_for) -> None:
    seed_job("a")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("slash", *"state:bogus", "enter")
        await wait_toast(pilot, "unknown state 'bogus'")
        # Not applied (a pause in the typing may have applied "stat" as text meanwhile).
        assert not app.query_one(JobsPane).job_filter.states
        assert app.query_one("#job-filter").has_class("-invalid")


async def test_keys_typed_right_after_enter_in_the_filter_act_on_the_rows(app_for) -> None:
    """``/fail`` enter ``dy`` in one burst filtered on ``faildy``: the keys after the
    enter went on into the box (a keyboard user's try). They act on the rows it shows."""
    seed_job("ok", "backup db")
    seed_job("bad", "failing step", state="failed")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        keys = [("slash", "/"), *((c, c) for c in "failing"), ("enter", "\r"), ("d", "d")]
        for key, character in [*keys, ("y", "y")]:  # queued before any is handled
            app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: Job.get_or_none(Job.id == "bad") is None, "deleted")
        assert pane.job_filter.text == "failing"
        assert Job.get_by_id("ok").state == "pending"


async def test_the_filter_applies_as_it_is_typed(app_for) -> None:
    """It waited for enter; k9s filters as you type (an outside try). A half-typed term
    is not applied: the last filter that read stays, and the box is marked."""
    seed_job("a", "backup db", state="failed")
    seed_job("b", "backup files")
    seed_job("c", "send mail", state="failed")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        box = app.query_one("#job-filter", Input)
        await pilot.press("slash", *"backup")
        await wait_for(pilot, lambda: pane.job_filter.text == "backup", "applied, no enter")
        await refreshed(pilot)
        assert [key for key, _ in app.last_snapshot.jobs.rows] == ["b", "a"]
        assert box.has_focus  # still typing
        await pilot.press(*" state:fai")
        await wait_for(pilot, lambda: box.has_class("-invalid"), "marked half-typed")
        assert not pane.job_filter.states  # (a slow typist's "backup s" may be in force)
        await pilot.press(*"led")
        await wait_for(pilot, lambda: pane.job_filter.states, "the whole term")
        assert not box.has_class("-invalid")
        await refreshed(pilot)
        assert [key for key, _ in app.last_snapshot.jobs.rows] == ["a"]
        await pilot.press("enter")
        assert pane.table.has_focus


async def test_escape_leaves_the_filter_box_and_keeps_a_filter_in_force(app_for) -> None:
    """The box's esc ran the pane's "clear" binding first (keys reach bindings before
    widgets), which found nothing to clear: the box stayed open and took what came next."""
    seed_job("a", "backup db")
    seed_job("b", "send mail")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        box = pane.query_one("#job-filter")
        await pilot.press("slash", "escape")
        assert not box.has_focus and not box.display and pane.table.has_focus
        await pilot.press("slash", *"backup", "enter")
        await refreshed(pilot)
        await pilot.press("slash", "escape")  # back to the table, the filter kept
        assert not box.has_focus and pane.table.has_focus and pane.job_filter.active
        await refreshed(pilot)
        assert [key for key, _ in app.last_snapshot.jobs.rows] == ["a"]
        await pilot.press("escape")  # from the table: the filter goes
        await refreshed(pilot)
        assert len(app.last_snapshot.jobs.rows) == 2


@pytest.mark.parametrize("pause", [0.0, 0.4])
async def test_escape_from_a_half_typed_filter_shows_the_one_in_force(app_for, pause) -> None:
    """``ok- state:done`` (no state then) stayed in the box after esc while ``ok-`` was in
    force: the box read as the filter, the status named another (a newcomer's try). With
    a pause past
    the quarter second in the typing (a loaded CI run), ``ok- sta`` is in force."""
    seed_job("a", "ok-1")
    seed_job("b", "other")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        pane = app.query_one(JobsPane)
        box = app.query_one("#job-filter", Input)
        await pilot.press("slash", *"ok-")
        await wait_for(pilot, lambda: pane.job_filter.text == "ok-", "applied as typed")
        await pilot.press(*" sta")
        await pilot.pause(pause)
        await pilot.press(*"te:gone")
        await wait_for(pilot, lambda: box.has_class("-invalid"), "not a filter")
        await pilot.press("escape")
        assert pane.table.has_focus and box.display
        # The one in force: "ok-", or more of it where the typing paused past the quarter
        # second (" sta" applied under load in a CI run), never the half-typed term.
        assert box.value == pane.job_filter.text and not box.has_class("-invalid")
        assert box.value.startswith("ok-") and "state:" not in box.value


async def test_typing_in_a_box_never_triggers_keys(app_for) -> None:
    seed_job("a")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("slash", *"qnrcd1234", "escape")
        await pilot.pause()
        assert app.is_running
        assert Job.get_by_id("a").state == "pending"


@pytest.mark.parametrize("pane_key", ["2", "3", "4", "5", "6"])
async def test_slash_from_another_pane_types_into_the_filter_box(app_for, pane_key) -> None:
    """``/`` on another pane shows the Jobs pane with its filter box focused: the switch's
    deferred focus of the Jobs table came after, so the letters typed next acted on the
    highlighted job (``r`` retried it, ``q`` quit)."""
    seed_job("a", "backup db", state="failed")
    seed_job("b", "send mail", state="failed")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press(pane_key, "slash", *"rcdqbackup")
        box = app.query_one(JobsPane).query_one("#job-filter")
        typed = ("state:dead " if pane_key == "2" else "") + "rcdqbackup"  # the DLQ's: dead
        await wait_for(pilot, lambda: box.value == typed, "the text in the box")
        await pilot.pause()
        assert app.is_running and box.has_focus
        assert [job.state for job in Job.select().order_by(Job.id)] == ["failed", "failed"]


async def test_slash_on_the_dlq_filters_the_dead_jobs(app_for) -> None:
    """It filtered every job: a search from the DLQ, then ``ctrl+a`` and ``r``, marked and
    retried jobs in every state, completed ones too."""
    seed_job("d1", "backup db", state="dead", attempts=4)
    seed_job("c1", "backup db", state="completed")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("2", "slash", *"backup", "enter")
        pane = app.query_one(JobsPane)
        await wait_for(pilot, lambda: pane.job_filter.states == (JobState.DEAD,), "the filter")
        await wait_for(pilot, lambda: [k for k, _ in app.last_snapshot.jobs.rows] == ["d1"], "d1")
        assert pane.job_filter.text == "backup"


async def test_help_lists_every_key(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        listed = {
            part
            for _, bindings in app.screen.sections
            for binding in bindings
            for part in key_label(binding.key).split(" / ")
        }
        for key in ("enter", "/", "n", "r", "R", "c", "d", "s", "x", "X", "ctrl+s", "?", "q"):
            assert key in listed
        for key in ("j", "k", "g", "G", "Home", "End", "PgUp", "PgDn", "ctrl+q", "y", "esc"):
            assert key in listed
        for key in "1234":
            assert key in listed
        for key in ("space", "shift+↑", "shift+↓", "ctrl+a", "f", "w", "N"):
            assert key in listed
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), "closed")


def test_help_has_every_binding_of_every_pane_and_screen() -> None:
    """Built from each class's own BINDINGS, the help left out the keys a pane inherits
    (marking, from ``MarkingPane``) and the log view's, the metrics' and the form's."""
    listed = {
        (title, binding.action)
        for title, bindings in help_sections(QueueApp.BINDINGS)
        for binding in bindings
        if isinstance(binding, Binding)
    }
    actions = {action for _title, action in listed}
    for cls in HELP_CLASSES:
        for binding in bindings_of(cls):
            if isinstance(binding, Binding):
                assert binding.action in actions, (cls.__name__, binding.key)
    marking = {"toggle_mark", "extend_marks(1)", "extend_marks(-1)", "clear"}
    for pane in ("Jobs pane (1)", "DLQ pane (2)"):
        assert marking <= {action for title, action in listed if title == pane}


async def test_palette_finds_metrics_release_and_reverse_and_quits_one_way(app_for) -> None:
    """``metric`` found nothing, H and O had no entry, and the palette listed two Quit
    entries: Textual's quits at once, past the question about unsaved config edits."""
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        provider = QueueCommands(app.screen)
        for query, title in (
            ("metric", "Metrics: figures per queue, charted"),
            ("release marked", "Jobs: release marked jobs"),
            ("reverse", "Jobs: reverse the sort"),
        ):
            hits = [hit async for hit in provider.search(query)]
            assert hits and str(hits[0].text) == title, query
        system = [command.title for command in app.get_system_commands(app.screen)]
        assert "Quit" not in system and "Maximize" not in system and "Theme" in system
        assert sum(title == "Quit" for title, _, _ in COMMANDS) == 1


async def test_palette_offers_every_action(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        provider = QueueCommands(app.screen)
        titles = [hit.text async for hit in provider.discover()]
        assert len(titles) == len(COMMANDS)
        hits = [hit async for hit in provider.search("retry all")]
        assert hits and "DLQ: retry all dead jobs" in str(hits[0].text)
        await hits[0].command()
        await pilot.pause()
        assert app.tabs.active == "dlq"


async def test_the_palette_offers_the_shown_panes_action_first(app_for) -> None:
    """In the DLQ, "retry highlighted job" listed the Jobs pane's first, and Enter retried
    the job highlighted in that hidden pane, unasked (a web user's try)."""
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        provider = QueueCommands(app.screen)
        hits = [hit async for hit in provider.search("retry highlighted")]
        assert str(hits[0].text) == "Jobs: retry highlighted job"  # on the Jobs pane
        await pilot.press("2")
        hits = sorted(
            [hit async for hit in provider.search("retry highlighted")],
            key=lambda hit: -hit.score,
        )
        assert str(hits[0].text) == "DLQ: retry highlighted job"
        found = [str(hit.text) async for hit in provider.discover()]
        assert found[0].startswith("DLQ: ")


async def test_new_job_button_opens_the_form(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.click("#btn-new")
        await wait_for(pilot, lambda: isinstance(app.screen, NewJobScreen), "form by button")


async def test_the_worker_count_prompt_keeps_every_key_of_a_fast_burst(
    app_for, supervisor, opened
) -> None:
    """``99`` enter (refused), two backspaces, ``2``, enter: two workers, not nine."""
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("3", "s", "backspace", "9", "9", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CountScreen), "count prompt")
        error = app.screen.query_one("#count-error")
        await wait_for(pilot, lambda: "from 1 to 32 (got '99')" in str(error.render()), "refused")
        await pilot.press("backspace", "backspace", "2", "enter")
        await wait_for(pilot, lambda: ("start", (opened, 2)) in supervisor.calls, "start")
        assert [call for call in supervisor.calls if call[0] == "start"] == [("start", (opened, 2))]
        await wait_toast(pilot, "Started 2 workers")


async def test_the_worker_count_prompt_refuses_what_is_not_a_whole_number(
    app_for, supervisor
) -> None:
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("3", "s", "backspace", "²", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CountScreen), "count prompt")
        error = app.screen.query_one("#count-error")
        await wait_for(pilot, lambda: "(got '²')" in str(error.render()), "refused")
        assert supervisor.calls == []


async def test_help_fits_80x24_and_scrolls_to_its_last_key(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        dialog = app.screen.query_one(".dialog")
        assert dialog.region.right <= 80 and dialog.region.bottom <= 24
        body = app.screen.query_one("#help-body")
        await wait_for(pilot, lambda: body.max_scroll_y > 0, "more keys than rows")
        await pilot.press("end")
        await wait_for(pilot, lambda: body.scroll_y == body.max_scroll_y, "scrolled to the end")


async def test_help_scrolls_a_line_for_every_key_however_fast_they_come(app_for) -> None:
    """Ten ↓ at once scrolled one to three lines: each started from the animation's
    position, not its target."""
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        body = app.screen.query_one("#help-body")
        await wait_for(pilot, lambda: body.max_scroll_y > 12, "the help laid out")
        # Ten keys handled before any refresh, as a burst from the terminal is.
        for _ in range(10):
            body.action_scroll_down()
        assert body.scroll_y == 10
        for _ in range(4):
            app.screen.action_scroll("up")
        body.action_page_down()
        assert body.scroll_y == min(body.max_scroll_y, 6 + body.scrollable_content_region.height)
        await pilot.press("down")
        assert body.scroll_y == min(body.max_scroll_y, 7 + body.scrollable_content_region.height)


async def test_the_palettes_arrow_keys_move_its_selection(app_for) -> None:
    """Down never moved it: the key order's early binding ran a container's scroll."""
    from textual.command import CommandList, CommandPalette

    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"show")  # "Jobs: show" … "Schedules: show", and more
        options = app.screen.query_one(CommandList)
        await wait_for(pilot, lambda: options.option_count >= 6, "the matches")
        await pilot.press("down", "down", "down")
        await wait_for(pilot, lambda: options.highlighted == 3, "the fourth match")
        await pilot.press("up")
        await wait_for(pilot, lambda: options.highlighted == 2, "the third match")


BAD_FIELDS = {"id": "a b", "priority": "x", "max_retries": "-1", "timeout": "5 s"} | {
    "run_at": "soon",
    "delay": "later",
    "queue": "a b",
}
"""Seven fields each refused, and no command: eight problems."""


async def _submitted_with_bad_fields(pilot: Any) -> Any:
    """The new-job form, submitted with ``BAD_FIELDS``; returns it."""
    await refreshed(pilot)
    form = await open_form(pilot)
    for name, value in BAD_FIELDS.items():
        form.query_one(f"#f-{name}", Input).value = value
    await pilot.press("ctrl+s")
    return form


async def test_many_bad_fields_keep_the_forms_buttons_on_an_80x24_screen(app_for) -> None:
    """Seven problems, one per line, pushed Enqueue and Cancel off the screen."""
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        form = await _submitted_with_bad_fields(pilot)
        error = form.query_one("#form-error")
        await wait_for(pilot, lambda: "more:" in str(error.render()), "the problems")
        assert str(error.render()).count("\n") == SHOWN_PROBLEMS
        await pilot.pause()
        assert form.query_one("#ok").region.bottom <= 23  # above the form's own key bar


async def test_a_resize_lists_the_problems_again_for_the_new_height(app_for) -> None:
    """Seven problems listed at 40 rows stayed seven after a resize to 80x24, the
    buttons off the screen, until the next submit (a control-center user's try)."""
    app = app_for()
    async with app.run_test(size=(100, 40)) as pilot:
        form = await _submitted_with_bad_fields(pilot)
        error = form.query_one("#form-error")
        await wait_for(pilot, lambda: "✗" in str(error.render()), "the problems")
        assert "more:" not in str(error.render())
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: "more:" in str(error.render()), "the problems fitted")
        assert str(error.render()).count("\n") == SHOWN_PROBLEMS
        await pilot.pause()
        assert form.query_one("#ok").region.bottom <= 23


async def test_a_taller_screen_lists_every_bad_field_with_its_reason(app_for) -> None:
    """Nine problems at 1400x850 in a browser were cut to four and ``and 5 more: …``, half
    the screen empty: the user fixed and resubmitted to learn each reason."""
    app = app_for()
    async with app.run_test(size=(100, 40)) as pilot:
        form = await _submitted_with_bad_fields(pilot)
        error = form.query_one("#form-error")
        await wait_for(pilot, lambda: "✗" in str(error.render()), "the problems")
        shown = str(error.render())
        assert "more:" not in shown and shown.count("✗") == len(BAD_FIELDS) + 1, shown  # Command
        await pilot.pause()
        assert form.query_one("#ok").region.bottom <= 40


async def test_a_key_after_the_app_lost_focus_gives_it_back_so_the_form_takes_typing(app_for):
    """Textual's web driver posts an AppBlur at start-up that can land after the page's
    focus: the app thought itself blurred, so ``n`` opened a form with no field focused
    and a browser user's command was lost. A key means the app has the focus (Textual's
    own rule), even one the dashboard runs at once."""
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        app.post_message(events.AppBlur())
        await wait_for(pilot, lambda: not app.app_focus, "the blur")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewJobScreen), "form")
        await pilot.press(*"echo hi", "ctrl+s")
        await wait_for(pilot, lambda: Job.select().count() == 1, "enqueue")
        assert Job.get().command == "echo hi"


def test_the_help_says_what_enter_does_in_each_pane() -> None:
    """One "Details / edit" line for every table told a Workers or Queues user nothing of
    what enter does there, and the Workers pane had no line of its own: each says it."""
    sections = dict(help_sections(QueueApp.BINDINGS))
    said = {
        title: binding.tooltip or binding.description
        for title, bindings in sections.items()
        for binding in bindings
        if isinstance(binding, Binding) and "enter" in binding.key.split(",")
    }
    assert said == {
        "Jobs pane (1)": "Details",
        "DLQ pane (2)": "Details",
        "Workers pane (3)": "The detail of the job it runs",
        "Queues pane (5)": "The Jobs pane, this queue only",
        "Schedules pane (6)": "The Jobs pane, this schedule's fires",
        "Job form (n, e)": "Enqueue / save",
    }
    config = [b for b in sections["Config pane (4)"] if isinstance(b, Binding) and b.key == "e"]
    assert config[0].tooltip == "Edit the value (enter too)"


async def test_the_palette_is_not_offered_over_a_question(app_for) -> None:
    """ctrl+p over "Retry all 3 dead jobs?" opened the palette on top; the action chosen
    there did nothing, unsaid, under the question still waiting."""
    from textual.command import CommandPalette

    from tui.screens.confirm import ConfirmScreen

    seed_job("gone", "false", state="dead", attempts=4, last_error="boom")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "2", "R")
        await pilot.press("ctrl+p")
        await wait_toast(pilot, "Answer or close what is open first (esc closes it)")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape", "ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
