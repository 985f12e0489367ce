"""The header: live counts per state, workers busy/idle, and a throughput sparkline."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from queuectl.store.models import JobState
from queuectl.textsafe import one_line
from tui.data import SPARK_BUCKET_SECONDS, SPARK_BUCKETS, STATE_STYLES, Snapshot


def _compact(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M"
    if count >= 10_000:
        return f"{count / 1000:.0f}k"
    return str(count)


def counts_text(counts: dict[str, int]) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    for index, state in enumerate(JobState):
        if index:
            text.append("  ")
        text.append(_compact(counts.get(state.value, 0)), style=STATE_STYLES[state])
        text.append(f" {state.value}", style="dim" if not counts.get(state.value) else "")
    return text


class StatsHeader(Vertical):
    """Two lines that tell an operator at a glance whether the queue is healthy."""

    def __init__(self, location: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.location = location

    def compose(self) -> ComposeResult:
        yield Static(Text("queuectl · loading…", style="dim"), id="counts")
        with Horizontal(id="header-line2"):
            yield Static("", id="workers-summary")
            yield Sparkline([0.0] * SPARK_BUCKETS, id="throughput")
            yield Static("", id="rate")
            yield Static(Text(one_line(self.location), style="dim"), id="db-location")

    def show(self, snapshot: Snapshot) -> None:
        self.query_one("#counts", Static).update(counts_text(snapshot.counts))
        where = self.query_one("#db-location", Static)
        location = one_line(self.location)
        room = where.size.width
        if room and len(location) > room:
            location = "…" + location[-(room - 1) :]  # the file name matters most: keep the end
        where.update(Text(location, style="dim"))
        workers = Text(no_wrap=True)
        workers.append("workers ", style="dim")
        workers.append(str(snapshot.workers_busy), style=STATE_STYLES["busy"])
        workers.append(" busy ", style="dim")
        workers.append(str(snapshot.workers_idle), style=STATE_STYLES["idle"])
        workers.append(" idle", style="dim")
        self.query_one("#workers-summary", Static).update(workers)
        self.query_one("#throughput", Sparkline).data = snapshot.throughput
        minutes = SPARK_BUCKETS * SPARK_BUCKET_SECONDS / 60
        rate = sum(snapshot.throughput) / minutes
        self.query_one("#rate", Static).update(
            Text(f"{rate:.1f} jobs/min (last {minutes:.0f}m)", style="dim")
        )
