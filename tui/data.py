"""Everything the dashboard reads from the database, in one place, off the UI thread.

``read_snapshot`` runs in a thread worker and returns a ``Snapshot``: every
table already windowed, sorted and formatted into ``rich.text.Text`` cells, so
the UI thread only diffs rows by key. Untrusted strings (commands, errors,
worker ids) go through ``textsafe`` here, the one place cells are built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import peewee
from rich.cells import cell_len
from rich.text import Text

from queuectl.lifecycle import reads
from queuectl.lifecycle.settings import load as load_settings
from queuectl.lifecycle.workers import shown_state
from queuectl.states import ENDED_WORKER_STATES
from queuectl.store.models import Job, JobState, Run, Worker, WorkerState, database
from queuectl.store.transactions import read_transaction
from queuectl.textsafe import one_line
from queuectl.timeutil import human_duration

WINDOW = 500
"""Rows fetched per table: the newest N matching the filter, so 100k jobs cost what 500 do."""

SPARK_BUCKETS = 30
SPARK_BUCKET_SECONDS = 10.0
"""Throughput: jobs finished per 10 s over the last 5 minutes."""

STATE_STYLES: dict[str, str] = {
    JobState.PENDING: "yellow",
    JobState.PROCESSING: "bold cyan",
    JobState.COMPLETED: "green",
    JobState.FAILED: "dark_orange",
    JobState.DEAD: "bold red",
    JobState.CANCELLED: "bright_black",
    WorkerState.IDLE: "green",
    WorkerState.BUSY: "bold cyan",
    WorkerState.STOPPING: "yellow",
    WorkerState.STOPPED: "bright_black",
    WorkerState.LOST: "bold red",
}

Cells = tuple[Text, ...]
Row = tuple[str, Cells]
Parts = tuple[tuple[str, str], ...]
"""A row before it becomes ``Text``: (plain text, style) per cell, cheap to compare."""


@dataclass(frozen=True)
class JobFilter:
    """What the jobs pane shows: parsed from the ``/`` box, pushed into SQL."""

    states: tuple[JobState, ...] = ()
    queue: str | None = None
    text: str = ""

    @property
    def active(self) -> bool:
        return bool(self.states or self.queue or self.text)

    def describe(self) -> str:
        parts = []
        if self.states:
            parts.append("state:" + ",".join(s.value for s in self.states))
        if self.queue:
            parts.append(f"queue:{self.queue}")
        if self.text:
            parts.append(self.text)
        return " ".join(parts)


def parse_filter(text: str) -> JobFilter:
    """``state:failed,dead queue:mail backup`` → states, queue and free text.

    Raises:
        ValueError: an unknown state name (the message lists the valid ones).
    """
    states: list[JobState] = []
    queue_name: str | None = None
    words: list[str] = []
    for token in text.split():
        lowered = token.lower()
        if lowered.startswith("state:"):
            for name in filter(None, lowered[6:].split(",")):
                try:
                    states.append(JobState(name))
                except ValueError:
                    valid = ", ".join(s.value for s in JobState)
                    raise ValueError(f"unknown state {name!r}; use one of {valid}") from None
        elif lowered.startswith("queue:") and len(token) > 6:
            queue_name = token[6:]
        else:
            words.append(token)
    return JobFilter(tuple(dict.fromkeys(states)), queue_name, " ".join(words))


@dataclass(frozen=True)
class Sort:
    """A table's sort: a column key and direction; ``None`` is the natural (newest first)."""

    column: str | None = None
    reverse: bool = False


@dataclass(frozen=True)
class Request:
    """What the UI wants read: the filter and sorts in force when the refresh started."""

    job_filter: JobFilter = JobFilter()
    jobs_sort: Sort = Sort()
    dlq_sort: Sort = Sort()
    limit: int = WINDOW
    command_width: int = 60
    """Commands are cut to what the screen shows, so the jobs table fits without scrolling."""
    previous: Snapshot | None = field(default=None, repr=False)
    """The last snapshot applied: its unchanged cells are reused, its largest state not counted.

    Kept out of the repr: Textual describes a worker by its arguments' repr, and
    a whole snapshot's repr cost the UI thread 11-34 ms per refresh.
    """


@dataclass
class TableData:
    """Ordered rows of one table, plus how many matched before the window cut them."""

    rows: list[Row]
    total: int
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)
    parts: dict[str, Parts] = field(default_factory=dict)
    """What each row's cells were made from, for the next refresh to compare with."""
    widths: tuple[int, ...] = ()
    """The widest cell of each column, when measured (the jobs table; empty with no rows)."""


@dataclass
class Snapshot:
    """One consistent read of the database, ready to apply."""

    now: float
    counts: dict[str, int]
    workers_busy: int
    workers_idle: int
    throughput: list[float]
    jobs: TableData
    dlq: TableData
    workers: TableData
    settings: dict[str, float | int]
    command_width: int = 60
    elapsed: float = 0.0


def styled(value: str, style: str = "") -> Text:
    """A cell that is never parsed as markup."""
    return Text(value, style=style, no_wrap=True, overflow="ellipsis")


def state_text(state: str) -> Text:
    return styled(*_state(state))


def _state(state: str) -> tuple[str, str]:
    return state, STATE_STYLES.get(state, "")


def build_table(
    items: list[tuple[str, Parts]],
    total: int,
    raw: dict[str, dict[str, Any]],
    previous: TableData | None,
    *,
    measure: bool = False,
) -> TableData:
    """Turn parts into rows, reusing the previous refresh's cells where the parts match.

    Making ``Text`` is most of a refresh's cost (500 rows × 9 cells), yet between
    two refreshes most cells are unchanged (the age column is the one that moves).
    A reused cell, or row, is the same object, so the table's diff sees it
    unchanged without comparing text.
    """
    before_parts = previous.parts if previous is not None else {}
    before_cells = dict(previous.rows) if previous is not None else {}
    made: dict[tuple[str, str], Text] = {}

    def cell_for(part: tuple[str, str]) -> Text:
        # Equal parts share one Text: rendering never changes a Text, and most
        # new cells repeat (every age of a bulk enqueue, "default", "0/4").
        cell = made.get(part)
        if cell is None:
            cell = made[part] = styled(*part)
        return cell

    rows: list[Row] = []
    for key, parts in items:
        old_parts = before_parts.get(key)
        if old_parts is None:
            cells = tuple(map(cell_for, parts))
        elif old_parts == parts:
            cells = before_cells[key]
        else:
            cells = tuple(
                cell if part == old_part else cell_for(part)
                for part, old_part, cell in zip(parts, old_parts, before_cells[key], strict=True)
            )
        rows.append((key, cells))
    widths: tuple[int, ...] = ()
    if measure:  # only the jobs table sizes a column by the others
        columns = zip(*(parts for _, parts in items), strict=True)
        widths = tuple(max(map(_cells, {text for text, _ in column})) for column in columns)
    return TableData(rows, total, raw, dict(items), widths)


def _cells(text: str) -> int:
    """Terminal cells ``text`` takes: its length when ASCII, which skips a third of the cost."""
    return len(text) if text.isascii() else cell_len(text)


# Columns the jobs window reads: never ``output``, which may be megabytes per window.
_JOB_COLUMNS = (
    Job.id,
    Job.state,
    Job.priority,
    Job.attempts,
    Job.max_retries,
    Job.queue,
    Job.command,
    Job.created_at,
    Job.run_at,
    Job.started_at,
    Job.finished_at,
    Job.worker_id,
    Job.last_error,
    Job.exit_code,
)


def _jobs_query(job_filter: JobFilter) -> peewee.ModelSelect:
    query = Job.select(*_JOB_COLUMNS)
    if job_filter.states:
        query = query.where(Job.state.in_([s.value for s in job_filter.states]))
    if job_filter.queue:
        query = query.where(Job.queue == job_filter.queue)
    if job_filter.text:
        needle = job_filter.text
        query = query.where(Job.command.contains(needle) | Job.id.contains(needle))
    return query


def _window(
    query: peewee.ModelSelect, limit: int, total: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The newest ``limit`` rows and how many matched in all (``total`` when already known).

    Newest first by enqueue order: the (seq) index serves that order, so
    SQLite stops at the limit however many jobs there are.
    """
    rows = _fetch_dicts(query.order_by(Job.seq.desc()).limit(limit))
    if len(rows) < limit:
        return rows, len(rows)
    return rows, query.count() if total is None else total


def _fetch_dicts(query: peewee.ModelSelect) -> list[dict[str, Any]]:
    """Rows as dicts straight from the driver's cursor.

    Peewee's ``.dicts()`` runs every value through its field's converter, which
    for these plain columns changes nothing and was 40% of a refresh's query time.
    """
    cursor = database.execute(query)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _known_total(job_filter: JobFilter, counts: dict[str, int]) -> int | None:
    """How many jobs match, from the state counts, when the filter is by state alone."""
    if job_filter.queue or job_filter.text:
        return None
    if job_filter.states:
        return sum(counts[state.value] for state in job_filter.states)
    return sum(counts.values())


def _age(now: float, then: float | None) -> str:
    return "" if then is None else human_duration(now - then)


def _job_duration(row: dict[str, Any], now: float) -> float | None:
    if row["started_at"] is None:
        return None
    if row["state"] == JobState.PROCESSING:
        return now - row["started_at"]
    if row["finished_at"] is not None:
        return max(0.0, row["finished_at"] - row["started_at"])
    return None


JOB_SORT_KEYS = {
    "id": lambda r, now: r["id"],
    "state": lambda r, now: r["state"],
    "priority": lambda r, now: r["priority"],
    "attempts": lambda r, now: r["attempts"],
    "queue": lambda r, now: r["queue"],
    "command": lambda r, now: r["command"],
    "age": lambda r, now: r["run_at"] if r["run_at"] > now else r["created_at"],
    "duration": lambda r, now: _job_duration(r, now) or 0.0,
    "worker": lambda r, now: r["worker_id"] or "",
}


def _sorted(rows: list[dict[str, Any]], sort: Sort, now: float) -> list[dict[str, Any]]:
    if sort.column is None or sort.column not in JOB_SORT_KEYS:
        return list(reversed(rows)) if sort.reverse else rows
    key = JOB_SORT_KEYS[sort.column]
    return sorted(rows, key=lambda r: key(r, now), reverse=sort.reverse)


def job_parts(row: dict[str, Any], now: float, width: int = 60) -> Parts:
    """Jobs pane cells: id, state, priority, tries, queue, age/due, took, worker, command."""
    if row["run_at"] > now and row["state"] in (JobState.PENDING, JobState.FAILED):
        when = ("in " + human_duration(row["run_at"] - now), "italic")
    else:
        when = (_age(now, row["created_at"]), "")
    return (
        (row["id"], ""),
        _state(row["state"]),
        (str(row["priority"]), ""),
        (f"{row['attempts']}/{row['max_retries'] + 1}", ""),
        (one_line(row["queue"], 12), ""),
        when,
        (human_duration(_job_duration(row, now)), ""),
        (one_line(row["worker_id"], 14), ""),
        (one_line(row["command"], width), ""),
    )


def dlq_parts(row: dict[str, Any], now: float) -> Parts:
    """The DLQ pane's cells: id, attempts, queue, died, exit code, last error, command."""
    code = row["exit_code"]
    return (
        (row["id"], ""),
        (str(row["attempts"]), ""),
        (one_line(row["queue"], 12), ""),
        (_age(now, row["finished_at"]), ""),
        ("" if code is None else str(code), ""),
        (one_line(row["last_error"], 60), "red"),
        (one_line(row["command"], 60), ""),
    )


def worker_parts(worker: Worker, now: float, lease: float) -> Parts:
    """The workers pane's cells; a live-looking worker past its lease is shown as lost."""
    beat = now - worker.heartbeat_at
    state = shown_state(worker, now=now, lease_seconds=lease)
    return (
        (one_line(worker.id, 24), ""),
        (str(worker.pid), ""),
        (one_line(worker.host, 20), ""),
        _state(state),
        (one_line(worker.current_job or "", 14), ""),
        ("" if state == WorkerState.STOPPED else human_duration(beat), ""),
        (str(worker.jobs_done), "green"),
        (str(worker.jobs_failed), "red" if worker.jobs_failed else ""),
        (one_line(worker.queues, 20), ""),
    )


def throughput(now: float) -> list[float]:
    """Runs finished per bucket, oldest first; one indexed range query on ``finished_at``."""
    start = now - SPARK_BUCKETS * SPARK_BUCKET_SECONDS
    buckets = [0.0] * SPARK_BUCKETS
    query = Run.select(Run.finished_at).where(Run.finished_at > start, Run.finished_at <= now)
    for (finished,) in query.tuples():
        index = min(SPARK_BUCKETS - 1, int((finished - start) // SPARK_BUCKET_SECONDS))
        buckets[index] += 1
    return buckets


LARGE_STATE = 5_000
"""Past this many jobs in one state, it is counted by difference (see ``reads.counts``)."""


def _largest_state(previous: Snapshot | None) -> str | None:
    if previous is None or not previous.counts:
        return None
    state = max(previous.counts, key=previous.counts.__getitem__)
    return state if previous.counts[state] >= LARGE_STATE else None


def read_snapshot(request: Request, now: float) -> Snapshot:
    """Read every table the dashboard shows, in one read transaction.

    Runs in a thread worker; it closes its thread's connection when done so
    short-lived worker threads do not leak SQLite handles.
    """
    started = time.perf_counter()
    previous = request.previous
    try:
        with read_transaction():
            counts = reads.counts(by_difference=_largest_state(previous))
            settings = load_settings()
            jobs_rows, jobs_total = _window(
                _jobs_query(request.job_filter),
                request.limit,
                _known_total(request.job_filter, counts),
            )
            jobs_rows = _sorted(jobs_rows, request.jobs_sort, now)
            dead_rows, dead_total = _window(
                _jobs_query(JobFilter(states=(JobState.DEAD,))),
                request.limit,
                counts[JobState.DEAD.value],
            )
            dead_rows = _sorted(dead_rows, request.dlq_sort, now)
            # Running workers first, newest first: stopped ones pile up over days.
            workers = sorted(
                reads.list_workers(),
                key=lambda w: (w.state in ENDED_WORKER_STATES, -w.started_at, w.id),
            )
            spark = throughput(now)
    finally:
        if not database.is_closed():
            database.close()
    lease = float(settings["lease_seconds"])
    live = [
        w
        for w in workers
        if w.state not in ENDED_WORKER_STATES
        and shown_state(w, now=now, lease_seconds=lease) != WorkerState.LOST
    ]
    width = request.command_width
    jobs = build_table(
        [(r["id"], job_parts(r, now, width)) for r in jobs_rows],
        jobs_total,
        {r["id"]: r for r in jobs_rows},
        previous.jobs if previous is not None and previous.command_width == width else None,
        measure=True,
    )
    dlq = build_table(
        [(r["id"], dlq_parts(r, now)) for r in dead_rows],
        dead_total,
        {r["id"]: r for r in dead_rows},
        previous.dlq if previous is not None else None,
    )
    worker_items = [(w.id, worker_parts(w, now, lease)) for w in workers]
    workers_table = build_table(
        worker_items,
        len(workers),
        {key: {"state": parts[3][0]} for key, parts in worker_items},
        previous.workers if previous is not None else None,
    )
    snapshot = Snapshot(
        now=now,
        counts=counts,
        workers_busy=sum(1 for w in live if w.state == WorkerState.BUSY),
        workers_idle=sum(1 for w in live if w.state != WorkerState.BUSY),
        throughput=spark,
        jobs=jobs,
        dlq=dlq,
        workers=workers_table,
        settings=settings,
        command_width=width,
    )
    snapshot.elapsed = time.perf_counter() - started
    return snapshot
