"""Recurring jobs: schedules added, edited and steered, and their due ticks fired.

Every live worker calls ``fire_due`` about once a second (no extra daemon). One
job per tick, however many workers and hosts look at once, is proven by the
database twice over: a fire advances the schedule's ``next_fire_at`` with a
guarded update (``WHERE next_fire_at = the tick it read``) that changes one row
for one worker only, and the job's id names the tick (``NAME:20261203T143000Z``),
so a second insert of it would be refused as a duplicate id. Which ticks to fire
is ``cronspec.plan``'s pure decision; each schedule's fire is one transaction.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import peewee

from queuectl.cronspec import (
    TEMPLATE_FORBIDDEN_KEYS,
    Rule,
    catchup_window,
    overlap_policy,
    parse_rule,
    plan,
    schedule_name,
    tick_id,
    zone_name,
)
from queuectl.errors import (
    DuplicateJobId,
    DuplicateSchedule,
    KeyTaken,
    QueueError,
    ScheduleNotFound,
    StoreUnavailable,
    ValidationError,
    first_line,
)
from queuectl.jobspec import (
    JobSpec,
    current_directory,
    env_from_json,
    parse_spec,
    parse_template,
)
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.states import ACTIVE_STATES
from queuectl.store import sql
from queuectl.store.boundary import translated
from queuectl.store.models import Job, Schedule
from queuectl.store.transactions import advisory_lock, write_transaction
from queuectl.timeutil import iso, json_time

ON_TIME_GRACE = 15.0
"""Seconds a tick may be late and still count as on time. Live workers fire within
about a second; a tick older than this passed while no worker could fire it, and only
``--catchup`` brings it back."""

_RUN_SUFFIX = "0123456789abcdefghjkmnpqrstvwxyz"


@dataclass(frozen=True)
class ScheduleView:
    """A schedule as ``cron list``/``show`` and the dashboard show it."""

    name: str
    spec: str
    zone: str
    paused: bool
    next_fire_at: float | None
    last_fired_at: float | None
    last_job_id: str | None
    last_job_state: str | None
    """The state of the last fire's job; ``None`` also when it was deleted since."""
    skipped: int
    catchup: float
    overlap: str
    job: dict[str, object]
    explained: str

    def record(self) -> dict[str, object]:
        """The ``cron list --json`` shape."""
        return {
            "name": self.name,
            "spec": self.spec,
            "tz": self.zone,
            "paused": self.paused,
            # None while paused, as ``cron list`` says "paused": the stored tick is where the
            # pause left it, long past, and a script looking for overdue schedules took it
            # for one. Resuming counts the next tick afresh from then.
            "next_fire_at": None if self.paused else json_time(self.next_fire_at),
            "last_fired_at": json_time(self.last_fired_at),
            "last_job_id": self.last_job_id,
            "last_job_state": self.last_job_state,
            "skipped": self.skipped,
        }

    def detail(self) -> dict[str, object]:
        """The ``cron show --json`` shape: the list's, with the rule and the job template."""
        return {
            **self.record(),
            "description": self.explained,
            "catchup": self.catchup,
            "overlap": self.overlap,
            "job": self.job,
        }


@dataclass(frozen=True)
class Fire:
    """One tick handled by ``fire_due``: a job enqueued, or ticks skipped (and why)."""

    name: str
    tick: float
    job_id: str | None = None
    skipped: int = 0
    reason: str = ""
    overlapping: bool = False
    """Skipped by ``--overlap skip``, or while its unique key is held: as asked (not a miss)."""
    at_least: bool = False
    """``skipped`` is a lower bound: too many missed ticks to count one by one."""
    broken: bool = False
    """The schedule's row cannot be fired (``reason`` says why): it stays due, untouched."""


@dataclass
class FireReport:
    """What one ``fire_due`` pass did, and when the next tick of any schedule is due."""

    fires: list[Fire] = field(default_factory=list)
    next_at: float | None = None

    @property
    def enqueued(self) -> list[str]:
        return [fire.job_id for fire in self.fires if fire.job_id is not None]


# --- reading ----------------------------------------------------------------------------


def _rule(row: Schedule) -> Rule:
    return parse_rule(row.spec, row.zone, anchor=row.anchor, stored=True)


LATEST_TIME = 253402300799.0
"""9999-12-31T23:59:59Z: the latest time a stored schedule's field may hold."""


def _time(value: object) -> float | None:
    """A stored time as a number the clock can show, else ``None`` (a row written past
    queuectl's checks: ``NaN``, ``-Infinity``, text)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if -LATEST_TIME <= value <= LATEST_TIME else None


def _fireable_rule(row: Schedule) -> Rule:
    """The stored schedule's rule, once every part of the row a fire reads is checked.

    Raises:
        _Unfireable: why it cannot be fired: its zone is unknown on this host (a slim
            container without tzdata, or a name written past ``cron add``), a time of it
            is out of range, its job is not JSON. Each ended every worker that tried to
            fire it, on every host, each restart too.
    """
    for name in ("next_fire_at", "anchor", "catchup"):  # first: the rule reads the anchor
        if _time(getattr(row, name)) is None:
            raise _Unfireable(f"its {name} ({getattr(row, name)!r}) is not a time")
    try:
        rule = _rule(row)
        rule.tzinfo  # noqa: B018 - the zone loads here, or says why not
    except ValidationError as exc:
        raise _Unfireable(str(exc)) from None
    except (KeyError, ValueError, OSError, TypeError):
        why = f"time zone {row.zone!r} is not known on this host (is tzdata installed?)"
        raise _Unfireable(why) from None
    if row.overlap not in ("skip", "allow"):
        raise _Unfireable(f"its overlap ({row.overlap!r}) is neither skip nor allow")
    try:
        job = json.loads(row.job)
    except (TypeError, ValueError):
        raise _Unfireable("its job is not JSON") from None
    if not isinstance(job, dict):
        raise _Unfireable("its job is not a JSON object")
    return rule


class _Unfireable(Exception):
    """A stored schedule's row cannot be fired (``_fireable_rule`` says why)."""


def _view(row: Schedule, state: str | None) -> ScheduleView:
    try:
        explained = _fireable_rule(row).explain()
    except _Unfireable as exc:
        explained = f"cannot be fired: {exc}"
    try:
        job = json.loads(row.job)
    except (TypeError, ValueError):
        job = {}
    return ScheduleView(
        name=row.name,
        spec=row.spec,
        zone=row.zone,
        paused=bool(row.paused),
        next_fire_at=_time(row.next_fire_at),
        last_fired_at=_time(row.last_fired_at),
        last_job_id=row.last_job_id,
        last_job_state=state,
        skipped=row.skipped if isinstance(row.skipped, int) else 0,
        catchup=_time(row.catchup) or 0.0,
        overlap=str(row.overlap),
        job=job if isinstance(job, dict) else {},
        explained=explained,
    )


def _states(job_ids: list[str]) -> dict[str, str]:
    if not job_ids:
        return {}
    query = Job.select(Job.id, Job.state).where(Job.id.in_(job_ids)).tuples()
    return dict(query)


@dataclass(frozen=True)
class Outlook:
    """How many schedules there are and which fires next: ``status``'s one line of them."""

    count: int
    paused: int
    next_name: str | None
    """The active schedule whose tick is due soonest (``None``: none is active)."""
    next_fire_at: float | None

    def record(self) -> dict[str, object]:
        """The ``status --json`` shape."""
        upcoming = None
        if self.next_name is not None:
            upcoming = {"name": self.next_name, "next_fire_at": json_time(self.next_fire_at)}
        return {"count": self.count, "paused": self.paused, "next": upcoming}


@translated
def outlook() -> Outlook:
    """Counts and the soonest tick, in two small reads (no rule is parsed, no job read)."""
    is_paused = peewee.Case(None, [(Schedule.paused, 1)], 0)  # PostgreSQL cannot SUM a boolean
    count, paused = (
        Schedule.select(peewee.fn.COUNT(Schedule.name), peewee.fn.SUM(is_paused)).tuples().get()
    )
    soonest = (
        Schedule.select(Schedule.name, Schedule.next_fire_at)
        .where(~Schedule.paused, Schedule.next_fire_at.is_null(False))
        .order_by(Schedule.next_fire_at, Schedule.name)
        .limit(1)
        .tuples()
        .first()
    )
    name, fire_at = soonest if soonest is not None else (None, None)
    return Outlook(int(count or 0), int(paused or 0), name, fire_at)


@translated
def names_starting_with(prefix: str, *, limit: int) -> list[str]:
    """Schedule names that start with ``prefix``, in order (shell completion).

    SQL's LIKE (what ``startswith`` becomes) ignores case on SQLite: the exact
    test is Python's, over the few rows it lets through.
    """
    query = Schedule.select(Schedule.name).where(Schedule.name.startswith(prefix))
    names = [name for (name,) in query.order_by(Schedule.name).tuples()]
    return [name for name in names if name.startswith(prefix)][:limit]


@translated
def list_schedules() -> list[ScheduleView]:
    """Every schedule by name, with its last fire's job state."""
    rows = list(Schedule.select().order_by(Schedule.name))
    states = _states([row.last_job_id for row in rows if row.last_job_id])
    return [_view(row, states.get(row.last_job_id or "")) for row in rows]


@translated
def get(name: str) -> ScheduleView:
    """One schedule. Raises ``ScheduleNotFound``."""
    row = _row(name)
    return _view(row, _states([row.last_job_id] if row.last_job_id else []).get(row.last_job_id))


def _row(name: str) -> Schedule:
    row = Schedule.get_or_none(Schedule.name == name)
    if row is None:
        raise ScheduleNotFound(name)
    return row


@translated
def upcoming(name: str, count: int, *, now: float | None = None) -> list[float]:
    """The schedule's next ``count`` ticks, from the stored next one (``cron show``).

    A paused schedule's are those it would fire once resumed at ``now``: its stored
    next tick stays where the pause left it, and ``cron show`` listed ticks long past.
    """
    row = _row(name)
    try:
        rule = _fireable_rule(row)
    except _Unfireable:
        return []  # ``cron show`` says why in the rule's place
    now = time.time() if now is None else now
    first = _resumed_at(row, now) if row.paused else row.next_fire_at
    if first is None:
        return []
    ticks = [first]
    for tick in rule.ticks_after(first):
        if len(ticks) >= count:
            break
        ticks.append(tick)
    return ticks


# --- changing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A validated ``cron add``/``edit``: ``None`` fields are left as they are."""

    spec: str | None = None
    zone: str | None = None
    job: dict[str, object] | None = None
    catchup: float | None = None
    overlap: str | None = None


def validate(
    *,
    spec: str | None = None,
    zone: str | None = None,
    job: str | None = None,
    catchup: object = None,
    overlap: str | None = None,
    cwd: str | None = None,
    keep_cwd: bool = False,
) -> Change:
    """Check every field a user typed, before the database is even opened.

    The job is validated exactly as ``enqueue`` validates it (``jobspec``), less
    the keys a schedule sets itself; a missing ``cwd`` becomes ``cwd`` (the
    directory the command ran in), or with ``keep_cwd`` (an edit) stays missing, for
    ``edit`` to keep the schedule's own: ``cron edit --job`` from another directory
    moved the job there, unsaid, and its ``./backup.sh`` was not found that night.
    Whether that directory exists is checked by ``add``/``edit``, as enqueue checks
    it, once the backend is known.

    Raises:
        ValidationError: the first bad field, in one line.
    """
    zone = zone_name(zone) if zone is not None else None
    if spec is not None:
        parse_rule(spec, zone or "UTC")
        spec = " ".join(spec.split())
    template = None
    if job is not None:
        template, _ = parse_template(job, forbidden=TEMPLATE_FORBIDDEN_KEYS)
        if "cwd" not in template and not keep_cwd:  # the caller's, read only when needed
            template["cwd"] = os.path.abspath(cwd or current_directory())
    return Change(
        spec=spec,
        zone=zone,
        job=template,
        catchup=catchup_window(catchup) if catchup is not None else None,
        overlap=overlap_policy(overlap) if overlap is not None else None,
    )


def _check_cwd(change: Change, warn: Callable[[str], None] | None) -> None:
    """The job's ``cwd`` refused (SQLite) or warned about (PostgreSQL) as enqueue does."""
    if change.job is not None and "cwd" in change.job:  # else the schedule's own, kept
        spec = JobSpec(command="true", cwd=str(change.job["cwd"]))
        enqueuing.check_directories([spec], warn)


@translated
def add(
    name: str,
    change: Change,
    *,
    now: float | None = None,
    warn: Callable[[str], None] | None = None,
) -> ScheduleView:
    """Store a new schedule; its first tick is the first after ``now``.

    Raises:
        ValidationError: a bad name, a change without a spec or a job, or (SQLite)
            a ``cwd`` that is not a directory here.
        DuplicateSchedule: the name is in use (exit 1); nothing changes.
    """
    name = schedule_name(name)
    if change.spec is None or change.job is None:
        raise ValidationError("a schedule needs a spec and a job")
    _check_cwd(change, warn)
    now = time.time() if now is None else now
    zone = change.zone or "UTC"
    rule = parse_rule(change.spec, zone, anchor=now)
    with write_transaction():
        advisory_lock("schedules")  # PostgreSQL: two adds of one name both found it free
        if Schedule.get_or_none(Schedule.name == name) is not None:
            raise DuplicateSchedule(f"a schedule named {name!r} already exists")
        Schedule.create(
            name=name,
            spec=change.spec,
            zone=zone,
            job=json.dumps(change.job, ensure_ascii=False),
            catchup=change.catchup or 0.0,
            overlap=change.overlap or "skip",
            anchor=rule.anchor,
            next_fire_at=rule.next_after(now),
            created_at=now,
            updated_at=now,
        )
    return get(name)


@translated
def edit(
    name: str,
    change: Change,
    *,
    now: float | None = None,
    warn: Callable[[str], None] | None = None,
) -> ScheduleView:
    """Change a schedule; a new spec or zone starts its ticks afresh from ``now``."""
    now = time.time() if now is None else now
    _check_cwd(change, warn)
    with write_transaction():
        row = _row(name)
        updates: dict[object, object] = {Schedule.updated_at: now}
        if change.spec is not None or change.zone is not None:
            rule = parse_rule(change.spec or row.spec, change.zone or row.zone, anchor=now)
            updates.update(
                {
                    Schedule.spec: rule.text,
                    Schedule.zone: rule.zone,
                    Schedule.anchor: rule.anchor,
                    Schedule.next_fire_at: rule.next_after(now),
                }
            )
        if change.job is not None:
            job = dict(change.job)
            if "cwd" not in job:  # the folder the schedule's jobs ran in stays theirs
                job["cwd"] = json.loads(row.job).get("cwd") or os.path.abspath(current_directory())
            updates[Schedule.job] = json.dumps(job, ensure_ascii=False)
        if change.catchup is not None:
            updates[Schedule.catchup] = change.catchup
        if change.overlap is not None:
            updates[Schedule.overlap] = change.overlap
        Schedule.update(updates).where(Schedule.name == name).execute()
    return get(name)


@translated
def remove(name: str) -> ScheduleView:
    """Delete a schedule; the jobs it fired stay. Returns it as it was."""
    with write_transaction():
        view = get(name)
        Schedule.delete().where(Schedule.name == name).execute()
    return view


@translated
def pause(name: str, *, now: float | None = None) -> ScheduleView:
    """Fire no tick until resumed; ticks meanwhile are not fired later (nor counted)."""
    now = time.time() if now is None else now
    with write_transaction():
        _row(name)
        Schedule.update(paused=True, updated_at=now).where(Schedule.name == name).execute()
    return get(name)


@translated
def resume(name: str, *, now: float | None = None) -> ScheduleView:
    """Fire again from the first tick after ``now``."""
    now = time.time() if now is None else now
    with write_transaction():
        row = _row(name)
        next_fire_at = _resumed_at(row, now) if row.paused else row.next_fire_at
        Schedule.update(paused=False, next_fire_at=next_fire_at, updated_at=now).where(
            Schedule.name == name
        ).execute()
    return get(name)


def _resumed_at(row: Schedule, now: float) -> float | None:
    """A paused schedule's first tick once resumed at ``now`` (``resume``, ``upcoming``)."""
    return _rule(row).next_after(now)


@translated
def run_now(name: str, *, now: float | None = None) -> str:
    """Enqueue one job now, outside the schedule; returns its id.

    The id is the tick id of ``now`` plus ``.runXX``, so it never collides with a
    tick's. The overlap policy does not apply: the user asked for this one. It becomes
    the schedule's last fire, which ``--overlap skip`` waits for, as it goes on waiting
    for the last tick's.
    """
    now = time.time() if now is None else now
    with write_transaction():
        row = _row(name)
        for _ in range(8):
            suffix = "".join(secrets.choice(_RUN_SUFFIX) for _ in range(2))
            job_id = f"{tick_id(name, now)}.run{suffix}"
            try:
                _enqueue(row, job_id, now, now)
            except DuplicateJobId:
                continue
            except ValidationError as exc:
                # The stored job, not the name typed, is refused (its folder has gone):
                # a runtime condition, exit 1, as for a tick the workers skip.
                raise QueueError(f"schedule {name}'s job was not enqueued: {exc}") from None
            break
        else:  # pragma: no cover - 1,024 suffixes a second
            raise DuplicateSchedule(f"too many runs of {name!r} this second; try again")
        # The last tick's fire stays known beside it (``last_tick_job_id``): a run that
        # replaced it as the one ``--overlap skip`` waits for, once cancelled, let the
        # next tick fire beside that fire, still running (two backups at once).
        Schedule.update(last_fired_at=now, last_job_id=job_id).where(
            Schedule.name == name
        ).execute()
    return job_id


def _enqueue(row: Schedule, job_id: str, tick: float, now: float) -> None:
    """The template as a job named ``job_id``, with the schedule's two variables."""
    template = json.loads(row.job)
    spec: JobSpec = parse_spec(template)
    env = {**(spec.env or {}), "QUEUECTL_CRON_NAME": row.name, "QUEUECTL_CRON_TS": iso(tick)}
    spec = dataclasses.replace(spec, id=job_id, env=env)
    with write_transaction():  # a savepoint: a refused job leaves the schedule's update
        enqueuing.enqueue_many([spec], now=now, cwd=spec.cwd)


# --- firing -----------------------------------------------------------------------------


@translated
def fire_due(
    now: float | None = None, *, grace: float = ON_TIME_GRACE, looked_at: float | None = None
) -> FireReport:
    """Fire every unpaused schedule's due ticks; called by each live worker about once a second.

    Args:
        now: the time to fire at.
        grace: how old a tick may be and still be on time.
        looked_at: when the caller last fired (``None``: never, it just started). A tick
            due since passed while it was alive but could not fire: a database outage,
            not a time with no worker. The latest such tick is fired once, as a
            ``--catchup`` covering the outage would: a 20 s restart at 02:30 dropped a
            nightly backup whose schedule had no catch-up (an operator's try).

    Returns:
        What was fired or skipped, and the next tick of any schedule (the worker
        wakes for it).
    """
    now = time.time() if now is None else now
    report = FireReport()
    due = (
        Schedule.select(Schedule.name)
        .where((Schedule.paused == False) & (Schedule.next_fire_at <= now))  # noqa: E712
        .order_by(Schedule.next_fire_at)
        .tuples()
    )
    rode_out = 0.0 if looked_at is None else max(0.0, now - looked_at)
    for (name,) in list(due):
        try:
            report.fires.extend(_fire_one(name, now, grace, rode_out))
        except _Unfireable as exc:
            report.fires.append(Fire(name, now, reason=str(exc), broken=True))
        except peewee.DataError as exc:
            # The row's data, not the database: a count written at its maximum
            # (``skipped`` 2147483647: integer out of range) was retried as an outage
            # by every worker, for ever, and no job ran.
            reason = f"the database refused its update: {first_line(exc)}"
            report.fires.append(Fire(name, now, reason=reason, broken=True))
        except (peewee.DatabaseError, peewee.InterfaceError, StoreUnavailable):
            raise  # the database, not the row: the worker's outage handling
        except Exception as exc:  # anything else a row written past queuectl holds
            reason = f"{type(exc).__name__}: {exc}"
            report.fires.append(Fire(name, now, reason=reason, broken=True))
    report.next_at = (
        Schedule.select(peewee.fn.MIN(Schedule.next_fire_at))
        .where(Schedule.paused == False)  # noqa: E712
        .scalar()
    )
    return report


def _fire_one(name: str, now: float, grace: float, rode_out: float = 0.0) -> list[Fire]:
    """One schedule's due ticks, in one transaction that only one worker's update wins;
    the latest tick of the last ``rode_out`` seconds is fired once if none is on time."""
    with write_transaction():
        row = Schedule.get_or_none(Schedule.name == name)
        if row is None or row.paused or row.next_fire_at is None or row.next_fire_at > now:
            return []  # another worker was first, or a user changed it meanwhile
        # One it cannot fire raises, and is left as it is, due: said by the worker (once),
        # and no other schedule or job waits on it (a spec this version cannot read too).
        rule = _fireable_rule(row)
        catchup = max(row.catchup, rode_out)
        decided = plan(rule, row.next_fire_at, now, catchup=catchup, grace=grace)
        won = (
            Schedule.update(next_fire_at=decided.next_fire_at, updated_at=now)
            .where((Schedule.name == name) & (Schedule.next_fire_at == row.next_fire_at))
            .execute()
        )
        if won != 1:
            return []  # the proof: another worker advanced this schedule first
        fires: list[Fire] = []
        skipped = decided.skipped
        if skipped:
            fires.append(
                Fire(
                    name,
                    row.next_fire_at,
                    skipped=skipped,
                    reason="missed",
                    at_least=not decided.counted_all,
                )
            )
        last_job_id, last_fired_at = row.last_job_id, row.last_fired_at
        last_tick_job_id = row.last_tick_job_id
        ticks = decided.fire
        if row.overlap == "skip" and len(ticks) > 1:
            # Several ticks due at once (workers just started): the first fire would
            # make every later one overlap it, so fire the newest and skip the older;
            # all of them when the last fire is still active (it said the newest "fired
            # instead", and then skipped it too: no such job ever existed).
            if active := _still_active(last_job_id, last_tick_job_id):
                older, ticks = ticks, ()
                reason = f"{active} still active"
            else:
                older, ticks = ticks[:-1], ticks[-1:]
                reason = f"the newest due tick ({tick_id(name, ticks[0])}) fired instead"
            skipped += len(older)
            fires.append(Fire(name, older[0], skipped=len(older), reason=reason, overlapping=True))
        for tick in ticks:
            if row.overlap == "skip" and (active := _still_active(last_job_id, last_tick_job_id)):
                skipped += 1
                reason = f"{active} still active"
                fires.append(Fire(name, tick, skipped=1, reason=reason, overlapping=True))
                continue
            job_id = tick_id(name, tick)
            try:
                _enqueue(row, job_id, tick, now)
            except DuplicateJobId:
                if not _fired_by(job_id, name):
                    # A job enqueued by hand under this tick's id: not a fire, and taken
                    # for one it blocked the schedule (overlap skip) until it ended.
                    skipped += 1
                    reason = f"job {job_id} holds this tick's id but was not fired by it"
                    fires.append(Fire(name, tick, skipped=1, reason=reason))
                    continue
                # Fired already (a schedule removed and added again): still one job.
            except KeyTaken as exc:
                # Its unique key is held (by another job, or by the schedule's own last
                # fire under overlap allow): a second holder is refused, so the tick is
                # skipped and counted, as an overlap is (it ended every worker before).
                skipped += 1
                fires.append(Fire(name, tick, skipped=1, reason=str(exc), overlapping=True))
                continue
            except ValidationError as exc:  # its cwd vanished (SQLite): the job could only fail
                skipped += 1
                fires.append(Fire(name, tick, skipped=1, reason=str(exc)))
                continue
            else:
                fires.append(Fire(name, tick, job_id=job_id))
            # When it was fired, not its tick (the id says that): a catch-up fired at 08:00
            # for 02:30 read "last fire 5h ago" while its job was running.
            last_job_id, last_fired_at, last_tick_job_id = job_id, now, job_id
        Schedule.update(
            last_job_id=last_job_id,
            last_fired_at=last_fired_at,
            last_tick_job_id=last_tick_job_id,
            # Held at its limit, as a worker's counts are: one written at 2147483647 made
            # PostgreSQL refuse every fire of the schedule (integer out of range).
            skipped=peewee.SQL(sql.saturating_add("skipped", skipped)),
        ).where(Schedule.name == name).execute()
    return fires


def _fired_by(job_id: str, name: str) -> bool:
    """The job was fired by schedule ``name``: only a fire stores ``QUEUECTL_CRON_NAME``
    (enqueue refuses the name from users)."""
    stored = Job.select(Job.env).where(Job.id == job_id).scalar()
    return env_from_json(stored).get("QUEUECTL_CRON_NAME") == name


def _still_active(*job_ids: str | None) -> str | None:
    """The first of ``job_ids`` still waiting or running (the last fire, then the last
    tick's when a ``cron run`` came after it), else ``None``."""
    for job_id in dict.fromkeys(job_ids):
        if _active(job_id):
            return job_id
    return None


def _active(job_id: str | None) -> bool:
    if job_id is None:
        return False
    state = Job.select(Job.state).where(Job.id == job_id).scalar()
    return state in ACTIVE_STATES
