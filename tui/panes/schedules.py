"""The Schedules pane: every recurring job, when it fires next, how its last fire went."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from tui.cells import TableData
from tui.columns import ColumnSpec
from tui.messages import intend
from tui.panes.base import TablePane


class SchedulesPane(TablePane):
    """One row per schedule (``lifecycle.schedules``), read while this pane is shown."""

    COLUMNS: ClassVar[list[ColumnSpec]] = [
        # Whole where there is room, else cut in the middle as ids are: one 40-character
        # name took the Spec column down to "At …" on every row at 80 columns.
        ColumnSpec("name", "Name", min_width=6, shrink_to=16),
        ColumnSpec("spec", "Spec", flex=1, flex_min=30),
        ColumnSpec("zone", "Zone", drop=5),
        ColumnSpec("next", "Next", min_width=8),
        ColumnSpec("last", "Last fire", min_width=9, drop=4),
        ColumnSpec("state", "Its job", min_width=9, drop=3),
        ColumnSpec("skipped", "Skipped", drop=2),
    ]
    """The spec in words is what a row says: at 80 columns it was cut to "At the start
    of eve…" while a Paused column, which Next already says ("paused"), kept its width
    (there is none now). Its zone
    says what the spec's hours mean, so Its job and then Last fire give way before Zone:
    at 80 columns "At 09:00 on Monday" showed with no zone."""
    BUTTONS: ClassVar[list[tuple[str, str]]] = [
        ("Pause/Resume", "toggle_pause"),
        ("Run now", "run_now"),
        ("Jobs", "jobs"),
    ]
    NONE_HIGHLIGHTED: ClassVar[str] = "No schedule is highlighted"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter", "jobs", "Jobs", show=False, tooltip="The Jobs pane, this schedule's fires"
        ),
        Binding("p", "toggle_pause", "Pause/Resume", tooltip="Pause or resume the schedule"),
        Binding(
            "t", "run_now", "Run now", tooltip="Enqueue one job now, outside the schedule (asks)"
        ),
    ]
    """Schedule keys: ``p`` and ``t`` act on the highlighted schedule, ``enter`` shows its jobs."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.data: TableData | None = None

    @property
    def first_rows_due(self) -> bool:
        return self.data is None  # read only while shown: the first read is under way

    def show(self, data: TableData | None) -> None:
        """Apply the snapshot's schedules (``None``: not read this time, the pane was hidden)."""
        if data is None:
            return
        self.data = data
        self.apply_data(data)
        paused = sum(1 for raw in data.raw.values() if raw["paused"])
        if not data.total:
            self.set_status("no schedules yet: queuectl cron add NAME SPEC JOB-JSON")
        else:
            noun = "schedule" if data.total == 1 else "schedules"
            self.set_status(f"{data.total} {noun} · {paused} paused")

    def action_toggle_pause(self) -> None:
        """Pause the highlighted schedule, or resume it if paused."""
        self.intend_on_highlighted("toggle_pause_schedule")

    def action_run_now(self) -> None:
        """Enqueue one job of the highlighted schedule now (asks, naming it)."""
        self.intend_on_highlighted("run_schedule")

    def action_jobs(self) -> None:
        """Show the Jobs pane filtered to the highlighted schedule's fires."""
        self.intend_on_highlighted("schedule_jobs")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key is not None and event.row_key.value is not None:
            intend(self, "schedule_jobs", event.row_key.value)
