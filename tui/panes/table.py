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

        The highlighted job keeps both its cursor and its place on screen: when
        rows arrive above it, the view scrolls by as many rows.

        Args:
            rebuild: start from an empty table, so columns can shrink (after a
                resize); the cursor still returns to its key.
        """
        keep = {key for key, _ in rows}
        gone = [key for key in self._cells if key not in keep]
        cursor_key = self.highlighted_key
        cursor_index = self.cursor_row
        scroll_y = self.scroll_y
        # DataTable.remove_row re-indexes every row (~2 ms each at 500 rows) while
        # add_row is ~0.1 ms: past a few removals, refilling the table is cheaper.
        refill = rebuild or len(gone) > max(8, len(rows) // 25)
        with self.app.batch_update():
            if refill:
                self._refill(rows, shrink=rebuild)
            else:
                self._diff(rows, gone)
            if cursor_key is not None and cursor_key in self._cells:
                row = self.get_row_index(cursor_key)
                self.move_cursor(row=row, scroll=False)
                self._keep_scroll(scroll_y + row - cursor_index)
            elif self.row_count:
                self.move_cursor(row=min(cursor_index, self.row_count - 1), scroll=False)
                self._keep_scroll(scroll_y)

    def _refill(self, rows: list[Row], *, shrink: bool) -> None:
        self.clear()
        if shrink:
            for column in self.columns.values():
                column.content_width = column.label.cell_len
        self._cells.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
            self._cells[key] = cells
        self._order = [key for key, _ in rows]

    def _diff(self, rows: list[Row], gone: list[str]) -> None:
        column_keys = [key for key, _ in self._column_spec]
        for key in gone:
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

    def _keep_scroll(self, target: float) -> None:
        """Scroll to ``target`` once the new rows are laid out (the range grows then)."""
        target = max(0.0, target)
        if target != self.scroll_y:
            self.call_after_refresh(self.scroll_to, y=target, animate=False, force=True)

    def select_key(self, key: str) -> None:
        """Put the cursor on ``key`` if it is shown."""
        if key in self._cells:
            self.move_cursor(row=self.get_row_index(key))
