"""A DataTable that applies rows by key, so a refresh never moves the cursor off its row."""

from __future__ import annotations

from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, Column, ColumnKey, RowKey

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
        with self.app.batch_update():
            if rebuild:
                self._refill(rows)
            else:
                self._diff(rows, gone)
            if cursor_key is not None and cursor_key in self._cells:
                row = self.get_row_index(cursor_key)
                self.move_cursor(row=row, scroll=False)
                self._keep_scroll(scroll_y + row - cursor_index)
            elif self.row_count:
                self.move_cursor(row=min(cursor_index, self.row_count - 1), scroll=False)
                self._keep_scroll(scroll_y)

    def _refill(self, rows: list[Row]) -> None:
        """Start from an empty table whose columns are as wide as these rows need.

        Sized here, not left to DataTable, which measures new rows only once
        idle: a frame drawn before that showed every column cut to its label.
        """
        self.clear()
        widest = [column.label.cell_len for column in self.ordered_columns]
        for _, cells in rows:
            widest = [max(width, cell.cell_len) for width, cell in zip(widest, cells, strict=True)]
        for column, width in zip(self.ordered_columns, widest, strict=True):
            column.content_width = width
        self._cells.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
            self._cells[key] = cells
        self._order = [key for key, _ in rows]

    def _diff(self, rows: list[Row], gone: list[str]) -> None:
        columns = [self.columns[ColumnKey(key)] for key, _ in self._column_spec]
        if gone:
            self._drop(gone)
        changed: list[tuple[str, int, Text]] = []
        for key, cells in rows:
            old = self._cells.get(key)
            if old is None:
                self.add_row(*cells, key=key)
            elif old is not cells:
                # Cells that did not change are the very same objects (tui.data.build_table).
                # Text equality ignores the base style, so a restyle alone is compared too.
                changed.extend(
                    (key, index, after)
                    for index, (before, after) in enumerate(zip(old, cells, strict=True))
                    if before is not after and (before != after or before.style != after.style)
                )
            self._cells[key] = cells
        if changed:
            self._write(changed, columns)
        order = [key for key, _ in rows]
        if order != self._order:
            self._place(order)

    # DataTable has no bulk removal (Textualize/textual#5273), no bulk update and no
    # "show in this order": remove_row re-indexes every remaining row per call (~2 ms
    # each at 500 rows), update_cell refreshes the widget per cell (a refresh changes
    # every age cell) and sort compares cell values. The methods below do what those
    # do, once per refresh, on DataTable's own (private) row maps; tests/tui/test_table.py
    # checks the outcome through the public API, so a Textual that changes them fails there.

    def _drop(self, keys: list[str]) -> None:
        """Remove the rows of ``keys`` with one re-index for them all."""
        for key in keys:
            row_key = RowKey(key)
            for column_key in self._data.pop(row_key):
                self._updated_cells.discard(CellKey(row_key, column_key))
            del self.rows[row_key]
            del self._cells[key]
        self._place([key for key in self._order if key in self._cells])
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate
        self.hover_coordinate = self.hover_coordinate
        self.refresh(layout=True)

    def _write(self, changed: list[tuple[str, int, Text]], columns: list[Column]) -> None:
        """Store changed cells and refresh once (``update_cell`` refreshes per cell)."""
        for key, index, cell in changed:
            column = columns[index]
            row_key = RowKey(key)
            self._data[row_key][column.key] = cell
            # Widen only when needed: asking DataTable to re-measure a narrower cell
            # rescans the whole column, per cell.
            if cell.cell_len > column.content_width:
                self._updated_cells.add(CellKey(row_key, column.key))
                self._require_update_dimensions = True
        self._update_count += 1
        self.refresh()

    def _place(self, order: list[str]) -> None:
        """Show the rows in ``order`` (every key shown, each once)."""
        self._row_locations = TwoWayDict({RowKey(key): index for index, key in enumerate(order)})
        self._order = order
        self._update_count += 1
        self.refresh()

    def _keep_scroll(self, target: float) -> None:
        """Scroll to ``target`` once the new rows are laid out (the range grows then)."""
        target = max(0.0, target)
        if target != self.scroll_y:
            self.call_after_refresh(self.scroll_to, y=target, animate=False, force=True)

    def select_key(self, key: str) -> None:
        """Put the cursor on ``key`` if it is shown."""
        if key in self._cells:
            self.move_cursor(row=self.get_row_index(key))
