"""What every table pane shares: a toolbar of compact buttons, a status line and a keyed table."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Static

from tui.cells import TableData
from tui.columns import ColumnSpec
from tui.keyorder import focus_now
from tui.messages import CHANGING_ACTIONS, Action, intend
from tui.panes.table import KeyedTable

BUTTONS_FROM = 100
"""Columns from which the toolbar shows its buttons beside the status line."""

ROWS_WAIT = 5.0
"""Seconds a key typed before a pane's first rows waits for them; later, it is dropped
with the pane's "nothing highlighted" warning (the database may be away)."""


class TablePane(Vertical):
    """A pane whose buttons run the same actions as its keys (mouse users get every action).

    Subclasses set ``COLUMNS`` and ``BUTTONS`` (label, action name); a button press
    runs ``action_<name>`` on the pane, exactly as the key binding does.
    """

    COLUMNS: ClassVar[list[ColumnSpec]] = []
    BUTTONS: ClassVar[list[tuple[str, str]]] = []
    NONE_HIGHLIGHTED: ClassVar[str] = "Nothing is highlighted"
    """The warning when an action needs a row and the table has none."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._summary = ""
        self._status = ""
        self._waiting_for_rows: list[tuple[Action, float]] = []
        """Actions typed before the first rows came (``first_rows_due``), and when."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="toolbar"):
            read_only = getattr(self.app, "read_only", False)
            for label, action in self.BUTTONS:
                if read_only and action in CHANGING_ACTIONS:  # as the key bar leaves them
                    continue
                button = Button(label, id=f"btn-{action}", compact=True, classes="tool")
                # A click leaves the focus on the table: focused, the button took the
                # next enter, and retried the row highlighted by then, unasked.
                button.can_focus = False
                yield button
            yield Static("", classes="status", markup=False)  # it shows the filter as typed
        yield KeyedTable(self.COLUMNS)

    @property
    def table(self) -> KeyedTable:
        return self.query_one(KeyedTable)

    @property
    def highlighted(self) -> str | None:
        """The key of the highlighted row, or ``None`` when the table is empty."""
        return self.table.highlighted_key

    @property
    def status(self) -> str:
        """The status line's text (tests read it)."""
        return self._status

    def set_status(self, summary: str, tail: str = "") -> None:
        """Say what the table shows; rows that arrived above the cursor are counted first.

        ``tail`` (how many are marked) always shows: on a narrow screen the summary is
        cut instead (a long filter at 80 columns pushed "1 marked" off the line).
        """
        self._summary = summary
        new = self.table.new_above
        head = f"▲ {new} new above (g) · " if new else ""
        width = self.query_one(".status", Static).content_region.width
        room = width - cell_len(head) - cell_len(tail)
        if width and cell_len(summary) > room:
            summary = set_cell_size(summary, max(1, room - 1)) + "…"
        text = head + summary + tail
        if text != self._status:  # unchanged text costs nothing (no layout pass)
            self._status = text
            self.query_one(".status", Static).update(text, layout=False)

    @property
    def first_rows_due(self) -> bool:
        """No rows read yet, and some are coming: a pane read only while shown (Queues,
        Schedules), shown for the first time a moment ago."""
        return False

    def intend_on_highlighted(self, action: Action) -> None:
        """Ask the app for ``action`` on the highlighted row, in key order (``intend``).

        Typed before the pane's first rows (``5 p`` in one go), it waits for them and acts
        on the row they highlight: it was refused with "No queue is highlighted" while
        that queue was being read, and drawn highlighted a moment later."""
        key = self.highlighted
        if key is None and self.first_rows_due:
            self._waiting_for_rows.append((action, time.monotonic()))
            return
        if key is None:
            self.notify(self.NONE_HIGHLIGHTED, severity="warning")
            return
        intend(self, action, key)

    def on_keyed_table_nothing_selected(self, event: KeyedTable.NothingSelected) -> None:
        event.stop()
        if not self.first_rows_due:
            self.notify(self.NONE_HIGHLIGHTED, severity="warning")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Back on the first row: the "new above" count goes at once, not at the next refresh."""
        self.set_status(self._summary)

    def apply_data(self, data: TableData, *, follow: bool = False, fresh: bool = False) -> None:
        self.table.apply(
            data.rows, widths=data.widths, uniform=data.uniform, follow=follow, fresh=fresh
        )
        waiting, self._waiting_for_rows = self._waiting_for_rows, []
        for action, typed_at in waiting:
            if time.monotonic() - typed_at > ROWS_WAIT:
                self.notify(self.NONE_HIGHLIGHTED, severity="warning")
            else:
                self.intend_on_highlighted(action)

    def focus_table(self) -> None:
        focus_now(self.table)

    def on_resize(self) -> None:
        """Below ``BUTTONS_FROM`` columns the status line gets the toolbar to itself.

        Every button's action stays a click away: the keys in the key bar are
        clickable, a click on a header sorts and a click on a row opens it.
        """
        self.set_class(0 < self.size.width < BUTTONS_FROM, "-narrow")

    def on_show(self) -> None:
        """Shown again (a pane switch): its cursor comes back into view."""
        self.table.reveal_cursor()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.startswith("btn-"):
            event.stop()
            await self.run_action(event.button.id.removeprefix("btn-"))
