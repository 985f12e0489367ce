"""Every key, grouped by where it works; built from the bindings so it cannot drift."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
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


def section_table(title: str, bindings: list[BindingType]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True, min_width=7)
    table.add_column()
    table.add_row(Text(title, style="bold underline"), "")
    for binding in bindings:
        if isinstance(binding, Binding):
            table.add_row(Text(key_label(binding.key)), Text(binding.description or ""))
    return table


def help_table(sections: list[Section]) -> Table:
    """Sections side by side in two columns, so the whole list fits a small terminal."""
    grid = Table.grid(padding=(0, 4))
    grid.add_column()
    grid.add_column()
    half = (len(sections) + 1) // 2
    left, right = sections[:half], sections[half:]
    for index in range(half):
        cells = [section_table(*left[index])]
        cells.append(section_table(*right[index]) if index < len(right) else Text(""))
        grid.add_row(*cells)
        grid.add_row("", "")
    return grid


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
        with Vertical(classes="dialog help"):
            yield Static(Text("queuectl dashboard — keys", style="bold"))
            with VerticalScroll(id="help-body"):
                yield Static(help_table(self.sections))
            yield Static(Text("Every action is also a button and a command (ctrl+p).", style="dim"))

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
