"""The Queues pane: every queue with its state, limit, figures and throughput; steer it here."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from tui.cells import TableData
from tui.columns import ColumnSpec
from tui.messages import intend
from tui.panes.base import TablePane

NAME_WIDTH = 32
"""The widest the Queue column gets: half the longest name a queue may have (64), enough
for most whole and, cut in the middle, for both ends of the others."""


class QueuesPane(TablePane):
    """One row per queue that has jobs, live workers or settings (``lifecycle.queues``).

    Its figures group every job by queue, so they are read only while this pane
    is shown (the header's paused mark is read always: it is one tiny table).
    """

    COLUMNS: ClassVar[list[ColumnSpec]] = [
        # As wide as the longest name up to NAME_WIDTH, then cut in the middle (down to
        # 8 cells before a figure goes): as the one flexible column it took the spare
        # width, 47 cells for "default" at 160 columns, and a long name made the columns
        # of zeros (Blocked, Held) give way at any width.
        ColumnSpec("queue", "Queue", min_width=8, max_width=NAME_WIDTH, shrink_to=8),
        # State and Limit say something only where queues differ: all "active" and "-",
        # they are the first to give way (at 80 columns they kept a queue's dead jobs out
        # of the pane); where they differ, the last.
        ColumnSpec("state", "State", min_width=6, drop=8),
        ColumnSpec("limit", "Limit", min_width=5, drop=7),
        ColumnSpec("pending", "Pending"),
        # Waiting for a dependency (``queue list``'s BLOCKED) or held until released
        # (``hold``; counted here and not under their state: a queue of held jobs read as
        # Pending, its Workers 0 in red as if nobody would run them).
        ColumnSpec("blocked", "Blocked", drop=4),
        ColumnSpec("held", "Held", drop=5),
        ColumnSpec("running", "Running"),
        # Problems outlast successes and waits: at 80 columns a queue with dead jobs read
        # 0 0 0 (Pending, Running, Done), and later Blocked and Held outlasted Dead, its
        # failures nowhere on the pane (two outside tries).
        ColumnSpec("completed", "Done", drop=2),
        ColumnSpec("failed", "Failed", drop=3),
        ColumnSpec("dead", "Dead", drop=6),
        ColumnSpec("cancelled", "Cancelled", drop=1),
        ColumnSpec("workers", "Workers"),
        # The sparkline beside it shows the same runs: the first to give way, so that at
        # 80 columns a count of held (or blocked) jobs fits (it did not: held jobs were
        # visible in this pane only on wider screens).
        ColumnSpec("recent", "5 min", drop=0),
        # Narrowed before a count goes, keeping its newest bars (``tui.fit.EndKept``):
        # 8 characters are the last 2 minutes 40 seconds.
        ColumnSpec("spark", "Per 20 s", min_width=15, max_width=15, shrink_to=8),
    ]
    BUTTONS: ClassVar[list[tuple[str, str]]] = [
        ("Pause/Resume", "toggle_pause"),
        ("Limit", "limit"),
        ("Jobs", "jobs"),
    ]
    NONE_HIGHLIGHTED: ClassVar[str] = "No queue is highlighted"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "jobs", "Jobs", show=False, tooltip="The Jobs pane, this queue only"),
        Binding("p", "toggle_pause", "Pause/Resume", tooltip="Pause or resume the queue (asks)"),
        Binding("l", "limit", "Limit", tooltip="Limit how many of its jobs run at once (asks)"),
    ]
    """Queue keys: ``p`` and ``l`` steer the highlighted queue on every worker and host."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.data: TableData | None = None

    @property
    def first_rows_due(self) -> bool:
        return self.data is None  # read only while shown: the first read is under way

    def show(self, data: TableData | None) -> None:
        """Apply the snapshot's queues (``None``: not read this time, the pane was hidden)."""
        if data is None:
            return
        self.data = data
        self.apply_data(data)
        paused = sum(1 for raw in data.raw.values() if raw["paused"])
        limited = sum(1 for raw in data.raw.values() if raw["limit"] is not None)
        if not data.total:
            self.set_status("no queues yet: enqueue a job, or start a worker")
        else:
            noun = "queue" if data.total == 1 else "queues"
            self.set_status(f"{data.total} {noun} · {paused} paused · {limited} limited")

    def action_toggle_pause(self) -> None:
        """Pause the highlighted queue, or resume it if paused (asks, naming it)."""
        self.intend_on_highlighted("toggle_pause_queue")

    def action_limit(self) -> None:
        """Set or lift the highlighted queue's limit of jobs running at once."""
        self.intend_on_highlighted("limit_queue")

    def action_jobs(self) -> None:
        """Show the Jobs pane filtered to the highlighted queue."""
        self.intend_on_highlighted("queue_jobs")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key is not None and event.row_key.value is not None:
            intend(self, "queue_jobs", event.row_key.value)
