"""Asking for a queue's limit: a whole number of jobs, or ``none``, checked as the CLI checks it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Static

from queuectl.errors import ValidationError
from queuectl.jobspec import queue_limit
from queuectl.textsafe import one_line
from tui.inputs import OrderedInput
from tui.screens import close
from tui.screens.confirm import FieldScreen

NO_LIMIT = "none"


class LimitScreen(FieldScreen[tuple[int | None] | None]):
    """Returns ``(limit,)`` (``(None,)``: no limit) or ``None`` when backed out.

    The value goes through ``jobspec.queue_limit``, as ``queuectl queue limit``'s
    does: the same words are accepted and the same message names a refused one.
    """

    AUTO_FOCUS = "#limit"

    def __init__(self, queue: str, current: int | None) -> None:
        super().__init__()
        self.queue = queue
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            # A Static wraps where a Label was cut: "… run at once? (a n" at 80 and 160.
            yield Static(
                Text(
                    f"At most how many jobs of queue {one_line(self.queue)} run at once?"
                    " (a number, or none)"
                ),
                classes="question",
            )
            yield OrderedInput(
                NO_LIMIT if self.current is None else str(self.current), id="limit", compact=True
            )
            yield Static("", id="limit-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Set", id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def _submit(self) -> None:
        raw = self.query_one("#limit", Input).value
        try:
            limit = queue_limit(raw)
        except ValidationError as exc:
            self.query_one("#limit-error", Static).update(Text(one_line(str(exc))))
            return
        close(self, (limit,))
