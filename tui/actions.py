"""What the dashboard does when asked: each request runs off the UI thread and is reported.

``ActionsApp`` is the half of the App that acts on ``Intent`` messages posted by
panes and screens: it asks for confirmation where data would be lost, calls the
core (``queue``, ``config``, ``supervisor``) in a thread worker, and turns the
outcome, or the core's ``QueueError``/``ValidationError``, into a toast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from textual import work
from textual.app import App

from queuectl.errors import QueueError, ValidationError
from queuectl.lifecycle import manage, settings
from queuectl.store.models import JobState, database
from queuectl.textsafe import one_line
from tui.data import Snapshot
from tui.messages import Intent, SaveSettings
from tui.screens.confirm import ConfirmScreen, CountScreen
from tui.screens.detail import JobDetailScreen

STOP_WAIT_SECONDS = 60.0
"""How long a graceful stop is awaited (in a thread) before saying it is still stopping."""


def _supervisor() -> ModuleType:
    """The worker runtime, imported on first use so the dashboard runs without it."""
    try:
        return importlib.import_module("queuectl.runtime.supervisor")
    except ModuleNotFoundError as exc:
        if exc.name != "queuectl.runtime.supervisor":
            raise
        raise QueueError("the worker runtime (queuectl.supervisor) is not available") from None


class ActionsApp(App[None]):
    """The App's side that carries out intents; ``QueueApp`` adds layout and refresh."""

    location: str
    clock: Callable[[], float]
    refresh_interval: float
    last_snapshot: Snapshot | None
    toasts: list[str]

    def refresh_now(self) -> None:
        """Re-read the database now (the refresh loop lives in ``QueueApp``)."""
        raise NotImplementedError

    def action_new_job(self) -> None:
        raise NotImplementedError

    def notify(self, message: str | Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Record the toast, then show it."""
        self.toasts.append(str(message))
        super().notify(message, **kwargs)

    def say(self, message: str, *, error: bool = False, title: str = "") -> None:
        """A toast; text is never parsed as markup (it may hold job ids or user input)."""
        self.notify(
            one_line(message),
            title=title or ("Error" if error else ""),
            severity="error" if error else "information",
            markup=False,
            timeout=8 if error else 4,
        )

    # --- doing things, off the UI thread ----------------------------------------------

    @work(thread=True, group="action", exit_on_error=False)
    def run_in_thread(self, task: Callable[[], Any], describe: Callable[[Any], str]) -> None:
        """Run a core call; toast its outcome (or its ``QueueError``) and refresh."""
        try:
            result = task()
        except (QueueError, ValidationError) as exc:
            self.call_from_thread(self.say, str(exc), error=True)
            return
        finally:
            if not database.is_closed():
                database.close()
        self.call_from_thread(self._done, describe(result))

    def _done(self, message: str) -> None:
        if message:
            self.say(message)
        self.refresh_now()

    def _confirm(self, question: str, then: Callable[[], None], yes: str = "Yes") -> None:
        def answered(ok: bool | None) -> None:
            if ok:
                then()

        self.push_screen(ConfirmScreen(question, yes), answered)

    def on_intent(self, message: Intent) -> None:
        handler = getattr(self, f"_intent_{message.action}")
        handler(message.target)

    def _intent_refresh(self, _target: str | None) -> None:
        self.refresh_now()

    def _intent_new_job(self, _target: str | None) -> None:
        self.action_new_job()

    def _intent_detail(self, job_id: str | None) -> None:
        if job_id:
            self.push_screen(JobDetailScreen(job_id, self.clock, self.refresh_interval))

    def _intent_retry(self, job_id: str | None) -> None:
        if job_id:
            self.run_in_thread(
                lambda: manage.retry([job_id], now=self.clock()),
                lambda _: f"Job {job_id} is pending again",
            )

    def _intent_cancel(self, job_id: str | None) -> None:
        if job_id:
            self.run_in_thread(
                lambda: manage.cancel(job_id, now=self.clock()),
                lambda _: f"Job {job_id} cancelled",
            )

    def _intent_delete(self, job_id: str | None) -> None:
        if not job_id:
            return

        def delete() -> None:
            if isinstance(self.screen, JobDetailScreen) and self.screen.job_id == job_id:
                self.pop_screen()
            self.run_in_thread(lambda: manage.delete(job_id), lambda _: f"Job {job_id} deleted")

        self._confirm(f"Delete job {job_id} and its runs?", delete, yes="Delete")

    def _intent_retry_all_dead(self, _target: str | None) -> None:
        dead = self.last_snapshot.counts.get("dead", 0) if self.last_snapshot else 0
        if not dead:
            self.say("The DLQ is empty")
            return
        self._confirm(
            f"Retry all {dead} dead job(s)?",
            lambda: self.run_in_thread(
                lambda: manage.retry_dead(now=self.clock()),
                lambda n: f"{n} dead job(s) back to pending",
            ),
            yes="Retry all",
        )

    def _intent_purge_dead(self, _target: str | None) -> None:
        dead = self.last_snapshot.counts.get("dead", 0) if self.last_snapshot else 0
        if not dead:
            self.say("The DLQ is empty")
            return
        self._confirm(
            f"Delete all {dead} dead job(s) for good?",
            lambda: self.run_in_thread(
                lambda: manage.purge([JobState.DEAD], now=self.clock()),
                lambda n: f"{n} dead job(s) purged",
            ),
            yes="Purge",
        )

    def _intent_start_workers(self, _target: str | None) -> None:
        def start(count: int | None) -> None:
            if count:
                self.run_in_thread(
                    lambda: _supervisor().start_workers(self.location, count),
                    lambda started: f"Started {len(started)} worker(s)",
                )

        self.push_screen(CountScreen("How many workers to start?"), start)

    def _intent_stop_worker(self, worker_id: str | None) -> None:
        if worker_id:
            self.say(f"Stopping worker {worker_id} (it finishes its current job)")
            self.run_in_thread(
                lambda: self._stop_and_wait([worker_id], force=False),
                lambda still: _stopped_message([worker_id], still),
            )

    def _intent_force_stop_worker(self, worker_id: str | None) -> None:
        if worker_id:
            self._confirm(
                f"Force-stop worker {worker_id}? Its job is killed and goes back to pending.",
                lambda: self.run_in_thread(
                    lambda: self._stop_and_wait([worker_id], force=True),
                    lambda still: _stopped_message([worker_id], still),
                ),
                yes="Force stop",
            )

    def _intent_stop_all_workers(self, _target: str | None) -> None:
        self._confirm(
            "Stop every worker? Each finishes its current job first.",
            lambda: self.run_in_thread(
                lambda: self._stop_and_wait(None, force=False),
                lambda still: "Every worker stopped" if not still else _stopped_message([], still),
            ),
            yes="Stop all",
        )

    def _stop_and_wait(self, worker_ids: list[str] | None, *, force: bool) -> list[str]:
        """Ask workers to stop, then wait (in this thread) for them; returns those still up."""
        supervisor = _supervisor()
        asked = supervisor.request_stop(worker_ids, force=force)
        if not asked:
            return []
        return list(supervisor.wait_stopped(asked, STOP_WAIT_SECONDS))

    def on_save_settings(self, message: SaveSettings) -> None:
        changes = message.changes

        def save() -> list[str]:
            for key, raw in changes.items():
                if raw is None:
                    settings.reset(key)
                else:
                    settings.set_value(key, raw)
            return list(changes)

        self.run_in_thread(save, lambda keys: f"Saved {', '.join(keys)}")


def _stopped_message(asked: list[str], still: list[str]) -> str:
    if still:
        return f"Still stopping after {STOP_WAIT_SECONDS:.0f}s: {', '.join(still)}"
    return f"Worker {', '.join(asked)} stopped" if asked else "Workers stopped"
