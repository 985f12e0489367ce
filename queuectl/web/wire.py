"""Names of the messages a served dashboard, the server and the page exchange, in one place.

Imported by the dashboard (``tui.webpage``) as well as the server: light on purpose,
with nothing of aiohttp or textual-serve.
"""

from __future__ import annotations

UNSAVED = "unsaved"
"""The dashboard's word that leaving would lose work (a metadata message of the web
driver, ``{"type": UNSAVED, "unsaved": bool}``), relayed to the page as
``[UNSAVED, bool]``: the page then asks before a reload or a close."""
