"""Typed settings: defaults, ranges and validation (stored by ``lifecycle.settings``).

Only values that differ from the default are stored, so a new release can
change a default and every database that never overrode it follows. The
specs themselves import no database code: ``jobspec`` checks a job's timeout
against ``job_timeout``'s range before anything is opened.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

from queuectl.errors import ValidationError
from queuectl.plainnum import plain_float, plain_int
from queuectl.textsafe import unicode_problem
from queuectl.timeutil import parse_duration

Value = float | int | str
"""A setting's value: a number, or for the hooks a shell command ("" = none)."""

MAX_COMMAND_LENGTH = 4096
"""Longest hook command a setting (or a job's ``on_success``/``on_failure``) holds."""


@dataclass(frozen=True)
class SettingSpec:
    """One configuration key: its type, default, allowed range and why it exists."""

    key: str
    type: type
    default: Value
    minimum: float
    maximum: float
    description: str
    unit: str = ""

    def parse(self, raw: object) -> Value:
        """The validated value from user input (a string from the CLI, or a number).

        Raises:
            ValidationError: wrong type or outside ``[minimum, maximum]``.
        """
        if self.type is str:
            return check_command(raw, self.key)
        value = self._coerce(raw)
        if not self.minimum <= value <= self.maximum:
            # A duration as typed (``'8d'``), not the seconds it came to (``691200``).
            got = repr(raw) if self.unit == "s" and isinstance(raw, str) else _fmt(value)
            raise ValidationError(f"{self.key} must be between {self.bounds_text} (got {got})")
        return value

    @property
    def bounds_text(self) -> str:
        """``0 and 604800 s``: the range in a sentence (``range_text`` is a table's)."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{_fmt(self.minimum)} and {_fmt(self.maximum)}{unit}"

    def _coerce(self, raw: object) -> float | int:
        if isinstance(raw, bool):
            raise ValidationError(f"{self.key} must be {self._kind()} (got {raw!r})")
        if self.unit == "s":
            seconds = parse_duration(raw, what=self.key, maximum=math.inf)  # the range says
            if self.type is int:
                if seconds != int(seconds):
                    raise ValidationError(f"{self.key} must be whole seconds (got {raw!r})")
                return int(seconds)
            return seconds
        try:
            if self.type is int:
                if isinstance(raw, str):
                    return plain_int(raw)
                if isinstance(raw, float) and not raw.is_integer():
                    raise ValueError
                return int(raw)  # type: ignore[arg-type]
            value = plain_float(raw) if isinstance(raw, str) else float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValidationError(f"{self.key} must be {self._kind()} (got {raw!r})") from None
        if not math.isfinite(value):
            raise ValidationError(f"{self.key} must be a finite number (got {raw!r})")
        return value

    def _kind(self) -> str:
        if self.type is str:
            return "a shell command"
        return "an integer" if self.type is int else "a number"

    @property
    def range_text(self) -> str:
        if self.type is str:
            return 'shell command, "" = none'
        unit = f" {self.unit}" if self.unit else ""
        return f"{_fmt(self.minimum)}..{_fmt(self.maximum)}{unit}"


def check_command(raw: object, what: str) -> str:
    """A hook's shell command as stored: stripped, one that a shell can be handed.

    Empty means "no hook". Refused: anything but a string, NUL, invalid
    Unicode, over ``MAX_COMMAND_LENGTH`` characters.

    Raises:
        ValidationError: naming ``what``.
    """
    if not isinstance(raw, str):
        raise ValidationError(f"{what} must be a shell command (a string), not {raw!r}")
    text = raw.strip()
    if "\x00" in text:
        raise ValidationError(f"{what} must not contain NUL characters")
    problem = unicode_problem(text)
    if problem:
        raise ValidationError(f"{what} {problem}")
    if len(text) > MAX_COMMAND_LENGTH:
        raise ValidationError(
            f"{what} must be at most {MAX_COMMAND_LENGTH} characters (got {len(text)})"
        )
    return text


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


SPECS: dict[str, SettingSpec] = {
    spec.key: spec
    for spec in (
        SettingSpec(
            "max_retries",
            int,
            3,
            0,
            100,
            "Retries after the first run, then the DLQ",
        ),
        SettingSpec(
            "backoff_base", float, 2.0, 1.0, 60.0, "Retry n waits backoff_base ** n seconds"
        ),
        SettingSpec(
            "backoff_max", int, 3600, 0, 30 * 86400, "Upper bound of one backoff delay", "s"
        ),
        SettingSpec(
            "poll_interval",
            float,
            1.0,
            0.01,
            60.0,
            "Longest idle sleep between looks for work",
            "s",
        ),
        SettingSpec(
            "job_timeout", float, 0.0, 0.0, 7 * 86400, "Default job timeout (0 = none)", "s"
        ),
        SettingSpec(
            "output_limit",
            int,
            65536,
            1024,
            16 * 1024 * 1024,
            "Bytes of output kept per run (the tail)",
            "bytes",
        ),
        SettingSpec(
            "lease_seconds",
            float,
            30.0,
            2.0,
            86400.0,
            "Heartbeat age at which a worker is lost",
            "s",
        ),
        SettingSpec(
            "on_success",
            str,
            "",
            0,
            0,
            "Shell command run after a job completes (a job's own on_success wins)",
        ),
        SettingSpec(
            "on_failure",
            str,
            "",
            0,
            0,
            "Shell command run after a job goes dead (a job's own on_failure wins)",
        ),
        SettingSpec(
            "hook_timeout",
            float,
            30.0,
            0.1,
            3600.0,
            "Longest a hook runs before its process group is killed",
            "s",
        ),
    )
}


def normalize_key(key: str) -> str:
    """``max-retries`` and ``MAX_RETRIES`` both mean ``max_retries``.

    Raises:
        ValidationError: the key does not exist (the message lists those that do).
    """
    normal = key.strip().lower().replace("-", "_")
    if normal not in SPECS:
        close = difflib.get_close_matches(normal, list(SPECS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValidationError(f"unknown config key {key!r}{hint}; known keys: {', '.join(SPECS)}")
    return normal
