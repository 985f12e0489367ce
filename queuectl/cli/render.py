"""Human-readable output: Rich tables and detail views.

Imported only by commands that print tables, so ``queuectl enqueue`` never
pays for Rich. Every untrusted string is wrapped in ``Text`` after going
through ``textsafe``: Rich markup in a command stays literal, and escape
sequences in output are shown, not executed.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.table import Table
from rich.text import Text

from queuectl.jobspec import env_from_json
from queuectl.records import dropped_line, slots_in_use
from queuectl.states import STATE_STYLES, is_held
from queuectl.styled import output_text
from queuectl.textsafe import bounded, inert, one_line
from queuectl.timeutil import human_duration, iso, timeout_text
from queuectl.wording import TTY_SHOWN, figure, own_hook

if TYPE_CHECKING:
    from queuectl.store.models import Job, Run, Worker

PIPED_WIDTH = 1_000_000
"""Rich's width when stdout is not a terminal: wide enough that nothing is ever cut.

A script reading ``queuectl list | grep`` must get whole commands, not what
fitted Rich's default of 80 columns."""


def console(*, color: bool | None = None) -> Console:
    """Where tables go: the terminal's width on a terminal, no limit when piped.

    Args:
        color: styles on (``--color always``: even when piped) or off (``never``);
            ``None`` leaves it to Rich (a terminal, and NO_COLOR unset).
    """
    probe = PipedConsole(highlight=False, soft_wrap=False)
    styles: dict[str, Any] = {}
    if color is True:
        styles = {"force_terminal": True, "no_color": False}
    elif color is False:
        styles = {"color_system": None}
    if probe.is_terminal:
        return PipedConsole(highlight=False, soft_wrap=False, **styles) if styles else probe
    return PipedConsole(highlight=False, soft_wrap=False, width=PIPED_WIDTH, **styles)


class PipedConsole(Console):
    """A console whose reader may leave: ``queuectl status | head -1``.

    Rich's own answer is to exit 1, so a script under ``set -o pipefail`` failed
    on ``status`` and not on ``list``, which prints through click; the error is
    raised instead and handled once for every command (``QueuectlGroup.main``).
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError

    def _render_buffer(self, buffer: Any) -> str:
        """Rich's text, without the blanks that pad each table row to the last column's
        width when the text is plain (piped, no colour): ``show X | sed 's/^cwd *//'``
        kept them. Styled text is left as drawn."""
        rendered = super()._render_buffer(buffer)
        if self.is_terminal or self._color_system is not None or " \n" not in rendered:
            return rendered
        return "\n".join(line.rstrip(" ") for line in rendered.split("\n"))


def fits(out: Console) -> int | None:
    """The width tables must fit, or ``None`` when output is piped (nothing is cut)."""
    return None if out.width >= PIPED_WIDTH else out.width


def styled_state(state: str | None) -> Text:
    return Text(one_line(state) or "running", style=STATE_STYLES.get(state or "", ""))


def relative(epoch: float | None, now: float) -> str:
    """``5s ago`` or ``in 2m00s``: what an operator scanning a table wants."""
    if epoch is None:
        return ""
    delta = epoch - now
    if abs(delta) < 1:
        return "now"
    return f"in {human_duration(delta)}" if delta > 0 else f"{human_duration(-delta)} ago"


def jobs_table(
    jobs: Iterable[Job],
    *,
    now: float | None = None,
    dlq: bool = False,
    width: int | None = 80,
    waits: Mapping[str, Sequence[str]] | None = None,
    paused: Collection[str] = (),
) -> Table:
    """Jobs as a table. On a terminal (``width``) only COMMAND is cut to make room;
    piped (``width=None``) nothing is cut, and COMMAND is the last column, as in ``ps``:
    before WHEN, one 131 KB command padded every other line to its width (51 MB from
    ``list --all | grep``). A blocked job's WHEN says what it waits for (``waits``: its
    unfinished dependencies, by job id); a waiting job's in a ``paused`` queue says
    ``paused`` (it read "2.4s ago", as if it were about to run)."""
    now = time.time() if now is None else now
    waits = waits or {}
    rows = []
    for job in jobs:
        held = is_held(job.state, job.held_at)
        if dlq:
            last = one_line(bounded(job.last_error, length=getattr(job, "last_error_length", None)))
        elif job.state == "blocked":
            last = ("held, " if held else "") + waits_text(waits.get(job.id, ()))
        elif held:
            last = "held"  # until released, whatever its due time (as the dashboard says)
        elif job.state in ("pending", "failed") and job.queue in paused:
            last = "paused"  # until its queue resumes, whatever its due time
        elif job.state in ("pending", "failed") and job.run_at > now:
            last = f"due {relative(job.run_at, now)}"
        else:
            last = relative(job.updated_at, now)
        rows.append(
            (
                one_line(job.id),  # ids come from the database: a hostile row's too
                one_line(job.state),
                str(job.priority),
                f"{job.attempts}/{job.max_retries + 1}",
                one_line(job.queue),
                one_line(bounded(job.command, length=getattr(job, "command_length", None))),
                last,
            )
        )
    headers = ("ID", "STATE", "PRI", "TRIES", "QUEUE", "COMMAND", "LAST ERROR" if dlq else "WHEN")
    # COMMAND gives way first, then the others only as far as they must: ids were cut at
    # 20 characters at any width ("report:20261206T160…" beside a 4-cell COMMAND at 160
    # columns), and an id is what every other command takes.
    # Narrower still, PRI, TRIES, WHEN and QUEUE (the DLQ's QUEUE, then LAST ERROR) are
    # left out in turn: Rich's squeeze cut every column alike, and at 30 columns each id
    # read "…", naming no job at all.
    shrink = (
        *((5, 10), (6, 24 if dlq else 16), (4, 12), (0, 20), (5, 5), (4, 7), (0, 12)),
        *((2, 0), (3, 0), *(((4, 0), (6, 0)) if dlq else ((6, 0), (4, 0)))),
    )
    widths = fitted_widths(headers, rows, width, shrink, gap=1)
    rows = [(_middle_cut(row[0], widths[0]), *row[1:]) for row in rows]

    table = Table(box=None, header_style="bold", pad_edge=False, collapse_padding=True)
    order = [
        index for index in (PIPED_ORDER if width is None else range(len(headers))) if widths[index]
    ]
    for index in order:
        justify = "right" if headers[index] in ("PRI", "TRIES") else "left"
        table.add_column(
            headers[index], no_wrap=True, width=widths[index], overflow="ellipsis", justify=justify
        )
    for job_id, state, priority, tries, queue_name, command, last in rows:
        cells = (
            Text(job_id),
            styled_state(state),
            priority,
            tries,
            Text(queue_name),
            Text(command),  # cut by the column, in cells: combining marks take none
            Text(last),
        )
        table.add_row(*(cells[index] for index in order))
    return table


PIPED_ORDER = (0, 1, 2, 3, 4, 6, 5)
"""``jobs_table``'s columns when piped: COMMAND (5) after WHEN or LAST ERROR (6)."""


def fitted_widths(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int | None,
    shrink: Sequence[tuple[int, int]],
    *,
    gap: int = 2,
) -> list[int]:
    """Column widths for a table of ``rows`` on a terminal ``width`` wide (``None``:
    piped, nothing cut): each column as wide as its widest cell, then the ``shrink``
    columns, (index, narrowest) in turn, cut until the table fits; a narrowest of 0
    drops the column (the caller leaves out a column of width 0), where one cell of it
    would say nothing. The columns a reader came for are left out of ``shrink``: Rich's
    own squeeze took every column down alike, so ``cron list`` at 80 columns lost SPEC
    and showed NEXT as ``in 15…``."""
    natural = [
        max([cell_len(header), *(cell_len(row[i]) for row in rows)])
        for i, header in enumerate(headers)
    ]
    if width is None:
        return natural
    dropped: set[int] = set()
    while True:
        widths = [0 if i in dropped else w for i, w in enumerate(natural)]
        for column, narrowest in shrink:
            shown = [w for w in widths if w]
            over = sum(shown) + gap * (len(shown) - 1) - width
            if over <= 0:
                return widths
            if column in dropped:
                continue
            if narrowest:
                widths[column] = min(widths[column], max(narrowest, widths[column] - over))
            else:
                dropped.add(column)  # then the others get their room back: start again
                break
        else:
            return widths


def fitted_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Text]],
    width: int | None,
    shrink: Sequence[tuple[int, int]],
    *,
    right: frozenset[str] = frozenset(),
) -> Table:
    """A table of styled cells whose columns fit ``width`` as ``fitted_widths`` says:
    only the ``shrink`` columns narrow or go, in turn. Rich's own squeeze took every
    column down alike: ``worker list`` at 80 columns showed its ids as ``wk…`` and
    ``queue list`` lost the HELD and DEAD figures whole."""
    widths = fitted_widths(headers, [[cell.plain for cell in row] for row in rows], width, shrink)
    table = Table(box=None, header_style="bold", pad_edge=False)
    shown = [index for index, column_width in enumerate(widths) if column_width]
    for index in shown:
        table.add_column(
            headers[index],
            no_wrap=True,
            width=widths[index],
            overflow="ellipsis",
            justify="right" if headers[index] in right else "left",
        )
    for row in rows:
        table.add_row(*(row[index] for index in shown))
    return table


def _middle_cut(text: str, width: int) -> str:
    """``text`` in ``width`` cells, cut in the middle: a schedule's fires differ at the
    end (``report:20261206T160000Z``), so the head alone would not tell them apart."""
    if cell_len(text) <= width or width < 5:
        return text  # fits, or too narrow to cut usefully: the column's ellipsis does
    tail_cells = (width - 1) // 2
    tail = ""
    for char in reversed(text):
        if cell_len(char + tail) > tail_cells:
            break
        tail = char + tail
    return set_cell_size(text, width - 1 - cell_len(tail)) + "…" + tail


def waits_text(dependencies: Sequence[str]) -> str:
    """``after build, test``: what a blocked job waits for, in a cell."""
    if not dependencies:
        return "after (unblocking)"
    return "after " + ", ".join(one_line(job_id) for job_id in dependencies)


def _links_text(links: Sequence[Any]) -> Text:
    """``build (completed), test (pending)``: jobs at the other end of dependencies."""
    text = Text()
    for index, link in enumerate(links):
        if index:
            text.append(", ")
        text.append(one_line(link.id))
        text.append(" (")
        text.append(link.state or "deleted", style=STATE_STYLES.get(link.state or "", "dim"))
        text.append(")")
    return text


def runs_table(runs: Iterable[Run]) -> Table:
    """A job's runs: RUN numbers never repeat; TRY is the attempt (restarts on retry)."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("RUN", "TRY", "WORKER", "STARTED", "DURATION", "OUTCOME", "EXIT"):
        table.add_column(name, no_wrap=True, justify="right" if name in ("RUN", "TRY") else "left")
    for run in runs:
        table.add_row(
            str(run.run),
            str(run.attempt),
            Text(one_line(run.worker_id)),
            iso(run.started_at) or "",
            human_duration(run.duration) if run.duration is not None else "",
            styled_state(run.outcome),
            "" if run.exit_code is None else str(run.exit_code),
        )
    return table


def _field(text: str) -> Text:
    """A value of ``show``'s fields, its tabs expanded: rich measures a tab as nothing and
    draws it as up to eight cells, so ``echo a<TAB>b<TAB>c<TAB>d`` was wrapped onto a second
    line, which in a shell command reads as a second command."""
    value = Text(text)
    value.expand_tabs()
    return value


def job_detail(
    job: Job,
    runs: list[Run],
    *,
    color: bool = False,
    links: tuple[Sequence[Any], Sequence[Any]] = ((), ()),
) -> list[Any]:
    """The renderables of ``show``: fields, its dependencies and dependents with their
    states (``links``, as ``deps.links`` reads them), runs, and the latest run's output
    (with ``color``, styled by its own SGR sequences; every other escape inert)."""
    dependencies, dependents = links
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column()
    env = env_from_json(job.env)
    rows: list[tuple[str, Text | str]] = [
        ("id", Text(one_line(job.id))),
        ("state", styled_state(job.state)),
        ("command", _field(inert(bounded(job.command)))),
        ("queue", Text(one_line(job.queue))),
        ("priority", str(job.priority)),
        ("attempts", f"{job.attempts} of {job.max_retries + 1}"),
        ("timeout", timeout_text(job.timeout)),
        ("cwd", Text(one_line(job.cwd))),
        ("env", Text("\n".join(one_line(f"{k}={shlex.quote(v)}") for k, v in env.items()))),
        ("unique key", Text(one_line(job.unique_key or ""))),
        ("on success", _field(own_hook(job.on_success))),
        ("on failure", _field(own_hook(job.on_failure))),
        ("tty", TTY_SHOWN if job.tty else ""),
        ("after", _links_text(dependencies)),
        ("dependents", _links_text(dependents)),
        ("created", iso(job.created_at) or ""),
        ("run at", iso(job.run_at) or ""),
        (
            "held since",
            f"{iso(job.held_at)} (until released)" if is_held(job.state, job.held_at) else "",
        ),
        ("started", iso(job.started_at) or ""),
        ("finished", iso(job.finished_at) or ""),
        ("worker", Text(one_line(job.worker_id))),
        ("exit code", "" if job.exit_code is None else str(job.exit_code)),
        ("last error", _field(inert(bounded(job.last_error)))),
    ]
    for name, value in rows:
        if value:
            fields.add_row(name, value)
    parts: list[Any] = [fields]
    if runs:
        parts += [Text(""), Text("Runs", style="bold"), runs_table(runs)]
        latest = runs[-1]
        title = f"Output (run {latest.run}, attempt {latest.attempt})"
        parts += [Text(""), Text(title, style="bold")]
        dropped = dropped_line(latest.output, latest.output_bytes)
        if dropped:
            parts.append(Text(dropped, style="dim"))
        if color and latest.output:
            parts.append(output_text(latest.output))
        else:
            parts.append(Text(inert(latest.output) or "(no output)"))
    return parts


def counts_table(counts: Mapping[str, int]) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(justify="right")
    for state, count in counts.items():
        table.add_row(styled_state(state), figure(count))
    return table


WORKER_HEADERS = (
    "ID", "PID", "HOST", "QUEUES", "STATE", "JOB", "SLOTS", "HEARTBEAT", "DONE", "FAILED"
)  # fmt: skip
WORKER_SHRINK = ((3, 12), (2, 8), (5, 10), (9, 0), (8, 0), (6, 0), (2, 0), (1, 0))
"""What gives way at a narrow width: QUEUES, HOST and JOB narrow, then the counts,
SLOTS, HOST and PID go. The id, which ``worker stop`` takes, is never cut."""


def workers_table(
    workers: Iterable[Worker], *, now: float | None = None, width: int | None = None
) -> Table:
    """Workers with the queues they serve; a stopped or lost one shows when it ended.
    Fitted to ``width`` (``None``: piped, nothing cut)."""
    now = time.time() if now is None else now
    rows = [
        [
            Text(one_line(worker.id)),
            Text(str(worker.pid)),
            Text(one_line(worker.host)),
            Text(one_line(worker.queues)),
            styled_state(worker.state),
            Text(one_line(worker.current_job)),
            Text(slots_in_use(worker)),
            Text(relative(worker.heartbeat_at, now)),
            Text(figure(worker.jobs_done)),
            Text(figure(worker.jobs_failed)),
        ]
        for worker in workers
    ]
    return fitted_table(
        WORKER_HEADERS, rows, width, WORKER_SHRINK, right=frozenset({"DONE", "FAILED"})
    )
