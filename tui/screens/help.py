"""Every key, grouped by where it works; built from the bindings so it cannot drift."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

Section = tuple[str, list[BindingType]]

_KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "escape": "esc",
    "enter": "enter",
    "ctrl+s": "ctrl+s",
    "ctrl+p": "ctrl+p",
}


def key_label(keys: str) -> str:
    """``escape,q`` → ``esc / q``."""
    return " / ".join(_KEY_NAMES.get(key.strip(), key.strip()) for key in keys.split(","))


def help_table(sections: list[Section]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for title, bindings in sections:
        table.add_row(Text(title, style="bold underline"), "")
        for binding in bindings:
            if not isinstance(binding, Binding):
                continue
            table.add_row(Text(key_label(binding.key)), Text(binding.description or ""))
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    """The keys of the app, each pane and the detail screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss_help", "Close")
    ]
    """Any of ``esc``, ``q`` or ``?`` closes the help."""

    def __init__(self, sections: list[Section]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide help"):
            yield Static(Text("queuectl dashboard — keys", style="bold"))
            yield Static(help_table(self.sections))
            yield Static(Text("Every action is also a button and a command (ctrl+p).", style="dim"))

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
