"""Every way out keeps unsaved config edits: the app asks save / discard / stay first."""

from __future__ import annotations

import os
import signal
from typing import Any

import textual.app
from textual.pilot import Pilot
from textual.screen import ModalScreen
from textual.widgets import Input
from textual.widgets._toast import Toast

from queuectl.lifecycle import settings
from tests.tui.conftest import asked, refreshed, seed_job, wait_for, wait_toast
from tui.app import BROWSER_COPY_SAID, BROWSER_SUSPEND_SAID
from tui.keybar import KeyBar
from tui.messages import READ_ONLY_MESSAGE
from tui.panes.config import ConfigPane
from tui.screens.confirm import ChoiceScreen, ConfirmScreen
from tui.screens.detail import JobDetailScreen
from tui.screens.help import HelpScreen


async def _stage(pilot: Pilot[Any], key: str, value: str, *, submit: bool = True) -> ConfigPane:
    """Edit ``key`` in the config pane; unless ``submit``, leave the value typed in the box."""
    await pilot.press("4")
    pane = pilot.app.query_one(ConfigPane)
    pane.table.select_key(key)
    await pilot.press("enter")
    box = pane.query_one("#config-edit", Input)
    await wait_for(pilot, lambda: box.has_focus, "edit box")
    box.value = value
    if submit:
        await pilot.press("enter")
    return pane


async def _asked(pilot: Pilot[Any]) -> ChoiceScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen), "save / discard / stay")
    assert isinstance(app.screen, ChoiceScreen)
    return app.screen


async def test_q_quits_at_once_without_edits(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, "exit")


async def test_q_with_a_staged_edit_asks_and_esc_stays(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        pane = await _stage(pilot, "max_retries", "7")
        await pilot.press("q")
        question = await _asked(pilot)
        # It says what is being left (it named only the changes).
        assert question.question == (
            "Quitting with 1 unsaved config change: max_retries=7. Save it first?"
        )
        # "y" out of habit: not an answer, and it says which are (it did nothing, unsaid).
        await pilot.press("y")
        await wait_toast(pilot, "y is not an answer here: s Save, d Discard, esc Stay")
        assert app.screen is question
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ChoiceScreen), "stayed")
        assert app.is_running and pane.staged == {"max_retries": "7"}
        assert app.tabs.active == "config"


async def test_discard_quits_and_stores_nothing(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await _stage(pilot, "max_retries", "7")
        await pilot.press("q")
        await _asked(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: not app.is_running, "exit")
    assert settings.get("max_retries") == 3


async def test_save_stores_the_edit_then_quits(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await _stage(pilot, "max_retries", "7")
        await pilot.press("ctrl+q")
        await _asked(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: not app.is_running, "exit")
    assert settings.get("max_retries") == 7


async def test_a_value_typed_but_not_entered_counts_and_is_saved(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await _stage(pilot, "backoff_base", "5", submit=False)
        await pilot.press("ctrl+c")
        question = await _asked(pilot)
        assert "backoff_base=5 (being edited)" in question.question
        await pilot.press("s")
        await wait_for(pilot, lambda: not app.is_running, "exit")
    assert settings.get("backoff_base") == 5.0


async def test_a_refused_value_keeps_the_app_open_with_the_reason(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        pane = await _stage(pilot, "max_retries", "500", submit=False)
        await pilot.press("ctrl+q")  # q would be typed into the box
        await _asked(pilot)
        await pilot.press("s")
        error = pane.query_one("#config-error")
        await wait_for(pilot, lambda: "between 0 and 100" in str(error.render()), "reason")
        assert app.is_running and settings.get("max_retries") == 3


async def test_the_palette_quit_asks_too(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await _stage(pilot, "max_retries", "7")
        # One Quit in the palette, ours (Textual's own was listed beside it).
        assert all(c.title not in ("Quit", "Maximize") for c in app.get_system_commands(app.screen))
        await app.run_action("quit")  # the palette's "Quit" entry
        await _asked(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ChoiceScreen), "stayed")


async def test_switching_pane_by_key_asks_and_save_switches(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await _stage(pilot, "max_retries", "7")
        await pilot.press("1")
        question = await _asked(pilot)
        assert question.question.startswith("Leaving the Config pane with 1 unsaved")
        assert app.tabs.active == "config"
        await pilot.press("s")
        await wait_for(pilot, lambda: settings.get("max_retries") == 7, "saved")
        await wait_for(pilot, lambda: app.tabs.active == "jobs", "switched")


async def test_switching_pane_by_a_tab_click_asks_and_discard_switches(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        pane = await _stage(pilot, "max_retries", "7")
        await pilot.click("#--content-tab-dlq")
        await _asked(pilot)
        assert app.tabs.active == "config"
        await pilot.press("d")
        await wait_for(pilot, lambda: app.tabs.active == "dlq", "switched")
        assert pane.staged == {} and settings.get("max_retries") == 3


async def test_q_goes_back_from_pushed_screens_and_is_a_letter_in_dialogs(app_for) -> None:
    seed_job("a", state="completed")
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "detail")
        await pilot.press("q")
        await wait_for(pilot, lambda: not isinstance(app.screen, JobDetailScreen), "back")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        await pilot.press("q")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), "closed")
        await asked(pilot, "d")
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, ConfirmScreen)


async def test_ctrl_c_in_a_browser_copies_and_never_quits(app_for) -> None:
    """In a browser ctrl+c means copy: with nothing selected it ended the whole session."""
    app = app_for(in_browser=True)
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("ctrl+c")
        await wait_toast(pilot, BROWSER_COPY_SAID)
        assert app.is_running
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running, "exit")


async def test_ctrl_c_in_a_terminal_quits(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: not app.is_running, "exit")


async def test_ctrl_z_suspends_to_the_shell_even_from_a_text_field(app_for, monkeypatch) -> None:
    """``ctrl+z`` did nothing: k9s, htop and less users expect the shell and ``fg``
    (an outside try). The test driver cannot stop the process, so the signal is caught."""
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(textual.app.os, "kill", lambda pid, sig: sent.append((pid, sig)))
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        monkeypatch.setattr(type(app._driver), "can_suspend", property(lambda _self: True))
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.focused, Input), "the filter box")
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: sent, "SIGTSTP")
        assert sent == [(os.getpid(), signal.SIGTSTP)]
        assert app.is_running


async def test_back_from_a_suspend_every_screen_is_drawn_whole(app_for, monkeypatch) -> None:
    """After ``fg`` only the cells that changed were drawn: the header, tabs, key bar and
    still rows stayed blank until another screen opened (an outside try in tmux)."""
    from textual.screen import Screen

    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        whole: list[Screen] = []
        draw = Screen.refresh

        def refresh(self: Screen, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("repaint") and kwargs.get("layout"):
                whole.append(self)
            return draw(self, *args, **kwargs)

        monkeypatch.setattr(Screen, "refresh", refresh)
        app.app_resume_signal.publish(app)  # what Textual does on SIGCONT
        await pilot.pause()
        assert set(whole) == set(app.screen_stack) and len(app.screen_stack) == 2


async def test_ctrl_z_in_a_browser_says_why_it_does_not_suspend(app_for) -> None:
    app = app_for(in_browser=True)
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("ctrl+z")
        await wait_toast(pilot, BROWSER_SUSPEND_SAID)
        assert app.is_running


async def test_a_read_only_dashboard_opens_no_config_edit_box(app_for) -> None:
    """The box opened and the value was refused only at ctrl+s, after it had been typed."""
    app = app_for(read_only=True)
    async with app.run_test(size=(100, 24), notifications=True) as pilot:
        await refreshed(pilot)
        await pilot.press("4")
        pane = app.query_one(ConfigPane)
        await wait_for(pilot, lambda: pane.table.row_count > 0, "settings")
        for key in ("e", "enter", "r"):
            await pilot.press(key)
            await wait_toast(pilot, "read-only")
            assert not app.query_one("#config-edit", Input).has_focus
            assert not pane.staged
        # Refused alike three times: one toast on the screen, not a stack of three.
        await wait_for(pilot, lambda: _toasts_shown(app) == [READ_ONLY_MESSAGE])


async def test_a_different_toast_is_kept_beside_a_repeated_one(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(100, 24), notifications=True) as pilot:
        await refreshed(pilot)
        for message in ("first", "second", "first", "first"):
            app.say(message)
        await pilot.pause()  # the notifications posted, then drawn
        await wait_for(pilot, lambda: len(_toasts_shown(app)) == len(app._notifications))
        assert sorted(_toasts_shown(app)) == ["first", "second"]


def _toasts_shown(app: Any) -> list[str]:
    """The messages of the toasts on the screen now."""
    return [str(toast._notification.message) for toast in app.screen.query(Toast)]


async def test_a_read_only_dashboard_says_why_n_does_nothing_and_offers_no_new_job(app_for):
    """``n`` did nothing at all, with no toast, while the Jobs pane still drew "New"."""
    app = app_for(read_only=True)
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("n")
        await wait_toast(pilot, "read-only")
        assert not isinstance(app.screen, ModalScreen)
        assert not app.query("#btn-new")  # the button is left out, as the key is
        bar = app.screen.query_one(KeyBar)
        assert "new_job" not in [action for *_, action, _enabled in bar.items]


async def test_the_key_bar_leaves_out_keys_a_text_field_types(app_for) -> None:
    """In the Config pane's edit box the bar showed "/ Filter", and / typed a slash."""
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("4")
        bar = app.screen.query_one(KeyBar)
        assert "slash" in [key for _shown, _what, key, *_ in bar.items]  # the table's keys
        await _stage(pilot, "max_retries", "5", submit=False)
        keys = [key for _shown, _what, key, *_ in bar.items]
        assert "slash" not in keys and "question_mark" not in keys, keys
        assert "ctrl+s" in keys, keys  # what does work there: save


async def test_the_highlighted_settings_description_is_shown_in_full(app_for) -> None:
    """At 80 columns the table cuts every description ("Shell command run after a …")."""
    from queuectl.config import SPECS

    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("4")
        pane = app.query_one(ConfigPane)
        about = pane.query_one("#config-about")
        pane.table.select_key("on_failure")
        await wait_for(
            pilot,
            lambda: str(about.render()) == f"on_failure: {SPECS['on_failure'].description}",
            "the full description",
        )


async def test_the_filter_box_says_its_own_keys_in_the_key_bar(app_for) -> None:
    """Typing in the filter box left the key bar blank: the pane's keys are typed there,
    and the box's own keys were said by a placeholder the first character took away."""
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("slash", *"state:dead")
        bar = app.screen.query_one(KeyBar)
        await wait_for(pilot, lambda: bar.items and bar.items[0][1] == "To the jobs", "hints")
        shown = bar.render().plain
        assert shown.startswith("⏎ To the jobs  esc Close"), shown
        await pilot.click(KeyBar, offset=(3, 0))  # a click on a hint presses its key
        await wait_for(pilot, lambda: app.jobs_pane.job_filter.active, "the filter applied")
        assert not bar.items or bar.items[0][1] != "To the jobs"


def _locked(*_args: object, **_kwargs: object) -> None:
    from queuectl.errors import StoreUnavailable

    raise StoreUnavailable("database is locked", explain=lambda: "database is locked (held)")


async def test_a_save_the_database_refused_keeps_the_staged_edits(app_for, monkeypatch) -> None:
    """With another process holding the lock past the wait, ``ctrl+s`` showed the stored
    values within a second and the edits were gone: "unsaved" said, then lost."""
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        pane = await _stage(pilot, "max_retries", "7")
        await _stage(pilot, "backoff_base", "3")
        monkeypatch.setattr(settings, "apply", _locked)
        await pilot.press("ctrl+s")
        await wait_toast(pilot, "Saving the settings was not done: database is locked (held)")
        assert pane.staged == {"max_retries": "7", "backoff_base": "3"}
        assert "2 unsaved changes" in pane._status
        monkeypatch.undo()
        await pilot.press("ctrl+s")
        await wait_toast(pilot, "Saved max_retries, backoff_base")
    assert settings.get("max_retries") == 7 and settings.get("backoff_base") == 3


async def test_quitting_through_a_refused_save_stays_with_the_edits(app_for, monkeypatch) -> None:
    """``q``, "save", refused: the app quit nothing, and asks again at the next ``q``."""
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        pane = await _stage(pilot, "max_retries", "7")
        monkeypatch.setattr(settings, "apply", _locked)
        await pilot.press("q")
        await _asked(pilot)
        await pilot.press("s")
        await wait_toast(pilot, "Saving the settings was not done")
        assert app.is_running and pane.staged == {"max_retries": "7"}
        await pilot.press("q")
        await _asked(pilot)


async def test_q_while_a_save_waits_for_the_lock_still_asks(app_for, monkeypatch) -> None:
    """The save handed its edits over at once: while it waited for another process's
    lock the rows showed the stored values, ``q`` quit without asking, and the edits
    were lost when the save failed. They stay staged until stored."""
    import threading

    gate = threading.Event()
    real = settings.apply

    def held(changes):
        assert gate.wait(10)
        return real(changes)

    monkeypatch.setattr(settings, "apply", held)
    app = app_for()
    async with app.run_test(size=(100, 24)) as pilot:
        await refreshed(pilot)
        pane = await _stage(pilot, "max_retries", "9")
        await pilot.press("ctrl+s")
        await pilot.press("q")
        await _asked(pilot)  # still unsaved: asked, not quit
        assert pane.staged == {"max_retries": "9"}
        await pilot.press("escape")
        gate.set()
        await wait_toast(pilot, "Saved max_retries")
        await wait_for(pilot, lambda: not pane.staged, "unstaged once stored")
    assert settings.get("max_retries") == 9
