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
from queuectl.states import is_held
from queuectl.store.models import Job
from queuectl.textsafe import bounded, one_line
from queuectl.timeutil import iso
from tui.actions import REFUSED, dependents_said
from tui.batch import BatchApp
from tui.screens.confirm import ConfirmScreen
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
        edited = self.core_call(
            lambda: editing.target(job_id), doing=f"Edit of job {one_line(job_id)}"
        )
        if edited is REFUSED:
            return
        self.call_from_thread(self._open_edit_form, edited)

    def _open_edit_form(
        self,
        edited: editing.EditTarget,
        typed: dict[str, str] | None = None,
        error: str | None = None,
    ) -> None:
        """The edit form; an edit the store refuses opens it again as it was typed."""
        job = edited.job
        job_id = job.id
        retried = " (saving retries it)" if job.state in editing.RETRIED_BY_EDIT else ""
        # The state and the warning first: a schedule's fire id (60 characters) cut the
        # title at the form's edge, and "(it is retried)" was what went.
        title = f"Edit {job.state} job{retried}: {one_line(job_id)}"  # a hostile id's too
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
                    self._offer_as_new_job(edited, changes, screen.submitted)
                else:
                    self._open_edit_form(edited, screen.submitted, why)

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

    def _offer_as_new_job(
        self, edited: editing.EditTarget, changes: dict[str, object], typed: dict[str, str]
    ) -> None:
        """Ask to enqueue an edit whose job was deleted meanwhile as a new job, the job's
        env, hooks and dependencies kept; declined or refused, the form comes back as
        typed, so nothing typed is lost before ``esc`` asks."""
        job_id = one_line(edited.job.id)
        gone = f"no job with id {edited.job.id!r}: it was deleted meanwhile"

        def answered(yes: bool | None) -> None:
            if not yes:
                self._open_edit_form(edited, typed, gone)
                return
            self.run_in_thread(
                lambda: editing.as_new_job(edited, changes, now=self.clock()),
                lambda new: (
                    f"Enqueued job {new.job.id}: your edit of job {job_id}, deleted meanwhile"
                    + _dropped_said(new.dropped)
                ),
                failed=lambda why: self._open_edit_form(
                    edited, typed, f"{gone}; as a new job: {why}"
                ),
                doing=f"Your edit of job {job_id} as a new job",
            )

        self.push_screen(
            ConfirmScreen(
                f"Job {job_id} was deleted meanwhile. Enqueue your edit as a new job (a new id;"
                " its env, hooks and dependencies kept, as clone keeps them)?",
                "Enqueue as new",
            ),
            answered,
        )

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


def _dropped_said(dropped: tuple[str, ...]) -> str:
    """``; it no longer waits for p1 (deleted too)``: a dependency gone holds nothing
    back, as with clone, but the new job then ran at once without a word."""
    if not dropped:
        return ""
    named = ", ".join(one_line(job_id) for job_id in dropped)
    return f"; it no longer waits for {named} (deleted too)"
