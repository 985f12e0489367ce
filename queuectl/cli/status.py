"""``queuectl status``: jobs per state, the workers, and what nobody will run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from queuectl.cli.common import AppContext, db_option, emit_json, json_option, pass_app, warn
from queuectl.wording import counted, figure, listed, rate

if TYPE_CHECKING:
    from rich.text import Text

    from queuectl.lifecycle.queues import Steering
    from queuectl.lifecycle.schedules import Outlook


@click.command()
@click.option("--all", "-a", "show_all", is_flag=True, help="Also stopped and lost workers.")
@db_option
@json_option
@pass_app(read_only=True)
def status(app: AppContext, show_all: bool, as_json: bool) -> None:
    """Jobs per state, the live workers with what they run, and warnings.

    Warns when jobs wait in a queue that no live worker serves. Text and
    --json list the same workers: the live ones, and with --all the stopped
    and lost ones too (lost: died without stopping, e.g. kill -9).
    """
    from queuectl.lifecycle import queues, reads, schedules, stats
    from queuectl.lifecycle.workers import live_of, queues_served, workers_as_seen
    from queuectl.location import describe
    from queuectl.states import JobState
    from queuectl.store.transactions import read_transaction
    from queuectl.textsafe import one_line, shell_word

    location = app.open()  # warns about a file others could write (see AppContext.open)
    with read_transaction():
        # Completed jobs are the history that grows: counted as the total less the
        # others, from the b-tree's page counts (at 100k jobs 0.5 ms, against 7 ms).
        counts = reads.counts(by_difference=JobState.COMPLETED.value)
        waiting = reads.waiting_per_queue()
        workers = workers_as_seen(include_ended=True)
        recent = stats.recent()
        steered = queues.steered()
        running = reads.running_per_queue() if steered else {}
        planned = schedules.outlook()
    live = live_of(workers)
    shown = workers if show_all else live
    served = queues_served(live)
    unserved = {name: count for name, count in waiting.items() if name not in served}
    # A worker would not run a paused queue's jobs either: say so, or "start one" alone
    # sent people to start workers that then sat idle.
    paused = sorted(name for name in unserved if any(s.name == name and s.paused for s in steered))
    # With no worker at all, the Workers section below says so, naming the queues.
    if live and len(unserved) > UNSERVED_NAMED:
        # One line for many: fifteen queues made fifteen warnings, each with its hint.
        names = [one_line(name) for name in sorted(unserved, key=lambda n: (-unserved[n], n))]
        held_back = f"; {len(paused)} of them paused" if paused else ""
        warn(
            f"{_jobs_wait(sum(unserved.values()))} in {len(unserved)} queues no live worker"
            f" serves: {listed(names[:UNSERVED_NAMED], len(names))}{held_back}"
            " (start one: queuectl worker start --queue NAME,…; --json lists them all)"
        )
    for name, count in unserved.items() if live and len(unserved) <= UNSERVED_NAMED else ():
        shown_name = one_line(name)  # from the database: a hostile row's too
        word = shell_word(name)  # and a word of a command to paste: quoted where it must be
        also = f"; it is paused too: queuectl queue resume {word}" if name in paused else ""
        warn(
            f"{_jobs_wait(count)} in queue {shown_name!r}, which no live worker serves"
            f" (start one: queuectl worker start --queue {word}{also})"
        )
    if as_json:
        from queuectl.records import worker_record

        emit_json(
            {
                "jobs": counts,
                "workers": [worker_record(w) for w in shown],
                "unserved_queues": unserved,
                "average_duration": _rounded(recent.average_duration),
                "per_minute": round(recent.per_minute, 2),
                "steered_queues": [
                    {"name": s.name, "paused": s.paused, "limit": s.limit} for s in steered
                ],
                "schedules": planned.record(),
            }
        )
        return
    from rich.text import Text

    from queuectl.cli import render
    from queuectl.timeutil import human_duration

    out = render.console()
    out.print(Text(f"Database  {one_line(describe(location))}", style="dim"))
    out.print(Text("Jobs", style="bold"))
    out.print(render.counts_table(counts))
    took = "" if recent.average_duration is None else human_duration(recent.average_duration)
    out.print(
        Text(
            f"Average duration  {took or '-'}  (successful runs, last hour)\n"
            f"Throughput        {rate(recent.per_minute)} jobs/min  (last 5 minutes)"
        )
    )
    if steered:
        out.print(Text("Queues (paused or limited)", style="bold"))
        for entry in steered:
            out.print(_steered_line(entry, running.get(entry.name, 0), waiting.get(entry.name, 0)))
    if planned.count:
        out.print(_schedules_line(planned))
    ended = len(workers) - len(live)
    title = f"Workers ({len(live)} running"
    title += f", {ended} stopped or lost)" if show_all else ")"
    out.print(Text(title, style="bold"))
    if shown:
        out.print(render.workers_table(shown, width=render.fits(out)))
    if not live:
        start = "queuectl worker start"
        if unserved:
            start += f" --queue {shell_word(','.join(unserved))}"
            waiting = f"; {_jobs_wait(sum(unserved.values()))}"
        else:
            waiting = ""
        resume = (
            f"; paused, so resume too: queuectl queue resume {' '.join(map(shell_word, paused))}"
            if paused
            else ""
        )
        out.print(
            Text(f"no workers running{waiting}; start some with: {start}{resume}", style="dim")
        )
    lost = sum(1 for worker in workers if worker.state == "lost")
    if lost and not show_all:
        out.print(
            Text(
                f"{counted(lost, 'lost worker')} (died without stopping):"
                " status --all shows them, worker prune removes them",
                style="dim",
            )
        )


def _steered_line(entry: Steering, running: int, waiting: int) -> Text:
    """``images  paused, limit 2: 1 running, 4 waiting`` (the name made inert)."""
    from rich.text import Text

    from queuectl.textsafe import one_line

    what = [part for part in ("paused" if entry.paused else "",) if part]
    if entry.limit is not None:
        what.append(f"limit {entry.limit}")
    line = Text(f"{one_line(entry.name):<11} ")
    line.append(", ".join(what), style="bold yellow" if entry.paused else "")
    line.append(f": {figure(running)} running, {figure(waiting)} waiting", style="dim")
    return line


def _schedules_line(planned: Outlook) -> Text:
    """``Schedules  3 (1 paused); next: nightly in 4h12m`` (the name made inert)."""
    import time

    from rich.text import Text

    from queuectl.textsafe import one_line
    from queuectl.timeutil import human_duration

    line = Text(f"Schedules  {figure(planned.count)}")
    if planned.paused:
        line.append(f" ({figure(planned.paused)} paused)", style="yellow")
    if planned.next_name is None or planned.next_fire_at is None:
        line.append("; none active", style="dim")
        return line
    wait = planned.next_fire_at - time.time()
    when = f"in {human_duration(wait)}" if wait >= 1 else "due now"
    line.append(f"; next: {one_line(planned.next_name)} {when}", style="dim")
    return line


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


UNSERVED_NAMED = 3
"""Past this many queues nobody serves, one warning names the first few (the most jobs)."""


def _jobs_wait(count: int) -> str:
    return "1 job waits" if count == 1 else f"{figure(count)} jobs wait"


COMMANDS = (status,)
