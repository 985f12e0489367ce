"""Commands about workers (``worker start|run|stop|list``) and a job's output (``logs``)."""

from __future__ import annotations

import sys
import time

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

FOLLOW_INTERVAL = 0.25
"""Seconds between reads of the Run row by ``logs --follow`` (workers flush every 0.5 s)."""


def _queues(values: tuple[str, ...]) -> list[str]:
    """``--queue a --queue b`` and ``--queue a,b`` alike; ``default`` when none."""
    names = [name.strip() for value in values for name in value.split(",")]
    if any(not name for name in names):
        raise BadInput("a queue name cannot be empty")
    return list(dict.fromkeys(names)) or ["default"]


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
@click.option("--count", "-n", type=int, default=1, show_default=True, help="How many workers.")
@queue_option
@db_option
@json_option
@pass_app
def start(app: AppContext, count: int, queues: tuple[str, ...], as_json: bool) -> None:
    """Start workers in the background; they keep running after the terminal closes.

    Each logs to its own file beside the database (logs/worker-ID.log).
    """
    from queuectl import supervisor
    from queuectl.textsafe import one_line

    if not 1 <= count <= supervisor.MAX_START:
        raise BadInput(f"--count must be between 1 and {supervisor.MAX_START} (got {count})")
    names = _queues(queues)
    location = app.open()
    rows = supervisor.start_workers(location, count, names)
    if as_json:
        from queuectl.records import worker_record

        emit_json([worker_record(row) for row in rows])
        return
    for row in rows:
        click.echo(f"started worker {row.id} (pid {row.pid}), log: {one_line(row.log_path)}")


@worker.command(name="run")
@queue_option
@click.option("--id", "worker_id", hidden=True, help="Fixed worker id (used by worker start).")
@click.option("--log-file", hidden=True, help="Recorded as the worker's log (worker start).")
@db_option
@pass_app
def run_(
    app: AppContext, queues: tuple[str, ...], worker_id: str | None, log_file: str | None
) -> None:
    """Run one worker in the foreground, logging to stderr (for systemd and containers).

    SIGTERM, SIGINT or SIGHUP: finish the current job, then exit 0.
    A second signal: kill the job (its attempt is given back) and exit.
    """
    import logging

    from queuectl.worker import Worker

    names = _queues(queues)
    # Records need none of these, and gathering them was most of a log line's cost
    # (the logging HOWTO's "Optimization" knobs).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)sZ %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger("queuectl")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    app.open(durable=False, queue_writes=True)
    code = Worker(names, worker_id=worker_id, log_path=log_file).run()
    sys.exit(code)


@worker.command()
@click.argument("refs", metavar="[ID|PID]...", nargs=-1)
@click.option("--force", is_flag=True, help="Kill running jobs now (their attempt is given back).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    default=60.0,
    show_default=True,
    help="Seconds to wait for the workers to exit.",
)
@db_option
@pass_app
def stop(app: AppContext, refs: tuple[str, ...], force: bool, timeout: float) -> None:
    """Stop workers (all by default) and wait until they have exited.

    Graceful by default: each finishes its current job first.
    """
    from queuectl import supervisor

    app.open()
    ids = supervisor.resolve_workers(refs) if refs else None
    asked = supervisor.request_stop(ids, force=force)
    if not asked:
        click.echo("no workers running")
        return
    left = supervisor.wait_stopped(asked, timeout)
    for worker_id in asked:
        if worker_id not in left:
            click.echo(f"stopped worker {worker_id}")
    if left:
        hint = "" if force else "; use --force to kill their jobs"
        raise click.ClickException(f"still running after {timeout:g}s: {', '.join(left)}{hint}")


@worker.command(name="list")
@click.option("--all", "-a", "show_all", is_flag=True, help="Include stopped workers.")
@db_option
@json_option
@pass_app(read_only=True)
def list_(app: AppContext, show_all: bool, as_json: bool) -> None:
    """Workers with their state, current job and heartbeat age."""
    from queuectl import queue

    app.open()
    workers = queue.list_workers(include_stopped=show_all)
    if as_json:
        from queuectl.records import worker_record

        emit_json([worker_record(w) for w in workers])
        return
    if not workers:
        click.echo("no workers" + ("" if show_all else " running (--all shows stopped ones)"))
        return
    from queuectl.cli import render

    render.console().print(render.workers_table(workers))


@click.command()
@click.argument("job_id", metavar="ID")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output until the job ends.")
@db_option
@pass_app(read_only=True)
def logs(app: AppContext, job_id: str, follow: bool) -> None:
    """Output of the job's latest run (stdout and stderr interleaved), live with --follow."""
    from queuectl import queue
    from queuectl.textsafe import inert

    app.open()
    queue.get_job(job_id)  # a clear error for an unknown id
    run = queue.latest_run(job_id)
    if not follow:
        if run is None:
            click.echo(f"job {job_id} has not run yet", err=True)
            return
        text = inert(run.output)
        click.echo(text, nl=not text.endswith("\n") and bool(text))
        return
    try:
        _follow(job_id)
    except KeyboardInterrupt:
        return


def _follow(job_id: str) -> None:
    """Print new output as the worker flushes it, across attempts, until the job finishes."""
    from queuectl import queue
    from queuectl.models import FINISHED_STATES
    from queuectl.textsafe import inert, one_line

    run_id: int | None = None
    shown = ""
    ended = False
    while True:
        job = queue.get_job(job_id)
        run = queue.latest_run(job_id)
        if run is not None and run.id != run_id:
            if run_id is not None:
                click.echo(f"\n--- attempt {run.attempt} ---", err=True)
            run_id, shown, ended = run.id, "", False
        if run is not None:
            new, skipped = new_text(shown, run.output or "")
            if skipped:
                click.echo("\n[… output skipped: more than the kept tail arrived …]", err=True)
            if new:
                click.echo(inert(new), nl=False)
            shown = run.output or ""
            if run.outcome is not None and not ended:
                ended = True
                detail = f" ({one_line(run.error)})" if run.error else ""
                click.echo(f"\n--- attempt {run.attempt} {run.outcome}{detail} ---", err=True)
        if job.state in FINISHED_STATES and (run is None or run.outcome is not None):
            return
        time.sleep(FOLLOW_INTERVAL)


def new_text(before: str, after: str) -> tuple[str, bool]:
    """What ``after`` adds to ``before`` when both are tails of the same growing output.

    Once output passes the kept limit the window slides: ``after`` starts somewhere
    inside ``before``. The new text follows the longest suffix of ``before`` that is
    a prefix of ``after`` (found in linear time with the KMP prefix function).

    Returns:
        (new text, whether some output was lost between the two reads).
    """
    if after.startswith(before):
        return after[len(before) :], False
    if not before:
        return after, False
    joined = after + "\0" + before  # NUL never appears in stored output
    prefix = [0] * len(joined)
    for i in range(1, len(joined)):
        k = prefix[i - 1]
        while k and joined[i] != joined[k]:
            k = prefix[k - 1]
        if joined[i] == joined[k]:
            k += 1
        prefix[i] = k
    overlap = prefix[-1]
    if overlap == 0:
        return after, True
    return after[overlap:], False


COMMANDS = (worker, logs)
