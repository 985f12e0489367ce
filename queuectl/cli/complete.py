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
from click.shell_completion import CompletionItem, get_completion_class

SHELLS = ("bash", "zsh", "fish")

MAX_ITEMS = 200
"""Completions offered at most: a shell lists them all, and 100,000 ids help no one."""


def _from_database(ctx: click.Context, read: Callable[[], list[str]]) -> list[str]:
    """``read()`` against the command line's database, opened read-only and silently."""
    from queuectl.cli.common import AppContext

    app = ctx.find_object(AppContext) or AppContext()
    try:
        from queuectl.location import resolve_location, skip_postgres_drivers

        location = resolve_location(app.db_option)
        skip_postgres_drivers(location)
        from queuectl.store.db import open_database

        open_database(location, durable=False, read_only=True, report=lambda _message: None)
        return read()
    except Exception:
        return []
    finally:
        with contextlib.suppress(Exception):
            from queuectl.store.db import close_database

            close_database()


def job_ids(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Ids starting with what was typed, newest first."""

    def read() -> list[str]:
        from queuectl.lifecycle.reads import ids_starting_with

        return ids_starting_with(incomplete, limit=MAX_ITEMS)

    return [CompletionItem(value) for value in _from_database(ctx, read)]


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


def config_keys(
    _ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from queuectl.config import SPECS

    return [CompletionItem(key) for key in SPECS if key.startswith(incomplete)]


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
    cron = root.commands.get("cron")
    for name, command in cron.commands.items() if isinstance(cron, click.Group) else ():
        for param in command.params:
            # ``cron add`` names a new schedule: nothing to complete there.
            if name != "add" and param.name == "name" and isinstance(param, click.Argument):
                _complete_with(param, schedule_names)


Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


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
