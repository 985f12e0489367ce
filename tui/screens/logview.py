"""The full-screen log view (``l`` on the detail screen): one run's output to read.

Search (``/``, then ``n``/``N``), follow the output while the run goes on (``f``,
or ``G`` to the end), ``g`` to the top, ``w`` to wrap long lines, ``s`` to export
the output as stored with Textual's ``deliver_text`` (a file in the downloads
folder in a terminal, a download in a browser). Matches are found in the text
as shown (escapes made visible), case ignored.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import partial
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from queuectl.errors import StoreUnavailable
from queuectl.lifecycle import reads
from queuectl.store.models import Run
from queuectl.textsafe import one_line
from queuectl.wording import counted
from tui.exports import export_folder, file_safe, save_privately
from tui.inputs import OrderedInput
from tui.keybar import KeyBar
from tui.keyorder import focus_now
from tui.output import OutputView, kept_note
from tui.readthread import read_thread
from tui.screens import close

MATCH = Style(reverse=True, color="yellow")
CURRENT = Style(reverse=True, bold=True, color="magenta")


class RunLoaded(Message):
    def __init__(self, run: Run | None) -> None:
        super().__init__()
        self.run = run


class LogScreen(Screen[None]):
    """One run's output, full screen, live while the run goes on."""

    AUTO_FOCUS = "#log"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
        Binding("slash", "search", "Search"),
        Binding("n", "next_match(1)", "Next"),
        Binding("N", "next_match(-1)", "Prev"),
        Binding("f", "follow", "Follow", tooltip="Keep the end in view as output arrives"),
        Binding("g,home", "top", "Top", show=False),
        Binding("k", "line_up", "Up", show=False),
        Binding("j", "line_down", "Down", show=False),
        Binding("G,end", "bottom", "End", show=False),
        Binding("w", "wrap", "Wrap"),
        Binding(
            "s",
            "export",
            "Export",
            tooltip="Save the output as stored, to a new private file (in a browser: download)",
        ),
    ]

    def __init__(
        self,
        job_id: str,
        run_id: int | None,
        interval: float,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.run_id = run_id
        """The run shown; ``None`` (``l`` on a list's row): the job's latest, as first read."""
        self.interval = interval
        self.run: Run | None = None
        self.term = ""
        self.matches: list[int] = []
        """Indices of the lines that hold ``term``."""
        self.current = -1
        """Which of ``matches`` is shown (``-1``: none yet)."""
        self.following = True
        self._note = ""
        """The title's last note ("no match"), kept for a re-fit after a resize."""
        self.loads = 0
        self._job_gone = False
        """Opened on a job not run yet (``run_id`` ``None``) that no longer exists."""
        self.export_directory: str | None = None
        """Where ``s`` saves in a terminal (``None``: ``export_folder()``)."""

    def compose(self) -> ComposeResult:
        yield Static("", id="log-title")
        yield OutputView(id="log")
        yield OrderedInput(
            placeholder="search (enter finds, esc closes)", id="log-search", compact=True
        )
        yield KeyBar()

    @property
    def view(self) -> OutputView:
        return self.query_one("#log", OutputView)

    def on_mount(self) -> None:
        self.query_one("#log-search", Input).display = False
        self.load()

    @work(thread=True, exclusive=True, group="logview", exit_on_error=False)
    def load(self) -> None:
        try:
            runs = read_thread(self.app).run(partial(reads.runs_of, self.job_id))
        except StoreUnavailable as exc:  # kept as it was read, and read again: never a crash
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._unavailable, exc.explain())
            return
        if self.run_id is None and runs:
            self.run_id = runs[-1].id  # then kept, as the detail's choice of run is
        elif self.run_id is None:  # no run yet: is there still a job to wait for?
            try:
                states = read_thread(self.app).run(partial(reads.job_states, [self.job_id]))
            except StoreUnavailable:
                states = {self.job_id: ""}  # said by the next read, if the database is away
            self._job_gone = not states
        run = next((r for r in runs if r.id == self.run_id), None)
        if not get_current_worker().is_cancelled:
            self.post_message(RunLoaded(run))

    def _unavailable(self, reason: str) -> None:
        if not self.is_attached:
            return
        self._title(f"database unavailable: {reason}")
        self.set_timer(self.interval, self.load)

    def on_run_loaded(self, message: RunLoaded) -> None:
        if not self.is_current and not self.is_attached:
            return
        running_before = self._run_live
        self.run = run = message.run
        self.loads += 1
        if self.loads == 1 or running_before != self._run_live:
            self.refresh_bindings()  # ``f`` Follow is offered while the run goes on
        if run is None:
            if self._job_gone:
                self._title("this job no longer exists")
            elif self.run_id is not None:
                self._title("this run no longer exists")
            else:
                self._title("this job has not run yet")
                self.set_timer(self.interval, self.load)  # its first run's output, once it starts
            return
        before = self.view.version
        self.view.show(run.output, run.id, finished=run.outcome is not None)
        if self.term and self.view.version != before:
            self._find(keep_place=True)
        self.view.keep_end()
        self._title()
        if run.outcome is None:
            self.set_timer(self.interval, self.load)

    @property
    def _run_live(self) -> bool:
        """The run shown goes on: its output may still grow."""
        return self.run is not None and self.run.outcome is None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer ``f`` Follow only while the run shown goes on: on a completed, dead or
        cancelled job's run the key bar offered it, and it only jumped to the end (``G``
        does that). Before the first read, when nothing is known of the run yet, it is
        offered, as the detail screen offers every key then."""
        if action != "follow" or not self.loads:
            return True
        return self._run_live

    def why_not_now(self, key: str) -> str | None:
        """Why ``f``, hidden once the run has ended, does nothing (``key_unbound``)."""
        if key != "f" or self.run is None or self._run_live:
            return None
        return f"Follow: this run has ended ({self.run.outcome}); G goes to its end"

    def _title(self, note: str = "") -> None:
        """The run, then what the view is doing, most telling first. A narrow screen cut
        the end: "following", then "wrapped", then the search's total ("/error: 2 of").
        So it is fitted to the width: the long forms give way to short ones ("paused",
        "run 1: running"), then the line count goes, then the job's id is cut."""
        self._note = note
        run = self.run
        search = ""
        if self.term:
            where = f"{self.current + 1} of {len(self.matches)}" if self.matches else "no match"
            search = f"/{one_line(self.term, 30)}: {where}"
        count = len(self.view.lines_text)
        lines = counted(count, "line") if run is not None else ""
        running = run is not None and run.outcome is None
        state = (run.outcome or "running") if run is not None else ""
        kept = kept_note(run.output, run.output_bytes) if run is not None else ""

        def title(short: int) -> str:
            parts = [f"Job {one_line(self.job_id)}" if short < 4 else one_line(self.job_id, 16)]
            if run is not None:
                attempt = "" if short >= 2 else f" (attempt {run.attempt})"
                parts.append(f"run {run.run}{attempt}: {state}")
            if running:
                paused = "paused" if short >= 1 else "paused (f follows)"
                parts.append("following" if self.following else paused)
            parts.extend(part for part in (search, "wrapped" if self.view.wrap else "") if part)
            if lines and short < 3:
                parts.append(lines)
            if kept and short < 2:
                parts.append(kept)
            if note:
                parts.append(note)
            return " · ".join(parts)

        width = self.query_one("#log-title", Static).content_region.width
        text = title(0)
        for short in range(1, 5):
            if not width or cell_len(text) <= width:
                break
            text = title(short)
        self.query_one("#log-title", Static).update(Text(text))

    def on_resize(self, _event: events.Resize) -> None:
        """Fit the title to the new width: a finished run is read once, so from 160x45
        to 80x24 its title kept the wide form, cut at the edge, until a key was pressed.
        A view following the end keeps it in view: a shorter screen kept the top line and
        left the last lines below the edge."""
        self.call_after_refresh(self._refit)

    def _refit(self) -> None:
        self.view.keep_end()
        self._title(self._note)

    # --- moving -----------------------------------------------------------------------

    def action_back(self) -> None:
        close(self)

    def _follow(self, on: bool) -> None:
        """Follow the end as output arrives, or keep the view where it is."""
        self.following = on
        self.view.auto_scroll = on

    def action_top(self) -> None:
        self._follow(False)
        self.view.scroll_home(animate=False)
        self._title()

    def action_bottom(self) -> None:
        self._follow(True)
        self.view.keep_end()
        self._title()

    def action_follow(self) -> None:
        """Toggle following: the end stays in view as output arrives."""
        self._follow(not self.following)
        self.view.keep_end()
        self._title()

    def on_mouse_scroll_up(self, _event: events.MouseScrollUp) -> None:
        """Scrolling up to read stops following, as ``less +F`` does."""
        if self.following:
            self.action_follow()

    def on_output_view_went_to_end(self, _message: OutputView.WentToEnd) -> None:
        """``End`` does what ``G`` does (the help lists them as one key): to the end, and
        following again (a keyboard user's try: it scrolled, the title still "paused")."""
        self.action_bottom()

    def on_output_view_scrolled_back(self, _message: OutputView.ScrolledBack) -> None:
        """The same by key (↑, PgUp, Home): only the wheel paused it, and the next read
        took the view back to the end."""
        if self.following:
            self.action_follow()

    def action_line_up(self) -> None:
        """``k``: a line up, as ↑ (and it stops following too)."""
        self.view.action_scroll_up()

    def action_line_down(self) -> None:
        self.view.action_scroll_down()

    def action_wrap(self) -> None:
        """Wrap long lines, or not, keeping the line at the top of the view there: on a
        200-line log at its last match, ``w`` showed lines 62-68. A view following the end
        stays at the end: wrapped lines take more rows, so the old scroll offset showed
        lines from the middle."""
        top = self.view.line_at(round(self.view.scroll_y))
        self.view.wrap = not self.view.wrap
        self._redraw()
        if self.following:
            self.view.keep_end()
        else:
            self.call_after_refresh(self._scroll_to_line, top)
        self._title()

    def _scroll_to_line(self, line: int) -> None:
        starts = self.view.starts
        if line < len(starts):
            self.view.scroll_to(y=starts[line], animate=False)

    # --- search -----------------------------------------------------------------------

    def action_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.display = True
        box.value = self.term
        focus_now(box)  # ``l/2999`` typed fast: the digits go into the box, not past it

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.term = event.value
        self._close_search()
        self.current = -1
        self._find(keep_place=False)

    def on_key(self, event: events.Key) -> None:
        box = self.query_one("#log-search", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()
            self._close_search()

    def _close_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.display = False
        focus_now(self.view)

    def _find(self, *, keep_place: bool) -> None:
        """Find ``term`` again in every line; go to the first match below the view.

        ``keep_place`` (new output read): the view stays where it is, unless this is
        the search's first match. It went back to the current match at every read, so
        pausing at the end of a log with a search in force showed its first lines.
        """
        needle = self.term.casefold()
        lines = self.view.lines_text
        self.matches = [
            i for i, line in enumerate(lines) if needle and needle in line.plain.casefold()
        ]
        moved = False
        if not self.matches:
            self.current = -1
        elif not keep_place or self.current < 0:
            top = self.view.line_at(round(self.view.scroll_y))
            self.current = next((k for k, i in enumerate(self.matches) if i >= top), 0)
            self._follow(False)
            moved = True
        self._redraw()
        if moved:
            self._reveal()
        self._title()

    def action_next_match(self, step: int) -> None:
        """``n``/``N``: the next or previous match, round the end."""
        if not self.matches:
            self._title("no match" if self.term else "/ to search")
            return
        self._follow(False)
        self.current = (self.current + step) % len(self.matches)
        self._redraw()
        self._reveal()
        self._title()

    def _redraw(self) -> None:
        """Draw every line again, matches highlighted, remembering where each starts."""
        needle = self.term.casefold()
        lines = self.view.lines_text
        shown = list(lines)
        if needle:
            current = self.matches[self.current] if self.matches and self.current >= 0 else -1
            for index in self.matches:
                line = shown[index] = lines[index].copy()
                folded = line.plain.casefold()
                start = folded.find(needle)
                while start >= 0:
                    style = CURRENT if index == current else MATCH
                    line.stylize(style, start, start + len(needle))
                    start = folded.find(needle, start + len(needle))
        self.view.redraw(shown)

    def _reveal(self) -> None:
        if not self.matches or self.current < 0:
            return
        starts = self.view.starts
        line = self.matches[self.current]
        strip = starts[line] if line < len(starts) else line
        self.view.scroll_to(y=max(0, strip - self.view.size.height // 3), animate=False)

    # --- export -----------------------------------------------------------------------

    def action_export(self) -> None:
        """Save the output exactly as stored: a file in a terminal, a download in a browser."""
        run = self.run
        if run is None:
            return
        name = f"queuectl-{file_safe(self.job_id)}-run{run.run}.log"
        if self.app.is_web:  # a download, which the browser saves
            self.app.deliver_text(io.StringIO(run.output or ""), save_filename=name)
            return
        self._save(self.export_directory or export_folder(), name, run.output or "")

    @work(thread=True, group="export", exit_on_error=False)
    def _save(self, folder: str, name: str, output: str) -> None:
        try:
            path = save_privately(folder, name, output)
        except OSError as exc:
            self.app.call_from_thread(self.notify, f"Export failed: {exc}", severity="error")
            return
        self.app.call_from_thread(self.notify, f"Saved {path}", markup=False)
