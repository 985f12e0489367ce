"""Commands about jobs: enqueue, list, show, status, retry, cancel, delete, purge."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO

import click

from queuectl.cli.common import (
    AppContext,
    BadInput,
    StateType,
    db_option,
    emit_json,
    json_option,
    pass_app,
)
from queuectl.states import FINISHED_STATES, JobState


@click.command()
@click.argument("job_json", metavar="JSON", required=False)
@click.option(
    "--file",
    "-f",
    "file",
    type=click.File("r", encoding="utf-8"),
    help="Read one JSON object per line from a file ('-' for standard input).",
)
@db_option
@json_option
@pass_app
def enqueue(app: AppContext, job_json: str | None, file: IO[str] | None, as_json: bool) -> None:
    """Add a job: a JSON object with at least "command"; prints its id.

    \b
    Keys: command, id, priority, max_retries, timeout, run_at, delay, queue, cwd.
    Example: queuectl enqueue '{"command": "make test", "priority": 5, "delay": "30s"}'
    With --file (or '-' as JSON) every line is a job, and all are accepted or none.
    """
    from queuectl import jobspec

    if job_json == "-" and file is None:
        file = sys.stdin
        job_json = None
    if (job_json is None) == (file is None):
        raise BadInput("give one job as JSON, or --file F (or '-') with one job per line")
    specs = [jobspec.parse_json(job_json)] if job_json is not None else jobspec.parse_lines(file)  # type: ignore[arg-type]
    if not specs:
        raise BadInput("the file holds no jobs")
    from queuectl import queue

    app.open()
    ids = queue.enqueue_many(specs)
    if as_json:
        from queuectl.records import job_record

        records = [job_record(queue.get_job(job_id)) for job_id in ids]
        emit_json(records[0] if job_json is not None else records)
    else:
        click.echo("\n".join(ids))


@click.command(name="list")
@click.argument("state_arg", metavar="[STATE]", required=False, type=StateType())
@click.option("--state", "-s", "states", multiple=True, type=StateType(), help="Only this state.")
@click.option("--queue", "-q", help="Only this queue.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True)
@db_option
@json_option
@pass_app(read_only=True)
def list_(
    app: AppContext,
    state_arg: JobState | None,
    states: tuple[JobState, ...],
    queue: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List jobs, newest first (also: queuectl list pending)."""
    from queuectl import queue as q

    app.open()
    wanted = [*states, *([state_arg] if state_arg else [])]
    jobs = q.list_jobs(states=wanted or None, queue=queue, limit=limit)
    if as_json:
        from queuectl.records import job_record

        emit_json([job_record(job) for job in jobs])
        return
    from queuectl.cli import render

    if not jobs:
        click.echo("No jobs.", err=True)
        return
    out = render.console()
    out.print(render.jobs_table(jobs, width=out.width))


@click.command()
@click.argument("job_id")
@db_option
@json_option
@pass_app(read_only=True)
def show(app: AppContext, job_id: str, as_json: bool) -> None:
    """Show a job: its fields, every run, and the latest output."""
    from queuectl import queue

    app.open()
    job = queue.get_job(job_id)
    runs = queue.runs_of(job_id)
    if as_json:
        from queuectl.records import job_record, run_record

        emit_json({**job_record(job), "runs": [run_record(run) for run in runs]})
        return
    from queuectl.cli import render

    out = render.console()
    for part in render.job_detail(job, runs):
        out.print(part)


@click.command()
@db_option
@json_option
@pass_app(read_only=True)
def status(app: AppContext, as_json: bool) -> None:
    """Jobs per state, and the workers with what they are running."""
    from queuectl import db, queue
    from queuectl.textsafe import one_line

    location = app.open()  # warns about a file others could write (see AppContext.open)
    counts = queue.counts()
    workers = queue.list_workers()
    if as_json:
        from queuectl.records import worker_record

        emit_json({"jobs": counts, "workers": [worker_record(w) for w in workers]})
        return
    from rich.text import Text

    from queuectl.cli import render

    out = render.console()
    out.print(Text(f"Database  {one_line(db.describe(location))}", style="dim"))
    out.print(Text("Jobs", style="bold"))
    out.print(render.counts_table(counts))
    active = [w for w in workers if w.state != "stopped"]
    out.print(Text(f"Workers ({len(active)} running)", style="bold"))
    if active:
        out.print(render.workers_table(active))
    else:
        out.print(Text("no workers running; start some with: queuectl worker start", style="dim"))


@click.command()
@click.argument("job_ids", metavar="ID...", nargs=-1, required=True)
@db_option
@pass_app
def retry(app: AppContext, job_ids: tuple[str, ...]) -> None:
    """Run failed, dead or cancelled jobs again, with their retries reset."""
    from queuectl import queue

    app.open()
    for job_id in queue.retry(job_ids):
        click.echo(f"{job_id} pending")


def _for_each_job(
    app: AppContext, job_ids: tuple[str, ...], action: Callable[[str], object], done: str
) -> None:
    """Apply ``action`` to every id in one transaction: all of them, or none."""
    from queuectl.db import write_transaction

    app.open()
    with write_transaction():
        for job_id in job_ids:
            action(job_id)
    for job_id in job_ids:
        click.echo(f"{job_id} {done}")


@click.command()
@click.argument("job_ids", metavar="ID...", nargs=-1, required=True)
@db_option
@pass_app
def cancel(app: AppContext, job_ids: tuple[str, ...]) -> None:
    """Cancel waiting or running jobs (a running job's process group is killed)."""
    from queuectl import queue

    _for_each_job(app, job_ids, queue.cancel, "cancelled")


@click.command()
@click.argument("job_ids", metavar="ID...", nargs=-1, required=True)
@db_option
@pass_app
def delete(app: AppContext, job_ids: tuple[str, ...]) -> None:
    """Delete jobs that are not running, with their run history."""
    from queuectl import queue

    _for_each_job(app, job_ids, queue.delete, "deleted")


@click.command()
@click.option(
    "--state",
    "-s",
    "states",
    multiple=True,
    type=StateType(FINISHED_STATES),
    help="Finished state to purge (repeatable; default: completed).",
)
@click.option(
    "--older-than",
    default="0s",
    show_default=True,
    help="Only jobs finished longer ago than this (e.g. 7d, 12h, 30m).",
)
@db_option
@json_option
@pass_app
def purge(app: AppContext, states: tuple[JobState, ...], older_than: str, as_json: bool) -> None:
    """Delete finished jobs and their runs to keep the database small."""
    from queuectl import queue
    from queuectl.timeutil import parse_duration

    age = parse_duration(older_than, what="--older-than")
    app.open()
    removed = queue.purge(states or (JobState.COMPLETED,), older_than=age)
    if as_json:
        emit_json({"purged": removed})
    else:
        click.echo(f"purged {removed} job{'s' if removed != 1 else ''}")


COMMANDS = (enqueue, list_, show, status, retry, cancel, delete, purge)
