"""Our own pages: the dashboard's, and the one a tab gets when every session is taken.

textual-serve's template loads a Google Fonts stylesheet (which fails offline
and tells a third party who opens the dashboard); ours declares the font it
bundles with ``@font-face`` and links nothing outside this server. Every value
put into a page is HTML-escaped here, once.
"""

from __future__ import annotations

import html
from functools import cache
from importlib.resources import files
from string import Template

from queuectl.location import describe, short_names, sqlite_path
from queuectl.textsafe import one_line


@cache
def _template(name: str) -> Template:
    return Template(files("queuectl.web").joinpath(name).read_text(encoding="utf-8"))


def _render(name: str, **values: object) -> str:
    return _template(name).substitute({key: html.escape(str(v)) for key, v in values.items()})


def database_name(location: str) -> str:
    """What a browser tab is titled with: the file's name, or ``DBNAME@HOST`` for a
    server, with the schema its URL picks (of ``short_names``, the one naming the host
    without its port, or the database alone)."""
    path = sqlite_path(location)
    if path is not None:
        return one_line(path.rsplit("/", 1)[-1])
    names = short_names(location)
    with_host = [name for name in names if "@" in name]
    return one_line(with_host[-1] if with_host else names[0])


def dashboard_page(
    *,
    location: str,
    read_only: bool,
    websocket_url: str,
    static_url: str,
    token: str,
    font_size: int,
    nonce: str,
    causes: str,
) -> str:
    """The page that runs textual-serve's terminal against our websocket."""
    mode = " (read-only)" if read_only else ""
    return _render(
        "page.html",
        title=f"{database_name(location)}{mode} · queuectl",
        database=one_line(describe(location)),
        mode=mode,
        websocket=websocket_url,
        static=static_url,
        token=token,
        font_size=font_size,
        nonce=nonce,
        causes=causes,
    )


BUSY_RETRY_SECONDS = 10
"""How often the page a tab gets when every session is taken loads itself again (also its
``Retry-After``): it said "reload this page", and a tab left open never did."""


def busy_page(*, location: str, limit: int) -> str:
    """What a tab beyond the session limit gets instead of a dashboard."""
    return _render(
        "busy.html",
        title=f"{database_name(location)} · queuectl",
        database=one_line(describe(location)),
        limit=limit,
        retry=BUSY_RETRY_SECONDS,
    )
