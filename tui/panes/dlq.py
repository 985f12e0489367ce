"""The DLQ pane: jobs that ran out of retries, with their last error."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from queuectl.store.models import JobState
from queuectl.wording import counted
from tui.cells import ID_WIDTH, TableData
from tui.columns import ColumnSpec
from tui.data import JobFilter
from tui.messages import intend
from tui.panes.marks import MarkingPane


class DlqPane(MarkingPane):
    """Dead jobs, newest first; retry or delete the marked ones (else the highlighted
    one), retry all, or purge them."""

    PANE = "dlq"

    COLUMNS: ClassVar[list[ColumnSpec]] = [
        ColumnSpec("id", "ID", shrink_to=ID_WIDTH),
        ColumnSpec("attempts", "Tries", max_width=5, drop=3),
        ColumnSpec("queue", "Queue", max_width=12, drop=1),
        ColumnSpec("died", "Died", min_width=6, max_width=8),
        ColumnSpec("command", "Command", flex=3, flex_min=24),
        ColumnSpec("error", "Last error", flex=2, flex_min=16),
    ]
    """The command and the last error share the spare width, the command first. No Exit
    column: the error opens with it (``exit 3: …``), and at 80 columns the column's
    five cells were cut from the command and the error."""
    BUTTONS: ClassVar[list[tuple[str, str]]] = [
        ("Details", "details"),
        ("Retry", "retry"),
        ("Delete", "delete"),
        ("Retry all", "retry_all"),
        ("Purge", "purge"),
    ]
    NONE_HIGHLIGHTED: ClassVar[str] = "The DLQ is empty"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "details", "Details", show=False),
        Binding("l", "log", "Log", show=False, tooltip="The latest run's output, full screen"),
        Binding("r", "retry", "Retry", tooltip="Retry now, with fresh tries"),
        Binding("d", "delete", "Delete", tooltip="Delete with its runs (asks)"),
        Binding("e", "edit", "Edit", tooltip="Fix the job and retry it"),
        Binding("R", "retry_all", "Retry all", tooltip="Retry every dead job (asks)"),
        Binding("p", "purge", "Purge", tooltip="Delete every dead job (asks)"),
    ]
    """DLQ keys: ``R`` and ``p`` ask for a confirmation first."""

    def show(self, data: TableData) -> None:
        self.apply_data(data, follow=True)
        shown = len(data.rows)
        self.set_status(
            f"{shown} of {data.total:,} dead" if data.total > shown else counted(shown, "dead job")
        )

    def action_log(self) -> None:
        """Open the highlighted job's latest output full screen."""
        self.intend_on_highlighted("log")

    def action_details(self) -> None:
        self.intend_on_highlighted("detail")

    def action_retry(self) -> None:
        """Send the marked dead jobs, else the highlighted one, back to pending."""
        if not self.batch("retry"):
            self.intend_on_highlighted("retry")

    def action_delete(self) -> None:
        """Delete the marked dead jobs, else the highlighted one, after a confirmation."""
        if not self.batch("delete"):
            self.intend_on_highlighted("delete")

    def action_edit(self) -> None:
        """Open the job form on the highlighted dead job: saving retries it."""
        self.intend_on_highlighted("edit")

    def filter_for_marks(self) -> JobFilter:
        return JobFilter(states=(JobState.DEAD,))

    def action_retry_all(self) -> None:
        """Every dead job back to pending (asks first)."""
        intend(self, "retry_all_dead")

    def action_purge(self) -> None:
        """Delete every dead job (asks first)."""
        intend(self, "purge_dead")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key is not None and event.row_key.value is not None:
            intend(self, "detail", event.row_key.value)
