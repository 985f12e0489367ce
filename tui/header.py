"""The header: live counts per state, workers busy/idle, and a throughput sparkline."""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from queuectl.store.models import JobState
from queuectl.textsafe import one_line
from queuectl.wording import counted
from queuectl.wording import rate as rate_figure
from tui.cells import STATE_STYLES
from tui.data import SPARK_BUCKET_SECONDS, SPARK_BUCKETS, Snapshot
from tui.spark import first_bucket, merged, steady_sparkline

NARROW = 98
"""Below this many columns the header drops words, never numbers."""
TINY = 70
"""Below this many cells the state names are cut (also whenever the full names would not
fit: seven states with large counts pass 80 columns)."""


def _compact(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M"
    if count >= 10_000:
        return f"{count / 1000:.0f}k"
    return f"{count:,}"  # 9,005, as the Jobs pane's "500 of 9,018" counts


def counts_text(counts: dict[str, int], *, narrow: bool = False) -> Text:
    """``3 pending  2 processing …``; narrow, ``3 pend  2 proc …`` so all seven fit in 60."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for index, state in enumerate(JobState):
        if index:
            text.append(" " if narrow else "  ")
        name = state.value[:4] if narrow else state.value
        text.append(_compact(counts.get(state.value, 0)), style=STATE_STYLES[state])
        text.append(f" {name}", style="dim" if not counts.get(state.value) else "")
    return text


def fit_location(location: str, room: int) -> str:
    """The database location cut from the left: the file name matters most."""
    location = one_line(location)
    if room <= 0:
        return ""
    if len(location) > room:
        return "…" + location[-(room - 1) :] if room > 1 else "…"
    return location


LOCATION_ROOM = 14
"""Cells the database location keeps beside the paused queues' names (``…/queuectl.db``)."""


def queue_names(names: list[str], room: int) -> str:
    """Queues (paused, or with no worker) in at most ``room`` cells: up to three whole
    names and "+N" for the rest; else the first name cut; else how many. The count is
    never dropped (a long list of names pushed the throughput, the rate and the location
    off an 80-column header)."""
    for shown in range(min(3, len(names)), 0, -1):
        rest = f" +{len(names) - shown}" if len(names) > shown else ""
        text = ",".join(names[:shown]) + rest
        if cell_len(text) <= room:
            return text
    rest = f" +{len(names) - 1}" if len(names) > 1 else ""
    keep = room - cell_len(rest) - 1
    if keep >= 4:
        return set_cell_size(names[0], keep) + "…" + rest
    return counted(len(names), "queue")


class StatsHeader(Vertical):
    """Two lines that tell an operator at a glance whether the queue is healthy.

    Each part is redrawn only when its text changed, so an idle dashboard does
    not lay the screen out again every second.
    """

    def __init__(self, location: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.location = location
        self._shown: dict[str, Text] = {}
        self._snapshot: Snapshot | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("queuectl · loading…", style="dim"), id="counts")
        with Horizontal(id="header-line2"):
            yield Static("", id="workers-summary")
            yield Static(Text(steady_sparkline([0.0] * SPARK_BUCKETS)), id="throughput")
            yield Static("", id="rate")
            yield Static("", id="db-location")

    @property
    def narrow(self) -> bool:
        return 0 < self.size.width < NARROW

    def _put(self, widget_id: str, text: Text, *, layout: bool = False) -> None:
        if self._shown.get(widget_id) == text:
            return
        self._shown[widget_id] = text
        self.query_one(f"#{widget_id}", Static).update(text, layout=layout)
        if layout:  # the room left for the location changed
            self.call_after_refresh(self._show_location)

    def on_resize(self) -> None:
        self.set_class(self.narrow, "-narrow")
        if self._snapshot is not None:
            self.show(self._snapshot)
        self.call_after_refresh(self._show_location)

    def show(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        counts = counts_text(snapshot.counts)
        room = self.query_one("#counts", Static).size.width or self.size.width
        if 0 < self.size.width < TINY or 0 < room < counts.cell_len:
            counts = counts_text(snapshot.counts, narrow=True)  # every number still shows
        self._put("counts", counts)
        workers, bars, label = self._second_line(snapshot, compact=self.narrow)
        if workers is None:  # the queues' names did not fit: the sparkline gives way first
            workers, bars, label = self._second_line(snapshot, compact=True, cut=True)
        assert workers is not None
        self.set_class(len(bars) < SPARK_BUCKETS, "-compact")
        self._put("workers-summary", workers, layout=True)
        self._put("throughput", Text(bars, style="cyan", no_wrap=True))
        self._put("rate", Text(label, style="dim"), layout=True)

    def _second_line(
        self, snapshot: Snapshot, *, compact: bool, cut: bool = False
    ) -> tuple[Text | None, str, str]:
        """The workers' summary with the queues to act on, the sparkline and the rate.

        ``compact`` puts two buckets in a character (15 columns for the five minutes).
        Without ``cut``, ``None`` when a queue's name would be cut:
        the caller tries again compact, and cuts only then."""
        narrow = self.narrow
        workers = Text(no_wrap=True)
        workers.append("" if narrow else "workers ", style="dim")
        workers.append(str(snapshot.workers_busy), style=STATE_STYLES["busy"])
        workers.append(" busy ", style="dim")
        workers.append(str(snapshot.workers_idle), style=STATE_STYLES["idle"])
        workers.append(" idle", style="dim")
        if snapshot.workers_lost:
            workers.append(f" {snapshot.workers_lost}", style=STATE_STYLES["lost"])
            workers.append(" lost", style="dim")
        first = first_bucket(snapshot.now, SPARK_BUCKETS, SPARK_BUCKET_SECONDS)
        bars = steady_sparkline(merged(snapshot.throughput, 2 if compact else 1, first=first))
        minutes = SPARK_BUCKETS * SPARK_BUCKET_SECONDS / 60
        rate = sum(snapshot.throughput) / minutes
        short_label = f"{rate_figure(rate)}/min"
        label = short_label if narrow else f"{rate_figure(rate)} jobs/min (last {minutes:.0f}m)"
        paused = sorted(s.name for s in snapshot.steered if s.paused)
        # A paused queue is named once, as paused: no worker would take its jobs anyway.
        unserved = sorted(set(snapshot.unserved.queues) - set(paused))
        for names, lead, lead_style, style in (
            (unserved, "  ⚠ no worker: ", "red", "bold red"),
            (paused, "  ⏸ " if narrow else "  paused ", "dim", "bold yellow"),
        ):
            if not names:
                continue
            shown = [one_line(name) for name in names]  # from the database: a hostile row's too
            workers.append(lead, style=lead_style)
            gaps = 4 if narrow else 7  # the margins after the summary, sparkline and rate
            taken = workers.cell_len + len(bars) + gaps + LOCATION_ROOM
            room = (self.content_region.width or 200) - taken
            if room - len(label) < len(f"{len(shown)} queues"):
                label = short_label  # the rate's words go before the queues' count
            fitted = queue_names(shown, room - len(label))
            if not cut and fitted != ",".join(shown):
                return None, bars, label
            workers.append(fitted, style=style)
        return workers, bars, label

    def _show_location(self) -> None:
        for where in self.query("#db-location").results(Static):  # none while closing
            room = where.size.width
            self._put("db-location", Text(fit_location(self.location, room), style="dim"))
