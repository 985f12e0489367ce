"""Every key, grouped by where it works; built from the bindings so it cannot drift."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tui.keybar import OwnKeyBar
from tui.panes.config import ConfigPane
from tui.panes.dlq import DlqPane
from tui.panes.jobs import JobsPane
from tui.panes.queues import QueuesPane
from tui.panes.schedules import SchedulesPane
from tui.panes.table import KeyedTable
from tui.panes.workers import WorkersPane
from tui.screens import close
from tui.screens.confirm import ConfirmScreen
from tui.screens.detail import JobDetailScreen
from tui.screens.logview import LogScreen
from tui.screens.metrics import MetricsScreen
from tui.screens.new_job import NewJobScreen

Section = tuple[str, list[BindingType]]

_KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "escape": "esc",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "home": "Home",
    "end": "End",
    "up": "↑",
    "down": "↓",
    "shift+up": "shift+↑",
    "shift+down": "shift+↓",
    "ctrl+s": "ctrl+s",
}


def key_label(keys: str) -> str:
    """``escape,q`` → ``esc / q``."""
    return " / ".join(_KEY_NAMES.get(key.strip(), key.strip()) for key in keys.split(","))


def _merged(bindings: Sequence[BindingType]) -> list[BindingType]:
    """One line per action: ``g`` and ``home`` both go to the first row, so ``g / Home``."""
    merged: dict[str, Binding] = {}
    for binding in bindings:
        if not isinstance(binding, Binding):
            continue
        known = merged.get(binding.action)
        if known is None:
            merged[binding.action] = binding
        else:
            merged[binding.action] = Binding(
                f"{known.key},{binding.key}",
                binding.action,
                known.description,
                tooltip=known.tooltip,
            )
    return list(merged.values())


def bindings_of(cls: type) -> list[BindingType]:
    """Every binding ``cls`` has, its bases' first: the Jobs and DLQ panes take their
    marking keys (space, shift+↑/↓, ctrl+a, esc) from ``MarkingPane``, which a help
    built from ``JobsPane.BINDINGS`` alone left out. Textual's own (``tab``, copy)
    are not the dashboard's to list."""
    found: list[BindingType] = []
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("tui."):
            found.extend(klass.__dict__.get("BINDINGS", ()))
    return found


HELP_CLASSES: tuple[type, ...] = (
    JobsPane,
    DlqPane,
    WorkersPane,
    ConfigPane,
    QueuesPane,
    SchedulesPane,
    JobDetailScreen,
    LogScreen,
    MetricsScreen,
    NewJobScreen,
    ConfirmScreen,
)
"""Each pane and screen with keys of its own: each has a section (a test holds it to that)."""


EVERYWHERE = "Everywhere"
"""The section of the app's own keys."""

SECTION_TITLES: dict[type, str] = {
    JobsPane: "Jobs pane (1)",
    DlqPane: "DLQ pane (2)",
    WorkersPane: "Workers pane (3)",
    ConfigPane: "Config pane (4)",
    QueuesPane: "Queues pane (5)",
    SchedulesPane: "Schedules pane (6)",
    JobDetailScreen: "Job detail (enter)",
    LogScreen: "Job output (l on a job, or in its detail)",
    MetricsScreen: "Metrics (m)",
    NewJobScreen: "Job form (n, e)",
    ConfirmScreen: "Dialogs",
}
"""Each place with keys of its own, by the class that has them, as the help titles it."""


def help_sections(app_bindings: Sequence[BindingType]) -> list[Section]:
    """The sections of the help: the app's keys, the rows', each pane's and each screen's."""
    moves = {"cursor_down", "cursor_up", "page_up", "page_down"}
    rows = [
        *KeyedTable.BINDINGS,
        *(b for b in DataTable.BINDINGS if isinstance(b, Binding) and b.action in moves),
    ]
    # What enter opens differs by pane (a job, a setting's editor, a queue's jobs):
    # each pane's section says it, not one line for every table.
    extra: dict[type, list[BindingType]] = {
        JobsPane: [Binding("escape", "close_filter", "Close the filter box")],
        ConfigPane: [Binding("escape", "abandon", "Drop the edit")],
        JobDetailScreen: [Binding("up,down", "pick_run", "Pick a run")],
        NewJobScreen: [Binding("enter", "submit", "Enqueue / save")],
    }
    return [
        (EVERYWHERE, [*app_bindings, Binding("ctrl+p", "command_palette", "Command palette")]),
        ("Rows (every table)", rows),
        *(
            (title, [*bindings_of(cls), *extra.get(cls, [])])
            for cls, title in SECTION_TITLES.items()
        ),
    ]


def section_table(title: str, bindings: list[BindingType]) -> Table:
    """One section: its title above, then a key and what it does per line."""
    table = Table.grid(padding=(0, 1))
    table.title = Text(title, style="bold underline")
    table.title_justify = "left"
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for binding in _merged(bindings):
        if isinstance(binding, Binding):
            table.add_row(
                Text(key_label(binding.key)), Text(binding.tooltip or binding.description)
            )
    return table


def help_table(sections: list[Section], columns: int) -> Table:
    """The sections in ``columns`` columns of about equal length, each read top to bottom."""
    lengths = [len(_merged(bindings)) + 2 for _, bindings in sections]
    groups: list[list[Table]] = [[]]
    filled = 0
    for (title, bindings), length in zip(sections, lengths, strict=True):
        if len(groups) < columns and groups[-1] and filled >= sum(lengths) / columns:
            groups.append([])
            filled = 0
        groups[-1].append(section_table(title, bindings))
        filled += length
    outer = Table.grid(padding=(0, 3))
    for _ in groups:
        outer.add_column(ratio=1)
    outer.add_row(*(Group(*_spaced(group)) for group in groups))
    return outer


def _spaced(tables: list[Table]) -> list[Table | Text]:
    spaced: list[Table | Text] = []
    for table in tables:
        spaced.extend([table, Text("")])
    return spaced


class StepScroll(VerticalScroll):
    """A ``VerticalScroll`` that moves a line (or a page) for every key, at once.

    Textual's ``scroll_down`` takes effect at the next refresh and counts from
    the position shown, so keys that arrive together (a held key, ``tmux
    send-keys``) each asked for the same line: ten ``↓`` scrolled one line. Each
    key here moves from where the last one left it, immediately.
    """

    def _step(self, lines: float) -> None:
        if not self.allow_vertical_scroll:
            raise SkipAction()
        self.scroll_to(y=self.scroll_target_y + lines, animate=False, immediate=True)

    def action_scroll_down(self) -> None:
        self._step(1)

    def action_scroll_up(self) -> None:
        self._step(-1)

    def action_page_down(self) -> None:
        self._step(self.scrollable_content_region.height)

    def action_page_up(self) -> None:
        self._step(-self.scrollable_content_region.height)


class HelpScreen(OwnKeyBar, ModalScreen[None]):
    """The keys of the app, the tables, each pane and the detail screen; it scrolls."""

    AUTO_FOCUS = "#help-body"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close_help", "Close"),
        Binding("j", "scroll('down')", "Down", show=False),
        Binding("k", "scroll('up')", "Up", show=False),
    ]
    """``esc``, ``q`` or ``?`` closes; arrows, ``j``/``k`` and PgUp/PgDn scroll."""

    def __init__(self, sections: list[Section]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Static(Text("queuectl dashboard — keys (↑/↓ scroll, esc closes)", style="bold"))
            with StepScroll(id="help-body"):
                yield Static(id="help-keys")
            yield Static(
                Text(
                    "Every action is also a command (ctrl+p), and a button from 100 columns.",
                    style="dim",
                )
            )

    def on_resize(self) -> None:
        columns = 2 if self.size.width >= 76 else 1
        for keys in self.query("#help-keys").results(Static):
            keys.update(help_table(self.sections, columns))

    def action_scroll(self, direction: str) -> None:
        for body in self.query("#help-body").results(StepScroll):
            body.action_scroll_down() if direction == "down" else body.action_scroll_up()

    def action_close_help(self) -> None:
        close(self)
