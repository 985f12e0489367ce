"""Which columns fit, and how wide: the rules behind every dashboard table's layout."""

from __future__ import annotations

from tui.columns import ColumnSpec, fit_columns, total_width
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
    cells = {"id": 8, "attempts": 1, "queue": 7, "died": 6, "exit": 3}
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


def test_long_ids_are_cut_in_the_middle_so_a_schedules_fires_stay_apart() -> None:
    from tui.cells import ID_WIDTH, id_text

    assert id_text("a1b2c3d4") == "a1b2c3d4"
    fires = [id_text(f"backup:20261204T03{minute:02d}00Z") for minute in (7, 8)]
    assert fires == ["backu…T030700Z", "backu…T030800Z"]
    assert all(len(text) == ID_WIDTH for text in fires)
