"""The Metrics screen (``m``): per queue, how fast jobs finish, how often they fail, how long
they take and wait, over the last 5 minutes, hour or day, with the finishes charted.

The figures are ``queuectl stats``'s (``lifecycle.stats.window_stats``), so the
screen and the CLI can never disagree; the chart is the same "finished" count in
30 slices of the window (``finished_series``). Both are read off the UI thread,
when the screen opens, when the window changes (``w``) and every few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Sparkline, Static
from textual.worker import get_current_worker

from queuectl.errors import StoreUnavailable
from queuectl.lifecycle.stats import Figures, finished_series, window_stats
from queuectl.textsafe import one_line
from queuectl.timeutil import human_duration
from queuectl.wording import rate
from tui.fit import MiddleCut
from tui.readthread import read_thread

WINDOWS: tuple[tuple[str, float], ...] = (
    ("last 5 min", 300.0),
    ("last hour", 3600.0),
    ("last 24 h", 86400.0),
)
SLICES = 30
"""Bars in each queue's chart."""
CHART_LABEL_WIDTH = 16
"""Cells of a chart's queue name."""
RELOAD_SECONDS = 5.0

COLUMNS: tuple[tuple[str, str], ...] = (
    ("queue", "Queue"),
    ("per_minute", "Ended/min"),
    ("failed", "Failed %"),
    ("took_p50", "Took p50"),
    ("took_p95", "p95"),
    ("took_max", "max"),
    ("wait_p50", "Wait p50"),
    ("wait_p95", "p95"),
)
"""Column keys and labels: per minute counts jobs that reached an outcome (completed
or dead, as ``stats``' FINISHED: "Done" read as completed only); failed % is
failed attempts over all attempts that ended; took and wait as ``queuectl stats``."""


@dataclass(frozen=True)
class MetricsRead:
    """One read of the screen's figures."""

    window: int
    queues: list[Figures]
    total: Figures
    series: dict[str, list[int]]


def _seconds(value: float | None) -> str:
    return "—" if value is None else human_duration(value)


def _failure_rate(figures: Figures) -> str:
    attempts = figures.completed + figures.failed_attempts
    return "—" if not attempts else f"{100.0 * figures.failed_attempts / attempts:.1f}"


QUEUE_MIN_WIDTH = 12
"""The narrowest the Queue column gets: a longer name is cut in the middle."""


def column_widths(rows: list[tuple[Text, ...]], room: int, padding: int = 1) -> list[int]:
    """Each column's width: the figures whole, the queue names in what they leave.

    Sized to its longest name, a 50-character queue pushed Took and Wait off an
    80-column screen, behind a horizontal scrollbar.
    """
    widths = [
        max([cell_len(label), *(row[index].cell_len for row in rows)])
        for index, (_, label) in enumerate(COLUMNS)
    ]
    others = sum(widths[1:]) + 2 * padding * len(COLUMNS)
    widths[0] = min(widths[0], max(QUEUE_MIN_WIDTH, room - others))
    return widths


def figure_cells(figures: Figures, name: str) -> tuple[Text, ...]:
    """A row of the table; a queue name is shown inert (it is the user's text)."""
    return (
        MiddleCut(one_line(name), no_wrap=True, overflow="ellipsis"),
        Text(rate(figures.per_minute), justify="right"),
        Text(_failure_rate(figures), justify="right"),
        Text(_seconds(figures.duration_p50), justify="right"),
        Text(_seconds(figures.duration_p95), justify="right"),
        Text(_seconds(figures.duration_max), justify="right"),
        Text(_seconds(figures.wait_p50), justify="right"),
        Text(_seconds(figures.wait_p95), justify="right"),
    )


class MetricsScreen(Screen[None]):
    """Figures per queue over a window; ``w`` cycles the window, ``esc``/``q`` go back."""

    # A chart is SLICES cells wide, one bar a slice: stretched to the screen, Textual's
    # Sparkline drew 36 bars of 30 slices at 80 columns, some slices twice.
    DEFAULT_CSS = f"""
    #metrics {{ padding: 0 1; }}
    #metrics-table {{ height: auto; max-height: 60%; }}
    #metrics-charts {{ height: 1fr; }}
    .metrics-chart {{ height: 1; }}
    .metrics-chart > Static {{ width: {CHART_LABEL_WIDTH}; }}
    .metrics-chart > .metrics-spark {{ width: {SLICES}; margin: 0 1; }}
    .metrics-chart > .metrics-total {{ width: 24; }}
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "next_window", "Window"),
        Binding("escape,q,m", "back", "Back"),
    ]

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.clock = clock
        self.window = 0
        self.last: MetricsRead | None = None
        """What is shown; tests wait for it."""
        self._charts: dict[str, tuple[Horizontal, Sparkline, Static]] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="metrics"):
            yield Static(id="metrics-title")
            yield DataTable(id="metrics-table", cursor_type="row", zebra_stripes=True)
            yield Static(Text("Jobs finished over the window, per queue", style="bold"))
            with VerticalScroll(id="metrics-charts"):
                yield Static(
                    Text("nothing finished in this window", style="dim"), id="metrics-empty"
                )
            yield Static(Text("w: 5 min / hour / 24 h   esc: back", style="dim"))

    def on_mount(self) -> None:
        table = self.query_one("#metrics-table", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)  # sized to the figures once read (``_show``)
        self._title()
        self.reload()
        self.set_interval(RELOAD_SECONDS, self.reload)

    def _title(self, note: str = "") -> None:
        label = WINDOWS[self.window][0]
        text = Text(f"Metrics · {label}", style="bold")
        if note:
            text.append(f" · {note}", style="red")
        self.query_one("#metrics-title", Static).update(text)

    def action_next_window(self) -> None:
        self.window = (self.window + 1) % len(WINDOWS)
        self._title("loading…")
        self.reload()

    def action_back(self) -> None:
        self.dismiss(None)

    def reload(self) -> None:
        self._read(self.window)

    @work(thread=True, exclusive=True, group="metrics", exit_on_error=False, description="metrics")
    def _read(self, window: int) -> None:
        now = self.clock()
        since = now - WINDOWS[window][1]
        try:
            stats, series = read_thread(self.app).run(
                lambda: (window_stats(since, now=now), finished_series(since, now, SLICES))
            )
        except StoreUnavailable as exc:
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._title, f"database unavailable: {exc.explain()}")
            return
        read = MetricsRead(window, stats.queues, stats.total, series)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, read)

    def _show(self, read: MetricsRead) -> None:
        if read.window != self.window or not self.is_mounted:
            return  # the window changed while this was read
        self.last = read
        self._title()
        table = self.query_one("#metrics-table", DataTable)
        rows = [
            (figures.queue or "", figure_cells(figures, figures.queue or ""))
            for figures in read.queues
        ]
        if read.queues:
            rows.append(("", figure_cells(read.total, "all queues")))
        table.clear(columns=True)
        widths = column_widths([cells for _, cells in rows], self._table_room(table))
        for (key, label), width in zip(COLUMNS, widths, strict=True):
            table.add_column(label, key=key, width=width)
        for key, cells in rows:
            table.add_row(*cells, key=key)
        self._chart(read.series)

    def on_resize(self) -> None:
        if self.last is not None:
            self._show(self.last)  # the queue column takes what the figures leave

    def _table_room(self, table: DataTable) -> int:
        """Cells the table's columns share: its width, less a vertical scrollbar's."""
        width = table.size.width or self.size.width - 2
        return width - table.styles.scrollbar_size_vertical

    def _chart(self, series: dict[str, list[int]]) -> None:
        """One bar chart per queue, updated in place (widgets come and go with queues only)."""
        charts = self.query_one("#metrics-charts", VerticalScroll)
        empty = self.query_one("#metrics-empty", Static)
        empty.display = not series
        for queue in [queue for queue in self._charts if queue not in series]:
            self._charts.pop(queue)[0].remove()
        for queue in sorted(series):
            counts = series[queue]
            if queue not in self._charts:
                spark = Sparkline([], classes="metrics-spark")
                total = Static("", classes="metrics-total")
                # Cut here, in the middle: Static draws a Text its own way, cut at the end.
                name = MiddleCut(one_line(queue), no_wrap=True, overflow="ellipsis")
                label = Static(name.cut(CHART_LABEL_WIDTH))
                row = Horizontal(label, spark, total, classes="metrics-chart")
                charts.mount(row)
                self._charts[queue] = (row, spark, total)
            _, spark, total = self._charts[queue]
            spark.data = [float(count) for count in counts]
            total.update(Text(f"{sum(counts):,} in all, peak {max(counts):,}", style="dim"))
