"""What the dashboard does for the Queues pane: pause or resume (asking first), set a limit,
show a queue's jobs. Mixed into the App beside ``ActionsApp``'s other intents."""

from __future__ import annotations

from typing import Any

from queuectl.lifecycle import queues
from queuectl.textsafe import one_line
from queuectl.wording import counted
from tui.data import JobFilter
from tui.panes.queues import QueuesPane
from tui.screens.limit import LimitScreen


class QueueIntents:
    """``_intent_*`` handlers found by ``ActionsApp.on_intent``, for the Queues pane's keys."""

    queues_pane: QueuesPane

    def _queue_row(self, name: str) -> dict[str, Any]:
        # The pane's own rows, the ones on screen: a snapshot read while another pane
        # was shown holds none (its queues are read only while shown), so ``6 p`` typed
        # from the Jobs pane took a paused schedule for running and paused it again.
        data = self.queues_pane.data
        return (data.raw.get(name) if data is not None else None) or {}

    def _intent_toggle_pause_queue(self, name: str | None) -> None:
        if not name:
            return
        app: Any = self
        row = self._queue_row(name)
        shown = one_line(name)
        running = int(row.get("running") or 0)
        if row.get("paused"):
            app._confirm(
                f"Resume queue {shown}? {_who_takes_its_jobs(row)}",
                lambda: app.run_in_thread(
                    lambda: queues.resume([name]),
                    lambda _: f"Queue {shown} resumed",
                    doing=f"Resuming queue {shown}",
                ),
                yes="Resume",
            )
            return
        # "The 1 running go on" read as a typo.
        verb = "goes" if running == 1 else "go"
        goes_on = f" The {counted(running, 'running job')} {verb} on." if running else ""
        app._confirm(
            f"Pause queue {shown}? No new job of it starts on any worker or host.{goes_on}",
            lambda: app.run_in_thread(
                lambda: queues.pause([name]),
                lambda _: f"Queue {shown} paused",
                doing=f"Pausing queue {shown}",
            ),
            yes="Pause",
        )

    def _intent_limit_queue(self, name: str | None) -> None:
        if not name:
            return
        app: Any = self
        shown = one_line(name)

        def answered(result: tuple[int | None] | None) -> None:
            if result is None:
                return
            (limit,) = result
            app.run_in_thread(
                lambda: queues.set_limit(name, limit),
                lambda _: (
                    f"Queue {shown}: "
                    + ("no limit" if limit is None else f"at most {limit} running at once")
                ),
                doing=f"The limit of queue {shown}",
            )

        app.push_screen(LimitScreen(name, self._queue_row(name).get("limit")), answered)

    def _intent_queue_jobs(self, name: str | None) -> None:
        if not name:
            return
        app: Any = self
        app.jobs_pane.set_filter(JobFilter(queue=name))
        app.action_show_pane("jobs")
        app.refresh_now()


def _who_takes_its_jobs(row: dict[str, Any]) -> str:
    """What resuming a queue sets going: the question said its jobs "start again on every
    worker" when no worker served the queue, so they would go on waiting."""
    workers, waiting = int(row.get("workers") or 0), int(row.get("waiting") or 0)
    if workers:
        return f"Its waiting jobs start again on the {counted(workers, 'worker')} serving it."
    if waiting:
        verb = "waits" if waiting == 1 else "wait"
        return f"No live worker serves it: its {counted(waiting, 'waiting job')} {verb} for one."
    return "No live worker serves it yet."
