"""What the dashboard does when asked: each request runs off the UI thread and is reported.

``ActionsApp`` is the half of the App that acts on ``Intent`` messages posted by
panes and screens: it asks for confirmation (naming the job or worker) before
anything that kills, deletes or stops, calls the core (``queue``, ``config``,
``supervisor``) in a thread worker, and turns the outcome, or the core's
``QueueError``/``ValidationError``, into a toast.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections import deque
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from textual import events, work
from textual.notifications import Notify

from queuectl.errors import QueueError, StoreUnavailable, ValidationError
from queuectl.hostid import pid_alive, this_host
from queuectl.jobspec import ID_PATTERN
from queuectl.lifecycle import deps, manage, reads, settings
from queuectl.lifecycle import queues as queue_rules
from queuectl.store.db import BUSY_TIMEOUT_MS
from queuectl.store.models import JobState, WorkerState, database
from queuectl.textsafe import one_line
from queuectl.wording import counted, listed
from tui.data import Snapshot
from tui.fit import MiddleCut
from tui.keyorder import KeyOrderApp
from tui.messages import READ_ONLY_MESSAGE, Intent, SaveSettings
from tui.panes.config import ConfigPane
from tui.screens.confirm import ConfirmScreen, StartWorkersScreen
from tui.screens.detail import JobDetailScreen
from tui.screens.logview import LogScreen

STOP_WAIT_SECONDS = 60.0
"""How long a graceful stop is awaited (in a thread) before saying it is still stopping."""
TOASTS_KEPT = 200
"""Notifications remembered for the tests; older ones are forgotten (a day has many)."""
NAMED_WORKERS = 4
"""How many worker ids "stop all" lists before saying how many more."""
READ_ONLY_INTENTS = frozenset(
    {"detail", "log", "refresh", "clear_filter", "queue_jobs", "schedule_jobs"}
)
"""What a read-only dashboard (``queuectl web --read-only``) still does: look, never change."""

SLOW_ACTION_SECONDS = 1.5
"""A change still running after this long is waiting for the database: say so."""
STILL_WAITING = (
    "Still waiting for the database (another process is writing to it); this gives up"
    f" after {BUSY_TIMEOUT_MS // 1000} s"
)


def _supervisor() -> ModuleType:
    """The worker runtime, imported on first use so the dashboard runs without it.

    A dashboard left open all day may meet a queuectl upgraded under it: the first
    ``s`` then imported the new runtime against the old modules already loaded, and
    the ``ImportError`` ended the dashboard with a traceback."""
    try:
        return importlib.import_module("queuectl.runtime.supervisor")
    except ModuleNotFoundError as exc:
        if exc.name == "queuectl.runtime.supervisor":
            raise QueueError("the worker runtime (queuectl.supervisor) is not available") from None
        raise _changed_under_us(exc) from None
    except ImportError as exc:
        raise _changed_under_us(exc) from None


def _changed_under_us(exc: ImportError) -> QueueError:
    return QueueError(
        f"queuectl was changed since this dashboard started ({one_line(str(exc), 120)}):"
        " quit and start it again"
    )


REFUSED = object()
"""What ``ActionsApp.core_call`` returns when the core refused: the refusal is toasted."""


class ActionsApp(KeyOrderApp):
    """The App's side that carries out intents; ``QueueApp`` adds layout and refresh."""

    location: str
    clock: Callable[[], float]
    refresh_interval: float
    last_snapshot: Snapshot | None
    config_pane: ConfigPane
    read_only: bool = False
    """Every change refused (``on_intent`` before any question, ``run_in_thread`` whatever asks)."""

    def __init__(self) -> None:
        super().__init__()
        self.toasts: deque[str] = deque(maxlen=TOASTS_KEPT)
        """The latest notifications shown, oldest first: what the operator was told."""
        self.hints_said: set[str] = set()
        """The lines ``key_unbound`` said: one of them shown at a time (a burst of stray
        keys stacked five toasts over the header's counts)."""
        self._asked_to_stop: set[str] = set()
        """Workers asked to stop from here: ``x`` again before the next refresh showed
        the question again (the row said "stopping" only a second later)."""

    def refresh_now(self) -> None:
        """Re-read the database now (the refresh loop lives in ``QueueApp``)."""
        raise NotImplementedError

    def action_new_job(self) -> None:
        raise NotImplementedError

    def notify(self, message: str | Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Record the toast, then show it."""
        self.toasts.append(str(message))
        super().notify(message, **kwargs)

    def on_notify(self, event: Notify) -> None:
        """One toast per message: the same one again replaces the one still shown (its
        time starts over). Five keys refused alike (a read-only dashboard) stacked five
        identical toasts, hiding any other; and one key hint at a time, the latest."""
        new = event.notification
        hint = new.message in self.hints_said
        alike = [
            shown
            for shown in self._notifications
            if shown is not new
            and (
                (shown.message, shown.title, shown.severity)
                == (new.message, new.title, new.severity)
                or (hint and shown.message in self.hints_said)
            )
        ]
        for shown in alike:
            self._unnotify(shown, refresh=False)
        if alike:
            self._refresh_notifications()

    def say(self, message: str, *, error: bool = False, title: str = "") -> None:
        """A toast; text is never parsed as markup (it may hold job ids or user input)."""
        self.notify(
            one_line(message),
            title=title or ("Error" if error else ""),
            severity="error" if error else "information",
            markup=False,
            timeout=8 if error else 4,
        )

    def on_delivery_complete(self, event: events.DeliveryComplete) -> None:
        """An export (``deliver_text``) finished: say where it went."""
        self.say(f"Saved {event.path}" if event.path else "Download started")

    def on_delivery_failed(self, event: events.DeliveryFailed) -> None:
        self.say(f"Export failed: {event.exception}", error=True)

    # --- doing things, off the UI thread ----------------------------------------------

    def core_call(self, task: Callable[[], Any], *, doing: str) -> Any:
        """``task``, a core call made on a worker thread: its result, or ``REFUSED`` once
        its ``QueueError`` is toasted (``refusal_said``: a database away is said as what
        was not done). The thread's connection is closed after (peewee keeps one per
        thread, and worker threads come and go)."""
        try:
            return task()
        except QueueError as exc:
            self.call_from_thread(self.say, refusal_said(exc, doing), error=True)
            return REFUSED
        finally:
            if not database.is_closed():
                database.close()

    @work(thread=True, group="action", exit_on_error=False)
    def run_in_thread(
        self,
        task: Callable[[], Any],
        describe: Callable[[Any], str],
        then: Callable[[], object] | None = None,
        failed: Callable[[str], object] | None = None,
        waits_on_workers: bool = False,
        *,
        doing: str,
    ) -> None:
        """Run a core call; toast its outcome (or its ``QueueError``) and refresh.

        Args:
            then: run on the UI thread after a success (quitting once edits are saved).
            failed: run on the UI thread with the refusal instead of its toast (a
                form opened again with what was typed and why it was refused).
            waits_on_workers: the call waits for workers to finish their jobs (a stop):
                long by design, not the database's doing, so no "still waiting for the
                database" (it told of a writer and a 15 s limit that were not there).
            doing: what the call is, for a failure of the database's own ("Cancel of
                job a"): a toast of just "database is locked", 15 s after ``c`` ``y``,
                named neither the change nor who held the lock.
        """
        if self.read_only:  # every change passes here: the read-only guarantee
            self.call_from_thread(self.say, READ_ONLY_MESSAGE, error=True)
            return
        # A change that waits (another process holds the write lock) said nothing until
        # it was done, up to the busy timeout later: say that it is waiting.
        slow = threading.Timer(SLOW_ACTION_SECONDS, self._say_from_thread, (STILL_WAITING,))
        slow.daemon = True
        if not waits_on_workers:
            slow.start()
        try:
            result = task()
        except (QueueError, ValidationError) as exc:
            said = refusal_said(exc, doing)
            if failed is not None:
                self.call_from_thread(failed, said)
            else:
                self.call_from_thread(self.say, said, error=True)
            return
        finally:
            slow.cancel()
            if not database.is_closed():
                database.close()
        self.call_from_thread(self._done, describe(result), then)

    def _say_from_thread(self, message: str) -> None:
        with contextlib.suppress(RuntimeError):  # the app closed meanwhile
            self.call_from_thread(self.say, message)

    def _done(self, message: str, then: Callable[[], object] | None = None) -> None:
        if message:
            self.say(message)
        self.refresh_now()
        if then is not None:
            then()

    def _confirm(
        self,
        question: str,
        then: Callable[[], None],
        yes: str = "Yes",
        command: str | None = None,
        hold: int | None = None,
    ) -> None:
        """Ask ``question``; ``then`` on yes. ``hold``: the keys held while it was being
        read (``hold_keys``) go to it."""

        def answered(ok: bool | None) -> None:
            if ok:
                then()

        self.push_screen(ConfirmScreen(question, yes, command), answered)
        if hold is not None:
            self.let_keys_go(hold, replay=True)

    def _drop_held_keys(self, hold: int) -> None:
        """From a read's thread, once it is over: its question never opened, so the keys
        typed for it are dropped (a no-op once they went to it)."""
        with contextlib.suppress(RuntimeError):  # the app closed meanwhile
            self.call_from_thread(self.let_keys_go, hold, replay=False)

    # --- naming what an action hits ---------------------------------------------------

    def _job_row(self, job_id: str) -> dict[str, Any] | None:
        snapshot = self.last_snapshot
        if snapshot is not None:
            for table in (snapshot.jobs, snapshot.dlq):
                if job_id in table.raw:
                    return table.raw[job_id]
        screen = self.screen
        if isinstance(screen, JobDetailScreen) and screen.view and screen.view.job:
            job = screen.view.job
            # held_at too: ``h`` on a held job whose row had left the window held it
            # ("already held") where the screen offered to release it.
            return {
                "id": job.id,
                "state": job.state,
                "command": job.command,
                "held_at": job.held_at,
            }
        return None

    def describe_job(self, job_id: str) -> str:
        """``ABCD1234 (processing)``: the id and its state as last read. The command is
        not in it: the question shows it on a line of its own (``ConfirmScreen``)."""
        row = self._job_row(job_id)
        name = one_line(job_id)
        return name if row is None else f"{name} ({row['state']})"

    def job_command(self, job_id: str) -> str | None:
        """The job's command as last read, or ``None`` when its row is not at hand."""
        row = self._job_row(job_id)
        return None if row is None else row["command"]

    def describe_worker(self, worker_id: str) -> str:
        """``w3k9x2a (pid 4242 on build-01, running ABCD1234)``."""
        raw = self._worker_raw(worker_id)
        name = one_line(worker_id)
        if not raw:
            return name
        job = f", running {_running(raw)}" if raw.get("job") else ""
        return f"{name} (pid {raw['pid']} on {one_line(raw['host'])}{job})"

    # --- intents ----------------------------------------------------------------------

    def on_intent(self, message: Intent) -> None:
        if self.read_only and message.action not in READ_ONLY_INTENTS:
            self.say(READ_ONLY_MESSAGE, error=True)  # before a confirmation asks in vain
            return
        handler = getattr(self, f"_intent_{message.action}")
        handler(message.target)

    def _intent_refresh(self, _target: str | None) -> None:
        self.refresh_now()

    def _intent_clear_filter(self, _target: str | None) -> None:
        self.action_clear_filter()

    def action_clear_filter(self) -> None:
        raise NotImplementedError

    def _intent_new_job(self, _target: str | None) -> None:
        self.action_new_job()

    def _intent_detail(self, job_id: str | None) -> None:
        if job_id:
            self.push_screen(JobDetailScreen(job_id, self.clock, self.refresh_interval))

    def _intent_log(self, job_id: str | None) -> None:
        """The highlighted job's latest output, full screen: ``l`` on a row, as k9s shows a
        pod's logs (it took ``enter`` then ``l``, and ``l`` on the list did nothing)."""
        if job_id:
            self.push_screen(LogScreen(job_id, None, self.refresh_interval))

    def _intent_worker_job(self, worker_id: str | None) -> None:
        """The detail of the job a worker runs (of a worker of several slots, the one
        its row names); a worker running none says so."""
        if not worker_id:
            return
        job_id = self._worker_raw(worker_id).get("job")
        if job_id:
            self._intent_detail(job_id)
        else:
            self.say(f"Worker {self.describe_worker(worker_id)} runs no job now")

    def _intent_retry(self, job_id: str | None) -> None:
        """Retrying is not destructive: it acts at once (a wrong state is refused by the
        core, which decides: the row may be a refresh old). On a row whose state, as
        last read, refuses it, the ``y`` of an ``r y`` typed from habit (a batch retry
        asks) is taken for an answer to no question and dropped: it cloned the pending
        job the ``r`` was refused on (a web user's try)."""
        row = self._job_row(job_id) if job_id else None
        if row is not None and JobState(row["state"]) not in manage.RETRY.allowed:
            self.no_question_asked()
        if job_id:
            self.run_in_thread(
                lambda: _act_on_one(manage.RETRY, job_id, self.clock()),
                lambda outcome: _retried(job_id, outcome),
                doing=f"Retry of job {one_line(job_id)}",
            )

    def _refused_by_state(self, action: manage.Action, job_id: str) -> bool:
        """Say why ``action`` cannot apply to the job as last read, instead of asking first.

        ``c`` on a completed job asked "Cancel job …?" and then showed the core's
        refusal. The core still decides: the row may be a refresh old.
        """
        row = self._job_row(job_id)
        if row is None or JobState(row["state"]) in action.allowed:
            return False
        self.say(f"Job {one_line(job_id)} is {row['state']}; {action.why_not}", error=True)
        self.no_question_asked()
        return True

    def _intent_cancel(self, job_id: str | None) -> None:
        if not job_id or self._refused_by_state(manage.CANCEL, job_id):
            return
        row = self._job_row(job_id)
        asked = row["state"] if row is not None else None  # as the question names it
        running = asked == JobState.PROCESSING
        self._confirm_taking_down(
            self.hold_keys(),
            job_id,
            f"Cancel job {self.describe_job(job_id)}?"
            + (" Its process is killed." if running else ""),
            lambda: self.run_in_thread(
                lambda: _act_on_one(manage.CANCEL, job_id, self.clock(), asked),
                lambda outcome: f"Job {job_id} cancelled" + dependents_said(outcome),
                doing=f"Cancel of job {one_line(job_id)}",
            ),
            yes="Cancel job",
            command=self.job_command(job_id),
            doing=f"Cancel of job {one_line(job_id)}",
        )

    @work(thread=True, group="action", exit_on_error=False)
    def _confirm_taking_down(
        self,
        hold: int,
        job_id: str,
        question: str,
        then: Callable[[], None],
        yes: str,
        command: str | None = None,
        *,
        doing: str,
    ) -> None:
        """Ask ``question`` with, after it, the blocked jobs that go dead with the job
        (``deps.would_take_down``: transitively, as a cancel or delete takes them down).

        Read from the database, off the UI thread: the last refresh's rows left out
        every dependent a filter (``state:processing``) or the window hid, so the
        question named none and the toast after named three. The keys typed meanwhile
        (``hold``) go to the question, or are dropped when it is not asked."""
        try:
            down = self.core_call(lambda: deps.would_take_down([job_id]), doing=doing)
            if down is REFUSED:
                return
            said = ""
            if down:
                verb = "goes" if len(down) == 1 else "go"
                said = (
                    f" {counted(len(down), 'blocked job')} waiting for it {verb} dead with"
                    f" it: {some_ids(down)}."
                )
            self.call_from_thread(self._confirm, question + said, then, yes, command, hold)
        finally:
            self._drop_held_keys(hold)

    def _intent_delete(self, job_id: str | None) -> None:
        if not job_id or self._refused_by_state(manage.DELETE, job_id):
            return
        row = self._job_row(job_id)
        asked = row["state"] if row is not None else None  # as the question names it

        def leave_its_detail() -> None:
            # Once deleted: a delete refused (retried meanwhile) had closed it anyway.
            if isinstance(self.screen, JobDetailScreen) and self.screen.job_id == job_id:
                self.screen.action_back()

        def delete() -> None:
            self.run_in_thread(
                lambda: _act_on_one(manage.DELETE, job_id, self.clock(), asked),
                lambda outcome: f"Job {job_id} deleted" + dependents_said(outcome),
                then=leave_its_detail,
                doing=f"Delete of job {one_line(job_id)}",
            )

        self._confirm_taking_down(
            self.hold_keys(),
            job_id,
            f"Delete job {self.describe_job(job_id)} and its runs?",
            delete,
            "Delete",
            command=self.job_command(job_id),
            doing=f"Delete of job {one_line(job_id)}",
        )

    def _dead_count(self) -> tuple[int, float]:
        """How many jobs the DLQ held at the last refresh, and when that was read: "all"
        in a question means those, not the jobs that die while it waits for an answer."""
        snapshot = self.last_snapshot
        return (snapshot.counts.get("dead", 0), snapshot.now) if snapshot else (0, 0.0)

    def _intent_retry_all_dead(self, _target: str | None) -> None:
        dead, counted_at = self._dead_count()
        if not dead:
            self.say("The DLQ is empty")
            return
        self._confirm(
            f"Retry all {counted(dead, 'dead job')} in the DLQ?",
            lambda: self.run_in_thread(
                lambda: manage.retry_dead(now=self.clock(), died_by=counted_at, rows=False),
                _dlq_retried,
                doing="Retry of the DLQ",
            ),
            yes="Retry all",
        )

    def _intent_purge_dead(self, _target: str | None) -> None:
        dead, counted_at = self._dead_count()
        if not dead:
            self.say("The DLQ is empty")
            return
        self._confirm(
            f"Delete all {counted(dead, 'dead job')} in the DLQ, and their runs, for good?",
            lambda: self.run_in_thread(
                lambda: manage.purge([JobState.DEAD], now=counted_at),
                lambda n: f"{counted(n, 'dead job')} purged",
                doing="Purge of the DLQ",
            ),
            yes="Purge",
        )

    def _intent_start_workers(self, _target: str | None) -> None:
        def start(answer: tuple[int, list[str], int] | None) -> None:
            if answer:
                count, queues, slots = answer
                each = f" of {slots} slots" if slots > 1 else ""
                # Named up to three: fourteen long names made a toast of 22 lines.
                served = listed(queues[:3], len(queues))

                def start_them() -> tuple[list[Any], list[str]]:
                    started = _supervisor().start_workers(self.location, count, queues, slots=slots)
                    return started, queue_rules.never_used(queues)

                def said(outcome: tuple[list[Any], list[str]]) -> str:
                    # A mistyped queue ("slwo") was started on unremarked; the header's
                    # "no worker: slow" came later, and only if jobs waited there.
                    started, unknown = outcome
                    news = ""
                    if unknown:
                        noun = "queue" if len(unknown) == 1 else "queues"
                        named = listed(unknown[:3], len(unknown))
                        news = f"; no job has been in {noun} {named} (a typo?)"
                    return f"Started {counted(len(started), 'worker')}{each} on {served}{news}"

                self.run_in_thread(start_them, said, doing="Starting workers")

        try:
            max_slots = _supervisor().MAX_SLOTS
        except QueueError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.push_screen(
            StartWorkersScreen(self.known_queues(), max_slots, self._waiting_for_a_worker()),
            start,
        )

    def _waiting_for_a_worker(self) -> str:
        """The queues to offer new workers: those whose jobs wait with no live worker (the
        header's "no worker"), paused ones left out; else ``default``. It offered
        ``default`` while the header named the queue that needed one."""
        snapshot = self.last_snapshot
        if snapshot is None:
            return "default"
        paused = {s.name for s in snapshot.steered if s.paused}
        names = [
            name
            for name in sorted(snapshot.unserved.queues)
            if name not in paused and ID_PATTERN.fullmatch(name)  # typeable: the form checks
        ]
        return ",".join(names) or "default"

    def known_queues(self) -> list[str]:
        """Queues seen in the last refresh that could be typed (suggestions; any name may
        be typed). Textual draws a suggestion itself, past the input's own cleaning: a
        hostile queue's OSC 52 reached the terminal once its first letter was typed."""
        snapshot = self.last_snapshot
        names = snapshot.queue_names if snapshot is not None else ()
        return sorted(name for name in names if ID_PATTERN.fullmatch(name))

    def _handled_ended(self, worker_id: str) -> bool:
        """A worker shown stopped or lost is not asked to stop ("It finishes its current
        job first" was asked of one that had none and no process); a lost one that still
        holds jobs is offered their recovery instead."""
        raw = self._worker_raw(worker_id)
        state = raw.get("state")
        if state == "stopped":
            self.say(f"Worker {self.describe_worker(worker_id)} has stopped already", error=True)
            self.no_question_asked()
            return True
        if state != "lost":
            return False
        if not raw.get("slots_busy"):
            # Its jobs were recovered already (an information, not an error). A process
            # still there (stopped with SIGSTOP, stuck) is this dashboard's to name, not to
            # kill: it may be serving another copy of the database.
            said = f"Worker {self.describe_worker(worker_id)} is lost; it holds no job now"
            pid = raw.get("pid")
            if raw.get("host") == this_host() and isinstance(pid, int) and pid_alive(pid):
                said += f", but its process {pid} is still there (stopped?): kill it by hand"
            else:  # nothing left to act on: say how its row goes, as it stays listed
                said += "; P removes its row (queuectl worker prune)"
            self.say(said)
            self.no_question_asked()
            return True
        # Recovery takes the jobs of every lost worker (the core's rule: none is left
        # behind), so the question names each one, not only the highlighted worker.
        holding = {
            key: other
            for key, other in self._worker_rows()
            if other.get("state") == "lost" and other.get("slots_busy")
        }
        others = [key for key in holding if key != worker_id]
        named = self.describe_worker(worker_id) + (
            f" and {len(others)} more lost ({some_ids(others, limit=3)})" if others else ""
        )
        jobs = sum(_busy(other) for other in holding.values())
        self._confirm(
            f"Worker {named}: "
            f"{'its process is' if not others else 'their processes are'} gone or "
            f"{'its heartbeat' if not others else 'their heartbeats'} stopped. Recover "
            f"{'its' if not others else 'their'} {counted(jobs, 'job')} now? Each spends a lost "
            "attempt and is retried or goes to the DLQ.",
            self._recover_lost,
            yes="Recover",
        )
        return True

    def _worker_rows(self) -> list[tuple[str, dict]]:
        snapshot = self.last_snapshot
        return list(snapshot.workers.raw.items()) if snapshot is not None else []

    def _recover_lost(self) -> None:
        skipped: list[str] = []

        def said(recovered: list[str]) -> str:
            if not recovered:
                return "Nothing to recover: the lost workers' jobs were recovered already"
            done = (
                f"Recovered {counted(len(recovered), 'job')} of lost workers: {some_ids(recovered)}"
            )
            return " ".join([done + ("." if skipped else ""), *skipped])

        self.run_in_thread(
            lambda: _supervisor().recover_now(hook_skipped=skipped.append),
            said,
            doing="Recovery of the lost workers' jobs",
        )

    def _intent_stop_worker(self, worker_id: str | None) -> None:
        state = self._worker_raw(worker_id).get("state") if worker_id else None
        # Asked from here before the row could say so (it says "stopping" a refresh later).
        asked = worker_id in self._asked_to_stop and state not in ("stopped", "lost")
        if worker_id and (state == "stopping" or asked):
            # Asked already: the same question again promised nothing new.
            self.say(
                f"Worker {self.describe_worker(worker_id)} is stopping already:"
                f" {_finishing(_busy(self._worker_raw(worker_id)))} (K kills it now)"
            )
            self.no_question_asked()
            return
        if worker_id and not self._handled_ended(worker_id):
            busy = _busy(self._worker_raw(worker_id))
            self._confirm(
                f"Stop worker {self.describe_worker(worker_id)}? {_finishing(busy).capitalize()}.",
                lambda: self._stop([worker_id], force=False),
                yes="Stop",
            )

    def _intent_force_stop_worker(self, worker_id: str | None) -> None:
        if not worker_id or self._handled_ended(worker_id):
            return
        raw = self._worker_raw(worker_id)
        job, busy = raw.get("job"), _busy(raw)
        if job and busy > 1:
            fate = f"Its {busy} running jobs are killed and go back to pending."
        elif job:
            fate = f"Its job {one_line(job)} is killed and goes back to pending."
        else:
            fate = "It is killed at once."
        self._confirm(
            f"Force-stop worker {self.describe_worker(worker_id)}? {fate}",
            lambda: self._stop([worker_id], force=True),
            yes="Force stop",
        )

    def _worker_raw(self, worker_id: str) -> dict:
        snapshot = self.last_snapshot
        return snapshot.workers.raw.get(worker_id, {}) if snapshot is not None else {}

    def _intent_stop_all_workers(self, _target: str | None) -> None:
        snapshot = self.last_snapshot
        running = [
            key
            for key, raw in (snapshot.workers.raw.items() if snapshot is not None else ())
            if raw["state"] not in ("stopped", "lost")
        ]
        if snapshot is not None and not running:
            self.say("No worker is running")
            return
        names = listed([one_line(key) for key in running[:NAMED_WORKERS]], len(running))
        self._confirm(
            f"Stop all {counted(len(running), 'running worker')} ({names})? "
            "Each finishes what it runs first.",
            lambda: self._stop(None, force=False, running=running),
            yes="Stop all",
        )

    def _intent_prune_workers(self, _target: str | None) -> None:
        ended = [
            (key, raw["state"])
            for key, raw in self._worker_rows()
            if raw["state"] in ("stopped", "lost")
        ]
        if self.last_snapshot is not None and not ended:
            self.say("No stopped or lost worker to remove")
            return
        lost = [key for key, state in ended if state == "lost"]
        stopped = len(ended) - len(lost)
        parts = [counted(stopped, "stopped worker")] if stopped else []
        parts += [counted(len(lost), "lost worker")] if lost else []
        self._confirm(
            f"Remove the rows of {' and '.join(parts)}?"
            + (" The lost ones' jobs are recovered first." if lost else ""),
            lambda: self.run_in_thread(
                lambda: _supervisor().prune(0.0),
                _pruned_said,
                doing="Removing the ended workers",
            ),
            yes="Remove",
        )

    def _stop(
        self, worker_ids: list[str] | None, *, force: bool, running: Sequence[str] = ()
    ) -> None:
        """Stop ``worker_ids`` (None: every live one, ``running`` as the snapshot listed
        them), saying so at once: the outcome comes only once they have exited."""
        if worker_ids is not None and not force:
            busy = max((_busy(self._worker_raw(key)) for key in worker_ids), default=1)
            self.say(f"Stopping worker {', '.join(worker_ids)} ({_finishing(busy)})")
            self._asked_to_stop.update(worker_ids)
        elif worker_ids is None and not force:
            self.say(
                f"Stopping every running worker ({len(running)}); each finishes what it runs first"
            )
            self._asked_to_stop.update(running)
        self.run_in_thread(
            lambda: self._stop_and_wait(worker_ids, force=force),
            lambda ended: _stopped_message(worker_ids or [], *ended),
            waits_on_workers=True,
            doing="The stop",
        )

    def _stop_and_wait(
        self, worker_ids: list[str] | None, *, force: bool
    ) -> tuple[list[str], list[str], list[str]]:
        """Ask workers to stop, then wait (in this thread) for them; returns those still
        up, the jobs a forced stop killed (which the question may not have named), and
        those found lost instead: no process of this database ran them."""
        supervisor = _supervisor()
        asked = supervisor.request_stop(worker_ids, force=force)
        if not asked:
            return [], [], []
        still = list(supervisor.wait_stopped(asked, STOP_WAIT_SECONDS))
        killed = reads.killed_by_forced_stop(asked) if force else []
        rows = reads.worker_rows(asked)
        lost = [w for w in asked if w in rows and rows[w].state == WorkerState.LOST]
        return still, killed, lost

    def save_settings(
        self, changes: dict[str, str | None], then: Callable[[], object] | None = None
    ) -> None:
        """Store validated config changes in a thread, all or none; ``then`` runs once
        they are stored. They stay staged until then (``ConfigPane.take_changes``), so a
        refused save (a lock held past the wait, the database gone) loses nothing, and
        leaving while it waits still asks."""

        def stored() -> None:
            self.config_pane.saved(changes)
            if then is not None:
                then()

        self.run_in_thread(
            lambda: settings.apply(changes),
            lambda keys: f"Saved {', '.join(keys)}",
            stored,
            doing="Saving the settings",
        )

    def on_save_settings(self, message: SaveSettings) -> None:
        self.save_settings(message.changes)


def _stopped_message(
    asked: list[str], still: list[str], killed: list[str], lost: list[str] = ()
) -> str:
    """What a stop did, once done: the jobs a forced one killed are named as they were
    found, since the one its question named may have ended before the answer; a worker
    found lost is said to be, not "stopped" (no process of this database ran it: a row
    of another database's, or of one that died)."""
    if still:
        said = f"Still stopping after {STOP_WAIT_SECONDS:.0f}s: {', '.join(still)}"
    elif lost and set(lost) >= set(asked):
        said = (
            f"Worker {', '.join(lost)} was lost: no process of this database runs it (it"
            " died, or the row names another database's)"
        )
    else:
        said = f"Worker {', '.join(asked)} stopped" if asked else "Every worker stopped"
    if killed:
        said += f"; killed {some_ids(killed)}, back to pending"
    return said


def refusal_said(exc: Exception, doing: str) -> str:
    """What a toast says of a core call's refusal: a database away (``StoreUnavailable``)
    as the change that was not done, and why. The question before a cancel read the
    database too, and in an outage its toast was psycopg's bare "connection failed: …",
    naming no change (an outside try)."""
    if isinstance(exc, StoreUnavailable):
        return f"{doing} was not done: {exc.explain()}"
    return str(exc)


def _act_on_one(
    action: manage.Action, job_id: str, now: float, asked: str | None = None
) -> manage.Outcome:
    """``action`` on one job (in a thread); its refusal raised, as the toast shows errors.

    ``asked``: the job's state as the question named it; the action touches the job
    only while it is still in that state (``Action.as_asked``)."""
    if asked is not None:
        action = action.as_asked(JobState(asked))
    outcome = manage.act(action, [job_id], now=now)
    if outcome.refused:
        raise outcome.refused[0]
    return outcome


NAMED = 5
"""Ids a confirmation or a toast names before saying how many more."""


ID_WIDTH = 24
"""Cells an id gets in a question or a toast; longer ones lose their middle."""


def short_id(job_id: str) -> str:
    """An id as a question names it: whole, or cut in the middle as the tables cut it
    (``nightly…20261205T030000Z``), so a schedule's fires keep what tells them apart."""
    return MiddleCut(one_line(job_id)).cut(ID_WIDTH).plain


def some_ids(job_ids: list[str] | tuple[str, ...], limit: int = NAMED) -> str:
    """``a, b, c and 1,231 more``: enough to recognise a selection, bounded."""
    return listed([short_id(job_id) for job_id in job_ids[:limit]], len(job_ids))


def dependents_said(outcome: manage.Outcome) -> str:
    """``; 1 dependent back to blocked: y2``: the dependents an action changed besides
    the jobs it was asked for (a retry's revived, a cancel's or delete's taken down), as
    the CLI names them."""
    said = ""
    for ids, become in ((outcome.revived, "back to blocked"), (outcome.taken_down, "now dead")):
        if ids:
            said += f"; {counted(len(ids), 'dependent')} {become}: {some_ids(ids)}"
    return said + _left_dead_said(outcome)


def _left_dead_said(outcome: manage.Outcome) -> str:
    """``; 1 dependent left dead: kdep (unique key 'KK' is held by …)``: those a retry
    could not bring back, the first named with why."""
    left = outcome.left_dead
    if not left:
        return ""
    first, why = next(iter(left.items()))
    return f"; {counted(len(left), 'dependent')} left dead: {some_ids(list(left))} ({first}: {why})"


def _dlq_retried(outcome: manage.Outcome) -> str:
    """What ``R`` did: how many came back, why any stayed, and their dependents."""
    said = f"{counted(outcome.count, 'dead job')} back to pending or blocked"
    still = manage.still_dead_said(outcome)
    return said + (f"; {still}" if still else "") + dependents_said(outcome)


def _retried(job_id: str, outcome: manage.Outcome) -> str:
    """What a retry did: pending again, or blocked on its dependencies (and how many
    dependents it brought back)."""
    state = outcome.changed[0].state
    said = "pending again" if state == JobState.PENDING else f"{state} (waits for its dependencies)"
    revived = len(outcome.revived)
    more = f"; {counted(revived, 'dependent')} back to blocked" if revived else ""
    return f"Job {job_id} is {said}{more}{_left_dead_said(outcome)}"


def _finishing(busy: int) -> str:
    """``it finishes its current job first``, ``its 3 running jobs`` for a worker of
    several slots (the stop-all question and toasts said "its current job" of three), or
    ``it is idle and ends at once`` (an idle worker's question spoke of its current job)."""
    if busy > 1:
        return f"it finishes its {busy} running jobs first"
    if busy == 1:
        return "it finishes its current job first"
    return "it is idle and ends at once"


def _busy(raw: dict) -> int:
    """How many jobs a worker runs now (its slots in use; 1 when only ``job`` is known)."""
    busy = raw.get("slots_busy")
    return int(busy) if busy is not None else (1 if raw.get("job") else 0)


def _running(raw: dict) -> str:
    """``ABCD1234``, or with slots ``ABCD1234 and 2 more``: what the worker runs."""
    more = _busy(raw) - 1
    job = one_line(raw["job"])
    return f"{job} and {more} more" if more > 0 else job


def _pruned_said(pruned: Any) -> str:
    """``Removed 3 worker rows; recovered 1 job of theirs: orphan``."""
    said = f"Removed {counted(len(pruned.workers), 'worker row')}"
    if pruned.recovered:
        jobs = counted(len(pruned.recovered), "job")
        said += f"; recovered {jobs} of theirs: {some_ids(pruned.recovered)}"
    return said
