"""The Schedules pane's cells: one row per schedule, made off the UI thread like every table's."""

from __future__ import annotations

from queuectl.lifecycle.schedules import ScheduleView
from queuectl.states import STATE_STYLES
from queuectl.textsafe import one_line
from queuectl.timeutil import human_duration
from tui.cells import Parts, TableData, age, build_table


def countdown(now: float, then: float | None) -> str:
    """``in 12s``, ``in 3h10m``, ``due`` (a worker fires it within a second), or ``-``."""
    if then is None:
        return "-"
    if then <= now:
        return "due"
    return f"in {human_duration(then - now)}"


def schedule_parts(view: ScheduleView, now: float) -> Parts:
    """Name, spec in words, zone, next fire (``paused`` while paused), last fire and its
    job's state, skipped ticks. No Paused column: Next says it, and at 80 columns the
    column's yes/no kept its width while a paused schedule's spec was cut."""
    if view.last_job_id is None:
        state = ("", "")
    elif view.last_job_state is None:
        state = ("gone", "dim")
    else:
        state = (view.last_job_state, STATE_STYLES.get(view.last_job_state, ""))
    return (
        (one_line(view.name), "bold yellow" if view.paused else ""),
        (one_line(view.explained), ""),
        (one_line(view.zone), "dim" if view.zone == "UTC" else ""),
        ("paused", "bold yellow") if view.paused else (countdown(now, view.next_fire_at), "cyan"),
        (f"{age(now, view.last_fired_at)} ago" if view.last_fired_at else "never", ""),
        state,
        (str(view.skipped), "dark_orange" if view.skipped else "dim"),
    )


def build_schedules(views: list[ScheduleView], now: float, previous: TableData | None) -> TableData:
    """The pane's table; ``raw`` keeps what its keys act on (paused, the spec, the last job)."""
    return build_table(
        [(view.name, schedule_parts(view, now)) for view in views],
        len(views),
        {
            view.name: {"paused": view.paused, "spec": view.spec, "last_job_id": view.last_job_id}
            for view in views
        },
        previous,
        id_columns=(0,),  # the name: a fire's job id starts with it, so both ends tell
    )
