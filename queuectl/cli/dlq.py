"""The Dead Letter Queue: jobs that used up their retries."""

from __future__ import annotations

import sys
import time

import click

from queuectl.cli.common import (
    LIMIT,
    AppContext,
    BadInput,
    QueuectlGroup,
    confirm_many,
    db_option,
    emit_json,
    error_line,
    json_option,
    pass_app,
    queue_filter_option,
    search_option,
    yes_option,
)
from queuectl.cli.jobs import LIST_CAP, print_jobs
from queuectl.cli.manage import note_dependents, note_left_dead, report_outcome, states_said
from queuectl.states import JobState
from queuectl.wording import counted


@click.group(cls=QueuectlGroup)
@db_option
def dlq() -> None:
    """Inspect, retry or purge dead jobs."""


@dlq.command(name="list")
@queue_filter_option("Only this queue.")
@search_option
@click.option(
    "--limit",
    "-n",
    type=LIMIT,
    help=f"At most N jobs (default: {LIST_CAP} in the table, every one with --json).",
)
@click.option("--all", "-a", "show_all", is_flag=True, help="Every dead job, no cap.")
@db_option
@json_option
@pass_app(read_only=True)
def dlq_list(
    app: AppContext,
    queue: str | None,
    search: str | None,
    limit: int | None,
    show_all: bool,
    as_json: bool,
) -> None:
    """Dead jobs with their last error, newest first."""
    print_jobs(app, [JobState.DEAD], queue, search, limit, show_all, as_json, dlq=True)


@dlq.command(name="retry")
@click.argument("job_ids", metavar="[ID]...", nargs=-1)
@click.option("--all", "retry_all", is_flag=True, help="Retry every dead job (asks first).")
@yes_option
@db_option
@json_option
@pass_app
def dlq_retry(
    app: AppContext, job_ids: tuple[str, ...], retry_all: bool, yes: bool, as_json: bool
) -> None:
    """Move dead jobs back to pending with their retries reset.

    An id that is not in the DLQ gets an error line; the others are retried. --all
    asks first, as retry --state dead does (a script passes --yes): each job runs again.
    """
    from queuectl.lifecycle import manage

    if job_ids and retry_all:
        raise BadInput("give job ids or --all, not both")
    if not job_ids and not retry_all:
        raise BadInput("give job ids, or --all")
    app.open()
    ids = job_ids or manage.select(manage.DLQ_RETRY).ids
    if retry_all and ids:
        confirm_many(f"Retry {counted(len(ids), 'dead job')}?", yes=yes)
    outcome = manage.act(manage.DLQ_RETRY, ids)
    if retry_all and not as_json:
        # One summary where each left-dead job had its error line; the exit is 1 as
        # with --json and ``retry --state dead``: a job asked for was left dead (it
        # was 0 here and 1 with --json, which must change only what stdout holds).
        # Worded as retry's: "2 jobs retried: 1 pending, 1 blocked", or "2 jobs pending".
        said = states_said(outcome.changed)
        click.echo(f"{counted(len(outcome.changed), 'job')} {said}")
        note_dependents(outcome.revived, "back to blocked")
        note_left_dead(outcome.left_dead)
        still = manage.still_dead_said(outcome)
        for said in [still] if still else [str(error) for error in outcome.refused]:
            error_line(said)
        if outcome.refused:
            sys.exit(1)
        return
    report_outcome(manage.DLQ_RETRY, outcome, as_json=as_json, each=True)


@dlq.command(name="purge")
@yes_option
@db_option
@json_option
@pass_app
def dlq_purge(app: AppContext, yes: bool, as_json: bool) -> None:
    """Delete every dead job and its runs."""
    from queuectl.lifecycle import manage, reads

    app.open()
    counted_at = time.time()
    dead = reads.counts()[JobState.DEAD.value]
    if dead:
        # Asked on stderr, and never of a pipe: ``echo y | queuectl dlq purge`` is not a
        # person saying yes (the rule of cancel, delete and retry).
        confirm_many(f"Delete {counted(dead, 'dead job')}?", yes=yes)
    # The jobs counted: one that dies while the question waits is not among them.
    removed = manage.purge([JobState.DEAD], now=counted_at)
    if as_json:
        emit_json({"purged": removed})
    else:
        click.echo(f"purged {counted(removed, 'dead job')}")
