"""``web --open``: start a browser on the dashboard without showing the token to anyone.

A browser is started with its URL on its command line, where every user of the
machine reads it in ``ps`` for as long as the browser runs. A one-time code in
that URL was no better: another user watching ``/proc`` could spend it first and
be handed the token (a local attacker's try did, in milliseconds). So the browser
is given a file instead, as Jupyter does: a page in a folder only this user can
enter, which sends the browser on to the tokened URL. Others see its path, and
cannot read it. The file goes once the browser has had time to load it, and when
the server stops.
"""

from __future__ import annotations

import html
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path

log = logging.getLogger("queuectl.web")

REDIRECT_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0; url={url}">
<title>queuectl</title>
</head>
<body><p><a href="{url}">Open the queuectl dashboard</a></p></body>
</html>
"""


class OpenPage:
    """A private page that redirects to ``url``: ``file_url`` is what the browser gets."""

    def __init__(self, url: str) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="queuectl-open-", dir=runtime_folder()))
        # 0700; in the default (sticky /tmp) nobody else can rename it either
        self.path = self.folder / "open.html"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as page:
            os.fchmod(page.fileno(), 0o600)  # whatever the umask
            page.write(REDIRECT_PAGE.format(url=html.escape(url, quote=True)))

    @property
    def file_url(self) -> str:
        return self.path.as_uri()

    def remove(self) -> None:
        """Delete the page and its folder (twice is harmless)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def runtime_folder() -> str | None:
    """``XDG_RUNTIME_DIR`` when it is what the XDG spec says it must be: a folder of
    this user's that nobody else can enter; else ``None`` (the system's temp folder).

    Its owner can rename what is made in it: another user's, given as the runtime
    folder, could swap the page for their own before the browser loaded it.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime:
        return None
    try:
        st = os.stat(runtime)
    except OSError:
        return None
    private = st.st_uid == os.geteuid() and not st.st_mode & 0o077
    return runtime if stat.S_ISDIR(st.st_mode) and private else None


def start_browser(link: str) -> None:
    """Run in a thread: some browsers' launchers wait until the browser exits."""
    import webbrowser

    try:
        started = webbrowser.open(link)
    except (OSError, webbrowser.Error) as exc:
        log.warning("could not start a browser (%s): open the URL above by hand", exc)
        return
    if not started:
        log.warning("found no browser to start: open the URL above by hand")
