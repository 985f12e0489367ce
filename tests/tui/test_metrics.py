"""The Metrics screen shows the figures of ``queuectl stats``, per queue, over a window."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable, Sparkline

from queuectl.lifecycle.stats import finished_series
from queuectl.store import db
from tests.conftest import T0
from tests.tui.conftest import seed_job, seed_run, wait_for
from tui.screens.metrics import MetricsScreen


def _finished(job_id: str, queue: str, took: float, *, ok: bool = True, ago: float = 60) -> None:
    state = "completed" if ok else "dead"
    seed_job(
        job_id,
        queue=queue,
        state=state,
        started_at=T0 - ago - took,
        finished_at=T0 - ago,  # as end_locked stamps it: deaths are counted by it
        run_at=T0 - 900,
    )
    seed_run(
        job_id,
        started_at=T0 - ago - took,
        finished_at=T0 - ago,
        duration=took,
        outcome="succeeded" if ok else "failed",
    )


def _row(table: DataTable[Any], key: str) -> list[str]:
    return [str(cell) for cell in table.get_row(key)]


async def test_metrics_per_queue_and_window_with_a_chart(app_for: Any) -> None:
    for index, took in enumerate((1.0, 2.0, 3.0, 4.0)):
        _finished(f"d{index}", "default", took, ago=60 + index)
    _finished("i0", "images", 0.5, ok=False, ago=30)
    _finished("old", "default", 9.0, ago=2 * 3600)  # outside the hour, inside the day
    app = app_for()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = MetricsScreen(clock=lambda: T0)
        app.push_screen(screen)
        # The read is shown in one callback, but each new queue's chart row mounts its
        # bar chart in a later turn of the loop: wait for both (a CI run once looked
        # between the two and found no chart).
        await wait_for(
            pilot,
            lambda: screen.last is not None and len(screen.query(Sparkline)) == 2,
            "the first read and its two charts",
        )
        table = screen.query_one("#metrics-table", DataTable)
        assert _row(table, "default")[:6] == ["default", "0.8", "0.0", "2.0s", "4.0s", "4.0s"]
        assert _row(table, "images")[:3] == ["images", "0.2", "100.0"]
        assert _row(table, "")[0] == "all queues"
        sparks = screen.query(Sparkline)
        assert sum(sparks.first().data) == 4  # default sorts first
        await pilot.press("w", "w")  # the last 24 h: the old job counts too
        await wait_for(pilot, lambda: screen.last is not None and screen.last.window == 2, "24 h")
        await pilot.pause()
        assert _row(table, "default")[5] == "9.0s"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, MetricsScreen), "back")


def test_finished_series_buckets_the_window_by_queue(opened: str) -> None:
    for index in range(3):
        _finished(f"a{index}", "default", 1.0, ago=1 + index)  # the last slice
    _finished("b", "mail", 1.0, ago=299)  # the first slice
    series = finished_series(T0 - 300, T0, 30)
    assert series["default"][-1] == 3 and sum(series["default"]) == 3
    assert series["mail"][0] == 1 and sum(series["mail"]) == 1


@pytest.mark.postgres
def test_finished_series_buckets_alike_on_postgresql(pg_url: str) -> None:
    """PostgreSQL's CAST rounds where SQLite's truncates: the bucket is rounded down on both."""
    db.open_database(pg_url)
    _finished("late", "default", 1.0, ago=10.4)  # 28.96 slices in: bucket 28, not 29
    assert finished_series(T0 - 300, T0, 30)["default"][28] == 1


async def test_m_opens_the_metrics_screen_from_the_panes(app_for: Any) -> None:
    _finished("d0", "default", 1.0)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MetricsScreen), "metrics")
        await wait_for(pilot, lambda: app.screen.last is not None, "its figures")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, MetricsScreen), "back")


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_a_long_queue_name_leaves_every_figure_on_screen(app_for: Any, size) -> None:
    """Sized to its longest name, a 50-character queue pushed Took and Wait off an
    80-column screen, behind a horizontal scrollbar."""
    long_name = "a-very-long-queue-name-that-goes-on-and-on-forever"
    _finished("l0", long_name, 1.5)
    _finished("d0", "default", 2.0)
    app = app_for()
    async with app.run_test(size=size) as pilot:
        screen = MetricsScreen(clock=lambda: T0)
        app.push_screen(screen)
        await wait_for(pilot, lambda: screen.last is not None, "the first read")
        await pilot.pause()
        table = screen.query_one("#metrics-table", DataTable)
        assert table.virtual_size.width <= table.size.width  # nothing behind a scrollbar
        header = "".join(segment.text for segment in table.render_line(0))
        assert "Wait p50" in header
        row = "".join(segment.text for segment in table.render_line(1))
        if size[0] >= len(long_name) + 70:
            assert long_name in row
        else:  # cut in the middle: both ends still tell it apart
            assert "a-ve" in row and "forever" in row and "…" in row
        assert "1.5s" in row
        # The chart's label too: names sharing a prefix stay apart.
        await wait_for(pilot, lambda: long_name in screen._charts, "the long queue's chart")
        await pilot.pause()
        label = screen._charts[long_name][0].children[0]
        drawn = "".join(segment.text for segment in label.render_line(0))
        assert drawn.startswith("a-ver") and "…" in drawn and drawn.rstrip().endswith("forever")
