"""What the dashboard does for the Schedules pane: pause or resume, run now (asking first),
show a schedule's fired jobs. Mixed into the App beside the other intents."""

from __future__ import annotations

from typing import Any

from queuectl.lifecycle import schedules
from queuectl.textsafe import one_line
from tui.data import JobFilter
from tui.panes.schedules import SchedulesPane


class ScheduleIntents:
    """``_intent_*`` handlers found by ``ActionsApp.on_intent``, for the Schedules pane's keys."""

    schedules_pane: SchedulesPane

    def _schedule_row(self, name: str) -> dict[str, Any]:
        # The pane's own rows, the ones on screen: a snapshot read while another pane
        # was shown holds none (its schedules are read only while shown), so ``6 p`` typed
        # from the Jobs pane took a paused schedule for running and paused it again.
        data = self.schedules_pane.data
        return (data.raw.get(name) if data is not None else None) or {}

    def _intent_toggle_pause_schedule(self, name: str | None) -> None:
        """``p``: at once, as ``cron pause``/``resume`` do (nothing is lost either way)."""
        if not name:
            return
        app: Any = self
        shown = one_line(name)
        if self._schedule_row(name).get("paused"):
            app.run_in_thread(
                lambda: schedules.resume(name),
                lambda _: f"Schedule {shown} resumed",
                doing=f"Resuming schedule {shown}",
            )
        else:
            app.run_in_thread(
                lambda: schedules.pause(name),
                lambda _: f"Schedule {shown} paused",
                doing=f"Pausing schedule {shown}",
            )

    def _intent_run_schedule(self, name: str | None) -> None:
        """``t``: one job now, outside the schedule, after a question naming it."""
        if not name:
            return
        app: Any = self
        shown = one_line(name)
        spec = one_line(str(self._schedule_row(name).get("spec") or ""))
        app._confirm(
            f"Run schedule {shown} ({spec}) now? One job is enqueued outside its schedule.",
            lambda: app.run_in_thread(
                lambda: schedules.run_now(name),
                lambda job_id: f"Enqueued job {job_id}",
                doing=f"Running schedule {shown} now",
            ),
            yes="Run now",
        )

    def _intent_schedule_jobs(self, name: str | None) -> None:
        """``enter``: the Jobs pane, filtered to ids starting ``NAME:`` (its fires, and only
        its: ``backup:`` is not a prefix of ``db-backup:…``)."""
        if not name:
            return
        app: Any = self
        app.jobs_pane.set_filter(JobFilter(id_prefix=f"{name}:"))
        app.action_show_pane("jobs")
        app.refresh_now()
