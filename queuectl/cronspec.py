"""Schedules as users type them, and the ticks they make: pure, with no clock of its own.

A schedule's spec is a cron expression (5 fields, or 6 with seconds first), an
``@hourly``-style alias, or ``@every DURATION``. Cron specs are evaluated by
cronsim in the schedule's IANA zone: it follows Debian cron's rules, so on the
day clocks go back a ``30 2 * * *`` schedule fires once, and on the day they go
forward its 02:30 fires at 03:00 rather than being lost (croniter 7.0.0 fires it
twice in the first case). ``@every D`` ticks at ``anchor + D``, ``+ 2D``, …, the
anchor being the whole second the schedule was added (or its spec edited).

Every tick is a whole second (epoch seconds as a float), so the fired job's id,
``NAME:YYYYMMDDTHHMMSSZ``, names one tick and one only. Callers pass every time
in: nothing here reads the clock, so tests step through years of ticks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from queuectl.errors import ValidationError
from queuectl.timeutil import parse_duration

NAME_PATTERN = re.compile(r"(?!-)[A-Za-z0-9._-]{1,40}")
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MIN_EVERY = 1.0
"""The shortest ``@every``: a tick per second is the finest the job ids can name."""
OVERLAP_POLICIES = ("skip", "allow")
TEMPLATE_FORBIDDEN_KEYS = ("id", "run_at", "delay", "after", "held")
"""Keys of a job that a schedule sets itself: the id names the tick, the tick is the time;
and ``held``: every fire stored held, the first one's wait under ``--overlap skip`` would
skip every later tick, unsaid (pause the schedule instead)."""


@dataclass(frozen=True)
class Rule:
    """A parsed spec in its zone: what makes the ticks.

    ``every`` is set for ``@every`` (seconds, whole), ``expression`` for cron
    (aliases already expanded). ``text`` is the spec as the user typed it.
    """

    text: str
    zone: str
    expression: str | None = None
    every: int | None = None
    anchor: float = 0.0
    """``@every`` only: the whole second its ticks count from."""

    @property
    def tzinfo(self) -> ZoneInfo | None:
        return None if self.zone == "UTC" else ZoneInfo(self.zone)

    def next_after(self, moment: float) -> float | None:
        """The first tick strictly after ``moment``; ``None`` if there is none for 50 years."""
        return next(self.ticks_after(moment), None)

    def ticks_after(self, moment: float) -> Iterator[float]:
        """Every tick strictly after ``moment``, in order, as whole epoch seconds."""
        if self.every is not None:
            count = max(0, math.floor((moment - self.anchor) / self.every) + 1)
            tick = self.anchor + count * self.every
            while True:
                yield tick
                tick += self.every
        assert self.expression is not None
        start = datetime.fromtimestamp(moment, self.tzinfo or UTC)
        last = moment
        try:
            for found in CronSim(self.expression, start):
                tick = float(found.timestamp())
                # cronsim works in local wall time: from a moment in the repeated hour
                # of a fall-back night it may name a wall time already passed.
                if tick > last:
                    last = tick
                    yield tick
        except (OverflowError, ValueError):  # past year 9999
            return

    def explain(self) -> str:
        """The spec in words where cronsim can say it (``At 02:30 every day``), else the spec."""
        if self.every is not None:
            return f"Every {_every_words(self.every)}"
        assert self.expression is not None
        try:
            return CronSim(self.expression, datetime.now(UTC)).explain()
        except (CronSimError, ValueError, KeyError, IndexError):
            return self.text


def schedule_name(value: object) -> str:
    """A schedule name: 1-40 letters, digits and ``. _ -`` (it starts every fired job's id).

    Raises:
        ValidationError: naming the value and the grammar.
    """
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ValidationError(
            "a schedule name must be 1-40 characters of letters, digits and . _ -,"
            f" not starting with - (got {value!r})"
        )
    return value


NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
"""Files in the zone folder that name no place: ``localtime`` is this host's own zone
(on PostgreSQL, each host firing the schedule would read its own), ``posixrules`` a
default rule, ``Factory`` a placeholder; ``posix/`` and ``right/`` are copies of the
zones (``right/`` counting leap seconds)."""


def zone_name(value: object) -> str:
    """An IANA time zone (``Europe/Berlin``), or ``UTC``.

    Raises:
        ValidationError: not a zone this host's time zone database knows.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"--tz must be an IANA time zone like Europe/Berlin (got {value!r})")
    text = value.strip()
    if text.upper() in ("UTC", "Z", "ETC/UTC"):
        return "UTC"
    try:
        if text in NOT_ZONES or text.startswith(("posix/", "right/")):
            raise ValueError(text)
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(
            f"unknown time zone {text!r} (an IANA name like Europe/Berlin or America/New_York)"
        ) from None
    return text


def overlap_policy(value: object) -> str:
    if value not in OVERLAP_POLICIES:
        raise ValidationError(f"--overlap must be skip or allow (got {value!r})")
    return str(value)


def catchup_window(value: object) -> float:
    """How far back a missed tick is still fired once (``--catchup``; 0: never)."""
    return parse_duration(value, what="--catchup")


def parse_rule(
    spec: object, zone: str = "UTC", *, anchor: float = 0.0, stored: bool = False
) -> Rule:
    """A spec checked and parsed; ``anchor`` (any time, rounded down) for ``@every``.

    ``stored``: a schedule's own spec, read back. It was checked by the rules of its
    day, and a rule added since (a step past its field's values) must not stop a
    schedule that fires from firing or being listed.

    Raises:
        ValidationError: a malformed or impossible spec (``61 * * * *``,
            ``0 0 31 2 *``, ``@every 0s``), naming what is wrong.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValidationError("the schedule spec must not be empty")
    text = " ".join(spec.split())
    lowered = text.lower()
    if lowered.startswith("@every"):
        rest = text[len("@every") :].strip()
        if not rest:
            raise ValidationError("@every needs a duration, like '@every 30s' or '@every 1h30m'")
        seconds = parse_duration(rest, what="@every", examples="'30s', '5m', '1h30m', '1d'")
        if seconds < MIN_EVERY:
            raise ValidationError(f"@every must be at least 1s (got {rest!r})")
        if not float(seconds).is_integer():
            raise ValidationError(f"@every must be a whole number of seconds (got {rest!r})")
        return Rule(text=text, zone=zone, every=int(seconds), anchor=float(math.floor(anchor)))
    if lowered.startswith("@"):
        expression = ALIASES.get(lowered)
        if lowered == "@reboot":
            # crontab's: said as what it is here ("unknown schedule" read as a name typo).
            raise ValidationError(
                "@reboot is not a schedule here: schedules fire on live workers, with no boot"
                " of their own; enqueue the job from the boot script or unit that starts them"
            )
        if expression is None:
            raise ValidationError(
                f"unknown shortcut {text!r}: use @yearly, @monthly, @weekly, @daily, @hourly"
                " or @every DURATION (or 5 or 6 cron fields)"
            )
    else:
        expression = text
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValidationError(
            f"a cron spec has 5 fields (minute hour day month weekday), or 6 with seconds"
            f" first; {text!r} has {len(fields)}"
        )
    if len(fields) == 6 and fields[0] == "0":
        # Seconds 0 is the five-field spec's every tick; said so, it gets Debian cron's
        # DST rules too, which cronsim keeps to five fields: "0 30 2 * * *" fired twice
        # on the night clocks go back and never on the night they go forward.
        expression = " ".join(fields[1:])
    if not stored:
        _check_steps(text, expression.split())
    rule = Rule(text=text, zone=zone, expression=expression)
    try:
        CronSim(expression, datetime.fromtimestamp(0, UTC))
    except CronSimError as exc:
        raise ValidationError(f"invalid cron spec {text!r}: {str(exc).lower()}") from None
    if rule.next_after(anchor) is None:
        raise ValidationError(f"cron spec {text!r} never fires")
    return rule


FIELDS = (("second", 60), ("minute", 60), ("hour", 24), ("day-of-month", 31), ("month", 12))
"""Each field's name and how many values it has: a step past that can only hit the first
(``*/60`` minutes, every hour at :00, is taken: it reads as what it does)."""
_STEP = re.compile(r"/(\d+)")


def _check_steps(text: str, fields: list[str]) -> None:
    """Refuse a step larger than its field's count of values (``*/90`` minutes): cronsim
    takes it as "the first value only", so ``*/1000000000000000000`` was accepted as
    "every 1000000000000000000th minute" where ``60`` is refused as a bad minute.

    Raises:
        ValidationError: naming the field, the step and its count of values.
    """
    named = (FIELDS if len(fields) == 6 else FIELDS[1:]) + (("day-of-week", 7),)
    for (field, values), value in zip(named, fields, strict=False):
        for step in _STEP.findall(value):
            if int(step) > values:
                raise ValidationError(
                    f"invalid cron spec {text!r}: bad {field}: a step of {step} is more"
                    f" than its {values} values"
                )


def tick_id(name: str, tick: float) -> str:
    """The fired job's id: ``NAME:20261203T143000Z``, the tick in UTC to the second."""
    return f"{name}:{datetime.fromtimestamp(tick, UTC).strftime('%Y%m%dT%H%M%SZ')}"


@dataclass(frozen=True)
class Plan:
    """What one pass does with a schedule's due ticks (``plan``)."""

    fire: tuple[float, ...]
    """Ticks to enqueue, oldest first."""
    skipped: int
    """Missed ticks not enqueued (older than the grace, beyond or behind the catch-up)."""
    next_fire_at: float | None
    """The first tick after ``now``."""
    counted_all: bool = True
    """``False`` when the scan jumped (``SCAN_LIMIT``): ``skipped`` is then a lower bound."""


SCAN_LIMIT = 20_000
"""Missed cron ticks counted one by one per stretch; past this the scan jumps (to the
catch-up window, which it scans again, then to now), so a long outage's count is a lower
bound (``Plan.counted_all``): up to 20,000, or 40,000 with a catch-up window. ``@every``
counts by arithmetic, exactly."""


def plan(rule: Rule, due_at: float, now: float, *, catchup: float, grace: float) -> Plan:
    """Which of the ticks from ``due_at`` to ``now`` to fire.

    A tick at most ``grace`` old is on time: a live worker fires it. Older ones
    were missed (no worker was alive to fire them): if nothing is on time, the
    latest missed tick within ``catchup`` is fired once (systemd's
    ``Persistent=``); every other missed tick is skipped and counted.
    """
    on_time: list[float] = []
    missed = 0
    latest_missed: float | None = None
    tick: float | None = due_at
    if rule.every is not None and tick is not None and now - tick > grace:
        # Jump over a long outage by arithmetic: the ticks no worker could fire.
        boundary = now - grace
        count = math.ceil((boundary - tick) / rule.every)  # ticks before the boundary
        missed = count
        latest_missed = tick + (count - 1) * rule.every
        tick = latest_missed + rule.every
    iterator = rule.ticks_after(tick) if tick is not None else iter(())
    scanned = 0
    counted_all = True
    window = now - catchup  # the oldest missed tick a catch-up may still fire
    while tick is not None and tick <= now:
        if now - tick <= grace:
            on_time.append(tick)
        else:
            missed += 1
            latest_missed = tick
            scanned += 1
            if scanned >= SCAN_LIMIT:
                counted_all = False
                # Jump ahead: to the catch-up's window first, whose latest tick may be
                # fired (jumping straight to now left the 20,000th tick, days old, as the
                # latest missed, and a --catchup 1h schedule down for 14 days never ran);
                # then, should the window itself be that long, to now.
                scanned = 0
                if catchup > grace and window > tick:
                    iterator = rule.ticks_after(window - 1)
                    tick = next(iterator, None)
                    if tick is not None and tick < window:  # whole seconds: at most 1 s early
                        tick = next(iterator, None)
                    continue
                iterator = rule.ticks_after(now - grace)
        tick = next(iterator, None)
    if not on_time and latest_missed is not None and now - latest_missed <= catchup:
        return Plan((latest_missed,), missed - 1, tick, counted_all)
    return Plan(tuple(on_time), missed, tick, counted_all)


def _every_words(seconds: int) -> str:
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(f"{count}{unit}")
    return "".join(parts)
