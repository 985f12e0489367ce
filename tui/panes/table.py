"""A DataTable that applies rows by key, so a refresh never moves the cursor off its row."""

from __future__ import annotations

from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from tui.data import Cells, Row


class KeyedTable(DataTable[object]):
    """Rows are addressed by a stable key (a job id, a worker id, a config key).

    ``apply`` diffs the new rows against what is shown: gone keys are removed,
    changed cells updated in place, new keys added, then the order fixed. The
    highlighted key is restored afterwards, so a job stays under the cursor even
    when newer jobs arrive above it.
    """

    DEFAULT_CSS = """
    KeyedTable { height: 1fr; }
    """

    def __init__(self, columns: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._column_spec = columns
        self._cells: dict[str, Cells] = {}
        self._order: list[str] = []

    def on_mount(self) -> None:
        for key, label in self._column_spec:
            self.add_column(label, key=key)

    @property
    def highlighted_key(self) -> str | None:
        """The key of the row under the cursor, or ``None`` when the table is empty."""
        if not self._order or not 0 <= self.cursor_row < self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def apply(self, rows: list[Row], *, rebuild: bool = False) -> None:
        """Make the table show ``rows`` (in order), touching only what changed.

        Args:
            rebuild: start from an empty table, so columns can shrink (after a
                resize); the cursor still returns to its key.
        """
        keep = {key for key, _ in rows}
        cursor_key = self.highlighted_key
        cursor_index = self.cursor_row
        column_keys = [key for key, _ in self._column_spec]
        with self.app.batch_update():
            if rebuild:
                self.clear()
                for column in self.columns.values():
                    column.content_width = column.label.cell_len
                self._cells.clear()
                self._order = []
            for key in [k for k in self._cells if k not in keep]:
                self.remove_row(key)
                del self._cells[key]
            for key, cells in rows:
                old = self._cells.get(key)
                if old is None:
                    self.add_row(*cells, key=key)
                elif old != cells:
                    for column, before, after in zip(column_keys, old, cells, strict=True):
                        if before != after:
                            # Widen only when needed: asking DataTable to re-measure a
                            # narrower cell rescans the whole column, per cell.
                            wider = after.cell_len > self.columns[ColumnKey(column)].content_width
                            self.update_cell(key, column, after, update_width=wider)
                self._cells[key] = cells
            order = [key for key, _ in rows]
            if order != self._order:
                # DataTable.sort sees cell values, not row keys: the first cell is the key's text.
                position = {str(cells[0]): index for index, (_, cells) in enumerate(rows)}
                self.sort(column_keys[0], key=lambda cell: position.get(str(cell), 0))
                self._order = order
            if cursor_key is not None and cursor_key in self._cells:
                self.move_cursor(row=self.get_row_index(cursor_key), scroll=False)
            elif self.row_count:
                self.move_cursor(row=min(cursor_index, self.row_count - 1))

    def select_key(self, key: str) -> None:
        """Put the cursor on ``key`` if it is shown."""
        if key in self._cells:
            self.move_cursor(row=self.get_row_index(key))
