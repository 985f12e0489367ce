"""The new-job form: the same fields and validation as ``queuectl enqueue``."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Static

from queuectl.errors import ValidationError
from queuectl.jobspec import parse_spec
from queuectl.lifecycle.enqueue import check_directories
from queuectl.textsafe import one_line
from tui.inputs import OrderedInput
from tui.keybar import OwnKeyBar
from tui.screens import close
from tui.screens.confirm import ConfirmScreen

FIELDS: list[tuple[str, str, str]] = [
    ("command", "Command", "shell command, e.g. make backup"),
    ("priority", "Priority", "0 (higher runs first)"),
    ("delay", "Delay", "e.g. 30s, 5m (or use Run at)"),
    ("run_at", "Run at", "ISO 8601 or epoch, e.g. 2026-11-22T10:30:00Z"),
    ("timeout", "Timeout", "config default; 0 = none; e.g. 10m"),
    ("max_retries", "Max retries", "config default"),
    ("queue", "Queue", "default (→ completes a known queue)"),
    ("cwd", "Cwd", "the dashboard's directory"),
    ("id", "Id", "generated if blank"),
]
LABELS = {name: label for name, label, _ in FIELDS}
_INTEGER_FIELDS = ("priority", "max_retries")


def form_to_dict(values: dict[str, str]) -> dict[str, Any]:
    """The JSON object the CLI would receive: blank fields left out, integers as numbers.

    A value that is not a number is passed through as text so ``parse_spec``
    names the field in its message, exactly as for bad JSON input.
    """
    data: dict[str, Any] = {}
    for name, raw in values.items():
        text = raw if name == "command" else raw.strip()
        if not text.strip():
            continue
        if name in _INTEGER_FIELDS:
            try:
                data[name] = int(text)
            except ValueError:
                data[name] = text
        else:
            data[name] = text
    return data


def field_errors(data: dict[str, Any], *, check_cwd: bool = True) -> list[str]:
    """Every invalid field at once, each with its label (``parse_spec`` stops at the first).

    Each field is checked alone beside a valid command, then the pairs that
    conflict; a form with one problem shows the same message the CLI gives. With
    ``check_cwd``, a Cwd that is not a directory here is one of them, as the store
    would refuse it (SQLite; on PostgreSQL another host may have it): it came back
    alone, without its label, once every other field was right.
    """
    problems: list[str] = []
    failed: set[str] = set()
    if not str(data.get("command", "")).strip():
        problems.append(f'{LABELS["command"]}: missing "command": the shell command to run')
    for name, value in data.items():
        if name == "command":
            continue
        try:
            spec = parse_spec({"command": "true", name: value})
            if name == "cwd" and check_cwd:
                check_directories([spec], None)
        except ValidationError as exc:
            problems.append(f"{LABELS.get(name, name)}: {one_line(str(exc))}")
            failed.add(name)
    # Both given is a problem of its own only once each is right: "tomorrow" and
    # "5 parsecs" were each refused, then "Run at" came back a second time for the pair.
    if data.get("run_at") and data.get("delay") and not failed & {"run_at", "delay"}:
        problems.append(f'{LABELS["run_at"]}: give either "run_at" or "delay", not both')
    return problems


SHOWN_PROBLEMS = 4
"""Problems listed one per line on an 80x24 screen; the rest are named on one line, so the
form's buttons stay on it (seven bad fields pushed them off it). Four: a form with the
usual few problems still shows each with its reason. Each row a taller screen has beyond 24
shows one more (``problems_shown``)."""


def problems_shown(screen_height: int) -> int:
    """How many problems get a line of their own: nine at 1400x850 in a browser were cut
    to four and ``and 5 more: Timeout, …`` with half the screen empty (a web user's try)."""
    return SHOWN_PROBLEMS + max(0, screen_height - 24)


def listed_problems(problems: list[str], shown: int = SHOWN_PROBLEMS) -> str:
    """``✗ …`` per problem, the first ``shown``, then the other fields by name."""
    lines = [f"✗ {problem}" for problem in problems[:shown]]
    rest = problems[shown:]
    if rest:
        names = ", ".join(problem.split(":", 1)[0] for problem in rest)
        lines.append(f"✗ and {len(rest)} more: {names}")
    return "\n".join(lines)


class NewJobScreen(OwnKeyBar, ModalScreen[Any]):
    """Returns a validated ``JobSpec``; a rejected form stays open with the reason shown.

    With ``initial`` it edits a job: prefilled, it returns the form as job keys
    (blank fields left out, so they keep what the job has) for ``edit.edit``.

    The store may still refuse what the form accepted (an id taken, the database
    gone): the caller then opens the form again with ``typed``, what was typed when
    it was submitted (``submitted``), and the store's ``error``, so nothing typed is lost.
    """

    AUTO_FOCUS = "#f-command"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Enqueue / save"),  # an edit's button says Save
    ]
    """``enter`` in any field or ``ctrl+s`` enqueues; ``escape`` cancels."""

    def __init__(
        self,
        initial: dict[str, str] | None = None,
        title: str = "New job",
        queues: list[str] | None = None,
        *,
        typed: dict[str, str] | None = None,
        error: str | None = None,
    ) -> None:
        super().__init__()
        self.initial = initial
        self.title_text = title
        self.queues = queues or []
        self.typed = typed
        self.error = error
        self.submitted: dict[str, str] = {}
        """The fields as they were when the form was answered (see the class's docstring)."""
        self._problems: list[str] = []
        """What the last submit refused, listed as the screen's height allows."""
        self._opened_with: dict[str, str] = {}
        """The fields as the form opened: ``esc`` asks before losing anything typed since."""

    def compose(self) -> ComposeResult:
        initial = self.typed if self.typed is not None else self.initial or {}
        with Vertical(classes="dialog wide"):
            yield Label(Text(self.title_text), classes="title")  # cut with "…" (app.tcss)
            with Grid(classes="form"):
                for name, label, hint in FIELDS:
                    if name == "id" and self.initial is not None:
                        continue  # an edit keeps its id: clone for a new one
                    yield Label(label)
                    suggester = None
                    if name == "queue" and self.queues:
                        suggester = SuggestFromList(self.queues, case_sensitive=True)
                    box = OrderedInput(
                        initial.get(name, ""),
                        placeholder=hint,
                        id=f"f-{name}",
                        compact=True,
                        suggester=suggester,
                        # Selected on focus, a prefilled command (an edit, or a form the
                        # store refused and reopened as typed) went with the next key.
                        select_on_focus=False,
                    )
                    box.keeps_pasted_lines = name == "command"
                    yield box
            shown = Text(f"✗ {one_line(self.error)}") if self.error else ""
            yield Static(shown, id="form-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(
                    "Save" if self.initial is not None else "Enqueue",
                    id="ok",
                    variant="primary",
                    compact=True,
                )
                yield Button("Cancel", id="cancel", compact=True)

    def values(self) -> dict[str, str]:
        return {box.id.removeprefix("f-"): box.value for box in self.query(Input) if box.id}

    def action_submit(self) -> None:
        """Validate through ``jobspec.parse_spec``; dismiss with the spec or show why not."""
        if not self.is_active:
            return  # already answered: a second enter in a burst must not enqueue twice
        data = form_to_dict(self.values())
        if self.initial is not None and data.get("delay"):
            prefilled = (self.initial.get("run_at") or "").strip()
            if data.get("run_at") == prefilled:
                # An edit prefills Run at; a Delay typed beside it is the new due time
                # (from now), as ``edit`` takes it, not a clash of the two fields.
                del data["run_at"]
        # An edit's Cwd is checked only when typed anew: a job whose folder has gone
        # since can still have its priority changed (the store checks likewise).
        check_cwd = self.initial is None or "cwd" in self._touched(data)
        try:
            spec = parse_spec(data)
            if check_cwd:
                check_directories([spec], None)
        except ValidationError as exc:
            self._problems = field_errors(data, check_cwd=check_cwd) or [one_line(str(exc))]
            self._show_problems()
            return
        self.submitted = self.values()
        close(self, self._touched(data) if self.initial is not None else spec)

    def _show_problems(self) -> None:
        shown = problems_shown(self.app.size.height)
        self.query_one("#form-error", Static).update(Text(listed_problems(self._problems, shown)))

    def on_resize(self) -> None:
        """The problems listed again for the new height: seven listed at 45 rows stayed
        seven after a resize to 24, and pushed the buttons off the screen."""
        if self._problems:
            self._show_problems()

    def _touched(self, data: dict[str, Any]) -> dict[str, Any]:
        """Of an edit's fields, those typed differently from what the form showed: the
        others keep exactly what the job has (the form shows Run at to the second and a
        timeout rounded, so saving them back moved a job's due time by a fraction of a
        second, enough to reorder it among jobs due in the same second)."""
        shown = form_to_dict(self.initial or {})
        return {name: value for name, value in data.items() if shown.get(name) != value}

    def on_mount(self) -> None:
        self._opened_with = self.values()
        if self.typed is not None:
            # Reopened as typed after the store refused it: what was typed is still
            # unsaved, so ``esc`` asks (it lost an edit whose job had just completed).
            shown = self.initial or {}
            self._opened_with = {name: shown.get(name, "") for name in self._opened_with}

    def has_typed(self) -> bool:
        """Whether a field holds something other than what the form opened with."""
        return self.values() != self._opened_with

    def action_cancel(self) -> None:
        """Close, asking first when something was typed: ``esc`` on a form with eight
        fields filled threw them away without a word."""
        if not self.has_typed():
            close(self, None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                close(self, None)

        what = "the changes you typed" if self.initial is not None else "the job you typed"
        self.app.push_screen(ConfirmScreen(f"Discard {what}?", "Discard"), answered)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self.action_submit()
        else:
            self.action_cancel()
