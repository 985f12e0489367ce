"""The Jobs pane: the newest jobs, live, filterable and sortable."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import DataTable, Input

from queuectl.lifecycle import manage
from queuectl.lifecycle.edit import EDITABLE
from queuectl.states import JobState, is_held
from queuectl.wording import counted
from tui.cells import ID_WIDTH, TableData
from tui.columns import ColumnSpec
from tui.data import WINDOW, JobFilter, Sort, parse_filter
from tui.inputs import OrderedInput
from tui.keyorder import focus_now
from tui.messages import intend
from tui.panes.marks import MarkingPane

NEW_JOB_REFRESHES = 3
"""Refreshes a job made with ``n`` is looked for, to be highlighted: one begun before it
was stored does not show it yet."""

TYPING_PAUSE = 0.25
"""Seconds without a key in the filter box before what is typed there is applied."""

SORTABLE = ["age", "state", "priority", "attempts", "queue", "duration", "worker", "command", "id"]
NATURAL = "age"
"""The column that shows the natural order (newest enqueued first), youngest at the top.

It is the Age column's only order: a click on its header turns the natural order round.
A second order by the time each cell shows (a delayed job's due time) was also labelled
``Age ▲``, so two different orders looked the same, and a job of a few seconds with a
5-minute delay moved from its place to the top."""


def sort_arrow(sort: Sort) -> tuple[str, str]:
    """The column that shows the sort, and its arrow: ▲ when the top row holds the least value."""
    if sort.column is None:
        return NATURAL, "▼" if sort.reverse else "▲"
    return sort.column, "▼" if sort.reverse else "▲"


class JobsPane(MarkingPane):
    """Every job (newest first, windowed); actions apply to the marked jobs, else the
    highlighted one."""

    PANE = "jobs"

    COLUMNS: ClassVar[list[ColumnSpec]] = [
        ColumnSpec("id", "ID", shrink_to=ID_WIDTH),
        ColumnSpec("state", "State", min_width=10),
        ColumnSpec("priority", "Pri", max_width=6, drop=4),
        ColumnSpec("attempts", "Tries", max_width=7, drop=5),
        ColumnSpec("queue", "Queue", max_width=12, drop=1),
        ColumnSpec("age", "Age", min_width=6, max_width=10),
        ColumnSpec("duration", "Took", min_width=6, max_width=8, drop=3),
        ColumnSpec("worker", "Worker", max_width=12, drop=2),
        ColumnSpec("command", "Command", flex=1, flex_min=30),
    ]
    """The command takes the spare width. Below 30 cells it is given room: first by the
    columns with one value on every row, then by a long id (down to 14 cells, cut in the
    middle), then by Queue, Worker, Took and Pri, in that order."""
    BUTTONS: ClassVar[list[tuple[str, str]]] = [
        ("New", "new"),
        ("Details", "details"),
        ("Retry", "retry"),
        ("Cancel", "cancel"),
        ("Delete", "delete"),
        ("Filter", "filter"),
        ("Sort", "cycle_sort"),
    ]
    NONE_HIGHLIGHTED: ClassVar[str] = "No job is highlighted"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "details", "Details", show=False),
        Binding("l", "log", "Log", show=False, tooltip="The latest run's output, full screen"),
        Binding("r", "retry", "Retry", tooltip="Retry now (failed, dead, cancelled, completed)"),
        Binding("c", "cancel", "Cancel", tooltip="Cancel (asks; kills it if running)"),
        Binding("d", "delete", "Delete", tooltip="Delete with its runs (asks)"),
        Binding("e", "edit", "Edit", tooltip="Edit a waiting, dead or cancelled job"),
        Binding("y", "clone", "Clone", show=False, tooltip="Enqueue a copy"),
        Binding("h", "hold", "Hold", show=False, tooltip="Hold (or release) a waiting job"),
        Binding(
            "H",
            "release",
            "Release",
            show=False,
            tooltip="Release the marked jobs, else the highlighted one",
        ),
        Binding("o", "cycle_sort", "Sort", show=False, tooltip="Sort by the next column"),
        Binding("O", "reverse_sort", "Reverse", show=False, tooltip="Reverse the sort"),
    ]
    """Keys that act on the highlighted job; ``/`` (filter) and ``n`` live on the app."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.job_filter = JobFilter()
        self.sort = Sort()
        self._data: TableData | None = None
        self._view: tuple[JobFilter, Sort] | None = None
        """The filter and sort of the rows shown: a different pair is a new view."""
        self._typing: Timer | None = None
        """Applies what is typed in the filter box once the typing pauses."""
        self._offered: tuple[bool, ...] = ()
        """What the key bar offered last (``_follow_highlighted``)."""
        self._new_job: tuple[str, str | None, int] | None = None
        """A job to highlight once shown, the row highlighted when asked, and how many
        more refreshes to look for it (``highlight_when_shown``)."""

    def compose(self) -> ComposeResult:
        box = OrderedInput(
            placeholder="filter: text  state:failed,dead  queue:NAME  (applies as you type)",
            id="job-filter",
            classes="filter hidden",
            compact=True,
        )
        box.key_hints = (("enter", "To the jobs"), ("escape", "Close"))
        yield box
        yield from super().compose()

    def on_mount(self) -> None:
        self._mark_sort()

    def show(self, data: TableData, job_filter: JobFilter, sort: Sort) -> None:
        """Apply a snapshot's jobs window (read with ``job_filter`` and ``sort``)."""
        self._data = data
        view = (job_filter, sort)
        fresh = self._view is not None and view != self._view
        self._view = view
        # Arrivals above the view are news in any order (sorted by state, sixty jobs
        # landed above the cursor unsaid); a whole view's rows above only newest first.
        self.table.newer_above = sort == Sort()
        self.apply_data(data, follow=sort == Sort(), fresh=fresh)
        self._highlight_the_new_job(data)
        self.show_status()
        self._follow_highlighted()  # the highlighted job's state may have changed

    def highlight_when_shown(self, job_id: str) -> None:
        """Put the cursor on ``job_id`` once a refresh shows it: a job made with ``n``.

        It stayed on the row it was on, ``▲ 1 new above (g)`` said, and a ``g`` then
        ``h`` raced a schedule's fire that had just landed on top (a team lead's try).
        Left alone if the person moves the cursor first, or if the view does not show
        the job (a filter) within a few refreshes."""
        self._new_job = (job_id, self.highlighted, NEW_JOB_REFRESHES)

    def _highlight_the_new_job(self, data: TableData) -> None:
        if self._new_job is None:
            return
        job_id, was, left = self._new_job
        if self.highlighted != was:  # the person moved on meanwhile
            self._new_job = None
        elif any(key == job_id for key, _ in data.rows):
            self._new_job = None
            self.table.select_key(job_id)
        else:
            self._new_job = (job_id, was, left - 1) if left > 1 else None

    def show_status(self) -> None:
        """Say what is shown: how many, the filter, and the jobs that arrived above."""
        data = self._data
        if data is None:
            return
        shown = min(len(data.rows), WINDOW)
        if not data.total and not self.job_filter.active:
            # A newcomer's job sat pending with nothing saying a worker runs it.
            self.set_status("no jobs yet · n: new job · 3: workers")
            return
        parts = [f"{shown} of {data.total:,}" if data.total > shown else counted(shown, "job")]
        if self._kept_is_highlighted(data):
            # The highlighted job, pushed out of the newest ones, is kept after them: the
            # rows read as neighbours though the jobs between are not shown.
            parts[0] += " + the highlighted job, further down"
        if self.job_filter.active:
            parts.append(f"filter: {self.job_filter.describe()}")
        above = self.table.rows_above_view
        if self.sort != Sort() and above:
            # A sort keeps the highlighted job on its screen row, so its first rows were
            # out of sight with nothing saying so: after ``o`` the 2 ms jobs sat above a
            # view that began at 165 ms, and the sort looked wrong (an all-day user). Said
            # beside "▲ 1 new above" too: it went as soon as one job arrived.
            key = "" if self.table.new_above else " (g)"
            parts.append(f"{above:,} {'row' if above == 1 else 'rows'} above{key}")
        self.set_status(" · ".join(parts))

    def _kept_is_highlighted(self, data: TableData) -> bool:
        """Whether the row after the window (the job kept there, ``Request.keep_job``) is
        still the highlighted one: once the cursor leaves it (``g``), it is a job the next
        refresh drops, and the status said "+ the highlighted job" over the top row."""
        return len(data.rows) > WINDOW and self.highlighted == data.rows[-1][0]

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        """The status follows the cursor at once, as the "new above" count does
        (``TablePane``'s handler): the job kept after the window may have just been left."""
        self.show_status()
        self._follow_highlighted()

    RULES: ClassVar[dict[str, manage.Action | None]] = {
        "retry": manage.RETRY,
        "cancel": manage.CANCEL,
        "delete": manage.DELETE,
        "edit": None,  # ``lifecycle.edit.EDITABLE``
    }
    """The keys the bar dims on a job they cannot touch, with the core's rule for each."""

    def offers(self, action: str) -> bool:
        """Whether the key bar shows ``action`` as applying to the highlighted job
        (``KeyBar``): on a completed job it offered Cancel and Edit, each only refused
        (a team lead's try), while the detail screen offered neither. Dimmed, not hidden,
        so the bar does not jump as the cursor passes rows; pressed, the key still says
        why. With marks, every key applies to them."""
        if action not in self.RULES or self.marks or self._data is None:
            return True
        row = self._data.raw.get(self.highlighted or "")
        if row is None:
            return True
        state = row["state"]
        rule = self.RULES[action]
        if rule is None:
            return state in EDITABLE
        return rule.applies_to(state, held=is_held(state, row.get("held_at")))

    def _remark(self) -> None:
        super()._remark()
        self._follow_highlighted()  # with marks, every key applies to them

    def _follow_highlighted(self) -> None:
        """The key bar and the buttons as the highlighted job's state has it: redrawn
        only when what they offer changed, not at every refresh or cursor move."""
        offered = tuple(self.offers(action) for action in self.RULES)
        if offered == self._offered:
            return
        self._offered = offered
        self.refresh_bindings()
        for _label, action in self.BUTTONS:
            if action in self.RULES:
                for button in self.query(f"#btn-{action}"):
                    button.set_class(not self.offers(action), "-inapplicable")

    def action_new(self) -> None:
        """Open the new-job form (the app-wide ``n``), for mouse users."""
        intend(self, "new_job")

    def action_log(self) -> None:
        """Open the highlighted job's latest output full screen."""
        self.intend_on_highlighted("log")

    def action_details(self) -> None:
        """Open the detail screen of the highlighted job."""
        self.intend_on_highlighted("detail")

    def action_retry(self) -> None:
        """Retry the marked jobs, else the highlighted one (failed, dead, cancelled or
        completed: a completed job runs again)."""
        if not self.batch("retry"):
            self.intend_on_highlighted("retry")

    def action_cancel(self) -> None:
        """Cancel the marked jobs, else the highlighted one (pending, failed or running)."""
        if not self.batch("cancel"):
            self.intend_on_highlighted("cancel")

    def action_delete(self) -> None:
        """Delete the marked jobs, else the highlighted one, after a confirmation."""
        if not self.batch("delete"):
            self.intend_on_highlighted("delete")

    def action_edit(self) -> None:
        """Open the job form on the highlighted job."""
        self.intend_on_highlighted("edit")

    def action_clone(self) -> None:
        """Enqueue a copy of the highlighted job."""
        self.intend_on_highlighted("clone")

    def action_hold(self) -> None:
        """Hold the marked jobs, else hold or release the highlighted one."""
        if not self.batch("hold"):
            self.intend_on_highlighted("hold")

    def action_release(self) -> None:
        """Release the marked jobs, else the highlighted one if held."""
        if not self.batch("release"):
            self.intend_on_highlighted("release")

    def filter_for_marks(self) -> JobFilter:
        return self.job_filter

    def set_filter(self, job_filter: JobFilter) -> None:
        """Filter the jobs from elsewhere (a queue's or a schedule's ``enter``, clearing it),
        the box saying so: it kept the last filter typed while another was applied."""
        self.job_filter = job_filter
        box = self.query_one("#job-filter", Input)
        box.value = job_filter.describe()
        box.set_class(not job_filter.active, "hidden")

    def clear_filter(self) -> bool:
        """Show every job again (``esc`` once the marks are cleared)."""
        if not self.job_filter.active:
            return False
        intend(self, "clear_filter")
        return True

    def action_filter(self, dead_only: bool = False) -> None:
        """Show the filter box with the current filter in it; ``dead_only`` (``/`` on the
        DLQ): the dead jobs, with what the person types next."""
        box = self.query_one("#job-filter", Input)
        box.remove_class("hidden")
        shown = self.job_filter
        if dead_only:
            shown = replace(shown, states=(JobState.DEAD,))
        box.value = shown.describe() + (" " if dead_only else "")
        # A filter in force is selected, so typing replaces it; ``state:dead`` is kept,
        # the cursor after it.
        box.select_on_focus = not dead_only
        box.cursor_position = len(box.value)
        focus_now(box)

    def action_cycle_sort(self) -> None:
        """Sort by the next column shown (newest first is the natural order).

        Only the columns on screen: at 80x24 the cycle went through Pri, Queue, Took
        and Worker, dropped for room, ordering the rows by what no one could see. Age
        is left out: the natural order is by age already (``O`` turns it round), and
        the first ``o`` only reversed it, where a person expects the next column.
        A click on the Age header still sorts by it. The next column is the one to the
        right of the current sort's, as shown, round to the left edge (it went Age,
        State, Tries, Command, ID: the order of a list, not of the screen).
        """
        shown = [key for key, _width in self.table.layout if key in SORTABLE]
        names = [None if key == NATURAL else key for key in shown]
        if None in names:  # round from the natural order's own column
            start = names.index(None)
            names = names[start:] + names[:start]
        else:
            names.insert(0, None)
        current = names.index(self.sort.column) if self.sort.column in names else 0
        self._sort_by(names[(current + 1) % len(names)], reverse=False)

    def action_reverse_sort(self) -> None:
        self._sort_by(self.sort.column, reverse=not self.sort.reverse)

    def _sort_by(self, column: str | None, *, reverse: bool) -> None:
        self.sort = Sort(column, reverse)
        self._mark_sort()
        intend(self, "refresh")

    def _mark_sort(self) -> None:
        column, arrow = sort_arrow(self.sort)
        self.table.marks = {column: arrow}
        self.table.relayout()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """Click a column header to sort by it; click again to reverse."""
        event.stop()
        column: str | None = str(event.column_key.value)
        if column == NATURAL:
            column = None
        if self.sort.column == column:
            self._sort_by(column, reverse=not self.sort.reverse)
        else:
            self._sort_by(column, reverse=column in ("priority", "attempts", "duration"))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key is not None and event.row_key.value is not None:
            intend(self, "detail", event.row_key.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        """Filter as the person types, as k9s does (it waited for ``enter``): once the
        typing pauses, so a fast typist's every letter is not a query of its own."""
        if event.input.id != "job-filter":
            return
        event.stop()
        self._stop_typing()
        self._typing = self.set_timer(TYPING_PAUSE, self._apply_typed)

    def _stop_typing(self) -> None:
        """Forget the pending apply of what was typed (enter or esc settled it)."""
        if self._typing is not None:
            self._typing.stop()
            self._typing = None

    def _apply_typed(self) -> None:
        """Apply the box's text if it reads as a filter. A half-typed term (``state:fa``)
        leaves the last one in force and marks the box; ``enter`` says what is wrong."""
        self._typing = None
        box = self.query_one("#job-filter", Input)
        try:
            typed = parse_filter(box.value)
        except ValueError:
            box.add_class("-invalid")
            return
        box.remove_class("-invalid")
        if typed != self.job_filter:
            self.job_filter = typed
            intend(self, "refresh")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "job-filter":
            return
        event.stop()
        self._stop_typing()
        try:
            self.job_filter = parse_filter(event.value)
        except ValueError as exc:
            event.input.add_class("-invalid")
            self.notify(str(exc), title="Filter", severity="error", markup=False)
            return
        event.input.remove_class("-invalid")
        if not self.job_filter.active:
            event.input.add_class("hidden")
        self.focus_table()
        intend(self, "refresh")

    def action_clear(self) -> None:
        """``esc``: in the filter box, leave it (the filter in force stays); else the
        marks go first, then the filter.

        Here, not in ``on_key``: the app runs a key's binding before any widget sees
        the key (``tui.keyorder``), so the box's ``esc`` reached this binding, cleared
        nothing, and left the box open with the focus in it."""
        box = self.query_one("#job-filter", Input)
        if not box.has_focus:
            super().action_clear()
            return
        if box.has_class("-invalid"):
            # What it holds is not in force (a half-typed term): it read as the filter
            # while the status named another (a newcomer's try). Back to the one in force.
            self._stop_typing()
            box.value = self.job_filter.describe()
            box.remove_class("-invalid")
        if not self.job_filter.active:
            box.add_class("hidden")
        self.focus_table()
