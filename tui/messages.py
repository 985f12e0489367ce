"""Messages of intent: panes and screens say what the user wants; the app does it."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from textual.dom import DOMNode
from textual.message import Message

READ_ONLY_MESSAGE = "This dashboard is read-only: nothing was changed"
"""Said, at once, for every change asked of a read-only dashboard (``queuectl web
--read-only``): the app's actions and the Config pane's edits."""

CHANGING_ACTIONS = frozenset(
    {
        "new", "new_job", "retry", "cancel", "delete", "edit", "clone", "hold", "release",
        "retry_all", "purge", "reset", "save", "discard", "toggle_pause", "limit", "run_now",
        "start", "stop", "stop_all", "force_stop", "prune",
        "act('retry')", "act('cancel')", "act('delete')", "act('hold')", "act('release')",
    }
)  # fmt: skip
"""Key and button actions that change something: a read-only dashboard leaves them out
of its key bar and toolbars (it offered Retry, Cancel, Start… for each to be refused
with a toast, five stacked), and refuses them if their key is pressed anyway."""

Action = Literal[
    "detail",
    "log",
    "retry",
    "cancel",
    "delete",
    "retry_all_dead",
    "purge_dead",
    "start_workers",
    "stop_worker",
    "force_stop_worker",
    "stop_all_workers",
    "prune_workers",
    "worker_job",
    "refresh",
    "new_job",
    "clear_filter",
    "edit",
    "clone",
    "hold",
    "toggle_pause_queue",
    "limit_queue",
    "queue_jobs",
    "toggle_pause_schedule",
    "run_schedule",
    "schedule_jobs",
]


class Intent(Message):
    """The user asked for ``action`` on ``target`` (a job or worker id, or ``None``)."""

    def __init__(self, action: Action, target: str | None = None) -> None:
        super().__init__()
        self.action: Action = action
        self.target = target


class SaveSettings(Message):
    """The config pane wants these validated values stored (``None`` = reset to default)."""

    def __init__(self, changes: dict[str, str | None]) -> None:
        super().__init__()
        self.changes = changes


class Batch(Message):
    """The user asked for ``verb`` (retry, cancel, delete) on the jobs marked in ``pane``."""

    def __init__(self, verb: str, job_ids: tuple[str, ...], pane: str) -> None:
        super().__init__()
        self.verb = verb
        self.job_ids = job_ids
        self.pane = pane


class MarkAll(Message):
    """Mark every job matching ``job_filter`` in the database (read when this is handled)."""

    def __init__(self, pane: str, job_filter: object) -> None:
        super().__init__()
        self.pane = pane
        self.job_filter = job_filter


@runtime_checkable
class IntentHandler(Protocol):
    """An app that carries out intents (``tui.actions.ActionsApp``)."""

    def on_intent(self, message: Intent) -> None: ...


def intend(sender: DOMNode, action: Action, target: str | None = None) -> None:
    """Say what the user wants; the app carries it out before the next key is handled.

    A posted message waits behind the keys already queued (``tui.keyorder``):
    ``s`` then ``2`` and ``enter`` typed together switched to the DLQ and opened a
    job before the worker prompt came up. An app without ``on_intent`` (a pane
    tried alone) still gets the message.
    """
    intent = Intent(action, target)
    if isinstance(sender.app, IntentHandler):
        sender.app.on_intent(intent)
    else:
        sender.post_message(intent)
