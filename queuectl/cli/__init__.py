"""The ``queuectl`` command line: every operation as a plain subcommand.

Each command imports what it needs inside its body, so a quick
``queuectl enqueue`` never pays for Rich tables or Textual.
"""

from __future__ import annotations

import sys

import click

from queuectl import __version__
from queuectl.cli import complete
from queuectl.cli.common import (
    OTHER_TOOLS_NAMES,
    AppContext,
    BadInput,
    QueuectlGroup,
    db_option,
    why_unwritable,
)
from queuectl.cli.cron import COMMANDS as CRON_COMMANDS
from queuectl.cli.dlq import dlq
from queuectl.cli.edit import COMMANDS as EDIT_COMMANDS
from queuectl.cli.jobs import COMMANDS as JOB_COMMANDS
from queuectl.cli.logs import COMMANDS as LOG_COMMANDS
from queuectl.cli.manage import COMMANDS as MANAGE_COMMANDS
from queuectl.cli.observe import COMMANDS as OBSERVE_COMMANDS
from queuectl.cli.queues import COMMANDS as QUEUE_COMMANDS
from queuectl.cli.settings import config
from queuectl.cli.status import COMMANDS as STATUS_COMMANDS
from queuectl.cli.waiting import COMMANDS as WAIT_COMMANDS
from queuectl.cli.web import web
from queuectl.cli.workers import COMMANDS as WORKER_COMMANDS


@click.group(
    cls=QueuectlGroup,
    other_names=OTHER_TOOLS_NAMES,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", "-V", prog_name="queuectl")
@db_option
@click.pass_context
def cli(ctx: click.Context) -> None:
    """A durable job queue for shell commands, with a terminal dashboard.

    \b
    queuectl enqueue '{"command": "sleep 2 && echo done"}'
    queuectl worker start --count 2
    queuectl status
    queuectl tui
    """
    ctx.ensure_object(AppContext)


for command in (
    *JOB_COMMANDS,
    *STATUS_COMMANDS,
    *OBSERVE_COMMANDS,
    *WAIT_COMMANDS,
    *complete.COMMANDS,
    *MANAGE_COMMANDS,
    *EDIT_COMMANDS,
    *LOG_COMMANDS,
    dlq,
    config,
    *WORKER_COMMANDS,
    *QUEUE_COMMANDS,
    *CRON_COMMANDS,
    web,
):
    cli.add_command(command)


@cli.command()
@db_option
@click.pass_obj
def tui(app: AppContext) -> None:
    """Open the full-screen dashboard."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        # Textual reads keys from stdin and draws on stderr: without both it would
        # draw into a file and wait for keys that never come.
        raise BadInput(
            "the dashboard needs a terminal on stdin and stderr; for scripts use"
            " queuectl status, list or wait"
        )
    try:
        from tui.app import make_app
    except ImportError as exc:  # pragma: no cover - only when installed without the tui package
        raise click.ClickException(f"the dashboard is not available: {exc}") from None
    # Files that cannot be written (a read-only mount) are still read by status and
    # list: the dashboard opens read-only on them and says why, where it refused to open.
    because = why_unwritable(app.resolve())
    app.read_only = because is not None
    location = app.open(defer_unreachable=True)  # opened during an incident: its banner says so
    dashboard = make_app(location, freeze_startup_heap=True, read_only_because=because)
    dashboard.run()
    if dashboard.ended_because:
        raise click.ClickException(dashboard.ended_because)
    # A dashboard that ended on an error (Textual printed it) must not look like a quit.
    sys.exit(dashboard.return_code or 0)


complete.install(cli)


def main() -> None:
    cli(prog_name="queuectl")
