"""What every command shares: the context object, ``--db``/``--json``, and errors.

Commands raise the core's exceptions; ``QueuectlGroup`` turns them into the
one-line ``Error: …`` and exit code of the CLI contract (1 runtime, 2 usage),
so no user mistake ever shows a traceback.
"""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from queuectl.entry import INTERRUPTED  # after Ctrl+C, for every command alike
from queuectl.errors import QueueError, StoreUnavailable, ValidationError
from queuectl.plainnum import plain_int
from queuectl.states import JobState
from queuectl.textsafe import inert, unicode_problem

if TYPE_CHECKING:
    from queuectl.runtime.outage import Outage
    from queuectl.store.models import Job

F = TypeVar("F", bound=Callable[..., Any])


class BadInput(click.ClickException):
    """A usage error shown as one line, without click's usage banner (exit 2)."""

    exit_code = 2


# Click 8.2+ raises this for a group called without a command; older click prints help itself.
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


MESSAGE_MAX = 2000
"""Longest error or warning line; a longer one loses its middle (its end keeps the hint)."""


def _one_line(message: str) -> str:
    """One line, made inert: messages quote paths and values the user (or a job) chose.

    Cut in the middle past ``MESSAGE_MAX`` characters: a 100 KB id or a 4,300-digit
    number was quoted whole, one line that filled the terminal.
    """
    from queuectl.textsafe import one_line

    flat = one_line(" ".join(message.split()))
    if len(flat) <= MESSAGE_MAX:
        return flat
    keep = MESSAGE_MAX // 2
    return f"{flat[:keep]}…({len(flat) - 2 * keep:,} characters left out)…{flat[-keep:]}"


class ReaderLeft(Exception):
    """The output's reader closed its end (``queuectl list | head -1``): exit 0, silently."""


_OUTPUT_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF})
"""What writing stdout fails with when its file cannot take more (``> /dev/full``)."""


def _stand_in_for_closed_streams() -> None:
    """``/dev/null`` for a standard stream the process was started without (``>&-``,
    ``<&-``): Python leaves it ``None``, and the first ``isatty`` raised a traceback.
    A command then runs as with nothing to read and nowhere to print."""
    for name, mode in (("stdin", "r"), ("stdout", "w"), ("stderr", "w")):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, mode, encoding="utf-8"))  # noqa: SIM115


def _printable_streams() -> None:
    """Characters stdout or stderr cannot encode (a job's ``🎉`` under
    ``PYTHONIOENCODING=latin-1``) print as ``\\U0001f389``, not as a traceback.
    UTF-8 streams can encode everything queuectl stores, and are left alone."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if encoding != "utf8" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def _as_utf8(argument: str) -> str:
    """An argument as its UTF-8 text, when the locale decoded its bytes as ASCII.

    Under a C locale Python's UTF-8 coercion can be turned off (``PYTHONCOERCECLOCALE=0``),
    and every byte over 127 then arrives as a surrogate (``surrogateescape``): ``ü``
    was refused as "not valid UTF-8" though it was. Bytes that are not UTF-8 stay
    surrogates, for ``unicode_problem`` to refuse."""
    try:
        return os.fsencode(argument).decode("utf-8")
    except UnicodeError:
        return argument


def _silence_stdout() -> None:
    """Point stdout at ``/dev/null``, so the interpreter's last flush of what could not
    be written raises nothing more at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


OTHER_TOOLS_NAMES: dict[str, str] = {
    "pause": "'queuectl queue pause QUEUE' pauses a queue, 'queuectl hold ID' a job",
    "resume": "'queuectl queue resume QUEUE' resumes a queue, 'queuectl release ID' a held job",
    "start": "'queuectl worker start' starts workers, 'queuectl release ID' a held job",
    "kill": "'queuectl cancel ID' stops a job and its whole process group",
    "clean": "'queuectl purge' deletes finished jobs (completed ones unless --state says)",
    "follow": "'queuectl logs --follow ID' prints a job's output as it runs",
    "log": "'queuectl logs ID' prints a job's output",
    "parallel": "'queuectl queue limit QUEUE N' runs at most N of a queue's jobs at once",
    "stash": "'queuectl hold ID' keeps a job from starting ('add --hold' queues it held)",
    "restart": "'queuectl retry ID' runs a failed or dead job again, 'queuectl clone ID' a copy",
    "remove": "'queuectl delete ID' deletes a job with its runs",
    "rm": "'queuectl delete ID' deletes a job with its runs",
    "group": "'queuectl queue' manages queues (pueue's groups)",
    "shutdown": "'queuectl worker stop --all' stops every worker",
}
"""pueue's (and task-spooler's) commands, by what does their work here: click's nearest
name sent a pueue user's ``pause`` to ``purge`` ("Did you mean 'purge'?"), which
deletes every completed job without asking, and ``clean`` to ``clone``."""


class QueuectlGroup(click.Group):
    """A click group whose subcommands' core errors become one-line CLI errors."""

    def __init__(self, *args: Any, other_names: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.other_names = other_names or {}
        """Commands of other tools, by what does their work here (``OTHER_TOOLS_NAMES``)."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """The subcommand ``args`` name; another tool's name for one says which it is."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError:
            name = args[0] if args else ""
            meant = self.other_names.get(name)
            if meant is None or self.get_command(ctx, name) is not None:
                raise
            raise click.UsageError(f"No such command {name!r}: {meant}", ctx) from None

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Run the CLI; every error, click's parse errors included, is one line.

        Click's own usage errors come with a multi-line banner; here they are
        ``Error: … (see 'queuectl list --help')`` like every other error.
        """
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        _stand_in_for_closed_streams()
        _printable_streams()
        given = kwargs.get("args", args[0] if args else None)
        arguments = [_as_utf8(argument) for argument in (sys.argv[1:] if given is None else given)]
        args, kwargs["args"] = (), arguments
        for position, argument in enumerate(arguments, start=1):
            problem = unicode_problem(argument)
            if problem:
                click.echo(f"Error: argument {position} {problem}", err=True)
                sys.exit(BadInput.exit_code)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except _NO_ARGS_IS_HELP as exc:
            # `queuectl` or `queuectl worker` alone: the help, as click shows it,
            # not flattened into one 2,000-character "Error: Usage: …" line.
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            click.echo(f"Error: {_one_line(exc.format_message())}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"Error: {_one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):
                exit_interrupted()
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except (BrokenPipeError, ReaderLeft):
            # `queuectl list | head`: the reader left; not an error worth a trace.
            _silence_stdout()
            sys.exit(0)
        except OSError as exc:
            # Writing the output failed (`> /dev/full`, a vanished disk): one line, as
            # every error. What the command did before (a job stored) stays done. Any
            # other system error a command let through is one line too, as it is.
            if exc.errno in _OUTPUT_ERRORS:
                _silence_stdout()
                click.echo(f"Error: cannot write the output: {_one_line(str(exc))}", err=True)
            else:
                click.echo(f"Error: {_one_line(str(exc))}", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError:
            # ``queuectl --help | true``: the group's --help and --version print while its
            # context is made; their reader leaving is not an error either (see invoke).
            raise ReaderLeft from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # Out of click's reach: its main turns a broken pipe into exit 1, so that
            # ``status | true`` failed under ``set -o pipefail`` where the same reader
            # leaving ``list`` early (all of it already in the pipe) did not.
            raise ReaderLeft from None
        except ValidationError as exc:
            raise BadInput(_one_line(str(exc))) from None
        except StoreUnavailable as exc:
            raise click.ClickException(f"database error: {_one_line(exc.explain())}") from None
        except QueueError as exc:
            raise click.ClickException(_one_line(str(exc))) from None
        except Exception as exc:
            # The lifecycle raises StoreUnavailable; a statement outside it (opening
            # the database, a read transaction) may still fail with peewee's own.
            # peewee is imported only by commands that open the database (see
            # AppContext.open), so its errors are recognised without importing it.
            peewee = sys.modules.get("peewee")
            if peewee is None or not isinstance(exc, peewee.DatabaseError):
                raise
            from queuectl.store.writelock import explain

            raise click.ClickException(f"database error: {_one_line(explain(exc))}") from None


@dataclass
class AppContext:
    """Per-invocation state: which database, opened at most once, on first use."""

    db_option: str | None = None
    location: str | None = None
    read_only: bool = False
    """Set by ``pass_app(read_only=True)``: the command never writes (see ``open``)."""

    def open(
        self,
        *,
        durable: bool = True,
        queue_writes: bool = False,
        claims_jobs: bool = False,
        report: Callable[[str], None] | None = None,
        wait_out: Outage | None = None,
        give_up_at: float | None = None,
        defer_unreachable: bool = False,
    ) -> str:
        """Open the database (``--db`` > ``$QUEUECTL_DB`` > XDG default); returns its location.

        A read-only command creates nothing where no database exists yet (it
        runs on an empty stand-in and says so on stderr) and only warns about a
        file others could write; every other command refuses such a file.
        ``report`` gets those warnings instead of stderr.

        ``wait_out``: a server that cannot be reached yet (``DatabaseUnreachable``) is
        waited for, said once through it, as the command rides out an outage once
        running. ``worker run``, ``wait`` and ``logs --follow`` pass one: started while
        the server restarted they exited 1 at once, and a systemd unit's few quick
        restarts were spent before the database came back, leaving the host with no
        worker (an operator's try). ``give_up_at`` (``time.monotonic``): when that wait
        ends with the error (``wait --timeout``). ``defer_unreachable``: bound
        unconnected instead, for the dashboard (``db.open_database``).
        """
        if self.location is None:
            from queuectl.errors import DatabaseUnreachable
            from queuectl.store.db import open_database

            location = self.resolve()
            self._refuse_to_create_from_env(location)
            while True:
                try:
                    open_database(
                        location,
                        durable=durable,
                        queue_writes=queue_writes,
                        claims_jobs=claims_jobs,
                        read_only=self.read_only,
                        report=report or warn,
                        application=_command_path(),
                        defer_unreachable=defer_unreachable,
                    )
                    break
                except DatabaseUnreachable as exc:
                    left = math.inf if give_up_at is None else give_up_at - time.monotonic()
                    if wait_out is None or left <= 0:
                        raise
                    time.sleep(min(wait_out.failed(exc), left))
            if wait_out is not None:
                wait_out.over()
            self.location = location
        return self.location

    def _refuse_to_create_from_env(self, location: str) -> None:
        """A ``$QUEUECTL_DB`` holding a control character names an existing database (a
        folder named so: read, and shown inert), or is a stray byte in a script: a command
        that would create the database under that name is refused, as ``--db`` is."""
        from queuectl.location import ENV_VAR, sqlite_path

        if self.read_only or self.db_option is not None or os.environ.get(ENV_VAR) != location:
            return
        problem = control_character_said(location)
        path = sqlite_path(location)
        if problem and path is not None and not os.path.exists(path):
            raise click.UsageError(
                f"${ENV_VAR} {problem}; no database is there, and none is made under such"
                " a name: give a database file or URL"
            )

    def resolve(self) -> str:
        """Where the database is; on SQLite, PostgreSQL drivers are kept from loading.

        Called by ``pass_app`` before the command runs, once every ``--db`` is
        parsed and before the command imports the core (which imports peewee).
        """
        from queuectl.location import ENV_VAR, resolve_location, skip_postgres_drivers

        from_env = os.environ.get(ENV_VAR)
        if self.db_option is None and from_env and not from_env.strip():
            # A script's "   " (an empty one counts as unset) made a database file named
            # three spaces, and workers on it: a usage error, as an empty --db is.
            raise click.UsageError(f"${ENV_VAR} is blank; give a database file or URL")
        location = resolve_location(self.db_option)
        skip_postgres_drivers(location)
        return location


def _command_path() -> str:
    """``queuectl worker run``: the command's words, never its arguments (a ``--db``
    URL's password), as PostgreSQL names the session."""
    context = click.get_current_context(silent=True)
    return context.command_path if context is not None else "queuectl"


def end_if_the_file_is_gone(command: str) -> None:
    """Stop a command that waits on an SQLite file when it is no longer the one at its
    path: deleted or moved away, its workers stop, and nothing in the file still open
    here will change again. ``wait`` and ``logs --follow`` waited for ever, silent
    (an outside try), as they still read the deleted file.

    Raises:
        DatabaseError: one line, the file's fate and that the command ends.
    """
    from queuectl.errors import DatabaseError
    from queuectl.store import db

    gone = db.gone_from_its_path()
    if gone:
        raise DatabaseError(f"{gone}; {command} ends here, as do the workers on it")


def why_unwritable(location: str) -> str | None:
    """Which of the SQLite database's files is there and cannot be written, said; ``None``
    when each can be (or the database is not a file). The dashboards open such a
    database read-only and say why: opened to write, every change failed when tried."""
    from queuectl.location import sqlite_path
    from queuectl.store.sqlitefile import first_unwritable, unwritable_said

    path = sqlite_path(location)
    unwritable = first_unwritable(path) if path else None
    return unwritable_said(unwritable) if unwritable else None


def warn(message: str) -> None:
    """``Warning: …`` on stderr, one inert line."""
    click.echo(f"Warning: {_one_line(message)}", err=True)


def pass_app(func: F | None = None, *, read_only: bool = False) -> Any:
    """``click.make_pass_decorator(AppContext)``, resolving the database location first.

    ``@pass_app(read_only=True)`` marks a command that only reads: on a path
    with no database it shows the empty result instead of creating one, and an
    unsafe file gets a warning instead of a refusal (``AppContext.open``).
    """
    if func is None:
        return functools.partial(pass_app, read_only=read_only)

    @click.pass_context
    def new_func(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
        app = ctx.ensure_object(AppContext)
        app.read_only = read_only
        app.resolve()
        return ctx.invoke(func, app, *args, **kwargs)

    return functools.update_wrapper(new_func, func)


def control_character_said(value: str) -> str | None:
    """``holds a control character: …`` (shown inert) for a database location holding
    one, else ``None``: a pasted escape or a stray byte made a file of that name, and
    workers on it."""
    if any(ord(char) < 32 or 127 <= ord(char) < 160 for char in value):
        return f"holds a control character: {inert(value)}"
    return None


def _store_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        if not value.strip():
            # A script's unset "$DB": silently the default database (or a file named
            # " " here) would put its jobs in the wrong queue.
            raise click.BadParameter("is empty: give a database file or URL, or leave --db out")
        problem = control_character_said(value)
        if problem:
            raise click.BadParameter(problem)
        ctx.ensure_object(AppContext).db_option = value


def db_option(func: F) -> F:
    """``--db`` on the group and on each command, so it may come before or after the name."""
    return click.option(
        "--db",
        metavar="PATH|URL",
        expose_value=False,
        is_eager=True,
        callback=_store_db,
        help="Database file or URL (default: $QUEUECTL_DB, else the XDG data folder).",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def color_option(func: F) -> F:
    return click.option(
        "--color",
        "color",
        type=click.Choice(["auto", "always", "never"], case_sensitive=False),
        default="auto",
        show_default=True,
        help="Job output in its own colours (SGR only; other escapes stay inert). "
        "auto: on a terminal, unless NO_COLOR is set.",
    )(func)


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (tests replace this)."""
    return sys.stdout.isatty()


def wants_color(choice: str) -> bool:
    """``--color``: ``always`` wins over ``NO_COLOR``; ``auto`` is a terminal without it."""
    choice = choice.lower()
    if choice != "auto":
        return choice == "always"
    return stdout_is_terminal() and not os.environ.get("NO_COLOR")


class StateType(click.Choice):
    """A job state, in any case (``FAILED`` works as ``failed``)."""

    name = "state"

    def __init__(self, states: tuple[JobState, ...] = tuple(JobState)) -> None:
        super().__init__([state.value for state in states], case_sensitive=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from queuectl.states import parse_state

        if isinstance(value, JobState):
            return value
        try:
            state = parse_state(str(value))
        except ValueError:
            state = None
        if state is not None and state.value in self.choices:
            return state
        return JobState(super().convert(value, param, ctx).lower())  # says what it takes


class StateListType(StateType):
    """One state or a comma list of them (``failed,dead``), as the dashboard's filter
    takes them: ``list --state failed,dead`` was refused while ``-s failed -s dead``
    worked. Converts to a tuple of states; ``flatten_states`` joins a repeated option's."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        states: list[JobState] = []
        for part in str(value).split(","):
            if not part.strip():
                self.fail(f"a state is missing in {value!r}", param, ctx)
            states.append(super().convert(part.strip(), param, ctx))
        return tuple(dict.fromkeys(states))

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[Any]:
        """The states that can follow what is typed, after its last comma (``failed,d``
        offers ``failed,dead``): completion offered nothing once a comma was typed."""
        from click.shell_completion import CompletionItem

        done, comma, last = incomplete.rpartition(",")
        given = {part.strip().lower() for part in done.split(",")}
        return [
            CompletionItem(f"{done}{comma}{choice}")
            for choice in map(str, self.choices)
            if choice.startswith(last.strip().lower()) and choice not in given
        ]


def flatten_states(
    _ctx: click.Context, _param: click.Parameter, value: tuple[tuple[JobState, ...], ...]
) -> tuple[JobState, ...]:
    """The states of every ``--state`` given (each maybe a comma list), once each, in order."""
    return tuple(dict.fromkeys(state for group in value for state in group))


def states_option(help_text: str, states: tuple[JobState, ...] = tuple(JobState)) -> Any:
    """``--state/-s``, repeatable and comma-separated (``-s failed,dead``: both)."""
    return click.option(
        "--state",
        "-s",
        "states",
        multiple=True,
        type=StateListType(states),
        callback=flatten_states,
        help=help_text,
    )


class QueueNameType(click.ParamType):
    """A queue to select by: refused when empty, not taken as no filter at all, and
    when no queue could have the name.

    ``cancel --queue "$Q" --yes`` with ``Q`` unset cancelled the jobs of every queue:
    an empty value read as "no queue given". ``add --queue ''`` was already refused.
    """

    name = "queue"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from queuectl.jobspec import queue_name

        if isinstance(value, str) and not value.strip():
            self.fail(f"a queue name is needed (got {value!r})", param, ctx)
        try:
            # A name no queue can have matches nothing: say so (exit 2), as queue pause
            # does, rather than answer "No jobs." for a typo like 'bad q'.
            return queue_name(value)
        except ValidationError as exc:
            self.fail(str(exc), param, ctx)


QUEUE_NAME = QueueNameType()


def _one_queue(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> str | None:
    """A queue filter given once, or not at all. Repeated, click kept the last: ``cancel
    --queue images --queue default --yes`` cancelled the default queue's jobs alone, and
    ``wait --queue a --queue b`` returned while a's ran."""
    if len(values) > 1:
        named = ", ".join(repr(value) for value in values)
        raise click.BadParameter(
            f"one queue at a time (got {named}); run the command once for each",
            ctx=ctx,
            param=param,
        )
    return values[0] if values else None


def queue_filter_option(help_text: str) -> Callable[[F], F]:
    """``--queue/-q NAME``: one queue to select jobs by (see ``_one_queue``)."""
    return click.option(
        "--queue",
        "-q",
        metavar="NAME",
        help=help_text,
        type=QUEUE_NAME,
        multiple=True,
        callback=_one_queue,
    )


class SearchTextType(click.ParamType):
    """Text to search ids and commands for, refused past ``jobspec.MAX_SEARCH`` (exit 2)
    on every backend alike."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from queuectl.jobspec import search_text

        try:
            return search_text(str(value))
        except ValidationError as exc:
            self.fail(str(exc), param, ctx)


SEARCH_TEXT = SearchTextType()

search_option = click.option(
    "--search",
    "-S",
    metavar="TEXT",
    type=SEARCH_TEXT,
    help="Only jobs whose id or command holds TEXT.",
)
"""``--search/-S TEXT`` of ``list`` and ``dlq list`` (see ``SearchTextType``)."""


class WholeNumberType(click.ParamType):
    """An integer option typed as a person types one: ``1_0`` or ``٣`` is refused, not
    read as 10 or 3 as click's ``int`` reads them (``plainnum``)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int):
            return value
        try:
            return plain_int(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a whole number", param, ctx)


WHOLE_NUMBER = WholeNumberType()


class LimitType(click.ParamType):
    """``--limit N``: a whole number as ``WHOLE_NUMBER`` reads one, at least 1, and at most
    what the database's integers hold (past 2**63 - 1 it was a traceback on SQLite, a
    database error on PostgreSQL). Shown in help as ``N``: click's ``IntRange`` printed
    ``[1<=x<=4611686018427387904]`` under every listing command."""

    name = "n"
    MAX = 2**62

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = WHOLE_NUMBER.convert(value, param, ctx)
        if number < 1:
            self.fail(f"must be at least 1 (got {number})", param, ctx)
        if number > self.MAX:
            self.fail(f"must be at most {self.MAX:,} (got {number})", param, ctx)
        return number


LIMIT = LimitType()


_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029]")


def emit_json(data: Any) -> None:
    """Print JSON with every character a terminal could act on escaped.

    ``json.dumps`` escapes C0 controls but passes DEL and the C1 range (``\\x9b``
    is a one-byte CSI on some terminals) through; those are escaped here too.
    """
    text = json.dumps(data, indent=2, ensure_ascii=False)
    click.echo(_UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def written_jobs(jobs: Sequence[Job]) -> list[dict[str, Any]]:
    """The ``--json`` of jobs a command wrote (``enqueue``, ``add``, ``clone``, ``edit``):
    each record whole (``output`` too: clone's and edit's lacked the two keys enqueue's
    had) with ``after``, the ids it waits for, as ``show --json`` gives them. A clone of a
    blocked job came out ``blocked`` with nothing to say on what."""
    from queuectl.lifecycle.deps import dependencies_of_many
    from queuectl.records import job_record

    after = dependencies_of_many([job.id for job in jobs])
    return [{**job_record(job), "after": after.get(job.id, [])} for job in jobs]


def error_line(message: str) -> None:
    """One ``Error: …`` line on stderr for one failure among several (the command goes on)."""
    click.echo(f"Error: {_one_line(message)}", err=True)


class _Interrupts:
    seen = False


def note_interrupts(
    *, defer_in: Callable[[FrameType | None], bool] | None = None
) -> Callable[[], bool]:
    """Make Ctrl+C stick, for a command that waits long (``wait``, ``logs --follow``):
    returns whether it came.

    The interrupt is raised where the main thread happens to be; raised inside an
    object's ``__del__`` Python prints "Exception ignored" and goes on, and a ``wait``
    on a job no worker serves then waited for ever (once in a CI run). The loop also
    looks at this each turn and ends as Ctrl+C ends every command (130).

    Args:
        defer_in: says, from the frame the signal landed in, that it must only be
            noted there, for the loop to act on at its next look (``metrics
            --serve``: raised inside a response, wsgiref printed a traceback,
            answered 500 and served on).
    """

    def on_interrupt(_signum: int, frame: FrameType | None) -> None:
        _Interrupts.seen = True
        if defer_in is None or not defer_in(frame):
            raise KeyboardInterrupt

    _Interrupts.seen = False
    signal.signal(signal.SIGINT, on_interrupt)
    return lambda: _Interrupts.seen


def exit_interrupted() -> NoReturn:
    """Exit 130 after Ctrl+C, quietly, as a shell reports SIGINT rather than as a failure.

    On a terminal the line is ended first: a shell starts a new line after a death by
    SIGINT, not after an exit, and its prompt came right after the ``^C`` the terminal
    echoed (``logs --follow``, ``wait``)."""
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    sys.exit(INTERRUPTED)


def note(message: str) -> None:
    """A remark for people on stderr (never in the way of stdout a script reads)."""
    click.echo(_one_line(message), err=True)


def stdin_is_terminal() -> bool:
    """Whether there is a person to ask (tests replace this)."""
    return sys.stdin.isatty()


def confirm_many(question: str, *, yes: bool) -> None:
    """Ask before a command changes many jobs; ``--yes`` answers for scripts.

    Raises:
        BadInput: no terminal to ask on and no ``--yes`` (exit 2): a script must
            say it means it, rather than hang on a prompt or act unasked.
        click.Abort: the person said no (exit 1).
    """
    if yes:
        return
    if not stdin_is_terminal():
        raise BadInput(f"{question.rstrip('?')}: add --yes to confirm (no terminal to ask on)")
    try:
        agreed = click.confirm(question, default=False, err=True)
    except click.Abort as exc:
        # click answers Ctrl+C at its prompt as a "no" (exit 1): a wrapper could not tell
        # an interrupt from an answer. Ctrl+C exits 130 here as everywhere else.
        click.echo(err=True)  # the prompt's line ends ("Aborted." was put on it after ^D)
        if isinstance(exc.__context__, KeyboardInterrupt):
            raise click.Abort() from exc.__context__
        raise
    if not agreed:
        raise click.Abort


def yes_option(func: F) -> F:
    return click.option(
        "--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed without a terminal)."
    )(func)
