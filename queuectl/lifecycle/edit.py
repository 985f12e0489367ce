"""Change a job that has not started, or copy one: ``edit`` and ``clone``.

An edit is a merge of job keys (those ``enqueue`` takes, except ``id``) over the
job as stored, validated as a whole by ``jobspec.parse_spec`` before anything is
written, then written in one guarded UPDATE: a worker that claimed the job in
the meantime wins, and the edit is refused rather than changing a running job.
A dead or cancelled job that is edited is also retried: the point of fixing it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

from queuectl.errors import InvalidTransition, ValidationError
from queuectl.jobspec import (
    ALLOWED_KEYS,
    CRON_ENV,
    JobSpec,
    check_keys,
    env_from_json,
    parse_spec,
)
from queuectl.lifecycle import deps, unique
from queuectl.lifecycle.enqueue import check_directories, enqueue
from queuectl.lifecycle.reads import get_job
from queuectl.lifecycle.settings import load as load_settings
from queuectl.store.boundary import translated
from queuectl.store.models import Job, JobState
from queuectl.store.transactions import notify_new_work, write_transaction
from queuectl.textsafe import shell_word

EDITABLE = (
    JobState.PENDING,
    JobState.BLOCKED,
    JobState.FAILED,
    JobState.DEAD,
    JobState.CANCELLED,
)
"""States an edit applies to; dead and cancelled jobs are retried by it."""
RETRIED_BY_EDIT = (JobState.DEAD, JobState.CANCELLED)


def editable_keys(job: Job) -> dict[str, Any]:
    """The job as the keys ``enqueue`` takes (what ``edit`` shows in the editor).

    A schedule's fire also has the schedule's two variables in its ``env``
    (``CRON_ENV``), which no user may set: they are left out here and kept by
    ``merged_spec``, so a fire can be fixed and retried, or cloned, as it ran.
    """
    keys: dict[str, Any] = {
        "command": job.command,
        "queue": job.queue,
        "priority": job.priority,
        "max_retries": job.max_retries,
        "cwd": job.cwd,
        "run_at": job.run_at,
    }
    if job.timeout is not None:
        keys["timeout"] = job.timeout
    if job.tty:
        keys["tty"] = True
    for hook in ("on_success", "on_failure"):
        if getattr(job, hook) is not None:  # NULL: the setting's, so left out
            keys[hook] = getattr(job, hook)
    env = {name: text for name, text in env_from_json(job.env).items() if name not in CRON_ENV}
    if env:
        keys["env"] = env
    if job.unique_key is not None:
        keys["unique_key"] = job.unique_key
    return keys


EDITABLE_KEYS = tuple(key for key in ALLOWED_KEYS if key not in ("id", "after", "held"))
"""What ``edit`` merges: every key enqueue takes but the id and the dependencies."""


def merged_spec(job: Job, changes: Mapping[str, object], *, copy: bool = False) -> JobSpec:
    """The job with ``changes`` over it, validated whole; with ``copy``, a new job's spec
    (``clone``), which may also take an ``id`` of its own and ``held``.

    Raises:
        ValidationError: ``id`` or ``held`` among an edit's changes, ``after`` among
            any, or any value ``enqueue`` refuses.
    """
    if not isinstance(changes, Mapping):
        raise ValidationError("the changes must be a JSON object of job keys")
    if not copy and "id" in changes and changes["id"] != job.id:
        raise ValidationError('"id" cannot be edited: clone the job for a copy with a new id')
    if not copy and "held" in changes:
        raise ValidationError('"held" is not edited: queuectl hold ID or queuectl release ID')
    if "after" in changes:
        raise ValidationError(
            '"after" cannot be changed: a copy waits for the jobs the job waited for'
            if copy
            else '"after" cannot be edited: a job keeps the dependencies it had'
        )
    if "cwd" in changes and changes["cwd"] is None:
        # A job always runs somewhere: null had said "edited" and kept the old folder.
        raise ValidationError('"cwd" cannot be null: give the directory the job runs in')
    if copy:
        check_keys(changes, (*EDITABLE_KEYS, "id", "held"))
    else:
        check_keys({key: value for key, value in changes.items() if key != "id"}, EDITABLE_KEYS)
    merged: dict[str, object] = {**editable_keys(job), **changes}
    if not copy:
        merged.pop("id", None)
    if "delay" in changes and "run_at" not in changes:
        merged.pop("run_at", None)  # a new delay replaces the stored due time
    spec = parse_spec(merged)
    fired = {name: text for name, text in env_from_json(job.env).items() if name in CRON_ENV}
    if fired:
        spec = dataclasses.replace(spec, env={**(spec.env or {}), **fired})
    return spec


@dataclasses.dataclass(frozen=True)
class Edited:
    """What an edit did: the job as stored, and the dependents it brought back to
    ``blocked`` (an edit of a dead job retries it, as ``retry`` does, and says so alike)."""

    job: Job
    revived: list[str]
    left_dead: dict[str, str] = dataclasses.field(default_factory=dict)
    """Dependents it could not bring back, with why (``deps.Revival``)."""


@translated
def edit(
    job_id: str,
    changes: Mapping[str, object],
    *,
    warn: Callable[[str], None] | None = None,
    now: float | None = None,
) -> Edited:
    """Apply ``changes`` (job keys) to a job that is not running.

    A new ``cwd`` is checked as ``enqueue`` checks it (``check_directories``: refused
    on SQLite when it is not a directory here, reported to ``warn`` on PostgreSQL).

    Raises:
        JobNotFound, InvalidTransition: it is running or completed (nothing changes).
        ValidationError: a bad key or value (nothing changes).
    """
    now = time.time() if now is None else now
    job = get_job(job_id)
    _check_state(job)
    spec = merged_spec(job, changes)
    if "cwd" in changes:
        check_directories([spec], warn)
    if spec.run_at is not None:
        run_at = spec.run_at
    elif spec.delay is not None:
        run_at = now + spec.delay
    elif "run_at" in changes or "delay" in changes:
        run_at = now  # given as null: due now, enqueue's default (it kept the old time)
    else:
        run_at = job.run_at
    values: dict[Any, object] = {
        Job.command: spec.command,
        Job.queue: spec.queue,
        Job.priority: spec.priority,
        Job.max_retries: _max_retries(job, spec, changes),
        Job.timeout: spec.timeout,
        Job.cwd: spec.cwd or job.cwd,
        Job.env: spec.env_json(),
        Job.tty: spec.tty,
        Job.on_success: spec.on_success,
        Job.on_failure: spec.on_failure,
        Job.run_at: run_at,
        Job.updated_at: now,
        Job.unique_key: spec.unique_key,
    }
    retried = job.state in RETRIED_BY_EDIT
    if retried:
        values.update(
            {
                Job.state: _state_when_retried(job_id).value,
                Job.taken_down_by: None,
                Job.attempts: 0,
                Job.started_at: None,
                Job.finished_at: None,
                Job.worker_id: None,
                Job.exit_code: None,
                Job.last_error: None,
                Job.held_at: None,
                Job.run_at: run_at if ("run_at" in changes or "delay" in changes) else now,
            }
        )
    with write_transaction():
        if spec.unique_key is not None:
            holder = unique.holder(spec.unique_key, besides=job_id)
            if holder is not None:
                raise unique.taken(spec.unique_key, holder, where=f"job {job_id}: ")
        with unique.guarded({spec.unique_key: f"job {job_id}: "}):
            guard = (Job.id == job_id) & (Job.state == job.state)
            changed = Job.update(values).where(guard).execute()
        if not changed:
            _check_state(get_job(job_id))  # it moved on meanwhile: say how
            raise InvalidTransition(f"job {job_id} changed while it was being edited; try again")
        revival = deps.revive_locked([job_id], now) if retried else deps.Revival([], {})
        notify_new_work()
    return Edited(get_job(job_id), revival.revived, revival.left_dead)


def _max_retries(job: Job, spec: JobSpec, changes: Mapping[str, object]) -> int:
    """The job's retries after the edit: given, kept, or (``null``) the setting's, as a new
    job gets it (a null said "edited" and kept the job's own)."""
    if spec.max_retries is not None:
        return spec.max_retries
    if "max_retries" in changes:
        return int(load_settings()["max_retries"])
    return job.max_retries


def _state_when_retried(job_id: str) -> JobState:
    """Where an edit that retries the job sends it (``deps.retry_plan``'s rule).

    Raises:
        InvalidTransition: a dependency is still dead or cancelled.
    """
    plan = deps.retry_plan([job_id])
    if job_id in plan.refused:
        raise plan.refused[job_id]
    return plan.states[job_id]


def _check_state(job: Job) -> None:
    if job.state not in EDITABLE:
        if job.state == JobState.PROCESSING:
            # "edit it once it ends" misled: a run that completes cannot be edited.
            raise InvalidTransition(
                f"job {job.id} is running: cancel it first (an edit then runs it again), or"
                f" clone it with the changes ({_clone_with(job.id)})"
            )
        # "Clone it and edit the clone" could not work: an idle worker ran the clone first.
        raise InvalidTransition(
            f"job {job.id} is {job.state}; only pending, blocked, failed, dead or cancelled jobs"
            f" are edited (to run it again with changes: {_clone_with(job.id)})"
        )


def _clone_with(job_id: str) -> str:
    return f"queuectl clone {shell_word(job_id)} PARTIAL-JSON"


@dataclasses.dataclass(frozen=True)
class EditTarget:
    """A job as an edit form read it, with its dependencies: enough to enqueue the
    edit as a new job (``as_new_job``) once the job itself is gone."""

    job: Job
    after: tuple[str, ...]


@translated
def target(job_id: str) -> EditTarget:
    """The job to edit and its dependencies, once the core agrees it can be edited.

    Raises:
        JobNotFound, InvalidTransition: it cannot be edited (running, say), saying why.
    """
    job = get_job(job_id)
    _check_state(job)
    return EditTarget(job, tuple(deps.dependencies_of_many([job_id]).get(job_id, [])))


@dataclasses.dataclass(frozen=True)
class NewFromEdit:
    """``as_new_job``'s job, and the dependencies it left out: deleted too, they hold
    nothing back (as ``clone`` has it), which the caller must say."""

    job: Job
    dropped: tuple[str, ...]


@translated
def as_new_job(
    edited: EditTarget, changes: Mapping[str, object], *, now: float | None = None
) -> NewFromEdit:
    """An edit whose job was deleted before it was saved, enqueued as a new job (a new
    id): the job as the form read it, with ``changes`` over it, keeping what ``clone``
    keeps (env, hooks, tty, unique key, and the dependencies still stored). Enqueued
    from the form's fields alone, a blocked job lost its ``after`` and ran at once.

    Raises:
        ValidationError, KeyTaken, InvalidTransition: as ``enqueue`` refuses it, or a
            dependency is dead or cancelled (``deps.copied_dependencies``).
    """
    spec = merged_spec(edited.job, {key: v for key, v in changes.items() if key != "id"})
    after = deps.copied_dependencies(edited.job.id, edited.after)
    job = enqueue(dataclasses.replace(spec, after=after), now=now, cwd=edited.job.cwd)
    return NewFromEdit(job, tuple(a for a in edited.after if a not in after))


@translated
def clone(
    job_id: str, changes: Mapping[str, object] | None = None, *, now: float | None = None
) -> Job:
    """Enqueue a copy of a job (any state) with a new id, due now, with ``changes`` over
    it (any key ``edit`` takes, and ``id`` and ``held``); returns the copy.

    The changes are the copy's from its first moment: a completed job run again with
    another command was "clone, then edit the clone", and an idle worker had run the
    clone's old command before the edit reached it.

    The copy has the job's dependencies and unique key: it waits for the same jobs
    (those still stored: ``deps.for_a_copy``), and is refused while another active job
    holds the key.

    Raises:
        JobNotFound, KeyTaken, InvalidTransition: a dependency is dead or cancelled.
        ValidationError: a change ``enqueue`` refuses.
    """
    job = get_job(job_id)
    after = deps.for_a_copy(job_id)
    spec = merged_spec(job, {"run_at": None, **(changes or {})}, copy=True)
    return enqueue(dataclasses.replace(spec, after=after), now=now, cwd=job.cwd)
