"""The header's second line, fitted as a pure function of the snapshot and the width."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from textual.app import App, ComposeResult

from queuectl.lifecycle.queues import Steering
from tui.data import Snapshot, Unserved
from tui.header import LOCATION_ROOM, NARROW, StatsHeader, second_line


def _crowded() -> Snapshot:
    """A lost worker, thirteen queues nobody serves (one short name, twelve long), a
    paused one: the line that took the location off an 80-column header."""
    unserved = {"reports": 1} | {f"very-long-unserved-queue-{n:02d}": 1 for n in range(12)}
    return Snapshot(
        now=0.0,
        counts={},
        workers_busy=0,
        workers_idle=1,
        workers_lost=1,
        throughput=[0.0] * 30,
        jobs=None,  # type: ignore[arg-type]
        dlq=None,  # type: ignore[arg-type]
        workers=None,  # type: ignore[arg-type]
        settings={},
        steered=[Steering("mail", paused=True)],
        unserved=Unserved(unserved, frozenset(), 0.0),
    )


def _width_taken(width: int) -> tuple[int, str]:
    line = second_line(_crowded(), width, narrow=width < NARROW)
    margin = 1 if width < NARROW else 2
    taken = line.summary.cell_len + len(line.bars) + (1 if line.bars else 0) + len(line.label)
    return taken + 2 * margin + LOCATION_ROOM, line.summary.plain


def test_from_66_columns_the_line_fits_and_never_cuts_the_first_name() -> None:
    """At 99 columns "repor… +12" showed where 96 showed "reports +12": a name was cut
    while the words and the sparkline stayed, so a wider terminal showed less."""
    for width in range(66, 200):
        taken, summary = _width_taken(width)
        assert taken <= width, (width, summary)
        assert "reports" in summary and "…" not in summary, (width, summary)
        assert "mail" in summary and "1 lost" in summary, (width, summary)


def test_words_come_back_before_more_names() -> None:
    assert "⚠ reports +12  ‖ mail" in _width_taken(80)[1]
    assert "⚠ no worker: reports +12  paused mail" in _width_taken(120)[1]
    assert "reports,very-long-unserved-queue-00 +11" in _width_taken(170)[1]


def test_below_that_the_count_is_kept() -> None:
    assert "⚠ 13 queues  ‖ mail" in _width_taken(60)[1]


def test_the_location_keeps_room_for_its_file_name() -> None:
    """``production-jobs-queue.sqlite3`` was cut to ``…-queue.sqlite3`` at 100 columns
    while the line kept its words."""
    from queuectl.location import short_names
    from tui.header import LOCATION_ROOM_MOST, location_room

    def room(location: str) -> int:
        return location_room(short_names(location))

    assert room("/srv/q/queuectl.db") == LOCATION_ROOM
    assert room("/srv/q/production-jobs-queue.sqlite3") == min(
        LOCATION_ROOM_MOST, len("production-jobs-queue.sqlite3") + 2
    )
    assert room("postgresql://u@db:5432/jobs") == LOCATION_ROOM
    assert room("postgresql://u@db:5432/jobs?options=-csearch_path%3Dproduction") == len(
        "schema production  "
    )
    keep = room("/srv/q/production-jobs-queue.sqlite3")
    for width in range(80, 200):
        line = second_line(_crowded(), width, narrow=width < NARROW, keep=keep)
        margin = 1 if width < NARROW else 2
        taken = line.summary.cell_len + len(line.bars) + (1 if line.bars else 0)
        assert taken + len(line.label) + 2 * margin + keep <= width, width


class _HeaderApp(App[None]):
    def __init__(self, location: str) -> None:
        super().__init__()
        self.location = location

    def compose(self) -> ComposeResult:
        yield StatsHeader(self.location)


def _calm() -> Snapshot:
    return replace(_crowded(), workers_lost=0, steered=[], unserved=Unserved({}, frozenset(), 0.0))


def _drawn_location(app: App[None]) -> str:
    return app.query_one("#db-location").render_line(0).text.strip()


@pytest.mark.parametrize("width", [80, 160])
def test_a_servers_location_names_its_database_and_schema_and_is_never_clipped(width):
    """At 80 columns ``…=-csearch_path%3Dtry_control`` named neither host nor database; at
    160 the sparkline narrowing (a class) left the location fitted to its old room, and
    the screen's edge clipped the schema's end off (``…%3Dtry``)."""
    location = "postgresql://postgres:pw@127.0.0.1:5432/test?options=-csearch_path%3Dtry_control"

    async def run() -> None:
        app = _HeaderApp(location)
        async with app.run_test(size=(width, 10)) as pilot:
            header = app.query_one(StatsHeader)
            header.show(_calm())
            await pilot.pause()
            calm = _drawn_location(app)
            header.show(_crowded())  # the sparkline narrows or goes
            await pilot.pause()
            crowded = _drawn_location(app)
        for drawn in (calm, crowded):
            assert drawn.endswith("schema try_control"), (calm, crowded)
            assert "options" not in drawn and "pw" not in drawn

    asyncio.run(run())


def test_at_a_phones_width_every_count_keeps_a_label_and_none_is_lost() -> None:
    """At 43 columns (a phone in a browser) the narrow counts were cut at the edge:
    ``14 pend 0 bloc 0 proc 18 comp 0 fail 6``, the dead count reading as failed's and
    the cancelled one gone (a web user's try). The states with none go, and the rest
    keep a letter each."""

    async def run() -> str:
        app = _HeaderApp("/tmp/q.db")
        async with app.run_test(size=(43, 10)) as pilot:
            header = app.query_one(StatsHeader)
            counts = {"pending": 14, "completed": 18, "dead": 6, "cancelled": 1}
            header.show(replace(_calm(), counts=counts))
            await pilot.pause()
            return app.query_one("#counts").render_line(0).text.strip()

    assert asyncio.run(run()) == "14p 18c 6d 1x"
