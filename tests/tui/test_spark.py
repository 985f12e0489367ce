"""Sparklines whose bars stay put while the running bucket fills."""

from __future__ import annotations

from tui.spark import merged, steady_sparkline


def test_while_the_last_bucket_fills_only_its_own_bar_moves():
    finished = [3.0, 6.0, 0.0, 12.0, 9.0]
    shown = [steady_sparkline([*finished, running]) for running in (0.0, 1.0, 5.0, 11.0, 30.0)]
    assert {line[:-1] for line in shown} == {"▂▄·█▆"}
    assert [line[-1] for line in shown] == ["·", "▁", "▃", "▇", "█"]  # full past the peak


def test_scaled_from_zero_so_a_new_empty_bucket_moves_nothing():
    before = steady_sparkline([4.0, 8.0, 6.0])
    after = steady_sparkline([4.0, 8.0, 6.0, 0.0])  # the window slid: a bucket starts
    assert before == "▄█▆" and after == before + "·"


def test_no_finished_work_is_dots_and_a_first_bucket_is_its_own_scale():
    assert steady_sparkline([0.0] * 4) == "····"
    assert steady_sparkline([0.0, 0.0, 2.0]) == "··█"
    assert steady_sparkline([]) == ""


def test_merged_sums_neighbours_for_narrow_screens():
    assert merged([1.0, 2.0, 3.0, 4.0, 5.0], 2) == [3.0, 7.0, 5.0]
    assert merged([1.0, 2.0], 1) == [1.0, 2.0]
