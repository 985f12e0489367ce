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

from queuectl.store.sql import DEAD_STATE, Positional, dead_jobs, positional, render

TOTAL = ""
"""The group of the all-queues row (a queue name is never empty)."""

ENDED = """
SELECT j.queue AS queue, r.outcome AS outcome, r.duration AS duration,
    CASE WHEN j.state IN ('completed', 'dead') AND j.started_at = r.started_at
         THEN CASE WHEN r.started_at > j.run_at THEN r.started_at - j.run_at ELSE 0 END
    END AS wait
FROM queuectl_run r JOIN queuectl_job j ON j.id = r.job_id
WHERE r.finished_at >= {since} {queue_filter}
"""
"""Every attempt that ended in the window, with its queue, its duration, and, when it
was its job's last attempt and the job has ended (completed or dead), the job's wait
(start minus due). ``r.started_at = j.started_at`` is "this is the job's latest
attempt": a job's ``started_at`` is its latest attempt's start."""

DIED = f"""
SELECT queue FROM {{dead_jobs}} WHERE {DEAD_STATE} AND finished_at >= {{since}} {{queue_filter}}
"""
"""Every job that went dead in the window, one row each, read from the DLQ's index
(``sql.DEAD_INDEX``: dead jobs by ``finished_at``). Counted from the jobs, not the
runs: a dependent taken down by its dependency's death (``deps.cascade_locked``) goes
dead without ever running, and the runs left every such cascade out of ``dead``."""

DEATH = "dead"
"""The outcome column of a ``DIED`` row among the attempts (no attempt has it)."""

DURATION = "CASE WHEN outcome IN ('succeeded', 'failed', 'timed_out') THEN duration END"
"""Attempts that ran to their own end; a lost, interrupted or cancelled attempt's
length says more about the worker or the user than about the job."""

PG_FIGURES = """
WITH ended AS MATERIALIZED ({ended})
SELECT 'counts' AS kind, queue AS grp,
    SUM(CASE WHEN outcome = 'succeeded' THEN 1 ELSE 0 END),
    SUM(CASE WHEN outcome IN ('failed', 'timed_out', 'lost') THEN 1 ELSE 0 END),
    0
FROM ended GROUP BY queue
UNION ALL
SELECT 'counts', queue, 0, 0, COUNT(*) FROM ({died}) AS died GROUP BY queue
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
and joined to their jobs once (``ended``, materialised), its deaths from the DLQ's
index (``died``). Rows: ``('counts', queue, completed, failed attempts, dead)``, up to
two per queue (to be added up), then ``(kind, group, p50, p95, max)`` for
``duration`` and ``wait`` per queue and over all queues (group ``''``, from ``GROUPING
SETS``; a queue name is never empty). ``percentile_disc`` is the nearest rank, the value
at rank ceil(p * n). Ranking every value with ``ROW_NUMBER()`` instead took 3.1 s at
100k runs; the ordered-set aggregates sort each group once."""

SQLITE_VALUES = """
SELECT queue, outcome, {duration}, wait FROM ({ended})
UNION ALL
SELECT queue, '{death}', NULL, NULL FROM ({died})
"""
"""On SQLite, the window's attempts as they are, then a row per death (outcome
``DEATH``): SQLite has no percentile aggregate,
and ranking every value with ``ROW_NUMBER()`` cost 4-5 s at 100k runs on this
machine, while reading them and sorting in Python costs a fraction of that
(``lifecycle.stats`` counts, ranks and takes the maxima)."""

FINISHED_SERIES = f"""
SELECT queue, bucket, COUNT(*) FROM (
    SELECT j.queue AS queue, {{run_bucket}} AS bucket
    FROM queuectl_run r JOIN queuectl_job j ON j.id = r.job_id
    WHERE r.finished_at >= {{since}} AND r.finished_at < {{until}} AND r.outcome = 'succeeded'
    UNION ALL
    SELECT queue, {{job_bucket}} FROM {{dead_jobs}}
    WHERE {DEAD_STATE} AND finished_at >= {{since}} AND finished_at < {{until}}
) AS finished
GROUP BY queue, bucket
"""
"""Jobs that reached an outcome (completed or dead) per queue and time bucket: the
dashboard's Metrics chart. Counted as ``finished`` is in ``stats``: successful runs,
and deaths from the DLQ's index. ``{run_bucket}`` and ``{job_bucket}`` are the
bucket's number by the run's or the job's ``finished_at``, rounded down (``BUCKET``:
SQLite's CAST truncates, which for these non-negative numbers is rounding down;
PostgreSQL's rounds, hence FLOOR)."""

BUCKET = {
    "sqlite": "CAST(({column} - {since}) / {width} AS INTEGER)",
    "postgres": "CAST(FLOOR(({column} - {since}) / {width}) AS INTEGER)",
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

FINISHED_SINCE = f"""
SELECT (
    SELECT COUNT(*) FROM queuectl_run WHERE finished_at >= {{since}} AND outcome = 'succeeded'
) + (
    SELECT COUNT(*) FROM {{dead_jobs}} WHERE {DEAD_STATE} AND finished_at >= {{since}}
)
"""
"""``status``: jobs that reached an outcome (completed or dead) in the window, as
``stats`` counts them: the successful runs, and the deaths. Two counts rather than one
join: the join looked up the job of each of the window's runs (65 ms at 100,000 runs,
against 21 ms). The first reads only the ``(finished_at, outcome)`` index (schema 11;
4 ms), the second the DLQ's (``sql.DEAD_INDEX``)."""


@functools.cache
def pg_figures_sql(param: str, *, by_queue: bool) -> Positional:
    """``PG_FIGURES`` with its markers (``since`` and, ``by_queue``, ``queue``)."""
    return positional(PG_FIGURES, param, **_window_parts(by_queue, postgres=True))


@functools.cache
def sqlite_values_sql(param: str, *, by_queue: bool) -> Positional:
    """``SQLITE_VALUES`` with its markers (``since`` and, ``by_queue``, ``queue``)."""
    return positional(SQLITE_VALUES, param, death=DEATH, **_window_parts(by_queue, postgres=False))


@functools.cache
def finished_since_sql(param: str, backend: str) -> str:
    """``FINISHED_SINCE`` with its two markers, both ``since``."""
    return render(
        FINISHED_SINCE, lambda _name: param, dead_jobs=dead_jobs(postgres=backend == "postgres")
    )


@functools.cache
def statement(template: str, param: str) -> str:
    return render(template, lambda _name: param)


@functools.cache
def finished_series_sql(param: str, backend: str) -> Positional:
    """``FINISHED_SERIES`` with its markers: ``since``, ``width`` and ``until``."""
    bucket = BUCKET[backend]
    return positional(
        FINISHED_SERIES,
        param,
        run_bucket=bucket.replace("{column}", "r.finished_at"),
        job_bucket=bucket.replace("{column}", "finished_at"),
        dead_jobs=dead_jobs(postgres=backend == "postgres"),
    )


def _window_parts(by_queue: bool, *, postgres: bool) -> dict[str, str]:
    """``ENDED`` and ``DIED`` for a window, of one queue (``by_queue``) or all."""
    died = DIED.replace("{queue_filter}", "AND queue = {queue}" if by_queue else "")
    return {
        "ended": ENDED.replace("{queue_filter}", "AND j.queue = {queue}" if by_queue else ""),
        "died": died.replace("{dead_jobs}", dead_jobs(postgres=postgres)),
        "duration": DURATION,
    }
