"""The Config pane: every setting with its type, range and description, edited inline.

Edits are validated as they are entered (by the same ``SettingSpec.parse`` the CLI
uses) and staged; ``ctrl+s`` stores them all, so a half-typed value never reaches
the workers.
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Label, Static

from queuectl.config import SPECS, SettingSpec
from queuectl.errors import ValidationError
from queuectl.textsafe import one_line
from queuectl.wording import counted
from tui.cells import Row, styled
from tui.columns import ColumnSpec
from tui.inputs import OrderedInput
from tui.keyorder import focus_now
from tui.messages import READ_ONLY_MESSAGE, SaveSettings
from tui.panes.base import TablePane


def _text(value: float | int | str) -> str:
    """A value as typed: what the edit box holds and compares with."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _show(value: float | int | str) -> str:
    """A value as the table shows it: inert (a hook command is text anyone with write
    access to the database may have set)."""
    return one_line(_text(value))


STAGED_MARK = " *"
"""After a staged value in the Value column: not saved yet."""
VALUE_LINES = 3
"""Lines the highlighted value gets under the table (its description gets up to 2)."""

CUT_SAID = "… (e shows it whole)"

VALUE_WIDTH = 28
"""The widest the Value column gets: 28 cells of a shell command, a number always."""


class ConfigPane(TablePane):
    """Settings table, an edit box under it, and the validator's message when it says no."""

    COLUMNS: ClassVar[list[ColumnSpec]] = [
        ColumnSpec("key", "Key"),
        # A hook command may be a 100-character webhook: as wide as that, the column
        # pushed Description off the screen, cut with no ellipsis. Cut here (to 12
        # cells when room is short); the line under the table gives a cut value whole.
        ColumnSpec("value", "Value", min_width=7, max_width=VALUE_WIDTH, shrink_to=12),
        ColumnSpec("default", "Default", drop=2),
        ColumnSpec("type", "Type", drop=1),
        ColumnSpec("range", "Range", max_width=24),  # the longest: shell command, "" = none
        ColumnSpec("description", "Description", flex=1, flex_min=24),
    ]
    BUTTONS: ClassVar[list[tuple[str, str]]] = [
        ("Edit", "edit"),
        ("Reset", "reset"),
        ("Save", "save"),
        ("Discard", "discard"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "edit", "Edit", tooltip="Edit the value (enter too)"),
        Binding("r", "reset", "Reset", tooltip="Stage the default"),
        Binding("ctrl+s", "save", "Save", tooltip="Save every staged change"),
        Binding("u", "discard", "Discard", tooltip="Forget staged changes"),
    ]
    """Config keys: edits and resets are staged until ``ctrl+s``."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.staged: dict[str, str | None] = {}
        self.settings: dict[str, float | int] = {key: spec.default for key, spec in SPECS.items()}
        self._editing: str | None = None

    def compose(self) -> ComposeResult:
        yield from super().compose()
        # The highlighted key's description in full: at 80 columns the table cuts it.
        yield Static("", id="config-about")
        with Horizontal(id="config-editor", classes="hidden"):
            yield Label("", id="config-edit-label")
            yield OrderedInput(id="config-edit", compact=True)
        yield Static("", id="config-error", classes="error hidden")

    def on_mount(self) -> None:
        self.table.counts_new = False  # settings in a fixed order: nothing above is "new"

    def show_settings(self, settings: dict[str, float | int]) -> None:
        """Apply the stored values from a snapshot; staged edits stay on top."""
        if settings == self.settings and self.table.row_count:
            return
        self.settings = settings
        self._render_rows()

    @property
    def unsaved(self) -> int:
        """Changes that leaving would lose: staged ones, and a changed value in the edit box."""
        count = len(self.staged)
        key = self._editing
        if key is not None and key not in self.staged:
            typed = self.query_one("#config-edit", Input).value.strip()
            count += typed != _text(self.settings.get(key, SPECS[key].default))
        return count

    def describe_unsaved(self) -> str:
        """``max_retries=7, backoff_base (default)``: what saving would store."""
        parts = [
            f"{key} (default)" if raw is None else f"{key}={one_line(raw)}"
            for key, raw in self.staged.items()
        ]
        if self._editing is not None and self._editing not in self.staged:
            typed = self.query_one("#config-edit", Input).value.strip()
            parts.append(f"{self._editing}={one_line(typed)} (being edited)")
        return ", ".join(parts)

    def take_changes(self) -> dict[str, str | None] | None:
        """Accept the edit box and hand over every staged change to save.

        They stay staged (and said unsaved) until the save is done (``saved``): handed
        over and cleared at once, a save waiting 15 s for another process's lock showed
        the stored values, and ``q`` meanwhile quit without asking and lost them.

        Returns ``None`` (and shows the validator's message) when the edit box
        holds a value that would be refused.
        """
        if self._editing is not None and not self._accept():
            return None
        return dict(self.staged)

    def saved(self, changes: dict[str, str | None]) -> None:
        """``changes`` are stored: unstage each, unless it was staged anew meanwhile."""
        for key, raw in changes.items():
            if key in self.staged and self.staged[key] == raw:
                del self.staged[key]
        self._render_rows()

    def _render_rows(self) -> None:
        rows: list[Row] = []
        for key, spec in SPECS.items():
            if key in self.staged:
                value = styled(self._staged_shown(key) + STAGED_MARK, "bold yellow")
            else:
                current = self.settings.get(key, spec.default)
                value = styled(_show(current), "bold" if current != spec.default else "")
            rows.append(
                (
                    key,
                    (
                        styled(key),
                        value,
                        styled(_show(spec.default)),
                        styled(spec.type.__name__),
                        styled(spec.range_text),
                        styled(spec.description),
                    ),
                )
            )
        # Applied only when a value changes, so widths must fit at once: a long hook
        # command, reset, left Default, Type, Range and Description dropped for good.
        self.table.apply(rows, fresh=True)
        self._describe_highlighted()
        if self.staged:
            self.set_status(
                f"{counted(len(self.staged), 'unsaved change')}: ctrl+s saves, u discards"
            )
        elif getattr(self.app, "read_only", False):
            self.set_status("read-only: the settings as stored")
        else:
            self.set_status("enter/e edits the highlighted key")

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        # TablePane's handler runs too (Textual calls each class's in the MRO): called
        # here as well, it ran twice.
        self._describe_highlighted()

    def _describe_highlighted(self) -> None:
        """The highlighted key's description, and its value when the column cut it: the
        staged one, unsaved (a long hook staged showed ``echo "[bold…`` and the
        description only, until saved)."""
        spec = self._spec()
        about = self.query_one("#config-about", Static)
        text = Text(f"{self.highlighted}: {spec.description}", style="dim") if spec else Text()
        if spec is not None:
            label, marker = "value", ""
            value = _show(self.settings.get(spec.key, spec.default))
            if spec.key in self.staged:
                label, marker = "unsaved value", STAGED_MARK
                value = self._staged_shown(spec.key)
            if cell_len(value + marker) > dict(self.table.layout).get("value", 0):
                text.append("\n")
                text.append(self._value_lines(value, about.content_size.width, label))
        about.update(text)

    def _staged_shown(self, key: str) -> str:
        """A staged value as the Value column shows it (a reset stages the default)."""
        spec, raw = SPECS[key], self.staged[key]
        return _show(spec.default) if raw is None else _show(spec.parse(raw))

    def _value_lines(self, value: str, width: int, label: str = "value") -> Text:
        """``value: …`` in at most ``VALUE_LINES`` lines of ``width``: cut, saying so, when
        longer (a 150-character hook at 80 columns lost its end under the pane's edge)."""
        whole = Text(f"{label}: {value}")
        console = self.app.console
        if width < 20 or len(whole.wrap(console, width)) <= VALUE_LINES:
            return whole
        kept, longest = 0, len(value)
        while kept < longest:  # the longest start of the value that fits, cut
            middle = (kept + longest + 1) // 2
            cut = Text(f"{label}: {value[:middle]}{CUT_SAID}")
            if len(cut.wrap(console, width)) <= VALUE_LINES:
                kept = middle
            else:
                longest = middle - 1
        return Text(f"{label}: {value[:kept]}{CUT_SAID}")

    def on_resize(self) -> None:
        """The value under the table is cut to the width: cut again for the new one."""
        self.call_after_refresh(self._describe_highlighted)

    def _spec(self) -> SettingSpec | None:
        key = self.highlighted
        return SPECS.get(key) if key else None

    def _read_only(self) -> bool:
        """A read-only dashboard refuses an edit before its box opens (it was refused
        only at ``ctrl+s``, after the value had been typed)."""
        if getattr(self.app, "read_only", False):
            self.notify(READ_ONLY_MESSAGE, title="Error", severity="error", markup=False)
            return True
        return False

    def action_edit(self) -> None:
        """Edit the highlighted key in the box under the table."""
        spec = self._spec()
        if spec is None or self._read_only():
            return
        self._editing = spec.key
        box = self.query_one("#config-edit", Input)
        staged = self.staged.get(spec.key)
        box.value = staged if staged is not None else _text(self.settings[spec.key])
        box.placeholder = spec.range_text
        self.query_one("#config-edit-label", Label).update(
            Text(f"{spec.key} ({spec.range_text}) = ", style="bold")
        )
        self.query_one("#config-editor").remove_class("hidden")
        focus_now(box)

    def action_reset(self) -> None:
        """Stage the highlighted key's default."""
        spec = self._spec()
        if spec is not None and not self._read_only():
            self.staged[spec.key] = None
            self._render_rows()

    def action_save(self) -> None:
        """Store every staged change (ctrl+s)."""
        changes = self.take_changes()
        if changes is None:
            return
        if not changes:
            self.notify("No config changes to save")
            return
        self.post_message(SaveSettings(changes))

    def action_discard(self) -> None:
        """Forget staged changes."""
        self.staged.clear()
        self._close_editor()
        self._render_rows()

    def _accept(self) -> bool:
        """Validate the edit box; stage it, or show the validator's message and keep editing."""
        key = self._editing
        if key is None:
            return True
        box = self.query_one("#config-edit", Input)
        error = self.query_one("#config-error", Static)
        try:
            SPECS[key].parse(box.value)
        except ValidationError as exc:
            error.update(Text("✗ " + one_line(str(exc))))
            error.remove_class("hidden")
            focus_now(box)
            return False
        self.staged[key] = box.value.strip()
        self._close_editor()
        self._render_rows()
        return True

    def _close_editor(self) -> None:
        self._editing = None
        self.query_one("#config-editor").add_class("hidden")
        self.query_one("#config-error", Static).add_class("hidden")
        self.focus_table()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "config-edit":
            event.stop()
            self._accept()

    def on_input_changed(self, event: Input.Changed) -> None:
        """A refused value's ``✗`` goes once the value changes: it stayed under a value
        retyped since (``45`` under "got 1"), as if that one were refused too."""
        if event.input.id == "config-edit":
            self.query_one("#config-error", Static).add_class("hidden")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_edit()

    def on_key(self, event: events.Key) -> None:
        """Escape abandons the edit in progress."""
        if event.key == "escape" and self._editing is not None:
            event.stop()
            self._close_editor()
