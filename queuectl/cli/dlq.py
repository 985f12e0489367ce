"""The Dead Letter Queue: jobs that used up their retries."""

from __future__ import annotations

import click

from queuectl.cli.common import (
    AppContext,
    BadInput,
    QueuectlGroup,
    db_option,
    emit_json,
    json_option,
    pass_app,
)
from queuectl.states import JobState


@click.group(cls=QueuectlGroup)
@db_option
def dlq() -> None:
    """Inspect, retry or purge dead jobs."""


@dlq.command(name="list")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True)
@db_option
@json_option
@pass_app(read_only=True)
def dlq_list(app: AppContext, limit: int, as_json: bool) -> None:
    """Dead jobs with their last error, newest first."""
    from queuectl import queue

    app.open()
    jobs = queue.list_jobs(states=[JobState.DEAD], limit=limit)
    if as_json:
        from queuectl.records import job_record

        emit_json([job_record(job) for job in jobs])
        return
    if not jobs:
        click.echo("The DLQ is empty.", err=True)
        return
    from queuectl.cli import render

    out = render.console()
    out.print(render.jobs_table(jobs, dlq=True, width=out.width))


@dlq.command(name="retry")
@click.argument("job_ids", metavar="[ID]...", nargs=-1)
@click.option("--all", "retry_all", is_flag=True, help="Retry every dead job.")
@db_option
@pass_app
def dlq_retry(app: AppContext, job_ids: tuple[str, ...], retry_all: bool) -> None:
    """Move dead jobs back to pending with their retries reset."""
    from queuectl import queue
    from queuectl.errors import InvalidTransition

    if job_ids and retry_all:
        raise BadInput("give job ids or --all, not both")
    if not job_ids and not retry_all:
        raise BadInput("give job ids, or --all")
    app.open()
    if retry_all:
        count = queue.retry_dead()
        click.echo(f"{count} job{'s' if count != 1 else ''} back to pending")
        return
    for job_id in job_ids:
        if queue.get_job(job_id).state != JobState.DEAD:
            raise InvalidTransition(f"job {job_id} is not in the DLQ")
    for job_id in queue.retry(job_ids):
        click.echo(f"{job_id} pending")


@dlq.command(name="purge")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@db_option
@json_option
@pass_app
def dlq_purge(app: AppContext, yes: bool, as_json: bool) -> None:
    """Delete every dead job and its runs."""
    from queuectl import queue

    app.open()
    dead = queue.counts()[JobState.DEAD.value]
    if dead and not yes and not click.confirm(f"Delete {dead} dead jobs?", default=False):
        raise click.Abort
    removed = queue.purge([JobState.DEAD])
    if as_json:
        emit_json({"purged": removed})
    else:
        click.echo(f"purged {removed} dead job{'s' if removed != 1 else ''}")
