"""Validation of the JSON a user hands to ``enqueue``.

The CLI, the bulk loader and the dashboard's new-job form all go through
``parse_spec``, so a job is accepted or refused the same way everywhere and
the message names the offending field.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from queuectl.config import SPECS as SETTINGS
from queuectl.config import check_command
from queuectl.errors import ValidationError
from queuectl.plainnum import plain_int
from queuectl.textsafe import unicode_problem
from queuectl.timeutil import parse_duration, parse_time

ID_PATTERN = re.compile(r"(?!-)[A-Za-z0-9._:-]{1,64}")
"""A job id or queue name. Not starting with ``-``: scripts pass ids as arguments
(``queuectl cancel $ids``), where ``--all`` or ``--yes`` would be read as options."""
ID_RULE = "1-64 characters of letters, digits and . _ : -, not starting with -"
ALLOWED_KEYS = (
    "command",
    "id",
    "priority",
    "max_retries",
    "timeout",
    "run_at",
    "delay",
    "queue",
    "cwd",
    "env",
    "on_success",
    "on_failure",
    "tty",
    "after",
    "unique_key",
    "held",
)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED_ENV_PREFIX = "QUEUECTL_"
"""Variables queuectl sets itself (``QUEUECTL_JOB_ID``, ``QUEUECTL_ATTEMPT``, …): a job's
``env`` may not name them, so a script can trust what they say."""
CRON_ENV = ("QUEUECTL_CRON_NAME", "QUEUECTL_CRON_TS")
"""Reserved names a schedule's fire stores in its job's ``env`` (a user's ``env`` cannot):
the schedule's name and the tick, which the worker passes on like the job's own."""
MAX_PRIORITY = 2**31 - 1
MAX_RETRIES_LIMIT = 100
MAX_AFTER = 100
"""At most this many dependencies per job: a fan-in wider than that is a batch of its own."""
MAX_UNIQUE_KEY = 200


@dataclass(frozen=True)
class JobSpec:
    """A validated request for a job. ``None`` fields take the queue's defaults."""

    command: str
    id: str | None = None
    priority: int = 0
    max_retries: int | None = None
    timeout: float | None = None
    run_at: float | None = None
    delay: float | None = None
    queue: str = "default"
    cwd: str | None = None
    env: Mapping[str, str] | None = None
    on_success: str | None = None
    """Hook run when the job completes; ``None``: the setting's, ``""``: none."""
    on_failure: str | None = None
    """Hook run when the job goes dead; ``None``: the setting's, ``""``: none."""
    tty: bool = False
    """Run under a pseudo-terminal, so programs that colour only on terminals do."""
    after: tuple[str, ...] = ()
    """Ids of the jobs that must complete before this one runs (``blocked`` till then)."""
    unique_key: str | None = None
    """While a job with this key waits, is blocked or runs, no other job may take it."""
    held: bool = False
    """Stored held (pueue's ``add --stashed``): it waits until released. A hold right
    after an enqueue lost the race to an idle worker, which had started the job."""

    def env_json(self) -> str | None:
        """``env`` as stored: a JSON object, or ``None`` when the job sets no variable."""
        return json.dumps(dict(self.env), ensure_ascii=False) if self.env else None


def load_json(text: str) -> Any:
    """``json.loads``, with a document nested too deeply for it (``[[[[…``, thousands
    deep) refused as invalid JSON like any other, instead of a ``RecursionError``.

    (A key given twice keeps its last value, as ``json.loads`` does: refusing it
    with an ``object_pairs_hook`` cost 1.3 µs a line, 7% of ``enqueue --file``.)
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError:
        # Python's guard against slow int conversion (over 4,300 digits) is a plain
        # ValueError: it came out as a traceback. No field takes a number that long.
        digits = re.search(rf"\d{{{sys.get_int_max_str_digits() + 1},}}", text)
        where = digits.start() if digits else 0
        raise json.JSONDecodeError("Number too long", text, where) from None


def parse_json(text: str) -> JobSpec:
    """A spec from one JSON document.

    Raises:
        ValidationError: malformed JSON, or any field ``parse_spec`` rejects.
    """
    try:
        data = load_json(text)
    except json.JSONDecodeError as exc:
        hint = "a job is a JSON object; for a plain command use: queuectl add -- COMMAND"
        raise _invalid_json(exc, text, hint) from None
    return parse_spec(data)


def _invalid_json(exc: json.JSONDecodeError, text: str, hint: str) -> ValidationError:
    """``invalid JSON: …``, with ``hint`` when ``text`` does not even start like JSON
    (a plain command where a job was wanted)."""
    plain = not text.lstrip().startswith(("{", "[", '"'))
    return ValidationError(f"invalid JSON: {where_json_fails(exc)}{f' ({hint})' if plain else ''}")


def where_json_fails(exc: json.JSONDecodeError) -> str:
    """``Expecting value at column 3``: the decoder's reason and where (some of its reasons
    end in "at" already: "Invalid control character at at column 14")."""
    reason = exc.msg.removesuffix(" at")
    return (
        f"{reason} at line {exc.lineno} column {exc.colno}"
        if exc.lineno > 1
        else (f"{reason} at column {exc.colno}")
    )


def parse_template(text: str, *, forbidden: Iterable[str]) -> tuple[dict[str, object], JobSpec]:
    """A job template (a schedule's JOB-JSON): validated exactly as ``parse_json`` does,
    without the keys the schedule sets itself.

    Returns:
        The decoded object (stored as the template) and its spec.

    Raises:
        ValidationError: as ``parse_json``, or a forbidden key, named.
    """
    try:
        data = load_json(text)
    except json.JSONDecodeError as exc:
        # Not parse_json's hint: "queuectl add -- COMMAND" makes no schedule.
        hint = """a schedule's job is a JSON object: '{"command": "backup.sh"}'"""
        raise _invalid_json(exc, text, hint) from None
    if isinstance(data, Mapping):
        for key in forbidden:
            if key in data:
                why = (
                    "each fire starts as soon as it is made, never waiting for other jobs"
                    if key == "after"
                    else "the schedule sets it"
                )
                raise ValidationError(f'a schedule\'s job may not set "{key}": {why}')
        check_keys(data, [key for key in ALLOWED_KEYS if key not in forbidden])
    spec = parse_spec(data)
    assert isinstance(data, dict)
    if spec.cwd is not None:
        data["cwd"] = spec.cwd  # absolute, as enqueue stores it
    return data, spec


def parse_lines(lines: Iterable[str | bytes]) -> list[JobSpec]:
    """Specs from JSON Lines (see ``parse_numbered_lines``)."""
    return parse_numbered_lines(lines)[0]


MAX_LINE_BYTES = 8 * 1024 * 1024
"""The longest line of a jobs file: a job at its limits (``MAX_EXEC_BYTES``), every
character escaped as JSON's ``\\uXXXX``, takes about 6 MiB."""


def bounded_lines(stream: BinaryIO) -> Iterator[bytes]:
    """``stream``'s lines, refusing one longer than any job can be.

    ``enqueue --file /dev/zero`` (or a binary file with no newline) read one line for
    ever: 3.7 GB of memory in six seconds (an outside try).

    Raises:
        ValidationError: ``line N: …`` for a line over ``MAX_LINE_BYTES``.
    """
    number = 0
    while line := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(line) > MAX_LINE_BYTES:
            raise ValidationError(
                f"line {number}: longer than {MAX_LINE_BYTES} bytes, more than a job can be"
                " (one JSON object per line)"
            )
        yield line


def parse_numbered_lines(lines: Iterable[str | bytes]) -> tuple[list[JobSpec], list[int]]:
    """Specs from JSON Lines (text, or bytes read as UTF-8), with each one's line in the
    file; blank lines are skipped, errors name the line.

    The numbers are for the enqueue's own refusals (``enqueue_many``'s ``lines``): counted
    among the jobs, a unique key's refusal named line 2 where the file's line 3 held it.

    Raises:
        ValidationError: ``line N: …`` for the first bad line; nothing is accepted.
    """
    specs: list[JobSpec] = []
    numbers: list[int] = []
    seen_ids: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValidationError(
                    f"line {number}: not valid UTF-8 (byte 0x{raw[exc.start]:02x}"
                    f" at column {exc.start + 1})"
                ) from None
        else:
            line = raw
        if number == 1:
            # A file saved by an editor that marks UTF-8 (Windows' Notepad): the mark
            # is no text. ``json.loads`` refused it in its own words ("decode using
            # utf-8-sig").
            line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        try:
            spec = parse_json(line)
        except ValidationError as exc:
            raise ValidationError(f"line {number}: {exc}") from None
        if spec.id is not None:
            if spec.id in seen_ids:
                raise ValidationError(
                    f"line {number}: id {spec.id!r} is already used on line {seen_ids[spec.id]}"
                )
            seen_ids[spec.id] = number
        specs.append(spec)
        numbers.append(number)
    return specs, numbers


def check_keys(data: Mapping[str, object], allowed: Sequence[str]) -> None:
    """Refuse a key not in ``allowed``, naming the keys that are (for ``edit`` and a
    schedule's job, fewer than enqueue's: they listed ``id`` and ``after``, which they
    refuse).

    Raises:
        ValidationError: the first unknown key, with a suggestion when one is close.
    """
    unknown = [key for key in data if key not in allowed]
    if unknown:
        raise ValidationError(
            f"unknown key {unknown[0]!r}{_did_you_mean(unknown[0], allowed)}; "
            f"allowed keys: {', '.join(allowed)}"
        )


def parse_spec(data: object) -> JobSpec:
    """Validate a decoded JSON value into a ``JobSpec``.

    Raises:
        ValidationError: with a message naming the field and what it accepts.
    """
    if not isinstance(data, Mapping):
        raise ValidationError(f"a job must be a JSON object, not {_json_type(data)}")
    if len(data) == 1 and "command" in data:
        # The usual bulk line: skip eight lookups of absent keys (a third of
        # `enqueue --file`'s parsing time).
        return JobSpec(command=_command(data["command"]))
    check_keys(data, ALLOWED_KEYS)
    if "command" not in data:
        raise ValidationError('missing "command": the shell command to run')
    if data.get("run_at") is not None and data.get("delay") is not None:
        raise ValidationError('give either "run_at" or "delay", not both')
    command = _command(data["command"])
    env = _optional(data, "env", _env)
    _check_exec_size(command, env)
    return JobSpec(
        command=command,
        id=_optional(data, "id", _identifier),
        priority=_int(data, "priority", 0, MAX_PRIORITY, default=0),
        max_retries=_int(data, "max_retries", 0, MAX_RETRIES_LIMIT, default=None),
        timeout=_optional(data, "timeout", _timeout),
        run_at=_optional(data, "run_at", lambda v: parse_time(v, what="run_at")),
        delay=_optional(data, "delay", lambda v: parse_duration(v, what="delay")),
        queue=_optional(data, "queue", lambda v: _identifier(v, "queue")) or "default",
        cwd=_optional(data, "cwd", _cwd),
        env=env,
        on_success=_optional(data, "on_success", lambda v: check_command(v, '"on_success"')),
        on_failure=_optional(data, "on_failure", lambda v: check_command(v, '"on_failure"')),
        tty=_optional(data, "tty", lambda v: _flag(v, '"tty"')) or False,
        after=_after(data.get("after"), data.get("id")),
        unique_key=_optional(data, "unique_key", _unique_key),
        held=_optional(data, "held", lambda v: _flag(v, '"held"')) or False,
    )


def _after(value: object, own_id: object) -> tuple[str, ...]:
    """One id or a list of ids, each well formed, at most ``MAX_AFTER``, never the job's own.

    Whether they exist is the store's question (``lifecycle.deps``), asked at enqueue.
    """
    if value is None:
        return ()
    ids = [value] if isinstance(value, str) else value
    if not isinstance(ids, list):
        raise ValidationError(f'"after" must be a job id or a list of ids, not {_json_type(value)}')
    if len(ids) > MAX_AFTER:
        raise ValidationError(f'"after" names at most {MAX_AFTER} jobs (got {len(ids)})')
    for job_id in ids:
        if not isinstance(job_id, str) or not ID_PATTERN.fullmatch(job_id):
            got = _as_given(job_id) if isinstance(job_id, str) else _json_type(job_id)
            raise ValidationError(f'"after" ids must be {ID_RULE} (got {got})')
        if job_id == own_id:
            raise ValidationError(f'"after" names the job itself ({job_id!r})')
    return tuple(dict.fromkeys(ids))


def _unique_key(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_UNIQUE_KEY:
        raise ValidationError(
            f'"unique_key" must be a string of 1-{MAX_UNIQUE_KEY} characters'
            f" (got {_as_given(value)})"
        )
    if not value.strip() or not value.isprintable():
        # A blank key or one with a newline or control character reads as another key
        # (or as nothing) wherever it is shown, so two jobs would seem to hold one key.
        raise ValidationError(
            f'"unique_key" must be printable text, not blank (got {_as_given(value)})'
        )
    return _text(value, '"unique_key"')


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{what} must be true or false (got {_json_type(value)})")
    return value


def _timeout(value: object) -> float:
    """Within the range of the ``job_timeout`` setting it overrides (0 = none)."""
    spec = SETTINGS["job_timeout"]
    seconds = parse_duration(value, what="timeout", maximum=math.inf)  # the range below says
    if not spec.minimum <= seconds <= spec.maximum:
        raise ValidationError(
            f'"timeout" must be between {spec.bounds_text}, as job_timeout (got {_as_given(value)})'
        )
    return seconds


def _env(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValidationError(f'"env" must be an object of strings, not {_json_type(value)}')
    env: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
            raise ValidationError(
                f'"env" names must be letters, digits and _, not starting with a digit'
                f" (got {_as_given(name)})"
            )
        if name.startswith(RESERVED_ENV_PREFIX):
            raise ValidationError(
                f'"env" may not set {name}: {RESERVED_ENV_PREFIX}* names are set by queuectl'
            )
        if not isinstance(text, str):
            raise ValidationError(f'"env" values must be strings (got {name}: {_as_given(text)})')
        _text(text, f'"env" {name}')
        size = len(name) + 1 + len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_COMMAND_BYTES:
            raise ValidationError(
                f'"env" {name} must be at most {MAX_COMMAND_BYTES} bytes with its name, the'
                f" longest variable Linux passes to a program (got {size})"
            )
        env[name] = text
    return env


def env_from_json(stored: str | None) -> dict[str, str]:
    """A stored ``env`` back as a dict, for the worker.

    Tolerant: only what ``_env`` would accept is kept, so a value an older
    queuectl (or a hand edit) stored never stops a worker; reserved names are
    dropped (queuectl sets them after merging anyway), but for ``CRON_ENV``, which only
    a schedule's fire stores (``_env`` refuses them from users).
    """
    if not stored:
        return {}
    try:
        data = json.loads(stored)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        name: text
        for name, text in data.items()
        if isinstance(name, str)
        and ENV_NAME.fullmatch(name)
        and (not name.startswith(RESERVED_ENV_PREFIX) or name in CRON_ENV)
        and isinstance(text, str)
        and "\x00" not in text
    }


def _text(value: str, what: str) -> str:
    """``value`` refused when it cannot be stored: NUL, a lone surrogate, invalid UTF-8."""
    if "\x00" in value:
        raise ValidationError(f"{what} must not contain NUL characters")
    problem = unicode_problem(value)
    if problem:
        raise ValidationError(f"{what} {problem}")
    return value


def _did_you_mean(word: object, choices: Iterable[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word.lower().replace("-", "_"), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


SHOWN_VALUE = 48
"""The most characters of a refused value a message quotes: a 20,000-character paste was
quoted whole, a dashboard toast that covered the screen and pushed its own words off it."""


def _as_given(value: object) -> str:
    """A refused value as the user wrote it: JSON's ``true`` and ``[1]``, not Python's
    ``True``; a string keeps its quotes, as every other message shows one. A long one is
    quoted in part, with its length."""
    if isinstance(value, str):
        if len(value) > SHOWN_VALUE:
            return f"{value[:SHOWN_VALUE]!r}… ({len(value):,} characters)"
        return repr(value)
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= SHOWN_VALUE else f"{text[:SHOWN_VALUE]}… ({len(text):,} characters)"


def _json_type(value: object) -> str:
    return {
        list: "an array",
        dict: "an object",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


MAX_COMMAND_BYTES = 128 * 1024 - 1
"""The longest command a job can run: the shell gets it as one argument, and Linux takes
none longer than 128 KiB with its NUL (``MAX_ARG_STRLEN``). A longer one was stored, and
failed at every attempt (``E2BIG``); at 5 MB it also cut every column of a piped ``list``.
The same limit holds for each ``NAME=value`` of a job's environment."""


MAX_EXEC_BYTES = 1024 * 1024
"""The most a job's command and ``env`` may take together: half of Linux's usual
``ARG_MAX`` (2 MiB, for the arguments and the environment together, each string with its
NUL and its pointer), the other half left to the environment the worker passes on. Each
variable was checked alone, so 20,000 short ones were stored and then failed at every
attempt, "Argument list too long", into the DLQ."""


def _check_exec_size(command: str, env: Mapping[str, str] | None) -> None:
    size = _exec_bytes(command) + sum(_exec_bytes(f"{n}={v}") for n, v in (env or {}).items())
    if size > MAX_EXEC_BYTES:
        raise ValidationError(
            f'"command" and "env" together must be at most {MAX_EXEC_BYTES} bytes, half of'
            f" what Linux passes to a program, the rest left to the worker's environment"
            f" (got {size})"
        )


def _exec_bytes(text: str) -> int:
    """What one string costs of ``ARG_MAX``: its bytes, its NUL and its pointer."""
    return len(text.encode("utf-8", "surrogatepass")) + 1 + 8


def _command(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError(f'"command" must be a string, not {_json_type(value)}')
    if not value.strip():
        raise ValidationError('"command" must not be empty')
    text = _text(value, '"command"')
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_COMMAND_BYTES:
        raise ValidationError(
            f'"command" must be at most {MAX_COMMAND_BYTES} bytes, the longest argument'
            f" a shell can be given (got {size})"
        )
    return text


def _identifier(value: object, field: str = "id") -> str:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValidationError(f'"{field}" must be {ID_RULE} (got {_as_given(value)})')
    return value


def _cwd(value: object) -> str:
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ValidationError(f'"cwd" must be a directory path (got {_as_given(value)})')
    path = os.path.expanduser(_text(value, '"cwd"'))
    if os.path.isabs(path):
        return os.path.normpath(path)
    return os.path.normpath(os.path.join(current_directory(), path))


def current_directory() -> str:
    """Where this process runs: the ``cwd`` of a job that names none.

    Raises:
        ValidationError: the directory was deleted under it (``os.getcwd`` fails),
            in one line that says what to do instead of ``[Errno 2] …``.
    """
    try:
        return os.getcwd()
    except FileNotFoundError:
        raise ValidationError(
            "the current directory no longer exists: give the job a cwd (--cwd DIR),"
            " or run from a directory that exists"
        ) from None


def _optional(data: Mapping[str, object], key: str, parse):  # type: ignore[no-untyped-def]
    value = data.get(key)
    return None if value is None else parse(value)


def _int(
    data: Mapping[str, object], key: str, low: int, high: int, *, default: int | None
) -> int | None:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f'"{key}" must be an integer (got {_as_given(value)})')
    if not low <= value <= high:
        raise ValidationError(f'"{key}" must be between {low} and {high} (got {value})')
    return value


# --- queue names and limits (``queuectl queue``, the dashboard's Queues pane) ----------

MAX_QUEUE_LIMIT = 100_000
"""The largest limit of jobs running at once: far above any real fleet of workers."""


def queue_name(value: object) -> str:
    """A queue name as ``queue`` in a job accepts it (``queue pause NAME``, ``limit NAME``).

    Raises:
        ValidationError: naming the value and the grammar.
    """
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValidationError(f"a queue name must be {ID_RULE} (got {_as_given(value)})")
    return value


MAX_SEARCH = 4096
"""The longest text a search holds (``list --search``, the dashboard's filter), in
characters: SQLite refuses a LIKE pattern over 50,000 bytes ("pattern too complex", exit
1 on SQLite where PostgreSQL answered), and a 4-byte character escaped takes 8."""


def search_text(value: str, what: str = "a search") -> str:
    """``value`` as a search may hold it.

    Raises:
        ValidationError: it is longer than ``MAX_SEARCH``, saying by how much.
    """
    if len(value) > MAX_SEARCH:
        raise ValidationError(f"{what} is at most {MAX_SEARCH:,} characters (got {len(value):,})")
    return value


def queue_limit(value: object) -> int | None:
    """``N`` (1 to ``MAX_QUEUE_LIMIT``) jobs of a queue running at once, or ``none``: no limit.

    A limit of 0 is refused rather than taken as a pause: ``queue pause`` says that,
    and a limit left at 0 by a script's arithmetic would stop a queue unnoticed.

    Raises:
        ValidationError: not a whole number in range, nor ``none``.
    """
    text = str(value).strip()
    if text.lower() in ("none", "off", "unlimited"):
        return None
    try:
        limit = plain_int(text)
    except ValueError:
        raise ValidationError(
            f"a queue limit must be a whole number of jobs (1-{MAX_QUEUE_LIMIT}) or 'none'"
            f" (got {_as_given(value)})"
        ) from None
    if limit < 1:
        raise ValidationError(
            f"a queue limit must be at least 1 (got {limit}); to stop new starts, pause the queue"
        )
    if limit > MAX_QUEUE_LIMIT:
        raise ValidationError(f"a queue limit must be at most {MAX_QUEUE_LIMIT} (got {limit})")
    return limit
