"""``queuectl cron``: recurring jobs, fired by the live workers (no extra daemon)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from queuectl.cli.common import (
    AppContext,
    QueuectlGroup,
    db_option,
    emit_json,
    json_option,
    note,
    pass_app,
    warn,
)

if TYPE_CHECKING:
    from queuectl.lifecycle.schedules import ScheduleView

SPEC_HELP = (
    "5-field cron (minute hour day month weekday), 6 fields with seconds first,"
    " @hourly/@daily/@weekly/@monthly/@yearly, or '@every 30s'."
)


def _rule_options(*, editing: bool):  # type: ignore[no-untyped-def]
    """``--tz``, ``--catchup`` and ``--overlap``: the options ``add`` and ``edit`` share.
    An edit's help names no default: each is left as it is unless given (it said
    "default UTC", and an operator re-passed ``--tz`` on every edit for fear of it)."""

    def said(default: str) -> str:
        return " (unchanged unless given)" if editing else f" ({default})"

    def options(func):  # type: ignore[no-untyped-def]
        func = click.option(
            "--overlap",
            type=click.Choice(["skip", "allow"]),
            help="skip: no fire while the last fire's job is still waiting or running;"
            " allow: fire regardless" + said("default skip") + ".",
        )(func)
        func = click.option(
            "--catchup",
            metavar="DURATION",
            help="After an outage, fire the latest missed tick this recent once"
            + said("default 0")
            + ".",
        )(func)
        return click.option(
            "--tz",
            "zone",
            metavar="ZONE",
            help="IANA time zone of the spec" + said("default UTC") + ".",
        )(func)

    return options


@click.group(cls=QueuectlGroup)
@db_option
def cron() -> None:
    """Recurring jobs: a cron spec, a time zone and a job, fired by any live worker.

    \b
    queuectl cron add nightly '30 2 * * *' '{"command": "backup.sh"}' --tz Europe/Berlin
    queuectl cron add ping '@every 30s' '{"command": "curl -fsS host/health"}'
    queuectl cron list
    """


@cron.command()
@click.argument("name")
@click.argument("spec")
@click.argument("job", metavar="JOB-JSON")
@_rule_options(editing=False)
@db_option
@json_option
@pass_app
def add(
    app: AppContext,
    name: str,
    spec: str,
    job: str,
    zone: str | None,
    catchup: str | None,
    overlap: str | None,
    as_json: bool,
) -> None:
    """Add schedule NAME: fire JOB-JSON (what enqueue takes, less id/run_at/delay) on SPEC.

    SPEC: 5-field cron (minute hour day month weekday), 6 fields with seconds
    first, @hourly/@daily/@weekly/@monthly/@yearly, or @every DURATION. Each
    fire is a job with id NAME:YYYYMMDDTHHMMSSZ (the tick, UTC) and the
    variables QUEUECTL_CRON_NAME and QUEUECTL_CRON_TS; cwd defaults to here.
    """
    from queuectl.cronspec import schedule_name
    from queuectl.lifecycle import schedules

    name = schedule_name(name)
    change = schedules.validate(
        spec=spec,
        zone="UTC" if zone is None else zone,
        job=job,
        catchup="0" if catchup is None else catchup,  # "" is refused, as by edit
        overlap=overlap,
    )
    app.open()
    view = schedules.add(name, change, warn=warn)
    _report(view, as_json, "added")
    _say_if_no_worker()


def _say_if_no_worker() -> None:
    """``cron add: no worker is running: …``, on stderr: with no cron daemon, a schedule
    fires only on live workers, and "next fire … (in 33s)" read as if something would."""
    from queuectl.lifecycle.workers import live_of, workers_as_seen

    if not live_of(workers_as_seen()):
        note(
            "cron add: no worker is running: schedules fire on live workers (queuectl worker start)"
        )


@cron.command(name="list")
@db_option
@json_option
@pass_app(read_only=True)
def list_(app: AppContext, as_json: bool) -> None:
    """Every schedule: its spec and zone, next and last fire, its last job's state."""
    from queuectl.lifecycle import schedules

    app.open()
    found = schedules.list_schedules()
    if as_json:
        emit_json([view.record() for view in found])
        return
    if not found:
        # On stderr, as list and dlq list say it: stdout holds only rows.
        note("no schedules yet: add one with queuectl cron add NAME SPEC JOB-JSON")
        return
    from queuectl.cli import render

    out = render.console()
    out.print(schedules_table(found, now=time.time(), width=render.fits(out)))


SCHEDULE_HEADERS = ("NAME", "SPEC", "TZ", "NEXT", "LAST", "LAST JOB", "STATE", "SKIPPED")
SCHEDULE_SHRINK = ((5, 8), (0, 10), (2, 10), (5, 0), (2, 6), (0, 6), (7, 4), (6, 5), (4, 6))
"""On a narrow terminal, cut LAST JOB first (the tick id repeats the name), then NAME and
TZ, then leave LAST JOB out (``cron show`` has it); past that TZ and NAME go down to 6,
SKIPPED, STATE and LAST to a few cells. SPEC and NEXT, what the list is read for, stay
whole (a 23-character spec and a long zone cut them at 80 columns)."""


def schedules_table(found: list[ScheduleView], *, now: float, width: int | None = None) -> object:
    """The ``cron list`` table, fitted to ``width`` (``None``: piped, nothing cut)."""
    from rich.text import Text

    from queuectl.cli.render import fitted_table, relative, styled_state
    from queuectl.textsafe import one_line

    rows = []
    for view in found:
        if view.last_job_id is None:
            state = Text("")
        elif view.last_job_state is None:
            state = Text("gone", style="dim")
        else:
            state = styled_state(one_line(view.last_job_state))  # coloured as everywhere
        rows.append(
            [
                Text(one_line(view.name)),
                Text(one_line(view.spec)),
                Text(one_line(view.zone)),
                Text("paused", style="bold yellow")
                if view.paused
                else Text(relative(view.next_fire_at, now)),
                Text(relative(view.last_fired_at, now)),
                Text(one_line(view.last_job_id or "")),
                state,
                Text(str(view.skipped)),
            ]
        )
    return fitted_table(
        SCHEDULE_HEADERS, rows, width, SCHEDULE_SHRINK, right=frozenset({"SKIPPED"})
    )


@cron.command()
@click.argument("name")
@db_option
@json_option
@pass_app(read_only=True)
def show(app: AppContext, name: str, as_json: bool) -> None:
    """One schedule in full: its rule in words, job template and next fires."""
    from queuectl.lifecycle import schedules

    app.open()
    view = schedules.get(name)
    ticks = schedules.upcoming(name, 3)
    if as_json:
        from queuectl.timeutil import json_time

        emit_json({**view.detail(), "upcoming": [json_time(tick) for tick in ticks]})
        return
    _print_detail(view, ticks)


def _print_detail(view: ScheduleView, ticks: list[float]) -> None:
    import json

    from queuectl.cli.render import relative
    from queuectl.textsafe import one_line
    from queuectl.timeutil import iso, set_duration

    now = time.time()
    last = "never"
    if view.last_fired_at is not None:
        state = view.last_job_state or "gone"
        last = f"{iso(view.last_fired_at)} ({relative(view.last_fired_at, now)}): "
        last += f"{view.last_job_id} {state}"
    rows = [
        ("name", view.name),
        ("spec", f"{view.spec} ({view.explained})"),
        ("tz", view.zone),
        ("state", "paused" if view.paused else "active"),
        ("overlap", view.overlap),
        ("catchup", set_duration(view.catchup) if view.catchup else "0 (missed ticks skipped)"),
        ("skipped", str(view.skipped)),
        ("last fire", last),
        (
            "next fires",
            ("once resumed: " if view.paused else "")
            + (", ".join(f"{iso(t)} ({relative(t, now)})" for t in ticks) or "none"),
        ),
        ("job", json.dumps(view.job, ensure_ascii=False)),
    ]
    for key, value in rows:
        click.echo(f"{key:<11} {one_line(value)}")


def _report(view: ScheduleView, as_json: bool, verb: str) -> None:
    if as_json:
        # The schedule in full, as ``cron show`` gives it: ``cron edit --catchup 1h
        # --json`` printed ``cron list``'s shape, without the catch-up, overlap or job
        # it had just changed, so a script could not see its change took.
        emit_json(view.detail())
        return
    from queuectl.cli.render import relative
    from queuectl.timeutil import iso

    if verb == "removed":
        click.echo(f"schedule {view.name} removed (the jobs it fired stay)")
        return
    if view.paused:
        when = "paused"
    elif view.next_fire_at is None:
        when = "no next fire"
    else:
        when = f"next fire {iso(view.next_fire_at)} ({relative(view.next_fire_at, time.time())})"
    click.echo(f"schedule {view.name} {verb}: {view.spec} ({view.explained}, {view.zone}); {when}")


@cron.command()
@click.argument("name")
@click.option("--spec", metavar="SPEC", help=SPEC_HELP)
@click.option(
    "--job",
    metavar="JOB-JSON",
    help='A new job template (replaces the old one; without "cwd" it keeps the old one\'s).',
)
@_rule_options(editing=True)
@db_option
@json_option
@pass_app
def edit(
    app: AppContext,
    name: str,
    spec: str | None,
    job: str | None,
    zone: str | None,
    catchup: str | None,
    overlap: str | None,
    as_json: bool,
) -> None:
    """Change a schedule; a new spec or zone counts its ticks afresh from now."""
    from queuectl.errors import ValidationError
    from queuectl.lifecycle import schedules

    if all(value is None for value in (spec, job, zone, catchup, overlap)):
        raise ValidationError("nothing to change: give --spec, --job, --tz, --catchup or --overlap")
    change = schedules.validate(
        spec=spec, zone=zone, job=job, catchup=catchup, overlap=overlap, keep_cwd=True
    )
    app.open()
    if change.spec is None and change.zone is not None:
        from queuectl.cronspec import parse_rule

        parse_rule(schedules.get(name).spec, change.zone)
    view = schedules.edit(name, change, warn=warn)
    _report(view, as_json, "changed")


def _simple(verb: str, doc: str):  # type: ignore[no-untyped-def]
    """``pause``, ``resume`` and ``remove``: NAME in, the schedule out."""

    @click.argument("name")
    @db_option
    @json_option
    @pass_app
    def command(app: AppContext, name: str, as_json: bool) -> None:
        from queuectl.lifecycle import schedules

        app.open()
        # Said of a schedule already so, the line says it changed nothing, as queue
        # pause/resume do ("was paused already").
        unchanged = verb != "remove" and schedules.get(name).paused == (verb == "pause")
        action = {"pause": schedules.pause, "resume": schedules.resume, "remove": schedules.remove}
        view = action[verb](name)
        said = {"pause": "paused", "resume": "resumed", "remove": "removed"}[verb]
        if unchanged:
            said = "was paused already" if verb == "pause" else "was not paused"
        _report(view, as_json, said)

    command.__doc__ = doc
    return cron.command(name=verb)(command)


_simple("pause", "Fire no tick until resumed (ticks meanwhile are not fired later).")
_simple("resume", "Fire again, from the first tick after now.")
_simple("remove", "Delete a schedule; the jobs it fired stay.")


@cron.command()
@click.argument("name")
@db_option
@json_option
@pass_app
def run(app: AppContext, name: str, as_json: bool) -> None:
    """Enqueue one job now, outside the schedule (its id ends in .runXX)."""
    from queuectl.lifecycle import schedules

    app.open()
    job_id = schedules.run_now(name)
    if as_json:
        from queuectl.lifecycle import reads
        from queuectl.records import job_record

        # The job too, as ``enqueue --json`` prints the job it made.
        emit_json({"name": name, "job_id": job_id, "job": job_record(reads.get_job(job_id))})
        return
    click.echo(job_id)


COMMANDS = (cron,)
