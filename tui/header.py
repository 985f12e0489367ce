"""The header: live counts per state, workers busy/idle, and a throughput sparkline."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from queuectl.location import short_names
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


LETTERS = {
    JobState.PENDING: "p",
    JobState.BLOCKED: "b",
    JobState.PROCESSING: "r",
    JobState.COMPLETED: "c",
    JobState.FAILED: "f",
    JobState.DEAD: "d",
    JobState.CANCELLED: "x",
}
"""A state in one letter, for a header too narrow for its four (``r``: running)."""


def counts_text(counts: dict[str, int], *, narrow: bool = False, tiny: bool = False) -> Text:
    """``3 pending  2 processing …``; narrow, ``3 pend  2 proc …`` so all seven fit in 60;
    tiny (a phone's 43 columns), the states with none left out and the rest in a letter,
    ``14p 18c 6d 1x``: cut at the edge, the dead count read as failed's and cancelled's
    was gone (a web user's try)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    shown = [state for state in JobState if counts.get(state.value) or not tiny]
    for index, state in enumerate(shown):
        count = counts.get(state.value, 0)
        if index:
            text.append(" " if narrow or tiny else "  ")
        text.append(_compact(count), style=STATE_STYLES[state])
        if tiny:
            text.append(LETTERS[state])
            continue
        name = state.value[:4] if narrow else state.value
        text.append(f" {name}", style="dim" if not count else "")
    return text


class LocationText:
    """The database's name, fitted to the cells its widget has when it is drawn.

    The longest of ``names`` (``queuectl.location.short_names``) that fits, else the
    last one cut from the left (a file's name, a schema, matter most). Fitted when
    drawn, not when the line's words change: the sparkline narrowing (its width is
    set by a class) left the location fitted to the room it had before, and the
    line's end, the part kept on purpose, was clipped off at the screen's edge.
    """

    def __init__(self, names: tuple[str, ...], suffix: str = "") -> None:
        self.names = tuple(one_line(name) + suffix for name in names)

    def fitted(self, room: int) -> str:
        """The name drawn in ``room`` cells."""
        if room <= 0:
            return ""
        for name in self.names:
            if cell_len(name) <= room:
                return name
        last = self.names[-1]
        return "…" + _end_within(last, room - 1) if room > 1 else "…"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(self.fitted(options.max_width), style="dim", no_wrap=True, justify="right")

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, max(cell_len(name) for name in self.names)).clamp(
            max_width=options.max_width
        )


def _end_within(text: str, cells: int) -> str:
    """The longest end of ``text`` that fits in ``cells`` terminal cells."""
    kept = ""
    for char in reversed(text):
        if cell_len(kept) + cell_len(char) > cells:
            break
        kept = char + kept
    return kept


LOCATION_ROOM = 14
"""Cells the database location keeps at least beside the queues' names (``…/queuectl.db``)."""

LOCATION_ROOM_MOST = 26
"""The most it keeps: a longer name is cut, from the left (see ``location_room``)."""


def location_room(names: tuple[str, ...]) -> int:
    """The cells the location keeps on the second line: a file's name and the ``…``
    before it, or a server's shortest name (``jobs, schema reports``), between
    ``LOCATION_ROOM`` and ``LOCATION_ROOM_MOST`` (``production-jobs-queue.sqlite3`` was
    cut to ``…-queue.sqlite3`` while the line kept its words)."""
    name = one_line(names[-1])
    if len(names) == 1:  # a path: its file's name
        name = name.rstrip("/").rpartition("/")[2]
    return max(LOCATION_ROOM, min(LOCATION_ROOM_MOST, cell_len(name) + 2))


PAUSE_MARK = "‖"
"""The paused queues' mark where words do not fit. ``⏸`` is in neither the web dashboard's
font nor the fonts a browser falls back to on a plain Linux desktop: it drew as a blank, and
the paused count read as part of the "no worker" warning beside it."""


def queue_names(names: list[str], room: int) -> str:
    """Queues (paused, or with no worker) in at most ``room`` cells: up to three whole
    names and "+N" for the rest; else the first name cut; else how many (or the one name,
    when it is no longer than "1 queue"). The count is never dropped (a long list of names
    pushed the throughput, the rate and the location off an 80-column header)."""
    for shown in range(min(3, len(names)), 0, -1):
        rest = f" +{len(names) - shown}" if len(names) > shown else ""
        text = ",".join(names[:shown]) + rest
        if cell_len(text) <= room:
            return text
    rest = f" +{len(names) - 1}" if len(names) > 1 else ""
    keep = room - cell_len(rest) - 1
    if keep >= 4:
        return set_cell_size(names[0], keep) + "…" + rest
    count = counted(len(names), "queue")
    if len(names) == 1 and cell_len(names[0]) <= cell_len(count):
        return names[0]
    return count


@dataclass(frozen=True)
class Squeeze:
    """How much the header's second line gives up to fit: the sparkline's width, the
    rate's words, the queues' words, their names past the first, the sparkline."""

    merge: int
    """Sparkline buckets a character: 1 (30 columns) or 2 (15); 0 drops it."""
    long_label: bool
    long_leads: bool
    cut_names: bool


_LOOSER_FIRST = ((1, True, True), (2, False, True), (2, False, False))
SQUEEZES = (
    # Whole names first, however little else is said; then names cut, saying as much
    # else as fits (13 queues never fit whole, and at 160 columns that cost the words
    # and the sparkline when only the names needed cutting); then no sparkline.
    *(Squeeze(merge, label, leads, cut_names=False) for merge, label, leads in _LOOSER_FIRST),
    *(Squeeze(merge, label, leads, cut_names=True) for merge, label, leads in _LOOSER_FIRST),
    Squeeze(merge=0, long_label=False, long_leads=False, cut_names=True),
)


@dataclass(frozen=True)
class SecondLine:
    """The header's second line, fitted: the summary (workers and the queues to act on),
    the sparkline (``""`` when dropped) and the rate."""

    summary: Text
    bars: str
    label: str


def second_line(
    snapshot: Snapshot, width: int, *, narrow: bool, keep: int = LOCATION_ROOM
) -> SecondLine:
    """The most the line can say in ``width`` cells with ``keep`` left for the database's
    location (``location_room``): each ``SQUEEZES`` step in turn, the last one whatever it gives.

    At 80 columns a lost worker, a queue with no worker and a paused one took the
    location and the rate's unit off the line."""
    paused_names = {s.name for s in snapshot.steered if s.paused}
    paused = sorted(one_line(name) for name in paused_names)
    # A paused queue no worker serves is named under both, as ``status`` warns of it: named
    # as paused alone, resuming it looked like all it took for its jobs to run. Those whose
    # jobs would run now but for a worker come first, where a cut list keeps them.
    unserved = [
        one_line(name)
        for name in sorted(snapshot.unserved.queues, key=lambda name: (name in paused_names, name))
    ]
    minutes = SPARK_BUCKETS * SPARK_BUCKET_SECONDS / 60
    rate = rate_figure(sum(snapshot.throughput) / minutes)
    first = first_bucket(snapshot.now, SPARK_BUCKETS, SPARK_BUCKET_SECONDS)
    steps = [step for step in SQUEEZES if not (narrow and (step.merge == 1 or step.long_label))]
    line = None
    for step in steps:
        last = step is steps[-1]
        bars = (
            steady_sparkline(merged(snapshot.throughput, step.merge, first=first))
            if step.merge
            else ""
        )
        label = f"{rate} jobs/min (last {minutes:.0f}m)" if step.long_label else f"{rate}/min"
        margin = 1 if narrow else 2  # after the summary and after the rate (app.tcss)
        fixed = len(bars) + (1 if bars else 0) + len(label) + 2 * margin + keep
        summary = _workers_summary(snapshot, narrow)
        sections = (
            (unserved, "  ⚠ no worker: " if step.long_leads else "  ⚠ ", "red", "bold red"),
            (paused, "  paused " if step.long_leads else f"  {PAUSE_MARK} ", "dim", "bold yellow"),
        )
        whole = first_whole = True
        for index, (names, lead, lead_style, style) in enumerate(sections):
            if not names:
                continue
            summary.append(lead, style=lead_style)
            later = sum(  # the sections after this one keep the least room they can take
                cell_len(later_lead) + _least_cells(later_names)
                for later_names, later_lead, _, _ in sections[index + 1 :]
                if later_names
            )
            room = width - fixed - summary.cell_len - later
            text = ",".join(names)
            if cell_len(text) > room:
                whole = False
                if step.cut_names:
                    text = queue_names(names, room)
                    first_whole &= text == names[0] or text.startswith(
                        (f"{names[0]},", f"{names[0]} +")
                    )
            summary.append(text, style=style)
        line = SecondLine(summary, bars, label)
        # Names past the first go before anything else; the first name itself only on the
        # last step (at 99 columns "repor… +12" showed where 96 showed "reports +12").
        enough = whole or (step.cut_names and (first_whole or last))
        if enough and summary.cell_len + fixed <= width:
            return line
    assert line is not None
    return line


def _least_cells(names: list[str]) -> int:
    """The fewest cells ``names`` can be shown in: whole, or "N queues" (or the one name)."""
    return min(cell_len(",".join(names)), cell_len(queue_names(names, 0)))


def _workers_summary(snapshot: Snapshot, narrow: bool) -> Text:
    """``workers 3 busy 1 idle 2 lost`` (narrow: without ``workers``)."""
    workers = Text(no_wrap=True)
    workers.append("" if narrow else "workers ", style="dim")
    workers.append(str(snapshot.workers_busy), style=STATE_STYLES["busy"])
    workers.append(" busy ", style="dim")
    workers.append(str(snapshot.workers_idle), style=STATE_STYLES["idle"])
    workers.append(" idle", style="dim")
    if snapshot.workers_lost:
        workers.append(f" {snapshot.workers_lost}", style=STATE_STYLES["lost"])
        workers.append(" lost", style="dim")
    return workers


class StatsHeader(Vertical):
    """Two lines that tell an operator at a glance whether the queue is healthy.

    Each part is redrawn only when its text changed, so an idle dashboard does
    not lay the screen out again every second.
    """

    def __init__(self, location: str, *, suffix: str = "", **kwargs: object) -> None:
        """``location`` as given (its short names hold no password); ``suffix`` follows
        the name however it is cut (`` (read-only)``)."""
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.location = LocationText(short_names(location), suffix)
        self._shown: dict[str, Text] = {}
        self._snapshot: Snapshot | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("queuectl · loading…", style="dim"), id="counts")
        with Horizontal(id="header-line2"):
            yield Static("", id="workers-summary")
            yield Static(Text(steady_sparkline([0.0] * SPARK_BUCKETS)), id="throughput")
            yield Static("", id="rate")
            yield Static(self.location, id="db-location")

    @property
    def narrow(self) -> bool:
        return 0 < self.size.width < NARROW

    def _put(self, widget_id: str, text: Text, *, layout: bool = False) -> None:
        if self._shown.get(widget_id) == text:
            return
        self._shown[widget_id] = text
        self.query_one(f"#{widget_id}", Static).update(text, layout=layout)

    def on_resize(self) -> None:
        self.set_class(self.narrow, "-narrow")
        if self._snapshot is not None:
            self.show(self._snapshot)

    def show(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        counts = counts_text(snapshot.counts)
        room = self.query_one("#counts", Static).size.width or self.size.width
        if 0 < self.size.width < TINY or 0 < room < counts.cell_len:
            counts = counts_text(snapshot.counts, narrow=True)  # every number still shows
        if 0 < room < counts.cell_len:
            counts = counts_text(snapshot.counts, tiny=True)
        self._put("counts", counts)
        width = self.content_region.width or 200
        keep = location_room(self.location.names)
        line = second_line(snapshot, width, narrow=self.narrow, keep=keep)
        self.set_class(0 < len(line.bars) < SPARK_BUCKETS, "-compact")
        self.set_class(not line.bars, "-no-spark")
        self._put("workers-summary", line.summary, layout=True)
        self._put("throughput", Text(line.bars, style="cyan", no_wrap=True))
        self._put("rate", Text(line.label, style="dim"), layout=True)
