"""One job in full: every field, its runs, and the selected run's output, live."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from queuectl.errors import JobNotFound, StoreUnavailable
from queuectl.jobspec import env_from_json
from queuectl.lifecycle import deps, manage, reads
from queuectl.lifecycle.deps import Link
from queuectl.states import is_held
from queuectl.store.models import Job, Run
from queuectl.textsafe import bounded, inert, one_line
from queuectl.timeutil import human_duration, iso, timeout_text
from queuectl.wording import TTY_SHOWN, own_hook
from tui.cells import Row, state_text, styled
from tui.columns import ColumnSpec
from tui.fit import FirstThatFits
from tui.keybar import KeyBar
from tui.messages import intend
from tui.output import OutputView, kept_note
from tui.panes.table import KeyedTable
from tui.readthread import read_thread
from tui.screens import close
from tui.screens.logview import LogScreen

RUN_COLUMNS = [
    ColumnSpec("run", "Run"),  # never repeats, as `queuectl show`'s RUN
    ColumnSpec("attempt", "Try"),  # restarts at 1 when the job is retried
    ColumnSpec("worker", "Worker", max_width=16, drop=1),
    ColumnSpec("started", "Started", min_width=20),
    ColumnSpec("duration", "Took", min_width=6),
    ColumnSpec("outcome", "Outcome", min_width=9),
    ColumnSpec("exit", "Exit", flex=1, flex_min=4),
]


@dataclass
class JobView:
    """A job, its runs and its dependencies both ways, read together in a thread worker."""

    job: Job | None
    runs: list[Run]
    dependencies: list[Link] = field(default_factory=list)
    dependents: list[Link] = field(default_factory=list)
    counts: tuple[int, int] = (0, 0)
    """How many dependencies and dependents there are: only the first ``LINKS_SHOWN``
    of each are read."""


LINKS_SHOWN = 50
"""Jobs named in After and Dependents. A job given 50,000 dependencies (written past the
CLI's 100) took 10 s to open and held 86% of a core while open, each read listing all."""


class DetailLoaded(Message):
    def __init__(self, view: JobView) -> None:
        super().__init__()
        self.view = view


def links_text(links: list[Link], total: int = 0) -> Text:
    """``build completed, test pending``: each job at the other end of a dependency,
    its state in the state's colour (``deleted`` when it is gone); ``total``, when more
    than are given, says how many more there are."""
    text = Text()
    for index, link in enumerate(links):
        if index:
            text.append(", ")
        text.append(one_line(link.id))
        state = link.state or "deleted"
        text.append(f" {state}", style=state_text(state).style if link.state else "dim")
    if total > len(links):
        text.append(f" and {total - len(links):,} more", style="dim")
    return text


def _acts_on(view: JobView | None) -> tuple[str, bool] | None:
    """What the offered keys depend on: the job's state and whether it is held."""
    if view is None:
        return None
    job = view.job
    return ("gone", False) if job is None else (job.state, is_held(job.state, job.held_at))


def _pairs_grid() -> Table:
    """Two label/value pairs a row: the short fields."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="bold", no_wrap=True, min_width=LABEL_WIDTH)
    grid.add_column(ratio=1)
    grid.add_column(style="bold", no_wrap=True, min_width=9)
    grid.add_column(ratio=1)
    return grid


def _wide_grid() -> Table:
    """One label and a value across the whole width, folded onto as many lines as it
    takes: a command, an error or a list of jobs is read whole, never cut with "…"."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="bold", no_wrap=True, min_width=LABEL_WIDTH)
    grid.add_column(ratio=1, overflow="fold")
    return grid


LABEL_WIDTH = 10
"""The widest label ("Dependents", "Unique key", "Last error"), so the grids' values align."""


def _fields(job: Job, now: float, view: JobView | None = None) -> Group:
    """Every job field as label/value grids; untrusted text made inert, never markup.

    Long values (the command, dependencies, the unique key, the last error) take a
    row of the full width each; the short ones sit two to a row.
    """

    def when(epoch: float | None) -> Text | FirstThatFits:
        if epoch is None:
            return Text("—", style="dim")
        return FirstThatFits(*(Text(form) for form in time_forms(epoch, now)))

    timeout = timeout_text(job.timeout)
    command = _wide_grid()
    command.add_row("Command", Text(inert(bounded(job.command))))
    state = _pairs_grid()
    state.add_row("State", state_text(job.state), "Queue", Text(one_line(job.queue)))
    if is_held(job.state, job.held_at):  # the Jobs row says "held"; here said only "pending"
        # A time of the pairs, as Created is: a row of the full width always had room
        # for the date, so at 80 columns it kept it while every other time dropped it.
        state.add_row("Held", when(job.held_at), "Until", Text("released (h)"))
    # What a blocked job waits for, and what waits for it, next to its state: at 80x24
    # the fields show about eight rows.
    links = _wide_grid()
    if view is not None and view.dependencies:
        links.add_row("After", links_text(view.dependencies, view.counts[0]))
    if view is not None and view.dependents:
        links.add_row("Dependents", links_text(view.dependents, view.counts[1]))
    rest = _pairs_grid()
    rest.add_row(
        "Attempts",
        Text(f"{job.attempts} of {job.max_retries + 1}"),
        "Priority",
        Text(str(job.priority)),
    )
    rest.add_row("Created", when(job.created_at), "Run at", when(job.run_at))
    rest.add_row("Started", when(job.started_at), "Finished", when(job.finished_at))
    rest.add_row(
        "Worker",
        Text(one_line(job.worker_id) or "—"),
        "Exit code",
        Text("—" if job.exit_code is None else str(job.exit_code)),
    )
    rest.add_row("Timeout", Text(timeout), "Cwd", Text(one_line(job.cwd)))
    tail = _wide_grid()
    if job.unique_key:
        tail.add_row("Unique key", Text(one_line(job.unique_key)))
    names = sorted(env_from_json(job.env))
    if names:  # names only: a value may be a token, and a screen is seen by others
        tail.add_row(
            "Env",
            Text.assemble(one_line(", ".join(names)), (" (values: queuectl show)", "dim")),
        )
    for label, hook in (("On success", job.on_success), ("On failure", job.on_failure)):
        if hook is not None:
            tail.add_row(label, Text(own_hook(hook)))
    if job.tty:
        tail.add_row("Terminal", Text(TTY_SHOWN))
    if job.last_error:
        tail.add_row("Last error", Text(inert(bounded(job.last_error)), style="red"))
    return Group(*(grid for grid in (command, state, links, rest, tail) if grid.row_count))


def time_forms(epoch: float, now: float) -> list[str]:
    """A time as the detail screen shows it, longest first (``FirstThatFits`` picks):
    ``2026-12-05T03:58:23Z (13s ago)``, then without the date when it is today's
    (UTC, as every time shown), else without the seconds, then ``13s ago`` alone."""
    delta = now - epoch
    rel = f"{human_duration(abs(delta))} {'ago' if delta >= 0 else 'from now'}"
    full = iso(epoch) or ""
    if full.startswith("invalid"):
        return [f"{full} ({rel})", rel]
    same_day = full[:10] == (iso(now) or "")[:10]
    short = full[11:] if same_day else f"{full[5:16]}Z"
    return [f"{full} ({rel})", f"{short} ({rel})", rel]


def run_rows(runs: list[Run], now: float) -> list[Row]:
    rows: list[Row] = []
    for run in runs:
        running = run.outcome is None
        took = (now - run.started_at) if running else run.duration
        outcome = run.outcome or "running"
        style = {"succeeded": "green", "running": "bold cyan"}.get(outcome, "red")
        rows.append(
            (
                str(run.id),
                (
                    styled(str(run.run)),
                    styled(str(run.attempt)),
                    styled(one_line(run.worker_id, 20)),
                    styled(iso(run.started_at) or ""),
                    styled(human_duration(took)),
                    styled(outcome, style),
                    styled("" if run.exit_code is None else str(run.exit_code)),
                ),
            )
        )
    return rows


class JobDetailScreen(Screen[None]):
    """Follows the job live: the output of a running attempt grows as its worker reports it."""

    AUTO_FOCUS = "#runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
        Binding("r", "act('retry')", "Retry"),
        Binding("c", "act('cancel')", "Cancel", tooltip="Cancel (asks)"),
        Binding("d", "act('delete')", "Delete", tooltip="Delete (asks)"),
        Binding("h", "act('hold')", "Hold", tooltip="Keep this waiting job from starting"),
        Binding("h", "act('release')", "Release", tooltip="Let this held job start again"),
        Binding("l", "log", "Log", tooltip="The run's output, full screen: search, follow, export"),
    ]
    """Detail keys: act on this job, or go back. Only those that apply to the job's
    state are offered (``check_action``); ``h`` is Hold or Release, as the job is."""

    def __init__(self, job_id: str, clock: Callable[[], float], interval: float) -> None:
        super().__init__()
        self.job_id = job_id
        self.clock = clock
        self.interval = interval
        self._runs: dict[str, Run] = {}
        self._shown_run: str | None = None
        self._follow_latest = True
        self.view: JobView | None = None
        """The job as last read (the app names it in confirmations)."""
        self.loads = 0
        """How many reads were applied; tests wait on it instead of sleeping."""

    def compose(self) -> ComposeResult:
        yield Static(Text(f"Job {one_line(self.job_id)}"), id="detail-title")
        # Focusable (tab, shift+tab): at 80x24 a long command or error pushes fields below
        # the box's third of the screen, and only a mouse wheel reached them.
        with VerticalScroll(id="detail-fields-box"):
            yield Static("", id="detail-fields")
        runs = KeyedTable(RUN_COLUMNS, id="runs")
        runs.border_title = "Runs"
        yield runs
        output = OutputView(id="output")
        output.border_title = "Output"
        yield output
        yield KeyBar()

    def on_mount(self) -> None:
        self.load()

    def action_back(self) -> None:
        """Back to the panes (``esc``/``q``); a second press in a burst does nothing."""
        close(self)

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def load(self) -> None:
        """Read the job and its runs off the UI thread.

        With the database away (a PostgreSQL restart, a deleted file), the screen
        keeps what it last read, says so, and reads again a refresh later: the
        error ended the whole dashboard with a traceback.
        """
        try:
            job, runs, (dependencies, dependents), counts = read_thread(self.app).run(self._read)
        except JobNotFound:
            job, runs, dependencies, dependents, counts = None, [], [], [], (0, 0)
        except StoreUnavailable as exc:
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._unavailable, exc.explain())
            return
        if not get_current_worker().is_cancelled:
            view = JobView(job, runs, dependencies, dependents, counts)
            self.post_message(DetailLoaded(view))

    def _read(self) -> tuple[Job, list[Run], tuple[list[Link], list[Link]], tuple[int, int]]:
        job, runs = reads.get_job(self.job_id), reads.runs_of(self.job_id)
        after, before = deps.links(self.job_id, limit=LINKS_SHOWN)
        # Counted only when a list is full: shorter, it is whole (every read, each refresh).
        full = LINKS_SHOWN in (len(after), len(before))
        counts = deps.link_counts(self.job_id) if full else (len(after), len(before))
        return job, runs, (after, before), counts

    def _unavailable(self, reason: str) -> None:
        """The database is away: say so over what was read, and read again later."""
        if not self.is_attached:
            return
        title = self.query_one("#detail-title", Static)
        # Opened while the database was away, nothing was read: it said "showing what was
        # read before" over empty fields.
        shown = " · showing what was read before" if self.view is not None else ""
        title.update(
            Text.assemble(
                f"Job {one_line(self.job_id)} · ",
                (f"database unavailable: {one_line(reason)}", "bold red"),
                shown,
            )
        )
        if self.view is None:
            self.query_one("#detail-fields", Static).update(
                Text(f"Not read yet: trying again every {self.interval:g}s.", style="dim")
            )
        self.set_timer(self.interval, self.load)

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        if not self.is_current:
            return  # gone back already: nothing to show it on
        self.query_one("#detail-title", Static).update(Text(f"Job {one_line(self.job_id)}"))
        view = message.view
        if _acts_on(self.view) != _acts_on(view):
            self.refresh_bindings()  # the keys that apply change with the job's state
        self.view = view
        now = self.clock()
        if view.job is None:
            self.query_one("#detail-fields", Static).update(
                Text("This job no longer exists.", style="bold red")
            )
        else:
            self.query_one("#detail-fields", Static).update(_fields(view.job, now, view))
        table = self.query_one("#runs", KeyedTable)
        table.apply(run_rows(view.runs, now))
        self._runs = {str(run.id): run for run in view.runs}
        if view.runs and (self._follow_latest or self._shown_run not in self._runs):
            table.select_key(str(view.runs[-1].id))
            self._show_output(str(view.runs[-1].id))
        elif self._shown_run is not None:
            self._show_output(self._shown_run)
        elif view.job is not None and not view.runs:
            self.query_one("#output", OutputView).border_subtitle = "no runs yet"
        self.loads += 1
        if view.job is not None:
            self.set_timer(self.interval, self.load)

    def _show_output(self, run_id: str) -> None:
        """Show a run's output in its colours; appended lines are drawn, anything else redraws."""
        run = self._runs.get(run_id)
        log = self.query_one("#output", OutputView)
        if run is None:
            return
        log.show(run.output, run_id, finished=run.outcome is not None)
        self._shown_run = run_id
        live = " · live" if run.outcome is None and self._is_running() else ""
        kept = kept_note(run.output, run.output_bytes)
        title = f"Output of run {run.run} (attempt {run.attempt}){live}"
        log.border_title = f"{title} · {kept}" if kept else title

    def _is_running(self) -> bool:
        return any(run.outcome is None for run in self._runs.values())

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        run_id = event.row_key.value if event.row_key is not None else None
        if run_id is None or run_id == self._shown_run:
            return
        latest = max(self._runs, key=int) if self._runs else None
        self._follow_latest = run_id == latest
        self._show_output(run_id)

    def action_log(self) -> None:
        """Open the shown run's output full screen (search, follow, wrap, export)."""
        # Gone: the output it printed stays shown here, but its runs went with it, and
        # the log opened blank, titled "this run no longer exists".
        gone = self.view is not None and self.view.job is None
        if self._shown_run is None or gone:
            said = "This job no longer exists" if gone else "This job has not run yet"
            self.notify(said, severity="warning")
            return
        self.app.push_screen(LogScreen(self.job_id, int(self._shown_run), self.interval))

    def offers(self, action: str) -> bool:
        """Whether the key bar shows ``action`` as applying (``KeyBar``): ``l`` Log is
        dimmed once the job is gone, as pressed it can only say so (and still does)."""
        return action != "log" or self.view is None or self.view.job is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer an action only where the core's rule lets it touch the job as last read
        (``Action.applies_to``): on a completed job the bar offered Cancel and Hold,
        which could only be refused. Before the first read every key is offered; a job
        that no longer exists is offered none. The core still decides: the read may be
        a refresh old."""
        if action != "act" or self.view is None:
            return True
        job = self.view.job
        if job is None:
            return False
        rule = manage.ACTIONS[str(parameters[0])]
        return rule.applies_to(job.state, held=is_held(job.state, job.held_at))

    def why_not_now(self, key: str) -> str | None:
        """Why a job key hidden here does nothing (``QueueApp.key_unbound``): ``c`` on a
        dead job's detail said nothing, where the Jobs pane says why."""
        job = self.view.job if self.view is not None else None
        if job is None:
            return None
        for binding in self.BINDINGS:
            if not isinstance(binding, Binding) or binding.key != key:
                continue
            verb = binding.action.removeprefix("act('").removesuffix("')")
            rule = manage.ACTIONS.get(verb)
            if rule is None or rule.applies_to(job.state, held=is_held(job.state, job.held_at)):
                continue
            return f"{binding.description}: job {one_line(job.id)} is {job.state}; {rule.why_not}"
        return None

    def action_act(self, verb: str) -> None:
        """``verb`` on this job; hold and release are one intent, that toggles."""
        intend(self, "hold" if verb == "release" else verb, self.job_id)  # type: ignore[arg-type]
