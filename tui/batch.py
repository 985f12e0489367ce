"""Batch actions on marked jobs: ask with the count and a few ids, act in chunks, report.

The dashboard's half of the one core operation ``manage.act`` (the CLI's
``retry/cancel/delete ID…|--state|--queue|--all`` call it too): this module asks,
runs it off the UI thread and turns its ``Outcome`` into one toast that says how
many were changed and, grouped by reason, which were not and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import work

from queuectl.errors import QueueError
from queuectl.lifecycle import manage, reads
from queuectl.states import JobState, is_held
from queuectl.textsafe import one_line
from queuectl.wording import counted
from tui.actions import REFUSED, ActionsApp, dependents_said, some_ids
from tui.data import JobFilter
from tui.messages import READ_ONLY_MESSAGE, Batch, MarkAll
from tui.panes.marks import MarkingPane


def _jobs(count: int) -> str:
    return counted(count, "job")


def question(
    action: manage.Action, job_ids: tuple[str, ...], left: manage.Outcome | None = None
) -> str:
    """What the confirmation asks: the verb, how many, and which (a few); with ``left``,
    the marked jobs read and refused, how many of the marks it acts on and why the rest
    are left ("Hold 14 marked jobs?" over one already held, then "13 held; 1 not")."""
    count = len(job_ids)
    refused = len(left.refused) if left is not None else 0
    if refused:
        jobs = f"{count:,} of {counted(count + refused, 'marked job')}"
    else:
        jobs = counted(count, "marked job")
    text = f"{action.verb.capitalize()} {jobs} ({some_ids(job_ids)})"
    if action is manage.CANCEL:
        text = f"{text}? Running ones are killed."
    elif action.verb == manage.DELETE.verb:  # the DLQ's too
        text = f"{text}, with their runs, for good?"
    else:
        text = f"{text}?"
    if left is not None and refused:
        as_is = "it is" if refused == 1 else "they are"
        text = f"{text} Left as {as_is}: {refusals_said(action, left)}."
    return text


def summary(action: manage.Action, outcome: manage.Outcome) -> str:
    """``3 jobs retried; 2 not: 1 pending (a), 1 not found (b); only failed … be retried``.

    The action's reason is said for refusals by state only: "1 dependency dead (y3); it
    is not in the DLQ" gave the state's reason to a job refused because a job it waits
    for is dead. Another reason says its first job's own error instead. Dependents a
    retry brought back, or a cancel or delete took down, are named, as the CLI does.
    """
    text = f"{_jobs(outcome.count)} {action.participle}"
    if outcome.refused:
        text = f"{text}; {len(outcome.refused):,} not: {refusals_said(action, outcome)}"
    return text + dependents_said(outcome)


def refusals_said(action: manage.Action, outcome: manage.Outcome) -> str:
    """``1 pending (a), 1 not found (b); only failed … can be retried``: the jobs left,
    grouped by reason, the largest group first, then why."""
    groups = [
        f"{len(ids):,} {_GROUP_WORDS.get(reason, reason)} ({some_ids(ids, 3)})"
        for reason, ids in sorted(outcome.reasons.items(), key=lambda item: -len(item[1]))
    ]
    text = ", ".join(groups)
    by_state = sum(len(ids) for reason, ids in outcome.reasons.items() if reason in _STATES)
    if by_state:
        text = f"{text}; {action.why_not_for(by_state)}"
    for reason, ids in outcome.reasons.items():
        if reason not in _STATES and reason not in _SAID_BY_REASON:
            text = f"{text}; {_error_of(outcome, ids[0])}"
    return text


@dataclass(frozen=True)
class Preview:
    """What ``action`` would do with the marks, read before asking (``preview``)."""

    going: tuple[str, ...] | None
    """The marked jobs it applies to, when every mark was read; ``None`` when one was
    found in a first chunk of many (the rest are not read before asking)."""
    left: manage.Outcome
    """The marked jobs read and refused, grouped by why (all of them when none applies)."""

    @property
    def none_applies(self) -> bool:
        return self.going == ()


def preview(action: manage.Action, job_ids: tuple[str, ...]) -> Preview:
    """Which of ``job_ids`` ``action`` applies to and why the others are refused, as
    ``act`` would decide (``Action.applies_to``, the core's rule, then its ``refusals``).

    Marks that fit one ``CHUNK`` are read whole (one read): the question can count
    them. More are read a chunk at a time only until one applies, so a question over
    ``ctrl+a``'s 100,000 marks reads one chunk; when none applies, all are read, for
    the reasons."""
    left = manage.Outcome()
    going: list[str] = []
    retry = action.verb == manage.RETRY.verb
    for start in range(0, len(job_ids), manage.CHUNK):
        chunk = job_ids[start : start + manage.CHUNK]
        applying = [
            job.id
            for job in reads.jobs_by_id(chunk)
            if action.applies_to(job.state, held=is_held(job.state, job.held_at))
        ]
        refusals: list[tuple[str, str, QueueError]] = []
        if applying and retry:
            # Retriable by state, yet a dependency still dead refuses them all ("Retry 2
            # marked jobs?", then "0 retried; 2 not: dependency dead", marks cleared).
            refusals = manage.retry_refusals_by_dependency(applying)
        refused_by_dependency = {job_id for job_id, _, _ in refusals}
        chunk_going = [job_id for job_id in applying if job_id not in refused_by_dependency]
        if chunk_going and len(job_ids) > manage.CHUNK:
            return Preview(None, manage.Outcome())
        going += chunk_going
        taken = set(applying)
        others = [job_id for job_id in chunk if job_id not in taken]
        for job_id, reason, error in [*refusals, *action.refusals(others)]:
            left.refused.append(error)
            left.reasons.setdefault(reason, []).append(job_id)
    return Preview(tuple(going), left)


def _error_of(outcome: manage.Outcome, job_id: str) -> str:
    """The refusal that names ``job_id`` (each names its job), as one line."""
    named = (str(error) for error in outcome.refused if job_id in str(error))
    return one_line(next(named, "").split("\n", 1)[0])


_GROUP_WORDS = {
    manage.DEPENDENCY_DEAD: "with a dependency dead",
    "key held": "with their unique key held",
}
"""How a reason reads after a count: "2 dependency dead (p2, p3)" read as a typo."""

_STATES = frozenset(state.value for state in JobState)
_SAID_BY_REASON = frozenset({"not found", "being stopped", "not held", "already held"})
"""Reasons the group's own words say whole: "3 not held (a, b, c)" needs no "job a is
not held" after it, which named one of the three."""


class BatchApp(ActionsApp):
    """Carries out ``Batch`` and ``MarkAll`` messages from the marking panes."""

    def marking_pane(self, name: str) -> MarkingPane:
        raise NotImplementedError

    def on_batch(self, message: Batch) -> None:
        if self.read_only:
            self.say(READ_ONLY_MESSAGE, error=True)
            return
        action = manage.ACTIONS[message.verb]
        if message.pane == "dlq" and action is manage.RETRY:
            action = manage.DLQ_RETRY
        elif message.pane == "dlq" and action is manage.DELETE:
            action = manage.DLQ_DELETE
        job_ids = message.job_ids
        pane = self.marking_pane(message.pane)

        self.check_batch(self.hold_keys(), action, job_ids, pane)

    @work(thread=True, group="action", exit_on_error=False)
    def check_batch(
        self, hold: int, action: manage.Action, job_ids: tuple[str, ...], pane: Any
    ) -> None:
        """Read whether any marked job can be acted on, off the UI thread, then ask; when
        none can, say why and ask nothing ("Cancel 2 marked jobs?" was asked of two
        completed jobs, and "Yes" only brought the refusal). The keys typed meanwhile
        (``hold``) go to the question, or are dropped when it is not asked."""
        try:
            doing = f"{action.verb.capitalize()} of {_jobs(len(job_ids))}"
            read = self.core_call(lambda: preview(action, job_ids), doing=doing)
            if read is REFUSED:
                return
            assert isinstance(read, Preview)
            if read.none_applies:
                count = len(job_ids)
                which = (
                    f"None of the {counted(count, 'marked job')} can be"
                    if count > 1
                    else "The marked job cannot be"
                )
                said = f"{which} {action.participle}: {refusals_said(action, read.left)}"
                self.call_from_thread(self.say, one_line(said, 400), error=True)
                return
            self.call_from_thread(self._ask_batch, action, job_ids, read, pane, hold)
        finally:
            self._drop_held_keys(hold)

    def _ask_batch(
        self,
        action: manage.Action,
        job_ids: tuple[str, ...],
        read: Preview,
        pane: Any,
        hold: int,
    ) -> None:
        def go() -> None:
            if len(job_ids) > manage.CHUNK:
                self.say(f"{action.verb.capitalize()}: {_jobs(len(job_ids))}, in chunks…")
            self.run_batch(action, job_ids, pane)

        going = read.going if read.going is not None else job_ids
        yes = f"{action.verb.capitalize()} {len(going):,}"
        # Named as the screen lists them: ctrl+a marks in the database's order, and the
        # question named "failer, prog, outesc" over rows reading "nl, osc52, failer".
        shown = tuple(pane.table.in_view_order(going))
        self._confirm(question(action, shown, read.left), go, yes=yes, hold=hold)

    @work(thread=True, group="action", exit_on_error=False)
    def run_batch(self, action: manage.Action, job_ids: tuple[str, ...], pane: Any) -> None:
        """Act on ``job_ids`` off the UI thread; the marks go once it is done."""
        outcome = self.core_call(
            lambda: manage.act(action, job_ids, now=self.clock(), rows=False),
            doing=f"{action.verb.capitalize()} of {_jobs(len(job_ids))}",
        )
        if outcome is REFUSED:
            return
        self.call_from_thread(self._batch_done, action, outcome, pane)

    def _batch_done(self, action: manage.Action, outcome: manage.Outcome, pane: Any) -> None:
        pane.clear_marks()
        text = one_line(summary(action, outcome), 400)
        if outcome.refused:
            severity = "error" if not outcome.count else "warning"
            self.notify(text, title="Batch", severity=severity, markup=False, timeout=12)
        else:
            self.say(text)
        self.refresh_now()

    def on_mark_all(self, message: MarkAll) -> None:
        assert isinstance(message.job_filter, JobFilter)
        self.capture_marks(message.pane, message.job_filter)

    @work(thread=True, group="marks", exclusive=True, exit_on_error=False)
    def capture_marks(self, pane: str, job_filter: JobFilter) -> None:
        """Every id the filter matches now, off the UI thread; they become the marks."""
        job_ids = self.core_call(
            lambda: reads.matching_ids(
                states=job_filter.states or None,
                queue=job_filter.queue,
                search=job_filter.text or None,
                id_prefix=job_filter.id_prefix or None,
            ),
            doing="Marking every matching job",
        )
        if job_ids is REFUSED:
            return
        self.call_from_thread(self._marks_captured, pane, job_ids, job_filter)

    def _marks_captured(self, pane: str, job_ids: list[str], job_filter: JobFilter) -> None:
        self.marking_pane(pane).set_marks(job_ids)
        which = f" matching {job_filter.describe()}" if job_filter.active else ""
        self.say(f"Marked {_jobs(len(job_ids))}{which}")
