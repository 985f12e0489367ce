"""The DLQ pane: jobs that ran out of retries, with their last error."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from tui.data import Sort, TableData
from tui.messages import Intent
from tui.panes.base import TablePane


class DlqPane(TablePane):
    """Dead jobs, newest first; retry one, retry all, or purge them."""

    COLUMNS: ClassVar[list[tuple[str, str]]] = [
        ("id", "ID"),
        ("attempts", "Tries"),
        ("queue", "Queue"),
        ("died", "Died"),
        ("exit", "Exit"),
        ("error", "Last error"),
        ("command", "Command"),
    ]
    BUTTONS: ClassVar[list[tuple[str, str]]] = [
        ("Details", "details"),
        ("Retry", "retry"),
        ("Retry all", "retry_all"),
        ("Purge", "purge"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "details", "Details", show=False),
        Binding("r", "retry", "Retry"),
        Binding("R", "retry_all", "Retry all"),
        Binding("p", "purge", "Purge"),
    ]
    """DLQ keys: ``R`` and ``p`` ask for a confirmation first."""

    sort = Sort()

    def show(self, data: TableData) -> None:
        self.apply_rows(data.rows)
        shown = len(data.rows)
        self.set_status(
            f"{shown} of {data.total:,} dead"
            if data.total > shown
            else f"{shown} dead job{'s' if shown != 1 else ''}"
        )

    def _with_job(self, action: str) -> None:
        job_id = self.highlighted
        if job_id is None:
            self.notify("The DLQ is empty", severity="warning")
            return
        self.post_message(Intent(action, job_id))  # type: ignore[arg-type]

    def action_details(self) -> None:
        self._with_job("detail")

    def action_retry(self) -> None:
        """Send the highlighted dead job back to pending with fresh retries."""
        self._with_job("retry")

    def action_retry_all(self) -> None:
        """Every dead job back to pending (asks first)."""
        self.post_message(Intent("retry_all_dead"))

    def action_purge(self) -> None:
        """Delete every dead job (asks first)."""
        self.post_message(Intent("purge_dead"))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(Intent("detail", event.row_key.value))
