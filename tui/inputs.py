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
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class OrderedInput(Input):
    """``Input`` with its own key bindings run as the key arrives, not after a round trip."""

    async def _on_key(self, event: events.Key) -> None:
        binding = self.screen.active_bindings.get(event.key)
        if binding is not None and binding.node is self and binding.enabled:
            event.stop()
            event.prevent_default()
            await self.run_action(binding.binding.action)
            return
        await super()._on_key(event)
