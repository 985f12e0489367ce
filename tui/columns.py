"""Which columns a table shows at a given width, and how wide each is.

The reader (``tui.data``) formats whole cells and never knows the screen; this
module decides, on the UI side, how they fit. Fixed columns are as wide as the
widest cell seen (never narrower than ``min_width``, so a ticking age does not
make the column jitter); flexible columns (the command, an error) share what is
left and are cut with an ellipsis. When the flexible columns would get less
than their ``flex_min``, room is made in this order: droppable columns showing
the same value on every row go (one queue, no worker yet, nothing timed yet),
then shrinkable columns narrow (an id, cut in the middle), then the other
droppable columns go, in ``drop`` order; what a drop frees beyond the flexible
columns' due widens a narrowed column again. Those showing the same value on every row
go earlier still: as soon as a flexible column would be cut at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

CELL_PADDING = 1
"""Blank cells either side of every column (DataTable's ``cell_padding``)."""


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a table: how it is labelled, sized and given up."""

    key: str
    label: str
    min_width: int = 0
    """Never narrower than this: keeps columns of changing values (ages) steady."""
    max_width: int | None = None
    """Never wider than this; longer cells end with an ellipsis."""
    flex: int = 0
    """Above zero: takes this share of the spare width (and all of it if alone)."""
    flex_min: int = 0
    """A flexible column narrower than this (or than its widest cell, if that is less)
    makes room: droppable columns go, shrinkable ones narrow."""
    drop: int | None = None
    """Order in which the column is given up when room is short; ``None``: never."""
    shrink_to: int | None = None
    """A fixed column as wide as its widest cell while there is room, narrowing down
    to this when room is short, before any column that says something is dropped."""


Layout = tuple[tuple[str, int], ...]
"""The columns shown, in order, with the content width of each (padding excluded)."""


def _fixed_width(spec: ColumnSpec, label_width: int, widest: int) -> int:
    width = max(spec.min_width, widest)
    if spec.max_width is not None:
        width = min(width, spec.max_width)
    return max(width, label_width)


def fit_columns(
    specs: Sequence[ColumnSpec],
    labels: Mapping[str, int],
    widest: Mapping[str, int],
    uniform: Mapping[str, bool],
    available: int,
    keep: frozenset[str] = frozenset(),
) -> Layout:
    """The columns to show in ``available`` cells, and their widths.

    Args:
        specs: every column, in display order.
        labels: the width of each column's header label (a sort arrow included).
        widest: the widest cell of each column (0 when there are no rows).
        uniform: whether every row shows the same value in the column.
        available: the cells the table can use without a horizontal scrollbar.
        keep: columns never dropped, droppable or not: the one the rows are sorted
            by (sorted by Queue at 160 columns, then narrowed to 80, the rows kept
            an order by a column no longer shown, with no arrow anywhere).
    """
    pad = 2 * CELL_PADDING
    fixed = {
        spec.key: _fixed_width(spec, labels[spec.key], widest.get(spec.key, 0))
        for spec in specs
        if not spec.flex
    }
    shown = list(specs)

    def spare() -> int:
        return available - sum(fixed.get(s.key, 0) + pad for s in shown)

    def flex_floor() -> int:
        # A flexible column is owed its flex_min, or less when its cells need less: room
        # a short command would not use is not worth a column, or a cut id.
        return sum(
            max(min(s.flex_min, widest.get(s.key, 0)), labels[s.key]) for s in shown if s.flex
        )

    droppable = sorted(
        (s for s in specs if s.drop is not None and s.key not in keep),
        key=lambda s: (not uniform.get(s.key, False), s.drop),
    )

    def flex_wants() -> int:
        return sum(max(widest.get(s.key, 0), labels[s.key]) for s in shown if s.flex)

    # A column with the same value on every row says nothing a row needs: it gives way
    # as soon as a flexible column would be cut, not only once that one is cut short
    # (the DLQ kept Queue, "default" on every row, and an empty Exit, while it cut
    # every error to 21 cells).
    while droppable and uniform.get(droppable[0].key, False) and spare() < flex_wants():
        shown.remove(droppable.pop(0))
    shrinkable = [s for s in specs if s.shrink_to is not None and not s.flex]
    narrowed: list[tuple[str, int]] = []
    while spare() < flex_floor():
        if droppable and (uniform.get(droppable[0].key, False) or not shrinkable):
            shown.remove(droppable.pop(0))
        elif shrinkable:
            spec = shrinkable.pop(0)
            width = fixed[spec.key]
            floor = min(width, max(spec.shrink_to or 0, labels[spec.key]))
            narrowed.append((spec.key, width))
            fixed[spec.key] = max(floor, width - (flex_floor() - spare()))
        else:
            break
    # A column dropped after an id narrowed may free more than the flexible columns are
    # owed: that surplus goes back to the id first (at 100 columns the Jobs pane cut a
    # 31-cell id to 14 while the command, already cut, took 10 cells over its 30).
    for key, whole in narrowed:
        surplus = spare() - flex_floor()
        if surplus <= 0:
            break
        fixed[key] = min(whole, fixed[key] + surplus)
    widths = dict(fixed)
    widths.update(_share(shown, labels, widest, spare()))
    return tuple((s.key, widths[s.key]) for s in shown)


def _share(
    shown: Sequence[ColumnSpec], labels: Mapping[str, int], widest: Mapping[str, int], room: int
) -> dict[str, int]:
    """Split ``room`` between the flexible columns by their ``flex`` weights.

    A column whose cells need less than its share takes only what it needs and
    leaves the rest to the others; when every one fits, the last flexible column
    takes what remains, so the table always spans the width.
    """
    flexible = [s for s in shown if s.flex]
    want = {s.key: max(widest.get(s.key, 0), labels[s.key]) for s in flexible}
    widths: dict[str, int] = {}
    pending = list(flexible)
    left = max(0, room)
    while pending:
        weight = sum(s.flex for s in pending)
        fits = [s for s in pending if want[s.key] * weight <= left * s.flex]
        if not fits or len(fits) == len(pending):
            break
        for spec in fits:
            widths[spec.key] = want[spec.key]
            left -= want[spec.key]
            pending.remove(spec)
    weight = sum(s.flex for s in pending)
    if pending and all(want[s.key] * weight <= left * s.flex for s in pending):
        for spec in pending:
            widths[spec.key] = want[spec.key]
            left -= want[spec.key]
        widths[flexible[-1].key] += left
        return widths
    for index, spec in enumerate(pending):
        share = left if index == len(pending) - 1 else left * spec.flex // weight
        widths[spec.key] = max(labels[spec.key], share)
        left -= share
    return widths


def total_width(layout: Layout) -> int:
    """Cells the table takes with ``layout``, padding included."""
    return sum(width + 2 * CELL_PADDING for _, width in layout)
