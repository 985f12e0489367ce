"""``queuectl stats`` and ``queuectl metrics``: how the queue has been doing.

Both read ``lifecycle.stats`` (figures over the runs of a window, computed in
SQL); ``metrics`` adds the jobs per queue and state and the workers per state,
in Prometheus' text format (``cli.exposition``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from queuectl.cli.common import (
    AppContext,
    BadInput,
    db_option,
    emit_json,
    json_option,
    note,
    pass_app,
    queue_filter_option,
)
from queuectl.wording import figure, rate

if TYPE_CHECKING:
    from queuectl.lifecycle.stats import Figures

SINCE_HELP = "Window: the runs that ended in this last duration (e.g. 15m, 1h, 7d)."


def window_start(since: str, now: float) -> float:
    """The epoch time ``--since`` names; a malformed or non-positive one is a usage error.

    A window reaching past 1970 starts there (no time is stored before it): ``--json``
    said ``"since": null`` for ``--since 30000d``."""
    from queuectl.errors import ValidationError
    from queuectl.timeutil import parse_duration

    seconds = parse_duration(since, what="--since")
    if seconds <= 0:
        raise ValidationError(f"--since must be a positive duration (got {since!r})")
    return max(0.0, now - seconds)


@click.command()
@click.option("--since", default="1h", show_default=True, metavar="DURATION", help=SINCE_HELP)
@queue_filter_option("Only this queue.")
@db_option
@json_option
@pass_app(read_only=True)
def stats(app: AppContext, since: str, queue: str | None, as_json: bool) -> None:
    """Throughput, success rate, durations and waits, per queue, over a window.

    Counts the runs that ended in the window: jobs finished (completed or
    dead), completed, failed attempts (retried or not), dead; jobs per
    minute; success rate (completed / finished); attempt duration p50, p95,
    max; wait (start minus due) p50, p95. Cancelled jobs count nowhere.
    """
    from queuectl.lifecycle.stats import window_stats
    from queuectl.timeutil import json_time

    now = time.time()
    start = window_start(since, now)
    app.open()
    figures = window_stats(start, queue=queue, now=now)
    if queue and not figures.queues:
        _say_if_no_such_queue(queue)
    if as_json:
        emit_json(
            {
                "since": json_time(figures.since),
                "total": _without_queue(figures.total.as_dict()),
                "queues": [row.as_dict() for row in figures.queues],
            }
        )
        return
    _print_stats(figures.queues, figures.total, since, queue)


def _say_if_no_such_queue(queue: str) -> None:
    """A queue no job is in, said on stderr: ``stats --queue imgaes`` printed empty
    figures, as for a quiet queue, and a typo passed unseen (a script author's try)."""
    from queuectl.lifecycle.reads import queue_names
    from queuectl.textsafe import one_line

    names = queue_names()
    if queue not in names:
        shown = ", ".join(one_line(name) for name in names[:10]) or "none"
        more = f" and {len(names) - 10} more" if len(names) > 10 else ""
        note(f"no job is in queue {one_line(queue)!r} (queues with jobs: {shown}{more})")


def _without_queue(record: dict[str, object]) -> dict[str, object]:
    record.pop("queue", None)
    return record


def _print_stats(rows: list[Figures], total: Figures, since: str, queue: str | None) -> None:
    from rich.table import Table
    from rich.text import Text

    from queuectl.cli import render
    from queuectl.textsafe import one_line

    out = render.console()
    scope = f"queue {queue!r}" if queue else "all queues"
    out.print(Text(f"Runs that ended in the last {since}, {scope}", style="dim"))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("QUEUE", "FINISHED", "DONE", "FAILED", "DEAD", "/MIN", "OK%"):
        table.add_column(name, justify="left" if name == "QUEUE" else "right")
    for name in ("TOOK p50", "p95", "max", "WAIT p50", "p95"):
        table.add_column(name, justify="right")
    shown = [*rows, total] if len(rows) != 1 else rows
    for row in shown:
        table.add_row(
            # A stored name is untrusted (a shared PostgreSQL queue's other members, a
            # tampered file): an OSC 52 clipboard write in it reached the terminal.
            Text(one_line(row.queue)) if row.queue is not None else Text("total", style="bold"),
            figure(row.finished),
            figure(row.completed),
            figure(row.failed_attempts),
            figure(row.dead),
            rate(row.per_minute),
            "" if row.success_rate is None else f"{100 * row.success_rate:.1f}",
            *(
                _duration(value)
                for value in (
                    row.duration_p50,
                    row.duration_p95,
                    row.duration_max,
                    row.wait_p50,
                    row.wait_p95,
                )
            ),
        )
    out.print(table)
    if not rows:
        out.print(Text("no run ended in this window", style="dim"))


def _duration(seconds: float | None) -> str:
    from queuectl.timeutil import human_duration

    return "" if seconds is None else human_duration(seconds)


@click.command()
@click.option("--since", default="1h", show_default=True, metavar="DURATION", help=SINCE_HELP)
@click.option(
    "--serve",
    metavar="HOST:PORT",
    help="Serve the metrics over HTTP at /metrics (e.g. 127.0.0.1:9108) until Ctrl+C.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --serve address other than loopback (anyone who reaches it reads the figures).",
)
@db_option
@pass_app(read_only=True)
def metrics(app: AppContext, since: str, serve: str | None, allow_remote: bool) -> None:
    """The queue in Prometheus' text format: jobs, workers and the stats figures.

    Every metric is named queuectl_…. Without --serve, prints them once: for
    node_exporter's textfile collector, write them to a .prom file from cron
    (queuectl metrics > dir/queuectl.prom.tmp && mv dir/queuectl.prom.tmp
    dir/queuectl.prom). With --serve, each scrape reads the database afresh.
    """
    from queuectl.cli import exposition
    from queuectl.errors import DatabaseUnreachable

    window_start(since, time.time())  # a malformed window fails before anything opens
    if allow_remote and serve is None:
        raise BadInput("--allow-remote is for --serve: without it the metrics are printed once")
    address = (
        exposition.parse_address(serve, allow_remote=allow_remote) if serve is not None else None
    )
    collector = exposition.QueueCollector(lambda now: window_start(since, now))
    if address is None:
        app.open()
        click.echo(exposition.render(collector), nl=False)
        return
    opener = None
    try:
        app.open()
    except DatabaseUnreachable as exc:
        # Started at boot before its server (a systemd unit): it exited 1, and Prometheus
        # saw the target down, not the 503 that says why. Served now; each scrape opens
        # the database until one can (a wrong password still ends it at once).
        note(f"metrics: {exc}; each scrape answers 503 until the database answers")
        opener = app.open
    exposition.serve(
        collector,
        address,
        announce=lambda url: click.echo(url),
        warn=lambda line: click.echo(line, err=True),
        opener=opener,
    )


COMMANDS = (stats, metrics)
