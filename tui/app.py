"""The dashboard App: layout, app-wide keys, the refresh loop and the ways out.

Data flows one way: a thread worker reads a ``Snapshot`` (``tui.data``) and posts
it; ``on_snapshot_ready`` applies it to the panes and re-arms the timer, so
refreshes never overlap however slow the database is. Panes and screens post
``Intent`` messages; the app carries them out (``tui.actions``), again in thread
workers, and reports every outcome as a toast.
"""

from __future__ import annotations

import gc
import io
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import ClassVar

from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.css.query import NoMatches
from textual.filter import LineFilter
from textual.message import Message
from textual.reactive import Reactive
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import TabbedContent, TabPane, Tabs
from textual.worker import Worker, WorkerState, get_current_worker

from queuectl.errors import DatabaseError, StoreUnavailable
from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.location import describe
from queuectl.store import db
from queuectl.textsafe import one_line
from queuectl.timeutil import human_duration
from queuectl.wording import counted
from tui import palette, pasteguard
from tui.banner import OutageBanner
from tui.commands import QueueCommands
from tui.data import JobFilter, Request, Snapshot, read_snapshot
from tui.exports import export_folder, save_privately
from tui.guard import ControlGuard
from tui.header import StatsHeader
from tui.jobedit import JobEditApp
from tui.keybar import KeyBar
from tui.keyhint import does_nothing_here
from tui.messages import READ_ONLY_MESSAGE
from tui.panes.base import TablePane
from tui.panes.config import ConfigPane
from tui.panes.dlq import DlqPane
from tui.panes.jobs import JobsPane
from tui.panes.marks import MarkingPane
from tui.panes.queues import QueuesPane
from tui.panes.schedules import SchedulesPane
from tui.panes.workers import WorkersPane
from tui.queue_actions import QueueIntents
from tui.readthread import ReadThread
from tui.schedule_actions import ScheduleIntents
from tui.screens.confirm import ChoiceScreen, ConfirmScreen
from tui.screens.detail import JobDetailScreen
from tui.screens.help import HelpScreen, help_sections
from tui.screens.logview import LogScreen
from tui.screens.metrics import MetricsScreen
from tui.screens.new_job import NewJobScreen
from tui.webpage import LOOK_EVERY, UnsavedWorkSignal

DEFAULT_REFRESH_INTERVAL = 1.0
"""Seconds between the end of one refresh and the start of the next."""

READ_SHARE = 0.05
"""The most of a core reading snapshots may take: a read longer than this share of the
rest between refreshes spaces the next one out. Sorted by state or run time, the window
of 100,000 jobs is a scan and a sort (about 110 ms), where newest first reads an index
(13 ms); at one a second that sort alone kept a tenth of a core busy."""

WAITED_READ_CAP = 0.25
"""Of a read's time spent waiting rather than reading here (a server's sort, a hung
server), the most that spaces the next refresh out: 4.75 s of rest at most. Paced by its
whole time, a read that hung 6 s on a stopped PostgreSQL put the next one 114 s off, and
the dashboard showed a thawed server's numbers stale for two minutes, with no banner."""

PANES = ("jobs", "dlq", "workers", "config", "queues", "schedules")
READ_WHILE_SHOWN = ("queues", "schedules")
"""Panes whose rows are read only while shown: a switch to one reads at once."""
MAIN_SCREEN_ACTIONS = frozenset(
    {
        "show_pane",
        "pane",
        "new_job",
        "filter",
        "clear_filter",
        "help",
        "metrics",
        "quit",
        "refresh_now",
    }
)
"""The app's own key actions, which only make sense over the panes (see ``check_action``)."""


BROWSER_COPY_SAID = (
    "Nothing selected in the dashboard; text selected with shift+drag is the browser's:"
    " copy it with right-click, Copy. q or ctrl+q quits"
)
"""``ctrl+c`` in a browser with nothing selected in the dashboard."""
BROWSER_SUSPEND_SAID = "ctrl+z suspends in a terminal; a browser's session runs on the server"
"""``ctrl+z`` in a browser, where Textual cannot stop the process and did nothing."""


class StoreAway(Message):
    """A refresh found the database unavailable; ``reason`` is one line saying why."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class SnapshotReady(Message):
    """A refresh finished reading; the snapshot is ready to apply."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class QueueApp(QueueIntents, ScheduleIntents, JobEditApp):
    """A k9s-style monitor for one queuectl database."""

    CSS_PATH = "app.tcss"
    TITLE = "queuectl"
    # States told apart by colour: Textual's own dark theme draws magenta as red and
    # yellow as the orange of failed (``tui.palette``).
    ansi_theme_dark = Reactive(palette.DARK, init=False)
    COMMANDS = App.COMMANDS | {QueueCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show_pane('jobs')", "Jobs", show=False),
        Binding("2", "show_pane('dlq')", "DLQ", show=False),
        Binding("3", "show_pane('workers')", "Workers", show=False),
        Binding("4", "show_pane('config')", "Config", show=False),
        Binding("5", "show_pane('queues')", "Queues", show=False),
        Binding("6", "show_pane('schedules')", "Schedules", show=False),
        Binding("n", "new_job", "New"),
        Binding("m", "metrics", "Metrics", show=False, tooltip="Figures per queue, charted"),
        Binding("slash", "filter", "Filter"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit", tooltip="Quit (asks if config edits are unsaved)"),
        Binding("ctrl+q", "leave", "Quit", show=False, priority=True, tooltip="Quit from anywhere"),
        Binding(
            "ctrl+c",
            "interrupt",
            "Quit",
            show=False,
            priority=True,
            tooltip="Copy the selected text, else quit (in a browser: only copy)",
        ),
        Binding(
            "ctrl+z",
            "suspend_process",
            "Suspend",
            show=False,
            priority=True,
            tooltip="Suspend to the shell; fg brings the dashboard back (in a terminal only)",
        ),
    ]
    """App-wide keys; each pane adds the keys for its highlighted row."""

    def __init__(
        self,
        location: str,
        *,
        clock: Callable[[], float] = time.time,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
        freeze_startup_heap: bool = False,
        read_only: bool = False,
        read_only_because: str | None = None,
        in_browser: bool = False,
    ) -> None:
        super().__init__()
        pasteguard.install()  # a paste holding an ESC is text, not keys (see the module)
        self.location = location
        self.read_only = read_only
        self.read_only_because = read_only_because
        """Why a dashboard asked for as a writer opened read-only (its files cannot be
        written), said once it is up; ``None`` when it was asked for so."""
        self.in_browser = in_browser
        """Served by ``queuectl web``: ctrl+c copies there, as everywhere in a browser."""
        self.freeze_startup_heap = freeze_startup_heap
        self.reads = ReadThread()
        """Where the refresh and the screens' repeated reads run (``tui.readthread``)."""
        self.clock = clock
        self.refresh_interval = refresh_interval
        self.refresh_count = 0
        """Snapshots applied so far; tests wait for it to grow instead of sleeping."""
        self.last_snapshot: Snapshot | None = None
        self.last_apply_seconds = 0.0
        """UI-thread cost of applying the last snapshot (the diff); the bench reads it."""
        self.refreshing = False
        """A refresh was started and is not applied yet (tests wait for it to settle)."""
        self.ended_because: str | None = None
        """Why the dashboard ended itself: a database it waited for turned out unusable
        (``queuectl tui`` says it as its one error line, after the screen is restored)."""
        self._timer: Timer | None = None
        self._pane = "jobs"
        """The pane the person chose (a tab click that the unsaved-edits guard undoes differs)."""
        self._asking_to_quit = False
        """``ctrl+q`` asked whether to quit with a job form typed in: a second one waits."""
        self._control_guard = ControlGuard()
        """One instance: Textual caches each line's filtered form per filter."""
        self.sub_title = db.describe(location)

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters, then ``ControlGuard`` on every line drawn (see ``tui.guard``)
        but the tables' (``KeyedTable.get_line_filters``)."""
        return [*super().get_line_filters(), self._control_guard]

    def unguarded_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters alone."""
        return super().get_line_filters()

    # --- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Read-only says so where the database is named: a served tab's title did, the
        # dashboard itself did not.
        said = " (read-only)" if self.read_only else ""
        yield StatsHeader(self.location, suffix=said)
        yield OutageBanner()
        with TabbedContent(initial="jobs"):
            with TabPane("1 Jobs", id="jobs"):
                yield JobsPane(id="jobs-pane")
            with TabPane("2 DLQ", id="dlq"):
                yield DlqPane(id="dlq-pane")
            with TabPane("3 Workers", id="workers"):
                yield WorkersPane(id="workers-pane")
            with TabPane("4 Config", id="config"):
                yield ConfigPane(id="config-pane")
            with TabPane("5 Queues", id="queues"):
                yield QueuesPane(id="queues-pane")
            with TabPane("6 Schedules", id="schedules"):
                yield SchedulesPane(id="schedules-pane")
        yield KeyBar()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Textual's palette entries but Quit and Maximize: the palette listed two Quit
        entries (both asking about unsaved config edits first), which read as two ways
        out; Maximize hid the header and the key bar, and only the palette's Minimize,
        not ``esc``, brought them back (each pane fills the screen already)."""
        for command in super().get_system_commands(screen):
            if command.title not in ("Quit", "Maximize"):
                yield command

    def deliver_screenshot(
        self,
        filename: str | None = None,
        path: str | None = None,
        time_format: str | None = None,
    ) -> str | None:
        """The palette's "Screenshot": in a terminal, a new 0600 file beside the log
        exports (Textual's wrote with the umask's mode, and failed outright without a
        downloads folder); in a browser, Textual's download."""
        name = filename or time.strftime(f"queuectl-{time_format or '%Y-%m-%dT%H_%M_%S'}.svg")
        if self.is_web:
            # A download, as the log view's export is: Textual's own opened the SVG in a
            # new tab, by a single-use link, and a reload of that tab lost it.
            return self.deliver_text(
                io.StringIO(self.export_screenshot()),
                save_filename=name,
                open_method="download",
                mime_type="image/svg+xml",
            )
        self._save_screenshot(path or export_folder(), name, self.export_screenshot())
        return None

    @work(thread=True, group="export", exit_on_error=False)
    def _save_screenshot(self, folder: str, name: str, svg: str) -> None:
        try:
            saved = save_privately(folder, name, svg)
        except OSError as exc:
            self.call_from_thread(self.say, f"Screenshot not saved: {exc}", error=True)
            return
        self.call_from_thread(self.say, f"Saved {saved}")

    def on_mount(self) -> None:
        self.app_resume_signal.subscribe(self, self._repaint_after_resume)
        # Held, not queried: ``query_one`` searches the top screen, which may be a modal.
        self.jobs_pane = self.query_one(JobsPane)
        self.dlq_pane = self.query_one(DlqPane)
        self.workers_pane = self.query_one(WorkersPane)
        self.config_pane = self.query_one(ConfigPane)
        self.queues_pane = self.query_one(QueuesPane)
        self.schedules_pane = self.query_one(SchedulesPane)
        self.stats_header = self.query_one(StatsHeader)
        self.banner = self.query_one(OutageBanner)
        self.tabs = self.query_one(TabbedContent)
        self.panes: dict[str, TablePane] = {
            "jobs": self.jobs_pane,
            "dlq": self.dlq_pane,
            "workers": self.workers_pane,
            "config": self.config_pane,
            "queues": self.queues_pane,
            "schedules": self.schedules_pane,
        }
        self.jobs_pane.focus_table()
        self.refresh_now()
        if self.read_only_because:
            self.say(
                f"Opened read-only: {self.read_only_because}. Restart the dashboard once"
                " it can be written.",
                title="Read-only",
            )
        write_meta = getattr(self._driver, "write_meta", None) if self.is_web else None
        if write_meta is not None:
            signal = UnsavedWorkSignal(write_meta)
            self.set_interval(LOOK_EVERY, lambda: signal.look(self._work_unsaved()))

    def _work_unsaved(self) -> bool:
        """Whether leaving now would lose work: staged config edits, or a job form open."""
        return bool(self.config_pane.unsaved) or any(
            isinstance(screen, NewJobScreen) for screen in self.screen_stack
        )

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Focus the pane just shown; a tab clicked away from unsaved edits asks first."""
        pane_id = event.pane.id or "jobs"
        if pane_id != self.tabs.active:
            return  # superseded by a later switch
        if pane_id != self._pane:  # a click on the tab: the keys come through _switch
            if self._pane == "config" and self.config_pane.unsaved:
                self.tabs.active = "config"  # back until the person answers
                self.keep_edits(lambda: self._switch(pane_id), then_show_config=True)
                return
            self._pane = pane_id
            if pane_id in READ_WHILE_SHOWN:
                self.refresh_now()  # its rows are read only while it is shown
        self.call_after_refresh(self._focus_if_shown, pane_id)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The tabs never keep the focus: focused by a click on the tab already shown
        (no switch follows), they kept the keys from the pane's table (j, k and enter
        did nothing) until a number key or a row click. The pane's table takes it back.
        (Made unfocusable instead, they cost the browser its first key after the
        first frame.)"""
        if isinstance(event.widget, Tabs):
            self.call_after_refresh(self._focus_if_shown, self._pane)

    def _focus_if_shown(self, pane_id: str) -> None:
        """Focus a pane's table, unless a later key switched panes meanwhile.

        Deferred to after the next repaint, which a loaded machine delays: a stale
        focus would make the tabs follow it back (``TabPane.Focused``), so ``3``
        typed after ``2`` ended on the DLQ pane, and its keys hit the wrong pane.
        Focus already inside the pane stays: ``/`` from another pane shows the Jobs
        pane and focuses its filter box, which this came after and took from it.
        """
        if pane_id == self._pane == self.tabs.active:
            pane = self.panes[pane_id]
            focused = self.screen.focused
            if focused is None or pane not in focused.ancestors_with_self:
                pane.focus_table()

    # --- the refresh loop -------------------------------------------------------------

    def refresh_now(self) -> None:
        """Start a refresh now; the timer is re-armed when it has been applied."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        try:
            jobs = self.jobs_pane
            keep_job, keep_dead = jobs.highlighted, self.dlq_pane.highlighted
        except (AttributeError, NoMatches):
            return  # not mounted yet, or its tables already gone (the app is closing)
        request = Request(
            job_filter=jobs.job_filter,
            jobs_sort=jobs.sort,
            previous=self.last_snapshot,
            keep_job=keep_job,
            keep_dead=keep_dead,
            queues=self._pane == "queues",
            schedules=self._pane == "schedules",
        )
        self.refreshing = True
        self._refresh(request)

    # A description, or Textual builds one from the arguments' repr on the UI thread.
    @work(thread=True, exclusive=True, group="refresh", exit_on_error=False, description="refresh")
    def _refresh(self, request: Request) -> None:
        """Read a snapshot off the UI thread and post it (dropped if superseded)."""
        started_workers = sys.modules.get("queuectl.runtime.supervisor")  # once one was
        if started_workers is not None:
            started_workers.reap_exited()
        try:
            if db.schema_deferred():  # opened while the server was away
                self.reads.run(db.check_deferred_schema)
            snapshot = self.reads.run(partial(read_snapshot, request, self.clock()))
        except StoreUnavailable as exc:  # the database is away: a banner, not a toast a second
            if not get_current_worker().is_cancelled:
                self.post_message(StoreAway(exc.explain()))
            return
        except DatabaseError as exc:
            # Reached at last, but newer than us, not queuectl's, or not ours to use: as
            # an open that did not wait says it (one line, exit 1), not as an outage.
            self.ended_because = str(exc)
            self.call_from_thread(self.exit, return_code=1)
            return
        if not get_current_worker().is_cancelled:
            self.post_message(SnapshotReady(snapshot))

    def on_unmount(self) -> None:
        """The read thread's connection goes with the app (a test process builds many)."""
        self.reads.close()

    def on_store_away(self, message: StoreAway) -> None:
        """Keep what is shown, say it is stale and why, and try again at the usual pace."""
        last_read = self.last_snapshot.now if self.last_snapshot is not None else None
        self.banner.show_away(message.reason, self.clock(), last_read)
        self.refreshing = False
        self._arm()

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        snapshot = message.snapshot
        self.last_snapshot = snapshot
        if self.banner.away:
            away_for = self.banner.show_back(self.clock())
            self.say(f"The database is back, after {human_duration(away_for)} away")
        started = time.perf_counter()
        try:
            with self.batch_update():
                self.stats_header.show(snapshot)
                self.jobs_pane.show(snapshot.jobs, snapshot.job_filter, snapshot.jobs_sort)
                self.dlq_pane.show(snapshot.dlq)
                self.workers_pane.show(snapshot.workers)
                self.config_pane.show_settings(snapshot.settings)
                self.queues_pane.show(snapshot.queues)
                self.schedules_pane.show(snapshot.schedules)
        except NoMatches:
            return  # the app is closing and its widgets are gone: nothing to show it on
        self.last_apply_seconds = time.perf_counter() - started
        self.refresh_count += 1
        self.refreshing = False
        if self.refresh_count == 1 and self.freeze_startup_heap:
            _freeze_startup_heap()
        self._arm(read_seconds=max(snapshot.elapsed_cpu, min(snapshot.elapsed, WAITED_READ_CAP)))

    def _arm(self, *, read_seconds: float = 0.0) -> None:
        """The next refresh, after the usual rest, or longer after a slow read (``READ_SHARE``):
        ``read_seconds`` is what the read cost, its CPU here, waits up to ``WAITED_READ_CAP``."""
        if self._timer is not None:
            self._timer.stop()
        rest = max(self.refresh_interval, read_seconds * (1 / READ_SHARE - 1))
        self._timer = self.set_timer(rest, self.refresh_now)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place unexpected worker errors surface: a toast, never a silent stall."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        self.say(f"{event.worker.group} failed: {type(error).__name__}: {error}", error=True)
        if event.worker.group == "refresh":
            self.refreshing = False
            self._arm()

    # --- app-wide actions -------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """App keys belong to the main screen: a dialog must never quit or switch panes.

        On the detail screen only the keys that make sense over it stay (new job,
        help); ``q`` there goes back. In a modal dialog none do, so ``q`` there is
        just a letter; ``ctrl+q`` and ``ctrl+c`` (``leave``) work everywhere.
        """
        if action not in MAIN_SCREEN_ACTIONS:
            return True
        if isinstance(self.screen, ModalScreen):
            return False
        if isinstance(self.screen, (JobDetailScreen, LogScreen)):
            return action in ("new_job", "help")
        return True

    def key_unbound(self, key: str, character: str) -> None:
        """Say that ``key`` does nothing here, and what it does elsewhere (``tui.keyhint``).

        A question or a form keeps its own letters (a dialog's answers are not bindings).
        """
        if isinstance(self.screen, ModalScreen):
            return
        here = self.panes[self._pane] if self.screen is self.screen_stack[0] else self.screen
        why = getattr(here, "why_not_now", None)  # a place that knows why its key is out
        line = why(key) if why is not None else None
        if line is None:
            shown = "space" if key == "space" else character
            line = does_nothing_here(
                key, type(here), self.BINDINGS, shown=shown, read_only=self.read_only
            )
        if line is not None:
            self.hints_said.add(line)
            self.say(line)

    def marking_pane(self, name: str) -> MarkingPane:
        return self.jobs_pane if name == "jobs" else self.dlq_pane

    def action_show_pane(self, pane: str) -> None:
        """Switch to a pane (keys 1-6); leaving unsaved config edits asks first."""
        if pane not in PANES or pane == self._pane:
            if pane in PANES:
                self.panes[pane].focus_table()
            return
        if self._pane == "config":
            self.keep_edits(lambda: self._switch(pane), then_show_config=True)
        else:
            self._switch(pane)

    def _switch(self, pane: str) -> None:
        self._pane = pane
        self.tabs.active = pane
        self.panes[pane].focus_table()
        self.panes[pane].table.reveal_cursor()
        if pane in READ_WHILE_SHOWN:
            self.refresh_now()  # its rows are read only while it is shown

    def action_command_palette(self) -> None:
        """The palette, but not over a question or a form: it opened over "Retry all 3
        dead jobs?", offered the other panes' actions, and the one chosen did nothing,
        unsaid, under the question still waiting."""
        if isinstance(self.screen, ModalScreen) and not isinstance(self.screen, CommandPalette):
            self.notify("Answer or close what is open first (esc closes it)", severity="warning")
            return
        super().action_command_palette()

    def action_pane(self, pane: str, action: str) -> None:
        """Run a pane's action from the command palette, showing that pane first."""
        self.action_show_pane(pane)
        if self._pane == pane:
            self.call_after_refresh(self.panes[pane].run_action, action)

    def action_refresh_now(self) -> None:
        self.refresh_now()

    def action_quit(self) -> None:  # type: ignore[override]
        """Quit (``q``, the palette); unsaved config edits ask save / discard / stay first."""
        self.keep_edits(self.exit)

    def action_interrupt(self) -> None:
        """``ctrl+c``: copy the selected text if there is some, else quit as ``ctrl+q`` does.

        In a browser ctrl+c means copy: a press with nothing selected quit the whole
        session there, without asking. It says how to quit instead.
        """
        selected = self.screen.get_selected_text()
        if selected:
            self.copy_to_clipboard(selected)
            self.say("Copied the selected text")
        elif self.in_browser:
            # Shift+drag selects in the browser's terminal, where the dashboard never sees
            # it: the toast said "nothing selected" beside a highlighted selection.
            self.say(BROWSER_COPY_SAID)
        else:
            self.action_leave()

    def action_suspend_process(self) -> None:
        """``ctrl+z``: to the shell, as in less, htop or k9s (the key did nothing).

        Textual's suspend is a no-op where it cannot stop the process (a browser's
        session): that press said nothing, so it says why."""
        if self.in_browser:
            self.say(BROWSER_SUSPEND_SAID)
            return
        super().action_suspend_process()

    def _repaint_after_resume(self, _app: object) -> None:
        """After ``fg``: draw every screen in the stack again, whole.

        The shell wrote over the terminal meanwhile, and Textual, back from a
        SIGTSTP, redrew only what changed: the header, the tabs, the key bar and
        every still row stayed blank (an outside try; a bare Textual app does it too).
        """
        for screen in self.screen_stack:
            screen.refresh(repaint=True, layout=True)
        self.refresh(repaint=True, layout=True)

    def action_leave(self) -> None:
        """``ctrl+q`` / ``ctrl+c``: quit from any screen, asking first as ``q`` does, and
        first of all when a job form holds something typed (it quit at once, the job
        lost, even while the form's own "Discard?" question was showing)."""
        if isinstance(self.screen, ChoiceScreen) or self._asking_to_quit:
            return
        typed = [s for s in self.screen_stack if isinstance(s, NewJobScreen) and s.has_typed()]
        if not typed:
            self.keep_edits(self.exit)
            return

        def answered(quit_anyway: bool | None) -> None:
            self._asking_to_quit = False
            if quit_anyway:
                self.keep_edits(self.exit)

        self._asking_to_quit = True
        what = "the changes you typed" if typed[0].initial is not None else "the job you typed"
        self.push_screen(ConfirmScreen(f"Quit, discarding {what}?", "Quit"), answered)

    def keep_edits(self, then: Callable[[], None], *, then_show_config: bool = False) -> None:
        """Run ``then`` now, or once the config pane's unsaved edits are saved or discarded.

        Args:
            then: what leaving does (quit, or show another pane).
            then_show_config: "stay" returns to the config pane (it may be behind a dialog).
        """
        pane = self.config_pane
        unsaved = pane.unsaved
        if not unsaved:
            then()
            return

        def answered(choice: str | None) -> None:
            if choice == "save":
                changes = pane.take_changes()
                if changes is None:  # the edit box holds a value the validator refused
                    self._switch("config")
                    return
                self.save_settings(changes, then)
            elif choice == "discard":
                pane.action_discard()
                then()
            elif then_show_config or self._pane == "config":
                self._switch("config")

        # Say what the answer is about: the question named only the changes.
        leaving = "Leaving the Config pane" if then_show_config else "Quitting"
        self.push_screen(
            ChoiceScreen(
                f"{leaving} with {counted(unsaved, 'unsaved config change')}:"
                f" {pane.describe_unsaved()}. Save {'it' if unsaved == 1 else 'them'} first?",
                [("s", "save", "Save"), ("d", "discard", "Discard")],
                stay="Stay",
            ),
            answered,
        )

    def action_new_job(self) -> None:
        """Open the new-job form; a valid spec comes back and is enqueued. Read-only: a
        toast says why not, as for every other action (the key bar leaves ``n`` out)."""
        if self.read_only:
            self.say(READ_ONLY_MESSAGE, error=True)
            return
        self._open_new_job_form()

    def _open_new_job_form(
        self, typed: dict[str, str] | None = None, error: str | None = None
    ) -> None:
        """The new-job form; a job the store refuses (an id taken, the database gone)
        opens it again as it was typed, with the reason."""
        screen = NewJobScreen(queues=self.known_queues(), typed=typed, error=error)

        def enqueue(spec: JobSpec | None) -> None:
            if spec is None:
                return

            made: list[str] = []

            def enqueue_it() -> object:
                job = enqueuing.enqueue(spec, now=self.clock())
                made.append(job.id)
                return job

            self.run_in_thread(
                enqueue_it,
                lambda job: f"Enqueued job {job.id}",
                # On the UI thread, before the refresh it asks for is applied.
                then=lambda: self.jobs_pane.highlight_when_shown(made[0]),
                failed=lambda why: self._open_new_job_form(screen.submitted, why),
                doing="The new job",
            )

        self.push_screen(screen, enqueue)

    def action_filter(self) -> None:
        """Show the jobs pane's filter box (``/``); from the DLQ, starting at
        ``state:dead``: it filtered every job, so ``ctrl+a`` and ``r`` after a search
        from the DLQ marked and retried jobs in every state, completed ones too."""
        from_dlq = self._pane == "dlq"
        self.action_show_pane("jobs")
        if self._pane == "jobs":
            self.jobs_pane.action_filter(dead_only=from_dlq)

    def action_clear_filter(self) -> None:
        self.jobs_pane.set_filter(JobFilter())
        self.refresh_now()

    def action_metrics(self) -> None:
        """The figures of ``queuectl stats`` per queue, over a window (``tui.screens.metrics``)."""
        self.push_screen(MetricsScreen(clock=self.clock))

    def action_help(self) -> None:
        """Every key, from the bindings themselves."""
        self.push_screen(HelpScreen(help_sections(self.BINDINGS)))


def _freeze_startup_heap() -> None:
    """Keep what lives for the whole session out of the cycle collector's full passes.

    Once the screen is built, ~140k objects (Textual, the widgets, the first
    tables) live until exit, yet every full collection walked them all: 50-110 ms
    with the UI thread stopped, every few refreshes. Frozen after one collection,
    a full pass walks only what came since: 4-36 ms. Done once, so what is frozen
    is bounded by the start-up heap; what dies later among it is freed by
    reference counting as usual (only cycles among frozen objects stay, and the
    soak benchmark shows that does not grow). Only ``queuectl tui`` asks for it;
    a test process builds many apps and would keep each one's cycles.
    """
    gc.collect()
    gc.freeze()


def make_app(
    location: str,
    *,
    clock: Callable[[], float] = time.time,
    refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
    freeze_startup_heap: bool = False,
    read_only: bool = False,
    read_only_because: str | None = None,
    in_browser: bool = False,
    create: bool = True,
) -> QueueApp:
    """The dashboard for the database at ``location``: used by ``queuectl tui`` and the tests.

    Opens the database here so a bad location fails before the screen is taken over.
    A read-only dashboard (``web --read-only``) opens it as read-only commands do:
    it creates nothing, and only warns of a file others could write (each tab opened
    it as a writer: it made a missing database, and refused one ``status`` reads).

    ``read_only_because`` opens it read-only and says why once the screen is up:
    ``queuectl tui`` on a database whose files cannot be written (a read-only mount),
    which ``status`` and ``list`` read.

    ``create=False`` (``queuectl web``'s sessions) refuses a database that has gone
    since the server opened it, instead of making an empty one in its place.

    Raises:
        DatabaseError: the database is unusable, or missing for a read-only one (or
            for one that may not create it).
    """
    read_only = read_only or read_only_because is not None
    report = _warn_in_log if read_only else None
    application = "queuectl web" if in_browser else "queuectl tui"
    db.open_database(
        location,
        read_only=read_only,
        create=create,
        report=report,
        application=application,
        # Opened during an incident, it shows the outage banner and reads once the
        # server is back: it refused to open, though one already open rode it out.
        defer_unreachable=True,
    )
    if read_only and db.is_stand_in():
        db.close_database()
        raise DatabaseError(
            f"no queuectl database exists at {describe(location)}, and a read-only"
            " dashboard creates none"
        )
    return QueueApp(
        location,
        clock=clock,
        refresh_interval=refresh_interval,
        freeze_startup_heap=freeze_startup_heap,
        read_only=read_only,
        read_only_because=read_only_because,
        in_browser=in_browser,
    )


def _warn_in_log(message: str) -> None:
    """A warning from opening the database (a folder others could write): before the
    screen is drawn, on stderr, where ``queuectl web`` logs each session's lines."""
    print(f"Warning: {one_line(message)}", file=sys.stderr)


__all__ = ["QueueApp", "make_app"]
