"""``queuectl web``: the dashboard of ``queuectl tui``, served to a browser.

The dashboard can enqueue shell commands, so a served port is code execution
for whoever reaches it. Every request needs the server's token (``access``);
each browser tab gets its own dashboard process, in its own process group,
killed when the tab goes (``session``); the server (``server``) serves our own
page (``page``) and textual-serve's bundled terminal. Nothing here is imported
by the core: ``queuectl web`` imports it, and aiohttp with it, when it runs.
"""
