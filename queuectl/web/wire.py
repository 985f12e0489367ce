"""Names of the messages a served dashboard, the server and the page exchange, in one place.

Imported by the dashboard (``tui.webpage``) as well as the server: light on purpose,
with nothing of aiohttp or textual-serve.
"""

from __future__ import annotations

ENDED = "ended"
"""The kind of the page's ``[ENDED, why]`` message saying why its session ends, just
before its socket closes (``page.html`` shows ``why`` in place of the possible causes)."""
RECONNECT = "reconnect"
"""``[ENDED, why, {RECONNECT: true}]``: the server is stopping, and the page comes back
by itself once it answers again."""

UNSAVED = "unsaved"
"""The dashboard's word that leaving would lose work (a metadata message of the web
driver, ``{"type": UNSAVED, "unsaved": bool}``), relayed to the page as
``[UNSAVED, bool]``: the page then asks before a reload or a close."""
