"""Marks: the jobs a batch action will act on, kept by id across refreshes.

``space`` marks the highlighted job, ``shift+↑/↓`` extends the marks as the
cursor moves, ``ctrl+a`` marks every job matching the pane's filter in the
database (read once, when pressed: rows that match later are not marked), and
``esc`` clears the marks, then the filter. With marks, the pane's ``r``/``c``/``d``
post a ``Batch`` for the marked ids instead of an ``Intent`` for the highlighted row.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType

from tui.cells import Cells, Row, TableData
from tui.data import JobFilter
from tui.messages import Batch, MarkAll
from tui.panes.base import TablePane

MARK = "● "
"""Before the id of a marked job (two cells: the id column widens by as much)."""
MARK_STYLE = "bold yellow"


class MarkingPane(TablePane):
    """A table of jobs whose rows can be marked for a batch action."""

    PANE: ClassVar[str] = ""
    """The pane's name in ``Batch`` messages: ``jobs`` or ``dlq``."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_mark", "Mark", tooltip="Mark or unmark the highlighted job"),
        Binding("shift+down", "extend_marks(1)", "Mark down", show=False),
        Binding("shift+up", "extend_marks(-1)", "Mark up", show=False),
        Binding(
            "ctrl+a",
            "mark_all",
            "Mark all",
            show=False,
            tooltip="Mark all the filter matches",
        ),
        Binding("escape", "clear", "Clear", show=False, tooltip="Clear the marks, then the filter"),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.marks: dict[str, None] = {}
        """Marked ids, in the order marked (a dict: ordered, and fast to test)."""
        self._table_data: TableData | None = None
        self._marked_cells: dict[str, tuple[Cells, Cells]] = {}
        """Per marked id: the cells as read, and the same with the mark (reused while equal)."""

    # --- showing marks ----------------------------------------------------------------

    def apply_data(self, data: TableData, *, follow: bool = False, fresh: bool = False) -> None:
        """Show ``data`` with the marked rows marked; the id column widens by the mark."""
        self._table_data = data
        rows: list[Row] = data.rows
        widths = data.widths
        if self.marks:
            rows = [(key, self._with_mark(key, cells)) for key, cells in rows]
            column = self._id_column()
            if widths and column is not None:
                widths = tuple(w + len(MARK) * (i == column) for i, w in enumerate(widths))
        self._marked_cells = {k: v for k, v in self._marked_cells.items() if k in self.marks}
        self.table.apply(rows, widths=widths, uniform=data.uniform, follow=follow, fresh=fresh)

    def _id_column(self) -> int | None:
        keys = [spec.key for spec in self.COLUMNS]
        return keys.index("id") if "id" in keys else None

    def _with_mark(self, key: str, cells: Cells) -> Cells:
        if key not in self.marks:
            return cells
        cached = self._marked_cells.get(key)
        if cached is not None and cached[0] is cells:
            return cached[1]
        column = self._id_column()
        if column is None:
            return cells
        marked = list(cells)
        # Of the id's own kind: an id cut in the middle keeps its end, the mark its start.
        id_cell = type(cells[column])(MARK, style=MARK_STYLE, no_wrap=True, overflow="ellipsis")
        id_cell.append_text(cells[column])
        marked[column] = id_cell
        result = tuple(marked)
        self._marked_cells[key] = (cells, result)
        return result

    def _remark(self) -> None:
        """Show a change of marks now, without waiting for the next refresh."""
        if self._table_data is not None:
            self.apply_data(self._table_data)
        self.set_status(self._summary)

    def set_status(self, summary: str) -> None:
        """The summary, then how many jobs are marked (they may be off screen)."""
        count = len(self.marks)
        super().set_status(summary, f" · {count:,} marked" if count else "")

    # --- marking ----------------------------------------------------------------------

    def action_toggle_mark(self) -> None:
        """Mark the highlighted job, or unmark it."""
        key = self.highlighted
        if key is None:
            return
        if key in self.marks:
            del self.marks[key]
        else:
            self.marks[key] = None
        self._remark()

    def action_extend_marks(self, step: int) -> None:
        """Mark the highlighted job and the next one up or down, moving there (a range)."""
        key = self.highlighted
        if key is None:
            return
        self.marks[key] = None
        table = self.table
        row = min(max(table.cursor_row + step, 0), table.row_count - 1)
        table.move_cursor(row=row)
        after = self.highlighted
        if after is not None:
            self.marks[after] = None
        self._remark()

    def filter_for_marks(self) -> JobFilter:
        """What ``ctrl+a`` marks: the jobs the pane's filter matches."""
        return JobFilter()

    def action_mark_all(self) -> None:
        """Mark every job the filter matches in the database, not only the rows shown."""
        self.post_message(MarkAll(self.PANE, self.filter_for_marks()))

    def set_marks(self, job_ids: list[str]) -> None:
        """Replace the marks (``ctrl+a``'s capture arrives here)."""
        self.marks = dict.fromkeys(job_ids)
        self._remark()

    def clear_marks(self) -> None:
        self.marks.clear()
        self._remark()

    def clear_filter(self) -> bool:
        """Clear the pane's filter; ``False`` when there was none."""
        return False

    def action_clear(self) -> None:
        """``esc``: the marks go first, then the filter."""
        if self.marks:
            self.clear_marks()
        else:
            self.clear_filter()

    def batch(self, verb: str) -> bool:
        """Post ``verb`` for the marked jobs; ``False`` when nothing is marked."""
        if not self.marks:
            return False
        self.post_message(Batch(verb, tuple(self.marks), self.PANE))
        return True
