"""Changing a few cells of a DataTable without repainting all of it.

``DataTable.update_cell`` bumps the table's update count, which every render
cache keys on, and repaints the whole widget: each changed cell costs a render
of every row in view. A dashboard whose ages tick changes a few cells a second,
so at 160×45 that was most of what an open, quiet dashboard cost (27 ms a
second, 4% of a core, of 6-7%: ``tests/bench/soak.py --only idle``).

``redraw_in_place`` stores the new cells, drops only the cached renders of
their rows, and repaints those rows. It relies on DataTable internals that have
held since Textual 0.x (``_data``, its four render caches and how they are
keyed); when they are not there it returns ``False`` and the caller takes the
public ``update_cell`` path, slower but right. ``tests/tui/test_table.py``
checks that what is drawn always matches a render from scratch, and that this
path is the one taken, so a Textual release that changes them fails a test
rather than only getting slower.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

_INTERNALS = (
    "_data",
    "_row_locations",
    "_update_count",
    "_row_renderable_cache",
    "_cell_render_cache",
    "_row_render_cache",
    "_line_cache",
    "_get_offsets",
)


def redraw_in_place(
    table: DataTable[object], changes: Mapping[str, Sequence[tuple[str, Text]]]
) -> bool:
    """Put ``changes`` (row key → (column key, cell) pairs) into ``table`` and repaint only
    their rows; ``False`` (nothing done) when this Textual lacks the internals it needs."""
    if not all(hasattr(table, name) for name in _INTERNALS):
        return False
    data = table._data
    rows: set[RowKey] = set()
    cells_changed: set[tuple[RowKey, ColumnKey]] = set()
    for key, cells in changes.items():
        row_key = RowKey(key)
        for column, cell in cells:
            column_key = ColumnKey(column)
            data[row_key][column_key] = cell
            cells_changed.add((row_key, column_key))
        rows.add(row_key)
    indices = [table._row_locations.get(row_key) for row_key in rows]
    count = table._update_count
    for index in indices:
        table._row_renderable_cache.discard((count, index))
    # Only the changed cells are rendered again (an age, not the row's eight other
    # cells); their rows are assembled again from the cached rest.
    cell_cache = table._cell_render_cache
    for cache_key in [k for k in cell_cache.keys() if (k[0], k[1]) in cells_changed]:  # noqa: SIM118
        cell_cache.discard(cache_key)
    row_cache = table._row_render_cache
    for cache_key in [k for k in row_cache.keys() if k[0] in rows]:  # noqa: SIM118 (an LRUCache)
        row_cache.discard(cache_key)
    lines = table._line_cache  # keyed by the line's y in the table, header included
    for cache_key in [k for k in lines.keys() if _row_of_line(table, k[0]) in rows]:  # noqa: SIM118
        lines.discard(cache_key)
    for index in indices:
        if index is not None:
            table.refresh_row(index)
    return True


def _row_of_line(table: DataTable[object], y: int) -> RowKey | None:
    try:
        return table._get_offsets(y)[0]
    except (LookupError, IndexError):
        return None
