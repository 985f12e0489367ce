"""Questions: yes/no, one of a few choices, and a number; answers come back by ``dismiss``.

Each dialog focuses its safe answer with ``AUTO_FOCUS`` and answers through
``tui.screens.close`` (see there why).
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, Input, Label, Static

from queuectl.jobspec import ID_PATTERN, ID_RULE
from queuectl.textsafe import one_line
from tui.inputs import OrderedInput
from tui.keybar import OwnKeyBar
from tui.screens import close

T = TypeVar("T")


class Uncovered:
    """A dialog is read whole: the toasts already up are cleared when it opens.

    Toasts are drawn over every screen, and at 80x24 one from the key before (an
    error, a result) covered a question's end and its buttons for seconds.
    """

    app: App[object]

    def on_mount(self) -> None:
        self.app.clear_notifications()


class ConfirmScreen(Uncovered, OwnKeyBar, ModalScreen[bool]):
    """Asks before anything that destroys or mass-changes data; the question names the target.

    A job's command goes on a line of its own under the question, ``$ `` before it, cut
    at the dialog's edge: quoted inside the question it wrapped at its first space at
    80 columns, and a command broken across lines reads as two commands.
    """

    AUTO_FOCUS = "#no"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]
    """``y`` confirms; ``n`` or ``escape`` backs out."""

    def __init__(self, question: str, yes: str = "Yes", command: str | None = None) -> None:
        super().__init__()
        self.question = question
        self.yes = yes
        self.command = command

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.question), classes="question")
            if self.command is not None:
                line = Text.assemble(("$ ", "dim"), one_line(self.command))
                yield Static(line, classes="command")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error", compact=True)
                yield Button("No (n)", id="no", compact=True)

    def action_answer(self, answer: bool) -> None:
        self._answered()
        close(self, answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._answered()
        close(self, event.button.id == "yes")

    def _answered(self) -> None:
        """A second ``y`` typed with the first (yes, tapped twice) answers nothing: it ran
        the Jobs pane's ``y``, clone, on the job just cancelled or deleted, which ran it
        again (a keyboard user's try). It is dropped, as after a refused key; an ``n``
        is not (``n`` right after an answer is a new job as often as a slip)."""
        if self.is_active and (no_question := getattr(self.app, "no_question_asked", None)):
            no_question(("y",))


class ChoiceScreen(Uncovered, OwnKeyBar, ModalScreen[str | None]):
    """One of a few answers by its key, or ``escape`` to stay (``None``)."""

    AUTO_FOCUS = "#stay"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,n", "stay", "Stay")]
    """Each choice has its own key (shown on its button); ``escape`` or ``n`` stays."""

    def __init__(self, question: str, choices: list[tuple[str, str, str]], stay: str) -> None:
        """
        Args:
            question: what is asked.
            choices: (key, answer, label) for each choice.
            stay: the label of the button that answers ``None``.
        """
        super().__init__()
        self.question = question
        self.choices = choices
        self.stay = stay
        self.key_hints = tuple((key, label) for key, _answer, label in choices)
        """Each choice's key, for the key bar (they are answered by ``on_key``)."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.question), classes="question")
            with Horizontal(classes="buttons"):
                for key, answer, label in self.choices:
                    yield Button(f"{label} ({key})", id=f"choice-{answer}", compact=True)
                yield Button(f"{self.stay} (esc)", id="stay", compact=True)

    def on_key(self, event: events.Key) -> None:
        for key, answer, _label in self.choices:
            if event.key == key:
                event.stop()
                close(self, answer)
                return
        if event.is_printable and event.key != "n":  # n stays, as esc does (a binding)
            # "y" out of habit at "Save (s) / Discard (d) / Stay (esc)" did nothing, unsaid.
            answers = ", ".join(f"{key} {label}" for key, _answer, label in self.choices)
            typed = "space" if event.key == "space" else event.character
            self.app.notify(
                f"{typed} is not an answer here: {answers}, esc {self.stay}",
                severity="warning",
                markup=False,
            )

    def action_stay(self) -> None:
        close(self, None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button = event.button.id or ""
        close(self, button.removeprefix("choice-") if button.startswith("choice-") else None)


class FieldScreen(Uncovered, OwnKeyBar, ModalScreen[T]):
    """A dialog with one field checked when submitted: ``enter`` or the ``ok`` button
    submits (``_submit`` checks the value and closes, or says what is wrong); ``escape``
    or any other button backs out with ``None``, changing nothing."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def _submit(self) -> None:
        raise NotImplementedError

    def action_cancel(self) -> None:
        close(self, None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._submit()
        else:
            close(self, None)


class CountScreen(FieldScreen[int | None]):
    """Asks for a whole number in a range (how many workers to start).

    A plain ``Input`` checked when submitted: Textual's ``Input(type="integer")``
    validates every keystroke and dropped edits typed in a burst (``99``, enter,
    backspace twice, ``2``, enter started 9 workers).
    """

    AUTO_FOCUS = "#count"

    def __init__(self, question: str, default: int = 1, maximum: int = 32) -> None:
        super().__init__()
        self.question = question
        self.default = default
        self.maximum = maximum

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question)
            yield OrderedInput(str(self.default), id="count", compact=True)
            yield Static("", id="count-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Start", id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def _submit(self) -> None:
        raw = self.query_one("#count", Input).value.strip()
        if not _whole_in(raw, self.maximum):
            self.query_one("#count-error", Static).update(
                Text(f"enter a whole number from 1 to {self.maximum} (got {raw!r})")
            )
            return
        close(self, int(raw))


class LastNameSuggester(Suggester):
    """Completes the last of comma-separated names (``images, sl`` → ``images, slow``):
    Textual's ``SuggestFromList`` matched the whole value, so only a first name was ever
    completed, and a mistyped second one went unseen."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.names = names

    async def get_suggestion(self, value: str) -> str | None:
        stem = value.rpartition(",")[2].lstrip()
        if not stem:
            return None
        for name in self.names:
            if name.startswith(stem) and name != stem:
                return value + name[len(stem) :]
        return None


class StartWorkersScreen(CountScreen):
    """How many workers, which queues they serve and how many jobs each runs at once:
    answers ``(count, queues, slots)``.

    Slots are ``worker start --slots``: one process running several jobs, the cheapest
    way to run many short jobs (README's Performance), so the dashboard offers them too.
    """

    def __init__(
        self, queues: list[str] | None = None, max_slots: int = 64, serve: str = "default"
    ) -> None:
        super().__init__("How many workers to start?")
        self.known = queues or []
        self.max_slots = max_slots
        self.serve = serve
        """The queues offered: the ones jobs wait in with no worker, else ``default``."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question)
            yield OrderedInput(str(self.default), id="count", compact=True)
            yield Label("Queues they serve (comma-separated)")
            yield OrderedInput(
                self.serve,
                id="queues",
                compact=True,
                suggester=LastNameSuggester(self.known) if self.known else None,
            )
            yield Label("Jobs each runs at once (slots)")
            yield OrderedInput("1", id="slots", compact=True)
            yield Static("", id="count-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Start", id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def _submit(self) -> None:
        raw = self.query_one("#count", Input).value.strip()
        names = [q.strip() for q in self.query_one("#queues", Input).value.split(",") if q.strip()]
        raw_slots = self.query_one("#slots", Input).value.strip()
        problems = []
        if not _whole_in(raw, self.maximum):
            problems.append(f"enter a whole number from 1 to {self.maximum} (got {raw!r})")
        bad = [name for name in names if not ID_PATTERN.fullmatch(name)]
        if bad:
            problems.append(f"a queue name is {ID_RULE} (got {bad[0]!r})")
        if not _whole_in(raw_slots, self.max_slots):
            problems.append(f"slots: a whole number from 1 to {self.max_slots} (got {raw_slots!r})")
        if problems:
            self.query_one("#count-error", Static).update(Text("\n".join(problems)))
            return
        close(self, (int(raw), names or ["default"], int(raw_slots)))


def _whole_in(raw: str, maximum: int) -> bool:
    """``raw`` is a plain whole number from 1 to ``maximum`` (no sign, no other digits)."""
    return raw.isascii() and raw.isdigit() and 1 <= int(raw) <= maximum
