"""The Workers pane: every registered worker process, live or stopped."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from tui.cells import ID_WIDTH, TableData
from tui.columns import ColumnSpec
from tui.messages import intend
from tui.panes.base import TablePane


class WorkersPane(TablePane):
    """Workers with their heartbeat age; a live one past its lease shows as ``lost``."""

    COLUMNS: ClassVar[list[ColumnSpec]] = [
        ColumnSpec("id", "ID", shrink_to=16),  # whole where there is room, else cut in the middle
        ColumnSpec("pid", "PID", max_width=8, drop=3),
        ColumnSpec("host", "Host", max_width=16, drop=1),
        ColumnSpec("state", "State", min_width=8),
        # Droppable last: it goes only while no worker runs a job (every cell empty) and
        # the queues still lack room.
        ColumnSpec("job", "Job", shrink_to=ID_WIDTH, drop=6),
        ColumnSpec("slots", "Slots", max_width=7, drop=2),
        ColumnSpec("beat", "Beat", min_width=6, max_width=8),
        ColumnSpec("done", "Done", max_width=8, drop=4),
        ColumnSpec("failed", "Failed", max_width=8, drop=5),
        # Owed 20 cells: at 80 columns they were cut to "default,ima…" beside columns
        # with one value on every row (no slots used, no failures), which now give way.
        ColumnSpec("queues", "Queues", flex=1, flex_min=20),
    ]
    BUTTONS: ClassVar[list[tuple[str, str]]] = [
        ("Start", "start"),
        ("Stop", "stop"),
        ("Stop all", "stop_all"),
        ("Force stop", "force_stop"),
    ]
    NONE_HIGHLIGHTED: ClassVar[str] = "No worker is highlighted"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "job", "Job", show=False, tooltip="The detail of the job it runs"),
        Binding("s", "start", "Start", tooltip="Start workers (asks how many)"),
        Binding("x", "stop", "Stop", tooltip="Stop after its job (lost: recover)"),
        Binding("X", "stop_all", "Stop all", tooltip="Stop every worker (asks)"),
        Binding("K", "force_stop", "Force stop", tooltip="Kill it and its job (lost: recover)"),
        Binding(
            "P",
            "prune",
            "Prune",
            show=False,
            tooltip="Remove the rows of stopped and lost workers (asks; lost ones' jobs recovered)",
        ),
    ]
    """Worker keys, each asking first; stopping is graceful (the job finishes) except ``K``."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.data: TableData | None = None
        self._followed: tuple[str | None, bool] | None = None
        """The highlighted worker and whether x and K applied to it, when last shown."""

    PROCESS_ACTIONS: ClassVar[frozenset[str]] = frozenset({"stop", "force_stop"})
    """Keys that act on the highlighted worker's process: a stopped one has none."""

    def offers(self, action: str) -> bool:
        """Whether the key bar shows ``action`` as applying (``KeyBar``): ``x`` and ``K``
        are dimmed on a stopped worker, where the bar offered both and each could only
        answer "has stopped already". Dimmed, not hidden, so the bar does not jump as the
        cursor passes such rows; pressed, they still say why (a disabled binding would
        swallow the key). A lost worker keeps them: they offer its jobs' recovery."""
        if action not in self.PROCESS_ACTIONS or self.data is None:
            return True
        key = self.highlighted
        return key is None or self.data.raw.get(key, {}).get("state") != "stopped"

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        # TablePane's handler runs too: Textual calls each class's in the MRO.
        self._follow_highlighted()

    def show(self, data: TableData) -> None:
        self.data = data
        self.apply_data(data)
        self._follow_highlighted()  # the highlighted worker may have stopped meanwhile
        states = [raw["state"] for raw in data.raw.values()]
        lost, stopped = states.count("lost"), states.count("stopped")
        running = len(states) - lost - stopped
        self.set_status(
            f"{running} running · {lost} lost · {stopped} stopped"
            if lost
            else f"{running} running · {stopped} stopped"
        )

    def _follow_highlighted(self) -> None:
        """x and K, in the key bar and as buttons, as the highlighted worker's state has it:
        redrawn only when that changed, not at every refresh."""
        followed = (self.highlighted, self.offers("stop"))
        if followed == self._followed:
            return
        self._followed = followed
        self.refresh_bindings()
        for _label, action in self.BUTTONS:
            for button in self.query(f"#btn-{action}"):
                button.set_class(not self.offers(action), "-inapplicable")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter opens the job the worker runs, as it opens a job in the Jobs pane (it did
        nothing, where every other table's enter opens something)."""
        event.stop()
        if event.row_key is not None and event.row_key.value is not None:
            intend(self, "worker_job", event.row_key.value)

    def action_job(self) -> None:
        """Open the detail of the job the highlighted worker runs (as enter on its row)."""
        self.intend_on_highlighted("worker_job")

    def action_start(self) -> None:
        """Start N detached workers (asks how many)."""
        intend(self, "start_workers")

    def action_stop(self) -> None:
        """Gracefully stop the highlighted worker: it finishes its job first."""
        self.intend_on_highlighted("stop_worker")

    def action_stop_all(self) -> None:
        """Gracefully stop every worker (asks first)."""
        intend(self, "stop_all_workers")

    def action_prune(self) -> None:
        """Remove the rows of stopped and lost workers, as ``worker prune`` (asks first):
        a killed worker's row stayed all day, ``1 lost`` in the header, and only the CLI
        could remove it (a team lead's try)."""
        intend(self, "prune_workers")

    def action_force_stop(self) -> None:
        """Kill the highlighted worker's job now; the job goes back to pending (asks first)."""
        self.intend_on_highlighted("force_stop_worker")
