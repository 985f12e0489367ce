"""The new-job form: the same fields and validation as ``queuectl enqueue``."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from queuectl.errors import ValidationError
from queuectl.jobspec import JobSpec, parse_spec
from queuectl.textsafe import one_line
from tui.inputs import OrderedInput
from tui.screens import close

FIELDS: list[tuple[str, str, str]] = [
    ("command", "Command", "shell command, e.g. make backup"),
    ("priority", "Priority", "0 (higher runs first)"),
    ("delay", "Delay", "e.g. 30s, 5m (or use Run at)"),
    ("run_at", "Run at", "ISO 8601 or epoch, e.g. 2026-11-22T10:30:00Z"),
    ("timeout", "Timeout", "config default; 0 = none; e.g. 10m"),
    ("max_retries", "Max retries", "config default"),
    ("queue", "Queue", "default"),
]
_INTEGER_FIELDS = ("priority", "max_retries")


def form_to_dict(values: dict[str, str]) -> dict[str, Any]:
    """The JSON object the CLI would receive: blank fields left out, integers as numbers.

    A value that is not a number is passed through as text so ``parse_spec``
    names the field in its message, exactly as for bad JSON input.
    """
    data: dict[str, Any] = {}
    for name, raw in values.items():
        text = raw if name == "command" else raw.strip()
        if not text.strip():
            continue
        if name in _INTEGER_FIELDS:
            try:
                data[name] = int(text)
            except ValueError:
                data[name] = text
        else:
            data[name] = text
    return data


class NewJobScreen(ModalScreen[JobSpec | None]):
    """Returns a validated ``JobSpec``; a rejected form stays open with the reason shown."""

    AUTO_FOCUS = "#f-command"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Enqueue"),
    ]
    """``enter`` in any field or ``ctrl+s`` enqueues; ``escape`` cancels."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("New job", classes="title")
            with Grid(classes="form"):
                for name, label, hint in FIELDS:
                    yield Label(label)
                    yield OrderedInput(placeholder=hint, id=f"f-{name}", compact=True)
            yield Static("", id="form-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Enqueue", id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def values(self) -> dict[str, str]:
        return {name: self.query_one(f"#f-{name}", Input).value for name, _, _ in FIELDS}

    def action_submit(self) -> None:
        """Validate through ``jobspec.parse_spec``; dismiss with the spec or show why not."""
        if not self.is_active:
            return  # already answered: a second enter in a burst must not enqueue twice
        try:
            spec = parse_spec(form_to_dict(self.values()))
        except ValidationError as exc:
            self.query_one("#form-error", Static).update(Text("✗ " + one_line(str(exc))))
            return
        close(self, spec)

    def action_cancel(self) -> None:
        close(self, None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self.action_submit()
        else:
            close(self, None)
