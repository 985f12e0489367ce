"""Parsing and formatting of the times and durations users type.

Times are stored as UTC epoch seconds (floats): they compare and add without
time-zone bugs on both SQLite and PostgreSQL, and are shown as ISO 8601 with
a ``Z`` suffix.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from queuectl.errors import ValidationError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object, *, what: str = "duration") -> float:
    """Seconds from a number or a string such as ``"500ms"``, ``"5s"``, ``"2m"``, ``"7d"``.

    Raises:
        ValidationError: negative, not finite, or not a duration at all.
    """
    if isinstance(value, bool):
        raise ValidationError(f"{what} must be a number of seconds or a duration like '5s'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        unit = (match.group(2) or "s").lower()
        seconds = float(match.group(1)) * _UNIT_SECONDS[unit]
    else:
        raise ValidationError(
            f"{what} must be a number of seconds or a duration like '500ms', '5s', '2m', '7d'"
            f" (got {value!r})"
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise ValidationError(f"{what} must be a non-negative number of seconds (got {value!r})")
    return seconds


def parse_time(value: object, *, what: str = "run_at") -> float:
    """Epoch seconds from epoch seconds or ISO 8601 (no offset means UTC).

    Raises:
        ValidationError: when the value is neither.
    """
    if isinstance(value, bool):
        raise ValidationError(f"{what} must be ISO 8601 or epoch seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValidationError(f"{what} must be a non-negative epoch time (got {value!r})")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return parse_time(float(text), what=what)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise ValidationError(
                f"{what} must be ISO 8601 (2026-11-22T10:30:00Z) or epoch seconds (got {value!r})"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise ValidationError(f"{what} must be ISO 8601 or epoch seconds (got {value!r})")


OUT_OF_RANGE = "out of range"
"""Shown for a stored time outside years 1-9999, which no calendar date can show."""
LONGEST_SHOWN = 100 * 365 * 86400.0
"""Durations from here up read ``>100y``: a far-future ``run_at`` must not fill a column."""


def iso(epoch: float | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix, to the second; ``None`` stays ``None``.

    A time no date can show (e.g. ``run_at`` 1e18, accepted before enqueue
    checked it) becomes ``OUT_OF_RANGE`` instead of raising in a view.
    """
    if epoch is None:
        return None
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return OUT_OF_RANGE


def human_duration(seconds: float | None) -> str:
    """A compact duration for tables: ``850ms``, ``12s``, ``4m05s``, ``3h10m``, ``2d4h``."""
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    if not seconds < LONGEST_SHOWN:  # also infinity
        return ">100y"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"
