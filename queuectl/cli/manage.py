"""Commands that change jobs users chose: retry, cancel, delete (by id or filter), purge."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import click

from queuectl.cli.common import (
    AppContext,
    BadInput,
    confirm_many,
    db_option,
    emit_json,
    error_line,
    json_option,
    note,
    pass_app,
    queue_filter_option,
    states_option,
    yes_option,
)
from queuectl.states import FINISHED_STATES, JobState, is_held
from queuectl.textsafe import one_line
from queuectl.wording import counted, listed


def batch_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``ID… | --state S | --queue Q | --all [--yes]``, shared by retry, cancel and delete."""
    for decorator in reversed(
        (
            click.argument("job_ids", metavar="[ID]...", nargs=-1),
            states_option("Every job in this state (repeatable, or a comma list: failed,dead)."),
            queue_filter_option("Every job in this queue (with --state: AND)."),
            click.option("--all", "-a", "every", is_flag=True, help="Every job it applies to."),
            yes_option,
            db_option,
            json_option,
            pass_app,
        )
    ):
        func = decorator(func)
    return func


def run_batch(
    app: AppContext,
    verb: str,
    job_ids: tuple[str, ...],
    states: tuple[JobState, ...],
    queue: str | None,
    every: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Act on the ids given, or on the jobs a filter selects (after asking); report each.

    Each id that cannot be acted on gets one ``Error:`` line on stderr and the
    others are still done; the exit status is then 1.
    """
    from queuectl.lifecycle import manage

    action = manage.ACTIONS[verb]
    filtered = bool(states or queue or every)
    if job_ids and filtered:
        raise BadInput("give job ids, or --state/--queue/--all, not both")
    if not job_ids and not filtered:
        raise BadInput("give job ids, or select jobs with --state S, --queue Q or --all")
    app.open()
    if job_ids:
        outcome = manage.act(action, job_ids)
    else:
        selection = manage.select(action, states=states, queue=queue)
        if selection.left:
            one = selection.left == 1
            note(
                f"{counted(selection.left, 'matching job')} left as"
                f" {'it is' if one else 'they are'}: running, or still being stopped by"
                f" {'its' if one else 'their'} worker"
            )
        if not selection.ids:
            if as_json:
                emit_json([])
            else:
                note(f"no jobs to {verb}")
            return
        confirm_many(_question(action, len(selection.ids), states, queue), yes=yes)
        outcome = manage.act(action, selection.ids)
        _note_moved_meanwhile(outcome)
    report_outcome(action, outcome, as_json=as_json, each=bool(job_ids))


def _note_moved_meanwhile(outcome: Any) -> None:
    """Jobs a filter picked that changed before they were reached (workers draining the
    queue ended or started them, another shell deleted them) are left as they are, said
    once on stderr: each had an ``Error:`` line and the command exited 1, though it did
    all it was asked (``cancel --queue rq`` while rq drains: "job … is completed")."""
    moved = outcome.set_aside_moved()
    if not moved:
        return
    count = sum(len(ids) for ids in moved.values())
    said = ", ".join(f"{len(ids):,} {reason}" for reason, ids in moved.items())
    note(
        f"{counted(count, 'matching job')} changed meanwhile, left as"
        f" {'it is' if count == 1 else 'they are'}: {said}"
    )


def _question(action: Any, count: int, states: tuple[JobState, ...], queue: str | None) -> str:
    # Every state (delete's default) says nothing but "jobs": naming them all listed
    # processing too, which the selection has just left out.
    every = not states and set(action.default) == set(JobState)
    kinds = "" if every else "/".join(s.value for s in (states or action.default)) + " "
    where = f" in queue {queue!r}" if queue else ""
    return f"{action.verb.capitalize()} {counted(count, kinds + 'job')}{where}?"


def states_said(jobs: Sequence[Any]) -> str:
    """Where retried jobs went: ``pending``, or each state counted when they differ
    (``retried: 1 pending, 1 blocked``): "2 jobs pending" named one that waits for its
    dependencies as pending."""
    states = Counter(
        job.state + (" and held" if is_held(job.state, job.held_at) else "") for job in jobs
    )
    if len(states) == 1:
        return next(iter(states))
    if not states:
        return "retried"
    return "retried: " + ", ".join(f"{count} {state}" for state, count in states.items())


def report_outcome(action: Any, outcome: Any, *, as_json: bool, each: bool) -> None:
    """Print what changed (``--json``: the jobs; else a line per job, or a count), then
    one ``Error:`` line per job left; exit 1 if any was."""
    taken, revived = outcome.taken_down, outcome.revived
    if as_json:
        from queuectl.lifecycle.reads import jobs_by_id
        from queuectl.records import job_record

        # Exactly what changed: the dependents a cancel or delete took down (dead) and
        # those a retry brought back (blocked) too, each with its state.
        changed = [*outcome.changed, *jobs_by_id([*taken, *revived])]
        emit_json([job_record(job, with_output=False) for job in changed])
    elif each:
        for job in outcome.changed:
            # A retried job waiting for its dependencies is blocked, not pending.
            # Picked by a filter, the ids come from the database: made inert, as in tables.
            said = job.state if action.verb == "retry" else action.result
            if action.verb == "retry" and job.held_at is not None:
                said += ", held (queuectl release to run it)"  # the hold stays
            click.echo(f"{one_line(job.id)} {said}")
    else:
        said = states_said(outcome.changed) if action.verb == "retry" else action.result
        click.echo(f"{counted(len(outcome.changed), 'job')} {said}")
    if not as_json:
        note_dependents(revived, "back to blocked")
        note_dependents(taken, "taken down (dead)")
    note_left_dead(outcome.left_dead)
    for error in outcome.refused:
        error_line(str(error))
    if outcome.refused:
        sys.exit(1)


def note_left_dead(left_dead: dict[str, str]) -> None:
    """``1 dependent left dead: kdep (unique key 'KK' is held by job thief (pending))`` on
    stderr, also under ``--json``, whose jobs are only those changed: a retry that
    succeeded could not bring these back, and said nothing of them."""
    if not left_dead:
        return
    shown = "; ".join(f"{job_id} ({why})" for job_id, why in list(left_dead.items())[:5])
    more = f"; and {len(left_dead) - 5} more" if len(left_dead) > 5 else ""
    note(f"{counted(len(left_dead), 'dependent')} left dead: {shown}{more}")


def note_dependents(ids: list[str], what: str) -> None:
    """``2 dependents back to blocked: test, deploy`` on stderr (not a result); the first
    ten named."""
    if not ids:
        return
    shown = listed(ids[:10], len(ids))
    note(f"{counted(len(ids), 'dependent')} {what}: {shown}")


@click.command()
@batch_options
def retry(
    app: AppContext,
    job_ids: tuple[str, ...],
    states: tuple[JobState, ...],
    queue: str | None,
    every: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Run jobs again, with their retries reset: failed, dead, cancelled or completed ones.

    \b
    queuectl retry ID...               those jobs (a completed one runs again)
    queuectl retry --state dead --queue mail
    queuectl retry --all               every failed, dead and cancelled job
    Filters combine with AND, and ask first on a terminal (--yes for scripts).
    """
    run_batch(app, "retry", job_ids, states, queue, every, yes, as_json)


@click.command()
@batch_options
def cancel(
    app: AppContext,
    job_ids: tuple[str, ...],
    states: tuple[JobState, ...],
    queue: str | None,
    every: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Cancel waiting or running jobs (a running job's process group is killed).

    \b
    queuectl cancel ID...
    queuectl cancel --queue mail       every pending, blocked, failed or running job in it
    Filters combine with AND, and ask first on a terminal (--yes for scripts).
    """
    run_batch(app, "cancel", job_ids, states, queue, every, yes, as_json)


@click.command()
@batch_options
def delete(
    app: AppContext,
    job_ids: tuple[str, ...],
    states: tuple[JobState, ...],
    queue: str | None,
    every: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Delete jobs with their run history; running jobs are never deleted (cancel them).

    \b
    queuectl delete ID...
    queuectl delete --state completed --queue thumbs
    Filters combine with AND, and ask first on a terminal (--yes for scripts).
    """
    run_batch(app, "delete", job_ids, states, queue, every, yes, as_json)


@click.command()
@states_option(
    "Finished state to purge (repeatable, or a comma list; default: completed).", FINISHED_STATES
)
@click.option(
    "--older-than",
    default="0s",
    show_default=True,
    help="Only jobs finished longer ago than this (e.g. 7d, 12h, 1h30m).",
)
@db_option
@json_option
@pass_app
def purge(app: AppContext, states: tuple[JobState, ...], older_than: str, as_json: bool) -> None:
    """Delete finished jobs and their runs to keep the database small.

    stats and metrics count only the runs still stored: purge older than the window
    they cover (--older-than 1d beside metrics --since 1h), or their figures drop.
    """
    from queuectl.lifecycle import manage
    from queuectl.timeutil import parse_duration

    age = parse_duration(older_than, what="--older-than")
    app.open()
    removed = manage.purge(states or (JobState.COMPLETED,), older_than=age)
    if as_json:
        emit_json({"purged": removed})
    else:
        click.echo(f"purged {counted(removed, 'job')}")


COMMANDS = (retry, cancel, delete, purge)
