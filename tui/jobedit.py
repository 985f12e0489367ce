"""Edit, clone, hold and release from the dashboard: the CLI's ``edit``, ``clone``,
``hold`` and ``release``, through the same core functions.

``e`` opens the job form prefilled (read off the UI thread); what it returns is
merged over the job by ``lifecycle.edit.edit``, all or nothing. ``y`` enqueues a
copy, ``h`` holds a waiting job or releases a held one.
"""

from __future__ import annotations

from textual import work

from queuectl.errors import JobNotFound
from queuectl.lifecycle import edit as editing
from queuectl.lifecycle import manage
from queuectl.lifecycle.reads import get_job
from queuectl.states import is_held
from queuectl.store.models import Job
from queuectl.textsafe import bounded, one_line
from queuectl.timeutil import iso
from tui.actions import REFUSED, dependents_said
from tui.batch import BatchApp
from tui.screens.new_job import NewJobScreen


def form_values(job: Job) -> dict[str, str]:
    """The job as the form's text fields (blank: the queue's default).

    A command past queuectl's limits (written straight to the database) is cut as
    ``show`` cuts it: 10 MB froze the dashboard for 45 s while the field took it. Left
    as shown, it is not sent, and the store refuses the edit saying why; typed anew,
    it replaces the command."""
    values = {
        "command": bounded(job.command),
        "priority": str(job.priority),
        "max_retries": str(job.max_retries),
        "queue": job.queue,
        "run_at": iso(job.run_at) or "",
        "cwd": job.cwd,
    }
    if job.timeout is not None:
        values["timeout"] = f"{job.timeout:g}s"
    return values


class JobEditApp(BatchApp):
    """Carries out the ``edit``, ``clone`` and ``hold`` intents."""

    def _intent_edit(self, job_id: str | None) -> None:
        if job_id:
            self._load_for_edit(job_id)

    @work(thread=True, group="edit", exclusive=True, exit_on_error=False)
    def _load_for_edit(self, job_id: str) -> None:
        job = self.core_call(lambda: _editable(job_id))
        if job is REFUSED:
            return
        self.call_from_thread(self._open_edit_form, job)

    def _open_edit_form(
        self, job: Job, typed: dict[str, str] | None = None, error: str | None = None
    ) -> None:
        """The edit form; an edit the store refuses opens it again as it was typed."""
        job_id = job.id
        retried = " (it is retried)" if job.state in editing.RETRIED_BY_EDIT else ""
        title = f"Edit job {one_line(job_id)}, {job.state}{retried}"  # a hostile id's too
        screen = NewJobScreen(
            form_values(job), title=title, queues=self.known_queues(), typed=typed, error=error
        )

        def save(changes: dict[str, object] | None) -> None:
            if changes is None:
                return
            gone: list[JobNotFound] = []

            def saving() -> editing.Edited:
                try:
                    return editing.edit(job_id, changes, now=self.clock())
                except JobNotFound as exc:
                    gone.append(exc)
                    raise

            def refused(why: str) -> None:
                if gone:  # deleted meanwhile: what was typed can still become a job
                    self._open_new_job_form(
                        screen.submitted,
                        f"{why}: deleted meanwhile. Enqueue adds what you typed as a new job",
                        title=f"New job (job {one_line(job_id)} was deleted)",
                    )
                else:
                    self._open_edit_form(job, screen.submitted, why)

            self.run_in_thread(
                saving,
                lambda saved: (
                    f"Job {job_id} saved ({saved.job.state})"
                    + dependents_said(
                        manage.Outcome(revived=saved.revived, left_dead=saved.left_dead)
                    )
                ),
                failed=refused,
                doing=f"Saving job {job_id}",
            )

        self.push_screen(screen, save)

    def _intent_clone(self, job_id: str | None) -> None:
        if job_id:
            self.run_in_thread(
                lambda: editing.clone(job_id, now=self.clock()),
                lambda copy: f"Cloned job {job_id} as {copy.id}",
                doing=f"Clone of job {job_id}",
            )

    def _intent_release(self, job_id: str | None) -> None:
        """``H`` with nothing marked: release the highlighted job if it is held (it only
        said "mark jobs", so a ``y`` typed to answer a question that never came cloned)."""
        if not job_id:
            return
        row = self._job_row(job_id)
        if row is None or not is_held(row["state"], row.get("held_at")):
            self.say(f"Job {job_id} is not held (h holds it; H releases the marked jobs)")
            return
        self._intent_hold(job_id)  # held: the toggle releases it

    def _intent_hold(self, job_id: str | None) -> None:
        """Hold a waiting job, or release a held one."""
        if not job_id:
            return
        row = self._job_row(job_id)
        held = row is not None and is_held(row["state"], row.get("held_at"))
        action = manage.RELEASE if held else manage.HOLD
        if self._refused_by_state(action, job_id):  # said as c and d say it, at once
            return

        def toggle() -> None:
            outcome = manage.act(action, [job_id], now=self.clock())
            if outcome.refused:
                raise outcome.refused[0]

        self.run_in_thread(
            toggle,
            lambda _: f"Job {job_id} {action.result}",
            doing=f"{action.verb.capitalize()} of job {job_id}",
        )


def _editable(job_id: str) -> Job:
    """The job, once the core agrees it can be edited (``QueueError`` says why not)."""
    job = get_job(job_id)
    editing._check_state(job)
    return job
