"""Tell the browser page around a served dashboard whether leaving it would lose work.

In a terminal, ``q`` and a tab switch ask first when config edits are staged; in a
browser, a reload, F5 or Ctrl+W (which deletes a word in a terminal and closes the tab
in a browser, beyond a page's reach) ended the session without a word, staged edits
and a half-filled job form with it. The page can ask before it unloads
(``beforeunload``) if it knows: this sends it an ``unsaved`` message whenever the
answer changes, through the web driver's metadata channel (``queuectl.web.session``
relays it to the page).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from queuectl.web.wire import UNSAVED

LOOK_EVERY = 0.5
"""Seconds between looks: a reload a moment after the first keystroke may go unasked."""


class UnsavedWorkSignal:
    """Sends the page ``{"type": "unsaved", "unsaved": bool}`` each time it changes."""

    def __init__(self, write_meta: Callable[[dict[str, Any]], None]) -> None:
        self._write_meta = write_meta
        self._said: bool | None = None

    def look(self, unsaved: bool) -> None:
        if unsaved != self._said:
            self._said = unsaved
            self._write_meta({"type": UNSAVED, "unsaved": unsaved})
