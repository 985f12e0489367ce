"""The process behind one browser session: ``python -m queuectl.web.child``.

``queuectl web`` starts one per websocket and hands it everything through the
environment, never the command line (every user can read command lines in
``ps``, and a PostgreSQL URL may hold a password):

- ``QUEUECTL_DB``: the database, already resolved by the server;
- ``QUEUECTL_WEB_READ_ONLY=1``: a dashboard that changes nothing;
- ``QUEUECTL_WEB_SERVER``: the server's pid, to die with it;
- Textual's ``TEXTUAL_DRIVER`` (its web driver), ``COLUMNS`` and ``ROWS``.

Once read, the session's variables leave the environment (``forget_session``): workers
started from the browser inherit it, and their jobs ran with Textual's web driver,
the tab's size as ``COLUMNS`` and the server's pid.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

READ_ONLY_ENV = "QUEUECTL_WEB_READ_ONLY"
SERVER_PID_ENV = "QUEUECTL_WEB_SERVER"
_PR_SET_PDEATHSIG = 1

SESSION_ENV = (
    "TEXTUAL_DRIVER",
    "TEXTUAL_FPS",
    "TEXTUAL_COLOR_SYSTEM",
    "TEXTUAL",
    "TEXTUAL_LOG",
    "TERM_PROGRAM",
    "TERM_PROGRAM_VERSION",
    "COLUMNS",
    "ROWS",
    SERVER_PID_ENV,
    READ_ONLY_ENV,
)
"""What textual-serve and ``queuectl web`` set for one session (textual-serve's
``AppService._build_environment``): none of it is for the jobs of a worker started here."""


def forget_session() -> tuple[int, int] | None:
    """Take the session's variables out of the environment; returns the tab's size.

    Textual read its own at import; the web driver would read ``COLUMNS`` and
    ``ROWS`` when the app starts, so the size is handed to ``App.run`` instead.
    """
    try:
        size = (int(os.environ["COLUMNS"]), int(os.environ["ROWS"]))
    except (KeyError, ValueError):
        size = None
    for name in SESSION_ENV:
        os.environ.pop(name, None)
    return size


def die_with_server() -> None:
    """Never outlive the server, even when it is killed with ``kill -9``.

    On a clean stop the server kills every session's group itself; this covers
    the server dying without a chance to. Linux: the kernel sends SIGKILL when
    the parent dies (``PR_SET_PDEATHSIG``). Elsewhere: a thread notices the
    parent change within a second.
    """
    server = int(os.environ.get(SERVER_PID_ENV) or 0)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    elif server:
        threading.Thread(target=_exit_when_orphaned, args=(server,), daemon=True).start()
    if server and os.getppid() != server:
        os._exit(1)  # the server died before the kernel was told to watch it


def _exit_when_orphaned(server: int) -> None:
    while os.getppid() == server:
        time.sleep(1.0)
    os._exit(1)


def main() -> None:
    die_with_server()
    from queuectl.location import resolve_location, skip_postgres_drivers

    location = resolve_location()
    skip_postgres_drivers(location)
    from queuectl.errors import QueueError
    from tui.app import make_app

    read_only = os.environ.get(READ_ONLY_ENV) == "1"
    size = forget_session()  # after Textual's import: it read its settings then
    try:
        # The server opened (or made) the database at start: one gone since was deleted
        # or moved, and a new tab must not start an empty queue in its place.
        app = make_app(
            location, freeze_startup_heap=True, read_only=read_only, in_browser=True, create=False
        )
    except QueueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(1)
    app.run(size=size)


if __name__ == "__main__":
    main()
