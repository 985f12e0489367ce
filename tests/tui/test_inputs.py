"""A text field's keys typed in a burst take effect in order (Textualize/textual#6605)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import events
from textual._xterm_parser import XTermParser
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.command import CommandPalette
from textual.widgets import Input

from queuectl.store.models import Job
from tests.tui.conftest import refreshed, wait_for
from tui.inputs import OrderedInput
from tui.keyorder import KeyOrderApp, read_meta_keys_as_escape
from tui.screens.new_job import NewJobScreen


class OneField(KeyOrderApp):
    def __init__(self, field: type[Input]) -> None:
        super().__init__()
        self.field = field
        self.submitted: list[str] = []

    def compose(self) -> ComposeResult:
        yield self.field("1", id="field")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # The field's value when the submit is handled, as the dashboard's forms read it:
        # enter runs at once, and the Submitted message queues behind the keys typed before.
        self.submitted.append(self.query_one("#field", Input).value)


async def burst(pilot: Any, *keys: tuple[str, str | None]) -> None:
    """Queue every key before the app handles any, as a terminal delivers a fast typist's."""
    for key, character in keys:
        pilot.app.post_message(events.Key(key, character))


async def type_in_a_burst(field: type[Input], *keys: tuple[str, str | None]) -> list[str]:
    app = OneField(field)
    async with app.run_test() as pilot:
        await pilot.pause()
        app.query_one("#field", Input).cursor_position = 1
        await burst(pilot, *keys)
        await wait_for(pilot, lambda: app.submitted, "a submit")
        return app.submitted


async def test_backspace_then_a_digit_then_enter_submits_the_digit() -> None:
    keys = (("backspace", None), ("2", "2"), ("enter", "\r"))
    assert await type_in_a_burst(OrderedInput, *keys) == ["2"]


async def test_a_burst_with_edits_in_the_middle_keeps_every_edit_in_order() -> None:
    keys = (
        ("9", "9"),
        ("9", "9"),
        ("backspace", None),
        ("backspace", None),
        ("2", "2"),
        ("left", None),
        ("3", "3"),
        ("ctrl+e", None),
        ("4", "4"),
        ("enter", "\r"),
    )
    assert await type_in_a_burst(OrderedInput, *keys) == ["1324"]


class SavedByABinding(KeyOrderApp):
    """A field and a ``ctrl+s`` bound above it, as the job form and the Config pane have."""

    BINDINGS: ClassVar[list[BindingType]] = [("ctrl+s", "save", "Save")]

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[str] = []

    def compose(self) -> ComposeResult:
        yield OrderedInput("", id="field")

    def action_save(self) -> None:
        self.saved.append(self.query_one("#field", Input).value)


async def test_a_binding_typed_after_text_sees_all_of_the_text() -> None:
    """``echo hello`` then ctrl+s in one burst saved ``echo h``: the app ran the binding
    as the key arrived, while the letters before it still queued at the field."""
    app = SavedByABinding()
    async with app.run_test() as pilot:
        await pilot.pause()
        text = "echo hello, world"
        await burst(pilot, *((char, char) for char in text), ("ctrl+s", None))
        await wait_for(pilot, lambda: app.saved, "a save")
        assert app.saved == [text]


def test_escape_then_a_digit_read_at_once_is_alt_and_the_digit_not_a_macos_character():
    """tmux (escape-time) and Textual (100 ms) read Escape then ``1`` typed close together
    as ESC ``1``; Textual made that ``¡``, typed into the open form (a job ``¡``)."""
    read_meta_keys_as_escape()
    parser = XTermParser()
    keys = [*parser.feed("\x1b1"), *parser.feed("")]  # "": the end, so the ESC is decided
    assert [(key.key, key.character) for key in keys] == [("alt+1", "1")]
    assert [key.character for key in XTermParser().feed("£")] == ["£"]  # typed as itself


async def test_alt_and_a_digit_is_escape_then_the_digit(app_for) -> None:
    """The form closes (nothing enqueued) and ``2`` shows the DLQ, as the keys typed."""
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewJobScreen), "form")
        app.post_message(events.Key("alt+2", "2"))
        await wait_for(pilot, lambda: app.tabs.active == "dlq", "the DLQ")
        assert not isinstance(app.screen, NewJobScreen)
        assert Job.select().count() == 0


async def test_alt_and_a_digit_in_the_palette_closes_it_then_acts(app_for) -> None:
    """The palette takes its keys Textual's way: its escape closed it a moment later, and
    the digit after it went to the closing palette, lost."""
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        app.post_message(events.Key("alt+3", "3"))
        await wait_for(pilot, lambda: app.tabs.active == "workers", "the Workers pane")
        assert not isinstance(app.screen, CommandPalette)
