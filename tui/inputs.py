"""A text field whose keys take effect in the order they were typed.

Textual's ``Input`` types a printable key in its own ``_on_key``, but a bound
key (backspace, ctrl+u, ctrl+w, delete, the arrows) runs its action only after
the key event has bubbled up to the app and come back as a binding. In a burst
(a fast typist, a paste, ``tmux send-keys``) the next printable key is typed
before the earlier backspace runs: ``BSpace 2 Enter`` on the worker prompt's
``1`` typed ``2`` over the selected ``1``, then deleted the ``2`` and submitted
an empty field (Textualize/textual#6605, open). Running the field's own
bindings inline keeps the order. ``tui.keyorder.KeyOrderApp`` runs other
bindings at once at the app, but leaves a focused ``OrderedInput``'s own keys to
it, so typing and editing reach the field in one queue, in the order typed.

A field prefilled with untrusted text (a job's command in the edit form, a hook
command in the Config pane) shows it inert: ``Input`` draws its value as it is,
and Rich passes ESC through, so a command holding an OSC 52 sequence wrote the
user's clipboard when the form opened. Each control character is drawn as one
visible character (``textsafe.inert_in_place``), so the cursor, an index into
the real value, stays where it is drawn; the value itself is left alone.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.expand_tabs import expand_tabs_inline
from textual.widgets import Input

from queuectl.textsafe import inert_in_place


class OrderedInput(Input):
    """``Input`` with its own key bindings run as the key arrives, not after a round trip."""

    keeps_pasted_lines = False
    """Whether a paste keeps all its lines. Textual's ``Input`` keeps the first and drops
    the rest unsaid, so ``cd /srv`` + ``make deploy`` pasted as a job's command queued
    ``cd /srv`` alone; a command field holds newlines (the edit form shows a stored
    one's as ``⏎``) and the shell runs them as it would the lines of a script."""

    key_hints: tuple[tuple[str, str], ...] = ()
    """(key, what it does) for the key bar while this box has the focus: typing hides
    the pane's printable keys, and the filter box left the bar blank, its own keys
    said only by a placeholder that the first character typed took away."""

    async def _on_key(self, event: events.Key) -> None:
        binding = self.screen.active_bindings.get(event.key)
        if binding is not None and binding.node is self and binding.enabled:
            event.stop()
            event.prevent_default()
            await self.run_action(binding.binding.action)
            return
        await super()._on_key(event)

    def _on_paste(self, event: events.Paste) -> None:
        # Textual calls each class's ``_on_paste`` down the MRO: ``Input``'s runs next
        # (first line only) unless this one handles the paste and prevents it.
        if not self.keeps_pasted_lines:
            return
        event.prevent_default()
        text = event.text.replace("\r\n", "\n").replace("\r", "\n")
        if text:
            if self.selection.is_empty:
                self.insert_text_at_cursor(text)
            else:
                self.replace(text, *self.selection)
        event.stop()

    @property
    def _value(self) -> Text:
        """The value as drawn: ``Input``'s, with control characters made visible."""
        if self.password:
            return super()._value
        text = Text(inert_in_place(self.value), no_wrap=True, overflow="ignore", end="")
        return self.highlighter(text) if self.highlighter is not None else text

    def _position_to_cell(self, position: int) -> int:
        """Where index ``position`` of the value is drawn, given what ``_value`` draws."""
        return cell_len(expand_tabs_inline(inert_in_place(self.value[:position]), 4))
