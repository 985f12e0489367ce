"""A DataTable that applies rows by key and keeps its cursor where the person put it.

Three promises, each tested in ``tests/tui/test_table.py``:

- **The cursor is on screen and on its row.** A refresh never moves the
  highlighted row: when rows arrive above it, the view scrolls by as many rows,
  so the job keeps both the cursor and its place on screen. A wheel scroll takes
  the cursor along, so what is highlighted is always what is shown.
- **Following the newest, by the view.** With ``follow`` (newest-first tables)
  and the view at the top, new rows appear at the top, as ``tail -f`` shows them,
  and the cursor keeps its job, which moves down a row for each; once it would
  leave the view, the view keeps it on screen instead and the rows above are
  counted (``new_above``) until they are scrolled into view or ``g`` goes back
  to the top. The cursor never changes job on its own: it followed the newest
  row, and a person who read the first row and pressed a key half a second
  later opened, retried or held a job that had arrived meanwhile (5 times in 8;
  a pause after each key covered only a person already at the keys).
- **Columns that fit.** Widths come from ``tui.columns``: steady between
  refreshes, no horizontal scrollbar, long cells cut with an ellipsis.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.filter import LineFilter
from textual.geometry import Size
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from tui.cells import Cells, Row, measure
from tui.columns import CELL_PADDING, ColumnSpec, Layout, fit_columns, total_width
from tui.panes.inplace import redraw_in_place

UNIFORM_AFTER = 60
"""Applies in a row a column must read the same on every row before it counts as saying
nothing (a minute at the default pace). It varies at once. At 80 columns the Queues pane
swapped Failed, Done and Blocked in and out every few seconds, each time one job failed
or waited briefly, and the Workers pane swapped PID and Slots for Job as workers went
busy and idle: 13 layouts in 30 s of a pane kept open all day."""

SHRINK_AFTER = 10
"""Applies in a row a column may be wider than its cells before it narrows (no jitter).
Ten refreshes: long enough that jobs passing through the window do not make columns
breathe, short enough that a column widened by one long value (deleted since) comes
back within seconds; it took half a minute, which read as never."""

NEAR_MARGIN = 3
"""Rows either side of the view whose new cells are drawn with those in view."""

REMOVE_ONE_BY_ONE = 8
"""Rows gone in one refresh that are removed singly; more, and the table is refilled.

``DataTable.remove_row`` re-indexes every remaining row (~2 ms each at 500 rows),
while a refill of 500 rows costs about as much as a handful of removals."""


class KeyedTable(DataTable[object]):
    """Rows are addressed by a stable key (a job id, a worker id, a config key)."""

    def get_line_filters(self) -> Sequence[LineFilter]:
        """The app's filters without its ``ControlGuard``: every cell and label is made
        inert where it is built (``tui.cells``), and the guard's filtered copy of each of
        the tables' cached lines held 11 MB more at 160x45 (``churn.sh``)."""
        unguarded = getattr(self.app, "unguarded_line_filters", None)
        return unguarded() if unguarded is not None else super().get_line_filters()

    DEFAULT_CSS = """
    KeyedTable { height: 1fr; scrollbar-size-vertical: 1; overflow-x: hidden; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g,home", "scroll_top", "First row", show=False),
        Binding("G,end", "scroll_bottom", "Last row", show=False),
    ]
    """Row keys as in less, k9s and htop; ``home`` goes to the first row, never sideways."""

    class NothingSelected(Message):
        """``enter`` on a table with no rows (``TablePane`` says what is missing)."""

    def action_select_cursor(self) -> None:
        """``enter``: DataTable's selection, or, with no rows, a message instead of silence
        (``r``, ``c`` and the rest said "No job is highlighted"; ``enter`` said nothing)."""
        if not self.row_count:
            self.post_message(self.NothingSelected())
            return
        super().action_select_cursor()

    def __init__(self, columns: Sequence[ColumnSpec], **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.specs = list(columns)
        self.marks: dict[str, str] = {}
        """A symbol after a column's label (the sort arrow), by column key."""
        self._cells: dict[str, Cells] = {}
        self._drawn: dict[str, Cells] = {}
        """The cells DataTable holds for each row: ``_cells`` but for rows out of view."""
        self._stale: set[str] = set()
        """Rows out of view whose new cells are not given to DataTable yet (``_freshen``)."""
        self._order: list[str] = []
        self._layout: Layout = ()
        self._shown: list[int] = []
        """Indices (in ``specs``) of the columns shown, in order."""
        self._widest: dict[str, int] = {}
        self._narrower: dict[str, int] = {}
        self._uniform: dict[str, bool] = {}
        self._same_for: dict[str, int] = {}
        """Applies in a row each column has read the same on every row (``UNIFORM_AFTER``)."""
        self._unseen: set[str] = set()
        self.counts_new = True
        """Rows that arrive above the view count as new (``new_above``): not in a fixed
        order, where no row arrives."""
        self.newer_above = True
        """The rows above are the newer ones (newest first): a new view that kept its row
        below the top counts every row above it as new. Sorted otherwise, only arrivals
        count (sorted oldest first, the older rows above were counted, and ``g`` led to
        nothing new)."""
        self._restoring = False
        """Our own cursor and scroll moves are under way (not the person's)."""
        self._seen_page = 1
        """Rows the view showed when last laid out: a hidden table has no height."""
        self._ever_shown = False
        """The table has been laid out on screen once: until then nobody has read a row
        of it, so a newest-first one opens on its newest row (``apply``)."""
        self._watching_top = True
        """The person put the cursor on the first row (or has not moved it yet): while
        the view stays at the top, new rows show above the highlighted job. A cursor
        moved below it by the person holds its place on screen instead."""
        self._settling = False
        """A scroll target is waiting for the next layout (``_settle_scroll``)."""
        self._hidden_top: float | None = None
        """The first row to show, kept while the table is hidden (another pane is shown).

        A hidden table has no height, and DataTable scrolls it to the cursor on
        every move, so its ``scroll_y`` says nothing of where the person left the
        view; this does, and ``reveal_cursor`` restores it."""

    # --- what the panes read ----------------------------------------------------------

    @property
    def highlighted_key(self) -> str | None:
        """The key of the row under the cursor, or ``None`` when the table is empty."""
        if not self._order or not 0 <= self.cursor_row < self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def in_view_order(self, keys: Iterable[str]) -> list[str]:
        """``keys`` in the order the table shows them; keys not shown last, as given."""
        given = list(keys)
        position = {key: index for index, key in enumerate(self._order)}
        return sorted(given, key=lambda key: position.get(key, len(position)))

    @property
    def new_above(self) -> int:
        """Rows that arrived above the view since it was last at the top, not yet seen."""
        return len(self._unseen)

    @property
    def rows_above_view(self) -> int:
        """How many rows are scrolled out of sight above the first one shown."""
        return round(self._top)

    @property
    def layout(self) -> Layout:
        """The columns on screen, in order, with their content widths."""
        return self._layout

    def cells_of(self, key: str) -> Cells:
        """Every cell of a row, shown or not."""
        return self._cells[key]

    # --- applying rows ----------------------------------------------------------------

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """DataTable's, without measuring every cell of the new rows when nothing reads it.

        DataTable measures each new row's cells to size columns of automatic width and
        rows of automatic height: three terminal-size lookups and a render's worth of
        work a cell. Here every column has the width ``tui.columns`` gave it and every
        row one line, so a refill (500 rows: any refresh in which many rows came and
        went) measured 4,500 cells for nothing: 73 ms of the UI thread, after the
        diff's own 18 ms, per refresh at 100k jobs with 50 new. This is DataTable's
        private method; a table that would need the measures gets the original whole.
        """
        rows = list(new_rows)
        needs_measures = any(column.auto_width for column in self.columns.values()) or any(
            row.auto_height or row.label is not None
            for row in (self.rows.get(key) for key in rows)
            if row is not None
        )
        super()._update_dimensions(rows if needs_measures else ())

    def apply(
        self,
        rows: list[Row],
        *,
        widths: Sequence[int] = (),
        uniform: Sequence[bool] = (),
        follow: bool = False,
        fresh: bool = False,
    ) -> None:
        """Make the table show ``rows`` (in order), touching only what changed.

        Args:
            widths: the widest cell of each column, when the reader measured them.
            uniform: whether each column holds one value on every row.
            follow: a newest-first table: the cursor on the first row stays there.
            fresh: a different view (a new filter or sort): what it holds above the
                view counts as new to it, as the person has not seen it there.
        """
        if not widths and rows:
            widths, uniform = measure([cells for _, cells in rows])
        if fresh:
            # Widths hold steady across refreshes of one view; a new view sizes its own
            # columns at once (a filter that left short ids kept a 25-cell ID column
            # for 30 refreshes, while at 80 columns the command was cut short).
            self._widest.clear()
            self._narrower.clear()
            self._same_for.clear()
        self._learn(widths, uniform)
        keep = {key for key, _ in rows}
        gone = [key for key in self._cells if key not in keep]
        cursor_key = self.highlighted_key
        cursor_row = self.cursor_row
        screen_row = cursor_row - round(self._top)
        if cursor_key is not None and cursor_key not in keep and not fresh:
            cursor_key = self._heir(cursor_key, keep)
        # The view stays at the top while the highlighted job is still in view there;
        # pushed past its last row, the job stays on that row and the view moves.
        if fresh and cursor_key not in keep:
            self._watching_top = True  # a new view without its job starts at the top
        if follow and not self._ever_shown and rows:
            # Read while hidden, never shown: the row first at its first read is one
            # nobody has seen, and keeping it made the DLQ open on old deaths under
            # "▲ 8 new above". It opens on the newest instead.
            cursor_key, self._watching_top = rows[0][0], True
        pinned = follow and self._watching_top and round(self._top) == 0
        following = pinned and self._position(rows, cursor_key) < self._rows_in_view
        if pinned and not following:
            screen_row = self._rows_in_view - 1
            self._watching_top = False
        known = set(self._cells) if self._cells and not fresh else None
        self._restoring = True
        try:
            with self.app.batch_update():
                layout = self._fit()
                if layout != self._layout:
                    self._refill(rows, layout)
                else:
                    self._diff(
                        rows, gone, self._band_after(rows, cursor_key, screen_row, following)
                    )
                if fresh and cursor_key not in keep:
                    cursor_row = screen_row = 0  # a new view without its job: start at the top
                self._place_cursor(cursor_key, cursor_row, screen_row, following)
                self._freshen()
        finally:
            self._restoring = False
        self._count_new(rows, known, following, fresh=fresh)

    @staticmethod
    def _position(rows: list[Row], key: str | None) -> int:
        """Where ``key``'s row is in ``rows`` (0 when it is not there, or none is given)."""
        return next((i for i, (row_key, _) in enumerate(rows) if row_key == key), 0)

    @property
    def _rows_in_view(self) -> int:
        """Rows the view shows; while the table is hidden, as many as it last showed."""
        return self._page if self.size.height else self._seen_page

    def _place_cursor(self, key: str | None, row: int, screen_row: int, following: bool) -> None:
        if not self.row_count:
            return
        if following:  # the view at the top, the cursor on its job
            index = self.get_row_index(key) if key is not None and key in self._cells else 0
            self.move_cursor(row=index, scroll=False)
            self._settle_scroll(0)
        elif key is not None and key in self._cells:
            index = self.get_row_index(key)
            self.move_cursor(row=index, scroll=False)
            self._settle_scroll(index - screen_row)
        else:  # no row left to take its place (or none was highlighted)
            index = min(row, self.row_count - 1)
            self.move_cursor(row=index, scroll=False)
            self._settle_scroll(index - screen_row)

    def _heir(self, gone: str, keep: set[str]) -> str | None:
        """The row that takes the place of a highlighted row that went: the next one below.

        Its index alone would not do: rows arriving above in the same refresh
        would put the cursor on a newer row, one the person had already passed.
        """
        index = self._order.index(gone)
        below = (key for key in self._order[index + 1 :] if key in keep)
        above = (key for key in reversed(self._order[:index]) if key in keep)
        return next(below, None) or next(above, None)

    def _count_new(
        self, rows: list[Row], known: set[str] | None, following: bool, *, fresh: bool = False
    ) -> None:
        """Count the rows above the view the person has not seen: those that arrived since
        the last refresh, or, in a new view that kept its job below the top (a sort
        back to newest first, a filter cleared), every row above it. Only arrivals
        were counted then, so the view opened mid-list saying "▲ 22 new above" over
        177 newer jobs."""
        cursor = self.cursor_row
        if following or not self.counts_new or (known is None and not fresh):
            self._unseen.clear()
            return
        if fresh:
            self._unseen = {key for key, _ in rows[:cursor]} if self.newer_above else set()
            self._forget_seen()
            return
        self._unseen.update(key for key, _ in rows[:cursor] if key not in known)
        self._forget_seen()

    def _forget_seen(self) -> None:
        """Keep only the new rows still above the view: one on screen has been seen (the
        count stayed up after the new rows were in plain view), one gone is not news."""
        if not self._unseen:
            return
        top = min(round(self._top), self.cursor_row)
        above = set(self._order[:top])
        self._unseen = {key for key in self._unseen if key in above}

    def _learn(self, widths: Sequence[int], uniform: Sequence[bool]) -> None:
        """Widen at once, narrow only after ``SHRINK_AFTER`` applies, so widths hold steady;
        a column that varies says something at once, and nothing only ``UNIFORM_AFTER``
        applies after it last varied, so columns do not come and go."""
        for spec, width in zip(self.specs, widths, strict=False):
            current = self._widest.get(spec.key, 0)
            if width >= current:
                self._widest[spec.key] = width
                self._narrower[spec.key] = 0
            else:
                self._narrower[spec.key] = self._narrower.get(spec.key, 0) + 1
                if self._narrower[spec.key] >= SHRINK_AFTER:
                    self._widest[spec.key] = width
                    self._narrower[spec.key] = 0
        for spec, flag in zip(self.specs, uniform, strict=False):
            # A column first seen the same on every row counts as such at once.
            before = self._same_for.get(spec.key, UNIFORM_AFTER - 1)
            self._same_for[spec.key] = before + 1 if flag else 0
        self._uniform = {key: same >= UNIFORM_AFTER for key, same in self._same_for.items()}

    def _label(self, spec: ColumnSpec) -> Text:
        mark = self.marks.get(spec.key)
        return Text(f"{spec.label} {mark}" if mark else spec.label, no_wrap=True)

    def _fit(self) -> Layout:
        """The columns for the current width; the current layout while the table is hidden."""
        room = self.size.width - self.styles.scrollbar_size_vertical
        if room <= 0:
            return self._layout or tuple((s.key, len(s.label)) for s in self.specs)
        labels = {spec.key: self._label(spec).cell_len for spec in self.specs}
        keep = frozenset(self.marks)  # the sorted column stays in view
        return fit_columns(self.specs, labels, self._widest, self._uniform, room, keep)

    def relayout(self) -> None:
        """Fit the columns again (after a resize or a new sort mark), keeping the cursor."""
        if self._layout != self._fit() or any(
            column.label != self._label(self.specs[index])
            for column, index in zip(self.ordered_columns, self._shown, strict=False)
        ):
            rows = [(key, self._cells[key]) for key in self._order]
            cursor_key = self.highlighted_key
            cursor_row = self.cursor_row
            screen_row = cursor_row - round(self._top)
            self._restoring = True
            try:
                with self.app.batch_update():
                    self._refill(rows, self._fit())
                    self._place_cursor(cursor_key, cursor_row, screen_row, following=False)
            finally:
                self._restoring = False
        else:
            self.reveal_cursor()

    def on_resize(self) -> None:
        self.relayout()

    def _refill(self, rows: list[Row], layout: Layout) -> None:
        """Start again from an empty table with ``layout``'s columns (a resize, a new column)."""
        self._stale.clear()
        self.clear(columns=True)
        index = {spec.key: i for i, spec in enumerate(self.specs)}
        self._layout = layout
        self._shown = [index[key] for key, _ in layout]
        self.cell_padding = CELL_PADDING
        for key, width in layout:
            self.add_column(self._label(self.specs[index[key]]), width=width, key=key)
        self._cells.clear()
        self._drawn.clear()
        self._stale.clear()
        shown = self._shown
        for key, cells in rows:
            self.add_row(*(cells[i] for i in shown), key=key)
            self._cells[key] = self._drawn[key] = cells
        self._order = [key for key, _ in rows]

    def _band_after(
        self, rows: list[Row], cursor_key: str | None, screen_row: int, following: bool
    ) -> range:
        """The rows (by position in ``rows``) near the view once ``rows`` are shown.

        The cursor keeps its place on screen (``_place_cursor``), so the view's
        first row will be the cursor's new position less its screen row.
        """
        top = int(self._top)
        if following:
            top = 0
        elif cursor_key is not None:
            for index, (key, _) in enumerate(rows):
                if key == cursor_key:
                    top = index - screen_row
                    break
        return self._near(top)

    def _near(self, top: int) -> range:
        """The rows in view when ``top`` is the first, and ``NEAR_MARGIN`` either side.

        Only these get new cells at once: the others are drawn as a scroll or a
        cursor move brings them into view (``_freshen``). Each drawn row costs a
        repaint of its line, so a page either side (as before) tripled the cost
        of a refresh in which every age ticks.
        """
        return range(max(0, top - NEAR_MARGIN), top + self._page + NEAR_MARGIN)

    def _diff(self, rows: list[Row], gone: list[str], band: range) -> None:
        """Apply ``rows`` touching only what changed, through Textual's public API but for
        changed cells.

        DataTable has no bulk removal (Textualize/textual#5273) and no "show in
        this order", and each call refreshes the widget. So: a few rows gone are
        removed singly (``remove_row`` re-indexes every other row), many refill
        the table (cheaper past ``REMOVE_ONE_BY_ONE``); new rows are appended and
        a new order (rows arriving above, in a newest-first table) is one
        ``sort`` on each row's rank; changed cells are given to DataTable now for
        the rows in or near the view (``band``) and as they come into view for
        the others (``_freshen``): a refresh may change every row's age, and
        DataTable draws only what is on screen. Changed cells repaint only their
        rows (``tui.panes.inplace``, DataTable's internals, with the public
        ``update_cell`` as its fallback), so a few ages ticking on a quiet
        dashboard do not repaint the table every second. ``tests/bench/run.py
        --only dashboard`` measures the diff, ``tests/bench/soak.py --only idle``
        the quiet dashboard.
        """
        if len(gone) > REMOVE_ONE_BY_ONE:
            self._refill(rows, self._layout)
            return
        for key in gone:
            self.remove_row(key)
            del self._cells[key]
            del self._drawn[key]
            self._stale.discard(key)
        redraw = []
        for position, (key, cells) in enumerate(rows):
            drawn = self._drawn.get(key)
            self._cells[key] = cells
            if drawn is None:
                self.add_row(*(cells[i] for i in self._shown), key=key)
                self._drawn[key] = cells
            elif drawn is not cells:
                if position in band:
                    redraw.append(key)
                else:
                    self._stale.add(key)
        order = [key for key, _ in rows]
        before = set(self._order)
        as_shown = [key for key in self._order if key in self._cells]  # appended rows go last
        added = [key for key in order if key not in before]
        as_shown += added
        if order != as_shown:
            self._sort_into(order)
        self._order = order
        # Rows removed, added or reordered: DataTable repaints the whole view anyway.
        self._draw(redraw, view_repainted=bool(gone or added or order != as_shown))

    def _draw(self, keys: list[str], *, view_repainted: bool = False) -> None:
        """Give DataTable the rows' new cells, those that changed; ``view_repainted``: this
        refresh repaints the whole view already, so repainting rows alone saves nothing."""
        changed: dict[str, list[tuple[str, Text]]] = {}
        for key in keys:
            old, cells = self._drawn[key], self._cells[key]
            # Cells that did not change are the very same objects (tui.cells.build_table).
            # Text equality ignores the base style, so a restyle alone is compared too.
            changes = [
                (self.specs[i].key, cells[i])
                for i in self._shown
                if old[i] is not cells[i] and (old[i] != cells[i] or old[i].style != cells[i].style)
            ]
            if changes:
                changed[key] = changes
            self._drawn[key] = cells
            self._stale.discard(key)
        # Rows well past a view's worth (not from ``_near``): one invalidation and a
        # repaint of the view is cheaper than sweeping the render caches for each.
        if changed and (
            view_repainted or len(changed) > 2 * self._page or not redraw_in_place(self, changed)
        ):
            for key, changes in changed.items():
                for column, cell in changes:
                    self.update_cell(key, column, cell)

    def _freshen(self) -> None:
        """Draw the stale rows that are in or near the view now."""
        if not self._stale:
            return
        near = self._near(int(self._top))
        keys = []
        for index in range(near.start, min(near.stop, self.row_count)):  # not every stale row
            row_key, _ = self.coordinate_to_cell_key(Coordinate(index, 0))
            if row_key.value in self._stale and row_key.value in self._cells:
                keys.append(row_key.value)
        self._draw(keys)

    def _sort_into(self, order: list[str]) -> None:
        """Show the rows in ``order`` with one public ``sort``.

        ``sort`` sees cell values, not row keys, so each row is found by the
        identity of the cell the table holds in its first column.
        """
        column = self.ordered_columns[0].key
        rank = {id(self.get_cell(key, column)): index for index, key in enumerate(order)}
        if len(rank) != len(order):  # two rows share a cell object: no way to tell them apart
            self._refill([(key, self._cells[key]) for key in order], self._layout)
            return
        self.sort(column, key=lambda cell: rank[id(cell)])

    # --- the cursor stays on screen ---------------------------------------------------

    @property
    def _page(self) -> int:
        """Rows visible at once."""
        height = self.scrollable_content_region.height - int(self.show_header)
        if height > 0:
            self._seen_page = height
            self._ever_shown = True
        return max(1, height)

    def _settle_scroll(self, target: float) -> None:
        """Scroll to ``target`` in the same frame, never leaving the cursor off screen.

        DataTable measures new rows only once idle, so the scroll range is set here
        first (rows are one line high): scrolling after the next frame instead drew
        every refresh with new rows twice, the rows jumping down and back. Once laid
        out, the target is checked again; until then the view may move on its own
        and must not drag the cursor along (``watch_scroll_y``).
        """
        if self.size.height:
            height = self.row_count + (self.header_height if self.show_header else 0)
            self.virtual_size = Size(total_width(self._layout), height)
            self._scroll_around_cursor(target)
        else:
            self._hidden_top = max(0.0, target)
        self._settling = True
        self.call_after_refresh(self._scroll_around_cursor, target)

    def _scroll_around_cursor(self, target: float) -> None:
        self._settling = False
        if not self.size.height:
            return  # hidden: done when shown (``reveal_cursor``)
        self._hidden_top = None
        row = self.cursor_row
        target = min(max(target, row - self._page + 1), row)
        target = max(0.0, min(target, self.max_scroll_y))
        if target != self.scroll_y:
            self._restoring = True
            try:
                self.scroll_to(y=target, animate=False, force=True, immediate=True)
            finally:
                self._restoring = False
        self._freshen()

    @property
    def _top(self) -> float:
        """The first row the person sees, or will see when the table is shown again."""
        return self.scroll_y if self._hidden_top is None else self._hidden_top

    def reveal_cursor(self) -> None:
        """Bring the cursor's row into view where the person left it (a pane shown again)."""
        self._settle_scroll(self._top)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """A scroll by the wheel or the scrollbar takes the cursor along."""
        super().watch_scroll_y(old_value, new_value)
        self._freshen()  # rows coming into view get the cells they missed
        if not self._restoring:
            self._forget_seen()
        if self._restoring or self._settling or not self.row_count or not self.size.height:
            return
        top = round(new_value)
        bottom = top + self._page - 1
        if not top <= self.cursor_row <= bottom:
            self.move_cursor(row=min(max(self.cursor_row, top), bottom), scroll=False)

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        super().watch_cursor_coordinate(old, new)
        if not self._restoring:  # the person moved it
            self._watching_top = new.row == 0
            if new.row == 0:
                self._unseen.clear()  # the person went to the top: they have seen them

    def select_key(self, key: str) -> None:
        """Put the cursor on ``key`` if it is shown."""
        if key in self._cells:
            self.move_cursor(row=self.get_row_index(key))
