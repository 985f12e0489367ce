"""A yes/no question; the answer comes back through ``dismiss``."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    """Asks before anything that destroys or mass-changes data."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]
    """``y`` confirms; ``n`` or ``escape`` backs out."""

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.question), classes="question")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error", compact=True)
                yield Button("No (n)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")


class CountScreen(ModalScreen[int | None]):
    """Asks for a whole number in a range (how many workers to start)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    """``escape`` backs out without starting anything."""

    def __init__(self, question: str, default: int = 1, maximum: int = 32) -> None:
        super().__init__()
        self.question = question
        self.default = default
        self.maximum = maximum

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question)
            yield Input(str(self.default), id="count", type="integer", compact=True)
            yield Static("", id="count-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Start", id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _submit(self) -> None:
        raw = self.query_one(Input).value.strip()
        if not raw.isdigit() or not 1 <= int(raw) <= self.maximum:
            self.query_one("#count-error", Static).update(
                f"enter a whole number from 1 to {self.maximum}"
            )
            return
        self.dismiss(int(raw))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)
