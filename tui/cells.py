"""How a database row becomes table cells: the one place cells are made.

Rows are first turned into *parts* (plain text and a style per cell, cheap to
compare), then into ``rich.text.Text`` cells, reusing the previous refresh's
cells where the parts did not change. Untrusted strings (commands, errors,
worker ids) go through ``textsafe`` here. Nothing here knows the screen's width:
cells hold whole values (up to ``CELL_LIMIT``) and the table cuts them to fit.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len
from rich.text import Text

from queuectl.records import slots_in_use
from queuectl.states import ENDED_WORKER_STATES, STATE_STYLES, is_held
from queuectl.store.models import JobState, Worker, WorkerState
from queuectl.textsafe import one_line
from queuectl.timeutil import human_duration
from tui.fit import EndKept, MiddleCut

CELL_LIMIT = 300
"""Characters kept of a long command or error: more than any screen shows, and bounded."""

Cells = tuple[Text, ...]
Row = tuple[str, Cells]
Parts = tuple[tuple[str, str], ...]
"""A row before it becomes ``Text``: (plain text, style) per cell, cheap to compare."""


@dataclass
class TableData:
    """Ordered rows of one table, plus how many matched before the window cut them."""

    rows: list[Row]
    total: int
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)
    parts: dict[str, Parts] = field(default_factory=dict)
    """What each row's cells were made from, for the next refresh to compare with."""
    widths: tuple[int, ...] = ()
    """The widest cell of each column, in terminal cells (empty with no rows)."""
    uniform: tuple[bool, ...] = ()
    """Whether every row shows the same text in the column (one queue, no worker yet)."""


def styled(value: str, style: str = "") -> Text:
    """A cell that is never parsed as markup."""
    return Text(value, style=style, no_wrap=True, overflow="ellipsis")


def state_text(state: str) -> Text:
    return styled(*state_part(state))


def state_part(state: str) -> tuple[str, str]:
    return state, STATE_STYLES.get(state, "")


def build_table(
    items: list[tuple[str, Parts]],
    total: int,
    raw: dict[str, dict[str, Any]],
    previous: TableData | None,
    *,
    id_columns: Collection[int] = (),
    end_columns: Collection[int] = (),
) -> TableData:
    """Turn parts into rows, reusing the previous refresh's cells where the parts match.

    Making ``Text`` is most of a refresh's cost (500 rows × 9 cells), yet between
    two refreshes most cells are unchanged (the age column is the one that moves).
    A reused cell, or row, is the same object, so the table's diff sees it
    unchanged without comparing text.

    Args:
        id_columns: the columns of ids (the row's own, a job's worker, a worker's
            job), whose cells are cut in the middle where their column is too narrow
            (``tui.fit.MiddleCut``), the others at the end.
        end_columns: the columns cut at their start instead (``tui.fit.EndKept``):
            a sparkline, whose newest bars are on the right.
    """
    before_parts = previous.parts if previous is not None else {}
    before_cells = dict(previous.rows) if previous is not None else {}
    made: dict[tuple[str, str], Text] = {}
    made_cut: dict[tuple[str, str], Text] = {}
    made_end: dict[tuple[str, str], Text] = {}

    def cell_at(column: int, part: tuple[str, str]) -> Text:
        # Equal parts share one Text: rendering never changes a Text, and most
        # new cells repeat (every age of a bulk enqueue, "default", "0/4", a worker).
        if column in id_columns:
            cell = made_cut.get(part)
            if cell is None:
                cell = made_cut[part] = MiddleCut(
                    part[0], style=part[1], no_wrap=True, overflow="ellipsis"
                )
            return cell
        if column in end_columns:
            cell = made_end.get(part)
            if cell is None:
                cell = made_end[part] = EndKept(part[0], style=part[1], no_wrap=True)
            return cell
        cell = made.get(part)
        if cell is None:
            cell = made[part] = styled(*part)
        return cell

    rows: list[Row] = []
    for key, parts in items:
        old_parts = before_parts.get(key)
        if old_parts is None:
            cells = tuple(cell_at(column, part) for column, part in enumerate(parts))
        elif old_parts == parts:
            cells = before_cells[key]
        else:
            cells = tuple(
                cell if part == old_part else cell_at(column, part)
                for column, (part, old_part, cell) in enumerate(
                    zip(parts, old_parts, before_cells[key], strict=True)
                )
            )
        rows.append((key, cells))
    widths, uniform = measure_parts([parts for _, parts in items])
    return TableData(rows, total, raw, dict(items), widths, uniform)


def parts_of(
    rows: Sequence[dict[str, Any]],
    previous: TableData | None,
    now: float,
    make: Callable[[dict[str, Any], float], Parts],
    clock_parts: Callable[[dict[str, Any], float], Parts],
    clock_columns: Sequence[int],
) -> list[tuple[str, Parts]]:
    """Each row's parts (``make``), keyed by its id: a row read the same as last refresh
    keeps last refresh's parts but for the cells that move with the clock.

    Between two refreshes most rows are unchanged but for their age, and making their
    parts again (escaping every id and command) cost 6-9% of reading 500 jobs and 500
    dead ones at 100k jobs. ``previous`` must be a table of the same rows' ``make``,
    its ``raw`` the rows as read (compared whole, so any change remakes the row).
    """
    old_rows = previous.raw if previous is not None else {}
    old_parts = previous.parts if previous is not None else {}
    items: list[tuple[str, Parts]] = []
    for row in rows:
        key = row["id"]
        if old_rows.get(key) != row:
            items.append((key, make(row, now)))
            continue
        parts = list(old_parts[key])
        for column, part in zip(clock_columns, clock_parts(row, now), strict=True):
            parts[column] = part
        items.append((key, tuple(parts)))
    return items


def measure_parts(rows: Sequence[Parts]) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """The widest text of each column, and whether the column holds one text throughout.

    A lone row holds one text in every column, which says nothing of the column: none
    is uniform then, or a job filtered down to itself lost every droppable column
    (tries, worker) the moment its command was cut (``columns.fit_columns``)."""
    if not rows:
        return (), ()
    columns = [{text for text, _ in column} for column in zip(*rows, strict=True)]
    return tuple(max(map(_cells, texts)) for texts in columns), tuple(
        len(texts) == 1 and len(rows) > 1 for texts in columns
    )


def measure(rows: Sequence[Sequence[Text]]) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """``measure_parts`` for rows already made into cells (small tables made on the UI side)."""
    return measure_parts([tuple((cell.plain, "") for cell in cells) for cells in rows])


def _cells(text: str) -> int:
    """Terminal cells ``text`` takes: its length when ASCII, which skips a third of the cost."""
    return len(text) if text.isascii() else cell_len(text)


def age(now: float, then: float | None) -> str:
    return "" if then is None else age_text(now - then)


def age_text(seconds: float) -> str:
    """An age as people read one in a list: to the second only while it is young.

    ``42s`` and ``4m05s`` under ten minutes, then ``12m``, ``3h10m``, ``2d4h``
    (as ``kubectl get`` does). An age that ticked every second would redraw
    every visible row every second on an idle dashboard; this one changes once
    a minute past ten minutes.
    """
    if 600 <= seconds < 3600:
        return f"{int(seconds) // 60}m"
    return human_duration(seconds)


def job_duration(row: dict[str, Any], now: float) -> float | None:
    """How long the job ran (its last run), or has been running."""
    if row["started_at"] is None:
        return None
    if row["state"] == JobState.PROCESSING:
        return now - row["started_at"]
    if row["finished_at"] is not None:
        return max(0.0, row["finished_at"] - row["started_at"])
    return None


ID_WIDTH = 14
"""The narrowest the ID column of the Jobs and DLQ panes gets (a generated id is 8): a
longer id is shown whole where there is room and cut in the middle to fit."""


JOB_ID_COLUMNS = (0, 7)
"""Of ``job_parts``: the job's id and its worker's, cut in the middle (``build_table``)."""


JOB_CLOCK_COLUMNS = (5, 6)
"""Of ``job_parts``: the cells that move with the clock alone (``job_clock_parts``)."""


def job_clock_parts(row: dict[str, Any], now: float) -> Parts:
    """The Jobs pane's cells that change while the row does not: its age (or when it is
    due, or ``held``) and how long it took (or has been running)."""
    if is_held(row["state"], row.get("held_at")):
        when = ("held", "bold magenta")  # until released, whatever its due time
    elif row["run_at"] > now and row["state"] in (JobState.PENDING, JobState.FAILED):
        when = ("in " + age_text(row["run_at"] - now), "italic")
    else:
        when = (age(now, row["created_at"]), "")
    return when, (human_duration(job_duration(row, now)), "")


def job_parts(row: dict[str, Any], now: float) -> Parts:
    """Jobs pane cells: id, state, priority, tries, queue, age/due, took, worker, command."""
    when, took = job_clock_parts(row, now)
    command = one_line(row["command"], CELL_LIMIT)
    if row["state"] == JobState.BLOCKED:
        # What it waits for, where the eye reads the job: at the start of its command.
        waits = ", ".join(row.get("waits") or ()) or "its dependencies"
        command = one_line(f"(after {waits}) {row['command']}", CELL_LIMIT)
    return (
        (one_line(row["id"]), ""),
        state_part(row["state"]),
        (str(row["priority"]), ""),
        (f"{row['attempts']}/{row['max_retries'] + 1}", ""),
        (one_line(row["queue"]), ""),
        when,
        took,
        (one_line(row["worker_id"]), ""),
        (command, STATE_STYLES[JobState.BLOCKED] if row["state"] == JobState.BLOCKED else ""),
    )


DLQ_ID_COLUMNS = (0,)
"""Of ``dlq_parts``: the job's id, cut in the middle (``build_table``)."""


DLQ_CLOCK_COLUMNS = (3,)
"""Of ``dlq_parts``: the cell that moves with the clock alone (``dlq_clock_parts``)."""


def dlq_clock_parts(row: dict[str, Any], now: float) -> Parts:
    """The DLQ pane's cell that changes while the row does not: how long ago it died."""
    return ((age(now, row["finished_at"]), ""),)


def dlq_parts(row: dict[str, Any], now: float) -> Parts:
    """The DLQ pane's cells: id, attempts, queue, died, command, last error."""
    (died,) = dlq_clock_parts(row, now)
    return (
        (one_line(row["id"]), ""),
        (str(row["attempts"]), ""),
        (one_line(row["queue"]), ""),
        died,
        (one_line(row["command"], CELL_LIMIT), ""),
        (one_line(dlq_error(row), CELL_LIMIT), "red"),
    )


def dlq_error(row: dict[str, Any]) -> str:
    """Why the job died, then the last line it printed (``exit 3: failing 123``): the
    error alone said ``exit 3``, and what the job said on the way out (its stderr) was
    in its detail screen only. The line is ``last_line``, read by ``tui.data``."""
    return ": ".join(part for part in (row["last_error"], row.get("last_line")) if part)


WORKER_ID_COLUMNS = (0, 4)
"""Of ``worker_parts``: the worker's id and its job's, cut in the middle (``build_table``)."""


def _jobs_cell(worker: Worker) -> str:
    """The worker's job, and how many more its other slots run (``j8k2 +2``): a worker of
    several slots showed one job, and the others' only trace was the Slots count."""
    job = one_line(worker.current_job or "")
    others = (getattr(worker, "slots_busy", 0) or 0) - 1
    return f"{job} +{others}" if job and others > 0 else job


def worker_parts(worker: Worker, now: float) -> Parts:
    """The workers pane's cells, of a row whose ``state`` is as the core's rule sees it
    (``lifecycle.workers.workers_as_seen``: ``lost`` for a worker that died)."""
    state = worker.state
    ended = state in ENDED_WORKER_STATES
    # A lost worker whose jobs are not recovered yet still holds them: what tells a
    # person which lost worker is worth recovering (``x``/``K``), so they stay shown.
    held = getattr(worker, "slots_busy", 0) or 0 if state == WorkerState.LOST else 0
    return (
        (one_line(worker.id), ""),
        (str(worker.pid), ""),
        (one_line(worker.host), ""),
        state_part(state),
        ("" if ended and not held else _jobs_cell(worker), ""),
        (f"{held}/{worker.slots}" if held else slots_in_use(worker), ""),
        ("" if state == WorkerState.STOPPED else human_duration(now - worker.heartbeat_at), ""),
        (f"{worker.jobs_done:,}", "green"),
        (f"{worker.jobs_failed:,}", "red" if worker.jobs_failed else ""),
        (one_line(worker.queues, CELL_LIMIT), ""),
    )
