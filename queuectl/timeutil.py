"""Parsing and formatting of the times and durations users type and read.

Times are stored as UTC epoch seconds (floats): they compare and add without
time-zone bugs on both SQLite and PostgreSQL. Scripts read them as ISO 8601
with milliseconds and a ``Z`` (``json_time``, the one format of every
``--json`` time); people read them to the second (``iso``) or relative.
Whatever a database holds (an older queuectl accepted ``run_at: 1e18``), these
never raise: a time outside the years 1970-9999 is shown as a placeholder.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from queuectl.errors import ValidationError
from queuectl.plainnum import plain_float

EARLIEST = 0.0
LATEST = 253402300799.999
"""9999-12-31T23:59:59.999Z: the last instant ISO 8601 (and Python) can write with four digits."""

YEAR = 365.25 * 86400
MAX_DURATION = 100 * YEAR
"""No delay, timeout or age a user types is longer: a century is a typo (or ``1e300``)."""

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"({_NUMBER})(ms|s|m|h|d|w)", re.IGNORECASE | re.ASCII)
_DURATION = re.compile(rf"(?:{_NUMBER}(?:ms|s|m|h|d|w))+|{_NUMBER}", re.IGNORECASE | re.ASCII)
"""``30``, ``500ms``, ``2m``, ``1h30m``, ``1d12h``: no spaces (``5 s`` is refused, as
everywhere a duration is read), each part a number and a unit."""


def parse_duration(
    value: object,
    *,
    what: str = "duration",
    maximum: float = MAX_DURATION,
    examples: str = "'500ms', '5s', '1h30m', '7d'",
) -> float:
    """Seconds from a number or a string: ``"500ms"``, ``"5s"``, ``"2m"``, ``"1h30m"``, ``"7d"``.

    ``examples`` are what a refusal suggests: only values the caller accepts (``@every``
    takes no ``500ms``, so suggesting it sent users from one refusal to another).

    Raises:
        ValidationError: negative, not finite, over ``maximum`` (100 years unless
            given), spaced (``"5 s"``), or not a duration at all.
    """
    if isinstance(value, bool):
        raise ValidationError(f"{what} must be a number of seconds or a duration like '5s'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.fullmatch(value.strip()):
        text = value.strip()
        parts = _PART.findall(text)
        if parts:
            seconds = sum(float(number) * _UNIT_SECONDS[unit.lower()] for number, unit in parts)
        else:
            seconds = float(text)
    else:
        raise ValidationError(
            f"{what} must be a number of seconds or a duration like {examples} (got {value!r})"
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise ValidationError(f"{what} must be a non-negative number of seconds (got {value!r})")
    if seconds > maximum:
        limit = "100 years" if maximum == MAX_DURATION else f"{human_duration(maximum)}"
        raise ValidationError(f"{what} must be at most {limit} (got {value!r})")
    return seconds


_BASIC_DATE = re.compile(r"[0-9]{8}", re.ASCII)
"""``20261205``: an ISO 8601 basic date, not the epoch second it also spells (in 1970);
eight digits that are no date (``20261305``) are refused rather than read as 1970."""


def parse_time(value: object, *, what: str = "run_at") -> float:
    """Epoch seconds from epoch seconds or ISO 8601 (no offset means UTC).

    Text of eight digits is a date (``20261205``), as in ISO 8601's basic form, where
    ``20261205T1000`` already meant 10:00 that day: read as epoch seconds it was a
    moment in August 1970, and the job ran at once.

    Raises:
        ValidationError: when the value is neither, or is outside the years 1970-9999.
    """
    if isinstance(value, bool):
        raise ValidationError(f"{what} must be ISO 8601 or epoch seconds")
    if isinstance(value, int | float):
        return _in_range(float(value), what, value)
    if isinstance(value, str):
        text = value.strip()
        if not _BASIC_DATE.fullmatch(text):
            try:
                number = plain_float(text)
            except ValueError:
                pass
            else:
                return _in_range(number, what, value)
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            if _BASIC_DATE.fullmatch(text):  # 99999999 read as the date 9999-99-99
                raise ValidationError(
                    f"{what} of eight digits is a date, YYYYMMDD, and this is none"
                    f" (got {value!r}); epoch seconds of eight digits: {text}.0"
                ) from None
            raise ValidationError(
                f"{what} must be ISO 8601 (2026-11-22T10:30:00Z) or epoch seconds (got {value!r})"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            epoch = parsed.timestamp()
        except (OverflowError, ValueError):  # 9999-12-31T23:59-01:00 is past year 9999
            epoch = math.inf
        return _in_range(epoch, what, value)
    raise ValidationError(f"{what} must be ISO 8601 or epoch seconds (got {value!r})")


def _in_range(epoch: float, what: str, typed: object) -> float:
    if not (math.isfinite(epoch) and EARLIEST <= epoch <= LATEST):
        raise ValidationError(
            f"{what} must be between 1970-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z"
            f" (got {typed!r})"
        )
    return epoch


def _datetime(epoch: float) -> datetime | None:
    """``epoch`` as a UTC datetime, or ``None`` when no ISO 8601 year can hold it."""
    if not (isinstance(epoch, int | float) and math.isfinite(epoch)):
        return None
    if not EARLIEST <= epoch <= LATEST:
        return None
    return datetime.fromtimestamp(epoch, UTC)


def json_time(epoch: float | None) -> str | None:
    """The ``--json`` time: ISO 8601 UTC to the millisecond, ``2026-12-03T14:56:09.730Z``.

    ``None`` stays ``None``; so does a stored time no four-digit year can hold
    (written by an older queuectl that accepted it), rather than failing the
    whole listing.
    """
    if epoch is None:
        return None
    moment = _datetime(epoch)
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso(epoch: float | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix, to the second, for people; ``None`` stays ``None``.

    A stored time outside the years 1970-9999 is shown as ``invalid time (…)``.
    """
    if epoch is None:
        return None
    moment = _datetime(epoch)
    if moment is None:
        return f"invalid time ({epoch:g})"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def timeout_text(timeout: float | None) -> str:
    """A job's own timeout as ``show`` and the dashboard's detail say it: ``config
    default`` (``None``: the ``job_timeout`` setting applies), ``none`` (0), else its length."""
    if timeout is None:
        return "config default"
    return set_duration(timeout) if timeout else "none"


def set_duration(seconds: float) -> str:
    """A length someone set (a timeout, a wait's limit), said as they would type it:
    ``1s``, ``1.5s``, ``0.25s``; from a minute on, as ``human_duration`` says it.

    ``human_duration`` keeps a fixed precision so a table's column reads evenly
    (``1.0s`` beside ``9.9s``); a length typed as ``1s`` and echoed back as ``1.0s``
    reads as if it had been changed.
    """
    if 0 < seconds < 60:
        return f"{seconds:.3g}s"
    return human_duration(seconds)


def human_duration(seconds: float | None) -> str:
    """A compact duration for tables: ``850ms``, ``12s``, ``4m05s``, ``3h10m``, ``2d4h``, ``3y12d``.

    Past a century (a value no longer accepted, but an older database may hold
    one) it says ``>100y`` instead of a number as wide as the screen.
    """
    if seconds is None:
        return ""
    if math.isnan(seconds):
        return "?"
    seconds = max(0.0, seconds)
    if seconds > MAX_DURATION:
        return ">100y"
    # Each branch tests the figure it would print, so 0.9996 s reads "1.0s", not
    # "1000ms", and 59.6 s reads "1m00s", not "60s".
    if seconds > 0 and f"{seconds * 1000:.0f}" == "0":  # not "0ms": no time at all
        return "<1ms"
    if round(seconds * 1000) < 1000:
        return f"{seconds * 1000:.0f}ms"
    if round(seconds * 10) < 100:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    if days < 365:
        return f"{days}d{hours}h"
    years, days = divmod(days, 365)
    return f"{years}y{days}d"
