"""The Jobs pane: the newest jobs, live, filterable and sortable."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input

from tui.data import JobFilter, Sort, TableData, parse_filter
from tui.messages import Intent
from tui.panes.base import TablePane

SORTABLE = ["age", "state", "priority", "attempts", "queue", "duration", "worker", "command", "id"]


class JobsPane(TablePane):
    """Every job (newest first, windowed); actions apply to the highlighted one."""

    COLUMNS: ClassVar[list[tuple[str, str]]] = [
        ("id", "ID"),
        ("state", "State"),
        ("priority", "Pri"),
        ("attempts", "Tries"),
        ("queue", "Queue"),
        ("age", "Age/Due"),
        ("duration", "Took"),
        ("worker", "Worker"),
        ("command", "Command"),
    ]
    BUTTONS: ClassVar[list[tuple[str, str]]] = [
        ("New", "new"),
        ("Details", "details"),
        ("Retry", "retry"),
        ("Cancel", "cancel"),
        ("Delete", "delete"),
        ("Filter", "filter"),
        ("Sort", "cycle_sort"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "details", "Details", show=False),
        Binding("r", "retry", "Retry"),
        Binding("c", "cancel", "Cancel"),
        Binding("d", "delete", "Delete"),
        Binding("o", "cycle_sort", "Sort", show=False),
        Binding("O", "reverse_sort", "Reverse", show=False),
    ]
    """Keys that act on the highlighted job; ``/`` (filter) and ``n`` live on the app."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.job_filter = JobFilter()
        self.sort = Sort()
        self._data: TableData | None = None
        self._command_width = 0

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter: text  state:failed,dead  queue:NAME  (enter applies, esc closes)",
            id="job-filter",
            classes="filter hidden",
            compact=True,
        )
        yield from super().compose()

    def show(self, data: TableData, command_width: int) -> None:
        """Apply a snapshot's jobs window and say what is shown.

        When the room for commands changed (a resize), the table is rebuilt so
        the command column can shrink as well as grow.
        """
        self._data = data
        rebuild = command_width != self._command_width
        self._command_width = command_width
        self.table.apply(data.rows, rebuild=rebuild)
        shown = len(data.rows)
        parts = [
            f"{shown} of {data.total:,}"
            if data.total > shown
            else f"{shown} job{'s' if shown != 1 else ''}"
        ]
        if not data.total and not self.job_filter.active:
            parts = ["no jobs yet: n enqueues one"]
        if self.job_filter.active:
            parts.append(f"filter: {self.job_filter.describe()}")
        if self.sort.column:
            parts.append(f"sort: {self.sort.column} {'↑' if self.sort.reverse else '↓'}")
        self.set_status(" · ".join(parts))

    def state_of(self, job_id: str) -> str | None:
        if self._data is None or job_id not in self._data.raw:
            return None
        return str(self._data.raw[job_id]["state"])

    def _intent(self, action: str) -> None:
        job_id = self.highlighted
        if job_id is None:
            self.notify("No job is highlighted", severity="warning")
            return
        self.post_message(Intent(action, job_id))  # type: ignore[arg-type]

    def action_new(self) -> None:
        """Open the new-job form (the app-wide ``n``), for mouse users."""
        self.post_message(Intent("new_job"))

    def action_details(self) -> None:
        """Open the detail screen of the highlighted job."""
        self._intent("detail")

    def action_retry(self) -> None:
        """Retry the highlighted job (failed, dead or cancelled)."""
        self._intent("retry")

    def action_cancel(self) -> None:
        """Cancel the highlighted job (pending, failed or running)."""
        self._intent("cancel")

    def action_delete(self) -> None:
        """Delete the highlighted job, after a confirmation."""
        self._intent("delete")

    def action_filter(self) -> None:
        """Show the filter box with the current filter in it."""
        box = self.query_one("#job-filter", Input)
        box.remove_class("hidden")
        box.value = self.job_filter.describe()
        box.focus()

    def action_cycle_sort(self) -> None:
        """Sort by the next column (newest first is the natural order)."""
        names = [None, *SORTABLE]
        current = names.index(self.sort.column) if self.sort.column in names else 0
        self._sort_by(names[(current + 1) % len(names)], reverse=False)

    def action_reverse_sort(self) -> None:
        self._sort_by(self.sort.column, reverse=not self.sort.reverse)

    def _sort_by(self, column: str | None, *, reverse: bool) -> None:
        self.sort = Sort(column, reverse)
        self.post_message(Intent("refresh"))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """Click a column header to sort by it; click again to reverse."""
        event.stop()
        column = str(event.column_key.value)
        if self.sort.column == column:
            self._sort_by(column, reverse=not self.sort.reverse)
        else:
            self._sort_by(column, reverse=column in ("priority", "attempts", "duration"))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(Intent("detail", event.row_key.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "job-filter":
            return
        event.stop()
        try:
            self.job_filter = parse_filter(event.value)
        except ValueError as exc:
            self.notify(str(exc), title="Filter", severity="error")
            return
        if not self.job_filter.active:
            event.input.add_class("hidden")
        self.focus_table()
        self.post_message(Intent("refresh"))

    def on_key(self, event: events.Key) -> None:
        """Escape leaves the filter box (keeping the filter in force)."""
        box = self.query_one("#job-filter", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()
            if not self.job_filter.active:
                box.add_class("hidden")
            self.focus_table()
