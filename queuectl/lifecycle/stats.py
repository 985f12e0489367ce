"""Execution figures over a window of time: what ``stats``, ``metrics`` and ``status`` show.

Every figure comes from the runs that ended in the window (``store.statsql``):

- ``completed``: attempts that succeeded (each completed its job);
- ``failed_attempts``: attempts that failed, timed out or were lost (retried or not);
- ``dead``: jobs that went dead in the window and still are, those taken down by a
  dependency's death included (they never ran: counted from the jobs, not the runs);
- ``finished``: ``completed + dead``, jobs that reached an outcome; ``per_minute`` is
  that over the window's minutes, ``success_rate`` is ``completed / finished``;
- ``duration_*``: of attempts that ran to their own end (succeeded, failed, timed out);
- ``wait_*``: for jobs that reached an outcome, their last attempt's start minus the
  time it was due (queueing delay; a retry is due after its backoff).

Percentiles are nearest-rank. Cancelled jobs count nowhere: a person stopped them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import peewee

from queuectl.store import statsql
from queuectl.store.boundary import translated
from queuectl.store.models import Job, database
from queuectl.store.transactions import execute_raw, is_postgres

Spread = tuple[float | None, float | None, float | None]
"""p50, p95 and max of one group's values."""


@dataclass(frozen=True)
class Figures:
    """One row of ``stats``: a queue's figures, or all queues' (``queue`` None)."""

    queue: str | None
    finished: int = 0
    completed: int = 0
    failed_attempts: int = 0
    dead: int = 0
    per_minute: float = 0.0
    success_rate: float | None = None
    """``None`` when nothing finished."""
    duration_p50: float | None = None
    duration_p95: float | None = None
    duration_max: float | None = None
    wait_p50: float | None = None
    wait_p95: float | None = None

    def as_dict(self) -> dict[str, object]:
        """As ``--json`` shows it: seconds to the millisecond; a rate and the success
        rate to six significant digits, not three decimals: over a week's window a queue
        finishing one job a day read ``"per_minute": 0.0``, as if nothing had."""
        record = asdict(self)
        for key, value in record.items():
            if isinstance(value, float):
                precise = key in ("per_minute", "success_rate")
                record[key] = float(f"{value:.6g}") if precise else round(value, 3)
        return record


@dataclass(frozen=True)
class Stats:
    """``stats`` over one window: every queue with a run in it, and the total."""

    since: float
    until: float
    total: Figures
    queues: list[Figures]


@translated
def window_stats(since: float, *, queue: str | None = None, now: float | None = None) -> Stats:
    """The figures of the runs that ended since ``since`` (epoch seconds), per queue.

    One statement either way, so the window's runs are read and joined once: on
    PostgreSQL it computes every figure (``statsql.PG_FIGURES``); SQLite, which has
    no percentile aggregate, hands back the attempts and they are ranked here.
    """
    now = time.time() if now is None else now
    minutes = max(now - since, 1e-9) / 60.0
    by_queue = queue is not None
    values = {"since": since, "queue": queue}
    param = database.obj.param
    if is_postgres():
        statement = statsql.pg_figures_sql(param, by_queue=by_queue)
        rows = execute_raw(statement.text, statement.params(values)).fetchall()
    else:
        statement = statsql.sqlite_values_sql(param, by_queue=by_queue)
        rows = _figure_rows(execute_raw(statement.text, statement.params(values)).fetchall())
    counts: dict[str, list[int]] = {}
    spreads: dict[str, dict[str, Spread]] = {"duration": {}, "wait": {}}
    for kind, grp, first, second, third in rows:
        if kind == "counts":  # up to two rows a queue on PostgreSQL: its runs, its deaths
            tally = counts.setdefault(grp, [0, 0, 0])
            for index, value in enumerate((first, second, third)):
                tally[index] += int(value or 0)
        else:
            spreads[kind][grp] = (first, second, third)
    durations, waits = spreads["duration"], spreads["wait"]
    rows_out = [
        _figures(name, *tally, minutes, durations, waits) for name, tally in sorted(counts.items())
    ]
    totals = [sum(tally[index] for tally in counts.values()) for index in (0, 1, 2)]
    total = _figures(statsql.TOTAL, *totals, minutes, durations, waits)
    return Stats(since=since, until=now, total=total, queues=rows_out)


def _figure_rows(attempts: list[tuple[str, str, float | None, float | None]]) -> list[tuple]:
    """The rows ``PG_FIGURES`` returns, from the window's attempts and deaths (SQLite).

    Each attempt is ``(queue, outcome, duration or None, wait or None)``, each death
    ``(queue, statsql.DEATH, None, None)``; rows are ``('counts', queue, completed,
    failed attempts, dead)`` per queue and ``(kind, group, p50, p95, max)`` per queue
    and over all (group ``''``).
    """
    counts: dict[str, list[int]] = {}
    values: dict[tuple[str, str], list[float]] = {}
    for queue, outcome, duration, wait in attempts:
        tally = counts.setdefault(queue, [0, 0, 0])
        if outcome == "succeeded":
            tally[0] += 1
        elif outcome in ("failed", "timed_out", "lost"):
            tally[1] += 1
        elif outcome == statsql.DEATH:
            tally[2] += 1
        for kind, value in (("duration", duration), ("wait", wait)):
            if value is not None:
                values.setdefault((kind, queue), []).append(value)
                values.setdefault((kind, statsql.TOTAL), []).append(value)
    rows: list[tuple] = [("counts", queue, *tally) for queue, tally in counts.items()]
    for (kind, group), found in values.items():
        found.sort()
        rows.append((kind, group, *_spread(found)))
    return rows


def _spread(ordered: list[float]) -> Spread:
    """Nearest-rank p50 and p95 (the value at rank ceil(p * n)), and the maximum."""
    n = len(ordered)
    return ordered[(50 * n + 99) // 100 - 1], ordered[(95 * n + 99) // 100 - 1], ordered[-1]


def _figures(
    name: str,
    completed: int | None,
    failed: int | None,
    dead: int | None,
    minutes: float,
    durations: dict[str, Spread],
    waits: dict[str, Spread],
) -> Figures:
    completed, failed, dead = int(completed or 0), int(failed or 0), int(dead or 0)
    finished = completed + dead
    duration = durations.get(name, (None, None, None))
    wait = waits.get(name, (None, None, None))
    return Figures(
        queue=name if name != statsql.TOTAL else None,
        finished=finished,
        completed=completed,
        failed_attempts=failed,
        dead=dead,
        per_minute=finished / minutes,
        success_rate=completed / finished if finished else None,
        duration_p50=_seconds(duration[0]),
        duration_p95=_seconds(duration[1]),
        duration_max=_seconds(duration[2]),
        wait_p50=_seconds(wait[0]),
        wait_p95=_seconds(wait[1]),
    )


def _seconds(value: object) -> float | None:
    return None if value is None else float(value)  # PostgreSQL may hand back a Decimal


@dataclass(frozen=True)
class Recent:
    """What ``status`` adds: how long jobs take and how many finish, lately."""

    average_duration: float | None
    """Mean duration of the successful attempts of the last ``AVERAGE_WINDOW`` (its
    latest 1,000: ``statsql.AVERAGE_DURATION``)."""
    per_minute: float
    """Jobs that reached an outcome per minute over the last ``THROUGHPUT_WINDOW``."""


AVERAGE_WINDOW = 3600.0
THROUGHPUT_WINDOW = 300.0


@translated
def recent(*, now: float | None = None) -> Recent:
    """``status``'s figures: two index range scans over the recent runs."""
    now = time.time() if now is None else now
    param = database.obj.param
    average = execute_raw(
        statsql.statement(statsql.AVERAGE_DURATION, param), (now - AVERAGE_WINDOW,)
    ).fetchone()[0]
    since = now - THROUGHPUT_WINDOW
    backend = "postgres" if is_postgres() else "sqlite"
    finished = execute_raw(statsql.finished_since_sql(param, backend), (since, since)).fetchone()[0]
    return Recent(
        average_duration=_seconds(average),
        per_minute=int(finished or 0) / (THROUGHPUT_WINDOW / 60.0),
    )


@translated
def jobs_per_queue_and_state() -> dict[tuple[str, str], int]:
    """How many jobs each (queue, state) holds now: ``metrics``' ``queuectl_jobs``."""
    query = Job.select(Job.queue, Job.state, peewee.fn.COUNT(peewee.SQL("*"))).group_by(
        Job.queue, Job.state
    )
    return {(queue, state): count for queue, state, count in query.tuples()}


@translated
def finished_series(since: float, until: float, buckets: int) -> dict[str, list[int]]:
    """Jobs finished (completed or dead) per queue in ``buckets`` equal slices of
    ``[since, until)``, oldest first: the figures behind ``stats``' per-minute rate,
    over time. One indexed range scan of the window's runs, one of its deaths."""
    width = (until - since) / buckets
    backend = "postgres" if is_postgres() else "sqlite"
    statement = statsql.finished_series_sql(database.obj.param, backend)
    params = statement.params({"since": since, "width": width, "until": until})
    series: dict[str, list[int]] = {}
    for queue, bucket, count in execute_raw(statement.text, params).fetchall():
        row = series.setdefault(queue, [0] * buckets)
        row[min(int(bucket), buckets - 1)] += int(count)
    return series
