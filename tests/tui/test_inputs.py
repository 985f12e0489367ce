"""A text field's keys typed in a burst take effect in order (Textualize/textual#6605)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Input

from tests.tui.conftest import wait_for
from tui.inputs import OrderedInput
from tui.keyorder import KeyOrderApp


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
