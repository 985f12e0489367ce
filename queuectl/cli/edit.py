"""Commands that change or copy a job that has not started: edit, clone, hold, release."""

from __future__ import annotations

import json
import os

import click

from queuectl.cli.common import (
    AppContext,
    BadInput,
    db_option,
    emit_json,
    json_option,
    note,
    pass_app,
    stdin_is_terminal,
    warn,
    written_jobs,
)
from queuectl.cli.manage import note_dependents, note_left_dead, report_outcome
from queuectl.jobspec import load_json, where_json_fails
from queuectl.textsafe import one_line


@click.command()
@click.argument("job_id", metavar="ID")
@click.argument("changes", metavar="[PARTIAL-JSON]", required=False)
@db_option
@json_option
@pass_app
def edit(app: AppContext, job_id: str, changes: str | None, as_json: bool) -> None:
    """Change a job that is not running: PARTIAL-JSON is merged over it.

    \b
    queuectl edit ID '{"priority": 10, "env": {"MODE": "fast"}}'
    queuectl edit ID          opens $EDITOR (else vi) on the job's JSON
    Any key enqueue takes but "id", "after" and "held". A dead or cancelled job is
    retried by the edit. A running or completed job is refused (exit 1), a bad value exits 2,
    and either way nothing changes.
    """
    from queuectl.lifecycle import edit as editing
    from queuectl.lifecycle.reads import get_job

    app.open()
    if changes is None:
        job = get_job(job_id)
        editing._check_state(job)  # say so before opening an editor in vain
        data = _from_editor(_for_people(editing.editable_keys(job)))
    else:
        data = _parse(changes) or None  # '{}' changes nothing: it said "edited"
        if data is None:
            job = get_job(job_id)
            editing._check_state(job)
    if data is None:
        note(f"job {job_id} left as it was")
        if as_json:  # a script reads the job either way, as when a change was a no-op
            emit_json(written_jobs([job])[0])
        return
    edited = editing.edit(job_id, data, warn=warn)
    job = edited.job
    if as_json:
        emit_json(written_jobs([job])[0])
    else:
        click.echo(f"{one_line(job.id)} edited ({job.state})")
    # On stderr under --json too: its stdout is the job alone, which said nothing of them.
    note_dependents(edited.revived, "back to blocked")
    note_left_dead(edited.left_dead)


def _parse(text: str) -> dict[str, object]:
    try:
        data = load_json(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"the changes are not valid JSON: {where_json_fails(exc)}") from None
    if not isinstance(data, dict):
        raise BadInput("the changes must be a JSON object of job keys")
    return data


def _for_people(keys: dict[str, object]) -> dict[str, object]:
    """The keys as a person reads them: ``run_at`` as ISO 8601 with milliseconds, as
    ``--json`` shows it (the buffer had ``"run_at": 1796486610.0493538``). Left as
    shown, it counts as unchanged, so the job keeps its exact time."""
    from queuectl.timeutil import json_time

    if isinstance(keys.get("run_at"), float):
        return {**keys, "run_at": json_time(keys["run_at"])}  # type: ignore[arg-type]
    return keys


def _from_editor(current: dict[str, object]) -> dict[str, object] | None:
    """The keys the person changed; ``None`` when none. A key deleted from the buffer is
    ``null``, back to its default (as ``'{"timeout": null}'`` is): it was ignored while the
    command said "edited"."""
    if not stdin_is_terminal():
        raise BadInput("no terminal to open an editor on: give the changes as PARTIAL-JSON")
    before = json.dumps(current, indent=2, ensure_ascii=False) + "\n"
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        after = click.edit(before, editor=editor, extension=".json", require_save=True)
    except OSError as exc:
        # An editor that saves by moving a file elsewhere (or deletes it) left click
        # nothing to read back: said as "[Errno 2] No such file or directory: '/tmp/…'".
        why = exc.strerror or str(exc)
        raise click.ClickException(
            f"could not read back what {editor} saved ({why.lower()}): job left as it was"
        ) from None
    if after is None or after.strip() == before.strip():
        return None
    data = _parse(after)
    changed = {key: value for key, value in data.items() if current.get(key) != value}
    changed.update({key: None for key in current if key not in data})
    return changed or None


@click.command()
@click.argument("job_id", metavar="ID")
@click.argument("changes", metavar="[PARTIAL-JSON]", required=False)
@click.option("--hold", is_flag=True, help="Queue the copy held: it waits for release.")
@db_option
@json_option
@pass_app
def clone(app: AppContext, job_id: str, changes: str | None, hold: bool, as_json: bool) -> None:
    """Enqueue a copy of a job (any state), due now; prints the new id.

    \b
    queuectl clone ID
    queuectl clone ID '{"command": "make test V=1", "id": "test-verbose"}'
    queuectl clone ID --hold      the copy waits for: queuectl release NEW-ID
    PARTIAL-JSON is merged over the copy as edit merges it, before any worker can
    take it; it may also give the copy's "id". The copy waits for the jobs the job
    waited for.
    """
    from queuectl.lifecycle import edit as editing

    data = _parse(changes) if changes is not None else {}
    if hold:
        if data.get("held", True) is not True:  # said both ways: which was meant?
            raise BadInput('--hold and "held": false disagree: give one of them')
        data["held"] = True
    app.open()
    job = editing.clone(job_id, data)
    if as_json:
        emit_json(written_jobs([job])[0])
    else:
        click.echo(job.id)


ALREADY = {"hold": ("already held", "was held already"), "release": ("not held", "was not held")}
"""A job already as asked: said on stderr, not an error, as ``queue pause`` of a paused
queue is (a script could not tell "already held" from "completed, cannot be held")."""


def _hold_or_release(app: AppContext, verb: str, job_ids: tuple[str, ...], as_json: bool) -> None:
    from queuectl.lifecycle import manage

    app.open()
    action = manage.ACTIONS[verb]
    outcome = manage.act(action, job_ids)
    reason, said = ALREADY[verb]
    already = set(outcome.reasons.pop(reason, []))
    kept = [
        (job_id, error)
        for job_id, error in zip(outcome.refused_ids, outcome.refused, strict=True)
        if job_id not in already
    ]
    outcome.refused_ids = [job_id for job_id, _ in kept]
    outcome.refused = [error for _, error in kept]
    for job_id in (job_id for job_id in dict.fromkeys(job_ids) if job_id in already):
        note(f"job {one_line(job_id)} {said}")
    report_outcome(action, outcome, as_json=as_json, each=True)


@click.command()
@click.argument("job_ids", metavar="ID...", nargs=-1, required=True)
@db_option
@json_option
@pass_app
def hold(app: AppContext, job_ids: tuple[str, ...], as_json: bool) -> None:
    """Keep waiting jobs (pending, blocked or failed) from starting until released."""
    _hold_or_release(app, "hold", job_ids, as_json)


@click.command()
@click.argument("job_ids", metavar="ID...", nargs=-1, required=True)
@db_option
@json_option
@pass_app
def release(app: AppContext, job_ids: tuple[str, ...], as_json: bool) -> None:
    """Let held jobs start again (when due)."""
    _hold_or_release(app, "release", job_ids, as_json)


COMMANDS = (edit, clone, hold, release)
