"""Human-readable output: Rich tables and detail views.

Imported only by commands that print tables, so ``queuectl enqueue`` never
pays for Rich. Every untrusted string is wrapped in ``Text`` after going
through ``textsafe``: Rich markup in a command stays literal, and escape
sequences in output are shown, not executed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from queuectl.models import Job, Run, Worker
from queuectl.textsafe import inert, one_line
from queuectl.timeutil import human_duration, iso

STATE_STYLES = {
    "pending": "cyan",
    "processing": "yellow",
    "completed": "green",
    "failed": "magenta",
    "dead": "red",
    "cancelled": "dim",
    "succeeded": "green",
    "timed_out": "red",
    "lost": "red",
    "interrupted": "yellow",
    "idle": "cyan",
    "busy": "yellow",
    "stopping": "magenta",
    "stopped": "dim",
}


def console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def styled_state(state: str | None) -> Text:
    return Text(state or "running", style=STATE_STYLES.get(state or "", ""))


def relative(epoch: float | None, now: float) -> str:
    """``5s ago`` or ``in 2m00s``: what an operator scanning a table wants."""
    if epoch is None:
        return ""
    delta = epoch - now
    if abs(delta) < 1:
        return "now"
    return f"in {human_duration(delta)}" if delta > 0 else f"{human_duration(-delta)} ago"


def jobs_table(
    jobs: Iterable[Job], *, now: float | None = None, dlq: bool = False, width: int = 80
) -> Table:
    """Jobs as a table that fits ``width`` columns: only COMMAND is cut to make room."""
    now = time.time() if now is None else now
    jobs = list(jobs)
    last_header = "LAST ERROR" if dlq else "WHEN"
    id_width = min(20, max([2, *(len(job.id) for job in jobs)]))
    queue_width = min(12, max([5, *(len(job.queue) for job in jobs)]))
    last_width = 24 if dlq else 12
    fixed = id_width + 10 + 3 + 5 + queue_width + last_width + 6  # six one-space gaps
    command_width = max(10, width - fixed)

    table = Table(box=None, header_style="bold", pad_edge=False, collapse_padding=True)
    table.add_column("ID", no_wrap=True, width=id_width, overflow="ellipsis")
    table.add_column("STATE", no_wrap=True, width=10)
    table.add_column("PRI", justify="right", no_wrap=True, width=3)
    table.add_column("TRIES", justify="right", no_wrap=True, width=5)
    table.add_column("QUEUE", no_wrap=True, width=queue_width, overflow="ellipsis")
    table.add_column("COMMAND", no_wrap=True, width=command_width)
    table.add_column(last_header, no_wrap=True, width=last_width, overflow="ellipsis")
    for job in jobs:
        if dlq:
            last = Text(one_line(job.last_error, last_width))
        elif job.state in ("pending", "failed") and job.run_at > now:
            last = Text(f"due {relative(job.run_at, now)}")
        else:
            last = Text(relative(job.updated_at, now))
        table.add_row(
            Text(job.id),
            styled_state(job.state),
            str(job.priority),
            f"{job.attempts}/{job.max_retries + 1}",
            Text(one_line(job.queue)),
            Text(one_line(job.command, command_width)),
            last,
        )
    return table


def runs_table(runs: Iterable[Run]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("#", "WORKER", "STARTED", "DURATION", "OUTCOME", "EXIT"):
        table.add_column(name, no_wrap=True)
    for run in runs:
        table.add_row(
            str(run.attempt),
            Text(run.worker_id or ""),
            iso(run.started_at) or "",
            human_duration(run.duration) if run.duration is not None else "",
            styled_state(run.outcome),
            "" if run.exit_code is None else str(run.exit_code),
        )
    return table


def job_detail(job: Job, runs: list[Run]) -> list[Any]:
    """The renderables of ``show``: fields, runs, and the latest run's output."""
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column()
    if job.timeout is None:
        timeout = "config default"
    else:
        timeout = f"{job.timeout:g}s" if job.timeout else "none"
    rows: list[tuple[str, Text | str]] = [
        ("id", Text(job.id)),
        ("state", styled_state(job.state)),
        ("command", Text(inert(job.command))),
        ("queue", Text(one_line(job.queue))),
        ("priority", str(job.priority)),
        ("attempts", f"{job.attempts} of {job.max_retries + 1}"),
        ("timeout", timeout),
        ("cwd", Text(one_line(job.cwd))),
        ("created", iso(job.created_at) or ""),
        ("run at", iso(job.run_at) or ""),
        ("started", iso(job.started_at) or ""),
        ("finished", iso(job.finished_at) or ""),
        ("worker", Text(job.worker_id or "")),
        ("exit code", "" if job.exit_code is None else str(job.exit_code)),
        ("last error", Text(inert(job.last_error))),
    ]
    for name, value in rows:
        if value:
            fields.add_row(name, value)
    parts: list[Any] = [fields]
    if runs:
        parts += [Text(""), Text("Runs", style="bold"), runs_table(runs)]
        latest = runs[-1]
        parts += [Text(""), Text(f"Output (attempt {latest.attempt})", style="bold")]
        parts.append(Text(inert(latest.output) or "(no output)"))
    return parts


def counts_table(counts: Mapping[str, int]) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(justify="right")
    for state, count in counts.items():
        table.add_row(styled_state(state), str(count))
    return table


def workers_table(workers: Iterable[Worker], *, now: float | None = None) -> Table:
    now = time.time() if now is None else now
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("ID", "PID", "HOST", "STATE", "JOB", "HEARTBEAT", "DONE", "FAILED"):
        table.add_column(name, no_wrap=True)
    for worker in workers:
        table.add_row(
            Text(worker.id),
            str(worker.pid),
            Text(one_line(worker.host)),
            styled_state(worker.state),
            Text(worker.current_job or ""),
            relative(worker.heartbeat_at, now),
            str(worker.jobs_done),
            str(worker.jobs_failed),
        )
    return table
