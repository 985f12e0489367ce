"""The Queues pane's cells: one row per queue, made off the UI thread like every table's."""

from __future__ import annotations

from queuectl.lifecycle.queues import SPARK_BUCKET_SECONDS, SPARK_BUCKETS, QueueFigures
from queuectl.states import STATE_STYLES
from queuectl.textsafe import one_line
from tui.cells import Parts, TableData, build_table
from tui.spark import first_bucket, merged, steady_sparkline

SPARK_MERGE = 2
"""Buckets per character: 15 characters of 20 s for the 5 minutes, so it fits at 80 columns."""

SPARK_COLUMN = 13
"""Where ``queue_parts`` puts the sparkline (last): narrowed, it keeps its newest bars."""


def sparkline_text(buckets: list[float], now: float) -> str:
    """Runs ended per 20 s of the clock (two 10 s buckets a character), ``·`` for none:
    a DataTable cell holds text, not a ``Sparkline`` widget."""
    first = first_bucket(now, SPARK_BUCKETS, SPARK_BUCKET_SECONDS)
    return steady_sparkline(merged(buckets, SPARK_MERGE, first=first))


def queue_parts(entry: QueueFigures, now: float) -> Parts:
    """Name, state, limit, per-state counts and held jobs, workers, runs ended in 5 minutes,
    sparkline."""
    running = entry.running
    full = entry.limit is not None and running >= entry.limit

    def count(figure: int, style: str) -> tuple[str, str]:
        return f"{figure:,}", style if figure else "dim"

    def state(name: str) -> tuple[str, str]:  # each job once: a held one under Held only
        return count(entry.unheld(name), STATE_STYLES[name])

    return (
        (one_line(entry.name), "bold yellow" if entry.paused else ""),
        ("paused", "bold yellow") if entry.paused else ("active", "green"),
        ("-" if entry.limit is None else f"{running}/{entry.limit}", "yellow" if full else ""),
        state("pending"),
        state("blocked"),
        count(entry.held, "bold magenta"),  # as the Jobs pane's "held"
        count(running, STATE_STYLES["processing"]),
        state("completed"),
        state("failed"),
        state("dead"),
        count(entry.counts["cancelled"], "dim"),
        (f"{entry.workers:,}", _workers_style(entry)),
        (f"{entry.finished_5m:,}", ""),
        (sparkline_text(entry.throughput, now), "cyan"),
    )


def _workers_style(entry: QueueFigures) -> str:
    """Red for none while jobs wait: nobody will run them, not even once a paused queue is
    resumed (the header names such queues too, as ``status`` warns)."""
    if entry.workers:
        return ""
    return "bold red" if entry.waiting else "dim"


def build_queues(figures: list[QueueFigures], previous: TableData | None, now: float) -> TableData:
    """The pane's table; ``raw`` keeps what its keys act on (paused, limit, running, and
    the workers serving it, which Resume's question names)."""
    return build_table(
        [(entry.name, queue_parts(entry, now)) for entry in figures],
        len(figures),
        {
            entry.name: {
                "paused": entry.paused,
                "limit": entry.limit,
                "running": entry.running,
                "workers": entry.workers,
                "waiting": entry.waiting,
            }
            for entry in figures
        },
        previous,
        id_columns=(0,),  # names sharing a prefix (``reports-eu-…``) stay apart when cut
        end_columns=(SPARK_COLUMN,),
    )
