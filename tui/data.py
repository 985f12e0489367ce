"""Everything the dashboard reads from the database, in one place, off the UI thread.

``read_snapshot`` runs in a thread worker and returns a ``Snapshot``: every
table already windowed, sorted and made into cells (``tui.cells``), so the UI
thread only diffs rows by key. The read does not depend on the screen: the
table fits the cells to its width, so a resize never costs a second read.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import peewee

from queuectl.errors import ValidationError
from queuectl.jobspec import queue_name as jobspec_queue_name
from queuectl.jobspec import search_text
from queuectl.lifecycle import deps, queues, reads, schedules
from queuectl.lifecycle.settings import load as load_settings
from queuectl.lifecycle.workers import queues_served, workers_as_seen
from queuectl.states import CLAIMABLE_STATES, ENDED_WORKER_STATES, STATE_ALIASES, parse_state
from queuectl.store.boundary import translated
from queuectl.store.models import Job, JobState, Run, RunOutcome, Worker, WorkerState
from queuectl.store.transactions import is_postgres, read_transaction
from queuectl.textsafe import one_line
from tui.cells import (
    DLQ_CLOCK_COLUMNS,
    DLQ_ID_COLUMNS,
    JOB_CLOCK_COLUMNS,
    JOB_ID_COLUMNS,
    WORKER_ID_COLUMNS,
    TableData,
    build_table,
    dlq_clock_parts,
    dlq_parts,
    job_clock_parts,
    job_parts,
    parts_of,
    worker_parts,
)
from tui.output import last_line
from tui.queuecells import build_queues
from tui.schedulecells import build_schedules

WINDOW = 500
"""Rows fetched per table: the newest N matching the filter, so 100k jobs cost what 500 do."""

SPARK_BUCKETS = 30
SPARK_BUCKET_SECONDS = 10.0
"""Throughput: jobs finished per 10 s over the last 5 minutes, in buckets aligned to the clock."""


@dataclass(frozen=True)
class JobFilter:
    """What the jobs pane shows: parsed from the ``/`` box, pushed into SQL."""

    states: tuple[JobState, ...] = ()
    queue: str | None = None
    text: str = ""
    id_prefix: str = ""
    """Ids starting with this (``id:ping:``): a schedule's fires."""

    @property
    def active(self) -> bool:
        return bool(self.states or self.queue or self.text or self.id_prefix)

    def describe(self) -> str:
        """The filter as typed, made inert: a queue or id prefix comes from the database
        when enter on a Queues or Schedules row sets it, and a hostile one's OSC 52 reached
        the terminal from the status line (the operator's clipboard, set by one enter)."""
        parts = []
        if self.states:
            parts.append("state:" + ",".join(s.value for s in self.states))
        if self.queue:
            parts.append(f"queue:{one_line(self.queue)}")
        if self.id_prefix:
            parts.append(f"id:{one_line(self.id_prefix)}")
        if self.text:
            parts.append(one_line(self.text))
        return " ".join(parts)


FILTER_EXAMPLES = {"state:": "state:failed,dead", "queue:": "queue:mail", "id:": "id:nightly:"}
"""A filter key with nothing after it is refused with its example."""


def parse_filter(text: str) -> JobFilter:
    """``state:failed,dead queue:mail id:nightly: backup`` → states, queue, id prefix, free text.

    Raises:
        ValueError: an unknown state name (the message lists the valid ones), a
            ``state:``, ``queue:`` or ``id:`` with nothing after it, or text longer than
            a search may be (``jobspec.MAX_SEARCH``).
    """
    states: list[JobState] = []
    queue_name: str | None = None
    id_prefix = ""
    words: list[str] = []
    for token in text.split():
        lowered = token.lower()
        if lowered in ("state:", "queue:", "id:"):
            # Searched for as text, "id:" matched nothing and said nothing.
            raise ValueError(f"{lowered} needs a value, like {FILTER_EXAMPLES[lowered]}")
        if lowered.startswith("state:"):
            for name in filter(None, lowered[6:].split(",")):
                try:
                    states.append(parse_state(name))
                except ValueError:
                    valid = ", ".join([s.value for s in JobState])
                    aliases = ", ".join(STATE_ALIASES)
                    raise ValueError(
                        f"unknown state {name!r}; use one of {valid} (or {aliases})"
                    ) from None
        elif lowered.startswith("queue:") and len(token) > 6:
            try:  # a 20,000-character paste was taken, matching nothing, saying nothing
                queue_name = jobspec_queue_name(token[6:])
            except ValidationError as exc:
                raise ValueError(str(exc)) from None
        elif lowered.startswith("id:") and len(token) > 3:
            id_prefix = token[3:]
        else:
            words.append(token)
    text = " ".join(words)
    try:
        search_text(text)
        search_text(id_prefix, "an id: prefix")
    except ValidationError as exc:  # a paste of a whole log: SQLite refused the pattern
        raise ValueError(str(exc)) from None
    return JobFilter(tuple(dict.fromkeys(states)), queue_name, text, id_prefix)


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
    limit: int = WINDOW
    queues: bool = False
    """Read every queue's figures (the Queues pane is shown): a pass over all jobs."""
    schedules: bool = False
    """Read the schedules (the Schedules pane is shown)."""
    keep_job: str | None = None
    """The Jobs pane's highlighted job: read even once newer jobs push it out of the
    window, so the cursor keeps it (it went to the last row, a different job each
    refresh, and ``r`` retried one the person never chose)."""
    keep_dead: str | None = None
    """The same for the DLQ pane's highlighted job."""
    previous: Snapshot | None = field(default=None, repr=False)
    """The last snapshot applied: its unchanged cells are reused, its largest state not counted.

    Kept out of the repr: Textual describes a worker by its arguments' repr, and
    a whole snapshot's repr cost the UI thread 11-34 ms per refresh.
    """


@dataclass(frozen=True)
class Unserved:
    """Queues whose waiting jobs no live worker takes, with how many wait in each.

    ``queuectl status`` warns of them; the dashboard showed pending jobs that nobody
    would ever run as if a worker were about to. ``served`` and ``read_at`` say when the
    counts were read, so a refresh can reuse them (see ``UNSERVED_EVERY``).
    """

    queues: dict[str, int] = field(default_factory=dict)
    served: frozenset[str] = frozenset()
    read_at: float = -math.inf


UNSERVED_EVERY = 10.0
"""Seconds a refresh reuses the last count of unserved queues, once more than
``LARGE_STATE`` jobs wait and the live workers serve the same queues: the count groups
every waiting job by queue (no index holds the queue), 30 ms at 100,000 waiting."""


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
    workers_lost: int = 0
    """Workers that died in the last hour, not yet pruned: the header said "3 busy 0
    idle" beside two of them, whose jobs wait for a recovery."""
    job_filter: JobFilter = JobFilter()
    jobs_sort: Sort = Sort()
    """The filter and sort the jobs window was read with (a change is a new view)."""
    elapsed: float = 0.0
    """Seconds the read took, waits included (a server that hung, a lock)."""
    elapsed_cpu: float = 0.0
    """Of those, the reading thread's CPU seconds: what the read cost this machine."""
    steered: list[queues.Steering] = field(default_factory=list)
    """Paused and limited queues (the header marks the paused ones)."""
    queues: TableData | None = None
    """The Queues pane's rows, when the request asked for them."""
    schedules: TableData | None = None
    """The Schedules pane's rows, when the request asked for them."""
    unserved: Unserved = Unserved()
    """Queues with waiting jobs that no live worker serves (the header names them)."""
    queue_names: frozenset[str] = frozenset({"default"})
    """Queues of the jobs read (the windows), the steered ones and ``default``: the forms
    suggest them."""


WINDOW_FIELDS = (
    "id",
    "state",
    "priority",
    "attempts",
    "max_retries",
    "queue",
    "command",
    "created_at",
    "run_at",
    "started_at",
    "finished_at",
    "worker_id",
    "last_error",
    "held_at",
)
"""Columns the panes read: never ``output``, which may be megabytes per window."""

RECENT_WORKERS = 3600.0
"""Ended (stopped or lost) workers are shown for an hour: restarts leave a row each."""


def _known_total(job_filter: JobFilter, counts: dict[str, int]) -> int | None:
    """How many jobs match, from the state counts, when the filter is by state alone."""
    if job_filter.queue or job_filter.text or job_filter.id_prefix:
        return None
    if job_filter.states:
        return sum(counts[state.value] for state in job_filter.states)
    return sum(counts.values())


def _window(
    job_filter: JobFilter, sort: Sort, limit: int, total: int | None, keep: str | None, now: float
) -> tuple[list[dict], int]:
    """The first ``limit`` jobs in ``sort``'s order (the natural one: the newest, as
    ``queuectl list`` shows them) for the filter, and the total (and ``keep`` after them,
    when it matches but is not among them: ``Request.keep_job``)."""
    return reads.jobs_window(
        states=job_filter.states or None,
        queue=job_filter.queue,
        search=job_filter.text or None,
        id_prefix=job_filter.id_prefix or None,
        limit=limit,
        total=total,
        fields=WINDOW_FIELDS,
        keep=keep,
        sort_by=sort.column if sort.column in reads.JOB_SORTS else None,
        reverse=sort.reverse,
        now=now,
    )


def _add_waits(rows: list[dict[str, Any]]) -> None:
    """Give each blocked row ``waits``: its dependencies not completed yet (one read for
    the window, and none when no job in it is blocked)."""
    blocked = [row["id"] for row in rows if row["state"] == JobState.BLOCKED]
    if not blocked:
        return
    waits = deps.waiting_for(blocked)
    for row in rows:
        if row["state"] == JobState.BLOCKED:
            row["waits"] = waits.get(row["id"], [])


OUTPUT_TAIL = 1024
"""Characters read of the end of a dead job's output for its last line (``last_line``):
the output is up to 64 KiB a job (the ``output_limit`` setting), 32 MB for a DLQ window."""


def _add_last_lines(rows: list[dict[str, Any]], before: dict[str, dict[str, Any]]) -> None:
    """Give each dead row ``last_line``: the last line its last run printed, shown after
    its error (``cells.dlq_error``). A row read last refresh with the same ``finished_at``
    (``before``: the rows as read then) keeps its line, as its output cannot have changed
    without the job running again: only new deaths are read."""
    unread = []
    for row in rows:
        old = before.get(row["id"])
        if old is not None and old["finished_at"] == row["finished_at"] and "last_line" in old:
            row["last_line"] = old["last_line"]
        else:
            unread.append(row)
    tails = _output_tails([row["id"] for row in unread])
    for row in unread:
        tail = tails.get(row["id"]) or ""
        row["last_line"] = last_line(tail, whole=len(tail) < OUTPUT_TAIL)


def _output_tails(job_ids: list[str]) -> dict[str, str]:
    """The last ``OUTPUT_TAIL`` characters of each job's output, cut in SQL: a window's
    whole outputs are up to 32 MB, for one line each. SQLite still reads each value to cut
    it (75 ms for 500 outputs of 64 KiB), hence ``_add_last_lines`` asks for new deaths only."""
    if is_postgres():
        tail = peewee.fn.RIGHT(Job.output, OUTPUT_TAIL)
    else:
        tail = peewee.fn.SUBSTR(Job.output, -OUTPUT_TAIL)
    found: dict[str, str] = {}
    for start in range(0, len(job_ids), WINDOW):
        chunk = job_ids[start : start + WINDOW]
        found.update(Job.select(Job.id, tail).where(Job.id.in_(chunk)).tuples())
    return found


def throughput(now: float) -> list[float]:
    """Runs ended per 10 s bucket (but given-back ones), oldest first; the last bucket is
    the current one.

    Buckets are aligned to the clock (they start at multiples of 10 s), so a bar
    changes only while its own 10 s are running, not every second as a window
    sliding with ``now`` would. One indexed range query on ``finished_at``.
    """
    end = (math.floor(now / SPARK_BUCKET_SECONDS) + 1) * SPARK_BUCKET_SECONDS
    start = end - SPARK_BUCKETS * SPARK_BUCKET_SECONDS
    buckets = [0.0] * SPARK_BUCKETS
    # A given-back run (a forced stop: the job waits again, its attempt unspent) ended
    # nothing: K on three running jobs raised the rate with nothing finished.
    query = Run.select(Run.finished_at).where(
        Run.finished_at >= start,
        Run.finished_at < end,
        Run.outcome != RunOutcome.INTERRUPTED.value,
    )
    for (finished,) in query.tuples():
        buckets[int((finished - start) // SPARK_BUCKET_SECONDS)] += 1
    return buckets


LARGE_STATE = 5_000
"""Past this many jobs in one state, it is counted by difference (see ``reads.counts``)."""


def _largest_state(previous: Snapshot | None) -> str | None:
    if previous is None or not previous.counts:
        return None
    state = max(previous.counts, key=previous.counts.__getitem__)
    return state if previous.counts[state] >= LARGE_STATE else None


@translated
def read_snapshot(request: Request, now: float) -> Snapshot:
    """Read every table the dashboard shows, in one read transaction.

    Runs on the dashboard's read thread (``tui.readthread``), which decides whether
    the connection is kept. A database that is away raises the core's
    ``StoreUnavailable`` (the app shows a banner).
    """
    started = time.perf_counter()
    started_cpu = time.thread_time()
    previous = request.previous
    with read_transaction():
        counts = reads.counts(by_difference=_largest_state(previous))
        settings = load_settings()
        jobs_rows, jobs_total = _window(
            request.job_filter,
            request.jobs_sort,
            request.limit,
            _known_total(request.job_filter, counts),
            request.keep_job,
            now,
        )
        _add_waits(jobs_rows)
        # The latest death first, as the Died column reads, over the whole DLQ.
        dead_rows, dead_total = reads.dead_window(
            limit=request.limit,
            total=counts[JobState.DEAD.value],
            fields=WINDOW_FIELDS,
            keep=request.keep_dead,
        )
        _add_last_lines(dead_rows, previous.dlq.raw if previous is not None else {})
        # Live workers first, each as the core's rule sees it (lost when dead),
        # then the ones that ended in the last hour, newest first.
        workers = sorted(
            workers_as_seen(include_ended=True, ended_since=now - RECENT_WORKERS, now=now),
            key=lambda w: (w.state in ENDED_WORKER_STATES, -w.started_at, w.id),
        )
        spark = throughput(now)
        steered = queues.steered()
        unserved = _unserved(counts, workers, previous, now)
        figures = queues.figures(now=now, sparkline=True) if request.queues else None
        planned = schedules.list_schedules() if request.schedules else None
    live = [w for w in workers if w.state not in ENDED_WORKER_STATES]
    old_jobs = previous.jobs if previous is not None else None
    jobs = build_table(
        parts_of(jobs_rows, old_jobs, now, job_parts, job_clock_parts, JOB_CLOCK_COLUMNS),
        jobs_total,
        {r["id"]: r for r in jobs_rows},
        old_jobs,
        id_columns=JOB_ID_COLUMNS,
    )
    old_dlq = previous.dlq if previous is not None else None
    dlq = build_table(
        parts_of(dead_rows, old_dlq, now, dlq_parts, dlq_clock_parts, DLQ_CLOCK_COLUMNS),
        dead_total,
        {r["id"]: r for r in dead_rows},
        old_dlq,
        id_columns=DLQ_ID_COLUMNS,
    )
    worker_items = [(w.id, worker_parts(w, now)) for w in workers]
    workers_table = build_table(
        worker_items,
        len(workers),
        {
            w.id: {
                "state": parts[3][0],
                "pid": w.pid,
                "host": w.host,
                "job": w.current_job,
                "slots_busy": getattr(w, "slots_busy", None),
            }
            for w, (_, parts) in zip(workers, worker_items, strict=True)
        },
        previous.workers if previous is not None else None,
        id_columns=WORKER_ID_COLUMNS,
    )
    snapshot = Snapshot(
        now=now,
        counts=counts,
        workers_busy=sum(1 for w in live if _running_jobs(w)),
        workers_idle=sum(1 for w in live if not _running_jobs(w)),
        workers_lost=sum(1 for w in workers if w.state == WorkerState.LOST),
        throughput=spark,
        jobs=jobs,
        dlq=dlq,
        workers=workers_table,
        settings=settings,
        job_filter=request.job_filter,
        jobs_sort=request.jobs_sort,
        steered=steered,
        unserved=unserved,
        queues=None
        if figures is None
        else build_queues(figures, previous.queues if previous is not None else None, now),
    )
    if planned is not None:
        snapshot.schedules = build_schedules(
            planned, now, previous.schedules if previous is not None else None
        )
    # Suggestions for the job form and the start dialog: every queue this refresh saw,
    # not only those of the rows read (a queue whose jobs are all older than the window,
    # but that a worker serves or the Queues pane counts, is suggested too).
    snapshot.queue_names = frozenset(
        {"default"}
        | {r["queue"] for r in jobs_rows}
        | {r["queue"] for r in dead_rows}
        | {s.name for s in steered}
        | {name for w in live for name in str(w.queues).split(",") if name}
        | {entry.name for entry in figures or ()}
    )
    snapshot.elapsed = time.perf_counter() - started
    snapshot.elapsed_cpu = time.thread_time() - started_cpu
    return snapshot


def _unserved(
    counts: dict[str, int], workers: list[Worker], previous: Snapshot | None, now: float
) -> Unserved:
    """The queues with waiting jobs that none of the live ``workers`` serves.

    Read each refresh while few jobs wait; past ``LARGE_STATE`` the last read is reused
    for ``UNSERVED_EVERY`` seconds unless the live workers' queues changed (a worker
    started or stopped shows at the next refresh)."""
    served = frozenset(queues_served(workers))
    waiting = sum(counts.get(state.value, 0) for state in CLAIMABLE_STATES)
    if not waiting:
        return Unserved(served=served, read_at=now)
    last = previous.unserved if previous is not None else None
    if (
        last is not None
        and waiting > LARGE_STATE
        and last.served == served
        and 0 <= now - last.read_at < UNSERVED_EVERY
    ):
        return last
    per_queue = reads.waiting_per_queue()
    return Unserved(
        {name: count for name, count in per_queue.items() if name not in served}, served, now
    )


def _running_jobs(worker: Worker) -> bool:
    """Whether a live worker runs a job: busy, or stopping while its jobs finish (the
    header counted a stopping worker with two jobs running as idle)."""
    return worker.state == WorkerState.BUSY or bool(getattr(worker, "slots_busy", 0))
