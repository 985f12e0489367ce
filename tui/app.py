"""The dashboard App: layout, app-wide keys, the refresh loop and the actions.

Data flows one way: a thread worker reads a ``Snapshot`` (``tui.data``) and posts
it; ``on_snapshot_ready`` applies it to the panes and re-arms the timer, so
refreshes never overlap however slow the database is. Panes and screens post
``Intent`` messages; the app carries them out, again in thread workers, and
reports every outcome as a toast.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any, ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Footer, Input, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

from queuectl import config, db, queue
from queuectl.errors import QueueError, ValidationError
from queuectl.jobspec import JobSpec
from queuectl.models import JobState, database
from queuectl.textsafe import one_line
from tui.commands import QueueCommands
from tui.data import JobFilter, Request, Snapshot, read_snapshot
from tui.header import StatsHeader
from tui.messages import Intent, SaveSettings
from tui.panes.base import TablePane
from tui.panes.config import ConfigPane
from tui.panes.dlq import DlqPane
from tui.panes.jobs import JobsPane
from tui.panes.workers import WorkersPane
from tui.screens.confirm import ConfirmScreen, CountScreen
from tui.screens.detail import JobDetailScreen
from tui.screens.help import HelpScreen
from tui.screens.new_job import NewJobScreen

DEFAULT_REFRESH_INTERVAL = 1.0
"""Seconds between the end of one refresh and the start of the next."""

STOP_WAIT_SECONDS = 60.0
"""How long a graceful stop is awaited (in a thread) before saying it is still stopping."""

PANES = ("jobs", "dlq", "workers", "config")
MAIN_SCREEN_ACTIONS = frozenset(
    {"show_pane", "pane", "new_job", "filter", "clear_filter", "help", "quit", "refresh_now"}
)
"""The app's own key actions, which only make sense over the panes (see ``check_action``)."""


class SnapshotReady(Message):
    """A refresh finished reading; the snapshot is ready to apply."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


def _supervisor() -> ModuleType:
    """The worker runtime, imported on first use so the dashboard runs without it."""
    try:
        return importlib.import_module("queuectl.supervisor")
    except ModuleNotFoundError as exc:
        if exc.name != "queuectl.supervisor":
            raise
        raise QueueError("the worker runtime (queuectl.supervisor) is not available") from None


class QueueApp(App[None]):
    """A k9s-style monitor for one queuectl database."""

    CSS_PATH = "app.tcss"
    TITLE = "queuectl"
    COMMANDS = App.COMMANDS | {QueueCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show_pane('jobs')", "Jobs", show=False),
        Binding("2", "show_pane('dlq')", "DLQ", show=False),
        Binding("3", "show_pane('workers')", "Workers", show=False),
        Binding("4", "show_pane('config')", "Config", show=False),
        Binding("n", "new_job", "New"),
        Binding("slash", "filter", "Filter"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]
    """App-wide keys; each pane adds the keys for its highlighted row."""

    def __init__(
        self,
        location: str,
        *,
        clock: Callable[[], float] = time.time,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
    ) -> None:
        super().__init__()
        self.location = location
        self.clock = clock
        self.refresh_interval = refresh_interval
        self.refresh_count = 0
        """Snapshots applied so far; tests wait for it to grow instead of sleeping."""
        self.last_snapshot: Snapshot | None = None
        self.last_apply_seconds = 0.0
        """UI-thread cost of applying the last snapshot (the diff); the bench reads it."""
        self.toasts: list[str] = []
        """Every notification shown, oldest first: what the operator was told (tests read it)."""
        self._timer: Timer | None = None
        self.sub_title = db.describe(location)

    # --- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatsHeader(db.describe(self.location))
        with TabbedContent(initial="jobs"):
            with TabPane("1 Jobs", id="jobs"):
                yield JobsPane(id="jobs-pane")
            with TabPane("2 DLQ", id="dlq"):
                yield DlqPane(id="dlq-pane")
            with TabPane("3 Workers", id="workers"):
                yield WorkersPane(id="workers-pane")
            with TabPane("4 Config", id="config"):
                yield ConfigPane(id="config-pane")
        yield Footer()

    def on_resize(self) -> None:
        """Refit the command column to the new width at once."""
        if self.refresh_count:
            self.refresh_now()

    def on_mount(self) -> None:
        # Held, not queried: ``query_one`` searches the top screen, which may be a modal.
        self.jobs_pane = self.query_one(JobsPane)
        self.dlq_pane = self.query_one(DlqPane)
        self.workers_pane = self.query_one(WorkersPane)
        self.config_pane = self.query_one(ConfigPane)
        self.stats_header = self.query_one(StatsHeader)
        self.tabs = self.query_one(TabbedContent)
        self.panes: dict[str, TablePane] = {
            "jobs": self.jobs_pane,
            "dlq": self.dlq_pane,
            "workers": self.workers_pane,
            "config": self.config_pane,
        }
        self.jobs_pane.focus_table()
        # After the first layout, so the command column is cut to the real width.
        self.call_after_refresh(self.refresh_now)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Focus the table of the pane just shown, so its keys work at once."""
        pane_id = event.pane.id or "jobs"
        self.call_after_refresh(self.panes[pane_id].focus_table)

    # --- the refresh loop -------------------------------------------------------------

    def _request(self) -> Request:
        jobs = self.jobs_pane
        return Request(
            job_filter=jobs.job_filter,
            jobs_sort=jobs.sort,
            command_width=self._command_width(),
        )

    def _command_width(self) -> int:
        """Room left for the command once the other columns are drawn, so nothing scrolls."""
        table = self.jobs_pane.table
        if not table.size.width or not table.ordered_columns:
            return 40
        if not table.row_count:
            return max(12, table.size.width - 80)  # too early to know the other columns
        fixed = sum(column.get_render_width(table) for column in table.ordered_columns[:-1])
        return max(6, table.size.width - fixed - 4)

    def refresh_now(self) -> None:
        """Start a refresh now; the timer is re-armed when it has been applied."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        try:
            request = self._request()
        except NoMatches:
            return  # the app is closing: its panes are already gone
        self._refresh(request)

    @work(thread=True, exclusive=True, group="refresh", exit_on_error=False)
    def _refresh(self, request: Request) -> None:
        """Read a snapshot off the UI thread and post it (dropped if superseded)."""
        snapshot = read_snapshot(request, self.clock())
        if not get_current_worker().is_cancelled:
            self.post_message(SnapshotReady(snapshot))

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        snapshot = message.snapshot
        self.last_snapshot = snapshot
        started = time.perf_counter()
        try:
            with self.batch_update():
                self.stats_header.show(snapshot)
                self.jobs_pane.show(snapshot.jobs, snapshot.command_width)
                self.dlq_pane.show(snapshot.dlq)
                self.workers_pane.show(snapshot.workers)
                self.config_pane.show_settings(snapshot.settings)
        except NoMatches:
            return  # the app is closing and its widgets are gone: nothing to show it on
        self.last_apply_seconds = time.perf_counter() - started
        self.refresh_count += 1
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self.refresh_interval, self.refresh_now)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place unexpected worker errors surface: a toast, never a silent stall."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        self.say(f"{event.worker.group} failed: {type(error).__name__}: {error}", error=True)
        if event.worker.group == "refresh":
            self._arm()

    def notify(self, message: str | Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Record the toast, then show it."""
        self.toasts.append(str(message))
        super().notify(message, **kwargs)

    def say(self, message: str, *, error: bool = False, title: str = "") -> None:
        """A toast; text is never parsed as markup (it may hold job ids or user input)."""
        self.notify(
            one_line(message),
            title=title or ("Error" if error else ""),
            severity="error" if error else "information",
            markup=False,
            timeout=8 if error else 4,
        )

    # --- doing things, off the UI thread ----------------------------------------------

    @work(thread=True, group="action", exit_on_error=False)
    def run_in_thread(self, task: Callable[[], Any], describe: Callable[[Any], str]) -> None:
        """Run a core call; toast its outcome (or its ``QueueError``) and refresh."""
        try:
            result = task()
        except (QueueError, ValidationError) as exc:
            self.call_from_thread(self.say, str(exc), error=True)
            return
        finally:
            if not database.is_closed():
                database.close()
        self.call_from_thread(self._done, describe(result))

    def _done(self, message: str) -> None:
        if message:
            self.say(message)
        self.refresh_now()

    def _confirm(self, question: str, then: Callable[[], None], yes: str = "Yes") -> None:
        def answered(ok: bool | None) -> None:
            if ok:
                then()

        self.push_screen(ConfirmScreen(question, yes), answered)

    def on_intent(self, message: Intent) -> None:
        handler = getattr(self, f"_intent_{message.action}")
        handler(message.target)

    def _intent_refresh(self, _target: str | None) -> None:
        self.refresh_now()

    def _intent_new_job(self, _target: str | None) -> None:
        self.action_new_job()

    def _intent_detail(self, job_id: str | None) -> None:
        if job_id:
            self.push_screen(JobDetailScreen(job_id, self.clock, self.refresh_interval))

    def _intent_retry(self, job_id: str | None) -> None:
        if job_id:
            self.run_in_thread(
                lambda: queue.retry([job_id], now=self.clock()),
                lambda _: f"Job {job_id} is pending again",
            )

    def _intent_cancel(self, job_id: str | None) -> None:
        if job_id:
            self.run_in_thread(
                lambda: queue.cancel(job_id, now=self.clock()),
                lambda _: f"Job {job_id} cancelled",
            )

    def _intent_delete(self, job_id: str | None) -> None:
        if not job_id:
            return

        def delete() -> None:
            if isinstance(self.screen, JobDetailScreen) and self.screen.job_id == job_id:
                self.pop_screen()
            self.run_in_thread(lambda: queue.delete(job_id), lambda _: f"Job {job_id} deleted")

        self._confirm(f"Delete job {job_id} and its runs?", delete, yes="Delete")

    def _intent_retry_all_dead(self, _target: str | None) -> None:
        dead = self.last_snapshot.counts.get("dead", 0) if self.last_snapshot else 0
        if not dead:
            self.say("The DLQ is empty")
            return
        self._confirm(
            f"Retry all {dead} dead job(s)?",
            lambda: self.run_in_thread(
                lambda: queue.retry_dead(now=self.clock()),
                lambda n: f"{n} dead job(s) back to pending",
            ),
            yes="Retry all",
        )

    def _intent_purge_dead(self, _target: str | None) -> None:
        dead = self.last_snapshot.counts.get("dead", 0) if self.last_snapshot else 0
        if not dead:
            self.say("The DLQ is empty")
            return
        self._confirm(
            f"Delete all {dead} dead job(s) for good?",
            lambda: self.run_in_thread(
                lambda: queue.purge([JobState.DEAD], now=self.clock()),
                lambda n: f"{n} dead job(s) purged",
            ),
            yes="Purge",
        )

    def _intent_start_workers(self, _target: str | None) -> None:
        def start(count: int | None) -> None:
            if count:
                self.run_in_thread(
                    lambda: _supervisor().start_workers(self.location, count),
                    lambda started: f"Started {len(started)} worker(s)",
                )

        self.push_screen(CountScreen("How many workers to start?"), start)

    def _intent_stop_worker(self, worker_id: str | None) -> None:
        if worker_id:
            self.say(f"Stopping worker {worker_id} (it finishes its current job)")
            self.run_in_thread(
                lambda: self._stop_and_wait([worker_id], force=False),
                lambda still: _stopped_message([worker_id], still),
            )

    def _intent_force_stop_worker(self, worker_id: str | None) -> None:
        if worker_id:
            self._confirm(
                f"Force-stop worker {worker_id}? Its job is killed and goes back to pending.",
                lambda: self.run_in_thread(
                    lambda: self._stop_and_wait([worker_id], force=True),
                    lambda still: _stopped_message([worker_id], still),
                ),
                yes="Force stop",
            )

    def _intent_stop_all_workers(self, _target: str | None) -> None:
        self._confirm(
            "Stop every worker? Each finishes its current job first.",
            lambda: self.run_in_thread(
                lambda: self._stop_and_wait(None, force=False),
                lambda still: "Every worker stopped" if not still else _stopped_message([], still),
            ),
            yes="Stop all",
        )

    def _stop_and_wait(self, worker_ids: list[str] | None, *, force: bool) -> list[str]:
        """Ask workers to stop, then wait (in this thread) for them; returns those still up."""
        supervisor = _supervisor()
        asked = supervisor.request_stop(worker_ids, force=force)
        if not asked:
            return []
        return list(supervisor.wait_stopped(asked, STOP_WAIT_SECONDS))

    def on_save_settings(self, message: SaveSettings) -> None:
        changes = message.changes

        def save() -> list[str]:
            for key, raw in changes.items():
                if raw is None:
                    config.reset(key)
                else:
                    config.set_value(key, raw)
            return list(changes)

        self.run_in_thread(save, lambda keys: f"Saved {', '.join(keys)}")

    # --- app-wide actions -------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """App keys belong to the main screen: a dialog must never quit or switch panes.

        On the detail screen only the keys that make sense over it stay (new job,
        help, quit); in a modal dialog none do, so ``q`` there is just a letter.
        """
        if action not in MAIN_SCREEN_ACTIONS:
            return True
        if isinstance(self.screen, ModalScreen):
            return False
        if isinstance(self.screen, JobDetailScreen):
            return action in ("new_job", "help", "quit")
        return True

    def action_show_pane(self, pane: str) -> None:
        """Switch to a pane (keys 1-4)."""
        if pane in PANES:
            self.tabs.active = pane
            self.panes[pane].focus_table()

    def action_pane(self, pane: str, action: str) -> None:
        """Run a pane's action from the command palette, showing that pane first."""
        self.action_show_pane(pane)
        self.call_after_refresh(self.panes[pane].run_action, action)

    def action_refresh_now(self) -> None:
        self.refresh_now()

    def action_new_job(self) -> None:
        """Open the new-job form; a valid spec comes back and is enqueued."""

        def enqueue(spec: JobSpec | None) -> None:
            if spec is not None:
                self.run_in_thread(
                    lambda: queue.enqueue(spec, now=self.clock()),
                    lambda job: f"Enqueued job {job.id}",
                )

        self.push_screen(NewJobScreen(), enqueue)

    def action_filter(self) -> None:
        """Show the jobs pane's filter box (``/``)."""
        self.action_show_pane("jobs")
        self.jobs_pane.action_filter()

    def action_clear_filter(self) -> None:
        jobs = self.jobs_pane
        jobs.job_filter = JobFilter()
        jobs.query_one("#job-filter", Input).add_class("hidden")
        self.refresh_now()

    def action_help(self) -> None:
        """Every key, from the bindings themselves."""
        sections = [
            ("Everywhere", [*self.BINDINGS, Binding("ctrl+p", "command_palette", "Commands")]),
            ("Jobs pane (1)", [Binding("enter", "", "Details"), *JobsPane.BINDINGS[1:]]),
            ("Job detail", list(JobDetailScreen.BINDINGS)),
            ("DLQ pane (2)", list(DlqPane.BINDINGS)),
            ("Workers pane (3)", list(WorkersPane.BINDINGS)),
            ("Config pane (4)", [Binding("enter", "", "Edit"), *ConfigPane.BINDINGS]),
        ]
        self.push_screen(HelpScreen(sections))


def _stopped_message(asked: list[str], still: list[str]) -> str:
    if still:
        return f"Still stopping after {STOP_WAIT_SECONDS:.0f}s: {', '.join(still)}"
    return f"Worker {', '.join(asked)} stopped" if asked else "Workers stopped"


def make_app(
    location: str,
    *,
    clock: Callable[[], float] = time.time,
    refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
) -> QueueApp:
    """The dashboard for the database at ``location``: used by ``queuectl tui`` and the tests.

    Opens the database here so a bad location fails before the screen is taken over.
    """
    db.open_database(location)
    return QueueApp(location, clock=clock, refresh_interval=refresh_interval)


__all__ = ["QueueApp", "make_app"]
