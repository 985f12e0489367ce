"""The SQL of ``queuectl stats`` and ``queuectl metrics``: figures over the runs of a window.

Written by hand, as the claim is, because its shape is the point: every figure
comes from the runs that ended in the window, found through the
``(finished_at, outcome)`` index of ``queuectl_run`` and joined to their job by its
primary key, so the cost grows with the window's runs, not with the history.
Percentiles are nearest-rank: PostgreSQL's ``percentile_disc``; on SQLite, which
has no percentile function, ranked in Python from the window's attempts.

Each ``{name}`` is a parameter (see ``sql.render``): ``since`` and, with a
queue filter, ``queue``.
"""

from __future__ import annotations

import functools

from queuectl.store.sql import render

TOTAL = ""
"""The group of the all-queues row (a queue name is never empty)."""

ENDED = """
SELECT j.queue AS queue, r.outcome AS outcome, r.duration AS duration,
    CASE WHEN j.state IN ('completed', 'dead') AND j.started_at = r.started_at
         THEN CASE WHEN r.started_at > j.run_at THEN r.started_at - j.run_at ELSE 0 END
    END AS wait,
    CASE WHEN j.state = 'dead' AND j.started_at = r.started_at THEN 1 ELSE 0 END AS died
FROM queuectl_run r JOIN queuectl_job j ON j.id = r.job_id
WHERE r.finished_at >= {since} {queue_filter}
"""
"""Every attempt that ended in the window, with its queue, its duration, and, when it
was its job's last attempt and the job has ended (completed or dead), the job's wait
(start minus due) and whether it died. ``r.started_at = j.started_at`` is "this is the
job's latest attempt": a job's ``started_at`` is its latest attempt's start."""

DURATION = "CASE WHEN outcome IN ('succeeded', 'failed', 'timed_out') THEN duration END"
"""Attempts that ran to their own end; a lost, interrupted or cancelled attempt's
length says more about the worker or the user than about the job."""

PG_FIGURES = """
WITH ended AS MATERIALIZED ({ended})
SELECT 'counts' AS kind, queue AS grp,
    SUM(CASE WHEN outcome = 'succeeded' THEN 1 ELSE 0 END),
    SUM(CASE WHEN outcome IN ('failed', 'timed_out', 'lost') THEN 1 ELSE 0 END),
    SUM(died)
FROM ended GROUP BY queue
UNION ALL
SELECT 'duration', COALESCE(queue, ''),
    percentile_disc(0.5) WITHIN GROUP (ORDER BY {duration}),
    percentile_disc(0.95) WITHIN GROUP (ORDER BY {duration}),
    MAX({duration})
FROM ended WHERE {duration} IS NOT NULL GROUP BY GROUPING SETS ((queue), ())
UNION ALL
SELECT 'wait', COALESCE(queue, ''),
    percentile_disc(0.5) WITHIN GROUP (ORDER BY wait),
    percentile_disc(0.95) WITHIN GROUP (ORDER BY wait),
    MAX(wait)
FROM ended WHERE wait IS NOT NULL GROUP BY GROUPING SETS ((queue), ())
"""
"""Every figure of a window on PostgreSQL, in one statement: the window's runs are read
and joined to their jobs once (``ended``, materialised). Rows: ``('counts', queue,
completed, failed attempts, dead)`` per queue, then ``(kind, group, p50, p95, max)`` for
``duration`` and ``wait`` per queue and over all queues (group ``''``, from ``GROUPING
SETS``; a queue name is never empty). ``percentile_disc`` is the nearest rank, the value
at rank ceil(p * n). Ranking every value with ``ROW_NUMBER()`` instead took 3.1 s at
100k runs; the ordered-set aggregates sort each group once."""

SQLITE_VALUES = """
SELECT queue, outcome, {duration}, wait, died FROM ({ended})
"""
"""On SQLite, the window's attempts as they are: SQLite has no percentile aggregate,
and ranking every value with ``ROW_NUMBER()`` cost 4-5 s at 100k runs on this
machine, while reading them and sorting in Python costs a fraction of that
(``lifecycle.stats`` counts, ranks and takes the maxima)."""

FINISHED_SERIES = """
SELECT j.queue, {bucket} AS bucket, COUNT(*)
FROM queuectl_run r JOIN queuectl_job j ON j.id = r.job_id
WHERE r.finished_at >= {since} AND r.finished_at < {until}
    AND (r.outcome = 'succeeded' OR (j.state = 'dead' AND j.started_at = r.started_at))
GROUP BY j.queue, bucket
"""
"""Jobs that reached an outcome (completed or dead) per queue and time bucket: the
dashboard's Metrics chart. Counted as ``finished`` is in ``stats``. ``{bucket}`` is
the bucket's number, rounded down (``BUCKET``: SQLite's CAST truncates, which for
these non-negative numbers is rounding down; PostgreSQL's rounds, hence FLOOR)."""

BUCKET = {
    "sqlite": "CAST((r.finished_at - {since}) / {width} AS INTEGER)",
    "postgres": "CAST(FLOOR((r.finished_at - {since}) / {width}) AS INTEGER)",
}

AVERAGE_DURATION = """
SELECT AVG(duration) FROM (
    SELECT duration FROM queuectl_run
    WHERE finished_at >= {since} AND outcome = 'succeeded'
    ORDER BY finished_at DESC LIMIT 1000
) AS latest
"""
"""``status``: how long a successful attempt took, on average, in the window: over its
latest 1,000, read backwards along the ``finished_at`` index, so a busy hour (100,000
runs) costs what a quiet one does (0.3 ms against 25 ms for all of them)."""

FINISHED_SINCE = """
SELECT (
    SELECT COUNT(*) FROM queuectl_run WHERE finished_at >= {since} AND outcome = 'succeeded'
) + (
    SELECT COUNT(*) FROM queuectl_job j
    JOIN queuectl_run r ON r.job_id = j.id AND r.started_at = j.started_at
    WHERE j.state = 'dead' AND r.finished_at >= {since}
)
"""
"""``status``: jobs that reached an outcome (completed or dead) in the window, as
``stats`` counts them: the successful runs, and the last runs of dead jobs. Two counts
rather than one join: the join looked up the job of each of the window's runs (65 ms
at 100,000 runs, against 21 ms; dead jobs are found through the state index). The
first count reads only the ``(finished_at, outcome)`` index (schema 11; 4 ms)."""


@functools.cache
def pg_figures_sql(param: str, *, by_queue: bool) -> str:
    """``PG_FIGURES`` with its markers: ``since``, then (``by_queue``) ``queue``."""
    return render(PG_FIGURES, lambda _name: param, ended=_ended(param, by_queue), duration=DURATION)


@functools.cache
def sqlite_values_sql(param: str, *, by_queue: bool) -> str:
    """``SQLITE_VALUES`` with its markers: ``since``, then (``by_queue``) ``queue``."""
    return render(
        SQLITE_VALUES, lambda _name: param, ended=_ended(param, by_queue), duration=DURATION
    )


@functools.cache
def statement(template: str, param: str) -> str:
    return render(template, lambda _name: param)


@functools.cache
def finished_series_sql(param: str, backend: str) -> str:
    """``FINISHED_SERIES`` with its markers: ``since``, ``width``, ``since``, ``until``."""
    return render(FINISHED_SERIES, lambda _name: param, bucket=BUCKET[backend])


def _ended(param: str, by_queue: bool) -> str:
    """``ENDED`` with its markers: ``since``, then (``by_queue``) ``queue``."""
    template = ENDED.replace("{queue_filter}", "AND j.queue = {queue}" if by_queue else "")
    return render(template, lambda _name: param)
