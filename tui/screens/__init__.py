"""Modal and full screens: job detail, confirmation, prompt, new job, help.

Screens here stay safe under a burst of keys: nothing is queried in
``on_mount`` (``AUTO_FOCUS`` picks the first focus), and every answer goes
through ``close``, which dismisses only the screen that is on top. Keys typed
faster than the screen handles them are already queued to it; without the
check, a second answer would pop the screen *under* it (or fail on the last).
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen


def close(screen: Screen[Any], result: Any = None) -> None:
    """Dismiss ``screen`` with ``result`` once; later answers to a closed screen do nothing."""
    if screen.is_active:
        screen.dismiss(result)
