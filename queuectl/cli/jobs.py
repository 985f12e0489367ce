"""Commands that add and read jobs: enqueue, add, list, show."""

from __future__ import annotations

import sys

import click

from queuectl.cli.common import (
    LIMIT,
    WHOLE_NUMBER,
    AppContext,
    BadInput,
    StateListType,
    color_option,
    db_option,
    emit_json,
    json_option,
    note,
    pass_app,
    queue_filter_option,
    search_option,
    states_option,
    wants_color,
    warn,
    written_jobs,
)
from queuectl.states import JobState
from queuectl.wording import counted

LIST_CAP = 50
"""Rows the human ``list`` shows unless told otherwise; it then says how many more match."""


def _store(
    app: AppContext,
    specs: list,
    *,
    as_json: bool,
    single: bool,
    if_absent: bool = False,
    lines: list[int] | None = None,
) -> None:
    """Enqueue validated specs; print their ids, or (``--json``) the jobs. With
    ``if_absent``, a line whose unique key an active job holds prints that job's id
    (``--json``: that job, each record saying whether this call ``created`` it)."""
    from queuectl.lifecycle import enqueue, reads

    app.open()
    ids = enqueue.enqueue_many(specs, warn=warn, if_absent=if_absent, lines=lines)
    if as_json:
        # With the jobs each waits for: a script building a pipeline could not confirm a
        # job's dependencies from what enqueue printed.
        records = written_jobs([reads.get_job(job_id) for job_id in ids])
        if if_absent:  # which line made its job, and which found one holding its key
            for position, record in enumerate(records):
                record["created"] = position not in ids.held
        emit_json(records[0] if single else records)
    else:
        click.echo("\n".join(ids))


@click.command()
@click.argument("job_json", metavar="JSON", required=False)
@click.option(
    "--file",
    "-f",
    "file",
    type=click.File("rb"),
    help="Read one JSON object per line from a file ('-' for standard input).",
)
@click.option(
    "--if-absent",
    is_flag=True,
    help="A job whose unique_key an active job holds prints that job's id instead.",
)
@db_option
@json_option
@pass_app
def enqueue(app: AppContext, job_json: str | None, file, if_absent: bool, as_json: bool) -> None:
    """Add a job: a JSON object with at least "command"; prints its id.

    \b
    Keys: command, id, priority, max_retries, timeout, run_at, delay, queue, cwd, env,
    on_success, on_failure (hook commands), tty, after (ids that must complete first),
    unique_key (one active job per key), held (true: it waits for queuectl release).
    Example: queuectl enqueue '{"command": "make test", "priority": 5, "delay": "30s"}'
    With --file (or '-' as JSON) every line is a job, and all are accepted or none;
    a line's "after" may name an earlier line's "id".
    For a plain command without JSON: queuectl add -- make test
    """
    from queuectl import jobspec

    if job_json == "-" and file is None:
        file = sys.stdin.buffer
        job_json = None
    if (job_json is None) == (file is None):
        raise BadInput("give one job as JSON, or --file F (or '-') with one job per line")
    lines = None
    if job_json is not None:
        specs = [jobspec.parse_json(job_json)]
    else:
        try:
            specs, lines = jobspec.parse_numbered_lines(jobspec.bounded_lines(file))
        except OSError as exc:  # EIO mid-read was told as "cannot write the output"
            name = getattr(file, "name", "the file")
            shown = "standard input" if file is sys.stdin.buffer else name
            raise BadInput(f"cannot read {shown}: {exc.strerror or exc}") from None
    if not specs:
        # Nothing to queue this time (a cron pipeline whose generator found no work) is
        # not a misuse: it exited 2 as if called wrongly, so each such script had to test
        # for an empty file first (a script author's try). Said, as ``wait`` says it.
        note("nothing enqueued: the file holds no jobs")
        if as_json:
            emit_json([])
        return
    if if_absent and not any(spec.unique_key for spec in specs):
        raise BadInput('--if-absent needs a "unique_key" (it names the job holding that key)')
    _store(
        app, specs, as_json=as_json, single=job_json is not None, if_absent=if_absent, lines=lines
    )


def _env_pairs(values: tuple[str, ...]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        name, equals, text = value.partition("=")
        if not equals:
            raise BadInput(f"--env takes NAME=VALUE (got {value!r})")
        if name in pairs:  # the last silently won: say which was meant instead
            raise BadInput(f"--env {name} is given twice ({pairs[name]!r} and {text!r})")
        pairs[name] = text
    return pairs


@click.command(context_settings={"allow_interspersed_args": False})
@click.argument("command", nargs=-1, required=True)
@click.option("--id", "job_id", help="The job's id (default: 8 random characters).")
@click.option("--priority", "-p", type=WHOLE_NUMBER, help="Higher runs first (default 0).")
@click.option("--queue", "-q", help="Queue name (default: default).")
@click.option("--delay", "-d", metavar="DURATION", help="Start no sooner than this: 30s, 1h30m.")
@click.option("--run-at", metavar="TIME", help="Start no sooner than this: ISO 8601 or epoch.")
@click.option("--timeout", "-t", metavar="DURATION", help="Kill the run after this (0 = none).")
@click.option("--max-retries", "-r", type=WHOLE_NUMBER, help="Retries after the first run.")
@click.option("--cwd", metavar="DIR", help="Where it runs (default: here).")
@click.option("--env", "-e", "env", multiple=True, metavar="NAME=VALUE", help="Set a variable.")
@click.option("--on-success", metavar="COMMAND", help="Hook run when it completes ('' = none).")
@click.option("--on-failure", metavar="COMMAND", help="Hook run when it ends dead ('' = none).")
@click.option("--tty", is_flag=True, help="Run under a pseudo-terminal (programs keep colours).")
@click.option(
    "--after", "after", multiple=True, metavar="ID", help="Run once job ID completed (repeatable)."
)
@click.option("--unique-key", metavar="KEY", help="Refused while an active job holds KEY.")
@click.option(
    "--if-absent", is_flag=True, help="If an active job holds --unique-key, print its id instead."
)
@click.option("--hold", is_flag=True, help="Queue it held: it waits for 'queuectl release ID'.")
@db_option
@json_option
@pass_app
def add(
    app: AppContext,
    command: tuple[str, ...],
    job_id: str | None,
    priority: int | None,
    queue: str | None,
    delay: str | None,
    run_at: str | None,
    timeout: str | None,
    max_retries: int | None,
    cwd: str | None,
    env: tuple[str, ...],
    on_success: str | None,
    on_failure: str | None,
    tty: bool,
    after: tuple[str, ...],
    unique_key: str | None,
    if_absent: bool,
    hold: bool,
    as_json: bool,
) -> None:
    """Add a job from a plain command, no JSON; prints its id.

    \b
    queuectl add -- make -C src test
    queuectl add --priority 5 --delay 1h30m --env STAGE=prod -- ./deploy.sh
    queuectl add -- 'tar czf /backup/site.tgz site && echo done'
    queuectl add --after build --unique-key deploy -- ./deploy.sh
    The words of COMMAND are joined with spaces (as pueue does) and run by /bin/sh:
    quote the whole command to keep its own quotes and operators for the shell.
    Options come before COMMAND; '--' ends them. Validated as enqueue validates JSON.
    """
    from queuectl import jobspec

    fields: dict[str, object] = {"command": " ".join(command)}
    for key, value in (
        ("id", job_id),
        ("priority", priority),
        ("queue", queue),
        ("delay", delay),
        ("run_at", run_at),
        ("timeout", timeout),
        ("max_retries", max_retries),
        ("cwd", cwd),
        ("env", _env_pairs(env) if env else None),
        ("on_success", on_success),
        ("on_failure", on_failure),
        ("tty", True if tty else None),
        ("after", list(after) if after else None),
        ("unique_key", unique_key),
        ("held", True if hold else None),
    ):
        if value is not None:
            fields[key] = value
    if if_absent and unique_key is None:
        # It would do nothing: a script that forgot the key got a new job each time.
        raise BadInput("--if-absent needs --unique-key KEY (it names the job holding that key)")
    _store(app, [jobspec.parse_spec(fields)], as_json=as_json, single=True, if_absent=if_absent)


@click.command(name="list")
@click.argument("state_arg", metavar="[STATE]", required=False, type=StateListType())
@states_option("Only this state (repeatable, or a comma list: failed,dead).")
@queue_filter_option("Only this queue.")
@search_option
@click.option(
    "--limit",
    "-n",
    type=LIMIT,
    help=f"At most N jobs (default: {LIST_CAP} in the table, every match with --json).",
)
@click.option("--all", "-a", "show_all", is_flag=True, help="Every matching job, no cap.")
@db_option
@json_option
@pass_app(read_only=True)
def list_(
    app: AppContext,
    state_arg: tuple[JobState, ...] | None,
    states: tuple[JobState, ...],
    queue: str | None,
    search: str | None,
    limit: int | None,
    show_all: bool,
    as_json: bool,
) -> None:
    """List jobs, newest first (also: queuectl list pending).

    The table shows the newest 50 and says how many more match; --json gives
    every match (without output: see show) unless --limit is given.
    """
    wanted = list(dict.fromkeys([*states, *(state_arg or ())]))
    print_jobs(app, wanted, queue, search, limit, show_all, as_json)


def print_jobs(
    app: AppContext,
    states: list[JobState],
    queue: str | None,
    search: str | None,
    limit: int | None,
    show_all: bool,
    as_json: bool,
    *,
    dlq: bool = False,
) -> None:
    """``list`` and ``dlq list``: a capped table that says what it left out, or every
    match as JSON (without output) unless ``limit``."""
    from queuectl.lifecycle import reads
    from queuectl.textsafe import LONGEST_FIELD

    if limit is not None and show_all:
        raise BadInput("give --limit N or --all, not both")
    app.open()
    if limit is None and not (show_all or as_json):
        limit = LIST_CAP
    jobs = reads.list_jobs(
        states=states or None,
        queue=queue,
        search=search,
        limit=limit,
        with_output=False,
        # The table shows these cut (``bounded``); --json gives them as stored.
        text_limit=None if as_json else LONGEST_FIELD + 1,
    )
    if as_json:
        from queuectl.records import job_record, with_running

        running = reads.running_attempts(
            [job.id for job in jobs if job.state == JobState.PROCESSING]
        )
        records = [job_record(job, with_output=False) for job in jobs]
        emit_json([with_running(record, running.get(record["id"])) for record in records])
        return
    if not jobs:
        if dlq:  # filtered, an empty answer says nothing of the rest of the DLQ
            filtered = queue is not None or search is not None
            click.echo("No dead jobs match." if filtered else "The DLQ is empty.", err=True)
        else:
            click.echo("No jobs.", err=True)
        return
    from queuectl.cli import render
    from queuectl.lifecycle import deps, queues

    blocked = [job.id for job in jobs if job.state == JobState.BLOCKED]
    waits = deps.waiting_for(blocked) if blocked else {}
    paused = queues.paused_names()
    out = render.console()
    out.print(render.jobs_table(jobs, dlq=dlq, width=render.fits(out), waits=waits, paused=paused))
    if limit is not None and len(jobs) == limit:
        more = reads.count_jobs(states=states or None, queue=queue, search=search) - len(jobs)
        if more > 0:
            note(
                f"… {counted(more, 'more job')} match: "
                f"--limit {len(jobs) + more} or --all shows them"
            )


@click.command()
@click.argument("job_id")
@color_option
@db_option
@json_option
@pass_app(read_only=True)
def show(app: AppContext, job_id: str, as_json: bool, color: str) -> None:
    """Show a job: its fields, every run, and the latest output (in its colours on a
    terminal: see --color)."""
    from queuectl.lifecycle import deps, reads

    app.open()
    job = reads.get_job(job_id)
    runs = reads.runs_of(job_id)
    dependencies, dependents = deps.links(job_id)
    if as_json:
        from queuectl.records import job_record, run_record, with_running

        emit_json(
            {
                **with_running(job_record(job), runs[-1] if runs else None),
                "after": [link.id for link in dependencies],
                "dependents": [link.id for link in dependents],
                "runs": [run_record(run) for run in runs],
            }
        )
        return
    from queuectl.cli import render

    colored = wants_color(color)
    out = render.console(color=colored)
    for part in render.job_detail(job, runs, color=colored, links=(dependencies, dependents)):
        out.print(part)


COMMANDS = (enqueue, add, list_, show)
