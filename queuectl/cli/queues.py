"""``queuectl queue``: list queues, pause and resume them, limit how many jobs run at once."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from queuectl.cli.common import (
    AppContext,
    QueuectlGroup,
    db_option,
    emit_json,
    json_option,
    note,
    pass_app,
)
from queuectl.wording import counted, figure, listed

if TYPE_CHECKING:
    from queuectl.lifecycle.queues import QueueFigures

WAIT_POLL = 0.1
"""How often ``pause --wait`` looks at the paused queues' running jobs."""


@click.group(cls=QueuectlGroup)
@db_option
def queue() -> None:
    """List queues; pause, resume or limit them on every worker and host."""


@queue.command(name="list")
@db_option
@json_option
@pass_app(read_only=True)
def list_(app: AppContext, as_json: bool) -> None:
    """Every queue that has jobs, workers or settings, with its figures.

    Paused or not, the limit of jobs running at once, jobs per state, live
    workers serving it, and runs that ended in the last 5 minutes.
    """
    from queuectl.lifecycle import queues
    from queuectl.store.transactions import read_transaction

    app.open()
    with read_transaction():
        found = queues.figures()
    if as_json:
        emit_json([entry.record() for entry in found])
        return
    if not found:  # a remark, on stderr as list's "No jobs." is: stdout stays the table
        note("no queues yet: a queue exists once a job, a worker or queue pause/limit names it")
        return
    from queuectl.cli import render

    out = render.console()
    out.print(queues_table(found, width=render.fits(out)))


QUEUE_HEADERS = (
    "QUEUE", "STATE", "LIMIT", "PENDING", "BLOCKED", "HELD", "PROCESSING", "COMPLETED",
    "FAILED", "DEAD", "CANCELLED", "WORKERS", "LAST 5M",
)  # fmt: skip
QUEUE_SHRINK = ((0, 12), (10, 0), (12, 0), (7, 0), (2, 0), (1, 0))
"""What gives way at a narrow width: the name narrows, then CANCELLED, LAST 5M, COMPLETED,
LIMIT and STATE go. The figures of jobs waiting or in trouble (held, failed, dead) and the
workers stay: Rich's own squeeze cut them all, and dropped HELD and DEAD whole."""


def queues_table(found: list[QueueFigures], width: int | None = None) -> object:
    """The ``queue list`` table, fitted to ``width`` (``None``: piped, nothing cut): a
    paused queue's name and state stand out; each job is counted once, a held one
    under HELD, not under its state as well."""
    from rich.text import Text

    from queuectl.cli.render import fitted_table
    from queuectl.states import STATE_STYLES
    from queuectl.textsafe import one_line

    waiting = ("pending", "blocked")
    ended = ("processing", "completed", "failed", "dead", "cancelled")
    rows = []
    for entry in found:
        by_state = {
            state: Text(figure(entry.unheld(state)), style=STATE_STYLES.get(state, ""))
            for state in (*waiting, *ended)
        }
        rows.append(
            [
                Text(one_line(entry.name)),
                Text("paused", style="bold yellow")
                if entry.paused
                else Text("active", style="dim"),
                Text("-" if entry.limit is None else str(entry.limit)),  # a setting, as typed
                *[by_state[state] for state in waiting],
                Text(figure(entry.held), style="magenta"),
                *[by_state[state] for state in ended],
                Text(figure(entry.workers)),
                Text(figure(entry.finished_5m)),
            ]
        )
    figures_right = frozenset(QUEUE_HEADERS[2:])
    return fitted_table(QUEUE_HEADERS, rows, width, _shrink(found, rows), right=figures_right)


def _shrink(found: list[QueueFigures], rows: list[list[object]]) -> tuple[tuple[int, int], ...]:
    """``QUEUE_SHRINK``; but a limit someone set stays, and BLOCKED and HELD go first
    where every queue's is 0: at 80 columns ``queue limit images 2`` was followed by a
    ``queue list`` without its LIMIT, beside two columns of zeros (a newcomer's try)."""
    if all(entry.limit is None for entry in found):
        return QUEUE_SHRINK
    blocked, held = QUEUE_HEADERS.index("BLOCKED"), QUEUE_HEADERS.index("HELD")
    zeros = [(c, 0) for c in (blocked, held) if all(str(row[c]) == "0" for row in rows)]
    limit = QUEUE_HEADERS.index("LIMIT")
    return (QUEUE_SHRINK[0], *zeros, *(step for step in QUEUE_SHRINK[1:] if step[0] != limit))


def _report(found: list[QueueFigures], as_json: bool, line: object) -> None:
    if as_json:
        emit_json([entry.record() for entry in found])
        return
    for entry in found:
        click.echo(line(entry))  # type: ignore[operator]


def _figures(names: list[str]) -> list[QueueFigures]:
    from queuectl.lifecycle import queues
    from queuectl.store.transactions import read_transaction

    with read_transaction():
        return queues.figures(names=names)


@queue.command()
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@click.option("--wait", is_flag=True, help="Return once none of their jobs is running.")
@click.option(
    "--timeout",
    metavar="DURATION",
    help="With --wait: give up after this long (exit 1, naming what still runs).",
)
@db_option
@json_option
@pass_app
def pause(
    app: AppContext, names: tuple[str, ...], wait: bool, timeout: str | None, as_json: bool
) -> None:
    """Start no new job of these queues, on any worker or host; running jobs go on.

    Enqueueing into a paused queue still works; its jobs wait for queue resume.
    A queue with no jobs yet may be paused.
    """
    from queuectl.jobspec import queue_name
    from queuectl.lifecycle import queues
    from queuectl.timeutil import parse_duration

    wanted = list(dict.fromkeys(queue_name(name) for name in names))
    seconds = parse_duration(timeout, what="--timeout") if timeout is not None else None
    if seconds is not None and not wait:
        raise click.UsageError("--timeout goes with --wait")
    app.open()
    already = {s.name for s in queues.pause(wanted) if not s.changed}

    def report() -> None:
        _report(
            _figures(wanted),
            as_json,
            lambda e: (
                f"queue {e.name} {'was paused already' if e.name in already else 'paused'}; "
                + (f"{_running_go_on(e.running)}, " if e.running else "")
                + f"{_waiting(e.waiting)}"
            ),
        )

    # The pause is said as soon as it is made, before any wait: printed after it, a
    # Ctrl+C (or a timeout a script's own ``timeout`` set) left stdout empty, though the
    # queues were paused. --json prints one document, after the wait: what runs then.
    if not as_json:
        report()
    still = _wait_idle(wanted, seconds) if wait else None
    if as_json:
        report()
    if still is not None:
        raise click.ClickException(still)


def _running_go_on(count: int) -> str:
    """``1 job running goes on``, ``2 jobs running go on``."""
    return f"{counted(count, 'job')} running {'goes' if count == 1 else 'go'} on"


def _waiting(count: int) -> str:
    """``1 job waits``, ``3 jobs wait``."""
    return f"{counted(count, 'job')} {'waits' if count == 1 else 'wait'}"


def _wait_idle(names: list[str], timeout: float | None) -> str | None:
    """Until no job of ``names`` runs: ``None``; at the timeout, the error naming what
    still runs."""
    from queuectl.lifecycle import queues
    from queuectl.textsafe import one_line

    deadline = None if timeout is None else time.monotonic() + timeout
    running = queues.running_jobs(names)
    if running:  # said before the wait: it printed nothing until the jobs had ended
        note(
            f"paused; waiting for {counted(len(running), 'running job')} to end"
            " (Ctrl+C stops the wait; the queues stay paused)"
        )
    waited = bool(running)
    while running := queues.running_jobs(names):
        if deadline is not None and time.monotonic() >= deadline:
            shown = listed(
                [
                    f"{job_id} in {queue_} ({one_line(command)[:40]})"
                    for queue_, job_id, command in running[:5]
                ],
                len(running),
            )
            return f"still running after {timeout:g}s: {shown} (the queues stay paused)"
        time.sleep(WAIT_POLL)
    if waited:
        note("the running jobs have ended")
    return None


@queue.command()
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@db_option
@json_option
@pass_app
def resume(app: AppContext, names: tuple[str, ...], as_json: bool) -> None:
    """Let paused queues start jobs again (their limits, if any, still hold)."""
    from queuectl.lifecycle import queues

    app.open()
    steered = queues.resume(names)
    already = {s.name for s in steered if not s.changed}
    _report(
        _figures([s.name for s in steered]),
        as_json,
        lambda e: (
            f"queue {e.name} {'was not paused' if e.name in already else 'resumed'};"
            f" {_waiting(e.waiting)}"
        ),
    )


@queue.command(context_settings={"ignore_unknown_options": True})
@click.argument("name", metavar="NAME")
@click.argument("limit", metavar="N|none")
@db_option
@json_option
@pass_app
def limit(app: AppContext, name: str, limit: str, as_json: bool) -> None:
    """Run at most N jobs of a queue at once across all workers and hosts (none: no limit).

    Enforced in the claim itself: jobs already running go on, new ones start
    only while fewer than N run. Only running jobs count, not waiting ones.
    """
    from queuectl.jobspec import queue_limit, queue_name
    from queuectl.lifecycle import queues

    name = queue_name(name)
    parsed = queue_limit(limit)
    app.open()
    same = "" if queues.set_limit(name, parsed).changed else ", as it was"

    def line(entry: QueueFigures) -> str:
        running = f"{figure(entry.running)} running"
        if entry.limit is None:
            return f"queue {entry.name}: no limit{same} ({running})"
        return f"queue {entry.name}: at most {entry.limit} at once{same} ({running})"

    _report(_figures([name]), as_json, line)


COMMANDS = (queue,)
