"""Which columns fit, and how wide: the rules behind every dashboard table's layout."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from tui.cells import ID_WIDTH, measure_parts
from tui.columns import ColumnSpec, fit_columns, total_width
from tui.fit import MiddleCut
from tui.panes.dlq import DlqPane
from tui.panes.jobs import JobsPane


def _labels(specs: list[ColumnSpec]) -> dict[str, int]:
    return {spec.key: len(spec.label) for spec in specs}


JOB_CELLS = {
    "id": 8,
    "state": 10,
    "priority": 1,
    "attempts": 3,
    "queue": 7,
    "age": 6,
    "duration": 5,
    "worker": 7,
    "command": 90,
}


def _jobs(available: int, uniform: dict[str, bool] | None = None) -> dict[str, int]:
    specs = JobsPane.COLUMNS
    layout = fit_columns(specs, _labels(specs), JOB_CELLS, uniform or {}, available)
    assert total_width(layout) <= available
    return dict(layout)


def test_everything_fits_a_wide_screen_and_the_command_takes_the_rest() -> None:
    widths = _jobs(159)
    assert list(widths) == [spec.key for spec in JobsPane.COLUMNS]
    assert widths["command"] == 159 - sum(w + 2 for k, w in widths.items() if k != "command") - 2


def test_at_80_columns_low_value_columns_give_way_to_the_command() -> None:
    widths = _jobs(79, {"queue": True})
    assert "queue" not in widths and "worker" not in widths and "duration" not in widths
    assert list(widths)[:2] == ["id", "state"]
    assert widths["command"] >= 30


def test_a_column_with_one_value_goes_before_a_more_useful_one() -> None:
    """Pri (drop order 4) with every row at 0 goes before Worker (2) when one must go."""
    some = _jobs(99, {"priority": True})
    assert "priority" not in some and "worker" in some
    assert "priority" in _jobs(99) and "queue" not in _jobs(99)


def test_widths_follow_the_widest_cell_within_their_bounds() -> None:
    specs = [
        ColumnSpec("age", "Age", min_width=6, max_width=10),
        ColumnSpec("rest", "Rest", flex=1),
    ]
    narrow = dict(fit_columns(specs, _labels(specs), {"age": 3, "rest": 5}, {}, 60))
    wide = dict(fit_columns(specs, _labels(specs), {"age": 30, "rest": 5}, {}, 60))
    assert narrow["age"] == 6 and wide["age"] == 10


def test_two_flexible_columns_share_by_weight_and_a_short_one_gives_the_rest_away() -> None:
    specs = DlqPane.COLUMNS
    cells = {"id": 8, "attempts": 1, "queue": 7, "died": 6}
    both_long = dict(
        fit_columns(specs, _labels(specs), {**cells, "command": 200, "error": 200}, {}, 119)
    )
    assert both_long["command"] > both_long["error"] > 16
    short_command = dict(
        fit_columns(specs, _labels(specs), {**cells, "command": 12, "error": 200}, {}, 119)
    )
    assert short_command["command"] == 12
    assert total_width(tuple(short_command.items())) == 119


def test_a_label_is_never_cut() -> None:
    specs = [ColumnSpec("a", "Long label", max_width=3), ColumnSpec("b", "B", flex=1)]
    assert dict(fit_columns(specs, _labels(specs), {"a": 1, "b": 1}, {}, 40))["a"] == 10


def test_a_short_command_is_owed_only_its_width_so_columns_stay() -> None:
    specs = JobsPane.COLUMNS
    cells = {"id": 23, "state": 9, "priority": 1, "attempts": 3, "queue": 6, "age": 3}
    cells |= {"duration": 4, "worker": 7}
    varied = {key: False for key in cells}
    short = dict(fit_columns(specs, _labels(specs), {**cells, "command": 12}, varied, 100))
    long = dict(fit_columns(specs, _labels(specs), {**cells, "command": 200}, varied, 100))
    assert short["id"] == 23 and len(short) == len(specs) and short["command"] >= 12
    assert ID_WIDTH <= long["id"] < 23 and "queue" not in long and long["command"] == 30


def _drawn(text: Text, width: int) -> str:
    """The line a table cell ``width`` cells wide draws (DataTable renders cells so)."""
    console = Console(width=80, color_system=None)
    [line] = console.render_lines(text, console.options.update_width(width), pad=False)
    return "".join(segment.text for segment in line)


def _cut(text: str) -> MiddleCut:
    return MiddleCut(text, no_wrap=True, overflow="ellipsis")


def test_long_ids_are_cut_in_the_middle_so_a_schedules_fires_stay_apart() -> None:
    # A daily schedule's fires differ in the date: the time after the ':' is kept
    # whole as far as the width allows, before the name.
    fires = [_cut(f"backup:202612{day:02d}T030000Z") for day in (4, 5)]
    assert [_drawn(fire, 14) for fire in fires] == ["b…1204T030000Z", "b…1205T030000Z"]
    assert _drawn(fires[0], 30) == "backup:20261204T030000Z"  # room: the whole id
    assert _drawn(fires[0], 20) == "bac…20261204T030000Z"
    assert _drawn(_cut("deploy-frontend-production"), 14) == "deplo…oduction"  # no ':'
    assert _drawn(_cut("a1b2c3d4"), 8) == "a1b2c3d4"
    assert _drawn(_cut("a1b2c3d4e5"), 6) == "a…d4e5"  # one cell of the start at least
    assert _drawn(_cut("abcdef"), 2) == "a…"  # no room for both ends: the end goes
    # Cells, not characters: a mark before the id, a wide character in an old row's id.
    assert _drawn(_cut("● deploy-frontend-production"), 14) == "● dep…oduction"
    wide = _drawn(_cut("日本語の名前-deploy-production"), 14)
    assert wide == "日本…oduction" and cell_len(wide) <= 14


def test_a_long_id_is_shown_whole_while_there_is_room_and_narrows_before_a_column_goes() -> None:
    specs = JobsPane.COLUMNS
    cells = {"id": 23, "state": 9, "priority": 1, "attempts": 3, "queue": 6, "age": 3}
    cells |= {"duration": 4, "worker": 7, "command": 200}
    varied = {key: False for key in cells}
    wide = dict(fit_columns(specs, _labels(specs), cells, varied, 158))
    assert wide["id"] == 23 and wide["command"] >= 30
    # Narrower: the id gives up what the command needs before any column goes.
    narrower = dict(fit_columns(specs, _labels(specs), cells, varied, 106))
    assert set(narrower) == set(wide)
    assert ID_WIDTH < narrower["id"] < 23 and narrower["command"] == 30
    # At 80 columns it is down to ID_WIDTH, and only then do columns go.
    narrow = dict(fit_columns(specs, _labels(specs), cells, varied, 80))
    assert narrow["id"] == ID_WIDTH and len(narrow) < len(wide)
    # A short id is as narrow as it is, whatever the room: shrinking never widens.
    short = dict(fit_columns(specs, _labels(specs), {**cells, "id": 8}, varied, 80))
    assert short["id"] == 8
    # A column with one value on every row goes before the id narrows.
    one_queue = dict(fit_columns(specs, _labels(specs), cells, {**varied, "queue": True}, 106))
    assert "queue" not in one_queue and one_queue["id"] > narrower["id"]


def test_a_column_with_one_value_gives_way_as_soon_as_text_would_be_cut() -> None:
    """At 80 columns the DLQ kept Queue ("default" on every row) and Tries while it cut
    every error to 21 cells: they went only once the error got under its 16."""
    specs = DlqPane.COLUMNS
    cells = {"id": 7, "attempts": 1, "queue": 7, "died": 3, "command": 24, "error": 45}
    uniform = {"queue": True, "attempts": True}
    layout = dict(fit_columns(specs, _labels(specs), cells, uniform, 78))
    assert "queue" not in layout and "attempts" not in layout
    assert layout["error"] > 21
    # With room for every cell whole, nothing goes: a column is dropped to uncut text only.
    wide = dict(fit_columns(specs, _labels(specs), cells, uniform, 140))
    assert list(wide) == [spec.key for spec in specs]


def test_a_lone_row_makes_no_column_uniform() -> None:
    """One row holds one value in every column: treated as uniform, a job filtered down
    to itself lost Tries, Took and Worker as soon as its command was cut."""
    rows = [(("j1", ""), ("default", "")), (("j2", ""), ("default", ""))]
    assert measure_parts(rows)[1] == (False, True)
    assert measure_parts(rows[:1])[1] == (False, False)
    widths = _jobs(119, dict.fromkeys(JOB_CELLS, False))
    assert {"attempts", "worker", "duration"} <= set(widths)


def test_room_a_dropped_column_frees_widens_a_narrowed_id_again() -> None:
    """At 80 columns the Jobs pane cut a fire's 31-cell id to 14 cells while the command,
    cut anyway, drew 5 cells over its 30: the drop that made room freed more than needed."""
    specs = JobsPane.COLUMNS
    cells = {"id": 31, "state": 10, "priority": 1, "attempts": 3, "queue": 8, "age": 4}
    cells |= {"duration": 5, "worker": 12, "command": 60}
    varied = dict.fromkeys(cells, False)
    for available in (78, 86, 100):
        layout = dict(fit_columns(specs, _labels(specs), cells, varied, available))
        assert layout["command"] == 30, available  # owed 30, given no more while the id is cut
        assert ID_WIDTH < layout["id"] < 31
        assert total_width(tuple(layout.items())) == available
    # Nothing is given beyond the whole id: the rest goes to the command.
    roomy = dict(fit_columns(specs, _labels(specs), {**cells, "queue": 30}, varied, 100))
    assert roomy["id"] <= 31
