"""Accepting work: jobs stored all or nothing, numbered in the order given.

Each function takes an optional ``now`` (epoch seconds) so tests drive the
clock instead of sleeping.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

import peewee

from queuectl.errors import DuplicateJobId, QueueError, ValidationError
from queuectl.jobspec import JobSpec, current_directory
from queuectl.lifecycle import deps, unique
from queuectl.lifecycle.reads import get_job
from queuectl.lifecycle.settings import load as load_settings
from queuectl.states import JobState
from queuectl.store import sql
from queuectl.store.boundary import translated
from queuectl.store.models import Job, database
from queuectl.store.transactions import (
    advisory_lock,
    execute_many,
    is_postgres,
    notify_new_work,
    write_transaction,
)
from queuectl.wording import counted

# Crockford's base32 (no i, l, o, u: ids are read aloud and retyped).
_TO_CROCKFORD = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghjkmnpqrstvwxyz"
)
_ID_CHECK_CHUNK = 500


def new_job_id() -> str:
    """A short random id (8 characters, 40 bits); collisions are redrawn at insert."""
    return base64.b32encode(secrets.token_bytes(5)).decode().translate(_TO_CROCKFORD)


def new_job_ids(count: int) -> list[str]:
    """``count`` ids as ``new_job_id`` makes them, drawn and encoded in one go.

    Every 5 random bytes encode to exactly 8 base32 characters, so one call
    over ``5 * count`` bytes is ``count`` independent ids.
    """
    text = base64.b32encode(secrets.token_bytes(5 * count)).decode().translate(_TO_CROCKFORD)
    return [text[start : start + 8] for start in range(0, 8 * count, 8)]


class EnqueuedIds(list[str]):
    """The ids ``enqueue_many`` returns, one per spec in order, and which of them were not
    created by it: with ``if_absent``, the positions whose unique key another job held
    (``held``), so a script can tell a new job from the one that was already there."""

    def __init__(self, ids: Iterable[str], *, held: frozenset[int] = frozenset()) -> None:
        super().__init__(ids)
        self.held = held


@translated
def enqueue(
    spec: JobSpec,
    *,
    now: float | None = None,
    cwd: str | None = None,
    warn: Callable[[str], None] | None = None,
    if_absent: bool = False,
) -> Job:
    """Store one job and return it (see ``enqueue_many``); with ``if_absent``, the job
    that already holds its unique key, if one does.

    Raises:
        DuplicateJobId: the spec's id is taken; the existing job is untouched.
        ValidationError: its ``cwd`` does not exist (SQLite).
    """
    return get_job(enqueue_many([spec], now=now, cwd=cwd, warn=warn, if_absent=if_absent)[0])


@translated
def enqueue_many(
    specs: Sequence[JobSpec],
    *,
    now: float | None = None,
    cwd: str | None = None,
    warn: Callable[[str], None] | None = None,
    if_absent: bool = False,
    lines: Sequence[int] | None = None,
) -> EnqueuedIds:
    """Store jobs all or nothing, in one transaction; returns their ids in order.

    Jobs are numbered (``seq``) in the order given, after every job already
    stored: equal priorities due at the same time run in that order.

    Args:
        specs: validated specs (``jobspec.parse_lines`` for a file).
        now: the enqueue time; also ``run_at`` for jobs with neither delay nor run_at.
        cwd: the directory jobs without their own ``cwd`` run in (the caller's).
        warn: told about a ``cwd`` missing here on PostgreSQL, where the workers
            may be on hosts that have it.
        lines: each spec's line in its file, for the refusals that name one
            (``jobspec.parse_numbered_lines``); by default its position. Named only
            when there are several specs.

    Raises:
        DuplicateJobId: an id is already taken (named, with its position for files).
        ValidationError: a ``cwd`` does not exist, on SQLite (whose workers share
            this host's files): the job could only fail.
        KeyTaken: a ``unique_key`` is held by an active job (or an earlier line);
            with ``if_absent`` that job's id is returned in the line's place instead.
        JobNotFound, InvalidTransition: an ``after`` id names no job (nor an earlier
            line), or one that is dead or cancelled.
    """
    now = time.time() if now is None else now
    numbers = list(lines) if lines is not None else list(range(1, len(specs) + 1))
    if not cwd and any(spec.cwd is None for spec in specs):
        cwd = current_directory()  # only when some job needs it: it fails in a deleted one
    check_directories(specs, warn, numbers)
    insert = sql.insert_jobs_sql(database.obj.param)
    with write_transaction():
        advisory_lock("enqueue")  # PostgreSQL: one enqueue numbers its jobs at a time
        existing = _keys_held(specs, numbers, if_absent=if_absent)
        kept_lines = [line for position, line in enumerate(numbers) if position not in existing]
        kept = _after_the_holders(specs, existing)
        states = deps.initial_states(
            kept, [spec.id for spec in kept], lines=kept_lines if len(specs) > 1 else None
        )
        settings = load_settings()
        first = _next_seq(max(1, len(kept)))
        # Named by its line, as ``_keys_held`` names a refusal, when a file gives many.
        whose = {
            spec.unique_key: f"line {line}: " if len(specs) > 1 else ""
            for spec, line in zip(kept, kept_lines, strict=True)
            if spec.unique_key is not None
        }
        with unique.guarded(whose):
            if any(spec.id is not None for spec in kept):
                ids = _assign_ids(kept, [spec.id or new_job_id() for spec in kept], kept_lines)
                rows = _rows(kept, ids, states, now, cwd, settings, first)
                execute_many(insert, rows)
            else:
                # Only generated ids: insert optimistically, and check (and redraw)
                # only if one of them collided. Checking first cost a tenth of a
                # bulk enqueue, for a collision that 40-bit ids make rare.
                ids = new_job_ids(len(kept))
                rows = _rows(kept, ids, states, now, cwd, settings, first)
                try:
                    with database.atomic():
                        execute_many(insert, rows)
                except peewee.IntegrityError as exc:
                    if unique.is_key_conflict(exc):
                        raise
                    ids = _assign_ids(kept, ids, kept_lines)
                    rows = _rows(kept, ids, states, now, cwd, settings, first)
                    execute_many(insert, rows)
        deps.forget_dependents_of_gone([i for i, spec in zip(ids, kept, strict=True) if spec.id])
        deps.store_locked(
            [(i, spec.after) for i, spec in zip(ids, kept, strict=True) if spec.after]
        )
        if kept:
            notify_new_work()
    if is_postgres():
        # Stored blocked after a job that completed (or was cancelled) in the meantime,
        # unseen by that transaction: look again now that both committed.
        blocked = [i for i, state in zip(ids, states, strict=True) if state == JobState.BLOCKED]
        deps.mend(blocked, now)
    by_position = dict(zip([p for p in range(len(specs)) if p not in existing], ids, strict=True))
    for position, holder in existing.items():  # a line whose key an earlier line took
        by_position[position] = by_position[int(holder[1:])] if holder[0] == "#" else holder
    return EnqueuedIds(
        (by_position[position] for position in range(len(specs))), held=frozenset(existing)
    )


def _after_the_holders(specs: Sequence[JobSpec], skipped: dict[int, str]) -> list[JobSpec]:
    """The specs to store: all but the ``skipped`` lines (``if_absent``), and a later
    line's ``after`` naming a skipped line's id now names the job standing in for it,
    the one its id was printed as. (A holder that is an earlier line without an id of
    its own has none yet: naming the skipped id then finds no job, as it would anyway.)"""
    standing_in: dict[str, str] = {}
    for position, holder in skipped.items():
        own = specs[position].id
        if holder.startswith("#"):
            holder = specs[int(holder[1:])].id or ""
        if own is not None and holder:
            standing_in[own] = holder
    return [
        replace(spec, after=tuple(dict.fromkeys(standing_in.get(a, a) for a in spec.after)))
        if standing_in and spec.after
        else spec
        for position, spec in enumerate(specs)
        if position not in skipped
    ]


def _keys_held(
    specs: Sequence[JobSpec], lines: Sequence[int], *, if_absent: bool
) -> dict[int, str]:
    """The positions of specs whose ``unique_key`` an active job (or an earlier line)
    holds, with the holder's id (``#N``: the line at position N, whose id is drawn
    later): with ``if_absent`` they are skipped, that id standing for them; without,
    the first refuses the whole enqueue, named by its line in ``lines``.

    Raises:
        KeyTaken: a key is held, naming its holder (and the line, for files).
    """
    keys = [spec.unique_key for spec in specs if spec.unique_key is not None]
    if not keys:
        return {}
    held = unique.holders(keys)
    skipped: dict[int, str] = {}
    earlier: dict[str, tuple[str, str]] = {}
    for position, spec in enumerate(specs):
        key = spec.unique_key
        if key is None:
            continue
        holder = held.get(key) or earlier.get(key)
        if holder is None:
            # Named by its line: even with an id of its own, nothing is stored if refused.
            earlier[key] = (f"#{position}", JobState.PENDING.value)
            continue
        if not if_absent:
            where = f"line {lines[position]}: " if len(specs) > 1 else ""
            if holder[0].startswith("#"):
                holder = (f"on line {lines[int(holder[0][1:])]}", "in this file")
            raise unique.taken(key, holder, where=where)
        skipped[position] = holder[0]
    return skipped


SEQ_MAX = 2**63 - 1
"""The largest number a job's ``seq`` (a 64-bit integer on both backends) can hold."""


def _next_seq(count: int) -> int:
    """The first of ``count`` free enqueue numbers: one seek at the end of the unique
    ``seq`` index.

    Numbers run out only where a row was written past queuectl (``seq`` set to the
    64-bit maximum): every enqueue then failed, with a traceback on SQLite. The new jobs
    are numbered below the lowest instead, and a store with no room either way says so
    in one line. The claim is not misled (``seq`` only breaks ties between jobs due
    together), but ``list`` and the dashboard, newest first by ``seq``, show such jobs
    as the oldest until the hand-written row is set right.
    """
    last = Job.select(peewee.fn.MAX(Job.seq)).scalar() or 0
    if last <= SEQ_MAX - count:
        return last + 1
    lowest = Job.select(peewee.fn.MIN(Job.seq)).scalar() or 0
    if lowest - count >= -SEQ_MAX:
        return lowest - count
    raise QueueError(
        f"cannot number {counted(count, 'new job')}: the stored job numbers (seq) fill their range"
    )


def check_directories(
    specs: Sequence[JobSpec],
    warn: Callable[[str], None] | None,
    lines: Sequence[int] | None = None,
) -> None:
    """Refuse (SQLite) or report (PostgreSQL) a given ``cwd`` that is not a directory here
    (``lines``: each spec's line in its file, for the message)."""
    missing: dict[str, int] = {}
    for position, spec in enumerate(specs):
        if spec.cwd is not None and spec.cwd not in missing and not os.path.isdir(spec.cwd):
            missing[spec.cwd] = lines[position] if lines is not None else position + 1
    for path, position in missing.items():
        where = f"line {position}: " if len(specs) > 1 else ""
        if not is_postgres():
            raise ValidationError(f'{where}"cwd" {path!r} is not a directory on this host')
        if warn is not None:
            warn(
                f"{where}cwd {path!r} is not a directory on this host;"
                " the job fails on any worker host where it is missing too"
            )


def _rows(
    specs: Sequence[JobSpec],
    ids: Sequence[str],
    states: Sequence[JobState],
    now: float,
    cwd: str | None,
    settings: dict[str, float | int],
    first_seq: int,
) -> list[tuple[object, ...]]:
    return [
        _row(spec, job_id, state, now, cwd, settings, first_seq + position)
        for position, (spec, job_id, state) in enumerate(zip(specs, ids, states, strict=True))
    ]


def _assign_ids(specs: Sequence[JobSpec], ids: list[str], lines: Sequence[int]) -> list[str]:
    """``ids`` checked against the table: given ones refused, generated ones redrawn.

    Generated ids are also made unique among themselves (given ones already
    are: ``jobspec.parse_lines`` refuses a repeated id).
    """
    while True:
        given = {spec.id for spec in specs if spec.id is not None}
        seen: set[str] = set()
        for position, spec in enumerate(specs):
            while spec.id is None and (ids[position] in seen or ids[position] in given):
                ids[position] = new_job_id()
            seen.add(ids[position])
        taken = _existing_ids(ids)
        if not taken:
            return ids
        for position, spec in enumerate(specs):
            if spec.id is not None and spec.id in taken:
                where = f" (line {lines[position]})" if len(specs) > 1 else ""
                # What to do, for a newcomer replaying README's transcripts on one database.
                raise DuplicateJobId(
                    f"a job with id {spec.id!r} already exists{where}: choose another id,"
                    " or delete that job first"
                )
        ids = [new_job_id() if job_id in taken else job_id for job_id in ids]


def _existing_ids(ids: Sequence[str]) -> set[str]:
    taken: set[str] = set()
    for start in range(0, len(ids), _ID_CHECK_CHUNK):
        chunk = ids[start : start + _ID_CHECK_CHUNK]
        cursor = database.execute_sql(sql.existing_ids_sql(database.obj.param, len(chunk)), chunk)
        taken.update(row[0] for row in cursor.fetchall())
    return taken


def _row(
    spec: JobSpec,
    job_id: str,
    state: JobState,
    now: float,
    cwd: str | None,
    settings: dict[str, float | int],
    seq: int,
) -> tuple[object, ...]:
    """A job's values in ``sql.JOB_INSERT_COLUMNS`` order."""
    if spec.run_at is not None:
        run_at = spec.run_at
    elif spec.delay is not None:
        run_at = now + spec.delay
    else:
        run_at = now
    max_retries = spec.max_retries
    if max_retries is None:
        max_retries = int(settings["max_retries"])
    return (
        job_id,
        spec.command,
        spec.queue,
        state.value,
        spec.priority,
        0,
        max_retries,
        spec.timeout,
        run_at,
        spec.cwd or cwd,
        spec.env_json(),
        spec.on_success,
        spec.on_failure,
        seq,
        now,
        now,
        spec.tty,
        spec.unique_key,
        now if spec.held else None,
    )
