"""Shell completion: ``queuectl completion bash|zsh|fish``, and what completes from the database.

The scripts are click's own. Job ids, queue names and schedule names come from the database
the command line names (``--db``, else ``$QUEUECTL_DB``, else the default),
opened as read-only commands open it: a missing database is never created,
only answered as empty, and nothing is printed (a completion must not write to
the terminal). A completion that fails for any reason completes nothing rather
than break the user's shell. States and config keys need no database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import click
from click.shell_completion import (
    BashComplete,
    CompletionItem,
    add_completion_class,
    get_completion_class,
    split_arg_string,
)

SHELLS = ("bash", "zsh", "fish")

Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]
"""What a completion function is: click calls it with the line's context."""

MAX_ITEMS = 200
"""Completions offered at most: a shell lists them all, and 100,000 ids help no one."""


def _typeable(value: str) -> bool:
    """Whether a stored name can be offered: one a command would accept as typed (job
    ids, queue and schedule names share ``jobspec.ID_PATTERN``'s letters, none of which
    a shell reads as syntax).

    A row written past the CLI (a hostile database, a member of a shared queue) is
    text, not a name: bash puts a candidate on the command line unquoted, so an id
    ``deploy;touch /tmp/pwned`` ran the ``touch`` once the completed line was entered,
    a control character (a newline) came out as two bogus candidates, and an ESC would
    reach the terminal."""
    from queuectl.jobspec import ID_PATTERN

    return ID_PATTERN.fullmatch(value) is not None


def _from_database(ctx: click.Context, read: Callable[[], list[str]]) -> list[str]:
    """``read()`` against the command line's database, opened read-only and silently;
    only names that can be typed (``_typeable``)."""
    from queuectl.cli.common import AppContext

    app = ctx.find_object(AppContext) or AppContext()
    try:
        from queuectl.location import resolve_location, skip_postgres_drivers

        location = resolve_location(app.db_option)
        skip_postgres_drivers(location)
        from queuectl.store.db import open_database

        open_database(location, durable=False, read_only=True, report=lambda _message: None)
        return [value for value in read() if _typeable(value)]
    except Exception:
        return []
    finally:
        with contextlib.suppress(Exception):
            from queuectl.store.db import close_database

            close_database()


def _job_ids_in(state: str | None) -> Completer:
    """A completer of ids starting with what was typed, newest first; of jobs in
    ``state`` alone when one is given."""

    def complete(
        ctx: click.Context, _param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        def read() -> list[str]:
            from queuectl.lifecycle.reads import ids_starting_with

            return ids_starting_with(incomplete, limit=MAX_ITEMS, state=state)

        return [CompletionItem(value) for value in _from_database(ctx, read)]

    return complete


job_ids = _job_ids_in(None)
dead_job_ids = _job_ids_in("dead")
"""The DLQ's ids alone (``dlq retry``): any other id is refused there."""


def queue_names(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Queues that hold jobs or are steered (paused, limited), starting with what was typed."""

    def read() -> list[str]:
        from queuectl.lifecycle.queues import steered
        from queuectl.lifecycle.reads import queue_names as names

        known = sorted({*names(), *(steering.name for steering in steered())})
        return [name for name in known if name.startswith(incomplete)][:MAX_ITEMS]

    return [CompletionItem(value) for value in _from_database(ctx, read)]


def schedule_names(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Schedules whose name starts with what was typed (``cron show``, ``pause``, …)."""

    def read() -> list[str]:
        from queuectl.lifecycle.schedules import names_starting_with

        return names_starting_with(incomplete, limit=MAX_ITEMS)

    return [CompletionItem(value) for value in _from_database(ctx, read)]


def live_worker_ids(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Running workers whose id starts with what was typed (``worker stop``: it offered
    nothing, and a stopped worker's id is only reported as stopped there)."""

    def read() -> list[str]:
        from queuectl.lifecycle.reads import list_workers

        ids = (worker.id for worker in list_workers(include_stopped=False))
        return sorted(worker_id for worker_id in ids if worker_id.startswith(incomplete))[
            :MAX_ITEMS
        ]

    return [CompletionItem(value) for value in _from_database(ctx, read)]


def config_keys(
    _ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from queuectl.config import SPECS

    return [CompletionItem(key) for key in SPECS if key.startswith(incomplete)]


BASH_SOURCE = """\
%(complete_func)s() {
    local IFS=$'\\n'
    local response

    response=$(env COMP_LINE="$COMP_LINE" COMP_POINT=$COMP_POINT \\
%(complete_var)s=bash_complete $1)

    for completion in $response; do
        IFS=',' read type value <<< "$completion"

        if [[ $type == 'dir' ]]; then
            COMPREPLY=()
            compopt -o dirnames
        elif [[ $type == 'file' ]]; then
            COMPREPLY=()
            compopt -o default
        elif [[ $type == 'plain' ]]; then
            COMPREPLY+=($value)
        fi
    done

    return 0
}

%(complete_func)s_setup() {
    complete -o nosort -F %(complete_func)s %(prog_name)s
}

%(complete_func)s_setup;
"""
"""click's bash script, but for the command line it hands over: the line as typed up to
the cursor (``COMP_LINE``, ``COMP_POINT``), not bash's words."""


class ColonSafeBash(BashComplete):
    """Bash completion for words holding ``:`` or ``=`` (``deploy:42``, ``q.a:b``).

    Bash splits the current word at those (``COMP_WORDBREAKS``), so click saw ``42`` for
    ``show deploy:4`` and offered nothing (Tab only beeped), and bash would replace only
    the part after the last break. The words are read from the line as typed, and each
    completion is given without the part before the last break, which bash keeps.
    """

    source_template = BASH_SOURCE

    def get_completion_args(self) -> tuple[list[str], str]:
        import os

        if "COMP_LINE" not in os.environ:  # a script from an older release: bash's words
            self._kept = 0
            return super().get_completion_args()
        line = os.environ["COMP_LINE"]
        line = line[: int(os.environ.get("COMP_POINT", len(line)))]
        try:
            words = split_arg_string(line)
        except ValueError:
            words = line.split()
        if not line or line[-1].isspace():
            words.append("")  # the cursor starts a new word
        incomplete = words[-1]
        # What click completes: the value of "--queue=q.a:b", the word itself otherwise.
        value = incomplete.partition("=")[2] if incomplete.startswith("-") else incomplete
        self._kept = max(value.rfind(":"), value.rfind("=")) + 1
        typed = "" if not line or line[-1].isspace() else line.split()[-1]
        if any(mark in typed for mark in "'\"\\"):
            # Quoted or escaped, bash does not break the word at ':': it replaces it all
            # ("'db:mig" became "'migrate:v", what was typed before the ':' lost).
            self._kept = 0
        return words[1:-1], incomplete

    def format_completion(self, item: CompletionItem) -> str:
        return f"{item.type},{item.value[getattr(self, '_kept', 0) :]}"


add_completion_class(ColonSafeBash, "bash")


def install(root: click.Group) -> None:
    """Attach the completions to every command's job-id arguments and queue/key parameters.

    Done here, once, rather than in a dozen decorators: each parameter's public
    ``shell_complete(ctx, incomplete)`` method is replaced on the instance (what
    ``shell_complete=`` at construction would make it call).
    """
    for command in _walk(root):
        for param in command.params:
            if param.name in ("job_id", "job_ids", "after"):  # add --after: a job id too
                _complete_with(param, job_ids)
            elif param.name == "queue" or param.name == "queues":
                _complete_with(param, queue_names)
            elif param.name == "key" and command.name in ("get", "set", "reset"):
                _complete_with(param, config_keys)
    queue = root.commands.get("queue")
    for command in queue.commands.values() if isinstance(queue, click.Group) else ():
        for param in command.params:  # queue pause|resume NAME…, queue limit NAME N
            if param.name in ("name", "names") and isinstance(param, click.Argument):
                _complete_with(param, queue_names)
    dlq = root.commands.get("dlq")
    retry = dlq.commands.get("retry") if isinstance(dlq, click.Group) else None
    for param in retry.params if retry is not None else ():
        if param.name == "job_ids":  # only the DLQ's: any other id is refused there
            _complete_with(param, dead_job_ids)
    worker = root.commands.get("worker")
    stop = worker.commands.get("stop") if isinstance(worker, click.Group) else None
    for param in stop.params if stop is not None else ():
        if param.name == "refs":
            _complete_with(param, live_worker_ids)
    cron = root.commands.get("cron")
    for name, command in cron.commands.items() if isinstance(cron, click.Group) else ():
        for param in command.params:
            # ``cron add`` names a new schedule: nothing to complete there.
            if name != "add" and param.name == "name" and isinstance(param, click.Argument):
                _complete_with(param, schedule_names)


def _complete_with(param: click.Parameter, completer: Completer) -> None:
    def shell_complete(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        return completer(ctx, param, incomplete)

    param.shell_complete = shell_complete  # type: ignore[method-assign]


def _walk(command: click.Command) -> list[click.Command]:
    found = [command]
    if isinstance(command, click.Group):
        for child in command.commands.values():
            found.extend(_walk(child))
    return found


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for a shell; ids, states, queues, keys, schedules complete.

    \b
    bash:  echo 'eval "$(queuectl completion bash)"' >> ~/.bashrc
    zsh:   echo 'eval "$(queuectl completion zsh)"' >> ~/.zshrc
    fish:  queuectl completion fish > ~/.config/fish/completions/queuectl.fish
    """
    root = ctx.find_root().command
    cls: Any = get_completion_class(shell)
    click.echo(cls(root, {}, "queuectl", "_QUEUECTL_COMPLETE").source())


COMMANDS = (completion,)
