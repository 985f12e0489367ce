"""KeyedTable's diff against what DataTable itself reports.

``KeyedTable`` removes, adds, updates and orders rows through DataTable's public
API (``remove_row``, ``add_row``, ``update_cell``, ``sort``, a refill past a few
removals). These tests drive it through long random sequences of refreshes (rows
arriving, leaving, changing, reordering) and after each one read the table back
through the public API: if a Textual release changes how those calls combine,
this is where it shows. Changed cells take a path through DataTable's internals
(``tui.panes.inplace``); every check also compares what is drawn with a render
from scratch, so a stale cached render shows here too.
"""

from __future__ import annotations

import random

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import _data_table as data_table_module

from tests.tui.conftest import wait_for
from tui.cells import Row, styled
from tui.columns import ColumnSpec
from tui.panes.table import SHRINK_AFTER, KeyedTable

COLUMNS = [ColumnSpec("id", "ID"), ColumnSpec("state", "State"), ColumnSpec("note", "Note", flex=1)]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS)


def _rows(keys: list[str], version: dict[str, int]) -> list[Row]:
    return [
        (key, (styled(key), styled(f"v{version[key]}"), styled("x" * (version[key] % 7))))
        for key in keys
    ]


def _shown(table: KeyedTable) -> list[tuple[str, list[str]]]:
    """Every row as the public API sees it: its key and its cells' text, in order."""
    shown = []
    for index in range(table.row_count):
        row_key, _ = table.coordinate_to_cell_key((index, 0))
        shown.append((str(row_key.value), [str(cell) for cell in table.get_row_at(index)]))
    return shown


def _drawn(table: KeyedTable) -> list[str]:
    """The table's lines in view as it draws them now, from its render caches."""
    return [table.render_line(y).text for y in range(table.size.height)]


def _drawn_from_scratch(table: KeyedTable) -> list[str]:
    """The same lines rendered with every cache emptied: a changed cell whose stale
    render survived (``tui.panes.inplace``) would differ here."""
    table._clear_caches()
    return _drawn(table)


def _expected(rows: list[Row]) -> list[tuple[str, list[str]]]:
    return [(key, [str(cell) for cell in cells]) for key, cells in rows]


def _next_keys(rng: random.Random, keys: list[str], serial: list[int]) -> list[str]:
    """One refresh's worth of change: some rows leave, some arrive on top, maybe a reorder."""
    kept = [key for key in keys if rng.random() > rng.choice((0.0, 0.05, 0.3, 1.0))]
    arrived = []
    for _ in range(rng.choice((0, 0, 1, 5, 40))):
        serial[0] += 1
        arrived.append(f"k{serial[0]}")
    keys = arrived[::-1] + kept
    if rng.random() < 0.2:
        rng.shuffle(keys)
    return keys[: rng.choice((500, 500, 60))]


@pytest.mark.parametrize("seed", range(3))
async def test_random_refreshes_show_exactly_the_rows_given(seed: int) -> None:
    rng = random.Random(seed)
    app = TableApp()
    async with app.run_test(size=(80, 30)) as pilot:
        table = app.query_one(KeyedTable)
        serial = [0]
        keys: list[str] = []
        version: dict[str, int] = {}
        for _ in range(40):
            keys = _next_keys(rng, keys, serial)
            for key in keys:
                if key not in version or rng.random() < 0.1:
                    version[key] = version.get(key, 0) + 1
            rows = _rows(keys, version)
            cursor_key = table.highlighted_key
            table.apply(rows)
            await pilot.pause()
            assert _shown(table) == _expected(rows)
            assert _drawn(table) == _drawn_from_scratch(table)
            if cursor_key in keys:
                assert table.highlighted_key == cursor_key
            if table.row_count and rng.random() < 0.3:
                table.move_cursor(row=rng.randrange(table.row_count))


async def test_rows_arriving_above_keep_the_cursor_on_its_row() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 30)) as pilot:
        table = app.query_one(KeyedTable)
        version = {f"k{i}": 1 for i in range(100)}
        keys = [f"k{i}" for i in reversed(range(100))]
        table.apply(_rows(keys, version))
        await pilot.pause()
        table.select_key("k50")
        for i in range(100, 110):
            version[f"k{i}"] = 1
        newer = [f"k{i}" for i in reversed(range(100, 110))] + keys[:-10]
        table.apply(_rows(newer, version))
        await pilot.pause()
        assert table.highlighted_key == "k50"
        assert table.cursor_row == newer.index("k50")
        assert _shown(table) == _expected(_rows(newer, version))


async def test_a_removed_highlighted_row_leaves_the_cursor_in_place() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 30)) as pilot:
        table = app.query_one(KeyedTable)
        version = {key: 1 for key in "abcdef"}
        table.apply(_rows(list("abcdef"), version))
        await pilot.pause()
        table.select_key("c")
        table.apply(_rows(list("abdef"), version))
        await pilot.pause()
        assert table.cursor_row == 2 and table.highlighted_key == "d"


async def test_a_removed_row_passes_the_cursor_to_the_row_below_even_with_rows_above() -> None:
    """Deleting or retrying the highlighted job as new jobs arrive: the next, not a new one."""
    app = TableApp()
    async with app.run_test(size=(80, 30)) as pilot:
        table = app.query_one(KeyedTable)
        version = {key: 1 for key in "abcdefxy"}
        table.apply(_rows(list("abcdef"), version), follow=True)
        await pilot.pause()
        table.select_key("c")
        table.apply(_rows(list("xyabdef"), version), follow=True)
        await pilot.pause()
        assert table.highlighted_key == "d"
        table.select_key("f")
        table.apply(_rows(list("xyabde"), version), follow=True)  # the last row: the one above
        await pilot.pause()
        assert table.highlighted_key == "e"


async def test_a_cell_restyled_with_the_same_text_is_redrawn() -> None:
    """Rich's Text equality ignores the base style; the diff must not."""
    app = TableApp()
    async with app.run_test(size=(80, 30)) as pilot:
        table = app.query_one(KeyedTable)
        table.apply([("a", (styled("a"), styled("same", "red"), styled("")))])
        await pilot.pause()
        table.apply([("a", (styled("a"), styled("same", "green"), styled("")))])
        await pilot.pause()
        assert table.get_row_at(0)[1].style == "green"


def _numbered(count: int, start: int = 0) -> list[Row]:
    """Rows ``k{start}`` … newest first, as the jobs table shows them."""
    version = {f"k{i}": 1 for i in range(start + count)}
    return _rows([f"k{i}" for i in reversed(range(start + count))], version)


def _screen_row(table: KeyedTable) -> int:
    return table.cursor_row - round(table.scroll_y)


def _on_screen(table: KeyedTable) -> bool:
    top = round(table.scroll_y)
    page = table.scrollable_content_region.height - 1  # the header row
    return top <= table.cursor_row < top + page


async def test_at_the_top_the_view_follows_the_newest_rows_and_the_cursor_its_job() -> None:
    """The cursor followed the newest row: a person who read the first row and pressed a
    key half a second later acted on a job that had arrived meanwhile (5 times in 8)."""
    app = TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(KeyedTable)
        table.apply(_numbered(50), follow=True)
        await pilot.pause()
        assert table.highlighted_key == "k49"
        page = table.scrollable_content_region.height - 1  # the header row
        table.apply(_numbered(55), follow=True)
        await pilot.pause()
        # The new rows are on screen above it; the job read keeps the cursor.
        assert table.highlighted_key == "k49" and table.cursor_row == 5
        assert table.scroll_y == 0 and table.new_above == 0
        # Pushed to the last row in view, it stays there: the view no longer follows,
        # and what arrives above is counted.
        table.apply(_numbered(50 + page - 1), follow=True)
        await pilot.pause()
        await pilot.pause()
        assert table.highlighted_key == "k49" and table.scroll_y == 0
        assert _screen_row(table) == page - 1
        table.apply(_numbered(50 + page + 2), follow=True)
        await pilot.pause()
        await pilot.pause()
        assert table.highlighted_key == "k49" and _screen_row(table) == page - 1
        assert table.new_above == 3
        table.focus()
        await pilot.press("g")  # back to the top: the newest, followed again
        await pilot.pause()
        assert table.highlighted_key == f"k{50 + page + 1}" and table.new_above == 0


async def _thirty_rows_down(pilot) -> KeyedTable:
    """A newest-first table of 100 rows, the cursor moved 30 rows down by keys."""
    table = pilot.app.query_one(KeyedTable)
    table.focus()
    table.apply(_numbered(100), follow=True)
    await pilot.pause()
    await pilot.press(*["j"] * 30)
    await pilot.pause()
    return table


async def test_below_the_first_row_the_row_keeps_its_place_and_new_rows_are_counted() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = await _thirty_rows_down(pilot)
        key, place = table.highlighted_key, _screen_row(table)
        assert table.scroll_y > 0
        table.apply(_numbered(107), follow=True)
        assert _screen_row(table) == place  # in the same frame: no jump down and back
        await pilot.pause()
        await pilot.pause()
        assert table.highlighted_key == key and _screen_row(table) == place
        assert table.new_above == 7
        await pilot.press("g")
        await pilot.pause()
        assert table.cursor_row == 0 and table.new_above == 0 and table.scroll_y == 0


async def test_without_follow_the_first_row_keeps_its_row_too() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(KeyedTable)
        table.apply(_numbered(10))
        await pilot.pause()
        table.apply(_numbered(12))
        await pilot.pause()
        # The two new rows are on screen (all twelve fit): seen, so not counted.
        assert table.highlighted_key == "k9" and table.new_above == 0


async def test_a_scroll_by_the_wheel_takes_the_cursor_along() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(KeyedTable)
        table.apply(_numbered(100))
        await wait_for(pilot, lambda: not table._settling, "the rows laid out")
        table.scroll_to(y=60, animate=False)  # what the wheel and the scrollbar do
        await wait_for(pilot, lambda: table.scroll_y == 60 and _on_screen(table), "row 60")
        table.scroll_to(y=0, animate=False)
        await wait_for(pilot, lambda: table.scroll_y == 0 and _on_screen(table), "the top")


async def test_row_keys_as_in_less_and_home_never_scrolls_sideways() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 20)) as pilot:
        table = app.query_one(KeyedTable)
        table.focus()
        rows = [(key, (cells[0], cells[1], styled("x" * 200))) for key, cells in _numbered(60)]
        table.apply(rows)
        await pilot.pause()
        await pilot.press("j", "j", "k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == 59
        await pilot.press("home")
        assert table.cursor_row == 0 and table.scroll_x == 0
        await pilot.press("end")
        assert table.cursor_row == 59 and table.scroll_x == 0
        await pilot.press("g", "pagedown")
        assert table.cursor_row > 10
        await pilot.pause()
        assert _on_screen(table)


async def test_columns_fit_without_a_horizontal_scrollbar_and_hold_their_widths() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(KeyedTable)
        layouts = []
        for tick in range(12):
            rows = [
                (f"k{i}", (styled(f"k{i}"), styled(f"{tick * 0.9:.1f}s"), styled("y" * 300)))
                for i in range(30)
            ]
            table.apply(rows)
            await pilot.pause()
            layouts.append(table.layout)
            assert table.virtual_size.width <= table.size.width
            assert not table.show_horizontal_scrollbar
        assert len(set(layouts[3:])) == 1  # "9.9s" → "10.8s" widened once, then held
        last = "".join(segment.text for segment in table.render_line(1)).rstrip()
        assert last.endswith("…")


async def test_rows_out_of_view_get_their_new_cells_as_they_come_into_view() -> None:
    """A refresh that changes every row (every age ticks) updates the rows in view now,
    and the others as a scroll, a key or the cursor brings them into view."""
    app = TableApp()
    async with app.run_test(size=(80, 30)) as pilot:
        table = app.query_one(KeyedTable)
        keys = [f"k{i}" for i in range(300)]
        table.apply(_rows(keys, dict.fromkeys(keys, 1)))
        await pilot.pause()
        rows = _rows(keys, dict.fromkeys(keys, 2))
        table.apply(rows)
        await pilot.pause()

        def in_view() -> list[tuple[str, list[str]]]:
            top = round(table.scroll_y)
            return _shown(table)[top : top + table.size.height - 1]

        def expected_in_view() -> list[tuple[str, list[str]]]:
            top = round(table.scroll_y)
            return _expected(rows)[top : top + table.size.height - 1]

        assert in_view() == expected_in_view()
        for keys_pressed in (("G",), ("pageup", "pageup"), ("g",)):
            await pilot.press(*keys_pressed)
            await pilot.pause()
            assert in_view() == expected_in_view(), keys_pressed
        table.scroll_to(y=150, animate=False, immediate=True)  # the wheel or the scrollbar
        await pilot.pause()
        assert in_view() == expected_in_view()


async def test_a_changed_cell_repaints_its_row_alone_and_no_stale_render_survives() -> None:
    """A tick of a few ages repaints their rows, not the table (``tui.panes.inplace``):
    on this Textual the in-place path is taken, only the changed rows' lines are
    refreshed, and what is drawn equals a render from scratch."""
    app = TableApp()
    async with app.run_test(size=(80, 30)) as pilot:
        table = app.query_one(KeyedTable)
        keys = [f"k{i}" for i in range(50)]
        version = dict.fromkeys(keys, 1)
        table.apply(_rows(keys, version))
        await pilot.pause()
        table.move_cursor(row=3)
        await pilot.pause()
        before = _drawn(table)
        repainted: list[Region] = []
        original = table.refresh

        def recording_refresh(*regions: Region, **kwargs: object) -> KeyedTable:
            repainted.extend(regions or [Region(0, 0, table.size.width, table.size.height)])
            return original(*regions, **kwargs)  # type: ignore[arg-type]

        table.refresh = recording_refresh  # type: ignore[method-assign]
        cache = table._cell_render_cache
        unchanged_id = {k: cache.get(k) for k in cache.keys() if k[0] == "k3" and k[1] == "id"}  # noqa: SIM118
        assert unchanged_id
        version["k3"] = version["k7"] = 2
        table.apply(_rows(keys, version))
        await pilot.pause()
        table.refresh = original  # type: ignore[method-assign]
        # The row's unchanged cell was not rendered again: its cached render is the same.
        assert all(cache.get(k) is render for k, render in unchanged_id.items())
        assert {region.y for region in repainted} == {1 + 3, 1 + 7}  # below the header row
        assert all(region.height == 1 for region in repainted)
        after = _drawn(table)
        assert after == _drawn_from_scratch(table)
        changed = [y for y, (old, new) in enumerate(zip(before, after, strict=True)) if old != new]
        assert changed == [1 + 3, 1 + 7]
        assert "v2" in after[1 + 3] and "v2" in after[1 + 7]


async def test_new_rows_scrolled_into_view_are_no_longer_counted() -> None:
    """The "▲ N new above" stayed up after the new rows were in plain view."""
    app = TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = await _thirty_rows_down(pilot)
        table.apply(_numbered(107), follow=True)
        await pilot.pause()
        assert table.new_above == 7 and table.scroll_y >= 7
        # Newest first: the seven new rows are the first seven; the view starting at
        # the fifth shows three of them.
        table.scroll_to(y=4, animate=False)
        await pilot.pause()
        assert table.new_above == 4 and table.cursor_row > 0
        table.scroll_to(y=0, animate=False)
        await pilot.pause()
        assert table.new_above == 0  # all seen, though the cursor never went to the top


async def test_a_refill_measures_no_cell_yet_draws_as_from_scratch(monkeypatch) -> None:
    """DataTable measures every cell of its new rows to size automatic columns; every
    column here has a width already, so a refill of 500 rows must not pay 1,500
    measures (tens of milliseconds of the UI thread) and must draw the same."""
    measured: list[object] = []
    real_measure = data_table_module.measure

    def counting(console, renderable, default, **kwargs):  # type: ignore[no-untyped-def]
        measured.append(renderable)
        return real_measure(console, renderable, default, **kwargs)

    monkeypatch.setattr(data_table_module, "measure", counting)
    app = TableApp()
    async with app.run_test(size=(80, 30)) as pilot:
        table = app.query_one(KeyedTable)
        table.apply(_rows(["first"], {"first": 1}))
        await pilot.pause()
        keys = [f"k{index}" for index in range(500)]
        measured.clear()
        table.apply(_rows(keys, dict.fromkeys(keys, 3)))  # every row new: a refill
        await pilot.pause()
        assert table.row_count == 500
        assert len(measured) < len(COLUMNS) * 2  # the labels at most, never the cells
        assert _drawn(table) == _drawn_from_scratch(table)
        assert table.virtual_size.width <= table.size.width  # no horizontal scrollbar


async def test_a_new_view_that_keeps_its_row_below_the_top_counts_every_row_above() -> None:
    """Sorting back to newest first (or clearing a filter) keeps the highlighted job,
    deep in the list: the rows above it were not counted, only later arrivals."""
    app = TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = await _thirty_rows_down(pilot)
        key = table.highlighted_key
        table.apply(list(reversed(_numbered(100))), fresh=True)  # another order: oldest first
        await pilot.pause()
        table.apply(_numbered(100), follow=True, fresh=True)  # back to newest first
        await pilot.pause()
        await pilot.pause()
        assert table.highlighted_key == key
        above_view = min(round(table.scroll_y), table.cursor_row)
        assert above_view > 0 and table.new_above == above_view
        await pilot.press("g")
        await pilot.pause()
        assert table.new_above == 0


async def test_a_new_view_sizes_its_columns_at_once() -> None:
    """Narrowing waits ``SHRINK_AFTER`` refreshes within a view; a filter that leaves only
    short ids must not keep the ID column as wide as the longest id before it."""
    app = TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(KeyedTable)
        version = {"a-very-long-identifier-of-a-job": 1, "k1": 1}
        table.apply(_rows(list(version), version))
        await pilot.pause()
        wide = dict(table.layout)["id"]
        table.apply(_rows(["k1"], version))  # the same view, a refresh later: steady
        await pilot.pause()
        assert dict(table.layout)["id"] == wide
        table.apply(_rows(["k1"], version), fresh=True)  # a new view
        await pilot.pause()
        assert dict(table.layout)["id"] < wide


async def test_a_column_a_gone_value_widened_narrows_within_seconds() -> None:
    """A job with a 64-character id, deleted, kept the ID column 64 cells wide for 30
    refreshes, which a person read as for good; it narrows after ``SHRINK_AFTER``."""
    app = TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(KeyedTable)
        version = {"a-very-long-identifier-of-a-job": 1, "k1": 1}
        table.apply(_rows(list(version), version))
        await pilot.pause()
        wide = dict(table.layout)["id"]
        for _ in range(SHRINK_AFTER - 1):
            table.apply(_rows(["k1"], version))
        await pilot.pause()
        assert dict(table.layout)["id"] == wide  # steady for a few refreshes
        table.apply(_rows(["k1"], version))
        await pilot.pause()
        assert dict(table.layout)["id"] < wide
        assert SHRINK_AFTER <= 10  # seconds at the default refresh, not half a minute


def test_a_column_that_varied_counts_as_saying_something_for_a_while() -> None:
    """At 80 columns the Queues pane swapped Failed, Done and Blocked in and out every
    few seconds (13 layouts in 30 s of an operator's try) and the Workers pane swapped
    PID and Slots for Job, each time one row briefly differed: a column the same on
    every row gives way first, and that judgement changed with every refresh. Now a
    column that varies says something at once, and nothing only ``UNIFORM_AFTER``
    refreshes after it last varied; one first seen the same counts so at once."""
    from tui.panes.table import UNIFORM_AFTER

    table = KeyedTable(COLUMNS)
    keys = [spec.key for spec in COLUMNS]
    widths = [4] * len(keys)
    same, varied = [True] * len(keys), [False] + [True] * (len(keys) - 1)
    table._learn(widths, same)
    assert table._uniform[keys[0]] is True
    table._learn(widths, varied)
    assert table._uniform[keys[0]] is False
    for _ in range(UNIFORM_AFTER - 1):
        table._learn(widths, same)
        assert table._uniform[keys[0]] is False
    table._learn(widths, same)
    assert table._uniform[keys[0]] is True
    assert all(table._uniform[key] for key in keys[1:])
