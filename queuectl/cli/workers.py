"""Commands about workers: ``worker start|run|stop|list|prune``."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

from queuectl.cli.common import (
    WHOLE_NUMBER,
    AppContext,
    BadInput,
    QueuectlGroup,
    db_option,
    emit_json,
    error_line,
    json_option,
    note,
    pass_app,
)
from queuectl.textsafe import one_line
from queuectl.wording import counted, listed

if TYPE_CHECKING:
    from queuectl.store.models import Worker as WorkerRow


def _queues(values: tuple[str, ...]) -> list[str]:
    """``--queue a --queue b`` and ``--queue a,b`` alike; ``default`` when none."""
    names = [name.strip() for value in values for name in value.split(",")]
    if any(not name for name in names):
        raise BadInput("a queue name cannot be empty")
    from queuectl.jobspec import queue_name

    for name in names:
        queue_name(name)  # the grammar jobs and ``queue pause`` use: no worker for "a b"
    return list(dict.fromkeys(names)) or ["default"]


slots_option = click.option(
    "--slots",
    type=WHOLE_NUMBER,
    default=1,
    show_default=True,
    metavar="N",
    help="Jobs each worker runs at once (one process, one connection; see README).",
)


def _check_slots(slots: int) -> None:
    from queuectl.runtime.slots import MAX_SLOTS

    if not 1 <= slots <= MAX_SLOTS:
        raise BadInput(f"--slots must be between 1 and {MAX_SLOTS} (got {slots})")


queue_option = click.option(
    "--queue",
    "-q",
    "queues",
    multiple=True,
    metavar="NAME",
    help="Queue to take jobs from (repeat, or comma-separate; default: default).",
)


@click.group(cls=QueuectlGroup)
@db_option
def worker() -> None:
    """Start, stop and list the worker processes that run jobs."""


@worker.command()
@click.option(
    "--count", "-n", type=WHOLE_NUMBER, default=1, show_default=True, help="How many workers."
)
@slots_option
@queue_option
@db_option
@json_option
@pass_app
def start(app: AppContext, count: int, slots: int, queues: tuple[str, ...], as_json: bool) -> None:
    """Start workers in the background; they keep running after the terminal closes.

    Each logs to its own file beside the database (logs/worker-ID.log).
    """
    from queuectl.runtime import supervisor
    from queuectl.runtime.outage import Outage
    from queuectl.textsafe import one_line

    if not 1 <= count <= supervisor.MAX_START:
        raise BadInput(f"--count must be between 1 and {supervisor.MAX_START} (got {count})")
    _check_slots(slots)
    names = _queues(queues)
    # A boot script or an autoscaler starting workers while the server is away: they
    # would wait for it (worker run does), so this waits too, rather than exit 1 at once.
    location = app.open(wait_out=Outage(note, "worker start"))
    rows = supervisor.start_workers(location, count, names, slots=slots)
    _say_unknown_queues(names)
    if as_json:
        emit_json(_as_listed(rows))
        return
    for row in rows:
        click.echo(f"started worker {row.id} (pid {row.pid}), log: {one_line(row.log_path)}")


def _say_unknown_queues(names: list[str]) -> None:
    """``worker start: no job has been in queue 'slwo' (a typo?)``, on stderr: a worker
    started on a mistyped queue serves nothing, and nothing said so until ``status``
    named the queue its jobs waited in."""
    from queuectl.lifecycle import queues
    from queuectl.textsafe import one_line

    if unknown := queues.never_used(names):
        noun = "queue" if len(unknown) == 1 else "queues"
        named = listed([repr(one_line(name)) for name in unknown[:3]], len(unknown))
        note(f"worker start: no job has been in {noun} {named} (a typo?)")


def _as_listed(rows: list[WorkerRow]) -> list[dict]:
    """Workers as ``worker list --all --json`` shows them: ``slots_busy`` counted (0 when
    idle or stopped, where the bare row says null), ``state`` as judged now."""
    from queuectl.lifecycle.workers import workers_as_seen
    from queuectl.records import worker_record

    seen = {worker.id: worker for worker in workers_as_seen(include_ended=True)}
    return [worker_record(seen.get(row.id, row)) for row in rows]


@worker.command(name="run")
@queue_option
@slots_option
@click.option("--id", "worker_id", hidden=True, help="Fixed worker id (used by worker start).")
@click.option("--log-file", hidden=True, help="Recorded as the worker's log (worker start).")
@db_option
@pass_app
def run_(
    app: AppContext,
    queues: tuple[str, ...],
    slots: int,
    worker_id: str | None,
    log_file: str | None,
) -> None:
    """Run one worker in the foreground, logging to stderr (for systemd and containers).

    SIGTERM, SIGINT or SIGHUP: finish the current job, then exit 0.
    A second signal: kill the job (its attempt is given back) and exit.
    With --slots N it runs up to N jobs at once; a stop applies to each.
    """
    import logging

    from queuectl.jobspec import ID_PATTERN, ID_RULE
    from queuectl.runtime.fdlimit import ensure_descriptors
    from queuectl.runtime.outage import Outage
    from queuectl.runtime.worker import Worker
    from queuectl.runtime.worklog import InertFormatter

    if worker_id is not None and not ID_PATTERN.fullmatch(worker_id):
        # Shown raw by every table and log that names the worker, as a job id would be.
        raise BadInput(f"--id must be {ID_RULE} (got {worker_id!r})")
    _check_slots(slots)
    ensure_descriptors(slots)
    names = _queues(queues)
    # Records need none of these, and gathering them was most of a log line's cost
    # (the logging HOWTO's "Optimization" knobs).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    formatter = InertFormatter("%(asctime)sZ %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger("queuectl")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # psycopg's own warnings reached the log through Python's last-resort handler,
    # bare, without a time: give them ours (``db`` drops the pipeline's noise).
    logging.getLogger("psycopg").addHandler(handler)
    # Started while the server is away (a host booting before it, an autoscaler as it
    # returns): waited for, said in the log, as a running worker rides out an outage.
    began, waited = time.time(), []
    starting = Outage(root.warning, "worker", on_back=lambda: waited.append(True))
    app.open(durable=False, queue_writes=True, claims_jobs=True, wait_out=starting)
    away_since = began if waited else None  # the ticks due meanwhile fire once (schedules)
    code = Worker(
        names, worker_id=worker_id, log_path=log_file, slots=slots, database_away_since=away_since
    ).run()
    sys.exit(code)


@worker.command()
@click.argument("refs", metavar="[ID|PID]...", nargs=-1)
@click.option(
    "--all",
    "-a",
    "every",
    is_flag=True,
    help="Every worker (as with no ID): said, as retry --all and cancel --all say it.",
)
@click.option("--force", is_flag=True, help="Kill running jobs now (their attempt is given back).")
@click.option(
    "--timeout",
    metavar="DURATION",
    default="60s",
    show_default=True,
    help="How long to wait for the workers to exit: 30, 30s, 2m.",
)
@db_option
@json_option
@pass_app
def stop(
    app: AppContext,
    refs: tuple[str, ...],
    every: bool,
    force: bool,
    timeout: str,
    as_json: bool,
) -> None:
    """Stop workers (all by default, or with --all) and wait until they have exited.

    Graceful by default: each finishes its current job first. A worker whose
    process had already died is reported lost, and its job recovered.
    """
    from queuectl.errors import WorkerNotFound
    from queuectl.lifecycle import reads
    from queuectl.runtime import supervisor
    from queuectl.states import WorkerState
    from queuectl.timeutil import parse_duration

    if every and refs:  # which was meant? as retry refuses ids beside --all
        raise BadInput("give worker IDs or --all, not both")
    limit = parse_duration(timeout, what="--timeout")  # as wait and queue pause --wait read it
    app.open()
    ids: list[str] | None = None
    unknown: list[str] = []
    if refs:
        # As every command given ids: one Error line per id it cannot take, the others
        # stopped. One unknown id stopped none, and named only the first of them.
        ids, unknown = supervisor.resolve_workers(refs)
        for ref in unknown:
            error_line(str(WorkerNotFound(ref)))
    asked = supervisor.request_stop(ids, force=force) if ids or not refs else []
    if not asked:
        if as_json:  # a list-valued command's stdout stays a list, as cancel's does
            emit_json([])
        elif not unknown:
            note("no workers running")  # a remark, on stderr as worker list's is
        if unknown:
            click.get_current_context().exit(1)
        return
    held = {w for w, row in reads.worker_rows(asked).items() if row.current_job}
    if held and not force:  # said before the wait: it printed nothing until the jobs ended
        note(
            f"waiting for {counted(len(held), 'worker')} to finish the running jobs, up to"
            f" {limit:g}s (Ctrl+C stops the wait; the stop stays asked)"
        )
    left = supervisor.wait_stopped(asked, limit, note=note)
    rows = reads.worker_rows(asked)
    killed = reads.killed_by_forced_stop(asked) if force else []
    if as_json:
        emit_json(_as_listed([rows[w] for w in asked if w in rows]))
    else:
        for worker_id in asked:
            row = rows.get(worker_id)
            if worker_id in left:
                continue
            if row is not None and row.state == WorkerState.LOST:
                # "its job was recovered" was said of rows that held none.
                click.echo(
                    f"worker {one_line(worker_id)} was lost (no process of this database"
                    " runs it: it died, this is a copy, or the row names another"
                    " database's)" + ("; its job was recovered" if worker_id in held else "")
                )
            else:
                click.echo(f"stopped worker {one_line(worker_id)}")
    if killed:  # what the kill hit, found after it: not what ran when it was asked
        # On stderr with --json too: the rows say nothing of the jobs, and a script
        # could not tell which jobs a forced stop had given back.
        note(f"killed {', '.join(killed)}: back to pending, no attempt spent")
    if left:
        hooks = set(supervisor.finishing_hooks(left))
        # Its jobs all recorded, it runs their hooks (hook_timeout each): --force, which
        # kills jobs, would find none ("no workers running").
        shown = [f"{w} (running its jobs' hooks)" if w in hooks else w for w in left]
        hint = "" if force or hooks >= set(left) else "; use --force to kill their jobs"
        raise click.ClickException(f"still running after {limit:g}s: {', '.join(shown)}{hint}")
    if unknown:
        click.get_current_context().exit(1)


@worker.command(name="list")
@click.option("--all", "-a", "show_all", is_flag=True, help="Include stopped and lost workers.")
@db_option
@json_option
@pass_app(read_only=True)
def list_(app: AppContext, show_all: bool, as_json: bool) -> None:
    """Workers with their queues, state, current job and heartbeat age.

    A worker that died without stopping (kill -9, a crash, its host gone) is
    shown lost; --all lists those and the stopped ones (worker prune removes them).
    """
    from queuectl.lifecycle.workers import workers_as_seen

    app.open()
    workers = workers_as_seen(include_ended=show_all)
    if as_json:
        from queuectl.records import worker_record

        emit_json([worker_record(w) for w in workers])
        return
    if not workers:
        # On stderr, as list and dlq list say it: stdout holds only rows.
        # A newcomer's first look: say how to start one, as status does.
        tail = "" if show_all else " running (--all shows ended ones)"
        note(f"no workers{tail}; start some with: queuectl worker start")
        return
    from queuectl.cli import render

    out = render.console()
    out.print(render.workers_table(workers, width=render.fits(out)))


@worker.command()
@click.option(
    "--older-than",
    default="0s",
    show_default=True,
    metavar="DURATION",
    help="Only workers that ended longer ago than this (e.g. 7d, 12h).",
)
@db_option
@json_option
@pass_app
def prune(app: AppContext, older_than: str, as_json: bool) -> None:
    """Delete the rows of stopped and lost workers (restarts leave one each).

    Workers that died unnoticed are recovered first (their jobs requeued), so
    their rows go too. Live workers are never touched.
    """
    from queuectl.runtime import supervisor
    from queuectl.timeutil import parse_duration

    age = parse_duration(older_than, what="--older-than")
    app.open()
    pruned = supervisor.prune(age, note=note)
    if pruned.recovered:
        _say_recovered(pruned.recovered)
    if as_json:
        from queuectl.records import worker_record

        emit_json([worker_record(w) for w in pruned.workers])
    else:
        click.echo(f"pruned {counted(len(pruned.workers), 'worker')}")


def _say_recovered(job_ids: list[str]) -> None:
    """``recovered 1 job of lost workers first: orphan (failed)``, on stderr (``--json``'s
    stdout stays the pruned rows): the job a user waited on went back to the queue, or to
    the DLQ, and prune said only how many rows it deleted."""
    from queuectl.lifecycle import reads
    from queuectl.textsafe import one_line

    states = reads.job_states(job_ids[:10])
    shown = [f"{one_line(job_id)} ({states.get(job_id, 'deleted')})" for job_id in job_ids[:10]]
    note(
        f"recovered {counted(len(job_ids), 'job')} of lost workers first:"
        f" {listed(shown, len(job_ids))}"
    )


COMMANDS = (worker,)
